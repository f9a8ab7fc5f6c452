//! Shared fixtures for the remit-pay integration tests.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::collections::HashMap;

use ed25519_dalek::SigningKey;
use rand::{SeedableRng, rngs::ChaCha20Rng};
use remit_pay::*;
use remit_session::{Account, VerifiedIdentity};

pub const NOW: u64 = 1_700_000_000;
pub const DAY: u64 = 86_400;

pub struct Parties {
    pub payee_account: Account,
    pub payer_account: Account,
    pub rng: ChaCha20Rng,
}

/// The Ed25519 identity key of `account`, read from its record (spec/ratchet.md §6.3: the seed
/// is at offset 6). Only tests do this: they forge signatures under the right key with the
/// wrong statement, which `Account::sign_statement` rightly refuses to make.
pub fn identity_signing_key(account: &Account) -> SigningKey {
    let record = account.to_bytes();
    let key = SigningKey::from_bytes(&record[6..38].try_into().unwrap());
    assert_eq!(
        key.verifying_key().as_bytes(),
        account.identity().signing_key()
    );
    key
}

impl Parties {
    pub fn new(seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        Self {
            payee_account: Account::new(&mut rng, NOW),
            payer_account: Account::new(&mut rng, NOW),
            rng,
        }
    }

    pub fn payee(&self) -> LocalIdentity<'_> {
        LocalIdentity::new(&self.payee_account)
    }

    pub fn payer(&self) -> LocalIdentity<'_> {
        LocalIdentity::new(&self.payer_account)
    }

    pub fn payee_public(&self) -> VerifiedIdentity {
        *self.payee_account.identity()
    }

    pub fn payee_key(&self) -> SigningKey {
        identity_signing_key(&self.payee_account)
    }

    pub fn request(&mut self, amount: &str, allow_partial: bool) -> SignedRequest {
        let draft = draft(amount, allow_partial);
        draft
            .sign(&LocalIdentity::new(&self.payee_account), &mut self.rng)
            .unwrap()
    }

    pub fn invoice(&mut self) -> SignedRequest {
        let mut d = draft("0 USD", false);
        let inv = invoice_draft();
        d.amount = Money::parse("101.76 USD").unwrap();
        d.expires_at = NOW + 60 * DAY;
        d.invoice = Some(inv);
        d.sign(&LocalIdentity::new(&self.payee_account), &mut self.rng)
            .unwrap()
    }

    pub fn id(&mut self) -> Id {
        new_id(&mut self.rng)
    }

    pub fn payment(&mut self, request: &SignedRequest, amount: &str) -> Notice {
        let s = provider_settlement(&format!("tx-{}", hex::encode(self.id())));
        Notice::payment(
            request,
            Money::parse(amount).unwrap(),
            0,
            s,
            "sent",
            &mut self.rng,
        )
        .unwrap()
    }

    pub fn refund(&mut self, request: &SignedRequest, of: Id, amount: Money) -> Notice {
        let s = provider_settlement(&format!("rf-{}", hex::encode(self.id())));
        Notice::refund(request, of, amount, s, "refund", &mut self.rng).unwrap()
    }

    pub fn receipt(
        &mut self,
        request: &SignedRequest,
        ids: &[Id],
        outcome: ReceiptOutcome,
        received: &Money,
    ) -> SignedReceipt {
        SignedReceipt::sign(
            &LocalIdentity::new(&self.payee_account),
            request,
            ids,
            outcome,
            received,
            NOW + 100,
            &mut self.rng,
        )
        .unwrap()
    }
}

pub fn provider_settlement(id: &str) -> Settlement {
    Settlement::Provider {
        provider: "examplepay".into(),
        transfer_id: id.into(),
    }
}

pub fn draft(amount: &str, allow_partial: bool) -> RequestDraft {
    RequestDraft {
        amount: Money::parse(amount).unwrap(),
        methods: vec![
            PaymentMethod::Provider {
                provider: "examplepay".into(),
                account: "@alice".into(),
            },
            PaymentMethod::OnChain {
                chain: "eip155:1".into(),
                address: "0x00000000219ab540356cbb839cbe05303d7705fa".into(),
            },
        ],
        memo: "dinner on friday".into(),
        reference: "order-17".into(),
        payee_name: "Alice".into(),
        created_at: NOW,
        expires_at: NOW + 7 * DAY,
        allow_partial,
        invoice: None,
    }
}

/// The shared sample invoice, issued at [`NOW`] (total and amount due 101.76 USD).
pub fn invoice_draft() -> InvoiceDraft {
    internal::sample_invoice(NOW)
}

/// A verifier with a script: per payment id, a verdict; default "settled for the claimed
/// amount".
#[derive(Default)]
pub struct Script {
    pub verdicts: HashMap<Id, Verification>,
    pub calls: usize,
}

impl SettlementVerifier for Script {
    fn verify(&mut self, _request: &PaymentRequest, notice: &Notice) -> Verification {
        self.calls += 1;
        self.verdicts
            .get(&notice.payment_id)
            .cloned()
            .unwrap_or_else(|| Verification::Settled(notice.amount.clone()))
    }
}

pub fn settle_all(thread: &mut PaymentThread) -> ThreadState {
    thread
        .verify_settlements(&mut Script::default(), NOW + 10)
        .unwrap()
}
