#![allow(clippy::cast_possible_truncation)]

use std::net::Ipv4Addr;

use prost::Message;

use super::*;
use remit_relay_proto::auth::{auth_digest, sign_auth};

use crate::{
    limits::Rate,
    store::{MailboxStats, StoredEnvelope},
    testkit::TestAccount,
};

const NONCE: [u8; 32] = [1; 32];
const EXPORTER: [u8; 32] = [2; 32];

fn now() -> Now {
    Now {
        instant: Instant::now(),
        unix: 1_700_000_000,
    }
}

fn params(last_octet: u8) -> ConnectionParams {
    ConnectionParams {
        address: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last_octet)),
        nonce: NONCE,
        exporter: EXPORTER,
    }
}

fn connection_with(limits: Limits) -> (RelayConnection, Arc<RateLimiter>) {
    let rates = Arc::new(RateLimiter::new(&limits));
    (
        RelayConnection::new(params(1), Arc::new(limits), Arc::clone(&rates)),
        rates,
    )
}

fn connection() -> RelayConnection {
    connection_with(Limits::default()).0
}

fn cf(request_id: u64, body: client_frame::Body) -> v1::ClientFrame {
    v1::ClientFrame {
        version: 1,
        request_id,
        body: Some(body),
    }
}

fn hello(id: &TestAccount) -> client_frame::Body {
    client_frame::Body::Hello(v1::Hello {
        identity: id.id().to_vec(),
        agent: "test".into(),
    })
}

fn auth_body(sig: [u8; 64]) -> client_frame::Body {
    client_frame::Body::Auth(v1::Auth {
        signature: sig.to_vec(),
    })
}

fn good_sig(id: &TestAccount) -> [u8; 64] {
    sign_auth(&NONCE, &EXPORTER, id).unwrap()
}

/// The error code of the single error frame in `actions`.
fn error_of(actions: &[Action]) -> RelayErrorCode {
    let codes: Vec<_> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(v1::ServerFrame {
                body: Some(server_frame::Body::Error(e)),
                ..
            }) => Some(RelayErrorCode::try_from(e.code).unwrap()),
            _ => None,
        })
        .collect();
    assert_eq!(codes.len(), 1, "expected one error frame in {actions:?}");
    codes[0]
}

fn closes(actions: &[Action]) -> Option<CloseReason> {
    actions.iter().find_map(|a| match a {
        Action::Close(r) => Some(*r),
        _ => None,
    })
}

fn store_op(actions: &[Action]) -> &StoreOp {
    match actions {
        [Action::Store { op, .. }] => op,
        other => panic!("expected one store op, got {other:?}"),
    }
}

/// Runs hello, auth and the counts lookup; returns the authenticated connection.
fn authenticated(id: &TestAccount) -> RelayConnection {
    authenticated_with(id, Limits::default()).0
}

fn authenticated_with(id: &TestAccount, limits: Limits) -> (RelayConnection, Arc<RateLimiter>) {
    let (mut c, rates) = connection_with(limits);
    c.handle_frame(cf(1, hello(id)), now());
    let a = c.handle_frame(cf(2, auth_body(good_sig(id))), now());
    assert!(matches!(store_op(&a), StoreOp::Counts(i) if *i == id.id()));
    let a = c.handle_store_result(
        2,
        Ok(StoreOutcome::Counts(OwnerCounts {
            one_time_prekeys: 7,
            mailbox: MailboxStats { count: 3, bytes: 9 },
        })),
    );
    assert_eq!(c.identity(), Some(id.id()));
    match a.as_slice() {
        [
            Action::Send(v1::ServerFrame {
                request_id: 2,
                body: Some(server_frame::Body::AuthOk(ok)),
                ..
            }),
            Action::Authenticated(who),
        ] => {
            assert_eq!((ok.one_time_prekeys_left, ok.queued), (7, 3));
            assert_eq!(*who, id.id());
        }
        other => panic!("expected AuthOk then Authenticated, got {other:?}"),
    }
    (c, rates)
}

fn send_body(recipient: &[u8], message_id: &[u8], envelope: &[u8]) -> client_frame::Body {
    client_frame::Body::Send(v1::Send {
        recipient: recipient.to_vec(),
        message_id: message_id.to_vec(),
        envelope: envelope.to_vec(),
    })
}

fn request_bodies(target: &TestAccount) -> Vec<client_frame::Body> {
    vec![
        client_frame::Body::PublishPrekeys(target.publish(None, &[])),
        client_frame::Body::FetchBundle(v1::FetchBundle {
            identity: target.id().to_vec(),
        }),
        send_body(&target.id(), &[0; 16], b"x"),
        client_frame::Body::Ack(v1::Ack { sequences: vec![1] }),
    ]
}

#[test]
fn hello_is_answered_with_the_challenge() {
    let alice = TestAccount::new(1);
    let mut c = connection();
    let a = c.handle_frame(cf(42, hello(&alice)), now());
    match a.as_slice() {
        [
            Action::Send(v1::ServerFrame {
                request_id: 42,
                body: Some(server_frame::Body::Challenge(ch)),
                ..
            }),
        ] => assert_eq!(ch.nonce, NONCE),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.identity(), None);
}

#[test]
fn every_request_before_hello_is_unauthenticated() {
    let alice = TestAccount::new(1);
    for body in request_bodies(&alice)
        .into_iter()
        .chain([auth_body(good_sig(&alice))])
    {
        let mut c = connection();
        let a = c.handle_frame(cf(5, body), now());
        assert_eq!(error_of(&a), RelayErrorCode::Unauthenticated);
        assert!(!a.iter().any(|x| matches!(x, Action::Store { .. })));
    }
}

#[test]
fn every_request_between_hello_and_auth_is_unauthenticated() {
    let alice = TestAccount::new(1);
    for body in request_bodies(&alice) {
        let mut c = connection();
        c.handle_frame(cf(1, hello(&alice)), now());
        let a = c.handle_frame(cf(5, body), now());
        assert_eq!(error_of(&a), RelayErrorCode::Unauthenticated);
        assert_eq!(c.identity(), None);
    }
}

#[test]
fn requests_while_authenticating_are_refused_without_a_strike() {
    let alice = TestAccount::new(1);
    let mut c = connection();
    c.handle_frame(cf(1, hello(&alice)), now());
    c.handle_frame(cf(2, auth_body(good_sig(&alice))), now());
    for _ in 0..(MAX_STRIKES + 2) {
        let a = c.handle_frame(cf(3, send_body(&alice.id(), &[0; 16], b"x")), now());
        assert_eq!(error_of(&a), RelayErrorCode::Unauthenticated);
        assert_eq!(closes(&a), None);
    }
}

fn assert_auth_fails(sig: [u8; 64]) {
    let alice = TestAccount::new(1);
    let mut c = connection();
    c.handle_frame(cf(1, hello(&alice)), now());
    let a = c.handle_frame(cf(2, auth_body(sig)), now());
    assert_eq!(error_of(&a), RelayErrorCode::AuthFailed);
    assert_eq!(closes(&a), Some(CloseReason::AuthFailed));
    assert!(c.is_closed());
    assert_eq!(c.identity(), None);
    // A closed connection ignores everything, including a correct signature now.
    assert!(
        c.handle_frame(cf(3, auth_body(good_sig(&alice))), now())
            .is_empty()
    );
    assert!(c.handle_bytes(b"junk", now()).is_empty());
}

#[test]
fn auth_signed_by_another_key_fails() {
    let alice = TestAccount::new(1);
    let mallory = TestAccount::new(2);
    assert_auth_fails(mallory.sign_digest(&auth_digest(&NONCE, &EXPORTER, &alice.address())));
}

#[test]
fn auth_replayed_from_another_connection_fails() {
    let alice = TestAccount::new(1);
    // Another connection had another nonce.
    assert_auth_fails(alice.sign_digest(&auth_digest(&[9; 32], &EXPORTER, &alice.address())));
}

#[test]
fn auth_bound_to_another_tls_session_fails() {
    let alice = TestAccount::new(1);
    assert_auth_fails(alice.sign_digest(&auth_digest(&NONCE, &[9; 32], &alice.address())));
}

#[test]
fn auth_over_another_identity_fails() {
    let alice = TestAccount::new(1);
    let bob = TestAccount::new(2);
    assert_auth_fails(alice.sign_digest(&auth_digest(&NONCE, &EXPORTER, &bob.address())));
}

#[test]
fn auth_with_a_garbage_signature_fails() {
    assert_auth_fails([0xff; 64]);
    assert_auth_fails([0; 64]);
}

#[test]
fn auth_signature_of_the_wrong_length_is_malformed() {
    let alice = TestAccount::new(1);
    let mut c = connection();
    c.handle_frame(cf(1, hello(&alice)), now());
    let a = c.handle_frame(
        cf(
            2,
            client_frame::Body::Auth(v1::Auth {
                signature: vec![0; 63],
            }),
        ),
        now(),
    );
    assert_eq!(error_of(&a), RelayErrorCode::Malformed);
    assert_eq!(c.identity(), None);
}

#[test]
fn hello_with_a_bad_identity_or_agent_is_refused() {
    let mut c = connection();
    let a = c.handle_frame(
        cf(
            1,
            client_frame::Body::Hello(v1::Hello {
                identity: vec![0; 31],
                agent: String::new(),
            }),
        ),
        now(),
    );
    assert_eq!(error_of(&a), RelayErrorCode::Malformed);
    let a = c.handle_frame(
        cf(
            1,
            client_frame::Body::Hello(v1::Hello {
                identity: vec![0; 32],
                agent: "a".repeat(65),
            }),
        ),
        now(),
    );
    assert_eq!(error_of(&a), RelayErrorCode::TooLarge);
}

#[test]
fn auth_with_a_small_order_identity_fails() {
    // The identity point 0 (encoded as 1 followed by zeros is the neutral element).
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut c = connection();
    c.handle_frame(
        cf(
            1,
            client_frame::Body::Hello(v1::Hello {
                identity: identity.to_vec(),
                agent: String::new(),
            }),
        ),
        now(),
    );
    let a = c.handle_frame(cf(2, auth_body([0; 64])), now());
    assert_eq!(error_of(&a), RelayErrorCode::AuthFailed);
}

#[test]
fn hello_or_auth_after_authentication_is_malformed() {
    let alice = TestAccount::new(1);
    let mut c = authenticated(&alice);
    assert_eq!(
        error_of(&c.handle_frame(cf(9, hello(&alice)), now())),
        RelayErrorCode::Malformed
    );
    let a = c.handle_frame(cf(9, auth_body(good_sig(&alice))), now());
    assert_eq!(error_of(&a), RelayErrorCode::Malformed);
    assert_eq!(c.identity(), Some(alice.id()));
}

#[test]
fn publish_for_another_identity_is_forbidden() {
    let alice = TestAccount::new(1);
    let bob = TestAccount::new(2);
    let mut c = authenticated(&alice);
    let body = client_frame::Body::PublishPrekeys(bob.publish(Some(bob.signed_prekey()), &[]));
    assert_eq!(
        error_of(&c.handle_frame(cf(3, body), now())),
        RelayErrorCode::Forbidden
    );
}

#[test]
fn publish_with_a_forged_binding_or_prekey_signature_is_refused() {
    let alice = TestAccount::new(1);
    let mut c = authenticated(&alice);
    let mut p = alice.publish(Some(alice.signed_prekey()), &[]);
    p.identity.as_mut().unwrap().binding_signature[0] ^= 1;
    let a = c.handle_frame(cf(3, client_frame::Body::PublishPrekeys(p)), now());
    assert_eq!(error_of(&a), RelayErrorCode::BadSignature);

    let mut spk = alice.signed_prekey();
    spk.created_at += 1; // the signature covers created_at
    let p = alice.publish(Some(spk), &[]);
    let a = c.handle_frame(cf(4, client_frame::Body::PublishPrekeys(p)), now());
    assert_eq!(error_of(&a), RelayErrorCode::BadSignature);
}

#[test]
fn publish_without_identity_or_with_bad_keys_is_malformed() {
    let alice = TestAccount::new(1);
    let mut c = authenticated(&alice);
    let mut p = alice.publish(None, &[]);
    p.identity = None;
    let a = c.handle_frame(cf(3, client_frame::Body::PublishPrekeys(p)), now());
    assert_eq!(error_of(&a), RelayErrorCode::Malformed);
    let mut p = alice.publish(None, &TestAccount::one_time_prekeys(0..2));
    p.one_time_prekeys[1].public_key.pop();
    let a = c.handle_frame(cf(4, client_frame::Body::PublishPrekeys(p)), now());
    assert_eq!(error_of(&a), RelayErrorCode::Malformed);
}

#[test]
fn publish_of_too_many_one_time_prekeys_is_too_large() {
    let alice = TestAccount::new(1);
    let mut c = authenticated(&alice);
    let keys = TestAccount::one_time_prekeys(0..(MAX_PREKEYS_PER_PUBLISH as u32 + 1));
    let a = c.handle_frame(
        cf(
            3,
            client_frame::Body::PublishPrekeys(alice.publish(None, &keys)),
        ),
        now(),
    );
    assert_eq!(error_of(&a), RelayErrorCode::TooLarge);
}

#[test]
fn valid_publish_goes_to_the_store_and_is_answered() {
    let alice = TestAccount::new(1);
    let mut c = authenticated(&alice);
    let keys = TestAccount::one_time_prekeys(0..100);
    let spk = alice.signed_prekey();
    let a = c.handle_frame(
        cf(
            3,
            client_frame::Body::PublishPrekeys(alice.publish(Some(spk), &keys)),
        ),
        now(),
    );
    match store_op(&a) {
        StoreOp::Publish(p) => {
            assert_eq!(p.identity, alice.identity_key());
            assert_eq!(p.signed_prekey, Some(spk));
            assert_eq!(p.one_time_prekeys, keys);
            assert_eq!(p.max_one_time_prekeys, MAX_STORED_ONE_TIME_PREKEYS);
        }
        other => panic!("{other:?}"),
    }
    let a = c.handle_store_result(3, Ok(StoreOutcome::Published(100)));
    match a.as_slice() {
        [
            Action::Send(v1::ServerFrame {
                request_id: 3,
                body: Some(server_frame::Body::PrekeysPublished(p)),
                ..
            }),
        ] => {
            assert_eq!(p.one_time_prekeys_left, 100);
        }
        other => panic!("{other:?}"),
    }
    let a = c.handle_store_result(
        4,
        Err(StoreError::TooManyPreKeys {
            would_have: 1001,
            max: 1000,
        }),
    );
    assert_eq!(error_of(&a), RelayErrorCode::Quota);
}

#[test]
fn fetch_takes_a_bundle_or_answers_not_found() {
    let alice = TestAccount::new(1);
    let bob = TestAccount::new(2);
    let mut c = authenticated(&alice);
    let a = c.handle_frame(
        cf(
            3,
            client_frame::Body::FetchBundle(v1::FetchBundle {
                identity: bob.id().to_vec(),
            }),
        ),
        now(),
    );
    assert!(matches!(store_op(&a), StoreOp::TakeBundle(t) if *t == bob.id()));
    let bundle = StoredBundle {
        identity: bob.identity_key(),
        signed_prekey: bob.signed_prekey(),
        one_time_prekey: TestAccount::one_time_prekeys(5..6).pop(),
    };
    let a = c.handle_store_result(3, Ok(StoreOutcome::Bundle(Some(Box::new(bundle.clone())))));
    match a.as_slice() {
        [
            Action::Send(v1::ServerFrame {
                body: Some(server_frame::Body::Bundle(b)),
                ..
            }),
        ] => {
            let typed = PreKeyBundle::try_from(b.clone()).unwrap();
            assert_eq!(typed.one_time_prekey, bundle.one_time_prekey);
            VerifiedBundle::verify(&typed).unwrap();
        }
        other => panic!("{other:?}"),
    }
    let a = c.handle_store_result(4, Ok(StoreOutcome::Bundle(None)));
    assert_eq!(error_of(&a), RelayErrorCode::NotFound);
    let a = c.handle_frame(
        cf(
            5,
            client_frame::Body::FetchBundle(v1::FetchBundle {
                identity: vec![1; 5],
            }),
        ),
        now(),
    );
    assert_eq!(error_of(&a), RelayErrorCode::Malformed);
}

#[test]
fn send_is_checked_then_stored_as_from_the_authenticated_identity() {
    let alice = TestAccount::new(1);
    let bob = TestAccount::new(2);
    let limits = Limits {
        max_envelope_len: 100,
        ..Limits::default()
    };
    let (mut c, _) = authenticated_with(&alice, limits.clone());
    let cases: [(client_frame::Body, RelayErrorCode); 4] = [
        (
            send_body(&[0; 31], &[0; 16], b"x"),
            RelayErrorCode::Malformed,
        ),
        (
            send_body(&bob.id(), &[0; 15], b"x"),
            RelayErrorCode::Malformed,
        ),
        (
            send_body(&bob.id(), &[0; 16], b""),
            RelayErrorCode::Malformed,
        ),
        (
            send_body(&bob.id(), &[0; 16], &[0; 101]),
            RelayErrorCode::TooLarge,
        ),
    ];
    for (i, (body, code)) in cases.into_iter().enumerate() {
        let (mut c, _) = authenticated_with(&alice, limits.clone());
        let a = c.handle_frame(cf(i as u64 + 10, body), now());
        assert_eq!(error_of(&a), code, "case {i}");
    }
    let t = now();
    let a = c.handle_frame(cf(3, send_body(&bob.id(), &[7; 16], &[5; 100])), t);
    match store_op(&a) {
        StoreOp::Enqueue(e, q) => {
            assert_eq!(e.recipient, bob.id());
            assert_eq!(e.sender, alice.id());
            assert_eq!(e.message_id, [7; 16]);
            assert_eq!(e.received_at, t.unix);
            assert_eq!(e.expires_at, t.unix + limits.ttl_secs);
            assert_eq!(q.max_count, limits.mailbox_max_count);
        }
        other => panic!("{other:?}"),
    }
    let a = c.handle_store_result(
        3,
        Ok(StoreOutcome::Enqueued(
            [7; 16],
            Enqueued {
                sequence: 4,
                duplicate: true,
            },
        )),
    );
    match a.as_slice() {
        [
            Action::Send(v1::ServerFrame {
                request_id: 3,
                body: Some(server_frame::Body::SendOk(ok)),
                ..
            }),
        ] => {
            assert_eq!(ok.message_id, vec![7; 16]);
            assert!(ok.duplicate);
        }
        other => panic!("{other:?}"),
    }
    let quota = StoreError::QuotaExceeded {
        count: 1,
        bytes: 1,
        max_count: 1,
        max_bytes: 1,
    };
    assert_eq!(
        error_of(&c.handle_store_result(5, Err(quota))),
        RelayErrorCode::Quota
    );
    assert_eq!(
        error_of(&c.handle_store_result(6, Err(StoreError::Closed))),
        RelayErrorCode::Internal
    );
    assert!(
        !c.is_closed(),
        "a store failure on a request keeps the connection"
    );
}

#[test]
fn ack_deletes_only_from_own_mailbox_and_is_bounded() {
    let alice = TestAccount::new(1);
    let mut c = authenticated(&alice);
    let a = c.handle_frame(
        cf(
            3,
            client_frame::Body::Ack(v1::Ack {
                sequences: vec![1, 2],
            }),
        ),
        now(),
    );
    assert!(matches!(store_op(&a), StoreOp::Ack(who, s) if *who == alice.id() && s == &vec![1, 2]));
    let a = c.handle_store_result(3, Ok(StoreOutcome::Acked(2)));
    assert!(matches!(
        a.as_slice(),
        [Action::Send(v1::ServerFrame {
            body: Some(server_frame::Body::Acked(v1::Acked { deleted: 2 })),
            ..
        })]
    ));
    assert!(
        c.handle_store_result(0, Ok(StoreOutcome::Acked(2)))
            .is_empty(),
        "request_id 0 gets no answer"
    );
    let too_many = vec![1; MAX_ACKS_PER_FRAME + 1];
    let a = c.handle_frame(
        cf(
            4,
            client_frame::Body::Ack(v1::Ack {
                sequences: too_many,
            }),
        ),
        now(),
    );
    assert_eq!(error_of(&a), RelayErrorCode::TooLarge);
}

#[test]
fn repeated_bad_frames_close_the_connection() {
    let alice = TestAccount::new(1);
    let mut c = authenticated(&alice);
    for i in 1..=MAX_STRIKES {
        let a = c.handle_bytes(b"\xff\xff\xff", now());
        assert_eq!(error_of(&a), RelayErrorCode::Malformed);
        assert_eq!(closes(&a).is_some(), i == MAX_STRIKES, "strike {i}");
    }
    assert!(c.is_closed());
    assert!(
        c.handle_frame(cf(1, send_body(&alice.id(), &[0; 16], b"x")), now())
            .is_empty()
    );
}

#[test]
fn decode_failures_map_to_error_codes() {
    let mut c = connection();
    let wrong_version = v1::ClientFrame {
        version: 2,
        request_id: 1,
        body: Some(hello(&TestAccount::new(1))),
    };
    assert_eq!(
        error_of(&c.handle_bytes(&wrong_version.encode_to_vec(), now())),
        RelayErrorCode::Version
    );
    let mut c = connection();
    let no_body = v1::ClientFrame {
        version: 1,
        request_id: 1,
        body: None,
    };
    assert_eq!(
        error_of(&c.handle_bytes(&no_body.encode_to_vec(), now())),
        RelayErrorCode::Malformed
    );
    let mut c = connection();
    let huge = vec![0u8; remit_wire::limits::MAX_FRAME_LEN + 1];
    assert_eq!(
        error_of(&c.handle_bytes(&huge, now())),
        RelayErrorCode::TooLarge
    );
}

#[test]
fn framing_errors_close_at_once() {
    let mut c = connection();
    let e = DecodeError::TooLarge {
        what: "frame",
        len: 1 << 30,
        max: 10,
    };
    let a = c.handle_framing_error(&e);
    assert_eq!(error_of(&a), RelayErrorCode::TooLarge);
    assert_eq!(closes(&a), Some(CloseReason::FramingError));
}

#[test]
fn identity_rate_limit_triggers_and_recovers() {
    let alice = TestAccount::new(1);
    let limits = Limits {
        identity_rate: Rate {
            burst: 3,
            per_second: 10,
        },
        ..Limits::default()
    };
    let (mut c, _) = authenticated_with(&alice, limits);
    let t0 = now();
    for i in 0..3 {
        let a = c.handle_frame(cf(i, send_body(&alice.id(), &[i as u8; 16], b"x")), t0);
        assert!(matches!(store_op(&a), StoreOp::Enqueue(..)));
    }
    let a = c.handle_frame(cf(9, send_body(&alice.id(), &[9; 16], b"x")), t0);
    assert_eq!(error_of(&a), RelayErrorCode::RateLimited);
    let Action::Send(v1::ServerFrame {
        body: Some(server_frame::Body::Error(e)),
        ..
    }) = &a[0]
    else {
        panic!()
    };
    assert!(
        (1..=101).contains(&e.retry_after_ms),
        "{}",
        e.retry_after_ms
    );
    assert_eq!(closes(&a), None, "rate limiting is not a strike");
    // Acks are never rate limited.
    let ack = c.handle_frame(
        cf(10, client_frame::Body::Ack(v1::Ack { sequences: vec![1] })),
        t0,
    );
    assert!(matches!(store_op(&ack), StoreOp::Ack(..)));
    let later = Now {
        instant: t0.instant + Duration::from_millis(150),
        unix: t0.unix,
    };
    let a = c.handle_frame(cf(11, send_body(&alice.id(), &[11; 16], b"x")), later);
    assert!(matches!(store_op(&a), StoreOp::Enqueue(..)));
}

#[test]
fn address_rate_limit_is_shared_by_connections_from_one_address() {
    let limits = Limits {
        address_rate: Rate {
            burst: 2,
            per_second: 1,
        },
        ..Limits::default()
    };
    let alice = TestAccount::new(1);
    let bob = TestAccount::new(2);
    let (mut a_conn, rates) = authenticated_with(&alice, limits.clone());
    let limits = Arc::new(limits);
    let mut b_conn = RelayConnection::new(params(1), Arc::clone(&limits), Arc::clone(&rates));
    b_conn.handle_frame(cf(1, hello(&bob)), now());
    b_conn.handle_frame(cf(2, auth_body(good_sig(&bob))), now());
    b_conn.handle_store_result(2, Ok(StoreOutcome::Counts(OwnerCounts::default())));
    let t = now();
    assert!(matches!(
        store_op(&a_conn.handle_frame(cf(3, send_body(&bob.id(), &[1; 16], b"x")), t)),
        StoreOp::Enqueue(..)
    ));
    assert!(matches!(
        store_op(&b_conn.handle_frame(cf(3, send_body(&alice.id(), &[1; 16], b"x")), t)),
        StoreOp::Enqueue(..)
    ));
    let a = b_conn.handle_frame(cf(4, send_body(&alice.id(), &[2; 16], b"x")), t);
    assert_eq!(error_of(&a), RelayErrorCode::RateLimited);
    // Another address is not affected.
    let mut c_conn = RelayConnection::new(params(2), limits, rates);
    let carol = TestAccount::new(3);
    c_conn.handle_frame(cf(1, hello(&carol)), now());
    c_conn.handle_frame(cf(2, auth_body(good_sig(&carol))), now());
    c_conn.handle_store_result(2, Ok(StoreOutcome::Counts(OwnerCounts::default())));
    assert!(matches!(
        store_op(&c_conn.handle_frame(cf(3, send_body(&alice.id(), &[3; 16], b"x")), t)),
        StoreOp::Enqueue(..)
    ));
}

#[test]
fn fetch_rate_limit_triggers_and_recovers() {
    let alice = TestAccount::new(1);
    let limits = Limits {
        fetch_rate: Rate {
            burst: 2,
            per_second: 1,
        },
        ..Limits::default()
    };
    let (mut c, _) = authenticated_with(&alice, limits);
    let fetch = || {
        client_frame::Body::FetchBundle(v1::FetchBundle {
            identity: [9; 32].to_vec(),
        })
    };
    let t0 = now();
    c.handle_frame(cf(1, fetch()), t0);
    c.handle_frame(cf(2, fetch()), t0);
    assert_eq!(
        error_of(&c.handle_frame(cf(3, fetch()), t0)),
        RelayErrorCode::RateLimited
    );
    let later = Now {
        instant: t0.instant + Duration::from_secs(1),
        unix: t0.unix,
    };
    assert!(matches!(
        store_op(&c.handle_frame(cf(4, fetch()), later)),
        StoreOp::TakeBundle(_)
    ));
}

#[test]
fn store_failure_during_authentication_closes() {
    let alice = TestAccount::new(1);
    let mut c = connection();
    c.handle_frame(cf(1, hello(&alice)), now());
    c.handle_frame(cf(2, auth_body(good_sig(&alice))), now());
    let a = c.handle_store_result(2, Err(StoreError::Closed));
    assert_eq!(error_of(&a), RelayErrorCode::Internal);
    assert_eq!(closes(&a), Some(CloseReason::Internal));
    assert_eq!(c.identity(), None);
}

#[test]
fn deliver_frame_carries_the_stored_envelope() {
    let e = StoredEnvelope {
        sequence: 9,
        sender: [3; 32],
        message_id: [4; 16],
        body: vec![5; 10],
        received_at: 77,
    };
    let f = deliver_frame(&e);
    assert_eq!(f.request_id, 0);
    let Some(server_frame::Body::Deliver(d)) = f.body else {
        panic!()
    };
    assert_eq!(
        (
            d.sequence,
            d.sender,
            d.message_id,
            d.envelope,
            d.received_at
        ),
        (9, vec![3; 32], vec![4; 16], vec![5; 10], 77)
    );
}

#[test]
fn error_detail_is_capped_on_a_char_boundary() {
    let f = error_frame(1, RelayErrorCode::Internal, &"é".repeat(200), None);
    let Some(server_frame::Body::Error(e)) = f.body else {
        panic!()
    };
    assert!(e.detail.len() <= MAX_ERROR_DETAIL_LEN);
}
