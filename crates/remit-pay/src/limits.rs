//! Every limit remit-pay applies to a payment message or a stored thread. spec/payments.md
//! quotes the same names and numbers; the byte limits of the encodings themselves
//! (`MAX_DOCUMENT_LEN`, `MAX_PLAINTEXT_LEN`) live in `remit_wire::limits`.
//!
//! Text limits are in UTF-8 bytes of the text as received, checked before anything is stripped.

/// Largest decimal scale (digits after the point). 10^38 is the largest power of ten below
/// `u128::MAX` (about 3.4 × 10^38), so one whole unit of any scale still fits.
pub const MAX_SCALE: u8 = 38;

/// Most digits in a `Money.minor_units` string: `u128::MAX` has 39 digits.
pub const MAX_MINOR_UNITS_DIGITS: usize = 39;

/// Longest asset identifier. CAIP-19 allows 8+1+32 (chain) + 1 + 8+1+128 (asset) = 179 bytes;
/// 128 covers every registered chain with an ERC-20 style 42-byte address and bounds what an
/// asset name costs to display and store.
pub const MAX_ASSET_LEN: usize = 128;

/// Longest CAIP-2 chain id (namespace 3–8, ':', reference 1–32 = at most 41) with room.
pub const MAX_CHAIN_ID_LEN: usize = 64;

/// Longest on-chain address text. Bech32 addresses are at most 90 characters; 128 leaves room
/// for other chains' encodings.
pub const MAX_ADDRESS_LEN: usize = 128;

/// Longest Lightning BOLT 11 invoice or BOLT 12 offer string. Invoices with many route hints
/// reach about 1 500 characters; 2 048 bounds them.
pub const MAX_LIGHTNING_LEN: usize = 2048;

/// Longest bank account holder name (ISO 20022 `Max140Text`).
pub const MAX_HOLDER_LEN: usize = 140;

/// Longest bank account number or IBAN (IBANs are at most 34 characters).
pub const MAX_ACCOUNT_LEN: usize = 64;

/// Longest bank routing code or BIC.
pub const MAX_ROUTING_LEN: usize = 32;

/// Longest payment-provider name.
pub const MAX_PROVIDER_LEN: usize = 64;

/// Longest account handle at a payment provider.
pub const MAX_PROVIDER_ACCOUNT_LEN: usize = 128;

/// Longest rail reference (transaction id, transfer id). A hex txid is 64 characters.
pub const MAX_RAIL_REF_LEN: usize = 128;

/// Longest bank end-to-end id (ISO 20022 `Max35Text`).
pub const MAX_END_TO_END_ID_LEN: usize = 35;

/// Most payment methods in one request. Eight covers one per rail with room; more is a menu an
/// attacker could use to hide a foreign destination among legitimate ones.
pub const MAX_METHODS: usize = 8;

/// Longest memo, note or decline/cancel reason: about two tweets. Long text is a phishing aid.
pub const MAX_MEMO_LEN: usize = 512;

/// Longest display name (payee name).
pub const MAX_NAME_LEN: usize = 140;

/// Longest payee reference (an order number) or invoice number.
pub const MAX_REFERENCE_LEN: usize = 64;

/// Longest invoice issuer block (name and postal address).
pub const MAX_ISSUER_LEN: usize = 512;

/// Longest line-item or adjustment description.
pub const MAX_DESCRIPTION_LEN: usize = 256;

/// Most line items in one invoice. 100 lines stay well under `MAX_DOCUMENT_LEN` (32 KiB).
pub const MAX_LINE_ITEMS: usize = 100;

/// Most discount lines, and separately most tax lines, in one invoice.
pub const MAX_ADJUSTMENTS: usize = 16;

/// Longest quantity or rate decimal string.
pub const MAX_QUANTITY_LEN: usize = 32;

/// Most decimals in a quantity or a rate.
pub const MAX_QUANTITY_DECIMALS: u8 = 6;

/// Longest lifetime of a plain request (`expires_at - created_at`): 30 days. A request that
/// stays payable for months is a standing phishing lure.
pub const MAX_REQUEST_LIFETIME_SECS: u64 = 30 * 24 * 3600;

/// Longest lifetime of an invoice: 90 days (common payment terms are net 30 to net 60).
pub const MAX_INVOICE_LIFETIME_SECS: u64 = 90 * 24 * 3600;

/// How far in the future a `created_at` may be, against the receiver's clock: phones' clocks
/// drift; more than five minutes is a broken or lying sender.
pub const MAX_CLOCK_SKEW_SECS: u64 = 300;

/// Most payment ids one thread records (payments and refunds together). A conforming payer
/// pays in a handful of parts; the cap bounds what a hostile peer can make us store.
pub const MAX_PAYMENTS: usize = 64;

/// Most receipts one thread records.
pub const MAX_RECEIPTS: usize = 64;

/// Longest field name in a `ProtocolError`.
pub const MAX_FIELD_NAME_LEN: usize = 64;

/// Longest chat text (`Text.body`).
pub const MAX_TEXT_LEN: usize = 16 * 1024;

/// Largest serialized `PaymentThread`: the request document and its signature, the decline or
/// cancel text, `MAX_PAYMENTS` payment records (each under 4 KiB: ids, money, settlement, note)
/// and `MAX_RECEIPTS` receipt records (each under 256 bytes: ids, digest, outcome, money).
pub const MAX_THREAD_STATE_LEN: usize =
    remit_wire::limits::MAX_DOCUMENT_LEN + 4096 + MAX_PAYMENTS * 4096 + MAX_RECEIPTS * 256;
