use crate::{
    merkle, tx_hash, Certificate, Digest, PublicKey, Receipt, RollupBatch, RollupId, TxHash,
};
use alloc::vec::Vec;
use bytes::{BufMut, Bytes};
use commonware_codec::{
    varint::UInt, Buf, Encode, EncodeSize, Error, FixedSize, RangeCfg, Read, ReadExt, Write,
};
use sha2::{Digest as _, Sha256};

/// Timestamps beyond 2200-01-01 are invalid on every platform.
pub const BLOCK_TIMESTAMP_MAX_MS: u64 = 7_258_118_400_000;

/// An L1 block a header refers to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct L1Ref {
    pub number: u64,
    pub hash: [u8; 32],
}

impl Write for L1Ref {
    fn write(&self, buf: &mut impl BufMut) {
        self.number.write(buf);
        self.hash.write(buf);
    }
}
impl FixedSize for L1Ref {
    const SIZE: usize = 8 + 32;
}
impl Read for L1Ref {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            number: u64::read(buf)?,
            hash: <[u8; 32]>::read(buf)?,
        })
    }
}

/// Next forced-inclusion queue index of a rollup that blocks up to this one have consumed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ForcedCursor {
    pub rollup: RollupId,
    pub next_index: u64,
}

impl Write for ForcedCursor {
    fn write(&self, buf: &mut impl BufMut) {
        self.rollup.write(buf);
        self.next_index.write(buf);
    }
}
impl FixedSize for ForcedCursor {
    const SIZE: usize = 16;
}
impl Read for ForcedCursor {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            rollup: u64::read(buf)?,
            next_index: u64::read(buf)?,
        })
    }
}

/// The signed part of a block. Its sha256 is the block digest that consensus certifies.
///
/// The first four fields are the consensus context the block was proposed in (they make the
/// block self-describing for marshal and let a receipt name its round without extra data).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub epoch: u64,
    pub view: u64,
    pub parent_view: u64,
    pub leader: PublicKey,
    pub parent: Digest,
    pub height: u64,
    pub timestamp_ms: u64,
    pub l1: L1Ref,
    pub forced: Vec<ForcedCursor>,
    /// Merkle root over `(rollup_id, batch_root)` of every batch, sorted by rollup id.
    pub batches_root: merkle::Hash,
}

impl Header {
    /// sha256 of the encoded header.
    pub fn digest(&self) -> Digest {
        Digest(Sha256::digest(self.encode()).into())
    }

    /// The forced-inclusion cursor of `rollup` (0 when the header carries none).
    pub fn forced_cursor(&self, rollup: RollupId) -> u64 {
        self.forced
            .iter()
            .find(|c| c.rollup == rollup)
            .map_or(0, |c| c.next_index)
    }
}

impl Write for Header {
    fn write(&self, buf: &mut impl BufMut) {
        UInt(self.epoch).write(buf);
        UInt(self.view).write(buf);
        UInt(self.parent_view).write(buf);
        self.leader.write(buf);
        self.parent.write(buf);
        self.height.write(buf);
        self.timestamp_ms.write(buf);
        self.l1.write(buf);
        self.forced.write(buf);
        self.batches_root.write(buf);
    }
}

impl EncodeSize for Header {
    fn encode_size(&self) -> usize {
        UInt(self.epoch).encode_size()
            + UInt(self.view).encode_size()
            + UInt(self.parent_view).encode_size()
            + self.leader.encode_size()
            + self.parent.encode_size()
            + 16
            + L1Ref::SIZE
            + self.forced.encode_size()
            + 32
    }
}

impl Read for Header {
    /// Most forced cursors (one per registered rollup).
    type Cfg = usize;
    fn read_cfg(buf: &mut impl Buf, max_rollups: &usize) -> Result<Self, Error> {
        let header = Self {
            epoch: UInt::read(buf)?.0,
            view: UInt::read(buf)?.0,
            parent_view: UInt::read(buf)?.0,
            leader: PublicKey::read(buf)?,
            parent: Digest::read(buf)?,
            height: u64::read(buf)?,
            timestamp_ms: u64::read(buf)?,
            l1: L1Ref::read(buf)?,
            forced: Vec::<ForcedCursor>::read_cfg(buf, &(RangeCfg::from(..=*max_rollups), ()))?,
            batches_root: <[u8; 32]>::read(buf)?,
        };
        if header.timestamp_ms > BLOCK_TIMESTAMP_MAX_MS {
            return Err(Error::Invalid("ordo::Header", "timestamp beyond 2200"));
        }
        Ok(header)
    }
}

/// One rollup's transactions in a block, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    pub rollup: RollupId,
    /// How many of the first `txs` came from the L1 forced-inclusion inbox (committed in the
    /// batch's leaf, so a receipt cannot claim or hide it).
    pub forced: u32,
    pub txs: Vec<Bytes>,
}

impl Batch {
    /// Hashes of the batch's transactions, in order.
    pub fn tx_hashes(&self) -> Vec<TxHash> {
        self.txs.iter().map(|t| tx_hash(t)).collect()
    }

    /// Merkle root over the transaction hashes.
    pub fn root(&self) -> merkle::Hash {
        merkle::root(&self.tx_hashes())
    }

    /// A batch of ordinary (not forced) transactions.
    pub fn new(rollup: RollupId, txs: Vec<Bytes>) -> Self {
        Self {
            rollup,
            forced: 0,
            txs,
        }
    }

    /// The item committed in `batches_root`: `rollup || forced || batch_root`.
    pub fn leaf(rollup: RollupId, forced: u32, batch_root: &merkle::Hash) -> [u8; 44] {
        let mut leaf = [0u8; 44];
        leaf[..8].copy_from_slice(&rollup.to_be_bytes());
        leaf[8..12].copy_from_slice(&forced.to_be_bytes());
        leaf[12..].copy_from_slice(batch_root);
        leaf
    }

    /// Encoded size of the batch's transactions (what shares and limits count).
    pub fn tx_bytes(&self) -> usize {
        self.txs.iter().map(|t| t.len()).sum()
    }
}

/// Decoding limits: a peer cannot make a validator allocate beyond them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockLimits {
    pub max_rollups: usize,
    pub max_txs_per_batch: usize,
    pub max_tx_bytes: usize,
}

impl BlockLimits {
    /// Limits for readers that do not know the network's registry (explorers, light clients).
    pub const UNBOUNDED: Self = Self {
        max_rollups: 1 << 16,
        max_txs_per_batch: 1 << 20,
        max_tx_bytes: 1 << 24,
    };
}

impl Write for Batch {
    fn write(&self, buf: &mut impl BufMut) {
        self.rollup.write(buf);
        self.forced.write(buf);
        self.txs.write(buf);
    }
}
impl EncodeSize for Batch {
    fn encode_size(&self) -> usize {
        8 + 4 + self.txs.encode_size()
    }
}
impl Read for Batch {
    type Cfg = BlockLimits;
    fn read_cfg(buf: &mut impl Buf, cfg: &BlockLimits) -> Result<Self, Error> {
        let rollup = u64::read(buf)?;
        let forced = u32::read(buf)?;
        let txs = Vec::<Bytes>::read_cfg(
            buf,
            &(
                RangeCfg::from(..=cfg.max_txs_per_batch),
                RangeCfg::from(..=cfg.max_tx_bytes),
            ),
        )?;
        if forced as usize > txs.len() {
            return Err(Error::Invalid(
                "Batch",
                "more forced transactions than transactions",
            ));
        }
        Ok(Self {
            rollup,
            forced,
            txs,
        })
    }
}

/// A header and one batch per registered rollup (sorted by rollup id, possibly empty), so every
/// rollup can prove what it got, including "nothing", at every height.
#[derive(Clone, Debug)]
pub struct Block {
    pub header: Header,
    pub batches: Vec<Batch>,
    digest: Digest,
    tx_hashes: Vec<Vec<TxHash>>,
    /// Each batch's leaf in `batches_root`, kept so proofs do not rebuild every batch's tree.
    batch_leaves: Vec<[u8; 44]>,
}

impl PartialEq for Block {
    fn eq(&self, other: &Self) -> bool {
        self.digest == other.digest && self.batches == other.batches
    }
}
impl Eq for Block {}

impl Block {
    /// Builds a block, computing `batches_root` from `batches` (which must be sorted by rollup).
    pub fn new(header: Header, batches: Vec<Batch>) -> Self {
        let tx_hashes = batches.iter().map(Batch::tx_hashes).collect();
        Self::with_tx_hashes(header, batches, tx_hashes)
    }

    /// [`Self::new`] for batches whose transaction hashes the caller already has (a leader's
    /// mempool hashed each transaction when it admitted it; hashing a full block again cost
    /// ~8 ms on the proposal's path). `tx_hashes[i][j]` must be the hash of `batches[i].txs[j]`
    /// (checked in debug builds): a wrong one makes a block every verifier refuses.
    pub fn with_tx_hashes(
        mut header: Header,
        batches: Vec<Batch>,
        tx_hashes: Vec<Vec<TxHash>>,
    ) -> Self {
        debug_assert!(
            batches.len() == tx_hashes.len()
                && batches
                    .iter()
                    .zip(&tx_hashes)
                    .all(|(b, h)| b.tx_hashes() == *h),
            "tx_hashes are not the hashes of the batches' transactions"
        );
        let batch_leaves = leaves(&batches, &tx_hashes);
        header.batches_root = merkle::root(&batch_leaves);
        let digest = header.digest();
        Self {
            header,
            batches,
            digest,
            tx_hashes,
            batch_leaves,
        }
    }

    /// The block every chain starts from: height 0, no transactions.
    pub fn genesis(timestamp_ms: u64, l1: L1Ref, rollups: &[RollupId]) -> Self {
        let parent = Digest(Sha256::digest(b"ordo genesis").into());
        // A fixed, valid ed25519 point (the basepoint); genesis has no leader.
        let leader =
            <PublicKey as ReadExt>::read(&mut commonware_codec::Copying(&ED25519_BASEPOINT))
                .expect("basepoint is a valid key");
        let header = Header {
            epoch: 0,
            view: 0,
            parent_view: 0,
            leader,
            parent,
            height: 0,
            timestamp_ms,
            l1,
            forced: rollups
                .iter()
                .map(|&rollup| ForcedCursor {
                    rollup,
                    next_index: 0,
                })
                .collect(),
            batches_root: [0; 32],
        };
        let batches = rollups
            .iter()
            .map(|&rollup| Batch::new(rollup, Vec::new()))
            .collect();
        Self::new(header, batches)
    }

    /// sha256 of the header.
    pub fn digest(&self) -> Digest {
        self.digest
    }

    pub fn height(&self) -> u64 {
        self.header.height
    }

    /// Hashes of each batch's transactions (same order as `batches`).
    pub fn tx_hashes(&self) -> &[Vec<TxHash>] {
        &self.tx_hashes
    }

    /// Number of transactions over all batches.
    pub fn tx_count(&self) -> usize {
        self.tx_hashes.iter().map(Vec::len).sum()
    }

    /// The batch of `rollup`, with its position.
    pub fn batch(&self, rollup: RollupId) -> Option<(usize, &Batch)> {
        self.batches
            .binary_search_by_key(&rollup, |b| b.rollup)
            .ok()
            .map(|i| (i, &self.batches[i]))
    }

    /// Proof that the batch at `position` is committed in `batches_root`.
    pub fn batch_proof(&self, position: usize) -> Option<merkle::Proof> {
        merkle::Proof::build(&self.batch_leaves, position)
    }

    /// Receipt of the transaction at `index` of the batch at `position`, under `certificate`.
    pub fn receipt(
        &self,
        position: usize,
        index: usize,
        certificate: &Certificate,
    ) -> Option<Receipt> {
        let batch = self.batches.get(position)?;
        let hashes = &self.tx_hashes[position];
        Some(Receipt {
            tx_hash: *hashes.get(index)?,
            rollup: batch.rollup,
            batch_forced: batch.forced,
            tx_proof: merkle::Proof::build(hashes, index)?,
            batch_proof: self.batch_proof(position)?,
            header: self.header.clone(),
            descendants: Vec::new(),
            certificate: certificate.clone(),
        })
    }

    /// The batch of `rollup` with the proof that `certificate`'s header commits to it.
    pub fn rollup_batch(&self, rollup: RollupId, certificate: &Certificate) -> Option<RollupBatch> {
        let (position, batch) = self.batch(rollup)?;
        Some(RollupBatch {
            rollup,
            txs: batch.txs.clone(),
            forced: batch.forced,
            batch_proof: self.batch_proof(position)?,
            header: self.header.clone(),
            descendants: Vec::new(),
            certificate: certificate.clone(),
        })
    }
}

/// The compressed Edwards basepoint.
const ED25519_BASEPOINT: [u8; 32] = [
    0x58, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
    0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
];

/// Each batch's leaf in `batches_root`, from its transactions' hashes.
fn leaves(batches: &[Batch], tx_hashes: &[Vec<TxHash>]) -> Vec<[u8; 44]> {
    batches
        .iter()
        .zip(tx_hashes)
        .map(|(b, hashes)| Batch::leaf(b.rollup, b.forced, &merkle::root(hashes)))
        .collect()
}

impl Write for Block {
    fn write(&self, buf: &mut impl BufMut) {
        self.header.write(buf);
        self.batches.write(buf);
    }
}
impl EncodeSize for Block {
    fn encode_size(&self) -> usize {
        self.header.encode_size() + self.batches.encode_size()
    }
}
impl Read for Block {
    type Cfg = BlockLimits;
    /// Rejects a body that does not match its header: the digest covers only the header, so the
    /// body must be bound to it before anyone can treat the block as "the block with this digest".
    fn read_cfg(buf: &mut impl Buf, cfg: &BlockLimits) -> Result<Self, Error> {
        let header = Header::read_cfg(buf, &cfg.max_rollups)?;
        let batches = Vec::<Batch>::read_cfg(buf, &(RangeCfg::from(..=cfg.max_rollups), *cfg))?;
        if batches.windows(2).any(|w| w[0].rollup >= w[1].rollup) {
            return Err(Error::Invalid(
                "ordo::Block",
                "batches not sorted by rollup id",
            ));
        }
        let tx_hashes: Vec<Vec<TxHash>> = batches.iter().map(Batch::tx_hashes).collect();
        let batch_leaves = leaves(&batches, &tx_hashes);
        if merkle::root(&batch_leaves) != header.batches_root {
            return Err(Error::Invalid(
                "ordo::Block",
                "batches do not match batches_root",
            ));
        }
        let digest = header.digest();
        Ok(Self {
            header,
            batches,
            digest,
            tx_hashes,
            batch_leaves,
        })
    }
}

impl commonware_cryptography::Digestible for Block {
    type Digest = Digest;
    fn digest(&self) -> Digest {
        self.digest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::Decode;

    pub(crate) fn sample_block() -> Block {
        let genesis = Block::genesis(1_000, L1Ref::default(), &[901, 902, 903]);
        let header = Header {
            epoch: 0,
            view: 5,
            parent_view: 4,
            leader: genesis.header.leader.clone(),
            parent: genesis.digest(),
            height: 1,
            timestamp_ms: 2_000,
            l1: L1Ref {
                number: 7,
                hash: [7; 32],
            },
            forced: genesis.header.forced.clone(),
            batches_root: [0; 32],
        };
        Block::new(
            header,
            vec![
                Batch {
                    rollup: 901,
                    forced: 1,
                    txs: vec![Bytes::from_static(b"a"), Bytes::from_static(b"bb")],
                },
                Batch::new(902, vec![]),
                Batch::new(903, vec![Bytes::from_static(b"ccc")]),
            ],
        )
    }

    #[test]
    fn block_codec_round_trip() {
        let block = sample_block();
        let bytes = block.encode();
        assert_eq!(bytes.len(), block.encode_size());
        let decoded = Block::decode_cfg(bytes, &BlockLimits::UNBOUNDED).unwrap();
        assert_eq!(decoded, block);
        assert_eq!(decoded.digest(), block.digest());
        assert_eq!(decoded.header, block.header);
        assert_eq!(decoded.tx_count(), 3);
    }

    #[test]
    fn body_must_match_header() {
        let mut block = sample_block();
        block.batches[0].txs[0] = Bytes::from_static(b"x");
        let bytes = block.encode();
        assert!(Block::decode_cfg(bytes, &BlockLimits::UNBOUNDED).is_err());
    }

    #[test]
    fn unsorted_batches_rejected() {
        let mut block = sample_block();
        block.batches.swap(0, 2);
        let rebuilt = Block::new(block.header.clone(), block.batches.clone());
        assert!(Block::decode_cfg(rebuilt.encode(), &BlockLimits::UNBOUNDED).is_err());
    }

    #[test]
    fn limits_bound_decoding() {
        let block = sample_block();
        let tight = BlockLimits {
            max_rollups: 3,
            max_txs_per_batch: 1,
            max_tx_bytes: 16,
        };
        assert!(Block::decode_cfg(block.encode(), &tight).is_err());
        let tight = BlockLimits {
            max_rollups: 2,
            ..BlockLimits::UNBOUNDED
        };
        assert!(Block::decode_cfg(block.encode(), &tight).is_err());
        let tight = BlockLimits {
            max_tx_bytes: 2,
            ..BlockLimits::UNBOUNDED
        };
        assert!(Block::decode_cfg(block.encode(), &tight).is_err());
        // Truncated input is an error, not a panic.
        let bytes = block.encode();
        for cut in [0, 1, 10, bytes.len() - 1] {
            assert!(Block::decode_cfg(bytes.slice(..cut), &BlockLimits::UNBOUNDED).is_err());
        }
    }

    #[test]
    fn forced_count_is_bounded_and_committed() {
        let mut block = sample_block();
        block.batches[2].forced = 2;
        let rebuilt = Block::new(block.header.clone(), block.batches.clone());
        assert!(
            Block::decode_cfg(rebuilt.encode(), &BlockLimits::UNBOUNDED).is_err(),
            "more forced than transactions"
        );
        let mut other = sample_block();
        other.batches[0].forced = 0;
        let other = Block::new(other.header.clone(), other.batches.clone());
        assert_ne!(
            other.header.batches_root,
            sample_block().header.batches_root
        );
        let block = sample_block();
        let certificate = Certificate {
            kind: crate::CertificateKind::Notarization,
            epoch: 0,
            view: 1,
            parent_view: 0,
            payload: block.digest(),
            signature: [0; 48],
        };
        assert!(block.receipt(0, 0, &certificate).unwrap().forced());
        assert!(!block.receipt(0, 1, &certificate).unwrap().forced());
    }

    #[test]
    fn batch_proofs_verify() {
        let block = sample_block();
        for (i, batch) in block.batches.iter().enumerate() {
            let proof = block.batch_proof(i).unwrap();
            assert!(proof.verify(
                &Batch::leaf(batch.rollup, batch.forced, &batch.root()),
                &block.header.batches_root
            ));
        }
    }
}
