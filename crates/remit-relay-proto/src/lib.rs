//! The Remit relay protocol, sans-IO (spec/relay.md): what both sides of a relay connection
//! agree on, with no socket, no clock and no key inside.
//!
//! ```text
//!   app / remit-client ─┐                                   ┌─ remit-relay (the server)
//!                       ▼                                   ▼
//!   ClientConnection (state machine)            auth::verify_auth, certificate_fingerprint
//!     handle_input(stream bytes) ──▶ ServerFrame::decode ──▶ Event (typed)
//!     send / fetch_bundle / ack  ──▶ ClientRequest::encode ─▶ poll_transmit() bytes
//!     AuthChallenge { digest } ──▶ the caller's key signs ──▶ handle_signature
//! ```
//!
//! A transport (QUIC, or anything that carries one ordered byte stream and exports a TLS keying
//! value) moves bytes between the stream and a [`ClientConnection`]; the connection decides what
//! a frame means, which request it answers, when a request has timed out, and when the relay has
//! broken the protocol. Time is an argument ([`std::time::Instant`]), never read.
//!
//! The public interface is the `pub use` block below: the routing names ([`Address`],
//! [`MessageId`]), relay authentication ([`auth`]: the statement, its signing through an
//! [`AuthSigner`], its check), the typed frames ([`ServerFrame`], [`ServerMessage`],
//! [`Delivery`], [`Refusal`], [`ClientRequest`]), the client's connection machine
//! ([`ClientConnection`] with its config, events, replies and errors), and
//! [`certificate_fingerprint`], the value a client pins.
//!
//! ```
//! use std::time::Instant;
//!
//! use remit_relay_proto::{Address, ClientConfig, ClientConnection, Event};
//!
//! let now = Instant::now();
//! let me = Address::new([7; 32]);
//! // The exporter comes from the TLS session (label EXPORTER-remit-relay-auth).
//! let mut relay = ClientConnection::new(me, [0; 32], ClientConfig::new("example/1"), now);
//! let hello = relay.poll_transmit().expect("a Hello to write to the stream");
//! assert!(hello.len() > 4);
//! // Nothing arrives in time: authentication fails, typed, and nothing is left pending.
//! relay.handle_timeout(relay.poll_timeout().expect("an auth deadline"));
//! assert!(matches!(relay.poll_event(), Some(Event::Closed(_))));
//! ```
#![forbid(unsafe_code)]

pub mod auth;
mod client;
mod frame;
mod ids;

// The public interface is:
pub use auth::AuthSigner;
pub use client::{
    ClientConfig, ClientConnection, ConnectionError, Event, MAX_IN_FLIGHT_REQUESTS, NoChallenge,
    Reply, RequestError, RequestId, RequestRefused, Violation,
};
pub use frame::{
    ClientRequest, Delivery, FRAME_VERSION, FrameError, Refusal, ServerFrame, ServerMessage,
};
pub use ids::{Address, LengthError, MessageId};

/// The ALPN protocol id of the relay protocol.
pub const ALPN: &[u8] = b"remit/1";

/// The QUIC ACK-frequency threshold that both a relay and its clients ask of the peer
/// (spec/relay.md §1): acknowledge after more than this many ack-eliciting packets. Transport
/// tuning only; it never changes what a frame means.
pub const ACK_ELICITING_THRESHOLD: u32 = 4;

/// The SHA-256 of a relay certificate (DER): what a client pins, and what the relay prints.
#[must_use]
pub fn certificate_fingerprint(der: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(der).into()
}
