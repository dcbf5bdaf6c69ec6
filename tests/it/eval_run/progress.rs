//! What a person (or CI's log) sees while `eval run` works: plain progress lines on stderr when it
//! is not a terminal, a line for each failing case as it finishes, and stdout left to the summary;
//! and `--concurrency` changing only how fast, never the results.

use super::*;

/// Two 300 ms cases, one failing, at one case at a time with a 0.1 s progress period: the
/// periodic lines come while a case is still running.
const SLOW_SET: &str = r#"
[[cases]]
id = "echoes"
input = "Olá"
assert = [{ type = "contains", value = "echo: Olá" }]

[[cases]]
id = "wants-what-is-not-there"
input = "Olá de novo"
assert = [{ type = "contains", value = "maternidade" }, { type = "contains", value = "echo" }, { type = "icontains", value = "PARTO" }]
"#;

#[tokio::test(flavor = "multi_thread")]
async fn plain_progress_lines_and_each_failing_case_reach_stderr_and_stdout_keeps_the_summary() {
    let upstream = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &upstream, "");
    std::fs::write(dir.path().join("slow.toml"), SLOW_SET).unwrap();
    let out = eval_run(
        dir.path(),
        &config,
        &[
            "--evalset",
            "slow.toml",
            "--model",
            "gpt-medium",
            "--concurrency",
            "1",
        ],
        &[("POWERBIRTH_PROGRESS_SECS", "0.1")],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let at = |pred: &dyn Fn(&str) -> bool| {
        lines
            .iter()
            .position(|l| pred(l))
            .unwrap_or_else(|| panic!("no such line:\n{}", text(&out)))
    };
    assert!(
        stderr.contains("eval: 1 set(s), 2 case(s), model `gpt-medium`, 1 at once"),
        "{stderr}"
    );
    // Before any case finished, only the period can have printed a line.
    let waiting = at(&|l| l.starts_with("eval: 0/2 cases, ") && l.contains(" elapsed"));
    let failed = at(&|l| {
        l == "eval: FAILED slow.toml wants-what-is-not-there: contains: the answer does not contain \"maternidade\" (+1 more)"
    });
    let counted = at(&|l| l.starts_with("eval: 2/2 cases, 1 passed, 1 failed, "));
    let last = at(&|l| l.starts_with("eval: 2/2 cases, 1 passed, 1 failed, done in "));
    assert!(
        waiting < failed && failed < counted && counted <= last,
        "{stderr}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("eval: 1/2 cases, 1 passed, 0 failed, ") && l.contains(" ETA ")),
        "{stderr}"
    );
    // stdout is the summary only, as before.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: Vec<&str> = stdout.lines().collect();
    assert_eq!(summary.len(), 2, "{stdout}");
    assert_eq!(summary[0], "slow.toml: 1 passed, 1 failed, 0 errored");
    assert!(summary[1].contains(" written to "), "{stdout}");
}

/// A metrics.json without what differs between any two runs (ids, times, latencies).
pub(super) fn comparable(mut m: Value) -> Value {
    for key in ["run_id", "started_at", "git_sha"] {
        m.as_object_mut().unwrap().remove(key);
    }
    for set in m["sets"].as_array_mut().unwrap() {
        for case in set["cases"].as_array_mut().unwrap() {
            case.as_object_mut().unwrap().remove("latency_ms");
        }
    }
    m
}

#[tokio::test(flavor = "multi_thread")]
async fn the_results_are_the_same_at_any_concurrency_and_in_the_sets_order() {
    let upstream = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &upstream, "");
    let mut set = String::new();
    for i in 0..8 {
        set.push_str(&format!(
            "[[cases]]\nid = \"case-{i}\"\ninput = \"pergunta {i}\"\nassert = [{{ type = \"contains\", value = \"echo: pergunta {}\" }}]\n\n",
            i % 3
        ));
    }
    std::fs::write(dir.path().join("many.toml"), set).unwrap();
    let mut runs = Vec::new();
    for n in ["1", "4"] {
        let out = eval_run(
            dir.path(),
            &config,
            &["--evalset", "many.toml", "--concurrency", n],
            &[],
        )
        .await;
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        runs.push(comparable(metrics(&out)));
    }
    assert_eq!(runs[0], runs[1]);
    let ids: Vec<&str> = runs[0]["sets"][0]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, (0..8).map(|i| format!("case-{i}")).collect::<Vec<_>>());
    assert_eq!(runs[0]["sets"][0]["aggregates"]["pass_rate"], 0.375);

    let out = eval_run(
        dir.path(),
        &config,
        &["--evalset", "many.toml", "--concurrency", "0"],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--concurrency"),
        "{}",
        text(&out)
    );
}
