//! `powerbirth features load FILE`: bad lines named by file and line, loading is idempotent.

use serde_json::Value;

use super::{cli_config, get, powerbirth};
use crate::common::{on_both_backends, spawn_app};

async fn features_load_writes_every_line_once_and_names_a_bad_line_by_file_and_line() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let config = cli_config(dir.path(), &app.db_url, None);

    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"patient_id\":\"p_h1\",\"group\":\"risk\",\"values\":{\"age_years\":31}}\n\
         {\"patient_id\":\"p_h2\",\"group\":\"risk\",\"values\":{\"diastolic_bp_mmhg\":900}}\n",
    )
    .unwrap();
    let out = powerbirth(&config, &["features", "load", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:2: values.diastolic_bp_mmhg", bad.display())),
        "{stderr}"
    );
    assert_eq!(
        get(&app, &app.admin_key, "risk/p_h1").await.status(),
        404,
        "nothing loaded"
    );

    let good = dir.path().join("good.csv");
    std::fs::write(
        &good,
        "patient_id,group,values\n\
         p_h1,risk,\"{\"\"age_years\"\":31,\"\"measured_at_ms\"\":1767225600000}\"\n\
         p_h1,engagement,\"{\"\"views_7d\"\":{\"\"exercise\"\":2},\"\"language\"\":\"\"en\"\"}\"\n",
    )
    .unwrap();
    let first = powerbirth(&config, &["features", "load", good.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(stdout.contains("2 rows, 2 written, 0 kept"), "{stdout}");
    let again = powerbirth(&config, &["features", "load", good.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(stdout.contains("2 rows, 0 written, 2 kept"), "{stdout}");

    let read: Value = get(&app, &app.admin_key, "engagement/p_h1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["values"]["views_7d"]["exercise"], 2);
}
on_both_backends!(features_load_writes_every_line_once_and_names_a_bad_line_by_file_and_line);
