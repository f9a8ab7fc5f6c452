//! `cli_input`: everything the `remit` command line parses from a person or a file
//! (`remit_cli::input`), fed arbitrary text.
//!
//! Input: a selector byte, two 8-byte little-endian numbers (a clock and a duration for the
//! invoice builder), then the text (lossily UTF-8, as clap hands over only UTF-8).
//!
//! Invariants, beyond "no panic":
//! - every error is one printable line, without control characters (what the CLI prints on
//!   stderr: a file's content quoted in an error cannot reach the terminal raw);
//! - `parse_money` accepts exactly what `Money::parse` accepts after trimming, and what it
//!   returns prints back to a string that parses to the same amount;
//! - `parse_duration` returns 1 ..= `MAX_DURATION_SECS`, and its decimal form parses back;
//!   `deadline` is `now + d` exactly or an error, never a wrap;
//! - `parse_method` results print back (in the CLI's syntax) to text that parses to the same
//!   method;
//! - `check_name` accepts exactly 1–32 bytes of `a-z 0-9 _ -`;
//! - `parse_fingerprint` / `parse_address` accept exactly 64 hex digits (trimmed), and the key
//!   prints back as the lowercase input;
//! - `split_line` returns exactly the requested number of trimmed, non-empty fields;
//! - an invoice file (TOML or JSON) that parses builds an invoice or a typed error; a built one
//!   has one line per item, is due exactly `now + due_in`, and totals in its first line's asset;
//! - a profile file that parses serializes and parses back to the same value.

use remit_cli::input::{
    MAX_DURATION_SECS, adjustment_rows, build_invoice, check_name, deadline, parse_address,
    parse_duration, parse_fingerprint, parse_invoice_file, parse_method, parse_money,
    parse_profile, split_line,
};
use remit_pay::{Money, PaymentMethod};

fn one_line<T>(r: &anyhow::Result<T>) {
    if let Err(e) = r {
        let text = e.to_string();
        assert!(
            !text.chars().any(char::is_control),
            "error is not one printable line: {text:?}"
        );
    }
}

fn method_text(m: &PaymentMethod) -> String {
    match m {
        PaymentMethod::Provider { provider, account } => format!("provider:{provider}:{account}"),
        PaymentMethod::Bank {
            holder,
            account,
            routing,
        } if routing.is_empty() => format!("bank:{holder}:{account}"),
        PaymentMethod::Bank {
            holder,
            account,
            routing,
        } => format!("bank:{holder}:{account}:{routing}"),
        PaymentMethod::OnChain { chain, address } => format!("onchain:{chain}:{address}"),
        PaymentMethod::Lightning(_) => unreachable!("the CLI has no Lightning syntax"),
        other => unreachable!("a method the CLI has no syntax for: {other:?}"),
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let number = |at: usize| {
        rest.get(at..at + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map_or(0, u64::from_le_bytes)
    };
    let (now, due_in) = (number(0), number(8));
    let text = String::from_utf8_lossy(rest.get(16..).unwrap_or_default());
    let text = text.as_ref();
    match selector % 9 {
        0 => {
            let r = parse_money(text);
            one_line(&r);
            assert_eq!(r.as_ref().ok(), Money::parse(text.trim()).ok().as_ref());
            if let Ok(m) = r {
                assert_eq!(parse_money(&m.to_string()).ok(), Some(m));
            }
        }
        1 => {
            let r = parse_duration(text);
            one_line(&r);
            if let Ok(d) = r {
                assert!((1..=MAX_DURATION_SECS).contains(&d));
                assert_eq!(parse_duration(&d.to_string()).ok(), Some(d));
                let end = deadline(now, d);
                one_line(&end);
                assert_eq!(end.ok(), now.checked_add(d));
            }
        }
        2 => {
            let r = parse_method(text);
            one_line(&r);
            if let Ok(m) = r {
                assert_eq!(parse_method(&method_text(&m)).ok(), Some(m));
            }
        }
        3 => {
            let r = check_name("handle", text);
            one_line(&r);
            let expected = (1..=32).contains(&text.len())
                && text.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                });
            assert_eq!(r.is_ok(), expected);
        }
        4 | 5 => {
            let r = if selector % 9 == 4 {
                parse_fingerprint(text)
            } else {
                parse_address(text)
            };
            one_line(&r);
            let t = text.trim();
            let expected = t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit());
            assert_eq!(r.is_ok(), expected, "{t:?}");
            if let Ok(key) = r {
                assert_eq!(hex::encode(key), t.to_ascii_lowercase());
            }
        }
        6 => {
            let parts = usize::from(selector / 9 % 4) + 1;
            let r = split_line(text, parts, "item", "a|b|c");
            one_line(&r);
            if let Ok(v) = r {
                assert_eq!(v.len(), parts);
                assert!(v.iter().all(|f| !f.is_empty() && f.trim() == f));
                assert_eq!(v.len(), text.split('|').count());
            }
        }
        7 => {
            let json = selector / 9 % 2 == 1;
            let parsed = parse_invoice_file(text, json);
            one_line(&parsed);
            let Ok(file) = parsed else { return };
            let items = file.item_rows();
            let built = build_invoice(
                file.number.clone().unwrap_or_default(),
                file.issuer.clone().unwrap_or_default(),
                &items,
                &adjustment_rows(&file.taxes),
                &adjustment_rows(&file.discounts),
                now,
                due_in,
            );
            one_line(&built);
            if let Ok((total, draft)) = built {
                assert_eq!(draft.items.len(), items.len());
                assert_eq!(Some(draft.due_at), now.checked_add(due_in));
                let first = &draft.items[0].unit_price;
                assert_eq!(total.zero_like(), first.zero_like());
            }
        }
        _ => {
            let r = parse_profile(text);
            one_line(&r);
            if let Ok(p) = r {
                let again = toml::to_string(&p).expect("a parsed profile serializes");
                let back = parse_profile(&again).expect("and parses back");
                assert_eq!(format!("{back:?}"), format!("{p:?}"));
            }
        }
    }
}
