//! `http` tools: one HTTP call per tool call. The URL, headers and query are tera templates
//! over `args` (the call's arguments) and `env` (only the host variables the manifest's
//! `secrets_env` names); every value printed into the URL is encoded as one path segment or
//! query value, so arguments cannot steer the request off its declared endpoint. The
//! arguments the URL and query do not use go as a JSON body (the engine has already dropped
//! any the manifest does not declare), or a file of the user's folder goes as the body, alone
//! or after them (`multipart/related`). A non-2xx answer is reported to the model as what it
//! is, and no secret ever appears in a result or an error.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use clara_config::Env;
use clara_config::model::tool::{BodyMode, HttpMethod};
use clara_core::engine::{SentFile, Tool, ToolContext, ToolError, ToolPolicy};
use clara_core::llm::{BoxFuture, ToolSpec};
use regex::Regex;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::Value;

use super::files::FileStore;
use crate::connections::{ConnectError, Connector};
use crate::errors::error_chain;

/// Most characters of an error response quoted back to the model.
const ERROR_BODY_CHARS: usize = 1_000;

/// The argument naming the file a `file` or `related` body carries.
const FILE_ARGUMENT: &str = "filename";

/// A `multipart/related` body: `metadata` as JSON, then `file` (Google's upload with
/// metadata). Returns its content type and bytes.
fn related(metadata: &Value, file: &SentFile) -> (String, Vec<u8>) {
    let boundary = format!("clara-{:032x}", rand::random::<u128>());
    let mut body = Vec::with_capacity(file.bytes.len() + 512);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\ncontent-type: application/json; charset=UTF-8\r\n\r\n{metadata}\r\n\
             --{boundary}\r\ncontent-type: {}\r\n\r\n",
            file.media_type
        )
        .as_bytes(),
    );
    body.extend_from_slice(&file.bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/related; boundary={boundary}"), body)
}

/// How a tool calls as its user: the connection whose token it sends, and the operator's
/// token for users who have not connected.
pub struct UserAuth {
    /// The configuration's connections.
    pub connector: Arc<Connector>,
    /// The connection's name.
    pub connection: String,
    /// The value of the manifest's `fallback_env`, when set.
    pub fallback: Option<String>,
}

/// A tool that calls an HTTP endpoint.
pub struct HttpTool {
    spec: ToolSpec,
    policy: ToolPolicy,
    client: reqwest::Client,
    method: reqwest::Method,
    /// The URL, every value in it encoded (see [`clara_config::template::url_engine`]).
    url_template: tera::Tera,
    /// Headers and query values.
    templates: tera::Tera,
    headers: Vec<String>,
    query: Vec<String>,
    /// Arguments the URL or query templates refer to; the rest make the body.
    templated_args: BTreeSet<String>,
    body: BodyMode,
    extract: Option<String>,
    env: BTreeMap<String, String>,
    /// The connection whose user token each call sends.
    auth: Option<UserAuth>,
    /// The users' folders, for a body that carries a file.
    files: Option<FileStore>,
    timeout: Duration,
    max_output_bytes: usize,
}

/// One call's arguments, and the file its body carries.
struct Call<'a> {
    arguments: &'a Value,
    file: Option<SentFile>,
}

/// What an [`HttpTool`] is built from.
pub struct HttpSpec<'a> {
    /// Name, description and parameters for the model.
    pub spec: ToolSpec,
    /// Who may use it, and its label.
    pub policy: ToolPolicy,
    /// The client (shared by every HTTP tool).
    pub client: reqwest::Client,
    /// The method.
    pub method: HttpMethod,
    /// URL template.
    pub url: &'a str,
    /// Header templates by name.
    pub headers: &'a BTreeMap<String, String>,
    /// Query parameter templates by name.
    pub query: &'a BTreeMap<String, String>,
    /// Whether unused arguments go as a JSON body.
    pub body: BodyMode,
    /// A JSON pointer picking the part of the response the model sees.
    pub extract: Option<&'a str>,
    /// Host variables the templates may use, by name.
    pub secrets_env: &'a [String],
    /// The host environment they come from.
    pub host: &'a Env,
    /// Call as the user.
    pub auth: Option<UserAuth>,
    /// The users' folders, when the body carries a file (`body = "file"` or `"related"`).
    pub files: Option<FileStore>,
    /// Longest a call may take.
    pub timeout: Duration,
    /// Most bytes of the response kept.
    pub max_output_bytes: usize,
}

impl HttpTool {
    /// Compiles the templates once.
    pub fn new(from: HttpSpec<'_>) -> Result<HttpTool, String> {
        let mut url_template = clara_config::template::url_engine();
        url_template
            .add_raw_template("url", from.url)
            .map_err(|e| format!("tool `{}`: {e}", from.spec.name))?;
        let mut templates = clara_config::template::engine();
        let mut sources = Vec::new();
        sources.extend(
            from.headers
                .iter()
                .map(|(name, value)| (format!("header/{name}"), value.clone())),
        );
        sources.extend(
            from.query
                .iter()
                .map(|(name, value)| (format!("query/{name}"), value.clone())),
        );
        templates
            .add_raw_templates(sources)
            .map_err(|e| format!("tool `{}`: {e}", from.spec.name))?;
        let mentions = Regex::new(r"args\.([A-Za-z_][A-Za-z0-9_]*)").expect("valid pattern");
        let templated_args = std::iter::once(from.url)
            .chain(from.query.values().map(String::as_str))
            .flat_map(|text| mentions.captures_iter(text).map(|c| c[1].to_owned()))
            .collect();
        let env = from
            .secrets_env
            .iter()
            .filter_map(|name| Some((name.clone(), from.host.get(name)?.to_owned())))
            .collect();
        Ok(HttpTool {
            spec: from.spec,
            policy: from.policy,
            client: from.client,
            method: match from.method {
                HttpMethod::Get => reqwest::Method::GET,
                HttpMethod::Post => reqwest::Method::POST,
                HttpMethod::Put => reqwest::Method::PUT,
                HttpMethod::Patch => reqwest::Method::PATCH,
                HttpMethod::Delete => reqwest::Method::DELETE,
            },
            url_template,
            templates,
            headers: from.headers.keys().cloned().collect(),
            query: from.query.keys().cloned().collect(),
            templated_args,
            body: from.body,
            extract: from.extract.map(str::to_owned),
            env,
            auth: from.auth,
            files: from.files,
            timeout: from.timeout,
            max_output_bytes: from.max_output_bytes,
        })
    }

    /// Replaces every secret value in `text` with `***`.
    fn redact(&self, text: &str) -> String {
        self.env
            .values()
            .filter(|secret| !secret.is_empty())
            .fold(text.to_owned(), |text, secret| text.replace(secret, "***"))
    }

    fn render(&self, name: &str, vars: &tera::Context) -> Result<String, ToolError> {
        self.templates.render(name, vars).map_err(|e| {
            ToolError(self.redact(&format!("cannot build the request: {}", error_chain(&e))))
        })
    }

    fn request(&self, call: &Call<'_>) -> Result<reqwest::RequestBuilder, ToolError> {
        let arguments = call.arguments;
        let mut vars = tera::Context::new();
        vars.insert("args", arguments);
        vars.insert("env", &self.env);
        let url = self.url_template.render("url", &vars).map_err(|e| {
            ToolError(self.redact(&format!("cannot build the request: {}", error_chain(&e))))
        })?;
        if clara_config::template::has_dot_segment(&url) {
            return Err(ToolError(
                "an argument would turn the URL's path into `.` or `..`, leaving the declared endpoint; nothing was sent".to_owned(),
            ));
        }
        let mut url = reqwest::Url::parse(url.trim()).map_err(|e| {
            ToolError(self.redact(&format!("`{}` is not a valid URL: {e}", url.trim())))
        })?;
        for name in &self.query {
            let value = self.render(&format!("query/{name}"), &vars)?;
            if !value.trim().is_empty() {
                url.query_pairs_mut().append_pair(name, value.trim());
            }
        }
        let mut request = self.client.request(self.method.clone(), url);
        for name in &self.headers {
            let value = self.render(&format!("header/{name}"), &vars)?;
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| ToolError(format!("`{name}` is not a valid header name")))?;
            let mut value = HeaderValue::from_str(value.trim())
                .map_err(|_| ToolError(format!("the value of header `{name}` is not valid")))?;
            value.set_sensitive(true);
            request = request.header(name, value);
        }
        let sends_body = !matches!(self.method, reqwest::Method::GET | reqwest::Method::DELETE);
        let fields = || {
            let mut fields = arguments.as_object().cloned().unwrap_or_default();
            fields.retain(|name, _| !self.templated_args.contains(name));
            fields
        };
        request = match (self.body, &call.file) {
            (BodyMode::Json, _) if sends_body => request.json(&fields()),
            (BodyMode::File, Some(file)) => request
                .header(reqwest::header::CONTENT_TYPE, &file.media_type)
                .body(file.bytes.clone()),
            (BodyMode::Related, Some(file)) => {
                let mut metadata = fields();
                metadata.remove(FILE_ARGUMENT);
                let (content_type, body) = related(&Value::Object(metadata), file);
                request
                    .header(reqwest::header::CONTENT_TYPE, content_type)
                    .body(body)
            }
            _ => request,
        };
        Ok(request.timeout(self.timeout))
    }

    /// Makes the call for these arguments, as `context`'s user when the tool has a
    /// connection: with their token, renewed and sent once more if the API refuses it.
    pub async fn run(
        &self,
        arguments: &Value,
        context: &ToolContext<'_>,
    ) -> Result<String, ToolError> {
        let call = &Call {
            arguments,
            file: self.attached(arguments, context.user_id).await?,
        };
        let Some(auth) = &self.auth else {
            return self
                .call_once(call, None)
                .await
                .map_err(Refused::into_error);
        };
        let (connector, connection) = (&auth.connector, auth.connection.as_str());
        let token = |stale| async move {
            connector
                .access_token(
                    context.store,
                    context.user_id,
                    connection,
                    context.clock.now(),
                    stale,
                )
                .await
        };
        // Someone who has not connected (or everyone, while the connection is not set up)
        // calls with the operator's token when the manifest names one.
        let first = match (token(false).await, auth.fallback.as_deref()) {
            (Ok(first), _) => first,
            (
                Err(ConnectError::NotConnected { .. } | ConnectError::NotSetUp { .. }),
                Some(shared),
            ) => return self.call_shared(call, shared).await,
            (Err(error), _) => return Err(ToolError(error.to_string())),
        };
        match self.call_once(call, Some(&first)).await {
            Err(Refused::Unauthorized) => {
                let renewed = token(true).await.map_err(|e| ToolError(e.to_string()))?;
                match self.call_once(call, Some(&renewed)).await {
                    Err(Refused::Unauthorized) => Err(ToolError(format!(
                        "{} refused the user's access (HTTP 401) even after renewing it; they may need to connect again",
                        connector.title(connection)
                    ))),
                    other => other.map_err(Refused::into_error),
                }
            }
            other => other.map_err(Refused::into_error),
        }
    }

    /// A call with the operator's token, for a user who has not connected their own account.
    async fn call_shared(&self, call: &Call<'_>, token: &str) -> Result<String, ToolError> {
        self.call_once(call, Some(token))
            .await
            .map_err(Refused::into_error)
    }

    /// The file the body carries, read from `user_id`'s folder, when it carries one.
    async fn attached(
        &self,
        arguments: &Value,
        user_id: &str,
    ) -> Result<Option<SentFile>, ToolError> {
        let Some(files) = self.files.clone().filter(|_| self.body.sends_file()) else {
            return Ok(None);
        };
        let name = arguments
            .get(FILE_ARGUMENT)
            .and_then(Value::as_str)
            .ok_or_else(|| ToolError(format!("missing argument `{FILE_ARGUMENT}`")))?
            .to_owned();
        let user = user_id.to_owned();
        tokio::task::spawn_blocking(move || files.read(&user, &name))
            .await
            .map_err(|e| ToolError(format!("reading the file failed: {e}")))?
            .map(Some)
    }

    /// One request, with `token` as its bearer when given.
    async fn call_once(&self, call: &Call<'_>, token: Option<&str>) -> Result<String, Refused> {
        let mut request = self.request(call)?;
        if let Some(token) = token {
            let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                ToolError("the saved access token is not a valid header".to_owned())
            })?;
            value.set_sensitive(true);
            request = request.header(reqwest::header::AUTHORIZATION, value);
        }
        let redact = |text: String| match token {
            Some(token) if !token.is_empty() => self.redact(&text).replace(token, "***"),
            _ => self.redact(&text),
        };
        let response = request
            .send()
            .await
            .map_err(|e| ToolError(redact(format!("the request failed: {e}"))))?;
        let status = response.status();
        if token.is_some() && status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(Refused::Unauthorized);
        }
        let (bytes, cut) = self.read_capped(response).await?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if !status.is_success() {
            let excerpt: String = text.trim().chars().take(ERROR_BODY_CHARS).collect();
            return Err(ToolError(redact(format!(
                "HTTP {status}{}{excerpt}",
                if excerpt.is_empty() { "" } else { ": " }
            )))
            .into());
        }
        let result = match (&self.extract, cut) {
            (Some(pointer), false) => {
                let json: Value = serde_json::from_str(&text).map_err(|_| {
                    ToolError(format!(
                        "the response is not JSON, so `{pointer}` cannot be taken from it"
                    ))
                })?;
                match json.pointer(pointer) {
                    Some(Value::String(text)) => text.clone(),
                    Some(value) => value.to_string(),
                    // APIs leave an empty list out (Gmail's `messages`, a Sheets range's
                    // `values`): nothing there is an answer, not a failure.
                    None => format!("nothing found (the response has no `{pointer}`)"),
                }
            }
            (_, true) => format!("{text}\n[response cut at {} bytes]", self.max_output_bytes),
            (None, false) => text,
        };
        Ok(redact(result))
    }

    async fn read_capped(
        &self,
        mut response: reqwest::Response,
    ) -> Result<(Vec<u8>, bool), ToolError> {
        let mut kept = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| ToolError(self.redact(&format!("reading the response failed: {e}"))))?
        {
            let room = self.max_output_bytes - kept.len();
            kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if chunk.len() > room {
                return Ok((kept, true));
            }
        }
        Ok((kept, false))
    }
}

impl Tool for HttpTool {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn policy(&self) -> &ToolPolicy {
        &self.policy
    }

    fn call<'a>(
        &'a self,
        arguments: &'a Value,
        context: &'a ToolContext<'a>,
    ) -> BoxFuture<'a, Result<String, ToolError>> {
        Box::pin(self.run(arguments, context))
    }
}

/// Why one request gave no result: an error for the model, or a refused token (renewed and
/// tried once more).
enum Refused {
    Error(ToolError),
    Unauthorized,
}

impl Refused {
    fn into_error(self) -> ToolError {
        match self {
            Refused::Error(error) => error,
            Refused::Unauthorized => ToolError("HTTP 401 Unauthorized".to_owned()),
        }
    }
}

impl From<ToolError> for Refused {
    fn from(error: ToolError) -> Self {
        Refused::Error(error)
    }
}
