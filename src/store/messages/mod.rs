//! Conversations and their messages: the records the gateway logs for every exchange, written in
//! batches by [`super::writer`], and the reads that tests, reviews and reports need.

use std::collections::HashMap;

use sqlx::Row;

mod kinds;

pub use kinds::{MessageRole, MessageStatus, TokensSource};

use super::{Backend, DbError, Store};
use crate::core::{UsdCost, new_id};

/// One exchange to log: the conversation it belongs to and its new messages (the user's turn and
/// the assistant's answer, or the error that ended it). Serialised as JSON in the spool.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Exchange {
    pub conversation_id: String,
    pub key_id: String,
    pub at: i64,
    pub messages: Vec<MessageRecord>,
}

/// One stored message.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MessageRecord {
    pub id: String,
    pub conversation_id: String,
    pub request_id: String,
    pub role: MessageRole,
    pub content: String,
    pub model: Option<String>,
    pub status: MessageStatus,
    pub finish_reason: Option<String>,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub latency_ms: Option<i64>,
    pub upstream_ms: Option<i64>,
    pub error_code: Option<String>,
    pub created_at: i64,
    /// The prompt that produced it: `id@version;lang=…;persona=…`.
    pub prompt_ref: Option<String>,
    /// What the answer cost, exactly (assistant messages; `None` when nothing was measured).
    pub cost_usd: Option<UsdCost>,
    /// Of `prompt_tokens`, those served from the provider's prompt cache.
    pub cached_tokens: Option<i64>,
    /// Of `completion_tokens`, those spent on reasoning.
    pub reasoning_tokens: Option<i64>,
    /// Where the token counts come from.
    pub tokens_source: Option<TokensSource>,
    /// The guard's reading, as JSON (`categories`, `actions`, `matched` rule ids).
    pub guard: Option<String>,
    /// A red flag or self-harm message: its conversation is urgent.
    pub urgent: bool,
    /// The gateway release that served it (`[server] release`); absent in spools written before.
    #[serde(default)]
    pub release: Option<String>,
}

impl MessageRecord {
    /// A message with a fresh id and every optional field empty; callers set what they know.
    pub fn new(
        conversation_id: &str,
        request_id: &str,
        role: MessageRole,
        content: String,
        created_at: i64,
    ) -> Self {
        MessageRecord {
            id: new_id(),
            conversation_id: conversation_id.to_string(),
            request_id: request_id.to_string(),
            role,
            content,
            model: None,
            status: MessageStatus::Ok,
            finish_reason: None,
            prompt_tokens: None,
            completion_tokens: None,
            latency_ms: None,
            upstream_ms: None,
            error_code: None,
            created_at,
            prompt_ref: None,
            cost_usd: None,
            cached_tokens: None,
            reasoning_tokens: None,
            tokens_source: None,
            guard: None,
            urgent: false,
            release: None,
        }
    }
}

const MESSAGE_COLUMNS: [&str; 22] = [
    "id",
    "conversation_id",
    "request_id",
    "role",
    "content",
    "model",
    "status",
    "finish_reason",
    "prompt_tokens",
    "completion_tokens",
    "latency_ms",
    "upstream_ms",
    "error_code",
    "created_at",
    "prompt_ref",
    "cost_usd",
    "cached_tokens",
    "reasoning_tokens",
    "tokens_source",
    "guard",
    "urgent",
    "release",
];

/// Index of `cost_usd` in [`MESSAGE_COLUMNS`]: bound as a string, cast to NUMERIC on PostgreSQL.
const COST_COLUMN: usize = 15;

/// Rows per INSERT statement: 23 columns (with `key_id`) × 300 rows stays under SQLite's 32,766
/// bound variables.
const ROWS_PER_STATEMENT: usize = 300;

/// A placeholder for a decimal value. sqlx's `Any` driver has no decimal type, so decimals are
/// bound as their exact string: SQLite keeps it in a `TEXT` column (never a REAL), PostgreSQL
/// casts it to `NUMERIC`.
pub fn decimal_param(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Sqlite => format!("${n}"),
        Backend::Postgres => format!("CAST(${n} AS NUMERIC)"),
    }
}

/// A decimal column read as its exact text on both backends (PostgreSQL `NUMERIC` → `TEXT`).
pub fn decimal_column(backend: Backend, column: &str) -> String {
    match backend {
        Backend::Sqlite => column.to_string(),
        Backend::Postgres => format!("CAST({column} AS TEXT) AS {column}"),
    }
}

/// The SELECT list of a message on `backend`.
fn select_columns(backend: Backend) -> String {
    MESSAGE_COLUMNS
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i == COST_COLUMN {
                decimal_column(backend, c)
            } else {
                c.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// PostgreSQL refuses NUL bytes in text; a client that sends one must not block the writer.
fn clean(text: &str) -> String {
    if text.contains('\0') {
        text.replace('\0', "\u{FFFD}")
    } else {
        text.to_string()
    }
}

/// One cell of a bulk INSERT. SQLite gets anonymous `?`: sqlx looks every parameter up by name
/// (`sqlite3_bind_parameter_name`, a linear walk), so thousands of numbered parameters cost
/// O(n²) per statement — measured at a third of the gateway's CPU under load. PostgreSQL keeps
/// `$n`, with decimals cast to NUMERIC.
fn bulk_param(backend: Backend, decimal: bool, n: usize) -> String {
    match backend {
        Backend::Sqlite => "?".to_string(),
        Backend::Postgres if decimal => decimal_param(backend, n),
        Backend::Postgres => format!("${n}"),
    }
}

/// `rows` tuples of `cols` placeholders, numbered in order; `cell(column, n)` writes each one.
fn placeholders_with(rows: usize, cols: usize, cell: impl Fn(usize, usize) -> String) -> String {
    let mut sql = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..cols {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&cell(c, r * cols + c + 1));
        }
        sql.push(')');
    }
    sql
}

impl Store {
    /// Writes a batch of exchanges in one transaction: conversations upserted, messages inserted.
    pub async fn write_exchanges(&self, batch: &[Exchange]) -> Result<(), DbError> {
        let mut tx = self.pool().begin().await?;
        // One row per conversation: PostgreSQL refuses an upsert that touches a row twice.
        let mut conversations: HashMap<&str, (&str, i64, i64)> = HashMap::new();
        for ex in batch {
            let entry = conversations
                .entry(&ex.conversation_id)
                .or_insert((&ex.key_id, ex.at, ex.at));
            entry.1 = entry.1.min(ex.at);
            entry.2 = entry.2.max(ex.at);
        }
        let conversations: Vec<_> = conversations.into_iter().collect();
        let backend = self.backend();
        for chunk in conversations.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO conversations (id, key_id, created_at, updated_at) VALUES {} \
                 ON CONFLICT (id) DO UPDATE SET updated_at = excluded.updated_at",
                placeholders_with(chunk.len(), 4, |_, n| bulk_param(backend, false, n))
            );
            let mut q = sqlx::query(&sql);
            for (id, (key_id, first, last)) in chunk {
                q = q.bind(*id).bind(*key_id).bind(*first).bind(*last);
            }
            q.execute(&mut *tx).await?;
        }
        // Each message is filed under the key that sent the request (budgets and usage by key
        // read it), not under whichever key started the conversation.
        let messages: Vec<(&str, &MessageRecord)> = batch
            .iter()
            .flat_map(|e| e.messages.iter().map(|m| (e.key_id.as_str(), m)))
            .collect();
        let cols = MESSAGE_COLUMNS.len() + 1;
        for chunk in messages.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                // A replayed spool may hold exchanges already stored: inserting is idempotent.
                "INSERT INTO messages ({}, key_id) VALUES {} ON CONFLICT (id) DO NOTHING",
                MESSAGE_COLUMNS.join(", "),
                placeholders_with(chunk.len(), cols, |c, n| bulk_param(
                    backend,
                    c == COST_COLUMN,
                    n
                ))
            );
            let mut q = sqlx::query(&sql);
            for (key_id, m) in chunk {
                q = q
                    .bind(&m.id)
                    .bind(&m.conversation_id)
                    .bind(&m.request_id)
                    .bind(m.role.as_str())
                    .bind(clean(&m.content))
                    .bind(&m.model)
                    .bind(m.status.as_str())
                    .bind(&m.finish_reason)
                    .bind(m.prompt_tokens)
                    .bind(m.completion_tokens)
                    .bind(m.latency_ms)
                    .bind(m.upstream_ms)
                    .bind(&m.error_code)
                    .bind(m.created_at)
                    .bind(&m.prompt_ref)
                    .bind(m.cost_usd.map(|c| c.to_string()))
                    .bind(m.cached_tokens)
                    .bind(m.reasoning_tokens)
                    .bind(m.tokens_source.map(|s| s.as_str()))
                    .bind(&m.guard)
                    .bind(i64::from(m.urgent))
                    .bind(&m.release)
                    .bind(*key_id);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await
    }

    /// Every message of a conversation, oldest first.
    pub async fn conversation_messages(
        &self,
        conversation_id: &str,
    ) -> Result<Vec<MessageRecord>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM messages WHERE conversation_id = $1 ORDER BY created_at, id",
            select_columns(self.backend())
        ))
        .bind(conversation_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(message_from_row).collect()
    }

    /// Messages logged for one request id.
    pub async fn request_messages(&self, request_id: &str) -> Result<Vec<MessageRecord>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM messages WHERE request_id = $1 ORDER BY created_at, id",
            select_columns(self.backend())
        ))
        .bind(request_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(message_from_row).collect()
    }

    /// Number of stored messages with this role.
    pub async fn count_messages(&self, role: &str) -> Result<i64, DbError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE role = $1")
            .bind(role)
            .fetch_one(self.pool())
            .await
    }
}

/// A text column parsed into its enum, once, as the row is read.
fn parse_text<T: std::str::FromStr<Err = String>>(text: String) -> Result<T, DbError> {
    text.parse().map_err(|e: String| DbError::Decode(e.into()))
}

fn message_from_row(row: &sqlx::any::AnyRow) -> Result<MessageRecord, DbError> {
    Ok(MessageRecord {
        id: row.try_get("id")?,
        conversation_id: row.try_get("conversation_id")?,
        request_id: row.try_get("request_id")?,
        role: parse_text(row.try_get("role")?)?,
        content: row.try_get("content")?,
        model: row.try_get("model")?,
        status: parse_text(row.try_get("status")?)?,
        finish_reason: row.try_get("finish_reason")?,
        prompt_tokens: row.try_get("prompt_tokens")?,
        completion_tokens: row.try_get("completion_tokens")?,
        latency_ms: row.try_get("latency_ms")?,
        upstream_ms: row.try_get("upstream_ms")?,
        error_code: row.try_get("error_code")?,
        created_at: row.try_get("created_at")?,
        prompt_ref: row.try_get("prompt_ref")?,
        cost_usd: row
            .try_get::<Option<String>, _>("cost_usd")?
            .map(|c| c.parse::<UsdCost>())
            .transpose()
            .map_err(|e| DbError::Decode(e.into()))?,
        cached_tokens: row.try_get("cached_tokens")?,
        reasoning_tokens: row.try_get("reasoning_tokens")?,
        tokens_source: row
            .try_get::<Option<String>, _>("tokens_source")?
            .map(|s| s.parse::<TokensSource>())
            .transpose()
            .map_err(|e| DbError::Decode(e.into()))?,
        guard: row.try_get("guard")?,
        urgent: row.try_get::<i64, _>("urgent")? != 0,
        release: row.try_get("release")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_every_cell_in_order() {
        assert_eq!(
            placeholders_with(2, 3, |_, n| format!("${n}")),
            "($1, $2, $3), ($4, $5, $6)"
        );
    }

    #[test]
    fn bulk_inserts_use_anonymous_parameters_on_sqlite() {
        let sql = placeholders_with(2, 2, |c, n| bulk_param(Backend::Sqlite, c == 1, n));
        assert_eq!(sql, "(?, ?), (?, ?)");
        let sql = placeholders_with(1, 2, |c, n| bulk_param(Backend::Postgres, c == 1, n));
        assert_eq!(sql, "($1, CAST($2 AS NUMERIC))");
    }

    #[test]
    fn decimals_are_cast_to_numeric_on_postgres_only() {
        let sql = placeholders_with(1, 3, |c, n| {
            if c == 1 {
                decimal_param(Backend::Postgres, n)
            } else {
                format!("${n}")
            }
        });
        assert_eq!(sql, "($1, CAST($2 AS NUMERIC), $3)");
        assert_eq!(MESSAGE_COLUMNS[COST_COLUMN], "cost_usd");
        assert_eq!(decimal_param(Backend::Sqlite, 2), "$2");
        assert_eq!(
            decimal_column(Backend::Postgres, "cost_usd"),
            "CAST(cost_usd AS TEXT) AS cost_usd"
        );
        assert!(select_columns(Backend::Sqlite).ends_with(
            "prompt_ref, cost_usd, cached_tokens, reasoning_tokens, tokens_source, guard, urgent, release"
        ));
    }

    #[test]
    fn nul_bytes_are_replaced_not_rejected() {
        assert_eq!(clean("a\0b"), "a\u{FFFD}b");
    }
}
