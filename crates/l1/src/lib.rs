//! Ordo's view of L1: bindings for the contracts, the forced-inclusion queues rebuilt from the
//! inbox's logs (checked against its accumulator chain), and the follower that keeps them current
//! from an L1 JSON-RPC endpoint, counting only confirmed blocks.

pub mod bindings;
mod follower;
mod queue;
mod state;

pub use alloy_primitives::Address;
pub use follower::{follow, FollowerConfig};
pub use queue::{accumulate, ForcedEntry, ForcedQueue, QueueError, QueuedLog};
pub use state::{AppendError, L1State};
