//! The OP Stack adapter: one rollup's certified Ordo stream in, L2 blocks and L1 batches out.
//!
//! An unmodified op-node (verifier mode) and op-geth adopt Ordo's order:
//! - [`ordo`] follows the rollup's finalized Ordo blocks over WebSocket, verifying every
//!   certificate and batch proof with `ordo-light` (it trusts only the group key);
//! - [`derive`] holds the deterministic rules: Ordo blocks to L2 slots, the L1 origin, and
//!   which transactions op-geth could not apply;
//! - [`builder`] builds each L2 block through op-geth's Engine API and hands it to op-node as
//!   its unsafe head;
//! - [`channel`] and [`batcher`] post span batches as calldata frames to the batch inbox, from
//!   which op-node derives the safe chain;
//! - [`rpc`] is the small JSON-RPC client (with the Engine API's JWT) all of them use.

pub mod batcher;
pub mod builder;
pub mod channel;
pub mod config;
pub mod derive;
pub mod ordo;
pub mod rpc;
pub mod setup;
