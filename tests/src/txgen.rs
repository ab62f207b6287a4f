//! Signed EVM transfers and opaque payloads for load.

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_network::TxSignerSync;
use alloy_primitives::{Address, TxKind, U256};
use alloy_signer_local::PrivateKeySigner;
use bytes::Bytes;

/// `count` signed EIP-1559 transfers on `chain_id`, spread over `senders` deterministic keys
/// (nonces increase per sender).
pub fn evm_transfers(chain_id: u64, count: usize, senders: usize, salt: u64) -> Vec<Bytes> {
    evm_transfers_from(chain_id, 0, count, senders, salt)
}

/// Transfers `first..first + count` of the sequence [`evm_transfers`] starts: a long-running
/// client signs its next ones as it goes.
pub fn evm_transfers_from(
    chain_id: u64,
    first: usize,
    count: usize,
    senders: usize,
    salt: u64,
) -> Vec<Bytes> {
    let signers = sender_keys(senders, salt);
    (first..first + count)
        .map(|n| {
            let signer = &signers[n % signers.len()];
            let nonce = (n / signers.len()) as u64;
            let mut tx = TxEip1559 {
                chain_id,
                nonce,
                gas_limit: 21_000,
                max_fee_per_gas: 2_000_000_000,
                max_priority_fee_per_gas: 1_000_000_000,
                to: TxKind::Call(Address::repeat_byte(0x42)),
                value: U256::from(1u64),
                ..Default::default()
            };
            let signature = signer.sign_transaction_sync(&mut tx).expect("signing");
            let envelope: TxEnvelope = tx.into_signed(signature).into();
            Bytes::from(envelope.encoded_2718())
        })
        .collect()
}

/// The keys `evm_transfers` signs with (to fund them on a real chain).
pub fn sender_keys(senders: usize, salt: u64) -> Vec<PrivateKeySigner> {
    (0..senders.max(1))
        .map(|i| {
            let mut key = [0u8; 32];
            key[..8].copy_from_slice(&(salt + 1).to_be_bytes());
            key[8..16].copy_from_slice(&(i as u64 + 1).to_be_bytes());
            key[31] = 1;
            PrivateKeySigner::from_slice(&key).expect("valid key")
        })
        .collect()
}

/// `count` distinct opaque payloads of `size` bytes.
pub fn opaque(count: usize, size: usize, salt: u64) -> Vec<Bytes> {
    (0..count)
        .map(|n| {
            let mut v = vec![0u8; size.max(16)];
            v[..8].copy_from_slice(&salt.to_be_bytes());
            v[8..16].copy_from_slice(&(n as u64).to_be_bytes());
            Bytes::from(v)
        })
        .collect()
}

/// `count` distinct `key=value` payloads of `size` bytes (the form CometBFT's kvstore accepts:
/// one `=`, not first), for loading the baseline with the same sizes as [`opaque`].
pub fn key_value(count: usize, size: usize, salt: u64) -> Vec<Bytes> {
    (0..count)
        .map(|n| {
            let mut v = format!("k{salt:016x}{n:08x}=").into_bytes();
            v.resize(size.max(v.len() + 1), b'v');
            Bytes::from(v)
        })
        .collect()
}
