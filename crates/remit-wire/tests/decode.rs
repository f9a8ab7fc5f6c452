//! Every decode path of remit-wire, with well-formed and malformed input.

use proptest::prelude::*;
use prost::Message;
use remit_wire::{
    DecodeError, EncodeError, FrameDecoder, decode_client_frame, decode_content,
    decode_server_frame, decode_session_envelope, encode, encode_frame, limits,
    session::{
        Envelope, IdentityKey, OneTimePreKey, PreKeyBundle, PreKeyMessage, RatchetMessage,
        SignedPreKey,
    },
    split_frame, v1,
};

fn ratchet_message(len: usize) -> RatchetMessage {
    RatchetMessage {
        ratchet_key: [1; 32],
        previous_counter: 3,
        counter: 9,
        ciphertext: vec![5; len],
    }
}

fn identity() -> IdentityKey {
    IdentityKey {
        signing_key: [2; 32],
        agreement_key: [3; 32],
        binding_signature: [4; 64],
    }
}

fn prekey_message() -> PreKeyMessage {
    PreKeyMessage {
        identity: identity(),
        base_key: [6; 32],
        signed_prekey_id: 7,
        one_time_prekey_id: Some(8),
        message: ratchet_message(limits::MIN_CIPHERTEXT_LEN),
    }
}

fn bundle() -> PreKeyBundle {
    PreKeyBundle {
        identity: identity(),
        signed_prekey: SignedPreKey {
            id: 1,
            public_key: [9; 32],
            created_at: 1_700_000_000,
            signature: [10; 64],
        },
        one_time_prekey: Some(OneTimePreKey {
            id: 2,
            public_key: [11; 32],
        }),
    }
}

fn client_send() -> v1::ClientFrame {
    v1::ClientFrame {
        version: 1,
        request_id: 42,
        body: Some(v1::client_frame::Body::Send(v1::Send {
            recipient: vec![1; 32],
            message_id: vec![2; 16],
            envelope: vec![3; 300],
        })),
    }
}

#[test]
fn envelope_round_trips_both_kinds() {
    for envelope in [
        Envelope::Message(ratchet_message(2000)),
        Envelope::PreKey(prekey_message()),
    ] {
        let bytes = envelope.encode().unwrap();
        assert_eq!(Envelope::decode(&bytes).unwrap(), envelope);
    }
}

#[test]
fn envelope_without_one_time_prekey_round_trips() {
    let mut m = prekey_message();
    m.one_time_prekey_id = None;
    let envelope = Envelope::PreKey(m);
    assert_eq!(
        Envelope::decode(&envelope.encode().unwrap()).unwrap(),
        envelope
    );
}

#[test]
fn envelope_unknown_version_is_typed() {
    let raw = v1::SessionEnvelope {
        version: 2,
        body: Some(v1::session_envelope::Body::Message(
            (&ratchet_message(1040)).into(),
        )),
    };
    assert_eq!(
        Envelope::decode(&raw.encode_to_vec()),
        Err(DecodeError::UnknownVersion {
            what: "SessionEnvelope",
            got: 2,
            supported: 1
        })
    );
}

#[test]
fn envelope_version_zero_is_unknown_not_default() {
    // proto3 omits a zero version entirely: an empty message must not pass as version 1.
    assert_eq!(
        decode_session_envelope(&[]),
        Err(DecodeError::UnknownVersion {
            what: "SessionEnvelope",
            got: 0,
            supported: 1
        })
    );
}

#[test]
fn envelope_missing_body_is_typed() {
    let raw = v1::SessionEnvelope {
        version: 1,
        body: None,
    };
    assert_eq!(
        Envelope::decode(&raw.encode_to_vec()),
        Err(DecodeError::MissingField {
            what: "SessionEnvelope",
            field: "body"
        })
    );
}

#[test]
fn envelope_too_large_is_rejected_before_parsing() {
    let bytes = vec![0u8; limits::MAX_ENVELOPE_LEN + 1];
    assert_eq!(
        Envelope::decode(&bytes),
        Err(DecodeError::TooLarge {
            what: "SessionEnvelope",
            len: limits::MAX_ENVELOPE_LEN + 1,
            max: limits::MAX_ENVELOPE_LEN
        })
    );
}

#[test]
fn envelope_truncated_protobuf_is_malformed() {
    let bytes = Envelope::Message(ratchet_message(1040)).encode().unwrap();
    for cut in 1..bytes.len() {
        let err = Envelope::decode(&bytes[..cut]).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::Malformed {
                    what: "SessionEnvelope",
                    ..
                } | DecodeError::UnknownVersion { .. }
                    | DecodeError::MissingField { .. }
                    | DecodeError::InvalidLength { .. }
                    | DecodeError::OutOfRange { .. }
            ),
            "cut at {cut}: {err:?}"
        );
    }
}

#[test]
fn garbage_is_malformed() {
    let err = decode_session_envelope(&[0xff, 0xff, 0xff]).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::Malformed {
                what: "SessionEnvelope",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn ratchet_key_of_wrong_length_names_the_field() {
    let mut raw: v1::RatchetMessage = (&ratchet_message(1040)).into();
    raw.ratchet_key.pop();
    let envelope = v1::SessionEnvelope {
        version: 1,
        body: Some(v1::session_envelope::Body::Message(raw)),
    };
    assert_eq!(
        Envelope::decode(&envelope.encode_to_vec()),
        Err(DecodeError::InvalidLength {
            what: "RatchetMessage",
            field: "ratchet_key",
            expected: 32,
            got: 31
        })
    );
}

#[test]
fn ciphertext_bounds_are_checked() {
    for len in [
        0,
        limits::MIN_CIPHERTEXT_LEN - 1,
        limits::MAX_CIPHERTEXT_LEN + 1,
    ] {
        let raw: v1::RatchetMessage = (&ratchet_message(len)).into();
        assert!(matches!(
            RatchetMessage::try_from(raw),
            Err(DecodeError::OutOfRange {
                what: "RatchetMessage",
                field: "ciphertext",
                ..
            })
        ));
    }
    for len in [limits::MIN_CIPHERTEXT_LEN, limits::MAX_CIPHERTEXT_LEN] {
        let raw: v1::RatchetMessage = (&ratchet_message(len)).into();
        assert_eq!(RatchetMessage::try_from(raw).unwrap().ciphertext.len(), len);
    }
}

#[test]
fn largest_envelope_fits_the_envelope_limit() {
    let mut m = prekey_message();
    m.message = ratchet_message(limits::MAX_CIPHERTEXT_LEN);
    m.signed_prekey_id = u32::MAX;
    m.one_time_prekey_id = Some(u32::MAX);
    m.message.previous_counter = u32::MAX;
    m.message.counter = u32::MAX;
    let bytes = Envelope::PreKey(m).encode().unwrap();
    assert!(bytes.len() <= limits::MAX_ENVELOPE_LEN);
}

#[test]
fn prekey_message_missing_parts_are_named() {
    let mut raw: v1::PreKeyMessage = (&prekey_message()).into();
    raw.identity = None;
    assert_eq!(
        PreKeyMessage::try_from(raw),
        Err(DecodeError::MissingField {
            what: "PreKeyMessage",
            field: "identity"
        })
    );
    let mut raw: v1::PreKeyMessage = (&prekey_message()).into();
    raw.message = None;
    assert_eq!(
        PreKeyMessage::try_from(raw),
        Err(DecodeError::MissingField {
            what: "PreKeyMessage",
            field: "message"
        })
    );
    let mut raw: v1::PreKeyMessage = (&prekey_message()).into();
    raw.base_key = vec![0; 33];
    assert_eq!(
        PreKeyMessage::try_from(raw),
        Err(DecodeError::InvalidLength {
            what: "PreKeyMessage",
            field: "base_key",
            expected: 32,
            got: 33
        })
    );
    let mut raw: v1::PreKeyMessage = (&prekey_message()).into();
    raw.identity
        .as_mut()
        .unwrap()
        .binding_signature
        .truncate(10);
    assert_eq!(
        PreKeyMessage::try_from(raw),
        Err(DecodeError::InvalidLength {
            what: "IdentityKey",
            field: "binding_signature",
            expected: 64,
            got: 10
        })
    );
}

#[test]
fn bundle_round_trips_and_checks_fields() {
    let b = bundle();
    assert_eq!(PreKeyBundle::decode(&b.encode().unwrap()).unwrap(), b);
    let mut without = b.clone();
    without.one_time_prekey = None;
    assert_eq!(
        PreKeyBundle::decode(&without.encode().unwrap()).unwrap(),
        without
    );

    let mut raw = v1::PreKeyBundle::from(&b);
    raw.signed_prekey = None;
    assert_eq!(
        PreKeyBundle::decode(&raw.encode_to_vec()),
        Err(DecodeError::MissingField {
            what: "PreKeyBundle",
            field: "body"
        })
    );
    let mut raw = v1::PreKeyBundle::from(&b);
    raw.version = 9;
    assert_eq!(
        PreKeyBundle::decode(&raw.encode_to_vec()),
        Err(DecodeError::UnknownVersion {
            what: "PreKeyBundle",
            got: 9,
            supported: 1
        })
    );
    let mut raw = v1::PreKeyBundle::from(&b);
    raw.one_time_prekey.as_mut().unwrap().public_key.clear();
    assert_eq!(
        PreKeyBundle::decode(&raw.encode_to_vec()),
        Err(DecodeError::InvalidLength {
            what: "OneTimePreKey",
            field: "public_key",
            expected: 32,
            got: 0
        })
    );
    let mut raw = v1::PreKeyBundle::from(&b);
    raw.signed_prekey.as_mut().unwrap().signature.push(0);
    assert_eq!(
        PreKeyBundle::decode(&raw.encode_to_vec()),
        Err(DecodeError::InvalidLength {
            what: "SignedPreKey",
            field: "signature",
            expected: 64,
            got: 65
        })
    );
}

#[test]
fn content_round_trips_and_checks_version_and_body() {
    let content = v1::Content {
        version: 1,
        message_id: vec![1; 16],
        body: Some(v1::content::Body::Decline(v1::Decline {
            request_id: vec![2; 16],
            request_digest: vec![3; 32],
            reason: "not mine".into(),
            reason_code: v1::DeclineReason::UnknownPayee.into(),
        })),
    };
    assert_eq!(decode_content(&encode(&content).unwrap()).unwrap(), content);
    let mut no_body = content.clone();
    no_body.body = None;
    assert_eq!(
        decode_content(&no_body.encode_to_vec()),
        Err(DecodeError::MissingField {
            what: "Content",
            field: "body"
        })
    );
    let mut v2 = content;
    v2.version = 2;
    assert_eq!(
        decode_content(&v2.encode_to_vec()),
        Err(DecodeError::UnknownVersion {
            what: "Content",
            got: 2,
            supported: 1
        })
    );
    assert!(matches!(
        decode_content(&vec![0; limits::MAX_PLAINTEXT_LEN + 1]),
        Err(DecodeError::TooLarge {
            what: "Content",
            ..
        })
    ));
}

#[test]
fn client_and_server_frames_round_trip() {
    let c = client_send();
    assert_eq!(decode_client_frame(&encode(&c).unwrap()).unwrap(), c);
    let s = v1::ServerFrame {
        version: 1,
        request_id: 0,
        body: Some(v1::server_frame::Body::Deliver(v1::Deliver {
            sequence: 5,
            sender: vec![1; 32],
            message_id: vec![2; 16],
            envelope: vec![3; 100],
            received_at: 1_700_000_000,
        })),
    };
    assert_eq!(decode_server_frame(&encode(&s).unwrap()).unwrap(), s);
    let err = v1::ServerFrame {
        version: 1,
        request_id: 7,
        body: Some(v1::server_frame::Body::Error(v1::Error {
            code: v1::RelayErrorCode::RateLimited.into(),
            detail: "slow down".into(),
            retry_after_ms: 250,
        })),
    };
    assert_eq!(decode_server_frame(&encode(&err).unwrap()).unwrap(), err);
}

#[test]
fn frames_check_version_body_and_size() {
    let mut c = client_send();
    c.version = 3;
    assert_eq!(
        decode_client_frame(&c.encode_to_vec()),
        Err(DecodeError::UnknownVersion {
            what: "ClientFrame",
            got: 3,
            supported: 1
        })
    );
    let empty = v1::ServerFrame {
        version: 1,
        request_id: 1,
        body: None,
    };
    assert_eq!(
        decode_server_frame(&empty.encode_to_vec()),
        Err(DecodeError::MissingField {
            what: "ServerFrame",
            field: "body"
        })
    );
    assert!(matches!(
        decode_client_frame(&vec![0; limits::MAX_FRAME_LEN + 1]),
        Err(DecodeError::TooLarge {
            what: "ClientFrame",
            ..
        })
    ));
    assert!(matches!(
        decode_server_frame(&[0x0a, 0x05, 0x01]),
        Err(DecodeError::Malformed {
            what: "ServerFrame",
            ..
        })
    ));
}

#[test]
fn encode_refuses_what_the_receiver_would_reject() {
    let mut c = client_send();
    if let Some(v1::client_frame::Body::Send(s)) = c.body.as_mut() {
        s.envelope = vec![0; limits::MAX_FRAME_LEN];
    }
    assert!(matches!(
        encode(&c),
        Err(EncodeError::TooLarge {
            what: "ClientFrame",
            ..
        })
    ));
    let mut out = Vec::new();
    assert!(matches!(
        encode_frame(&c, &mut out),
        Err(EncodeError::TooLarge {
            what: "ClientFrame",
            ..
        })
    ));
    assert!(out.is_empty());
}

#[test]
fn frame_codec_round_trips_and_splits() {
    let mut stream = Vec::new();
    let frames = [client_send(), client_send(), client_send()];
    for f in &frames {
        encode_frame(f, &mut stream).unwrap();
    }
    let mut rest = &stream[..];
    for f in &frames {
        let (body, used) = split_frame(rest, limits::MAX_FRAME_LEN).unwrap().unwrap();
        assert_eq!(&decode_client_frame(body).unwrap(), f);
        rest = &rest[used..];
    }
    assert!(rest.is_empty());
    assert_eq!(split_frame(&stream[..3], limits::MAX_FRAME_LEN), Ok(None));
    assert_eq!(split_frame(&stream[..10], limits::MAX_FRAME_LEN), Ok(None));
}

#[test]
fn oversized_frame_header_is_rejected_before_allocation() {
    let header = u32::MAX.to_be_bytes();
    assert_eq!(
        split_frame(&header, limits::MAX_FRAME_LEN),
        Err(DecodeError::TooLarge {
            what: "frame",
            len: u32::MAX as usize,
            max: limits::MAX_FRAME_LEN
        })
    );
    let mut decoder = FrameDecoder::new(limits::MAX_FRAME_LEN);
    assert!(matches!(
        decoder.decode(&header),
        Err(DecodeError::TooLarge { .. })
    ));
    assert_eq!(decoder.decode(&[0]), Err(DecodeError::Poisoned));
    assert!(!decoder.is_idle());
}

#[test]
fn zero_length_frame_is_a_frame_whose_body_fails_to_decode() {
    let mut decoder = FrameDecoder::new(16);
    assert_eq!(decoder.decode(&[0, 0, 0, 0]), Ok((4, Some(Vec::new()))));
    assert!(decoder.is_idle());
    assert_eq!(
        decode_client_frame(&[]),
        Err(DecodeError::UnknownVersion {
            what: "ClientFrame",
            got: 0,
            supported: 1
        })
    );
}

#[test]
fn frame_decoder_consumes_only_up_to_the_end_of_a_frame() {
    let mut stream = Vec::new();
    encode_frame(&client_send(), &mut stream).unwrap();
    let first_len = stream.len();
    encode_frame(&client_send(), &mut stream).unwrap();
    let mut decoder = FrameDecoder::new(limits::MAX_FRAME_LEN);
    let (used, frame) = decoder.decode(&stream).unwrap();
    assert_eq!(used, first_len);
    assert_eq!(decode_client_frame(&frame.unwrap()).unwrap(), client_send());
    let (used, frame) = decoder.decode(&stream[first_len..]).unwrap();
    assert_eq!(used, stream.len() - first_len);
    assert!(frame.is_some());
    assert!(decoder.is_idle());
}

proptest! {
    /// Feeding a stream of frames in arbitrary pieces yields exactly the frames that were sent.
    #[test]
    fn frame_decoder_reassembles_any_chunking(
        sizes in proptest::collection::vec(0usize..600, 1..8),
        chunks in proptest::collection::vec(1usize..97, 1..64),
    ) {
        let mut stream = Vec::new();
        let mut sent = Vec::new();
        for (i, size) in sizes.iter().enumerate() {
            let mut f = client_send();
            f.request_id = i as u64;
            if let Some(v1::client_frame::Body::Send(s)) = f.body.as_mut() {
                s.envelope = vec![7; *size];
            }
            encode_frame(&f, &mut stream).unwrap();
            sent.push(f);
        }
        let mut decoder = FrameDecoder::new(limits::MAX_FRAME_LEN);
        let mut received = Vec::new();
        let mut pos = 0;
        let mut chunk = chunks.iter().cycle();
        while pos < stream.len() {
            let end = (pos + chunk.next().unwrap()).min(stream.len());
            let mut piece = &stream[pos..end];
            while !piece.is_empty() {
                let (used, frame) = decoder.decode(piece).unwrap();
                prop_assert!(used > 0);
                if let Some(body) = frame {
                    received.push(decode_client_frame(&body).unwrap());
                }
                piece = &piece[used..];
            }
            pos = end;
        }
        prop_assert!(decoder.is_idle());
        prop_assert_eq!(received, sent);
    }

    /// No byte string makes any decoder panic; each returns a value or a typed error.
    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Envelope::decode(&bytes);
        let _ = PreKeyBundle::decode(&bytes);
        let _ = decode_content(&bytes);
        let _ = decode_client_frame(&bytes);
        let _ = decode_server_frame(&bytes);
        let _ = split_frame(&bytes, 256);
        let mut d = FrameDecoder::new(256);
        let _ = d.decode(&bytes);
    }
}
