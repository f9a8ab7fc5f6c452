//! The one error type for everything that decodes untrusted bytes.

/// Why bytes could not be decoded. Every variant names the object (`what`) being decoded, so a
/// log line or an error frame can say precisely what was wrong without echoing the bytes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input is longer than the limit for this object; nothing was allocated for it.
    #[error("{what}: {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// The object being decoded.
        what: &'static str,
        /// The announced or actual length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The input ended before the object did.
    #[error("{what}: truncated, needed {needed} more bytes")]
    Truncated {
        /// The object being decoded.
        what: &'static str,
        /// How many more bytes were needed at the point where the input ended.
        needed: usize,
    },
    /// The bytes are not a valid encoding of the object (bad protobuf, wrong wire type...).
    #[error("{what}: malformed: {detail}")]
    Malformed {
        /// The object being decoded.
        what: &'static str,
        /// What the decoder found wrong.
        detail: String,
    },
    /// The object's version field holds a version this library does not implement.
    #[error("{what}: unknown version {got} (supported: {supported})")]
    UnknownVersion {
        /// The object being decoded.
        what: &'static str,
        /// The version found.
        got: u32,
        /// The version this library implements.
        supported: u32,
    },
    /// A required field or `oneof` is absent.
    #[error("{what}: missing required field `{field}`")]
    MissingField {
        /// The object being decoded.
        what: &'static str,
        /// The missing field.
        field: &'static str,
    },
    /// A fixed-size field has the wrong length.
    #[error("{what}: field `{field}` is {got} bytes, expected {expected}")]
    InvalidLength {
        /// The object being decoded.
        what: &'static str,
        /// The field.
        field: &'static str,
        /// The required length.
        expected: usize,
        /// The length found.
        got: usize,
    },
    /// A bounded field is outside its limits.
    #[error("{what}: field `{field}` is {got}, outside {min}..={max}")]
    OutOfRange {
        /// The object being decoded.
        what: &'static str,
        /// The field.
        field: &'static str,
        /// The value (or length) found.
        got: u64,
        /// The smallest allowed value.
        min: u64,
        /// The largest allowed value.
        max: u64,
    },
    /// A fixed layout was followed by bytes that belong to nothing.
    #[error("{what}: {extra} bytes of trailing data")]
    TrailingData {
        /// The object being decoded.
        what: &'static str,
        /// How many bytes were left over.
        extra: usize,
    },
    /// A frame decoder saw an error earlier; the stream's frame boundaries are lost.
    #[error("frame stream is unusable after an earlier framing error")]
    Poisoned,
}

/// Why a value could not be encoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The encoding would exceed the limit the receiver enforces.
    #[error("{what}: {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// The object being encoded.
        what: &'static str,
        /// Its encoded length.
        len: usize,
        /// The limit.
        max: usize,
    },
}
