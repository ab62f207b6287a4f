//! The relay message validators exchange pending transactions in (p2p channel 5; see
//! `ordo_engine::relay`): `count:u32 || (rollup:u64 || len:u32 || raw)*`, decoded without
//! trusting any length it reads.

use crate::RollupId;
use alloc::vec::Vec;
use bytes::{Buf, BufMut, Bytes};

/// Most transactions in one relay message (a receiver refuses more).
pub const MAX_TXS_PER_MESSAGE: usize = 4_096;

/// Encodes `(rollup, raw)` pairs as `count:u32 || (rollup:u64 || len:u32 || raw)*`.
pub fn encode(txs: &[(RollupId, Bytes)]) -> Vec<u8> {
    let size = 4 + txs.iter().map(|(_, raw)| 12 + raw.len()).sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.put_u32(txs.len() as u32);
    for (rollup, raw) in txs {
        out.put_u64(*rollup);
        out.put_u32(raw.len() as u32);
        out.put_slice(raw);
    }
    out
}

/// Why a relay message was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("truncated relay message")]
    Truncated,
    #[error("relay message carries {0} transactions (limit {MAX_TXS_PER_MESSAGE})")]
    TooMany(usize),
    #[error("trailing bytes after the last transaction")]
    Trailing,
}

/// Decodes [`encode`]'s output without trusting any length it reads.
pub fn decode(mut buf: &[u8]) -> Result<Vec<(RollupId, Bytes)>, DecodeError> {
    if buf.remaining() < 4 {
        return Err(DecodeError::Truncated);
    }
    let count = buf.get_u32() as usize;
    if count > MAX_TXS_PER_MESSAGE {
        return Err(DecodeError::TooMany(count));
    }
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
    if buf.has_remaining() {
        return Err(DecodeError::Trailing);
    }
    Ok(txs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn round_trip() {
        let txs = vec![
            (901, Bytes::from_static(b"abc")),
            (903, Bytes::new()),
            (902, Bytes::from(vec![7u8; 1000])),
        ];
        assert_eq!(decode(&encode(&txs)).unwrap(), txs);
        assert_eq!(decode(&encode(&[])).unwrap(), vec![]);
    }

    #[test]
    fn refuses_malformed_messages() {
        let good = encode(&[(901, Bytes::from_static(b"abcdef"))]);
        for cut in 0..good.len() {
            assert_eq!(
                decode(&good[..cut]),
                Err(DecodeError::Truncated),
                "cut at {cut}"
            );
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(decode(&trailing), Err(DecodeError::Trailing));
        // A huge count is refused before anything is allocated for it.
        let mut huge = good;
        huge[..4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(decode(&huge), Err(DecodeError::TooMany(u32::MAX as usize)));
    }
}
