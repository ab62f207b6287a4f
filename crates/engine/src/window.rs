//! The dedup window: the recent ancestors of a block, whose transactions it may not repeat.
//!
//! A verifier needs the transaction hashes of up to `dedup_window` ancestors for every block it
//! votes on. Walking marshal's ancestry for them costs one round trip to marshal (and, past its
//! memory, a read and re-hash of the block from disk) per ancestor, on the path to the vote.
//! The ancestors are almost always blocks this node proposed or verified moments ago, so the
//! window is first gathered from that cache by parent digest; marshal's ancestry is walked only
//! when the cache lacks one of them (after a restart, or for blocks learned by backfill), and
//! what it walks is cached too: otherwise a restarted validator walked ~63 ancestors through
//! marshal for each of its next 64 votes (70-100 ms a verification, measured after a leader
//! kill, where it slowed the new leader's first view). Both paths yield the same blocks, since a
//! digest names exactly one block. The hashes themselves are looked up in a [`WindowIndex`],
//! which follows the window from one verification to the next.

use crate::shared::RecentBlocks;
use commonware_consensus::marshal::ancestry::Ancestry;
use futures::StreamExt;
use ordo_types::{Block, TxHash, TxHashMap, TxHashSet};
use std::{
    collections::{hash_map::Entry, HashSet},
    sync::Arc,
};

/// Up to `dedup_window` consecutive ancestors of a block, newest first.
pub(crate) struct Window {
    blocks: Vec<Arc<Block>>,
}

impl Window {
    /// `parent` and up to `depth` of its ancestors (`older` yields them from the grandparent
    /// on), stopping before genesis and before any block at or below `floor`.
    pub(crate) async fn gather(
        recent: &RecentBlocks,
        parent: Arc<Block>,
        older: impl Ancestry<Block>,
        depth: u64,
        floor: Option<u64>,
    ) -> Self {
        let keep_height = |h: u64| h != 0 && floor.is_none_or(|f| h > f);
        let keep = |b: &Block| keep_height(b.height());
        if !keep(&parent) {
            return Self::from_blocks(Vec::new());
        }
        let mut blocks = vec![parent];
        for _ in 0..depth {
            let last = blocks.last().expect("holds the parent");
            // The next ancestor is genesis or at the floor: the window is complete without it.
            if !keep_height(last.height() - 1) {
                break;
            }
            let Some(block) = recent.get(&last.header.parent) else {
                // Not cached: marshal's ancestry has it (from the grandparent on).
                blocks.truncate(1);
                let walked = Self::walk(older, depth, keep).await;
                for block in &walked {
                    recent.remember(block.clone());
                }
                blocks.extend(walked);
                break;
            };
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
        Self { blocks }
    }

    /// Every transaction hash in the window.
    pub(crate) fn hashes(&self) -> TxHashSet {
        self.blocks
            .iter()
            .flat_map(|b| b.tx_hashes().iter().flatten().copied())
            .collect()
    }
}

/// The transaction hashes of the last window a verifier checked, moved to the next window by
/// the blocks that left and joined it. Consecutive blocks' windows share all but one block, so a
/// verification looks up only its block's hashes, where scanning the window cost the hashes of
/// up to 64 blocks before every vote (~500,000 with full blocks).
#[derive(Default)]
pub(crate) struct WindowIndex {
    /// The window held: the same blocks the recent-block cache holds (it keeps more than a
    /// default window even when they are full), so holding them costs no copy.
    blocks: Vec<Arc<Block>>,
    /// How many of the held blocks carry each hash (a valid window carries each once; counting
    /// keeps a removal exact whatever the blocks were).
    counts: TxHashMap<u32>,
}

impl WindowIndex {
    /// Makes the index hold exactly `window`'s transactions.
    pub(crate) fn hold(&mut self, window: &Window) -> &Self {
        let digests =
            |blocks: &[Arc<Block>]| blocks.iter().map(|b| b.digest()).collect::<HashSet<_>>();
        let (held, wanted) = (digests(&self.blocks), digests(&window.blocks));
        for block in self.blocks.iter().filter(|b| !wanted.contains(&b.digest())) {
            for hash in block.tx_hashes().iter().flatten() {
                if let Entry::Occupied(mut count) = self.counts.entry(*hash) {
                    *count.get_mut() -= 1;
                    if *count.get() == 0 {
                        count.remove();
                    }
                }
            }
        }
        for block in window.blocks.iter().filter(|b| !held.contains(&b.digest())) {
            for hash in block.tx_hashes().iter().flatten() {
                *self.counts.entry(*hash).or_default() += 1;
            }
        }
        self.blocks.clone_from(&window.blocks);
        self
    }

    pub(crate) fn contains(&self, hash: &TxHash) -> bool {
        self.counts.contains_key(hash)
    }

    /// A transaction of `block` that the held window already carries.
    pub(crate) fn first_repeat(&self, block: &Block) -> Option<TxHash> {
        block
            .tx_hashes()
            .iter()
            .flatten()
            .find(|h| self.contains(h))
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use commonware_cryptography::Digested;
    use ordo_types::{tx_hash, Batch, L1Ref};
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn on_top(parent: &Block, txs: &[&'static [u8]]) -> Arc<Block> {
        let mut header = parent.header.clone();
        header.height += 1;
        header.parent = parent.digest();
        let txs = txs.iter().map(|t| Bytes::from_static(t)).collect();
        Arc::new(Block::new(header, vec![Batch::new(901, txs)]))
    }

    /// Marshal's ancestry as a list (grandparent first), counting the blocks it yields.
    #[derive(Clone)]
    struct Listed {
        blocks: std::collections::VecDeque<Digested<Block>>,
        yielded: Arc<AtomicUsize>,
    }

    impl Listed {
        fn new<'a>(blocks: impl IntoIterator<Item = &'a Arc<Block>>) -> Self {
            let blocks = blocks
                .into_iter()
                .map(|b| Digested::precomputed(b.clone(), b.digest()))
                .collect();
            Self {
                blocks,
                yielded: Default::default(),
            }
        }
    }

    impl futures::Stream for Listed {
        type Item = Digested<Block>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            let next = self.blocks.pop_front();
            if next.is_some() {
                self.yielded.fetch_add(1, Ordering::Relaxed);
            }
            std::task::Poll::Ready(next)
        }
    }

    impl Ancestry<Block> for Listed {
        fn peek(&self) -> Option<&Digested<Block>> {
            self.blocks.front()
        }
    }

    #[test]
    fn a_walked_ancestry_serves_the_next_window_from_the_cache() {
        let mut chain = vec![Arc::new(Block::genesis(0, L1Ref::default(), &[901]))];
        for tx in [b"a", b"b", b"c", b"d"] {
            let next = on_top(chain.last().unwrap(), &[tx]);
            chain.push(next);
        }
        let recent = RecentBlocks::default();
        let parent = chain[4].clone();
        // Nothing cached: the grandparent and older come from the ancestry (genesis excluded).
        let marshal = Listed::new(chain[1..4].iter().rev());
        let window = futures::executor::block_on(Window::gather(
            &recent,
            parent.clone(),
            marshal.clone(),
            10,
            None,
        ));
        assert_eq!(window.blocks.len(), 4);
        assert_eq!(marshal.yielded.load(Ordering::Relaxed), 3);
        // The next window over the same ancestors needs nothing from marshal.
        let marshal = Listed::new([]);
        let again =
            futures::executor::block_on(Window::gather(&recent, parent, marshal.clone(), 10, None));
        let digests = |w: &Window| w.blocks.iter().map(|b| b.digest()).collect::<Vec<_>>();
        assert_eq!(digests(&again), digests(&window));
        assert_eq!(marshal.yielded.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn the_index_moves_with_the_window_and_finds_repeats() {
        let genesis = Block::genesis(0, L1Ref::default(), &[901]);
        let a = on_top(&genesis, &[b"one", b"two"]);
        let b = on_top(&a, &[b"three"]);
        let c = on_top(&b, &[b"four"]);
        let fork = on_top(&b, &[b"five"]);
        let mut index = WindowIndex::default();
        let repeat_two = on_top(&b, &[b"six", b"two"]);
        assert_eq!(
            index
                .hold(&Window::from_blocks(vec![b.clone(), a.clone()]))
                .first_repeat(&repeat_two),
            Some(tx_hash(b"two"))
        );
        // Moved by one block: `a` left, `c` joined.
        let index = index.hold(&Window::from_blocks(vec![c.clone(), b.clone()]));
        assert_eq!(index.first_repeat(&repeat_two), None);
        assert!(index.contains(&tx_hash(b"four")) && index.contains(&tx_hash(b"three")));
        assert_eq!(index.counts.len(), 2);
        // A sibling's window (another fork of `b`), then one with nothing in it.
        let mut index = WindowIndex::default();
        index.hold(&Window::from_blocks(vec![c.clone(), b.clone()]));
        let index = index.hold(&Window::from_blocks(vec![fork.clone(), b.clone()]));
        assert!(!index.contains(&tx_hash(b"four")) && index.contains(&tx_hash(b"five")));
        let mut index = WindowIndex::default();
        index.hold(&Window::from_blocks(vec![c, b]));
        let index = index.hold(&Window::from_blocks(Vec::new()));
        assert_eq!(index.counts.len(), 0);
        assert_eq!(index.first_repeat(&repeat_two), None);
    }
}
