//! Decoding and encoding of the payment documents carried inside a `SignedDocument`.
//!
//! A `PaymentRequest` or `Receipt` travels as the exact bytes the payee produced
//! (`SignedDocument.body`), because those bytes are hashed, signed and referenced by digest.
//! These functions decode such bytes (length first, then prost, then the version) and encode a
//! document with the same size limit the receiver enforces. The semantic validation (amounts,
//! limits, signatures) belongs to remit-pay.

#[cfg(any(doc, test))]
use crate::limits;
use crate::{DecodeError, EncodeError, decode, encode, v1};

/// The one document format version this library implements (`PaymentRequest.version`,
/// `Receipt.version` and `PaymentNotice.version`).
pub const PAYMENT_DOCUMENT_VERSION: u32 = 1;

/// Decodes a `PaymentRequest` document body.
///
/// # Errors
/// [`DecodeError::TooLarge`] over [`limits::MAX_DOCUMENT_LEN`], [`DecodeError::Malformed`], or
/// [`DecodeError::UnknownVersion`].
pub fn decode_payment_request(bytes: &[u8]) -> Result<v1::PaymentRequest, DecodeError> {
    decode(bytes)
}

/// Decodes a `Receipt` document body.
///
/// # Errors
/// As [`decode_payment_request`].
pub fn decode_receipt(bytes: &[u8]) -> Result<v1::Receipt, DecodeError> {
    decode(bytes)
}

/// Decodes a `PaymentNotice` stored on its own (remit-pay keeps the notices of a payment thread
/// in this form); on the wire a notice travels inside `Content`.
///
/// # Errors
/// As [`decode_payment_request`].
pub fn decode_payment_notice(bytes: &[u8]) -> Result<v1::PaymentNotice, DecodeError> {
    decode(bytes)
}

/// Encodes a `PaymentNotice` on its own.
///
/// # Errors
/// As [`encode_payment_request`].
pub fn encode_payment_notice(notice: &v1::PaymentNotice) -> Result<Vec<u8>, EncodeError> {
    encode(notice)
}

/// Encodes a `PaymentRequest` document body.
///
/// # Errors
/// [`EncodeError::TooLarge`] over [`limits::MAX_DOCUMENT_LEN`].
pub fn encode_payment_request(request: &v1::PaymentRequest) -> Result<Vec<u8>, EncodeError> {
    encode(request)
}

/// Encodes a `Receipt` document body.
///
/// # Errors
/// As [`encode_payment_request`].
pub fn encode_receipt(receipt: &v1::Receipt) -> Result<Vec<u8>, EncodeError> {
    encode(receipt)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> v1::PaymentRequest {
        v1::PaymentRequest {
            version: 1,
            request_id: vec![1; 16],
            memo: "lunch".into(),
            ..Default::default()
        }
    }

    #[test]
    fn request_round_trips() {
        let bytes = encode_payment_request(&request()).unwrap();
        assert_eq!(decode_payment_request(&bytes).unwrap(), request());
    }

    #[test]
    fn receipt_round_trips() {
        let receipt = v1::Receipt {
            version: 1,
            receipt_id: vec![2; 16],
            ..Default::default()
        };
        let bytes = encode_receipt(&receipt).unwrap();
        assert_eq!(decode_receipt(&bytes).unwrap(), receipt);
    }

    #[test]
    fn notice_round_trips() {
        let notice = v1::PaymentNotice {
            version: 1,
            payment_id: vec![3; 16],
            note: "thanks".into(),
            ..Default::default()
        };
        let bytes = encode_payment_notice(&notice).unwrap();
        assert_eq!(decode_payment_notice(&bytes).unwrap(), notice);
        let old = encode_payment_notice(&v1::PaymentNotice::default()).unwrap();
        assert!(matches!(
            decode_payment_notice(&old),
            Err(DecodeError::UnknownVersion { got: 0, .. })
        ));
    }

    #[test]
    fn unknown_version_is_rejected() {
        let bytes = encode_payment_request(&v1::PaymentRequest {
            version: 2,
            ..request()
        })
        .unwrap();
        assert!(matches!(
            decode_payment_request(&bytes),
            Err(DecodeError::UnknownVersion { got: 2, .. })
        ));
        let bytes = encode_receipt(&v1::Receipt::default()).unwrap();
        assert!(matches!(
            decode_receipt(&bytes),
            Err(DecodeError::UnknownVersion { got: 0, .. })
        ));
    }

    #[test]
    fn oversized_document_is_rejected_before_decoding() {
        let bytes = vec![0u8; limits::MAX_DOCUMENT_LEN + 1];
        assert!(matches!(
            decode_payment_request(&bytes),
            Err(DecodeError::TooLarge { .. })
        ));
        let big = v1::PaymentRequest {
            memo: "x".repeat(limits::MAX_DOCUMENT_LEN),
            ..request()
        };
        assert!(matches!(
            encode_payment_request(&big),
            Err(EncodeError::TooLarge { .. })
        ));
    }

    #[test]
    fn garbage_is_malformed() {
        assert!(matches!(
            decode_receipt(&[0xff, 0xff, 0xff]),
            Err(DecodeError::Malformed { .. })
        ));
    }
}
