//! `junit.xml` as CI test viewers read it: a `<testsuite>` per set (named by its file), a
//! `<testcase>` per case; failed cases carry `<failure>` listing the failed assertions, errored
//! ones `<error>` with the reason; each case's answer is in `<system-out>`.

use std::fmt::Write as _;

use super::{run_counts, set_counts};
use crate::eval::results::{AssertionResult, CaseResult, CaseStatus, RunResult, SetResult};

/// The `junit.xml` text of a run.
pub fn junit(run: &RunResult) -> String {
    let total = run_counts(run);
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\">",
        attr(&format!("powerbirth eval {} ({})", run.run_id, run.model)),
        total.passed + total.failed + total.errored,
        total.failed,
        total.errored
    );
    for set in &run.sets {
        testsuite(&mut xml, set);
    }
    xml.push_str("</testsuites>\n");
    xml
}

/// One set's `<testsuite>`; its time is the sum of its cases' latencies.
fn testsuite(xml: &mut String, set: &SetResult) {
    let n = set_counts(set);
    let seconds: u64 = set.cases.iter().map(|c| c.latency_ms).sum();
    let _ = writeln!(
        xml,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\" time=\"{}\">",
        attr(&set.file),
        set.cases.len(),
        n.failed,
        n.errored,
        ms_to_s(seconds)
    );
    for case in &set.cases {
        testcase(xml, &set.file, case);
    }
    xml.push_str("  </testsuite>\n");
}

fn testcase(xml: &mut String, file: &str, case: &CaseResult) {
    let name = if case.required {
        format!("{} [required]", case.id)
    } else {
        case.id.clone()
    };
    let _ = writeln!(
        xml,
        "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\">",
        attr(file),
        attr(&name),
        ms_to_s(case.latency_ms)
    );
    match case.status {
        CaseStatus::Passed => {}
        CaseStatus::Failed => {
            let failed: Vec<String> = case
                .assertions
                .iter()
                .filter(|a| !a.passed)
                .map(assertion_line)
                .collect();
            let _ = writeln!(
                xml,
                "      <failure type=\"assertion\" message=\"{}\">{}</failure>",
                attr(&format!(
                    "{} of {} assertions failed",
                    failed.len(),
                    case.assertions.len()
                )),
                escape(&failed.join("\n"))
            );
        }
        CaseStatus::Errored => {
            let reason = case.error.clone().unwrap_or_else(|| {
                case.assertions
                    .iter()
                    .filter(|a| a.errored)
                    .map(assertion_line)
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            let _ = writeln!(
                xml,
                "      <error type=\"errored\" message=\"{}\">{}</error>",
                attr(&first_line(&reason)),
                escape(&reason)
            );
        }
    }
    if !case.answer.is_empty() {
        let _ = writeln!(
            xml,
            "      <system-out>{}</system-out>",
            escape(&case.answer)
        );
    }
    xml.push_str("    </testcase>\n");
}

fn assertion_line(a: &AssertionResult) -> String {
    let what = match &a.rubric {
        Some(r) => format!("{} {r}", a.kind),
        None => a.kind.clone(),
    };
    format!("{what}: {}", a.detail)
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").chars().take(200).collect()
}

fn ms_to_s(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// XML character data: the five special characters escaped, and the characters XML 1.0 cannot
/// carry at all (most control characters, which a model can emit) replaced with U+FFFD.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// An attribute value: as [`escape`], with line breaks kept as character references (a literal
/// newline in an attribute is normalised to a space by XML parsers).
fn attr(s: &str) -> String {
    escape(s)
        .replace('\n', "&#10;")
        .replace('\r', "&#13;")
        .replace('\t', "&#9;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escaping_covers_markup_quotes_and_characters_xml_cannot_carry() {
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(escape("x\u{0}y\u{1b}z\n"), "x\u{FFFD}y\u{FFFD}z\n");
        assert_eq!(attr("a\nb"), "a&#10;b");
        assert_eq!(ms_to_s(1234), "1.234");
    }
}
