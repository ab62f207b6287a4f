//! The HTTP router: JSON-RPC (HTTP POST and WebSocket upgrade) at `/` and `/rollup/<id>`,
//! `GET /health`, `GET /metrics` and the live page at `GET /live/`, all on one port.
//!
//! axum routes; jsonrpsee serves every JSON-RPC request through its tower service, which owns
//! the protocol (parsing, batches, WebSocket framing, subscriptions) and the limits (body size,
//! concurrent connections).

use crate::{batch::ConcurrentBatchLayer, methods::RollupPath, page, proxy};
use axum::{
    body::Body,
    extract::{Path, Request, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::{any, get},
    Json, Router,
};
use jsonrpsee::server::{Methods, StopHandle, TowerServiceBuilder};
use ordo_engine::Handle;
use serde::Serialize;
use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};
use tower::{
    layer::util::{Identity, Stack},
    Service,
};

/// Encodes the node's metrics in Prometheus text format.
pub type MetricsFn = Arc<dyn Fn() -> String + Send + Sync>;

#[derive(Clone)]
pub(crate) struct App {
    pub handle: Handle,
    pub metrics: MetricsFn,
    pub health_staleness: Duration,
    pub rpc: Rpc,
    /// Execution RPC of each rollup that has one: reads at `/rollup/<id>` go there.
    pub upstreams: Arc<HashMap<u64, proxy::Upstream>>,
    pub max_request_bytes: usize,
    /// The live page's files, when configured.
    pub page: Option<page::PageDir>,
}

/// Builds one jsonrpsee service per request; the builder shares the connection guard.
#[derive(Clone)]
pub(crate) struct Rpc {
    pub builder: TowerServiceBuilder<Stack<ConcurrentBatchLayer, Identity>, Identity>,
    pub methods: Methods,
    pub stop: StopHandle,
}

impl Rpc {
    async fn call(&self, request: Request) -> Response {
        // A fresh service per request gives each WebSocket connection its own connection id,
        // which scopes its subscription ids (one client cannot unsubscribe another's).
        let mut service = self
            .builder
            .clone()
            .build(self.methods.clone(), self.stop.clone());
        match service.call(request).await {
            Ok(response) => response.map(Body::new),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        }
    }
}

pub(crate) fn router(app: App) -> Router {
    Router::new()
        .route("/", any(root_rpc))
        .route("/rollup/{id}", any(rollup_rpc))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .merge(
            Router::new()
                .route("/live", get(page::redirect))
                .route("/live/", get(page::index))
                .route("/live/{name}", get(page::file))
                .with_state(app.page.clone()),
        )
        .with_state(app)
}

async fn root_rpc(State(app): State<App>, request: Request) -> Response {
    app.rpc.call(request).await
}

async fn rollup_rpc(State(app): State<App>, Path(id): Path<u64>, mut request: Request) -> Response {
    if let Some(upstream) = app.upstreams.get(&id) {
        if proxy::is_http_call(&request) {
            let (parts, body) = request.into_parts();
            return proxy::split(upstream, body, app.max_request_bytes, |body| {
                let mut request = Request::from_parts(parts.clone(), body);
                request.extensions_mut().insert(RollupPath(id));
                app.rpc.call(request)
            })
            .await;
        }
    }
    // jsonrpsee hands request extensions to every call (and, for WebSocket, to every call on
    // the connection), which is how `eth_sendRawTransaction` learns its rollup.
    request.extensions_mut().insert(RollupPath(id));
    app.rpc.call(request).await
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        "not found: JSON-RPC is served at / and /rollup/<id>; see also /health, /metrics and /live/\n",
    )
        .into_response()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Health {
    /// `ok`, `stale` (last finalization too old) or `starting` (nothing finalized yet).
    status: &'static str,
    notarized_height: u64,
    finalized_height: u64,
    last_finalized_at_ms: u64,
    since_finalized_ms: Option<u64>,
    staleness_ms: u64,
    mempool_size: usize,
}

async fn health(State(app): State<App>) -> Response {
    let status = match app.handle.status.read() {
        Ok(s) => s.clone(),
        Err(_) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, "status lock poisoned").into_response()
        }
    };
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let since = (status.last_finalized_at_ms > 0)
        .then(|| now_ms.saturating_sub(status.last_finalized_at_ms));
    let staleness_ms = app.health_staleness.as_millis() as u64;
    let (code, label) = match since {
        None => (StatusCode::SERVICE_UNAVAILABLE, "starting"),
        Some(ms) if ms > staleness_ms => (StatusCode::SERVICE_UNAVAILABLE, "stale"),
        Some(_) => (StatusCode::OK, "ok"),
    };
    let body = Health {
        status: label,
        notarized_height: status.notarized_height,
        finalized_height: status.finalized_height,
        last_finalized_at_ms: status.last_finalized_at_ms,
        since_finalized_ms: since,
        staleness_ms,
        mempool_size: app.handle.mempool.len(),
    };
    (code, Json(body)).into_response()
}

async fn metrics(State(app): State<App>) -> Response {
    let text = (app.metrics)();
    // prometheus-client writes OpenMetrics (terminated by `# EOF`); anything else is the classic
    // Prometheus text format.
    let content_type = if text.trim_end().ends_with("# EOF") {
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    } else {
        "text/plain; version=0.0.4; charset=utf-8"
    };
    ([(header::CONTENT_TYPE, content_type)], text).into_response()
}
