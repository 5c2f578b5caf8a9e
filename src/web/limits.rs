//! Per-client rate limits for the public listener: one budget per address and a
//! larger one per network (an IPv4 /24, an IPv6 /48; a single IPv6 host counts as its
//! /64), so one machine cannot flood removal requests, and neither can its
//! neighbours by rotating addresses. Budgets refill steadily (governor's GCRA).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// How many of something a client may do per period; its network may do four times
/// as many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub per_client: u32,
    pub period: Duration,
}

impl Budget {
    /// Lookups, explanations and pages: a person clicking around never meets it.
    pub const PAGES: Budget = Budget {
        per_client: 120,
        period: Duration::from_secs(60),
    };
    /// Removal requests: a handful an hour.
    pub const REQUESTS: Budget = Budget {
        per_client: 5,
        period: Duration::from_secs(3600),
    };
}

/// One budget, kept per client and per network.
pub(crate) struct Limiter {
    client: DefaultKeyedRateLimiter<IpAddr>,
    network: DefaultKeyedRateLimiter<IpAddr>,
    checks: AtomicU64,
}

/// Forget clients that have their full budget back every this many checks, so the
/// tables stay as small as the set of recent clients.
const PRUNE_EVERY: u64 = 4096;

impl Limiter {
    pub(crate) fn new(budget: Budget) -> Self {
        Limiter {
            client: RateLimiter::keyed(quota(budget.per_client, budget.period)),
            network: RateLimiter::keyed(quota(budget.per_client.saturating_mul(4), budget.period)),
            checks: AtomicU64::new(0),
        }
    }

    /// Takes one from `ip`'s budgets; `Err(wait)` when either is spent.
    pub(crate) fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.client.retain_recent();
            self.network.retain_recent();
        }
        let (client, network) = keys(ip);
        let now = DefaultClock::default().now();
        self.client
            .check_key(&client)
            .and_then(|()| self.network.check_key(&network))
            .map_err(|not_until| not_until.wait_time_from(now))
    }
}

fn quota(count: u32, period: Duration) -> Quota {
    let count = NonZeroU32::new(count.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(period / count.get())
        .unwrap_or_else(|| Quota::per_second(count))
        .allow_burst(count)
}

/// The client key and the network key of an address.
pub(super) fn keys(ip: IpAddr) -> (IpAddr, IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            let net = u32::from(v4) & 0xffff_ff00;
            (ip, IpAddr::V4(net.into()))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => keys(IpAddr::V4(v4)),
            None => {
                let bits = u128::from(v6);
                (
                    IpAddr::V6((bits & !((1u128 << 64) - 1)).into()),
                    IpAddr::V6((bits & !((1u128 << 80) - 1)).into()),
                )
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_and_its_network_have_budgets() {
        let limiter = Limiter::new(Budget {
            per_client: 2,
            period: Duration::from_secs(3600),
        });
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(limiter.check(ip("192.0.2.1")).is_ok());
        assert!(limiter.check(ip("192.0.2.1")).is_ok());
        assert!(limiter.check(ip("192.0.2.1")).is_err(), "client spent");
        // Neighbours share the /24's budget of 8; one was refused before reaching it.
        let allowed = (2..20)
            .filter(|i| limiter.check(ip(&format!("192.0.2.{i}"))).is_ok())
            .count();
        assert_eq!(allowed, 6, "the /24 is spent after 8");
        assert!(limiter.check(ip("198.51.100.1")).is_ok(), "another network");
        assert_eq!(
            keys(ip("2001:db8:1:2:3:4:5:6")),
            (ip("2001:db8:1:2::"), ip("2001:db8:1::"))
        );
        assert_eq!(keys(ip("::ffff:192.0.2.9")).1, ip("192.0.2.0"));
    }
}
