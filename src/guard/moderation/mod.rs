//! External moderation, optional: Azure AI Content Safety (`text:analyze`, per-category severity
//! thresholds) or an OpenAI-compatible `/v1/moderations`, called over the shared `reqwest`
//! client with a time limit. An outage follows `on_error`: fail open (our own guard still runs)
//! or fail closed (the caller blocks), and the outcome says which happened.
//!
//! References: <https://learn.microsoft.com/azure/ai-services/content-safety/quickstart-text>
//! (API version 2024-09-01) and <https://platform.openai.com/docs/api-reference/moderations>.

mod config;

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use serde_json::{Value, json};

pub use config::RawModerationConfig;

use crate::core::Secret;

/// Azure Content Safety accepts at most this many characters per request.
const AZURE_MAX_CHARS: usize = 10_000;
const AZURE_API_VERSION: &str = "2024-09-01";

/// What to do when the provider cannot answer in time or at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Carry on with our own guard only.
    FailOpen,
    /// Treat the text as flagged.
    FailClosed,
}

/// Azure severity (0–7; 0, 2, 4, 6 with `FourSeverityLevels`) from which a category is flagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AzureThresholds {
    pub hate: u8,
    pub self_harm: u8,
    pub sexual: u8,
    pub violence: u8,
}

impl AzureThresholds {
    fn for_category(&self, name: &str) -> Option<u8> {
        match name {
            "Hate" => Some(self.hate),
            "SelfHarm" => Some(self.self_harm),
            "Sexual" => Some(self.sexual),
            "Violence" => Some(self.violence),
            _ => None,
        }
    }
}

/// The provider and its settings; each variant holds only what it uses.
#[derive(Debug, Clone)]
pub enum ModerationProvider {
    None,
    Azure {
        /// `https://<resource>.cognitiveservices.azure.com`, no trailing slash.
        endpoint: String,
        key: Secret,
        thresholds: AzureThresholds,
    },
    OpenAi {
        /// `https://api.openai.com/v1`, no trailing slash.
        api_base: String,
        key: Option<Secret>,
        model: String,
    },
}

/// The validated `[moderation]` section.
#[derive(Debug, Clone)]
pub struct ModerationSettings {
    pub provider: ModerationProvider,
    pub timeout: Duration,
    pub on_error: OnError,
}

impl Default for ModerationSettings {
    fn default() -> Self {
        ModerationSettings {
            provider: ModerationProvider::None,
            timeout: Duration::from_millis(2_000),
            on_error: OnError::FailOpen,
        }
    }
}

/// What the provider said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModerationOutcome {
    /// Categories as the provider names them (`SelfHarm`, `self-harm/intent`, …).
    Flagged { categories: Vec<String> },
    /// Nothing flagged, or no provider configured.
    Clear,
    /// No usable answer (timeout, connection, status, body); `fail_open` from `on_error`.
    Unavailable { fail_open: bool, reason: String },
}

impl ModerationOutcome {
    /// Should the caller treat the text as flagged? (Flagged, or unavailable and failing closed.)
    pub fn blocks(&self) -> bool {
        match self {
            ModerationOutcome::Flagged { .. } => true,
            ModerationOutcome::Clear => false,
            ModerationOutcome::Unavailable { fail_open, .. } => !fail_open,
        }
    }

    /// Did the provider flag self-harm? (The caller escalates with the crisis notice.)
    pub fn is_self_harm(&self) -> bool {
        match self {
            ModerationOutcome::Flagged { categories } => {
                categories.iter().any(|c| names_self_harm(c))
            }
            _ => false,
        }
    }
}

/// Does a provider's category name (`SelfHarm`, `self-harm/intent`, …) mean self-harm?
pub fn names_self_harm(category: &str) -> bool {
    category
        .to_ascii_lowercase()
        .replace(['-', '_'], "")
        .starts_with("selfharm")
}

/// Calls the configured provider. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Moderator {
    http: reqwest::Client,
    cfg: ModerationSettings,
    /// `powerbirth_moderation_checks_total{outcome}`: clear, flagged, unavailable.
    checks: Family<Vec<(&'static str, &'static str)>, Counter>,
}

impl Moderator {
    pub fn new(http: reqwest::Client, cfg: ModerationSettings) -> Self {
        Moderator {
            http,
            cfg,
            checks: Family::default(),
        }
    }

    /// Registers the outcome counter, so operators see an outage (and how often the provider
    /// flags) on `/metrics`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "moderation_checks",
            "External moderation calls by outcome (clear, flagged, unavailable)",
            self.checks.clone(),
        );
    }

    pub fn is_enabled(&self) -> bool {
        !matches!(self.cfg.provider, ModerationProvider::None)
    }

    /// Moderates `text` within the configured timeout.
    pub async fn check(&self, text: &str) -> ModerationOutcome {
        let call = async {
            match &self.cfg.provider {
                ModerationProvider::None => Ok(Vec::new()),
                ModerationProvider::Azure {
                    endpoint,
                    key,
                    thresholds,
                } => self.azure(endpoint, key, thresholds, text).await,
                ModerationProvider::OpenAi {
                    api_base,
                    key,
                    model,
                } => self.openai(api_base, key.as_ref(), model, text).await,
            }
        };
        let fail_open = self.cfg.on_error == OnError::FailOpen;
        let outcome = match tokio::time::timeout(self.cfg.timeout, call).await {
            Err(_) => ModerationOutcome::Unavailable {
                fail_open,
                reason: format!("no answer within {} ms", self.cfg.timeout.as_millis()),
            },
            Ok(Err(reason)) => {
                tracing::warn!(%reason, "external moderation unavailable");
                ModerationOutcome::Unavailable { fail_open, reason }
            }
            Ok(Ok(categories)) if categories.is_empty() => ModerationOutcome::Clear,
            Ok(Ok(categories)) => ModerationOutcome::Flagged { categories },
        };
        let label = match &outcome {
            ModerationOutcome::Clear => "clear",
            ModerationOutcome::Flagged { .. } => "flagged",
            ModerationOutcome::Unavailable { .. } => "unavailable",
        };
        self.checks.get_or_create(&vec![("outcome", label)]).inc();
        outcome
    }

    /// Azure Content Safety, one request per 10 000 characters.
    async fn azure(
        &self,
        endpoint: &str,
        key: &Secret,
        thresholds: &AzureThresholds,
        text: &str,
    ) -> Result<Vec<String>, String> {
        let url = format!("{endpoint}/contentsafety/text:analyze?api-version={AZURE_API_VERSION}");
        let mut flagged: Vec<String> = Vec::new();
        for chunk in chunks(text, AZURE_MAX_CHARS) {
            let body = json!({
                "text": chunk,
                "categories": ["Hate", "SelfHarm", "Sexual", "Violence"],
                "outputType": "FourSeverityLevels",
            });
            let req = self
                .http
                .post(&url)
                .header("Ocp-Apim-Subscription-Key", key.expose())
                .json(&body);
            let v = send_json(req).await?;
            let analysis = v["categoriesAnalysis"]
                .as_array()
                .ok_or("Azure answer has no categoriesAnalysis")?;
            for a in analysis {
                let (Some(name), Some(severity)) = (a["category"].as_str(), a["severity"].as_u64())
                else {
                    return Err("Azure answer has a malformed categoriesAnalysis entry".into());
                };
                if let Some(t) = thresholds.for_category(name)
                    && severity >= u64::from(t)
                    && !flagged.iter().any(|f| f == name)
                {
                    flagged.push(name.to_string());
                }
            }
        }
        Ok(flagged)
    }

    /// OpenAI `/v1/moderations`: every category set to true in a flagged result.
    async fn openai(
        &self,
        api_base: &str,
        key: Option<&Secret>,
        model: &str,
        text: &str,
    ) -> Result<Vec<String>, String> {
        let mut req = self
            .http
            .post(format!("{api_base}/moderations"))
            .json(&json!({"model": model, "input": text}));
        if let Some(k) = key {
            req = req.bearer_auth(k.expose());
        }
        let v = send_json(req).await?;
        let results = v["results"]
            .as_array()
            .ok_or("moderation answer has no results")?;
        let mut flagged: Vec<String> = Vec::new();
        for r in results.iter().filter(|r| r["flagged"] == true) {
            if let Some(cats) = r["categories"].as_object() {
                for (name, on) in cats {
                    if *on == true && !flagged.contains(name) {
                        flagged.push(name.clone());
                    }
                }
            }
            if flagged.is_empty() {
                flagged.push("flagged".into());
            }
        }
        Ok(flagged)
    }
}

/// Sends, checks the status, parses JSON. Errors never contain the key.
async fn send_json(req: reqwest::RequestBuilder) -> Result<Value, String> {
    let res = req.send().await.map_err(|e| {
        if e.is_connect() {
            "cannot connect to the moderation provider".to_string()
        } else {
            format!("moderation request failed: {}", e.without_url())
        }
    })?;
    let status = res.status();
    let bytes = res
        .bytes()
        .await
        .map_err(|e| format!("moderation answer unreadable: {}", e.without_url()))?;
    if !status.is_success() {
        let snippet: String = String::from_utf8_lossy(&bytes).chars().take(200).collect();
        return Err(format!("moderation provider answered {status}: {snippet}"));
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("moderation answer is not JSON: {e}"))
}

/// `text` in pieces of at most `max` characters.
fn chunks(text: &str, max: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        match rest.char_indices().nth(max) {
            Some((i, _)) => {
                out.push(&rest[..i]);
                rest = &rest[i..];
            }
            None => {
                out.push(rest);
                return out;
            }
        }
    }
}

#[cfg(test)]
mod tests;
