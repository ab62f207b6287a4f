//! Moves pending transactions between validators, so that whichever validator leads can propose a
//! transaction any validator accepted.
//!
//! Locally accepted transactions are sent as they are accepted (what is queued together, such as
//! a client's batch, in one message), to the leader of the newest view this node saw proposed.
//! Only the leader proposes, and each peer that admits a transaction hashes it, checks the index
//! for it and holds it: sending every transaction to every peer cost the cluster three admissions
//! for each one instead of one. The leader's own transactions still go to every peer (if it fails,
//! the next leader has them), and so does everything while no leader is known. A validator that
//! starts leading is handed every local transaction still pending ([`HANDOVER_LIMIT`]). A peer
//! that connects, or connects again, is told at once the hashes of what was sent in the last
//! [`REANNOUNCE_INTERVAL`] ([`Reconnects`]).
//! Local transactions still pending after [`REANNOUNCE_INTERVAL`] are announced again by hash,
//! to the same recipients (the leader may have been down, or this node just restarted), then
//! at doubling intervals while they wait (`Mempool::take_unannounced`). Either way a peer asks
//! for the ones it lacks, and only those travel again. (Re-sending whole transactions made a
//! saturated backlog cost every peer a hash of each one every few seconds, only to be refused
//! as a duplicate.) What peers send is admitted with the same checks as a client's submission; a
//! peer that sends an undecodable message is blocked. The message codec is `ordo_types::relay`
//! (so `fuzz/` can reach it without the engine).

use crate::proposer::{self, Connected};
use bytes::Bytes;
use commonware_macros::select;
use commonware_p2p::{Blocker, CheckedSender as _, Receiver, Recipients, Sender};
use commonware_runtime::Clock;
use commonware_utils::channel::watch;
use futures::StreamExt;
use ordo_mempool::{Announcement, Mempool, SubmitError};
use ordo_types::{
    relay::{
        decode, encode_have, encode_txs, encode_want, Message, MAX_HASHES_PER_MESSAGE,
        MAX_TXS_PER_MESSAGE,
    },
    PublicKey, RollupId, TxHash,
};
use std::{
    collections::VecDeque,
    time::{Duration, SystemTime},
};
use tracing::{debug, warn};

/// Transaction bytes after which a message is closed and the next one begun. A message is at
/// most this plus one transaction, well under the p2p message limit (a block's size plus
/// headroom).
const FLUSH_BYTES: usize = 256 * 1024;
/// How often a local transaction that stays pending is announced again.
const REANNOUNCE_INTERVAL: Duration = Duration::from_secs(2);
/// Most transactions re-announced per interval (a backlog is not re-sent all at once).
const REANNOUNCE_LIMIT: usize = 8_192;
/// How often the connected peers are looked at for ones that just connected.
const RECONNECT_CHECK_INTERVAL: Duration = Duration::from_millis(50);
/// Most pending local transactions handed to a new leader at once (~6 MB of 200-byte ones); the
/// rest reach it by re-announcement.
const HANDOVER_LIMIT: usize = 32_768;

/// The newest view seen proposed and its leader ([`crate::shared::note_leader`]).
pub(crate) type Leader = watch::Receiver<Option<(u64, PublicKey)>>;

/// Sends local transactions to peers and admits theirs, until the channel closes.
pub(crate) async fn run<E: Clock>(
    context: E,
    mempool: Mempool,
    mut blocker: impl Blocker<PublicKey = PublicKey>,
    connected: Connected,
    (me, mut leader): (PublicKey, Leader),
    (mut sender, mut receiver): (
        impl Sender<PublicKey = PublicKey>,
        impl Receiver<PublicKey = PublicKey>,
    ),
) {
    let mut local = mempool.announcements();
    let mut batch: Vec<(RollupId, Bytes)> = Vec::new();
    let mut reannounce_at = context.current() + REANNOUNCE_INTERVAL / 4;
    let mut reconnects = Reconnects::new(connected);
    let mut reconnect_check_at = context.current();
    loop {
        let deadline = reannounce_at.min(reconnect_check_at);
        // Biased in this order: timers, then peers, so a flood of local submissions cannot
        // starve either.
        select! {
            _ = context.sleep_until(deadline) => {
                if reconnect_check_at <= context.current() {
                    reconnects.check(&mut sender, context.current());
                    reconnect_check_at = context.current() + RECONNECT_CHECK_INTERVAL;
                }
                if reannounce_at <= context.current() {
                    let stale = mempool.take_unannounced(REANNOUNCE_INTERVAL, REANNOUNCE_LIMIT);
                    if !stale.is_empty() {
                        debug!(count = stale.len(), "announcing pending transactions again");
                    }
                    // To the leader as well: under a backlog, announcing to every peer had them
                    // all ask for (and admit) what only the leader proposes.
                    for hashes in stale.chunks(MAX_HASHES_PER_MESSAGE) {
                        sender.send(recipients(&leader, &me), encode_have(hashes), false);
                    }
                    reannounce_at = context.current() + REANNOUNCE_INTERVAL / 4;
                }
            },
            changed = leader.changed() => {
                if changed.is_err() {
                    return;
                }
                let newest = leader.borrow_and_update().clone();
                if let Some((view, new_leader)) = newest.filter(|(_, l)| *l != me) {
                    let pending = mempool.pending_local(HANDOVER_LIMIT);
                    debug!(view, leader = %new_leader, count = pending.len(), "handing pending transactions to a new leader");
                    send_to(&mut sender, Recipients::One(new_leader), &pending);
                }
            },
            message = receiver.recv() => {
                let Ok((peer, message)) = message else { return };
                handle(&mempool, &mut blocker, &mut sender, peer, message.as_ref());
            },
            tx = local.next() => {
                let Some(first) = tx else { return };
                // Whatever else is queued goes in the same messages (a client's batch is
                // announced as one run), and nothing waits for more: a timer that gathered
                // batches for 5 ms held a lone client's transactions back by as much.
                let now = context.current();
                let mut next = Some(first);
                let mut closed = false;
                while let Some(Announcement { hash, rollup, raw }) = next {
                    reconnects.pushed(now, hash);
                    batch.push((rollup, raw));
                    next = match local.try_recv() {
                        Ok(announcement) => Some(announcement),
                        Err(e) => {
                            closed = e.is_closed();
                            None
                        }
                    };
                }
                send(&mut sender, recipients(&leader, &me), &mut batch);
                if closed {
                    return;
                }
            },
        }
    }
}

fn send(
    sender: &mut impl Sender<PublicKey = PublicKey>,
    recipients: Recipients<PublicKey>,
    batch: &mut Vec<(RollupId, Bytes)>,
) {
    send_to(sender, recipients, batch);
    batch.clear();
}

/// Where local transactions go: the leader, unless that is this node or none is known yet.
fn recipients(leader: &Leader, me: &PublicKey) -> Recipients<PublicKey> {
    match &*leader.borrow() {
        Some((_, leader)) if leader != me => Recipients::One(leader.clone()),
        _ => Recipients::All,
    }
}

/// What a peer that just connected is told. Batches sent while a peer was not connected (the
/// mesh still forming at a start, a restart, a dropped connection) never reach it; without this
/// they waited for re-announcement, and with 50 ms between validators and connections flapping
/// at the start, ~1% of the delayed benchmark's transactions took 2-7 s instead of ~0.3 s.
struct Reconnects {
    /// Hashes of the local transactions sent in the last [`REANNOUNCE_INTERVAL`], oldest first;
    /// older ones are re-announced when due anyway.
    recent: VecDeque<(SystemTime, TxHash)>,
    /// The peers connected when last checked.
    connected: Vec<PublicKey>,
    /// Where each check is published (for [`crate::proposer::WatchProposer`]).
    published: Connected,
}

impl Reconnects {
    fn new(published: Connected) -> Self {
        Self {
            recent: VecDeque::new(),
            connected: Vec::new(),
            published,
        }
    }

    fn pushed(&mut self, now: SystemTime, hash: TxHash) {
        self.recent.push_back((now, hash));
    }

    /// Announces the recent hashes to each peer connected now and not at the last check.
    fn check(&mut self, sender: &mut impl Sender<PublicKey = PublicKey>, now: SystemTime) {
        while self.recent.front().is_some_and(|(at, _)| {
            now.duration_since(*at).unwrap_or_default() >= REANNOUNCE_INTERVAL
        }) {
            self.recent.pop_front();
        }
        // `All` is resolved against the connected peers (`One` is not: to a peer that is not
        // connected it is accepted and dropped), so ask who they are without sending.
        let connected = match sender.check(Recipients::All) {
            Ok(checked) => checked.recipients(),
            Err(_) => return,
        };
        proposer::publish(&self.published, &connected);
        let arrived: Vec<&PublicKey> = connected
            .iter()
            .filter(|p| !self.connected.contains(p))
            .collect();
        if !arrived.is_empty() && !self.recent.is_empty() {
            let hashes: Vec<TxHash> = self.recent.iter().map(|(_, hash)| *hash).collect();
            for peer in arrived {
                debug!(%peer, count = hashes.len(), "announcing recent transactions to a peer that connected");
                for chunk in hashes.chunks(MAX_HASHES_PER_MESSAGE) {
                    sender.send(Recipients::One(peer.clone()), encode_have(chunk), false);
                }
            }
        }
        self.connected = connected;
    }
}

/// Whether a `Txs` message of `count` transactions and `bytes` transaction bytes is full.
fn is_full(bytes: usize, count: usize) -> bool {
    bytes >= FLUSH_BYTES || count >= MAX_TXS_PER_MESSAGE
}

/// Sends `txs` in messages within the size and count limits.
fn send_to(
    sender: &mut impl Sender<PublicKey = PublicKey>,
    recipients: Recipients<PublicKey>,
    txs: &[(RollupId, Bytes)],
) {
    let mut start = 0;
    let mut bytes = 0;
    for (i, (_, raw)) in txs.iter().enumerate() {
        bytes += raw.len();
        if is_full(bytes, i + 1 - start) {
            // Peers that are offline or rate-limited miss it; re-announcement covers them.
            sender.send(recipients.clone(), encode_txs(&txs[start..=i]), false);
            start = i + 1;
            bytes = 0;
        }
    }
    if start < txs.len() {
        sender.send(recipients, encode_txs(&txs[start..]), false);
    }
}

fn handle(
    mempool: &Mempool,
    blocker: &mut impl Blocker<PublicKey = PublicKey>,
    sender: &mut impl Sender<PublicKey = PublicKey>,
    peer: PublicKey,
    message: &[u8],
) {
    match decode(message) {
        Ok(Message::Txs(txs)) => admit(mempool, &peer, txs),
        Ok(Message::Have(hashes)) => {
            let missing = mempool.missing(&hashes);
            if !missing.is_empty() {
                debug!(%peer, announced = hashes.len(), missing = missing.len(), "asking for transactions");
                sender.send(Recipients::One(peer), encode_want(&missing), false);
            }
        }
        Ok(Message::Want(hashes)) => {
            // Only what is still pending here: the rest was finalized (the peer will see it in
            // a block) or expired.
            send_to(sender, Recipients::One(peer), &mempool.pending_txs(&hashes));
        }
        Err(e) => {
            warn!(%peer, error = %e, "blocking peer: malformed relay message");
            let _ = blocker.block(peer);
        }
    }
}

fn admit(mempool: &Mempool, peer: &PublicKey, txs: Vec<(RollupId, Bytes)>) {
    let mut invalid = 0;
    for outcome in mempool.admit_relayed(txs) {
        match outcome {
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

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::{ed25519::PrivateKey, Signer as _};
    use commonware_p2p::simulated::{self, Link, Network};
    use commonware_runtime::{deterministic, Quota, Runner as _, Spawner as _, Supervisor as _};
    use commonware_utils::{NZUsize, SystemTimeExt as _, NZU32};
    use ordo_mempool::{Config, WallClock};
    use ordo_types::{tx_hash, RollupKind, RollupSpec};
    use std::path::Path;

    fn mempool(dir: &Path, context: &deterministic::Context) -> Mempool {
        let clock = context.child("mempool_clock");
        Mempool::open(
            dir,
            Config {
                rollups: vec![RollupSpec {
                    id: 901,
                    kind: RollupKind::Opaque,
                    share_bytes: 10_000,
                    max_tx_bytes: 1_000,
                    max_txs_per_block: 1_000,
                }],
                max_block_bytes: 10_000,
                max_pending_txs_per_rollup: 1_000,
                max_pending_bytes_per_rollup: 1 << 20,
                ttl: Duration::from_secs(3_600),
                clock: WallClock::new(move || clock.current().epoch_millis()),
            },
            |hashes| vec![false; hashes.len()],
        )
        .unwrap()
    }

    fn link() -> Link {
        Link {
            latency: Duration::from_millis(5),
            jitter: Duration::ZERO,
            success_rate: commonware_utils::Probability::from_f64(1.0).unwrap(),
        }
    }

    /// Three validators' relays over a simulated network, each with its own mempool; the peer
    /// set tracked at first is `tracked` (a validator outside it is not connected).
    struct Relays {
        keys: Vec<PublicKey>,
        pools: Vec<Mempool>,
        /// Each validator's view of who leads (none at first: local transactions go to all).
        leaders: Vec<crate::shared::NewestLeader>,
        oracle: simulated::Oracle<PublicKey, deterministic::Context>,
        _dirs: Vec<tempfile::TempDir>,
    }

    impl Relays {
        async fn start(context: &deterministic::Context, tracked: &[usize]) -> Self {
            let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
            let (network, oracle) = Network::new(
                context.child("network"),
                simulated::Config {
                    max_size: 1 << 20,
                    max_peers_per_set: NZUsize!(3),
                    disconnect_on_block: true,
                    tracked_peer_sets: NZUsize!(1),
                },
            );
            network.start();
            let keys: Vec<PublicKey> = (0..3)
                .map(|i| PrivateKey::from_seed(i).public_key())
                .collect();
            let relays = Self {
                pools: dirs.iter().map(|d| mempool(d.path(), context)).collect(),
                leaders: (0..3)
                    .map(|_| crate::shared::NewestLeader::new(None))
                    .collect(),
                keys,
                oracle,
                _dirs: dirs,
            };
            relays.track(0, tracked);
            for (i, (key, pool)) in relays.keys.iter().zip(&relays.pools).enumerate() {
                let control = relays.oracle.control(key.clone());
                let channel = control
                    .register(0, Quota::per_second(NZU32!(10_000)))
                    .await
                    .unwrap();
                let (pool, blocker) = (pool.clone(), relays.oracle.control(key.clone()));
                let leader = (key.clone(), relays.leaders[i].subscribe());
                context.child("relay").spawn(move |context| {
                    run(
                        context,
                        pool,
                        blocker,
                        Connected::default(),
                        leader,
                        channel,
                    )
                });
            }
            relays
        }

        /// Every validator sees `leader` propose `view`.
        fn lead(&self, view: u64, leader: usize) {
            for seen in &self.leaders {
                seen.send_replace(Some((view, self.keys[leader].clone())));
            }
        }

        fn track(&self, id: u64, members: &[usize]) {
            let mut manager = self.oracle.manager();
            commonware_p2p::Manager::track(
                &mut manager,
                id,
                commonware_utils::ordered::Set::from_iter_dedup(
                    members.iter().map(|&i| self.keys[i].clone()),
                ),
            );
        }

        async fn link(&self, a: usize, b: usize) {
            for (from, to) in [(a, b), (b, a)] {
                self.oracle
                    .add_link(self.keys[from].clone(), self.keys[to].clone(), link())
                    .await
                    .unwrap();
            }
        }
    }

    /// A peer that was unreachable when a transaction was first pushed gets it once reachable,
    /// by asking for the hashes the origin announces again.
    #[test]
    fn a_peer_that_missed_a_transaction_asks_for_it_and_gets_it() {
        deterministic::Runner::seeded(7).start(|context| async move {
            let relays = Relays::start(&context, &[0, 1, 2]).await;
            let pools = &relays.pools;
            // origin (0) <-> holder (1) from the start; origin <-> latecomer (2) only later.
            relays.link(0, 1).await;
            let raw = Bytes::from_static(b"a transaction the latecomer missed");
            let hash = pools[0].submit_blocking(901, raw.clone()).unwrap();
            context.sleep(Duration::from_millis(100)).await;
            assert!(
                pools[1].is_pending(&hash),
                "pushed to a reachable peer at once"
            );
            assert!(!pools[2].is_pending(&hash), "an unreachable peer misses it");

            relays.link(0, 2).await;
            context
                .sleep(REANNOUNCE_INTERVAL + Duration::from_secs(1))
                .await;
            assert!(
                pools[2].is_pending(&hash),
                "announced again, asked for, received"
            );
            assert_eq!(pools[2].pending_txs(&[tx_hash(&raw)]), vec![(901, raw)]);
        });
    }

    /// A peer that was not connected when a batch went out is told of it as soon as it connects,
    /// asks for it and gets it, long before re-announcement would have offered it.
    #[test]
    fn a_peer_that_connects_late_gets_the_batches_it_missed_at_once() {
        deterministic::Runner::seeded(11).start(|context| async move {
            let relays = Relays::start(&context, &[0, 1]).await;
            let pools = &relays.pools;
            relays.link(0, 1).await;
            relays.link(0, 2).await;
            let raw = Bytes::from_static(b"sent before the latecomer connected");
            let hash = pools[0].submit_blocking(901, raw).unwrap();
            context.sleep(Duration::from_millis(100)).await;
            assert!(pools[1].is_pending(&hash), "pushed to a connected peer");
            assert!(!pools[2].is_pending(&hash), "not to one outside the set");

            relays.track(1, &[0, 1, 2]);
            let wait = RECONNECT_CHECK_INTERVAL * 4;
            context.sleep(wait).await;
            assert!(
                pools[2].is_pending(&hash),
                "received {:?} after it went out, before re-announcement ({REANNOUNCE_INTERVAL:?})",
                Duration::from_millis(100) + wait,
            );
        });
    }

    /// Three linked validators that all saw `leader` propose; validator 0 then accepts `raw`.
    /// Returns them 100 ms later, with the transaction's hash.
    async fn led_by(
        context: &deterministic::Context,
        leader: usize,
        raw: &'static [u8],
    ) -> (Relays, TxHash) {
        let relays = Relays::start(context, &[0, 1, 2]).await;
        for (a, b) in [(0, 1), (0, 2), (1, 2)] {
            relays.link(a, b).await;
        }
        relays.lead(5, leader);
        context.sleep(Duration::from_millis(10)).await;
        let hash = relays.pools[0]
            .submit_blocking(901, Bytes::from_static(raw))
            .unwrap();
        context.sleep(Duration::from_millis(100)).await;
        (relays, hash)
    }

    /// Once a leader is known, a validator's transactions go to it alone; when another
    /// validator starts leading, it is handed what is still pending, long before
    /// re-announcement would have offered it.
    #[test]
    fn transactions_go_to_the_leader_and_a_new_leader_is_handed_the_pending_ones() {
        deterministic::Runner::seeded(13).start(|context| async move {
            let (relays, hash) = led_by(&context, 1, b"for the leader").await;
            let pools = &relays.pools;
            assert!(pools[1].is_pending(&hash), "sent to the leader");
            assert!(
                !pools[2].is_pending(&hash),
                "not to a validator that does not lead"
            );

            relays.lead(6, 2);
            context.sleep(Duration::from_millis(100)).await;
            assert!(
                pools[2].is_pending(&hash),
                "handed to the new leader within 100 ms (re-announcement: {REANNOUNCE_INTERVAL:?})"
            );
        });
    }

    /// The leader's own transactions go to every peer, so that the next leader has them if it
    /// fails.
    #[test]
    fn the_leaders_own_transactions_go_to_every_peer() {
        deterministic::Runner::seeded(17).start(|context| async move {
            let (relays, hash) = led_by(&context, 0, b"from the leader").await;
            assert!(relays.pools[1].is_pending(&hash) && relays.pools[2].is_pending(&hash));
        });
    }
}
