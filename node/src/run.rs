//! `run`: starts a validator — storage, p2p, consensus engine and RPC — with consensus on
//! commonware's io_uring or tokio runtime (`node.runtime`) and RPC on a tokio runtime of its own.

use crate::config::{Loaded, RuntimeKind};
use anyhow::{bail, Context as _, Result};
use commonware_consensus::marshal;
use commonware_cryptography::{ed25519, Signer};
use commonware_p2p::{
    authenticated::lookup, utils::StaticProvider, Address, AddressableManager,
    AddressableTrackedPeers,
};
use commonware_runtime::{tokio as cw_tokio, Quota, Runner as _};
use commonware_stream::{
    cups::{self, Cups},
    sake::{self, Sake},
};
use commonware_utils::{
    ordered::{Map, Set},
    NZUsize, TryFromIterator, NZU32,
};
use ordo_engine::{channels, Engine, ForcedRules, Handle, L1Config, Rules, Status, Timing};
use ordo_l1::{FollowerConfig, L1State};
use ordo_mempool::Mempool;
use ordo_store::Store;
use ordo_types::{consensus::Scheme, Block, L1Ref, NAMESPACE};
use std::{
    path::Path,
    sync::{Arc, RwLock},
    time::Duration,
};
use tracing::info;

pub fn run(loaded: Loaded) -> Result<()> {
    let Loaded {
        config,
        identity,
        share,
        polynomial,
        validators,
    } = loaded;
    let node = config.node.clone();
    let chain = config.chain.clone();
    std::fs::create_dir_all(&node.data_dir)
        .with_context(|| format!("cannot create data_dir {}", node.data_dir.display()))?;
    init_logging(&node.log_level, node.log_json)?;
    let runtime = resolve_runtime(node.runtime, io_uring_refusal())?;
    info!(runtime = runtime.name(), wanted = ?node.runtime, "consensus runtime");

    // The RPC server admits transactions: it runs on a runtime of its own whose threads are
    // below consensus (`ordo_mempool::priority`), and so do rocksdb's flushes and compactions
    // (index and mempool journal share rocksdb's default environment).
    let rpc_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(node.worker_threads)
        .thread_name("ordo-rpc")
        .on_thread_start(ordo_mempool::priority::lower_to_ingress)
        .enable_all()
        .build()
        .context("cannot start the RPC runtime")?;
    let rpc_spawner = rpc_runtime.handle().clone();
    let mut storage_env = rocksdb::Env::new().context("rocksdb environment")?;
    storage_env.lower_thread_pool_cpu_priority();
    storage_env.lower_high_priority_thread_pool_cpu_priority();

    let limits = chain.limits();
    let store = Store::open_ingesting_every(
        &node.data_dir.join("index"),
        limits,
        node.index_ingest_every,
    )
    .with_context(|| "cannot open the index store")?;
    let consensus_dir = node.consensus_dir();
    consensus_storage_present(&consensus_dir, store.indexed_height()?)?;
    let mempool = {
        let store = store.clone();
        Mempool::open(
            &node.data_dir.join("mempool"),
            ordo_mempool::Config {
                rollups: chain.rollups.clone(),
                max_block_bytes: chain.max_block_bytes,
                max_pending_txs_per_rollup: config.consensus.mempool_max_pending_txs,
                max_pending_bytes_per_rollup: config.consensus.mempool_max_pending_bytes,
                ttl: Duration::from_secs(config.consensus.mempool_ttl_secs),
                clock: Default::default(),
            },
            // An unreadable index counts nothing as included: finalization still drops the
            // duplicates.
            move |hashes| {
                store
                    .included(hashes)
                    .unwrap_or_else(|_| vec![false; hashes.len()])
            },
        )
        .map_err(|e| anyhow::anyhow!("cannot open the mempool: {e}"))?
    };
    let rollups = Arc::new(chain.rollups.clone());
    // Filled by the L1 follower (started with the runtime below); read by consensus and RPC.
    let l1_state = chain.l1.as_ref().map(|_| L1State::new(chain.rollup_ids()));
    let (events, _) = tokio::sync::broadcast::channel(4_096);
    let handle = Handle {
        mempool,
        store,
        rollups: rollups.clone(),
        preconfirmations: Default::default(),
        events,
        status: Arc::new(RwLock::new(Status {
            group_key: format!("0x{}", chain.group_key.trim_start_matches("0x")),
            runtime: runtime.name().into(),
            ..Status::default()
        })),
        liveness: Default::default(),
        l1: l1_state.clone(),
    };

    let participants =
        commonware_utils::ordered::Set::from_iter_dedup(validators.iter().map(|(k, _)| k.clone()));
    let scheme = Scheme::signer(NAMESPACE, participants, polynomial, share)
        .context("this validator's share does not belong to the polynomial")?;
    let genesis = Block::genesis(chain.genesis_time_ms, L1Ref::default(), &chain.rollup_ids());

    let worker_threads = node.worker_threads;
    let parts = Parts {
        identity,
        validators,
        config,
        handle,
        l1_state,
        scheme,
        genesis,
        limits,
        rpc_spawner,
    };
    match runtime {
        RuntimeKind::IoUring => {
            #[cfg(target_os = "linux")]
            commonware_runtime::iouring::Runner::new(
                commonware_runtime::iouring::Config::new()
                    .with_worker_threads(worker_threads)
                    .with_storage_directory(consensus_dir)
                    .with_catch_panics(false),
            )
            .start(|context| validator(context, parts));
        }
        RuntimeKind::Tokio | RuntimeKind::Auto => {
            cw_tokio::Runner::new(
                cw_tokio::Config::new()
                    .with_worker_threads(worker_threads)
                    .with_storage_directory(consensus_dir)
                    .with_catch_panics(false),
            )
            .start(|context| validator(context, parts));
        }
    }
    Ok(())
}

/// The runtime `wanted` comes to (never `Auto`), given why this machine refuses io_uring if it
/// does: io_uring needs Linux 6.1 or newer (single-issuer rings with deferred task work), and
/// container seccomp profiles and `kernel.io_uring_disabled` often refuse it.
fn resolve_runtime(wanted: RuntimeKind, io_uring_refused: Option<String>) -> Result<RuntimeKind> {
    match (wanted, io_uring_refused) {
        (RuntimeKind::Tokio, _) | (RuntimeKind::Auto, Some(_)) => Ok(RuntimeKind::Tokio),
        (RuntimeKind::IoUring | RuntimeKind::Auto, None) => Ok(RuntimeKind::IoUring),
        (RuntimeKind::IoUring, Some(why)) => bail!(
            "`node.runtime` is \"io_uring\", but this machine refuses io_uring ({why}); set it \
             to \"tokio\" or \"auto\""
        ),
    }
}

/// Why this process cannot create the rings commonware's io_uring runtime creates (1,024
/// entries, one issuer, deferred task work: its production configuration), if it cannot.
#[cfg(target_os = "linux")]
fn io_uring_refusal() -> Option<String> {
    io_uring::IoUring::<io_uring::squeue::Entry>::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(1_024)
        .err()
        .map(|e| e.to_string())
}

#[cfg(not(target_os = "linux"))]
fn io_uring_refusal() -> Option<String> {
    Some("not Linux".into())
}

/// What the validator's tasks are started with, whichever runtime runs them.
struct Parts {
    identity: ed25519::PrivateKey,
    validators: Vec<(ed25519::PublicKey, std::net::SocketAddr)>,
    config: crate::config::NodeConfig,
    handle: Handle,
    l1_state: Option<L1State>,
    scheme: Scheme,
    genesis: Block,
    limits: ordo_types::BlockLimits,
    rpc_spawner: tokio::runtime::Handle,
}

/// Runs p2p, the consensus engine, the RPC server and the mempool's expiry on `context` until
/// they stop.
async fn validator<E>(context: E, parts: Parts)
where
    E: ordo_engine::Runtime + commonware_runtime::Network + commonware_runtime::Resolver,
{
    let Parts {
        identity,
        validators,
        config,
        handle,
        l1_state,
        scheme,
        genesis,
        limits,
        rpc_spawner,
    } = parts;
    let (chain, node) = (&config.chain, &config.node);
    let rollups = handle.rollups.clone();
    let me = identity.public_key();
    let max_message = (chain.max_block_bytes + limits.max_rollups * 64 + 1024 * 1024) as u32;
    let mut p2p = lookup::Config::local(
        Cups::<_, commonware_cryptography::ChaCha20Poly1305>::new(
            Sake {
                signer: identity.clone(),
                synchrony_bound: Duration::from_secs(5),
                max_handshake_age: Duration::from_secs(10),
                version: sake::Version::V1,
            },
            cups::Version::V1,
        ),
        NAMESPACE,
        node.p2p_listen,
        NZUsize!(validators.len().max(1)),
        max_message,
        NZUsize!(16_384),
    );
    // commonware's local defaults dial one peer every 500 ms (across all peers) with 1 s
    // between attempts to one peer: after a restart of the whole network the mesh of 4 took
    // 1.5-3 s, and simultaneous dials that collide are retried only that slowly. A validator
    // set is tens of peers, so dialing every 50 ms costs nothing.
    p2p.dial_frequency = Duration::from_millis(50);
    p2p.peer_connection_cooldown = Duration::from_millis(200);
    let (mut network, mut oracle) = lookup::Network::new(context.child("network"), p2p);
    oracle.track(0, dial_plan(&me, &validators));
    // Consensus, block broadcast and backfill see every validator as a peer; only p2p's
    // dialer sees the split.
    let provider = StaticProvider::new(
        0,
        Set::from_iter_dedup(validators.iter().map(|(k, _)| k.clone())),
    );

    // Per peer and channel. p2p preallocates peers x burst inbound slots per channel, so the
    // burst stays small; a few hundred messages per view window is far above what votes,
    // certificates and block dissemination need.
    let quota = Quota::per_second(NZU32!(5_000)).allow_burst(NZU32!(512));
    let votes = network.register(channels::VOTES, quota);
    let certificates = network.register(channels::CERTIFICATES, quota);
    let resolver = network.register(channels::RESOLVER, quota);
    let broadcast = network.register(channels::BROADCAST, quota);
    let backfill = network.register(channels::BACKFILL, quota);
    let relay = network.register(channels::RELAY, quota);

    let backfill = marshal::resolver::p2p::init(
        context.child("backfill"),
        marshal::resolver::p2p::Config {
            public_key: me.clone(),
            peer_provider: provider.clone(),
            blocker: oracle.clone(),
            mailbox_size: NZUsize!(16_384),
            fetch_timeout: commonware_utils::NonZeroDuration::new_panic(Duration::from_secs(2)),
            fetch_retry_delay: Duration::from_millis(100),
            priority_requests: false,
            priority_responses: false,
        },
        backfill,
    );

    // The L1 follower (a tokio client) runs on the RPC runtime; consensus only reads its view.
    let l1 = match (&chain.l1, &config.l1, l1_state) {
        (Some(chain_l1), Some(node_l1), Some(state)) => {
            let follower = FollowerConfig {
                rpc_url: node_l1.rpc.clone(),
                inbox: crate::config::parse_address(&chain_l1.inbox).expect("checked"),
                confirmations: node_l1.confirmations,
                start_block: chain_l1.start_block,
                poll_interval: Duration::from_millis(node_l1.poll_interval_ms),
                request_timeout: Duration::from_millis(node_l1.request_timeout_ms),
                max_blocks_per_poll: 512,
            };
            rpc_spawner.spawn(ordo_l1::follow(follower, state.clone()));
            Some(state)
        }
        _ => None,
    };

    let c = &config.consensus;
    let engine = Engine::new(
        context.child("engine"),
        ordo_engine::Config {
            blocker: oracle.clone(),
            provider,
            me,
            scheme,
            partition_prefix: "ordo".into(),
            genesis,
            rules: Rules {
                rollups,
                max_block_bytes: chain.max_block_bytes,
                dedup_window: chain.dedup_window,
                clock_tolerance_ms: chain.clock_tolerance_ms,
                block_interval_ms: chain.block_interval_ms,
                forced: chain
                    .l1
                    .as_ref()
                    .map_or_else(ForcedRules::default, |l1| ForcedRules {
                        per_block: l1.forced_per_block,
                        max_l1_lag: l1.max_l1_lag,
                    }),
            },
            limits,
            timing: Timing {
                leader_timeout: Duration::from_millis(c.leader_timeout_ms),
                certification_timeout: Duration::from_millis(c.certification_timeout_ms),
                timeout_retry: Duration::from_millis(c.timeout_retry_ms),
                fetch_timeout: Duration::from_millis(c.fetch_timeout_ms),
                activity_timeout: c.activity_timeout,
                stall_timeout: Duration::from_millis(c.stall_timeout_ms),
                term_length: std::num::NonZeroU32::new(c.term_length).expect("checked"),
                optimistic_views: c.optimistic_views,
                build_ahead_after: Duration::from_millis(c.build_ahead_after_ms),
                idle_block_interval: Duration::from_millis(c.idle_block_interval_ms),
                ..Timing::default()
            },
            handle: handle.clone(),
            l1: l1.map(|state| L1Config {
                state,
                censor_forced: config.testing.censor_forced,
            }),
            faulty_proposals: false,
        },
    )
    .await;
    let engine = engine.start(votes, certificates, resolver, broadcast, relay, backfill);
    let network = network.start();

    let metrics_context = context.child("rpc");
    let metrics: Arc<dyn Fn() -> String + Send + Sync> = Arc::new(move || metrics_context.encode());
    let (rpc_addr, _rpc) = rpc_spawner
        .spawn(ordo_rpc::serve(
            ordo_rpc::Config {
                listen: node.rpc_listen,
                max_request_bytes: 4 * 1024 * 1024,
                max_connections: 1_024,
                health_staleness: Duration::from_secs(10),
                execution_rpc: config
                    .execution_rpc
                    .iter()
                    .map(|(id, url)| (id.parse().expect("checked at load"), url.clone()))
                    .collect(),
                web_dir: node.web_dir.clone(),
            },
            handle.clone(),
            metrics,
        ))
        .await
        .expect("the RPC runtime stopped")
        .expect("cannot start the RPC server");
    info!(name = %node.name, p2p = %node.p2p_listen, rpc = %rpc_addr, "validator started");

    // Mempool expiry: dropped transactions get a reason clients can query.
    let expiry = context.child("expiry").spawn(move |context| async move {
        loop {
            commonware_runtime::Clock::sleep(&context, Duration::from_secs(5)).await;
            for hash in handle.mempool.expire() {
                let _ = handle
                    .store
                    .record_rejection(&hash, "expired: not included within the mempool ttl");
            }
        }
    });
    let _ = futures::future::join3(engine, network, expiry).await;
}

/// Which validators this one dials: of each pair, the one with the smaller identity key dials
/// the other (primary peers are dialed, secondary ones only accepted). When both dialed, both
/// connections could fail: each side had reserved the peer for its own dial and refused the
/// other's, and with 50 ms between validators the two retried into each other again for up to
/// ~3 s after a start (connections came up and were closed a round trip later).
fn dial_plan(
    me: &ed25519::PublicKey,
    validators: &[(ed25519::PublicKey, std::net::SocketAddr)],
) -> AddressableTrackedPeers<ed25519::PublicKey> {
    let (dialed, accepted): (Vec<_>, Vec<_>) = validators
        .iter()
        .map(|(k, a)| (k.clone(), Address::from(*a)))
        .partition(|(k, _)| k >= me);
    AddressableTrackedPeers::new(
        Map::try_from_iter(dialed).expect("validators are unique"),
        Map::try_from_iter(accepted).expect("validators are unique"),
    )
}

/// Refuses to start consensus on an empty storage directory when the index shows this validator
/// has taken part before: its journal holds the votes it cast, and a validator that forgot them
/// could vote twice in one view (a `node.consensus_dir` changed without moving the directory, or
/// the directory lost).
fn consensus_storage_present(dir: &Path, indexed_height: Option<u64>) -> Result<()> {
    let Some(height) = indexed_height.filter(|&h| h > 0) else {
        return Ok(());
    };
    let empty = match std::fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    if empty {
        bail!(
            "consensus storage {} is empty, but the index has finalized blocks up to height {height}: \
             this validator's journal of its votes is elsewhere (move it to {}, or set \
             `node.consensus_dir` to where it is; to start over, empty `node.data_dir` too)",
            dir.display(),
            dir.display()
        );
    }
    Ok(())
}

/// Logs at `RUST_LOG` if it is set (to look closer at one run without editing its
/// configuration), else at `node.log_level`. Colours only on a terminal, so a log file or a
/// journal gets plain text.
///
/// At `node.log_level` the log holds events and no spans: commonware opens an info-level span
/// around every storage write and sync, whose fields the log would format each time (2% of a
/// loaded cluster's CPU) to print them only in the rare event logged inside one. `RUST_LOG`
/// keeps spans, for span-scoped directives and their context.
fn init_logging(level: &str, json: bool) -> Result<()> {
    use std::io::IsTerminal;
    use tracing_subscriber::{filter::filter_fn, prelude::*, EnvFilter, Layer};
    let (filter, spans) = match std::env::var("RUST_LOG") {
        Ok(from_env) => (
            EnvFilter::try_new(&from_env)
                .with_context(|| format!("invalid RUST_LOG `{from_env}`"))?,
            true,
        ),
        Err(_) => (
            EnvFilter::try_new(level)
                .with_context(|| format!("invalid `node.log_level` `{level}`"))?,
            false,
        ),
    };
    let output = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal());
    let output = if json {
        output.json().boxed()
    } else {
        output.boxed()
    };
    let output = output
        .with_filter(filter)
        .with_filter(filter_fn(move |metadata| spans || metadata.is_event()));
    tracing_subscriber::registry()
        .with(output)
        .try_init()
        .map_err(|e| anyhow::anyhow!("cannot initialise logging: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    #[test]
    fn auto_takes_io_uring_where_allowed_and_an_explicit_choice_is_kept_or_refused() {
        let refused = || Some("Operation not permitted (os error 1)".to_string());
        let chosen = |wanted, refusal| resolve_runtime(wanted, refusal).unwrap();
        assert_eq!(chosen(RuntimeKind::Auto, None), RuntimeKind::IoUring);
        assert_eq!(chosen(RuntimeKind::Auto, refused()), RuntimeKind::Tokio);
        assert_eq!(chosen(RuntimeKind::Tokio, None), RuntimeKind::Tokio);
        assert_eq!(chosen(RuntimeKind::IoUring, None), RuntimeKind::IoUring);
        let error = resolve_runtime(RuntimeKind::IoUring, refused())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("`node.runtime`") && error.contains("Operation not permitted"),
            "{error}"
        );
    }

    #[test]
    fn consensus_refuses_an_empty_storage_once_the_index_has_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let consensus = dir.path().join("consensus");
        // A new validator (nothing indexed, or only genesis) starts on empty storage.
        consensus_storage_present(&consensus, None).unwrap();
        consensus_storage_present(&consensus, Some(0)).unwrap();
        // One that finalized blocks before does not: missing, or present and empty.
        let error = format!(
            "{:#}",
            consensus_storage_present(&consensus, Some(7)).unwrap_err()
        );
        assert!(
            error.contains("height 7") && error.contains("node.consensus_dir"),
            "{error}"
        );
        std::fs::create_dir(&consensus).unwrap();
        assert!(consensus_storage_present(&consensus, Some(7)).is_err());
        std::fs::create_dir(consensus.join("ordo-consensus")).unwrap();
        consensus_storage_present(&consensus, Some(7)).unwrap();
    }

    #[test]
    fn of_each_pair_of_validators_exactly_one_dials_the_other() {
        let validators: Vec<(ed25519::PublicKey, SocketAddr)> = (0..5u16)
            .map(|i| {
                let key = ed25519::PrivateKey::from_seed(u64::from(i)).public_key();
                (key, SocketAddr::from(([127, 0, 0, 1], 9000 + i)))
            })
            .collect();
        let plans: Vec<_> = validators
            .iter()
            .map(|(me, _)| dial_plan(me, &validators))
            .collect();
        let dials = |a: usize, b: usize| plans[a].primary.get_value(&validators[b].0).is_some();
        for (a, plan) in plans.iter().enumerate() {
            assert_eq!(
                plan.primary.len() + plan.secondary.len(),
                validators.len(),
                "every validator is tracked, dialed or accepted"
            );
            for b in (0..validators.len()).filter(|&b| b != a) {
                assert_ne!(dials(a, b), dials(b, a), "validators {a} and {b}");
                let key = &validators[b].0;
                let address = plan.primary.get_value(key);
                let address = address.or_else(|| plan.secondary.get_value(key));
                assert_eq!(address, Some(&Address::from(validators[b].1)));
            }
        }
    }
}
