//! Payment messages: validated typed views of the decoded protobuf, the payee's signatures, and
//! builders that produce exactly what a receiver accepts.
//!
//! Every view is built by one `from_wire`/`verify` function that checks each field against
//! [`crate::limits`]; a builder encodes its draft and runs it back through the same function, so
//! this crate never emits a message it would refuse.

use rand_core::CryptoRng;
use remit_wire::{limits::ID_LEN, payment, v1};
use sha2::{Digest as _, Sha256};

use crate::error::PayError;
use crate::identity::{
    DocumentDigest, Fingerprint, LocalIdentity, PeerIdentity, RECEIPT_SIGNATURE_CONTEXT,
    REQUEST_SIGNATURE_CONTEXT,
};
use crate::limits::{
    MAX_ACCOUNT_LEN, MAX_ADDRESS_LEN, MAX_ADJUSTMENTS, MAX_DESCRIPTION_LEN, MAX_END_TO_END_ID_LEN,
    MAX_FIELD_NAME_LEN, MAX_HOLDER_LEN, MAX_INVOICE_LIFETIME_SECS, MAX_ISSUER_LEN,
    MAX_LIGHTNING_LEN, MAX_LINE_ITEMS, MAX_MEMO_LEN, MAX_METHODS, MAX_NAME_LEN, MAX_PAYMENTS,
    MAX_PROVIDER_ACCOUNT_LEN, MAX_PROVIDER_LEN, MAX_QUANTITY_DECIMALS, MAX_QUANTITY_LEN,
    MAX_RAIL_REF_LEN, MAX_REFERENCE_LEN, MAX_REQUEST_LIFETIME_SECS, MAX_ROUTING_LEN, MAX_TEXT_LEN,
};
use crate::money::{Decimal, Money, MoneyError, is_caip2};
use crate::text::sanitize;

/// A 16-byte random id (request, payment, receipt, message).
pub type Id = [u8; ID_LEN];

/// A fresh random 16-byte id.
pub fn new_id<R: CryptoRng + ?Sized>(rng: &mut R) -> Id {
    let mut id = [0u8; ID_LEN];
    rng.fill_bytes(&mut id);
    id
}

/// Who a party is in a payment thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Asks for and receives the money; signs requests and receipts.
    Payee,
    /// Pays.
    Payer,
}

impl Role {
    /// The other party's role.
    #[must_use]
    pub fn other(self) -> Self {
        match self {
            Self::Payee => Self::Payer,
            Self::Payer => Self::Payee,
        }
    }
}

/// The kinds of payment message a thread handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// `PaymentRequest` (either kind). Payee only.
    Request,
    /// `PaymentNotice` of kind PAYMENT. Payer only.
    Payment,
    /// `PaymentNotice` of kind REFUND. Payee only.
    Refund,
    /// `Receipt`. Payee only.
    Receipt,
    /// `Decline`. Payer only.
    Decline,
    /// `Cancel`. Payee only.
    Cancel,
}

impl MessageKind {
    /// Every kind, for exhaustive tests.
    pub const ALL: [Self; 6] = [
        Self::Request,
        Self::Payment,
        Self::Refund,
        Self::Receipt,
        Self::Decline,
        Self::Cancel,
    ];

    /// The one role allowed to send this kind.
    #[must_use]
    pub fn sender(self) -> Role {
        match self {
            Self::Payment | Self::Decline => Role::Payer,
            Self::Request | Self::Refund | Self::Receipt | Self::Cancel => Role::Payee,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Field helpers.

fn id16(field: &'static str, bytes: &[u8]) -> Result<Id, PayError> {
    Id::try_from(bytes).map_err(|_| PayError::invalid(field, "must be 16 bytes"))
}

fn bytes32(field: &'static str, bytes: &[u8]) -> Result<[u8; 32], PayError> {
    <[u8; 32]>::try_from(bytes).map_err(|_| PayError::invalid(field, "must be 32 bytes"))
}

fn too_long(field: &'static str, len: usize, max: usize) -> Result<(), PayError> {
    if len > max {
        Err(PayError::TooLong { field, len, max })
    } else {
        Ok(())
    }
}

/// Free text: at most `max` bytes as received, then stripped (spec §3.3).
fn text(field: &'static str, s: &str, max: usize, multiline: bool) -> Result<String, PayError> {
    too_long(field, s.len(), max)?;
    Ok(sanitize(s, multiline))
}

/// Free text that must not be empty once stripped.
fn required_text(field: &'static str, s: &str, max: usize) -> Result<String, PayError> {
    let t = text(field, s, max, false)?;
    if t.trim().is_empty() {
        return Err(PayError::invalid(field, "required"));
    }
    Ok(t)
}

/// A machine token (address, account number, txid): `min..=max` printable ASCII bytes, no
/// spaces. Never sanitized: a token with a hidden character is refused, not repaired.
fn token(field: &'static str, s: &str, min: usize, max: usize) -> Result<String, PayError> {
    too_long(field, s.len(), max)?;
    if s.len() < min {
        return Err(PayError::invalid(field, "required"));
    }
    if !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(PayError::invalid(
            field,
            "must be printable ASCII without spaces",
        ));
    }
    Ok(s.to_owned())
}

fn money(field: &'static str, m: Option<&v1::Money>) -> Result<Money, PayError> {
    let m = m.ok_or(PayError::invalid(field, "required"))?;
    Money::from_wire(m).map_err(PayError::money(field))
}

fn money_like(
    field: &'static str,
    m: Option<&v1::Money>,
    reference: &Money,
) -> Result<Money, PayError> {
    let m = money(field, m)?;
    if m.same_unit(reference) {
        Ok(m)
    } else {
        Err(PayError::Money {
            field,
            source: MoneyError::AssetMismatch,
        })
    }
}

fn add(field: &'static str, a: &Money, b: &Money) -> Result<Money, PayError> {
    a.checked_add(b).map_err(PayError::money(field))
}

fn chain(field: &'static str, s: &str) -> Result<String, PayError> {
    if is_caip2(s) {
        Ok(s.to_owned())
    } else {
        Err(PayError::invalid(field, "not a CAIP-2 chain id"))
    }
}

// ---------------------------------------------------------------------------------------------
// Payment methods and settlements.

/// A rail-specific destination, bound to the payee by the request signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaymentMethod {
    /// An on-chain address.
    OnChain {
        /// CAIP-2 chain id.
        chain: String,
        /// Address text.
        address: String,
    },
    /// A BOLT 11 invoice or BOLT 12 offer.
    Lightning(String),
    /// A bank account.
    Bank {
        /// Holder name (stripped free text).
        holder: String,
        /// IBAN or account number.
        account: String,
        /// BIC or routing code, may be empty.
        routing: String,
    },
    /// An account at a payment provider.
    Provider {
        /// Provider name.
        provider: String,
        /// Account handle.
        account: String,
    },
}

impl PaymentMethod {
    fn from_wire(m: &v1::PaymentMethod) -> Result<Self, PayError> {
        use v1::payment_method::Destination as D;
        match &m.destination {
            Some(D::OnChain(o)) => Ok(Self::OnChain {
                chain: chain("methods.on_chain.chain", &o.chain)?,
                address: token("methods.on_chain.address", &o.address, 1, MAX_ADDRESS_LEN)?,
            }),
            Some(D::Lightning(l)) => {
                let l = token("methods.lightning", l, 3, MAX_LIGHTNING_LEN)?;
                if !l.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("ln")) {
                    return Err(PayError::invalid(
                        "methods.lightning",
                        "not a BOLT 11 invoice or BOLT 12 offer",
                    ));
                }
                Ok(Self::Lightning(l))
            }
            Some(D::Bank(b)) => Ok(Self::Bank {
                holder: required_text("methods.bank.holder", &b.holder, MAX_HOLDER_LEN)?,
                account: token("methods.bank.account", &b.account, 1, MAX_ACCOUNT_LEN)?,
                routing: token("methods.bank.routing", &b.routing, 0, MAX_ROUTING_LEN)?,
            }),
            Some(D::Provider(p)) => Ok(Self::Provider {
                provider: token(
                    "methods.provider.provider",
                    &p.provider,
                    1,
                    MAX_PROVIDER_LEN,
                )?,
                account: token(
                    "methods.provider.account",
                    &p.account,
                    1,
                    MAX_PROVIDER_ACCOUNT_LEN,
                )?,
            }),
            None => Err(PayError::invalid("methods.destination", "required")),
        }
    }

    fn to_wire(&self) -> v1::PaymentMethod {
        use v1::payment_method::Destination as D;
        let destination = match self {
            Self::OnChain { chain, address } => D::OnChain(v1::OnChainAddress {
                chain: chain.clone(),
                address: address.clone(),
            }),
            Self::Lightning(l) => D::Lightning(l.clone()),
            Self::Bank {
                holder,
                account,
                routing,
            } => D::Bank(v1::BankAccount {
                holder: holder.clone(),
                account: account.clone(),
                routing: routing.clone(),
            }),
            Self::Provider { provider, account } => D::Provider(v1::ProviderAccount {
                provider: provider.clone(),
                account: account.clone(),
            }),
        };
        v1::PaymentMethod {
            destination: Some(destination),
        }
    }

    /// Whether `settlement` is on this method's rail (same chain, same provider).
    #[must_use]
    pub fn matches(&self, settlement: &Settlement) -> bool {
        match (self, settlement) {
            (Self::OnChain { chain, .. }, Settlement::OnChain { chain: c, .. }) => chain == c,
            (Self::Lightning(_), Settlement::Lightning { .. })
            | (Self::Bank { .. }, Settlement::Bank { .. }) => true,
            (Self::Provider { provider, .. }, Settlement::Provider { provider: p, .. }) => {
                provider == p
            }
            _ => false,
        }
    }
}

/// Where to find a transfer on its rail.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Settlement {
    /// An on-chain transaction.
    OnChain {
        /// CAIP-2 chain id.
        chain: String,
        /// Transaction id.
        txid: String,
    },
    /// A Lightning payment.
    Lightning {
        /// Payment hash.
        payment_hash: [u8; 32],
        /// Preimage, if revealed; SHA-256(preimage) = payment hash is checked.
        preimage: Option<[u8; 32]>,
    },
    /// A bank transfer.
    Bank {
        /// End-to-end id.
        end_to_end_id: String,
    },
    /// A provider transfer.
    Provider {
        /// Provider name.
        provider: String,
        /// Transfer id.
        transfer_id: String,
    },
}

impl Settlement {
    fn from_wire(s: Option<&v1::Settlement>) -> Result<Self, PayError> {
        use v1::settlement::Rail;
        match s.and_then(|s| s.rail.as_ref()) {
            Some(Rail::OnChain(o)) => Ok(Self::OnChain {
                chain: chain("settlement.on_chain.chain", &o.chain)?,
                txid: token("settlement.on_chain.txid", &o.txid, 1, MAX_RAIL_REF_LEN)?,
            }),
            Some(Rail::Lightning(l)) => {
                let payment_hash = bytes32("settlement.lightning.payment_hash", &l.payment_hash)?;
                let preimage = if l.preimage.is_empty() {
                    None
                } else {
                    let p = bytes32("settlement.lightning.preimage", &l.preimage)?;
                    if <[u8; 32]>::from(Sha256::digest(p)) != payment_hash {
                        return Err(PayError::invalid(
                            "settlement.lightning.preimage",
                            "does not hash to the payment hash",
                        ));
                    }
                    Some(p)
                };
                Ok(Self::Lightning {
                    payment_hash,
                    preimage,
                })
            }
            Some(Rail::Bank(b)) => Ok(Self::Bank {
                end_to_end_id: token(
                    "settlement.bank.end_to_end_id",
                    &b.end_to_end_id,
                    1,
                    MAX_END_TO_END_ID_LEN,
                )?,
            }),
            Some(Rail::Provider(p)) => Ok(Self::Provider {
                provider: token(
                    "settlement.provider.provider",
                    &p.provider,
                    1,
                    MAX_PROVIDER_LEN,
                )?,
                transfer_id: token(
                    "settlement.provider.transfer_id",
                    &p.transfer_id,
                    1,
                    MAX_RAIL_REF_LEN,
                )?,
            }),
            None => Err(PayError::invalid("settlement", "required")),
        }
    }

    fn to_wire(&self) -> v1::Settlement {
        use v1::settlement::Rail;
        let rail = match self {
            Self::OnChain { chain, txid } => Rail::OnChain(v1::OnChainTransaction {
                chain: chain.clone(),
                txid: txid.clone(),
            }),
            Self::Lightning {
                payment_hash,
                preimage,
            } => Rail::Lightning(v1::LightningPayment {
                payment_hash: payment_hash.to_vec(),
                preimage: preimage.map(|p| p.to_vec()).unwrap_or_default(),
            }),
            Self::Bank { end_to_end_id } => Rail::Bank(v1::BankTransfer {
                end_to_end_id: end_to_end_id.clone(),
            }),
            Self::Provider {
                provider,
                transfer_id,
            } => Rail::Provider(v1::ProviderTransfer {
                provider: provider.clone(),
                transfer_id: transfer_id.clone(),
            }),
        };
        v1::Settlement { rail: Some(rail) }
    }
}

// ---------------------------------------------------------------------------------------------
// Invoices.

/// One validated invoice line: `amount = quantity × unit_price` exactly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineItem {
    /// What was sold (stripped).
    pub description: String,
    /// Quantity.
    pub quantity: Decimal,
    /// Price of one unit.
    pub unit_price: Money,
    /// quantity × unit price.
    pub amount: Money,
}

/// A discount or tax line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adjustment {
    /// What it is (stripped).
    pub description: String,
    /// Informative rate in percent.
    pub rate_percent: Option<Decimal>,
    /// The amount (authoritative).
    pub amount: Money,
}

/// Validated invoice details. All sums have been checked exactly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invoice {
    /// Invoice number.
    pub number: String,
    /// Issuer name and address.
    pub issuer: String,
    /// Issue date (Unix seconds).
    pub issued_at: u64,
    /// Due date (Unix seconds).
    pub due_at: u64,
    /// Lines.
    pub items: Vec<LineItem>,
    /// Discount lines.
    pub discounts: Vec<Adjustment>,
    /// Tax lines.
    pub taxes: Vec<Adjustment>,
    /// Σ item amounts.
    pub subtotal: Money,
    /// Σ discounts.
    pub discount: Money,
    /// Σ taxes.
    pub tax: Money,
    /// subtotal − discount + tax.
    pub total: Money,
    /// Already paid or credited.
    pub credits: Money,
    /// total − credits = the request amount.
    pub amount_due: Money,
}

fn quantity(field: &'static str, s: &str) -> Result<Decimal, PayError> {
    too_long(field, s.len(), MAX_QUANTITY_LEN)?;
    Decimal::parse(s, MAX_QUANTITY_DECIMALS).map_err(PayError::money(field))
}

fn adjustments(
    field: &'static str,
    list: &[v1::Adjustment],
    unit: &Money,
) -> Result<(Vec<Adjustment>, Money), PayError> {
    too_long(field, list.len(), MAX_ADJUSTMENTS)?;
    let mut sum = unit.zero_like();
    let mut out = Vec::with_capacity(list.len());
    for a in list {
        let rate_percent = if a.rate_percent.is_empty() {
            None
        } else {
            Some(quantity(field, &a.rate_percent)?)
        };
        let amount = money_like(field, a.amount.as_ref(), unit)?;
        sum = add(field, &sum, &amount)?;
        out.push(Adjustment {
            description: required_text(field, &a.description, MAX_DESCRIPTION_LEN)?,
            rate_percent,
            amount,
        });
    }
    Ok((out, sum))
}

fn expect_equal(field: &'static str, got: &Money, want: &Money) -> Result<(), PayError> {
    if got == want {
        Ok(())
    } else {
        Err(PayError::invalid(field, "does not add up"))
    }
}

impl Invoice {
    fn from_wire(w: &v1::InvoiceDetails, amount: &Money) -> Result<Self, PayError> {
        if w.issued_at > w.due_at {
            return Err(PayError::invalid("invoice.due_at", "before issued_at"));
        }
        too_long("invoice.items", w.items.len(), MAX_LINE_ITEMS)?;
        if w.items.is_empty() {
            return Err(PayError::invalid("invoice.items", "required"));
        }
        let mut subtotal = amount.zero_like();
        let mut items = Vec::with_capacity(w.items.len());
        for item in &w.items {
            let q = quantity("invoice.items.quantity", &item.quantity)?;
            if q.is_zero() {
                return Err(PayError::invalid("invoice.items.quantity", "must be > 0"));
            }
            let unit_price =
                money_like("invoice.items.unit_price", item.unit_price.as_ref(), amount)?;
            let line = money_like("invoice.items.amount", item.amount.as_ref(), amount)?;
            let product = unit_price
                .checked_mul(&q)
                .map_err(PayError::money("invoice.items.amount"))?;
            expect_equal("invoice.items.amount", &line, &product)?;
            subtotal = add("invoice.subtotal", &subtotal, &line)?;
            items.push(LineItem {
                description: required_text(
                    "invoice.items.description",
                    &item.description,
                    MAX_DESCRIPTION_LEN,
                )?,
                quantity: q,
                unit_price,
                amount: line,
            });
        }
        let (discounts, discount_sum) = adjustments("invoice.discounts", &w.discounts, amount)?;
        let (taxes, tax_sum) = adjustments("invoice.taxes", &w.taxes, amount)?;
        let get = |field, m: &Option<v1::Money>| money_like(field, m.as_ref(), amount);
        let invoice = Self {
            number: required_text("invoice.number", &w.number, MAX_REFERENCE_LEN)?,
            issuer: {
                let t = text("invoice.issuer", &w.issuer, MAX_ISSUER_LEN, true)?;
                if t.trim().is_empty() {
                    return Err(PayError::invalid("invoice.issuer", "required"));
                }
                t
            },
            issued_at: w.issued_at,
            due_at: w.due_at,
            subtotal: get("invoice.subtotal", &w.subtotal)?,
            discount: get("invoice.discount", &w.discount)?,
            tax: get("invoice.tax", &w.tax)?,
            total: get("invoice.total", &w.total)?,
            credits: get("invoice.credits", &w.credits)?,
            amount_due: get("invoice.amount_due", &w.amount_due)?,
            items,
            discounts,
            taxes,
        };
        expect_equal("invoice.subtotal", &invoice.subtotal, &subtotal)?;
        expect_equal("invoice.discount", &invoice.discount, &discount_sum)?;
        expect_equal("invoice.tax", &invoice.tax, &tax_sum)?;
        let total = subtotal
            .checked_sub(&discount_sum)
            .map_err(PayError::money("invoice.discount"))?;
        let total = add("invoice.total", &total, &tax_sum)?;
        expect_equal("invoice.total", &invoice.total, &total)?;
        let due = total
            .checked_sub(&invoice.credits)
            .map_err(PayError::money("invoice.credits"))?;
        expect_equal("invoice.amount_due", &invoice.amount_due, &due)?;
        expect_equal("amount", amount, &due)?;
        Ok(invoice)
    }
}

// ---------------------------------------------------------------------------------------------
// Payment requests.

/// Plain request or invoice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    /// A request for money.
    Request,
    /// An itemised invoice.
    Invoice,
}

/// A validated payment request (the content of a signed document).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentRequest {
    /// Random id.
    pub request_id: Id,
    /// Request or invoice.
    pub kind: RequestKind,
    /// The payee's identity fingerprint (equals the verified signer).
    pub payee: Fingerprint,
    /// Display name (informative, stripped).
    pub payee_name: String,
    /// Amount requested (> 0).
    pub amount: Money,
    /// Accepted methods, 1..=`MAX_METHODS`.
    pub methods: Vec<PaymentMethod>,
    /// Memo (stripped, may contain newlines).
    pub memo: String,
    /// Payee reference.
    pub reference: String,
    /// Creation time.
    pub created_at: u64,
    /// Expiry time (> `created_at`, lifetime capped).
    pub expires_at: u64,
    /// Partial payments allowed.
    pub allow_partial: bool,
    /// Invoice details, exactly when `kind` is `Invoice`.
    pub invoice: Option<Invoice>,
}

impl PaymentRequest {
    fn from_wire(w: &v1::PaymentRequest) -> Result<Self, PayError> {
        let kind = match v1::RequestKind::try_from(w.kind) {
            Ok(v1::RequestKind::Request) => RequestKind::Request,
            Ok(v1::RequestKind::Invoice) => RequestKind::Invoice,
            _ => return Err(PayError::invalid("kind", "unknown or unspecified")),
        };
        let amount = money("amount", w.amount.as_ref())?;
        if amount.is_zero() {
            return Err(PayError::invalid("amount", "must be > 0"));
        }
        too_long("methods", w.methods.len(), MAX_METHODS)?;
        if w.methods.is_empty() {
            return Err(PayError::invalid("methods", "required"));
        }
        let methods = w
            .methods
            .iter()
            .map(PaymentMethod::from_wire)
            .collect::<Result<Vec<_>, _>>()?;
        if w.expires_at <= w.created_at {
            return Err(PayError::invalid("expires_at", "not after created_at"));
        }
        let max_lifetime = match kind {
            RequestKind::Request => MAX_REQUEST_LIFETIME_SECS,
            RequestKind::Invoice => MAX_INVOICE_LIFETIME_SECS,
        };
        if w.expires_at.saturating_sub(w.created_at) > max_lifetime {
            return Err(PayError::invalid("expires_at", "lifetime over the limit"));
        }
        let invoice = match (kind, &w.invoice) {
            (RequestKind::Invoice, Some(i)) => Some(Invoice::from_wire(i, &amount)?),
            (RequestKind::Request, None) => None,
            _ => {
                return Err(PayError::invalid(
                    "invoice",
                    "present exactly when kind is INVOICE",
                ));
            }
        };
        Ok(Self {
            request_id: id16("request_id", &w.request_id)?,
            kind,
            payee: Fingerprint(bytes32("payee", &w.payee)?),
            payee_name: text("payee_name", &w.payee_name, MAX_NAME_LEN, false)?,
            amount,
            methods,
            memo: text("memo", &w.memo, MAX_MEMO_LEN, true)?,
            reference: text("reference", &w.reference, MAX_REFERENCE_LEN, false)?,
            created_at: w.created_at,
            expires_at: w.expires_at,
            allow_partial: w.allow_partial,
            invoice,
        })
    }
}

/// Proof that a payee signature was verified: only this module can make one, and every signed
/// view holds one (house style §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayeeSignatureValid(());

fn check_signature(
    peer: &PeerIdentity,
    context: &[u8],
    doc: &v1::SignedDocument,
) -> Result<(DocumentDigest, [u8; 64], PayeeSignatureValid), PayError> {
    too_long("body", doc.body.len(), remit_wire::limits::MAX_DOCUMENT_LEN)?;
    let signature =
        <[u8; 64]>::try_from(doc.signature.as_slice()).map_err(|_| PayError::BadSignature)?;
    let digest = DocumentDigest::of(&doc.body);
    if peer.verify(context, &digest, &signature) {
        Ok((digest, signature, PayeeSignatureValid(())))
    } else {
        Err(PayError::BadSignature)
    }
}

/// A payment request whose payee signature verified under the session peer's key and whose
/// payee field is that peer. Holds the exact document bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedRequest {
    request: PaymentRequest,
    body: Vec<u8>,
    signature: [u8; 64],
    digest: DocumentDigest,
    verified: PayeeSignatureValid,
}

impl SignedRequest {
    /// Verifies a received `SignedDocument` as a request from `payee` (the session peer): the
    /// signature first (over `"remit.v1.payment-request\0"` ‖ SHA-256(body), `verify_strict`),
    /// then the body is decoded and validated, then its payee field must be the peer.
    ///
    /// # Errors
    /// [`PayError::BadSignature`], [`PayError::Decode`], a field error, or
    /// [`PayError::PayeeMismatch`].
    pub fn verify(doc: &v1::SignedDocument, payee: &PeerIdentity) -> Result<Self, PayError> {
        let (digest, signature, verified) = check_signature(payee, REQUEST_SIGNATURE_CONTEXT, doc)?;
        let wire = payment::decode_payment_request(&doc.body)?;
        let request = PaymentRequest::from_wire(&wire)?;
        if request.payee != payee.fingerprint() {
            return Err(PayError::PayeeMismatch);
        }
        Ok(Self {
            request,
            body: doc.body.clone(),
            signature,
            digest,
            verified,
        })
    }

    /// The validated request.
    #[must_use]
    pub fn request(&self) -> &PaymentRequest {
        &self.request
    }

    /// The exact document bytes.
    #[must_use]
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The payee signature.
    #[must_use]
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    /// SHA-256 of the document bytes: the `request_digest` of every reply.
    #[must_use]
    pub fn digest(&self) -> DocumentDigest {
        self.digest
    }

    /// The proof that the signature was checked.
    #[must_use]
    pub fn signature_valid(&self) -> PayeeSignatureValid {
        self.verified
    }

    /// The wire `SignedDocument`.
    #[must_use]
    pub fn to_document(&self) -> v1::SignedDocument {
        v1::SignedDocument {
            body: self.body.clone(),
            signature: self.signature.to_vec(),
        }
    }
}

/// What the payee fills in to make a request. The request id is drawn from the rng and the payee
/// is the signer; an invoice's amount is checked against its amount due.
#[derive(Clone, Debug)]
pub struct RequestDraft {
    /// Amount requested.
    pub amount: Money,
    /// Accepted methods.
    pub methods: Vec<PaymentMethod>,
    /// Memo.
    pub memo: String,
    /// Payee reference.
    pub reference: String,
    /// Display name.
    pub payee_name: String,
    /// Creation time (the caller's clock).
    pub created_at: u64,
    /// Expiry.
    pub expires_at: u64,
    /// Partial payments allowed.
    pub allow_partial: bool,
    /// Invoice details: makes the request an INVOICE.
    pub invoice: Option<InvoiceDraft>,
}

/// An invoice line as the payee enters it; the amount is computed exactly.
#[derive(Clone, Debug)]
pub struct LineDraft {
    /// What was sold.
    pub description: String,
    /// Quantity as a decimal string.
    pub quantity: String,
    /// Price of one unit.
    pub unit_price: Money,
}

/// A discount or tax line as the payee enters it.
#[derive(Clone, Debug)]
pub struct AdjustmentDraft {
    /// What it is.
    pub description: String,
    /// Informative rate in percent ("" for none).
    pub rate_percent: String,
    /// The amount.
    pub amount: Money,
}

/// Invoice details as the payee enters them; the sums are computed.
#[derive(Clone, Debug)]
pub struct InvoiceDraft {
    /// Invoice number.
    pub number: String,
    /// Issuer name and address.
    pub issuer: String,
    /// Issue date.
    pub issued_at: u64,
    /// Due date.
    pub due_at: u64,
    /// Lines.
    pub items: Vec<LineDraft>,
    /// Discounts.
    pub discounts: Vec<AdjustmentDraft>,
    /// Taxes.
    pub taxes: Vec<AdjustmentDraft>,
    /// Already paid or credited.
    pub credits: Money,
}

impl InvoiceDraft {
    fn to_wire(&self) -> Result<v1::InvoiceDetails, PayError> {
        let unit = &self.credits;
        let mut subtotal = unit.zero_like();
        let mut items = Vec::with_capacity(self.items.len());
        for line in &self.items {
            let q = quantity("invoice.items.quantity", &line.quantity)?;
            let amount = line
                .unit_price
                .checked_mul(&q)
                .map_err(PayError::money("invoice.items.amount"))?;
            subtotal = add("invoice.subtotal", &subtotal, &amount)?;
            items.push(v1::LineItem {
                description: line.description.clone(),
                quantity: line.quantity.clone(),
                unit_price: Some(line.unit_price.to_wire()),
                amount: Some(amount.to_wire()),
            });
        }
        let sum = |list: &[AdjustmentDraft], field| {
            list.iter()
                .try_fold(unit.zero_like(), |acc, a| add(field, &acc, &a.amount))
        };
        let discount = sum(&self.discounts, "invoice.discount")?;
        let tax = sum(&self.taxes, "invoice.tax")?;
        let total = subtotal
            .checked_sub(&discount)
            .map_err(PayError::money("invoice.discount"))?;
        let total = add("invoice.total", &total, &tax)?;
        let amount_due = total
            .checked_sub(&self.credits)
            .map_err(PayError::money("invoice.credits"))?;
        let adj = |list: &[AdjustmentDraft]| {
            list.iter()
                .map(|a| v1::Adjustment {
                    description: a.description.clone(),
                    rate_percent: a.rate_percent.clone(),
                    amount: Some(a.amount.to_wire()),
                })
                .collect()
        };
        Ok(v1::InvoiceDetails {
            number: self.number.clone(),
            issuer: self.issuer.clone(),
            issued_at: self.issued_at,
            due_at: self.due_at,
            items,
            subtotal: Some(subtotal.to_wire()),
            discount: Some(discount.to_wire()),
            tax: Some(tax.to_wire()),
            total: Some(total.to_wire()),
            discounts: adj(&self.discounts),
            taxes: adj(&self.taxes),
            credits: Some(self.credits.to_wire()),
            amount_due: Some(amount_due.to_wire()),
        })
    }
}

impl RequestDraft {
    /// Builds, encodes and signs the request as `payee`, then verifies it as a receiver would.
    ///
    /// # Errors
    /// Any validation error of the resulting request (the draft is checked exactly as a
    /// receiver checks it), or [`PayError::Encode`] if it is over `MAX_DOCUMENT_LEN`.
    pub fn sign<R: CryptoRng + ?Sized>(
        &self,
        payee: &LocalIdentity<'_>,
        rng: &mut R,
    ) -> Result<SignedRequest, PayError> {
        let (kind, invoice) = match &self.invoice {
            Some(i) => (v1::RequestKind::Invoice, Some(i.to_wire()?)),
            None => (v1::RequestKind::Request, None),
        };
        let wire = v1::PaymentRequest {
            version: payment::PAYMENT_DOCUMENT_VERSION,
            request_id: new_id(rng).to_vec(),
            kind: kind.into(),
            payee: payee.public().fingerprint().0.to_vec(),
            amount: Some(self.amount.to_wire()),
            methods: self.methods.iter().map(PaymentMethod::to_wire).collect(),
            memo: self.memo.clone(),
            reference: self.reference.clone(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            allow_partial: self.allow_partial,
            invoice,
            payee_name: self.payee_name.clone(),
        };
        sign_request_wire(&wire, payee)
    }
}

/// Encodes and signs any wire request as `payee` and verifies the result. Exposed for tools
/// and tests that need exact control of the document.
///
/// # Errors
/// As [`SignedRequest::verify`].
pub fn sign_request_wire(
    wire: &v1::PaymentRequest,
    payee: &LocalIdentity<'_>,
) -> Result<SignedRequest, PayError> {
    let body = payment::encode_payment_request(wire)?;
    let signature = payee.sign(REQUEST_SIGNATURE_CONTEXT, &DocumentDigest::of(&body));
    let doc = v1::SignedDocument {
        body,
        signature: signature.to_vec(),
    };
    SignedRequest::verify(&doc, payee.public())
}

// ---------------------------------------------------------------------------------------------
// Notices.

/// Payment or refund.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NoticeKind {
    /// Payer → payee.
    Payment,
    /// Payee → payer.
    Refund,
}

/// A validated payment notice: a claim that money moved, never trusted on its own.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Notice {
    /// Idempotency key.
    pub payment_id: Id,
    /// Payment or refund.
    pub kind: NoticeKind,
    /// The request.
    pub request_id: Id,
    /// SHA-256 of the request document.
    pub request_digest: DocumentDigest,
    /// Amount claimed (> 0).
    pub amount: Money,
    /// Method used (PAYMENT); 0 for a refund.
    pub method_index: u32,
    /// Where to verify it.
    pub settlement: Settlement,
    /// Free text (stripped).
    pub note: String,
    /// The payment refunded (REFUND only).
    pub refund_of: Option<Id>,
}

impl Notice {
    /// Validates a wire notice (fields only; the thread checks it against its request).
    ///
    /// # Errors
    /// [`PayError::Decode`] for an unknown version, or a field error.
    pub fn from_wire(w: &v1::PaymentNotice) -> Result<Self, PayError> {
        if w.version != payment::PAYMENT_DOCUMENT_VERSION {
            return Err(remit_wire::DecodeError::UnknownVersion {
                what: "PaymentNotice",
                got: w.version,
                supported: payment::PAYMENT_DOCUMENT_VERSION,
            }
            .into());
        }
        let kind = match v1::NoticeKind::try_from(w.kind) {
            Ok(v1::NoticeKind::Payment) => NoticeKind::Payment,
            Ok(v1::NoticeKind::Refund) => NoticeKind::Refund,
            _ => return Err(PayError::invalid("kind", "unknown or unspecified")),
        };
        let amount = money("amount", w.amount.as_ref())?;
        if amount.is_zero() {
            return Err(PayError::invalid("amount", "must be > 0"));
        }
        let refund_of = match kind {
            NoticeKind::Payment if w.refund_of.is_empty() => None,
            NoticeKind::Refund if w.method_index == 0 => Some(id16("refund_of", &w.refund_of)?),
            NoticeKind::Payment => {
                return Err(PayError::invalid("refund_of", "only in a REFUND"));
            }
            NoticeKind::Refund => {
                return Err(PayError::invalid("method_index", "must be 0 in a REFUND"));
            }
        };
        Ok(Self {
            payment_id: id16("payment_id", &w.payment_id)?,
            kind,
            request_id: id16("request_id", &w.request_id)?,
            request_digest: DocumentDigest(bytes32("request_digest", &w.request_digest)?),
            amount,
            method_index: w.method_index,
            settlement: Settlement::from_wire(w.settlement.as_ref())?,
            note: text("note", &w.note, MAX_MEMO_LEN, true)?,
            refund_of,
        })
    }

    /// The wire form.
    #[must_use]
    pub fn to_wire(&self) -> v1::PaymentNotice {
        v1::PaymentNotice {
            version: payment::PAYMENT_DOCUMENT_VERSION,
            payment_id: self.payment_id.to_vec(),
            kind: match self.kind {
                NoticeKind::Payment => v1::NoticeKind::Payment,
                NoticeKind::Refund => v1::NoticeKind::Refund,
            }
            .into(),
            request_id: self.request_id.to_vec(),
            request_digest: self.request_digest.0.to_vec(),
            amount: Some(self.amount.to_wire()),
            method_index: self.method_index,
            note: self.note.clone(),
            settlement: Some(self.settlement.to_wire()),
            refund_of: self.refund_of.map(|r| r.to_vec()).unwrap_or_default(),
        }
    }

    /// A payment towards `request` (payer side), with a fresh payment id. Allocate and persist
    /// the id before paying on the rail: it is the idempotency key.
    ///
    /// # Errors
    /// A field error, or [`PayError::InvalidField`] if the method index or the settlement's rail
    /// does not fit the request.
    pub fn payment<R: CryptoRng + ?Sized>(
        request: &SignedRequest,
        amount: Money,
        method_index: u32,
        settlement: Settlement,
        note: &str,
        rng: &mut R,
    ) -> Result<Self, PayError> {
        let notice = Self::from_wire(
            &Self {
                payment_id: new_id(rng),
                kind: NoticeKind::Payment,
                request_id: request.request().request_id,
                request_digest: request.digest(),
                amount,
                method_index,
                settlement,
                note: note.to_owned(),
                refund_of: None,
            }
            .to_wire(),
        )?;
        notice.check_against(request)?;
        Ok(notice)
    }

    /// A refund of `payment_id` (payee side), with a fresh id.
    ///
    /// # Errors
    /// A field error.
    pub fn refund<R: CryptoRng + ?Sized>(
        request: &SignedRequest,
        payment_id: Id,
        amount: Money,
        settlement: Settlement,
        note: &str,
        rng: &mut R,
    ) -> Result<Self, PayError> {
        Self::from_wire(
            &Self {
                payment_id: new_id(rng),
                kind: NoticeKind::Refund,
                request_id: request.request().request_id,
                request_digest: request.digest(),
                amount,
                method_index: 0,
                settlement,
                note: note.to_owned(),
                refund_of: Some(payment_id),
            }
            .to_wire(),
        )
    }

    /// Checks the notice against its request: same id and digest; for a payment, a method index
    /// inside the request's methods and a settlement on that method's rail.
    pub(crate) fn check_against(&self, request: &SignedRequest) -> Result<(), PayError> {
        check_reference(&self.request_id, &self.request_digest, request)?;
        if self.kind == NoticeKind::Payment {
            let method = usize::try_from(self.method_index)
                .ok()
                .and_then(|i| request.request().methods.get(i))
                .ok_or(PayError::invalid("method_index", "no such method"))?;
            if !method.matches(&self.settlement) {
                return Err(PayError::invalid(
                    "settlement",
                    "not on the chosen method's rail",
                ));
            }
        }
        Ok(())
    }
}

fn check_reference(
    request_id: &Id,
    digest: &DocumentDigest,
    request: &SignedRequest,
) -> Result<(), PayError> {
    if *request_id == request.request().request_id && *digest == request.digest() {
        Ok(())
    } else {
        Err(PayError::UnknownRequest)
    }
}

// ---------------------------------------------------------------------------------------------
// Receipts.

/// A receipt's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReceiptOutcome {
    /// Paid in full.
    Settled,
    /// Seen, not final.
    Pending,
    /// Part received.
    Partial,
    /// More than the amount received.
    Overpaid,
    /// Received after expiry or cancel.
    Late,
}

impl ReceiptOutcome {
    fn to_wire(self) -> v1::ReceiptOutcome {
        match self {
            Self::Settled => v1::ReceiptOutcome::Settled,
            Self::Pending => v1::ReceiptOutcome::Pending,
            Self::Partial => v1::ReceiptOutcome::Partial,
            Self::Overpaid => v1::ReceiptOutcome::Overpaid,
            Self::Late => v1::ReceiptOutcome::Late,
        }
    }
}

/// A validated receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// Random id.
    pub receipt_id: Id,
    /// The request.
    pub request_id: Id,
    /// Its digest.
    pub request_digest: DocumentDigest,
    /// Payments covered, distinct, 1..=`MAX_PAYMENTS`.
    pub payment_ids: Vec<Id>,
    /// Outcome.
    pub outcome: ReceiptOutcome,
    /// Total received.
    pub received: Money,
    /// Still owed.
    pub remaining: Money,
    /// Issue time.
    pub issued_at: u64,
}

impl Receipt {
    fn from_wire(w: &v1::Receipt) -> Result<Self, PayError> {
        let outcome = match v1::ReceiptOutcome::try_from(w.outcome) {
            Ok(v1::ReceiptOutcome::Settled) => ReceiptOutcome::Settled,
            Ok(v1::ReceiptOutcome::Pending) => ReceiptOutcome::Pending,
            Ok(v1::ReceiptOutcome::Partial) => ReceiptOutcome::Partial,
            Ok(v1::ReceiptOutcome::Overpaid) => ReceiptOutcome::Overpaid,
            Ok(v1::ReceiptOutcome::Late) => ReceiptOutcome::Late,
            _ => return Err(PayError::invalid("outcome", "unknown or unspecified")),
        };
        too_long("payment_ids", w.payment_ids.len(), MAX_PAYMENTS)?;
        if w.payment_ids.is_empty() {
            return Err(PayError::invalid("payment_ids", "required"));
        }
        let mut payment_ids: Vec<Id> = Vec::with_capacity(w.payment_ids.len());
        for id in &w.payment_ids {
            let id = id16("payment_ids", id)?;
            if payment_ids.contains(&id) {
                return Err(PayError::invalid("payment_ids", "duplicate id"));
            }
            payment_ids.push(id);
        }
        let received = money("received", w.received.as_ref())?;
        Ok(Self {
            receipt_id: id16("receipt_id", &w.receipt_id)?,
            request_id: id16("request_id", &w.request_id)?,
            request_digest: DocumentDigest(bytes32("request_digest", &w.request_digest)?),
            payment_ids,
            outcome,
            remaining: money_like("remaining", w.remaining.as_ref(), &received)?,
            received,
            issued_at: w.issued_at,
        })
    }

    /// Checks the receipt's figures against its request: `remaining` = amount − received (or
    /// zero), and the outcome agrees with the figures.
    pub(crate) fn check_against(&self, request: &SignedRequest) -> Result<(), PayError> {
        check_reference(&self.request_id, &self.request_digest, request)?;
        let amount = &request.request().amount;
        let order = self
            .received
            .checked_cmp(amount)
            .map_err(PayError::money("received"))?;
        let remaining = amount
            .saturating_sub(&self.received)
            .map_err(PayError::money("received"))?;
        if self.remaining != remaining {
            return Err(PayError::invalid("remaining", "does not add up"));
        }
        use core::cmp::Ordering::{Equal, Greater, Less};
        let consistent = match self.outcome {
            ReceiptOutcome::Settled => order == Equal,
            ReceiptOutcome::Overpaid => order == Greater,
            ReceiptOutcome::Partial => order == Less && !self.received.is_zero(),
            ReceiptOutcome::Pending | ReceiptOutcome::Late => true,
        };
        if consistent {
            Ok(())
        } else {
            Err(PayError::invalid("outcome", "contradicts the amounts"))
        }
    }
}

/// A receipt whose payee signature verified. Holds the exact document bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedReceipt {
    receipt: Receipt,
    body: Vec<u8>,
    signature: [u8; 64],
    digest: DocumentDigest,
    verified: PayeeSignatureValid,
}

impl SignedReceipt {
    /// Verifies a received receipt document: signature under `payee` (over
    /// `"remit.v1.receipt\0"` ‖ SHA-256(body)) first, then decode and validate.
    ///
    /// # Errors
    /// [`PayError::BadSignature`], [`PayError::Decode`] or a field error.
    pub fn verify(doc: &v1::SignedDocument, payee: &PeerIdentity) -> Result<Self, PayError> {
        let (digest, signature, verified) = check_signature(payee, RECEIPT_SIGNATURE_CONTEXT, doc)?;
        let wire = payment::decode_receipt(&doc.body)?;
        Ok(Self {
            receipt: Receipt::from_wire(&wire)?,
            body: doc.body.clone(),
            signature,
            digest,
            verified,
        })
    }

    /// Builds and signs a receipt for `request` as its payee.
    ///
    /// # Errors
    /// A field error, or the receipt contradicts the request's amount.
    #[allow(clippy::too_many_arguments)]
    pub fn sign<R: CryptoRng + ?Sized>(
        payee: &LocalIdentity<'_>,
        request: &SignedRequest,
        payment_ids: &[Id],
        outcome: ReceiptOutcome,
        received: &Money,
        issued_at: u64,
        rng: &mut R,
    ) -> Result<Self, PayError> {
        let remaining = request
            .request()
            .amount
            .saturating_sub(received)
            .map_err(PayError::money("received"))?;
        let wire = v1::Receipt {
            version: payment::PAYMENT_DOCUMENT_VERSION,
            receipt_id: new_id(rng).to_vec(),
            request_id: request.request().request_id.to_vec(),
            request_digest: request.digest().0.to_vec(),
            payment_ids: payment_ids.iter().map(|p| p.to_vec()).collect(),
            outcome: outcome.to_wire().into(),
            received: Some(received.to_wire()),
            remaining: Some(remaining.to_wire()),
            issued_at,
        };
        let signed = sign_receipt_wire(&wire, payee)?;
        signed.receipt.check_against(request)?;
        Ok(signed)
    }

    /// The validated receipt.
    #[must_use]
    pub fn receipt(&self) -> &Receipt {
        &self.receipt
    }

    /// The exact document bytes.
    #[must_use]
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The signature.
    #[must_use]
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    /// SHA-256 of the document bytes.
    #[must_use]
    pub fn digest(&self) -> DocumentDigest {
        self.digest
    }

    /// The proof that the signature was checked.
    #[must_use]
    pub fn signature_valid(&self) -> PayeeSignatureValid {
        self.verified
    }

    /// The wire `SignedDocument`.
    #[must_use]
    pub fn to_document(&self) -> v1::SignedDocument {
        v1::SignedDocument {
            body: self.body.clone(),
            signature: self.signature.to_vec(),
        }
    }
}

/// Encodes and signs any wire receipt as `payee` and verifies the result.
///
/// # Errors
/// As [`SignedReceipt::verify`].
pub fn sign_receipt_wire(
    wire: &v1::Receipt,
    payee: &LocalIdentity<'_>,
) -> Result<SignedReceipt, PayError> {
    let body = payment::encode_receipt(wire)?;
    let signature = payee.sign(RECEIPT_SIGNATURE_CONTEXT, &DocumentDigest::of(&body));
    let doc = v1::SignedDocument {
        body,
        signature: signature.to_vec(),
    };
    SignedReceipt::verify(&doc, payee.public())
}

// ---------------------------------------------------------------------------------------------
// Decline and cancel.

/// Payer → payee: will not pay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decline {
    /// The request.
    pub request_id: Id,
    /// Its digest.
    pub request_digest: DocumentDigest,
    /// Free text (stripped).
    pub reason: String,
}

impl Decline {
    /// Validates a wire decline.
    ///
    /// # Errors
    /// A field error.
    pub fn from_wire(w: &v1::Decline) -> Result<Self, PayError> {
        Ok(Self {
            request_id: id16("request_id", &w.request_id)?,
            request_digest: DocumentDigest(bytes32("request_digest", &w.request_digest)?),
            reason: text("reason", &w.reason, MAX_MEMO_LEN, true)?,
        })
    }

    /// A decline of `request`.
    ///
    /// # Errors
    /// A field error (reason too long).
    pub fn new(request: &SignedRequest, reason: &str) -> Result<Self, PayError> {
        Self::from_wire(&v1::Decline {
            request_id: request.request().request_id.to_vec(),
            request_digest: request.digest().0.to_vec(),
            reason: reason.to_owned(),
        })
    }

    /// The wire form.
    #[must_use]
    pub fn to_wire(&self) -> v1::Decline {
        v1::Decline {
            request_id: self.request_id.to_vec(),
            request_digest: self.request_digest.0.to_vec(),
            reason: self.reason.clone(),
        }
    }
}

/// Payee → payer: the request is withdrawn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cancel {
    /// The request.
    pub request_id: Id,
    /// Its digest.
    pub request_digest: DocumentDigest,
    /// Free text (stripped).
    pub reason: String,
}

impl Cancel {
    /// Validates a wire cancel.
    ///
    /// # Errors
    /// A field error.
    pub fn from_wire(w: &v1::Cancel) -> Result<Self, PayError> {
        Ok(Self {
            request_id: id16("request_id", &w.request_id)?,
            request_digest: DocumentDigest(bytes32("request_digest", &w.request_digest)?),
            reason: text("reason", &w.reason, MAX_MEMO_LEN, true)?,
        })
    }

    /// A cancel of `request`.
    ///
    /// # Errors
    /// A field error.
    pub fn new(request: &SignedRequest, reason: &str) -> Result<Self, PayError> {
        Self::from_wire(&v1::Cancel {
            request_id: request.request().request_id.to_vec(),
            request_digest: request.digest().0.to_vec(),
            reason: reason.to_owned(),
        })
    }

    /// The wire form.
    #[must_use]
    pub fn to_wire(&self) -> v1::Cancel {
        v1::Cancel {
            request_id: self.request_id.to_vec(),
            request_digest: self.request_digest.0.to_vec(),
            reason: self.reason.clone(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Protocol errors and the content envelope.

/// A `ProtocolError` reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolErrorReply {
    /// The rejected `Content.message_id`.
    pub message_id: Id,
    /// Why.
    pub code: v1::ErrorCode,
    /// Field at fault, ASCII, may be empty.
    pub field: String,
}

impl ProtocolErrorReply {
    /// The reply to send for `error` about message `message_id`.
    #[must_use]
    pub fn for_error(message_id: Id, error: &PayError) -> Self {
        Self {
            message_id,
            code: error.code(),
            field: error.field().to_owned(),
        }
    }

    /// Validates a wire error.
    ///
    /// # Errors
    /// A field error.
    pub fn from_wire(w: &v1::ProtocolError) -> Result<Self, PayError> {
        let code = v1::ErrorCode::try_from(w.code)
            .ok()
            .filter(|c| *c != v1::ErrorCode::Unspecified)
            .ok_or(PayError::invalid("code", "unknown or unspecified"))?;
        Ok(Self {
            message_id: id16("message_id", &w.message_id)?,
            code,
            field: token("field", &w.field, 0, MAX_FIELD_NAME_LEN)?,
        })
    }

    /// The wire form.
    #[must_use]
    pub fn to_wire(&self) -> v1::ProtocolError {
        v1::ProtocolError {
            message_id: self.message_id.to_vec(),
            code: self.code.into(),
            field: self.field.clone(),
        }
    }
}

/// A validated payment message, ready for a [`crate::PaymentThread`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaymentMessage {
    /// A signed request (or invoice).
    Request(Box<SignedRequest>),
    /// A payment or refund notice.
    Notice(Notice),
    /// A signed receipt.
    Receipt(Box<SignedReceipt>),
    /// A decline.
    Decline(Decline),
    /// A cancel.
    Cancel(Cancel),
}

impl From<SignedRequest> for PaymentMessage {
    fn from(r: SignedRequest) -> Self {
        Self::Request(Box::new(r))
    }
}

impl From<SignedReceipt> for PaymentMessage {
    fn from(r: SignedReceipt) -> Self {
        Self::Receipt(Box::new(r))
    }
}

impl From<Notice> for PaymentMessage {
    fn from(n: Notice) -> Self {
        Self::Notice(n)
    }
}

impl From<Decline> for PaymentMessage {
    fn from(d: Decline) -> Self {
        Self::Decline(d)
    }
}

impl From<Cancel> for PaymentMessage {
    fn from(c: Cancel) -> Self {
        Self::Cancel(c)
    }
}

impl PaymentMessage {
    /// Its kind.
    #[must_use]
    pub fn kind(&self) -> MessageKind {
        match self {
            Self::Request(_) => MessageKind::Request,
            Self::Notice(n) if n.kind == NoticeKind::Payment => MessageKind::Payment,
            Self::Notice(_) => MessageKind::Refund,
            Self::Receipt(_) => MessageKind::Receipt,
            Self::Decline(_) => MessageKind::Decline,
            Self::Cancel(_) => MessageKind::Cancel,
        }
    }

    /// The request id it belongs to: the key an app uses to find the thread.
    #[must_use]
    pub fn request_id(&self) -> Id {
        match self {
            Self::Request(r) => r.request().request_id,
            Self::Notice(n) => n.request_id,
            Self::Receipt(r) => r.receipt().request_id,
            Self::Decline(d) => d.request_id,
            Self::Cancel(c) => c.request_id,
        }
    }

    fn to_body(&self) -> v1::content::Body {
        use v1::content::Body;
        match self {
            Self::Request(r) => Body::PaymentRequest(r.to_document()),
            Self::Notice(n) => Body::PaymentNotice(n.to_wire()),
            Self::Receipt(r) => Body::Receipt(r.to_document()),
            Self::Decline(d) => Body::Decline(d.to_wire()),
            Self::Cancel(c) => Body::Cancel(c.to_wire()),
        }
    }
}

/// What a received `Content` turned out to be.
// A short-lived value, matched once and moved on: boxing the common case is not worth it.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Incoming {
    /// Chat text, stripped, at most `MAX_TEXT_LEN` bytes as received.
    Text(String),
    /// A payment message (signatures already verified against the peer).
    Payment(PaymentMessage),
    /// The peer's error reply.
    Error(ProtocolErrorReply),
}

/// A received, validated content message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// `Content.message_id`: the app's transport-level idempotency key.
    pub message_id: Id,
    /// The body.
    pub body: Incoming,
}

/// Validates a decoded `Content` from the session peer `peer`. Requests and receipts must carry
/// a valid signature by `peer` (so only the payee can have sent them).
///
/// # Errors
/// Any message validation error.
pub fn open_content(content: &v1::Content, peer: &PeerIdentity) -> Result<Received, PayError> {
    use v1::content::Body;
    let message_id = id16("message_id", &content.message_id)?;
    let body = match &content.body {
        Some(Body::Text(t)) => Incoming::Text(text("text.body", &t.body, MAX_TEXT_LEN, true)?),
        Some(Body::PaymentRequest(d)) => Incoming::Payment(PaymentMessage::Request(Box::new(
            SignedRequest::verify(d, peer)?,
        ))),
        Some(Body::PaymentNotice(n)) => {
            Incoming::Payment(PaymentMessage::Notice(Notice::from_wire(n)?))
        }
        Some(Body::Receipt(d)) => Incoming::Payment(PaymentMessage::Receipt(Box::new(
            SignedReceipt::verify(d, peer)?,
        ))),
        Some(Body::Decline(d)) => {
            Incoming::Payment(PaymentMessage::Decline(Decline::from_wire(d)?))
        }
        Some(Body::Cancel(c)) => Incoming::Payment(PaymentMessage::Cancel(Cancel::from_wire(c)?)),
        Some(Body::Error(e)) => Incoming::Error(ProtocolErrorReply::from_wire(e)?),
        None => return Err(PayError::invalid("body", "required")),
    };
    Ok(Received { message_id, body })
}

/// Decodes (remit-wire) and validates the plaintext of a session message from `peer`.
///
/// # Errors
/// [`PayError::Decode`] or any validation error.
pub fn open(plaintext: &[u8], peer: &PeerIdentity) -> Result<Received, PayError> {
    open_content(&remit_wire::decode_content(plaintext)?, peer)
}

/// The `Content` carrying `message`.
#[must_use]
pub fn content_for(message_id: Id, message: &PaymentMessage) -> v1::Content {
    v1::Content {
        version: 1,
        message_id: message_id.to_vec(),
        body: Some(message.to_body()),
    }
}

/// The `Content` carrying an error reply.
#[must_use]
pub fn content_for_error(message_id: Id, reply: &ProtocolErrorReply) -> v1::Content {
    v1::Content {
        version: 1,
        message_id: message_id.to_vec(),
        body: Some(v1::content::Body::Error(reply.to_wire())),
    }
}

/// Encodes `message` as session plaintext with message id `message_id`.
///
/// # Errors
/// [`PayError::Encode`] if over `MAX_PLAINTEXT_LEN`.
pub fn seal(message_id: Id, message: &PaymentMessage) -> Result<Vec<u8>, PayError> {
    Ok(remit_wire::encode(&content_for(message_id, message))?)
}
