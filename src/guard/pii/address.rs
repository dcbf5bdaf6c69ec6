//! Street addresses and CEPs (Brazilian postal codes) in free text. A street is a street word
//! (`rua`, `av.`, `avenida`, `travessa`, `alameda`, `estrada`, `rodovia`, `praça`) at a word start,
//! one to six name words, then a house number of one to five digits that is not a quantity
//! (`rua por 2 horas` is not an address). A CEP is `NNNNN-NNN` (see `pii::classify`), or eight
//! digits right after the word `cep`. English-style, the number comes first: `123 Main Street`,
//! `2458 Oakridge Dr` (one to four name words, then a street-type word), and a ZIP code is five
//! digits (or `NNNNN-NNNN`) right after a US state's two capitals (`Austin TX 78704`). As with
//! Brazilian addresses, the city and the flat number around them are kept (docs/guard.md,
//! "Personal data").

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

/// First bytes (lower case) of the street words: a word starting otherwise, most of a message,
/// is passed over without comparing it to each of them.
const STREET_INITIALS: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < STREETS.len() {
        table[STREETS[i][0].to_ascii_lowercase() as usize] = true;
        i += 1;
    }
    table
};

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

/// Per byte: letters, digits and non-ASCII bytes are word bytes (one load where the scans ask it
/// of nearly every byte).
const WORD_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut c = 0;
    while c < 256 {
        table[c] = (c as u8).is_ascii_alphanumeric() || c >= 0x80;
        c += 1;
    }
    table
};

pub(super) fn is_word_byte(c: u8) -> bool {
    WORD_BYTES[usize::from(c)]
}

/// Is `word` a street word, with or without a trailing `.`, in any case? The same test as
/// `lower_eq(word, STREETS) || lower_eq(bare, STREETS)`, with the word lowercased once.
pub(super) fn is_street_word(word: &[u8]) -> bool {
    // Longer than the longest street word and its `.`: none of them.
    let mut buf = [0u8; 10];
    let Some(lower) = buf.get_mut(..word.len()) else {
        return false;
    };
    lower.copy_from_slice(word);
    lower.make_ascii_lowercase();
    let bare = lower.strip_suffix(b".").unwrap_or(lower);
    STREETS.contains(&&*lower) || STREETS.contains(&bare)
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
    scan(b, is_word_byte, |s, e| {
        let word = &b[s..e];
        if !STREET_INITIALS[word[0].to_ascii_lowercase() as usize] {
            return None;
        }
        if is_street_word(word) {
            house_number_after(b, e)
        } else {
            None
        }
    })
}

/// The addresses of `b` found word by word: at each word start whose first byte passes
/// `starts`, `matched(start, end)` of that word gives the end of an address beginning there, if
/// one does; the scan goes on after it.
fn scan(
    b: &[u8],
    starts: fn(u8) -> bool,
    matched: impl Fn(usize, usize) -> Option<usize>,
) -> Vec<PiiSpan> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !starts(b[i]) || (i > 0 && is_word_byte(b[i - 1])) {
            i += 1;
            continue;
        }
        let (s, e) = word_at(b, i);
        if let Some(end) = matched(s, e) {
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

/// Street-type words that end an English-style address: `123 Main Street`, `1502 sunset avenue`.
const STREET_TYPES: &[&[u8]] = &[
    b"street",
    b"avenue",
    b"road",
    b"drive",
    b"boulevard",
    b"lane",
    b"court",
    b"place",
    b"parkway",
    b"highway",
    b"terrace",
    b"circle",
    b"square",
];

/// Their abbreviations. They also end other phrases ("took 2 pills dr said"), so after one the
/// street name must start with a capital (`2458 Oakridge Dr`).
const STREET_TYPE_ABBREVIATIONS: &[&[u8]] = &[
    b"st", b"ave", b"av", b"rd", b"dr", b"blvd", b"ln", b"ct", b"pl", b"pkwy", b"hwy", b"ter",
    b"cir", b"sq", b"way",
];

/// Words that are no part of a street name between a number and a street word: "2 blocks down
/// the street", "walked 3 miles on the road".
const NOT_A_STREET_NAME: &[&[u8]] = &[
    b"the", b"a", b"an", b"of", b"on", b"in", b"at", b"to", b"my", b"your", b"our", b"down", b"up",
    b"across", b"from", b"and", b"or", b"for", b"per", b"this", b"that", b"blocks", b"block",
    b"miles", b"mile", b"times", b"pills", b"tablets", b"kids", b"cars", b"houses", b"doors",
    b"de", b"da", b"do", b"na", b"no", b"em",
];

const MAX_STREET_NAME_WORDS: usize = 4;

/// `1st`, `2nd`, `3rd`, `4th`: numbered streets.
const ORDINAL_ENDINGS: &[&[u8]] = &[b"st", b"nd", b"rd", b"th"];

/// A street name word: letters (an ordinal such as `3rd` too), not a little word.
fn street_name_word(word: &[u8]) -> bool {
    let letters = word.iter().all(|c| c.is_ascii_alphabetic() || *c >= 0x80);
    let digits = word.iter().take_while(|c| c.is_ascii_digit()).count();
    let ordinal = digits > 0 && lower_eq(&word[digits..], ORDINAL_ENDINGS);
    (letters || ordinal) && !lower_eq(word, NOT_A_STREET_NAME)
}

/// English-style street addresses in `b`: a house number of one to six digits at a word start,
/// one to four name words separated by single spaces, then a street-type word.
pub(super) fn find_numbered_streets(b: &[u8]) -> Vec<PiiSpan> {
    scan(
        b,
        |c| c.is_ascii_digit(),
        |s, e| {
            let number = b[s..e].strip_suffix(b".").unwrap_or(&b[s..e]);
            if number.len() <= 6 && number.iter().all(u8::is_ascii_digit) {
                street_type_after(b, s + number.len())
            } else {
                None
            }
        },
    )
}

/// The end of `name words… street-type` right after a house number ending at `from`.
fn street_type_after(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    let mut names = 0;
    let mut capital = false;
    while names <= MAX_STREET_NAME_WORDS {
        if b.get(i) != Some(&b' ') {
            return None;
        }
        let (s, e) = word_at(b, i + 1);
        let word = &b[s..e];
        let bare = word.strip_suffix(b".").unwrap_or(word);
        if names > 0 && lower_eq(bare, STREET_TYPES) {
            return Some(e);
        }
        if names > 0 && capital && lower_eq(bare, STREET_TYPE_ABBREVIATIONS) {
            return Some(e);
        }
        if e == s || bare.len() != word.len() || !street_name_word(word) {
            return None;
        }
        capital |= names == 0 && word[0].is_ascii_uppercase();
        names += 1;
        i = e;
    }
    None
}

/// The two-letter codes of the US states, DC and the territories.
const US_STATES: &[&[u8; 2]] = &[
    b"AL", b"AK", b"AZ", b"AR", b"CA", b"CO", b"CT", b"DE", b"DC", b"FL", b"GA", b"HI", b"ID",
    b"IL", b"IN", b"IA", b"KS", b"KY", b"LA", b"ME", b"MD", b"MA", b"MI", b"MN", b"MS", b"MO",
    b"MT", b"NE", b"NV", b"NH", b"NJ", b"NM", b"NY", b"NC", b"ND", b"OH", b"OK", b"OR", b"PA",
    b"RI", b"SC", b"SD", b"TN", b"TX", b"UT", b"VT", b"VA", b"WA", b"WV", b"WI", b"WY", b"PR",
    b"GU", b"VI",
];

/// A US state's two capitals (`TX`, `MA,`) right before `start`: the number after them is a ZIP
/// code.
pub(super) fn us_state_before(b: &[u8], start: usize) -> bool {
    let mut j = start;
    while j > 0 && matches!(b[j - 1], b' ' | b',') {
        j -= 1;
    }
    j >= 2
        && j < start
        && US_STATES.iter().any(|st| &b[j - 2..j] == st.as_slice())
        && (j == 2 || !is_word_byte(b[j - 3]))
}
