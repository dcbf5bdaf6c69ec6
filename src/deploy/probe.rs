//! `powerbirth deploy probe --url URL`: the image's HEALTHCHECK. The runtime image has no shell
//! and no curl, so the binary asks its own `/readyz` and exits 0 on a 2xx.

use std::time::Duration;

/// Whether `url` answers 2xx within `timeout`; the error says what it got instead.
pub async fn probe(url: &str, timeout: Duration) -> Result<(), String> {
    let http = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| e.to_string())?;
    let res = http
        .get(url)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if res.status().is_success() {
        Ok(())
    } else {
        Err(format!("{url}: HTTP {}", res.status()))
    }
}
