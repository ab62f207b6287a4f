//! WebSocket subscriptions to what consensus certifies.
//!
//! Each subscription owns a receiver of the engine's broadcast channel and a bounded jsonrpsee
//! sink. The engine never waits for a subscriber: a subscriber that falls behind the broadcast
//! buffer (`Lagged`) or stops reading its socket (send timeout) gets an error notification and
//! its subscription is closed; it resubscribes and backfills with the `ordo_get*` methods.

use crate::{
    error,
    view::{ReceiptNotification, RollupBatchView},
};
use jsonrpsee::{
    core::{server::SendTimeoutError, RegisterMethodError, SubscriptionResult},
    PendingSubscriptionSink, RpcModule, SubscriptionMessage,
};
use ordo_engine::{Event, Handle};
use serde::Serialize;
use std::time::Duration;
use tokio::sync::broadcast::{error::RecvError, Receiver};

/// How long a notification may wait for room in the connection's buffer before the subscriber
/// is judged too slow and dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn register(m: &mut RpcModule<Handle>) -> Result<(), RegisterMethodError> {
    m.register_subscription(
        "ordo_subscribeReceipts",
        "ordo_receipt",
        "ordo_unsubscribeReceipts",
        |params, pending, h, _| async move {
            let filter = match ordo_rpc_params::subscribe_receipts(&params) {
                Ok(filter) => filter,
                Err(e) => {
                    pending.reject(e).await;
                    return Ok(());
                }
            };
            let events = h.subscribe();
            // One notification per certified block with its matching transactions: at thousands
            // of transactions per second, one message each would cost the node and the client
            // more than the receipts themselves.
            pump(pending, events, move |event| {
                ReceiptNotification::for_block(event.certified(), |hash| {
                    filter.as_ref().is_none_or(|f| f.contains(hash))
                })
            })
            .await
        },
    )?;
    m.register_subscription(
        "ordo_subscribeRollupBatches",
        "ordo_rollupBatch",
        "ordo_unsubscribeRollupBatches",
        |params, pending, h, _| async move {
            let rollup = match ordo_rpc_params::subscribe_rollup_batches(&params).and_then(|r| {
                h.rollup(r)
                    .map(|_| r)
                    .ok_or_else(|| error::unknown_rollup(r))
            }) {
                Ok(rollup) => rollup,
                Err(e) => {
                    pending.reject(e).await;
                    return Ok(());
                }
            };
            let events = h.subscribe();
            pump(pending, events, move |event| {
                event
                    .certified()
                    .rollup_batch(rollup)
                    .map(|b| RollupBatchView::from(&b))
            })
            .await
        },
    )?;
    Ok(())
}

/// Accepts the subscription and forwards what `render` makes of each event (nothing for `None`)
/// until the client unsubscribes, disconnects, or falls behind.
async fn pump<T, F>(
    pending: PendingSubscriptionSink,
    mut events: Receiver<Event>,
    render: F,
) -> SubscriptionResult
where
    T: Serialize,
    F: Fn(&Event) -> Option<T>,
{
    let sink = pending.accept().await?;
    loop {
        let event = tokio::select! {
            _ = sink.closed() => return Ok(()),
            event = events.recv() => event,
        };
        let event = match event {
            Ok(event) => event,
            Err(RecvError::Lagged(missed)) => {
                return Err(format!(
                    "subscriber fell {missed} events behind and was closed; resubscribe and \
                     backfill with ordo_getRollupBatch / ordo_getReceipt"
                )
                .into())
            }
            Err(RecvError::Closed) => return Err("node is shutting down".into()),
        };
        if let Some(item) = render(&event) {
            let msg = SubscriptionMessage::from(serde_json::value::to_raw_value(&item)?);
            match sink.send_timeout(msg, SEND_TIMEOUT).await {
                Ok(()) => {}
                Err(SendTimeoutError::Closed(_)) => return Ok(()),
                Err(SendTimeoutError::Timeout(_)) => {
                    return Err(format!(
                        "subscriber did not read notifications for {}s and was closed",
                        SEND_TIMEOUT.as_secs()
                    )
                    .into())
                }
            }
        }
    }
}
