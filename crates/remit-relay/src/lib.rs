//! The Remit relay: a QUIC store-and-forward server with durable mailboxes and a prekey
//! directory. It sees only envelopes (spec/relay.md; threat model in spec/README.md §3.1).
//!
//! ```text
//!   client ──QUIC (ALPN remit/1, TLS 1.3, one bidi stream of length-prefixed frames)──┐
//!                                                                                     ▼
//!   server.rs   quinn shell: accept, TLS exporter, frame codec, delivery task per connection
//!       │  frame bodies, store results ▲ Actions
//!       ▼                              │
//!   core.rs     RelayConnection: sans-IO per-connection rules (auth, ownership, limits)
//!       │ StoreOps
//!       ▼
//!   store/      Store trait · SqliteStore (WAL, FULL, group commit) · conformance suite
//! ```
//!
//! Delivery: after authentication a connection drains its mailbox in sequence order from the
//! store, in pages of [`limits::DELIVERY_BATCH`]. Afterwards every commit of a `Send` to that
//! identity hands the encoded `Deliver` frame to its connections on this relay, which write it
//! if it continues their sequence; on a gap, an overflow of
//! [`server::PUSH_QUEUE_BYTES`] or a hint from another node they read the store again. The
//! store is the truth and the hand-over a shortcut, so relay memory is bounded per connection
//! and does not grow with queue length.
#![forbid(unsafe_code)]

pub mod auth;
pub mod client;
pub mod core;
pub mod limits;
pub mod metrics;
pub mod rate;
pub mod server;
pub mod store;
#[cfg(any(test, feature = "testkit"))]
#[doc(hidden)]
pub mod testkit;

/// The ALPN protocol id of the relay protocol.
pub const ALPN: &[u8] = b"remit/1";
