//! Receipts and rollup batches verify with only the group key; any tampering fails.

use commonware_codec::Encode;
use commonware_cryptography::bls12381::primitives::{ops, variant::MinSig};
use commonware_utils::TestRng;
use ordo_light::{Error, GroupKey};
use ordo_types::{
    merkle, Batch, Block, Certificate, CertificateKind, Header, L1Ref, Receipt, RollupBatch,
};

fn block() -> Block {
    let genesis = Block::genesis(0, L1Ref::default(), &[901, 902]);
    let header = Header {
        epoch: 0,
        view: 9,
        parent_view: 8,
        leader: genesis.header.leader.clone(),
        parent: genesis.digest(),
        height: 1,
        timestamp_ms: 10,
        l1: L1Ref::default(),
        forced: genesis.header.forced.clone(),
        batches_root: [0; 32],
    };
    let txs = |n: u8| (0..n).map(|i| bytes::Bytes::from(vec![i; 40])).collect();
    Block::new(
        header,
        vec![
            Batch {
                rollup: 901,
                forced: 2,
                txs: txs(5),
            },
            Batch::new(902, txs(2)),
        ],
    )
}

/// A certificate for `block` signed with a fresh key; returns the key too.
fn certify(block: &Block, kind: CertificateKind) -> (GroupKey, Certificate) {
    let mut rng = TestRng::new(7);
    let (private, public) = ops::keypair::<_, MinSig>(&mut rng);
    let mut certificate = Certificate {
        kind,
        epoch: block.header.epoch,
        view: block.header.view,
        parent_view: block.header.parent_view,
        payload: block.digest(),
        signature: [0; 48],
    };
    let signature = ops::sign_message::<MinSig>(
        &private,
        &certificate.signing_namespace(),
        &certificate.proposal_bytes(),
    );
    certificate.signature.copy_from_slice(&signature.encode());
    (GroupKey::from_bytes(&public.encode()).unwrap(), certificate)
}

fn receipt(block: &Block, certificate: Certificate, position: usize, index: usize) -> Receipt {
    let hashes = &block.tx_hashes()[position];
    Receipt {
        tx_hash: hashes[index],
        rollup: block.batches[position].rollup,
        batch_forced: block.batches[position].forced,
        tx_proof: merkle::Proof::build(hashes, index).unwrap(),
        batch_proof: block.batch_proof(position).unwrap(),
        header: block.header.clone(),
        descendants: Vec::new(),
        certificate,
    }
}

/// A child of `parent` (no transactions).
fn child(parent: &Block) -> Block {
    let header = Header {
        view: parent.header.view + 2,
        parent_view: parent.header.view,
        parent: parent.digest(),
        height: parent.height() + 1,
        timestamp_ms: parent.header.timestamp_ms + 1,
        ..parent.header.clone()
    };
    Block::new(
        header,
        vec![Batch::new(901, vec![]), Batch::new(902, vec![])],
    )
}

#[test]
fn receipts_verify_and_report_finality() {
    let block = block();
    for kind in [CertificateKind::Notarization, CertificateKind::Finalization] {
        let (key, certificate) = certify(&block, kind);
        for (position, index) in [(0, 0), (0, 4), (1, 1)] {
            let r = receipt(&block, certificate.clone(), position, index);
            assert_eq!(key.verify_receipt(&r), Ok(kind));
        }
    }
}

#[test]
fn tampered_receipts_fail() {
    let block = block();
    let (key, certificate) = certify(&block, CertificateKind::Finalization);
    let good = receipt(&block, certificate, 0, 3);

    let mut r = good.clone();
    r.tx_hash[0] ^= 1;
    assert_eq!(key.verify_receipt(&r), Err(Error::BadBatchProof));

    let mut r = good.clone();
    r.rollup = 902;
    assert_eq!(key.verify_receipt(&r), Err(Error::BadBatchProof));

    let mut r = good.clone();
    r.header.timestamp_ms += 1;
    assert!(matches!(
        key.verify_receipt(&r),
        Err(Error::DigestMismatch { .. })
    ));

    let mut r = good.clone();
    r.certificate.view += 1;
    assert!(matches!(
        key.verify_receipt(&r),
        Err(Error::RoundMismatch { .. })
    ));

    // A notarization signature does not pass as a finalization (different namespace).
    let mut r = good.clone();
    r.certificate.kind = CertificateKind::Notarization;
    assert_eq!(key.verify_receipt(&r), Err(Error::BadSignature));

    let mut r = good.clone();
    r.certificate.signature[10] ^= 1;
    assert!(key.verify_receipt(&r).is_err());

    // Every single-bit flip of the encoded receipt is caught (decode error or verify error).
    let encoded = good.encode();
    for i in 0..encoded.len() {
        let mut bytes = encoded.to_vec();
        bytes[i] ^= 0x80;
        let decoded = <Receipt as commonware_codec::Decode>::decode_cfg(bytes, &16usize);
        if let Ok(r) = decoded {
            assert!(key.verify_receipt(&r).is_err(), "flip at byte {i} accepted");
        }
    }

    // Another key rejects it.
    let mut rng = TestRng::new(8);
    let (_, public) = ops::keypair::<_, MinSig>(&mut rng);
    let stranger = GroupKey::from_bytes(&public.encode()).unwrap();
    assert_eq!(stranger.verify_receipt(&good), Err(Error::BadSignature));
}

#[test]
fn rollup_batches_verify_and_tampering_fails() {
    let block = block();
    let (key, certificate) = certify(&block, CertificateKind::Notarization);
    let (position, batch) = block.batch(901).unwrap();
    let good = RollupBatch {
        rollup: 901,
        txs: batch.txs.clone(),
        forced: batch.forced,
        batch_proof: block.batch_proof(position).unwrap(),
        header: block.header.clone(),
        descendants: Vec::new(),
        certificate,
    };
    assert_eq!(
        key.verify_rollup_batch(&good),
        Ok(CertificateKind::Notarization)
    );

    let mut b = good.clone();
    b.txs.pop();
    assert_eq!(key.verify_rollup_batch(&b), Err(Error::BadBatchProof));
    let mut b = good.clone();
    b.txs.swap(0, 1);
    assert_eq!(key.verify_rollup_batch(&b), Err(Error::BadBatchProof));
    let mut b = good.clone();
    b.rollup = 902;
    assert_eq!(key.verify_rollup_batch(&b), Err(Error::BadBatchProof));
    // The forced count is committed: neither hiding nor inventing forced transactions passes.
    for forced in [0, 1, 3, 5] {
        let mut b = good.clone();
        b.forced = forced;
        assert_eq!(
            key.verify_rollup_batch(&b),
            Err(Error::BadBatchProof),
            "forced {forced}"
        );
    }
    let mut b = good;
    b.forced = 6;
    assert_eq!(key.verify_rollup_batch(&b), Err(Error::BadForcedCount));
}

#[test]
fn a_descendants_finalization_certifies_the_chain_below_it() {
    // Block 1 has no certificate of its own; block 3 is finalized and descends from it via 2.
    let block = block();
    let two = child(&block);
    let three = child(&two);
    let (key, finalization) = certify(&three, CertificateKind::Finalization);
    let mut good = receipt(&block, finalization.clone(), 0, 3);
    good.descendants = vec![two.header.clone(), three.header.clone()];
    assert_eq!(key.verify_receipt(&good), Ok(CertificateKind::Finalization));
    let item = ordo_light::Certified::decode(&good.encode()).unwrap();
    assert!(item
        .summary(CertificateKind::Finalization)
        .ends_with("(through the finalization of height 3)"));

    // The chain must be whole, in order, and link by parent digest.
    let mut r = good.clone();
    r.descendants.remove(0);
    assert_eq!(key.verify_receipt(&r), Err(Error::BrokenChain));
    let mut r = good.clone();
    r.descendants.reverse();
    assert_eq!(key.verify_receipt(&r), Err(Error::BrokenChain));
    let mut r = good.clone();
    r.descendants[0].timestamp_ms += 1;
    assert_eq!(key.verify_receipt(&r), Err(Error::BrokenChain));
    // A header not under the certified tip does not borrow its finalization.
    let mut r = good.clone();
    r.header.timestamp_ms += 1;
    assert_eq!(key.verify_receipt(&r), Err(Error::BrokenChain));
    // Without the chain, the descendant's certificate does not name this block.
    let mut r = good.clone();
    r.descendants.clear();
    assert!(matches!(
        key.verify_receipt(&r),
        Err(Error::DigestMismatch { .. })
    ));
    // A child's notarization does not finalize (or even certify) its parent.
    let (key, notarization) = certify(&three, CertificateKind::Notarization);
    let mut r = good.clone();
    r.certificate = notarization;
    assert_eq!(key.verify_receipt(&r), Err(Error::DescendantNotFinal));

    // The same for a rollup batch.
    let (key, _) = certify(&three, CertificateKind::Finalization);
    let (position, batch) = block.batch(902).unwrap();
    let mut b = RollupBatch {
        rollup: 902,
        txs: batch.txs.clone(),
        forced: 0,
        batch_proof: block.batch_proof(position).unwrap(),
        header: block.header.clone(),
        descendants: vec![two.header.clone(), three.header.clone()],
        certificate: finalization,
    };
    assert_eq!(
        key.verify_rollup_batch(&b),
        Ok(CertificateKind::Finalization)
    );
    b.descendants.pop();
    assert!(matches!(
        key.verify_rollup_batch(&b),
        Err(Error::DigestMismatch { .. })
    ));
}

#[test]
fn receipts_say_whether_forced_and_cannot_lie_about_it() {
    let block = block();
    let (key, certificate) = certify(&block, CertificateKind::Finalization);
    let forced = receipt(&block, certificate.clone(), 0, 1);
    let ordinary = receipt(&block, certificate, 0, 2);
    assert!(forced.forced() && !ordinary.forced());
    for mut r in [forced, ordinary] {
        assert!(key.verify_receipt(&r).is_ok());
        r.batch_forced = 3 - r.batch_forced;
        assert_eq!(key.verify_receipt(&r), Err(Error::BadBatchProof));
    }
}

#[test]
fn bad_keys_and_signatures_are_errors() {
    assert!(GroupKey::from_hex("zz").is_err());
    assert!(GroupKey::from_bytes(&[0u8; 96]).is_err());
    assert!(GroupKey::from_bytes(&[1u8; 95]).is_err());
    let block = block();
    let (key, mut certificate) = certify(&block, CertificateKind::Finalization);
    certificate.signature = [0xff; 48];
    assert_eq!(
        key.verify_certificate(&certificate),
        Err(Error::BadSignatureEncoding)
    );
}
