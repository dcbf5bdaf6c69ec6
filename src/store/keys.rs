//! API keys: creation (the plaintext is returned once and only its SHA-256 is stored), lookup by
//! hash, listing and revocation.
//!
//! SHA-256 rather than a password hash: keys are 192 random bits, so a slow hash adds nothing
//! against guessing and would put milliseconds on every request.

use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::messages::{decimal_column, decimal_param};
use super::{Backend, DbError, Store};
use crate::core::{UsdCost, new_id, now_ms};

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Chat, models, prompts: everything a frontend needs.
    Client,
    /// Also the admin routes (usage, alerts, reload, exports).
    Admin,
    /// A machine writer of the feature store (`PUT /v1/features/…`, ingestion): feature routes
    /// only, none of the admin routes.
    Ingest,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Admin => "admin",
            Role::Ingest => "ingest",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "client" => Ok(Role::Client),
            "admin" => Ok(Role::Admin),
            "ingest" => Ok(Role::Ingest),
            other => Err(format!(
                "unknown role {other:?} (expected client, admin or ingest)"
            )),
        }
    }
}

/// The SHA-256 of a key, hex-encoded: the only form in which a key is stored or compared.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ApiKeyHash(String);

impl ApiKeyHash {
    /// Hashes a presented key.
    pub fn of(key: &str) -> Self {
        ApiKeyHash(hex::encode(Sha256::digest(key.as_bytes())))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A stored key (never its plaintext).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub role: Role,
    /// Requests per minute; `None` means the configured default.
    pub rpm: Option<u32>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    /// Spending limit per UTC day; `None` means no limit.
    pub daily_budget_usd: Option<UsdCost>,
}

/// Errors a key operation can meet that the CLI reports plainly.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("a key named {0:?} already exists (revoke it first or pick another name)")]
    NameTaken(String),
    #[error("no active key named {0:?}")]
    NotFound(String),
    #[error("invalid key name {0:?}: use 1-64 letters, digits, '-', '_' or '.'")]
    BadName(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

const KEY_PREFIX: &str = "pb-";

/// A new random key: `pb-` and 48 hex digits (192 bits).
fn generate_key() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    format!("{KEY_PREFIX}{}", hex::encode(bytes))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The SELECT list of a key (the budget read as exact text on both backends).
fn columns(backend: Backend) -> String {
    format!(
        "id, name, key_prefix, role, rpm, created_at, revoked_at, {}",
        decimal_column(backend, "daily_budget_usd")
    )
}

fn from_row(row: &sqlx::any::AnyRow) -> Result<ApiKey, DbError> {
    let role: String = row.try_get("role")?;
    let rpm: Option<i64> = row.try_get("rpm")?;
    let budget: Option<String> = row.try_get("daily_budget_usd")?;
    Ok(ApiKey {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        prefix: row.try_get("key_prefix")?,
        role: role
            .parse()
            .map_err(|e: String| sqlx::Error::Decode(e.into()))?,
        rpm: rpm.map(|r| r.clamp(1, u32::MAX as i64) as u32),
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
        daily_budget_usd: budget
            .map(|b| b.parse::<UsdCost>())
            .transpose()
            .map_err(|e| sqlx::Error::Decode(e.into()))?,
    })
}

impl Store {
    /// Creates a key; returns its record and the plaintext key, which is never seen again.
    pub async fn create_key(
        &self,
        name: &str,
        role: Role,
        rpm: Option<u32>,
    ) -> Result<(ApiKey, String), KeyError> {
        self.create_key_with_budget(name, role, rpm, None).await
    }

    /// As [`Store::create_key`], with a daily budget in USD (`None`: unlimited).
    pub async fn create_key_with_budget(
        &self,
        name: &str,
        role: Role,
        rpm: Option<u32>,
        daily_budget_usd: Option<UsdCost>,
    ) -> Result<(ApiKey, String), KeyError> {
        if !valid_name(name) {
            return Err(KeyError::BadName(name.to_string()));
        }
        let plaintext = generate_key();
        let key = ApiKey {
            id: new_id(),
            name: name.to_string(),
            prefix: plaintext[..KEY_PREFIX.len() + 6].to_string(),
            role,
            rpm,
            created_at: now_ms(),
            revoked_at: None,
            daily_budget_usd,
        };
        let sql = format!(
            "INSERT INTO api_keys (id, name, key_hash, key_prefix, role, rpm, created_at, daily_budget_usd) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, {})",
            decimal_param(self.backend(), 8)
        );
        let result = sqlx::query(&sql)
            .bind(&key.id)
            .bind(&key.name)
            .bind(ApiKeyHash::of(&plaintext).as_str())
            .bind(&key.prefix)
            .bind(role.as_str())
            .bind(rpm.map(i64::from))
            .bind(key.created_at)
            .bind(daily_budget_usd.map(|b| b.to_string()))
            .execute(self.pool())
            .await;
        match result {
            Ok(_) => Ok((key, plaintext)),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(KeyError::NameTaken(name.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The active (not revoked) key with this hash.
    pub async fn find_active_key(&self, hash: &ApiKeyHash) -> Result<Option<ApiKey>, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
            columns(self.backend())
        ))
        .bind(hash.as_str())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Every key, newest first, revoked ones included.
    pub async fn list_keys(&self) -> Result<Vec<ApiKey>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM api_keys ORDER BY created_at DESC, name",
            columns(self.backend())
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Revokes the active key named `name`.
    pub async fn revoke_key(&self, name: &str) -> Result<(), KeyError> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL",
        )
        .bind(now_ms())
        .bind(name)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(KeyError::NotFound(name.to_string()));
        }
        Ok(())
    }

    /// Sets (or with `None` removes) the daily budget of the active key named `name`. A running
    /// server applies it within `[auth] key_cache_ms`.
    pub async fn set_key_budget(
        &self,
        name: &str,
        daily_budget_usd: Option<UsdCost>,
    ) -> Result<(), KeyError> {
        let sql = format!(
            "UPDATE api_keys SET daily_budget_usd = {} WHERE name = $2 AND revoked_at IS NULL",
            decimal_param(self.backend(), 1)
        );
        let done = sqlx::query(&sql)
            .bind(daily_budget_usd.map(|b| b.to_string()))
            .bind(name)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(KeyError::NotFound(name.to_string()));
        }
        Ok(())
    }

    /// How many keys exist at all (revoked included): zero means a first start.
    pub async fn count_keys(&self) -> Result<i64, DbError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM api_keys")
            .fetch_one(self.pool())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_long_random_and_prefixed() {
        let a = generate_key();
        let b = generate_key();
        assert!(a.starts_with("pb-") && a.len() == 51);
        assert_ne!(a, b);
    }

    #[test]
    fn a_key_hash_is_the_hex_sha256_of_the_key() {
        assert_eq!(
            ApiKeyHash::of("abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn key_names_are_plain_identifiers() {
        assert!(valid_name("frontend-web_1.0"));
        assert!(!valid_name(""));
        assert!(!valid_name("a b"));
        assert!(!valid_name(&"x".repeat(65)));
    }
}
