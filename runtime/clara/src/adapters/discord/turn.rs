//! A channel's worker: answers its lane's messages one turn at a time, with a typing
//! indicator, a streamed reply, tool status lines, image batches and stop phrases.

use std::sync::Arc;
use std::time::Duration;

use clara_config::model::common::fill;
use clara_core::engine::{EngineError, Generation, Incoming, Outcome, TurnEnd};
use tokio::sync::mpsc;
use twilight_model::id::Id;
use twilight_model::id::marker::ChannelMarker;

use super::bot::Bot;
use super::incoming;
use clara_core::lanes::{NOTICE_AFTER, StopSignal};

use super::bot::Work;
use super::reactions::{react, unreact};
use super::reply::{Reply, Style, Update, post_quietly};
use crate::connections::Connector;

/// Starts the worker of a channel whose lane just opened; it ends when the lane is empty.
/// The connection tracks it, so closing waits for it.
pub fn work_channel(bot: Arc<Bot>, channel: Id<ChannelMarker>) {
    let work = bot.work.clone();
    work.spawn(async move {
        loop {
            let batch = bot.config().batch_active_channels;
            let Some((work, signal)) = bot.lanes.next(&channel, batch) else {
                break;
            };
            run(&bot, channel, work, signal).await;
        }
    });
}

/// One turn: a message, or a batch of an active channel's messages.
async fn run(bot: &Arc<Bot>, channel: Id<ChannelMarker>, work: Work, mut signal: StopSignal) {
    let generation = bot.live.current();
    let discord = generation.config.clara.value.adapters.discord.clone();
    let (anchor, incoming) = match work {
        Work::One { pending, waited } => {
            if let Some(waited) = waited {
                if pending.addressed {
                    if discord.queue_notices && !discord.notices.starting.is_empty() {
                        let waited = waited.as_secs().to_string();
                        let text = fill(&discord.notices.starting, &[("waited", &waited)]);
                        post_quietly(&bot.http, channel, &text).await;
                    }
                } else {
                    unreact(bot, channel, pending.message.id, "⏳").await;
                }
            }
            let incoming = incoming::incoming(bot, &generation, &pending.message).await;
            (pending.message, incoming)
        }
        Work::Batch { pending, waited } => {
            for waiting in pending
                .iter()
                .filter(|p| p.arrived.elapsed() >= NOTICE_AFTER)
            {
                unreact(bot, channel, waiting.message.id, "⏳").await;
            }
            if !discord.notices.catching_up.is_empty() {
                let (count, waited) = (pending.len().to_string(), waited.as_secs().to_string());
                let values = [("count", count.as_str()), ("waited", waited.as_str())];
                let text = fill(&discord.notices.catching_up, &values);
                post_quietly(&bot.http, channel, &text).await;
            }
            let mut lines = Vec::with_capacity(pending.len());
            let mut images = Vec::new();
            let mut text_files = 0;
            let mut last = None;
            for waiting in &pending {
                let incoming = incoming::incoming(bot, &generation, &waiting.message).await;
                lines.push(format!("[{}]: {}", incoming.user_name, incoming.text));
                images.extend(incoming.images.iter().cloned());
                text_files += incoming.text_files;
                last = Some(incoming);
            }
            let mut combined = last.expect("a batch has messages");
            combined.text = lines.join("\n");
            combined.images = images;
            combined.text_files = text_files;
            combined.authors_named = true;
            let anchor = pending
                .last()
                .expect("a batch has messages")
                .message
                .clone();
            (anchor, combined)
        }
    };
    let conversation = incoming.conversation.id.clone();
    let typing = typing(bot, channel, discord.typing_refresh_secs);
    let (updates, received) = mpsc::unbounded_channel();
    if discord.tool_status {
        bot.route_status(&conversation, updates.clone());
    }
    let mut reply = Reply::new(
        bot.http.clone(),
        channel,
        Some(anchor.id),
        Style {
            stream: discord.stream,
            edit_interval: Duration::from_millis(u64::from(discord.edit_interval_ms)),
            limit: discord.split_chars as usize,
        },
    );
    let per_request = discord.attachments.max_images_per_request.max(1) as usize;
    let answered = async {
        let outcome = tokio::select! {
            outcome = answer(&generation, incoming, per_request, &updates) => Some(outcome),
            () = signal.stopped() => None,
        };
        // The reply follows its updates until every sender is gone.
        bot.unroute_status(&conversation);
        drop(updates);
        outcome
    };
    let (outcome, ()) = tokio::join!(answered, reply.follow(received));
    typing.abort();
    let finished = match outcome {
        None if reply.started() => {
            let stopped = &discord.notices.stopped;
            let text = match stopped.is_empty() {
                true => reply.text().trim_end().to_owned(),
                false => format!("{}\n\n{stopped}", reply.text().trim_end()),
            };
            reply.finish(&text).await
        }
        None => Ok(()),
        Some(Ok(Outcome::Ended(TurnEnd::Duplicate))) => {
            // The same message was answered moments ago: a mark instead of silence.
            if !discord.duplicate_reaction.is_empty() {
                react(bot, channel, anchor.id, &discord.duplicate_reaction).await;
            }
            reply.finish("").await
        }
        Some(Ok(outcome)) => match outcome.into_reply() {
            Some((text, files)) => {
                let finished = reply.finish(&text).await;
                let names = files.iter().map(|f| f.name.clone()).collect::<Vec<_>>();
                if let Err(reason) = reply.attach(files).await {
                    tracing::warn!(%reason, "files could not be attached");
                    let notice = fill(
                        &discord.notices.files_failed,
                        &[("names", &names.join(", ")), ("reason", &reason)],
                    );
                    post_quietly(&bot.http, channel, &notice).await;
                }
                // A connection link also gets a button, which opens it in the browser. Only a
                // reply that could hold one pays for looking.
                if text.contains("/oauth/") {
                    let connector =
                        Connector::new(&generation.config, bot.live.http_client().clone());
                    let links: Vec<(String, String)> = connector
                        .links_in(&text)
                        .into_iter()
                        .map(|(title, url)| {
                            let label = fill(&discord.notices.connect_button, &[("title", &title)]);
                            (label, url)
                        })
                        .collect();
                    if let Err(error) = reply.add_link_buttons(&links).await {
                        tracing::warn!(%error, "a connection link's button could not be added");
                    }
                }
                finished
            }
            None => reply.finish("").await,
        },
        Some(Err(error)) => {
            tracing::error!(%error, "a Discord message could not be answered");
            reply
                .finish(&format!(
                    "-# ⚠️ Something went wrong before I could answer: {error}"
                ))
                .await
        }
    };
    if let Err(failure) = finished {
        // Never silent: the author sees a mark on their message, the log says why.
        tracing::error!(channel = %channel, "the reply did not reach Discord: {failure}");
        react(bot, channel, anchor.id, "⚠️").await;
    }
}

/// Runs the turn, streaming text into `updates`. More images than one request may carry go
/// in batches, each a turn of its own that continues the analysis; the answers join.
async fn answer(
    generation: &Generation,
    mut incoming: Incoming,
    per_request: usize,
    updates: &mpsc::UnboundedSender<Update>,
) -> Result<Outcome, EngineError> {
    let stream = |delta: &str| {
        let _ = updates.send(Update::Text(delta.to_owned()));
    };
    let images = std::mem::take(&mut incoming.images);
    if images.len() <= per_request {
        incoming.images = images;
        return generation.handle_message(incoming, &stream).await;
    }
    let total = images.len();
    let batches: Vec<_> = images.chunks(per_request).map(<[_]>::to_vec).collect();
    let count = batches.len();
    let _ = updates.send(Update::Status(format!(
        "-# 🖼️ Processing {total} images in {count} batches…"
    )));
    let mut answers = Vec::with_capacity(count);
    let mut sent = Vec::new();
    let mut last = None;
    for (index, batch) in batches.into_iter().enumerate() {
        let mut part = incoming.clone();
        let first = index * per_request + 1;
        let end = first + batch.len() - 1;
        part.images = batch;
        if index > 0 {
            part.text = format!(
                "Now please look at image {} of {total}. Continue your analysis.",
                if first == end {
                    first.to_string()
                } else {
                    format!("{first}–{end}")
                }
            );
            part.reply_chain.clear();
            let _ = updates.send(Update::Text("\n\n".to_owned()));
        }
        let mut outcome = generation.handle_message(part, &stream).await?;
        if let Outcome::Replied { files, .. } = &mut outcome {
            // A file sent again in a later batch replaces the earlier one.
            for file in files.drain(..) {
                sent.retain(|f: &clara_core::engine::SentFile| f.name != file.name);
                sent.push(file);
            }
        }
        let Some(text) = outcome.reply() else {
            return Ok(outcome);
        };
        answers.push(text.to_owned());
        let failed = outcome.error().is_some();
        last = Some(outcome);
        if failed {
            break;
        }
    }
    // The last part says how the whole went; the user gets every part's answer.
    Ok(match last.expect("at least two batches ran") {
        Outcome::Replied { tier, .. } => Outcome::Replied {
            reply: answers.join("\n\n"),
            tier,
            files: sent,
        },
        Outcome::Failed { error, tier, .. } => Outcome::Failed {
            reply: answers.join("\n\n"),
            error,
            tier,
        },
        ended @ Outcome::Ended(_) => ended,
    })
}

/// How long a turn runs before "clara is typing…" shows: an answer faster than this needs no
/// indicator, and skipping it saves a request against Discord's global rate limit.
const TYPING_AFTER: Duration = Duration::from_millis(300);

/// Shows "clara is typing…" until aborted; Discord shows it for about ten seconds a call.
fn typing(bot: &Bot, channel: Id<ChannelMarker>, every_secs: u32) -> tokio::task::JoinHandle<()> {
    let http = bot.http.clone();
    let every = Duration::from_secs(u64::from(every_secs.max(1)));
    tokio::spawn(async move {
        tokio::time::sleep(TYPING_AFTER).await;
        loop {
            if let Err(error) = http.create_typing_trigger(channel).await {
                tracing::debug!(%error, "typing indicator failed");
            }
            tokio::time::sleep(every).await;
        }
    })
}
