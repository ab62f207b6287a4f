//! The inbox's `ForcedTransaction` logs as an L1 endpoint returns them: decoding arbitrary topics
//! and data, then offering the entries to a queue, refuses what does not fit and never panics.
#![no_main]

use alloy::sol_types::SolEvent;
use alloy_primitives::B256;
use libfuzzer_sys::fuzz_target;
use ordo_l1::{bindings::ForcedInclusionInbox::ForcedTransaction, ForcedQueue, QueuedLog};

fuzz_target!(|data: &[u8]| {
    let Some((&shape, rest)) = data.split_first() else {
        return;
    };
    // Up to 4 topics; the first is usually the real event signature so decoding goes deep.
    let count = (shape & 0x3) as usize + 1;
    let mut topics = Vec::with_capacity(count);
    if shape & 0x4 == 0 {
        topics.push(ForcedTransaction::SIGNATURE_HASH);
    }
    let mut rest = rest;
    while topics.len() < count && rest.len() >= 32 {
        let (topic, tail) = rest.split_at(32);
        topics.push(B256::from_slice(topic));
        rest = tail;
    }
    let Ok(event) = ForcedTransaction::decode_raw_log(topics, rest) else {
        return;
    };
    let mut queue = ForcedQueue::default();
    let log = QueuedLog::from(event);
    // A first entry may be accepted or refused; either way the queue stays consistent.
    let before = queue.len();
    match queue.push(log) {
        Ok(()) => assert_eq!(queue.len(), before + 1),
        Err(_) => assert_eq!(queue.len(), before),
    }
});
