//! Token-bucket rate limits, shared by all connections. Sans-IO: the caller passes `now`.

use std::{
    collections::HashMap,
    hash::Hash,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::limits::{Limits, MAX_TRACKED_BUCKETS, Rate};

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// A set of buckets with one rate, keyed by identity or address.
#[derive(Debug)]
pub struct Buckets<K> {
    rate: Rate,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq + Copy> Buckets<K> {
    /// Buckets that all follow `rate`.
    #[must_use]
    pub fn new(rate: Rate) -> Self {
        Self {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token from `key`'s bucket, or says how long until one is available.
    ///
    /// # Errors
    /// The wait until a token is available.
    pub fn take(&self, key: K, now: Instant) -> Result<(), Duration> {
        let burst = f64::from(self.rate.burst.max(1));
        let per_second = f64::from(self.rate.per_second);
        let Ok(mut map) = self.buckets.lock() else {
            return Err(Duration::from_secs(1));
        };
        if map.len() >= MAX_TRACKED_BUCKETS && !map.contains_key(&key) {
            // Forget buckets that have refilled: they are indistinguishable from new ones.
            map.retain(|_, b| {
                let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
                b.tokens + elapsed * per_second < burst
            });
            if map.len() >= MAX_TRACKED_BUCKETS {
                return Err(Duration::from_secs(1));
            }
        }
        let b = map.entry(key).or_insert(Bucket {
            tokens: burst,
            last: now,
        });
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * per_second).min(burst);
        b.last = now.max(b.last);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else if per_second > 0.0 {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / per_second))
        } else {
            Err(Duration::from_secs(3600))
        }
    }
}

/// Every limiter of the relay.
#[derive(Debug)]
pub struct RateLimiter {
    /// Requests per identity.
    pub identity: Buckets<[u8; 32]>,
    /// Requests per address.
    pub address: Buckets<IpAddr>,
    /// Bundle fetches per identity.
    pub fetch: Buckets<[u8; 32]>,
    /// New connections per address.
    pub connect: Buckets<IpAddr>,
}

impl RateLimiter {
    /// Limiters with the rates of `limits`.
    #[must_use]
    pub fn new(limits: &Limits) -> Self {
        Self {
            identity: Buckets::new(limits.identity_rate),
            address: Buckets::new(limits.address_rate),
            fetch: Buckets::new(limits.fetch_rate),
            connect: Buckets::new(limits.connect_rate),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_refills() {
        let b = Buckets::new(Rate {
            burst: 3,
            per_second: 10,
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            b.take(1u8, t0).unwrap();
        }
        let wait = b.take(1u8, t0).unwrap_err();
        assert!(wait <= Duration::from_millis(100) && wait > Duration::ZERO);
        b.take(2u8, t0).unwrap();
        b.take(1u8, t0 + Duration::from_millis(100)).unwrap();
        assert!(b.take(1u8, t0 + Duration::from_millis(100)).is_err());
        for _ in 0..3 {
            b.take(1u8, t0 + Duration::from_secs(10)).unwrap();
        }
        assert!(b.take(1u8, t0 + Duration::from_secs(10)).is_err());
    }

    #[test]
    fn zero_rate_never_refills() {
        let b = Buckets::new(Rate {
            burst: 1,
            per_second: 0,
        });
        let t0 = Instant::now();
        b.take(1u8, t0).unwrap();
        assert!(b.take(1u8, t0 + Duration::from_secs(1000)).is_err());
    }
}
