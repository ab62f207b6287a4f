use crate::{merkle, Certificate, Header, RollupId, TxHash};
use alloc::vec::Vec;
use bytes::{BufMut, Bytes};
use commonware_codec::{Buf, EncodeSize, Error, RangeCfg, Read, ReadExt, Write};

/// Most headers between a block and the descendant whose finalization certifies it.
pub const MAX_DESCENDANTS: usize = 1_024;

/// Proof that a transaction was ordered: its place in its rollup's batch, the batch's place in a
/// certified header, and the certificate. Checkable offline with only the group key.
///
/// The certificate is the header's own, or (`descendants` not empty) the finalization of a
/// descendant: simplex may finalize a block only through its child, and a node that learns of it
/// later finds no certificate of the block anywhere. Each descendant names the previous header's
/// digest as its parent, so the descendant's finalization finalizes the whole chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    pub tx_hash: TxHash,
    pub rollup: RollupId,
    /// How many of the batch's first transactions came from the L1 forced-inclusion inbox (part
    /// of the batch's committed leaf).
    pub batch_forced: u32,
    /// Position of the transaction in its batch (`tx_proof.index`).
    pub tx_proof: merkle::Proof,
    /// Position of the batch among the block's batches.
    pub batch_proof: merkle::Proof,
    pub header: Header,
    /// Headers from `header.height + 1` up to the one `certificate` certifies (usually none).
    pub descendants: Vec<Header>,
    pub certificate: Certificate,
}

impl Receipt {
    pub fn height(&self) -> u64 {
        self.header.height
    }
    pub fn index(&self) -> u32 {
        self.tx_proof.index
    }
    /// Whether the transaction came from the L1 forced-inclusion inbox.
    pub fn forced(&self) -> bool {
        self.tx_proof.index < self.batch_forced
    }
}

impl Write for Receipt {
    fn write(&self, buf: &mut impl BufMut) {
        self.tx_hash.write(buf);
        self.rollup.write(buf);
        self.batch_forced.write(buf);
        self.tx_proof.write(buf);
        self.batch_proof.write(buf);
        self.header.write(buf);
        self.descendants.write(buf);
        self.certificate.write(buf);
    }
}
impl EncodeSize for Receipt {
    fn encode_size(&self) -> usize {
        32 + 8
            + 4
            + self.tx_proof.encode_size()
            + self.batch_proof.encode_size()
            + self.header.encode_size()
            + self.descendants.encode_size()
            + self.certificate.encode_size()
    }
}
impl Read for Receipt {
    /// Most forced cursors in the header.
    type Cfg = usize;
    fn read_cfg(buf: &mut impl Buf, max_rollups: &usize) -> Result<Self, Error> {
        Ok(Self {
            tx_hash: <[u8; 32]>::read(buf)?,
            rollup: u64::read(buf)?,
            batch_forced: u32::read(buf)?,
            tx_proof: merkle::Proof::read(buf)?,
            batch_proof: merkle::Proof::read(buf)?,
            header: Header::read_cfg(buf, max_rollups)?,
            descendants: read_descendants(buf, *max_rollups)?,
            certificate: Certificate::read(buf)?,
        })
    }
}

/// One rollup's batch at one height, with what proves it is the batch the certified header
/// commits to. A rollup reads its own stream without other rollups' data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RollupBatch {
    pub rollup: RollupId,
    pub txs: Vec<Bytes>,
    /// How many of the first `txs` came from the forced-inclusion inbox.
    pub forced: u32,
    pub batch_proof: merkle::Proof,
    pub header: Header,
    /// Headers from `header.height + 1` up to the one `certificate` certifies (usually none).
    pub descendants: Vec<Header>,
    pub certificate: Certificate,
}

impl Write for RollupBatch {
    fn write(&self, buf: &mut impl BufMut) {
        self.rollup.write(buf);
        self.txs.write(buf);
        self.forced.write(buf);
        self.batch_proof.write(buf);
        self.header.write(buf);
        self.descendants.write(buf);
        self.certificate.write(buf);
    }
}
impl EncodeSize for RollupBatch {
    fn encode_size(&self) -> usize {
        8 + self.txs.encode_size()
            + 4
            + self.batch_proof.encode_size()
            + self.header.encode_size()
            + self.descendants.encode_size()
            + self.certificate.encode_size()
    }
}
impl Read for RollupBatch {
    type Cfg = crate::BlockLimits;
    fn read_cfg(buf: &mut impl Buf, cfg: &crate::BlockLimits) -> Result<Self, Error> {
        Ok(Self {
            rollup: u64::read(buf)?,
            txs: Vec::<Bytes>::read_cfg(
                buf,
                &(
                    RangeCfg::from(..=cfg.max_txs_per_batch),
                    RangeCfg::from(..=cfg.max_tx_bytes),
                ),
            )?,
            forced: u32::read(buf)?,
            batch_proof: merkle::Proof::read(buf)?,
            header: Header::read_cfg(buf, &cfg.max_rollups)?,
            descendants: read_descendants(buf, cfg.max_rollups)?,
            certificate: Certificate::read(buf)?,
        })
    }
}

fn read_descendants(buf: &mut impl Buf, max_rollups: usize) -> Result<Vec<Header>, Error> {
    Vec::<Header>::read_cfg(buf, &(RangeCfg::from(..=MAX_DESCENDANTS), max_rollups))
}

/// The header a chain of `descendants` of `header` ends in, if each names the previous one as
/// its parent, one height up; `header` itself when there are none.
pub fn chain_tip<'a>(header: &'a Header, descendants: &'a [Header]) -> Option<&'a Header> {
    let mut tip = header;
    for next in descendants {
        if next.parent != tip.digest() || Some(next.height) != tip.height.checked_add(1) {
            return None;
        }
        tip = next;
    }
    Some(tip)
}
