//! Ordo's application error codes and the mapping from node errors to JSON-RPC error objects.
//!
//! Protocol errors (-32700 parse, -32600 invalid request, -32601 method not found, -32602 invalid
//! params) and transport limits (-32006 too many subscriptions, -32007 request too big, -32008
//! response too big) come from jsonrpsee itself. The codes below are Ordo's own.

use jsonrpsee::types::{ErrorObject, ErrorObjectOwned};
use ordo_mempool::SubmitError;
use ordo_types::{RollupId, TxHash};
use std::fmt::Display;

/// The rollup id is not registered on this network.
pub const UNKNOWN_ROLLUP: i32 = -32001;
/// The transaction is not acceptable for its rollup (`data` is absent; the message has the reason).
pub const INVALID_TRANSACTION: i32 = -32002;
/// The same transaction is already waiting in the mempool (`data`: its hash).
pub const DUPLICATE: i32 = -32003;
/// The same transaction was already ordered in a recent block (`data`: its hash).
pub const ALREADY_INCLUDED: i32 = -32004;
/// The rollup's mempool lane is at capacity or over its rate: retry later.
pub const LANE_FULL: i32 = -32005;
/// The requested block or batch is not known to this node (yet).
pub const NOT_FOUND: i32 = -32010;
/// The node failed internally (storage); the request itself may be fine.
pub const INTERNAL: i32 = -32603;
/// Request body larger than the node accepts (as jsonrpsee answers it).
pub const REQUEST_TOO_BIG: i32 = -32007;
/// Method not found: used when `eth_*` methods are called outside `/rollup/<id>`.
pub const METHOD_NOT_FOUND: i32 = -32601;

pub(crate) fn unknown_rollup(rollup: RollupId) -> ErrorObjectOwned {
    ErrorObject::owned(
        UNKNOWN_ROLLUP,
        format!("unknown rollup {rollup}"),
        None::<()>,
    )
}

pub(crate) fn not_found(what: impl Display) -> ErrorObjectOwned {
    ErrorObject::owned(NOT_FOUND, format!("{what} not found"), None::<()>)
}

pub(crate) fn internal(err: impl Display) -> ErrorObjectOwned {
    ErrorObject::owned(INTERNAL, format!("internal error: {err}"), None::<()>)
}

pub(crate) fn eth_outside_rollup_path(method: &str) -> ErrorObjectOwned {
    ErrorObject::owned(
        METHOD_NOT_FOUND,
        format!("Method not found: {method} is served only at /rollup/<id>"),
        None::<()>,
    )
}

/// Maps a mempool rejection to its error object. `hash` is the submitted transaction's hash, so
/// a client that lost track of an earlier submission can still follow it.
pub(crate) fn submit(err: SubmitError, hash: &TxHash) -> ErrorObjectOwned {
    let hash = crate::view::hex0x(hash);
    match err {
        SubmitError::UnknownRollup(rollup) => unknown_rollup(rollup),
        SubmitError::Invalid(e) => ErrorObject::owned(
            INVALID_TRANSACTION,
            format!("invalid transaction: {e}"),
            None::<()>,
        ),
        SubmitError::Duplicate => {
            ErrorObject::owned(DUPLICATE, "transaction already pending", Some(hash))
        }
        SubmitError::AlreadyIncluded => {
            ErrorObject::owned(ALREADY_INCLUDED, "transaction already included", Some(hash))
        }
        SubmitError::LaneFull { rollup } => ErrorObject::owned(
            LANE_FULL,
            format!("mempool lane of rollup {rollup} is full; retry later"),
            None::<()>,
        ),
        SubmitError::Storage(e) => internal(format_args!("mempool storage: {e}")),
    }
}
