use super::*;
use crate::ml::recommend::synth::synthetic_ranker;

fn features(lang: &str, week: u32, read: &[&str]) -> EngagementFeatures {
    let mut f = EngagementFeatures {
        language: Some(lang.into()),
        gestational_week: Some(week),
        read_content_ids: read.iter().map(|s| s.to_string()).collect(),
        ..EngagementFeatures::default()
    };
    f.views_30d.insert("topic-3".into(), 4);
    f
}

#[test]
fn what_she_read_is_never_recommended() {
    let r = synthetic_ranker(60, 16, 1);
    let read: Vec<String> = r
        .catalogue
        .articles()
        .iter()
        .take(40)
        .map(|a| a.id.clone())
        .collect();
    let refs: Vec<&str> = read.iter().map(String::as_str).collect();
    let f = features("pt-BR", 20, &refs);
    let items = r.recommend(Query {
        features: Some(&f),
        fallback_language: None,
        k: 20,
    });
    assert_eq!(items.len(), 20);
    assert!(items.iter().all(|i| !read.contains(&i.id)));
}

#[test]
fn her_language_comes_first_and_the_reason_speaks_it() {
    let r = synthetic_ranker(60, 16, 2);
    let f = features("en", 20, &["article-00001"]);
    let items = r.recommend(Query {
        features: Some(&f),
        fallback_language: None,
        k: 5,
    });
    assert!(items.iter().all(|i| i.language == "en"));
    assert!(
        items.iter().all(|i| {
            i.reason.starts_with("Because you read about")
                || i.reason.starts_with("For your week")
                || i.reason.starts_with("Popular")
        }),
        "{items:?}"
    );
}

#[test]
fn a_cold_start_gets_k_items_fitting_her_week() {
    let r = synthetic_ranker(200, 16, 3);
    let items = r.recommend(Query {
        features: None,
        fallback_language: Some(Lang::PtBr),
        k: 7,
    });
    assert_eq!(items.len(), 7);
    assert!(items.iter().all(|i| i.language == "pt-BR"));
    let f = EngagementFeatures {
        gestational_week: Some(30),
        language: Some("pt-BR".into()),
        ..Default::default()
    };
    let items = r.recommend(Query {
        features: Some(&f),
        fallback_language: None,
        k: 5,
    });
    for i in &items {
        let a = r.catalogue.get(&i.id).unwrap();
        assert!(
            a.weeks.0 <= 30 && 30 <= a.weeks.1,
            "{:?} outside week 30",
            a.weeks
        );
        assert_eq!(i.reason, "Para a sua semana 30");
    }
}

#[test]
fn scores_are_in_descending_order() {
    let r = synthetic_ranker(100, 16, 4);
    let f = features("pt-BR", 12, &["article-00002", "article-00004"]);
    let items = r.recommend(Query {
        features: Some(&f),
        fallback_language: None,
        k: 10,
    });
    assert!(items.windows(2).all(|w| w[0].score >= w[1].score));
}
