//! The console's view of what people said: the recent sessions (of one user, when asked),
//! one session's messages, and one memory with its history.

use clara_core::llm::Role;
use clara_core::store::{MemoryEvent, SessionQuery};

use super::html::{escape, facts, query_value, table, time, truncated};
use crate::live::Live;

/// Sessions listed at most.
const SESSIONS: u32 = 100;

/// Messages of a session shown at most: its last ones.
const MESSAGES: u32 = 500;

/// The most recently started sessions, newest first; only `user`'s when given.
pub(super) async fn sessions(live: &Live, user: Option<&str>) -> Result<String, String> {
    let store = live.current().services.store.clone();
    let user = user.filter(|u| !u.is_empty());
    let query = SessionQuery {
        user_id: user.map(str::to_owned),
        limit: SESSIONS,
        ..SessionQuery::default()
    };
    let mut found = store
        .find_sessions(&query)
        .await
        .map_err(|e| e.to_string())?;
    found.reverse();
    let rows: Vec<Vec<String>> = found
        .iter()
        .map(|s| {
            vec![
                format!(
                    "<a href=\"/console/conversations/{}\">{}</a>",
                    query_value(&s.id),
                    escape(&time(s.started_at))
                ),
                format!(
                    "<a href=\"/console/conversations?user={}\">{}</a>",
                    query_value(&s.user_id),
                    escape(&s.user_id)
                ),
                escape(&s.conversation),
                escape(&time(s.last_activity_at)),
                match s.ended_at {
                    Some(at) => escape(&time(at)),
                    None => "open".to_owned(),
                },
                s.summary.as_deref().map_or_else(String::new, |summary| {
                    truncated(summary, 160, &session_path(&s.id))
                }),
            ]
        })
        .collect();
    let heading = match user {
        Some(user) => format!(
            "<h1>Conversations of {}</h1><p><a href=\"/console/conversations\">everyone</a> · <a href=\"/console/memory?user={}\">memories</a></p>",
            escape(user),
            query_value(user)
        ),
        None => "<h1>Conversations</h1>".to_owned(),
    };
    Ok(format!(
        "{heading}<form class=\"filters\" method=\"get\" action=\"/console/conversations\">\
         <label>user <input name=\"user\" value=\"{}\"></label><button>Filter</button></form>{}",
        escape(user.unwrap_or_default()),
        table(
            "Sessions, newest first",
            &[
                "started",
                "user",
                "conversation",
                "last message",
                "ended",
                "summary"
            ],
            &rows,
            "no sessions yet",
        )
    ))
}

/// One session and its last messages, oldest first; `None` for an unknown id.
pub(super) async fn session(
    live: &Live,
    id: &str,
    full: bool,
    limit: usize,
) -> Result<Option<String>, String> {
    let store = live.current().services.store.clone();
    let Some(session) = store.session(id).await.map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let messages = store
        .recent_messages(id, MESSAGES)
        .await
        .map_err(|e| e.to_string())?;
    let whole = format!("{}?full=1", session_path(id));
    let limit = if full { usize::MAX } else { limit };
    let rows: Vec<Vec<String>> = messages
        .iter()
        .map(|m| {
            let who = match (m.role, &m.author) {
                (Role::User, Some(author)) => author.clone(),
                (Role::User, None) => session.user_id.clone(),
                (Role::Assistant, _) => "clara".to_owned(),
                (role, _) => format!("{role:?}").to_lowercase(),
            };
            vec![
                escape(&time(m.created_at)),
                format!(
                    "<span class=\"role-{}\">{}</span>",
                    format!("{:?}", m.role).to_lowercase(),
                    escape(&who)
                ),
                format!(
                    "<div class=\"message\">{}</div>",
                    truncated(&m.content, limit, &whole)
                ),
            ]
        })
        .collect();
    let mut out = format!(
        "<h1>Session</h1>{}",
        facts(&[
            (
                "user",
                format!(
                    "<a href=\"/console/conversations?user={}\">{}</a>",
                    query_value(&session.user_id),
                    escape(&session.user_id)
                )
            ),
            ("conversation", escape(&session.conversation)),
            ("started", escape(&time(session.started_at))),
            ("last message", escape(&time(session.last_activity_at))),
            (
                "ended",
                session
                    .ended_at
                    .map_or("open".to_owned(), |at| escape(&time(at)))
            ),
            (
                "follows",
                session
                    .previous_session_id
                    .as_deref()
                    .map_or("–".to_owned(), |previous| {
                        format!(
                            "<a href=\"{}\">the session before</a>",
                            escape(&session_path(previous))
                        )
                    })
            ),
        ])
    );
    if let Some(summary) = &session.summary {
        out.push_str(&format!("<h2>Summary</h2><p>{}</p>", escape(summary)));
    }
    let caption = if messages.len() as u32 == MESSAGES {
        format!("The last {MESSAGES} messages")
    } else {
        "Messages".to_owned()
    };
    out.push_str(&table(
        &caption,
        &["when", "who", "said"],
        &rows,
        "no messages",
    ));
    Ok(Some(out))
}

/// One memory (or what is left of a forgotten one) and every change to it; `None` when the
/// store knows nothing of the id.
pub(super) async fn memory_history(live: &Live, id: &str) -> Result<Option<String>, String> {
    let store = live.current().services.store.clone();
    let memory = store.memory(id).await.map_err(|e| e.to_string())?;
    let history = store.memory_history(id).await.map_err(|e| e.to_string())?;
    if memory.is_none() && history.is_empty() {
        return Ok(None);
    }
    let mut out = String::from("<h1>Memory</h1>");
    match &memory {
        Some(m) => out.push_str(&facts(&[
            ("text", escape(&m.text)),
            (
                "user",
                format!(
                    "<a href=\"/console/memory?user={}\">{}</a>",
                    query_value(&m.user_id),
                    escape(&m.user_id)
                ),
            ),
            ("key memory", if m.is_key { "yes" } else { "no" }.to_owned()),
            ("project", escape(m.project.as_deref().unwrap_or("–"))),
            ("stored", escape(&time(m.created_at))),
            ("changed", escape(&time(m.updated_at))),
        ])),
        None => {
            out.push_str("<p class=\"notice\">This memory was forgotten; its history stays.</p>");
        }
    }
    let rows: Vec<Vec<String>> = history
        .iter()
        .map(|change| {
            vec![
                escape(&time(change.created_at)),
                match change.event {
                    MemoryEvent::Add => "added",
                    MemoryEvent::Update => "rewritten",
                    MemoryEvent::Delete => "forgotten",
                }
                .to_owned(),
                escape(change.old_text.as_deref().unwrap_or_default()),
                escape(change.new_text.as_deref().unwrap_or_default()),
            ]
        })
        .collect();
    out.push_str(&table(
        "History, oldest first",
        &["when", "what", "before", "after"],
        &rows,
        "no history",
    ));
    Ok(Some(out))
}

fn session_path(id: &str) -> String {
    format!("/console/conversations/{}", query_value(id))
}
