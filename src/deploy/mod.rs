//! Deploy: what happens around a rollout, not the rollout itself (Argo Rollouts does that, from
//! the chart in `deploy/k8s/`). The post-deploy check ([`check`]: synthetic risk requests and
//! guarded chat turns against a live gateway, with a JUnit report), the release history
//! ([`releases`]: `deploy/releases.json`, the last ten rollouts) and the guided rollback
//! ([`rollback`]: `kubectl argo rollouts undo`, wait, re-check, record). See `docs/deploy.md`.

pub mod cases;
pub mod check;
pub mod junit;
pub mod probe;
pub mod releases;
pub mod rollback;

pub use check::{CheckOptions, CheckReport, Outcome};
pub use releases::{CheckResult, Release, ReleaseKind, Releases};
pub use rollback::{RollbackOptions, RollbackPlan, Target};
