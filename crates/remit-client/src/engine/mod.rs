//! The sans-IO engine: one profile's account, sessions, payment threads and contacts, and the
//! calls that change them.
//!
//! Every call that changes state follows one pattern (CONTRIBUTING.md, "State transitions"):
//! compute the new session, account, thread and contact values on copies, put their records in
//! one [`Batch`], commit it through the [`Store`], and only then assign the copies and return
//! events or envelopes. A failure anywhere — a tampered envelope, a refused payment, a store
//! error — leaves memory and store as they were.
//!
//! The methods fall into four kinds, as in quinn-proto's `Connection`:
//! - getters: [`Engine::identity`], [`Engine::thread`], [`Engine::contact`], ...;
//! - `handle_*` for input: [`Engine::handle_envelope`], [`Engine::handle_timeout`], and the
//!   app's settlement verdicts ([`Engine::pending_settlements`] lists what waits for the app's
//!   check of its rail, [`Engine::apply_verdicts`] takes the findings: two phases, so no app or
//!   network code runs inside the engine);
//! - calls that produce envelopes: [`Engine::send_text`], [`Engine::request_payment`], ...;
//! - contact trust: [`Engine::pin_peer`], [`Engine::confirm_identity`], ...

mod contacts;
mod inbound;
mod outbound;
mod prekeys;

use std::collections::{BTreeMap, HashMap};

use rand_core::CryptoRng;
use remit_pay::{Id, PaymentThread};
use remit_session::{Account, Fingerprint, SafetyNumber, Session, VerifiedIdentity, safety_number};
use remit_wire::session::{OneTimePreKey, PreKeyBundle, SignedPreKey};

use crate::{
    error::{ClientError, Misuse},
    event::{Outgoing, Sender},
    record::{Contact, HeldMessage, ThreadEntry},
    store::{Batch, Store},
};

pub use contacts::ContactInfo;
pub use inbound::{PendingSettlement, Verdict};
pub use prekeys::PreKeyPolicy;

/// Most payment messages held for peers whose identity change is unconfirmed. Beyond it, new
/// ones are refused (`Event::Refused` with `LimitExceeded`): a peer whose identity changed must
/// not be able to grow the store without bound while the user looks away.
pub const MAX_HELD_MESSAGES: usize = 256;

/// The client engine of one profile: its account, sessions, payment threads and contacts,
/// persisted through a [`Store`].
///
/// Every call that changes state computes the new values on copies, commits them in one
/// [`Batch`], and only then assigns them and returns events or envelopes: on any error, memory
/// and store are as they were.
///
/// The methods come in four kinds, as in quinn-proto's `Connection`:
/// - getters: [`Engine::identity`], [`Engine::thread`], [`Engine::contact`],
///   [`Engine::pending_outgoing`], ...;
/// - `handle_*` for input: [`Engine::handle_envelope`], [`Engine::handle_timeout`], and
///   [`Engine::apply_verdicts`] (after [`Engine::pending_settlements`]);
/// - calls that produce an envelope: [`Engine::send_text`], [`Engine::request_payment`],
///   [`Engine::send_invoice`], [`Engine::notify_payment`], [`Engine::send_receipt`],
///   [`Engine::decline`], [`Engine::cancel`], [`Engine::send_payment_message`],
///   [`Engine::send_error`];
/// - profile and trust: [`Engine::generate_one_time_prekeys`], [`Engine::bundle`],
///   [`Engine::start_session`], [`Engine::pin_peer`], [`Engine::confirm_identity`],
///   [`Engine::mark_verified`].
pub struct Engine<S: Store> {
    store: S,
    account: Account,
    sessions: HashMap<[u8; 32], Session>,
    threads: HashMap<Id, ThreadSlot>,
    contacts: BTreeMap<String, Contact>,
    held: Vec<([u8; 32], Id, HeldMessage)>,
    outbox: Vec<Outgoing>,
    /// What the relay of the current connection holds of our prekeys (not stored: every
    /// connection reports it anew).
    relay: prekeys::RelayView,
}

/// A thread in memory: the peer it is with and the identity that signed its request.
#[derive(Clone)]
struct ThreadSlot {
    peer: [u8; 32],
    payee: VerifiedIdentity,
    thread: PaymentThread,
}

impl ThreadSlot {
    fn record(&self) -> Result<Vec<u8>, ClientError> {
        Ok(ThreadEntry {
            peer: self.peer,
            payee: self.payee,
            thread: self.thread.to_bytes()?,
        }
        .to_bytes())
    }
}

impl<S: Store> Engine<S> {
    /// Creates a new profile in an empty store: a fresh identity and signed prekey (created
    /// `now`). Generate and publish one-time prekeys next.
    ///
    /// # Errors
    /// [`ClientError::ApiMisuse`] if the store already holds a profile, or a store error.
    ///
    /// ```
    /// use rand::{SeedableRng, rngs::ChaCha20Rng};
    /// use remit_client::{ClientError, Engine, MemoryStore, Misuse};
    ///
    /// let mut rng = ChaCha20Rng::seed_from_u64(1); // an OS-seeded CryptoRng in production
    /// let engine = Engine::create(MemoryStore::new(), 1_700_000_000, &mut rng)?;
    /// let address = engine.address();
    ///
    /// // The store now holds the profile: it opens again, and cannot be created twice.
    /// let store = engine.store().clone();
    /// assert_eq!(Engine::open(store.clone())?.address(), address);
    /// assert!(matches!(
    ///     Engine::create(store, 1_700_000_000, &mut rng),
    ///     Err(ClientError::ApiMisuse(Misuse::ProfileExists))
    /// ));
    /// # Ok::<(), ClientError>(())
    /// ```
    pub fn create<R: CryptoRng + ?Sized>(
        mut store: S,
        now: u64,
        rng: &mut R,
    ) -> Result<Self, ClientError> {
        if store.load()?.is_some() {
            return Err(ClientError::ApiMisuse(Misuse::ProfileExists));
        }
        let account = Account::new(rng, now);
        store.commit(&Batch {
            account: Some(account.to_bytes()),
            ..Batch::default()
        })?;
        Ok(Self {
            store,
            account,
            sessions: HashMap::new(),
            threads: HashMap::new(),
            contacts: BTreeMap::new(),
            held: Vec::new(),
            outbox: Vec::new(),
            relay: prekeys::RelayView::default(),
        })
    }

    /// Opens the profile in `store`.
    ///
    /// # Errors
    /// [`ClientError::ApiMisuse`] if the store is empty, a store error, or a record error.
    pub fn open(store: S) -> Result<Self, ClientError> {
        let snapshot = store
            .load()?
            .ok_or(ClientError::ApiMisuse(Misuse::NoProfile))?;
        let account = Account::from_bytes(&snapshot.account)?;
        let mut sessions = HashMap::new();
        for (peer, record) in &snapshot.sessions {
            sessions.insert(*peer, Session::from_bytes(record)?);
        }
        let mut threads = HashMap::new();
        for (id, record) in &snapshot.threads {
            let entry = ThreadEntry::from_bytes(record)?;
            let thread = PaymentThread::from_bytes(&entry.thread, &entry.payee)?;
            threads.insert(
                *id,
                ThreadSlot {
                    peer: entry.peer,
                    payee: entry.payee,
                    thread,
                },
            );
        }
        let mut contacts = BTreeMap::new();
        for (handle, record) in &snapshot.contacts {
            contacts.insert(handle.clone(), Contact::from_bytes(record)?);
        }
        let mut held = Vec::new();
        for (peer, id, record) in &snapshot.held {
            held.push((*peer, *id, HeldMessage::from_bytes(record)?));
        }
        Ok(Self {
            store,
            account,
            sessions,
            threads,
            contacts,
            held,
            outbox: snapshot.outbox,
            relay: prekeys::RelayView::default(),
        })
    }

    /// Opens the profile in `store`, creating it first if the store is empty.
    ///
    /// # Errors
    /// As [`Engine::open`] and [`Engine::create`].
    pub fn open_or_create<R: CryptoRng + ?Sized>(
        store: S,
        now: u64,
        rng: &mut R,
    ) -> Result<Self, ClientError> {
        if store.load()?.is_some() {
            Self::open(store)
        } else {
            Self::create(store, now, rng)
        }
    }

    /// The store (read-only: every write goes through the engine).
    #[must_use]
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Closes the engine and hands the store back (everything is already committed).
    pub fn into_store(self) -> S {
        self.store
    }

    // -----------------------------------------------------------------------------------------
    // Getters.

    /// Our identity.
    #[must_use]
    pub fn identity(&self) -> &VerifiedIdentity {
        self.account.identity()
    }

    /// Our address: the Ed25519 identity key the relay knows us by.
    #[must_use]
    pub fn address(&self) -> [u8; 32] {
        *self.account.identity().signing_key()
    }

    /// Signs a relay's authentication challenge: `AUTH_CONTEXT ‖ digest` with the identity key
    /// (spec/relay.md §2), where `digest` binds the relay's nonce and this TLS session. The
    /// statement's context is fixed here, so this cannot sign a payment document or anything
    /// else; the identity key never leaves the engine.
    ///
    /// # Errors
    /// [`remit_session::SignError`] if the session layer refuses the statement.
    pub fn sign_relay_auth(
        &self,
        digest: &[u8; remit_relay_proto::auth::DIGEST_LEN],
    ) -> Result<[u8; 64], remit_session::SignError> {
        self.account
            .sign_statement(remit_relay_proto::auth::AUTH_CONTEXT, digest)
    }

    /// Our identity's fingerprint.
    #[must_use]
    pub fn fingerprint(&self) -> Fingerprint {
        self.account.fingerprint()
    }

    /// The safety number of our identity and `peer`'s, to compare out of band.
    #[must_use]
    pub fn safety_number(&self, peer: &VerifiedIdentity) -> SafetyNumber {
        safety_number(self.account.identity(), peer)
    }

    /// Whether a session with `peer` exists.
    #[must_use]
    pub fn has_session(&self, peer: &[u8; 32]) -> bool {
        self.sessions.contains_key(peer)
    }

    /// The identity the session with `peer` authenticated.
    #[must_use]
    pub fn peer_identity(&self, peer: &[u8; 32]) -> Option<&VerifiedIdentity> {
        self.sessions.get(peer).map(Session::peer_identity)
    }

    /// The payment thread of `request_id`.
    #[must_use]
    pub fn thread(&self, request_id: &Id) -> Option<&PaymentThread> {
        self.threads.get(request_id).map(|s| &s.thread)
    }

    /// The peer address of the thread of `request_id`.
    #[must_use]
    pub fn thread_peer(&self, request_id: &Id) -> Option<[u8; 32]> {
        self.threads.get(request_id).map(|s| s.peer)
    }

    /// Every thread: request id, peer address and thread, ordered by request id.
    #[must_use]
    pub fn threads(&self) -> Vec<(Id, [u8; 32], &PaymentThread)> {
        let mut all: Vec<_> = self
            .threads
            .iter()
            .map(|(id, s)| (*id, s.peer, &s.thread))
            .collect();
        all.sort_by_key(|a| a.0);
        all
    }

    /// Envelopes committed for sending that the transport has not yet marked sent
    /// ([`Engine::mark_sent`]), oldest first. After a crash, send these again.
    #[must_use]
    pub fn pending_outgoing(&self) -> &[Outgoing] {
        &self.outbox
    }

    /// How many one-time prekeys the account holds (to top up the relay's supply).
    #[must_use]
    pub fn one_time_prekey_count(&self) -> usize {
        self.account.one_time_prekey_count()
    }

    // -----------------------------------------------------------------------------------------
    // Prekeys.

    /// Our bundle with `one_time_prekey` (one of those returned by
    /// [`Engine::generate_one_time_prekeys`]), to publish or hand to a peer.
    #[must_use]
    pub fn bundle(&self, one_time_prekey: Option<OneTimePreKey>) -> PreKeyBundle {
        self.account.bundle(one_time_prekey)
    }

    /// Generates `n` one-time prekeys, commits the account, and returns the public halves to
    /// publish.
    ///
    /// # Errors
    /// [`ClientError::PreKey`] above `MAX_ONE_TIME_PREKEYS`, or a store error.
    pub fn generate_one_time_prekeys<R: CryptoRng + ?Sized>(
        &mut self,
        n: usize,
        rng: &mut R,
    ) -> Result<Vec<OneTimePreKey>, ClientError> {
        let mut account = copy_account(&self.account)?;
        let keys = account.generate_one_time_prekeys(n, rng)?;
        self.commit_account(account)?;
        Ok(keys)
    }

    /// Rotates the signed prekey (the old one is retained for messages in flight) and prunes
    /// retired ones; returns the new signed prekey to publish.
    ///
    /// # Errors
    /// [`ClientError::PreKey`] if ids are exhausted, or a store error.
    pub fn rotate_signed_prekey<R: CryptoRng + ?Sized>(
        &mut self,
        now: u64,
        rng: &mut R,
    ) -> Result<SignedPreKey, ClientError> {
        let mut account = copy_account(&self.account)?;
        account.prune(now);
        let signed = account.rotate_signed_prekey(now, rng)?;
        self.commit_account(account)?;
        Ok(signed)
    }

    /// Marks an outgoing envelope sent (the relay acknowledged its `Send`): it leaves
    /// [`Engine::pending_outgoing`]. Unknown ids are ignored.
    ///
    /// # Errors
    /// A store error.
    pub fn mark_sent(&mut self, message_id: &[u8; 16]) -> Result<(), ClientError> {
        self.mark_sent_all(core::slice::from_ref(message_id))
    }

    /// Marks several outgoing envelopes sent in one commit (the transport's marks for a whole
    /// pipelined flush). Unknown ids are ignored; with none known, nothing is committed.
    ///
    /// # Errors
    /// A store error; nothing changed.
    pub fn mark_sent_all(&mut self, message_ids: &[[u8; 16]]) -> Result<(), ClientError> {
        let known: Vec<[u8; 16]> = message_ids
            .iter()
            .filter(|id| self.outbox.iter().any(|o| o.message_id == **id))
            .copied()
            .collect();
        if known.is_empty() {
            return Ok(());
        }
        self.store.commit(&Batch {
            outbox_delete: known.clone(),
            ..Batch::default()
        })?;
        self.outbox.retain(|o| !known.contains(&o.message_id));
        Ok(())
    }

    fn commit_account(&mut self, account: Account) -> Result<(), ClientError> {
        self.store.commit(&Batch {
            account: Some(account.to_bytes()),
            ..Batch::default()
        })?;
        self.account = account;
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Helpers shared by the submodules.

    /// The contact pinned to `identity` (exactly), if any.
    fn contact_for(&self, identity: &VerifiedIdentity) -> Option<(&String, &Contact)> {
        self.contacts.iter().find(|(_, c)| c.identity == *identity)
    }

    /// Whether payment messages with `address` are frozen (an unconfirmed identity change of
    /// a contact at that address, before or after the change).
    fn is_frozen(&self, address: &[u8; 32]) -> bool {
        self.contacts.values().any(|c| frozen_at(c, address))
    }

    fn sender(&self, address: [u8; 32], identity: VerifiedIdentity) -> Sender {
        let contact = self.contact_for(&identity);
        Sender {
            address,
            identity,
            safety_number: self.safety_number(&identity),
            handle: contact.map(|(h, _)| h.clone()),
            verified: contact.is_some_and(|(_, c)| c.verified),
        }
    }
}

impl<S: Store> core::fmt::Debug for Engine<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Engine")
            .field("identity", self.account.identity())
            .field("sessions", &self.sessions.len())
            .field("threads", &self.threads.len())
            .field("contacts", &self.contacts.len())
            .field("held", &self.held.len())
            .field("outbox", &self.outbox.len())
            .finish_non_exhaustive()
    }
}

fn frozen_at(contact: &Contact, address: &[u8; 32]) -> bool {
    contact.frozen
        && (contact.identity.signing_key() == address
            || contact.previous.is_some_and(|p| p.signing_key() == address))
}

/// A working copy of a session: sessions are not `Clone` (their keys are secrets), so the copy
/// goes through the session's own record.
fn copy_session(session: &Session) -> Result<Session, ClientError> {
    Ok(Session::from_bytes(&session.to_bytes())?)
}

/// A working copy of the account, through its record.
fn copy_account(account: &Account) -> Result<Account, ClientError> {
    Ok(Account::from_bytes(&account.to_bytes())?)
}
