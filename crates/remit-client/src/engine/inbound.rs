//! Input: received envelopes, the clock, and the app's settlement verifier.

use std::collections::HashMap;

use remit_pay::{
    Applied, Direction, Id, Incoming, Notice, PayError, PaymentMessage, PaymentRequest,
    PaymentStatus, PaymentThread, Role, SettlementVerifier, ThreadState, Verification,
    open_content,
};
use remit_session::{Account, DecryptError, Session, VerifiedIdentity};
use remit_wire::{decode_content, session::Envelope};
use zeroize::Zeroizing;

use super::{Engine, MAX_HELD_MESSAGES, ThreadSlot, copy_account, copy_session};
use crate::{
    error::ClientError,
    event::Event,
    record::{Contact, HeldMessage},
    store::{Batch, Processed, Store},
};

impl<S: Store> Engine<S> {
    /// Handles one envelope from `sender` (the address the relay authenticated), delivered
    /// under the relay's `relay_message_id`.
    ///
    /// A prekey envelope with no matching session is accepted through the account (one
    /// one-time prekey consumed); anything else is decrypted by the peer's session. The content
    /// is decoded and validated, payment messages are applied to their threads, and every
    /// change — session, account, threads, contacts, held messages and the processed
    /// `Content.message_id` — is committed in one transaction before this returns. Ack the
    /// relay only after it returns `Ok`.
    ///
    /// A second delivery of the same envelope, or of the same content in another envelope, is a
    /// no-op that returns no event. A message that decrypts but is refused (bad signature,
    /// does not fit its thread) is committed as processed and reported as
    /// [`Event::Refused`].
    ///
    /// # Errors
    /// [`ClientError::Decode`] (malformed), [`ClientError::Decrypt`] (tampered, or no key),
    /// [`ClientError::Handshake`], [`ClientError::SenderMismatch`],
    /// [`ClientError::NoSession`], or a store error. On error nothing changed; a transport may
    /// ack (drop) the envelope for every error but [`ClientError::Store`].
    pub fn handle_envelope(
        &mut self,
        sender: [u8; 32],
        relay_message_id: [u8; 16],
        envelope: &[u8],
        now: u64,
    ) -> Result<Vec<Event>, ClientError> {
        let before = self.account.one_time_prekey_count();
        let events = self.handle_envelope_inner(sender, relay_message_id, envelope, now)?;
        // A first message that used one of our one-time prekeys: the relay handed it out.
        let used = before.saturating_sub(self.account.one_time_prekey_count());
        self.relay.note_used(used);
        Ok(events)
    }

    fn handle_envelope_inner(
        &mut self,
        sender: [u8; 32],
        relay_message_id: [u8; 16],
        envelope: &[u8],
        now: u64,
    ) -> Result<Vec<Event>, ClientError> {
        let envelope = Envelope::decode(envelope)?;
        let Some(decrypted) = self.decrypt(sender, &envelope)? else {
            return Ok(Vec::new());
        };
        let Decrypted {
            session,
            account,
            plaintext,
        } = decrypted;
        let peer = *session.peer_identity();

        let mut batch = Batch::default();
        let mut events = Vec::new();
        let mut contact_update = None;
        if account.is_some() {
            // A new session: is this the identity we know at this address?
            contact_update = self.check_identity_change(sender, &peer);
            if let Some((handle, contact)) = &contact_update
                && let Some(previous) = contact.previous
            {
                events.push(Event::IdentityChanged {
                    handle: handle.clone(),
                    previous,
                    current: peer,
                    safety_number: self.safety_number(&peer),
                });
                batch.contacts.push((handle.clone(), contact.to_bytes()));
            }
        }
        batch.sessions.push((sender, session.to_bytes()));
        if let Some(a) = &account {
            batch.account = Some(a.to_bytes());
        }

        let mut thread_update = None;
        let mut held = None;
        let from = self.sender_after(sender, peer, contact_update.as_ref());
        match decode_content(&plaintext) {
            Err(e) => events.push(Event::Refused {
                from,
                message_id: None,
                error: e.into(),
            }),
            Ok(content) => {
                let message_id = <Id>::try_from(content.message_id.as_slice()).ok();
                if let Some(id) = message_id {
                    if self.store.is_processed(&sender, &id)? {
                        // Already applied: only the session advances.
                        self.commit_inbound(&batch, session, account, contact_update, None, None)?;
                        return Ok(events);
                    }
                    batch.processed.push(Processed {
                        peer: sender,
                        message_id: id,
                        relay_message_id,
                        processed_at: now,
                    });
                }
                let frozen = contact_update
                    .as_ref()
                    .is_some_and(|(_, c)| super::frozen_at(c, &sender))
                    || self.is_frozen(&sender);
                match open_content(&content, &peer) {
                    Err(error) => events.push(Event::Refused {
                        from,
                        message_id,
                        error,
                    }),
                    Ok(received) => {
                        let id = received.message_id;
                        match received.body {
                            Incoming::Text(text) => events.push(Event::Text {
                                from,
                                message_id: id,
                                text,
                            }),
                            Incoming::Error(reply) => events.push(Event::PeerError {
                                from,
                                message_id: id,
                                reply,
                            }),
                            Incoming::Payment(message) if frozen => {
                                if self.held.len() >= MAX_HELD_MESSAGES {
                                    events.push(Event::Refused {
                                        from,
                                        message_id: Some(id),
                                        error: PayError::LimitExceeded {
                                            what: "held messages",
                                            max: MAX_HELD_MESSAGES,
                                        },
                                    });
                                } else {
                                    let record = HeldMessage {
                                        sender: peer,
                                        received_at: now,
                                        content: plaintext.to_vec(),
                                    };
                                    batch.held_insert.push((sender, id, record.to_bytes()));
                                    held = Some((sender, id, record));
                                    events.push(Event::PaymentHeld {
                                        from,
                                        message_id: id,
                                        kind: message.kind(),
                                        request_id: message.request_id(),
                                    });
                                }
                            }
                            Incoming::Payment(message) => {
                                let existing = self.threads.get(&message.request_id());
                                match route(existing, sender, peer, &message, now) {
                                    Err(error) => events.push(Event::Refused {
                                        from,
                                        message_id: Some(id),
                                        error,
                                    }),
                                    Ok((slot, applied)) => {
                                        let request_id = message.request_id();
                                        batch.threads.push((request_id, slot.record()?));
                                        events.push(Event::Payment {
                                            from,
                                            message_id: id,
                                            kind: message.kind(),
                                            request_id,
                                            applied,
                                            state: slot.thread.state(),
                                        });
                                        thread_update = Some((request_id, slot));
                                    }
                                }
                            }
                            // `Incoming` is non-exhaustive: a body this engine does not handle
                            // is refused (its id is still recorded, so it is not redelivered).
                            _ => events.push(Event::Refused {
                                from,
                                message_id: Some(id),
                                error: PayError::InvalidField {
                                    field: "body",
                                    reason: "a kind this version does not handle",
                                },
                            }),
                        }
                    }
                }
            }
        }
        self.commit_inbound(
            &batch,
            session,
            account,
            contact_update,
            thread_update,
            held,
        )?;
        Ok(events)
    }

    /// Applies the clock to every thread (an issued request past its expiry becomes expired),
    /// commits the threads that changed, and reports each change.
    ///
    /// # Errors
    /// A store or record error; nothing changed.
    pub fn handle_timeout(&mut self, now: u64) -> Result<Vec<Event>, ClientError> {
        self.update_threads(
            |_| true,
            |thread| {
                thread.tick(now);
                Ok(())
            },
        )
    }

    /// Phase one of settlement verification: every payment and refund notice, in every
    /// thread, that waits for the app's check of its rail, oldest thread first. The app checks
    /// each on its rail however it likes (a bank statement, a chain node, a provider's API, a
    /// person), outside the engine, then hands back what it found with
    /// [`Engine::apply_verdicts`]. No app or network code ever runs inside the engine.
    #[must_use]
    pub fn pending_settlements(&self) -> Vec<PendingSettlement> {
        let mut ids: Vec<&Id> = self.threads.keys().collect();
        ids.sort_unstable();
        let mut pending = Vec::new();
        for id in ids {
            let Some(slot) = self.threads.get(id) else {
                continue;
            };
            for record in slot.thread.payments() {
                if record.status == PaymentStatus::Unverified {
                    pending.push(PendingSettlement {
                        role: slot.thread.local_role(),
                        request: slot.thread.request().request().clone(),
                        notice: record.notice.clone(),
                    });
                }
            }
        }
        pending
    }

    /// Phase two of settlement verification: applies the app's verdicts, commits and reports
    /// the threads that changed. Only a verdict makes a request paid (spec/payments.md §6.3).
    /// A notice without a verdict stays pending; a verdict for a notice that is not pending
    /// (already decided, or unknown) changes nothing, so applying the same verdicts twice (an
    /// app that crashed after applying them) is harmless.
    ///
    /// # Errors
    /// [`ClientError::Pay`] on a money overflow, or a store error; nothing changed.
    pub fn apply_verdicts(
        &mut self,
        verdicts: &[Verdict],
        now: u64,
    ) -> Result<Vec<Event>, ClientError> {
        let mut by_notice: HashMap<(Id, Id), Verification> = HashMap::new();
        for v in verdicts {
            by_notice.insert((v.request_id, v.payment_id), v.verification.clone());
        }
        // Only threads with a verdict for one of their waiting notices can change: no other
        // thread is copied, so the cost follows the verdicts, not the history.
        let concerned = |thread: &PaymentThread| {
            thread.payments().iter().any(|p| {
                p.status == PaymentStatus::Unverified
                    && by_notice.contains_key(&(p.notice.request_id, p.notice.payment_id))
            })
        };
        let mut table = VerdictTable(&by_notice);
        self.update_threads(concerned, |thread| {
            thread.verify_settlements(&mut table, now)?;
            Ok(())
        })
    }

    fn update_threads(
        &mut self,
        concerned: impl Fn(&PaymentThread) -> bool,
        mut update: impl FnMut(&mut PaymentThread) -> Result<(), ClientError>,
    ) -> Result<Vec<Event>, ClientError> {
        let mut ids: Vec<Id> = self.threads.keys().copied().collect();
        ids.sort_unstable();
        let mut batch = Batch::default();
        let mut events = Vec::new();
        let mut changed = Vec::new();
        for id in ids {
            let Some(slot) = self.threads.get(&id) else {
                continue;
            };
            if !concerned(&slot.thread) {
                continue;
            }
            let mut next = slot.clone();
            update(&mut next.thread)?;
            if next.thread == slot.thread {
                continue;
            }
            let (from, to) = (slot.thread.state(), next.thread.state());
            if from != to {
                events.push(Event::StateChanged {
                    peer: slot.peer,
                    request_id: id,
                    from,
                    to,
                });
            }
            batch.threads.push((id, next.record()?));
            changed.push((id, next));
        }
        self.store.commit(&batch)?;
        self.threads.extend(changed);
        Ok(events)
    }

    /// Decrypts `envelope` on copies. `None` for a duplicate the session recognises.
    fn decrypt(
        &self,
        sender: [u8; 32],
        envelope: &Envelope,
    ) -> Result<Option<Decrypted>, ClientError> {
        let existing = self.sessions.get(&sender);
        let session = match (envelope, existing) {
            (Envelope::PreKey(prekey), _) if prekey.identity.signing_key != sender => {
                return Err(ClientError::SenderMismatch);
            }
            (Envelope::PreKey(prekey), Some(s)) if s.matches_prekey(prekey) => s,
            (Envelope::PreKey(prekey), _) => {
                let mut account = copy_account(&self.account)?;
                let (session, plaintext) = account.accept(prekey)?;
                return Ok(Some(Decrypted {
                    session,
                    account: Some(account),
                    plaintext,
                }));
            }
            (Envelope::Message(_), Some(s)) => s,
            (Envelope::Message(_), None) => {
                return Err(ClientError::NoSession { peer: sender });
            }
            // `Envelope` is non-exhaustive: a kind this version does not know.
            (_, _) => {
                return Err(ClientError::UnsupportedEnvelope);
            }
        };
        let mut session = copy_session(session)?;
        match session.decrypt(envelope) {
            Ok(plaintext) => Ok(Some(Decrypted {
                session,
                account: None,
                plaintext,
            })),
            Err(DecryptError::Duplicate) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// For a new session with `peer` at `address`: the contact change to record, if the
    /// identity differs from the one pinned at this address (or, with no contact, from the
    /// previous session's).
    fn check_identity_change(
        &self,
        address: [u8; 32],
        peer: &VerifiedIdentity,
    ) -> Option<(String, Contact)> {
        let pinned = self
            .contacts
            .iter()
            .find(|(_, c)| c.identity.signing_key() == &address);
        match pinned {
            Some((_, c)) if c.identity == *peer => None,
            Some((handle, c)) => Some((handle.clone(), c.changed_to(*peer))),
            None => {
                let previous = self.sessions.get(&address).map(Session::peer_identity)?;
                if previous == peer {
                    return None;
                }
                let contact = Contact {
                    identity: *previous,
                    verified: false,
                    frozen: false,
                    previous: None,
                };
                Some((hex_handle(&address), contact.changed_to(*peer)))
            }
        }
    }

    fn sender_after(
        &self,
        address: [u8; 32],
        identity: VerifiedIdentity,
        contact_update: Option<&(String, Contact)>,
    ) -> crate::event::Sender {
        let mut sender = self.sender(address, identity);
        if let Some((handle, contact)) = contact_update {
            sender.handle = Some(handle.clone());
            sender.verified = contact.verified;
        }
        sender
    }

    fn commit_inbound(
        &mut self,
        batch: &Batch,
        session: Session,
        account: Option<Account>,
        contact: Option<(String, Contact)>,
        thread: Option<(Id, ThreadSlot)>,
        held: Option<([u8; 32], Id, HeldMessage)>,
    ) -> Result<(), ClientError> {
        self.store.commit(batch)?;
        let address = *session.peer_identity().signing_key();
        self.sessions.insert(address, session);
        if let Some(account) = account {
            self.account = account;
        }
        if let Some((handle, contact)) = contact {
            self.contacts.insert(handle, contact);
        }
        if let Some((id, slot)) = thread {
            self.threads.insert(id, slot);
        }
        if let Some(h) = held {
            self.held.push(h);
        }
        Ok(())
    }
}

/// The result of a successful decrypt, on copies.
struct Decrypted {
    session: Session,
    /// The account after `accept` (a one-time prekey consumed), for a new session.
    account: Option<Account>,
    plaintext: Zeroizing<Vec<u8>>,
}

/// Applies an inbound payment message from `sender` (authenticated as `peer`) to a copy of its
/// thread, or opens a payer thread for a new request.
pub(super) fn route(
    existing: Option<&ThreadSlot>,
    sender: [u8; 32],
    peer: VerifiedIdentity,
    message: &PaymentMessage,
    now: u64,
) -> Result<(ThreadSlot, Applied), PayError> {
    match (existing, message) {
        (Some(slot), _) if slot.peer != sender => Err(PayError::UnknownRequest),
        (Some(slot), _) => {
            let mut next = slot.clone();
            let applied = next.thread.handle(Direction::Inbound, message, now)?;
            Ok((next, applied))
        }
        (None, PaymentMessage::Request(request)) => {
            let thread = PaymentThread::open(Role::Payer, (**request).clone(), now)?;
            Ok((
                ThreadSlot {
                    peer: sender,
                    payee: peer,
                    thread,
                },
                Applied::Accepted {
                    from: ThreadState::Issued,
                    to: ThreadState::Issued,
                },
            ))
        }
        (None, _) => Err(PayError::UnknownRequest),
    }
}

/// The handle given to a contact the app never named: the address in hex.
fn hex_handle(address: &[u8; 32]) -> String {
    use core::fmt::Write;
    let mut s = String::with_capacity(64);
    for b in address {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A payment or refund notice waiting for the app's check of its rail
/// ([`Engine::pending_settlements`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PendingSettlement {
    /// Our side of the thread: the payee checks payments it received, the payer refunds.
    pub role: Role,
    /// The request the notice pays (its amount, asset and methods: where to look).
    pub request: PaymentRequest,
    /// The notice: what the peer claims was sent, and its rail reference (`settlement`).
    pub notice: Notice,
}

impl PendingSettlement {
    /// The verdict for this notice.
    #[must_use]
    pub fn verdict(&self, verification: Verification) -> Verdict {
        Verdict {
            request_id: self.notice.request_id,
            payment_id: self.notice.payment_id,
            verification,
        }
    }
}

/// The app's finding about one notice ([`Engine::apply_verdicts`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verdict {
    /// The request the notice belongs to.
    pub request_id: Id,
    /// The notice's payment id.
    pub payment_id: Id,
    /// What the app found on its rail.
    pub verification: Verification,
}

impl Verdict {
    /// The verdicts of a synchronous check (`verifier`, the app's code, run here, outside the
    /// engine) for every notice in `pending`: for an app whose rail answers at once, such as a
    /// local ledger or a statement file already read.
    pub fn collect<V: SettlementVerifier + ?Sized>(
        pending: &[PendingSettlement],
        verifier: &mut V,
    ) -> Vec<Self> {
        pending
            .iter()
            .map(|p| p.verdict(verifier.verify(&p.request, &p.notice)))
            .collect()
    }

    /// The verdict `verification` for the notice `payment_id` of request `request_id`.
    #[must_use]
    pub fn new(request_id: Id, payment_id: Id, verification: Verification) -> Self {
        Self {
            request_id,
            payment_id,
            verification,
        }
    }
}

/// The app's verdicts as the thread asks for them: a notice without one stays pending.
struct VerdictTable<'a>(&'a HashMap<(Id, Id), Verification>);

impl SettlementVerifier for VerdictTable<'_> {
    fn verify(&mut self, _request: &PaymentRequest, notice: &Notice) -> Verification {
        self.0
            .get(&(notice.request_id, notice.payment_id))
            .cloned()
            .unwrap_or(Verification::Pending)
    }
}
