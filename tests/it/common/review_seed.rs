//! Seeding for the review data tests (sampling, export, promotion): conversations written through
//! the store's own writer function, nurse accounts and reviews through the review module's own
//! functions.

use powerbirth::review::accounts::{Accounts, Email, Password, ReviewerRole};
use powerbirth::review::items::{ReviewInput, submit};
use powerbirth::store::Store;
use powerbirth::store::messages::{Exchange, MessageRecord, MessageStatus};

pub const HOUR: i64 = 3_600_000;
pub const DAY: i64 = 24 * HOUR;

/// A conversation to store.
pub struct Conv<'a> {
    pub id: String,
    pub at: i64,
    pub prompt_ref: Option<&'a str>,
    pub urgent: bool,
    /// (role, content), in order; a `(role, "")` assistant turn is stored as a failed call.
    pub turns: Vec<(&'a str, &'a str)>,
    /// The API key it came through (`eval` for `eval run`'s own turns).
    pub key_id: &'a str,
}

impl<'a> Conv<'a> {
    /// One question and its answer at `at`.
    pub fn new(id: impl Into<String>, at: i64) -> Conv<'a> {
        Conv {
            id: id.into(),
            at,
            prompt_ref: None,
            urgent: false,
            key_id: "key-test",
            turns: vec![
                ("user", "Posso tomar café na gravidez?"),
                (
                    "assistant",
                    "Pode, com moderação: até duas xícaras por dia.",
                ),
            ],
        }
    }

    pub fn prompt(mut self, prompt_ref: &'a str) -> Self {
        self.prompt_ref = Some(prompt_ref);
        self
    }

    pub fn key(mut self, key_id: &'a str) -> Self {
        self.key_id = key_id;
        self
    }

    pub fn urgent(mut self) -> Self {
        self.urgent = true;
        self
    }

    pub fn turns(mut self, turns: Vec<(&'a str, &'a str)>) -> Self {
        self.turns = turns;
        self
    }
}

/// Stores conversations with the gateway's own batch writer.
pub async fn store_conversations(store: &Store, convs: &[Conv<'_>]) {
    let exchanges: Vec<Exchange> = convs
        .iter()
        .map(|c| {
            let messages = c
                .turns
                .iter()
                .enumerate()
                .map(|(k, (role, content))| {
                    let mut m = MessageRecord::new(
                        &c.id,
                        &format!("req-{}-{k}", c.id),
                        role.parse().unwrap(),
                        content.to_string(),
                        c.at + k as i64,
                    );
                    m.prompt_ref = c.prompt_ref.map(str::to_string);
                    if *role == "user" {
                        m.urgent = c.urgent;
                    } else {
                        m.model = Some("gpt-echo".into());
                        if content.is_empty() {
                            m.status = MessageStatus::Error;
                        }
                    }
                    m
                })
                .collect();
            Exchange {
                conversation_id: c.id.clone(),
                key_id: c.key_id.into(),
                at: c.at,
                messages,
            }
        })
        .collect();
    store.write_exchanges(&exchanges).await.unwrap();
}

/// A nurse account; returns its id.
pub async fn nurse(store: &Store, email: &str) -> String {
    let accounts = Accounts::new(store.clone()).unwrap();
    accounts
        .add(
            &Email::parse(email).unwrap(),
            ReviewerRole::Nurse,
            Password::parse("correct horse battery staple").unwrap(),
        )
        .await
        .unwrap()
        .id
}

/// A review as the form would submit it.
pub fn rating(
    clinical_accuracy: i64,
    should_escalate: bool,
    comment: Option<&str>,
    corrected_answer: Option<&str>,
) -> ReviewInput {
    ReviewInput {
        clinical_accuracy,
        tone: 4,
        safety_problem: if should_escalate {
            "missed_red_flag"
        } else {
            "none"
        },
        should_escalate,
        comment: comment.map(str::to_string),
        corrected_answer: corrected_answer.map(str::to_string),
    }
}

/// Submits a review of `item_id` by `reviewer_id`; returns the review id.
pub async fn review(
    store: &Store,
    item_id: &str,
    reviewer_id: &str,
    input: &ReviewInput,
) -> String {
    submit(store, item_id, reviewer_id, input).await.unwrap()
}

/// A fresh SQLite store in `dir`.
pub async fn sqlite_store(dir: &tempfile::TempDir) -> (Store, String) {
    let url = format!("sqlite://{}", dir.path().join("review.db").display());
    (Store::connect(&url, 4).await.unwrap(), url)
}

/// A fresh PostgreSQL store and its database (dropped with it), or `None` outside CI without a
/// server.
pub async fn postgres_store() -> Option<(Store, crate::common::PgDatabase)> {
    let base = crate::common::pg_url()?;
    let db = crate::common::fresh_pg_database(&base).await;
    Some((Store::connect(&db.url, 4).await.unwrap(), db))
}
