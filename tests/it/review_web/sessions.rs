//! Login, sessions and their cookies, CSRF on the login form, and the separation of the pages from
//! the API.

use super::*;
use crate::common::on_both_backends;

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
on_both_backends!(logging_in_opens_a_session_in_an_httponly_strict_cookie);

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
on_both_backends!(behind_tls_the_session_cookie_is_secure_and_host_prefixed);

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
on_both_backends!(secure_cookie_never_keeps_cookies_plain_even_behind_https);

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
on_both_backends!(without_a_session_every_page_redirects_to_the_login);

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
on_both_backends!(an_api_key_does_not_open_the_review_pages);

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
on_both_backends!(a_session_cookie_does_not_open_the_api);

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
on_both_backends!(an_unknown_email_and_a_wrong_password_get_the_same_answer);

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
on_both_backends!(the_login_delay_grows_with_each_failure);

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
on_both_backends!(a_login_without_its_form_token_is_refused);

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
on_both_backends!(logout_ends_the_session_for_good);

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
on_both_backends!(a_session_ends_when_it_expires);
