//! `ward lookup`: for an IP, domain, email address or query name, the names a mail
//! server would query, what each answers, and which entries (file:line) make it so.

use std::fmt::{self, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use crate::clock::unix_now;
use crate::dns::answer::{self, Answer, RData, rcode, rtype};
use crate::dns::query::Question;
use crate::load::{DirectoryLoad, KeptEntries};
use crate::store::Snapshot;
use crate::zone::Zone;
use crate::zone::email::{DigestKind, address_forms, normalise, plain_names, split_address};
use crate::zone::name::{Name, NameBuf};
use crate::zone::parse::{Entry, EntryKey};

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("`{0}` is not an IP address, domain name or email address")]
    BadQuery(String),
}

/// What a lookup found, printable.
pub struct Report {
    text: String,
    listed: bool,
}

impl Report {
    pub fn listed(&self) -> bool {
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

pub fn explain(input: &str, mut load: DirectoryLoad) -> Result<Report, LookupError> {
    let kept: Vec<(Name, KeptEntries)> = load
        .zones
        .iter_mut()
        .map(|z| (z.name.clone(), std::mem::take(&mut z.kept)))
        .collect();
    let snapshot = load.take_snapshot();
    let candidates = candidates(input.trim(), &snapshot)?;
    let mut text = format!("{}\n", input.trim());
    let mut listed = false;
    if candidates.is_empty() {
        let _ = writeln!(
            text,
            "  no zone served from this directory lists this kind of name"
        );
    }
    let now = unix_now();
    let width = candidates
        .iter()
        .map(|c| c.qname.to_string().len() + 1)
        .max()
        .unwrap_or(0);
    for group in candidates.chunk_by(|a, b| Arc::ptr_eq(&a.zone, &b.zone)) {
        let zone = &group[0].zone;
        let answers: Vec<(Option<Answer<'_>>, Option<Answer<'_>>)> = group
            .iter()
            .map(|c| {
                (
                    resolve(&snapshot, &c.qname, rtype::A, now),
                    resolve(&snapshot, &c.qname, rtype::TXT, now),
                )
            })
            .collect();
        let is_listed = |a: &Option<Answer<'_>>| a.as_ref().is_some_and(|a| !a.answers.is_empty());
        let zone_listed = answers.iter().any(|(a, t)| is_listed(a) || is_listed(t));
        listed |= zone_listed;
        let verdict = if zone_listed { "listed" } else { "not listed" };
        let _ = writeln!(text, "  {}: {verdict}", zone.name);
        let mut txt_shown = false;
        for (candidate, (a, txt)) in group.iter().zip(&answers) {
            let name = format!("{}.", candidate.qname);
            let status = match a {
                Some(a) if !a.answers.is_empty() => a
                    .answers
                    .iter()
                    .filter_map(|rr| match rr.data {
                        RData::A(addr) => {
                            Some(format!("A {} (ttl {})", Ipv4Addr::from(addr), rr.ttl))
                        }
                        _ => None,
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                Some(a) if a.rcode == rcode::NXDOMAIN => "NXDOMAIN".to_string(),
                _ => "no A record".to_string(),
            };
            let how = if candidate.how.is_empty() {
                String::new()
            } else {
                format!("  {}", candidate.how)
            };
            let _ = writeln!(text, "    {name:<width$} {status}{how}");
            if !txt_shown && let Some(txt) = txt.as_ref().filter(|t| !t.answers.is_empty()) {
                describe_txt(&mut text, txt, &candidate.qname);
                txt_shown = true;
            }
        }
        let entries = kept
            .iter()
            .find(|(name, _)| *name == zone.name)
            .map(|(_, files)| files.as_slice())
            .unwrap_or_default();
        let mut matched: Vec<String> = Vec::new();
        for (file, file_entries) in entries {
            for entry in file_entries {
                if group.iter().any(|c| matches(&entry.key, &c.probe)) {
                    let line = describe_entry(file, entry, now);
                    if !matched.contains(&line) {
                        matched.push(line);
                    }
                }
            }
        }
        if !matched.is_empty() {
            let _ = writeln!(text, "    entries:");
            for line in matched {
                let _ = writeln!(text, "      {line}");
            }
        }
    }
    Ok(Report { text, listed })
}

fn resolve<'s>(snapshot: &'s Snapshot, qname: &Name, qtype: u16, now: i64) -> Option<Answer<'s>> {
    let question = Question {
        name: NameBuf::from_name(qname),
        qtype,
        qclass: answer::CLASS_IN,
    };
    let answer = answer::resolve(snapshot, &question, IpAddr::V4(Ipv4Addr::LOCALHOST), now);
    // Records borrow only from the snapshot; rendering needs the question's name.
    Some(answer)
}

fn describe_txt(out: &mut String, answer: &Answer<'_>, qname: &Name) {
    let buf = NameBuf::from_name(qname);
    for rr in &answer.answers {
        if let RData::Txt(txt) = &rr.data {
            let mut rendered = Vec::new();
            answer::render_txt(txt, buf.view(), &mut rendered);
            let _ = writeln!(out, "      TXT \"{}\"", String::from_utf8_lossy(&rendered));
        }
    }
}

fn describe_entry(file: &std::path::Path, entry: &Entry, now: i64) -> String {
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
        .chain(&zone.test_points)
        .any(|d| !d.ip4.is_empty() || !d.ip6.is_empty())
}

fn zone_has_names(zone: &Zone) -> bool {
    zone.datasets
        .iter()
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
        let relative = name.strip_suffix(&zone.name).unwrap_or_default();
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
pub fn reverse_name(ip: IpAddr) -> Name {
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
        (EntryKey::Address { address, .. }, Probe::Address(query)) => {
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
