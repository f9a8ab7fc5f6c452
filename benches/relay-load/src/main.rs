//! Load generator for the Remit relay. Starts a relay in a child process on
//! 127.0.0.1 with a temporary data directory and bench limits (rates and quotas raised), then:
//!
//! ```text
//! (a) baseline   bare quinn request/response (256-byte echo), same connections and window
//!     (a') floor  the same echo in a child process, paced as (c') (or at --latency-rate):
//!                the round trip of a request through both processes' QUIC stacks
//! (b) throughput N sender → recipient pairs (a ring of N authenticated connections), each
//!                256-byte envelope accepted durably (SendOk), pushed, acked, deleted
//! (c) latency    the same at half of (b)'s rate, paced: accept p50/p99, delivery p99;
//!                (c') again at 20,000 msg/s, half of the 40,000 msg/s target
//! (d) drain      M envelopes queued for an offline identity, then drained and acked; relay
//!                RSS from /proc/<pid>/status before, after the fill and after the drain
//! (e) idle       K idle authenticated connections and the relay's RSS
//! ```
//!
//! (b), (c) and (a') also report the CPU time each process used per message (from
//! `/proc/<pid>/stat`), and (b) and (c) the relay's group commits and its `Send` store-wait
//! quantiles (from its `/metrics`).
//!
//! Progress goes to stderr, a JSON summary to stdout. Every loop is bounded; it stops by
//! itself. By default the relay child is this binary in `--serve` mode, which runs
//! `remit_relay::Relay` exactly as the `remit-relay` binary does; `--relay-bin` runs
//! the real binary instead (with a generated `relay.toml`).
//!
//! PostgreSQL: `--store postgres://…` runs the relay on PostgreSQL (`Relay::start_postgres`), and
//! `--nodes N` starts N relay children on their own loopback ports against that one database;
//! the ring's connections are spread round-robin over the nodes (identity i on node i mod N),
//! so each sender's recipient (i + 1) is on another node. `--phases bc` runs only some phases;
//! (d) and (e) use node 0.
#![forbid(unsafe_code)]
#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    unreachable_pub
)]

use std::{
    io::{BufRead as _, Write as _},
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use clap::Parser;
use rand::{SeedableRng as _, rngs::ChaCha20Rng};
use remit_relay::{
    Relay, RelayConfig,
    limits::{Limits, Rate},
};
use remit_relay_client::{Client, Event, Events, client_endpoint};
use remit_session::Account;
use remit_wire::limits::MAX_ACKS_PER_FRAME;
use serde_json::json;
use tokio::{sync::Semaphore, task::JoinSet};

const PAYLOAD: usize = 256;

/// The relay's end-to-end throughput target, messages/s; (c') runs at half of it.
const TARGET_RATE: f64 = 40_000.0;
const PHASE_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Parser)]
#[command(name = "relay-load", about = "Remit relay load generator")]
struct Args {
    /// Sender → recipient pairs (one authenticated connection per identity, in a ring).
    #[arg(long, default_value_t = 100)]
    pairs: usize,
    /// Messages per pair in the throughput phase (b) and the baseline (a).
    #[arg(long, default_value_t = 1000)]
    per_pair: u64,
    /// Requests in flight per connection.
    #[arg(long, default_value_t = 32)]
    window: usize,
    /// Duration of the paced latency phase (c), seconds.
    #[arg(long, default_value_t = 5)]
    latency_secs: u64,
    /// Offered rate of phase (c), messages/s, instead of half of (b)'s: the same load for
    /// every configuration.
    #[arg(long)]
    latency_rate: Option<f64>,
    /// Envelopes queued for the offline drain phase (d).
    #[arg(long, default_value_t = 100_000)]
    drain: u64,
    /// Idle authenticated connections in phase (e).
    #[arg(long, default_value_t = 10_000)]
    idle: usize,
    /// Run the real `remit-relay` binary at this path instead of this binary's `--serve`.
    #[arg(long)]
    relay_bin: Option<PathBuf>,
    /// The relay's store: `sqlite` (a file in each node's temporary data directory) or a
    /// `postgres://` URL shared by every node.
    #[arg(long, default_value = "sqlite")]
    store: String,
    /// Relay nodes (child processes on their own loopback ports); more than one needs
    /// `--store postgres://…`.
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// Phases to run, a subset of `abcde` (c needs b, whose rate it halves, unless
    /// `--latency-rate` is given).
    #[arg(long, default_value = "abcde")]
    phases: String,
    /// Tokio worker threads of the generator and of each relay node (default: half the CPUs,
    /// at least one: the two processes share the machine, and a runtime with more workers
    /// than its share of cores pays cross-thread wake-ups on every message).
    #[arg(long)]
    workers: Option<usize>,
    /// Internal: run the relay in this process with this data directory.
    #[arg(long, hide = true)]
    serve: Option<PathBuf>,
    /// Internal: the `--serve` relay's PostgreSQL URL.
    #[arg(long, hide = true)]
    serve_store: Option<String>,
    /// Internal: run the bare quinn echo server of (a') with the certificate in this directory.
    #[arg(long, hide = true)]
    echo_serve: Option<PathBuf>,
}

/// The bench limits: per-address and per-identity rates and quotas raised so the relay, not
/// its abuse limits, is measured. The same values as [`BENCH_TOML`].
fn bench_limits() -> Limits {
    let fast = Rate {
        burst: 10_000_000,
        per_second: 10_000_000,
    };
    Limits {
        mailbox_max_count: 10_000_000,
        mailbox_max_bytes: 1 << 40,
        identity_rate: fast,
        address_rate: fast,
        connect_rate: Rate {
            burst: 100_000,
            per_second: 100_000,
        },
        ..Limits::default()
    }
}

const BENCH_TOML: &str = "[limits]
mailbox_max_count = 10000000
mailbox_max_bytes = 1099511627776
identity_rate = { burst = 10000000, per_second = 10000000 }
address_rate = { burst = 10000000, per_second = 10000000 }
connect_rate = { burst = 100000, per_second = 100000 }
";

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn since_epoch_nanos() -> u64 {
    epoch().elapsed().as_nanos() as u64
}

fn main() {
    let mut args = Args::parse();
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let workers = *args.workers.get_or_insert((cpus / 2).max(1));
    if workers == 0 {
        eprintln!("relay-load: --workers must be at least 1");
        std::process::exit(2);
    }
    let multi_thread = || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .expect("runtime")
    };
    // The children run the multi-thread scheduler, as the `remit-relay` binary does.
    if let Some(dir) = args.serve {
        multi_thread().block_on(serve(dir, args.serve_store));
        return;
    }
    if let Some(dir) = args.echo_serve {
        multi_thread().block_on(serve_echo(dir));
        return;
    }
    // The generator with one worker runs the current-thread scheduler: the same work without
    // the multi-thread scheduler's stealing and wake-ups (about 20 % less generator CPU per
    // message in (b)), which leaves that CPU to the relay on the shared cores.
    let runtime = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    } else {
        multi_thread()
    };
    if let Some(bad) = args.phases.chars().find(|c| !"abcde".contains(*c)) {
        eprintln!("relay-load: unknown phase {bad:?} (phases are a, b, c, d, e)");
        std::process::exit(2);
    }
    if args.phases.contains('c') && !args.phases.contains('b') && args.latency_rate.is_none() {
        eprintln!("relay-load: phase c is paced at half of b's rate; run b or give --latency-rate");
        std::process::exit(2);
    }
    if args.store != "sqlite" && !args.store.starts_with("postgres://") {
        eprintln!("relay-load: --store takes `sqlite` or a postgres:// URL");
        std::process::exit(2);
    }
    if args
        .latency_rate
        .is_some_and(|r| !(r.is_finite() && r > 0.0))
    {
        eprintln!("relay-load: --latency-rate must be a positive number");
        std::process::exit(2);
    }
    if args.nodes == 0 || (args.nodes > 1 && args.store == "sqlite") {
        eprintln!("relay-load: --nodes must be 1, or more with --store postgres://…");
        std::process::exit(2);
    }
    let summary = runtime.block_on(run(args));
    println!("{}", serde_json::to_string_pretty(&summary).expect("json"));
}

/// Starts a child that prints what it listens on to stdout and runs until its stdin closes;
/// the child and its stdout's lines.
fn spawn_child(
    cmd: &mut Command,
    what: &str,
) -> (
    Child,
    std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("start {what}: {e}"));
    let lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    (child, lines)
}

/// Returns when standard input closes: the parent exited or is done with this child.
async fn until_stdin_closes() {
    let _ = tokio::task::spawn_blocking(|| {
        let mut sink = String::new();
        while std::io::stdin().read_line(&mut sink).map_or(0, |n| n) > 0 {
            sink.clear();
        }
    })
    .await;
}

/// Child mode: run the relay until stdin closes (the parent exited or is done).
async fn serve(dir: PathBuf, postgres: Option<String>) {
    let config = RelayConfig {
        limits: bench_limits(),
        metrics: Some("127.0.0.1:0".parse().expect("addr")),
        ..RelayConfig::new("127.0.0.1:0".parse().expect("addr"), dir)
    };
    let relay = match postgres {
        None => Relay::start(config).await,
        Some(url) => Relay::start_postgres(config, &url).await,
    }
    .expect("relay start");
    println!("listening {}", relay.local_addr());
    println!("fingerprint {}", hex::encode(relay.fingerprint()));
    if let Some(metrics) = relay.metrics_addr() {
        println!("metrics http://{metrics}/metrics");
    }
    std::io::stdout().flush().expect("stdout");
    until_stdin_closes().await;
    relay.shutdown().await;
}

struct RelayProcess {
    child: Child,
    addr: SocketAddr,
    fingerprint: [u8; 32],
    /// The relay's Prometheus responder (`host:port`).
    metrics: String,
}

/// The relay's group-commit counters, from its own metrics.
#[derive(Clone, Debug, Default)]
struct Commits {
    count: f64,
    seconds: f64,
    jobs: f64,
    /// `remit_relay_send_store_seconds`: (bucket bound in seconds, cumulative count).
    send_store: Vec<(f64, f64)>,
}

impl Commits {
    /// What happened between `before` and `self`; `null` when the store records no commits
    /// (PostgreSQL).
    fn since(&self, before: &Self) -> serde_json::Value {
        let n = self.count - before.count;
        if n <= 0.0 {
            return serde_json::Value::Null;
        }
        json!({
            "commits": n,
            "jobs_per_commit": ((self.jobs - before.jobs) / n * 10.0).round() / 10.0,
            "mean_commit_ms": ((self.seconds - before.seconds) / n * 1e6).round() / 1e3,
            "send_store_ms": {
                "p50": self.send_store_quantile(before, 0.5),
                "p99": self.send_store_quantile(before, 0.99),
            },
        })
    }

    /// The `q` quantile of the Sends' store waits between `before` and `self`, in ms,
    /// interpolated within its histogram bucket (as Prometheus' `histogram_quantile`).
    fn send_store_quantile(&self, before: &Self, q: f64) -> Option<f64> {
        let diff: Vec<(f64, f64)> = self
            .send_store
            .iter()
            .zip(&before.send_store)
            .map(|(&(bound, now), &(_, then))| (bound, now - then))
            .collect();
        let total = diff.last()?.1;
        if total <= 0.0 {
            return None;
        }
        let rank = q * total;
        let (mut lower, mut below) = (0.0, 0.0);
        for (bound, cumulative) in diff {
            if cumulative >= rank {
                let inside = cumulative - below;
                let at = if inside > 0.0 {
                    (rank - below) / inside
                } else {
                    1.0
                };
                let upper = if bound.is_finite() { bound } else { lower };
                return Some(((lower + (upper - lower) * at) * 1e6).round() / 1e3);
            }
            (lower, below) = (bound, cumulative);
        }
        None
    }
}

impl RelayProcess {
    /// Starts one relay node with its data in `dir`; `postgres`: the shared database's URL.
    fn start(
        bin: Option<&PathBuf>,
        dir: &std::path::Path,
        postgres: Option<&str>,
        workers: usize,
    ) -> Self {
        std::fs::create_dir_all(dir).expect("node directory");
        let mut cmd = match bin {
            Some(bin) => {
                let config = dir.join("relay.toml");
                std::fs::write(&config, BENCH_TOML).expect("write config");
                let mut c = Command::new(bin);
                c.args([
                    "--listen",
                    "127.0.0.1:0",
                    "--metrics",
                    "127.0.0.1:0",
                    "--workers",
                ])
                .arg(workers.to_string())
                .arg("--data-dir")
                .arg(dir.join("data"))
                .arg("--config")
                .arg(config)
                .env("RUST_LOG", "warn");
                if let Some(url) = postgres {
                    c.arg("--store").arg(url);
                }
                c
            }
            None => {
                let mut c = Command::new(std::env::current_exe().expect("current exe"));
                c.arg("--serve")
                    .arg(dir.join("data"))
                    .arg("--workers")
                    .arg(workers.to_string());
                if let Some(url) = postgres {
                    c.arg("--serve-store").arg(url);
                }
                c
            }
        };
        let (child, mut lines) = spawn_child(&mut cmd, "relay");
        // Every relay announces itself the same way; this child adds its metrics address.
        let (addr, fingerprint) =
            remit_relay::internal::testkit::read_announcement(&mut lines).expect("relay start");
        let line = lines.next().expect("relay exited early").expect("read");
        let metrics = line
            .strip_prefix("metrics http://")
            .expect("the metrics line")
            .trim_end_matches("/metrics")
            .to_owned();
        Self {
            child,
            addr,
            fingerprint,
            metrics,
        }
    }

    /// The commit counters now (zero if the responder cannot be read).
    fn commits(&self) -> Commits {
        use std::io::{Read as _, Write as _};
        let mut text = String::new();
        if let Ok(mut s) = std::net::TcpStream::connect(&self.metrics) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = write!(
                s,
                "GET /metrics HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                self.metrics
            );
            let _ = s.read_to_string(&mut text);
        }
        let value = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0.0)
        };
        let send_store = text
            .lines()
            .filter_map(|l| {
                let rest = l.strip_prefix("remit_relay_send_store_seconds_bucket{le=\"")?;
                let (bound, count) = rest.split_once("\"} ")?;
                let bound = if bound == "+Inf" {
                    f64::INFINITY
                } else {
                    bound.parse().ok()?
                };
                Some((bound, count.trim().parse().ok()?))
            })
            .collect();
        Commits {
            count: value("remit_relay_store_commit_seconds_count"),
            seconds: value("remit_relay_store_commit_seconds_sum"),
            jobs: value("remit_relay_store_commit_jobs_total"),
            send_store,
        }
    }

    /// CPU time the relay process has used, seconds.
    fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.child.id())
    }

    /// The relay's and this generator's CPU time now, seconds.
    fn cpu_now(&self) -> (f64, f64) {
        (self.cpu_seconds(), cpu_seconds(std::process::id()))
    }

    /// (VmRSS, VmHWM) in KiB.
    fn rss(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    fn stop(mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU time (user + system, all threads) process `pid` has used, in seconds: fields 14 and 15
/// of `/proc/<pid>/stat`, in the kernel's fixed user-visible tick of 1/100 s.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name (field 2) may hold spaces; the fields after it do not.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: Vec<f64> = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse().ok())
        .collect();
    ticks.iter().sum::<f64>() / 100.0
}

/// CPU time per message, µs, to 0.1 µs.
fn us_per(seconds: f64, messages: u64) -> f64 {
    (seconds * 1e7 / messages.max(1) as f64).round() / 10.0
}

/// CPU time per message the relay (node 0) and this generator used since `before`.
fn cpu_per_message(relay: &RelayProcess, before: (f64, f64), messages: u64) -> serde_json::Value {
    let (r, g) = relay.cpu_now();
    json!({
        "relay_us": us_per(r - before.0, messages),
        "generator_us": us_per(g - before.1, messages),
    })
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn account(seed: u64) -> Account {
    Account::new(&mut ChaCha20Rng::seed_from_u64(seed), 1_700_000_000)
}

fn identity(a: &Account) -> [u8; 32] {
    *a.identity().signing_key()
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

/// Prints a progress line on stderr every second until dropped.
struct Progress(tokio::task::JoinHandle<()>);

impl Progress {
    fn start(phase: &'static str, done: Arc<AtomicU64>, total: u64) -> Self {
        Self(tokio::spawn(async move {
            let start = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let n = done.load(Ordering::Relaxed);
                let secs = start.elapsed().as_secs_f64();
                eprint!(
                    "\r[{phase}] {n}/{total} ({:.0}/s, {secs:.0} s, load {})    ",
                    n as f64 / secs,
                    loadavg()
                );
            }
        }))
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.0.abort();
        eprintln!();
    }
}

// ---------------------------------------------------------------------------------------
// (a') bare quinn echo in a child process, paced as (c): the transport's latency floor

/// A bare quinn echo server on 127.0.0.1 with the relay's transport settings, writing each
/// connection's first bidirectional stream back as it arrives; its address and accept task.
fn echo_server(
    cert: rustls::pki_types::CertificateDer<'static>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let mut server_config =
        quinn::ServerConfig::with_single_cert(vec![cert], key).expect("server config");
    server_config.transport_config(Arc::new(remit_relay::internal::transport_config()));
    let server =
        quinn::Endpoint::server(server_config, "127.0.0.1:0".parse().expect("addr")).expect("bind");
    let addr = server.local_addr().expect("addr");
    let accept = tokio::spawn(async move {
        while let Some(incoming) = server.accept().await {
            tokio::spawn(async move {
                let Ok(conn) = incoming.await else { return };
                let Ok((mut send, mut recv)) = conn.accept_bi().await else {
                    return;
                };
                while let Ok(Some(chunk)) = recv.read_chunk(64 * 1024, true).await {
                    if send.write_all(&chunk.bytes).await.is_err() {
                        return;
                    }
                }
                let _ = send.finish();
                conn.closed().await;
            });
        }
    });
    (addr, accept)
}

/// Child mode: a bare quinn echo server (the relay's transport settings) with the certificate
/// and key the parent wrote into `dir`, until stdin closes.
async fn serve_echo(dir: PathBuf) {
    let cert = rustls::pki_types::CertificateDer::from(
        std::fs::read(dir.join("echo-cert.der")).expect("echo certificate"),
    );
    let key = rustls::pki_types::PrivateKeyDer::try_from(
        std::fs::read(dir.join("echo-key.der")).expect("echo key"),
    )
    .expect("key");
    let (addr, _accept) = echo_server(cert, key);
    println!("listening {addr}");
    std::io::stdout().flush().expect("stdout");
    until_stdin_closes().await;
}

/// `conns` connections to an echo server in a child process, each sending 256-byte requests
/// paced open-loop as (c) paces the ring (the same offsets and timer), for `secs` at `rate`
/// in all: the round trip of one request through both processes' QUIC stacks and runtimes,
/// which a relay `Send` pays before any work of its own.
async fn paced_echo(
    conns: usize,
    rate: f64,
    secs: u64,
    workers: usize,
    dir: &std::path::Path,
) -> serde_json::Value {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
    std::fs::create_dir_all(dir).expect("echo dir");
    std::fs::write(dir.join("echo-cert.der"), ck.cert.der()).expect("write cert");
    std::fs::write(dir.join("echo-key.der"), ck.signing_key.serialize_der()).expect("write key");
    let mut cmd = Command::new(std::env::current_exe().expect("current exe"));
    cmd.arg("--echo-serve")
        .arg(dir)
        .arg("--workers")
        .arg(workers.to_string());
    let (mut child, mut lines) = spawn_child(&mut cmd, "echo server");
    let addr: SocketAddr = loop {
        let line = lines.next().expect("echo exited early").expect("read");
        if let Some(a) = line.strip_prefix("listening ") {
            break a.parse().expect("address");
        }
    };
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(
            ck.cert.der().to_vec(),
        ))
        .expect("root");
    let mut client_config =
        quinn::ClientConfig::with_root_certificates(Arc::new(roots)).expect("client config");
    // The relay client's transport settings.
    let mut transport = quinn::TransportConfig::default();
    transport.keep_alive_interval(Some(Duration::from_secs(20)));
    transport.ack_frequency_config(Some(remit_relay::internal::ack_frequency()));
    client_config.transport_config(Arc::new(transport));
    let mut endpoint = client_endpoint(addr).expect("endpoint");
    endpoint.set_default_client_config(client_config);
    let per_conn = ((rate * secs as f64) / conns as f64).max(1.0) as u64;
    let interval = Duration::from_secs_f64(conns as f64 / rate);
    let latencies_us = Arc::new(Mutex::new(Vec::new()));
    let mut streams = Vec::with_capacity(conns);
    for _ in 0..conns {
        let conn = endpoint
            .connect(addr, "localhost")
            .expect("connect")
            .await
            .expect("handshake");
        let (send, recv) = conn.open_bi().await.expect("stream");
        streams.push((conn, send, recv));
    }
    let done = Arc::new(AtomicU64::new(0));
    let cpu = (cpu_seconds(child.id()), cpu_seconds(std::process::id()));
    let progress = Progress::start("a': paced echo", Arc::clone(&done), per_conn * conns as u64);
    let mut tasks = JoinSet::new();
    let t0 = tokio::time::Instant::now();
    let mut connections = Vec::with_capacity(conns);
    for (i, (conn, mut send, mut recv)) in streams.into_iter().enumerate() {
        connections.push(conn);
        let sent_at = Arc::new(Mutex::new(std::collections::VecDeque::new()));
        let offset = interval.mul_f64(i as f64 / conns as f64);
        let queue = Arc::clone(&sent_at);
        tasks.spawn(async move {
            let request = [0x5au8; PAYLOAD];
            for k in 0..per_conn {
                tokio::time::sleep_until(t0 + offset + interval.mul_f64(k as f64)).await;
                queue.lock().expect("lock").push_back(Instant::now());
                send.write_all(&request).await.expect("write");
            }
            let _ = send.finish();
        });
        let latencies_us = Arc::clone(&latencies_us);
        let done = Arc::clone(&done);
        tasks.spawn(async move {
            let mut partial = 0usize;
            let total = per_conn as usize * PAYLOAD;
            let mut received = 0usize;
            while received < total {
                let chunk = recv
                    .read_chunk(64 * 1024, true)
                    .await
                    .expect("read")
                    .expect("open");
                let now = Instant::now();
                received += chunk.bytes.len();
                partial += chunk.bytes.len();
                let mut q = sent_at.lock().expect("lock");
                let mut l = latencies_us.lock().expect("lock");
                while partial >= PAYLOAD {
                    partial -= PAYLOAD;
                    if let Some(at) = q.pop_front() {
                        l.push(now.duration_since(at).as_micros() as u64);
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    tokio::time::timeout(PHASE_TIMEOUT, async {
        while tasks.join_next().await.is_some() {}
    })
    .await
    .expect("paced echo in time");
    drop(progress);
    let used = (
        cpu_seconds(child.id()) - cpu.0,
        cpu_seconds(std::process::id()) - cpu.1,
    );
    for conn in connections {
        conn.close(0u32.into(), b"done");
    }
    drop(child.stdin.take());
    let _ = child.wait();
    let mut lat = std::mem::take(&mut *latencies_us.lock().expect("lock"));
    lat.sort_unstable();
    json!({
        "offered_rate_msgs_per_s": rate.round(),
        "requests": lat.len(),
        "round_trip_ms": { "p50": percentile(&lat, 0.50), "p99": percentile(&lat, 0.99), "max": percentile(&lat, 1.0) },
        "cpu_per_request": {
            "server_us": us_per(used.0, lat.len() as u64),
            "generator_us": us_per(used.1, lat.len() as u64),
        },
    })
}

// ---------------------------------------------------------------------------------------
// (a) bare quinn echo

async fn baseline(conns: usize, per_conn: u64, window: usize) -> f64 {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
    let cert = rustls::pki_types::CertificateDer::from(ck.cert.der().to_vec());
    let key =
        rustls::pki_types::PrivateKeyDer::try_from(ck.signing_key.serialize_der()).expect("key");
    let (addr, accept) = echo_server(cert.clone(), key);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).expect("root");
    let mut client_config =
        quinn::ClientConfig::with_root_certificates(Arc::new(roots)).expect("client config");
    let mut transport = quinn::TransportConfig::default();
    transport.keep_alive_interval(Some(Duration::from_secs(20)));
    client_config.transport_config(Arc::new(transport));
    let done = Arc::new(AtomicU64::new(0));
    let progress = Progress::start("a: bare quinn", Arc::clone(&done), conns as u64 * per_conn);
    let mut tasks = JoinSet::new();
    let mut connections = Vec::new();
    let mut endpoint = client_endpoint(addr).expect("endpoint");
    endpoint.set_default_client_config(client_config);
    for _ in 0..conns {
        let conn = endpoint
            .connect(addr, "localhost")
            .expect("connect")
            .await
            .expect("handshake");
        connections.push((endpoint.clone(), conn));
    }
    let start = Instant::now();
    for (_, conn) in &connections {
        let (mut send, mut recv) = conn.open_bi().await.expect("stream");
        let permits = Arc::new(Semaphore::new(window));
        let p = Arc::clone(&permits);
        let done = Arc::clone(&done);
        tasks.spawn(async move {
            let mut received = 0u64;
            let total = per_conn * PAYLOAD as u64;
            while received < total {
                let chunk = recv
                    .read_chunk(64 * 1024, true)
                    .await
                    .expect("read")
                    .expect("open");
                let before = received / PAYLOAD as u64;
                received += chunk.bytes.len() as u64;
                let answered = received / PAYLOAD as u64 - before;
                p.add_permits(answered as usize);
                done.fetch_add(answered, Ordering::Relaxed);
            }
        });
        tasks.spawn(async move {
            let request = [0x5au8; PAYLOAD];
            for _ in 0..per_conn {
                permits.acquire().await.expect("permit").forget();
                send.write_all(&request).await.expect("write");
            }
            let _ = send.finish();
        });
    }
    tokio::time::timeout(PHASE_TIMEOUT, async {
        while tasks.join_next().await.is_some() {}
    })
    .await
    .expect("baseline in time");
    let rate = (conns as u64 * per_conn) as f64 / start.elapsed().as_secs_f64();
    drop(progress);
    for (endpoint, conn) in connections {
        conn.close(0u32.into(), b"done");
        drop(endpoint);
    }
    accept.abort();
    rate
}

// ---------------------------------------------------------------------------------------
// Relay traffic

/// Counters shared by the receivers of a set of connections.
#[derive(Default)]
struct Stats {
    delivered: AtomicU64,
    acked: Arc<AtomicU64>,
    record_delivery: AtomicBool,
    delivery_latency_us: Mutex<Vec<u64>>,
}

struct Peer {
    id: [u8; 32],
    client: Arc<Client>,
    acks: Arc<Acks>,
}

/// Pending acknowledgements before an `Ack` goes to the relay on its own.
const ACK_BATCH: usize = MAX_ACKS_PER_FRAME;

/// How long a delivered sequence waits for company before it is acknowledged on its own.
const ACK_DELAY: Duration = Duration::from_millis(5);

/// A recipient's acknowledgements, batched as an app would: the sequences delivered since the
/// last `Ack` go out with the connection's next `Send` (both frames in one packet), or on their
/// own once [`ACK_BATCH`] are pending or [`ACK_DELAY`] after the first of them.
struct Acks {
    client: Arc<Client>,
    stats: Arc<Stats>,
    pending: Mutex<Vec<u64>>,
    timer_armed: AtomicBool,
}

impl Acks {
    fn new(client: Arc<Client>, stats: Arc<Stats>) -> Arc<Self> {
        Arc::new(Self {
            client,
            stats,
            pending: Mutex::new(Vec::new()),
            timer_armed: AtomicBool::new(false),
        })
    }

    fn take(&self) -> Vec<u64> {
        std::mem::take(&mut *self.pending.lock().expect("lock"))
    }

    /// The `Ack` requests for `seqs` (at most `MAX_ACKS_PER_FRAME` each), counting what the
    /// relay deleted.
    async fn ack(&self, seqs: Vec<u64>) {
        for chunk in seqs.chunks(MAX_ACKS_PER_FRAME) {
            match self.client.ack(chunk.to_vec()).await {
                Ok(n) => {
                    self.stats.acked.fetch_add(u64::from(n), Ordering::Relaxed);
                }
                Err(e) => eprintln!("relay-load: ack failed: {e}"),
            }
        }
    }

    fn add(self: &Arc<Self>, seqs: &[u64]) {
        let full = {
            let mut p = self.pending.lock().expect("lock");
            p.extend_from_slice(seqs);
            p.len() >= ACK_BATCH
        };
        if full {
            let this = Arc::clone(self);
            tokio::spawn(async move { this.ack(this.take()).await });
        } else if !self.timer_armed.swap(true, Ordering::AcqRel) {
            let this = Arc::clone(self);
            tokio::spawn(async move {
                tokio::time::sleep(ACK_DELAY).await;
                this.timer_armed.store(false, Ordering::Release);
                this.ack(this.take()).await;
            });
        }
    }

    /// `client.send(...)` with the pending acknowledgements queued in front of it; returns when
    /// the `Send` is answered (the `Ack` finishes on its own).
    async fn send_with_acks(
        self: &Arc<Self>,
        to: [u8; 32],
        message_id: [u8; 16],
        envelope: Vec<u8>,
    ) -> Result<(), remit_relay_client::RelayError> {
        let seqs = self.take();
        if !seqs.is_empty() {
            let this = Arc::clone(self);
            let mut ack = Box::pin(async move { this.ack(seqs).await });
            // One poll queues the Ack frame now, so the writer sends it with the Send.
            let pending = std::future::poll_fn(|cx| {
                std::task::Poll::Ready(ack.as_mut().poll(cx).is_pending())
            })
            .await;
            if pending {
                tokio::spawn(ack);
            }
        }
        self.client
            .send(to.into(), message_id.into(), envelope)
            .await
            .map(drop)
    }
}

/// Receives and records every delivery until the connection ends; acknowledges through `acks`.
fn spawn_receiver(mut events: Events, acks: Arc<Acks>) {
    tokio::spawn(async move {
        let stats = Arc::clone(&acks.stats);
        while let Some(first) = events.recv().await {
            let mut seqs = Vec::with_capacity(ACK_BATCH);
            let take = |e: Event, seqs: &mut Vec<u64>| {
                if let Event::Deliver(d) = e {
                    if stats.record_delivery.load(Ordering::Relaxed) && d.envelope.len() >= 8 {
                        let sent = u64::from_le_bytes(d.envelope[..8].try_into().expect("8"));
                        let now = since_epoch_nanos();
                        if let Ok(mut v) = stats.delivery_latency_us.lock() {
                            v.push(now.saturating_sub(sent) / 1000);
                        }
                    }
                    seqs.push(d.sequence);
                }
            };
            take(first, &mut seqs);
            while seqs.len() < ACK_BATCH {
                match events.try_recv() {
                    Some(e) => take(e, &mut seqs),
                    None => break,
                }
            }
            if seqs.is_empty() {
                continue;
            }
            stats
                .delivered
                .fetch_add(seqs.len() as u64, Ordering::Relaxed);
            acks.add(&seqs);
        }
    });
}

fn envelope() -> Vec<u8> {
    let mut e = vec![0xa5; PAYLOAD];
    e[..8].copy_from_slice(&since_epoch_nanos().to_le_bytes());
    e
}

fn message_id(phase: u8, sender: usize, n: u64) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[0] = phase;
    m[1..5].copy_from_slice(&(sender as u32).to_be_bytes());
    m[8..].copy_from_slice(&n.to_be_bytes());
    m
}

/// Closed loop: every sender sends `per_sender` envelopes to `target(i)` with `window` in
/// flight. Returns when `stats.acked` reaches `acked_goal`; the elapsed time.
async fn closed_loop(
    peers: &[Peer],
    target: impl Fn(usize) -> [u8; 32],
    per_sender: u64,
    window: usize,
    phase: u8,
    done: &Arc<AtomicU64>,
) {
    let mut senders = JoinSet::new();
    for (i, p) in peers.iter().enumerate() {
        let acks = Arc::clone(&p.acks);
        let to = target(i);
        let done = Arc::clone(done);
        senders.spawn(async move {
            let permits = Arc::new(Semaphore::new(window));
            let mut inflight = JoinSet::new();
            for n in 0..per_sender {
                let permit = Arc::clone(&permits).acquire_owned().await.expect("permit");
                let acks = Arc::clone(&acks);
                let done = Arc::clone(&done);
                inflight.spawn(async move {
                    acks.send_with_acks(to, message_id(phase, i, n), envelope())
                        .await
                        .expect("send");
                    done.fetch_add(1, Ordering::Relaxed);
                    drop(permit);
                });
                while inflight.try_join_next().is_some() {}
            }
            while inflight.join_next().await.is_some() {}
        });
    }
    while senders.join_next().await.is_some() {}
}

async fn wait_for(counter: &AtomicU64, goal: u64) {
    let deadline = Instant::now() + PHASE_TIMEOUT;
    while counter.load(Ordering::Relaxed) < goal {
        assert!(Instant::now() < deadline, "timed out waiting for {goal}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Connects `n` identities, identity i to node i mod N: with N ≥ 2, i and i + 1 (its ring
/// recipient) are on different nodes (all of them but one pair when n mod N = 1).
async fn connect_ring(
    nodes: &[RelayProcess],
    n: usize,
    seed: u64,
    stats: &Arc<Stats>,
) -> Vec<Peer> {
    let mut peers = Vec::with_capacity(n);
    // One UDP socket for every connection of the ring, as a load generator multiplexes (and
    // as (a) and (e) do): a socket and endpoint task per connection cost the generator CPU
    // that the two cores share with the relay.
    let endpoint = client_endpoint(nodes[0].addr).expect("endpoint");
    for i in 0..n {
        let a = account(seed + i as u64);
        let relay = &nodes[i % nodes.len()];
        let mut client = Client::connect_on(&endpoint, relay.addr, relay.fingerprint, &a)
            .await
            .expect("connect");
        let events = client.take_events();
        let client = Arc::new(client);
        let acks = Acks::new(Arc::clone(&client), Arc::clone(stats));
        spawn_receiver(events, Arc::clone(&acks));
        peers.push(Peer {
            id: identity(&a),
            client,
            acks,
        });
    }
    peers
}

/// The URL with its password (if any) replaced, for the summary.
fn redacted(store: &str) -> String {
    match (store.find("://"), store.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let user_info = &store[scheme + 3..at];
            match user_info.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &store[..scheme + 3], &store[at..]),
                None => store.to_owned(),
            }
        }
        _ => store.to_owned(),
    }
}

async fn run(args: Args) -> serde_json::Value {
    let _ = epoch();
    let workers = args.workers.unwrap_or(1);
    let load_start = loadavg();
    let n = args.pairs.max(2);
    let phases = |p: char| args.phases.contains(p);
    let dir = tempfile::tempdir().expect("tempdir");
    eprintln!("relay-load: load average at start {load_start}");

    // (a)
    let baseline_rate = if phases('a') {
        let rate = baseline(n, args.per_pair, args.window).await;
        eprintln!("relay-load: (a) bare quinn {rate:.0} req/s");
        Some(rate)
    } else {
        None
    };
    // (a') the transport's round trip at (c')'s load (or --latency-rate), across processes.
    let echo_floor = if phases('a') {
        let rate = args.latency_rate.unwrap_or(TARGET_RATE / 2.0);
        let e = paced_echo(
            n,
            rate,
            args.latency_secs,
            workers,
            &dir.path().join("echo"),
        )
        .await;
        eprintln!("relay-load: (a') {e}");
        e
    } else {
        serde_json::Value::Null
    };

    let postgres = args
        .store
        .starts_with("postgres://")
        .then_some(args.store.as_str());
    // One after the other: concurrent first starts would race on the schema migration (which
    // the store handles, but a bench need not exercise it).
    let nodes: Vec<RelayProcess> = (0..args.nodes)
        .map(|k| {
            RelayProcess::start(
                args.relay_bin.as_ref(),
                &dir.path().join(format!("node{k}")),
                postgres,
                workers,
            )
        })
        .collect();
    eprintln!(
        "relay-load: {} relay node(s) on {} ({})",
        nodes.len(),
        nodes
            .iter()
            .map(|r| r.addr.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        redacted(&args.store)
    );
    let relay = &nodes[0];
    let rss_start: Vec<u64> = nodes.iter().map(|r| r.rss().0).collect();
    let stats = Arc::new(Stats::default());
    let peers = connect_ring(&nodes, n, 1, &stats).await;
    let ring = |i: usize| peers[(i + 1) % n].id;
    let cross_node = (0..n)
        .filter(|&i| i % nodes.len() != ((i + 1) % n) % nodes.len())
        .count();

    // (b)
    let mut throughput_b = None;
    let mut elapsed_b = None;
    let mut commits_b = serde_json::Value::Null;
    let mut cpu_b = serde_json::Value::Null;
    if phases('b') {
        let (commits, cpu) = (relay.commits(), relay.cpu_now());
        let total_b = n as u64 * args.per_pair;
        let accepted = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        {
            let _p = Progress::start("b: throughput", Arc::clone(&stats.acked), total_b);
            closed_loop(&peers, ring, args.per_pair, args.window, 1, &accepted).await;
            wait_for(&stats.acked, total_b).await;
        }
        let elapsed = start.elapsed().as_secs_f64();
        let throughput = total_b as f64 / elapsed;
        match baseline_rate {
            Some(b) => eprintln!(
                "relay-load: (b) {throughput:.0} msg/s end to end ({:.2}× bare quinn)",
                throughput / b
            ),
            None => eprintln!("relay-load: (b) {throughput:.0} msg/s end to end"),
        }
        throughput_b = Some(throughput);
        elapsed_b = Some(elapsed);
        commits_b = relay.commits().since(&commits);
        cpu_b = cpu_per_message(relay, cpu, total_b);
        eprintln!("relay-load: (b) node 0 commits {commits_b}");
    }

    // (c) paced at half of (b), or at --latency-rate
    let latency = match args.latency_rate.or(throughput_b.map(|t| t / 2.0)) {
        Some(rate) if phases('c') => {
            let (commits, cpu) = (relay.commits(), relay.cpu_now());
            let mut l = half_load(&peers, &ring, &stats, rate, args.latency_secs).await;
            l["node0_commits"] = relay.commits().since(&commits);
            l["cpu_per_message"] = cpu_per_message(relay, cpu, l["messages"].as_u64().unwrap_or(0));
            eprintln!("relay-load: (c) {l}");
            l
        }
        _ => serde_json::Value::Null,
    };
    // (c') the same at half of the 40,000 msg/s throughput target, so the latency
    // targets are also measured at one fixed load, whatever (b) reached.
    let latency_target = if phases('c') && args.latency_rate.is_none() {
        let (commits, cpu) = (relay.commits(), relay.cpu_now());
        let mut l = half_load(&peers, &ring, &stats, TARGET_RATE / 2.0, args.latency_secs).await;
        l["node0_commits"] = relay.commits().since(&commits);
        l["cpu_per_message"] = cpu_per_message(relay, cpu, l["messages"].as_u64().unwrap_or(0));
        eprintln!("relay-load: (c') {l}");
        l
    } else {
        serde_json::Value::Null
    };

    // (d) offline drain, on node 0
    let drain = if phases('d') {
        let d = offline_drain(relay, &peers, args.drain, args.window).await;
        eprintln!("relay-load: (d) {d}");
        d
    } else {
        serde_json::Value::Null
    };

    // (e) idle connections, on node 0
    let idle_summary = if phases('e') {
        let e = idle_connections(relay, args.idle).await;
        eprintln!("relay-load: (e) {e}");
        e
    } else {
        serde_json::Value::Null
    };

    // The ring's QUIC traffic over all phases, as its client connections counted it.
    let (mut tx, mut rx, mut ack_tx, mut stream_tx) = (0, 0, 0, 0);
    for p in &peers {
        let st = p.client.connection().stats();
        tx += st.udp_tx.datagrams;
        rx += st.udp_rx.datagrams;
        ack_tx += st.frame_tx.acks;
        stream_tx += st.frame_tx.stream;
    }
    let ring_quic = json!({
        "client_datagrams_sent": tx,
        "client_datagrams_received": rx,
        "client_ack_frames_sent": ack_tx,
        "client_stream_frames_sent": stream_tx,
    });
    for p in &peers {
        p.client.connection().close(0u32.into(), b"done");
    }
    let rss_end: Vec<u64> = nodes.iter().map(|r| r.rss().0).collect();
    let load_end = loadavg();
    for node in nodes {
        node.stop();
    }
    json!({
        "machine": {
            "cpus": std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
            "loadavg_start": load_start,
            "loadavg_end": load_end,
        },
        "config": {
            "pairs": n, "connections": n, "per_pair": args.per_pair, "window": args.window,
            "latency_secs": args.latency_secs, "latency_rate": args.latency_rate,
            "payload_bytes": PAYLOAD, "relay": args.relay_bin.as_ref().map_or_else(|| "relay-load --serve (in-process Relay, child process)".to_owned(), |p| p.display().to_string()),
            "store": redacted(&args.store),
            "nodes": args.nodes,
            "workers_per_process": workers,
            "pairs_across_nodes": cross_node,
            "phases": args.phases,
        },
        "a_bare_quinn_req_per_s": baseline_rate.map(f64::round),
        "a_bare_quinn_paced_echo": echo_floor,
        "b_relay_msgs_per_s": throughput_b.map(f64::round),
        "b_ratio_to_bare_quinn": throughput_b.zip(baseline_rate).map(|(t, b)| t / b),
        "b_seconds": elapsed_b,
        "b_node0_commits": commits_b,
        "b_cpu_per_message": cpu_b,
        "c_half_load": latency,
        "c_half_target_load": latency_target,
        "d_offline_drain": drain,
        "e_idle_connections": idle_summary,
        "ring_quic_totals": ring_quic,
        "relay_rss_kib_at_start": rss_start,
        "relay_rss_kib_at_end": rss_end,
    })
}

/// (c): the ring paced open-loop at `rate` (half of (b)'s unless given) for `secs`; accept
/// and delivery latencies.
async fn half_load(
    peers: &[Peer],
    ring: &impl Fn(usize) -> [u8; 32],
    stats: &Arc<Stats>,
    rate: f64,
    secs: u64,
) -> serde_json::Value {
    let n = peers.len();
    let per_sender = ((rate * secs as f64) / n as f64).max(1.0) as u64;
    let interval = Duration::from_secs_f64(n as f64 / rate);
    let accept_us = Arc::new(Mutex::new(Vec::new()));
    stats.record_delivery.store(true, Ordering::Relaxed);
    let acked_before = stats.acked.load(Ordering::Relaxed);
    let sent_c = Arc::new(AtomicU64::new(0));
    {
        let _p = Progress::start("c: latency", Arc::clone(&sent_c), per_sender * n as u64);
        let mut senders = JoinSet::new();
        let t0 = tokio::time::Instant::now();
        for (i, p) in peers.iter().enumerate() {
            let acks = Arc::clone(&p.acks);
            let to = ring(i);
            let accept_us = Arc::clone(&accept_us);
            let sent = Arc::clone(&sent_c);
            let offset = interval.mul_f64(i as f64 / n as f64);
            senders.spawn(async move {
                let mut inflight = JoinSet::new();
                for k in 0..per_sender {
                    tokio::time::sleep_until(t0 + offset + interval.mul_f64(k as f64)).await;
                    let acks = Arc::clone(&acks);
                    let accept_us = Arc::clone(&accept_us);
                    let sent = Arc::clone(&sent);
                    inflight.spawn(async move {
                        let begin = Instant::now();
                        acks.send_with_acks(to, message_id(2, i, k), envelope())
                            .await
                            .expect("send");
                        let us = begin.elapsed().as_micros() as u64;
                        accept_us.lock().expect("lock").push(us);
                        sent.fetch_add(1, Ordering::Relaxed);
                    });
                    while inflight.try_join_next().is_some() {}
                }
                while inflight.join_next().await.is_some() {}
            });
        }
        while senders.join_next().await.is_some() {}
        wait_for(&stats.acked, acked_before + per_sender * n as u64).await;
    }
    stats.record_delivery.store(false, Ordering::Relaxed);
    let mut acc = std::mem::take(&mut *accept_us.lock().expect("lock"));
    acc.sort_unstable();
    let mut del = std::mem::take(&mut *stats.delivery_latency_us.lock().expect("lock"));
    del.sort_unstable();
    json!({
        "offered_rate_msgs_per_s": rate.round(),
        "messages": acc.len(),
        "accept_ms": { "p50": percentile(&acc, 0.50), "p99": percentile(&acc, 0.99), "max": percentile(&acc, 1.0) },
        "delivery_ms": { "p50": percentile(&del, 0.50), "p99": percentile(&del, 0.99), "max": percentile(&del, 1.0) },
    })
}

/// (d): about `envelopes` queued by the ring for an offline identity (connecting to `relay`),
/// then drained and acked; `relay`'s RSS along the way.
async fn offline_drain(
    relay: &RelayProcess,
    peers: &[Peer],
    envelopes: u64,
    window: usize,
) -> serde_json::Value {
    let n = peers.len();
    let offline = account(1_000_000);
    let offline_id = identity(&offline);
    let per_sender = envelopes.div_ceil(n as u64);
    let total_d = per_sender * n as u64;
    let rss_before_fill = relay.rss();
    let filled = Arc::new(AtomicU64::new(0));
    let fill_start = Instant::now();
    {
        let _p = Progress::start("d: fill", Arc::clone(&filled), total_d);
        closed_loop(peers, |_| offline_id, per_sender, window, 3, &filled).await;
    }
    let fill_rate = total_d as f64 / fill_start.elapsed().as_secs_f64();
    let rss_after_fill = relay.rss();
    let drain_stats = Arc::new(Stats::default());
    let drain_start = Instant::now();
    let rss_peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let pid = relay.child.id();
        let peak = Arc::clone(&rss_peak);
        tokio::spawn(async move {
            loop {
                let status =
                    std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                let rss = status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.split_whitespace().next()?.parse().ok())
                    .unwrap_or(0);
                peak.fetch_max(rss, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let drained_client = {
        let _p = Progress::start("d: drain", Arc::clone(&drain_stats.acked), total_d);
        let mut c = Client::connect(relay.addr, relay.fingerprint, &offline)
            .await
            .expect("connect");
        let queued = c.queued_at_auth();
        assert!(queued >= total_d, "queued {queued} < {total_d}");
        let events = c.take_events();
        let c = Arc::new(c);
        spawn_receiver(events, Acks::new(Arc::clone(&c), Arc::clone(&drain_stats)));
        wait_for(&drain_stats.acked, total_d).await;
        c
    };
    let drain_secs = drain_start.elapsed().as_secs_f64();
    sampler.abort();
    let drain_rate = total_d as f64 / drain_secs;
    let rss_after_drain = relay.rss();
    drained_client.connection().close(0u32.into(), b"done");
    json!({
        "envelopes": total_d,
        "fill_msgs_per_s": fill_rate.round(),
        "drain_msgs_per_s": drain_rate.round(),
        "drain_seconds": drain_secs,
        "relay_rss_kib": {
            "before_fill": rss_before_fill.0,
            "after_fill_queue_full": rss_after_fill.0,
            "peak_during_drain": rss_peak.load(Ordering::Relaxed),
            "after_drain": rss_after_drain.0,
            "hwm_after_drain": rss_after_drain.1,
        }
    })
}

/// (e): `count` more authenticated connections to `relay`, left idle; its RSS with them.
async fn idle_connections(relay: &RelayProcess, count: usize) -> serde_json::Value {
    let rss_before_idle = relay.rss();
    let endpoint = client_endpoint(relay.addr).expect("endpoint");
    let opened = Arc::new(AtomicU64::new(0));
    let mut idle = Vec::with_capacity(count);
    let mut idle_error = None;
    {
        let _p = Progress::start("e: idle", Arc::clone(&opened), count as u64);
        let mut connecting = JoinSet::new();
        let mut next = 0usize;
        while next < count || !connecting.is_empty() {
            while next < count && connecting.len() < 32 && idle_error.is_none() {
                let endpoint = endpoint.clone();
                let (addr, fp) = (relay.addr, relay.fingerprint);
                let seed = 2_000_000 + next as u64;
                connecting.spawn(async move {
                    let a = account(seed);
                    Client::connect_on(&endpoint, addr, fp, &a).await
                });
                next += 1;
            }
            match connecting.join_next().await {
                Some(Ok(Ok(c))) => {
                    idle.push(c);
                    opened.fetch_add(1, Ordering::Relaxed);
                }
                Some(Ok(Err(e))) => {
                    idle_error.get_or_insert_with(|| e.to_string());
                }
                Some(Err(e)) => {
                    idle_error.get_or_insert_with(|| e.to_string());
                }
                None => break,
            }
            if idle_error.is_some() && connecting.is_empty() {
                break;
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_idle = relay.rss();
    let summary = json!({
        "requested": count,
        "authenticated": idle.len(),
        "error": idle_error,
        "relay_rss_kib_before": rss_before_idle.0,
        "relay_rss_kib_with_idle": rss_idle.0,
        "relay_rss_kib_per_connection": (rss_idle.0.saturating_sub(rss_before_idle.0)) as f64 / idle.len().max(1) as f64,
    });
    for c in &idle {
        c.connection().close(0u32.into(), b"done");
    }
    summary
}
