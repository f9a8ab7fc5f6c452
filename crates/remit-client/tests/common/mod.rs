//! Shared fixtures: two engines, a backend abstraction (memory, SQLite files in a temp dir), a
//! scripted settlement verifier, a store that can be told to fail, and a store dump for
//! before/after comparisons.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::{cell::Cell, collections::HashMap, path::PathBuf, rc::Rc};

use rand::{SeedableRng, rngs::ChaCha20Rng};
use remit_client::{
    Batch, ClientError, Engine, Event, MemoryStore, Outgoing, Snapshot, SqliteStore, Store,
    StoreError,
};
use remit_pay::{
    Id, Money, Notice, PaymentMethod, PaymentRequest, RequestDraft, SettlementVerifier,
    Verification,
};

pub const NOW: u64 = 1_700_000_000;
pub const DAY: u64 = 86_400;

/// Where engines keep their state in a test.
pub trait Backend {
    type S: Store;
    /// A fresh store for the profile `name`.
    fn fresh(&mut self, name: &str) -> Self::S;
    /// The same profile after the process died: `old` is dropped, the state is reopened.
    fn reopen(&mut self, name: &str, old: Self::S) -> Self::S;
}

pub struct Memory;

impl Backend for Memory {
    type S = MemoryStore;
    fn fresh(&mut self, _name: &str) -> MemoryStore {
        MemoryStore::new()
    }
    fn reopen(&mut self, _name: &str, old: MemoryStore) -> MemoryStore {
        let copy = old.clone();
        drop(old);
        copy
    }
}

pub struct Sqlite {
    pub dir: tempfile::TempDir,
}

impl Sqlite {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.db"))
    }
}

impl Backend for Sqlite {
    type S = SqliteStore;
    fn fresh(&mut self, name: &str) -> SqliteStore {
        SqliteStore::open(self.path(name)).unwrap()
    }
    fn reopen(&mut self, name: &str, old: SqliteStore) -> SqliteStore {
        drop(old);
        SqliteStore::open(self.path(name)).unwrap()
    }
}

/// Alice (payee) and Bob (payer) with a session from Alice to Bob (Bob's bundle with a
/// one-time prekey), Bob pinned as "bob" on Alice's side.
pub struct Pair<B: Backend> {
    pub backend: B,
    pub alice: Engine<B::S>,
    pub bob: Engine<B::S>,
    pub rng: ChaCha20Rng,
}

impl<B: Backend> Pair<B> {
    pub fn new(mut backend: B, seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut alice = Engine::create(backend.fresh("alice"), NOW, &mut rng).unwrap();
        let mut bob = Engine::create(backend.fresh("bob"), NOW, &mut rng).unwrap();
        let keys = bob.generate_one_time_prekeys(2, &mut rng).unwrap();
        let events = alice
            .start_session(Some("bob"), &bob.bundle(keys.first().copied()), &mut rng)
            .unwrap();
        assert!(events.is_empty());
        Self {
            backend,
            alice,
            bob,
            rng,
        }
    }

    pub fn alice_addr(&self) -> [u8; 32] {
        self.alice.address()
    }

    pub fn bob_addr(&self) -> [u8; 32] {
        self.bob.address()
    }

    /// Delivers Alice's envelope to Bob.
    pub fn deliver_to_bob(&mut self, out: &Outgoing, now: u64) -> Result<Vec<Event>, ClientError> {
        assert_eq!(out.recipient, self.bob.address());
        self.bob
            .handle_envelope(self.alice.address(), out.message_id, &out.envelope, now)
    }

    /// Delivers Bob's envelope to Alice.
    pub fn deliver_to_alice(
        &mut self,
        out: &Outgoing,
        now: u64,
    ) -> Result<Vec<Event>, ClientError> {
        assert_eq!(out.recipient, self.alice.address());
        self.alice
            .handle_envelope(self.bob.address(), out.message_id, &out.envelope, now)
    }

    /// Drops both engines (a crash: nothing more is written) and reopens them from their
    /// stores.
    pub fn restart(self) -> Self {
        let Self {
            mut backend,
            alice,
            bob,
            rng,
        } = self;
        let a = backend.reopen("alice", alice.into_store());
        let b = backend.reopen("bob", bob.into_store());
        Self {
            alice: Engine::open(a).unwrap(),
            bob: Engine::open(b).unwrap(),
            backend,
            rng,
        }
    }

    /// Restarts Bob only.
    pub fn restart_bob(&mut self) {
        let placeholder =
            Engine::create(self.backend.fresh("scratch"), NOW, &mut self.rng).unwrap();
        let bob = std::mem::replace(&mut self.bob, placeholder);
        let store = self.backend.reopen("bob", bob.into_store());
        self.bob = Engine::open(store).unwrap();
    }
}

pub fn draft(amount: &str, expires_in: u64) -> RequestDraft {
    RequestDraft {
        amount: Money::parse(amount).unwrap(),
        methods: vec![PaymentMethod::Provider {
            provider: "examplepay".into(),
            account: "@alice".into(),
        }],
        memo: "dinner on friday".into(),
        reference: "order-17".into(),
        payee_name: "Alice".into(),
        created_at: NOW,
        expires_at: NOW + expires_in,
        allow_partial: false,
        invoice: None,
    }
}

pub fn settlement(id: &str) -> remit_pay::Settlement {
    remit_pay::Settlement::Provider {
        provider: "examplepay".into(),
        transfer_id: id.into(),
    }
}

/// The app's view of the rail: settled for the claimed amount unless scripted otherwise.
#[derive(Default)]
pub struct Ledger {
    pub verdicts: HashMap<Id, Verification>,
    pub calls: usize,
}

impl SettlementVerifier for Ledger {
    fn verify(&mut self, _request: &PaymentRequest, notice: &Notice) -> Verification {
        self.calls += 1;
        self.verdicts
            .get(&notice.payment_id)
            .cloned()
            .unwrap_or_else(|| Verification::Settled(notice.amount.clone()))
    }
}

/// Every record a store would hand to a restarted engine, in a canonical order, plus the
/// processed flag of the given ids: equal dumps mean equal stored state.
pub fn dump<S: Store>(store: &S, processed: &[([u8; 32], Id)]) -> Vec<u8> {
    let Some(s) = store.load().unwrap() else {
        return Vec::new();
    };
    let Snapshot {
        account,
        mut sessions,
        mut threads,
        mut contacts,
        held,
        outbox,
        ..
    } = s;
    sessions.sort_by_key(|x| x.0);
    threads.sort_by_key(|x| x.0);
    contacts.sort();
    let mut out = account.to_vec();
    for (k, v) in sessions {
        out.extend_from_slice(&k);
        out.extend_from_slice(&v);
    }
    for (k, v) in threads {
        out.extend_from_slice(&k);
        out.extend_from_slice(&v);
    }
    for (k, v) in contacts {
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(&v);
    }
    for (p, i, v) in held {
        out.extend_from_slice(&p);
        out.extend_from_slice(&i);
        out.extend_from_slice(&v);
    }
    for o in outbox {
        out.extend_from_slice(&o.message_id);
        out.extend_from_slice(&o.envelope);
    }
    for (p, i) in processed {
        out.push(u8::from(store.is_processed(p, i).unwrap()));
    }
    out
}

/// A store whose next commit can be made to fail (a crash, a full disk).
#[derive(Clone)]
pub struct Flaky<S> {
    pub inner: S,
    pub fail: Rc<Cell<bool>>,
}

impl<S: Store> Store for Flaky<S> {
    fn load(&self) -> Result<Option<Snapshot>, StoreError> {
        self.inner.load()
    }
    fn commit(&mut self, batch: &Batch) -> Result<(), StoreError> {
        if self.fail.get() {
            return Err(StoreError::Io(std::io::Error::other("disk on fire")));
        }
        self.inner.commit(batch)
    }
    fn is_processed(&self, peer: &[u8; 32], message_id: &Id) -> Result<bool, StoreError> {
        self.inner.is_processed(peer, message_id)
    }
}

/// Runs a test body once per backend.
#[macro_export]
macro_rules! per_backend {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn memory() {
                    super::$name(super::common::Memory);
                }
                #[test]
                fn sqlite() {
                    super::$name(super::common::Sqlite::new());
                }
            }
        )*
    };
}
