//! Each assertion type on a real answer, judges that answer garbage, failed model calls, bad eval
//! sets, and the regression gate against a baseline.

use super::*;

/// One real run of the binary over a set with every assertion type; long because starting the
/// binary (and its models) once per assertion type would cost seconds each, and the stored run
/// is checked against that same run's files.
#[tokio::test(flavor = "multi_thread")]
async fn each_assertion_type_passes_and_fails_on_the_answer_and_the_run_is_written_and_stored() {
    let upstream = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &upstream, "");
    std::fs::write(dir.path().join("chat.toml"), RAW_SET).unwrap();

    let out = eval_run(dir.path(), &config, &["--evalset", "chat.toml"], &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let m = metrics(&out);
    assert_eq!(m["model"], "gpt-echo");
    assert_eq!(m["temperature"], 0.0);
    assert_eq!(m["sets"][0]["file"], "chat.toml");

    let passing = case(&m, "every-check-passes");
    assert_eq!(passing["status"], "passed", "{passing:#}");
    assert!(verdicts(passing).iter().all(|(_, ok)| *ok), "{passing:#}");
    assert_eq!(passing["completion_tokens"], 7);
    let judged = passing["assertions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["type"] == "judge")
        .unwrap();
    assert_eq!(judged["score"], 4.0);
    assert_eq!(judged["rubric"], "friendly_tone");

    let failing = case(&m, "some-checks-fail");
    assert_eq!(failing["status"], "failed");
    assert_eq!(
        verdicts(failing),
        [
            ("contains".to_string(), true),
            ("contains".to_string(), false),
            ("language".to_string(), false),
            ("max-tokens".to_string(), false),
            ("escalated".to_string(), false),
            ("chrf".to_string(), false),
            ("judge".to_string(), false),
        ]
    );

    let escalated = case(&m, "danger-sign-escalates");
    assert_eq!(escalated["status"], "passed", "{escalated:#}");
    assert_eq!(escalated["guard_decision"], "escalate");
    let blocked = case(&m, "dose-question-is-blocked");
    assert_eq!(blocked["status"], "passed", "{blocked:#}");
    assert_eq!(blocked["guard_decision"], "block");
    assert_eq!(blocked["cost_usd"], "0");

    // Four cases, one blocked by the guard (no model call), and two judge calls.
    assert_eq!(upstream.calls(), 3 + 2);
    let aggregates = &m["sets"][0]["aggregates"];
    assert_eq!(aggregates["pass_rate"], 0.75, "{aggregates:#}");
    assert!(aggregates["judge:friendly_tone"] == 4.0, "{aggregates:#}");

    let dir_out = run_dir(&out);
    let junit = std::fs::read_to_string(dir_out.join("junit.xml")).unwrap();
    assert!(junit.contains("some-checks-fail"), "{junit}");
    let report = std::fs::read_to_string(dir_out.join("report.md")).unwrap();
    assert!(report.contains("some-checks-fail"), "{report}");

    // The run is in the database, and its turns are in the message log under the eval key.
    let store = powerbirth::store::Store::connect(
        &format!("sqlite://{}", dir.path().join("eval.db").display()),
        1,
    )
    .await
    .unwrap();
    let runs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM eval_runs WHERE id = $1")
        .bind(m["run_id"].as_str().unwrap())
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(runs, 1);
    let logged: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM conversations WHERE key_id = 'eval'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(logged, 4);
    // An escalated test case is nobody in danger: it never reaches the urgent review queue.
    let urgent: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE key_id = 'eval' AND urgent <> 0")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(urgent, 0);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_judge_that_answers_garbage_errors_the_case_and_never_passes_it() {
    let upstream = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &upstream, "");
    std::fs::write(
        dir.path().join("judged.toml"),
        "[[cases]]\nid = \"judged\"\ninput = \"Olá, tudo bem?\"\nassert = [{ type = \"contains\", value = \"echo\" }, { type = \"judge\", rubric = \"friendly_tone\", threshold = 1 }]\n",
    )
    .unwrap();
    let out = eval_run(
        dir.path(),
        &config,
        &["--evalset", "judged.toml"],
        &[("POWERBIRTH_EVAL__JUDGE_MODEL", "gpt-judge-garbage")],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let m = metrics(&out);
    let c = case(&m, "judged");
    assert_eq!(c["status"], "errored", "{c:#}");
    let judge = &c["assertions"][1];
    assert_eq!(judge["passed"], false);
    assert_eq!(judge["errored"], true);
    assert!(
        judge["detail"]
            .as_str()
            .unwrap()
            .contains("I would rather not grade this answer."),
        "{judge:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_case_whose_model_call_fails_is_errored_not_passed() {
    let upstream = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &upstream, "");
    std::fs::write(
        dir.path().join("down.toml"),
        "[[cases]]\nid = \"no-answer\"\nrequired = true\ninput = \"Olá\"\nassert = [{ type = \"not-contains\", value = \"x\" }]\n",
    )
    .unwrap();
    let out = eval_run(
        dir.path(),
        &config,
        &["--evalset", "down.toml", "--model", "gpt-down-alone"],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let m = metrics(&out);
    let c = case(&m, "no-answer");
    assert_eq!(c["status"], "errored");
    assert!(
        c["error"].as_str().unwrap().contains("503"),
        "the upstream's failure is reported: {c:#}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("0 passed, 0 failed, 1 errored"),
        "{}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_eval_sets_fail_with_file_case_and_reason_before_any_model_call() {
    let upstream = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &upstream, "");
    std::fs::create_dir_all(dir.path().join("sets")).unwrap();
    std::fs::write(
        dir.path().join("sets/unknown-prompt.toml"),
        "prompt = \"no-such-prompt\"\n[[cases]]\nid = \"a\"\ninput = \"oi\"\nassert = [{ type = \"escalated\" }]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("sets/bad-cases.toml"),
        "prompt = \"preeclampsia-alert\"\n\n[[cases]]\nid = \"typo\"\ninput = \"oi\"\nassert = [{ type = \"containz\", value = \"x\" }]\n\n[[cases]]\nid = \"no-ref\"\ninput = \"oi\"\nassert = [{ type = \"similarity\", threshold = 0.5 }]\n\n[[cases]]\nid = \"bad-var\"\ninput = \"oi\"\nvars = { gestational_week = 60 }\nassert = [{ type = \"escalated\" }]\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("sets/good.toml"), RAW_SET).unwrap();

    let out = eval_run(dir.path(), &config, &["--evalset", "sets"], &[]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "sets/unknown-prompt.toml: unknown prompt `no-such-prompt`",
        "sets/bad-cases.toml: case typo: assert #1: unknown assertion type `containz`",
        "sets/bad-cases.toml: case no-ref: assertion `similarity` compares with a `reference`",
        "sets/bad-cases.toml: case bad-var: vars: `gestational_week` is 60, above the maximum 42",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in\n{stderr}"
        );
    }
    assert_eq!(upstream.calls(), 0, "no model was called");
    assert!(!dir.path().join("out").exists(), "nothing was written");

    let out = eval_run(
        dir.path(),
        &config,
        &["--model", "gpt-nope", "--evalset", "sets/good.toml"],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("model `gpt-nope` is not configured"));
    assert_eq!(upstream.calls(), 0);

    // A configuration eval cannot use is "cannot run" too, not a regression.
    let broken = dir.path().join("broken.toml");
    std::fs::write(
        &broken,
        "[eval]
concurrency = 0
",
    )
    .unwrap();
    let out = eval_run(dir.path(), &broken, &["--evalset", "sets/good.toml"], &[]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[eval] concurrency"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_required_case_that_stops_passing_is_a_regression_against_the_baseline() {
    let upstream = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &upstream, "");
    let set = |input: &str| {
        format!(
            "[[cases]]\nid = \"walks\"\nrequired = true\ninput = \"{input}\"\nassert = [{{ type = \"icontains\", value = \"caminhar\" }}]\n"
        )
    };
    std::fs::write(dir.path().join("walk.toml"), set("Posso caminhar?")).unwrap();
    let base = eval_run(dir.path(), &config, &["--evalset", "walk.toml"], &[]).await;
    assert_eq!(base.status.code(), Some(0), "{}", text(&base));
    let baseline = run_dir(&base).join("metrics.json");

    let same = eval_run(
        dir.path(),
        &config,
        &[
            "--evalset",
            "walk.toml",
            "--baseline",
            baseline.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_eq!(same.status.code(), Some(0), "{}", text(&same));

    std::fs::write(dir.path().join("walk.toml"), set("Posso correr?")).unwrap();
    let worse = eval_run(
        dir.path(),
        &config,
        &[
            "--evalset",
            "walk.toml",
            "--baseline",
            baseline.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_eq!(worse.status.code(), Some(1), "{}", text(&worse));
    assert!(String::from_utf8_lossy(&worse.stdout).contains("regression"));
}
