//! The deterministic rules that turn Ordo's certified order into L2 blocks. Pure functions: two
//! adapters that see the same certified stream, the same L1 chain and the same L2 state build
//! byte-identical blocks.
//!
//! - **Slots.** L2 block `n` has timestamp `genesis_time + n * block_time` and takes, in order,
//!   the rollup's transactions of every Ordo block whose timestamp falls in
//!   `(timestamp(n-1), timestamp(n)]` (in ms; earlier Ordo blocks go to block 1). Block `n` is
//!   built once a finalized Ordo block past its slot is seen; slots with no Ordo block give
//!   empty L2 blocks, so L2 time keeps pace with Ordo's.
//! - **L1 origin.** Ordo's header names the newest confirmed L1 block (checked by consensus).
//!   Block `n` moves its origin one L1 block forward when the newest Ordo block of its slot names
//!   a later L1 block than block `n-1`'s origin and the next L1 block is not newer than block `n`
//!   (the OP Stack allows one step per L2 block); otherwise it keeps the origin. When block `n`
//!   would exceed the sequencer drift it moves forward if it can, and carries no transactions if
//!   it cannot.
//! - **Filtering.** Transactions are taken in order; one is dropped when it is not a signed
//!   legacy/EIP-2930/EIP-1559 transaction (EIP-7702 only once Isthmus is active) for this chain,
//!   when the sum of the kept transactions' gas limits would pass the block's gas limit, when its
//!   nonce is not the sender's next, or when the sender's balance at the parent block, less what
//!   the kept transactions before it may spend (`gas_limit * max_fee + value`), cannot cover it.
//!   Value received within the block is not counted (so the rule needs only the parent state).
//!   If op-geth still refuses a transaction, the one it names is dropped and the block rebuilt.

use alloy_consensus::{transaction::SignerRecoverable, Transaction, TxEnvelope};
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::{Address, Bytes, B256, U256};

use std::collections::HashMap;

/// L2 block timing from rollup.json.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    /// Timestamp of L2 block 0 (rollup.json `genesis.l2_time`), seconds.
    pub genesis_time: u64,
    /// Seconds between L2 blocks.
    pub block_time: u64,
}

impl Schedule {
    /// Timestamp of L2 block `number`.
    pub fn timestamp(&self, number: u64) -> u64 {
        self.genesis_time + number * self.block_time
    }

    /// The L2 block whose slot holds an Ordo block stamped `timestamp_ms`.
    pub fn slot_of(&self, timestamp_ms: u64) -> u64 {
        let since_ms = timestamp_ms.saturating_sub(self.genesis_time * 1000);
        since_ms.div_ceil(self.block_time * 1000).max(1)
    }

    /// The L2 block whose timestamp is `timestamp`, if it is on the schedule.
    pub fn number_at(&self, timestamp: u64) -> Option<u64> {
        let since = timestamp.checked_sub(self.genesis_time)?;
        since
            .is_multiple_of(self.block_time)
            .then_some(since / self.block_time)
    }
}

/// What the origin rule needs of a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockStamp {
    pub number: u64,
    pub hash: B256,
    pub timestamp: u64,
}

/// Whether L2 block at `l2_timestamp` moves to the L1 block after `current`, and whether it may
/// carry transactions. `next` is that L1 block, when the adapter could read it.
pub fn choose_origin(
    current: &BlockStamp,
    next: Option<&BlockStamp>,
    ordo_l1: u64,
    l2_timestamp: u64,
    max_drift: u64,
) -> (bool, bool) {
    let next_fits = next.is_some_and(|n| n.timestamp <= l2_timestamp);
    let over_drift = l2_timestamp > current.timestamp + max_drift;
    let advance = next_fits && (ordo_l1 > current.number || over_drift);
    let may_carry_txs = advance || !over_drift;
    (advance, may_carry_txs)
}

/// A sender's state at the parent block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Account {
    pub nonce: u64,
    pub balance: U256,
}

/// Per-chain settings of the filter.
#[derive(Clone, Copy, Debug)]
pub struct FilterRules {
    pub chain_id: u64,
    /// Gas left for sequenced transactions: the block gas limit less the deposits' gas.
    pub gas_budget: u64,
    /// EIP-7702 transactions are valid from Isthmus on.
    pub allow_set_code: bool,
}

/// A decoded, signature-checked candidate.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub raw: Bytes,
    pub hash: B256,
    pub sender: Address,
    nonce: u64,
    gas_limit: u64,
    max_cost: U256,
}

/// Why a transaction was left out of its L2 block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dropped {
    pub hash: B256,
    pub reason: String,
}

/// Decodes the transactions; undecodable or disallowed ones are dropped with a reason.
pub fn decode(txs: &[Bytes], rules: &FilterRules, dropped: &mut Vec<Dropped>) -> Vec<Candidate> {
    let mut out = Vec::with_capacity(txs.len());
    for raw in txs {
        let hash = alloy_primitives::keccak256(raw);
        match candidate(raw, hash, rules) {
            Ok(c) => out.push(c),
            Err(reason) => dropped.push(Dropped { hash, reason }),
        }
    }
    out
}

fn candidate(raw: &Bytes, hash: B256, rules: &FilterRules) -> Result<Candidate, String> {
    let mut buf = raw.as_ref();
    let tx = TxEnvelope::decode_2718(&mut buf).map_err(|e| format!("undecodable: {e}"))?;
    if !buf.is_empty() {
        return Err("trailing bytes after the transaction".into());
    }
    match &tx {
        TxEnvelope::Legacy(_) | TxEnvelope::Eip2930(_) | TxEnvelope::Eip1559(_) => {}
        TxEnvelope::Eip7702(_) if rules.allow_set_code => {}
        _ => return Err(format!("transaction type {} is not allowed", tx.tx_type())),
    }
    if let Some(chain) = tx.chain_id() {
        if chain != rules.chain_id {
            return Err(format!("chain id {chain}, want {}", rules.chain_id));
        }
    }
    let sender = tx
        .recover_signer()
        .map_err(|e| format!("bad signature: {e}"))?;
    let max_cost = U256::from(tx.gas_limit())
        .saturating_mul(U256::from(tx.max_fee_per_gas()))
        .saturating_add(tx.value());
    Ok(Candidate {
        raw: raw.clone(),
        hash,
        sender,
        nonce: tx.nonce(),
        gas_limit: tx.gas_limit(),
        max_cost,
    })
}

/// Applies the gas, nonce and balance rules in order; `accounts` holds every sender's state at
/// the parent block (a missing sender is an empty account).
pub fn filter(
    candidates: Vec<Candidate>,
    accounts: &HashMap<Address, Account>,
    rules: &FilterRules,
    dropped: &mut Vec<Dropped>,
) -> Vec<Candidate> {
    let mut gas_left = rules.gas_budget;
    // Per sender: next nonce and what is left to spend after the kept transactions.
    let mut senders: HashMap<Address, (u64, U256)> = HashMap::new();
    let mut kept = Vec::with_capacity(candidates.len());
    for c in candidates {
        let (next_nonce, funds) = senders.entry(c.sender).or_insert_with(|| {
            let a = accounts.get(&c.sender).copied().unwrap_or_default();
            (a.nonce, a.balance)
        });
        let reason = if c.gas_limit > gas_left {
            Some(format!(
                "gas limit {} above the {gas_left} left in the block",
                c.gas_limit
            ))
        } else if c.nonce != *next_nonce {
            Some(format!("nonce {}, sender's next is {next_nonce}", c.nonce))
        } else if c.max_cost > *funds {
            Some(format!(
                "sender can spend {funds} wei, the transaction may cost {}",
                c.max_cost
            ))
        } else {
            None
        };
        match reason {
            Some(reason) => dropped.push(Dropped {
                hash: c.hash,
                reason,
            }),
            None => {
                gas_left -= c.gas_limit;
                *next_nonce += 1;
                *funds -= c.max_cost;
                kept.push(c);
            }
        }
    }
    kept
}

/// The transaction hash op-geth names in a refusal to build, if it is one of `kept`.
pub fn refused_tx(message: &str, kept: &[Candidate]) -> Option<usize> {
    let mut rest = message;
    while let Some(at) = rest.find("0x") {
        let word = &rest[at + 2..];
        let len = word
            .find(|c: char| !c.is_ascii_hexdigit())
            .unwrap_or(word.len());
        if len == 64 {
            if let Ok(hash) = word[..64].parse::<B256>() {
                if let Some(i) = kept.iter().position(|c| c.hash == hash) {
                    return Some(i);
                }
            }
        }
        rest = &word[len..];
    }
    None
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use alloy::signers::{local::PrivateKeySigner, SignerSync};
    use alloy_consensus::{SignableTransaction, TxEip1559, TxEip4844};
    use alloy_eips::eip2718::Encodable2718;
    use alloy_primitives::{address, TxKind};

    /// A signed transfer on chain 901 from a fixed key (for other modules' tests).
    pub(crate) fn transfer_for_test(nonce: u64) -> Bytes {
        transfer(&signer(9), 901, nonce, 21_000, 1)
    }

    fn signer(i: u8) -> PrivateKeySigner {
        PrivateKeySigner::from_bytes(&B256::repeat_byte(i)).unwrap()
    }

    fn transfer(from: &PrivateKeySigner, chain_id: u64, nonce: u64, gas: u64, value: u64) -> Bytes {
        let tx = TxEip1559 {
            chain_id,
            nonce,
            gas_limit: gas,
            max_fee_per_gas: 10,
            max_priority_fee_per_gas: 1,
            to: TxKind::Call(address!("0x00000000000000000000000000000000000000aa")),
            value: U256::from(value),
            ..Default::default()
        };
        let sig = from.sign_hash_sync(&tx.signature_hash()).unwrap();
        Bytes::from(TxEnvelope::Eip1559(tx.into_signed(sig)).encoded_2718())
    }

    const RULES: FilterRules = FilterRules {
        chain_id: 901,
        gas_budget: 100_000,
        allow_set_code: false,
    };

    fn run(txs: &[Bytes], accounts: &HashMap<Address, Account>) -> (Vec<Bytes>, Vec<String>) {
        let mut dropped = Vec::new();
        let c = decode(txs, &RULES, &mut dropped);
        let kept = filter(c, accounts, &RULES, &mut dropped);
        (
            kept.into_iter().map(|c| c.raw).collect(),
            dropped.into_iter().map(|d| d.reason).collect(),
        )
    }

    fn rich(keys: &[&PrivateKeySigner]) -> HashMap<Address, Account> {
        keys.iter()
            .map(|k| {
                (
                    k.address(),
                    Account {
                        nonce: 0,
                        balance: U256::from(10u64.pow(18)),
                    },
                )
            })
            .collect()
    }

    #[test]
    fn slots_cover_time_without_gaps() {
        let s = Schedule {
            genesis_time: 100,
            block_time: 2,
        };
        assert_eq!(s.timestamp(3), 106);
        assert_eq!(s.slot_of(0), 1);
        assert_eq!(s.slot_of(100_000), 1);
        assert_eq!(s.slot_of(102_000), 1);
        assert_eq!(s.slot_of(102_001), 2);
        assert_eq!(s.slot_of(104_000), 2);
        assert_eq!(s.slot_of(105_500), 3);
        assert_eq!(s.number_at(106), Some(3));
        assert_eq!(s.number_at(107), None);
        assert_eq!(s.number_at(99), None);
    }

    #[test]
    fn origin_steps_one_block_at_most_and_only_when_ordo_names_a_later_one() {
        let cur = BlockStamp {
            number: 10,
            hash: B256::ZERO,
            timestamp: 1000,
        };
        let next = BlockStamp {
            number: 11,
            hash: B256::ZERO,
            timestamp: 1012,
        };
        // Ordo names block 10: stay.
        assert_eq!(
            choose_origin(&cur, Some(&next), 10, 1020, 600),
            (false, true)
        );
        // Ordo names block 15: one step, if the next block is not newer than the L2 block.
        assert_eq!(
            choose_origin(&cur, Some(&next), 15, 1020, 600),
            (true, true)
        );
        assert_eq!(
            choose_origin(&cur, Some(&next), 15, 1010, 600),
            (false, true)
        );
        // Past the drift: forced forward when possible, otherwise no transactions.
        assert_eq!(
            choose_origin(&cur, Some(&next), 10, 1700, 600),
            (true, true)
        );
        assert_eq!(choose_origin(&cur, None, 10, 1700, 600), (false, false));
    }

    #[test]
    fn bad_nonce_is_dropped_and_the_others_kept() {
        let a = signer(1);
        let b = signer(2);
        let txs = [
            transfer(&a, 901, 0, 21_000, 1),
            transfer(&a, 901, 5, 21_000, 1), // gap
            transfer(&b, 901, 0, 21_000, 1),
            transfer(&a, 901, 1, 21_000, 1),
        ];
        let (kept, dropped) = run(&txs, &rich(&[&a, &b]));
        assert_eq!(kept, vec![txs[0].clone(), txs[2].clone(), txs[3].clone()]);
        assert_eq!(dropped, vec!["nonce 5, sender's next is 1".to_string()]);
    }

    #[test]
    fn gas_budget_balance_chain_and_type_rules() {
        let a = signer(1);
        let poor = signer(3);
        let blob = {
            let tx = TxEip4844 {
                chain_id: 901,
                gas_limit: 21_000,
                ..Default::default()
            };
            let sig = a.sign_hash_sync(&tx.signature_hash()).unwrap();
            let signed: alloy_consensus::Signed<alloy_consensus::TxEip4844Variant> =
                tx.into_signed(sig).convert();
            Bytes::from(TxEnvelope::Eip4844(signed).encoded_2718())
        };
        let txs = [
            transfer(&a, 902, 0, 21_000, 1),    // other chain
            blob,                               // blob type
            Bytes::from_static(&[0x7e, 0x01]),  // deposit type
            transfer(&a, 901, 0, 60_000, 1),    // fits (60k of 100k)
            transfer(&a, 901, 1, 50_000, 1),    // over the budget
            transfer(&poor, 901, 0, 21_000, 1), // no funds
            transfer(&a, 901, 1, 21_000, 1),    // fits
        ];
        let mut accounts = rich(&[&a]);
        accounts.insert(
            poor.address(),
            Account {
                nonce: 0,
                balance: U256::from(1000),
            },
        );
        let (kept, dropped) = run(&txs, &accounts);
        assert_eq!(kept, vec![txs[3].clone(), txs[6].clone()]);
        assert_eq!(dropped.len(), 5, "{dropped:?}");
        assert!(dropped[0].contains("chain id 902"));
        assert!(dropped[1].contains("type"));
        assert!(dropped[2].contains("undecodable"));
        assert!(dropped[3].contains("above the 40000 left"));
        assert!(dropped[4].contains("can spend 1000 wei"));
    }

    #[test]
    fn refused_tx_finds_the_hash_op_geth_names() {
        let a = signer(1);
        let mut dropped = Vec::new();
        let kept = decode(&[transfer(&a, 901, 0, 21_000, 1)], &RULES, &mut dropped);
        let msg = format!(
            "failed to force-include tx: {} type: 2 sender: {} nonce: 0, err: nonce too high",
            kept[0].hash,
            a.address()
        );
        assert_eq!(refused_tx(&msg, &kept), Some(0));
        assert_eq!(refused_tx("some other failure 0x1234", &kept), None);
    }
}
