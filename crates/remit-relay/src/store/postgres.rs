//! The shared backend: PostgreSQL through `tokio-postgres`, for several relay nodes on one
//! database (spec/relay.md §9).
//!
//! ```text
//!  enqueue/ack/publish/take/purge ──(Job, shard = hash(key))──▶ writer k (one connection each):
//!        BEGIN; jobs sorted by (lock class, key); one pg_notify for the woken recipients; COMMIT
//!        then every caller gets its answer (group commit, as the SQLite writer)
//!  fetch / counts ──▶ reader connections, round robin, pipelined (tokio-postgres)
//!  listener connection: LISTEN remit_wake ──▶ Wake hints for the relay's delivery tasks
//! ```
//!
//! *Ordering.* Every operation is routed to the writer of its key (the mailbox for enqueue and
//! ack, the owner for publish and take), over an unbounded channel, at call time: operations on
//! one key are applied in call order. Operations on different keys may commit in either order,
//! which nothing can observe (sequences are per mailbox).
//!
//! *Locks.* Every job first locks the row it is about (the mailbox row, or the identity row), and
//! a batch takes its jobs in `(class, key)` order, so transactions of different writers and
//! different nodes lock rows in one global order and cannot deadlock; one-time prekeys are
//! popped with `FOR UPDATE SKIP LOCKED` and purges skip locked rows. A deadlock or
//! serialization failure (possible with a purge, or on engines that run SERIALIZABLE) rolls the
//! batch back and runs it again.
//!
//! *Failures.* A job that fails on its own (quota, too many prekeys, an unexpected SQL error in
//! its statements) rolls the transaction back, gets its error, and the rest of the batch runs
//! again without it. A connection lost before `COMMIT` was sent is reopened once and the batch
//! retried; lost during `COMMIT`, the outcome is unknown and every job of the batch gets an error
//! (a client retries its `Send` with the same message id, which is idempotent).
//!
//! *Why our own small pool and not deadpool-postgres.* The writers are long-lived connections
//! owned by one task each (the batch loop), the listener needs the connection's message stream
//! (which a pool hides), and readers gain nothing from exclusive checkout because tokio-postgres
//! pipelines concurrent queries on one connection. What is left is "a few slots, reconnect when
//! closed", about thirty lines, without another dependency.

mod backend;
mod listen;
mod schema;
mod writer;

pub use backend::Backend;

use std::{
    hash::{BuildHasher as _, Hasher as _},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use remit_wire::session::IdentityKey;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_postgres::{Client, Config, NoTls, Statement, error::SqlState};

use super::{
    Enqueued, IdentityId, MailboxStats, NewEnvelope, OwnerCounts, Publication, Quota, Store,
    StoreError, StoredBundle, StoredEnvelope,
};

pub use schema::SCHEMA_VERSION as POSTGRES_SCHEMA_VERSION;

/// Most jobs one writer commits in one transaction.
pub const POSTGRES_MAX_BATCH: usize = 1024;

/// The `LISTEN`/`NOTIFY` channel for cross-node wake-ups.
pub const WAKE_CHANNEL: &str = "remit_wake";

/// A hint that a mailbox may have new envelopes. The store stays the truth: a delivery task
/// that gets a hint re-reads its mailbox from its last sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// This identity's mailbox got an envelope (committed, possibly on another node).
    Identity(IdentityId),
    /// Hints may have been missed (the listener reconnected, or a receiver lagged): every
    /// delivery task should re-read.
    All,
}

/// Tuning of a [`PostgresStore`]. In a URL given to [`PostgresStore::connect_url`], the query
/// parameters `remit_writers`, `remit_readers`, `remit_notify` (`on`/`off`) and `remit_poll_ms`
/// set these and are removed before the URL reaches the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PostgresOptions {
    /// Writer connections (each with its own group-commit loop), 1 to 64. Default 4.
    pub writers: usize,
    /// Reader connections for fetch and counts, 1 to 64. Default 2.
    pub readers: usize,
    /// Send `NOTIFY` on commit and `LISTEN` for other nodes' commits. Default on; turn it off
    /// for a PostgreSQL-compatible engine without `LISTEN`/`NOTIFY` (then lower `poll`).
    pub notify: bool,
    /// How often each delivery task re-reads its mailbox without a hint: the safety net under
    /// the hints. Default 30 s with `notify`, 500 ms without.
    pub poll: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            writers: 4,
            readers: 2,
            notify: true,
            poll: Duration::from_secs(30),
        }
    }
}

impl PostgresOptions {
    /// Splits the `remit_*` parameters off a `postgres://` URL.
    ///
    /// # Errors
    /// [`StoreError::Config`] for an unknown `remit_*` parameter or a bad value.
    pub fn from_url(url: &str) -> Result<(String, Self), StoreError> {
        let mut options = Self::default();
        let Some((base, query)) = url.split_once('?') else {
            return Ok((url.to_owned(), options));
        };
        let mut kept = Vec::new();
        let mut poll_set = false;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let number = || {
                value
                    .parse::<u64>()
                    .map_err(|_| StoreError::Config(format!("{key}: not a number: {value}")))
            };
            match key {
                "remit_writers" => options.writers = clamp_conns(number()?),
                "remit_readers" => options.readers = clamp_conns(number()?),
                "remit_poll_ms" => {
                    options.poll = Duration::from_millis(number()?.max(10));
                    poll_set = true;
                }
                "remit_notify" => {
                    options.notify = match value {
                        "on" | "true" | "1" => true,
                        "off" | "false" | "0" => false,
                        _ => return Err(StoreError::Config(format!("remit_notify: {value}"))),
                    };
                }
                k if k.starts_with("remit_") => {
                    return Err(StoreError::Config(format!("unknown parameter {k}")));
                }
                _ => kept.push(pair),
            }
        }
        if !options.notify && !poll_set {
            options.poll = Duration::from_millis(500);
        }
        let url = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        Ok((url, options))
    }
}

fn clamp_conns(n: u64) -> usize {
    usize::try_from(n.clamp(1, 64)).unwrap_or(1)
}

/// The PostgreSQL store. Cheap to clone; writers finish the jobs they were given and close when
/// the last clone is dropped.
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<Config>,
    options: PostgresOptions,
    writers: Vec<mpsc::UnboundedSender<writer::Job>>,
    readers: Vec<Mutex<Option<Arc<ReadConn>>>>,
    next_reader: AtomicUsize,
    wake: broadcast::Sender<Wake>,
    hasher: std::collections::hash_map::RandomState,
    /// Dropped with the store: stops the listener.
    _closed: watch::Sender<()>,
}

impl core::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

/// The node's random tag in `NOTIFY` payloads, so a node skips its own hints (it already woke
/// its local connections directly).
type NodeTag = [u8; 8];

impl PostgresStore {
    /// Connects with the `remit_*` URL parameters of [`PostgresOptions::from_url`].
    ///
    /// # Errors
    /// As [`PostgresStore::connect`].
    pub async fn connect_url(url: &str) -> Result<Self, StoreError> {
        let (url, options) = PostgresOptions::from_url(url)?;
        Self::connect(&url, options).await
    }

    /// Connects, brings the schema to the current version, opens the writers and, with
    /// `options.notify`, starts listening for other nodes' commits. Must be called within a
    /// tokio runtime, which then runs the store's tasks.
    ///
    /// # Errors
    /// [`StoreError::Config`] for a bad URL; [`StoreError::Postgres`] if the database cannot be
    /// reached or migrated; [`StoreError::UnknownSchema`] for a database from a newer version.
    pub async fn connect(url: &str, options: PostgresOptions) -> Result<Self, StoreError> {
        let mut config: Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| StoreError::Config(e.to_string()))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        if config.get_application_name().is_none() {
            config.application_name("remit-relay");
        }
        let config = Arc::new(config);
        let first = connect(&config).await?;
        schema::migrate(&first).await?;
        let mut tag: NodeTag = [0; 8];
        rand::Rng::fill_bytes(&mut rand::rng(), &mut tag);
        let (closed, closed_rx) = watch::channel(());
        let (wake, _) = broadcast::channel(4096);
        let mut writers = Vec::with_capacity(options.writers);
        let mut first = Some(first);
        for k in 0..options.writers.max(1) {
            let conn = match first.take() {
                Some(c) => writer::WriterConn::prepare(c).await?,
                None => writer::WriterConn::connect(&config).await?,
            };
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(writer::writer_loop(
                Arc::clone(&config),
                conn,
                rx,
                options.notify.then_some(tag),
                k,
            ));
            writers.push(tx);
        }
        if options.notify {
            tokio::spawn(listen::listen_loop(
                Arc::clone(&config),
                wake.clone(),
                closed_rx,
                tag,
            ));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                readers: (0..options.readers.max(1))
                    .map(|_| Mutex::new(None))
                    .collect(),
                options,
                writers,
                next_reader: AtomicUsize::new(0),
                wake,
                hasher: std::collections::hash_map::RandomState::new(),
                _closed: closed,
            }),
        })
    }

    /// The options in effect.
    #[must_use]
    pub fn options(&self) -> &PostgresOptions {
        &self.inner.options
    }

    /// Hints that mailboxes got envelopes on any node (with `notify`), for delivery tasks. A
    /// lagging receiver should treat `RecvError::Lagged` as [`Wake::All`].
    #[must_use]
    pub fn wakeups(&self) -> broadcast::Receiver<Wake> {
        self.inner.wake.subscribe()
    }

    /// Envelopes queued in all mailboxes (the metrics' queue depth).
    pub fn queued_total(
        &self,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send + 'static + use<> {
        let reader = self.reader();
        async move {
            let c = reader.await?;
            let row = c
                .client
                .query_one(
                    "SELECT CAST(COALESCE(SUM(queued_count), 0) AS BIGINT) FROM mailboxes",
                    &[],
                )
                .await
                .map_err(|e| pg_error(&e))?;
            from_sql(row.try_get(0).map_err(|e| pg_error(&e))?)
        }
    }

    fn submit(
        &self,
        key: Option<&[u8; 32]>,
        op: writer::Op,
    ) -> oneshot::Receiver<Result<writer::Outcome, StoreError>> {
        let (reply, rx) = oneshot::channel();
        let n = self.inner.writers.len();
        let shard = match key {
            Some(k) if n > 1 => {
                let mut h = self.inner.hasher.build_hasher();
                h.write(k);
                usize::try_from(h.finish() % n as u64).unwrap_or(0)
            }
            _ => 0,
        };
        if let Some(w) = self.inner.writers.get(shard) {
            // A send error means the writer is gone; `reply` is dropped and the caller sees
            // `Closed`.
            let _ = w.send(writer::Job { op, reply });
        }
        rx
    }

    fn reader(
        &self,
    ) -> impl Future<Output = Result<Arc<ReadConn>, StoreError>> + Send + 'static + use<> {
        let inner = Arc::clone(&self.inner);
        async move {
            let n = inner.readers.len().max(1);
            let slot = inner.next_reader.fetch_add(1, Ordering::Relaxed) % n;
            let current = inner
                .readers
                .get(slot)
                .and_then(|m| m.lock().ok().and_then(|g| g.clone()));
            if let Some(c) = current
                && !c.client.is_closed()
            {
                return Ok(c);
            }
            let conn = Arc::new(ReadConn::connect(&inner.config).await?);
            if let Some(m) = inner.readers.get(slot)
                && let Ok(mut g) = m.lock()
            {
                *g = Some(Arc::clone(&conn));
            }
            Ok(conn)
        }
    }
}

/// Opens one session with the settings every connection needs.
async fn connect(config: &Config) -> Result<Client, StoreError> {
    let (client, connection) = config.connect(NoTls).await.map_err(|e| pg_error(&e))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "postgres connection ended");
        }
    });
    // Durable before acknowledged, whatever the server's default: COMMIT returns only after
    // the WAL is flushed. An engine without this setting (42704) is durable by design.
    match client.batch_execute("SET synchronous_commit TO on").await {
        Ok(()) => {}
        Err(e) if e.code() == Some(&SqlState::UNDEFINED_OBJECT) => {
            tracing::warn!("engine has no synchronous_commit setting; relying on its defaults");
        }
        Err(e) => return Err(pg_error(&e)),
    }
    Ok(client)
}

/// A reader connection with its statements.
struct ReadConn {
    client: Client,
    fetch: Statement,
    count_otk: Statement,
    mailbox: Statement,
}

impl ReadConn {
    async fn connect(config: &Config) -> Result<Self, StoreError> {
        let client = connect(config).await?;
        let (fetch, count_otk, mailbox) = tokio::try_join!(
            client.prepare(
                "SELECT seq, sender, message_id, body, received_at FROM envelopes
                 WHERE recipient = $1 AND seq > $2 AND expires_at > $3 ORDER BY seq LIMIT $4",
            ),
            client.prepare(COUNT_OTK),
            client.prepare("SELECT queued_count, queued_bytes FROM mailboxes WHERE recipient = $1"),
        )
        .map_err(|e| pg_error(&e))?;
        Ok(Self {
            client,
            fetch,
            count_otk,
            mailbox,
        })
    }
}

const COUNT_OTK: &str = "SELECT count(*) FROM one_time_prekeys WHERE owner = $1";

impl Store for PostgresStore {
    fn enqueue(
        &self,
        envelope: NewEnvelope,
        quota: Quota,
    ) -> impl Future<Output = Result<Enqueued, StoreError>> + Send + 'static {
        let key = envelope.recipient;
        let rx = self.submit(Some(&key), writer::Op::Enqueue(envelope, quota));
        async move {
            match answer(rx).await? {
                writer::Outcome::Enqueued(e) => Ok(e),
                _ => Err(StoreError::Corrupt("writer answered the wrong job")),
            }
        }
    }

    fn fetch(
        &self,
        recipient: IdentityId,
        after: u64,
        limit: usize,
        now: u64,
    ) -> impl Future<Output = Result<Vec<StoredEnvelope>, StoreError>> + Send + 'static {
        let reader = self.reader();
        async move {
            let c = reader.await?;
            let rec: &[u8] = &recipient;
            let after = i64::try_from(after).unwrap_or(i64::MAX);
            let now = to_sql(now)?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = c
                .client
                .query(&c.fetch, &[&rec, &after, &now, &limit])
                .await
                .map_err(|e| pg_error(&e))?;
            rows.iter()
                .map(|r| {
                    Ok(StoredEnvelope {
                        sequence: from_sql(r.try_get(0).map_err(|e| pg_error(&e))?)?,
                        sender: array(r.try_get(1).map_err(|e| pg_error(&e))?, "sender")?,
                        message_id: array(r.try_get(2).map_err(|e| pg_error(&e))?, "message_id")?,
                        body: r.try_get(3).map_err(|e| pg_error(&e))?,
                        received_at: from_sql(r.try_get(4).map_err(|e| pg_error(&e))?)?,
                    })
                })
                .collect()
        }
    }

    fn ack(
        &self,
        recipient: IdentityId,
        sequences: Vec<u64>,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send + 'static {
        let rx = self.submit(Some(&recipient), writer::Op::Ack(recipient, sequences));
        async move {
            match answer(rx).await? {
                writer::Outcome::Count(n) => Ok(u32::try_from(n).unwrap_or(u32::MAX)),
                _ => Err(StoreError::Corrupt("writer answered the wrong job")),
            }
        }
    }

    fn purge_expired(
        &self,
        now: u64,
        limit: u32,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send + 'static {
        let rx = self.submit(None, writer::Op::Purge(now, limit));
        async move {
            match answer(rx).await? {
                writer::Outcome::Count(n) => Ok(n),
                _ => Err(StoreError::Corrupt("writer answered the wrong job")),
            }
        }
    }

    fn publish(
        &self,
        publication: Publication,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send + 'static {
        let key = publication.identity.signing_key;
        let rx = self.submit(Some(&key), writer::Op::Publish(publication));
        async move {
            match answer(rx).await? {
                writer::Outcome::Count(n) => Ok(u32::try_from(n).unwrap_or(u32::MAX)),
                _ => Err(StoreError::Corrupt("writer answered the wrong job")),
            }
        }
    }

    fn take_bundle(
        &self,
        owner: IdentityId,
    ) -> impl Future<Output = Result<Option<StoredBundle>, StoreError>> + Send + 'static {
        let rx = self.submit(Some(&owner), writer::Op::TakeBundle(owner));
        async move {
            match answer(rx).await? {
                writer::Outcome::Bundle(b) => Ok(b.map(|b| *b)),
                _ => Err(StoreError::Corrupt("writer answered the wrong job")),
            }
        }
    }

    fn counts(
        &self,
        owner: IdentityId,
    ) -> impl Future<Output = Result<OwnerCounts, StoreError>> + Send + 'static {
        let reader = self.reader();
        async move {
            let c = reader.await?;
            let key: &[u8] = &owner;
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&key];
            let (otk, mailbox) = tokio::try_join!(
                c.client.query_one(&c.count_otk, &params),
                c.client.query_opt(&c.mailbox, &params),
            )
            .map_err(|e| pg_error(&e))?;
            let otk: i64 = otk.try_get(0).map_err(|e| pg_error(&e))?;
            let mailbox = match mailbox {
                Some(r) => MailboxStats {
                    count: from_sql(r.try_get(0).map_err(|e| pg_error(&e))?)?,
                    bytes: from_sql(r.try_get(1).map_err(|e| pg_error(&e))?)?,
                },
                None => MailboxStats::default(),
            };
            Ok(OwnerCounts {
                one_time_prekeys: u32::try_from(otk).unwrap_or(u32::MAX),
                mailbox,
            })
        }
    }
}

async fn answer(
    rx: oneshot::Receiver<Result<writer::Outcome, StoreError>>,
) -> Result<writer::Outcome, StoreError> {
    rx.await.map_err(|_| StoreError::Closed)?
}

/// A driver error as a store error (the message and SQLSTATE, never parameters).
pub(super) fn pg_error(e: &tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => StoreError::Postgres(format!(
            "{} {} ({})",
            db.severity(),
            db.message(),
            db.code().code()
        )),
        None => {
            let source = std::error::Error::source(e).map(ToString::to_string);
            StoreError::Postgres(match source {
                Some(s) => format!("{e}: {s}"),
                None => e.to_string(),
            })
        }
    }
}

fn identity_key(
    owner: &IdentityId,
    agreement_key: &[u8],
    binding_signature: &[u8],
) -> Result<IdentityKey, StoreError> {
    Ok(IdentityKey {
        signing_key: *owner,
        agreement_key: array(agreement_key, "identities.agreement_key")?,
        binding_signature: array(binding_signature, "identities.binding_signature")?,
    })
}

fn array<const N: usize>(bytes: &[u8], what: &'static str) -> Result<[u8; N], StoreError> {
    <[u8; N]>::try_from(bytes).map_err(|_| StoreError::Corrupt(what))
}

fn to_sql(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt("integer above i64::MAX"))
}

fn from_sql(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt("negative integer"))
}
