//! How values are written inline in `report.md`: numbers at a precision that suits their size,
//! short hashes, and text (model answers, error details, names in code spans) made inert so it
//! cannot open HTML, break a table or fake the comment marker.

use crate::eval::compare::MetricDelta;

/// Characters of an answer shown under a failing case.
pub(super) const EXCERPT_CHARS: usize = 160;

pub(super) fn short_hash(sha: &str) -> String {
    code_safe(&sha.chars().take(8).collect::<String>())
}

pub(super) fn sha(sha: Option<&str>) -> String {
    match sha {
        Some(s) => format!("`{}`", code_safe(&s.chars().take(12).collect::<String>())),
        None => "(not in git)".to_string(),
    }
}

/// A number at a precision that suits its size (metrics range from 0–1 to thousands of ms):
/// three decimals below 10 (rates, similarity, judge scores), two below 100, then one.
pub(super) fn num(x: f64) -> String {
    let a = x.abs();
    if a >= 100.0 {
        format!("{x:.1}")
    } else if a >= 10.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

pub(super) fn signed(x: f64) -> String {
    if x > 0.0 {
        format!("+{}", num(x))
    } else if x == 0.0 {
        // Avoids "-0.000" for a negative zero.
        num(0.0)
    } else {
        num(x)
    }
}

pub(super) fn interval(m: &MetricDelta) -> String {
    format!("[{}, {}]", signed(m.ci_low), signed(m.ci_high))
}

/// The start of an answer on one line.
pub(super) fn excerpt(answer: &str) -> String {
    let flat = answer.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= EXCERPT_CHARS {
        flat
    } else {
        let cut: String = flat.chars().take(EXCERPT_CHARS).collect();
        format!("{cut}…")
    }
}

/// Free text (model answers, error details) made inert in Markdown: one line, no HTML, no
/// table breaks, no emphasis or links that would change how the comment renders.
pub(super) fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.split_whitespace().collect::<Vec<_>>().join(" ").chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A metric name in a table cell, as code (metric keys have underscores and colons).
pub(super) fn cell(s: &str) -> String {
    format!("`{}`", code_safe(s))
}

/// Text inside a `code span`: backticks would close it and newlines or pipes would break a
/// table row, so they are replaced.
pub(super) fn code_safe(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '`' => '\'',
            '|' => '/',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_text_cannot_open_html_tables_or_code() {
        assert_eq!(
            text("<!-- x --> | `rm` *b*\n[l](u)"),
            "&lt;!-- x --&gt; \\| \\`rm\\` \\*b\\* \\[l\\](u)"
        );
        assert_eq!(code_safe("a`b|c\n"), "a'b/c ");
    }

    #[test]
    fn an_excerpt_is_one_line_and_cut_on_a_character() {
        assert_eq!(excerpt("a\n\n b"), "a b");
        let long = "ç".repeat(300);
        let e = excerpt(&long);
        assert_eq!(e.chars().count(), EXCERPT_CHARS + 1);
        assert!(e.ends_with('…'));
    }

    #[test]
    fn numbers_read_at_a_precision_that_suits_them() {
        assert_eq!(num(0.61234), "0.612");
        assert_eq!(num(41.236), "41.24");
        assert_eq!(num(1234.56), "1234.6");
        assert_eq!(signed(2.0), "+2.000");
        assert_eq!(num(4.25), "4.250");
        assert_eq!(signed(-0.0), "0.000");
    }
}
