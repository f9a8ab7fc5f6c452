//! Message validation, signatures and the content envelope.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::*;
use ed25519_dalek::Signer;
use rand::{SeedableRng, rngs::ChaCha20Rng};
use remit_pay::{internal::*, *};
use remit_session::Account;
use remit_wire::{payment as wire_payment, v1};

fn wire_of(req: &SignedRequest) -> v1::PaymentRequest {
    wire_payment::decode_payment_request(req.body()).unwrap()
}

/// Re-signs a modified wire request as the payee and returns the result of verification.
fn resign(p: &Parties, wire: &v1::PaymentRequest) -> Result<SignedRequest, PayError> {
    sign_request_wire(wire, &p.payee())
}

fn field_of(e: &PayError) -> &'static str {
    match e {
        PayError::InvalidField { field, .. }
        | PayError::TooLong { field, .. }
        | PayError::Money { field, .. } => field,
        other => panic!("not a field error: {other:?}"),
    }
}

// ---- signatures (spec §5)

#[test]
fn request_signature_round_trips_and_binds_the_exact_bytes() {
    let mut p = Parties::new(1);
    let req = p.request("12.50 USD", false);
    let doc = req.to_document();
    assert!(SignedRequest::verify(&doc, &p.payee_public()).is_ok());
    // Any flipped bit in the body or the signature fails.
    for i in [0, doc.body.len() / 2, doc.body.len() - 1] {
        let mut d = doc.clone();
        d.body[i] ^= 0x01;
        assert_eq!(
            SignedRequest::verify(&d, &p.payee_public()),
            Err(PayError::BadSignature)
        );
    }
    for i in [0, 31, 32, 63] {
        let mut d = doc.clone();
        d.signature[i] ^= 0x80;
        assert_eq!(
            SignedRequest::verify(&d, &p.payee_public()),
            Err(PayError::BadSignature)
        );
    }
    let mut short = doc.clone();
    short.signature.pop();
    assert_eq!(
        SignedRequest::verify(&short, &p.payee_public()),
        Err(PayError::BadSignature)
    );
    // Appending an unknown field keeps the decoded values equal, but the bytes differ: the
    // signature covers bytes, not values.
    let mut extended = doc.clone();
    extended.body.extend_from_slice(&[0xF8, 0x06, 0x01]); // field 111, varint 1
    assert_eq!(
        SignedRequest::verify(&extended, &p.payee_public()),
        Err(PayError::BadSignature)
    );
}

#[test]
fn forged_signatures_are_rejected() {
    let mut p = Parties::new(2);
    let req = p.request("12.50 USD", false);
    // Mallory signs a copy of Alice's request with her own key.
    let mallory = Account::new(&mut ChaCha20Rng::seed_from_u64(7), NOW);
    let digest = DocumentDigest::of(req.body());
    let sig = mallory
        .sign_statement(REQUEST_SIGNATURE_CONTEXT, &digest.0)
        .unwrap();
    let doc = v1::SignedDocument {
        body: req.body().to_vec(),
        signature: sig.to_vec(),
    };
    assert_eq!(
        SignedRequest::verify(&doc, &p.payee_public()),
        Err(PayError::BadSignature)
    );
    // An all-zero signature.
    let zero = v1::SignedDocument {
        body: req.body().to_vec(),
        signature: vec![0; 64],
    };
    assert_eq!(
        SignedRequest::verify(&zero, &p.payee_public()),
        Err(PayError::BadSignature)
    );
}

#[test]
fn wrong_context_signatures_are_rejected() {
    let mut p = Parties::new(3);
    let req = p.request("12.50 USD", false);
    let digest = DocumentDigest::of(req.body());
    // The payee's own key, used outside `sign_statement` to make the statements it refuses.
    let payee_key = p.payee_key();
    let sign = |ctx: &[u8]| {
        let sig = payee_key.sign(&signed_statement(ctx, &digest));
        v1::SignedDocument {
            body: req.body().to_vec(),
            signature: sig.to_bytes().to_vec(),
        }
    };
    // Right key, receipt context: not a request signature.
    assert_eq!(
        SignedRequest::verify(&sign(RECEIPT_SIGNATURE_CONTEXT), &p.payee_public()),
        Err(PayError::BadSignature)
    );
    // No context at all (a bare hash), and the context without its NUL.
    assert_eq!(
        SignedRequest::verify(&sign(b""), &p.payee_public()),
        Err(PayError::BadSignature)
    );
    assert_eq!(
        SignedRequest::verify(&sign(b"remit.v1.payment-request"), &p.payee_public()),
        Err(PayError::BadSignature)
    );
    // Signing the body itself instead of the statement.
    let raw = payee_key.sign(req.body());
    let doc = v1::SignedDocument {
        body: req.body().to_vec(),
        signature: raw.to_bytes().to_vec(),
    };
    assert_eq!(
        SignedRequest::verify(&doc, &p.payee_public()),
        Err(PayError::BadSignature)
    );
    // A receipt signed under the request context is refused too.
    let n = p.payment(&req, "12.50 USD");
    let receipt = p.receipt(
        &req,
        &[n.payment_id],
        ReceiptOutcome::Settled,
        &Money::parse("12.50 USD").unwrap(),
    );
    let rd = DocumentDigest::of(receipt.body());
    let sig = payee_key.sign(&signed_statement(REQUEST_SIGNATURE_CONTEXT, &rd));
    let doc = v1::SignedDocument {
        body: receipt.body().to_vec(),
        signature: sig.to_bytes().to_vec(),
    };
    assert_eq!(
        SignedReceipt::verify(&doc, &p.payee_public()),
        Err(PayError::BadSignature)
    );
    assert!(SignedReceipt::verify(&receipt.to_document(), &p.payee_public()).is_ok());
}

#[test]
fn statement_layout_is_pinned() {
    let digest = DocumentDigest([0x11; 32]);
    let s = signed_statement(REQUEST_SIGNATURE_CONTEXT, &digest);
    assert_eq!(s.len(), 25 + 32);
    assert_eq!(&s[..25], b"remit.v1.payment-request\0");
    assert_eq!(
        signed_statement(RECEIPT_SIGNATURE_CONTEXT, &digest).len(),
        17 + 32
    );
    assert_eq!(DocumentDigest::of(b"abc").0[..4], [0xba, 0x78, 0x16, 0xbf]);
}

#[test]
fn a_request_naming_another_payee_is_refused() {
    // Mallory (the session peer) sends a request she signed, naming Alice as payee: phishing
    // with someone else's name and Mallory's destination.
    let p = Parties::new(4);
    let alice = p.payee_public();
    let mut wire = wire_of(&Parties::new(4).request("5.00 USD", false));
    wire.payee = alice.fingerprint().as_bytes().to_vec();
    let mallory_account = Account::new(&mut ChaCha20Rng::seed_from_u64(9), NOW);
    let mallory = LocalIdentity::new(&mallory_account);
    assert_eq!(
        sign_request_wire(&wire, &mallory).unwrap_err(),
        PayError::PayeeMismatch
    );
    // And Alice's genuine request relayed by Mallory fails Mallory's key.
    let mut p = Parties::new(4);
    let req = p.request("5.00 USD", false);
    assert_eq!(
        SignedRequest::verify(&req.to_document(), mallory.public()),
        Err(PayError::BadSignature)
    );
}

#[test]
fn request_payee_is_the_session_fingerprint_as_the_identity_design_says() {
    use sha2::{Digest, Sha256};
    let mut p = Parties::new(3);
    let req = p.request("1.00 USD", false);
    let id = p.payee_public();
    let mut h = Sha256::new();
    h.update(b"remit.v1.fingerprint\0");
    h.update(id.signing_key());
    h.update(id.agreement_key());
    let want: [u8; 32] = h.finalize().into();
    assert_eq!(req.request().payee.as_bytes(), &want);
    assert_eq!(req.request().payee, id.fingerprint());
    assert_eq!(wire_of(&req).payee, want.to_vec());
}

#[test]
fn payee_signature_is_the_session_statement_signature() {
    // What remit-pay signs is exactly what remit-session's verify_statement checks, and what
    // any Ed25519 library checks over context ‖ SHA-256(body).
    let mut p = Parties::new(13);
    let req = p.request("1.00 USD", false);
    let digest = DocumentDigest::of(req.body());
    assert!(p.payee_public().verify_statement(
        REQUEST_SIGNATURE_CONTEXT,
        &digest.0,
        req.signature()
    ));
    let key = ed25519_dalek::VerifyingKey::from_bytes(p.payee_public().signing_key()).unwrap();
    key.verify_strict(
        &signed_statement(REQUEST_SIGNATURE_CONTEXT, &digest),
        &ed25519_dalek::Signature::from_bytes(req.signature()),
    )
    .unwrap();
}

// ---- request validation (spec §4.1)

#[test]
fn request_limits_are_enforced() {
    let mut p = Parties::new(5);
    let base = wire_of(&p.request("1.00 USD", false));
    let check = |f: &dyn Fn(&mut v1::PaymentRequest), field: &str| {
        let mut w = base.clone();
        f(&mut w);
        let e = resign(&p, &w).unwrap_err();
        assert_eq!(field_of(&e), field, "{e:?}");
    };
    check(&|w| w.request_id = vec![1; 15], "request_id");
    check(&|w| w.kind = 0, "kind");
    check(&|w| w.kind = 9, "kind");
    check(&|w| w.amount = None, "amount");
    check(
        &|w| w.amount.as_mut().unwrap().minor_units = "0".into(),
        "amount",
    );
    check(
        &|w| w.amount.as_mut().unwrap().minor_units = "-1".into(),
        "amount",
    );
    check(
        &|w| w.amount.as_mut().unwrap().asset = "ETH".into(),
        "amount",
    );
    check(&|w| w.methods.clear(), "methods");
    check(
        &|w| w.methods = vec![w.methods[0].clone(); limits::MAX_METHODS + 1],
        "methods",
    );
    check(&|w| w.memo = "x".repeat(limits::MAX_MEMO_LEN + 1), "memo");
    check(
        &|w| w.payee_name = "x".repeat(limits::MAX_NAME_LEN + 1),
        "payee_name",
    );
    check(
        &|w| w.reference = "x".repeat(limits::MAX_REFERENCE_LEN + 1),
        "reference",
    );
    check(&|w| w.expires_at = w.created_at, "expires_at");
    check(
        &|w| w.expires_at = w.created_at + limits::MAX_REQUEST_LIFETIME_SECS + 1,
        "expires_at",
    );
    check(
        &|w| w.invoice = Some(v1::InvoiceDetails::default()),
        "invoice",
    );
    check(&|w| w.kind = v1::RequestKind::Invoice.into(), "invoice");
    check(
        &|w| {
            w.methods[0] = v1::PaymentMethod {
                destination: Some(v1::payment_method::Destination::OnChain(
                    v1::OnChainAddress {
                        chain: "eip155".into(),
                        address: "0xabc".into(),
                    },
                )),
            }
        },
        "methods.on_chain.chain",
    );
    check(
        &|w| {
            w.methods[0] = v1::PaymentMethod {
                destination: Some(v1::payment_method::Destination::OnChain(
                    v1::OnChainAddress {
                        chain: "eip155:1".into(),
                        address: "0xab\u{202e}c".into(),
                    },
                )),
            }
        },
        "methods.on_chain.address",
    );
    check(
        &|w| {
            w.methods[0] = v1::PaymentMethod {
                destination: Some(v1::payment_method::Destination::Lightning("bc1qxyz".into())),
            }
        },
        "methods.lightning",
    );
    check(
        &|w| w.methods[0] = v1::PaymentMethod { destination: None },
        "methods.destination",
    );
    // Limits are inclusive.
    let mut w = base.clone();
    w.memo = "x".repeat(limits::MAX_MEMO_LEN);
    w.expires_at = w.created_at + limits::MAX_REQUEST_LIFETIME_SECS;
    assert!(resign(&p, &w).is_ok());
    let _ = p.id();
}

#[test]
fn free_text_is_stripped_of_controls_and_bidi_overrides() {
    let p = Parties::new(6);
    let mut w = wire_of(&Parties::new(6).request("1.00 USD", false));
    w.memo = "Pay \u{202E}lapyap\u{202C} now\r\n\u{1b}[2Jsecond line\u{200B}".into();
    w.payee_name = "Bank\u{2066} of\nTrust".into();
    let r = resign(&p, &w).unwrap();
    assert_eq!(r.request().memo, "Pay lapyap now\n[2Jsecond line");
    assert_eq!(r.request().payee_name, "Bank ofTrust");
    // The signature still covers the bytes as sent.
    assert_eq!(wire_of(&r).memo, w.memo);
}

#[test]
fn lightning_preimage_must_match_its_hash() {
    use sha2::{Digest, Sha256};
    let mut p = Parties::new(7);
    let mut d = draft("1.00 USD", false);
    d.methods = vec![PaymentMethod::Lightning("lnbc10u1pjexample".into())];
    let req = d
        .sign(&LocalIdentity::new(&p.payee_account), &mut p.rng)
        .unwrap();
    let preimage = [5u8; 32];
    let hash: [u8; 32] = Sha256::digest(preimage).into();
    let good = Settlement::Lightning {
        payment_hash: hash,
        preimage: Some(preimage),
    };
    assert!(
        Notice::payment(
            &req,
            Money::parse("1.00 USD").unwrap(),
            0,
            good,
            "",
            &mut p.rng
        )
        .is_ok()
    );
    let bad = Settlement::Lightning {
        payment_hash: hash,
        preimage: Some([6; 32]),
    };
    let e = Notice::payment(
        &req,
        Money::parse("1.00 USD").unwrap(),
        0,
        bad,
        "",
        &mut p.rng,
    )
    .unwrap_err();
    assert_eq!(field_of(&e), "settlement.lightning.preimage");
}

#[test]
fn notice_fields_are_validated() {
    let mut p = Parties::new(8);
    let req = p.request("1.00 USD", false);
    let base = p.payment(&req, "1.00 USD").to_wire();
    let check = |f: &dyn Fn(&mut v1::PaymentNotice), field: &str| {
        let mut w = base.clone();
        f(&mut w);
        let e = Notice::from_wire(&w).unwrap_err();
        assert_eq!(field_of(&e), field, "{e:?}");
    };
    check(&|w| w.payment_id = vec![], "payment_id");
    check(&|w| w.kind = 0, "kind");
    check(&|w| w.request_digest = vec![0; 31], "request_digest");
    check(
        &|w| w.amount.as_mut().unwrap().minor_units = "0".into(),
        "amount",
    );
    check(&|w| w.settlement = None, "settlement");
    check(&|w| w.note = "x".repeat(limits::MAX_MEMO_LEN + 1), "note");
    check(&|w| w.refund_of = vec![1; 16], "refund_of");
    check(
        &|w| {
            w.kind = v1::NoticeKind::Refund.into();
            w.method_index = 0;
            w.refund_of = vec![];
        },
        "refund_of",
    );
    check(
        &|w| {
            w.kind = v1::NoticeKind::Refund.into();
            w.method_index = 1;
            w.refund_of = vec![1; 16];
        },
        "method_index",
    );
    let mut v2 = base.clone();
    v2.version = 2;
    assert!(matches!(Notice::from_wire(&v2), Err(PayError::Decode(_))));
}

// ---- invoices (spec §4.2)

#[test]
fn a_correct_invoice_adds_up() {
    let mut p = Parties::new(9);
    let inv = p.invoice();
    let i = inv.request().invoice.as_ref().unwrap();
    assert_eq!(inv.request().kind, RequestKind::Invoice);
    assert_eq!(i.subtotal.to_string(), "65.00 USD");
    assert_eq!(i.items[1].amount.to_string(), "15.00 USD");
    assert_eq!(i.total.to_string(), "101.76 USD");
    assert_eq!(i.amount_due, inv.request().amount);
}

#[test]
fn invoice_arithmetic_is_checked() {
    let mut p = Parties::new(10);
    let base = wire_of(&p.invoice());
    let usd = |s: &str| Some(Money::parse(&format!("{s} USD")).unwrap().to_wire());
    let check = |f: &dyn Fn(&mut v1::InvoiceDetails), field: &str| {
        let mut w = base.clone();
        f(w.invoice.as_mut().unwrap());
        let e = resign(&p, &w).unwrap_err();
        assert_eq!(field_of(&e), field, "{e:?}");
    };
    check(
        &|i| i.items[0].amount = usd("50.01"),
        "invoice.items.amount",
    );
    check(
        &|i| i.items[1].unit_price = usd("10.01"),
        "invoice.items.amount",
    ); // 15.015: inexact
    check(
        &|i| i.items[1].quantity = "1.5e0".into(),
        "invoice.items.quantity",
    );
    check(
        &|i| i.items[1].quantity = "0".into(),
        "invoice.items.quantity",
    );
    check(
        &|i| i.items[1].quantity = "-1".into(),
        "invoice.items.quantity",
    );
    check(
        &|i| i.items[1].quantity = "1.0000001".into(),
        "invoice.items.quantity",
    );
    check(&|i| i.subtotal = usd("65.01"), "invoice.subtotal");
    check(&|i| i.discount = usd("4.00"), "invoice.discount");
    check(&|i| i.tax = usd("41.75"), "invoice.tax");
    check(&|i| i.total = usd("101.75"), "invoice.total");
    check(&|i| i.amount_due = usd("101.75"), "invoice.amount_due");
    check(
        &|i| {
            i.credits = usd("1.00");
        },
        "invoice.amount_due",
    );
    check(&|i| i.items.clear(), "invoice.items");
    check(
        &|i| i.items = vec![i.items[0].clone(); limits::MAX_LINE_ITEMS + 1],
        "invoice.items",
    );
    check(
        &|i| i.items[0].description = "\u{202e}".into(),
        "invoice.items.description",
    );
    check(&|i| i.number = String::new(), "invoice.number");
    check(&|i| i.due_at = i.issued_at - 1, "invoice.due_at");
    check(
        &|i| i.items[0].amount = Some(Money::parse("50.00 EUR").unwrap().to_wire()),
        "invoice.items.amount",
    );
    // The request amount must be the amount due.
    let mut w = base.clone();
    w.amount = usd("100.00");
    assert_eq!(field_of(&resign(&p, &w).unwrap_err()), "amount");
    // Credits reduce the amount due consistently.
    let mut w = base.clone();
    let i = w.invoice.as_mut().unwrap();
    i.credits = usd("1.76");
    i.amount_due = usd("100.00");
    w.amount = usd("100.00");
    assert!(resign(&p, &w).is_ok());
}

#[test]
fn invoice_draft_amount_must_be_the_amount_due() {
    let mut p = Parties::new(11);
    let mut d = draft("100.00 USD", false);
    d.invoice = Some(invoice_draft());
    let e = d
        .sign(&LocalIdentity::new(&p.payee_account), &mut p.rng)
        .unwrap_err();
    assert_eq!(field_of(&e), "amount");
}

// ---- the content envelope

#[test]
fn every_message_type_round_trips_through_content() {
    let mut p = Parties::new(12);
    let req = p.request("12.50 USD", true);
    let n = p.payment(&req, "12.50 USD");
    let messages: Vec<PaymentMessage> = vec![
        req.clone().into(),
        p.invoice().into(),
        n.clone().into(),
        p.refund(&req, n.payment_id, Money::parse("1.00 USD").unwrap())
            .into(),
        p.receipt(
            &req,
            &[n.payment_id],
            ReceiptOutcome::Settled,
            &Money::parse("12.50 USD").unwrap(),
        )
        .into(),
        Decline::new(&req, DeclineReason::UnknownPayee, "who are you?")
            .unwrap()
            .into(),
        Cancel::new(&req, CancelReason::Replaced, "new request coming")
            .unwrap()
            .into(),
    ];
    for m in messages {
        let id = p.id();
        let bytes = seal(id, &m).unwrap();
        let got = open(&bytes, &p.payee_public()).unwrap();
        assert_eq!(got.message_id, id);
        assert_eq!(got.body, Incoming::Payment(m));
    }
    let reply = ProtocolErrorReply::for_error([3; 16], &PayError::BadSignature);
    let bytes = remit_wire::encode(&content_for_error([4; 16], &reply)).unwrap();
    let got = open(&bytes, &p.payee_public()).unwrap();
    assert_eq!(got.body, Incoming::Error(reply));
    assert_eq!(
        ProtocolErrorReply::for_error([0; 16], &PayError::PayeeMismatch).code,
        ErrorCode::PayeeMismatch
    );
}

#[test]
fn requests_and_receipts_from_the_payer_side_fail_signature_checks() {
    // The payer cannot send a request or receipt that a payee-signature check accepts: it is
    // checked under the session peer's key, and the payee field must be that peer.
    let mut p = Parties::new(13);
    let req = p.request("1.00 USD", false);
    let bytes = seal([1; 16], &req.clone().into()).unwrap();
    let payer = *p.payer().public();
    assert_eq!(open(&bytes, &payer), Err(PayError::BadSignature));
}

#[test]
fn text_and_malformed_content() {
    let p = Parties::new(14);
    let content = v1::Content {
        version: 1,
        message_id: vec![1; 16],
        body: Some(v1::content::Body::Text(v1::Text {
            body: "hi\u{202e}!".into(),
        })),
    };
    let got = open(&remit_wire::encode(&content).unwrap(), &p.payee_public()).unwrap();
    assert_eq!(got.body, Incoming::Text("hi!".into()));
    assert!(matches!(
        open(&[0xff, 0xff], &p.payee_public()),
        Err(PayError::Decode(_))
    ));
    let mut c = content.clone();
    c.message_id = vec![1; 3];
    assert!(matches!(
        open_content(&c, &p.payee_public()),
        Err(PayError::InvalidField {
            field: "message_id",
            ..
        })
    ));
    let decline = v1::Content {
        version: 1,
        message_id: vec![1; 16],
        body: Some(v1::content::Body::Decline(v1::Decline {
            request_id: vec![1; 16],
            request_digest: vec![2; 31],
            reason: String::new(),
            reason_code: v1::DeclineReason::Other.into(),
        })),
    };
    assert!(matches!(
        open_content(&decline, &p.payee_public()),
        Err(PayError::InvalidField {
            field: "request_digest",
            ..
        })
    ));
}

// ---- decline and cancel reason codes (spec §4.5)

#[test]
fn every_decline_and_cancel_reason_round_trips() {
    let mut p = Parties::new(21);
    let req = p.request("1.00 USD", false);
    for code in DeclineReason::ALL {
        let m: PaymentMessage = Decline::new(&req, code, "because").unwrap().into();
        let got = open(&seal([3; 16], &m).unwrap(), &p.payee_public()).unwrap();
        assert_eq!(got.body, Incoming::Payment(m));
    }
    for code in CancelReason::ALL {
        let m: PaymentMessage = Cancel::new(&req, code, "").unwrap().into();
        let got = open(&seal([3; 16], &m).unwrap(), &p.payee_public()).unwrap();
        assert_eq!(got.body, Incoming::Payment(m));
    }
    // The wire values are the proto's, one per variant.
    let wire: Vec<i32> = DeclineReason::ALL
        .iter()
        .map(|c| Decline::new(&req, *c, "").unwrap().to_wire().reason_code)
        .collect();
    assert_eq!(wire, [1, 2, 3, 4, 5, 6, 7]);
    let wire: Vec<i32> = CancelReason::ALL
        .iter()
        .map(|c| Cancel::new(&req, *c, "").unwrap().to_wire().reason_code)
        .collect();
    assert_eq!(wire, [1, 2, 3, 4, 5, 6]);
}

#[test]
fn unspecified_or_unknown_reason_codes_are_refused() {
    let mut p = Parties::new(22);
    let req = p.request("1.00 USD", false);
    let refused = PayError::InvalidField {
        field: "reason_code",
        reason: "unknown or unspecified",
    };
    for bad in [0, 8, 99, -1, i32::MAX] {
        let mut d = Decline::new(&req, DeclineReason::Other, "x")
            .unwrap()
            .to_wire();
        d.reason_code = bad;
        assert_eq!(
            Decline::from_wire(&d),
            Err(refused.clone()),
            "decline {bad}"
        );
        let content = v1::Content {
            version: 1,
            message_id: vec![1; 16],
            body: Some(v1::content::Body::Decline(d)),
        };
        // Through the whole path, from bytes (prost keeps the unknown value as an i32).
        let bytes = remit_wire::encode(&content).unwrap();
        assert_eq!(open(&bytes, &p.payee_public()), Err(refused.clone()));
    }
    for bad in [0, 7, 99, -1] {
        let mut c = Cancel::new(&req, CancelReason::Other, "x")
            .unwrap()
            .to_wire();
        c.reason_code = bad;
        assert_eq!(Cancel::from_wire(&c), Err(refused.clone()), "cancel {bad}");
    }
    // A decline from a sender that does not know the field at all: the code is absent (0).
    let legacy = v1::Decline {
        request_id: req.request().request_id.to_vec(),
        request_digest: req.digest().0.to_vec(),
        reason: "no code".into(),
        reason_code: 0,
    };
    assert_eq!(Decline::from_wire(&legacy), Err(refused.clone()));
    // The reply names the field.
    assert_eq!(refused.code(), ErrorCode::InvalidField);
    assert_eq!(refused.field(), "reason_code");
}
