//! Street addresses and CEPs (Brazilian postal codes) in free text. A street is a street word
//! (`rua`, `av.`, `avenida`, `travessa`, `alameda`, `estrada`, `rodovia`, `praça`) at a word start,
//! one to six name words, then a house number of one to five digits that is not a quantity
//! (`rua por 2 horas` is not an address). A CEP is `NNNNN-NNN` (see `pii::classify`), or eight
//! digits right after the word `cep`. English-style `123 Main Street` is not recognised
//! (docs/guard.md, "Personal data").

use super::{PiiKind, PiiSpan};

/// Street words, lower case, as bytes (a trailing `.` is part of an abbreviation).
const STREETS: &[&[u8]] = &[
    b"rua",
    b"r.",
    b"avenida",
    b"av",
    b"av.",
    b"travessa",
    b"tv.",
    b"alameda",
    b"estrada",
    b"rodovia",
    b"praca",
    "praça".as_bytes(),
];

/// Words after a street word that make it a phrase about being out in the street, not a name.
const NOT_A_NAME: &[&[u8]] = &[
    b"por",
    b"durante",
    b"ha",
    b"faz",
    b"com",
    b"e",
    b"hoje",
    b"ontem",
    b"agora",
    b"a",
    b"o",
    b"as",
    b"os",
    b"em",
    b"na",
    b"no",
    b"for",
    b"and",
    b"at",
    b"today",
    b"yesterday",
    b"mais",
];

/// Words after a number that make it a quantity, not a house number.
const UNITS: &[&[u8]] = &[
    b"h", b"hs", b"hora", b"horas", b"min", b"minuto", b"minutos", b"dia", b"dias", b"vez",
    b"vezes", b"semana", b"semanas", b"sem", b"mes", b"meses", b"ano", b"anos", b"km", b"m",
    b"metros", b"kg", b"mg", b"graus", b"hours", b"hour", b"minutes", b"days", b"weeks", b"times",
];

const MAX_NAME_WORDS: usize = 6;

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c >= 0x80
}

/// The word (letters, digits, non-ASCII bytes, and one trailing `.`) starting at `i`.
fn word_at(b: &[u8], i: usize) -> (usize, usize) {
    let mut e = i;
    while e < b.len() && is_word_byte(b[e]) {
        e += 1;
    }
    if e < b.len() && b[e] == b'.' && e > i {
        e += 1;
    }
    (i, e)
}

fn lower_eq(word: &[u8], list: &[&[u8]]) -> bool {
    list.iter().any(|w| word.eq_ignore_ascii_case(w))
}

/// Skips spaces, commas and `nº`-like markers between words.
fn skip_gap(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b',' | b'\t') {
        i += 1;
    }
    i
}

/// Street addresses in `b` (ASCII-folded bytes), in order.
pub(super) fn find_streets(b: &[u8]) -> Vec<PiiSpan> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let at_word = is_word_byte(b[i]) && (i == 0 || !is_word_byte(b[i - 1]));
        if !at_word {
            i += 1;
            continue;
        }
        let (s, e) = word_at(b, i);
        let word = &b[s..e];
        let bare = word.strip_suffix(b".").unwrap_or(word);
        if (lower_eq(word, STREETS) || lower_eq(bare, STREETS))
            && let Some(end) = house_number_after(b, e)
        {
            out.push(PiiSpan {
                start: s,
                end,
                kind: PiiKind::Address,
            });
            i = end;
            continue;
        }
        i = e.max(i + 1);
    }
    out
}

/// The end of `name words… number` after a street word ending at `from`, if that follows.
fn house_number_after(b: &[u8], from: usize) -> Option<usize> {
    let mut i = skip_gap(b, from);
    let mut names = 0;
    while i < b.len() && names <= MAX_NAME_WORDS {
        let (s, e) = word_at(b, i);
        if e == s {
            return None;
        }
        let word = &b[s..e];
        if word.iter().all(u8::is_ascii_digit) {
            if names == 0 || word.len() > 5 {
                return None;
            }
            let next = skip_gap(b, e);
            let (ns, ne) = word_at(b, next);
            let following = b[ns..ne].strip_suffix(b".").unwrap_or(&b[ns..ne]);
            return (!lower_eq(following, UNITS)).then_some(e);
        }
        let bare = word.strip_suffix(b".").unwrap_or(word);
        if word.iter().any(u8::is_ascii_digit) || (names == 0 && lower_eq(bare, NOT_A_NAME)) {
            return None;
        }
        names += 1;
        i = skip_gap(b, e);
    }
    None
}

/// Eight digits right after the word `cep` (`cep 80210140`): the bare form of a postal code.
pub(super) fn cep_word_before(b: &[u8], start: usize) -> bool {
    let mut j = start;
    while j > 0 && matches!(b[j - 1], b' ' | b':' | b'.') {
        j -= 1;
    }
    j >= 3 && b[j - 3..j].eq_ignore_ascii_case(b"cep") && (j == 3 || !is_word_byte(b[j - 4]))
}
