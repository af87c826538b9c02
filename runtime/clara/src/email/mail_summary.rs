//! One message as rules and alerts see it: sender, subject, a preview of its text and
//! whether it has attachments. Whatever the bytes (broken MIME, a cut-off body, headers in
//! another charset or encoded words), parsing gives a summary and never fails.

use mail_parser::MessageParser;

/// What rules and alerts read of a message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MailSummary {
    /// Its `Message-ID`, when it has one: the same message never alerts twice.
    pub message_id: Option<String>,
    /// The sender's address, lower-cased (empty when there is none).
    pub from_address: String,
    /// The sender's display name.
    pub from_name: Option<String>,
    /// The subject, decoded.
    pub subject: String,
    /// The start of its text (HTML turned into text), whitespace folded, at most the preview
    /// length in characters.
    pub preview: String,
    /// Whether it carries attachments.
    pub has_attachments: bool,
    /// When it was sent, in Unix seconds, when its `Date` says.
    pub sent_at: Option<i64>,
}

impl MailSummary {
    /// Summarises `bytes`, keeping `preview_chars` characters of text.
    pub fn parse(bytes: &[u8], preview_chars: usize) -> MailSummary {
        let Some(message) = MessageParser::default().parse(bytes) else {
            return MailSummary::default();
        };
        let from = message.from().and_then(|a| a.first());
        let text = message
            .body_text(0)
            .map(std::borrow::Cow::into_owned)
            .or_else(|| {
                message
                    .body_html(0)
                    .map(|h| mail_parser::decoders::html::html_to_text(&h))
            })
            .unwrap_or_default();
        MailSummary {
            message_id: message.message_id().map(str::to_owned),
            from_address: from
                .and_then(|a| a.address())
                .unwrap_or_default()
                .trim()
                .to_lowercase(),
            from_name: from
                .and_then(|a| a.name())
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty()),
            subject: message.subject().unwrap_or_default().trim().to_owned(),
            preview: preview(&text, preview_chars),
            has_attachments: message.attachment_count() > 0,
            sent_at: message.date().map(mail_parser::DateTime::to_timestamp),
        }
    }

    /// The sender's domain: what follows the address's `@`.
    pub fn from_domain(&self) -> &str {
        self.from_address
            .rsplit_once('@')
            .map_or("", |(_, domain)| domain)
    }
}

/// `text` with runs of whitespace folded to one space, cut at `max` characters.
fn preview(text: &str, max: usize) -> String {
    let mut out = String::new();
    if max == 0 {
        return out;
    }
    for (count, word) in text.split_whitespace().enumerate() {
        if count > 0 {
            out.push(' ');
        }
        out.push_str(word);
        if out.chars().count() >= max {
            break;
        }
    }
    match out.char_indices().nth(max) {
        Some((cut, _)) => {
            out.truncate(cut);
            out.push('…');
            out
        }
        None => out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_words_charsets_and_broken_mime_still_summarise() {
        let raw = b"From: =?UTF-8?B?SsO8cmdlbiBNw7xsbGVy?= <Juergen@Mail.Greenhouse.IO>\r\n\
Subject: =?ISO-8859-1?Q?Entretien_pr=E9vu?=\r\n\
Message-ID: <abc@x>\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello   there,\r\n\r\nsee you  soon\r\n\
--b\r\nContent-Type: application/pdf; name=cv.pdf\r\nContent-Disposition: attachment; filename=cv.pdf\r\n\r\nJVBER\r\n";
        let summary = MailSummary::parse(raw, 14);
        assert_eq!(summary.from_address, "juergen@mail.greenhouse.io");
        assert_eq!(summary.from_name.as_deref(), Some("Jürgen Müller"));
        assert_eq!(summary.from_domain(), "mail.greenhouse.io");
        assert_eq!(summary.subject, "Entretien prévu");
        assert_eq!(summary.preview, "Hello there, s…");
        assert!(summary.has_attachments);
        assert_eq!(summary.message_id.as_deref(), Some("abc@x"));

        let garbage = MailSummary::parse(b"\xff\xfe\x00not mail at all", 50);
        assert!(garbage.from_address.is_empty());
        let latin1 = MailSummary::parse(b"Subject: caf\xe9\r\n\r\nbody", 50);
        assert!(latin1.subject.starts_with("caf"), "{latin1:?}");
    }
}
