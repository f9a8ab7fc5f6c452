//! Generates the known-answer vectors of `spec/vectors/session-*.json`.
//!
//! Used by `tests/vectors.rs`, which regenerates the files and checks every value (and writes
//! them when `REMIT_WRITE_VECTORS=1`). All randomness comes from
//! `ChaCha20Rng::seed_from_u64(seed)`; every key is one 32-byte draw (`fill_bytes`) from it,
//! which the `Recorder` logs so the private keys can be written out.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::type_complexity
)]

use std::convert::Infallible;

use rand::{Rng, SeedableRng, rngs::ChaCha20Rng};
use remit_session::{Account, Session, VerifiedBundle, internal as kat, safety_number};
use remit_wire::session::{Envelope, PreKeyBundle};
use serde_json::{Value, json};

/// Every file: (name, generator).
pub(crate) const FILES: [(&str, fn() -> Value); 6] = [
    ("session-kdf.json", kdf),
    ("session-identity.json", identity),
    ("session-handshake.json", handshake),
    ("session-handshake-no-otk.json", handshake_no_otk),
    ("session-conversation.json", conversation),
    ("session-record.json", record),
];

/// The fixed `now` of every vector.
pub(crate) const NOW: u64 = 1_700_000_000;

/// A CryptoRng that logs every byte it hands out.
pub(crate) struct Recorder {
    inner: ChaCha20Rng,
    pub(crate) log: Vec<u8>,
}

impl Recorder {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            inner: ChaCha20Rng::seed_from_u64(seed),
            log: Vec::new(),
        }
    }

    pub(crate) fn mark(&self) -> usize {
        self.log.len()
    }

    /// The 32-byte keys drawn since `mark`.
    pub(crate) fn keys_since(&self, mark: usize) -> Vec<[u8; 32]> {
        let drawn = &self.log[mark..];
        assert_eq!(drawn.len() % 32, 0, "every draw is one 32-byte key");
        drawn.chunks(32).map(|c| c.try_into().unwrap()).collect()
    }
}

impl rand_core::TryRng for Recorder {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let v = self.inner.next_u32();
        self.log.extend_from_slice(&v.to_le_bytes());
        Ok(v)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let v = self.inner.next_u64();
        self.log.extend_from_slice(&v.to_le_bytes());
        Ok(v)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.inner.fill_bytes(dst);
        self.log.extend_from_slice(dst);
        Ok(())
    }
}

impl rand_core::TryCryptoRng for Recorder {}

/// A CryptoRng that hands out given 32-byte keys, in order (for replaying recorded state).
pub(crate) struct Replay(pub(crate) Vec<[u8; 32]>);

impl rand_core::TryRng for Replay {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        panic!("only 32-byte draws are expected")
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        panic!("only 32-byte draws are expected")
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        assert_eq!(dst.len(), 32, "only 32-byte draws are expected");
        assert!(!self.0.is_empty(), "replay ran out of recorded keys");
        dst.copy_from_slice(&self.0.remove(0));
        Ok(())
    }
}

impl rand_core::TryCryptoRng for Replay {}

pub(crate) fn h(bytes: &[u8]) -> Value {
    Value::String(hex::encode(bytes))
}

fn draw(rng: &mut ChaCha20Rng) -> [u8; 32] {
    let mut b = [0u8; 32];
    rng.fill_bytes(&mut b);
    b
}

/// KDF_RK, KDF_CK, message-key expansion and the X3DH KDF on seeded random inputs.
pub(crate) fn kdf() -> Value {
    let mut rng = ChaCha20Rng::seed_from_u64(0x006b_6466);
    let kdf_rk: Vec<Value> = (0..3)
        .map(|_| {
            let (rk, dh) = (draw(&mut rng), draw(&mut rng));
            let (root, chain) = kat::kdf_rk(&rk, &dh);
            json!({"rk": h(&rk), "dh_out": h(&dh), "root_key": h(&root), "chain_key": h(&chain)})
        })
        .collect();
    let kdf_ck: Vec<Value> = (0..3)
        .map(|_| {
            let ck = draw(&mut rng);
            let (mk, next) = kat::kdf_ck(&ck);
            json!({"ck": h(&ck), "message_key": h(&mk), "next_chain_key": h(&next)})
        })
        .collect();
    let message_keys: Vec<Value> = (0..3)
        .map(|_| {
            let mk = draw(&mut rng);
            let (key, nonce) = kat::message_keys(&mk);
            json!({"mk": h(&mk), "aes_key": h(&key), "nonce": h(&nonce)})
        })
        .collect();
    let x3dh: Vec<Value> = [3usize, 4]
        .into_iter()
        .map(|n| {
            let dh: Vec<[u8; 32]> = (0..n).map(|_| draw(&mut rng)).collect();
            let sk = kat::x3dh(&dh);
            json!({"dh": dh.iter().map(|d| h(d)).collect::<Vec<_>>(), "sk": h(&sk)})
        })
        .collect();
    json!({
        "description": "remit-session KDF known-answer vectors (design: Double Ratchet, X3DH). \
            KDF_RK = HKDF-SHA256(salt=rk, ikm=dh_out, info=\"remit.v1.ratchet-root\\0\") -> 64 \
            bytes (root_key, chain_key); KDF_CK: message_key = HMAC-SHA256(ck, 0x01), \
            next_chain_key = HMAC-SHA256(ck, 0x02); message keys = HKDF-SHA256(salt=0^32, \
            ikm=mk, info=\"remit.v1.message-keys\\0\") -> 44 bytes (aes_key, nonce); \
            SK = HKDF-SHA256(salt=0^32, ikm=0xFF^32 || DH1 || DH2 || DH3 [|| DH4], \
            info=\"remit.v1.x3dh\\0\") -> 32 bytes.",
        "kdf_rk": kdf_rk,
        "kdf_ck": kdf_ck,
        "message_keys": message_keys,
        "x3dh": x3dh,
    })
}

/// Two identities: keys, binding signatures, fingerprints and their safety number.
pub(crate) fn identity() -> Value {
    let mut rng = Recorder::new(0x1d);
    let mut out = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let mark = rng.mark();
        let account = Account::new(&mut rng, NOW);
        let keys = rng.keys_since(mark); // signing secret, agreement secret, signed prekey
        let id = *account.identity();
        let wire = id.as_wire();
        let mut statement = b"remit.v1.identity-binding\0".to_vec();
        statement.extend_from_slice(&wire.signing_key);
        statement.extend_from_slice(&wire.agreement_key);
        out.push(json!({
            "signing_private": h(&keys[0]),
            "signing_public": h(&wire.signing_key),
            "agreement_private": h(&keys[1]),
            "agreement_public": h(&wire.agreement_key),
            "binding_statement": h(&statement),
            "binding_signature": h(&wire.binding_signature),
            "fingerprint": id.fingerprint().to_string(),
            "safety_digits": safety_digits(id.fingerprint().as_bytes()),
        }));
        ids.push(id);
    }
    json!({
        "description": "remit-session identity vectors (design: Identity). Ed25519 signing key \
            and X25519 agreement key; binding_signature = Ed25519(signing key, \
            \"remit.v1.identity-binding\\0\" || signing_public || agreement_public); fingerprint \
            = SHA-256(\"remit.v1.fingerprint\\0\" || signing_public || agreement_public); \
            safety number of the two identities as displayed; safety_digits = the identity's 30 \
            digits (digits30 of its fingerprint), the lower fingerprint's digits come first.",
        "seed": 0x1d,
        "identities": out,
        "safety_number": safety_number(&ids[0], &ids[1]).to_string(),
    })
}

/// One full X3DH handshake with a one-time prekey, and the first PreKeyMessage.
pub(crate) fn handshake() -> Value {
    handshake_with(0x5844_4831, true)
}

/// The same handshake without a one-time prekey (DH1..DH3 only), from another seed.
pub(crate) fn handshake_no_otk() -> Value {
    handshake_with(0x5844_4830, false)
}

/// The 30 safety-number digits of one fingerprint (spec/handshake.md §3.4).
pub(crate) fn safety_digits(fingerprint: &[u8]) -> String {
    use sha2::{Digest, Sha512};
    let hash = Sha512::new_with_prefix(b"remit.v1.safety-number\0")
        .chain_update(fingerprint)
        .finalize();
    hash[..30]
        .chunks(5)
        .map(|c| {
            format!(
                "{:05}",
                c.iter().fold(0u64, |a, b| a << 8 | u64::from(*b)) % 100_000
            )
        })
        .collect()
}

fn handshake_with(seed: u64, with_otk: bool) -> Value {
    let mut rng = Recorder::new(seed);
    let m = rng.mark();
    let alice = Account::new(&mut rng, NOW);
    let alice_keys = rng.keys_since(m);
    let m = rng.mark();
    let mut bob = Account::new(&mut rng, NOW);
    let bob_keys = rng.keys_since(m);
    let m = rng.mark();
    let opk = if with_otk {
        Some(bob.generate_one_time_prekeys(1, &mut rng).unwrap()[0])
    } else {
        None
    };
    let opk_private = rng.keys_since(m).first().copied();
    let bob_account = bob.to_bytes();
    let bundle = bob.bundle(opk);
    let verified = VerifiedBundle::verify(&bundle).unwrap();
    let m = rng.mark();
    let mut session = alice.initiate(&verified, &mut rng).unwrap();
    let initiate_keys = rng.keys_since(m); // EK_A, then Alice's first ratchet key
    let plaintext = b"remit handshake vector: first message".to_vec();
    let envelope = session.encrypt(&plaintext, &mut rng).unwrap();
    assert_eq!(rng.mark(), m + 64, "encrypt on a fresh chain draws nothing");

    let (a_id, b_id) = (alice.identity().as_wire(), bob.identity().as_wire());
    let spk = bob.signed_prekey();
    let ek = initiate_keys[0];
    let dh = |s: &[u8; 32], p: &[u8; 32]| kat::x25519(s, p).unwrap();
    let ek_pub = match &envelope {
        Envelope::PreKey(p) => p.base_key,
        _ => panic!("first message is a prekey message"),
    };
    let dh1 = dh(&alice_keys[1], &spk.public_key);
    let dh2 = dh(&ek, &b_id.agreement_key);
    let dh3 = dh(&ek, &spk.public_key);
    let dh4 = opk.map(|opk| dh(&ek, &opk.public_key));
    let sk = kat::x3dh(&[dh1, dh2, dh3].into_iter().chain(dh4).collect::<Vec<_>>());
    let ratchet_dh = dh(&initiate_keys[1], &spk.public_key);
    let (root_key, chain_key) = kat::kdf_rk(&sk, &ratchet_dh);
    let (mk, _) = kat::kdf_ck(&chain_key);
    let (aes_key, nonce) = kat::message_keys(&mk);
    let mut ad = Vec::new();
    for k in [
        &a_id.signing_key,
        &a_id.agreement_key,
        &b_id.signing_key,
        &b_id.agreement_key,
    ] {
        ad.extend_from_slice(k);
    }
    let rm = envelope.ratchet_message();
    let header = kat::header(&rm.ratchet_key, rm.previous_counter, rm.counter);
    let mut v = json!({
        "description": "remit-session X3DH vector with a one-time prekey (design: X3DH, Double \
            Ratchet). Private keys are consecutive 32-byte draws of ChaCha20Rng(seed): Alice \
            (signing, agreement, signed prekey), Bob (signing, agreement, signed prekey), Bob's \
            one-time prekey, Alice's base key EK_A, Alice's first ratchet key. \
            DH1 = DH(IK_A, SPK_B), DH2 = DH(EK_A, IK_B), DH3 = DH(EK_A, SPK_B), \
            DH4 = DH(EK_A, OPK_B); SK = X3DH KDF; (root_key, chain_key) = KDF_RK(SK, \
            DH(ratchet, SPK_B)); message 0 uses KDF_CK(chain_key). AAD = AD || header.",
        "seed": seed,
        "now": NOW,
        "alice": {
            "signing_private": h(&alice_keys[0]),
            "agreement_private": h(&alice_keys[1]),
            "identity_signing": h(&a_id.signing_key),
            "identity_agreement": h(&a_id.agreement_key),
            "binding_signature": h(&a_id.binding_signature),
            "base_key_private": h(&ek),
            "base_key_public": h(&ek_pub),
            "ratchet_private": h(&initiate_keys[1]),
            "ratchet_public": h(&rm.ratchet_key),
        },
        "bob": {
            "signing_private": h(&bob_keys[0]),
            "agreement_private": h(&bob_keys[1]),
            "identity_signing": h(&b_id.signing_key),
            "identity_agreement": h(&b_id.agreement_key),
            "binding_signature": h(&b_id.binding_signature),
            "signed_prekey_id": spk.id,
            "signed_prekey_created_at": spk.created_at,
            "signed_prekey_private": h(&bob_keys[2]),
            "signed_prekey_public": h(&spk.public_key),
            "signed_prekey_signature": h(&spk.signature),
            "account_record": h(&bob_account),
        },
        "bundle": h(&bundle.encode().unwrap()),
        "dh1": h(&dh1),
        "dh2": h(&dh2),
        "dh3": h(&dh3),
        "sk": h(&sk),
        "ad": h(&ad),
        "ratchet_dh": h(&ratchet_dh),
        "root_key": h(&root_key),
        "sending_chain_key": h(&chain_key),
        "message_key": h(&mk),
        "aes_key": h(&aes_key),
        "nonce": h(&nonce),
        "header": h(&header),
        "plaintext": h(&plaintext),
        "envelope": h(&envelope.encode().unwrap()),
    });
    match (opk, opk_private, dh4) {
        (Some(opk), Some(private), Some(dh4)) => {
            let bob = &mut v["bob"];
            bob["one_time_prekey_id"] = json!(opk.id);
            bob["one_time_prekey_private"] = h(&private);
            bob["one_time_prekey_public"] = h(&opk.public_key);
            v["dh4"] = h(&dh4);
        }
        _ => {
            v["description"] = json!(
                "remit-session X3DH vector WITHOUT a one-time prekey (design: X3DH, Double \
                Ratchet). Private keys are consecutive 32-byte draws of ChaCha20Rng(seed): Alice \
                (signing, agreement, signed prekey), Bob (signing, agreement, signed prekey), \
                Alice's base key EK_A, Alice's first ratchet key. The bundle has no one-time \
                prekey and the PreKeyMessage no one_time_prekey_id. DH1 = DH(IK_A, SPK_B), \
                DH2 = DH(EK_A, IK_B), DH3 = DH(EK_A, SPK_B); SK = X3DH KDF over \
                0xFF^32 || DH1 || DH2 || DH3; (root_key, chain_key) = KDF_RK(SK, DH(ratchet, \
                SPK_B)); message 0 uses KDF_CK(chain_key). AAD = AD || header. Accepting the \
                envelope a second time fails with ReplayedPreKeyMessage."
            );
        }
    }
    v
}

#[derive(Clone, Copy)]
enum Event {
    Send(bool), // true: Alice
    Deliver(usize),
}

/// The conversation script: sends and deliveries (by message index), with reordering and
/// several DH steps in both directions.
fn script() -> Vec<Event> {
    use Event::{Deliver as D, Send as S};
    let (a, b) = (true, false);
    vec![
        S(a),
        S(a),
        S(a),
        D(1),
        D(0), // 0-2: prekey messages; Bob accepts #1, then #0
        S(b),
        S(b),
        D(4),
        D(2), // 3-4: Bob steps; Alice gets #4 first (#3 skipped)
        S(a),
        S(a),
        D(6),
        D(3), // 5-6: Alice steps; Bob gets #6 first; Alice gets #3
        S(b),
        D(5),
        D(7), // 7: Bob steps
        S(a),
        S(b),
        D(9),
        D(8), // 8: Alice steps; 9: Bob, same chain as #7
        S(a),
        S(a),
        S(b),
        D(12),
        D(11),
        D(10), // 10-11 Alice chain of #8; 12: Bob steps
        S(a),
        D(13), // 13: Alice steps
        S(b),
        S(b),
        S(b),
        D(16),
        D(14), // 14-16: Bob steps; #15 delivered later
        S(a),
        D(17),
        D(15), // 17: Alice steps
        S(b),
        S(a),
        D(18),
        D(19), // 18: Bob steps; 19: Alice, same chain as #17
        S(a),
        S(b),
        D(21),
        D(20), // 20: Alice; 21: Bob (chain of #18)
        S(a),
        S(b),
        D(23),
        D(22), // 22-23
    ]
}

/// A 24-message conversation. The records let a replay start from the recorded state: Alice's
/// session right after `initiate`, Bob's account before the handshake; `ratchet_private` is
/// the key a sender drew for that message's DH step, if any.
pub(crate) fn conversation() -> Value {
    let seed = 0xc0_17e5;
    let mut rng = Recorder::new(seed);
    let alice_account = Account::new(&mut rng, NOW);
    let mut bob_account = Account::new(&mut rng, NOW);
    let bob_account_record = bob_account.to_bytes();
    let bundle: PreKeyBundle = bob_account.bundle(None);
    let verified = VerifiedBundle::verify(&bundle).unwrap();
    let mut alice = alice_account.initiate(&verified, &mut rng).unwrap();
    let alice_session_record = alice.to_bytes();
    let mut bob = None;

    let mut messages: Vec<(bool, Vec<u8>, Envelope, Option<[u8; 32]>)> = Vec::new();
    let mut delivered = Vec::new();
    let mut events = Vec::new();
    for event in script() {
        match event {
            Event::Send(from_alice) => {
                let i = messages.len();
                let who = if from_alice { "alice" } else { "bob" };
                let plaintext = format!("message {i} from {who}").into_bytes();
                let m = rng.mark();
                let session = if from_alice {
                    &mut alice
                } else {
                    bob.as_mut().unwrap()
                };
                let envelope = session.encrypt(&plaintext, &mut rng).unwrap();
                let drawn = rng.keys_since(m);
                assert!(drawn.len() <= 1);
                messages.push((from_alice, plaintext, envelope, drawn.first().copied()));
                events.push(json!({"send": i}));
            }
            Event::Deliver(i) => {
                let (from_alice, plaintext, envelope, _) = &messages[i];
                let got = if *from_alice {
                    match (&mut bob, envelope) {
                        (Some(s), e) => s.decrypt(e).unwrap(),
                        (None, Envelope::PreKey(p)) => {
                            let (s, pt) = bob_account.accept(p).unwrap();
                            bob = Some(s);
                            pt
                        }
                        _ => panic!("bad script"),
                    }
                } else {
                    alice.decrypt(envelope).unwrap()
                };
                assert_eq!(got.as_slice(), plaintext.as_slice());
                delivered.push(i);
                events.push(json!({"deliver": i}));
            }
        }
    }
    let mut all = delivered.clone();
    all.sort_unstable();
    assert_eq!(
        all,
        (0..messages.len()).collect::<Vec<_>>(),
        "every message delivered once"
    );
    json!({
        "description": "remit-session conversation vector: 24 messages in both directions with \
            out-of-order delivery and several DH ratchet steps. `events` interleaves sends and \
            deliveries; `delivery_order` lists message indices in delivery order. Replay: load \
            bob_account and alice_session, then run the events; a send whose ratchet_private is \
            set draws exactly that key (the deferred sending DH step).",
        "seed": seed,
        "now": NOW,
        "bob_account": h(&bob_account_record),
        "bob_bundle": h(&bundle.encode().unwrap()),
        "alice_session": h(&alice_session_record),
        "messages": messages.iter().map(|(from_alice, plaintext, envelope, key)| json!({
            "sender": if *from_alice { "alice" } else { "bob" },
            "plaintext": h(plaintext),
            "ratchet_private": key.map(|k| h(&k)),
            "envelope": h(&envelope.encode().unwrap()),
        })).collect::<Vec<_>>(),
        "events": events,
        "delivery_order": delivered,
    })
}

/// Splits a session record into its fields, following the layout of spec/ratchet.md §6.2
/// (written from the spec, not from the crate): `(name, offset, bytes)` in record order.
pub(crate) fn session_record_fields(record: &[u8]) -> Vec<(String, usize, Vec<u8>)> {
    struct Walk<'a> {
        bytes: &'a [u8],
        at: usize,
        out: Vec<(String, usize, Vec<u8>)>,
    }
    impl Walk<'_> {
        fn take(&mut self, name: &str, len: usize) -> Vec<u8> {
            let field = self.bytes[self.at..self.at + len].to_vec();
            self.out.push((name.to_owned(), self.at, field.clone()));
            self.at += len;
            field
        }
        fn flag(&mut self, name: &str) -> bool {
            match self.take(name, 1)[0] {
                0 => false,
                1 => true,
                other => panic!("{name}: flag {other}"),
            }
        }
        fn count(&mut self, name: &str) -> usize {
            let b = self.take(name, 2);
            usize::from(u16::from_be_bytes([b[0], b[1]]))
        }
    }
    let mut w = Walk {
        bytes: record,
        at: 0,
        out: Vec::new(),
    };
    assert_eq!(w.take("magic", 4), b"RMSS");
    assert_eq!(w.take("version", 2), [0, 1]);
    for who in ["local_identity", "peer_identity"] {
        w.take(&format!("{who}.signing_key"), 32);
        w.take(&format!("{who}.agreement_key"), 32);
        w.take(&format!("{who}.binding_signature"), 64);
    }
    w.flag("initiator");
    if w.flag("has_remote_base_key") {
        w.take("remote_base_key", 32);
    }
    if w.flag("has_pending_prekey") {
        w.take("pending_prekey.base_key", 32);
        w.take("pending_prekey.signed_prekey_id", 4);
        if w.flag("pending_prekey.has_one_time_prekey_id") {
            w.take("pending_prekey.one_time_prekey_id", 4);
        }
    }
    w.take("root_key", 32);
    w.take("our_ratchet_private", 32);
    w.take("our_ratchet_public", 32);
    match w.take("sending_state", 1)[0] {
        0 => {
            w.take("previous_counter", 4);
        }
        1 => {
            w.take("sending_chain_key", 32);
            w.take("sending_counter", 4);
            w.take("previous_counter", 4);
        }
        other => panic!("sending_state {other}"),
    }
    w.take("remote_ratchet_key", 32);
    if w.flag("has_receiving_chain") {
        w.take("receiving_chain_key", 32);
        w.take("receiving_counter", 4);
    }
    for i in 0..w.count("previous_chain_count") {
        w.take(&format!("previous_chains[{i}].ratchet_key"), 32);
        w.take(&format!("previous_chains[{i}].final_counter"), 4);
    }
    for i in 0..w.count("skipped_key_count") {
        w.take(&format!("skipped_keys[{i}].ratchet_key"), 32);
        w.take(&format!("skipped_keys[{i}].counter"), 4);
        w.take(&format!("skipped_keys[{i}].message_key"), 32);
    }
    assert_eq!(w.at, record.len(), "trailing bytes");
    w.out
}

fn record_case(name: &str, what: &str, session: &Session, next: &Value) -> Value {
    let bytes = session.to_bytes();
    let fields: Vec<Value> = session_record_fields(&bytes)
        .into_iter()
        .map(|(name, offset, b)| json!({"name": name, "offset": offset, "hex": h(&b)}))
        .collect();
    json!({
        "name": name,
        "description": what,
        "record": h(&bytes),
        "length": bytes.len(),
        "fields": fields,
        "next": next,
    })
}

/// Session records (`Session::to_bytes`) at two fixed points, with their fields, to pin the
/// record format of spec/ratchet.md §6.
pub(crate) fn record() -> Value {
    let seed = 0x524d_5353;
    let mut rng = Recorder::new(seed);
    let alice_account = Account::new(&mut rng, NOW);
    let mut bob_account = Account::new(&mut rng, NOW);
    let opk = bob_account.generate_one_time_prekeys(2, &mut rng).unwrap()[1];
    let verified = VerifiedBundle::verify(&bob_account.bundle(Some(opk))).unwrap();
    let mut alice = alice_account.initiate(&verified, &mut rng).unwrap();

    // Case 1: Alice right after initiate (pending prekey with a one-time prekey id, active
    // sending chain, no receiving chain). `next` is her first message, which needs no randomness.
    let initiator_record = Session::from_bytes(&alice.to_bytes()).unwrap();
    let first_plaintext = b"record vector: message 0 from alice".to_vec();
    let first = alice.encrypt(&first_plaintext, &mut rng).unwrap();
    let case1 = record_case(
        "initiator_after_initiate",
        "Alice's session right after Account::initiate with one-time prekey 2: initiator, \
         pending prekey (base key, signed prekey id 1, one-time prekey id 2), sending Active \
         (CKs, Ns = 0, PN = 0), remote ratchet key = SPK_B without a receiving chain. \
         next.envelope is what encrypt(next.plaintext) returns from this state (it draws no \
         randomness).",
        &initiator_record,
        &json!({"plaintext": h(&first_plaintext), "envelope": h(&first.encode().unwrap())}),
    );
    drop(initiator_record);

    // Case 2: Bob after a DH step that stored a skipped key and recorded a previous chain.
    let Envelope::PreKey(p) = &first else {
        panic!("first message is a prekey message")
    };
    let (mut bob, _) = bob_account.accept(p).unwrap();
    let reply = bob
        .encrypt(b"record vector: reply from bob", &mut rng)
        .unwrap();
    alice.decrypt(&reply).unwrap();
    let lost_plaintext = b"record vector: delayed message from alice".to_vec();
    let lost = alice.encrypt(&lost_plaintext, &mut rng).unwrap();
    let later = alice
        .encrypt(b"record vector: later message from alice", &mut rng)
        .unwrap();
    bob.decrypt(&later).unwrap();
    let case2 = record_case(
        "responder_with_skipped_key",
        "Bob's session after: accept (Alice's message 0), reply, Alice's DH step, Alice's \
         messages N = 0 (delayed) and N = 1 of her second chain, Bob decrypts N = 1 only. \
         Responder with remote base key, no pending prekey, sending Pending (PN = 1), a \
         receiving chain with Nr = 2, one previous chain (Alice's first ratchet key, final \
         counter 1) and one skipped key (Alice's second ratchet key, N = 0). next.envelope is \
         the delayed message: loading the record and decrypting it yields next.plaintext from \
         the stored key, and the stored key is then removed.",
        &bob,
        &json!({"plaintext": h(&lost_plaintext), "envelope": h(&lost.encode().unwrap())}),
    );
    json!({
        "description": "remit-session session records (spec/ratchet.md §6): `record` is \
            Session::to_bytes() at a fixed point of a seeded run; `fields` splits it in record \
            order (name, byte offset, hex); `length` is its size in bytes. Loading `record` with \
            Session::from_bytes and saving it again gives the same bytes. The records hold \
            secrets of this test run only.",
        "seed": seed,
        "now": NOW,
        "records": [case1, case2],
    })
}
