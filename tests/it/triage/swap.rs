//! `[guard] triage_model = "triage@production"` followed while serving: a promotion is swapped in
//! by `POST /admin/triage/reload` and by the `[risk] reload_interval_s` poll, without a restart;
//! a version that does not load leaves the serving one in place.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use powerbirth::ml::registry::{Approver, PromotionRequest, Registry};
use serde_json::{Value, json};

use super::serve::{reading, trained_version};
use super::{MISSED, encoder_dir};
use crate::common::{self, Spawn, spawn_app_with};

/// A copy of the trained version under `registry_dir` as version `name`, with both escalation
/// thresholds set to `threshold` (above 1: the classifier never escalates).
fn variant(registry_dir: &Path, name: &str, threshold: f64) -> PathBuf {
    let from = trained_version();
    let to = registry_dir.join("triage").join(name);
    std::fs::create_dir_all(&to).unwrap();
    for entry in std::fs::read_dir(&from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
    for file in ["triage.json", "metrics.json"] {
        let path = to.join(file);
        let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        v["version"] = json!(name);
        if file == "triage.json" {
            v["thresholds"] = json!({"red_flag": threshold, "self_harm": threshold});
        }
        std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    }
    to
}

/// Registers the version in `dir` as `triage` and makes it `production`; its version string.
pub(super) async fn promote(registry: &Registry, dir: &Path) -> String {
    let v = registry.register("triage", dir).await.unwrap();
    registry
        .promote(
            "triage",
            &PromotionRequest {
                version: v.version.clone(),
                approver: Approver::parse("nurse@example.org").unwrap(),
                reason: None,
            },
        )
        .await
        .unwrap();
    v.version
}

async fn app_following(registry_dir: &Path, reload_interval_s: u64) -> common::TestApp {
    spawn_app_with(Spawn {
        extra_toml: format!(
            "[guard]\ntriage_model = \"triage@production\"\ntriage_encoder = \"{}\"\n\n\
             [risk]\nmodels_dir = \"{}\"\nmlflow_tracking_uri = \"\"\nreload_interval_s = {}\n",
            encoder_dir().display(),
            registry_dir.display(),
            reload_interval_s
        ),
        ..Spawn::default()
    })
    .await
}

async fn reload(app: &common::TestApp, key: &str) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(app.url("/admin/triage/reload"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

/// The admin reload swaps `first` for `second` (a version that never escalates), and the next
/// turn is read by it.
async fn swapped_to_silence(app: &common::TestApp, first: &str, second: &str) {
    let (status, body) = reload(app, &app.admin_key).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"status": "swapped", "from": first, "version": second})
    );
    let r = reading(app, MISSED).await;
    assert!(
        r["second_opinion"].is_null(),
        "the new version never escalates: {r}"
    );
}

#[tokio::test]
async fn a_promotion_is_swapped_in_by_the_admin_reload_and_a_broken_one_is_refused() {
    let registry_dir = tempfile::tempdir().unwrap();
    let registry = Registry::open(registry_dir.path(), None).unwrap();
    let first = promote(&registry, &variant(registry_dir.path(), "v-escalates", 0.0)).await;
    let app = app_following(registry_dir.path(), 0).await;
    assert_eq!(
        reading(&app, MISSED).await["second_opinion"],
        json!(["triage"])
    );

    // Nothing moved: unchanged. A client key may not reload.
    let (status, body) = reload(&app, &app.admin_key).await;
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("unchanged")),
        "{body}"
    );
    assert_eq!(reload(&app, &app.client_key).await.0, 403);

    let second = promote(&registry, &variant(registry_dir.path(), "v-silent", 2.0)).await;
    // Not polled (interval 0): the first version serves until the reload.
    assert_eq!(
        reading(&app, MISSED).await["second_opinion"],
        json!(["triage"])
    );
    swapped_to_silence(&app, &first, &second).await;

    // A promoted version whose files do not load: 503, and the serving version stays.
    let broken = variant(registry_dir.path(), "v-broken", 0.0);
    let third = promote(&registry, &broken).await;
    std::fs::write(broken.join("head.safetensors"), b"not safetensors").unwrap();
    let (status, body) = reload(&app, &app.admin_key).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "model_reload_failed", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("head.safetensors"),
        "{body}"
    );
    let r = reading(&app, MISSED).await;
    assert!(
        r["second_opinion"].is_null(),
        "{second} still serves, not {third}: {r}"
    );
}

#[tokio::test]
async fn the_poll_follows_a_promotion_without_a_restart() {
    let registry_dir = tempfile::tempdir().unwrap();
    let registry = Registry::open(registry_dir.path(), None).unwrap();
    promote(&registry, &variant(registry_dir.path(), "v-silent", 2.0)).await;
    let app = app_following(registry_dir.path(), 1).await;
    assert!(reading(&app, MISSED).await["second_opinion"].is_null());

    promote(&registry, &variant(registry_dir.path(), "v-escalates", 0.0)).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = reading(&app, MISSED).await;
        if r["second_opinion"] == json!(["triage"]) {
            assert_eq!(r["decision"], "escalate", "{r}");
            break;
        }
        assert!(Instant::now() < deadline, "the poll never swapped: {r}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn without_a_triage_model_the_reload_says_so() {
    let app = common::spawn_app().await;
    let (status, body) = reload(&app, &app.admin_key).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "no_triage_model", "{body}");
}

#[tokio::test]
async fn a_selector_on_mlflow_downloads_the_production_version_and_follows_its_move() {
    let Some(uri) = crate::common::ml::mlflow_server() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // One model name per run: the MLflow server is shared by the whole test run.
    let model = format!("triage-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let registry = Registry::open(tmp.path(), Some(&uri)).unwrap();
    let register = |dir: PathBuf| {
        let (registry, model) = (&registry, &model);
        async move {
            let v = registry.register(model, &dir).await.unwrap();
            let request = PromotionRequest {
                version: v.registry_version.clone(),
                approver: Approver::parse("nurse@example.org").unwrap(),
                reason: None,
            };
            registry.promote(model, &request).await.unwrap();
            v.version
        }
    };
    let first = register(variant(tmp.path(), "m-escalates", 0.0)).await;
    let app = spawn_app_with(Spawn {
        extra_toml: format!(
            "[guard]\ntriage_model = \"{model}@production\"\ntriage_encoder = \"{}\"\n\n\
             [risk]\nmlflow_tracking_uri = \"{uri}\"\nreload_interval_s = 0\n",
            encoder_dir().display(),
        ),
        ..Spawn::default()
    })
    .await;
    let r = reading(&app, MISSED).await;
    assert_eq!(r["second_opinion"], json!(["triage"]), "{r}");

    let second = register(variant(tmp.path(), "m-silent", 2.0)).await;
    swapped_to_silence(&app, &first, &second).await;
}
