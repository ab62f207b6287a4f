//! `verify`: checks a receipt or rollup batch with `ordo-light`, offline.

use anyhow::{anyhow, Context as _, Result};
use commonware_codec::Decode;
use ordo_light::GroupKey;
use ordo_types::{BlockLimits, Receipt, RollupBatch};
use std::path::Path;

/// What the file holds once decoded.
enum Item {
    Receipt(Receipt),
    Batch(RollupBatch),
}

fn decode(bytes: Vec<u8>) -> Result<Item> {
    if let Ok(r) = Receipt::decode_cfg(bytes.clone(), &BlockLimits::UNBOUNDED.max_rollups) {
        return Ok(Item::Receipt(r));
    }
    RollupBatch::decode_cfg(bytes, &BlockLimits::UNBOUNDED)
        .map(Item::Batch)
        .map_err(|e| anyhow!("neither a receipt nor a rollup batch: {e}"))
}

fn hex_payload(s: &str) -> Result<Vec<u8>> {
    hex::decode(s.trim().trim_start_matches("0x")).map_err(|e| anyhow!("bad hex: {e}"))
}

/// Reads the `encoded` field of RPC JSON (at the top or under `receipt`), else hex, else binary.
fn read_item(path: &Path) -> Result<Item> {
    let raw = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(&raw) {
        let json = json.get("result").unwrap_or(&json);
        let encoded = json
            .get("encoded")
            .or_else(|| json.get("receipt").and_then(|r| r.get("encoded")))
            .and_then(|v| v.as_str())
            .context("JSON has no `encoded` field (expected ordo_getReceipt or ordo_getRollupBatch output)")?;
        return decode(hex_payload(encoded)?);
    }
    let text = String::from_utf8_lossy(&raw);
    if let Ok(bytes) = hex_payload(&text) {
        return decode(bytes);
    }
    decode(raw)
}

pub fn verify_file(group_key: &str, path: &Path) -> Result<String> {
    let key = GroupKey::from_hex(group_key)?;
    match read_item(path)? {
        Item::Receipt(r) => {
            let kind = key
                .verify_receipt(&r)
                .map_err(|e| anyhow!("receipt INVALID: {e}"))?;
            Ok(format!(
                "receipt OK: tx 0x{} of rollup {} at height {} (index {}, view {}) is {}{}",
                hex::encode(r.tx_hash),
                r.rollup,
                r.height(),
                r.index(),
                r.certificate.view,
                kind.as_str(),
                if r.forced() { ", forced" } else { "" }
            ))
        }
        Item::Batch(b) => {
            let kind = key
                .verify_rollup_batch(&b)
                .map_err(|e| anyhow!("batch INVALID: {e}"))?;
            Ok(format!(
                "rollup batch OK: rollup {} height {} with {} transactions is {}",
                b.rollup,
                b.header.height,
                b.txs.len(),
                kind.as_str()
            ))
        }
    }
}
