//! The shipped Google Workspace tools (`tools.d/google_*.toml`) against a fake Google: the
//! manifests as shipped, only their hosts pointed at the fake, called by the model as a user
//! who connected Google through the real OAuth flow. For Sheets, Drive, Docs, Calendar and
//! Gmail: the method, path and query each call sends, the user's token as its bearer, the JSON
//! body where there is one, and the part of Google's answer the model is given.

use std::path::Path;

use clara_core::engine::Outcome;
use serde_json::{Value, json};

use crate::connections::Running;
use crate::support::fake_llm::{self, RecordedRequest, Reply};
use crate::support::message;

/// The Google hosts the shipped manifests call.
const GOOGLE_HOSTS: [&str; 4] = [
    "https://sheets.googleapis.com",
    "https://www.googleapis.com",
    "https://docs.googleapis.com",
    "https://gmail.googleapis.com",
];

/// The token the fake Google hands ann when she connects.
const TOKEN: &str = "ya29.pack";

/// Points every shipped `tools.d/google_*.toml` at `fake` instead of Google, changing nothing
/// else in them.
fn point_at_fake_google(root: &Path, fake: &str) {
    let mut pointed = 0;
    for entry in std::fs::read_dir(root.join("tools.d")).expect("tools.d is readable") {
        let path = entry.expect("a directory entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if !(name.starts_with("google_") && name.ends_with(".toml")) {
            continue;
        }
        let shipped = std::fs::read_to_string(&path).expect("the manifest is readable");
        let faked = GOOGLE_HOSTS
            .iter()
            .fold(shipped.clone(), |text, host| text.replace(host, fake));
        assert_ne!(faked, shipped, "{name} calls none of Google's hosts");
        assert!(
            faked.contains(r#"auth = { connection = "google" }"#),
            "{name} calls as the user"
        );
        std::fs::write(&path, faked).expect("the manifest is written");
        pointed += 1;
    }
    assert!(
        pointed >= 5,
        "only {pointed} google_*.toml manifests shipped"
    );
}

/// A request's path without its query, and its query as decoded pairs in order.
fn target(request: &RecordedRequest) -> (&str, Vec<(String, String)>) {
    let (path, query) = request
        .path
        .split_once('?')
        .unwrap_or((request.path.as_str(), ""));
    let pairs = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    (path, pairs)
}

/// `(key, value)` pairs as owned strings, to compare with [`target`]'s.
fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Ann has the model call `tool` with `arguments` while Google answers `answer` (200, JSON).
/// Returns the tool's result and the one request Google got, checked to carry ann's token.
async fn call(
    running: &Running,
    tool: &str,
    arguments: &str,
    answer: &str,
) -> (String, RecordedRequest) {
    running.google.push(Reply::json(200, answer));
    let result = running.call("ann", tool, arguments).await;
    let mut seen = running.google.take_requests();
    assert_eq!(
        seen.len(),
        1,
        "{tool} makes one request: {seen:?} ({result})"
    );
    let request = seen.remove(0);
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str()),
        "{tool} calls as ann"
    );
    (result, request)
}

/// Parses a tool result that should be JSON.
fn json_of(result: &str) -> Value {
    serde_json::from_str(result).unwrap_or_else(|e| panic!("not JSON ({e}): {result}"))
}

/// Starts clara on the shipped root, Google faked, with ann connected.
async fn ann_connected() -> Running {
    let running = Running::start_with(point_at_fake_google).await;
    running.connect_google("ann", TOKEN).await;
    running
}

#[tokio::test(flavor = "multi_thread")]
async fn ann_asks_for_her_calendar_and_gets_it() {
    let running = ann_connected().await;
    running.google.push(Reply::json(
        200,
        r#"{"items":[
            {"id":"ev1","summary":"Dentist","location":"12 High Street",
             "start":{"dateTime":"2025-03-14T09:00:00+01:00"},"end":{"dateTime":"2025-03-14T09:30:00+01:00"}},
            {"id":"ev2","summary":"Lunch with Bob",
             "start":{"dateTime":"2025-03-14T12:30:00+01:00"},"end":{"dateTime":"2025-03-14T13:30:00+01:00"}}
        ],"nextPageToken":"not for the model"}"#,
    ));
    let arguments =
        r#"{"timeMin":"2025-03-14T00:00:00+01:00","timeMax":"2025-03-15T00:00:00+01:00"}"#;
    running.model.push(fake_llm::openai_tool_stream(
        &[("c1", "google_calendar_list_events", arguments)],
        50,
    ));
    running.model.push(fake_llm::openai_stream(&[
        "The dentist at 9:00, then lunch with Bob at 12:30.",
    ]));
    let outcome = running
        .app
        .live
        .current()
        .handle_message(
            message("ann", "What's on my calendar on Friday the 14th?"),
            &|_| {},
        )
        .await
        .expect("the turn is answered");
    let Outcome::Replied { reply, .. } = outcome else {
        panic!("no reply: {outcome:?}");
    };
    assert_eq!(reply, "The dentist at 9:00, then lunch with Bob at 12:30.");

    // Google was asked for that day of ann's primary calendar, recurring events expanded.
    let mut seen = running.google.take_requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let request = seen.remove(0);
    assert_eq!(request.method, "GET");
    assert_eq!(request.header("authorization"), Some("Bearer ya29.pack"));
    assert_eq!(request.raw_body, "", "a GET has no body");
    let (path, query) = target(&request);
    assert_eq!(path, "/calendar/v3/calendars/primary/events");
    assert_eq!(
        query,
        pairs(&[
            (
                "fields",
                "items(id,summary,description,location,start,end,status,htmlLink,attendees(email,responseStatus),organizer/email)"
            ),
            ("maxResults", "50"),
            ("orderBy", "startTime"),
            ("singleEvents", "true"),
            ("timeMax", "2025-03-15T00:00:00+01:00"),
            ("timeMin", "2025-03-14T00:00:00+01:00"),
        ])
    );

    // The model was given the events, and only them.
    let asked = running.model.requests();
    let last = asked.last().expect("the model was asked again");
    let messages = last.body["messages"].as_array().expect("messages");
    let result = messages
        .iter()
        .rev()
        .find(|m| m["role"] == "tool")
        .and_then(|m| m["content"].as_str())
        .expect("the tool's result");
    let events = json_of(result);
    assert_eq!(events[0]["summary"], "Dentist");
    assert_eq!(events[1]["summary"], "Lunch with Bob");
    assert!(!result.contains("nextPageToken"), "{result}");
    assert!(
        !last.raw_body.contains(TOKEN),
        "the token never reaches the model"
    );

    // Another calendar, by ID: one path segment, encoded.
    let (result, request) = call(
        &running,
        "google_calendar_list_events",
        r#"{"calendar_id":"team@group.calendar.google.com","timeMin":"2025-03-14T00:00:00Z","q":"standup"}"#,
        r#"{"items":[{"id":"ev3","summary":"Standup"}]}"#,
    )
    .await;
    assert_eq!(
        json_of(&result),
        json!([{"id": "ev3", "summary": "Standup"}])
    );
    let (path, query) = target(&request);
    assert_eq!(
        path,
        "/calendar/v3/calendars/team%40group.calendar.google.com/events"
    );
    assert!(
        query.contains(&("q".to_owned(), "standup".to_owned())),
        "{query:?}"
    );
    assert!(
        !query.iter().any(|(k, _)| k == "timeMax"),
        "empty values are left out"
    );

    // Adding an event: the arguments the URL and query do not use are the event.
    let (result, request) = call(
        &running,
        "google_calendar_create_event",
        r#"{"summary":"Dentist","start":{"dateTime":"2025-03-21T09:00:00+01:00"},
            "end":{"dateTime":"2025-03-21T09:30:00+01:00"},"location":"12 High Street",
            "attendees":[{"email":"bob@example.com"}],"send_updates":"all"}"#,
        r#"{"id":"ev9","summary":"Dentist","htmlLink":"https://calendar.google.com/event?eid=ev9"}"#,
    )
    .await;
    assert!(result.contains("ev9"), "{result}");
    assert_eq!(request.method, "POST");
    let (path, query) = target(&request);
    assert_eq!(path, "/calendar/v3/calendars/primary/events");
    assert_eq!(
        query,
        pairs(&[
            ("fields", "id,summary,start,end,htmlLink"),
            ("sendUpdates", "all"),
        ])
    );
    assert_eq!(
        request.body,
        json!({
            "summary": "Dentist",
            "start": {"dateTime": "2025-03-21T09:00:00+01:00"},
            "end": {"dateTime": "2025-03-21T09:30:00+01:00"},
            "location": "12 High Street",
            "attendees": [{"email": "bob@example.com"}],
        })
    );
    running.app.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sheets_create_append_and_read() {
    let running = ann_connected().await;

    let (result, request) = call(
        &running,
        "google_sheets_create",
        r#"{"properties":{"title":"Budget 2025"}}"#,
        r#"{"spreadsheetId":"s1","spreadsheetUrl":"https://docs.google.com/spreadsheets/d/s1/edit","properties":{"title":"Budget 2025"}}"#,
    )
    .await;
    assert_eq!(json_of(&result)["spreadsheetId"], "s1");
    assert_eq!(request.method, "POST");
    let (path, query) = target(&request);
    assert_eq!(path, "/v4/spreadsheets");
    assert_eq!(
        query,
        pairs(&[("fields", "spreadsheetId,spreadsheetUrl,properties/title")])
    );
    assert_eq!(
        request.body,
        json!({"properties": {"title": "Budget 2025"}})
    );

    // The range is one encoded segment, `:append` after it.
    let (result, request) = call(
        &running,
        "google_sheets_append",
        r#"{"spreadsheet_id":"s1","range":"Sheet1!A:C","values":[["2025-03-14","Coffee","3.50"]]}"#,
        r#"{"spreadsheetId":"s1","tableRange":"Sheet1!A1:C4","updates":{"updatedRange":"Sheet1!A5:C5","updatedRows":1}}"#,
    )
    .await;
    assert!(result.contains("Sheet1!A5:C5"), "{result}");
    assert_eq!(request.method, "POST");
    let (path, query) = target(&request);
    assert_eq!(path, "/v4/spreadsheets/s1/values/Sheet1%21A%3AC:append");
    assert_eq!(query, pairs(&[("valueInputOption", "USER_ENTERED")]));
    assert_eq!(
        request.body,
        json!({"values": [["2025-03-14", "Coffee", "3.50"]]})
    );

    let (result, request) = call(
        &running,
        "google_sheets_read",
        r#"{"spreadsheet_id":"s1","range":"Sheet1!A1:B2"}"#,
        r#"{"range":"Sheet1!A1:B2","majorDimension":"ROWS","values":[["Date","Item"],["2025-03-14","Coffee"]]}"#,
    )
    .await;
    assert_eq!(
        json_of(&result),
        json!([["Date", "Item"], ["2025-03-14", "Coffee"]])
    );
    assert_eq!(request.method, "GET");
    assert_eq!(request.path, "/v4/spreadsheets/s1/values/Sheet1%21A1%3AB2");
    assert_eq!(request.raw_body, "");
    running.app.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn drive_lists_creates_a_folder_and_uploads_a_users_file() {
    let running = ann_connected().await;

    let (result, request) = call(
        &running,
        "google_drive_list",
        r#"{"q":"name contains 'report' and trashed = false","pageSize":10}"#,
        r#"{"files":[{"id":"f1","name":"Q1 report","mimeType":"application/pdf"}],"nextPageToken":"t"}"#,
    )
    .await;
    assert_eq!(
        json_of(&result),
        json!([{"id": "f1", "name": "Q1 report", "mimeType": "application/pdf"}])
    );
    assert_eq!(request.method, "GET");
    let (path, query) = target(&request);
    assert_eq!(path, "/drive/v3/files");
    assert_eq!(
        query,
        pairs(&[
            (
                "fields",
                "files(id,name,mimeType,modifiedTime,size,parents,webViewLink)"
            ),
            ("orderBy", "modifiedTime desc"),
            ("pageSize", "10"),
            ("q", "name contains 'report' and trashed = false"),
        ])
    );

    let (result, request) = call(
        &running,
        "google_drive_create_folder",
        r#"{"name":"Trips","mimeType":"application/vnd.google-apps.folder","parents":["root-1"]}"#,
        r#"{"id":"d9","name":"Trips","webViewLink":"https://drive.google.com/drive/folders/d9"}"#,
    )
    .await;
    assert_eq!(json_of(&result)["id"], "d9");
    assert_eq!(request.method, "POST");
    let (path, query) = target(&request);
    assert_eq!(path, "/drive/v3/files");
    assert_eq!(query, pairs(&[("fields", "id,name,webViewLink")]));
    assert_eq!(
        request.body,
        json!({"name": "Trips", "mimeType": "application/vnd.google-apps.folder", "parents": ["root-1"]})
    );

    // A file of ann's own folder goes up with its metadata, in one multipart/related body.
    let folder = running.root().join("clara_files/ann");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("report.csv"), "q,total\n1,42\n").unwrap();
    let (result, request) = call(
        &running,
        "google_drive_upload",
        r#"{"filename":"report.csv","name":"Q1 report.csv","parents":["d9"]}"#,
        r#"{"id":"f7","name":"Q1 report.csv","webViewLink":"https://drive.google.com/file/d/f7"}"#,
    )
    .await;
    assert_eq!(json_of(&result)["id"], "f7");
    assert_eq!(request.method, "POST");
    let (path, query) = target(&request);
    assert_eq!(path, "/upload/drive/v3/files");
    assert_eq!(
        query,
        pairs(&[
            ("fields", "id,name,mimeType,size,webViewLink"),
            ("uploadType", "multipart"),
        ])
    );
    let content_type = request.header("content-type").unwrap();
    let boundary = content_type
        .strip_prefix("multipart/related; boundary=")
        .unwrap_or_else(|| panic!("{content_type}"));
    assert_eq!(
        request.raw_body,
        format!(
            "--{boundary}\r\ncontent-type: application/json; charset=UTF-8\r\n\r\n\
             {{\"name\":\"Q1 report.csv\",\"parents\":[\"d9\"]}}\r\n\
             --{boundary}\r\ncontent-type: text/csv\r\n\r\nq,total\n1,42\n\r\n--{boundary}--\r\n"
        )
    );

    // A file ann does not have: said so, and Google is not called.
    let missing = running
        .call(
            "ann",
            "google_drive_upload",
            r#"{"filename":"gone.pdf","name":"gone.pdf"}"#,
        )
        .await;
    assert!(missing.contains("there is no file `gone.pdf`"), "{missing}");
    assert_eq!(running.google.request_count(), 0);
    running.app.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn docs_append_and_read() {
    let running = ann_connected().await;

    let (result, request) = call(
        &running,
        "google_docs_append",
        r#"{"document_id":"doc-1","requests":[{"insertText":{"text":"\nSee you Friday.","endOfSegmentLocation":{}}}]}"#,
        r#"{"documentId":"doc-1","replies":[{}]}"#,
    )
    .await;
    assert!(result.contains("doc-1"), "{result}");
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/documents/doc-1:batchUpdate");
    assert_eq!(
        request.body,
        json!({"requests": [{"insertText": {"text": "\nSee you Friday.", "endOfSegmentLocation": {}}}]})
    );

    let (result, request) = call(
        &running,
        "google_docs_read",
        r#"{"document_id":"doc-1"}"#,
        r#"{"body":{"content":[{},{"paragraph":{"elements":[{"textRun":{"content":"Hello.\n"}}]}}]}}"#,
    )
    .await;
    assert_eq!(
        json_of(&result),
        json!([{}, {"paragraph": {"elements": [{"textRun": {"content": "Hello.\n"}}]}}])
    );
    assert_eq!(request.method, "GET");
    let (path, query) = target(&request);
    assert_eq!(path, "/v1/documents/doc-1");
    assert_eq!(
        query,
        pairs(&[(
            "fields",
            "body/content(paragraph/elements/textRun/content,table)"
        )])
    );
    running.app.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn gmail_searches_and_reads() {
    let running = ann_connected().await;

    let (result, request) = call(
        &running,
        "google_gmail_search",
        r#"{"q":"from:bob@example.com is:unread","maxResults":5}"#,
        r#"{"messages":[{"id":"m1","threadId":"t1"}],"resultSizeEstimate":1}"#,
    )
    .await;
    assert_eq!(json_of(&result), json!([{"id": "m1", "threadId": "t1"}]));
    assert_eq!(request.method, "GET");
    let (path, query) = target(&request);
    assert_eq!(path, "/gmail/v1/users/me/messages");
    assert_eq!(
        query,
        pairs(&[("maxResults", "5"), ("q", "from:bob@example.com is:unread")])
    );

    let (result, request) = call(
        &running,
        "google_gmail_read",
        r#"{"message_id":"m1","format":"metadata"}"#,
        r#"{"id":"m1","snippet":"Lunch on Friday?","payload":{"headers":[{"name":"Subject","value":"Lunch"}]}}"#,
    )
    .await;
    assert!(result.contains("Lunch on Friday?"), "{result}");
    assert_eq!(request.method, "GET");
    assert_eq!(
        request.path,
        "/gmail/v1/users/me/messages/m1?format=metadata"
    );
    running.app.shutdown("test").await;
}
