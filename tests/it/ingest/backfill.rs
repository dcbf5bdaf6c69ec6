//! `powerbirth data anonymize IN OUT` on a CSV a back-fill would start from: identifier columns
//! gone, ids pseudonymised with the same keyed HMAC as ingestion (checked by Python's `hmac`),
//! dates of birth become ages, text redacted; the Parquet output read back by pyarrow.

use std::process::Command;

use super::KEY;

#[test]
fn a_csv_is_anonymised_into_parquet_that_pyarrow_reads_and_that_holds_no_identifier() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("seed.csv");
    std::fs::write(
        &input,
        "patient_id,nome,cpf,date_of_birth,occurred_at,systolic_bp_mmhg,comment,note\n\
         529.982.247-25,Maria Aparecida,529.982.247-25,1996-12-08,2026-12-07T10:00:00Z,142,\"me chamo Maria Aparecida, tel (11) 98765-4321\",Maria\n\
         p-2,Joana Prado,,1990-01-01,2026-12-07T10:00:00Z,118,,\n",
    )
    .unwrap();
    let output = dir.path().join("seed.parquet");
    let out = Command::new(env!("CARGO_BIN_EXE_powerbirth"))
        .args(["data", "anonymize"])
        .arg(&input)
        .arg(&output)
        .env("POWERBIRTH_PSEUDONYM_KEY", KEY)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let script = r#"
import hashlib, hmac, json, sys
import pyarrow.parquet as pq
t = pq.read_table(sys.argv[1])
p = hmac.new(sys.argv[2].encode(), b"patient\x00529.982.247-25", hashlib.sha256).hexdigest()[:32]
print(json.dumps({"rows": t.to_pylist(), "columns": t.column_names, "pseudonym": p}))
"#;
    let read = Command::new(super::python())
        .arg("-c")
        .arg(script)
        .arg(&output)
        .arg(KEY)
        .output()
        .unwrap();
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&read.stdout).unwrap();
    assert_eq!(
        v["columns"],
        serde_json::json!([
            "patient_id",
            "occurred_at",
            "systolic_bp_mmhg",
            "comment",
            "age_years"
        ])
    );
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows[0]["patient_id"], v["pseudonym"]);
    assert_eq!(rows[0]["age_years"], 29.0);
    assert_eq!(rows[1]["age_years"], 36.0);
    assert_eq!(rows[0]["comment"], "me chamo [NOME], tel [PHONE]");
    let bytes = std::fs::read(&output).unwrap();
    let decoded = v["rows"].to_string();
    for raw in [
        "529.982.247-25",
        "52998224725",
        "Maria",
        "Joana",
        "98765",
        "1996-12-08",
        "p-2",
    ] {
        assert!(
            !bytes.windows(raw.len()).any(|w| w == raw.as_bytes()),
            "{raw} in the bytes"
        );
        assert!(!decoded.contains(raw), "{raw} decoded");
    }
}

#[test]
fn anonymize_refuses_to_run_without_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    std::fs::write(&input, "patient_id\n1\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_powerbirth"))
        .args(["data", "anonymize"])
        .arg(&input)
        .arg(dir.path().join("out.csv"))
        .env_remove("POWERBIRTH_PSEUDONYM_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("POWERBIRTH_PSEUDONYM_KEY"));
    assert!(!dir.path().join("out.csv").exists());
}
