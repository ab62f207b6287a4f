//! Follows one rollup's finalized stream from an Ordo node, trusting only the group key.
//!
//! Every batch is decoded from its commonware-codec bytes and checked with `ordo-light` (the
//! batch proof against the header, the threshold certificate over the header) and linked to the
//! block before it by the header's parent digest, so a node can neither forge, reorder nor skip
//! a block. A block finalized only through a descendant arrives with its notarization; it is held
//! until a finalized descendant links back to it.

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use commonware_codec::Decode as _;
use futures::FutureExt as _;
use jsonrpsee::{
    core::client::{ClientT, Subscription, SubscriptionClientT},
    rpc_params,
    ws_client::{WsClient, WsClientBuilder},
};
use ordo_light::GroupKey;
use ordo_types::{BlockLimits, CertificateKind, Digest, L1Ref, RollupBatch, RollupId};
use serde::Deserialize;
use std::{collections::VecDeque, time::Duration};

/// One finalized Ordo block as the rollup sees it.
#[derive(Clone, Debug)]
pub struct OrdoBlock {
    pub height: u64,
    pub digest: Digest,
    pub timestamp_ms: u64,
    /// The L1 block the block's proposer named (checked by consensus).
    pub l1: L1Ref,
    /// The rollup's transactions, in certified order.
    pub txs: Vec<Bytes>,
}

/// What the adapter reads of a `RollupBatchView`: the verifiable bytes.
#[derive(Deserialize)]
struct EncodedBatch {
    encoded: String,
}

/// Verifies and links batches; no I/O, so it is tested on its own.
pub struct Verifier {
    group_key: GroupKey,
    rollup: RollupId,
    next_height: u64,
    /// Digest of the last block released (the parent the next block must name).
    last: Option<Digest>,
    /// Blocks above `last` that carry a notarization only, waiting for a finalized descendant.
    held: Vec<OrdoBlock>,
}

impl Verifier {
    pub fn new(group_key: GroupKey, rollup: RollupId, from_height: u64) -> Self {
        Self {
            group_key,
            rollup,
            next_height: from_height,
            last: None,
            held: Vec::new(),
        }
    }

    /// The height of the next batch this verifier needs.
    pub fn wanted(&self) -> u64 {
        self.next_height
    }

    /// Checks the batch at `wanted()` and returns the blocks it makes final (none while it waits
    /// for a finalized descendant).
    pub fn accept(&mut self, encoded: &[u8]) -> anyhow::Result<Vec<OrdoBlock>> {
        let batch = RollupBatch::decode_cfg(encoded.to_vec(), &BlockLimits::UNBOUNDED)
            .map_err(|e| anyhow!("undecodable rollup batch: {e}"))?;
        let kind = self
            .group_key
            .verify_rollup_batch(&batch)
            .map_err(|e| anyhow!("batch at height {}: {e}", batch.header.height))?;
        if batch.rollup != self.rollup {
            bail!(
                "asked for rollup {}, got rollup {}",
                self.rollup,
                batch.rollup
            );
        }
        if batch.header.height != self.next_height {
            bail!(
                "asked for height {}, got height {}",
                self.next_height,
                batch.header.height
            );
        }
        let parent = self.held.last().map(|b| b.digest).or(self.last);
        if let Some(parent) = parent {
            if batch.header.parent != parent {
                bail!(
                    "block at height {} does not extend the verified chain (parent {}, want {})",
                    batch.header.height,
                    batch.header.parent,
                    parent
                );
            }
        }
        self.next_height += 1;
        self.held.push(OrdoBlock {
            height: batch.header.height,
            digest: batch.header.digest(),
            timestamp_ms: batch.header.timestamp_ms,
            l1: batch.header.l1,
            txs: batch.txs,
        });
        if kind == CertificateKind::Finalization {
            self.last = self.held.last().map(|b| b.digest);
            return Ok(std::mem::take(&mut self.held));
        }
        Ok(Vec::new())
    }

    /// Forgets held blocks (after a connection reset they are fetched again).
    fn rewind_held(&mut self) {
        if let Some(first) = self.held.first() {
            self.next_height = first.height;
        }
        self.held.clear();
    }
}

/// A finalized, verified stream of one rollup's Ordo blocks over one node's WebSocket RPC.
pub struct OrdoStream {
    url: String,
    verifier: Verifier,
    ready: VecDeque<OrdoBlock>,
    connection: Option<(WsClient, Subscription<serde_json::Value>)>,
}

/// Batches asked for per backfill call (the node caps it at 256).
const BACKFILL: u64 = 256;

impl OrdoStream {
    pub fn new(url: String, group_key: GroupKey, rollup: RollupId, from_height: u64) -> Self {
        Self {
            url,
            verifier: Verifier::new(group_key, rollup, from_height),
            ready: VecDeque::new(),
            connection: None,
        }
    }

    /// The next finalized block, waiting for it as long as it takes. Connection failures are
    /// retried; a batch that does not verify is an error (the node is lying or broken).
    pub async fn next(&mut self) -> anyhow::Result<OrdoBlock> {
        loop {
            if let Some(block) = self.ready.pop_front() {
                return Ok(block);
            }
            match self.fill().await {
                Ok(()) => {}
                Err(e) if e.is::<jsonrpsee::core::client::Error>() => {
                    tracing::warn!(url = %self.url, "Ordo node unreachable: {e:#}; retrying");
                    self.connection = None;
                    self.verifier.rewind_held();
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Backfills what the node has; then waits for the next finalized notification.
    async fn fill(&mut self) -> anyhow::Result<()> {
        if self.connection.is_none() {
            let client = WsClientBuilder::default()
                .max_response_size(256 << 20)
                .build(&self.url)
                .await?;
            // Subscribe before backfilling, so nothing finalized in between is missed.
            let subscription = client
                .subscribe(
                    "ordo_subscribeRollupBatches",
                    rpc_params![self.verifier.rollup],
                    "ordo_unsubscribeRollupBatches",
                )
                .await?;
            self.connection = Some((client, subscription));
        }
        let (client, subscription) = self.connection.as_mut().expect("connected above");
        // Notifications only wake this loop (the data comes from the backfill): drop those
        // already queued, so the subscription never fills up while the adapter is busy.
        while let Some(Some(Ok(_))) = subscription.next().now_or_never() {}
        let batches: Vec<EncodedBatch> = client
            .request(
                "ordo_getRollupBatches",
                rpc_params![self.verifier.rollup, self.verifier.wanted(), BACKFILL],
            )
            .await?;
        if !batches.is_empty() {
            for batch in batches {
                let bytes = decode_hex(&batch.encoded)?;
                self.ready.extend(self.verifier.accept(&bytes)?);
            }
            return Ok(());
        }
        // Nothing new stored: wait for a notification (or poll again after a while, in case the
        // node's index lags its notifications).
        match tokio::time::timeout(Duration::from_secs(2), subscription.next()).await {
            Ok(Some(Ok(_))) | Err(_) => Ok(()),
            Ok(Some(Err(e))) => Err(anyhow!("bad notification: {e}")),
            Ok(None) => {
                let reason = subscription
                    .close_reason()
                    .map(|r| format!("{r:?}"))
                    .unwrap_or_default();
                self.connection = None;
                self.verifier.rewind_held();
                tracing::warn!(url = %self.url, "subscription closed {reason}; resubscribing");
                Ok(())
            }
        }
    }
}

fn decode_hex(s: &str) -> anyhow::Result<Vec<u8>> {
    hex::decode(s.strip_prefix("0x").unwrap_or(s)).context("batch bytes are not hex")
}

/// The first Ordo height at or above `from` whose block is stamped after `after_ms` (where a
/// restarted adapter picks up). Timestamps never decrease along the chain, so a binary search
/// over the node's finalized, indexed heights finds it. The blocks it then reads are verified.
pub async fn first_height_after(
    url: &str,
    rollup: RollupId,
    after_ms: u64,
    from: u64,
) -> anyhow::Result<u64> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Stamp {
        timestamp_ms: u64,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Status {
        indexed_height: Option<u64>,
    }
    let client = WsClientBuilder::default().build(url).await?;
    let status: Status = client.request("ordo_status", rpc_params![]).await?;
    let (mut lo, mut hi) = (from, status.indexed_height.unwrap_or(0).max(from - 1) + 1);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let stamp: Stamp = client
            .request("ordo_getRollupBatch", rpc_params![rollup, mid])
            .await?;
        if stamp.timestamp_ms > after_ms {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Ok(lo)
}
