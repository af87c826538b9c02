//! The import marks contract: an unmarked record is none, a mark is read back per source,
//! kind and id, and marking again keeps the first.

use std::sync::Arc;

use clara_core::store::Store;

contract!(import_marks_are_kept_per_record_and_the_first_one_stays,);

async fn import_marks_are_kept_per_record_and_the_first_one_stays(store: Arc<dyn Store>) {
    assert_eq!(
        store.imported("mypalclara", "message", "7").await.unwrap(),
        None
    );
    store
        .mark_imported("mypalclara", "message", "7", "m-1")
        .await
        .unwrap();
    store
        .mark_imported("mypalclara", "session", "7", "s-1")
        .await
        .unwrap();
    store
        .mark_imported("mypalclara", "message", "7", "m-2")
        .await
        .unwrap();
    assert_eq!(
        store
            .imported("mypalclara", "message", "7")
            .await
            .unwrap()
            .as_deref(),
        Some("m-1")
    );
    assert_eq!(
        store
            .imported("mypalclara", "session", "7")
            .await
            .unwrap()
            .as_deref(),
        Some("s-1")
    );
    assert_eq!(store.imported("other", "message", "7").await.unwrap(), None);
}
