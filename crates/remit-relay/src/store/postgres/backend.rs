//! [`Backend`]: the store a relay process runs on, chosen at start (`--store`).

use std::{pin::Pin, time::Duration};

use tokio::sync::broadcast;

use super::{PostgresStore, Wake};
use crate::store::{
    Enqueued, IdentityId, NewEnvelope, OwnerCounts, Publication, Quota, SqliteStore, Store,
    StoreError, StoredBundle, StoredEnvelope,
};

type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'static>>;

/// The embedded SQLite file (one node) or a shared PostgreSQL database (several nodes). Each
/// operation costs one boxed future on top of the backend's own; both backends keep their
/// ordering contract because the call is forwarded synchronously.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Backend {
    /// [`SqliteStore`].
    Sqlite(SqliteStore),
    /// [`PostgresStore`].
    Postgres(PostgresStore),
}

impl Backend {
    /// Envelopes queued in all mailboxes (the metrics' queue depth).
    pub fn queued_total(&self) -> BoxFuture<u64> {
        match self {
            Self::Sqlite(s) => Box::pin(s.queued_total()),
            Self::Postgres(p) => Box::pin(p.queued_total()),
        }
    }

    /// Wake-up hints from other nodes (`None` for a single-node backend).
    #[must_use]
    pub fn wakeups(&self) -> Option<broadcast::Receiver<Wake>> {
        match self {
            Self::Sqlite(_) => None,
            Self::Postgres(p) => Some(p.wakeups()),
        }
    }

    /// How often a delivery task re-reads its mailbox without a wake-up (`None`: only when
    /// woken, which is exact on a single node).
    #[must_use]
    pub fn poll_interval(&self) -> Option<Duration> {
        match self {
            Self::Sqlite(_) => None,
            Self::Postgres(p) => Some(p.options().poll),
        }
    }
}

macro_rules! forward {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match $self {
            Self::Sqlite(s) => Box::pin(s.$method($($arg),*)),
            Self::Postgres(p) => Box::pin(p.$method($($arg),*)),
        }
    };
}

impl Store for Backend {
    fn enqueue(
        &self,
        envelope: NewEnvelope,
        quota: Quota,
    ) -> impl Future<Output = Result<Enqueued, StoreError>> + Send + 'static {
        let f: BoxFuture<Enqueued> = forward!(self.enqueue(envelope, quota));
        f
    }

    fn fetch(
        &self,
        recipient: IdentityId,
        after: u64,
        limit: usize,
        now: u64,
    ) -> impl Future<Output = Result<Vec<StoredEnvelope>, StoreError>> + Send + 'static {
        let f: BoxFuture<Vec<StoredEnvelope>> = forward!(self.fetch(recipient, after, limit, now));
        f
    }

    fn ack(
        &self,
        recipient: IdentityId,
        sequences: Vec<u64>,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send + 'static {
        let f: BoxFuture<u32> = forward!(self.ack(recipient, sequences));
        f
    }

    fn purge_expired(
        &self,
        now: u64,
        limit: u32,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send + 'static {
        let f: BoxFuture<u64> = forward!(self.purge_expired(now, limit));
        f
    }

    fn publish(
        &self,
        publication: Publication,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send + 'static {
        let f: BoxFuture<u32> = forward!(self.publish(publication));
        f
    }

    fn take_bundle(
        &self,
        owner: IdentityId,
    ) -> impl Future<Output = Result<Option<StoredBundle>, StoreError>> + Send + 'static {
        let f: BoxFuture<Option<StoredBundle>> = forward!(self.take_bundle(owner));
        f
    }

    fn counts(
        &self,
        owner: IdentityId,
    ) -> impl Future<Output = Result<OwnerCounts, StoreError>> + Send + 'static {
        let f: BoxFuture<OwnerCounts> = forward!(self.counts(owner));
        f
    }
}
