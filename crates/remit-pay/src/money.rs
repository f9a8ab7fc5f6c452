//! Money: an asset, an amount in integer minor units (`u128`) and an explicit scale.
//!
//! No floating point anywhere. Human amounts ("12.50 USD", "0.000000000000000001 ETH") are parsed
//! and formatted exactly; arithmetic is checked and only combines amounts of the same asset and
//! scale.

use core::fmt;

use remit_wire::v1;

use crate::limits::{MAX_ASSET_LEN, MAX_CHAIN_ID_LEN, MAX_MINOR_UNITS_DIGITS, MAX_SCALE};

/// Why an amount, an asset or a sum was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MoneyError {
    /// The amount text is empty.
    #[error("empty amount")]
    Empty,
    /// The amount has a minus sign: amounts are never negative.
    #[error("negative amount")]
    Negative,
    /// The amount uses exponent notation ("1e3"): never accepted.
    #[error("exponent notation is not accepted")]
    Exponent,
    /// More than one decimal point ("12.5.0").
    #[error("more than one decimal point")]
    MultiplePoints,
    /// A digit is missing before or after the decimal point (".5", "5.").
    #[error("digits missing around the decimal point")]
    MissingDigits,
    /// A character other than an ASCII digit or one decimal point (signs, spaces, separators,
    /// non-ASCII digits).
    #[error("invalid character in amount")]
    InvalidCharacter,
    /// More decimals than the asset's scale.
    #[error("{got} decimals, the scale allows {max}")]
    TooManyDecimals {
        /// Decimals found.
        got: usize,
        /// The scale.
        max: u8,
    },
    /// The value does not fit `u128` minor units.
    #[error("amount overflows u128 minor units")]
    Overflow,
    /// A subtraction would go below zero.
    #[error("amount would be negative")]
    Underflow,
    /// A product is not a whole number of minor units (it would need rounding).
    #[error("result is not a whole number of minor units")]
    Inexact,
    /// The asset is not in the known-asset table and no scale was given.
    #[error("unknown asset")]
    UnknownAsset,
    /// The asset identifier is neither an ISO 4217 code nor a CAIP-19 asset id.
    #[error("invalid asset identifier")]
    InvalidAsset,
    /// The scale exceeds [`MAX_SCALE`].
    #[error("scale {0} exceeds the maximum")]
    ScaleTooLarge(u32),
    /// A known asset was given a scale other than its own (JPY with 2 decimals).
    #[error("scale {got} does not match the asset's scale {expected}")]
    ScaleMismatch {
        /// The asset's scale.
        expected: u8,
        /// The scale given.
        got: u8,
    },
    /// Two amounts of different assets or scales were combined or compared.
    #[error("amounts of different assets or scales")]
    AssetMismatch,
    /// `Money.minor_units` is not a canonical decimal integer (leading zero, sign, empty,
    /// too long).
    #[error("minor units are not a canonical decimal integer")]
    NonCanonical,
}

/// How an asset is identified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AssetKind {
    /// An ISO 4217 currency code, three ASCII capital letters.
    Iso4217,
    /// A CAIP-19 asset id: `namespace:reference/asset_namespace:asset_reference`.
    Caip19,
}

/// A validated asset identifier: an ISO 4217 code or a CAIP-19 asset id. A bare crypto ticker
/// ("ETH") is never an asset on the wire; it is only accepted by the human parser, which maps
/// it to its CAIP-19 id through [`KNOWN_ASSETS`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Asset {
    id: String,
    kind: AssetKind,
}

/// One entry of the known-asset table.
#[derive(Clone, Copy, Debug)]
pub struct KnownAsset {
    /// What a human types and sees ("USD", "ETH").
    pub symbol: &'static str,
    /// The wire identifier (the ISO code itself, or a CAIP-19 id).
    pub id: &'static str,
    /// Its scale (ISO 4217 minor unit exponent, or the chain's base-unit decimals).
    pub scale: u8,
}

const fn known(symbol: &'static str, id: &'static str, scale: u8) -> KnownAsset {
    KnownAsset { symbol, id, scale }
}

/// The assets this library knows the scale of. A wire amount of a known asset must use the
/// asset's own scale (so "12.50 USD" can never be shown as "1.250 USD"); an asset outside the
/// table carries its scale explicitly.
pub const KNOWN_ASSETS: &[KnownAsset] = &[
    known("USD", "USD", 2),
    known("EUR", "EUR", 2),
    known("GBP", "GBP", 2),
    known("CHF", "CHF", 2),
    known("CAD", "CAD", 2),
    known("AUD", "AUD", 2),
    known("CNY", "CNY", 2),
    known("INR", "INR", 2),
    known("BRL", "BRL", 2),
    known("MXN", "MXN", 2),
    known("SEK", "SEK", 2),
    known("NOK", "NOK", 2),
    known("DKK", "DKK", 2),
    known("PLN", "PLN", 2),
    known("JPY", "JPY", 0),
    known("KRW", "KRW", 0),
    known("ISK", "ISK", 0),
    known("CLP", "CLP", 0),
    known("KWD", "KWD", 3),
    known("BHD", "BHD", 3),
    known("JOD", "JOD", 3),
    known("OMR", "OMR", 3),
    known("TND", "TND", 3),
    known("BTC", "bip122:000000000019d6689c085ae165831e93/slip44:0", 8),
    known("ETH", "eip155:1/slip44:60", 18),
    known(
        "USDC",
        "eip155:1/erc20:0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48",
        6,
    ),
];

impl Asset {
    /// Validates a wire asset identifier.
    ///
    /// # Errors
    /// [`MoneyError::InvalidAsset`] unless `id` is three ASCII capitals (and not a crypto
    /// ticker of [`KNOWN_ASSETS`] such as "ETH") or a CAIP-19 asset id of at most
    /// [`MAX_ASSET_LEN`] bytes.
    pub fn parse(id: &str) -> Result<Self, MoneyError> {
        if id.len() > MAX_ASSET_LEN {
            return Err(MoneyError::InvalidAsset);
        }
        let kind = if id.len() == 3 && id.bytes().all(|b| b.is_ascii_uppercase()) {
            // A crypto ticker is not a currency code: "ETH" on the wire would display like
            // the CAIP-19 ether while meaning nothing in particular.
            if KNOWN_ASSETS.iter().any(|k| k.symbol == id && k.id != id) {
                return Err(MoneyError::InvalidAsset);
            }
            AssetKind::Iso4217
        } else if is_caip19(id) {
            AssetKind::Caip19
        } else {
            return Err(MoneyError::InvalidAsset);
        };
        Ok(Self {
            id: id.to_owned(),
            kind,
        })
    }

    /// Looks up a symbol ("USD", "ETH") or a wire id in [`KNOWN_ASSETS`].
    ///
    /// # Errors
    /// [`MoneyError::UnknownAsset`] if it is not in the table.
    pub fn known(symbol_or_id: &str) -> Result<(Self, u8), MoneyError> {
        let entry = KNOWN_ASSETS
            .iter()
            .find(|k| k.symbol == symbol_or_id || k.id == symbol_or_id)
            .ok_or(MoneyError::UnknownAsset)?;
        Ok((Self::parse(entry.id)?, entry.scale))
    }

    /// The wire identifier.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.id
    }

    /// ISO 4217 or CAIP-19.
    #[must_use]
    pub fn kind(&self) -> AssetKind {
        self.kind
    }

    /// The scale of this asset if it is in [`KNOWN_ASSETS`].
    #[must_use]
    pub fn known_scale(&self) -> Option<u8> {
        self.entry().map(|k| k.scale)
    }

    /// What to show a human: the table's symbol, or the full identifier.
    #[must_use]
    pub fn display_symbol(&self) -> &str {
        self.entry().map_or(self.id.as_str(), |k| k.symbol)
    }

    fn entry(&self) -> Option<&'static KnownAsset> {
        KNOWN_ASSETS.iter().find(|k| k.id == self.id)
    }
}

impl fmt::Display for Asset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

fn all_in(s: &str, min: usize, max: usize, ok: impl Fn(u8) -> bool) -> bool {
    (min..=max).contains(&s.len()) && s.bytes().all(ok)
}

fn is_namespace(s: &str) -> bool {
    all_in(s, 3, 8, |b| {
        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'
    })
}

/// Whether `s` is a CAIP-2 chain id: `[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}`.
#[must_use]
pub(crate) fn is_caip2(s: &str) -> bool {
    if s.len() > MAX_CHAIN_ID_LEN {
        return false;
    }
    match s.split_once(':') {
        Some((ns, reference)) => {
            is_namespace(ns)
                && all_in(reference, 1, 32, |b| {
                    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
                })
        }
        None => false,
    }
}

/// Whether `s` is a CAIP-19 asset id: `<CAIP-2>/[-a-z0-9]{3,8}:[.%a-zA-Z0-9-]{1,128}`.
#[must_use]
pub(crate) fn is_caip19(s: &str) -> bool {
    let Some((chain, asset)) = s.split_once('/') else {
        return false;
    };
    let Some((ns, reference)) = asset.split_once(':') else {
        return false;
    };
    is_caip2(chain)
        && is_namespace(ns)
        && all_in(reference, 1, 128, |b| {
            b.is_ascii_alphanumeric() || b == b'.' || b == b'%' || b == b'-'
        })
}

fn pow10(exp: u8) -> Result<u128, MoneyError> {
    10u128
        .checked_pow(u32::from(exp))
        .ok_or(MoneyError::Overflow)
}

/// An exact non-negative decimal number: `units / 10^scale`. Used for invoice quantities and
/// rates; never for money (that is [`Money`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decimal {
    units: u128,
    scale: u8,
}

impl Decimal {
    /// Parses "1", "1.5", "0.125" with at most `max_decimals` decimals, by the same rules as
    /// money amounts (no sign, no exponent, digits on both sides of a point).
    ///
    /// # Errors
    /// See [`MoneyError`].
    pub fn parse(text: &str, max_decimals: u8) -> Result<Self, MoneyError> {
        let (units, scale) = parse_decimal(text, max_decimals, false)?;
        Ok(Self { units, scale })
    }

    /// The integer numerator.
    #[must_use]
    pub fn units(&self) -> u128 {
        self.units
    }

    /// Decimals.
    #[must_use]
    pub fn scale(&self) -> u8 {
        self.scale
    }

    /// Whether the number is zero.
    #[must_use]
    pub fn is_zero(&self) -> bool {
        self.units == 0
    }
}

/// Parses a decimal. With `pad`, the result is scaled to exactly `max_decimals` decimals (money);
/// without, it keeps the decimals it was written with (quantities).
fn parse_decimal(text: &str, max_decimals: u8, pad: bool) -> Result<(u128, u8), MoneyError> {
    if text.is_empty() {
        return Err(MoneyError::Empty);
    }
    if text.starts_with('-') {
        return Err(MoneyError::Negative);
    }
    if text.bytes().any(|b| b == b'e' || b == b'E') {
        return Err(MoneyError::Exponent);
    }
    let (int, frac) = match text.split_once('.') {
        Some((_, rest)) if rest.contains('.') => return Err(MoneyError::MultiplePoints),
        Some((int, frac)) => (int, Some(frac)),
        None => (text, None),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !frac.is_none_or(digits) {
        return Err(MoneyError::InvalidCharacter);
    }
    if int.is_empty() || frac.is_some_and(str::is_empty) {
        return Err(MoneyError::MissingDigits);
    }
    let frac = frac.unwrap_or("");
    if frac.len() > usize::from(max_decimals) {
        return Err(MoneyError::TooManyDecimals {
            got: frac.len(),
            max: max_decimals,
        });
    }
    let frac_len = u8::try_from(frac.len()).map_err(|_| MoneyError::Overflow)?;
    let scale = if pad { max_decimals } else { frac_len };
    let int_value = parse_u128(int)?;
    let frac_value = if frac.is_empty() {
        0
    } else {
        parse_u128(frac)?
    };
    let frac_shift = scale.checked_sub(frac_len).ok_or(MoneyError::Overflow)?;
    let value = int_value
        .checked_mul(pow10(scale)?)
        .and_then(|v| v.checked_add(frac_value.checked_mul(pow10(frac_shift).ok()?)?))
        .ok_or(MoneyError::Overflow)?;
    Ok((value, scale))
}

/// Parses ASCII digits (already checked) into a u128, checking overflow.
fn parse_u128(digits: &str) -> Result<u128, MoneyError> {
    digits.bytes().try_fold(0u128, |acc, b| {
        acc.checked_mul(10)
            .and_then(|v| v.checked_add(u128::from(b.wrapping_sub(b'0'))))
            .ok_or(MoneyError::Overflow)
    })
}

/// An amount of one asset: `minor` minor units at `scale` decimals.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Money {
    asset: Asset,
    minor: u128,
    scale: u8,
}

impl Money {
    /// An amount in minor units.
    ///
    /// # Errors
    /// [`MoneyError::ScaleTooLarge`], or [`MoneyError::ScaleMismatch`] for a known asset given
    /// another scale than its own.
    pub fn new(asset: Asset, minor: u128, scale: u8) -> Result<Self, MoneyError> {
        if scale > MAX_SCALE {
            return Err(MoneyError::ScaleTooLarge(u32::from(scale)));
        }
        if let Some(expected) = asset.known_scale()
            && expected != scale
        {
            return Err(MoneyError::ScaleMismatch {
                expected,
                got: scale,
            });
        }
        Ok(Self {
            asset,
            minor,
            scale,
        })
    }

    /// Zero of the same asset and scale as `self`.
    #[must_use]
    pub fn zero_like(&self) -> Self {
        Self {
            asset: self.asset.clone(),
            minor: 0,
            scale: self.scale,
        }
    }

    /// Parses "12.50 USD" or "0.000000000000000001 ETH": an amount, one ASCII space, and a
    /// symbol or id from [`KNOWN_ASSETS`] (whose scale bounds the decimals).
    ///
    /// # Errors
    /// [`MoneyError::UnknownAsset`] for an asset outside the table (use
    /// [`Money::parse_amount`] with an explicit scale), or any amount error.
    ///
    /// ```
    /// use remit_pay::Money;
    ///
    /// let lunch = Money::parse("12.50 USD")?;
    /// assert_eq!((lunch.minor(), lunch.scale()), (1250, 2));
    /// assert_eq!(lunch.to_string(), "12.50 USD");
    ///
    /// // The asset's scale bounds the decimals: yen has none, and nothing is rounded.
    /// assert!(Money::parse("100.5 JPY").is_err());
    /// assert!(Money::parse("12.50 XYZ").is_err());
    /// # Ok::<(), remit_pay::MoneyError>(())
    /// ```
    pub fn parse(text: &str) -> Result<Self, MoneyError> {
        let (amount, symbol) = text.split_once(' ').ok_or(MoneyError::UnknownAsset)?;
        let (asset, scale) = Asset::known(symbol)?;
        Self::parse_amount(amount, asset, scale)
    }

    /// Parses a human amount ("12.5") of `asset` at an explicit `scale`.
    ///
    /// # Errors
    /// Any [`MoneyError`] about the amount or the scale.
    pub fn parse_amount(amount: &str, asset: Asset, scale: u8) -> Result<Self, MoneyError> {
        if scale > MAX_SCALE {
            return Err(MoneyError::ScaleTooLarge(u32::from(scale)));
        }
        let (minor, _) = parse_decimal(amount, scale, true)?;
        Self::new(asset, minor, scale)
    }

    /// Validates a wire `Money`.
    ///
    /// # Errors
    /// [`MoneyError::InvalidAsset`], [`MoneyError::NonCanonical`], [`MoneyError::Overflow`],
    /// [`MoneyError::ScaleTooLarge`] or [`MoneyError::ScaleMismatch`].
    pub fn from_wire(wire: &v1::Money) -> Result<Self, MoneyError> {
        let asset = Asset::parse(&wire.asset)?;
        let units = wire.minor_units.as_str();
        let canonical = !units.is_empty()
            && units.len() <= MAX_MINOR_UNITS_DIGITS
            && units.bytes().all(|b| b.is_ascii_digit())
            && (units == "0" || !units.starts_with('0'));
        if !canonical {
            return Err(MoneyError::NonCanonical);
        }
        let minor = parse_u128(units)?;
        let scale = u8::try_from(wire.scale)
            .ok()
            .filter(|s| *s <= MAX_SCALE)
            .ok_or(MoneyError::ScaleTooLarge(wire.scale))?;
        Self::new(asset, minor, scale)
    }

    /// The wire form (canonical minor-units string).
    #[must_use]
    pub fn to_wire(&self) -> v1::Money {
        v1::Money {
            asset: self.asset.id.clone(),
            minor_units: self.minor.to_string(),
            scale: u32::from(self.scale),
        }
    }

    /// The asset.
    #[must_use]
    pub fn asset(&self) -> &Asset {
        &self.asset
    }

    /// The amount in minor units.
    #[must_use]
    pub fn minor(&self) -> u128 {
        self.minor
    }

    /// Decimals between minor and major units.
    #[must_use]
    pub fn scale(&self) -> u8 {
        self.scale
    }

    /// Whether the amount is zero.
    #[must_use]
    pub fn is_zero(&self) -> bool {
        self.minor == 0
    }

    /// Whether `other` has the same asset and scale (and so can be added or compared).
    #[must_use]
    pub fn same_unit(&self, other: &Self) -> bool {
        self.asset == other.asset && self.scale == other.scale
    }

    fn with_minor(&self, minor: u128) -> Self {
        Self {
            asset: self.asset.clone(),
            minor,
            scale: self.scale,
        }
    }

    fn check_unit(&self, other: &Self) -> Result<(), MoneyError> {
        if self.same_unit(other) {
            Ok(())
        } else {
            Err(MoneyError::AssetMismatch)
        }
    }

    /// `self + other`.
    ///
    /// # Errors
    /// [`MoneyError::AssetMismatch`] or [`MoneyError::Overflow`].
    pub fn checked_add(&self, other: &Self) -> Result<Self, MoneyError> {
        self.check_unit(other)?;
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(self.with_minor(minor))
    }

    /// `self - other`.
    ///
    /// # Errors
    /// [`MoneyError::AssetMismatch`] or [`MoneyError::Underflow`].
    pub fn checked_sub(&self, other: &Self) -> Result<Self, MoneyError> {
        self.check_unit(other)?;
        let minor = self
            .minor
            .checked_sub(other.minor)
            .ok_or(MoneyError::Underflow)?;
        Ok(self.with_minor(minor))
    }

    /// `self - other`, or zero if `other` is larger.
    ///
    /// # Errors
    /// [`MoneyError::AssetMismatch`].
    pub fn saturating_sub(&self, other: &Self) -> Result<Self, MoneyError> {
        self.check_unit(other)?;
        Ok(self.with_minor(self.minor.saturating_sub(other.minor)))
    }

    /// `self × quantity`, exact.
    ///
    /// # Errors
    /// [`MoneyError::Overflow`], or [`MoneyError::Inexact`] if the product is not a whole
    /// number of minor units.
    pub fn checked_mul(&self, quantity: &Decimal) -> Result<Self, MoneyError> {
        let product = self
            .minor
            .checked_mul(quantity.units)
            .ok_or(MoneyError::Overflow)?;
        let divisor = pow10(quantity.scale)?;
        if product.checked_rem(divisor) != Some(0) {
            return Err(MoneyError::Inexact);
        }
        let minor = product.checked_div(divisor).ok_or(MoneyError::Overflow)?;
        Ok(self.with_minor(minor))
    }

    /// Compares two amounts of the same unit.
    ///
    /// # Errors
    /// [`MoneyError::AssetMismatch`].
    pub fn checked_cmp(&self, other: &Self) -> Result<core::cmp::Ordering, MoneyError> {
        self.check_unit(other)?;
        Ok(self.minor.cmp(&other.minor))
    }

    /// The amount without the asset: "12.50", "0.000000000000000001".
    #[must_use]
    pub fn amount_string(&self) -> String {
        let digits = self.minor.to_string();
        let scale = usize::from(self.scale);
        if scale == 0 {
            return digits;
        }
        let padded = format!("{digits:0>width$}", width = scale.saturating_add(1));
        let split = padded.len().saturating_sub(scale);
        match (padded.get(..split), padded.get(split..)) {
            (Some(int), Some(frac)) => format!("{int}.{frac}"),
            _ => digits,
        }
    }
}

impl fmt::Display for Money {
    /// "12.50 USD": every decimal of the scale, then the symbol.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            self.amount_string(),
            self.asset.display_symbol()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_usd() {
        let m = Money::parse("12.50 USD").unwrap();
        assert_eq!(m.minor(), 1250);
        assert_eq!(m.scale(), 2);
        assert_eq!(m.to_string(), "12.50 USD");
        assert_eq!(Money::parse("12 USD").unwrap().to_string(), "12.00 USD");
        assert_eq!(Money::parse("0.5 USD").unwrap().minor(), 50);
        assert_eq!(Money::parse("7 JPY").unwrap().to_string(), "7 JPY");
        assert_eq!(Money::parse("0.001 KWD").unwrap().minor(), 1);
    }

    #[test]
    fn parses_one_wei() {
        let m = Money::parse("0.000000000000000001 ETH").unwrap();
        assert_eq!(m.minor(), 1);
        assert_eq!(m.asset().as_str(), "eip155:1/slip44:60");
        assert_eq!(m.to_string(), "0.000000000000000001 ETH");
        // Over u64: 120 million ETH in wei.
        let big = Money::parse("120000000 ETH").unwrap();
        assert_eq!(big.minor(), 120_000_000 * 10u128.pow(18));
        assert!(big.minor() > u128::from(u64::MAX));
    }

    #[test]
    fn amount_edge_cases_are_typed_errors() {
        let usd = || Asset::parse("USD").unwrap();
        let p = |s: &str| Money::parse_amount(s, usd(), 2);
        assert_eq!(p(""), Err(MoneyError::Empty));
        assert_eq!(p("-1"), Err(MoneyError::Negative));
        assert_eq!(p("-0.01"), Err(MoneyError::Negative));
        assert_eq!(p("1e3"), Err(MoneyError::Exponent));
        assert_eq!(p("1E3"), Err(MoneyError::Exponent));
        assert_eq!(p("1.5e-2"), Err(MoneyError::Exponent));
        assert_eq!(p("12.5.0"), Err(MoneyError::MultiplePoints));
        assert_eq!(p(".5"), Err(MoneyError::MissingDigits));
        assert_eq!(p("5."), Err(MoneyError::MissingDigits));
        assert_eq!(p("+5"), Err(MoneyError::InvalidCharacter));
        assert_eq!(p("1,000.00"), Err(MoneyError::InvalidCharacter));
        assert_eq!(p(" 5"), Err(MoneyError::InvalidCharacter));
        assert_eq!(p("٥"), Err(MoneyError::InvalidCharacter));
        assert_eq!(p("NaN"), Err(MoneyError::InvalidCharacter));
        assert_eq!(p("inf"), Err(MoneyError::InvalidCharacter));
        assert_eq!(
            p("12.501"),
            Err(MoneyError::TooManyDecimals { got: 3, max: 2 })
        );
        assert_eq!(
            p("12.500"),
            Err(MoneyError::TooManyDecimals { got: 3, max: 2 })
        );
        assert_eq!(Money::parse("1 XYZ"), Err(MoneyError::UnknownAsset));
        assert_eq!(Money::parse("1 usd"), Err(MoneyError::UnknownAsset));
        assert_eq!(Money::parse("1USD"), Err(MoneyError::UnknownAsset));
        assert_eq!(Money::parse("1  USD"), Err(MoneyError::UnknownAsset));
        assert_eq!(p("007.10").unwrap().minor(), 710);
    }

    #[test]
    fn overflow_is_detected_at_the_boundary() {
        let asset = Asset::parse("XTS").unwrap();
        let max = u128::MAX.to_string();
        assert_eq!(
            Money::parse_amount(&max, asset.clone(), 0).unwrap().minor(),
            u128::MAX
        );
        let over = "340282366920938463463374607431768211456"; // u128::MAX + 1
        assert_eq!(
            Money::parse_amount(over, asset.clone(), 0),
            Err(MoneyError::Overflow)
        );
        // Fits as digits, overflows once scaled.
        assert_eq!(
            Money::parse_amount("340282366920938463463374607431768211455", asset.clone(), 1),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            Money::parse_amount("1", asset.clone(), 39),
            Err(MoneyError::ScaleTooLarge(39))
        );
        let one = Money::new(asset.clone(), u128::MAX, 0).unwrap();
        assert_eq!(
            one.checked_add(&Money::new(asset, 1, 0).unwrap()),
            Err(MoneyError::Overflow)
        );
    }

    #[test]
    fn arithmetic_is_checked_and_unit_safe() {
        let a = Money::parse("1.00 USD").unwrap();
        let b = Money::parse("0.25 USD").unwrap();
        assert_eq!(a.checked_add(&b).unwrap().to_string(), "1.25 USD");
        assert_eq!(a.checked_sub(&b).unwrap().to_string(), "0.75 USD");
        assert_eq!(b.checked_sub(&a), Err(MoneyError::Underflow));
        assert_eq!(b.saturating_sub(&a).unwrap().minor(), 0);
        let eur = Money::parse("1.00 EUR").unwrap();
        assert_eq!(a.checked_add(&eur), Err(MoneyError::AssetMismatch));
        assert_eq!(a.checked_cmp(&eur), Err(MoneyError::AssetMismatch));
        let q = Decimal::parse("1.5", 6).unwrap();
        assert_eq!(a.checked_mul(&q).unwrap().to_string(), "1.50 USD");
        let third = Money::parse("0.33 USD").unwrap();
        assert_eq!(third.checked_mul(&q), Err(MoneyError::Inexact));
    }

    #[test]
    fn known_assets_pin_their_scale() {
        assert_eq!(
            Money::new(Asset::parse("JPY").unwrap(), 1, 2),
            Err(MoneyError::ScaleMismatch {
                expected: 0,
                got: 2
            })
        );
        // An ISO-shaped code outside the table carries its own scale.
        assert!(Money::new(Asset::parse("XTS").unwrap(), 1, 4).is_ok());
    }

    #[test]
    fn assets_are_validated() {
        for ok in [
            "USD",
            "eip155:1/slip44:60",
            "bip122:000000000019d6689c085ae165831e93/slip44:0",
            "eip155:1/erc20:0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48",
        ] {
            assert!(Asset::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "usd",
            "US",
            "USDT",
            "ETH",
            "BTC",
            "eip155:1",
            "eip155:1/slip44:",
            "ei:1/slip44:60",
            "eip155:1/slip44:60 ",
            "eip155:1/slip44:6\u{202e}0",
            &"a".repeat(200),
        ] {
            assert_eq!(Asset::parse(bad), Err(MoneyError::InvalidAsset), "{bad}");
        }
    }

    #[test]
    fn wire_money_must_be_canonical() {
        let w = |units: &str, scale: u32| v1::Money {
            asset: "USD".into(),
            minor_units: units.into(),
            scale,
        };
        assert_eq!(Money::from_wire(&w("1250", 2)).unwrap().minor(), 1250);
        assert_eq!(Money::from_wire(&w("0", 2)).unwrap().minor(), 0);
        for bad in ["", "01", "+1", "-1", "1.0", "1e2", " 1"] {
            assert_eq!(
                Money::from_wire(&w(bad, 2)),
                Err(MoneyError::NonCanonical),
                "{bad}"
            );
        }
        assert_eq!(
            Money::from_wire(&w(&"9".repeat(40), 2)),
            Err(MoneyError::NonCanonical)
        );
        assert_eq!(
            Money::from_wire(&w(&"9".repeat(39), 2)),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            Money::from_wire(&w("1", 300)),
            Err(MoneyError::ScaleTooLarge(300))
        );
        assert_eq!(
            Money::from_wire(&w("1", 3)),
            Err(MoneyError::ScaleMismatch {
                expected: 2,
                got: 3
            })
        );
        let m = Money::parse("0.000000000000000001 ETH").unwrap();
        assert_eq!(Money::from_wire(&m.to_wire()).unwrap(), m);
    }

    #[test]
    fn decimals_parse_exactly() {
        assert_eq!(Decimal::parse("1.5", 6).unwrap().units(), 15);
        assert_eq!(Decimal::parse("1.5", 6).unwrap().scale(), 1);
        assert!(Decimal::parse("0", 6).unwrap().is_zero());
        assert_eq!(
            Decimal::parse("1.1234567", 6),
            Err(MoneyError::TooManyDecimals { got: 7, max: 6 })
        );
    }
}
