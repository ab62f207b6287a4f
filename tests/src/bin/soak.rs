//! `make soak`: the chaos run of `tests/chaos.rs` for minutes (`--minutes`, default 10).
//!
//! 4 real validators on loopback under continuous load from several clients; rounds of kill -9
//! and restart (the leader, one at random, two in a row) and of a validator cut off from the
//! others' p2p traffic, in random order, until the time is up. Prints transactions acknowledged
//! vs included exactly once, failover, restart and partition catch-up times (p50/max), and a
//! last line `soak: N passed, M failed`; exits non-zero if a check failed.
//!
//! Options: `--minutes N`, `--seed N` (repeats the driver's choices), `--clients N`.

use ordo_tests::chaos::{self, Config, Event};
use std::time::Duration;

fn arg(name: &str) -> Option<u64> {
    let args: Vec<String> = std::env::args().collect();
    let value = args
        .iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name} takes a number, not {value}")),
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let minutes = arg("--minutes").unwrap_or(10);
    let seed = arg("--seed").unwrap_or_else(rand::random);
    println!("soak: {minutes} minutes, seed {seed}");
    let config = Config {
        validators: 4,
        max_down: 1,
        block_interval_ms: 50,
        clients: arg("--clients").unwrap_or(4) as usize,
        batch: 20,
        client_pause: Duration::from_millis(100),
        events: Event::ALL.to_vec(),
        repeat_for: Some(Duration::from_secs(minutes * 60)),
        down: (Duration::from_millis(200), Duration::from_secs(8)),
        isolation: (Duration::from_secs(4), Duration::from_secs(15)),
        calm: (Duration::from_millis(500), Duration::from_secs(5)),
        seed,
    };
    match chaos::run(config).await {
        Ok(report) => {
            report.print("soak");
            std::process::exit(if report.failed.is_empty() { 0 } else { 1 });
        }
        Err(e) => {
            println!("soak: 0 passed, 1 failed ({e:#})");
            std::process::exit(1);
        }
    }
}
