//! The dedup window: the recent ancestors of a block, whose transactions it may not repeat.
//!
//! A verifier needs the transaction hashes of up to `dedup_window` ancestors for every block it
//! votes on. Walking marshal's ancestry for them costs one round trip to marshal (and, past its
//! memory, a read and re-hash of the block from disk) per ancestor, on the path to the vote.
//! The ancestors are almost always blocks this node proposed or verified moments ago, so the
//! window is first gathered from that cache by parent digest; marshal's ancestry is walked only
//! when the cache lacks one of them (after a restart, or for blocks learned by backfill). Both
//! paths yield the same blocks, since a digest names exactly one block.

use crate::shared::Shared;
use commonware_consensus::marshal::ancestry::Ancestry;
use futures::StreamExt;
use ordo_types::{Block, TxHash, TxHashSet};
use std::sync::{Arc, OnceLock};

/// Up to `dedup_window` consecutive ancestors of a block, newest first.
pub(crate) struct Window {
    blocks: Vec<Arc<Block>>,
    set: OnceLock<TxHashSet>,
}

impl Window {
    /// `parent` and up to `depth` of its ancestors (`older` yields them from the grandparent
    /// on), stopping before genesis and before any block at or below `floor`.
    pub(crate) async fn gather(
        shared: &Shared,
        parent: Arc<Block>,
        older: impl Ancestry<Block>,
        depth: u64,
        floor: Option<u64>,
    ) -> Self {
        let keep = |b: &Block| b.height() != 0 && floor.is_none_or(|f| b.height() > f);
        if !keep(&parent) {
            return Self::from_blocks(Vec::new());
        }
        let mut digest = parent.header.parent;
        let mut blocks = vec![parent];
        for _ in 0..depth {
            let Some(block) = shared.recent(&digest) else {
                // Not cached: marshal's ancestry has it (from the grandparent on).
                blocks.truncate(1);
                blocks.extend(Self::walk(older, depth, keep).await);
                break;
            };
            if !keep(&block) {
                break;
            }
            digest = block.header.parent;
            blocks.push(block);
        }
        Self::from_blocks(blocks)
    }

    async fn walk(
        mut ancestry: impl Ancestry<Block>,
        depth: u64,
        keep: impl Fn(&Block) -> bool,
    ) -> Vec<Arc<Block>> {
        let mut blocks = Vec::new();
        for _ in 0..depth {
            let Some(block) = ancestry.next().await else {
                break;
            };
            if !keep(block.inner()) {
                break;
            }
            blocks.push(block.inner_shared());
        }
        blocks
    }

    fn from_blocks(blocks: Vec<Arc<Block>>) -> Self {
        Self {
            blocks,
            set: OnceLock::new(),
        }
    }

    /// Every transaction hash in the window (built on first use).
    pub(crate) fn hashes(&self) -> &TxHashSet {
        self.set.get_or_init(|| {
            self.blocks
                .iter()
                .flat_map(|b| b.tx_hashes().iter().flatten().copied())
                .collect()
        })
    }

    /// A transaction of `block` that the window already holds, found without building the
    /// window's hash set (the block is usually much smaller than the window).
    pub(crate) fn first_repeat(&self, block: &Block) -> Option<TxHash> {
        if let Some(set) = self.set.get() {
            return block
                .tx_hashes()
                .iter()
                .flatten()
                .find(|h| set.contains(*h))
                .copied();
        }
        let ours: TxHashSet = block.tx_hashes().iter().flatten().copied().collect();
        if ours.is_empty() {
            return None;
        }
        self.blocks
            .iter()
            .flat_map(|b| b.tx_hashes().iter().flatten())
            .find(|h| ours.contains(*h))
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use ordo_types::{tx_hash, Batch, L1Ref};

    fn on_top(parent: &Block, txs: &[&'static [u8]]) -> Arc<Block> {
        let mut header = parent.header.clone();
        header.height += 1;
        header.parent = parent.digest();
        let txs = txs.iter().map(|t| Bytes::from_static(t)).collect();
        Arc::new(Block::new(header, vec![Batch::new(901, txs)]))
    }

    #[test]
    fn finds_a_repeat_with_or_without_the_set() {
        let genesis = Block::genesis(0, L1Ref::default(), &[901]);
        let a = on_top(&genesis, &[b"one", b"two"]);
        let b = on_top(&a, &[b"three"]);
        let window = Window::from_blocks(vec![b.clone(), a.clone()]);
        let repeat = on_top(&b, &[b"four", b"two"]);
        let fresh = on_top(&b, &[b"four", b"five"]);
        for _ in 0..2 {
            // First by scanning the window, then (once `hashes` built it) through the set.
            assert_eq!(window.first_repeat(&repeat), Some(tx_hash(b"two")));
            assert_eq!(window.first_repeat(&fresh), None);
            assert_eq!(window.hashes().len(), 3);
        }
        assert_eq!(Window::from_blocks(Vec::new()).first_repeat(&repeat), None);
    }
}
