//! The rollup's settings, read from the same rollup.json op-node is given (so the adapter and
//! op-node cannot disagree), and checked for what the adapter supports.

use crate::derive::Schedule;
use alloy_primitives::{Address, B256, U256};
use anyhow::{anyhow, bail, Context};
use kona_genesis::{ChainGenesis, HardForkConfig, RollupConfig, SystemConfig};
use serde_json::Value;
use std::path::Path;

/// What the adapter uses of rollup.json.
#[derive(Clone, Debug)]
pub struct RollupSettings {
    pub chain_id: u64,
    pub schedule: Schedule,
    pub max_sequencer_drift: u64,
    pub l1_genesis: (u64, B256),
    pub l2_genesis: (u64, B256),
    pub batch_inbox: Address,
    pub deposit_contract: Address,
    pub gas_limit: u64,
    /// Holocene's `eip1559Params` attribute (denominator, elasticity; zeros: the chain's defaults).
    pub eip1559_params: [u8; 8],
    pub isthmus: bool,
    /// The same settings in kona's form, for the L1-info transaction and batch decoding.
    pub kona: RollupConfig,
}

fn field<'a>(v: &'a Value, path: &str) -> anyhow::Result<&'a Value> {
    path.split('.')
        .try_fold(v, |v, key| v.get(key))
        .ok_or_else(|| anyhow!("rollup.json has no `{path}`"))
}

fn u64_at(v: &Value, path: &str) -> anyhow::Result<u64> {
    let value = field(v, path)?;
    value
        .as_u64()
        .or_else(|| {
            value
                .as_str()
                .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        })
        .ok_or_else(|| anyhow!("rollup.json `{path}` is not a number: {value}"))
}

fn parsed<T: std::str::FromStr>(v: &Value, path: &str) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    let value = field(v, path)?;
    let s = value
        .as_str()
        .ok_or_else(|| anyhow!("rollup.json `{path}` is not a string: {value}"))?;
    s.parse()
        .map_err(|e| anyhow!("rollup.json `{path}` = {s}: {e}"))
}

fn fork(v: &Value, name: &str) -> Option<u64> {
    v.get(name).and_then(Value::as_u64)
}

impl RollupSettings {
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading rollup config {}", path.display()))?;
        let json: Value = serde_json::from_str(&text)
            .with_context(|| format!("rollup config {} is not JSON", path.display()))?;
        Self::from_json(&json).with_context(|| format!("rollup config {}", path.display()))
    }

    pub fn from_json(v: &Value) -> anyhow::Result<Self> {
        let schedule = Schedule {
            genesis_time: u64_at(v, "genesis.l2_time")?,
            block_time: u64_at(v, "block_time")?,
        };
        if schedule.block_time == 0 {
            bail!("`block_time` must be positive");
        }
        let hardforks = HardForkConfig {
            regolith_time: fork(v, "regolith_time"),
            canyon_time: fork(v, "canyon_time"),
            delta_time: fork(v, "delta_time"),
            ecotone_time: fork(v, "ecotone_time"),
            fjord_time: fork(v, "fjord_time"),
            granite_time: fork(v, "granite_time"),
            holocene_time: fork(v, "holocene_time"),
            pectra_blob_schedule_time: fork(v, "pectra_blob_schedule_time"),
            isthmus_time: fork(v, "isthmus_time"),
            jovian_time: fork(v, "jovian_time"),
            interop_time: fork(v, "interop_time"),
        };
        // Forks that activate after genesis add upgrade transactions the adapter does not build.
        let t0 = schedule.genesis_time;
        for (name, time) in [
            ("regolith_time", hardforks.regolith_time),
            ("canyon_time", hardforks.canyon_time),
            ("delta_time", hardforks.delta_time),
            ("ecotone_time", hardforks.ecotone_time),
            ("fjord_time", hardforks.fjord_time),
            ("granite_time", hardforks.granite_time),
            ("holocene_time", hardforks.holocene_time),
        ] {
            match time {
                Some(t) if t <= t0 => {}
                _ => bail!("`{name}` must be active at genesis (<= {t0}); the adapter builds Holocene blocks"),
            }
        }
        for (name, time) in [
            ("isthmus_time", hardforks.isthmus_time),
            ("jovian_time", hardforks.jovian_time),
            ("interop_time", hardforks.interop_time),
        ] {
            if time.is_some_and(|t| t > t0) {
                bail!("`{name}` must be unset or active at genesis");
            }
        }
        if hardforks.jovian_time.is_some() || hardforks.interop_time.is_some() {
            bail!("Jovian and Interop are not supported by the adapter yet");
        }
        let sys = field(v, "genesis.system_config")?;
        let gas_limit = u64_at(sys, "gasLimit")?;
        let mut eip1559_params = [0u8; 8];
        if let Some(s) = sys.get("eip1559Params").and_then(Value::as_str) {
            let bytes = hex::decode(s.trim_start_matches("0x"))
                .context("`genesis.system_config.eip1559Params` is not hex")?;
            eip1559_params = bytes
                .try_into()
                .map_err(|_| anyhow!("`genesis.system_config.eip1559Params` is not 8 bytes"))?;
        }
        let system_config = SystemConfig {
            batcher_address: parsed(sys, "batcherAddr")?,
            overhead: parsed::<B256>(sys, "overhead")?.into(),
            scalar: U256::from_be_bytes(parsed::<B256>(sys, "scalar")?.0),
            gas_limit,
            ..Default::default()
        };
        let l1_genesis = (
            u64_at(v, "genesis.l1.number")?,
            parsed(v, "genesis.l1.hash")?,
        );
        let l2_genesis = (
            u64_at(v, "genesis.l2.number")?,
            parsed(v, "genesis.l2.hash")?,
        );
        if l2_genesis.0 != 0 {
            bail!("`genesis.l2.number` must be 0");
        }
        let chain_id = u64_at(v, "l2_chain_id")?;
        let mut kona = RollupConfig {
            genesis: ChainGenesis {
                l1: alloy_eips_v1(l1_genesis),
                l2: alloy_eips_v1(l2_genesis),
                l2_time: t0,
                system_config: Some(system_config),
            },
            block_time: schedule.block_time,
            max_sequencer_drift: u64_at(v, "max_sequencer_drift")?,
            seq_window_size: u64_at(v, "seq_window_size")?,
            channel_timeout: u64_at(v, "channel_timeout")?,
            l1_chain_id: u64_at(v, "l1_chain_id")?,
            l2_chain_id: chain_id.into(),
            hardforks,
            batch_inbox_address: parsed(v, "batch_inbox_address")?,
            deposit_contract_address: parsed(v, "deposit_contract_address")?,
            l1_system_config_address: parsed(v, "l1_system_config_address")?,
            ..Default::default()
        };
        kona.granite_channel_timeout = kona_genesis::GRANITE_CHANNEL_TIMEOUT;
        Ok(Self {
            chain_id,
            schedule,
            max_sequencer_drift: kona.max_sequencer_drift(t0),
            l1_genesis,
            l2_genesis,
            batch_inbox: kona.batch_inbox_address,
            deposit_contract: kona.deposit_contract_address,
            gas_limit,
            eip1559_params,
            isthmus: kona.hardforks.isthmus_time.is_some(),
            kona,
        })
    }

    pub fn system_config(&self) -> &SystemConfig {
        self.kona
            .genesis
            .system_config
            .as_ref()
            .expect("set by from_json")
    }
}

fn alloy_eips_v1((number, hash): (u64, B256)) -> alloy_eips_v1::eip1898::BlockNumHash {
    alloy_eips_v1::eip1898::BlockNumHash { number, hash }
}
