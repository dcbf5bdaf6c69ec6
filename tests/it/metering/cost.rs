//! Cost = price × tokens to the last decimal, whether the tokens come from the upstream or are
//! counted, and stored costs come back exactly on SQLite and PostgreSQL.

use powerbirth::core::UsdCost;
use powerbirth::metering::TokensSource;
use powerbirth::store::keys::{ApiKeyHash, Role};
use powerbirth::store::messages::{Exchange, MessageRecord};
use powerbirth::wire::{CompletionTokensDetails, PromptTokensDetails, Usage};

use super::support::{self, TestMetering, record, request, usd};

fn usage(prompt: u64, completion: u64, cached: Option<u64>, reasoning: Option<u64>) -> Usage {
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        prompt_tokens_details: cached.map(|c| PromptTokensDetails {
            cached_tokens: Some(c),
        }),
        completion_tokens_details: reasoning.map(|r| CompletionTokensDetails {
            reasoning_tokens: Some(r),
        }),
    }
}

#[tokio::test]
async fn an_answer_costs_exactly_its_upstream_tokens_times_the_price() {
    let db = support::sqlite().await;
    let m = TestMetering::new(&db.store, None).await;
    let model = m.providers.get("gpt-counted").unwrap();
    let req = request("gpt-counted", "oi", None);
    // 1000 prompt tokens of which 600 cached, 500 completion tokens of which 320 reasoning:
    // 400 × 0.15 + 600 × 0.075 + 500 × 0.60 = 60 + 45 + 300 = 405 per million.
    let metered = m.metering.measure(
        model,
        &req,
        "ignored when usage is given",
        Some(&usage(1000, 500, Some(600), Some(320))),
    );
    assert_eq!(metered.cost, usd("0.000405"));
    assert_eq!(metered.tokens.source, TokensSource::Upstream);
    assert_eq!(
        (
            metered.tokens.input,
            metered.tokens.output,
            metered.tokens.cached_input,
            metered.tokens.reasoning
        ),
        (1000, 500, 600, 320)
    );
    // The mock upstream's usage (11 prompt, 7 completion).
    let metered = m
        .metering
        .measure(model, &req, "", Some(&usage(11, 7, None, None)));
    assert_eq!(metered.cost, usd("0.00000585"));
    assert_eq!(metered.cost.to_string(), "0.00000585");
}

#[tokio::test]
async fn cached_tokens_cost_the_input_price_on_a_model_without_a_cached_price() {
    let db = support::sqlite().await;
    let m = TestMetering::new(&db.store, None).await;
    let model = m.providers.get("gpt-dear").unwrap();
    let req = request("gpt-dear", "oi", None);
    let cached = m
        .metering
        .measure(model, &req, "", Some(&usage(1000, 10, Some(999), None)));
    let uncached = m
        .metering
        .measure(model, &req, "", Some(&usage(1000, 10, None, None)));
    // 1000 × 2.50 + 10 × 10 = 2600 per million.
    assert_eq!(cached.cost, usd("0.0026"));
    assert_eq!(cached.cost, uncached.cost);
}

#[tokio::test]
async fn without_usage_the_models_own_tokenizer_counts_the_tokens() {
    let db = support::sqlite().await;
    let m = TestMetering::new(&db.store, None).await;
    let model = m.providers.get("gpt-counted").unwrap();
    let req = request("gpt-counted", "oi tudo bem?", None);
    let metered = m.metering.measure(model, &req, "sim beba água", None);
    // Prompt: 3 priming + 3 framing + "user" 1 + "oi tudo bem?" 4 = 11; answer: 3 words.
    assert_eq!(metered.tokens.source, TokensSource::Counted);
    assert_eq!((metered.tokens.input, metered.tokens.output), (11, 3));
    assert_eq!(metered.cost, usd("0.00000345"));
}

#[tokio::test]
async fn a_model_without_a_tokenizer_records_estimated_tokens() {
    let db = support::sqlite().await;
    let m = TestMetering::new(&db.store, None).await;
    let model = m.providers.get("gpt-dear").unwrap();
    let metered = m
        .metering
        .measure(model, &request("gpt-dear", "oi", None), "abcdefgh", None);
    assert_eq!(metered.tokens.source, TokensSource::Estimated);
    assert_eq!(metered.tokens.output, 2);
}

#[tokio::test]
async fn a_free_model_costs_nothing_whatever_it_uses() {
    let db = support::sqlite().await;
    let m = TestMetering::new(&db.store, None).await;
    let model = m.providers.get("free-model").unwrap();
    let metered = m.metering.measure(
        model,
        &request("free-model", "oi", None),
        "",
        Some(&usage(100_000, 100_000, None, None)),
    );
    assert_eq!(metered.cost, UsdCost::ZERO);
}

#[tokio::test]
async fn measured_answers_feed_the_token_and_cost_metrics() {
    let db = support::sqlite().await;
    let m = TestMetering::new(&db.store, None).await;
    let model = m.providers.get("gpt-counted").unwrap();
    let req = request("gpt-counted", "oi", None);
    m.metering.measure(
        model,
        &req,
        "",
        Some(&usage(1000, 500, Some(600), Some(320))),
    );
    m.metering.measure(
        model,
        &req,
        "",
        Some(&usage(1000, 500, Some(600), Some(320))),
    );
    let text = m.exposition();
    for line in [
        r#"powerbirth_tokens_total{model="gpt-counted",kind="input"} 2000"#,
        r#"powerbirth_tokens_total{model="gpt-counted",kind="output"} 1000"#,
        r#"powerbirth_tokens_total{model="gpt-counted",kind="cached_input"} 1200"#,
        r#"powerbirth_tokens_total{model="gpt-counted",kind="reasoning"} 640"#,
        "powerbirth_budget_rejections_total 0",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    // A float for dashboards; the ledger has the exact figure.
    let cost: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix(r#"powerbirth_cost_usd_total{model="gpt-counted"} "#))
        .unwrap()
        .parse()
        .unwrap();
    assert!((cost - 0.00081).abs() < 1e-12, "{cost}");
}

async fn costs_round_trip_exactly(db: &support::TestStore) {
    let amounts = [
        "0.000000123456789012",
        "0.1",
        "12345678901.123456789012345678",
        "0",
    ];
    let messages: Vec<MessageRecord> = amounts
        .iter()
        .enumerate()
        .map(|(i, a)| MessageRecord {
            cost_usd: Some(usd(a)),
            cached_tokens: Some(600),
            reasoning_tokens: Some(320),
            tokens_source: Some(
                [
                    TokensSource::Upstream,
                    TokensSource::Counted,
                    TokensSource::Estimated,
                ][i % 3],
            ),
            request_id: "req-exact".into(),
            ..record("assistant", 1000 + i as i64)
        })
        .collect();
    db.store
        .write_exchanges(&[Exchange {
            conversation_id: "c".into(),
            key_id: "k".into(),
            at: 1000,
            messages: messages.clone(),
        }])
        .await
        .unwrap();
    let back = db.store.request_messages("req-exact").await.unwrap();
    assert_eq!(back, messages, "{}", db.name);
    assert_eq!(
        back[0].cost_usd.unwrap().to_string(),
        "0.000000123456789012",
        "{}",
        db.name
    );
}

#[tokio::test]
async fn stored_costs_round_trip_exactly_on_every_backend() {
    for db in support::every_backend().await {
        costs_round_trip_exactly(&db).await;
    }
}

async fn budgets_round_trip_exactly(db: &support::TestStore) {
    let (key, plaintext) = db
        .store
        .create_key_with_budget(
            "capped",
            Role::Client,
            None,
            Some(usd("0.000000123456789012")),
        )
        .await
        .unwrap();
    let found = db
        .store
        .find_active_key(&ApiKeyHash::of(&plaintext))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, key, "{}", db.name);
    assert_eq!(
        found.daily_budget_usd.unwrap().to_string(),
        "0.000000123456789012"
    );
    db.store
        .set_key_budget("capped", Some(usd("2.5")))
        .await
        .unwrap();
    let listed = db.store.list_keys().await.unwrap();
    assert_eq!(listed[0].daily_budget_usd, Some(usd("2.5")), "{}", db.name);
    db.store.set_key_budget("capped", None).await.unwrap();
    let found = db
        .store
        .find_active_key(&ApiKeyHash::of(&plaintext))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.daily_budget_usd, None);
    // Plain keys have no budget.
    let (plain, _) = db
        .store
        .create_key("plain", Role::Client, None)
        .await
        .unwrap();
    assert_eq!(plain.daily_budget_usd, None);
}

#[tokio::test]
async fn key_budgets_round_trip_exactly_on_every_backend() {
    for db in support::every_backend().await {
        budgets_round_trip_exactly(&db).await;
    }
}
