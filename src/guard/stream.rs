//! The streaming output guard. A streamed answer arrives in small deltas; a dose can be split
//! across them ("Tome 500" + " mg de 6 em 6 horas"). The guard holds back the last words (more
//! than the longest pattern the output checker reads) and releases text only once everything
//! after it that could complete a violation has been seen and checked. Personal data is redacted
//! as it is released, and never split by a release.

use super::output::violation;
use super::{Guard, Lang, NoticeKind, pii};

/// More than any pattern in the lexicons (the dose window plus a multi-word term).
const EXTRA_HOLD_WORDS: usize = 8;
/// With no whitespace at all (a base64 blob), release anyway past this many held bytes.
const MAX_HELD_BYTES: usize = 4096;

/// A violation found mid-stream: end the stream with `safe_text` (`finish_reason:
/// "content_filter"`); nothing after it is released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub safe_text: String,
    pub kind: NoticeKind,
    /// The rule that fired (for logs).
    pub rule: &'static str,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "streamed answer stopped by the guard ({})", self.rule)
    }
}

impl std::error::Error for Violation {}

/// Holds back a sliding window so no unchecked span reaches the client. One per streamed answer.
pub struct StreamGuard {
    guard: Guard,
    lang: Lang,
    hold_words: usize,
    /// The tail of the released text (original, not redacted), checked again with what follows.
    context: String,
    /// Received and not yet released.
    pending: String,
    /// Set after a violation or `finish`: nothing more is released.
    stopped: bool,
}

impl StreamGuard {
    pub(crate) fn new(guard: Guard, lang: Lang) -> StreamGuard {
        let hold_words = guard.rules().dose_window + EXTRA_HOLD_WORDS;
        StreamGuard {
            guard,
            lang,
            hold_words,
            context: String::new(),
            pending: String::new(),
            stopped: false,
        }
    }

    /// Feeds a delta; returns the text now safe to release (possibly empty), or the violation
    /// once one is found. After a violation (or `finish`) every call returns `Ok("")`: the
    /// caller ends the stream on the first `Err`.
    pub fn push(&mut self, delta: &str) -> Result<String, Violation> {
        if self.stopped {
            return Ok(String::new());
        }
        self.pending.push_str(delta);
        self.release(false)
    }

    /// End of stream: the remaining held-back text, checked.
    pub fn finish(&mut self) -> Result<String, Violation> {
        if self.stopped {
            return Ok(String::new());
        }
        let out = self.release(true);
        self.stopped = true;
        out
    }

    /// True once a violation was found or the stream finished.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    fn release(&mut self, all: bool) -> Result<String, Violation> {
        let window = format!("{}{}", self.context, self.pending);
        let g = &self.guard;
        if let Some((kind, rule)) = violation(g.lexicon(), g.rules(), &window, self.lang) {
            self.stopped = true;
            self.pending.clear();
            return Err(Violation {
                safe_text: g.notice(kind, self.lang).to_string(),
                kind,
                rule,
            });
        }
        let mut cut = if all {
            self.pending.len()
        } else {
            start_of_last_words(&self.pending, self.hold_words)
        };
        if !all && cut == 0 && self.pending.len() > MAX_HELD_BYTES {
            cut = floor_char_boundary(&self.pending, self.pending.len() - MAX_HELD_BYTES / 2);
        }
        // Never split personal data: move the cut to the start of a span it falls in.
        let offset = self.context.len();
        let spans = pii::find(&window);
        for s in spans.iter().rev() {
            if s.start < offset + cut && offset + cut < s.end {
                cut = s.start.saturating_sub(offset);
            }
        }
        if cut == 0 {
            return Ok(String::new());
        }
        let released: Vec<pii::PiiSpan> = spans
            .iter()
            .filter(|s| s.start >= offset && s.end <= offset + cut)
            .map(|s| pii::PiiSpan {
                start: s.start - offset,
                end: s.end - offset,
                kind: s.kind,
            })
            .collect();
        let plain = &self.pending[..cut];
        let out = pii::redact(plain, &released, |k| g.notices().placeholder(k, self.lang));
        self.context.push_str(plain);
        let mut keep = start_of_last_words(&self.context, self.hold_words);
        if self.context.len() - keep > MAX_HELD_BYTES {
            keep = floor_char_boundary(&self.context, self.context.len() - MAX_HELD_BYTES / 2);
        }
        self.context.drain(..keep);
        self.pending.drain(..cut);
        Ok(out)
    }
}

/// Byte index where the last `n` whitespace-separated words of `s` start (0 if fewer).
fn start_of_last_words(s: &str, n: usize) -> usize {
    let mut words = 0;
    let mut prev_space = true;
    for (i, c) in s.char_indices().rev() {
        let space = c.is_whitespace();
        // Walking backwards, a word starts where a non-space follows a space.
        if prev_space && !space {
            words += 1;
        }
        if space && !prev_space && words == n {
            return i + c.len_utf8();
        }
        prev_space = space;
    }
    0
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests;
