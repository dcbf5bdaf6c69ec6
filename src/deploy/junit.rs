//! The check as JUnit XML (one `<testsuite>`, one `<testcase>` per request, a `<failure>` with
//! the reason), the format CI systems read; written by hand, the format is five elements.

use std::fmt::Write as _;

use super::check::CheckReport;

/// The report as a JUnit XML document.
pub fn to_junit(report: &CheckReport) -> String {
    let failures = report.failures().count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"powerbirth deploy check\" tests=\"{}\" failures=\"{failures}\" time=\"{:.3}\">",
        report.outcomes.len(),
        report.elapsed.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"deploy check\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"{:.3}\">",
        report.outcomes.len(),
        report.elapsed.as_secs_f64()
    );
    for o in &report.outcomes {
        let _ = write!(
            out,
            "    <testcase classname=\"deploy.check.{}\" name=\"{}\" time=\"{:.3}\"",
            o.group,
            escape(&o.name),
            o.elapsed.as_secs_f64()
        );
        match &o.failure {
            None => out.push_str("/>\n"),
            Some(reason) => {
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                    escape(reason),
                    escape(reason)
                );
            }
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// XML-escapes text for an attribute or element body.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::check::Outcome;
    use std::time::Duration;

    #[test]
    fn a_failure_is_escaped_and_counted() {
        let report = CheckReport {
            outcomes: vec![
                Outcome {
                    group: "risk",
                    name: "#01 ok".into(),
                    failure: None,
                    elapsed: Duration::from_millis(3),
                },
                Outcome {
                    group: "chat",
                    name: "dose <en>".into(),
                    failure: Some("got \"5 mg\" & more".into()),
                    elapsed: Duration::from_millis(4),
                },
            ],
            elapsed: Duration::from_millis(10),
        };
        let xml = to_junit(&report);
        assert!(xml.contains("tests=\"2\" failures=\"1\""), "{xml}");
        assert!(xml.contains("name=\"dose &lt;en&gt;\""), "{xml}");
        assert!(
            xml.contains("message=\"got &quot;5 mg&quot; &amp; more\""),
            "{xml}"
        );
    }
}
