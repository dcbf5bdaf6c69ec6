//! Nurse and admin accounts for the review pages: e-mail and argon2id password, and login
//! sessions (a random token in a cookie, only its SHA-256 stored). The growing delay after
//! failed logins is `web::throttle`.
//!
//! Passwords use argon2id with the `argon2` crate's default parameters (RFC 9106's second
//! recommended option as OWASP lists it: m = 19 MiB, t = 2, p = 1), stored as PHC strings, so
//! stronger parameters later only affect new hashes. These accounts never open the API, and API
//! keys never open the review pages.

use std::time::Duration;

use argon2::password_hash::SaltString;
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::hashing::HashPool;
use crate::core::{new_id, now_ms};
use crate::store::Store;
use crate::store::reviews::DbError;
use crate::store::users::Users;
pub use crate::store::users::{Reviewer, ReviewerRole, Session};

/// An e-mail address as accounts store it: trimmed and lowercased, so `Ana@X.org ` and
/// `ana@x.org` are one account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Normalises and checks the shape (one `@`, something on each side, no spaces).
    pub fn parse(raw: &str) -> Result<Email, AccountError> {
        let email = raw.trim().to_lowercase();
        let ok = email.len() <= 254
            && !email.chars().any(char::is_whitespace)
            && matches!(email.split_once('@'), Some((local, domain))
                if !local.is_empty() && !domain.is_empty() && !domain.contains('@'));
        if ok {
            Ok(Email(email))
        } else {
            Err(AccountError::BadEmail)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password: at least [`Password::MIN_CHARS`] characters. Never logged, never stored.
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 12;
    /// Longer inputs are refused so a login cannot be made to hash megabytes.
    pub const MAX_BYTES: usize = 1024;

    pub fn parse(raw: &str) -> Result<Password, AccountError> {
        if raw.chars().count() < Self::MIN_CHARS {
            return Err(AccountError::WeakPassword);
        }
        if raw.len() > Self::MAX_BYTES {
            return Err(AccountError::LongPassword);
        }
        Ok(Password(raw.to_string()))
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

/// What account operations report plainly (to the CLI or the login page).
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("invalid e-mail address: expected something like name@example.org")]
    BadEmail,
    #[error("the password must have at least 12 characters")]
    WeakPassword,
    #[error("the password is longer than 1024 bytes")]
    LongPassword,
    #[error("an account with this e-mail already exists")]
    EmailTaken,
    #[error("hashing the password failed: {0}")]
    Hash(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// 32 random bytes, hex: session tokens, CSRF tokens, salts' source.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The stored form of a session token.
fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Equality that takes the same time wherever the first difference is (CSRF tokens).
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hash_password(password: &str) -> Result<String, AccountError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| AccountError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string `hash` (argon2's comparison is constant-time).
fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Accounts and sessions: password hashing and checking over the user repository.
#[derive(Clone, Debug)]
pub struct Accounts {
    users: Users,
    /// The threads argon2 runs on (off the async runtime: a hash takes tens of ms of CPU).
    hashing: HashPool,
    /// A hash checked against when the e-mail is unknown, so an unknown account costs the same
    /// time as a wrong password and timing does not reveal which accounts exist.
    dummy_hash: std::sync::Arc<String>,
}

impl Accounts {
    /// Prepares the queries (and hashes the stand-in password used for unknown e-mails).
    pub fn new(store: Store) -> Result<Accounts, AccountError> {
        let dummy_hash = hash_password(&random_token())?;
        Ok(Accounts {
            users: store.users(),
            hashing: HashPool::per_core(),
            dummy_hash: std::sync::Arc::new(dummy_hash),
        })
    }

    /// As [`Accounts::new`] without the stand-in hash (only if hashing is broken).
    pub fn without_timing_guard(store: Store) -> Accounts {
        Accounts {
            users: store.users(),
            hashing: HashPool::per_core(),
            dummy_hash: std::sync::Arc::new(String::new()),
        }
    }

    /// The PHC hash of a new password, computed on the hashing threads.
    async fn hash(&self, password: Password) -> Result<String, AccountError> {
        self.hashing
            .run(move || hash_password(&password.0))
            .await
            .unwrap_or_else(|| {
                Err(AccountError::Hash(
                    "the password-hashing thread stopped".into(),
                ))
            })
    }

    /// Creates an account; a second account with the same e-mail is refused.
    pub async fn add(
        &self,
        email: &Email,
        role: ReviewerRole,
        password: Password,
    ) -> Result<Reviewer, AccountError> {
        let hash = self.hash(password).await?;
        let reviewer = Reviewer {
            id: new_id(),
            email: email.as_str().to_string(),
            role,
            created_at: now_ms(),
        };
        if self.users.insert(&reviewer, &hash).await? {
            Ok(reviewer)
        } else {
            Err(AccountError::EmailTaken)
        }
    }

    /// The enabled account with these credentials, or `None` (the same answer for an unknown
    /// e-mail and a wrong password). Records the failure or resets the count on success.
    pub async fn verify(
        &self,
        email: &Email,
        password: &str,
    ) -> Result<Option<Reviewer>, AccountError> {
        let (reviewer, hash) = match self.users.credentials(email.as_str()).await? {
            Some((reviewer, hash)) => (Some(reviewer), hash),
            None => (None, self.dummy_hash.as_ref().clone()),
        };
        let password = password.to_string();
        let matches = self
            .hashing
            .run(move || verify_password(&password, &hash))
            .await
            .ok_or_else(|| AccountError::Hash("the password-hashing thread stopped".into()))?;
        let Some(reviewer) = reviewer else {
            return Ok(None);
        };
        if matches {
            self.users.login_succeeded(&reviewer.id).await?;
            Ok(Some(reviewer))
        } else {
            self.users.login_failed(&reviewer.id, now_ms()).await?;
            Ok(None)
        }
    }

    /// Starts a session; returns the token for the cookie (never stored) and the session.
    pub async fn open_session(
        &self,
        reviewer: Reviewer,
        lasts: Duration,
    ) -> Result<(String, Session), AccountError> {
        let token = random_token();
        let now = now_ms();
        let session = Session {
            reviewer,
            csrf_token: random_token(),
            expires_at: now.saturating_add(i64::try_from(lasts.as_millis()).unwrap_or(i64::MAX)),
        };
        self.users
            .open_session(&token_hash(&token), &session, now)
            .await?;
        Ok((token, session))
    }

    /// The live session of a cookie token (not expired, account not disabled).
    pub async fn session(&self, token: &str) -> Result<Option<Session>, AccountError> {
        Ok(self.users.session(&token_hash(token), now_ms()).await?)
    }

    /// Disables the account (its sessions end, its logins are refused); `false` when no enabled
    /// account has this e-mail.
    pub async fn disable(&self, email: &Email) -> Result<bool, AccountError> {
        Ok(self.users.disable(email.as_str(), now_ms()).await?)
    }

    /// Sets a new password and ends the account's sessions; `false` when no such account.
    pub async fn reset_password(
        &self,
        email: &Email,
        password: Password,
    ) -> Result<bool, AccountError> {
        let hash = self.hash(password).await?;
        Ok(self.users.set_password(email.as_str(), &hash).await?)
    }

    /// Ends a session (logout): its token opens nothing any more.
    pub async fn close_session(&self, token: &str) -> Result<(), AccountError> {
        Ok(self.users.close_session(&token_hash(token)).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lowercased() {
        assert_eq!(
            Email::parse("  Ana.Souza@Maternidade.ORG \n")
                .unwrap()
                .as_str(),
            "ana.souza@maternidade.org"
        );
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in ["", "ana", "@x.org", "ana@", "a b@x.org", "a@b@c"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_password_needs_twelve_characters() {
        assert!(matches!(
            Password::parse("short-pass1"),
            Err(AccountError::WeakPassword)
        ));
        assert!(Password::parse("doze-letras!").is_ok());
        assert!(
            Password::parse("çãõéíúáâêôàü").is_ok(),
            "characters, not bytes"
        );
    }

    #[test]
    fn a_password_never_shows_in_debug_output() {
        let p = Password::parse("correct horse battery").unwrap();
        assert!(!format!("{p:?}").contains("horse"));
    }

    #[test]
    fn hashes_are_argon2id_and_verify_only_the_right_password() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterY", &hash));
        assert!(!verify_password("anything", "not a phc string"));
    }

    #[test]
    fn csrf_comparison_needs_equal_strings() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
    }
}
