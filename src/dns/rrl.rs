//! Response rate limiting, as Knot's `rrl` module and BIND's `rate-limit` do it: per
//! client network (IPv4 /24, IPv6 /56) and per kind of response, at most `rate`
//! responses a second with a burst allowance; past it, a response is dropped, except
//! every `slip`-th, which goes out empty with TC set, so a real resolver behind that
//! network retries over TCP (never limited) and is never locked out. Spoofed floods
//! that use ward to amplify attacks get little out of it.
//!
//! Memory is fixed whatever the number of sources: a table of one 64-bit word per
//! bucket (a fingerprint and the bucket's GCRA "theoretical arrival time"), shared by
//! the UDP workers and updated with one compare-and-swap. A collision resets the
//! bucket, which only ever lets a response through.

use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ipnet::IpNet;

/// Response rate limiting settings (`[rrl]` in ward.toml).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RrlSettings {
    /// Responses a second per client network and kind of response; 0 turns RRL off.
    pub(crate) rate: u32,
    /// Responses allowed at once above the rate (default: the rate, one second's worth).
    pub(crate) burst: Option<u32>,
    /// Every `slip`-th limited response is sent empty with TC=1; 0 sends none, 1 all.
    pub(crate) slip: u32,
    /// Client networks: IPv4 prefix length.
    pub(crate) ipv4_prefix: u8,
    /// Client networks: IPv6 prefix length.
    pub(crate) ipv6_prefix: u8,
    /// Clients never limited (monitoring, your own resolvers).
    pub(crate) exempt: Vec<IpNet>,
    /// Count and log what would be limited, but answer everything.
    pub(crate) log_only: bool,
    /// Buckets in the table (rounded up to a power of two); 8 bytes each.
    pub(crate) table_size: usize,
    /// Responses of more bytes than this are their own kind ("large").
    pub(crate) large_response: usize,
}

impl Default for RrlSettings {
    fn default() -> Self {
        RrlSettings {
            rate: 0,
            burst: None,
            slip: 2,
            ipv4_prefix: 24,
            ipv6_prefix: 56,
            exempt: Vec::new(),
            log_only: false,
            table_size: 1 << 16,
            large_response: 1024,
        }
    }
}

/// Kinds of response, limited separately: a flood of one kind does not use up another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// A listed name's answer.
    Listed,
    /// NXDOMAIN or NODATA.
    Negative,
    /// REFUSED, FORMERR and the other errors.
    Error,
    /// Any answer larger than [`RrlSettings::large_response`].
    Large,
}

/// What to do with one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Send,
    /// Over the limit: send nothing, or (every `slip`-th) an empty TC reply.
    Limited,
}

/// The shared bucket table.
pub(crate) struct Limiter {
    settings: RrlSettings,
    buckets: Box<[AtomicU64]>,
    mask: usize,
    /// Microseconds between responses at the rate.
    interval_us: u64,
    /// How far ahead of now a bucket's arrival time may run (the burst).
    tolerance_us: u64,
    epoch: Instant,
    hasher: foldhash::fast::RandomState,
}

/// Low 40 bits: the bucket's theoretical arrival time in µs since `epoch` (12.7 days
/// before it wraps; compared with wrapping arithmetic). High 24 bits: the key's
/// fingerprint.
const TIME_BITS: u32 = 40;
const TIME_MASK: u64 = (1 << TIME_BITS) - 1;

impl Limiter {
    /// `None` when the settings turn limiting off.
    pub(crate) fn new(settings: &RrlSettings) -> Option<Limiter> {
        if settings.rate == 0 {
            return None;
        }
        let size = settings.table_size.clamp(1024, 1 << 24).next_power_of_two();
        let interval_us = 1_000_000 / u64::from(settings.rate).max(1);
        let burst = u64::from(settings.burst.unwrap_or(settings.rate).max(1));
        Some(Limiter {
            settings: settings.clone(),
            buckets: (0..size).map(|_| AtomicU64::new(0)).collect(),
            mask: size - 1,
            interval_us: interval_us.max(1),
            tolerance_us: interval_us.max(1) * burst,
            epoch: Instant::now(),
            hasher: foldhash::fast::RandomState::default(),
        })
    }

    pub(crate) fn settings(&self) -> &RrlSettings {
        &self.settings
    }

    /// The kind of a response with rcode `rcode` (extended), `listed` or not, of
    /// `bytes` bytes.
    pub(crate) fn class(&self, rcode: u16, listed: bool, bytes: usize) -> Class {
        if bytes > self.settings.large_response {
            Class::Large
        } else if listed {
            Class::Listed
        } else if rcode == 0 || rcode == 3 {
            Class::Negative
        } else {
            Class::Error
        }
    }

    /// The client's network, as the limits count it.
    fn network(&self, client: IpAddr) -> Option<u128> {
        let client = match client {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        if self.settings.exempt.iter().any(|net| net.contains(&client)) {
            return None;
        }
        Some(match client {
            IpAddr::V4(v4) => {
                let bits = u32::from(self.settings.ipv4_prefix.min(32));
                let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
                u128::from(u32::from(v4) & mask) | (4 << 120)
            }
            IpAddr::V6(v6) => {
                let bits = u32::from(self.settings.ipv6_prefix.min(128));
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                u128::from(v6) & mask & !(0xff << 120) | (6 << 120)
            }
        })
    }

    /// Takes one response of `class` in zone `zone` for `client` from its bucket.
    pub(crate) fn check(&self, client: IpAddr, class: Class, zone: u16) -> Verdict {
        let Some(network) = self.network(client) else {
            return Verdict::Send;
        };
        let mut hasher = self.hasher.build_hasher();
        hasher.write_u128(network);
        hasher.write_u8(class as u8);
        hasher.write_u16(zone);
        let hash = hasher.finish();
        let fingerprint = hash >> TIME_BITS;
        let bucket = &self.buckets[(hash as usize) & self.mask];
        let now = self.now_us();
        for _ in 0..4 {
            let current = bucket.load(Ordering::Relaxed);
            let arrival = if current >> TIME_BITS == fingerprint && current != 0 {
                current & TIME_MASK
            } else {
                now
            };
            // How far the bucket's arrival time is ahead of now (0 if behind).
            let ahead = arrival.wrapping_sub(now) & TIME_MASK;
            let ahead = if ahead > TIME_MASK / 2 { 0 } else { ahead };
            if ahead > self.tolerance_us {
                return Verdict::Limited;
            }
            let next = (now + ahead + self.interval_us) & TIME_MASK;
            let updated = (fingerprint << TIME_BITS) | next;
            if bucket
                .compare_exchange_weak(current, updated, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                return Verdict::Send;
            }
        }
        // Contended: let it through rather than spin.
        Verdict::Send
    }

    fn now_us(&self) -> u64 {
        let elapsed: Duration = self.epoch.elapsed();
        (elapsed.as_micros() as u64) & TIME_MASK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(rate: u32, burst: u32) -> Limiter {
        Limiter::new(&RrlSettings {
            rate,
            burst: Some(burst),
            exempt: vec!["192.0.2.77/32".parse().unwrap()],
            ..RrlSettings::default()
        })
        .unwrap()
    }

    fn sends(limiter: &Limiter, client: &str, class: Class, n: usize) -> usize {
        let client: IpAddr = client.parse().unwrap();
        (0..n)
            .filter(|_| limiter.check(client, class, 1) == Verdict::Send)
            .count()
    }

    #[test]
    fn off_unless_a_rate_is_set() {
        assert!(Limiter::new(&RrlSettings::default()).is_none());
    }

    #[test]
    fn a_burst_passes_then_the_network_is_limited() {
        // 1 a second, burst 10: a quick run of 100 lets about 11 through (the burst
        // plus the first), whatever the exact timing.
        let limiter = limiter(1, 10);
        let sent = sends(&limiter, "203.0.113.7", Class::Listed, 100);
        assert!((10..=12).contains(&sent), "{sent}");
        // The same /24 shares the bucket; another /24, class or exempt client does not.
        assert_eq!(sends(&limiter, "203.0.113.99", Class::Listed, 5), 0);
        assert!(sends(&limiter, "203.0.114.7", Class::Listed, 5) == 5);
        assert!(sends(&limiter, "203.0.113.7", Class::Negative, 5) == 5);
        assert_eq!(sends(&limiter, "192.0.2.77", Class::Listed, 100), 100);
    }

    #[test]
    fn ipv6_networks_are_slash_56_and_mapped_addresses_are_ipv4() {
        let limiter = limiter(1, 2);
        sends(&limiter, "2001:db8:0:1::1", Class::Error, 10);
        assert_eq!(
            sends(&limiter, "2001:db8:0:ff::2", Class::Error, 3),
            0,
            "same /56"
        );
        assert_eq!(sends(&limiter, "2001:db8:0:100::2", Class::Error, 3), 3);
        sends(&limiter, "198.51.100.1", Class::Error, 10);
        assert_eq!(sends(&limiter, "::ffff:198.51.100.9", Class::Error, 3), 0);
    }

    #[test]
    fn the_rate_refills_the_bucket() {
        let limiter = limiter(1, 1);
        assert!(sends(&limiter, "203.0.113.7", Class::Listed, 10) <= 2);
        std::thread::sleep(Duration::from_millis(1100));
        assert!(sends(&limiter, "203.0.113.7", Class::Listed, 10) >= 1);
    }

    #[test]
    fn classes() {
        let limiter = limiter(1, 1);
        assert_eq!(limiter.class(0, true, 100), Class::Listed);
        assert_eq!(limiter.class(3, false, 100), Class::Negative);
        assert_eq!(limiter.class(0, false, 100), Class::Negative);
        assert_eq!(limiter.class(5, false, 100), Class::Error);
        assert_eq!(limiter.class(0, true, 2000), Class::Large);
    }
}
