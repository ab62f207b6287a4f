//! The relay messages validators exchange pending transactions in (p2p channel 5; see
//! `ordo_engine::relay`), decoded without trusting any length they read. One kind byte, then:
//!
//! - `0` [`Message::Txs`]: `count:u32 || (rollup:u64 || len:u32 || raw)*`, transactions pushed
//!   as they are accepted, or sent because a peer asked for them;
//! - `1` [`Message::Have`]: `count:u32 || hash[32]*`, transactions still pending at the sender
//!   (announced again in case a peer missed them);
//! - `2` [`Message::Want`]: `count:u32 || hash[32]*`, the ones of a `Have` the receiver lacks.
//!
//! A re-announcement costs a peer that already holds the transaction 32 bytes and a lookup,
//! instead of the whole transaction and a hash of it.

use crate::{RollupId, TxHash};
use alloc::vec::Vec;
use bytes::{Buf, BufMut, Bytes};

/// Most transactions in one `Txs` message (a receiver refuses more).
pub const MAX_TXS_PER_MESSAGE: usize = 4_096;
/// Most hashes in one `Have` or `Want` message (512 KiB of hashes).
pub const MAX_HASHES_PER_MESSAGE: usize = 16_384;

const TXS: u8 = 0;
const HAVE: u8 = 1;
const WANT: u8 = 2;

/// One relay message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Txs(Vec<(RollupId, Bytes)>),
    Have(Vec<TxHash>),
    Want(Vec<TxHash>),
}

/// Encodes a `Txs` message from borrowed transactions (what the relay sends most).
pub fn encode_txs(txs: &[(RollupId, Bytes)]) -> Vec<u8> {
    let size = 5 + txs.iter().map(|(_, raw)| 12 + raw.len()).sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.put_u8(TXS);
    out.put_u32(txs.len() as u32);
    for (rollup, raw) in txs {
        out.put_u64(*rollup);
        out.put_u32(raw.len() as u32);
        out.put_slice(raw);
    }
    out
}

fn encode_hashes(kind: u8, hashes: &[TxHash]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + 32 * hashes.len());
    out.put_u8(kind);
    out.put_u32(hashes.len() as u32);
    for hash in hashes {
        out.put_slice(hash);
    }
    out
}

/// Encodes a `Have` message.
pub fn encode_have(hashes: &[TxHash]) -> Vec<u8> {
    encode_hashes(HAVE, hashes)
}

/// Encodes a `Want` message.
pub fn encode_want(hashes: &[TxHash]) -> Vec<u8> {
    encode_hashes(WANT, hashes)
}

impl Message {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::Txs(txs) => encode_txs(txs),
            Self::Have(hashes) => encode_have(hashes),
            Self::Want(hashes) => encode_want(hashes),
        }
    }
}

/// Why a relay message was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("truncated relay message")]
    Truncated,
    #[error("unknown relay message kind {0}")]
    UnknownKind(u8),
    #[error("relay message carries {count} entries (limit {limit})")]
    TooMany { count: usize, limit: usize },
    #[error("trailing bytes after the last entry")]
    Trailing,
}

/// Reads the count that follows the kind byte, refusing one above `limit` before anything is
/// allocated for it.
fn count(buf: &mut &[u8], limit: usize) -> Result<usize, DecodeError> {
    if buf.remaining() < 4 {
        return Err(DecodeError::Truncated);
    }
    let count = buf.get_u32() as usize;
    if count > limit {
        return Err(DecodeError::TooMany { count, limit });
    }
    Ok(count)
}

/// Decodes [`Message::encode`]'s output without trusting any length it reads.
pub fn decode(mut buf: &[u8]) -> Result<Message, DecodeError> {
    if !buf.has_remaining() {
        return Err(DecodeError::Truncated);
    }
    let message = match buf.get_u8() {
        TXS => {
            let count = count(&mut buf, MAX_TXS_PER_MESSAGE)?;
            let mut txs = Vec::with_capacity(count);
            for _ in 0..count {
                if buf.remaining() < 12 {
                    return Err(DecodeError::Truncated);
                }
                let rollup = buf.get_u64();
                let len = buf.get_u32() as usize;
                if buf.remaining() < len {
                    return Err(DecodeError::Truncated);
                }
                txs.push((rollup, Bytes::copy_from_slice(&buf[..len])));
                buf.advance(len);
            }
            Message::Txs(txs)
        }
        kind @ (HAVE | WANT) => {
            let count = count(&mut buf, MAX_HASHES_PER_MESSAGE)?;
            if buf.remaining() < 32 * count {
                return Err(DecodeError::Truncated);
            }
            let hashes = (0..count)
                .map(|_| {
                    let mut hash = [0u8; 32];
                    buf.copy_to_slice(&mut hash);
                    hash
                })
                .collect();
            if kind == HAVE {
                Message::Have(hashes)
            } else {
                Message::Want(hashes)
            }
        }
        kind => return Err(DecodeError::UnknownKind(kind)),
    };
    if buf.has_remaining() {
        return Err(DecodeError::Trailing);
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn examples() -> Vec<Message> {
        vec![
            Message::Txs(vec![
                (901, Bytes::from_static(b"abc")),
                (903, Bytes::new()),
                (902, Bytes::from(vec![7u8; 1000])),
            ]),
            Message::Txs(vec![]),
            Message::Have(vec![[1; 32], [2; 32]]),
            Message::Want(vec![[3; 32]]),
            Message::Want(vec![]),
        ]
    }

    #[test]
    fn round_trip() {
        for message in examples() {
            assert_eq!(decode(&message.encode()).unwrap(), message);
        }
    }

    #[test]
    fn refuses_malformed_messages() {
        for message in examples() {
            let good = message.encode();
            for cut in 0..good.len() {
                assert_eq!(
                    decode(&good[..cut]),
                    Err(DecodeError::Truncated),
                    "{message:?} cut at {cut}"
                );
            }
            let mut trailing = good.clone();
            trailing.push(0);
            assert_eq!(decode(&trailing), Err(DecodeError::Trailing));
            // A huge count is refused before anything is allocated for it.
            let mut huge = good;
            huge[1..5].copy_from_slice(&u32::MAX.to_be_bytes());
            assert!(matches!(
                decode(&huge),
                Err(DecodeError::TooMany { count, .. }) if count == u32::MAX as usize
            ));
        }
        assert_eq!(decode(&[9, 0, 0, 0, 0]), Err(DecodeError::UnknownKind(9)));
    }
}
