//! How the JSON-RPC API reads its parameters: the `0x`-hex types it accepts and, per method, the
//! shape of `params`. `crates/rpc` registers its methods with these functions; the fuzz target
//! `rpc_params` runs the very same ones on arbitrary input. Only serde and jsonrpsee-types, so
//! it builds without the engine.

use jsonrpsee_types::{error::INVALID_PARAMS_CODE, ErrorObject};
pub use jsonrpsee_types::{ErrorObjectOwned, Params};
use ordo_types::{RollupId, TxHash};
use serde::{de::Error as _, Deserialize, Deserializer};
use std::collections::HashSet;

/// Most transaction hashes one `ordo_subscribeReceipts` may filter on.
pub const MAX_RECEIPT_FILTER: usize = 4096;

/// Most transactions one `ordo_sendTransactions` may carry.
pub const MAX_TXS_PER_SUBMISSION: usize = 1024;

pub type ParamsResult<T> = Result<T, ErrorObjectOwned>;

fn parse_hex<E: serde::de::Error>(s: &str) -> Result<Vec<u8>, E> {
    let digits = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .ok_or_else(|| E::custom("expected a 0x-prefixed hex string"))?;
    // The hex crate (const-hex) would strip a second prefix: "0x0x68" is not hex.
    if digits.starts_with("0x") || digits.starts_with("0X") {
        return Err(E::custom("invalid hex: 0x given twice"));
    }
    hex::decode(digits).map_err(|e| E::custom(format!("invalid hex: {e}")))
}

/// Arbitrary bytes given as `0x`-prefixed hex.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HexBytes(pub bytes::Bytes);

impl<'de> Deserialize<'de> for HexBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        parse_hex(&s).map(|b| Self(b.into()))
    }
}

/// A 32-byte hash given as `0x` and 64 hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Hash32(pub [u8; 32]);

impl<'de> Deserialize<'de> for Hash32 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let bytes = parse_hex::<D::Error>(&s)?;
        let len = bytes.len();
        bytes
            .try_into()
            .map(Self)
            .map_err(|_| D::Error::custom(format!("expected 32 bytes, got {len}")))
    }
}

/// `ordo_sendTransaction`: `[rollup, "0x<tx>"]`.
pub fn send_transaction(params: &Params<'_>) -> ParamsResult<(RollupId, HexBytes)> {
    params.parse()
}

/// `ordo_sendTransactions`: `[rollup, ["0x<tx>", ...]]`, at most [`MAX_TXS_PER_SUBMISSION`].
pub fn send_transactions(params: &Params<'_>) -> ParamsResult<(RollupId, Vec<HexBytes>)> {
    let (rollup, txs): (RollupId, Vec<HexBytes>) = params.parse()?;
    at_most(MAX_TXS_PER_SUBMISSION, txs.len(), "transactions per call")?;
    Ok((rollup, txs))
}

/// `eth_sendRawTransaction` (under `/rollup/<id>`): `["0x<tx>"]`.
pub fn send_raw_transaction(params: &Params<'_>) -> ParamsResult<HexBytes> {
    params.parse().map(|(raw,)| raw)
}

/// `ordo_getReceipt`: `["0x<tx hash>"]`.
pub fn get_receipt(params: &Params<'_>) -> ParamsResult<Hash32> {
    params.parse().map(|(hash,)| hash)
}

/// `ordo_getBlock`: `[height]`.
pub fn get_block(params: &Params<'_>) -> ParamsResult<u64> {
    params.parse().map(|(height,)| height)
}

/// `ordo_getRollupBatch`: `[rollup, height]`.
pub fn get_rollup_batch(params: &Params<'_>) -> ParamsResult<(RollupId, u64)> {
    params.parse()
}

/// `ordo_getRollupBatches`: `[rollup, from, limit?]`.
pub fn get_rollup_batches(params: &Params<'_>) -> ParamsResult<(RollupId, u64, Option<usize>)> {
    let mut seq = params.sequence();
    Ok((seq.next()?, seq.next()?, seq.optional_next()?))
}

/// `ordo_subscribeReceipts`: `[]` (every transaction) or `[["0x<tx hash>", ...]]`, at most
/// [`MAX_RECEIPT_FILTER`] hashes.
pub fn subscribe_receipts(params: &Params<'_>) -> ParamsResult<Option<HashSet<TxHash>>> {
    let Some(hashes) = params.sequence().optional_next::<Vec<Hash32>>()? else {
        return Ok(None);
    };
    at_most(
        MAX_RECEIPT_FILTER,
        hashes.len(),
        "transaction hashes per subscription",
    )?;
    Ok(Some(hashes.into_iter().map(|h| h.0).collect()))
}

/// Refuses a list longer than `most` ("at most {most} {what}, got {got}").
fn at_most(most: usize, got: usize, what: &str) -> ParamsResult<()> {
    if got > most {
        return Err(ErrorObject::owned(
            INVALID_PARAMS_CODE,
            format!("at most {most} {what}, got {got}"),
            None::<()>,
        ));
    }
    Ok(())
}

/// `ordo_subscribeRollupBatches`: `[rollup]`.
pub fn subscribe_rollup_batches(params: &Params<'_>) -> ParamsResult<RollupId> {
    params.parse().map(|(rollup,)| rollup)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(json: &str) -> Params<'_> {
        Params::new(Some(json))
    }

    #[test]
    fn hex_parameters_need_the_prefix_and_whole_bytes() {
        let (rollup, raw) = send_transaction(&params(r#"[903, "0x6869"]"#)).unwrap();
        assert_eq!((rollup, raw.0.as_ref()), (903, b"hi".as_ref()));
        assert!(send_transaction(&params(r#"[903, "6869"]"#)).is_err());
        assert!(send_transaction(&params(r#"[903, "0x686"]"#)).is_err());
        assert!(send_transaction(&params(r#"[903, "0x0x6869"]"#)).is_err());
        let (rollup, txs) = send_transactions(&params(r#"[903, ["0x6869", "0x"]]"#)).unwrap();
        assert_eq!(
            (rollup, txs.len(), txs[0].0.as_ref()),
            (903, 2, b"hi".as_ref())
        );
        assert!(send_transactions(&params(r#"[903, ["6869"]]"#)).is_err());
        assert!(send_transactions(&params(r#"[903, "0x6869"]"#)).is_err());
        let most = format!(
            r#"[903, [{}]]"#,
            vec![r#""0x01""#; MAX_TXS_PER_SUBMISSION].join(",")
        );
        assert!(send_transactions(&params(&most)).is_ok());
        let over = format!(
            r#"[903, [{}]]"#,
            vec![r#""0x01""#; MAX_TXS_PER_SUBMISSION + 1].join(",")
        );
        let error = send_transactions(&params(&over)).unwrap_err();
        assert!(
            error.message().contains("at most 1024 transactions"),
            "{error:?}"
        );
        assert!(send_transaction(&params(r#"[-1, "0x"]"#)).is_err());
        let hash = format!(r#"["0x{}"]"#, "ab".repeat(32));
        assert_eq!(get_receipt(&params(&hash)).unwrap().0, [0xab; 32]);
        let short = format!(r#"["0x{}"]"#, "ab".repeat(31));
        let error = get_receipt(&params(&short)).unwrap_err();
        assert_eq!(error.code(), INVALID_PARAMS_CODE);
        // jsonrpsee puts serde's reason in the error's data, under the generic message.
        let reason = error
            .data()
            .map(|d| d.get().to_string())
            .unwrap_or_default();
        assert!(reason.contains("expected 32 bytes, got 31"), "{error:?}");
    }

    #[test]
    fn optional_and_missing_parameters() {
        assert_eq!(
            get_rollup_batches(&params("[901, 5]")).unwrap(),
            (901, 5, None)
        );
        assert_eq!(
            get_rollup_batches(&params("[901, 5, 10]")).unwrap(),
            (901, 5, Some(10))
        );
        assert!(get_rollup_batches(&params("[901]")).is_err());
        assert!(get_block(&Params::new(None)).is_err());
        assert_eq!(subscribe_receipts(&Params::new(None)).unwrap(), None);
        assert_eq!(subscribe_receipts(&params("[]")).unwrap(), None);
        let too_many = serde_json::to_string(&[vec![
            format!("0x{}", "00".repeat(32));
            MAX_RECEIPT_FILTER + 1
        ]])
        .unwrap();
        assert!(subscribe_receipts(&params(&too_many)).is_err());
    }
}
