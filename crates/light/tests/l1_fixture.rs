//! Writes (and checks) `contracts/test/fixtures/finalization.json`: a REAL Ordo finalization
//! certificate produced by commonware 2026.10.0's simplex `bls12381_threshold` scheme (MinSig),
//! which the Solidity `CertificateVerifier` must accept on L1 (EIP-2537).
//!
//! Setup: trusted dealer (`feldman_desmedt::deal`, `Mode::NonZeroCounter`) for 4 validators
//! (quorum 3) from a seeded RNG; 3 of them sign a finalize vote for one proposal; the votes are
//! assembled into a `Finalization` and checked with `certificate_verifier` (the group key only).
//!
//! The file is regenerated deterministically on every run and the test fails if the committed
//! copy differs. `ORDO_WRITE_FIXTURE=1` rewrites it (`make contracts-fixture`).

use commonware_codec::Encode;
use commonware_consensus::{
    simplex::{
        scheme::bls12381_threshold::standard::Scheme,
        types::{Finalization, Finalize, Proposal},
    },
    types::{Epoch, Round, View},
};
use commonware_cryptography::{
    bls12381::{
        dkg::feldman_desmedt::deal,
        primitives::{sharing::Mode, variant::MinSig},
    },
    ed25519, Hasher, Sha256, Signer,
};
use commonware_parallel::Sequential;
use commonware_utils::{non_empty, ordered::Set, union_unique, N3f1, TestRng};
use std::path::PathBuf;

const NAMESPACE: &[u8] = b"ordo";
const FINALIZE_SUFFIX: &[u8] = b"_FINALIZE";
const DST: &[u8] = b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_POP_";
const SEED: u64 = 0x4f52_444f; // "ORDO"
const VALIDATORS: u64 = 4;

struct Fixture {
    proposal: Vec<u8>,
    epoch: u64,
    view: u64,
    parent: u64,
    payload: Vec<u8>,
    message: Vec<u8>,
    signature: Vec<u8>,
    signature_eip2537: Vec<u8>,
    group_key: Vec<u8>,
    group_key_eip2537: Vec<u8>,
    finalization: Vec<u8>,
}

fn build() -> Fixture {
    let mut rng = TestRng::new(SEED);

    // 4 validator identities and a trusted-dealer threshold sharing (quorum 3 of 4).
    let participants: Set<ed25519::PublicKey> = Set::try_from(
        (0..VALIDATORS)
            .map(|i| ed25519::PrivateKey::from_seed(i).public_key())
            .collect::<Vec<_>>(),
    )
    .expect("distinct identities");
    let (output, shares) =
        deal::<MinSig, _, N3f1>(&mut rng, Mode::NonZeroCounter, participants.clone())
            .expect("deal");
    let sharing = output.public().clone();
    let schemes: Vec<Scheme<ed25519::PublicKey, MinSig>> = shares
        .into_iter()
        .map(|(_, share)| {
            Scheme::signer(NAMESPACE, participants.clone(), sharing.clone(), share)
                .expect("participant")
        })
        .collect();
    assert_eq!(schemes.len(), VALIDATORS as usize);

    // The proposal a block would be finalized under.
    let payload = Sha256::hash(&[b"ordo l1 fixture: block at view 7".as_slice()]);
    let proposal = Proposal::new(
        Round::new(Epoch::new(0), View::new(7)),
        View::new(6),
        payload,
    );

    // 3 finalize votes -> certificate.
    let finalizes: Vec<_> = schemes
        .iter()
        .take(3)
        .map(|s| Finalize::sign(s, proposal.clone()).expect("signer"))
        .collect();
    let finalization =
        Finalization::from_finalizes(&schemes[0], non_empty![@&finalizes], &Sequential)
            .expect("quorum of finalize votes");

    // A third party verifies with the group key alone.
    let identity = *sharing.public();
    let verifier = Scheme::<ed25519::PublicKey, MinSig>::certificate_verifier(NAMESPACE, identity);
    assert!(
        finalization.verify(&mut rng, &verifier, &Sequential),
        "certificate verifies"
    );
    let wrong = Scheme::<ed25519::PublicKey, MinSig>::certificate_verifier(b"ordx", identity);
    assert!(
        !finalization.verify(&mut rng, &wrong, &Sequential),
        "namespace is bound"
    );

    // Exactly what is signed: union_unique(namespace || "_FINALIZE", proposal.encode()).
    let proposal_bytes = proposal.encode().to_vec();
    let finalize_ns = [NAMESPACE, FINALIZE_SUFFIX].concat();
    let message = union_unique(&finalize_ns, &proposal_bytes);
    assert_eq!(
        message[0] as usize,
        finalize_ns.len(),
        "one-byte varint length prefix"
    );
    assert_eq!(&message[1..1 + finalize_ns.len()], finalize_ns.as_slice());

    let signature = finalization.certificate.encode().to_vec();
    assert_eq!(
        signature.len(),
        48,
        "MinSig certificate is one compressed G1 point"
    );
    let group_key = identity.encode().to_vec();
    assert_eq!(
        group_key.len(),
        96,
        "MinSig group key is one compressed G2 point"
    );

    // Independent check with blst: the framing above is exactly what the certificate signs.
    let sig = blst::min_sig::Signature::from_bytes(&signature).expect("signature decodes");
    let pk = blst::min_sig::PublicKey::from_bytes(&group_key).expect("key decodes");
    assert_eq!(
        sig.verify(true, &message, DST, &[], &pk, true),
        blst::BLST_ERROR::BLST_SUCCESS,
        "blst verifies the signature over the union_unique message with the POP DST"
    );

    Fixture {
        epoch: 0,
        view: 7,
        parent: 6,
        payload: payload.encode().to_vec(),
        proposal: proposal_bytes,
        message,
        signature_eip2537: g1_to_eip2537(&sig.serialize()),
        signature,
        group_key_eip2537: g2_to_eip2537(&pk.serialize()),
        group_key,
        finalization: finalization.encode().to_vec(),
    }
}

/// 96-byte uncompressed (x || y, 48 bytes each) -> EIP-2537 G1 (each Fp left-padded to 64 bytes).
fn g1_to_eip2537(uncompressed: &[u8; 96]) -> Vec<u8> {
    assert_eq!(uncompressed[0] & 0xe0, 0, "no flag bits on a finite point");
    let mut out = Vec::with_capacity(128);
    for fp in [&uncompressed[0..48], &uncompressed[48..96]] {
        out.extend_from_slice(&[0u8; 16]);
        out.extend_from_slice(fp);
    }
    out
}

/// 192-byte uncompressed (zcash order: x.c1 || x.c0 || y.c1 || y.c0) -> EIP-2537 G2
/// (x.c0 || x.c1 || y.c0 || y.c1, each Fp left-padded to 64 bytes).
fn g2_to_eip2537(uncompressed: &[u8; 192]) -> Vec<u8> {
    assert_eq!(uncompressed[0] & 0xe0, 0, "no flag bits on a finite point");
    let (x1, x0, y1, y0) = (
        &uncompressed[0..48],
        &uncompressed[48..96],
        &uncompressed[96..144],
        &uncompressed[144..192],
    );
    let mut out = Vec::with_capacity(256);
    for fp in [x0, x1, y0, y1] {
        out.extend_from_slice(&[0u8; 16]);
        out.extend_from_slice(fp);
    }
    out
}

fn render(f: &Fixture) -> String {
    let h = |b: &[u8]| format!("0x{}", hex::encode(b));
    // Written by hand so the bytes never depend on a JSON library's key order.
    format!(
        r#"{{
  "description": "Ordo finalization certificate from commonware 2026.10.0 simplex bls12381_threshold (MinSig), trusted dealer, 4 validators, quorum 3, seed 0x{seed:x}. Generated by crates/light/tests/l1_fixture.rs; do not edit.",
  "namespace": "{namespace}",
  "namespaceUtf8": "{namespace_utf8}",
  "dst": "{dst}",
  "epoch": {epoch},
  "view": {view},
  "parent": {parent},
  "payload": "{payload}",
  "proposal": "{proposal}",
  "message": "{message}",
  "signature": "{signature}",
  "signatureEip2537": "{signature_eip2537}",
  "groupKey": "{group_key}",
  "groupKeyEip2537": "{group_key_eip2537}",
  "finalization": "{finalization}"
}}
"#,
        seed = SEED,
        namespace = h(NAMESPACE),
        namespace_utf8 = std::str::from_utf8(NAMESPACE).unwrap(),
        dst = std::str::from_utf8(DST).unwrap(),
        epoch = f.epoch,
        view = f.view,
        parent = f.parent,
        payload = h(&f.payload),
        proposal = h(&f.proposal),
        message = h(&f.message),
        signature = h(&f.signature),
        signature_eip2537 = h(&f.signature_eip2537),
        group_key = h(&f.group_key),
        group_key_eip2537 = h(&f.group_key_eip2537),
        finalization = h(&f.finalization),
    )
}

fn fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../contracts/test/fixtures/finalization.json")
}

#[test]
fn l1_finalization_fixture_is_current() {
    let first = render(&build());
    assert_eq!(
        first,
        render(&build()),
        "fixture generation is deterministic"
    );

    let path = fixture_path();
    if std::env::var("ORDO_WRITE_FIXTURE").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &first).unwrap();
        eprintln!("wrote {}", path.display());
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run `ORDO_WRITE_FIXTURE=1 cargo test -p ordo-light --test l1_fixture`",
            path.display()
        )
    });
    assert_eq!(
        committed,
        first,
        "{} is stale; rerun with ORDO_WRITE_FIXTURE=1",
        path.display()
    );
}
