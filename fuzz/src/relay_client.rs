//! `relay_client`: remit-relay-proto's client connection machine driven by an arbitrary relay
//! (structured frames and raw bytes, in any order) and an arbitrary caller (requests, a
//! signature, the clock, end of stream, close).
//!
//! Invariants:
//! - every request the machine accepted gets exactly one `Completed`, and no `Completed` names a
//!   request it never accepted;
//! - `Closed` comes at most once and last: after it, no event and no transmit byte, every request
//!   is refused with `Closed`, and `poll_timeout` is `None`;
//! - when `Closed` comes, nothing is pending any more (`in_flight() == 0`);
//! - `in_flight()` is always the number of accepted requests without an outcome, and never
//!   exceeds `MAX_IN_FLIGHT_REQUESTS`;
//! - what the machine transmits is a sequence of well-formed client frames (the framing and the
//!   frame decode), with fresh, increasing request ids for ordinary requests;
//! - `Authenticated` comes at most once, before any request is accepted.

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use arbitrary::{Arbitrary, Unstructured};
use remit_relay_proto::{
    Address, ClientConfig, ClientConnection, Event, MAX_IN_FLIGHT_REQUESTS, MessageId, RequestId,
    RequestRefused,
};
use remit_wire::{
    FrameDecoder, decode_client_frame, encode_frame,
    limits::MAX_FRAME_LEN,
    v1::{self, server_frame},
};

#[derive(Debug, Arbitrary)]
enum Op {
    /// Raw bytes from the relay.
    Bytes(Vec<u8>),
    /// A well-formed server frame answering the `n`th accepted request (or a raw id).
    Frame {
        answer: u8,
        raw_id: bool,
        kind: Kind,
    },
    /// Answers a challenge with a signature (of the right length; the relay would check it).
    Sign,
    Send {
        recipient: u8,
        id: u8,
        len: u8,
    },
    Fetch(u8),
    Ack(Vec<u64>),
    Publish,
    /// Moves the clock by this many milliseconds, then applies it.
    Advance(u16),
    End,
    Close,
}

#[derive(Debug, Arbitrary)]
enum Kind {
    Challenge,
    AuthOk { left: u32, queued: u64 },
    Published(u32),
    Bundle,
    SendOk { id: u8, duplicate: bool },
    Deliver { sequence: u64, sender: u8, len: u8 },
    Acked(u32),
    QueueEmpty(u64),
    Error { code: i32, detail: String },
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(ops) = Vec::<Op>::arbitrary(&mut u) else {
        return;
    };
    let start = Instant::now();
    let mut now = start;
    let mut c = ClientConnection::new(
        Address::new([1; 32]),
        [2; 32],
        ClientConfig::new("fuzz"),
        now,
    );
    let mut model = Model::default();
    model.drain(&mut c);
    for op in ops {
        match op {
            Op::Bytes(b) => c.handle_input(&b, now),
            Op::Frame {
                answer,
                raw_id,
                kind,
            } => {
                let id = if raw_id {
                    u64::from(answer)
                } else {
                    model.nth_request(answer)
                };
                c.handle_input(&server(id, kind), now);
            }
            Op::Sign => {
                let _ = c.handle_signature([3; 64]);
            }
            Op::Send { recipient, id, len } => {
                let r = c.send(
                    Address::new([recipient; 32]),
                    MessageId::new([id; 16]),
                    vec![0; usize::from(len)],
                    now,
                );
                model.accepted(&c, r);
            }
            Op::Fetch(who) => {
                let r = c.fetch_bundle(Address::new([who; 32]), now);
                model.accepted(&c, r);
            }
            Op::Ack(sequences) => {
                let r = c.ack(sequences, now);
                model.accepted(&c, r);
            }
            Op::Publish => {
                let r = c.publish(v1::PublishPreKeys::default(), now);
                model.accepted(&c, r);
            }
            Op::Advance(ms) => {
                now += Duration::from_millis(u64::from(ms) * 20);
                c.handle_timeout(now);
            }
            Op::End => c.handle_end(),
            Op::Close => c.close(),
        }
        model.drain(&mut c);
    }
    c.close();
    model.drain(&mut c);
    assert!(model.closed, "close() always ends with Closed");
    assert!(
        model.pending.is_empty(),
        "a request without an outcome: {:?}",
        model.pending
    );
}

#[derive(Default)]
struct Model {
    /// Accepted requests, in order.
    accepted: Vec<RequestId>,
    /// Accepted and not yet completed.
    pending: BTreeSet<RequestId>,
    closed: bool,
    authenticated: bool,
    decoder: Option<FrameDecoder>,
    last_id: u64,
}

impl Model {
    fn nth_request(&self, n: u8) -> u64 {
        if self.accepted.is_empty() {
            u64::from(n)
        } else {
            self.accepted[usize::from(n) % self.accepted.len()].get()
        }
    }

    fn accepted(&mut self, c: &ClientConnection, r: Result<RequestId, RequestRefused>) {
        match r {
            Ok(id) => {
                assert!(!self.closed, "a request accepted after Closed");
                assert!(
                    self.authenticated,
                    "a request accepted before authentication"
                );
                assert!(self.pending.insert(id), "request id {id:?} reused");
                self.accepted.push(id);
            }
            Err(RequestRefused::Closed) => assert!(c.is_closed()),
            Err(RequestRefused::NotReady) => assert!(!c.is_ready() && !c.is_closed()),
            Err(RequestRefused::Busy { max }) => {
                assert_eq!(max, MAX_IN_FLIGHT_REQUESTS);
                assert_eq!(c.in_flight(), max);
            }
            Err(_) => {}
        }
        assert_eq!(c.in_flight(), self.pending.len());
    }

    fn drain(&mut self, c: &mut ClientConnection) {
        if let Some(bytes) = c.poll_transmit() {
            assert!(!self.closed, "bytes transmitted after Closed");
            self.check_transmit(&bytes);
        }
        while let Some(event) = c.poll_event() {
            assert!(!self.closed, "an event after Closed: {event:?}");
            match event {
                Event::Completed { request, .. } => {
                    assert!(
                        self.pending.remove(&request),
                        "Completed for {request:?}, which is not pending"
                    );
                }
                Event::Authenticated { .. } => {
                    assert!(!self.authenticated, "Authenticated twice");
                    assert!(self.accepted.is_empty());
                    self.authenticated = true;
                }
                Event::Closed(_) => {
                    assert!(self.pending.is_empty(), "Closed with requests pending");
                    self.closed = true;
                }
                _ => {}
            }
        }
        assert_eq!(c.in_flight(), self.pending.len());
        assert!(c.in_flight() <= MAX_IN_FLIGHT_REQUESTS);
        if self.closed {
            assert!(c.is_closed());
            assert_eq!(c.poll_timeout(), None);
            assert_eq!(c.poll_transmit(), None);
        }
    }

    fn check_transmit(&mut self, bytes: &[u8]) {
        let decoder = self
            .decoder
            .get_or_insert_with(|| FrameDecoder::new(MAX_FRAME_LEN));
        let mut rest = bytes;
        while !rest.is_empty() {
            let (used, body) = decoder.decode(rest).expect("the client's framing is valid");
            rest = &rest[used..];
            if let Some(body) = body {
                let frame = decode_client_frame(&body).expect("the client's frames decode");
                if frame.request_id > 2 {
                    assert!(frame.request_id > self.last_id, "request ids increase");
                    self.last_id = frame.request_id;
                }
            }
        }
    }
}

fn server(request_id: u64, kind: Kind) -> Vec<u8> {
    let body = match kind {
        Kind::Challenge => server_frame::Body::Challenge(v1::AuthChallenge { nonce: vec![4; 32] }),
        Kind::AuthOk { left, queued } => server_frame::Body::AuthOk(v1::AuthOk {
            one_time_prekeys_left: left,
            queued,
        }),
        Kind::Published(left) => server_frame::Body::PrekeysPublished(v1::PreKeysPublished {
            one_time_prekeys_left: left,
        }),
        Kind::Bundle => server_frame::Body::Bundle(v1::PreKeyBundle::from(
            &crate::fixtures::payee_account().bundle(None),
        )),
        Kind::SendOk { id, duplicate } => server_frame::Body::SendOk(v1::SendOk {
            message_id: vec![id; 16],
            duplicate,
        }),
        Kind::Deliver {
            sequence,
            sender,
            len,
        } => server_frame::Body::Deliver(v1::Deliver {
            sequence,
            sender: vec![sender; 32],
            message_id: vec![sender; 16],
            envelope: vec![0; usize::from(len)],
            received_at: 0,
        }),
        Kind::Acked(deleted) => server_frame::Body::Acked(v1::Acked { deleted }),
        Kind::QueueEmpty(delivered) => server_frame::Body::QueueEmpty(v1::QueueEmpty { delivered }),
        Kind::Error { code, detail } => server_frame::Body::Error(v1::Error {
            code,
            detail: detail.chars().take(256).collect(),
            retry_after_ms: 0,
        }),
    };
    let mut out = Vec::new();
    // A frame this small always encodes.
    let _ = encode_frame(
        &v1::ServerFrame {
            version: 1,
            request_id,
            body: Some(body),
        },
        &mut out,
    );
    out
}
