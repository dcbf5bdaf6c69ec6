use std::collections::HashMap;
use std::path::Path;

use super::*;
use crate::providers::{Price, ProviderSettings};

const BASE: &str = r#"
[server]
listen = "127.0.0.1:9999"

[database]
url = "sqlite://test.db"

[[models]]
name = "local-smollm2"
provider = "local"
path = "models/x.gguf"
price = "free"

[[models]]
name = "gpt-4o-mini"
provider = "openai"
api_base = "http://127.0.0.1:1/v1/"
api_key_env = "TEST_UPSTREAM_KEY"
timeout_ms = 1500
fallbacks = ["local-smollm2"]
[models.price]
input = "0.15"
output = "0.60"
"#;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn load(text: &str, vars: &HashMap<String, String>) -> Result<Config, ConfigError> {
    Config::from_toml_str(text, Path::new("conf/powerbirth.toml"), vars)
}

#[test]
fn the_documented_keys_load_into_typed_settings() {
    let cfg = load(BASE, &env(&[("TEST_UPSTREAM_KEY", "sk-test")])).unwrap();
    assert_eq!(cfg.server.listen.port(), 9999);
    let gpt = cfg.model("gpt-4o-mini").unwrap();
    assert_eq!(gpt.fallbacks, vec!["local-smollm2".to_string()]);
    let ProviderSettings::OpenAi(o) = &gpt.provider else {
        panic!("openai expected")
    };
    assert_eq!(o.api_base, "http://127.0.0.1:1/v1");
    assert_eq!(o.upstream_model, "gpt-4o-mini");
    assert_eq!(o.timeout, Duration::from_millis(1500));
    assert_eq!(o.api_key.as_ref().unwrap().expose(), "sk-test");
    assert_eq!(
        gpt.price,
        Price::PerMillion {
            input: "0.15".parse().unwrap(),
            output: "0.60".parse().unwrap(),
            cached_input: None
        }
    );
    assert_eq!(cfg.model("local-smollm2").unwrap().price, Price::Free);
}

#[test]
fn an_unknown_key_names_the_key_the_file_and_the_line() {
    let text = BASE.replace(
        "listen = \"127.0.0.1:9999\"",
        "listen = \"127.0.0.1:9999\"\nlisten_port = 3",
    );
    let err = load(&text, &env(&[("TEST_UPSTREAM_KEY", "k")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("conf/powerbirth.toml"), "{err}");
    assert!(err.contains("listen_port"), "{err}");
    assert!(err.contains("line 4"), "{err}");
}

#[test]
fn environment_overrides_reach_sections_and_models_by_index_or_name() {
    let vars = env(&[
        ("TEST_UPSTREAM_KEY", "k"),
        ("POWERBIRTH_SERVER__LISTEN", "0.0.0.0:7000"),
        ("POWERBIRTH_DATABASE__URL", "postgres://u@h/db"),
        ("POWERBIRTH_MODELS__GPT_4O_MINI__TIMEOUT_MS", "250"),
        ("POWERBIRTH_MODELS__0__MAX_TOKENS", "64"),
        ("POWERBIRTH_TEST_PG_URL", "ignored: not an override"),
    ]);
    let cfg = load(BASE, &vars).unwrap();
    assert_eq!(cfg.server.listen.to_string(), "0.0.0.0:7000");
    assert_eq!(cfg.database.url, "postgres://u@h/db");
    let ProviderSettings::OpenAi(o) = &cfg.model("gpt-4o-mini").unwrap().provider else {
        panic!()
    };
    assert_eq!(o.timeout, Duration::from_millis(250));
    let ProviderSettings::Local(l) = &cfg.model("local-smollm2").unwrap().provider else {
        panic!()
    };
    assert_eq!(l.max_tokens, 64);
}

#[test]
fn an_unknown_override_is_an_error_naming_the_variable() {
    let vars = env(&[
        ("TEST_UPSTREAM_KEY", "k"),
        ("POWERBIRTH_SERVER__LISTENING", "x"),
    ]);
    let err = load(BASE, &vars).unwrap_err().to_string();
    assert!(err.contains("POWERBIRTH_SERVER__LISTENING"), "{err}");
    assert!(err.contains("listening"), "{err}");
}

#[test]
fn a_missing_api_key_variable_is_named() {
    let err = load(BASE, &env(&[])).unwrap_err().to_string();
    assert!(err.contains("TEST_UPSTREAM_KEY"), "{err}");
}

#[test]
fn a_model_without_a_price_is_refused_unless_declared_free() {
    let text = BASE.replace("price = \"free\"\n", "");
    let err = load(&text, &env(&[("TEST_UPSTREAM_KEY", "k")]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("local-smollm2") && err.contains("price"),
        "{err}"
    );
}

#[test]
fn negative_or_non_numeric_prices_are_refused_with_the_key_named() {
    for (bad, key) in [
        ("input = \"-0.15\"", "price.input"),
        ("output = \"cheap\"", "price.output"),
    ] {
        let text = BASE.replace(
            if key == "price.input" {
                "input = \"0.15\""
            } else {
                "output = \"0.60\""
            },
            bad,
        );
        let err = load(&text, &env(&[("TEST_UPSTREAM_KEY", "k")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains(key), "{err}");
    }
}

#[test]
fn a_fallback_must_name_a_configured_model() {
    let text = BASE.replace("fallbacks = [\"local-smollm2\"]", "fallbacks = [\"nope\"]");
    let err = load(&text, &env(&[("TEST_UPSTREAM_KEY", "k")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"nope\""), "{err}");
}

#[test]
fn keys_of_another_provider_are_refused() {
    let text = BASE.replace(
        "path = \"models/x.gguf\"",
        "path = \"models/x.gguf\"\napi_base = \"http://x\"",
    );
    let err = load(&text, &env(&[("TEST_UPSTREAM_KEY", "k")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("api_base") && err.contains("local"), "{err}");
}

#[test]
fn the_redis_rate_limit_needs_a_redis_url() {
    let text = format!("{BASE}\n[ratelimit]\nbackend = \"redis\"\n");
    let err = load(&text, &env(&[("TEST_UPSTREAM_KEY", "k")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("[redis]"), "{err}");
}

#[test]
fn secrets_do_not_show_in_debug_output() {
    let cfg = load(BASE, &env(&[("TEST_UPSTREAM_KEY", "sk-very-secret")])).unwrap();
    assert!(!format!("{cfg:?}").contains("sk-very-secret"));
}

#[test]
fn the_shipped_configuration_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("powerbirth.toml");
    let cfg = Config::load_with_env(&path, &env(&[])).unwrap();
    assert!(cfg.database.url.starts_with("sqlite:"));
    assert!(
        cfg.models
            .iter()
            .any(|m| matches!(m.provider, ProviderSettings::Local(_)))
    );
}

#[test]
fn moderation_and_review_sections_load_and_their_errors_name_file_and_key() {
    let vars = env(&[("TEST_UPSTREAM_KEY", "k"), ("CS_KEY", "secret")]);
    let c = load(&format!("{BASE}\n[moderation]\nprovider = \"azure\"\nendpoint = \"https://cs.example.com/\"\napi_key_env = \"CS_KEY\"\non_error = \"fail_closed\"\n[review]\nsample_size = 30\nschedule = \"daily\"\n"), &vars).unwrap();
    assert!(matches!(
        c.moderation.provider,
        crate::guard::moderation::ModerationProvider::Azure { ref endpoint, .. } if endpoint == "https://cs.example.com"
    ));
    assert_eq!(
        c.moderation.on_error,
        crate::guard::moderation::OnError::FailClosed
    );
    assert_eq!(c.review.sample_size, 30);
    assert_eq!(c.review.schedule, crate::review::config::Schedule::Daily);
    // Defaults: no provider, weekly batches of 20.
    let d = load(BASE, &vars).unwrap();
    assert!(matches!(
        d.moderation.provider,
        crate::guard::moderation::ModerationProvider::None
    ));
    assert_eq!(
        (d.review.sample_size, d.review.schedule),
        (20, crate::review::config::Schedule::Weekly)
    );

    for (section, needle) in [
        (
            "[moderation]\nprovider = \"azure\"\napi_key_env = \"CS_KEY\"\n",
            "[moderation] provider = \"azure\" needs `endpoint`",
        ),
        (
            "[moderation]\nprovider = \"openai\"\napi_base = \"http://x/v1\"\napi_key_env = \"NOT_SET\"\n",
            "\"NOT_SET\" but that environment variable is not set",
        ),
        ("[review]\nschedule = \"hourly\"\n", "[review] schedule"),
        ("[review]\noverlap = 50\n", "[review] overlap"),
    ] {
        let e = load(&format!("{BASE}\n{section}"), &vars).unwrap_err().0;
        assert!(e.starts_with("conf/powerbirth.toml: "), "{e}");
        assert!(e.contains(needle), "{e}");
    }
}

#[test]
fn a_key_of_another_provider_names_the_model_its_provider_the_key_and_the_entry_line() {
    let text = BASE.replace("timeout_ms = 1500", "timeout_ms = 1500\nworkers = 2");
    let err = load(&text, &env(&[("TEST_UPSTREAM_KEY", "k")]))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("conf/powerbirth.toml: "), "{err}");
    assert!(
        err.contains("model \"gpt-4o-mini\" (provider = \"openai\")")
            && err.contains("`workers`")
            && err.contains("line 14"),
        "{err}"
    );
}

#[test]
fn an_unknown_provider_is_refused_with_the_model_and_the_known_providers_named() {
    let text = BASE.replace("provider = \"openai\"", "provider = \"openia\"");
    let err = load(&text, &env(&[("TEST_UPSTREAM_KEY", "k")]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("gpt-4o-mini") && err.contains("`local` or `openai`"),
        "{err}"
    );
}

#[test]
fn a_key_of_another_provider_set_from_the_environment_is_refused_with_the_variable_named() {
    let vars = env(&[
        ("TEST_UPSTREAM_KEY", "k"),
        ("POWERBIRTH_MODELS__0__API_BASE", "http://y"),
    ]);
    let err = load(BASE, &vars).unwrap_err().to_string();
    assert!(
        err.contains("POWERBIRTH_MODELS__0__API_BASE")
            && err.contains("model \"local-smollm2\" (provider = \"local\")")
            && err.contains("`api_base`"),
        "{err}"
    );
}

#[test]
fn fallback_on_and_cooldown_are_read_and_checked() {
    let vars = env(&[("TEST_UPSTREAM_KEY", "k")]);
    let cfg = load(BASE, &vars).unwrap();
    let gpt = cfg.models.iter().find(|m| m.name == "gpt-4o-mini").unwrap();
    use crate::providers::FailureKind;
    assert!(
        FailureKind::ALL
            .iter()
            .all(|k| gpt.fallback_on.contains(*k))
    );
    assert_eq!(gpt.cooldown.after, 0, "no cooldown unless asked");
    let with =
        |extra: &str| BASE.replace("timeout_ms = 1500", &format!("timeout_ms = 1500\n{extra}"));
    let cfg = load(
        &with("fallback_on = [\"5xx\"]\ncooldown_after = 3\ncooldown_ms = 5000"),
        &vars,
    )
    .unwrap();
    let gpt = cfg.models.iter().find(|m| m.name == "gpt-4o-mini").unwrap();
    assert!(gpt.fallback_on.contains(FailureKind::ServerError));
    assert!(!gpt.fallback_on.contains(FailureKind::ContentFilter));
    assert_eq!(gpt.cooldown.after, 3);
    assert_eq!(gpt.cooldown.duration, std::time::Duration::from_secs(5));
    let err = load(&with("fallback_on = [\"5xxx\"]"), &vars)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("5xxx") && err.contains("content_filter"),
        "{err}"
    );
    let err = load(&with("escalated_fallbacks = [\"nope\"]"), &vars)
        .unwrap_err()
        .to_string();
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn per_user_limits_shared_through_redis_need_a_hash_key() {
    let vars = env(&[("TEST_UPSTREAM_KEY", "k")]);
    let limits = "\n[ratelimit]\nbackend = \"redis\"\nper_user_rpm = 10\n\n[redis]\nurl = \"redis://127.0.0.1:6379\"\n";
    let err = load(&format!("{BASE}{limits}"), &vars)
        .unwrap_err()
        .to_string();
    assert!(err.contains("user_hash_key_env"), "{err}");
    let limits = limits.replace(
        "per_user_rpm = 10",
        "per_user_rpm = 10\nuser_hash_key_env = \"HK\"",
    );
    let vars = env(&[("TEST_UPSTREAM_KEY", "k"), ("HK", "secret")]);
    let cfg = load(&format!("{BASE}{limits}"), &vars).unwrap();
    assert_eq!(cfg.ratelimit.per_user_rpm, Some(10));
    assert!(
        !format!("{cfg:?}").contains("secret\""),
        "the hash key never shows"
    );
    let err = load(
        &format!("{BASE}\n[budgets]\nper_user_daily_usd = \"abc\"\n"),
        &vars,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("per_user_daily_usd"), "{err}");
}

#[test]
fn limit_field_names_one_of_openais_two_answer_length_fields() {
    let vars = env(&[("TEST_UPSTREAM_KEY", "k")]);
    let openai = |config: &Config| match &config.models[1].provider {
        ProviderSettings::OpenAi(s) => s.limit_field,
        other => panic!("{other:?}"),
    };
    assert_eq!(openai(&load(BASE, &vars).unwrap()), "max_tokens");
    let reasoning = BASE.replace(
        "timeout_ms = 1500",
        "limit_field = \"max_completion_tokens\"",
    );
    assert_eq!(
        openai(&load(&reasoning, &vars).unwrap()),
        "max_completion_tokens"
    );
    let typo = BASE.replace("timeout_ms = 1500", "limit_field = \"max_output\"");
    let err = load(&typo, &vars).unwrap_err().to_string();
    assert!(
        err.contains("gpt-4o-mini") && err.contains("limit_field = \"max_output\""),
        "{err}"
    );
}
