//! Versioned prompts through the API: listing, rendering, the chat `prompt` extension (sent as an
//! OpenAI SDK extra-body field), the `x-prompt-ref` header and log, and atomic reloads.

use crate::common;
use crate::common::on_both_backends;

use std::path::Path;

use common::{Spawn, spawn_app, spawn_app_with};
use serde_json::{Value, json};

async fn every_shipped_prompt_is_listed_with_versions_labels_languages_and_personas() {
    let app = spawn_app().await;
    let res = app
        .http
        .get(app.url("/v1/prompts"))
        .bearer_auth(&app.client_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let text = body.to_string();
    for id in [
        "assistant-general",
        "preeclampsia-alert",
        "birth-plan",
        "postpartum-checkin",
    ] {
        assert!(text.contains(id), "{id} missing");
    }
    for word in [
        "production",
        "staging",
        "pt-BR",
        "\"en\"",
        "doula",
        "nurse",
        "gestational_week",
    ] {
        assert!(text.contains(word), "{word} missing from {text}");
    }
    let one = app
        .http
        .get(app.url("/v1/prompts/birth-plan"))
        .bearer_auth(&app.client_key)
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), 200);
    let v = app
        .http
        .get(app.url("/v1/prompts/birth-plan/versions/1"))
        .bearer_auth(&app.client_key)
        .send()
        .await
        .unwrap();
    assert_eq!(v.status(), 200);
    assert!(v.text().await.unwrap().contains("plano de parto"));
    for missing in ["/v1/prompts/nope", "/v1/prompts/birth-plan/versions/99"] {
        let res = app
            .http
            .get(app.url(missing))
            .bearer_auth(&app.client_key)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404);
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["error"]["code"], "prompt_not_found");
    }
}
on_both_backends!(every_shipped_prompt_is_listed_with_versions_labels_languages_and_personas);

async fn render_follows_accept_language_and_reports_every_bad_variable() {
    let app = spawn_app().await;
    let res = app
        .http
        .post(app.url("/v1/prompts/assistant-general/render"))
        .bearer_auth(&app.client_key)
        .header("accept-language", "en-US,en;q=0.9")
        .json(&json!({"variables": {"gestational_week": 30}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["prompt_ref"], "assistant-general@1");
    assert_eq!(body["language"], "en");
    assert_eq!(body["messages"][0]["role"], "system");
    assert!(
        body["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("30")
    );
    assert_eq!(body["sha256"].as_str().unwrap().len(), 64);

    let res = app
        .post(
            "/v1/prompts/assistant-general/render",
            &json!({"label": "staging", "language": "pt", "variables": {"gestational_week": 99, "favourite_colour": "azul"}}),
        )
        .await;
    assert_eq!(res.status(), 400);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["code"], "invalid_prompt_variables");
    let message = err["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("gestational_week") && message.contains("favourite_colour"),
        "{message}"
    );
}
on_both_backends!(render_follows_accept_language_and_reports_every_bad_variable);

async fn a_chat_with_a_prompt_reference_sends_the_rendered_prompt_first_and_logs_the_reference() {
    let app = spawn_app().await;
    // The official SDK shape: a normal chat request with `prompt` as an extra body field.
    let request = json!({
        "model": "gpt-echo",
        "messages": [{"role": "user", "content": "Estou com dor de cabeça e vendo pontinhos brilhantes"}],
        "prompt": {"id": "preeclampsia-alert", "variables": {}},
        "metadata": {"conversation_id": "conv-pe"}
    });
    let answer: Value = app
        .openai()
        .chat()
        .create_byot(request.clone())
        .await
        .unwrap();
    // A danger sign: the guard's urgent-care notice comes first, then the model's answer.
    let content = answer["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(
        content.contains("192")
            && content.ends_with("echo: Estou com dor de cabeça e vendo pontinhos brilhantes"),
        "{content}"
    );

    let res = app
        .http
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&app.client_key)
        .header("accept-language", "pt-BR")
        .json(&request)
        .send()
        .await
        .unwrap();
    let prompt_ref = res.headers()["x-prompt-ref"].to_str().unwrap().to_string();
    assert!(
        prompt_ref.starts_with("preeclampsia-alert@1;lang=pt-BR;persona="),
        "{prompt_ref}"
    );

    let sent = &app.upstream.requests()[0].body;
    assert_eq!(sent["messages"][0]["role"], "system");
    assert!(
        sent["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("192"),
        "the rendered pt-BR system prompt goes first"
    );
    assert!(
        sent.get("prompt").is_none(),
        "the gateway's prompt field is not forwarded"
    );
    let last = sent["messages"].as_array().unwrap().last().unwrap();
    assert_eq!(
        last["content"],
        "Estou com dor de cabeça e vendo pontinhos brilhantes"
    );

    app.settle().await;
    let stored = app.conversation_messages("conv-pe").await;
    assert!(
        stored
            .iter()
            .all(|m| m.prompt_ref.as_deref() == Some(prompt_ref.as_str()))
    );
    // The log holds what the user saw, not the system prompt.
    assert!(stored.iter().all(|m| m.role != "system"));
}
on_both_backends!(
    a_chat_with_a_prompt_reference_sends_the_rendered_prompt_first_and_logs_the_reference
);

async fn prompt_errors_in_a_chat_are_404_and_400_before_any_upstream_call() {
    let app = spawn_app().await;
    let mut body = common::chat("gpt-echo", "oi");
    body["prompt"] = json!({"id": "birth-plan", "label": "canary"});
    let res = app.post("/v1/chat/completions", &body).await;
    assert_eq!(res.status(), 404);
    body["prompt"] =
        json!({"id": "assistant-general", "variables": {"gestational_week": "trinta"}});
    let res = app.post("/v1/chat/completions", &body).await;
    assert_eq!(res.status(), 400);
    body["prompt"] = json!({"id": "assistant-general", "tone": "x"});
    let res = app.post("/v1/chat/completions", &body).await;
    assert_eq!(
        res.status(),
        400,
        "unknown fields in the prompt selector are refused"
    );
    assert!(app.upstream.requests().is_empty());
}
on_both_backends!(prompt_errors_in_a_chat_are_404_and_400_before_any_upstream_call);

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

async fn a_reload_with_any_problem_is_rejected_whole_and_the_old_set_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let prompts = dir.path().join("prompts");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts"),
        &prompts,
    );
    let app = spawn_app_with(Spawn {
        extra_toml: format!("[prompts]\ndir = \"{}\"\n", prompts.display()),
        ..Spawn::default()
    })
    .await;
    let reload = |key: String| {
        let (http, url) = (app.http.clone(), app.url("/admin/prompts/reload"));
        async move { http.post(url).bearer_auth(key).send().await.unwrap() }
    };
    assert_eq!(
        reload(app.client_key.clone()).await.status(),
        403,
        "reload needs an admin key"
    );

    // Break one file: a label pointing at a version that does not exist.
    let manifest = prompts.join("birth-plan/prompt.toml");
    let good = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, good.replace("production = 1", "production = 7")).unwrap();
    let res = reload(app.admin_key.clone()).await;
    assert_eq!(res.status(), 422);
    let err: Value = res.json().await.unwrap();
    let message = err["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("birth-plan/prompt.toml:"),
        "file and line: {message}"
    );
    // Still serving the old set.
    let mut body = common::chat("gpt-echo", "oi");
    body["prompt"] = json!({"id": "birth-plan"});
    assert_eq!(app.post("/v1/chat/completions", &body).await.status(), 200);

    // A valid change is swapped in.
    std::fs::write(
        &manifest,
        good.replace("production = 1", "production = 1\ncanary = 1"),
    )
    .unwrap();
    let res = reload(app.admin_key.clone()).await;
    assert_eq!(res.status(), 200);
    body["prompt"] = json!({"id": "birth-plan", "label": "canary"});
    assert_eq!(app.post("/v1/chat/completions", &body).await.status(), 200);
}
on_both_backends!(a_reload_with_any_problem_is_rejected_whole_and_the_old_set_keeps_serving);

#[tokio::test]
async fn sighup_reloads_the_prompts_of_the_running_binary() {
    let upstream = common::MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let prompts = dir.path().join("prompts");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts"),
        &prompts,
    );
    let db_url = format!("sqlite://{}", dir.path().join("gw.db").display());
    let text = common::test_config(
        &upstream,
        &db_url,
        &format!("[prompts]\ndir = \"{}\"\n", prompts.display()),
    )
    .replace("bootstrap_admin_key = false", "bootstrap_admin_key = true");
    let config = dir.path().join("powerbirth.toml");
    std::fs::write(&config, text).unwrap();
    let (mut child, addr, key) = common::spawn_binary(&config);
    let key = key.unwrap();
    let http = reqwest::Client::new();
    let canary = || {
        let (http, key) = (http.clone(), key.clone());
        let url = format!("{addr}/v1/chat/completions");
        async move {
            let body = json!({"model": "gpt-echo", "messages": [{"role": "user", "content": "oi"}],
                              "prompt": {"id": "birth-plan", "label": "canary"}});
            http.post(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(canary().await, 404);
    let manifest = prompts.join("birth-plan/prompt.toml");
    let good = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        good.replace("production = 1", "production = 1\ncanary = 1"),
    )
    .unwrap();
    common::signal(&child, "HUP");
    let mut status = 0;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        status = canary().await;
        if status == 200 {
            break;
        }
    }
    assert_eq!(status, 200, "the canary label is served after SIGHUP");
    common::signal(&child, "TERM");
    assert!(child.wait().unwrap().success());
}
