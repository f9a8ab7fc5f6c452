//! Remit payments: money, the payment messages, the payee's signatures, and the sans-IO
//! [`PaymentThread`] state machine. spec/payments.md is the authority on every rule; this crate
//! implements it.
//!
//! ```text
//!  payee                                   payer
//!  RequestDraft::sign ──SignedRequest──▶  open() → PaymentThread::open(Payer)
//!  PaymentThread::open(Payee)              Notice::payment ─┐
//!        ◀──────────────── Notice (PAYMENT) ─────────────────┘
//!  thread.handle(Inbound) → PaymentPending
//!  thread.verify_settlements(&mut app_verifier) → Paid      (only the app's check counts)
//!  SignedReceipt::sign ─────── Receipt ──────────────────▶ thread.handle(Inbound)
//! ```
//!
//! No clock, no socket, no OS randomness: `now` (Unix seconds) and `rng` come from the caller.
//! Untrusted bytes are decoded by remit-wire only; this crate validates the decoded values into
//! typed views, and signs and hashes the exact document bytes, never a re-encoding.
//!
//! Identities are remit-session's: the session peer is a [`remit_session::VerifiedIdentity`]
//! (a request's `payee` is its [`remit_session::Fingerprint`]), and we sign through a
//! [`LocalIdentity`], a borrow of our [`remit_session::Account`], whose identity key signs only
//! `context ‖ digest` statements (spec/handshake.md §3.5). This crate never holds a key.
//!
//! ```
//! use rand::{SeedableRng, rngs::ChaCha20Rng};
//! use remit_pay::{
//!     Direction, LocalIdentity, Money, PaymentMethod, PaymentThread, RequestDraft, Role,
//!     ThreadState, open, seal, PaymentMessage, Incoming,
//! };
//! use remit_session::Account;
//!
//! let mut rng = ChaCha20Rng::seed_from_u64(1); // use an OS-seeded CryptoRng in production
//! let now = 1_700_000_000;
//! // Alice's account (remit-session) holds her identity key; remit-pay signs through it.
//! let alice_account = Account::new(&mut rng, now);
//! let alice = LocalIdentity::new(&alice_account);
//! let request = RequestDraft {
//!     amount: Money::parse("12.50 USD")?,
//!     methods: vec![PaymentMethod::Provider { provider: "examplepay".into(), account: "@alice".into() }],
//!     memo: "lunch".into(),
//!     reference: String::new(),
//!     payee_name: "Alice".into(),
//!     created_at: now,
//!     expires_at: now + 86_400,
//!     allow_partial: false,
//!     invoice: None,
//! }
//! .sign(&alice, &mut rng)?;
//! let plaintext = seal([1; 16], &request.into())?;
//!
//! // Bob's side: the session says the peer is Alice (`Session::peer_identity()`, a
//! // `remit_session::VerifiedIdentity`).
//! let received = open(&plaintext, alice.public())?;
//! let Incoming::Payment(PaymentMessage::Request(request)) = received.body else { panic!() };
//! let thread = PaymentThread::open(Role::Payer, *request, now + 5)?;
//! assert_eq!(thread.state(), ThreadState::Issued);
//! assert_eq!(thread.request().request().amount.to_string(), "12.50 USD");
//! # let _ = Direction::Inbound;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The public interface is the `pub use` block at the end of this file, in four groups: money
//! ([`Money`], [`Asset`], [`Decimal`], the known-asset table), the payment messages (drafts that
//! sign, validated views that [`open`] returns, [`seal`] for the plaintext), the thread
//! ([`PaymentThread`] and its states, [`SettlementVerifier`]), and the signature contexts. The
//! modules `limits` and `text` hold the named caps and the text sanitiser. Every public enum that
//! mirrors the wire is `#[non_exhaustive]`; [`Direction`] and [`Role`] are complete by
//! definition. Nothing else is reachable without the `internal` feature.
#![forbid(unsafe_code)]
#![warn(clippy::exhaustive_enums)]

mod error;
mod identity;
pub mod limits;
mod message;
mod money;
pub mod text;
mod thread;

/// Entry points for tests, vector generators and fuzzing, behind the `internal` feature. Not
/// part of the API.
#[cfg(feature = "internal")]
pub mod internal;

// The public interface is:
pub use error::PayError;
pub use identity::{
    DocumentDigest, LocalIdentity, RECEIPT_SIGNATURE_CONTEXT, REQUEST_SIGNATURE_CONTEXT,
};
pub use message::{
    Adjustment, AdjustmentDraft, Cancel, CancelReason, Decline, DeclineReason, Id, Incoming,
    Invoice, InvoiceDraft, LineDraft, LineItem, MessageKind, Notice, NoticeKind,
    PayeeSignatureValid, PaymentMessage, PaymentMethod, PaymentRequest, ProtocolErrorReply,
    Receipt, ReceiptOutcome, Received, RequestDraft, RequestKind, Role, Settlement, SignedReceipt,
    SignedRequest, content_for_error, new_id, open, open_content, seal,
};
pub use money::{Asset, AssetKind, Decimal, KNOWN_ASSETS, KnownAsset, Money, MoneyError};
pub use remit_wire::v1::ErrorCode;
pub use thread::{
    Applied, Direction, ExceptionReason, PaymentRecord, PaymentStatus, PaymentThread,
    SettlementVerifier, THREAD_MAGIC, THREAD_VERSION, ThreadState, Verification,
};
