//! Ordo's data model and its canonical encoding.
//!
//! Everything that crosses a process boundary or is signed lives here: rollup identities and
//! kinds, raw transactions and their hashes, the block header and its per-rollup batches, the
//! merkle commitments that let one rollup fetch only its own batch, and the receipts that prove a
//! transaction was preconfirmed. The crate has no async runtime and no storage, so the light
//! client (and its WASM build) can depend on it.
//!
//! Optional features: `consensus` implements commonware-consensus's block traits for [`Block`];
//! `evm` checks EIP-2718 transactions (decode and signature recovery) for `evm` rollups.

#![cfg_attr(not(feature = "std"), no_std)]
extern crate alloc;

mod block;
mod certificate;
pub mod merkle;
mod receipt;
pub mod relay;
mod rollup;
mod tx;

#[cfg(feature = "consensus")]
pub mod consensus;

pub use block::{Batch, Block, BlockLimits, ForcedCursor, Header, L1Ref, BLOCK_TIMESTAMP_MAX_MS};
pub use certificate::{Certificate, CertificateKind};
pub use commonware_cryptography::{ed25519::PublicKey, sha256::Digest};
pub use receipt::{chain_tip, Receipt, RollupBatch, MAX_DESCENDANTS};
pub use rollup::{RollupId, RollupKind, RollupSpec};
pub use tx::{tx_hash, TxError, TxHash};
#[cfg(feature = "std")]
pub use tx::{TxHashMap, TxHashSet};

/// The namespace every Ordo signature is made under (consensus adds its own suffixes).
pub const NAMESPACE: &[u8] = b"ordo";
