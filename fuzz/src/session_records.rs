//! `session_records`: `Session::from_bytes` and `Account::from_bytes` on arbitrary bytes.
//!
//! Invariants, when a load succeeds:
//! - `to_bytes()` of the loaded value loads again, to the same bytes (save/load is a fixed
//!   point);
//! - the record format is canonical: the input itself is exactly what `to_bytes()` writes
//!   (no two records load to the same state).

use remit_session::{Account, Session};

/// Runs one input.
pub fn run(data: &[u8]) {
    if let Ok(session) = Session::from_bytes(data) {
        let bytes = session.to_bytes();
        let again = Session::from_bytes(&bytes).expect("a saved session loads");
        assert_eq!(again.to_bytes().as_slice(), bytes.as_slice());
        assert_eq!(bytes.as_slice(), data, "session record is not canonical");
    }
    if let Ok(account) = Account::from_bytes(data) {
        let bytes = account.to_bytes();
        let again = Account::from_bytes(&bytes).expect("a saved account loads");
        assert_eq!(again.to_bytes().as_slice(), bytes.as_slice());
        assert_eq!(bytes.as_slice(), data, "account record is not canonical");
    }
}
