//! Memory extraction: facts about the user (never about the assistant) from one exchange,
//! reconciled against the most similar existing memories with ADD / UPDATE / DELETE / NONE.
//! The model sees short temporary ids, so it cannot invent real ones; an unknown id is an ADD;
//! output that does not parse changes nothing. Every change is kept in the memory's history.

use std::collections::BTreeMap;

use clara_config::model::clara::MemoryConfig;
use serde_json::{Value, json};

use super::EngineError;
use super::job::ExtractMemories;
use super::memory::{embed_one, search_embedded};
use super::metered_embedder::MeteredEmbedder;
use super::services::{Meter, Services};
use super::steps::WriteMemory;
use super::tools::ToolContext;
use crate::llm::{ChatRequest, Message};
use crate::store::{Memory, NewMemory};

/// One fact the model found.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fact {
    pub text: String,
    pub is_key: bool,
}

/// Runs one `extract_memories` job with the settings of the step that queued it.
pub(crate) async fn run(
    services: &Services,
    step: &WriteMemory,
    job: &ExtractMemories,
) -> Result<(), EngineError> {
    let config = &step.memory;
    if !config.enabled {
        return Ok(());
    }
    let user_id = &job.user_id;
    let project = (!job.is_dm).then(|| config.default_project.clone());
    // The user's day, on the engine's clock, in the configured time zone.
    let today = chrono::TimeZone::timestamp_millis_opt(&chrono::Utc, services.clock.now())
        .single()
        .unwrap_or_default()
        .with_timezone(&step.timezone)
        .format("%Y-%m-%d")
        .to_string();

    // Memory work is the user's: counted for them and the pipeline that queued it.
    let meter = Meter {
        user_id: Some(user_id),
        conversation: None,
        pipeline: Some(&job.pipeline),
        purpose: "memory",
        turn: None,
        automated: true,
        budgets: &[],
        spent: None,
    };
    let mut vars = tera::Context::new();
    vars.insert("messages", &job.messages);
    vars.insert("user_name", &job.user_name);
    vars.insert("today", &today);
    let prompt = step.extraction_prompt.render(&vars)?;
    let Some(facts) = parse_facts(&ask(services, config, prompt, meter).await?) else {
        tracing::warn!(user = %user_id, "memory extraction answered something unreadable; nothing changes");
        return Ok(());
    };
    if facts.is_empty() {
        return Ok(());
    }

    let embedder = MeteredEmbedder::new(services, meter);
    let context = services.tool_context(user_id, embedder.as_ref().map(MeteredEmbedder::as_dyn));
    // Each fact is embedded once: for the search here, and again when it is stored as is.
    let mut embedded = Embedded::default();
    let mut existing: Vec<Memory> = Vec::new();
    for fact in &facts {
        let embedding = embedded.of(&context, &fact.text).await;
        let similar = search_embedded(
            &context,
            &fact.text,
            embedding.as_ref(),
            None,
            step.options.similar_per_fact,
        )
        .await?;
        for found in similar {
            if !existing.iter().any(|m| m.id == found.memory.id) {
                existing.push(found.memory);
            }
        }
    }
    let temp_ids: BTreeMap<String, &Memory> = existing
        .iter()
        .enumerate()
        .map(|(i, m)| (i.to_string(), m))
        .collect();
    let mut vars = tera::Context::new();
    vars.insert(
        "existing",
        &temp_ids
            .iter()
            .map(|(id, m)| json!({ "id": id, "text": m.text, "is_key": m.is_key }))
            .collect::<Vec<_>>(),
    );
    vars.insert(
        "facts",
        &facts
            .iter()
            .map(|f| json!({ "text": f.text, "is_key": f.is_key }))
            .collect::<Vec<_>>(),
    );
    vars.insert("user_name", &job.user_name);
    let prompt = step.reconcile_prompt.render(&vars)?;
    let Some(decisions) = parse_decisions(&ask(services, config, prompt, meter).await?) else {
        tracing::warn!(user = %user_id, "memory reconciliation answered something unreadable; nothing changes");
        return Ok(());
    };
    apply(&context, &decisions, &temp_ids, project, &mut embedded).await
}

/// Embeddings made during one job, by text.
#[derive(Default)]
struct Embedded(BTreeMap<String, Option<(String, Vec<f32>)>>);

impl Embedded {
    /// The embedding of `text`, made once per job.
    async fn of(&mut self, context: &ToolContext<'_>, text: &str) -> Option<(String, Vec<f32>)> {
        if let Some(known) = self.0.get(text) {
            return known.clone();
        }
        let made = embed_one(context.embedder, text).await;
        self.0.insert(text.to_owned(), made.clone());
        made
    }
}

/// One reconciliation decision.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Decision {
    pub id: Option<String>,
    pub text: String,
    pub event: String,
    pub is_key: Option<bool>,
}

async fn apply(
    context: &ToolContext<'_>,
    decisions: &[Decision],
    temp_ids: &BTreeMap<String, &Memory>,
    project: Option<String>,
    embedded: &mut Embedded,
) -> Result<(), EngineError> {
    let now = context.clock.now();
    for decision in decisions {
        let text = decision.text.trim();
        let known = decision.id.as_deref().and_then(|id| temp_ids.get(id));
        match (decision.event.as_str(), known) {
            ("UPDATE", Some(memory)) if !text.is_empty() && text != memory.text => {
                let embedding = embedded.of(context, text).await;
                let embedding = embedding.as_ref().map(|(m, v)| (m.as_str(), v.as_slice()));
                context
                    .store
                    .update_memory(
                        &memory.id,
                        text,
                        decision.is_key.unwrap_or(memory.is_key),
                        embedding,
                        now,
                    )
                    .await?;
            }
            ("DELETE", Some(memory)) => context.store.delete_memory(&memory.id, now).await?,
            // An update of an id the model made up is new information.
            ("ADD", _) | ("UPDATE", None) if !text.is_empty() => {
                let embedding = embedded.of(context, text).await;
                let memory = NewMemory {
                    user_id: context.user_id.to_owned(),
                    project: project.clone(),
                    text: text.to_owned(),
                    is_key: decision.is_key.unwrap_or(false),
                    embedding,
                };
                context.store.add_memory(memory, now).await?;
            }
            _ => {}
        }
    }
    Ok(())
}

async fn ask(
    services: &Services,
    memory: &MemoryConfig,
    prompt: String,
    meter: Meter<'_>,
) -> Result<String, EngineError> {
    let request = ChatRequest {
        stream: false,
        model: memory.model.clone(),
        // What a fallback provider runs, since `memory.model` names the first provider's.
        tier: Some(clara_config::model::common::Tier::Low),
        temperature: Some(memory.temperature),
        max_tokens: Some(memory.max_tokens),
        ..ChatRequest::new(vec![Message::user(prompt)])
    };
    let response = services
        .chat(memory.provider.as_deref(), &request, &|_| {}, meter)
        .await?;
    Ok(response.text)
}

/// The JSON object in a model's answer: the whole text, or a fenced block, or the outermost
/// braces; `<think>` sections are ignored.
fn json_in(answer: &str) -> Option<Value> {
    let mut text = answer.to_owned();
    while let (Some(start), Some(end)) = (text.find("<think>"), text.find("</think>")) {
        if end < start {
            break;
        }
        text.replace_range(start..end + "</think>".len(), "");
    }
    let text = text.trim();
    if let Ok(value) = serde_json::from_str(text) {
        return Some(value);
    }
    let (start, end) = (text.find('{')?, text.rfind('}')?);
    serde_json::from_str(text.get(start..=end)?).ok()
}

/// `{"facts": [{"text", "is_key"}]}` (plain strings accepted too).
pub(crate) fn parse_facts(answer: &str) -> Option<Vec<Fact>> {
    let value = json_in(answer)?;
    let facts = value.get("facts")?.as_array()?;
    Some(
        facts
            .iter()
            .filter_map(|f| match f {
                Value::String(text) => Some(Fact {
                    text: text.trim().to_owned(),
                    is_key: false,
                }),
                Value::Object(_) => Some(Fact {
                    text: f.get("text")?.as_str()?.trim().to_owned(),
                    is_key: f.get("is_key").and_then(Value::as_bool).unwrap_or(false),
                }),
                _ => None,
            })
            .filter(|f| !f.text.is_empty())
            .collect(),
    )
}

/// `{"memory": [{"id", "text", "event", "is_key"}]}`.
pub(crate) fn parse_decisions(answer: &str) -> Option<Vec<Decision>> {
    let value = json_in(answer)?;
    let entries = value.get("memory")?.as_array()?;
    Some(
        entries
            .iter()
            .filter_map(|entry| {
                let id = match entry.get("id") {
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(Value::Number(n)) => Some(n.to_string()),
                    _ => None,
                };
                Some(Decision {
                    id,
                    text: entry
                        .get("text")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    event: entry.get("event")?.as_str()?.trim().to_uppercase(),
                    is_key: entry.get("is_key").and_then(Value::as_bool),
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_parse_from_plain_fenced_and_thinking_answers() {
        let plain =
            r#"{"facts": [{"text": "Has a dog named Biscuit", "is_key": false}, "Lives in Lyon"]}"#;
        assert_eq!(parse_facts(plain).unwrap().len(), 2);
        let fenced = "<think>hmm {not json}</think>Here:\n```json\n{\"facts\": [{\"text\": \"Is a nurse\", \"is_key\": true}]}\n```";
        assert_eq!(
            parse_facts(fenced).unwrap(),
            vec![Fact {
                text: "Is a nurse".into(),
                is_key: true
            }]
        );
        assert_eq!(parse_facts("{\"facts\": []}").unwrap(), vec![]);
        assert_eq!(parse_facts("I could not find anything."), None);
    }

    #[test]
    fn decisions_accept_numeric_ids_and_any_case() {
        let answer = r#"{"memory": [{"id": 0, "text": "Loves cricket", "event": "update"}, {"id": "9", "text": "x", "event": "ADD", "is_key": true}]}"#;
        let decisions = parse_decisions(answer).unwrap();
        assert_eq!(decisions[0].id.as_deref(), Some("0"));
        assert_eq!(decisions[0].event, "UPDATE");
        assert_eq!(decisions[1].is_key, Some(true));
        assert_eq!(parse_decisions("{\"memories\": []}"), None);
    }
}
