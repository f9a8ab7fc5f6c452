//! The payment thread: the sans-IO state machine of one request (spec/payments.md §6).
//!
//! A thread is created from a verified request, then fed every later message of that request,
//! sent or received, with the caller's clock. Money is only counted once the app's own
//! [`SettlementVerifier`] has confirmed it on the rail. A refused message changes nothing: the
//! next state is computed on a copy and assigned only on success.

use remit_session::VerifiedIdentity;
use remit_wire::{DecodeError, Reader, payment, v1};

use crate::error::PayError;
use crate::identity::DocumentDigest;
use crate::limits::{
    MAX_ASSET_LEN, MAX_CLOCK_SKEW_SECS, MAX_MEMO_LEN, MAX_PAYMENTS, MAX_RECEIPTS,
    MAX_THREAD_STATE_LEN,
};
use crate::message::{
    Cancel, Decline, Id, MessageKind, Notice, NoticeKind, PaymentMessage, PaymentRequest, Role,
    SignedReceipt, SignedRequest,
};
use crate::money::{Asset, Money};

/// Why money is held in the exception state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExceptionReason {
    /// Verified money whose notice arrived after expiry, or that settled once the request had
    /// expired.
    Late,
    /// More than the amount was received.
    Overpaid,
    /// Money arrived in another asset or scale than requested.
    WrongAsset,
    /// Money arrived after the payee cancelled.
    AfterCancel,
    /// Money arrived after the payer declined.
    AfterDecline,
}

/// The state of a payment thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ThreadState {
    /// The request exists; nothing paid.
    Issued,
    /// A payment notice arrived; nothing verified yet.
    PaymentPending,
    /// Verified money below the amount.
    PartiallyPaid,
    /// Verified money equal to the amount.
    Paid,
    /// The payer declined.
    Declined,
    /// The payee cancelled.
    Cancelled,
    /// The expiry passed with no verified money.
    Expired,
    /// Verified money that does not fit the request; to be refunded or settled by hand.
    Exception(ExceptionReason),
    /// Part of the received money was refunded.
    PartiallyRefunded,
    /// All received money was refunded.
    Refunded,
}

impl ThreadState {
    /// Every state, for exhaustive tests.
    pub const ALL: [Self; 14] = [
        Self::Issued,
        Self::PaymentPending,
        Self::PartiallyPaid,
        Self::Paid,
        Self::Declined,
        Self::Cancelled,
        Self::Expired,
        Self::Exception(ExceptionReason::Late),
        Self::Exception(ExceptionReason::Overpaid),
        Self::Exception(ExceptionReason::WrongAsset),
        Self::Exception(ExceptionReason::AfterCancel),
        Self::Exception(ExceptionReason::AfterDecline),
        Self::PartiallyRefunded,
        Self::Refunded,
    ];

    fn to_byte(self) -> u8 {
        match self {
            Self::Issued => 0,
            Self::PaymentPending => 1,
            Self::PartiallyPaid => 2,
            Self::Paid => 3,
            Self::Declined => 4,
            Self::Cancelled => 5,
            Self::Expired => 6,
            Self::Exception(ExceptionReason::Late) => 7,
            Self::Exception(ExceptionReason::Overpaid) => 8,
            Self::Exception(ExceptionReason::WrongAsset) => 9,
            Self::Exception(ExceptionReason::AfterCancel) => 10,
            Self::Exception(ExceptionReason::AfterDecline) => 11,
            Self::PartiallyRefunded => 12,
            Self::Refunded => 13,
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.to_byte() == b)
    }

    /// Whether a refund notice is accepted in this state (there is verified money to return).
    fn accepts_refund(self) -> bool {
        matches!(
            self,
            Self::PartiallyPaid | Self::Paid | Self::Exception(_) | Self::PartiallyRefunded
        )
    }
}

/// Whether a message was sent by us or received from the peer.
///
/// Complete: a payment thread is seen from one of exactly two directions.
#[allow(clippy::exhaustive_enums)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From the session peer.
    Inbound,
    /// From us (recorded after sending, or before, as the app prefers).
    Outbound,
}

/// What applying a message did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Applied {
    /// The message was new; the thread went from `from` to `to` (possibly the same state, for
    /// example a second payment notice or a receipt).
    Accepted {
        /// State before.
        from: ThreadState,
        /// State after.
        to: ThreadState,
    },
    /// The same message (same id, same content) was already applied; nothing changed.
    Duplicate,
}

/// The app's verdict on one transfer, from its own wallet, node, bank or provider.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verification {
    /// The transfer is final; this is the amount that actually arrived (not the claim).
    Settled(Money),
    /// Not final yet; ask again later.
    Pending,
    /// There is no such transfer, or it failed.
    Failed,
}

/// Implemented by the app: looks a notice's settlement up on the rail. The only way money is
/// counted: a peer's notice alone never makes a request paid.
pub trait SettlementVerifier {
    /// Checks the transfer `notice` claims, for `request`.
    fn verify(&mut self, request: &PaymentRequest, notice: &Notice) -> Verification;
}

/// The verification status of one recorded notice.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PaymentStatus {
    /// Not yet confirmed by the app.
    Unverified,
    /// Confirmed: the amount that arrived.
    Settled(Money),
    /// The app found no such transfer.
    Failed,
}

/// One recorded payment or refund notice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentRecord {
    /// The notice.
    pub notice: Notice,
    /// When it was applied (the caller's clock).
    pub arrived_at: u64,
    /// Verification status.
    pub status: PaymentStatus,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Closure {
    Declined(Decline),
    Cancelled(Cancel),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct ReceiptRecord {
    receipt_id: Id,
    digest: DocumentDigest,
}

/// The state machine of one payment request. See the module documentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentThread {
    local_role: Role,
    request: SignedRequest,
    state: ThreadState,
    closure: Option<Closure>,
    payments: Vec<PaymentRecord>,
    receipts: Vec<ReceiptRecord>,
}

/// Magic bytes at the start of a stored thread.
pub const THREAD_MAGIC: [u8; 4] = *b"RMPT";

/// The stored-thread format version this library reads and writes.
pub const THREAD_VERSION: u16 = 1;

impl PaymentThread {
    /// Opens a thread for a request we issued (`Role::Payee`) or received (`Role::Payer`).
    ///
    /// # Errors
    /// [`PayError::Expired`] if `now` is past `expires_at` or more than `MAX_CLOCK_SKEW_SECS`
    /// before `created_at` (a request from the future).
    pub fn open(local_role: Role, request: SignedRequest, now: u64) -> Result<Self, PayError> {
        let r = request.request();
        if now > r.expires_at || r.created_at > now.saturating_add(MAX_CLOCK_SKEW_SECS) {
            return Err(PayError::Expired);
        }
        Ok(Self {
            local_role,
            request,
            state: ThreadState::Issued,
            closure: None,
            payments: Vec::new(),
            receipts: Vec::new(),
        })
    }

    /// The current state (as of the last call that took a clock; see [`PaymentThread::tick`]).
    #[must_use]
    pub fn state(&self) -> ThreadState {
        self.state
    }

    /// Our role.
    #[must_use]
    pub fn local_role(&self) -> Role {
        self.local_role
    }

    /// The signed request.
    #[must_use]
    pub fn request(&self) -> &SignedRequest {
        &self.request
    }

    /// Every recorded payment and refund notice, in arrival order.
    #[must_use]
    pub fn payments(&self) -> &[PaymentRecord] {
        &self.payments
    }

    /// Σ verified payments in the request's asset and scale, each payment id once.
    ///
    /// # Errors
    /// [`PayError::Money`] on overflow.
    pub fn received(&self) -> Result<Money, PayError> {
        self.sum(NoticeKind::Payment)
    }

    /// Σ verified refunds in the request's asset and scale.
    ///
    /// # Errors
    /// [`PayError::Money`] on overflow.
    pub fn refunded(&self) -> Result<Money, PayError> {
        self.sum(NoticeKind::Refund)
    }

    /// What is still owed: amount − received, or zero.
    ///
    /// # Errors
    /// [`PayError::Money`] on overflow.
    pub fn remaining(&self) -> Result<Money, PayError> {
        self.request
            .request()
            .amount
            .saturating_sub(&self.received()?)
            .map_err(PayError::money("received"))
    }

    fn sum(&self, kind: NoticeKind) -> Result<Money, PayError> {
        let amount = &self.request.request().amount;
        self.payments
            .iter()
            .filter(|p| p.notice.kind == kind)
            .filter_map(|p| match &p.status {
                PaymentStatus::Settled(m) if m.same_unit(amount) => Some(m),
                _ => None,
            })
            .try_fold(amount.zero_like(), |acc, m| {
                acc.checked_add(m).map_err(PayError::money("amount"))
            })
    }

    /// Applies the clock: an issued request past its expiry becomes expired.
    pub fn tick(&mut self, now: u64) {
        if self.state == ThreadState::Issued && now > self.request.request().expires_at {
            self.state = ThreadState::Expired;
        }
    }

    /// Applies a message sent by us ([`Direction::Outbound`]) or received from the peer
    /// ([`Direction::Inbound`]). On error nothing changes.
    ///
    /// # Errors
    /// [`PayError::WrongRole`], [`PayError::InvalidTransition`], [`PayError::UnknownRequest`],
    /// [`PayError::UnknownPayment`], [`PayError::Conflict`], [`PayError::LimitExceeded`] or a
    /// field error.
    pub fn handle(
        &mut self,
        direction: Direction,
        message: &PaymentMessage,
        now: u64,
    ) -> Result<Applied, PayError> {
        let sender = match direction {
            Direction::Inbound => self.local_role.other(),
            Direction::Outbound => self.local_role,
        };
        let mut next = self.clone();
        let applied = next.apply(sender, message, now)?;
        *self = next;
        Ok(applied)
    }

    fn transition_error(&self, message: MessageKind) -> PayError {
        PayError::InvalidTransition {
            state: self.state,
            message,
        }
    }

    fn apply(
        &mut self,
        sender: Role,
        message: &PaymentMessage,
        now: u64,
    ) -> Result<Applied, PayError> {
        let kind = message.kind();
        if kind.sender() != sender {
            return Err(PayError::WrongRole {
                role: sender,
                message: kind,
            });
        }
        self.tick(now);
        let from = self.state;
        match message {
            PaymentMessage::Request(r) => {
                return if r.request().request_id != self.request.request().request_id {
                    Err(PayError::UnknownRequest)
                } else if r.body() == self.request.body() {
                    Ok(Applied::Duplicate)
                } else {
                    Err(PayError::Conflict { what: "request" })
                };
            }
            PaymentMessage::Notice(n) => {
                if let Some(existing) = self
                    .payments
                    .iter()
                    .find(|p| p.notice.payment_id == n.payment_id)
                {
                    return if existing.notice == *n {
                        Ok(Applied::Duplicate)
                    } else {
                        Err(PayError::Conflict { what: "payment" })
                    };
                }
                n.check_against(&self.request)?;
                if n.kind == NoticeKind::Refund {
                    self.check_refund(n)?;
                }
                if self.payments.len() >= MAX_PAYMENTS {
                    return Err(PayError::LimitExceeded {
                        what: "payments",
                        max: MAX_PAYMENTS,
                    });
                }
                self.payments.push(PaymentRecord {
                    notice: n.clone(),
                    arrived_at: now,
                    status: PaymentStatus::Unverified,
                });
                if n.kind == NoticeKind::Payment && self.state == ThreadState::Issued {
                    self.state = ThreadState::PaymentPending;
                }
            }
            PaymentMessage::Receipt(r) => return self.apply_receipt(r, from),
            PaymentMessage::Decline(d) => {
                self.check_ref(&d.request_id, &d.request_digest)?;
                match (&self.closure, self.state) {
                    (Some(Closure::Declined(old)), _) => {
                        return if old == d {
                            Ok(Applied::Duplicate)
                        } else {
                            Err(PayError::Conflict { what: "decline" })
                        };
                    }
                    (_, ThreadState::Issued) => {
                        self.closure = Some(Closure::Declined(d.clone()));
                        self.state = ThreadState::Declined;
                    }
                    _ => return Err(self.transition_error(kind)),
                }
            }
            PaymentMessage::Cancel(c) => {
                self.check_ref(&c.request_id, &c.request_digest)?;
                match (&self.closure, self.state) {
                    (Some(Closure::Cancelled(old)), _) => {
                        return if old == c {
                            Ok(Applied::Duplicate)
                        } else {
                            Err(PayError::Conflict { what: "cancel" })
                        };
                    }
                    (None, ThreadState::Issued | ThreadState::PaymentPending) => {
                        self.closure = Some(Closure::Cancelled(c.clone()));
                        self.state = ThreadState::Cancelled;
                    }
                    _ => return Err(self.transition_error(kind)),
                }
            }
        }
        Ok(Applied::Accepted {
            from,
            to: self.state,
        })
    }

    fn check_ref(&self, request_id: &Id, digest: &DocumentDigest) -> Result<(), PayError> {
        let r = &self.request;
        if *request_id == r.request().request_id && *digest == r.digest() {
            Ok(())
        } else {
            Err(PayError::UnknownRequest)
        }
    }

    /// A refund needs verified money to return: the state must hold some, `refund_of` must be a
    /// settled payment of this thread, and the refunds of that payment (failed ones aside) may
    /// not exceed what it brought.
    fn check_refund(&self, n: &Notice) -> Result<(), PayError> {
        if !self.state.accepts_refund() {
            return Err(self.transition_error(MessageKind::Refund));
        }
        let target = n.refund_of.ok_or(PayError::UnknownPayment)?;
        let settled = self
            .payments
            .iter()
            .find(|p| p.notice.payment_id == target && p.notice.kind == NoticeKind::Payment)
            .and_then(|p| match &p.status {
                PaymentStatus::Settled(m) => Some(m),
                _ => None,
            })
            .ok_or(PayError::UnknownPayment)?;
        let mut total = n.amount.clone();
        for p in &self.payments {
            if p.notice.refund_of == Some(target) && p.status != PaymentStatus::Failed {
                total = total
                    .checked_add(&p.notice.amount)
                    .map_err(PayError::money("amount"))?;
            }
        }
        match total.checked_cmp(settled) {
            Ok(core::cmp::Ordering::Greater) => Err(PayError::invalid(
                "amount",
                "refunds exceed the payment refunded",
            )),
            Ok(_) => Ok(()),
            Err(source) => Err(PayError::Money {
                field: "amount",
                source,
            }),
        }
    }

    fn apply_receipt(&mut self, r: &SignedReceipt, from: ThreadState) -> Result<Applied, PayError> {
        let receipt = r.receipt();
        if let Some(old) = self
            .receipts
            .iter()
            .find(|x| x.receipt_id == receipt.receipt_id)
        {
            return if old.digest == r.digest() {
                Ok(Applied::Duplicate)
            } else {
                Err(PayError::Conflict { what: "receipt" })
            };
        }
        receipt.check_against(&self.request)?;
        for id in &receipt.payment_ids {
            if !self
                .payments
                .iter()
                .any(|p| p.notice.payment_id == *id && p.notice.kind == NoticeKind::Payment)
            {
                return Err(PayError::UnknownPayment);
            }
        }
        if self.receipts.len() >= MAX_RECEIPTS {
            return Err(PayError::LimitExceeded {
                what: "receipts",
                max: MAX_RECEIPTS,
            });
        }
        self.receipts.push(ReceiptRecord {
            receipt_id: receipt.receipt_id,
            digest: r.digest(),
        });
        Ok(Applied::Accepted {
            from,
            to: self.state,
        })
    }

    /// Asks the app's verifier about every unverified notice, in arrival order, and moves the
    /// thread accordingly (spec/payments.md §6.3). Returns the state after. On error nothing
    /// changes.
    ///
    /// # Errors
    /// [`PayError::Money`] if a total overflows.
    pub fn verify_settlements<V: SettlementVerifier + ?Sized>(
        &mut self,
        verifier: &mut V,
        now: u64,
    ) -> Result<ThreadState, PayError> {
        let mut next = self.clone();
        next.tick(now);
        for i in 0..next.payments.len() {
            let Some(record) = next.payments.get(i) else {
                break;
            };
            if record.status != PaymentStatus::Unverified {
                continue;
            }
            let verdict = verifier.verify(next.request.request(), &record.notice);
            let kind = record.notice.kind;
            let late = record.arrived_at > next.request.request().expires_at;
            match verdict {
                Verification::Pending => {}
                Verification::Failed => {
                    if let Some(r) = next.payments.get_mut(i) {
                        r.status = PaymentStatus::Failed;
                    }
                    next.after_failure(now);
                }
                Verification::Settled(m) => {
                    if let Some(r) = next.payments.get_mut(i) {
                        r.status = PaymentStatus::Settled(m.clone());
                    }
                    match kind {
                        NoticeKind::Payment => next.after_payment(&m, late)?,
                        NoticeKind::Refund => next.after_refund()?,
                    }
                }
            }
        }
        *self = next;
        Ok(self.state)
    }

    fn after_failure(&mut self, now: u64) {
        if self.state != ThreadState::PaymentPending {
            return;
        }
        let live = self
            .payments
            .iter()
            .any(|p| p.notice.kind == NoticeKind::Payment && p.status != PaymentStatus::Failed);
        if !live {
            self.state = ThreadState::Issued;
            self.tick(now);
        }
    }

    fn after_payment(&mut self, settled: &Money, late: bool) -> Result<(), PayError> {
        use ExceptionReason as E;
        use ThreadState as S;
        let amount = self.request.request().amount.clone();
        let received = self.received()?;
        self.state = match self.state {
            S::Exception(reason) => S::Exception(reason),
            _ if !settled.same_unit(&amount) => S::Exception(E::WrongAsset),
            S::Cancelled => S::Exception(E::AfterCancel),
            S::Declined => S::Exception(E::AfterDecline),
            S::Expired => S::Exception(E::Late),
            _ if late => S::Exception(E::Late),
            S::Paid | S::PartiallyRefunded | S::Refunded => S::Exception(E::Overpaid),
            S::Issued | S::PaymentPending | S::PartiallyPaid => {
                match received.checked_cmp(&amount) {
                    Ok(core::cmp::Ordering::Less) => S::PartiallyPaid,
                    Ok(core::cmp::Ordering::Equal) => S::Paid,
                    _ => S::Exception(E::Overpaid),
                }
            }
        };
        Ok(())
    }

    fn after_refund(&mut self) -> Result<(), PayError> {
        // Every settled payment fully refunded (per payment, in its own asset) → Refunded.
        let mut all_refunded = true;
        for p in &self.payments {
            let PaymentStatus::Settled(paid) = &p.status else {
                continue;
            };
            if p.notice.kind != NoticeKind::Payment {
                continue;
            }
            let mut back = paid.zero_like();
            for r in &self.payments {
                if r.notice.refund_of == Some(p.notice.payment_id)
                    && let PaymentStatus::Settled(m) = &r.status
                    && m.same_unit(paid)
                {
                    back = back.checked_add(m).map_err(PayError::money("amount"))?;
                }
            }
            if back.minor() < paid.minor() {
                all_refunded = false;
            }
        }
        self.state = match self.state {
            _ if all_refunded => ThreadState::Refunded,
            ThreadState::Exception(reason) => ThreadState::Exception(reason),
            _ => ThreadState::PartiallyRefunded,
        };
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Storage.

    /// Serializes the thread: [`THREAD_MAGIC`], [`THREAD_VERSION`], then the fixed layout of
    /// spec/payments.md §8.
    ///
    /// # Errors
    /// [`PayError::Encode`] if a notice cannot be encoded (not reachable for a valid thread).
    pub fn to_bytes(&self) -> Result<Vec<u8>, PayError> {
        let mut out = Vec::new();
        out.extend_from_slice(&THREAD_MAGIC);
        out.extend_from_slice(&THREAD_VERSION.to_be_bytes());
        out.push(match self.local_role {
            Role::Payee => 0,
            Role::Payer => 1,
        });
        put_bytes(&mut out, self.request.body());
        out.extend_from_slice(self.request.signature());
        out.push(self.state.to_byte());
        match &self.closure {
            None => out.push(0),
            Some(Closure::Declined(d)) => {
                out.push(1);
                out.push(code_byte(d.reason_code.to_wire().into()));
                put_bytes(&mut out, d.reason.as_bytes());
            }
            Some(Closure::Cancelled(c)) => {
                out.push(2);
                out.push(code_byte(c.reason_code.to_wire().into()));
                put_bytes(&mut out, c.reason.as_bytes());
            }
        }
        out.extend_from_slice(&count(self.payments.len()).to_be_bytes());
        for p in &self.payments {
            put_bytes(
                &mut out,
                &payment::encode_payment_notice(&p.notice.to_wire())?,
            );
            out.extend_from_slice(&p.arrived_at.to_be_bytes());
            match &p.status {
                PaymentStatus::Unverified => out.push(0),
                PaymentStatus::Settled(m) => {
                    out.push(1);
                    put_bytes(&mut out, m.asset().as_str().as_bytes());
                    out.extend_from_slice(&m.minor().to_be_bytes());
                    out.push(m.scale());
                }
                PaymentStatus::Failed => out.push(2),
            }
        }
        out.extend_from_slice(&count(self.receipts.len()).to_be_bytes());
        for r in &self.receipts {
            out.extend_from_slice(&r.receipt_id);
            out.extend_from_slice(&r.digest.0);
        }
        Ok(out)
    }

    /// Loads a stored thread. Every limit is checked again, the request signature is verified
    /// again under `payee` (ourselves for a payee thread, the peer for a payer thread), and every
    /// notice is validated again against the request.
    ///
    /// # Errors
    /// [`PayError::UnknownStateVersion`], [`PayError::Decode`], or any validation error.
    pub fn from_bytes(bytes: &[u8], payee: &VerifiedIdentity) -> Result<Self, PayError> {
        const WHAT: &str = "PaymentThread";
        if bytes.len() > MAX_THREAD_STATE_LEN {
            return Err(DecodeError::TooLarge {
                what: WHAT,
                len: bytes.len(),
                max: MAX_THREAD_STATE_LEN,
            }
            .into());
        }
        let mut r = Reader::new(WHAT, bytes);
        if r.array::<4>()? != THREAD_MAGIC {
            return Err(PayError::invalid("magic", "not a stored payment thread"));
        }
        let version = r.u16()?;
        if version != THREAD_VERSION {
            return Err(PayError::UnknownStateVersion {
                got: version,
                supported: THREAD_VERSION,
            });
        }
        let reason_code = |r: &mut Reader<'_>| -> Result<i32, PayError> { Ok(i32::from(r.u8()?)) };
        let local_role = match r.u8()? {
            0 => Role::Payee,
            1 => Role::Payer,
            _ => return Err(PayError::invalid("role", "unknown")),
        };
        let body = r.bytes(remit_wire::limits::MAX_DOCUMENT_LEN)?.to_vec();
        let signature = r.array::<64>()?.to_vec();
        let request = SignedRequest::verify(&v1::SignedDocument { body, signature }, payee)?;
        let state = ThreadState::from_byte(r.u8()?).ok_or(PayError::invalid("state", "unknown"))?;
        let closure = match r.u8()? {
            0 => None,
            1 => Some(Closure::Declined(Decline::from_wire(&v1::Decline {
                request_id: request.request().request_id.to_vec(),
                request_digest: request.digest().0.to_vec(),
                reason_code: reason_code(&mut r)?,
                reason: utf8(r.bytes(MAX_MEMO_LEN)?)?,
            })?)),
            2 => Some(Closure::Cancelled(Cancel::from_wire(&v1::Cancel {
                request_id: request.request().request_id.to_vec(),
                request_digest: request.digest().0.to_vec(),
                reason_code: reason_code(&mut r)?,
                reason: utf8(r.bytes(MAX_MEMO_LEN)?)?,
            })?)),
            _ => return Err(PayError::invalid("closure", "unknown")),
        };
        let n = r.count("payments", MAX_PAYMENTS)?;
        let mut payments: Vec<PaymentRecord> = Vec::with_capacity(n);
        for _ in 0..n {
            let notice_bytes = r.bytes(remit_wire::limits::MAX_DOCUMENT_LEN)?;
            let notice = Notice::from_wire(&payment::decode_payment_notice(notice_bytes)?)?;
            notice.check_against(&request)?;
            if payments
                .iter()
                .any(|p| p.notice.payment_id == notice.payment_id)
            {
                return Err(PayError::Conflict { what: "payment" });
            }
            let arrived_at = r.u64()?;
            let status = match r.u8()? {
                0 => PaymentStatus::Unverified,
                1 => {
                    let asset = Asset::parse(&utf8(r.bytes(MAX_ASSET_LEN)?)?)
                        .map_err(PayError::money("status"))?;
                    let minor = u128::from_be_bytes(r.array::<16>()?);
                    let scale = r.u8()?;
                    PaymentStatus::Settled(
                        Money::new(asset, minor, scale).map_err(PayError::money("status"))?,
                    )
                }
                2 => PaymentStatus::Failed,
                _ => return Err(PayError::invalid("status", "unknown")),
            };
            payments.push(PaymentRecord {
                notice,
                arrived_at,
                status,
            });
        }
        let n = r.count("receipts", MAX_RECEIPTS)?;
        let mut receipts = Vec::with_capacity(n);
        for _ in 0..n {
            receipts.push(ReceiptRecord {
                receipt_id: r.array::<16>()?,
                digest: DocumentDigest(r.array::<32>()?),
            });
        }
        r.finish()?;
        let thread = Self {
            local_role,
            request,
            state,
            closure,
            payments,
            receipts,
        };
        // Totals must still be computable (no overflow hidden in a tampered record).
        thread.received()?;
        thread.refunded()?;
        // One state, one record: text the decoders normalise (a control character in a
        // decline reason or a notice memo) or a document spelled differently from its
        // canonical encoding would load into a state whose record differs from these bytes.
        // Such a record was not written by `to_bytes`; it is refused, not silently rewritten.
        if thread.to_bytes()? != bytes {
            return Err(PayError::invalid("record", "not in canonical form"));
        }
        Ok(thread)
    }
}

fn count(n: usize) -> u16 {
    // Bounded by MAX_PAYMENTS / MAX_RECEIPTS (64) when the thread was built.
    u16::try_from(n).unwrap_or(u16::MAX)
}

fn code_byte(wire: i32) -> u8 {
    // Reason codes are 1..=7; an impossible value is stored as 0, which loading refuses.
    u8::try_from(wire).unwrap_or(0)
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    // Every stored byte string is bounded by a limit far below 4 GiB.
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

fn utf8(bytes: &[u8]) -> Result<String, PayError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| PayError::invalid("text", "not UTF-8"))
}
