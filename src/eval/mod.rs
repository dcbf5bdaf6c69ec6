//! The evaluation service: eval sets that pin what each prompt must do, run in-process through the
//! same [`crate::chat::Pipeline`] as the gateway, scored with exact metrics, and compared with a
//! baseline run so a prompt change shows its effect before it merges. See `docs/evals.md`.

pub mod assertions;
pub mod changed;
pub mod compare;
pub mod config;
pub mod judge;
pub mod metrics;
pub mod publish;
pub mod report;
pub mod results;
pub mod runner;
pub mod set;
pub mod store;

pub use config::{EvalConfig, RawEvalConfig};
