//! Empty: this crate exists to build librocksdb-sys.
