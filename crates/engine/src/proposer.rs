//! Gives up verifying a proposal whose block can no longer arrive: its proposer disconnected.
//!
//! A leader's notarize vote and its block travel apart (the vote channel; marshal's buffered
//! broadcast). A leader killed between the two leaves its peers with the proposal and no block,
//! and marshal's inline verification waits for the block without a bound. Simplex disarms the
//! leader timeout (200 ms) once it has a proposal, so the view then ended only at the
//! certification timeout (500 ms): ~1 leader kill in 14 took 430-490 ms to fail over instead of
//! ~200 ms. Buffered broadcast sends a block once and only from its proposer, so when a check made
//! after the verification began finds the proposer disconnected, the block is not coming.
//! [`WatchProposer`] then drops the verdict, and simplex nullifies the view at once
//! (`IgnoredProposal`). That is always safe: a nullify vote only says "not this view"; if the
//! others notarize the block anyway, certification fetches it.
//!
//! The connected peers are the relay's: it looks at them every 50 ms ([`Connected`]).

use commonware_consensus::{
    simplex::types::Context, types::Round, Automaton, CertifiableAutomaton, Handoff,
};
use commonware_macros::select;
use commonware_runtime::Spawner;
use commonware_utils::channel::oneshot;
use ordo_types::{Digest, PublicKey};
use ordo_watch::Watch;
use std::sync::Arc;
use tracing::debug;

/// The peers connected at the relay's latest look; its version counts the looks. The relay
/// publishes, each watched verification waits on it (several at once under lookahead: a
/// [`Watch`] wakes them in a fixed order, so the simulation replays).
pub(crate) type Connected = Watch<Vec<PublicKey>>;

/// Records one look at the connected peers.
pub(crate) fn publish(connected: &Connected, peers: &[PublicKey]) {
    connected.modify(|connected| {
        connected.clear();
        connected.extend_from_slice(peers);
    });
}

/// An automaton whose verifications end, unanswered, once their proposer is seen disconnected.
pub(crate) struct WatchProposer<E, A> {
    context: Arc<E>,
    inner: A,
    me: PublicKey,
    connected: Connected,
}

impl<E, A> WatchProposer<E, A> {
    pub(crate) fn new(context: E, inner: A, me: PublicKey, connected: Connected) -> Self {
        Self {
            context: Arc::new(context),
            inner,
            me,
            connected,
        }
    }
}

impl<E, A: Clone> Clone for WatchProposer<E, A> {
    fn clone(&self) -> Self {
        Self {
            context: self.context.clone(),
            inner: self.inner.clone(),
            me: self.me.clone(),
            connected: self.connected.clone(),
        }
    }
}

impl<E, A> Automaton for WatchProposer<E, A>
where
    E: Spawner,
    A: Automaton<Context = Context<Digest, PublicKey>, Digest = Digest>,
{
    type Context = Context<Digest, PublicKey>;
    type Digest = Digest;

    async fn propose(&mut self, context: Self::Context) -> oneshot::Receiver<Digest> {
        self.inner.propose(context).await
    }

    async fn verify(&mut self, context: Self::Context, payload: Digest) -> oneshot::Receiver<bool> {
        let leader = context.leader.clone();
        let round = context.round;
        let connected = self.connected.clone();
        // Only a look taken after this point counts: an older one may predate the connection
        // that delivered the proposal.
        let mut seen = connected.version();
        let mut verdict = self.inner.verify(context, payload).await;
        if leader == self.me {
            return verdict;
        }
        let (mut tx, rx) = oneshot::channel();
        self.context.child("watch_proposer").spawn(move |_| async move {
            loop {
                // Without a relay (shut down) no look comes: the verdict alone ends the wait.
                select! {
                    _ = tx.closed() => return,
                    result = &mut verdict => {
                        if let Ok(valid) = result {
                            let _ = tx.send(valid);
                        }
                        return;
                    },
                    _ = connected.changed_since(seen) => {
                        // The version first: a look in between is checked on the next turn.
                        seen = connected.version();
                        if !connected.read(|peers| peers.contains(&leader)) {
                            debug!(?round, %leader, "proposer disconnected before its block arrived: not voting on it");
                            return;
                        }
                    },
                }
            }
        });
        rx
    }
}

impl<E, A> CertifiableAutomaton for WatchProposer<E, A>
where
    E: Spawner,
    A: CertifiableAutomaton<Context = Context<Digest, PublicKey>, Digest = Digest>,
{
    async fn prepare(&mut self, context: Self::Context) -> oneshot::Receiver<Handoff<Digest>> {
        self.inner.prepare(context).await
    }

    async fn certify(&mut self, round: Round, payload: Digest) -> oneshot::Receiver<bool> {
        self.inner.certify(round, payload).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_consensus::types::{Epoch, View};
    use commonware_cryptography::{ed25519::PrivateKey, Hasher as _, Sha256, Signer as _};
    use commonware_runtime::{deterministic, Clock as _, Runner as _, Supervisor as _};
    use std::{
        sync::{Arc, Mutex},
        time::Duration,
    };

    /// The automaton under the watch: each verification waits until the test answers it.
    #[derive(Clone, Default)]
    struct Held(Arc<Mutex<Vec<oneshot::Sender<bool>>>>);

    impl Held {
        fn take(&self) -> oneshot::Sender<bool> {
            self.0
                .lock()
                .unwrap()
                .pop()
                .expect("a verification was asked")
        }
    }

    impl Automaton for Held {
        type Context = Context<Digest, PublicKey>;
        type Digest = Digest;

        async fn propose(&mut self, _: Self::Context) -> oneshot::Receiver<Digest> {
            oneshot::channel().1
        }

        async fn verify(&mut self, _: Self::Context, _: Digest) -> oneshot::Receiver<bool> {
            let (tx, rx) = oneshot::channel();
            self.0.lock().unwrap().push(tx);
            rx
        }
    }

    fn digest(label: &[u8]) -> Digest {
        Sha256::hash(&[label])
    }

    fn key(seed: u64) -> PublicKey {
        PrivateKey::from_seed(seed).public_key()
    }

    fn proposal_by(leader: PublicKey) -> Context<Digest, PublicKey> {
        Context {
            round: Round::new(Epoch::zero(), View::new(7)),
            leader,
            parent: (View::new(6), digest(b"parent")),
        }
    }

    /// A watched verification, what it waits on, and where the relay's looks are published.
    struct Setup {
        watched: WatchProposer<deterministic::Context, Held>,
        held: Held,
        looks: Connected,
    }

    fn setup(context: &deterministic::Context) -> Setup {
        let looks = Connected::default();
        let held = Held::default();
        let watched =
            WatchProposer::new(context.child("watch"), held.clone(), key(0), looks.clone());
        Setup {
            watched,
            held,
            looks,
        }
    }

    #[test]
    fn a_verification_ends_unanswered_once_its_proposer_is_seen_disconnected() {
        deterministic::Runner::default().start(|context| async move {
            let mut s = setup(&context);
            let leader = key(1);
            publish(&s.looks, &[leader.clone(), key(2)]);
            let mut verdict = s
                .watched
                .verify(proposal_by(leader.clone()), digest(b"block"))
                .await;
            publish(&s.looks, &[leader.clone(), key(2)]);
            context.sleep(Duration::from_millis(10)).await;
            assert!(
                matches!(verdict.try_recv(), Err(oneshot::error::TryRecvError::Empty)),
                "still waiting while the proposer is connected"
            );
            publish(&s.looks, &[key(2)]);
            context.sleep(Duration::from_millis(10)).await;
            assert!(
                matches!(
                    verdict.try_recv(),
                    Err(oneshot::error::TryRecvError::Closed)
                ),
                "dropped: simplex nullifies the view"
            );
            assert!(
                s.held.take().is_closed(),
                "the block wait below is released too"
            );
        });
    }

    #[test]
    fn a_look_taken_before_the_verification_began_does_not_count() {
        deterministic::Runner::default().start(|context| async move {
            let mut s = setup(&context);
            let leader = key(1);
            // The last look predates the connection that brought the proposal.
            publish(&s.looks, &[key(2)]);
            let mut verdict = s
                .watched
                .verify(proposal_by(leader.clone()), digest(b"block"))
                .await;
            context.sleep(Duration::from_millis(10)).await;
            assert!(matches!(
                verdict.try_recv(),
                Err(oneshot::error::TryRecvError::Empty)
            ));
            s.held.take().send(true).unwrap();
            context.sleep(Duration::from_millis(10)).await;
            assert_eq!(verdict.try_recv(), Ok(true), "the verdict passes through");
        });
    }

    #[test]
    fn an_invalid_verdict_passes_through_and_own_proposals_are_not_watched() {
        deterministic::Runner::default().start(|context| async move {
            let mut s = setup(&context);
            let mut verdict = s
                .watched
                .verify(proposal_by(key(1)), digest(b"block"))
                .await;
            s.held.take().send(false).unwrap();
            context.sleep(Duration::from_millis(10)).await;
            assert_eq!(verdict.try_recv(), Ok(false));

            // This validator (key 0) is never among its own connected peers.
            let mut own = s
                .watched
                .verify(proposal_by(key(0)), digest(b"block"))
                .await;
            publish(&s.looks, &[key(1)]);
            context.sleep(Duration::from_millis(10)).await;
            assert!(matches!(
                own.try_recv(),
                Err(oneshot::error::TryRecvError::Empty)
            ));
            s.held.take().send(true).unwrap();
            assert_eq!(own.await, Ok(true));
        });
    }

    #[test]
    fn a_verification_consensus_gave_up_on_stops_being_watched() {
        deterministic::Runner::default().start(|context| async move {
            let mut s = setup(&context);
            let verdict = s
                .watched
                .verify(proposal_by(key(1)), digest(b"block"))
                .await;
            drop(verdict);
            context.sleep(Duration::from_millis(10)).await;
            assert!(
                s.held.take().is_closed(),
                "the watch ended and released the wait below"
            );
        });
    }
}
