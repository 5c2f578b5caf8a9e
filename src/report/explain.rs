//! `ward lookup`: for an IP, domain, email address or query name, the names a mail
//! server would query, what each answers, and which entries (file:line) make it so.

use std::fmt::{self, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;

use crate::dns::answer::{self, Answer, RData, rcode, rtype};
use crate::dns::query::Question;
use crate::load::{DirectoryLoad, KeptEntries};
use crate::store::Snapshot;
use crate::time::unix_now;
use crate::zone::Zone;
use crate::zone::acl::AclAction;
use crate::zone::email::{DigestKind, address_forms, normalise, plain_names, split_address};
use crate::zone::name::{Name, NameBuf};
use crate::zone::parse::{Entry, EntryKey};

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("`{0}` is not an IP address, domain name or email address")]
    BadQuery(String),
}

/// What a lookup found, printable.
pub(crate) struct Report {
    text: String,
    listed: bool,
}

impl Report {
    pub(crate) fn listed(&self) -> bool {
        self.listed
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// One query name to try, and how it relates to the input.
struct Candidate {
    zone: Arc<Zone>,
    qname: Name,
    how: String,
    /// What the entries should match: the IP, the relative name, or a digest.
    probe: Probe,
}

enum Probe {
    Ip(IpAddr),
    Name(Name),
    Address(Name),
    Digest(DigestKind, Vec<u8>),
}

/// What a lookup found, as data: `ward lookup` prints it, the web page and its JSON
/// show it. Zones come in the snapshot's order, each with the query names a mail
/// server would ask and the entries behind the answers.
#[derive(Debug, Clone)]
pub(crate) struct Lookup {
    pub(crate) input: String,
    pub(crate) zones: Vec<ZoneLookup>,
}

/// One zone's answer for the input.
#[derive(Debug, Clone)]
pub(crate) struct ZoneLookup {
    pub(crate) zone: Name,
    /// Some query name answers A or TXT records.
    pub(crate) listed: bool,
    pub(crate) queries: Vec<QueryAnswer>,
    /// The entries (file, entry) that match the input, when the caller has them.
    pub(crate) entries: Vec<(Arc<Path>, Entry)>,
}

/// What one query name answers.
#[derive(Debug, Clone)]
pub(crate) struct QueryAnswer {
    /// The name a mail server asks, without the final dot.
    pub(crate) qname: Name,
    /// How the name derives from the input (`sha1 of …`); empty for the plain form.
    pub(crate) how: String,
    /// Return codes and their TTLs.
    pub(crate) a: Vec<(Ipv4Addr, u32)>,
    /// TXT texts as a client receives them (`$` filled in).
    pub(crate) txt: Vec<String>,
    pub(crate) nxdomain: bool,
    pub(crate) refused: bool,
    /// In a zone with access keys, which key the name uses and what it gets. For
    /// `ward lookup` only: keys are secrets, never shown on the web page.
    pub(crate) key: Option<String>,
}

impl Lookup {
    pub(crate) fn listed(&self) -> bool {
        self.zones.iter().any(|z| z.listed)
    }
}

/// Entries as written, per zone: what [`lookup`] matches against.
pub(crate) type EntriesOf<'e> = &'e dyn Fn(&Name) -> &'e [(Arc<Path>, Vec<Entry>)];

/// Whether a lookup may use access keys: `ward lookup` (the operator) may; the public
/// page may not (a name that names a key is not looked up, and keys are never shown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keys {
    Use,
    Never,
}

/// Looks `input` up in `snapshot` at `now`: every query name a mail server would ask,
/// what it answers, and the entries of `entries` behind it.
pub(crate) fn lookup(
    input: &str,
    snapshot: &Snapshot,
    entries: EntriesOf<'_>,
    now: i64,
    keys: Keys,
) -> Result<Lookup, LookupError> {
    let mut candidates = candidates(input.trim(), snapshot)?;
    if keys == Keys::Never {
        candidates.retain(|c| !names_a_key(&c.zone, &c.qname));
    }
    let mut zones = Vec::new();
    for group in candidates.chunk_by(|a, b| Arc::ptr_eq(&a.zone, &b.zone)) {
        let zone = &group[0].zone;
        let queries: Vec<QueryAnswer> = group
            .iter()
            .map(|c| query_answer(snapshot, c, now))
            .collect();
        let listed = queries.iter().any(|q| !q.a.is_empty() || !q.txt.is_empty());
        let mut matched: Vec<(Arc<Path>, Entry)> = Vec::new();
        for (file, file_entries) in entries(&zone.name) {
            let in_file: Vec<&Entry> = file_entries
                .iter()
                .filter(|entry| group.iter().any(|c| matches(&entry.key, &c.probe)))
                .collect();
            let probes: Vec<&Probe> = group.iter().map(|c| &c.probe).collect();
            for entry in deciding(&in_file, &probes) {
                if !matched
                    .iter()
                    .any(|(f, e)| f == file && e.line == entry.line)
                {
                    matched.push((file.clone(), entry.clone()));
                }
            }
        }
        zones.push(ZoneLookup {
            zone: zone.name.clone(),
            listed,
            queries,
            entries: matched,
        });
    }
    Ok(Lookup {
        input: input.trim().to_string(),
        zones,
    })
}

fn query_answer(snapshot: &Snapshot, candidate: &Candidate, now: i64) -> QueryAnswer {
    let a = resolve(snapshot, &candidate.qname, rtype::A, now);
    let txt = resolve(snapshot, &candidate.qname, rtype::TXT, now);
    let buf = NameBuf::from_name(&candidate.qname);
    QueryAnswer {
        qname: candidate.qname.clone(),
        how: candidate.how.clone(),
        a: a.answers
            .iter()
            .filter_map(|rr| match rr.data {
                RData::A(addr) => Some((Ipv4Addr::from(addr), rr.ttl)),
                _ => None,
            })
            .collect(),
        txt: txt
            .answers
            .iter()
            .filter_map(|rr| match &rr.data {
                RData::Txt(text) => {
                    let mut rendered = Vec::new();
                    answer::render_txt(text, buf.view(), &mut rendered);
                    Some(String::from_utf8_lossy(&rendered).into_owned())
                }
                _ => None,
            })
            .collect(),
        nxdomain: a.answers.is_empty() && a.rcode == rcode::NXDOMAIN,
        refused: a.rcode == rcode::REFUSED,
        key: key_used(&candidate.zone, &candidate.qname),
    }
}

/// Whether `qname` names one of `zone`'s access keys.
fn names_a_key(zone: &Zone, qname: &Name) -> bool {
    key_of(zone, qname).is_some_and(|(key, _)| key.is_some())
}

/// In a zone with access keys, the key a query for `qname` names (`None`: none) and
/// what the query gets; `None` in a zone without keys.
fn key_of<'z>(zone: &'z Zone, qname: &Name) -> Option<(Option<String>, &'z AclAction)> {
    let keys = zone.access.as_ref()?.keys.as_ref()?;
    let relative = qname.strip_suffix(&zone.name)?;
    let label = (relative.label_count() >= 2)
        .then(|| relative.labels().last())
        .flatten();
    Some(match label.and_then(|l| keys.get(l).map(|k| (l, k))) {
        Some((label, key)) => (
            Some(String::from_utf8_lossy(label).into_owned()),
            &key.action,
        ),
        None => (None, &keys.default),
    })
}

/// Which access key a query for `qname` uses in `zone`, and what it gets, in words.
fn key_used(zone: &Zone, qname: &Name) -> Option<String> {
    let (key, action) = key_of(zone, qname)?;
    let action = describe_action(action);
    Some(match key {
        Some(key) => format!("access key {key}: {action}"),
        None => format!("no access key: {action}"),
    })
}

fn describe_action(action: &AclAction) -> String {
    match action {
        AclAction::Pass => "pass".to_string(),
        AclAction::Ignore => "ignore (no reply)".to_string(),
        AclAction::Refuse => "refuse".to_string(),
        AclAction::Empty => "empty (nothing listed)".to_string(),
        AclAction::Answer(value, _) => {
            format!("always listed {}", Ipv4Addr::from(value.a))
        }
    }
}

/// `ward lookup`: loads with entries kept, looks up, and prints.
pub(crate) fn explain(input: &str, mut load: DirectoryLoad) -> Result<Report, LookupError> {
    let kept: Vec<(Name, KeptEntries)> = load
        .zones
        .iter_mut()
        .map(|z| (z.name.clone(), std::mem::take(&mut z.kept)))
        .collect();
    let snapshot = load.take_snapshot();
    let entries = |zone: &Name| {
        kept.iter()
            .find(|(name, _)| name == zone)
            .map(|(_, files)| files.as_slice())
            .unwrap_or_default()
    };
    let now = unix_now();
    let found = lookup(input, &snapshot, &entries, now, Keys::Use)?;
    Ok(Report {
        text: render(&found, now),
        listed: found.listed(),
    })
}

/// The text `ward lookup` prints.
fn render(found: &Lookup, now: i64) -> String {
    let mut text = format!("{}\n", found.input);
    if found.zones.is_empty() {
        let _ = writeln!(
            text,
            "  no zone served from this directory lists this kind of name"
        );
    }
    let width = found
        .zones
        .iter()
        .flat_map(|z| &z.queries)
        .map(|q| q.qname.to_string().len() + 1)
        .max()
        .unwrap_or(0);
    for zone in &found.zones {
        let verdict = if zone.listed { "listed" } else { "not listed" };
        let _ = writeln!(text, "  {}: {verdict}", zone.zone);
        let mut txt_shown = false;
        for query in &zone.queries {
            let name = format!("{}.", query.qname);
            let status = if !query.a.is_empty() {
                query
                    .a
                    .iter()
                    .map(|(addr, ttl)| format!("A {addr} (ttl {ttl})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            } else if query.nxdomain {
                "NXDOMAIN".to_string()
            } else if query.refused {
                "REFUSED".to_string()
            } else {
                "no A record".to_string()
            };
            let how = [query.how.as_str(), query.key.as_deref().unwrap_or_default()]
                .iter()
                .filter(|part| !part.is_empty())
                .map(|part| format!("  {part}"))
                .collect::<String>();
            let _ = writeln!(text, "    {name:<width$} {status}{how}");
            if !txt_shown && !query.txt.is_empty() {
                for txt in &query.txt {
                    let _ = writeln!(text, "      TXT \"{txt}\"");
                }
                txt_shown = true;
            }
        }
        let mut lines: Vec<String> = Vec::new();
        for (file, entry) in &zone.entries {
            let line = describe_entry(file, entry, now);
            if !lines.contains(&line) {
                lines.push(line);
            }
        }
        if !lines.is_empty() {
            let _ = writeln!(text, "    entries:");
            for line in lines {
                let _ = writeln!(text, "      {line}");
            }
        }
    }
    text
}

fn resolve<'s>(snapshot: &'s Snapshot, qname: &Name, qtype: u16, now: i64) -> Answer<'s> {
    let question = Question {
        name: NameBuf::from_name(qname),
        qtype,
        qclass: answer::CLASS_IN,
    };
    answer::resolve(snapshot, &question, IpAddr::V4(Ipv4Addr::LOCALHOST), now)
}

fn describe_entry(file: &Path, entry: &Entry, now: i64) -> String {
    let mut line = format!("{}:{}  {}", file.display(), entry.line, entry.text);
    if entry.excluded {
        line.push_str("  (exclusion)");
    }
    if let Some(expires) = entry.expires {
        if expires <= now {
            line.push_str("  (expired)");
        } else {
            let _ = write!(line, "  (expires in {})", human_duration(expires - now));
        }
    }
    let params = &entry.params;
    if let Some(from) = params.active_from().filter(|&from| from > now) {
        let _ = write!(
            line,
            "  (cooling down: answers in {})",
            human_duration(from - now)
        );
    }
    if let Some(delay) = params.tarpit() {
        let _ = write!(line, "  (tarpit: replies held {delay}s)");
    }
    if params.require_key {
        line.push_str("  (answers queries with an access key only)");
    }
    if params.nodelay {
        line.push_str("  (no cooldown or delay for queries with an access key)");
    }
    line
}

fn human_duration(seconds: i64) -> String {
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

fn zone_has_ips(zone: &Zone) -> bool {
    zone.datasets
        .iter()
        .map(AsRef::as_ref)
        .chain(&zone.test_points)
        .any(|d| !d.ip4.is_empty() || !d.ip6.is_empty())
}

fn zone_has_names(zone: &Zone) -> bool {
    zone.datasets
        .iter()
        .map(AsRef::as_ref)
        .chain(&zone.test_points)
        .any(|d| !d.names.is_empty() || !d.digests.is_empty())
}

fn candidates(input: &str, snapshot: &Snapshot) -> Result<Vec<Candidate>, LookupError> {
    let mut out = Vec::new();
    let under = |relative: &Name, zone: &Arc<Zone>| relative.join(&zone.name).ok();
    if let Ok(ip) = input.parse::<IpAddr>() {
        let relative = reverse_name(ip);
        for zone in snapshot.zones().iter().filter(|z| zone_has_ips(z)) {
            if let Some(qname) = under(&relative, zone) {
                out.push(Candidate {
                    zone: zone.clone(),
                    qname,
                    how: String::new(),
                    probe: Probe::Ip(ip),
                });
            }
        }
        return Ok(out);
    }
    if input.contains('@') {
        if split_address(input).is_none() {
            return Err(LookupError::BadQuery(input.to_string()));
        }
        let plains = plain_names(input, true);
        if plains.is_empty() {
            return Err(LookupError::BadQuery(input.to_string()));
        }
        let normalised = normalise(input).unwrap_or_else(|| input.to_ascii_lowercase());
        for zone in snapshot.zones().iter().filter(|z| zone_has_names(z)) {
            for (i, plain) in plains.iter().enumerate() {
                let how = match (i, plain.local_is_one_label) {
                    (0, _) => "plain",
                    (_, true) => "plain, normalised",
                    (_, false) => "plain, local part split at dots (rspamd)",
                };
                if let Some(qname) = under(&plain.name, zone) {
                    out.push(Candidate {
                        zone: zone.clone(),
                        qname,
                        how: how.to_string(),
                        probe: Probe::Address(plain.name.clone()),
                    });
                }
            }
            for kind in DigestKind::ALL {
                let digest = kind.digest(normalised.as_bytes());
                let hex_label = kind.query_label(&digest);
                let sha256_cut = if kind == DigestKind::Sha256 {
                    " (first 32 digits)"
                } else {
                    ""
                };
                for (suffix, style) in [("", ""), ("._email", ", _email")] {
                    let Ok(relative) = Name::parse(&format!("{hex_label}{suffix}")) else {
                        continue;
                    };
                    if let Some(qname) = under(&relative, zone) {
                        out.push(Candidate {
                            zone: zone.clone(),
                            qname,
                            how: format!("{} of {normalised}{sha256_cut}{style}", kind.name()),
                            probe: Probe::Digest(kind, digest.to_vec()),
                        });
                    }
                }
            }
        }
        return Ok(out);
    }
    let name = Name::parse(input.trim_end_matches('.'))
        .map_err(|_| LookupError::BadQuery(input.to_string()))?;
    if name.is_root() {
        return Err(LookupError::BadQuery(input.to_string()));
    }
    // A full query name under a served zone: look it up as is.
    if let Some(zone) = snapshot
        .zones()
        .iter()
        .find(|z| name.ends_with(&z.name) && name != z.name)
    {
        let mut relative = name.strip_suffix(&zone.name).unwrap_or_default();
        // A known access key's label is not part of the name the entries list.
        let keys = zone.access.as_ref().and_then(|a| a.keys.as_ref());
        let labels: Vec<&[u8]> = relative.labels().collect();
        if let (Some(keys), [inner @ .., key]) = (keys, labels.as_slice())
            && !inner.is_empty()
            && keys.get(key).is_some()
        {
            relative = Name::from_labels(inner.iter().copied()).unwrap_or_default();
        }
        out.push(Candidate {
            zone: zone.clone(),
            qname: name.clone(),
            how: String::new(),
            probe: Probe::Name(relative),
        });
        return Ok(out);
    }
    for zone in snapshot.zones().iter().filter(|z| zone_has_names(z)) {
        if let Some(qname) = under(&name, zone) {
            out.push(Candidate {
                zone: zone.clone(),
                qname,
                how: String::new(),
                probe: Probe::Name(name.clone()),
            });
        }
    }
    Ok(out)
}

/// `7.113.0.203` for 203.0.113.7; 32 nibbles for IPv6.
pub(crate) fn reverse_name(ip: IpAddr) -> Name {
    let labels: Vec<String> = match ip {
        IpAddr::V4(v4) => v4.octets().iter().rev().map(u8::to_string).collect(),
        IpAddr::V6(v6) => {
            let value = u128::from(v6);
            (0..32)
                .map(|i| format!("{:x}", (value >> (4 * i)) & 0xf))
                .collect()
        }
    };
    Name::from_labels(labels.iter().map(|l| l.as_bytes())).unwrap_or_default()
}

/// Of one file's entries that cover a name, those that decide its answer, as the
/// name index decides: an entry for the name itself (or an address written as it),
/// else the closest wildcard. Entries for IPs and digests are all kept.
fn deciding<'e>(covering: &[&'e Entry], probes: &[&Probe]) -> Vec<&'e Entry> {
    let exact = |entry: &&&Entry| match &entry.key {
        EntryKey::Name {
            name, exact: true, ..
        } => probes
            .iter()
            .any(|p| matches!(p, Probe::Name(q) if q == name)),
        EntryKey::Address { .. } | EntryKey::Record { .. } => true,
        _ => false,
    };
    // A name entry that covers the probe only as a wildcard, and how deep it is.
    let wildcard_depth = |entry: &Entry| match &entry.key {
        EntryKey::Name { name, .. } if !exact(&&entry) => Some(name.label_count()),
        _ => None,
    };
    if covering.iter().any(|e| exact(&e)) {
        return covering
            .iter()
            .filter(|e| exact(e) || wildcard_depth(e).is_none())
            .copied()
            .collect();
    }
    let closest = covering.iter().filter_map(|e| wildcard_depth(e)).max();
    covering
        .iter()
        .filter(|e| wildcard_depth(e).is_none_or(|depth| Some(depth) == closest))
        .copied()
        .collect()
}

fn matches(key: &EntryKey, probe: &Probe) -> bool {
    match (key, probe) {
        (EntryKey::Ip4 { first, last }, Probe::Ip(ip)) => {
            let v4 = match ip {
                IpAddr::V4(v4) => Some(u32::from(*v4)),
                IpAddr::V6(v6) => crate::zone::ip_name::embedded_ip4(u128::from(*v6)),
            };
            v4.is_some_and(|a| (*first..=*last).contains(&a))
        }
        (EntryKey::Ip6 { first, last }, Probe::Ip(IpAddr::V6(v6))) => {
            (*first..=*last).contains(&u128::from(*v6))
        }
        (EntryKey::Name { name, exact, wild }, Probe::Name(query)) => {
            (*exact && name == query) || (*wild && query != name && query.ends_with(name))
        }
        (EntryKey::Address { address, .. }, Probe::Address(query) | Probe::Name(query)) => {
            plain_names(address, true).iter().any(|p| p.name == *query)
        }
        (EntryKey::Address { address, .. }, Probe::Digest(kind, digest)) => {
            address_forms(address, true)
                .iter()
                .any(|form| kind.digest(form.as_bytes()).as_slice() == digest.as_slice())
        }
        (EntryKey::Digest { kind, digest }, Probe::Digest(probe_kind, probe_digest)) => {
            kind == probe_kind && digest == probe_digest
        }
        (EntryKey::Record { name }, Probe::Name(query)) => name == query,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    #[test]
    fn reverse_names() {
        assert_eq!(
            reverse_name("203.0.113.7".parse().unwrap()).to_string(),
            "7.113.0.203"
        );
        let v6 = reverse_name("2001:db8::1".parse::<Ipv6Addr>().unwrap().into());
        assert_eq!(v6.label_count(), 32);
        assert!(
            v6.to_string().starts_with("1.0.0.0.") && v6.to_string().ends_with(".8.b.d.0.1.0.0.2")
        );
    }
}
