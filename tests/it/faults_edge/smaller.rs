//! Item 8's smaller items seen from outside: the bootstrap admin key (never on stdout, a file
//! with mode 0600 when configured, one key however many replicas start at once) and the
//! `/metrics` bearer token.

use powerbirth::store::Store;

use super::env;
use crate::common::{self, MockUpstream, Spawn, on_both_backends, spawn_app_with, test_config};

async fn replicas_starting_together_on_an_empty_database_create_one_admin_key(store: &Store) {
    let starts = futures_util::future::join_all(
        (0..8).map(|_| powerbirth::cli::bootstrap::bootstrap_admin_key(store)),
    )
    .await;
    let created = starts
        .into_iter()
        .map(|r| r.expect("no start fails"))
        .filter(Option::is_some)
        .count();
    assert_eq!(created, 1);
    assert_eq!(store.count_keys().await.unwrap(), 1);
}
on_both_backends!(store: replicas_starting_together_on_an_empty_database_create_one_admin_key);

#[tokio::test]
async fn the_bootstrap_key_can_go_to_a_file_with_mode_0600_and_never_to_stdout() {
    use std::os::unix::fs::PermissionsExt;
    let upstream = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("admin.key");
    let db_url = format!("sqlite://{}", dir.path().join("gw.db").display());
    let text = test_config(&upstream, &db_url, "").replace(
        "bootstrap_admin_key = false",
        &format!(
            "bootstrap_admin_key = true\nbootstrap_key_file = \"{}\"",
            key_file.display()
        ),
    );
    let config = dir.path().join("powerbirth.toml");
    std::fs::write(&config, text).unwrap();
    // `spawn_binary` fails the test if a key shows on stdout.
    let (mut child, addr, on_stderr) = common::spawn_binary(&config);
    assert_eq!(on_stderr, None, "the key went to the file only");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let key = std::fs::read_to_string(&key_file)
        .unwrap()
        .trim()
        .to_string();
    let res = reqwest::Client::new()
        .get(format!("{addr}/v1/models"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    common::signal(&child, "TERM");
    child.wait().unwrap();
}

#[tokio::test]
async fn metrics_can_require_a_bearer_token() {
    let app = spawn_app_with(Spawn {
        extra_toml: "[metrics]\ntoken_env = \"TEST_METRICS_TOKEN\"\n".into(),
        env: env(&[("TEST_METRICS_TOKEN", "scrape-me")]),
        ..Spawn::default()
    })
    .await;
    let open = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(open.status(), 401);
    let wrong = app.http.get(app.url("/metrics")).bearer_auth("scrape-you");
    assert_eq!(wrong.send().await.unwrap().status(), 401);
    let right = app.http.get(app.url("/metrics")).bearer_auth("scrape-me");
    let res = right.send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("powerbirth_"));
}
