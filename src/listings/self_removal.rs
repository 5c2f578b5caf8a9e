//! Removal by the listed themselves, where a reason allows it (`self-remove=30d` on its
//! `$REASON` line), as the big lists' "remove it yourself once" flows work. Only
//! listings made by the API or fail2ban (`api.zone`) qualify, never admins' own files;
//! a value that removed itself within the reason's period is told to open a request;
//! and where ward can verify the fix — an SPF record that now authorises the hosting's
//! senders (`check=spf`) — it does before removing anything.

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

use super::edit::{ApiEntry, EditError, Editor};
use crate::dns::resolver::{Answer, Outcome, ResolverError, StubResolver};
use crate::time::unix_now;
use crate::zone::reason::{FixCheck, SelfRemoval};

/// What "fixed" means for an SPF record (`[self_removal]` in ward.toml).
#[derive(Debug, Clone, Default)]
pub(crate) struct SpfPolicy {
    /// An `include:` (or `redirect=`) of one of these authorises the hosting.
    pub(crate) includes: Vec<String>,
    /// So does an `ip4:`/`ip6:` that covers one of these networks.
    pub(crate) networks: Vec<IpNet>,
}

/// How ward verifies fixes: the SPF policy, and the resolver it asks.
#[derive(Debug, Clone, Default)]
pub(crate) struct FixSettings {
    pub(crate) spf: SpfPolicy,
    /// The recursive resolver (`[resolver] address`); `None`: the system's.
    pub(crate) resolver: Option<std::net::SocketAddr>,
    pub(crate) timeout: Duration,
}

/// Checks fixes before self-removals.
pub(crate) struct FixChecker {
    spf: SpfPolicy,
    resolver: StubResolver,
}

impl FixChecker {
    pub(crate) fn new(settings: &FixSettings) -> Result<FixChecker, ResolverError> {
        Ok(FixChecker {
            spf: settings.spf.clone(),
            resolver: StubResolver::new(settings.resolver, settings.timeout)?,
        })
    }

    /// Whether the fix `check` asks for is in place for `value`; `Err` says what is
    /// missing, in words for the page.
    pub(crate) async fn verify(&self, check: FixCheck, value: &str) -> Result<(), String> {
        match check {
            FixCheck::Spf => {
                if self.spf.includes.is_empty() && self.spf.networks.is_empty() {
                    return Err("This listing can only be removed once we checked the fix, and this server does not know what to check yet. Please open a removal request.".to_string());
                }
                let domain = value
                    .rsplit('@')
                    .next()
                    .unwrap_or(value)
                    .trim_end_matches('.');
                let outcome = self.resolver.txt(&format!("{domain}.")).await;
                let texts: Vec<String> = match outcome {
                    Outcome::Found(records) => records
                        .into_iter()
                        .filter_map(|(answer, _)| match answer {
                            Answer::Txt(text) => Some(text),
                            Answer::A(_) => None,
                        })
                        .collect(),
                    Outcome::NotFound { .. } => Vec::new(),
                    Outcome::Timeout
                    | Outcome::ServFail
                    | Outcome::Refused
                    | Outcome::Failed(_) => {
                        return Err(format!(
                            "We could not read the SPF record of {domain} just now (its DNS did not answer). Please try again in a few minutes."
                        ));
                    }
                };
                spf_verdict(domain, &texts, &self.spf)
            }
        }
    }
}

/// Whether one of `texts` (a domain's TXT records) is an SPF record that authorises
/// the hosting as `policy` says.
pub(crate) fn spf_verdict(
    domain: &str,
    texts: &[String],
    policy: &SpfPolicy,
) -> Result<(), String> {
    let wanted = || {
        let mut parts: Vec<String> = policy
            .includes
            .iter()
            .map(|include| format!("include:{include}"))
            .collect();
        parts.extend(policy.networks.iter().map(|net| match net {
            IpNet::V4(_) => format!("ip4:{net}"),
            IpNet::V6(_) => format!("ip6:{net}"),
        }));
        parts.join(" or ")
    };
    let records: Vec<&String> = texts
        .iter()
        .filter(|t| {
            let t = t.trim_start().to_ascii_lowercase();
            t == "v=spf1" || t.starts_with("v=spf1 ")
        })
        .collect();
    let record = match records.as_slice() {
        [] => {
            return Err(format!(
                "{domain} has no SPF record (a TXT record \"v=spf1 …\"). Add one with {} and try again.",
                wanted()
            ));
        }
        [one] => one,
        _ => {
            return Err(format!(
                "{domain} has {} SPF records; receivers then ignore them all (RFC 7208 §4.5). Keep one, with {}.",
                records.len(),
                wanted()
            ));
        }
    };
    // Only a passing mechanism authorises: `~include:`, `?ip4:` and `-ip4:` match
    // without making the mail pass (RFC 7208 §4.6.2).
    let authorised = record.split_whitespace().skip(1).any(|term| {
        if term.starts_with(['-', '~', '?']) {
            return false;
        }
        let term = term.trim_start_matches('+').to_ascii_lowercase();
        if let Some(target) = term
            .strip_prefix("include:")
            .or_else(|| term.strip_prefix("redirect="))
        {
            return policy.includes.iter().any(|i| {
                i.trim_end_matches('.')
                    .eq_ignore_ascii_case(target.trim_end_matches('.'))
            });
        }
        let network = term
            .strip_prefix("ip4:")
            .or_else(|| term.strip_prefix("ip6:"));
        network
            .and_then(|n| {
                n.parse::<IpNet>()
                    .ok()
                    .or_else(|| n.parse::<IpAddr>().ok().map(IpNet::from))
            })
            .is_some_and(|given| policy.networks.iter().any(|ours| given.contains(ours)))
    });
    if authorised {
        Ok(())
    } else {
        Err(format!(
            "The SPF record of {domain} is \"{record}\": it does not authorise our servers yet. Add {} and try again once the change is published.",
            wanted()
        ))
    }
}

/// What the listed may do about a listing of theirs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Offer {
    /// They may remove it themselves (after `check`, if any).
    Allowed {
        reason: String,
        check: Option<FixCheck>,
        entries: Vec<ApiEntry>,
    },
    /// It removed itself at `at`, within the reason's period.
    TooSoon { at: i64, every: u32 },
    /// Not here: an admin's own entry, a reason that does not allow it, nothing listed.
    No,
}

/// What the listed may do about `value` in `zone`: only live API entries whose reason
/// allows self-removal, and not again within the reason's period.
pub(crate) fn offer(
    editor: &Editor,
    last_removed: Option<i64>,
    zone: &str,
    value: &str,
) -> Result<Offer, EditError> {
    let entries: Vec<ApiEntry> = editor
        .list(Some(zone), Some(value))?
        .into_iter()
        .filter(|e| !e.expired)
        .collect();
    let removal = |entry: &ApiEntry| -> Option<(String, SelfRemoval)> {
        let reason = entry.reason.clone()?;
        let removal = editor.reason(&reason)?.self_removal?;
        Some((reason, removal))
    };
    // Every API entry of the value must allow it: one that does not keeps it listed.
    let allowed: Option<Vec<(String, SelfRemoval)>> = entries.iter().map(removal).collect();
    let Some(allowed) = allowed.filter(|a| !a.is_empty()) else {
        return Ok(Offer::No);
    };
    let every = allowed.iter().map(|(_, r)| r.every).max().unwrap_or(0);
    if let Some(at) = last_removed
        && at + i64::from(every) > unix_now()
    {
        return Ok(Offer::TooSoon { at, every });
    }
    let check = allowed.iter().find_map(|(_, r)| r.check);
    Ok(Offer::Allowed {
        reason: allowed[0].0.clone(),
        check,
        entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> SpfPolicy {
        SpfPolicy {
            includes: vec!["_spf.hosting.example".into()],
            networks: vec!["192.0.2.0/24".parse().unwrap()],
        }
    }

    #[test]
    fn spf_records_are_read_as_receivers_read_them() {
        let p = policy();
        let verdict = |texts: &[&str]| {
            spf_verdict(
                "customer.example",
                &texts.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
                &p,
            )
        };
        assert!(verdict(&["v=spf1 include:_spf.hosting.example -all"]).is_ok());
        assert!(verdict(&["v=spf1 +include:_SPF.Hosting.Example. ~all"]).is_ok());
        assert!(verdict(&["v=spf1 redirect=_spf.hosting.example"]).is_ok());
        assert!(
            verdict(&["v=spf1 ip4:192.0.2.0/23 -all"]).is_ok(),
            "a wider network"
        );
        assert!(verdict(&["google-site-verification=x", "v=spf1 ip4:192.0.2.0/24 -all"]).is_ok());
        let narrow = verdict(&["v=spf1 ip4:192.0.2.7 -all"]).unwrap_err();
        assert!(
            narrow.contains("does not authorise our servers"),
            "{narrow}"
        );
        assert!(
            narrow.contains("include:_spf.hosting.example or ip4:192.0.2.0/24"),
            "{narrow}"
        );
        let none = verdict(&["not spf"]).unwrap_err();
        assert!(none.contains("has no SPF record"), "{none}");
        let two =
            verdict(&["v=spf1 -all", "v=spf1 include:_spf.hosting.example -all"]).unwrap_err();
        assert!(two.contains("2 SPF records"), "{two}");
        assert!(
            verdict(&["v=spf1include:_spf.hosting.example"]).is_err(),
            "not an SPF record"
        );
        for softer in [
            "~include:_spf.hosting.example",
            "?ip4:192.0.2.0/24",
            "-ip4:192.0.2.0/24",
        ] {
            assert!(
                verdict(&[&format!("v=spf1 {softer} -all")]).is_err(),
                "{softer} does not make the mail pass"
            );
        }
    }
}
