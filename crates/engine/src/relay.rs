//! Moves pending transactions between validators, so that whichever validator leads can propose a
//! transaction any validator accepted.
//!
//! Locally accepted transactions are sent to every peer in small batches as they arrive; local
//! transactions still pending after [`REANNOUNCE_INTERVAL`] are sent again (a peer, or the
//! leader, may have been down, or this node just restarted), then at doubling intervals while
//! they wait (`Mempool::take_unannounced`). What peers send is admitted with the
//! same checks as a client's submission; a peer that sends an undecodable message is blocked.
//! The message codec is `ordo_types::relay` (so `fuzz/` can reach it without the engine).

use bytes::Bytes;
use commonware_macros::select;
use commonware_p2p::{Blocker, Receiver, Recipients, Sender};
use commonware_runtime::Clock;
use futures::StreamExt;
use ordo_mempool::{Mempool, SubmitError};
use ordo_types::{PublicKey, RollupId};
use std::time::Duration;
use tracing::{debug, warn};

use ordo_types::relay::{decode, encode, MAX_TXS_PER_MESSAGE};

/// How long a batch may wait for more transactions before it is sent.
const FLUSH_INTERVAL: Duration = Duration::from_millis(5);
/// Transaction bytes that make a batch go out at once. A message is at most this plus one
/// transaction, well under the p2p message limit (a block's size plus headroom).
const FLUSH_BYTES: usize = 256 * 1024;
/// How often a local transaction that stays pending is announced again.
const REANNOUNCE_INTERVAL: Duration = Duration::from_secs(2);
/// Most transactions re-announced per interval (a backlog is not re-sent all at once).
const REANNOUNCE_LIMIT: usize = 8_192;

/// Sends local transactions to peers and admits theirs, until the channel closes.
pub(crate) async fn run<E: Clock>(
    context: E,
    mempool: Mempool,
    mut blocker: impl Blocker<PublicKey = PublicKey>,
    (mut sender, mut receiver): (
        impl Sender<PublicKey = PublicKey>,
        impl Receiver<PublicKey = PublicKey>,
    ),
) {
    let mut local = mempool.announcements();
    let mut batch: Vec<(RollupId, Bytes)> = Vec::new();
    let mut batch_bytes = 0;
    let mut flush_at = None;
    let mut reannounce_at = context.current() + FLUSH_INTERVAL;
    loop {
        let deadline = flush_at.unwrap_or(reannounce_at).min(reannounce_at);
        // Biased in this order: timers, then peers, so a flood of local submissions cannot
        // starve either.
        select! {
            _ = context.sleep_until(deadline) => {
                if flush_at.is_some_and(|at| at <= context.current()) {
                    send(&mut sender, &mut batch);
                    batch_bytes = 0;
                    flush_at = None;
                }
                if reannounce_at <= context.current() {
                    let stale = mempool.take_unannounced(REANNOUNCE_INTERVAL, REANNOUNCE_LIMIT);
                    if !stale.is_empty() {
                        debug!(count = stale.len(), "announcing pending transactions again");
                    }
                    let mut message = Vec::new();
                    let mut message_bytes = 0;
                    for tx in stale {
                        message_bytes += tx.1.len();
                        message.push(tx);
                        if message_bytes >= FLUSH_BYTES || message.len() >= MAX_TXS_PER_MESSAGE {
                            send(&mut sender, &mut message);
                            message_bytes = 0;
                        }
                    }
                    send(&mut sender, &mut message);
                    reannounce_at = context.current() + REANNOUNCE_INTERVAL / 4;
                }
            },
            message = receiver.recv() => {
                let Ok((peer, message)) = message else { return };
                admit(&mempool, &mut blocker, peer, message.as_ref());
            },
            tx = local.next() => {
                let Some(tx) = tx else { return };
                batch_bytes += tx.1.len();
                batch.push(tx);
                flush_at.get_or_insert_with(|| context.current() + FLUSH_INTERVAL);
                if batch_bytes >= FLUSH_BYTES || batch.len() >= MAX_TXS_PER_MESSAGE {
                    send(&mut sender, &mut batch);
                    batch_bytes = 0;
                    flush_at = None;
                }
            },
        }
    }
}

fn send(sender: &mut impl Sender<PublicKey = PublicKey>, batch: &mut Vec<(RollupId, Bytes)>) {
    if batch.is_empty() {
        return;
    }
    let message = encode(batch);
    batch.clear();
    // Peers that are offline or rate-limited miss it; re-announcement covers them.
    sender.send(Recipients::All, message, false);
}

fn admit(
    mempool: &Mempool,
    blocker: &mut impl Blocker<PublicKey = PublicKey>,
    peer: PublicKey,
    message: &[u8],
) {
    let txs = match decode(message) {
        Ok(txs) => txs,
        Err(e) => {
            warn!(%peer, error = %e, "blocking peer: malformed relay message");
            let _ = blocker.block(peer);
            return;
        }
    };
    let mut invalid = 0;
    for (rollup, raw) in txs {
        match mempool.admit_relayed(rollup, raw) {
            Ok(_)
            | Err(SubmitError::Duplicate)
            | Err(SubmitError::AlreadyIncluded)
            | Err(SubmitError::LaneFull { .. }) => {}
            Err(SubmitError::UnknownRollup(_)) | Err(SubmitError::Invalid(_)) => invalid += 1,
            Err(SubmitError::Storage(e)) => warn!(error = %e, "cannot store a relayed transaction"),
        }
    }
    if invalid > 0 {
        // Honest peers check before relaying, but registries can differ during an upgrade:
        // drop, do not block.
        warn!(%peer, invalid, "peer relayed transactions this node refuses");
    }
}
