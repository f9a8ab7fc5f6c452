//! `session_decrypt`: arbitrary bytes, decoded as a `SessionEnvelope`, decrypted against a copy
//! of a live session (one of three fixed receiver states, chosen by the first byte).
//!
//! Invariants:
//! - a forgery is never accepted: `decrypt` succeeds only for an envelope whose ratchet message
//!   is one of the honest messages in flight to that receiver (then the plaintext is exactly
//!   the one sent); any other envelope returns an error;
//! - on every error the receiver's `to_bytes()` is byte-for-byte unchanged.

use remit_session::Session;
use remit_wire::session::Envelope;

use crate::fixtures::sessions;

/// Runs one input.
pub fn run(data: &[u8]) {
    let Some((&selector, envelope_bytes)) = data.split_first() else {
        return;
    };
    let fixture = sessions();
    let receiver = &fixture.receivers[usize::from(selector) % fixture.receivers.len()];
    let Ok(envelope) = Envelope::decode(envelope_bytes) else {
        return;
    };
    let mut session = Session::from_bytes(&receiver.record).expect("fixture record loads");
    match session.decrypt(&envelope) {
        Ok(plaintext) => {
            let honest = receiver
                .pending
                .iter()
                .find(|h| h.envelope.ratchet_message() == envelope.ratchet_message())
                .unwrap_or_else(|| {
                    panic!(
                        "forgery accepted by {}: {envelope:?} decrypted to {} bytes",
                        receiver.name,
                        plaintext.len()
                    )
                });
            assert_eq!(plaintext.as_slice(), honest.plaintext.as_slice());
        }
        Err(_) => {
            assert_eq!(
                session.to_bytes().as_slice(),
                receiver.record.as_slice(),
                "{}: a failed decrypt changed the session",
                receiver.name
            );
        }
    }
}
