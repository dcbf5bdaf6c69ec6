//! The online copy in the real Redis (`POWERBIRTH_TEST_REDIS_URL`), one key prefix per test.

use std::collections::HashMap;

use redis::AsyncCommands;
use serde_json::{Value, json};

use super::{cli_config, get, metric, online_toml, powerbirth, put, redis_conn, unique_prefix};
use crate::common::{Spawn, TestApp, on_both_backends, redis_url, spawn_app_with};

const T0: i64 = 1_767_225_600_000; // 2026-01-01

async fn app_on(redis: &str, prefix: &str) -> TestApp {
    spawn_app_with(Spawn {
        extra_toml: online_toml(redis, prefix),
        ..Spawn::default()
    })
    .await
}

async fn a_write_goes_through_to_redis_with_its_ttl_and_reads_are_served_from_it() {
    let Some(redis) = redis_url() else { return };
    let prefix = unique_prefix();
    let app = app_on(&redis, &prefix).await;
    let body = json!({"systolic_bp_mmhg": 142.0, "measured_at_ms": T0});
    let stored: Value = put(&app, &app.admin_key, "risk/p_dora", &body)
        .await
        .json()
        .await
        .unwrap();

    let mut conn = redis_conn(&redis).await;
    let key = format!("{prefix}:v1:risk:p_dora");
    let hash: HashMap<String, String> = conn.hgetall(&key).await.unwrap();
    assert_eq!(hash["systolic_bp_mmhg"], "142.0");
    assert_eq!(hash["_updated_at_ms"], stored["updated_at_ms"].to_string());
    assert!(
        !hash.contains_key("heart_rate_bpm"),
        "absent features are not written"
    );
    let ttl: i64 = conn.ttl(&key).await.unwrap();
    assert!((3500..=3600).contains(&ttl), "ttl {ttl}");

    let read: Value = get(&app, &app.admin_key, "risk/p_dora")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["values"]["systolic_bp_mmhg"], 142.0);
    let metrics = app.metrics_text().await;
    let reads = |source: &str| {
        metric(
            &metrics,
            &format!("powerbirth_feature_reads_total{{group=\"risk\",source=\"{source}\"}}"),
        )
    };
    assert_eq!((reads("redis"), reads("database")), (1.0, 0.0), "{metrics}");

    // A replayed older write changes neither the database nor the online copy.
    let older = json!({"systolic_bp_mmhg": 101.0, "measured_at_ms": T0 - 1});
    put(&app, &app.admin_key, "risk/p_dora", &older).await;
    let hash: HashMap<String, String> = conn.hgetall(&key).await.unwrap();
    assert_eq!(hash["systolic_bp_mmhg"], "142.0");
}
on_both_backends!(a_write_goes_through_to_redis_with_its_ttl_and_reads_are_served_from_it);

async fn a_stale_redis_copy_is_never_served_over_a_newer_database_row() {
    let Some(redis) = redis_url() else { return };
    let prefix = unique_prefix();
    let app = app_on(&redis, &prefix).await;
    let body = json!({"heart_rate_bpm": 88.0, "measured_at_ms": T0});
    let stored: Value = put(&app, &app.admin_key, "risk/p_eva", &body)
        .await
        .json()
        .await
        .unwrap();
    let version = stored["updated_at_ms"].as_i64().unwrap();

    // An older row lands in Redis by hand (as a write-through lost after the commit leaves it).
    let mut conn = redis_conn(&redis).await;
    let key = format!("{prefix}:v1:risk:p_eva");
    let _: () = conn.del(&key).await.unwrap();
    let _: () = conn
        .hset_multiple(
            &key,
            &[
                ("_updated_at_ms", (version - 5000).to_string()),
                ("_event_at_ms", (T0 - 5000).to_string()),
                ("heart_rate_bpm", "61.0".to_string()),
            ],
        )
        .await
        .unwrap();

    let read: Value = get(&app, &app.admin_key, "risk/p_eva")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["values"]["heart_rate_bpm"], 88.0, "{read}");
    assert_eq!(read["updated_at_ms"], version);
    // The read repaired the online copy (in the background).
    let mut repaired = String::new();
    for _ in 0..50 {
        repaired = conn.hget(&key, "heart_rate_bpm").await.unwrap();
        if repaired == "88.0" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(repaired, "88.0");
}
on_both_backends!(a_stale_redis_copy_is_never_served_over_a_newer_database_row);

async fn features_sync_rebuilds_the_online_copy_from_the_database() {
    let Some(redis) = redis_url() else { return };
    let prefix = unique_prefix();
    let app = app_on(&redis, &prefix).await;
    for i in 0..7 {
        let body = json!({"age_years": 20.0 + f64::from(i), "measured_at_ms": T0});
        assert_eq!(
            put(&app, &app.admin_key, &format!("risk/p_f{i}"), &body)
                .await
                .status(),
            200
        );
    }
    let body = json!({"views_30d": {"sleep": 2}});
    put(&app, &app.admin_key, "engagement/p_f0", &body).await;

    // Redis loses everything (a flush, a restart without persistence).
    let mut conn = redis_conn(&redis).await;
    let keys: Vec<String> = conn.keys(format!("{prefix}:*")).await.unwrap();
    assert_eq!(keys.len(), 8);
    let _: () = conn.del(&keys).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let config = cli_config(dir.path(), &app.db_url, Some((&redis, &prefix)));
    let out = powerbirth(&config, &["features", "sync", "--batch", "3"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("risk: 7 rows, 7 hashes written"),
        "{stdout}"
    );
    assert!(
        stdout.contains("engagement: 1 rows, 1 hashes written"),
        "{stdout}"
    );

    let hash: HashMap<String, String> = conn
        .hgetall(format!("{prefix}:v1:risk:p_f3"))
        .await
        .unwrap();
    assert_eq!(hash["age_years"], "23.0");
    let ttl: i64 = conn
        .ttl(format!("{prefix}:v1:engagement:p_f0"))
        .await
        .unwrap();
    assert!(ttl > 3500, "ttl {ttl}");

    // Run again: everything is already current.
    let again = powerbirth(&config, &["features", "sync"]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("risk: 7 rows, 0 hashes written"));
}
on_both_backends!(features_sync_rebuilds_the_online_copy_from_the_database);
