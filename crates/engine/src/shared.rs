//! State the application, the certificate reporter and the indexer share.

use crate::handle::{Certified, Event, Handle};
use ordo_mempool::Mempool;
use ordo_types::{Block, Digest};
use std::{
    collections::{HashMap, VecDeque},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};

/// Blocks proposed or verified recently, so a notarization can be matched with its block
/// without asking marshal.
const RECENT_BLOCKS: usize = 1024;

/// Blocks proposed, verified or walked recently, by digest (a digest names exactly one block),
/// evicted oldest first beyond [`RECENT_BLOCKS`].
#[derive(Default)]
pub(crate) struct RecentBlocks(Mutex<Recent>);

#[derive(Default)]
struct Recent {
    by_digest: HashMap<Digest, Arc<Block>>,
    oldest_first: VecDeque<Digest>,
}

impl RecentBlocks {
    pub(crate) fn remember(&self, block: Arc<Block>) {
        let mut recent = self.0.lock().expect("poisoned");
        let digest = block.digest();
        if recent.by_digest.insert(digest, block).is_none() {
            recent.oldest_first.push_back(digest);
            if recent.oldest_first.len() > RECENT_BLOCKS {
                if let Some(old) = recent.oldest_first.pop_front() {
                    recent.by_digest.remove(&old);
                }
            }
        }
    }

    pub(crate) fn get(&self, digest: &Digest) -> Option<Arc<Block>> {
        self.0
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
    /// Last finalized height whose transactions left the mempool, plus one (0 = none yet).
    indexed: AtomicU64,
}

impl Shared {
    pub(crate) fn new(handle: Handle, indexed: Option<u64>) -> Self {
        Self {
            mempool: handle.mempool.clone(),
            handle,
            recent: RecentBlocks::default(),
            indexed: AtomicU64::new(indexed.map_or(0, |h| h + 1)),
        }
    }

    pub(crate) fn indexed_height(&self) -> Option<u64> {
        self.indexed.load(Ordering::Acquire).checked_sub(1)
    }

    pub(crate) fn set_indexed(&self, height: u64) {
        self.indexed.store(height + 1, Ordering::Release);
    }

    pub(crate) fn remember(&self, block: Arc<Block>) {
        self.recent.remember(block);
    }

    pub(crate) fn recent(&self, digest: &Digest) -> Option<Arc<Block>> {
        self.recent.get(digest)
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
        // Measured before the block's transactions leave the mempool (at finalization).
        let hashes: Vec<_> = certified
            .block
            .tx_hashes()
            .iter()
            .flatten()
            .copied()
            .collect();
        self.handle
            .liveness
            .record_latencies(self.mempool.waited_ms(&hashes));
        self.handle
            .preconfirmations
            .write()
            .expect("poisoned")
            .insert(certified.clone());
        self.publish(Event::Notarized(certified));
    }
}
