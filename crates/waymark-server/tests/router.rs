//! The router in process (`app().oneshot(request)`): routes, JSON errors, the token layer and
//! the receiver's switch, against a real SQLite file. The real-process tests are in
//! `crates/waymark/tests/serve.rs`.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt as _;
use waymark_core::config::{Config, ConfigSource};
use waymark_server::{app, ops, AppState, StoreHandle};

fn state(dir: &tempfile::TempDir, config: &str, token: Option<&str>) -> AppState {
    let store = StoreHandle::open(&dir.path().join("w.db")).expect("store");
    let config =
        Config::load(Some(&ConfigSource { name: "t.toml", text: config })).expect("config");
    let state = AppState::new(
        store,
        std::sync::Arc::new(config),
        ops::local_metrics().expect("metrics"),
        token.map(Into::into),
    );
    state.set_ready(true);
    state
}

async fn call(
    state: &AppState,
    method: &str,
    uri: &str,
    auth: Option<&str>,
    body: &[u8],
) -> (StatusCode, serde_json::Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = auth {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let res = app(state.clone())
        .oneshot(req.body(Body::from(body.to_vec())).expect("request"))
        .await
        .expect("answer");
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.expect("body");
    (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}

#[tokio::test]
async fn routes_answer_json_and_errors_fit() {
    let dir = tempfile::tempdir().expect("dir");
    let s = state(&dir, "", None);
    let (status, v) = call(&s, "GET", "/api/v1/status", None, b"").await;
    assert_eq!((status, v["events"].as_u64()), (StatusCode::OK, Some(0)));
    let (status, v) = call(&s, "GET", "/api/v1/failures?limit=2", None, b"").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["items"], serde_json::json!([]));
    assert!(v["next_cursor"].is_null());
    let (status, v) = call(&s, "GET", "/api/v1/failures?limit=abc", None, b"").await;
    assert_eq!((status, v["status"].as_u64()), (StatusCode::BAD_REQUEST, Some(400)));
    let (status, _) = call(&s, "GET", "/api/v1/flows/x", None, b"").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Without an openlineage source the receiver is off.
    let (status, v) = call(&s, "POST", "/api/v1/lineage", None, b"{}").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(v["error"].as_str().expect("message").contains("openlineage"));
}

#[tokio::test]
async fn the_token_guards_all_but_health_and_the_receiver_keeps_bad_events() {
    let dir = tempfile::tempdir().expect("dir");
    let s = state(&dir, "[[source]]\ntype = \"openlineage\"\n", Some("t0k"));
    assert_eq!(call(&s, "GET", "/health", None, b"").await.0, StatusCode::OK);
    assert_eq!(call(&s, "GET", "/ready", None, b"").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(call(&s, "GET", "/ready", Some("t0k"), b"").await.0, StatusCode::OK);
    let (status, v) =
        call(&s, "POST", "/api/v1/lineage", Some("t0k"), b"{\"eventType\":\"START\"}").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(v["error"].as_str().expect("message").contains("run.runId"));
    let (_, dead) = call(&s, "GET", "/api/v1/dead-letters", Some("t0k"), b"").await;
    assert_eq!(dead["items"][0]["source"], "openlineage-0");
    assert_eq!(dead["items"][0]["raw"], "{\"eventType\":\"START\"}");
    let start = br#"{"eventType":"START","eventTime":"2025-05-04T10:00:00Z","run":{"runId":"r1"},"job":{"namespace":"n","name":"j"}}"#;
    let (status, v) = call(&s, "POST", "/api/v1/lineage", Some("t0k"), start).await;
    assert_eq!((status, v["outcome"].as_str()), (StatusCode::CREATED, Some("inserted")));
    let (status, run) = call(&s, "GET", "/api/v1/runs/OPENLINEAGE%7Cr1", Some("t0k"), b"").await;
    assert_eq!((status, run["status"].as_str()), (StatusCode::OK, Some("RUNNING")));
}
