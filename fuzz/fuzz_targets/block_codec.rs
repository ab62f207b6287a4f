//! Block codec: any bytes either fail to decode or decode to a block that encodes back to exactly
//! those bytes (the codec is canonical, so a digest names one encoding).
#![no_main]

use commonware_codec::{Decode, Encode};
use libfuzzer_sys::fuzz_target;
use ordo_types::{Block, BlockLimits};

const LIMITS: BlockLimits = BlockLimits {
    max_rollups: 8,
    max_txs_per_batch: 1_024,
    max_tx_bytes: 4_096,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(block) = Block::decode_cfg(data.to_vec(), &LIMITS) {
        assert_eq!(
            block.encode().as_ref(),
            data,
            "non-canonical block encoding"
        );
        let _ = block.digest();
        let _ = block.tx_hashes();
    }
});
