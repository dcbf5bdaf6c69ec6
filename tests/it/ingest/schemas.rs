//! The schema files in `data/schemas/` and the Rust validation (`ingest::event`) say the same:
//! a real JSON Schema validator (python-jsonschema, pinned, with its date-time checker) judges
//! the same events as the code, and the free-text rules the files state are the ones the code
//! applies.

use std::path::Path;
use std::process::Command;

use powerbirth::ingest::event::{self, EventKind, FREE_TEXT, FreeText};
use serde_json::{Value, json};

fn schema(kind: EventKind) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/schemas")
        .join(format!("{}.json", kind.as_str()));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn env(kind: &str, at: &str, payload: Value) -> Value {
    json!({"event": kind, "schema_version": 1, "patient_id": "p", "occurred_at": at, "payload": payload})
}

/// Events on both sides of every rule.
fn cases() -> Vec<Value> {
    let t = "2026-12-07T10:00:00Z";
    let mut cases = vec![
        env("measurement", t, json!({})),
        env(
            "measurement",
            "2026-12-07T07:00:00.5-03:00",
            json!({"systolic_bp_mmhg": 120, "note": "x"}),
        ),
        env(
            "measurement",
            t,
            json!({"systolic_bp_mmhg": 40, "diastolic_bp_mmhg": 200}),
        ),
        env("measurement", t, json!({"systolic_bp_mmhg": 39.9})),
        env("measurement", t, json!({"heart_rate_bpm": "80"})),
        env("measurement", t, json!({"date_of_birth": "1990-01-31"})),
        env("measurement", t, json!({"date_of_birth": "31/01/1990"})),
        env("measurement", t, json!({"name": "Maria"})),
        env("measurement", "2026-12-07 10:00", json!({})),
        env("measurement", t, json!({"note": "x".repeat(2001)})),
        env(
            "content_view",
            t,
            json!({"content_id": "a", "seconds": 0, "completed": true}),
        ),
        env(
            "content_view",
            t,
            json!({"content_id": "", "seconds": 1, "completed": true}),
        ),
        env(
            "content_view",
            t,
            json!({"content_id": "a", "seconds": -1, "completed": true}),
        ),
        env("content_view", t, json!({"content_id": "a", "seconds": 1})),
        env(
            "chat_feedback",
            t,
            json!({"conversation_id": "c", "rating": 5, "comment": "bom"}),
        ),
        env(
            "chat_feedback",
            t,
            json!({"conversation_id": "c", "rating": 6}),
        ),
        env(
            "chat_feedback",
            t,
            json!({"conversation_id": "c", "rating": 4.5}),
        ),
        env("unknown_event", t, json!({})),
    ];
    let mut extra = env("measurement", t, json!({}));
    extra["source"] = json!("app");
    cases.push(extra);
    let mut v2 = env("measurement", t, json!({}));
    v2["schema_version"] = json!(2);
    cases.push(v2);
    let mut no_patient = env("measurement", t, json!({}));
    no_patient["patient_id"] = json!("");
    cases.push(no_patient);
    cases
}

#[test]
fn the_schema_files_and_the_code_accept_and_refuse_the_same_events() {
    let script = r#"
import json, sys
from jsonschema import Draft202012Validator
schemas = {k: json.load(open(f"{sys.argv[1]}/{k}.json")) for k in ["measurement", "content_view", "chat_feedback"]}
out = []
for case in json.load(sys.stdin):
    s = schemas.get(case.get("event"))
    out.append(bool(s) and Draft202012Validator(s, format_checker=Draft202012Validator.FORMAT_CHECKER).is_valid(case))
print(json.dumps(out))
"#;
    let cases = cases();
    let mut child = Command::new(super::python())
        .arg("-c")
        .arg(script)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("data/schemas"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(serde_json::to_string(&cases).unwrap().as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let python: Vec<bool> = serde_json::from_slice(&out.stdout).unwrap();
    let mut disagreements = Vec::new();
    for (case, py) in cases.iter().zip(&python) {
        let rust = event::parse(&case.to_string());
        if rust.is_ok() != *py {
            disagreements.push(format!("{case}: jsonschema {py}, code {rust:?}"));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
    assert!(
        python.iter().filter(|v| **v).count() >= 6,
        "both verdicts are exercised"
    );
    assert!(python.iter().filter(|v| !**v).count() >= 10);
}

#[test]
fn the_free_text_rules_the_schema_files_state_are_the_ones_the_code_applies() {
    let mut stated = Vec::new();
    for kind in EventKind::ALL {
        let s = schema(kind);
        for (field, spec) in s["properties"]["payload"]["properties"]
            .as_object()
            .unwrap()
        {
            if let Some(rule) = spec.get("x-powerbirth-free-text") {
                stated.push((kind, field.clone(), rule.as_str().unwrap().to_string()));
            }
        }
    }
    let applied: Vec<(EventKind, String, String)> = FREE_TEXT
        .iter()
        .map(|(k, f, r)| {
            let rule = match r {
                FreeText::Drop => "drop",
                FreeText::Redact => "redact",
            };
            (*k, f.to_string(), rule.to_string())
        })
        .collect();
    stated.sort();
    let mut applied = applied;
    applied.sort();
    assert_eq!(stated, applied);
}
