//! The tool log contract: calls recorded with their outcome and approval, counted for rate
//! limits (only calls that ran), an approval remembered per user and tool, newest first.

use std::sync::Arc;

use clara_core::store::{Stamp, Store, ToolCallRecord};

contract!(tool_calls_are_counted_and_approvals_remembered);

fn call(at: i64, user: &str, tool: &str, outcome: &str) -> ToolCallRecord {
    ToolCallRecord {
        at,
        request_id: format!("msg-{at}"),
        user_id: user.to_owned(),
        conversation: format!("dm-{user}"),
        pipeline: "chat".to_owned(),
        tool: tool.to_owned(),
        outcome: outcome.to_owned(),
        ..ToolCallRecord::default()
    }
}

async fn tool_calls_are_counted_and_approvals_remembered(store: Arc<dyn Store>) {
    let approved = ToolCallRecord {
        approval: Some("first_use".to_owned()),
        decision: Some("approved".to_owned()),
        decided_by: Some("admin-1".to_owned()),
        approvers: Some("admins".to_owned()),
        ..call(40, "ann", "run_python", "ok")
    };
    let denied = ToolCallRecord {
        approval: Some("always".to_owned()),
        decision: Some("denied".to_owned()),
        decided_by: Some("admin-1".to_owned()),
        approvers: Some("admins".to_owned()),
        ..call(50, "bob", "run_python", "denied")
    };
    let mut ids = Vec::new();
    for record in [
        call(10, "ann", "memory_search", "ok"),
        call(20, "ann", "web_fetch", "error"),
        call(30, "ann", "web_fetch", "limited"),
        approved.clone(),
        denied.clone(),
    ] {
        ids.push(store.record_tool_call(&record).await.unwrap());
    }
    let mut distinct = ids.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), 5, "each call has its own id: {ids:?}");
    let count = |user: Option<&'static str>, conversation: Option<&'static str>, since: i64| {
        let store = store.clone();
        async move {
            store
                .tool_call_stamps(user, conversation, since, 100)
                .await
                .unwrap()
                .len()
        }
    };
    assert_eq!(
        count(Some("ann"), None, 0).await,
        3,
        "held back calls do not count"
    );
    assert_eq!(count(Some("ann"), None, 15).await, 2);
    assert_eq!(
        count(None, Some("dm-bob"), 0).await,
        0,
        "a denied call did not run"
    );
    assert_eq!(count(None, None, 0).await, 3);
    let newest = store
        .tool_call_stamps(Some("ann"), None, 0, 2)
        .await
        .unwrap();
    assert_eq!(
        newest,
        [Stamp { at: 40, id: ids[3] }, Stamp { at: 20, id: ids[1] }],
        "the newest that ran first, no more than asked"
    );
    let was_approved = |user: &'static str, tool: &'static str, approvers: &'static str| {
        let store = store.clone();
        async move { store.tool_approved(user, tool, approvers).await.unwrap() }
    };
    assert!(was_approved("ann", "run_python", "admins").await);
    assert!(
        !was_approved("ann", "run_python", "admins,requester").await,
        "an approval holds only under the approvers it was given under"
    );
    assert!(!was_approved("bob", "run_python", "admins").await);
    assert!(!was_approved("ann", "web_fetch", "admins").await);
    let recent = store.recent_tool_calls(2).await.unwrap();
    assert_eq!(recent, [denied, approved]);
}
