//! The test's side of the gateway: dispatching events and user actions, op 7 / op 9 / close
//! controls, and what the fake saw (identifies, resumes, connections, heartbeats).

use super::gateway::{ConnectionInfo, Identify, Out, Resume, frame};
use super::{FakeDiscord, SlashCommand, UserMessage, id_of, next_snowflake};
use serde_json::{Value, json};

impl FakeDiscord {
    /// Sends a dispatch to the shard that owns `d.guild_id` (shard 0 without one) and returns
    /// its seq, verbatim: nothing is stored and intents are not applied. Panics if no shard
    /// has a session yet (wait with [`FakeDiscord::wait_identified`]).
    pub fn dispatch(&self, event: &str, d: Value) -> u64 {
        let mut state = self.state();
        let guild = id_of(&d["guild_id"]);
        let Some(session) = state.session_for_guild(guild) else {
            panic!("fake_discord: no shard session for guild {guild:?} to send {event} to");
        };
        state.dispatch_in(session, event, d)
    }

    /// Sends a dispatch on shard `shard`'s newest session.
    pub fn dispatch_on_shard(&self, shard: u64, event: &str, d: Value) -> u64 {
        let mut state = self.state();
        let Some(session) = state.session_for_shard(shard) else {
            panic!("fake_discord: shard {shard} has no session to send {event} to");
        };
        state.dispatch_in(session, event, d)
    }

    /// A user posts `message`: it is stored (so `GET` finds it and replies can reference it)
    /// and dispatched as MESSAGE_CREATE to the owning shard as Discord would for its intents
    /// (not at all without GUILD_MESSAGES / DIRECT_MESSAGES; content blanked without
    /// MESSAGE_CONTENT unless it mentions the bot). A `reply_to` id gets its
    /// `referenced_message` from the store. Returns its id. Panics if no shard is connected.
    pub fn send_user_message(&self, mut message: UserMessage) -> u64 {
        let id = *message.id.get_or_insert_with(next_snowflake);
        let mut state = self.state();
        if let (Some(reply), None) = (message.reply_to, &message.referenced) {
            message.referenced = state.store.json_of(message.channel_id, reply);
        }
        let mut json = message.to_json();
        state.store.insert(message.channel_id, json.clone(), false);
        if state.session_for_guild(message.guild_id).is_none() {
            panic!("fake_discord: no shard session to deliver message {id} to");
        }
        // The gateway (not REST) adds the channel's type: 0 guild text, 1 DM.
        json["channel_type"] = json!(if message.guild_id.is_some() { 0 } else { 1 });
        state.deliver_message("MESSAGE_CREATE", message.guild_id, json);
        id
    }

    /// A user runs a slash command: dispatched as INTERACTION_CREATE. Returns the interaction
    /// id; its responses are in [`FakeDiscord::interaction`] under `command.token`.
    pub fn send_interaction(&self, command: &SlashCommand) -> u64 {
        let mut state = self.state();
        state
            .store
            .open_interaction(&command.token, command.channel_id, None);
        let Some(session) = state.session_for_guild(command.guild_id) else {
            panic!(
                "fake_discord: no shard session to deliver interaction {} to",
                command.id
            );
        };
        state.dispatch_in(session, "INTERACTION_CREATE", command.to_json());
        command.id
    }

    /// `clicker` (their channel, roles and permissions as in a slash command) clicks the button
    /// `custom_id` on the bot's message `message`: dispatched as a MESSAGE_COMPONENT
    /// INTERACTION_CREATE with the stored message. Returns the interaction's token; an
    /// UPDATE_MESSAGE callback edits the message.
    pub fn click_button(&self, clicker: &SlashCommand, message: u64, custom_id: &str) -> String {
        let mut state = self.state();
        let channel = clicker.channel_id;
        let Some(stored) = state.store.json_of(channel, message) else {
            panic!("fake_discord: no message {message} in channel {channel} to click");
        };
        state
            .store
            .open_interaction(&clicker.token, channel, Some(message));
        let mut json = clicker.to_json();
        json["type"] = json!(3);
        json["data"] = json!({"custom_id": custom_id, "component_type": 2});
        json["message"] = stored;
        let Some(session) = state.session_for_guild(clicker.guild_id) else {
            panic!("fake_discord: no shard session to deliver a click to");
        };
        state.dispatch_in(session, "INTERACTION_CREATE", json);
        clicker.token.clone()
    }

    /// Logs the next `n` dispatches without sending them, as if lost with a dying connection:
    /// only a RESUME's replay delivers them.
    pub fn lose_next_dispatches(&self, n: usize) {
        self.state().gateway.lose = n;
    }

    /// Whether the bot's own REST messages come back as MESSAGE_CREATE / _UPDATE / _DELETE
    /// dispatches, as on Discord (the default), so the adapter must ignore itself.
    pub fn echo_own_messages(&self, echo: bool) {
        self.state().gateway.no_echo = !echo;
    }

    /// Sends op 7 RECONNECT on every open connection (twilight closes with 4000 and resumes).
    pub fn reconnect(&self) {
        self.control(None, || Out::Frame(frame(7, Value::Null)), None, false);
    }

    /// Sends op 7 RECONNECT on shard `shard`'s open connections.
    pub fn reconnect_shard(&self, shard: u64) {
        self.control(
            Some(shard),
            || Out::Frame(frame(7, Value::Null)),
            None,
            false,
        );
    }

    /// Closes every open connection with `code` (4004 is fatal to twilight; 4007 and 4009
    /// also end the session, so a resume is refused).
    pub fn close(&self, code: u16) {
        self.control(
            None,
            || Out::Close(code),
            Some(code),
            matches!(code, 4007 | 4009),
        );
    }

    /// Closes shard `shard`'s open connections with `code`.
    pub fn close_shard(&self, shard: u64, code: u16) {
        let ends = matches!(code, 4007 | 4009);
        self.control(Some(shard), || Out::Close(code), Some(code), ends);
    }

    /// Sends op 9 INVALID SESSION on every open connection; unless `resumable`, their
    /// sessions end and a later resume of them is refused.
    pub fn invalid_session(&self, resumable: bool) {
        let op9 = || Out::Frame(frame(9, json!(resumable)));
        self.control(None, op9, None, !resumable);
    }

    /// Sends `make()` on the open connections (of `shard`), under one lock so a client's
    /// quick reconnect cannot race the bookkeeping.
    fn control(&self, shard: Option<u64>, make: impl Fn() -> Out, code: Option<u16>, end: bool) {
        let mut state = self.state();
        for conn in state.open_connections(shard) {
            state.send(conn, make());
            let c = &mut state.gateway.connections[conn];
            c.info.server_close_code = code.or(c.info.server_close_code);
            if let (true, Some(session)) = (end, c.session) {
                state.gateway.sessions[session].valid = false;
            }
        }
    }

    /// Every IDENTIFY received.
    pub fn identifies(&self) -> Vec<Identify> {
        self.state().gateway.identifies.clone()
    }

    /// Every RESUME received.
    pub fn resumes(&self) -> Vec<Resume> {
        self.state().gateway.resumes.clone()
    }

    /// Every gateway connection accepted, in order.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        let state = self.state();
        state
            .gateway
            .connections
            .iter()
            .map(|c| c.info.clone())
            .collect()
    }

    /// How many heartbeats (op 1) arrived; each was ACKed.
    pub fn heartbeats(&self) -> usize {
        self.state().gateway.heartbeats
    }

    /// Every payload clients sent (identify, resume, heartbeats, presence updates, …).
    pub fn gateway_received(&self) -> Vec<Value> {
        self.state().gateway.received.clone()
    }
}
