//! Turns the growing decoded completion into safe-to-send text deltas.
//!
//! Two things must never reach a client: half of a multi-byte UTF-8 character (a byte-level BPE
//! token can end mid-character) and any part of a stop string (OpenAI's `stop` is not part of the
//! output). So text is released only once it decodes cleanly, and a tail that could still grow
//! into a stop string is held back until the next token settles it.

/// What one more token did to the output.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Advance {
    /// Text that can be sent now (may be empty); generation goes on.
    Continue(String),
    /// A stop string appeared: send this last piece (the text before it) and stop.
    Stop(String),
}

/// Tracks what has been sent of the decoded completion.
#[derive(Debug)]
pub(super) struct DeltaBuffer {
    text: String,
    sent: usize,
    stops: Vec<String>,
    longest_stop: usize,
}

impl DeltaBuffer {
    /// A buffer cutting at any of `stops`; empty stop strings are ignored, since they would
    /// match before the first token.
    pub(super) fn new(stops: &[String]) -> Self {
        let stops: Vec<String> = stops.iter().filter(|s| !s.is_empty()).cloned().collect();
        let longest_stop = stops.iter().map(String::len).max().unwrap_or(0);
        Self {
            text: String::new(),
            sent: 0,
            stops,
            longest_stop,
        }
    }

    /// Takes the decode of every completion token so far.
    ///
    /// A decode ending in U+FFFD is a character still missing its last bytes: nothing is
    /// released until a later token completes it.
    pub(super) fn advance(&mut self, decoded: String) -> Advance {
        if decoded.ends_with(char::REPLACEMENT_CHARACTER) {
            return Advance::Continue(String::new());
        }
        self.text = decoded;
        if let Some(at) = self.find_stop() {
            return Advance::Stop(self.release(at));
        }
        let end = self.held_back_from();
        Advance::Continue(self.release(end))
    }

    /// Takes the final decode when generation ends without a stop string: everything left is
    /// released, an unfinished character included (as U+FFFD) rather than silently dropped.
    pub(super) fn finish(&mut self, decoded: String) -> Advance {
        self.text = decoded;
        match self.find_stop() {
            Some(at) => Advance::Stop(self.release(at)),
            None => Advance::Continue(self.release(self.text.len())),
        }
    }

    /// Sends `text[sent..end]`. A decode that is not an extension of what was sent (byte-level
    /// BPE never does that) releases nothing rather than panic on a bad slice.
    fn release(&mut self, end: usize) -> String {
        let piece = self.text.get(self.sent..end).unwrap_or_default().to_owned();
        self.sent = self.sent.max(end);
        piece
    }

    /// Byte offset of the earliest stop string. Only the unsent text and a stop-length window
    /// before it are searched: anything earlier was already checked.
    fn find_stop(&self) -> Option<usize> {
        if self.stops.is_empty() {
            return None;
        }
        let from = floor_char_boundary(&self.text, self.sent.saturating_sub(self.longest_stop));
        let window = &self.text[from..];
        self.stops
            .iter()
            .filter_map(|stop| window.find(stop.as_str()))
            .min()
            .map(|at| from + at)
    }

    /// Where the unsent tail that could still become a stop string begins: the earliest suffix
    /// of the text that is a prefix of some stop string.
    fn held_back_from(&self) -> usize {
        let len = self.text.len();
        let earliest = len.saturating_sub(self.longest_stop).max(self.sent);
        (earliest..len)
            .filter(|&i| self.text.is_char_boundary(i))
            .find(|&i| {
                let tail = &self.text[i..];
                self.stops.iter().any(|stop| stop.starts_with(tail))
            })
            .unwrap_or(len)
    }
}

/// The largest char boundary `<= index` (`str::floor_char_boundary` is not stable yet).
fn floor_char_boundary(text: &str, index: usize) -> usize {
    let mut i = index.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds successive decodes and collects what a client would have received.
    fn feed(stops: &[&str], decodes: &[&str]) -> (String, bool) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut buffer = DeltaBuffer::new(&stops);
        let mut out = String::new();
        for decoded in decodes {
            match buffer.advance(decoded.to_string()) {
                Advance::Continue(piece) => out.push_str(&piece),
                Advance::Stop(piece) => {
                    out.push_str(&piece);
                    return (out, true);
                }
            }
        }
        let last = decodes.last().copied().unwrap_or_default().to_string();
        match buffer.finish(last) {
            Advance::Continue(piece) => out.push_str(&piece),
            Advance::Stop(piece) => {
                out.push_str(&piece);
                return (out, true);
            }
        }
        (out, false)
    }

    #[test]
    fn text_without_stops_is_released_as_it_grows() {
        let mut buffer = DeltaBuffer::new(&[]);
        assert_eq!(buffer.advance("Ol".into()), Advance::Continue("Ol".into()));
        assert_eq!(buffer.advance("Olá".into()), Advance::Continue("á".into()));
    }

    #[test]
    fn a_character_split_across_tokens_is_held_until_complete() {
        let mut buffer = DeltaBuffer::new(&[]);
        assert_eq!(buffer.advance("a".into()), Advance::Continue("a".into()));
        assert_eq!(
            buffer.advance("a\u{FFFD}".into()),
            Advance::Continue(String::new())
        );
        assert_eq!(buffer.advance("a🤰".into()), Advance::Continue("🤰".into()));
    }

    #[test]
    fn a_stop_string_and_what_follows_never_reach_the_client() {
        let (out, stopped) = feed(&["\n\n"], &["Um", "Um\n", "Um\n\n", "Um\n\nDois"]);
        assert_eq!(out, "Um");
        assert!(stopped);
    }

    #[test]
    fn a_stop_string_split_over_many_tokens_is_still_caught() {
        let (out, stopped) = feed(&["FIM."], &["a F", "a FI", "a FIM", "a FIM.", "a FIM. b"]);
        assert_eq!(out, "a ");
        assert!(stopped);
    }

    #[test]
    fn a_held_back_tail_that_does_not_become_a_stop_is_released() {
        let (out, stopped) = feed(&["FIM."], &["a F", "a FI", "a FIX", "a FIX!"]);
        assert_eq!(out, "a FIX!");
        assert!(!stopped);
    }

    #[test]
    fn the_earliest_of_several_stop_strings_wins() {
        let (out, stopped) = feed(&["zz", "b"], &["abczz"]);
        assert_eq!(out, "a");
        assert!(stopped);
    }

    #[test]
    fn an_unfinished_character_at_the_end_is_flushed_not_dropped() {
        let (out, stopped) = feed(&[], &["ok", "ok\u{FFFD}"]);
        assert_eq!(out, "ok\u{FFFD}");
        assert!(!stopped);
    }

    #[test]
    fn empty_stop_strings_are_ignored() {
        let (out, stopped) = feed(&[""], &["a", "ab"]);
        assert_eq!(out, "ab");
        assert!(!stopped);
    }
}
