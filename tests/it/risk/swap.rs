//! The production model is swapped without downtime: concurrent clients keep getting answers
//! while another version is promoted and reloaded, every answer is a 200 from one of the two
//! versions, and the poll alone picks up a promotion.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;

use super::{app_with_models, fixture, measurements};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_swap_under_load_fails_no_request() {
    let (app, root) = app_with_models("reload_interval_s = 0").await;
    let app = Arc::new(app);
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..16 {
        let (app, stop) = (app.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let res = app.post("/v1/risk/obstetric", &measurements()).await;
                let status = res.status().as_u16();
                let header = res
                    .headers()
                    .get("x-model-version")
                    .map(|v| v.to_str().unwrap().to_string());
                let body: Value = res.json().await.unwrap();
                assert_eq!(status, 200, "{body}");
                let version = header.unwrap();
                assert_eq!(body["model"]["version"], version.as_str());
                seen.push(version);
            }
            seen
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    fixture::promote(root.path(), fixture::GB).await;
    let res = app
        .http
        .post(app.url("/admin/models/reload"))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let reload: Value = res.json().await.unwrap();
    assert_eq!(reload["status"], "swapped");
    assert_eq!(
        (reload["from"].as_str(), reload["version"].as_str()),
        (Some(fixture::LR), Some(fixture::GB))
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for c in clients {
        all.extend(c.await.unwrap());
    }
    assert!(all.iter().all(|v| v == fixture::LR || v == fixture::GB));
    assert!(all.iter().any(|v| v == fixture::LR) && all.iter().any(|v| v == fixture::GB));
    // Once swapped, every later answer is the new version's (contributions from its booster).
    let res = app.post("/v1/risk/obstetric", &measurements()).await;
    assert_eq!(res.headers()["x-model-version"], fixture::GB);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["contributions"].as_array().unwrap().len(), 6);
    assert!(all.len() > 50, "{} requests", all.len());
}

#[tokio::test]
async fn the_poll_picks_up_a_promotion_by_itself() {
    let (app, root) = app_with_models("reload_interval_s = 1").await;
    fixture::promote(root.path(), fixture::GB).await;
    for _ in 0..50 {
        let res = app.post("/v1/risk/obstetric", &measurements()).await;
        if res.headers()["x-model-version"] == fixture::GB {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the poll did not swap in {}", fixture::GB);
}
