//! `powerbirth ingest` against the real Redis (a unique stream per test): events in, anonymised
//! Parquet out, read back by an independent reader (pyarrow, pinned, installed by
//! `scripts/install-data-venv.sh`, which the tests run), no raw identifier in the files' bytes,
//! dead letters with their reasons, a replayed batch not written twice, a dead consumer's
//! entries taken over, SIGTERM draining. `schemas` checks the schema files against a real JSON
//! Schema validator.

mod backfill;
mod materialize;
mod pipeline;
mod replay;
mod schemas;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use redis::Commands;

/// The pseudonym key every test run uses.
pub const KEY: &str = "test-pseudonym-key-0123456789abcdef";

/// A temporary directory with a configuration naming a fresh stream.
pub struct Harness {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub stream: String,
    pub redis: redis::Client,
}

impl Harness {
    /// `None` (skipped, outside CI) without Redis. `extra` is appended to `[ingest]`.
    pub fn new(extra: &str) -> Option<Harness> {
        let url = crate::common::redis_url()?;
        let dir = tempfile::tempdir().unwrap();
        let stream = format!("pb-test:ingest:{}", uuid::Uuid::new_v4().simple());
        let config = dir.path().join("powerbirth.toml");
        let text = format!(
            "[database]\nurl = \"sqlite://{db}\"\n\n[redis]\nurl = \"{url}\"\n\n[ingest]\n\
             stream = \"{stream}\"\nraw_dir = \"{raw}\"\nbatch_size = 4\n{extra}\n",
            db = dir.path().join("db.sqlite").display(),
            raw = dir.path().join("raw").display(),
        );
        std::fs::write(&config, text).unwrap();
        let redis = redis::Client::open(url).unwrap();
        Some(Harness {
            dir,
            config,
            stream,
            redis,
        })
    }

    pub fn raw_dir(&self) -> PathBuf {
        self.dir.path().join("raw")
    }

    pub fn conn(&self) -> redis::Connection {
        self.redis.get_connection().unwrap()
    }

    /// Adds one entry with `data` = `json`; returns its id.
    pub fn add(&self, json: &str) -> String {
        self.add_fields(&[("data", json)])
    }

    /// Adds one entry with the given fields; returns its id.
    pub fn add_fields(&self, fields: &[(&str, &str)]) -> String {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(&self.stream).arg("*");
        for (k, v) in fields {
            cmd.arg(*k).arg(*v);
        }
        cmd.query(&mut self.conn()).unwrap()
    }

    /// Every entry of `key` (`XRANGE - +`): id and fields.
    pub fn entries(&self, key: &str) -> Vec<(String, HashMap<String, String>)> {
        let reply: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
            .arg(key)
            .arg("-")
            .arg("+")
            .query(&mut self.conn())
            .unwrap();
        reply
            .into_iter()
            .map(|(id, kv)| {
                let map = kv.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect();
                (id, map)
            })
            .collect()
    }

    /// `powerbirth ingest ARGS` as consumer `consumer`, with the pseudonym key set.
    pub fn ingest(&self, consumer: &str, args: &[&str]) -> Output {
        self.command(consumer, args).output().unwrap()
    }

    pub fn command(&self, consumer: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_powerbirth"));
        cmd.arg("--config")
            .arg(&self.config)
            .arg("ingest")
            .args(args)
            .env("POWERBIRTH_PSEUDONYM_KEY", KEY)
            .env("POWERBIRTH_INGEST__CONSUMER", consumer);
        cmd
    }

    /// Entries pending in the group (read, not acknowledged).
    pub fn pending(&self) -> usize {
        let reply: redis::Value = match redis::cmd("XPENDING")
            .arg(&self.stream)
            .arg("ingest")
            .query(&mut self.conn())
        {
            Ok(v) => v,
            // No group yet: nothing was read, so nothing is pending.
            Err(e) if e.code() == Some("NOGROUP") => return 0,
            Err(e) => panic!("XPENDING: {e}"),
        };
        match reply {
            redis::Value::Array(v) => match v.first() {
                Some(redis::Value::Int(n)) => *n as usize,
                _ => 0,
            },
            _ => 0,
        }
    }

    /// Every row of `event` as pyarrow reads the partitioned directory (JSON objects), and the
    /// pseudonym python's own `hmac` computes for each raw id in `ids`.
    pub fn read_back(&self, event: &str, ids: &[&str]) -> (Vec<serde_json::Value>, Vec<String>) {
        let script = r#"
import hashlib, hmac, json, sys
import pyarrow.dataset as ds
path, key, ids = sys.argv[1], sys.argv[2].encode(), json.loads(sys.argv[3])
table = ds.dataset(path, format="parquet", partitioning="hive").to_table()
rows = table.to_pylist()
for r in rows:
    for k, v in list(r.items()):
        if hasattr(v, "isoformat"):
            r[k] = v.isoformat()
pseudonyms = [hmac.new(key, b"patient\x00" + i.encode(), hashlib.sha256).hexdigest()[:32] for i in ids]
print(json.dumps({"rows": rows, "pseudonyms": pseudonyms, "schema": str(table.schema)}))
"#;
        let out = Command::new(python())
            .arg("-c")
            .arg(script)
            .arg(self.raw_dir().join(event))
            .arg(KEY)
            .arg(serde_json::to_string(ids).unwrap())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pyarrow: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let pseudonyms = v["pseudonyms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_string())
            .collect();
        (v["rows"].as_array().unwrap().clone(), pseudonyms)
    }

    /// No string of `raw` in any byte of any file written (footers and statistics included) nor
    /// in `decoded` (what pyarrow read from them: the pages are compressed).
    pub fn assert_absent(&self, raw: &[&str], decoded: &str) {
        for file in self.files() {
            let bytes = std::fs::read(&file).unwrap();
            for id in raw {
                assert!(
                    !bytes.windows(id.len()).any(|w| w == id.as_bytes()),
                    "{id} in {}",
                    file.display()
                );
            }
        }
        for id in raw {
            assert!(!decoded.contains(id), "{id} decoded from the files");
        }
    }

    /// Every file under the raw directory.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![self.raw_dir()];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p);
                }
            }
        }
        out.sort();
        out
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Ok(mut c) = self.redis.get_connection() {
            let _: Result<(), _> = c.del(&[&self.stream, &format!("{}:dead", self.stream)]);
        }
    }
}

/// The data venv's python, installed once per test run by `scripts/install-data-venv.sh`.
pub fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = Command::new(root.join("scripts/install-data-venv.sh"))
            .output()
            .expect("running scripts/install-data-venv.sh");
        assert!(
            out.status.success(),
            "scripts/install-data-venv.sh failed (it installs pinned pyarrow and jsonschema from \
             the Python index): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let venv = std::env::var_os("POWERBIRTH_DATA_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let cache = std::env::var_os("XDG_CACHE_HOME")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| {
                        PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache")
                    });
                cache.join("powerbirth/data-venv")
            });
        venv.join("bin/python")
    })
}

/// An event's JSON.
pub fn event(kind: &str, patient: &str, at: &str, payload: serde_json::Value) -> String {
    serde_json::json!({
        "event": kind, "schema_version": 1, "patient_id": patient, "occurred_at": at,
        "payload": payload,
    })
    .to_string()
}
