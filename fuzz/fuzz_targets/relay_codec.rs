//! The relay message a peer sends (`ordo_types::relay`, what every validator decodes from p2p
//! channel 5): any bytes are refused or decode to at most MAX_TXS_PER_MESSAGE transactions that
//! encode back to exactly the input; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ordo_types::relay::{decode, encode, MAX_TXS_PER_MESSAGE};

fuzz_target!(|data: &[u8]| {
    if let Ok(txs) = decode(data) {
        assert!(txs.len() <= MAX_TXS_PER_MESSAGE);
        assert_eq!(encode(&txs), data);
    }
});
