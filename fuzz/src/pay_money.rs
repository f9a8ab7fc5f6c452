//! `pay_money`: human amount parsing and money arithmetic on arbitrary strings.
//!
//! The input is up to three lines: two amounts ("12.50 USD") and an invoice quantity.
//!
//! Invariants:
//! - parse → format → parse is exact: the same `Money`, and formatting is a fixed point;
//! - the wire form round-trips (`from_wire(to_wire(m)) == m`), and so does
//!   `parse_amount(amount_string)` at the asset's scale;
//! - arithmetic never panics and is exact: `checked_add`/`checked_sub`/`saturating_sub`/
//!   `checked_cmp` agree with `u128` arithmetic on the minor units for amounts of one unit and
//!   refuse (`AssetMismatch`) amounts of different units; `checked_mul` by a quantity is exact
//!   or refused, never rounded.

use remit_pay::{Asset, Decimal, Money, MoneyError};

fn round_trip(text: &str) -> Option<Money> {
    let m = Money::parse(text).ok()?;
    let formatted = m.to_string();
    let again = Money::parse(&formatted)
        .unwrap_or_else(|e| panic!("{text:?} formats as {formatted:?}, which fails: {e:?}"));
    assert_eq!(again, m, "{text:?} → {formatted:?} changed value");
    assert_eq!(
        again.to_string(),
        formatted,
        "formatting is not a fixed point"
    );
    assert_eq!(
        Money::from_wire(&m.to_wire()).as_ref(),
        Ok(&m),
        "wire round trip"
    );
    let (asset, scale) = Asset::known(m.asset().as_str()).expect("a parsed asset is known");
    assert_eq!(scale, m.scale());
    assert_eq!(
        Money::parse_amount(&m.amount_string(), asset, scale).as_ref(),
        Ok(&m)
    );
    Some(m)
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.splitn(3, '\n');
    let a = lines.next().and_then(round_trip);
    let b = lines.next().and_then(round_trip);
    let quantity = lines.next().and_then(|q| {
        let d = Decimal::parse(q, 6).ok()?;
        assert!(d.scale() <= 6);
        Some(d)
    });
    // Asset ids on their own: parse never panics, and a parsed id prints back as itself.
    if let Ok(asset) = Asset::parse(text) {
        assert_eq!(asset.as_str(), text);
        assert_eq!(asset.to_string(), text);
    }

    if let (Some(a), Some(q)) = (&a, &quantity) {
        match a.checked_mul(q) {
            Ok(p) => {
                assert!(p.same_unit(a));
                // Exact: p × 10^scale == a × units.
                let lhs = p.minor().checked_mul(10u128.pow(u32::from(q.scale())));
                let rhs = a.minor().checked_mul(q.units());
                assert_eq!(lhs, rhs, "{a} × {q:?} = {p} is not exact");
            }
            Err(MoneyError::Overflow) => {
                assert!(
                    a.minor().checked_mul(q.units()).is_none(),
                    "overflow reported for a product that fits"
                );
            }
            Err(MoneyError::Inexact) => {
                let product = a.minor() * q.units();
                assert_ne!(product % 10u128.pow(u32::from(q.scale())), 0);
            }
            Err(e) => panic!("checked_mul: unexpected error {e:?}"),
        }
    }
    let (Some(a), Some(b)) = (a, b) else {
        return;
    };
    if a.same_unit(&b) {
        let (x, y) = (a.minor(), b.minor());
        match a.checked_add(&b) {
            Ok(s) => assert_eq!(Some(s.minor()), x.checked_add(y)),
            Err(e) => assert!(e == MoneyError::Overflow && x.checked_add(y).is_none()),
        }
        match a.checked_sub(&b) {
            Ok(d) => assert_eq!(Some(d.minor()), x.checked_sub(y)),
            Err(e) => assert!(e == MoneyError::Underflow && x < y),
        }
        assert_eq!(
            a.saturating_sub(&b).map(|d| d.minor()),
            Ok(x.saturating_sub(y))
        );
        assert_eq!(a.checked_cmp(&b), Ok(x.cmp(&y)));
    } else {
        assert_eq!(a.checked_add(&b), Err(MoneyError::AssetMismatch));
        assert_eq!(a.checked_sub(&b), Err(MoneyError::AssetMismatch));
        assert_eq!(a.saturating_sub(&b), Err(MoneyError::AssetMismatch));
        assert_eq!(a.checked_cmp(&b), Err(MoneyError::AssetMismatch));
    }
}
