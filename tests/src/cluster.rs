//! A cluster of real `ordo-node` processes on loopback ports, killed on drop. Starting,
//! killing and the recovery measures are [`Network`]'s.

use crate::network::{Block, Network, Processes};
use anyhow::{anyhow, bail, Context as _, Result};
use jsonrpsee::{
    core::{client::ClientT, params::BatchRequestBuilder},
    http_client::{HttpClient, HttpClientBuilder},
    rpc_params,
    types::ErrorObjectOwned,
};
use serde_json::Value;
use std::{
    collections::HashMap,
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

/// The `ordo-node` binary next to the test executable (target/debug/ordo-node), or $ORDO_NODE.
pub fn node_binary() -> PathBuf {
    if let Ok(p) = std::env::var("ORDO_NODE") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current exe");
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join("ordo-node")
}

/// A base port with `count` consecutive free ports on loopback, below the kernel's ephemeral
/// range: a port in it can be taken by any outgoing connection (a peer dialing, a client
/// polling) while a killed validator restarts, and its restart then fails to bind.
pub fn free_port_range(count: u16) -> u16 {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    let (low, high) = (10_000u16, ephemeral_low.max(10_000 + 2 * count) - count);
    let span = u64::from(high - low);
    // Calls from one test process (clusters in parallel tests) start at different places.
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let seed = u64::from(std::process::id()) * 7_919 + call * 1_009;
    let mut candidate = low + (seed % span) as u16;
    loop {
        let ok = (0..count).all(|i| TcpListener::bind(("127.0.0.1", candidate + i)).is_ok());
        if ok {
            return candidate;
        }
        candidate = low + ((u64::from(candidate - low) + 997) % span) as u16;
    }
}

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub configs: Vec<PathBuf>,
    pub rpc: Vec<SocketAddr>,
    /// Where each validator listens for its peers.
    pub p2p: Vec<SocketAddr>,
    pub public_keys: Vec<String>,
    pub group_key: String,
    processes: Processes,
    binary: PathBuf,
}

/// Changes one validator's configuration (validator index, its TOML) before it first starts.
pub type Configure = Box<dyn Fn(usize, &mut toml::Table)>;

impl Cluster {
    /// Creates the network (genesis) and starts every validator.
    pub fn start(validators: usize, rollups: &str, block_interval_ms: u64) -> Result<Self> {
        Self::start_with(
            validators,
            rollups,
            block_interval_ms,
            &[],
            Box::new(|_, _| {}),
        )
    }

    /// [`Cluster::start`] with extra `genesis` arguments and a per-validator config change.
    pub fn start_with(
        validators: usize,
        rollups: &str,
        block_interval_ms: u64,
        genesis_args: &[String],
        configure: Configure,
    ) -> Result<Self> {
        let mut cluster = Self::create(
            validators,
            rollups,
            block_interval_ms,
            genesis_args,
            configure,
        )?;
        cluster.spawn_all()?;
        Ok(cluster)
    }

    /// Creates the network (genesis and every validator's config) without starting anything.
    pub fn create(
        validators: usize,
        rollups: &str,
        block_interval_ms: u64,
        genesis_args: &[String],
        configure: Configure,
    ) -> Result<Self> {
        let binary = node_binary();
        if !binary.exists() {
            bail!(
                "{} not found: run `cargo build --bins` first",
                binary.display()
            );
        }
        let dir = tempfile::Builder::new().prefix("ordo-cluster").tempdir()?;
        let base = free_port_range(validators as u16 * 2);
        let status = Command::new(&binary)
            .args([
                "genesis",
                "--validators",
                &validators.to_string(),
                "--rollups",
                rollups,
            ])
            .arg("--out")
            .arg(dir.path())
            .args(["--p2p-base-port", &base.to_string()])
            .args(["--rpc-base-port", &(base + validators as u16).to_string()])
            .args(["--block-interval-ms", &block_interval_ms.to_string()])
            .args(genesis_args)
            .stdout(Stdio::null())
            .status()?;
        if !status.success() {
            bail!("genesis failed");
        }
        let group_key = std::fs::read_to_string(dir.path().join("group_key.hex"))?
            .trim()
            .to_string();
        let configs: Vec<PathBuf> = (0..validators)
            .map(|i| dir.path().join(format!("validator-{i}.toml")))
            .collect();
        for (i, path) in configs.iter().enumerate() {
            let mut config: toml::Table = toml::from_str(&std::fs::read_to_string(path)?)?;
            configure(i, &mut config);
            std::fs::write(path, toml::to_string(&config)?)?;
        }
        let genesis: toml::Value =
            toml::from_str(&std::fs::read_to_string(dir.path().join("genesis.toml"))?)?;
        let validator_list = genesis["validators"].as_array().context("validators")?;
        let address = |v: &toml::Value, key: &str| -> Result<SocketAddr> {
            v[key]
                .as_str()
                .with_context(|| format!("genesis validator without {key}"))?
                .parse()
                .with_context(|| format!("genesis {key}"))
        };
        let rpc = validator_list
            .iter()
            .map(|v| address(v, "rpc_address"))
            .collect::<Result<_>>()?;
        let p2p = validator_list
            .iter()
            .map(|v| address(v, "p2p_address"))
            .collect::<Result<_>>()?;
        let public_keys = validator_list
            .iter()
            .map(|v| v["public_key"].as_str().unwrap_or_default().to_string())
            .collect();
        let processes = Processes::new(&binary, validators, |i| {
            let args = vec!["run".into(), "--config".into(), configs[i].clone().into()];
            (args, dir.path().join(format!("validator-{i}.log")))
        });
        Ok(Self {
            dir,
            configs,
            rpc,
            p2p,
            public_keys,
            group_key,
            processes,
            binary,
        })
    }

    /// Makes validator `from` dial each peer `to` at `dial(from, to)` instead of the peer's own
    /// p2p address (e.g. through a relay, [`crate::relay::Links`]); validators keep listening
    /// where genesis put them. Call before the validators start.
    pub fn route_peers(&self, dial: impl Fn(usize, usize) -> SocketAddr) -> Result<()> {
        for (i, path) in self.configs.iter().enumerate() {
            let mut config: toml::Table = toml::from_str(&std::fs::read_to_string(path)?)?;
            let peers = config
                .get_mut("chain")
                .and_then(|c| c.get_mut("validators"))
                .and_then(|v| v.as_array_mut())
                .context("config without chain.validators")?;
            for (j, peer) in peers.iter_mut().enumerate() {
                if j != i {
                    peer["p2p_address"] = toml::Value::String(dial(i, j).to_string());
                }
            }
            std::fs::write(path, toml::to_string(&config)?)?;
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.processes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.processes.is_empty()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn client(&self, i: usize) -> HttpClient {
        rpc_client(self.rpc[i], Duration::from_secs(30))
    }

    pub async fn status(&self, i: usize) -> Result<Value> {
        status(&self.client(i)).await
    }

    /// Index of the validator that led the newest notarized block, as seen by validator `via`.
    pub async fn leader(&self, via: usize) -> Result<usize> {
        let status = self.status(via).await?;
        self.validator_of(status["notarizedLeader"].as_str().unwrap_or_default())
    }

    /// Index of the validator whose public key is `key` (hex, with or without 0x).
    fn validator_of(&self, key: &str) -> Result<usize> {
        let bare = |k: &str| k.trim_start_matches("0x").to_ascii_lowercase();
        self.public_keys
            .iter()
            .position(|k| bare(k) == bare(key))
            .ok_or_else(|| anyhow!("unknown validator key {key}"))
    }

    /// Newest notarized height validator `i` reports.
    pub async fn notarized_height(&self, i: usize) -> Result<u64> {
        self.status(i).await?["notarizedHeight"]
            .as_u64()
            .context("status without notarizedHeight")
    }

    /// Submits `txs` to `rollup` through validator `i` in JSON-RPC batches; returns hashes.
    pub async fn submit(&self, i: usize, rollup: u64, txs: &[bytes::Bytes]) -> Result<Vec<String>> {
        Self::submit_with(&self.client(i), rollup, txs).await
    }

    /// [`Cluster::submit`] over a client the caller keeps (its connections serve many calls).
    pub async fn submit_with(
        client: &HttpClient,
        rollup: u64,
        txs: &[bytes::Bytes],
    ) -> Result<Vec<String>> {
        let mut hashes = Vec::with_capacity(txs.len());
        for chunk in txs.chunks(200) {
            for r in send_transactions(client, rollup, chunk).await? {
                hashes.push(r.map_err(|e| anyhow!("submit rejected: {e:?}"))?);
            }
        }
        Ok(hashes)
    }

    /// Receipts of `hashes` (JSON) from validator `i`, in batches.
    pub async fn receipts(&self, i: usize, hashes: &[String]) -> Result<Vec<Value>> {
        let client = self.client(i);
        let mut out = Vec::with_capacity(hashes.len());
        for chunk in hashes.chunks(500) {
            let mut batch = BatchRequestBuilder::new();
            for h in chunk {
                batch.insert("ordo_getReceipt", rpc_params![h])?;
            }
            for r in client.batch_request::<Value>(batch).await?.into_iter() {
                out.push(r.map_err(|e| anyhow!("getReceipt failed: {e:?}"))?);
            }
        }
        Ok(out)
    }

    /// Runs `ordo-node verify` on a file; returns (success, output).
    pub fn verify(&self, file: &Path) -> Result<(bool, String)> {
        let out = Command::new(&self.binary)
            .args(["verify", "--group-key", &self.group_key])
            .arg(file)
            .output()?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok((out.status.success(), text))
    }
}

/// A JSON-RPC client of the validator whose RPC listens at `address`.
pub fn rpc_client(address: SocketAddr, timeout: Duration) -> HttpClient {
    HttpClientBuilder::default()
        .request_timeout(timeout)
        .max_request_size(64 * 1024 * 1024)
        .max_response_size(256 * 1024 * 1024)
        .build(format!("http://{address}"))
        .expect("client")
}

/// `ordo_status` of a validator.
pub async fn status(client: &HttpClient) -> Result<Value> {
    Ok(client.request("ordo_status", rpc_params![]).await?)
}

/// One `ordo_sendTransactions` call: the node's answer for each transaction (its hash, or why it
/// was refused); an error if the call got no answer at all.
pub async fn send_transactions(
    client: &HttpClient,
    rollup: u64,
    txs: &[bytes::Bytes],
) -> Result<Vec<std::result::Result<String, ErrorObjectOwned>>> {
    let txs: Vec<String> = txs.iter().map(hex::encode_prefixed).collect();
    let answers: Vec<Value> = client
        .request("ordo_sendTransactions", rpc_params![rollup, txs])
        .await?;
    answers
        .into_iter()
        .map(|answer| match answer {
            Value::String(hash) => Ok(Ok(hash)),
            refused => {
                let code = refused["code"].as_i64().context("an answer's error code")?;
                let message = refused["message"].as_str().unwrap_or_default().to_string();
                let data = refused.get("data").cloned();
                Ok(Err(ErrorObjectOwned::owned(code as i32, message, data)))
            }
        })
        .collect()
}

/// Walks a validator's finalized blocks from height 1 on, counting how often each transaction
/// hash appears and keeping each block's digest; [`FinalizedWalk::advance`] continues where the
/// last walk stopped.
#[derive(Default)]
pub struct FinalizedWalk {
    /// Digest of the block at each height (index 0 is height 1).
    pub digests: Vec<String>,
    /// Occurrences of each transaction hash in the blocks walked so far.
    pub included: HashMap<String, usize>,
}

impl FinalizedWalk {
    /// Height of the last block walked.
    pub fn height(&self) -> u64 {
        self.digests.len() as u64
    }

    /// Walks on to the validator's finalized height, or to `until` if that is lower.
    pub async fn advance(&mut self, client: &HttpClient, until: Option<u64>) -> Result<()> {
        let finalized = status(client).await?["finalizedHeight"]
            .as_u64()
            .context("finalizedHeight")?;
        let last = until.map_or(finalized, |u| u.min(finalized));
        while self.height() < last {
            let from = self.height() + 1;
            let to = last.min(from + 99);
            let mut batch = BatchRequestBuilder::new();
            for h in from..=to {
                batch.insert("ordo_getBlock", rpc_params![h])?;
            }
            let blocks = client.batch_request::<Value>(batch).await?;
            for (h, block) in (from..=to).zip(blocks) {
                let block = block.map_err(|e| anyhow!("getBlock {h}: {e:?}"))?;
                // (Its `status` may read "notarized": a finalized block can be stored with the
                // notarization it was preconfirmed with. The finalized height is what counts.)
                if block["height"].as_u64() != Some(h) {
                    bail!("getBlock {h} answered height {}", block["height"]);
                }
                for batch in block["batches"].as_array().context("batches")? {
                    for tx in batch["txHashes"].as_array().context("txHashes")? {
                        let tx = tx.as_str().context("tx hash")?.to_string();
                        *self.included.entry(tx).or_default() += 1;
                    }
                }
                self.digests
                    .push(block["digest"].as_str().context("digest")?.to_string());
            }
        }
        Ok(())
    }
}

impl Network for Cluster {
    fn processes(&self) -> &Processes {
        &self.processes
    }

    fn processes_mut(&mut self) -> &mut Processes {
        &mut self.processes
    }

    fn logs(&self) -> &Path {
        self.dir.path()
    }

    async fn decided_height(&self, i: usize) -> Result<u64> {
        self.notarized_height(i).await
    }

    async fn final_height(&self, i: usize) -> Result<u64> {
        self.status(i).await?["finalizedHeight"]
            .as_u64()
            .context("status without finalizedHeight")
    }

    async fn block(&self, i: usize, height: u64) -> Result<Block> {
        let block: Value = self
            .client(i)
            .request("ordo_getBlock", rpc_params![height])
            .await?;
        let header = &block["header"];
        let leader = header["leader"].as_str().context("header without leader")?;
        Ok(Block {
            height: block["height"].as_u64().context("block without height")?,
            proposer: self.validator_of(leader)?,
            proposed_ms: header["timestampMs"]
                .as_u64()
                .context("header without timestampMs")?,
        })
    }

    async fn newest_proposer(&self, i: usize) -> Result<usize> {
        self.leader(i).await
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.len() {
            self.kill(i);
        }
        if std::thread::panicking() || std::env::var_os("ORDO_KEEP_LOGS").is_some() {
            // Keep logs of a failed run (or of every run, if asked) for inspection.
            let path = self.dir.path().to_path_buf();
            eprintln!("cluster logs kept in {}", path.display());
            let _ = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir")).keep();
        }
    }
}
