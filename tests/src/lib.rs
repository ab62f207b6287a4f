//! Test harnesses: a cluster of real `ordo-node` processes on loopback, p2p links a test can cut,
//! the chaos driver, an anvil L1 with the inbox deployed, transaction generators, a delaying relay
//! between validators, a local CometBFT network as the benchmark's baseline, and helpers shared by
//! the cluster tests and the benchmark.

pub mod chaos;
pub mod cluster;
pub mod cometbft;
pub mod delay;
pub mod l1;
pub mod links;
pub mod op;
pub mod txgen;
