//! The alert webhook: one JSON POST per alert opened or cleared, retried with exponential
//! backoff on connection errors and non-2xx answers. A webhook that stays down is logged; it
//! never stops the monitor.

use std::time::Duration;

use serde::Serialize;

use crate::core::Secret;
use crate::store::ledger::alerts::CostAlert;

/// First wait between attempts; doubled each time, at most [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// What is POSTed: the alert's fields plus what happened to it.
#[derive(Debug, Serialize)]
pub struct WebhookPayload<'a> {
    /// Always `cost_per_message_rise`.
    pub kind: &'static str,
    /// `opened` or `cleared`.
    pub event: &'static str,
    /// Mean cost per message of the last 24 h against the 24 h before.
    pub window_hours: u32,
    #[serde(flatten)]
    pub alert: &'a CostAlert,
}

/// Where alerts are POSTed.
pub(crate) struct Webhook {
    url: Secret,
    client: reqwest::Client,
    retries: u32,
}

impl Webhook {
    pub(crate) fn new(url: Secret, timeout: Duration, retries: u32) -> anyhow::Result<Webhook> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .tcp_nodelay(true)
            .user_agent(concat!("powerbirth-gateway/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Webhook {
            url,
            client,
            retries,
        })
    }

    /// POSTs `payload`, retrying; the last error when every attempt failed.
    pub(crate) async fn send(&self, payload: &WebhookPayload<'_>) -> Result<(), String> {
        let mut delay = FIRST_BACKOFF;
        let mut last = String::new();
        for attempt in 0..=self.retries {
            if attempt > 0 {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_BACKOFF);
            }
            match self
                .client
                .post(self.url.expose())
                .json(payload)
                .send()
                .await
            {
                Ok(res) if res.status().is_success() => return Ok(()),
                Ok(res) => last = format!("HTTP {}", res.status()),
                // Without the URL: it may carry a token.
                Err(e) => last = e.without_url().to_string(),
            }
            tracing::warn!(attempt, error = %last, "alert webhook failed");
        }
        Err(last)
    }
}
