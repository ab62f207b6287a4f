#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
use keccak_asm::Keccak256;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
use sha3::{Digest as _, Keccak256};

/// keccak256 of a transaction's raw bytes (for EVM rollups: the usual transaction hash).
pub type TxHash = [u8; 32];

/// Sets and maps keyed by transaction hash, with a fast per-process seeded hasher: SipHash
/// (std's default) over 32 bytes that are already a hash was ~3% of a saturated node's CPU.
#[cfg(feature = "std")]
pub type TxHashSet = std::collections::HashSet<TxHash, foldhash::fast::RandomState>;
/// See [`TxHashSet`].
#[cfg(feature = "std")]
pub type TxHashMap<V> = std::collections::HashMap<TxHash, V, foldhash::fast::RandomState>;

/// Hash of raw transaction bytes.
pub fn tx_hash(raw: &[u8]) -> TxHash {
    Keccak256::digest(raw).into()
}

/// Why a transaction is not acceptable for its rollup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    #[error("empty transaction")]
    Empty,
    #[error("transaction is {size} bytes, the rollup's limit is {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("not a valid EIP-2718 transaction: {0}")]
    Malformed(alloc::string::String),
    #[error("transaction has trailing bytes after its EIP-2718 envelope")]
    TrailingBytes,
    #[error("bad signature: {0}")]
    BadSignature(alloc::string::String),
    #[error("transaction is for chain id {found}, this rollup is {expected}")]
    WrongChain { expected: u64, found: u64 },
    #[error("deposit transactions (type 0x7e) cannot be sequenced")]
    Deposit,
}

#[cfg(feature = "evm")]
mod evm {
    use super::TxError;
    use crate::{RollupKind, RollupSpec};
    use alloc::string::ToString;
    use alloy_consensus::{transaction::SignerRecoverable, Transaction, TxEnvelope};
    use alloy_eips::eip2718::Decodable2718;

    impl RollupSpec {
        /// Checks one raw transaction against this rollup's rules. Deterministic: `verify` uses it.
        pub fn check_tx(&self, raw: &[u8]) -> Result<(), TxError> {
            if raw.is_empty() {
                return Err(TxError::Empty);
            }
            if raw.len() > self.max_tx_bytes as usize {
                return Err(TxError::TooLarge {
                    size: raw.len(),
                    limit: self.max_tx_bytes as usize,
                });
            }
            match self.kind {
                RollupKind::Opaque => Ok(()),
                RollupKind::Evm => check_evm(self.id, raw),
            }
        }
    }

    fn check_evm(chain_id: u64, raw: &[u8]) -> Result<(), TxError> {
        if raw[0] == 0x7e {
            return Err(TxError::Deposit);
        }
        let mut buf = raw;
        let tx =
            TxEnvelope::decode_2718(&mut buf).map_err(|e| TxError::Malformed(e.to_string()))?;
        if !buf.is_empty() {
            return Err(TxError::TrailingBytes);
        }
        // Legacy pre-EIP-155 transactions carry no chain id; they are valid on any chain.
        if let Some(found) = tx.chain_id() {
            if found != chain_id {
                return Err(TxError::WrongChain {
                    expected: chain_id,
                    found,
                });
            }
        }
        tx.recover_signer()
            .map_err(|e| TxError::BadSignature(e.to_string()))?;
        Ok(())
    }
}

#[cfg(test)]
mod hash_tests {
    use super::tx_hash;
    use sha3::Digest as _;

    #[test]
    fn tx_hash_is_keccak256() {
        let hex = |h: [u8; 32]| hex::encode(h);
        assert_eq!(
            hex(tx_hash(b"")),
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
        assert_eq!(
            hex(tx_hash(b"abc")),
            "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"
        );
        // Lengths around Keccak-256's 136-byte block, against the portable implementation.
        for len in [135, 136, 137, 200, 272, 1_000] {
            let raw: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let expected: [u8; 32] = sha3::Keccak256::digest(&raw).into();
            assert_eq!(tx_hash(&raw), expected, "{len} bytes");
        }
    }
}
