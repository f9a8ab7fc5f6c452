//! The embedded backend: SQLite in WAL mode with `synchronous=FULL`, one writer thread with
//! group commit, and a small pool of reader connections.
//!
//! ```text
//!  callers ──(Job + oneshot)──▶ writer thread: BEGIN IMMEDIATE
//!                                   each job in call order (Send, Ack: no savepoint;
//!                                   publish, bundle, purge: SAVEPOINT … RELEASE or ROLLBACK TO)
//!                                   the batch's changed mailbox rows, once each
//!                                COMMIT (one fsync for the whole batch)
//!                                   then every caller gets its answer
//!  fetch / counts ──▶ spawn_blocking on a pooled read connection (WAL: readers never block
//!                     the writer and see every committed batch); at most READER_POOL reads
//!                     run at once, the rest wait for a connection instead of opening one
//! ```
//!
//! A refusal (quota, too many prekeys) stores nothing of its job and the rest of the batch
//! commits. Any other failure of a `Send` or `Ack`, or of the COMMIT itself, gives every job of
//! the batch the error and nothing of the batch is acknowledged. The writer keeps the mailbox
//! rows it touched in memory ([`Mailboxes`]), and forgets them when another connection has
//! written to the database.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, mpsc},
    thread::JoinHandle,
    time::Instant,
};

use remit_wire::session::{IdentityKey, OneTimePreKey, SignedPreKey};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use tokio::sync::oneshot;

use crate::metrics::Metrics;

use super::{
    Enqueued, IdentityId, MailboxStats, NewEnvelope, OwnerCounts, Publication, Quota, Store,
    StoreError, StoredBundle, StoredEnvelope,
};

/// Schema version written to `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 1;

/// Most jobs committed in one transaction. Bounds the latency one batch adds to its first job
/// and the memory a batch holds; 1,024 rows per commit is where SQLite's batched rate flattens
/// out (measured on the project's VM: 119–175 k rows/s at 1,000 rows per transaction).
pub const MAX_BATCH: usize = 1024;

/// Reader connections: at most this many reads run at once, each on a connection kept open for
/// reuse. Opening a connection costs far more than a fetch (schema parse, pragmas, statement
/// preparation), so a read waits for a pooled connection rather than opening its own.
const READER_POOL: usize = 4;

/// Prepared statements kept per connection: more than the store has.
const STATEMENT_CACHE: usize = 64;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS mailboxes (
    recipient BLOB PRIMARY KEY,
    next_seq INTEGER NOT NULL,
    count INTEGER NOT NULL,
    bytes INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS envelopes (
    recipient BLOB NOT NULL,
    seq INTEGER NOT NULL,
    message_id BLOB NOT NULL,
    sender BLOB NOT NULL,
    received_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (recipient, seq)
) STRICT;
CREATE UNIQUE INDEX IF NOT EXISTS envelopes_message_id ON envelopes (recipient, message_id);
CREATE INDEX IF NOT EXISTS envelopes_expiry ON envelopes (expires_at);
CREATE TABLE IF NOT EXISTS identities (
    signing_key BLOB PRIMARY KEY,
    agreement_key BLOB NOT NULL,
    binding_signature BLOB NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS signed_prekeys (
    owner BLOB PRIMARY KEY,
    id INTEGER NOT NULL,
    public_key BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    signature BLOB NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS one_time_prekeys (
    owner BLOB NOT NULL,
    id INTEGER NOT NULL,
    public_key BLOB NOT NULL,
    PRIMARY KEY (owner, id)
) STRICT, WITHOUT ROWID;
";

enum Op {
    Enqueue(NewEnvelope, Quota),
    Ack(IdentityId, Vec<u64>),
    Purge(u64, u32),
    Publish(Publication),
    TakeBundle(IdentityId),
}

enum Outcome {
    Enqueued(Enqueued),
    Count(u64),
    Bundle(Option<Box<StoredBundle>>),
}

/// Where a job's answer goes.
type Reply = oneshot::Sender<Result<Outcome, StoreError>>;

struct Job {
    op: Op,
    reply: Reply,
}

/// The SQLite store. Cheap to clone; the writer thread stops (after committing every job it
/// was given) when the last clone is dropped.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    jobs: Option<mpsc::Sender<Job>>,
    writer: Option<JoinHandle<()>>,
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
    /// One permit per reader connection.
    reading: Arc<tokio::sync::Semaphore>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel lets the writer finish the jobs already queued, then exit.
        self.jobs.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl core::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // Every statement this store runs stays prepared (rusqlite's default keeps 16).
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // The bundled SQLite is built with STAT4, under which a statement whose WHERE compares a
    // bound value with an indexed column is compiled again whenever that value changes (every
    // fetch: `seq > ?`, `expires_at > ?`). The store's queries have one right plan; the query
    // planner stability guarantee keeps it and skips the recompilation.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    // The statement journal of a savepoint stays in memory instead of a temporary file.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(())
}

impl SqliteStore {
    #[cfg(any(test, feature = "internal"))]
    /// Opens (creating if needed) the database at `path` and starts the writer thread.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`] if the file cannot be opened or the schema created;
    /// [`StoreError::UnknownSchema`] for a database from a newer version.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with_metrics(path, None)
    }

    /// [`Self::open`], recording every group commit's duration in `metrics`.
    ///
    /// # Errors
    /// As [`Self::open`].
    pub fn open_with_metrics(
        path: impl AsRef<Path>,
        metrics: Option<Arc<Metrics>>,
    ) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let conn = Connection::open(&path)?;
        configure(&conn)?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::UnknownSchema {
                got: version,
                supported: SCHEMA_VERSION,
            });
        }
        conn.execute_batch(SCHEMA)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        let (tx, rx) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("remit-relay-store".into())
            .spawn(move || writer_loop(conn, &rx, metrics.as_deref()))
            .map_err(|_| StoreError::Closed)?;
        Ok(Self {
            inner: Arc::new(Inner {
                jobs: Some(tx),
                writer: Some(writer),
                path,
                readers: Mutex::new(Vec::new()),
                reading: Arc::new(tokio::sync::Semaphore::new(READER_POOL)),
            }),
        })
    }

    /// The database file.
    #[cfg(any(test, feature = "internal"))]
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Envelopes queued in all mailboxes (the metrics' queue depth).
    pub fn queued_total(
        &self,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send + 'static + use<> {
        let this = self.clone();
        async move {
            this.read(|conn| {
                let n: i64 = conn
                    .prepare_cached("SELECT COALESCE(SUM(count), 0) FROM mailboxes")?
                    .query_row([], |r| r.get(0))?;
                from_sql(n)
            })
            .await
        }
    }

    fn submit(&self, op: Op) -> oneshot::Receiver<Result<Outcome, StoreError>> {
        let (reply, rx) = oneshot::channel();
        if let Some(jobs) = &self.inner.jobs {
            // A send error means the writer is gone; `reply` is dropped and the caller sees
            // `Closed`.
            let _ = jobs.send(Job { op, reply });
        }
        rx
    }

    fn read<T, F>(&self, f: F) -> impl Future<Output = Result<T, StoreError>> + Send + 'static
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        async move {
            let permit = Arc::clone(&inner.reading)
                .acquire_owned()
                .await
                .map_err(|_| StoreError::Closed)?;
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                let pooled = inner.readers.lock().ok().and_then(|mut p| p.pop());
                let conn = match pooled {
                    Some(c) => c,
                    None => {
                        let c = Connection::open(&inner.path)?;
                        configure(&c)?;
                        c
                    }
                };
                let result = f(&conn);
                if let Ok(mut pool) = inner.readers.lock()
                    && pool.len() < READER_POOL
                {
                    pool.push(conn);
                }
                result
            })
            .await
            .map_err(|_| StoreError::Closed)?
        }
    }
}

async fn answer(rx: oneshot::Receiver<Result<Outcome, StoreError>>) -> Result<Outcome, StoreError> {
    rx.await.map_err(|_| StoreError::Closed)?
}

impl Store for SqliteStore {
    fn enqueue(
        &self,
        envelope: NewEnvelope,
        quota: Quota,
    ) -> impl Future<Output = Result<Enqueued, StoreError>> + Send + 'static {
        let rx = self.submit(Op::Enqueue(envelope, quota));
        async move {
            match answer(rx).await? {
                Outcome::Enqueued(e) => Ok(e),
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
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT seq, sender, message_id, body, received_at FROM envelopes
                 WHERE recipient = ?1 AND seq > ?2 AND expires_at > ?3 ORDER BY seq LIMIT ?4",
            )?;
            let rows = stmt.query_map(
                params![
                    &recipient[..],
                    to_sql(after)?,
                    to_sql(now)?,
                    to_sql(limit as u64)?
                ],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, Vec<u8>>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                        r.get::<_, Vec<u8>>(3)?,
                        r.get::<_, i64>(4)?,
                    ))
                },
            )?;
            let mut out = Vec::new();
            for row in rows {
                let (seq, sender, message_id, body, received_at) = row?;
                out.push(StoredEnvelope {
                    sequence: from_sql(seq)?,
                    sender: array(&sender, "envelopes.sender")?,
                    message_id: array(&message_id, "envelopes.message_id")?,
                    body,
                    received_at: from_sql(received_at)?,
                });
            }
            Ok(out)
        })
    }

    fn ack(
        &self,
        recipient: IdentityId,
        sequences: Vec<u64>,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send + 'static {
        let rx = self.submit(Op::Ack(recipient, sequences));
        async move {
            match answer(rx).await? {
                Outcome::Count(n) => Ok(u32::try_from(n).unwrap_or(u32::MAX)),
                _ => Err(StoreError::Corrupt("writer answered the wrong job")),
            }
        }
    }

    fn purge_expired(
        &self,
        now: u64,
        limit: u32,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send + 'static {
        let rx = self.submit(Op::Purge(now, limit));
        async move {
            match answer(rx).await? {
                Outcome::Count(n) => Ok(n),
                _ => Err(StoreError::Corrupt("writer answered the wrong job")),
            }
        }
    }

    fn publish(
        &self,
        publication: Publication,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send + 'static {
        let rx = self.submit(Op::Publish(publication));
        async move {
            match answer(rx).await? {
                Outcome::Count(n) => Ok(u32::try_from(n).unwrap_or(u32::MAX)),
                _ => Err(StoreError::Corrupt("writer answered the wrong job")),
            }
        }
    }

    fn take_bundle(
        &self,
        owner: IdentityId,
    ) -> impl Future<Output = Result<Option<StoredBundle>, StoreError>> + Send + 'static {
        let rx = self.submit(Op::TakeBundle(owner));
        async move {
            match answer(rx).await? {
                Outcome::Bundle(b) => Ok(b.map(|b| *b)),
                _ => Err(StoreError::Corrupt("writer answered the wrong job")),
            }
        }
    }

    fn counts(
        &self,
        owner: IdentityId,
    ) -> impl Future<Output = Result<OwnerCounts, StoreError>> + Send + 'static {
        self.read(move |conn| {
            let otk: i64 = conn
                .prepare_cached("SELECT count(*) FROM one_time_prekeys WHERE owner = ?1")?
                .query_row(params![&owner[..]], |r| r.get(0))?;
            let mailbox = mailbox(conn, &owner)?;
            Ok(OwnerCounts {
                one_time_prekeys: u32::try_from(otk).unwrap_or(u32::MAX),
                mailbox: MailboxStats {
                    count: mailbox.1,
                    bytes: mailbox.2,
                },
            })
        })
    }
}

fn writer_loop(mut conn: Connection, jobs: &mpsc::Receiver<Job>, metrics: Option<&Metrics>) {
    let mut mailboxes = Mailboxes::default();
    while let Ok(first) = jobs.recv() {
        let mut batch = Vec::with_capacity(64);
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let (started, jobs) = (Instant::now(), batch.len());
        if !run_batch(&mut conn, &mut mailboxes, batch) {
            // Rolled back: cached rows may hold what was not committed.
            mailboxes.clear();
        }
        mailboxes.trim();
        if let Some(m) = metrics {
            m.commit(started.elapsed(), jobs);
        }
    }
}

/// Runs one batch in one transaction; false if it was rolled back (every job got an error).
fn run_batch(conn: &mut Connection, mailboxes: &mut Mailboxes, batch: Vec<Job>) -> bool {
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            abort(batch.into_iter().map(|j| j.reply), &StoreError::from(e));
            return false;
        }
    };
    // Inside the transaction, so no other connection can commit between this check and the
    // batch's writes.
    if let Err(e) = mailboxes.follow(&tx) {
        drop(tx);
        abort(batch.into_iter().map(|j| j.reply), &e);
        return false;
    }
    let mut results = Vec::with_capacity(batch.len());
    let mut replies = Vec::with_capacity(batch.len());
    for Job { op, reply } in batch {
        let result = if op.decides_before_writing() {
            // Enqueue and Ack, nearly every job: a refusal (quota) is decided before the first
            // write, so the job needs no savepoint. Any other failure may have left part of
            // the job written, so the whole batch is rolled back and every job gets the error:
            // nothing of it was acknowledged, and clients retry (Send is idempotent).
            match apply(&tx, mailboxes, op) {
                Err(e) if !e.is_refusal() => {
                    drop(tx);
                    abort(replies.into_iter().chain(std::iter::once(reply)), &e);
                    return false;
                }
                r => r,
            }
        } else {
            // A savepoint journals every page the job touches, a cost worth paying only for
            // the rare operations that can refuse after writing. Their SQL may read or change
            // mailbox rows, so the cached rows are written first (if that fails, the rows of
            // the batch's earlier jobs are not in the table: the batch is rolled back) and
            // forgotten after.
            if let Err(e) = mailboxes.flush(&tx) {
                drop(tx);
                abort(replies.into_iter().chain(std::iter::once(reply)), &e);
                return false;
            }
            let r = tx.job_savepoint().and_then(|sp| {
                let r = apply(&sp, &mut Mailboxes::default(), op);
                if r.is_ok() {
                    sp.release().map_err(StoreError::from).and(r)
                } else {
                    // Dropping the savepoint rolls this job back; the batch goes on.
                    drop(sp);
                    r
                }
            });
            mailboxes.clear();
            r
        };
        results.push(result);
        replies.push(reply);
    }
    match mailboxes
        .flush(&tx)
        .and_then(|()| tx.commit().map_err(StoreError::from))
    {
        Ok(()) => {
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send(result);
            }
            true
        }
        Err(e) => {
            abort(replies, &e);
            false
        }
    }
}

/// Answers every job of a batch that is being rolled back with `e`.
fn abort(replies: impl IntoIterator<Item = Reply>, e: &StoreError) {
    for reply in replies {
        let _ = reply.send(Err(batch_error(e)));
    }
}

/// The most mailbox rows the writer keeps between batches (about 100 bytes each); past it the
/// cache is emptied after a commit and refills from the table.
const CACHED_MAILBOXES: usize = 16 * 1024;

/// A mailbox row as the writer last wrote or read it.
#[derive(Clone, Copy)]
struct MailboxRow {
    next_seq: u64,
    count: u64,
    bytes: u64,
    /// Changed in this batch and not yet written to the table.
    dirty: bool,
}

/// The writer's copy of the `mailboxes` rows it touched. The writer thread is the store's only
/// writer, so a cached row is the row: an `Enqueue` needs no read to learn the next sequence,
/// and each batch writes a changed row once, before `COMMIT`, instead of once per operation.
/// Emptied whenever a batch is rolled back, around the rare operations whose SQL touches
/// mailboxes itself (the expiry purge), and when another connection has committed to the
/// database since the last batch (an operator's tool, say), which `PRAGMA data_version` tells.
#[derive(Default)]
struct Mailboxes {
    rows: HashMap<IdentityId, MailboxRow>,
    /// `PRAGMA data_version` at the last batch: it changes only when another connection
    /// commits.
    data_version: Option<i64>,
}

impl Mailboxes {
    /// Forgets every row if another connection has committed since the last batch.
    fn follow(&mut self, conn: &Connection) -> Result<(), StoreError> {
        let version: i64 = conn.pragma_query_value(None, "data_version", |r| r.get(0))?;
        if self.data_version != Some(version) {
            self.rows.clear();
            self.data_version = Some(version);
        }
        Ok(())
    }

    fn get(&mut self, conn: &Connection, recipient: &IdentityId) -> Result<MailboxRow, StoreError> {
        if let Some(row) = self.rows.get(recipient) {
            return Ok(*row);
        }
        let (next_seq, count, bytes) = mailbox(conn, recipient)?;
        let row = MailboxRow {
            next_seq,
            count,
            bytes,
            dirty: false,
        };
        self.rows.insert(*recipient, row);
        Ok(row)
    }

    fn set(&mut self, recipient: &IdentityId, next_seq: u64, count: u64, bytes: u64) {
        self.rows.insert(
            *recipient,
            MailboxRow {
                next_seq,
                count,
                bytes,
                dirty: true,
            },
        );
    }

    /// Writes every changed row.
    fn flush(&mut self, conn: &Connection) -> Result<(), StoreError> {
        let mut stmt = conn.prepare_cached(
            "INSERT INTO mailboxes (recipient, next_seq, count, bytes) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (recipient) DO UPDATE SET next_seq = excluded.next_seq,
                 count = excluded.count, bytes = excluded.bytes",
        )?;
        for (recipient, row) in &mut self.rows {
            if row.dirty {
                stmt.execute(params![
                    &recipient[..],
                    to_sql(row.next_seq)?,
                    to_sql(row.count)?,
                    to_sql(row.bytes)?
                ])?;
                row.dirty = false;
            }
        }
        Ok(())
    }

    fn clear(&mut self) {
        self.rows.clear();
    }

    /// Bounds the memory the cache holds (between batches, when no row is dirty).
    fn trim(&mut self) {
        if self.rows.len() > CACHED_MAILBOXES {
            self.rows = HashMap::new();
        }
    }
}

impl Op {
    /// True if a failure of this operation either happens before it writes anything (a
    /// refusal) or is a database error that fails the whole batch.
    fn decides_before_writing(&self) -> bool {
        matches!(self, Self::Enqueue(..) | Self::Ack(..))
    }
}

impl StoreError {
    /// A refusal decided before anything was written (the job had no effect).
    fn is_refusal(&self) -> bool {
        matches!(self, Self::QuotaExceeded { .. })
    }
}

/// The error every job of an aborted batch receives.
fn batch_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Sqlite(e) => clone_sqlite(e),
        StoreError::Corrupt(what) => StoreError::Corrupt(what),
        _ => StoreError::Corrupt("batch aborted"),
    }
}

fn clone_sqlite(e: &rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(code, msg) => {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(*code, msg.clone()))
        }
        _ => StoreError::Corrupt("commit failed"),
    }
}

/// A savepoint guard over the batch transaction.
struct Savepoint<'a> {
    conn: &'a Connection,
    done: bool,
}

impl Savepoint<'_> {
    fn release(mut self) -> Result<(), rusqlite::Error> {
        self.done = true;
        self.conn
            .prepare_cached("RELEASE job")?
            .execute([])
            .map(drop)
    }
}

impl Drop for Savepoint<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self
                .conn
                .prepare_cached("ROLLBACK TO job")
                .and_then(|mut s| s.execute([]))
                .and_then(|_| self.conn.prepare_cached("RELEASE job")?.execute([]));
        }
    }
}

impl core::ops::Deref for Savepoint<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

trait SavepointExt {
    fn job_savepoint(&self) -> Result<Savepoint<'_>, StoreError>;
}

impl SavepointExt for rusqlite::Transaction<'_> {
    fn job_savepoint(&self) -> Result<Savepoint<'_>, StoreError> {
        self.prepare_cached("SAVEPOINT job")?.execute([])?;
        Ok(Savepoint {
            conn: self,
            done: false,
        })
    }
}

fn apply(conn: &Connection, mailboxes: &mut Mailboxes, op: Op) -> Result<Outcome, StoreError> {
    match op {
        Op::Enqueue(envelope, quota) => {
            enqueue(conn, mailboxes, &envelope, quota).map(Outcome::Enqueued)
        }
        Op::Ack(recipient, sequences) => {
            ack(conn, mailboxes, &recipient, &sequences).map(Outcome::Count)
        }
        Op::Purge(now, limit) => purge(conn, now, limit).map(Outcome::Count),
        Op::Publish(p) => publish(conn, &p).map(Outcome::Count),
        Op::TakeBundle(owner) => {
            take_bundle(conn, &owner).map(|b| Outcome::Bundle(b.map(Box::new)))
        }
    }
}

/// `(next_seq, count, bytes)` of a mailbox; `(1, 0, 0)` when it does not exist yet.
fn mailbox(conn: &Connection, recipient: &IdentityId) -> Result<(u64, u64, u64), StoreError> {
    let row = conn
        .prepare_cached("SELECT next_seq, count, bytes FROM mailboxes WHERE recipient = ?1")?
        .query_row(params![&recipient[..]], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })
        .optional()?;
    match row {
        Some((next, count, bytes)) => Ok((from_sql(next)?, from_sql(count)?, from_sql(bytes)?)),
        None => Ok((1, 0, 0)),
    }
}

/// The sequence of the envelope queued under this message id, if any.
fn queued_sequence(conn: &Connection, e: &NewEnvelope) -> Result<Option<u64>, StoreError> {
    conn.prepare_cached("SELECT seq FROM envelopes WHERE recipient = ?1 AND message_id = ?2")?
        .query_row(params![&e.recipient[..], &e.message_id[..]], |r| {
            r.get::<_, i64>(0)
        })
        .optional()?
        .map(from_sql)
        .transpose()
}

fn enqueue(
    conn: &Connection,
    mailboxes: &mut Mailboxes,
    e: &NewEnvelope,
    quota: Quota,
) -> Result<Enqueued, StoreError> {
    let duplicate = |sequence| Enqueued {
        sequence,
        duplicate: true,
    };
    let MailboxRow {
        next_seq: next,
        count,
        bytes,
        ..
    } = mailboxes.get(conn, &e.recipient)?;
    let len = e.body.len() as u64;
    if count.saturating_add(1) > quota.max_count || bytes.saturating_add(len) > quota.max_bytes {
        // A repeated Send of an envelope still queued is answered as the first was, full
        // mailbox or not.
        if let Some(seq) = queued_sequence(conn, e)? {
            return Ok(duplicate(seq));
        }
        return Err(StoreError::QuotaExceeded {
            count,
            bytes,
            max_count: quota.max_count,
            max_bytes: quota.max_bytes,
        });
    }
    // `OR IGNORE` turns a repeated message id into "no row inserted" instead of an error. It
    // also spares SQLite the statement journal it keeps for a statement that may abort half
    // way: a copy of every page of the four B-trees before the insert changes it.
    let inserted = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO envelopes
                 (recipient, seq, message_id, sender, received_at, expires_at, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            &e.recipient[..],
            to_sql(next)?,
            &e.message_id[..],
            &e.sender[..],
            to_sql(e.received_at)?,
            to_sql(e.expires_at)?,
            &e.body
        ])?;
    if inserted == 0 {
        // The message id is queued already (or the sequence is taken, which only a mailbox
        // row out of step with its envelopes can cause).
        return match queued_sequence(conn, e)? {
            Some(seq) => Ok(duplicate(seq)),
            None => Err(StoreError::Corrupt("mailboxes.next_seq already used")),
        };
    }
    mailboxes.set(&e.recipient, next + 1, count + 1, bytes + len);
    Ok(Enqueued {
        sequence: next,
        duplicate: false,
    })
}

fn ack(
    conn: &Connection,
    mailboxes: &mut Mailboxes,
    recipient: &IdentityId,
    sequences: &[u64],
) -> Result<u64, StoreError> {
    // A recipient acknowledges what it was delivered, in order, so the list is nearly always
    // one run of consecutive sequences: each run is counted and deleted by two range
    // statements instead of two statements per envelope. A range `DELETE` with no function,
    // trigger or foreign key needs no statement journal either.
    let mut sorted: Vec<i64> = sequences
        .iter()
        .filter_map(|&s| i64::try_from(s).ok())
        .collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut count = conn.prepare_cached(
        "SELECT count(*), COALESCE(sum(length(body)), 0) FROM envelopes
         WHERE recipient = ?1 AND seq BETWEEN ?2 AND ?3",
    )?;
    let mut delete = conn
        .prepare_cached("DELETE FROM envelopes WHERE recipient = ?1 AND seq BETWEEN ?2 AND ?3")?;
    let (mut deleted, mut freed) = (0u64, 0u64);
    let mut rest = &sorted[..];
    while let Some(&first) = rest.first() {
        // The run first..=last of consecutive sequences at the front of `rest`.
        let mut last = first;
        let mut len = 1;
        while rest
            .get(len)
            .is_some_and(|&s| Some(s) == last.checked_add(1))
        {
            last += 1;
            len += 1;
        }
        rest = rest.get(len..).unwrap_or_default();
        let (n, bytes): (i64, i64) = count
            .query_row(params![&recipient[..], first, last], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        if n > 0 {
            delete.execute(params![&recipient[..], first, last])?;
            deleted += from_sql(n)?;
            freed += from_sql(bytes)?;
        }
    }
    if deleted > 0 {
        let row = mailboxes.get(conn, recipient)?;
        mailboxes.set(
            recipient,
            row.next_seq,
            row.count.saturating_sub(deleted),
            row.bytes.saturating_sub(freed),
        );
    }
    Ok(deleted)
}

fn purge(conn: &Connection, now: u64, limit: u32) -> Result<u64, StoreError> {
    let mut per_recipient: HashMap<Vec<u8>, (u64, u64)> = HashMap::new();
    {
        let mut stmt = conn.prepare_cached(
            "DELETE FROM envelopes WHERE rowid IN
                 (SELECT rowid FROM envelopes WHERE expires_at <= ?1 LIMIT ?2)
             RETURNING recipient, length(body)",
        )?;
        let rows = stmt.query_map(params![to_sql(now)?, i64::from(limit)], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?))
        })?;
        for row in rows {
            let (recipient, len) = row?;
            let entry = per_recipient.entry(recipient).or_default();
            entry.0 += 1;
            entry.1 += from_sql(len)?;
        }
    }
    let mut total = 0;
    let mut stmt = conn.prepare_cached(
        "UPDATE mailboxes SET count = max(count - ?2, 0), bytes = max(bytes - ?3, 0)
         WHERE recipient = ?1",
    )?;
    for (recipient, (count, bytes)) in per_recipient {
        stmt.execute(params![recipient, to_sql(count)?, to_sql(bytes)?])?;
        total += count;
    }
    Ok(total)
}

fn otk_count(conn: &Connection, owner: &IdentityId) -> Result<u64, StoreError> {
    let n: i64 = conn
        .prepare_cached("SELECT count(*) FROM one_time_prekeys WHERE owner = ?1")?
        .query_row(params![&owner[..]], |r| r.get(0))?;
    from_sql(n)
}

fn publish(conn: &Connection, p: &Publication) -> Result<u64, StoreError> {
    let owner = p.identity.signing_key;
    conn.prepare_cached(
        "INSERT INTO identities (signing_key, agreement_key, binding_signature, updated_at)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (signing_key) DO UPDATE SET agreement_key = excluded.agreement_key,
             binding_signature = excluded.binding_signature, updated_at = excluded.updated_at",
    )?
    .execute(params![
        &owner[..],
        &p.identity.agreement_key[..],
        &p.identity.binding_signature[..],
        to_sql(p.now)?
    ])?;
    if let Some(spk) = &p.signed_prekey {
        conn.prepare_cached(
            "INSERT INTO signed_prekeys (owner, id, public_key, created_at, signature)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (owner) DO UPDATE SET id = excluded.id, public_key = excluded.public_key,
                 created_at = excluded.created_at, signature = excluded.signature",
        )?
        .execute(params![
            &owner[..],
            spk.id,
            &spk.public_key[..],
            to_sql(spk.created_at)?,
            &spk.signature[..]
        ])?;
    }
    {
        let mut stmt = conn.prepare_cached(
            "INSERT INTO one_time_prekeys (owner, id, public_key) VALUES (?1, ?2, ?3)
             ON CONFLICT (owner, id) DO NOTHING",
        )?;
        for k in &p.one_time_prekeys {
            stmt.execute(params![&owner[..], k.id, &k.public_key[..]])?;
        }
    }
    let count = otk_count(conn, &owner)?;
    if count > u64::from(p.max_one_time_prekeys) {
        // The savepoint is rolled back by the caller: nothing of this publication stays.
        return Err(StoreError::TooManyPreKeys {
            would_have: count,
            max: p.max_one_time_prekeys,
        });
    }
    Ok(count)
}

fn take_bundle(conn: &Connection, owner: &IdentityId) -> Result<Option<StoredBundle>, StoreError> {
    let identity = conn
        .prepare_cached(
            "SELECT agreement_key, binding_signature FROM identities WHERE signing_key = ?1",
        )?
        .query_row(params![&owner[..]], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
        })
        .optional()?;
    let Some((agreement_key, binding_signature)) = identity else {
        return Ok(None);
    };
    let spk = conn
        .prepare_cached(
            "SELECT id, public_key, created_at, signature FROM signed_prekeys WHERE owner = ?1",
        )?
        .query_row(params![&owner[..]], |r| {
            Ok((
                r.get::<_, u32>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Vec<u8>>(3)?,
            ))
        })
        .optional()?;
    let Some((spk_id, spk_public, spk_created, spk_signature)) = spk else {
        return Ok(None);
    };
    // Exactly once: the row is deleted in the same transaction that returns it, and only the
    // single writer runs this.
    let otk = conn
        .prepare_cached(
            "DELETE FROM one_time_prekeys WHERE owner = ?1 AND id =
                 (SELECT id FROM one_time_prekeys WHERE owner = ?1 ORDER BY id LIMIT 1)
             RETURNING id, public_key",
        )?
        .query_row(params![&owner[..]], |r| {
            Ok((r.get::<_, u32>(0)?, r.get::<_, Vec<u8>>(1)?))
        })
        .optional()?;
    Ok(Some(StoredBundle {
        identity: IdentityKey {
            signing_key: *owner,
            agreement_key: array(&agreement_key, "identities.agreement_key")?,
            binding_signature: array(&binding_signature, "identities.binding_signature")?,
        },
        signed_prekey: SignedPreKey {
            id: spk_id,
            public_key: array(&spk_public, "signed_prekeys.public_key")?,
            created_at: from_sql(spk_created)?,
            signature: array(&spk_signature, "signed_prekeys.signature")?,
        },
        one_time_prekey: otk
            .map(|(id, key)| {
                Ok::<_, StoreError>(OneTimePreKey {
                    id,
                    public_key: array(&key, "one_time_prekeys.public_key")?,
                })
            })
            .transpose()?,
    }))
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
