//! An IMAP inbox read for new mail: the login (checked before an account is saved), then the
//! messages after the last one seen — oldest first, bounded, opened read-only so nothing is
//! marked read — and where to start next time. A changed UIDVALIDITY starts over from the
//! newest message instead of alerting on the whole mailbox again.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_imap::Session;
use futures_util::StreamExt;
use rustls_platform_verifier::ConfigVerifierExt;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::new_mail::{MailError, NewMail, RawMail};

/// What logging in to an IMAP account takes.
#[derive(Clone, PartialEq, Eq)]
pub struct ImapLogin {
    /// The server's host name.
    pub host: String,
    /// Its port: 993 with TLS, 143 without.
    pub port: u16,
    /// Whether the connection is TLS from the start (port 993).
    pub tls: bool,
    /// The account's user name, usually the address.
    pub user: String,
    /// Its password (an app password at most providers).
    pub password: String,
}

impl fmt::Debug for ImapLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImapLogin")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Where reading stopped: the mailbox's UIDVALIDITY and the last UID handed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The mailbox's UIDVALIDITY when it was read.
    pub uid_validity: u32,
    /// The highest UID read.
    pub last_uid: u32,
}

/// The byte stream under a session: plain TCP or TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug> Io for T {}

/// A logged-in IMAP session.
pub struct ImapMailbox {
    session: Session<Box<dyn Io>>,
    timeout: Duration,
}

impl ImapMailbox {
    /// Connects and logs in; each step gives up after `timeout`.
    pub async fn open(login: &ImapLogin, timeout: Duration) -> Result<ImapMailbox, MailError> {
        let server = format!("{}:{}", login.host, login.port);
        let unreachable = |why: String| MailError::Connect {
            server: server.clone(),
            why,
        };
        let tcp = within(
            timeout,
            TcpStream::connect((login.host.as_str(), login.port)),
        )
        .await?
        .map_err(|e| unreachable(e.to_string()))?;
        let stream: Box<dyn Io> = if login.tls {
            Box::new(
                within(timeout, tls(&login.host, tcp))
                    .await?
                    .map_err(unreachable)?,
            )
        } else {
            Box::new(tcp)
        };
        let mut client = async_imap::Client::new(stream);
        // The server speaks first: its greeting.
        within(timeout, client.read_response())
            .await?
            .map_err(|e| unreachable(e.to_string()))?
            .ok_or_else(|| unreachable("the server closed the connection".to_owned()))?;
        let session = within(timeout, client.login(&login.user, &login.password))
            .await?
            .map_err(|(error, _)| match error {
                async_imap::error::Error::No(why) | async_imap::error::Error::Bad(why) => {
                    MailError::Login(why)
                }
                other => MailError::Protocol(other.to_string()),
            })?;
        Ok(ImapMailbox { session, timeout })
    }

    /// The inbox's messages after `cursor`, at most `max` of them (oldest first), each cut at
    /// `max_bytes`. Without a cursor, or when the inbox's UIDs were renumbered, nothing is
    /// returned and the new cursor points at the newest message.
    pub async fn new_mail(
        &mut self,
        cursor: Option<Cursor>,
        max: u32,
        max_bytes: u32,
    ) -> Result<NewMail<Cursor>, MailError> {
        let timeout = self.timeout;
        let inbox = within(timeout, self.session.examine("INBOX"))
            .await?
            .map_err(protocol)?;
        let uid_validity = inbox.uid_validity.unwrap_or(0);
        let newest = match inbox.uid_next {
            Some(next) => next.saturating_sub(1),
            None => self.newest_uid().await?,
        };
        let cursor = match cursor {
            Some(c) if c.uid_validity == uid_validity => c,
            _ => {
                return Ok(NewMail {
                    cursor: Some(Cursor {
                        uid_validity,
                        last_uid: newest,
                    }),
                    started_over: true,
                    ..NewMail::default()
                });
            }
        };
        if inbox.uid_next.is_some() && cursor.last_uid >= newest {
            return Ok(NewMail {
                cursor: Some(cursor),
                ..NewMail::default()
            });
        }
        let query = format!("UID {}:*", cursor.last_uid.saturating_add(1));
        let found = within(timeout, self.session.uid_search(&query))
            .await?
            .map_err(protocol)?;
        // `N:*` names the newest message even when it is older than N.
        let mut uids: Vec<u32> = found.into_iter().filter(|u| *u > cursor.last_uid).collect();
        uids.sort_unstable();
        let more = uids.len() > max as usize;
        uids.truncate(max as usize);
        let Some(&last) = uids.last() else {
            return Ok(NewMail {
                cursor: Some(cursor),
                ..NewMail::default()
            });
        };
        let set = uids
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let mut uids_read = Vec::with_capacity(uids.len());
        {
            let fetch = format!("(UID BODY.PEEK[]<0.{max_bytes}>)");
            let mut fetches = within(timeout, self.session.uid_fetch(&set, &fetch))
                .await?
                .map_err(protocol)?;
            while let Some(fetched) = within(timeout, fetches.next()).await? {
                let fetched = fetched.map_err(protocol)?;
                if let (Some(uid), Some(body)) = (fetched.uid, fetched.body()) {
                    uids_read.push((uid, body.to_vec()));
                }
            }
        }
        uids_read.sort_by_key(|(uid, _)| *uid);
        let messages = uids_read
            .into_iter()
            .map(|(uid, bytes)| RawMail {
                key: format!("{uid_validity}:{uid}"),
                bytes,
            })
            .collect();
        Ok(NewMail {
            cursor: Some(Cursor {
                uid_validity,
                last_uid: last,
            }),
            messages,
            more,
            started_over: false,
        })
    }

    /// Logs out; a server that has gone already is fine.
    pub async fn close(mut self) {
        let _ = within(self.timeout, self.session.logout()).await;
    }

    /// The highest UID in the selected mailbox, for servers that do not say UIDNEXT.
    async fn newest_uid(&mut self) -> Result<u32, MailError> {
        let all = within(self.timeout, self.session.uid_search("ALL"))
            .await?
            .map_err(protocol)?;
        Ok(all.into_iter().max().unwrap_or(0))
    }
}

/// A TLS connection to `host` over `tcp`, checked against the system's roots.
async fn tls(
    host: &str,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    crate::llm::install_crypto_provider();
    let config = rustls::ClientConfig::with_platform_verifier().map_err(|e| e.to_string())?;
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|_| format!("`{host}` is not a valid server name"))?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())
}

async fn within<T>(timeout: Duration, work: impl Future<Output = T>) -> Result<T, MailError> {
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| MailError::Timeout(timeout.as_secs()))
}

fn protocol(error: async_imap::error::Error) -> MailError {
    MailError::Protocol(error.to_string())
}
