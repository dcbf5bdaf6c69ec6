//! The Helm chart in deploy/k8s/, for each values file: `helm lint --strict` and `helm template`
//! through Helm v4's own library (scripts/helm-offline.py), the built-in kinds (and the Rollout's
//! pod template and the analysis Job, wrapped as a Deployment and a Job) through
//! kubernetes-validate for Kubernetes 1.34, and the Argo Rollouts and prometheus-operator
//! resources against the CRD schemas those projects publish (deploy/k8s/crds-schema/), with
//! unknown fields refused as the API server's strict field validation does.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{repo, run, text, tool};

/// The Kubernetes version the manifests are validated for (kubernetes-validate's schemas).
pub const KUBE_VERSION: &str = "1.34.0";
const VALUES: [Option<&str>; 3] = [
    None,
    Some("deploy/k8s/values-staging.yaml"),
    Some("deploy/k8s/values-production.yaml"),
];

fn values_args(values: Option<&str>) -> Vec<String> {
    let mut args = vec!["-f".to_string(), "deploy/k8s/values.yaml".to_string()];
    if let Some(v) = values {
        args.extend(["-f".to_string(), v.to_string()]);
    }
    args
}

/// `helm template` with `--set` pairs; the rendered documents.
fn render(python: &Path, values: Option<&str>, sets: &[&str]) -> Vec<Value> {
    let mut args = vec!["scripts/helm-offline.py", "template", "deploy/k8s"];
    let v = values_args(values);
    args.extend(v.iter().map(String::as_str));
    for s in sets {
        args.extend(["--set", s]);
    }
    let out = run(python, &args);
    assert!(
        out.status.success(),
        "helm template {values:?}:\n{}",
        text(&out)
    );
    let yaml = String::from_utf8(out.stdout).unwrap();
    serde_norway::Deserializer::from_str(&yaml)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|d| !d.is_null())
        .collect()
}

fn kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

#[test]
fn every_values_file_passes_helm_lint_strict() {
    let Some(python) = tool("python") else { return };
    for values in VALUES {
        let mut args = vec![
            "scripts/helm-offline.py",
            "lint",
            "deploy/k8s",
            "--kube-version",
            "v1.34.0",
        ];
        let v = values_args(values);
        args.extend(v.iter().map(String::as_str));
        let out = run(&python, &args);
        assert!(
            out.status.success(),
            "helm lint {values:?}:\n{}",
            text(&out)
        );
        assert!(
            text(&out).contains("1 chart(s) linted, no failures"),
            "{}",
            text(&out)
        );
    }
}

#[test]
fn every_values_file_renders_what_kubernetes_accepts() {
    let (Some(python), Some(validate)) = (tool("python"), tool("kubernetes-validate")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for (i, values) in VALUES.iter().enumerate() {
        let docs = render(&python, *values, &[]);
        let mut builtin: Vec<Value> = docs
            .iter()
            .filter(|d| !d["apiVersion"].as_str().unwrap().contains("argoproj.io"))
            .filter(|d| d["kind"] != "ServiceMonitor")
            .cloned()
            .collect();
        assert_eq!(
            builtin.len(),
            6,
            "ConfigMap, 2 Services, HPA, PDB, NetworkPolicy: {builtin:#?}"
        );
        // The pod template and the analysis Job are core Kubernetes types inside custom
        // resources: validate them as what they are.
        let rollout = kind(&docs, "Rollout")[0];
        builtin.push(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "rollout-pod-template"},
            "spec": {"selector": rollout["spec"]["selector"], "template": rollout["spec"]["template"]}}));
        for m in kind(&docs, "AnalysisTemplate")[0]["spec"]["metrics"]
            .as_array()
            .unwrap()
        {
            if let Some(job) = m["provider"]["job"].as_object() {
                builtin.push(json!({"apiVersion": "batch/v1", "kind": "Job",
                    "metadata": {"name": m["name"]}, "spec": job["spec"]}));
            }
        }
        let file = dir.path().join(format!("rendered-{i}.yaml"));
        let yaml: Vec<String> = builtin
            .iter()
            .map(|d| serde_norway::to_string(d).unwrap())
            .collect();
        std::fs::write(&file, yaml.join("---\n")).unwrap();
        let out = run(
            &validate,
            &["-k", KUBE_VERSION, "--strict", file.to_str().unwrap()],
        );
        let report = text(&out);
        assert!(out.status.success(), "{values:?}:\n{report}");
        assert_eq!(
            report.matches(" passed for resource ").count(),
            builtin.len(),
            "{report}"
        );
    }
}

#[test]
fn kubernetes_validate_refuses_an_unknown_field_under_strict() {
    let Some(validate) = tool("kubernetes-validate") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {portz: []}\n",
    )
    .unwrap();
    let out = run(
        &validate,
        &["-k", KUBE_VERSION, "--strict", file.to_str().unwrap()],
    );
    assert!(!out.status.success(), "{}", text(&out));
}

/// A CRD's served schema, with `additionalProperties: false` wherever it lists properties and
/// does not preserve unknown fields (what `kubectl apply --validate=strict` enforces).
fn strict_schema(crd_file: &str) -> Value {
    let text =
        std::fs::read_to_string(repo().join("deploy/k8s/crds-schema").join(crd_file)).unwrap();
    let crd: Value = serde_norway::from_str(&text).unwrap();
    let version = crd["spec"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["served"] == true && v["storage"] == true)
        .unwrap();
    let mut schema = version["schema"]["openAPIV3Schema"].clone();
    fn strict(s: &mut Value) {
        match s {
            Value::Object(map) => {
                if map.contains_key("properties")
                    && map.get("x-kubernetes-preserve-unknown-fields") != Some(&json!(true))
                    && !map.contains_key("additionalProperties")
                {
                    map.insert("additionalProperties".into(), json!(false));
                }
                map.values_mut().for_each(strict);
            }
            Value::Array(items) => items.iter_mut().for_each(strict),
            _ => {}
        }
    }
    strict(&mut schema);
    schema
}

/// Runs check-jsonschema once for `schema` over every document of `docs` (one Python start per
/// schema, not per document); each document is written to `dir` under its name, which the
/// checker's errors quote.
fn check_against(
    checker: &Path,
    schema: &Value,
    docs: &[(String, &Value)],
    dir: &Path,
) -> std::process::Output {
    let schema_file = dir.join("schema.json");
    std::fs::write(&schema_file, schema.to_string()).unwrap();
    let mut args = vec![
        "--schemafile".to_string(),
        schema_file.display().to_string(),
    ];
    for (name, doc) in docs {
        let doc_file = dir.join(format!("{name}.json"));
        std::fs::write(&doc_file, doc.to_string()).unwrap();
        args.push(doc_file.display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(checker, &args)
}

#[test]
fn the_custom_resources_follow_the_published_crd_schemas() {
    let (Some(python), Some(checker)) = (tool("python"), tool("check-jsonschema")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let schemas = [
        ("Rollout", strict_schema("argo-rollouts-rollout-crd.yaml")),
        (
            "AnalysisTemplate",
            strict_schema("argo-rollouts-analysis-template-crd.yaml"),
        ),
        (
            "ServiceMonitor",
            strict_schema("prometheus-operator-servicemonitor-crd.yaml"),
        ),
    ];
    let rendered: Vec<(String, Vec<Value>)> = VALUES
        .iter()
        .map(|values| {
            let name = values.map_or("values", |v| v.rsplit('/').next().unwrap());
            (
                name.trim_end_matches(".yaml").to_string(),
                render(&python, *values, &[]),
            )
        })
        .collect();
    for (k, schema) in &schemas {
        let docs: Vec<(String, &Value)> = rendered
            .iter()
            .map(|(name, docs)| {
                let found = kind(docs, k);
                assert_eq!(found.len(), 1, "{name}: one {k}");
                (format!("{name}-{k}"), found[0])
            })
            .collect();
        let out = check_against(&checker, schema, &docs, dir.path());
        assert!(out.status.success(), "{k}:\n{}", text(&out));
        assert!(
            text(&out).contains("ok"),
            "{k}: three documents checked:\n{}",
            text(&out)
        );
    }
    // The strict schema does catch a misspelt field.
    let mut rollout = kind(&rendered[0].1, "Rollout")[0].clone();
    rollout["spec"]["strategy"]["canary"]["steps"][1]["analysis"]["tempaltes"] = json!([]);
    let out = check_against(
        &checker,
        &schemas[0].1,
        &[("misspelt-Rollout".to_string(), &rollout)],
        dir.path(),
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("tempaltes"), "{}", text(&out));
}

#[test]
fn the_canary_goes_10_analysis_50_pause_analysis_100_between_stable_and_canary_services() {
    let Some(python) = tool("python") else { return };
    let docs = render(&python, Some("deploy/k8s/values-production.yaml"), &[]);
    let rollout = kind(&docs, "Rollout")[0];
    let canary = &rollout["spec"]["strategy"]["canary"];
    let steps: Vec<String> = canary["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| match s.as_object().unwrap().iter().next().unwrap() {
            (k, v) if k == "setWeight" => format!("{v}%"),
            (k, _) => k.clone(),
        })
        .collect();
    assert_eq!(
        steps,
        ["10%", "analysis", "50%", "pause", "analysis", "100%"]
    );
    assert_eq!(canary["stableService"], "powerbirth-powerbirth-stable");
    assert_eq!(canary["canaryService"], "powerbirth-powerbirth-canary");
    let services: Vec<&str> = kind(&docs, "Service")
        .iter()
        .map(|s| s["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        services,
        [
            "powerbirth-powerbirth-stable",
            "powerbirth-powerbirth-canary"
        ]
    );
}

#[test]
fn the_analysis_gates_risk_p95_errors_and_cost_and_runs_monitor_canary() {
    let Some(python) = tool("python") else { return };
    let docs = render(&python, Some("deploy/k8s/values-production.yaml"), &[]);
    let template = kind(&docs, "AnalysisTemplate")[0];
    let metrics = template["spec"]["metrics"].as_array().unwrap();
    let by_name = |n: &str| {
        metrics
            .iter()
            .find(|m| m["name"] == n)
            .unwrap_or_else(|| panic!("no {n}"))
    };
    let p95 = by_name("risk-p95");
    let query = p95["provider"]["prometheus"]["query"].as_str().unwrap();
    assert!(
        query.contains("histogram_quantile(0.95")
            && query.contains("powerbirth_risk_request_duration_seconds_bucket"),
        "{query}"
    );
    assert!(
        query.contains("service=\"{{args.canary-service}}\""),
        "{query}"
    );
    assert!(
        p95["successCondition"]
            .as_str()
            .unwrap()
            .contains("result[0] < 0.3")
    );
    let errors = by_name("error-rate")["provider"]["prometheus"]["query"]
        .as_str()
        .unwrap();
    assert!(
        errors.contains("powerbirth_http_requests_total") && errors.contains("status=~\"5..\""),
        "{errors}"
    );
    let cost = by_name("cost-per-message");
    let query = cost["provider"]["prometheus"]["query"].as_str().unwrap();
    assert!(
        query.contains("powerbirth_cost_per_message_change_ratio") && query.contains("model=\"*\""),
        "{query}"
    );
    assert!(
        cost["successCondition"]
            .as_str()
            .unwrap()
            .ends_with("result[0] <= 0.2")
    );
    // No series yet (no risk traffic on the canary) gives 0, not an analysis error.
    for gate in [p95, by_name("error-rate"), cost] {
        let q = gate["provider"]["prometheus"]["query"].as_str().unwrap();
        assert!(q.trim_end().ends_with("or vector(0)"), "{q}");
    }
    for metric in ["latency_ms", "cost_usd"] {
        let job = by_name(&format!("canary-{}", metric.replace('_', "-")));
        let args: Vec<&str> =
            job["provider"]["job"]["spec"]["template"]["spec"]["containers"][0]["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
        let line = args.join(" ");
        assert!(
            line.starts_with("monitor canary --config /etc/powerbirth/powerbirth.toml --candidate release={{args.canary-hash}} --baseline release={{args.stable-hash}} --metric ")
                && line.contains(&format!("--metric {metric} "))
                && line.ends_with("--format json"),
            "{line}"
        );
    }
}

fn env_of(container: &Value) -> HashMap<String, Value> {
    container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap().to_string(), e.clone()))
        .collect()
}

#[test]
fn the_pods_get_their_secrets_probes_image_and_model_version() {
    let Some(python) = tool("python") else { return };
    let docs = render(
        &python,
        Some("deploy/k8s/values-staging.yaml"),
        &["image.tag=abc123", "model.version=20261207-risk"],
    );
    let pod = &kind(&docs, "Rollout")[0]["spec"]["template"];
    let c = &pod["spec"]["containers"][0];
    assert_eq!(c["image"], "ghcr.io/powerbirth/powerbirth:abc123");
    assert_eq!(
        pod["metadata"]["labels"]["powerbirth.io/model-version"],
        "20261207-risk"
    );
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(pod["spec"]["securityContext"]["runAsNonRoot"], true);
    let env = env_of(c);
    assert_eq!(env["POWERBIRTH_MODEL_VERSION"]["value"], "20261207-risk");
    // The release each exchange is logged under (monitoring's `[server] release`): the pod's
    // template hash, which the analysis passes as candidate and baseline.
    assert_eq!(
        env["POWERBIRTH_RELEASE"]["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.labels['rollouts-pod-template-hash']"
    );
    for (var, secret) in [
        ("POWERBIRTH_DATABASE__URL", "powerbirth-staging-database"),
        ("POWERBIRTH_REDIS__URL", "powerbirth-redis"),
        ("POWERBIRTH_PSEUDONYM_KEY", "powerbirth-pseudonym"),
        ("OPENAI_API_KEY", "powerbirth-upstream"),
        ("POWERBIRTH_METRICS_TOKEN", "powerbirth-metrics"),
    ] {
        assert_eq!(
            env[var]["valueFrom"]["secretKeyRef"]["name"], secret,
            "{var}"
        );
    }
    for var in [
        "POWERBIRTH_FEATURES__SCHEMA_VERSION",
        "POWERBIRTH_FEATURES__KEY_PREFIX",
        "POWERBIRTH_FEATURES__REDIS_TTL_S",
    ] {
        assert!(env.contains_key(var), "feature-store variable {var}");
    }
    assert_eq!(
        env["POWERBIRTH_FEATURES__KEY_PREFIX"]["value"],
        "pb:staging:features"
    );
}

#[test]
fn the_config_map_is_a_configuration_the_loader_accepts_and_the_pod_outlives_its_grace() {
    let Some(python) = tool("python") else { return };
    let docs = render(&python, Some("deploy/k8s/values-staging.yaml"), &[]);
    let pod = &kind(&docs, "Rollout")[0]["spec"]["template"];
    // The ConfigMap is a configuration the real loader accepts, with the pod's secrets as
    // environment (paths under /app/ pointed at this checkout), and the pod outlives its grace.
    let config_map = kind(&docs, "ConfigMap")[0];
    let toml = config_map["data"]["powerbirth.toml"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("powerbirth.toml");
    std::fs::write(
        &path,
        toml.replace("\"/app/", &format!("\"{}/", repo().display())),
    )
    .unwrap();
    let vars: HashMap<String, String> = [
        (
            "POWERBIRTH_DATABASE__URL",
            "postgres://pb@db:5432/powerbirth",
        ),
        ("POWERBIRTH_REDIS__URL", "redis://redis:6379"),
        ("POWERBIRTH_METRICS_TOKEN", "t"),
        ("OPENAI_API_KEY", "k"),
        ("POWERBIRTH_RATELIMIT__DEFAULT_RPM", "120"),
        ("POWERBIRTH_FEATURES__SCHEMA_VERSION", "1"),
        ("POWERBIRTH_FEATURES__KEY_PREFIX", "pb:staging:features"),
        ("POWERBIRTH_FEATURES__REDIS_TTL_S", "604800"),
        ("POWERBIRTH_RELEASE", "6d4f9b8c7"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let config = powerbirth::config::Config::load_with_env(&path, &vars).unwrap();
    assert_eq!(config.database.url, "postgres://pb@db:5432/powerbirth");
    let grace = pod["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .unwrap();
    assert!(
        grace > config.server.shutdown_grace.as_secs() + 5,
        "terminationGracePeriodSeconds {grace} must exceed shutdown_grace_s {} plus the preStop pause",
        config.server.shutdown_grace.as_secs()
    );
    for k in [
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "ServiceMonitor",
    ] {
        assert_eq!(kind(&docs, k).len(), 1, "{k}");
    }
    assert_eq!(
        kind(&docs, "HorizontalPodAutoscaler")[0]["spec"]["scaleTargetRef"]["kind"],
        "Rollout"
    );
}
