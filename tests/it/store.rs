//! The store on both backends: SQLite always, PostgreSQL when `POWERBIRTH_TEST_PG_URL` is set
//! (always in CI).

use crate::common;

use powerbirth::store::Store;
use powerbirth::store::keys::{ApiKeyHash, KeyError, Role};
use powerbirth::store::messages::{Exchange, MessageRecord};

fn message(conv: &str, role: &str, content: &str, at: i64) -> MessageRecord {
    let mut m = MessageRecord::new(
        conv,
        &format!("req-{conv}"),
        role.parse().unwrap(),
        content.into(),
        at,
    );
    m.model = (role == "assistant").then(|| "m".to_string());
    m.prompt_tokens = Some(3);
    m.latency_ms = Some(12);
    m.upstream_ms = Some(10);
    m
}

async fn keys_live_and_die(store: &Store) {
    let (key, plaintext) = store
        .create_key("web", Role::Client, Some(30))
        .await
        .unwrap();
    let found = store
        .find_active_key(&ApiKeyHash::of(&plaintext))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, key);
    assert!(matches!(
        store.create_key("web", Role::Admin, None).await,
        Err(KeyError::NameTaken(_))
    ));
    store.revoke_key("web").await.unwrap();
    assert!(
        store
            .find_active_key(&ApiKeyHash::of(&plaintext))
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        store.revoke_key("web").await,
        Err(KeyError::NotFound(_))
    ));
    // The name is free again once revoked; the old key stays listed as revoked.
    store.create_key("web", Role::Client, None).await.unwrap();
    let listed = store.list_keys().await.unwrap();
    assert_eq!(listed.iter().filter(|k| k.name == "web").count(), 2);
    assert_eq!(listed.iter().filter(|k| k.revoked_at.is_some()).count(), 1);
    // Listings never carry the key itself, only a short prefix to recognise it.
    assert!(!format!("{listed:?}").contains(&plaintext));
    assert!(plaintext.starts_with(&key.prefix) && key.prefix.len() < 12);
}

async fn exchanges_round_trip(store: &Store) {
    let batch = vec![
        Exchange {
            conversation_id: "c1".into(),
            key_id: "k".into(),
            at: 1000,
            messages: vec![
                message("c1", "user", "dor de cabeça\0forte", 1000),
                message("c1", "assistant", "procure", 1001),
            ],
        },
        // Same conversation twice in one batch: one upsert row.
        Exchange {
            conversation_id: "c1".into(),
            key_id: "k".into(),
            at: 2000,
            messages: vec![message("c1", "user", "e agora?", 2000)],
        },
        Exchange {
            conversation_id: "c2".into(),
            key_id: "k".into(),
            at: 1500,
            messages: vec![message("c2", "user", "oi", 1500)],
        },
    ];
    store.write_exchanges(&batch).await.unwrap();
    let c1 = store.conversation_messages("c1").await.unwrap();
    assert_eq!(c1.len(), 3);
    assert_eq!(c1[0].content, "dor de cabeça\u{FFFD}forte");
    assert_eq!(c1[1].model.as_deref(), Some("m"));
    assert_eq!(c1[2].content, "e agora?");
    // A later batch for an existing conversation appends.
    store
        .write_exchanges(&[Exchange {
            conversation_id: "c2".into(),
            key_id: "k".into(),
            at: 3000,
            messages: vec![message("c2", "assistant", "olá", 3000)],
        }])
        .await
        .unwrap();
    assert_eq!(store.conversation_messages("c2").await.unwrap().len(), 2);
    assert_eq!(store.count_messages("user").await.unwrap(), 3);
}

#[tokio::test]
async fn sqlite_keys_live_and_die() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(
        &format!("sqlite://{}", dir.path().join("a.db").display()),
        2,
    )
    .await
    .unwrap();
    keys_live_and_die(&store).await;
}

#[tokio::test]
async fn sqlite_exchanges_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(
        &format!("sqlite://{}", dir.path().join("a.db").display()),
        2,
    )
    .await
    .unwrap();
    exchanges_round_trip(&store).await;
}

#[tokio::test]
async fn postgres_keys_live_and_die() {
    let Some(base) = common::pg_url() else { return };
    let db = common::fresh_pg_database(&base).await;
    let store = Store::connect(&db.url, 2).await.unwrap();
    keys_live_and_die(&store).await;
}

#[tokio::test]
async fn postgres_exchanges_round_trip() {
    let Some(base) = common::pg_url() else { return };
    let db = common::fresh_pg_database(&base).await;
    let store = Store::connect(&db.url, 2).await.unwrap();
    exchanges_round_trip(&store).await;
}

#[tokio::test]
async fn migrations_are_applied_once_and_reopening_is_harmless() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("a.db").display());
    Store::connect(&url, 1)
        .await
        .unwrap()
        .create_key("a", Role::Admin, None)
        .await
        .unwrap();
    let again = Store::connect(&url, 1).await.unwrap();
    assert_eq!(again.count_keys().await.unwrap(), 1);
}

#[tokio::test]
async fn the_gateway_runs_on_postgres() {
    let Some(base) = common::pg_url() else { return };
    let db = common::fresh_pg_database(&base).await;
    let app = common::spawn_app_with(common::Spawn {
        db_url: Some(db.url.clone()),
        ..Default::default()
    })
    .await;
    let res = app
        .post("/v1/chat/completions", &common::chat("gpt-echo", "olá"))
        .await;
    assert_eq!(res.status(), 200);
    app.settle().await;
    assert_eq!(app.store.count_messages("assistant").await.unwrap(), 1);
}
