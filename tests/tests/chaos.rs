//! Chaos under load with the real binary, CI-sized: 4 validators (f = 1) on loopback, 4 clients
//! submitting to rollups 901/902/903 throughout, while validators are killed with SIGKILL and
//! restarted (the leader, one at random, two in a row) and one is cut off from the others' p2p
//! traffic (the leader, then another). Every acknowledged transaction must end up in exactly one
//! finalized block, failovers and catch-ups must happen, the majority must finalize during a
//! partition and the minority must not. `ordo-soak` (`make soak`) runs the same for minutes.

use ordo_tests::chaos::{self, Config, Event};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_transaction_is_finalized_once_through_kills_and_partitions() {
    let seed = std::env::var("ORDO_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let config = Config {
        validators: 4,
        max_down: 1,
        block_interval_ms: 50,
        clients: 4,
        batch: 20,
        client_pause: Duration::from_millis(100),
        events: vec![
            Event::KillLeader,
            Event::IsolateRandom,
            Event::KillTwoInARow,
            Event::IsolateLeader,
            Event::KillRandom,
        ],
        repeat_for: None,
        down: (Duration::from_millis(500), Duration::from_secs(3)),
        isolation: (Duration::from_secs(5), Duration::from_secs(7)),
        calm: (Duration::from_secs(1), Duration::from_secs(3)),
        seed,
    };
    println!("chaos seed {seed} (ORDO_CHAOS_SEED={seed} repeats the choices)");
    let report = chaos::run(config).await.expect("chaos run");
    report.print("chaos");
    assert_eq!(report.lost, 0, "acknowledged transactions lost");
    assert_eq!(report.doubled, 0, "transactions finalized twice");
    assert_eq!(
        report.included_once,
        report.acknowledged + report.known,
        "acknowledged vs included exactly once"
    );
    assert!(report.acknowledged > 1_000, "the load ran");
    assert!(
        report.failovers.len() >= 2 && report.restarts.len() >= 4,
        "every leader kill and restart was measured"
    );
    assert!(report.failed.is_empty(), "failed: {:#?}", report.failed);
}
