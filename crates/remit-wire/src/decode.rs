//! Decoding of the top-level protobuf messages: size limit first, then prost, then the version
//! and the required `oneof` body.

use prost::Message;

use crate::{DecodeError, EncodeError, limits, v1};

/// A top-level protobuf message: it has a version field and a required body.
pub trait TopLevel: Message + Default {
    /// Name used in errors.
    const NAME: &'static str;
    /// The one version this library implements.
    const VERSION: u32;
    /// Largest accepted encoding.
    const MAX_LEN: usize;
    /// The message's version field.
    fn version(&self) -> u32;
    /// Whether the required body (the `oneof`) is present.
    fn has_body(&self) -> bool;
}

/// Decodes a top-level message: the length is checked before prost sees the bytes, then the
/// version, then the presence of the body. Deeper, field-level validation belongs to the typed
/// views (for example [`crate::session::Envelope`]) or to the crate that owns the semantics.
///
/// # Errors
/// [`DecodeError::TooLarge`], [`DecodeError::Malformed`], [`DecodeError::UnknownVersion`] or
/// [`DecodeError::MissingField`] (`body`).
pub fn decode<M: TopLevel>(bytes: &[u8]) -> Result<M, DecodeError> {
    if bytes.len() > M::MAX_LEN {
        return Err(DecodeError::TooLarge {
            what: M::NAME,
            len: bytes.len(),
            max: M::MAX_LEN,
        });
    }
    let message = M::decode(bytes).map_err(|e| malformed(M::NAME, &e))?;
    if message.version() != M::VERSION {
        return Err(DecodeError::UnknownVersion {
            what: M::NAME,
            got: message.version(),
            supported: M::VERSION,
        });
    }
    if !message.has_body() {
        return Err(DecodeError::MissingField {
            what: M::NAME,
            field: "body",
        });
    }
    Ok(message)
}

/// Encodes a top-level message, refusing one the receiver would reject as too large.
///
/// # Errors
/// [`EncodeError::TooLarge`] if the encoding exceeds `M::MAX_LEN`.
pub fn encode<M: TopLevel>(message: &M) -> Result<Vec<u8>, EncodeError> {
    check_encoded_len(message)?;
    Ok(message.encode_to_vec())
}

/// The encoded length of `message`, if the receiver's limit allows it.
pub(crate) fn check_encoded_len<M: TopLevel>(message: &M) -> Result<usize, EncodeError> {
    let len = message.encoded_len();
    if len > M::MAX_LEN {
        return Err(EncodeError::TooLarge {
            what: M::NAME,
            len,
            max: M::MAX_LEN,
        });
    }
    Ok(len)
}

/// Decodes a `SessionEnvelope` (the bytes a relay stores and forwards).
///
/// # Errors
/// See [`decode`].
pub fn decode_session_envelope(bytes: &[u8]) -> Result<v1::SessionEnvelope, DecodeError> {
    decode(bytes)
}

/// Decodes a `Content` (the plaintext of a session message, padding removed).
///
/// # Errors
/// See [`decode`].
pub fn decode_content(bytes: &[u8]) -> Result<v1::Content, DecodeError> {
    decode(bytes)
}

/// Decodes a `ClientFrame` body (the bytes after the frame's length prefix).
///
/// # Errors
/// See [`decode`].
pub fn decode_client_frame(bytes: &[u8]) -> Result<v1::ClientFrame, DecodeError> {
    decode(bytes)
}

/// Decodes a `ServerFrame` body (the bytes after the frame's length prefix).
///
/// # Errors
/// See [`decode`].
pub fn decode_server_frame(bytes: &[u8]) -> Result<v1::ServerFrame, DecodeError> {
    decode(bytes)
}

/// Decodes a `PreKeyBundle`.
///
/// # Errors
/// See [`decode`]; a bundle has no `oneof`, so its "body" is the required identity and signed
/// prekey.
pub fn decode_prekey_bundle(bytes: &[u8]) -> Result<v1::PreKeyBundle, DecodeError> {
    decode(bytes)
}

pub(crate) fn malformed(what: &'static str, error: &prost::DecodeError) -> DecodeError {
    DecodeError::Malformed {
        what,
        detail: error.to_string(),
    }
}

/// Implements [`TopLevel`] for a generated message: its name in errors, its size limit, and
/// what its required body is (`oneof` messages: the `body` field).
macro_rules! top_level {
    ($type:ident, $max:expr, |$m:ident| $has_body:expr) => {
        impl TopLevel for v1::$type {
            const NAME: &'static str = stringify!($type);
            const VERSION: u32 = 1;
            const MAX_LEN: usize = $max;
            fn version(&self) -> u32 {
                self.version
            }
            fn has_body(&self) -> bool {
                let $m = self;
                $has_body
            }
        }
    };
}

top_level!(SessionEnvelope, limits::MAX_ENVELOPE_LEN, |m| m
    .body
    .is_some());
top_level!(Content, limits::MAX_PLAINTEXT_LEN, |m| m.body.is_some());
top_level!(ClientFrame, limits::MAX_FRAME_LEN, |m| m.body.is_some());
top_level!(ServerFrame, limits::MAX_FRAME_LEN, |m| m.body.is_some());
top_level!(PreKeyBundle, limits::MAX_BUNDLE_LEN, |m| m
    .identity
    .is_some()
    && m.signed_prekey.is_some());
// Payment documents have no `oneof`: every field is checked by remit-pay.
top_level!(PaymentRequest, limits::MAX_DOCUMENT_LEN, |_m| true);
top_level!(Receipt, limits::MAX_DOCUMENT_LEN, |_m| true);
top_level!(PaymentNotice, limits::MAX_DOCUMENT_LEN, |_m| true);
