//! Prometheus metrics: counters in an [`Arc<Metrics>`] of atomics, served in the text
//! exposition format (version 0.0.4) by a tiny HTTP/1.1 responder on an optional TCP port.
//!
//! ```text
//! remit_relay_connections                     gauge    open QUIC connections
//! remit_relay_connections_total               counter  connections accepted (handshake done)
//! remit_relay_sends_total                     counter  envelopes accepted durably (SendOk, new)
//! remit_relay_send_duplicates_total           counter  SendOk for a message id already queued
//! remit_relay_deliveries_total                counter  Deliver frames pushed
//! remit_relay_acks_total                      counter  envelopes deleted by Ack
//! remit_relay_queue_depth                     gauge    envelopes queued, all mailboxes (store)
//! remit_relay_rejections_total{reason}        counter  error frames by code; refused connections
//! remit_relay_store_commit_seconds            histogram one group commit (begin … fsync)
//! remit_relay_send_store_seconds              histogram a Send's wait for its commit (queue + commit)
//! remit_relay_store_commit_jobs_total         counter  operations committed in those commits
//! ```
//!
//! The responder answers `GET /metrics` (and `GET /`) with `Connection: close`; anything else
//! is 404 or 405. A request must arrive within [`HTTP_TIMEOUT`] and fit in [`MAX_REQUEST`]
//! bytes; at most [`MAX_SCRAPES`] scrapes run at once. Bind it to loopback or a private
//! network: it has no authentication (the numbers are aggregate, but still metadata).

use std::{
    fmt::Write as _,
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicI64, AtomicU64, Ordering},
    },
    time::Duration,
};

use remit_wire::v1::RelayErrorCode;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpListener,
    sync::{Semaphore, watch},
};

/// Time a scraper has to send its request.
pub(crate) const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest request head read, bytes.
pub(crate) const MAX_REQUEST: usize = 8 * 1024;

/// Concurrent scrapes.
pub(crate) const MAX_SCRAPES: usize = 16;

/// Upper bounds (seconds) of the latency histograms' buckets (`+Inf` is implied).
pub(crate) const LATENCY_BUCKETS: [f64; 17] = [
    0.000_1, 0.000_25, 0.000_5, 0.000_75, 0.001, 0.001_5, 0.002, 0.003, 0.005, 0.007_5, 0.01,
    0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// Rejection reasons that are not error frames.
const REFUSED_CONNECTION_LIMIT: usize = 0;
const REFUSED_CONNECT_RATE: usize = 1;
const REFUSALS: [&str; 2] = ["connection_limit", "connect_rate"];

/// Error codes tracked (`RelayErrorCode` values 0..=15).
const CODES: usize = 16;

/// The relay's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    connections: AtomicI64,
    connections_total: AtomicU64,
    sends: AtomicU64,
    duplicates: AtomicU64,
    deliveries: AtomicU64,
    acks: AtomicU64,
    rejections: [AtomicU64; CODES],
    refusals: [AtomicU64; 2],
    commits: Histogram,
    commit_jobs: AtomicU64,
    send_store: Histogram,
}

/// A Prometheus histogram of durations over [`LATENCY_BUCKETS`].
#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.buckets) {
            if secs <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    fn render(&self, s: &mut String, name: &str, help: &str) {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let _ = write!(s, "# HELP {name} {help}\n# TYPE {name} histogram\n");
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.buckets) {
            let _ = writeln!(s, "{name}_bucket{{le=\"{bound}\"}} {}", l(bucket));
        }
        let count = l(&self.count);
        #[allow(clippy::cast_precision_loss)]
        let sum = l(&self.sum_nanos) as f64 / 1e9;
        let _ = write!(
            s,
            "{name}_bucket{{le=\"+Inf\"}} {count}\n{name}_sum {sum}\n{name}_count {count}\n"
        );
    }
}

/// Decrements the connection gauge when dropped.
#[derive(Debug)]
pub(crate) struct ConnectionGuard(Arc<Metrics>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// A connection completed its handshake; the gauge drops with the guard.
    #[must_use]
    pub(crate) fn connection_opened(self: &Arc<Self>) -> ConnectionGuard {
        self.connections.fetch_add(1, Ordering::Relaxed);
        self.connections_total.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard(Arc::clone(self))
    }

    /// An envelope was accepted (`duplicate`: its message id was already queued).
    pub fn send_accepted(&self, duplicate: bool) {
        if duplicate {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
        } else {
            self.sends.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// An envelope was pushed to a recipient.
    pub fn delivered(&self) {
        self.deliveries.fetch_add(1, Ordering::Relaxed);
    }

    /// `n` envelopes were deleted by an Ack.
    pub fn acked(&self, n: u32) {
        self.acks.fetch_add(u64::from(n), Ordering::Relaxed);
    }

    /// An error frame with this code was sent.
    pub fn rejected(&self, code: i32) {
        let i = usize::try_from(code).unwrap_or(0).min(CODES - 1);
        if let Some(c) = self.rejections.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A connection was refused at the connection limit.
    pub fn refused_connection_limit(&self) {
        self.refusals[REFUSED_CONNECTION_LIMIT].fetch_add(1, Ordering::Relaxed);
    }

    /// A connection was refused by the per-address connect rate.
    pub fn refused_connect_rate(&self) {
        self.refusals[REFUSED_CONNECT_RATE].fetch_add(1, Ordering::Relaxed);
    }

    /// One store commit of `jobs` operations took `elapsed`.
    pub fn commit(&self, elapsed: Duration, jobs: usize) {
        self.commits.observe(elapsed);
        self.commit_jobs
            .fetch_add(u64::try_from(jobs).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// A `Send` waited `elapsed` from its submission to the store until its commit returned.
    pub fn send_stored(&self, elapsed: Duration) {
        self.send_store.observe(elapsed);
    }

    /// Open connections.
    #[must_use]
    pub fn connections(&self) -> i64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// The text exposition, with the store's queue depth (`None` if it could not be read).
    #[must_use]
    pub fn render(&self, queue_depth: Option<u64>) -> String {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut s = String::with_capacity(4096);
        let mut metric = |name: &str, kind: &str, help: &str, value: &dyn core::fmt::Display| {
            let _ = write!(
                s,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            );
        };
        metric(
            "remit_relay_connections",
            "gauge",
            "Open QUIC connections.",
            &self.connections(),
        );
        metric(
            "remit_relay_connections_total",
            "counter",
            "Connections that completed the QUIC handshake.",
            &l(&self.connections_total),
        );
        metric(
            "remit_relay_sends_total",
            "counter",
            "Envelopes accepted durably (SendOk, not duplicates).",
            &l(&self.sends),
        );
        metric(
            "remit_relay_send_duplicates_total",
            "counter",
            "SendOk answers for a message id already queued.",
            &l(&self.duplicates),
        );
        metric(
            "remit_relay_deliveries_total",
            "counter",
            "Deliver frames pushed to recipients.",
            &l(&self.deliveries),
        );
        metric(
            "remit_relay_acks_total",
            "counter",
            "Envelopes deleted by recipients' Acks.",
            &l(&self.acks),
        );
        if let Some(depth) = queue_depth {
            metric(
                "remit_relay_queue_depth",
                "gauge",
                "Envelopes queued in all mailboxes.",
                &depth,
            );
        }
        s.push_str(
            "# HELP remit_relay_rejections_total Error frames sent, by code, and refused connections.\n\
             # TYPE remit_relay_rejections_total counter\n",
        );
        for (code, c) in self.rejections.iter().enumerate() {
            let v = l(c);
            let name = i32::try_from(code)
                .ok()
                .and_then(|c| RelayErrorCode::try_from(c).ok())
                .map_or_else(
                    || format!("code_{code}"),
                    |c| {
                        c.as_str_name()
                            .trim_start_matches("RELAY_ERROR_CODE_")
                            .to_ascii_lowercase()
                    },
                );
            if v > 0 || (1..=11).contains(&code) {
                let _ = writeln!(s, "remit_relay_rejections_total{{reason=\"{name}\"}} {v}");
            }
        }
        for (name, c) in REFUSALS.iter().zip(&self.refusals) {
            let _ = writeln!(
                s,
                "remit_relay_rejections_total{{reason=\"{name}\"}} {}",
                l(c)
            );
        }
        self.commits.render(
            &mut s,
            "remit_relay_store_commit_seconds",
            "Duration of one store group commit (begin to durable).",
        );
        metric_line(
            &mut s,
            "remit_relay_store_commit_jobs_total",
            "counter",
            "Store operations committed.",
            l(&self.commit_jobs),
        );
        self.send_store.render(
            &mut s,
            "remit_relay_send_store_seconds",
            "A Send's wait from its submission to the store until its commit returned.",
        );
        s
    }
}

fn metric_line(s: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    let _ = write!(
        s,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
    );
}

/// Serves the metrics on `listener` until `shutdown` turns true. `queue_depth` is asked on
/// every scrape.
pub(crate) async fn serve<F, Fut>(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    queue_depth: F,
    mut shutdown: watch::Receiver<bool>,
) where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<u64>> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(MAX_SCRAPES));
    let queue_depth = Arc::new(queue_depth);
    loop {
        let (mut stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::debug!(error = %e, "metrics accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let metrics = Arc::clone(&metrics);
        let queue_depth = Arc::clone(&queue_depth);
        tokio::spawn(async move {
            let _permit = permit;
            let head = tokio::time::timeout(HTTP_TIMEOUT, read_head(&mut stream)).await;
            let response = match head {
                Ok(Some(head)) => respond(&head, &metrics, &*queue_depth).await,
                _ => http(400, "Bad Request", "bad request\n"),
            };
            let _ = tokio::time::timeout(HTTP_TIMEOUT, async {
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            })
            .await;
        });
    }
}

/// Reads up to the end of the request head; `None` if it is too long or the peer hangs up.
async fn read_head(stream: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(chunk.get(..n)?);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n") {
            return String::from_utf8(buf).ok();
        }
        if buf.len() > MAX_REQUEST {
            return None;
        }
    }
}

async fn respond<F, Fut>(head: &str, metrics: &Metrics, queue_depth: &F) -> String
where
    F: Fn() -> Fut,
    Fut: Future<Output = Option<u64>>,
{
    let mut parts = head.lines().next().unwrap_or_default().split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method != "GET" {
        return http(405, "Method Not Allowed", "only GET\n");
    }
    if path != "/metrics" && path != "/" {
        return http(404, "Not Found", "try /metrics\n");
    }
    let body = metrics.render(queue_depth().await);
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn http(status: u16, reason: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_counts_and_buckets() {
        let m = Arc::new(Metrics::default());
        let g = m.connection_opened();
        m.send_accepted(false);
        m.send_accepted(true);
        m.delivered();
        m.acked(3);
        m.rejected(RelayErrorCode::RateLimited as i32);
        m.refused_connect_rate();
        m.commit(Duration::from_micros(700), 5);
        let s = m.render(Some(42));
        for line in [
            "remit_relay_connections 1",
            "remit_relay_sends_total 1",
            "remit_relay_send_duplicates_total 1",
            "remit_relay_deliveries_total 1",
            "remit_relay_acks_total 3",
            "remit_relay_queue_depth 42",
            "remit_relay_rejections_total{reason=\"rate_limited\"} 1",
            "remit_relay_rejections_total{reason=\"connect_rate\"} 1",
            "remit_relay_rejections_total{reason=\"malformed\"} 0",
            "remit_relay_store_commit_seconds_bucket{le=\"0.0005\"} 0",
            "remit_relay_store_commit_seconds_bucket{le=\"0.001\"} 1",
            "remit_relay_store_commit_seconds_bucket{le=\"+Inf\"} 1",
            "remit_relay_store_commit_seconds_count 1",
            "remit_relay_store_commit_jobs_total 5",
        ] {
            assert!(s.lines().any(|l| l == line), "missing {line:?} in\n{s}");
        }
        drop(g);
        assert!(m.render(None).contains("remit_relay_connections 0\n"));
    }
}
