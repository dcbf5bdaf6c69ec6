//! Every integration test in one binary (zero2prod's layout): one link of candle, sqlx, axum,
//! reqwest and tera instead of one per file, which dominated `make test` on two cores. Each module
//! is one area as its users meet it; shared helpers live in `common`.
//!
//! Run one area with `cargo test --test it api_chat::` (or any test-name filter).

mod common;

mod alert_rules;
mod api_chat;
mod api_guard;
mod api_guard_coverage;
mod api_metering;
mod api_moderation;
mod api_prompts;
mod architecture;
mod cli;
mod conversation_scope;
mod deploy;
mod eval_reports;
mod eval_run;
mod eval_score;
mod evalsets;
mod faults;
mod faults_edge;
mod features;
mod guard_bypass;
mod ingest;
mod keys_and_limits;
mod local_model;
mod metering;
mod ml_data;
mod ml_registry;
mod ml_registry_mlflow;
mod ml_train;
mod monitor_drift;
mod monitor_risk;
mod online_eval;
mod recommend;
mod review_browser;
mod review_export;
mod review_promote;
mod review_sample;
mod review_web;
mod risk;
mod shutdown;
mod stats;
mod store;
mod triage;
mod urgent;
