//! Who may use the console: sessions held in a cookie (HTTP-only, same-site, secure), each
//! with the token its forms must carry (CSRF), and the login by token that opens one when the
//! console is reachable beyond this machine.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The cookie that holds a session's id.
pub(super) const COOKIE: &str = "clara_console";

/// The most sessions kept; past it the oldest go first.
const MAX_SESSIONS: usize = 1024;

/// One browser's session.
#[derive(Clone)]
pub(super) struct Session {
    /// Its id, the cookie's value.
    pub id: String,
    /// What its state-changing forms must send back.
    pub csrf: String,
    expires: Instant,
}

/// The open sessions.
#[derive(Default)]
pub(super) struct Sessions {
    open: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// The unexpired session the request's `Cookie` header names.
    pub fn find(&self, cookie_header: Option<&str>) -> Option<Session> {
        let id = cookie_header.and_then(|h| cookie(h, COOKIE))?;
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        match open.get(id) {
            Some(session) if session.expires > Instant::now() => Some(session.clone()),
            Some(_) => {
                open.remove(id);
                None
            }
            None => None,
        }
    }

    /// A new session lasting `lifetime`.
    pub fn start(&self, lifetime: Duration) -> Session {
        let session = Session {
            id: random_hex(),
            csrf: random_hex(),
            expires: Instant::now() + lifetime,
        };
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        open.retain(|_, s| s.expires > now);
        if open.len() >= MAX_SESSIONS
            && let Some(oldest) = open
                .values()
                .min_by_key(|s| s.expires)
                .map(|s| s.id.clone())
        {
            open.remove(&oldest);
        }
        open.insert(session.id.clone(), session.clone());
        session
    }

    /// Ends a session.
    pub fn end(&self, id: &str) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.remove(id);
    }
}

/// The `Set-Cookie` value for `session`: sent back only to this site, never to scripts, and
/// only over a secure connection (which browsers count 127.0.0.1 as).
pub(super) fn set_cookie(session: &Session, lifetime: Duration) -> String {
    format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Secure; Max-Age={}",
        session.id,
        lifetime.as_secs()
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub(super) fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Secure; Max-Age=0")
}

/// Whether `given` is `expected`, taking as long whatever they share.
pub(super) fn same_secret(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    let mut differ = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        differ |= usize::from(a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0));
    }
    differ == 0 && !expected.is_empty()
}

/// The value of cookie `name` in a `Cookie` header.
fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        (key == name).then_some(value)
    })
}

fn random_hex() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_by_its_cookie_until_it_ends() {
        let sessions = Sessions::default();
        let session = sessions.start(Duration::from_secs(60));
        let header = format!("other=1; {COOKIE}={}", session.id);
        assert_eq!(
            sessions.find(Some(&header)).map(|s| s.csrf),
            Some(session.csrf.clone())
        );
        assert!(sessions.find(Some("clara_console=forged")).is_none());
        sessions.end(&session.id);
        assert!(sessions.find(Some(&header)).is_none());
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abd", "abc"));
        assert!(!same_secret("ab", "abc"));
        assert!(!same_secret("", ""));
    }
}
