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
    collections::VecDeque,
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
async fn certification_of<A>(
    shared: &Shared,
    source: &impl FinalizationSource,
    block: &Block,
    delivered: &[(Arc<Block>, A)],
) -> Option<(Vec<Header>, Certificate)> {
    if let Some(c) = source.finalization(block.height()).await {
        if c.payload == block.digest() {
            return Some((Vec::new(), c));
        }
    }
    if let Some(found) = descendant_finalization(source, block, delivered).await {
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
/// `block` up to it (each the parent of the next). Descendants marshal has already `delivered`
/// (in height order, each with its acknowledgement) are not read back from its archive: that read decodes, and so re-hashes,
/// every transaction of a block whose header is all that is needed.
async fn descendant_finalization<A>(
    source: &impl FinalizationSource,
    block: &Block,
    delivered: &[(Arc<Block>, A)],
) -> Option<(Vec<Header>, Certificate)> {
    let mut descendants: Vec<Header> = Vec::new();
    let mut tip = block.header.digest();
    for height in block.height() + 1..=block.height() + MAX_DESCENDANTS as u64 {
        let next = match delivered.iter().find(|(b, _)| b.height() == height) {
            Some((next, _)) => next.clone(),
            None => source.finalized_block(height).await?,
        };
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
    // Blocks marshal has delivered but that are not indexed yet, in height order.
    let mut ahead: VecDeque<(Arc<Block>, A)> = VecDeque::new();
    loop {
        let (block, ack) = match ahead.pop_front() {
            Some(next) => next,
            None => match blocks.next().await {
                Some(next) => next,
                None => return,
            },
        };
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
            while let Ok(next) = blocks.try_recv() {
                ahead.push_back(next);
            }
            let delivered = ahead.make_contiguous();
            if let Some(found) = certification_of(&shared, &source, &block, delivered).await {
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

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt as _;
    use ordo_types::{Batch, CertificateKind, L1Ref};
    use std::{
        collections::HashMap,
        sync::atomic::{AtomicUsize, Ordering},
    };

    /// Marshal's archives as the indexer sees them, counting the finalized blocks read back.
    #[derive(Default)]
    struct Archives {
        blocks: HashMap<u64, Arc<Block>>,
        finalizations: HashMap<u64, Certificate>,
        block_reads: AtomicUsize,
    }

    impl FinalizationSource for Arc<Archives> {
        fn finalization(&self, height: u64) -> BoxFuture<'static, Option<Certificate>> {
            futures::future::ready(self.finalizations.get(&height).cloned()).boxed()
        }
        fn finalized_block(&self, height: u64) -> BoxFuture<'static, Option<Arc<Block>>> {
            self.block_reads.fetch_add(1, Ordering::Relaxed);
            futures::future::ready(self.blocks.get(&height).cloned()).boxed()
        }
        fn request_finalization(&self, _height: u64) {}
    }

    fn child(parent: &Block) -> Arc<Block> {
        let mut header = parent.header.clone();
        header.height += 1;
        header.view += 1;
        header.parent_view = parent.header.view;
        header.parent = parent.digest();
        let txs = vec![bytes::Bytes::from(vec![header.height as u8; 200]); 3];
        Arc::new(Block::new(header, vec![Batch::new(901, txs)]))
    }

    /// Delivered blocks, as the indexer holds them (with their acknowledgement).
    fn acked(blocks: &[Arc<Block>]) -> Vec<(Arc<Block>, ())> {
        blocks.iter().map(|b| (b.clone(), ())).collect()
    }

    /// Heights 1..=3, only height 3 finalized in its own right (1 and 2 through it).
    fn archives() -> (Arc<Archives>, Vec<Arc<Block>>) {
        let genesis = Block::genesis(1_000, L1Ref::default(), &[901]);
        let one = child(&genesis);
        let two = child(&one);
        let three = child(&two);
        let mut archives = Archives::default();
        for block in [&one, &two, &three] {
            archives.blocks.insert(block.height(), block.clone());
        }
        // The indexer matches a certificate to its block by payload (the store checks the rest).
        let finalization = Certificate {
            kind: CertificateKind::Finalization,
            epoch: 0,
            view: three.header.view,
            parent_view: two.header.view,
            payload: three.digest(),
            signature: [0; 48],
        };
        archives.finalizations.insert(3, finalization);
        (Arc::new(archives), vec![one, two, three])
    }

    #[test]
    fn a_block_finalized_through_delivered_descendants_is_certified_without_reading_them_back() {
        let (source, blocks) = archives();
        let found = futures::executor::block_on(descendant_finalization(
            &source,
            &blocks[0],
            &acked(&blocks[1..]),
        ));
        let (descendants, certificate) = found.expect("certified by height 3");
        assert_eq!(
            descendants,
            vec![blocks[1].header.clone(), blocks[2].header.clone()]
        );
        assert_eq!(certificate.payload, blocks[2].digest());
        assert_eq!(source.block_reads.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn descendants_not_delivered_yet_are_read_from_the_archive() {
        let (source, blocks) = archives();
        let found = futures::executor::block_on(descendant_finalization(
            &source,
            &blocks[0],
            &acked(&blocks[1..2]),
        ));
        let (descendants, certificate) = found.expect("certified by height 3");
        assert_eq!(descendants.len(), 2);
        assert_eq!(certificate.payload, blocks[2].digest());
        assert_eq!(source.block_reads.load(Ordering::Relaxed), 1);
        // A gap in what is held locally ends the search: no certificate yet.
        let (source, blocks) = archives();
        let mut without_two = Archives::default();
        without_two.blocks.insert(3, blocks[2].clone());
        without_two
            .finalizations
            .insert(3, source.finalizations[&3].clone());
        let found = futures::executor::block_on(descendant_finalization(
            &Arc::new(without_two),
            &blocks[0],
            &acked(&[]),
        ));
        assert!(found.is_none());
    }
}
