//! A Redis the test starts itself and stops mid-run: the feature routes keep answering from the
//! database, and the metric counts the failed round trips.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use super::{get, metric, online_toml, put, unique_prefix};
use crate::common::{Spawn, on_both_backends, spawn_app_with};

/// A private `redis-server` (no persistence) on a free port; killed when dropped.
struct OwnRedis {
    child: Child,
    url: String,
}

impl OwnRedis {
    async fn start() -> OwnRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed to run this test");
        let url = format!("redis://127.0.0.1:{port}");
        for _ in 0..100 {
            if let Ok(client) = redis::Client::open(url.as_str())
                && let Ok(mut conn) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .is_ok()
            {
                return OwnRedis { child, url };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server did not start on port {port}");
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn reads_and_writes_keep_working_from_the_database_when_redis_dies() {
    let mut redis = OwnRedis::start().await;
    let app = spawn_app_with(Spawn {
        extra_toml: online_toml(&redis.url, &unique_prefix()),
        ..Spawn::default()
    })
    .await;
    let body = json!({"blood_glucose_mmol_l": 6.1});
    assert_eq!(
        put(&app, &app.admin_key, "risk/p_gil", &body)
            .await
            .status(),
        200
    );
    assert_eq!(get(&app, &app.admin_key, "risk/p_gil").await.status(), 200);

    redis.stop();
    for _ in 0..3 {
        let res = get(&app, &app.admin_key, "risk/p_gil").await;
        assert_eq!(res.status(), 200);
        let read: Value = res.json().await.unwrap();
        assert_eq!(read["values"]["blood_glucose_mmol_l"], 6.1);
        // Past the configured retry interval, so each read tries Redis again.
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    // A write commits to the database; Redis failing is not the client's error.
    let newer = json!({"blood_glucose_mmol_l": 7.4});
    assert_eq!(
        put(&app, &app.admin_key, "risk/p_gil", &newer)
            .await
            .status(),
        200
    );
    let read: Value = get(&app, &app.admin_key, "risk/p_gil")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["values"]["blood_glucose_mmol_l"], 7.4);
    assert_eq!(
        get(&app, &app.admin_key, "risk/p_nobody").await.status(),
        404
    );

    let metrics = app.metrics_text().await;
    let errors = metric(&metrics, "powerbirth_feature_redis_errors_total");
    assert!(errors >= 4.0, "{errors} Redis errors counted\n{metrics}");
    let from_db = metric(
        &metrics,
        "powerbirth_feature_reads_total{group=\"risk\",source=\"database\"}",
    );
    assert!(from_db >= 4.0, "{metrics}");
    assert_eq!(
        metric(
            &metrics,
            "powerbirth_feature_reads_total{group=\"risk\",source=\"redis\"}"
        ),
        1.0
    );
}
on_both_backends!(reads_and_writes_keep_working_from_the_database_when_redis_dies);
