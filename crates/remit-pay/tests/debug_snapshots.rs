//! Snapshots of the `Debug` output of this crate's types that reach a secret: a derived `Debug`
//! or a newly printed field changes the output and fails the test until someone decides.
#![allow(clippy::unwrap_used, missing_docs)]

use rand::{SeedableRng, rngs::ChaCha20Rng};
use remit_pay::LocalIdentity;
use remit_session::Account;

#[test]
fn local_identity() {
    let mut rng = ChaCha20Rng::seed_from_u64(0x0de6);
    let account = Account::new(&mut rng, 1_700_000_000);
    insta::assert_snapshot!(format!("{:?}", LocalIdentity::new(&account)));
}
