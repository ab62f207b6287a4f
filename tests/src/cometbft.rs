//! A local CometBFT network, the baseline `make bench` compares Ordo with: the unmodified
//! `cometbft` binary (`make cometbft-bin` builds it from the Go module proxy) running its
//! built-in kvstore app, one process per validator on loopback ports, killed on drop.
//! `cometbft testnet` generates the keys and genesis; the configs are then tuned to match an
//! Ordo cluster (block pacing, proposal timeout, gossip intervals, mempool room). Starting,
//! killing and the recovery measures are [`Network`]'s, as for an Ordo cluster.

use crate::{
    cluster::free_port_range,
    network::{Block, Network, Processes},
};
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
    process::{Command, Stdio},
    time::Duration,
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
    /// Each validator's address (hex), which blocks name their proposer by.
    validator_addresses: Vec<String>,
    homes: Vec<PathBuf>,
    processes: Processes,
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
        let validator_addresses = homes
            .iter()
            .map(|home| validator_address(&home.join("config/priv_validator_key.json")))
            .collect::<Result<_>>()?;
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
        let processes = Processes::new(&binary, validators, |i| {
            let args = vec!["start".into(), "--home".into(), homes[i].clone().into()];
            (args, dir.path().join(format!("node{i}.log")))
        });
        let net = Self {
            dir,
            rpc,
            p2p,
            version,
            node_ids,
            validator_addresses,
            homes,
            processes,
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
        self.processes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.processes.is_empty()
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

    /// The header of committed block `height`.
    pub async fn header(client: &HttpClient, height: u64) -> Result<Value> {
        // CometBFT's JSON encodes 64-bit integers as strings and expects them so. (Without the
        // height, which its documentation says is optional, the handler panics.)
        let block: Value = client
            .request("block", rpc_params![height.to_string()])
            .await?;
        let header = &block["block"]["header"];
        if !header.is_object() {
            bail!("block without header: {block}");
        }
        Ok(header.clone())
    }

    /// Which validator proposed a block (given its header).
    fn proposer(&self, header: &Value) -> Result<usize> {
        let address = header["proposer_address"]
            .as_str()
            .context("block header without proposer_address")?;
        self.validator_addresses
            .iter()
            .position(|a| a.eq_ignore_ascii_case(address))
            .with_context(|| format!("unknown proposer {address}"))
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

/// Committed is final in CometBFT: a block is decided and final at once. A block's time is the
/// median of the precommit times of the height before it, so the first height decided after a
/// full restart still carries a time from before the kill when its predecessor was committed
/// before it: the restart measure then waits for the height after.
impl Network for CometNet {
    fn processes(&self) -> &Processes {
        &self.processes
    }

    fn processes_mut(&mut self) -> &mut Processes {
        &mut self.processes
    }

    fn logs(&self) -> &std::path::Path {
        self.dir.path()
    }

    async fn decided_height(&self, i: usize) -> Result<u64> {
        Self::height(&self.client(i)).await
    }

    async fn final_height(&self, i: usize) -> Result<u64> {
        Self::height(&self.client(i)).await
    }

    async fn block(&self, i: usize, height: u64) -> Result<Block> {
        let header = Self::header(&self.client(i), height).await?;
        Ok(Block {
            height: header["height"]
                .as_str()
                .and_then(|h| h.parse().ok())
                .context("block header without height")?,
            proposer: self.proposer(&header)?,
            proposed_ms: rfc3339_unix_ms(header["time"].as_str().unwrap_or_default())?,
        })
    }

    async fn newest_proposer(&self, i: usize) -> Result<usize> {
        let client = self.client(i);
        let newest = Self::height(&client).await?;
        self.proposer(&Self::header(&client, newest).await?)
    }
}

impl Drop for CometNet {
    fn drop(&mut self) {
        for i in 0..self.len() {
            self.kill(i);
        }
        if std::thread::panicking() {
            let path = self.dir.path().to_path_buf();
            eprintln!("cometbft logs kept in {}", path.display());
            let _ = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir")).keep();
        }
    }
}

/// The `address` that `cometbft testnet` wrote into a validator's key file (only that field is
/// read): the name its blocks give their proposer.
fn validator_address(key_file: &std::path::Path) -> Result<String> {
    let key: Value = serde_json::from_str(&std::fs::read_to_string(key_file)?)
        .with_context(|| format!("{} is not JSON", key_file.display()))?;
    key["address"]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("{} without address", key_file.display()))
}

/// Milliseconds since the Unix epoch of a UTC RFC 3339 time as CometBFT writes block times
/// (`2026-12-01T10:00:00.123456789Z`, the fraction of any length or absent).
fn rfc3339_unix_ms(time: &str) -> Result<u64> {
    let malformed = || anyhow!("not a UTC RFC 3339 time: {time}");
    let rest = time.strip_suffix('Z').ok_or_else(malformed)?;
    let (date, clock) = rest.split_once('T').ok_or_else(malformed)?;
    let (clock, fraction) = clock.split_once('.').unwrap_or((clock, ""));
    let numbers = |s: &str, separator: char| -> Result<Vec<i64>> {
        let parts: Vec<i64> = s
            .split(separator)
            .map(|p| p.parse().map_err(|_| malformed()))
            .collect::<Result<_>>()?;
        if parts.len() != 3 {
            return Err(malformed());
        }
        Ok(parts)
    };
    let (ymd, hms) = (numbers(date, '-')?, numbers(clock, ':')?);
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed());
    }
    let millis: i64 = format!("{fraction:0<3}")[..3].parse()?;
    // Days from 1970-01-01 to the date in the proleptic Gregorian calendar, counted in 400-year
    // eras of 146,097 days that start on March 1st (so the leap day ends a year).
    let (y, m, d) = (ymd[0] - i64::from(ymd[1] <= 2), ymd[1], ymd[2]);
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let seconds = days * 86_400 + hms[0] * 3_600 + hms[1] * 60 + hms[2];
    u64::try_from(seconds * 1_000 + millis).map_err(|_| malformed())
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

#[cfg(test)]
mod tests {
    use super::rfc3339_unix_ms;

    #[test]
    fn block_times_read_as_unix_milliseconds() {
        assert_eq!(rfc3339_unix_ms("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(rfc3339_unix_ms("1970-01-01T00:00:01.5Z").unwrap(), 1_500);
        // `date -u -d 2000-02-29T23:59:59 +%s` = 951868799: the leap day of a century's leap year.
        assert_eq!(
            rfc3339_unix_ms("2000-02-29T23:59:59.999999999Z").unwrap(),
            951_868_799_999
        );
        // `date -u -d 2026-12-01T10:00:00 +%s` = 1796119200.
        assert_eq!(
            rfc3339_unix_ms("2026-12-01T10:00:00.123456789Z").unwrap(),
            1_796_119_200_123
        );
        for malformed in [
            "2026-12-01 10:00:00Z",
            "2026-12-01T10:00:00+01:00",
            "x",
            "2026:12:01T10:00:00Z",
        ] {
            assert!(rfc3339_unix_ms(malformed).is_err(), "{malformed}");
        }
    }
}
