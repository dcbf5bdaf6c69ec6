//! The HTTP routes without Redis (the database alone, as `make run` serves them).

use powerbirth::store::keys::Role;
use serde_json::{Value, json};

use super::{get, put};
use crate::common::{on_both_backends, spawn_app};

const T0: i64 = 1_767_225_600_000; // 2026-01-01

async fn a_write_is_read_back_and_an_older_measurement_never_replaces_a_newer_one() {
    let app = spawn_app().await;
    let newer =
        json!({"systolic_bp_mmhg": 150.0, "diastolic_bp_mmhg": 95.0, "measured_at_ms": T0 + 1000});
    let res = put(&app, &app.admin_key, "risk/p_ana_01", &newer).await;
    assert_eq!(res.status(), 200);
    let first: Value = res.json().await.unwrap();
    assert_eq!(first["values"]["systolic_bp_mmhg"], 150.0);

    // Ingestion replays an older event: the answer is the row kept, the newer one.
    let older = json!({"systolic_bp_mmhg": 118.0, "measured_at_ms": T0});
    let kept: Value = put(&app, &app.admin_key, "risk/p_ana_01", &older)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(kept["values"]["systolic_bp_mmhg"], 150.0);
    assert_eq!(kept["updated_at_ms"], first["updated_at_ms"]);

    let read: Value = get(&app, &app.admin_key, "risk/p_ana_01")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["values"], first["values"]);

    // A newer measurement replaces it, and its version is higher.
    let newest = json!({"systolic_bp_mmhg": 131.0, "measured_at_ms": T0 + 2000});
    let replaced: Value = put(&app, &app.admin_key, "risk/p_ana_01", &newest)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(replaced["values"]["systolic_bp_mmhg"], 131.0);
    assert!(replaced["values"]["diastolic_bp_mmhg"].is_null());
    assert!(replaced["updated_at_ms"].as_i64() > first["updated_at_ms"].as_i64());

    let engagement = json!({"views_7d": {"nutrition": 3}, "read_content_ids": ["a12"], "language": "pt-BR", "gestational_week": 24});
    assert_eq!(
        put(&app, &app.admin_key, "engagement/p_ana_01", &engagement)
            .await
            .status(),
        200
    );
    let read: Value = get(&app, &app.admin_key, "engagement/p_ana_01")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["values"]["views_7d"]["nutrition"], 3);
    assert_eq!(read["group"], "engagement");
}
on_both_backends!(a_write_is_read_back_and_an_older_measurement_never_replaces_a_newer_one);

async fn only_admin_and_ingest_keys_may_use_the_feature_routes() {
    let app = spawn_app().await;
    let body = json!({"heart_rate_bpm": 80.0});
    let res = put(&app, &app.client_key, "risk/p_bia_02", &body).await;
    assert_eq!(res.status(), 403);
    assert_eq!(
        get(&app, &app.client_key, "risk/p_bia_02").await.status(),
        403
    );

    let (_, ingest) = app
        .store
        .create_key("ingest-job", Role::Ingest, None)
        .await
        .unwrap();
    assert_eq!(
        put(&app, &ingest, "risk/p_bia_02", &body).await.status(),
        200
    );
    assert_eq!(get(&app, &ingest, "risk/p_bia_02").await.status(), 200);
    // The ingest role is no admin: the admin reports stay closed to it.
    let usage = app
        .http
        .get(app.url("/v1/usage"))
        .bearer_auth(&ingest)
        .send()
        .await
        .unwrap();
    assert_eq!(usage.status(), 403);
}
on_both_backends!(only_admin_and_ingest_keys_may_use_the_feature_routes);

async fn bad_input_is_422_naming_the_field_and_an_unknown_group_is_404() {
    let app = spawn_app().await;
    let cases = [
        ("risk/p_c", json!({"systolic": 120}), "systolic"),
        (
            "risk/p_c",
            json!({"systolic_bp_mmhg": 600}),
            "systolic_bp_mmhg",
        ),
        (
            "risk/p_c",
            json!({"body_temperature_c": 98.6}),
            "body_temperature_c",
        ),
        (
            "risk/p_c",
            json!({"heart_rate_bpm": "fast"}),
            "heart_rate_bpm",
        ),
        (
            "engagement/p_c",
            json!({"views_7d": {"sleep": -1}}),
            "views_7d.sleep",
        ),
        ("engagement/p_c", json!({"language": "fr"}), "language"),
        ("risk/529.982.247-25", json!({}), "patient_id"),
        ("risk/maria@example.com", json!({}), "patient_id"),
    ];
    for (path, body, field) in cases {
        let res = put(&app, &app.admin_key, path, &body).await;
        assert_eq!(res.status(), 422, "{path} {body}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["error"]["param"], field, "{err}");
        assert_eq!(err["error"]["code"], "invalid_field");
        assert_eq!(err["error"]["type"], "invalid_request_error");
    }
    let res = put(&app, &app.admin_key, "blood/p_c", &json!({})).await;
    assert_eq!(res.status(), 404);
    let res = get(&app, &app.admin_key, "risk/p_never_seen").await;
    assert_eq!(res.status(), 404);
    // Nothing of the refused writes was stored.
    assert_eq!(get(&app, &app.admin_key, "risk/p_c").await.status(), 404);
}
on_both_backends!(bad_input_is_422_naming_the_field_and_an_unknown_group_is_404);
