//! Item 6: a client inventing API keys is refused per address before the database is asked,
//! while a client with a good key behind the same address keeps working.

use super::env;
use crate::common::{Spawn, on_both_backends, spawn_app_with};

async fn bad_keys_past_the_limit_get_429_and_a_good_key_still_works() {
    let app = spawn_app_with(Spawn {
        env: env(&[("POWERBIRTH_AUTH__FAILED_PER_MINUTE", "5")]),
        ..Spawn::default()
    })
    .await;
    // A good key, read once so it is cached.
    let ok = app
        .http
        .get(app.url("/v1/models"))
        .bearer_auth(&app.client_key);
    assert_eq!(ok.send().await.unwrap().status(), 200);
    let mut statuses = Vec::new();
    for n in 0..12 {
        let res = app
            .http
            .get(app.url("/v1/models"))
            .bearer_auth(format!("pb-invented-{n}"))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        if status == 429 {
            assert!(res.headers().contains_key("retry-after"));
            let body: serde_json::Value = res.json().await.unwrap();
            assert_eq!(body["error"]["code"], "too_many_failed_authentications");
        }
        statuses.push(status);
    }
    assert_eq!(statuses[..5], [401; 5]);
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    let ok = app
        .http
        .get(app.url("/v1/models"))
        .bearer_auth(&app.client_key);
    assert_eq!(
        ok.send().await.unwrap().status(),
        200,
        "a cached good key still works"
    );
}
on_both_backends!(bad_keys_past_the_limit_get_429_and_a_good_key_still_works);
