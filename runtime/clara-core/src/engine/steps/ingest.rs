//! `ingest`: normalise the message, drop what needs no answer, and store it before any model
//! call so nothing a user said is lost.

use clara_config::model::steps::{ClassifyTierStep, IngestStep, PhraseMatch};

use super::classify_tier::prefixed_tier;
use super::site::Site;
use crate::engine::EngineError;
use crate::engine::event_data::{EventData, MessageCancelled, MessageReceived};
use crate::engine::rate_windows::Counted;
use crate::engine::run::Run;
use crate::engine::session;
use crate::engine::turn::{Turn, TurnEnd};
use crate::llm::Role;
use crate::store::Stamp;

/// How many of a session's latest messages a new one is compared with.
const DEDUPE_LOOKBACK: u32 = 20;

/// The built `ingest` step.
pub(crate) struct Ingest {
    options: IngestStep,
    /// The pipeline's tier prefixes, taken off before the message is stored.
    tiers: Option<ClassifyTierStep>,
}

impl Ingest {
    pub(crate) fn build(options: &IngestStep, site: &Site<'_>) -> Ingest {
        Ingest {
            options: options.clone(),
            tiers: site.classify_tier().cloned(),
        }
    }

    /// How long a repeat of a user's message counts as a duplicate (zero: never).
    pub(crate) fn dedupe_window_secs(&self) -> u32 {
        self.options.dedupe_window_secs
    }

    /// Whether `text`, as an adapter received it, is one of the step's stop phrases.
    pub(crate) fn is_stop_phrase(&self, text: &str) -> bool {
        let options = &self.options;
        let mut text = text.trim().to_owned();
        if options.strip_mentions {
            text = strip_mentions(&text);
        }
        is_stop_phrase(&text, &options.stop_phrases, options.stop_phrase_match)
    }

    pub(crate) async fn run(&self, run: &Run<'_>, turn: &mut Turn) -> Result<(), EngineError> {
        let options = &self.options;
        let services = run.services;
        if options.drop_bots && turn.incoming.from_bot {
            turn.ended = Some(TurnEnd::FromBot);
            return Ok(());
        }
        let mut text = turn.text.trim().to_owned();
        if options.strip_mentions {
            text = strip_mentions(&text);
        }
        if is_stop_phrase(&text, &options.stop_phrases, options.stop_phrase_match) {
            turn.ended = Some(TurnEnd::StopPhrase);
            // The adapter stops what runs in this conversation; hooks hear it here.
            services
                .events
                .emit(turn.event(EventData::MessageCancelled(MessageCancelled {
                    reason: "stop_phrase".to_owned(),
                    was_running: None,
                    cleared: None,
                })));
            return Ok(());
        }
        if text.is_empty() && turn.incoming.images.is_empty() {
            turn.ended = Some(TurnEnd::Empty);
            return Ok(());
        }
        // A tier prefix (`!high …`) is an instruction to clara, not part of the message: it is
        // taken off before the message is stored, so later prompts show it as the model saw it.
        if let Some(tiers) = &self.tiers
            && let Some((tier, rest)) = prefixed_tier(&text, tiers)
        {
            // An adapter's explicit choice stands; the prefix still comes off.
            turn.tier.get_or_insert(tier);
            if tiers.strip_prefix {
                text = rest;
            }
        }
        let max = options.max_message_chars as usize;
        if text.chars().count() > max {
            text = text.chars().take(max).collect::<String>() + "\n[message cut: too long]";
        }
        if options.name_prefix && !turn.incoming.conversation.is_dm && !turn.incoming.authors_named
        {
            text = format!("[{}]: {text}", turn.incoming.user_name);
        }
        let session = session::resolve(services, run.sessions, turn).await?;
        let now = services.clock.now();
        if options.dedupe_window_secs > 0 {
            // The user's own recent messages, not just the last one: after a reply the
            // session's last message is clara's. (Copies still queued in an adapter are its to
            // catch.)
            let window = i64::from(options.dedupe_window_secs) * 1000;
            if services
                .store
                .is_repeat(&session.id, &text, now - window, DEDUPE_LOOKBACK)
                .await?
            {
                turn.ended = Some(TurnEnd::Duplicate);
                return Ok(());
            }
        }
        let id = services
            .store
            .add_message(
                &session.id,
                Role::User,
                Some(&turn.incoming.user_name),
                &text,
                now,
            )
            .await?;
        services
            .events
            .emit(turn.event(EventData::MessageReceived(MessageReceived {
                message_id: id,
                session_id: session.id.clone(),
                chars: text.chars().count(),
            })));
        services.rates.note(
            Counted::Messages,
            &turn.incoming.user_id,
            &turn.incoming.conversation.id,
            Stamp { at: now, id },
        );
        turn.text = text;
        turn.user_message_id = Some(id);
        turn.session = Some(session);
        Ok(())
    }
}

/// Removes Discord-style mentions (`<@123>`, `<@!123>`) and the space each leaves doubled;
/// line breaks and indentation elsewhere are kept (a pasted code block must survive).
fn strip_mentions(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<@") {
        let after = &rest[start + 2..];
        let digits = after.trim_start_matches('!');
        match digits.find('>') {
            Some(end) if end > 0 && digits[..end].chars().all(|c| c.is_ascii_digit()) => {
                out.push_str(&rest[..start]);
                rest = &digits[end + 1..];
                if out.ends_with(' ') && rest.starts_with(' ') {
                    rest = &rest[1..];
                }
            }
            _ => {
                out.push_str(&rest[..start + 2]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out.trim().to_owned()
}

fn is_stop_phrase(text: &str, phrases: &[String], mode: PhraseMatch) -> bool {
    let text = text.to_lowercase();
    let text = text.trim().trim_end_matches(['.', '!']);
    phrases
        .iter()
        .map(|p| p.to_lowercase())
        .any(|phrase| match mode {
            PhraseMatch::Exact => text == phrase,
            PhraseMatch::Contains => text.contains(&phrase),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_removed_and_other_angle_brackets_kept() {
        assert_eq!(strip_mentions("<@123> hi <@!456> there"), "hi there");
        assert_eq!(strip_mentions("a <@x> b <3"), "a <@x> b <3");
        assert_eq!(
            strip_mentions("<@1> look:\n```\n  fn main() {}\n```"),
            "look:\n```\n  fn main() {}\n```"
        );
    }

    #[test]
    fn stop_phrases_match_exactly_or_anywhere() {
        let phrases = vec!["clara stop".to_owned(), "never mind".to_owned()];
        assert!(is_stop_phrase("Clara stop!", &phrases, PhraseMatch::Exact));
        assert!(!is_stop_phrase(
            "never mind the weather, what's up",
            &phrases,
            PhraseMatch::Exact
        ));
        assert!(is_stop_phrase(
            "oh never mind then",
            &phrases,
            PhraseMatch::Contains
        ));
    }
}
