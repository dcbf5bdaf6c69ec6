//! Identifiers of rows and requests.

/// A new time-ordered id (UUID v7) for rows and requests.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
