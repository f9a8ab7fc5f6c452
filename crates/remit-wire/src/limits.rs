//! Every size limit on untrusted bytes, in one place. spec/README.md quotes the same numbers.

/// Largest plaintext (an encoded `Content`) a session message may carry: one less than the
/// largest padding bucket, because padding always adds at least one byte (spec/ratchet.md).
pub const MAX_PLAINTEXT_LEN: usize = MAX_PADDED_LEN - 1;

/// Largest padded plaintext: the top padding bucket. 64 KiB holds any payment document with
/// room to spare (a 100-line invoice is under 16 KiB) while bounding what one message costs a
/// receiver to decrypt and hold.
pub const MAX_PADDED_LEN: usize = 64 * 1024;

/// AES-256-GCM tag length; every ciphertext carries the full tag.
pub const TAG_LEN: usize = 16;

/// Largest `RatchetMessage.ciphertext`: the top padding bucket plus the tag.
pub const MAX_CIPHERTEXT_LEN: usize = MAX_PADDED_LEN + TAG_LEN;

/// Smallest `RatchetMessage.ciphertext`: padding buckets start at this size, plus the tag. A
/// shorter ciphertext cannot have come from a conforming sender and is rejected before any
/// cryptography runs.
pub const MIN_CIPHERTEXT_LEN: usize = MIN_PADDED_LEN + TAG_LEN;

/// Smallest padding bucket (spec/ratchet.md). Every message is at least this large, so a short
/// chat line and a payment request look alike on the wire.
pub const MIN_PADDED_LEN: usize = 1024;

/// Largest encoded `SessionEnvelope`: the largest ciphertext plus room for a `PreKeyMessage`'s
/// handshake fields (identity 128 bytes, base key, ids, protobuf tags: under 300 bytes).
pub const MAX_ENVELOPE_LEN: usize = MAX_CIPHERTEXT_LEN + 512;

/// Largest frame body on a relay stream: an envelope plus the `Send`/`Deliver` fields around it
/// (identity, message id, sequence, timestamps: under 200 bytes), and large enough for a
/// `PublishPreKeys` with `MAX_PREKEYS_PER_PUBLISH` keys (about 40 bytes each).
pub const MAX_FRAME_LEN: usize = MAX_ENVELOPE_LEN + 512;

/// Largest encoded `PreKeyBundle`: an identity (128 bytes), a signed prekey (about 110 bytes) and
/// a one-time prekey (about 40 bytes) with their protobuf tags fit in well under 1 KiB.
pub const MAX_BUNDLE_LEN: usize = 1024;

/// Most one-time prekeys in one `PublishPreKeys` frame. 100 is Signal-Server's batch size; a
/// client publishes more in several frames.
pub const MAX_PREKEYS_PER_PUBLISH: usize = 100;

/// Most sequence numbers in one `Ack` frame.
pub const MAX_ACKS_PER_FRAME: usize = 256;

/// Largest encoded payment document (`SignedDocument.body`) and any other `Content` body.
pub const MAX_DOCUMENT_LEN: usize = 32 * 1024;

/// Length of every X25519 and Ed25519 public key on the wire.
pub const KEY_LEN: usize = 32;

/// Length of every Ed25519 signature on the wire.
pub const SIGNATURE_LEN: usize = 64;

/// Length of message, request, payment and receipt ids.
pub const ID_LEN: usize = 16;
