//! The message log's durable spool: an append-only file on local disk, one per running process,
//! that every exchange is written to before anything else. [`super::writer`] fsyncs it in small
//! batches and drains it into the database; after a crash, an outage or a SIGKILL the next start
//! replays it. So the database can be away for as long as the disk has room, and a killed process
//! loses at most the records written since the last fsync.
//!
//! Format: records back to back, each `[len: u32 LE][crc32 of payload: u32 LE][payload]`, the
//! payload a [`Spooled`] record as JSON: an [`Exchange`] exactly as before predictions existed
//! (so older spools replay unchanged), or `{"prediction": …}` for a risk prediction. A torn or corrupt tail (the process died mid-write) fails its
//! length or checksum and is cut off on replay. The file is emptied whenever everything in it is
//! in the database (replay is idempotent anyway: messages are inserted `ON CONFLICT DO NOTHING`).
//!
//! Files are named `messages-TAG-N.spool`, TAG naming the database they belong to (a checksum of
//! its URL without password), and held with an exclusive lock (`flock`): a second process on the
//! same directory takes the next N, and a start-up merges into its own file every spool of the
//! same database that no live process holds (a replica that died before draining). A spool of
//! another database is left alone.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context;

use super::messages::Exchange;
use super::predictions::PredictionRecord;

/// One record of the spool. Untagged: an exchange is written as it always was (older spool files
/// replay unchanged), a prediction as `{"prediction": {…}}`, which an exchange can never match
/// (its fields are required). Add new kinds as new variants with their own wrapping key.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Spooled {
    Exchange(Exchange),
    Prediction { prediction: PredictionRecord },
}

/// Bytes of a record's header: length and checksum.
const HEADER: usize = 8;
/// A record longer than this is corrupt (a request body is bounded far below it).
const MAX_RECORD: usize = 64 * 1024 * 1024;

/// Offsets are logical: bytes ever appended by this process (plus what was replayed), so they
/// only grow; `base` is the logical offset of the file's byte 0 (moves when the file is emptied).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Offsets {
    pub base: u64,
    /// Appended (in the page cache, not yet necessarily on disk).
    pub written: u64,
    /// On disk (fsync'd).
    pub synced: u64,
    /// In the database.
    pub drained: u64,
    /// Records appended and drained, for the queue-depth gauge.
    pub records_written: u64,
    pub records_drained: u64,
}

struct Inner {
    file: File,
    at: Offsets,
}

/// The open spool of this process. Cheap to clone; appends are synchronous (one `write`).
#[derive(Clone)]
pub struct Spool {
    inner: Arc<Mutex<Inner>>,
    /// A second handle on the same file for fsync and reads, so neither holds the lock.
    reader: Arc<File>,
    path: Arc<PathBuf>,
}

impl Spool {
    /// Opens (creating `dir`) the first spool file no other process holds, cuts off a torn tail,
    /// and merges into it every other spool left by a process that is gone. What was in them is
    /// counted as written and synced but not drained: the writer stores it first.
    pub fn open(dir: &Path, database: &str) -> anyhow::Result<Spool> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the spool directory {}", dir.display()))?;
        let prefix = format!(
            "messages-{:08x}-",
            crc32fast::hash(super::redact_url(database).as_bytes())
        );
        let (mut file, path) = lock_free_slot(dir, &prefix)?;
        let (valid, mut records) = scan(&mut file, &path)?;
        let mut len = valid;
        for orphan in orphans(dir, &prefix, &path)? {
            let (bytes, n) = take_orphan(&orphan)?;
            file.write_all(&bytes)
                .with_context(|| format!("merging {} into {}", orphan.display(), path.display()))?;
            len += bytes.len() as u64;
            records += n;
            std::fs::remove_file(&orphan).ok();
        }
        file.sync_data().context("syncing the spool")?;
        if len > 0 {
            tracing::info!(path = %path.display(), records, bytes = len, "replaying the message spool into the database");
        }
        let reader = file.try_clone().context("cloning the spool handle")?;
        let at = Offsets {
            written: len,
            synced: len,
            records_written: records,
            ..Offsets::default()
        };
        Ok(Spool {
            inner: Arc::new(Mutex::new(Inner { file, at })),
            reader: Arc::new(reader),
            path: Arc::new(path),
        })
    }

    /// Appends one exchange. Returns its end offset; it is durable once [`Spool::sync`] has passed
    /// it. An error (disk full) is returned for the caller to log: the record is not kept.
    pub fn append(&self, exchange: &Exchange) -> std::io::Result<u64> {
        self.append_frame(encode(exchange)?)
    }

    /// Appends one prediction, like [`Spool::append`].
    pub fn append_prediction(&self, prediction: &PredictionRecord) -> std::io::Result<u64> {
        #[derive(serde::Serialize)]
        struct Wrapped<'a> {
            prediction: &'a PredictionRecord,
        }
        self.append_frame(encode(&Wrapped { prediction })?)
    }

    fn append_frame(&self, frame: Vec<u8>) -> std::io::Result<u64> {
        let mut inner = self.lock();
        inner.file.write_all(&frame)?;
        inner.at.written += frame.len() as u64;
        inner.at.records_written += 1;
        Ok(inner.at.written)
    }

    /// The offsets now.
    pub fn offsets(&self) -> Offsets {
        self.lock().at
    }

    /// Forces what was appended so far to disk; returns the offset now durable. Blocking: call it
    /// from a blocking thread.
    pub fn sync(&self) -> std::io::Result<u64> {
        let target = self.lock().at.written;
        self.reader.sync_data()?;
        let mut inner = self.lock();
        inner.at.synced = inner.at.synced.max(target);
        Ok(inner.at.synced)
    }

    /// Reads durable records from `drained` on: at most `max` records. Returns them with the
    /// offset after the last one. Blocking (file reads).
    pub fn read_batch(&self, max: usize) -> std::io::Result<(Vec<Spooled>, u64, u64)> {
        let at = self.offsets();
        let mut pos = at.drained;
        let mut out = Vec::new();
        while out.len() < max && pos < at.synced {
            let mut header = [0u8; HEADER];
            self.reader.read_exact_at(&mut header, pos - at.base)?;
            let (len, crc) = split_header(&header);
            let mut payload = vec![0u8; len];
            self.reader
                .read_exact_at(&mut payload, pos - at.base + HEADER as u64)?;
            pos += (HEADER + len) as u64;
            match decode(&payload, crc) {
                Some(ex) => out.push(ex),
                // Checked on open and written by us since: only a disk fault gets here.
                None => {
                    tracing::error!(path = %self.path.display(), "a spool record is corrupt; skipped")
                }
            }
        }
        let n = out.len() as u64;
        Ok((out, pos, n))
    }

    /// Marks everything up to `offset` (`records` records) as stored in the database; when that is
    /// everything, empties the file.
    pub fn drained(&self, offset: u64, records: u64) -> std::io::Result<()> {
        let mut inner = self.lock();
        inner.at.drained = inner.at.drained.max(offset);
        inner.at.records_drained += records;
        if inner.at.drained == inner.at.written && inner.at.written > inner.at.base {
            inner.file.set_len(0)?;
            inner.at.base = inner.at.written;
        }
        Ok(())
    }

    /// Bytes in the file now (written, not yet emptied), for the spool-size gauge.
    pub fn size_bytes(&self) -> u64 {
        let at = self.offsets();
        at.written - at.base
    }

    /// Records appended and not yet in the database, for the queue-depth gauge.
    pub fn depth(&self) -> u64 {
        let at = self.offsets();
        at.records_written - at.records_drained
    }

    /// The file, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the offsets half-updated in a way that
        // loses data (the file is the truth), so a poisoned lock is taken over.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One record: header and JSON payload.
fn encode<T: serde::Serialize>(record: &T) -> std::io::Result<Vec<u8>> {
    let payload = serde_json::to_vec(record)?;
    let mut frame = Vec::with_capacity(HEADER + payload.len());
    frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    frame.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    frame.extend_from_slice(&payload);
    Ok(frame)
}

fn split_header(h: &[u8; HEADER]) -> (usize, u32) {
    let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
    let crc = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    (len, crc)
}

fn decode(payload: &[u8], crc: u32) -> Option<Spooled> {
    if crc32fast::hash(payload) != crc {
        return None;
    }
    serde_json::from_slice(payload).ok()
}

/// Walks the records in `bytes`: the length of the valid prefix and how many records it holds.
fn valid_prefix(bytes: &[u8]) -> (usize, u64) {
    let (mut pos, mut n) = (0usize, 0u64);
    while bytes.len() - pos >= HEADER {
        let header: [u8; HEADER] = bytes[pos..pos + HEADER].try_into().unwrap_or([0; HEADER]);
        let (len, crc) = split_header(&header);
        let end = pos + HEADER + len;
        if len > MAX_RECORD || end > bytes.len() || decode(&bytes[pos + HEADER..end], crc).is_none()
        {
            break;
        }
        pos = end;
        n += 1;
    }
    (pos, n)
}

/// Checks `file` from the start and cuts off a torn tail. Returns the valid length and records.
fn scan(file: &mut File, path: &Path) -> anyhow::Result<(u64, u64)> {
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    let (valid, n) = valid_prefix(&bytes);
    if valid < bytes.len() {
        tracing::warn!(path = %path.display(), dropped_bytes = bytes.len() - valid, "the spool ends in a torn record (the process died mid-write); it is dropped");
        file.set_len(valid as u64)
            .with_context(|| format!("truncating {}", path.display()))?;
    }
    Ok((valid as u64, n))
}

/// The first `messages-N.spool` in `dir` that no live process holds, locked for this one.
fn lock_free_slot(dir: &Path, prefix: &str) -> anyhow::Result<(File, PathBuf)> {
    for n in 0..1024 {
        let path = dir.join(format!("{prefix}{n}.spool"));
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening the spool {}", path.display()))?;
        if file.try_lock().is_ok() {
            return Ok((file, path));
        }
    }
    anyhow::bail!(
        "{}: 1024 spool files are held by live processes",
        dir.display()
    )
}

/// Other spool files of the same database in `dir`.
fn orphans(dir: &Path, prefix: &str, own: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path != own && name.starts_with(prefix) && name.ends_with(".spool") {
            out.push(path);
        }
    }
    Ok(out)
}

/// The valid records of another process's spool, if no live process holds it (else none).
fn take_orphan(path: &Path) -> anyhow::Result<(Vec<u8>, u64)> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    if file.try_lock().is_err() {
        return Ok((Vec::new(), 0));
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let (valid, n) = valid_prefix(&bytes);
    bytes.truncate(valid);
    Ok((bytes, n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::messages::{MessageRecord, MessageRole};

    const DB: &str = "sqlite://gw.db";

    fn spool_path(dir: &tempfile::TempDir) -> PathBuf {
        let name = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        name.path()
    }

    fn exchange(i: usize) -> Exchange {
        let m = MessageRecord::new(
            "c1",
            &format!("r{i}"),
            MessageRole::User,
            format!("oi {i}"),
            5,
        );
        Exchange {
            conversation_id: "c1".into(),
            key_id: "k".into(),
            at: 5,
            messages: vec![m],
        }
    }

    #[test]
    fn appended_records_come_back_after_a_restart_and_a_torn_tail_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        {
            let spool = Spool::open(dir.path(), DB).unwrap();
            for i in 0..3 {
                spool.append(&exchange(i)).unwrap();
            }
            spool.sync().unwrap();
        }
        // The process died in the middle of a fourth record.
        let path = spool_path(&dir);
        let mut torn = encode(&exchange(3)).unwrap();
        torn.truncate(torn.len() / 2);
        OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(&torn)
            .unwrap();

        let spool = Spool::open(dir.path(), DB).unwrap();
        let (records, end, n) = spool.read_batch(10).unwrap();
        assert_eq!(n, 3);
        assert!(matches!(&records[2], Spooled::Exchange(e) if e.messages[0].request_id == "r2"));
        assert_eq!(end, std::fs::metadata(&path).unwrap().len());
        spool.drained(end, n).unwrap();
        assert_eq!((spool.size_bytes(), spool.depth()), (0, 0));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    }

    #[test]
    fn a_second_process_takes_its_own_file_and_a_dead_ones_records_are_merged() {
        let dir = tempfile::tempdir().unwrap();
        let first = Spool::open(dir.path(), DB).unwrap();
        let second = Spool::open(dir.path(), DB).unwrap();
        assert_ne!(first.path(), second.path());
        second.append(&exchange(7)).unwrap();
        second.sync().unwrap();
        drop(second); // gone without draining
        let third = Spool::open(dir.path(), DB).unwrap();
        assert_eq!(third.depth(), 1);
        let (records, _, _) = third.read_batch(10).unwrap();
        assert!(matches!(&records[0], Spooled::Exchange(e) if e.messages[0].request_id == "r7"));
        assert_eq!(first.depth(), 0);
        // Another database's spool in the same directory is not touched.
        let other = Spool::open(dir.path(), "postgres://db/other").unwrap();
        assert_eq!(other.depth(), 0);
    }

    #[test]
    fn predictions_and_exchanges_share_the_spool_and_come_back_as_what_they_were() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), DB).unwrap();
        let prediction = PredictionRecord {
            id: "p1".into(),
            created_at: 5,
            patient_id: None,
            features: "{}".into(),
            probabilities: "{}".into(),
            risk_level: "high".into(),
            escalate: true,
            model_name: "risk".into(),
            model_version: "v1".into(),
            latency_ms: 0.2,
            release: None,
        };
        spool.append(&exchange(1)).unwrap();
        spool.append_prediction(&prediction).unwrap();
        spool.sync().unwrap();
        let (records, _, n) = spool.read_batch(10).unwrap();
        assert_eq!(n, 2);
        assert!(matches!(&records[0], Spooled::Exchange(e) if e.messages[0].request_id == "r1"));
        assert!(matches!(&records[1], Spooled::Prediction { prediction: p } if *p == prediction));
    }

    #[test]
    fn a_flipped_byte_fails_the_checksum() {
        let mut frame = encode(&exchange(1)).unwrap();
        let last = frame.len() - 2;
        frame[last] ^= 0x20;
        assert_eq!(valid_prefix(&frame), (0, 0));
    }
}
