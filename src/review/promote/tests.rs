use super::file::quote;
use super::*;

fn message(role: &str, content: &str, status: &str) -> MessageRecord {
    let mut m = MessageRecord::new("c", "r", role.parse().unwrap(), content.into(), 0);
    m.status = status.parse().unwrap();
    m
}

fn review(accuracy: i64, corrected: Option<&str>, escalate: bool) -> Review {
    Review {
        id: "rv".into(),
        item_id: "it".into(),
        reviewer_id: "u".into(),
        clinical_accuracy: accuracy,
        tone: 4,
        safety_problem: "none".into(),
        should_escalate: escalate,
        comment: None,
        corrected_answer: corrected.map(str::to_string),
        created_at: 0,
    }
}

fn conversation() -> Vec<MessageRecord> {
    vec![
        message("user", "oi", "ok"),
        message("assistant", "olá!", "ok"),
        message("user", "dor de cabeça", "ok"),
        message("assistant", "", "error"),
        message("user", "dor de cabeça forte", "ok"),
        message("assistant", "procure a maternidade hoje", "ok"),
    ]
}

#[test]
fn the_case_replays_the_conversation_up_to_the_last_user_message_without_failed_calls() {
    let case = build_case("it-1", &conversation(), &[review(5, None, false)], None).unwrap();
    let roles: Vec<&str> = case.messages.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(roles, ["user", "assistant", "user", "user"]);
    assert_eq!(case.messages[3].1, "dor de cabeça forte");
    assert_eq!(case.reference, "procure a maternidade hoje");
    assert_eq!(case.reference_from, ReferenceSource::Original);
}

#[test]
fn a_corrected_answer_wins_over_the_original_even_when_rated_low() {
    let case = build_case(
        "it-1",
        &conversation(),
        &[review(2, Some("  Vá agora à maternidade.  "), true)],
        None,
    )
    .unwrap();
    assert_eq!(case.reference, "Vá agora à maternidade.");
    assert_eq!(case.reference_from, ReferenceSource::Corrected);
    assert!(case.escalated);
}

#[test]
fn no_correction_and_any_rating_under_four_refuses() {
    let err = build_case(
        "it-1",
        &conversation(),
        &[review(5, None, false), review(3, Some("   "), false)],
        None,
    )
    .unwrap_err();
    assert!(
        matches!(err, PromoteError::NoReference { score: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("3/5"));
    let err = build_case("it-1", &conversation(), &[], None).unwrap_err();
    assert!(matches!(err, PromoteError::NotReviewed(_)));
}

#[test]
fn quoted_strings_round_trip_through_toml() {
    for s in [
        "plain",
        "a \"quote\" and \\ back",
        "line\nbreak\ttab\r",
        "nul\u{0}del\u{7f}",
        "ção 🤰",
    ] {
        let doc = format!("v = {}", quote(s));
        let t: toml::Table = doc.parse().unwrap_or_else(|e| panic!("{doc}: {e}"));
        assert_eq!(t["v"].as_str(), Some(s));
    }
}

#[test]
fn the_placeholder_names_the_prompts_file() {
    assert_eq!(
        resolve_path(
            Path::new("evalsets/{prompt}/reviewed.toml"),
            Some("birth-plan")
        ),
        PathBuf::from("evalsets/birth-plan/reviewed.toml")
    );
    assert_eq!(
        resolve_path(Path::new("evalsets/{prompt}/reviewed.toml"), None),
        PathBuf::from("evalsets/raw/reviewed.toml")
    );
    assert_eq!(
        resolve_path(Path::new("x.toml"), Some("a")),
        PathBuf::from("x.toml")
    );
}
