//! `powerbirth eval score` as an operator runs it: the real binary on files of segments, its JSON
//! compared with the numbers sacreBLEU, rouge-score and the reference MiniLM forward pass give
//! for the same files (`tests/fixtures/metrics/`, made by `scripts/metrics-reference.py`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/metrics")
}

/// A configuration the command line accepts; `eval score` itself reads nothing from it.
fn config_in(dir: &Path) -> PathBuf {
    let path = dir.join("powerbirth.toml");
    let text = format!(
        "[database]\nurl = \"sqlite://{}\"\n\n[[models]]\nname = \"m\"\nprovider = \"openai\"\napi_base = \"http://127.0.0.1:9/v1\"\nprice = \"free\"\n",
        dir.join("score.db").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn score(dir: &Path, metric: &str, hyps: &Path, refs: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_powerbirth"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("--config")
        .arg(config_in(dir))
        .args(["eval", "score", "--metric", metric, "--hyps"])
        .arg(hyps)
        .arg("--refs")
        .arg(refs)
        .args(extra)
        .output()
        .unwrap()
}

fn stdout_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn stderr(out: &Output) -> String {
    assert!(!out.status.success(), "expected a failure");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts the printed object equals the reference object for `metric`, to `tolerance`.
fn assert_matches_reference(printed: &Value, metric: &str, tolerance: f64) {
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("expected.json")).unwrap())
            .unwrap();
    let want = &expected[metric];
    assert_eq!(printed["metric"], metric);
    let close = |a: &Value, b: &Value| {
        (a.as_f64().expect("a number") - b.as_f64().expect("a number")).abs() <= tolerance
    };
    assert!(
        close(&printed["corpus"], &want["corpus"]),
        "{metric} corpus: printed {}, reference {}",
        printed["corpus"],
        want["corpus"]
    );
    let (got, want) = (
        printed["segments"].as_array().expect("segments"),
        want["segments"].as_array().unwrap(),
    );
    assert_eq!(got.len(), want.len(), "{metric}: one score per line");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            close(g, w),
            "{metric} line {}: printed {g}, reference {w}",
            i + 1
        );
    }
}

#[test]
fn bleu_chrf_and_rouge_l_print_the_reference_numbers_for_the_fixture() {
    let dir = tempfile::tempdir().unwrap();
    let (hyps, refs) = (fixtures().join("hyps.txt"), fixtures().join("refs.txt"));
    for metric in ["bleu", "chrf", "rouge-l"] {
        let out = score(dir.path(), metric, &hyps, &refs, &[]);
        assert_matches_reference(&stdout_json(&out), metric, 1e-6);
    }
}

#[test]
fn the_output_is_one_line_with_metric_corpus_and_segments_in_that_order() {
    let dir = tempfile::tempdir().unwrap();
    let (hyps, refs) = (dir.path().join("h.txt"), dir.path().join("r.txt"));
    std::fs::write(&hyps, "Vá agora à maternidade.\n\n").unwrap();
    std::fs::write(&refs, "Vá agora à maternidade.\nLigue 192.\n").unwrap();
    let out = score(dir.path(), "rouge-l", &hyps, &refs, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "{\"metric\":\"rouge-l\",\"corpus\":0.5,\"segments\":[1.0,0.0]}\n"
    );
}

#[test]
fn similarity_prints_the_reference_cosines_with_the_default_model_folder() {
    let dir = tempfile::tempdir().unwrap();
    let (hyps, refs) = (fixtures().join("hyps.txt"), fixtures().join("refs.txt"));
    let out = score(dir.path(), "similarity", &hyps, &refs, &[]);
    assert_matches_reference(&stdout_json(&out), "similarity", 1e-5);
}

#[test]
fn windows_line_endings_give_the_same_scores() {
    let dir = tempfile::tempdir().unwrap();
    let crlf = |name: &str| {
        let text = std::fs::read_to_string(fixtures().join(name)).unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text.replace('\n', "\r\n")).unwrap();
        path
    };
    let (hyps, refs) = (crlf("hyps.txt"), crlf("refs.txt"));
    let out = score(dir.path(), "chrf", &hyps, &refs, &[]);
    assert_matches_reference(&stdout_json(&out), "chrf", 1e-6);
}

#[test]
fn files_with_different_line_counts_are_refused_with_both_counts() {
    let dir = tempfile::tempdir().unwrap();
    let hyps = dir.path().join("hyps.txt");
    let refs = dir.path().join("refs.txt");
    std::fs::write(&hyps, "um\ndois\ntrês\n").unwrap();
    std::fs::write(&refs, "um\ndois\n").unwrap();
    let err = stderr(&score(dir.path(), "bleu", &hyps, &refs, &[]));
    assert!(
        err.contains("hyps.txt has 3 lines") && err.contains("refs.txt has 2"),
        "{err}"
    );
}

#[test]
fn a_missing_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let refs = dir.path().join("refs.txt");
    std::fs::write(&refs, "um\n").unwrap();
    let missing = dir.path().join("nao-existe.txt");
    let err = stderr(&score(dir.path(), "chrf", &missing, &refs, &[]));
    assert!(
        err.contains("cannot read") && err.contains("nao-existe.txt"),
        "{err}"
    );
}

#[test]
fn invalid_utf8_names_the_file_and_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let hyps = dir.path().join("hyps.txt");
    let refs = dir.path().join("refs.txt");
    std::fs::write(&hyps, "boa\nsa\u{fa}de\n").unwrap();
    // Latin-1 "saúde" on line 2: 0xFA is not UTF-8.
    std::fs::write(&refs, b"boa\nsa\xfade\n").unwrap();
    let err = stderr(&score(dir.path(), "rouge-l", &hyps, &refs, &[]));
    assert!(err.contains("refs.txt: line 2: not valid UTF-8"), "{err}");
}

#[test]
fn empty_files_and_a_missing_similarity_model_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    let err = stderr(&score(dir.path(), "bleu", &empty, &empty, &[]));
    assert!(err.contains("nothing to score"), "{err}");

    let one = dir.path().join("one.txt");
    std::fs::write(&one, "oi\n").unwrap();
    let err = stderr(&score(
        dir.path(),
        "similarity",
        &one,
        &one,
        &["--model-dir", "/nonexistent/minilm"],
    ));
    assert!(
        err.contains("/nonexistent/minilm") && err.contains("--model-dir"),
        "{err}"
    );
}

#[test]
fn an_unknown_metric_lists_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("one.txt");
    std::fs::write(&one, "oi\n").unwrap();
    let err = stderr(&score(dir.path(), "meteor", &one, &one, &[]));
    assert!(
        err.contains("bleu") && err.contains("chrf") && err.contains("rouge-l"),
        "{err}"
    );
}

/// The metric files the differential fuzz exercises, as `scripts/metrics-reference.py` lists them.
const FUZZED_SOURCES: [&str; 4] = [
    "src/eval/metrics/mod.rs",
    "src/eval/metrics/bleu.rs",
    "src/eval/metrics/chrf.rs",
    "src/eval/metrics/rouge.rs",
];

/// The differential fuzz (`scripts/metrics-reference.py --fuzz`, sacreBLEU and rouge-score on
/// random Unicode text against the built binary) needs its Python environment, so `make test`
/// does not run it; a clean run records what it checked, and this test holds the record to the
/// code: when a metric file changes, the fuzz must be run again and its record committed.
#[test]
fn the_differential_fuzz_of_the_metrics_ran_clean_on_the_current_code() {
    use sha2::{Digest, Sha256};
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let record: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("fuzz-record.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(record["sources"], serde_json::json!(FUZZED_SOURCES));
    let mut hash = Sha256::new();
    for rel in FUZZED_SOURCES {
        hash.update(rel.as_bytes());
        hash.update(b"\0");
        hash.update(std::fs::read(root.join(rel)).unwrap());
        hash.update(b"\0");
    }
    assert_eq!(
        record["sources_sha256"].as_str().unwrap(),
        hex::encode(hash.finalize()),
        "the metric code changed after the last differential fuzz run: run `{}` (see \
         docs/metrics.md) and commit tests/fixtures/metrics/fuzz-record.json",
        record["command"].as_str().unwrap()
    );
    assert_eq!(record["mismatches"], 0);
    assert_eq!(
        record["metrics"],
        serde_json::json!(["bleu", "chrf", "rouge-l"])
    );
    assert!(record["seeds"].as_array().unwrap().len() >= 8, "{record}");
    assert!(
        record["pairs_per_seed"].as_u64().unwrap() >= 400,
        "{record}"
    );
    assert!(record["tolerance"].as_f64().unwrap() <= 1e-9, "{record}");
}
