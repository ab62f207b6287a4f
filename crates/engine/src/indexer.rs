//! Indexes finalized blocks, in height order, before acknowledging them to marshal: a block
//! marshal considers processed is always queryable, and its transactions have left the mempool.

use crate::{
    handle::{Certified, Event},
    shared::Shared,
};
use commonware_actor::Feedback;
use commonware_consensus::{marshal::Update, Reporter};
use commonware_runtime::Clock;
use commonware_utils::Acknowledgement;
use futures::{channel::mpsc, future::BoxFuture, StreamExt};
use ordo_types::{Block, Certificate, Header, MAX_DESCENDANTS};
use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};
use tracing::{error, info, warn};

/// How often the indexer looks again for the certificate of a finalized block it cannot index yet.
const CERTIFICATE_RETRY: Duration = Duration::from_millis(50);

/// Marshal-side reporter: forwards finalized blocks to the indexing task.
#[derive(Clone)]
pub struct FinalizedReporter<A> {
    sender: mpsc::UnboundedSender<(Arc<Block>, A)>,
}

impl<A: Acknowledgement> Reporter for FinalizedReporter<A> {
    type Activity = Update<Block, A>;

    fn report(&mut self, activity: Self::Activity) -> Feedback {
        let Update::Block(block, ack) = activity else {
            return Feedback::Ok;
        };
        match self.sender.unbounded_send((block.inner_shared(), ack)) {
            Ok(()) => Feedback::Ok,
            Err(_) => Feedback::Closed,
        }
    }
}

pub(crate) fn channel<A>() -> (
    FinalizedReporter<A>,
    mpsc::UnboundedReceiver<(Arc<Block>, A)>,
) {
    let (sender, receiver) = mpsc::unbounded();
    (FinalizedReporter { sender }, receiver)
}

/// Where finalized blocks and finalization certificates come from (marshal's archives).
pub(crate) trait FinalizationSource: Send + Sync + 'static {
    fn finalization(&self, height: u64) -> BoxFuture<'static, Option<Certificate>>;
    /// The finalized block at `height`, if held locally.
    fn finalized_block(&self, height: u64) -> BoxFuture<'static, Option<Arc<Block>>>;
    /// Asks peers for the finalization of `height` (it arrives through `finalization`).
    fn request_finalization(&self, height: u64);
}

/// What certifies `block`, most final first: its own finalization; the finalization of a
/// descendant (simplex finalizes a block whose own finalize votes never formed a certificate
/// through its child, and a node that learns of it late finds no certificate of it anywhere);
/// its notarization.
async fn certification_of(
    shared: &Shared,
    source: &impl FinalizationSource,
    block: &Block,
) -> Option<(Vec<Header>, Certificate)> {
    if let Some(c) = source.finalization(block.height()).await {
        if c.payload == block.digest() {
            return Some((Vec::new(), c));
        }
    }
    if let Some(found) = descendant_finalization(source, block).await {
        return Some(found);
    }
    shared
        .handle
        .preconfirmations
        .read()
        .expect("poisoned")
        .blocks
        .get(&block.digest())
        .map(|c| (Vec::new(), c.certificate.clone()))
}

/// The nearest finalized descendant of `block` with a finalization here, and the headers from
/// `block` up to it (each the parent of the next).
async fn descendant_finalization(
    source: &impl FinalizationSource,
    block: &Block,
) -> Option<(Vec<Header>, Certificate)> {
    let mut descendants: Vec<Header> = Vec::new();
    let mut tip = block.header.digest();
    for height in block.height() + 1..=block.height() + MAX_DESCENDANTS as u64 {
        let next = source.finalized_block(height).await?;
        if next.header.parent != tip {
            return None;
        }
        tip = next.digest();
        descendants.push(next.header.clone());
        if let Some(c) = source.finalization(height).await {
            return (c.payload == tip).then_some((descendants, c));
        }
    }
    None
}

pub(crate) async fn run<A: Acknowledgement>(
    clock: impl Clock,
    shared: Arc<Shared>,
    source: impl FinalizationSource,
    mut blocks: mpsc::UnboundedReceiver<(Arc<Block>, A)>,
) {
    let store = shared.handle.store.clone();
    while let Some((block, ack)) = blocks.next().await {
        let height = block.height();
        if height == 0 || shared.indexed_height().is_some_and(|h| height <= h) {
            // Genesis is fixed by configuration and has no certificate; nothing to index.
            // Marshal also re-delivers after a restart (at least once): already indexed.
            ack.acknowledge();
            continue;
        }
        // A finalized block that arrived by backfill may lack its own finalization locally.
        // Right after a restart no certificate may be here yet (consensus replays its journal,
        // peers resend certificates): wait for one rather than skip a height, which would leave
        // the index with a hole.
        let mut waited = Duration::ZERO;
        let (descendants, certificate) = loop {
            if let Some(found) = certification_of(&shared, &source, &block).await {
                break found;
            }
            if waited == Duration::ZERO {
                source.request_finalization(height);
            }
            if waited == Duration::from_secs(5) {
                warn!(
                    height,
                    "finalized block has no certificate here yet; waiting"
                );
            }
            clock.sleep(CERTIFICATE_RETRY).await;
            waited += CERTIFICATE_RETRY;
        };
        if let Some(tip) = descendants.last() {
            info!(
                height,
                through = tip.height,
                "finalized block has no certificate of its own; certified by a descendant's finalization"
            );
        }
        if let Err(e) = store.index_finalized_through(&block, &descendants, &certificate) {
            // Without the index we must not acknowledge: marshal will redeliver.
            error!(height, error = %e, "failed to index finalized block");
            return;
        }
        let hashes: Vec<_> = block.tx_hashes().iter().flatten().copied().collect();
        shared.mempool.remove_included(&hashes);
        shared.set_indexed(height);
        shared
            .handle
            .preconfirmations
            .write()
            .expect("poisoned")
            .prune_through(height);
        {
            let mut status = shared.handle.status.write().expect("poisoned");
            status.finalized_height = height;
            status.finalized_view = status.finalized_view.max(certificate.view);
            status.last_finalized_at_ms = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0);
        }
        if height % 100 == 0 {
            info!(height, txs = block.tx_count(), "finalized");
        }
        shared.publish(Event::Finalized(Certified {
            block,
            descendants,
            certificate,
        }));
        ack.acknowledge();
    }
}
