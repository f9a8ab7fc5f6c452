//! What the engine hands back: [`Event`]s for the app and [`Outgoing`] envelopes for the
//! transport.

use remit_pay::{Applied, Id, MessageKind, PayError, ProtocolErrorReply, ThreadState};
use remit_session::{SafetyNumber, VerifiedIdentity};

/// An envelope to hand to the transport: a relay `Send` of `envelope` to `recipient` with the
/// client-chosen `message_id`. The session state that produced it is already committed, so the
/// transport may resend these exact bytes (the relay stores a repeated id once) but must never
/// ask the engine to encrypt the same content again.
#[derive(Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The recipient's address (Ed25519 identity key).
    pub recipient: [u8; 32],
    /// The relay message id (`Send.message_id`): 16 random bytes, distinct from the encrypted
    /// `Content.message_id` so that the relay never learns the content's id.
    pub message_id: [u8; 16],
    /// The encoded `SessionEnvelope`.
    pub envelope: Vec<u8>,
}

impl core::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let Self {
            recipient,
            message_id,
            envelope,
        } = self;
        f.debug_struct("Outgoing")
            .field("recipient", &Hex(recipient))
            .field("message_id", &Hex(message_id))
            .field("envelope_len", &envelope.len())
            .finish()
    }
}

/// What an outgoing payment call produced: the envelope to send and where the thread now is.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Sent {
    /// The envelope for the transport.
    pub outgoing: Outgoing,
    /// The `Content.message_id` inside (what a peer's `ProtocolError` would name).
    pub content_id: Id,
    /// The thread's request id.
    pub request_id: Id,
    /// The notice's payment id (`notify_payment` only): the idempotency key of the payment.
    pub payment_id: Option<Id>,
    /// The thread's state after the message.
    pub state: ThreadState,
}

/// Who sent an inbound message: the identity the session authenticated, as the app should show
/// it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Sender {
    /// The sender's address (its Ed25519 identity key, as the relay authenticated it).
    pub address: [u8; 32],
    /// The identity the session authenticated.
    pub identity: VerifiedIdentity,
    /// The safety number of our identity and theirs.
    pub safety_number: SafetyNumber,
    /// The app's handle for this contact, if one is pinned to this identity.
    pub handle: Option<String>,
    /// Whether the user marked this identity verified (compared safety numbers).
    pub verified: bool,
}

/// Something the app should know about. Produced by [`crate::Engine::handle_envelope`] and the
/// other calls that take input; each is produced once, after its effect is committed.
// `Sender` is the large part of every variant; boxing it buys nothing for a value consumed once.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A peer's identity differs from the one pinned for its contact: the app must show it and
    /// reset the contact's verification. Payment messages with the contact are frozen until
    /// [`crate::Engine::confirm_identity`].
    IdentityChanged {
        /// The contact's handle.
        handle: String,
        /// The identity pinned before.
        previous: VerifiedIdentity,
        /// The identity now seen.
        current: VerifiedIdentity,
        /// The safety number of our identity and the new one, to compare out of band.
        safety_number: SafetyNumber,
    },
    /// A payment message was accepted and applied to its thread.
    Payment {
        /// Who sent it.
        from: Sender,
        /// `Content.message_id`.
        message_id: Id,
        /// What it was.
        kind: MessageKind,
        /// The thread.
        request_id: Id,
        /// What applying it did (a state change, or a harmless duplicate of a payment-level
        /// id).
        applied: Applied,
        /// The thread's state now.
        state: ThreadState,
    },
    /// A payment message from a peer whose identity change is unconfirmed: kept, not applied.
    /// It is applied (and reported as [`Event::Payment`]) when the app confirms the identity.
    PaymentHeld {
        /// Who sent it.
        from: Sender,
        /// `Content.message_id`.
        message_id: Id,
        /// What it is.
        kind: MessageKind,
        /// The thread it is for.
        request_id: Id,
    },
    /// The peer reported that a message of ours was refused.
    PeerError {
        /// Who sent it.
        from: Sender,
        /// `Content.message_id` of the error message.
        message_id: Id,
        /// The reply (the refused message id, the code and the field).
        reply: ProtocolErrorReply,
    },
    /// A message decrypted but was refused (malformed content, a bad signature, a message that
    /// does not fit its thread). Nothing changed but the session; the app may answer with
    /// [`crate::Engine::send_error`].
    Refused {
        /// Who sent it.
        from: Sender,
        /// `Content.message_id`, if the content was well-formed enough to have one.
        message_id: Option<Id>,
        /// Why.
        error: PayError,
    },
    /// A thread changed state without a message: a settlement verified, or the request expired.
    StateChanged {
        /// The peer of the thread.
        peer: [u8; 32],
        /// The thread.
        request_id: Id,
        /// The state before.
        from: ThreadState,
        /// The state now.
        to: ThreadState,
    },
    /// Chat text.
    Text {
        /// Who sent it.
        from: Sender,
        /// `Content.message_id`.
        message_id: Id,
        /// The text, control and bidi-override characters stripped.
        text: String,
    },
}

pub(crate) struct Hex<'a>(pub(crate) &'a [u8]);

impl core::fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}
