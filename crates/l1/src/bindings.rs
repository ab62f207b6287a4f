//! alloy bindings generated from the compiled contract (`make contracts-artifacts` refreshes
//! `artifacts/`, and `make contracts-test` fails when the copy differs from forge's output).

// The generated event constructor takes every event field.
#![allow(clippy::too_many_arguments)]

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    ForcedInclusionInbox,
    "artifacts/ForcedInclusionInbox.json"
);
