//! The application: state built once at start-up, the router, and serving with a graceful
//! shutdown. [`App::build`] binds the listener and returns before serving, so tests start the
//! real app on port 0 and read the port back (as zero-to-production's `spawn_app` does).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use arc_swap::ArcSwap;
use tokio::net::TcpListener;

use crate::auth::KeyCache;
use crate::canary::CanaryGate;
use crate::canary::gate::GateContext;
use crate::chat::Pipeline;
use crate::config::{Config, RateLimitBackend};
use crate::guard::Guard;
use crate::guard::moderation::Moderator;
pub use crate::http::AppState;
use crate::metering::{AlertMonitor, Metering};
use crate::metrics::Metrics;
use crate::ml::triage::select::ServedTriage;
use crate::prompts::PromptRegistry;
use crate::providers::{LocalModels, Providers};
use crate::ratelimit::RateLimiter;
use crate::review::schedule::ReviewScheduler;
use crate::store::Store;
use crate::store::writer::LogWriter;

/// A built application, bound to its address but not yet serving.
pub struct App {
    state: AppState,
    listener: TcpListener,
    addr: SocketAddr,
    alerts: AlertMonitor,
    review_schedule: ReviewScheduler,
    /// The prompt canary gate and the refresh of its label overrides.
    canary_gate: CanaryGate,
    /// The risk model's alias poll and quality job.
    risk_jobs: crate::ml::serve::RiskJobs,
    /// The recommender's daily refresh and recall@5 job, and its log task.
    recommend_jobs: (
        crate::periodic::Periodic,
        crate::ml::recommend::log::LogTask,
    ),
    /// The daily drift job over the logged predictions.
    drift_job: crate::periodic::Periodic,
    /// Built here, not in `run_until`: building it hashes the review login's stand-in password
    /// (argon2, ~0.1 s of CPU), which must not delay accepting connections once serving starts.
    router: axum::Router,
}

/// The HTTP client every upstream call goes through: pooled keep-alive connections with
/// TCP_NODELAY (without it a kept-alive connection stalls ~40 ms per request on delayed ACKs).
pub fn upstream_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5))
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(256)
        .user_agent(concat!("powerbirth-gateway/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the upstream HTTP client")
}

impl App {
    /// Connects the database (migrating it), loads every model, starts the log writer and binds
    /// `[server] listen`. Any failure here stops the start-up with its cause.
    pub async fn build(config: Config) -> anyhow::Result<App> {
        App::build_with(config, &LocalModels::default()).await
    }

    /// [`App::build`], taking local models already loaded from `local` (see [`LocalModels`]).
    pub async fn build_with(config: Config, local: &LocalModels) -> anyhow::Result<App> {
        let store = Store::connect(&config.database.url, config.database.max_connections)
            .await
            .context("opening the database")?;
        let limiter = match config.ratelimit.backend {
            RateLimitBackend::Memory => RateLimiter::memory(),
            RateLimitBackend::Redis => {
                let url = config
                    .redis
                    .as_ref()
                    .map(|r| r.url.as_str())
                    .unwrap_or_default();
                RateLimiter::redis(url)
                    .await
                    .context("connecting to Redis for rate limits")?
            }
        };
        let (mut pipeline, triage) = build_pipeline_and_triage(&config, &store, local).await?;
        let features = build_features(&config, &store, &mut pipeline).await?;
        let drift_job = start_drift(&config, &store, &mut pipeline)?;
        let alerts = AlertMonitor::spawn(&pipeline.metering, config.alerts.clone())?;
        let metrics = pipeline.metrics.clone();
        let review_schedule = ReviewScheduler::spawn(store.clone(), config.review.clone());
        let canary_gate = CanaryGate::spawn(GateContext {
            store: store.clone(),
            prompts: pipeline.prompts.clone(),
            overrides: pipeline.canary.clone(),
            config: config.canary.clone(),
            release: pipeline.release.clone(),
        });
        let (risk, risk_jobs) = start_risk(&config, &pipeline, triage.clone(), &store).await?;
        let (recommend, recommend_jobs) = crate::ml::recommend::service::start(
            &config.recommend,
            &store,
            &metrics,
            crate::ml::recommend::quality::feature_lookup(features.clone()),
        )
        .await?;
        let listener = crate::http::serve::bind(config.server.listen)
            .with_context(|| format!("cannot listen on {}", config.server.listen))?;
        let addr = listener.local_addr()?;
        let state = AppState {
            keys: Arc::new(KeyCache::new(
                store.clone(),
                config.auth.key_cache,
                config.auth.key_cache_entries,
                config.auth.failed_per_minute,
            )),
            limiter: Arc::new(limiter),
            pipeline,
            metrics,
            moderation_slots: Arc::default(),
            risk,
            triage,
            recommend,
            features,
            store,
            config: Arc::new(config),
        };
        let router = crate::http::router(state.clone());
        Ok(App {
            state,
            listener,
            addr,
            alerts,
            review_schedule,
            canary_gate,
            risk_jobs,
            recommend_jobs,
            drift_job,
            router,
        })
    }

    /// The bound address (the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves; then stops accepting, lets in-flight requests (streams
    /// included) finish, drains the log writer and closes the database.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let App {
            state,
            listener,
            addr,
            alerts,
            review_schedule,
            canary_gate,
            risk_jobs,
            recommend_jobs,
            drift_job,
            router,
        } = self;
        tracing::info!(%addr, "serving");
        // The grace period starts with the signal; it bounds the wait for in-flight requests and
        // the log drain together (under Kubernetes' 30 s).
        let grace = state.config.server.shutdown_grace;
        let signalled = Arc::new(tokio::sync::Notify::new());
        let signalled_at = Arc::new(std::sync::OnceLock::new());
        let (on_signal, on_signal_at) = (signalled.clone(), signalled_at.clone());
        // Each request carries its peer address: the login throttle and the failed-key limit
        // count per client address.
        let header_timeout = state.config.server.request_header_timeout;
        let serve = crate::http::serve::serve(listener, router, header_timeout, async move {
            shutdown.await;
            let _ = on_signal_at.set(std::time::Instant::now());
            on_signal.notify_one();
        });
        let deadline = async {
            signalled.notified().await;
            tokio::time::sleep(grace).await;
        };
        tokio::pin!(deadline);
        let cut = tokio::select! {
            served = serve => {
                served.context("serving HTTP")?;
                false
            }
            _ = &mut deadline => true,
        };
        let left = match cut {
            true => {
                tracing::warn!(
                    grace_s = grace.as_secs(),
                    "shutdown grace period over with requests still in flight; they are cut when the process exits, and their exchanges (client_closed) wait in the spool for the next start"
                );
                Duration::ZERO
            }
            false => signalled_at
                .get()
                .map_or(grace, |t| grace.saturating_sub(t.elapsed())),
        };
        tracing::info!("stopped accepting; draining the message log");
        let stopping = std::time::Instant::now();
        stop_jobs(
            alerts,
            review_schedule,
            canary_gate,
            risk_jobs,
            drift_job,
            recommend_jobs,
            (left / 2).max(Duration::from_secs(1)),
        )
        .await;
        let left = left.saturating_sub(stopping.elapsed());
        // At least a moment for the drain: the spool keeps whatever is left either way.
        state
            .pipeline
            .writer
            .shutdown(left.max(Duration::from_millis(500)))
            .await;
        state.store.close().await;
        tracing::info!("shut down cleanly");
        Ok(())
    }
}

/// Stops the background jobs within `within`: a check stuck in a slow query is aborted, so the
/// message log's drain keeps the rest of the grace period.
async fn stop_jobs(
    alerts: AlertMonitor,
    review_schedule: ReviewScheduler,
    canary_gate: CanaryGate,
    risk_jobs: crate::ml::serve::RiskJobs,
    drift_job: crate::periodic::Periodic,
    (refresh, recommend_log): (
        crate::periodic::Periodic,
        crate::ml::recommend::log::LogTask,
    ),
    within: Duration,
) {
    let jobs = async {
        alerts.shutdown().await;
        review_schedule.shutdown().await;
        canary_gate.shutdown().await;
        risk_jobs.shutdown().await;
        drift_job.shutdown().await;
        refresh.shutdown().await;
        recommend_log.shutdown(Duration::from_secs(2)).await;
    };
    if tokio::time::timeout(within, jobs).await.is_err() {
        tracing::warn!("background jobs still running at shutdown; aborted");
    }
}

/// The pipeline one turn goes through (prompts, guard, providers with every model loaded,
/// metering, the log writer), built once: the server's and `eval run`'s are the same thing.
/// Fails with the cause when a prompt, the guard data or a model cannot be loaded.
pub async fn build_pipeline(
    config: &Config,
    store: &Store,
    local: &LocalModels,
) -> anyhow::Result<Pipeline> {
    Ok(build_pipeline_and_triage(config, store, local).await?.0)
}

/// [`build_pipeline`], and the triage classifier its guard consults (for the server's reloads).
async fn build_pipeline_and_triage(
    config: &Config,
    store: &Store,
    local: &LocalModels,
) -> anyhow::Result<(Pipeline, Option<Arc<ServedTriage>>)> {
    let prompts = load_prompts(&config.prompts.dir).map_err(|problems| {
        anyhow::anyhow!(
            "the prompts have problems, not starting:\n{}",
            problems.join("\n")
        )
    })?;
    let triage = crate::ml::triage::select::second_opinion(&config.guard, &config.risk).await?;
    let guard = Guard::load_with_second_opinion(
        &config.guard.dir,
        triage
            .clone()
            .map(|t| t as Arc<dyn crate::guard::second_opinion::SecondOpinion>),
    )
    .map_err(|e| anyhow::anyhow!("the guard data has a problem, not starting: {e}"))?
    .with_allow_store(config.guard.allow_store);
    let http = upstream_client()?;
    let providers = Providers::build(&config.models, http.clone(), local).await?;
    let mut metrics = Metrics::new();
    let moderator = Moderator::new(http, config.moderation.clone());
    moderator.register(metrics.registry_mut());
    let redis = match &config.redis {
        Some(r) => Some(
            redis::Client::open(r.url.as_str())
                .context("invalid [redis] url")?
                .get_connection_manager_with_config(crate::ratelimit::redis_timeouts())
                .await
                .context("connecting to Redis for budgets")?,
        ),
        None => None,
    };
    let metering = Metering::new(
        store.clone(),
        &config.models,
        &providers,
        redis,
        metrics.registry_mut(),
    )?
    .with_per_user_budget(config.budgets.per_user_daily_usd);
    let writer = LogWriter::spawn(store.clone(), &config.writer)?;
    let canary = crate::canary::gate::load_overrides(store)
        .await
        .context("reading the prompt canary overrides")?;
    Ok((
        Pipeline {
            providers: Arc::new(providers),
            prompts: Arc::new(ArcSwap::from_pointee(prompts)),
            metering,
            guard,
            moderator,
            writer,
            metrics: Arc::new(metrics),
            canary: Arc::new(ArcSwap::from_pointee(canary)),
            release: config.server.release.as_str().into(),
        },
        triage,
    ))
}

/// The risk service with the registry's `production` model loaded (when there is one: without
/// it the server starts and `/v1/risk/obstetric` answers 503 until one is promoted), and its
/// background jobs.
async fn start_risk(
    config: &Config,
    pipeline: &Pipeline,
    triage: Option<Arc<ServedTriage>>,
    store: &Store,
) -> anyhow::Result<(
    Arc<crate::ml::serve::RiskService>,
    crate::ml::serve::RiskJobs,
)> {
    let risk = Arc::new(
        crate::ml::serve::RiskService::new(
            &config.risk,
            pipeline.guard.clone(),
            pipeline.writer.clone(),
            pipeline.metrics.risk.clone(),
        )
        .context("opening the model registry for [risk]")?
        .with_release(pipeline.release.clone()),
    );
    risk.reload_logged().await;
    let jobs = crate::ml::serve::RiskJobs::spawn(risk.clone(), triage, store.clone(), &config.risk);
    Ok((risk, jobs))
}

/// The feature store, with the online copy in Redis when `[redis] url` is set; its metrics go
/// into the pipeline's registry (still unshared here).
async fn build_features(
    config: &Config,
    store: &Store,
    pipeline: &mut Pipeline,
) -> anyhow::Result<crate::features::FeatureStore> {
    let metrics = Arc::get_mut(&mut pipeline.metrics)
        .context("the metrics registry is shared before the feature store registers")?;
    crate::features::FeatureStore::connect(
        store.clone(),
        config.redis.as_ref().map(|r| r.url.as_str()),
        config.features.clone(),
        metrics.registry_mut(),
    )
    .await
}

/// The drift gauges, registered in the pipeline's registry (still unshared here), and the daily
/// drift job that sets them (`[drift]`).
fn start_drift(
    config: &Config,
    store: &Store,
    pipeline: &mut Pipeline,
) -> anyhow::Result<crate::periodic::Periodic> {
    let metrics = Arc::get_mut(&mut pipeline.metrics)
        .context("the metrics registry is shared before the drift gauges register")?;
    let gauges = crate::ml::drift::metrics::DriftMetrics::register(metrics.registry_mut());
    let job =
        crate::ml::drift::job::DriftJob::new(&config.drift, &config.risk, store.clone(), gauges)
            .context("opening the model registry for the drift job")?;
    Ok(job.spawn())
}

/// Loads the prompt set under `dir`. A missing directory is an empty set (a gateway without
/// prompts is valid); any problem in an existing one rejects the whole set, as `path:line: message`.
pub fn load_prompts(dir: &std::path::Path) -> Result<PromptRegistry, Vec<String>> {
    if !dir.exists() {
        tracing::warn!(dir = %dir.display(), "no prompts directory; serving without versioned prompts");
        return Ok(PromptRegistry::empty());
    }
    PromptRegistry::load(dir).map_err(|p| p.iter().map(ToString::to_string).collect())
}

impl AppState {
    /// Re-reads the prompts directory and swaps the new set in atomically; a set with any problem
    /// is rejected whole and the old one keeps serving. Returns how many prompts are now served.
    pub fn reload_prompts(&self) -> Result<usize, Vec<String>> {
        let fresh = load_prompts(&self.config.prompts.dir)?;
        let count = fresh.prompts().count();
        self.pipeline.prompts.store(Arc::new(fresh));
        tracing::info!(count, "prompts reloaded");
        Ok(count)
    }
}

/// On SIGHUP, reloads the prompts (and logs the outcome), until the process ends.
pub fn reload_prompts_on_sighup(state: AppState) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            if let Err(problems) = state.reload_prompts() {
                tracing::error!(problems = ?problems, "SIGHUP prompt reload rejected; the previous prompts keep serving");
            }
        }
    });
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received");
}
