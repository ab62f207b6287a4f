//! The EVM rule every validator applies to proposed transactions (EIP-2718 decode, chain id,
//! signature recovery): any bytes get a verdict, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ordo_types::{RollupKind, RollupSpec};

fuzz_target!(|data: &[u8]| {
    let spec = RollupSpec::with_defaults(901, RollupKind::Evm);
    let _ = spec.check_tx(data);
});
