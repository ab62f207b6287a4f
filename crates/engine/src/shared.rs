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

/// Recent blocks by digest, and their digests oldest first (for eviction).
type RecentBlocks = (HashMap<Digest, Arc<Block>>, VecDeque<Digest>);

pub(crate) struct Shared {
    pub(crate) mempool: Mempool,
    pub(crate) handle: Handle,
    recent: Mutex<RecentBlocks>,
    /// Last finalized height whose transactions left the mempool, plus one (0 = none yet).
    indexed: AtomicU64,
}

impl Shared {
    pub(crate) fn new(handle: Handle, indexed: Option<u64>) -> Self {
        Self {
            mempool: handle.mempool.clone(),
            handle,
            recent: Mutex::default(),
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
        let mut guard = self.recent.lock().expect("poisoned");
        let (map, order) = &mut *guard;
        if map.insert(block.digest(), block.clone()).is_none() {
            order.push_back(block.digest());
            if order.len() > RECENT_BLOCKS {
                if let Some(old) = order.pop_front() {
                    map.remove(&old);
                }
            }
        }
    }

    pub(crate) fn recent(&self, digest: &Digest) -> Option<Arc<Block>> {
        self.recent.lock().expect("poisoned").0.get(digest).cloned()
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
