//! The relay's own limits. Wire limits (frame, envelope, prekeys per publish, acks per frame)
//! are `remit_wire::limits`; these bound what the relay stores and how fast a peer may ask.
//! spec/relay.md quotes the same names. Defaults are the `DEFAULT_*` constants; an operator
//! may change the configurable ones in `relay.toml` ([`Limits`]).

use serde::Deserialize;

/// Default per-recipient mailbox count quota. 10,000 envelopes is weeks of heavy use for one
/// person; past it the sender gets `QUOTA` and may retry later.
pub const DEFAULT_MAILBOX_MAX_COUNT: u64 = 10_000;

/// Default per-recipient mailbox byte quota: 256 MiB. At most `MAX_ENVELOPE_LEN` (≈ 64 KiB) per
/// envelope this is ≥ 4,000 maximal envelopes; most envelopes are 1 KiB.
pub const DEFAULT_MAILBOX_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// Default envelope lifetime: 30 days (Signal-Server's sample configuration uses the same).
pub const DEFAULT_TTL_SECS: u64 = 30 * 86_400;

/// Most one-time prekeys the relay holds per identity; equals remit-session's
/// `MAX_ONE_TIME_PREKEYS`, the most an account can generate.
pub const MAX_STORED_ONE_TIME_PREKEYS: u32 = 1_000;

/// Malformed, oversized or forbidden frames a connection may send before it is closed. One or
/// two can be a client bug worth an error message; more is abuse.
pub const MAX_STRIKES: u32 = 3;

/// Requests (frames that need the store) one connection may have in flight. Past it the relay
/// stops reading the stream (QUIC flow control pushes back on the client), so memory per
/// connection is bounded; 256 matches Signal-Server's in-flight delivery window.
pub const MAX_IN_FLIGHT_REQUESTS: usize = 256;

/// Envelopes read from the store per delivery batch. Bounds relay memory per connection
/// during a backlog drain, independent of the queue's length.
pub const DELIVERY_BATCH: usize = 256;

/// Longest `Hello.agent` string, bytes (relay.proto).
pub const MAX_AGENT_LEN: usize = 64;

/// Longest `Error.detail` string, bytes (relay.proto).
pub const MAX_ERROR_DETAIL_LEN: usize = 256;

/// Default cap on simultaneous connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16_384;

/// Rate-limiter entries (identities or addresses) tracked at once; buckets that are full again
/// are forgotten first. Bounds the limiter's memory (about 64 bytes per entry).
pub const MAX_TRACKED_BUCKETS: usize = 200_000;

/// Expired envelopes deleted per purge transaction, so a purge never holds the writer long.
pub const PURGE_BATCH: u32 = 10_000;

/// A token bucket: `burst` tokens, refilled at `per_second`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// Bucket size: requests allowed at once after a quiet period.
    pub burst: u32,
    /// Sustained requests per second.
    pub per_second: u32,
}

/// Configurable limits (`[limits]` in relay.toml). Every field has a default.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest envelope accepted, bytes; at most `remit_wire::limits::MAX_ENVELOPE_LEN`.
    pub max_envelope_len: usize,
    /// Per-recipient count quota.
    pub mailbox_max_count: u64,
    /// Per-recipient byte quota.
    pub mailbox_max_bytes: u64,
    /// Envelope lifetime, seconds.
    pub ttl_secs: u64,
    /// Requests (publish, fetch, send) per authenticated identity.
    pub identity_rate: Rate,
    /// Requests per client IP address, over all its connections.
    pub address_rate: Rate,
    /// Bundle fetches per authenticated identity (each may consume a one-time prekey).
    pub fetch_rate: Rate,
    /// New connections per client IP address.
    pub connect_rate: Rate,
    /// Simultaneous connections.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_envelope_len: remit_wire::limits::MAX_ENVELOPE_LEN,
            mailbox_max_count: DEFAULT_MAILBOX_MAX_COUNT,
            mailbox_max_bytes: DEFAULT_MAILBOX_MAX_BYTES,
            ttl_secs: DEFAULT_TTL_SECS,
            // A person's client sends in bursts (a backlog after being offline) and rarely
            // sustains more than a few messages a second.
            identity_rate: Rate {
                burst: 1_000,
                per_second: 200,
            },
            // Many clients may share an address (NAT, a developer's test run on loopback).
            address_rate: Rate {
                burst: 20_000,
                per_second: 10_000,
            },
            // Each fetch can burn a one-time prekey: Signal allows 6 per 10 minutes per pair;
            // this is per requester, and generous enough for a test suite.
            fetch_rate: Rate {
                burst: 100,
                per_second: 2,
            },
            connect_rate: Rate {
                burst: 200,
                per_second: 50,
            },
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl Limits {
    /// Clamps values an operator cannot raise past the wire limits.
    #[must_use]
    pub fn clamped(mut self) -> Self {
        self.max_envelope_len = self
            .max_envelope_len
            .min(remit_wire::limits::MAX_ENVELOPE_LEN);
        self
    }
}
