//! Runs stored on SQLite and PostgreSQL and published as `docs/model-performance.md` by the real
//! binary.

use super::*;

/// Two runs: an older one, and a newer one with two birth-plan sets and a raw chat set.
fn stored_runs() -> (RunResult, RunResult) {
    let older = run(
        "run_older",
        1_709_210_096_000,
        vec![set(
            BIRTH_PLAN,
            Some("birth-plan"),
            (0..4)
                .map(|i| case(&format!("bp-{i}"), false, 30.0))
                .collect(),
        )],
    );
    let mut failing = case("en-1", false, 60.0);
    failing.status = CaseStatus::Failed;
    let newer = run(
        "run_newer",
        1_795_737_600_000,
        vec![
            set(
                BIRTH_PLAN,
                Some("birth-plan"),
                (0..3)
                    .map(|i| case(&format!("bp-{i}"), false, 40.0))
                    .collect(),
            ),
            set(BIRTH_PLAN_EN, Some("birth-plan"), vec![failing]),
            set("evalsets/raw.toml", None, vec![case("raw-1", false, 10.0)]),
        ],
    );
    (older, newer)
}

async fn runs_are_stored_with_their_history(store: &Store) {
    let (older, newer) = stored_runs();
    store
        .save_eval_run(&older, None)
        .await
        .expect("older stored");
    let comparison = compare::compare(&older, &newer);
    store
        .save_eval_run(&newer, Some(&comparison))
        .await
        .expect("newer stored");

    // The whole metrics.json is kept: nothing of the run is lost.
    let kept: String = sqlx::query_scalar("SELECT result FROM eval_runs WHERE id = $1")
        .bind("run_newer")
        .fetch_one(store.pool())
        .await
        .expect("row");
    let back: RunResult = serde_json::from_str(&kept).expect("metrics.json");
    assert_eq!(back, newer);

    let history = store.eval_history(10).await.expect("history");
    let prompts: Vec<Option<&str>> = history.iter().map(|h| h.prompt.as_deref()).collect();
    assert_eq!(prompts, vec![Some("birth-plan"), None]);
    let plan = &history[0];
    let ids: Vec<&str> = plan.runs.iter().map(|r| r.run_id.as_str()).collect();
    assert_eq!(ids, vec!["run_newer", "run_older"]);
    let latest = &plan.runs[0];
    assert_eq!(
        latest.sets,
        vec![BIRTH_PLAN.to_string(), BIRTH_PLAN_EN.to_string()]
    );
    assert_eq!((latest.cases, latest.passed, latest.failed), (4, 3, 1));
    // Means of the two sets combine weighted by their scores: (3·40 + 60) / 4 = 45.
    assert_eq!(latest.means["chrf"].mean, 45.0);
    assert_eq!(latest.means["chrf"].n, 4);
    assert_eq!(latest.means["pass_rate"].mean, 0.75);
    assert_eq!(plan.runs[1].means["chrf"].mean, 30.0);

    assert_eq!(
        store.eval_history(1).await.expect("history")[0].runs.len(),
        1
    );
}

#[tokio::test]
async fn runs_are_stored_and_read_back_on_sqlite() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", tmp.path().join("eval.db").display());
    let store = Store::connect(&url, 2).await.expect("sqlite");
    runs_are_stored_with_their_history(&store).await;
    store.close().await;
}

#[tokio::test]
async fn runs_are_stored_and_read_back_on_postgresql() {
    let Some(base) = common::pg_url() else {
        return;
    };
    let db = common::fresh_pg_database(&base).await;
    let store = Store::connect(&db.url, 2).await.expect("postgres");
    runs_are_stored_with_their_history(&store).await;
    store.close().await;
}

#[tokio::test]
async fn eval_publish_writes_the_page_from_the_stored_runs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = tmp.path().join("eval.db");
    let url = format!("sqlite://{}", db.display());
    // The shipped configuration, on a database of its own.
    let shipped = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/powerbirth.toml"))
        .expect("shipped config");
    assert!(shipped.contains("url = \"sqlite://powerbirth.db\""));
    let config = tmp.path().join("powerbirth.toml");
    std::fs::write(
        &config,
        shipped.replace(
            "url = \"sqlite://powerbirth.db\"",
            &format!("url = \"{url}\""),
        ),
    )
    .expect("config");
    let page = tmp.path().join("docs/model-performance.md");
    let publish = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_powerbirth"))
            .arg("--config")
            .arg(&config)
            .args(["eval", "publish", "--out"])
            .arg(&page)
            .output()
            .expect("the binary runs")
    };

    // Before any run: the page says so, with no numbers.
    let out = publish();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let empty = std::fs::read_to_string(&page).expect("page");
    assert!(empty.contains("No eval runs are stored yet"), "{empty}");

    let store = Store::connect(&url, 2).await.expect("sqlite");
    let (older, newer) = stored_runs();
    store.save_eval_run(&older, None).await.expect("stored");
    store.save_eval_run(&newer, None).await.expect("stored");
    store.close().await;

    let out = publish();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&page).expect("page");
    assert!(text.contains("## `birth-plan`"), "{text}");
    assert!(
        text.contains("Latest run `run_newer` on 2026-11-27 00:00 · model `local-smollm2` · commit `0123456789ab` · 4 cases: 3 passed, 1 failed, 0 errored"),
        "{text}"
    );
    assert!(text.contains("| chrf | 45.00 | 4 |"), "{text}");
    assert!(text.contains("| pass_rate | 0.750 | 4 |"), "{text}");
    assert!(
        text.contains(
            "| 2024-02-29 12:34 | `local-smollm2` | `0123456789ab` | 4 | 1.000 | 30.00 |"
        ),
        "{text}"
    );
    assert!(text.contains("## Raw chat sets (no prompt)"), "{text}");
    // Publishing again without new runs changes nothing.
    assert!(publish().status.success());
    assert_eq!(std::fs::read_to_string(&page).expect("page"), text);
}
