//! The leaf of the crate: small value types and helpers that every other module may use and that
//! import nothing of the crate themselves — money ([`UsdCost`]), the clock, ids, the UTC calendar,
//! [`Secret`], keyed pseudonyms, and the progress reporter of long commands ([`Progress`]). Keeping them here is what lets `store`, `metering` and `config` depend on them
//! without depending on one another.

pub mod calendar;
pub mod clock;
pub mod ids;
pub mod money;
pub mod net;
pub mod progress;
pub mod pseudonym;
pub mod secret;

pub use clock::now_ms;
pub use ids::{ConversationId, new_id};
pub use money::{CostError, UsdCost};
pub use progress::{Outcome, Progress};
pub use pseudonym::keyed_pseudonym;
pub use secret::Secret;
