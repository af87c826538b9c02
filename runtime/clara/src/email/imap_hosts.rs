//! The IMAP server of well-known mail providers, so a user connecting an account in chat need
//! only give their address; anything else is `imap.DOMAIN`.

/// The IMAP host for `address`'s domain (TLS on port 993 for all of them).
pub fn imap_host(address: &str) -> Option<String> {
    let domain = address.rsplit_once('@')?.1.trim().to_lowercase();
    if domain.is_empty() {
        return None;
    }
    let known = match domain.as_str() {
        "gmail.com" | "googlemail.com" => "imap.gmail.com",
        "icloud.com" | "me.com" | "mac.com" => "imap.mail.me.com",
        "outlook.com" | "hotmail.com" | "live.com" | "msn.com" => "outlook.office365.com",
        "yahoo.com" | "ymail.com" => "imap.mail.yahoo.com",
        "fastmail.com" | "fastmail.fm" => "imap.fastmail.com",
        "aol.com" => "imap.aol.com",
        "gmx.com" | "gmx.net" | "gmx.de" => "imap.gmx.net",
        _ => return Some(format!("imap.{domain}")),
    };
    Some(known.to_owned())
}

#[cfg(test)]
mod tests {
    use super::imap_host;

    #[test]
    fn known_providers_and_the_rest() {
        assert_eq!(
            imap_host("a@iCloud.com").as_deref(),
            Some("imap.mail.me.com")
        );
        assert_eq!(
            imap_host("a@example.org").as_deref(),
            Some("imap.example.org")
        );
        assert_eq!(imap_host("no-at-sign"), None);
    }
}
