//! Where events come from: the [`EventSource`] trait (a batch of entries, acknowledge, dead
//! letter) and its Redis Streams implementation with a consumer group. At-least-once: an entry
//! is acknowledged (`XACK`) only after its batch is durably written; until then it stays in the
//! group's pending list, and a restarted consumer reads its own pending entries first, while
//! another consumer claims a dead one's after `claim_timeout` (`XAUTOCLAIM`). A Kafka source
//! would implement the same trait (docs/ml.md, "Ingestion").

use std::future::Future;
use std::time::{Duration, Instant};

use redis::Value;
use redis::aio::MultiplexedConnection;

use super::config::IngestConfig;
use super::stream_id::StreamId;

/// One entry: its id and its `data` field (`None` when the entry has none).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: String,
    pub data: Option<String>,
}

/// Entries read together.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub entries: Vec<Entry>,
    /// Read before (own pending entries after a restart, or claimed from another consumer):
    /// the sink checks for rows already written.
    pub redelivered: bool,
}

/// A source failure (the batch is not acknowledged; it will be read again).
#[derive(Debug, thiserror::Error)]
#[error("event source: {0}")]
pub struct SourceError(pub String);

impl From<redis::RedisError> for SourceError {
    fn from(e: redis::RedisError) -> Self {
        SourceError(e.to_string())
    }
}

/// A consumer-group event source.
pub trait EventSource: Send {
    /// The next batch of at most `max` entries: first entries read before and not acknowledged,
    /// then new ones. `None` when there is nothing (after waiting up to the configured block
    /// time when `wait`).
    fn next_batch(
        &mut self,
        max: usize,
        wait: bool,
    ) -> impl Future<Output = Result<Option<Batch>, SourceError>> + Send;

    /// Acknowledges entries: they are durably handled.
    fn ack(&mut self, ids: &[String]) -> impl Future<Output = Result<(), SourceError>> + Send;

    /// Records an entry that cannot be ingested, with the reason (it is acknowledged with its
    /// batch).
    fn dead_letter(
        &mut self,
        entry: &Entry,
        reason: &str,
    ) -> impl Future<Output = Result<(), SourceError>> + Send;
}

/// Which entries the next read asks for.
#[derive(Debug, Clone, PartialEq)]
enum Phase {
    /// This consumer's own pending entries after the given id.
    Own(String),
    /// New entries, with a claim pass when the last one is older than half the claim timeout.
    New,
}

/// Redis Streams with a consumer group.
pub struct RedisSource {
    conn: MultiplexedConnection,
    stream: String,
    group: String,
    consumer: String,
    dead_stream: String,
    dead_maxlen: usize,
    claim_timeout: Duration,
    block: Duration,
    phase: Phase,
    /// Cursor of the running `XAUTOCLAIM` scan (`0-0` when none is running).
    claim_cursor: String,
    last_claim: Option<Instant>,
}

impl RedisSource {
    /// Connects and creates the group (from the stream's start) if it does not exist.
    pub async fn connect(url: &str, config: &IngestConfig) -> Result<RedisSource, SourceError> {
        let client = redis::Client::open(url)?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        let created: Result<Value, redis::RedisError> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&config.stream)
            .arg(&config.group)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await;
        match created {
            Ok(_) => {}
            Err(e) if e.code() == Some("BUSYGROUP") => {}
            Err(e) => return Err(e.into()),
        }
        Ok(RedisSource {
            conn,
            stream: config.stream.clone(),
            group: config.group.clone(),
            consumer: config.consumer.clone(),
            dead_stream: config.dead_stream(),
            dead_maxlen: config.dead_letter_maxlen,
            claim_timeout: config.claim_timeout,
            block: config.block,
            phase: Phase::Own("0".into()),
            claim_cursor: "0-0".into(),
            last_claim: None,
        })
    }

    async fn read_group(
        &mut self,
        from: &str,
        max: usize,
        block: Option<Duration>,
    ) -> Result<Vec<Entry>, SourceError> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(&self.group)
            .arg(&self.consumer)
            .arg("COUNT")
            .arg(max);
        if let Some(b) = block {
            cmd.arg("BLOCK").arg(b.as_millis() as u64);
        }
        cmd.arg("STREAMS").arg(&self.stream).arg(from);
        let reply: Value = cmd.query_async(&mut self.conn).await?;
        // [[stream, [entry…]]] or nil.
        let entries = match reply {
            Value::Array(mut streams) if !streams.is_empty() => match streams.swap_remove(0) {
                Value::Array(mut pair) if pair.len() == 2 => pair.swap_remove(1),
                other => return Err(unexpected("XREADGROUP", &other)),
            },
            Value::Map(mut streams) if !streams.is_empty() => streams.swap_remove(0).1,
            _ => return Ok(Vec::new()),
        };
        parse_entries(entries)
    }

    /// One `XAUTOCLAIM` step; entries idle longer than the claim timeout become ours.
    async fn claim(&mut self, max: usize) -> Result<Vec<Entry>, SourceError> {
        let reply: Value = redis::cmd("XAUTOCLAIM")
            .arg(&self.stream)
            .arg(&self.group)
            .arg(&self.consumer)
            .arg(self.claim_timeout.as_millis() as u64)
            .arg(&self.claim_cursor)
            .arg("COUNT")
            .arg(max)
            .query_async(&mut self.conn)
            .await?;
        let Value::Array(mut parts) = reply else {
            return Err(unexpected("XAUTOCLAIM", &reply));
        };
        if parts.len() < 2 {
            return Err(SourceError("XAUTOCLAIM: short reply".into()));
        }
        let entries = parts.swap_remove(1);
        self.claim_cursor = text(&parts[0]).unwrap_or_else(|| "0-0".into());
        // Entries deleted from the stream while pending come back without fields: nothing to
        // ingest, but they must leave the pending list.
        let entries = parse_entries(entries)?;
        Ok(entries)
    }
}

impl EventSource for RedisSource {
    async fn next_batch(&mut self, max: usize, wait: bool) -> Result<Option<Batch>, SourceError> {
        if let Phase::Own(from) = self.phase.clone() {
            let entries = self.read_group(&from, max, None).await?;
            match entries.last() {
                Some(last) => {
                    self.phase = Phase::Own(last.id.clone());
                    return Ok(Some(Batch {
                        entries,
                        redelivered: true,
                    }));
                }
                None => self.phase = Phase::New,
            }
        }
        let claim_due = self.claim_cursor != "0-0"
            || self
                .last_claim
                .is_none_or(|t| t.elapsed() >= self.claim_timeout / 2);
        if claim_due {
            if self.claim_cursor == "0-0" {
                self.last_claim = Some(Instant::now());
            }
            // Scan the whole pending list (a step may find nothing idle yet have more to scan).
            loop {
                let entries = self.claim(max).await?;
                if !entries.is_empty() {
                    return Ok(Some(Batch {
                        entries,
                        redelivered: true,
                    }));
                }
                if self.claim_cursor == "0-0" {
                    break;
                }
            }
        }
        let block = wait.then_some(self.block);
        let entries = self.read_group(">", max, block).await?;
        Ok((!entries.is_empty()).then_some(Batch {
            entries,
            redelivered: false,
        }))
    }

    async fn ack(&mut self, ids: &[String]) -> Result<(), SourceError> {
        for chunk in ids.chunks(10_000) {
            let _: Value = redis::cmd("XACK")
                .arg(&self.stream)
                .arg(&self.group)
                .arg(chunk)
                .query_async(&mut self.conn)
                .await?;
        }
        Ok(())
    }

    async fn dead_letter(&mut self, entry: &Entry, reason: &str) -> Result<(), SourceError> {
        let _: Value = redis::cmd("XADD")
            .arg(&self.dead_stream)
            .arg("MAXLEN")
            .arg("~")
            .arg(self.dead_maxlen)
            .arg("*")
            .arg("reason")
            .arg(reason)
            .arg("source_id")
            .arg(&entry.id)
            .arg("data")
            .arg(entry.data.as_deref().unwrap_or(""))
            .query_async(&mut self.conn)
            .await?;
        Ok(())
    }
}

fn unexpected(command: &str, v: &Value) -> SourceError {
    SourceError(format!("{command}: unexpected reply {v:?}"))
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// `[[id, [field, value, …] | nil], …]` to entries (only the `data` field is read).
fn parse_entries(v: Value) -> Result<Vec<Entry>, SourceError> {
    let Value::Array(items) = v else {
        return match v {
            Value::Nil => Ok(Vec::new()),
            other => Err(unexpected("entries", &other)),
        };
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Value::Array(pair) = item else {
            return Err(unexpected("entry", &item));
        };
        let id = pair
            .first()
            .and_then(text)
            .filter(|id| StreamId::parse(id).is_some())
            .ok_or_else(|| SourceError("an entry without an id".into()))?;
        let data = match pair.get(1) {
            Some(Value::Array(fields)) => fields
                .chunks(2)
                .find(|kv| text(&kv[0]).as_deref() == Some("data"))
                .and_then(|kv| kv.get(1).and_then(text)),
            _ => None,
        };
        out.push(Entry { id, data });
    }
    Ok(out)
}
