//! HTTP on `[http] listen`: `GET /metrics` (Prometheus text; Zabbix reads
//! the same), `GET /api/v1/trace/{call_id}` (what `vpbx trace` prints) and
//! `GET /api/v1/health`.

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
        .with_state(ctx)
}

async fn metrics(State(ctx): State<Arc<Ctx>>) -> impl IntoResponse {
    let snap = snapshot(&ctx).await;
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        ctx.metrics.render(&snap),
    )
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
