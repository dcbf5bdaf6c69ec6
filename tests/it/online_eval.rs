//! Online evaluation as operators and prompt authors meet it: the release on every response and
//! every logged message, `powerbirth monitor canary` gating on seeded logs, and the prompt canary
//! at the gateway (sticky split, the periodic gate rolling a regression back).

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use powerbirth::core::{UsdCost, now_ms};
use powerbirth::store::Store;
use powerbirth::store::messages::{Exchange, MessageRecord, MessageRole};
use serde_json::{Value, json};

use crate::common::{self, Spawn, on_both_backends, spawn_app_with};
use powerbirth::canary::{Selector, Verdict};

/// One logged exchange of a prompt version: the user's turn and an answer with its numbers.
fn exchange(i: usize, prompt_ref: &str, release: &str, latency_ms: i64, cost: &str) -> Exchange {
    let at = now_ms() - 3_600_000 + i as i64;
    let conv = format!("key-seed:conv-{prompt_ref}-{release}-{i}");
    let request = format!("req-{prompt_ref}-{release}-{i}");
    let mut user = MessageRecord::new(&conv, &request, MessageRole::User, "oi".into(), at);
    let mut answer = MessageRecord::new(&conv, &request, MessageRole::Assistant, "olá".into(), at);
    answer.model = Some("gpt-echo".into());
    answer.latency_ms = Some(latency_ms);
    answer.completion_tokens = Some(latency_ms / 10);
    answer.cost_usd = Some(cost.parse::<UsdCost>().unwrap());
    for m in [&mut user, &mut answer] {
        m.prompt_ref = Some(format!("{prompt_ref};lang=pt-BR;persona=doula"));
        m.release = Some(release.into());
    }
    Exchange {
        conversation_id: conv,
        key_id: "key-seed".into(),
        at,
        messages: vec![user, answer],
    }
}

/// `exchange`, with the user's turn flagged urgent (the guard escalated it) when `urgent`.
fn escalated(i: usize, release: &str, urgent: bool) -> Exchange {
    let mut e = exchange(i, "birth-plan@1", release, 400, "0.0004");
    e.messages[0].urgent = urgent;
    e
}

/// `n` exchanges per side: the candidate's latency and cost `slower` times the baseline's.
async fn seed(
    store: &Store,
    candidate: (&str, &str),
    baseline: (&str, &str),
    slower: bool,
    n: usize,
) {
    let mut batch = Vec::new();
    for i in 0..n {
        let (fast, slow) = (300 + (i as i64 * 7) % 50, 600 + (i as i64 * 11) % 50);
        let (c, b) = if slower { (slow, fast) } else { (fast, slow) };
        let cost = |ms: i64| format!("0.000{ms}");
        batch.push(exchange(i, candidate.0, candidate.1, c, &cost(c)));
        batch.push(exchange(i, baseline.0, baseline.1, b, &cost(b)));
    }
    store.write_exchanges(&batch).await.unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The shipped prompts, with `assistant-general`'s canary (v2) declared as `canary`.
fn prompts_with_canary(dir: &Path, canary: &str) -> String {
    let prompts = dir.join("prompts");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts"),
        &prompts,
    );
    let manifest = prompts.join("assistant-general/prompt.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("staging = 2", canary)).unwrap();
    format!("[prompts]\ndir = \"{}\"\n", prompts.display())
}

async fn every_response_and_logged_message_names_the_release() {
    let app = spawn_app_with(Spawn {
        env: HashMap::from([("POWERBIRTH_RELEASE".into(), "2026.12.1-test".into())]),
        ..Spawn::default()
    })
    .await;
    let mut body = common::chat("gpt-echo", "oi");
    body["prompt"] = json!({"id": "birth-plan"});
    body["metadata"] = json!({"conversation_id": "rel-1"});
    let res = app.post("/v1/chat/completions", &body).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-powerbirth-release"], "2026.12.1-test");
    for path in ["/healthz", "/v1/nothing-here"] {
        let res = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(
            res.headers()["x-powerbirth-release"],
            "2026.12.1-test",
            "{path}"
        );
    }
    app.settle().await;
    let messages = app.conversation_messages("rel-1").await;
    assert_eq!(messages.len(), 2);
    for m in &messages {
        assert_eq!(m.release.as_deref(), Some("2026.12.1-test"));
        assert!(
            m.prompt_ref
                .as_deref()
                .unwrap()
                .starts_with("birth-plan@1;")
        );
    }
    assert_eq!(messages[1].model.as_deref(), Some("gpt-echo"));
}
on_both_backends!(every_response_and_logged_message_names_the_release);

fn monitor(config: &Path, candidate: &str, baseline: &str, metric: &str) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_powerbirth"))
        .arg("--config")
        .arg(config)
        .args([
            "monitor",
            "canary",
            "--candidate",
            candidate,
            "--baseline",
            baseline,
        ])
        .args(["--metric", metric, "--window", "24h", "--format", "json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&stdout)
        .unwrap_or_else(|_| panic!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), json)
}

async fn the_canary_gate_fails_a_slower_costlier_candidate_and_passes_the_reverse() {
    let app = spawn_app_with(Spawn::default()).await;
    seed(
        &app.store,
        ("birth-plan@1", "r-slow"),
        ("birth-plan@1", "r-base"),
        true,
        60,
    )
    .await;
    seed(
        &app.store,
        ("birth-plan@1", "r-fast"),
        ("birth-plan@1", "r-base2"),
        false,
        60,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("powerbirth.toml");
    std::fs::write(&config, format!("[database]\nurl = \"{}\"\n", app.db_url)).unwrap();
    for metric in ["latency_ms", "cost_usd", "completion_tokens"] {
        let (code, out) = monitor(&config, "release=r-slow", "release=r-base", metric);
        assert_eq!(code, 1, "{out:#}");
        assert_eq!(out["verdict"], "worse");
        assert_eq!(out["candidate"]["n"], 60);
        assert!(
            out["effect"]["hodges_lehmann"].as_f64().unwrap() > 0.0,
            "{out:#}"
        );
        assert!(out["effect"]["p_value"].as_f64().unwrap() < 0.01, "{out:#}");
        let (code, out) = monitor(&config, "release=r-fast", "release=r-base2", metric);
        assert_eq!(code, 0, "{out:#}");
        assert_eq!(out["verdict"], "better");
    }
    // A selector nothing matches: too few samples is not a failure.
    let (code, out) = monitor(&config, "release=nope", "release=r-base", "latency_ms");
    assert_eq!(code, 0);
    assert_eq!(out["verdict"], "insufficient_data");
    // Combined selectors narrow a side; an unknown metric is a usage error (2).
    let (code, _) = monitor(
        &config,
        "release=r-slow,prompt=birth-plan@1,model=gpt-echo",
        "release=r-base",
        "latency_ms",
    );
    assert_eq!(code, 1);
    let out = Command::new(env!("CARGO_BIN_EXE_powerbirth"))
        .arg("--config")
        .arg(&config)
        .args([
            "monitor",
            "canary",
            "--candidate",
            "release=a",
            "--baseline",
            "release=b",
        ])
        .args(["--metric", "accuracy"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
on_both_backends!(the_canary_gate_fails_a_slower_costlier_candidate_and_passes_the_reverse);

/// The prompt version a chat turn was served (`x-prompt-ref`).
async fn served(app: &common::TestApp, conversation: Option<&str>) -> u32 {
    let mut body = common::chat("gpt-echo", "oi");
    body["prompt"] = json!({"id": "assistant-general"});
    if let Some(c) = conversation {
        body["metadata"] = json!({ "conversation_id": c });
    }
    let res = app.post("/v1/chat/completions", &body).await;
    assert_eq!(res.status(), 200);
    let header = res.headers()["x-prompt-ref"].to_str().unwrap().to_owned();
    let version = header
        .split(';')
        .next()
        .unwrap()
        .rsplit('@')
        .next()
        .unwrap();
    version.parse().unwrap()
}

async fn the_prompt_canary_serves_both_versions_and_sticks_to_a_conversation() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(Spawn {
        extra_toml: prompts_with_canary(
            dir.path(),
            "canary = { version = 2, traffic_percent = 50 }",
        ),
        ..Spawn::default()
    })
    .await;
    let mut seen = [0usize; 3];
    for i in 0..24 {
        let c = format!("sticky-{i}");
        let first = served(&app, Some(&c)).await;
        for _ in 0..2 {
            assert_eq!(served(&app, Some(&c)).await, first, "{c} changed version");
        }
        seen[first as usize] += 1;
    }
    assert!(seen[1] > 0 && seen[2] > 0, "both versions served: {seen:?}");
    // Without a conversation id each turn is drawn anew, and still served.
    for _ in 0..4 {
        assert!([1, 2].contains(&served(&app, None).await));
    }
    let res = app
        .http
        .get(app.url("/v1/prompts/assistant-general/canary"))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let state: Value = res.json().await.unwrap();
    assert_eq!(state["status"], "running", "{state:#}");
    assert_eq!(state["serving"]["canary"], 2);
    assert_eq!(state["serving"]["traffic_percent"], 50.0);
    let res = app
        .http
        .get(app.url("/v1/prompts/assistant-general/canary"))
        .bearer_auth(&app.client_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "the canary state is for admins");
}
on_both_backends!(the_prompt_canary_serves_both_versions_and_sticks_to_a_conversation);

async fn the_gate_rolls_back_a_regressing_canary_and_stops_serving_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut extra = prompts_with_canary(
        dir.path(),
        "canary = { version = 2, traffic_percent = 50, on_regression = \"rollback\", on_success = \"promote\", min_samples = 30 }",
    );
    extra.push_str("\n[canary]\ninterval_s = 1\nrefresh_s = 1\n");
    let app = spawn_app_with(Spawn {
        extra_toml: extra,
        ..Spawn::default()
    })
    .await;
    seed(
        &app.store,
        ("assistant-general@2", "r1"),
        ("assistant-general@1", "r1"),
        true,
        40,
    )
    .await;
    let get_state = || async {
        let res = app
            .http
            .get(app.url("/v1/prompts/assistant-general/canary"))
            .bearer_auth(&app.admin_key)
            .send()
            .await
            .unwrap();
        res.json::<Value>().await.unwrap()
    };
    let mut state = get_state().await;
    for _ in 0..100 {
        if state["status"] == "rolled_back" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        state = get_state().await;
    }
    assert_eq!(state["status"], "rolled_back", "{state:#}");
    let decision = &state["decisions"][0];
    assert_eq!(decision["decision"], "rollback");
    assert_eq!(decision["candidate_version"], 2);
    assert_eq!(decision["baseline_version"], 1);
    // The gate reads each metric in its own query: a run racing the seeding may see the cost
    // rows before the latency rows, so either may be the one that decided.
    let metrics = decision["report"]["metrics"].as_array().unwrap();
    let worse: Vec<&Value> = metrics.iter().filter(|m| m["verdict"] == "worse").collect();
    assert!(!worse.is_empty(), "{decision:#}");
    for m in worse {
        let name = m["metric"].as_str().unwrap();
        assert!(["latency_ms", "cost_usd"].contains(&name), "{decision:#}");
        assert!(decision["reason"].as_str().unwrap().contains(name));
        assert_eq!(m["candidate"]["n"], 40);
        assert!(m["effect"]["p_value"].as_f64().unwrap() < 0.01);
    }
    assert_eq!(
        state["decisions"].as_array().unwrap().len(),
        1,
        "decided once"
    );
    // Every conversation is served production again.
    for i in 0..30 {
        assert_eq!(served(&app, Some(&format!("after-{i}"))).await, 1);
    }
}
on_both_backends!(the_gate_rolls_back_a_regressing_canary_and_stops_serving_it);

async fn ratings_come_from_nurse_reviews_and_escalations_from_the_guard_flags() {
    use crate::common::review_seed::{nurse, rating, review};
    use powerbirth::canary::compare::{Request, compare};
    use powerbirth::review::batches::Origin;
    use powerbirth::review::sample::{SampleOptions, sample};
    use powerbirth::store::canary::Metric;

    let app = spawn_app_with(Spawn {
        extra_toml: "[review]\nschedule = \"off\"\n".into(),
        ..Spawn::default()
    })
    .await;
    let mut batch: Vec<Exchange> = (0..60).map(|i| escalated(i, "r-new", i % 3 == 0)).collect();
    batch.extend((0..60).map(|i| escalated(i, "r-old", false)));
    app.store.write_exchanges(&batch).await.unwrap();
    let drawn = sample(
        &app.store,
        SampleOptions {
            n: 1000,
            window: Duration::from_secs(86_400),
            seed: 1,
            now: now_ms() + 1,
            origin: Origin::Cli,
            overlap: 0,
            period: None,
        },
    )
    .await
    .unwrap();
    let ana = nurse(&app.store, "ana@example.org").await;
    for item in &drawn.items {
        let old = item.conversation_id.contains("-r-old-");
        let score = if old { 5 } else { 2 };
        review(
            &app.store,
            &item.id,
            &ana,
            &rating(score, false, None, None),
        )
        .await;
    }
    let (new, old) = (
        Selector::parse("release=r-new").unwrap(),
        Selector::parse("release=r-old").unwrap(),
    );
    let end = now_ms();
    for metric in [Metric::Rating, Metric::GuardEscalated] {
        let req = Request {
            metric,
            candidate: &new,
            baseline: &old,
            window: (end - 86_400_000, end),
            alpha: 0.01,
            min_samples: 10,
        };
        let out = compare(&app.store, &req).await.unwrap();
        assert_eq!(out.verdict, Verdict::Worse, "{out:#?}");
        let json = serde_json::to_value(&out).unwrap();
        match metric {
            Metric::Rating => {
                assert_eq!(
                    json["candidate"]["n"], 60,
                    "every conversation reviewed once"
                );
                assert_eq!(json["effect"]["median_candidate"], 3.0, "(2 + 4) / 2");
                assert_eq!(json["effect"]["median_baseline"], 4.5);
            }
            _ => {
                assert_eq!(json["effect"]["test"], "two_proportion_z");
                assert_eq!(json["effect"]["rate_candidate"], 20.0 / 60.0);
                assert_eq!(json["effect"]["rate_baseline"], 0.0);
            }
        }
    }
}
on_both_backends!(ratings_come_from_nurse_reviews_and_escalations_from_the_guard_flags);
