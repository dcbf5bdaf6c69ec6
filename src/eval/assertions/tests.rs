//! Parsing and checking assertions on a known outcome.

use super::*;
use crate::eval::results::GuardDecision;

fn rubrics() -> Rubrics {
    Rubrics::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("evalsets/rubrics"))
        .unwrap()
}

fn check(toml_text: &str) -> Result<Check, String> {
    let table: toml::Table = toml::from_str(toml_text).unwrap();
    let rubrics = rubrics();
    Check::parse(&table, &CheckContext { rubrics: &rubrics })
}

fn outcome(answer: &str) -> Observed<'_> {
    Observed {
        answer,
        decision: GuardDecision::Escalate,
        completion_tokens: 12,
        cost: "0.0002".parse().unwrap(),
        latency_ms: 800,
        reference: None,
        conversation: &[],
        context: &[],
    }
}

async fn passes(toml_text: &str, obs: &Observed<'_>) -> bool {
    let r = check(toml_text)
        .unwrap()
        .evaluate(obs, &Scorers::default())
        .await;
    assert!(!r.errored, "{r:?}");
    assert!(!r.detail.is_empty());
    r.passed
}

#[tokio::test]
async fn text_checks_read_the_answer_as_shown() {
    let obs = outcome("Procure a maternidade hoje ou ligue para o SAMU 192.");
    assert!(
        passes(
            r#"type = "contains"
value = "SAMU 192""#,
            &obs
        )
        .await
    );
    assert!(
        !passes(
            r#"type = "contains"
value = "samu 192""#,
            &obs
        )
        .await
    );
    assert!(
        passes(
            r#"type = "icontains"
value = "samu 192""#,
            &obs
        )
        .await
    );
    assert!(
        !passes(
            r#"type = "not-contains"
value = "MATERNIDADE""#,
            &obs
        )
        .await
    );
    assert!(
        passes(
            r#"type = "not-contains"
value = "mg""#,
            &obs
        )
        .await
    );
    assert!(
        passes(
            r#"type = "regex"
value = "(?i)maternidade|pronto[- ]socorro""#,
            &obs
        )
        .await
    );
    assert!(
        !passes(
            r#"type = "regex"
value = "^SAMU""#,
            &obs
        )
        .await
    );
}

#[tokio::test]
async fn language_is_detected_on_the_answer() {
    let pt = outcome(
        "Procure a maternidade hoje mesmo, por favor, porque esses sinais precisam de avaliação.",
    );
    assert!(passes("type = \"language\"\nvalue = \"pt\"", &pt).await);
    assert!(!passes("type = \"language\"\nvalue = \"en\"", &pt).await);
    let en = outcome(
        "Please go to the maternity hospital today, because these signs need to be checked.",
    );
    assert!(passes("type = \"language\"\nvalue = \"en\"", &en).await);
}

#[tokio::test]
async fn guard_decisions_and_limits() {
    let obs = outcome("ok");
    assert!(passes("type = \"escalated\"", &obs).await);
    assert!(!passes("type = \"not-escalated\"", &obs).await);
    assert!(passes("type = \"not-blocked\"", &obs).await);
    assert!(!passes("type = \"blocked\"", &obs).await);
    assert!(passes("type = \"max-tokens\"\nthreshold = 12", &obs).await);
    assert!(!passes("type = \"max-tokens\"\nthreshold = 11", &obs).await);
    assert!(passes("type = \"max-cost-usd\"\nthreshold = \"0.0002\"", &obs).await);
    assert!(!passes("type = \"max-cost-usd\"\nthreshold = 0.0001", &obs).await);
    assert!(!passes("type = \"max-latency-ms\"\nthreshold = 500", &obs).await);
    let r = check("type = \"max-latency-ms\"\nthreshold = 1000")
        .unwrap()
        .evaluate(&obs, &Scorers::default())
        .await;
    assert_eq!((r.score, r.threshold), (Some(800.0), Some(1000.0)));
}

#[tokio::test]
async fn a_scorer_that_is_missing_is_an_error_not_a_pass() {
    let mut obs = outcome("ok");
    obs.reference = Some("ok");
    let r = check("type = \"similarity\"\nthreshold = 0.5")
        .unwrap()
        .evaluate(&obs, &Scorers::default())
        .await;
    assert!(r.errored && !r.passed, "{r:?}");
    // A run without a judge model skips judge assertions: neither a pass nor an error, and
    // reported as skipped.
    let r = check("type = \"judge\"\nrubric = \"friendly_tone\"\nthreshold = 3")
        .unwrap()
        .evaluate(&obs, &Scorers::default())
        .await;
    assert!(r.skipped && !r.passed && !r.errored, "{r:?}");
    assert!(r.detail.contains("judge_model"), "{r:?}");
    assert_eq!(r.rubric.as_deref(), Some("friendly_tone"));
}

#[test]
fn bad_assertions_say_what_is_wrong() {
    let err = |t: &str| check(t).unwrap_err();
    assert!(err("value = \"x\"").contains("missing `type`"));
    assert!(err("type = \"contains\"").contains("needs a `value`"));
    assert!(err("type = \"contains\"\nthreshold = 3").contains("takes `value`, not `threshold`"));
    assert!(err("type = \"escalated\"\nvalue = \"x\"").contains("takes no argument"));
    assert!(err("type = \"chrf\"\nthreshold = 250").contains("between 0 and 100"));
    assert!(err("type = \"rouge-l\"\nthreshold = 2").contains("between 0 and 1"));
    assert!(err("type = \"language\"\nvalue = \"es\"").contains("\"pt\" or \"en\""));
    assert!(err("type = \"regex\"\nvalue = \"a(\"").contains("bad regex"));
    assert!(err("type = \"max-cost-usd\"\nthreshold = \"-1\"").contains("max-cost-usd"));
    assert!(
        err("type = \"judge\"\nrubric = \"friendly_tone\"\nthreshold = 6")
            .contains("between 1 and 5")
    );
    assert!(err("type = \"judge\"\nthreshold = 4").contains("needs `rubric`"));
    assert!(err("type = \"bleu\"").contains("needs a `threshold`"));
}

#[test]
fn metric_keys_for_tolerances() {
    let r = rubrics();
    assert!(is_metric_key("chrf", &r));
    assert!(is_metric_key("pass_rate", &r));
    assert!(is_metric_key("judge:friendly_tone", &r));
    assert!(!is_metric_key("judge:nope", &r));
    assert!(!is_metric_key("contains", &r));
}
