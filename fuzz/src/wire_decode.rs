//! `wire_decode`: every top-level decoder of remit-wire on arbitrary bytes.
//!
//! Invariants, for each decoder whose decode succeeds:
//! - the value re-encodes without error (a decoded message is never "too large" to send back),
//! - decoding the re-encoding gives the same value,
//! - the re-encoding is canonical: encoding the re-decoded value gives the same bytes.
//!
//! The typed session views (`Envelope`, `PreKeyBundle`) and the payment documents are checked
//! the same way, plus the view's own structural limits. `split_frame` must account for every
//! byte it reports as used.

use remit_wire::{
    DecodeError, FRAME_HEADER_LEN, TopLevel, decode, encode,
    limits::{KEY_LEN, MAX_CIPHERTEXT_LEN, MAX_FRAME_LEN, MIN_CIPHERTEXT_LEN},
    payment, session, split_frame, v1,
};

/// Decode, re-encode, decode again, encode again.
fn round_trip<M: TopLevel + PartialEq + core::fmt::Debug>(data: &[u8]) {
    let Ok(first) = decode::<M>(data) else {
        return;
    };
    let bytes = encode(&first).expect("a decoded message re-encodes within its limit");
    let second = decode::<M>(&bytes).expect("the re-encoding decodes");
    assert_eq!(first, second, "{}: value changed in a round trip", M::NAME);
    assert_eq!(
        encode(&second).expect("encodes"),
        bytes,
        "{}: not canonical",
        M::NAME
    );
}

fn check_ratchet(m: &session::RatchetMessage) {
    let len = m.ciphertext.len();
    assert!((MIN_CIPHERTEXT_LEN..=MAX_CIPHERTEXT_LEN).contains(&len));
    assert_eq!(m.ratchet_key.len(), KEY_LEN);
}

/// Runs every decoder on `data`.
pub fn run(data: &[u8]) {
    round_trip::<v1::Content>(data);
    round_trip::<v1::ClientFrame>(data);
    round_trip::<v1::ServerFrame>(data);
    round_trip::<v1::SessionEnvelope>(data);
    round_trip::<v1::PreKeyBundle>(data);
    // The named helpers are the same decoder; they must agree with it.
    assert_eq!(
        remit_wire::decode_content(data).ok(),
        decode::<v1::Content>(data).ok()
    );
    assert_eq!(
        remit_wire::decode_client_frame(data).is_ok(),
        decode::<v1::ClientFrame>(data).is_ok()
    );
    assert_eq!(
        remit_wire::decode_server_frame(data).is_ok(),
        decode::<v1::ServerFrame>(data).is_ok()
    );
    assert_eq!(
        remit_wire::decode_session_envelope(data).is_ok(),
        decode::<v1::SessionEnvelope>(data).is_ok()
    );
    assert_eq!(
        remit_wire::decode_prekey_bundle(data).is_ok(),
        decode::<v1::PreKeyBundle>(data).is_ok()
    );

    // Typed session views: canonical round trip.
    if let Ok(envelope) = session::Envelope::decode(data) {
        check_ratchet(envelope.ratchet_message());
        let bytes = envelope.encode().expect("a decoded envelope re-encodes");
        let again = session::Envelope::decode(&bytes).expect("re-encoded envelope decodes");
        assert_eq!(envelope, again);
        assert_eq!(
            again.encode().expect("encodes"),
            bytes,
            "Envelope: not canonical"
        );
    }
    if let Ok(bundle) = session::PreKeyBundle::decode(data) {
        let bytes = bundle.encode().expect("a decoded bundle re-encodes");
        let again = session::PreKeyBundle::decode(&bytes).expect("re-encoded bundle decodes");
        assert_eq!(bundle, again);
        assert_eq!(
            again.encode().expect("encodes"),
            bytes,
            "PreKeyBundle: not canonical"
        );
    }
    // The views are stricter than the raw decoders, never looser.
    if session::Envelope::decode(data).is_ok() {
        assert!(decode::<v1::SessionEnvelope>(data).is_ok());
    }
    if session::PreKeyBundle::decode(data).is_ok() {
        assert!(decode::<v1::PreKeyBundle>(data).is_ok());
    }

    // Payment documents.
    if let Ok(r) = payment::decode_payment_request(data) {
        let bytes = payment::encode_payment_request(&r).expect("re-encodes");
        let again = payment::decode_payment_request(&bytes).expect("decodes");
        assert_eq!(r, again);
        assert_eq!(
            payment::encode_payment_request(&again).expect("encodes"),
            bytes
        );
    }
    if let Ok(r) = payment::decode_receipt(data) {
        let bytes = payment::encode_receipt(&r).expect("re-encodes");
        let again = payment::decode_receipt(&bytes).expect("decodes");
        assert_eq!(r, again);
        assert_eq!(payment::encode_receipt(&again).expect("encodes"), bytes);
    }
    if let Ok(n) = payment::decode_payment_notice(data) {
        let bytes = payment::encode_payment_notice(&n).expect("re-encodes");
        let again = payment::decode_payment_notice(&bytes).expect("decodes");
        assert_eq!(n, again);
        assert_eq!(
            payment::encode_payment_notice(&again).expect("encodes"),
            bytes
        );
    }

    // split_frame with a few limits: the parts add up to what it says it used.
    for max in [0, 7, 300, MAX_FRAME_LEN] {
        let announced = data
            .first_chunk::<FRAME_HEADER_LEN>()
            .map(|h| u32::from_be_bytes(*h) as usize);
        match split_frame(data, max) {
            Ok(Some((body, used))) => {
                assert_eq!(used, FRAME_HEADER_LEN + body.len());
                assert!(used <= data.len() && body.len() <= max);
                assert_eq!(Some(body.len()), announced);
                assert_eq!(data.get(FRAME_HEADER_LEN..used), Some(body));
            }
            Ok(None) => match announced {
                None => assert!(data.len() < FRAME_HEADER_LEN),
                Some(len) => assert!(len <= max && data.len() - FRAME_HEADER_LEN < len),
            },
            Err(DecodeError::TooLarge { len, max: m, .. }) => {
                assert_eq!(Some(len), announced);
                assert_eq!(m, max);
                assert!(len > max);
            }
            Err(e) => panic!("split_frame: unexpected error {e:?}"),
        }
    }
}
