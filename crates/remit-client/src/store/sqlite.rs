//! The SQLite store: one file per profile, WAL journal, `synchronous=FULL`, one transaction per
//! [`Batch`].

use std::path::Path;

use remit_pay::Id;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use zeroize::Zeroizing;

use super::{Batch, Snapshot, Store};
use crate::{error::StoreError, event::Outgoing};

/// Schema version written to `PRAGMA user_version`.
pub const SQLITE_SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS account (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    record BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    peer BLOB PRIMARY KEY,
    record BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS threads (
    request_id BLOB PRIMARY KEY,
    record BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS contacts (
    handle TEXT PRIMARY KEY,
    record BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS processed (
    peer BLOB NOT NULL,
    message_id BLOB NOT NULL,
    relay_message_id BLOB NOT NULL,
    processed_at INTEGER NOT NULL,
    PRIMARY KEY (peer, message_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS held (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    peer BLOB NOT NULL,
    message_id BLOB NOT NULL,
    record BLOB NOT NULL,
    UNIQUE (peer, message_id)
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id BLOB NOT NULL UNIQUE,
    recipient BLOB NOT NULL,
    envelope BLOB NOT NULL
);
";

/// A [`Store`] in one SQLite file (one file per profile).
///
/// Opened with `journal_mode=WAL`, `synchronous=FULL` and `secure_delete=ON`: a committed batch
/// survives a power loss, not only a process crash, and replaced records are overwritten rather
/// than left in free pages. Each [`Batch`] is one `BEGIN IMMEDIATE` transaction.
///
/// The file is not encrypted: it holds the identity and session private keys in the clear.
/// Protect it like a key file (file permissions, the platform's encrypted storage) until the
/// store encrypts records at rest.
pub struct SqliteStore {
    conn: Connection,
}

impl SqliteStore {
    /// Opens (creating if needed) the profile database at `path`.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`], or [`StoreError::UnknownSchema`] for a file written by a newer
    /// version.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // Overwrite deleted content (old session records hold used keys; spec/README.md §3.3).
        // Old frames in the WAL remain until the next checkpoint.
        conn.pragma_update(None, "secure_delete", "ON")?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version != 0 && version != SQLITE_SCHEMA_VERSION {
            return Err(StoreError::UnknownSchema {
                got: version,
                supported: SQLITE_SCHEMA_VERSION,
            });
        }
        conn.execute_batch(SCHEMA)?;
        conn.pragma_update(None, "user_version", SQLITE_SCHEMA_VERSION)?;
        Ok(Self { conn })
    }
}

impl core::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.conn.path())
            .finish()
    }
}

impl Store for SqliteStore {
    fn load(&self) -> Result<Option<Snapshot>, StoreError> {
        let conn = &self.conn;
        let account: Option<Vec<u8>> = conn
            .query_row("SELECT record FROM account WHERE id = 1", [], |r| r.get(0))
            .optional()?;
        let Some(account) = account else {
            return Ok(None);
        };
        let mut snapshot = Snapshot::new(Zeroizing::new(account));

        let mut stmt = conn.prepare("SELECT peer, record FROM sessions")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let peer = key32(row.get(0)?, "sessions.peer")?;
            snapshot
                .sessions
                .push((peer, Zeroizing::new(row.get::<_, Vec<u8>>(1)?)));
        }
        let mut stmt = conn.prepare("SELECT request_id, record FROM threads")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            snapshot
                .threads
                .push((id16(row.get(0)?, "threads.request_id")?, row.get(1)?));
        }
        let mut stmt = conn.prepare("SELECT handle, record FROM contacts")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            snapshot.contacts.push((row.get(0)?, row.get(1)?));
        }
        let mut stmt = conn.prepare("SELECT peer, message_id, record FROM held ORDER BY seq")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            snapshot.held.push((
                key32(row.get(0)?, "held.peer")?,
                id16(row.get(1)?, "held.message_id")?,
                row.get(2)?,
            ));
        }
        let mut stmt =
            conn.prepare("SELECT message_id, recipient, envelope FROM outbox ORDER BY seq")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            snapshot.outbox.push(Outgoing {
                message_id: id16(row.get(0)?, "outbox.message_id")?,
                recipient: key32(row.get(1)?, "outbox.recipient")?,
                envelope: row.get(2)?,
            });
        }
        Ok(Some(snapshot))
    }

    fn commit(&mut self, batch: &Batch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some(account) = &batch.account {
            tx.execute(
                "INSERT OR REPLACE INTO account (id, record) VALUES (1, ?1)",
                params![account.as_slice()],
            )?;
        }
        for (peer, record) in &batch.sessions {
            tx.execute(
                "INSERT OR REPLACE INTO sessions (peer, record) VALUES (?1, ?2)",
                params![peer.as_slice(), record.as_slice()],
            )?;
        }
        for (id, record) in &batch.threads {
            tx.execute(
                "INSERT OR REPLACE INTO threads (request_id, record) VALUES (?1, ?2)",
                params![id.as_slice(), record],
            )?;
        }
        for (handle, record) in &batch.contacts {
            tx.execute(
                "INSERT OR REPLACE INTO contacts (handle, record) VALUES (?1, ?2)",
                params![handle, record],
            )?;
        }
        for p in &batch.processed {
            tx.execute(
                "INSERT OR IGNORE INTO processed (peer, message_id, relay_message_id, processed_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    p.peer.as_slice(),
                    p.message_id.as_slice(),
                    p.relay_message_id.as_slice(),
                    i64::try_from(p.processed_at).unwrap_or(i64::MAX)
                ],
            )?;
        }
        for (peer, id) in &batch.held_delete {
            tx.execute(
                "DELETE FROM held WHERE peer = ?1 AND message_id = ?2",
                params![peer.as_slice(), id.as_slice()],
            )?;
        }
        for (peer, id, record) in &batch.held_insert {
            tx.execute(
                "INSERT OR IGNORE INTO held (peer, message_id, record) VALUES (?1, ?2, ?3)",
                params![peer.as_slice(), id.as_slice(), record],
            )?;
        }
        for id in &batch.outbox_delete {
            tx.execute(
                "DELETE FROM outbox WHERE message_id = ?1",
                params![id.as_slice()],
            )?;
        }
        for o in &batch.outbox_insert {
            tx.execute(
                "INSERT OR IGNORE INTO outbox (message_id, recipient, envelope) VALUES (?1, ?2, ?3)",
                params![
                    o.message_id.as_slice(),
                    o.recipient.as_slice(),
                    o.envelope
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn is_processed(&self, peer: &[u8; 32], message_id: &Id) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM processed WHERE peer = ?1 AND message_id = ?2")?
            .exists(params![peer.as_slice(), message_id.as_slice()])?)
    }
}

fn key32(bytes: Vec<u8>, what: &'static str) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(bytes).map_err(|_| StoreError::Corrupt { what })
}

fn id16(bytes: Vec<u8>, what: &'static str) -> Result<Id, StoreError> {
    <[u8; 16]>::try_from(bytes).map_err(|_| StoreError::Corrupt { what })
}
