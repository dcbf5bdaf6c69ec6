//! The image: hadolint finds nothing in deploy/Dockerfile, and the build context keeps what the
//! Dockerfile copies.

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
            if *source != "models/risk/" {
                assert!(
                    repo().join(source).exists(),
                    "{line}: {source} does not exist"
                );
            }
        }
    }
}
