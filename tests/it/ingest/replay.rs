//! At-least-once delivery made exactly-once in effect: a crash between the Parquet write and
//! `XACK` replays the batch, which is recognised and not written twice; a dead consumer's
//! pending entries are claimed by another after the claim timeout; SIGTERM finishes the batch in
//! flight.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{Harness, event};

fn add_views(h: &Harness, n: usize) {
    for i in 0..n {
        h.add(&event(
            "content_view",
            &format!("p{i}"),
            "2026-12-07T10:00:00Z",
            json!({"content_id": format!("c{i}"), "seconds": i, "completed": i % 2 == 0}),
        ));
    }
}

#[test]
fn a_batch_written_but_not_acknowledged_is_recognised_and_not_written_twice() {
    let Some(h) = Harness::new("") else { return };
    add_views(&h, 3);
    let crashed = h.ingest("c1", &["--once", "--exit-before-ack"]);
    assert_eq!(
        crashed.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&crashed.stderr)
    );
    assert_eq!(h.pending(), 3, "written but not acknowledged");
    assert_eq!(h.read_back("content_view", &[]).0.len(), 3);

    // The same consumer restarts: its own pending entries come back first.
    let out = h.ingest("c1", &["--once"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("ingested 0 events"), "{stdout}");
    assert!(stdout.contains("3 already written"), "{stdout}");
    assert_eq!(h.read_back("content_view", &[]).0.len(), 3, "no row twice");
    assert_eq!(h.pending(), 0);
}

#[test]
fn a_killed_consumers_batch_is_claimed_by_another_and_not_duplicated() {
    let Some(h) = Harness::new("claim_timeout_ms = 200") else {
        return;
    };
    add_views(&h, 6); // two batches of 4 and 2
    let crashed = h.ingest("c1", &["--once", "--exit-before-ack"]);
    assert_eq!(crashed.status.code(), Some(3));
    assert_eq!(
        h.pending(),
        4,
        "the first batch, written, never acknowledged"
    );
    std::thread::sleep(Duration::from_millis(300));

    let out = h.ingest("c2", &["--once"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("ingested 2 events"), "{stdout}");
    assert!(stdout.contains("4 already written"), "{stdout}");
    let (rows, _) = h.read_back("content_view", &[]);
    let mut ids: Vec<&str> = rows
        .iter()
        .map(|r| r["content_id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, ["c0", "c1", "c2", "c3", "c4", "c5"]);
    assert_eq!(h.pending(), 0);
}

#[test]
fn a_consumer_that_died_before_writing_has_its_entries_processed_by_another() {
    let Some(h) = Harness::new("claim_timeout_ms = 200") else {
        return;
    };
    add_views(&h, 3);
    // A consumer reads the entries and dies without writing anything.
    let mut conn = h.conn();
    let _: redis::Value = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&h.stream)
        .arg("ingest")
        .arg("0")
        .query(&mut conn)
        .unwrap();
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("ingest")
        .arg("dead")
        .arg("COUNT")
        .arg(10)
        .arg("STREAMS")
        .arg(&h.stream)
        .arg(">")
        .query(&mut conn)
        .unwrap();
    assert_eq!(h.pending(), 3);

    // Before the claim timeout the entries stay with the dead consumer.
    let early = h.ingest("alive", &["--once"]);
    assert!(early.status.success());
    assert!(String::from_utf8_lossy(&early.stdout).contains("ingested 0 events"));
    std::thread::sleep(Duration::from_millis(300));
    let out = h.ingest("alive", &["--once"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ingested 3 events"));
    assert_eq!(h.read_back("content_view", &[]).0.len(), 3);
    assert_eq!(h.pending(), 0);
}

#[test]
fn sigterm_finishes_the_batch_in_flight_and_exits_cleanly() {
    let Some(h) = Harness::new("block_ms = 200") else {
        return;
    };
    let mut child = h
        .command("c1", &[])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    add_views(&h, 5);
    let deadline = Instant::now() + Duration::from_secs(20);
    while h.pending() > 0 || h.files().len() < 2 {
        assert!(Instant::now() < deadline, "not ingested in 20 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: kill(2) on the child we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert_eq!(h.read_back("content_view", &[]).0.len(), 5);
    assert_eq!(h.pending(), 0);
}
