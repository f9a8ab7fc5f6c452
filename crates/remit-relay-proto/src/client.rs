//! The client side of one relay connection, as a state machine (spec/relay.md §2–§4).
//!
//! ```text
//!   new() ── Hello ──▶                         handle_input(bytes from the relay stream)
//!        ◀── Challenge ── Event::AuthChallenge { digest }
//!   handle_signature(sig) ── Auth ──▶          (the caller's key signs the digest)
//!        ◀── AuthOk ───── Event::Authenticated
//!   send / fetch_bundle / publish / ack ──▶    RequestId; later Event::Completed { request, result }
//!        ◀── Deliver ──── Event::Delivered     (acknowledge with ack())
//!        ◀── QueueEmpty ─ Event::QueueEmpty
//!   poll_transmit() → bytes for the stream     poll_timeout() / handle_timeout(now)
//! ```
//!
//! The caller drives it: bytes in through [`ClientConnection::handle_input`], time in through
//! [`ClientConnection::handle_timeout`], bytes out through [`ClientConnection::poll_transmit`],
//! and events out through [`ClientConnection::poll_event`]. It owns no socket, no clock, no key:
//! authentication hands the caller the digest to sign, so the identity key stays wherever the
//! caller keeps it.
//!
//! Rules a peer cannot bend:
//! - Every request has a deadline. The relay answers requests in order on one stream, so a
//!   request that outlives its deadline means the connection is dead: the request fails with
//!   [`RequestError::TimedOut`] and the connection closes ([`ConnectionError::RequestTimedOut`]).
//! - Authentication has its own deadline ([`ClientConfig::auth_timeout`]).
//! - A frame that does not decode, a reply to no pending request, a reply of the wrong kind or for
//!   another message id, and a delivery before authentication all close the connection with a
//!   typed [`ConnectionError`]. Every pending request then completes with
//!   [`RequestError::ConnectionLost`]: no request is ever left without an outcome.
//! - At most [`ClientConfig::max_in_flight`] requests are pending; more are refused, not queued,
//!   so memory stays bounded however fast the caller asks.

use std::{
    collections::{BTreeMap, VecDeque},
    time::{Duration, Instant},
};

use remit_wire::{
    DecodeError, EncodeError, FrameDecoder,
    limits::{MAX_ACKS_PER_FRAME, MAX_FRAME_LEN},
    session::PreKeyBundle,
    v1,
};

use crate::{
    Address, Delivery, MessageId, Refusal,
    auth::{DIGEST_LEN, EXPORTER_LEN, auth_digest},
    frame::{ClientRequest, FrameError, ServerFrame, ServerMessage},
};

/// Requests one connection may have pending, the relay's limit too: beyond it the relay stops
/// reading the stream until answers are taken.
pub const MAX_IN_FLIGHT_REQUESTS: usize = 256;

/// How a client connection behaves.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The software name sent in Hello (at most 64 bytes, the relay's limit).
    pub agent: String,
    /// How long authentication may take, from [`ClientConnection::new`] to AuthOk.
    pub auth_timeout: Duration,
    /// How long a request may wait for its answer before the connection counts as dead.
    pub request_timeout: Duration,
    /// Requests pending at once (at most [`MAX_IN_FLIGHT_REQUESTS`]).
    pub max_in_flight: usize,
}

impl ClientConfig {
    /// Defaults: 10 s to authenticate, 15 s per request, [`MAX_IN_FLIGHT_REQUESTS`] in flight.
    #[must_use]
    pub fn new(agent: impl Into<String>) -> Self {
        Self {
            agent: agent.into(),
            auth_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(15),
            max_in_flight: MAX_IN_FLIGHT_REQUESTS,
        }
    }
}

/// Names one request of one connection; its outcome comes back in [`Event::Completed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(u64);

impl RequestId {
    /// The frame's `request_id`.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }
}

/// What the relay answered to a request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply {
    /// Prekeys were stored; the relay now holds this many one-time prekeys for us.
    Published {
        /// One-time prekeys at the relay.
        one_time_prekeys_left: u32,
    },
    /// The peer's bundle, for the identity asked for (checked), not yet verified.
    Bundle(Box<PreKeyBundle>),
    /// The relay holds the envelope durably.
    Sent {
        /// The relay already held this message id for this recipient.
        duplicate: bool,
    },
    /// Acknowledged envelopes were deleted.
    Acked {
        /// How many were still stored.
        deleted: u32,
    },
}

/// Why a request has no reply.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The relay refused it.
    #[error("relay refused: {0}")]
    Refused(Refusal),
    /// The relay returned a bundle for another identity than the one asked for.
    #[error("the relay returned a bundle for another identity")]
    BundleMismatch,
    /// The relay answered with a frame of another kind, or for another message id (the
    /// connection closes too).
    #[error("the relay answered with an unexpected frame")]
    UnexpectedReply,
    /// No answer within the request timeout (the connection closes too).
    #[error("the relay did not answer in time")]
    TimedOut,
    /// The connection closed before the answer came; the request may or may not have taken
    /// effect (a resent Send is stored once, an Ack deletes nothing twice).
    #[error("the connection closed before the relay answered")]
    ConnectionLost,
}

/// Why a request was not sent at all (nothing changed).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestRefused {
    /// Authentication has not finished yet.
    #[error("not authenticated yet")]
    NotReady,
    /// The connection is closed.
    #[error("the connection is closed")]
    Closed,
    /// [`ClientConfig::max_in_flight`] requests are pending.
    #[error("{max} requests are already pending")]
    Busy {
        /// The limit.
        max: usize,
    },
    /// An Ack of more sequences than one frame may carry.
    #[error("{len} sequences in one ack, limit {max}")]
    TooManyAcks {
        /// How many were given.
        len: usize,
        /// [`MAX_ACKS_PER_FRAME`].
        max: usize,
    },
    /// The request does not fit in a frame.
    #[error("request too large: {0}")]
    Encode(#[from] EncodeError),
}

/// [`ClientConnection::handle_signature`] without a challenge to answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no authentication challenge is waiting for a signature")]
pub struct NoChallenge;

/// Why a connection closed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The relay refused authentication (or the Hello before it).
    #[error("relay refused authentication: {0}")]
    AuthRefused(Refusal),
    /// Authentication did not finish within [`ClientConfig::auth_timeout`].
    #[error("authentication did not finish in time")]
    AuthTimedOut,
    /// A request outlived [`ClientConfig::request_timeout`].
    #[error("a request went unanswered: the relay is unreachable")]
    RequestTimedOut,
    /// The stream's framing broke (a length over the limit).
    #[error("relay stream: {0}")]
    Framing(DecodeError),
    /// A frame did not decode or check.
    #[error("relay frame: {0}")]
    Frame(FrameError),
    /// The relay broke the protocol.
    #[error("relay protocol: {0}")]
    Protocol(Violation),
    /// The relay ended the stream.
    #[error("the relay closed the stream")]
    Ended,
    /// Our own Hello could not be encoded (an agent string over the frame limit).
    #[error("hello: {0}")]
    Encode(EncodeError),
    /// [`ClientConnection::close`] was called.
    #[error("closed")]
    Closed,
}

/// How the relay broke the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Violation {
    /// A frame that does not belong in the connection's state (`state` names it).
    #[error("unexpected frame while {state}")]
    UnexpectedFrame {
        /// What the connection was waiting for.
        state: &'static str,
    },
    /// An answer to a request id with nothing pending.
    #[error("answer to request {0}, which is not pending")]
    UnknownRequest(u64),
    /// An answer of the wrong kind, or a SendOk for another message id.
    #[error("wrong answer to request {0}")]
    WrongReply(u64),
}

/// What the connection reports to its caller.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Sign `AUTH_CONTEXT ‖ digest` with the identity key (`Account::sign_statement`) and pass
    /// the signature to [`ClientConnection::handle_signature`].
    AuthChallenge {
        /// `SHA-256(nonce ‖ exporter ‖ identity)`.
        digest: [u8; DIGEST_LEN],
    },
    /// Authenticated: requests may be sent.
    Authenticated {
        /// One-time prekeys the relay holds for us.
        one_time_prekeys_left: u32,
        /// Envelopes waiting in our mailbox; they follow as [`Event::Delivered`].
        queued: u64,
    },
    /// A request's outcome. Every request gets exactly one.
    Completed {
        /// The request.
        request: RequestId,
        /// Its outcome.
        result: Result<Reply, RequestError>,
    },
    /// An envelope from our mailbox; acknowledge it once its effect is durable.
    Delivered(Delivery),
    /// Everything queued at authentication has been delivered.
    QueueEmpty {
        /// How many envelopes that drain delivered.
        delivered: u64,
    },
    /// An error frame the relay pushed, tied to no request (for example after a malformed
    /// frame of ours). The connection stays open.
    Error(Refusal),
    /// The connection is closed; nothing more will happen on it. Reported once, last.
    Closed(ConnectionError),
}

/// The client side of one relay connection (see the module documentation).
#[derive(Debug)]
pub struct ClientConnection {
    config: ClientConfig,
    identity: Address,
    exporter: [u8; EXPORTER_LEN],
    state: State,
    auth_deadline: Instant,
    decoder: FrameDecoder,
    transmit: Vec<u8>,
    events: VecDeque<Event>,
    pending: BTreeMap<u64, Pending>,
    next_request: u64,
}

#[derive(Debug)]
enum State {
    ExpectChallenge,
    ExpectSignature,
    ExpectAuthOk,
    Ready,
    Closed,
}

#[derive(Debug)]
struct Pending {
    kind: PendingKind,
    deadline: Instant,
}

#[derive(Debug)]
enum PendingKind {
    Publish,
    FetchBundle(Address),
    Send(MessageId),
    Ack,
}

/// Request ids of the authentication frames; ordinary requests start after them.
const HELLO_ID: u64 = 1;
const AUTH_ID: u64 = 2;

impl ClientConnection {
    /// Starts a connection as `identity` on a transport whose TLS exporter value (label
    /// `EXPORTER-remit-relay-auth`) is `exporter`; the Hello is ready in
    /// [`Self::poll_transmit`].
    #[must_use]
    pub fn new(
        identity: Address,
        exporter: [u8; EXPORTER_LEN],
        config: ClientConfig,
        now: Instant,
    ) -> Self {
        let mut connection = Self {
            auth_deadline: now + config.auth_timeout,
            config,
            identity,
            exporter,
            state: State::ExpectChallenge,
            decoder: FrameDecoder::new(MAX_FRAME_LEN),
            transmit: Vec::new(),
            events: VecDeque::new(),
            pending: BTreeMap::new(),
            next_request: AUTH_ID + 1,
        };
        let hello = ClientRequest::Hello {
            identity,
            agent: connection.config.agent.clone(),
        };
        if let Err(e) = hello.encode(HELLO_ID, &mut connection.transmit) {
            // Only an agent string far over any limit gets here.
            connection.close_with(ConnectionError::Encode(e));
        }
        connection
    }

    /// The identity this connection authenticates as.
    #[must_use]
    pub fn identity(&self) -> Address {
        self.identity
    }

    /// Whether authentication has finished and the connection is open.
    #[must_use]
    pub fn is_ready(&self) -> bool {
        matches!(self.state, State::Ready)
    }

    /// Whether the connection is closed.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// Requests waiting for their answer.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Feeds bytes read from the relay stream, in order, in chunks of any size.
    pub fn handle_input(&mut self, mut bytes: &[u8], now: Instant) {
        while !bytes.is_empty() && !self.is_closed() {
            match self.decoder.decode(bytes) {
                Ok((used, body)) => {
                    bytes = bytes.get(used..).unwrap_or_default();
                    if let Some(body) = body {
                        match ServerFrame::decode(&body) {
                            Ok(frame) => self.handle_frame(frame, now),
                            Err(e) => self.close_with(ConnectionError::Frame(e)),
                        }
                    }
                }
                Err(e) => self.close_with(ConnectionError::Framing(e)),
            }
        }
    }

    /// The relay ended the stream (or the transport lost it).
    pub fn handle_end(&mut self) {
        self.close_with(ConnectionError::Ended);
    }

    /// Applies the clock: fails authentication or a request that is past its deadline.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::ExpectChallenge | State::ExpectSignature | State::ExpectAuthOk
                if now >= self.auth_deadline =>
            {
                self.close_with(ConnectionError::AuthTimedOut);
            }
            State::Ready => {
                let expired = self
                    .pending
                    .iter()
                    .find(|(_, p)| now >= p.deadline)
                    .map(|(id, _)| *id);
                if let Some(id) = expired {
                    self.complete(id, Err(RequestError::TimedOut));
                    self.close_with(ConnectionError::RequestTimedOut);
                }
            }
            _ => {}
        }
    }

    /// When [`Self::handle_timeout`] must be called next, if anything waits on the clock.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::ExpectChallenge | State::ExpectSignature | State::ExpectAuthOk => {
                Some(self.auth_deadline)
            }
            State::Ready => self.pending.values().map(|p| p.deadline).min(),
            State::Closed => None,
        }
    }

    /// The signature over `AUTH_CONTEXT ‖ digest` of the last [`Event::AuthChallenge`].
    ///
    /// # Errors
    /// [`NoChallenge`] when no challenge waits for one (nothing changes).
    pub fn handle_signature(&mut self, signature: [u8; 64]) -> Result<(), NoChallenge> {
        if !matches!(self.state, State::ExpectSignature) {
            return Err(NoChallenge);
        }
        let auth = ClientRequest::Auth { signature };
        // An Auth frame has a fixed size far below the limit.
        if auth.encode(AUTH_ID, &mut self.transmit).is_ok() {
            self.state = State::ExpectAuthOk;
        }
        Ok(())
    }

    /// Bytes to write to the relay stream, in order; `None` when there are none.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        (!self.transmit.is_empty()).then(|| core::mem::take(&mut self.transmit))
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Hands the relay an envelope for `recipient`. [`Reply::Sent`] means the relay holds it
    /// durably.
    ///
    /// # Errors
    /// [`RequestRefused`]; nothing was sent.
    pub fn send(
        &mut self,
        recipient: Address,
        message_id: MessageId,
        envelope: Vec<u8>,
        now: Instant,
    ) -> Result<RequestId, RequestRefused> {
        self.request(
            &ClientRequest::Send {
                recipient,
                message_id,
                envelope,
            },
            PendingKind::Send(message_id),
            now,
        )
    }

    /// Asks for `identity`'s bundle (which consumes one of its one-time prekeys at the relay).
    ///
    /// # Errors
    /// [`RequestRefused`]; nothing was sent.
    pub fn fetch_bundle(
        &mut self,
        identity: Address,
        now: Instant,
    ) -> Result<RequestId, RequestRefused> {
        self.request(
            &ClientRequest::FetchBundle { identity },
            PendingKind::FetchBundle(identity),
            now,
        )
    }

    /// Publishes our identity, signed prekey and one-time prekeys.
    ///
    /// # Errors
    /// [`RequestRefused`]; nothing was sent.
    pub fn publish(
        &mut self,
        publish: v1::PublishPreKeys,
        now: Instant,
    ) -> Result<RequestId, RequestRefused> {
        self.request(
            &ClientRequest::PublishPreKeys(publish),
            PendingKind::Publish,
            now,
        )
    }

    /// Acknowledges delivered envelopes by sequence; the relay deletes them.
    ///
    /// # Errors
    /// [`RequestRefused`] (also for more than [`MAX_ACKS_PER_FRAME`] sequences); nothing was
    /// sent.
    pub fn ack(&mut self, sequences: Vec<u64>, now: Instant) -> Result<RequestId, RequestRefused> {
        if sequences.len() > MAX_ACKS_PER_FRAME {
            return Err(RequestRefused::TooManyAcks {
                len: sequences.len(),
                max: MAX_ACKS_PER_FRAME,
            });
        }
        self.request(&ClientRequest::Ack { sequences }, PendingKind::Ack, now)
    }

    /// Closes the connection: every pending request completes with
    /// [`RequestError::ConnectionLost`], then [`Event::Closed`] with [`ConnectionError::Closed`].
    pub fn close(&mut self) {
        self.close_with(ConnectionError::Closed);
    }

    fn request(
        &mut self,
        request: &ClientRequest,
        kind: PendingKind,
        now: Instant,
    ) -> Result<RequestId, RequestRefused> {
        match self.state {
            State::Ready => {}
            State::Closed => return Err(RequestRefused::Closed),
            _ => return Err(RequestRefused::NotReady),
        }
        let max = self.config.max_in_flight.min(MAX_IN_FLIGHT_REQUESTS);
        if self.pending.len() >= max {
            return Err(RequestRefused::Busy { max });
        }
        let id = self.next_request;
        request.encode(id, &mut self.transmit)?;
        self.next_request = self.next_request.saturating_add(1);
        self.pending.insert(
            id,
            Pending {
                kind,
                deadline: now + self.config.request_timeout,
            },
        );
        Ok(RequestId(id))
    }

    fn handle_frame(&mut self, frame: ServerFrame, _now: Instant) {
        let ServerFrame {
            request_id,
            message,
        } = frame;
        match (&self.state, request_id, message) {
            (State::Closed, _, _) => {}
            (State::ExpectChallenge, HELLO_ID, ServerMessage::Challenge { nonce }) => {
                let digest = auth_digest(&nonce, &self.exporter, &self.identity);
                self.state = State::ExpectSignature;
                self.events.push_back(Event::AuthChallenge { digest });
            }
            (
                State::ExpectAuthOk,
                AUTH_ID,
                ServerMessage::AuthOk {
                    one_time_prekeys_left,
                    queued,
                },
            ) => {
                self.state = State::Ready;
                self.events.push_back(Event::Authenticated {
                    one_time_prekeys_left,
                    queued,
                });
            }
            (
                State::ExpectChallenge | State::ExpectSignature | State::ExpectAuthOk,
                _,
                ServerMessage::Error(e),
            ) => self.close_with(ConnectionError::AuthRefused(e)),
            (State::Ready, 0, ServerMessage::Deliver(d)) => {
                self.events.push_back(Event::Delivered(d));
            }
            (State::Ready, 0, ServerMessage::QueueEmpty { delivered }) => {
                self.events.push_back(Event::QueueEmpty { delivered });
            }
            (State::Ready, 0, ServerMessage::Error(e)) => self.events.push_back(Event::Error(e)),
            (State::Ready, 0, _) => self.violation(Violation::UnexpectedFrame {
                state: "ready (pushed frame)",
            }),
            (State::Ready, id, message) => self.answer(id, message),
            (State::ExpectChallenge, ..) => self.violation(Violation::UnexpectedFrame {
                state: "waiting for the challenge",
            }),
            (State::ExpectSignature, ..) => self.violation(Violation::UnexpectedFrame {
                state: "signing the challenge",
            }),
            (State::ExpectAuthOk, ..) => self.violation(Violation::UnexpectedFrame {
                state: "waiting for auth_ok",
            }),
        }
    }

    fn answer(&mut self, id: u64, message: ServerMessage) {
        let Some(pending) = self.pending.get(&id) else {
            return self.violation(Violation::UnknownRequest(id));
        };
        let result = match (&pending.kind, message) {
            (_, ServerMessage::Error(e)) => Err(RequestError::Refused(e)),
            (
                PendingKind::Publish,
                ServerMessage::PreKeysPublished {
                    one_time_prekeys_left,
                },
            ) => Ok(Reply::Published {
                one_time_prekeys_left,
            }),
            (PendingKind::FetchBundle(asked), ServerMessage::Bundle(bundle)) => {
                if bundle.identity.signing_key == *asked.as_bytes() {
                    Ok(Reply::Bundle(Box::new(bundle)))
                } else {
                    Err(RequestError::BundleMismatch)
                }
            }
            (
                PendingKind::Send(sent),
                ServerMessage::SendOk {
                    message_id,
                    duplicate,
                },
            ) if message_id == *sent => Ok(Reply::Sent { duplicate }),
            (PendingKind::Ack, ServerMessage::Acked { deleted }) => Ok(Reply::Acked { deleted }),
            _ => {
                self.complete(id, Err(RequestError::UnexpectedReply));
                return self.violation(Violation::WrongReply(id));
            }
        };
        self.complete(id, result);
    }

    fn complete(&mut self, id: u64, result: Result<Reply, RequestError>) {
        if self.pending.remove(&id).is_some() {
            self.events.push_back(Event::Completed {
                request: RequestId(id),
                result,
            });
        }
    }

    fn violation(&mut self, violation: Violation) {
        self.close_with(ConnectionError::Protocol(violation));
    }

    fn close_with(&mut self, error: ConnectionError) {
        if self.is_closed() {
            return;
        }
        self.state = State::Closed;
        self.transmit.clear();
        for id in core::mem::take(&mut self.pending).into_keys() {
            self.events.push_back(Event::Completed {
                request: RequestId(id),
                result: Err(RequestError::ConnectionLost),
            });
        }
        self.events.push_back(Event::Closed(error));
    }
}

#[cfg(test)]
mod tests;
