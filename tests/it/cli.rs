//! The command line as an operator uses it: keys, and configuration errors.

use std::path::Path;
use std::process::{Command, Output};

fn powerbirth(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_powerbirth"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap()
}

fn config_in(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("powerbirth.toml");
    let text = format!(
        "[database]\nurl = \"sqlite://{}\"\n\n[[models]]\nname = \"m\"\nprovider = \"openai\"\napi_base = \"http://127.0.0.1:9/v1\"\nprice = \"free\"\n",
        dir.join("cli.db").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn keys_create_prints_the_key_alone_on_the_last_line_and_list_never_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    let out = powerbirth(
        &config,
        &[
            "keys", "create", "--name", "web", "--role", "admin", "--rpm", "30",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let key = stdout.lines().last().unwrap();
    assert!(
        key.starts_with("pb-") && key.len() == 51 && !key.contains(' '),
        "{stdout}"
    );

    let list = String::from_utf8(powerbirth(&config, &["keys", "list"]).stdout).unwrap();
    assert!(
        list.contains("web")
            && list.contains("admin")
            && list.contains("30")
            && list.contains("active"),
        "{list}"
    );
    assert!(!list.contains(key));

    let dup = powerbirth(&config, &["keys", "create", "--name", "web"]);
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));

    assert!(
        powerbirth(&config, &["keys", "revoke", "web"])
            .status
            .success()
    );
    let list = String::from_utf8(powerbirth(&config, &["keys", "list"]).stdout).unwrap();
    assert!(list.contains("revoked"), "{list}");
    let again = powerbirth(&config, &["keys", "revoke", "web"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("no active key"));
}

#[test]
fn a_bad_config_never_starts_and_names_the_key_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("[database]", "[database]\npool = 3");
    std::fs::write(&config, text).unwrap();
    let out = powerbirth(&config, &["serve"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pool") && err.contains("powerbirth.toml") && err.contains("line 2"),
        "{err}"
    );
}

#[test]
fn an_environment_override_with_an_unknown_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_powerbirth"))
        .arg("--config")
        .arg(&config)
        .args(["keys", "list"])
        .env("POWERBIRTH_SERVER__LISTENN", "x")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("POWERBIRTH_SERVER__LISTENN"));
}

#[test]
fn a_missing_config_file_is_named() {
    let out = powerbirth(Path::new("/nonexistent/powerbirth.toml"), &["keys", "list"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/powerbirth.toml"));
}

#[test]
fn the_shipped_prompts_pass_lint() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = powerbirth(&root.join("powerbirth.toml"), &["prompts", "lint", "--dir"]);
    // `--dir` needs a value: the command line must say so instead of linting something else.
    assert!(!out.status.success());
    let out = Command::new(env!("CARGO_BIN_EXE_powerbirth"))
        .current_dir(root)
        .args(["--config", "powerbirth.toml", "prompts", "lint"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("prompts ok"), "{stdout}");
}

#[test]
fn prompts_lint_prints_each_problem_with_file_and_line_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    let prompts = dir.path().join("prompts/broken");
    std::fs::create_dir_all(&prompts).unwrap();
    std::fs::write(prompts.join("prompt.toml"), "description = \"x\"\nowner = \"y\"\ndefault_language = \"pt-BR\"\ndefault_persona = \"doula\"\n[labels]\nproduction = 3\n").unwrap();
    let out = powerbirth(
        &config,
        &[
            "prompts",
            "lint",
            "--dir",
            dir.path().join("prompts").to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("prompt.toml:"), "{stdout}");
}

#[test]
fn eval_guard_scores_the_shipped_set_and_fails_when_a_target_is_missed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_powerbirth"))
        .current_dir(root)
        .args(["--config", "powerbirth.toml", "eval", "guard"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for row in ["red_flag", "self_harm", "medication_dosing", "benign"] {
        assert!(stdout.contains(row), "{row} missing:\n{stdout}");
    }
    // Benign kept (1 - false escalation) for the development part and the nine held-out parts.
    assert_eq!(stdout.matches("benign kept:").count(), 10, "{stdout}");
    for part in [
        "held-out 2",
        "held-out 3",
        "held-out 4",
        "held-out 5",
        "held-out 6",
        "held-out 7",
        "held-out 8",
        "held-out 9",
    ] {
        assert!(stdout.contains(part), "{part} missing:\n{stdout}");
    }

    // A set where the guard misses a danger sign it cannot know: recall below target, exit 1.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("set.jsonl"),
        concat!(
            r#"{"id": "x-1", "lang": "pt-BR", "text": "está tudo ótimo hoje", "labels": ["red_flag"]}"#,
            "\n",
            r#"{"id": "x-2", "lang": "pt-BR", "text": "posso comer queijo?", "labels": []}"#,
            "\n"
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_powerbirth"))
        .current_dir(root)
        .args([
            "--config",
            "powerbirth.toml",
            "eval",
            "guard",
            "--misses",
            "--evalset",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("red_flag recall"), "{stderr}");
    assert!(stdout.contains("miss x-1"), "{stdout}");

    // A label the guard does not know is named with its file and line.
    std::fs::write(
        dir.path().join("set.jsonl"),
        r#"{"id": "x-1", "lang": "pt-BR", "text": "oi", "labels": ["dragons"]}"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_powerbirth"))
        .current_dir(root)
        .args(["--config", "powerbirth.toml", "eval", "guard", "--evalset"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("set.jsonl:1"), "{stderr}");
}
