//! The user repository: review accounts (nurses and admins) and their login sessions
//! (`users`, `user_sessions`). Passwords and session tokens arrive here already hashed; hashing,
//! checking and the timing guard are `review::accounts`.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::Store;
pub use super::reviews::DbError;

/// The account and session tables, reached through [`Store::users`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Users {
    store: Store,
}

impl Store {
    /// The review accounts and their sessions.
    pub fn users(&self) -> Users {
        Users {
            store: self.clone(),
        }
    }
}

/// What a review account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewerRole {
    /// Reviews conversations.
    Nurse,
    /// Also promotes reviewed conversations into eval sets.
    Admin,
}

impl ReviewerRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewerRole::Nurse => "nurse",
            ReviewerRole::Admin => "admin",
        }
    }
}

impl std::str::FromStr for ReviewerRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "nurse" => Ok(ReviewerRole::Nurse),
            "admin" => Ok(ReviewerRole::Admin),
            other => Err(format!("unknown role {other:?} (expected nurse or admin)")),
        }
    }
}

/// A review account (never its password hash).
#[derive(Debug, Clone, PartialEq)]
pub struct Reviewer {
    pub id: String,
    pub email: String,
    pub role: ReviewerRole,
    pub created_at: i64,
}

/// A live login: who, and the CSRF token every form of this session must carry.
#[derive(Debug, Clone)]
pub struct Session {
    pub reviewer: Reviewer,
    pub csrf_token: String,
    pub expires_at: i64,
}

fn reviewer_from_row(row: &AnyRow) -> Result<Reviewer, DbError> {
    let role: String = row.try_get("role")?;
    Ok(Reviewer {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        role: role
            .parse()
            .map_err(|e: String| sqlx::Error::Decode(e.into()))?,
        created_at: row.try_get("created_at")?,
    })
}

impl Users {
    /// Stores a new account; `false` (and nothing stored) when the e-mail has one already.
    pub async fn insert(&self, reviewer: &Reviewer, password_hash: &str) -> Result<bool, DbError> {
        let result = sqlx::query(
            "INSERT INTO users (id, email, role, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&reviewer.id)
        .bind(&reviewer.email)
        .bind(reviewer.role.as_str())
        .bind(password_hash)
        .bind(reviewer.created_at)
        .execute(self.store.pool())
        .await;
        match result {
            Ok(_) => Ok(true),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The enabled account of `email` with its password hash (PHC string).
    pub async fn credentials(&self, email: &str) -> Result<Option<(Reviewer, String)>, DbError> {
        let row = sqlx::query(
            "SELECT id, email, role, created_at, password_hash FROM users \
             WHERE email = $1 AND disabled_at IS NULL",
        )
        .bind(email)
        .fetch_optional(self.store.pool())
        .await?;
        row.map(|r| Ok((reviewer_from_row(&r)?, r.try_get("password_hash")?)))
            .transpose()
    }

    /// A successful login clears the count of failed ones.
    pub async fn login_succeeded(&self, user_id: &str) -> Result<(), DbError> {
        sqlx::query("UPDATE users SET failed_logins = 0 WHERE id = $1")
            .bind(user_id)
            .execute(self.store.pool())
            .await?;
        Ok(())
    }

    /// Counts a failed login at `at` (epoch ms).
    pub async fn login_failed(&self, user_id: &str, at: i64) -> Result<(), DbError> {
        sqlx::query(
            "UPDATE users SET failed_logins = failed_logins + 1, last_failed_at = $2 WHERE id = $1",
        )
        .bind(user_id)
        .bind(at)
        .execute(self.store.pool())
        .await?;
        Ok(())
    }

    /// Stores a session under the hash of its token, created at `now`, and sweeps every
    /// expired session (of anyone: this is where sessions are created anyway).
    pub async fn open_session(
        &self,
        token_hash: &str,
        session: &Session,
        now: i64,
    ) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO user_sessions (token_hash, user_id, csrf_token, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(&session.reviewer.id)
        .bind(&session.csrf_token)
        .bind(now)
        .bind(session.expires_at)
        .execute(self.store.pool())
        .await?;
        sqlx::query("DELETE FROM user_sessions WHERE expires_at < $1")
            .bind(now)
            .execute(self.store.pool())
            .await?;
        Ok(())
    }

    /// The session of a token hash, live at `now` (not expired, account not disabled).
    pub async fn session(&self, token_hash: &str, now: i64) -> Result<Option<Session>, DbError> {
        let row = sqlx::query(
            "SELECT u.id, u.email, u.role, u.created_at, s.csrf_token, s.expires_at \
             FROM user_sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled_at IS NULL",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(self.store.pool())
        .await?;
        row.map(|r| {
            Ok(Session {
                reviewer: reviewer_from_row(&r)?,
                csrf_token: r.try_get("csrf_token")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    /// Deletes the session of a token hash.
    pub async fn close_session(&self, token_hash: &str) -> Result<(), DbError> {
        sqlx::query("DELETE FROM user_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(self.store.pool())
            .await?;
        Ok(())
    }

    /// Disables the account of `email` at `at` and ends its sessions; `false` when no enabled
    /// account has this e-mail.
    pub async fn disable(&self, email: &str, at: i64) -> Result<bool, DbError> {
        let mut tx = self.store.pool().begin().await?;
        let updated = sqlx::query(
            "UPDATE users SET disabled_at = $2 WHERE email = $1 AND disabled_at IS NULL",
        )
        .bind(email)
        .bind(at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        end_sessions(&mut tx, email).await?;
        tx.commit().await?;
        Ok(updated > 0)
    }

    /// Replaces the password hash of `email`'s account, clears its failed logins and ends its
    /// sessions (whoever knew the old password is logged out); `false` when no such account.
    pub async fn set_password(&self, email: &str, password_hash: &str) -> Result<bool, DbError> {
        let mut tx = self.store.pool().begin().await?;
        let updated =
            sqlx::query("UPDATE users SET password_hash = $2, failed_logins = 0 WHERE email = $1")
                .bind(email)
                .bind(password_hash)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        end_sessions(&mut tx, email).await?;
        tx.commit().await?;
        Ok(updated > 0)
    }
}

/// Ends every session of `email`'s account, inside the caller's transaction (an account
/// disabled or given a new password logs out whoever is logged in).
async fn end_sessions(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    email: &str,
) -> Result<(), DbError> {
    sqlx::query(
        "DELETE FROM user_sessions WHERE user_id IN (SELECT id FROM users WHERE email = $1)",
    )
    .bind(email)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
