//! How fast the index takes finalized blocks: indexes `BLOCKS` blocks of `TXS` 200-byte
//! transactions over 3 rollups (what a saturated node indexes), asking before each block whether
//! the next block's hashes are already included (what admission and verification ask), and
//! prints the CPU and wall time per transaction of each, and the store's CPU over the whole
//! run per transaction (`store_cpu_us_per_tx`: all but building the blocks; locations move into
//! `txs` on a thread of the store's, counted in whichever phase it runs in).
//!
//! `cargo run --release -p ordo-store --example index_throughput [BLOCKS] [TXS]`

use bytes::Bytes;
use ordo_store::Store;
use ordo_types::{Batch, Block, BlockLimits, Certificate, CertificateKind, Header, L1Ref};
use std::time::{Duration, Instant};

const ROLLUPS: [u64; 3] = [901, 902, 903];
const TX_BYTES: usize = 200;

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().expect("a number"));
    let blocks = args.next().unwrap_or(2_000);
    let txs = args.next().unwrap_or(700);
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Store::open(dir.path(), BlockLimits::UNBOUNDED).expect("open");

    let mut parent = Block::genesis(1_000, L1Ref::default(), &ROLLUPS);
    store
        .index_finalized(&parent, &certify(&parent))
        .expect("genesis");
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let (mut indexing, mut asking, mut building) =
        (Timer::default(), Timer::default(), Timer::default());
    let start = process_cpu();
    for _ in 0..blocks {
        let block = building.time(|| child(&parent, txs, &mut seed));
        let hashes: Vec<_> = block.tx_hashes().iter().flatten().copied().collect();
        let found = asking.time(|| store.included(&hashes).expect("included"));
        assert!(
            found.iter().all(|f| !f),
            "fresh transactions are not included yet"
        );
        indexing.time(|| {
            store
                .index_finalized(&block, &certify(&block))
                .expect("index")
        });
        parent = block;
    }

    store.wait_for_ingestion();
    let store_cpu = process_cpu()
        .saturating_sub(start)
        .saturating_sub(building.cpu);
    let total = (blocks * txs) as f64;
    println!(
        "{{\"blocks\":{blocks},\"txs_per_block\":{txs},\"index_us_per_tx\":{:.2},\"index_cpu_us_per_tx\":{:.2},\"included_us_per_tx\":{:.2},\"included_cpu_us_per_tx\":{:.2},\"store_cpu_us_per_tx\":{:.2}}}",
        indexing.wall.as_secs_f64() * 1e6 / total,
        indexing.cpu.as_secs_f64() * 1e6 / total,
        asking.wall.as_secs_f64() * 1e6 / total,
        asking.cpu.as_secs_f64() * 1e6 / total,
        store_cpu.as_secs_f64() * 1e6 / total,
    );
}

/// Wall time and this process's CPU time (all threads: rocksdb flushes in the background).
#[derive(Default)]
struct Timer {
    wall: Duration,
    cpu: Duration,
}

impl Timer {
    fn time<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let (wall, cpu) = (Instant::now(), process_cpu());
        let out = f();
        self.wall += wall.elapsed();
        self.cpu += process_cpu().saturating_sub(cpu);
        out
    }
}

fn process_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a pointer to a timespec this function owns.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn certify(block: &Block) -> Certificate {
    Certificate {
        kind: CertificateKind::Finalization,
        epoch: block.header.epoch,
        view: block.header.view,
        parent_view: block.header.parent_view,
        payload: block.digest(),
        signature: [7; 48],
    }
}

fn child(parent: &Block, txs: usize, seed: &mut u64) -> Block {
    let header = Header {
        view: parent.header.view + 1,
        parent_view: parent.header.view,
        parent: parent.digest(),
        height: parent.height() + 1,
        timestamp_ms: parent.header.timestamp_ms + 1,
        ..parent.header.clone()
    };
    let batches = ROLLUPS
        .iter()
        .enumerate()
        .map(|(i, &rollup)| {
            let count = txs / ROLLUPS.len() + usize::from(i < txs % ROLLUPS.len());
            Batch::new(rollup, (0..count).map(|_| random_tx(seed)).collect())
        })
        .collect();
    Block::new(header, batches)
}

fn random_tx(seed: &mut u64) -> Bytes {
    let mut tx = Vec::with_capacity(TX_BYTES);
    while tx.len() < TX_BYTES {
        // xorshift64: distinct transactions, the same ones every run.
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        tx.extend_from_slice(&seed.to_le_bytes());
    }
    tx.truncate(TX_BYTES);
    Bytes::from(tx)
}
