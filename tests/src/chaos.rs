//! Chaos under load with the real binary, shared by `tests/chaos.rs` (CI-sized) and `ordo-soak`.
//!
//! Real `ordo-node` validators on loopback, their p2p links through [`Links`], several clients
//! submitting transactions of rollups 901 (evm), 902 (evm) and 903 (opaque) without pause to
//! validators picked at random (a refused connection is retried on another validator, as a
//! wallet would). Meanwhile a driver, never taking more than `max_down` validators down at once,
//! kills validators with SIGKILL (the leader, one at random, or two in a row) and restarts them
//! after a random pause, and cuts one validator (the leader or another) off from the others'
//! p2p traffic for a while. Afterwards every transaction a validator acknowledged must be in
//! exactly one finalized block and every validator must hold the same chain.
//!
//! Measured: failover (leader killed or cut off -> a block of another leader notarized at a
//! majority validator), restart (process started -> its finalized height reaches the others' at that
//! moment), and for each partition the majority's progress and the minority's catch-up.

use crate::{
    cluster::{self, Cluster, FinalizedWalk},
    network::Network as _,
    relay::Links,
    txgen,
};
use anyhow::{Context as _, Result};
use bytes::Bytes;
use jsonrpsee::http_client::HttpClient;
use rand::{rngs::StdRng, seq::SliceRandom as _, RngExt as _, SeedableRng};
use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

/// The rollups the clients load: two EVM chains and an opaque one.
pub const ROLLUPS: &str = "901:evm,902:evm,903:opaque";
const ROLLUP_IDS: [u64; 3] = [901, 902, 903];

/// A leader's absence must end within this (a few stall timeouts).
const FAILOVER_TIMEOUT: Duration = Duration::from_secs(30);
/// A restarted or reconnected validator must reach the others' finalized height within this.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(60);
/// After the load stops, every acknowledged transaction must be finalized within this.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(120);
/// A client gives up on a batch no validator answers for this long (a failed check).
const SUBMIT_TIMEOUT: Duration = Duration::from_secs(60);
/// After a cut, what the isolated validator had already received may still be processed.
const CUT_SETTLE: Duration = Duration::from_secs(2);
/// Transaction locations each validator's index holds in memory before moving them into its
/// tables (the node's default is 262,144; the runs here finalize ~20,000).
const INDEX_INGEST_EVERY: i64 = 2_000;

/// One disturbance the driver applies, then undoes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// kill -9 of the validator that leads the newest notarized block.
    KillLeader,
    /// kill -9 of a validator picked at random (the leader or not).
    KillRandom,
    /// Two validators picked at random, one after the other: the second is killed as soon as
    /// the first is started again, before it has caught up.
    KillTwoInARow,
    /// The leader's p2p links cut, then restored.
    IsolateLeader,
    /// The p2p links of a validator picked at random cut, then restored.
    IsolateRandom,
}

impl Event {
    pub const ALL: [Event; 5] = [
        Event::KillLeader,
        Event::KillRandom,
        Event::KillTwoInARow,
        Event::IsolateLeader,
        Event::IsolateRandom,
    ];
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    pub validators: usize,
    /// f: most validators down (killed or cut off) at the same time.
    pub max_down: usize,
    pub block_interval_ms: u64,
    /// Concurrent clients; each sends a batch of `batch` transactions, waits for the answer,
    /// then pauses `client_pause`.
    pub clients: usize,
    pub batch: usize,
    pub client_pause: Duration,
    /// The disturbances, in this order.
    pub events: Vec<Event>,
    /// None: `events` once. Some(d): rounds of `events`, each round shuffled, until `d` passed.
    pub repeat_for: Option<Duration>,
    /// How long a killed validator stays down (uniform in the range).
    pub down: (Duration, Duration),
    /// How long a validator stays cut off.
    pub isolation: (Duration, Duration),
    /// Quiet time between two events.
    pub calm: (Duration, Duration),
    pub seed: u64,
}

/// Failed and passed checks, and the figures.
#[derive(Debug, Default)]
pub struct Report {
    pub seed: u64,
    pub elapsed: Duration,
    /// Transactions a validator answered with their hash.
    pub acknowledged: usize,
    /// Transactions a retry found already pending or included (the first answer was lost).
    pub known: usize,
    /// Of those two kinds, how many are in exactly one finalized block.
    pub included_once: usize,
    pub lost: usize,
    pub doubled: usize,
    pub final_height: u64,
    pub events: Vec<String>,
    /// Leader killed or cut off -> a block of another leader notarized at a majority validator.
    pub failovers: Vec<Duration>,
    /// Process started -> caught up with the others' finalized height at that moment.
    pub restarts: Vec<Duration>,
    /// Blocks the majority finalized while a validator was cut off.
    pub partition_blocks: Vec<u64>,
    /// Links restored -> the cut-off validator caught up with the majority.
    pub partition_catch_ups: Vec<Duration>,
    pub passed: Vec<String>,
    pub failed: Vec<String>,
}

impl Report {
    fn check(&mut self, what: String, outcome: Result<(), String>) {
        match outcome {
            Ok(()) => self.passed.push(what),
            Err(why) => {
                println!("  FAILED {what}: {why}");
                self.failed.push(format!("{what}: {why}"));
            }
        }
    }

    /// The figures, the failed checks, and a last line `<label>: N passed, M failed`.
    pub fn print(&self, label: &str) {
        let answered = self.acknowledged + self.known;
        println!(
            "{label}: seed {}, {:.0} s, finalized height {}",
            self.seed,
            self.elapsed.as_secs_f64(),
            self.final_height
        );
        println!(
            "transactions: {answered} acknowledged ({} with their hash, {} found already \
             pending/included by a retry), {} included exactly once, {} lost, {} included twice \
             ({:.0} tx/s)",
            self.acknowledged,
            self.known,
            self.included_once,
            self.lost,
            self.doubled,
            answered as f64 / self.elapsed.as_secs_f64().max(1.0)
        );
        println!(
            "failover (leader killed or cut off -> next leader's block notarized): {}",
            summary(&self.failovers)
        );
        println!(
            "restart (process started -> caught up): {}",
            summary(&self.restarts)
        );
        let blocks = self
            .partition_blocks
            .iter()
            .min()
            .zip(self.partition_blocks.iter().max());
        println!(
            "partition: majority finalized {} blocks during a cut; minority caught up after heal: {}",
            blocks.map_or("-".into(), |(lo, hi)| format!("{lo}-{hi}")),
            summary(&self.partition_catch_ups)
        );
        for failure in &self.failed {
            println!("FAILED: {failure}");
        }
        println!(
            "{label}: {} passed, {} failed",
            self.passed.len(),
            self.failed.len()
        );
    }
}

/// `n=3 p50 0.91 s max 1.20 s` (p50 is the upper median).
fn summary(v: &[Duration]) -> String {
    if v.is_empty() {
        return "none".into();
    }
    let mut v = v.to_vec();
    v.sort();
    format!(
        "n={} p50 {:.2} s max {:.2} s",
        v.len(),
        v[v.len() / 2].as_secs_f64(),
        v[v.len() - 1].as_secs_f64()
    )
}

/// Starts the cluster, runs the load and the events, drains, and checks.
pub async fn run(config: Config) -> Result<Report> {
    let mut cluster = Cluster::create(
        config.validators,
        ROLLUPS,
        config.block_interval_ms,
        &[],
        Box::new(|_, node_config| {
            // The index moves transaction locations from memory into its tables every few
            // blocks instead of every 262,144 transactions, so kills land before, during and
            // after those moves (a restarted validator must still refuse what was finalized).
            node_config["node"]
                .as_table_mut()
                .expect("[node]")
                .insert("index_ingest_every".into(), INDEX_INGEST_EVERY.into());
        }),
    )?;
    let links = Links::new(&cluster.p2p, Duration::ZERO).await?;
    cluster.route_peers(|from, to| links.address(from, to))?;
    cluster.spawn_all()?;
    cluster.wait_finalized(2, CATCH_UP_TIMEOUT).await?;
    let started = Instant::now();
    let up: Arc<Vec<AtomicBool>> = Arc::new(
        (0..config.validators)
            .map(|_| AtomicBool::new(true))
            .collect(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..config.clients)
        .map(|id| {
            tokio::spawn(client(
                id,
                cluster.rpc.clone(),
                up.clone(),
                stop.clone(),
                config.batch,
                config.client_pause,
                config.seed,
            ))
        })
        .collect();
    let mut chaos = Chaos {
        rng: StdRng::seed_from_u64(config.seed),
        report: Report {
            seed: config.seed,
            ..Report::default()
        },
        cluster,
        links,
        up,
        started,
        config,
    };
    chaos.events().await;

    stop.store(true, Ordering::Relaxed);
    let mut logs = Vec::new();
    for c in clients {
        logs.push(c.await.context("client task")?);
    }
    chaos.report.elapsed = started.elapsed();
    chaos.drain_and_check(logs).await?;
    Ok(chaos.report)
}

/// How a client's transactions were answered.
#[derive(Default)]
struct ClientLog {
    acknowledged: Vec<String>,
    known: Vec<String>,
    /// Answers that should not happen (invalid, hash mismatch), and batches given up.
    problems: Vec<String>,
}

/// Sends batches until `stop`, alternating rollups, to validators picked at random among those
/// up; a batch without an answer (the validator died) goes to another one.
async fn client(
    id: usize,
    rpc: Vec<SocketAddr>,
    up: Arc<Vec<AtomicBool>>,
    stop: Arc<AtomicBool>,
    batch: usize,
    pause: Duration,
    seed: u64,
) -> ClientLog {
    let nodes: Vec<HttpClient> = rpc
        .iter()
        .map(|a| cluster::rpc_client(*a, Duration::from_secs(10)))
        .collect();
    let mut rng = StdRng::seed_from_u64(seed ^ ((id as u64 + 1) << 40));
    let mut log = ClientLog::default();
    let mut signed = HashMap::<u64, usize>::new();
    let mut round = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let rollup = ROLLUP_IDS[(id + round as usize) % ROLLUP_IDS.len()];
        let txs = match rollup {
            903 => txgen::opaque(batch, 200, ((id as u64) << 32) | round),
            chain => {
                let first = signed.entry(chain).or_default();
                let txs = txgen::evm_transfers_from(chain, *first, batch, 8, 1_000 + id as u64);
                *first += batch;
                txs
            }
        };
        round += 1;
        submit(&nodes, &up, &mut rng, rollup, txs, &mut log).await;
        tokio::time::sleep(pause).await;
    }
    log
}

/// Submits `txs` until each is answered; LANE_FULL is retried too.
async fn submit(
    nodes: &[HttpClient],
    up: &[AtomicBool],
    rng: &mut StdRng,
    rollup: u64,
    mut txs: Vec<Bytes>,
    log: &mut ClientLog,
) {
    let started = Instant::now();
    while !txs.is_empty() {
        if started.elapsed() > SUBMIT_TIMEOUT {
            log.problems.push(format!(
                "{} transactions of rollup {rollup} unanswered for {SUBMIT_TIMEOUT:?}",
                txs.len()
            ));
            return;
        }
        let candidates: Vec<usize> = (0..nodes.len())
            .filter(|&i| up[i].load(Ordering::Relaxed))
            .collect();
        let via = candidates[rng.random_range(0..candidates.len())];
        let Ok(answers) = cluster::send_transactions(&nodes[via], rollup, &txs).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let mut again = Vec::new();
        for (tx, answer) in txs.into_iter().zip(answers) {
            let hash = hex::encode_prefixed(ordo_types::tx_hash(&tx));
            match answer {
                Ok(h) if h == hash => log.acknowledged.push(hash),
                Ok(h) => log
                    .problems
                    .push(format!("validator {via} answered hash {h} for {hash}")),
                Err(e) if [ordo_rpc::DUPLICATE, ordo_rpc::ALREADY_INCLUDED].contains(&e.code()) => {
                    log.known.push(hash)
                }
                Err(e) if e.code() == ordo_rpc::LANE_FULL => again.push(tx),
                Err(e) => log
                    .problems
                    .push(format!("validator {via} refused {hash}: {e:?}")),
            }
        }
        txs = again;
        if !txs.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

struct Chaos {
    cluster: Cluster,
    links: Links,
    /// Which validators the clients may use and the driver may take down.
    up: Arc<Vec<AtomicBool>>,
    rng: StdRng,
    report: Report,
    started: Instant,
    config: Config,
}

impl Chaos {
    fn log(&self, what: &str) {
        println!("[{:6.1} s] {what}", self.started.elapsed().as_secs_f64());
    }

    fn is_up(&self, i: usize) -> bool {
        self.up[i].load(Ordering::Relaxed)
    }

    fn others_up(&self, except: &[usize]) -> Vec<usize> {
        (0..self.cluster.len())
            .filter(|i| self.is_up(*i) && !except.contains(i))
            .collect()
    }

    fn pick(&mut self, from: &[usize]) -> usize {
        from[self.rng.random_range(0..from.len())]
    }

    fn duration(&mut self, (lo, hi): (Duration, Duration)) -> Duration {
        if hi <= lo {
            lo
        } else {
            self.rng.random_range(lo..hi)
        }
    }

    /// The leader of the newest notarized block, as the first validator up answers.
    async fn leader(&self) -> Option<usize> {
        for via in self.others_up(&[]) {
            if let Ok(leader) = self.cluster.leader(via).await {
                return Some(leader);
            }
        }
        None
    }

    async fn height(&self, i: usize, field: &str) -> Option<u64> {
        self.cluster.status(i).await.ok()?[field].as_u64()
    }

    /// Highest finalized height among the validators up, except `except`.
    async fn majority_finalized(&self, except: &[usize]) -> u64 {
        let mut best = 0;
        for i in self.others_up(except) {
            best = best.max(self.height(i, "finalizedHeight").await.unwrap_or(0));
        }
        best
    }

    async fn events(&mut self) {
        let mut round = self.config.events.clone();
        loop {
            for event in round.clone() {
                if self
                    .config
                    .repeat_for
                    .is_some_and(|d| self.started.elapsed() >= d)
                {
                    return;
                }
                let calm = self.duration(self.config.calm);
                tokio::time::sleep(calm).await;
                self.event(event).await;
            }
            if self.config.repeat_for.is_none() {
                return;
            }
            round.shuffle(&mut self.rng);
        }
    }

    async fn event(&mut self, event: Event) {
        self.report.events.push(format!("{event:?}"));
        let leader = self.leader().await;
        let everyone = self.others_up(&[]);
        match event {
            Event::KillLeader | Event::KillRandom => {
                let victim = match (event, leader) {
                    (Event::KillLeader, Some(leader)) => leader,
                    _ => self.pick(&everyone),
                };
                let victim_led = leader == Some(victim);
                let watch = self.kill_and_restart(victim, victim_led).await;
                self.await_catch_up(victim, watch).await;
            }
            Event::KillTwoInARow => {
                let first = self.pick(&everyone);
                let catch_up_first = self.kill_and_restart(first, leader == Some(first)).await;
                let second = self.pick(&self.others_up(&[first]));
                let second_led = self.leader().await == Some(second);
                let catch_up_second = self.kill_and_restart(second, second_led).await;
                self.await_catch_up(first, catch_up_first).await;
                self.await_catch_up(second, catch_up_second).await;
            }
            Event::IsolateLeader | Event::IsolateRandom => {
                let victim = match (event, leader) {
                    (Event::IsolateLeader, Some(leader)) => leader,
                    _ => self.pick(&everyone),
                };
                self.isolate(victim, leader == Some(victim)).await;
            }
        }
    }

    /// Waits until a validator other than `except` notarizes a block above `before` that
    /// `except` did not lead (blocks it proposed just before are still notarized after it
    /// went); records the wait as a failover.
    async fn failover(&mut self, except: usize, before: u64, since: Instant, what: String) {
        let observers = self.others_up(&[except]);
        let gone = self.cluster.public_keys[except].clone();
        let outcome = loop {
            let mut taken_over = false;
            for &i in &observers {
                if let Ok(status) = self.cluster.status(i).await {
                    taken_over |= status["notarizedHeight"].as_u64().unwrap_or(0) > before
                        && status["notarizedLeader"]
                            .as_str()
                            .is_some_and(|l| l != gone);
                }
            }
            if taken_over {
                let took = since.elapsed();
                self.log(&format!(
                    "{what}: a new leader's block notarized after {took:.2?}"
                ));
                self.report.failovers.push(took);
                break Ok(());
            }
            if since.elapsed() > FAILOVER_TIMEOUT {
                break Err(format!(
                    "no block of another leader notarized above {before} within {FAILOVER_TIMEOUT:?}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        self.report.check(format!("failover after {what}"), outcome);
    }

    /// kill -9 of `victim` (measuring the failover if it led), a random pause, then a restart;
    /// returns the catch-up watch of the restarted validator.
    async fn kill_and_restart(
        &mut self,
        victim: usize,
        led: bool,
    ) -> tokio::task::JoinHandle<Result<Duration, String>> {
        let down = self.cluster.len() - self.others_up(&[]).len();
        assert!(
            down < self.config.max_down,
            "the driver would take more than f = {} validators down",
            self.config.max_down
        );
        let what = format!(
            "kill -9 of validator {victim}{}",
            if led { " (leader)" } else { "" }
        );
        let before = self.majority_finalized(&[victim]).await;
        let notarized = self.notarized_except(victim).await;
        self.up[victim].store(false, Ordering::Relaxed);
        let killed = Instant::now();
        self.cluster.kill(victim);
        self.log(&what);
        if led {
            self.failover(victim, notarized, killed, what.clone()).await;
        }
        let pause = self.duration(self.config.down);
        tokio::time::sleep(pause.saturating_sub(killed.elapsed())).await;
        let target = self.majority_finalized(&[victim]).await.max(before);
        let spawned = self.cluster.spawn(victim);
        let started = Instant::now();
        self.up[victim].store(true, Ordering::Relaxed);
        self.log(&format!(
            "validator {victim} restarted after {:.1?} down (others at finalized height {target})",
            killed.elapsed()
        ));
        let client = self.cluster.client(victim);
        tokio::spawn(async move {
            spawned.map_err(|e| format!("restart failed: {e}"))?;
            catch_up(client, target, started).await
        })
    }

    async fn notarized_except(&self, except: usize) -> u64 {
        let mut best = 0;
        for i in self.others_up(&[except]) {
            best = best.max(self.height(i, "notarizedHeight").await.unwrap_or(0));
        }
        best
    }

    async fn await_catch_up(
        &mut self,
        victim: usize,
        watch: tokio::task::JoinHandle<Result<Duration, String>>,
    ) {
        let outcome = watch
            .await
            .unwrap_or_else(|e| Err(format!("watch panicked: {e}")));
        if let Ok(took) = &outcome {
            self.log(&format!(
                "validator {victim} caught up {took:.2?} after its restart"
            ));
            self.report.restarts.push(*took);
        }
        self.report.check(
            format!("validator {victim} catches up after its restart"),
            outcome.map(drop),
        );
    }

    /// Cuts `victim`'s p2p links for a while: the majority must go on finalizing (after a
    /// failover if the victim led), the victim must finalize nothing meanwhile, and catch up
    /// once the links are back.
    async fn isolate(&mut self, victim: usize, led: bool) {
        let what = format!(
            "validator {victim}{} cut off",
            if led { " (leader)" } else { "" }
        );
        let length = self.duration(self.config.isolation).max(CUT_SETTLE * 2);
        let majority_before = self.majority_finalized(&[victim]).await;
        let notarized = self.notarized_except(victim).await;
        let cut = Instant::now();
        self.links.isolate(victim);
        self.log(&format!("{what} for {length:.1?}"));
        if led {
            self.failover(victim, notarized, cut, what.clone()).await;
        }
        tokio::time::sleep(CUT_SETTLE.saturating_sub(cut.elapsed())).await;
        let minority_settled = self.height(victim, "finalizedHeight").await;
        tokio::time::sleep(length.saturating_sub(cut.elapsed())).await;
        let minority_end = self.height(victim, "finalizedHeight").await;
        let majority_end = self.majority_finalized(&[victim]).await;
        self.links.heal();
        let healed = Instant::now();
        let progress = majority_end.saturating_sub(majority_before);
        self.log(&format!(
            "links of validator {victim} restored; the majority finalized {progress} blocks meanwhile, \
             the minority stayed at {minority_end:?}"
        ));
        self.report.partition_blocks.push(progress);
        self.report.check(
            format!("the majority finalizes while {what}"),
            if progress > 0 {
                Ok(())
            } else {
                Err(format!("finalized height stayed at {majority_before}"))
            },
        );
        self.report.check(
            format!("{what} finalizes nothing alone"),
            match (minority_settled, minority_end) {
                (Some(a), Some(b)) if a == b => Ok(()),
                (a, b) => Err(format!(
                    "its finalized height went from {a:?} to {b:?} while cut off"
                )),
            },
        );
        let outcome = catch_up(self.cluster.client(victim), majority_end, healed).await;
        if let Ok(took) = &outcome {
            self.log(&format!(
                "validator {victim} caught up {took:.2?} after the heal"
            ));
            self.report.partition_catch_ups.push(*took);
        }
        self.report.check(
            format!("validator {victim} catches up after the partition"),
            outcome.map(drop),
        );
    }

    /// Stops nothing (the clients have stopped): waits until every acknowledged transaction is
    /// finalized, then counts inclusions over the whole chain and compares validators' chains.
    async fn drain_and_check(&mut self, logs: Vec<ClientLog>) -> Result<()> {
        let mut answered = Vec::new();
        for log in logs {
            self.report.acknowledged += log.acknowledged.len();
            self.report.known += log.known.len();
            answered.extend(log.acknowledged);
            answered.extend(log.known);
            let problems = log.problems.len();
            self.report.check(
                "every submission answered".into(),
                match log.problems.first() {
                    None => Ok(()),
                    Some(first) => Err(format!("{problems} problems, first: {first}")),
                },
            );
        }
        self.log(&format!(
            "load stopped: {} transactions acknowledged; waiting for them to be finalized",
            answered.len()
        ));
        let via = self.cluster.client(0);
        let mut walk = FinalizedWalk::default();
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        let mut missing: Vec<&String> = answered.iter().collect();
        loop {
            if let Err(e) = walk.advance(&via, None).await {
                self.log(&format!("walking finalized blocks: {e}"));
            }
            missing.retain(|h| !walk.included.contains_key(*h));
            if missing.is_empty() || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        self.report.final_height = walk.height();
        self.report.lost = missing.len();
        self.report.included_once = answered
            .iter()
            .filter(|h| walk.included.get(*h) == Some(&1))
            .count();
        self.report.doubled = walk.included.values().filter(|n| **n > 1).count();
        self.report.check(
            "every acknowledged transaction finalized".into(),
            match missing.first() {
                None => Ok(()),
                Some(first) => Err(format!(
                    "{} missing after {DRAIN_TIMEOUT:?}, first {first}",
                    missing.len()
                )),
            },
        );
        self.report.check(
            "no transaction finalized twice".into(),
            match walk.included.iter().find(|(_, n)| **n > 1) {
                None => Ok(()),
                Some((h, n)) => Err(format!(
                    "{} doubled, e.g. {h} {n} times",
                    self.report.doubled
                )),
            },
        );
        // Blocks link to their parents: the same digest at a height means the same chain below.
        for i in 1..self.cluster.len() {
            let outcome = async {
                let height = self.height(i, "finalizedHeight").await.unwrap_or(0);
                let at = height.min(walk.height()).max(1);
                let client = self.cluster.client(i);
                let block: serde_json::Value = jsonrpsee::core::client::ClientT::request(
                    &client,
                    "ordo_getBlock",
                    jsonrpsee::rpc_params![at],
                )
                .await
                .map_err(|e| format!("getBlock {at}: {e}"))?;
                let digest = block["digest"].as_str().unwrap_or_default();
                match walk.digests.get(at as usize - 1) {
                    Some(d) if d == digest => Ok(()),
                    d => Err(format!("block {at} is {digest}, validator 0 has {d:?}")),
                }
            }
            .await;
            self.report
                .check(format!("validator {i} holds validator 0's chain"), outcome);
        }
        Ok(())
    }
}

/// Polls `client` until its finalized height reaches `target`; the time since `since`.
async fn catch_up(client: HttpClient, target: u64, since: Instant) -> Result<Duration, String> {
    loop {
        if let Ok(status) = cluster::status(&client).await {
            if status["finalizedHeight"].as_u64().unwrap_or(0) >= target {
                return Ok(since.elapsed());
            }
        }
        if since.elapsed() > CATCH_UP_TIMEOUT {
            return Err(format!(
                "below finalized height {target} after {CATCH_UP_TIMEOUT:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
