//! Events in, anonymised Parquet out: what pyarrow reads, what the bytes do not hold, what
//! goes to the dead-letter stream.

use serde_json::json;

use super::{Harness, event};

const CPF: &str = "529.982.247-25";
const PHONE: &str = "(11) 98765-4321";

/// Events whose ids, notes and comments hold a CPF, a phone, names, an e-mail and a birth date.
fn add_identifying_events(h: &Harness) {
    h.add(&event(
        "measurement",
        CPF,
        "2026-12-07T09:30:00-03:00",
        json!({"systolic_bp_mmhg": 142, "diastolic_bp_mmhg": 95, "date_of_birth": "1996-12-08",
               "note": "Maria Aparecida, CPF 529.982.247-25, tel (11) 98765-4321"}),
    ));
    h.add(&event(
        "measurement",
        "paciente-77",
        "2026-12-06T23:59:59Z",
        json!({"heart_rate_bpm": 88, "gestational_week": 31}),
    ));
    h.add(&event(
        "content_view",
        CPF,
        "2026-12-07T10:00:00Z",
        json!({"content_id": "pre-eclampsia-sinais", "seconds": 42.5, "completed": true}),
    ));
    h.add(&event(
        "chat_feedback",
        "paciente-77",
        "2026-12-07T11:00:00Z",
        json!({"conversation_id": "c-1", "rating": 4,
               "comment": "Meu nome é Joana Prado, meu CPF é 529.982.247-25 e o e-mail joana.prado@example.com. Ajudou."}),
    ));
}

#[test]
fn events_become_parquet_that_pyarrow_reads_with_pseudonyms_and_no_raw_identifier() {
    let Some(h) = Harness::new("") else { return };
    add_identifying_events(&h);
    let out = h.ingest("c1", &["--once"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (rows, ps) = h.read_back("measurement", &[CPF, "paciente-77"]);
    assert_eq!(rows.len(), 2);
    let first = rows
        .iter()
        .find(|r| r["patient_id"] == ps[0].as_str())
        .unwrap();
    assert_eq!(
        first["age_years"], 29.0,
        "born 1996-12-08, measured 2026-12-07"
    );
    assert_eq!(first["systolic_bp_mmhg"], 142.0);
    assert_eq!(first["date"], "2026-12-07", "the partition is the UTC date");
    assert!(first.get("note").is_none() && first.get("date_of_birth").is_none());
    let second = rows
        .iter()
        .find(|r| r["patient_id"] == ps[1].as_str())
        .unwrap();
    assert_eq!(second["date"], "2026-12-06");
    assert_eq!(second["occurred_at"], "2026-12-06T23:59:59+00:00");

    let (feedback, _) = h.read_back("chat_feedback", &[]);
    let comment = feedback[0]["comment"].as_str().unwrap();
    assert_eq!(
        comment,
        "Meu nome é [NOME], meu CPF é [CPF] e o e-mail [EMAIL]. Ajudou."
    );

    // No raw identifier in any byte of any file (footers and statistics included), nor in
    // what pyarrow decodes (the pages are compressed).
    let (views, _) = h.read_back("content_view", &[]);
    let decoded = format!("{rows:?}{feedback:?}{views:?}");
    let raw = [
        CPF,
        PHONE,
        "52998224725",
        "529.982",
        "98765-4321",
        "98765",
        "paciente-77",
        "Maria",
        "Aparecida",
        "Joana",
        "Prado",
        "joana.prado",
        "example.com",
        "1996-12-08",
    ];
    assert!(h.files().len() >= 4, "{:?}", h.files());
    h.assert_absent(&raw, &decoded);
    assert_eq!(h.pending(), 0, "every entry acknowledged");
}

#[test]
fn a_bad_event_goes_to_the_dead_letter_stream_with_its_reason_and_is_counted() {
    let Some(h) = Harness::new("") else { return };
    let good = event(
        "content_view",
        "p1",
        "2026-12-07T10:00:00Z",
        json!({"content_id": "a", "seconds": 3, "completed": false}),
    );
    h.add(&good);
    let too_high = event(
        "measurement",
        "p1",
        "2026-12-07T10:00:00Z",
        json!({"systolic_bp_mmhg": 1200}),
    );
    let too_high_id = h.add(&too_high);
    h.add(&event(
        "measurement",
        "p1",
        "2026-12-07T10:00:00Z",
        json!({"nome": "Maria"}),
    ));
    h.add("{not json");
    h.add_fields(&[("other", "x")]);
    let metrics = h.dir.path().join("ingest.prom");
    let out = h.ingest(
        "c1",
        &["--once", "--metrics-file", metrics.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("ingested 1 events"), "{stdout}");
    assert!(stdout.contains("4 dead letters"), "{stdout}");

    let dead = h.entries(&format!("{}:dead", h.stream));
    assert_eq!(dead.len(), 4);
    let field = |i: usize, f: &str| -> String { dead[i].1[f].clone() };
    assert_eq!(
        field(0, "reason"),
        "payload.systolic_bp_mmhg: 1200 is outside 40–300"
    );
    assert_eq!(field(0, "source_id"), too_high_id);
    assert_eq!(
        field(0, "data"),
        too_high,
        "kept whole, to be fixed and replayed"
    );
    assert!(
        field(1, "reason").contains("unknown field `nome`"),
        "{}",
        field(1, "reason")
    );
    assert!(
        field(2, "reason").starts_with("envelope:"),
        "{}",
        field(2, "reason")
    );
    assert!(
        field(3, "reason").starts_with("data:"),
        "{}",
        field(3, "reason")
    );

    let text = std::fs::read_to_string(&metrics).unwrap();
    for line in [
        "powerbirth_ingest_dead_letters_total{field=\"payload.systolic_bp_mmhg\"} 1",
        "powerbirth_ingest_dead_letters_total{field=\"envelope\"} 1",
        "powerbirth_ingest_events_total{event=\"content_view\",outcome=\"written\"} 1",
    ] {
        assert!(text.contains(line), "{line} not in\n{text}");
    }
    assert_eq!(h.pending(), 0, "dead letters are acknowledged too");
}

#[test]
fn ingestion_refuses_to_start_without_the_pseudonym_key() {
    let Some(h) = Harness::new("") else { return };
    let out = h
        .command("c1", &["--once"])
        .env_remove("POWERBIRTH_PSEUDONYM_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("POWERBIRTH_PSEUDONYM_KEY is not set"),
        "{stderr}"
    );
}
