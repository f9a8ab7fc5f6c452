//! The delivery task against a real SQLite store: committed frames handed over by the hub are
//! written in sequence order, exactly once, and anything the hand-over misses (a gap, an
//! overflow, a hint from elsewhere) is read from the store.

use std::{sync::Arc, time::Duration};

use remit_wire::{decode_server_frame, encode_frame, limits::MAX_FRAME_LEN, split_frame, v1};
use tokio::sync::mpsc;

use super::{Hub, Inbox, PUSH_QUEUE_BYTES, deliver};
use crate::{
    core::deliver_frame,
    metrics::Metrics,
    store::{IdentityId, NewEnvelope, Quota, SqliteStore, Store, StoredEnvelope},
};

const ALICE: IdentityId = [0xa1; 32];
const BOB: IdentityId = [0xb0; 32];

const QUOTA: Quota = Quota {
    max_count: 100_000,
    max_bytes: 1 << 30,
};

struct Fixture {
    _dir: tempfile::TempDir,
    store: SqliteStore,
    next_id: u64,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path().join("relay.sqlite3")).expect("open");
        Self {
            _dir: dir,
            store,
            next_id: 0,
        }
    }

    /// Commits an envelope for Bob; returns its sequence and the frame the relay would push.
    async fn commit(&mut self, body_len: usize) -> (u64, Arc<[u8]>) {
        self.next_id += 1;
        let mut message_id = [0u8; 16];
        message_id[8..].copy_from_slice(&self.next_id.to_be_bytes());
        let body = vec![0x5a; body_len];
        let envelope = NewEnvelope {
            recipient: BOB,
            sender: ALICE,
            message_id,
            body: body.clone(),
            received_at: 1_000,
            expires_at: u64::MAX >> 2,
        };
        let e = self.store.enqueue(envelope, QUOTA).await.expect("enqueue");
        assert!(!e.duplicate);
        let stored = StoredEnvelope {
            sequence: e.sequence,
            sender: ALICE,
            message_id,
            body,
            received_at: 1_000,
        };
        let mut buf = Vec::new();
        encode_frame(&deliver_frame(&stored), &mut buf).expect("encode");
        (e.sequence, Arc::from(buf))
    }
}

/// The next frame the delivery task wrote, decoded.
async fn next(out: &mut mpsc::Receiver<Vec<u8>>) -> v1::server_frame::Body {
    let bytes = tokio::time::timeout(Duration::from_secs(10), out.recv())
        .await
        .expect("a frame within 10 s")
        .expect("delivery task alive");
    let (body, used) = split_frame(&bytes, MAX_FRAME_LEN)
        .expect("framed")
        .expect("complete");
    assert_eq!(used, bytes.len(), "one frame per message");
    decode_server_frame(body)
        .expect("decodes")
        .body
        .expect("body")
}

async fn next_sequence(out: &mut mpsc::Receiver<Vec<u8>>) -> u64 {
    match next(out).await {
        v1::server_frame::Body::Deliver(d) => d.sequence,
        other => panic!("expected a delivery, got {other:?}"),
    }
}

async fn nothing_more(out: &mut mpsc::Receiver<Vec<u8>>) {
    assert!(
        tokio::time::timeout(Duration::from_millis(200), out.recv())
            .await
            .is_err(),
        "no further frame"
    );
}

fn start(
    store: &SqliteStore,
    inbox: &Arc<Inbox>,
    capacity: usize,
) -> (mpsc::Receiver<Vec<u8>>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(capacity);
    let task = tokio::spawn(deliver(
        store.clone(),
        BOB,
        Arc::clone(inbox),
        tx,
        Arc::new(Metrics::default()),
        None,
    ));
    (rx, task)
}

#[tokio::test]
async fn backlog_then_handed_over_frames_in_order_once() {
    let mut f = Fixture::new();
    // Two queued before Bob connects: read from the store.
    f.commit(40).await;
    f.commit(40).await;
    let inbox = Arc::new(Inbox::default());
    let (mut out, task) = start(&f.store, &inbox, 64);
    assert_eq!(next_sequence(&mut out).await, 1);
    assert_eq!(next_sequence(&mut out).await, 2);
    match next(&mut out).await {
        v1::server_frame::Body::QueueEmpty(q) => assert_eq!(q.delivered, 2),
        other => panic!("expected QueueEmpty, got {other:?}"),
    }
    // Live: handed over in order.
    let mut handed = Vec::new();
    for expected in 3..=5 {
        let (seq, frame) = f.commit(40).await;
        inbox.push(seq, &frame);
        assert_eq!(next_sequence(&mut out).await, expected);
        handed.push((seq, frame));
    }
    // A frame already written is not written again.
    let (seq4, frame4) = &handed[1];
    inbox.push(*seq4, frame4);
    nothing_more(&mut out).await;
    // 6 is committed but not handed over (its commit finished on another path).
    f.commit(40).await;
    // A gap (6 was committed but not handed over): 7 makes the task read 6 and 7 from the
    // store, and the late hand-over of 7 is dropped.
    let (seq7, frame7) = f.commit(40).await;
    inbox.push(seq7, &frame7);
    assert_eq!(next_sequence(&mut out).await, 6);
    assert_eq!(next_sequence(&mut out).await, 7);
    inbox.push(seq7, &frame7);
    nothing_more(&mut out).await;
    task.abort();
}

#[tokio::test]
async fn overflow_falls_back_to_the_store_without_loss() {
    let mut f = Fixture::new();
    let inbox = Arc::new(Inbox::default());
    // A tiny output queue that the test does not read: the task blocks while the hub keeps
    // handing over frames, far beyond PUSH_QUEUE_BYTES.
    let (mut out, task) = start(&f.store, &inbox, 1);
    let body = 4096;
    let total = 3 * PUSH_QUEUE_BYTES / body + 10;
    for _ in 0..total {
        let (seq, frame) = f.commit(body).await;
        inbox.push(seq, &frame);
    }
    {
        let held = inbox.pushed.lock().expect("lock");
        assert!(held.reread, "the inbox overflowed into a re-read demand");
        assert!(
            held.frames.is_empty() && held.bytes == 0,
            "and holds nothing"
        );
    }
    assert!(matches!(
        next(&mut out).await,
        v1::server_frame::Body::QueueEmpty(_)
    ));
    for expected in 1..=total as u64 {
        assert_eq!(next_sequence(&mut out).await, expected);
    }
    nothing_more(&mut out).await;
    task.abort();
}

#[tokio::test]
async fn hub_hands_over_to_every_connection_and_wake_forces_a_read() {
    let mut f = Fixture::new();
    let hub = Hub::default();
    let first = hub.register(BOB, 1);
    let second = hub.register(BOB, 2);
    assert!(hub.is_online(&BOB) && !hub.is_online(&ALICE));
    let (mut out1, t1) = start(&f.store, &first, 64);
    let (mut out2, t2) = start(&f.store, &second, 64);
    for out in [&mut out1, &mut out2] {
        assert!(matches!(
            next(out).await,
            v1::server_frame::Body::QueueEmpty(_)
        ));
    }
    let (seq, frame) = f.commit(10).await;
    hub.push(&BOB, seq, &frame);
    assert_eq!(next_sequence(&mut out1).await, 1);
    assert_eq!(next_sequence(&mut out2).await, 1);
    // Committed elsewhere (another node): only a hint arrives.
    f.commit(10).await;
    hub.wake(&BOB);
    assert_eq!(next_sequence(&mut out1).await, 2);
    assert_eq!(next_sequence(&mut out2).await, 2);
    f.commit(10).await;
    hub.wake_all();
    assert_eq!(next_sequence(&mut out1).await, 3);
    assert_eq!(next_sequence(&mut out2).await, 3);
    hub.unregister(&BOB, 1);
    hub.unregister(&BOB, 2);
    assert!(!hub.is_online(&BOB));
    t1.abort();
    t2.abort();
}

/// A `Send` that arrived while its recipient was offline carries no envelope to hand over;
/// if the recipient authenticated before the commit returned (and may have read its mailbox
/// before the commit), its connection must still be told to read again, or the envelope would
/// wait for the next one.
#[tokio::test]
async fn commit_for_a_recipient_offline_at_send_time_demands_a_read() {
    let mut f = Fixture::new();
    let hub = Hub::default();
    // Bob connects and drains an empty mailbox: his commit is not in it yet.
    let inbox = hub.register(BOB, 1);
    let (mut out, task) = start(&f.store, &inbox, 64);
    assert!(matches!(
        next(&mut out).await,
        v1::server_frame::Body::QueueEmpty(_)
    ));
    // The commit of a Send captured while Bob was offline returns now.
    let (seq, _) = f.commit(10).await;
    hub.committed(&BOB, seq, None);
    assert_eq!(next_sequence(&mut out).await, seq);
    // With the envelope captured (Bob online at send time) the frame itself is handed over.
    let (seq, _) = f.commit(10).await;
    let stored = StoredEnvelope {
        sequence: 0,
        sender: ALICE,
        message_id: [9; 16],
        body: vec![1, 2, 3],
        received_at: 1_000,
    };
    hub.committed(&BOB, seq, Some(stored));
    match next(&mut out).await {
        v1::server_frame::Body::Deliver(d) => {
            assert_eq!((d.sequence, d.envelope.as_slice()), (seq, &[1u8, 2, 3][..]));
        }
        other => panic!("expected a delivery, got {other:?}"),
    }
    task.abort();
}
