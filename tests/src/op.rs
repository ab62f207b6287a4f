//! One OP Stack rollup replica for end-to-end tests: op-geth and op-node (verifier mode), both
//! unmodified and built by `make op-bins`, plus an `ordo-op-adapter` following an Ordo cluster.
//! Every process listens on loopback ports of its own and is killed on drop.

use crate::cluster::{free_port_range, node_binary};
use anyhow::{bail, Context as _, Result};
use serde_json::{json, Value};
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// `$name` if set, else `$HOME/.cache/ordo/op/bin/<file>` (where `make op-bins` installs).
fn op_binary(var: &str, file: &str) -> PathBuf {
    if let Ok(p) = std::env::var(var) {
        return PathBuf::from(p);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    Path::new(&home).join(".cache/ordo/op/bin").join(file)
}

pub fn geth_binary() -> PathBuf {
    op_binary("OP_GETH_BIN", "geth")
}

pub fn op_node_binary() -> PathBuf {
    op_binary("OP_NODE_BIN", "op-node")
}

/// `ordo-op-adapter` next to `ordo-node`.
pub fn adapter_binary() -> PathBuf {
    node_binary().with_file_name("ordo-op-adapter")
}

fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn spawn_logged(dir: &Path, name: &str, cmd: &mut Command) -> Result<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{name}.log")))?;
    cmd.stdout(log.try_clone()?)
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {name}"))
}

/// Calls a JSON-RPC method over HTTP (`params` is a JSON array).
pub async fn rpc(url: &str, method: &str, params: Value) -> Result<Value> {
    use jsonrpsee::{core::client::ClientT, http_client::HttpClientBuilder};
    let client = HttpClientBuilder::default()
        .request_timeout(Duration::from_secs(30))
        .build(url)?;
    let mut array = jsonrpsee::core::params::ArrayParams::new();
    for p in params.as_array().cloned().unwrap_or_default() {
        array.insert(p)?;
    }
    client
        .request(method, array)
        .await
        .with_context(|| format!("{method} at {url}"))
}

/// What a rollup replica follows.
pub struct RollupInputs<'a> {
    pub chain_id: u64,
    pub l1_url: &'a str,
    pub ordo_ws: &'a str,
    pub group_key: &'a str,
    pub batcher_key: &'a str,
}

/// op-geth + op-node + adapter for one rollup.
pub struct Replica {
    pub dir: PathBuf,
    pub l2_rpc: String,
    pub node_rpc: String,
    geth: Option<Child>,
    op_node: Option<Child>,
    adapter: Option<Child>,
    adapter_cmd: Vec<String>,
}

impl Replica {
    /// Ports a replica takes from `base` (op-geth's RPC is `base`).
    pub const PORTS: u16 = 4;

    /// Initialises op-geth from `genesis` (shared by every replica of the rollup) and starts
    /// op-geth and op-node on ports `base..base + PORTS` (op-geth's RPC on `base`; 0 picks free
    /// ones). `rollup_json` is written from this replica's genesis when absent.
    pub async fn start(
        dir: &Path,
        inputs: &RollupInputs<'_>,
        genesis: &Path,
        rollup_json: &Path,
        base: u16,
    ) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let base = if base == 0 {
            free_port_range(Self::PORTS)
        } else {
            base
        };
        let (http, auth, p2p, node) = (base, base + 1, base + 2, base + 3);
        let jwt = dir.join("jwt.txt");
        std::fs::write(&jwt, hex::encode(rand_secret()))?;
        let datadir = dir.join("geth");
        run(Command::new(geth_binary())
            .args(["init", "--state.scheme=hash", "--datadir"])
            .arg(&datadir)
            .arg(genesis))?;
        let geth = spawn_logged(
            dir,
            "op-geth",
            Command::new(geth_binary())
                .arg("--datadir")
                .arg(&datadir)
                .args([
                    "--http",
                    "--http.addr=127.0.0.1",
                    &format!("--http.port={http}"),
                    "--http.api=web3,debug,eth,txpool,net",
                    "--authrpc.addr=127.0.0.1",
                    &format!("--authrpc.port={auth}"),
                    "--syncmode=full",
                    "--gcmode=archive",
                    // The default cache makes each datadir ~1.2 GB on disk.
                    "--cache=128",
                    "--nodiscover",
                    "--maxpeers=0",
                    &format!("--port={p2p}"),
                    &format!("--networkid={}", inputs.chain_id),
                    "--rollup.disabletxpoolgossip",
                ])
                .arg("--authrpc.jwtsecret")
                .arg(&jwt),
        )?;
        let l2_rpc = format!("http://127.0.0.1:{http}");
        wait_rpc(&l2_rpc, Duration::from_secs(60)).await?;
        if !rollup_json.exists() {
            run(Command::new(adapter_binary())
                .args(["rollup-config", "--chain-id", &inputs.chain_id.to_string()])
                .args(["--l1-rpc", inputs.l1_url, "--l2-rpc", &l2_rpc])
                .args(["--batcher", &batcher_address(inputs.batcher_key)?])
                .arg("--out")
                .arg(rollup_json))?;
        }
        let l1_config = dir.join("l1-chain.json");
        run(Command::new(adapter_binary())
            .args(["l1-chain-config", "--l1-rpc", inputs.l1_url])
            .arg("--out")
            .arg(&l1_config))?;
        let op_node = spawn_logged(
            dir,
            "op-node",
            Command::new(op_node_binary())
                .args([
                    &format!("--l1={}", inputs.l1_url),
                    "--l1.trustrpc",
                    "--l1.rpckind=standard",
                    &format!("--l1.beacon={}", inputs.l1_url),
                    "--l1.beacon.ignore",
                    "--l1.epoch-poll-interval=1s",
                    "--l1.http-poll-interval=500ms",
                    &format!("--l2=http://127.0.0.1:{auth}"),
                    "--rpc.addr=127.0.0.1",
                    &format!("--rpc.port={node}"),
                    "--rpc.enable-admin",
                    "--p2p.disable",
                    "--verifier.l1-confs=0",
                    "--log.level=info",
                ])
                .arg("--l2.jwt-secret")
                .arg(&jwt)
                .arg("--rollup.config")
                .arg(rollup_json)
                .arg("--rollup.l1-chain-config")
                .arg(&l1_config),
        )?;
        let node_rpc = format!("http://127.0.0.1:{node}");
        let batcher_key = dir.join("batcher.key");
        std::fs::write(&batcher_key, inputs.batcher_key)?;
        let adapter_cmd = vec![
            "run".to_string(),
            format!("--rollup={}", inputs.chain_id),
            format!("--ordo-ws={}", inputs.ordo_ws),
            format!("--group-key={}", inputs.group_key),
            format!("--rollup-config={}", rollup_json.display()),
            format!("--l1-rpc={}", inputs.l1_url),
            format!("--l2-engine=http://127.0.0.1:{auth}"),
            format!("--l2-jwt-secret={}", jwt.display()),
            format!("--l2-rpc={l2_rpc}"),
            format!("--op-node-rpc={node_rpc}"),
            format!("--batcher-key={}", batcher_key.display()),
        ];
        let replica = Self {
            dir: dir.to_path_buf(),
            l2_rpc,
            node_rpc,
            geth: Some(geth),
            op_node: Some(op_node),
            adapter: None,
            adapter_cmd,
        };
        wait_rpc(&replica.node_rpc, Duration::from_secs(60)).await?;
        Ok(replica)
    }

    /// Starts (or restarts) the adapter.
    pub fn start_adapter(&mut self) -> Result<()> {
        self.kill_adapter();
        let child = spawn_logged(
            &self.dir,
            "adapter",
            Command::new(adapter_binary())
                .args(&self.adapter_cmd)
                .env("RUST_LOG", "info"),
        )?;
        self.adapter = Some(child);
        Ok(())
    }

    /// kill -9 of the adapter.
    pub fn kill_adapter(&mut self) {
        if let Some(mut c) = self.adapter.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// op-node's sync status.
    pub async fn sync_status(&self) -> Result<Value> {
        rpc(&self.node_rpc, "optimism_syncStatus", json!([])).await
    }

    /// (unsafe, safe) L2 head numbers.
    pub async fn heads(&self) -> Result<(u64, u64)> {
        let s = self.sync_status().await?;
        Ok((
            s["unsafe_l2"]["number"].as_u64().unwrap_or(0),
            s["safe_l2"]["number"].as_u64().unwrap_or(0),
        ))
    }

    /// L2 block `number` with full transactions, if op-geth has it.
    pub async fn block(&self, number: u64) -> Result<Option<Value>> {
        let b = rpc(
            &self.l2_rpc,
            "eth_getBlockByNumber",
            json!([format!("{number:#x}"), true]),
        )
        .await?;
        Ok((!b.is_null()).then_some(b))
    }

    /// Waits until `check(unsafe, safe)` holds.
    pub async fn wait_heads(
        &self,
        timeout: Duration,
        what: &str,
        check: impl Fn(u64, u64) -> bool,
    ) -> Result<(u64, u64)> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok((u, s)) = self.heads().await {
                if check(u, s) {
                    return Ok((u, s));
                }
                if Instant::now() > deadline {
                    bail!(
                        "{what}: unsafe {u}, safe {s} after {timeout:?} (logs in {})",
                        self.dir.display()
                    );
                }
            } else if Instant::now() > deadline {
                bail!(
                    "{what}: op-node unreachable (logs in {})",
                    self.dir.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill_adapter();
        for child in [self.op_node.take(), self.geth.take()]
            .into_iter()
            .flatten()
        {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn wait_rpc(url: &str, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if rpc(url, "web3_clientVersion", json!([])).await.is_ok()
            || rpc(url, "optimism_version", json!([])).await.is_ok()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{url} did not answer within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn rand_secret() -> [u8; 32] {
    rand::random()
}

fn batcher_address(key: &str) -> Result<String> {
    let signer: alloy::signers::local::PrivateKeySigner = key.parse()?;
    Ok(format!("{:#x}", signer.address()))
}

/// Writes the rollup's L2 genesis (funding `accounts`) with the adapter's `l2-genesis`.
pub fn write_genesis(path: &Path, chain_id: u64, accounts: &[String]) -> Result<()> {
    run(Command::new(adapter_binary())
        .args(["l2-genesis", "--chain-id", &chain_id.to_string()])
        .args(["--fund", &accounts.join(",")])
        .arg("--out")
        .arg(path))?;
    Ok(())
}
