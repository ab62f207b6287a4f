//! The JSON-RPC server's parameter parsing (`ordo-rpc-params`, exactly what `crates/rpc` runs):
//! any `params` text for any method is accepted or refused with an error object, never a panic;
//! what is accepted means what it says (hex bytes round-trip, receipt filters and submissions
//! stay bounded).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ordo_rpc_params::{self as p, Params, MAX_RECEIPT_FILTER, MAX_TXS_PER_SUBMISSION};

fuzz_target!(|data: &[u8]| {
    let Some((&method, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    // A request without `params` reaches the methods as None.
    let params = Params::new((method & 0x80 == 0).then_some(text));
    match method % 9 {
        0 => {
            if let Ok((rollup, raw)) = p::send_transaction(&params) {
                let again = format!("[{rollup}, \"0x{}\"]", hex::encode(&raw.0));
                let reparsed = p::send_transaction(&Params::new(Some(&again))).expect("re-encoded");
                assert_eq!((reparsed.0, reparsed.1), (rollup, raw));
            }
        }
        1 => {
            let _ = p::send_raw_transaction(&params);
        }
        2 => {
            if let Ok(hash) = p::get_receipt(&params) {
                let again = format!("[\"0x{}\"]", hex::encode(hash.0));
                assert_eq!(
                    p::get_receipt(&Params::new(Some(&again))).expect("re-encoded"),
                    hash
                );
            }
        }
        3 => {
            let _ = p::get_block(&params);
        }
        4 => {
            let _ = p::get_rollup_batch(&params);
        }
        5 => {
            let _ = p::get_rollup_batches(&params);
        }
        6 => {
            if let Ok(Some(filter)) = p::subscribe_receipts(&params) {
                assert!(filter.len() <= MAX_RECEIPT_FILTER);
            }
        }
        7 => {
            let _ = p::subscribe_rollup_batches(&params);
        }
        _ => {
            if let Ok((_, txs)) = p::send_transactions(&params) {
                assert!(txs.len() <= MAX_TXS_PER_SUBMISSION);
            }
        }
    }
});
