//! Contacts and identity safety (spec/README.md §4.7): pinning an identity to a handle,
//! noticing when it changes, freezing payment threads until the app confirms, and starting
//! sessions from bundles.

use std::collections::BTreeMap;

use rand_core::CryptoRng;
use remit_pay::{Id, Incoming, PayError, open_content};
use remit_session::{VerifiedBundle, VerifiedIdentity};
use remit_wire::{decode_content, session::PreKeyBundle};

use super::{Engine, ThreadSlot, inbound::route};
use crate::{error::ClientError, event::Event, record::Contact, store::Batch, store::Store};

/// What the engine knows about a contact.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ContactInfo {
    /// The pinned identity (after an unconfirmed change, the new one).
    pub identity: VerifiedIdentity,
    /// Its address.
    pub address: [u8; 32],
    /// The user compared safety numbers for this identity.
    pub verified: bool,
    /// An identity change is waiting for [`Engine::confirm_identity`]; payment messages with
    /// this contact are frozen.
    pub frozen: bool,
    /// The identity before the unconfirmed change.
    pub previous: Option<VerifiedIdentity>,
}

impl Contact {
    /// This contact after its identity changed to `identity`: frozen, unverified, and
    /// remembering the first identity not yet confirmed away.
    pub(super) fn changed_to(&self, identity: VerifiedIdentity) -> Self {
        Self {
            identity,
            verified: false,
            frozen: true,
            previous: self.previous.or(Some(self.identity)),
        }
    }
}

impl<S: Store> Engine<S> {
    /// The contact named `handle`.
    #[must_use]
    pub fn contact(&self, handle: &str) -> Option<ContactInfo> {
        self.contacts.get(handle).map(|c| ContactInfo {
            identity: c.identity,
            address: *c.identity.signing_key(),
            verified: c.verified,
            frozen: c.frozen,
            previous: c.previous,
        })
    }

    /// Every contact handle, in order.
    #[must_use]
    pub fn contact_handles(&self) -> Vec<&str> {
        self.contacts.keys().map(String::as_str).collect()
    }

    /// Binds the app's `handle` for a contact to `identity` (from its own directory, a QR code,
    /// a contact card). The first binding is trusted (trust on first use). Binding a known
    /// handle to a different identity is an identity change: the contact becomes unverified,
    /// its payment threads are frozen until [`Engine::confirm_identity`], and the returned
    /// [`Event::IdentityChanged`] must be shown to the user.
    ///
    /// # Errors
    /// A store error; nothing changed.
    pub fn pin_peer(
        &mut self,
        handle: &str,
        identity: VerifiedIdentity,
    ) -> Result<Option<Event>, ClientError> {
        let (contact, event) = self.pin(handle, identity);
        if let Some(contact) = contact {
            self.commit_contacts(vec![(handle.to_owned(), contact)])?;
        }
        Ok(event)
    }

    /// Starts a session from a peer's bundle (fetched from the relay or handed over by the
    /// app), pinning its identity to `handle` as [`Engine::pin_peer`] does. Replaces any
    /// session with that peer. Messages sent next carry the handshake until the peer answers.
    ///
    /// # Errors
    /// [`ClientError::Handshake`] if the bundle does not verify, or a store error; nothing
    /// changed.
    pub fn start_session<R: CryptoRng + ?Sized>(
        &mut self,
        handle: Option<&str>,
        bundle: &PreKeyBundle,
        rng: &mut R,
    ) -> Result<Vec<Event>, ClientError> {
        let verified = VerifiedBundle::verify(bundle)?;
        let session = self.account.initiate(&verified, rng)?;
        let peer = *verified.identity();
        let address = *peer.signing_key();
        let mut batch = Batch::default();
        let mut events = Vec::new();
        let mut contact = None;
        if let Some(handle) = handle {
            let (updated, event) = self.pin(handle, peer);
            if let Some(c) = updated {
                batch.contacts.push((handle.to_owned(), c.to_bytes()));
                contact = Some((handle.to_owned(), c));
            }
            events.extend(event);
        }
        batch.sessions.push((address, session.to_bytes()));
        self.store.commit(&batch)?;
        self.sessions.insert(address, session);
        if let Some((handle, c)) = contact {
            self.contacts.insert(handle, c);
        }
        Ok(events)
    }

    /// Confirms the current identity of `handle` after an identity change: payment messages
    /// with the contact flow again, and the payment messages held meanwhile are applied now,
    /// in arrival order; their events are returned. The contact stays unverified until
    /// [`Engine::mark_verified`].
    ///
    /// # Errors
    /// [`ClientError::UnknownContact`], or a store or record error; nothing changed.
    pub fn confirm_identity(&mut self, handle: &str, now: u64) -> Result<Vec<Event>, ClientError> {
        let contact = self
            .contacts
            .get(handle)
            .ok_or(ClientError::UnknownContact)?;
        if !contact.frozen {
            return Ok(Vec::new());
        }
        let addresses: Vec<[u8; 32]> = core::iter::once(*contact.identity.signing_key())
            .chain(contact.previous.map(|p| *p.signing_key()))
            .collect();
        let confirmed = Contact {
            identity: contact.identity,
            verified: contact.verified,
            frozen: false,
            previous: None,
        };
        let mut batch = Batch::default();
        batch
            .contacts
            .push((handle.to_owned(), confirmed.to_bytes()));
        let mut events = Vec::new();
        let mut work: BTreeMap<Id, ThreadSlot> = BTreeMap::new();
        let mut released = Vec::new();
        for (peer, id, held) in &self.held {
            if !addresses.contains(peer) || self.frozen_elsewhere(peer, handle) {
                continue;
            }
            released.push((*peer, *id));
            batch.held_delete.push((*peer, *id));
            let from = self.sender(*peer, held.sender);
            let message = decode_content(&held.content)
                .map_err(PayError::from)
                .and_then(|c| open_content(&c, &held.sender));
            let message = match message {
                Ok(received) => match received.body {
                    Incoming::Payment(m) => m,
                    // Only payment messages are held.
                    _ => continue,
                },
                Err(error) => {
                    events.push(Event::Refused {
                        from,
                        message_id: Some(*id),
                        error,
                    });
                    continue;
                }
            };
            let request_id = message.request_id();
            let existing = work
                .get(&request_id)
                .or_else(|| self.threads.get(&request_id));
            match route(existing, *peer, held.sender, &message, now) {
                Ok((slot, applied)) => {
                    events.push(Event::Payment {
                        from,
                        message_id: *id,
                        kind: message.kind(),
                        request_id,
                        applied,
                        state: slot.thread.state(),
                    });
                    work.insert(request_id, slot);
                }
                Err(error) => events.push(Event::Refused {
                    from,
                    message_id: Some(*id),
                    error,
                }),
            }
        }
        for (id, slot) in &work {
            batch.threads.push((*id, slot.record()?));
        }
        self.store.commit(&batch)?;
        self.contacts.insert(handle.to_owned(), confirmed);
        self.threads.extend(work);
        self.held
            .retain(|(peer, id, _)| !released.contains(&(*peer, *id)));
        // The events name the contact as it is now (confirmed).
        for event in &mut events {
            if let Event::Payment { from, .. } | Event::Refused { from, .. } = event {
                *from = self.sender(from.address, from.identity);
            }
        }
        Ok(events)
    }

    /// Marks `handle`'s current identity verified: the user compared safety numbers. Also
    /// confirms a pending identity change (the user just checked the new identity).
    ///
    /// # Errors
    /// [`ClientError::UnknownContact`], or a store error.
    pub fn mark_verified(&mut self, handle: &str, now: u64) -> Result<Vec<Event>, ClientError> {
        let contact = self
            .contacts
            .get(handle)
            .ok_or(ClientError::UnknownContact)?;
        let verified = Contact {
            verified: true,
            ..contact.clone()
        };
        self.commit_contacts(vec![(handle.to_owned(), verified)])?;
        self.confirm_identity(handle, now)
    }

    /// The change to make for binding `handle` to `identity`, and the event to report.
    fn pin(&self, handle: &str, identity: VerifiedIdentity) -> (Option<Contact>, Option<Event>) {
        match self.contacts.get(handle) {
            None => (
                Some(Contact {
                    identity,
                    verified: false,
                    frozen: false,
                    previous: None,
                }),
                None,
            ),
            Some(c) if c.identity == identity => (None, None),
            Some(c) => {
                let changed = c.changed_to(identity);
                let event = Event::IdentityChanged {
                    handle: handle.to_owned(),
                    previous: c.identity,
                    current: identity,
                    safety_number: self.safety_number(&identity),
                };
                (Some(changed), Some(event))
            }
        }
    }

    /// Whether `address` stays frozen through another contact than `handle`.
    fn frozen_elsewhere(&self, address: &[u8; 32], handle: &str) -> bool {
        self.contacts
            .iter()
            .any(|(h, c)| h != handle && super::frozen_at(c, address))
    }

    fn commit_contacts(&mut self, contacts: Vec<(String, Contact)>) -> Result<(), ClientError> {
        let batch = Batch {
            contacts: contacts
                .iter()
                .map(|(h, c)| (h.clone(), c.to_bytes()))
                .collect(),
            ..Batch::default()
        };
        self.store.commit(&batch)?;
        self.contacts.extend(contacts);
        Ok(())
    }
}
