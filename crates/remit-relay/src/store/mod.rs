//! Durable storage behind the relay: mailboxes and the prekey directory.
//!
//! The [`Store`] trait is what the relay needs from a backend; [`SqliteStore`] is the embedded
//! default, [`PostgresStore`] the shared one for several relay nodes, and [`conformance`] is the
//! test suite every backend must pass.
//!
//! # Why the trait is async
//!
//! A `Send` is acknowledged only after its envelope is durable, and durability costs an fsync
//! (0.2–1.3 ms on this class of machine). With group commit, thousands of connections wait on
//! the *same* fsync; an async API lets them wait without holding a thread each, where a
//! synchronous API would park one tokio worker (of two, here) per waiting request. The
//! PostgreSQL backend is natively async (tokio-postgres) and fits the same shape.
//! Every method returns a `'static` future so the relay can spawn it.
//!
//! # Ordering contract
//!
//! An operation is *submitted* when the method is called, not when its future is first polled.
//! Two calls made one after the other from the same task are applied in call order. The relay
//! relies on this to keep one sender's pipelined envelopes in order in the recipient's mailbox
//! without waiting for each commit.

use std::future::Future;

use remit_wire::session::{IdentityKey, OneTimePreKey, SignedPreKey};

#[cfg(feature = "internal")]
pub mod conformance;
mod postgres;
mod sqlite;

// Re-exported for `internal` (tests, fuzz/, relay-load); the server names what it uses.
#[cfg_attr(not(feature = "internal"), allow(unused_imports))]
pub use postgres::{
    Backend, POSTGRES_MAX_BATCH, POSTGRES_SCHEMA_VERSION, PostgresOptions, PostgresStore,
    WAKE_CHANNEL, Wake,
};
#[cfg_attr(not(feature = "internal"), allow(unused_imports))]
pub use sqlite::{MAX_BATCH, SqliteStore};

/// An Ed25519 identity signing key: the name of a mailbox and of a directory entry.
pub type IdentityId = [u8; 32];

/// A message id chosen by the sender (`remit_wire::limits::ID_LEN` bytes).
pub type MessageId = [u8; 16];

/// An envelope to store.
#[derive(Clone, PartialEq, Eq)]
pub struct NewEnvelope {
    /// Whose mailbox.
    pub recipient: IdentityId,
    /// The authenticated sender.
    pub sender: IdentityId,
    /// The sender's message id; `(recipient, message_id)` is stored at most once.
    pub message_id: MessageId,
    /// The opaque envelope bytes.
    pub body: Vec<u8>,
    /// When the relay accepted it, Unix seconds.
    pub received_at: u64,
    /// When it expires, Unix seconds; it is never delivered at or after this time.
    pub expires_at: u64,
}

impl core::fmt::Debug for NewEnvelope {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NewEnvelope")
            .field("body_len", &self.body.len())
            .field("received_at", &self.received_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Per-recipient mailbox quota, checked atomically with the insert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    /// Most envelopes queued for one recipient.
    pub max_count: u64,
    /// Most envelope bytes queued for one recipient.
    pub max_bytes: u64,
}

/// The result of a successful enqueue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Enqueued {
    /// The envelope's sequence number in the recipient's mailbox (strictly increasing, from 1).
    pub sequence: u64,
    /// True if `(recipient, message_id)` was already queued; nothing new was stored and
    /// `sequence` is the original one.
    pub duplicate: bool,
}

/// A queued envelope, as read back for delivery.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredEnvelope {
    /// Its sequence number in the mailbox.
    pub sequence: u64,
    /// The authenticated sender.
    pub sender: IdentityId,
    /// The sender's message id.
    pub message_id: MessageId,
    /// The envelope bytes.
    pub body: Vec<u8>,
    /// When the relay accepted it, Unix seconds.
    pub received_at: u64,
}

impl core::fmt::Debug for StoredEnvelope {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StoredEnvelope")
            .field("sequence", &self.sequence)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// How much a mailbox holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MailboxStats {
    /// Envelopes queued.
    pub count: u64,
    /// Envelope bytes queued.
    pub bytes: u64,
}

/// A prekey publication for one identity, applied atomically.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publication {
    /// The identity record (binding already verified by the caller); replaces the stored one.
    pub identity: IdentityKey,
    /// A signed prekey (signature already verified); replaces the stored one. `None` keeps it.
    pub signed_prekey: Option<SignedPreKey>,
    /// One-time prekeys to add. An id already stored for this identity is ignored.
    pub one_time_prekeys: Vec<OneTimePreKey>,
    /// Most one-time prekeys the identity may hold after this publication.
    pub max_one_time_prekeys: u32,
    /// When, Unix seconds.
    pub now: u64,
}

/// A bundle handed out by [`Store::take_bundle`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBundle {
    /// The owner's identity record.
    pub identity: IdentityKey,
    /// The owner's current signed prekey.
    pub signed_prekey: SignedPreKey,
    /// One one-time prekey, now deleted from the store, or `None` if none were left.
    pub one_time_prekey: Option<OneTimePreKey>,
}

/// Counts an owner learns at authentication.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OwnerCounts {
    /// One-time prekeys left in the directory.
    pub one_time_prekeys: u32,
    /// The owner's mailbox.
    pub mailbox: MailboxStats,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The recipient's mailbox would exceed its quota; nothing was stored.
    #[error(
        "mailbox full: {count} envelopes, {bytes} bytes queued (limits {max_count}, {max_bytes})"
    )]
    QuotaExceeded {
        /// Envelopes queued now.
        count: u64,
        /// Bytes queued now.
        bytes: u64,
        /// The count limit.
        max_count: u64,
        /// The byte limit.
        max_bytes: u64,
    },
    /// The publication would leave more one-time prekeys than allowed; nothing was stored.
    #[error("too many one-time prekeys: {would_have} (limit {max})")]
    TooManyPreKeys {
        /// How many the identity would hold.
        would_have: u64,
        /// The limit.
        max: u32,
    },
    /// The store was shut down.
    #[error("store is closed")]
    Closed,
    /// Stored data did not have the shape this version writes.
    #[error("corrupt row: {0}")]
    Corrupt(&'static str),
    /// The SQLite backend failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The PostgreSQL backend failed (the server's message and SQLSTATE, or the driver's).
    #[error("postgres: {0}")]
    Postgres(String),
    /// The store's configuration (a URL or an option) is invalid.
    #[error("store configuration: {0}")]
    Config(String),
    /// The database was written by a newer schema version.
    #[error("unknown schema version {got} (supported: {supported})")]
    UnknownSchema {
        /// The version found.
        got: i64,
        /// The version this build writes.
        supported: i64,
    },
}

/// What the relay needs from durable storage. See the module docs for the async and ordering
/// contracts; [`conformance`] tests every method.
pub trait Store: Send + Sync + 'static {
    /// Stores an envelope unless `(recipient, message_id)` is already queued. Resolves only
    /// after the envelope is durable.
    ///
    /// # Errors
    /// [`StoreError::QuotaExceeded`] if it would not fit; backend errors.
    fn enqueue(
        &self,
        envelope: NewEnvelope,
        quota: Quota,
    ) -> impl Future<Output = Result<Enqueued, StoreError>> + Send + 'static;

    /// Up to `limit` envelopes of `recipient` with a sequence above `after` that have not
    /// expired at `now`, in sequence order.
    ///
    /// # Errors
    /// Backend errors.
    fn fetch(
        &self,
        recipient: IdentityId,
        after: u64,
        limit: usize,
        now: u64,
    ) -> impl Future<Output = Result<Vec<StoredEnvelope>, StoreError>> + Send + 'static;

    /// Deletes the given envelopes of `recipient` (only that mailbox). Resolves after the
    /// deletion is durable, with how many were present.
    ///
    /// # Errors
    /// Backend errors.
    fn ack(
        &self,
        recipient: IdentityId,
        sequences: Vec<u64>,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send + 'static;

    /// Deletes up to `limit` envelopes that expired at or before `now`; returns how many.
    ///
    /// # Errors
    /// Backend errors.
    fn purge_expired(
        &self,
        now: u64,
        limit: u32,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send + 'static;

    /// Applies a publication atomically; returns the one-time prekeys now held.
    ///
    /// # Errors
    /// [`StoreError::TooManyPreKeys`]; backend errors.
    fn publish(
        &self,
        publication: Publication,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send + 'static;

    /// The owner's bundle, consuming one one-time prekey if any is left: each one-time prekey
    /// is returned by at most one call, ever (also across concurrent calls and crashes).
    /// `None` if the owner has no identity or no signed prekey (nothing is consumed then).
    ///
    /// # Errors
    /// Backend errors.
    fn take_bundle(
        &self,
        owner: IdentityId,
    ) -> impl Future<Output = Result<Option<StoredBundle>, StoreError>> + Send + 'static;

    /// One-time prekeys left and mailbox size for `owner`.
    ///
    /// # Errors
    /// Backend errors.
    fn counts(
        &self,
        owner: IdentityId,
    ) -> impl Future<Output = Result<OwnerCounts, StoreError>> + Send + 'static;
}
