//! Transactions a node accepted but that are not finalized yet, and how blocks are filled from them.
//!
//! Each registered rollup has its own FIFO lane with its own caps, so a rollup flooding the node
//! fills only its own lane. A block gives every rollup its reserved byte share first and splits
//! what is left among the rollups that still have transactions ([`Mempool::select`]), so a noisy
//! neighbour can never starve another rollup.
//!
//! Acceptance is durable: [`Mempool::submit`] returns a hash only once the transaction is fsynced
//! to the mempool's own rocksdb journal, and [`Mempool::open`] reloads the journal in arrival
//! order. A dedicated writer thread group-commits concurrent submissions, so thousands of
//! submissions per second cost a few fsyncs. A client's batch ([`Mempool::submit_all`]) is
//! admitted as one, as a peer's relayed batch is: the same checks, one inclusion check.
//!
//! Only the current leader proposes, so a transaction a client gave to any other validator must
//! reach it: the node announces locally accepted transactions to its peers
//! ([`Mempool::announcements`]), admits what peers relay ([`Mempool::admit_relayed`]), and
//! announces again whatever stays pending ([`Mempool::take_unannounced`]), e.g. because the
//! leader was down or the node restarted.

mod journal;
mod lanes;
pub mod priority;

use bytes::Bytes;
use futures::{
    channel::{mpsc as async_mpsc, oneshot},
    future::join_all,
};
use journal::{Command, LoadError, Record};
pub use lanes::Selection;
use lanes::{Pending, State};
use ordo_types::{tx_hash, Batch, RollupId, RollupSpec, TxError, TxHash, TxHashSet};
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{mpsc, Arc, Mutex, MutexGuard, PoisonError},
    thread,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// What the mempool accepts and how it fills blocks.
#[derive(Clone, Debug)]
pub struct Config {
    /// The registered rollups (from genesis), each with its share and limits.
    pub rollups: Vec<RollupSpec>,
    /// Transaction bytes one block may carry, over all rollups.
    pub max_block_bytes: usize,
    /// Most pending transactions of one rollup; more are refused with [`SubmitError::LaneFull`].
    pub max_pending_txs_per_rollup: usize,
    /// Most pending transaction bytes of one rollup.
    pub max_pending_bytes_per_rollup: usize,
    /// How long a transaction may stay pending before [`Mempool::expire`] drops it.
    pub ttl: Duration,
    /// Where arrival and announcement times come from.
    pub clock: WallClock,
}

/// Unix milliseconds: the system clock in a node, the simulated one in deterministic tests.
#[derive(Clone)]
pub struct WallClock(Arc<dyn Fn() -> u64 + Send + Sync>);

impl WallClock {
    pub fn new(now_ms: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        Self(Arc::new(now_ms))
    }

    /// The operating system's clock.
    pub fn system() -> Self {
        Self::new(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        })
    }

    pub fn now_ms(&self) -> u64 {
        (self.0)()
    }
}

impl Default for WallClock {
    fn default() -> Self {
        Self::system()
    }
}

impl std::fmt::Debug for WallClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WallClock({} ms)", self.now_ms())
    }
}

/// A locally accepted transaction, as [`Mempool::announcements`] hands it to the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    pub hash: TxHash,
    pub rollup: RollupId,
    pub raw: Bytes,
}

/// Where a transaction came from: a client of this node (journaled, announced, answered once
/// durable) or a peer that relayed it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    Client,
    Peer,
}

/// A transaction that joined its lane; a client's is answered once `persisted` hears it synced.
struct Admitted {
    hash: TxHash,
    persisted: Option<oneshot::Receiver<Result<(), String>>>,
}

/// Why a transaction was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error("rollup {0} is not registered")]
    UnknownRollup(RollupId),
    #[error("invalid transaction: {0}")]
    Invalid(TxError),
    #[error("transaction is already pending")]
    Duplicate,
    #[error("transaction is already included in a finalized block")]
    AlreadyIncluded,
    #[error("rollup {rollup} has too many pending transactions, retry later")]
    LaneFull { rollup: RollupId },
    #[error("transaction could not be stored: {0}")]
    Storage(String),
}

/// Why the mempool could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot open mempool journal at {}: {source}", .path.display())]
    Db {
        path: PathBuf,
        source: rocksdb::Error,
    },
    #[error("mempool journal at {} is corrupt: {what}", .path.display())]
    Corrupt { path: PathBuf, what: String },
    #[error("rollup {0} is registered twice")]
    DuplicateRollup(RollupId),
    #[error("cannot start the mempool journal writer: {0}")]
    Writer(std::io::Error),
}

/// For each hash it is given, whether that transaction is in a finalized block.
type InclusionCheck = dyn Fn(&[TxHash]) -> Vec<bool> + Send + Sync;

/// Handle to the pending set; cheap to clone. The journal is flushed and closed when the last
/// handle is dropped.
#[derive(Clone)]
pub struct Mempool {
    inner: Arc<Inner>,
}

struct Inner {
    specs: BTreeMap<RollupId, RollupSpec>,
    max_block_bytes: usize,
    max_pending_txs_per_rollup: usize,
    max_pending_bytes_per_rollup: usize,
    ttl: Duration,
    clock: WallClock,
    is_included: Box<InclusionCheck>,
    state: Arc<Mutex<State>>,
    /// Sent to while holding `state`, so the journal sees additions and removals in the same
    /// order as memory does.
    commands: mpsc::Sender<Command>,
    writer: Option<thread::JoinHandle<()>>,
    /// Where locally accepted transactions are announced, once someone listens.
    announcements: Mutex<Option<async_mpsc::UnboundedSender<Announcement>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Let the writer flush every queued command and close the database, so the journal can
        // be reopened as soon as this returns.
        let _ = self.commands.send(Command::Shutdown);
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl Mempool {
    /// Opens (creating) the journal at `path` and reloads every pending transaction in arrival
    /// order. `is_included` answers, for each of the hashes it is given, whether that transaction
    /// is finalized: those are dropped on reload and refused on submission (the node passes a
    /// closure over its store; it is asked for many hashes at once, so a store can batch reads).
    ///
    /// On reload, transactions of rollups no longer registered or over their rollup's current
    /// size limit are dropped too; caps are not applied, since every entry was acknowledged.
    pub fn open(
        path: &Path,
        cfg: Config,
        is_included: impl Fn(&[TxHash]) -> Vec<bool> + Send + Sync + 'static,
    ) -> Result<Self, OpenError> {
        let mut specs = BTreeMap::new();
        for spec in &cfg.rollups {
            if specs.insert(spec.id, spec.clone()).is_some() {
                return Err(OpenError::DuplicateRollup(spec.id));
            }
        }
        let db_error = |source| OpenError::Db {
            path: path.to_path_buf(),
            source,
        };
        let db = journal::open(path).map_err(db_error)?;
        let records = journal::load(&db).map_err(|e| match e {
            LoadError::Db(source) => db_error(source),
            LoadError::Corrupt(what) => OpenError::Corrupt {
                path: path.to_path_buf(),
                what,
            },
        })?;

        let mut state = State::new(&cfg.rollups);
        let mut dropped = Vec::new();
        let mut seen = TxHashSet::with_capacity_and_hasher(records.len(), Default::default());
        let hashes: Vec<TxHash> = records.iter().map(|(_, r)| tx_hash(&r.raw)).collect();
        let included = is_included(&hashes);
        for (((seq, record), hash), included) in records.into_iter().zip(hashes).zip(included) {
            let fits = specs.get(&record.rollup).is_some_and(|spec| {
                record.raw.len() <= (spec.max_tx_bytes as usize).min(cfg.max_block_bytes)
            });
            if !fits || !seen.insert(hash) || included {
                dropped.push(seq);
                state.next_seq = state.next_seq.max(seq + 1);
                continue;
            }
            let tx = Pending {
                hash,
                raw: record.raw,
                arrived_ms: record.arrived_ms,
                durable: true,
                local: true,
                announced_ms: 0,
                announcements: 0,
            };
            state.insert(record.rollup, seq, tx);
        }
        if !dropped.is_empty() {
            journal::delete_synced(&db, &dropped).map_err(db_error)?;
        }
        tracing::info!(
            path = %path.display(),
            pending = state.by_hash.len(),
            dropped = dropped.len(),
            "mempool journal reloaded"
        );

        let state = Arc::new(Mutex::new(state));
        let (commands, receiver) = mpsc::channel();
        let writer_state = state.clone();
        let writer = thread::Builder::new()
            .name("mempool-journal".into())
            .spawn(move || journal::run_writer(db, writer_state, receiver))
            .map_err(OpenError::Writer)?;
        Ok(Self {
            inner: Arc::new(Inner {
                specs,
                max_block_bytes: cfg.max_block_bytes,
                max_pending_txs_per_rollup: cfg.max_pending_txs_per_rollup,
                max_pending_bytes_per_rollup: cfg.max_pending_bytes_per_rollup,
                ttl: cfg.ttl,
                clock: cfg.clock,
                is_included: Box::new(is_included),
                state,
                commands,
                writer: Some(writer),
                announcements: Mutex::new(None),
            }),
        })
    }

    /// Validates the transaction for its rollup, deduplicates it, enforces the lane's caps and
    /// returns its hash once it is durable.
    pub async fn submit(&self, rollup: RollupId, raw: Bytes) -> Result<TxHash, SubmitError> {
        let admitted = self.admit(vec![(rollup, raw)], Origin::Client).pop();
        Self::durable(admitted.expect("one outcome per transaction")).await
    }

    /// [`Self::submit`] for each of a client's transactions, admitted together in their order (a
    /// sender's nonces enter the lane as sent); the answers come in the same order, each once its
    /// transaction is durable. A batch takes the pending set's lock twice and asks the inclusion
    /// check once, however many transactions it carries, and its journal writes share commits.
    pub async fn submit_all(
        &self,
        rollup: RollupId,
        raws: Vec<Bytes>,
    ) -> Vec<Result<TxHash, SubmitError>> {
        let txs = raws.into_iter().map(|raw| (rollup, raw)).collect();
        join_all(
            self.admit(txs, Origin::Client)
                .into_iter()
                .map(Self::durable),
        )
        .await
    }

    /// Admits transactions a peer relayed, with the same checks and caps as [`Self::submit`],
    /// and returns what became of each, in order. They are neither journaled nor announced again
    /// (the peer that acknowledged them to its client holds them durably and announces them again
    /// while they are pending). Batched as [`Self::submit_all`] is.
    pub fn admit_relayed(&self, txs: Vec<(RollupId, Bytes)>) -> Vec<Result<TxHash, SubmitError>> {
        self.admit(txs, Origin::Peer)
            .into_iter()
            .map(|admitted| admitted.map(|a| a.hash))
            .collect()
    }

    /// The admission of [`Self::submit_all`] and [`Self::admit_relayed`]: the checks, then each
    /// admitted transaction joins its lane, in order. A client's transaction is also queued for
    /// the journal (its receiver hears when the write is synced) and announced to the listener.
    fn admit(
        &self,
        txs: Vec<(RollupId, Bytes)>,
        origin: Origin,
    ) -> Vec<Result<Admitted, SubmitError>> {
        let inner = &*self.inner;
        let mut outcomes: Vec<Result<Admitted, SubmitError>> = Vec::with_capacity(txs.len());
        let mut candidates = Vec::with_capacity(txs.len());
        let identified: Vec<_> = txs
            .into_iter()
            .map(|(rollup, raw)| self.identify(rollup, &raw).map(|hash| (rollup, raw, hash)))
            .collect();
        {
            // Cheap refusal of resubmissions before the (costly) signature checks.
            let state = self.state();
            for (at, identified) in identified.into_iter().enumerate() {
                match identified {
                    Ok((_, _, hash)) if state.by_hash.contains_key(&hash) => {
                        outcomes.push(Err(SubmitError::Duplicate));
                    }
                    Ok(candidate) => {
                        outcomes.push(Ok(Admitted {
                            hash: candidate.2,
                            persisted: None,
                        }));
                        candidates.push((at, candidate));
                    }
                    Err(e) => outcomes.push(Err(e)),
                }
            }
        }
        // The signature checks, outside the lock.
        candidates.retain(
            |(at, (rollup, raw, _))| match inner.specs[rollup].check_tx(raw) {
                Ok(()) => true,
                Err(e) => {
                    outcomes[*at] = Err(SubmitError::Invalid(e));
                    false
                }
            },
        );
        let hashes: Vec<TxHash> = candidates.iter().map(|(_, (_, _, hash))| *hash).collect();
        let included = (inner.is_included)(&hashes);
        let arrived_ms = inner.clock.now_ms();
        let local = origin == Origin::Client;
        let mut announcements = Vec::new();
        let mut offered = false;
        let mut state = self.state();
        for ((at, (rollup, raw, hash)), included) in candidates.into_iter().zip(included) {
            if included {
                outcomes[at] = Err(SubmitError::AlreadyIncluded);
                continue;
            }
            if let Err(e) = self.reserve(&state, rollup, &hash, raw.len()) {
                outcomes[at] = Err(e);
                continue;
            }
            let seq = state.next_seq;
            let record = local.then(|| Record::encode(rollup, arrived_ms, &raw));
            if local {
                announcements.push(Announcement {
                    hash,
                    rollup,
                    raw: raw.clone(),
                });
            }
            let tx = Pending {
                hash,
                raw,
                arrived_ms,
                // A client's is offered to blocks once its journal write is synced.
                durable: !local,
                local,
                announced_ms: if local { arrived_ms } else { 0 },
                announcements: u32::from(local),
            };
            state.insert(rollup, seq, tx);
            let Some(record) = record else {
                offered = true;
                continue;
            };
            let (done, persisted) = oneshot::channel();
            let command = Command::Persist {
                rollup,
                seq,
                record,
                done,
            };
            if inner.commands.send(command).is_err() {
                state.remove_entry(rollup, seq);
                announcements.pop();
                outcomes[at] = Err(SubmitError::Storage(
                    "mempool journal writer stopped".into(),
                ));
                continue;
            }
            if let Ok(admitted) = &mut outcomes[at] {
                admitted.persisted = Some(persisted);
            }
        }
        if offered {
            state.offer_made();
        }
        // Announced before the pending set's lock is released: the journal writer needs that
        // lock to mark these durable and wake a leader waiting for work, so its wake always
        // comes after the relay's. Two wakes racing in either order made the deterministic
        // simulation replay a seed differently from run to run.
        if !announcements.is_empty() {
            let mut listener = inner
                .announcements
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(sender) = listener.as_ref() {
                if announcements
                    .into_iter()
                    .any(|announcement| sender.unbounded_send(announcement).is_err())
                {
                    *listener = None;
                }
            }
        }
        drop(state);
        outcomes
    }

    /// Resolves once a transaction becomes offerable to blocks after this call: a peer's when it
    /// is admitted, a client's when its journal write is synced. For a leader with nothing to
    /// propose, so that it can wait for work instead of ordering empty blocks back to back.
    pub fn offered(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        // Waiters wake in the order they began to wait (`ordo_watch`).
        self.state().offers.next_change()
    }

    /// Locally accepted transactions from now on, as they are accepted (one listener: a new call
    /// replaces the previous one). Transactions already pending are announced through
    /// [`Self::take_unannounced`].
    pub fn announcements(&self) -> async_mpsc::UnboundedReceiver<Announcement> {
        let (sender, receiver) = async_mpsc::unbounded();
        *self
            .inner
            .announcements
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(sender);
        receiver
    }

    /// Hashes of local transactions still pending whose next announcement is due, oldest first,
    /// at most `limit`; they count as announced now. Due: never announced (reloaded after a
    /// restart), or announced `interval` ago, with the interval doubling per announcement up to
    /// 8x (a transaction acknowledged at time 0 goes out again at about 1, 3, 7, 15, 23, ...
    /// intervals while it stays pending).
    pub fn take_unannounced(&self, interval: Duration, limit: usize) -> Vec<TxHash> {
        let now = self.inner.clock.now_ms();
        let interval_ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
        self.state().take_unannounced(interval_ms, now, limit)
    }

    /// Those of `hashes` this node neither holds pending nor has seen finalized: what to ask the
    /// peer that announced them for.
    pub fn missing(&self, hashes: &[TxHash]) -> Vec<TxHash> {
        let unknown: Vec<TxHash> = {
            let state = self.state();
            hashes
                .iter()
                .filter(|h| !state.by_hash.contains_key(*h) && !state.was_recently_included(h))
                .copied()
                .collect()
        };
        let included = (self.inner.is_included)(&unknown);
        unknown
            .into_iter()
            .zip(included)
            .filter_map(|(hash, included)| (!included).then_some(hash))
            .collect()
    }

    /// The pending transactions among `hashes`, in that order (a peer asked for them).
    pub fn pending_txs(&self, hashes: &[TxHash]) -> Vec<(RollupId, Bytes)> {
        let state = self.state();
        hashes
            .iter()
            .filter_map(|hash| state.get(hash).map(|(rollup, tx)| (rollup, tx.raw.clone())))
            .collect()
    }

    /// The local transactions (accepted from this node's clients) still pending, oldest first,
    /// at most `limit`: what a new leader is handed.
    pub fn pending_local(&self, limit: usize) -> Vec<(RollupId, Bytes)> {
        self.state().local(limit)
    }

    /// [`Self::submit`] for synchronous callers (blocks the thread until the transaction is
    /// durable).
    pub fn submit_blocking(&self, rollup: RollupId, raw: Bytes) -> Result<TxHash, SubmitError> {
        futures::executor::block_on(self.submit(rollup, raw))
    }

    /// Fills one block: one [`Batch`] per registered rollup, sorted by rollup id (possibly
    /// empty). Each rollup first takes its oldest transactions up to its `share_bytes` and
    /// `max_txs_per_block`; the block budget left over is then handed out round-robin, one
    /// transaction at a time, to rollups that still have transactions. Transactions for which
    /// `exclude` is true (already in a not-yet-finalized ancestor) are skipped. Removes nothing.
    pub fn select(&self, exclude: &dyn Fn(&TxHash) -> bool) -> Selection {
        self.select_after(Vec::new(), exclude)
    }

    /// [`Mempool::select`] for a block whose batches start with `forced` (the L1 inbox entries
    /// the block consumes): they count against each rollup's share and limits first.
    pub fn select_after(&self, forced: Vec<Batch>, exclude: &dyn Fn(&TxHash) -> bool) -> Selection {
        self.state()
            .select(self.inner.max_block_bytes, forced, exclude)
    }

    /// Removes transactions a finalized block included (their journal entries are deleted in the
    /// writer's next batch).
    pub fn remove_included(&self, hashes: &[TxHash]) {
        let mut state = self.state();
        let mut seqs = Vec::new();
        for hash in hashes {
            seqs.extend(state.remove(hash));
            state.note_included(*hash);
        }
        self.forget(seqs);
    }

    /// Drops transactions pending for longer than the ttl and returns their hashes (the node
    /// records why in its store).
    pub fn expire(&self) -> Vec<TxHash> {
        let ttl_ms = u64::try_from(self.inner.ttl.as_millis()).unwrap_or(u64::MAX);
        let cutoff_ms = self.inner.clock.now_ms().saturating_sub(ttl_ms);
        let mut state = self.state();
        let (hashes, seqs): (Vec<TxHash>, Vec<Option<u64>>) =
            state.remove_arrived_through(cutoff_ms).into_iter().unzip();
        self.forget(seqs.into_iter().flatten().collect());
        hashes
    }

    /// How long ago (ms, by this mempool's clock) each of `hashes` that a client of this node
    /// submitted was accepted; relayed and unknown transactions are skipped (their wait began
    /// elsewhere).
    pub fn waited_ms(&self, hashes: &[TxHash]) -> Vec<u64> {
        let now = self.inner.clock.now_ms();
        let state = self.state();
        hashes
            .iter()
            .filter_map(|hash| {
                let (_, tx) = state.get(hash)?;
                tx.local.then(|| now.saturating_sub(tx.arrived_ms))
            })
            .collect()
    }

    /// Whether the transaction is pending (accepted, or being made durable).
    pub fn is_pending(&self, hash: &TxHash) -> bool {
        self.state().by_hash.contains_key(hash)
    }

    /// The hashes of those of `txs` (rollup, hash) that are pending for that same rollup, under
    /// one lock: the transactions that passed that rollup's check here.
    pub fn pending_among(&self, txs: &[(RollupId, TxHash)]) -> TxHashSet {
        let state = self.state();
        txs.iter()
            .filter(|(rollup, hash)| state.get(hash).is_some_and(|(r, _)| r == *rollup))
            .map(|(_, hash)| *hash)
            .collect()
    }

    /// Pending transactions of `rollup` (0 if not registered).
    pub fn pending_count(&self, rollup: RollupId) -> usize {
        self.state()
            .lanes
            .get(&rollup)
            .map_or(0, |lane| lane.txs.len())
    }

    /// Pending transaction bytes of `rollup` (0 if not registered).
    pub fn pending_bytes(&self, rollup: RollupId) -> usize {
        self.state().lanes.get(&rollup).map_or(0, |lane| lane.bytes)
    }

    /// Pending transactions over all rollups.
    pub fn len(&self) -> usize {
        self.state().by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The checks that need no state: a registered rollup and a size a block can carry. Returns
    /// the transaction's hash.
    fn identify(&self, rollup: RollupId, raw: &[u8]) -> Result<TxHash, SubmitError> {
        let inner = &*self.inner;
        if !inner.specs.contains_key(&rollup) {
            return Err(SubmitError::UnknownRollup(rollup));
        }
        if raw.len() > inner.max_block_bytes {
            return Err(SubmitError::Invalid(TxError::TooLarge {
                size: raw.len(),
                limit: inner.max_block_bytes,
            }));
        }
        Ok(tx_hash(raw))
    }

    /// Whether a checked transaction of `bytes` may join `rollup`'s lane now: not pending, not
    /// finalized since its inclusion check, and within the lane's caps.
    fn reserve(
        &self,
        state: &State,
        rollup: RollupId,
        hash: &TxHash,
        bytes: usize,
    ) -> Result<(), SubmitError> {
        if state.by_hash.contains_key(hash) {
            return Err(SubmitError::Duplicate);
        }
        // Finalized between the inclusion check and now.
        if state.was_recently_included(hash) {
            return Err(SubmitError::AlreadyIncluded);
        }
        let lane = &state.lanes[&rollup];
        if lane.txs.len() >= self.inner.max_pending_txs_per_rollup
            || lane.bytes + bytes > self.inner.max_pending_bytes_per_rollup
        {
            return Err(SubmitError::LaneFull { rollup });
        }
        Ok(())
    }

    /// The hash of an admitted transaction once it is durable (a relayed one is at once).
    async fn durable(admitted: Result<Admitted, SubmitError>) -> Result<TxHash, SubmitError> {
        let Admitted { hash, persisted } = admitted?;
        let Some(persisted) = persisted else {
            return Ok(hash);
        };
        match persisted.await {
            Ok(Ok(())) => Ok(hash),
            Ok(Err(e)) => Err(SubmitError::Storage(e)),
            Err(oneshot::Canceled) => Err(SubmitError::Storage(
                "mempool journal writer stopped before the write".into(),
            )),
        }
    }

    /// Queues deletion of journal entries. Called with the state lock held (see `commands`).
    fn forget(&self, seqs: Vec<u64>) {
        if !seqs.is_empty() {
            // Only fails once the writer is gone, i.e. while shutting down: the entries are then
            // dropped on the next open (included) or expire again.
            let _ = self.inner.commands.send(Command::Forget { seqs });
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests;
