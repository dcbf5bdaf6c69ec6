//! One recommendation request, end to end below the handler: her features (the feature store,
//! through a [`Lookup`]), the ranking in memory, the log record queued (never awaited).

use std::sync::Arc;

use serde::Serialize;

use super::log::RecommendationLog;
use super::quality::Lookup;
use super::{Item, Lang, ModelRef, Query, Recommender};
use crate::store::recommendations::RecommendationRow;

/// What the route serves from: the recommender, the log, the feature lookup.
#[derive(Clone)]
pub struct Service {
    pub recommender: Arc<Recommender>,
    pub log: RecommendationLog,
    pub lookup: Lookup,
}

/// The answer of `GET /v1/recommendations`.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    pub items: Vec<Item>,
    pub model: ModelRef,
}

impl Service {
    /// The k best articles for `patient_id` (a pseudonym). An unknown patient, or a feature
    /// store that cannot answer, is a cold start, not an error.
    pub async fn recommend(
        &self,
        patient_id: &str,
        k: usize,
        accept_language: Option<Lang>,
    ) -> Answer {
        let features = (self.lookup)(patient_id.to_string()).await;
        let items = self.recommender.recommend(Query {
            features: features.as_ref(),
            fallback_language: accept_language,
            k,
        });
        let model = self.recommender.model();
        self.log.record(RecommendationRow {
            id: format!("rec_{}", uuid::Uuid::now_v7().simple()),
            created_at: crate::core::clock::now_ms(),
            patient_pseudonym: patient_id.to_string(),
            item_ids: items.iter().map(|i| i.id.clone()).collect(),
            read_before: features.map(|f| f.read_content_ids).unwrap_or_default(),
            model_version: model.version.clone(),
        });
        Answer { items, model }
    }
}

/// Loads the recommender (on a blocking thread: a cold embedding cache runs MiniLM), starts
/// its log task and its daily refresh and recall@5 job (now, then every `refresh_interval`).
pub async fn start(
    cfg: &super::RecommendConfig,
    store: &crate::store::Store,
    metrics: &Arc<crate::metrics::Metrics>,
    lookup: Lookup,
) -> anyhow::Result<(Service, (crate::periodic::Periodic, super::log::LogTask))> {
    let load_cfg = cfg.clone();
    let recommender = tokio::task::spawn_blocking(move || Recommender::load(&load_cfg))
        .await?
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let recommender = Arc::new(recommender);
    let (log, log_task) = RecommendationLog::spawn(store.clone(), cfg.log_queue);
    let job = {
        let (recommender, store, lookup, metrics) = (
            recommender.clone(),
            store.clone(),
            lookup.clone(),
            metrics.clone(),
        );
        crate::periodic::Periodic::spawn(cfg.refresh_interval, move || {
            let (recommender, store, lookup, metrics) = (
                recommender.clone(),
                store.clone(),
                lookup.clone(),
                metrics.clone(),
            );
            async move {
                let now = crate::core::clock::now_ms();
                super::quality::run_once(&recommender, &store, &lookup, &metrics, now).await;
            }
        })
    };
    let service = Service {
        recommender,
        log,
        lookup,
    };
    Ok((service, (job, log_task)))
}

/// The first language of an `Accept-Language` header the catalogue has, by quality (RFC 9110
/// §12.5.4; ties keep the header's order).
pub fn from_accept_language(header: &str) -> Option<Lang> {
    let mut tags: Vec<(f64, usize, &str)> = header
        .split(',')
        .enumerate()
        .filter_map(|(i, part)| {
            let mut it = part.split(';');
            let tag = it.next()?.trim();
            let q = it
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f64>().ok())
                .unwrap_or(1.0);
            (q > 0.0 && !tag.is_empty()).then_some((q, i, tag))
        })
        .collect();
    tags.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    tags.into_iter().find_map(|(_, _, tag)| Lang::parse(tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_preferred_language_the_catalogue_has() {
        assert_eq!(from_accept_language("en-US,en;q=0.9"), Some(Lang::En));
        assert_eq!(
            from_accept_language("fr, en;q=0.5, pt-BR;q=0.8"),
            Some(Lang::PtBr)
        );
        assert_eq!(from_accept_language("de, fr;q=0.5"), None);
        assert_eq!(from_accept_language("pt;q=0, en;q=0.1"), Some(Lang::En));
    }
}
