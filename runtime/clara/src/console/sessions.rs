//! Who may use the console: sessions held in a cookie (HTTP-only, same-site, secure), each
//! with the token its forms must carry (CSRF) and the login that opened it: a session lasts
//! only while that login still holds.

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
    /// How it was opened.
    pub login: Login,
    expires: Instant,
    used: Instant,
}

/// How a session was opened, which decides whether it still holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Login {
    /// None needed: an open console on this machine.
    Open,
    /// With the console's token (its digest): a changed token ends it.
    Token(Vec<u8>),
    /// As `account` of connection `connection`: ends once the account is no longer listed.
    Account { connection: String, account: String },
}

impl Login {
    /// A login with `token`.
    pub fn token(token: &str) -> Login {
        Login::Token(digest(token))
    }

    /// Whether this login was made with `token`.
    pub fn is_token(&self, token: &str) -> bool {
        *self == Login::token(token)
    }
}

/// The open sessions.
#[derive(Default)]
pub(super) struct Sessions {
    open: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// The unexpired session the request's `Cookie` header names, whose login still `holds`
    /// (a session whose login no longer holds is ended).
    pub fn find(
        &self,
        cookie_header: Option<&str>,
        holds: impl Fn(&Login) -> bool,
    ) -> Option<Session> {
        let id = cookie_header.and_then(|h| cookie(h, COOKIE))?;
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        match open.get_mut(id) {
            Some(session) if session.expires > now && holds(&session.login) => {
                session.used = now;
                Some(session.clone())
            }
            Some(_) => {
                open.remove(id);
                None
            }
            None => None,
        }
    }

    /// A new session lasting `lifetime`, opened by `login`.
    pub fn start(&self, lifetime: Duration, login: Login) -> Session {
        let now = Instant::now();
        let session = Session {
            id: random_hex(),
            csrf: random_hex(),
            login,
            expires: now + lifetime,
            used: now,
        };
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.retain(|_, s| s.expires > now);
        // The least recently used goes first, so a stream of cookieless requests (a probe)
        // never pushes out the session of someone at work.
        if open.len() >= MAX_SESSIONS
            && let Some(idle) = open.values().min_by_key(|s| s.used).map(|s| s.id.clone())
        {
            open.remove(&idle);
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
pub(super) fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        (key == name).then_some(value)
    })
}

fn digest(token: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
        .as_ref()
        .to_vec()
}

/// 32 random bytes in hex.
pub(super) fn random_hex() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_by_its_cookie_until_it_ends() {
        let sessions = Sessions::default();
        let session = sessions.start(Duration::from_secs(60), Login::token("token-1"));
        let header = format!("other=1; {COOKIE}={}", session.id);
        let with = |token: &'static str| move |login: &Login| login.is_token(token);
        let found = sessions.find(Some(&header), with("token-1"));
        assert_eq!(found.map(|s| s.csrf), Some(session.csrf.clone()));
        assert!(
            sessions
                .find(Some("clara_console=forged"), with("token-1"))
                .is_none()
        );
        assert!(
            sessions.find(Some(&header), with("token-2")).is_none(),
            "a new token ends it"
        );
        assert!(
            sessions.find(Some(&header), with("token-1")).is_none(),
            "for good"
        );
        let session = sessions.start(Duration::from_secs(60), Login::Open);
        let header = format!("{COOKIE}={}", session.id);
        let open = |login: &Login| *login == Login::Open;
        assert!(sessions.find(Some(&header), open).is_some());
        sessions.end(&session.id);
        assert!(sessions.find(Some(&header), open).is_none());
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abd", "abc"));
        assert!(!same_secret("ab", "abc"));
        assert!(!same_secret("", ""));
    }
}
