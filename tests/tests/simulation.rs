//! Deterministic simulation: 4 validators on commonware's simulated network with lossy links and
//! random unclean restarts of the whole network. After each seed: no two different finalized
//! blocks at one height, every accepted transaction included exactly once, progress after the
//! faults, and the same seed run twice gives the same auditor state.

use commonware_consensus::{marshal, simplex::scheme::bls12381_threshold::standard};
use commonware_cryptography::{
    bls12381::primitives::variant::MinSig, certificate::mocks::Fixture, ed25519::PublicKey, Signer,
};
use commonware_macros::select;
use commonware_p2p::simulated::{self, Link, Network, Oracle};
use commonware_runtime::{
    deterministic::{self, Runner},
    Clock, Quota, Spawner, Supervisor as _,
};
use commonware_utils::{ordered::Set, NZUsize, SystemTimeExt as _, NZU32};
use ordo_engine::{channels, Engine, Handle, Rules, Status, Timing};
use ordo_mempool::Mempool;
use ordo_store::Store;
use ordo_types::{Block, BlockLimits, L1Ref, RollupKind, RollupSpec, NAMESPACE};
use rand::{RngExt as _, SeedableRng};
use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
    time::Duration,
};

const VALIDATORS: u32 = 4;
const TXS: usize = 120;
const TARGET_HEIGHT: u64 = 25;

fn rollups() -> Vec<RollupSpec> {
    vec![
        RollupSpec::with_defaults(901, RollupKind::Opaque),
        RollupSpec::with_defaults(902, RollupKind::Opaque),
    ]
}

fn limits() -> BlockLimits {
    BlockLimits {
        max_rollups: 2,
        max_txs_per_batch: 10_000,
        max_tx_bytes: 128 * 1024,
    }
}

fn open_handle(dir: &Path, context: &deterministic::Context) -> Handle {
    let store = Store::open(&dir.join("index"), limits()).expect("store");
    let mempool = {
        let store = store.clone();
        Mempool::open(
            &dir.join("mempool"),
            ordo_mempool::Config {
                rollups: rollups(),
                max_block_bytes: 1 << 20,
                max_pending_txs_per_rollup: 100_000,
                max_pending_bytes_per_rollup: 1 << 28,
                ttl: Duration::from_secs(1_000_000),
                clock: {
                    let context = context.child("mempool_clock");
                    ordo_mempool::WallClock::new(move || context.current().epoch_millis())
                },
            },
            move |h| store.is_included(h).unwrap_or(false),
        )
        .expect("mempool")
    };
    let (events, _) = tokio::sync::broadcast::channel(1024);
    Handle {
        mempool,
        store,
        rollups: Arc::new(rollups()),
        preconfirmations: Default::default(),
        events,
        status: Arc::new(RwLock::new(Status::default())),
        l1: None,
    }
}

async fn start_network(
    context: &deterministic::Context,
    fixture: &Fixture<standard::Scheme<PublicKey, MinSig>>,
    dirs: &[PathBuf],
    success_rate: f64,
) -> (Oracle<PublicKey, deterministic::Context>, Vec<Handle>) {
    let (network, oracle) = Network::new(
        context.child("network"),
        simulated::Config {
            max_size: 4 * 1024 * 1024,
            max_peers_per_set: NZUsize!(VALIDATORS as usize),
            disconnect_on_block: true,
            tracked_peer_sets: NZUsize!(1),
        },
    );
    network.start();
    let participants = &fixture.participants;
    let mut manager = oracle.manager();
    commonware_p2p::Manager::track(
        &mut manager,
        0,
        Set::from_iter_dedup(participants.iter().cloned()),
    );
    for a in participants.iter() {
        for b in participants.iter() {
            if a != b {
                let link = Link {
                    latency: Duration::from_millis(10),
                    jitter: Duration::from_millis(3),
                    success_rate: commonware_utils::Probability::from_f64(success_rate)
                        .expect("probability"),
                };
                oracle.add_link(a.clone(), b.clone(), link).await.unwrap();
            }
        }
    }
    let quota = Quota::per_second(NZU32!(1_000_000));
    let genesis = Block::genesis(0, L1Ref::default(), &[901, 902]);
    let mut handles = Vec::new();
    for (i, ((signer, scheme), dir)) in fixture
        .private_keys
        .iter()
        .zip(&fixture.schemes)
        .zip(dirs)
        .enumerate()
    {
        let me = signer.public_key();
        let control = oracle.control(me.clone());
        let votes = control.register(channels::VOTES, quota).await.unwrap();
        let certificates = control
            .register(channels::CERTIFICATES, quota)
            .await
            .unwrap();
        let resolver = control.register(channels::RESOLVER, quota).await.unwrap();
        let broadcast = control.register(channels::BROADCAST, quota).await.unwrap();
        let backfill = control.register(channels::BACKFILL, quota).await.unwrap();
        let relay = control.register(channels::RELAY, quota).await.unwrap();
        let ctx = context.child("validator").with_attribute("id", &me);
        let handle = open_handle(dir, &ctx);
        let backfill = marshal::resolver::p2p::init(
            ctx.child("backfill"),
            marshal::resolver::p2p::Config {
                public_key: me.clone(),
                peer_provider: oracle.manager(),
                blocker: oracle.control(me.clone()),
                mailbox_size: NZUsize!(1024),
                fetch_timeout: commonware_utils::NonZeroDuration::new_panic(Duration::from_secs(1)),
                fetch_retry_delay: Duration::from_millis(100),
                priority_requests: false,
                priority_responses: false,
            },
            backfill,
        );
        let engine = Engine::new(
            ctx.child("engine"),
            ordo_engine::Config {
                blocker: oracle.control(me.clone()),
                provider: oracle.manager(),
                me,
                scheme: scheme.clone(),
                // The simulated runtime's storage is shared by all validators.
                partition_prefix: format!("ordo-v{i}"),
                genesis: genesis.clone(),
                rules: Rules {
                    rollups: Arc::new(rollups()),
                    max_block_bytes: 1 << 20,
                    dedup_window: 32,
                    clock_tolerance_ms: 500,
                    block_interval_ms: 20,
                    forced: Default::default(),
                },
                limits: limits(),
                timing: Timing {
                    leader_timeout: Duration::from_millis(250),
                    certification_timeout: Duration::from_millis(500),
                    timeout_retry: Duration::from_millis(600),
                    stall_timeout: Duration::from_millis(1_000),
                    freezer_table_initial_size: 1 << 10,
                    mailbox_size: 1024,
                    ..Timing::default()
                },
                handle: handle.clone(),
                l1: None,
            },
        )
        .await;
        engine.start(votes, certificates, resolver, broadcast, relay, backfill);
        handles.push(handle);
    }
    (oracle, handles)
}

/// Finalized digests by height and included tx hashes (with counts) of one validator's store.
fn chain_of(store: &Store) -> (Vec<[u8; 32]>, HashMap<[u8; 32], usize>) {
    let mut digests = Vec::new();
    let mut txs = HashMap::new();
    let top = store.indexed_height().unwrap().unwrap_or(0);
    for h in 1..=top {
        let (block, _) = store.block(h).unwrap().expect("indexed block");
        digests.push(block.digest().0);
        for hash in block.tx_hashes().iter().flatten() {
            *txs.entry(*hash).or_insert(0) += 1;
        }
    }
    (digests, txs)
}

/// Runs one seed to completion across random crashes; returns the final auditor state.
fn run_seed(seed: u64, success_rate: f64) -> String {
    let root = tempfile::tempdir().unwrap();
    let dirs: Vec<PathBuf> = (0..VALIDATORS)
        .map(|i| root.path().join(format!("v{i}")))
        .collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let fixture = standard::fixture::<MinSig, _>(&mut rng, NAMESPACE, VALIDATORS);
    let accepted: Arc<RwLock<HashSet<[u8; 32]>>> = Default::default();
    // Unclean restarts of the whole network at random moments on lossy links, then the faults
    // heal (perfect links, no more crashes) and the run must complete: that is the liveness check.
    let crashes = 1 + seed % 3;
    let mut checkpoint = None;
    let mut restarts = 0;
    let state = loop {
        let healed = restarts >= crashes;
        let success_rate = if healed { 1.0 } else { success_rate };
        let fixture = fixture.clone();
        let dirs = dirs.clone();
        let accepted = accepted.clone();
        let f = move |mut context: deterministic::Context| async move {
            let (_oracle, handles) = start_network(&context, &fixture, &dirs, success_rate).await;
            // Clients: submit the remaining transactions to random validators over time.
            // Runs until the network stops (a crash or the end of the run).
            let _submitter = context.child("clients").spawn({
                let handles = handles.clone();
                let accepted = accepted.clone();
                move |mut context| async move {
                    for n in 0..TXS {
                        let mut tx = vec![0u8; 64];
                        tx[..8].copy_from_slice(&seed.to_be_bytes());
                        tx[8..16].copy_from_slice(&(n as u64).to_be_bytes());
                        let hash = ordo_types::tx_hash(&tx);
                        if accepted.read().unwrap().contains(&hash) {
                            continue;
                        }
                        let target = context.random_range(0..handles.len());
                        let rollup = if n % 2 == 0 { 901 } else { 902 };
                        if handles[target]
                            .mempool
                            .submit_blocking(rollup, tx.into())
                            .is_ok()
                        {
                            accepted.write().unwrap().insert(hash);
                        }
                        context.sleep(Duration::from_millis(5)).await;
                    }
                }
            });
            let poller = context.child("poller").spawn({
                let handles = handles.clone();
                let accepted = accepted.clone();
                move |context| async move {
                    loop {
                        let done = handles.iter().all(|h| {
                            let (_, txs) = chain_of(&h.store);
                            h.store.indexed_height().unwrap().unwrap_or(0) >= TARGET_HEIGHT
                                && accepted.read().unwrap().len() == TXS
                                && accepted.read().unwrap().iter().all(|t| txs.contains_key(t))
                        });
                        if done {
                            return;
                        }
                        context.sleep(Duration::from_millis(50)).await;
                    }
                }
            });
            if healed {
                poller.await.expect("poller");
                return Some(context.auditor().state());
            }
            let wait =
                context.random_range(Duration::from_millis(300)..Duration::from_millis(1_500));
            select! {
                _ = poller => Some(context.auditor().state()),
                _ = context.sleep(wait) => None,
            }
        };
        let runner = match checkpoint.take() {
            Some(c) => Runner::from(c),
            None => Runner::new(
                deterministic::Config::default()
                    .with_seed(seed)
                    .with_timeout(Some(Duration::from_secs(120))),
            ),
        };
        let (done, next) = runner.start_and_recover(f);
        if let Some(state) = done {
            break state;
        }
        restarts += 1;
        checkpoint = Some(next);
    };

    // Safety and exactly-once across validators.
    let chains: Vec<_> = dirs
        .iter()
        .map(|d| chain_of(&Store::open(&d.join("index"), limits()).unwrap()))
        .collect();
    for (digests, txs) in &chains {
        let shared = digests.len().min(chains[0].0.len());
        assert_eq!(
            digests[..shared],
            chains[0].0[..shared],
            "seed {seed}: two different finalized blocks at one height"
        );
        for hash in accepted.read().unwrap().iter() {
            assert_eq!(
                txs.get(hash),
                Some(&1),
                "seed {seed}: accepted tx not included exactly once"
            );
        }
    }
    format!("{state}:{restarts}")
}

fn seeds() -> u64 {
    std::env::var("SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4)
}

#[test]
fn lossy_links_and_unclean_restarts_keep_safety_and_exactly_once() {
    for seed in 0..seeds() {
        let first = run_seed(seed, 0.9);
        let second = run_seed(seed, 0.9);
        assert_eq!(first, second, "seed {seed} is not deterministic");
        println!("seed {seed}: ok ({first})");
    }
}
