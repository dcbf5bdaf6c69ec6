//! PowerBirth gateway: an OpenAI-compatible LLM gateway for a maternal-health assistant.
//!
//! One request: auth → rate limit → provider (with fallback) → response, with every exchange
//! logged through a batching writer. See `docs/architecture.md` for the map of modules.

pub mod app;
pub mod auth;
pub mod canary;
pub mod chat;
pub mod cli;
pub mod config;
pub mod core;
pub mod deploy;
pub mod embed;
pub mod error;
pub mod eval;
pub mod features;
pub mod guard;
pub mod http;
pub mod ingest;
pub mod metering;
pub mod metrics;
pub mod ml;
pub mod periodic;
pub mod prompts;
pub mod providers;
pub mod ratelimit;
pub mod review;
pub mod stats;
pub mod store;
pub mod threads;
pub mod wire;
