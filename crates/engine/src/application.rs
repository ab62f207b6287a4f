//! The consensus application: what a leader proposes and what every validator accepts.

use crate::{
    forced::{ForcedRules, Plan},
    shared::{self, Shared},
    window::Window,
};
use commonware_consensus::{marshal::ancestry::Ancestry, Application as ConsensusApplication};
use commonware_cryptography::{Digested, Digestible};
use commonware_macros::select;
use commonware_runtime::{Clock, Metrics, Spawner, Storage};
use commonware_utils::SystemTimeExt;
use futures::StreamExt;
use ordo_l1::L1State;
use ordo_types::{
    consensus::{Context, Scheme},
    Batch, Block, ForcedCursor, Header, L1Ref, RollupId, RollupSpec, TxHash, TxHashSet,
    BLOCK_TIMESTAMP_MAX_MS,
};
use ordo_watch::Watch;
use rand::Rng;
use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};
use tracing::{debug, warn};

/// Validity rules every validator applies identically (they are part of genesis).
#[derive(Clone, Debug)]
pub struct Rules {
    /// Registered rollups, sorted by id: every block carries one batch for each.
    pub rollups: Arc<Vec<RollupSpec>>,
    /// Most transaction bytes in one block.
    pub max_block_bytes: usize,
    /// A transaction may not appear twice within this many consecutive blocks.
    pub dedup_window: u64,
    /// How far ahead of the local clock a block timestamp may be before `verify` waits.
    pub clock_tolerance_ms: u64,
    /// Minimum spacing of a block from its parent (pacing, not a validity rule).
    pub block_interval_ms: u64,
    /// Forced-inclusion limits (used when the network follows an L1 inbox).
    pub forced: ForcedRules,
}

/// `ms` milliseconds after the Unix epoch.
fn at_epoch_ms(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
}

/// Resolves once this node has seen `parent_view` notarized (`notarized` holds the newest view
/// it saw notarized or finalized), or at `deadline_ms`, whichever comes first.
async fn parent_notarized_or(
    runtime: &impl Clock,
    notarized: &Watch<u64>,
    parent_view: u64,
    deadline_ms: u64,
) {
    // Biased: an already notarized parent ends it at once, whatever the deadline.
    select! {
        _ = notarized.wait_until(|newest| *newest >= parent_view) => {},
        _ = runtime.sleep_until(at_epoch_ms(deadline_ms)) => {},
    }
}

/// Why a block is invalid (logged; consensus only sees `false`).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Invalid {
    #[error("block does not extend its parent (height or digest)")]
    NotChild,
    #[error("header context differs from the consensus context")]
    ContextMismatch,
    #[error("batches do not match the rollup registry")]
    WrongRollups,
    #[error("rollup {rollup} has {count} txs, the limit is {limit}")]
    TooManyTxs {
        rollup: u64,
        count: usize,
        limit: u32,
    },
    #[error("block carries {0} tx bytes, above the limit")]
    TooManyBytes(usize),
    #[error("rollup {rollup}: invalid transaction: {error}")]
    BadTx {
        rollup: u64,
        error: ordo_types::TxError,
    },
    #[error("transaction {0} appears twice in the recent window")]
    Duplicate(String),
    #[error("timestamp {0} goes backwards or beyond year 2200")]
    Timestamp(u64),
    #[error("L1 reference or forced cursors changed on a network without an L1 inbox")]
    L1Frozen,
    #[error("L1 reference {got} is below the parent's {parent}")]
    L1Backwards { got: u64, parent: u64 },
    #[error("L1 block {0} has another hash on the confirmed L1 chain")]
    UnknownL1(u64),
    #[error("L1 reference {got} trails the confirmed L1 head {head} by more than {lag} blocks")]
    L1Stale { got: u64, head: u64, lag: u64 },
    #[error("forced cursors must name every registered rollup, in order")]
    CursorShape,
    #[error("rollup {rollup}: forced cursor {cursor} outside [{min}, {max}] (due entries left out or unknown ones consumed)")]
    ForcedCursor {
        rollup: u64,
        cursor: u64,
        min: u64,
        max: u64,
    },
    #[error("rollup {0}: forced transactions differ from the consumed inbox entries")]
    ForcedTxs(u64),
}

/// The L1 side of the application: the follower's view and the test-only censoring switch.
#[derive(Clone)]
pub struct L1Config {
    pub state: L1State,
    /// Test only: propose blocks that never consume forced entries (a censoring leader).
    pub censor_forced: bool,
}

/// The [`ConsensusApplication`] Ordo runs under marshal's inline verification, so a
/// notarization means 2f+1 validators checked the block: it is a sound preconfirmation.
#[derive(Clone)]
pub struct Application {
    rules: Rules,
    /// How long a leader with nothing to propose waits for a transaction before it orders an
    /// empty block (counted from the parent's timestamp; local policy, like the timeouts).
    idle_block_interval_ms: u64,
    /// With lookahead: how long from its parent's timestamp a leader waits for the parent's
    /// notarization before building on it unnotarized (None without lookahead).
    build_ahead_after_ms: Option<u64>,
    shared: Arc<Shared>,
    l1: Option<L1Config>,
    faulty_proposals: bool,
}

impl Application {
    pub(crate) fn new(
        rules: Rules,
        idle_block_interval: Duration,
        build_ahead_after: Option<Duration>,
        shared: Arc<Shared>,
        l1: Option<L1Config>,
        faulty_proposals: bool,
    ) -> Self {
        Self {
            rules,
            idle_block_interval_ms: idle_block_interval.as_millis() as u64,
            build_ahead_after_ms: build_ahead_after.map(|d| d.as_millis() as u64),
            shared,
            l1,
            faulty_proposals,
        }
    }

    /// Test only (a Byzantine leader): turns a valid proposal into one that breaks a different
    /// rule in each view, so honest validators refuse it: a transaction twice, more bytes than
    /// `max_block_bytes`, a batch for a rollup outside the registry, a timestamp before its
    /// parent's. Each still decodes: the proposer's own marshal stores it as verified and reads
    /// it back when it builds on it.
    fn break_rules(&self, mut header: Header, mut batches: Vec<Batch>, parent: &Block) -> Block {
        let view = header.view;
        let filler = |n: usize, len: usize| {
            let mut tx = format!("faulty-{view}-{n}").into_bytes();
            tx.resize(len.max(tx.len()), b'.');
            bytes::Bytes::from(tx)
        };
        let (Some(first), Some(spec)) = (batches.first_mut(), self.rules.rollups.first()) else {
            return Block::new(header, batches);
        };
        match view % 4 {
            0 => {
                let tx = first.txs.first().cloned().unwrap_or_else(|| filler(0, 64));
                if first.txs.is_empty() {
                    first.txs.push(tx.clone());
                }
                first.txs.push(tx);
                Block::new(header, batches)
            }
            1 => {
                let size = (spec.max_tx_bytes as usize).clamp(64, self.rules.max_block_bytes);
                let count = self.rules.max_block_bytes / size + 1;
                first.txs.extend((0..count).map(|n| filler(n, size)));
                Block::new(header, batches)
            }
            2 => {
                // A batch for a rollup the registry does not have. (Not a body that misses
                // `batches_root`, nor a batch more, nor batches out of order: the codec refuses
                // those, and the proposer's marshal could not read back its own block.)
                let unknown = self.rules.rollups.iter().map(|r| r.id).max().unwrap_or(0) + 1;
                if let Some(last) = batches.last_mut() {
                    last.rollup = unknown;
                }
                Block::new(header, batches)
            }
            _ => {
                // Past the clock tolerance instead when the parent is genesis (timestamp 0).
                header.timestamp_ms = match parent.header.timestamp_ms.checked_sub(1) {
                    Some(before) => before,
                    None => header.timestamp_ms + 1_000 * self.rules.clock_tolerance_ms.max(1),
                };
                Block::new(header, batches)
            }
        }
    }

    /// Checks everything that does not need the clock or older ancestors.
    pub fn check_block(
        &self,
        block: &Block,
        parent: &Block,
        context: &Context,
    ) -> Result<(), Invalid> {
        let h = &block.header;
        if h.height != parent.header.height + 1 || h.parent != parent.digest() {
            return Err(Invalid::NotChild);
        }
        if h.epoch != context.round.epoch().get()
            || h.view != context.round.view().get()
            || h.parent_view != context.parent.0.get()
            || h.parent != context.parent.1
            || h.leader != context.leader
        {
            return Err(Invalid::ContextMismatch);
        }
        if h.timestamp_ms < parent.header.timestamp_ms || h.timestamp_ms > BLOCK_TIMESTAMP_MAX_MS {
            return Err(Invalid::Timestamp(h.timestamp_ms));
        }
        // A network without an L1 inbox never moves the L1 reference or the cursors.
        if self.l1.is_none()
            && (h.l1 != parent.header.l1
                || h.forced != parent.header.forced
                || block.batches.iter().any(|b| b.forced != 0))
        {
            return Err(Invalid::L1Frozen);
        }
        let rollups = &self.rules.rollups;
        if block.batches.len() != rollups.len()
            || block
                .batches
                .iter()
                .zip(rollups.iter())
                .any(|(b, r)| b.rollup != r.id)
        {
            return Err(Invalid::WrongRollups);
        }
        // A transaction this node's mempool holds for the same rollup already passed the same
        // deterministic check: where that check is costly (decoding, signer recovery) it is
        // skipped, and the mempool is asked once for the block's such transactions (not once per
        // transaction: its lock is the one admission holds). The rollup matters: the same bytes
        // pending for another rollup passed another rollup's check.
        let batches = || {
            block
                .batches
                .iter()
                .zip(rollups.iter())
                .zip(block.tx_hashes())
        };
        let costly: Vec<(RollupId, TxHash)> = batches()
            .filter(|((_, spec), _)| spec.kind.check_is_costly())
            .flat_map(|((batch, _), hashes)| hashes.iter().map(|hash| (batch.rollup, *hash)))
            .collect();
        let already_checked = self.shared.mempool.pending_among(&costly);
        let mut bytes = 0usize;
        let mut seen = TxHashSet::with_capacity_and_hasher(block.tx_count(), Default::default());
        for ((batch, spec), hashes) in batches() {
            if batch.txs.len() > spec.max_txs_per_block as usize {
                return Err(Invalid::TooManyTxs {
                    rollup: spec.id,
                    count: batch.txs.len(),
                    limit: spec.max_txs_per_block,
                });
            }
            bytes += batch.tx_bytes();
            let costly = spec.kind.check_is_costly();
            for (tx, hash) in batch.txs.iter().zip(hashes) {
                if !seen.insert(*hash) {
                    return Err(Invalid::Duplicate(hex::encode(hash)));
                }
                if !(costly && already_checked.contains(hash)) {
                    spec.check_tx(tx).map_err(|error| Invalid::BadTx {
                        rollup: spec.id,
                        error,
                    })?;
                }
            }
        }
        if bytes > self.rules.max_block_bytes {
            return Err(Invalid::TooManyBytes(bytes));
        }
        Ok(())
    }

    /// The L1 reference and forced-inclusion rules. Waits (never fails) while the named L1 block is
    /// not yet confirmed locally.
    async fn check_l1(
        &self,
        block: &Block,
        parent: &Block,
        window: &Window,
    ) -> Result<(), Invalid> {
        let Some(l1) = &self.l1 else {
            return Ok(());
        };
        let (h, p) = (&block.header, &parent.header);
        if h.l1.number < p.l1.number {
            return Err(Invalid::L1Backwards {
                got: h.l1.number,
                parent: p.l1.number,
            });
        }
        if h.l1 != p.l1 {
            l1.state.wait_for(h.l1.number).await;
            if l1.state.hash_at(h.l1.number) != Some(h.l1.hash) {
                return Err(Invalid::UnknownL1(h.l1.number));
            }
        }
        let lag = self.rules.forced.max_l1_lag;
        if let Some(head) = l1.state.head() {
            if head.number > h.l1.number.saturating_add(lag) {
                return Err(Invalid::L1Stale {
                    got: h.l1.number,
                    head: head.number,
                    lag,
                });
            }
        }
        let rollups = &self.rules.rollups;
        if h.forced.len() != rollups.len()
            || h.forced
                .iter()
                .zip(rollups.iter())
                .any(|(c, r)| c.rollup != r.id)
        {
            return Err(Invalid::CursorShape);
        }
        let mut taken = TxHashSet::default();
        // Held again (a no-op unless it moved): another verification may have moved the index
        // while this one waited for its L1 block above.
        let mut index = self.shared.verified_window.lock().expect("poisoned");
        let recent = index.hold(window);
        for ((batch, spec), cursor) in block.batches.iter().zip(rollups.iter()).zip(&h.forced) {
            let plan = self.plan(
                &l1.state,
                spec,
                p,
                h.l1.number,
                &|h| recent.contains(h),
                &taken,
            );
            let (min, max) = (plan.min_cursor(), plan.max_cursor());
            if cursor.next_index < min || cursor.next_index > max {
                return Err(Invalid::ForcedCursor {
                    rollup: spec.id,
                    cursor: cursor.next_index,
                    min,
                    max,
                });
            }
            let included = plan.included(cursor.next_index);
            if batch.forced as usize != included.len() || batch.txs[..included.len()] != included {
                return Err(Invalid::ForcedTxs(spec.id));
            }
            taken.extend(included.iter().map(|t| ordo_types::tx_hash(t)));
        }
        Ok(())
    }

    fn plan(
        &self,
        state: &L1State,
        spec: &RollupSpec,
        parent: &Header,
        at: u64,
        recent: &dyn Fn(&TxHash) -> bool,
        taken: &TxHashSet,
    ) -> Plan {
        let from = parent.forced_cursor(spec.id);
        state.with_queue(spec.id, |q| {
            Plan::new(q, spec, from, at, &self.rules.forced, recent, taken)
        })
    }

    /// The dedup window of a child of `parent`: `parent` and its ancestors, `dedup_window` blocks
    /// in all, none at or below `floor`.
    async fn window(
        &self,
        parent: Arc<Block>,
        older: impl Ancestry<Block>,
        floor: Option<u64>,
    ) -> Window {
        let depth = self.rules.dedup_window.saturating_sub(1);
        Window::gather(&self.shared.recent, parent, older, depth, floor).await
    }

    /// The L1 reference a new block names: the newest confirmed block, never behind the parent's.
    fn next_l1(&self, parent: &Header) -> L1Ref {
        self.l1
            .as_ref()
            .and_then(|l1| l1.state.head())
            .filter(|head| head.number > parent.l1.number)
            .unwrap_or(parent.l1)
    }

    /// The forced part of a new block: its cursors and each rollup's leading forced
    /// transactions. A leader consumes every known entry that fits (so users wait for L1
    /// confirmations, not for deadlines) unless it is the test-only censor.
    fn propose_forced(
        &self,
        parent: &Header,
        at: u64,
        recent: &TxHashSet,
    ) -> (Vec<ForcedCursor>, Vec<Batch>) {
        let Some(l1) = &self.l1 else {
            return (parent.forced.clone(), Vec::new());
        };
        let mut taken = TxHashSet::default();
        let mut cursors = Vec::with_capacity(self.rules.rollups.len());
        let mut batches = Vec::new();
        for spec in self.rules.rollups.iter() {
            let plan = self.plan(&l1.state, spec, parent, at, &|h| recent.contains(h), &taken);
            let next_index = if l1.censor_forced {
                parent.forced_cursor(spec.id)
            } else {
                plan.max_cursor()
            };
            cursors.push(ForcedCursor {
                rollup: spec.id,
                next_index,
            });
            let txs = plan.included(next_index);
            if !txs.is_empty() {
                taken.extend(txs.iter().map(|t| ordo_types::tx_hash(t)));
                batches.push(Batch {
                    rollup: spec.id,
                    forced: txs.len() as u32,
                    txs,
                });
            }
        }
        (cursors, batches)
    }

    /// Whether any rollup's queue holds entries a block at `at` could consume after `parent`.
    fn has_forced_work(&self, parent: &Header, at: u64) -> bool {
        self.l1.as_ref().is_some_and(|l1| {
            self.rules.rollups.iter().any(|r| {
                l1.state
                    .with_queue(r.id, |q| q.known_at(at) > parent.forced_cursor(r.id))
            })
        })
    }
}

impl<E> ConsensusApplication<E> for Application
where
    E: Rng + Spawner + Metrics + Clock + Storage,
{
    type SigningScheme = Scheme;
    type Context = Context;
    type Block = Block;
    type Input = ();

    async fn propose(
        &mut self,
        (runtime, context): (E, Context),
        mut ancestry: impl Ancestry<Block>,
        _input: (),
    ) -> Option<Digested<Block>> {
        shared::note_leader(
            &self.shared.leader,
            context.round.view().get(),
            &context.leader,
        );
        let parent = ancestry.next().await?.inner_shared();

        // Lookahead asks for a proposal on a parent not notarized yet. Wait for the notarization
        // a while first: on a fast network it comes, and building ahead would only add views for
        // the cores to run; on a slow one the leader stops waiting a round trip per block.
        if let Some(after_ms) = self.build_ahead_after_ms {
            parent_notarized_or(
                &runtime,
                &self.shared.notarized,
                context.parent.0.get(),
                parent.header.timestamp_ms + after_ms,
            )
            .await;
        }

        // Pace blocks from the parent's timestamp so an idle chain does not spin.
        let earliest = parent.header.timestamp_ms + self.rules.block_interval_ms;
        if runtime.current().epoch_millis() < earliest {
            runtime.sleep_until(at_epoch_ms(earliest)).await;
        }

        // Transactions already in not-yet-finalized ancestors must not be proposed again.
        // Finalized ones have left the mempool, so the walk stops at the indexed height, unless
        // inbox entries are to be consumed: whether one repeats a recent transaction is decided
        // over the whole dedup window, exactly as `verify` does.
        let l1 = self.next_l1(&parent.header);
        let whole_window = self.has_forced_work(&parent.header, l1.number);
        let floor = if whole_window {
            None
        } else {
            self.shared.indexed_height()
        };
        let window = self.window(parent.clone(), ancestry, floor).await;
        let mut in_flight = window.hashes();
        let (forced, forced_batches) = self.propose_forced(&parent.header, l1.number, &in_flight);
        for batch in &forced_batches {
            in_flight.extend(batch.tx_hashes());
        }
        // With nothing to propose, wait for a transaction rather than order empty blocks back to
        // back: each view costs every validator its votes, certificates and syncs. An empty block
        // still goes out by the idle interval, well inside the leader timeout. The deadline
        // counts from the parent's timestamp, so a leader that just took over, or restarted,
        // proposes at once.
        let idle_until = parent.header.timestamp_ms + self.idle_block_interval_ms;
        let mut forced_batches = Some(forced_batches);
        let selected = loop {
            let offered = self.shared.mempool.offered();
            let selected = self
                .shared
                .mempool
                .select_after(forced_batches.take().unwrap_or_default(), &|h| {
                    in_flight.contains(h)
                });
            if !selected.is_empty()
                || whole_window
                || runtime.current().epoch_millis() >= idle_until
            {
                break selected;
            }
            select! {
                _ = offered => {},
                _ = runtime.sleep_until(at_epoch_ms(idle_until)) => {},
            }
        };
        let timestamp_ms = runtime
            .current()
            .epoch_millis()
            .max(earliest)
            .min(BLOCK_TIMESTAMP_MAX_MS);

        let header = Header {
            epoch: context.round.epoch().get(),
            view: context.round.view().get(),
            parent_view: context.parent.0.get(),
            leader: context.leader.clone(),
            parent: parent.digest(),
            height: parent.header.height + 1,
            timestamp_ms,
            l1,
            forced,
            batches_root: [0; 32],
        };
        let block = Arc::new(if self.faulty_proposals {
            self.break_rules(header, selected.batches, &parent)
        } else {
            Block::with_tx_hashes(header, selected.batches, selected.tx_hashes)
        });
        debug!(
            view = context.round.view().get(),
            height = block.height(),
            txs = block.tx_count(),
            "proposing"
        );
        self.shared.recent.remember(block.clone());
        let digest = block.digest();
        Some(Digested::precomputed(block, digest))
    }

    async fn verify(
        &mut self,
        (runtime, context): (E, Context),
        mut ancestry: impl Ancestry<Block>,
    ) -> bool {
        shared::note_leader(
            &self.shared.leader,
            context.round.view().get(),
            &context.leader,
        );
        let Some(block) = ancestry.next().await else {
            return false;
        };
        let Some(parent) = ancestry.next().await else {
            return false;
        };
        let (block, parent) = (block.inner_shared(), parent.inner_shared());
        let started = runtime.current();
        let behind_ms = started
            .epoch_millis()
            .saturating_sub(block.header.timestamp_ms);
        if let Err(reason) = self.check_block(&block, &parent, &context) {
            warn!(height = block.height(), %reason, "rejecting block");
            return false;
        }
        let window = self.window(parent.clone(), ancestry, None).await;
        let repeat = self
            .shared
            .verified_window
            .lock()
            .expect("poisoned")
            .hold(&window)
            .first_repeat(&block);
        if let Some(dup) = repeat {
            warn!(height = block.height(), reason = %Invalid::Duplicate(hex::encode(dup)), "rejecting block");
            return false;
        }
        if let Err(reason) = self.check_l1(&block, &parent, &window).await {
            warn!(height = block.height(), %reason, "rejecting block");
            return false;
        }

        // Never answer false on the local clock (it gates a deterministic vote): wait until the
        // timestamp is within tolerance instead.
        let due = block
            .header
            .timestamp_ms
            .saturating_sub(self.rules.clock_tolerance_ms);
        if runtime.current().epoch_millis() < due {
            runtime.sleep_until(at_epoch_ms(due)).await;
        }
        let took = runtime
            .current()
            .duration_since(started)
            .unwrap_or_default();
        self.shared
            .handle
            .liveness
            .record_verified_block(behind_ms, took.as_millis() as u64);
        debug!(
            view = context.round.view().get(),
            height = block.height(),
            txs = block.tx_count(),
            behind_ms,
            took_us = took.as_micros() as u64,
            "verified"
        );
        self.shared.recent.remember(block);
        shared::raise(&self.shared.handed_off, context.round.view().get());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_runtime::{deterministic, Runner as _, Supervisor as _};

    /// Runs `parent_notarized_or` for parent view 5 with a deadline 75 ms from now, the views
    /// in `notarized_at` ((ms from now, view)) seen notarized meanwhile; returns when it ended.
    fn waited_ms(already: u64, notarized_at: &'static [(u64, u64)]) -> u64 {
        deterministic::Runner::default().start(|context| async move {
            let notarized = Watch::new(already);
            let start = context.current().epoch_millis();
            context.child("reporter").spawn({
                let notarized = notarized.clone();
                move |context| async move {
                    for &(at, view) in notarized_at {
                        context.sleep_until(at_epoch_ms(start + at)).await;
                        notarized.set(view);
                    }
                }
            });
            parent_notarized_or(&context, &notarized, 5, start + 75).await;
            context.current().epoch_millis() - start
        })
    }

    #[test]
    fn a_leader_builds_on_its_parent_once_notarized_or_at_the_deadline() {
        // The deterministic runtime polls a woken task on its next cycle (1 ms later).
        let soon_after = |at: u64| at..=at + 1;
        assert_eq!(waited_ms(5, &[]), 0, "the parent is notarized already");
        assert_eq!(
            waited_ms(7, &[]),
            0,
            "a later view is notarized: the chain moved on"
        );
        assert!(
            soon_after(30).contains(&waited_ms(4, &[(30, 5)])),
            "its notarization comes first"
        );
        assert!(
            soon_after(20).contains(&waited_ms(4, &[(10, 4), (20, 6)])),
            "an older view's does not count; a newer one's does"
        );
        assert!(
            soon_after(75).contains(&waited_ms(4, &[(90, 5)])),
            "built ahead at the deadline"
        );
    }
}
