//! One rollup's forced-inclusion queue as rebuilt from the inbox's `ForcedTransaction` logs.
//!
//! Every entry is checked against the contract's accumulator chain before it is accepted, so a
//! wrong or lying L1 endpoint cannot make this validator include something the inbox never queued.

use crate::bindings::ForcedInclusionInbox::ForcedTransaction;
use alloy_primitives::{keccak256, B256};
use bytes::Bytes;
use ordo_types::RollupId;

/// An inbox entry, as the contract recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForcedEntry {
    pub rollup: RollupId,
    /// Position in the rollup's queue, from 0.
    pub index: u64,
    /// L1 block the entry was queued in.
    pub l1_block: u64,
    /// First L1 block number at which the entry is due.
    pub deadline: u64,
    /// `acc_index` of the contract's chain.
    pub accumulator: [u8; 32],
    /// The raw transaction bytes (checked by Ordo's rules only when a block consumes the entry).
    pub tx: Bytes,
}

/// One `ForcedTransaction` log: the entry and the accumulator it claims to extend.
#[derive(Clone, Debug)]
pub struct QueuedLog {
    pub entry: ForcedEntry,
    pub prev_accumulator: B256,
}

impl From<ForcedTransaction> for QueuedLog {
    /// The entry a decoded `ForcedTransaction` log describes (checked only by [`ForcedQueue::push`]).
    fn from(event: ForcedTransaction) -> Self {
        Self {
            prev_accumulator: event.prevAccumulator,
            entry: ForcedEntry {
                rollup: event.rollupId,
                index: event.index.saturating_to(),
                l1_block: event.l1Block,
                deadline: event.deadline,
                accumulator: event.accumulator.0,
                tx: event.signedTx.0,
            },
        }
    }
}

/// An entry the queue refuses: the logs do not form the contract's chain.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QueueError {
    #[error("rollup {rollup}: entry index {got}, expected {expected}")]
    Index {
        rollup: RollupId,
        got: u64,
        expected: u64,
    },
    #[error("rollup {rollup} entry {index}: previous accumulator does not match the queue")]
    PrevAccumulator { rollup: RollupId, index: u64 },
    #[error("rollup {rollup} entry {index}: accumulator does not match its contents")]
    Accumulator { rollup: RollupId, index: u64 },
    #[error("rollup {rollup} entry {index}: deadline {deadline} before the previous entry's")]
    Deadline {
        rollup: RollupId,
        index: u64,
        deadline: u64,
    },
}

/// `acc_i = keccak256(abi.encode(acc_{i-1}, rollupId, i, l1Block, keccak256(tx)))`: five
/// 32-byte big-endian words, as `ForcedInclusionInbox` computes it.
pub fn accumulate(
    prev: &[u8; 32],
    rollup: RollupId,
    index: u64,
    l1_block: u64,
    tx_hash: &[u8; 32],
) -> [u8; 32] {
    let mut words = [0u8; 160];
    words[..32].copy_from_slice(prev);
    words[56..64].copy_from_slice(&rollup.to_be_bytes());
    words[88..96].copy_from_slice(&index.to_be_bytes());
    words[120..128].copy_from_slice(&l1_block.to_be_bytes());
    words[128..].copy_from_slice(tx_hash);
    keccak256(words).0
}

/// A rollup's queue: entries in index order.
#[derive(Clone, Debug, Default)]
pub struct ForcedQueue {
    entries: Vec<ForcedEntry>,
}

impl ForcedQueue {
    /// The log the inbox emits when `tx` is queued next for `rollup` in L1 block `l1_block` with
    /// an inclusion delay of `delay` blocks (what simulations and tests feed a follower's state).
    pub fn next_log(&self, rollup: RollupId, l1_block: u64, delay: u64, tx: Bytes) -> QueuedLog {
        let prev = self.entries.last().map_or([0; 32], |e| e.accumulator);
        let index = self.len();
        QueuedLog {
            entry: ForcedEntry {
                rollup,
                index,
                l1_block,
                deadline: l1_block + delay,
                accumulator: accumulate(&prev, rollup, index, l1_block, &keccak256(&tx).0),
                tx,
            },
            prev_accumulator: B256::from(prev),
        }
    }

    /// Appends the next entry after checking it extends the accumulator chain.
    pub fn push(&mut self, log: QueuedLog) -> Result<(), QueueError> {
        let QueuedLog {
            entry,
            prev_accumulator,
        } = log;
        let (rollup, index) = (entry.rollup, entry.index);
        let expected = self.entries.len() as u64;
        if index != expected {
            return Err(QueueError::Index {
                rollup,
                got: index,
                expected,
            });
        }
        let head = self.entries.last().map_or([0; 32], |e| e.accumulator);
        if prev_accumulator.0 != head {
            return Err(QueueError::PrevAccumulator { rollup, index });
        }
        let acc = accumulate(
            &head,
            rollup,
            index,
            entry.l1_block,
            &keccak256(&entry.tx).0,
        );
        if acc != entry.accumulator {
            return Err(QueueError::Accumulator { rollup, index });
        }
        // Due entries must form a prefix of the queue (the contract's deadlines never decrease).
        let floor = self.entries.last().map_or(0, |e| e.deadline);
        if entry.deadline < floor.max(entry.l1_block) {
            return Err(QueueError::Deadline {
                rollup,
                index,
                deadline: entry.deadline,
            });
        }
        self.entries.push(entry);
        Ok(())
    }

    /// Drops the entries queued after L1 block `number` (an L1 re-org).
    pub fn truncate_after(&mut self, number: u64) {
        let keep = self.entries.partition_point(|e| e.l1_block <= number);
        self.entries.truncate(keep);
    }

    /// Drops every entry.
    pub fn truncate_after_none(&mut self) {
        self.entries.clear();
    }

    /// Number of entries queued in L1 blocks up to `number`.
    pub fn known_at(&self, number: u64) -> u64 {
        self.entries.partition_point(|e| e.l1_block <= number) as u64
    }

    /// Number of entries due at L1 block `number` (`deadline <= number`): always a prefix.
    pub fn due_at(&self, number: u64) -> u64 {
        self.entries.partition_point(|e| e.deadline <= number) as u64
    }

    /// Entries `[from, to)`.
    pub fn range(&self, from: u64, to: u64) -> &[ForcedEntry] {
        let len = self.entries.len();
        let to = (to as usize).min(len);
        &self.entries[(from as usize).min(to)..to]
    }

    pub fn len(&self) -> u64 {
        self.entries.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(queue: &ForcedQueue, l1_block: u64, delay: u64, tx: &'static [u8]) -> QueuedLog {
        queue.next_log(901, l1_block, delay, Bytes::from_static(tx))
    }

    #[test]
    fn accumulator_matches_solidity_abi_encoding() {
        // keccak256(abi.encode(bytes32(0), uint256(901), uint256(0), uint256(7), keccak256(hex"01")))
        // computed independently with `cast keccak $(cast abi-encode ...)`.
        let tx_hash = keccak256([1u8]).0;
        let mut words = Vec::new();
        words.extend_from_slice(&[0u8; 32]);
        for n in [901u64, 0, 7] {
            let mut w = [0u8; 32];
            w[24..].copy_from_slice(&n.to_be_bytes());
            words.extend_from_slice(&w);
        }
        words.extend_from_slice(&tx_hash);
        assert_eq!(
            accumulate(&[0; 32], 901, 0, 7, &tx_hash),
            keccak256(&words).0
        );
    }

    #[test]
    fn chain_is_checked() {
        let mut q = ForcedQueue::default();
        let first = log(&q, 10, 5, b"a");
        q.push(first.clone()).unwrap();

        // replaying index 0 again, skipping an index, or a wrong previous accumulator all fail
        assert!(matches!(q.push(first), Err(QueueError::Index { .. })));
        let second = log(&q, 11, 5, b"b");
        let mut wrong_prev = second.clone();
        wrong_prev.prev_accumulator = B256::ZERO;
        assert_eq!(
            q.push(wrong_prev),
            Err(QueueError::PrevAccumulator {
                rollup: 901,
                index: 1
            })
        );
        // the same accumulator with other bytes is refused
        let mut other_bytes = second.clone();
        other_bytes.entry.tx = Bytes::from_static(b"c");
        assert_eq!(
            q.push(other_bytes),
            Err(QueueError::Accumulator {
                rollup: 901,
                index: 1
            })
        );
        q.push(second).unwrap();
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn known_due_and_reorg() {
        let mut q = ForcedQueue::default();
        for (block, tx) in [(10, &b"a"[..]), (10, b"b"), (12, b"c")] {
            q.push(log(&q, block, 5, tx)).unwrap();
        }
        assert_eq!((q.known_at(9), q.known_at(10), q.known_at(12)), (0, 2, 3));
        assert_eq!((q.due_at(14), q.due_at(15), q.due_at(17)), (0, 2, 3));
        assert_eq!(q.range(1, 9).len(), 2);
        q.truncate_after(11);
        assert_eq!(q.len(), 2);
    }
}
