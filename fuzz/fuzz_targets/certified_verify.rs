//! What a light client is handed (receipt or rollup batch bytes, from an untrusted node): decoding
//! and verifying never panics and never exhausts memory, whatever the bytes.
#![no_main]

use commonware_codec::Encode;
use commonware_cryptography::bls12381::primitives::{ops, variant::MinSig};
use libfuzzer_sys::fuzz_target;
use ordo_light::{Certified, GroupKey};
use std::sync::OnceLock;

/// A valid group key, so verification runs all the way to the signature check.
fn key() -> &'static GroupKey {
    static KEY: OnceLock<GroupKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let (_, public) = ops::keypair::<_, MinSig>(&mut commonware_utils::TestRng::new(7));
        GroupKey::from_bytes(&public.encode()).expect("a fresh key decodes")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(item) = Certified::decode(data) else {
        return;
    };
    if let Ok(kind) = key().verify(&item) {
        let _ = item.summary(kind);
    }
});
