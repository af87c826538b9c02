//! The channel modes contract: unset is none, a setting is replaced whole, settings are per
//! platform and channel, and clearing says whether one was set.

use std::sync::Arc;

use clara_core::store::{ChannelModeSetting, Store};

contract!(
    an_unset_channel_mode_is_none,
    a_channel_mode_is_set_read_and_overwritten,
    channel_modes_are_per_platform_and_channel,
    clearing_a_channel_mode_reports_whether_one_was_set,
    channel_modes_are_listed_per_platform_by_channel,
);

fn channel_mode(platform: &str, channel: &str, mode: &str, at: i64) -> ChannelModeSetting {
    ChannelModeSetting {
        platform: platform.to_owned(),
        channel_id: channel.to_owned(),
        guild_id: Some("g1".to_owned()),
        mode: mode.to_owned(),
        set_by: "admin".to_owned(),
        updated_at: at,
    }
}

async fn an_unset_channel_mode_is_none(store: Arc<dyn Store>) {
    assert_eq!(store.channel_mode("discord", "c1").await.unwrap(), None);
}

async fn a_channel_mode_is_set_read_and_overwritten(store: Arc<dyn Store>) {
    let mention = channel_mode("discord", "c1", "mention", 1_000);
    store.set_channel_mode(&mention).await.unwrap();
    assert_eq!(
        store.channel_mode("discord", "c1").await.unwrap(),
        Some(mention)
    );

    // Every field is replaced, the guild too (a thread moved, or a DM without one).
    let off = ChannelModeSetting {
        guild_id: None,
        set_by: "other-admin".to_owned(),
        ..channel_mode("discord", "c1", "off", 2_000)
    };
    store.set_channel_mode(&off).await.unwrap();
    assert_eq!(
        store.channel_mode("discord", "c1").await.unwrap(),
        Some(off)
    );
}

async fn channel_modes_are_per_platform_and_channel(store: Arc<dyn Store>) {
    let discord = channel_mode("discord", "c1", "active", 1_000);
    let slack = channel_mode("slack", "c1", "off", 1_100);
    let other_channel = channel_mode("discord", "c2", "mention", 1_200);
    for setting in [&discord, &slack, &other_channel] {
        store.set_channel_mode(setting).await.unwrap();
    }
    assert_eq!(
        store.channel_mode("discord", "c1").await.unwrap(),
        Some(discord.clone())
    );
    assert_eq!(
        store.channel_mode("slack", "c1").await.unwrap(),
        Some(slack)
    );
    assert_eq!(
        store.channel_mode("discord", "c2").await.unwrap(),
        Some(other_channel)
    );
    assert_eq!(store.channel_mode("slack", "c2").await.unwrap(), None);

    assert!(store.clear_channel_mode("slack", "c1").await.unwrap());
    assert_eq!(
        store.channel_mode("discord", "c1").await.unwrap(),
        Some(discord)
    );
}

async fn clearing_a_channel_mode_reports_whether_one_was_set(store: Arc<dyn Store>) {
    assert!(!store.clear_channel_mode("discord", "c1").await.unwrap());
    store
        .set_channel_mode(&channel_mode("discord", "c1", "off", 1_000))
        .await
        .unwrap();
    assert!(store.clear_channel_mode("discord", "c1").await.unwrap());
    assert_eq!(store.channel_mode("discord", "c1").await.unwrap(), None);
    assert!(!store.clear_channel_mode("discord", "c1").await.unwrap());

    // A cleared channel can be set again.
    let active = channel_mode("discord", "c1", "active", 2_000);
    store.set_channel_mode(&active).await.unwrap();
    assert_eq!(
        store.channel_mode("discord", "c1").await.unwrap(),
        Some(active)
    );
}

async fn channel_modes_are_listed_per_platform_by_channel(store: Arc<dyn Store>) {
    assert_eq!(store.channel_modes("discord").await.unwrap(), Vec::new());
    let c2 = channel_mode("discord", "c2", "off", 1_000);
    let c1 = channel_mode("discord", "c1", "active", 1_100);
    let slack = channel_mode("slack", "c0", "mention", 1_200);
    for setting in [&c2, &c1, &slack] {
        store.set_channel_mode(setting).await.unwrap();
    }
    assert_eq!(
        store.channel_modes("discord").await.unwrap(),
        vec![c1.clone(), c2]
    );
    store.clear_channel_mode("discord", "c2").await.unwrap();
    assert_eq!(store.channel_modes("discord").await.unwrap(), vec![c1]);
    assert_eq!(store.channel_modes("slack").await.unwrap(), vec![slack]);
}
