//! The Remit relay client: the QUIC shell around remit-relay-proto's [`ClientConnection`].
//!
//! ```text
//!   Client::connect ── QUIC (pinned certificate, ALPN remit/1, one stream) ── relay
//!      │ requests (&self, many in flight)          ▲ bytes
//!      ▼                                           │
//!   driver task ── handle_input / poll_transmit / handle_timeout ── ClientConnection
//!      │ events                                      (every protocol decision)
//!      ▼
//!   Events (deliveries, queue empty) ── the app acknowledges once its effect is durable
//! ```
//!
//! This crate moves bytes and runs timers; [`remit_relay_proto::ClientConnection`] decides what
//! they mean. It holds no key: authentication hands the caller a digest to sign
//! ([`Client::begin`], [`Challenge::authenticate`]), or asks an [`AuthSigner`] for the
//! signature ([`Client::connect`]). It does not depend on the relay server.
//!
//! The public interface is the `pub use` block below: [`Client`] with its [`Challenge`],
//! [`Event`]s and [`Events`], [`RelayError`], [`client_endpoint`], the QUIC settings a client
//! uses ([`ack_frequency`], [`KEEP_ALIVE`], [`SERVER_NAME`]), and the protocol types it passes
//! through ([`Address`], [`MessageId`], [`Delivery`], [`ClientConfig`], [`AuthSigner`]). A raw
//! frame connection for hostile-client tests is in `internal` (feature `internal`).
//!
//! [`ClientConnection`]: remit_relay_proto::ClientConnection
#![forbid(unsafe_code)]

mod client;
mod error;
#[cfg(feature = "internal")]
mod raw;
mod tls;

/// Entry points for tests, behind the `internal` feature. Not part of the API.
#[cfg(feature = "internal")]
pub mod internal {
    pub use crate::raw::RawConnection;
}

// The public interface is:
pub use client::{Challenge, Client, Event, Events, MAX_QUEUED_EVENTS};
pub use error::RelayError;
pub use remit_relay_proto::{Address, AuthSigner, ClientConfig, Delivery, MessageId, Refusal};
pub use tls::{KEEP_ALIVE, SERVER_NAME, ack_frequency, client_endpoint};
