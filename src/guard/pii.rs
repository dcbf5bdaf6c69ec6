//! Personal data in free text: CPF (check digits validated), CNS / cartão SUS (validated by the
//! Ministry of Health algorithm, definitive 1/2 and provisional 7/8/9 numbers), Brazilian phone
//! numbers (valid DDD, mobile 9 + 8 digits or landline 2–5 + 7 digits, with or without +55) and
//! foreign phone numbers in international form (`+44 …`) and North American ones (`614-555-0142`),
//! e-mail addresses, street addresses, CEPs and US ZIP codes (`address`); and their redaction with placeholders. Hand-written byte scanners, no regex:
//! linear in the input, and a number that fails its check digits is left alone.

/// What a redacted span was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PiiKind {
    Cpf,
    Cns,
    Phone,
    Email,
    /// A street with its house number, or a CEP (postal code).
    Address,
}

impl PiiKind {
    /// `cpf`, `cns`, `phone`, `email`, `address` (for `matched` and logs).
    pub fn as_str(self) -> &'static str {
        match self {
            PiiKind::Cpf => "cpf",
            PiiKind::Cns => "cns",
            PiiKind::Phone => "phone",
            PiiKind::Email => "email",
            PiiKind::Address => "address",
        }
    }
}

/// A span of personal data in the original text (byte offsets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PiiSpan {
    pub start: usize,
    pub end: usize,
    pub kind: PiiKind,
}

/// Most separator characters accepted between two digit groups (`529 . 982`, `529_-_982`).
const MAX_SEPARATORS: usize = 8;

/// Every PII span in `text`, in order, not overlapping. Full-width digits (`５２９`) count as
/// digits and invisible format characters (zero-width space, soft hyphen…) as nothing: the text
/// is folded first (only when it has non-ASCII characters) and the spans mapped back.
pub fn find(text: &str) -> Vec<PiiSpan> {
    // Most text, accented or not, has nothing to fold: then the folded bytes would be the text's
    // own and every span boundary (always at an ASCII byte or a character start) would map to
    // itself, so the text is scanned as it is, without the copy and the offset table.
    if text
        .chars()
        .all(|c| c.is_ascii() || super::normalize::fold_char(c) == Some(c))
    {
        return find_ascii(text.as_bytes());
    }
    find_folded(text)
}

/// [`find`] through the folded copy of `text`.
fn find_folded(text: &str) -> Vec<PiiSpan> {
    let (folded, origin) = fold(text);
    let mut spans = find_ascii(&folded);
    for s in &mut spans {
        s.start = origin[s.start];
        s.end = origin[s.end];
    }
    spans
}

/// `text` with full-width digits and ASCII forms as ASCII and format characters dropped, and per
/// folded byte (plus one past the end) the input byte it came from.
fn fold(text: &str) -> (Vec<u8>, Vec<usize>) {
    let mut out = Vec::with_capacity(text.len());
    let mut origin = Vec::with_capacity(text.len() + 1);
    for (i, c) in text.char_indices() {
        let Some(f) = super::normalize::fold_char(c) else {
            continue;
        };
        let mut buf = [0u8; 4];
        for &b in f.encode_utf8(&mut buf).as_bytes() {
            out.push(b);
            origin.push(i);
        }
    }
    // A span ends where the next kept character starts (format characters between are
    // covered, which redacts nothing visible).
    origin.push(text.len());
    (out, origin)
}

fn find_ascii(b: &[u8]) -> Vec<PiiSpan> {
    let mut spans = find_emails(b);
    let emails = spans.len();
    let mut groups: Vec<(usize, usize)> = Vec::new();
    let mut e = 0;
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        while e < emails && spans[e].end <= i {
            e += 1;
        }
        if e < emails && spans[e].start <= i {
            i = spans[e].end;
            continue;
        }
        // A chunk: digit groups joined by up to MAX_SEPARATORS of ` .-()_/,`.
        groups.clear();
        loop {
            let s = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            groups.push((s, i));
            let mut j = i;
            while j < b.len()
                && j - i < MAX_SEPARATORS
                && matches!(b[j], b' ' | b'.' | b'-' | b'(' | b')' | b'_' | b'/' | b',')
            {
                j += 1;
            }
            if j > i && j < b.len() && b[j].is_ascii_digit() {
                i = j;
            } else {
                break;
            }
        }
        classify_chunk(b, &groups, &mut spans);
    }
    // Streets last, and only where no number found above overlaps them (a CEP or phone inside
    // `Rua X, 12, CEP …` stays its own span).
    let mut streets = address::find_streets(b);
    streets.extend(address::find_numbered_streets(b));
    for street in streets {
        if !spans
            .iter()
            .any(|s| s.start < street.end && street.start < s.end)
        {
            spans.push(street);
        }
    }
    spans.sort_by_key(|s| s.start);
    spans
}

/// Finds PII in consecutive groups of one chunk, longest first.
fn classify_chunk(b: &[u8], groups: &[(usize, usize)], out: &mut Vec<PiiSpan>) {
    let mut i = 0;
    'outer: while i < groups.len() {
        let mut digits = 0;
        let mut last = i;
        while last < groups.len() && digits + (groups[last].1 - groups[last].0) <= 15 {
            digits += groups[last].1 - groups[last].0;
            last += 1;
        }
        for j in (i..last).rev() {
            if let Some(kind) = classify(b, &groups[i..=j]) {
                let mut start = groups[i].0;
                // Include a leading `+` or `(` of `+55 (11) …`.
                while start > 0 && matches!(b[start - 1], b'+' | b'(') {
                    start -= 1;
                }
                out.push(PiiSpan {
                    start,
                    end: groups[j].1,
                    kind,
                });
                i = j + 1;
                continue 'outer;
            }
        }
        i += 1;
    }
}

fn classify(b: &[u8], groups: &[(usize, usize)]) -> Option<PiiKind> {
    let mut d = [0u8; 15];
    let mut n = 0;
    for &(s, e) in groups {
        for &c in &b[s..e] {
            if n == 15 {
                return None;
            }
            d[n] = c - b'0';
            n += 1;
        }
    }
    let d = &d[..n];
    let lens: Vec<usize> = groups.iter().map(|(s, e)| e - s).collect();
    let first = groups[0].0;
    let phone_shaped = (first > 0 && matches!(b[first - 1], b'+' | b'('))
        || matches!(lens.as_slice(), [2, 5, 4] | [2, 4, 4] | [2, 9] | [2, 8]);
    match n {
        11 if cpf_valid(d) && !phone_shaped => Some(PiiKind::Cpf),
        11 if phone_valid(d) => Some(PiiKind::Phone),
        11 if cpf_valid(d) => Some(PiiKind::Cpf),
        10 if phone_valid(d) => Some(PiiKind::Phone),
        12 | 13 if d[..2] == [5, 5] && phone_valid(&d[2..]) => Some(PiiKind::Phone),
        12 if d[0] == 0 && phone_valid(&d[1..]) => Some(PiiKind::Phone),
        15 if cns_valid(d) => Some(PiiKind::Cns),
        // A foreign number in international form (`+44 7700 900123`, `+351 912 345 678`): E.164
        // allows up to 15 digits with the country code.
        8..=15 if first > 0 && b[first - 1] == b'+' => Some(PiiKind::Phone),
        // North American numbers: `614-555-0142`, `(614) 555 0142`, `1 614 555 0142` (area code
        // and exchange start with 2–9).
        10 if lens == [3, 3, 4] && d[0] >= 2 && d[3] >= 2 => Some(PiiKind::Phone),
        11 if lens == [1, 3, 3, 4] && d[0] == 1 && d[1] >= 2 && d[4] >= 2 => Some(PiiKind::Phone),
        // A US ZIP code after a state: `Austin TX 78704`, `MA 02118-1234`.
        5 if lens == [5] && address::us_state_before(b, first) => Some(PiiKind::Address),
        9 if lens == [5, 4] && b[groups[0].1] == b'-' && address::us_state_before(b, first) => {
            Some(PiiKind::Address)
        }
        // A mobile number without its DDD, only when written `91234-5678`.
        9 if lens == [5, 4] && d[0] == 9 && b[groups[0].1] == b'-' => Some(PiiKind::Phone),
        // A CEP: `80210-140`, or eight digits after the word `cep`.
        8 if lens == [5, 3] && b[groups[0].1] == b'-' => Some(PiiKind::Address),
        8 if lens == [8] && address::cep_word_before(b, first) => Some(PiiKind::Address),
        _ => None,
    }
}

/// CPF check digits (Receita Federal): two mod-11 digits; numbers of one repeated digit are
/// invalid although their check digits work out.
pub fn cpf_valid(d: &[u8]) -> bool {
    if d.len() != 11 || d.iter().all(|&x| x == d[0]) {
        return false;
    }
    let check = |len: usize| {
        let sum: u32 = d[..len]
            .iter()
            .enumerate()
            .map(|(i, &x)| u32::from(x) * (len as u32 + 1 - i as u32))
            .sum();
        ((sum * 10) % 11 % 10) as u8
    };
    check(9) == d[9] && check(10) == d[10]
}

/// CNS (Cartão Nacional de Saúde) validation, as published by the Ministry of Health
/// (DATASUS "Rotina de validação do CNS"): numbers starting 1 or 2 are built from an 11-digit
/// PIS plus `000`/`001` and a check digit; numbers starting 7, 8 or 9 are valid when the
/// weighted sum (weights 15 down to 1) is a multiple of 11.
pub fn cns_valid(d: &[u8]) -> bool {
    if d.len() != 15 {
        return false;
    }
    let weighted = |digits: &[u8]| -> u32 {
        digits
            .iter()
            .enumerate()
            .map(|(i, &x)| u32::from(x) * (15 - i as u32))
            .sum()
    };
    match d[0] {
        1 | 2 => {
            let mut sum = weighted(&d[..11]);
            let mut dv = 11 - sum % 11;
            if dv == 11 {
                dv = 0;
            }
            let mut middle = [0u8, 0, 0];
            if dv == 10 {
                sum += 2;
                dv = 11 - sum % 11;
                middle = [0, 0, 1];
            }
            dv <= 9 && d[11..14] == middle && u32::from(d[14]) == dv
        }
        7..=9 => weighted(d) % 11 == 0,
        _ => false,
    }
}

/// Area codes (DDD) in use in Brazil (ANATEL).
fn ddd_valid(a: u8, b: u8) -> bool {
    let ddd = a * 10 + b;
    matches!(ddd,
        11..=19 | 21 | 22 | 24 | 27 | 28 | 31..=35 | 37 | 38 | 41..=49 | 51 | 53..=55
        | 61..=69 | 71 | 73..=75 | 77 | 79 | 81..=89 | 91..=99)
}

/// DDD + mobile (9 and eight digits) or DDD + landline (first digit 2–5, eight digits).
fn phone_valid(d: &[u8]) -> bool {
    match d.len() {
        11 => ddd_valid(d[0], d[1]) && d[2] == 9,
        10 => ddd_valid(d[0], d[1]) && (2..=5).contains(&d[2]),
        _ => false,
    }
}

fn find_emails(b: &[u8]) -> Vec<PiiSpan> {
    let local_ok =
        |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-');
    let domain_ok = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-');
    let mut out = Vec::new();
    let mut from = 0;
    for at in memchr_all(b, b'@') {
        if at < from {
            continue;
        }
        let mut s = at;
        while s > from && at - s < 64 && local_ok(b[s - 1]) {
            s -= 1;
        }
        while s < at && b[s] == b'.' {
            s += 1;
        }
        let mut e = at + 1;
        while e < b.len() && e - at <= 253 && domain_ok(b[e]) {
            e += 1;
        }
        while e > at + 1 && matches!(b[e - 1], b'.' | b'-') {
            e -= 1;
        }
        let domain = &b[at + 1..e];
        let tld = domain.rsplit(|&c| c == b'.').next().unwrap_or(&[]);
        let labels_ok = domain.split(|&c| c == b'.').all(|l| !l.is_empty());
        if s < at
            && domain.contains(&b'.')
            && labels_ok
            && tld.len() >= 2
            && tld.iter().all(u8::is_ascii_alphabetic)
        {
            out.push(PiiSpan {
                start: s,
                end: e,
                kind: PiiKind::Email,
            });
            from = e;
        }
    }
    out
}

fn memchr_all(b: &[u8], needle: u8) -> impl Iterator<Item = usize> + '_ {
    b.iter()
        .enumerate()
        .filter(move |&(_, &c)| c == needle)
        .map(|(i, _)| i)
}

/// `text` with every span replaced by its placeholder.
pub fn redact<'p>(
    text: &str,
    spans: &[PiiSpan],
    placeholder: impl Fn(PiiKind) -> &'p str,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for s in spans {
        out.push_str(&text[at..s.start]);
        out.push_str(placeholder(s.kind));
        at = s.end;
    }
    out.push_str(&text[at..]);
    out
}

mod address;
#[cfg(test)]
mod tests;
