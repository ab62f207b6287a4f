//! A devnet rollup's files: op-geth's L2 genesis and op-node's rollup.json, written here so a
//! rollup needs nothing but this binary, op-geth, op-node and an L1.
//!
//! Every fork up to Holocene is active from genesis (the adapter builds Holocene blocks). The L2
//! genesis holds no predeploys: the L1-info deposit calls an empty account (a no-op), so L1 data
//! fees read as zero, and nothing in block building or derivation needs more.

use alloy_primitives::{Address, B256, U256};
use serde_json::{json, Value};

/// Fee vault, EIP-1559 and other fixed values of a devnet rollup.
pub const L2_GAS_LIMIT: u64 = 60_000_000;
/// Canyon's EIP-1559 parameters (op-geth's defaults for OP chains).
const EIP1559_ELASTICITY: u64 = 6;
const EIP1559_DENOMINATOR: u64 = 50;
const EIP1559_DENOMINATOR_CANYON: u64 = 250;

/// The L2 chain every devnet rollup starts from: `alloc` funded, Holocene from `timestamp`.
pub fn l2_genesis(chain_id: u64, timestamp: u64, alloc: &[(Address, U256)]) -> Value {
    let alloc: serde_json::Map<String, Value> = alloc
        .iter()
        .map(|(a, balance)| {
            (
                format!("{a:#x}"),
                json!({ "balance": format!("{balance:#x}") }),
            )
        })
        .collect();
    json!({
        "config": {
            "chainId": chain_id,
            "homesteadBlock": 0, "eip150Block": 0, "eip155Block": 0, "eip158Block": 0,
            "byzantiumBlock": 0, "constantinopleBlock": 0, "petersburgBlock": 0,
            "istanbulBlock": 0, "muirGlacierBlock": 0, "berlinBlock": 0, "londonBlock": 0,
            "arrowGlacierBlock": 0, "grayGlacierBlock": 0, "mergeNetsplitBlock": 0,
            "shanghaiTime": 0, "cancunTime": 0,
            "bedrockBlock": 0, "regolithTime": 0, "canyonTime": 0, "deltaTime": 0,
            "ecotoneTime": 0, "fjordTime": 0, "graniteTime": 0, "holoceneTime": 0,
            "terminalTotalDifficulty": 0,
            "depositContractAddress": "0x0000000000000000000000000000000000000000",
            "optimism": {
                "eip1559Elasticity": EIP1559_ELASTICITY,
                "eip1559Denominator": EIP1559_DENOMINATOR,
                "eip1559DenominatorCanyon": EIP1559_DENOMINATOR_CANYON
            }
        },
        "nonce": "0x0",
        "timestamp": format!("{timestamp:#x}"),
        // Holocene: version 0, then the EIP-1559 denominator and elasticity (u32 each).
        "extraData": format!("0x00{:08x}{:08x}", EIP1559_DENOMINATOR_CANYON, EIP1559_ELASTICITY),
        "gasLimit": format!("{L2_GAS_LIMIT:#x}"),
        "difficulty": "0x0",
        "mixHash": B256::ZERO,
        "coinbase": Address::ZERO,
        "baseFeePerGas": "0x3b9aca00",
        "alloc": alloc,
    })
}

/// Where the rollup's L1 side lives.
pub struct L1Anchor {
    pub chain_id: u64,
    pub number: u64,
    pub hash: B256,
}

/// op-node's rollup.json for the L2 genesis `l2_hash` (what op-geth wrote at `geth init`).
pub fn rollup_config(
    chain_id: u64,
    l1: &L1Anchor,
    l2_hash: B256,
    l2_time: u64,
    block_time: u64,
    batcher: Address,
) -> Value {
    // Codeless L1 addresses: derivation finds no deposits and no system config updates there.
    let marker = |tag: u64| format!("0x{tag:04x}{:036x}", chain_id);
    json!({
        "genesis": {
            "l1": { "hash": l1.hash, "number": l1.number },
            "l2": { "hash": l2_hash, "number": 0 },
            "l2_time": l2_time,
            "system_config": {
                "batcherAddr": batcher,
                "overhead": B256::ZERO,
                // Ecotone scalar encoding: version 1, blob base fee scalar 0, base fee scalar 0.
                "scalar": format!("0x01{}", "0".repeat(62)),
                "gasLimit": L2_GAS_LIMIT,
                "eip1559Params": "0x0000000000000000",
            }
        },
        "block_time": block_time,
        "max_sequencer_drift": 600,
        "seq_window_size": 3600,
        "channel_timeout": 300,
        "l1_chain_id": l1.chain_id,
        "l2_chain_id": chain_id,
        "regolith_time": 0, "canyon_time": 0, "delta_time": 0, "ecotone_time": 0,
        "fjord_time": 0, "granite_time": 0, "holocene_time": 0,
        // The OP Stack convention: 0xff00..00 followed by the chain id's decimal digits.
        "batch_inbox_address": format!("0xff{chain_id:0>38}"),
        "deposit_contract_address": marker(0xdead),
        "l1_system_config_address": marker(0x5c0f),
        "protocol_versions_address": Address::ZERO,
        // op-node translates Holocene's zero EIP-1559 parameters with these, as op-geth does.
        "chain_op_config": {
            "eip1559Elasticity": EIP1559_ELASTICITY,
            "eip1559Denominator": EIP1559_DENOMINATOR,
            "eip1559DenominatorCanyon": EIP1559_DENOMINATOR_CANYON
        },
    })
}

/// The L1 chain config op-node needs for an L1 outside its registry (`--rollup.l1-chain-config`):
/// an anvil-like chain with every fork through Prague from genesis.
pub fn l1_chain_config(chain_id: u64) -> Value {
    json!({
        "chainId": chain_id,
        "homesteadBlock": 0, "eip150Block": 0, "eip155Block": 0, "eip158Block": 0,
        "byzantiumBlock": 0, "constantinopleBlock": 0, "petersburgBlock": 0, "istanbulBlock": 0,
        "berlinBlock": 0, "londonBlock": 0, "mergeNetsplitBlock": 0,
        "terminalTotalDifficulty": 0,
        "shanghaiTime": 0, "cancunTime": 0, "pragueTime": 0,
        "blobSchedule": {
            "cancun": { "target": 3, "max": 6, "baseFeeUpdateFraction": 3338477 },
            "prague": { "target": 6, "max": 9, "baseFeeUpdateFraction": 5007716 }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RollupSettings;

    #[test]
    fn the_adapter_reads_the_rollup_config_it_writes() {
        let l1 = L1Anchor {
            chain_id: 31337,
            number: 7,
            hash: B256::repeat_byte(7),
        };
        let batcher = Address::repeat_byte(0xba);
        let json = rollup_config(901, &l1, B256::repeat_byte(2), 1_700_000_000, 1, batcher);
        assert_eq!(
            json["batch_inbox_address"],
            "0xff00000000000000000000000000000000000901"
        );
        let s = RollupSettings::from_json(&json).unwrap();
        assert_eq!(s.chain_id, 901);
        assert_eq!(s.l1_genesis, (7, B256::repeat_byte(7)));
        assert_eq!(s.system_config().batcher_address, batcher);
        assert_eq!(s.schedule.timestamp(2), 1_700_000_002);
        assert!(!s.isthmus);
        let mut late = json.clone();
        late["holocene_time"] = json!(1_800_000_000u64);
        let err = RollupSettings::from_json(&late).unwrap_err().to_string();
        assert!(err.contains("holocene_time"), "{err}");
    }

    #[test]
    fn genesis_funds_the_accounts_and_encodes_holocene_extra_data() {
        let a = Address::repeat_byte(1);
        let g = l2_genesis(901, 5, &[(a, U256::from(10))]);
        assert_eq!(g["alloc"][format!("{a:#x}")]["balance"], "0xa");
        assert_eq!(g["extraData"], "0x00000000fa00000006");
        assert_eq!(g["config"]["chainId"], 901);
    }
}
