//! `verify`: checks a receipt or rollup batch with `ordo-light`, offline.

use anyhow::{anyhow, Context as _, Result};
use ordo_light::{Certified, GroupKey};
use std::path::Path;

fn decode(bytes: Vec<u8>) -> Result<Certified> {
    Ok(Certified::decode(&bytes)?)
}

fn hex_payload(s: &str) -> Result<Vec<u8>> {
    hex::decode(s.trim().trim_start_matches("0x")).map_err(|e| anyhow!("bad hex: {e}"))
}

/// Reads the `encoded` field of RPC JSON (at the top or under `receipt`), else hex, else binary.
fn read_item(path: &Path) -> Result<Certified> {
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
    let item = read_item(path)?;
    let kind = key
        .verify(&item)
        .map_err(|e| anyhow!("{} INVALID: {e}", item.noun()))?;
    Ok(format!("{} OK: {}", item.noun(), item.summary(kind)))
}
