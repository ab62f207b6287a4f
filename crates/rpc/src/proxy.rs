//! `/rollup/<id>` as one Ethereum JSON-RPC endpoint: writes go through Ordo, reads go to the
//! rollup's execution node.
//!
//! For a rollup whose execution RPC is configured, an HTTP JSON-RPC request (single or batch) at
//! `/rollup/<id>` is split by method: what Ordo serves (`eth_sendRawTransaction`, `eth_chainId`,
//! `ordo_*`) is answered by Ordo, everything else (`eth_call`, `eth_getBalance`,
//! `eth_getTransactionReceipt`, ...) is forwarded unchanged to the execution node, so cast, viem,
//! ethers and wallets work against one URL. WebSocket connections get Ordo's methods only.

use axum::{
    body::{to_bytes, Body},
    http::{header, HeaderValue, Request, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{json, Value};
use std::time::Duration;

/// Methods Ordo answers itself at `/rollup/<id>`.
pub(crate) fn served_by_ordo(method: &str) -> bool {
    matches!(method, "eth_sendRawTransaction" | "eth_chainId") || method.starts_with("ordo_")
}

/// The execution node of one rollup.
#[derive(Clone)]
pub(crate) struct Upstream {
    url: String,
    http: reqwest::Client,
}

impl Upstream {
    pub fn new(url: String) -> Self {
        Self {
            url,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("a client with a timeout builds"),
        }
    }

    /// Forwards one JSON-RPC request object and returns the node's answer (or a JSON-RPC error
    /// saying the execution node is unreachable).
    async fn forward(&self, request: &Value) -> Value {
        let answer = async {
            self.http
                .post(&self.url)
                .json(request)
                .send()
                .await?
                .json::<Value>()
                .await
        }
        .await;
        answer.unwrap_or_else(|e| {
            json!({
                "jsonrpc": "2.0",
                "id": request.get("id").cloned().unwrap_or(Value::Null),
                "error": {
                    "code": crate::error::INTERNAL,
                    "message": format!("the rollup's execution node is unreachable: {e}"),
                }
            })
        })
    }
}

/// Answers an HTTP JSON-RPC body: each request object goes to Ordo (`ordo`) or the upstream.
pub(crate) async fn split<F, Fut>(
    upstream: &Upstream,
    body: Body,
    limit: usize,
    ordo: F,
) -> Response
where
    F: Fn(Body) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    let bytes = match to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => {
            return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                crate::error::REQUEST_TOO_BIG,
                format!("request body larger than {limit} bytes"),
            )
        }
    };
    let parsed: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        // Not JSON: jsonrpsee gives the standard parse error.
        Err(_) => return ordo(Body::from(bytes)).await,
    };
    let (requests, batch) = match parsed {
        Value::Array(items) if !items.is_empty() => (items, true),
        Value::Object(_) => (vec![parsed], false),
        _ => return ordo(Body::from(bytes)).await,
    };
    let mut answers = Vec::with_capacity(requests.len());
    for request in &requests {
        let method = request.get("method").and_then(Value::as_str).unwrap_or("");
        let answer = if served_by_ordo(method) || method.is_empty() {
            let response = ordo(Body::from(request.to_string())).await;
            match to_bytes(response.into_body(), usize::MAX).await {
                Ok(b) if b.is_empty() => continue, // a notification: no answer
                Ok(b) => serde_json::from_slice(&b).unwrap_or(Value::Null),
                Err(_) => Value::Null,
            }
        } else {
            upstream.forward(request).await
        };
        answers.push(answer);
    }
    let body = if batch {
        Value::Array(answers)
    } else {
        answers.pop().unwrap_or(Value::Null)
    };
    json_response(StatusCode::OK, body.to_string())
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn error_response(status: StatusCode, code: i32, message: String) -> Response {
    let body =
        json!({ "jsonrpc": "2.0", "id": null, "error": { "code": code, "message": message } });
    json_response(status, body.to_string())
}

/// Whether `request` is a plain HTTP JSON-RPC call (not a WebSocket upgrade).
pub(crate) fn is_http_call<B>(request: &Request<B>) -> bool {
    request.method() == axum::http::Method::POST && !request.headers().contains_key(header::UPGRADE)
}
