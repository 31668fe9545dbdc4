//! HTTP on `[http] listen`: `GET /metrics` (Prometheus text; Zabbix reads
//! the same), `GET /api/v1/trace/{call_id}` (what `vpbx trace` prints) and
//! `GET /api/v1/health`, `GET /api/v1/recordings/{domain}/{path}` (a call
//! recording named by its call record, for tenants with `recording_download`),
//! `GET /api/v1/trunks` (what `vpbx trunks` prints) and `GET /api/v1/queues/{domain}`
//! (what `vpbx queue show` prints).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use tokio::sync::oneshot;

use crate::Ctx;
use crate::metrics::Snapshot;
use crate::shard::ShardMsg;

/// The HTTP routes, built without a socket so tests can call them.
pub fn router(ctx: Arc<Ctx>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/api/v1/health", get(|| async { "ok\n" }))
        .route("/api/v1/trace/{call_id}", get(trace))
        .route("/api/v1/calls/{domain}", get(calls))
        .route("/api/v1/trunks", get(trunks))
        .route("/api/v1/queues/{domain}", get(queues))
        .route("/api/v1/recordings/{domain}/{*path}", get(recording))
        .with_state(ctx)
}

async fn metrics(State(ctx): State<Arc<Ctx>>) -> impl IntoResponse {
    let snap = snapshot(&ctx).await;
    let mut text = ctx.metrics.render(&snap);
    if let Some(r) = &ctx.recordings {
        r.render(&mut text);
    }
    ctx.external.render(&mut text);
    ctx.queues.render(&ctx.directory(), &mut text);
    ctx.trunks.render(ctx.platform().as_deref(), &mut text);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

/// Collects the per-tenant and per-shard figures from the shards.
pub async fn snapshot(ctx: &Ctx) -> Snapshot {
    let dir = ctx.directory();
    let mut snap = Snapshot {
        active_bans: ctx.security.ban_count(ctx.now()),
        tenant_count: dir.len(),
        trace_messages: ctx.trace.len(),
        media_legs: ctx
            .relay
            .as_ref()
            .map_or((0, 0), |r| (r.in_use(), r.capacity())),
        ..Snapshot::default()
    };
    for t in dir.iter() {
        snap.tenants.entry(t.domain.to_string()).or_default();
    }
    for tx in &ctx.shards {
        let depth = tx.max_capacity() - tx.capacity();
        let (otx, orx) = oneshot::channel();
        let report = match tx.try_send(ShardMsg::Stats(otx)) {
            Ok(()) => tokio::time::timeout(Duration::from_secs(2), orx)
                .await
                .ok()
                .and_then(Result::ok),
            Err(_) => None,
        };
        let txns = report.as_ref().map_or(0, |r| r.transactions);
        snap.calls += report.as_ref().map_or(0, |r| r.calls);
        snap.shards.push((depth, tx.max_capacity(), txns));
        if let Some(r) = report {
            for (id, s) in r.tenants {
                if let Some(t) = dir.by_id(id) {
                    let e = snap.tenants.entry(t.domain.to_string()).or_default();
                    e.contacts += s.contacts;
                    e.requests += s.requests;
                    e.registrations += s.registrations;
                    e.auth_failures += s.auth_failures;
                }
            }
        }
    }
    snap
}

async fn trace(State(ctx): State<Arc<Ctx>>, Path(call_id): Path<String>) -> impl IntoResponse {
    let entries = ctx.trace.find(&call_id);
    if entries.is_empty() {
        return (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({"error": "no messages with this Call-ID in the trace"})),
        )
            .into_response();
    }
    Json(entries).into_response()
}

/// Calls in progress of one tenant, gathered from every shard.
async fn calls(State(ctx): State<Arc<Ctx>>, Path(domain): Path<String>) -> impl IntoResponse {
    let Some(tenant) = ctx.directory().by_domain(&domain) else {
        return (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({"error": format!("no tenant {domain}")})),
        )
            .into_response();
    };
    let mut all = Vec::new();
    for tx in &ctx.shards {
        let (otx, orx) = oneshot::channel();
        if tx.try_send(ShardMsg::ListCalls(tenant.id, otx)).is_ok()
            && let Ok(Ok(list)) = tokio::time::timeout(Duration::from_secs(2), orx).await
        {
            all.extend(list);
        }
    }
    all.sort_by_key(|c| c.start_ms);
    Json(all).into_response()
}

/// A tenant's queues live: agents and waiting callers (`vpbx queue show`).
async fn queues(State(ctx): State<Arc<Ctx>>, Path(domain): Path<String>) -> impl IntoResponse {
    let Some(tenant) = ctx.directory().by_domain(&domain) else {
        return (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({"error": format!("no tenant {domain}")})),
        )
            .into_response();
    };
    Json(ctx.queues.list(&ctx, &tenant)).into_response()
}

/// Every trunk of the platform file with its registration and qualify status (`vpbx trunks`).
async fn trunks(State(ctx): State<Arc<Ctx>>) -> impl IntoResponse {
    let mut list = ctx
        .trunks
        .list(ctx.platform().as_deref(), ctx.now(), ctx.wall_ms());
    for t in &mut list {
        t.calls = ctx.external.trunk_calls(&t.name);
    }
    Json(list)
}

fn error(status: StatusCode, text: String) -> axum::response::Response {
    (status, Json(serde_json::json!({ "error": text }))).into_response()
}

/// Whether `path` names a finished recording inside a tenant's directory: `recordings/`,
/// then plain names (no `..`, no empty or hidden parts), ending in `.wav`.
fn recording_path_ok(path: &str) -> bool {
    let mut parts = path.split('/');
    parts.next() == Some("recordings")
        && path.ends_with(".wav")
        && parts.all(|p| {
            !p.is_empty()
                && !p.starts_with('.')
                && p.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@' | b'+')
                })
        })
}

/// One call recording as `audio/wav`, by the path its call record carries. 403 when the
/// tenant's `options.recording_download` is off: the operator decides whether a tenant may
/// take its recordings away.
async fn recording(
    State(ctx): State<Arc<Ctx>>,
    Path((domain, path)): Path<(String, String)>,
) -> axum::response::Response {
    let Some(tenant) = ctx.directory().by_domain(&domain) else {
        return error(StatusCode::NOT_FOUND, format!("no tenant {domain}"));
    };
    if !tenant.config.options.recording_download {
        return error(
            StatusCode::FORBIDDEN,
            format!("recording download is off for {domain} (options.recording_download)"),
        );
    }
    if !recording_path_ok(&path) {
        return error(
            StatusCode::BAD_REQUEST,
            format!("not a recording path: {path:?}"),
        );
    }
    let Some(vault) = ctx.vault.as_ref() else {
        return error(StatusCode::NOT_FOUND, "no data directory".into());
    };
    let Ok(dir) = vault.layout().tenant_dir(&domain) else {
        return error(StatusCode::NOT_FOUND, format!("no tenant {domain}"));
    };
    match tokio::fs::read(dir.join(&path)).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, "audio/wav")], bytes).into_response(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            error(StatusCode::NOT_FOUND, format!("no recording {path}"))
        }
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reading {path}: {e}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::recording_path_ok;

    #[test]
    fn only_plain_paths_under_recordings_are_served() {
        assert!(recording_path_ok(
            "recordings/2026/11/26/101500-abc@host.wav"
        ));
        for bad in [
            "recordings/../secrets.wav",
            "recordings/2026/../../x.wav",
            "voicemail/1001/INBOX/msg0000.wav",
            "recordings//x.wav",
            "recordings/2026/.x.wav",
            "recordings/2026/x.wav.part",
            "recordings/a b.wav",
            "/etc/passwd",
        ] {
            assert!(!recording_path_ok(bad), "{bad}");
        }
    }
}
