//! A minimal Server-Sent Events reader for upstream streams: bytes in, `data` payloads out.
//! Follows the WHATWG event-stream format (events end at a blank line, `data:` lines join with
//! `\n`, `:` lines are comments), tolerating `\r\n` line ends and events split across reads.

/// Incremental SSE parser.
#[derive(Default)]
pub struct SseParser {
    buf: Vec<u8>,
}

impl SseParser {
    /// Feeds bytes; returns the `data` of every event completed by them, in order.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        self.buf.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some((end, sep)) = find_event_end(&self.buf) {
            let raw: Vec<u8> = self.buf.drain(..end + sep).collect();
            let text = String::from_utf8_lossy(&raw[..end]);
            let mut data: Option<String> = None;
            for line in text.lines() {
                let line = line.strip_suffix('\r').unwrap_or(line);
                if let Some(rest) = line.strip_prefix("data:") {
                    let rest = rest.strip_prefix(' ').unwrap_or(rest);
                    match &mut data {
                        Some(d) => {
                            d.push('\n');
                            d.push_str(rest);
                        }
                        None => data = Some(rest.to_string()),
                    }
                }
            }
            if let Some(d) = data {
                events.push(d);
            }
        }
        events
    }
}

/// Position of the first blank line (event end) and the separator's length.
fn find_event_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i + 1 < buf.len() {
        if buf[i] == b'\n' && buf[i + 1] == b'\n' {
            return Some((i, 2));
        }
        if buf[i] == b'\n' && i + 2 < buf.len() && buf[i + 1] == b'\r' && buf[i + 2] == b'\n' {
            return Some((i, 3));
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_reads_come_out_whole() {
        let mut p = SseParser::default();
        assert!(p.feed(b"data: {\"a\":").is_empty());
        assert_eq!(
            p.feed(b"1}\n\ndata: [DONE]\n\n"),
            vec!["{\"a\":1}", "[DONE]"]
        );
    }

    #[test]
    fn comments_and_crlf_line_ends_are_handled() {
        let mut p = SseParser::default();
        assert_eq!(p.feed(b": keep-alive\r\n\r\ndata: x\r\n\r\n"), vec!["x"]);
    }

    #[test]
    fn multi_line_data_is_joined_with_newlines() {
        let mut p = SseParser::default();
        assert_eq!(p.feed(b"data: a\ndata: b\n\n"), vec!["a\nb"]);
    }

    #[test]
    fn a_multibyte_character_split_between_reads_survives() {
        let mut p = SseParser::default();
        let bytes = "data: cabeça\n\n".as_bytes();
        let cut = bytes.iter().position(|&b| b == 0xC3).unwrap() + 1;
        assert!(p.feed(&bytes[..cut]).is_empty());
        assert_eq!(p.feed(&bytes[cut..]), vec!["cabeça"]);
    }
}
