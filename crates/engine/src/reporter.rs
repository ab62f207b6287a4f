//! Turns consensus activity into preconfirmations: each notarization, matched with its block,
//! becomes receipts that RPC serves and subscribers receive before finality.

use crate::{
    handle::Certified,
    liveness::Liveness,
    shared::{raise, Shared},
};
use commonware_actor::Feedback;
use commonware_consensus::{
    simplex::types::{Activity, Attributable},
    types::View,
    Reporter, Viewable,
};
use commonware_runtime::Clock;
use commonware_utils::{Participant, SystemTimeExt};
use futures::{channel::mpsc, StreamExt};
use ordo_types::{consensus::Scheme, Block, Certificate, Digest};
use ordo_watch::Watch;
use std::sync::Arc;

type ConsensusActivity = Activity<Scheme, Digest>;

/// Consensus-side reporter: never blocks consensus, only forwards certificates.
#[derive(Clone)]
pub struct CertificateReporter {
    sender: mpsc::UnboundedSender<Certificate>,
    liveness: Arc<Liveness>,
    /// The newest view this node saw notarized (or finalized): a leader building ahead waits
    /// on it.
    notarized: Watch<u64>,
}

impl Reporter for CertificateReporter {
    type Activity = ConsensusActivity;

    fn report(&mut self, activity: ConsensusActivity) -> Feedback {
        if let Activity::Notarization(_) | Activity::Finalization(_) = &activity {
            raise(&self.notarized, activity.view().get());
        }
        let certificate = match &activity {
            Activity::Notarization(n) => Certificate::from(n),
            Activity::Finalization(f) => Certificate::from(f),
            Activity::Notarize(v) => return self.vote(v.signer(), v.view()),
            Activity::Finalize(v) => return self.vote(v.signer(), v.view()),
            Activity::Nullify(v) => return self.vote(v.signer(), v.view()),
            _ => return Feedback::Ok,
        };
        match self.sender.unbounded_send(certificate) {
            Ok(()) => Feedback::Ok,
            Err(_) => Feedback::Closed,
        }
    }
}

impl CertificateReporter {
    fn vote(&self, signer: Participant, view: View) -> Feedback {
        self.liveness.record_vote(signer.get(), view.get());
        Feedback::Ok
    }
}

/// Where a notarized block's contents come from when it is not in the recent cache.
pub(crate) trait BlockSource: Send + Sync + 'static {
    fn fetch(&self, digest: Digest) -> futures::future::BoxFuture<'static, Option<Arc<Block>>>;
}

pub(crate) fn channel(
    liveness: Arc<Liveness>,
    notarized: Watch<u64>,
) -> (CertificateReporter, mpsc::UnboundedReceiver<Certificate>) {
    let (sender, receiver) = mpsc::unbounded();
    (
        CertificateReporter {
            sender,
            liveness,
            notarized,
        },
        receiver,
    )
}

/// Matches certificates with blocks and records them.
pub(crate) async fn run(
    clock: impl Clock,
    shared: Arc<Shared>,
    source: impl BlockSource,
    mut certificates: mpsc::UnboundedReceiver<Certificate>,
) {
    while let Some(certificate) = certificates.next().await {
        match certificate.kind {
            ordo_types::CertificateKind::Notarization => {
                let block = match shared.recent.get(&certificate.payload) {
                    Some(block) => Some(block),
                    None => source.fetch(certificate.payload).await,
                };
                let Some(block) = block else {
                    continue;
                };
                if shared.indexed_height().is_some_and(|h| block.height() <= h) {
                    continue;
                }
                let after_ms = clock
                    .current()
                    .epoch_millis()
                    .saturating_sub(block.header.timestamp_ms);
                shared.handle.liveness.record_notarized_block(after_ms);
                shared.preconfirm(Certified::new(block, certificate));
            }
            ordo_types::CertificateKind::Finalization => {
                let mut status = shared.handle.status.write().expect("poisoned");
                status.finalized_view = status.finalized_view.max(certificate.view);
            }
        }
    }
}
