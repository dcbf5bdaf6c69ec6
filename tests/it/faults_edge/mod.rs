//! Abuse at the edge (issue 14, items 4–8), against the real app on real sockets: login floods,
//! slow clients, floods of bad keys, moderation amplification, and the smaller items (bootstrap
//! key, `/metrics` token). Figures from these tests are in docs/operations.md, "Faults".

mod bad_keys;
mod login_flood;
mod moderation;
mod slow_clients;
mod smaller;

use std::collections::HashMap;

/// Environment overrides for `Spawn::env`.
fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
