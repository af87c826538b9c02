//! Retrying transient failures: exponential backoff with jitter, `Retry-After` honoured, and
//! never a retry once any reply text has been delivered.

use std::future::Future;
use std::time::Duration;

use clara_config::model::provider::RetryPolicy;
use clara_core::llm::ProviderError;
use rand::Rng;

/// The longest `Retry-After` clara will wait for; a server asking for more gets an error.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// One failed attempt, with what the retry loop needs to know about it.
#[derive(Debug)]
pub(crate) struct AttemptError {
    pub error: ProviderError,
    /// The server's `Retry-After`, when it sent one.
    pub retry_after: Option<Duration>,
}

impl From<ProviderError> for AttemptError {
    fn from(error: ProviderError) -> Self {
        AttemptError {
            error,
            retry_after: None,
        }
    }
}

/// Runs `attempt` until it succeeds, fails for good, or the retries are used up.
pub(crate) async fn with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    mut attempt: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AttemptError>>,
{
    let mut retries = 0;
    loop {
        let failure = match attempt().await {
            Ok(value) => return Ok(value),
            Err(failure) => failure,
        };
        let error = failure.error;
        let retryable =
            error.kind.is_transient() && !error.partial_output && retries < policy.max_retries;
        let wait = match failure.retry_after {
            Some(wait) if wait > MAX_RETRY_AFTER => return Err(error),
            Some(wait) => wait,
            None => backoff(policy, retries),
        };
        if !retryable {
            return Err(error);
        }
        tracing::warn!(provider = %error.provider, model = %error.model, reason = %error.kind, ?wait, "retrying");
        tokio::time::sleep(wait).await;
        retries += 1;
    }
}

/// Exponential backoff with "equal jitter": half the step fixed, half random, so retries from
/// many turns spread out without ever retrying at once.
pub(crate) fn backoff(policy: &RetryPolicy, retries: u32) -> Duration {
    let step = u64::from(policy.initial_backoff_ms).saturating_mul(1u64 << retries.min(20));
    let capped = step.min(u64::from(policy.max_backoff_ms));
    let half = capped / 2;
    let jitter = if half == 0 {
        0
    } else {
        rand::rng().random_range(0..=half)
    };
    Duration::from_millis(half + jitter)
}

/// `Retry-After` in seconds (`1`, `0.5`) or as an HTTP date.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_jittered_and_capped() {
        let policy = RetryPolicy {
            max_retries: 5,
            initial_backoff_ms: 100,
            max_backoff_ms: 1000,
        };
        for _ in 0..50 {
            let first = backoff(&policy, 0).as_millis();
            assert!((50..=100).contains(&first), "{first}");
            let third = backoff(&policy, 2).as_millis();
            assert!((200..=400).contains(&third), "{third}");
            let late = backoff(&policy, 30).as_millis();
            assert!((500..=1000).contains(&late), "{late}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after(" 0.25 "),
            Some(Duration::from_millis(250))
        );
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("soon"), None);
        let past = httpdate::fmt_http_date(std::time::SystemTime::now() - Duration::from_secs(60));
        assert_eq!(parse_retry_after(&past), Some(Duration::ZERO));
        let future =
            httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(30));
        assert!(parse_retry_after(&future).unwrap() > Duration::from_secs(25));
    }
}
