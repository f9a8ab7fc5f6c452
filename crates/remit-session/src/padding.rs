//! Message padding (design: "Padding").
//!
//! ```text
//! padded = plaintext ‖ 0x80 ‖ 0x00 … up to the smallest bucket ≥ len + 1,
//! buckets = 1024 · 2^k, k = 0..=6 (MIN_PADDED_LEN … MAX_PADDED_LEN)
//! ```

use remit_wire::limits::{MAX_PADDED_LEN, MAX_PLAINTEXT_LEN, MIN_PADDED_LEN};

use crate::error::{DecryptError, EncryptError};

/// The padded length of a plaintext of `len` bytes.
///
/// # Errors
/// [`EncryptError::TooLarge`] above `MAX_PLAINTEXT_LEN`.
pub(crate) fn padded_len(len: usize) -> Result<usize, EncryptError> {
    if len > MAX_PLAINTEXT_LEN {
        return Err(EncryptError::TooLarge {
            len,
            max: MAX_PLAINTEXT_LEN,
        });
    }
    let mut bucket = MIN_PADDED_LEN;
    while bucket < len + 1 && bucket < MAX_PADDED_LEN {
        bucket *= 2;
    }
    Ok(bucket)
}

/// Appends `plaintext ‖ 0x80 ‖ 0x00…` to `out` (which must be empty) up to `padded` bytes.
pub(crate) fn pad_into(plaintext: &[u8], padded: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(plaintext);
    out.push(0x80);
    out.resize(padded, 0);
}

/// Strips the padding in place.
///
/// # Errors
/// [`DecryptError::BadPadding`] if no 0x80 marker ends the non-zero part.
pub(crate) fn unpad(buf: &mut Vec<u8>) -> Result<(), DecryptError> {
    let end = buf
        .iter()
        .rposition(|&b| b != 0)
        .ok_or(DecryptError::BadPadding)?;
    if buf.get(end) != Some(&0x80) {
        return Err(DecryptError::BadPadding);
    }
    buf.truncate(end);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_exact() {
        assert_eq!(padded_len(0), Ok(1024));
        assert_eq!(padded_len(1), Ok(1024));
        assert_eq!(padded_len(1022), Ok(1024));
        assert_eq!(padded_len(1023), Ok(1024));
        assert_eq!(padded_len(1024), Ok(2048));
        assert_eq!(padded_len(2047), Ok(2048));
        assert_eq!(padded_len(2048), Ok(4096));
        assert_eq!(padded_len(32767), Ok(32768));
        assert_eq!(padded_len(32768), Ok(65536));
        assert_eq!(padded_len(65535), Ok(65536));
        assert_eq!(
            padded_len(65536),
            Err(EncryptError::TooLarge {
                len: 65536,
                max: 65535
            })
        );
        assert_eq!(
            padded_len(usize::MAX),
            Err(EncryptError::TooLarge {
                len: usize::MAX,
                max: 65535
            })
        );
    }

    #[test]
    fn pad_unpad_round_trip_keeps_trailing_zeros_and_markers() {
        for plaintext in [&b""[..], b"abc", b"a\x00\x00", b"\x80", b"x\x80\x00"] {
            let n = padded_len(plaintext.len()).unwrap();
            let mut buf = Vec::new();
            pad_into(plaintext, n, &mut buf);
            assert_eq!(buf.len(), 1024);
            assert_eq!(buf[plaintext.len()], 0x80);
            unpad(&mut buf).unwrap();
            assert_eq!(buf, plaintext);
        }
    }

    #[test]
    fn bad_padding_is_rejected() {
        assert_eq!(unpad(&mut vec![0; 1024]), Err(DecryptError::BadPadding));
        let mut no_marker = vec![0; 1024];
        no_marker[10] = 0x7f;
        assert_eq!(unpad(&mut no_marker), Err(DecryptError::BadPadding));
        assert_eq!(unpad(&mut Vec::new()), Err(DecryptError::BadPadding));
    }
}
