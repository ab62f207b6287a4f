//! A small JSON-RPC-over-HTTP client for the three endpoints the adapter talks to: op-geth's
//! Engine API (JWT-authenticated), op-geth's and op-node's public RPC, and the L1 node.

use hmac::{Hmac, Mac};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A JSON-RPC error answer or a transport failure, with the endpoint and method it came from.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("{method} at {url}: {source}")]
    Transport {
        url: String,
        method: String,
        source: reqwest::Error,
    },
    #[error("{method} at {url}: error {code}: {message}")]
    Rpc {
        url: String,
        method: String,
        code: i64,
        message: String,
    },
    #[error("{method} at {url}: unexpected answer: {detail}")]
    Decode {
        url: String,
        method: String,
        detail: String,
    },
}

impl RpcError {
    /// The node's own error message (empty for transport failures).
    pub fn message(&self) -> &str {
        match self {
            Self::Rpc { message, .. } => message,
            _ => "",
        }
    }
}

/// The 32-byte secret op-geth's `--authrpc.jwtsecret` file holds (hex, optional 0x).
#[derive(Clone)]
pub struct JwtSecret([u8; 32]);

impl JwtSecret {
    pub fn from_hex(s: &str) -> anyhow::Result<Self> {
        let s = s.trim();
        let bytes = hex::decode(s.strip_prefix("0x").unwrap_or(s))?;
        let secret: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| anyhow::anyhow!("JWT secret has {} bytes, want 32", b.len()))?;
        Ok(Self(secret))
    }

    pub fn read(path: &std::path::Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading JWT secret {}: {e}", path.display()))?;
        Self::from_hex(&text).map_err(|e| anyhow::anyhow!("JWT secret {}: {e}", path.display()))
    }

    /// An HS256 token with the current `iat`, which is all the Engine API checks (within 60 s).
    fn token(&self) -> String {
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
        let iat = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let claims = URL_SAFE_NO_PAD.encode(format!(r#"{{"iat":{iat}}}"#));
        let signing_input = format!("{header}.{claims}");
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key size");
        mac.update(signing_input.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{signature}")
    }
}

/// One endpoint. Each call is its own HTTP request, so every request can use id 1.
#[derive(Clone)]
pub struct Client {
    url: String,
    http: reqwest::Client,
    jwt: Option<JwtSecret>,
}

impl Client {
    pub fn new(url: impl Into<String>, jwt: Option<JwtSecret>, timeout: Duration) -> Self {
        Self {
            url: url.into(),
            http: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .expect("a client with a timeout builds"),
            jwt,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls `method` and decodes its result (JSON `null` decodes into `Option::None`).
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        params: impl Serialize,
    ) -> Result<T, RpcError> {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        let mut request = self.http.post(&self.url).json(&body);
        if let Some(jwt) = &self.jwt {
            request = request.bearer_auth(jwt.token());
        }
        let transport = |source| RpcError::Transport {
            url: self.url.clone(),
            method: method.to_string(),
            source,
        };
        let answer: Value = request
            .send()
            .await
            .map_err(transport)?
            .json()
            .await
            .map_err(transport)?;
        if let Some(error) = answer.get("error") {
            return Err(RpcError::Rpc {
                url: self.url.clone(),
                method: method.to_string(),
                code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
                message: error
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            });
        }
        let result = answer.get("result").cloned().unwrap_or(Value::Null);
        serde_json::from_value(result).map_err(|e| RpcError::Decode {
            url: self.url.clone(),
            method: method.to_string(),
            detail: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_is_three_base64url_parts_signed_with_the_secret() {
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
        let secret = JwtSecret::from_hex(&"11".repeat(32)).unwrap();
        let token = secret.token();
        let parts: Vec<_> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert!(claims.starts_with(r#"{"iat":"#));
        let mut mac = Hmac::<Sha256>::new_from_slice(&[0x11; 32]).unwrap();
        mac.update(format!("{}.{}", parts[0], parts[1]).as_bytes());
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        assert!(mac.verify_slice(&signature).is_ok());
        assert!(JwtSecret::from_hex("0x1234").is_err());
    }
}
