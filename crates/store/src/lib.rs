//! The node's durable query index of finalized blocks.
//!
//! Consensus and marshal keep blocks for agreement and backfill; this crate keeps what clients ask
//! about them afterwards, in one rocksdb database with a column family per index:
//!
//! | column family    | key                        | value                                      |
//! |------------------|----------------------------|--------------------------------------------|
//! | `blocks`         | height (BE)                | encoded [`Header`] ‖ its batches' rollups  |
//! | `certificates`   | height (BE)                | encoded descendant headers ‖ [`Certificate`] |
//! | `digests`        | block digest               | height (BE)                                |
//! | `txs`            | tx hash                    | [`TxLocation`] of its first inclusion (merged) |
//! | `tx_segments`    | height (BE)                | the block's (hash ‖ location)s not yet in `txs` |
//! | `rollup_batches` | rollup (BE) ‖ height (BE)  | encoded [`RollupBatch`] (txs, proof, cert) |
//! | `rejections`     | tx hash                    | why the node dropped it (UTF-8)            |
//! | `meta`           | `schema`, `indexed_height` | schema version, last indexed height        |
//!
//! A finalized block is indexed in one synced write batch, so after a crash the index holds the
//! whole block or none of it, and `indexed_height` never runs ahead of the data. Per-rollup
//! batches are stored with their proof and certificate, so a rollup's stream (and a receipt) is
//! served without reading or decoding any other rollup's transactions. They are the only copy of
//! the transactions: a whole block is rebuilt from its header and its batches. Transaction
//! locations reach `txs` in sorted runs, through memory ([`recent_txs`]).

use commonware_codec::{Decode, DecodeExt, Encode, RangeCfg, Read, Write};
use ordo_types::{
    chain_tip, merkle, tx_hash, Batch, Block, BlockLimits, Certificate, CertificateKind, Digest,
    Header, Receipt, RollupBatch, RollupId, TxHash, MAX_DESCENDANTS,
};
use recent_txs::{RecentTxs, Sealed};
use rocksdb::{
    BlockBasedOptions, ColumnFamily, ColumnFamilyDescriptor, DBCompressionType, Direction,
    IngestExternalFileOptions, IteratorMode, Options, SstFileWriter, WriteBatch, WriteOptions, DB,
};
use std::{
    collections::{HashMap, VecDeque},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard},
};

mod recent_txs;

const CF_BLOCKS: &str = "blocks";
const CF_CERTIFICATES: &str = "certificates";
const CF_DIGESTS: &str = "digests";
const CF_TXS: &str = "txs";
const CF_TX_SEGMENTS: &str = "tx_segments";
const CF_ROLLUP_BATCHES: &str = "rollup_batches";
const CF_REJECTIONS: &str = "rejections";
const CF_META: &str = "meta";
const COLUMN_FAMILIES: [&str; 8] = [
    CF_BLOCKS,
    CF_CERTIFICATES,
    CF_DIGESTS,
    CF_TXS,
    CF_TX_SEGMENTS,
    CF_ROLLUP_BATCHES,
    CF_REJECTIONS,
    CF_META,
];

const META_SCHEMA: &[u8] = b"schema";
const META_INDEXED_HEIGHT: &[u8] = b"indexed_height";
/// Bumped on any incompatible change of the layout above.
/// 2: certificates carry the descendant headers a finalization reaches a block through.
/// 3: `blocks` holds the header and the batches' rollups, not the transactions again.
/// 4: locations not yet in `txs` are in `tx_segments` (a version 3 store is upgraded on open: it
///    has no segments).
/// 5: `txs` takes merge operands, resolved by [`first_location`] (a version 3 or 4 store is
///    upgraded on open: its entries are the values the operator keeps; the bump keeps a node
///    without the operator from opening the store).
const SCHEMA_VERSION: u32 = 5;
/// The versions [`SCHEMA_VERSION`] reads and upgrades.
const UPGRADABLE_SCHEMA_VERSIONS: [u32; 2] = [3, 4];
/// Transaction locations held in memory before they are ingested into `txs` (a ~30 MB map).
pub const DEFAULT_INGEST_EVERY: usize = 1 << 18;
/// Where table files of locations are written before `txs` ingests them (inside the store).
const INGEST_DIR: &str = "ingest";

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open store at {}: {source}", .path.display())]
    Open {
        path: PathBuf,
        source: rocksdb::Error,
    },
    #[error("store at {}: {source}", .path.display())]
    Db {
        path: PathBuf,
        source: rocksdb::Error,
    },
    #[error("store at {} is corrupt: {what}", .path.display())]
    Corrupt { path: PathBuf, what: String },
    #[error(
        "store at {} has schema version {found}, this node reads version {SCHEMA_VERSION} (move \
         the node's data directory aside and let it sync again from its peers; on the devnet, \
         `make devnet-clean`)",
        .path.display()
    )]
    UnknownSchema { path: PathBuf, found: String },
    #[error("cannot index height {offered}: the next height to index is {expected}")]
    HeightGap { expected: u64, offered: u64 },
    #[error("height {height} is already indexed with block {indexed}, refusing block {offered}")]
    Conflict {
        height: u64,
        indexed: Digest,
        offered: Digest,
    },
    #[error("height {height} precedes the first indexed block and can no longer be indexed")]
    BeforeFirstIndexed { height: u64 },
    #[error("certificate at height {height} certifies {certified}, not the block {block}")]
    CertificateMismatch {
        height: u64,
        block: Digest,
        certified: Digest,
    },
    #[error("block {digest} at height {height} cannot be indexed: {reason}")]
    InvalidBlock {
        height: u64,
        digest: Digest,
        reason: &'static str,
    },
}

/// Where a finalized transaction is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxLocation {
    pub height: u64,
    pub rollup: RollupId,
    /// Position of its batch in `block.batches`.
    pub batch: u32,
    /// Position in its batch.
    pub index: u32,
}

impl TxLocation {
    pub(crate) const SIZE: usize = 8 + 8 + 4 + 4;

    fn to_bytes(self) -> [u8; Self::SIZE] {
        let mut out = [0u8; Self::SIZE];
        out[..8].copy_from_slice(&self.height.to_be_bytes());
        out[8..16].copy_from_slice(&self.rollup.to_be_bytes());
        out[16..20].copy_from_slice(&self.batch.to_be_bytes());
        out[20..].copy_from_slice(&self.index.to_be_bytes());
        out
    }

    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let bytes: &[u8; Self::SIZE] = bytes.try_into().ok()?;
        Some(Self {
            height: u64::from_be_bytes(bytes[..8].try_into().ok()?),
            rollup: u64::from_be_bytes(bytes[8..16].try_into().ok()?),
            batch: u32::from_be_bytes(bytes[16..20].try_into().ok()?),
            index: u32::from_be_bytes(bytes[20..].try_into().ok()?),
        })
    }
}

/// Handle to the index; cheap to clone and shared by the engine and the RPC server.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
    /// Shared by the handles users hold, not by the ingestion thread's.
    _users: Option<Arc<LastUser>>,
}

/// Dropped with the last user's handle: waits for the ingestion thread, so that the database is
/// closed when the last handle is gone and can be opened again at once.
struct LastUser(Arc<Inner>);

impl Drop for LastUser {
    fn drop(&mut self) {
        self.0.join_ingestion();
    }
}

struct Inner {
    db: DB,
    path: PathBuf,
    limits: BlockLimits,
    /// Serializes `index_finalized` so its height check and its write are one step.
    index_lock: Mutex<()>,
    /// Batches receipts were recently built from.
    receipt_batches: Mutex<RecentBatches>,
    /// Locations indexed but not yet ingested into `txs`.
    recent_txs: RwLock<RecentTxs>,
    /// The last ingestion thread started.
    ingestion: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Inner {
    /// Waits for the last ingestion thread started (one runs at a time) to exit.
    fn join_ingestion(&self) {
        let thread = self
            .ingestion
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

/// Most batches [`RecentBatches`] holds.
const RECENT_BATCHES: usize = 128;

/// The batches receipts were recently built from, without their transactions but with their
/// hashes. Receipts are asked for a block's transactions together (a client following its
/// submissions, an explorer), and each needs every hash of its batch for its proof: without
/// this, each one read, decoded and hashed its whole batch again (10,000 receipts took ~29 s in
/// a dev build). A stored batch never changes, so nothing here goes stale.
#[derive(Default)]
struct RecentBatches {
    order: VecDeque<(RollupId, u64)>,
    batches: HashMap<(RollupId, u64), Arc<HashedBatch>>,
}

/// A stored batch with `txs` emptied, and the hashes of its transactions.
struct HashedBatch {
    batch: RollupBatch,
    hashes: Vec<TxHash>,
}

impl RecentBatches {
    fn get(&self, key: &(RollupId, u64)) -> Option<Arc<HashedBatch>> {
        self.batches.get(key).cloned()
    }

    fn insert(&mut self, key: (RollupId, u64), batch: Arc<HashedBatch>) {
        if self.batches.insert(key, batch).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > RECENT_BATCHES {
            if let Some(oldest) = self.order.pop_front() {
                self.batches.remove(&oldest);
            }
        }
    }
}

/// Write-ahead log kept before memtables are flushed (bounds the replay on reopen).
const MAX_WAL_BYTES: u64 = 16 << 20;

impl Store {
    /// Opens (creating if missing) the index at `path`. `limits` bound what decoding a stored
    /// block may allocate.
    pub fn open(path: &Path, limits: BlockLimits) -> Result<Self, StoreError> {
        Self::open_ingesting_every(path, limits, DEFAULT_INGEST_EVERY)
    }

    /// [`Self::open`], moving locations from memory into `txs` once `ingest_entries` have
    /// gathered (at least 1).
    pub fn open_ingesting_every(
        path: &Path,
        limits: BlockLimits,
        ingest_entries: usize,
    ) -> Result<Self, StoreError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        // Reopening replays the write-ahead log: without a bound it held everything since the
        // last memtable flush (~75 MB after 15 s at 13,000 tx/s, ~0.8 s to replay, plus ~0.2 s
        // flushing it during recovery) on the path of a restarted validator's first vote.
        options.set_max_total_wal_size(MAX_WAL_BYTES);
        let descriptors = COLUMN_FAMILIES
            .iter()
            .map(|&name| ColumnFamilyDescriptor::new(name, column_family_options(name)));
        let db = DB::open_cf_descriptors(&options, path, descriptors).map_err(|source| {
            StoreError::Open {
                path: path.to_path_buf(),
                source,
            }
        })?;
        let inner = Arc::new(Inner {
            db,
            path: path.to_path_buf(),
            limits,
            index_lock: Mutex::new(()),
            receipt_batches: Mutex::default(),
            recent_txs: RwLock::new(RecentTxs::new(ingest_entries.max(1))),
            ingestion: Mutex::default(),
        });
        let store = Self {
            _users: Some(Arc::new(LastUser(inner.clone()))),
            inner,
        };
        store.check_schema()?;
        store.load_segments()?;
        Ok(store)
    }

    /// Where the index lives.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Last height indexed (None before the first block).
    pub fn indexed_height(&self) -> Result<Option<u64>, StoreError> {
        self.get(CF_META, META_INDEXED_HEIGHT)?
            .map(|v| self.decode_u64(&v, "indexed height"))
            .transpose()
    }

    /// Indexes a finalized block and its own certificate (see [`Self::index_finalized_through`]).
    pub fn index_finalized(
        &self,
        block: &Block,
        certificate: &Certificate,
    ) -> Result<(), StoreError> {
        self.index_finalized_through(block, &[], certificate)
    }

    /// Indexes a finalized block, atomically, in one synced write: the block and its certificate
    /// (its own, or the finalization of the last of `descendants`, each naming the previous
    /// header as parent) by height, the digest, every transaction's location, each rollup's batch
    /// and the new indexed height. Re-indexing a block already indexed is a no-op; any other
    /// height than `indexed_height + 1` is refused (the first block indexed may be any height).
    pub fn index_finalized_through(
        &self,
        block: &Block,
        descendants: &[Header],
        certificate: &Certificate,
    ) -> Result<(), StoreError> {
        let height = block.height();
        let digest = block.digest();
        let certified = chain_tip(&block.header, descendants).map(Header::digest);
        if certified != Some(certificate.payload)
            || (!descendants.is_empty() && certificate.kind != CertificateKind::Finalization)
        {
            return Err(StoreError::CertificateMismatch {
                height,
                block: digest,
                certified: certificate.payload,
            });
        }
        let invalid = |reason| StoreError::InvalidBlock {
            height,
            digest,
            reason,
        };
        if block.batches.windows(2).any(|w| w[0].rollup >= w[1].rollup) {
            return Err(invalid("batches are not sorted by rollup id"));
        }

        let _indexing = self
            .inner
            .index_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(indexed) = self.indexed_height()? {
            if height <= indexed {
                // A replay (e.g. after a crash before marshal saw our ack) of the same block.
                return match self.shape(height)? {
                    Some((header, _)) if header.digest() == digest => Ok(()),
                    Some((header, _)) => Err(StoreError::Conflict {
                        height,
                        indexed: header.digest(),
                        offered: digest,
                    }),
                    None => Err(StoreError::BeforeFirstIndexed { height }),
                };
            }
            if height != indexed + 1 {
                return Err(StoreError::HeightGap {
                    expected: indexed + 1,
                    offered: height,
                });
            }
        }

        let height_key = height.to_be_bytes();
        let mut batch = WriteBatch::default();
        let rollups: Vec<RollupId> = block.batches.iter().map(|b| b.rollup).collect();
        let mut shape = block.header.encode().to_vec();
        rollups.write(&mut shape);
        batch.put_cf(self.cf(CF_BLOCKS), height_key, shape);
        let mut certification = descendants.to_vec().encode().to_vec();
        certification.extend_from_slice(&certificate.encode());
        batch.put_cf(self.cf(CF_CERTIFICATES), height_key, certification);
        batch.put_cf(self.cf(CF_DIGESTS), digest.0, height_key);

        // Every inclusion's location is written, without asking whether the hash is already
        // indexed: a hash seen again (replayed in a later block, or twice in this one) keeps its
        // first location wherever it is kept (the map, and `txs` through its merge operator), as
        // that inclusion is the one that executed. Asking cost a look-up per transaction.
        let mut locations = Vec::with_capacity(block.tx_hashes().iter().map(Vec::len).sum());
        for (position, (block_batch, batch_hashes)) in
            block.batches.iter().zip(block.tx_hashes()).enumerate()
        {
            for (index, hash) in batch_hashes.iter().enumerate() {
                let location = TxLocation {
                    height,
                    rollup: block_batch.rollup,
                    batch: u32::try_from(position).map_err(|_| invalid("too many batches"))?,
                    index: u32::try_from(index).map_err(|_| invalid("batch too large"))?,
                };
                locations.push((*hash, location));
            }
            let mut rollup_batch = block
                .rollup_batch(block_batch.rollup, certificate)
                .ok_or_else(|| invalid("batch proof cannot be built"))?;
            rollup_batch.descendants = descendants.to_vec();
            batch.put_cf(
                self.cf(CF_ROLLUP_BATCHES),
                rollup_key(block_batch.rollup, height),
                rollup_batch.encode(),
            );
        }
        if !locations.is_empty() {
            batch.put_cf(
                self.cf(CF_TX_SEGMENTS),
                height_key,
                recent_txs::encode_segment(&locations),
            );
        }
        batch.put_cf(self.cf(CF_META), META_INDEXED_HEIGHT, height_key);
        self.write_synced(batch)?;

        let due = {
            let mut recent = self.recent_txs_mut();
            recent.add(height, locations);
            recent.take_due()
        };
        if let Some(sealed) = due {
            self.spawn_ingestion(sealed);
        }
        Ok(())
    }

    /// Writes `sealed`'s locations into `txs` on a thread of its own, then deletes their segments.
    /// A failure leaves them answered from memory, and they are tried again after the next block.
    fn spawn_ingestion(&self, sealed: Arc<Sealed>) {
        let store = Self {
            inner: self.inner.clone(),
            _users: None,
        };
        // The one before has finished its work (one runs at a time): let it exit.
        self.inner.join_ingestion();
        let spawned = std::thread::Builder::new()
            .name("ordo-store-ingest".into())
            .spawn(move || {
                let result = store.ingest(&sealed);
                if let Err(error) = &result {
                    tracing::warn!(%error, from = sealed.from, to = sealed.to, "cannot move transaction locations into the index; kept in memory, retried after the next block");
                }
                store.recent_txs_mut().finish_ingestion(result.is_ok());
            });
        match spawned {
            Ok(spawned) => {
                *self
                    .inner
                    .ingestion
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(spawned)
            }
            Err(error) => {
                tracing::warn!(%error, "cannot start the index's ingestion thread; retried after the next block");
                self.recent_txs_mut().finish_ingestion(false);
            }
        }
    }

    /// Writes the locations, sorted, to a table file, has rocksdb ingest it into `txs`, then
    /// deletes the segments they came from.
    fn ingest(&self, sealed: &Sealed) -> Result<(), StoreError> {
        self.ingest_table(sealed)?;
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(
            self.cf(CF_TX_SEGMENTS),
            sealed.from.to_be_bytes(),
            (sealed.to + 1).to_be_bytes(),
        );
        self.write_synced(batch)
    }

    fn ingest_table(&self, sealed: &Sealed) -> Result<(), StoreError> {
        let dir = self.inner.path.join(INGEST_DIR);
        let file = dir.join(format!("{}-{}.sst", sealed.from, sealed.to));
        let io = |e: std::io::Error| self.corrupt(format!("{}: {e}", file.display()));
        std::fs::create_dir_all(&dir).map_err(io)?;
        let mut entries: Vec<_> = sealed.locations.iter().collect();
        entries.sort_unstable_by_key(|(hash, _)| *hash);
        let options = column_family_options(CF_TXS);
        let mut writer = SstFileWriter::create(&options);
        let written = writer.open(&file).and_then(|()| {
            for (hash, location) in entries {
                // A merge operand: a location `txs` already holds for the hash stays.
                writer.merge(hash, location.to_bytes())?;
            }
            writer.finish()
        });
        let mut ingest = IngestExternalFileOptions::default();
        // The file is linked into the database, not copied.
        ingest.set_move_files(true);
        let ingested = written.and_then(|()| {
            self.inner
                .db
                .ingest_external_file_cf_opts(self.cf(CF_TXS), &ingest, vec![&file])
        });
        let _ = std::fs::remove_file(&file);
        ingested.map_err(|source| self.db_error(source))
    }

    /// Waits until no ingestion into `txs` runs (tests, and a clean shutdown).
    pub fn wait_for_ingestion(&self) {
        self.inner.join_ingestion();
    }

    /// Loads the segments not yet ingested (all that are stored) and removes table files an
    /// interrupted ingestion left.
    fn load_segments(&self) -> Result<(), StoreError> {
        let dir = self.inner.path.join(INGEST_DIR);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| self.corrupt(format!("{}: {e}", dir.display())))?;
        }
        let mut recent = self.recent_txs_mut();
        for entry in self
            .inner
            .db
            .iterator_cf(self.cf(CF_TX_SEGMENTS), IteratorMode::Start)
        {
            let (key, value) = entry.map_err(|source| self.db_error(source))?;
            let height = self.decode_u64(&key, "height of a transaction segment")?;
            let locations = recent_txs::decode_segment(&value).ok_or_else(|| {
                self.corrupt(format!(
                    "transaction segment at height {height} is {} bytes",
                    value.len()
                ))
            })?;
            recent.add(height, locations);
        }
        Ok(())
    }

    fn write_synced(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let mut synced = WriteOptions::default();
        synced.set_sync(true);
        self.inner
            .db
            .write_opt(batch, &synced)
            .map_err(|source| self.db_error(source))
    }

    fn recent_txs(&self) -> RwLockReadGuard<'_, RecentTxs> {
        self.inner
            .recent_txs
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn recent_txs_mut(&self) -> RwLockWriteGuard<'_, RecentTxs> {
        self.inner
            .recent_txs
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The finalized block at `height`, the descendant headers its certificate reaches it through
    /// (usually none) and the certificate.
    pub fn block(
        &self,
        height: u64,
    ) -> Result<Option<(Block, Vec<Header>, Certificate)>, StoreError> {
        let Some((header, rollups)) = self.shape(height)? else {
            return Ok(None);
        };
        let (descendants, certificate) = self
            .certification(height)?
            .ok_or_else(|| self.corrupt(format!("block at height {height} has no certificate")))?;
        let mut batches = Vec::with_capacity(rollups.len());
        for rollup in rollups {
            let stored = self.rollup_batch(rollup, height)?.ok_or_else(|| {
                self.corrupt(format!(
                    "block at height {height} has no stored batch of rollup {rollup}"
                ))
            })?;
            batches.push(Batch {
                rollup,
                forced: stored.forced,
                txs: stored.txs,
            });
        }
        let stored_digest = header.digest();
        let block = Block::new(header, batches);
        if block.digest() != stored_digest {
            return Err(self.corrupt(format!(
                "the batches stored at height {height} do not match its header"
            )));
        }
        let certified = chain_tip(&block.header, &descendants).map(Header::digest);
        if block.height() != height || certified != Some(certificate.payload) {
            return Err(self.corrupt(format!(
                "block stored at height {height} does not match its certificate"
            )));
        }
        Ok(Some((block, descendants, certificate)))
    }

    /// Height of the finalized block with this digest.
    pub fn height_of(&self, digest: &Digest) -> Result<Option<u64>, StoreError> {
        self.get(CF_DIGESTS, &digest.0)?
            .map(|v| self.decode_u64(&v, "height of a digest"))
            .transpose()
    }

    /// Where a finalized transaction is (its first inclusion).
    pub fn tx_location(&self, hash: &TxHash) -> Result<Option<TxLocation>, StoreError> {
        // Memory is asked first, as in `included`: an ingestion moves locations into `txs` before
        // it drops them from memory. `txs` wins when it has the hash too: memory may hold a later
        // inclusion of a hash indexed before its last ingestion.
        let recent = self.recent_txs().get(hash);
        let indexed = self
            .get(CF_TXS, hash)?
            .map(|v| {
                TxLocation::from_bytes(&v).ok_or_else(|| {
                    self.corrupt(format!(
                        "location of tx {} is {} bytes",
                        hex::encode(hash),
                        v.len()
                    ))
                })
            })
            .transpose()?;
        Ok(indexed.or(recent))
    }

    /// Whether the transaction is in a finalized block.
    pub fn is_included(&self, hash: &TxHash) -> Result<bool, StoreError> {
        Ok(self.included(std::slice::from_ref(hash))?[0])
    }

    /// [`Self::is_included`] for each of `hashes`, in order, in one batched read (what a relayed
    /// batch of transactions or a block's worth of hashes asks).
    pub fn included(&self, hashes: &[TxHash]) -> Result<Vec<bool>, StoreError> {
        let mut included = vec![false; hashes.len()];
        let (mut unknown, mut positions) = (Vec::new(), Vec::new());
        {
            let recent = self.recent_txs();
            for (position, hash) in hashes.iter().enumerate() {
                if recent.contains(hash) {
                    included[position] = true;
                } else {
                    unknown.push(hash);
                    positions.push(position);
                }
            }
        }
        // Asked after the memory: an ingestion moves locations into `txs` before it drops them
        // from memory, so a location is always in one or the other.
        let found = self
            .inner
            .db
            .batched_multi_get_cf(self.cf(CF_TXS), unknown, false);
        for (position, found) in positions.into_iter().zip(found) {
            included[position] = found.map_err(|source| self.db_error(source))?.is_some();
        }
        Ok(included)
    }

    /// Receipt of a finalized transaction, built from its rollup's stored batch only.
    pub fn receipt(&self, hash: &TxHash) -> Result<Option<Receipt>, StoreError> {
        let Some(location) = self.tx_location(hash)? else {
            return Ok(None);
        };
        let hashed = self
            .hashed_batch(location.rollup, location.height)?
            .ok_or_else(|| {
                self.corrupt(format!(
                    "tx {} is indexed at height {} but rollup {}'s batch there is missing",
                    hex::encode(hash),
                    location.height,
                    location.rollup
                ))
            })?;
        let (batch, hashes) = (&hashed.batch, &hashed.hashes);
        let index = location.index as usize;
        if hashes.get(index) != Some(hash) {
            return Err(self.corrupt(format!(
                "tx {} is not at its indexed position {index} of rollup {}'s batch at height {}",
                hex::encode(hash),
                location.rollup,
                location.height
            )));
        }
        let tx_proof = merkle::Proof::build(hashes, index)
            .ok_or_else(|| self.corrupt(format!("no proof for index {index}")))?;
        Ok(Some(Receipt {
            tx_hash: *hash,
            rollup: batch.rollup,
            batch_forced: batch.forced,
            tx_proof,
            batch_proof: batch.batch_proof.clone(),
            header: batch.header.clone(),
            descendants: batch.descendants.clone(),
            certificate: batch.certificate.clone(),
        }))
    }

    /// The batch of `rollup` at `height` with its transaction hashes, from [`RecentBatches`]
    /// or read (and then kept there).
    fn hashed_batch(
        &self,
        rollup: RollupId,
        height: u64,
    ) -> Result<Option<Arc<HashedBatch>>, StoreError> {
        let recent = || {
            self.inner
                .receipt_batches
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        };
        if let Some(hashed) = recent().get(&(rollup, height)) {
            return Ok(Some(hashed));
        }
        let Some(mut batch) = self.rollup_batch(rollup, height)? else {
            return Ok(None);
        };
        let hashes = batch.txs.iter().map(|t| tx_hash(t)).collect();
        batch.txs = Vec::new();
        let hashed = Arc::new(HashedBatch { batch, hashes });
        recent().insert((rollup, height), hashed.clone());
        Ok(Some(hashed))
    }

    /// The batch of `rollup` at `height`, with its proof against the certified header.
    pub fn rollup_batch(
        &self,
        rollup: RollupId,
        height: u64,
    ) -> Result<Option<RollupBatch>, StoreError> {
        self.get(CF_ROLLUP_BATCHES, &rollup_key(rollup, height))?
            .map(|v| self.decode_rollup_batch(rollup, height, v))
            .transpose()
    }

    /// Up to `limit` consecutive batches of `rollup` from `from_height` on: a rollup's stream,
    /// read without touching other rollups' data.
    pub fn rollup_batches(
        &self,
        rollup: RollupId,
        from_height: u64,
        limit: usize,
    ) -> Result<Vec<RollupBatch>, StoreError> {
        let start = rollup_key(rollup, from_height);
        let iter = self.inner.db.iterator_cf(
            self.cf(CF_ROLLUP_BATCHES),
            IteratorMode::From(&start, Direction::Forward),
        );
        let mut batches = Vec::new();
        for entry in iter {
            if batches.len() >= limit {
                break;
            }
            let (key, value) = entry.map_err(|source| self.db_error(source))?;
            if key.len() != 16 || key[..8] != rollup.to_be_bytes() {
                break;
            }
            let height = u64::from_be_bytes(key[8..].try_into().expect("16-byte key"));
            batches.push(self.decode_rollup_batch(rollup, height, value.into_vec())?);
        }
        Ok(batches)
    }

    /// Records why the node dropped a transaction (e.g. mempool expiry), for clients to query.
    pub fn record_rejection(&self, hash: &TxHash, reason: &str) -> Result<(), StoreError> {
        self.inner
            .db
            .put_cf(self.cf(CF_REJECTIONS), hash, reason.as_bytes())
            .map_err(|source| self.db_error(source))
    }

    /// Why the node dropped the transaction, if it did.
    pub fn rejection(&self, hash: &TxHash) -> Result<Option<String>, StoreError> {
        self.get(CF_REJECTIONS, hash)?
            .map(|v| {
                String::from_utf8(v).map_err(|_| {
                    self.corrupt(format!(
                        "rejection reason of tx {} is not UTF-8",
                        hex::encode(hash)
                    ))
                })
            })
            .transpose()
    }

    fn check_schema(&self) -> Result<(), StoreError> {
        let expected = SCHEMA_VERSION.to_be_bytes();
        let write_expected = || {
            let mut batch = WriteBatch::default();
            batch.put_cf(self.cf(CF_META), META_SCHEMA, expected);
            self.write_synced(batch)
        };
        match self.get(CF_META, META_SCHEMA)? {
            Some(found) if found == expected => Ok(()),
            Some(found)
                if UPGRADABLE_SCHEMA_VERSIONS
                    .iter()
                    .any(|v| found == v.to_be_bytes()) =>
            {
                write_expected()
            }
            Some(found) => Err(StoreError::UnknownSchema {
                path: self.inner.path.clone(),
                found: match <[u8; 4]>::try_from(found.as_slice()) {
                    Ok(v) => u32::from_be_bytes(v).to_string(),
                    Err(_) => format!("0x{}", hex::encode(&found)),
                },
            }),
            None => {
                // A database with data but no schema marker was not written by this crate.
                let db = &self.inner.db;
                let has_data = db.iterator(IteratorMode::Start).next().is_some()
                    || COLUMN_FAMILIES.iter().any(|name| {
                        db.iterator_cf(self.cf(name), IteratorMode::Start)
                            .next()
                            .is_some()
                    });
                if has_data {
                    return Err(StoreError::UnknownSchema {
                        path: self.inner.path.clone(),
                        found: "none".into(),
                    });
                }
                write_expected()
            }
        }
    }

    /// The header indexed at `height` and the rollups of its batches, in block order.
    fn shape(&self, height: u64) -> Result<Option<(Header, Vec<RollupId>)>, StoreError> {
        self.get(CF_BLOCKS, &height.to_be_bytes())?
            .map(|bytes| {
                let max_rollups = self.inner.limits.max_rollups;
                let mut buf = bytes::Bytes::from(bytes);
                let header = Header::read_cfg(&mut buf, &max_rollups)?;
                let rollups =
                    Vec::<RollupId>::read_cfg(&mut buf, &(RangeCfg::from(..=max_rollups), ()))?;
                if !buf.is_empty() {
                    return Err(commonware_codec::Error::ExtraData(buf.len()));
                }
                Ok((header, rollups))
            })
            .transpose()
            .map_err(|e: commonware_codec::Error| {
                self.corrupt(format!("block at height {height}: {e}"))
            })
    }

    fn certification(&self, height: u64) -> Result<Option<(Vec<Header>, Certificate)>, StoreError> {
        self.get(CF_CERTIFICATES, &height.to_be_bytes())?
            .map(|bytes| {
                let mut buf = bytes::Bytes::from(bytes);
                let descendants = Vec::<Header>::read_cfg(
                    &mut buf,
                    &(
                        RangeCfg::from(..=MAX_DESCENDANTS),
                        self.inner.limits.max_rollups,
                    ),
                )?;
                let certificate = Certificate::decode(buf)?;
                Ok((descendants, certificate))
            })
            .transpose()
            .map_err(|e: commonware_codec::Error| {
                self.corrupt(format!("certificate at height {height}: {e}"))
            })
    }

    fn decode_rollup_batch(
        &self,
        rollup: RollupId,
        height: u64,
        bytes: Vec<u8>,
    ) -> Result<RollupBatch, StoreError> {
        let batch = RollupBatch::decode_cfg(bytes, &self.inner.limits).map_err(|e| {
            self.corrupt(format!("batch of rollup {rollup} at height {height}: {e}"))
        })?;
        if batch.rollup != rollup || batch.header.height != height {
            return Err(self.corrupt(format!(
                "batch stored for rollup {rollup} at height {height} is rollup {}'s at height {}",
                batch.rollup, batch.header.height
            )));
        }
        Ok(batch)
    }

    fn decode_u64(&self, bytes: &[u8], what: &str) -> Result<u64, StoreError> {
        <[u8; 8]>::try_from(bytes)
            .map(u64::from_be_bytes)
            .map_err(|_| self.corrupt(format!("{what} is {} bytes, expected 8", bytes.len())))
    }

    fn get(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner
            .db
            .get_cf(self.cf(cf), key)
            .map_err(|source| self.db_error(source))
    }

    fn cf(&self, name: &str) -> &ColumnFamily {
        // Every column family is created or opened in `open`.
        self.inner
            .db
            .cf_handle(name)
            .expect("column family opened in Store::open")
    }

    fn db_error(&self, source: rocksdb::Error) -> StoreError {
        StoreError::Db {
            path: self.inner.path.clone(),
            source,
        }
    }

    fn corrupt(&self, what: String) -> StoreError {
        StoreError::Corrupt {
            path: self.inner.path.clone(),
            what,
        }
    }
}

/// Options of a column family, also those of the table files ingested into it.
fn column_family_options(name: &str) -> Options {
    let mut cf = Options::default();
    // Bodies are transaction bytes: worth compressing. The other families keep rocksdb's default,
    // which is LZ4 too: their locations and segments compress, and without it (and with bodies
    // left uncompressed until level 2) saturation measured ~11% lower (2026-12-07, 4 pairs).
    if matches!(name, CF_BLOCKS | CF_ROLLUP_BATCHES) {
        cf.set_compression_type(DBCompressionType::Lz4);
    }
    // Every submission and every indexed transaction asks `txs` for a hash it almost never holds.
    // Without filters each miss walked the memtable's skip list (and every table file): rocksdb
    // lookups were ~11% of a saturated node's CPU. Bloom filters answer a miss from a few bits.
    if name == CF_TXS {
        let mut table = BlockBasedOptions::default();
        table.set_bloom_filter(10.0, false);
        cf.set_block_based_table_factory(&table);
        cf.set_memtable_whole_key_filtering(true);
        cf.set_memtable_prefix_bloom_ratio(0.1);
        cf.set_merge_operator_associative(TXS_MERGE_OPERATOR, first_location);
    }
    cf
}

/// Name of `txs`' merge operator, recorded in its table files.
const TXS_MERGE_OPERATOR: &str = "ordo-first-location";

/// `txs`' merge: the oldest location of a hash wins (rocksdb hands operands oldest first), so a
/// location is written without a look-up and a later inclusion of the same hash changes nothing.
fn first_location(
    _hash: &[u8],
    existing: Option<&[u8]>,
    operands: &rocksdb::MergeOperands,
) -> Option<Vec<u8>> {
    existing
        .or_else(|| operands.iter().next())
        .map(<[u8]>::to_vec)
}

/// Key of a rollup's batch: big-endian so one rollup's batches are contiguous, in height order.
fn rollup_key(rollup: RollupId, height: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&rollup.to_be_bytes());
    key[8..].copy_from_slice(&height.to_be_bytes());
    key
}

#[cfg(test)]
mod tests;
