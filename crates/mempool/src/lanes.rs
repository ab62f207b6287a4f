//! The in-memory pending set: one FIFO lane per rollup, and the rule that fills a block from them.

use bytes::Bytes;
use ordo_types::{tx_hash, Batch, RollupId, RollupSpec, TxHash, TxHashMap, TxHashSet};
use ordo_watch::Watch;
use std::collections::{btree_map, BTreeMap};

/// How many recently finalized hashes are remembered to close the race between a submission's
/// (unlocked) inclusion check and the removal of the same transaction by a finalized block.
const RECENTLY_INCLUDED_CAP: usize = 1 << 16;

/// An accepted transaction.
pub(crate) struct Pending {
    pub hash: TxHash,
    pub raw: Bytes,
    /// Unix ms of acceptance (persisted, so the ttl survives restarts).
    pub arrived_ms: u64,
    /// Whether it may be offered to blocks: a local transaction once its journal write is synced
    /// (a block never carries a transaction whose acceptance could still be lost), a relayed one
    /// at once.
    pub durable: bool,
    /// Accepted from a client of this node (or reloaded from its journal), rather than relayed by
    /// a peer: only those are announced again while pending.
    pub local: bool,
    /// Unix ms this node last announced it to its peers (0: never).
    pub announced_ms: u64,
    /// How often it was announced (acceptance counts): each announcement doubles the wait for
    /// the next one, up to [`MAX_ANNOUNCE_DOUBLINGS`].
    pub announcements: u32,
}

/// A transaction waiting in a backlog is announced again after 1, 2, 4, 8, 8, ... intervals:
/// peers that missed it get it again, without a backlog being re-sent to every peer at every
/// interval (under saturation that was most of what the validators hashed).
pub(crate) const MAX_ANNOUNCE_DOUBLINGS: u32 = 3;

/// One rollup's pending transactions, keyed by arrival sequence number (so in arrival order).
pub(crate) struct Lane {
    pub spec: RollupSpec,
    pub txs: BTreeMap<u64, Pending>,
    pub bytes: usize,
}

/// Everything pending, guarded by the mempool's mutex.
pub(crate) struct State {
    pub lanes: BTreeMap<RollupId, Lane>,
    pub by_hash: TxHashMap<(RollupId, u64)>,
    /// Sequence number of the next accepted transaction (also its journal key).
    pub next_seq: u64,
    recently_included: RecentlyIncluded,
    /// Changes when a transaction becomes offerable ([`crate::Mempool::offered`]).
    pub offers: Watch<()>,
}

impl State {
    pub fn new(rollups: &[RollupSpec]) -> Self {
        Self {
            lanes: rollups
                .iter()
                .map(|spec| {
                    let lane = Lane {
                        spec: spec.clone(),
                        txs: BTreeMap::new(),
                        bytes: 0,
                    };
                    (spec.id, lane)
                })
                .collect(),
            by_hash: TxHashMap::default(),
            next_seq: 0,
            recently_included: RecentlyIncluded::default(),
            offers: Watch::default(),
        }
    }

    /// Wakes every leader waiting for work: a transaction just became offerable.
    pub fn offer_made(&mut self) {
        self.offers.set(());
    }

    /// Adds a transaction the caller has checked (known rollup, not pending).
    pub fn insert(&mut self, rollup: RollupId, seq: u64, tx: Pending) {
        let Some(lane) = self.lanes.get_mut(&rollup) else {
            return;
        };
        self.by_hash.insert(tx.hash, (rollup, seq));
        lane.bytes += tx.raw.len();
        lane.txs.insert(seq, tx);
        self.next_seq = self.next_seq.max(seq + 1);
    }

    /// Removes a pending transaction; returns its journal key if it has one (local ones).
    pub fn remove(&mut self, hash: &TxHash) -> Option<u64> {
        let (rollup, seq) = self.by_hash.remove(hash)?;
        self.take_from_lane(rollup, seq)
            .filter(|tx| tx.local)
            .map(|_| seq)
    }

    /// Removes the transaction `seq` of `rollup` if it is still there.
    pub fn remove_entry(&mut self, rollup: RollupId, seq: u64) -> Option<Pending> {
        let tx = self.take_from_lane(rollup, seq)?;
        self.by_hash.remove(&tx.hash);
        Some(tx)
    }

    /// Takes `seq` out of `rollup`'s lane, leaving `by_hash` to the caller.
    fn take_from_lane(&mut self, rollup: RollupId, seq: u64) -> Option<Pending> {
        let lane = self.lanes.get_mut(&rollup)?;
        let tx = lane.txs.remove(&seq)?;
        lane.bytes -= tx.raw.len();
        Some(tx)
    }

    pub fn mark_durable(&mut self, rollup: RollupId, seq: u64) {
        if let Some(tx) = self
            .lanes
            .get_mut(&rollup)
            .and_then(|lane| lane.txs.get_mut(&seq))
        {
            tx.durable = true;
        }
    }

    /// The pending transaction with `hash`, and its rollup.
    pub fn get(&self, hash: &TxHash) -> Option<(RollupId, &Pending)> {
        let (rollup, seq) = self.by_hash.get(hash)?;
        Some((*rollup, self.lanes.get(rollup)?.txs.get(seq)?))
    }

    pub fn note_included(&mut self, hash: TxHash) {
        self.recently_included.insert(hash);
    }

    pub fn was_recently_included(&self, hash: &TxHash) -> bool {
        self.recently_included.contains(hash)
    }

    /// Removes every transaction accepted at or before `cutoff_ms`; returns the hash of each and
    /// its journal key if it has one (local ones).
    pub fn remove_arrived_through(&mut self, cutoff_ms: u64) -> Vec<(TxHash, Option<u64>)> {
        let mut expired = Vec::new();
        for lane in self.lanes.values_mut() {
            // Lanes are in arrival order, so the expired transactions are a prefix. (A clock
            // stepping back only delays expiry of the few transactions behind a younger one.)
            while let Some(entry) = lane.txs.first_entry() {
                if entry.get().arrived_ms > cutoff_ms {
                    break;
                }
                let (seq, tx) = entry.remove_entry();
                lane.bytes -= tx.raw.len();
                self.by_hash.remove(&tx.hash);
                expired.push((tx.hash, tx.local.then_some(seq)));
            }
        }
        expired
    }

    /// Up to `limit` local transactions, oldest first, whose next announcement is due at
    /// `now_ms` (never announced, or `interval_ms` doubled per earlier announcement since the
    /// last); marks them announced at `now_ms` and returns their hashes.
    pub fn take_unannounced(&mut self, interval_ms: u64, now_ms: u64, limit: usize) -> Vec<TxHash> {
        let due_at = |tx: &Pending| {
            let doublings = tx
                .announcements
                .saturating_sub(1)
                .min(MAX_ANNOUNCE_DOUBLINGS);
            tx.announced_ms
                .saturating_add(interval_ms.saturating_mul(1 << doublings))
        };
        let mut due: Vec<(u64, &mut Pending)> = self
            .lanes
            .values_mut()
            .flat_map(|lane| lane.txs.iter_mut().map(|(seq, tx)| (*seq, tx)))
            .filter(|(_, tx)| {
                tx.local && tx.durable && (tx.announcements == 0 || due_at(tx) <= now_ms)
            })
            .collect();
        due.sort_unstable_by_key(|(seq, _)| *seq);
        due.into_iter()
            .take(limit)
            .map(|(_, tx)| {
                tx.announced_ms = now_ms;
                tx.announcements = tx.announcements.saturating_add(1);
                tx.hash
            })
            .collect()
    }

    /// Local transactions still pending, oldest first, at most `limit`.
    pub fn local(&self, limit: usize) -> Vec<(RollupId, Bytes)> {
        let mut local: Vec<(u64, RollupId, &Pending)> = self
            .lanes
            .iter()
            .flat_map(|(rollup, lane)| lane.txs.iter().map(|(seq, tx)| (*seq, *rollup, tx)))
            .filter(|(_, _, tx)| tx.local)
            .collect();
        local.sort_unstable_by_key(|(seq, _, _)| *seq);
        local
            .into_iter()
            .take(limit)
            .map(|(_, rollup, tx)| (rollup, tx.raw.clone()))
            .collect()
    }

    /// Fills one block; see [`crate::Mempool::select`] for the rule.
    pub fn select(
        &self,
        max_block_bytes: usize,
        mut forced: Vec<Batch>,
        exclude: &dyn Fn(&TxHash) -> bool,
    ) -> Selection {
        let mut fills: Vec<Fill<'_>> = self
            .lanes
            .values()
            .map(|lane| {
                let first = forced
                    .iter()
                    .position(|b| b.rollup == lane.spec.id)
                    .map(|i| forced.swap_remove(i));
                Fill::new(lane, first)
            })
            .collect();
        let mut budget = max_block_bytes;

        // Phase 1: each lane takes its oldest transactions up to its reserved share. A lane stops
        // at the first transaction that does not fit rather than skipping it, so a sender's
        // transactions are never reordered (an EVM nonce gap would make the later ones invalid).
        for fill in &mut fills {
            let share = (fill.lane.spec.share_bytes as usize).min(budget);
            while let Some(tx) = fill.peek(exclude) {
                if fill.is_full() || fill.bytes + tx.raw.len() > share {
                    break;
                }
                fill.take();
            }
            budget = budget.saturating_sub(fill.bytes);
        }

        // Phase 2: the unused budget goes round-robin, one transaction per lane per turn, so the
        // leftovers are split among the lanes that still have demand.
        let mut active: Vec<usize> = (0..fills.len()).collect();
        while !active.is_empty() && budget > 0 {
            active.retain(|&i| {
                let fill = &mut fills[i];
                match fill.peek(exclude) {
                    Some(tx) if !fill.is_full() && tx.raw.len() <= budget => {
                        budget -= tx.raw.len();
                        fill.take();
                        true
                    }
                    _ => false,
                }
            });
        }

        let (batches, tx_hashes) = fills
            .into_iter()
            .map(|fill| {
                let batch = Batch {
                    rollup: fill.lane.spec.id,
                    forced: fill.forced,
                    txs: fill.txs,
                };
                (batch, fill.hashes)
            })
            .unzip();
        Selection { batches, tx_hashes }
    }
}

/// One lane's part of a block being filled.
struct Fill<'a> {
    lane: &'a Lane,
    queue: btree_map::Values<'a, u64, Pending>,
    /// The next eligible transaction, already checked against `exclude`.
    next: Option<&'a Pending>,
    txs: Vec<Bytes>,
    /// The hashes of `txs`.
    hashes: Vec<TxHash>,
    bytes: usize,
    /// Forced transactions the block starts with (they count against the lane's limits).
    forced: u32,
}

impl<'a> Fill<'a> {
    fn new(lane: &'a Lane, forced: Option<Batch>) -> Self {
        let (forced, txs) = forced.map_or((0, Vec::new()), |b| (b.forced, b.txs));
        Self {
            lane,
            queue: lane.txs.values(),
            next: None,
            bytes: txs.iter().map(|t| t.len()).sum(),
            hashes: txs.iter().map(|t| tx_hash(t)).collect(),
            txs,
            forced,
        }
    }

    fn peek(&mut self, exclude: &dyn Fn(&TxHash) -> bool) -> Option<&'a Pending> {
        if self.next.is_none() {
            self.next = self
                .queue
                .by_ref()
                .find(|tx| tx.durable && !exclude(&tx.hash));
        }
        self.next
    }

    fn take(&mut self) {
        if let Some(tx) = self.next.take() {
            self.bytes += tx.raw.len();
            self.txs.push(tx.raw.clone());
            self.hashes.push(tx.hash);
        }
    }

    fn is_full(&self) -> bool {
        self.txs.len() >= self.lane.spec.max_txs_per_block as usize
    }
}

/// What [`crate::Mempool::select`] chose for a block: one batch per registered rollup, and the
/// hashes of each batch's transactions (so the block need not hash them again).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    pub batches: Vec<Batch>,
    pub tx_hashes: Vec<Vec<TxHash>>,
}

impl Selection {
    /// Whether no batch carries a transaction (the block would be empty).
    pub fn is_empty(&self) -> bool {
        self.batches.iter().all(|batch| batch.txs.is_empty())
    }
}

/// The most recently finalized hashes: at least the last [`RECENTLY_INCLUDED_CAP`] / 2 and at
/// most [`RECENTLY_INCLUDED_CAP`], in two generations. When the newer one fills, the older one is
/// dropped whole: evicting hashes one at a time in arrival order (a queue beside the set) cost a
/// second look-up and a cache miss per finalized transaction.
#[derive(Default)]
struct RecentlyIncluded {
    newer: TxHashSet,
    older: TxHashSet,
}

impl RecentlyIncluded {
    /// One look-up per hash (every validator notes every finalized one): a hash the older
    /// generation holds too is kept twice, which only makes it stay longer.
    fn insert(&mut self, hash: TxHash) {
        if self.newer.insert(hash) && self.newer.len() >= RECENTLY_INCLUDED_CAP / 2 {
            // The older generation's table is reused, emptied, for the next one.
            std::mem::swap(&mut self.newer, &mut self.older);
            self.newer.clear();
        }
    }

    fn contains(&self, hash: &TxHash) -> bool {
        self.newer.contains(hash) || self.older.contains(hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(i: usize) -> TxHash {
        let mut hash = [0; 32];
        hash[..8].copy_from_slice(&(i as u64).to_le_bytes());
        hash
    }

    #[test]
    fn recently_included_keeps_at_least_the_last_half_of_its_cap() {
        let mut recent = RecentlyIncluded::default();
        let total = RECENTLY_INCLUDED_CAP * 2 + 123;
        for i in 0..total {
            recent.insert(hash(i));
            // Inserting one again (a hash finalized twice) keeps it held.
            recent.insert(hash(i));
            if i >= RECENTLY_INCLUDED_CAP / 4 {
                recent.insert(hash(i - RECENTLY_INCLUDED_CAP / 4));
            }
            assert!(recent.contains(&hash(i)));
            if i >= RECENTLY_INCLUDED_CAP / 2 {
                assert!(recent.contains(&hash(i + 1 - RECENTLY_INCLUDED_CAP / 2)));
            }
        }
        assert!(!recent.contains(&hash(0)), "the oldest are forgotten");
        assert!(recent.newer.len() + recent.older.len() <= RECENTLY_INCLUDED_CAP);
    }
}
