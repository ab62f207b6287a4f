//! Hands each finalization to marshal once this validator has done its part in the next view.
//!
//! Marshal stores a finalization with synced writes (the certificate, its round floor, pruning)
//! during which its actor answers nothing else. The finalization of view v forms just as view
//! v + 1 needs marshal: its leader fetches the parent and broadcasts the block through it, a
//! follower receives the block through it. Held until this validator has broadcast its own
//! proposal of a later view or verified one (or [`HOLD_AT_MOST`] passed, or a newer finalization
//! came), those writes fall in the view's wait for votes instead. Only marshal's copy waits:
//! preconfirmations (the certificate reporter's) do not, and finalized blocks reach the index
//! at most one view (or [`HOLD_AT_MOST`]) later.

use crate::shared::raise;
use commonware_actor::Feedback;
use commonware_consensus::{
    simplex::{types::Activity, Plan},
    Relay, Reporter, Viewable,
};
use commonware_cryptography::{certificate::Scheme, Digest};
use commonware_macros::select;
use commonware_runtime::Clock;
use futures::{channel::mpsc, StreamExt};
use ordo_watch::Watch;
use std::time::Duration;

/// Longest a finalization waits for the next view: a view whose block never comes (a crashed
/// leader, a validator catching up) must not hold finality much longer than a loaded view lasts.
pub(crate) const HOLD_AT_MOST: Duration = Duration::from_millis(50);

/// What the pacer reads of an activity: the view of a finalization.
pub(crate) trait Finalized {
    fn finalized_view(&self) -> Option<u64>;
}

impl<S: Scheme, D: Digest> Finalized for Activity<S, D> {
    fn finalized_view(&self) -> Option<u64> {
        match self {
            Activity::Finalization(finalization) => Some(finalization.view().get()),
            _ => None,
        }
    }
}

/// The finalizations [`Paced`] holds back, for [`run`].
pub(crate) type Finalizations<A> = mpsc::UnboundedReceiver<A>;

/// Marshal as consensus's relay and reporter, with its finalizations paced by [`run`].
pub(crate) struct Paced<R: Reporter> {
    inner: R,
    finalizations: mpsc::UnboundedSender<R::Activity>,
    handed_off: Watch<u64>,
}

impl<R: Reporter> Clone for Paced<R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            finalizations: self.finalizations.clone(),
            handed_off: self.handed_off.clone(),
        }
    }
}

/// Wraps `inner`; [`run`] must be given the receiver and the same `handed_off`, which the
/// application raises when it has verified a block.
pub(crate) fn pace<R: Reporter>(
    inner: R,
    handed_off: Watch<u64>,
) -> (Paced<R>, Finalizations<R::Activity>) {
    let (finalizations, receiver) = mpsc::unbounded();
    (
        Paced {
            inner,
            finalizations,
            handed_off,
        },
        receiver,
    )
}

impl<R> Reporter for Paced<R>
where
    R: Reporter,
    R::Activity: Finalized + Send,
{
    type Activity = R::Activity;

    fn report(&mut self, activity: R::Activity) -> Feedback {
        if activity.finalized_view().is_none() {
            return self.inner.report(activity);
        }
        match self.finalizations.unbounded_send(activity) {
            Ok(()) => Feedback::Ok,
            // The pacer has stopped (shutdown): marshal gets it directly.
            Err(e) => self.inner.report(e.into_inner()),
        }
    }
}

impl<R> Relay for Paced<R>
where
    R: Reporter + Relay<Plan = Plan<<R as Relay>::PublicKey>>,
    R::Activity: Send,
{
    type Digest = R::Digest;
    type PublicKey = R::PublicKey;
    type Plan = Plan<R::PublicKey>;

    fn broadcast(&mut self, payload: R::Digest, plan: Self::Plan) -> Feedback {
        let proposed = match &plan {
            Plan::Propose { round } => Some(round.view().get()),
            _ => None,
        };
        // Marshal takes the block first, so a finalization released below queues behind it.
        let feedback = self.inner.broadcast(payload, plan);
        if let Some(view) = proposed {
            raise(&self.handed_off, view);
        }
        feedback
    }
}

/// Forwards finalizations to `inner` in order, each once this validator handed off a block of a
/// later view, after [`HOLD_AT_MOST`], or as soon as a newer one arrives (a validator that is
/// behind gets them in bursts and must not wait on each).
pub(crate) async fn run<R>(
    clock: impl Clock,
    mut inner: R,
    mut finalizations: Finalizations<R::Activity>,
    handed_off: Watch<u64>,
) where
    R: Reporter,
    R::Activity: Finalized,
{
    let mut newer = None;
    loop {
        let finalization = match newer.take() {
            Some(finalization) => finalization,
            None => match finalizations.next().await {
                Some(finalization) => finalization,
                None => return,
            },
        };
        let view = finalization.finalized_view().unwrap_or_default();
        let mut closed = false;
        select! {
            _ = handed_off.wait_until(move |done| *done > view) => {},
            _ = clock.sleep(HOLD_AT_MOST) => {},
            next = finalizations.next() => match next {
                Some(next) => newer = Some(next),
                None => closed = true,
            },
        }
        inner.report(finalization);
        if closed {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_consensus::types::{Epoch, Round, View};
    use commonware_cryptography::{ed25519, sha256, Hasher as _, Sha256, Signer as _};
    use commonware_p2p::Recipients;
    use commonware_runtime::{deterministic, Runner as _, Spawner as _, Supervisor as _};
    use std::sync::{Arc, Mutex};

    /// An activity: a finalization of a view, or anything else.
    #[derive(Clone, Debug, PartialEq)]
    enum Seen {
        Finalization(u64),
        Other(u64),
        Broadcast(&'static str, u64),
    }

    impl Finalized for Seen {
        fn finalized_view(&self) -> Option<u64> {
            match self {
                Seen::Finalization(view) => Some(*view),
                _ => None,
            }
        }
    }

    /// Marshal's stand-in: records what reaches it, and the hand-off it saw at each broadcast.
    #[derive(Clone)]
    struct Recorder {
        seen: Arc<Mutex<Vec<Seen>>>,
        handed_off: Watch<u64>,
    }

    impl Recorder {
        fn seen(&self) -> Vec<Seen> {
            self.seen.lock().unwrap().clone()
        }
    }

    impl Reporter for Recorder {
        type Activity = Seen;

        fn report(&mut self, activity: Seen) -> Feedback {
            self.seen.lock().unwrap().push(activity);
            Feedback::Ok
        }
    }

    impl Relay for Recorder {
        type Digest = sha256::Digest;
        type PublicKey = ed25519::PublicKey;
        type Plan = Plan<ed25519::PublicKey>;

        fn broadcast(&mut self, _: sha256::Digest, plan: Self::Plan) -> Feedback {
            let kind = match plan {
                Plan::Prepare { .. } => "prepare",
                Plan::Propose { .. } => "propose",
                Plan::Forward { .. } => "forward",
            };
            let handed_off = self.handed_off.read(|view| *view);
            self.seen
                .lock()
                .unwrap()
                .push(Seen::Broadcast(kind, handed_off));
            Feedback::Ok
        }
    }

    /// A paced recorder with its pacer running.
    fn start(context: &deterministic::Context) -> (Paced<Recorder>, Recorder, Watch<u64>) {
        let handed_off = Watch::default();
        let recorder = Recorder {
            seen: Arc::default(),
            handed_off: handed_off.clone(),
        };
        let (paced, finalizations) = pace(recorder.clone(), handed_off.clone());
        context.child("pacer").spawn({
            let (recorder, handed_off) = (recorder.clone(), handed_off.clone());
            move |context| run(context, recorder, finalizations, handed_off)
        });
        (paced, recorder, handed_off)
    }

    fn round(view: u64) -> Round {
        Round::new(Epoch::zero(), View::new(view))
    }

    #[test]
    fn a_finalization_waits_until_a_later_view_is_handed_off_and_nothing_else_waits() {
        deterministic::Runner::default().start(|context| async move {
            let (mut paced, recorder, handed_off) = start(&context);
            paced.report(Seen::Finalization(5));
            paced.report(Seen::Other(6));
            context.sleep(Duration::from_millis(5)).await;
            assert_eq!(recorder.seen(), vec![Seen::Other(6)]);

            raise(&handed_off, 5);
            context.sleep(Duration::from_millis(5)).await;
            assert_eq!(
                recorder.seen(),
                vec![Seen::Other(6)],
                "view 5 itself is not enough"
            );

            raise(&handed_off, 6);
            context.sleep(Duration::from_millis(5)).await;
            assert_eq!(recorder.seen(), vec![Seen::Other(6), Seen::Finalization(5)]);
        });
    }

    #[test]
    fn a_finalization_goes_after_the_longest_hold_or_when_a_newer_one_comes() {
        deterministic::Runner::default().start(|context| async move {
            let (mut paced, recorder, _) = start(&context);
            paced.report(Seen::Finalization(5));
            // The deterministic runtime's clock moves a millisecond per turn: a few of slack.
            context.sleep(HOLD_AT_MOST - Duration::from_millis(5)).await;
            assert!(recorder.seen().is_empty());
            context.sleep(Duration::from_millis(10)).await;
            assert_eq!(recorder.seen(), vec![Seen::Finalization(5)]);

            // A validator catching up: each newer finalization lets the previous one through.
            for view in 7..10 {
                paced.report(Seen::Finalization(view));
            }
            context.sleep(Duration::from_millis(5)).await;
            assert_eq!(
                recorder.seen(),
                vec![
                    Seen::Finalization(5),
                    Seen::Finalization(7),
                    Seen::Finalization(8)
                ]
            );
            context.sleep(HOLD_AT_MOST).await;
            assert_eq!(recorder.seen().last(), Some(&Seen::Finalization(9)));
        });
    }

    #[test]
    fn a_proposal_counts_as_handed_off_once_marshal_has_it() {
        deterministic::Runner::default().start(|context| async move {
            let (mut paced, recorder, handed_off) = start(&context);
            let payload = Sha256::hash(&[b"block".as_slice()]);
            let peer = ed25519::PrivateKey::from_seed(1).public_key();
            paced.report(Seen::Finalization(3));
            paced.broadcast(
                payload,
                Plan::Forward {
                    round: round(2),
                    recipients: Recipients::One(peer),
                },
            );
            paced.broadcast(payload, Plan::Prepare { round: round(4) });
            context.sleep(Duration::from_millis(1)).await;
            assert_eq!(
                handed_off.read(|view| *view),
                0,
                "forwarding hands nothing off"
            );

            paced.broadcast(payload, Plan::Propose { round: round(4) });
            context.sleep(Duration::from_millis(1)).await;
            assert_eq!(handed_off.read(|view| *view), 4);
            assert_eq!(
                recorder.seen(),
                vec![
                    Seen::Broadcast("forward", 0),
                    Seen::Broadcast("prepare", 0),
                    // Marshal had the proposal before the finalization was let go.
                    Seen::Broadcast("propose", 0),
                    Seen::Finalization(3),
                ]
            );
        });
    }
}
