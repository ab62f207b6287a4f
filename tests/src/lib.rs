//! Test harnesses: a cluster of real `ordo-node` processes on loopback, TCP relays between
//! validators (delaying, or cut to partition the network), the chaos driver, an anvil L1 with the
//! inbox deployed, transaction generators, a local CometBFT network as the benchmark's baseline,
//! and helpers shared by the cluster tests and the benchmark.

pub mod chaos;
pub mod cluster;
pub mod cometbft;
pub mod l1;
pub mod network;
pub mod op;
pub mod relay;
pub mod txgen;
