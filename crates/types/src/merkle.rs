//! Binary merkle trees over 32-byte-or-longer items, with inclusion proofs.
//!
//! Leaves and inner nodes are domain-separated (`0x00`/`0x01` prefixes) so an inner node can never
//! pass as a leaf; a node without a sibling is promoted unchanged (no duplication, so no
//! CVE-2012-2459-style mutation); the root binds the leaf count.

use alloc::vec::Vec;
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error, RangeCfg, Read, ReadExt, Write};
use sha2::{Digest as _, Sha256};

/// Hash of a node.
pub type Hash = [u8; 32];

/// Most siblings any proof can have (trees of up to 2^32 leaves).
const MAX_DEPTH: usize = 32;

fn leaf(item: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(item);
    h.finalize().into()
}

fn node(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

fn seal(count: u64, top: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([2u8]);
    h.update(count.to_be_bytes());
    h.update(top);
    h.finalize().into()
}

fn levels<I: AsRef<[u8]>>(items: &[I]) -> Vec<Vec<Hash>> {
    let mut levels = Vec::new();
    let mut current: Vec<Hash> = items.iter().map(|i| leaf(i.as_ref())).collect();
    while current.len() > 1 {
        let next = current
            .chunks(2)
            .map(|pair| match pair {
                [l, r] => node(l, r),
                [only] => *only,
                _ => unreachable!(),
            })
            .collect();
        levels.push(core::mem::replace(&mut current, next));
    }
    levels.push(current);
    levels
}

/// Root over `items` in order.
pub fn root<I: AsRef<[u8]>>(items: &[I]) -> Hash {
    let top = levels(items)
        .pop()
        .and_then(|l| l.first().copied())
        .unwrap_or([0; 32]);
    seal(items.len() as u64, &top)
}

/// Inclusion proof of the item at `index` among `count` items.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proof {
    pub index: u32,
    pub count: u32,
    pub siblings: Vec<Hash>,
}

impl Proof {
    /// Proof for `items[index]`, or `None` if out of range.
    pub fn build<I: AsRef<[u8]>>(items: &[I], index: usize) -> Option<Self> {
        if index >= items.len() {
            return None;
        }
        Some(Self::from_levels(&levels(items), index, items.len()))
    }

    /// Proofs for every item at once (one tree build).
    pub fn build_all<I: AsRef<[u8]>>(items: &[I]) -> Vec<Self> {
        let levels = levels(items);
        (0..items.len())
            .map(|i| Self::from_levels(&levels, i, items.len()))
            .collect()
    }

    fn from_levels(levels: &[Vec<Hash>], index: usize, count: usize) -> Self {
        let mut siblings = Vec::new();
        let mut idx = index;
        for level in &levels[..levels.len() - 1] {
            let sibling = idx ^ 1;
            if sibling < level.len() {
                siblings.push(level[sibling]);
            }
            idx /= 2;
        }
        Self {
            index: index as u32,
            count: count as u32,
            siblings,
        }
    }

    /// The root this proof leads to from `item`, or `None` if the proof is malformed.
    pub fn root(&self, item: &[u8]) -> Option<Hash> {
        if self.index >= self.count {
            return None;
        }
        let mut acc = leaf(item);
        let mut idx = self.index as u64;
        let mut width = self.count as u64;
        let mut siblings = self.siblings.iter();
        while width > 1 {
            if idx % 2 == 1 {
                acc = node(siblings.next()?, &acc);
            } else if idx + 1 < width {
                acc = node(&acc, siblings.next()?);
            }
            idx /= 2;
            width = width.div_ceil(2);
        }
        if siblings.next().is_some() {
            return None;
        }
        Some(seal(self.count as u64, &acc))
    }

    /// Whether `item` is at `self.index` under `root`.
    pub fn verify(&self, item: &[u8], root: &Hash) -> bool {
        self.root(item).as_ref() == Some(root)
    }
}

impl Write for Proof {
    fn write(&self, buf: &mut impl BufMut) {
        self.index.write(buf);
        self.count.write(buf);
        self.siblings.write(buf);
    }
}

impl EncodeSize for Proof {
    fn encode_size(&self) -> usize {
        8 + self.siblings.encode_size()
    }
}

impl Read for Proof {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        let index = u32::read(buf)?;
        let count = u32::read(buf)?;
        let siblings = Vec::<Hash>::read_cfg(buf, &(RangeCfg::from(..=MAX_DEPTH), ()))?;
        Ok(Self {
            index,
            count,
            siblings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{DecodeExt, Encode};

    fn items(n: usize) -> Vec<[u8; 32]> {
        (0..n).map(|i| [i as u8; 32]).collect()
    }

    #[test]
    fn every_proof_verifies_for_every_size() {
        for n in 1..=33 {
            let items = items(n);
            let root = root(&items);
            for (i, proof) in Proof::build_all(&items).iter().enumerate() {
                assert!(proof.verify(&items[i], &root), "n={n} i={i}");
                assert_eq!(Some(proof.clone()), Proof::build(&items, i));
            }
        }
    }

    #[test]
    fn tampered_proofs_fail() {
        let items = items(11);
        let root = root(&items);
        let proof = Proof::build(&items, 6).unwrap();
        // Wrong item.
        assert!(!proof.verify(&items[5], &root));
        // Flipped sibling bit.
        let mut p = proof.clone();
        p.siblings[0][0] ^= 1;
        assert!(!p.verify(&items[6], &root));
        // Wrong index.
        let mut p = proof.clone();
        p.index = 7;
        assert!(!p.verify(&items[6], &root));
        // Wrong count (a different tree shape).
        let mut p = proof.clone();
        p.count = 12;
        assert!(!p.verify(&items[6], &root));
        // Extra or missing sibling.
        let mut p = proof.clone();
        p.siblings.push([0; 32]);
        assert!(!p.verify(&items[6], &root));
        let mut p = proof;
        p.siblings.pop();
        assert!(!p.verify(&items[6], &root));
        // Index beyond count.
        let p = Proof {
            index: 3,
            count: 3,
            siblings: Vec::new(),
        };
        assert!(p.root(&items[0]).is_none());
    }

    #[test]
    fn roots_bind_count_and_order() {
        let a = items(4);
        let mut b = a.clone();
        b.swap(0, 1);
        assert_ne!(root(&a), root(&b));
        assert_ne!(root(&a[..3]), root(&a));
        assert_ne!(root::<[u8; 32]>(&[]), root(&a[..1]));
        // An inner node is not a valid leaf of a smaller tree.
        let inner = node(&leaf(&a[0]), &leaf(&a[1]));
        assert_ne!(root(&[inner, leaf(&a[2])]), root(&a[..3]));
    }

    #[test]
    fn proof_codec_round_trip() {
        let items = items(9);
        let proof = Proof::build(&items, 8).unwrap();
        let decoded = Proof::decode(proof.encode()).unwrap();
        assert_eq!(decoded, proof);
    }
}
