//! Text normalisation for matching: format characters dropped (zero-width space and joiners,
//! word joiner, soft hyphen, BOM, bidi marks: they must join a word, not split it), full-width
//! forms folded, NFKD, diacritics stripped, lowercase, one space between tokens, punctuation reduced to the few marks the rules read (sentence stop, comma, slash), and
//! informal spellings mapped to one form through the clinicians' `spelling.toml` tables.
//!
//! The same function normalises lexicon terms at load and messages per request, so a term written
//! `"Dor de cabeça"` matches `DOR DE CABESA!!` once `cabesa = "cabeça"` is in the spelling table.
//! The output is padded with a space at both ends, so the lexicon matches whole words by
//! searching for `" term "`.

use std::collections::HashMap;

use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// What one token of normalised text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokKind {
    /// Letters (ASCII after folding, or other alphabetic characters lowercased).
    Word,
    /// Digits, with a decimal `,` or `.` kept when digits follow it (`38,5`).
    Number,
    /// `/`, kept for blood pressures (`160/110`) and schedules (`8/8h`).
    Slash,
    /// `,`: ends a clause, not a sentence.
    Comma,
    /// `.`, `!`, `?`, `;`, a line break: ends a sentence.
    Stop,
}

/// One token: its byte range in [`Normalized::text`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub start: usize,
    pub end: usize,
    pub kind: TokKind,
}

/// A message in matching form: `" dor de cabeca , vendo estrelinhas "`.
#[derive(Debug, Clone, Default)]
pub struct Normalized {
    pub text: String,
    pub tokens: Vec<Token>,
    /// Per token: the byte offset in the input where it starts (the streaming guard counts its
    /// window in these tokens, and cuts the input there).
    pub source: Vec<usize>,
    /// Per token: its value if it is a number, parsed once (the rules ask for the same numbers
    /// many times).
    values: Vec<Option<f64>>,
}

impl Normalized {
    /// The text of token `i`.
    pub fn tok(&self, i: usize) -> &str {
        let t = self.tokens[i];
        &self.text[t.start..t.end]
    }

    /// The index of the token starting at byte `start`, if any.
    pub fn token_at(&self, start: usize) -> Option<usize> {
        self.tokens.binary_search_by_key(&start, |t| t.start).ok()
    }

    /// The index of the token that contains byte `pos`.
    pub fn token_containing(&self, pos: usize) -> usize {
        match self.tokens.binary_search_by_key(&pos, |t| t.start) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        }
    }

    /// The numeric value of token `i` if it is a number (`38,5` and `38.5` are 38.5; `1.500` is
    /// 1500, the Brazilian thousands separator).
    pub fn number(&self, i: usize) -> Option<f64> {
        if self.tokens.get(i)?.kind != TokKind::Number {
            return None;
        }
        match self.values.get(i) {
            Some(v) => *v,
            None => parse_number(self.tok(i)),
        }
    }
}

/// Parses a number token as written in Brazil or in English.
fn parse_number(t: &str) -> Option<f64> {
    if t.len() > 12 {
        return None;
    }
    // Rewritten in a stack buffer: a token is at most 12 bytes, and most are plain digits.
    let mut buf = [0u8; 12];
    let mut len = 0;
    let mut keep = |b: u8| {
        buf[len] = b;
        len += 1;
    };
    if t.contains(',') {
        for b in t.bytes().filter(|&b| b != b'.') {
            keep(if b == b',' { b'.' } else { b });
        }
    } else if let Some((_, frac)) = t.split_once('.')
        && frac.len() == 3
        && !frac.contains('.')
    {
        t.bytes().filter(|&b| b != b'.').for_each(keep);
    } else {
        t.bytes().for_each(keep);
    }
    std::str::from_utf8(&buf[..len])
        .ok()?
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
}

/// Informal spellings → the form the lexicons use (`cabesa` → `cabeca`, `vc` → `voce`). Keys are
/// single normalised words; values one or more normalised words.
#[derive(Debug, Clone, Default)]
pub struct Spelling {
    /// Looked up once per word of every message: hashed with FxHash (`rustc-hash`), not
    /// SipHash; the keys are fixed at load, so a message can only probe among them.
    map: HashMap<Box<str>, Box<str>, rustc_hash::FxBuildHasher>,
    longest_key: usize,
}

impl Spelling {
    /// Adds `from` → `to`; both must already be normalised (see [`normalize_plain`]).
    /// Returns the previous target if `from` was mapped already.
    pub fn insert(&mut self, from: String, to: String) -> Option<Box<str>> {
        self.longest_key = self.longest_key.max(from.len());
        self.map.insert(from.into(), to.into())
    }

    /// Number of mapped spellings.
    pub fn count(&self) -> usize {
        self.map.len()
    }

    fn get(&self, word: &str) -> Option<&str> {
        if word.len() > self.longest_key {
            return None;
        }
        self.map.get(word).map(|v| &**v)
    }
}

/// Normalises without a spelling table (used for the spelling table itself).
pub fn normalize_plain(input: &str) -> Normalized {
    normalize(input, &Spelling::default())
}

/// Invisible format characters that must not split a word (`sangra\u{200B}mento`,
/// `dipi\u{AD}rona`): soft hyphen, zero-width space/joiners, bidi marks, word joiner and
/// invisible operators, bidi embeddings and isolates, BOM, Mongolian vowel separator.
pub fn is_format_char(c: char) -> bool {
    matches!(c,
        '\u{AD}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// A character as matching reads it: `None` for a format character, full-width ASCII forms
/// (`５００ｍｇ`) folded to ASCII, anything else unchanged (NFKD does the rest).
pub fn fold_char(c: char) -> Option<char> {
    match c {
        _ if is_format_char(c) => None,
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0),
        '\u{3000}' => Some(' '),
        _ => Some(c),
    }
}

/// Normalises `input` for matching. Linear in the input; never panics on any UTF-8.
pub fn normalize(input: &str, spelling: &Spelling) -> Normalized {
    let mut w = Writer {
        out: String::with_capacity(input.len() + 8),
        tokens: Vec::with_capacity(input.len() / 4 + 4),
        source: Vec::with_capacity(input.len() / 4 + 4),
        open: None,
        open_src: 0,
        src: 0,
        spelling,
    };
    w.out.push(' ');
    let bytes = input.as_bytes();
    let mut at = 0;
    let mut prev_digit = false;
    while at < bytes.len() {
        // ASCII, most of any message, is read byte by byte: it is never a format character nor
        // folded.
        let b = bytes[at];
        if b.is_ascii() {
            w.src = at;
            at += 1;
            w.ascii(char::from(b), next_is_digit(input, at));
            prev_digit = b.is_ascii_digit();
            continue;
        }
        let here = at;
        let raw = input[at..].chars().next().unwrap_or_default();
        at += raw.len_utf8();
        let Some(c) = fold_char(raw) else {
            continue;
        };
        w.src = here;
        if c.is_ascii() {
            w.ascii(c, next_is_digit(input, at));
            prev_digit = c.is_ascii_digit();
            continue;
        }
        w.other(c, prev_digit);
        prev_digit = false;
    }
    w.close();
    let values = w
        .tokens
        .iter()
        .map(|t| match t.kind {
            TokKind::Number => parse_number(&w.out[t.start..t.end]),
            _ => None,
        })
        .collect();
    Normalized {
        text: w.out,
        tokens: w.tokens,
        source: w.source,
        values,
    }
}

/// Is the next character from byte `at` that matching keeps (format characters are skipped) an
/// ASCII digit once folded?
fn next_is_digit(input: &str, at: usize) -> bool {
    match input.as_bytes().get(at) {
        None => false,
        Some(b) if b.is_ascii() => b.is_ascii_digit(),
        Some(_) => input[at..]
            .chars()
            .find_map(fold_char)
            .is_some_and(|c| c.is_ascii_digit()),
    }
}

struct Writer<'s> {
    /// Always ends with `' '` when no token is open.
    out: String,
    tokens: Vec<Token>,
    /// The open token: its start and kind.
    open: Option<(usize, TokKind)>,
    /// Where the open token starts in the input, and where the current character is.
    open_src: usize,
    src: usize,
    /// Per token: where it starts in the input.
    source: Vec<usize>,
    spelling: &'s Spelling,
}

impl Writer<'_> {
    /// A non-ASCII character after folding (`prev_digit`: it follows a digit).
    fn other(&mut self, c: char, prev_digit: bool) {
        match c {
            // Degree signs become a word, so `38°` reads like `38 graus`.
            '\u{B0}' => self.word("graus"),
            '\u{BA}' if prev_digit => self.word("graus"),
            // Apostrophes join (`don't` → `dont`), like the ASCII one.
            '\u{2019}' | '\u{2018}' | '\u{B4}' | '\u{2032}' => {}
            '\u{2026}' | '\u{2028}' | '\u{2029}' | '\u{85}' => self.punct(TokKind::Stop),
            _ => decompose_compatible(c, |d| {
                if is_combining_mark(d) {
                    return;
                }
                if d.is_ascii() {
                    self.ascii(d, false);
                } else if d.is_alphabetic() {
                    for l in d.to_lowercase() {
                        self.letter(l);
                    }
                } else {
                    self.close();
                }
            }),
        }
    }

    fn ascii(&mut self, c: char, next_is_digit: bool) {
        match c {
            'a'..='z' => self.letter(c),
            'A'..='Z' => self.letter(c.to_ascii_lowercase()),
            '0'..='9' => {
                if !matches!(self.open, Some((_, TokKind::Number))) {
                    self.close();
                    self.open = Some((self.out.len(), TokKind::Number));
                    self.open_src = self.src;
                }
                self.out.push(c);
            }
            ',' | '.' if next_is_digit && matches!(self.open, Some((_, TokKind::Number))) => {
                self.out.push(c);
            }
            '\'' | '`' => {}
            ',' => self.punct(TokKind::Comma),
            '.' | '!' | '?' | ';' | '\n' | '\r' => self.punct(TokKind::Stop),
            '/' => self.punct(TokKind::Slash),
            // "30+4": weeks and days (seventh pass); the week is what the rules read.
            '+' if next_is_digit && self.open_two_digit_number() => self.word("semanas"),
            _ => self.close(),
        }
    }

    /// Is the open token a number of two digits (a gestational week)?
    fn open_two_digit_number(&self) -> bool {
        matches!(self.open, Some((start, TokKind::Number)) if self.out.len() - start == 2)
    }

    fn letter(&mut self, c: char) {
        if !matches!(self.open, Some((_, TokKind::Word))) {
            self.close();
            self.open = Some((self.out.len(), TokKind::Word));
            self.open_src = self.src;
        }
        self.out.push(c);
    }

    /// A whole word token (`graus` for `°`).
    fn word(&mut self, w: &str) {
        self.close();
        let start = self.out.len();
        self.out.push_str(w);
        self.open_src = self.src;
        self.push_token(start, TokKind::Word);
    }

    /// A punctuation token; repeats collapse (`!!!` is one stop, `,.` is a stop).
    fn punct(&mut self, kind: TokKind) {
        self.close();
        if let Some(last) = self.tokens.last_mut()
            && kind != TokKind::Slash
            && matches!(last.kind, TokKind::Comma | TokKind::Stop)
        {
            if kind == TokKind::Stop && last.kind == TokKind::Comma {
                last.kind = TokKind::Stop;
                let at = last.start;
                self.out.replace_range(at..at + 1, ".");
            }
            return;
        }
        let start = self.out.len();
        self.open_src = self.src;
        self.out.push(match kind {
            TokKind::Comma => ',',
            TokKind::Slash => '/',
            _ => '.',
        });
        self.push_token(start, kind);
    }

    fn push_token(&mut self, start: usize, kind: TokKind) {
        self.source.push(self.open_src);
        self.tokens.push(Token {
            start,
            end: self.out.len(),
            kind,
        });
        self.out.push(' ');
    }

    /// Ends the open token, applying the spelling table to words.
    fn close(&mut self) {
        let Some((start, kind)) = self.open.take() else {
            return;
        };
        if kind == TokKind::Word
            && let Some(to) = self.spelling.get(&self.out[start..])
        {
            self.out.truncate(start);
            for (i, word) in to.split(' ').enumerate() {
                if i > 0 {
                    self.out.push(' ');
                }
                let s = self.out.len();
                self.out.push_str(word);
                self.source.push(self.open_src);
                self.tokens.push(Token {
                    start: s,
                    end: self.out.len(),
                    kind: TokKind::Word,
                });
            }
            self.out.push(' ');
            return;
        }
        self.push_token(start, kind);
    }
}

#[cfg(test)]
mod tests;
