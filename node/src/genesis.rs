//! `keygen` and `genesis`: identities and a trusted-dealer threshold setup for a new network.

use crate::config::{Chain, ChainL1, Consensus, Node, NodeConfig, NodeL1, Validator};
use anyhow::{bail, Context as _, Result};
use commonware_codec::Encode;
use commonware_cryptography::{
    bls12381::{
        dkg::feldman_desmedt::deal,
        primitives::{sharing::Mode, variant::MinSig},
    },
    ed25519, Signer,
};
use commonware_math::algebra::Random;
use commonware_utils::{ordered::Set, N3f1};
use ordo_types::{RollupKind, RollupSpec};
use rand::{rngs::StdRng, SeedableRng};
use std::{net::SocketAddr, path::Path, str::FromStr};

/// Parses `901:evm,902:evm,903:opaque`.
pub fn parse_rollups(s: &str) -> Result<Vec<RollupSpec>> {
    let mut rollups = Vec::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (id, kind) = item
            .split_once(':')
            .with_context(|| format!("rollup `{item}` must be ID:KIND (e.g. 901:evm)"))?;
        let id: u64 = id
            .parse()
            .with_context(|| format!("rollup id `{id}` is not a number"))?;
        let kind = RollupKind::from_str(kind).map_err(anyhow::Error::msg)?;
        rollups.push(RollupSpec::with_defaults(id, kind));
    }
    rollups.sort_by_key(|r| r.id);
    if rollups.windows(2).any(|w| w[0].id == w[1].id) {
        bail!("duplicate rollup id in `{s}`");
    }
    if rollups.is_empty() {
        bail!("at least one rollup is required");
    }
    Ok(rollups)
}

/// A fresh ed25519 identity: (private hex, public hex).
pub fn keygen(seed: Option<u64>) -> (String, String) {
    let key = match seed {
        Some(seed) => ed25519::PrivateKey::from_seed(seed),
        None => ed25519::PrivateKey::random(rand::rng()),
    };
    (
        hex::encode(key.encode()),
        hex::encode(key.public_key().encode()),
    )
}

pub struct GenesisOptions<'a> {
    pub validators: usize,
    pub rollups: Vec<RollupSpec>,
    pub out: &'a Path,
    pub host: std::net::IpAddr,
    pub p2p_base_port: u16,
    pub rpc_base_port: u16,
    pub seed: Option<u64>,
    pub genesis_time_ms: u64,
    pub block_interval_ms: u64,
    /// The L1 inbox every validator follows, and the endpoint they read it from.
    pub l1: Option<GenesisL1>,
}

/// `genesis --l1-*`: the inbox and how the generated validators reach L1.
pub struct GenesisL1 {
    pub rpc: String,
    pub inbox: String,
    pub start_block: u64,
    pub confirmations: u64,
}

/// Writes `validator-<i>.toml` for each validator, `genesis.toml` (the shared chain section) and
/// `group_key.hex`. Returns the group key.
pub fn genesis(opts: GenesisOptions<'_>) -> Result<String> {
    if opts.validators == 0 {
        bail!("--validators must be at least 1");
    }
    let mut rng = match opts.seed {
        Some(seed) => StdRng::seed_from_u64(seed),
        None => StdRng::from_rng(&mut rand::rng()),
    };
    let keys: Vec<ed25519::PrivateKey> = (0..opts.validators)
        .map(|_| ed25519::PrivateKey::random(&mut rng))
        .collect();
    let participants = Set::from_iter_dedup(keys.iter().map(|k| k.public_key()));
    let (output, shares) = deal::<MinSig, _, N3f1>(&mut rng, Mode::NonZeroCounter, participants)
        .map_err(|e| anyhow::anyhow!("dealing failed: {e:?}"))?;
    let polynomial = output.public();
    let group_key = hex::encode(polynomial.public().encode());

    let validators: Vec<Validator> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| Validator {
            public_key: hex::encode(k.public_key().encode()),
            p2p_address: SocketAddr::new(opts.host, opts.p2p_base_port + i as u16),
            rpc_address: SocketAddr::new(opts.host, opts.rpc_base_port + i as u16),
        })
        .collect();
    let chain = Chain {
        genesis_time_ms: opts.genesis_time_ms,
        group_key: group_key.clone(),
        polynomial: hex::encode(polynomial.encode()),
        validators: validators.clone(),
        max_block_bytes: opts.rollups.iter().map(|r| r.share_bytes as usize).sum(),
        rollups: opts.rollups,
        dedup_window: 64,
        clock_tolerance_ms: 500,
        block_interval_ms: opts.block_interval_ms,
        l1: opts.l1.as_ref().map(|l1| ChainL1 {
            inbox: l1.inbox.clone(),
            start_block: l1.start_block,
            forced_per_block: 16,
            max_l1_lag: 32,
        }),
    };
    std::fs::create_dir_all(opts.out)
        .with_context(|| format!("cannot create {}", opts.out.display()))?;
    let out = std::fs::canonicalize(opts.out)?;
    for (i, key) in keys.iter().enumerate() {
        let share = shares
            .get_value(&key.public_key())
            .context("dealer produced no share for a validator")?;
        let config = NodeConfig {
            node: Node {
                name: format!("validator-{i}"),
                data_dir: out.join(format!("validator-{i}")),
                identity_key: hex::encode(key.encode()),
                bls_share: hex::encode(share.encode()),
                p2p_listen: validators[i].p2p_address,
                rpc_listen: validators[i].rpc_address,
                log_level: "info".into(),
                log_json: false,
                worker_threads: 2,
                index_ingest_every: ordo_store::DEFAULT_INGEST_EVERY,
                web_dir: None,
                consensus_dir: None,
                runtime: Default::default(),
            },
            chain: chain.clone(),
            consensus: Consensus::default(),
            l1: opts.l1.as_ref().map(|l1| NodeL1 {
                rpc: l1.rpc.clone(),
                confirmations: l1.confirmations,
                poll_interval_ms: 250,
                request_timeout_ms: 2_000,
            }),
            execution_rpc: Default::default(),
            testing: Default::default(),
        };
        // Fail now rather than at start if anything we wrote would not load.
        let config = config.check()?.config;
        write(
            &out.join(format!("validator-{i}.toml")),
            &toml::to_string(&config)?,
        )?;
    }
    write(&out.join("genesis.toml"), &toml::to_string(&chain)?)?;
    write(&out.join("group_key.hex"), &format!("{group_key}\n"))?;
    Ok(group_key)
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}
