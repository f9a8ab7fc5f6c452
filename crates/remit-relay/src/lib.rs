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
//! `PUSH_QUEUE_BYTES` (256 KiB) or a hint from another node they read the store again. The
//! store is the truth and the hand-over a shortcut, so relay memory is bounded per connection
//! and does not grow with queue length.
//!
//! The public interface is the `pub use` block below: [`Relay`] and [`RelayConfig`] to run a
//! relay (and [`ServerError`] when it cannot start), [`limits`] with [`Limits`](limits::Limits)
//! and the named caps, [`Metrics`], the certificate helpers and [`ALPN`]. The relay *client*
//! is not here: it is `remit-relay-client`, over the sans-IO `remit-relay-proto`, which this
//! crate shares for authentication, so no client compiles the server. The per-connection core,
//! the store backends and their conformance suite, the rate limiter and the QUIC tuning are
//! reachable only through the `internal` module, with the `internal` feature, for this crate's
//! tests, `fuzz/` and the load generator.
#![forbid(unsafe_code)]

// Modules whose `pub` items are reachable only through `internal` (feature `internal`); without
// it they are crate-private in effect.
#[cfg_attr(not(feature = "internal"), allow(unreachable_pub))]
mod core;
pub mod limits;
mod metrics;
#[cfg_attr(not(feature = "internal"), allow(unreachable_pub))]
mod rate;
#[cfg_attr(not(feature = "internal"), allow(unreachable_pub))]
mod server;
#[cfg_attr(not(feature = "internal"), allow(unreachable_pub))]
mod store;
#[cfg(any(test, feature = "internal"))]
mod testkit;

/// Entry points for tests, fuzzing and the load generator, behind the `internal` feature. Not
/// part of the API.
#[cfg(feature = "internal")]
pub mod internal;

// The public interface is:
pub use metrics::Metrics;
pub use server::{
    Relay, RelayConfig, ServerError, certificate_fingerprint, load_or_generate_certificate,
};
pub use store::StoreError;

pub use remit_relay_proto::ALPN;
