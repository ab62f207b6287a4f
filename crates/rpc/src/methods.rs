//! The JSON-RPC methods: submission, receipts, blocks, rollup batches and status.
//!
//! Reads that touch rocksdb run as jsonrpsee "blocking" methods (on tokio's blocking pool) so a
//! slow disk never stalls the connection tasks.

use crate::{
    error, subscriptions,
    view::{
        hex0x, BlockView, Finality, HexBytes, L1RefView, ReceiptStatus, ReceiptView,
        RollupBatchView,
    },
};
use bytes::Bytes;
use jsonrpsee::{types::ErrorObjectOwned, Extensions, RpcModule};
use ordo_engine::{
    liveness::{BlockLatency, LatencySummary, ValidatorVotes},
    Handle,
};
use ordo_types::{tx_hash, RollupId};
use serde::Serialize;

/// The rollup a request reached through `/rollup/<id>`, set by the HTTP router.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RollupPath(pub RollupId);

/// Most batches one `ordo_getRollupBatches` call returns.
pub const MAX_BATCHES_PER_CALL: usize = 256;

pub(crate) type RpcResult<T> = Result<T, ErrorObjectOwned>;

/// Every method and subscription, over the engine's handle.
pub(crate) fn module(handle: Handle) -> RpcModule<Handle> {
    let mut m = RpcModule::new(handle);
    let registered = [
        m.register_async_method("ordo_sendTransaction", |params, h, _| async move {
            let (rollup, raw) = ordo_rpc_params::send_transaction(&params)?;
            submit(&h, rollup, raw).await
        })
        .map(drop),
        m.register_async_method("ordo_sendTransactions", |params, h, _| async move {
            let (rollup, raws) = ordo_rpc_params::send_transactions(&params)?;
            if h.rollup(rollup).is_none() {
                return Err(error::unknown_rollup(rollup));
            }
            // Admitted together, in order (a sender's nonces enter the lane as sent), with one
            // inclusion check, and answered once the journal's shared commits are synced.
            let raws: Vec<Bytes> = raws.into_iter().map(|raw| raw.0).collect();
            let answers = h.mempool.submit_all(rollup, raws.clone()).await;
            let answers = answers.into_iter().zip(&raws).map(|(answer, raw)| {
                Submitted::from(
                    answer
                        .map(hex0x)
                        .map_err(|e| error::submit(e, &tx_hash(raw))),
                )
            });
            Ok::<_, ErrorObjectOwned>(answers.collect::<Vec<_>>())
        })
        .map(drop),
        m.register_async_method("eth_sendRawTransaction", |params, h, ext| async move {
            let rollup = rollup_path(&ext, "eth_sendRawTransaction")?;
            let raw = ordo_rpc_params::send_raw_transaction(&params)?;
            submit(&h, rollup, raw).await
        })
        .map(drop),
        m.register_method("eth_chainId", |_, h, ext| -> RpcResult<String> {
            let rollup = rollup_path(ext, "eth_chainId")?;
            h.rollup(rollup)
                .ok_or_else(|| error::unknown_rollup(rollup))?;
            Ok(format!("{rollup:#x}"))
        })
        .map(drop),
        m.register_blocking_method("ordo_getReceipt", |params, h, _| {
            let hash = ordo_rpc_params::get_receipt(&params)?;
            get_receipt(&h, &hash.0)
        })
        .map(drop),
        m.register_blocking_method("ordo_getBlock", |params, h, _| {
            let height = ordo_rpc_params::get_block(&params)?;
            get_block(&h, height)
        })
        .map(drop),
        m.register_blocking_method("ordo_getRollupBatch", |params, h, _| {
            let (rollup, height) = ordo_rpc_params::get_rollup_batch(&params)?;
            get_rollup_batch(&h, rollup, height)
        })
        .map(drop),
        m.register_blocking_method("ordo_getRollupBatches", |params, h, _| {
            let (rollup, from, limit) = ordo_rpc_params::get_rollup_batches(&params)?;
            get_rollup_batches(&h, rollup, from, limit.unwrap_or(MAX_BATCHES_PER_CALL))
        })
        .map(drop),
        m.register_blocking_method("ordo_status", |_, h, _| status(&h))
            .map(drop),
    ];
    for r in registered {
        r.expect("method names are unique");
    }
    subscriptions::register(&mut m).expect("subscription names are unique");
    m
}

fn rollup_path(ext: &Extensions, method: &str) -> RpcResult<RollupId> {
    ext.get::<RollupPath>()
        .map(|p| p.0)
        .ok_or_else(|| error::eth_outside_rollup_path(method))
}

/// One answer of `ordo_sendTransactions`: the hash, or the error `ordo_sendTransaction` would
/// have given.
#[derive(Clone, Serialize)]
#[serde(untagged)]
enum Submitted {
    Hash(String),
    Refused(ErrorObjectOwned),
}

impl From<RpcResult<String>> for Submitted {
    fn from(answer: RpcResult<String>) -> Self {
        answer.map_or_else(Self::Refused, Self::Hash)
    }
}

async fn submit(h: &Handle, rollup: RollupId, raw: HexBytes) -> RpcResult<String> {
    // A clear answer before touching the mempool, whatever it would say.
    if h.rollup(rollup).is_none() {
        return Err(error::unknown_rollup(rollup));
    }
    // The mempool hashes the transaction; the error path hashes it again for its answer.
    let raw = raw.0;
    h.mempool
        .submit(rollup, raw.clone())
        .await
        .map(hex0x)
        .map_err(|e| error::submit(e, &tx_hash(&raw)))
}

/// Most final answer first: the durable index, then preconfirmations, then the mempool.
fn get_receipt(h: &Handle, hash: &[u8; 32]) -> RpcResult<ReceiptStatus> {
    let found = |receipt: &ordo_types::Receipt| ReceiptStatus {
        status: receipt.certificate.kind.into(),
        reason: None,
        receipt: Some(ReceiptView::from(receipt)),
    };
    if let Some(receipt) = h.store.receipt(hash).map_err(error::internal)? {
        return Ok(found(&receipt));
    }
    let preconfirmed = h
        .preconfirmations
        .read()
        .map_err(error::internal)?
        .receipt(hash);
    if let Some(receipt) = preconfirmed {
        return Ok(found(&receipt));
    }
    let status = |status, reason| ReceiptStatus {
        status,
        reason,
        receipt: None,
    };
    if h.mempool.is_pending(hash) {
        return Ok(status(Finality::Pending, None));
    }
    if let Some(reason) = h.store.rejection(hash).map_err(error::internal)? {
        return Ok(status(Finality::Rejected, Some(reason)));
    }
    Ok(status(Finality::Unknown, None))
}

fn get_block(h: &Handle, height: u64) -> RpcResult<BlockView> {
    if let Some((block, descendants, certificate)) =
        h.store.block(height).map_err(error::internal)?
    {
        return Ok(BlockView::new(&block, &descendants, &certificate));
    }
    let pre = h.preconfirmations.read().map_err(error::internal)?;
    pre.at_height(height)
        .map(|c| BlockView::new(&c.block, &c.descendants, &c.certificate))
        .ok_or_else(|| error::not_found(format_args!("block {height}")))
}

fn get_rollup_batch(h: &Handle, rollup: RollupId, height: u64) -> RpcResult<RollupBatchView> {
    if h.rollup(rollup).is_none() {
        return Err(error::unknown_rollup(rollup));
    }
    if let Some(batch) = h
        .store
        .rollup_batch(rollup, height)
        .map_err(error::internal)?
    {
        return Ok((&batch).into());
    }
    let pre = h.preconfirmations.read().map_err(error::internal)?;
    pre.at_height(height)
        .and_then(|c| c.rollup_batch(rollup))
        .map(|b| (&b).into())
        .ok_or_else(|| {
            error::not_found(format_args!("batch of rollup {rollup} at height {height}"))
        })
}

/// Finalized batches of `rollup` from `from` on (consecutive, at most `limit`): how a rollup
/// backfills its stream. Preconfirmed batches are not included; they arrive by subscription.
fn get_rollup_batches(
    h: &Handle,
    rollup: RollupId,
    from: u64,
    limit: usize,
) -> RpcResult<Vec<RollupBatchView>> {
    if h.rollup(rollup).is_none() {
        return Err(error::unknown_rollup(rollup));
    }
    let batches = h
        .store
        .rollup_batches(rollup, from, limit.min(MAX_BATCHES_PER_CALL))
        .map_err(error::internal)?;
    Ok(batches.iter().map(RollupBatchView::from).collect())
}

#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct RollupView {
    id: RollupId,
    kind: String,
    share_bytes: u32,
    max_tx_bytes: u32,
    max_txs_per_block: u32,
}

#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct NodeStatus {
    version: &'static str,
    notarized_height: u64,
    notarized_view: u64,
    finalized_height: u64,
    finalized_view: u64,
    /// ed25519 key (hex) of the leader of the newest notarized block.
    notarized_leader: String,
    last_finalized_at_ms: u64,
    /// Highest finalized height whose indexes are durable (what reads are served from).
    indexed_height: Option<u64>,
    /// Digest of the height-0 block, which names the chain.
    genesis_digest: String,
    /// The group key this node's genesis names (check certificates against a key you trust).
    group_key: String,
    /// The runtime that runs this node's consensus (`io_uring` or `tokio`).
    runtime: String,
    mempool_size: usize,
    /// Every validator with the newest view this node saw it vote in.
    validators: Vec<ValidatorVotes>,
    /// Submit -> notarized latency of the transactions this node accepted.
    preconfirmation_latency: LatencySummary,
    /// Where recent blocks' time went, from their timestamps to this node's notarization.
    block_latency: BlockLatency,
    /// Newest L1 block this node's follower has confirmed (absent without an L1 inbox, null
    /// until the first one).
    #[serde(skip_serializing_if = "Option::is_none")]
    l1_head: Option<Option<L1RefView>>,
    rollups: Vec<RollupView>,
}

fn status(h: &Handle) -> RpcResult<NodeStatus> {
    let s = h.status.read().map_err(error::internal)?.clone();
    Ok(NodeStatus {
        version: env!("CARGO_PKG_VERSION"),
        notarized_height: s.notarized_height,
        notarized_view: s.notarized_view,
        finalized_height: s.finalized_height,
        finalized_view: s.finalized_view,
        notarized_leader: s.notarized_leader,
        last_finalized_at_ms: s.last_finalized_at_ms,
        indexed_height: h.store.indexed_height().map_err(error::internal)?,
        genesis_digest: s.genesis_digest,
        group_key: s.group_key,
        runtime: s.runtime,
        mempool_size: h.mempool.len(),
        validators: h.liveness.validators(),
        preconfirmation_latency: h.liveness.latency(),
        block_latency: h.liveness.block_latency(),
        l1_head: h
            .l1
            .as_ref()
            .map(|l1| l1.head().map(|r| L1RefView::from(&r))),
        rollups: h
            .rollups
            .iter()
            .map(|r| RollupView {
                id: r.id,
                kind: r.kind.to_string(),
                share_bytes: r.share_bytes,
                max_tx_bytes: r.max_tx_bytes,
                max_txs_per_block: r.max_txs_per_block,
            })
            .collect(),
    })
}
