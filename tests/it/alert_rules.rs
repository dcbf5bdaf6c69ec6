//! The alert rules (`deploy/prometheus/alerts.yml`) and the dashboard (`deploy/grafana/`) as an
//! operator relies on them: promtool accepts the rules and their unit tests pass, every alert has
//! a case that fires and one that does not, each says how bad it is and where its runbook is, and
//! every series they read is one the gateway exports today, or one that a named issue adds
//! (`PENDING_METRICS`, which shrinks as those land).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use powerbirth::core::now_ms;
use powerbirth::metering::{AlertsConfig, CostAlerts};

use crate::common::promql::{exported_names, series_names};
use crate::common::{Spawn, TestApp, chat, skip, spawn_app_with};
use crate::metering::support::{Bill, write_ledger};

/// Series the rules or the dashboard read that the gateway does not export yet, each with the
/// issue that adds it. When the app starts exporting one, its entry must go (a test says so).
const PENDING_METRICS: &[(&str, &str)] = &[];

/// Series that Prometheus makes, not the gateway: `up` for every scrape target and the blackbox
/// exporter's `probe_success` for the `/readyz` probe (docs/monitoring.md, "Alerts").
const PROMETHEUS_SERIES: &[&str] = &["up", "probe_success"];

const SEVERITIES: &[&str] = &["critical", "warning", "info"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn rules_path() -> PathBuf {
    root().join("deploy/prometheus/alerts.yml")
}

fn rule_tests_path() -> PathBuf {
    root().join("deploy/prometheus/tests/alerts_test.yml")
}

fn dashboard_path() -> PathBuf {
    root().join("deploy/grafana/powerbirth.json")
}

#[derive(Deserialize)]
struct RuleFile {
    groups: Vec<RuleGroup>,
}

#[derive(Deserialize)]
struct RuleGroup {
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
struct Rule {
    alert: Option<String>,
    expr: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

fn alert_rules() -> Vec<Rule> {
    let text = std::fs::read_to_string(rules_path()).unwrap();
    let file: RuleFile = serde_norway::from_str(&text).unwrap();
    file.groups.into_iter().flat_map(|g| g.rules).collect()
}

/// promtool: `POWERBIRTH_PROMTOOL`, else the first `promtool` on `PATH`. Missing means a skip
/// outside CI and a failure in CI (`make test` installs it with scripts/install-promtool.sh).
fn promtool() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("POWERBIRTH_PROMTOOL") {
        return Some(PathBuf::from(p));
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("promtool"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        skip("promtool is not installed (run scripts/install-promtool.sh)");
    }
    found
}

fn run_promtool(promtool: &Path, args: &[&str], file: &Path) {
    let out = Command::new(promtool)
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", promtool.display()));
    assert!(
        out.status.success(),
        "promtool {} {} failed:\n{}{}",
        args.join(" "),
        file.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn promtool_accepts_the_alert_rules_and_their_unit_tests_pass() {
    let Some(promtool) = promtool() else { return };
    run_promtool(&promtool, &["check", "rules"], &rules_path());
    run_promtool(&promtool, &["test", "rules"], &rule_tests_path());
}

#[test]
fn every_alert_has_a_unit_test_where_it_fires_and_one_where_it_does_not() {
    let text = std::fs::read_to_string(rule_tests_path()).unwrap();
    let tests: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    let (mut fires, mut silent) = (BTreeSet::new(), BTreeSet::new());
    for case in tests["tests"].as_sequence().unwrap() {
        for t in case["alert_rule_test"].as_sequence().unwrap() {
            let name = t["alertname"].as_str().unwrap().to_string();
            let expected = t["exp_alerts"].as_sequence().map_or(0, Vec::len);
            if expected > 0 {
                fires.insert(name);
            } else {
                silent.insert(name);
            }
        }
    }
    for rule in alert_rules() {
        let name = rule.alert.unwrap();
        assert!(fires.contains(&name), "no unit test where {name} fires");
        assert!(
            silent.contains(&name),
            "no unit test where {name} stays silent"
        );
    }
}

/// GitHub's anchor for a Markdown heading: lowercase, punctuation dropped, spaces to `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

#[test]
fn every_alert_says_its_severity_in_both_languages_and_links_a_runbook_that_exists() {
    let doc = std::fs::read_to_string(root().join("docs/monitoring.md")).unwrap();
    let anchors: BTreeSet<String> = doc
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|l| anchor(l.trim_start_matches('#')))
        .collect();
    let rules = alert_rules();
    assert!(rules.len() >= 9, "one rule per seed SLA and more");
    for rule in rules {
        let name = rule.alert.unwrap();
        let severity = rule.labels.get("severity").map(String::as_str);
        assert!(
            severity.is_some_and(|s| SEVERITIES.contains(&s)),
            "{name}: severity {severity:?} is not one of {SEVERITIES:?}"
        );
        assert!(
            rule.annotations
                .get("summary")
                .is_some_and(|s| !s.is_empty()),
            "{name}: no summary"
        );
        let description = rule.annotations.get("description").unwrap();
        let (pt, en) = (description.find("pt-BR:"), description.find("en:"));
        assert!(
            pt.is_some() && en.is_some() && pt < en,
            "{name}: the description is not pt-BR first, then English"
        );
        let runbook = rule.annotations.get("runbook_url").unwrap();
        let target = runbook.strip_prefix("docs/monitoring.md#");
        assert_eq!(
            target,
            Some(name.to_lowercase().as_str()),
            "{name}: runbook_url"
        );
        assert!(
            anchors.contains(target.unwrap()),
            "{name}: docs/monitoring.md has no heading for #{}",
            target.unwrap()
        );
    }
}

/// Every `expr` of every panel of the dashboard (rows' nested panels included), with its panel.
fn dashboard_queries() -> Vec<(String, String)> {
    fn walk(panels: &[serde_json::Value], out: &mut Vec<(String, String)>) {
        for p in panels {
            let title = p["title"].as_str().unwrap_or("").to_string();
            for t in p["targets"].as_array().into_iter().flatten() {
                out.push((title.clone(), t["expr"].as_str().unwrap().to_string()));
            }
            walk(p["panels"].as_array().map_or(&[], Vec::as_slice), out);
        }
    }
    let text = std::fs::read_to_string(dashboard_path()).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut out = Vec::new();
    walk(dashboard["panels"].as_array().unwrap(), &mut out);
    out
}

#[test]
fn the_dashboard_is_valid_json_and_its_queries_are_valid_promql() {
    let queries = dashboard_queries();
    assert!(queries.len() >= 10, "a panel per SLA series and more");
    let Some(promtool) = promtool() else { return };
    // promtool checks PromQL in rule files only: each query becomes a recording rule.
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (_, expr)) in queries.iter().enumerate() {
        rules.push_str(&format!(
            "      - record: dashboard:query_{i}\n        expr: {}\n",
            serde_json::to_string(expr).unwrap()
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dashboard_rules.yml");
    std::fs::write(&path, rules).unwrap();
    run_promtool(&promtool, &["check", "rules"], &path);
}

#[test]
fn the_series_reader_finds_series_and_ignores_labels_functions_and_keywords() {
    let names = series_names(
        r#"histogram_quantile(0.95, sum by (le, model_version) (rate(a_bucket{x=~"5..", y="}"}[5m])))
           / on(instance) group_left(job) b_total offset 1h > 0.3 and c unless max without (z) (d) > bool 1e9"#,
    );
    let expected: BTreeSet<String> = ["a_bucket", "b_total", "c", "d"].map(String::from).into();
    assert_eq!(names, expected);
}

/// The names the app exports once it has served a chat turn and its cost monitor has judged a
/// day (families without a sample are not in the exposition, so each gets one first).
async fn exported_after_traffic(app: &TestApp) -> BTreeSet<String> {
    // A chat turn: the request, latency, upstream and cost series get their first samples.
    let res = app
        .post("/v1/chat/completions", &chat("gpt-echo", "Olá"))
        .await;
    assert_eq!(res.status(), 200);
    // The cost monitor's check over a ledger with a 25% rise: the change-ratio gauge is set.
    const H: i64 = 3_600_000;
    let now = now_ms();
    let bills: Vec<Bill> = (0..4)
        .map(|i| Bill::new("gpt-echo", now - 30 * H + i, "0.001"))
        .chain((0..4).map(|i| Bill::new("gpt-echo", now - H + i, "0.00125")))
        .collect();
    write_ledger(&app.store, &bills).await;
    let cfg = AlertsConfig {
        min_messages: 4,
        ..AlertsConfig::default()
    };
    CostAlerts::new(&app.metering, cfg)
        .unwrap()
        .check_at(now)
        .await
        .unwrap();
    risk_traffic_with_outcomes(app).await;
    exported_names(&app.metrics_text().await)
}

/// Risk answers (the request histogram gets samples) and their outcomes, then a wait for the
/// quality job (every second here) to publish the weekly AUC of the version that answered.
async fn risk_traffic_with_outcomes(app: &TestApp) {
    for (body, label) in crate::risk::log::labelled_requests(12) {
        let res = app.post("/v1/risk/obstetric", &body).await;
        assert_eq!(res.status(), 200);
        let answer: serde_json::Value = res.json().await.unwrap();
        let outcome =
            serde_json::json!({"prediction_id": answer["prediction_id"], "outcome": label});
        app.settle().await;
        let res = app.post("/v1/risk/outcomes", &outcome).await;
        assert_eq!(res.status(), 200);
    }
    for _ in 0..100 {
        if app.metrics_text().await.contains("powerbirth_model_auc{") {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the quality job published no AUC for the answered and labelled predictions");
}

/// The app serving a risk model whose training reference the daily drift job compares with
/// predictions already logged (so its start-up run reports drift), and the folder it reports in.
async fn app_with_a_drift_report() -> (TestApp, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let (store, url, _) = crate::monitor_risk::fresh_store(tmp.path()).await;
    crate::monitor_risk::seed_drift(&store, now_ms()).await;
    store.close().await;
    let models = tmp.path().join("models");
    crate::monitor_risk::registry_with_reference(&models).await;
    let extra = format!(
        "\n[risk]\nmodels_dir = \"{}\"\nquality_interval_s = 1\n\n[drift]\ndir = \"{}\"\n",
        models.display(),
        tmp.path().join("drift").display()
    );
    let app = spawn_app_with(Spawn {
        db_url: Some(url),
        extra_toml: extra,
        ..Spawn::default()
    })
    .await;
    // The job runs at start-up, in the background: wait for its gauges.
    for _ in 0..200 {
        if app
            .metrics_text()
            .await
            .contains("powerbirth_drift_dataset_drift{")
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    (app, tmp)
}

#[tokio::test]
async fn every_series_the_alerts_and_the_dashboard_read_is_exported_or_pending() {
    let (mut app, _dir) = app_with_a_drift_report().await;
    let exported = exported_after_traffic(&app).await;
    let text = app.metrics_text().await;
    app.shutdown().await;
    assert!(
        exported.contains("powerbirth_cost_per_message_change_ratio"),
        "the cost monitor set no gauge: {exported:?}"
    );
    assert!(
        text.lines()
            .any(|l| l == r#"powerbirth_drift_dataset_drift{model="risk",window="24h"} 1"#),
        "the drift job reported no dataset drift on a day of shifted predictions:\n{text}"
    );

    let pending: BTreeMap<&str, &str> = PENDING_METRICS.iter().copied().collect();
    let mut used = BTreeMap::<String, String>::new();
    for rule in alert_rules() {
        for name in series_names(&rule.expr) {
            used.insert(name, format!("alert {}", rule.alert.clone().unwrap()));
        }
    }
    for (panel, expr) in dashboard_queries() {
        for name in series_names(&expr) {
            used.insert(name, format!("dashboard panel {panel:?}"));
        }
    }
    for (name, user) in &used {
        assert!(
            exported.contains(name)
                || pending.contains_key(name.as_str())
                || PROMETHEUS_SERIES.contains(&name.as_str()),
            "{user} reads {name}, which the gateway does not export and PENDING_METRICS does not list"
        );
    }
    for (name, issue) in &pending {
        assert!(
            !exported.contains(*name),
            "{name} is exported now ({issue}): remove it from PENDING_METRICS"
        );
        assert!(
            used.contains_key(*name),
            "{name} is in PENDING_METRICS but no alert or panel reads it"
        );
    }
}
