//! The node's public API: JSON-RPC over HTTP and WebSocket, `/health` and `/metrics`, on one port.
//!
//! [`serve`] binds the listener and serves, over an [`ordo_engine::Handle`]:
//! - `ordo_*` methods at `/` (submit, receipts, blocks, rollup batches, status) and the
//!   `ordo_subscribe*` WebSocket subscriptions to certified blocks;
//! - `eth_sendRawTransaction` / `eth_chainId` at `/rollup/<id>`, so a wallet or tool pointed at
//!   that URL submits to that rollup unchanged; with the rollup's execution RPC configured, every
//!   other Ethereum method there is forwarded to it (`proxy`), making it one full endpoint;
//! - `GET /health` (200 while finalization is recent, 503 otherwise) and `GET /metrics`;
//! - the live page at `GET /live/` (`page`), when the node is given its directory.
//!
//! Every certified object is also returned as its canonical codec bytes (`encoded`), so clients
//! verify with `ordo_light` instead of trusting the node. See the crate README for the method
//! table and error codes.

mod batch;
mod error;
mod http;
mod methods;
mod page;
mod proxy;
mod subscriptions;
pub mod view;

pub use error::{
    ALREADY_INCLUDED, DUPLICATE, INTERNAL, INVALID_TRANSACTION, LANE_FULL, METHOD_NOT_FOUND,
    NOT_FOUND, UNKNOWN_ROLLUP,
};
pub use http::MetricsFn;
pub use methods::MAX_BATCHES_PER_CALL;
pub use ordo_rpc_params::MAX_RECEIPT_FILTER;

use anyhow::{ensure, Context as _};
use axum::serve::ListenerExt as _;
use jsonrpsee::server::{
    middleware::rpc::RpcServiceBuilder, BatchRequestConfig, PingConfig, Server, ServerConfig,
};
use std::{collections::HashMap, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};
use tokio::{net::TcpListener, task::JoinHandle};

/// Largest response the server writes (a full block with its hex-encoded transactions).
const MAX_RESPONSE_BYTES: u32 = 64 << 20;

/// Where and how the API listens.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    /// Largest HTTP request body or WebSocket message; larger ones get -32007 (HTTP 413).
    pub max_request_bytes: u32,
    /// Most HTTP requests in flight plus open WebSocket connections; beyond it, HTTP 429.
    pub max_connections: u32,
    /// `/health` answers 503 once the last finalization is older than this.
    pub health_staleness: Duration,
    /// Execution RPC (op-geth) of each rollup: `/rollup/<id>` forwards Ethereum reads there.
    pub execution_rpc: HashMap<u64, String>,
    /// Directory of the live page (`index.html`, script, `ordo_light.wasm`) served at `/live/`.
    pub web_dir: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8545)),
            max_request_bytes: 1 << 20,
            max_connections: 1024,
            health_staleness: Duration::from_secs(30),
            execution_rpc: HashMap::new(),
            web_dir: None,
        }
    }
}

/// Binds `cfg.listen` and serves the API until the returned task is aborted (or the runtime
/// stops). Returns the bound address (useful with port 0).
pub async fn serve(
    cfg: Config,
    handle: ordo_engine::Handle,
    metrics: MetricsFn,
) -> anyhow::Result<(SocketAddr, JoinHandle<()>)> {
    ensure!(
        cfg.max_request_bytes > 0,
        "rpc: max_request_bytes must be positive"
    );
    ensure!(
        cfg.max_connections > 0,
        "rpc: max_connections must be positive"
    );
    let listener = TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("rpc: cannot listen on {}", cfg.listen))?;
    let bound = listener.local_addr()?;

    let max_response_bytes = MAX_RESPONSE_BYTES.max(cfg.max_request_bytes);
    let server_cfg = ServerConfig::builder()
        .max_request_body_size(cfg.max_request_bytes)
        .max_response_body_size(max_response_bytes)
        .max_connections(cfg.max_connections)
        // Batches are bounded by the body and response limits; a count limit would answer with
        // jsonrpsee's -32010, which Ordo uses for "not found".
        .set_batch_request_config(BatchRequestConfig::Unlimited)
        // Drops WebSocket peers that vanished without closing.
        .enable_ws_ping(PingConfig::default())
        .build();
    let builder = Server::builder()
        .set_config(server_cfg)
        .set_rpc_middleware(
            RpcServiceBuilder::new().layer(batch::ConcurrentBatchLayer { max_response_bytes }),
        )
        .to_service_builder();
    let (stop, server_handle) = jsonrpsee::server::stop_channel();
    let app = http::App {
        handle: handle.clone(),
        metrics,
        health_staleness: cfg.health_staleness,
        upstreams: Arc::new(
            cfg.execution_rpc
                .iter()
                .map(|(id, url)| (*id, proxy::Upstream::new(url.clone())))
                .collect(),
        ),
        max_request_bytes: cfg.max_request_bytes as usize,
        page: cfg.web_dir.map(|dir| page::PageDir(Arc::new(dir))),
        rpc: http::Rpc {
            builder,
            methods: methods::module(handle).into(),
            stop,
        },
    };
    let router = http::router(app);
    let task = tokio::spawn(async move {
        // Held for the life of the task: dropping it (abort) closes open WebSocket connections.
        let _server_handle = server_handle;
        tracing::info!(%bound, "rpc listening");
        // Answers and subscription notices are small writes: with Nagle's algorithm on, one
        // waits for the client's (delayed) ACK of the one before.
        let listener = listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "rpc: cannot set TCP_NODELAY");
            }
        });
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "rpc server stopped");
        }
    });
    Ok((bound, task))
}
