//! Test harnesses: a cluster of real `ordo-node` processes on loopback, transaction generators,
//! and helpers shared by the cluster tests and the benchmark.

pub mod cluster;
pub mod txgen;
