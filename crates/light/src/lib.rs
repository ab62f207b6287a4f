//! Offline verification of what Ordo certifies, with only the network's 96-byte group key.
//!
//! A certificate is one BLS12-381 threshold signature (MinSig: 48-byte G1 signature, 96-byte G2
//! key) over the consensus proposal of a block digest. A receipt adds the path from a transaction
//! hash to that digest: transaction -> batch root -> `batches_root` -> header -> digest. A rollup
//! batch proves one rollup's whole batch the same way. Nothing here needs an async runtime, a
//! database or the network, so it builds for browsers (WASM) and embedded verifiers alike.

#![no_std]
extern crate alloc;

use alloc::{format, string::String, vec::Vec};
use commonware_codec::{Decode, DecodeExt, Encode};
use commonware_cryptography::bls12381::primitives::{
    ops,
    variant::{MinSig, Variant},
};
use ordo_types::{
    merkle, Batch, BlockLimits, Certificate, CertificateKind, Header, Receipt, RollupBatch,
};

#[cfg(target_family = "wasm")]
mod wasm;

/// Why something did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("group key is not a valid 96-byte BLS12-381 G2 point: {0}")]
    BadGroupKey(String),
    #[error("signature is not a valid 48-byte BLS12-381 G1 point")]
    BadSignatureEncoding,
    #[error("signature does not verify against the group key")]
    BadSignature,
    #[error("certificate is for digest {certified}, the header hashes to {header}")]
    DigestMismatch { certified: String, header: String },
    #[error("certificate round (epoch {cert_epoch}, view {cert_view}, parent {cert_parent}) differs from the header's")]
    RoundMismatch {
        cert_epoch: u64,
        cert_view: u64,
        cert_parent: u64,
    },
    #[error("transaction is not in the batch the proof names")]
    BadTxProof,
    #[error("batch is not committed in the header's batches_root")]
    BadBatchProof,
    #[error("batch claims more forced transactions than it holds")]
    BadForcedCount,
    #[error("the descendant headers do not link back to the header, one height at a time")]
    BrokenChain,
    #[error("a descendant's certificate must be a finalization (a notarization of a child does not finalize its parent)")]
    DescendantNotFinal,
    #[error("neither a receipt nor a rollup batch: {0}")]
    Undecodable(String),
}

/// Something Ordo certifies, as RPC hands it out (the `encoded` field of `ordo_getReceipt` and
/// `ordo_getRollupBatch`).
#[derive(Clone, Debug, PartialEq)]
pub enum Certified {
    Receipt(Receipt),
    RollupBatch(RollupBatch),
}

impl Certified {
    /// Decodes a receipt or a rollup batch from its codec bytes (no limits beyond the codec's:
    /// the bytes are checked, not trusted).
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        if let Ok(r) = Receipt::decode_cfg(bytes.to_vec(), &BlockLimits::UNBOUNDED.max_rollups) {
            return Ok(Self::Receipt(r));
        }
        RollupBatch::decode_cfg(bytes.to_vec(), &BlockLimits::UNBOUNDED)
            .map(Self::RollupBatch)
            .map_err(|e| Error::Undecodable(format!("{e}")))
    }

    /// `receipt` or `rollup batch`.
    pub fn noun(&self) -> &'static str {
        match self {
            Self::Receipt(_) => "receipt",
            Self::RollupBatch(_) => "rollup batch",
        }
    }

    /// One line saying what was certified, for a check that passed with `kind`.
    pub fn summary(&self, kind: CertificateKind) -> String {
        match self {
            Self::Receipt(r) => {
                format!(
                    "tx 0x{} of rollup {} at height {} (index {}, view {}) is {}{}",
                    hex::encode(r.tx_hash),
                    r.rollup,
                    r.height(),
                    r.index(),
                    r.certificate.view,
                    kind.as_str(),
                    if r.forced() { ", forced" } else { "" }
                ) + &through(&r.descendants)
            }
            Self::RollupBatch(b) => {
                format!(
                    "rollup {} height {} with {} transactions is {}",
                    b.rollup,
                    b.header.height,
                    b.txs.len(),
                    kind.as_str()
                ) + &through(&b.descendants)
            }
        }
    }
}

/// How a certificate reaches a header through its descendants, for a summary.
fn through(descendants: &[Header]) -> String {
    descendants
        .last()
        .map(|tip| format!(" (through the finalization of height {})", tip.height))
        .unwrap_or_default()
}

/// The network's group public key (G2, 96 bytes compressed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupKey(<MinSig as Variant>::Public);

impl GroupKey {
    /// Decodes a compressed key, checking it is on the curve and in the subgroup.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        <MinSig as Variant>::Public::decode(bytes.to_vec())
            .map(Self)
            .map_err(|e| Error::BadGroupKey(alloc::format!("{e}")))
    }

    /// Decodes a hex key (with or without `0x`).
    pub fn from_hex(s: &str) -> Result<Self, Error> {
        let bytes = hex::decode(s.trim().trim_start_matches("0x"))
            .map_err(|e| Error::BadGroupKey(alloc::format!("{e}")))?;
        Self::from_bytes(&bytes)
    }

    /// Compressed bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.encode().to_vec()
    }

    /// Checks the certificate's signature over its proposal.
    pub fn verify_certificate(&self, certificate: &Certificate) -> Result<(), Error> {
        let signature = <MinSig as Variant>::Signature::decode(certificate.signature.to_vec())
            .map_err(|_| Error::BadSignatureEncoding)?;
        ops::verify_message::<MinSig>(
            &self.0,
            &certificate.signing_namespace(),
            &certificate.proposal_bytes(),
            &signature,
        )
        .map_err(|_| Error::BadSignature)
    }

    /// Checks that `certificate` certifies exactly `header`.
    pub fn verify_header(&self, header: &Header, certificate: &Certificate) -> Result<(), Error> {
        let digest = header.digest();
        if digest != certificate.payload {
            return Err(Error::DigestMismatch {
                certified: hex::encode(certificate.payload.0),
                header: hex::encode(digest.0),
            });
        }
        if (certificate.epoch, certificate.view, certificate.parent_view)
            != (header.epoch, header.view, header.parent_view)
        {
            return Err(Error::RoundMismatch {
                cert_epoch: certificate.epoch,
                cert_view: certificate.view,
                cert_parent: certificate.parent_view,
            });
        }
        self.verify_certificate(certificate)
    }

    /// Checks that `certificate` certifies `header`: directly, or as the finalization of the last
    /// of `descendants`, each naming the previous header as its parent.
    pub fn verify_chain(
        &self,
        header: &Header,
        descendants: &[Header],
        certificate: &Certificate,
    ) -> Result<(), Error> {
        if descendants.is_empty() {
            return self.verify_header(header, certificate);
        }
        if certificate.kind != CertificateKind::Finalization {
            return Err(Error::DescendantNotFinal);
        }
        let tip = ordo_types::chain_tip(header, descendants).ok_or(Error::BrokenChain)?;
        self.verify_header(tip, certificate)
    }

    /// Checks a receipt end to end and returns how final it is.
    pub fn verify_receipt(&self, receipt: &Receipt) -> Result<CertificateKind, Error> {
        let batch_root = receipt
            .tx_proof
            .root(&receipt.tx_hash)
            .ok_or(Error::BadTxProof)?;
        check_batch(
            receipt.rollup,
            receipt.batch_forced,
            &batch_root,
            &receipt.batch_proof,
            &receipt.header,
        )?;
        self.verify_chain(&receipt.header, &receipt.descendants, &receipt.certificate)?;
        Ok(receipt.certificate.kind)
    }

    /// Checks a receipt or a rollup batch.
    pub fn verify(&self, item: &Certified) -> Result<CertificateKind, Error> {
        match item {
            Certified::Receipt(r) => self.verify_receipt(r),
            Certified::RollupBatch(b) => self.verify_rollup_batch(b),
        }
    }

    /// Checks that `batch` is the whole batch of its rollup committed in a certified header.
    pub fn verify_rollup_batch(&self, batch: &RollupBatch) -> Result<CertificateKind, Error> {
        if batch.forced as usize > batch.txs.len() {
            return Err(Error::BadForcedCount);
        }
        let hashes: Vec<_> = batch.txs.iter().map(|t| ordo_types::tx_hash(t)).collect();
        let batch_root = merkle::root(&hashes);
        check_batch(
            batch.rollup,
            batch.forced,
            &batch_root,
            &batch.batch_proof,
            &batch.header,
        )?;
        self.verify_chain(&batch.header, &batch.descendants, &batch.certificate)?;
        Ok(batch.certificate.kind)
    }
}

fn check_batch(
    rollup: u64,
    forced: u32,
    batch_root: &merkle::Hash,
    proof: &merkle::Proof,
    header: &Header,
) -> Result<(), Error> {
    if proof.verify(
        &Batch::leaf(rollup, forced, batch_root),
        &header.batches_root,
    ) {
        Ok(())
    } else {
        Err(Error::BadBatchProof)
    }
}
