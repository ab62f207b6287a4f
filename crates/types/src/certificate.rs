use crate::{Digest, NAMESPACE};
use alloc::vec::Vec;
use bytes::BufMut;
use commonware_codec::{varint::UInt, Buf, EncodeSize, Error, Read, ReadExt, Write};

/// Which consensus certificate a signature is: notarization (the preconfirmation) or
/// finalization (final).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CertificateKind {
    Notarization,
    Finalization,
}

impl CertificateKind {
    /// Suffix consensus appends to the namespace for this kind of vote.
    pub fn suffix(self) -> &'static [u8] {
        match self {
            Self::Notarization => b"_NOTARIZE",
            Self::Finalization => b"_FINALIZE",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Notarization => "notarized",
            Self::Finalization => "finalized",
        }
    }
}

/// A threshold certificate over a block digest: the proposal consensus signed and one 48-byte
/// BLS12-381 G1 signature (MinSig) checkable against the 96-byte group key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    pub kind: CertificateKind,
    pub epoch: u64,
    pub view: u64,
    pub parent_view: u64,
    pub payload: Digest,
    pub signature: [u8; 48],
}

impl Certificate {
    /// The proposal bytes consensus signs: varint epoch, varint view, varint parent view, digest.
    pub fn proposal_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        UInt(self.epoch).write(&mut out);
        UInt(self.view).write(&mut out);
        UInt(self.parent_view).write(&mut out);
        self.payload.write(&mut out);
        out
    }

    /// The namespace the signature is made under (`"ordo" || suffix`).
    pub fn signing_namespace(&self) -> Vec<u8> {
        let mut ns = NAMESPACE.to_vec();
        ns.extend_from_slice(self.kind.suffix());
        ns
    }

    /// The exact bytes hashed to G1 (`varint(len(ns)) || ns || proposal`): what an L1 verifier
    /// must rebuild.
    pub fn signed_message(&self) -> Vec<u8> {
        let ns = self.signing_namespace();
        let mut framed = Vec::new();
        UInt(ns.len() as u64).write(&mut framed);
        framed.extend_from_slice(&ns);
        framed.extend_from_slice(&self.proposal_bytes());
        framed
    }
}

impl Write for Certificate {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_u8(match self.kind {
            CertificateKind::Notarization => 0,
            CertificateKind::Finalization => 1,
        });
        UInt(self.epoch).write(buf);
        UInt(self.view).write(buf);
        UInt(self.parent_view).write(buf);
        self.payload.write(buf);
        self.signature.write(buf);
    }
}

impl EncodeSize for Certificate {
    fn encode_size(&self) -> usize {
        1 + UInt(self.epoch).encode_size()
            + UInt(self.view).encode_size()
            + UInt(self.parent_view).encode_size()
            + 32
            + 48
    }
}

impl Read for Certificate {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        let kind = match u8::read(buf)? {
            0 => CertificateKind::Notarization,
            1 => CertificateKind::Finalization,
            _ => return Err(Error::Invalid("ordo::Certificate", "unknown kind")),
        };
        Ok(Self {
            kind,
            epoch: UInt::read(buf)?.0,
            view: UInt::read(buf)?.0,
            parent_view: UInt::read(buf)?.0,
            payload: Digest::read(buf)?,
            signature: <[u8; 48]>::read(buf)?,
        })
    }
}
