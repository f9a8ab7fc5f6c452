//! Checks `spec/vectors/session-*.json` byte for byte: every file is regenerated from its seed
//! and compared, every KDF value is recomputed from its inputs (through the crate and through a
//! direct HKDF/HMAC/X25519/Ed25519 implementation of the design's formulas), and the
//! conversation is replayed from its recorded state.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable,
    clippy::cast_possible_truncation,
    missing_docs
)]

#[path = "common/vectors.rs"]
mod vectors;

use aes_gcm::{
    Aes256Gcm, Nonce,
    aead::{Aead, KeyInit, Payload},
};
use ed25519_dalek::{Signer, SigningKey};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use remit_session::{
    Account, HandshakeError, Session, VerifiedBundle, VerifiedIdentity, internal as kat,
    safety_number,
};
use remit_wire::session::{Envelope, IdentityKey};
use serde_json::Value;
use sha2::{Digest, Sha256, Sha512};
use x25519_dalek::{PublicKey, StaticSecret};

fn load(name: &str) -> Value {
    let path = format!("{}/../../spec/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn bytes(v: &Value) -> Vec<u8> {
    hex::decode(
        v.as_str()
            .unwrap_or_else(|| panic!("not a hex string: {v}")),
    )
    .unwrap()
}

fn b32(v: &Value) -> [u8; 32] {
    bytes(v).try_into().unwrap()
}

fn hkdf(salt: &[u8], ikm: &[u8], info: &[u8], len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, &mut out)
        .unwrap();
    out
}

fn hmac(key: &[u8], byte: u8) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(&[byte]);
    mac.finalize().into_bytes().to_vec()
}

fn x25519(secret: &[u8; 32], public: &[u8; 32]) -> [u8; 32] {
    StaticSecret::from(*secret)
        .diffie_hellman(&PublicKey::from(*public))
        .to_bytes()
}

fn x25519_public(secret: &[u8; 32]) -> [u8; 32] {
    PublicKey::from(&StaticSecret::from(*secret)).to_bytes()
}

/// Set to `1` to write the files from the generator instead of only comparing them:
/// `REMIT_WRITE_VECTORS=1 cargo test -p remit-session --test vectors`. The test still compares
/// afterwards, so a generator that is not deterministic fails.
const WRITE_ENV: &str = "REMIT_WRITE_VECTORS";

#[test]
fn files_are_reproduced_from_their_seeds() {
    if std::env::var(WRITE_ENV).is_ok_and(|v| v == "1") {
        for (name, generate) in vectors::FILES {
            let path = format!("{}/../../spec/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
            let mut text = serde_json::to_string_pretty(&generate()).unwrap();
            text.push('\n');
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("{path}: {e}"));
        }
    }
    for (name, generate) in vectors::FILES {
        assert!(
            load(name) == generate(),
            "{name} differs from the generator's output (to rewrite: {WRITE_ENV}=1)"
        );
    }
}

#[test]
fn kdf_vectors_recompute_from_inputs() {
    let v = load("session-kdf.json");
    for case in v["kdf_rk"].as_array().unwrap() {
        let (rk, dh) = (b32(&case["rk"]), b32(&case["dh_out"]));
        let (root, chain) = kat::kdf_rk(&rk, &dh);
        assert_eq!(hex::encode(root), case["root_key"].as_str().unwrap());
        assert_eq!(hex::encode(chain), case["chain_key"].as_str().unwrap());
        let okm = hkdf(&rk, &dh, b"remit.v1.ratchet-root\0", 64);
        assert_eq!(okm[..32], root);
        assert_eq!(okm[32..], chain);
    }
    for case in v["kdf_ck"].as_array().unwrap() {
        let ck = b32(&case["ck"]);
        let (mk, next) = kat::kdf_ck(&ck);
        assert_eq!(mk.to_vec(), bytes(&case["message_key"]));
        assert_eq!(next.to_vec(), bytes(&case["next_chain_key"]));
        assert_eq!(hmac(&ck, 1), mk);
        assert_eq!(hmac(&ck, 2), next);
    }
    for case in v["message_keys"].as_array().unwrap() {
        let mk = b32(&case["mk"]);
        let (key, nonce) = kat::message_keys(&mk);
        assert_eq!(key.to_vec(), bytes(&case["aes_key"]));
        assert_eq!(nonce.to_vec(), bytes(&case["nonce"]));
        let okm = hkdf(&[0; 32], &mk, b"remit.v1.message-keys\0", 44);
        assert_eq!(okm[..32], key);
        assert_eq!(okm[32..], nonce);
    }
    let x3dh = v["x3dh"].as_array().unwrap();
    assert_eq!(x3dh.len(), 2);
    for case in x3dh {
        let dh: Vec<[u8; 32]> = case["dh"].as_array().unwrap().iter().map(b32).collect();
        let sk = kat::x3dh(&dh);
        assert_eq!(sk.to_vec(), bytes(&case["sk"]));
        let mut ikm = vec![0xff; 32];
        dh.iter().for_each(|d| ikm.extend_from_slice(d));
        assert_eq!(hkdf(&[0; 32], &ikm, b"remit.v1.x3dh\0", 32), sk);
    }
}

/// The design's safety-number digits of one fingerprint, written independently.
fn digits(fingerprint: &[u8]) -> String {
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

#[test]
fn identity_vectors() {
    let v = load("session-identity.json");
    let mut verified = Vec::new();
    let mut fingerprints = Vec::new();
    for id in v["identities"].as_array().unwrap() {
        let signing = SigningKey::from_bytes(&b32(&id["signing_private"]));
        assert_eq!(
            signing.verifying_key().to_bytes().to_vec(),
            bytes(&id["signing_public"])
        );
        let agreement = b32(&id["agreement_private"]);
        assert_eq!(
            x25519_public(&agreement).to_vec(),
            bytes(&id["agreement_public"])
        );
        let mut statement = b"remit.v1.identity-binding\0".to_vec();
        statement.extend(bytes(&id["signing_public"]));
        statement.extend(bytes(&id["agreement_public"]));
        assert_eq!(statement, bytes(&id["binding_statement"]));
        let signature = signing.sign(&statement).to_bytes();
        assert_eq!(signature.to_vec(), bytes(&id["binding_signature"]));
        let fp = Sha256::new_with_prefix(b"remit.v1.fingerprint\0")
            .chain_update(&statement[26..])
            .finalize();
        assert_eq!(hex::encode(fp), id["fingerprint"].as_str().unwrap());
        let wire = IdentityKey {
            signing_key: b32(&id["signing_public"]),
            agreement_key: b32(&id["agreement_public"]),
            binding_signature: signature,
        };
        let identity = VerifiedIdentity::verify(&wire).unwrap();
        assert_eq!(
            identity.fingerprint().to_string(),
            id["fingerprint"].as_str().unwrap()
        );
        assert_eq!(digits(&fp), id["safety_digits"].as_str().unwrap());
        verified.push(identity);
        fingerprints.push(fp.to_vec());
    }
    let shown = safety_number(&verified[0], &verified[1]).to_string();
    assert_eq!(shown, v["safety_number"].as_str().unwrap());
    fingerprints.sort();
    let expected = digits(&fingerprints[0]) + &digits(&fingerprints[1]);
    assert_eq!(shown.replace(' ', ""), expected);
}

#[test]
fn handshake_vector() {
    let v = load("session-handshake.json");
    assert!(v["bob"]["one_time_prekey_id"].is_u64());
    check_handshake(&v);
}

#[test]
fn handshake_vector_without_one_time_prekey() {
    let v = load("session-handshake-no-otk.json");
    assert!(v["bob"].get("one_time_prekey_id").is_none() && v.get("dh4").is_none());
    check_handshake(&v);
}

/// Recomputes a handshake vector with or without a one-time prekey (present when the file has
/// `bob.one_time_prekey_private`).
fn check_handshake(v: &Value) {
    let (a, b) = (&v["alice"], &v["bob"]);
    let ik_a = b32(&a["agreement_private"]);
    let ek = b32(&a["base_key_private"]);
    let spk = b32(&b["signed_prekey_private"]);
    let opk = b.get("one_time_prekey_private").map(b32);
    let ik_b = b32(&b["agreement_private"]);
    assert_eq!(x25519_public(&ek), b32(&a["base_key_public"]));
    assert_eq!(x25519_public(&spk), b32(&b["signed_prekey_public"]));
    if let Some(opk) = &opk {
        assert_eq!(x25519_public(opk), b32(&b["one_time_prekey_public"]));
    }
    assert_eq!(x25519_public(&ik_a), b32(&a["identity_agreement"]));
    assert_eq!(x25519_public(&ik_b), b32(&b["identity_agreement"]));
    assert_eq!(
        x25519_public(&b32(&a["ratchet_private"])),
        b32(&a["ratchet_public"])
    );
    for who in [a, b] {
        let key = SigningKey::from_bytes(&b32(&who["signing_private"]));
        assert_eq!(
            key.verifying_key().to_bytes(),
            b32(&who["identity_signing"])
        );
    }

    // DH1..DH4, both from Alice's side and mirrored from Bob's.
    let dh1 = x25519(&ik_a, &x25519_public(&spk));
    let dh2 = x25519(&ek, &x25519_public(&ik_b));
    let dh3 = x25519(&ek, &x25519_public(&spk));
    let dh4 = opk.map(|opk| x25519(&ek, &x25519_public(&opk)));
    assert_eq!(dh1, x25519(&spk, &x25519_public(&ik_a)));
    assert_eq!(dh2, x25519(&ik_b, &x25519_public(&ek)));
    assert_eq!(dh3, x25519(&spk, &x25519_public(&ek)));
    if let (Some(opk), Some(dh4)) = (opk, dh4) {
        assert_eq!(dh4, x25519(&opk, &x25519_public(&ek)));
    }
    let named = [("dh1", dh1), ("dh2", dh2), ("dh3", dh3)]
        .into_iter()
        .chain(dh4.map(|d| ("dh4", d)));
    for (name, dh) in named {
        assert_eq!(dh, b32(&v[name]), "{name}");
    }
    let mut ikm = vec![0xff; 32];
    [dh1, dh2, dh3]
        .iter()
        .chain(dh4.iter())
        .for_each(|d| ikm.extend_from_slice(d));
    assert_eq!(ikm.len(), if opk.is_some() { 160 } else { 128 });
    let sk = hkdf(&[0; 32], &ikm, b"remit.v1.x3dh\0", 32);
    assert_eq!(sk, bytes(&v["sk"]));
    let ad: Vec<u8> = [&a["identity_signing"], &a["identity_agreement"]]
        .into_iter()
        .chain([&b["identity_signing"], &b["identity_agreement"]])
        .flat_map(bytes)
        .collect();
    assert_eq!(ad, bytes(&v["ad"]));
    let ratchet_dh = x25519(&b32(&a["ratchet_private"]), &x25519_public(&spk));
    assert_eq!(ratchet_dh, b32(&v["ratchet_dh"]));
    let okm = hkdf(&sk, &ratchet_dh, b"remit.v1.ratchet-root\0", 64);
    assert_eq!(okm[..32], bytes(&v["root_key"]));
    assert_eq!(okm[32..], bytes(&v["sending_chain_key"]));
    let mk = hmac(&okm[32..], 1);
    assert_eq!(mk, bytes(&v["message_key"]));
    let keys = hkdf(&[0; 32], &mk, b"remit.v1.message-keys\0", 44);
    assert_eq!(keys[..32], bytes(&v["aes_key"]));
    assert_eq!(keys[32..], bytes(&v["nonce"]));

    // The envelope: decode, check header and AEAD independently, then Bob accepts it.
    let envelope = Envelope::decode(&bytes(&v["envelope"])).unwrap();
    let Envelope::PreKey(prekey) = &envelope else {
        panic!("expected a prekey envelope")
    };
    assert_eq!(prekey.base_key, b32(&a["base_key_public"]));
    assert_eq!(
        prekey.signed_prekey_id,
        b["signed_prekey_id"].as_u64().unwrap() as u32
    );
    assert_eq!(
        prekey.one_time_prekey_id,
        b.get("one_time_prekey_id")
            .map(|id| id.as_u64().unwrap() as u32)
    );
    let m = &prekey.message;
    let mut header = vec![1];
    header.extend_from_slice(&m.ratchet_key);
    header.extend_from_slice(&m.previous_counter.to_be_bytes());
    header.extend_from_slice(&m.counter.to_be_bytes());
    assert_eq!(header, bytes(&v["header"]));
    let cipher = Aes256Gcm::new_from_slice(&keys[..32]).unwrap();
    let nonce = Nonce::from(<[u8; 12]>::try_from(&keys[32..]).unwrap());
    let aad = [ad.as_slice(), header.as_slice()].concat();
    let padded = cipher
        .decrypt(
            &nonce,
            Payload {
                msg: &m.ciphertext,
                aad: &aad,
            },
        )
        .unwrap();
    let plaintext = bytes(&v["plaintext"]);
    assert_eq!(padded.len(), 1024);
    assert_eq!(padded[..plaintext.len()], plaintext);
    assert_eq!(padded[plaintext.len()], 0x80);
    assert!(padded[plaintext.len() + 1..].iter().all(|&x| x == 0));

    let bundle = remit_wire::session::PreKeyBundle::decode(&bytes(&v["bundle"])).unwrap();
    VerifiedBundle::verify(&bundle).unwrap();
    assert_eq!(
        bundle.one_time_prekey.map(|k| k.public_key),
        opk.map(|k| x25519_public(&k))
    );
    let mut bob = Account::from_bytes(&bytes(&b["account_record"])).unwrap();
    let (_, got) = bob.accept(prekey).unwrap();
    assert_eq!(got.as_slice(), plaintext.as_slice());
    // Accepting it again: the one-time prekey is gone, or the base key is in the replay set.
    let again = bob.accept(prekey).err().unwrap();
    match prekey.one_time_prekey_id {
        Some(id) => assert_eq!(again, HandshakeError::UnknownOneTimePreKey { id }),
        None => assert_eq!(again, HandshakeError::ReplayedPreKeyMessage),
    }
}

fn u32_at(field: &[u8]) -> u32 {
    u32::from_be_bytes(field.try_into().unwrap())
}

#[test]
fn session_record_vectors() {
    let v = load("session-record.json");
    let records = v["records"].as_array().unwrap();
    assert_eq!(records.len(), 2);
    for case in records {
        let name = case["name"].as_str().unwrap();
        let record = bytes(&case["record"]);
        assert_eq!(
            record.len() as u64,
            case["length"].as_u64().unwrap(),
            "{name}"
        );
        // The fields tile the record exactly, in order, and match the spec's layout.
        let fields = case["fields"].as_array().unwrap();
        let mut at = 0;
        for f in fields {
            assert_eq!(f["offset"].as_u64().unwrap() as usize, at, "{name}");
            at += bytes(&f["hex"]).len();
        }
        assert_eq!(at, record.len(), "{name}");
        let walked = vectors::session_record_fields(&record);
        assert_eq!(walked.len(), fields.len(), "{name}");
        for ((n, offset, b), f) in walked.iter().zip(fields) {
            assert_eq!(n, f["name"].as_str().unwrap());
            assert_eq!(*offset as u64, f["offset"].as_u64().unwrap());
            assert_eq!(b, &bytes(&f["hex"]), "{name}: {n}");
        }
        let field = |n: &str| -> Vec<u8> {
            walked
                .iter()
                .find(|(m, _, _)| m == n)
                .map(|(_, _, b)| b.clone())
                .unwrap_or_else(|| panic!("{name}: no field {n}"))
        };
        // The record loads, saves byte for byte, and the identities in it verify.
        let mut session = Session::from_bytes(&record).unwrap();
        assert_eq!(*session.to_bytes(), record, "{name}");
        assert_eq!(
            session.local_identity().signing_key().to_vec(),
            field("local_identity.signing_key")
        );
        assert_eq!(
            session.peer_identity().agreement_key().to_vec(),
            field("peer_identity.agreement_key")
        );
        assert_eq!(session.is_initiator(), field("initiator") == [1]);
        assert_eq!(
            session.sends_prekey_messages(),
            field("has_pending_prekey") == [1]
        );
        let next = &case["next"];
        let plaintext = bytes(&next["plaintext"]);
        let envelope = Envelope::decode(&bytes(&next["envelope"])).unwrap();
        match name {
            "initiator_after_initiate" => {
                assert_eq!(field("sending_state"), [1]);
                assert_eq!(field("pending_prekey.has_one_time_prekey_id"), [1]);
                assert_eq!(field("has_receiving_chain"), [0]);
                // The remote ratchet key is SPK_B: the prekey message names it, and the sending
                // chain key is KDF_RK(SK, DH(our ratchet, SPK_B)), so encrypting needs no rng.
                let mut rng = vectors::Replay(Vec::new());
                let sent = session.encrypt(&plaintext, &mut rng).unwrap();
                assert_eq!(sent.encode().unwrap(), bytes(&next["envelope"]));
                let Envelope::PreKey(p) = &envelope else {
                    panic!("{name}: expected a prekey envelope")
                };
                assert_eq!(p.base_key.to_vec(), field("pending_prekey.base_key"));
                assert_eq!(
                    p.one_time_prekey_id,
                    Some(u32_at(&field("pending_prekey.one_time_prekey_id")))
                );
                assert_eq!(
                    p.message.ratchet_key,
                    x25519_public(&field("our_ratchet_private").try_into().unwrap())
                );
            }
            "responder_with_skipped_key" => {
                assert_eq!(field("sending_state"), [0]);
                assert_eq!(u32_at(&field("previous_counter")), 1);
                assert_eq!(u32_at(&field("receiving_counter")), 2);
                assert_eq!(field("previous_chain_count"), [0, 1]);
                assert_eq!(field("skipped_key_count"), [0, 1]);
                let m = envelope.ratchet_message();
                assert_eq!(m.ratchet_key.to_vec(), field("skipped_keys[0].ratchet_key"));
                assert_eq!(m.ratchet_key.to_vec(), field("remote_ratchet_key"));
                assert_eq!(m.counter, u32_at(&field("skipped_keys[0].counter")));
                // The stored key is KDF_CK's message key: check the AEAD independently.
                let (key, nonce) =
                    kat::message_keys(&field("skipped_keys[0].message_key").try_into().unwrap());
                let header = kat::header(&m.ratchet_key, m.previous_counter, m.counter);
                let ad: Vec<u8> = [
                    "peer_identity.signing_key",
                    "peer_identity.agreement_key",
                    "local_identity.signing_key",
                    "local_identity.agreement_key",
                ]
                .into_iter()
                .flat_map(field)
                .chain(header)
                .collect();
                let padded = Aes256Gcm::new_from_slice(&key)
                    .unwrap()
                    .decrypt(
                        &Nonce::from(nonce),
                        Payload {
                            msg: &m.ciphertext,
                            aad: &ad,
                        },
                    )
                    .unwrap();
                assert_eq!(padded[..plaintext.len()], plaintext);
                let got = session.decrypt(&envelope).unwrap();
                assert_eq!(got.as_slice(), plaintext.as_slice());
                assert_eq!(
                    vectors::session_record_fields(&session.to_bytes())
                        .iter()
                        .find(|(n, _, _)| n == "skipped_key_count")
                        .map(|(_, _, b)| b.clone()),
                    Some(vec![0, 0])
                );
                assert_eq!(
                    session.decrypt(&envelope).err(),
                    Some(remit_session::DecryptError::Duplicate)
                );
            }
            other => panic!("unknown record case {other}"),
        }
    }
}

#[test]
fn conversation_replays_from_recorded_state() {
    let v = load("session-conversation.json");
    let messages = v["messages"].as_array().unwrap();
    assert!(messages.len() >= 20);
    let mut bob_account = Account::from_bytes(&bytes(&v["bob_account"])).unwrap();
    let mut alice = Session::from_bytes(&bytes(&v["alice_session"])).unwrap();
    let mut bob: Option<Session> = None;
    let mut order = Vec::new();
    for event in v["events"].as_array().unwrap() {
        if let Some(i) = event.get("send") {
            let m = &messages[i.as_u64().unwrap() as usize];
            let mut rng = vectors::Replay(
                m["ratchet_private"]
                    .as_str()
                    .map(|_| b32(&m["ratchet_private"]))
                    .into_iter()
                    .collect(),
            );
            let session = match m["sender"].as_str().unwrap() {
                "alice" => &mut alice,
                _ => bob.as_mut().unwrap(),
            };
            let envelope = session.encrypt(&bytes(&m["plaintext"]), &mut rng).unwrap();
            assert!(rng.0.is_empty(), "the recorded ratchet key was used");
            assert_eq!(
                hex::encode(envelope.encode().unwrap()),
                m["envelope"].as_str().unwrap()
            );
        } else {
            let i = event["deliver"].as_u64().unwrap() as usize;
            order.push(i);
            let m = &messages[i];
            let envelope = Envelope::decode(&bytes(&m["envelope"])).unwrap();
            let got = match (m["sender"].as_str().unwrap(), &mut bob, &envelope) {
                ("alice", Some(session), e) => session.decrypt(e).unwrap(),
                ("alice", None, Envelope::PreKey(p)) => {
                    let (session, pt) = bob_account.accept(p).unwrap();
                    bob = Some(session);
                    pt
                }
                ("bob", _, e) => alice.decrypt(e).unwrap(),
                _ => panic!("unexpected event"),
            };
            assert_eq!(got.to_vec(), bytes(&m["plaintext"]), "message {i}");
        }
    }
    let recorded: Vec<usize> = v["delivery_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(order, recorded);
    // Several DH steps in both directions.
    let steps = |who: &str| {
        messages
            .iter()
            .filter(|m| m["sender"] == who && !m["ratchet_private"].is_null())
            .count()
    };
    assert!(steps("alice") >= 3 && steps("bob") >= 3);
}
