//! The content recommender behind `GET /v1/recommendations`: the catalogue ([`catalogue`]),
//! MiniLM article vectors cached on disk ([`vectors`]), the ranking ([`rank`]), the
//! recommendation log ([`log`]), the daily refresh and recall@5 job ([`quality`]), the offline
//! evaluation ([`eval`]) and the synthetic engagement generator ([`synth`]).
//!
//! [`Recommender`] holds the ranker in memory behind an `ArcSwap`: a request reads it without a
//! lock or a file; the daily refresh swaps in new popularity. Its configuration is `[recommend]`.

pub mod catalogue;
pub mod eval;
pub mod log;
pub mod quality;
pub mod rank;
pub mod service;
pub mod synth;
pub mod vectors;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use catalogue::{Catalogue, Lang};
pub use rank::{Item, Query, Ranker};

/// The model's name in answers and logs.
pub const MODEL_NAME: &str = "minilm-profile-blend";
/// Bumped when the ranking formula changes (part of the version).
const FORMULA: &str = "rank-v1";

/// `[recommend]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRecommendConfig {
    content_dir: PathBuf,
    cache_dir: Option<PathBuf>,
    model_dir: PathBuf,
    refresh_hours: f64,
    log_queue: usize,
}

impl Default for RawRecommendConfig {
    fn default() -> Self {
        RawRecommendConfig {
            content_dir: PathBuf::from("content"),
            cache_dir: None,
            model_dir: PathBuf::from(crate::embed::DEFAULT_MODEL_DIR),
            refresh_hours: 24.0,
            log_queue: 10_000,
        }
    }
}

/// `[recommend]`, checked.
#[derive(Debug, Clone)]
pub struct RecommendConfig {
    /// The catalogue (`topics.yaml`, `articles/*.md`).
    pub content_dir: PathBuf,
    /// Article vectors by content hash (default: `.cache/recommend` beside the content folder).
    pub cache_dir: PathBuf,
    /// The MiniLM folder, read only when an article has no cached vector.
    pub model_dir: PathBuf,
    /// How often popularity is recomputed and recall@5 measured.
    pub refresh_interval: Duration,
    /// Recommendation records queued for the database at most.
    pub log_queue: usize,
}

impl RawRecommendConfig {
    /// Checks the section; `resolve` turns a path as written into the one to read.
    pub fn validate(self, resolve: &dyn Fn(PathBuf) -> PathBuf) -> Result<RecommendConfig, String> {
        if !(self.refresh_hours > 0.0 && self.refresh_hours <= 24.0 * 7.0) {
            return Err("[recommend] refresh_hours must be above 0 and at most 168".into());
        }
        if self.log_queue == 0 {
            return Err("[recommend] log_queue must be positive".into());
        }
        let content_dir = resolve(self.content_dir);
        let cache_dir = match self.cache_dir {
            Some(dir) => resolve(dir),
            None => content_dir
                .parent()
                .unwrap_or(Path::new("."))
                .join(".cache/recommend"),
        };
        Ok(RecommendConfig {
            content_dir,
            cache_dir,
            model_dir: resolve(self.model_dir),
            refresh_interval: Duration::from_secs_f64(self.refresh_hours * 3600.0),
            log_queue: self.log_queue,
        })
    }
}

impl RecommendConfig {
    /// The defaults with the catalogue and the model at these paths (the cache beside the
    /// catalogue): tools and tests.
    pub fn default_at(content_dir: &Path, model_dir: &Path) -> RecommendConfig {
        RawRecommendConfig {
            content_dir: content_dir.to_path_buf(),
            model_dir: model_dir.to_path_buf(),
            ..RawRecommendConfig::default()
        }
        .validate(&|p| p)
        .expect("the defaults are valid")
    }
}

impl Default for RecommendConfig {
    fn default() -> Self {
        RawRecommendConfig::default()
            .validate(&|p| p)
            .expect("the defaults are valid")
    }
}

/// The model that answered, as in every answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelRef {
    pub name: &'static str,
    pub version: String,
}

/// The recommender in memory.
pub struct Recommender {
    ranker: ArcSwap<Ranker>,
    version: String,
    /// When popularity was last recomputed (Unix ms; 0 = never).
    refreshed_at_ms: AtomicI64,
}

impl Recommender {
    /// Loads the catalogue and its vectors (embedding only articles missing from the cache).
    /// CPU-bound and possibly slow on a cold cache: call it from a blocking thread.
    pub fn load(cfg: &RecommendConfig) -> Result<Recommender, String> {
        let catalogue = Catalogue::load(&cfg.content_dir).map_err(|problems| {
            let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
            format!("the content catalogue has problems:\n{}", list.join("\n"))
        })?;
        if catalogue.is_empty() {
            tracing::warn!(dir = %cfg.content_dir.display(), "no content catalogue; recommendations will be empty");
        }
        let vectors = vectors::article_vectors(&catalogue, &cfg.cache_dir, &cfg.model_dir)
            .map_err(|e| format!("article embeddings: {e}"))?;
        let popularity = vec![0.0; catalogue.len()];
        let today = crate::core::calendar::day_of(crate::core::clock::now_ms());
        Ok(Recommender::new(Ranker {
            catalogue,
            vectors,
            popularity,
            today,
        }))
    }

    /// A recommender over a ranker already built (benchmarks, tests).
    pub fn new(ranker: Ranker) -> Recommender {
        let mut h = Sha256::new();
        h.update(FORMULA);
        for a in ranker.catalogue.articles() {
            h.update(&a.content_hash);
        }
        let version = hex::encode(h.finalize())[..12].to_string();
        Recommender {
            ranker: ArcSwap::from_pointee(ranker),
            version,
            refreshed_at_ms: AtomicI64::new(0),
        }
    }

    /// Ranks for one query (microseconds; no I/O).
    pub fn recommend(&self, q: Query<'_>) -> Vec<Item> {
        self.ranker.load().recommend(q)
    }

    /// The ranker now (offline evaluation reads it whole).
    pub fn ranker(&self) -> Arc<Ranker> {
        self.ranker.load_full()
    }

    pub fn model(&self) -> ModelRef {
        ModelRef {
            name: MODEL_NAME,
            version: self.version.clone(),
        }
    }

    pub fn articles(&self) -> usize {
        self.ranker.load().catalogue.len()
    }

    /// Swaps in popularity computed from `reads` (content ids, one per read) and moves
    /// freshness to today.
    pub fn refresh<'a>(&self, reads: impl Iterator<Item = &'a str>, now_ms: i64) {
        let current = self.ranker.load_full();
        let mut next = Ranker::clone(&current);
        next.popularity = eval::popularity(&next, reads);
        next.today = crate::core::calendar::day_of(now_ms);
        self.ranker.store(Arc::new(next));
        self.refreshed_at_ms.store(now_ms, Ordering::Relaxed);
    }

    /// How long ago the last refresh finished; `None` before the first.
    pub fn refresh_age(&self, now_ms: i64) -> Option<Duration> {
        let at = self.refreshed_at_ms.load(Ordering::Relaxed);
        (at > 0).then(|| Duration::from_millis(u64::try_from(now_ms - at).unwrap_or(0)))
    }
}

impl std::fmt::Debug for Recommender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recommender")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}
