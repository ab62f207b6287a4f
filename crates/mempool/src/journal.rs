//! The durable pending set: a rocksdb journal of accepted transactions and the group-commit
//! writer thread that is its only writer.
//!
//! Key: the arrival sequence number (u64 BE), so iteration replays arrival order. Value:
//! rollup (u64 BE) ‖ arrival unix ms (u64 BE) ‖ raw transaction.

use crate::lanes::State;
use bytes::Bytes;
use futures::channel::oneshot;
use ordo_types::RollupId;
use rocksdb::{IteratorMode, Options, WriteBatch, WriteOptions, DB};
use std::{
    path::Path,
    sync::{mpsc, Arc, Mutex, PoisonError},
};

/// Most commands folded into one synced write.
const MAX_GROUP_COMMANDS: usize = 8192;
/// Most transaction bytes folded into one synced write.
const MAX_GROUP_BYTES: usize = 32 << 20;

/// Work for the writer thread, applied in the order sent.
pub(crate) enum Command {
    /// Persist an accepted transaction; `done` hears once it is synced (or why it is not).
    Persist {
        rollup: RollupId,
        seq: u64,
        record: Vec<u8>,
        done: oneshot::Sender<Result<(), String>>,
    },
    /// Delete transactions that left the pool (included or expired). Nobody waits for this: if it
    /// is lost in a crash, reopening filters included transactions and expiry runs again.
    Forget { seqs: Vec<u64> },
    /// Flush what came before and stop.
    Shutdown,
}

/// A journal entry.
pub(crate) struct Record {
    pub rollup: RollupId,
    pub arrived_ms: u64,
    pub raw: Bytes,
}

impl Record {
    pub fn encode(rollup: RollupId, arrived_ms: u64, raw: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + raw.len());
        out.extend_from_slice(&rollup.to_be_bytes());
        out.extend_from_slice(&arrived_ms.to_be_bytes());
        out.extend_from_slice(raw);
        out
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < 16 {
            return None;
        }
        let (rollup, rest) = bytes.split_at(8);
        let (arrived_ms, raw) = rest.split_at(8);
        Some(Self {
            rollup: u64::from_be_bytes(rollup.try_into().ok()?),
            arrived_ms: u64::from_be_bytes(arrived_ms.try_into().ok()?),
            raw: Bytes::copy_from_slice(raw),
        })
    }
}

/// Why a journal entry cannot be read back.
pub(crate) enum LoadError {
    Db(rocksdb::Error),
    Corrupt(String),
}

pub(crate) fn open(path: &Path) -> Result<DB, rocksdb::Error> {
    let mut options = Options::default();
    options.create_if_missing(true);
    // Bounds the log a reopen replays (every acceptance and deletion since the last flush):
    // with one column family the memtable size is what bounds it.
    options.set_write_buffer_size(8 << 20);
    DB::open(&options, path)
}

/// Every journal entry, in arrival order.
pub(crate) fn load(db: &DB) -> Result<Vec<(u64, Record)>, LoadError> {
    let mut records = Vec::new();
    for entry in db.iterator(IteratorMode::Start) {
        let (key, value) = entry.map_err(LoadError::Db)?;
        let seq = <[u8; 8]>::try_from(&key[..])
            .map(u64::from_be_bytes)
            .map_err(|_| LoadError::Corrupt(format!("key of {} bytes, expected 8", key.len())))?;
        let record = Record::decode(&value)
            .ok_or_else(|| LoadError::Corrupt(format!("entry {seq} is {} bytes", value.len())))?;
        records.push((seq, record));
    }
    Ok(records)
}

pub(crate) fn delete_synced(db: &DB, seqs: &[u64]) -> Result<(), rocksdb::Error> {
    let mut batch = WriteBatch::default();
    for seq in seqs {
        batch.delete(seq.to_be_bytes());
    }
    db.write_opt(batch, &synced())
}

fn synced() -> WriteOptions {
    let mut options = WriteOptions::default();
    options.set_sync(true);
    options
}

/// The writer thread: takes everything queued while the previous fsync ran and commits it as one
/// synced batch, so a burst of submissions costs a few fsyncs instead of one each.
pub(crate) fn run_writer(db: DB, state: Arc<Mutex<State>>, commands: mpsc::Receiver<Command>) {
    crate::priority::lower_to_ingress();
    let (synced, unsynced) = (synced(), WriteOptions::default());
    while let Ok(first) = commands.recv() {
        let mut group = vec![first];
        let mut group_bytes = 0;
        while group.len() < MAX_GROUP_COMMANDS && group_bytes < MAX_GROUP_BYTES {
            match commands.try_recv() {
                Ok(command) => {
                    if let Command::Persist { record, .. } = &command {
                        group_bytes += record.len();
                    }
                    group.push(command);
                }
                Err(_) => break,
            }
        }

        let mut batch = WriteBatch::default();
        let mut shutdown = false;
        // Only acknowledgements wait for a sync: a lost deletion is redone on reopen.
        let mut acknowledges = false;
        for command in &group {
            match command {
                Command::Persist { seq, record, .. } => {
                    acknowledges = true;
                    batch.put(seq.to_be_bytes(), record)
                }
                Command::Forget { seqs } => {
                    for seq in seqs {
                        batch.delete(seq.to_be_bytes());
                    }
                }
                Command::Shutdown => shutdown = true,
            }
        }
        let result = if batch.is_empty() {
            Ok(())
        } else {
            let options = if acknowledges { &synced } else { &unsynced };
            db.write_opt(batch, options).map_err(|e| {
                tracing::error!(error = %e, path = %db.path().display(), "mempool journal write failed");
                e.to_string()
            })
        };

        // Publish before answering, so a submitter that hears "ok" finds its tx selectable.
        let mut waiting = Vec::new();
        {
            let mut made_durable = false;
            let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
            for command in group {
                if let Command::Persist {
                    rollup, seq, done, ..
                } = command
                {
                    if result.is_ok() {
                        state.mark_durable(rollup, seq);
                        made_durable = true;
                    } else {
                        state.remove_entry(rollup, seq);
                    }
                    waiting.push(done);
                }
            }
            if made_durable {
                state.offer_made();
            }
        }
        for done in waiting {
            // The submitter may have stopped waiting; its transaction is accepted regardless.
            let _ = done.send(result.clone());
        }
        if shutdown {
            return;
        }
    }
}
