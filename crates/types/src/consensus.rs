//! Glue to commonware consensus: block traits, the certificate scheme, and conversions from
//! consensus certificates to Ordo's [`Certificate`].

use crate::{Block, Certificate, CertificateKind, Digest, PublicKey};
use commonware_codec::Encode;
use commonware_consensus::{
    simplex::{
        scheme::bls12381_threshold::standard,
        types::{
            Context as SimplexContext, Finalization as SFinalization,
            Notarization as SNotarization, Proposal,
        },
    },
    types::{Epoch, Height, Round, View},
    CertifiableBlock, Heightable,
};
use commonware_cryptography::bls12381::primitives::variant::MinSig;

/// Threshold BLS12-381 certificates: 48-byte G1 signatures, 96-byte G2 group key.
pub type Scheme = standard::Scheme<PublicKey, MinSig>;
/// The consensus context a block is proposed in.
pub type Context = SimplexContext<Digest, PublicKey>;
pub type Notarization = SNotarization<Scheme, Digest>;
pub type Finalization = SFinalization<Scheme, Digest>;

impl Heightable for Block {
    fn height(&self) -> Height {
        Height::new(self.header.height)
    }
}

impl commonware_consensus::Block for Block {
    fn parent(&self) -> Digest {
        self.header.parent
    }
}

impl CertifiableBlock for Block {
    type Context = Context;
    fn context(&self) -> Context {
        Context {
            round: Round::new(Epoch::new(self.header.epoch), View::new(self.header.view)),
            leader: self.header.leader.clone(),
            parent: (View::new(self.header.parent_view), self.header.parent),
        }
    }
}

fn certificate(
    kind: CertificateKind,
    proposal: &Proposal<Digest>,
    signature: &<Scheme as commonware_cryptography::certificate::Verifier>::Certificate,
) -> Certificate {
    let bytes = signature.encode();
    let mut sig = [0u8; 48];
    sig.copy_from_slice(&bytes[bytes.len() - 48..]);
    Certificate {
        kind,
        epoch: proposal.round.epoch().get(),
        view: proposal.round.view().get(),
        parent_view: proposal.parent.get(),
        payload: proposal.payload,
        signature: sig,
    }
}

impl From<&Notarization> for Certificate {
    fn from(n: &Notarization) -> Self {
        certificate(CertificateKind::Notarization, &n.proposal, &n.certificate)
    }
}

impl From<&Finalization> for Certificate {
    fn from(f: &Finalization) -> Self {
        certificate(CertificateKind::Finalization, &f.proposal, &f.certificate)
    }
}
