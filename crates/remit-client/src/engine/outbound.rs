//! Output: the typed calls that build, apply, encrypt and commit a message, then return its
//! envelope.
//!
//! Each call checks and applies the message to a copy of its thread, encrypts with a copy of
//! the session, commits session, thread and outbox entry in one transaction, and only then
//! returns the envelope. A crash after the commit loses no state and never reuses a message
//! key: the envelope is in [`Engine::pending_outgoing`] until [`Engine::mark_sent`].

use rand_core::CryptoRng;
use remit_pay::{
    Cancel, CancelReason, Decline, DeclineReason, Direction, ExceptionReason, Id, LocalIdentity,
    Money, Notice, NoticeKind, PayError, PaymentMessage, PaymentStatus, PaymentThread,
    ProtocolErrorReply, ReceiptOutcome, RequestDraft, Role, Settlement, SignedReceipt, ThreadState,
    content_for_error, limits::MAX_TEXT_LEN, new_id, seal,
};
use remit_wire::v1;
use zeroize::Zeroizing;

use super::{Engine, ThreadSlot, copy_session};
use crate::{
    error::{ClientError, Misuse},
    event::{Outgoing, Sent},
    store::{Batch, Store},
};

impl<S: Store> Engine<S> {
    /// Sends chat text to `peer`. Text is not frozen by an identity change (the app shows the
    /// change next to it).
    ///
    /// # Errors
    /// [`ClientError::NoSession`], [`ClientError::Pay`] (`TooLong`) above `MAX_TEXT_LEN`,
    /// [`ClientError::Encrypt`], or a store error.
    pub fn send_text<R: CryptoRng + ?Sized>(
        &mut self,
        peer: &[u8; 32],
        text: &str,
        rng: &mut R,
    ) -> Result<Outgoing, ClientError> {
        if text.len() > MAX_TEXT_LEN {
            return Err(PayError::TooLong {
                field: "text.body",
                len: text.len(),
                max: MAX_TEXT_LEN,
            }
            .into());
        }
        let content = v1::Content {
            version: 1,
            message_id: new_id(rng).to_vec(),
            body: Some(v1::content::Body::Text(v1::Text {
                body: text.to_owned(),
            })),
        };
        let plaintext = Zeroizing::new(remit_wire::encode(&content)?);
        self.encrypt_and_commit(*peer, &plaintext, None, rng)
    }

    /// Asks `peer` for money: signs `draft` as a request (its `invoice` must be `None`), opens
    /// a payee thread, and returns the envelope.
    ///
    /// # Errors
    /// [`ClientError::ApiMisuse`] for a draft with invoice details, [`ClientError::Pay`] if the
    /// draft is invalid or already expired, [`ClientError::IdentityUnconfirmed`],
    /// [`ClientError::NoSession`], or an encryption or store error.
    pub fn request_payment<R: CryptoRng + ?Sized>(
        &mut self,
        peer: &[u8; 32],
        draft: &RequestDraft,
        now: u64,
        rng: &mut R,
    ) -> Result<Sent, ClientError> {
        if draft.invoice.is_some() {
            return Err(ClientError::ApiMisuse(Misuse::InvoiceDetailsInRequest));
        }
        self.issue(peer, draft, now, rng)
    }

    /// Sends an itemised invoice to `peer`: `draft.invoice` must be set (its amount must equal
    /// the invoice's amount due).
    ///
    /// # Errors
    /// As [`Engine::request_payment`]; [`ClientError::ApiMisuse`] without invoice details.
    pub fn send_invoice<R: CryptoRng + ?Sized>(
        &mut self,
        peer: &[u8; 32],
        draft: &RequestDraft,
        now: u64,
        rng: &mut R,
    ) -> Result<Sent, ClientError> {
        if draft.invoice.is_none() {
            return Err(ClientError::ApiMisuse(Misuse::InvoiceWithoutDetails));
        }
        self.issue(peer, draft, now, rng)
    }

    /// Tells the payee that we paid `amount` towards `request_id` by the request's method
    /// `method_index`, with the rail's `settlement` reference. The returned `payment_id` is
    /// the payment's idempotency key.
    ///
    /// # Errors
    /// [`ClientError::UnknownRequest`], [`ClientError::Pay`] (we are not the payer, the method
    /// or the settlement does not fit the request), [`ClientError::IdentityUnconfirmed`], or
    /// an encryption or store error.
    #[allow(clippy::too_many_arguments)]
    pub fn notify_payment<R: CryptoRng + ?Sized>(
        &mut self,
        request_id: &Id,
        amount: Money,
        method_index: u32,
        settlement: Settlement,
        note: &str,
        now: u64,
        rng: &mut R,
    ) -> Result<Sent, ClientError> {
        let slot = self.slot(request_id)?;
        let notice = Notice::payment(
            slot.thread.request(),
            amount,
            method_index,
            settlement,
            note,
            rng,
        )?;
        let payment_id = notice.payment_id;
        let mut sent = self.send_payment_message(request_id, &notice.into(), now, rng)?;
        sent.payment_id = Some(payment_id);
        Ok(sent)
    }

    /// Sends a signed receipt for `request_id` covering every payment notice that has not
    /// failed verification, for what verification counted so far. The outcome follows the
    /// thread's state: PAID → SETTLED, PARTIALLY_PAID → PARTIAL, EXCEPTION(OVERPAID) →
    /// OVERPAID, EXCEPTION(late, after cancel or decline) → LATE, otherwise PENDING.
    ///
    /// # Errors
    /// [`ClientError::UnknownRequest`], [`ClientError::ApiMisuse`] if no payment is recorded,
    /// [`ClientError::Pay`] (we are not the payee), [`ClientError::IdentityUnconfirmed`], or
    /// an encryption or store error.
    pub fn send_receipt<R: CryptoRng + ?Sized>(
        &mut self,
        request_id: &Id,
        now: u64,
        rng: &mut R,
    ) -> Result<Sent, ClientError> {
        let slot = self.slot(request_id)?;
        let thread = &slot.thread;
        let payment_ids: Vec<Id> = thread
            .payments()
            .iter()
            .filter(|p| p.notice.kind == NoticeKind::Payment && p.status != PaymentStatus::Failed)
            .map(|p| p.notice.payment_id)
            .collect();
        if payment_ids.is_empty() {
            return Err(ClientError::ApiMisuse(Misuse::NoPaymentToAcknowledge));
        }
        let receipt = SignedReceipt::sign(
            &LocalIdentity::new(&self.account),
            thread.request(),
            &payment_ids,
            receipt_outcome(thread.state()),
            &thread.received()?,
            now,
            rng,
        )?;
        self.send_payment_message(request_id, &receipt.into(), now, rng)
    }

    /// Declines `request_id` (payer).
    ///
    /// # Errors
    /// [`ClientError::UnknownRequest`], [`ClientError::Pay`] (not the payer, or the thread is
    /// past ISSUED), [`ClientError::IdentityUnconfirmed`], or an encryption or store error.
    pub fn decline<R: CryptoRng + ?Sized>(
        &mut self,
        request_id: &Id,
        reason_code: DeclineReason,
        reason: &str,
        now: u64,
        rng: &mut R,
    ) -> Result<Sent, ClientError> {
        let decline = Decline::new(self.slot(request_id)?.thread.request(), reason_code, reason)?;
        self.send_payment_message(request_id, &decline.into(), now, rng)
    }

    /// Withdraws `request_id` (payee).
    ///
    /// # Errors
    /// [`ClientError::UnknownRequest`], [`ClientError::Pay`] (not the payee, or money is
    /// verified), [`ClientError::IdentityUnconfirmed`], or an encryption or store error.
    pub fn cancel<R: CryptoRng + ?Sized>(
        &mut self,
        request_id: &Id,
        reason_code: CancelReason,
        reason: &str,
        now: u64,
        rng: &mut R,
    ) -> Result<Sent, ClientError> {
        let cancel = Cancel::new(self.slot(request_id)?.thread.request(), reason_code, reason)?;
        self.send_payment_message(request_id, &cancel.into(), now, rng)
    }

    /// Sends any payment message of an existing thread (a refund notice, for example): applies
    /// it to the thread as outbound, then encrypts and commits.
    ///
    /// # Errors
    /// [`ClientError::UnknownRequest`], [`ClientError::Pay`] if the thread refuses it,
    /// [`ClientError::IdentityUnconfirmed`], or an encryption or store error.
    pub fn send_payment_message<R: CryptoRng + ?Sized>(
        &mut self,
        request_id: &Id,
        message: &PaymentMessage,
        now: u64,
        rng: &mut R,
    ) -> Result<Sent, ClientError> {
        if message.request_id() != *request_id {
            return Err(PayError::UnknownRequest.into());
        }
        let mut slot = self.slot(request_id)?.clone();
        slot.thread.handle(Direction::Outbound, message, now)?;
        self.send_in_thread(*request_id, slot, message, rng)
    }

    /// Answers a refused message (an [`crate::Event::Refused`] with a message id) with a
    /// `ProtocolError`. Never answer a peer's error with an error.
    ///
    /// # Errors
    /// [`ClientError::NoSession`], or an encryption or store error.
    pub fn send_error<R: CryptoRng + ?Sized>(
        &mut self,
        peer: &[u8; 32],
        refused_message_id: Id,
        error: &PayError,
        rng: &mut R,
    ) -> Result<Outgoing, ClientError> {
        let reply = ProtocolErrorReply::for_error(refused_message_id, error);
        let content = content_for_error(new_id(rng), &reply);
        let plaintext = Zeroizing::new(remit_wire::encode(&content)?);
        self.encrypt_and_commit(*peer, &plaintext, None, rng)
    }

    fn issue<R: CryptoRng + ?Sized>(
        &mut self,
        peer: &[u8; 32],
        draft: &RequestDraft,
        now: u64,
        rng: &mut R,
    ) -> Result<Sent, ClientError> {
        self.check_peer(peer)?;
        let request = draft.sign(&LocalIdentity::new(&self.account), rng)?;
        let request_id = request.request().request_id;
        if self.threads.contains_key(&request_id) {
            // 2^-128 unless the rng is broken; refuse rather than overwrite a thread.
            return Err(PayError::Conflict { what: "request" }.into());
        }
        let thread = PaymentThread::open(Role::Payee, request.clone(), now)?;
        let slot = ThreadSlot {
            peer: *peer,
            payee: *self.account.identity(),
            thread,
        };
        self.send_in_thread(request_id, slot, &request.into(), rng)
    }

    fn send_in_thread<R: CryptoRng + ?Sized>(
        &mut self,
        request_id: Id,
        slot: ThreadSlot,
        message: &PaymentMessage,
        rng: &mut R,
    ) -> Result<Sent, ClientError> {
        let peer = slot.peer;
        self.check_peer(&peer)?;
        let content_id = new_id(rng);
        let plaintext = Zeroizing::new(seal(content_id, message)?);
        let state = slot.thread.state();
        let outgoing = self.encrypt_and_commit(peer, &plaintext, Some((request_id, slot)), rng)?;
        Ok(Sent {
            outgoing,
            content_id,
            request_id,
            payment_id: None,
            state,
        })
    }

    /// Encrypts `plaintext` for `peer` with a copy of the session, commits the session, the
    /// thread and the outbox entry, then assigns them.
    fn encrypt_and_commit<R: CryptoRng + ?Sized>(
        &mut self,
        peer: [u8; 32],
        plaintext: &[u8],
        thread: Option<(Id, ThreadSlot)>,
        rng: &mut R,
    ) -> Result<Outgoing, ClientError> {
        let session = self
            .sessions
            .get(&peer)
            .ok_or(ClientError::NoSession { peer })?;
        let mut session = copy_session(session)?;
        let envelope = session.encrypt(plaintext, rng)?.encode()?;
        let outgoing = Outgoing {
            recipient: peer,
            message_id: new_id(rng),
            envelope,
        };
        let mut batch = Batch::default();
        batch.sessions.push((peer, session.to_bytes()));
        if let Some((id, slot)) = &thread {
            batch.threads.push((*id, slot.record()?));
        }
        batch.outbox_insert.push(outgoing.clone());
        self.store.commit(&batch)?;
        self.sessions.insert(peer, session);
        if let Some((id, slot)) = thread {
            self.threads.insert(id, slot);
        }
        self.outbox.push(outgoing.clone());
        Ok(outgoing)
    }

    fn slot(&self, request_id: &Id) -> Result<&ThreadSlot, ClientError> {
        self.threads
            .get(request_id)
            .ok_or(ClientError::UnknownRequest {
                request_id: *request_id,
            })
    }

    /// A payment message may go to `peer`: a session exists and no identity change is
    /// pending.
    fn check_peer(&self, peer: &[u8; 32]) -> Result<(), ClientError> {
        if self.is_frozen(peer) {
            return Err(ClientError::IdentityUnconfirmed { peer: *peer });
        }
        if !self.sessions.contains_key(peer) {
            return Err(ClientError::NoSession { peer: *peer });
        }
        Ok(())
    }
}

fn receipt_outcome(state: ThreadState) -> ReceiptOutcome {
    match state {
        ThreadState::Paid => ReceiptOutcome::Settled,
        ThreadState::PartiallyPaid => ReceiptOutcome::Partial,
        ThreadState::Exception(ExceptionReason::Overpaid) => ReceiptOutcome::Overpaid,
        ThreadState::Exception(
            ExceptionReason::Late | ExceptionReason::AfterCancel | ExceptionReason::AfterDecline,
        ) => ReceiptOutcome::Late,
        _ => ReceiptOutcome::Pending,
    }
}
