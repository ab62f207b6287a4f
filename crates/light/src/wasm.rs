//! The C ABI of the WASM build, for browsers: no bindings generator, just linear memory.
//!
//! JavaScript allocates with [`ordo_alloc`], copies the group key and the codec bytes of a receipt
//! or rollup batch in, and calls [`ordo_verify`]. The answer is a buffer of a 4-byte little-endian
//! length and that many bytes of UTF-8 (the summary, or why it failed), which the caller reads and
//! frees with [`ordo_free`]. The return code says how it went.

use crate::{Certified, GroupKey};
use alloc::{string::String, vec::Vec};
use ordo_types::CertificateKind;

/// Verified with a notarization (preconfirmed).
pub const NOTARIZED: i32 = 1;
/// Verified with a finalization.
pub const FINALIZED: i32 = 2;
/// Did not verify (or did not decode).
pub const FAILED: i32 = -1;

/// Reserves `len` bytes for the caller to fill; release with [`ordo_free`].
#[unsafe(no_mangle)]
pub extern "C" fn ordo_alloc(len: usize) -> *mut u8 {
    let mut buffer = Vec::<u8>::with_capacity(len);
    let ptr = buffer.as_mut_ptr();
    core::mem::forget(buffer);
    ptr
}

/// Releases what [`ordo_alloc`] or [`ordo_verify`] handed out (with the same length).
///
/// # Safety
/// `ptr` and `len` must come from one of those calls and be freed once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ordo_free(ptr: *mut u8, len: usize) {
    // SAFETY: the caller returns a buffer this module allocated with capacity `len`.
    drop(unsafe { Vec::from_raw_parts(ptr, 0, len) });
}

/// Verifies the receipt or rollup batch in `item` against the group key in `key`. Writes the
/// address of the answer buffer (length-prefixed UTF-8, `4 + length` bytes to free) to `out`.
///
/// # Safety
/// The pointers must name readable (and, for `out`, writable) memory of the given lengths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ordo_verify(
    key: *const u8,
    key_len: usize,
    item: *const u8,
    item_len: usize,
    out: *mut *mut u8,
) -> i32 {
    // SAFETY: the caller passes buffers it filled, of these lengths.
    let (key, item) = unsafe {
        (
            core::slice::from_raw_parts(key, key_len),
            core::slice::from_raw_parts(item, item_len),
        )
    };
    let (code, message) = verify(key, item);
    let mut answer = Vec::with_capacity(4 + message.len());
    answer.extend_from_slice(&(message.len() as u32).to_le_bytes());
    answer.extend_from_slice(message.as_bytes());
    answer.shrink_to_fit();
    // `ordo_free(ptr, 4 + length)` rebuilds it; the capacity must match the length.
    let mut answer = core::mem::ManuallyDrop::new(answer);
    // SAFETY: the caller gives a writable slot for one pointer.
    unsafe { out.write_unaligned(answer.as_mut_ptr()) };
    code
}

fn verify(key: &[u8], item: &[u8]) -> (i32, String) {
    let checked = GroupKey::from_bytes(key).and_then(|key| {
        let item = Certified::decode(item)?;
        let kind = key.verify(&item)?;
        Ok((item, kind))
    });
    match checked {
        Ok((item, kind)) => {
            let code = match kind {
                CertificateKind::Notarization => NOTARIZED,
                CertificateKind::Finalization => FINALIZED,
            };
            (
                code,
                alloc::format!("{} OK: {}", item.noun(), item.summary(kind)),
            )
        }
        Err(e) => (FAILED, alloc::format!("{e}")),
    }
}
