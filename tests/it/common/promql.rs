//! Reading PromQL and the Prometheus text exposition, just enough to know which series an alert
//! rule or a dashboard panel reads and which ones the gateway exports (tests/it/alert_rules.rs).
//! Not a PromQL parser: it skips strings, label matchers, ranges, numbers, keywords, functions,
//! aggregations and grouping clauses, and what is left are series names.

use std::collections::BTreeSet;

/// Aggregation operators: a word in this list is never a series (`sum by (le) (…)` puts no `(`
/// right after the operator, so the "followed by `(`" rule alone does not catch them).
const AGGREGATIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];

/// Binary operators and modifiers spelled as words.
const KEYWORDS: &[&str] = &[
    "and", "or", "unless", "bool", "offset", "atan2", "inf", "nan", "start", "end",
];

/// Words followed by a parenthesised list of label names.
const GROUPING: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// The series names that `expr` reads, e.g. `{"powerbirth_http_requests_total"}` for
/// `sum(rate(powerbirth_http_requests_total{status=~"5.."}[5m]))`.
pub fn series_names(expr: &str) -> BTreeSet<String> {
    let b = expr.as_bytes();
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if matches!(c, b'"' | b'\'' | b'`') {
            i = skip_quoted(b, i);
        } else if c == b'{' {
            i = skip_block(b, i, b'}');
        } else if c == b'[' {
            i = skip_block(b, i, b']');
        } else if c == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            // A number or a duration (`0.95`, `1e9`, `5m`).
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == b'_' || c == b':' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':') {
                i += 1;
            }
            let word = &expr[start..i];
            let mut j = i;
            while j < b.len() && b[j].is_ascii_whitespace() {
                j += 1;
            }
            let before_paren = b.get(j) == Some(&b'(');
            if GROUPING.contains(&word) {
                if before_paren {
                    i = skip_block(b, j, b')');
                }
            } else if !before_paren && !AGGREGATIONS.contains(&word) && !KEYWORDS.contains(&word) {
                names.insert(word.to_string());
            }
        } else {
            i += 1;
        }
    }
    names
}

/// The index just past the string literal that starts at `start`.
fn skip_quoted(b: &[u8], start: usize) -> usize {
    let quote = b[start];
    let mut i = start + 1;
    while i < b.len() && b[i] != quote {
        // Backquoted strings have no escapes.
        i += if b[i] == b'\\' && quote != b'`' { 2 } else { 1 };
    }
    i + 1
}

/// The index just past the `close` that ends the block opened at `start` (strings inside
/// skipped, so `{re=~"a{2}"}` ends at the right brace).
fn skip_block(b: &[u8], start: usize, close: u8) -> usize {
    let mut i = start + 1;
    while i < b.len() && b[i] != close {
        i = if matches!(b[i], b'"' | b'\'' | b'`') {
            skip_quoted(b, i)
        } else {
            i + 1
        };
    }
    i + 1
}

/// Every sample name a Prometheus text exposition can carry: each `# TYPE` family with the
/// suffixes of its kind (`_total` for a counter; `_bucket`, `_sum`, `_count` for a histogram, …),
/// plus the names of the samples present. A family with no labelled child yet still counts: its
/// `# TYPE` line is there from start-up.
pub fn exported_names(exposition: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in exposition.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
                continue;
            };
            let suffixes: &[&str] = match kind {
                "counter" => &["_total", "_created"],
                "histogram" | "gaugehistogram" => &["_bucket", "_sum", "_count", "_created"],
                "summary" => &["", "_sum", "_count", "_created"],
                "info" => &["_info"],
                _ => &[""],
            };
            for s in suffixes {
                names.insert(format!("{name}{s}"));
            }
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            names.insert(line[..end].to_string());
        }
    }
    names
}
