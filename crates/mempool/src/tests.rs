use super::*;
use futures::{executor::block_on, future::join_all, FutureExt, StreamExt};
use ordo_types::RollupKind;
use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Instant,
};

const TX_BYTES: usize = 100;

fn opaque(id: RollupId, share_bytes: u32) -> RollupSpec {
    RollupSpec {
        id,
        kind: RollupKind::Opaque,
        share_bytes,
        max_tx_bytes: 1_000,
        max_txs_per_block: 10_000,
    }
}

/// Three opaque rollups (1, 2, 3) with equal shares that add up to the block.
fn config() -> Config {
    Config {
        rollups: vec![opaque(1, 10_000), opaque(2, 10_000), opaque(3, 10_000)],
        max_block_bytes: 30_000,
        max_pending_txs_per_rollup: 200_000,
        max_pending_bytes_per_rollup: 64 << 20,
        ttl: Duration::from_secs(60),
        clock: Default::default(),
    }
}

/// The inclusion check of a chain that finalized nothing yet.
fn nothing_included(hashes: &[TxHash]) -> Vec<bool> {
    vec![false; hashes.len()]
}

/// The inclusion check of a chain that finalized only `finalized`.
fn only_included(finalized: TxHash) -> impl Fn(&[TxHash]) -> Vec<bool> + Send + Sync {
    move |hashes| hashes.iter().map(|h| *h == finalized).collect()
}

/// One transaction relayed alone.
fn admit(pool: &Mempool, rollup: RollupId, raw: Bytes) -> Result<TxHash, SubmitError> {
    pool.admit_relayed(vec![(rollup, raw)]).remove(0)
}

fn open(dir: &tempfile::TempDir, cfg: Config) -> Mempool {
    Mempool::open(dir.path(), cfg, nothing_included).unwrap()
}

/// A distinct `TX_BYTES`-byte opaque transaction.
fn tx(tag: &str, i: usize) -> Bytes {
    let mut raw = format!("{tag}-{i}-").into_bytes();
    raw.resize(TX_BYTES, b'.');
    Bytes::from(raw)
}

/// Submits `txs` as one client's batch; every one must be accepted.
fn submit_all(pool: &Mempool, rollup: RollupId, txs: impl IntoIterator<Item = Bytes>) {
    for result in block_on(pool.submit_all(rollup, txs.into_iter().collect())) {
        result.unwrap();
    }
}

fn batch_of(batches: &[Batch], rollup: RollupId) -> &Batch {
    batches.iter().find(|b| b.rollup == rollup).unwrap()
}

fn included(batches: &[Batch]) -> Vec<TxHash> {
    batches.iter().flat_map(Batch::tx_hashes).collect()
}

#[test]
fn a_flooded_rollup_never_starves_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let pool = open(&dir, config());
    // 100k transactions at once: group commit makes this a handful of fsyncs.
    let started = Instant::now();
    submit_all(&pool, 1, (0..100_000).map(|i| tx("flood", i)));
    eprintln!("100k concurrent submissions took {:?}", started.elapsed());
    assert_eq!(pool.pending_count(1), 100_000);

    let mut next_flood_tx = 0;
    for block in 0..5 {
        let small: Vec<Bytes> = (0..5).map(|i| tx(&format!("small-{block}"), i)).collect();
        submit_all(&pool, 2, small.clone());
        submit_all(&pool, 3, (0..5).map(|i| tx(&format!("other-{block}"), i)));

        let started = Instant::now();
        let batches = pool.select(&|_| false).batches;
        eprintln!("select over ~100k pending took {:?}", started.elapsed());
        assert_eq!(
            batches.iter().map(|b| b.rollup).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        // The small rollups get everything they have, in order.
        assert_eq!(batch_of(&batches, 2).txs, small);
        assert_eq!(batch_of(&batches, 3).txs.len(), 5);
        // The flooded rollup gets its share plus exactly what the others left, oldest first.
        let flood = batch_of(&batches, 1);
        let small_bytes = 2 * 5 * TX_BYTES;
        assert_eq!(flood.tx_bytes(), 30_000 - small_bytes);
        for (k, raw) in flood.txs.iter().enumerate() {
            assert_eq!(raw, &tx("flood", next_flood_tx + k));
        }
        next_flood_tx += flood.txs.len();
        pool.remove_included(&included(&batches));
        assert_eq!(pool.pending_count(2), 0);
    }
    assert_eq!(pool.pending_count(1), 100_000 - next_flood_tx);
}

#[test]
fn unused_share_goes_to_the_rollups_that_have_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let pool = open(&dir, config());
    submit_all(&pool, 2, (0..1_000).map(|i| tx("only", i)));
    let batches = pool.select(&|_| false).batches;
    assert_eq!(batches.len(), 3);
    assert!(batch_of(&batches, 1).txs.is_empty());
    assert!(batch_of(&batches, 3).txs.is_empty());
    assert_eq!(batch_of(&batches, 2).tx_bytes(), 30_000);

    // Two busy rollups split the idle one's share evenly (round-robin).
    submit_all(&pool, 1, (0..1_000).map(|i| tx("busy", i)));
    let batches = pool.select(&|_| false).batches;
    assert_eq!(batch_of(&batches, 1).tx_bytes(), 15_000);
    assert_eq!(batch_of(&batches, 2).tx_bytes(), 15_000);

    // Nothing pending: one empty batch per rollup.
    let empty = tempfile::tempdir().unwrap();
    let batches = open(&empty, config()).select(&|_| false).batches;
    assert_eq!(batches.len(), 3);
    assert!(batches.iter().all(|b| b.txs.is_empty()));
}

#[test]
fn forced_transactions_come_first_and_count_against_the_limits() {
    let dir = tempfile::tempdir().unwrap();
    let pool = open(&dir, config());
    submit_all(&pool, 1, (0..1_000).map(|i| tx("pool", i)));
    let forced = vec![Batch {
        rollup: 1,
        forced: 2,
        txs: vec![tx("forced", 0), tx("forced", 1)],
    }];
    let selected = pool.select_after(forced, &|_| false);
    // The hashes handed to the block are those of the transactions, forced ones included.
    let hashes: Vec<Vec<_>> = selected.batches.iter().map(Batch::tx_hashes).collect();
    assert_eq!(selected.tx_hashes, hashes);
    let batches = selected.batches;
    let batch = batch_of(&batches, 1);
    assert_eq!(batch.forced, 2);
    assert_eq!(&batch.txs[..2], [tx("forced", 0), tx("forced", 1)]);
    assert_eq!(batch.txs[2], tx("pool", 0));
    // the block budget includes the forced bytes
    assert_eq!(batches.iter().map(Batch::tx_bytes).sum::<usize>(), 30_000);
    assert_eq!(batch_of(&batches, 2).forced, 0);
}

#[test]
fn selection_honours_per_block_tx_caps_and_exclusions() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.rollups[0].max_txs_per_block = 3;
    let pool = open(&dir, cfg);
    submit_all(&pool, 1, (0..10).map(|i| tx("capped", i)));
    submit_all(&pool, 2, (0..10).map(|i| tx("free", i)));
    let batches = pool.select(&|_| false).batches;
    // Phase 2 does not lift the cap, even with most of the block unused.
    assert_eq!(batch_of(&batches, 1).txs.len(), 3);
    assert_eq!(batch_of(&batches, 2).txs.len(), 10);

    // Transactions already in a pending ancestor are skipped, the next ones take their place.
    let in_ancestor: std::collections::HashSet<TxHash> =
        [tx_hash(&tx("capped", 0)), tx_hash(&tx("capped", 2))]
            .into_iter()
            .collect();
    let batches = pool.select(&|h| in_ancestor.contains(h)).batches;
    assert_eq!(
        batch_of(&batches, 1).txs,
        [tx("capped", 1), tx("capped", 3), tx("capped", 4)]
    );
    // Selecting removes nothing.
    assert_eq!(pool.len(), 20);
}

#[test]
fn a_transaction_larger_than_what_is_left_stops_its_lane() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.max_block_bytes = 1_000;
    cfg.rollups = vec![opaque(1, 150), opaque(2, 850)];
    let pool = open(&dir, cfg);
    let small = Bytes::from(vec![1u8; 100]);
    let large = Bytes::from(vec![2u8; 950]);
    let after = Bytes::from(vec![3u8; 10]);
    for raw in [&small, &large, &after] {
        pool.submit_blocking(1, raw.clone()).unwrap();
    }
    let batches = pool.select(&|_| false).batches;
    // FIFO within a lane: `after` is not taken ahead of `large`, which does not fit.
    assert_eq!(batch_of(&batches, 1).txs, [small]);
}

#[test]
fn size_and_lane_limits() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.max_pending_txs_per_rollup = 3;
    cfg.max_pending_bytes_per_rollup = 1_000;
    cfg.rollups[1].max_tx_bytes = 50_000;
    let pool = open(&dir, cfg);

    assert_eq!(
        pool.submit_blocking(1, Bytes::from(vec![0u8; 1_001])),
        Err(SubmitError::Invalid(TxError::TooLarge {
            size: 1_001,
            limit: 1_000
        }))
    );
    // Larger than a whole block can never be included.
    assert_eq!(
        pool.submit_blocking(2, Bytes::from(vec![0u8; 40_000])),
        Err(SubmitError::Invalid(TxError::TooLarge {
            size: 40_000,
            limit: 30_000
        }))
    );
    assert_eq!(
        pool.submit_blocking(1, Bytes::new()),
        Err(SubmitError::Invalid(TxError::Empty))
    );

    for i in 0..3 {
        pool.submit_blocking(1, tx("a", i)).unwrap();
    }
    let full = pool.submit_blocking(1, tx("a", 3));
    assert_eq!(full, Err(SubmitError::LaneFull { rollup: 1 }));
    assert_eq!(
        full.unwrap_err().to_string(),
        "rollup 1 has too many pending transactions, retry later"
    );
    // Other lanes are not affected.
    pool.submit_blocking(3, tx("c", 0)).unwrap();

    // The byte cap.
    pool.submit_blocking(2, Bytes::from(vec![7u8; 600]))
        .unwrap();
    assert_eq!(
        pool.submit_blocking(2, Bytes::from(vec![8u8; 401])),
        Err(SubmitError::LaneFull { rollup: 2 })
    );
    pool.submit_blocking(2, Bytes::from(vec![8u8; 400]))
        .unwrap();
    assert_eq!(pool.pending_bytes(2), 1_000);

    // Room frees up once transactions are included.
    pool.remove_included(&[tx_hash(&tx("a", 0))]);
    pool.submit_blocking(1, tx("a", 3)).unwrap();
}

#[test]
fn duplicates_and_unknown_rollups_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let finalized = tx("finalized", 0);
    let finalized_hash = tx_hash(&finalized);
    let pool = Mempool::open(dir.path(), config(), only_included(finalized_hash)).unwrap();

    let raw = tx("once", 0);
    let hash = block_on(pool.submit(1, raw.clone())).unwrap();
    assert_eq!(hash, tx_hash(&raw));
    assert!(pool.is_pending(&hash));
    assert_eq!(
        block_on(pool.submit(1, raw.clone())),
        Err(SubmitError::Duplicate)
    );
    // Concurrent duplicates: exactly one is accepted.
    let twin = tx("twin", 0);
    let results = block_on(join_all((0..8).map(|_| pool.submit(2, twin.clone()))));
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert_eq!(pool.pending_count(2), 1);

    assert_eq!(
        pool.submit_blocking(1, finalized),
        Err(SubmitError::AlreadyIncluded)
    );
    pool.remove_included(&[hash]);
    assert!(!pool.is_pending(&hash));
    assert_eq!(
        pool.submit_blocking(1, raw),
        Err(SubmitError::AlreadyIncluded)
    );

    let unknown = pool.submit_blocking(77, tx("x", 0));
    assert_eq!(unknown, Err(SubmitError::UnknownRollup(77)));
    assert_eq!(
        unknown.unwrap_err().to_string(),
        "rollup 77 is not registered"
    );
    assert_eq!(pool.pending_count(77), 0);
}

mod evm {
    use super::*;
    use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
    use alloy_eips::eip2718::Encodable2718;
    use alloy_network::TxSignerSync;
    use alloy_primitives::{Address, Signature, TxKind, B256, U256};
    use alloy_signer_local::PrivateKeySigner;

    const CHAIN: u64 = 10;

    fn unsigned(chain_id: u64, nonce: u64) -> TxEip1559 {
        TxEip1559 {
            chain_id,
            nonce,
            gas_limit: 21_000,
            max_fee_per_gas: 1_000_000_000,
            max_priority_fee_per_gas: 1_000,
            to: TxKind::Call(Address::repeat_byte(0x42)),
            value: U256::from(1),
            ..Default::default()
        }
    }

    fn signed(chain_id: u64, nonce: u64) -> Bytes {
        let signer = PrivateKeySigner::from_bytes(&B256::repeat_byte(0x11)).unwrap();
        let mut tx = unsigned(chain_id, nonce);
        let signature = signer.sign_transaction_sync(&mut tx).unwrap();
        encode(tx, signature)
    }

    fn encode(tx: TxEip1559, signature: Signature) -> Bytes {
        let envelope: TxEnvelope = tx.into_signed(signature).into();
        envelope.encoded_2718().into()
    }

    fn pool(dir: &tempfile::TempDir) -> Mempool {
        let mut cfg = config();
        cfg.rollups = vec![RollupSpec::with_defaults(CHAIN, RollupKind::Evm)];
        cfg.max_block_bytes = 1 << 20;
        open(dir, cfg)
    }

    #[test]
    fn valid_transactions_are_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool(&dir);
        let raw = signed(CHAIN, 0);
        let hash = pool.submit_blocking(CHAIN, raw.clone()).unwrap();
        assert_eq!(hash, tx_hash(&raw));
        assert_eq!(pool.select(&|_| false).batches[0].txs, [raw]);
    }

    #[test]
    fn malformed_foreign_and_forged_transactions_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool(&dir);
        let submit = |raw: Bytes| pool.submit_blocking(CHAIN, raw).unwrap_err();

        assert!(matches!(
            submit(Bytes::from_static(b"\x02garbage")),
            SubmitError::Invalid(TxError::Malformed(_))
        ));
        assert_eq!(
            submit(signed(CHAIN + 1, 0)),
            SubmitError::Invalid(TxError::WrongChain {
                expected: CHAIN,
                found: CHAIN + 1
            })
        );
        let forged = encode(
            unsigned(CHAIN, 0),
            Signature::new(U256::ZERO, U256::from(1), false),
        );
        assert!(matches!(
            submit(forged),
            SubmitError::Invalid(TxError::BadSignature(_))
        ));
        let mut trailing = signed(CHAIN, 1).to_vec();
        trailing.push(0);
        assert_eq!(
            submit(trailing.into()),
            SubmitError::Invalid(TxError::TrailingBytes)
        );
        assert_eq!(
            submit(Bytes::from_static(b"\x7e\x01")),
            SubmitError::Invalid(TxError::Deposit)
        );
        assert!(pool.is_empty());
    }
}

#[test]
fn pending_transactions_survive_a_restart_in_arrival_order() {
    let dir = tempfile::tempdir().unwrap();
    let order = [
        (1, tx("a", 0)),
        (2, tx("b", 0)),
        (1, tx("a", 1)),
        (3, tx("c", 0)),
    ];
    let before = {
        let pool = open(&dir, config());
        for (rollup, raw) in &order {
            pool.submit_blocking(*rollup, raw.clone()).unwrap();
        }
        pool.select(&|_| false).batches
    };
    let pool = open(&dir, config());
    assert_eq!(pool.len(), 4);
    assert_eq!(pool.select(&|_| false).batches, before);
    assert_eq!(batch_of(&before, 1).txs, [tx("a", 0), tx("a", 1)]);

    // New submissions queue behind the reloaded ones.
    pool.submit_blocking(1, tx("a", 2)).unwrap();
    pool.remove_included(&[tx_hash(&tx("a", 0))]);
    drop(pool);

    let pool = open(&dir, config());
    assert_eq!(
        batch_of(&pool.select(&|_| false).batches, 1).txs,
        [tx("a", 1), tx("a", 2)]
    );
    drop(pool);

    // Transactions finalized while the node was down are dropped on reload, for good.
    let finalized = tx_hash(&tx("b", 0));
    let pool = Mempool::open(dir.path(), config(), only_included(finalized)).unwrap();
    assert!(!pool.is_pending(&finalized));
    assert_eq!(pool.len(), 3);
    drop(pool);
    assert!(!open(&dir, config()).is_pending(&finalized));
}

#[test]
fn reload_drops_transactions_the_registry_no_longer_allows() {
    let dir = tempfile::tempdir().unwrap();
    {
        let pool = open(&dir, config());
        pool.submit_blocking(1, tx("kept", 0)).unwrap();
        pool.submit_blocking(3, tx("orphan", 0)).unwrap();
        pool.submit_blocking(2, Bytes::from(vec![9u8; 500]))
            .unwrap();
    }
    let mut cfg = config();
    cfg.rollups.pop();
    cfg.rollups[1].max_tx_bytes = 400;
    let pool = open(&dir, cfg);
    assert_eq!(pool.len(), 1);
    assert!(pool.is_pending(&tx_hash(&tx("kept", 0))));
}

#[test]
fn old_transactions_expire() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.ttl = Duration::from_millis(200);
    let pool = open(&dir, cfg.clone());
    let old = pool.submit_blocking(1, tx("old", 0)).unwrap();
    let old_other_lane = pool.submit_blocking(2, tx("old", 1)).unwrap();
    thread::sleep(Duration::from_millis(300));
    let fresh = pool.submit_blocking(1, tx("fresh", 0)).unwrap();

    let mut expired = pool.expire();
    expired.sort();
    let mut expected = vec![old, old_other_lane];
    expected.sort();
    assert_eq!(expired, expected);
    assert!(pool.expire().is_empty());
    assert!(!pool.is_pending(&old));
    assert!(pool.is_pending(&fresh));
    drop(pool);

    let pool = open(&dir, cfg);
    assert_eq!(pool.len(), 1);
    assert!(pool.is_pending(&fresh));
}

#[test]
fn concurrent_blocking_submissions_are_all_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let pool = open(&dir, config());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let pool = pool.clone();
            thread::spawn(move || {
                for i in 0..250 {
                    pool.submit_blocking(1 + (t % 3), tx(&format!("t{t}"), i))
                        .unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(pool.len(), 2_000);
    drop(pool);
    assert_eq!(open(&dir, config()).len(), 2_000);
}

#[test]
fn select_is_fast() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.max_block_bytes = 1 << 20;
    for spec in &mut cfg.rollups {
        spec.share_bytes = 1 << 18;
    }
    let pool = open(&dir, cfg);
    for rollup in 1..=3 {
        submit_all(
            &pool,
            rollup,
            (0..3_334).map(|i| tx(&format!("r{rollup}"), i)),
        );
    }
    let started = Instant::now();
    let runs = 20;
    for _ in 0..runs {
        let batches = pool.select(&|_| false).batches;
        assert_eq!(batches.iter().map(|b| b.txs.len()).sum::<usize>(), 10_002);
    }
    let each = started.elapsed() / runs;
    eprintln!("select over 10k pending: {each:?}");
    assert!(each < Duration::from_millis(50), "select took {each:?}");
}

#[test]
fn open_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.rollups.push(opaque(2, 1));
    assert!(matches!(
        Mempool::open(dir.path(), cfg, nothing_included),
        Err(OpenError::DuplicateRollup(2))
    ));

    // The journal is locked while open.
    let pool = open(&dir, config());
    let err = Mempool::open(dir.path(), config(), nothing_included)
        .err()
        .unwrap();
    assert!(matches!(err, OpenError::Db { .. }), "{err}");
    assert!(err.to_string().contains(&dir.path().display().to_string()));
    drop(pool);

    // An entry this crate did not write.
    {
        let db = rocksdb::DB::open_default(dir.path()).unwrap();
        db.put(b"not-a-seq", b"x").unwrap();
    }
    let err = Mempool::open(dir.path(), config(), nothing_included)
        .err()
        .unwrap();
    assert!(matches!(err, OpenError::Corrupt { .. }), "{err}");
}

#[test]
fn local_transactions_are_announced_relayed_ones_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let pool = open(&dir, config());
    let mut announced = pool.announcements();
    submit_all(&pool, 1, [tx("local", 0)]);
    let relayed = admit(&pool, 2, tx("peer", 0)).unwrap();
    let announcement = announced.try_recv().unwrap();
    assert_eq!(
        (announcement.rollup, announcement.raw.clone()),
        (1, tx("local", 0)),
        "a client's transaction is announced at once"
    );
    assert_eq!(announcement.hash, tx_hash(&announcement.raw));
    assert!(
        announced.try_recv().is_err(),
        "a relayed one is not announced again"
    );
    assert!(pool.is_pending(&relayed));

    // Relayed transactions pass the same checks as submissions.
    assert_eq!(admit(&pool, 2, tx("peer", 0)), Err(SubmitError::Duplicate));
    assert_eq!(
        admit(&pool, 77, tx("peer", 1)),
        Err(SubmitError::UnknownRollup(77))
    );
    assert!(matches!(
        admit(&pool, 1, Bytes::from(vec![0u8; 2_000])),
        Err(SubmitError::Invalid(_))
    ));
}

/// One relayed message: every transaction gets its own outcome, in order, and only the good ones
/// join the pending set.
#[test]
fn a_relayed_batch_admits_the_good_transactions_and_refuses_each_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let finalized = tx("finalized", 0);
    let pool = Mempool::open(
        dir.path(),
        Config {
            max_pending_txs_per_rollup: 2,
            ..config()
        },
        only_included(tx_hash(&finalized)),
    )
    .unwrap();
    submit_all(&pool, 1, [tx("local", 0)]);
    let batch = vec![
        (1, tx("peer", 0)),
        (1, tx("local", 0)),
        (2, tx("peer", 1)),
        (2, tx("peer", 1)),
        (77, tx("peer", 2)),
        (3, finalized),
        (1, Bytes::from(vec![0u8; 2_000])),
        (1, tx("peer", 3)),
        (2, tx("peer", 4)),
    ];
    let outcomes = pool.admit_relayed(batch);
    assert_eq!(outcomes[0], Ok(tx_hash(&tx("peer", 0))));
    assert_eq!(outcomes[1], Err(SubmitError::Duplicate), "pending already");
    assert_eq!(outcomes[2], Ok(tx_hash(&tx("peer", 1))));
    assert_eq!(
        outcomes[3],
        Err(SubmitError::Duplicate),
        "twice in one batch"
    );
    assert_eq!(outcomes[4], Err(SubmitError::UnknownRollup(77)));
    assert_eq!(outcomes[5], Err(SubmitError::AlreadyIncluded));
    assert!(matches!(outcomes[6], Err(SubmitError::Invalid(_))));
    assert_eq!(outcomes[7], Err(SubmitError::LaneFull { rollup: 1 }));
    assert_eq!(outcomes[8], Ok(tx_hash(&tx("peer", 4))));
    assert_eq!(outcomes.len(), 9);
    assert_eq!(
        (
            pool.pending_count(1),
            pool.pending_count(2),
            pool.pending_count(3)
        ),
        (2, 2, 0)
    );
}

#[test]
fn a_client_batch_is_admitted_in_order_journaled_and_each_bad_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    let finalized = tx("finalized", 0);
    let config = || Config {
        max_pending_txs_per_rollup: 4,
        ..config()
    };
    let pool = Mempool::open(dir.path(), config(), only_included(tx_hash(&finalized))).unwrap();
    let announced = pool.announcements();
    submit_all(&pool, 1, [tx("earlier", 0)]);
    let batch = vec![
        tx("client", 0),
        tx("earlier", 0),
        tx("client", 1),
        tx("client", 1),
        finalized,
        Bytes::from(vec![0u8; 2_000]),
        tx("client", 2),
        tx("client", 3),
    ];
    let outcomes = block_on(pool.submit_all(1, batch));
    assert_eq!(outcomes[0], Ok(tx_hash(&tx("client", 0))));
    assert_eq!(outcomes[1], Err(SubmitError::Duplicate), "pending already");
    assert_eq!(outcomes[2], Ok(tx_hash(&tx("client", 1))));
    assert_eq!(
        outcomes[3],
        Err(SubmitError::Duplicate),
        "twice in one batch"
    );
    assert_eq!(outcomes[4], Err(SubmitError::AlreadyIncluded));
    assert!(matches!(outcomes[5], Err(SubmitError::Invalid(_))));
    assert_eq!(outcomes[6], Ok(tx_hash(&tx("client", 2))));
    assert_eq!(outcomes[7], Err(SubmitError::LaneFull { rollup: 1 }));
    assert_eq!(outcomes.len(), 8);
    assert_eq!(
        block_on(pool.submit_all(77, vec![tx("client", 4)])),
        [Err(SubmitError::UnknownRollup(77))]
    );

    let in_order = [
        tx("earlier", 0),
        tx("client", 0),
        tx("client", 1),
        tx("client", 2),
    ];
    let announced: Vec<Bytes> = block_on(announced.take(4).map(|a| a.raw).collect());
    assert_eq!(announced, in_order, "announced once each, in order");
    assert_eq!(batch_of(&pool.select(&|_| false).batches, 1).txs, in_order);
    drop(pool);
    // Answered once durable: all of them are there after a restart, in the same order.
    let pool = Mempool::open(dir.path(), config(), nothing_included).unwrap();
    assert_eq!(batch_of(&pool.select(&|_| false).batches, 1).txs, in_order);
}

#[test]
fn announcements_of_a_waiting_transaction_back_off() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicU64::new(1_000_000));
    let clock = now.clone();
    let pool = open(
        &dir,
        Config {
            clock: WallClock::new(move || clock.load(Ordering::Relaxed)),
            ..config()
        },
    );
    submit_all(&pool, 1, [tx("a", 0)]);
    let interval = Duration::from_secs(2);
    // Acknowledged (and announced) at 0 s: announced again at 2, 6, 14, 30, 46 s.
    let mut announced_at = Vec::new();
    for second in 0..=50 {
        now.store(1_000_000 + second * 1_000, Ordering::Relaxed);
        if !pool.take_unannounced(interval, 10).is_empty() {
            announced_at.push(second);
        }
    }
    assert_eq!(announced_at, vec![2, 6, 14, 30, 46]);
}

#[test]
fn pending_local_transactions_are_announced_again_until_included() {
    let dir = tempfile::tempdir().unwrap();
    {
        let pool = open(&dir, config());
        submit_all(&pool, 1, (0..3).map(|i| tx("a", i)));
        admit(&pool, 2, tx("peer", 0)).unwrap();
        // Just announced on submission: not due yet.
        assert!(pool
            .take_unannounced(Duration::from_secs(60), 100)
            .is_empty());
        let due = pool.take_unannounced(Duration::ZERO, 2);
        assert_eq!(
            due,
            vec![tx_hash(&tx("a", 0)), tx_hash(&tx("a", 1))],
            "oldest first, bounded"
        );
    }
    // After a restart every reloaded transaction is due at once (its peers may have missed it);
    // relayed ones are not journaled (their origin holds them).
    let pool = open(&dir, config());
    let included_hash = tx_hash(&tx("a", 1));
    pool.remove_included(&[included_hash]);
    let due = pool.take_unannounced(Duration::from_secs(60), 100);
    assert_eq!(due, vec![tx_hash(&tx("a", 0)), tx_hash(&tx("a", 2))]);
    assert_eq!(pool.len(), 2);
    assert!(
        pool.take_unannounced(Duration::from_secs(60), 100)
            .is_empty(),
        "announced ones wait for the interval"
    );
}

#[test]
fn a_peer_announcing_hashes_is_asked_only_for_what_is_unknown_here() {
    let dir = tempfile::tempdir().unwrap();
    let finalized = tx_hash(&tx("finalized", 0));
    let pool = Mempool::open(dir.path(), config(), only_included(finalized)).unwrap();
    submit_all(&pool, 1, [tx("local", 0)]);
    admit(&pool, 2, tx("peer", 0)).unwrap();
    admit(&pool, 1, tx("gone", 0)).unwrap();
    pool.remove_included(&[tx_hash(&tx("gone", 0))]);
    let unknown = tx_hash(&tx("unknown", 0));
    let announced = [
        tx_hash(&tx("local", 0)),
        unknown,
        tx_hash(&tx("peer", 0)),
        finalized,
        tx_hash(&tx("gone", 0)),
    ];
    assert_eq!(
        pool.missing(&announced),
        vec![unknown],
        "pending, finalized (in the store) and just finalized ones are not asked for"
    );

    // What a peer asks for: the pending ones, in its order; unknown hashes are skipped.
    assert_eq!(
        pool.pending_txs(&[tx_hash(&tx("peer", 0)), unknown, tx_hash(&tx("local", 0))]),
        vec![(2, tx("peer", 0)), (1, tx("local", 0))]
    );
}

/// A new leader is handed this node's own pending transactions only: those its clients gave it,
/// oldest first across rollups, not those peers relayed to it, and none that left the pool.
#[test]
fn pending_local_is_what_this_nodes_clients_gave_it() {
    let dir = tempfile::tempdir().unwrap();
    let pool = open(&dir, config());
    submit_all(&pool, 2, [tx("local", 0)]);
    pool.admit_relayed(vec![(1, tx("peer", 0))]);
    submit_all(&pool, 1, [tx("local", 1), tx("local", 2)]);
    pool.remove_included(&[tx_hash(&tx("local", 1))]);

    assert_eq!(
        pool.pending_local(10),
        vec![(2, tx("local", 0)), (1, tx("local", 2))]
    );
    assert_eq!(pool.pending_local(1), vec![(2, tx("local", 0))]);
}

#[test]
fn pending_among_names_only_what_is_pending_for_the_same_rollup() {
    let dir = tempfile::tempdir().unwrap();
    let pool = open(&dir, config());
    submit_all(&pool, 1, [tx("a", 0)]);
    assert_eq!(admit(&pool, 2, tx("b", 0)), Ok(tx_hash(&tx("b", 0))));
    let (a, b, unknown) = (
        tx_hash(&tx("a", 0)),
        tx_hash(&tx("b", 0)),
        tx_hash(b"unknown"),
    );
    let pending = pool.pending_among(&[(1, a), (1, b), (2, b), (3, a), (1, unknown)]);
    assert_eq!(pending, TxHashSet::from_iter([a, b]));
    // The same bytes pending for another rollup passed another rollup's check.
    assert!(pool.pending_among(&[(3, a), (1, b)]).is_empty());
}

#[test]
fn a_waiting_leader_is_woken_by_an_offerable_transaction_and_not_by_a_refused_one() {
    let dir = tempfile::tempdir().unwrap();
    let pool = open(&dir, config());
    let relayed = tx("peer", 0);
    admit(&pool, 1, relayed.clone()).unwrap();

    let mut waiting = Box::pin(pool.offered());
    assert!((&mut waiting).now_or_never().is_none(), "nothing new yet");
    assert!(admit(&pool, 77, tx("peer", 1)).is_err(), "unknown rollup");
    assert_eq!(admit(&pool, 1, relayed), Err(SubmitError::Duplicate));
    assert!(
        (&mut waiting).now_or_never().is_none(),
        "refusals offer nothing"
    );
    admit(&pool, 2, tx("peer", 2)).unwrap();
    assert!(
        waiting.now_or_never().is_some(),
        "a peer's is offerable at once"
    );

    // A client's is offerable once synced, which is before its submitter hears of it.
    let waiting = pool.offered();
    block_on(pool.submit(3, tx("client", 0))).unwrap();
    assert!(waiting.now_or_never().is_some());

    // Waits that were given up do not pile up while nothing arrives.
    for _ in 0..1_000 {
        drop(pool.offered());
    }
    assert_eq!(pool.state().offers.waiting(), 0);
}
