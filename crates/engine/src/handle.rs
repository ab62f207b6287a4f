//! What the rest of the node (RPC, tests) sees of a running engine: the mempool, the durable
//! index, the preconfirmations not yet final, and a stream of certified blocks.

use crate::liveness::Liveness;
use ordo_mempool::Mempool;
use ordo_store::Store;
use ordo_types::{
    Block, Certificate, Digest, Header, Receipt, RollupBatch, RollupId, RollupSpec, TxHash,
    TxHashMap,
};
use std::{
    collections::{hash_map::Entry, BTreeMap, HashMap},
    sync::{Arc, RwLock},
};
use tokio::sync::broadcast;

/// A block and the certificate that certifies it: its own, or the finalization of the last of
/// `descendants` (see [`Receipt`]).
#[derive(Clone, Debug)]
pub struct Certified {
    pub block: Arc<Block>,
    pub descendants: Vec<Header>,
    pub certificate: Certificate,
}

impl Certified {
    /// Certified by its own certificate.
    pub fn new(block: Arc<Block>, certificate: Certificate) -> Self {
        Self {
            block,
            descendants: Vec::new(),
            certificate,
        }
    }

    /// Receipt of the transaction at `(batch position, index)`.
    pub fn receipt(&self, position: usize, index: usize) -> Option<Receipt> {
        let mut receipt = self.block.receipt(position, index, &self.certificate)?;
        receipt.descendants = self.descendants.clone();
        Some(receipt)
    }

    /// The batch of `rollup` with its proof.
    pub fn rollup_batch(&self, rollup: RollupId) -> Option<RollupBatch> {
        let mut batch = self.block.rollup_batch(rollup, &self.certificate)?;
        batch.descendants = self.descendants.clone();
        Some(batch)
    }
}

/// Something consensus certified, in the order it happened.
#[derive(Clone, Debug)]
pub enum Event {
    /// A block was notarized (preconfirmed). Not yet final.
    Notarized(Certified),
    /// A block was finalized and durably indexed.
    Finalized(Certified),
}

impl Event {
    /// The certified block, whichever certificate it carries.
    pub fn certified(&self) -> &Certified {
        match self {
            Self::Notarized(c) | Self::Finalized(c) => c,
        }
    }
}

/// Where a transaction is in a certified block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub digest: Digest,
    pub batch: usize,
    pub index: usize,
}

/// Notarized blocks above the last indexed finalized height, and where their transactions are.
#[derive(Default)]
pub struct Preconfirmations {
    pub(crate) blocks: HashMap<Digest, Certified>,
    pub(crate) by_height: BTreeMap<u64, Vec<Digest>>,
    pub(crate) txs: TxHashMap<Position>,
}

impl Preconfirmations {
    /// The receipt of a preconfirmed transaction, if any notarized block holds it.
    pub fn receipt(&self, hash: &TxHash) -> Option<Receipt> {
        let pos = self.txs.get(hash)?;
        self.blocks.get(&pos.digest)?.receipt(pos.batch, pos.index)
    }

    /// The notarized block at `height`, if exactly one is known.
    pub fn at_height(&self, height: u64) -> Option<&Certified> {
        match self.by_height.get(&height)?.as_slice() {
            [digest] => self.blocks.get(digest),
            _ => None,
        }
    }

    pub(crate) fn insert(&mut self, certified: Certified) {
        let digest = certified.block.digest();
        if self.blocks.contains_key(&digest) {
            return;
        }
        for (batch, hashes) in certified.block.tx_hashes().iter().enumerate() {
            for (index, hash) in hashes.iter().enumerate() {
                self.txs.insert(
                    *hash,
                    Position {
                        digest,
                        batch,
                        index,
                    },
                );
            }
        }
        self.by_height
            .entry(certified.block.height())
            .or_default()
            .push(digest);
        self.blocks.insert(digest, certified);
    }

    /// Forgets every block at or below `height` (now served from the durable index).
    pub(crate) fn prune_through(&mut self, height: u64) {
        let keep = self.by_height.split_off(&(height + 1));
        let dropped = std::mem::replace(&mut self.by_height, keep);
        for digest in dropped.into_values().flatten() {
            if let Some(c) = self.blocks.remove(&digest) {
                for hash in c.block.tx_hashes().iter().flatten() {
                    // One probe: the map holds every preconfirmed transaction.
                    if let Entry::Occupied(position) = self.txs.entry(*hash) {
                        if position.get().digest == digest {
                            position.remove();
                        }
                    }
                }
            }
        }
    }
}

/// Live view of the consensus engine, shared with the RPC server.
#[derive(Clone)]
pub struct Handle {
    pub mempool: Mempool,
    pub store: Store,
    pub rollups: Arc<Vec<RollupSpec>>,
    pub preconfirmations: Arc<RwLock<Preconfirmations>>,
    pub events: broadcast::Sender<Event>,
    pub status: Arc<RwLock<Status>>,
    /// This node's view of L1 (`None` on a network without an L1 inbox).
    pub l1: Option<ordo_l1::L1State>,
    /// Validators' votes and preconfirmation latency as this node sees them.
    pub liveness: Arc<Liveness>,
}

/// Heights and views a node reports in `ordo_status` and `/health`.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Status {
    pub notarized_height: u64,
    pub notarized_view: u64,
    pub finalized_height: u64,
    pub finalized_view: u64,
    /// ed25519 key (hex) of the leader of the newest notarized block.
    pub notarized_leader: String,
    /// Unix ms of the last finalized block indexed (0 before the first).
    pub last_finalized_at_ms: u64,
    /// Digest of the height-0 block, which names the chain.
    pub genesis_digest: String,
    /// The network's 96-byte BLS group key (0x-hex), as this node's genesis names it.
    pub group_key: String,
    /// The runtime that runs consensus, p2p and consensus storage (`io_uring` or `tokio`).
    pub runtime: String,
}

impl Handle {
    /// Subscribe to certified blocks from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// The rollup's registration, if registered.
    pub fn rollup(&self, id: RollupId) -> Option<&RollupSpec> {
        self.rollups.iter().find(|r| r.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use ordo_types::{tx_hash, Batch, CertificateKind, L1Ref};

    /// A notarized block at `height` (view `view`) carrying `txs` for rollup 901.
    fn notarized(height: u64, view: u64, txs: &[&[u8]]) -> Certified {
        let mut header = Block::genesis(0, L1Ref::default(), &[901]).header;
        header.height = height;
        header.view = view;
        let txs = txs.iter().map(|t| Bytes::copy_from_slice(t)).collect();
        let block = Arc::new(Block::new(header, vec![Batch::new(901, txs)]));
        let certificate = Certificate {
            kind: CertificateKind::Notarization,
            epoch: 0,
            view,
            parent_view: view - 1,
            payload: block.digest(),
            signature: [0; 48],
        };
        Certified::new(block, certificate)
    }

    #[test]
    fn pruning_a_height_forgets_its_transactions_but_not_those_a_higher_block_holds() {
        let mut preconfirmed = Preconfirmations::default();
        let low = notarized(1, 1, &[b"only low", b"both"]);
        let high = notarized(2, 2, &[b"both", b"only high"]);
        preconfirmed.insert(low);
        preconfirmed.insert(high.clone());
        let height_of =
            |p: &Preconfirmations, tx: &[u8]| p.receipt(&tx_hash(tx)).map(|r| r.header.height);
        assert_eq!(height_of(&preconfirmed, b"only low"), Some(1));
        assert_eq!(
            height_of(&preconfirmed, b"both"),
            Some(2),
            "the newest holder"
        );

        preconfirmed.prune_through(1);
        assert_eq!(height_of(&preconfirmed, b"only low"), None);
        assert_eq!(height_of(&preconfirmed, b"both"), Some(2));
        assert_eq!(height_of(&preconfirmed, b"only high"), Some(2));
        assert!(preconfirmed.at_height(1).is_none());
        assert_eq!(
            preconfirmed.at_height(2).map(|c| c.block.digest()),
            Some(high.block.digest())
        );

        preconfirmed.prune_through(2);
        assert!(preconfirmed.txs.is_empty() && preconfirmed.blocks.is_empty());
    }
}
