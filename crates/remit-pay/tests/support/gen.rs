//! The known-answer vector generator of spec/vectors/payments-*.json, used by `tests/vectors.rs`
//! (which regenerates them and compares byte for byte, and writes them when
//! `REMIT_WRITE_VECTORS=1`). Everything is derived from one seeded ChaCha20Rng: first the payee's
//! `remit_session::Account`, then every id, in order.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use rand::{SeedableRng, rngs::ChaCha20Rng};
use remit_pay::{
    CancelReason, Decline, DeclineReason, DocumentDigest, LocalIdentity, Money, Notice, PayError,
    PaymentMessage, PaymentMethod, ProtocolErrorReply, RECEIPT_SIGNATURE_CONTEXT,
    REQUEST_SIGNATURE_CONTEXT, ReceiptOutcome, RequestDraft, Settlement, SignedReceipt,
    SignedRequest, content_for_error,
    internal::{content_for, sample_invoice, signed_statement},
    new_id,
};
use remit_session::Account;
use serde_json::{Value, json};

/// The clock of every vector.
pub(crate) const NOW: u64 = 1_767_225_600; // 2026-01-01T00:00:00Z
/// The rng seed.
pub(crate) const SEED: u64 = 0x5245_4d49_5450_4159; // "REMITPAY"

fn usd(s: &str) -> Money {
    Money::parse(&format!("{s} USD")).expect("vector amount")
}

fn content_hex(message_id: [u8; 16], m: &PaymentMessage) -> String {
    hex::encode(remit_wire::encode(&content_for(message_id, m)).expect("encodes"))
}

fn signed(kind: &str, context: &[u8], body: &[u8], signature: &[u8; 64]) -> Value {
    let digest = DocumentDigest::of(body);
    json!({
        "document": kind,
        "body": hex::encode(body),
        "body_sha256": hex::encode(digest.0),
        "signature_context": String::from_utf8_lossy(context).replace('\0', "\\0"),
        "statement": hex::encode(signed_statement(context, &digest)),
        "signature": hex::encode(signature),
    })
}

/// Every vector file: (file name, contents).
pub(crate) fn generate() -> Result<Vec<(String, String)>, PayError> {
    let mut rng = ChaCha20Rng::seed_from_u64(SEED);
    let account = Account::new(&mut rng, NOW);
    let payee = LocalIdentity::new(&account);
    let public = payee.public();
    // The Ed25519 seed of IK_sig, so that another implementation can reproduce the
    // (deterministic) signatures: offset 6 of the account record (spec/ratchet.md §6.3).
    let record = account.to_bytes();
    let identity = json!({
        "account": format!("remit_session::Account::new(rng, {NOW}), the first use of rng"),
        "payee_ed25519_secret_seed": hex::encode(&record[6..38]),
        "payee_ed25519_public": hex::encode(public.signing_key()),
        "payee_x25519_public": hex::encode(public.agreement_key()),
        "payee_binding_signature": hex::encode(public.as_wire().binding_signature),
        "payee_fingerprint": hex::encode(public.fingerprint().as_bytes()),
        "now": NOW,
        "rng": format!("ChaCha20Rng::seed_from_u64({SEED:#x})"),
    });

    let request = RequestDraft {
        amount: usd("12.50"),
        methods: vec![
            PaymentMethod::Provider {
                provider: "examplepay".into(),
                account: "@alice".into(),
            },
            PaymentMethod::OnChain {
                chain: "eip155:1".into(),
                address: "0x00000000219ab540356cbb839cbe05303d7705fa".into(),
            },
            PaymentMethod::Lightning(
                "lno1qgsqvgnwgcg35z6ee2h3yczraddm72xrfua9uve2rlrm9deu7xyfzrc".into(),
            ),
            PaymentMethod::Bank {
                holder: "Alice Example".into(),
                account: "DE89370400440532013000".into(),
                routing: "COBADEFFXXX".into(),
            },
        ],
        memo: "Dinner on Friday".into(),
        reference: "order-17".into(),
        payee_name: "Alice".into(),
        created_at: NOW,
        expires_at: NOW + 7 * 86_400,
        allow_partial: true,
        invoice: None,
    }
    .sign(&payee, &mut rng)?;

    let invoice = RequestDraft {
        amount: usd("101.76"),
        methods: vec![PaymentMethod::Bank {
            holder: "Alice Design Ltd".into(),
            account: "DE89370400440532013000".into(),
            routing: String::new(),
        }],
        memo: "Thank you for your business".into(),
        reference: String::new(),
        payee_name: "Alice Design Ltd".into(),
        created_at: NOW,
        expires_at: NOW + 60 * 86_400,
        allow_partial: false,
        invoice: Some(sample_invoice(NOW)),
    }
    .sign(&payee, &mut rng)?;

    let payment = Notice::payment(
        &request,
        usd("12.50"),
        0,
        Settlement::Provider {
            provider: "examplepay".into(),
            transfer_id: "tr_0001".into(),
        },
        "Thanks!",
        &mut rng,
    )?;
    let refund = Notice::refund(
        &request,
        payment.payment_id,
        usd("2.50"),
        Settlement::Provider {
            provider: "examplepay".into(),
            transfer_id: "tr_0002".into(),
        },
        "Your share of the tip",
        &mut rng,
    )?;
    let receipt = SignedReceipt::sign(
        &payee,
        &request,
        &[payment.payment_id],
        ReceiptOutcome::Settled,
        &usd("12.50"),
        NOW + 3600,
        &mut rng,
    )?;
    let decline = Decline::new(&request, DeclineReason::UnknownPayee, "I don't know you")?;
    let cancel = remit_pay::Cancel::new(&request, CancelReason::IssuedInError, "Wrong amount")?;
    let error_reply = ProtocolErrorReply::for_error(new_id(&mut rng), &PayError::BadSignature);

    let mut files = Vec::new();
    let mut put = |name: &str, description: &str, mut v: Value| {
        if let Value::Object(map) = &mut v {
            map.insert("description".into(), json!(description));
            map.insert("identity".into(), identity.clone());
        }
        let text = serde_json::to_string_pretty(&v).unwrap_or_default() + "\n";
        files.push((format!("payments-{name}.json"), text));
    };

    let doc = |r: &SignedRequest| {
        signed(
            "PaymentRequest",
            REQUEST_SIGNATURE_CONTEXT,
            r.body(),
            r.signature(),
        )
    };
    let msg_id = |rng: &mut ChaCha20Rng| new_id(rng);

    let id = msg_id(&mut rng);
    put(
        "request",
        "A PaymentRequest (kind REQUEST) signed by the payee, and the Content carrying it.",
        json!({
            "request": doc(&request),
            "message_id": hex::encode(id),
            "content": content_hex(id, &request.clone().into()),
            "display": { "amount": request.request().amount.to_string() },
        }),
    );
    let id = msg_id(&mut rng);
    put(
        "invoice",
        "A PaymentRequest of kind INVOICE: 2 x 25.00 + 1.5 x 10.00 - 5.00 + 12.00 + 29.76 = 101.76 USD.",
        json!({
            "request": doc(&invoice),
            "message_id": hex::encode(id),
            "content": content_hex(id, &invoice.clone().into()),
            "display": { "amount": invoice.request().amount.to_string() },
        }),
    );
    let id = msg_id(&mut rng);
    put(
        "notice",
        "A PaymentNotice of kind PAYMENT for the request vector (request_digest = its body_sha256).",
        json!({
            "request_digest": hex::encode(request.digest().0),
            "payment_id": hex::encode(payment.payment_id),
            "message_id": hex::encode(id),
            "content": content_hex(id, &payment.clone().into()),
        }),
    );
    let id = msg_id(&mut rng);
    put(
        "refund",
        "A PaymentNotice of kind REFUND (payee to payer) of part of the notice vector's payment.",
        json!({
            "refund_of": hex::encode(payment.payment_id),
            "message_id": hex::encode(id),
            "content": content_hex(id, &refund.clone().into()),
        }),
    );
    let id = msg_id(&mut rng);
    put(
        "receipt",
        "A Receipt (SETTLED) signed by the payee, covering the notice vector's payment.",
        json!({
            "receipt": signed("Receipt", RECEIPT_SIGNATURE_CONTEXT, receipt.body(), receipt.signature()),
            "message_id": hex::encode(id),
            "content": content_hex(id, &receipt.clone().into()),
        }),
    );
    let id = msg_id(&mut rng);
    put(
        "decline",
        "A Decline (reason code UNKNOWN_PAYEE) of the request vector.",
        json!({
            "reason_code": remit_wire::v1::DeclineReason::try_from(decline.to_wire().reason_code)
                .map(|c| c.as_str_name())
                .unwrap_or_default(),
            "message_id": hex::encode(id),
            "content": content_hex(id, &decline.clone().into()),
        }),
    );
    let id = msg_id(&mut rng);
    put(
        "cancel",
        "A Cancel (reason code ISSUED_IN_ERROR) of the request vector.",
        json!({
            "reason_code": remit_wire::v1::CancelReason::try_from(cancel.to_wire().reason_code)
                .map(|c| c.as_str_name())
                .unwrap_or_default(),
            "message_id": hex::encode(id),
            "content": content_hex(id, &cancel.clone().into()),
        }),
    );
    let id = msg_id(&mut rng);
    put(
        "error",
        "A ProtocolError (BAD_SIGNATURE, field \"signature\") about another message.",
        json!({
            "message_id": hex::encode(id),
            "content": hex::encode(remit_wire::encode(&content_for_error(id, &error_reply)).unwrap_or_default()),
        }),
    );

    let money_ok: Vec<Value> = [
        "12.50 USD", "0.01 USD", "7 JPY", "0.001 KWD", "0.000000000000000001 ETH",
        "120000000 ETH", "21000000.00000000 BTC", "1.5 USDC",
    ]
    .iter()
    .map(|s| {
        let m = Money::parse(s).unwrap_or_else(|_| usd("0"));
        json!({ "input": s, "asset": m.asset().as_str(), "minor_units": m.minor().to_string(), "scale": m.scale(), "formatted": m.to_string() })
    })
    .collect();
    let money_err: Vec<Value> = [
        (" USD", "Empty"),
        ("-1 USD", "Negative"),
        ("1e3 USD", "Exponent"),
        ("12.5.0 USD", "MultiplePoints"),
        (".5 USD", "MissingDigits"),
        ("5. USD", "MissingDigits"),
        ("1,000 USD", "InvalidCharacter"),
        ("+1 USD", "InvalidCharacter"),
        ("12.501 USD", "TooManyDecimals"),
        ("1 XYZ", "UnknownAsset"),
        ("340282366920938463463374607431768211456 JPY", "Overflow"),
        (
            "340282366920938463.463374607431768211456 ETH",
            "TooManyDecimals",
        ),
        ("340282366920938463464 ETH", "Overflow"),
    ]
    .iter()
    .map(|(s, e)| json!({ "input": s, "error": e }))
    .collect();
    put(
        "money",
        "Human amount parsing: accepted inputs with their exact wire form, and rejected inputs with the error kind.",
        json!({
            "accept": money_ok,
            "reject": money_err,
        }),
    );
    Ok(files)
}
