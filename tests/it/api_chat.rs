//! The chat API as an OpenAI client sees it: the real app on port 0, a real mock upstream, and
//! async-openai as the client.

use crate::common;
use crate::common::on_both_backends;

use std::time::{Duration, Instant};

use async_openai::types::chat::{
    ChatCompletionRequestUserMessageArgs, ChatCompletionStreamOptions,
    CreateChatCompletionRequestArgs,
};
use common::{chat, spawn_app};
use futures_util::StreamExt;
use serde_json::{Value, json};

fn request(model: &str, text: &str) -> async_openai::types::chat::CreateChatCompletionRequest {
    request_with(model, text, false)
}

/// With async-openai's `byot` feature on (used for extra body fields), `create_stream` no longer
/// sets `stream: true` itself, so streamed requests say it explicitly.
fn request_with(
    model: &str,
    text: &str,
    stream: bool,
) -> async_openai::types::chat::CreateChatCompletionRequest {
    let mut req = request_plain(model, text);
    if stream {
        req.stream = Some(true);
    }
    req
}

fn request_plain(
    model: &str,
    text: &str,
) -> async_openai::types::chat::CreateChatCompletionRequest {
    CreateChatCompletionRequestArgs::default()
        .model(model)
        .messages([ChatCompletionRequestUserMessageArgs::default()
            .content(text)
            .build()
            .unwrap()
            .into()])
        .build()
        .unwrap()
}

async fn an_openai_client_gets_a_completion_and_the_exchange_is_logged() {
    let app = spawn_app().await;
    let res = app
        .openai()
        .chat()
        .create(request("gpt-echo", "Olá, estou com 20 semanas"))
        .await
        .unwrap();
    assert_eq!(
        res.choices[0].message.content.as_deref(),
        Some("echo: Olá, estou com 20 semanas")
    );
    assert_eq!(res.usage.unwrap().total_tokens, 18);

    app.settle().await;
    assert_eq!(app.store.count_messages("user").await.unwrap(), 1);
    assert_eq!(app.store.count_messages("assistant").await.unwrap(), 1);
    // The upstream got its own model name, and no gateway metadata.
    let sent = &app.upstream.requests()[0];
    assert_eq!(sent.body["model"], "echo");
    assert!(sent.body.get("metadata").is_none());
}
on_both_backends!(an_openai_client_gets_a_completion_and_the_exchange_is_logged);

async fn responses_carry_request_and_conversation_ids_and_conversations_group_messages() {
    let app = spawn_app().await;
    let mut body = chat("gpt-echo", "primeira pergunta");
    body["metadata"] = json!({"conversation_id": "conv-42"});
    let res = app.post("/v1/chat/completions", &body).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-conversation-id"], "conv-42");
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(request_id.starts_with("req_"));

    body["messages"] = json!([
        {"role": "user", "content": "primeira pergunta"},
        {"role": "assistant", "content": "echo: primeira pergunta"},
        {"role": "user", "content": "segunda pergunta"}
    ]);
    let res = app.post("/v1/chat/completions", &body).await;
    assert_eq!(res.status(), 200);

    // Without a conversation id, each request starts a new conversation.
    let res = app
        .post("/v1/chat/completions", &chat("gpt-echo", "outra"))
        .await;
    let other = res.headers()["x-conversation-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_ne!(other, "conv-42");

    app.settle().await;
    let stored = app.conversation_messages("conv-42").await;
    let turns: Vec<(&str, &str)> = stored
        .iter()
        .map(|m| (m.role.as_str(), m.content.as_str()))
        .collect();
    assert_eq!(
        turns,
        vec![
            ("user", "primeira pergunta"),
            ("assistant", "echo: primeira pergunta"),
            ("user", "segunda pergunta"),
            ("assistant", "echo: segunda pergunta"),
        ]
    );
    let first = app.store.request_messages(&request_id).await.unwrap();
    let answer = first.iter().find(|m| m.role == "assistant").unwrap();
    assert_eq!(answer.model.as_deref(), Some("gpt-echo"));
    assert_eq!(
        (answer.prompt_tokens, answer.completion_tokens),
        (Some(11), Some(7))
    );
    assert_eq!(answer.status, "ok");
    assert!(answer.latency_ms.is_some());
}
on_both_backends!(responses_carry_request_and_conversation_ids_and_conversations_group_messages);

async fn an_openai_client_streams_an_answer_ending_with_done() {
    let app = spawn_app().await;
    let mut stream = app
        .openai()
        .chat()
        .create_stream(request_with("gpt-echo", "Posso tomar café?", true))
        .await
        .unwrap();
    let mut text = String::new();
    let mut finish = None;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        assert!(chunk.usage.is_none(), "usage was not asked for");
        for c in chunk.choices {
            text.push_str(c.delta.content.as_deref().unwrap_or(""));
            if c.finish_reason.is_some() {
                finish = c.finish_reason;
            }
        }
    }
    assert_eq!(text, "echo: Posso tomar café?");
    assert!(finish.is_some());

    // The gateway asked the upstream for usage itself, so the log has tokens.
    let sent = &app.upstream.requests()[0];
    assert_eq!(sent.body["stream_options"]["include_usage"], true);
    app.settle().await;
    let stored = app.store.count_messages("assistant").await.unwrap();
    assert_eq!(stored, 1);
}
on_both_backends!(an_openai_client_streams_an_answer_ending_with_done);

async fn a_stream_includes_usage_when_the_client_asks_for_it() {
    let app = spawn_app().await;
    let mut req = request_with("gpt-echo", "oi", true);
    req.stream_options = Some(ChatCompletionStreamOptions {
        include_usage: Some(true),
        include_obfuscation: None,
    });
    let mut stream = app.openai().chat().create_stream(req).await.unwrap();
    let mut usage = None;
    while let Some(chunk) = stream.next().await {
        if let Some(u) = chunk.unwrap().usage {
            usage = Some(u);
        }
    }
    assert_eq!(usage.unwrap().completion_tokens, 7);
}
on_both_backends!(a_stream_includes_usage_when_the_client_asks_for_it);

async fn the_raw_stream_is_server_sent_events_ending_in_done() {
    let app = spawn_app().await;
    let mut body = chat("gpt-echo", "x");
    body["stream"] = json!(true);
    let res = app.post("/v1/chat/completions", &body).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    assert!(res.headers().contains_key("x-request-id"));
    let text = res.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    assert!(text.starts_with("data: {"), "{text}");
}
on_both_backends!(the_raw_stream_is_server_sent_events_ending_in_done);

async fn tools_and_unknown_fields_are_passed_to_the_upstream() {
    let app = spawn_app().await;
    let mut body = chat("gpt-echo", "x");
    body["tools"] = json!([{"type": "function", "function": {"name": "agenda", "parameters": {"type": "object"}}}]);
    body["tool_choice"] = json!("auto");
    body["seed"] = json!(7);
    body["user"] = json!("u-hash");
    let res = app.post("/v1/chat/completions", &body).await;
    assert_eq!(res.status(), 200);
    let sent = &app.upstream.requests()[0].body;
    assert_eq!(sent["tools"][0]["function"]["name"], "agenda");
    assert_eq!(sent["tool_choice"], "auto");
    assert_eq!(sent["seed"], 7);
    assert_eq!(sent["user"], "u-hash");
}
on_both_backends!(tools_and_unknown_fields_are_passed_to_the_upstream);

async fn error_of(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    (status, body["error"].clone())
}

async fn an_unknown_model_is_a_404_model_not_found() {
    let app = spawn_app().await;
    let err = app
        .openai()
        .chat()
        .create(request("gpt-9000", "x"))
        .await
        .unwrap_err();
    let async_openai::error::OpenAIError::ApiError(e) = err else {
        panic!("{err:?}")
    };
    assert_eq!(e.status_code.as_u16(), 404);
    assert_eq!(e.api_error.code.as_deref(), Some("model_not_found"));
}
on_both_backends!(an_unknown_model_is_a_404_model_not_found);

async fn malformed_json_and_wrong_fields_are_400s_naming_the_field() {
    let app = spawn_app().await;
    let res = app
        .http
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&app.client_key)
        .header("content-type", "application/json")
        .body("{\"model\": \"gpt-echo\", ")
        .send()
        .await
        .unwrap();
    let (status, err) = error_of(res).await;
    assert_eq!(status, 400);
    assert_eq!(err["type"], "invalid_request_error");

    let mut body = chat("gpt-echo", "x");
    body["max_tokens"] = json!("many");
    let (status, err) = error_of(app.post("/v1/chat/completions", &body).await).await;
    assert_eq!(status, 400);
    assert_eq!(err["param"], "max_tokens");

    let (status, err) = error_of(
        app.post("/v1/chat/completions", &json!({"model": "gpt-echo"}))
            .await,
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        err["message"].as_str().unwrap().contains("messages"),
        "{err}"
    );
}
on_both_backends!(malformed_json_and_wrong_fields_are_400s_naming_the_field);

async fn requests_without_a_valid_key_get_401() {
    let app = spawn_app().await;
    let res = app
        .http
        .post(app.url("/v1/chat/completions"))
        .json(&chat("gpt-echo", "x"))
        .send()
        .await
        .unwrap();
    let (status, err) = error_of(res).await;
    assert_eq!(status, 401);
    assert_eq!(err["code"], "invalid_api_key");
    let res = app
        .http
        .get(app.url("/v1/models"))
        .bearer_auth("pb-not-a-key")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(app.upstream.requests().is_empty());
}
on_both_backends!(requests_without_a_valid_key_get_401);

async fn a_body_over_the_limit_is_a_413() {
    let app = spawn_app().await;
    let body = chat("gpt-echo", &"a".repeat(70_000));
    let (status, err) = error_of(app.post("/v1/chat/completions", &body).await).await;
    assert_eq!(status, 413);
    assert_eq!(err["code"], "request_too_large");
}
on_both_backends!(a_body_over_the_limit_is_a_413);

async fn a_failing_model_falls_back_in_order() {
    let app = spawn_app().await;
    let res = app
        .post("/v1/chat/completions", &chat("gpt-down", "socorro"))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-powerbirth-model"], "gpt-echo");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "echo: socorro");
    // Three tries at the failing model (1 + 2 retries), then the fallback.
    let models: Vec<String> = app
        .upstream
        .requests()
        .iter()
        .map(|r| r.body["model"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(models, vec!["fail-503", "fail-503", "fail-503", "echo"]);

    // An upstream auth failure is ours, not the client's: fall back without retrying.
    let res = app
        .post("/v1/chat/completions", &chat("gpt-badkey", "x"))
        .await;
    assert_eq!(res.status(), 200);
}
on_both_backends!(a_failing_model_falls_back_in_order);

async fn a_streamed_request_falls_back_before_the_first_chunk() {
    let app = spawn_app().await;
    let mut body = chat("gpt-down", "x");
    body["stream"] = json!(true);
    let res = app.post("/v1/chat/completions", &body).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-powerbirth-model"], "gpt-echo");
    assert_eq!(common::sse_text(&res.text().await.unwrap()), "echo: x");
}
on_both_backends!(a_streamed_request_falls_back_before_the_first_chunk);

async fn transient_upstream_errors_are_retried() {
    let app = spawn_app().await;
    let res = app
        .post("/v1/chat/completions", &chat("gpt-flaky", "x"))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.upstream.requests().len(), 3);
}
on_both_backends!(transient_upstream_errors_are_retried);

async fn an_upstream_that_is_down_after_retries_is_a_502_with_its_class() {
    let app = spawn_app().await;
    let (status, err) = error_of(
        app.post("/v1/chat/completions", &chat("gpt-down-alone", "x"))
            .await,
    )
    .await;
    assert_eq!(status, 502);
    assert_eq!(err["code"], "upstream_http_503");
    let message = err["message"].as_str().unwrap();
    assert!(message.contains("upstream_http_503"), "{message}");
    assert!(
        !message.contains("upstream overloaded"),
        "the upstream's own text stays in the log: {message}"
    );
    // The failed turn is logged too.
    app.settle().await;
    assert_eq!(app.store.count_messages("user").await.unwrap(), 1);
}
on_both_backends!(an_upstream_that_is_down_after_retries_is_a_502_with_its_class);

async fn an_upstream_that_refuses_the_request_is_a_400_without_fallback() {
    let app = spawn_app().await;
    let (status, err) = error_of(
        app.post("/v1/chat/completions", &chat("gpt-rejects", "x"))
            .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(err["code"], "upstream_rejected");
    assert!(
        !err["message"]
            .as_str()
            .unwrap()
            .contains("context too long"),
        "the upstream's own text stays in the log"
    );
    assert_eq!(app.upstream.requests().len(), 1);
}
on_both_backends!(an_upstream_that_refuses_the_request_is_a_400_without_fallback);

async fn a_slow_upstream_times_out_with_a_504_and_nothing_hangs() {
    let app = spawn_app().await;
    let started = Instant::now();
    let (status, err) = error_of(
        app.post("/v1/chat/completions", &chat("gpt-slow", "x"))
            .await,
    )
    .await;
    assert_eq!(status, 504);
    assert_eq!(err["code"], "upstream_timeout");
    assert!(
        started.elapsed() < Duration::from_millis(2900),
        "timeout_ms = 2000 must bound the wait"
    );

    // With a fallback configured, the timeout moves on to it.
    let res = app
        .post("/v1/chat/completions", &chat("gpt-slow-then-echo", "x"))
        .await;
    assert_eq!(res.status(), 200);
}
on_both_backends!(a_slow_upstream_times_out_with_a_504_and_nothing_hangs);

async fn models_are_listed_in_openai_format() {
    let app = spawn_app().await;
    let models = app.openai().models().list().await.unwrap();
    let ids: Vec<&str> = models.data.iter().map(|m| m.id.as_str()).collect();
    assert!(ids.contains(&"gpt-echo") && ids.contains(&"gpt-down"));
    let one: Value = app
        .http
        .get(app.url("/v1/models/gpt-echo"))
        .bearer_auth(&app.client_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["object"], "model");
    let res = app
        .http
        .get(app.url("/v1/models/nope"))
        .bearer_auth(&app.client_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}
on_both_backends!(models_are_listed_in_openai_format);

async fn probes_and_metrics_answer_without_a_key() {
    let app = spawn_app().await;
    assert_eq!(
        app.http
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let ready: Value = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["database"], "ok");

    app.post("/v1/chat/completions", &chat("gpt-echo", "x"))
        .await;
    let text = app.metrics_text().await;
    for series in [
        "powerbirth_http_requests_total{route=\"/v1/chat/completions\",model=\"gpt-echo\",status=\"200\"} 1",
        "powerbirth_http_request_duration_seconds_bucket",
        "powerbirth_upstream_duration_seconds_bucket",
        "powerbirth_gateway_overhead_seconds_bucket",
        "powerbirth_http_requests_in_flight",
    ] {
        assert!(text.contains(series), "missing {series} in\n{text}");
    }
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        assert!(line.starts_with("powerbirth_"), "unprefixed series: {line}");
    }
}
on_both_backends!(probes_and_metrics_answer_without_a_key);

async fn unknown_routes_get_an_openai_style_404() {
    let app = spawn_app().await;
    let (status, err) = error_of(app.http.get(app.url("/v1/nothing")).send().await.unwrap()).await;
    assert_eq!(status, 404);
    assert_eq!(err["type"], "invalid_request_error");
}
on_both_backends!(unknown_routes_get_an_openai_style_404);
