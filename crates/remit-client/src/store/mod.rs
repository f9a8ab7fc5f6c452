//! Persistence: the [`Store`] trait the engine commits through, an in-memory [`MemoryStore`],
//! and (feature `sqlite`, on by default) the [`SqliteStore`](crate::SqliteStore).
//!
//! The engine hands a store one [`Batch`] per state change — everything one inbound envelope
//! or one outgoing call changed — and the store must apply it atomically: all of it or none of
//! it, durably, before `commit` returns. That is the whole contract that makes delivery take
//! effect exactly once and keeps a message key from ever being used twice (spec/README.md §2,
//! §4.5).
//!
//! Records are opaque bytes to a store: the crates' own versioned records (`RMSA` account,
//! `RMSS` session, `RMPT` thread inside the engine's `RMCT` entry) and the engine's contact and
//! held-message records. **Nothing is encrypted at rest yet**: session and account records hold
//! private keys in the clear, so the store file is as secret as the keys (spec/README.md §3.3).

#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;

use std::collections::{BTreeMap, BTreeSet};

use remit_pay::Id;
use zeroize::Zeroizing;

use crate::{error::StoreError, event::Outgoing};

/// Implemented by a persistence backend. See the module documentation for the contract.
pub trait Store {
    /// Everything needed to start an engine, or `None` if the store is empty (no account yet).
    /// Processed message ids are not loaded; the engine asks [`Store::is_processed`].
    ///
    /// # Errors
    /// A [`StoreError`] if the backend fails or holds malformed rows.
    fn load(&self) -> Result<Option<Snapshot>, StoreError>;

    /// Applies `batch` atomically and durably. On error nothing of it is applied.
    ///
    /// # Errors
    /// A [`StoreError`]; the engine then leaves its own state unchanged too.
    fn commit(&mut self, batch: &Batch) -> Result<(), StoreError>;

    /// Whether `(peer, message_id)` was committed by an earlier batch.
    ///
    /// # Errors
    /// A [`StoreError`] if the backend fails.
    fn is_processed(&self, peer: &[u8; 32], message_id: &Id) -> Result<bool, StoreError>;
}

/// The stored state an engine starts from.
#[non_exhaustive]
pub struct Snapshot {
    /// The account record (`RMSA`).
    pub account: Zeroizing<Vec<u8>>,
    /// Session records (`RMSS`) by peer address.
    pub sessions: Vec<([u8; 32], Zeroizing<Vec<u8>>)>,
    /// Thread entries (`RMCT`) by request id.
    pub threads: Vec<(Id, Vec<u8>)>,
    /// Contact records (`RMCC`) by handle.
    pub contacts: Vec<(String, Vec<u8>)>,
    /// Held messages (`RMCH`) in the order they arrived, keyed by (peer, message id).
    pub held: Vec<([u8; 32], Id, Vec<u8>)>,
    /// Envelopes committed for sending and not yet marked sent, oldest first.
    pub outbox: Vec<Outgoing>,
}

impl Snapshot {
    /// A snapshot with only an account (a new profile). For custom [`Store`] implementations.
    #[must_use]
    pub fn new(account: Zeroizing<Vec<u8>>) -> Self {
        Self {
            account,
            sessions: Vec::new(),
            threads: Vec::new(),
            contacts: Vec::new(),
            held: Vec::new(),
            outbox: Vec::new(),
        }
    }
}

/// One atomic state change. Built by the engine only; read by [`Store`] implementations.
#[derive(Default)]
#[non_exhaustive]
pub struct Batch {
    /// A new account record (replaces the old one).
    pub account: Option<Zeroizing<Vec<u8>>>,
    /// Session records to insert or replace, by peer address.
    pub sessions: Vec<([u8; 32], Zeroizing<Vec<u8>>)>,
    /// Thread entries to insert or replace, by request id.
    pub threads: Vec<(Id, Vec<u8>)>,
    /// Contact records to insert or replace, by handle.
    pub contacts: Vec<(String, Vec<u8>)>,
    /// Message ids now processed.
    pub processed: Vec<Processed>,
    /// Held messages to add.
    pub held_insert: Vec<([u8; 32], Id, Vec<u8>)>,
    /// Held messages to delete (released).
    pub held_delete: Vec<([u8; 32], Id)>,
    /// Envelopes to queue for sending.
    pub outbox_insert: Vec<Outgoing>,
    /// Outbox entries (by relay message id) to delete: the relay acknowledged them.
    pub outbox_delete: Vec<[u8; 16]>,
}

impl Batch {
    /// Whether the batch changes nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        let Self {
            account,
            sessions,
            threads,
            contacts,
            processed,
            held_insert,
            held_delete,
            outbox_insert,
            outbox_delete,
        } = self;
        account.is_none()
            && sessions.is_empty()
            && threads.is_empty()
            && contacts.is_empty()
            && processed.is_empty()
            && held_insert.is_empty()
            && held_delete.is_empty()
            && outbox_insert.is_empty()
            && outbox_delete.is_empty()
    }
}

/// A processed `Content.message_id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Processed {
    /// The sender's address.
    pub peer: [u8; 32],
    /// `Content.message_id`.
    pub message_id: Id,
    /// The relay's message id of the envelope that carried it (informative).
    pub relay_message_id: [u8; 16],
    /// When it was processed (the caller's clock).
    pub processed_at: u64,
}

/// A store in memory: for tests, and for apps that persist by other means. Cloning it copies
/// the state, which is how tests simulate a restart.
#[derive(Clone, Default)]
pub struct MemoryStore {
    account: Option<Zeroizing<Vec<u8>>>,
    sessions: BTreeMap<[u8; 32], Zeroizing<Vec<u8>>>,
    threads: BTreeMap<Id, Vec<u8>>,
    contacts: BTreeMap<String, Vec<u8>>,
    processed: BTreeSet<([u8; 32], Id)>,
    held: Vec<([u8; 32], Id, Vec<u8>)>,
    outbox: Vec<Outgoing>,
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl core::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Every field named, so that a new one is a compile error until someone decides whether
        // it may be printed. The records themselves hold secrets: only counts are shown.
        let Self {
            account: _,
            sessions,
            threads,
            contacts: _,
            processed,
            held: _,
            outbox: _,
        } = self;
        f.debug_struct("MemoryStore")
            .field("sessions", &sessions.len())
            .field("threads", &threads.len())
            .field("processed", &processed.len())
            .finish_non_exhaustive()
    }
}

impl Store for MemoryStore {
    fn load(&self) -> Result<Option<Snapshot>, StoreError> {
        let Some(account) = &self.account else {
            return Ok(None);
        };
        Ok(Some(Snapshot {
            account: account.clone(),
            sessions: self.sessions.iter().map(|(k, v)| (*k, v.clone())).collect(),
            threads: self.threads.iter().map(|(k, v)| (*k, v.clone())).collect(),
            contacts: self
                .contacts
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            held: self.held.clone(),
            outbox: self.outbox.clone(),
        }))
    }

    fn commit(&mut self, batch: &Batch) -> Result<(), StoreError> {
        if let Some(a) = &batch.account {
            self.account = Some(a.clone());
        }
        for (peer, record) in &batch.sessions {
            self.sessions.insert(*peer, record.clone());
        }
        for (id, record) in &batch.threads {
            self.threads.insert(*id, record.clone());
        }
        for (handle, record) in &batch.contacts {
            self.contacts.insert(handle.clone(), record.clone());
        }
        for p in &batch.processed {
            self.processed.insert((p.peer, p.message_id));
        }
        self.held
            .retain(|(peer, id, _)| !batch.held_delete.contains(&(*peer, *id)));
        for row in &batch.held_insert {
            if !self.held.iter().any(|(p, i, _)| (p, i) == (&row.0, &row.1)) {
                self.held.push(row.clone());
            }
        }
        self.outbox
            .retain(|o| !batch.outbox_delete.contains(&o.message_id));
        for o in &batch.outbox_insert {
            self.outbox.push(o.clone());
        }
        Ok(())
    }

    fn is_processed(&self, peer: &[u8; 32], message_id: &Id) -> Result<bool, StoreError> {
        Ok(self.processed.contains(&(*peer, *message_id)))
    }
}
