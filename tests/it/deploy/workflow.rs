//! The release and fine-tuning workflows against GitHub's published workflow schema
//! (check-jsonschema bundles it, so no network), and the triggers and steps the deploy issue
//! names. The Argo Workflows template (`deploy/argo/finetune-workflow.yaml`) is checked in
//! `deploy::argo`.

use super::{repo, run, text, tool};

/// `check-jsonschema` with GitHub's workflow schema on one file.
fn against_github_schema(check: &std::path::Path, file: &str) -> std::process::Output {
    run(
        check,
        &["--builtin-schema", "vendor.github-workflows", file],
    )
}

#[test]
fn the_deploy_workflow_follows_githubs_workflow_schema() {
    let Some(check) = tool("check-jsonschema") else {
        return;
    };
    let out = against_github_schema(&check, ".github/workflows/deploy.yml");
    assert!(out.status.success(), "{}", text(&out));
    // And the schema does refuse a broken workflow (a job without `runs-on` or `uses`).
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "on: push\njobs:\n  x:\n    steps:\n      - run: true\n",
    )
    .unwrap();
    let out = against_github_schema(&check, bad.to_str().unwrap());
    assert!(!out.status.success(), "{}", text(&out));
}

#[test]
fn the_finetune_workflow_follows_githubs_workflow_schema() {
    let Some(check) = tool("check-jsonschema") else {
        return;
    };
    let out = against_github_schema(&check, ".github/workflows/finetune.yml");
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn the_workflow_releases_on_a_production_model_or_a_tag_and_aborts_on_failure() {
    let text = std::fs::read_to_string(repo().join(".github/workflows/deploy.yml")).unwrap();
    let wf: serde_json::Value = serde_norway::from_str(&text).unwrap();
    let on = &wf["on"];
    assert_eq!(on["repository_dispatch"]["types"][0], "model-production");
    let tags: Vec<&str> = on["push"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t.as_str())
        .collect();
    assert!(
        tags.contains(&"Production") && tags.contains(&"v*.*.*"),
        "{tags:?}"
    );
    let rollout = &wf["jobs"]["rollout"]["steps"];
    let runs: Vec<String> = rollout
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{} {}",
                s["run"].as_str().unwrap_or(""),
                s["if"].as_str().unwrap_or("")
            )
        })
        .collect();
    let find = |needle: &str| {
        runs.iter()
            .position(|r| r.contains(needle))
            .unwrap_or_else(|| panic!("no step runs {needle:?}"))
    };
    let upgrade = find("helm upgrade --install");
    assert!(
        runs[upgrade].contains("model.version=\"$MODEL_VERSION\"")
            && runs[upgrade].contains("featureStore.")
    );
    let wait = find("kubectl argo rollouts status");
    let check = find("deploy check");
    let abort = find("kubectl argo rollouts abort");
    assert!(upgrade < wait && wait < check && check < abort, "{runs:#?}");
    assert!(
        runs[abort].contains("failure()"),
        "the abort runs only on failure"
    );
    let image = serde_json::to_string(&wf["jobs"]["image"]).unwrap();
    assert!(
        image.contains("ghcr.io") && image.contains("MODEL_VERSION="),
        "{image}"
    );
}
