//! One writer: a connection, a batch loop, and the SQL of every write. See the parent module for
//! the batching, locking and failure rules.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use remit_wire::session::{OneTimePreKey, SignedPreKey};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::{Client, Config, Statement, error::SqlState, types::ToSql};

use super::{
    COUNT_OTK, Enqueued, IdentityId, NewEnvelope, NodeTag, POSTGRES_MAX_BATCH, Publication, Quota,
    StoreError, StoredBundle, WAKE_CHANNEL, array, connect, from_sql, identity_key, pg_error,
    to_sql,
};

/// Serialization failures and deadlocks: run the batch again, at most this often.
const MAX_RETRIES: u32 = 8;

/// Longest `NOTIFY` payload we send (PostgreSQL's limit is 8,000 bytes).
const MAX_PAYLOAD: usize = 7_900;

pub(super) enum Op {
    Enqueue(NewEnvelope, Quota),
    Ack(IdentityId, Vec<u64>),
    Purge(u64, u32),
    Publish(Publication),
    TakeBundle(IdentityId),
}

impl Op {
    /// `(lock class, key)`: a batch runs its jobs in this order (stable, so one key's jobs keep
    /// their call order), which is one global lock order for all writers and nodes.
    fn lock_order(&self) -> (u8, [u8; 32]) {
        match self {
            Self::Enqueue(e, _) => (0, e.recipient),
            Self::Ack(r, _) => (0, *r),
            Self::Publish(p) => (1, p.identity.signing_key),
            Self::TakeBundle(o) => (1, *o),
            Self::Purge(..) => (2, [0; 32]),
        }
    }
}

pub(super) enum Outcome {
    Enqueued(Enqueued),
    Count(u64),
    Bundle(Option<Box<StoredBundle>>),
}

pub(super) struct Job {
    pub(super) op: Op,
    pub(super) reply: oneshot::Sender<Result<Outcome, StoreError>>,
}

/// A writer connection with its prepared statements.
pub(super) struct WriterConn {
    client: Client,
    lock_mailbox: Statement,
    lock_existing: Statement,
    find_duplicate: Statement,
    insert_envelope: Statement,
    set_mailbox: Statement,
    delete_acked: Statement,
    shrink_mailbox: Statement,
    purge: Statement,
    upsert_identity: Statement,
    upsert_signed_prekey: Statement,
    count_otk: Statement,
    get_identity: Statement,
    get_signed_prekey: Statement,
    take_otk: Statement,
    notify: Statement,
}

impl WriterConn {
    pub(super) async fn connect(config: &Config) -> Result<Self, StoreError> {
        Self::prepare(connect(config).await?).await
    }

    pub(super) async fn prepare(client: Client) -> Result<Self, StoreError> {
        let p = |sql: &'static str| client.prepare(sql);
        let (lock_mailbox, lock_existing, find_duplicate, insert_envelope, set_mailbox) =
            tokio::try_join!(
                // Creates the mailbox if needed and locks its row; changes nothing else.
                p(
                    "INSERT INTO mailboxes (recipient, next_seq, queued_count, queued_bytes)
                   VALUES ($1, 1, 0, 0)
                   ON CONFLICT (recipient) DO UPDATE SET next_seq = mailboxes.next_seq
                   RETURNING next_seq, queued_count, queued_bytes"
                ),
                p("SELECT next_seq FROM mailboxes WHERE recipient = $1 FOR UPDATE"),
                p("SELECT seq FROM envelopes WHERE recipient = $1 AND message_id = $2"),
                p("INSERT INTO envelopes
                       (recipient, seq, message_id, sender, received_at, expires_at, body)
                   VALUES ($1, $2, $3, $4, $5, $6, $7)"),
                p(
                    "UPDATE mailboxes SET next_seq = $2, queued_count = $3, queued_bytes = $4
                   WHERE recipient = $1"
                ),
            )
            .map_err(|e| pg_error(&e))?;
        let (delete_acked, shrink_mailbox, purge, upsert_identity, upsert_signed_prekey) =
            tokio::try_join!(
                p("DELETE FROM envelopes WHERE recipient = $1 AND seq = ANY($2)
                   RETURNING CAST(octet_length(body) AS BIGINT)"),
                p("UPDATE mailboxes SET queued_count = GREATEST(queued_count - $2, 0),
                       queued_bytes = GREATEST(queued_bytes - $3, 0)
                   WHERE recipient = $1"),
                p("DELETE FROM envelopes WHERE (recipient, seq) IN
                       (SELECT recipient, seq FROM envelopes WHERE expires_at <= $1
                        LIMIT $2 FOR UPDATE SKIP LOCKED)
                   RETURNING recipient, CAST(octet_length(body) AS BIGINT)"),
                p("INSERT INTO identities (signing_key, agreement_key, binding_signature, updated_at)
                   VALUES ($1, $2, $3, $4)
                   ON CONFLICT (signing_key) DO UPDATE SET agreement_key = excluded.agreement_key,
                       binding_signature = excluded.binding_signature,
                       updated_at = excluded.updated_at"),
                p("INSERT INTO signed_prekeys (owner, id, public_key, created_at, signature)
                   VALUES ($1, $2, $3, $4, $5)
                   ON CONFLICT (owner) DO UPDATE SET id = excluded.id,
                       public_key = excluded.public_key, created_at = excluded.created_at,
                       signature = excluded.signature"),
            )
            .map_err(|e| pg_error(&e))?;
        let (count_otk, get_identity, get_signed_prekey, take_otk, notify) = tokio::try_join!(
            p(COUNT_OTK),
            p("SELECT agreement_key, binding_signature FROM identities WHERE signing_key = $1"),
            p("SELECT id, public_key, created_at, signature FROM signed_prekeys WHERE owner = $1"),
            // Exactly once: the row is locked (skipping rows another transaction holds) and
            // deleted by the transaction that returns it.
            p("DELETE FROM one_time_prekeys WHERE owner = $1 AND id =
                   (SELECT id FROM one_time_prekeys WHERE owner = $1
                    ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
               RETURNING id, public_key"),
            p("SELECT pg_notify($1, $2)"),
        )
        .map_err(|e| pg_error(&e))?;
        Ok(Self {
            client,
            lock_mailbox,
            lock_existing,
            find_duplicate,
            insert_envelope,
            set_mailbox,
            delete_acked,
            shrink_mailbox,
            purge,
            upsert_identity,
            upsert_signed_prekey,
            count_otk,
            get_identity,
            get_signed_prekey,
            take_otk,
            notify,
        })
    }
}

pub(super) async fn writer_loop(
    config: Arc<Config>,
    conn: WriterConn,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    notify: Option<NodeTag>,
    index: usize,
) {
    let mut slot = Some(conn);
    while let Some(first) = jobs.recv().await {
        let mut batch = Vec::with_capacity(64);
        batch.push(first);
        while batch.len() < POSTGRES_MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        batch.sort_by_key(|j| j.op.lock_order());
        run_batch(&config, &mut slot, batch, notify.as_ref(), index).await;
    }
}

/// How one attempt at a batch ended.
enum Attempt {
    Committed(Vec<Result<Outcome, StoreError>>),
    /// Job `i` failed on its own; the transaction was not committed.
    JobFailed(usize, StoreError),
    /// Serialization failure or deadlock: nothing committed, run again.
    Retry(tokio_postgres::Error),
    /// The connection is gone. `unknown`: it went during COMMIT, so the outcome is unknown.
    Lost {
        error: tokio_postgres::Error,
        unknown: bool,
    },
    /// Any other failure outside a job.
    Failed(tokio_postgres::Error),
}

async fn run_batch(
    config: &Config,
    slot: &mut Option<WriterConn>,
    mut pending: Vec<Job>,
    notify: Option<&NodeTag>,
    index: usize,
) {
    let mut retries = 0;
    let mut reconnects = 1;
    while !pending.is_empty() {
        if slot.as_ref().is_none_or(|c| c.client.is_closed()) {
            *slot = None;
            match WriterConn::connect(config).await {
                Ok(c) => *slot = Some(c),
                Err(e) => {
                    tracing::warn!(writer = index, error = %e, "postgres writer cannot connect");
                    fail_all(pending, &e);
                    return;
                }
            }
        }
        let Some(conn) = slot.as_ref() else { return };
        match attempt(conn, &pending, notify).await {
            Attempt::Committed(results) => {
                for (job, result) in pending.into_iter().zip(results) {
                    let _ = job.reply.send(result);
                }
                return;
            }
            Attempt::JobFailed(i, e) => {
                rollback(conn).await;
                if i < pending.len() {
                    let job = pending.remove(i);
                    let _ = job.reply.send(Err(e));
                }
            }
            Attempt::Retry(e) => {
                rollback(conn).await;
                retries += 1;
                tracing::debug!(writer = index, retries, error = %e, "batch retried");
                if retries > MAX_RETRIES {
                    fail_all(pending, &pg_error(&e));
                    return;
                }
            }
            Attempt::Lost { error, unknown } => {
                *slot = None;
                tracing::warn!(writer = index, error = %error, unknown, "postgres connection lost");
                if unknown || reconnects == 0 {
                    fail_all(pending, &pg_error(&error));
                    return;
                }
                reconnects -= 1;
            }
            Attempt::Failed(e) => {
                rollback(conn).await;
                fail_all(pending, &pg_error(&e));
                return;
            }
        }
    }
}

async fn rollback(conn: &WriterConn) {
    let _ = conn.client.batch_execute("ROLLBACK").await;
}

fn fail_all(jobs: Vec<Job>, e: &StoreError) {
    let message = e.to_string();
    for job in jobs {
        let _ = job.reply.send(Err(StoreError::Postgres(message.clone())));
    }
}

fn classify(
    conn: &WriterConn,
    error: tokio_postgres::Error,
    commit: bool,
    job: Option<usize>,
) -> Attempt {
    let code = error.code().cloned();
    let fatal = error
        .as_db_error()
        .is_some_and(|d| matches!(d.severity(), "FATAL" | "PANIC"));
    if conn.client.is_closed()
        || error.is_closed()
        || error.as_db_error().is_none() && job.is_none()
        || fatal
        || code
            .as_ref()
            .is_some_and(|c| c.code().starts_with("08") || c.code().starts_with("57P"))
    {
        return Attempt::Lost {
            error,
            unknown: commit,
        };
    }
    if code == Some(SqlState::T_R_SERIALIZATION_FAILURE)
        || code == Some(SqlState::T_R_DEADLOCK_DETECTED)
    {
        return Attempt::Retry(error);
    }
    match job {
        Some(i) => {
            let e = pg_error(&error);
            Attempt::JobFailed(i, e)
        }
        None => Attempt::Failed(error),
    }
}

enum Abort {
    /// The job is refused; its changes must be rolled back.
    Job(StoreError),
    Db(tokio_postgres::Error),
}

impl From<tokio_postgres::Error> for Abort {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Db(e)
    }
}

async fn attempt(conn: &WriterConn, pending: &[Job], notify: Option<&NodeTag>) -> Attempt {
    if let Err(e) = conn.client.batch_execute("BEGIN").await {
        return classify(conn, e, false, None);
    }
    let mut results = Vec::with_capacity(pending.len());
    let mut woken = BTreeSet::new();
    for (i, job) in pending.iter().enumerate() {
        match apply(conn, &job.op, &mut woken).await {
            Ok(r) => results.push(r),
            Err(Abort::Job(e)) => return Attempt::JobFailed(i, e),
            Err(Abort::Db(e)) => return classify(conn, e, false, Some(i)),
        }
    }
    if let Some(tag) = notify {
        // Delivered to listeners only if and when this transaction commits.
        for payload in payloads(*tag, &woken) {
            if let Err(e) = conn
                .client
                .execute(&conn.notify, &[&WAKE_CHANNEL, &payload])
                .await
            {
                return classify(conn, e, false, None);
            }
        }
    }
    match conn.client.batch_execute("COMMIT").await {
        Ok(()) => Attempt::Committed(results),
        Err(e) => classify(conn, e, true, None),
    }
}

/// `tag-hex:id-hex,id-hex,...`, split to stay under the payload limit.
fn payloads(tag: NodeTag, woken: &BTreeSet<IdentityId>) -> Vec<String> {
    let prefix = format!("{}:", hex::encode(tag));
    let mut out = Vec::new();
    let mut current = prefix.clone();
    for id in woken {
        if current.len() + 65 > MAX_PAYLOAD {
            out.push(std::mem::replace(&mut current, prefix.clone()));
        }
        if current.len() > prefix.len() {
            current.push(',');
        }
        current.push_str(&hex::encode(id));
    }
    if current.len() > prefix.len() {
        out.push(current);
    }
    out
}

type Applied = Result<Result<Outcome, StoreError>, Abort>;

/// Statement parameters, bound before a pipelined `try_join!`.
type Params<'a, const N: usize> = [&'a (dyn ToSql + Sync); N];

async fn apply(conn: &WriterConn, op: &Op, woken: &mut BTreeSet<IdentityId>) -> Applied {
    match op {
        Op::Enqueue(e, quota) => enqueue(conn, e, *quota, woken).await,
        Op::Ack(recipient, sequences) => ack(conn, recipient, sequences).await,
        Op::Purge(now, limit) => purge(conn, *now, *limit).await,
        Op::Publish(p) => publish(conn, p).await,
        Op::TakeBundle(owner) => take_bundle(conn, owner).await,
    }
}

fn corrupt(e: StoreError) -> Abort {
    Abort::Job(e)
}

fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a tokio_postgres::Row,
    i: usize,
) -> Result<T, Abort> {
    row.try_get(i).map_err(|e| Abort::Job(pg_error(&e)))
}

async fn enqueue(
    conn: &WriterConn,
    e: &NewEnvelope,
    quota: Quota,
    woken: &mut BTreeSet<IdentityId>,
) -> Applied {
    let rec: &[u8] = &e.recipient;
    let mid: &[u8] = &e.message_id;
    // One round trip: lock the mailbox, then (a new snapshot, after the lock) look for the id.
    let (p1, p2): (Params<'_, 1>, Params<'_, 2>) = ([&rec], [&rec, &mid]);
    let (mailbox, existing) = tokio::try_join!(
        conn.client.query_one(&conn.lock_mailbox, &p1),
        conn.client.query_opt(&conn.find_duplicate, &p2),
    )?;
    if let Some(row) = existing {
        return Ok(Ok(Outcome::Enqueued(Enqueued {
            sequence: from_sql(get(&row, 0)?).map_err(corrupt)?,
            duplicate: true,
        })));
    }
    let next = from_sql(get(&mailbox, 0)?).map_err(corrupt)?;
    let count = from_sql(get(&mailbox, 1)?).map_err(corrupt)?;
    let bytes = from_sql(get(&mailbox, 2)?).map_err(corrupt)?;
    let len = e.body.len() as u64;
    if count.saturating_add(1) > quota.max_count || bytes.saturating_add(len) > quota.max_bytes {
        // Nothing was changed (the lock is a no-op update).
        return Ok(Err(StoreError::QuotaExceeded {
            count,
            bytes,
            max_count: quota.max_count,
            max_bytes: quota.max_bytes,
        }));
    }
    let seq = to_sql(next).map_err(corrupt)?;
    let sender: &[u8] = &e.sender;
    let received = to_sql(e.received_at).map_err(corrupt)?;
    let expires = to_sql(e.expires_at).map_err(corrupt)?;
    let new_next = to_sql(next + 1).map_err(corrupt)?;
    let new_count = to_sql(count + 1).map_err(corrupt)?;
    let new_bytes = to_sql(bytes + len).map_err(corrupt)?;
    let p1: Params<'_, 7> = [&rec, &seq, &mid, &sender, &received, &expires, &e.body];
    let p2: Params<'_, 4> = [&rec, &new_next, &new_count, &new_bytes];
    tokio::try_join!(
        conn.client.execute(&conn.insert_envelope, &p1),
        conn.client.execute(&conn.set_mailbox, &p2),
    )?;
    woken.insert(e.recipient);
    Ok(Ok(Outcome::Enqueued(Enqueued {
        sequence: next,
        duplicate: false,
    })))
}

async fn ack(conn: &WriterConn, recipient: &IdentityId, sequences: &[u64]) -> Applied {
    let seqs: Vec<i64> = sequences
        .iter()
        .filter_map(|&s| i64::try_from(s).ok())
        .collect();
    if seqs.is_empty() {
        return Ok(Ok(Outcome::Count(0)));
    }
    let rec: &[u8] = recipient;
    // The mailbox row first, as every job on this mailbox (lock order).
    let (p1, p2): (Params<'_, 1>, Params<'_, 2>) = ([&rec], [&rec, &seqs]);
    let (_, rows) = tokio::try_join!(
        conn.client.query_opt(&conn.lock_existing, &p1),
        conn.client.query(&conn.delete_acked, &p2),
    )?;
    let mut freed = 0u64;
    for row in &rows {
        freed += from_sql(get(row, 0)?).map_err(corrupt)?;
    }
    let deleted = rows.len() as u64;
    if deleted > 0 {
        let (d, f) = (
            to_sql(deleted).map_err(corrupt)?,
            to_sql(freed).map_err(corrupt)?,
        );
        conn.client
            .execute(&conn.shrink_mailbox, &[&rec, &d, &f])
            .await?;
    }
    Ok(Ok(Outcome::Count(deleted)))
}

async fn purge(conn: &WriterConn, now: u64, limit: u32) -> Applied {
    let now = to_sql(now).map_err(corrupt)?;
    let limit = i64::from(limit);
    let rows = conn.client.query(&conn.purge, &[&now, &limit]).await?;
    let mut per_recipient: BTreeMap<Vec<u8>, (u64, u64)> = BTreeMap::new();
    for row in &rows {
        let recipient: Vec<u8> = get(row, 0)?;
        let len = from_sql(get(row, 1)?).map_err(corrupt)?;
        let entry = per_recipient.entry(recipient).or_default();
        entry.0 += 1;
        entry.1 += len;
    }
    let mut total = 0;
    for (recipient, (count, bytes)) in per_recipient {
        let (c, b) = (
            to_sql(count).map_err(corrupt)?,
            to_sql(bytes).map_err(corrupt)?,
        );
        conn.client
            .execute(&conn.shrink_mailbox, &[&recipient, &c, &b])
            .await?;
        total += count;
    }
    Ok(Ok(Outcome::Count(total)))
}

async fn publish(conn: &WriterConn, p: &Publication) -> Applied {
    let owner: &[u8] = &p.identity.signing_key;
    let agreement: &[u8] = &p.identity.agreement_key;
    let binding: &[u8] = &p.identity.binding_signature;
    let now = to_sql(p.now).map_err(corrupt)?;
    // The identity row is this owner's lock.
    conn.client
        .execute(&conn.upsert_identity, &[&owner, &agreement, &binding, &now])
        .await?;
    if let Some(SignedPreKey {
        id,
        public_key,
        created_at,
        signature,
    }) = &p.signed_prekey
    {
        let (id, pk, created, sig): (i64, &[u8], i64, &[u8]) = (
            i64::from(*id),
            public_key,
            to_sql(*created_at).map_err(corrupt)?,
            signature,
        );
        conn.client
            .execute(
                &conn.upsert_signed_prekey,
                &[&owner, &id, &pk, &created, &sig],
            )
            .await?;
    }
    insert_one_time(conn, owner, &p.one_time_prekeys).await?;
    let count: i64 = get(&conn.client.query_one(&conn.count_otk, &[&owner]).await?, 0)?;
    let count = from_sql(count).map_err(corrupt)?;
    if count > u64::from(p.max_one_time_prekeys) {
        // Rolled back by the caller: nothing of this publication stays.
        return Err(Abort::Job(StoreError::TooManyPreKeys {
            would_have: count,
            max: p.max_one_time_prekeys,
        }));
    }
    Ok(Ok(Outcome::Count(count)))
}

/// One multi-row `INSERT … ON CONFLICT DO NOTHING` (at most `MAX_PREKEYS_PER_PUBLISH` rows per
/// statement in practice; chunked anyway to stay under the bind-parameter limit).
async fn insert_one_time(
    conn: &WriterConn,
    owner: &[u8],
    keys: &[OneTimePreKey],
) -> Result<(), Abort> {
    for chunk in keys.chunks(1000) {
        let ids: Vec<i64> = chunk.iter().map(|k| i64::from(k.id)).collect();
        let keys: Vec<&[u8]> = chunk.iter().map(|k| &k.public_key[..]).collect();
        let mut sql = String::from("INSERT INTO one_time_prekeys (owner, id, public_key) VALUES ");
        let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(1 + 2 * chunk.len());
        params.push(&owner);
        for (i, (key, id)) in keys.iter().zip(&ids).enumerate() {
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!("($1, ${}, ${})", 2 + 2 * i, 3 + 2 * i));
            params.push(id);
            params.push(key);
        }
        sql.push_str(" ON CONFLICT (owner, id) DO NOTHING");
        conn.client.execute(sql.as_str(), &params).await?;
    }
    Ok(())
}

async fn take_bundle(conn: &WriterConn, owner: &IdentityId) -> Applied {
    let key: &[u8] = owner;
    let p1: Params<'_, 1> = [&key];
    let (identity, spk) = tokio::try_join!(
        conn.client.query_opt(&conn.get_identity, &p1),
        conn.client.query_opt(&conn.get_signed_prekey, &p1),
    )?;
    let (Some(identity), Some(spk)) = (identity, spk) else {
        return Ok(Ok(Outcome::Bundle(None)));
    };
    let otk = conn.client.query_opt(&conn.take_otk, &[&key]).await?;
    let identity = identity_key(owner, get(&identity, 0)?, get(&identity, 1)?).map_err(corrupt)?;
    let spk_id: i64 = get(&spk, 0)?;
    let signed_prekey = SignedPreKey {
        id: u32::try_from(spk_id).map_err(|_| corrupt(StoreError::Corrupt("signed_prekeys.id")))?,
        public_key: array(get(&spk, 1)?, "signed_prekeys.public_key").map_err(corrupt)?,
        created_at: from_sql(get(&spk, 2)?).map_err(corrupt)?,
        signature: array(get(&spk, 3)?, "signed_prekeys.signature").map_err(corrupt)?,
    };
    let one_time_prekey = match otk {
        Some(row) => {
            let id: i64 = get(&row, 0)?;
            Some(OneTimePreKey {
                id: u32::try_from(id)
                    .map_err(|_| corrupt(StoreError::Corrupt("one_time_prekeys.id")))?,
                public_key: array(get(&row, 1)?, "one_time_prekeys.public_key").map_err(corrupt)?,
            })
        }
        None => None,
    };
    Ok(Ok(Outcome::Bundle(Some(Box::new(StoredBundle {
        identity,
        signed_prekey,
        one_time_prekey,
    })))))
}
