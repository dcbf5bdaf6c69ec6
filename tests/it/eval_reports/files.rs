//! The three files of a run: metrics.json read back as a baseline, junit.xml through an XML
//! parser, report.md as a pull-request comment; and a baseline that is not a metrics file.

use super::*;

#[test]
fn the_outputs_land_in_a_folder_named_by_the_run() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (now, out) = write_compared(tmp.path());
    assert_eq!(out, tmp.path().join(&now.run_id));
    for name in ["metrics.json", "report.md", "junit.xml"] {
        assert!(out.join(name).is_file(), "{name} missing");
    }
}

#[test]
fn metrics_json_reads_back_as_the_run_and_carries_the_comparison() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (now, out) = write_compared(tmp.path());
    // Any run's metrics.json can be the next run's baseline.
    let back = report::read_metrics(&out.join("metrics.json")).expect("reads back");
    assert_eq!(back, now);

    let raw: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).expect("read"))
            .expect("json");
    assert_eq!(raw["git_sha"], "0123456789abcdef0123456789abcdef01234567");
    assert_eq!(raw["comparison"]["baseline_run_id"], "run_base");
    let plan = raw["comparison"]["sets"]
        .as_array()
        .expect("sets")
        .iter()
        .find(|s| s["file"] == BIRTH_PLAN)
        .expect("birth-plan compared");
    assert_eq!(plan["required_regressions"][0]["id"], "bp-0");
    let chrf = plan["metrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .find(|m| m["metric"] == "chrf")
        .expect("chrf compared");
    assert_eq!(chrf["verdict"], "regression");
    assert_eq!(chrf["paired"], 9, "the errored case is not paired");
}

#[test]
fn the_gate_counts_the_required_case_and_the_chrf_drop_and_nothing_in_the_healthy_set() {
    let (baseline, now) = baseline_and_regressed();
    let c = compare::compare(&baseline, &now);
    let plan = c.sets.iter().find(|s| s.file == BIRTH_PLAN).expect("plan");
    let healthy = c.sets.iter().find(|s| s.file == POSTPARTUM).expect("pp");
    assert_eq!(healthy.regressions(), 0);
    assert_eq!(plan.required_regressions.len(), 1);
    let chrf = plan
        .metrics
        .iter()
        .find(|m| m.metric == "chrf")
        .expect("chrf");
    assert_eq!(chrf.verdict, Verdict::Regression);
    assert_eq!((chrf.delta, chrf.ci_low, chrf.ci_high), (-5.0, -5.0, -5.0));
    // One case of nine went from pass to fail: over the 0.05 tolerance, but carried by one case.
    let pass_rate = plan
        .metrics
        .iter()
        .find(|m| m.metric == "pass_rate")
        .expect("pass rate");
    assert_eq!(pass_rate.verdict, Verdict::WithinNoise);
    assert_eq!(c.regressions(), 2);
}

#[test]
fn junit_xml_parses_with_one_suite_per_set_and_escapes_what_models_write() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_, out) = write_compared(tmp.path());
    let xml = std::fs::read_to_string(out.join("junit.xml")).expect("read");
    let suites: JunitSuites = quick_xml::de::from_str(&xml).expect("junit.xml is valid XML");

    assert_eq!((suites.tests, suites.failures, suites.errors), (16, 1, 1));
    let names: Vec<&str> = suites.suites.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec![POSTPARTUM, BIRTH_PLAN]);
    let plan = &suites.suites[1];
    assert_eq!(plan.tests, 10);

    let required = &plan.cases[0];
    assert_eq!(required.name, "bp-0 [required]");
    assert_eq!(required.classname, BIRTH_PLAN);
    assert_eq!(required.time, "1.500");
    let failure = required.failure.as_ref().expect("a failure element");
    assert_eq!(failure.message, "1 of 3 assertions failed");
    // The parser gives back exactly what was reported: escaping lost nothing.
    assert_eq!(
        failure.text,
        r#"not-contains: found "garant" in <answer> & 'more'"#
    );
    assert_eq!(
        required.system_out.as_deref(),
        Some("Garanto um parto sem dor\u{FFFD}. <b>Confie</b> & relaxe ]]>")
    );

    let errored = &plan.cases[9];
    let error = errored.error.as_ref().expect("an error element");
    assert_eq!(error.message, "upstream 503: model overloaded");
    assert!(errored.failure.is_none() && errored.system_out.is_none());
    assert!(
        plan.cases[1..9]
            .iter()
            .all(|c| c.failure.is_none() && c.error.is_none())
    );
}

#[test]
fn report_md_puts_regressions_first_and_keeps_model_text_inert() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_, out) = write_compared(tmp.path());
    let md = std::fs::read_to_string(out.join("report.md")).expect("read");

    assert!(md.starts_with(COMMENT_MARKER), "{md}");
    assert!(md.contains("PowerBirth eval: 2 regressions"), "{md}");
    assert!(md.contains("commit `0123456789ab`"), "{md}");
    assert!(
        md.contains("Prompts: every prompt this run rendered is identical to the baseline's."),
        "{md}"
    );
    // The set with regressions comes first although the run listed it second.
    let plan = md
        .find(&format!("### `{BIRTH_PLAN}`"))
        .expect("plan section");
    let healthy = md.find(&format!("### `{POSTPARTUM}`")).expect("pp section");
    assert!(plan < healthy, "{md}");
    assert!(md.contains("— 2 regressions"), "{md}");
    assert!(
        md.contains("- required case `bp-0` passed in the baseline and fails now"),
        "{md}"
    );
    assert!(
        md.contains(
            "| `chrf` | 40.00 | 35.00 | -5.000 | [-5.000, -5.000] | 9 | 2.000 | ❌ regression |"
        ),
        "{md}"
    );
    assert!(
        md.contains(
            "| `pass_rate` | 1.000 | 0.889 | -0.111 | [-0.333, 0.000] | 9 | 0.050 | within noise |"
        ),
        "{md}"
    );
    // Within a set's table, the regression row comes before the others.
    assert!(md.find("| `chrf` |") < md.find("| `pass_rate` |"), "{md}");
    // Failing cases: the failed assertion and an excerpt of the answer, with no live HTML.
    assert!(md.contains("- `bp-0` (required): failed"), "{md}");
    assert!(
        md.contains("  - `not-contains` failed: found \"garant\" in &lt;answer&gt; &amp; 'more'"),
        "{md}"
    );
    assert!(
        md.contains(
            "  > Garanto um parto sem dor. &lt;b&gt;Confie&lt;/b&gt; &amp; relaxe \\]\\]&gt;\n"
        ),
        "{md}"
    );
    assert!(!md.contains("<b>"), "{md}");
    assert!(
        md.contains("- `bp-9`: errored: upstream 503: model overloaded"),
        "{md}"
    );
    assert_eq!(md.matches(COMMENT_MARKER).count(), 1);
}

#[test]
fn a_run_without_baseline_reports_its_means_and_no_verdict_on_regressions() {
    let (_, now) = baseline_and_regressed();
    let md = report::markdown(&now, None);
    assert!(md.contains("PowerBirth eval: no baseline"), "{md}");
    assert!(md.contains("| `chrf` | 35.00 |"), "{md}");
    assert!(!md.contains("regression"), "{md}");
}

#[test]
fn a_baseline_that_is_not_a_metrics_file_is_refused_with_its_place() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let bad = tmp.path().join("metrics.json");
    std::fs::write(&bad, "{\n  \"run_id\": \"x\",\n  \"sets\": 3\n}\n").expect("write");
    let err = report::read_metrics(&bad).expect_err("refused").to_string();
    assert!(err.starts_with(&bad.display().to_string()), "{err}");
    assert!(err.contains("line "), "{err}");

    let missing = tmp.path().join("nope.json");
    let err = report::read_metrics(&missing)
        .expect_err("refused")
        .to_string();
    assert!(err.contains("nope.json"), "{err}");
}
