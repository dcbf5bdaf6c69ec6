//! Progress of long command-line work (`eval run`, `train`, `finetune run`, `ingest --once`), one
//! implementation for all of them. Everything goes to stderr, so the machine-readable output on
//! stdout is unchanged.
//!
//! - On a terminal: an indicatif bar — done/total, elapsed, ETA, and passed/failed so far when
//!   the work is scored.
//! - Not a terminal (CI, a pipe, a log file): plain lines, one each time another tenth of the work
//!   is done and at least one every [`DEFAULT_EVERY`] while nothing else was printed, then a last
//!   line when the work is done, e.g.
//!   `eval: 6/20 cases, 5 passed, 1 failed, 48s elapsed, ETA 1m52s`.
//!
//! `POWERBIRTH_PROGRESS` overrides the choice: `bar`, `lines` or `off` (no progress; lines printed
//! with [`Progress::println`], such as failing eval cases, still appear). `POWERBIRTH_PROGRESS_SECS`
//! sets the period of the plain lines (default 10).

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The longest a plain-lines reporter stays silent while work is going on.
pub const DEFAULT_EVERY: Duration = Duration::from_secs(10);

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// An indicatif bar on stderr.
    Bar,
    /// Plain periodic lines on stderr.
    Lines,
    /// No progress; [`Progress::println`] still prints.
    Off,
}

impl Mode {
    /// `POWERBIRTH_PROGRESS` when set to `bar`, `lines` or `off`; else a bar when stderr is a
    /// terminal and lines when it is not.
    pub fn detect() -> Mode {
        let forced = std::env::var("POWERBIRTH_PROGRESS").unwrap_or_default();
        Mode::parse(&forced).unwrap_or(if std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            Mode::Lines
        })
    }

    fn parse(text: &str) -> Option<Mode> {
        match text.trim().to_ascii_lowercase().as_str() {
            "bar" => Some(Mode::Bar),
            "lines" => Some(Mode::Lines),
            "off" | "0" | "none" => Some(Mode::Off),
            _ => None,
        }
    }
}

/// The period of plain lines: `POWERBIRTH_PROGRESS_SECS` (seconds, fractions allowed) or
/// [`DEFAULT_EVERY`].
fn every_from_env() -> Duration {
    std::env::var("POWERBIRTH_PROGRESS_SECS")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or(DEFAULT_EVERY, Duration::from_secs_f64)
}

/// How a scored item (an eval case) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed,
    /// Neither passed nor failed (shown only when some did).
    Errored,
}

/// A progress reporter; clones share it (safe across threads and tasks).
#[derive(Clone)]
pub struct Progress {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("label", &self.inner.label)
            .finish_non_exhaustive()
    }
}

type Writer = Box<dyn Write + Send>;

enum Output {
    Bar(ProgressBar),
    /// Plain lines to the writer; `periodic` false prints only [`Progress::println`] lines.
    Lines {
        writer: Mutex<Writer>,
        periodic: bool,
    },
}

struct Inner {
    label: String,
    unit: String,
    output: Output,
    state: Mutex<State>,
    stop: Arc<(Mutex<bool>, Condvar)>,
}

struct State {
    total: Option<u64>,
    done: u64,
    passed: u64,
    failed: u64,
    errored: u64,
    /// Whether any item was scored (then passed/failed are shown).
    scored: bool,
    phase: String,
    started: Instant,
    last_line: Instant,
    /// The tenth of the work the last plain line reported.
    last_tenth: u64,
    finished: bool,
}

impl Progress {
    /// A reporter on stderr in [`Mode::detect`]'s mode. `label` starts every line (`eval`),
    /// `unit` names what is counted (`cases`); `total` is `None` when unknown.
    pub fn start(label: &str, unit: &str, total: Option<u64>) -> Progress {
        let output = match Mode::detect() {
            Mode::Bar => Output::Bar(bar(label, total, style(!unit.is_empty(), total.is_some()))),
            mode => Output::Lines {
                writer: Mutex::new(Box::new(std::io::stderr())),
                periodic: mode == Mode::Lines,
            },
        };
        Progress::with_output(label, unit, total, output, every_from_env())
    }

    /// A plain-lines reporter writing to `writer` every `every` (tests read what it wrote).
    pub fn lines_to(
        label: &str,
        unit: &str,
        total: Option<u64>,
        every: Duration,
        writer: Box<dyn Write + Send>,
    ) -> Progress {
        let output = Output::Lines {
            writer: Mutex::new(writer),
            periodic: true,
        };
        Progress::with_output(label, unit, total, output, every)
    }

    /// Shows nothing, [`Progress::println`] included (for library callers with no person
    /// watching).
    pub fn hidden() -> Progress {
        let output = Output::Lines {
            writer: Mutex::new(Box::new(std::io::sink())),
            periodic: false,
        };
        Progress::with_output("", "", None, output, DEFAULT_EVERY)
    }

    fn with_output(
        label: &str,
        unit: &str,
        total: Option<u64>,
        output: Output,
        every: Duration,
    ) -> Progress {
        let now = Instant::now();
        let periodic = matches!(output, Output::Lines { periodic: true, .. });
        let inner = Arc::new(Inner {
            label: label.to_string(),
            unit: unit.to_string(),
            output,
            state: Mutex::new(State {
                total,
                done: 0,
                passed: 0,
                failed: 0,
                errored: 0,
                scored: false,
                phase: String::new(),
                started: now,
                last_line: now,
                last_tenth: 0,
                finished: false,
            }),
            stop: Arc::new((Mutex::new(false), Condvar::new())),
        });
        if periodic {
            spawn_ticker(Arc::downgrade(&inner), Arc::clone(&inner.stop), every);
        }
        Progress { inner }
    }

    /// Sets (or changes) how much work there is.
    pub fn set_total(&self, total: u64) {
        let had = self.inner.lock().total.replace(total);
        if let Output::Bar(b) = &self.inner.output {
            if had.is_none() {
                b.set_style(style(!self.inner.unit.is_empty(), true));
            }
            b.set_length(total);
        }
        self.refresh();
    }

    /// What is being done now (`cross-validation fold 2/5`), shown beside the counts.
    pub fn set_phase(&self, phase: impl Into<String>) {
        self.inner.lock().phase = phase.into();
        self.refresh();
    }

    /// `n` more units done.
    pub fn inc(&self, n: u64) {
        self.inner.lock().done += n;
        self.advanced();
    }

    /// `done` units done in all (for work that reports running totals).
    pub fn set_done(&self, done: u64) {
        self.inner.lock().done = done;
        self.advanced();
    }

    /// One scored item done.
    pub fn record(&self, outcome: Outcome) {
        {
            let mut s = self.inner.lock();
            s.done += 1;
            s.scored = true;
            match outcome {
                Outcome::Passed => s.passed += 1,
                Outcome::Failed => s.failed += 1,
                Outcome::Errored => s.errored += 1,
            }
        }
        self.advanced();
    }

    /// Prints a line of its own (above the bar on a terminal).
    pub fn println(&self, line: &str) {
        match &self.inner.output {
            Output::Bar(b) => b.println(line),
            Output::Lines { .. } => {
                self.inner.write_line(line);
            }
        }
    }

    /// The work is done: the bar is cleared, or a last plain line is printed.
    pub fn finish(&self) {
        let line = {
            let mut s = self.inner.lock();
            if s.finished {
                return;
            }
            s.finished = true;
            self.inner.status_line(&s, true)
        };
        self.inner.stop_ticker();
        match &self.inner.output {
            Output::Bar(b) => b.finish_and_clear(),
            Output::Lines { periodic: true, .. } => self.inner.write_line(&line),
            Output::Lines { .. } => {}
        }
    }

    /// After `done` grew: the bar moves; a plain line when another tenth of the work is done.
    fn advanced(&self) {
        match &self.inner.output {
            Output::Bar(_) => self.refresh(),
            Output::Lines { periodic: true, .. } => {
                let line = {
                    let mut s = self.inner.lock();
                    let tenth = match s.total {
                        Some(t) if t > 0 => s.done.min(t) * 10 / t,
                        _ => 0,
                    };
                    if tenth <= s.last_tenth || s.finished {
                        return;
                    }
                    s.last_tenth = tenth;
                    s.last_line = Instant::now();
                    self.inner.status_line(&s, false)
                };
                self.inner.write_line(&line);
            }
            Output::Lines { .. } => {}
        }
    }

    /// Redraws the bar's position and message.
    fn refresh(&self) {
        if let Output::Bar(b) = &self.inner.output {
            let s = self.inner.lock();
            b.set_position(s.done);
            let extra = counts(&s);
            b.set_message(if extra.is_empty() {
                self.inner.unit.clone()
            } else {
                format!("{}, {extra}", self.inner.unit)
            });
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves only counters behind: still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn write_line(&self, line: &str) {
        if let Output::Lines { writer, .. } = &self.output {
            let mut w = writer.lock().unwrap_or_else(|e| e.into_inner());
            // Progress is best effort: a closed stderr must not stop the work.
            let _ = writeln!(w, "{line}");
            let _ = w.flush();
        }
    }

    /// `eval: 6/20 cases, 5 passed, 1 failed, fold 2/5, 48s elapsed, ETA 1m52s`.
    fn status_line(&self, s: &State, last: bool) -> String {
        let elapsed = s.started.elapsed();
        // Without a unit only the phase and the time are shown (work that is not counted).
        let mut parts = Vec::new();
        match s.total {
            _ if self.unit.is_empty() => {}
            Some(t) => parts.push(format!("{}/{t} {}", s.done, self.unit)),
            None => parts.push(format!("{} {}", s.done, self.unit)),
        }
        let extra = counts(s);
        if !extra.is_empty() {
            parts.push(extra);
        }
        let mut line = format!("{}: {}", self.label, parts.join(", "));
        if parts.is_empty() {
            line.pop();
        } else {
            line.push(',');
        }
        if last {
            line.push_str(&format!(" done in {}", human(elapsed)));
            return line;
        }
        line.push_str(&format!(" {} elapsed", human(elapsed)));
        match s.total {
            _ if self.unit.is_empty() => {}
            Some(t) if s.done > 0 && s.done < t => {
                let left = elapsed.mul_f64((t - s.done) as f64 / s.done as f64);
                line.push_str(&format!(", ETA {}", human(left)));
            }
            None if s.done > 0 && elapsed.as_secs_f64() > 0.0 => {
                let rate = s.done as f64 / elapsed.as_secs_f64();
                line.push_str(&format!(" ({rate:.0} {}/s)", self.unit));
            }
            _ => {}
        }
        line
    }

    fn stop_ticker(&self) {
        let (lock, cvar) = &*self.stop;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cvar.notify_all();
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop_ticker();
    }
}

/// `5 passed, 1 failed[, 1 errored], fold 2/5`: the scored counts and the phase, when there are any.
fn counts(s: &State) -> String {
    let mut parts = Vec::new();
    if s.scored {
        parts.push(format!("{} passed, {} failed", s.passed, s.failed));
        if s.errored > 0 {
            parts.push(format!("{} errored", s.errored));
        }
    }
    if !s.phase.is_empty() {
        parts.push(s.phase.clone());
    }
    parts.join(", ")
}

/// A thread that prints the status line whenever `every` passed without one. It holds the
/// reporter weakly, so it ends when the last handle is dropped or [`Progress::finish`] runs.
fn spawn_ticker(inner: Weak<Inner>, stop: Arc<(Mutex<bool>, Condvar)>, every: Duration) {
    let run = move || {
        let (lock, cvar) = &*stop;
        let mut wait = every;
        loop {
            let stopped = lock.lock().unwrap_or_else(|e| e.into_inner());
            let (stopped, _) = cvar
                .wait_timeout_while(stopped, wait, |s| !*s)
                .unwrap_or_else(|e| e.into_inner());
            if *stopped {
                return;
            }
            drop(stopped);
            let Some(inner) = inner.upgrade() else {
                return;
            };
            let line = {
                let mut s = inner.lock();
                let quiet = s.last_line.elapsed();
                if s.finished {
                    return;
                }
                if quiet < every {
                    wait = every - quiet;
                    continue;
                }
                s.last_line = Instant::now();
                wait = every;
                inner.status_line(&s, false)
            };
            inner.write_line(&line);
        }
    };
    // Without the thread only the periodic lines are lost; the work goes on.
    let _ = std::thread::Builder::new()
        .name("progress".into())
        .spawn(run);
}

/// An indicatif bar on stderr, redrawn four times a second (so elapsed and ETA move between
/// items).
fn bar(label: &str, total: Option<u64>, style: ProgressStyle) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
    bar.set_style(style);
    bar.set_prefix(label.to_string());
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

/// The bar's look: with a known total, the bar, done/total and the ETA; else the count and rate;
/// for uncounted work, the phase only.
fn style(counted: bool, known_total: bool) -> ProgressStyle {
    let template = match (counted, known_total) {
        (false, _) => "{prefix}: {spinner} [{elapsed_precise}] {msg}",
        (true, true) => {
            "{prefix}: {spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg} (ETA {eta})"
        }
        (true, false) => "{prefix}: {spinner} [{elapsed_precise}] {pos} {msg} ({per_sec})",
    };
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// `8s`, `3m05s`, `1h02m`.
pub fn human(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
    }
}

#[cfg(test)]
#[path = "progress_tests.rs"]
mod tests;
