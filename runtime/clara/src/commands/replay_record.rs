//! `clara replay --record`: a stored session as a `clara test` fixture. The user's memories and
//! the previous session's summary become its seed, each stored message a turn whose script is
//! the recorded reply (and the no-facts answer for each call of the memory work), and the
//! recorded reply and the tier the root chose its expectations. A tier classifier's call is
//! answered empty, as in the replay: the pipeline's fallback tier.

use clara_core::store::{NewMemory, Session};
use toml_edit::{Array, ArrayOfTables, DocumentMut, InlineTable, Item, Table, value};

use super::replay_model::NO_FACTS;
use super::replay_report::when;
use super::replay_world::Speaker;

/// A replayed turn, as the fixture records it.
pub struct RecordedTurn {
    /// What the user said.
    pub say: String,
    /// When.
    pub at: i64,
    /// The reply the store recorded.
    pub recorded: String,
    /// What each of the turn's calls in the root was answered, in order.
    pub answers: Vec<String>,
    /// The calls its memory work made.
    pub memory_calls: usize,
    /// The tier the root chose.
    pub tier: Option<String>,
}

/// The fixture file's text.
pub fn write_fixture(
    speaker: &Speaker,
    session: &Session,
    memories: &[NewMemory],
    previous_summary: Option<&str>,
    turns: &[RecordedTurn],
) -> String {
    let mut doc = DocumentMut::new();
    let start = turns.first().map_or(session.started_at, |t| t.at);
    doc["name"] = value(format!(
        "recorded: {} in {} on {}",
        speaker.user,
        session.conversation,
        when(start)
    ));
    doc["platform"] = value(speaker.platform.as_str());
    doc["user"] = value(speaker.user.as_str());
    doc["user_name"] = value(speaker.user_name.as_str());
    if let Some(channel) = session.conversation.strip_prefix("channel-") {
        doc["channel"] = value(channel);
    }
    doc["start"] = value(rfc3339(start));
    if let Some(summary) = previous_summary {
        doc["previous_summary"] = value(summary);
    }
    if !memories.is_empty() {
        let mut seeded = ArrayOfTables::new();
        for memory in memories {
            let mut table = Table::new();
            table["text"] = value(memory.text.as_str());
            if memory.is_key {
                table["key"] = value(true);
            }
            if let Some(project) = &memory.project {
                table["project"] = value(project.as_str());
            }
            seeded.push(table);
        }
        doc["memories"] = Item::ArrayOfTables(seeded);
    }
    let mut recorded = ArrayOfTables::new();
    let mut minutes = 0;
    for turn in turns {
        let mut table = Table::new();
        // A stored channel message names its author (`[Ann]: …`); `clara test` adds that
        // itself.
        let say = match turn.say.strip_prefix(&format!("[{}]: ", speaker.user_name)) {
            Some(rest) if !speaker.conversation.is_dm => rest,
            _ => turn.say.as_str(),
        };
        table["say"] = value(say);
        // The fixture's clock moves in whole minutes: each turn lands on the minute it was
        // sent, counted from the first.
        let at_minute = (turn.at - start).max(0) / 60_000;
        if at_minute > minutes {
            table["after_minutes"] = value(at_minute - minutes);
            minutes = at_minute;
        }
        let mut model = Array::new();
        for given in &turn.answers {
            model.push(answer(given));
        }
        for _ in 0..turn.memory_calls {
            model.push(answer(NO_FACTS));
        }
        model.set_trailing_comma(true);
        for item in model.iter_mut() {
            item.decor_mut().set_prefix("\n    ");
        }
        model.set_trailing("\n");
        table["model"] = value(model);
        let mut expect = Table::new();
        expect["reply"] = value(turn.recorded.as_str());
        if let Some(tier) = &turn.tier {
            expect["tier"] = value(tier.as_str());
        }
        table["expect"] = Item::Table(expect);
        recorded.push(table);
    }
    doc["turns"] = Item::ArrayOfTables(recorded);
    format!(
        "#:schema ../schema/fixture.schema.json\n# Recorded by `clara replay --record` from session {}.\n# The stored replies are the model's script and the expectations. Add expectations\n# (prompt_contains, tools_offered, prompt_snapshot, …) and run `clara test`.\n{doc}",
        session.id
    )
}

fn answer(reply: &str) -> InlineTable {
    let mut answer = InlineTable::new();
    answer.insert("reply", reply.into());
    answer
}

fn rfc3339(at: i64) -> String {
    chrono::DateTime::from_timestamp_millis(at)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}
