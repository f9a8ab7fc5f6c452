//! The Remit client engine: what an app embeds to exchange end-to-end encrypted payment
//! messages.
//!
//! An [`Engine`] owns one profile — the identity and prekeys ([`remit_session::Account`]), one
//! session per peer, the payment threads ([`remit_pay::PaymentThread`]) by request id, the
//! contacts with their pinned identities, and the set of processed message ids — and persists
//! every change through a [`Store`] before it acts on it. It is sans-IO: no socket, no clock
//! (`now` is an argument, Unix seconds), no OS randomness (`rng: &mut impl CryptoRng`). Bytes go
//! in, bytes and typed events come out; the app, or the relay transport built on top, moves the
//! bytes.
//!
//! ```text
//!   transport / app                       Engine                              Store
//!   ───────────────                       ──────                              ─────
//!   Deliver(sender, id, bytes) ──▶ handle_envelope ─ decrypt, decode, ──▶ commit(one Batch)
//!   ack the relay ◀── Ok(events) ◀──────  validate, apply to thread     ◀──  durable
//!
//!   request_payment / send_text ──▶ sign, apply to thread, encrypt ───▶ commit(one Batch)
//!   relay Send ◀── Outgoing ◀──────────────────────────────────────────  durable
//! ```
//!
//! **Exactly once.** Each inbound envelope's whole effect (session and account records, threads,
//! contacts, held messages, the processed `Content.message_id`) is one transaction, committed
//! before [`Engine::handle_envelope`] returns: ack the relay after it returns, and a crash in
//! between only causes a redelivery that changes nothing and reports nothing. Each outgoing
//! call commits the advanced session (and thread) before returning the envelope, so a message
//! key is never used twice (spec/README.md §4.5).
//!
//! **Identity safety.** [`Engine::pin_peer`] binds an app handle to an identity (first use is
//! trusted). When a contact's identity changes — a fetched bundle for a known handle, or a new
//! handshake from a known address — the engine reports [`Event::IdentityChanged`] and freezes
//! payment messages with that contact (outgoing calls fail with
//! [`ClientError::IdentityUnconfirmed`], incoming ones are held) until
//! [`Engine::confirm_identity`] (spec/README.md §4.7). Every event names the sender's verified
//! identity and the safety number.
//!
//! **Not yet.** The store does not encrypt records at rest: the SQLite file holds private keys
//! in the clear (spec/README.md §3.3).
//!
//! **Transport.** [`transport::Client`] (feature `transport`, default on) drives an engine over
//! QUIC to a relay: pinned certificate, authentication with the account, prekey publication and
//! top-up, bundle fetch, outbox send and resend, ack after commit, reconnect with backoff. The
//! engine runs without it (`default-features = false, features = ["sqlite"]`).
//!
//! # Example
//!
//! Alice asks Bob for 12.50 USD; the envelopes are passed by hand.
//!
//! ```
//! use rand::{SeedableRng, rngs::ChaCha20Rng};
//! use remit_client::{Engine, Event, MemoryStore};
//! use remit_pay::{Money, PaymentMethod, RequestDraft, ThreadState};
//!
//! let mut rng = ChaCha20Rng::seed_from_u64(7); // an OS-seeded CryptoRng in production
//! let now = 1_700_000_000;
//! let mut alice = Engine::create(MemoryStore::new(), now, &mut rng)?;
//! let mut bob = Engine::create(MemoryStore::new(), now, &mut rng)?;
//!
//! // Bob publishes a bundle (normally through the relay); Alice starts a session with it.
//! let one_time = bob.generate_one_time_prekeys(1, &mut rng)?;
//! let bundle = bob.bundle(one_time.first().copied());
//! alice.start_session(Some("bob"), &bundle, &mut rng)?;
//!
//! // Alice requests the money.
//! let draft = RequestDraft {
//!     amount: Money::parse("12.50 USD")?,
//!     methods: vec![PaymentMethod::Provider {
//!         provider: "examplepay".into(),
//!         account: "@alice".into(),
//!     }],
//!     memo: "lunch".into(),
//!     reference: String::new(),
//!     payee_name: "Alice".into(),
//!     created_at: now,
//!     expires_at: now + 86_400,
//!     allow_partial: false,
//!     invoice: None,
//! };
//! let sent = alice.request_payment(&bob.address(), &draft, now, &mut rng)?;
//!
//! // The transport carries `sent.outgoing` to Bob, who handles it and then acks the relay.
//! let out = &sent.outgoing;
//! let events = bob.handle_envelope(alice.address(), out.message_id, &out.envelope, now + 1)?;
//! let [Event::Payment { from, request_id, state, .. }] = events.as_slice() else {
//!     panic!("expected one payment event, got {events:?}");
//! };
//! assert_eq!(*state, ThreadState::Issued);
//! assert_eq!(from.identity, *alice.identity());
//! assert_eq!(from.safety_number, alice.safety_number(bob.identity()));
//! let request = bob.thread(request_id).expect("thread").request().request();
//! assert_eq!(request.amount.to_string(), "12.50 USD");
//!
//! // The same envelope delivered again changes nothing and reports nothing.
//! assert!(bob.handle_envelope(alice.address(), out.message_id, &out.envelope, now + 2)?.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `examples/two_parties.rs` walks the whole flow on SQLite files: request, invoice, payment
//! notice, settlement verification, receipt, decline and cancel. `examples/relay_pair.rs` is
//! the same request, paid and receipted, over [`transport::Client`] and a relay.
//!
//! The public interface is the `pub use` block at the end of this file: the [`Engine`] and
//! what its calls return ([`Event`], [`Outgoing`], [`Sent`], [`Sender`], [`ContactInfo`]), the
//! errors ([`ClientError`] with [`Misuse`], [`StoreError`]), the [`Store`] trait with the
//! [`Batch`] and [`Snapshot`] it moves, [`MemoryStore`] and (feature `sqlite`, on by default)
//! [`SqliteStore`], the record versions, and (feature `transport`, on by default) the
//! [`transport`] module. The stored-record decoders and the transport's test hook are reachable
//! only through `internal`, with the `internal` feature (for `fuzz/` and tests).
#![forbid(unsafe_code)]

mod engine;
mod error;
mod event;
/// Entry points for fuzzing and tests, behind the `internal` feature. Not part of the API.
#[cfg(feature = "internal")]
pub mod internal;
mod record;
mod store;
#[cfg(feature = "transport")]
pub mod transport;

// The public interface is:
pub use engine::{
    ContactInfo, Engine, MAX_HELD_MESSAGES, PendingSettlement, PreKeyPolicy, Verdict,
};
pub use error::{ClientError, Misuse, StoreError};
pub use event::{Event, Outgoing, Sender, Sent};
pub use record::CLIENT_RECORD_VERSION;
#[cfg(feature = "sqlite")]
pub use store::sqlite::{SQLITE_SCHEMA_VERSION, SqliteStore};
pub use store::{Batch, MemoryStore, Processed, Snapshot, Store};
