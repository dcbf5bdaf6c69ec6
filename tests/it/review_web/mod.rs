//! The review pages against the real app: login and sessions, CSRF, the separation from the API,
//! locks on items, the review form, statistics, promotion, and the `users add` command.

mod edge;
mod items;
mod pages;
mod sessions;
mod users;

use crate::common;

use std::time::Duration;

use common::{Spawn, TestApp, chat, spawn_app_with};
use powerbirth::core::{new_id, now_ms};
use powerbirth::review::accounts::{Accounts, Email, Password, ReviewerRole};
use powerbirth::store::Store;
use powerbirth::store::messages::{Exchange, MessageRecord, MessageRole};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use sqlx::Row;

const PASSWORD: &str = "senha-muito-forte-1";

/// The app with the scheduler off (tests seed their own batches) and an eval set in `dir`.
async fn review_app(extra: &str) -> TestApp {
    spawn_app_with(Spawn {
        extra_toml: format!("[review]\nschedule = \"off\"\n{extra}\n"),
        ..Spawn::default()
    })
    .await
}

async fn account(store: &Store, email: &str, role: ReviewerRole) -> String {
    Accounts::new(store.clone())
        .unwrap()
        .add(
            &Email::parse(email).unwrap(),
            role,
            Password::parse(PASSWORD).unwrap(),
        )
        .await
        .unwrap()
        .id
}

/// A browser-like client: keeps cookies, does not follow redirects (tests look at them).
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The value of the first hidden `csrf` field of a page.
fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("the page has a csrf field");
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

async fn post_form(
    client: &reqwest::Client,
    url: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(fields).unwrap())
        .send()
        .await
        .unwrap()
}

/// Logs in through the form; returns the login response (303 on success).
async fn try_login(
    app: &TestApp,
    client: &reqwest::Client,
    email: &str,
    password: &str,
) -> reqwest::Response {
    let page = client
        .get(app.url("/review/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&page);
    post_form(
        client,
        &app.url("/review/login"),
        &[("email", email), ("password", password), ("csrf", &csrf)],
    )
    .await
}

/// A logged-in browser.
async fn logged_in(app: &TestApp, email: &str) -> reqwest::Client {
    let client = browser();
    let res = try_login(app, &client, email, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "login failed");
    client
}

/// The session CSRF token, read from a page (every page has the logout form).
async fn session_csrf(app: &TestApp, client: &reqwest::Client) -> String {
    let html = client
        .get(app.url("/review"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    csrf_of(&html)
}

fn set_cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get(LOCATION)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// One item to seed: urgent, marked for a second review.
#[derive(Clone, Copy, Default)]
struct Seed {
    urgent: bool,
    overlap: bool,
}

/// Stores one conversation per seed (through the gateway's own writer) and a batch of them in
/// order; returns the batch id and the item ids by position.
async fn seed_batch(store: &Store, seeds: &[Seed]) -> (String, Vec<String>) {
    let now = now_ms();
    let mut exchanges = Vec::new();
    for (i, seed) in seeds.iter().enumerate() {
        let conversation = new_id();
        let mut user = MessageRecord::new(
            &conversation,
            "req",
            MessageRole::User,
            format!("Pergunta {i}: estou com dor de cabeça forte e vendo pontinhos [NOME]"),
            now - 10_000,
        );
        user.urgent = seed.urgent;
        user.prompt_ref = Some("assistant-general@1;lang=pt-BR;persona=doula".into());
        user.guard = Some(
            r#"{"categories":["red_flag"],"actions":["escalate"],"matched":["headache-visual"]}"#
                .into(),
        );
        let mut answer = MessageRecord::new(
            &conversation,
            "req",
            MessageRole::Assistant,
            format!("Resposta {i}: vá hoje à maternidade."),
            now - 9_000,
        );
        answer.model = Some("gpt-echo".into());
        answer.prompt_ref = user.prompt_ref.clone();
        answer.cost_usd = Some("0.000123".parse().unwrap());
        exchanges.push(Exchange {
            conversation_id: conversation,
            key_id: "key-test".into(),
            at: now - 10_000,
            messages: vec![user, answer],
        });
    }
    store.write_exchanges(&exchanges).await.unwrap();
    let batch = new_id();
    sqlx::query(
        "INSERT INTO review_batches (id, created_at, window_start, window_end, seed, requested, origin) \
         VALUES ($1, $2, $3, $4, 7, $5, 'cli')",
    )
    .bind(&batch)
    .bind(now)
    .bind(now - 86_400_000)
    .bind(now)
    .bind(seeds.len() as i64)
    .execute(store.pool())
    .await
    .unwrap();
    let mut items = Vec::new();
    for (i, (seed, ex)) in seeds.iter().zip(&exchanges).enumerate() {
        let id = new_id();
        sqlx::query(
            "INSERT INTO review_items (id, batch_id, conversation_id, position, urgent, stratum, overlap) \
             VALUES ($1, $2, $3, $4, $5, 'pt-BR|doula|assistant-general@1', $6)",
        )
        .bind(&id)
        .bind(&batch)
        .bind(&ex.conversation_id)
        .bind(i as i64)
        .bind(i64::from(seed.urgent))
        .bind(i64::from(seed.overlap))
        .execute(store.pool())
        .await
        .unwrap();
        items.push(id);
    }
    (batch, items)
}

/// `/review/next` for a batch; returns the item id it redirected to, or `None`.
async fn next(app: &TestApp, client: &reqwest::Client, batch: &str) -> Option<String> {
    let res = client
        .get(app.url(&format!("/review/next?batch={batch}")))
        .send()
        .await
        .unwrap();
    match res.status() {
        StatusCode::SEE_OTHER => Some(
            location(&res)
                .strip_prefix("/review/items/")
                .expect("redirects to an item")
                .to_string(),
        ),
        StatusCode::OK => {
            let body = res.text().await.unwrap();
            assert!(body.contains("Não há mais conversas para você"), "{body}");
            None
        }
        other => panic!("unexpected /review/next status {other}"),
    }
}

fn good_review(csrf: &str) -> Vec<(&str, &str)> {
    vec![
        ("csrf", csrf),
        ("clinical_accuracy", "4"),
        ("tone", "5"),
        ("safety_problem", "none"),
        ("should_escalate", "yes"),
        ("comment", "Boa orientação."),
        (
            "corrected_answer",
            "Vá agora à maternidade: dor de cabeça forte com pontos brilhantes é sinal de alerta.",
        ),
    ]
}

async fn submit(
    app: &TestApp,
    client: &reqwest::Client,
    item: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    post_form(client, &app.url(&format!("/review/items/{item}")), fields).await
}

async fn reviews_of(store: &Store, item: &str) -> Vec<(String, i64, i64, String, i64)> {
    sqlx::query(
        "SELECT reviewer_id, clinical_accuracy, tone, safety_problem, should_escalate \
         FROM reviews WHERE item_id = $1 ORDER BY created_at",
    )
    .bind(item)
    .fetch_all(store.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| {
        (
            r.get("reviewer_id"),
            r.get("clinical_accuracy"),
            r.get("tone"),
            r.get("safety_problem"),
            r.get("should_escalate"),
        )
    })
    .collect()
}
