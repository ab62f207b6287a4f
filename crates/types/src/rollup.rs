use alloc::string::String;
use core::{fmt, str::FromStr};
use serde::{Deserialize, Serialize};

/// A rollup is identified by its L2 chain id.
pub type RollupId = u64;

/// How Ordo checks a rollup's transactions on ingress and in `verify`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RollupKind {
    /// EIP-2718 signed transactions: decoded and signature-checked.
    Evm,
    /// Arbitrary bytes, checked only against size limits.
    Opaque,
}

impl RollupKind {
    /// Whether checking a transaction of this kind decodes it and recovers its signer (worth
    /// skipping for one that already passed the same check), rather than only measuring it.
    pub fn check_is_costly(self) -> bool {
        matches!(self, Self::Evm)
    }
}

impl fmt::Display for RollupKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Evm => "evm",
            Self::Opaque => "opaque",
        })
    }
}

impl FromStr for RollupKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "evm" => Ok(Self::Evm),
            "opaque" => Ok(Self::Opaque),
            other => Err(alloc::format!(
                "unknown rollup kind `{other}` (expected evm or opaque)"
            )),
        }
    }
}

/// A rollup's registration: part of genesis, identical on every validator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollupSpec {
    pub id: RollupId,
    pub kind: RollupKind,
    /// Bytes of each block reserved for this rollup before unused share is redistributed.
    pub share_bytes: u32,
    /// Largest accepted transaction.
    pub max_tx_bytes: u32,
    /// Most transactions of this rollup in one block.
    pub max_txs_per_block: u32,
}

impl RollupSpec {
    /// Defaults that suit a devnet rollup of the given kind.
    pub fn with_defaults(id: RollupId, kind: RollupKind) -> Self {
        Self {
            id,
            kind,
            share_bytes: 512 * 1024,
            max_tx_bytes: 128 * 1024,
            max_txs_per_block: 10_000,
        }
    }
}
