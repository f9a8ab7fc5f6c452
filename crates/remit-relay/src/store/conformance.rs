//! The backend conformance suite: one async function per property of [`Store`], written only
//! against the trait, so every backend runs the same checks.
//!
//! A backend's test file implements [`Harness`] (open a store on fresh data; reopen the same
//! data after the previous store was dropped) and expands [`crate::store_conformance_tests!`]:
//!
//! ```ignore
//! remit_relay::store_conformance_tests!(my_backend::TestHarness::new());
//! ```
//!
//! The functions panic on a failed check, like any test.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation,
    missing_docs
)]

use std::sync::Arc;

use remit_wire::session::{IdentityKey, OneTimePreKey, SignedPreKey};

use super::{NewEnvelope, Publication, Quota, Store, StoreError};

/// Opens a backend on one test's data.
pub trait Harness {
    /// The backend.
    type Store: Store;
    /// Opens the store. Called again after the previous store was dropped, it must open the
    /// same data (this is how "reopen keeps queued envelopes" is tested).
    fn open(&self) -> Self::Store;
}

const NOW: u64 = 1_700_000_000;
const DAY: u64 = 86_400;
const BIG: Quota = Quota {
    max_count: 1_000_000,
    max_bytes: 1 << 40,
};

fn id(n: u8) -> [u8; 32] {
    [n; 32]
}

/// The sequences queued for identity `n` and not expired at `NOW`, in order.
async fn queued<S: Store>(s: &S, n: u8) -> Vec<u64> {
    s.fetch(id(n), 0, 1000, NOW)
        .await
        .unwrap()
        .iter()
        .map(|e| e.sequence)
        .collect()
}

fn envelope(recipient: u8, sender: u8, mid: u8, body: &[u8]) -> NewEnvelope {
    NewEnvelope {
        recipient: id(recipient),
        sender: id(sender),
        message_id: [mid; 16],
        body: body.to_vec(),
        received_at: NOW,
        expires_at: NOW + 30 * DAY,
    }
}

fn identity(n: u8) -> IdentityKey {
    IdentityKey {
        signing_key: id(n),
        agreement_key: [n ^ 0xff; 32],
        binding_signature: [n; 64],
    }
}

fn signed_prekey(n: u32) -> SignedPreKey {
    SignedPreKey {
        id: n,
        public_key: [7; 32],
        created_at: NOW + u64::from(n),
        signature: [9; 64],
    }
}

fn one_time(ids: std::ops::Range<u32>) -> Vec<OneTimePreKey> {
    ids.map(|i| OneTimePreKey {
        id: i,
        public_key: [(i % 251) as u8; 32],
    })
    .collect()
}

fn publication(owner: u8, spk: Option<u32>, otks: Vec<OneTimePreKey>) -> Publication {
    Publication {
        identity: identity(owner),
        signed_prekey: spk.map(signed_prekey),
        one_time_prekeys: otks,
        max_one_time_prekeys: 1000,
        now: NOW,
    }
}

/// Envelopes come back in sequence order, with their fields intact, sequences from 1.
pub async fn enqueue_then_fetch_in_order<H: Harness>(h: &H) {
    let s = h.open();
    for i in 0..10u8 {
        let e = s.enqueue(envelope(1, 2, i, &[i; 100]), BIG).await.unwrap();
        assert_eq!(e.sequence, u64::from(i) + 1);
        assert!(!e.duplicate);
    }
    let got = s.fetch(id(1), 0, 100, NOW).await.unwrap();
    assert_eq!(got.len(), 10);
    for (i, e) in got.iter().enumerate() {
        assert_eq!(e.sequence, i as u64 + 1);
        assert_eq!(e.sender, id(2));
        assert_eq!(e.message_id, [i as u8; 16]);
        assert_eq!(e.body, vec![i as u8; 100]);
        assert_eq!(e.received_at, NOW);
    }
    let counts = s.counts(id(1)).await.unwrap();
    assert_eq!(counts.mailbox.count, 10);
    assert_eq!(counts.mailbox.bytes, 1000);
}

/// `after` and `limit` page through a mailbox.
pub async fn fetch_pages_with_cursor<H: Harness>(h: &H) {
    let s = h.open();
    for i in 0..25u8 {
        s.enqueue(envelope(1, 2, i, b"x"), BIG).await.unwrap();
    }
    let mut after = 0;
    let mut seen = Vec::new();
    loop {
        let page = s.fetch(id(1), after, 10, NOW).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 10);
        after = page.last().unwrap().sequence;
        seen.extend(page.iter().map(|e| e.sequence));
    }
    assert_eq!(seen, (1..=25).collect::<Vec<_>>());
}

/// A repeated `(recipient, message_id)` is stored once and answers with the first sequence;
/// the same id for another recipient is a different envelope.
pub async fn duplicate_message_id_is_stored_once<H: Harness>(h: &H) {
    let s = h.open();
    let a = s.enqueue(envelope(1, 2, 5, b"first"), BIG).await.unwrap();
    let b = s.enqueue(envelope(1, 3, 5, b"second"), BIG).await.unwrap();
    assert!(b.duplicate);
    assert_eq!(a.sequence, b.sequence);
    let other = s.enqueue(envelope(4, 2, 5, b"first"), BIG).await.unwrap();
    assert!(!other.duplicate);
    let got = s.fetch(id(1), 0, 10, NOW).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, b"first");
    assert_eq!(s.counts(id(1)).await.unwrap().mailbox.count, 1);
}

/// Ack deletes only the acknowledged envelopes of the given mailbox, durably, and reports how
/// many existed; sequences are never reused after an ack.
pub async fn ack_deletes_only_own_mailbox<H: Harness>(h: &H) {
    let s = h.open();
    for i in 0..4u8 {
        s.enqueue(envelope(1, 2, i, b"abcd"), BIG).await.unwrap();
    }
    let theirs = s.enqueue(envelope(9, 2, 0, b"theirs"), BIG).await.unwrap();
    // Acking another mailbox's sequence from mailbox 1 deletes nothing there.
    assert_eq!(s.ack(id(2), vec![1, 2, 3]).await.unwrap(), 0);
    // Out of order, repeated, absent and out-of-range sequences count once or not at all.
    let listed = vec![3, 1, 3, 99, u64::MAX, i64::MAX as u64];
    assert_eq!(s.ack(id(1), listed).await.unwrap(), 2);
    assert_eq!(
        s.ack(id(1), vec![1]).await.unwrap(),
        0,
        "second ack is a no-op"
    );
    assert_eq!(queued(&s, 1).await, vec![2, 4]);
    let counts = s.counts(id(1)).await.unwrap();
    assert_eq!((counts.mailbox.count, counts.mailbox.bytes), (2, 8));
    assert_eq!(
        s.fetch(id(9), 0, 10, NOW).await.unwrap()[0].sequence,
        theirs.sequence
    );
    assert_eq!(s.ack(id(1), vec![2, 4]).await.unwrap(), 2);
    let next = s.enqueue(envelope(1, 2, 50, b"new"), BIG).await.unwrap();
    assert_eq!(
        next.sequence, 5,
        "sequences are not reused after the mailbox empties"
    );
}

/// The quota (count and bytes) is enforced with a typed error and stores nothing; acks make
/// room again; a duplicate of a queued envelope is not refused by a full mailbox.
pub async fn quota_is_enforced<H: Harness>(h: &H) {
    let s = h.open();
    let quota = Quota {
        max_count: 3,
        max_bytes: 250,
    };
    for i in 0..3u8 {
        s.enqueue(envelope(1, 2, i, &[0; 50]), quota).await.unwrap();
    }
    match s.enqueue(envelope(1, 2, 10, &[0; 50]), quota).await {
        Err(StoreError::QuotaExceeded {
            count: 3,
            bytes: 150,
            max_count: 3,
            max_bytes: 250,
        }) => {}
        other => panic!("expected QuotaExceeded, got {other:?}"),
    }
    assert!(
        s.enqueue(envelope(1, 2, 0, &[0; 50]), quota)
            .await
            .unwrap()
            .duplicate
    );
    s.ack(id(1), vec![1]).await.unwrap();
    match s.enqueue(envelope(1, 2, 11, &[0; 151]), quota).await {
        Err(StoreError::QuotaExceeded { bytes: 100, .. }) => {}
        other => panic!("expected the byte quota, got {other:?}"),
    }
    s.enqueue(envelope(1, 2, 12, &[0; 150]), quota)
        .await
        .unwrap();
    assert_eq!(s.counts(id(1)).await.unwrap().mailbox.count, 3);
    // Another mailbox is not affected.
    s.enqueue(envelope(5, 2, 0, &[0; 50]), quota).await.unwrap();
}

/// Expired envelopes are never fetched and are purged, and purging frees quota.
pub async fn expired_envelopes_are_hidden_and_purged<H: Harness>(h: &H) {
    let s = h.open();
    let mut short = envelope(1, 2, 1, b"short-lived");
    short.expires_at = NOW + 10;
    s.enqueue(short, BIG).await.unwrap();
    s.enqueue(envelope(1, 2, 2, b"long-lived"), BIG)
        .await
        .unwrap();
    assert_eq!(s.fetch(id(1), 0, 10, NOW + 9).await.unwrap().len(), 2);
    let later = s.fetch(id(1), 0, 10, NOW + 10).await.unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].body, b"long-lived");
    assert_eq!(s.purge_expired(NOW + 10, 1000).await.unwrap(), 1);
    assert_eq!(s.purge_expired(NOW + 10, 1000).await.unwrap(), 0);
    let counts = s.counts(id(1)).await.unwrap();
    assert_eq!((counts.mailbox.count, counts.mailbox.bytes), (1, 10));
    // The purge limit bounds one call.
    for i in 10..20u8 {
        let mut e = envelope(3, 2, i, b"x");
        e.expires_at = NOW;
        s.enqueue(e, BIG).await.unwrap();
    }
    assert_eq!(s.purge_expired(NOW, 4).await.unwrap(), 4);
    assert_eq!(s.purge_expired(NOW, 100).await.unwrap(), 6);
    assert_eq!(s.counts(id(3)).await.unwrap().mailbox.count, 0);
}

/// Publish stores the identity and signed prekey (replaced by a later one) and adds one-time
/// prekeys; each fetch hands out one of them, lowest id first, then falls back to the signed
/// prekey alone; counts follow.
pub async fn prekey_directory_round_trip<H: Harness>(h: &H) {
    let s = h.open();
    assert_eq!(s.take_bundle(id(1)).await.unwrap(), None);
    assert_eq!(
        s.publish(publication(1, Some(1), one_time(0..3)))
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        s.publish(publication(1, Some(2), one_time(3..5)))
            .await
            .unwrap(),
        5
    );
    // Republishing a known id neither duplicates nor replaces it.
    assert_eq!(
        s.publish(publication(1, None, one_time(4..6)))
            .await
            .unwrap(),
        6
    );
    assert_eq!(s.counts(id(1)).await.unwrap().one_time_prekeys, 6);
    let mut handed = Vec::new();
    for left in (0..6).rev() {
        let b = s.take_bundle(id(1)).await.unwrap().unwrap();
        assert_eq!(b.identity, identity(1));
        assert_eq!(
            b.signed_prekey,
            signed_prekey(2),
            "the newer signed prekey replaced the old"
        );
        handed.push(b.one_time_prekey.unwrap().id);
        assert_eq!(s.counts(id(1)).await.unwrap().one_time_prekeys, left);
    }
    assert_eq!(handed, vec![0, 1, 2, 3, 4, 5]);
    let fallback = s.take_bundle(id(1)).await.unwrap().unwrap();
    assert_eq!(fallback.one_time_prekey, None);
    assert_eq!(fallback.signed_prekey, signed_prekey(2));
}

/// Without a signed prekey there is no bundle, and no one-time prekey is consumed.
pub async fn no_bundle_without_signed_prekey<H: Harness>(h: &H) {
    let s = h.open();
    assert_eq!(
        s.publish(publication(1, None, one_time(0..2)))
            .await
            .unwrap(),
        2
    );
    assert_eq!(s.take_bundle(id(1)).await.unwrap(), None);
    assert_eq!(s.counts(id(1)).await.unwrap().one_time_prekeys, 2);
}

/// A publication that would exceed the cap is refused as a whole (typed error).
pub async fn prekey_cap_is_atomic<H: Harness>(h: &H) {
    let s = h.open();
    let mut p = publication(1, Some(1), one_time(0..8));
    p.max_one_time_prekeys = 10;
    assert_eq!(s.publish(p).await.unwrap(), 8);
    let mut p = publication(1, Some(2), one_time(100..103));
    p.max_one_time_prekeys = 10;
    match s.publish(p).await {
        Err(StoreError::TooManyPreKeys {
            would_have: 11,
            max: 10,
        }) => {}
        other => panic!("expected TooManyPreKeys, got {other:?}"),
    }
    assert_eq!(s.counts(id(1)).await.unwrap().one_time_prekeys, 8);
    let b = s.take_bundle(id(1)).await.unwrap().unwrap();
    assert_eq!(
        b.signed_prekey,
        signed_prekey(1),
        "the refused signed prekey was not stored"
    );
}

/// 64 concurrent fetchers never get the same one-time prekey, and every key is handed out.
pub async fn concurrent_fetchers_never_share_a_one_time_prekey<H: Harness>(h: &H) {
    let s = Arc::new(h.open());
    s.publish(publication(1, Some(1), one_time(0..100)))
        .await
        .unwrap();
    s.publish(publication(1, None, one_time(100..200)))
        .await
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..64 {
        let s = Arc::clone(&s);
        tasks.spawn(async move {
            let mut mine = Vec::new();
            for _ in 0..4 {
                let b = s.take_bundle(id(1)).await.unwrap().unwrap();
                if let Some(k) = b.one_time_prekey {
                    mine.push(k.id);
                }
            }
            mine
        });
    }
    let mut all = Vec::new();
    while let Some(r) = tasks.join_next().await {
        all.extend(r.unwrap());
    }
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), n, "a one-time prekey was handed out twice");
    assert_eq!(n, 200, "256 fetches for 200 keys hand out all 200");
    assert_eq!(s.counts(id(1)).await.unwrap().one_time_prekeys, 0);
}

/// Envelopes enqueued one after another without awaiting keep their call order.
pub async fn pipelined_enqueues_keep_call_order<H: Harness>(h: &H) {
    let s = h.open();
    let futures: Vec<_> = (0..200u8)
        .map(|i| s.enqueue(envelope(1, 2, i, &[i]), BIG))
        .collect();
    let mut tasks = Vec::new();
    for f in futures {
        tasks.push(tokio::spawn(f));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        assert_eq!(t.await.unwrap().unwrap().sequence, i as u64 + 1);
    }
    let got = s.fetch(id(1), 0, 1000, NOW).await.unwrap();
    let bodies: Vec<u8> = got.iter().map(|e| e.body[0]).collect();
    assert_eq!(bodies, (0..200u8).collect::<Vec<_>>());
}

/// Refusals submitted together with accepted operations (one group commit where the backend
/// batches) store nothing of themselves and take nothing from the others.
pub async fn refusals_among_pipelined_operations_store_nothing<H: Harness>(h: &H) {
    let s = h.open();
    let quota = Quota {
        max_count: 3,
        max_bytes: 1000,
    };
    s.enqueue(envelope(1, 2, 0, &[0; 10]), quota).await.unwrap();
    // In call order: 1, 2 accepted; 3, 4 over the count; 0 again a duplicate; another
    // mailbox accepted; an ack of 0 frees a place, so 5 is accepted; 6 over the count again.
    let futures = vec![
        s.enqueue(envelope(1, 2, 1, &[1; 10]), quota),
        s.enqueue(envelope(1, 2, 2, &[2; 10]), quota),
        s.enqueue(envelope(1, 2, 3, &[3; 10]), quota),
        s.enqueue(envelope(1, 2, 4, &[4; 10]), quota),
        s.enqueue(envelope(1, 2, 0, &[0; 10]), quota),
        s.enqueue(envelope(7, 2, 0, &[7; 10]), quota),
    ];
    let ack = s.ack(id(1), vec![1]);
    let after_ack = vec![
        s.enqueue(envelope(1, 2, 5, &[5; 10]), quota),
        s.enqueue(envelope(1, 2, 6, &[6; 990]), quota),
    ];
    let mut results = Vec::new();
    for f in futures {
        results.push(f.await);
    }
    assert_eq!(ack.await.unwrap(), 1);
    for f in after_ack {
        results.push(f.await);
    }
    let outcome: Vec<Option<(u64, bool)>> = results
        .iter()
        .map(|r| match r {
            Ok(e) => Some((e.sequence, e.duplicate)),
            Err(StoreError::QuotaExceeded { .. }) => None,
            Err(e) => panic!("unexpected error {e}"),
        })
        .collect();
    assert_eq!(
        outcome,
        [
            Some((2, false)),
            Some((3, false)),
            None,
            None,
            Some((1, true)),
            Some((1, false)),
            Some((4, false)),
            None,
        ]
    );
    let got = s.fetch(id(1), 0, 100, NOW).await.unwrap();
    let bodies: Vec<u8> = got.iter().map(|e| e.body[0]).collect();
    assert_eq!(bodies, vec![1, 2, 5]);
    let sequences: Vec<u64> = got.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, vec![2, 3, 4], "refusals take no sequence number");
    let counts = s.counts(id(1)).await.unwrap().mailbox;
    assert_eq!((counts.count, counts.bytes), (3, 30));
    assert_eq!(s.fetch(id(7), 0, 100, NOW).await.unwrap().len(), 1);
}

/// An expiry purge pipelined among sends and acks of the same mailbox (one group commit where
/// the backend batches) leaves counts, bytes and sequences as if each ran alone, and they
/// survive reopening the store.
pub async fn purge_among_pipelined_operations_keeps_counts<H: Harness>(h: &H) {
    {
        let s = h.open();
        let mut old = envelope(1, 2, 1, &[1; 10]);
        old.expires_at = NOW;
        s.enqueue(old, BIG).await.unwrap();
        s.enqueue(envelope(1, 2, 2, &[2; 20]), BIG).await.unwrap();
        let third = s.enqueue(envelope(1, 2, 3, &[3; 30]), BIG);
        let purge = s.purge_expired(NOW, 100);
        let fourth = s.enqueue(envelope(1, 2, 4, &[4; 40]), BIG);
        let ack = s.ack(id(1), vec![2]);
        let fifth = s.enqueue(envelope(1, 2, 5, &[5; 50]), BIG);
        assert_eq!(third.await.unwrap().sequence, 3);
        assert_eq!(purge.await.unwrap(), 1);
        assert_eq!(fourth.await.unwrap().sequence, 4);
        assert_eq!(ack.await.unwrap(), 1);
        assert_eq!(fifth.await.unwrap().sequence, 5);
        let counts = s.counts(id(1)).await.unwrap().mailbox;
        assert_eq!((counts.count, counts.bytes), (3, 120));
    }
    let s = h.open();
    let counts = s.counts(id(1)).await.unwrap().mailbox;
    assert_eq!((counts.count, counts.bytes), (3, 120));
    assert_eq!(queued(&s, 1).await, vec![3, 4, 5]);
    assert_eq!(
        s.enqueue(envelope(1, 2, 6, b"next"), BIG)
            .await
            .unwrap()
            .sequence,
        6
    );
}

/// Dropping the store and opening it again keeps queued envelopes, acks, sequences and the
/// directory; a consumed one-time prekey stays consumed.
pub async fn reopen_keeps_state<H: Harness>(h: &H) {
    {
        let s = h.open();
        for i in 0..5u8 {
            s.enqueue(envelope(1, 2, i, &[i; 10]), BIG).await.unwrap();
        }
        s.ack(id(1), vec![2]).await.unwrap();
        s.publish(publication(1, Some(1), one_time(0..3)))
            .await
            .unwrap();
        assert_eq!(
            s.take_bundle(id(1))
                .await
                .unwrap()
                .unwrap()
                .one_time_prekey
                .unwrap()
                .id,
            0
        );
    }
    let s = h.open();
    assert_eq!(queued(&s, 1).await, vec![1, 3, 4, 5]);
    assert!(
        s.enqueue(envelope(1, 2, 4, b"again"), BIG)
            .await
            .unwrap()
            .duplicate
    );
    assert_eq!(
        s.enqueue(envelope(1, 2, 9, b"new"), BIG)
            .await
            .unwrap()
            .sequence,
        6
    );
    assert_eq!(s.counts(id(1)).await.unwrap().one_time_prekeys, 2);
    assert_eq!(
        s.take_bundle(id(1))
            .await
            .unwrap()
            .unwrap()
            .one_time_prekey
            .unwrap()
            .id,
        1
    );
}

/// Expands to one `#[tokio::test]` per conformance property, each on a fresh harness built
/// by the given expression (which must implement [`Harness`]).
#[macro_export]
macro_rules! store_conformance_tests {
    ($harness:expr) => {
        $crate::store_conformance_tests!(@each $harness;
            enqueue_then_fetch_in_order,
            fetch_pages_with_cursor,
            duplicate_message_id_is_stored_once,
            ack_deletes_only_own_mailbox,
            quota_is_enforced,
            expired_envelopes_are_hidden_and_purged,
            prekey_directory_round_trip,
            no_bundle_without_signed_prekey,
            prekey_cap_is_atomic,
            concurrent_fetchers_never_share_a_one_time_prekey,
            pipelined_enqueues_keep_call_order,
            refusals_among_pipelined_operations_store_nothing,
            purge_among_pipelined_operations_keeps_counts,
            reopen_keeps_state,
        );
    };
    (@each $harness:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let harness = $harness;
                $crate::internal::store::conformance::$name(&harness).await;
            }
        )*
    };
}
