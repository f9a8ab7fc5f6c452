//! The Remit wire format.
//!
//! Every untrusted byte Remit receives is decoded in this crate: the protobuf types generated
//! from `proto/remit/v1/*.proto`, the frame codec of relay streams, the fixed-layout [`Reader`],
//! and the size limits that bound all of them. Nothing here panics on input; every failure is a
//! [`DecodeError`] that names the object and the field at fault.
//!
//! ```text
//!  QUIC stream bytes ──▶ FrameDecoder ──▶ decode_client_frame / decode_server_frame
//!  envelope bytes ─────▶ session::Envelope::decode (keys, lengths, version checked)
//!  plaintext bytes ────▶ decode_content
//!  stored records ─────▶ Reader (fixed layouts, bounded counts, no trailing data)
//! ```
//!
//! What this crate does not do: cryptography, signature checks, or any policy beyond structure.
//! Those belong to remit-session, remit-pay and remit-relay, which take the typed values it
//! returns.
//!
//! ```
//! use remit_wire::{decode_content, encode, v1};
//!
//! let content = v1::Content {
//!     version: 1,
//!     message_id: vec![7; 16],
//!     body: Some(v1::content::Body::Text(v1::Text { body: "hello".into() })),
//! };
//! let bytes = encode(&content)?;
//! assert_eq!(decode_content(&bytes)?, content);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The public interface is: the generated types ([`v1`]); the top-level decoders and [`encode`]
//! (with the [`TopLevel`] trait that names the messages they take); the typed, length-checked
//! session views ([`session`]) and payment-document codecs ([`payment`]); the frame codec
//! ([`FrameDecoder`], [`encode_frame`], [`split_frame`], [`frame_len`]); the bounded [`Reader`];
//! the errors; and the named caps ([`limits`]). This crate has no `internal` module: nothing in
//! it is hidden from apps.
#![forbid(unsafe_code)]

mod decode;
mod error;
mod frame;
pub mod limits;
pub mod payment;
mod reader;
pub mod session;

/// The prost types generated from `proto/remit/v1`, package `remit.v1`.
///
/// Field comments in the `.proto` files carry each field's meaning and limits.
#[allow(
    missing_docs,
    unreachable_pub,
    unused_qualifications,
    clippy::all,
    clippy::pedantic,
    clippy::nursery
)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/remit.v1.rs"));
}

// The public interface is:
pub use decode::{
    TopLevel, decode, decode_client_frame, decode_content, decode_prekey_bundle,
    decode_server_frame, decode_session_envelope, encode,
};
pub use error::{DecodeError, EncodeError};
pub use frame::{FRAME_HEADER_LEN, FrameDecoder, encode_frame, frame_len, split_frame};
pub use reader::Reader;
