//! The relay message a peer sends (`ordo_types::relay`, what every validator decodes from p2p
//! channel 5): any bytes are refused or decode to a message within the entry limits that encodes
//! back to exactly the input; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ordo_types::relay::{decode, Message, MAX_HASHES_PER_MESSAGE, MAX_TXS_PER_MESSAGE};

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = decode(data) {
        match &message {
            Message::Txs(txs) => assert!(txs.len() <= MAX_TXS_PER_MESSAGE),
            Message::Have(hashes) | Message::Want(hashes) => {
                assert!(hashes.len() <= MAX_HASHES_PER_MESSAGE)
            }
        }
        assert_eq!(message.encode(), data);
    }
});
