//! The triage fine-tuning's Argo Workflows template (`deploy/argo/finetune-workflow.yaml`),
//! offline: check-jsonschema against the strict WorkflowTemplate schema that
//! `scripts/argo-schema.py` writes from hera's models (Argo's OpenAPI spec; unknown fields
//! refused), and the schema does refuse a misspelt field and a wrong type; the steps' order, the
//! hand-over of the version folder, the Secrets, the finetune image's user; every `powerbirth`
//! command line the template runs, with its parameters substituted, parsed by the real CLI
//! (`Cli::try_parse_from`), and a misspelt flag fails that check. No cluster: what Argo's
//! controller does with the template (scheduling, the volume, output parameters) is not run here.

use std::path::{Path, PathBuf};

use clap::Parser;
use serde_json::Value;

use super::{repo, run, text, tool};

const TEMPLATE: &str = "deploy/argo/finetune-workflow.yaml";

/// What `run` hands to the later steps (`{{inputs.parameters.version-dir}}`): a version folder
/// as `finetune run` names it (12 hex digits under the config's `models`).
const VERSION_DIR: &str = "models/triage/0123456789ab";

/// check-jsonschema and the WorkflowTemplate schema of the deploy venv, or `None` after a skip
/// (outside CI). A venv without the schema is a broken install: that fails.
fn checker() -> Option<(PathBuf, PathBuf)> {
    let check = tool("check-jsonschema")?;
    let venv = check.parent().and_then(Path::parent).unwrap();
    let schema = venv.join("share/argo-schemas/workflowtemplate.json");
    assert!(
        schema.exists(),
        "{} is missing: run scripts/install-deploy-tools.sh",
        schema.display()
    );
    Some((check, schema))
}

fn validate(check: &Path, schema: &Path, file: &str) -> std::process::Output {
    run(check, &["--schemafile", schema.to_str().unwrap(), file])
}

fn source() -> String {
    std::fs::read_to_string(repo().join(TEMPLATE)).unwrap()
}

fn parse(yaml: &str) -> Value {
    serde_norway::from_str(yaml).unwrap()
}

/// The template named `name`.
fn template<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["spec"]["templates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no template {name}"))
}

fn containers(doc: &Value) -> Vec<(&str, &Value)> {
    doc["spec"]["templates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t.get("container").is_some())
        .map(|t| (t["name"].as_str().unwrap(), &t["container"]))
        .collect()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

#[test]
fn the_template_follows_argos_workflowtemplate_schema() {
    let Some((check, schema)) = checker() else {
        return;
    };
    let out = validate(&check, &schema, TEMPLATE);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn the_schema_refuses_a_misspelt_field_and_a_wrong_type() {
    // The check must be able to say no, or a clean run above proves nothing.
    let Some((check, schema)) = checker() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let original = source();
    for (from, to, what) in [
        (
            "workingDir: /work",
            "workingDirectory: /work",
            "workingDirectory",
        ),
        ("secretKeyRef:", "secretKeyReference:", "secretKeyReference"),
        ("optional: true", "optional: \"maybe\"", "maybe"),
        ("storage: 2Gi", "storage: [2Gi]", "['2Gi']"),
    ] {
        let broken = original.replacen(from, to, 1);
        assert_ne!(broken, original, "{from:?} is not in the template");
        let file = dir.path().join("broken.yaml");
        std::fs::write(&file, &broken).unwrap();
        let out = validate(&check, &schema, file.to_str().unwrap());
        assert!(!out.status.success(), "{to:?} was accepted");
        assert!(text(&out).contains(what), "{to:?}: {}", text(&out));
    }
}

#[test]
fn the_steps_stage_then_prepare_run_evaluate_register_one_after_another() {
    let doc = parse(&source());
    let entry = template(&doc, doc["spec"]["entrypoint"].as_str().unwrap());
    let groups = entry["steps"].as_array().unwrap();
    let names: Vec<&str> = groups
        .iter()
        .map(|g| {
            let g = g.as_array().unwrap();
            assert_eq!(g.len(), 1, "one step at a time: {g:?}");
            g[0]["name"].as_str().unwrap()
        })
        .collect();
    assert_eq!(names, ["stage", "prepare", "run", "evaluate", "register"]);
    // `run` hands over the folder it wrote; evaluate and register take exactly that one.
    let output = &template(&doc, "run")["outputs"]["parameters"][0];
    assert_eq!(output["name"], "version-dir");
    assert!(
        output["valueFrom"]["path"]
            .as_str()
            .unwrap()
            .starts_with("/tmp/")
    );
    for step in &groups[3..] {
        let argument = &step[0]["arguments"]["parameters"][0];
        assert_eq!(argument["name"], "version-dir");
        assert_eq!(
            argument["value"],
            "{{steps.run.outputs.parameters.version-dir}}"
        );
    }
    let stage = strings(&template(&doc, "stage")["container"]["args"]).join(" ");
    assert!(stage.contains("cp -R /app/. /work/"), "{stage}");
}

#[test]
fn every_step_runs_the_finetune_image_as_its_user_in_work_with_a_writable_tmp() {
    let doc = parse(&source());
    let image = &doc["spec"]["arguments"]["parameters"][0];
    assert_eq!(image["name"], "image");
    assert!(
        image["value"]
            .as_str()
            .unwrap()
            .contains("powerbirth-finetune:"),
        "{image}"
    );
    // The user of the Dockerfile's finetune stage, which owns nothing in /app: the volume is
    // made writable by fsGroup.
    let dockerfile = std::fs::read_to_string(repo().join("deploy/Dockerfile")).unwrap();
    let stage = dockerfile
        .split(" AS finetune\n")
        .nth(1)
        .expect("a finetune stage");
    let stage = stage.split("\nFROM ").next().unwrap();
    assert!(stage.contains("\nUSER 10001:10001\n"), "{stage}");
    let pod = &doc["spec"]["securityContext"];
    for key in ["runAsUser", "runAsGroup", "fsGroup"] {
        assert_eq!(pod[key], 10001, "{key}");
    }
    assert_eq!(pod["runAsNonRoot"], true);
    assert_eq!(doc["spec"]["volumes"][0]["emptyDir"], serde_json::json!({}));
    let containers = containers(&doc);
    assert_eq!(containers.len(), 5);
    for (name, c) in containers {
        assert_eq!(c["image"], "{{workflow.parameters.image}}", "{name}");
        assert_eq!(c["workingDir"], "/work", "{name}");
        let mounts: Vec<(&str, &str)> = c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["name"].as_str().unwrap(),
                    m["mountPath"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(mounts, [("work", "/work"), ("tmp", "/tmp")], "{name}");
        assert_eq!(
            c["securityContext"]["readOnlyRootFilesystem"], true,
            "{name}"
        );
        assert_eq!(
            c["securityContext"]["allowPrivilegeEscalation"], false,
            "{name}"
        );
    }
}

#[test]
fn credentials_come_only_from_the_named_kubernetes_secrets() {
    let source = source();
    let doc = parse(&source);
    let mut seen = Vec::new();
    for (name, c) in containers(&doc) {
        for var in c["env"].as_array().into_iter().flatten() {
            let var_name = var["name"].as_str().unwrap();
            assert!(
                var.get("value").is_none(),
                "{name}: {var_name} is a literal"
            );
            let secret = &var["valueFrom"]["secretKeyRef"];
            let expected = if var_name.starts_with("MLFLOW_") {
                "powerbirth-mlflow"
            } else {
                "powerbirth-hub"
            };
            assert_eq!(secret["name"], expected, "{name}: {var_name}");
            seen.push((name, var_name, secret["key"].as_str().unwrap()));
        }
    }
    for expected in [
        ("register", "MLFLOW_TRACKING_URI", "tracking-uri"),
        ("register", "MLFLOW_TRACKING_USERNAME", "username"),
        ("register", "MLFLOW_TRACKING_PASSWORD", "password"),
        ("prepare", "HF_TOKEN", "token"),
        ("run", "HF_TOKEN", "token"),
    ] {
        assert!(seen.contains(&expected), "{expected:?} not in {seen:?}");
    }
    // Only `register` talks to MLflow: `finetune run` registers by itself when it sees
    // MLFLOW_TRACKING_URI, which would register every version twice.
    assert!(
        seen.iter()
            .all(|(step, var, _)| !var.starts_with("MLFLOW_") || *step == "register"),
        "{seen:?}"
    );
    assert!(!source.contains("kind: Secret") && !source.contains("stringData"));
}

/// `{{workflow.parameters.*}}` from the template's arguments and `{{inputs.parameters.*}}` as
/// the step receives them; an unknown or unsubstituted parameter is an error.
fn substitute(doc: &Value, template: &str, token: &str) -> Result<String, String> {
    let mut out = token.to_string();
    for p in doc["spec"]["arguments"]["parameters"].as_array().unwrap() {
        let placeholder = format!(
            "{{{{workflow.parameters.{}}}}}",
            p["name"].as_str().unwrap()
        );
        out = out.replace(&placeholder, p["value"].as_str().unwrap());
    }
    let inputs = self::template(doc, template)["inputs"]["parameters"].clone();
    for p in inputs.as_array().into_iter().flatten() {
        let name = p["name"].as_str().unwrap();
        let value = match name {
            "version-dir" => VERSION_DIR,
            other => return Err(format!("{template}: no sample value for input {other}")),
        };
        out = out.replace(&format!("{{{{inputs.parameters.{name}}}}}"), value);
    }
    if out.contains("{{") {
        return Err(format!("{template}: {out} keeps a parameter no one gives"));
    }
    Ok(out)
}

/// Every `powerbirth` command line of the template (exec form, or a line of a `sh -c` script),
/// with the step's name, as argv after substitution.
fn command_lines(yaml: &str) -> Result<Vec<(String, Vec<String>)>, String> {
    let doc = parse(yaml);
    let mut lines = Vec::new();
    for (name, c) in containers(&doc) {
        let command = strings(&c["command"]);
        let args = strings(&c["args"]);
        let mut raw: Vec<Vec<String>> = Vec::new();
        if command == ["/bin/sh", "-c"] {
            for line in args[0].lines().map(str::trim) {
                if line.starts_with("powerbirth ") {
                    let words = line.split_whitespace();
                    raw.push(words.map(|w| w.trim_matches('"').to_string()).collect());
                }
            }
        } else {
            assert_eq!(command, ["powerbirth"], "{name}: exec form runs powerbirth");
            raw.push(command.into_iter().chain(args).collect());
        }
        for argv in raw {
            let argv = argv
                .iter()
                .map(|w| substitute(&doc, name, w))
                .collect::<Result<Vec<_>, _>>()?;
            lines.push((name.to_string(), argv));
        }
    }
    Ok(lines)
}

/// The template's command lines through the real CLI's parser: how many, or the first refusal.
fn check_command_lines(yaml: &str) -> Result<Vec<String>, String> {
    let mut parsed = Vec::new();
    for (step, argv) in command_lines(yaml)? {
        powerbirth::cli::Cli::try_parse_from(&argv)
            .map_err(|e| format!("{step}: {}: {e}", argv.join(" ")))?;
        parsed.push(format!("{step}: {}", argv.join(" ")));
    }
    Ok(parsed)
}

#[test]
fn every_powerbirth_command_line_parses_with_the_real_cli() {
    let lines = check_command_lines(&source()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        lines,
        [
            "prepare: powerbirth --config training/configs/triage.yaml finetune prepare --name argo",
            "run: powerbirth --config training/configs/triage.yaml finetune run --data \
             data/processed/triage/argo",
            "evaluate: powerbirth --config powerbirth.toml eval guard --triage \
             models/triage/0123456789ab",
            "register: powerbirth models register triage --dir models/triage/0123456789ab",
        ]
    );
    // The paths they name are the repository's (the image's /app, copied to /work).
    for path in [
        "training/configs/triage.yaml",
        "powerbirth.toml",
        "evalsets/guard",
        "guard",
    ] {
        assert!(repo().join(path).exists(), "{path}");
    }
}

#[test]
fn a_misspelt_flag_or_an_unknown_parameter_fails_the_command_line_check() {
    let source = source();
    for (from, to, expected) in [
        ("- --name\n", "- --nmae\n", "'--nmae'"),
        (
            "finetune run --data",
            "finetune run --dataset",
            "'--dataset'",
        ),
        ("- --triage\n", "- --triage-model\n", "'--triage-model'"),
        ("- register\n", "- registr\n", "'registr'"),
        (
            "{{workflow.parameters.dataset}}\"",
            "{{workflow.parameters.datset}}\"",
            "{{workflow.parameters.datset}}",
        ),
    ] {
        let broken = source.replacen(from, to, 1);
        assert_ne!(broken, source, "{from:?} is not in the template");
        let err = check_command_lines(&broken).expect_err(to);
        assert!(err.contains(expected), "{to:?}: {err}");
    }
}

/// The `run` step's script as `sh` runs it in `dir` (as /work), with a stand-in `powerbirth` that
/// writes `versions` version folders (and a tarball) the way `finetune run` does.
fn run_step(dir: &Path, versions: usize) -> (std::process::Output, Option<String>) {
    let doc = parse(&source());
    let script = strings(&template(&doc, "run")["container"]["args"]).remove(0);
    let tmp = dir.join("tmp");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::create_dir_all(&bin).unwrap();
    let mut fake = String::from("#!/bin/sh\nmkdir -p models/triage\n");
    for v in 0..versions {
        fake.push_str(&format!(
            "mkdir models/triage/00000000000{v}\ntouch models/triage/triage-00000000000{v}.tar.gz\n"
        ));
    }
    let stand_in = bin.join("powerbirth");
    std::fs::write(&stand_in, fake).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&stand_in, std::fs::Permissions::from_mode(0o755)).unwrap();
    let script = script.replace("/tmp/", &format!("{}/", tmp.display()));
    let out = std::process::Command::new("sh")
        .args(["-c", &script])
        .current_dir(dir)
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .output()
        .unwrap();
    (out, std::fs::read_to_string(tmp.join("version-dir")).ok())
}

#[test]
fn the_run_step_hands_over_the_one_version_folder_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let (out, version_dir) = run_step(dir.path(), 1);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(version_dir.as_deref(), Some("models/triage/000000000000"));
    // None, or more than one (a volume that was not fresh): the step fails, nothing handed over.
    for versions in [0, 2] {
        let dir = tempfile::tempdir().unwrap();
        let (out, version_dir) = run_step(dir.path(), versions);
        assert!(!out.status.success(), "{versions}: {}", text(&out));
        assert!(text(&out).contains("expected exactly one version folder"));
        assert_eq!(version_dir, None);
    }
}

#[test]
fn the_workflows_service_account_exists_with_only_the_executors_rights() {
    let Some(validate) = tool("kubernetes-validate") else {
        return;
    };
    let file = "deploy/argo/finetune-rbac.yaml";
    let out = run(
        &validate,
        &["-k", super::chart::KUBE_VERSION, "--strict", file],
    );
    assert!(out.status.success(), "{}", text(&out));
    let text = std::fs::read_to_string(repo().join(file)).unwrap();
    let docs: Vec<Value> = serde_norway::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    let of = |kind: &str| docs.iter().find(|d| d["kind"] == kind).unwrap();
    // The account the template runs as, bound to the role.
    let account = parse(&source())["spec"]["serviceAccountName"].clone();
    assert_eq!(of("ServiceAccount")["metadata"]["name"], account);
    assert_eq!(of("RoleBinding")["subjects"][0]["name"], account);
    assert_eq!(
        of("RoleBinding")["roleRef"]["name"],
        of("Role")["metadata"]["name"]
    );
    // Only WorkflowTaskResults, only create and patch: no Secrets, no wildcard.
    let rules = of("Role")["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert_eq!(
        rules[0]["resources"],
        serde_json::json!(["workflowtaskresults"])
    );
    assert_eq!(rules[0]["verbs"], serde_json::json!(["create", "patch"]));
}
