//! The triage classifier (issue #19) end to end: `finetune prepare` keeps the guard's held-out
//! parts out of training, removes duplicates and reports its counts; `finetune run` is
//! deterministic; a trained version installed as the guard's second opinion escalates, through
//! the real chat endpoint, a message the lexicons miss — and never removes their escalation.
//! Small data and few epochs: each training takes seconds.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use powerbirth::embed::Embedder;
use powerbirth::guard::{Decision, Guard};
use powerbirth::ml::triage::{TriageConfig, TriageError, TriageModel, prepare, run};
use serde_json::json;

use crate::common::{self, Spawn, spawn_app_with};

mod serve;
mod swap;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn encoder_dir() -> PathBuf {
    repo().join("models/base/all-minilm-l6-v2")
}

fn embedder() -> Embedder {
    static E: OnceLock<Embedder> = OnceLock::new();
    E.get_or_init(|| {
        Embedder::load(&encoder_dir()).expect("models/base/all-minilm-l6-v2 (run `make models`)")
    })
    .clone()
}

/// A small labelled set in the guard's format: red flags that say "something is very wrong"
/// without a clinical word the lexicons know, and the other classes.
const MESSAGES: &[(&str, &str, &str)] = &[
    (
        "red_flag",
        "pt-BR",
        "socorro, tem alguma coisa muito errada comigo",
    ),
    (
        "red_flag",
        "pt-BR",
        "me ajuda, sinto que algo está muito errado",
    ),
    (
        "red_flag",
        "pt-BR",
        "socorro, algo não está bem, estou com muito medo",
    ),
    (
        "red_flag",
        "pt-BR",
        "tem alguma coisa errada, preciso de ajuda urgente",
    ),
    ("red_flag", "en", "help, something is very wrong with me"),
    ("red_flag", "en", "please help, something is terribly wrong"),
    (
        "red_flag",
        "en",
        "something is wrong, I need urgent help now",
    ),
    (
        "red_flag",
        "en",
        "help me, I feel like something is really wrong",
    ),
    (
        "red_flag",
        "pt-BR",
        "socorro socorro algo errado está acontecendo",
    ),
    (
        "red_flag",
        "en",
        "urgent help needed, something feels very wrong",
    ),
    ("self_harm", "pt-BR", "não aguento mais viver"),
    ("self_harm", "en", "I want to end my life"),
    ("self_harm", "pt-BR", "penso em acabar com tudo"),
    ("self_harm", "en", "I keep thinking about killing myself"),
    ("self_harm", "pt-BR", "queria dormir e não acordar mais"),
    ("self_harm", "en", "I don't want to live anymore"),
    (
        "medication_dosing",
        "pt-BR",
        "quantos comprimidos de dipirona posso tomar",
    ),
    (
        "medication_dosing",
        "en",
        "how many mg of paracetamol can I take",
    ),
    (
        "medication_dosing",
        "pt-BR",
        "qual a dose de buscopan pra grávida",
    ),
    ("medication_dosing", "en", "what dose of ibuprofen is safe"),
    (
        "medication_dosing",
        "pt-BR",
        "posso tomar dois comprimidos de paracetamol",
    ),
    ("medication_dosing", "en", "how much tylenol should I take"),
    ("benign", "pt-BR", "qual fruta é boa na gravidez"),
    ("benign", "en", "what fruit is good during pregnancy"),
    ("benign", "pt-BR", "oi, tudo bem? estou com 20 semanas"),
    ("benign", "en", "hello, I am 20 weeks along"),
    ("benign", "pt-BR", "posso fazer caminhada leve"),
    ("benign", "en", "can I go for a light walk"),
    ("benign", "pt-BR", "quando começo o curso de gestantes"),
    ("benign", "en", "when does the prenatal class start"),
    ("benign", "pt-BR", "qual o melhor horário pra consulta"),
    ("benign", "en", "what is the best time for my appointment"),
];

/// Writes the messages (plus the duplicates named) and a config into `dir`; returns its path.
fn setup(dir: &Path, guard_sets: &str, duplicates: &[&str]) -> PathBuf {
    setup_with(dir, guard_sets, duplicates, 0)
}

/// [`setup`] with `head.freeze` set (the encoder's last layers trained with the head).
fn setup_with(dir: &Path, guard_sets: &str, duplicates: &[&str], freeze: usize) -> PathBuf {
    let mut lines: Vec<String> = MESSAGES
        .iter()
        .enumerate()
        .map(|(i, (label, lang, text))| {
            let labels = if *label == "benign" {
                json!([])
            } else {
                json!([label])
            };
            json!({"id": format!("t-{i:03}"), "lang": lang, "text": text, "labels": labels})
                .to_string()
        })
        .collect();
    for (i, d) in duplicates.iter().enumerate() {
        lines.push(
            json!({"id": format!("d-{i}"), "lang": "pt-BR", "text": d, "labels": []}).to_string(),
        );
    }
    std::fs::write(dir.join("extra.jsonl"), lines.join("\n") + "\n").unwrap();
    let config = format!(
        "task: triage\nbase_model: {}\nguard_dir: {}\nsources:\n  guard_sets: {guard_sets}\n  \
         extra: [extra.jsonl]\ndedup:\n  near_cosine: 0.97\nsplit:\n  validation: 0.25\n  \
         test: 0.2\nbalance: class_weights\nseed: 7\nhead:\n  freeze: {freeze}\n  max_epochs: 60\n  \
         batch_size: 16\n  learning_rate: 0.05\n  weight_decay: 0.0001\n  patience: 20\n  \
         target_recall: 0.99\n  encoder_epochs: 3\n  encoder_patience: 3\n  \
         encoder_learning_rate: 0.0002\nprocessed: processed\nmodels: models\n",
        encoder_dir().display(),
        repo().join("guard").display()
    );
    let path = dir.join("triage.yaml");
    std::fs::write(&path, config).unwrap();
    path
}

#[test]
fn prepare_refuses_the_guards_held_out_parts() {
    for part in ["heldout4", "output"] {
        let tmp = tempfile::tempdir().unwrap();
        let held = repo().join("evalsets/guard").join(part);
        let config = setup(tmp.path(), &format!("[{}]", held.display()), &[]);
        let err = prepare::prepare(&config, Some("x"), &embedder()).expect_err(part);
        assert!(matches!(err, TriageError::HeldOut(_)), "{part}: {err}");
        assert!(err.to_string().contains("test sets"), "{err}");
        assert!(
            !tmp.path().join("processed").exists(),
            "nothing was written"
        );
    }
    // An extra file inside a held-out folder is refused too, and so is any later part.
    let err = prepare::refuse_held_out(&repo().join("evalsets/guard/heldout4/red_flag.jsonl"))
        .expect_err("extra file");
    assert!(err.to_string().contains("heldout4"), "{err}");
    let err = prepare::refuse_held_out(&repo().join("evalsets/guard/heldout9/benign.jsonl"))
        .expect_err("a future part");
    assert!(err.to_string().contains("heldout9"), "{err}");
    prepare::refuse_held_out(&repo().join("evalsets/guard/dev")).expect("dev is allowed");
    // The parts retired into training (they measured the versions before, docs/ml.md).
    for part in prepare::RETIRED {
        prepare::refuse_held_out(&repo().join("evalsets/guard").join(part))
            .unwrap_or_else(|e| panic!("{part} is retired into training: {e}"));
    }
}

#[test]
fn prepare_removes_duplicates_redacts_and_reports_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let config = setup(
        tmp.path(),
        "[]",
        &[
            "Qual  fruta é BOA na gravidez", // exact duplicate once normalised
            "qual fruta é boa na gravidez?", // near duplicate
            "meu cpf é 529.982.247-25, tudo bem", // redacted
        ],
    );
    let p = prepare::prepare(&config, Some("one"), &embedder()).expect("prepare");
    let r = &p.report;
    assert_eq!(r.read, MESSAGES.len() + 3);
    assert_eq!(r.exact_duplicates_removed, 1);
    assert!(r.near_duplicates_removed >= 1, "{r:?}");
    assert_eq!(r.redacted, 1);
    let kept: usize = r.counts.values().flat_map(|c| c.values()).sum();
    assert_eq!(
        kept,
        r.read - r.exact_duplicates_removed - r.near_duplicates_removed
    );
    assert_eq!(r.counts["test"]["red_flag"], 2, "stratified: 20 % of 10");
    assert_eq!(r.counts["validation"]["red_flag"], 3, "25 % of 10, rounded");
    let text = std::fs::read_to_string(p.dir.join("train.jsonl")).unwrap()
        + &std::fs::read_to_string(p.dir.join("validation.jsonl")).unwrap()
        + &std::fs::read_to_string(p.dir.join("test.jsonl")).unwrap();
    assert!(
        !text.contains("529.982.247-25"),
        "PII never reaches the dataset"
    );
    assert!(p.dir.join("dataset_report.json").is_file());
}

#[test]
fn the_same_data_and_seed_train_the_same_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let config = setup(tmp.path(), "[]", &[]);
    let p = prepare::prepare(&config, Some("d"), &embedder()).expect("prepare");
    let a = run::run(&config, Some(&p.dir), &embedder()).expect("run a");
    std::fs::remove_dir_all(tmp.path().join("models")).unwrap();
    let b = run::run(&config, Some(&p.dir), &embedder()).expect("run b");
    assert_eq!(a.version, b.version);
    assert_eq!(a.weights_sha256, b.weights_sha256);
    for f in [
        "head.safetensors",
        "triage.json",
        "metrics.json",
        "modelcard.yaml",
    ] {
        assert!(b.dir.join(f).is_file(), "{f}");
    }
    assert!(b.tarball.is_file());
    let m = &b.metrics;
    for key in [
        "git_sha",
        "data_sha256",
        "seed",
        "cpu_seconds",
        "thresholds",
    ] {
        assert!(!m[key].is_null(), "metrics.json has {key}");
    }
    assert!(m["test"]["confusion"].is_array());
}

/// A message the lexicons miss, read by the classifier trained above as a red flag.
const MISSED: &str = "socorro, sinto que tem algo muito errado acontecendo comigo";

#[tokio::test]
async fn the_installed_classifier_escalates_what_the_lexicons_missed_and_keeps_theirs() {
    let plain = Guard::load(&repo().join("guard")).unwrap();
    assert_eq!(
        plain.check_input(MISSED, Some("pt-BR")).decision,
        Decision::Pass
    );

    let tmp = tempfile::tempdir().unwrap();
    let config = setup(tmp.path(), "[]", &[]);
    let p = prepare::prepare(&config, Some("d"), &embedder()).expect("prepare");
    let model = run::run(&config, Some(&p.dir), &embedder()).expect("run");
    let app = spawn_app_with(Spawn {
        extra_toml: format!(
            "[guard]\ntriage_model = \"{}\"\ntriage_encoder = \"{}\"\n",
            model.dir.display(),
            encoder_dir().display()
        ),
        ..Spawn::default()
    })
    .await;

    let res = app
        .post("/v1/chat/completions", &common::chat("gpt-echo", MISSED))
        .await;
    assert_eq!(res.status(), 200);
    let answer: serde_json::Value = res.json().await.unwrap();
    let guard = &answer["powerbirth"]["guard"];
    assert_eq!(guard["decision"], "escalate", "{guard}");
    assert_eq!(guard["categories"], json!(["red_flag"]), "{guard}");
    assert_eq!(
        guard["second_opinion"],
        json!(["triage"]),
        "which source fired: {guard}"
    );
    let text = answer["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(
        text.starts_with(&common::notice("urgent", "pt-BR")),
        "{text}"
    );

    // A lexicon escalation stays, whatever the classifier reads.
    let res = app
        .post(
            "/v1/chat/completions",
            &common::chat("gpt-echo", "to sangrando muito"),
        )
        .await;
    let answer: serde_json::Value = res.json().await.unwrap();
    let guard = &answer["powerbirth"]["guard"];
    assert_eq!(guard["decision"], "escalate", "{guard}");
    assert!(
        guard["categories"]
            .as_array()
            .unwrap()
            .contains(&json!("red_flag"))
    );
}

/// metrics.json without what a clock measures.
fn numbers(metrics: &serde_json::Value) -> serde_json::Value {
    let mut m = metrics.clone();
    for key in ["cpu_seconds", "wall_seconds", "created_at"] {
        m.as_object_mut().unwrap().remove(key);
    }
    m
}

#[test]
fn freeze_one_trains_the_last_encoder_layer_with_the_head_deterministically() {
    let tmp = tempfile::tempdir().unwrap();
    let config = setup_with(tmp.path(), "[]", &[], 1);
    // One epoch of layer + head is enough to move the layer and to compare two runs; the three of
    // the shared config made this the suite's slowest test.
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("encoder_epochs: 3", "encoder_epochs: 1"),
    )
    .unwrap();
    let p = prepare::prepare(&config, Some("d"), &embedder()).expect("prepare");
    let a = run::run(&config, Some(&p.dir), &embedder()).expect("run a");
    std::fs::remove_dir_all(tmp.path().join("models")).unwrap();
    let b = run::run(&config, Some(&p.dir), &embedder()).expect("run b");
    assert_eq!(
        a.weights_sha256, b.weights_sha256,
        "same seed, same weights"
    );
    assert_eq!(
        numbers(&a.metrics),
        numbers(&b.metrics),
        "same metrics.json"
    );
    assert_eq!(b.metrics["encoder_layers"]["trained"], 1);

    // Only the last layer (of 6) is in the version, and it moved from the pre-trained weights.
    let trained = candle_core::safetensors::load(
        b.dir.join("encoder_layers.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let base = candle_core::safetensors::load(
        encoder_dir().join("model.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    assert_eq!(trained.len(), 16, "{:?}", trained.keys());
    assert!(
        trained.keys().all(|k| k.starts_with("encoder.layer.5.")),
        "no lower layer is trained: {:?}",
        trained.keys()
    );
    let moved = trained
        .iter()
        .filter(|(name, t)| {
            let diff = (*t - &base[*name]).unwrap().abs().unwrap();
            diff.max_all().unwrap().to_scalar::<f32>().unwrap() > 0.0
        })
        .count();
    assert!(
        moved >= 12,
        "the last layer's weights changed: {moved} of 16"
    );

    // The request path loads it: the base encoder with the last layer swapped in.
    let model = TriageModel::load(&b.dir, &encoder_dir()).expect("loads");
    assert_eq!(model.file.trained_layers, 1);
    let p = model.proba(&[MISSED]).unwrap();
    assert!((p[0].iter().sum::<f64>() - 1.0).abs() < 1e-6);
}

#[test]
fn a_freeze_beyond_the_encoders_layers_is_refused_naming_the_field_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let config = setup_with(tmp.path(), "[]", &[], 7);
    let err = TriageConfig::load(&config).expect_err("7 of 6 layers");
    let text = std::fs::read_to_string(&config).unwrap();
    let line = text.lines().position(|l| l.contains("freeze:")).unwrap() + 1;
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("{}:{line}: ", config.display())),
        "{msg}"
    );
    assert!(msg.contains("head.freeze = 7"), "{msg}");
    assert!(msg.contains("has 6 layers"), "{msg}");
    // 6 of 6 is allowed (every layer trains).
    let config = setup_with(tmp.path(), "[]", &[], 6);
    TriageConfig::load(&config).expect("6 of 6 layers");
}
