//! The streaming output guard. A streamed answer arrives in small deltas; a dose can be split
//! across them ("Tome 500" + " mg de 6 em 6 horas"). Every delta is checked with what came
//! before it (the released tail, kept as context) and text is released as soon as it can no
//! longer become a violation: the guard holds back only from a token that could start one — a
//! number or a number word (the amount every dose needs, and the digits of personal data) —
//! until it is resolved (far enough behind, counted in the checker's own normalised tokens, or
//! for a number word, no unit after it), and the word still being written. Plain text goes out
//! with the delta that brought it. Personal data is redacted as it is released, and never
//! split by a release.

use super::context::Analysis;
use super::lexicon::Signal;
use super::normalize::TokKind;
use super::output::violation_in;
use super::{Guard, Lang, NoticeKind, numbers, pii};

/// Released tokens kept as context, beyond the hold horizon: a multi-word term's length.
const EXTRA_CONTEXT_TOKENS: usize = 8;
/// With no whitespace at all (a base64 blob), release anyway past this many held bytes.
const MAX_HELD_BYTES: usize = 4096;
/// A number word (`um`, `two`) that no unit follows within this many tokens is no amount.
const NUMBER_WORD_REACH: usize = 3;

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

/// Holds back what could still become a violation, so no unchecked span reaches the client. One
/// per streamed answer (per choice and text field).
pub struct StreamGuard {
    guard: Guard,
    lang: Lang,
    /// Tokens after an amount's first token within which a "take" verb, a schedule or a
    /// medicine can still make it a dose: the dose window plus the longest amount
    /// (`1 a 2 comprimidos`) plus a margin for the word still being written.
    horizon: usize,
    /// The tail of the released text (original, not redacted), checked again with what follows.
    context: String,
    /// Received and not yet released.
    pending: String,
    /// Set after a violation or `finish`: nothing more is released.
    stopped: bool,
}

impl StreamGuard {
    pub(crate) fn new(guard: Guard, lang: Lang) -> StreamGuard {
        let horizon = guard.rules().dose_window.min(64) + 6;
        StreamGuard {
            guard,
            lang,
            horizon,
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
        let a = Analysis::new(g.lexicon(), g.rules(), &window, Some(self.lang));
        if let Some((kind, rule)) = violation_in(&a, g.rules()) {
            self.stopped = true;
            self.pending.clear();
            return Err(Violation {
                safe_text: g.notice(kind, self.lang).to_string(),
                kind,
                rule,
            });
        }
        let offset = self.context.len();
        let mut cut = if all {
            self.pending.len()
        } else {
            hold_point(&a, &window, offset, self.horizon).saturating_sub(offset)
        };
        if !all && cut == 0 && self.pending.len() > MAX_HELD_BYTES {
            cut = floor_char_boundary(&self.pending, self.pending.len() - MAX_HELD_BYTES / 2);
        }
        // Never split personal data: move the cut to the start of a span it falls in.
        let spans = pii::find(&window);
        for s in spans.iter().rev() {
            if s.start < offset + cut && offset + cut < s.end {
                cut = s.start.saturating_sub(offset);
            }
        }
        if cut == 0 {
            return Ok(String::new());
        }
        // A span whose first characters went out already (a `(` before a held number) is
        // redacted from where this release starts.
        let released: Vec<pii::PiiSpan> = spans
            .iter()
            .filter(|s| s.end > offset && s.end <= offset + cut)
            .map(|s| pii::PiiSpan {
                start: s.start.max(offset) - offset,
                end: s.end - offset,
                kind: s.kind,
            })
            .collect();
        let plain = &self.pending[..cut];
        let out = pii::redact(plain, &released, |k| g.notices().placeholder(k, self.lang));
        self.context.push_str(plain);
        self.pending.drain(..cut);
        let keep_tokens = self.horizon + EXTRA_CONTEXT_TOKENS;
        trim_context(&mut self.context, &a.norm.source, keep_tokens);
        Ok(out)
    }
}

/// Keeps the last `keep_tokens` tokens of the released `context` (`source`: where the window's
/// tokens start; the context is the window's first bytes), and at most `MAX_HELD_BYTES`.
fn trim_context(context: &mut String, source: &[usize], keep_tokens: usize) {
    let released = source.iter().take_while(|&&s| s < context.len()).count();
    let mut keep = match released.checked_sub(keep_tokens) {
        Some(first) if first > 0 => source[first],
        _ => 0,
    };
    if context.len() - keep.min(context.len()) > MAX_HELD_BYTES {
        keep = floor_char_boundary(context, context.len() - MAX_HELD_BYTES / 2);
    }
    context.drain(..keep.min(context.len()));
}

/// Where in the window (context + pending, read as `a`; pending starts at byte `offset`)
/// text must start being held back: at the word still being written (no whitespace after it
/// yet: `50` may become `500`, `contato@ubs` an e-mail), or at the first amount starter that is
/// still open — a number until `horizon` tokens follow it (a dose's anchor may still come, or
/// the rest of a phone number), a number word until it is clearly no amount (no unit right
/// after it) or, when it is one, as for a number. The window's length when nothing is held.
fn hold_point(a: &Analysis, window: &str, offset: usize, horizon: usize) -> usize {
    let pending = &window[offset..];
    let mut limit = window.len();
    if !pending.ends_with(char::is_whitespace) {
        limit = offset
            + pending
                .char_indices()
                .rev()
                .find(|(_, c)| c.is_whitespace())
                .map_or(0, |(i, c)| i + c.len_utf8());
    }
    let norm = &a.norm;
    // Only tokens that are complete count, so a partial word cannot close anything early.
    let known = norm.source.iter().take_while(|&&s| s < limit).count();
    let amounts = numbers::amounts(norm, &a.marks);
    for t in 0..known {
        let after = known - 1 - t;
        let open = if norm.tokens[t].kind == TokKind::Number {
            after < horizon
        } else if a.marks.starts_at(t, Signal::NumberWord) {
            let amount = amounts.iter().any(|am| am.first == t);
            after < if amount { horizon } else { NUMBER_WORD_REACH }
        } else {
            false
        };
        if open {
            // With the `+` or `(` of `+55 (11) …`: the phone detector's span starts there.
            let mut at = norm.source[t].min(limit);
            while at > 0 && matches!(window.as_bytes()[at - 1], b'+' | b'(') {
                at -= 1;
            }
            return at;
        }
    }
    limit
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests;
