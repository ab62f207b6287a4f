//! Ends the wait for a block whose proposer disconnected, and passes the block on if this node has it.
//!
//! A leader's notarize vote and its block travel apart (the vote channel; marshal's buffered
//! broadcast). A leader killed between the two leaves its peers with the proposal and no block,
//! and marshal's inline verification waits for the block without a bound. Simplex disarms the
//! leader timeout (200 ms) once it has a proposal, so the view then ended only at the
//! certification timeout (500 ms): ~1 leader kill in 14 took 430-490 ms to fail over instead of
//! ~200 ms. Buffered broadcast sends a block once and only from its proposer, so the block is
//! not coming once the proposer is gone, unless a peer that has it sends it on. [`WatchProposer`]
//! does both halves:
//!
//! - A follower still waiting for the block when two looks in a row, taken after its verification
//!   began, lack the proposer, drops the verdict, and simplex nullifies the view at once
//!   (`IgnoredProposal`). That is always safe: a nullify vote only says "not this view"; if the
//!   others notarize the block anyway, certification fetches it.
//! - A follower that verified the block and then sees its proposer gone (within the
//!   certification timeout) forwards the block to its peers ([`Forward`]). Without that, a kill
//!   after the block reached one follower only still cost the certification timeout: that
//!   follower voted to notarize, and simplex nullifies a view it voted for only at that timeout.
//!   The second look of the first half gives the forwarded block time to arrive.
//!
//! The connected peers are the relay's: it looks at them every 50 ms ([`Connected`]).

use commonware_consensus::{
    simplex::types::Context, types::Round, Automaton, CertifiableAutomaton, Handoff,
};
use commonware_macros::select;
use commonware_runtime::{Clock, Spawner};
use commonware_utils::channel::{oneshot, watch};
use ordo_types::{Digest, PublicKey};
use std::{sync::Arc, time::Duration};
use tracing::debug;

/// The peers connected at the relay's latest look, and how many looks it has taken.
#[derive(Clone, Debug, Default)]
pub(crate) struct Connected {
    pub checks: u64,
    pub peers: Vec<PublicKey>,
}

/// Publishes [`Connected`]: the relay holds the sender, [`WatchProposer`] the receivers.
pub(crate) fn connected() -> (watch::Sender<Connected>, watch::Receiver<Connected>) {
    watch::channel(Connected::default())
}

/// Records one look at the connected peers.
pub(crate) fn publish(sender: &watch::Sender<Connected>, peers: &[PublicKey]) {
    sender.send_modify(|connected| {
        connected.checks += 1;
        connected.peers.clear();
        connected.peers.extend_from_slice(peers);
    });
}

/// Sends a block this node holds to its connected peers (marshal's forward).
pub(crate) trait Forward: Clone + Send + Sync + 'static {
    fn forward(&self, round: Round, block: Digest);
}

/// An automaton whose verifications end, unanswered, once their proposer is seen disconnected,
/// and whose verified blocks are forwarded when their proposer disconnects soon after.
pub(crate) struct WatchProposer<E, A, F> {
    context: Arc<E>,
    inner: A,
    forward: F,
    me: PublicKey,
    connected: watch::Receiver<Connected>,
    /// How long after its verification a block is forwarded: past the certification timeout its
    /// view has ended anyway.
    forward_window: Duration,
}

impl<E, A, F> WatchProposer<E, A, F> {
    pub(crate) fn new(
        context: E,
        inner: A,
        forward: F,
        me: PublicKey,
        connected: watch::Receiver<Connected>,
        forward_window: Duration,
    ) -> Self {
        Self {
            context: Arc::new(context),
            inner,
            forward,
            me,
            connected,
            forward_window,
        }
    }
}

impl<E, A: Clone, F: Clone> Clone for WatchProposer<E, A, F> {
    fn clone(&self) -> Self {
        Self {
            context: self.context.clone(),
            inner: self.inner.clone(),
            forward: self.forward.clone(),
            me: self.me.clone(),
            connected: self.connected.clone(),
            forward_window: self.forward_window,
        }
    }
}

/// Counts the looks, taken after `since`, that lack `leader` in a row.
struct Absence<'a> {
    leader: &'a PublicKey,
    since: u64,
    in_a_row: u32,
}

impl Absence<'_> {
    /// Takes the latest look into account; returns how many in a row lacked the leader.
    fn look(&mut self, connected: &Connected) -> u32 {
        if connected.checks <= self.since {
            return 0;
        }
        if connected.peers.contains(self.leader) {
            self.in_a_row = 0;
        } else {
            self.in_a_row += 1;
        }
        self.in_a_row
    }
}

/// Looks in a row without the proposer after which a missing block is given up.
const ABSENT_LOOKS_TO_GIVE_UP: u32 = 2;

impl<E, A, F> Automaton for WatchProposer<E, A, F>
where
    E: Spawner + Clock,
    A: Automaton<Context = Context<Digest, PublicKey>, Digest = Digest>,
    F: Forward,
{
    type Context = Context<Digest, PublicKey>;
    type Digest = Digest;

    async fn propose(&mut self, context: Self::Context) -> oneshot::Receiver<Digest> {
        self.inner.propose(context).await
    }

    async fn verify(&mut self, context: Self::Context, payload: Digest) -> oneshot::Receiver<bool> {
        let leader = context.leader.clone();
        let round = context.round;
        let mut connected = self.connected.clone();
        // Only a look taken after this point counts: an older one may predate the connection
        // that delivered the proposal.
        let since = connected.borrow_and_update().checks;
        let mut verdict = self.inner.verify(context, payload).await;
        if leader == self.me {
            return verdict;
        }
        let (mut tx, rx) = oneshot::channel();
        let forward = self.forward.clone();
        let window = self.forward_window;
        self.context
            .child("watch_proposer")
            .spawn(move |context| async move {
                let mut absence = Absence {
                    leader: &leader,
                    since,
                    in_a_row: 0,
                };
                // While the block is awaited: give it up once the proposer is gone.
                loop {
                    select! {
                        _ = tx.closed() => return,
                        result = &mut verdict => {
                            match result {
                                Ok(true) => {
                                    let _ = tx.send(true);
                                    break;
                                }
                                Ok(false) => {
                                    let _ = tx.send(false);
                                }
                                Err(_) => {}
                            }
                            return;
                        },
                        changed = connected.changed() => {
                            if changed.is_err() {
                                // No relay any more to tell: wait for the verdict alone.
                                select! {
                                    _ = tx.closed() => {},
                                    result = verdict => {
                                        if let Ok(valid) = result {
                                            let _ = tx.send(valid);
                                        }
                                    },
                                }
                                return;
                            }
                            let absent = absence.look(&connected.borrow_and_update());
                            if absent >= ABSENT_LOOKS_TO_GIVE_UP {
                                debug!(?round, %leader, "proposer disconnected before its block arrived: not voting on it");
                                return;
                            }
                        },
                    }
                }
                // Verified and voted: pass the block on if its proposer goes before the view
                // can have ended.
                let forward_it = || {
                    debug!(?round, %leader, "proposer disconnected after its block arrived: forwarding it");
                    forward.forward(round, payload);
                };
                if absence.in_a_row > 0 {
                    forward_it();
                    return;
                }
                let deadline = context.sleep(window);
                futures::pin_mut!(deadline);
                loop {
                    select! {
                        _ = &mut deadline => return,
                        changed = connected.changed() => {
                            if changed.is_err() {
                                return;
                            }
                            if absence.look(&connected.borrow_and_update()) > 0 {
                                forward_it();
                                return;
                            }
                        },
                    }
                }
            });
        rx
    }
}

impl<E, A, F> CertifiableAutomaton for WatchProposer<E, A, F>
where
    E: Spawner + Clock,
    A: CertifiableAutomaton<Context = Context<Digest, PublicKey>, Digest = Digest>,
    F: Forward,
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
    use commonware_runtime::{deterministic, Runner as _, Supervisor as _};
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

    /// Records what marshal was asked to forward.
    #[derive(Clone, Default)]
    struct Forwarded(Arc<Mutex<Vec<(Round, Digest)>>>);

    impl Forward for Forwarded {
        fn forward(&self, round: Round, block: Digest) {
            self.0.lock().unwrap().push((round, block));
        }
    }

    impl Forwarded {
        fn all(&self) -> Vec<(Round, Digest)> {
            self.0.lock().unwrap().clone()
        }
    }

    const WINDOW: Duration = Duration::from_millis(500);

    /// A watched verification, what it waits on, what it forwarded, and where the relay's
    /// looks are published.
    struct Setup {
        watched: WatchProposer<deterministic::Context, Held, Forwarded>,
        held: Held,
        forwarded: Forwarded,
        looks: watch::Sender<Connected>,
    }

    fn setup(context: &deterministic::Context) -> Setup {
        let (looks, connected) = super::connected();
        let held = Held::default();
        let forwarded = Forwarded::default();
        let watched = WatchProposer::new(
            context.child("watch"),
            held.clone(),
            forwarded.clone(),
            key(0),
            connected,
            WINDOW,
        );
        Setup {
            watched,
            held,
            forwarded,
            looks,
        }
    }

    fn pending(verdict: &mut oneshot::Receiver<bool>) -> bool {
        matches!(verdict.try_recv(), Err(oneshot::error::TryRecvError::Empty))
    }

    #[test]
    fn a_verification_ends_unanswered_once_its_proposer_is_seen_disconnected_twice() {
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
                pending(&mut verdict),
                "still waiting while the proposer is connected"
            );
            publish(&s.looks, &[key(2)]);
            context.sleep(Duration::from_millis(10)).await;
            assert!(
                pending(&mut verdict),
                "one look without it leaves time for a peer to forward the block"
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
    fn a_proposer_seen_again_restarts_the_count() {
        deterministic::Runner::default().start(|context| async move {
            let mut s = setup(&context);
            let leader = key(1);
            let mut verdict = s
                .watched
                .verify(proposal_by(leader.clone()), digest(b"block"))
                .await;
            for peers in [vec![key(2)], vec![leader.clone()], vec![key(2)]] {
                publish(&s.looks, &peers);
                context.sleep(Duration::from_millis(10)).await;
            }
            assert!(pending(&mut verdict), "no two looks in a row lacked it");
            s.held.take().send(true).unwrap();
            assert_eq!(verdict.await, Ok(true));
        });
    }

    #[test]
    fn a_verified_block_is_forwarded_once_when_its_proposer_disconnects_soon_after() {
        deterministic::Runner::default().start(|context| async move {
            let mut s = setup(&context);
            let leader = key(1);
            let proposal = proposal_by(leader.clone());
            let round = proposal.round;
            let verdict = s.watched.verify(proposal, digest(b"block")).await;
            s.held.take().send(true).unwrap();
            assert_eq!(verdict.await, Ok(true), "the vote is not held back");
            publish(&s.looks, &[leader.clone(), key(2)]);
            context.sleep(Duration::from_millis(10)).await;
            assert!(s.forwarded.all().is_empty(), "its proposer is still there");
            publish(&s.looks, &[key(2)]);
            context.sleep(Duration::from_millis(10)).await;
            assert_eq!(s.forwarded.all(), vec![(round, digest(b"block"))]);
            publish(&s.looks, &[key(2)]);
            context.sleep(Duration::from_millis(10)).await;
            assert_eq!(s.forwarded.all().len(), 1, "forwarded once");
        });
    }

    #[test]
    fn a_block_verified_after_its_proposer_was_seen_gone_is_forwarded_at_once() {
        deterministic::Runner::default().start(|context| async move {
            let mut s = setup(&context);
            let verdict = s
                .watched
                .verify(proposal_by(key(1)), digest(b"block"))
                .await;
            publish(&s.looks, &[key(2)]);
            context.sleep(Duration::from_millis(10)).await;
            s.held.take().send(true).unwrap();
            assert_eq!(verdict.await, Ok(true));
            context.sleep(Duration::from_millis(1)).await;
            assert_eq!(s.forwarded.all().len(), 1, "no further look needed");
        });
    }

    #[test]
    fn a_block_verified_long_ago_is_not_forwarded() {
        deterministic::Runner::default().start(|context| async move {
            let mut s = setup(&context);
            let verdict = s
                .watched
                .verify(proposal_by(key(1)), digest(b"block"))
                .await;
            s.held.take().send(true).unwrap();
            assert_eq!(verdict.await, Ok(true));
            context.sleep(WINDOW + Duration::from_millis(1)).await;
            publish(&s.looks, &[key(2)]);
            context.sleep(Duration::from_millis(10)).await;
            assert!(
                s.forwarded.all().is_empty(),
                "its view has ended: every peer that voted has the block"
            );

            // Nor is an invalid block, nor one of this validator's own.
            let verdict = s.watched.verify(proposal_by(key(1)), digest(b"bad")).await;
            s.held.take().send(false).unwrap();
            assert_eq!(verdict.await, Ok(false));
            let own = s.watched.verify(proposal_by(key(0)), digest(b"own")).await;
            s.held.take().send(true).unwrap();
            assert_eq!(own.await, Ok(true));
            publish(&s.looks, &[key(2)]);
            context.sleep(Duration::from_millis(10)).await;
            assert!(s.forwarded.all().is_empty());
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
