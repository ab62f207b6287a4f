//! The consensus application of an Ordo validator.
//!
//! [`Application`] decides what a leader proposes (fair per-rollup lanes from the mempool) and
//! what every validator accepts (limits, well-formed transactions, no duplicates in the recent
//! window, monotone time, the L1 reference and the forced-inclusion rule of [`forced`]). [`Engine`] runs it under commonware simplex with threshold BLS
//! certificates, marshal (inline verification, so a notarization is a sound preconfirmation),
//! buffered broadcast and backfill. Finalized blocks are indexed before marshal is told they are
//! processed; notarized ones become preconfirmations. Pending transactions are relayed between
//! validators so the leader sees them all. [`Handle`] is what RPC sees.

mod application;
mod engine;
pub mod forced;
mod handle;
mod indexer;
pub mod liveness;
mod pacer;
mod proposer;
mod relay;
mod reporter;
mod shared;
mod window;

pub use application::{Application, Invalid, L1Config, Rules};
pub use engine::{channels, Config, Engine, Runtime, Timing, EPOCH};
pub use forced::ForcedRules;
pub use handle::{Certified, Event, Handle, Position, Preconfirmations, Status};
pub use liveness::Liveness;
pub use reporter::CertificateReporter;
