//! `ward check`: beyond parse errors, what a list operator should hear about before
//! mail servers do.

use std::collections::HashSet;
use std::fmt;

use crate::load::DirectoryLoad;
use crate::zone::name::{Name, NameBuf};
use crate::zone::{Asking, FoundList, IpName, Presence, Zone};

/// Postfix cuts DNSBL TXT replies at 500 characters; leave room for the subject.
pub(crate) const MAX_REASON_BYTES: usize = 450;

pub(crate) struct ZoneReport {
    pub(crate) name: Name,
    /// Errors in the zone's files: `ward serve` would not load it.
    pub(crate) errors: usize,
    pub(crate) entries: usize,
    pub(crate) files: usize,
    pub(crate) serial: Option<u32>,
    /// Records a secondary would hold (AXFR), SOA included.
    pub(crate) records: Option<usize>,
    pub(crate) notes: Vec<String>,
}

/// Past this many records, and this many per entry, an expansion is worth a warning:
/// every secondary holds each record.
const EXPLOSION_RECORDS: usize = 1_000_000;
const EXPLOSION_PER_ENTRY: usize = 16;

impl fmt::Display for ZoneReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.errors > 0 {
            write!(
                f,
                "{}: {} error(s), `ward serve` would not load this zone",
                self.name, self.errors
            )?;
        } else {
            write!(
                f,
                "{}: {} entries in {} file(s), serial {}",
                self.name,
                self.entries,
                self.files,
                self.serial.unwrap_or_default()
            )?;
            if let Some(records) = self.records {
                write!(f, ", {records} records to transfer")?;
            }
        }
        for note in &self.notes {
            write!(f, "\n  warning: {note}")?;
        }
        Ok(())
    }
}

/// One report per zone; `transferred` names the zones secondaries may transfer, which
/// get notes on what a secondary cannot answer as ward does.
pub(crate) fn zone_reports(load: &DirectoryLoad, transferred: &HashSet<String>) -> Vec<ZoneReport> {
    load.zones
        .iter()
        .zip(&load.scan.zones)
        .map(|(zone_load, source)| {
            let mut notes = Vec::new();
            if zone_load.expired > 0 {
                notes.push(format!(
                    "{} entr{} already expired (not served; remove them)",
                    zone_load.expired,
                    if zone_load.expired == 1 {
                        "y has"
                    } else {
                        "ies have"
                    }
                ));
            }
            let mut records = None;
            if let Some(zone) = &zone_load.zone {
                notes.extend(zone_notes(zone));
                notes.extend(ttl_disagreement(zone));
                let count = crate::records::records(zone, zone.built_at).count() + 1;
                if count > EXPLOSION_RECORDS && count > EXPLOSION_PER_ENTRY * zone_load.entries.max(1) {
                    notes.push(format!(
                        "{count} records from {} entries: a secondary holds every one (large ranges with exclusions or more specific entries expand most)",
                        zone_load.entries
                    ));
                }
                records = Some(count);
                if transferred.contains(&zone.name.to_string()) {
                    notes.extend(transfer_notes(zone));
                }
                if zone_load.entries == 0 {
                    notes.push(
                        "this zone lists nothing (no entries): is a file missing or empty?"
                            .to_string(),
                    );
                }
            }
            ZoneReport {
                name: zone_load.name.clone(),
                errors: zone_load.diagnostics.errors.len(),
                entries: zone_load.entries,
                files: source.files.len(),
                serial: zone_load.zone.as_ref().map(|z| z.soa.serial),
                records,
                notes,
            }
        })
        .collect()
}

/// Files of one zone that list the same thing with different TTLs. ward answers such a
/// name with the lowest TTL per RRset (RFC 2181 §5.2), as a secondary does from the
/// records; the operator probably meant one TTL.
fn ttl_disagreement(zone: &Zone) -> Option<String> {
    for (_, group) in crate::records::groups(zone) {
        for (i, a) in group.iter().enumerate() {
            for b in group.iter().skip(i + 1).filter(|b| b.ttl != a.ttl) {
                let Some(shared) = shared_listing(a, b) else {
                    continue;
                };
                let file = |d: &crate::zone::Dataset| {
                    d.origin
                        .file
                        .file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
                };
                return Some(format!(
                    "{shared} is listed by {} (TTL {}) and {} (TTL {}): each answer takes the lowest TTL of its records; give the files one $TTL",
                    file(a),
                    a.ttl,
                    file(b),
                    b.ttl
                ));
            }
        }
    }
    None
}

/// Something both datasets list, if any: an address of overlapping ranges, or a name.
fn shared_listing(a: &crate::zone::Dataset, b: &crate::zone::Dataset) -> Option<String> {
    for (first, last, _) in a.ip4.intervals() {
        if b.ip4.any_in(first, last) {
            let overlap = b
                .ip4
                .intervals()
                .find(|&(f, l, _)| f <= last && l >= first)
                .map_or(first, |(f, _, _)| f.max(first));
            return Some(std::net::Ipv4Addr::from(overlap).to_string());
        }
    }
    for (first, last, _) in a.ip6.intervals() {
        if b.ip6.any_in(first, last) {
            let overlap = b
                .ip6
                .intervals()
                .find(|&(f, l, _)| f <= last && l >= first)
                .map_or(first, |(f, _, _)| f.max(first));
            return Some(std::net::Ipv6Addr::from(overlap).to_string());
        }
    }
    shared_name(a, b).or_else(|| shared_name(b, a))
}

/// A name of `a`'s that `b` lists too, or under which both list every name.
fn shared_name(a: &crate::zone::Dataset, b: &crate::zone::Dataset) -> Option<String> {
    a.names.export_names().find_map(|wire| {
        let name = NameBuf::from_name(&Name::from_lower_wire(wire));
        let name_text = Name::from_lower_wire(wire).to_string();
        if a.names.listed_at(name.view()).is_some() && b.names.listed_at(name.view()).is_some() {
            return Some(name_text);
        }
        let below = a.names.below(name.view()).is_some() && b.names.below(name.view()).is_some();
        below.then(|| format!("*.{name_text}"))
    })
}

/// What secondaries of this zone will answer differently from ward.
fn transfer_notes(zone: &Zone) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(access) = &zone.access {
        if access.acl.is_some() {
            notes.push(
                "its answers depend on the client (acl or allow): ward refuses to transfer it"
                    .to_string(),
            );
        }
        if access.keys.is_some() {
            notes.push(
                "its answers depend on access keys (aclkey): ward refuses to transfer it"
                    .to_string(),
            );
        }
    }
    if zone.ns.is_empty() {
        notes.push(format!(
            "no $NS (nor `ns` in ward.toml): secondaries get NS {}, the SOA's primary; name your servers with $NS",
            zone.soa.mname
        ));
    }
    let range_with_subject = zone.datasets.iter().any(|dataset| {
        let ranges = dataset
            .ip4
            .intervals()
            .any(|(first, last, _)| first != last)
            || dataset
                .ip6
                .intervals()
                .any(|(first, last, _)| first != last);
        ranges
            && dataset
                .values
                .values()
                .iter()
                .any(|value| dataset.values.txt(value).is_some_and(|t| t.has_subject()))
    });
    let tarpit = zone.datasets.iter().any(|dataset| {
        dataset
            .values
            .values()
            .iter()
            .any(|value| value.params.tarpit().is_some())
    });
    if tarpit {
        notes.push(
            "entries with a tarpit (delay= without ts=): secondaries answer them at once"
                .to_string(),
        );
    }
    let key_required = zone.datasets.iter().any(|dataset| {
        dataset
            .values
            .values()
            .iter()
            .any(|value| value.params.require_key)
    });
    if key_required {
        notes.push(
            "entries with key=require: secondaries never answer them (they have no access keys)"
                .to_string(),
        );
    }
    if range_with_subject {
        notes.push(
            "a range's TXT has `$`: secondaries answer every address of the range with its first address there".to_string(),
        );
    }
    notes
}

/// `::FFFF:7F00:1` as a query name: what RFC 5782 says an IPv6 list must not list.
const IPV6_NOT_LISTED: &str = "1.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0";

fn zone_notes(zone: &Zone) -> Vec<String> {
    let mut notes = Vec::new();
    for (query, what) in [
        ("1.0.0.127", "127.0.0.1"),
        (IPV6_NOT_LISTED, "::FFFF:7F00:1 (IPv6)"),
        ("invalid", "`invalid`"),
    ] {
        let Ok(name) = Name::parse(query) else {
            continue;
        };
        let buf = NameBuf::from_name(&name);
        let mut found = FoundList::new();
        let ip = IpName::classify(buf.view());
        if zone.lookup(buf.view(), ip, &mut Asking::at(0), &mut found) == Presence::Listed {
            notes.push(format!(
                "{what} is listed: RFC 5782 says it must not be, and rspamd disables a list that lists it"
            ));
        }
    }
    for dataset in &zone.datasets {
        let file = dataset.origin.file.display();
        // The addresses covered, counted in /32s and /64s: half the space or more is
        // "every address" in all but name (0.0.0.0/0, ::/0, a typo'd prefix length).
        let v4: u64 = dataset
            .ip4
            .intervals()
            .map(|(first, last, _)| u64::from(last - first) + 1)
            .sum();
        if v4 >= 1 << 31 {
            notes.push(format!(
                "{file} lists {}% of all IPv4 addresses (0.0.0.0/0?): every client would be listed",
                (v4 * 100) >> 32
            ));
        }
        let v6: u128 = dataset
            .ip6
            .intervals()
            .map(|(first, last, _)| ((last - first) >> 64) + 1)
            .fold(0, u128::saturating_add);
        if v6 >= 1 << 63 {
            notes.push(format!(
                "{file} lists {}% of all IPv6 addresses (::/0?): every client would be listed",
                (v6 * 100) >> 64
            ));
        }
        for value in dataset.values.values() {
            if value.a == [127, 0, 0, 1] {
                notes.push(format!(
                    "{}: return code 127.0.0.1 means \"not listed\" to some clients (RFC 5782)",
                    dataset.origin.file.display()
                ));
            }
            if let Some(template) = dataset.values.txt(value)
                && template.rendered_len(39) > MAX_REASON_BYTES
            {
                notes.push(format!(
                    "{}: a TXT text of {} bytes: Postfix shows at most 500 characters",
                    dataset.origin.file.display(),
                    template.rendered_len(39)
                ));
            }
        }
    }
    notes.sort();
    notes.dedup();
    notes
}
