//! Validator configuration: one TOML file per validator, checked at start with errors that name
//! the offending field.

use anyhow::{anyhow, bail, Context as _, Result};
use commonware_codec::Decode;
use commonware_codec::{DecodeExt, Encode, ReadExt};
use commonware_cryptography::{
    bls12381::primitives::{
        group::Share,
        sharing::{ModeVersion, Sharing},
        variant::MinSig,
    },
    ed25519, Signer,
};
use ordo_types::{BlockLimits, RollupId, RollupKind, RollupSpec};
use serde::{Deserialize, Serialize};
use std::{
    collections::{BTreeMap, HashSet},
    net::SocketAddr,
    num::NonZeroU32,
    path::{Path, PathBuf},
};

/// A validator's whole configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    pub node: Node,
    pub chain: Chain,
    #[serde(default)]
    pub consensus: Consensus,
    /// This validator's L1 endpoint (required when `chain.l1` names an inbox).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l1: Option<NodeL1>,
    /// Execution RPC (e.g. op-geth) of rollups, keyed by rollup id: `/rollup/<id>` forwards
    /// Ethereum reads there, so that URL is a rollup's whole JSON-RPC endpoint.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub execution_rpc: BTreeMap<String, String>,
    /// Switches for tests only.
    #[serde(default, skip_serializing_if = "Testing::is_off")]
    pub testing: Testing,
}

/// How this validator reads L1.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeL1 {
    /// HTTP JSON-RPC endpoint of an L1 node.
    pub rpc: String,
    /// L1 blocks are used once this many blocks are on top of them.
    pub confirmations: u64,
    #[serde(default = "default_l1_poll_interval_ms")]
    pub poll_interval_ms: u64,
    #[serde(default = "default_l1_request_timeout_ms")]
    pub request_timeout_ms: u64,
}

fn default_l1_poll_interval_ms() -> u64 {
    250
}
fn default_l1_request_timeout_ms() -> u64 {
    2_000
}

/// Test-only behaviour. Never set these on a real network.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Testing {
    /// As leader, never consume forced-inclusion entries (honest validators then reject this
    /// validator's blocks once an entry is due).
    pub censor_forced: bool,
}

impl Testing {
    fn is_off(&self) -> bool {
        *self == Self::default()
    }
}

/// The L1 inbox the whole network follows (part of genesis).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainL1 {
    /// `ForcedInclusionInbox` address (0x-hex).
    pub inbox: String,
    /// First L1 block to read: at or before the inbox's deployment.
    pub start_block: u64,
    /// Most inbox entries of one rollup a block consumes.
    pub forced_per_block: u32,
    /// How many L1 blocks a block's L1 reference may trail a validator's confirmed head.
    pub max_l1_lag: u64,
}

/// This validator's identity, secrets, and where it listens.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    pub name: String,
    pub data_dir: PathBuf,
    /// ed25519 private key (hex, 32 bytes).
    pub identity_key: String,
    /// BLS threshold share (hex, commonware encoding).
    pub bls_share: String,
    pub p2p_listen: SocketAddr,
    pub rpc_listen: SocketAddr,
    /// What the log holds (an `EnvFilter` directive such as `info`); `RUST_LOG` overrides it.
    #[serde(default = "default_log_level")]
    pub log_level: String,
    /// One JSON object a line instead of text.
    #[serde(default)]
    pub log_json: bool,
    #[serde(default = "default_worker_threads")]
    pub worker_threads: usize,
    /// Finalized transactions whose locations the index holds in memory (~115 bytes each) before
    /// it writes them, sorted, into its tables.
    #[serde(default = "default_index_ingest_every")]
    pub index_ingest_every: usize,
    /// Directory of the live page served at `/live/` (built by `make web`); none by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_dir: Option<PathBuf>,
    /// Where consensus keeps its journal and archives, if not `data_dir/consensus`: a device of
    /// its own takes their syncs, which every view waits for, out of the queue of the index's and
    /// the mempool's writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consensus_dir: Option<PathBuf>,
    /// Which commonware runtime runs consensus, p2p and the consensus storage.
    #[serde(default)]
    pub runtime: RuntimeKind,
}

/// `node.runtime`: commonware's io_uring runtime (each worker drives its tasks, sockets and
/// files on a ring of its own), its tokio runtime, or io_uring where this machine allows it.
/// Measured with 4 validators on 2 cores, io_uring took ~10% off an idle view's CPU and ~30%
/// off the half-load preconfirmation p50 (`docs/performance.md`, 2026-12-07, 15:00 UTC).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuntimeKind {
    /// io_uring if the kernel lets this process create its rings, else tokio.
    #[default]
    Auto,
    /// io_uring, or refuse to start.
    IoUring,
    Tokio,
}

impl RuntimeKind {
    /// As `node.runtime` and `ordo_status.runtime` write it.
    pub fn name(self) -> &'static str {
        match self {
            RuntimeKind::Auto => "auto",
            RuntimeKind::IoUring => "io_uring",
            RuntimeKind::Tokio => "tokio",
        }
    }
}

impl Node {
    /// The consensus storage directory: `consensus_dir`, else `data_dir/consensus`.
    pub fn consensus_dir(&self) -> PathBuf {
        self.consensus_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("consensus"))
    }
}

fn default_log_level() -> String {
    "info".into()
}
fn default_worker_threads() -> usize {
    2
}
/// Most locations `node.index_ingest_every` may hold in memory (~2 GB).
const MAX_INDEX_INGEST_EVERY: usize = 1 << 24;
fn default_index_ingest_every() -> usize {
    ordo_store::DEFAULT_INGEST_EVERY
}

/// What every validator of the network agrees on (genesis).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chain {
    pub genesis_time_ms: u64,
    /// 96-byte BLS12-381 G2 group public key (hex): all anyone needs to check certificates.
    pub group_key: String,
    /// Public polynomial of the threshold sharing (hex), to check partial signatures.
    pub polynomial: String,
    pub validators: Vec<Validator>,
    pub rollups: Vec<RollupSpec>,
    pub max_block_bytes: usize,
    pub dedup_window: u64,
    pub clock_tolerance_ms: u64,
    pub block_interval_ms: u64,
    /// The L1 forced-inclusion inbox; absent on a network without L1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l1: Option<ChainL1>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Validator {
    /// ed25519 public key (hex).
    pub public_key: String,
    pub p2p_address: SocketAddr,
    pub rpc_address: SocketAddr,
}

/// Consensus timing (defaults suit a LAN or loopback network).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Consensus {
    pub leader_timeout_ms: u64,
    /// How long a leader with nothing to propose waits for a transaction before it orders an
    /// empty block; below `leader_timeout_ms`.
    pub idle_block_interval_ms: u64,
    pub certification_timeout_ms: u64,
    pub timeout_retry_ms: u64,
    pub fetch_timeout_ms: u64,
    pub stall_timeout_ms: u64,
    pub term_length: u32,
    /// Lookahead: views a stable leader may propose, and others verify, ahead of certified
    /// ancestry. 0 by default: with 50 ms between validators 2 took ~40 ms off the p50 and p99
    /// on 2 cores in a fast hour and nothing in a slow one (the views built ahead need CPU), and
    /// ~7% off saturation (docs/performance.md): worth trying on a WAN. The simulation campaign
    /// draws 2 for a third of its seeds: building ahead at once, ~0.42% of notarized blocks
    /// never finalized (against ~0.23% without), half of them built on a parent that was
    /// dropped too; with `build_ahead_after_ms` 75, ~0.28%.
    pub optimistic_views: u64,
    /// With lookahead: how long from its parent's timestamp a leader waits for the parent's
    /// notarization before it builds on the parent unnotarized (0: at once, which ties more
    /// blocks to a view that may still fail).
    pub build_ahead_after_ms: u64,
    pub activity_timeout: u64,
    pub mempool_max_pending_txs: usize,
    pub mempool_max_pending_bytes: usize,
    pub mempool_ttl_secs: u64,
}

impl Default for Consensus {
    /// The engine's timing defaults (the reasons for each are there), in milliseconds.
    fn default() -> Self {
        let timing = ordo_engine::Timing::default();
        let ms = |d: std::time::Duration| d.as_millis() as u64;
        Self {
            leader_timeout_ms: ms(timing.leader_timeout),
            idle_block_interval_ms: ms(timing.idle_block_interval),
            certification_timeout_ms: ms(timing.certification_timeout),
            timeout_retry_ms: ms(timing.timeout_retry),
            fetch_timeout_ms: ms(timing.fetch_timeout),
            stall_timeout_ms: ms(timing.stall_timeout),
            term_length: timing.term_length.get(),
            optimistic_views: timing.optimistic_views,
            build_ahead_after_ms: ms(timing.build_ahead_after),
            activity_timeout: timing.activity_timeout,
            mempool_max_pending_txs: 200_000,
            mempool_max_pending_bytes: 256 * 1024 * 1024,
            mempool_ttl_secs: 600,
        }
    }
}

/// A configuration checked and decoded into what the node runs with.
pub struct Loaded {
    pub config: NodeConfig,
    pub identity: ed25519::PrivateKey,
    pub share: Share,
    pub polynomial: Sharing<MinSig>,
    pub validators: Vec<(ed25519::PublicKey, SocketAddr)>,
}

/// Validators' identity keys and p2p addresses, in configuration order.
pub type Validators = Vec<(ed25519::PublicKey, SocketAddr)>;

fn field<T>(name: &str, r: Result<T>) -> Result<T> {
    r.with_context(|| format!("invalid `{name}`"))
}

/// A 20-byte address in 0x-hex.
pub fn parse_address(s: &str) -> Result<ordo_l1::Address> {
    s.trim()
        .parse()
        .map_err(|e| anyhow!("not a 20-byte hex address: {e}"))
}

fn hex_bytes(s: &str) -> Result<Vec<u8>> {
    hex::decode(s.trim().trim_start_matches("0x")).map_err(|e| anyhow!("not hex: {e}"))
}

/// Decodes the threshold polynomial for `n` validators.
pub fn decode_polynomial(s: &str, n: usize) -> Result<Sharing<MinSig>> {
    let n = NonZeroU32::new(n as u32).ok_or_else(|| anyhow!("no validators"))?;
    Sharing::<MinSig>::decode_cfg(hex_bytes(s)?, &(n, ModeVersion::v0()))
        .map_err(|e| anyhow!("not a threshold polynomial for {n} validators: {e}"))
}

impl Chain {
    pub fn limits(&self) -> BlockLimits {
        BlockLimits {
            max_rollups: self.rollups.len(),
            max_txs_per_batch: self
                .rollups
                .iter()
                .map(|r| r.max_txs_per_block as usize)
                .max()
                .unwrap_or(0),
            max_tx_bytes: self
                .rollups
                .iter()
                .map(|r| r.max_tx_bytes as usize)
                .max()
                .unwrap_or(0),
        }
    }

    /// Rollup ids, sorted.
    pub fn rollup_ids(&self) -> Vec<RollupId> {
        self.rollups.iter().map(|r| r.id).collect()
    }

    /// Checks what does not depend on a particular validator.
    pub fn validate(&self) -> Result<(Sharing<MinSig>, Validators)> {
        if self.validators.is_empty() {
            bail!("invalid `chain.validators`: at least one validator is required");
        }
        let mut validators = Vec::new();
        let mut seen = HashSet::new();
        for (i, v) in self.validators.iter().enumerate() {
            let key = field(
                &format!("chain.validators[{i}].public_key"),
                hex_bytes(&v.public_key).and_then(|b| {
                    ed25519::PublicKey::decode(b).map_err(|e| anyhow!("not an ed25519 key: {e}"))
                }),
            )?;
            if !seen.insert(key.clone()) {
                bail!("invalid `chain.validators[{i}].public_key`: duplicate validator");
            }
            validators.push((key, v.p2p_address));
        }
        let polynomial = field(
            "chain.polynomial",
            decode_polynomial(&self.polynomial, validators.len()),
        )?;
        let group_key = field("chain.group_key", hex_bytes(&self.group_key))?;
        if polynomial.public().encode().as_ref() != group_key.as_slice() {
            bail!("invalid `chain.group_key`: does not match `chain.polynomial`");
        }
        ordo_light::GroupKey::from_bytes(&group_key)
            .map_err(|e| anyhow!("invalid `chain.group_key`: {e}"))?;
        if self.rollups.is_empty() {
            bail!("invalid `chain.rollups`: at least one rollup is required");
        }
        if self.rollups.windows(2).any(|w| w[0].id >= w[1].id) {
            bail!("invalid `chain.rollups`: ids must be unique and sorted ascending");
        }
        for (i, r) in self.rollups.iter().enumerate() {
            if r.max_tx_bytes == 0 || r.max_txs_per_block == 0 || r.share_bytes == 0 {
                bail!("invalid `chain.rollups[{i}]`: share_bytes, max_tx_bytes and max_txs_per_block must be positive");
            }
            if r.kind == RollupKind::Evm && r.id == 0 {
                bail!("invalid `chain.rollups[{i}].id`: an evm rollup id is its chain id and cannot be 0");
            }
        }
        if self.max_block_bytes == 0 {
            bail!("invalid `chain.max_block_bytes`: must be positive");
        }
        if self.dedup_window == 0 {
            bail!("invalid `chain.dedup_window`: must be at least 1");
        }
        if let Some(l1) = &self.l1 {
            field("chain.l1.inbox", parse_address(&l1.inbox))?;
            let most = self.rollups.iter().map(|r| r.max_txs_per_block).min();
            if l1.forced_per_block == 0 || Some(l1.forced_per_block) > most {
                bail!("invalid `chain.l1.forced_per_block`: must be between 1 and every rollup's max_txs_per_block");
            }
            if l1.max_l1_lag == 0 {
                bail!("invalid `chain.l1.max_l1_lag`: must be at least 1");
            }
            // A forced transaction must fit its rollup's share, or its queue could not advance.
            if let Some(i) = self
                .rollups
                .iter()
                .position(|r| r.max_tx_bytes > r.share_bytes)
            {
                bail!("invalid `chain.rollups[{i}].max_tx_bytes`: above share_bytes, which forced inclusion needs it to fit");
            }
        }
        Ok((polynomial, validators))
    }
}

impl NodeConfig {
    pub fn load(path: &Path) -> Result<Loaded> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        let config: NodeConfig =
            toml::from_str(&text).with_context(|| format!("invalid config {}", path.display()))?;
        config.check()
    }

    pub fn check(self) -> Result<Loaded> {
        let (polynomial, validators) = self.chain.validate()?;
        let identity = field(
            "node.identity_key",
            hex_bytes(&self.node.identity_key).and_then(|b| {
                ed25519::PrivateKey::read(&mut commonware_codec::Copying(&b))
                    .map_err(|e| anyhow!("not an ed25519 private key: {e}"))
            }),
        )?;
        if !validators.iter().any(|(k, _)| *k == identity.public_key()) {
            bail!("invalid `node.identity_key`: its public key is not in `chain.validators`");
        }
        let share = field(
            "node.bls_share",
            hex_bytes(&self.node.bls_share)
                .and_then(|b| Share::decode(b).map_err(|e| anyhow!("not a BLS share: {e}"))),
        )?;
        if share.public::<MinSig>()
            != polynomial
                .partial_public(share.index)
                .map_err(|e| anyhow!("{e:?}"))?
        {
            bail!("invalid `node.bls_share`: does not match `chain.polynomial`");
        }
        if self.node.worker_threads == 0 {
            bail!("invalid `node.worker_threads`: must be at least 1");
        }
        if !(1..=MAX_INDEX_INGEST_EVERY).contains(&self.node.index_ingest_every) {
            bail!(
                "invalid `node.index_ingest_every`: must be between 1 and {MAX_INDEX_INGEST_EVERY}"
            );
        }
        if let Some(dir) = &self.node.web_dir {
            if !dir.join("index.html").is_file() {
                bail!(
                    "invalid `node.web_dir`: {} has no index.html (build the page with `make web`)",
                    dir.display()
                );
            }
        }
        if let Some(dir) = &self.node.consensus_dir {
            let data = &self.node.data_dir;
            if dir == data
                || dir.starts_with(data.join("index"))
                || dir.starts_with(data.join("mempool"))
            {
                bail!(
                    "invalid `node.consensus_dir`: {} is the data directory or inside its index or mempool",
                    dir.display()
                );
            }
        }
        if self.consensus.term_length == 0 {
            bail!("invalid `consensus.term_length`: must be at least 1");
        }
        // simplex panics on these orderings; name the field instead.
        let c = &self.consensus;
        if c.leader_timeout_ms == 0 {
            bail!("invalid `consensus.leader_timeout_ms`: must be positive");
        }
        if c.idle_block_interval_ms >= c.leader_timeout_ms {
            // The others would time the idle leader out before its empty block arrived.
            bail!("invalid `consensus.idle_block_interval_ms`: must be less than `consensus.leader_timeout_ms`");
        }
        if c.build_ahead_after_ms >= c.leader_timeout_ms {
            // A leader waiting for its parent's notarization that long would be timed out first.
            bail!("invalid `consensus.build_ahead_after_ms`: must be less than `consensus.leader_timeout_ms`");
        }
        if c.certification_timeout_ms <= c.leader_timeout_ms {
            bail!("invalid `consensus.certification_timeout_ms`: must be greater than `consensus.leader_timeout_ms`");
        }
        if c.timeout_retry_ms == 0 {
            bail!("invalid `consensus.timeout_retry_ms`: must be positive");
        }
        if c.term_length > 1 && c.stall_timeout_ms <= c.certification_timeout_ms {
            bail!("invalid `consensus.stall_timeout_ms`: must be greater than `consensus.certification_timeout_ms`");
        }
        if self.consensus.fetch_timeout_ms == 0 {
            bail!("invalid `consensus.fetch_timeout_ms`: must be positive");
        }
        match (&self.chain.l1, &self.l1) {
            (Some(_), None) => {
                bail!("missing `l1.rpc`: the chain follows an L1 inbox (`chain.l1`)")
            }
            (None, Some(_)) => bail!("invalid `l1`: the chain has no L1 inbox (`chain.l1`)"),
            (Some(_), Some(l1)) => {
                if !(l1.rpc.starts_with("http://") || l1.rpc.starts_with("https://")) {
                    bail!("invalid `l1.rpc`: must be an http:// or https:// URL");
                }
                if l1.poll_interval_ms == 0 || l1.request_timeout_ms == 0 {
                    bail!(
                        "invalid `l1.poll_interval_ms`/`l1.request_timeout_ms`: must be positive"
                    );
                }
            }
            (None, None) => {}
        }
        for (id, url) in &self.execution_rpc {
            let known = id
                .parse::<u64>()
                .ok()
                .filter(|id| self.chain.rollups.iter().any(|r| r.id == *id));
            if known.is_none() {
                bail!("invalid `execution_rpc.{id}`: not a registered rollup id");
            }
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                bail!("invalid `execution_rpc.{id}`: must be an http:// or https:// URL");
            }
        }
        Ok(Loaded {
            config: self,
            identity,
            share,
            polynomial,
            validators,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genesis::{genesis, parse_rollups, GenesisOptions};

    /// A valid validator-0 config from a fresh 4-validator genesis.
    fn valid() -> (tempfile::TempDir, NodeConfig) {
        let dir = tempfile::tempdir().unwrap();
        genesis(GenesisOptions {
            validators: 4,
            rollups: parse_rollups("901:evm,902:evm,903:opaque").unwrap(),
            out: dir.path(),
            host: "127.0.0.1".parse().unwrap(),
            p2p_base_port: 9000,
            rpc_base_port: 8545,
            seed: Some(7),
            genesis_time_ms: 0,
            block_interval_ms: 50,
            l1: Some(crate::genesis::GenesisL1 {
                rpc: "http://127.0.0.1:8545".into(),
                inbox: "0x5FbDB2315678afecb367f032d93F642f64180aa3".into(),
                start_block: 0,
                confirmations: 2,
            }),
        })
        .unwrap();
        let text = std::fs::read_to_string(dir.path().join("validator-0.toml")).unwrap();
        (dir, toml::from_str(&text).unwrap())
    }

    /// The error of `check` after `change`, which must name `field`.
    fn error_after(change: impl FnOnce(&mut NodeConfig), field: &str) {
        let (_dir, mut config) = valid();
        change(&mut config);
        let error = format!("{:#}", config.check().err().expect("config accepted"));
        assert!(
            error.contains(&format!("`{field}`")),
            "error does not name `{field}`: {error}"
        );
    }

    #[test]
    fn a_generated_config_loads() {
        let (dir, _) = valid();
        let loaded = NodeConfig::load(&dir.path().join("validator-3.toml")).unwrap();
        assert_eq!(loaded.validators.len(), 4);
    }

    #[test]
    fn errors_name_the_field() {
        error_after(|c| c.node.identity_key = "zz".into(), "node.identity_key");
        error_after(
            |c| c.node.identity_key = hex::encode([1u8; 32]),
            "node.identity_key",
        );
        error_after(|c| c.node.bls_share = "00".into(), "node.bls_share");
        error_after(|c| c.node.worker_threads = 0, "node.worker_threads");
        error_after(
            |c| c.node.consensus_dir = Some(c.node.data_dir.join("index").join("consensus")),
            "node.consensus_dir",
        );
        error_after(
            |c| c.node.consensus_dir = Some(c.node.data_dir.clone()),
            "node.consensus_dir",
        );
        error_after(|c| c.node.index_ingest_every = 0, "node.index_ingest_every");
        error_after(
            |c| c.node.index_ingest_every = MAX_INDEX_INGEST_EVERY + 1,
            "node.index_ingest_every",
        );
        error_after(
            |c| c.node.web_dir = Some("/nonexistent/ordo-web".into()),
            "node.web_dir",
        );
        error_after(
            |c| c.chain.group_key.replace_range(..2, "00"),
            "chain.group_key",
        );
        error_after(|c| c.chain.polynomial.truncate(40), "chain.polynomial");
        error_after(|c| c.chain.validators.clear(), "chain.validators");
        error_after(
            |c| c.chain.validators[1].public_key = c.chain.validators[0].public_key.clone(),
            "chain.validators[1].public_key",
        );
        error_after(|c| c.chain.rollups.clear(), "chain.rollups");
        error_after(|c| c.chain.rollups.swap(0, 1), "chain.rollups");
        error_after(|c| c.chain.rollups[2].max_tx_bytes = 0, "chain.rollups[2]");
        error_after(|c| c.chain.max_block_bytes = 0, "chain.max_block_bytes");
        error_after(|c| c.chain.dedup_window = 0, "chain.dedup_window");
        error_after(
            |c| c.consensus.leader_timeout_ms = 0,
            "consensus.leader_timeout_ms",
        );
        error_after(
            |c| c.consensus.idle_block_interval_ms = c.consensus.leader_timeout_ms,
            "consensus.idle_block_interval_ms",
        );
        error_after(
            |c| c.consensus.build_ahead_after_ms = c.consensus.leader_timeout_ms,
            "consensus.build_ahead_after_ms",
        );
        error_after(
            |c| c.consensus.certification_timeout_ms = c.consensus.leader_timeout_ms,
            "consensus.certification_timeout_ms",
        );
        error_after(
            |c| c.consensus.stall_timeout_ms = c.consensus.certification_timeout_ms,
            "consensus.stall_timeout_ms",
        );
        error_after(|c| c.consensus.term_length = 0, "consensus.term_length");
        error_after(
            |c| c.consensus.fetch_timeout_ms = 0,
            "consensus.fetch_timeout_ms",
        );
        error_after(
            |c| c.chain.l1.as_mut().unwrap().inbox = "0x1234".into(),
            "chain.l1.inbox",
        );
        error_after(
            |c| c.chain.l1.as_mut().unwrap().forced_per_block = 0,
            "chain.l1.forced_per_block",
        );
        error_after(|c| c.l1 = None, "l1.rpc");
        error_after(
            |c| c.l1.as_mut().unwrap().rpc = "localhost:8545".into(),
            "l1.rpc",
        );
        error_after(|c| c.chain.l1 = None, "l1");
        error_after(
            |c| {
                c.execution_rpc
                    .insert("904".into(), "http://127.0.0.1:9545".into());
            },
            "execution_rpc.904",
        );
        error_after(
            |c| {
                c.execution_rpc
                    .insert("901".into(), "127.0.0.1:9545".into());
            },
            "execution_rpc.901",
        );
    }

    #[test]
    fn the_runtime_is_auto_unless_named() {
        let (dir, _) = valid();
        let text = std::fs::read_to_string(dir.path().join("validator-0.toml")).unwrap();
        let generated = "runtime = \"auto\"\n";
        assert!(text.contains(generated), "genesis writes the choice out");
        let runtime = |line: &str| {
            toml::from_str::<NodeConfig>(&text.replace(generated, line)).map(|c| c.node.runtime)
        };
        assert_eq!(runtime("").unwrap(), RuntimeKind::Auto);
        assert_eq!(
            runtime("runtime = \"tokio\"\n").unwrap(),
            RuntimeKind::Tokio
        );
        assert_eq!(
            runtime("runtime = \"io_uring\"\n").unwrap(),
            RuntimeKind::IoUring
        );
        let error = runtime("runtime = \"iouring\"\n").unwrap_err().to_string();
        assert!(
            error.contains("io_uring") && error.contains("tokio"),
            "{error}"
        );
    }

    #[test]
    fn unknown_and_mistyped_fields_are_refused() {
        let (dir, _) = valid();
        let text = std::fs::read_to_string(dir.path().join("validator-0.toml")).unwrap();
        let typo = text.replace("rpc_listen", "rpc_lisen");
        let error = toml::from_str::<NodeConfig>(&typo).unwrap_err().to_string();
        assert!(error.contains("rpc_lisen"), "{error}");
        let bad_addr = text.replace(
            "rpc_listen = \"127.0.0.1:8545\"",
            "rpc_listen = \"localhost\"",
        );
        let error = toml::from_str::<NodeConfig>(&bad_addr)
            .unwrap_err()
            .to_string();
        assert!(error.contains("rpc_listen"), "{error}");
    }
}
