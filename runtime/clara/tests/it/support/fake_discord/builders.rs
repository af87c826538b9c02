//! Builders for what users do on Discord: a message (guild, DM, reply, with attachments or
//! mentions) and a slash command, each producing the JSON twilight-model 0.18 accepts.

use super::payloads::{
    MessageParts, dm_channel_id, interaction_base, member_json, message_json, next_snowflake,
    text_channel_json, user_json,
};
use serde_json::{Value, json};

/// Who a user is, as messages, mentions and interactions carry them.
#[derive(Debug, Clone)]
pub struct Person {
    pub id: u64,
    pub username: String,
    pub global_name: Option<String>,
    pub bot: bool,
}

impl Person {
    /// A human with this id and username (and no display name).
    pub fn new(id: u64, username: &str) -> Person {
        let username = username.to_owned();
        Person {
            id,
            username,
            global_name: None,
            bot: false,
        }
    }

    /// The user object.
    pub fn to_json(&self) -> Value {
        user_json(
            self.id,
            &self.username,
            self.global_name.as_deref(),
            self.bot,
        )
    }
}

/// An attachment on a user's message; `url` is where the adapter downloads it from (use
/// [`super::FakeDiscord::serve_file`] to make it real).
#[derive(Debug, Clone)]
pub struct FileAttachment {
    pub id: u64,
    pub filename: String,
    pub url: String,
    pub size: u64,
    pub content_type: Option<String>,
    /// `(width, height)`, which Discord sends only for images and videos.
    pub dimensions: Option<(u64, u64)>,
}

impl FileAttachment {
    /// A non-image file.
    pub fn file(filename: &str, url: &str, size: u64, content_type: &str) -> FileAttachment {
        FileAttachment {
            id: next_snowflake(),
            filename: filename.to_owned(),
            url: url.to_owned(),
            size,
            content_type: Some(content_type.to_owned()),
            dimensions: None,
        }
    }

    /// An image of `width` x `height`.
    pub fn image(
        filename: &str,
        url: &str,
        size: u64,
        content_type: &str,
        width: u64,
        height: u64,
    ) -> FileAttachment {
        let dimensions = Some((width, height));
        FileAttachment {
            dimensions,
            ..FileAttachment::file(filename, url, size, content_type)
        }
    }

    /// The attachment object.
    pub fn to_json(&self) -> Value {
        let mut json = json!({
            "id": self.id.to_string(), "filename": self.filename, "size": self.size,
            "url": self.url, "proxy_url": self.url, "content_type": self.content_type,
        });
        if let Some((width, height)) = self.dimensions {
            json["width"] = json!(width);
            json["height"] = json!(height);
        }
        json
    }
}

/// A message a user sends. Build one with [`UserMessage::guild`] or [`UserMessage::dm`], adjust
/// it with the chained setters, then hand it to [`super::FakeDiscord::send_user_message`] (or
/// take its JSON with [`UserMessage::to_json`]).
#[derive(Debug, Clone)]
pub struct UserMessage {
    /// `None` until sent: the fake assigns a fresh snowflake.
    pub id: Option<u64>,
    pub channel_id: u64,
    /// `None` for a DM; a DM also carries no `member`.
    pub guild_id: Option<u64>,
    pub author: Person,
    pub roles: Vec<u64>,
    pub nick: Option<String>,
    pub content: String,
    pub mentions: Vec<Person>,
    pub mention_roles: Vec<u64>,
    pub attachments: Vec<FileAttachment>,
    /// The message this one replies to, by id; the fake fills in `referenced_message` from
    /// its store when it knows the message.
    pub reply_to: Option<u64>,
    /// An explicit `referenced_message`, overriding the fake's lookup.
    pub referenced: Option<Value>,
}

impl UserMessage {
    /// `author` (id, username) says `content` in a guild channel.
    pub fn guild(
        channel: u64,
        guild: u64,
        author: u64,
        username: &str,
        content: &str,
    ) -> UserMessage {
        UserMessage {
            id: None,
            channel_id: channel,
            guild_id: Some(guild),
            author: Person::new(author, username),
            roles: Vec::new(),
            nick: None,
            content: content.to_owned(),
            mentions: Vec::new(),
            mention_roles: Vec::new(),
            attachments: Vec::new(),
            reply_to: None,
            referenced: None,
        }
    }

    /// `author` says `content` to the bot in their DM channel ([`dm_channel_id`]).
    pub fn dm(author: u64, username: &str, content: &str) -> UserMessage {
        let guild_id = None;
        UserMessage {
            guild_id,
            ..UserMessage::guild(dm_channel_id(author), 0, author, username, content)
        }
    }

    /// Uses this id instead of a fresh one.
    pub fn id(mut self, id: u64) -> Self {
        self.id = Some(id);
        self
    }

    /// The author is a bot.
    pub fn by_bot(mut self) -> Self {
        self.author.bot = true;
        self
    }

    /// The author's display name (`global_name`).
    pub fn global_name(mut self, name: &str) -> Self {
        self.author.global_name = Some(name.to_owned());
        self
    }

    /// The author's role ids in the guild.
    pub fn roles(mut self, roles: &[u64]) -> Self {
        self.roles = roles.to_vec();
        self
    }

    /// The author's nickname in the guild.
    pub fn nick(mut self, nick: &str) -> Self {
        self.nick = Some(nick.to_owned());
        self
    }

    /// Mentions a user (the content should contain `<@id>` too, as Discord's would).
    pub fn mention(mut self, id: u64, username: &str) -> Self {
        self.mentions.push(Person::new(id, username));
        self
    }

    /// Mentions the bot.
    pub fn mention_bot(self) -> Self {
        let mut this = self.mention(super::BOT_ID, super::BOT_NAME);
        this.mentions.last_mut().unwrap().bot = true;
        this
    }

    /// Mentions a role.
    pub fn mention_role(mut self, role: u64) -> Self {
        self.mention_roles.push(role);
        self
    }

    /// Attaches a file.
    pub fn attachment(mut self, attachment: FileAttachment) -> Self {
        self.attachments.push(attachment);
        self
    }

    /// Replies to message `id` in the same channel (`type` 19).
    pub fn reply_to(mut self, id: u64) -> Self {
        self.reply_to = Some(id);
        self
    }

    /// Replies to this full message (its JSON, e.g. from `FakeMessage::json`).
    pub fn replying_to(mut self, message: Value) -> Self {
        self.reply_to = message["id"].as_str().and_then(|id| id.parse().ok());
        self.referenced = Some(message);
        self
    }

    /// The MESSAGE_CREATE `d`; without an id yet, a fresh one is used.
    pub fn to_json(&self) -> Value {
        let mentions = self.mentions.iter().map(Person::to_json).collect();
        message_json(MessageParts {
            id: self.id.unwrap_or_else(next_snowflake),
            channel_id: self.channel_id,
            guild_id: self.guild_id,
            author: self.author.to_json(),
            member: (self.guild_id.is_some())
                .then(|| member_json(&self.roles, self.nick.as_deref())),
            content: &self.content,
            mentions,
            mention_roles: &self.mention_roles,
            attachments: self
                .attachments
                .iter()
                .map(FileAttachment::to_json)
                .collect(),
            embeds: Vec::new(),
            reply_to: self.referenced.clone(),
            reply_to_id: self.reply_to,
        })
    }
}

/// A slash command invocation (INTERACTION_CREATE, type 2). Build with
/// [`SlashCommand::guild`] or [`SlashCommand::dm`], then [`SlashCommand::subcommand`].
#[derive(Debug, Clone)]
pub struct SlashCommand {
    pub id: u64,
    pub token: String,
    pub channel_id: u64,
    pub guild_id: Option<u64>,
    pub user: Person,
    pub roles: Vec<u64>,
    /// The invoking member's computed permissions in the channel.
    pub permissions: u64,
    pub command_id: u64,
    pub name: String,
    /// The top-level options (e.g. one subcommand holding its own options).
    pub options: Vec<Value>,
}

impl SlashCommand {
    /// `user` runs `/name` in a guild channel with no special permissions.
    pub fn guild(channel: u64, guild: u64, user: u64, username: &str, name: &str) -> SlashCommand {
        let id = next_snowflake();
        SlashCommand {
            id,
            token: format!("interaction-token-{id}"),
            channel_id: channel,
            guild_id: Some(guild),
            user: Person::new(user, username),
            roles: Vec::new(),
            // VIEW_CHANNEL | SEND_MESSAGES | READ_MESSAGE_HISTORY | USE_APPLICATION_COMMANDS
            permissions: 0x400 | 0x800 | 0x10000 | 0x8000_0000,
            command_id: 9000,
            name: name.to_owned(),
            options: Vec::new(),
        }
    }

    /// `user` runs `/name` in their DM with the bot.
    pub fn dm(user: u64, username: &str, name: &str) -> SlashCommand {
        let guild_id = None;
        SlashCommand {
            guild_id,
            ..SlashCommand::guild(dm_channel_id(user), 0, user, username, name)
        }
    }

    /// The member's roles.
    pub fn roles(mut self, roles: &[u64]) -> Self {
        self.roles = roles.to_vec();
        self
    }

    /// The member's permission bits (e.g. `0x8` ADMINISTRATOR).
    pub fn permissions(mut self, bits: u64) -> Self {
        self.permissions = bits;
        self
    }

    /// Adds a subcommand with `(name, value)` options; the option type follows the value
    /// (string 3, integer 4, boolean 5, number 10).
    pub fn subcommand(mut self, name: &str, options: &[(&str, Value)]) -> Self {
        let options: Vec<Value> = options.iter().map(|(n, v)| option_json(n, v)).collect();
        self.options
            .push(json!({"type": 1, "name": name, "options": options}));
        self
    }

    /// Adds subcommand `name` of the subcommand group `group`, with `(name, value)` options.
    pub fn group(mut self, group: &str, name: &str, options: &[(&str, Value)]) -> Self {
        let options: Vec<Value> = options.iter().map(|(n, v)| option_json(n, v)).collect();
        self.options
            .push(json!({"type": 2, "name": group, "options": [
                {"type": 1, "name": name, "options": options}
            ]}));
        self
    }

    /// A top-level option.
    pub fn option(mut self, name: &str, value: Value) -> Self {
        self.options.push(option_json(name, &value));
        self
    }

    /// The INTERACTION_CREATE `d`.
    pub fn to_json(&self) -> Value {
        let mut json = interaction_base(self.id, &self.token, self.guild_id, self.user.id);
        let mut data = json!({
            "id": self.command_id.to_string(), "name": self.name, "type": 1,
            "options": self.options,
        });
        json["channel_id"] = json!(self.channel_id.to_string());
        match self.guild_id {
            Some(guild) => {
                data["guild_id"] = json!(guild.to_string());
                json["guild_id"] = json!(guild.to_string());
                json["guild_locale"] = json!("en-US");
                json["guild"] = json!({"id": guild.to_string(), "locale": "en-US", "features": []});
                json["channel"] = text_channel_json(self.channel_id, "channel", guild, 0);
                let mut member = member_json(&self.roles, None);
                member["user"] = self.user.to_json();
                member["permissions"] = json!(self.permissions.to_string());
                json["member"] = member;
            }
            None => {
                json["channel"] = json!({"id": self.channel_id.to_string(), "type": 1, "flags": 0});
                json["user"] = self.user.to_json();
            }
        }
        json["data"] = data;
        json
    }
}

fn option_json(name: &str, value: &Value) -> Value {
    let kind = match value {
        Value::Bool(_) => 5,
        Value::Number(n) if n.is_i64() || n.is_u64() => 4,
        Value::Number(_) => 10,
        _ => 3,
    };
    json!({"type": kind, "name": name, "value": value})
}
