//! Session-layer benchmarks: Remit against vodozemac (Olm) and against the bare primitives, in
//! the same run. See benches/README.md for the command and the figures.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::unreachable,
    missing_docs
)]

use std::hint::black_box;

use aes_gcm::{
    Aes256Gcm, Nonce,
    aead::{Aead, KeyInit, Payload},
};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use hmac::{Hmac, Mac};
use rand::{SeedableRng, rngs::ChaCha20Rng};
use remit_session::{Account, Session, VerifiedBundle};
use remit_wire::session::Envelope;
use sha2::Sha256;
use vodozemac::olm::{
    Account as OlmAccount, OlmMessage, Session as OlmSession, SessionConfig, SessionPickle,
};

const MESSAGE: [u8; 1024] = [0x42; 1024];

fn primitives(c: &mut Criterion) {
    let mut rng = rand::rng();
    let mut g = c.benchmark_group("primitive");
    let secret = x25519_dalek::StaticSecret::random_from_rng(&mut rng);
    let public =
        x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::random_from_rng(&mut rng));
    g.bench_function("x25519 dh", |b| {
        b.iter(|| black_box(&secret).diffie_hellman(&public));
    });
    g.bench_function("x25519 keygen", |b| {
        b.iter(|| {
            let s = x25519_dalek::StaticSecret::random_from_rng(&mut rng);
            x25519_dalek::PublicKey::from(&s)
        });
    });
    // The responder's base-key check (spec/handshake.md §6.3.2): canonical, on the curve,
    // torsion-free. One variable-base scalar multiplication by the group order.
    let base_key = public.to_bytes();
    g.bench_function("base key torsion check", |b| {
        b.iter(|| {
            curve25519_dalek::montgomery::MontgomeryPoint(black_box(base_key))
                .to_edwards(0)
                .is_some_and(|p| p.is_torsion_free())
        });
    });
    let signing = ed25519_dalek::SigningKey::generate(&mut rand::rng());
    let signature = ed25519_dalek::Signer::sign(&signing, &[7u8; 72]);
    let verifying = signing.verifying_key();
    g.bench_function("ed25519 verify_strict", |b| {
        b.iter(|| {
            verifying
                .verify_strict(black_box(&[7u8; 72]), &signature)
                .unwrap();
        });
    });
    let cipher = Aes256Gcm::new_from_slice(&[1; 32]).unwrap();
    let nonce = Nonce::from([2u8; 12]);
    let aad = [3u8; 169];
    g.bench_function("aes-256-gcm seal 1 KiB", |b| {
        b.iter(|| {
            cipher
                .encrypt(
                    &nonce,
                    Payload {
                        msg: black_box(&MESSAGE),
                        aad: &aad,
                    },
                )
                .unwrap()
        });
    });
    let sealed = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: &MESSAGE,
                aad: &aad,
            },
        )
        .unwrap();
    g.bench_function("aes-256-gcm open 1 KiB", |b| {
        b.iter(|| {
            cipher
                .decrypt(
                    &nonce,
                    Payload {
                        msg: black_box(&sealed),
                        aad: &aad,
                    },
                )
                .unwrap()
        });
    });
    g.bench_function("hmac-sha256 32 B", |b| {
        b.iter(|| {
            let mut mac = Hmac::<Sha256>::new_from_slice(&[5; 32]).unwrap();
            mac.update(black_box(&[1u8]));
            mac.finalize().into_bytes()
        });
    });
    g.bench_function("hkdf-sha256 64 B", |b| {
        b.iter(|| {
            let mut okm = [0u8; 64];
            hkdf::Hkdf::<Sha256>::new(Some(&[1; 32]), black_box(&[2; 32]))
                .expand(b"remit.v1.ratchet-root\0", &mut okm)
                .unwrap();
            okm
        });
    });
    g.finish();
}

/// An established Olm session pair (both sides have sent and received).
fn olm_pair() -> (OlmSession, OlmSession) {
    let alice = OlmAccount::new();
    let mut bob = OlmAccount::new();
    bob.generate_one_time_keys(1);
    let otk = *bob.one_time_keys().values().next().unwrap();
    bob.mark_keys_as_published();
    let mut a = alice
        .create_outbound_session(SessionConfig::version_1(), bob.curve25519_key(), otk)
        .unwrap();
    let OlmMessage::PreKey(first) = a.encrypt(MESSAGE).unwrap() else {
        unreachable!()
    };
    let mut b = bob
        .create_inbound_session(SessionConfig::version_1(), alice.curve25519_key(), &first)
        .unwrap()
        .session;
    let reply = b.encrypt(MESSAGE).unwrap();
    a.decrypt(&reply).unwrap();
    (a, b)
}

fn vodozemac_olm(c: &mut Criterion) {
    let mut g = c.benchmark_group("vodozemac");
    let (mut a, b) = olm_pair();
    g.bench_function("encrypt 1 KiB", |bench| {
        bench.iter(|| a.encrypt(black_box(MESSAGE)));
    });

    // Decrypt on an established receiving chain (the receiver already decrypted one message of
    // the sender's current chain): a fresh copy of the receiver per message.
    let (mut a, mut b2) = olm_pair();
    let _ = b;
    let warm = a.encrypt(MESSAGE).unwrap();
    b2.decrypt(&warm).unwrap();
    let key = [9u8; 32];
    let pickled = b2.pickle().encrypt(&key);
    let message = a.encrypt(MESSAGE).unwrap();
    g.bench_function("decrypt 1 KiB", |bench| {
        bench.iter_batched(
            || OlmSession::from_pickle(SessionPickle::from_encrypted(&pickled, &key).unwrap()),
            |mut receiver| receiver.decrypt(black_box(&message)).unwrap(),
            BatchSize::SmallInput,
        );
    });

    g.bench_function("session pickle + unpickle", |bench| {
        bench.iter(|| {
            let s = b2.pickle().encrypt(&key);
            OlmSession::from_pickle(SessionPickle::from_encrypted(&s, &key).unwrap())
        });
    });
    g.finish();
}

const NOW: u64 = 1_700_000_000;

/// Two accounts, and Bob's bundle with one one-time prekey.
fn remit_accounts(rng: &mut ChaCha20Rng) -> (Account, Account, VerifiedBundle) {
    let alice = Account::new(rng, NOW);
    let mut bob = Account::new(rng, NOW);
    let one_time = bob.generate_one_time_prekeys(1, rng).unwrap();
    let bundle = VerifiedBundle::verify(&bob.bundle(one_time.first().copied())).unwrap();
    (alice, bob, bundle)
}

/// An established Remit session pair: Alice sent, Bob replied, Alice received.
fn remit_pair(rng: &mut ChaCha20Rng) -> (Session, Session) {
    let (alice, mut bob, bundle) = remit_accounts(rng);
    let mut a = alice.initiate(&bundle, rng).unwrap();
    let Envelope::PreKey(first) = a.encrypt(&MESSAGE, rng).unwrap() else {
        unreachable!()
    };
    let (mut b, _) = bob.accept(&first).unwrap();
    let reply = b.encrypt(&MESSAGE, rng).unwrap();
    a.decrypt(&reply).unwrap();
    (a, b)
}

fn remit(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let mut g = c.benchmark_group("remit");

    let (mut a, _) = remit_pair(&mut rng);
    g.bench_function("encrypt 1 KiB", |bench| {
        bench.iter(|| a.encrypt(black_box(&MESSAGE), &mut rng).unwrap());
    });

    // Decrypt on an established receiving chain: Bob already received on Alice's current chain.
    let (mut a, mut b) = remit_pair(&mut rng);
    let warm = a.encrypt(&MESSAGE, &mut rng).unwrap();
    b.decrypt(&warm).unwrap();
    let message = a.encrypt(&MESSAGE, &mut rng).unwrap();
    let saved = b.to_bytes();
    g.bench_function("decrypt 1 KiB", |bench| {
        bench.iter_batched(
            || Session::from_bytes(&saved).unwrap(),
            |mut receiver| receiver.decrypt(black_box(&message)).unwrap(),
            BatchSize::SmallInput,
        );
    });

    // Decrypt of the first message on a new chain: one DH ratchet step on the receiver.
    let (mut a, b) = remit_pair(&mut rng);
    let saved = b.to_bytes();
    let message = a.encrypt(&MESSAGE, &mut rng).unwrap();
    g.bench_function("decrypt 1 KiB with DH step", |bench| {
        bench.iter_batched(
            || Session::from_bytes(&saved).unwrap(),
            |mut receiver| receiver.decrypt(black_box(&message)).unwrap(),
            BatchSize::SmallInput,
        );
    });

    // A whole handshake, both sides: verify the bundle, initiate, encrypt the first 1 KiB
    // message, and accept it. Account generation stays outside the timing.
    let (alice, bob, bundle) = remit_accounts(&mut rng);
    let wire_bundle = bob.bundle(bundle.one_time_prekey().copied());
    let bob_saved = bob.to_bytes();
    let mut hs_rng = ChaCha20Rng::seed_from_u64(8);
    g.bench_function("handshake both sides", |bench| {
        bench.iter_batched(
            || Account::from_bytes(&bob_saved).unwrap(),
            |mut bob| {
                let bundle = VerifiedBundle::verify(black_box(&wire_bundle)).unwrap();
                let mut a = alice.initiate(&bundle, &mut hs_rng).unwrap();
                let Envelope::PreKey(first) = a.encrypt(&MESSAGE, &mut hs_rng).unwrap() else {
                    unreachable!()
                };
                bob.accept(&first).unwrap()
            },
            BatchSize::SmallInput,
        );
    });

    // Save + load of an established session. vodozemac's pickle also encrypts the record, so
    // the second case adds the AES-256-GCM seal and open a client store applies at rest.
    let (_, b) = remit_pair(&mut rng);
    g.bench_function("session save + load", |bench| {
        bench.iter(|| Session::from_bytes(&black_box(&b).to_bytes()).unwrap());
    });
    let cipher = Aes256Gcm::new_from_slice(&[9; 32]).unwrap();
    let nonce = Nonce::from([1u8; 12]);
    g.bench_function("session save + load, sealed", |bench| {
        bench.iter(|| {
            let record = black_box(&b).to_bytes();
            let sealed = cipher.encrypt(&nonce, record.as_slice()).unwrap();
            let opened = cipher.decrypt(&nonce, sealed.as_slice()).unwrap();
            Session::from_bytes(&opened).unwrap()
        });
    });
    g.finish();
}

criterion_group!(benches, primitives, vodozemac_olm, remit);
criterion_main!(benches);
