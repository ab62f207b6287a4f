//! The forced-inclusion rule: which L1 inbox entries a block must, and may, consume.
//!
//! A block names an L1 block `at` and, per rollup, a cursor: the next queue index not yet
//! consumed. From its parent's cursor `from`, a block may consume the entries queued at or before
//! `at`, as many as fit the per-block limits, and must consume every *due* one among those
//! (`deadline <= at`). Consumed entries whose bytes are not a valid transaction of the rollup
//! (malformed, oversized) or that repeat a transaction of the recent window are consumed but not
//! included, so a bad entry can never halt the chain. Everything here is a function of the queue
//! and the ancestry, so every honest validator computes the same answer.

use bytes::Bytes;
use ordo_l1::ForcedQueue;
use ordo_types::{tx_hash, RollupSpec, TxHash, TxHashSet};

/// Forced-inclusion limits, part of genesis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ForcedRules {
    /// Most inbox entries of one rollup a block consumes.
    pub per_block: u32,
    /// A block's L1 reference may trail the verifier's confirmed L1 head by at most this many
    /// blocks (a leader cannot dodge deadlines by never moving its L1 reference).
    pub max_l1_lag: u64,
}

impl Default for ForcedRules {
    fn default() -> Self {
        Self {
            per_block: 16,
            max_l1_lag: 32,
        }
    }
}

/// What one block may do with one rollup's queue.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    /// The parent's cursor.
    from: u64,
    /// The longest consumable run from `from`: `Some(tx)` for an entry that is included, `None`
    /// for one that is consumed but skipped.
    run: Vec<Option<Bytes>>,
    /// How many of `run` are due.
    due: u64,
}

impl Plan {
    /// `recent` tells whether a transaction is in the dedup window (asked only for queued
    /// entries, so a block without inbox work never builds the window's set); `taken` holds
    /// those the block already consumes for other rollups.
    pub(crate) fn new(
        queue: &ForcedQueue,
        spec: &RollupSpec,
        from: u64,
        at: u64,
        rules: &ForcedRules,
        recent: &dyn Fn(&TxHash) -> bool,
        taken: &TxHashSet,
    ) -> Self {
        let known = queue.known_at(at);
        let mut run = Vec::new();
        let mut bytes = 0usize;
        let mut hashes = TxHashSet::default();
        for entry in queue.range(from, known) {
            if run.len() >= rules.per_block as usize {
                break;
            }
            let hash = tx_hash(&entry.tx);
            let include = spec.check_tx(&entry.tx).is_ok()
                && !recent(&hash)
                && !taken.contains(&hash)
                && hashes.insert(hash);
            if include {
                // Forced bytes stay within the rollup's share, so the block limits always hold.
                if bytes + entry.tx.len() > spec.share_bytes as usize {
                    break;
                }
                bytes += entry.tx.len();
                run.push(Some(entry.tx.clone()));
            } else {
                run.push(None);
            }
        }
        let due = queue.due_at(at).saturating_sub(from).min(run.len() as u64);
        Self { from, run, due }
    }

    /// The lowest cursor a block may carry: every due entry that fits is consumed.
    pub(crate) fn min_cursor(&self) -> u64 {
        self.from + self.due
    }

    /// The highest cursor a block may carry.
    pub(crate) fn max_cursor(&self) -> u64 {
        self.from + self.run.len() as u64
    }

    /// The transactions a block that moves the cursor to `cursor` starts the rollup's batch with.
    pub(crate) fn included(&self, cursor: u64) -> Vec<Bytes> {
        let n = cursor.saturating_sub(self.from).min(self.run.len() as u64) as usize;
        self.run[..n].iter().flatten().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ordo_types::RollupKind;

    const DELAY: u64 = 25;

    fn spec() -> RollupSpec {
        RollupSpec {
            id: 903,
            kind: RollupKind::Opaque,
            share_bytes: 1_000,
            max_tx_bytes: 300,
            max_txs_per_block: 100,
        }
    }

    fn queue(entries: &[(u64, &[u8])]) -> ForcedQueue {
        let mut q = ForcedQueue::default();
        for (l1_block, tx) in entries {
            let log = q.next_log(903, *l1_block, DELAY, Bytes::copy_from_slice(tx));
            q.push(log).unwrap();
        }
        q
    }

    fn plan(q: &ForcedQueue, from: u64, at: u64, rules: ForcedRules) -> Plan {
        Plan::new(
            q,
            &spec(),
            from,
            at,
            &rules,
            &|_| false,
            &TxHashSet::default(),
        )
    }

    /// The vectors `contracts/test/fixtures/deadline.json` also feeds to the contract's `isDue`.
    #[test]
    fn deadline_boundary_vectors_match_the_contract() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../contracts/test/fixtures/deadline.json"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let fixture: serde_json::Value = serde_json::from_str(&text).unwrap();
        let submitted = fixture["submittedAt"].as_u64().unwrap();
        assert_eq!(fixture["inclusionDelay"].as_u64().unwrap(), DELAY);
        let q = queue(&[(submitted, b"tx")]);
        let vectors = fixture["vectors"].as_array().unwrap();
        assert_eq!(vectors.len(), 3);
        for v in vectors {
            let at = v["at"].as_u64().unwrap();
            let due = v["due"].as_bool().unwrap();
            let p = plan(&q, 0, at, ForcedRules::default());
            assert_eq!(p.min_cursor() == 1, due, "at L1 block {at}");
            // known from the block it was queued in, so a leader may always include it early
            assert_eq!(p.max_cursor(), 1);
        }
    }

    #[test]
    fn due_entries_must_be_consumed_up_to_the_cap() {
        let q = queue(&[(10, b"a"), (10, b"b"), (10, b"c"), (20, b"d")]);
        let rules = ForcedRules {
            per_block: 2,
            max_l1_lag: 32,
        };
        // nothing known before block 10; at 10 all three are known, none due
        assert_eq!(plan(&q, 0, 9, rules).max_cursor(), 0);
        let p = plan(&q, 0, 10, rules);
        assert_eq!((p.min_cursor(), p.max_cursor()), (0, 2));
        // at their deadline the cap still bounds one block, and the next block takes the rest
        let p = plan(&q, 0, 35, rules);
        assert_eq!((p.min_cursor(), p.max_cursor()), (2, 2));
        let p = plan(&q, 2, 35, rules);
        assert_eq!((p.min_cursor(), p.max_cursor()), (3, 4));
        assert_eq!(
            p.included(4),
            [Bytes::from_static(b"c"), Bytes::from_static(b"d")]
        );
    }

    #[test]
    fn invalid_entries_are_consumed_but_not_included() {
        let big = [7u8; 301]; // above max_tx_bytes
        let q = queue(&[(10, b"a"), (10, &big), (10, b"")]);
        let p = plan(&q, 0, 40, ForcedRules::default());
        assert_eq!((p.min_cursor(), p.max_cursor()), (3, 3));
        assert_eq!(p.included(3), [Bytes::from_static(b"a")]);

        // a transaction already in the recent window is skipped too
        let recent = TxHashSet::from_iter([tx_hash(b"a")]);
        let p = Plan::new(
            &q,
            &spec(),
            0,
            40,
            &ForcedRules::default(),
            &|h| recent.contains(h),
            &TxHashSet::default(),
        );
        assert!(p.included(3).is_empty());
    }

    #[test]
    fn forced_bytes_stay_within_the_rollup_share() {
        let tx = [1u8; 300];
        let tx2 = [2u8; 300];
        let tx3 = [3u8; 300];
        let tx4 = [4u8; 300];
        let q = queue(&[(10, &tx), (10, &tx2), (10, &tx3), (10, &tx4)]);
        let p = plan(&q, 0, 40, ForcedRules::default());
        // share 1,000 bytes: three 300-byte transactions fit, the fourth waits for the next block
        assert_eq!((p.min_cursor(), p.max_cursor()), (3, 3));
    }
}
