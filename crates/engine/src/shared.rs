//! State the application, the certificate reporter and the indexer share.

use crate::{
    handle::{Certified, Event, Handle},
    window::WindowIndex,
};
use commonware_codec::EncodeSize as _;
use commonware_utils::channel::watch;
use ordo_mempool::Mempool;
use ordo_types::{Block, Digest, PublicKey, TxHash};
use ordo_watch::Watch;
use std::{
    collections::{HashMap, VecDeque},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};

/// Most blocks the recent-block cache holds, so a notarization can be matched with its block
/// without asking marshal and a dedup window is found without walking marshal's ancestry.
const RECENT_BLOCKS: usize = 1024;
/// Most bytes of blocks it holds: full blocks are ~1.5 MB, so 1,024 of them would be ~1.5 GB per
/// validator after a few minutes at saturation. 256 MiB still holds ~170 full blocks, above the
/// default 64-block dedup window (a larger window walks marshal for what is evicted).
const RECENT_BYTES: usize = 256 << 20;

/// Blocks proposed, verified or walked recently, by digest (a digest names exactly one block),
/// evicted oldest first beyond a count and a byte budget.
pub(crate) struct RecentBlocks {
    max_blocks: usize,
    max_bytes: usize,
    inner: Mutex<Recent>,
}

#[derive(Default)]
struct Recent {
    by_digest: HashMap<Digest, Arc<Block>>,
    oldest_first: VecDeque<(Digest, usize)>,
    bytes: usize,
}

impl Default for RecentBlocks {
    fn default() -> Self {
        Self::with_limits(RECENT_BLOCKS, RECENT_BYTES)
    }
}

impl RecentBlocks {
    fn with_limits(max_blocks: usize, max_bytes: usize) -> Self {
        Self {
            max_blocks,
            max_bytes,
            inner: Mutex::default(),
        }
    }

    pub(crate) fn remember(&self, block: Arc<Block>) {
        let mut recent = self.inner.lock().expect("poisoned");
        let digest = block.digest();
        let size = block.encode_size();
        if recent.by_digest.insert(digest, block).is_none() {
            recent.oldest_first.push_back((digest, size));
            recent.bytes += size;
            // The newest block stays even if it alone is over the budget.
            while recent.oldest_first.len() > 1
                && (recent.oldest_first.len() > self.max_blocks || recent.bytes > self.max_bytes)
            {
                let Some((old, size)) = recent.oldest_first.pop_front() else {
                    break;
                };
                recent.by_digest.remove(&old);
                recent.bytes -= size;
            }
        }
    }

    pub(crate) fn get(&self, digest: &Digest) -> Option<Arc<Block>> {
        self.inner
            .lock()
            .expect("poisoned")
            .by_digest
            .get(digest)
            .cloned()
    }
}

pub(crate) struct Shared {
    pub(crate) mempool: Mempool,
    pub(crate) handle: Handle,
    pub(crate) recent: RecentBlocks,
    /// The dedup window verification last checked (`verify` only: a proposal's window stops at
    /// the finalized height, and moving the index there and back would rebuild it).
    pub(crate) verified_window: Mutex<WindowIndex>,
    /// Last finalized height whose transactions left the mempool, plus one (0 = none yet).
    indexed: AtomicU64,
    /// The newest view this node saw proposed (its own proposal or one it verified) and who
    /// leads it: where the relay sends local transactions.
    pub(crate) leader: NewestLeader,
    /// The newest view this node saw notarized or finalized (the consensus reporter sets it).
    pub(crate) notarized: Watch<u64>,
    /// The newest view whose block this node passed on: broadcast its own proposal, or verified
    /// the leader's (what the finalization pacer waits for).
    pub(crate) handed_off: Watch<u64>,
}

/// Raises `newest` to `view` (waking its waiters) unless it is already there.
pub(crate) fn raise(newest: &Watch<u64>, view: u64) {
    newest.update(|seen| {
        let newer = *seen < view;
        if newer {
            *seen = view;
        }
        newer
    });
}

/// The newest view seen proposed and who leads it (none before the first).
pub(crate) type NewestLeader = watch::Sender<Option<(u64, PublicKey)>>;

/// Notes that `leader` proposed in `view`. Watchers hear of a different leader in a newer view
/// only.
pub(crate) fn note_leader(newest: &NewestLeader, view: u64, leader: &PublicKey) {
    newest.send_if_modified(|seen| match seen {
        Some((at, _)) if *at >= view => false,
        Some((at, known)) if known == leader => {
            *at = view;
            false
        }
        _ => {
            *seen = Some((view, leader.clone()));
            true
        }
    });
}

impl Shared {
    pub(crate) fn new(handle: Handle, indexed: Option<u64>) -> Self {
        Self {
            mempool: handle.mempool.clone(),
            handle,
            recent: RecentBlocks::default(),
            verified_window: Mutex::default(),
            indexed: AtomicU64::new(indexed.map_or(0, |h| h + 1)),
            leader: NewestLeader::new(None),
            notarized: Watch::default(),
            handed_off: Watch::default(),
        }
    }

    pub(crate) fn indexed_height(&self) -> Option<u64> {
        self.indexed.load(Ordering::Acquire).checked_sub(1)
    }

    pub(crate) fn set_indexed(&self, height: u64) {
        self.indexed.store(height + 1, Ordering::Release);
    }

    /// Publishes a certified block (no subscriber is fine).
    pub(crate) fn publish(&self, event: Event) {
        let _ = self.handle.events.send(event);
    }

    pub(crate) fn preconfirm(&self, certified: Certified) {
        {
            let mut status = self.handle.status.write().expect("poisoned");
            let height = certified.block.height();
            if height > status.notarized_height {
                status.notarized_height = height;
                status.notarized_view = certified.certificate.view;
                status.notarized_leader = hex::encode(commonware_codec::Encode::encode(
                    &certified.block.header.leader,
                ));
            }
        }
        self.handle
            .preconfirmations
            .write()
            .expect("poisoned")
            .insert(certified.clone());
        let hashes = latency_sample(certified.block.tx_hashes());
        self.publish(Event::Notarized(certified));
        // After the notice, which the look-ups (under the mempool's lock) need not delay; still
        // before the block's transactions leave the mempool (at finalization).
        self.handle
            .liveness
            .record_latencies(self.mempool.waited_ms(&hashes));
    }
}

/// Most of a notarized block's transactions whose wait is measured ([`latency_sample`]).
const LATENCY_SAMPLES_PER_BLOCK: usize = 256;

/// An even spread of at most [`LATENCY_SAMPLES_PER_BLOCK`] of a block's transaction hashes: the
/// accepted -> notarized percentiles need a sample, not a mempool look-up for each of a loaded
/// block's thousands of transactions.
fn latency_sample(batches: &[Vec<TxHash>]) -> Vec<TxHash> {
    let count: usize = batches.iter().map(Vec::len).sum();
    let stride = count.div_ceil(LATENCY_SAMPLES_PER_BLOCK).max(1);
    batches.iter().flatten().step_by(stride).copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use ordo_types::{Batch, L1Ref};

    /// A block at `height` carrying one transaction of `bytes` bytes.
    fn block(height: u64, bytes: usize) -> Arc<Block> {
        let mut header = Block::genesis(0, L1Ref::default(), &[901]).header;
        header.height = height;
        let tx = Bytes::from(vec![height as u8; bytes]);
        Arc::new(Block::new(header, vec![Batch::new(901, vec![tx])]))
    }

    #[test]
    fn a_small_block_is_measured_whole_and_a_large_one_evenly_sampled() {
        let hashes = |n: usize, first: usize| -> Vec<TxHash> {
            (first..first + n)
                .map(|i| {
                    let mut hash = [0u8; 32];
                    hash[..8].copy_from_slice(&(i as u64).to_be_bytes());
                    hash
                })
                .collect()
        };
        let small = vec![hashes(3, 0), vec![], hashes(2, 3)];
        assert_eq!(latency_sample(&small), small.concat());

        let large = vec![hashes(400, 0), hashes(400, 400), hashes(200, 800)];
        let sample = latency_sample(&large);
        assert!(sample.len() <= LATENCY_SAMPLES_PER_BLOCK && sample.len() > 200);
        // Every rollup's batch is represented, the last one too.
        let all = large.concat();
        let positions: Vec<_> = sample
            .iter()
            .map(|h| all.iter().position(|a| a == h).unwrap())
            .collect();
        assert!(
            positions.iter().any(|&p| p >= 800),
            "the last batch is sampled"
        );
    }

    #[test]
    fn the_oldest_blocks_leave_beyond_the_count_or_the_bytes() {
        let blocks: Vec<_> = (1..=4).map(|h| block(h, 4_000)).collect();
        let size = blocks[0].encode_size();

        let by_count = RecentBlocks::with_limits(2, usize::MAX);
        let by_bytes = RecentBlocks::with_limits(usize::MAX, 2 * size + size / 2);
        for recent in [&by_count, &by_bytes] {
            for b in &blocks {
                recent.remember(b.clone());
            }
            let held: Vec<bool> = blocks
                .iter()
                .map(|b| recent.get(&b.digest()).is_some())
                .collect();
            assert_eq!(held, [false, false, true, true]);
            // Remembering a held block again changes nothing.
            recent.remember(blocks[3].clone());
            assert!(recent.get(&blocks[2].digest()).is_some());
        }

        // A block over the whole budget is still held, alone.
        let tiny = RecentBlocks::with_limits(usize::MAX, 1);
        tiny.remember(blocks[0].clone());
        tiny.remember(blocks[1].clone());
        assert!(tiny.get(&blocks[0].digest()).is_none());
        assert!(tiny.get(&blocks[1].digest()).is_some());
    }

    /// The relay hears of a leader once per change, and never of an older view's leader.
    #[test]
    fn watchers_hear_of_a_new_leader_in_a_newer_view_only() {
        use commonware_cryptography::{ed25519::PrivateKey, Signer as _};
        let newest = NewestLeader::new(None);
        let [a, b] = [0, 1].map(|seed| PrivateKey::from_seed(seed).public_key());
        let mut watcher = newest.subscribe();

        note_leader(&newest, 10, &a);
        assert!(watcher.has_changed().unwrap());
        assert_eq!(*watcher.borrow_and_update(), Some((10, a.clone())));

        note_leader(&newest, 11, &a);
        assert!(!watcher.has_changed().unwrap(), "the same leader again");
        note_leader(&newest, 9, &b);
        assert!(!watcher.has_changed().unwrap(), "an older view");
        note_leader(&newest, 11, &b);
        assert!(!watcher.has_changed().unwrap(), "a view already seen");

        note_leader(&newest, 12, &b);
        assert_eq!(*watcher.borrow_and_update(), Some((12, b)));
    }
}
