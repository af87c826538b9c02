//! The console of a clara started in-process on a shipped root, with an HTTP client that does
//! not follow redirects, and the pieces of its pages the tests read (cookie, CSRF token).

use std::time::Duration;

use clara::app::App;
use clara_core::store::NewMemory;

use super::fake_llm::FakeLlm;
use super::{shipped_root, start_run};

/// clara running with its console, and a client for it.
pub struct OnConsole {
    pub app: App,
    pub base: String,
    pub client: reqwest::Client,
    _model: FakeLlm,
    pub root: tempfile::TempDir,
}

pub async fn console(bind: &str, vars: &[(&str, &str)]) -> OnConsole {
    console_in(shipped_root(), bind, vars).await
}

/// The console of clara started on `root`, prepared by the caller.
pub async fn console_in(root: tempfile::TempDir, bind: &str, vars: &[(&str, &str)]) -> OnConsole {
    let model = FakeLlm::start().await;
    let mut all = vec![
        ("CLARA_ADAPTERS__DISCORD__ENABLED", "false"),
        ("CLARA_STATUS__BIND", bind),
    ];
    all.extend_from_slice(vars);
    let app = start_run(root.path(), &model, &all)
        .await
        .expect("clara starts");
    let port = app
        .status
        .as_ref()
        .expect("the status endpoint runs")
        .addr()
        .port();
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    OnConsole {
        app,
        base: format!("http://127.0.0.1:{port}"),
        client,
        _model: model,
        root,
    }
}

impl OnConsole {
    /// A page's HTML, asserting it answers 200.
    pub async fn page(&self, path: &str, cookie: &str) -> String {
        let response = self.get(path, Some(cookie)).await;
        assert_eq!(response.status(), 200, "{path}");
        response.text().await.unwrap()
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send().await.unwrap()
    }

    pub async fn post(
        &self,
        path: &str,
        cookie: Option<&str>,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send().await.unwrap()
    }

    pub async fn remember(&self, user: &str, text: &str) -> String {
        let store = self.app.live.current().services.store.clone();
        let memory = NewMemory {
            user_id: user.to_owned(),
            project: None,
            text: text.to_owned(),
            is_key: false,
            embedding: None,
        };
        store
            .add_memory(memory, 1_764_000_000_000)
            .await
            .unwrap()
            .id
    }
}

/// The session cookie a response sets, as a `Cookie` header value.
pub fn session_cookie(response: &reqwest::Response) -> String {
    let set = response.headers()["set-cookie"].to_str().unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(set.contains(attribute), "{attribute} in {set}");
    }
    set.split(';').next().unwrap().to_owned()
}

pub fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with its CSRF token")
        + 19;
    html[at..at + 64].to_owned()
}
