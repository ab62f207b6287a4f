//! Builds L2 blocks through op-geth's Engine API and hands each to op-node as its unsafe head.
//!
//! op-node stays in charge of op-geth's fork choice: the adapter asks op-geth to build on the
//! current head (`engine_forkchoiceUpdatedV3` with attributes, then `engine_getPayload`) and
//! gives the payload to op-node (`admin_postUnsafePayload`), which inserts it like one received
//! from a sequencer over p2p. When the batches reach L1, op-node derives the same blocks and
//! marks them safe.

use crate::{
    config::RollupSettings,
    derive::{self, Account, BlockStamp, Candidate, Dropped, FilterRules},
    ordo::{OrdoBlock, OrdoStream},
    rpc::{Client, RpcError},
};
use alloy_eips_v1::eip2718::Encodable2718 as _;
use alloy_primitives::{Address, Bytes, Log, B256, U256};
use anyhow::{anyhow, bail, Context};
use kona_protocol::{decode_deposit, L1BlockInfoTx, DEPOSIT_EVENT_ABI_HASH};
use serde::Deserialize;
use serde_json::{json, Value};
use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

/// The L2 fee vault every OP Stack block pays its fees to.
const SEQUENCER_FEE_VAULT: &str = "0x4200000000000000000000000000000000000011";
/// Gas op-node budgets for the L1-info deposit (since Regolith).
const L1_INFO_GAS: u64 = 1_000_000;

/// The endpoints the builder talks to.
#[derive(Clone)]
pub struct Endpoints {
    pub l1: Client,
    /// op-geth's authenticated Engine API.
    pub engine: Client,
    /// op-geth's public RPC.
    pub l2: Client,
    /// op-node's RPC (admin API enabled).
    pub node: Client,
}

/// The L2 head the next block builds on.
#[derive(Clone, Debug)]
pub struct Head {
    pub number: u64,
    pub hash: B256,
    pub timestamp: u64,
    pub origin: BlockStamp,
    pub sequence_number: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RpcBlock {
    hash: B256,
    #[serde(with = "hex_quantity")]
    number: u64,
    #[serde(with = "hex_quantity")]
    timestamp: u64,
    #[serde(default)]
    transactions: Vec<Value>,
}

/// Hex quantity (de)serialisation without another dependency.
mod hex_quantity {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let s = String::deserialize(d)?;
        u64::from_str_radix(s.trim_start_matches("0x"), 16).map_err(serde::de::Error::custom)
    }
}

fn quantity(n: u64) -> String {
    format!("{n:#x}")
}

#[derive(Deserialize)]
struct BlockRef {
    hash: B256,
    number: u64,
}

/// op-node's `optimism_syncStatus`, the parts the adapter uses.
#[derive(Deserialize)]
pub struct SyncStatus {
    unsafe_l2: BlockRef,
    safe_l2: BlockRef,
    finalized_l2: BlockRef,
}

impl SyncStatus {
    pub fn unsafe_number(&self) -> u64 {
        self.unsafe_l2.number
    }
    pub fn safe_number(&self) -> u64 {
        self.safe_l2.number
    }
}

pub async fn sync_status(node: &Client) -> Result<SyncStatus, RpcError> {
    node.call("optimism_syncStatus", json!([])).await
}

/// Builds the rollup's L2 chain from Ordo's stream.
pub struct Builder {
    pub settings: RollupSettings,
    pub endpoints: Endpoints,
    head: Head,
    /// Ordo blocks of the slot being filled (that of block `head.number + 1`).
    pending: Vec<OrdoBlock>,
    /// L1 block the newest Ordo block names.
    ordo_l1: u64,
    /// Transactions dropped by the filtering rule so far.
    pub dropped: u64,
}

impl Builder {
    /// Reads where op-geth's chain is (its newest block, the L1 origin in its L1-info deposit).
    pub async fn resume(settings: RollupSettings, endpoints: Endpoints) -> anyhow::Result<Self> {
        let latest: RpcBlock = endpoints
            .l2
            .call("eth_getBlockByNumber", json!(["latest", true]))
            .await?;
        let head = if latest.number == 0 {
            if latest.hash != settings.l2_genesis.1 {
                bail!(
                    "op-geth's genesis {} is not rollup.json's {}",
                    latest.hash,
                    settings.l2_genesis.1
                );
            }
            let origin = block_by_number(&endpoints.l1, settings.l1_genesis.0).await?;
            if origin.hash != settings.l1_genesis.1 {
                bail!("L1 block {} is not rollup.json's genesis.l1", origin.number);
            }
            if origin.timestamp > latest.timestamp {
                bail!(
                    "rollup.json's genesis.l1 (timestamp {}) is newer than the L2 genesis ({}): \
                     no L2 block could have it as origin",
                    origin.timestamp,
                    latest.timestamp
                );
            }
            Head {
                number: 0,
                hash: latest.hash,
                timestamp: latest.timestamp,
                origin,
                sequence_number: 0,
            }
        } else {
            let input = latest
                .transactions
                .first()
                .and_then(|tx| tx.get("input"))
                .and_then(Value::as_str)
                .ok_or_else(|| anyhow!("L2 block {} has no L1-info deposit", latest.number))?;
            let info =
                L1BlockInfoTx::decode_calldata(&hex::decode(input.trim_start_matches("0x"))?)
                    .map_err(|e| anyhow!("L1-info deposit of block {}: {e:?}", latest.number))?;
            let origin = block_by_number(&endpoints.l1, info.id().number).await?;
            if origin.hash != info.block_hash() {
                bail!("L1 re-organised below L2 block {}'s origin", latest.number);
            }
            Head {
                number: latest.number,
                hash: latest.hash,
                timestamp: latest.timestamp,
                origin,
                sequence_number: info.sequence_number(),
            }
        };
        if settings.schedule.timestamp(head.number) != head.timestamp {
            bail!(
                "L2 block {} has timestamp {}, rollup.json's schedule says {}",
                head.number,
                head.timestamp,
                settings.schedule.timestamp(head.number)
            );
        }
        let ordo_l1 = head.origin.number;
        Ok(Self {
            settings,
            endpoints,
            head,
            pending: Vec::new(),
            ordo_l1,
            dropped: 0,
        })
    }

    pub fn head(&self) -> &Head {
        &self.head
    }

    /// Follows `stream` for ever, building every L2 block as soon as its slot is closed.
    pub async fn run(mut self, mut stream: OrdoStream) -> anyhow::Result<()> {
        loop {
            let block = stream.next().await?;
            self.push(block).await?;
        }
    }

    /// Takes the next finalized Ordo block; builds the L2 blocks whose slots it closes.
    pub async fn push(&mut self, block: OrdoBlock) -> anyhow::Result<()> {
        let slot = self.settings.schedule.slot_of(block.timestamp_ms);
        if slot <= self.head.number {
            tracing::debug!(
                height = block.height,
                slot,
                "Ordo block already built into L2"
            );
            return Ok(());
        }
        while self.head.number + 1 < slot {
            let ordo = std::mem::take(&mut self.pending);
            self.build_next(&ordo).await?;
        }
        self.ordo_l1 = self.ordo_l1.max(block.l1.number);
        self.pending.push(block);
        Ok(())
    }

    /// Builds block `head + 1` from the Ordo blocks of its slot, retrying what fails for reasons
    /// outside the rules (an endpoint down) until it succeeds.
    async fn build_next(&mut self, ordo: &[OrdoBlock]) -> anyhow::Result<()> {
        let mut delay = Duration::from_millis(100);
        loop {
            match self.try_build_next(ordo).await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tracing::warn!(
                        block = self.head.number + 1,
                        "building failed: {e:#}; retrying"
                    );
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    async fn try_build_next(&mut self, ordo: &[OrdoBlock]) -> anyhow::Result<()> {
        let started = Instant::now();
        let s = &self.settings;
        let number = self.head.number + 1;
        let timestamp = s.schedule.timestamp(number);
        let ordo_l1 = ordo
            .last()
            .map_or(self.ordo_l1, |b| b.l1.number)
            .max(self.ordo_l1);

        let wants_next = ordo_l1 > self.head.origin.number
            || timestamp > self.head.origin.timestamp + s.max_sequencer_drift;
        let next = if wants_next {
            let next = block_by_number(&self.endpoints.l1, self.head.origin.number + 1).await?;
            Some(next)
        } else {
            None
        };
        let (advance, may_carry_txs) = derive::choose_origin(
            &self.head.origin,
            next.as_ref(),
            ordo_l1,
            timestamp,
            s.max_sequencer_drift,
        );
        let (origin, sequence_number) = match (advance, next) {
            (true, Some(next)) => (next, 0),
            _ => (self.head.origin, self.head.sequence_number + 1),
        };
        let origin_header = l1_header(&self.endpoints.l1, origin.hash).await?;
        if advance && origin_header.parent_hash != self.head.origin.hash {
            bail!(
                "L1 re-organised: block {} does not follow the current origin",
                origin.number
            );
        }

        // Deposits: the L1-info transaction, then (in an epoch's first block) the user deposits.
        let (_, info) = L1BlockInfoTx::try_new_with_deposit_tx(
            &s.kona,
            s.system_config(),
            sequence_number,
            &origin_header,
            timestamp,
        )
        .map_err(|e| anyhow!("L1-info transaction: {e:?}"))?;
        let mut deposits = vec![Bytes::from(info.encoded_2718())];
        if sequence_number == 0 {
            deposits
                .extend(user_deposits(&self.endpoints.l1, s.deposit_contract, origin.hash).await?);
        }
        let rules = FilterRules {
            chain_id: s.chain_id,
            gas_budget: s
                .gas_limit
                .saturating_sub(L1_INFO_GAS)
                .saturating_sub(deposit_gas_limits(&deposits[1..])),
            allow_set_code: s.isthmus,
        };

        let mut dropped = Vec::new();
        let txs: Vec<Bytes> = ordo
            .iter()
            .flat_map(|b| b.txs.iter().map(|t| Bytes::from(t.clone())))
            .collect();
        let mut kept = if may_carry_txs {
            let candidates = derive::decode(&txs, &rules, &mut dropped);
            let accounts = self.accounts(&candidates).await?;
            derive::filter(candidates, &accounts, &rules, &mut dropped)
        } else {
            for raw in &txs {
                dropped.push(Dropped {
                    hash: alloy_primitives::keccak256(raw),
                    reason: "the block is past the sequencer drift and may carry no transactions"
                        .into(),
                });
            }
            Vec::new()
        };

        let status = sync_status(&self.endpoints.node).await?;
        let payload = loop {
            match self
                .payload(&status, timestamp, &origin_header, &deposits, &kept)
                .await
            {
                Ok(payload) => break payload,
                Err(e) => {
                    // op-geth names the transaction it could not apply: drop it and rebuild.
                    let Some(i) = derive::refused_tx(e.message(), &kept) else {
                        return Err(e.into());
                    };
                    let c = kept.remove(i);
                    dropped.push(Dropped {
                        hash: c.hash,
                        reason: format!("op-geth refused it: {}", e.message()),
                    });
                }
            }
        };
        let hash: B256 = serde_json::from_value(payload["executionPayload"]["blockHash"].clone())
            .context("payload without blockHash")?;
        let envelope = json!({
            "executionPayload": payload["executionPayload"],
            "parentBeaconBlockRoot": origin_header.parent_beacon_block_root.unwrap_or_default(),
        });
        self.endpoints
            .node
            .call::<Value>("admin_postUnsafePayload", json!([envelope]))
            .await?;
        self.wait_for_head(number, hash).await?;
        for d in &dropped {
            tracing::info!(block = number, tx = %d.hash, reason = %d.reason, "transaction filtered");
        }
        self.dropped += dropped.len() as u64;
        tracing::info!(
            block = number,
            %hash,
            txs = kept.len(),
            filtered = dropped.len(),
            ordo_blocks = ordo.len(),
            l1_origin = origin.number,
            took_ms = started.elapsed().as_millis() as u64,
            "built L2 block"
        );
        self.head = Head {
            number,
            hash,
            timestamp,
            origin,
            sequence_number,
        };
        Ok(())
    }

    /// Sender states at the head, for the nonce and balance rules.
    async fn accounts(
        &self,
        candidates: &[Candidate],
    ) -> anyhow::Result<HashMap<Address, Account>> {
        let at = json!({ "blockHash": self.head.hash });
        let mut accounts = HashMap::new();
        for c in candidates {
            if accounts.contains_key(&c.sender) {
                continue;
            }
            let nonce: U256 = self
                .endpoints
                .l2
                .call("eth_getTransactionCount", json!([c.sender, at]))
                .await?;
            let balance: U256 = self
                .endpoints
                .l2
                .call("eth_getBalance", json!([c.sender, at]))
                .await?;
            accounts.insert(
                c.sender,
                Account {
                    nonce: nonce.to(),
                    balance,
                },
            );
        }
        Ok(accounts)
    }

    /// Asks op-geth for the block (building on the head) and returns its payload envelope.
    async fn payload(
        &self,
        status: &SyncStatus,
        timestamp: u64,
        origin: &alloy_consensus_v1::Header,
        deposits: &[Bytes],
        kept: &[Candidate],
    ) -> Result<Value, RpcError> {
        let s = &self.settings;
        let transactions: Vec<&Bytes> =
            deposits.iter().chain(kept.iter().map(|c| &c.raw)).collect();
        let mut attributes = json!({
            "timestamp": quantity(timestamp),
            "prevRandao": origin.mix_hash,
            "suggestedFeeRecipient": SEQUENCER_FEE_VAULT,
            "withdrawals": [],
            "parentBeaconBlockRoot": origin.parent_beacon_block_root.unwrap_or_default(),
            "transactions": transactions,
            "noTxPool": true,
            "gasLimit": quantity(s.gas_limit),
        });
        if s.kona.is_holocene_active(timestamp) {
            attributes["eip1559Params"] = json!(format!("0x{}", hex::encode(s.eip1559_params)));
        }
        let state = json!({
            "headBlockHash": self.head.hash,
            "safeBlockHash": status.safe_l2.hash,
            "finalizedBlockHash": status.finalized_l2.hash,
        });
        let answer: Value = self
            .endpoints
            .engine
            .call("engine_forkchoiceUpdatedV3", json!([state, attributes]))
            .await?;
        let status_text = answer["payloadStatus"]["status"].as_str().unwrap_or("");
        let Some(id) = answer["payloadId"]
            .as_str()
            .filter(|_| status_text == "VALID")
        else {
            return Err(RpcError::Decode {
                url: self.endpoints.engine.url().to_string(),
                method: "engine_forkchoiceUpdatedV3".into(),
                detail: format!("no payload: {answer}"),
            });
        };
        let get = if s.isthmus {
            "engine_getPayloadV4"
        } else {
            "engine_getPayloadV3"
        };
        self.endpoints.engine.call(get, json!([id])).await
    }

    /// Waits until op-node has made `hash` op-geth's head.
    async fn wait_for_head(&self, number: u64, hash: B256) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let status = sync_status(&self.endpoints.node).await?;
            if status.unsafe_l2.number >= number {
                let at: Option<RpcBlock> = self
                    .endpoints
                    .l2
                    .call("eth_getBlockByNumber", json!([quantity(number), false]))
                    .await?;
                match at {
                    Some(b) if b.hash == hash => return Ok(()),
                    Some(b) => bail!(
                        "op-node's block {number} is {}, not the adapter's {hash} (another sequencer?)",
                        b.hash
                    ),
                    None => {}
                }
            }
            if Instant::now() > deadline {
                bail!("op-node did not adopt block {number} ({hash}) within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Sum of the deposits' gas limits (they are charged to the block's gas before Ordo's txs).
fn deposit_gas_limits(deposits: &[Bytes]) -> u64 {
    use alloy_eips_v1::eip2718::Decodable2718;
    deposits
        .iter()
        .filter_map(|raw| op_alloy_consensus::TxDeposit::decode_2718(&mut raw.as_ref()).ok())
        .map(|d| d.gas_limit)
        .sum()
}

/// A block's number, hash and timestamp, on L1 or L2 (what the origin rule needs).
pub async fn block_by_number(l1: &Client, number: u64) -> anyhow::Result<BlockStamp> {
    let block: Option<RpcBlock> = l1
        .call("eth_getBlockByNumber", json!([quantity(number), false]))
        .await?;
    let block = block.ok_or_else(|| anyhow!("L1 has no block {number} yet"))?;
    Ok(BlockStamp {
        number: block.number,
        hash: block.hash,
        timestamp: block.timestamp,
    })
}

/// The full L1 header (for the L1-info deposit), checked against its hash.
async fn l1_header(l1: &Client, hash: B256) -> anyhow::Result<alloy_consensus_v1::Header> {
    let block: Option<alloy_consensus_v1::Header> =
        l1.call("eth_getBlockByHash", json!([hash, false])).await?;
    let header = block.ok_or_else(|| anyhow!("L1 block {hash} is gone (re-org)"))?;
    if header.hash_slow() != hash {
        bail!(
            "L1 header {hash} re-hashes to {}: unsupported header fields",
            header.hash_slow()
        );
    }
    Ok(header)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RpcLog {
    address: Address,
    topics: Vec<B256>,
    data: Bytes,
    #[serde(with = "hex_quantity")]
    log_index: u64,
}

/// Deposits the portal emitted in L1 block `hash`, as deposit transactions (empty without one).
async fn user_deposits(l1: &Client, portal: Address, hash: B256) -> anyhow::Result<Vec<Bytes>> {
    let logs: Vec<RpcLog> = l1
        .call(
            "eth_getLogs",
            json!([{ "blockHash": hash, "address": portal, "topics": [DEPOSIT_EVENT_ABI_HASH] }]),
        )
        .await?;
    logs.into_iter()
        .map(|l| {
            let log = Log::new(l.address, l.topics, l.data)
                .ok_or_else(|| anyhow!("deposit log with too many topics"))?;
            decode_deposit(hash, l.log_index as usize, &log)
                .map_err(|e| anyhow!("deposit log {} of {hash}: {e:?}", l.log_index))
        })
        .collect()
}
