//! Relay frames as typed values (spec/relay.md §3): a server frame is decoded and checked once,
//! here, into a [`ServerFrame`]; a client request is built from typed arguments into its frame
//! bytes. Nothing above this module reads a prost field of a relay frame.

use core::{fmt, time::Duration};

use remit_wire::{
    DecodeError, EncodeError, decode_server_frame, encode_frame,
    session::PreKeyBundle,
    v1::{self, RelayErrorCode, client_frame, server_frame},
};

use crate::{Address, LengthError, MessageId, auth::NONCE_LEN};

/// The frame version this crate speaks (`ClientFrame.version`, `ServerFrame.version`).
pub const FRAME_VERSION: u32 = 1;

/// A server frame, decoded and checked: the request it answers (0 for a pushed frame) and what
/// it says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerFrame {
    /// The client's request id that this frame answers; 0 for a frame the relay pushed.
    pub request_id: u64,
    /// The frame's content.
    pub message: ServerMessage,
}

impl ServerFrame {
    /// Decodes one frame body (the bytes after the length prefix) and checks every field this
    /// crate reads: lengths of addresses, ids and nonces, and the bundle's keys.
    ///
    /// # Errors
    /// [`FrameError`] naming what was wrong.
    pub fn decode(body: &[u8]) -> Result<Self, FrameError> {
        let frame = decode_server_frame(body)?;
        let message = match frame.body.ok_or(FrameError::Missing("body"))? {
            server_frame::Body::Challenge(c) => ServerMessage::Challenge {
                nonce: <[u8; NONCE_LEN]>::try_from(c.nonce.as_slice())
                    .map_err(|_| FrameError::length("challenge.nonce", NONCE_LEN, c.nonce.len()))?,
            },
            server_frame::Body::AuthOk(ok) => ServerMessage::AuthOk {
                one_time_prekeys_left: ok.one_time_prekeys_left,
                queued: ok.queued,
            },
            server_frame::Body::PrekeysPublished(p) => ServerMessage::PreKeysPublished {
                one_time_prekeys_left: p.one_time_prekeys_left,
            },
            server_frame::Body::Bundle(b) => ServerMessage::Bundle(PreKeyBundle::try_from(b)?),
            server_frame::Body::SendOk(ok) => ServerMessage::SendOk {
                message_id: field("send_ok.message_id", &ok.message_id)?,
                duplicate: ok.duplicate,
            },
            server_frame::Body::Deliver(d) => ServerMessage::Deliver(Delivery {
                sequence: d.sequence,
                sender: field("deliver.sender", &d.sender)?,
                message_id: field("deliver.message_id", &d.message_id)?,
                envelope: d.envelope,
                received_at: d.received_at,
            }),
            server_frame::Body::Acked(a) => ServerMessage::Acked { deleted: a.deleted },
            server_frame::Body::QueueEmpty(q) => ServerMessage::QueueEmpty {
                delivered: q.delivered,
            },
            server_frame::Body::Error(e) => ServerMessage::Error(Refusal::from_wire(&e)),
        };
        Ok(Self {
            request_id: frame.request_id,
            message,
        })
    }
}

/// What a server frame says.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerMessage {
    /// The authentication challenge (answers Hello).
    Challenge {
        /// The fresh nonce the client signs over.
        nonce: [u8; NONCE_LEN],
    },
    /// Authentication succeeded (answers Auth).
    AuthOk {
        /// One-time prekeys the relay holds for this identity.
        one_time_prekeys_left: u32,
        /// Envelopes waiting in the mailbox.
        queued: u64,
    },
    /// Prekeys were stored (answers PublishPreKeys).
    PreKeysPublished {
        /// One-time prekeys the relay now holds for this identity.
        one_time_prekeys_left: u32,
    },
    /// A peer's bundle, decoded but not verified (answers FetchBundle).
    Bundle(PreKeyBundle),
    /// The relay holds the envelope durably (answers Send).
    SendOk {
        /// The message id of the Send.
        message_id: MessageId,
        /// The relay already held this id for this recipient.
        duplicate: bool,
    },
    /// An envelope from the mailbox (pushed).
    Deliver(Delivery),
    /// Envelopes were deleted (answers Ack).
    Acked {
        /// How many of the acknowledged sequences were still stored.
        deleted: u32,
    },
    /// The backlog queued at authentication is delivered (pushed).
    QueueEmpty {
        /// How many envelopes that drain delivered.
        delivered: u64,
    },
    /// The relay refused a request, or (request id 0) the connection's input.
    Error(Refusal),
}

/// An envelope the relay delivered from our mailbox.
#[derive(Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The mailbox sequence number, to acknowledge.
    pub sequence: u64,
    /// The sender as the relay authenticated it: a routing hint, not end-to-end proof.
    pub sender: Address,
    /// The sender's message id.
    pub message_id: MessageId,
    /// The envelope bytes.
    pub envelope: Vec<u8>,
    /// When the relay accepted it, Unix seconds (the relay's clock).
    pub received_at: u64,
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("sequence", &self.sequence)
            .field("sender", &self.sender)
            .field("message_id", &self.message_id)
            .field("envelope_len", &self.envelope.len())
            .field("received_at", &self.received_at)
            .finish()
    }
}

/// A relay's refusal: its error frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The code, or `None` for a code this version does not know (kept in `raw_code`).
    pub code: Option<RelayErrorCode>,
    /// The code as sent.
    pub raw_code: i32,
    /// The relay's explanation. Text from the relay: shown only escaped (as `Display` does).
    pub detail: String,
    /// For `RATE_LIMITED`: how long to wait before trying again.
    pub retry_after: Duration,
}

impl Refusal {
    fn from_wire(e: &v1::Error) -> Self {
        Self {
            code: RelayErrorCode::try_from(e.code).ok(),
            raw_code: e.code,
            detail: e.detail.clone(),
            retry_after: Duration::from_millis(u64::from(e.retry_after_ms)),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) => write!(f, "{}", code.as_str_name())?,
            None => write!(f, "unknown code {}", self.raw_code)?,
        }
        if !self.detail.is_empty() {
            // Relay text is escaped: no control character reaches a terminal or a log line.
            write!(f, ": {}", self.detail.escape_debug())?;
        }
        Ok(())
    }
}

impl core::error::Error for Refusal {}

/// Why a server frame was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The bytes are not a server frame of this version.
    #[error("malformed server frame: {0}")]
    Decode(#[from] DecodeError),
    /// A required field is absent.
    #[error("server frame has no {0}")]
    Missing(&'static str),
    /// A fixed-size field has the wrong length.
    #[error("server frame field {field}: {error}")]
    Length {
        /// The field.
        field: &'static str,
        /// Its length against the expected one.
        error: LengthError,
    },
}

impl FrameError {
    fn length(field: &'static str, expected: usize, got: usize) -> Self {
        Self::Length {
            field,
            error: LengthError { expected, got },
        }
    }
}

fn field<T: for<'a> TryFrom<&'a [u8], Error = LengthError>>(
    name: &'static str,
    bytes: &[u8],
) -> Result<T, FrameError> {
    T::try_from(bytes).map_err(|error| FrameError::Length { field: name, error })
}

/// A request a client sends, as typed values.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientRequest {
    /// Opens authentication as `identity`.
    Hello {
        /// The identity to authenticate as.
        identity: Address,
        /// A short software name (at most the relay's agent limit).
        agent: String,
    },
    /// The signature over the authentication statement.
    Auth {
        /// Ed25519 over the statement of [`crate::auth`].
        signature: [u8; 64],
    },
    /// Publishes our identity, signed prekey and one-time prekeys.
    PublishPreKeys(v1::PublishPreKeys),
    /// Asks for a peer's bundle.
    FetchBundle {
        /// The peer.
        identity: Address,
    },
    /// Hands the relay an envelope for `recipient`.
    Send {
        /// The recipient.
        recipient: Address,
        /// Our message id (a repeated id for this recipient is stored once).
        message_id: MessageId,
        /// The envelope bytes.
        envelope: Vec<u8>,
    },
    /// Acknowledges delivered envelopes, which the relay then deletes.
    Ack {
        /// Their mailbox sequences.
        sequences: Vec<u64>,
    },
}

impl ClientRequest {
    /// Appends this request, as frame `request_id` with its length prefix, to `out`.
    ///
    /// # Errors
    /// [`EncodeError`] for a frame over the size limit (nothing is appended).
    pub fn encode(&self, request_id: u64, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let body = match self {
            Self::Hello { identity, agent } => client_frame::Body::Hello(v1::Hello {
                identity: identity.as_bytes().to_vec(),
                agent: agent.clone(),
            }),
            Self::Auth { signature } => client_frame::Body::Auth(v1::Auth {
                signature: signature.to_vec(),
            }),
            Self::PublishPreKeys(p) => client_frame::Body::PublishPrekeys(p.clone()),
            Self::FetchBundle { identity } => client_frame::Body::FetchBundle(v1::FetchBundle {
                identity: identity.as_bytes().to_vec(),
            }),
            Self::Send {
                recipient,
                message_id,
                envelope,
            } => client_frame::Body::Send(v1::Send {
                recipient: recipient.as_bytes().to_vec(),
                message_id: message_id.as_bytes().to_vec(),
                envelope: envelope.clone(),
            }),
            Self::Ack { sequences } => client_frame::Body::Ack(v1::Ack {
                sequences: sequences.clone(),
            }),
        };
        let frame = v1::ClientFrame {
            version: FRAME_VERSION,
            request_id,
            body: Some(body),
        };
        let start = out.len();
        encode_frame(&frame, out).inspect_err(|_| out.truncate(start))
    }
}

impl fmt::Debug for ClientRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hello { identity, agent } => f
                .debug_struct("Hello")
                .field("identity", identity)
                .field("agent", agent)
                .finish(),
            Self::Auth { .. } => f.debug_struct("Auth").finish_non_exhaustive(),
            Self::PublishPreKeys(p) => f
                .debug_struct("PublishPreKeys")
                .field("one_time_prekeys", &p.one_time_prekeys.len())
                .finish_non_exhaustive(),
            Self::FetchBundle { identity } => f
                .debug_struct("FetchBundle")
                .field("identity", identity)
                .finish(),
            Self::Send {
                recipient,
                message_id,
                envelope,
            } => f
                .debug_struct("Send")
                .field("recipient", recipient)
                .field("message_id", message_id)
                .field("envelope_len", &envelope.len())
                .finish(),
            Self::Ack { sequences } => f
                .debug_struct("Ack")
                .field("sequences", &sequences.len())
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    fn server(request_id: u64, body: server_frame::Body) -> Vec<u8> {
        let mut out = Vec::new();
        encode_frame(
            &v1::ServerFrame {
                version: FRAME_VERSION,
                request_id,
                body: Some(body),
            },
            &mut out,
        )
        .unwrap();
        out.split_off(remit_wire::FRAME_HEADER_LEN)
    }

    #[test]
    fn a_deliver_frame_is_typed_once() {
        let body = server(
            0,
            server_frame::Body::Deliver(v1::Deliver {
                sequence: 9,
                sender: vec![1; 32],
                message_id: vec![2; 16],
                envelope: vec![3; 5],
                received_at: 77,
            }),
        );
        let frame = ServerFrame::decode(&body).unwrap();
        assert_eq!(frame.request_id, 0);
        let ServerMessage::Deliver(d) = frame.message else {
            panic!("a deliver frame")
        };
        assert_eq!(d.sender, Address::new([1; 32]));
        assert_eq!(d.message_id, MessageId::new([2; 16]));
        assert_eq!((d.sequence, d.received_at, d.envelope.len()), (9, 77, 5));
    }

    #[test]
    fn wrong_lengths_are_named() {
        let body = server(
            0,
            server_frame::Body::Deliver(v1::Deliver {
                sequence: 1,
                sender: vec![1; 31],
                message_id: vec![2; 16],
                envelope: vec![],
                received_at: 0,
            }),
        );
        assert_eq!(
            ServerFrame::decode(&body),
            Err(FrameError::length("deliver.sender", 32, 31))
        );
        let body = server(
            4,
            server_frame::Body::Challenge(v1::AuthChallenge { nonce: vec![0; 8] }),
        );
        assert_eq!(
            ServerFrame::decode(&body),
            Err(FrameError::length("challenge.nonce", 32, 8))
        );
        assert!(matches!(
            ServerFrame::decode(&[0xff, 0xff]),
            Err(FrameError::Decode(_))
        ));
    }

    #[test]
    fn relay_text_is_escaped_when_shown() {
        let e = Refusal::from_wire(&v1::Error {
            code: RelayErrorCode::Quota as i32,
            detail: "full\n\u{1b}[31mforged line".into(),
            retry_after_ms: 0,
        });
        let shown = e.to_string();
        assert!(
            !shown.contains('\n') && !shown.contains('\u{1b}'),
            "{shown}"
        );
        assert!(shown.starts_with("RELAY_ERROR_CODE_QUOTA: full"));
    }

    #[test]
    fn an_oversized_request_appends_nothing() {
        let mut out = vec![9];
        let big = ClientRequest::Send {
            recipient: Address::new([1; 32]),
            message_id: MessageId::new([2; 16]),
            envelope: vec![0; remit_wire::limits::MAX_FRAME_LEN + 1],
        };
        assert!(big.encode(5, &mut out).is_err());
        assert_eq!(out, [9]);
    }
}
