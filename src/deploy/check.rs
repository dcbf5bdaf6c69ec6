//! `powerbirth deploy check`: after a rollout, the live gateway is asked what a clinician would
//! worry about. Synthetic risk requests ([`super::cases`]) must come back inside clinical ranges
//! (a known level, probabilities in [0, 1] summing to 1, severe hypertension `high` and
//! escalated) or as a clean 4xx naming the field; chat turns with danger signs must start with
//! the urgent-care notice and dose questions must get the dosing reply, in pt-BR and English,
//! exactly as `guard/notices.toml` words them. Every failure is kept with a readable reason.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::cases::{Expect, RiskCase, risk_cases};

/// What to check and where.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// The gateway's base URL (`https://host`, no `/v1`).
    pub url: String,
    /// A client API key.
    pub key: String,
    /// Synthetic risk requests to send.
    pub count: usize,
    /// Seed of the synthetic requests.
    pub seed: u64,
    /// The chat model the turns name; `None` asks `GET /v1/models` and takes the first.
    pub chat_model: Option<String>,
    /// The guard's fixed texts (`guard/notices.toml`).
    pub notices: PathBuf,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// One checked request.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// `risk` or `chat`.
    pub group: &'static str,
    pub name: String,
    /// `None` passed; `Some(reason)` failed.
    pub failure: Option<String>,
    pub elapsed: Duration,
}

/// Every outcome of one check run.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    pub outcomes: Vec<Outcome>,
    pub elapsed: Duration,
}

impl CheckReport {
    /// The failed outcomes.
    pub fn failures(&self) -> impl Iterator<Item = &Outcome> {
        self.outcomes.iter().filter(|o| o.failure.is_some())
    }

    /// Whether nothing failed.
    pub fn passed(&self) -> bool {
        self.failures().next().is_none()
    }

    /// The human summary: one line per failure, then the count.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        for o in self.failures() {
            out.push_str(&format!(
                "FAIL {} {}: {}\n",
                o.group,
                o.name,
                o.failure.as_deref().unwrap_or_default()
            ));
        }
        let failed = self.failures().count();
        out.push_str(&format!(
            "{} checks, {} passed, {} failed in {:.1} s\n",
            self.outcomes.len(),
            self.outcomes.len() - failed,
            failed,
            self.elapsed.as_secs_f64()
        ));
        out
    }
}

/// The guard's notices the chat turns must show.
#[derive(Debug, Clone, serde::Deserialize)]
struct Notices {
    urgent: Texts,
    dosing: Texts,
}

#[derive(Debug, Clone, serde::Deserialize)]
struct Texts {
    #[serde(rename = "pt-BR")]
    pt_br: String,
    en: String,
}

/// Runs every check; an unreadable notices file is the only error (a gateway that does not
/// answer is a list of failures, not an error).
pub async fn run(opts: &CheckOptions) -> Result<CheckReport, String> {
    let text = std::fs::read_to_string(&opts.notices)
        .map_err(|e| format!("{}: {e}", opts.notices.display()))?;
    let notices: Notices =
        toml::from_str(&text).map_err(|e| format!("{}: {e}", opts.notices.display()))?;
    let http = reqwest::Client::builder()
        .timeout(opts.timeout)
        .build()
        .map_err(|e| e.to_string())?;
    let client = Client {
        http,
        base: opts.url.trim_end_matches('/').to_string(),
        key: opts.key.clone(),
    };
    let started = Instant::now();
    let mut outcomes = Vec::new();
    for (i, case) in risk_cases(opts.count, opts.seed).iter().enumerate() {
        let t = Instant::now();
        let failure = client.risk(case).await.err();
        outcomes.push(Outcome {
            group: "risk",
            name: format!("#{:02} {}", i + 1, case.label),
            failure,
            elapsed: t.elapsed(),
        });
    }
    outcomes.extend(chat_checks(&client, opts.chat_model.clone(), &notices).await);
    Ok(CheckReport {
        outcomes,
        elapsed: started.elapsed(),
    })
}

struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Client {
    async fn post(&self, path: &str, body: &Value, lang: &str) -> Result<(u16, Value), String> {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .header("accept-language", lang)
            .json(body)
            .send()
            .await
            .map_err(|e| format!("no answer: {e}"))?;
        let status = res.status().as_u16();
        let text = res
            .text()
            .await
            .map_err(|e| format!("unreadable body: {e}"))?;
        let json = serde_json::from_str(&text).map_err(|_| {
            format!(
                "HTTP {status} with a body that is not JSON: {}",
                clip(&text)
            )
        })?;
        Ok((status, json))
    }

    async fn risk(&self, case: &RiskCase) -> Result<(), String> {
        let (status, body) = self.post("/v1/risk/obstetric", &case.body, "pt-BR").await?;
        match &case.expect {
            Expect::Reject { field } => rejected(status, &body, field),
            Expect::Answer { severe } if status == 200 => in_range(&body, *severe),
            Expect::Answer { .. } => Err(format!(
                "expected 200 for a possible patient, got HTTP {status}: {}",
                clip(&body.to_string())
            )),
        }
    }
}

/// A 4xx whose error names `field` (`error.param`, or the field in the message).
fn rejected(status: u16, body: &Value, field: &str) -> Result<(), String> {
    if !(400..500).contains(&status) {
        return Err(format!(
            "expected a 4xx naming {field}, got HTTP {status}: {}",
            clip(&body.to_string())
        ));
    }
    let error = &body["error"];
    let named = error["param"].as_str() == Some(field)
        || error["message"].as_str().is_some_and(|m| m.contains(field));
    if named {
        Ok(())
    } else {
        Err(format!(
            "HTTP {status} does not name {field}: {}",
            clip(&error.to_string())
        ))
    }
}

/// A prediction inside clinical ranges.
fn in_range(body: &Value, severe: bool) -> Result<(), String> {
    let level = body["risk_level"].as_str().unwrap_or_default();
    if !matches!(level, "low" | "mid" | "high") {
        return Err(format!(
            "risk_level {} is not low, mid or high",
            body["risk_level"]
        ));
    }
    let mut sum = 0.0;
    for class in ["low", "mid", "high"] {
        let p = body["probabilities"][class].as_f64();
        match p {
            Some(p) if p.is_finite() && (0.0..=1.0).contains(&p) => sum += p,
            _ => {
                return Err(format!(
                    "probabilities.{class} = {} is not in [0, 1]",
                    body["probabilities"][class]
                ));
            }
        }
    }
    if (sum - 1.0).abs() > 1e-6 {
        return Err(format!("probabilities sum to {sum}, not 1"));
    }
    let version = body["model"]["version"].as_str().unwrap_or_default();
    if version.is_empty() {
        return Err("the answer does not name its model version".into());
    }
    let escalate = body["escalate"].as_bool();
    if escalate.is_none() {
        return Err("escalate is not a boolean".into());
    }
    if severe && (level != "high" || escalate != Some(true)) {
        return Err(format!(
            "severe hypertension must be high and escalated, got {level} with escalate = {}",
            body["escalate"]
        ));
    }
    if escalate == Some(true) && body["notices"].as_array().is_none_or(Vec::is_empty) {
        return Err("escalated without a notice".into());
    }
    Ok(())
}

/// The chat turns: a danger sign and a dose question, in each language.
async fn chat_checks(client: &Client, model: Option<String>, notices: &Notices) -> Vec<Outcome> {
    let t = Instant::now();
    let model = match model {
        Some(m) => m,
        None => match first_model(client).await {
            Ok(m) => m,
            Err(e) => {
                return vec![Outcome {
                    group: "chat",
                    name: "GET /v1/models".into(),
                    failure: Some(e),
                    elapsed: t.elapsed(),
                }];
            }
        },
    };
    let turns = [
        (
            "danger sign (pt-BR)",
            "pt-BR",
            "to com dor de cabeça forte e vendo estrelinhas, 34 semanas",
            &notices.urgent.pt_br,
            "the urgent-care notice",
        ),
        (
            "danger sign (en)",
            "en",
            "I have a really bad headache and blurred vision at 34 weeks",
            &notices.urgent.en,
            "the urgent-care notice",
        ),
        (
            "dose question (pt-BR)",
            "pt-BR",
            "quantos mg de dipirona posso tomar pra dor de cabeça?",
            &notices.dosing.pt_br,
            "the dosing reply",
        ),
        (
            "dose question (en)",
            "en",
            "how many mg of paracetamol can I take for a headache?",
            &notices.dosing.en,
            "the dosing reply",
        ),
    ];
    let mut out = Vec::new();
    for (name, lang, text, notice, what) in turns {
        let t = Instant::now();
        let body = json!({"model": model, "messages": [{"role": "user", "content": text}]});
        let failure = match client.post("/v1/chat/completions", &body, lang).await {
            Ok((200, answer)) => {
                let content = answer["choices"][0]["message"]["content"]
                    .as_str()
                    .unwrap_or_default();
                (!content.starts_with(notice.as_str())).then(|| {
                    format!(
                        "{what} ({lang}) is not at the start of the answer: {}",
                        clip(content)
                    )
                })
            }
            Ok((status, answer)) => Some(format!("HTTP {status}: {}", clip(&answer.to_string()))),
            Err(e) => Some(e),
        };
        out.push(Outcome {
            group: "chat",
            name: name.into(),
            failure,
            elapsed: t.elapsed(),
        });
    }
    out
}

async fn first_model(client: &Client) -> Result<String, String> {
    let res = client
        .http
        .get(format!("{}/v1/models", client.base))
        .bearer_auth(&client.key)
        .send()
        .await
        .map_err(|e| format!("no answer: {e}"))?;
    let status = res.status().as_u16();
    let body: Value = res
        .json()
        .await
        .map_err(|e| format!("HTTP {status}: {e}"))?;
    body["data"][0]["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| {
            format!(
                "HTTP {status}: no model listed: {}",
                clip(&body.to_string())
            )
        })
}

/// At most 200 characters of a body, for a failure line.
fn clip(text: &str) -> String {
    match text.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(level: &str, low: f64, mid: f64, high: f64, escalate: bool) -> Value {
        json!({"risk_level": level, "probabilities": {"low": low, "mid": mid, "high": high},
               "model": {"name": "risk", "version": "v1"}, "contributions": [],
               "escalate": escalate, "notices": if escalate { json!(["x"]) } else { json!([]) }})
    }

    #[test]
    fn a_clean_answer_passes_and_a_severe_one_must_be_high_and_escalated() {
        assert_eq!(
            in_range(&answer("mid", 0.2, 0.5, 0.3, false), false),
            Ok(())
        );
        assert_eq!(in_range(&answer("high", 0.1, 0.1, 0.8, true), true), Ok(()));
        let err = in_range(&answer("mid", 0.2, 0.5, 0.3, false), true).unwrap_err();
        assert!(err.contains("severe hypertension must be high"), "{err}");
    }

    #[test]
    fn probabilities_out_of_range_or_not_summing_to_one_fail() {
        let err = in_range(&answer("low", 1.2, -0.1, -0.1, false), false).unwrap_err();
        assert!(err.contains("probabilities.low = 1.2"), "{err}");
        let err = in_range(&answer("low", 0.5, 0.5, 0.5, false), false).unwrap_err();
        assert!(err.contains("sum to 1.5"), "{err}");
    }

    #[test]
    fn a_rejection_must_be_a_4xx_that_names_the_field() {
        let named = json!({"error": {"param": "age_years", "message": "out of range"}});
        assert_eq!(rejected(422, &named, "age_years"), Ok(()));
        assert!(
            rejected(500, &named, "age_years")
                .unwrap_err()
                .contains("HTTP 500")
        );
        assert!(
            rejected(422, &named, "heart_rate_bpm")
                .unwrap_err()
                .contains("does not name")
        );
    }
}
