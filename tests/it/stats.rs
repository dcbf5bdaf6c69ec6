//! `powerbirth::stats` equals its references (scipy, scikit-learn, Evidently 0.7) to 1e-9 on the
//! fixtures `scripts/stats-reference.py` writes into `tests/fixtures/stats/`.

use std::path::PathBuf;

use powerbirth::stats;
use serde_json::Value;

pub fn fixture(name: &str) -> Vec<Value> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/stats/{name}.json"));
    let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    v["cases"].as_array().unwrap().clone()
}

/// A fixture number: JSON numbers, or "nan" / "inf" / "-inf" as the script writes them.
pub fn num(v: &Value) -> f64 {
    match v {
        Value::String(s) => s.parse().unwrap(),
        other => other.as_f64().unwrap(),
    }
}

pub fn nums(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(num).collect()
}

/// Equal to 1e-9 absolute, or relative for numbers above 1 (U statistics run into millions);
/// NaN equals NaN.
#[track_caller]
pub fn assert_close(case: &str, what: &str, got: f64, want: f64, tol: f64) {
    let ok = (got.is_nan() && want.is_nan())
        || got == want
        || (got - want).abs() <= tol * want.abs().max(1.0);
    assert!(ok, "{case}: {what} = {got}, reference {want}");
}

#[test]
fn mann_whitney_equals_scipy_on_every_fixture() {
    let cases = fixture("mann_whitney");
    assert!(cases.len() >= 15);
    for c in &cases {
        let name = c["name"].as_str().unwrap();
        let r = stats::mann_whitney(&nums(&c["x"]), &nums(&c["y"])).unwrap();
        assert_close(name, "U1", r.statistic, num(&c["statistic"]), 1e-9);
        assert_close(name, "p", r.p_value, num(&c["p_value"]), 1e-9);
        let hl = stats::hodges_lehmann(&nums(&c["x"]), &nums(&c["y"]), 0.95).unwrap();
        assert_close(name, "HL", hl.estimate, num(&c["hl_estimate"]), 1e-12);
        assert_close(name, "HL low", hl.ci_low, num(&c["hl_low"]), 1e-12);
        assert_close(name, "HL high", hl.ci_high, num(&c["hl_high"]), 1e-12);
    }
}

#[test]
fn mann_whitney_takes_the_exact_path_only_for_small_samples_without_ties() {
    let small = stats::mann_whitney(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0, 7.0]).unwrap();
    assert_eq!(small.method, stats::MwuMethod::Exact);
    let tied = stats::mann_whitney(&[1.0, 2.0, 2.0], &[4.0, 5.0, 6.0, 7.0]).unwrap();
    assert_eq!(tied.method, stats::MwuMethod::Asymptotic);
    assert!(stats::mann_whitney(&[], &[1.0]).is_none());
    assert!(stats::mann_whitney(&[f64::NAN], &[1.0]).is_none());
}

#[test]
fn two_proportions_z_equals_evidently_on_every_fixture() {
    let cases = fixture("proportions_z");
    assert!(cases.len() >= 5);
    for c in &cases {
        let name = c["name"].as_str().unwrap();
        let count = |k: &str| c[k].as_u64().unwrap();
        let r = stats::two_proportions_z(
            count("successes1"),
            count("n1"),
            count("successes2"),
            count("n2"),
        )
        .unwrap();
        assert_close(name, "z", r.z, num(&c["z"]), 1e-9);
        assert_close(name, "p", r.p_value, num(&c["p_value"]), 1e-9);
    }
}

#[test]
fn ks_2samp_equals_scipy_on_every_fixture() {
    for c in &fixture("ks") {
        let name = c["name"].as_str().unwrap();
        let r = stats::ks_2samp(&nums(&c["x"]), &nums(&c["y"])).unwrap();
        assert_close(name, "D", r.statistic, num(&c["statistic"]), 1e-9);
        assert_close(name, "p", r.p_value, num(&c["p_value"]), 1e-9);
    }
}

/// A sample stored as its distinct values and their counts, expanded (values in order).
fn expanded(v: &Value) -> Vec<f64> {
    let counts = v["counts"].as_array().unwrap();
    nums(&v["values"])
        .into_iter()
        .zip(counts)
        .flat_map(|(x, c)| std::iter::repeat_n(x, c.as_u64().unwrap() as usize))
        .collect()
}

#[test]
fn ks_2samp_equals_scipy_up_to_twenty_thousand_values_on_every_kstwo_path() {
    let cases = fixture("ks_large");
    let paths: std::collections::BTreeSet<&str> =
        cases.iter().map(|c| c["path"].as_str().unwrap()).collect();
    for path in [
        "exact",
        "durbin",
        "pomeranz",
        "pelz_good",
        "smirnov",
        "zero",
        "ruben_gambino_low",
        "ruben_gambino_high",
    ] {
        assert!(paths.contains(path), "no fixture takes the {path} path");
    }
    for c in &cases {
        let name = c["name"].as_str().unwrap();
        let (x, y) = (expanded(&c["x"]), expanded(&c["y"]));
        assert_eq!(
            (x.len() as u64, y.len() as u64),
            (c["n1"].as_u64().unwrap(), c["n2"].as_u64().unwrap())
        );
        let r = stats::ks_2samp(&x, &y).unwrap();
        let method = if c["path"] == "exact" {
            "exact"
        } else {
            "asymptotic"
        };
        assert_eq!(r.method, method, "{name}");
        assert_close(name, "D", r.statistic, num(&c["statistic"]), 1e-9);
        assert_close(name, "p", r.p_value, num(&c["p_value"]), 1e-9);
    }
}

#[test]
fn wasserstein_equals_scipy_on_every_fixture() {
    for c in &fixture("wasserstein") {
        let name = c["name"].as_str().unwrap();
        let d = stats::wasserstein(&nums(&c["x"]), &nums(&c["y"])).unwrap();
        assert_close(name, "distance", d, num(&c["distance"]), 1e-9);
    }
}

#[test]
fn roc_auc_equals_scikit_learn_on_every_fixture() {
    for c in &fixture("auc") {
        let name = c["name"].as_str().unwrap();
        let labels: Vec<bool> = c["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64() == Some(1))
            .collect();
        let auc = stats::roc_auc(&labels, &nums(&c["scores"])).unwrap();
        assert_close(name, "auc", auc, num(&c["auc"]), 1e-9);
    }
}

#[test]
fn evidently_drift_tests_equal_evidently_on_every_fixture() {
    use stats::evidently::{self as ev, Sample};
    let cases = fixture("evidently_tests");
    assert!(cases.len() >= 6);
    for c in &cases {
        let name = c["name"].as_str().unwrap();
        let numeric = c["kind"] == "num";
        let (rn, cn) = if numeric {
            (nums(&c["reference"]), nums(&c["current"]))
        } else {
            (vec![], vec![])
        };
        let labels = |k: &str| -> Vec<String> {
            c[k].as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap_or_default().to_string())
                .collect()
        };
        let (rl, cl) = if numeric {
            (vec![], vec![])
        } else {
            (labels("reference"), labels("current"))
        };
        let (r, cur) = if numeric {
            (
                Sample::Numeric {
                    values: &rn,
                    integer: false,
                },
                Sample::Numeric {
                    values: &cn,
                    integer: false,
                },
            )
        } else {
            (Sample::Categorical(&rl), Sample::Categorical(&cl))
        };
        for (test, want) in c["expected"].as_object().unwrap() {
            let got = match test.as_str() {
                "psi" => ev::psi(r, cur),
                "jensenshannon" => ev::jensenshannon(r, cur),
                "chisquare" => ev::chisquare_test(r, cur),
                "z" => ev::z_test(r, cur),
                "ks" => ev::ks_test(&rn, &cn),
                "wasserstein" => ev::wasserstein_normed(&rn, &cn),
                other => panic!("unknown test {other}"),
            };
            assert_close(
                &format!("{name}/{test}"),
                "score",
                got.score,
                num(&want["score"]),
                1e-9,
            );
            assert_eq!(
                got.drift,
                want["drift"].as_bool().unwrap(),
                "{name}/{test}: drift"
            );
        }
    }
}
