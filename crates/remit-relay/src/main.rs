//! `remit-relay`: run a Remit relay.
//!
//! ```text
//! remit-relay --listen 127.0.0.1:4433 --data-dir ./relay-data
//! ```
//! On first start it generates a self-signed certificate in the data directory and prints its
//! SHA-256 fingerprint, which clients pin.
#![forbid(unsafe_code)]

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use clap::Parser;
use remit_relay::{Relay, RelayConfig, limits::Limits};
use serde::Deserialize;

/// Command-line flags; each overrides the same key of the config file.
#[derive(Debug, Parser)]
#[command(
    name = "remit-relay",
    version,
    about = "Remit relay: QUIC store-and-forward server"
)]
struct Args {
    /// UDP address to listen on.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Directory for the database and the generated certificate.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// TOML configuration file (listen, data_dir, cert, key, metrics, store, [limits]).
    #[arg(long)]
    config: Option<PathBuf>,
    /// PEM certificate chain (with --key) instead of the generated self-signed certificate.
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// PEM private key for --cert.
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// TCP address for Prometheus metrics (`GET /metrics`), e.g. 127.0.0.1:9433. Off by default.
    #[arg(long)]
    metrics: Option<SocketAddr>,
    /// Store: `sqlite` (the default: relay.sqlite3 in the data directory) or a PostgreSQL URL
    /// (`postgres://user:password@host:port/db`) that several relay nodes share.
    #[arg(long, value_name = "sqlite|postgres://...")]
    store: Option<String>,
    /// Threads serving connections (default: one per CPU). The SQLite writer has its own.
    #[arg(long)]
    workers: Option<usize>,
}

/// The TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    metrics: Option<SocketAddr>,
    store: Option<String>,
    workers: Option<usize>,
    limits: Limits,
}

const DEFAULT_LISTEN: &str = "127.0.0.1:4433";

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let file = match &args.config {
        Some(path) => match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|s| toml::from_str::<FileConfig>(&s).map_err(|e| e.to_string()))
        {
            Ok(c) => c,
            Err(e) => {
                eprintln!("remit-relay: config {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
        None => FileConfig::default(),
    };
    let listen = args
        .listen
        .or(file.listen)
        .or_else(|| DEFAULT_LISTEN.parse().ok());
    let Some(listen) = listen else {
        return ExitCode::from(2);
    };
    let cert = match (args.cert.or(file.cert), args.key.or(file.key)) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        _ => {
            eprintln!("remit-relay: cert and key go together");
            return ExitCode::from(2);
        }
    };
    let config = RelayConfig {
        listen,
        data_dir: args
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("remit-relay-data")),
        cert,
        limits: file.limits,
        metrics: args.metrics.or(file.metrics),
    };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    match args.workers.or(file.workers) {
        Some(0) => {
            eprintln!("remit-relay: workers must be at least 1");
            return ExitCode::FAILURE;
        }
        Some(n) => {
            runtime.worker_threads(n);
        }
        None => {}
    }
    let runtime = match runtime.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("remit-relay: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(config, args.store.or(file.store)))
}

async fn run(config: RelayConfig, store: Option<String>) -> ExitCode {
    let data_dir = config.data_dir.clone();
    let started = match store.as_deref() {
        None | Some("sqlite") => Relay::start(config).await,
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Relay::start_postgres(config, url).await
        }
        Some(_) => {
            eprintln!("remit-relay: --store takes `sqlite` or a postgres:// URL");
            return ExitCode::from(2);
        }
    };
    let relay = match started {
        Ok(r) => r,
        Err(e) => {
            eprintln!("remit-relay: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Machine-readable first lines: tests and scripts read them from stdout.
    println!("listening {}", relay.local_addr());
    println!("fingerprint {}", hex::encode(relay.fingerprint()));
    if let Some(metrics) = relay.metrics_addr() {
        println!("metrics http://{metrics}/metrics");
    }
    tracing::info!(
        address = %relay.local_addr(),
        fingerprint = %hex::encode(relay.fingerprint()),
        data_dir = %data_dir.display(),
        "relay started"
    );
    wait_for_signal().await;
    tracing::info!("signal received; finishing in-flight requests");
    relay.shutdown().await;
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut int), Ok(mut term)) => {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
