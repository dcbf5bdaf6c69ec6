//! `powerbirth users add`: argon2id accounts, and bad input refused.

use super::*;

/// `powerbirth users add` with the password on stdin.
fn users_add(
    config: &std::path::Path,
    email: &str,
    role: &str,
    stdin: &str,
) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_powerbirth"))
        .args([
            "users",
            "add",
            "--email",
            email,
            "--role",
            role,
            "--password-stdin",
            "--config",
        ])
        .arg(config)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn users_add_creates_an_argon2id_account_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("users.db");
    let config = dir.path().join("powerbirth.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"sqlite://{}\"\n\n[review]\nschedule = \"off\"\n",
            db.display()
        ),
    )
    .unwrap();
    let ok = users_add(&config, " Ana@X.org", "nurse", &format!("{PASSWORD}\n"));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("created nurse account ana@x.org"));
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(!stdout.contains(PASSWORD));
    let short = users_add(&config, "bia@x.org", "nurse", "curta\n");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 12 characters"));
    let twice = users_add(&config, "ANA@x.org", "admin", &format!("{PASSWORD}\n"));
    assert!(!twice.status.success());
    assert!(String::from_utf8_lossy(&twice.stderr).contains("already exists"));
    let role = users_add(&config, "cris@x.org", "doctor", &format!("{PASSWORD}\n"));
    assert!(!role.status.success());
    let store = Store::connect(&format!("sqlite://{}", db.display()), 1)
        .await
        .unwrap();
    let rows = sqlx::query("SELECT email, role, password_hash FROM users")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<String, _>("email"), "ana@x.org");
    assert_eq!(rows[0].get::<String, _>("role"), "nurse");
    assert!(
        rows[0]
            .get::<String, _>("password_hash")
            .starts_with("$argon2id$")
    );
}
