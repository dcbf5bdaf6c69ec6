//! `powerbirth finetune prepare`: the triage dataset. Messages come from the guard's development
//! set, promoted nurse reviews and extra JSONL; each is PII-redacted with the guard, exact and
//! near duplicates (embedding cosine) are removed, and the rest is split stratified by class into
//! `train.jsonl`, `validation.jsonl` and `test.jsonl` with `dataset_report.json`.
//!
//! The guard's held-out parts (`heldout*/`, `output/`) are the classifier's test sets: a source
//! inside one is refused before anything is read, except the parts [`RETIRED`] into training.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::{CLASSES, TriageConfig, TriageError, class_of, sha256_hex};
use crate::embed::Embedder;
use crate::guard::{Guard, Lang};

/// One prepared message (a line of the split files).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    pub id: String,
    pub lang: String,
    /// The message with its PII redacted.
    pub text: String,
    pub label: String,
    /// `guard:<file>`, `review:<file>` or `extra:<file>`.
    pub source: String,
}

/// `dataset_report.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatasetReport {
    pub seed: u64,
    pub config_sha256: String,
    /// SHA-256 of the three split files, concatenated in the order train, validation, test.
    pub data_sha256: String,
    pub sources: BTreeMap<String, String>,
    pub read: usize,
    pub redacted: usize,
    pub exact_duplicates_removed: usize,
    pub near_duplicates_removed: usize,
    pub near_cosine: f64,
    /// `split → class → count`.
    pub counts: BTreeMap<String, BTreeMap<String, usize>>,
    /// `split → language → count`.
    pub languages: BTreeMap<String, BTreeMap<String, usize>>,
    pub files: BTreeMap<String, String>,
    pub balance: String,
}

/// The prepared dataset: its folder and report.
#[derive(Debug)]
pub struct Prepared {
    pub dir: PathBuf,
    pub report: DatasetReport,
}

/// Held-out parts retired from the classifier's test sets into its training data (2026-12-07):
/// they measured the versions up to `dc04f1070aa8` (docs/model-performance.md) and had already
/// informed the lexicons' passes. They stay the lexicons' measurement parts
/// (`src/guard/tests/evalsets.rs`). Every other `heldout…` part is a test set.
pub const RETIRED: [&str; 3] = ["heldout", "heldout2", "heldout3"];

/// Refuses a source inside the guard's frozen parts: a path component `heldout…` (the
/// [`RETIRED`] folders excepted), or `output` directly under a `guard` folder (the output
/// guard's answers).
pub fn refuse_held_out(path: &Path) -> Result<(), TriageError> {
    let full = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let parts: Vec<String> = full
        .components()
        .map(|c| c.as_os_str().to_string_lossy().to_lowercase())
        .collect();
    let frozen = parts.iter().enumerate().any(|(i, p)| {
        (p.starts_with("heldout") && !RETIRED.contains(&p.as_str()))
            || (p == "output" && i > 0 && parts[i - 1] == "guard")
    });
    if frozen {
        return Err(TriageError::HeldOut(format!(
            "{}: the guard's held-out parts are the classifier's test sets and never train it \
             (see docs/guard.md); name evalsets/guard/dev instead",
            path.display()
        )));
    }
    Ok(())
}

/// Prepares the dataset of `config_path` into `<processed>/<name>/` (`name` defaults to the UTC
/// time, `YYYYMMDDTHHMMSSZ`).
pub fn prepare(
    config_path: &Path,
    name: Option<&str>,
    embedder: &Embedder,
) -> Result<Prepared, TriageError> {
    let (config, config_bytes) = TriageConfig::load(config_path)?;
    let s = &config.sources;
    for p in s.guard_sets.iter().chain(&s.promoted).chain(&s.extra) {
        refuse_held_out(p)?;
    }
    let guard = Guard::load(&config.guard_dir)
        .map_err(|e| TriageError::data(&config.guard_dir, e.to_string()))?;
    let (raw, sources) = read_sources(&config)?;
    let read = raw.len();
    let mut redacted = 0;
    let raw: Vec<Example> = raw
        .into_iter()
        .map(|mut e| {
            let lang = Lang::from_tag(&e.lang).unwrap_or(Lang::PtBr);
            if let Some(clean) = guard.redact_in(&e.text, lang) {
                e.text = clean;
                redacted += 1;
            }
            e
        })
        .collect();
    let (exact, unique) = drop_exact(raw);
    let (near, kept) = drop_near(unique, embedder, config.dedup.near_cosine)?;
    let splits = split(kept, &config);

    let name = name.map_or_else(timestamp, str::to_string);
    let dir = config.processed.join(name);
    std::fs::create_dir_all(&dir).map_err(|e| TriageError::io(&dir, e))?;
    let mut report = DatasetReport {
        seed: config.seed,
        config_sha256: sha256_hex(&config_bytes),
        data_sha256: String::new(),
        sources,
        read,
        redacted,
        exact_duplicates_removed: exact,
        near_duplicates_removed: near,
        near_cosine: config.dedup.near_cosine,
        counts: BTreeMap::new(),
        languages: BTreeMap::new(),
        files: BTreeMap::new(),
        balance: format!("{:?}", config.balance),
    };
    let mut all = Vec::new();
    for (split_name, rows) in ["train", "validation", "test"].iter().zip(&splits) {
        let mut text = String::new();
        for r in rows {
            text.push_str(&serde_json::to_string(r).expect("an example serialises"));
            text.push('\n');
            *report
                .counts
                .entry(split_name.to_string())
                .or_default()
                .entry(r.label.clone())
                .or_default() += 1;
            *report
                .languages
                .entry(split_name.to_string())
                .or_default()
                .entry(r.lang.clone())
                .or_default() += 1;
        }
        let file = format!("{split_name}.jsonl");
        let path = dir.join(&file);
        std::fs::write(&path, &text).map_err(|e| TriageError::io(&path, e))?;
        report.files.insert(file, sha256_hex(text.as_bytes()));
        all.extend_from_slice(text.as_bytes());
    }
    report.data_sha256 = sha256_hex(&all);
    let path = dir.join("dataset_report.json");
    let json = serde_json::to_string_pretty(&report).expect("the report serialises");
    std::fs::write(&path, json + "\n").map_err(|e| TriageError::io(&path, e))?;
    Ok(Prepared { dir, report })
}

/// Every labelled message of the sources, with each source's SHA-256.
fn read_sources(
    config: &TriageConfig,
) -> Result<(Vec<Example>, BTreeMap<String, String>), TriageError> {
    let mut out = Vec::new();
    let mut hashes = BTreeMap::new();
    let mut files: Vec<(&str, PathBuf)> = Vec::new();
    for dir in &config.sources.guard_sets {
        let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| TriageError::io(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect();
        names.sort();
        files.extend(names.into_iter().map(|p| ("guard", p)));
    }
    files.extend(config.sources.extra.iter().map(|p| ("extra", p.clone())));
    for (kind, path) in files {
        let bytes = std::fs::read(&path).map_err(|e| TriageError::io(&path, e))?;
        hashes.insert(path.display().to_string(), sha256_hex(&bytes));
        out.extend(jsonl_examples(
            &path,
            &String::from_utf8_lossy(&bytes),
            kind,
        )?);
    }
    for path in &config.sources.promoted {
        let bytes = std::fs::read(path).map_err(|e| TriageError::io(path, e))?;
        hashes.insert(path.display().to_string(), sha256_hex(&bytes));
        out.extend(promoted_examples(path, &String::from_utf8_lossy(&bytes))?);
    }
    Ok((out, hashes))
}

/// The guard's JSONL format (`evalsets/guard/README.md`), read by the guard's own parser;
/// errors name `file:line`.
fn jsonl_examples(path: &Path, text: &str, kind: &str) -> Result<Vec<Example>, TriageError> {
    let file = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into());
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let case = crate::guard::eval::parse_case(line, format!("line {}", i + 1))
            .map_err(|e| TriageError::data(path, e.0))?;
        out.push(Example {
            id: case.id,
            lang: case.lang.as_str().into(),
            text: case.text,
            label: CLASSES[class_of(&case.labels)].into(),
            source: format!("{kind}:{file}"),
        });
    }
    Ok(out)
}

#[derive(Deserialize)]
struct PromotedFile {
    #[serde(default)]
    cases: Vec<PromotedCase>,
}

#[derive(Deserialize)]
struct PromotedCase {
    id: String,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    messages: Vec<PromotedMessage>,
    #[serde(default)]
    assert: Vec<toml::Value>,
}

#[derive(Deserialize)]
struct PromotedMessage {
    role: String,
    content: String,
}

/// Cases a nurse review was promoted into (`source = "review:…"`) that carry the `escalated`
/// assertion: the nurse said the turn should have been escalated, so its last user message is a
/// `red_flag` example. Other promoted cases say nothing about the class and are skipped.
fn promoted_examples(path: &Path, text: &str) -> Result<Vec<Example>, TriageError> {
    let file: PromotedFile =
        toml::from_str(text).map_err(|e| TriageError::data(path, e.to_string()))?;
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into());
    Ok(file
        .cases
        .into_iter()
        .filter(|c| {
            c.source
                .as_deref()
                .is_some_and(|s| s.starts_with("review:"))
        })
        .filter(|c| {
            c.assert
                .iter()
                .any(|a| a.get("type").and_then(toml::Value::as_str) == Some("escalated"))
        })
        .filter_map(|c| {
            let last = c.messages.iter().rev().find(|m| m.role == "user")?;
            let lang = c
                .language
                .as_deref()
                .and_then(Lang::from_tag)
                .unwrap_or(Lang::PtBr);
            Some(Example {
                id: c.id.clone(),
                lang: lang.as_str().into(),
                text: last.content.clone(),
                label: CLASSES[super::RED_FLAG].into(),
                source: format!("review:{name}"),
            })
        })
        .collect())
}

/// Lowercase, whitespace collapsed: what "the same text" means for exact duplicates.
fn normalised(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Keeps the first of each normalised text; returns how many went.
fn drop_exact(rows: Vec<Example>) -> (usize, Vec<Example>) {
    let mut seen = HashSet::new();
    let before = rows.len();
    let kept: Vec<Example> = rows
        .into_iter()
        .filter(|r| seen.insert(normalised(&r.text)))
        .collect();
    (before - kept.len(), kept)
}

/// Drops a message whose embedding's cosine with an earlier kept one of the same class is at
/// least `threshold` (a paraphrase-level near duplicate would otherwise land in two splits).
fn drop_near(
    rows: Vec<Example>,
    embedder: &Embedder,
    threshold: f64,
) -> Result<(usize, Vec<Example>), TriageError> {
    let texts: Vec<&str> = rows.iter().map(|r| r.text.as_str()).collect();
    let vectors = embedder.embed(&texts)?;
    let mut kept: Vec<usize> = Vec::new();
    for i in 0..rows.len() {
        let near = kept
            .iter()
            .any(|&j| crate::embed::cosine(&vectors[i], &vectors[j]) >= threshold);
        if !near {
            kept.push(i);
        }
    }
    let removed = rows.len() - kept.len();
    let keep: HashSet<usize> = kept.into_iter().collect();
    let rows = rows
        .into_iter()
        .enumerate()
        .filter(|(i, _)| keep.contains(i))
        .map(|(_, r)| r)
        .collect();
    Ok((removed, rows))
}

/// Stratified by class: each class's rows, sorted by id and shuffled with the seed, give
/// `round(n · test)` to test and `round(n · validation)` to validation (at least one each when
/// the class has three or more), the rest to train.
fn split(rows: Vec<Example>, config: &TriageConfig) -> [Vec<Example>; 3] {
    let mut out: [Vec<Example>; 3] = Default::default();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed);
    for class in CLASSES {
        let mut of: Vec<Example> = rows.iter().filter(|r| r.label == class).cloned().collect();
        of.sort_by(|a, b| a.id.cmp(&b.id));
        of.shuffle(&mut rng);
        let n = of.len();
        let share = |f: f64| {
            let k = (n as f64 * f).round() as usize;
            if n >= 3 { k.max(1) } else { k }
        };
        let (n_test, n_val) = (share(config.split.test), share(config.split.validation));
        for (i, r) in of.into_iter().enumerate() {
            let at = if i < n_test {
                2
            } else if i < n_test + n_val {
                1
            } else {
                0
            };
            out[at].push(r);
        }
    }
    for part in &mut out {
        part.sort_by(|a, b| a.id.cmp(&b.id));
    }
    out
}

/// `YYYYMMDDTHHMMSSZ` now (UTC).
fn timestamp() -> String {
    crate::ml::train::artifacts::utc_now().replace(['-', ':'], "")
}

/// Reads one split file back.
pub fn read_split(path: &Path) -> Result<Vec<Example>, TriageError> {
    let text = std::fs::read_to_string(path).map_err(|e| TriageError::io(path, e))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| TriageError::data(path, format!("line {}: {e}", i + 1)))
        })
        .collect()
}
