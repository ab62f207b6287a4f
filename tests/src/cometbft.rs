//! A local CometBFT network, the baseline `make bench` compares Ordo with: the unmodified
//! `cometbft` binary (`make cometbft-bin` builds it from the Go module proxy) running its
//! built-in kvstore app, one process per validator on loopback ports, killed on drop.
//! `cometbft testnet` generates the keys and genesis; the configs are then tuned to match an
//! Ordo cluster (block pacing, proposal timeout, gossip intervals, mempool room).

use crate::cluster::free_port_range;
use anyhow::{anyhow, bail, Context as _, Result};
use base64::Engine as _;
use jsonrpsee::{
    core::{client::ClientT, params::BatchRequestBuilder},
    http_client::{HttpClient, HttpClientBuilder},
    rpc_params,
};
use serde_json::Value;
use std::{
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// `$COMETBFT_BIN`, else where `make cometbft-bin` puts it.
pub fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("COMETBFT_BIN") {
        return PathBuf::from(p);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    PathBuf::from(home).join(".cache/ordo/cometbft/bin/cometbft")
}

pub struct CometNet {
    pub dir: tempfile::TempDir,
    pub rpc: Vec<SocketAddr>,
    /// Where each validator listens for its peers.
    pub p2p: Vec<SocketAddr>,
    /// `cometbft version`.
    pub version: String,
    node_ids: Vec<String>,
    homes: Vec<PathBuf>,
    children: Vec<Option<Child>>,
    binary: PathBuf,
}

impl CometNet {
    /// Creates and starts `validators` validators whose blocks follow each other after
    /// `block_interval_ms` (`timeout_commit`), like an Ordo cluster's block interval.
    pub fn start(validators: usize, block_interval_ms: u64) -> Result<Self> {
        let mut net = Self::create(validators, block_interval_ms)?;
        net.spawn_all()?;
        Ok(net)
    }

    /// Generates the network and writes every validator's config, starting nothing.
    pub fn create(validators: usize, block_interval_ms: u64) -> Result<Self> {
        let binary = binary();
        let version = Command::new(&binary)
            .arg("version")
            .output()
            .with_context(|| {
                format!(
                    "{} cannot run (`make cometbft-bin` builds it)",
                    binary.display()
                )
            })?;
        if !version.status.success() {
            bail!("`{} version` failed", binary.display());
        }
        let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
        let dir = tempfile::Builder::new().prefix("ordo-cometbft").tempdir()?;
        let status = Command::new(&binary)
            .args(["testnet", "--v", &validators.to_string(), "--o"])
            .arg(dir.path())
            .args(["--starting-ip-address", "127.0.0.1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        if !status.success() {
            bail!("cometbft testnet failed");
        }
        let homes: Vec<PathBuf> = (0..validators)
            .map(|i| dir.path().join(format!("node{i}")))
            .collect();
        let mut node_ids = Vec::new();
        for home in &homes {
            let out = Command::new(&binary)
                .arg("show-node-id")
                .arg("--home")
                .arg(home)
                .output()?;
            if !out.status.success() {
                bail!("cometbft show-node-id failed for {}", home.display());
            }
            node_ids.push(String::from_utf8_lossy(&out.stdout).trim().to_string());
        }
        let base = free_port_range(validators as u16 * 2);
        let loopback = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        let p2p: Vec<SocketAddr> = (0..validators as u16).map(|i| loopback(base + i)).collect();
        let rpc: Vec<SocketAddr> = (0..validators as u16)
            .map(|i| loopback(base + validators as u16 + i))
            .collect();
        for (i, home) in homes.iter().enumerate() {
            let path = home.join("config/config.toml");
            let mut config: toml::Table = toml::from_str(&std::fs::read_to_string(&path)?)?;
            tune(&mut config, p2p[i], rpc[i], block_interval_ms)?;
            std::fs::write(&path, toml::to_string(&config)?)?;
        }
        let net = Self {
            dir,
            rpc,
            p2p,
            version,
            node_ids,
            homes,
            children: (0..validators).map(|_| None).collect(),
            binary,
        };
        net.route_peers(|_, to| net.p2p[to])?;
        Ok(net)
    }

    /// Makes validator `from` dial each peer `to` at `dial(from, to)` (its `persistent_peers`;
    /// e.g. through a relay, [`crate::relay::Links`]).
    pub fn route_peers(&self, dial: impl Fn(usize, usize) -> SocketAddr) -> Result<()> {
        for (i, home) in self.homes.iter().enumerate() {
            let path = home.join("config/config.toml");
            let mut config: toml::Table = toml::from_str(&std::fs::read_to_string(&path)?)?;
            let peers: Vec<String> = (0..self.len())
                .filter(|j| *j != i)
                .map(|j| format!("{}@{}", self.node_ids[j], dial(i, j)))
                .collect();
            section(&mut config, "p2p")?.insert(
                "persistent_peers".into(),
                toml::Value::String(peers.join(",")),
            );
            std::fs::write(&path, toml::to_string(&config)?)?;
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.children.len()
    }

    pub fn is_empty(&self) -> bool {
        self.children.is_empty()
    }

    /// Starts every validator (logs in node<i>.log next to its home).
    pub fn spawn_all(&mut self) -> Result<()> {
        for i in 0..self.len() {
            if self.children[i].is_some() {
                continue;
            }
            let log = std::fs::File::create(self.dir.path().join(format!("node{i}.log")))?;
            let child = Command::new(&self.binary)
                .arg("start")
                .arg("--home")
                .arg(&self.homes[i])
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()?;
            self.children[i] = Some(child);
        }
        Ok(())
    }

    pub fn client(&self, i: usize) -> HttpClient {
        HttpClientBuilder::default()
            .request_timeout(Duration::from_secs(30))
            .max_request_size(64 * 1024 * 1024)
            .max_response_size(256 * 1024 * 1024)
            .build(format!("http://{}", self.rpc[i]))
            .expect("client")
    }

    /// Newest committed height the validator behind `client` reports.
    pub async fn height(client: &HttpClient) -> Result<u64> {
        let status: Value = client.request("status", rpc_params![]).await?;
        status["sync_info"]["latest_block_height"]
            .as_str()
            .and_then(|h| h.parse().ok())
            .context("status without latest_block_height")
    }

    /// Waits until every validator has committed `height`.
    pub async fn wait_height(&self, height: u64, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        for i in 0..self.len() {
            let client = self.client(i);
            while Self::height(&client).await.unwrap_or(0) < height {
                if Instant::now() > deadline {
                    bail!(
                        "cometbft validator {i} did not commit height {height} within {timeout:?}; logs in {}",
                        self.dir.path().display()
                    );
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    /// The transactions of committed block `height`, base64 as CometBFT writes them.
    pub async fn block_txs(client: &HttpClient, height: u64) -> Result<Vec<String>> {
        // CometBFT's JSON encodes 64-bit integers as strings and expects them so.
        let block: Value = client
            .request("block", rpc_params![height.to_string()])
            .await?;
        let txs = &block["block"]["data"]["txs"];
        if txs.is_null() {
            return Ok(Vec::new());
        }
        txs.as_array()
            .context("block without data.txs")?
            .iter()
            .map(|t| t.as_str().map(str::to_string).context("tx not a string"))
            .collect()
    }

    /// Submits `txs` with `broadcast_tx_sync` (answered after the mempool's check, as Ordo's
    /// `ordo_sendTransaction`) in JSON-RPC batches; returns the accepted ones, base64 (how
    /// blocks name them), how many were refused (e.g. mempool full) and the first refusal.
    pub async fn submit_with(
        client: &HttpClient,
        txs: &[bytes::Bytes],
    ) -> Result<(Vec<String>, usize, Option<String>)> {
        let mut accepted = Vec::with_capacity(txs.len());
        let (mut refused, mut refusal) = (0, None);
        for chunk in txs.chunks(200) {
            let encoded: Vec<String> = chunk
                .iter()
                .map(|tx| base64::engine::general_purpose::STANDARD.encode(tx))
                .collect();
            let mut batch = BatchRequestBuilder::new();
            for tx in &encoded {
                batch.insert("broadcast_tx_sync", rpc_params![tx])?;
            }
            let responses = client
                .batch_request::<Value>(batch)
                .await
                .map_err(|e| anyhow!("broadcast_tx_sync: {e}"))?;
            for (tx, r) in encoded.into_iter().zip(responses) {
                match r {
                    Ok(result) if result["code"].as_u64() == Some(0) => accepted.push(tx),
                    other => {
                        refused += 1;
                        refusal.get_or_insert_with(|| match other {
                            Ok(result) => format!("check_tx: {result}"),
                            Err(e) => format!("broadcast_tx_sync: {e:?}"),
                        });
                    }
                }
            }
        }
        Ok((accepted, refused, refusal))
    }
}

impl CometNet {
    /// Keeps the network's directory (configs and logs) after the drop, for inspection.
    pub fn keep_logs(&mut self) -> PathBuf {
        let path = self.dir.path().to_path_buf();
        let _ = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir")).keep();
        path
    }
}

impl Drop for CometNet {
    fn drop(&mut self) {
        for child in self.children.iter_mut().filter_map(Option::take) {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            let path = self.dir.path().to_path_buf();
            eprintln!("cometbft logs kept in {}", path.display());
            let _ = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir")).keep();
        }
    }
}

fn section<'a>(config: &'a mut toml::Table, name: &str) -> Result<&'a mut toml::Table> {
    config
        .get_mut(name)
        .and_then(|s| s.as_table_mut())
        .with_context(|| format!("cometbft config without [{name}]"))
}

/// The settings that make a CometBFT network comparable with an Ordo cluster on loopback.
fn tune(
    config: &mut toml::Table,
    p2p: SocketAddr,
    rpc: SocketAddr,
    block_interval_ms: u64,
) -> Result<()> {
    use toml::Value::{Boolean, Integer, String as Str};
    let ms = |v: u64| Str(format!("{v}ms"));
    // The built-in application: a key-value store, as cheap per transaction as it gets.
    config.insert("proxy_app".into(), Str("kvstore".into()));
    let r = section(config, "rpc")?;
    r.insert("laddr".into(), Str(format!("tcp://{rpc}")));
    r.insert("max_body_bytes".into(), Integer(64 * 1024 * 1024));
    // Batches as large as the benchmark's Ordo clients send (the default allows 10).
    r.insert("max_request_batch_size".into(), Integer(0));
    let p = section(config, "p2p")?;
    p.insert("laddr".into(), Str(format!("tcp://{p2p}")));
    // Peers are fixed, as Ordo's are (and a gossiped address would bypass a delay relay).
    p.insert("pex".into(), Boolean(false));
    p.insert("addr_book_strict".into(), Boolean(false));
    p.insert("allow_duplicate_ip".into(), Boolean(true));
    // Defaults (100 ms batching, 5 MB/s per peer) are sized for the internet, not loopback.
    p.insert("flush_throttle_timeout".into(), ms(10));
    p.insert("send_rate".into(), Integer(100_000_000));
    p.insert("recv_rate".into(), Integer(100_000_000));
    let m = section(config, "mempool")?;
    m.insert("size".into(), Integer(200_000));
    m.insert("cache_size".into(), Integer(400_000));
    section(config, "tx_index")?.insert("indexer".into(), Str("null".into()));
    let c = section(config, "consensus")?;
    // Next height after the block interval, a proposal timeout like Ordo's leader timeout.
    c.insert("timeout_commit".into(), ms(block_interval_ms));
    c.insert("timeout_propose".into(), ms(1_000));
    c.insert("create_empty_blocks".into(), Boolean(true));
    c.insert("create_empty_blocks_interval".into(), ms(0));
    c.insert("peer_gossip_sleep_duration".into(), ms(10));
    Ok(())
}
