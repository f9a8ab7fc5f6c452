//! Invoices: the validated itemisation of a request of kind INVOICE (every sum checked exactly),
//! and the drafts a payee fills in.

use remit_wire::v1;

use super::fields::{add, money_like, required_text, text, too_long};
use crate::error::PayError;
use crate::limits::{
    MAX_ADJUSTMENTS, MAX_DESCRIPTION_LEN, MAX_ISSUER_LEN, MAX_LINE_ITEMS, MAX_QUANTITY_DECIMALS,
    MAX_QUANTITY_LEN, MAX_REFERENCE_LEN,
};
use crate::money::{Decimal, Money};

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
    pub(super) fn from_wire(w: &v1::InvoiceDetails, amount: &Money) -> Result<Self, PayError> {
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
    pub(super) fn to_wire(&self) -> Result<v1::InvoiceDetails, PayError> {
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
