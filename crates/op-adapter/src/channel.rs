//! Batches to L1: a deterministic range of L2 blocks becomes one span batch, one zlib channel,
//! frames of at most `MAX_FRAME_DATA` bytes, and one calldata transaction `0x00 ++ frames` to the
//! rollup's batch inbox. The channel id is derived from the range, so two adapters post
//! byte-identical data and op-node keeps whichever lands first.

use alloy_primitives::{keccak256, Bytes, B256};
use kona_protocol::{Batch, Frame, SingleBatch, SpanBatch, DERIVATION_VERSION_0};

/// Largest frame payload: keeps every frame well under the protocol's 1,000,000 bytes.
pub const MAX_FRAME_DATA: usize = 100_000;

/// What a batch needs of one built L2 block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct L2Block {
    pub number: u64,
    pub hash: B256,
    pub parent_hash: B256,
    pub timestamp: u64,
    pub epoch_number: u64,
    pub epoch_hash: B256,
    /// Position of the block in its epoch (0 for the epoch's first block).
    pub sequence_number: u64,
    /// Sequenced transactions (the deposits are not batched: op-node derives them from L1).
    pub txs: Vec<Bytes>,
}

/// The L2 blocks the `index`-th channel covers when each channel holds `per_channel` blocks
/// (block 0 is genesis and never batched).
pub fn channel_range(index: u64, per_channel: u64) -> std::ops::RangeInclusive<u64> {
    index * per_channel + 1..=(index + 1) * per_channel
}

/// The channel holding L2 block `number`.
pub fn channel_of(number: u64, per_channel: u64) -> u64 {
    number.saturating_sub(1) / per_channel
}

/// Calldata of the batcher transaction carrying `blocks` (consecutive, non-empty).
pub fn encode(blocks: &[L2Block], genesis_time: u64, chain_id: u64) -> anyhow::Result<Bytes> {
    anyhow::ensure!(!blocks.is_empty(), "a channel needs at least one block");
    let mut span = SpanBatch {
        genesis_timestamp: genesis_time,
        chain_id,
        ..Default::default()
    };
    for b in blocks {
        span.append_singular_batch(
            SingleBatch {
                parent_hash: b.parent_hash,
                epoch_num: b.epoch_number,
                epoch_hash: b.epoch_hash,
                timestamp: b.timestamp,
                transactions: b.txs.clone(),
            },
            b.sequence_number,
        )
        .map_err(|e| anyhow::anyhow!("span batch of block {}: {e:?}", b.number))?;
    }
    let mut batch = Vec::new();
    Batch::Span(span)
        .encode(&mut batch)
        .map_err(|e| anyhow::anyhow!("encoding span batch: {e:?}"))?;
    // A channel is a stream of RLP byte strings, each one batch, then zlib (RFC 1950).
    let mut rlp = Vec::with_capacity(batch.len() + 9);
    alloy_rlp::Encodable::encode(&batch.as_slice(), &mut rlp);
    let compressed = miniz_oxide::deflate::compress_to_vec_zlib(&rlp, 9);

    let first = blocks.first().expect("non-empty");
    let last = blocks.last().expect("non-empty");
    let id: [u8; 16] = keccak256([first.hash.as_slice(), last.hash.as_slice()].concat())[..16]
        .try_into()
        .expect("16 bytes");
    let chunks: Vec<&[u8]> = compressed.chunks(MAX_FRAME_DATA).collect();
    anyhow::ensure!(chunks.len() <= u16::MAX as usize, "channel too large");
    let mut data = vec![DERIVATION_VERSION_0];
    for (i, chunk) in chunks.iter().enumerate() {
        let frame = Frame::new(id, i as u16, chunk.to_vec(), i + 1 == chunks.len());
        data.extend(frame.encode());
    }
    Ok(data.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kona_genesis::RollupConfig;
    use kona_protocol::{BatchReader, BlockInfo, L2BlockInfo};

    fn blocks(txs_per_block: usize) -> Vec<L2Block> {
        // Signed transactions decode in the span batch; use real ones.
        use crate::derive::tests::transfer_for_test as transfer;
        let mut parent = B256::repeat_byte(0xaa);
        (1..=4u64)
            .map(|n| {
                let hash = keccak256(n.to_be_bytes());
                let b = L2Block {
                    number: n,
                    hash,
                    parent_hash: parent,
                    timestamp: 1000 + 2 * n,
                    epoch_number: 7 + n / 3,
                    epoch_hash: B256::repeat_byte((7 + n / 3) as u8),
                    sequence_number: if n == 3 { 0 } else { n % 3 },
                    txs: (0..txs_per_block)
                        .map(|i| transfer(n * 100 + i as u64))
                        .collect(),
                };
                parent = hash;
                b
            })
            .collect()
    }

    fn config() -> RollupConfig {
        let mut cfg = RollupConfig {
            block_time: 2,
            l2_chain_id: 901.into(),
            ..Default::default()
        };
        cfg.genesis.l2_time = 1000;
        cfg
    }

    /// Frames -> channel -> kona's reader give back the blocks that went in.
    fn round_trip(input: &[L2Block]) {
        let data = encode(input, 1000, 901).unwrap();
        assert_eq!(data[0], DERIVATION_VERSION_0);
        let frames = Frame::parse_frames(&data).unwrap();
        assert!(frames.last().unwrap().is_last);
        assert!(frames.iter().all(|f| f.data.len() <= MAX_FRAME_DATA));
        let channel: Vec<u8> = frames.iter().flat_map(|f| f.data.clone()).collect();
        let mut reader = BatchReader::new(channel, 100_000_000);
        let Some(Batch::Span(span)) = reader.next_batch(&config()) else {
            panic!("not a span batch");
        };
        assert!(reader.next_batch(&config()).is_none());
        assert!(span.check_parent_hash(input[0].parent_hash));
        assert!(span.check_origin_hash(input.last().unwrap().epoch_hash));
        let origins: Vec<BlockInfo> = input
            .iter()
            .map(|b| BlockInfo {
                number: b.epoch_number,
                hash: b.epoch_hash,
                ..Default::default()
            })
            .collect();
        let singles = span
            .get_singular_batches(&origins, L2BlockInfo::default())
            .unwrap();
        assert_eq!(singles.len(), input.len());
        for (s, b) in singles.iter().zip(input) {
            assert_eq!(s.timestamp, b.timestamp);
            assert_eq!(s.epoch_num, b.epoch_number);
            assert_eq!(s.epoch_hash, b.epoch_hash);
            assert_eq!(s.transactions, b.txs);
        }
    }

    #[test]
    fn frames_decode_back_to_the_same_blocks() {
        round_trip(&blocks(0));
        round_trip(&blocks(3));
    }

    #[test]
    fn large_channels_split_into_frames_and_still_decode() {
        let big = blocks(1000);
        let data = encode(&big, 1000, 901).unwrap();
        assert!(Frame::parse_frames(&data).unwrap().len() > 1);
        round_trip(&big);
    }

    #[test]
    fn the_same_blocks_give_the_same_bytes() {
        assert_eq!(
            encode(&blocks(2), 1000, 901).unwrap(),
            encode(&blocks(2), 1000, 901).unwrap()
        );
        assert_eq!(channel_range(0, 4), 1..=4);
        assert_eq!(channel_of(4, 4), 0);
        assert_eq!(channel_of(5, 4), 1);
    }
}
