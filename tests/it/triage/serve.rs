//! A trained triage version served: concurrent chat turns read as one by one (the batcher), and
//! `[guard] triage_model` as a registry selector (`triage@production`), installed or refused.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::json;

use super::{MISSED, embedder, encoder_dir, prepare, run, setup};
use crate::common::{self, Spawn, spawn_app_with};

/// One trained version (head on the frozen encoder) shared by the tests that only serve it.
pub(super) fn trained_version() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // Kept for the whole test run (the folder outlives every test that reads it).
        let tmp = tempfile::tempdir().unwrap().keep();
        let config = setup(&tmp, "[]", &[]);
        let p = prepare::prepare(&config, Some("d"), &embedder()).expect("prepare");
        run::run(&config, Some(&p.dir), &embedder())
            .expect("run")
            .dir
    })
    .clone()
}

/// The guard's reading of one chat turn: decision, categories, which second reader fired.
pub(super) async fn reading(app: &common::TestApp, text: &str) -> serde_json::Value {
    let res = app
        .post("/v1/chat/completions", &common::chat("gpt-echo", text))
        .await;
    assert_eq!(res.status(), 200);
    let answer: serde_json::Value = res.json().await.unwrap();
    let g = &answer["powerbirth"]["guard"];
    json!({"decision": g["decision"], "categories": g["categories"],
           "second_opinion": g["second_opinion"]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_turns_are_escalated_and_passed_as_one_by_one() {
    let dir = trained_version();
    let app = spawn_app_with(Spawn {
        extra_toml: format!(
            "[guard]\ntriage_model = \"{}\"\ntriage_encoder = \"{}\"\n",
            dir.display(),
            encoder_dir().display()
        ),
        ..Spawn::default()
    })
    .await;
    let turns = [
        MISSED,
        "me ajuda, sinto que algo está muito errado",
        "to sangrando muito",
        "qual fruta é boa na gravidez",
        "can I go for a light walk",
        "hello, I am 20 weeks along",
        "please help, something is terribly wrong",
        "quando começo o curso de gestantes",
    ];
    let mut alone = Vec::new();
    for t in turns {
        alone.push(reading(&app, t).await);
    }
    let together = futures_util::future::join_all(turns.iter().map(|t| reading(&app, t))).await;
    assert_eq!(together, alone);
    assert_eq!(
        alone[0]["second_opinion"],
        json!(["triage"]),
        "{}",
        alone[0]
    );
    // A turn the guard lets through carries no guard report.
    assert!(
        alone.iter().any(|r| r["decision"].is_null()),
        "some turns pass: {alone:?}"
    );
}

#[tokio::test]
async fn a_registry_selector_installs_the_production_version() {
    use powerbirth::ml::registry::Registry;
    let registry_dir = tempfile::tempdir().unwrap();
    let registry = Registry::open(registry_dir.path(), None).unwrap();
    super::swap::promote(&registry, &trained_version()).await;
    let app = spawn_app_with(Spawn {
        extra_toml: format!(
            "[guard]\ntriage_model = \"triage@production\"\ntriage_encoder = \"{}\"\n\n\
             [risk]\nmodels_dir = \"{}\"\nmlflow_tracking_uri = \"\"\n",
            encoder_dir().display(),
            registry_dir.path().display()
        ),
        ..Spawn::default()
    })
    .await;
    let r = reading(&app, MISSED).await;
    assert_eq!(r["decision"], "escalate", "{r}");
    assert_eq!(r["second_opinion"], json!(["triage"]), "{r}");
}

#[tokio::test]
async fn a_registry_selector_with_nothing_in_production_stops_the_start_up() {
    let registry_dir = tempfile::tempdir().unwrap();
    let upstream = common::MockUpstream::start().await;
    let extra = format!(
        "[guard]\ntriage_model = \"triage@production\"\ntriage_encoder = \"{}\"\n\n\
         [risk]\nmodels_dir = \"{}\"\nmlflow_tracking_uri = \"\"\n",
        encoder_dir().display(),
        registry_dir.path().display()
    );
    let db = registry_dir.path().join("gateway.db");
    let text = common::test_config(&upstream, &format!("sqlite://{}", db.display()), &extra);
    let path = registry_dir.path().join("powerbirth.toml");
    std::fs::write(&path, text).unwrap();
    let config = powerbirth::config::Config::load_with_env(&path, &Default::default()).unwrap();
    let err = powerbirth::app::App::build_with(config, &Default::default())
        .await
        .err()
        .expect("start-up refused");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("[guard] triage_model = \"triage@production\""),
        "{msg}"
    );
    assert!(
        msg.contains("no version of \"triage\" is \"production\""),
        "{msg}"
    );
    assert!(msg.contains("powerbirth models promote triage"), "{msg}");
}
