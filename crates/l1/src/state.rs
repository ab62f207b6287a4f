//! What a validator knows of L1: the confirmed chain (number -> hash) and every registered
//! rollup's forced-inclusion queue. The follower writes it; consensus reads it.

use crate::queue::{ForcedQueue, QueueError, QueuedLog};
use ordo_types::{L1Ref, RollupId};
use ordo_watch::Watch;
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, MutexGuard},
};

/// Why a confirmed block could not be appended.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AppendError {
    #[error("L1 block {got} does not follow the confirmed head {head:?}")]
    NotNext { got: u64, head: Option<u64> },
    #[error("L1 block {0}'s parent is not the confirmed block before it (re-org)")]
    Reorg(u64),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

#[derive(Default)]
struct Inner {
    /// Confirmed blocks from the start block on.
    blocks: BTreeMap<u64, [u8; 32]>,
    queues: BTreeMap<RollupId, ForcedQueue>,
}

/// Shared, cheaply cloned view of the confirmed L1 chain and the forced queues.
#[derive(Clone)]
pub struct L1State {
    inner: Arc<Mutex<Inner>>,
    /// A watch whose waiters wake in a fixed order (several verifications may wait for one
    /// block; the deterministic simulation replays only if they wake the same way each run).
    head: Watch<Option<L1Ref>>,
}

impl L1State {
    /// An empty view that tracks the queues of `rollups` (entries for other rollups are ignored).
    pub fn new(rollups: impl IntoIterator<Item = RollupId>) -> Self {
        let inner = Inner {
            blocks: BTreeMap::new(),
            queues: rollups
                .into_iter()
                .map(|r| (r, ForcedQueue::default()))
                .collect(),
        };
        Self {
            inner: Arc::new(Mutex::new(inner)),
            head: Watch::new(None),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated (every update is
        // checked before it mutates), so a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The newest confirmed block.
    pub fn head(&self) -> Option<L1Ref> {
        self.head.read(|head| *head)
    }

    /// The confirmed block at `number`, if this node has it.
    pub fn hash_at(&self, number: u64) -> Option<[u8; 32]> {
        self.lock().blocks.get(&number).copied()
    }

    /// Resolves once the confirmed head reaches `number`.
    pub async fn wait_for(&self, number: u64) {
        self.head
            .wait_until(|head| head.is_some_and(|h| h.number >= number))
            .await;
    }

    /// Appends the next confirmed block and its inbox logs, all or nothing.
    pub fn append(
        &self,
        number: u64,
        hash: [u8; 32],
        parent: [u8; 32],
        logs: Vec<QueuedLog>,
    ) -> Result<(), AppendError> {
        let mut inner = self.lock();
        let head = inner.blocks.last_key_value().map(|(n, h)| (*n, *h));
        match head {
            Some((n, _)) if number != n + 1 => {
                return Err(AppendError::NotNext {
                    got: number,
                    head: Some(n),
                })
            }
            Some((_, h)) if h != parent => return Err(AppendError::Reorg(number)),
            _ => {}
        }
        // Check every log against a copy first, so a bad one leaves the state untouched.
        let mut changed: BTreeMap<RollupId, ForcedQueue> = BTreeMap::new();
        for log in logs {
            let rollup = log.entry.rollup;
            let Some(queue) = inner.queues.get(&rollup) else {
                continue;
            };
            let queue = changed.entry(rollup).or_insert_with(|| queue.clone());
            queue.push(log)?;
        }
        inner.queues.extend(changed);
        inner.blocks.insert(number, hash);
        drop(inner);
        self.head.set(Some(L1Ref { number, hash }));
        Ok(())
    }

    /// Forgets confirmed blocks above `number` and the entries they queued (a re-org deeper than
    /// the confirmation depth).
    pub fn rewind(&self, number: u64) {
        let mut inner = self.lock();
        inner.blocks.split_off(&(number + 1));
        for queue in inner.queues.values_mut() {
            queue.truncate_after(number);
        }
        let head = inner.blocks.last_key_value().map(|(n, h)| L1Ref {
            number: *n,
            hash: *h,
        });
        drop(inner);
        self.head.set(head);
    }

    /// Forgets every block and entry (a re-org of the start block itself).
    pub fn rewind_all(&self) {
        let mut inner = self.lock();
        inner.blocks.clear();
        for queue in inner.queues.values_mut() {
            queue.truncate_after_none();
        }
        drop(inner);
        self.head.set(None);
    }

    /// Runs `f` on `rollup`'s queue (an empty one for an unknown rollup).
    pub fn with_queue<T>(&self, rollup: RollupId, f: impl FnOnce(&ForcedQueue) -> T) -> T {
        let inner = self.lock();
        match inner.queues.get(&rollup) {
            Some(q) => f(q),
            None => f(&ForcedQueue::default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn log(state: &L1State, rollup: RollupId, l1_block: u64, tx: &'static [u8]) -> QueuedLog {
        state.with_queue(rollup, |q| {
            q.next_log(rollup, l1_block, 5, Bytes::from_static(tx))
        })
    }

    #[test]
    fn appends_in_order_and_rewinds() {
        let state = L1State::new([901]);
        state.append(1, [1; 32], [0; 32], vec![]).unwrap();
        assert_eq!(
            state.append(3, [3; 32], [1; 32], vec![]),
            Err(AppendError::NotNext {
                got: 3,
                head: Some(1)
            })
        );
        assert_eq!(
            state.append(2, [2; 32], [9; 32], vec![]),
            Err(AppendError::Reorg(2))
        );
        let entry = log(&state, 901, 2, b"x");
        let other = log(&state, 555, 2, b"y"); // unregistered rollup: ignored
        state
            .append(2, [2; 32], [1; 32], vec![entry, other])
            .unwrap();
        assert_eq!(
            state.head(),
            Some(L1Ref {
                number: 2,
                hash: [2; 32]
            })
        );
        assert_eq!(state.with_queue(901, |q| q.len()), 1);

        state.rewind(1);
        assert_eq!(state.head().map(|h| h.number), Some(1));
        assert_eq!(state.hash_at(2), None);
        assert_eq!(state.with_queue(901, |q| q.len()), 0);
    }

    #[test]
    fn a_bad_log_changes_nothing() {
        let state = L1State::new([901]);
        let good = log(&state, 901, 1, b"x");
        let mut bad = good.clone();
        bad.entry.index = 1;
        assert!(state.append(1, [1; 32], [0; 32], vec![good, bad]).is_err());
        assert_eq!(state.head(), None);
        assert_eq!(state.with_queue(901, |q| q.len()), 0);
    }
}
