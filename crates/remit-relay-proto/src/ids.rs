//! The names the relay protocol routes by: an identity's [`Address`] and a sender's
//! [`MessageId`]. Distinct types, so a recipient cannot be passed where a sender or a message id
//! is expected.

use core::fmt;

use remit_wire::limits::{ID_LEN, KEY_LEN};

/// An identity's address: its Ed25519 identity key (32 bytes), which names its mailbox at the
/// relay and its entry in the prekey directory.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address([u8; KEY_LEN]);

impl Address {
    /// The address of the identity whose Ed25519 key is `key`.
    #[must_use]
    pub const fn new(key: [u8; KEY_LEN]) -> Self {
        Self(key)
    }

    /// The key bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The key bytes, by value.
    #[must_use]
    pub const fn to_bytes(self) -> [u8; KEY_LEN] {
        self.0
    }
}

impl From<[u8; KEY_LEN]> for Address {
    fn from(key: [u8; KEY_LEN]) -> Self {
        Self(key)
    }
}

impl From<Address> for [u8; KEY_LEN] {
    fn from(address: Address) -> Self {
        address.0
    }
}

impl TryFrom<&[u8]> for Address {
    type Error = LengthError;

    fn try_from(bytes: &[u8]) -> Result<Self, LengthError> {
        <[u8; KEY_LEN]>::try_from(bytes)
            .map(Self)
            .map_err(|_| LengthError {
                expected: KEY_LEN,
                got: bytes.len(),
            })
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Address(")?;
        write_hex(f, &self.0)?;
        f.write_str(")")
    }
}

/// A message id chosen by the sender (16 random bytes). The relay stores a repeated id for the
/// same recipient once, which makes a resent envelope harmless.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId([u8; ID_LEN]);

impl MessageId {
    /// The id with these bytes.
    #[must_use]
    pub const fn new(bytes: [u8; ID_LEN]) -> Self {
        Self(bytes)
    }

    /// The id's bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; ID_LEN] {
        &self.0
    }

    /// The id's bytes, by value.
    #[must_use]
    pub const fn to_bytes(self) -> [u8; ID_LEN] {
        self.0
    }
}

impl From<[u8; ID_LEN]> for MessageId {
    fn from(bytes: [u8; ID_LEN]) -> Self {
        Self(bytes)
    }
}

impl From<MessageId> for [u8; ID_LEN] {
    fn from(id: MessageId) -> Self {
        id.0
    }
}

impl TryFrom<&[u8]> for MessageId {
    type Error = LengthError;

    fn try_from(bytes: &[u8]) -> Result<Self, LengthError> {
        <[u8; ID_LEN]>::try_from(bytes)
            .map(Self)
            .map_err(|_| LengthError {
                expected: ID_LEN,
                got: bytes.len(),
            })
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MessageId(")?;
        write_hex(f, &self.0)?;
        f.write_str(")")
    }
}

/// A byte string of the wrong length for an [`Address`] or a [`MessageId`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected} bytes, got {got}")]
pub struct LengthError {
    /// The length the type has.
    pub expected: usize,
    /// The length that was given.
    pub got: usize,
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn lengths_are_checked() {
        assert_eq!(
            Address::try_from(&[1u8; 31][..]),
            Err(LengthError {
                expected: 32,
                got: 31
            })
        );
        assert_eq!(
            MessageId::try_from(&[1u8; 17][..]),
            Err(LengthError {
                expected: 16,
                got: 17
            })
        );
        assert_eq!(
            Address::try_from(&[7u8; 32][..]).unwrap().to_bytes(),
            [7; 32]
        );
    }

    #[test]
    fn shown_as_hex() {
        let id = MessageId::new([0xab; 16]);
        assert_eq!(id.to_string(), "ab".repeat(16));
        assert_eq!(format!("{id:?}"), format!("MessageId({})", "ab".repeat(16)));
    }
}
