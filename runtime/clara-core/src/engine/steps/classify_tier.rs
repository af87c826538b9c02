//! `classify_tier`: a message prefix picks the tier (and is removed from the text, by `ingest`
//! before the message is stored, so history shows it as the model saw it); otherwise an
//! optional classifier call on the low tier, falling back on any failure.

use clara_config::model::common::Tier;
use clara_config::model::steps::ClassifyTierStep;

use super::site::Site;
use crate::engine::EngineError;
use crate::engine::run::Run;
use crate::engine::template::Template;
use crate::engine::turn::Turn;
use crate::llm::{ChatRequest, Message};

/// The built `classify_tier` step.
pub(crate) struct ClassifyTier {
    options: ClassifyTierStep,
    prompt: Template,
    /// The pipeline's own provider, when its `llm_call` names one.
    provider: Option<String>,
}

impl ClassifyTier {
    pub(crate) fn build(
        options: &ClassifyTierStep,
        site: &Site<'_>,
    ) -> Result<ClassifyTier, EngineError> {
        Ok(ClassifyTier {
            options: options.clone(),
            prompt: site.template("classifier_prompt", &options.classifier_prompt)?,
            provider: site.llm_call().and_then(|call| call.provider.clone()),
        })
    }

    pub(crate) async fn run(&self, run: &Run<'_>, turn: &mut Turn) -> Result<(), EngineError> {
        let options = &self.options;
        if turn.tier.is_some() {
            // `ingest` already took the tier from the message's prefix.
            return Ok(());
        }
        if let Some((tier, rest)) = prefixed_tier(&turn.text, options) {
            turn.tier = Some(tier);
            if options.strip_prefix {
                turn.text = rest;
            }
            return Ok(());
        }
        turn.tier = if options.classifier {
            Some(self.classify(run, turn).await.unwrap_or_else(|error| {
                tracing::warn!(%error, "tier classifier failed; using the fallback tier");
                options.fallback_tier
            }))
        } else {
            run.persona.default_tier
        };
        Ok(())
    }

    async fn classify(&self, run: &Run<'_>, turn: &Turn) -> Result<Tier, EngineError> {
        let options = &self.options;
        let services = run.services;
        let mut earlier = match turn.session.as_ref() {
            Some(s) => {
                services
                    .store
                    .recent_messages(&s.id, options.classifier_context_messages + 1)
                    .await?
            }
            None => Vec::new(),
        };
        earlier.retain(|m| Some(m.id) != turn.user_message_id);
        let context: Vec<serde_json::Value> = earlier
            .iter()
            .map(|m| serde_json::json!({ "role": format!("{:?}", m.role).to_lowercase(), "content": cut(&m.content, options.classifier_context_chars) }))
            .collect();
        let mut vars = tera::Context::new();
        vars.insert(
            "message",
            &cut(&turn.text, options.classifier_message_chars),
        );
        vars.insert("context", &context);
        let prompt = self.prompt.render(&vars)?;
        let request = ChatRequest {
            tier: Some(Tier::Low),
            stream: false,
            max_tokens: Some(CLASSIFIER_MAX_TOKENS),
            ..ChatRequest::new(vec![Message::user(prompt)])
        };
        let meter = turn.meter(run.pipeline, "classifier");
        let response = services
            .chat(self.provider.as_deref(), &request, &|_| {}, meter)
            .await?;
        Ok(read_tier(&response.text).unwrap_or(options.fallback_tier))
    }
}

/// The tier a prefix selects and the text without it. A prefix must stand alone
/// (`!highway` is not `!high`); channel messages may carry a `[Name]: ` label before it.
pub(crate) fn prefixed_tier(text: &str, options: &ClassifyTierStep) -> Option<(Tier, String)> {
    let (label, body) = match text.strip_prefix('[').and_then(|t| t.split_once("]: ")) {
        Some((name, body)) => (format!("[{name}]: "), body),
        None => (String::new(), text),
    };
    let lower = body.to_lowercase();
    let table = [
        (Tier::High, &options.prefixes.high),
        (Tier::Mid, &options.prefixes.mid),
        (Tier::Low, &options.prefixes.low),
    ];
    for (tier, prefixes) in table {
        for prefix in prefixes {
            let prefix = prefix.to_lowercase();
            if let Some(rest) = lower.strip_prefix(&prefix)
                && (rest.is_empty() || rest.starts_with(char::is_whitespace))
            {
                let stripped = body[prefix.len()..].trim_start();
                return Some((tier, format!("{label}{stripped}")));
            }
        }
    }
    None
}

/// The reply limit of a classifier call: one word is all it needs.
const CLASSIFIER_MAX_TOKENS: u32 = 10;

/// Whether `request` is a tier classifier's call, by its shape: the low tier, not streamed, no
/// tools, a one-word reply limit. A replay tells it from the turn's own calls this way, since
/// the store keeps the reply but not the classifier's answer.
pub fn is_classification(request: &ChatRequest) -> bool {
    request.tier == Some(Tier::Low)
        && !request.stream
        && request.tools.is_empty()
        && request.max_tokens == Some(CLASSIFIER_MAX_TOKENS)
}

/// The tier a classifier's answer names; `None` when it names none (the fallback applies).
fn read_tier(answer: &str) -> Option<Tier> {
    let answer = answer.to_uppercase();
    [("HIGH", Tier::High), ("LOW", Tier::Low), ("MID", Tier::Mid)]
        .into_iter()
        .find(|(word, _)| answer.contains(word))
        .map(|(_, tier)| tier)
}

fn cut(text: &str, chars: u32) -> String {
    text.chars().take(chars as usize).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_select_and_are_stripped() {
        let options = ClassifyTierStep::default();
        assert_eq!(
            prefixed_tier("!high explain this", &options),
            Some((Tier::High, "explain this".to_owned()))
        );
        assert_eq!(
            prefixed_tier("!OPUS hi", &options),
            Some((Tier::High, "hi".to_owned()))
        );
        assert_eq!(
            prefixed_tier("!fast", &options),
            Some((Tier::Low, String::new()))
        );
        assert_eq!(
            prefixed_tier("[Ann]: !low ok", &options),
            Some((Tier::Low, "[Ann]: ok".to_owned()))
        );
        assert_eq!(prefixed_tier("!highway to hell", &options), None);
        assert_eq!(prefixed_tier("what is !high", &options), None);
    }

    #[test]
    fn an_answer_naming_no_tier_leaves_it_to_the_fallback() {
        assert_eq!(read_tier("high"), Some(Tier::High));
        assert_eq!(read_tier("It is LOW."), Some(Tier::Low));
        assert_eq!(read_tier("mid"), Some(Tier::Mid));
        assert_eq!(read_tier("I cannot tell"), None);
    }
}
