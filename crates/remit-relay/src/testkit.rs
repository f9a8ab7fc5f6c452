//! Test identities: real `remit_session::Account`s from a seeded ChaCha20Rng, so every valid
//! record (identity binding, signed prekey, auth signature) is made by remit-session itself;
//! tests forge invalid ones by tampering bytes of valid records. Compiled only for this crate's
//! tests and behind the `internal` feature: not part of the public API.
#![allow(missing_docs, clippy::missing_panics_doc, clippy::expect_used)]

use rand::{SeedableRng, rngs::ChaCha20Rng};
use remit_session::{Account, SignError};
use remit_wire::{
    session::{IdentityKey, OneTimePreKey, SignedPreKey},
    v1,
};

use remit_relay_proto::{
    Address,
    auth::{AuthSigner, DIGEST_LEN},
};

/// When test accounts are created (Unix seconds).
pub const CREATED_AT: u64 = 1_700_000_000;

/// An account whose state the test holds.
pub struct TestAccount {
    account: Account,
}

impl core::fmt::Debug for TestAccount {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TestAccount")
            .field("id", &hex::encode(self.id()))
            .finish_non_exhaustive()
    }
}

impl TestAccount {
    /// A deterministic account from a seed byte.
    #[must_use]
    pub fn new(seed: u8) -> Self {
        let mut s = [seed; 32];
        s[0] = 0x5a;
        Self {
            account: Account::new(&mut ChaCha20Rng::from_seed(s), CREATED_AT),
        }
    }

    /// The session account.
    #[must_use]
    pub fn account(&self) -> &Account {
        &self.account
    }

    /// The identity (Ed25519 public key).
    #[must_use]
    pub fn id(&self) -> [u8; 32] {
        *self.account.identity().signing_key()
    }

    /// The identity as the relay protocol names it.
    pub fn address(&self) -> Address {
        Address::new(self.id())
    }

    /// The public identity record with its valid binding signature.
    #[must_use]
    pub fn identity_key(&self) -> IdentityKey {
        *self.account.identity().as_wire()
    }

    /// The account's current (validly signed) prekey.
    #[must_use]
    pub fn signed_prekey(&self) -> SignedPreKey {
        self.account.signed_prekey()
    }

    /// One-time prekeys with the given ids (unsigned, so plain data is as good as real keys
    /// for the relay, which only stores and hands them out).
    #[must_use]
    pub fn one_time_prekeys(ids: std::ops::Range<u32>) -> Vec<OneTimePreKey> {
        ids.map(|id| {
            let mut public_key = [0u8; 32];
            public_key[..4].copy_from_slice(&id.to_be_bytes());
            OneTimePreKey { id, public_key }
        })
        .collect()
    }

    /// A `PublishPreKeys` body.
    #[must_use]
    pub fn publish(
        &self,
        signed_prekey: Option<SignedPreKey>,
        one_time: &[OneTimePreKey],
    ) -> v1::PublishPreKeys {
        v1::PublishPreKeys {
            identity: Some((&self.identity_key()).into()),
            signed_prekey: signed_prekey.as_ref().map(Into::into),
            one_time_prekeys: one_time.iter().map(Into::into).collect(),
        }
    }

    /// Signs an authentication digest (`AUTH_CONTEXT ‖ digest`) as this account.
    #[must_use]
    pub fn sign_digest(&self, digest: &[u8; DIGEST_LEN]) -> [u8; 64] {
        self.account
            .sign_auth_digest(digest)
            .expect("the relay context is a valid statement context")
    }
}

impl AuthSigner for TestAccount {
    fn identity(&self) -> Address {
        self.address()
    }

    fn sign_auth_digest(&self, digest: &[u8; DIGEST_LEN]) -> Result<[u8; 64], SignError> {
        self.account.sign_auth_digest(digest)
    }
}

/// A signer that claims one identity and signs with another account's key (an impostor).
#[derive(Debug)]
pub struct Impostor<'a> {
    /// The identity claimed in `Hello`.
    pub claimed: [u8; 32],
    /// Whose key actually signs.
    pub signer: &'a TestAccount,
}

impl AuthSigner for Impostor<'_> {
    fn identity(&self) -> Address {
        Address::new(self.claimed)
    }

    fn sign_auth_digest(&self, digest: &[u8; DIGEST_LEN]) -> Result<[u8; 64], SignError> {
        self.signer.sign_auth_digest(digest)
    }
}

/// A relay running as a child process (the `remit-relay` binary, `remit relay`, or a load
/// generator's relay child), as the process tests start it. Killed with SIGKILL and reaped when
/// dropped, so a failing test leaves no relay behind.
#[derive(Debug)]
pub struct RelayChild {
    child: std::process::Child,
    addr: std::net::SocketAddr,
    fingerprint: [u8; 32],
}

impl RelayChild {
    /// Starts `command` with its standard output piped and reads the relay's announcement
    /// ([`read_announcement`]). The rest of the child's standard output is left unread.
    pub fn spawn(command: &mut std::process::Command) -> Self {
        let mut child = command
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("the relay starts");
        let stdout = child.stdout.take().expect("a piped stdout");
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
        let (addr, fingerprint) =
            read_announcement(&mut lines).expect("the relay announces itself");
        // Keep the pipe open (and drained) so the relay never blocks on a full stdout.
        std::thread::spawn(move || lines.for_each(drop));
        Self {
            child,
            addr,
            fingerprint,
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// The SHA-256 of its certificate, which clients pin.
    pub fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }

    /// The process.
    pub fn child(&mut self) -> &mut std::process::Child {
        &mut self.child
    }

    /// Kills it with SIGKILL and waits until it is gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RelayChild {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads what a relay prints first on standard output, one line each:
/// `listening <address>` and `fingerprint <64 hex digits>`.
///
/// # Errors
/// A line that is missing or not of that form, as text saying which.
pub fn read_announcement(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
) -> Result<(std::net::SocketAddr, [u8; 32]), String> {
    let mut next = |what: &str| -> Result<String, String> {
        let line = lines
            .next()
            .ok_or_else(|| format!("the relay exited before printing its {what}"))?
            .map_err(|e| format!("reading the relay's {what}: {e}"))?;
        line.strip_prefix(what)
            .and_then(|rest| rest.strip_prefix(' '))
            .map(str::to_owned)
            .ok_or_else(|| format!("expected `{what} ...`, got {line:?}"))
    };
    let addr = next("listening")?
        .parse()
        .map_err(|e| format!("listening address: {e}"))?;
    let fingerprint = hex::decode(next("fingerprint")?)
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or("fingerprint: not 64 hex digits")?;
    Ok((addr, fingerprint))
}
