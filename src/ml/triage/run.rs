//! `powerbirth finetune run`: a prepared dataset through the frozen encoder, the head trained
//! ([`super::head`]), then with `head.freeze = N > 0` the encoder's last N layers trained with it
//! ([`super::layers`]), the escalation thresholds chosen on validation, scored on the test split,
//! written to `<models>/<version>/` (`head.safetensors`, `triage.json`, `tokenizer.json`,
//! `modelcard.yaml`, `metrics.json`, `dataset_report.json`, and the trained layers'
//! `encoder_layers.safetensors`) and packaged as
//! `<models>/triage-<version>.tar.gz`. The version is the first 12 hex digits of
//! SHA-256(config bytes ‖ data hash ‖ base model hash ‖ [`FORMAT`]): the same inputs give the same
//! version and the same weights.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{Device, Tensor};
use serde_json::json;

use super::config::Balance;
use super::head::{self, Head, Rows};
use super::layers;
use super::model::{LAYERS_FILE, TriageFile, encoder_sha256};
use super::prepare::{DatasetReport, Example, read_split};
use super::score::{auc_of, choose_thresholds, escalation, scores};
use super::{CLASSES, FORMAT, TriageConfig, TriageError, sha256_hex};
use crate::embed::Embedder;
use crate::ml::train::artifacts::{git_sha, utc_now, write_all};

/// What a run produced.
#[derive(Debug)]
pub struct RunOutcome {
    pub version: String,
    pub dir: PathBuf,
    pub tarball: PathBuf,
    /// SHA-256 of `head.safetensors` followed by `encoder_layers.safetensors` when layers were
    /// trained (what "the same weights" means).
    pub weights_sha256: String,
    pub metrics: serde_json::Value,
}

/// The embedded splits.
struct Data {
    x: [Vec<Vec<f32>>; 3],
    y: [Vec<usize>; 3],
    rows: [Vec<Example>; 3],
}

/// Trains on the prepared dataset `data_dir` (default: the newest under the config's
/// `processed` folder) with the encoder in the config's `base_model`. Long because it reads as
/// the run's steps in order (data, train, thresholds, scores, metrics), each a call.
pub fn run(
    config_path: &Path,
    data_dir: Option<&Path>,
    embedder: &Embedder,
) -> Result<RunOutcome, TriageError> {
    let started = Instant::now();
    let cpu_start = cpu_seconds();
    let (config, config_bytes) = TriageConfig::load(config_path)?;
    let data_dir = match data_dir {
        Some(d) => d.to_path_buf(),
        None => newest(&config.processed)?,
    };
    let report_path = data_dir.join("dataset_report.json");
    let report_text =
        std::fs::read_to_string(&report_path).map_err(|e| TriageError::io(&report_path, e))?;
    let report: DatasetReport = serde_json::from_str(&report_text)
        .map_err(|e| TriageError::data(&report_path, e.to_string()))?;
    let encoder_sha = encoder_sha256(&config.base_model)?;
    let data = embed_splits(&data_dir, embedder)?;

    let weights = row_weights(&data.y[0], config.balance);
    let (rows, weight) = resample(&data.y[0], &weights, config.balance, config.seed);
    let x: Vec<Vec<f32>> = rows.iter().map(|&i| data.x[0][i].clone()).collect();
    let y: Vec<usize> = rows.iter().map(|&i| data.y[0][i]).collect();
    let trained = head::train(
        &Rows {
            x: &x,
            y: &y,
            weight: &weight,
        },
        (&data.x[1], &data.y[1]),
        CLASSES.len(),
        &config.head,
        config.seed,
    )?;
    let tuned = tune_layers(
        &config,
        embedder,
        &data,
        (&rows, &y, &weight),
        &trained.head,
    )?;
    let (h, scored) = match &tuned {
        Some((t, x)) => (&t.head, x),
        None => (&trained.head, &data.x),
    };
    let proba = |i: usize| -> Vec<Vec<f64>> { scored[i].iter().map(|x| h.proba(x)).collect() };
    let (val_p, test_p) = (proba(1), proba(2));
    let thresholds = choose_thresholds(
        &val_p,
        &data.y[1],
        config.head.target_recall,
        config.head.max_false_escalation,
    );
    let best_validation_f1 = tuned
        .as_ref()
        .map_or(trained.best_validation_f1, |(t, _)| t.best_validation_f1);

    let mut id = Vec::new();
    id.extend_from_slice(&config_bytes);
    id.extend_from_slice(report.data_sha256.as_bytes());
    id.extend_from_slice(encoder_sha.as_bytes());
    id.extend_from_slice(FORMAT.as_bytes());
    let version = sha256_hex(&id)[..12].to_string();
    let base_name = config
        .base_model
        .file_name()
        .map_or_else(|| "base".into(), |n| n.to_string_lossy().to_string());
    let file = TriageFile {
        format: FORMAT.into(),
        version: version.clone(),
        classes: CLASSES.iter().map(|c| c.to_string()).collect(),
        thresholds: thresholds.clone(),
        base_model: base_name,
        encoder_sha256: encoder_sha,
        dim: h.dim,
        trained_layers: config.head.freeze,
    };
    let validation = json!({
        "f1_macro": best_validation_f1,
        "red_flag_roc_auc": auc_of(&val_p, &data.y[1], super::RED_FLAG),
        "escalation": escalation(&val_p, &data.y[1], &thresholds),
    });
    let test = scores(&test_p, &data.y[2], &data.rows[2], &thresholds);
    let cv = json!({
        "f1_macro": {"mean": best_validation_f1},
        "roc_auc_high": {"mean": auc_of(&val_p, &data.y[1], super::RED_FLAG).unwrap_or(0.0)},
    });
    let metrics = json!({
        "task": config.task, "version": version, "git_sha": git_sha(),
        "data_sha256": report.data_sha256, "config_sha256": sha256_hex(&config_bytes),
        "seed": config.seed, "config": config, "classes": CLASSES,
        "thresholds": thresholds, "epochs": trained.epochs, "best_epoch": trained.best_epoch,
        "rows": {"train": data.y[0].len(), "validation": data.y[1].len(), "test": data.y[2].len()},
        "cv": cv, "validation": validation, "test": test,
        "encoder_layers": tuned.as_ref().map(|(t, _)| json!({
            "trained": config.head.freeze, "epochs": t.epochs, "best_epoch": t.best_epoch,
            "head_only_validation_f1_macro": trained.best_validation_f1,
        })),
        "cpu_seconds": cpu_seconds() - cpu_start,
        "wall_seconds": started.elapsed().as_secs_f64(),
        "created_at": utc_now(),
    });
    let layers = tuned.as_ref().map(|(t, _)| &t.tensors);
    package(
        &config,
        &data_dir,
        &file,
        (h, layers),
        metrics,
        &report_text,
    )
}

/// With `head.freeze = N > 0`: the last N encoder layers trained with the head (starting from
/// the head trained alone), and the validation and test splits re-embedded by the encoder with
/// those layers swapped in, exactly as the request path will read them. `None` for N = 0.
#[allow(clippy::type_complexity)]
fn tune_layers(
    config: &TriageConfig,
    embedder: &Embedder,
    data: &Data,
    (rows, y, weight): (&[usize], &[usize], &[f32]),
    head: &Head,
) -> Result<Option<(layers::TrainedLayers, [Vec<Vec<f32>>; 3])>, TriageError> {
    if config.head.freeze == 0 {
        return Ok(None);
    }
    let text = |split: usize, i: usize| data.rows[split][i].text.as_str();
    let train_texts: Vec<&str> = rows.iter().map(|&i| text(0, i)).collect();
    let val_texts: Vec<&str> = (0..data.rows[1].len()).map(|i| text(1, i)).collect();
    let test_texts: Vec<&str> = (0..data.rows[2].len()).map(|i| text(2, i)).collect();
    let t = layers::train(
        embedder,
        &config.base_model,
        &layers::TextRows {
            texts: &train_texts,
            y,
            weight,
        },
        (&val_texts, &data.y[1]),
        head,
        &config.head,
        config.seed,
    )?;
    let tuned = Embedder::load_with(&config.base_model, t.tensors.clone())?;
    let x = [
        Vec::new(),
        tuned.embed(&val_texts)?,
        tuned.embed(&test_texts)?,
    ];
    Ok(Some((t, x)))
}

/// Writes the version folder and its tarball.
fn package(
    config: &TriageConfig,
    data_dir: &Path,
    file: &TriageFile,
    (head, layers): (&Head, Option<&HashMap<String, Tensor>>),
    metrics: serde_json::Value,
    report_text: &str,
) -> Result<RunOutcome, TriageError> {
    let version = file.version.clone();
    let err = |e: candle_core::Error| TriageError::Train(e.to_string());
    let w = Tensor::from_vec(head.weights.clone(), (head.classes, head.dim), &Device::Cpu)
        .map_err(err)?;
    let b = Tensor::from_vec(head.bias.clone(), head.classes, &Device::Cpu).map_err(err)?;
    let weights = safetensors_bytes(&HashMap::from([
        ("weight".to_string(), w),
        ("bias".to_string(), b),
    ]))?;
    let mut weights_id = weights.clone();
    let tokenizer_path = config.base_model.join("tokenizer.json");
    let tokenizer =
        std::fs::read(&tokenizer_path).map_err(|e| TriageError::io(&tokenizer_path, e))?;
    let card = model_card(file, &metrics, data_dir);
    let mut files = vec![
        ("head.safetensors", weights.clone()),
        (
            "triage.json",
            pretty(&serde_json::to_value(file).expect("serialises")),
        ),
        ("tokenizer.json", tokenizer),
        ("modelcard.yaml", card.into_bytes()),
        ("metrics.json", pretty(&metrics)),
        ("dataset_report.json", report_text.as_bytes().to_vec()),
    ];
    if let Some(layers) = layers {
        let bytes = safetensors_bytes(layers)?;
        weights_id.extend_from_slice(&bytes);
        files.push((LAYERS_FILE, bytes));
    }
    let dir = config.models.join(&version);
    let tarball = config
        .models
        .join(format!("{}-{version}.tar.gz", config.task));
    write_all(&dir, &tarball, &version, files).map_err(|e| TriageError::io(&dir, e))?;
    Ok(RunOutcome {
        version,
        dir,
        tarball,
        weights_sha256: sha256_hex(&weights_id),
        metrics,
    })
}

fn pretty(v: &serde_json::Value) -> Vec<u8> {
    let mut s = serde_json::to_string_pretty(v).expect("JSON serialises");
    s.push('\n');
    s.into_bytes()
}

/// Named tensors as safetensors bytes (the head: `weight` `[classes, dim]`, `bias`
/// `[classes]`; fine-tuned layers: their names in the base model).
fn safetensors_bytes(tensors: &HashMap<String, Tensor>) -> Result<Vec<u8>, TriageError> {
    let err = |e: candle_core::Error| TriageError::Train(e.to_string());
    // candle writes safetensors to a path only: a private temporary file, read back and removed.
    let tmp = std::env::temp_dir().join(format!(
        "powerbirth-triage-head-{}-{:?}.safetensors",
        std::process::id(),
        std::thread::current().id()
    ));
    candle_core::safetensors::save(tensors, &tmp).map_err(err)?;
    let bytes = std::fs::read(&tmp).map_err(|e| TriageError::io(&tmp, e));
    let _ = std::fs::remove_file(&tmp);
    bytes
}

/// The newest prepared dataset (by folder name, a UTC timestamp).
fn newest(processed: &Path) -> Result<PathBuf, TriageError> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(processed)
        .map_err(|e| TriageError::io(processed, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("dataset_report.json").is_file())
        .collect();
    dirs.sort();
    dirs.pop().ok_or_else(|| {
        TriageError::data(
            processed,
            "no prepared dataset: run `finetune prepare` first",
        )
    })
}

fn embed_splits(dir: &Path, embedder: &Embedder) -> Result<Data, TriageError> {
    let mut data = Data {
        x: Default::default(),
        y: Default::default(),
        rows: Default::default(),
    };
    for (i, name) in ["train", "validation", "test"].iter().enumerate() {
        let path = dir.join(format!("{name}.jsonl"));
        let rows = read_split(&path)?;
        let y =
            rows.iter()
                .map(|r| {
                    CLASSES.iter().position(|c| *c == r.label).ok_or_else(|| {
                        TriageError::data(&path, format!("unknown label {:?}", r.label))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
        let texts: Vec<&str> = rows.iter().map(|r| r.text.as_str()).collect();
        data.x[i] = embedder.embed(&texts)?;
        data.y[i] = y;
        data.rows[i] = rows;
    }
    if data.y[0].is_empty() || data.y[1].is_empty() {
        return Err(TriageError::data(
            dir,
            "train and validation must not be empty",
        ));
    }
    Ok(data)
}

/// Per-class loss weights `n / (k · n_class)` (scikit-learn's `balanced`), or 1 when resampling.
fn row_weights(y: &[usize], balance: Balance) -> Vec<f32> {
    let k = CLASSES.len();
    let mut counts = vec![0usize; k];
    y.iter().for_each(|&c| counts[c] += 1);
    let class_w: Vec<f32> = counts
        .iter()
        .map(|&n| {
            if n == 0 {
                0.0
            } else {
                y.len() as f32 / (k as f32 * n as f32)
            }
        })
        .collect();
    match balance {
        Balance::ClassWeights => y.iter().map(|&c| class_w[c]).collect(),
        Balance::Resample => vec![1.0; y.len()],
    }
}

/// The training rows (indices into the train split) and their loss weights: every row once,
/// and with `resample` each smaller class's rows repeated (seeded draw) up to the largest class.
fn resample(y: &[usize], weights: &[f32], balance: Balance, seed: u64) -> (Vec<usize>, Vec<f32>) {
    let (mut rows, mut ow): (Vec<usize>, Vec<f32>) = ((0..y.len()).collect(), weights.to_vec());
    if balance == Balance::Resample {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
        let by: Vec<Vec<usize>> = (0..CLASSES.len())
            .map(|c| (0..y.len()).filter(|&i| y[i] == c).collect())
            .collect();
        let largest = by.iter().map(Vec::len).max().unwrap_or(0);
        for of_class in by.iter().filter(|r| !r.is_empty()) {
            for _ in of_class.len()..largest {
                let i = of_class[rng.random_range(0..of_class.len())];
                rows.push(i);
                ow.push(1.0);
            }
        }
    }
    (rows, ow)
}

/// `modelcard.yaml` of a version.
fn model_card(file: &TriageFile, metrics: &serde_json::Value, data_dir: &Path) -> String {
    format!(
        "name: triage\nversion: {}\nbase_model: {}\nencoder_sha256: {}\nclasses: [{}]\n\
         thresholds: {}\ndata: {}\ndata_sha256: {}\nintended_use: >-\n  Second opinion of the \
         input guard: may add a red_flag or self_harm escalation the lexicons missed; never \
         removes one.\nlimitations: >-\n  Trained on a few hundred messages written by engineers \
         (evalsets/guard/dev), not clinicians. English-only base encoder (all-MiniLM-L6-v2) read \
         on pt-BR text. See docs/model-performance.md for held-out figures.\n",
        file.version,
        file.base_model,
        file.encoder_sha256,
        file.classes.join(", "),
        serde_json::to_string(&file.thresholds).unwrap_or_default(),
        data_dir.display(),
        metrics["data_sha256"].as_str().unwrap_or(""),
    )
}

/// User + system CPU seconds of this process so far (Linux `/proc/self/stat`, 100 ticks a
/// second); 0 elsewhere.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) start at ") ".
    let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}
