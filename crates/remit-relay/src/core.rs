//! The sans-IO relay core: one [`RelayConnection`] per client connection.
//!
//! The quinn shell ([`crate::server`]) feeds it frame bodies and store results and carries out
//! the [`Action`]s it returns; it does no I/O, reads no clock (the caller passes [`Now`]) and
//! draws no randomness (the shell passes the nonce). Every rule of spec/relay.md that concerns
//! one connection lives here:
//!
//! ```text
//!  AwaitHello ──Hello──▶ AwaitAuth ──Auth ok──▶ Authenticating ──counts──▶ Authenticated
//!      │                     │ Auth bad: AUTH_FAILED, close
//!      └ anything else: UNAUTHENTICATED (a strike)
//!  Authenticated: PublishPreKeys (own identity only, signatures verified) · FetchBundle
//!                 · Send · Ack (own mailbox only)
//!  MAX_STRIKES malformed / oversized / forbidden frames ──▶ close
//! ```

use std::{
    net::IpAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use remit_session::{VerifiedBundle, VerifiedIdentity};
use remit_wire::{
    DecodeError, decode_client_frame,
    limits::{ID_LEN, KEY_LEN, MAX_ACKS_PER_FRAME, MAX_PREKEYS_PER_PUBLISH, SIGNATURE_LEN},
    session::{IdentityKey, OneTimePreKey, PreKeyBundle, SignedPreKey},
    v1::{self, RelayErrorCode, client_frame, server_frame},
};

use remit_relay_proto::{
    Address,
    auth::{EXPORTER_LEN, NONCE_LEN, verify_auth},
};

use crate::{
    limits::{
        Limits, MAX_AGENT_LEN, MAX_ERROR_DETAIL_LEN, MAX_STORED_ONE_TIME_PREKEYS, MAX_STRIKES,
    },
    rate::RateLimiter,
    store::{
        Enqueued, IdentityId, MessageId, NewEnvelope, OwnerCounts, Publication, Quota, StoreError,
        StoredBundle, StoredEnvelope,
    },
};

/// The frame version this relay speaks (the protocol crate's).
pub use remit_relay_proto::FRAME_VERSION;

/// The current time, in the two forms the core needs.
#[derive(Clone, Copy, Debug)]
pub struct Now {
    /// Monotonic time, for rate limits.
    pub instant: Instant,
    /// Wall-clock Unix seconds, for `received_at` and expiry.
    pub unix: u64,
}

/// What the shell must do.
#[derive(Debug)]
pub enum Action {
    /// Write this frame to the client.
    Send(v1::ServerFrame),
    /// Run this store operation and hand the result to
    /// [`RelayConnection::handle_store_result`] with the same `request_id`.
    Store {
        /// The client's request id.
        request_id: u64,
        /// The operation.
        op: StoreOp,
    },
    /// The connection is authenticated as this identity (its `AuthOk` was the previous
    /// `Send`): start delivering its mailbox.
    Authenticated(IdentityId),
    /// Close the connection (after writing the frames before this action).
    Close(CloseReason),
}

/// A store operation requested by the core.
#[derive(Debug)]
pub enum StoreOp {
    /// [`crate::store::Store::counts`] for the authenticating identity.
    Counts(IdentityId),
    /// [`crate::store::Store::enqueue`].
    Enqueue(NewEnvelope, Quota),
    /// [`crate::store::Store::ack`].
    Ack(IdentityId, Vec<u64>),
    /// [`crate::store::Store::publish`].
    Publish(Publication),
    /// [`crate::store::Store::take_bundle`].
    TakeBundle(IdentityId),
}

/// The result of a [`StoreOp`].
#[derive(Debug)]
pub enum StoreOutcome {
    /// For [`StoreOp::Counts`].
    Counts(OwnerCounts),
    /// For [`StoreOp::Enqueue`], with the message id of the request.
    Enqueued(MessageId, Enqueued),
    /// For [`StoreOp::Ack`]: how many were deleted.
    Acked(u32),
    /// For [`StoreOp::Publish`]: one-time prekeys now held.
    Published(u32),
    /// For [`StoreOp::TakeBundle`].
    Bundle(Option<Box<StoredBundle>>),
}

/// Why the relay closes a connection. The QUIC application close code is [`Self::code`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The authentication signature did not verify.
    AuthFailed,
    /// Too many malformed, oversized or forbidden frames.
    TooManyStrikes,
    /// The frame stream is unusable (oversized or truncated frame header).
    FramingError,
    /// The store failed while authenticating.
    Internal,
}

impl CloseReason {
    /// The QUIC application error code sent with the close.
    #[must_use]
    pub fn code(self) -> u32 {
        match self {
            Self::AuthFailed => 1,
            Self::TooManyStrikes => 2,
            Self::FramingError => 3,
            Self::Internal => 4,
        }
    }

    /// The close reason phrase.
    #[must_use]
    pub fn phrase(self) -> &'static [u8] {
        match self {
            Self::AuthFailed => b"authentication failed",
            Self::TooManyStrikes => b"too many bad frames",
            Self::FramingError => b"framing error",
            Self::Internal => b"internal error",
        }
    }
}

/// Per-connection facts the shell knows before the first frame.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionParams {
    /// The client's IP address (for per-address limits).
    pub address: IpAddr,
    /// The fresh challenge nonce for this connection.
    pub nonce: [u8; NONCE_LEN],
    /// The TLS exporter value of this connection (`auth::EXPORTER_LABEL`).
    pub exporter: [u8; EXPORTER_LEN],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    AwaitHello,
    AwaitAuth { identity: IdentityId },
    Authenticating { identity: IdentityId },
    Authenticated { identity: IdentityId },
    Closed,
}

/// The state machine of one client connection.
#[derive(Debug)]
pub struct RelayConnection {
    params: ConnectionParams,
    limits: Arc<Limits>,
    rates: Arc<RateLimiter>,
    state: State,
    strikes: u32,
}

/// Builds an error frame; `detail` is cut to `MAX_ERROR_DETAIL_LEN` bytes.
#[must_use]
pub fn error_frame(
    request_id: u64,
    code: RelayErrorCode,
    detail: &str,
    retry_after: Option<Duration>,
) -> v1::ServerFrame {
    let mut end = detail.len().min(MAX_ERROR_DETAIL_LEN);
    while !detail.is_char_boundary(end) {
        end -= 1;
    }
    let retry_after_ms = retry_after
        .map(|d| u32::try_from(d.as_millis().saturating_add(1)).unwrap_or(u32::MAX))
        .unwrap_or(0);
    frame(
        request_id,
        server_frame::Body::Error(v1::Error {
            code: code.into(),
            detail: detail.get(..end).unwrap_or_default().to_owned(),
            retry_after_ms,
        }),
    )
}

fn frame(request_id: u64, body: server_frame::Body) -> v1::ServerFrame {
    v1::ServerFrame {
        version: FRAME_VERSION,
        request_id,
        body: Some(body),
    }
}

/// The `Deliver` frame for a stored envelope.
#[must_use]
pub fn deliver_frame(e: &StoredEnvelope) -> v1::ServerFrame {
    frame(
        0,
        server_frame::Body::Deliver(v1::Deliver {
            sequence: e.sequence,
            sender: e.sender.to_vec(),
            message_id: e.message_id.to_vec(),
            envelope: e.body.clone(),
            received_at: e.received_at,
        }),
    )
}

/// The `QueueEmpty` frame after the backlog drain.
#[must_use]
pub fn queue_empty_frame(delivered: u64) -> v1::ServerFrame {
    frame(
        0,
        server_frame::Body::QueueEmpty(v1::QueueEmpty { delivered }),
    )
}

/// The answer to a decode failure: its error code.
#[must_use]
pub fn decode_error_code(e: &DecodeError) -> RelayErrorCode {
    match e {
        DecodeError::TooLarge { .. } => RelayErrorCode::TooLarge,
        DecodeError::UnknownVersion { .. } => RelayErrorCode::Version,
        _ => RelayErrorCode::Malformed,
    }
}

impl RelayConnection {
    /// A new connection awaiting `Hello`.
    #[must_use]
    pub fn new(params: ConnectionParams, limits: Arc<Limits>, rates: Arc<RateLimiter>) -> Self {
        Self {
            params,
            limits,
            rates,
            state: State::AwaitHello,
            strikes: 0,
        }
    }

    #[cfg(any(test, feature = "internal"))]
    /// The authenticated identity, once authentication has completed.
    #[must_use]
    pub fn identity(&self) -> Option<IdentityId> {
        match self.state {
            State::Authenticated { identity } => Some(identity),
            _ => None,
        }
    }

    /// Whether the core has asked for the connection to close; it ignores all input then.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Handles one frame body (the bytes after the length prefix).
    pub fn handle_bytes(&mut self, body: &[u8], now: Now) -> Vec<Action> {
        if self.is_closed() {
            return Vec::new();
        }
        match decode_client_frame(body) {
            Ok(frame) => self.handle_frame(frame, now),
            Err(e) => {
                let mut out = vec![Action::Send(error_frame(
                    0,
                    decode_error_code(&e),
                    &e.to_string(),
                    None,
                ))];
                self.strike(&mut out);
                out
            }
        }
    }

    /// Handles a framing error on the stream (header over `MAX_FRAME_LEN`, or the stream ended
    /// inside a frame): the frame boundaries are lost, so the connection closes.
    pub fn handle_framing_error(&mut self, e: &DecodeError) -> Vec<Action> {
        if self.is_closed() {
            return Vec::new();
        }
        self.state = State::Closed;
        vec![
            Action::Send(error_frame(0, decode_error_code(e), &e.to_string(), None)),
            Action::Close(CloseReason::FramingError),
        ]
    }

    /// Handles one decoded frame.
    pub fn handle_frame(&mut self, frame: v1::ClientFrame, now: Now) -> Vec<Action> {
        let mut out = Vec::new();
        if self.is_closed() {
            return out;
        }
        let id = frame.request_id;
        if frame.version != FRAME_VERSION {
            out.push(Action::Send(error_frame(
                id,
                RelayErrorCode::Version,
                "unsupported frame version",
                None,
            )));
            self.strike(&mut out);
            return out;
        }
        let Some(body) = frame.body else {
            self.reject(&mut out, id, RelayErrorCode::Malformed, "missing body");
            return out;
        };
        match (self.state, body) {
            (State::AwaitHello, client_frame::Body::Hello(hello)) => {
                self.on_hello(&mut out, id, &hello);
            }
            (State::AwaitAuth { identity }, client_frame::Body::Auth(auth)) => {
                self.on_auth(&mut out, id, identity, &auth);
            }
            (
                State::Authenticated { .. },
                client_frame::Body::Hello(_) | client_frame::Body::Auth(_),
            )
            | (State::AwaitAuth { .. }, client_frame::Body::Hello(_)) => {
                self.reject(
                    &mut out,
                    id,
                    RelayErrorCode::Malformed,
                    "unexpected hello or auth",
                );
            }
            (State::Authenticating { .. }, _) => {
                // Pipelined before AuthOk: not abuse, but not allowed yet either.
                out.push(Action::Send(error_frame(
                    id,
                    RelayErrorCode::Unauthenticated,
                    "wait for auth_ok",
                    None,
                )));
            }
            (State::Authenticated { identity }, body) => {
                self.on_request(&mut out, id, identity, body, now);
            }
            (State::AwaitHello | State::AwaitAuth { .. }, _) => {
                self.reject(
                    &mut out,
                    id,
                    RelayErrorCode::Unauthenticated,
                    "authenticate first",
                );
            }
            (State::Closed, _) => {}
        }
        out
    }

    /// Handles the result of a [`StoreOp`] the core asked for.
    pub fn handle_store_result(
        &mut self,
        request_id: u64,
        result: Result<StoreOutcome, StoreError>,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        if self.is_closed() {
            return out;
        }
        let body = match result {
            Ok(StoreOutcome::Counts(counts)) => {
                let State::Authenticating { identity } = self.state else {
                    return out;
                };
                self.state = State::Authenticated { identity };
                out.push(Action::Send(frame(
                    request_id,
                    server_frame::Body::AuthOk(v1::AuthOk {
                        one_time_prekeys_left: counts.one_time_prekeys,
                        queued: counts.mailbox.count,
                    }),
                )));
                out.push(Action::Authenticated(identity));
                return out;
            }
            Ok(StoreOutcome::Enqueued(message_id, e)) => server_frame::Body::SendOk(v1::SendOk {
                message_id: message_id.to_vec(),
                duplicate: e.duplicate,
            }),
            Ok(StoreOutcome::Acked(deleted)) => {
                if request_id == 0 {
                    return out;
                }
                server_frame::Body::Acked(v1::Acked { deleted })
            }
            Ok(StoreOutcome::Published(left)) => {
                server_frame::Body::PrekeysPublished(v1::PreKeysPublished {
                    one_time_prekeys_left: left,
                })
            }
            Ok(StoreOutcome::Bundle(Some(b))) => {
                let b = *b;
                server_frame::Body::Bundle(v1::PreKeyBundle::from(&PreKeyBundle {
                    identity: b.identity,
                    signed_prekey: b.signed_prekey,
                    one_time_prekey: b.one_time_prekey,
                }))
            }
            Ok(StoreOutcome::Bundle(None)) => {
                out.push(Action::Send(error_frame(
                    request_id,
                    RelayErrorCode::NotFound,
                    "no prekeys published for this identity",
                    None,
                )));
                return out;
            }
            Err(e @ (StoreError::QuotaExceeded { .. } | StoreError::TooManyPreKeys { .. })) => {
                out.push(Action::Send(error_frame(
                    request_id,
                    RelayErrorCode::Quota,
                    &e.to_string(),
                    None,
                )));
                return out;
            }
            Err(_) => {
                out.push(Action::Send(error_frame(
                    request_id,
                    RelayErrorCode::Internal,
                    "store failure; retry",
                    None,
                )));
                if matches!(self.state, State::Authenticating { .. }) {
                    self.state = State::Closed;
                    out.push(Action::Close(CloseReason::Internal));
                }
                return out;
            }
        };
        out.push(Action::Send(frame(request_id, body)));
        out
    }

    fn on_hello(&mut self, out: &mut Vec<Action>, id: u64, hello: &v1::Hello) {
        let Ok(identity) = <[u8; KEY_LEN]>::try_from(hello.identity.as_slice()) else {
            self.reject(
                out,
                id,
                RelayErrorCode::Malformed,
                "hello.identity must be 32 bytes",
            );
            return;
        };
        if hello.agent.len() > MAX_AGENT_LEN {
            self.reject(
                out,
                id,
                RelayErrorCode::TooLarge,
                "hello.agent is over 64 bytes",
            );
            return;
        }
        self.state = State::AwaitAuth { identity };
        out.push(Action::Send(frame(
            id,
            server_frame::Body::Challenge(v1::AuthChallenge {
                nonce: self.params.nonce.to_vec(),
            }),
        )));
    }

    fn on_auth(&mut self, out: &mut Vec<Action>, id: u64, identity: IdentityId, auth: &v1::Auth) {
        let Ok(signature) = <[u8; SIGNATURE_LEN]>::try_from(auth.signature.as_slice()) else {
            self.reject(
                out,
                id,
                RelayErrorCode::Malformed,
                "auth.signature must be 64 bytes",
            );
            return;
        };
        if verify_auth(
            &self.params.nonce,
            &self.params.exporter,
            &Address::new(identity),
            &signature,
        ) {
            self.state = State::Authenticating { identity };
            out.push(Action::Store {
                request_id: id,
                op: StoreOp::Counts(identity),
            });
        } else {
            self.state = State::Closed;
            out.push(Action::Send(error_frame(
                id,
                RelayErrorCode::AuthFailed,
                "signature does not verify",
                None,
            )));
            out.push(Action::Close(CloseReason::AuthFailed));
        }
    }

    fn on_request(
        &mut self,
        out: &mut Vec<Action>,
        id: u64,
        me: IdentityId,
        body: client_frame::Body,
        now: Now,
    ) {
        if let client_frame::Body::Ack(ack) = body {
            // Acks are not rate limited: they only shrink what the relay holds.
            if ack.sequences.len() > MAX_ACKS_PER_FRAME {
                self.reject(
                    out,
                    id,
                    RelayErrorCode::TooLarge,
                    "over MAX_ACKS_PER_FRAME sequences",
                );
                return;
            }
            out.push(Action::Store {
                request_id: id,
                op: StoreOp::Ack(me, ack.sequences),
            });
            return;
        }
        if let Err(wait) = self
            .rates
            .identity
            .take(me, now.instant)
            .and_then(|()| self.rates.address.take(self.params.address, now.instant))
        {
            out.push(Action::Send(error_frame(
                id,
                RelayErrorCode::RateLimited,
                "too many requests",
                Some(wait),
            )));
            return;
        }
        match body {
            client_frame::Body::PublishPrekeys(p) => self.on_publish(out, id, me, p, now),
            client_frame::Body::FetchBundle(f) => {
                let Ok(target) = <[u8; KEY_LEN]>::try_from(f.identity.as_slice()) else {
                    self.reject(
                        out,
                        id,
                        RelayErrorCode::Malformed,
                        "fetch.identity must be 32 bytes",
                    );
                    return;
                };
                if let Err(wait) = self.rates.fetch.take(me, now.instant) {
                    out.push(Action::Send(error_frame(
                        id,
                        RelayErrorCode::RateLimited,
                        "too many bundle fetches",
                        Some(wait),
                    )));
                    return;
                }
                out.push(Action::Store {
                    request_id: id,
                    op: StoreOp::TakeBundle(target),
                });
            }
            client_frame::Body::Send(s) => self.on_send(out, id, me, s, now),
            // Hello, Auth and Ack were handled above.
            _ => self.reject(out, id, RelayErrorCode::Malformed, "unexpected frame"),
        }
    }

    fn on_publish(
        &mut self,
        out: &mut Vec<Action>,
        id: u64,
        me: IdentityId,
        p: v1::PublishPreKeys,
        now: Now,
    ) {
        let Some(identity) = p.identity else {
            self.reject(
                out,
                id,
                RelayErrorCode::Malformed,
                "publish.identity is required",
            );
            return;
        };
        let identity = match IdentityKey::try_from(identity) {
            Ok(i) => i,
            Err(e) => return self.reject(out, id, RelayErrorCode::Malformed, &e.to_string()),
        };
        if identity.signing_key != me {
            self.reject(
                out,
                id,
                RelayErrorCode::Forbidden,
                "may publish only for own identity",
            );
            return;
        }
        if VerifiedIdentity::verify(&identity).is_err() {
            self.reject(
                out,
                id,
                RelayErrorCode::BadSignature,
                "identity binding does not verify",
            );
            return;
        }
        let signed_prekey = match p.signed_prekey.map(SignedPreKey::try_from).transpose() {
            Ok(s) => s,
            Err(e) => return self.reject(out, id, RelayErrorCode::Malformed, &e.to_string()),
        };
        if let Some(spk) = signed_prekey {
            let bundle = PreKeyBundle {
                identity,
                signed_prekey: spk,
                one_time_prekey: None,
            };
            if VerifiedBundle::verify(&bundle).is_err() {
                self.reject(
                    out,
                    id,
                    RelayErrorCode::BadSignature,
                    "signed prekey does not verify",
                );
                return;
            }
        }
        if p.one_time_prekeys.len() > MAX_PREKEYS_PER_PUBLISH {
            self.reject(
                out,
                id,
                RelayErrorCode::TooLarge,
                "over MAX_PREKEYS_PER_PUBLISH keys",
            );
            return;
        }
        let one_time_prekeys = match p
            .one_time_prekeys
            .into_iter()
            .map(OneTimePreKey::try_from)
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(k) => k,
            Err(e) => return self.reject(out, id, RelayErrorCode::Malformed, &e.to_string()),
        };
        out.push(Action::Store {
            request_id: id,
            op: StoreOp::Publish(Publication {
                identity,
                signed_prekey,
                one_time_prekeys,
                max_one_time_prekeys: MAX_STORED_ONE_TIME_PREKEYS,
                now: now.unix,
            }),
        });
    }

    fn on_send(&mut self, out: &mut Vec<Action>, id: u64, me: IdentityId, s: v1::Send, now: Now) {
        let Ok(recipient) = <[u8; KEY_LEN]>::try_from(s.recipient.as_slice()) else {
            self.reject(
                out,
                id,
                RelayErrorCode::Malformed,
                "send.recipient must be 32 bytes",
            );
            return;
        };
        let Ok(message_id) = <[u8; ID_LEN]>::try_from(s.message_id.as_slice()) else {
            self.reject(
                out,
                id,
                RelayErrorCode::Malformed,
                "send.message_id must be 16 bytes",
            );
            return;
        };
        if s.envelope.is_empty() {
            self.reject(out, id, RelayErrorCode::Malformed, "send.envelope is empty");
            return;
        }
        if s.envelope.len() > self.limits.max_envelope_len {
            self.reject(
                out,
                id,
                RelayErrorCode::TooLarge,
                "envelope over the size limit",
            );
            return;
        }
        out.push(Action::Store {
            request_id: id,
            op: StoreOp::Enqueue(
                NewEnvelope {
                    recipient,
                    sender: me,
                    message_id,
                    body: s.envelope,
                    received_at: now.unix,
                    expires_at: now.unix.saturating_add(self.limits.ttl_secs),
                },
                Quota {
                    max_count: self.limits.mailbox_max_count,
                    max_bytes: self.limits.mailbox_max_bytes,
                },
            ),
        });
    }

    /// Answers with an error and counts a strike.
    fn reject(&mut self, out: &mut Vec<Action>, id: u64, code: RelayErrorCode, detail: &str) {
        out.push(Action::Send(error_frame(id, code, detail, None)));
        self.strike(out);
    }

    fn strike(&mut self, out: &mut Vec<Action>) {
        self.strikes += 1;
        if self.strikes >= MAX_STRIKES {
            self.state = State::Closed;
            out.push(Action::Close(CloseReason::TooManyStrikes));
        }
    }
}

#[cfg(test)]
mod tests;
