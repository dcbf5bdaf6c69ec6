//! The review pages against the real app: login and sessions, CSRF, the separation from the API,
//! locks on items, the review form, statistics, promotion, and the `users add` command.

use crate::common;

use std::time::Duration;

use common::{Spawn, TestApp, chat, spawn_app_with};
use powerbirth::review::accounts::{Accounts, Email, Password, ReviewerRole};
use powerbirth::store::messages::{Exchange, MessageRecord, MessageRole};
use powerbirth::store::{Store, new_id, now_ms};
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

#[tokio::test]
async fn logging_in_opens_a_session_in_an_httponly_strict_cookie() {
    let app = review_app("").await;
    account(&app.store, "Ana@Maternidade.org", ReviewerRole::Nurse).await;
    let client = browser();
    let res = try_login(&app, &client, "  ANA@maternidade.org ", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/review");
    let session = set_cookies(&res)
        .into_iter()
        .find(|c| c.starts_with("pb_review="))
        .expect("a session cookie");
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Strict"), "{session}");
    assert!(session.contains("Path=/review"), "{session}");
    assert!(!session.contains("Secure"), "plain HTTP: {session}");
    let token = session["pb_review=".len()..session.find(';').unwrap()].to_string();
    assert_eq!(token.len(), 64, "32 random bytes, hex");
    let stored: String = sqlx::query_scalar("SELECT token_hash FROM user_sessions")
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    assert_ne!(stored, token, "only the token's hash is stored");
    let page = client.get(app.url("/review")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("ana@maternidade.org"));
    assert!(html.contains("Lotes abertos"));
}

#[tokio::test]
async fn behind_tls_the_session_cookie_is_secure_and_host_prefixed() {
    let app = review_app("").await;
    account(&app.store, "ana@x.org", ReviewerRole::Nurse).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = http
        .get(app.url("/review/login"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    let login_cookie = set_cookies(&form)
        .into_iter()
        .find(|c| c.starts_with("__Host-pb_review_login="))
        .expect("a secure login-form cookie");
    assert!(login_cookie.contains("; Secure"));
    let pair = login_cookie[..login_cookie.find(';').unwrap()].to_string();
    let csrf = csrf_of(&form.text().await.unwrap());
    let res = http
        .post(app.url("/review/login"))
        .header("x-forwarded-proto", "https")
        .header(COOKIE, pair)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            serde_urlencoded::to_string([
                ("email", "ana@x.org"),
                ("password", PASSWORD),
                ("csrf", csrf.as_str()),
            ])
            .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let session = set_cookies(&res)
        .into_iter()
        .find(|c| c.starts_with("__Host-pb_review="))
        .expect("a __Host- session cookie");
    for flag in ["; Secure", "; HttpOnly", "; SameSite=Strict", "; Path=/;"] {
        assert!(session.contains(flag), "{flag} missing: {session}");
    }
}

#[tokio::test]
async fn secure_cookie_never_keeps_cookies_plain_even_behind_https() {
    let app = review_app("secure_cookie = \"never\"").await;
    let res = reqwest::Client::new()
        .get(app.url("/review/login"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    let cookie = set_cookies(&res)
        .into_iter()
        .find(|c| c.starts_with("pb_review_login="))
        .expect("the plain login-form cookie");
    assert!(!cookie.contains("Secure"), "{cookie}");
}

#[tokio::test]
async fn without_a_session_every_page_redirects_to_the_login() {
    let app = review_app("").await;
    let client = browser();
    for path in [
        "/review",
        "/review/next?batch=b",
        "/review/items/x",
        "/review/stats",
    ] {
        let res = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location(&res), "/review/login", "{path}");
    }
    for path in [
        "/review/items/x",
        "/review/items/x/promote",
        "/review/logout",
    ] {
        let res = post_form(&client, &app.url(path), &[("csrf", "x")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location(&res), "/review/login", "{path}");
    }
}

#[tokio::test]
async fn an_api_key_does_not_open_the_review_pages() {
    let app = review_app("").await;
    let res = reqwest::Client::new()
        .get(app.url("/review"))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Chaves de API não abrem")
    );
}

#[tokio::test]
async fn a_session_cookie_does_not_open_the_api() {
    let app = review_app("").await;
    account(&app.store, "ana@x.org", ReviewerRole::Admin).await;
    let res = try_login(&app, &browser(), "ana@x.org", PASSWORD).await;
    let cookie = set_cookies(&res)
        .into_iter()
        .find(|c| c.starts_with("pb_review="))
        .unwrap();
    let pair = cookie[..cookie.find(';').unwrap()].to_string();
    let api = reqwest::Client::new()
        .post(app.url("/v1/chat/completions"))
        .header(COOKIE, pair)
        .json(&chat("gpt-echo", "oi"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = api.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_api_key");
}

#[tokio::test]
async fn an_unknown_email_and_a_wrong_password_get_the_same_answer() {
    let app = review_app("").await;
    account(&app.store, "ana@x.org", ReviewerRole::Nurse).await;
    let wrong = try_login(&app, &browser(), "ana@x.org", "senha-errada-123").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let wrong = wrong.text().await.unwrap();
    let unknown = try_login(&app, &browser(), "bia@x.org", "senha-errada-123").await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let unknown = unknown.text().await.unwrap();
    assert!(wrong.contains("E-mail ou senha incorretos."));
    // Identical pages apart from the e-mail echoed back and the fresh form token.
    let strip = |html: &str, email: &str| {
        let html = html.replace(email, "EMAIL");
        html.replace(&csrf_of(&html), "TOKEN")
    };
    assert_eq!(strip(&wrong, "ana@x.org"), strip(&unknown, "bia@x.org"));
}

#[tokio::test]
async fn the_login_delay_grows_with_each_failure() {
    let app = review_app("").await;
    account(&app.store, "ana@x.org", ReviewerRole::Nurse).await;
    let client = browser();
    let attempt = |password: &'static str| try_login(&app, &client, "ana@x.org", password);
    assert_eq!(
        attempt("errada-errada-1").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // One failure costs nothing; the second imposes 1 s, refused even with the right password.
    assert_eq!(
        attempt("errada-errada-2").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let refused = attempt(PASSWORD).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.headers()["retry-after"], "1");
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("Tente de novo em 1 s")
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(
        attempt("errada-errada-3").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let refused = attempt(PASSWORD).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.headers()["retry-after"], "2", "the delay doubled");
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert_eq!(attempt(PASSWORD).await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_login_without_its_form_token_is_refused() {
    let app = review_app("").await;
    account(&app.store, "ana@x.org", ReviewerRole::Nurse).await;
    let fresh = browser();
    let res = post_form(
        &fresh,
        &app.url("/review/login"),
        &[
            ("email", "ana@x.org"),
            ("password", PASSWORD),
            ("csrf", "forged"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // A token from the page, but not the one bound to this browser's cookie.
    let client = browser();
    client.get(app.url("/review/login")).send().await.unwrap();
    let other = browser()
        .get(app.url("/review/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let res = post_form(
        &client,
        &app.url("/review/login"),
        &[
            ("email", "ana@x.org"),
            ("password", PASSWORD),
            ("csrf", &csrf_of(&other)),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("O formulário expirou"));
}

#[tokio::test]
async fn logout_ends_the_session_for_good() {
    let app = review_app("").await;
    account(&app.store, "ana@x.org", ReviewerRole::Nurse).await;
    let client = browser();
    let res = try_login(&app, &client, "ana@x.org", PASSWORD).await;
    let cookie = set_cookies(&res)
        .into_iter()
        .find(|c| c.starts_with("pb_review="))
        .unwrap();
    let pair = cookie[..cookie.find(';').unwrap()].to_string();
    // Without the token, logout is refused and the session lives on.
    let refused = post_form(&client, &app.url("/review/logout"), &[]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let csrf = session_csrf(&app, &client).await;
    let out = post_form(&client, &app.url("/review/logout"), &[("csrf", &csrf)]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&out), "/review/login");
    assert!(
        set_cookies(&out)
            .iter()
            .any(|c| c.starts_with("pb_review=;") && c.contains("Max-Age=0"))
    );
    // The old cookie, replayed, opens nothing.
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url("/review"))
        .header(COOKIE, pair)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&replay), "/review/login");
}

#[tokio::test]
async fn a_session_ends_when_it_expires() {
    let app = review_app("session_hours = 1").await;
    account(&app.store, "ana@x.org", ReviewerRole::Nurse).await;
    let ana = logged_in(&app, "ana@x.org").await;
    let expires: i64 = sqlx::query_scalar("SELECT expires_at FROM user_sessions")
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    let lasts = expires - now_ms();
    assert!(
        (3_590_000..=3_600_000).contains(&lasts),
        "session_hours = 1: {lasts}"
    );
    assert_eq!(
        ana.get(app.url("/review")).send().await.unwrap().status(),
        StatusCode::OK
    );
    // The hour passes.
    sqlx::query("UPDATE user_sessions SET expires_at = $1")
        .bind(now_ms() - 1)
        .execute(app.store.pool())
        .await
        .unwrap();
    let res = ana.get(app.url("/review")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/review/login");
}

#[tokio::test]
async fn next_takes_urgent_items_first_and_opens_the_conversation() {
    let app = review_app("").await;
    account(&app.store, "ana@x.org", ReviewerRole::Nurse).await;
    let (batch, items) = seed_batch(
        &app.store,
        &[
            Seed::default(),
            Seed {
                urgent: true,
                ..Seed::default()
            },
        ],
    )
    .await;
    let ana = logged_in(&app, "ana@x.org").await;
    let batches = ana
        .get(app.url("/review"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(batches.contains(&format!("/review/next?batch={batch}")));
    assert!(batches.contains("Urgentes: 1"));
    assert_eq!(
        next(&app, &ana, &batch).await.as_deref(),
        Some(items[1].as_str())
    );
    let page = ana
        .get(app.url(&format!("/review/items/{}", items[1])))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    for shown in [
        "Pergunta 1: estou com dor de cabeça forte e vendo pontinhos [NOME]",
        "Resposta 1: vá hoje à maternidade.",
        "assistant-general@1;lang=pt-BR;persona=doula",
        "gpt-echo",
        "red_flag, escalate",
        "US$ 0.000123",
        "URGENTE",
        "name=\"clinical_accuracy\"",
        "name=\"corrected_answer\"",
    ] {
        assert!(html.contains(shown), "{shown:?} missing from the item page");
    }
    assert!(!html.contains("/promote"), "nurses get no promote button");
    let unknown = ana.get(app.url("/review/items/nope")).send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn two_nurses_never_get_the_same_item_and_a_locked_item_is_409() {
    let app = review_app("").await;
    account(&app.store, "ana@x.org", ReviewerRole::Nurse).await;
    account(&app.store, "bia@x.org", ReviewerRole::Nurse).await;
    let (batch, items) = seed_batch(&app.store, &[Seed::default(), Seed::default()]).await;
    let ana = logged_in(&app, "ana@x.org").await;
    let bia = logged_in(&app, "bia@x.org").await;
    assert_eq!(
        next(&app, &ana, &batch).await.as_deref(),
        Some(items[0].as_str())
    );
    assert_eq!(
        next(&app, &bia, &batch).await.as_deref(),
        Some(items[1].as_str())
    );
    assert_eq!(
        next(&app, &ana, &batch).await.as_deref(),
        Some(items[0].as_str()),
        "a nurse keeps the item she holds"
    );
    let locked = bia
        .get(app.url(&format!("/review/items/{}", items[0])))
        .send()
        .await
        .unwrap();
    assert_eq!(locked.status(), StatusCode::CONFLICT);
    assert!(
        locked
            .text()
            .await
            .unwrap()
            .contains("Outra enfermeira está revisando")
    );
    let csrf = session_csrf(&app, &bia).await;
    let refused = submit(&app, &bia, &items[0], &good_review(&csrf)).await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    assert!(reviews_of(&app.store, &items[0]).await.is_empty());
}

#[tokio::test]
async fn an_expired_lock_can_be_taken_by_another_nurse() {
    let app = review_app("lock_minutes = 1").await;
    account(&app.store, "ana@x.org", ReviewerRole::Nurse).await;
    account(&app.store, "bia@x.org", ReviewerRole::Nurse).await;
    let (batch, items) = seed_batch(&app.store, &[Seed::default()]).await;
    let ana = logged_in(&app, "ana@x.org").await;
    let bia = logged_in(&app, "bia@x.org").await;
    assert_eq!(
        next(&app, &ana, &batch).await.as_deref(),
        Some(items[0].as_str())
    );
    let until: i64 = sqlx::query_scalar("SELECT locked_until FROM review_items WHERE id = $1")
        .bind(&items[0])
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    let held = until - now_ms();
    assert!(
        (50_000..=60_000).contains(&held),
        "lock_minutes = 1 holds it a minute: {held}"
    );
    assert_eq!(next(&app, &bia, &batch).await, None, "held by Ana");
    // Ana walks away; her minute passes.
    sqlx::query("UPDATE review_items SET locked_until = $1 WHERE id = $2")
        .bind(now_ms() - 1)
        .bind(&items[0])
        .execute(app.store.pool())
        .await
        .unwrap();
    assert_eq!(
        next(&app, &bia, &batch).await.as_deref(),
        Some(items[0].as_str())
    );
    let ana_csrf = session_csrf(&app, &ana).await;
    let late = submit(&app, &ana, &items[0], &good_review(&ana_csrf)).await;
    assert_eq!(late.status(), StatusCode::CONFLICT, "the lock is Bia's now");
}

#[tokio::test]
async fn a_review_is_stored_the_lock_released_and_next_offered() {
    let app = review_app("").await;
    let ana_id = account(&app.store, "ana@x.org", ReviewerRole::Nurse).await;
    let (batch, items) = seed_batch(&app.store, &[Seed::default(), Seed::default()]).await;
    let ana = logged_in(&app, "ana@x.org").await;
    let item = next(&app, &ana, &batch).await.unwrap();
    let csrf = session_csrf(&app, &ana).await;
    let res = submit(&app, &ana, &item, &good_review(&csrf)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), format!("/review/items/{item}?saved=1"));
    assert_eq!(
        reviews_of(&app.store, &item).await,
        [(ana_id, 4, 5, "none".to_string(), 1)]
    );
    let row = sqlx::query("SELECT locked_by, locked_until FROM review_items WHERE id = $1")
        .bind(&item)
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    assert_eq!(row.get::<Option<String>, _>("locked_by"), None);
    assert_eq!(row.get::<Option<i64>, _>("locked_until"), None);
    let saved = ana
        .get(app.url(&location(&res)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(saved.contains("Avaliação salva"));
    assert!(saved.contains(&format!("/review/next?batch={batch}")));
    assert!(
        !saved.contains("name=\"clinical_accuracy\""),
        "no second form"
    );
    let batches = ana
        .get(app.url("/review"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        batches.contains("<td>ana@x.org</td><td>1</td>"),
        "each nurse's progress: {batches}"
    );
    assert!(batches.contains("1 / 2"), "done items of the batch");
    // Posting again is refused: one review per nurse and item.
    let again = submit(&app, &ana, &item, &good_review(&csrf)).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert_eq!(
        next(&app, &ana, &batch).await.as_deref(),
        Some(items[1].as_str())
    );
}

#[tokio::test]
async fn bad_form_values_get_400_with_each_problem_and_the_values_kept() {
    let app = review_app("").await;
    account(&app.store, "ana@x.org", ReviewerRole::Nurse).await;
    let (batch, _) = seed_batch(&app.store, &[Seed::default()]).await;
    let ana = logged_in(&app, "ana@x.org").await;
    let item = next(&app, &ana, &batch).await.unwrap();
    let csrf = session_csrf(&app, &ana).await;
    let res = submit(
        &app,
        &ana,
        &item,
        &[
            ("csrf", &csrf),
            ("clinical_accuracy", "9"),
            ("safety_problem", "rudeness"),
            ("should_escalate", "no"),
            ("comment", "Faltou empatia <b>aqui</b>"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let html = res.text().await.unwrap();
    assert!(html.contains("Corrija os campos marcados."));
    assert_eq!(
        html.matches("Escolha um valor de 1 a 5.").count(),
        2,
        "accuracy and tone"
    );
    assert!(html.contains("Escolha uma opção da lista."));
    assert!(
        html.contains("Faltou empatia &lt;b&gt;aqui&lt;&#x2F;b&gt;"),
        "kept, escaped"
    );
    assert!(
        html.contains("value=\"no\" checked"),
        "the answer given is kept"
    );
    assert!(reviews_of(&app.store, &item).await.is_empty());
}

#[tokio::test]
async fn a_missing_or_stale_csrf_token_is_refused() {
    let app = review_app("").await;
    account(&app.store, "ana@x.org", ReviewerRole::Nurse).await;
    let (batch, _) = seed_batch(&app.store, &[Seed::default()]).await;
    let ana = logged_in(&app, "ana@x.org").await;
    let item = next(&app, &ana, &batch).await.unwrap();
    let stale = session_csrf(&app, &ana).await;
    let mut fields = good_review("");
    fields.retain(|(k, _)| *k != "csrf");
    let missing = submit(&app, &ana, &item, &fields).await;
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    // Log out and in again: the old session's token is stale.
    post_form(&ana, &app.url("/review/logout"), &[("csrf", &stale)]).await;
    let res = try_login(&app, &ana, "ana@x.org", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let refused = submit(&app, &ana, &item, &good_review(&stale)).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("O formulário expirou")
    );
    assert!(reviews_of(&app.store, &item).await.is_empty());
    let fresh = session_csrf(&app, &ana).await;
    assert_ne!(fresh, stale);
    let ok = submit(&app, &ana, &item, &good_review(&fresh)).await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn an_overlap_item_goes_to_one_second_nurse_after_the_first_review() {
    let app = review_app("").await;
    for email in ["ana@x.org", "bia@x.org", "cris@x.org"] {
        account(&app.store, email, ReviewerRole::Nurse).await;
    }
    let (batch, items) = seed_batch(
        &app.store,
        &[Seed {
            overlap: true,
            ..Seed::default()
        }],
    )
    .await;
    let ana = logged_in(&app, "ana@x.org").await;
    let bia = logged_in(&app, "bia@x.org").await;
    let cris = logged_in(&app, "cris@x.org").await;
    assert_eq!(
        next(&app, &ana, &batch).await.as_deref(),
        Some(items[0].as_str())
    );
    assert_eq!(
        next(&app, &bia, &batch).await,
        None,
        "locked while Ana reviews"
    );
    let csrf = session_csrf(&app, &ana).await;
    submit(&app, &ana, &items[0], &good_review(&csrf)).await;
    assert_eq!(
        next(&app, &ana, &batch).await,
        None,
        "Ana has done her part"
    );
    assert_eq!(
        next(&app, &bia, &batch).await.as_deref(),
        Some(items[0].as_str())
    );
    let csrf = session_csrf(&app, &bia).await;
    submit(&app, &bia, &items[0], &good_review(&csrf)).await;
    assert_eq!(
        next(&app, &cris, &batch).await,
        None,
        "two reviews are enough"
    );
    assert_eq!(reviews_of(&app.store, &items[0]).await.len(), 2);
    // A finished batch leaves the list of open batches.
    let html = cris
        .get(app.url("/review"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains(&batch));
    assert!(html.contains("Nenhum lote aberto"));
}

#[tokio::test]
async fn only_admins_promote_a_reviewed_conversation_into_the_eval_set() {
    let dir = tempfile::tempdir().unwrap();
    let evalset = dir.path().join("reviewed.toml");
    let app = review_app(&format!("evalset = {:?}", evalset.display().to_string())).await;
    account(&app.store, "ana@x.org", ReviewerRole::Nurse).await;
    account(&app.store, "chefe@x.org", ReviewerRole::Admin).await;
    let (batch, items) = seed_batch(&app.store, &[Seed::default()]).await;
    let ana = logged_in(&app, "ana@x.org").await;
    next(&app, &ana, &batch).await.unwrap();
    let csrf = session_csrf(&app, &ana).await;
    submit(&app, &ana, &items[0], &good_review(&csrf)).await;
    let promote = app.url(&format!("/review/items/{}/promote", items[0]));
    let forbidden = post_form(&ana, &promote, &[("csrf", &csrf)]).await;
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    assert!(
        forbidden
            .text()
            .await
            .unwrap()
            .contains("Só administradores")
    );
    assert!(!evalset.exists());
    let admin = logged_in(&app, "chefe@x.org").await;
    let page = admin
        .get(app.url(&format!("/review/items/{}", items[0])))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Promover para o conjunto de avaliação"));
    assert!(page.contains("ana@x.org"), "admins see every review");
    let admin_csrf = session_csrf(&app, &admin).await;
    let no_token = post_form(&admin, &promote, &[]).await;
    assert_eq!(no_token.status(), StatusCode::FORBIDDEN);
    let done = post_form(&admin, &promote, &[("csrf", &admin_csrf)]).await;
    assert_eq!(done.status(), StatusCode::OK);
    let html = done.text().await.unwrap();
    assert!(html.contains(&format!("review-{}", items[0])), "{html}");
    let text = std::fs::read_to_string(&evalset).unwrap();
    assert!(
        text.contains(&format!("id = \"review-{}\"", items[0])),
        "{text}"
    );
    assert!(
        text.contains("Vá agora à maternidade"),
        "the corrected answer is the reference"
    );
    let again = post_form(&admin, &promote, &[("csrf", &admin_csrf)]).await;
    assert_eq!(
        again.status(),
        StatusCode::CONFLICT,
        "an item is promoted once"
    );
}

#[tokio::test]
async fn stats_show_weeks_distributions_and_kappa_once_there_is_overlap() {
    let app = review_app("").await;
    account(&app.store, "ana@x.org", ReviewerRole::Nurse).await;
    account(&app.store, "bia@x.org", ReviewerRole::Nurse).await;
    let overlap = Seed {
        overlap: true,
        ..Seed::default()
    };
    let (batch, items) = seed_batch(&app.store, &[overlap, overlap, overlap]).await;
    let ana = logged_in(&app, "ana@x.org").await;
    let bia = logged_in(&app, "bia@x.org").await;
    let empty = ana
        .get(app.url("/review/stats"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(empty.contains("Ainda não há revisões."));
    assert!(empty.contains("Sobreposição insuficiente"));
    // (Ana, Bia) clinical accuracy: (5,5) (3,4) (4,4) → κ = 0.50; escalation agrees → κ = 1.00.
    let ratings = [
        (("5", "yes"), ("5", "yes")),
        (("3", "no"), ("4", "no")),
        (("4", "no"), ("4", "no")),
    ];
    for (item, (a, b)) in items.iter().zip(ratings) {
        for (client, (score, escalate)) in [(&ana, a), (&bia, b)] {
            assert_eq!(
                next(&app, client, &batch).await.as_deref(),
                Some(item.as_str())
            );
            let csrf = session_csrf(&app, client).await;
            let res = submit(
                &app,
                client,
                item,
                &[
                    ("csrf", &csrf),
                    ("clinical_accuracy", score),
                    ("tone", "4"),
                    ("safety_problem", "none"),
                    ("should_escalate", escalate),
                ],
            )
            .await;
            assert_eq!(res.status(), StatusCode::SEE_OTHER);
        }
    }
    let html = ana
        .get(app.url("/review/stats?lang=en"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let week = powerbirth::review::stats::iso_week(now_ms());
    assert!(
        html.contains(&format!("<td>{week}</td><td>6</td>")),
        "{html}"
    );
    assert!(html.contains("Conversations reviewed by two nurses: 3"));
    assert!(
        html.contains("<dt>Clinical accuracy</dt><dd>0.50</dd>"),
        "{html}"
    );
    assert!(html.contains("<dt>Escalation</dt><dd>1.00</dd>"), "{html}");
    assert!(!html.contains("Not enough overlap"));
}

#[tokio::test]
async fn the_pages_switch_to_english_and_remember_it() {
    let app = review_app("").await;
    let client = browser();
    let pt = client.get(app.url("/review/login")).send().await.unwrap();
    let html = pt.text().await.unwrap();
    assert!(html.contains("<html lang=\"pt-BR\">") && html.contains("Senha"));
    let en = client
        .get(app.url("/review/login?lang=en"))
        .send()
        .await
        .unwrap();
    assert!(
        set_cookies(&en)
            .iter()
            .any(|c| c.starts_with("pb_review_lang=en"))
    );
    assert!(en.text().await.unwrap().contains("Password"));
    let later = client.get(app.url("/review/login")).send().await.unwrap();
    let html = later.text().await.unwrap();
    assert!(html.contains("<html lang=\"en\">") && html.contains("Password"));
}

/// Many nurses asking for the next item at the same moment each get a different one, and the
/// ones left over get none.
async fn concurrent_next_never_hands_out_an_item_twice(app: &TestApp) {
    let nurses = 8;
    for i in 0..nurses {
        account(&app.store, &format!("n{i}@x.org"), ReviewerRole::Nurse).await;
    }
    let (batch, items) = seed_batch(&app.store, &[Seed::default(); 5]).await;
    let mut clients = Vec::new();
    for i in 0..nurses {
        clients.push(logged_in(app, &format!("n{i}@x.org")).await);
    }
    let taken = futures_util::future::join_all(clients.iter().map(|c| next(app, c, &batch))).await;
    let mut got: Vec<String> = taken.into_iter().flatten().collect();
    assert_eq!(
        got.len(),
        items.len(),
        "every item handed out, the rest told none is left"
    );
    got.sort();
    got.dedup();
    assert_eq!(got.len(), items.len(), "no item handed out twice");
}

#[tokio::test]
async fn concurrent_next_calls_never_return_the_same_item_on_sqlite() {
    let app = review_app("").await;
    concurrent_next_never_hands_out_an_item_twice(&app).await;
}

#[tokio::test]
async fn concurrent_next_calls_never_return_the_same_item_on_postgres() {
    let Some(base) = common::pg_url() else { return };
    let db_url = common::fresh_pg_database(&base).await;
    let app = spawn_app_with(Spawn {
        extra_toml: "[review]\nschedule = \"off\"\n".into(),
        db_url: Some(db_url),
        ..Spawn::default()
    })
    .await;
    concurrent_next_never_hands_out_an_item_twice(&app).await;
}

/// `powerbirth users add` with the password on stdin.
fn users_add(
    config: &std::path::Path,
    email: &str,
    role: &str,
    stdin: &str,
) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_powerbirth"))
        .args([
            "users",
            "add",
            "--email",
            email,
            "--role",
            role,
            "--password-stdin",
            "--config",
        ])
        .arg(config)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn users_add_creates_an_argon2id_account_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("users.db");
    let config = dir.path().join("powerbirth.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"sqlite://{}\"\n\n[review]\nschedule = \"off\"\n",
            db.display()
        ),
    )
    .unwrap();
    let ok = users_add(&config, " Ana@X.org", "nurse", &format!("{PASSWORD}\n"));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("created nurse account ana@x.org"));
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(!stdout.contains(PASSWORD));
    let short = users_add(&config, "bia@x.org", "nurse", "curta\n");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 12 characters"));
    let twice = users_add(&config, "ANA@x.org", "admin", &format!("{PASSWORD}\n"));
    assert!(!twice.status.success());
    assert!(String::from_utf8_lossy(&twice.stderr).contains("already exists"));
    let role = users_add(&config, "cris@x.org", "doctor", &format!("{PASSWORD}\n"));
    assert!(!role.status.success());
    let store = Store::connect(&format!("sqlite://{}", db.display()), 1)
        .await
        .unwrap();
    let rows = sqlx::query("SELECT email, role, password_hash FROM users")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<String, _>("email"), "ana@x.org");
    assert_eq!(rows[0].get::<String, _>("role"), "nurse");
    assert!(
        rows[0]
            .get::<String, _>("password_hash")
            .starts_with("$argon2id$")
    );
}
