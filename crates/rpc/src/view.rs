//! JSON shapes of what the API returns (the hex parameter types it accepts live in
//! `ordo-rpc-params`).
//!
//! Every view carries `encoded`: the canonical commonware-codec bytes of the underlying
//! `ordo_types` value. The JSON fields are for humans and dashboards; a client that must trust
//! the answer decodes `encoded` and checks it with `ordo_light` and the group key alone.

use commonware_codec::Encode;
use ordo_engine::Certified;
pub use ordo_rpc_params::{Hash32, HexBytes};
use ordo_types::{
    Block, Certificate, CertificateKind, Header, L1Ref, Receipt, RollupBatch, TxHash,
};
use serde::{Deserialize, Serialize};

/// `0x`-prefixed lowercase hex.
pub fn hex0x(bytes: impl AsRef<[u8]>) -> String {
    hex::encode_prefixed(bytes)
}

/// How final something is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Finality {
    Pending,
    Notarized,
    Finalized,
    Rejected,
    Unknown,
}

impl From<CertificateKind> for Finality {
    fn from(kind: CertificateKind) -> Self {
        match kind {
            CertificateKind::Notarization => Self::Notarized,
            CertificateKind::Finalization => Self::Finalized,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateView {
    /// `notarization` (the preconfirmation) or `finalization`.
    pub kind: &'static str,
    pub epoch: u64,
    pub view: u64,
    pub parent_view: u64,
    /// The certified block digest.
    pub payload: String,
    /// 48-byte BLS12-381 G1 threshold signature.
    pub signature: String,
}

impl From<&Certificate> for CertificateView {
    fn from(c: &Certificate) -> Self {
        Self {
            kind: match c.kind {
                CertificateKind::Notarization => "notarization",
                CertificateKind::Finalization => "finalization",
            },
            epoch: c.epoch,
            view: c.view,
            parent_view: c.parent_view,
            payload: hex0x(c.payload.0),
            signature: hex0x(c.signature),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct L1RefView {
    pub number: u64,
    pub hash: String,
}

impl From<&L1Ref> for L1RefView {
    fn from(r: &L1Ref) -> Self {
        Self {
            number: r.number,
            hash: hex0x(r.hash),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ForcedCursorView {
    pub rollup: u64,
    pub next_index: u64,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeaderView {
    pub digest: String,
    pub epoch: u64,
    pub view: u64,
    pub parent_view: u64,
    pub leader: String,
    pub parent: String,
    pub height: u64,
    pub timestamp_ms: u64,
    pub l1: L1RefView,
    pub forced: Vec<ForcedCursorView>,
    pub batches_root: String,
}

impl From<&Header> for HeaderView {
    fn from(h: &Header) -> Self {
        Self {
            digest: hex0x(h.digest().0),
            epoch: h.epoch,
            view: h.view,
            parent_view: h.parent_view,
            leader: hex0x(h.leader.encode()),
            parent: hex0x(h.parent.0),
            height: h.height,
            timestamp_ms: h.timestamp_ms,
            l1: (&h.l1).into(),
            forced: h
                .forced
                .iter()
                .map(|c| ForcedCursorView {
                    rollup: c.rollup,
                    next_index: c.next_index,
                })
                .collect(),
            batches_root: hex0x(h.batches_root),
        }
    }
}

/// A transaction's receipt: where it is and the certificate that orders it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptView {
    pub tx_hash: String,
    pub rollup: u64,
    pub height: u64,
    pub epoch: u64,
    pub view: u64,
    /// Position of the transaction in its rollup's batch.
    pub index: u32,
    /// Whether it came from the L1 forced-inclusion inbox.
    pub forced: bool,
    pub block_digest: String,
    pub timestamp_ms: u64,
    pub header: HeaderView,
    /// Headers from the next height up to the one `certificate` finalizes, when the block has
    /// no certificate of its own (finalized through a descendant); usually empty.
    pub descendants: Vec<HeaderView>,
    pub certificate: CertificateView,
    /// commonware-codec bytes of `ordo_types::Receipt` (decode with `max_rollups` as config).
    pub encoded: String,
}

impl From<&Receipt> for ReceiptView {
    fn from(r: &Receipt) -> Self {
        Self {
            tx_hash: hex0x(r.tx_hash),
            rollup: r.rollup,
            height: r.height(),
            epoch: r.header.epoch,
            view: r.header.view,
            index: r.index(),
            forced: r.forced(),
            block_digest: hex0x(r.header.digest().0),
            timestamp_ms: r.header.timestamp_ms,
            header: (&r.header).into(),
            descendants: r.descendants.iter().map(HeaderView::from).collect(),
            certificate: (&r.certificate).into(),
            encoded: hex0x(r.encode()),
        }
    }
}

/// Answer of `ordo_getReceipt`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptStatus {
    pub status: Finality,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<ReceiptView>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchSummary {
    pub rollup: u64,
    pub tx_count: usize,
    pub tx_bytes: usize,
    pub batch_root: String,
    pub tx_hashes: Vec<String>,
}

/// Answer of `ordo_getBlock`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockView {
    pub status: Finality,
    pub height: u64,
    pub digest: String,
    pub tx_count: usize,
    pub header: HeaderView,
    /// See [`ReceiptView::descendants`].
    pub descendants: Vec<HeaderView>,
    pub certificate: CertificateView,
    pub batches: Vec<BatchSummary>,
    /// commonware-codec bytes of `ordo_types::Block`.
    pub encoded: String,
}

impl BlockView {
    pub fn new(block: &Block, descendants: &[Header], certificate: &Certificate) -> Self {
        Self {
            status: certificate.kind.into(),
            height: block.height(),
            digest: hex0x(block.digest().0),
            tx_count: block.tx_count(),
            header: (&block.header).into(),
            descendants: descendants.iter().map(HeaderView::from).collect(),
            certificate: certificate.into(),
            batches: block
                .batches
                .iter()
                .zip(block.tx_hashes())
                .map(|(batch, hashes)| BatchSummary {
                    rollup: batch.rollup,
                    tx_count: hashes.len(),
                    tx_bytes: batch.tx_bytes(),
                    batch_root: hex0x(ordo_types::merkle::root(hashes)),
                    tx_hashes: hashes.iter().map(hex0x).collect(),
                })
                .collect(),
            encoded: hex0x(block.encode()),
        }
    }
}

/// Answer of `ordo_getRollupBatch` and notification of `ordo_subscribeRollupBatches`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RollupBatchView {
    pub rollup: u64,
    pub height: u64,
    pub status: Finality,
    pub block_digest: String,
    pub timestamp_ms: u64,
    pub txs: Vec<String>,
    pub tx_hashes: Vec<String>,
    /// How many of the first `txs` came from the forced-inclusion inbox.
    pub forced: u32,
    pub header: HeaderView,
    /// See [`ReceiptView::descendants`].
    pub descendants: Vec<HeaderView>,
    pub certificate: CertificateView,
    /// commonware-codec bytes of `ordo_types::RollupBatch` (decode with `BlockLimits`).
    pub encoded: String,
}

impl From<&RollupBatch> for RollupBatchView {
    fn from(b: &RollupBatch) -> Self {
        Self {
            rollup: b.rollup,
            height: b.header.height,
            status: b.certificate.kind.into(),
            block_digest: hex0x(b.header.digest().0),
            timestamp_ms: b.header.timestamp_ms,
            txs: b.txs.iter().map(hex0x).collect(),
            tx_hashes: b
                .txs
                .iter()
                .map(|t| hex0x(ordo_types::tx_hash(t)))
                .collect(),
            forced: b.forced,
            header: (&b.header).into(),
            descendants: b.descendants.iter().map(HeaderView::from).collect(),
            certificate: (&b.certificate).into(),
            encoded: hex0x(b.encode()),
        }
    }
}

/// An `ordo_subscribeReceipts` notification: one certified block and, in block order, those of
/// its transactions the subscription asked for. What the block's transactions share is sent
/// once, not with each of them (at saturation, repeating it made up half of what the node
/// serialized and the subscriber parsed). Light on purpose (no proofs): fetch a full receipt
/// with `ordo_getReceipt`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptNotification {
    pub status: Finality,
    pub height: u64,
    pub epoch: u64,
    pub view: u64,
    pub block_digest: String,
    pub timestamp_ms: u64,
    pub txs: Vec<NotifiedTx>,
}

/// One transaction of a [`ReceiptNotification`]: its hash and its place in the block.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotifiedTx {
    pub tx_hash: String,
    pub rollup: u64,
    /// Position in its rollup's batch.
    pub index: usize,
}

impl ReceiptNotification {
    /// The notification of `certified` for the transactions `wanted` accepts; None if it
    /// accepts none (nothing is sent).
    pub fn for_block(certified: &Certified, wanted: impl Fn(&TxHash) -> bool) -> Option<Self> {
        let block = &certified.block;
        let txs: Vec<NotifiedTx> = block
            .batches
            .iter()
            .zip(block.tx_hashes())
            .flat_map(|(batch, hashes)| {
                hashes
                    .iter()
                    .enumerate()
                    .map(move |(index, hash)| (batch.rollup, index, hash))
            })
            .filter(|(_, _, hash)| wanted(hash))
            .map(|(rollup, index, hash)| NotifiedTx {
                tx_hash: hex0x(hash),
                rollup,
                index,
            })
            .collect();
        (!txs.is_empty()).then(|| Self {
            status: Finality::from(certified.certificate.kind),
            height: block.height(),
            epoch: block.header.epoch,
            view: block.header.view,
            block_digest: hex0x(block.digest().0),
            timestamp_ms: block.header.timestamp_ms,
            txs,
        })
    }
}
