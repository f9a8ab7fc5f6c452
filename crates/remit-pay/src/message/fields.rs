//! Field helpers shared by every message view: ids, lengths, text, tokens, money.

use remit_wire::v1;

use super::Id;
use crate::error::PayError;
use crate::money::{Money, MoneyError, is_caip2};
use crate::text::sanitize;

pub(super) fn id16(field: &'static str, bytes: &[u8]) -> Result<Id, PayError> {
    Id::try_from(bytes).map_err(|_| PayError::invalid(field, "must be 16 bytes"))
}

pub(super) fn bytes32(field: &'static str, bytes: &[u8]) -> Result<[u8; 32], PayError> {
    <[u8; 32]>::try_from(bytes).map_err(|_| PayError::invalid(field, "must be 32 bytes"))
}

pub(super) fn too_long(field: &'static str, len: usize, max: usize) -> Result<(), PayError> {
    if len > max {
        Err(PayError::TooLong { field, len, max })
    } else {
        Ok(())
    }
}

/// Free text: at most `max` bytes as received, then stripped (spec §3.3).
pub(super) fn text(
    field: &'static str,
    s: &str,
    max: usize,
    multiline: bool,
) -> Result<String, PayError> {
    too_long(field, s.len(), max)?;
    Ok(sanitize(s, multiline))
}

/// Free text that must not be empty once stripped.
pub(super) fn required_text(field: &'static str, s: &str, max: usize) -> Result<String, PayError> {
    let t = text(field, s, max, false)?;
    if t.trim().is_empty() {
        return Err(PayError::invalid(field, "required"));
    }
    Ok(t)
}

/// A machine token (address, account number, txid): `min..=max` printable ASCII bytes, no
/// spaces. Never sanitized: a token with a hidden character is refused, not repaired.
pub(super) fn token(
    field: &'static str,
    s: &str,
    min: usize,
    max: usize,
) -> Result<String, PayError> {
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

pub(super) fn money(field: &'static str, m: Option<&v1::Money>) -> Result<Money, PayError> {
    let m = m.ok_or(PayError::invalid(field, "required"))?;
    Money::from_wire(m).map_err(PayError::money(field))
}

pub(super) fn money_like(
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

pub(super) fn add(field: &'static str, a: &Money, b: &Money) -> Result<Money, PayError> {
    a.checked_add(b).map_err(PayError::money(field))
}

pub(super) fn chain(field: &'static str, s: &str) -> Result<String, PayError> {
    if is_caip2(s) {
        Ok(s.to_owned())
    } else {
        Err(PayError::invalid(field, "not a CAIP-2 chain id"))
    }
}
