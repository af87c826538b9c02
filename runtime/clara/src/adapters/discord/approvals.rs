//! Tool approvals on Discord: the question is posted in the conversation with Approve and Deny
//! buttons. Only a click from someone the request allows counts (anyone else is told so,
//! privately); the first such click, or the timeout, decides, and the message then says which.
//! A click on a request that is no longer waiting changes nothing.

use std::sync::Arc;

use clara_config::model::common::{fill, shorten};
use clara_config::model::discord_notices::DiscordNotices;
use clara_core::engine::{ApprovalRequest, Approver, Decision};
use clara_core::llm::BoxFuture;
use serde_json::json;
use twilight_http::Client;
use twilight_model::application::interaction::{Interaction, InteractionData};
use twilight_model::channel::message::{AllowedMentions, Component, MessageFlags};
use twilight_model::http::interaction::{
    InteractionResponse, InteractionResponseData, InteractionResponseType,
};
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, MessageMarker, UserMarker};

use crate::adapters::awaiting::Awaiting;
use crate::live::Live;

/// Buttons' custom ids start with this, then the request id and `:yes` or `:no`.
const PREFIX: &str = "clara-approval:";

/// The requests waiting for a click, and how to post them.
pub struct DiscordApprovals {
    http: Arc<Client>,
    live: Arc<Live>,
    waiting: Awaiting<()>,
}

impl DiscordApprovals {
    /// Nothing waiting yet; questions go out through `http`, worded by `live`'s notices.
    pub fn new(http: Arc<Client>, live: Arc<Live>) -> Self {
        DiscordApprovals {
            http,
            live,
            waiting: Awaiting::default(),
        }
    }

    fn notices(&self) -> DiscordNotices {
        let generation = self.live.current();
        generation
            .config
            .clara
            .value
            .adapters
            .discord
            .notices
            .clone()
    }

    /// The channel to ask in: the conversation's channel, or a DM with the requester.
    async fn channel(&self, request: &ApprovalRequest) -> Result<Id<ChannelMarker>, String> {
        let id = &request.conversation.id;
        if let Some(channel) = id.strip_prefix("channel-") {
            return channel
                .parse()
                .map_err(|_| format!("`{id}` is not a Discord channel"));
        }
        let user: Id<UserMarker> = request
            .requester
            .trim_start_matches("discord-")
            .parse()
            .map_err(|_| format!("`{}` is not a Discord user", request.requester))?;
        let dm = self.http.create_private_channel(user).await;
        let dm = dm.map_err(|e| format!("cannot open a DM: {e}"))?;
        let dm = dm
            .model()
            .await
            .map_err(|e| format!("cannot open a DM: {e}"))?;
        Ok(dm.id)
    }

    /// Posts the question with its buttons; the message's id.
    async fn post(
        &self,
        channel: Id<ChannelMarker>,
        request: &ApprovalRequest,
        notices: &DiscordNotices,
    ) -> Result<Id<MessageMarker>, String> {
        let text = question(request, notices);
        let button = |verdict: &str, label: &str, style: u8| {
            json!({"type": 2, "style": style, "label": label,
                "custom_id": format!("{PREFIX}{}:{verdict}", request.id)})
        };
        let row = json!([{"type": 1, "components": [
            button("yes", &notices.approve_button, 3),
            button("no", &notices.deny_button, 4),
        ]}]);
        let components: Vec<Component> =
            serde_json::from_value(row).map_err(|e| format!("the buttons: {e}"))?;
        let quiet = AllowedMentions::default();
        let posted = self
            .http
            .create_message(channel)
            .content(&text)
            .components(&components)
            .allowed_mentions(Some(&quiet))
            .await
            .map_err(|e| format!("Discord refused the question: {e}"))?;
        let message = posted
            .model()
            .await
            .map_err(|e| format!("Discord's answer: {e}"))?;
        Ok(message.id)
    }

    /// A click by `who` (an admin or not) on one of the buttons: the decision when they may
    /// make it, else a private note and nothing changes.
    pub async fn click(&self, interaction: &Interaction, who: String, is_admin: bool) {
        let Some(InteractionData::MessageComponent(data)) = &interaction.data else {
            return;
        };
        let Some((id, verdict)) = data
            .custom_id
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.rsplit_once(':'))
        else {
            return;
        };
        let notices = self.notices();
        let decided = self
            .waiting
            .take(id, |request, ()| request.may_decide(&who, is_admin));
        let response = match decided {
            Some(answer) => {
                let by = mention(&who);
                let (decision, note) = if verdict == "yes" {
                    (Decision::Approved { by: who }, &notices.approved)
                } else {
                    (Decision::Denied { by: who }, &notices.denied)
                };
                let content = interaction
                    .message
                    .as_ref()
                    .map(|m| m.content.clone())
                    .unwrap_or_default();
                answer.send(decision);
                InteractionResponse {
                    kind: InteractionResponseType::UpdateMessage,
                    data: Some(InteractionResponseData {
                        content: Some(format!("{content}\n{}", fill(note, &[("by", &by)]))),
                        components: Some(Vec::new()),
                        allowed_mentions: Some(AllowedMentions::default()),
                        ..InteractionResponseData::default()
                    }),
                }
            }
            None => InteractionResponse {
                kind: InteractionResponseType::ChannelMessageWithSource,
                data: Some(InteractionResponseData {
                    content: Some(notices.approval_not_yours.clone()),
                    flags: Some(MessageFlags::EPHEMERAL),
                    ..InteractionResponseData::default()
                }),
            },
        };
        let answered = self
            .http
            .interaction(interaction.application_id)
            .create_response(interaction.id, &interaction.token, &response)
            .await;
        if let Err(error) = answered {
            tracing::warn!(%error, "an approval click could not be answered");
        }
    }
}

impl Approver for DiscordApprovals {
    fn ask<'a>(&'a self, request: &'a ApprovalRequest) -> BoxFuture<'a, Decision> {
        Box::pin(async move {
            let notices = self.notices();
            // Waiting before the buttons exist, so the quickest click finds it; however the call
            // stops waiting (a decision, the timeout, a cancelled turn, a question that could
            // not be posted), its buttons stop counting.
            let mut ticket = self.waiting.add(request, ());
            let posted = match self.channel(request).await {
                Ok(channel) => self
                    .post(channel, request, &notices)
                    .await
                    .map(|message| (channel, message)),
                Err(why) => Err(why),
            };
            let (channel, message) = match posted {
                Ok(posted) => posted,
                Err(why) => {
                    tracing::warn!(tool = %request.tool, why, "an approval could not be asked on Discord");
                    return Decision::Unavailable(why);
                }
            };
            match ticket.decision(request.timeout).await {
                Some(decision) => decision,
                None => {
                    let closed = format!(
                        "{}\n{}",
                        question(request, &notices),
                        notices.approval_timed_out
                    );
                    let edited = self
                        .http
                        .update_message(channel, message)
                        .content(Some(&closed))
                        .components(Some(&[]))
                        .await;
                    if let Err(error) = edited {
                        tracing::warn!(%error, "a timed-out approval could not be marked");
                    }
                    Decision::TimedOut
                }
            }
        })
    }
}

/// Most characters of the question, leaving room in Discord's 2,000 for the outcome line.
const QUESTION_CHARS: usize = 1_800;

/// The question as posted: the notice filled in, cut to [`QUESTION_CHARS`].
fn question(request: &ApprovalRequest, notices: &DiscordNotices) -> String {
    let requester = mention(&request.requester);
    let text = fill(
        &notices.approval,
        &[("question", &request.question), ("requester", &requester)],
    );
    shorten(&text, QUESTION_CHARS)
}

/// `<@id>` for a Discord user id (`discord-123`), else the id as it is.
fn mention(user: &str) -> String {
    user.strip_prefix("discord-")
        .map_or_else(|| user.to_owned(), |id| format!("<@{id}>"))
}
