//! The default prompt templates, as shipped in `pipelines/chat.toml`. Users edit them there;
//! these constants only fill in what a pipeline file leaves out.

/// System instructions placed before the persona: how to use tools and files.
pub const INSTRUCTIONS: &str = r#"You can use tools. When a tool can answer a question or finish a task, call it instead of describing what you would do, and do not ask for permission first.
{% if tools %}Tools available to you right now: {{ tools | join(sep=", ") }}.
{% endif %}Your persona follows; the current context comes with each new message."#;

/// The "current context" block: time, place and people.
pub const CONTEXT: &str = r#"## Current Context
- Current time: {{ now }}
- Platform: {{ platform }}
{% if is_dm %}- Conversation: Private DM
{% else %}{% if channel_name %}- Channel: #{{ channel_name }}
{% endif %}{% if server_name %}- Server: {{ server_name }}
{% endif %}{% endif %}- User: {{ user_name }}
{% if participants | length > 1 %}- Other participants: {{ participants | join(sep=", ") }}
{% endif %}{% if images %}- Images attached: {{ images }}
{% endif %}{% if text_files %}- Text files attached: {{ text_files }}
{% endif %}"#;

/// What stays the same for a whole session: the previous session and the key memories. It
/// goes in the cached part of the prompt, before the history.
pub const BACKGROUND: &str = r#"{% if previous_summary %}PREVIOUS SESSION SUMMARY:
{{ previous_summary }}

{% endif %}{% if previous_snapshot %}END OF THE PREVIOUS SESSION:
{% for m in previous_snapshot %}{{ m.role | upper }}: {{ m.content }}
{% endfor %}
{% endif %}{% if key_memories %}KEY MEMORIES:
{% for m in key_memories %}- {{ m.text }}
{% endfor %}{% endif %}"#;

/// The memory block: what the search found for this message, about the user and the project.
pub const MEMORIES: &str = r#"{% if user_memories %}USER MEMORIES:
{% for m in user_memories %}- {{ m.text }}
{% endfor %}
{% endif %}{% if project_memories %}PROJECT MEMORIES:
{% for m in project_memories %}- {{ m.text }}
{% endfor %}{% endif %}"#;

/// The tier classifier's prompt (a single user message to the low tier).
pub const CLASSIFIER: &str = r#"Decide how capable a model this message needs. Answer with one word: LOW, MID or HIGH.
LOW: greetings, thanks, yes/no answers, quick facts, light small talk.
MID: explanations, summaries, ordinary coding questions, follow-ups, most everyday tasks.
HIGH: hard reasoning, long-form writing, difficult code, multi-step research or planning.
A short reply such as "ok" inside a demanding conversation keeps that conversation's level.

Recent conversation:
{% for m in context %}[{{ m.role }}]: {{ m.content }}
{% else %}(no prior context)
{% endfor %}
Message:
{{ message }}"#;

/// Note appended to a tool result that was cut.
pub const TRUNCATION_NOTE: &str = "\n\n[TRUNCATED: the result was {{ total_chars }} characters; showing the first {{ shown_chars }}. Ask for less at a time (pagination parameters or narrower filters).]";

/// The message sent when the tool rounds are used up.
pub const LIMIT_REACHED: &str = "You have used the maximum number of tool calls for this message. Without calling more tools, sum up what you did, what you found, and what is left to do.";

/// Fact extraction: facts about the user, never about the assistant.
pub const EXTRACTION: &str = r#"You keep a memory of facts about {{ user_name }}, the person talking with the assistant. Today is {{ today }}.
From the conversation below, pick out facts about {{ user_name }} that will still be useful later: preferences, plans, people in their life, work, health, places, ongoing projects, how they like to be helped.
Only facts about {{ user_name }}. Never record facts about the assistant, and never record what the assistant said unless {{ user_name }} confirmed it.
Mark a fact "is_key": true only when it is foundational: identity, close relationships, health, profession, where they live.
Answer with JSON only: {"facts": [{"text": "...", "is_key": false}]}. Answer {"facts": []} when there is nothing worth keeping.

Conversation:
{% for m in messages %}{{ m.role }}: {{ m.content }}
{% endfor %}"#;

/// Reconciliation of new facts against the most similar existing memories.
pub const RECONCILE: &str = r#"You maintain a memory of facts about a person. Compare the new facts with the existing memories and decide, for each, one event:
- ADD: new information that is not in memory yet.
- UPDATE: the same subject as an existing memory with richer or newer detail; keep the existing id and write the better text.
- DELETE: a new fact contradicts an existing memory; delete the old one (and ADD the new fact if it should be kept).
- NONE: already known; change nothing.
Keep "is_key" as it is on existing memories unless a new fact clearly changes it.
Answer with JSON only: {"memory": [{"id": "...", "text": "...", "event": "ADD|UPDATE|DELETE|NONE", "old_memory": "...", "is_key": false}]}. Use the ids shown below; new entries get a new id.

Existing memories:
{% for m in existing %}- id {{ m.id }}: {{ m.text }}{% if m.is_key %} (key){% endif %}
{% else %}(memory is empty)
{% endfor %}
New facts:
{% for f in facts %}- {{ f.text }}{% if f.is_key %} (key){% endif %}
{% endfor %}"#;

/// The session summary instruction used by `pipelines/session_summary.toml`.
pub const SESSION_SUMMARY: &str = "Summarise the conversation above in two or three sentences for your future self: the topics, any decisions or promises, and whatever will help pick the conversation up again. Write in the past tense.";
