//! Ingestion's throughput into Parquet (issue 17: ≥ 50,000 events/s on the two-core machine):
//! 50,000 events (60 % measurements, 30 % content views, 10 % chat feedback with a comment to
//! redact) parsed, checked, anonymised (HMAC pseudonyms, PII redaction) and written as Parquet
//! in batches of 5,000 (the default `[ingest] batch_size`), each file fsynced and renamed as in
//! production. Redis is not in the loop (its read cost is measured end to end in
//! docs/performance.md). `cargo bench --bench ingest -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use powerbirth::core::Secret;
use powerbirth::ingest::{Anonymizer, Entry, Sink, prepare};

const EVENTS: usize = 50_000;
const BATCH: usize = 5_000;

fn events() -> Vec<Entry> {
    (0..EVENTS)
        .map(|i| {
            // Near real time: most events of today, one in ten late from yesterday.
            let day = if i % 10 == 9 { 6 } else { 7 };
            let at = format!("2026-12-{day:02}T{:02}:15:00-03:00", i % 20);
            let patient = format!("paciente-{}", i % 2_000);
            let data = match i % 10 {
                0..=5 => serde_json::json!({
                    "event": "measurement", "schema_version": 1, "patient_id": patient,
                    "occurred_at": at, "payload": {
                        "age_years": 20 + i % 20, "systolic_bp_mmhg": 100 + i % 60,
                        "diastolic_bp_mmhg": 60 + i % 40, "blood_glucose_mmol_l": 6.5,
                        "body_temperature_c": 36.6, "heart_rate_bpm": 70 + i % 30,
                        "gestational_week": 10 + i % 30, "note": "sem queixas hoje"}}),
                6..=8 => serde_json::json!({
                    "event": "content_view", "schema_version": 1, "patient_id": patient,
                    "occurred_at": at, "payload": {
                        "content_id": format!("artigo-{}", i % 300), "seconds": i % 600,
                        "completed": i % 3 == 0}}),
                _ => serde_json::json!({
                    "event": "chat_feedback", "schema_version": 1, "patient_id": patient,
                    "occurred_at": at, "payload": {
                        "conversation_id": format!("conv-{i}"), "rating": 1 + i % 5,
                        "comment": "Gostei da resposta, me chamo Ana Lima, meu telefone é (11) 98765-4321."}}),
            };
            Entry {
                id: format!("{}-0", 1_796_000_000_000u64 + i as u64),
                data: Some(data.to_string()),
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let entries = events();
    let anonymizer = Anonymizer::new(Secret::new("bench-pseudonym-key-0123456789".into()));
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.sample_size(10);
    group.bench_function("50k events → anonymised Parquet (batches of 5000)", |b| {
        b.iter_with_setup(
            || tempfile::tempdir().unwrap(),
            |dir| {
                let sink = Sink::new(
                    dir.path().to_path_buf(),
                    "bench".into(),
                    50_000,
                    anonymizer.key_id().to_string(),
                );
                for batch in entries.chunks(BATCH) {
                    let (rows, dead) = prepare(batch, &anonymizer);
                    assert!(dead.is_empty());
                    black_box(sink.write(rows, false).unwrap());
                }
                dir
            },
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
