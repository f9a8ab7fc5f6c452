//! `pay_content`: arbitrary bytes through remit-pay's open/validate path (`open`, which decodes
//! a `Content` with remit-wire and validates it), from a fixed peer: the payee of the payment
//! vectors, so the vectors' signed requests and receipts verify and mutations reach the
//! validation behind the signature check.
//!
//! Invariants:
//! - never panics; every error is a typed `PayError` with a wire error code and a field name;
//! - `open` agrees with `decode_content` + `open_content`;
//! - an accepted request or receipt names the peer (request `payee` is the peer's
//!   fingerprint);
//! - an accepted payment message, sealed again, opens to the same value (documents travel as
//!   their exact signed bytes, so signatures still verify);
//! - accepted text is already stripped (stripping is idempotent).

use remit_pay::{Incoming, PaymentMessage, open, open_content, seal, text};

use crate::fixtures::payee_peer;

/// Runs one input.
pub fn run(data: &[u8]) {
    let peer = payee_peer();
    let result = open(data, peer);
    if let Ok(content) = remit_wire::decode_content(data) {
        assert_eq!(open_content(&content, peer), result);
    }
    match result {
        Err(e) => {
            let _ = e.code();
            let _ = e.field();
            assert!(!e.to_string().is_empty());
        }
        Ok(received) => match &received.body {
            Incoming::Payment(message) => {
                if let PaymentMessage::Request(r) = message {
                    assert_eq!(r.request().payee, peer.fingerprint());
                }
                let sealed = seal(received.message_id, message).expect("an opened message seals");
                let again = open(&sealed, peer).expect("a sealed message opens");
                assert_eq!(again, received);
            }
            Incoming::Text(t) => {
                assert_eq!(&text::sanitize(t, true), t, "text is not stripped");
            }
            Incoming::Error(_) => {}
            other => panic!("a body kind this target does not check yet: {other:?}"),
        },
    }
}
