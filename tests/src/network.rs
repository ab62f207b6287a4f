//! What Ordo's [`crate::cluster::Cluster`] and CometBFT's [`crate::cometbft::CometNet`] have in
//! common: validators as child processes on loopback (started with a log each, killed with
//! SIGKILL, restarted, all killed on drop), and the recovery measures. The measures are defined
//! here once, over what each network answers about its blocks, so that the benchmark's Ordo and
//! CometBFT figures come from the same steps.

use anyhow::{bail, Context as _, Result};
use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    process::{Child, Command},
    time::{Duration, Instant},
};

/// How one validator process is started.
struct Launch {
    program: PathBuf,
    args: Vec<OsString>,
    /// Where its stdout and stderr are appended (across restarts).
    log: PathBuf,
}

/// One process per validator, each started the same way whenever it is down. Dropping it
/// kills them all.
pub struct Processes {
    launches: Vec<Launch>,
    children: Vec<Option<Child>>,
}

impl Processes {
    /// `count` validators of `program`, `launch(i)` giving validator `i`'s arguments and log
    /// file. Nothing runs yet.
    pub fn new(
        program: &Path,
        count: usize,
        launch: impl Fn(usize) -> (Vec<OsString>, PathBuf),
    ) -> Self {
        let launches = (0..count)
            .map(|i| {
                let (args, log) = launch(i);
                Launch {
                    program: program.to_path_buf(),
                    args,
                    log,
                }
            })
            .collect();
        Self {
            launches,
            children: (0..count).map(|_| None).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.children.len()
    }

    pub fn is_empty(&self) -> bool {
        self.children.is_empty()
    }

    pub fn is_running(&self, i: usize) -> bool {
        self.children[i].is_some()
    }

    /// The process ids of the validators that run.
    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().flatten().map(|c| c.id()).collect()
    }

    /// Starts validator `i` (a running one is killed first).
    pub fn spawn(&mut self, i: usize) -> Result<()> {
        self.kill(i);
        let launch = &self.launches[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&launch.log)
            .with_context(|| format!("log {}", launch.log.display()))?;
        let child = Command::new(&launch.program)
            .args(&launch.args)
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", launch.program.display()))?;
        self.children[i] = Some(child);
        Ok(())
    }

    /// kill -9 of validator `i` (nothing if it is down).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.children[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for i in 0..self.len() {
            self.kill(i);
        }
    }
}

/// A block as the recovery measures read it.
#[derive(Debug, Clone)]
pub struct Block {
    pub height: u64,
    /// Index of the validator that proposed it.
    pub proposer: usize,
    /// When its proposer made it (its timestamp), in milliseconds since the Unix epoch.
    pub proposed_ms: u64,
}

/// What [`Network::kill_leader`] measured.
#[derive(Debug, Clone)]
pub struct Failover {
    /// The validator killed.
    pub leader: usize,
    /// The validator that saw the next block.
    pub observer: usize,
    /// kill -9 -> the observer sees a block decided that another validator proposed.
    pub elapsed: Duration,
    pub height: u64,
}

/// What [`Network::restart_all`] measured.
#[derive(Debug, Clone)]
pub struct Restart {
    /// kill -9 of all -> the first block proposed after it is seen decided.
    pub elapsed: Duration,
    pub height: u64,
}

/// A network of validator processes, and the recovery measures over it. "Decided" is the state
/// a client can act on first (Ordo: notarized, a preconfirmation; CometBFT: committed), "final"
/// the one that cannot be undone (Ordo: finalized; CometBFT: committed too).
// The harness awaits these futures where it calls them and never spawns them, so callers need
// no `Send` bound on them, which is what the lint is about.
#[allow(async_fn_in_trait)]
pub trait Network {
    fn processes(&self) -> &Processes;
    fn processes_mut(&mut self) -> &mut Processes;
    /// Where the network's logs are, for the errors.
    fn logs(&self) -> &Path;
    /// The newest height validator `i` has decided.
    async fn decided_height(&self, i: usize) -> Result<u64>;
    /// The newest height validator `i` holds final.
    async fn final_height(&self, i: usize) -> Result<u64>;
    /// Validator `i`'s decided block at `height`.
    async fn block(&self, i: usize, height: u64) -> Result<Block>;
    /// Who proposed the newest block validator `i` decided.
    async fn newest_proposer(&self, i: usize) -> Result<usize>;

    fn is_running(&self, i: usize) -> bool {
        self.processes().is_running(i)
    }

    /// Starts validator `i`.
    fn spawn(&mut self, i: usize) -> Result<()> {
        self.processes_mut().spawn(i)
    }

    /// Starts every validator that is not running.
    fn spawn_all(&mut self) -> Result<()> {
        for i in 0..self.processes().len() {
            if !self.is_running(i) {
                self.spawn(i)?;
            }
        }
        Ok(())
    }

    /// kill -9 of validator `i`.
    fn kill(&mut self, i: usize) {
        self.processes_mut().kill(i)
    }

    /// Waits until every running validator holds `height` final.
    async fn wait_finalized(&self, height: u64, timeout: Duration) -> Result<()> {
        let all_final = async || {
            for i in (0..self.processes().len()).filter(|i| self.is_running(*i)) {
                if self.final_height(i).await.unwrap_or(0) < height {
                    return None;
                }
            }
            Some(())
        };
        poll(timeout, Duration::from_millis(100), self.logs(), all_final)
            .await
            .with_context(|| format!("validators did not finalize height {height}"))
    }

    /// The highest height any running validator but `except` has decided (0 if none answers).
    async fn highest_decided(&self, except: Option<usize>) -> u64 {
        let mut highest = 0;
        for i in 0..self.processes().len() {
            if self.is_running(i) && Some(i) != except {
                highest = highest.max(self.decided_height(i).await.unwrap_or(0));
            }
        }
        highest
    }

    /// Waits until validator `i` (restarted) has decided as high as any other validator had when
    /// this was called: it takes part again. (Catching up on final blocks alone is not that: they
    /// can be fetched without taking part.)
    async fn wait_caught_up(&self, i: usize, timeout: Duration) -> Result<()> {
        let target = self.highest_decided(Some(i)).await;
        let caught_up =
            async || (self.decided_height(i).await.unwrap_or(0) >= target).then_some(());
        poll(timeout, Duration::from_millis(100), self.logs(), caught_up)
            .await
            .with_context(|| format!("validator {i} did not decide height {target}"))
    }

    /// Polls validator `via` (retrying while it is down or starting) until a block it decided
    /// above height `above` satisfies `wanted`; returns it.
    async fn wait_block(
        &self,
        via: usize,
        above: u64,
        timeout: Duration,
        wanted: impl Fn(&Block) -> bool,
    ) -> Result<Block> {
        let mut checked = above;
        let next_wanted = async || {
            let height = self.decided_height(via).await.unwrap_or(0);
            while checked < height {
                let next = checked + 1;
                match self.block(via, next).await {
                    Ok(block) if wanted(&block) => return Some(block),
                    Ok(_) => checked = next,
                    // Not served (yet): retry the newest later, skip one a newer block passed.
                    Err(_) if next < height => checked = next,
                    Err(_) => break,
                }
            }
            None
        };
        poll(timeout, Duration::from_millis(5), self.logs(), next_wanted)
            .await
            .with_context(|| format!("validator {via} decided no wanted block above {above}"))
    }

    /// kill -9 of the proposer of the newest decided block (as validator `via` sees it), then
    /// waits until the next validator decides a block another validator proposed. The killed
    /// validator stays down.
    async fn kill_leader(&mut self, via: usize, timeout: Duration) -> Result<Failover> {
        let leader = self.newest_proposer(via).await?;
        let observer = (leader + 1) % self.processes().len();
        // Every block decided before the kill is at or below this, even where the observer has
        // not reported it yet (it may have been restarted lately).
        let above = self
            .decided_height(observer)
            .await?
            .max(self.highest_decided(None).await);
        self.kill(leader);
        let killed = Instant::now();
        let block = self
            .wait_block(observer, above, timeout, |b| b.proposer != leader)
            .await?;
        Ok(Failover {
            leader,
            observer,
            elapsed: killed.elapsed(),
            height: block.height,
        })
    }

    /// kill -9 of every validator, then starts them all again; waits until validator `via`
    /// decides a block proposed after the kill (its timestamp is later).
    async fn restart_all(&mut self, via: usize, timeout: Duration) -> Result<Restart> {
        let above = self.final_height(via).await?;
        for i in 0..self.processes().len() {
            self.kill(i);
        }
        let killed = Instant::now();
        let killed_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis() as u64;
        self.spawn_all()?;
        let block = self
            .wait_block(via, above, timeout, |b| b.proposed_ms > killed_ms)
            .await?;
        Ok(Restart {
            elapsed: killed.elapsed(),
            height: block.height,
        })
    }
}

/// Calls `attempt` every `interval` until it answers something; after `timeout`, an error that
/// points at the network's `logs`.
async fn poll<T>(
    timeout: Duration,
    interval: Duration,
    logs: &Path,
    mut attempt: impl AsyncFnMut() -> Option<T>,
) -> Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(answer) = attempt().await {
            return Ok(answer);
        }
        if Instant::now() > deadline {
            bail!("not within {timeout:?}; logs in {}", logs.display());
        }
        tokio::time::sleep(interval).await;
    }
}
