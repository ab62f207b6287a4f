//! Follows L1 through one JSON-RPC endpoint: appends each block once it has the configured number
//! of confirmations, with the inbox's `ForcedTransaction` logs of exactly that block (fetched by
//! block hash, so a re-org between the two requests cannot mix two forks).
//!
//! An endpoint that is slow, down or restarted only delays the follower: every request has a
//! timeout and the loop retries with a capped backoff. A parent-hash mismatch means a re-org deeper
//! than the confirmation depth: the follower rewinds and re-reads the new fork.

use crate::{
    bindings::ForcedInclusionInbox::ForcedTransaction,
    queue::QueuedLog,
    state::{AppendError, L1State},
};
use alloy::{
    eips::BlockNumberOrTag,
    providers::{Provider, ProviderBuilder},
    rpc::types::Filter,
    sol_types::SolEvent,
};
use alloy_primitives::Address;
use std::{
    future::{Future, IntoFuture},
    time::Duration,
};
use tracing::{debug, info, warn};

/// Where and how to follow L1.
#[derive(Clone, Debug)]
pub struct FollowerConfig {
    /// HTTP JSON-RPC endpoint of an L1 node.
    pub rpc_url: String,
    pub inbox: Address,
    /// A block is used once this many blocks are on top of it.
    pub confirmations: u64,
    /// First L1 block to read (at or before the inbox's deployment).
    pub start_block: u64,
    pub poll_interval: Duration,
    pub request_timeout: Duration,
    /// Most blocks appended per poll (keeps one catch-up round short).
    pub max_blocks_per_poll: u64,
}

/// Why one poll stopped early.
#[derive(Debug, thiserror::Error)]
enum PollError {
    #[error("L1 request failed: {0}")]
    Rpc(String),
    #[error("L1 request timed out after {0:?}")]
    Timeout(Duration),
    #[error("L1 block {0} is missing at the endpoint")]
    MissingBlock(u64),
    #[error("undecodable inbox log in block {0}: {1}")]
    BadLog(u64, String),
    #[error(transparent)]
    Append(#[from] AppendError),
}

/// Follows L1 into `state` until the task is dropped.
pub async fn follow(config: FollowerConfig, state: L1State) {
    let url = match config.rpc_url.parse() {
        Ok(url) => url,
        Err(e) => {
            // Checked when the configuration is loaded; kept here so the task never panics.
            warn!(url = %config.rpc_url, error = %e, "invalid L1 RPC URL; not following L1");
            return;
        }
    };
    let provider = ProviderBuilder::new().connect_http(url);
    info!(rpc = %config.rpc_url, inbox = %config.inbox, confirmations = config.confirmations, "following L1");
    let mut backoff = config.poll_interval;
    let mut failing = false;
    loop {
        match poll(&config, &provider, &state).await {
            Ok(()) => {
                if failing {
                    info!(head = ?state.head().map(|h| h.number), "L1 endpoint reachable again");
                    failing = false;
                }
                backoff = config.poll_interval;
            }
            Err(PollError::Append(AppendError::Reorg(number))) => {
                // Our block `number - 1` is not the parent of the endpoint's `number`: drop it and
                // read again from there.
                let to = number.saturating_sub(2);
                warn!(
                    number,
                    rewind_to = to,
                    "L1 re-org deeper than the confirmation depth"
                );
                if number <= config.start_block + 1 {
                    state.rewind_all();
                } else {
                    state.rewind(to);
                }
                continue;
            }
            Err(error) => {
                if !failing {
                    warn!(%error, "L1 follower: retrying");
                    failing = true;
                } else {
                    debug!(%error, "L1 follower: still failing");
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
        tokio::time::sleep(backoff).await;
    }
}

async fn call<T, E: std::fmt::Display>(
    timeout: Duration,
    request: impl Future<Output = Result<T, E>>,
) -> Result<T, PollError> {
    match tokio::time::timeout(timeout, request).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(PollError::Rpc(e.to_string())),
        Err(_) => Err(PollError::Timeout(timeout)),
    }
}

async fn poll(
    config: &FollowerConfig,
    provider: &impl Provider,
    state: &L1State,
) -> Result<(), PollError> {
    let tip = call(config.request_timeout, provider.get_block_number()).await?;
    let Some(confirmed) = tip.checked_sub(config.confirmations) else {
        return Ok(());
    };
    let mut next = state.head().map_or(config.start_block, |h| h.number + 1);
    let last = confirmed.min(next + config.max_blocks_per_poll.saturating_sub(1));
    while next <= last {
        let block = call(
            config.request_timeout,
            provider
                .get_block_by_number(BlockNumberOrTag::Number(next))
                .into_future(),
        )
        .await?
        .ok_or(PollError::MissingBlock(next))?;
        let hash = block.header.hash;
        let filter = Filter::new()
            .address(config.inbox)
            .event_signature(ForcedTransaction::SIGNATURE_HASH)
            .at_block_hash(hash);
        let logs = call(config.request_timeout, provider.get_logs(&filter)).await?;
        let mut queued = Vec::with_capacity(logs.len());
        for log in logs {
            let event = log
                .log_decode::<ForcedTransaction>()
                .map_err(|e| PollError::BadLog(next, e.to_string()))?
                .inner
                .data;
            queued.push(QueuedLog::from(event));
        }
        if !queued.is_empty() {
            info!(
                block = next,
                entries = queued.len(),
                "forced-inclusion entries queued on L1"
            );
        }
        state.append(next, hash.0, block.header.parent_hash.0, queued)?;
        next += 1;
    }
    Ok(())
}
