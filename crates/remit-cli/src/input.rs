//! Everything the command line reads from a person or a file before it acts: amounts,
//! durations, payment methods, names, fingerprints and addresses given as arguments, invoice
//! files, and the profile file. Each parser refuses what it does not accept with one clear
//! line, never panics, and bounds what it returns; `fuzz/` target `cli_input` holds them to
//! that.

use std::{collections::BTreeMap, net::SocketAddr};

use anyhow::{Context as _, Result, anyhow, bail};
use remit_pay::{
    AdjustmentDraft, InvoiceDraft, KNOWN_ASSETS, LineDraft, Money, MoneyError, PaymentMethod,
};
use serde::{Deserialize, Serialize};

/// Longest duration accepted (`--expires-in`, `--due-in`): 90 days, the longest lifetime the
/// protocol allows any request (an invoice; remit-pay's `MAX_INVOICE_LIFETIME_SECS`).
pub const MAX_DURATION_SECS: u64 = remit_pay::limits::MAX_INVOICE_LIFETIME_SECS;

/// An amount with its asset, `"12.50 USD"` (surrounding spaces ignored), with an error that
/// names the known assets when the asset is missing or unknown.
///
/// # Errors
/// Any [`MoneyError`] of [`Money::parse`], as one line.
///
/// ```
/// use remit_cli::input::parse_money;
///
/// assert_eq!(parse_money("12.50 USD")?.to_string(), "12.50 USD");
/// let error = parse_money("12.50").unwrap_err().to_string();
/// assert!(!error.contains('\n'), "one line: {error}");
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn parse_money(text: &str) -> Result<Money> {
    let text = text.trim();
    Money::parse(text).map_err(|e| match e {
        MoneyError::UnknownAsset => {
            let symbol = text.split_once(' ').map_or("", |(_, s)| s);
            if symbol.is_empty() {
                anyhow!("amount {text:?} has no asset: write it like \"12.50 USD\"")
            } else {
                let known: Vec<_> = KNOWN_ASSETS.iter().map(|k| k.symbol).collect();
                anyhow!(
                    "unknown asset {symbol:?} in {text:?} (known: {})",
                    known.join(", ")
                )
            }
        }
        other => anyhow!("invalid amount {text:?}: {other}"),
    })
}

/// A positive duration in seconds: `90`, `90s`, `30m`, `12h`, `7d`, at most
/// [`MAX_DURATION_SECS`].
///
/// # Errors
/// Anything else.
pub fn parse_duration(text: &str) -> Result<u64> {
    let t = text.trim();
    let (n, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = n
        .parse()
        .map_err(|_| anyhow!("invalid duration {text:?}: use 30m, 12h, 7d or seconds"))?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => bail!("invalid duration {text:?}: use 30m, 12h, 7d or seconds"),
    };
    match n.checked_mul(unit) {
        Some(0) => bail!("invalid duration {text:?}: must be positive"),
        Some(s) if s <= MAX_DURATION_SECS => Ok(s),
        _ => bail!(
            "invalid duration {text:?}: at most {}d",
            MAX_DURATION_SECS / 86_400
        ),
    }
}

/// `now + duration`, refused instead of overflowing (a clock offset can make `now` anything).
///
/// # Errors
/// When the sum does not fit.
pub fn deadline(now: u64, duration: u64) -> Result<u64> {
    now.checked_add(duration)
        .ok_or_else(|| anyhow!("the clock ({now}) plus {duration} s is past the end of time"))
}

/// A payment method: `provider:NAME:ACCOUNT`, `bank:HOLDER:IBAN[:BIC]` or
/// `onchain:NAMESPACE:REFERENCE:ADDRESS`. The fields are checked when the request is built.
///
/// # Errors
/// Any other shape.
pub fn parse_method(text: &str) -> Result<PaymentMethod> {
    let parts: Vec<&str> = text.split(':').collect();
    Ok(match parts.as_slice() {
        ["provider", provider, account] => PaymentMethod::Provider {
            provider: (*provider).into(),
            account: (*account).into(),
        },
        ["bank", holder, account] => PaymentMethod::Bank {
            holder: (*holder).into(),
            account: (*account).into(),
            routing: String::new(),
        },
        ["bank", holder, account, routing] => PaymentMethod::Bank {
            holder: (*holder).into(),
            account: (*account).into(),
            routing: (*routing).into(),
        },
        ["onchain", ns, reference, address] => PaymentMethod::OnChain {
            chain: format!("{ns}:{reference}"),
            address: (*address).into(),
        },
        _ => bail!(
            "invalid method {text:?}: use provider:NAME:ACCOUNT, bank:HOLDER:IBAN[:BIC] or onchain:NAMESPACE:REFERENCE:ADDRESS"
        ),
    })
}

/// An invoice file (`remit invoice --file`, TOML or JSON).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvoiceFile {
    /// The invoice number (default: `INV-<now>`).
    #[serde(default)]
    pub number: Option<String>,
    /// Who issues it (default: the profile's display name).
    #[serde(default)]
    pub issuer: Option<String>,
    /// A memo.
    #[serde(default)]
    pub memo: Option<String>,
    /// The lines.
    #[serde(default)]
    pub items: Vec<FileLine>,
    /// Taxes, added.
    #[serde(default)]
    pub taxes: Vec<FileAdjustment>,
    /// Discounts, subtracted.
    #[serde(default)]
    pub discounts: Vec<FileAdjustment>,
}

/// One invoice line of a file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileLine {
    /// What it is.
    pub description: String,
    /// How many, a decimal.
    pub quantity: String,
    /// The price of one, an amount with its asset.
    pub unit_price: String,
}

/// One tax or discount of a file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileAdjustment {
    /// What it is.
    pub description: String,
    /// The amount with its asset.
    pub amount: String,
    /// The rate it was computed at, informational (`"8.1"`).
    #[serde(default)]
    pub rate_percent: String,
}

/// An invoice line or adjustment as [`build_invoice`] takes it: `(description, quantity or
/// amount, unit price or rate)`, as typed.
pub type Row = (String, String, String);

impl InvoiceFile {
    /// The file's lines as [`build_invoice`] rows.
    #[must_use]
    pub fn item_rows(&self) -> Vec<Row> {
        self.items
            .iter()
            .map(|l| {
                (
                    l.description.clone(),
                    l.quantity.clone(),
                    l.unit_price.clone(),
                )
            })
            .collect()
    }
}

/// Taxes or discounts of a file as [`build_invoice`] rows.
#[must_use]
pub fn adjustment_rows(list: &[FileAdjustment]) -> Vec<Row> {
    list.iter()
        .map(|a| {
            (
                a.description.clone(),
                a.amount.clone(),
                a.rate_percent.clone(),
            )
        })
        .collect()
}

/// Largest invoice file read: far more than any invoice the protocol carries.
pub const MAX_INVOICE_FILE_LEN: u64 = 1024 * 1024;

/// Reads an invoice file: JSON if its extension is `json`, TOML otherwise.
///
/// # Errors
/// The file cannot be read, is larger than [`MAX_INVOICE_FILE_LEN`], or does not parse.
pub fn read_invoice_file(path: &std::path::Path) -> Result<InvoiceFile> {
    use std::io::Read as _;
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_INVOICE_FILE_LEN + 1).read_to_string(&mut text))
        .with_context(|| format!("reading {}", path.display()))?;
    if text.len() as u64 > MAX_INVOICE_FILE_LEN {
        bail!(
            "{}: larger than {} bytes",
            path.display(),
            MAX_INVOICE_FILE_LEN
        );
    }
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    parse_invoice_file(&text, is_json).map_err(|e| anyhow!("{}: {e}", path.display()))
}

/// Parses an invoice file's text, JSON or TOML.
///
/// # Errors
/// The text does not parse into an [`InvoiceFile`] (unknown fields are refused).
pub fn parse_invoice_file(text: &str, json: bool) -> Result<InvoiceFile> {
    if json {
        serde_json::from_str(text).map_err(|e| anyhow!("{}", one_line(&e)))
    } else {
        toml::from_str(text).map_err(|e| anyhow!("{}", one_line(&e)))
    }
}

/// The invoice draft for these lines, taxes and discounts (each `(description, amount or
/// quantity, price or rate)` as typed), due `due_in` seconds after `now`, and its total.
///
/// # Errors
/// No line, an amount or quantity that does not parse, assets that differ, a total that
/// overflows or goes below zero, a due date past the end of time.
pub fn build_invoice(
    number: String,
    issuer: String,
    items: &[(String, String, String)],
    taxes: &[(String, String, String)],
    discounts: &[(String, String, String)],
    now: u64,
    due_in: u64,
) -> Result<(Money, InvoiceDraft)> {
    if items.is_empty() {
        bail!(
            "an invoice needs at least one --item \"DESCRIPTION|QUANTITY|UNIT PRICE\" (or --file)"
        );
    }
    let mut lines = Vec::new();
    for (description, quantity, price) in items {
        lines.push(LineDraft {
            description: description.clone(),
            quantity: quantity.clone(),
            unit_price: parse_money(price)?,
        });
    }
    let adjust = |list: &[(String, String, String)]| -> Result<Vec<AdjustmentDraft>> {
        list.iter()
            .map(|(d, a, r)| {
                Ok(AdjustmentDraft {
                    description: d.clone(),
                    rate_percent: r.clone(),
                    amount: parse_money(a)?,
                })
            })
            .collect()
    };
    let first = lines
        .first()
        .map(|l| l.unit_price.zero_like())
        .ok_or_else(|| anyhow!("no items"))?;
    let draft = InvoiceDraft {
        number,
        issuer,
        issued_at: now,
        due_at: deadline(now, due_in)?,
        items: lines,
        discounts: adjust(discounts)?,
        taxes: adjust(taxes)?,
        credits: first,
    };
    let total = invoice_total(&draft)?;
    Ok((total, draft))
}

fn invoice_total(d: &InvoiceDraft) -> Result<Money> {
    let mut total = d.credits.zero_like();
    for line in &d.items {
        let q = remit_pay::Decimal::parse(&line.quantity, remit_pay::limits::MAX_QUANTITY_DECIMALS)
            .map_err(|e| anyhow!("invalid quantity {:?}: {e}", line.quantity))?;
        let amount = line
            .unit_price
            .checked_mul(&q)
            .map_err(|e| anyhow!("line {:?}: {e}", line.description))?;
        total = total
            .checked_add(&amount)
            .map_err(|e| anyhow!("invoice total: {e}"))?;
    }
    for t in &d.taxes {
        total = total
            .checked_add(&t.amount)
            .map_err(|e| anyhow!("tax {:?}: {e}", t.description))?;
    }
    for x in &d.discounts {
        total = total
            .checked_sub(&x.amount)
            .map_err(|e| anyhow!("discount {:?}: {e}", x.description))?;
    }
    Ok(total)
}

/// Splits a `--item`/`--tax`/`--discount` flag at `|` into exactly `parts` non-empty, trimmed
/// fields.
///
/// # Errors
/// Another number of fields, or an empty one; the message shows `example`.
pub fn split_line(text: &str, parts: usize, what: &str, example: &str) -> Result<Vec<String>> {
    let v: Vec<String> = text.split('|').map(|s| s.trim().to_owned()).collect();
    if v.len() != parts || v.iter().any(String::is_empty) {
        bail!("invalid {what} {text:?}: write it like {example:?}");
    }
    Ok(v)
}

/// Checks a profile name or contact handle: 1 to 32 of `a-z 0-9 _ -`.
///
/// # Errors
/// Any other name.
pub fn check_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        bail!("invalid {what} {name:?}: use 1 to 32 of a-z, 0-9, '_' and '-'")
    }
}

/// A relay certificate fingerprint: 64 hex digits.
///
/// # Errors
/// Anything else.
pub fn parse_fingerprint(hex_text: &str) -> Result<[u8; 32]> {
    let bytes = hex::decode(hex_text.trim())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok());
    bytes.ok_or_else(|| anyhow!("invalid fingerprint {hex_text:?}: expected 64 hex digits"))
}

/// A peer's address (its Ed25519 identity key): 64 hex digits.
///
/// # Errors
/// Anything else.
pub fn parse_address(text: &str) -> Result<[u8; 32]> {
    let bytes = hex::decode(text.trim())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok());
    bytes.ok_or_else(|| {
        anyhow!("invalid address {text:?}: expected 64 hex digits (as `remit id` prints)")
    })
}

/// An error message as one printable line: whitespace runs (TOML errors span several lines)
/// become one space, and control characters (a file's content quoted in a parser's message
/// may hold any) are escaped, so nothing read from a file can move the terminal's cursor.
#[must_use]
pub fn one_line(e: &dyn std::fmt::Display) -> String {
    let text = e.to_string();
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        for c in word.chars() {
            if c.is_control() {
                out.extend(c.escape_default());
            } else {
                out.push(c);
            }
        }
    }
    out
}

/// The profile file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProfileFile {
    /// The relay's address.
    pub relay: SocketAddr,
    /// SHA-256 of the relay's certificate, hex.
    pub fingerprint: String,
    /// The name shown on our requests.
    #[serde(default)]
    pub display_name: String,
    /// Contacts: handle → address (hex Ed25519 identity key).
    #[serde(default)]
    pub contacts: BTreeMap<String, String>,
}

/// Parses `profile.toml`.
///
/// # Errors
/// The text does not parse into a [`ProfileFile`].
pub fn parse_profile(text: &str) -> Result<ProfileFile> {
    toml::from_str(text).map_err(|e| anyhow!("{}", one_line(&e)))
}

#[cfg(test)]
mod tests;
