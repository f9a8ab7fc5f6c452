//! The relay end to end: real quinn on loopback, real SQLite files in temporary directories.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

use std::{collections::HashSet, sync::Arc, time::Duration};

use remit_relay::{
    Relay, RelayConfig,
    internal::testkit::{Impostor, TestAccount},
    limits::{Limits, Rate},
};
use remit_relay_client::{Client, Event, RelayError, internal::RawConnection};
use remit_wire::{
    limits::{MAX_ENVELOPE_LEN, MAX_FRAME_LEN},
    v1::{self, RelayErrorCode, client_frame, server_frame},
};

const WAIT: Duration = Duration::from_secs(10);

async fn start_in(dir: &std::path::Path, limits: Limits) -> Relay {
    Relay::start(RelayConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        cert: None,
        limits,
        metrics: Some("127.0.0.1:0".parse().unwrap()),
    })
    .await
    .unwrap()
}

async fn connect(relay: &Relay, who: &TestAccount) -> Result<Client, RelayError> {
    Client::connect(relay.local_addr(), relay.fingerprint(), who).await
}

async fn next_delivery(c: &mut Client) -> remit_relay_client::Delivery {
    tokio::time::timeout(WAIT, c.recv())
        .await
        .expect("delivery in time")
        .expect("connection open")
}

async fn next_frame(raw: &mut RawConnection) -> Option<v1::ServerFrame> {
    tokio::time::timeout(WAIT, raw.read_frame())
        .await
        .expect("frame in time")
        .ok()
        .flatten()
}

fn error_code(f: &v1::ServerFrame) -> RelayErrorCode {
    match &f.body {
        Some(server_frame::Body::Error(e)) => RelayErrorCode::try_from(e.code).unwrap(),
        other => panic!("expected an error frame, got {other:?}"),
    }
}

fn mid(n: u32) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[..4].copy_from_slice(&n.to_be_bytes());
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_delivery_after_reconnect_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), Limits::default()).await;
    let (alice, bob) = (TestAccount::new(1), TestAccount::new(2));
    let a = connect(&relay, &alice).await.unwrap();
    for i in 0..20 {
        assert!(
            !a.send(bob.id().into(), mid(i).into(), vec![i as u8; 300])
                .await
                .unwrap()
        );
    }
    assert!(
        a.send(bob.id().into(), mid(3).into(), vec![3; 300])
            .await
            .unwrap(),
        "a repeated id is a duplicate"
    );
    let mut b = connect(&relay, &bob).await.unwrap();
    assert_eq!(b.queued_at_auth(), 20);
    for i in 0..20u32 {
        let d = next_delivery(&mut b).await;
        assert_eq!(d.message_id, mid(i).into());
        assert_eq!(d.sender, alice.id().into());
        assert_eq!(d.envelope, vec![i as u8; 300]);
    }
    match tokio::time::timeout(WAIT, b.next_event()).await.unwrap() {
        Some(Event::QueueEmpty { delivered: 20 }) => {}
        other => panic!("expected QueueEmpty, got {other:?}"),
    }
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_push_ack_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), Limits::default()).await;
    let (alice, bob) = (TestAccount::new(1), TestAccount::new(2));
    let mut b = connect(&relay, &bob).await.unwrap();
    assert!(matches!(
        tokio::time::timeout(WAIT, b.next_event()).await.unwrap(),
        Some(Event::QueueEmpty { delivered: 0 })
    ));
    let a = connect(&relay, &alice).await.unwrap();
    a.send(bob.id().into(), mid(1).into(), b"live".to_vec())
        .await
        .unwrap();
    let d = next_delivery(&mut b).await;
    assert_eq!(d.envelope, b"live");
    assert_eq!(b.ack(vec![d.sequence]).await.unwrap(), 1);
    assert_eq!(b.ack(vec![d.sequence]).await.unwrap(), 0);
    // Bob cannot delete from anyone else's mailbox: acking his sequence numbers as Alice does
    // nothing to his.
    a.send(bob.id().into(), mid(2).into(), b"kept".to_vec())
        .await
        .unwrap();
    let d2 = next_delivery(&mut b).await;
    assert_eq!(a.ack(vec![d2.sequence]).await.unwrap(), 0);
    b.close().await;
    let b = connect(&relay, &bob).await.unwrap();
    assert_eq!(
        b.queued_at_auth(),
        1,
        "only the unacknowledged envelope is left"
    );
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_queued_envelopes_and_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), Limits::default()).await;
    let fingerprint = relay.fingerprint();
    let (alice, bob) = (TestAccount::new(1), TestAccount::new(2));
    let a = connect(&relay, &alice).await.unwrap();
    for i in 0..5 {
        a.send(bob.id().into(), mid(i).into(), vec![9; 64])
            .await
            .unwrap();
    }
    relay.shutdown().await;
    let relay = start_in(dir.path(), Limits::default()).await;
    assert_eq!(
        relay.fingerprint(),
        fingerprint,
        "the generated certificate is reused"
    );
    let mut b = connect(&relay, &bob).await.unwrap();
    assert_eq!(b.queued_at_auth(), 5);
    for i in 0..5 {
        assert_eq!(next_delivery(&mut b).await.message_id, mid(i).into());
    }
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_time_prekeys_are_never_handed_out_twice_to_64_concurrent_fetchers() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Arc::new(start_in(dir.path(), Limits::default()).await);
    let bob = TestAccount::new(200);
    let b = connect(&relay, &bob).await.unwrap();
    let spk = bob.signed_prekey();
    assert_eq!(
        b.publish(bob.publish(Some(spk), &TestAccount::one_time_prekeys(0..100)))
            .await
            .unwrap(),
        100
    );
    assert_eq!(
        b.publish(bob.publish(None, &TestAccount::one_time_prekeys(100..150)))
            .await
            .unwrap(),
        150
    );
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..64u8 {
        let relay = Arc::clone(&relay);
        let target = bob.id();
        tasks.spawn(async move {
            let me = TestAccount::new(n);
            let c = connect(&relay, &me).await.unwrap();
            let mut got = Vec::new();
            for _ in 0..3 {
                let bundle = c.fetch_bundle(target.into()).await.unwrap();
                let verified = remit_session::VerifiedBundle::verify(&bundle).unwrap();
                assert_eq!(verified.identity().signing_key(), &target);
                if let Some(k) = bundle.one_time_prekey {
                    got.push(k.id);
                }
            }
            c.close().await;
            got
        });
    }
    let mut all = Vec::new();
    while let Some(r) = tasks.join_next().await {
        all.extend(r.unwrap());
    }
    let unique: HashSet<u32> = all.iter().copied().collect();
    assert_eq!(
        unique.len(),
        all.len(),
        "a one-time prekey was handed out twice"
    );
    assert_eq!(
        all.len(),
        150,
        "192 fetches hand out all 150 keys, then the signed prekey alone"
    );
    b.close().await;
    let b = connect(&relay, &bob).await.unwrap();
    assert_eq!(
        b.one_time_prekeys_left(),
        0,
        "the owner learns the count at authentication"
    );
    drop(b);
    Arc::into_inner(relay).unwrap().shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_violations_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), Limits::default()).await;
    let (alice, bob) = (TestAccount::new(1), TestAccount::new(2));

    // A signature by another key.
    let impostor = Impostor {
        claimed: alice.id(),
        signer: &bob,
    };
    let err = Client::connect(relay.local_addr(), relay.fingerprint(), &impostor)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(RelayErrorCode::AuthFailed), "{err}");

    // A signature bound to another connection's exporter.
    let mut raw = RawConnection::connect(relay.local_addr(), relay.fingerprint())
        .await
        .unwrap();
    let other = RawConnection::connect(relay.local_addr(), relay.fingerprint())
        .await
        .unwrap();
    raw.write_frame(&frame(
        1,
        client_frame::Body::Hello(v1::Hello {
            identity: alice.id().to_vec(),
            agent: String::new(),
        }),
    ))
    .await
    .unwrap();
    let Some(server_frame::Body::Challenge(ch)) = next_frame(&mut raw).await.unwrap().body else {
        panic!()
    };
    let nonce: [u8; 32] = ch.nonce.try_into().unwrap();
    let sig = remit_relay_proto::auth::sign_auth(&nonce, &other.exporter(), &alice).unwrap();
    raw.write_frame(&frame(
        2,
        client_frame::Body::Auth(v1::Auth {
            signature: sig.to_vec(),
        }),
    ))
    .await
    .unwrap();
    assert_eq!(
        error_code(&next_frame(&mut raw).await.unwrap()),
        RelayErrorCode::AuthFailed
    );
    assert!(
        next_frame(&mut raw).await.is_none(),
        "the relay closes after a failed auth"
    );

    // Requests before authentication.
    let mut raw = RawConnection::connect(relay.local_addr(), relay.fingerprint())
        .await
        .unwrap();
    let send = client_frame::Body::Send(v1::Send {
        recipient: bob.id().to_vec(),
        message_id: vec![0; 16],
        envelope: vec![1],
    });
    raw.write_frame(&frame(7, send)).await.unwrap();
    let f = next_frame(&mut raw).await.unwrap();
    assert_eq!(
        (f.request_id, error_code(&f)),
        (7, RelayErrorCode::Unauthenticated)
    );

    // Publishing for another identity.
    let a = connect(&relay, &alice).await.unwrap();
    let err = a
        .publish(bob.publish(Some(bob.signed_prekey()), &[]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(RelayErrorCode::Forbidden));
    // A forged signed prekey.
    let mut spk = alice.signed_prekey();
    spk.public_key[0] ^= 1;
    let err = a.publish(alice.publish(Some(spk), &[])).await.unwrap_err();
    assert_eq!(err.code(), Some(RelayErrorCode::BadSignature));
    // The connection is still usable after those (two strikes).
    a.send(bob.id().into(), mid(1).into(), b"still here".to_vec())
        .await
        .unwrap();

    // A client pinning another certificate does not connect.
    let mut wrong = relay.fingerprint();
    wrong[0] ^= 1;
    assert!(
        RawConnection::connect(relay.local_addr(), wrong)
            .await
            .is_err()
    );
    relay.shutdown().await;
}

fn frame(request_id: u64, body: client_frame::Body) -> v1::ClientFrame {
    v1::ClientFrame {
        version: 1,
        request_id,
        body: Some(body),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_truncated_and_oversized_frames_get_errors_while_others_carry_on() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), Limits::default()).await;
    let (alice, bob) = (TestAccount::new(1), TestAccount::new(2));
    let a = connect(&relay, &alice).await.unwrap();
    let mut b = connect(&relay, &bob).await.unwrap();

    // Malformed bodies: an error each, then the connection is closed after MAX_STRIKES.
    let mut raw = RawConnection::connect(relay.local_addr(), relay.fingerprint())
        .await
        .unwrap();
    for i in 0..remit_relay::limits::MAX_STRIKES {
        raw.write_bytes(&[0, 0, 0, 3, 0xff, 0xff, 0xff])
            .await
            .unwrap();
        assert_eq!(
            error_code(&next_frame(&mut raw).await.unwrap()),
            RelayErrorCode::Malformed,
            "strike {i}"
        );
        a.send(bob.id().into(), mid(i).into(), b"meanwhile".to_vec())
            .await
            .unwrap();
        assert_eq!(next_delivery(&mut b).await.message_id, mid(i).into());
    }
    assert!(
        next_frame(&mut raw).await.is_none(),
        "closed after repeated malformed frames"
    );

    // An oversized frame header: TOO_LARGE, and the stream is closed.
    let mut raw = RawConnection::connect(relay.local_addr(), relay.fingerprint())
        .await
        .unwrap();
    raw.write_bytes(&u32::try_from(MAX_FRAME_LEN + 1).unwrap().to_be_bytes())
        .await
        .unwrap();
    assert_eq!(
        error_code(&next_frame(&mut raw).await.unwrap()),
        RelayErrorCode::TooLarge
    );
    assert!(next_frame(&mut raw).await.is_none());

    // A truncated frame: the stream ends inside it.
    let mut raw = RawConnection::connect(relay.local_addr(), relay.fingerprint())
        .await
        .unwrap();
    raw.write_bytes(&[0, 0, 0, 100, 1, 2, 3]).await.unwrap();
    raw.finish();
    assert_eq!(
        error_code(&next_frame(&mut raw).await.unwrap()),
        RelayErrorCode::Malformed
    );

    // An oversized envelope inside a well-formed frame: TOO_LARGE, connection stays.
    let err = a
        .send(
            bob.id().into(),
            mid(99).into(),
            vec![0; MAX_ENVELOPE_LEN + 1],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(RelayErrorCode::TooLarge));
    a.send(bob.id().into(), mid(100).into(), b"after".to_vec())
        .await
        .unwrap();
    assert_eq!(next_delivery(&mut b).await.message_id, mid(100).into());
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_triggers_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        identity_rate: Rate {
            burst: 5,
            per_second: 20,
        },
        ..Limits::default()
    };
    let relay = start_in(dir.path(), limits).await;
    let (alice, bob) = (TestAccount::new(1), TestAccount::new(2));
    let a = Arc::new(connect(&relay, &alice).await.unwrap());
    let mut limited = None;
    for i in 0..20 {
        match a.send(bob.id().into(), mid(i).into(), b"x".to_vec()).await {
            Ok(_) => {}
            Err(RelayError::Refused(e)) if e.code == Some(RelayErrorCode::RateLimited) => {
                limited = Some(e.retry_after);
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    let retry_after = limited.expect("the limit triggered");
    assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_millis(100));
    tokio::time::sleep(retry_after).await;
    a.send(bob.id().into(), mid(1000).into(), b"x".to_vec())
        .await
        .unwrap();
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_is_reported_and_fetch_of_unknown_identity_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        mailbox_max_count: 2,
        ..Limits::default()
    };
    let relay = start_in(dir.path(), limits).await;
    let (alice, bob) = (TestAccount::new(1), TestAccount::new(2));
    let a = connect(&relay, &alice).await.unwrap();
    a.send(bob.id().into(), mid(1).into(), b"1".to_vec())
        .await
        .unwrap();
    a.send(bob.id().into(), mid(2).into(), b"2".to_vec())
        .await
        .unwrap();
    let err = a
        .send(bob.id().into(), mid(3).into(), b"3".to_vec())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(RelayErrorCode::Quota));
    let err = a.fetch_bundle(bob.id().into()).await.unwrap_err();
    assert_eq!(err.code(), Some(RelayErrorCode::NotFound));
    relay.shutdown().await;
}

/// GET /metrics over plain HTTP/1.1 on loopback; returns (status line, body).
async fn scrape(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: relay\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut response = String::new();
    tokio::time::timeout(WAIT, s.read_to_string(&mut response))
        .await
        .unwrap()
        .unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

fn value(body: &str, name: &str) -> f64 {
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_scraped_after_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        mailbox_max_count: 4,
        ..Limits::default()
    };
    let relay = start_in(dir.path(), limits).await;
    let addr = relay.metrics_addr().unwrap();
    let (alice, bob) = (TestAccount::new(1), TestAccount::new(2));
    let mut b = connect(&relay, &bob).await.unwrap();
    let a = connect(&relay, &alice).await.unwrap();
    for i in 0..4 {
        a.send(bob.id().into(), mid(i).into(), vec![7; 256])
            .await
            .unwrap();
    }
    assert!(
        a.send(bob.id().into(), mid(0).into(), vec![7; 256])
            .await
            .unwrap(),
        "duplicate"
    );
    let err = a
        .send(bob.id().into(), mid(9).into(), vec![7; 256])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(RelayErrorCode::Quota));
    let err = a.fetch_bundle([9; 32].into()).await.unwrap_err();
    assert_eq!(err.code(), Some(RelayErrorCode::NotFound));
    let mut seqs = Vec::new();
    for _ in 0..4 {
        seqs.push(next_delivery(&mut b).await.sequence);
    }
    assert_eq!(b.ack(seqs[..3].to_vec()).await.unwrap(), 3);

    let (status, body) = scrape(addr, "/metrics").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(value(&body, "remit_relay_connections"), 2.0);
    assert_eq!(value(&body, "remit_relay_connections_total"), 2.0);
    assert_eq!(value(&body, "remit_relay_sends_total"), 4.0);
    assert_eq!(value(&body, "remit_relay_send_duplicates_total"), 1.0);
    assert_eq!(value(&body, "remit_relay_deliveries_total"), 4.0);
    assert_eq!(value(&body, "remit_relay_acks_total"), 3.0);
    assert_eq!(value(&body, "remit_relay_queue_depth"), 1.0);
    assert_eq!(
        value(&body, "remit_relay_rejections_total{reason=\"quota\"}"),
        1.0
    );
    assert_eq!(
        value(&body, "remit_relay_rejections_total{reason=\"not_found\"}"),
        1.0
    );
    assert_eq!(
        value(&body, "remit_relay_rejections_total{reason=\"malformed\"}"),
        0.0
    );
    // Every enqueue and ack went through a group commit; the histogram is cumulative.
    let commits = value(&body, "remit_relay_store_commit_seconds_count");
    assert!(commits >= 1.0, "{body}");
    assert_eq!(
        value(
            &body,
            "remit_relay_store_commit_seconds_bucket{le=\"+Inf\"}"
        ),
        commits
    );
    assert!(value(&body, "remit_relay_store_commit_jobs_total") >= 7.0);
    assert!(body.contains("# TYPE remit_relay_store_commit_seconds histogram\n"));

    let (status, _) = scrape(addr, "/nope").await;
    assert_eq!(status, "HTTP/1.1 404 Not Found");

    a.close().await;
    b.close().await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (_, body) = scrape(addr, "/metrics").await;
        if value(&body, "remit_relay_connections") == 0.0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "gauge stays {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    relay.shutdown().await;
}
