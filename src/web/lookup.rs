//! The lookup as visitors see it: for an IP, domain or address, every zone's answer
//! in words — listed or not, the reason and what to do, since and until when, the
//! return code and the exact name a mail server asks. One view model serves the HTML
//! page and `GET /api/v1/lookup`; the lookup itself is `ward lookup`'s
//! ([`crate::report::explain::lookup`]) against the snapshot being served.

use std::net::IpAddr;

use serde::Serialize;

use crate::external::ListResult;
use crate::listings::api_zone::API_FILE;
use crate::report::entries::Details;
use crate::report::explain::{self, LookupError, ZoneLookup};
use crate::store::Snapshot;
use crate::time::format_rfc3339;

/// The longest input looked up; longer is refused before any work.
pub(crate) const MAX_QUERY: usize = 320;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct LookupView {
    pub(crate) query: String,
    /// `IPv4 address`, `IPv6 address`, `email address` or `domain`.
    pub(crate) kind: &'static str,
    pub(crate) listed: bool,
    /// How many zones list it.
    pub(crate) listed_in: usize,
    pub(crate) zones: Vec<ZoneView>,
    /// What the configured public lists say (absent when none is configured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) external: Option<Vec<ListResult>>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ZoneView {
    pub(crate) zone: String,
    pub(crate) listed: bool,
    /// Return codes answered, with the catalogue's name for each.
    pub(crate) codes: Vec<CodeView>,
    /// The reasons as mail servers receive them (TXT).
    pub(crate) reasons: Vec<String>,
    /// The entries behind the listing, where the zone's files say more.
    pub(crate) entries: Vec<EntryView>,
    /// Every name a mail server may ask for this input, and its answer.
    pub(crate) queries: Vec<QueryView>,
    /// Where to ask for removal (listed zones only).
    pub(crate) removal: Option<String>,
    /// Whether the listed may remove it themselves (listed API entries whose reason
    /// allows it); absent where it does not apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) self_removal: Option<SelfRemovalView>,
    /// A live entry of an admin's own file lists the input: removing the API's entries
    /// would not unlist it, so the listed cannot remove it themselves.
    #[serde(skip)]
    pub(crate) listed_by_admin: bool,
}

/// The "I fixed it: remove it now" offer.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SelfRemovalView {
    /// The listed may remove it now.
    pub(crate) allowed: bool,
    /// What ward checks first (`spf`: the domain's SPF record).
    pub(crate) check: Option<&'static str>,
    /// When it removed itself last, within the reason's period (RFC 3339).
    pub(crate) last: Option<String>,
    /// When it may remove itself again.
    pub(crate) again: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct CodeView {
    pub(crate) code: String,
    pub(crate) reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct EntryView {
    /// The reason name the entry gives, if it names one.
    pub(crate) reason: Option<String>,
    /// `added=` as written.
    pub(crate) since: Option<String>,
    /// `expires=` as an RFC 3339 time; `None`: until removed.
    pub(crate) until: Option<String>,
    pub(crate) ticket: Option<String>,
    /// The entry carves this out of a listed range.
    pub(crate) exclusion: bool,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct QueryView {
    /// The query name, fully qualified.
    pub(crate) qname: String,
    /// How it derives from the input (`sha1 of …`); empty for the plain form.
    pub(crate) how: String,
    pub(crate) listed: bool,
    /// `A 127.0.0.3`, `NXDOMAIN` or `NOERROR, no A record`.
    pub(crate) answer: String,
}

/// The input's kind, in words.
fn kind_of(input: &str) -> &'static str {
    match input.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => "IPv4 address",
        Ok(IpAddr::V6(_)) => "IPv6 address",
        Err(_) if input.contains('@') => "email address",
        Err(_) => "domain",
    }
}

/// Looks `input` up in `snapshot` and describes it.
pub(crate) fn lookup_view(
    input: &str,
    snapshot: &Snapshot,
    details: &Details,
    now: i64,
) -> Result<LookupView, LookupError> {
    let input = input.trim();
    if input.len() > MAX_QUERY {
        return Err(LookupError::BadQuery(format!(
            "{}…",
            input.chars().take(40).collect::<String>()
        )));
    }
    // DNS labels may hold any byte, but what people look up here never has blanks,
    // markup or quotes: refuse those instead of asking for them.
    if input
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "<>\"'`()[]{};,\\".contains(c))
    {
        return Err(LookupError::BadQuery(input.to_string()));
    }
    let entries = |zone: &crate::zone::name::Name| details.entries(zone);
    let found = explain::lookup(input, snapshot, &entries, now, explain::Keys::Never)?;
    let mut zones: Vec<ZoneView> = found
        .zones
        .iter()
        .map(|zone| zone_view(&found.input, zone, details, now))
        .collect();
    // What the visitor came for first: the lists that list them.
    zones.sort_by_key(|zone| !zone.listed);
    Ok(LookupView {
        query: found.input.clone(),
        kind: kind_of(&found.input),
        listed: zones.iter().any(|z| z.listed),
        listed_in: zones.iter().filter(|z| z.listed).count(),
        zones,
        external: None,
    })
}

fn zone_view(input: &str, zone: &ZoneLookup, details: &Details, now: i64) -> ZoneView {
    let listed_by_admin = zone.entries.iter().any(|(file, entry)| {
        !entry.excluded
            && entry.expires.is_none_or(|expires| expires > now)
            && file.file_name().is_none_or(|name| name != API_FILE)
    });
    let mut codes: Vec<CodeView> = Vec::new();
    let mut reasons: Vec<String> = Vec::new();
    for query in &zone.queries {
        for (addr, _) in &query.a {
            let code = addr.to_string();
            if !codes.iter().any(|c| c.code == code) {
                codes.push(CodeView {
                    reason: details.reason_name(addr.octets()).map(str::to_string),
                    code,
                });
            }
        }
        // `$` in a reason is the name asked: the texts of the first form that has
        // any (the plain one), not one copy per hashed form.
        if reasons.is_empty() {
            for txt in &query.txt {
                if !reasons.contains(txt) {
                    reasons.push(txt.clone());
                }
            }
        }
    }
    let entries = zone
        .entries
        .iter()
        .map(|(_, entry)| {
            let attribute = |name: &str| {
                entry
                    .attributes
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
            };
            let reason = entry
                .text
                .split_whitespace()
                .nth(1)
                .filter(|w| details.catalogue.get(w).is_some())
                .map(str::to_string);
            EntryView {
                reason,
                since: attribute("added"),
                until: entry.expires.map(format_rfc3339),
                ticket: attribute("ticket"),
                exclusion: entry.excluded,
            }
        })
        .collect();
    let queries = zone
        .queries
        .iter()
        .map(|q| {
            let listed = !q.a.is_empty() || !q.txt.is_empty();
            let answer = if !q.a.is_empty() {
                q.a.iter()
                    .map(|(addr, _)| format!("A {addr}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            } else if q.nxdomain {
                "NXDOMAIN (not listed)".to_string()
            } else {
                "NOERROR, no A record (not listed)".to_string()
            };
            QueryView {
                qname: format!("{}.", q.qname),
                how: q.how.clone(),
                listed,
                answer,
            }
        })
        .collect();
    let removal = zone.listed.then(|| {
        format!(
            "/request/new?zone={}&q={}",
            encode(&zone.zone.to_string()),
            encode(input)
        )
    });
    ZoneView {
        zone: zone.zone.to_string(),
        listed: zone.listed,
        codes,
        reasons,
        entries,
        queries,
        removal,
        self_removal: None,
        listed_by_admin,
    }
}

/// Percent-encodes a query-string value.
pub(super) fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~@:".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
