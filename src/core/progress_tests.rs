use super::*;

/// A writer the test reads back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<String> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

const HOUR: Duration = Duration::from_secs(3600);

#[test]
fn plain_lines_come_at_each_tenth_with_the_counts_and_a_last_line() {
    let out = Captured::default();
    let p = Progress::lines_to("eval", "cases", Some(20), HOUR, Box::new(out.clone()));
    for i in 0..20 {
        p.record(if i % 7 == 3 {
            Outcome::Failed
        } else {
            Outcome::Passed
        });
    }
    p.finish();
    p.finish();
    let lines = out.lines();
    assert_eq!(lines.len(), 11, "{lines:#?}");
    assert!(
        lines[0].starts_with("eval: 2/20 cases, 2 passed, 0 failed, 0s elapsed, ETA "),
        "{lines:#?}"
    );
    assert!(
        lines[4].starts_with("eval: 10/20 cases, 9 passed, 1 failed, "),
        "{lines:#?}"
    );
    assert!(
        lines[10].starts_with("eval: 20/20 cases, 17 passed, 3 failed, done in "),
        "{lines:#?}"
    );
    assert!(!lines[9].contains("ETA"), "nothing is left: {lines:#?}");
}

#[test]
fn a_quiet_stretch_still_prints_a_line_every_period_and_stops_at_finish() {
    let out = Captured::default();
    let p = Progress::lines_to(
        "train",
        "steps",
        Some(4),
        Duration::from_millis(40),
        Box::new(out.clone()),
    );
    p.set_phase("cross-validation fold 1/5");
    std::thread::sleep(Duration::from_millis(300));
    let quiet = out.lines();
    assert!(quiet.len() >= 2, "{quiet:#?}");
    assert!(
        quiet[0].starts_with("train: 0/4 steps, cross-validation fold 1/5, "),
        "{quiet:#?}"
    );
    p.finish();
    let at_finish = out.lines().len();
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(out.lines().len(), at_finish, "no line after finish");
}

#[test]
fn unknown_totals_show_a_rate_and_println_lines_go_through() {
    let out = Captured::default();
    let p = Progress::lines_to("ingest", "events", None, HOUR, Box::new(out.clone()));
    p.inc(500);
    p.println("FAIL x");
    p.finish();
    let lines = out.lines();
    assert_eq!(lines[0], "FAIL x");
    assert!(
        lines[1].starts_with("ingest: 500 events, done in "),
        "{lines:#?}"
    );
    assert_eq!(lines.len(), 2, "{lines:#?}");
}

#[test]
fn a_hidden_reporter_prints_nothing_and_counts_anyway() {
    let p = Progress::hidden();
    p.record(Outcome::Errored);
    p.record(Outcome::Failed);
    p.println("not shown");
    p.finish();
    let s = p.inner.lock();
    assert_eq!((s.done, s.failed, s.errored), (2, 1, 1));
    assert_eq!(counts(&s), "0 passed, 1 failed, 1 errored");
}

#[test]
fn modes_parse_and_durations_read_as_a_person_would() {
    assert_eq!(Mode::parse("Lines"), Some(Mode::Lines));
    assert_eq!(Mode::parse("bar"), Some(Mode::Bar));
    assert_eq!(Mode::parse("off"), Some(Mode::Off));
    assert_eq!(Mode::parse("auto"), None);
    assert_eq!(human(Duration::from_secs(8)), "8s");
    assert_eq!(human(Duration::from_secs(185)), "3m05s");
    assert_eq!(human(Duration::from_secs(3720)), "1h02m");
}
