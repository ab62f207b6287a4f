//! The consensus application: what a leader proposes and what every validator accepts.

use crate::shared::Shared;
use commonware_consensus::{marshal::ancestry::Ancestry, Application as ConsensusApplication};
use commonware_cryptography::{Digested, Digestible};
use commonware_runtime::{Clock, Metrics, Spawner, Storage};
use commonware_utils::SystemTimeExt;
use futures::StreamExt;
use ordo_types::{
    consensus::{Context, Scheme},
    Block, Header, RollupSpec, TxHash, BLOCK_TIMESTAMP_MAX_MS,
};
use rand::Rng;
use std::{
    collections::HashSet,
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
    #[error("L1 reference or forced cursors changed without the L1 follower")]
    L1,
}

/// The [`ConsensusApplication`] Ordo runs under marshal's inline verification, so a
/// notarization means 2f+1 validators checked the block: it is a sound preconfirmation.
#[derive(Clone)]
pub struct Application {
    rules: Rules,
    shared: Arc<Shared>,
}

impl Application {
    pub(crate) fn new(rules: Rules, shared: Arc<Shared>) -> Self {
        Self { rules, shared }
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
        // Until validators follow the L1 inbox, nothing may move the L1 reference, the cursors,
        // or claim forced transactions.
        if h.l1 != parent.header.l1
            || h.forced != parent.header.forced
            || block.batches.iter().any(|b| b.forced != 0)
        {
            return Err(Invalid::L1);
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
        let mut bytes = 0usize;
        let mut seen = HashSet::with_capacity(block.tx_count());
        for ((batch, spec), hashes) in block
            .batches
            .iter()
            .zip(rollups.iter())
            .zip(block.tx_hashes())
        {
            if batch.txs.len() > spec.max_txs_per_block as usize {
                return Err(Invalid::TooManyTxs {
                    rollup: spec.id,
                    count: batch.txs.len(),
                    limit: spec.max_txs_per_block,
                });
            }
            bytes += batch.tx_bytes();
            for (tx, hash) in batch.txs.iter().zip(hashes) {
                if !seen.insert(*hash) {
                    return Err(Invalid::Duplicate(hex::encode(hash)));
                }
                // A transaction this node accepted into its mempool already passed the same
                // deterministic check; skip the signature recovery.
                if !self.shared.mempool.is_pending(hash) {
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

    /// Transaction hashes of up to `depth` blocks of `ancestry`, stopping early at `floor`.
    async fn recent_txs(
        mut ancestry: impl Ancestry<Block>,
        depth: u64,
        floor: Option<u64>,
    ) -> HashSet<TxHash> {
        let mut seen = HashSet::new();
        for _ in 0..depth {
            let Some(block) = ancestry.next().await else {
                break;
            };
            let block: &Block = block.inner();
            if floor.is_some_and(|f| block.height() <= f) || block.height() == 0 {
                break;
            }
            for hashes in block.tx_hashes() {
                seen.extend(hashes.iter().copied());
            }
        }
        seen
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
        let parent = ancestry.next().await?;
        let parent: &Block = parent.inner();

        // Pace blocks from the parent's timestamp so an idle chain does not spin.
        let earliest = parent.header.timestamp_ms + self.rules.block_interval_ms;
        let mut now = runtime.current().epoch_millis();
        if now < earliest {
            runtime
                .sleep_until(SystemTime::UNIX_EPOCH + Duration::from_millis(earliest))
                .await;
            now = runtime.current().epoch_millis();
        }
        let timestamp_ms = now.max(earliest).min(BLOCK_TIMESTAMP_MAX_MS);

        // Transactions already in not-yet-finalized ancestors must not be proposed again.
        // Finalized ones have left the mempool, so the walk stops at the indexed height.
        let mut in_flight = Self::recent_txs(
            ancestry,
            self.rules.dedup_window.saturating_sub(1),
            self.shared.indexed_height(),
        )
        .await;
        if parent.height() > self.shared.indexed_height().unwrap_or(0) {
            for hashes in parent.tx_hashes() {
                in_flight.extend(hashes.iter().copied());
            }
        }
        let batches = self.shared.mempool.select(&|h| in_flight.contains(h));

        let header = Header {
            epoch: context.round.epoch().get(),
            view: context.round.view().get(),
            parent_view: context.parent.0.get(),
            leader: context.leader.clone(),
            parent: parent.digest(),
            height: parent.header.height + 1,
            timestamp_ms,
            l1: parent.header.l1,
            forced: parent.header.forced.clone(),
            batches_root: [0; 32],
        };
        let block = Arc::new(Block::new(header, batches));
        debug!(height = block.height(), txs = block.tx_count(), "proposing");
        self.shared.remember(block.clone());
        let digest = block.digest();
        Some(Digested::precomputed(block, digest))
    }

    async fn verify(
        &mut self,
        (runtime, context): (E, Context),
        mut ancestry: impl Ancestry<Block>,
    ) -> bool {
        let Some(block) = ancestry.next().await else {
            return false;
        };
        let Some(parent) = ancestry.next().await else {
            return false;
        };
        let (block, parent): (Arc<Block>, &Block) = (block.inner_shared(), parent.inner());
        if let Err(reason) = self.check_block(&block, parent, &context) {
            warn!(height = block.height(), %reason, "rejecting block");
            return false;
        }
        let mut recent =
            Self::recent_txs(ancestry, self.rules.dedup_window.saturating_sub(1), None).await;
        for hashes in parent.tx_hashes() {
            recent.extend(hashes.iter().copied());
        }
        if let Some(dup) = block
            .tx_hashes()
            .iter()
            .flatten()
            .find(|h| recent.contains(*h))
        {
            warn!(height = block.height(), reason = %Invalid::Duplicate(hex::encode(dup)), "rejecting block");
            return false;
        }

        // Never answer false on the local clock (it gates a deterministic vote): wait until the
        // timestamp is within tolerance instead.
        let due = block
            .header
            .timestamp_ms
            .saturating_sub(self.rules.clock_tolerance_ms);
        if runtime.current().epoch_millis() < due {
            runtime
                .sleep_until(SystemTime::UNIX_EPOCH + Duration::from_millis(due))
                .await;
        }
        self.shared.remember(block);
        true
    }
}
