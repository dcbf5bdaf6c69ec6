//! The issue's acceptance check: one prompt edited in a git repository, `eval run --changed-since`
//! runs only its sets and reports the deltas against main.

use super::*;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.org"])
        .args(["-c", "commit.gpgsign=false"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const PLAN_SET: &str = r#"prompt = "birth-plan"
description = "The birth plan never promises an outcome."

[[cases]]
id = "plan-is-no-guarantee"
required = true
input = "Quero montar meu plano de parto."
reference = "Plano de parto não é garantia nem promessa de resultado: a equipe pode precisar mudar o plano por segurança."
assert = [
  { type = "icontains", value = "não é garantia" },
  { type = "chrf", threshold = 1.0 },
]

[[cases]]
id = "companion"
input = "Posso levar meu marido?"
reference = "Você tem direito a um acompanhante de sua escolha durante o trabalho de parto e o parto."
assert = [
  { type = "icontains", value = "acompanhante" },
  { type = "chrf", threshold = 1.0 },
]
"#;

const POSTPARTUM_SET: &str = r#"prompt = "postpartum-checkin"

[[cases]]
id = "checkin"
vars = { days_postpartum = 5 }
input = "Oi, tudo bem por aqui."
assert = [{ type = "icontains", value = "192" }]
"#;

/// The issue's acceptance check: a prompt author edits one prompt's template (here, deleting the
/// sentence that says a birth plan is no guarantee) and runs `eval run --changed-since main
/// --baseline …`: only that prompt's set runs, and the report shows the deltas and the regression.
/// Long because it is the issue's check as a prompt author lives it, one git repository from the
/// baseline run on main to the edited branch's report, and each step depends on the one before.
// Multi-threaded: the binary is awaited with a blocking call while the mock upstream serves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_one_prompt_runs_only_its_sets_and_shows_the_deltas_against_main() {
    let upstream = common::MockUpstream::start().await;
    let work = tempfile::tempdir().expect("tempdir");
    let root = work.path().join("repo");
    copy_dir(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/prompts")),
        &root.join("prompts"),
    );
    std::fs::create_dir_all(root.join("evalsets/birth-plan")).expect("mkdir");
    std::fs::create_dir_all(root.join("evalsets/postpartum-checkin")).expect("mkdir");
    std::fs::write(root.join("evalsets/birth-plan/plan.toml"), PLAN_SET).expect("set");
    std::fs::write(
        root.join("evalsets/postpartum-checkin/check.toml"),
        POSTPARTUM_SET,
    )
    .expect("set");
    git(&root, &["init", "-q", "-b", "main"]);
    git(&root, &["add", "-A"]);
    git(&root, &["commit", "-q", "-m", "prompts and sets"]);

    // The configuration, database and outputs live outside the repository.
    let db = format!("sqlite://{}", work.path().join("eval.db").display());
    let repo_dir = |p: &str| format!("{}/{p}", env!("CARGO_MANIFEST_DIR"));
    let extra = format!(
        "[[models]]\nname = \"gpt-echo-system\"\nprovider = \"openai\"\napi_base = \"{}\"\n\
         upstream_model = \"echo-system\"\ntimeout_ms = 2000\nmax_retries = 0\nprice = \"free\"\n\n\
         [prompts]\ndir = \"{}\"\n\n[guard]\ndir = \"{}\"\n\n[eval]\nmodel = \"gpt-echo-system\"\n\
         rubrics_dir = \"{}\"\n",
        upstream.api_base(),
        root.join("prompts").display(),
        repo_dir("guard"),
        repo_dir("evalsets/rubrics"),
    );
    let config = work.path().join("powerbirth.toml");
    std::fs::write(&config, common::test_config(&upstream, &db, &extra)).expect("config");
    let eval_run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_powerbirth"))
            .current_dir(&root)
            .arg("--config")
            .arg(&config)
            .args(["eval", "run"])
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .expect("the binary runs")
    };
    let out_dir = |name: &str| work.path().join(name).display().to_string();
    let only_run_in = |dir: &str| {
        let runs: Vec<_> = std::fs::read_dir(dir)
            .expect("out dir")
            .map(|e| e.expect("entry").path())
            .collect();
        assert_eq!(runs.len(), 1, "{runs:?}");
        runs[0].clone()
    };

    // The baseline: every set, on main.
    let base = eval_run(&["--out", &out_dir("base")]);
    assert_eq!(
        base.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&base.stderr)
    );
    let baseline = only_run_in(&out_dir("base")).join("metrics.json");
    assert_eq!(
        upstream.calls(),
        3,
        "{}\n{}",
        String::from_utf8_lossy(&base.stdout),
        std::fs::read_to_string(&baseline).expect("baseline")
    );

    // The change, committed on a branch.
    git(&root, &["checkout", "-q", "-b", "shorter-plan"]);
    let template = root.join("prompts/birth-plan/v1/pt-BR.doula.toml");
    let text = std::fs::read_to_string(&template).expect("template");
    let sentence = "Plano de parto não é garantia nem promessa de resultado. ";
    assert!(text.contains(sentence));
    std::fs::write(&template, text.replace(sentence, "")).expect("edit");
    git(&root, &["commit", "-q", "-am", "shorter birth plan prompt"]);

    let head = eval_run(&[
        "--changed-since",
        "main",
        "--baseline",
        baseline.to_str().expect("utf-8 path"),
        "--out",
        &out_dir("head"),
    ]);
    let stderr = String::from_utf8_lossy(&head.stderr);
    assert_eq!(
        head.status.code(),
        Some(1),
        "a regression exits 1: {stderr}"
    );
    assert!(
        stderr.contains(
            "evalsets/birth-plan/plan.toml selected: prompts/birth-plan/v1/pt-BR.doula.toml changed since main"
        ),
        "{stderr}"
    );
    assert!(
        !stderr.contains("postpartum-checkin/check.toml selected"),
        "{stderr}"
    );
    // Only the birth-plan set's two cases reached the model.
    assert_eq!(upstream.calls(), 5);

    let run_dir = only_run_in(&out_dir("head"));
    let now = report::read_metrics(&run_dir.join("metrics.json")).expect("metrics.json");
    let files: Vec<&str> = now.sets.iter().map(|s| s.file.as_str()).collect();
    assert_eq!(files, vec!["evalsets/birth-plan/plan.toml"]);

    let md = std::fs::read_to_string(run_dir.join("report.md")).expect("report.md");
    assert!(
        md.contains(
            "Prompts changed since the baseline: `birth-plan@1;lang=pt-BR;persona=doula` (`"
        ),
        "{md}"
    );
    assert!(
        md.contains("- required case `plan-is-no-guarantee` passed in the baseline and fails now"),
        "{md}"
    );
    let chrf_row = md
        .lines()
        .find(|l| l.starts_with("| `chrf` |"))
        .unwrap_or_else(|| panic!("no chrf delta row:\n{md}"));
    let cells: Vec<&str> = chrf_row.split('|').map(str::trim).collect();
    let (before, after, delta): (f64, f64, f64) = (
        cells[2].parse().expect("baseline mean"),
        cells[3].parse().expect("now mean"),
        cells[4].parse().expect("delta"),
    );
    assert!(delta != 0.0, "{chrf_row}");
    assert!((after - before - delta).abs() < 0.02, "{chrf_row}");
    assert!(
        md.contains("| `pass_rate` | 1.000 | 0.500 | -0.500 |"),
        "{md}"
    );
}
