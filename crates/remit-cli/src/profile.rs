//! Profiles on disk: `HOME/profiles/NAME/` holds `profile.toml` (the relay, its pinned
//! fingerprint, contacts by handle) and `remit.db` (the engine's SQLite store: keys, sessions,
//! threads).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};
use remit_cli::input::{ProfileFile, check_name, parse_address, parse_fingerprint, parse_profile};
use remit_client::{
    Engine, SqliteStore,
    transport::{Client, Clock, TransportConfig},
};

/// An open profile.
#[derive(Debug)]
pub(crate) struct Profile {
    pub(crate) name: String,
    pub(crate) dir: PathBuf,
    pub(crate) file: ProfileFile,
}

pub(crate) fn profiles_dir(home: &Path) -> PathBuf {
    home.join("profiles")
}

impl Profile {
    pub(crate) fn path(home: &Path, name: &str) -> PathBuf {
        profiles_dir(home).join(name)
    }

    /// Opens an existing profile.
    pub(crate) fn open(home: &Path, name: &str) -> Result<Self> {
        check_name("profile name", name)?;
        let dir = Self::path(home, name);
        let path = dir.join("profile.toml");
        if !path.exists() {
            bail!(
                "no profile {name:?} in {} (create it with `remit init --profile {name} ...`)",
                home.display()
            );
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let file = parse_profile(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?;
        Ok(Self {
            name: name.to_owned(),
            dir,
            file,
        })
    }

    pub(crate) fn save(&self) -> Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let text = toml::to_string(&self.file)?;
        let tmp = self.dir.join("profile.toml.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, self.dir.join("profile.toml"))?;
        Ok(())
    }

    pub(crate) fn db_path(&self) -> PathBuf {
        self.dir.join("remit.db")
    }

    pub(crate) fn fingerprint(&self) -> Result<[u8; 32]> {
        parse_fingerprint(&self.file.fingerprint)
    }

    pub(crate) fn open_engine(&self) -> Result<Engine<SqliteStore>> {
        let store = SqliteStore::open(self.db_path())
            .with_context(|| format!("opening {}", self.db_path().display()))?;
        Ok(Engine::open(store)?)
    }

    /// The address of contact `handle`.
    pub(crate) fn contact(&self, handle: &str) -> Result<[u8; 32]> {
        match self.file.contacts.get(handle) {
            Some(a) => parse_address(a),
            None => bail!(
                "unknown peer {handle:?}: add it with `remit contact add {handle} ADDRESS` (the peer's `remit id` prints its address)"
            ),
        }
    }

    /// The handle of the contact at `address`, if any.
    pub(crate) fn handle_of(&self, address: &[u8; 32]) -> Option<&str> {
        let hex = hex::encode(address);
        self.file
            .contacts
            .iter()
            .find(|(_, a)| **a == hex)
            .map(|(h, _)| h.as_str())
    }

    /// How to show the peer at `address`.
    pub(crate) fn peer_name(&self, address: &[u8; 32]) -> String {
        self.handle_of(address).map_or_else(
            || format!("unknown peer {}…", &hex::encode(address)[..12]),
            str::to_owned,
        )
    }

    pub(crate) fn transport_config(&self, clock: Clock) -> Result<TransportConfig> {
        let mut config = TransportConfig::new(self.file.relay, self.fingerprint()?);
        config.clock = clock;
        if let Some(ms) = std::env::var("REMIT_CONNECT_TIMEOUT_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        {
            config.connect_timeout = std::time::Duration::from_millis(ms);
        }
        // For the kill-before-ack test: exit right after an envelope is committed, before it
        // is acked. Only in the test build (feature `internal`), never in a shipped binary.
        #[cfg(feature = "internal")]
        if std::env::var_os("REMIT_TEST_EXIT_BEFORE_ACK").is_some() {
            let hook: remit_client::internal::BeforeAck =
                std::sync::Arc::new(|| std::process::exit(86));
            config.before_ack = Some(hook);
        }
        Ok(config)
    }

    /// Opens the engine and connects it to the profile's relay.
    pub(crate) async fn connect(&self, clock: Clock) -> Result<Client<SqliteStore>> {
        let engine = self.open_engine()?;
        let client = Client::connect(engine, self.transport_config(clock)?).await?;
        // Contacts known by address get their identity pinned once a session exists.
        self.pin_contacts(&client).await?;
        Ok(client)
    }

    /// Pins every contact whose identity the engine knows and has not pinned under that
    /// handle yet.
    pub(crate) async fn pin_contacts(&self, client: &Client<SqliteStore>) -> Result<()> {
        let mut core = client.lock().await;
        for (handle, address) in &self.file.contacts {
            let address = parse_address(address)?;
            if core.engine.contact(handle).is_none()
                && let Some(identity) = core.engine.peer_identity(&address).copied()
            {
                core.engine.pin_peer(handle, identity)?;
            }
        }
        Ok(())
    }
}

/// An error's text on one line.
/// The clock: system time, moved by `REMIT_CLOCK_OFFSET` seconds (tests use it to reach an
/// expiry without sleeping).
pub(crate) fn clock_from_env() -> Clock {
    let offset = std::env::var("REMIT_CLOCK_OFFSET")
        .ok()
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0);
    Clock::with_offset(offset)
}
