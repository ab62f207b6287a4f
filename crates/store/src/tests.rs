use super::*;
use bytes::Bytes;
use ordo_types::{Batch, CertificateKind, Header, L1Ref};

const ROLLUPS: [RollupId; 3] = [901, 902, 903];

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(dir.path(), BlockLimits::UNBOUNDED).unwrap()
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

fn genesis() -> Block {
    Block::genesis(1_000, L1Ref::default(), &ROLLUPS)
}

/// A child of `parent` with `txs[i]` as the batch of `ROLLUPS[i]`.
fn child(parent: &Block, txs: [&[&str]; 3]) -> Block {
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
        .zip(txs)
        .map(|(&rollup, txs)| {
            Batch::new(
                rollup,
                txs.iter()
                    .map(|t| Bytes::copy_from_slice(t.as_bytes()))
                    .collect(),
            )
        })
        .collect();
    Block::new(header, batches)
}

fn index(store: &Store, block: &Block) {
    store.index_finalized(block, &certify(block)).unwrap();
}

/// Checks a receipt offline, the way a light client does: tx -> batch root -> batches root ->
/// header digest -> certificate payload.
fn verify_receipt(receipt: &Receipt) -> bool {
    let Some(batch_root) = receipt.tx_proof.root(&receipt.tx_hash) else {
        return false;
    };
    receipt.batch_proof.verify(
        &Batch::leaf(receipt.rollup, receipt.batch_forced, &batch_root),
        &receipt.header.batches_root,
    ) && chain_tip(&receipt.header, &receipt.descendants).map(Header::digest)
        == Some(receipt.certificate.payload)
}

#[test]
fn a_block_finalized_through_a_descendant_is_indexed_with_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let genesis = genesis();
    index(&store, &genesis);
    let one = child(&genesis, [&["a"], &[], &[]]);
    let two = child(&one, [&[], &["b"], &[]]);
    let three = child(&two, [&[], &[], &[]]);
    let tip = certify(&three);

    // A chain that does not reach the certified block, or a notarization, is refused.
    let refused = |descendants: &[Header], certificate: &Certificate| {
        store
            .index_finalized_through(&one, descendants, certificate)
            .unwrap_err()
    };
    assert!(matches!(
        refused(std::slice::from_ref(&three.header), &tip),
        StoreError::CertificateMismatch { .. }
    ));
    assert!(matches!(
        refused(std::slice::from_ref(&two.header), &tip),
        StoreError::CertificateMismatch { .. }
    ));
    let notarization = Certificate {
        kind: CertificateKind::Notarization,
        ..tip.clone()
    };
    assert!(matches!(
        refused(&[two.header.clone(), three.header.clone()], &notarization),
        StoreError::CertificateMismatch { .. }
    ));
    assert_eq!(store.indexed_height().unwrap(), Some(0));

    let chain = [two.header.clone(), three.header.clone()];
    store.index_finalized_through(&one, &chain, &tip).unwrap();
    // Replaying it is a no-op.
    store.index_finalized_through(&one, &chain, &tip).unwrap();
    store
        .index_finalized_through(&two, &chain[1..], &tip)
        .unwrap();
    index(&store, &three);
    assert_eq!(store.indexed_height().unwrap(), Some(3));

    let (read, descendants, certificate) = store.block(1).unwrap().unwrap();
    assert_eq!(
        (read, descendants.as_slice(), certificate),
        (one.clone(), &chain[..], tip.clone())
    );
    let receipt = store.receipt(&tx_hash(b"a")).unwrap().unwrap();
    assert_eq!(receipt.descendants, chain);
    assert!(verify_receipt(&receipt));
    let receipt = store.receipt(&tx_hash(b"b")).unwrap().unwrap();
    assert_eq!(receipt.descendants, chain[1..]);
    assert!(verify_receipt(&receipt));
    let batches = store.rollup_batches(902, 1, 10).unwrap();
    let chains: Vec<usize> = batches.iter().map(|b| b.descendants.len()).collect();
    assert_eq!(chains, [2, 1, 0]);
    assert_eq!(batches[1].txs, [Bytes::from_static(b"b")]);
}

#[test]
fn index_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    assert_eq!(store.indexed_height().unwrap(), None);
    let genesis = genesis();
    index(&store, &genesis);
    let block = child(&genesis, [&["a", "bb"], &[], &["ccc"]]);
    index(&store, &block);
    assert_eq!(store.indexed_height().unwrap(), Some(1));

    let (read, descendants, certificate) = store.block(1).unwrap().unwrap();
    assert!(descendants.is_empty());
    assert_eq!(read, block);
    assert_eq!(read.header, block.header);
    assert_eq!(certificate, certify(&block));
    assert!(store.block(2).unwrap().is_none());

    assert_eq!(store.height_of(&block.digest()).unwrap(), Some(1));
    assert_eq!(store.height_of(&genesis.digest()).unwrap(), Some(0));
    assert_eq!(store.height_of(&Digest([9; 32])).unwrap(), None);

    assert_eq!(
        store.tx_location(&tx_hash(b"ccc")).unwrap(),
        Some(TxLocation {
            height: 1,
            rollup: 903,
            batch: 2,
            index: 0
        })
    );
    assert!(store.is_included(&tx_hash(b"bb")).unwrap());
    assert!(!store.is_included(&tx_hash(b"zz")).unwrap());
    assert_eq!(store.receipt(&tx_hash(b"zz")).unwrap(), None);

    for (rollup, expected_txs) in [(901, 2), (902, 0), (903, 1)] {
        let batch = store.rollup_batch(rollup, 1).unwrap().unwrap();
        assert_eq!(batch, block.rollup_batch(rollup, &certify(&block)).unwrap());
        assert_eq!(batch.txs.len(), expected_txs);
        let stream = store.rollup_batches(rollup, 0, 10).unwrap();
        assert_eq!(stream.len(), 2);
        assert_eq!(stream[0].header.height, 0);
        assert_eq!(stream[1], batch);
    }
    assert_eq!(store.rollup_batch(904, 1).unwrap(), None);
    assert!(store.rollup_batches(904, 0, 10).unwrap().is_empty());
    assert_eq!(store.rollup_batches(901, 1, 1).unwrap().len(), 1);
    assert!(store.rollup_batches(901, 0, 0).unwrap().is_empty());
}

#[test]
fn receipts_verify_against_the_certified_header() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let genesis = genesis();
    let block = child(
        &genesis,
        [&["a", "b", "c", "d", "e"], &["f"], &["g", "h", "i"]],
    );
    index(&store, &block);
    let certificate = certify(&block);
    for (position, batch) in block.batches.iter().enumerate() {
        for (index, tx) in batch.txs.iter().enumerate() {
            let receipt = store.receipt(&tx_hash(tx)).unwrap().unwrap();
            assert!(verify_receipt(&receipt));
            assert_eq!(receipt.height(), 1);
            assert_eq!(receipt.index() as usize, index);
            // Same receipt the engine builds from the in-memory block.
            assert_eq!(
                Some(&receipt),
                block.receipt(position, index, &certificate).as_ref()
            );
            let mut forged = receipt.clone();
            forged.tx_hash = tx_hash(b"forged");
            assert!(!verify_receipt(&forged));
        }
    }
}

#[test]
fn reindexing_is_idempotent_and_conflicts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let genesis = genesis();
    let block = child(&genesis, [&["a"], &[], &[]]);
    index(&store, &genesis);
    index(&store, &block);
    index(&store, &block);
    index(&store, &genesis);
    assert_eq!(store.indexed_height().unwrap(), Some(1));

    let other = child(&genesis, [&["other"], &[], &[]]);
    let err = store.index_finalized(&other, &certify(&other)).unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { height: 1, .. }),
        "{err}"
    );
    assert!(!store.is_included(&tx_hash(b"other")).unwrap());
}

#[test]
fn gaps_and_mismatched_certificates_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let genesis = genesis();
    let one = child(&genesis, [&[], &[], &[]]);
    let two = child(&one, [&[], &[], &[]]);
    let three = child(&two, [&["x"], &[], &[]]);

    // The first block indexed may be at any height (e.g. a node that synced from a snapshot).
    index(&store, &two);
    let err = store.index_finalized(&genesis, &certify(&genesis));
    assert!(matches!(
        err,
        Err(StoreError::BeforeFirstIndexed { height: 0 })
    ));
    let other_two = child(&one, [&["y"], &[], &[]]);
    let err = store.index_finalized(&other_two, &certify(&other_two));
    assert!(matches!(err, Err(StoreError::Conflict { height: 2, .. })));
    let four = child(&three, [&[], &[], &[]]);
    let err = store.index_finalized(&four, &certify(&four)).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::HeightGap {
                expected: 3,
                offered: 4
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "cannot index height 4: the next height to index is 3"
    );

    let err = store.index_finalized(&three, &certify(&two)).unwrap_err();
    assert!(
        matches!(err, StoreError::CertificateMismatch { .. }),
        "{err}"
    );
    assert_eq!(store.indexed_height().unwrap(), Some(2));
    index(&store, &three);
    assert_eq!(store.indexed_height().unwrap(), Some(3));
}

#[test]
fn a_repeated_transaction_keeps_its_first_location() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let genesis = genesis();
    let one = child(&genesis, [&["dup", "dup"], &[], &[]]);
    let two = child(&one, [&[], &["dup"], &[]]);
    index(&store, &one);
    index(&store, &two);
    let location = store.tx_location(&tx_hash(b"dup")).unwrap().unwrap();
    assert_eq!(
        location,
        TxLocation {
            height: 1,
            rollup: 901,
            batch: 0,
            index: 0
        }
    );
    assert!(verify_receipt(
        &store.receipt(&tx_hash(b"dup")).unwrap().unwrap()
    ));
}

#[test]
fn data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let genesis = genesis();
    let block = child(&genesis, [&["a"], &["b"], &[]]);
    {
        let store = open(&dir);
        index(&store, &genesis);
        index(&store, &block);
        store
            .record_rejection(&tx_hash(b"late"), "expired after 60s")
            .unwrap();
    }
    let store = open(&dir);
    assert_eq!(store.indexed_height().unwrap(), Some(1));
    assert_eq!(store.block(1).unwrap().unwrap().0, block);
    assert!(verify_receipt(
        &store.receipt(&tx_hash(b"b")).unwrap().unwrap()
    ));
    assert_eq!(
        store.rejection(&tx_hash(b"late")).unwrap().as_deref(),
        Some("expired after 60s")
    );
    assert_eq!(store.rejection(&tx_hash(b"a")).unwrap(), None);
    // The chain continues where it stopped.
    let next = child(&block, [&[], &[], &["c"]]);
    index(&store, &next);
    assert_eq!(store.indexed_height().unwrap(), Some(2));
}

#[test]
fn corrupt_data_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let genesis = genesis();
    let block = child(&genesis, [&["a"], &[], &[]]);
    index(&store, &genesis);
    index(&store, &block);
    let db = &store.inner.db;
    let put = |cf: &str, key: &[u8], value: &[u8]| db.put_cf(store.cf(cf), key, value).unwrap();

    put(CF_BLOCKS, &1u64.to_be_bytes(), b"garbage");
    let err = store.block(1).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains(&dir.path().display().to_string()));
    // A well-formed header stored at the wrong height.
    let mut shape = genesis.header.encode().to_vec();
    ROLLUPS.to_vec().write(&mut shape);
    put(CF_BLOCKS, &1u64.to_be_bytes(), &shape);
    assert!(matches!(store.block(1), Err(StoreError::Corrupt { .. })));
    // The right header, and one trailing byte.
    let mut shape = block.header.encode().to_vec();
    ROLLUPS.to_vec().write(&mut shape);
    put(CF_BLOCKS, &1u64.to_be_bytes(), &shape);
    assert_eq!(store.block(1).unwrap().unwrap().0, block);
    shape.push(0);
    put(CF_BLOCKS, &1u64.to_be_bytes(), &shape);
    assert!(matches!(store.block(1), Err(StoreError::Corrupt { .. })));

    put(CF_ROLLUP_BATCHES, &rollup_key(901, 1), b"\x01\x02");
    assert!(matches!(
        store.rollup_batch(901, 1),
        Err(StoreError::Corrupt { .. })
    ));
    assert!(matches!(
        store.receipt(&tx_hash(b"a")),
        Err(StoreError::Corrupt { .. })
    ));
    assert!(matches!(
        store.rollup_batches(901, 0, 10),
        Err(StoreError::Corrupt { .. })
    ));

    // (Not "a": its location is still answered from memory, not from `txs`.)
    put(CF_TXS, &tx_hash(b"short"), b"short");
    assert!(matches!(
        store.tx_location(&tx_hash(b"short")),
        Err(StoreError::Corrupt { .. })
    ));
    // A location pointing past the end of its batch.
    let past_end = TxLocation {
        height: 1,
        rollup: 902,
        batch: 1,
        index: 5,
    };
    put(CF_TXS, &tx_hash(b"ghost"), &past_end.to_bytes());
    assert!(matches!(
        store.receipt(&tx_hash(b"ghost")),
        Err(StoreError::Corrupt { .. })
    ));

    put(CF_DIGESTS, &[3; 32], b"123");
    assert!(matches!(
        store.height_of(&Digest([3; 32])),
        Err(StoreError::Corrupt { .. })
    ));
    put(CF_REJECTIONS, &[4; 32], &[0xff, 0xfe]);
    assert!(matches!(
        store.rejection(&[4; 32]),
        Err(StoreError::Corrupt { .. })
    ));
    put(CF_META, META_INDEXED_HEIGHT, b"\x00");
    assert!(matches!(
        store.indexed_height(),
        Err(StoreError::Corrupt { .. })
    ));
    let next = child(&block, [&[], &[], &[]]);
    assert!(store.index_finalized(&next, &certify(&next)).is_err());

    // A segment of locations that is not a whole number of entries.
    put(CF_TX_SEGMENTS, &9u64.to_be_bytes(), b"odd");
    drop(store);
    let err = Store::open(dir.path(), BlockLimits::UNBOUNDED)
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("segment at height 9"), "{err}");
}

#[test]
fn unknown_databases_are_refused() {
    // A newer schema.
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(&dir);
        store
            .inner
            .db
            .put_cf(
                store.cf(CF_META),
                META_SCHEMA,
                (SCHEMA_VERSION + 1).to_be_bytes(),
            )
            .unwrap();
    }
    let err = Store::open(dir.path(), BlockLimits::UNBOUNDED)
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::UnknownSchema { .. }), "{err}");
    let newer = format!("schema version {}", SCHEMA_VERSION + 1);
    assert!(err.to_string().contains(&newer), "{err}");

    // Some other rocksdb database.
    let dir = tempfile::tempdir().unwrap();
    {
        let db = DB::open_default(dir.path()).unwrap();
        db.put(b"key", b"value").unwrap();
    }
    let err = Store::open(dir.path(), BlockLimits::UNBOUNDED)
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::UnknownSchema { .. }), "{err}");

    // Not a directory at all.
    let file = tempfile::NamedTempFile::new().unwrap();
    let err = Store::open(file.path(), BlockLimits::UNBOUNDED)
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::Open { .. }), "{err}");
    assert!(err.to_string().contains(&file.path().display().to_string()));
}

/// The transactions are stored once, in the rollups' batches: a whole block read back is rebuilt
/// from them and must still match its header.
#[test]
fn a_block_is_rebuilt_from_its_stored_batches_and_checked_against_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let genesis = genesis();
    let block = child(&genesis, [&["a", "b"], &[], &["c"]]);
    index(&store, &genesis);
    index(&store, &block);
    assert_eq!(store.block(1).unwrap().unwrap().0, block);

    let db = &store.inner.db;
    let mut swapped = store.rollup_batch(903, 1).unwrap().unwrap();
    swapped.txs = vec![Bytes::from_static(b"d")];
    db.put_cf(
        store.cf(CF_ROLLUP_BATCHES),
        rollup_key(903, 1),
        swapped.encode(),
    )
    .unwrap();
    let err = store.block(1).unwrap_err();
    assert!(err.to_string().contains("do not match its header"), "{err}");

    db.delete_cf(store.cf(CF_ROLLUP_BATCHES), rollup_key(903, 1))
        .unwrap();
    let err = store.block(1).unwrap_err();
    assert!(
        err.to_string().contains("no stored batch of rollup 903"),
        "{err}"
    );
}

#[test]
fn decoding_limits_apply_to_stored_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let genesis = genesis();
    let block = child(&genesis, [&["abcdef"], &[], &[]]);
    {
        let store = open(&dir);
        index(&store, &block);
    }
    let tight = BlockLimits {
        max_tx_bytes: 3,
        ..BlockLimits::UNBOUNDED
    };
    let store = Store::open(dir.path(), tight).unwrap();
    assert!(matches!(store.block(1), Err(StoreError::Corrupt { .. })));
}

#[test]
fn receipts_of_many_batches_stay_right_as_recent_batches_are_evicted() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut parent = genesis();
    index(&store, &parent);
    let mut names = Vec::new();
    for height in 1..=RECENT_BATCHES as u64 + 10 {
        let txs: Vec<String> = (0..3).map(|i| format!("tx {height}.{i}")).collect();
        let refs: Vec<&str> = txs.iter().map(String::as_str).collect();
        let block = child(&parent, [&refs, &[], &[]]);
        index(&store, &block);
        names.extend(txs);
        parent = block;
    }
    let receipt = |name: &str| store.receipt(&tx_hash(name.as_bytes())).unwrap().unwrap();
    let first = receipt(&names[0]);
    for (n, name) in names.iter().enumerate() {
        let r = receipt(name);
        assert!(verify_receipt(&r), "{name}");
        assert_eq!(
            (r.tx_hash, r.header.height, r.tx_proof.index as usize),
            (tx_hash(name.as_bytes()), n as u64 / 3 + 1, n % 3),
        );
    }
    // The first batch was evicted since: read again, the same receipt.
    assert_eq!(receipt(&names[0]), first);
}

/// Indexes `blocks` blocks after genesis, the i-th carrying "tx-i-0" .. "tx-i-2" in rollup 902,
/// each after the ingestion the one before started, and returns them (genesis first).
fn chain(store: &Store, blocks: usize) -> Vec<Block> {
    let mut chain = vec![genesis()];
    index(store, &chain[0]);
    for i in 1..=blocks {
        let txs: Vec<String> = (0..3).map(|j| format!("tx-{i}-{j}")).collect();
        let txs: Vec<&str> = txs.iter().map(String::as_str).collect();
        let block = child(chain.last().unwrap(), [&[], &txs, &[]]);
        index(store, &block);
        // One block at a time, so what is ingested when does not depend on the thread's speed.
        store.wait_for_ingestion();
        chain.push(block);
    }
    chain
}

fn segments(store: &Store) -> usize {
    store
        .inner
        .db
        .iterator_cf(store.cf(CF_TX_SEGMENTS), IteratorMode::Start)
        .count()
}

/// Every transaction of the chain answers the same before, during and after its location moves
/// from memory into `txs`, and after a reopen.
fn assert_chain_indexed(store: &Store, chain: &[Block]) {
    for block in &chain[1..] {
        let hashes = block.tx_hashes()[1].clone();
        assert_eq!(store.included(&hashes).unwrap(), vec![true; 3]);
        for (index, hash) in hashes.iter().enumerate() {
            let location = store.tx_location(hash).unwrap().unwrap();
            assert_eq!(
                (location.height, location.rollup, location.index),
                (block.height(), 902, index as u32)
            );
            assert!(verify_receipt(&store.receipt(hash).unwrap().unwrap()));
        }
    }
    assert!(!store.is_included(&tx_hash(b"never")).unwrap());
    assert_eq!(store.tx_location(&tx_hash(b"never")).unwrap(), None);
}

#[test]
fn locations_move_from_memory_into_the_index_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let chain = {
        // 3 locations a block, ingested every 4th block (12 >= 10).
        let store = Store::open_ingesting_every(dir.path(), BlockLimits::UNBOUNDED, 10).unwrap();
        let chain = chain(&store, 10);
        store.wait_for_ingestion();
        assert_chain_indexed(&store, &chain);
        // Blocks 1-8 were ingested (two runs of 4), 9-10 wait in memory and in their segments.
        assert_eq!(segments(&store), 2);
        assert_eq!(store.recent_txs().len(), 6);
        chain
    };
    let store = Store::open_ingesting_every(dir.path(), BlockLimits::UNBOUNDED, 10).unwrap();
    assert_eq!(store.recent_txs().len(), 6, "segments loaded again");
    assert_chain_indexed(&store, &chain);
}

/// Where `name` is indexed: its height and rollup.
fn located(store: &Store, name: &str) -> (u64, RollupId) {
    let location = store
        .tx_location(&tx_hash(name.as_bytes()))
        .unwrap()
        .unwrap();
    (location.height, location.rollup)
}

#[test]
fn a_transaction_included_again_keeps_its_first_location_wherever_it_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let ingesting_every = |dir: &tempfile::TempDir| {
        Store::open_ingesting_every(dir.path(), BlockLimits::UNBOUNDED, 10).unwrap()
    };
    let store = ingesting_every(&dir);
    // Blocks 1-8 are in `txs`, 9-10 in memory (see the test above).
    let mut chain = chain(&store, 10);
    let first = [("tx-1-0", (1, 902)), ("tx-9-0", (9, 902))];

    // Included again in rollup 901: once from `txs`, once from the open map.
    let again = |store: &Store, chain: &mut Vec<Block>| {
        let block = child(chain.last().unwrap(), [&["tx-1-0", "tx-9-0"], &[], &[]]);
        index(store, &block);
        chain.push(block);
        for (name, location) in first {
            assert_eq!(located(store, name), location, "{name}");
        }
    };
    again(&store, &mut chain);

    // Sealed for ingestion, and included again before the ingestion has run.
    let sealed = store.recent_txs_mut().take_now().unwrap();
    again(&store, &mut chain);
    store.ingest(&sealed).unwrap();
    store.recent_txs_mut().finish_ingestion(true);
    again(&store, &mut chain);

    // Every later inclusion reaches `txs` as a merge operand too, and changes nothing.
    let sealed = store.recent_txs_mut().take_now().unwrap();
    store.ingest(&sealed).unwrap();
    store.recent_txs_mut().finish_ingestion(true);
    assert_eq!(store.recent_txs().len(), 0);
    for (name, location) in first {
        assert_eq!(located(&store, name), location, "{name}");
        assert!(verify_receipt(
            &store.receipt(&tx_hash(name.as_bytes())).unwrap().unwrap()
        ));
    }
    store
        .inner
        .db
        .compact_range_cf(store.cf(CF_TXS), None::<&[u8]>, None::<&[u8]>);
    drop(store);
    let store = ingesting_every(&dir);
    for (name, location) in first {
        assert_eq!(
            located(&store, name),
            location,
            "{name} after compaction and reopening"
        );
    }
}

#[test]
fn an_ingestion_interrupted_before_its_segments_are_deleted_is_done_again() {
    let dir = tempfile::tempdir().unwrap();
    let chain = {
        let store = Store::open_ingesting_every(dir.path(), BlockLimits::UNBOUNDED, 1_000).unwrap();
        let chain = chain(&store, 5);
        // A crash after rocksdb ingested the table but before the segments were deleted; and
        // a table file left half-written by another.
        let sealed = store.recent_txs_mut().take_now().unwrap();
        store.ingest_table(&sealed).unwrap();
        std::fs::write(dir.path().join(INGEST_DIR).join("6-9.sst"), b"half").unwrap();
        chain
    };
    let store = Store::open_ingesting_every(dir.path(), BlockLimits::UNBOUNDED, 1).unwrap();
    assert_eq!(segments(&store), 5);
    assert!(
        !dir.path().join(INGEST_DIR).exists(),
        "left-over files removed"
    );
    assert_chain_indexed(&store, &chain);
    // The next block ingests everything again, over the same entries.
    let chain = [
        chain.clone(),
        vec![child(chain.last().unwrap(), [&[], &[], &[]])],
    ]
    .concat();
    index(&store, chain.last().unwrap());
    store.wait_for_ingestion();
    assert_eq!(segments(&store), 0);
    assert_eq!(store.recent_txs().len(), 0);
    assert_chain_indexed(&store, &chain[..6]);
}

#[test]
fn version_3_and_4_stores_are_upgraded() {
    for version in UPGRADABLE_SCHEMA_VERSIONS {
        let dir = tempfile::tempdir().unwrap();
        let mut chain = {
            // What versions 3 and 4 left in `txs`: locations as plain values, no merge operands
            // (version 3 had no segments either; version 4's ingested ones are gone).
            let store =
                Store::open_ingesting_every(dir.path(), BlockLimits::UNBOUNDED, 1_000).unwrap();
            let chain = chain(&store, 3);
            let sealed = store.recent_txs_mut().take_now().unwrap();
            for (hash, location) in &sealed.locations {
                store
                    .inner
                    .db
                    .put_cf(store.cf(CF_TXS), hash, location.to_bytes())
                    .unwrap();
            }
            store
                .inner
                .db
                .delete_range_cf(
                    store.cf(CF_TX_SEGMENTS),
                    0u64.to_be_bytes(),
                    u64::MAX.to_be_bytes(),
                )
                .unwrap();
            store
                .inner
                .db
                .put_cf(store.cf(CF_META), META_SCHEMA, version.to_be_bytes())
                .unwrap();
            chain
        };
        let store = Store::open_ingesting_every(dir.path(), BlockLimits::UNBOUNDED, 1).unwrap();
        assert_eq!(
            store.get(CF_META, META_SCHEMA).unwrap(),
            Some(SCHEMA_VERSION.to_be_bytes().to_vec())
        );
        assert_eq!(store.recent_txs().len(), 0);
        assert_chain_indexed(&store, &chain);
        // A later inclusion merged over an old plain value leaves it.
        let block = child(chain.last().unwrap(), [&["tx-1-0"], &[], &[]]);
        index(&store, &block);
        store.wait_for_ingestion();
        chain.push(block);
        assert_eq!(located(&store, "tx-1-0"), (1, 902), "version {version}");
        assert_chain_indexed(&store, &chain[..4]);
    }
}

#[test]
fn a_store_can_be_opened_again_as_soon_as_its_last_handle_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let genesis = genesis();
    let mut parent = genesis.clone();
    for round in 0..5 {
        let store = Store::open_ingesting_every(dir.path(), BlockLimits::UNBOUNDED, 1).unwrap();
        let other_handle = store.clone();
        if round == 0 {
            index(&store, &genesis);
        }
        // Each block's locations start an ingestion on a thread of its own.
        let name = format!("tx-of-round-{round}");
        let block = child(&parent, [&[name.as_str()], &[], &[]]);
        index(&store, &block);
        drop(other_handle);
        drop(store);
        let store = open(&dir);
        assert!(store.is_included(&tx_hash(name.as_bytes())).unwrap());
        parent = block;
    }
}
