//! Posts the built L2 chain to L1, channel by channel, from op-node's safe head on.
//!
//! Channel `k` always covers the same L2 blocks, so a restarted adapter, or a second adapter
//! for the same rollup, posts the same bytes again; op-node ignores batches for blocks that are
//! already safe. A channel that op-node has not made safe after `repost_after` is posted again.

use crate::{
    builder::sync_status,
    channel::{self, L2Block},
    config::RollupSettings,
    rpc::Client,
};
use alloy::{
    network::{EthereumWallet, TransactionBuilder},
    providers::{Provider, ProviderBuilder},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
};
use alloy_primitives::{Bytes, B256};
use alloy_rlp::Decodable;
use anyhow::{anyhow, Context};
use kona_protocol::L1BlockInfoTx;
use serde_json::json;
use std::time::{Duration, Instant};

pub struct BatcherConfig {
    pub l1_rpc: String,
    pub key: PrivateKeySigner,
    pub blocks_per_channel: u64,
    pub repost_after: Duration,
}

/// Reads built L2 block `number` back from op-geth, in the form a batch needs.
pub async fn read_block(l2: &Client, number: u64) -> anyhow::Result<L2Block> {
    let raw: Bytes = l2
        .call("debug_getRawBlock", json!([format!("{number:#x}")]))
        .await?;
    let block =
        alloy_consensus_v1::Block::<op_alloy_consensus::OpTxEnvelope>::decode(&mut raw.as_ref())
            .map_err(|e| anyhow!("L2 block {number} does not decode: {e}"))?;
    let first = block
        .body
        .transactions
        .first()
        .ok_or_else(|| anyhow!("L2 block {number} has no L1-info deposit"))?;
    let op_alloy_consensus::OpTxEnvelope::Deposit(info) = first else {
        return Err(anyhow!("L2 block {number} does not start with a deposit"));
    };
    let info = L1BlockInfoTx::decode_calldata(info.inner().input.as_ref())
        .map_err(|e| anyhow!("L1-info deposit of block {number}: {e:?}"))?;
    let txs = block
        .body
        .transactions
        .iter()
        .filter(|tx| !tx.is_deposit())
        .map(|tx| Bytes::from(alloy_eips_v1::eip2718::Encodable2718::encoded_2718(tx)))
        .collect();
    Ok(L2Block {
        number,
        hash: block.header.hash_slow(),
        parent_hash: block.header.parent_hash,
        timestamp: block.header.timestamp,
        epoch_number: info.id().number,
        epoch_hash: info.block_hash(),
        sequence_number: info.sequence_number(),
        txs,
    })
}

/// Posts channels for ever.
pub async fn run(
    settings: RollupSettings,
    l2: Client,
    node: Client,
    config: BatcherConfig,
) -> anyhow::Result<()> {
    let url = config.l1_rpc.parse().context("L1 RPC URL")?;
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(config.key.clone()))
        .connect_http(url);
    let per = config.blocks_per_channel.max(1);
    // First L2 block not yet posted by this adapter, and when that last happened.
    let mut next_unposted = 0u64;
    let mut last_post = Instant::now();
    loop {
        let status = match sync_status(&node).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("op-node unreachable: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let safe = status.safe_number();
        if next_unposted > safe + 1 && last_post.elapsed() > config.repost_after {
            tracing::warn!(
                safe,
                next_unposted,
                "posted channels not made safe; posting again"
            );
            next_unposted = 0;
        }
        let first = next_unposted.max(safe + 1);
        let range = channel::channel_range(channel::channel_of(first, per), per);
        if *range.end() > status.unsafe_number() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        match post(&provider, &settings, &l2, range.clone()).await {
            Ok(tx) => {
                tracing::info!(first = range.start(), last = range.end(), %tx, "posted channel");
                next_unposted = range.end() + 1;
                last_post = Instant::now();
            }
            Err(e) => {
                tracing::warn!(first = range.start(), "posting channel failed: {e:#}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

async fn post(
    provider: &impl Provider,
    settings: &RollupSettings,
    l2: &Client,
    range: std::ops::RangeInclusive<u64>,
) -> anyhow::Result<B256> {
    let mut blocks = Vec::new();
    for number in range {
        blocks.push(read_block(l2, number).await?);
    }
    let data = channel::encode(&blocks, settings.schedule.genesis_time, settings.chain_id)?;
    let request = TransactionRequest::default()
        .with_to(settings.batch_inbox)
        .with_input(data);
    let hash = *provider.send_transaction(request).await?.tx_hash();
    // Poll for the receipt (the block-watching helper loses track across L1 re-orgs).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(receipt) = provider.get_transaction_receipt(hash).await? {
            anyhow::ensure!(receipt.status(), "batcher transaction {hash} reverted");
            return Ok(hash);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "batcher transaction {hash} not mined in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
