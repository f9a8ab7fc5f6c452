#![allow(clippy::unwrap_used, clippy::panic, clippy::cast_possible_truncation)]

use proptest::prelude::*;
use rand::{SeedableRng, rngs::ChaCha20Rng};
use remit_session::Account;
use remit_wire::{
    decode_client_frame, encode_frame,
    v1::{RelayErrorCode, client_frame, server_frame},
};

use super::*;
use crate::auth::{AUTH_CONTEXT, AuthSigner, verify_auth};

const EXPORTER: [u8; 32] = [0x5e; 32];
const NONCE: [u8; 32] = [0x0c; 32];

fn account(seed: u8) -> Account {
    Account::new(&mut ChaCha20Rng::from_seed([seed; 32]), 1_700_000_000)
}

/// Bytes of one server frame, with its length prefix.
fn server(request_id: u64, body: server_frame::Body) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(
        &v1::ServerFrame {
            version: crate::FRAME_VERSION,
            request_id,
            body: Some(body),
        },
        &mut out,
    )
    .unwrap();
    out
}

/// The client frames in `bytes` (whole frames only, as this connection writes them).
fn client_frames(bytes: &[u8]) -> Vec<v1::ClientFrame> {
    let mut decoder = FrameDecoder::new(MAX_FRAME_LEN);
    let mut rest = bytes;
    let mut frames = Vec::new();
    while !rest.is_empty() {
        let (used, body) = decoder.decode(rest).unwrap();
        rest = &rest[used..];
        if let Some(body) = body {
            frames.push(decode_client_frame(&body).unwrap());
        }
    }
    frames
}

fn events(c: &mut ClientConnection) -> Vec<Event> {
    core::iter::from_fn(|| c.poll_event()).collect()
}

fn challenge() -> Vec<u8> {
    server(
        HELLO_ID,
        server_frame::Body::Challenge(v1::AuthChallenge {
            nonce: NONCE.to_vec(),
        }),
    )
}

fn auth_ok() -> Vec<u8> {
    server(
        AUTH_ID,
        server_frame::Body::AuthOk(v1::AuthOk {
            one_time_prekeys_left: 3,
            queued: 1,
        }),
    )
}

/// A connection of `who`, authenticated (its Hello and Auth already taken).
fn ready(who: &Account, now: Instant) -> ClientConnection {
    let mut c = ClientConnection::new(
        AuthSigner::identity(who),
        EXPORTER,
        ClientConfig::new("test"),
        now,
    );
    c.handle_input(&challenge(), now);
    let Some(Event::AuthChallenge { digest }) = c.poll_event() else {
        panic!("a challenge event")
    };
    c.handle_signature(who.sign_statement(AUTH_CONTEXT, &digest).unwrap())
        .unwrap();
    c.handle_input(&auth_ok(), now);
    assert!(c.is_ready());
    let _ = c.poll_transmit();
    let _ = events(&mut c);
    c
}

fn error(request_id: u64, code: RelayErrorCode) -> Vec<u8> {
    server(
        request_id,
        server_frame::Body::Error(v1::Error {
            code: code as i32,
            detail: "no".into(),
            retry_after_ms: 0,
        }),
    )
}

fn send_ok(request_id: u64, id: MessageId) -> Vec<u8> {
    server(
        request_id,
        server_frame::Body::SendOk(v1::SendOk {
            message_id: id.as_bytes().to_vec(),
            duplicate: false,
        }),
    )
}

#[test]
fn authentication_signs_what_the_relay_checks() {
    let alice = account(1);
    let now = Instant::now();
    let identity = AuthSigner::identity(&alice);
    let mut c = ClientConnection::new(identity, EXPORTER, ClientConfig::new("test"), now);
    let hello = client_frames(&c.poll_transmit().unwrap());
    assert_eq!(hello.len(), 1);
    assert_eq!(hello[0].request_id, HELLO_ID);
    let Some(client_frame::Body::Hello(h)) = &hello[0].body else {
        panic!("a hello")
    };
    assert_eq!(h.identity, identity.as_bytes());
    // No request before authentication.
    assert_eq!(
        c.send(identity, MessageId::new([1; 16]), vec![], now),
        Err(RequestRefused::NotReady)
    );
    assert_eq!(c.handle_signature([0; 64]), Err(NoChallenge));

    c.handle_input(&challenge(), now);
    let Some(Event::AuthChallenge { digest }) = c.poll_event() else {
        panic!("a challenge event")
    };
    let signature = alice.sign_statement(AUTH_CONTEXT, &digest).unwrap();
    c.handle_signature(signature).unwrap();
    let auth = client_frames(&c.poll_transmit().unwrap());
    let Some(client_frame::Body::Auth(a)) = &auth[0].body else {
        panic!("an auth frame")
    };
    // The relay's check (spec/relay.md §2) accepts exactly this signature.
    assert!(verify_auth(
        &NONCE,
        &EXPORTER,
        &identity,
        &a.signature.clone().try_into().unwrap()
    ));
    c.handle_input(&auth_ok(), now);
    assert_eq!(
        events(&mut c),
        [Event::Authenticated {
            one_time_prekeys_left: 3,
            queued: 1
        }]
    );
    assert!(c.is_ready());
}

#[test]
fn requests_complete_in_any_order_and_deliveries_pass_through() {
    let alice = account(1);
    let now = Instant::now();
    let mut c = ready(&alice, now);
    let bob = Address::new([2; 32]);
    let (m1, m2) = (MessageId::new([1; 16]), MessageId::new([2; 16]));
    let r1 = c.send(bob, m1, vec![7; 10], now).unwrap();
    let r2 = c.send(bob, m2, vec![8; 10], now).unwrap();
    let r3 = c.ack(vec![4, 5], now).unwrap();
    let sent = client_frames(&c.poll_transmit().unwrap());
    assert_eq!(sent.len(), 3);
    assert_eq!(c.in_flight(), 3);

    let mut input = send_ok(r2.get(), m2);
    input.extend(server(
        0,
        server_frame::Body::Deliver(v1::Deliver {
            sequence: 4,
            sender: vec![2; 32],
            message_id: vec![9; 16],
            envelope: vec![1, 2, 3],
            received_at: 5,
        }),
    ));
    input.extend(server(
        r3.get(),
        server_frame::Body::Acked(v1::Acked { deleted: 2 }),
    ));
    input.extend(send_ok(r1.get(), m1));
    input.extend(server(
        0,
        server_frame::Body::QueueEmpty(v1::QueueEmpty { delivered: 1 }),
    ));
    c.handle_input(&input, now);
    let got = events(&mut c);
    assert_eq!(got.len(), 5);
    assert_eq!(
        got[0],
        Event::Completed {
            request: r2,
            result: Ok(Reply::Sent { duplicate: false })
        }
    );
    let Event::Delivered(d) = &got[1] else {
        panic!("a delivery")
    };
    assert_eq!((d.sequence, d.sender, d.envelope.len()), (4, bob, 3));
    assert_eq!(
        got[2],
        Event::Completed {
            request: r3,
            result: Ok(Reply::Acked { deleted: 2 })
        }
    );
    assert_eq!(
        got[3],
        Event::Completed {
            request: r1,
            result: Ok(Reply::Sent { duplicate: false })
        }
    );
    assert_eq!(got[4], Event::QueueEmpty { delivered: 1 });
    assert_eq!(c.in_flight(), 0);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn a_refused_request_leaves_the_connection_open() {
    let now = Instant::now();
    let mut c = ready(&account(1), now);
    let r = c
        .send(Address::new([2; 32]), MessageId::new([1; 16]), vec![], now)
        .unwrap();
    c.handle_input(&error(r.get(), RelayErrorCode::Quota), now);
    let got = events(&mut c);
    let [
        Event::Completed {
            request,
            result: Err(RequestError::Refused(e)),
        },
    ] = got.as_slice()
    else {
        panic!("a refused request: {got:?}")
    };
    assert_eq!((*request, e.code), (r, Some(RelayErrorCode::Quota)));
    assert!(c.is_ready());
}

#[test]
fn refused_authentication_closes() {
    let now = Instant::now();
    let mut c = ClientConnection::new(Address::new([1; 32]), EXPORTER, ClientConfig::new("t"), now);
    c.handle_input(&error(HELLO_ID, RelayErrorCode::AuthFailed), now);
    let got = events(&mut c);
    assert!(
        matches!(got.as_slice(), [Event::Closed(ConnectionError::AuthRefused(e))] if e.code == Some(RelayErrorCode::AuthFailed)),
        "{got:?}"
    );
    assert!(c.is_closed());
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn authentication_has_a_deadline() {
    let now = Instant::now();
    let config = ClientConfig::new("t");
    let deadline = now + config.auth_timeout;
    let mut c = ClientConnection::new(Address::new([1; 32]), EXPORTER, config, now);
    assert_eq!(c.poll_timeout(), Some(deadline));
    c.handle_timeout(deadline - Duration::from_millis(1));
    assert!(!c.is_closed());
    c.handle_timeout(deadline);
    assert_eq!(
        events(&mut c),
        [Event::Closed(ConnectionError::AuthTimedOut)]
    );
}

#[test]
fn an_unanswered_request_closes_and_every_request_gets_an_outcome() {
    let now = Instant::now();
    let mut c = ready(&account(1), now);
    let first = c.ack(vec![1], now).unwrap();
    let later = now + Duration::from_secs(1);
    let second = c.ack(vec![2], later).unwrap();
    let deadline = now + c.config.request_timeout;
    assert_eq!(c.poll_timeout(), Some(deadline));
    c.handle_timeout(deadline);
    assert_eq!(
        events(&mut c),
        [
            Event::Completed {
                request: first,
                result: Err(RequestError::TimedOut)
            },
            Event::Completed {
                request: second,
                result: Err(RequestError::ConnectionLost)
            },
            Event::Closed(ConnectionError::RequestTimedOut),
        ]
    );
    assert_eq!(c.ack(vec![3], later), Err(RequestRefused::Closed));
    assert_eq!(c.poll_transmit(), None);
}

#[test]
fn protocol_violations_close_with_a_typed_reason() {
    let now = Instant::now();
    // An answer to nothing.
    let mut c = ready(&account(1), now);
    let r = c.ack(vec![1], now).unwrap();
    c.handle_input(
        &server(99, server_frame::Body::Acked(v1::Acked { deleted: 0 })),
        now,
    );
    assert_eq!(
        events(&mut c),
        [
            Event::Completed {
                request: r,
                result: Err(RequestError::ConnectionLost)
            },
            Event::Closed(ConnectionError::Protocol(Violation::UnknownRequest(99))),
        ]
    );

    // A SendOk for another message id.
    let mut c = ready(&account(1), now);
    let r = c
        .send(Address::new([2; 32]), MessageId::new([1; 16]), vec![], now)
        .unwrap();
    c.handle_input(&send_ok(r.get(), MessageId::new([3; 16])), now);
    assert_eq!(
        events(&mut c),
        [
            Event::Completed {
                request: r,
                result: Err(RequestError::UnexpectedReply)
            },
            Event::Closed(ConnectionError::Protocol(Violation::WrongReply(r.get()))),
        ]
    );

    // A delivery before authentication.
    let mut c = ClientConnection::new(Address::new([1; 32]), EXPORTER, ClientConfig::new("t"), now);
    c.handle_input(
        &server(
            0,
            server_frame::Body::QueueEmpty(v1::QueueEmpty { delivered: 0 }),
        ),
        now,
    );
    assert!(matches!(
        events(&mut c).as_slice(),
        [Event::Closed(ConnectionError::Protocol(
            Violation::UnexpectedFrame { .. }
        ))]
    ));

    // Bytes that are not a frame.
    let mut c = ready(&account(1), now);
    c.handle_input(&[0, 0, 0, 2, 0xff, 0xff], now);
    assert!(matches!(
        events(&mut c).as_slice(),
        [Event::Closed(ConnectionError::Frame(_))]
    ));
    // A length over the limit.
    let mut c = ready(&account(1), now);
    c.handle_input(&[0xff, 0xff, 0xff, 0xff], now);
    assert!(matches!(
        events(&mut c).as_slice(),
        [Event::Closed(ConnectionError::Framing(_))]
    ));
}

#[test]
fn a_bundle_for_another_identity_is_refused() {
    let now = Instant::now();
    let mut c = ready(&account(1), now);
    let carol = account(3);
    let asked = Address::new([4; 32]);
    let r = c.fetch_bundle(asked, now).unwrap();
    let bundle = v1::PreKeyBundle::from(&carol.bundle(None));
    c.handle_input(&server(r.get(), server_frame::Body::Bundle(bundle)), now);
    assert_eq!(
        events(&mut c),
        [Event::Completed {
            request: r,
            result: Err(RequestError::BundleMismatch)
        }]
    );
    assert!(c.is_ready());
    // The right identity's bundle is returned.
    let r = c.fetch_bundle(AuthSigner::identity(&carol), now).unwrap();
    let bundle = v1::PreKeyBundle::from(&carol.bundle(None));
    c.handle_input(&server(r.get(), server_frame::Body::Bundle(bundle)), now);
    assert!(matches!(
        events(&mut c).as_slice(),
        [Event::Completed {
            result: Ok(Reply::Bundle(_)),
            ..
        }]
    ));
}

#[test]
fn pending_requests_are_bounded() {
    let now = Instant::now();
    let mut c = ready(&account(1), now);
    for _ in 0..MAX_IN_FLIGHT_REQUESTS {
        c.ack(vec![], now).unwrap();
    }
    assert_eq!(
        c.ack(vec![], now),
        Err(RequestRefused::Busy {
            max: MAX_IN_FLIGHT_REQUESTS
        })
    );
    assert_eq!(
        c.ack(vec![0; MAX_ACKS_PER_FRAME + 1], now),
        Err(RequestRefused::TooManyAcks {
            len: MAX_ACKS_PER_FRAME + 1,
            max: MAX_ACKS_PER_FRAME
        })
    );
}

#[test]
fn close_completes_everything_once() {
    let now = Instant::now();
    let mut c = ready(&account(1), now);
    let r = c.ack(vec![], now).unwrap();
    c.close();
    c.close();
    c.handle_end();
    c.handle_input(&send_ok(r.get(), MessageId::new([0; 16])), now);
    assert_eq!(
        events(&mut c),
        [
            Event::Completed {
                request: r,
                result: Err(RequestError::ConnectionLost)
            },
            Event::Closed(ConnectionError::Closed),
        ]
    );
}

/// The relay's side of a scripted exchange, in the three parts that each answer something the
/// client did: the challenge (to Hello), AuthOk and the backlog (to Auth), and a SendOk per
/// request (to the Sends the client makes once authenticated).
fn script(requests: &[RequestId], ids: &[MessageId]) -> [Vec<u8>; 3] {
    let mut backlog = auth_ok();
    let mut answers = Vec::new();
    for (n, (r, id)) in requests.iter().zip(ids).enumerate() {
        backlog.extend(server(
            0,
            server_frame::Body::Deliver(v1::Deliver {
                sequence: n as u64,
                sender: vec![9; 32],
                message_id: vec![n as u8; 16],
                envelope: vec![n as u8; n],
                received_at: 0,
            }),
        ));
        answers.extend(send_ok(r.get(), *id));
    }
    [challenge(), backlog, answers]
}

proptest! {
    /// However the stream is cut into reads, the connection reports the same events.
    #[test]
    fn chunking_does_not_change_events(
        cuts in proptest::collection::vec(0usize..4096, 0..40),
        early in proptest::collection::vec(0usize..128, 0..8),
        middle in proptest::collection::vec(0usize..4096, 0..20),
    ) {
        let alice = account(1);
        let now = Instant::now();
        let ids: Vec<MessageId> = (0..8u8).map(|i| MessageId::new([i; 16])).collect();
        // Request ids are deterministic: 3, 4, ... after Hello (1) and Auth (2).
        let requests: Vec<RequestId> = (0..8).map(|i| RequestId(AUTH_ID + 1 + i)).collect();
        let segments = script(&requests, &ids);
        let run = |cuts: &[&[usize]; 3]| {
            let mut c = ClientConnection::new(
                AuthSigner::identity(&alice), EXPORTER, ClientConfig::new("t"), now);
            let mut out = Vec::new();
            for (bytes, cuts) in segments.iter().zip(cuts) {
                let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
                cuts.push(bytes.len());
                cuts.sort_unstable();
                let mut at = 0;
                for cut in cuts {
                    c.handle_input(&bytes[at..cut], now);
                    at = cut;
                    while let Some(e) = c.poll_event() {
                        match &e {
                            Event::AuthChallenge { digest } => {
                                let sig = alice.sign_statement(AUTH_CONTEXT, digest).unwrap();
                                c.handle_signature(sig).unwrap();
                            }
                            Event::Authenticated { .. } => {
                                for id in &ids {
                                    c.send(Address::new([2; 32]), *id, vec![], now).unwrap();
                                }
                            }
                            _ => {}
                        }
                        out.push(e);
                    }
                }
            }
            out
        };
        let whole = run(&[&[], &[], &[]]);
        prop_assert_eq!(whole.len(), 2 + 2 * ids.len());
        prop_assert_eq!(run(&[&early, &middle, &cuts]), whole);
    }
}
