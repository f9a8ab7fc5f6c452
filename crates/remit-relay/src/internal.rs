//! Entry points for this crate's tests, `fuzz/` and the load generator in `benches/relay-load`.
//!
//! **Not part of the API.** Compiled only with the `internal` feature, which the crate's own
//! dev-dependency on itself, `fuzz/` and `relay-load` turn on; an app or an operator never does,
//! and no semver promise covers anything here. It holds the sans-IO per-connection core (driven
//! by the `relay_core` fuzz target), the store trait with its backends and the conformance suite
//! that every backend passes, the rate limiter, the QUIC tuning and the test identities.
//! Relay authentication is `remit_relay_proto::auth`.

/// The sans-IO per-connection core.
pub mod core {
    pub use crate::core::*;
}

/// Token buckets.
pub mod rate {
    pub use crate::rate::*;
}

/// The store trait, the SQLite and PostgreSQL backends, and the conformance suite.
pub mod store {
    pub use crate::store::*;
}

/// Seeded test identities built by remit-session.
pub mod testkit {
    pub use crate::testkit::*;
}

pub use crate::server::{PUSH_QUEUE_BYTES, ack_frequency, transport_config};
