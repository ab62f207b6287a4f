//! Wires the application into commonware: simplex (threshold BLS, stable leader), marshal with
//! inline verification, buffered broadcast for dissemination and a p2p resolver for backfill.

use crate::{
    application::{Application, L1Config, Rules},
    handle::Handle,
    indexer::{self, FinalizationSource},
    pacer::{self, Paced},
    proposer::{Connected, WatchProposer},
    relay,
    reporter::{self, BlockSource, CertificateReporter},
    shared::Shared,
};
use commonware_broadcast::buffered;
use commonware_consensus::{
    marshal::{
        self,
        core::{Actor as MarshalActor, Mailbox as MarshalMailbox},
        resolver::handler,
        standard::{Inline, Standard},
    },
    simplex::{self, elector::RoundRobin, Engine as Consensus},
    types::{Epoch, FixedEpocher, Height, TermLength, ViewDelta},
    Reporters,
};
use commonware_cryptography::{certificate::ConstantProvider, sha256::Sha256, Digested};
use commonware_p2p::{Blocker, Provider, Receiver, Sender};
use commonware_parallel::Sequential;
use commonware_resolver::TargetedResolver;
use commonware_runtime::{
    buffer::paged::{page_size, CacheRef},
    spawn_cell, Clock, ContextCell, Handle as TaskHandle, Metrics, Spawner, Storage,
};
use commonware_storage::archive::immutable;
use commonware_utils::{NZUsize, NonZeroDuration, NZU64};
use futures::{future::try_join_all, FutureExt};
use governor::clock::Clock as GClock;
use ordo_types::{
    consensus::{Finalization, Scheme},
    Block, BlockLimits, Certificate, Digest, PublicKey,
};
use rand::{CryptoRng, Rng};
use std::{
    num::{NonZeroU32, NonZeroUsize},
    sync::Arc,
    time::Duration,
};
use tracing::{error, warn};

/// The p2p channels an Ordo validator registers, in the order [`Engine::start`] takes them.
pub mod channels {
    pub const VOTES: u64 = 0;
    pub const CERTIFICATES: u64 = 1;
    pub const RESOLVER: u64 = 2;
    pub const BROADCAST: u64 = 3;
    pub const BACKFILL: u64 = 4;
    pub const RELAY: u64 = 5;
}

/// Ordo runs one epoch until reconfiguration exists.
pub const EPOCH: Epoch = Epoch::zero();
const EPOCH_LENGTH: std::num::NonZeroU64 = NZU64!(u64::MAX);

const PRUNABLE_ITEMS_PER_SECTION: std::num::NonZeroU64 = NZU64!(4_096);
const IMMUTABLE_ITEMS_PER_SECTION: std::num::NonZeroU64 = NZU64!(262_144);
const FREEZER_TABLE_RESIZE_FREQUENCY: u8 = 4;
const FREEZER_TABLE_RESIZE_CHUNK_SIZE: u32 = 2u32.pow(16);
const FREEZER_JOURNAL_TARGET_SIZE: u64 = 1024 * 1024 * 1024;
const REPLAY_BUFFER: NonZeroUsize = NZUsize!(8 * 1024 * 1024);
const WRITE_BUFFER: NonZeroUsize = NZUsize!(1024 * 1024);
const PAGE_CACHE_PAGE_SIZE: std::num::NonZeroU16 = page_size(4_096);
const PAGE_CACHE_CAPACITY: NonZeroUsize = NZUsize!(8_192);
const MAX_REPAIR: NonZeroUsize = NZUsize!(20);
const MAX_PENDING_ACKS: NonZeroUsize = NZUsize!(16);

/// Consensus timing and sizing.
#[derive(Clone, Debug)]
pub struct Timing {
    pub leader_timeout: Duration,
    pub certification_timeout: Duration,
    pub timeout_retry: Duration,
    pub fetch_timeout: Duration,
    /// Views of history kept for voting and certificates.
    pub activity_timeout: u64,
    /// How long a stable leader may stall before it is replaced.
    pub stall_timeout: Duration,
    /// Consecutive views one leader keeps.
    pub term_length: NonZeroU32,
    /// Views a participant may optimistically validate ahead of certified ancestry within a
    /// term (0: none; the default says why).
    pub optimistic_views: u64,
    pub mailbox_size: usize,
    pub freezer_table_initial_size: u32,
    /// How long a leader with nothing to propose waits for a transaction, from its parent's
    /// timestamp, before it orders an empty block. Below `leader_timeout`, with room for the
    /// proposal to reach the others.
    pub idle_block_interval: Duration,
    /// With lookahead: how long, from its parent's timestamp, a leader waits for the parent's
    /// notarization before it builds on the parent unnotarized.
    pub build_ahead_after: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            // A dead leader costs one leader timeout: with 200 ms, kill -9 of the leader ->
            // another leader's block notarized measured 225-293 ms (4 validators, loopback; it
            // was ~1 s with 1 s). Only the proposal has to be seen in time (its verification
            // runs under the certification timeout), so a saturated leader still meets it.
            // These suit a LAN; raise them on a WAN.
            leader_timeout: Duration::from_millis(200),
            certification_timeout: Duration::from_millis(500),
            // Nullify votes sent while peers are still connecting (a full restart) are resent
            // this often; 2.5 s made a full restart take ~5 s.
            timeout_retry: Duration::from_millis(500),
            fetch_timeout: Duration::from_millis(1_000),
            activity_timeout: 256,
            stall_timeout: Duration::from_millis(1_500),
            term_length: NonZeroU32::new(1_000).expect("non-zero"),
            // Measured with `make bench` on 2 cores: 16 views of optimistic lookahead queued
            // blocks behind unverified ancestors (accepted -> notarized p50 ~590 ms); 0: ~60 ms.
            // 2 took ~40 ms off the p50 with 50 ms between validators (in a fast hour; nothing
            // in a slow one, the views built ahead needing CPU) but doubled the loopback
            // view; with `build_ahead_after` the loopback view stays, saturation drops ~7%.
            optimistic_views: 0,
            mailbox_size: 16_384,
            freezer_table_initial_size: 2u32.pow(16),
            // Half the leader timeout. An idle cluster of 4 on 2 cores ordered an empty block
            // every ~30 ms at the chain's 20 ms interval, for ~1.5 cores of CPU.
            idle_block_interval: Duration::from_millis(100),
            // On loopback a parent is notarized well within it, so nothing is built ahead (that
            // only added views for the cores to run); with 50 ms between validators it is not.
            // A block built at once on an unnotarized parent is lost with it when the parent's
            // view fails: in the simulation that nearly doubled the share of notarized blocks
            // never finalized (0.42% against 0.23%); with the wait, 0.28%.
            build_ahead_after: Duration::from_millis(75),
        }
    }
}

impl Timing {
    /// The leader elector these timings describe: a stable leader for `term_length` views, or
    /// plain rotation for a term of one (commonware's stable mode needs at least two).
    pub fn elector(&self) -> RoundRobin<Sha256> {
        if self.term_length.get() > 1 {
            RoundRobin::default().with_term(
                TermLength::new(self.term_length),
                self.stall_timeout,
                ViewDelta::new(self.optimistic_views),
            )
        } else {
            RoundRobin::default()
        }
    }
}

/// What the engine needs of its runtime: commonware's tokio and io_uring runtimes (and the
/// deterministic one in tests) all provide it.
pub trait Runtime: Clock + GClock + Rng + CryptoRng + Spawner + Storage + Metrics {}

impl<E: Clock + GClock + Rng + CryptoRng + Spawner + Storage + Metrics> Runtime for E {}

/// Everything the engine needs besides the network channels.
pub struct Config<B, P> {
    pub blocker: B,
    pub provider: P,
    pub me: PublicKey,
    pub scheme: Scheme,
    pub partition_prefix: String,
    pub genesis: Block,
    pub rules: Rules,
    pub limits: BlockLimits,
    pub timing: Timing,
    pub handle: Handle,
    /// The L1 follower's view; `None` for a network without an L1 inbox.
    pub l1: Option<L1Config>,
    /// Test only: propose blocks that break the validity rules (a Byzantine leader).
    pub faulty_proposals: bool,
}

type Marshaled<E> = Inline<E, Scheme, Application, Block, FixedEpocher>;
type ConsensusReporter<E> = Reporters<CertificateReporter, Paced<Marshaled<E>>>;
type Elector = RoundRobin<Sha256>;
type Marshal<E> = MarshalActor<
    E,
    Standard<Block>,
    ConstantProvider<Scheme, Epoch>,
    immutable::Archive<E, Digest, Finalization>,
    immutable::Archive<E, Digest, Arc<Block>>,
    FixedEpocher,
    Sequential,
>;
type Simplex<E, B> = Consensus<
    E,
    Scheme,
    Elector,
    B,
    Digest,
    WatchProposer<E, Marshaled<E>>,
    Paced<Marshaled<E>>,
    ConsensusReporter<E>,
    Sequential,
>;

/// A validator's consensus stack.
pub struct Engine<E, B, P>
where
    E: Clock + GClock + Rng + CryptoRng + Spawner + Storage + Metrics,
    B: Blocker<PublicKey = PublicKey>,
    P: Provider<PublicKey = PublicKey>,
{
    context: ContextCell<E>,
    buffer: buffered::Engine<E, PublicKey, Block, P, Sequential>,
    buffer_mailbox: buffered::Mailbox<PublicKey, Block>,
    marshal: Marshal<E>,
    marshal_mailbox: MarshalMailbox<Scheme, Standard<Block>>,
    marshaled: Marshaled<E>,
    finalizations: pacer::Finalizations<simplex::types::Activity<Scheme, Digest>>,
    consensus: Simplex<E, B>,
    shared: Arc<Shared>,
    certificates: futures::channel::mpsc::UnboundedReceiver<Certificate>,
    /// Blocks peers that send malformed transaction relays.
    relay_blocker: B,
    /// Where the relay publishes the connected peers (read by [`WatchProposer`]).
    connected: Connected,
    /// This validator's key (the relay sends its local transactions elsewhere when it leads).
    me: PublicKey,
    /// Every validator's identity (peers asked for missing finalizations).
    participants: Vec<PublicKey>,
}

fn archive_config<C: Clone>(
    prefix: &str,
    name: &str,
    initial: u32,
    page_cache: &CacheRef,
    codec_config: C,
) -> immutable::Config<C> {
    immutable::Config {
        metadata_partition: format!("{prefix}-{name}-metadata"),
        freezer_table_partition: format!("{prefix}-{name}-freezer-table"),
        freezer_table_initial_size: initial,
        freezer_table_resize_frequency: FREEZER_TABLE_RESIZE_FREQUENCY,
        freezer_table_resize_chunk_size: FREEZER_TABLE_RESIZE_CHUNK_SIZE,
        freezer_key_partition: format!("{prefix}-{name}-freezer-key"),
        freezer_key_page_cache: page_cache.clone(),
        freezer_key_write_buffer: WRITE_BUFFER,
        freezer_value_partition: format!("{prefix}-{name}-freezer-value"),
        freezer_value_write_buffer: WRITE_BUFFER,
        freezer_value_target_size: FREEZER_JOURNAL_TARGET_SIZE,
        freezer_value_compression: None,
        ordinal_partition: format!("{prefix}-{name}-ordinal"),
        ordinal_write_buffer: WRITE_BUFFER,
        items_per_section: IMMUTABLE_ITEMS_PER_SECTION,
        codec_config,
        replay_buffer: REPLAY_BUFFER,
    }
}

impl<E, B, P> Engine<E, B, P>
where
    E: Clock + GClock + Rng + CryptoRng + Spawner + Storage + Metrics,
    B: Blocker<PublicKey = PublicKey>,
    P: Provider<PublicKey = PublicKey>,
{
    pub async fn new(context: E, cfg: Config<B, P>) -> Self {
        let mailbox_size = NonZeroUsize::new(cfg.timing.mailbox_size).expect("mailbox size > 0");
        let prefix = cfg.partition_prefix.clone();
        let (buffer, buffer_mailbox) = buffered::Engine::new(
            context.child("buffer"),
            buffered::Config {
                public_key: cfg.me.clone(),
                mailbox_size,
                deque_size: (cfg.timing.optimistic_views as usize).max(64),
                priority: true,
                codec_config: cfg.limits,
                peer_provider: cfg.provider,
                strategy: Sequential,
            },
        );
        let page_cache = CacheRef::new(PAGE_CACHE_PAGE_SIZE, PAGE_CACHE_CAPACITY);
        let finalizations = immutable::Archive::init(
            context.child("finalizations_by_height"),
            archive_config(
                &prefix,
                "finalizations",
                cfg.timing.freezer_table_initial_size,
                &page_cache,
                (),
            ),
        )
        .await
        .expect("failed to open the finalizations archive");
        let blocks = immutable::Archive::init(
            context.child("finalized_blocks"),
            archive_config(
                &prefix,
                "blocks",
                cfg.timing.freezer_table_initial_size,
                &page_cache,
                cfg.limits,
            ),
        )
        .await
        .expect("failed to open the blocks archive");

        let participants: Vec<PublicKey> = {
            use commonware_cryptography::certificate::Scheme as _;
            cfg.scheme.participants().iter().cloned().collect()
        };
        let epocher = FixedEpocher::new(EPOCH_LENGTH);
        cfg.handle.liveness.set_participants(
            participants
                .iter()
                .map(|k| hex::encode(commonware_codec::Encode::encode(k))),
        );
        let genesis_digest = cfg.genesis.digest();
        cfg.handle.status.write().expect("poisoned").genesis_digest =
            format!("0x{}", hex::encode(genesis_digest.0));
        let genesis = Digested::precomputed(Arc::new(cfg.genesis), genesis_digest);
        let (marshal, marshal_mailbox, _floor) = MarshalActor::init(
            context.child("marshal"),
            finalizations,
            blocks,
            marshal::Config {
                provider: ConstantProvider::new(cfg.scheme.clone()),
                epocher: epocher.clone(),
                partition_prefix: prefix.clone(),
                mailbox_size,
                view_retention: ViewDelta::new(cfg.timing.activity_timeout.saturating_mul(10)),
                start: marshal::Start::Genesis(genesis),
                prunable_items_per_section: PRUNABLE_ITEMS_PER_SECTION,
                replay_buffer: REPLAY_BUFFER,
                key_write_buffer: WRITE_BUFFER,
                value_write_buffer: WRITE_BUFFER,
                block_codec_config: cfg.limits,
                max_repair: MAX_REPAIR,
                max_pending_acks: MAX_PENDING_ACKS,
                page_cache: page_cache.clone(),
                strategy: Sequential,
            },
        )
        .await;

        let indexed = cfg
            .handle
            .store
            .indexed_height()
            .expect("failed to read the index");
        let shared = Arc::new(Shared::new(cfg.handle, indexed));
        let application = Application::new(
            cfg.rules,
            cfg.timing.idle_block_interval,
            (cfg.timing.optimistic_views > 0).then_some(cfg.timing.build_ahead_after),
            shared.clone(),
            cfg.l1,
            cfg.faulty_proposals,
        );
        let marshaled = Marshaled::new(
            context.child("marshaled"),
            application,
            marshal_mailbox.clone(),
            epocher,
        );
        let (certificate_reporter, certificates) =
            reporter::channel(shared.handle.liveness.clone(), shared.notarized.clone());
        let (paced, finalizations) = pacer::pace(marshaled.clone(), shared.handed_off.clone());
        let reporter: ConsensusReporter<E> =
            (Some(certificate_reporter), Some(paced.clone())).into();

        let relay_blocker = cfg.blocker.clone();
        let connected = Connected::default();
        let automaton = WatchProposer::new(
            context.child("proposer"),
            marshaled.clone(),
            cfg.me.clone(),
            connected.clone(),
        );
        let timing = cfg.timing;
        let elector = timing.elector();
        let consensus = Consensus::new(
            context.child("consensus"),
            simplex::Config {
                epoch: EPOCH,
                scheme: cfg.scheme,
                automaton,
                relay: paced,
                reporter,
                track_historical_votes: false,
                partition: format!("{prefix}-consensus"),
                mailbox_size,
                floor: simplex::Floor::Genesis(genesis_digest),
                leader_timeout: timing.leader_timeout,
                certification_timeout: timing.certification_timeout,
                timeout_retry: timing.timeout_retry,
                fetch_timeout: NonZeroDuration::new_panic(timing.fetch_timeout),
                fetch_retry_delay: Duration::from_millis(100),
                view_retention: ViewDelta::new(timing.activity_timeout),
                skip: simplex::SkipPolicy::Enabled {
                    timeout: timing.timeout_retry + Duration::from_millis(50),
                    budget: simplex::SkipBudget::Participants,
                },
                forward: simplex::ForwardPolicy::Disabled,
                replay_buffer: REPLAY_BUFFER,
                write_buffer: WRITE_BUFFER,
                blocker: cfg.blocker,
                page_cache,
                elector,
                strategy: Sequential,
            },
        );

        Self {
            context: ContextCell::new(context),
            buffer,
            buffer_mailbox,
            marshal,
            marshal_mailbox,
            marshaled,
            finalizations,
            consensus,
            shared,
            certificates,
            relay_blocker,
            connected,
            me: cfg.me,
            participants,
        }
    }

    /// Starts every actor on the given channels (votes, certificates, resolver, block broadcast,
    /// transaction relay, backfill).
    pub fn start(
        mut self,
        votes: (
            impl Sender<PublicKey = PublicKey>,
            impl Receiver<PublicKey = PublicKey>,
        ),
        certificates: (
            impl Sender<PublicKey = PublicKey>,
            impl Receiver<PublicKey = PublicKey>,
        ),
        resolver: (
            impl Sender<PublicKey = PublicKey>,
            impl Receiver<PublicKey = PublicKey>,
        ),
        broadcast: (
            impl Sender<PublicKey = PublicKey>,
            impl Receiver<PublicKey = PublicKey>,
        ),
        relay: (
            impl Sender<PublicKey = PublicKey>,
            impl Receiver<PublicKey = PublicKey>,
        ),
        backfill: (
            handler::Receiver<Digest>,
            impl TargetedResolver<
                Key = handler::Key<Digest>,
                Subscriber = handler::Annotation,
                PublicKey = PublicKey,
            >,
        ),
    ) -> TaskHandle<()> {
        spawn_cell!(
            self.context,
            self.run(votes, certificates, resolver, broadcast, relay, backfill)
        )
    }

    async fn run(
        self,
        votes: (
            impl Sender<PublicKey = PublicKey>,
            impl Receiver<PublicKey = PublicKey>,
        ),
        certificates: (
            impl Sender<PublicKey = PublicKey>,
            impl Receiver<PublicKey = PublicKey>,
        ),
        resolver: (
            impl Sender<PublicKey = PublicKey>,
            impl Receiver<PublicKey = PublicKey>,
        ),
        broadcast: (
            impl Sender<PublicKey = PublicKey>,
            impl Receiver<PublicKey = PublicKey>,
        ),
        relay: (
            impl Sender<PublicKey = PublicKey>,
            impl Receiver<PublicKey = PublicKey>,
        ),
        backfill: (
            handler::Receiver<Digest>,
            impl TargetedResolver<
                Key = handler::Key<Digest>,
                Subscriber = handler::Annotation,
                PublicKey = PublicKey,
            >,
        ),
    ) {
        let context = self.context.into_present();
        let buffer_handle = self.buffer.start(broadcast);

        let (finalized_reporter, finalized) = indexer::channel();
        let marshal_handle = self
            .marshal
            .start(finalized_reporter, self.buffer_mailbox, backfill);
        // Indexing ends in a synced rocksdb write per block (1-12 ms here): on a thread of its
        // own it does not hold one of the executor's workers that consensus and the RPC share.
        let indexer_handle = context.child("indexer").dedicated().spawn({
            let shared = self.shared.clone();
            let source = MarshalSource(self.marshal_mailbox.clone(), self.participants.clone());
            move |context| indexer::run(context, shared, source, finalized)
        });
        let reporter_handle = context.child("certificates").spawn({
            let shared = self.shared.clone();
            let source = MarshalSource(self.marshal_mailbox.clone(), self.participants.clone());
            let receiver = self.certificates;
            move |context| reporter::run(context, shared, source, receiver)
        });
        // Admitting what peers relay is ingress: on a thread of its own, below consensus.
        let relay_handle = context.child("relay").dedicated().spawn({
            let mempool = self.shared.mempool.clone();
            let blocker = self.relay_blocker;
            let connected = self.connected;
            let leader = (self.me.clone(), self.shared.leader.subscribe());
            move |context| async move {
                ordo_mempool::priority::lower_to_ingress();
                relay::run(context, mempool, blocker, connected, leader, relay).await
            }
        });
        // Before consensus, so the finalizations its journal replays reach marshal.
        let pacer_handle = context.child("pacer").spawn({
            let marshaled = self.marshaled;
            let handed_off = self.shared.handed_off.clone();
            let finalizations = self.finalizations;
            move |context| pacer::run(context, marshaled, finalizations, handed_off)
        });
        let consensus_handle = self.consensus.start(votes, certificates, resolver);

        let handles = vec![
            buffer_handle,
            marshal_handle,
            indexer_handle,
            reporter_handle,
            relay_handle,
            pacer_handle,
            consensus_handle,
        ];
        if let Err(e) = try_join_all(handles).await {
            error!(?e, "engine failed");
        } else {
            warn!("engine stopped");
        }
    }
}

/// Reads blocks and finalizations marshal already holds.
#[derive(Clone)]
struct MarshalSource(MarshalMailbox<Scheme, Standard<Block>>, Vec<PublicKey>);

impl BlockSource for MarshalSource {
    fn fetch(&self, digest: Digest) -> futures::future::BoxFuture<'static, Option<Arc<Block>>> {
        let mailbox = self.0.clone();
        async move { mailbox.get_block(&digest).await.map(|b| b.inner_shared()) }.boxed()
    }
}

impl FinalizationSource for MarshalSource {
    fn finalization(
        &self,
        height: u64,
    ) -> futures::future::BoxFuture<'static, Option<Certificate>> {
        let mailbox = self.0.clone();
        async move {
            mailbox
                .get_finalization(Height::new(height))
                .await
                .map(|f| Certificate::from(&f))
        }
        .boxed()
    }

    fn finalized_block(
        &self,
        height: u64,
    ) -> futures::future::BoxFuture<'static, Option<Arc<Block>>> {
        let mailbox = self.0.clone();
        async move {
            mailbox
                .get_block(Height::new(height))
                .await
                .map(|b| b.inner_shared())
        }
        .boxed()
    }

    fn request_finalization(&self, height: u64) {
        if let Ok(targets) = commonware_utils::vec::NonEmptyVec::try_from(self.1.clone()) {
            self.0.hint_finalized(Height::new(height), targets);
        }
    }
}
