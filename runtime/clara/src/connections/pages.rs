//! The OAuth pages on the status endpoint: `/oauth/NAME/start/STATE` says whose link it is and
//! leads on to the provider's consent page, `/oauth/NAME/callback` takes the code back and
//! shows the configured page (`[status] connected_page`, `connect_failed_page`). Each request
//! uses the configuration current when it arrives.

use std::sync::Arc;

use clara_config::model::common::fill;

use super::callback_query::callback_code;
use super::connector::Connector;
use crate::live::Live;
use crate::web_page::{Page, PageRequest, PageSource};
use clara_core::llm::BoxFuture;

/// The OAuth pages of a running clara.
pub struct OAuthPages {
    live: Arc<Live>,
}

impl PageSource for OAuthPages {
    fn prefix(&self) -> &'static str {
        "/oauth/"
    }

    fn page<'a>(&'a self, request: PageRequest<'a>) -> BoxFuture<'a, Option<Page>> {
        Box::pin(async move {
            if request.method != "GET" {
                return None;
            }
            self.page(request.path, request.query).await
        })
    }
}

impl OAuthPages {
    /// The pages for `live`.
    pub fn new(live: Arc<Live>) -> OAuthPages {
        OAuthPages { live }
    }

    /// The page for `path` (with its `query`), or `None` when it is not an OAuth path.
    pub async fn page(&self, path: &str, query: Option<&str>) -> Option<Page> {
        let rest = path.strip_prefix("/oauth/")?;
        let (name, action) = rest.split_once('/')?;
        let generation = self.live.current();
        let connector = Connector::new(&generation.config, self.live.http_client().clone());
        let status = &generation.config.clara.value.status;
        let title = connector.title(name).to_owned();
        let failed = |reason: &str| {
            let text = fill(
                &status.connect_failed_page,
                &[("title", &title), ("reason", reason)],
            );
            Page::text(400, &text)
        };
        let now = generation.services.clock.now();
        if let Some(state) = action.strip_prefix("start/") {
            // A link shown in a shared channel can be opened by anyone there: the page says
            // what continuing does before anyone reaches the consent page.
            return Some(match connector.authorize_url(name, state, now) {
                Ok(url) => {
                    let text = fill(&status.connect_confirm_page, &[("title", &title)]);
                    let button = fill(&status.connect_confirm_button, &[("title", &title)]);
                    Page::link(&text, &button, &url)
                }
                Err(error) => failed(&error.to_string()),
            });
        }
        if action != "callback" {
            return None;
        }
        let (code, state) = match callback_code(query) {
            Ok(found) => found,
            Err(reason) => {
                tracing::info!(connection = name, reason, "a connection was not made");
                return Some(failed(&reason));
            }
        };
        let store = generation.services.store.as_ref();
        Some(
            match connector.finish(store, name, &code, &state, now).await {
                Ok(title) => Page::text(200, &fill(&status.connected_page, &[("title", &title)])),
                Err(error) => {
                    tracing::warn!(connection = name, %error, "a connection could not be made");
                    failed(&error.to_string())
                }
            },
        )
    }
}
