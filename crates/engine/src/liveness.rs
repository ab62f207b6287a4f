//! What this node sees of the network's health: the newest view each validator voted in, how
//! long this node's own clients waited for their preconfirmations, and where a block's time
//! went between its leader's timestamp and this node's notarization.
//!
//! All are observations of one node, cheap enough to update on the consensus path (atomics and
//! a short ring of samples), and served by `ordo_status` so a dashboard needs one endpoint to
//! tell a silent validator from a slow network.

use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex, OnceLock,
    },
};

/// How many recent preconfirmation latencies the percentiles are computed over.
pub const LATENCY_SAMPLES: usize = 4_096;
/// How many recent blocks the block stages' percentiles are computed over.
pub const BLOCK_SAMPLES: usize = 128;

/// Votes seen per validator, recent preconfirmation latencies and block stages.
pub struct Liveness {
    /// One entry per participant, in the consensus order (set once the engine starts).
    validators: OnceLock<Vec<Participant>>,
    latencies: Mutex<Samples>,
    blocks: Mutex<BlockStages>,
}

impl Default for Liveness {
    fn default() -> Self {
        Self {
            validators: OnceLock::new(),
            latencies: Mutex::new(Samples::new(LATENCY_SAMPLES)),
            blocks: Mutex::new(BlockStages {
                arrival: Samples::new(BLOCK_SAMPLES),
                verification: Samples::new(BLOCK_SAMPLES),
                notarized: Samples::new(BLOCK_SAMPLES),
            }),
        }
    }
}

struct Participant {
    public_key: String,
    /// Newest view this validator voted in (notarize, nullify or finalize) plus one; 0 = never.
    last_vote: AtomicU64,
}

/// The newest `capacity` samples (ms) and how many were ever recorded.
struct Samples {
    recent: VecDeque<u64>,
    capacity: usize,
    total: u64,
}

impl Samples {
    fn new(capacity: usize) -> Self {
        Self {
            recent: VecDeque::with_capacity(capacity),
            capacity,
            total: 0,
        }
    }

    fn record(&mut self, samples: impl IntoIterator<Item = u64>) {
        for sample in samples {
            if self.recent.len() == self.capacity {
                self.recent.pop_front();
            }
            self.recent.push_back(sample);
            self.total += 1;
        }
    }

    fn summary(&self) -> LatencySummary {
        let mut recent = Vec::from(self.recent.clone());
        recent.sort_unstable();
        // Nearest rank: the smallest sample with at least q of the samples at or below it.
        let rank = |q: f64| {
            let n = recent.len();
            (n > 0).then(|| recent[((q * n as f64).ceil() as usize).clamp(1, n) - 1])
        };
        LatencySummary {
            total: self.total,
            window: recent.len(),
            p50_ms: rank(0.50),
            p99_ms: rank(0.99),
        }
    }
}

/// Each block's path through this node, from its leader's timestamp.
struct BlockStages {
    arrival: Samples,
    verification: Samples,
    notarized: Samples,
}

/// One validator as this node sees it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidatorVotes {
    /// Participant index in consensus.
    pub index: u32,
    /// ed25519 public key (hex).
    pub public_key: String,
    /// Newest view a vote of this validator was seen in (`None`: none since this node started).
    pub last_vote_view: Option<u64>,
}

/// Percentiles of recent samples: submit -> notarized latency of transactions accepted by this
/// node, or one stage of recent blocks ([`BlockLatency`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LatencySummary {
    /// Samples measured since start.
    pub total: u64,
    /// Samples the percentiles are computed over (the most recent ones).
    pub window: usize,
    pub p50_ms: Option<u64>,
    pub p99_ms: Option<u64>,
}

/// Where recent blocks' time went, each stage from the block's timestamp (its leader's clock
/// when it built the block; across machines the figures include the clocks' offset).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockLatency {
    /// Timestamp -> this node began verifying the block: the leader's vote and broadcast, the
    /// network, decoding, and the wait for consensus to hand the block over. Blocks of other
    /// leaders only.
    pub arrival: LatencySummary,
    /// How long this node's verification of the block took (other leaders' blocks only).
    pub verification: LatencySummary,
    /// Timestamp -> this node saw the block notarized: the above, then the votes.
    pub notarized: LatencySummary,
}

impl Liveness {
    /// Names the participants (ed25519 keys, hex) in consensus order. Only the first call counts.
    pub fn set_participants(&self, keys: impl IntoIterator<Item = String>) {
        let _ = self.validators.set(
            keys.into_iter()
                .map(|public_key| Participant {
                    public_key,
                    last_vote: AtomicU64::new(0),
                })
                .collect(),
        );
    }

    /// Records a vote of participant `index` in `view` (unknown indexes are ignored).
    pub fn record_vote(&self, index: u32, view: u64) {
        if let Some(p) = self.validators.get().and_then(|v| v.get(index as usize)) {
            p.last_vote
                .fetch_max(view.saturating_add(1), Ordering::Relaxed);
        }
    }

    /// Every participant with the newest view it was seen voting in.
    pub fn validators(&self) -> Vec<ValidatorVotes> {
        self.validators
            .get()
            .map(|v| v.as_slice())
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(index, p)| ValidatorVotes {
                index: index as u32,
                public_key: p.public_key.clone(),
                last_vote_view: p.last_vote.load(Ordering::Relaxed).checked_sub(1),
            })
            .collect()
    }

    /// Adds preconfirmation latencies (ms), dropping the oldest beyond [`LATENCY_SAMPLES`].
    pub fn record_latencies(&self, samples: impl IntoIterator<Item = u64>) {
        self.latencies.lock().expect("poisoned").record(samples);
    }

    /// p50 and p99 over the recent samples.
    pub fn latency(&self) -> LatencySummary {
        self.latencies.lock().expect("poisoned").summary()
    }

    /// Records a block this node verified: `arrival_ms` after its timestamp it began, and the
    /// verification took `took_ms`.
    pub fn record_verified_block(&self, arrival_ms: u64, took_ms: u64) {
        let mut blocks = self.blocks.lock().expect("poisoned");
        blocks.arrival.record([arrival_ms]);
        blocks.verification.record([took_ms]);
    }

    /// Records a block this node saw notarized `after_ms` after its timestamp.
    pub fn record_notarized_block(&self, after_ms: u64) {
        self.blocks
            .lock()
            .expect("poisoned")
            .notarized
            .record([after_ms]);
    }

    /// p50 and p99 of each block stage over the last [`BLOCK_SAMPLES`] blocks.
    pub fn block_latency(&self) -> BlockLatency {
        let blocks = self.blocks.lock().expect("poisoned");
        BlockLatency {
            arrival: blocks.arrival.summary(),
            verification: blocks.verification.summary(),
            notarized: blocks.notarized.summary(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn votes_keep_the_newest_view_per_validator() {
        let liveness = Liveness::default();
        liveness.record_vote(0, 3); // before the participants are known: ignored
        liveness.set_participants(["aa".to_string(), "bb".to_string()]);
        liveness.set_participants(["cc".to_string()]); // only the first call counts
        liveness.record_vote(0, 7);
        liveness.record_vote(0, 5);
        liveness.record_vote(0, 0);
        liveness.record_vote(9, 100); // not a participant
        let v = liveness.validators();
        assert_eq!(v.len(), 2);
        assert_eq!(
            (v[0].public_key.as_str(), v[0].last_vote_view),
            ("aa", Some(7))
        );
        assert_eq!(
            (v[1].public_key.as_str(), v[1].last_vote_view),
            ("bb", None)
        );
    }

    #[test]
    fn latency_percentiles_cover_the_recent_window() {
        let liveness = Liveness::default();
        assert_eq!(liveness.latency(), LatencySummary::default());
        liveness.record_latencies(1..=100);
        let l = liveness.latency();
        assert_eq!(
            (l.total, l.window, l.p50_ms, l.p99_ms),
            (100, 100, Some(50), Some(99))
        );
        // Old samples leave the window: only the newest LATENCY_SAMPLES count.
        liveness.record_latencies(std::iter::repeat_n(1_000, LATENCY_SAMPLES));
        let l = liveness.latency();
        assert_eq!(l.total, 100 + LATENCY_SAMPLES as u64);
        assert_eq!(
            (l.window, l.p50_ms, l.p99_ms),
            (LATENCY_SAMPLES, Some(1_000), Some(1_000))
        );
    }

    #[test]
    fn block_stages_are_kept_apart_over_the_recent_blocks() {
        let liveness = Liveness::default();
        assert_eq!(liveness.block_latency(), BlockLatency::default());
        for i in 1..=10 {
            liveness.record_verified_block(10 * i, i);
        }
        liveness.record_notarized_block(40);
        let b = liveness.block_latency();
        assert_eq!((b.arrival.window, b.arrival.p50_ms), (10, Some(50)));
        assert_eq!(
            (b.verification.p50_ms, b.verification.p99_ms),
            (Some(5), Some(10))
        );
        assert_eq!((b.notarized.total, b.notarized.p50_ms), (1, Some(40)));
        // The window holds the newest BLOCK_SAMPLES blocks; the total counts all.
        for _ in 0..BLOCK_SAMPLES {
            liveness.record_verified_block(7, 1);
        }
        let b = liveness.block_latency();
        assert_eq!(b.arrival.total, 10 + BLOCK_SAMPLES as u64);
        assert_eq!(
            (b.arrival.window, b.arrival.p99_ms),
            (BLOCK_SAMPLES, Some(7))
        );
    }
}
