//! The locations of transactions finalized since the last ingestion into `txs`, held in memory.
//!
//! Writing each finalized transaction's location into rocksdb's memtable cost a skip-list descent
//! through random keys, then a flush and compactions: ~3-4 us of CPU a transaction, most of what
//! indexing a block cost. A block's locations are instead written as one value, its segment
//! (`tx_segments`, keyed by height), in the block's own write batch, and kept here in a hash map.
//! Once the map holds enough of them ([`crate::DEFAULT_INGEST_EVERY`] unless configured) they
//! are written, sorted, into a table file that rocksdb ingests into `txs` as it is, and their
//! segments are deleted. Look-ups ask the map first.
//!
//! A crash loses nothing: the segments still stored are loaded again on open. A segment ingested
//! twice (a crash between the ingestion and the deletion of its segments) writes the same entries
//! again. Nothing asks whether a hash is already indexed before its location is written: a hash
//! included again keeps its first location here (the first one added, sealed before open) and in
//! `txs` (its merge operator keeps the oldest).

use crate::TxLocation;
use ordo_types::{TxHash, TxHashMap};
use std::sync::Arc;

/// Bytes of one segment entry: the hash, then its location.
const ENTRY_BYTES: usize = 32 + TxLocation::SIZE;

/// Locations indexed but not yet in `txs`.
pub(crate) struct RecentTxs {
    /// Locations gathered before they are sealed for ingestion.
    threshold: usize,
    open: TxHashMap<TxLocation>,
    /// Heights of the segments in `open`.
    open_heights: Option<(u64, u64)>,
    /// Locations being (or to be) ingested, still answered from memory until they are.
    sealed: Option<Arc<Sealed>>,
    ingesting: bool,
}

/// Locations handed to an ingestion, and the heights of the segments they came from.
pub(crate) struct Sealed {
    pub(crate) from: u64,
    pub(crate) to: u64,
    pub(crate) locations: TxHashMap<TxLocation>,
}

impl RecentTxs {
    pub(crate) fn new(threshold: usize) -> Self {
        Self {
            threshold,
            open: Self::empty_map(threshold),
            open_heights: None,
            sealed: None,
            ingesting: false,
        }
    }

    /// A map with room for a whole run: growing one by doubling rehashed up to ~30 MB of it on the
    /// indexer's path, with the lock that look-ups wait for held.
    fn empty_map(threshold: usize) -> TxHashMap<TxLocation> {
        TxHashMap::with_capacity_and_hasher(threshold, Default::default())
    }

    /// The first location of `hash` held here: the sealed locations are the older ones.
    pub(crate) fn get(&self, hash: &TxHash) -> Option<TxLocation> {
        self.sealed
            .as_ref()
            .and_then(|s| s.locations.get(hash))
            .or_else(|| self.open.get(hash))
            .copied()
    }

    pub(crate) fn contains(&self, hash: &TxHash) -> bool {
        self.open.contains_key(hash)
            || self
                .sealed
                .as_ref()
                .is_some_and(|s| s.locations.contains_key(hash))
    }

    /// Adds the segment stored at `height` (heights arrive in increasing order). A hash already
    /// open keeps its first location.
    pub(crate) fn add(
        &mut self,
        height: u64,
        locations: impl IntoIterator<Item = (TxHash, TxLocation)>,
    ) {
        let before = self.open.len();
        for (hash, location) in locations {
            self.open.entry(hash).or_insert(location);
        }
        if self.open.len() > before {
            let from = self.open_heights.map_or(height, |(from, _)| from);
            self.open_heights = Some((from, height));
        }
    }

    /// What to ingest now, if anything: the open locations once there are `threshold` of them,
    /// or again the ones a failed ingestion left. None while an ingestion runs.
    pub(crate) fn take_due(&mut self) -> Option<Arc<Sealed>> {
        self.take_due_at(self.threshold)
    }

    /// [`Self::take_due`] whatever the threshold (tests: an ingestion at a chosen moment).
    #[cfg(test)]
    pub(crate) fn take_now(&mut self) -> Option<Arc<Sealed>> {
        self.take_due_at(1)
    }

    fn take_due_at(&mut self, threshold: usize) -> Option<Arc<Sealed>> {
        if self.ingesting {
            return None;
        }
        if self.sealed.is_none() && self.open.len() >= threshold {
            let (from, to) = self.open_heights.take()?;
            let fresh = Self::empty_map(self.threshold);
            self.sealed = Some(Arc::new(Sealed {
                from,
                to,
                locations: std::mem::replace(&mut self.open, fresh),
            }));
        }
        let sealed = self.sealed.clone()?;
        self.ingesting = true;
        Some(sealed)
    }

    /// The sealed locations are in `txs` (`ingested`), or their ingestion failed and is retried
    /// with the next block.
    pub(crate) fn finish_ingestion(&mut self, ingested: bool) {
        if ingested {
            self.sealed = None;
        }
        self.ingesting = false;
    }

    /// Locations answered from memory.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.open.len() + self.sealed.as_ref().map_or(0, |s| s.locations.len())
    }
}

/// A block's locations as stored in `tx_segments`.
pub(crate) fn encode_segment(locations: &[(TxHash, TxLocation)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(locations.len() * ENTRY_BYTES);
    for (hash, location) in locations {
        out.extend_from_slice(hash);
        out.extend_from_slice(&location.to_bytes());
    }
    out
}

/// The locations of a stored segment; None if it is not a whole number of valid entries.
pub(crate) fn decode_segment(bytes: &[u8]) -> Option<Vec<(TxHash, TxLocation)>> {
    if !bytes.len().is_multiple_of(ENTRY_BYTES) {
        return None;
    }
    bytes
        .chunks_exact(ENTRY_BYTES)
        .map(|entry| {
            let (hash, location) = entry.split_at(32);
            Some((hash.try_into().ok()?, TxLocation::from_bytes(location)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(height: u64) -> TxLocation {
        TxLocation {
            height,
            rollup: 901,
            batch: 0,
            index: 3,
        }
    }

    #[test]
    fn segments_round_trip_and_truncated_ones_are_refused() {
        let entries = vec![([1; 32], location(5)), ([2; 32], location(5))];
        let bytes = encode_segment(&entries);
        assert_eq!(decode_segment(&bytes), Some(entries));
        assert_eq!(decode_segment(&bytes[..bytes.len() - 1]), None);
        assert_eq!(decode_segment(&[]), Some(Vec::new()));
    }

    #[test]
    fn sealed_locations_are_answered_until_ingested_and_a_failure_is_retried() {
        let mut recent = RecentTxs::new(2);
        recent.add(4, [([1; 32], location(4))]);
        assert!(recent.take_due().is_none(), "below the threshold");
        recent.add(5, []);
        recent.add(6, [([2; 32], location(6))]);
        let sealed = recent.take_due().expect("due");
        assert_eq!((sealed.from, sealed.to), (4, 6));
        assert!(recent.take_due().is_none(), "one ingestion at a time");
        recent.add(7, [([3; 32], location(7))]);
        assert!(recent.contains(&[1; 32]) && recent.contains(&[3; 32]));

        recent.finish_ingestion(false);
        let again = recent.take_due().expect("retried");
        assert!(Arc::ptr_eq(&sealed, &again));
        recent.finish_ingestion(true);
        assert_eq!(recent.get(&[1; 32]), None, "answered by `txs` from now on");
        assert_eq!(recent.get(&[3; 32]), Some(location(7)));
        assert!(recent.take_due().is_none());
    }
}
