//! The content envelope: a validated payment message, and opening and sealing the plaintext of a
//! session message.

use remit_session::VerifiedIdentity;
use remit_wire::v1;

use super::fields::{id16, text};
use super::{
    Cancel, Decline, Id, MessageKind, Notice, NoticeKind, ProtocolErrorReply, SignedReceipt,
    SignedRequest,
};
use crate::error::PayError;
use crate::limits::MAX_TEXT_LEN;

/// A validated payment message, ready for a [`crate::PaymentThread`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PaymentMessage {
    /// A signed request (or invoice).
    Request(Box<SignedRequest>),
    /// A payment or refund notice.
    Notice(Notice),
    /// A signed receipt.
    Receipt(Box<SignedReceipt>),
    /// A decline.
    Decline(Decline),
    /// A cancel.
    Cancel(Cancel),
}

impl From<SignedRequest> for PaymentMessage {
    fn from(r: SignedRequest) -> Self {
        Self::Request(Box::new(r))
    }
}

impl From<SignedReceipt> for PaymentMessage {
    fn from(r: SignedReceipt) -> Self {
        Self::Receipt(Box::new(r))
    }
}

impl From<Notice> for PaymentMessage {
    fn from(n: Notice) -> Self {
        Self::Notice(n)
    }
}

impl From<Decline> for PaymentMessage {
    fn from(d: Decline) -> Self {
        Self::Decline(d)
    }
}

impl From<Cancel> for PaymentMessage {
    fn from(c: Cancel) -> Self {
        Self::Cancel(c)
    }
}

impl PaymentMessage {
    /// Its kind.
    #[must_use]
    pub fn kind(&self) -> MessageKind {
        match self {
            Self::Request(_) => MessageKind::Request,
            Self::Notice(n) if n.kind == NoticeKind::Payment => MessageKind::Payment,
            Self::Notice(_) => MessageKind::Refund,
            Self::Receipt(_) => MessageKind::Receipt,
            Self::Decline(_) => MessageKind::Decline,
            Self::Cancel(_) => MessageKind::Cancel,
        }
    }

    /// The request id it belongs to: the key an app uses to find the thread.
    #[must_use]
    pub fn request_id(&self) -> Id {
        match self {
            Self::Request(r) => r.request().request_id,
            Self::Notice(n) => n.request_id,
            Self::Receipt(r) => r.receipt().request_id,
            Self::Decline(d) => d.request_id,
            Self::Cancel(c) => c.request_id,
        }
    }

    fn to_body(&self) -> v1::content::Body {
        use v1::content::Body;
        match self {
            Self::Request(r) => Body::PaymentRequest(r.to_document()),
            Self::Notice(n) => Body::PaymentNotice(n.to_wire()),
            Self::Receipt(r) => Body::Receipt(r.to_document()),
            Self::Decline(d) => Body::Decline(d.to_wire()),
            Self::Cancel(c) => Body::Cancel(c.to_wire()),
        }
    }
}

/// What a received `Content` turned out to be.
// A short-lived value, matched once and moved on: boxing the common case is not worth it.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Incoming {
    /// Chat text, stripped, at most `MAX_TEXT_LEN` bytes as received.
    Text(String),
    /// A payment message (signatures already verified against the peer).
    Payment(PaymentMessage),
    /// The peer's error reply.
    Error(ProtocolErrorReply),
}

/// A received, validated content message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// `Content.message_id`: the app's transport-level idempotency key.
    pub message_id: Id,
    /// The body.
    pub body: Incoming,
}

/// Validates a decoded `Content` from the session peer `peer`. Requests and receipts must carry
/// a valid signature by `peer` (so only the payee can have sent them).
///
/// # Errors
/// Any message validation error.
pub fn open_content(content: &v1::Content, peer: &VerifiedIdentity) -> Result<Received, PayError> {
    use v1::content::Body;
    let message_id = id16("message_id", &content.message_id)?;
    let body = match &content.body {
        Some(Body::Text(t)) => Incoming::Text(text("text.body", &t.body, MAX_TEXT_LEN, true)?),
        Some(Body::PaymentRequest(d)) => Incoming::Payment(PaymentMessage::Request(Box::new(
            SignedRequest::verify(d, peer)?,
        ))),
        Some(Body::PaymentNotice(n)) => {
            Incoming::Payment(PaymentMessage::Notice(Notice::from_wire(n)?))
        }
        Some(Body::Receipt(d)) => Incoming::Payment(PaymentMessage::Receipt(Box::new(
            SignedReceipt::verify(d, peer)?,
        ))),
        Some(Body::Decline(d)) => {
            Incoming::Payment(PaymentMessage::Decline(Decline::from_wire(d)?))
        }
        Some(Body::Cancel(c)) => Incoming::Payment(PaymentMessage::Cancel(Cancel::from_wire(c)?)),
        Some(Body::Error(e)) => Incoming::Error(ProtocolErrorReply::from_wire(e)?),
        None => return Err(PayError::invalid("body", "required")),
    };
    Ok(Received { message_id, body })
}

/// Decodes (remit-wire) and validates the plaintext of a session message from `peer`.
///
/// # Errors
/// [`PayError::Decode`] or any validation error.
pub fn open(plaintext: &[u8], peer: &VerifiedIdentity) -> Result<Received, PayError> {
    open_content(&remit_wire::decode_content(plaintext)?, peer)
}

/// The `Content` carrying `message`.
#[must_use]
pub(crate) fn content_for(message_id: Id, message: &PaymentMessage) -> v1::Content {
    v1::Content {
        version: 1,
        message_id: message_id.to_vec(),
        body: Some(message.to_body()),
    }
}

/// The `Content` carrying an error reply.
#[must_use]
pub fn content_for_error(message_id: Id, reply: &ProtocolErrorReply) -> v1::Content {
    v1::Content {
        version: 1,
        message_id: message_id.to_vec(),
        body: Some(v1::content::Body::Error(reply.to_wire())),
    }
}

/// Encodes `message` as session plaintext with message id `message_id`.
///
/// # Errors
/// [`PayError::Encode`] if over `MAX_PLAINTEXT_LEN`.
pub fn seal(message_id: Id, message: &PaymentMessage) -> Result<Vec<u8>, PayError> {
    Ok(remit_wire::encode(&content_for(message_id, message))?)
}
