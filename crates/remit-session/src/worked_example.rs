//! The worked examples of spec/handshake.md Appendix A.3 and spec/ratchet.md Appendix A.3,
//! computed there with an independent implementation (Python `cryptography`, `hashlib`), and
//! reproduced here byte for byte.

use std::collections::{BTreeMap, VecDeque};

use remit_wire::session::Envelope;
use sha2::{Digest, Sha256};

use crate::{
    account::{Account, SeenBaseKeys},
    identity::{IdentityKeyPair, safety_number},
    internal as kat,
    prekeys::{KeyPair, SignedPreKeyPair, VerifiedBundle, signed_prekey_statement},
};

fn ramp(x: u8) -> [u8; 32] {
    core::array::from_fn(|i| x + u8::try_from(i).unwrap())
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).unwrap()
}

fn h32(s: &str) -> [u8; 32] {
    h(s).try_into().unwrap()
}

/// Hands out the given 32-byte keys in order.
struct Fixed(Vec<[u8; 32]>);

impl rand_core::TryRng for Fixed {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        panic!("only 32-byte draws are expected")
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        panic!("only 32-byte draws are expected")
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        dst.copy_from_slice(&self.0.remove(0));
        Ok(())
    }
}

impl rand_core::TryCryptoRng for Fixed {}

fn account(
    identity: IdentityKeyPair,
    spk: SignedPreKeyPair,
    opk: Option<(u32, [u8; 32])>,
) -> Account {
    Account {
        identity,
        signed_prekey: spk,
        old_signed_prekeys: VecDeque::new(),
        one_time_prekeys: opk
            .map(|(id, s)| (id, KeyPair::from_bytes(&s)))
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
        next_signed_prekey_id: 8,
        next_one_time_prekey_id: 43,
        seen_base_keys: SeenBaseKeys::default(),
    }
}

#[test]
fn handshake_appendix_a3() {
    let alice_id = IdentityKeyPair::from_secrets(
        &h32("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"),
        &h32("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"),
    );
    let bob_id = IdentityKeyPair::from_secrets(
        &h32("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"),
        &h32("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"),
    );
    let (a, b) = (*alice_id.public(), *bob_id.public());
    assert_eq!(
        a.signing_key().to_vec(),
        h("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    );
    assert_eq!(
        a.agreement_key().to_vec(),
        h("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    );
    assert_eq!(
        b.signing_key().to_vec(),
        h("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
    );
    assert_eq!(
        b.agreement_key().to_vec(),
        h("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    );
    assert_eq!(
        a.as_wire().binding_signature.to_vec(),
        h(
            "f760b569b7a26e9ae3fc084d6ad286bcc4d9ef99b6b6138d31bdd4af3715ab16 4180457a0fa6005a2b08293bea2e6ef1e5acd335292817ef5e6b0ae81c481c05"
        )
    );
    assert_eq!(
        b.as_wire().binding_signature.to_vec(),
        h(
            "b60afd658b04c88bfc8a819a28c7e751a0a9d7624ae33c74efebbcec443b02dc 192e4155a180ecbc732ce71dfa4cb1214b6aed47709be2c237ff1ce76124a00c"
        )
    );
    assert_eq!(
        a.fingerprint().to_string(),
        "3374cd88490acf4e20ee6fda2fcb57cb43f2a1ed47294853ecb9665e2d414830"
    );
    assert_eq!(
        b.fingerprint().to_string(),
        "b3e31821e1ffe53b632be85bbc237cb7b09a4a408b0eae2410a5f99f5e3a4bf2"
    );
    let expected = "33924 62764 12143 55315 33221 38655 69013 02871 35182 77213 90332 81368";
    assert_eq!(safety_number(&a, &b).to_string(), expected);
    assert_eq!(safety_number(&b, &a).to_string(), expected);

    let spk = SignedPreKeyPair::new(&bob_id, 7, 1_767_225_600, KeyPair::from_bytes(&ramp(0x10)));
    let spk_pub = spk.public();
    assert_eq!(
        spk_pub.public_key,
        h32("d89e3bad79437dbed9f843418304f460ff05c7fe81fe4a9577a804cb9367ff66")
    );
    assert_eq!(
        signed_prekey_statement(7, 1_767_225_600, &spk_pub.public_key).to_vec(),
        h(
            "72656d69742e76312e7369676e65642d7072656b657900 00000007 000000006955b900
           d89e3bad79437dbed9f843418304f460ff05c7fe81fe4a9577a804cb9367ff66"
        )
    );
    assert_eq!(
        spk_pub.signature.to_vec(),
        h(
            "b791156ae4813c777a6b0d5c31f77ac50ff471dd8b17ffbf03fa8215f529c71d
           80fdfa9c6796e9d777cddee651920059ed9acfc986333a724b279cd73cafff08"
        )
    );
    let opk_pub = *KeyPair::from_bytes(&ramp(0x20)).public();
    assert_eq!(
        opk_pub,
        h32("358072d6365880d1aeea329adf9121383851ed21a28e3b75e965d0d2cd166254")
    );
    let ek_pub = *KeyPair::from_bytes(&ramp(0x30)).public();
    assert_eq!(
        ek_pub,
        h32("34e42d4af5ef94a07a3a84201b889d4cd1a743cb27b11b6a10438a8feb8e5847")
    );

    let dh = |s: &[u8; 32], p: &[u8; 32]| kat::x25519(s, p).unwrap();
    let alice_dh = h32("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    let dh1 = dh(&alice_dh, &spk_pub.public_key);
    let dh2 = dh(&ramp(0x30), b.agreement_key());
    let dh3 = dh(&ramp(0x30), &spk_pub.public_key);
    let dh4 = dh(&ramp(0x30), &opk_pub);
    assert_eq!(
        dh1,
        h32("fad8b6e16413cb209798ef90b0380832b7bc4b955805c328267cb9cfc4b8ba3f")
    );
    assert_eq!(
        dh2,
        h32("bbb3a25b759a9ddee36acf21a17a8d593a2634156545e45d8212e42c61a9da1a")
    );
    assert_eq!(
        dh3,
        h32("6e3c33b4c96fcb38dfa7862eae5bb902fe66cc2a41ca553280ded9dc363c852f")
    );
    assert_eq!(
        dh4,
        h32("b8b1ea743eeb69466cd0441b15ad0aa9ec9a7e8bb4d3cec2e66237d2aa50281e")
    );
    let sk = kat::x3dh(&[dh1, dh2, dh3, dh4]);
    assert_eq!(
        sk,
        h32("47c62761d961b849cd01ef18005158b9a5cf081038af11bbb15ff47faf06c546")
    );
    assert_eq!(
        kat::x3dh(&[dh1, dh2, dh3]),
        h32("1d0f0a36e711a0ba4287e31c28fd609626befef903b8a3c74a94cccbeb6c6ac7")
    );

    // The first message through the real API, with EK_A = ramp(0x30), DHs = ramp(0x40).
    let mut bob = account(bob_id, spk, Some((42, ramp(0x20))));
    let alice_spk = SignedPreKeyPair::new(&alice_id, 1, 0, KeyPair::from_bytes(&[1; 32]));
    let alice = account(alice_id, alice_spk, None);
    let bundle = VerifiedBundle::verify(&bob.bundle(Some(remit_wire::session::OneTimePreKey {
        id: 42,
        public_key: opk_pub,
    })))
    .unwrap();
    let mut rng = Fixed(vec![ramp(0x30), ramp(0x40)]);
    let mut session = alice.initiate(&bundle, &mut rng).unwrap();
    assert_eq!(
        session.ad.to_vec(),
        h(
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a
           8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a
           3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c
           de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
        )
    );
    let envelope = session.encrypt(b"hello, bob", &mut rng).unwrap();
    let m = envelope.ratchet_message();
    assert_eq!(
        m.ratchet_key,
        h32("79a631eede1bf9c98f12032cdeadd0e7a079398fc786b88cc846ec89af85a51a")
    );
    assert_eq!(m.ciphertext.len(), 1040);
    assert_eq!(
        m.ciphertext[..16].to_vec(),
        h("5b1ec40b6468bdb7ffd34d36d33b6a16")
    );
    assert_eq!(
        m.ciphertext[1024..].to_vec(),
        h("f116ab6f3d91c0c07447d28aa33a7148")
    );
    assert_eq!(
        Sha256::digest(&m.ciphertext).to_vec(),
        h("4842638e03bb81ba79c0c6916c06c2b5f59da56ab834eef4c22773a2b81eb694")
    );
    let encoded = envelope.encode().unwrap();
    assert_eq!(encoded.len(), 1260);
    let prefix = h(
        "080112e7090a86010a20d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a
12208520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a1a40f760b569b7a2
6e9ae3fc084d6ad286bcc4d9ef99b6b6138d31bdd4af3715ab164180457a0fa6005a2b08293bea2e6ef1
e5acd335292817ef5e6b0ae81c481c05122034e42d4af5ef94a07a3a84201b889d4cd1a743cb27b11b6a
10438a8feb8e58471807202a2ab5080a2079a631eede1bf9c98f12032cdeadd0e7a079398fc786b88cc8
46ec89af85a51a229008",
    );
    assert_eq!(encoded[..prefix.len()].to_vec(), prefix);
    assert_eq!(
        Sha256::digest(&encoded).to_vec(),
        h("104d357ef81f54ebdd8665109c238fd184551e069c7dcc1bfbfcf405b8c2ba36")
    );
    let Envelope::PreKey(prekey) = Envelope::decode(&encoded).unwrap() else {
        panic!()
    };
    let (_, plaintext) = bob.accept(&prekey).unwrap();
    assert_eq!(plaintext.as_slice(), b"hello, bob");
}

#[test]
fn ratchet_appendix_a3() {
    let (rk, ck) = kat::kdf_rk(&ramp(0x00), &ramp(0x20));
    assert_eq!(
        rk,
        h32("63e9d65ebfe515a11bc8b34f5a11636100a09981e16a799ea14b17b900328f4b")
    );
    assert_eq!(
        ck,
        h32("0f6dbfde0857dd352585593ac5be21bc6f12524c16701eb84b72723d427b831b")
    );
    let (mk, next) = kat::kdf_ck(&ramp(0x40));
    assert_eq!(
        mk,
        h32("01156abd78ef59f755f1e6945e5d1e2d7ddd1f1e5fe0a164b2f5fa8ad500bfba")
    );
    assert_eq!(
        next,
        h32("f0bdefbbad3cf097dccb03f2c87159f7608e2480543eef7741c8f2e7f226e78f")
    );
    let (key, nonce) = kat::message_keys(&mk);
    assert_eq!(
        key,
        h32("7dc1f270b8b596a1cf78dc62e5f9d149d96502b6aff77edbba7418b16dde36d3")
    );
    assert_eq!(nonce.to_vec(), h("65a2671afb23a2579afbd124"));

    let sk = h32("47c62761d961b849cd01ef18005158b9a5cf081038af11bbb15ff47faf06c546");
    let spk_pub = h32("d89e3bad79437dbed9f843418304f460ff05c7fe81fe4a9577a804cb9367ff66");
    let dhs_pub = *KeyPair::from_bytes(&ramp(0x40)).public();
    assert_eq!(
        dhs_pub,
        h32("79a631eede1bf9c98f12032cdeadd0e7a079398fc786b88cc846ec89af85a51a")
    );
    let dh_out = kat::x25519(&ramp(0x40), &spk_pub).unwrap();
    assert_eq!(dh_out, kat::x25519(&ramp(0x10), &dhs_pub).unwrap());
    let (rk, cks) = kat::kdf_rk(&sk, &dh_out);
    assert_eq!(
        rk,
        h32("982fbe803f2684f313004ea69f502a5993e12e156fa00e1d461e3d6e03b9078c")
    );
    assert_eq!(
        cks,
        h32("ef1fddbe6c14eec69c817c738ae03b4d35d654f50f95c1eef96f82420b3fefa5")
    );
    let (mk, _) = kat::kdf_ck(&cks);
    assert_eq!(
        mk,
        h32("7806df22f057f5c321f618e142a9273a8c235ae1a5bf7a5139e236ce6b3bfa2a")
    );
    let (key, nonce) = kat::message_keys(&mk);
    assert_eq!(
        key,
        h32("e0168370237bd35114f7dc5f02e60a90b9ccaff08bec964b0c6ceecd03d60629")
    );
    assert_eq!(nonce.to_vec(), h("c89a2db527d00d7eaaf195a7"));
    assert_eq!(
        kat::header(&dhs_pub, 0, 0).to_vec(),
        h("01 79a631eede1bf9c98f12032cdeadd0e7a079398fc786b88cc846ec89af85a51a 00000000 00000000")
    );
}
