//! `ward export`: a zone written out, as a BIND zone file (the records a secondary
//! serves, which `kzonecheck` and `nsd-checkzone` accept) or as rbldnsd data (for
//! sites that keep rbldnsd mirrors).

use std::io::{self, Write};
use std::net::{Ipv4Addr, Ipv6Addr};

use super::{Kind, Rdata, Rr, groups, part, records, test_point_records};
use crate::zone::Zone;
use crate::zone::name::{Labels, Name, write_presentation};

/// What `ward export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// A BIND zone file: the records a secondary serves.
    Bind,
    /// rbldnsd data, for sites that keep rbldnsd mirrors.
    Rbldnsd,
}

/// Writes `zone` in `format`.
pub(crate) fn write(zone: &Zone, format: Format, now: i64, out: &mut impl Write) -> io::Result<()> {
    match format {
        Format::Bind => write_bind(zone, now, out),
        Format::Rbldnsd => write_rbldnsd(zone, now, out),
    }
}

/// Writes `zone` as a zone file: `$ORIGIN`, the SOA, then every record (owners relative
/// to the origin, `@` for the apex).
pub(crate) fn write_bind(zone: &Zone, now: i64, out: &mut impl Write) -> io::Result<()> {
    let soa = &zone.soa;
    writeln!(
        out,
        "; zone {} exported by ward (serial {})",
        zone.name, soa.serial
    )?;
    writeln!(out, "$ORIGIN {}.", zone.name)?;
    writeln!(
        out,
        "@\t{}\tIN\tSOA\t{}. {}. {} {} {} {} {}",
        soa.ttl, soa.mname, soa.rname, soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum
    )?;
    for rr in records(zone, now) {
        write_record(&rr, out)?;
    }
    Ok(())
}

fn owner_text(owner: &Name) -> String {
    if owner.is_root() {
        return "@".to_string();
    }
    let mut text = String::new();
    let _ = write_presentation(owner.wire(), &mut text);
    text
}

/// One record as a zone-file line.
pub(crate) fn write_record(rr: &Rr, out: &mut impl Write) -> io::Result<()> {
    let owner = owner_text(&rr.owner);
    let ttl = rr.ttl;
    match &rr.data {
        Rdata::A(a) => writeln!(out, "{owner}\t{ttl}\tIN\tA\t{}", Ipv4Addr::from(*a)),
        Rdata::Ns(name) => writeln!(out, "{owner}\t{ttl}\tIN\tNS\t{name}."),
        Rdata::Mx(preference, host) => {
            writeln!(out, "{owner}\t{ttl}\tIN\tMX\t{preference} {host}.")
        }
        Rdata::Txt(text) => writeln!(out, "{owner}\t{ttl}\tIN\tTXT\t{}", txt_strings(text)),
        Rdata::Placeholder => writeln!(out, "{owner}\t{ttl}\tIN\tHINFO\t\"ward\" \"not listed\""),
    }
}

/// A TXT text as quoted character-strings of at most 255 bytes each.
fn txt_strings(text: &[u8]) -> String {
    if text.is_empty() {
        return "\"\"".to_string();
    }
    let mut out = String::new();
    for (i, chunk) in text.chunks(255).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push('"');
        for &byte in chunk {
            match byte {
                b'"' | b'\\' => {
                    out.push('\\');
                    out.push(char::from(byte));
                }
                0x20..=0x7e => out.push(char::from(byte)),
                _ => out.push_str(&format!("\\{byte:03}")),
            }
        }
        out.push('"');
    }
    out
}

/// Writes the zone's data in rbldnsd's format: one `combined` file, a section per kind
/// of data and place it is attached (`$DATASET ip4set @`, `… dnset @`, …), every
/// entry with its `:A:TXT` (`$` already substituted, as in the zone file).
pub(crate) fn write_rbldnsd(zone: &Zone, now: i64, out: &mut impl Write) -> io::Result<()> {
    let soa = &zone.soa;
    writeln!(
        out,
        "# zone {} exported by ward for rbldnsd (serial {}): a combined dataset",
        zone.name, soa.serial
    )?;
    writeln!(
        out,
        "$SOA {} {}. {}. {} {} {} {} {}",
        soa.ttl, soa.mname, soa.rname, soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum
    )?;
    let names: Vec<String> = super::name_servers(zone)
        .iter()
        .map(|n| format!("{n}."))
        .collect();
    writeln!(out, "$NS {} {}", zone.ns_ttl, names.join(" "))?;
    for (attach, group) in groups(zone) {
        let at = if attach.is_root() {
            "@".to_string()
        } else {
            attach.to_string()
        };
        let depth = attach.label_count();
        section(
            out,
            "ip4set",
            &at,
            part(Kind::Ip4, &group, &attach, now),
            |owner| ip_key(owner, depth, false),
        )?;
        section(
            out,
            "ip6trie",
            &at,
            part(Kind::Ip6, &group, &attach, now),
            |owner| ip_key(owner, depth, true),
        )?;
        let names = super::merge(vec![
            part(Kind::Names, &group, &attach, now),
            part(Kind::Digests, &group, &attach, now),
        ]);
        section(out, "dnset", &at, Box::new(names), |owner| {
            Some(relative(owner, depth))
        })?;
        let generic: Vec<Rr> = part(Kind::Generic, &group, &attach, now).collect();
        if !generic.is_empty() {
            writeln!(out, "$DATASET generic {at}")?;
            for rr in &generic {
                let name = relative(&rr.owner, depth);
                let name = if name.is_empty() {
                    "@".to_string()
                } else {
                    name
                };
                match &rr.data {
                    Rdata::A(a) => writeln!(out, "{name} {} A {}", rr.ttl, Ipv4Addr::from(*a))?,
                    Rdata::Txt(t) => writeln!(
                        out,
                        "{name} {} TXT \"{}\"",
                        rr.ttl,
                        String::from_utf8_lossy(t)
                    )?,
                    Rdata::Mx(p, host) => writeln!(out, "{name} {} MX {p} {host}.", rr.ttl)?,
                    _ => {}
                }
            }
        }
    }
    if let Some(points) = &zone.test_points {
        let records: Vec<Rr> = test_point_records(zone, points, now).collect();
        let (ip, names): (Vec<Rr>, Vec<Rr>) = records
            .into_iter()
            .partition(|rr| rr.owner.label_count() == 4);
        section(out, "ip4set", "@", Box::new(ip.into_iter()), |owner| {
            ip_key(owner, 0, false)
        })?;
        section(out, "dnset", "@", Box::new(names.into_iter()), |owner| {
            (owner.label_count() < 32).then(|| relative(owner, 0))
        })?;
    }
    Ok(())
}

/// Writes one `$DATASET` section: per owner, its entries.
fn section(
    out: &mut impl Write,
    kind: &str,
    at: &str,
    records: Box<dyn Iterator<Item = Rr> + '_>,
    key: impl Fn(&Name) -> Option<String>,
) -> io::Result<()> {
    let mut started = false;
    let mut records = records.peekable();
    while let Some(first) = records.next() {
        let owner = first.owner.clone();
        let mut set = vec![first];
        while records.peek().is_some_and(|rr| rr.owner == owner) {
            set.extend(records.next());
        }
        let Some(entry) = key(&owner) else { continue };
        if !started {
            writeln!(out, "$DATASET {kind} {at}")?;
            started = true;
        }
        if set.iter().any(|rr| rr.data == Rdata::Placeholder) {
            writeln!(out, "!{entry}")?;
            continue;
        }
        let a: Vec<[u8; 4]> = set
            .iter()
            .filter_map(|rr| match rr.data {
                Rdata::A(a) => Some(a),
                _ => None,
            })
            .collect();
        let txt: Vec<&[u8]> = set
            .iter()
            .filter_map(|rr| match &rr.data {
                Rdata::Txt(t) => Some(&t[..]),
                _ => None,
            })
            .collect();
        // One line per A value; the texts go on the first lines (rbldnsd answers the
        // union of the lines for one key).
        for i in 0..a.len().max(txt.len()).max(1) {
            let code = a
                .get(i)
                .or(a.first())
                .map_or("127.0.0.2".to_string(), |a| Ipv4Addr::from(*a).to_string());
            let text = txt.get(i).map(|t| rbldnsd_text(t)).unwrap_or_default();
            writeln!(out, "{entry} :{code}:{text}")?;
        }
    }
    Ok(())
}

/// A text as rbldnsd reads it back: `$` doubled (the substitution is already done).
fn rbldnsd_text(text: &[u8]) -> String {
    String::from_utf8_lossy(text).replace('$', "$$")
}

/// The name below the attach point, `depth` labels deep.
fn relative(owner: &Name, depth: usize) -> String {
    let labels: Vec<&[u8]> = Labels::of_wire(owner.wire()).collect();
    let keep = labels.len().saturating_sub(depth);
    labels[..keep]
        .iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect::<Vec<_>>()
        .join(".")
}

/// An IP owner (`*.c.b.a` or `d.c.b.a`, nibbles for IPv6) as the prefix it stands for.
fn ip_key(owner: &Name, depth: usize, v6: bool) -> Option<String> {
    let labels: Vec<&[u8]> = Labels::of_wire(owner.wire()).collect();
    let labels = &labels[..labels.len().saturating_sub(depth)];
    let (wild, units) = match labels.split_first() {
        Some((first, rest)) if *first == b"*" => (true, rest),
        _ => (false, labels),
    };
    let step = if v6 { 4 } else { 8 };
    let bits = if v6 { 128 } else { 32 };
    let mut addr: u128 = 0;
    for (level, unit) in units.iter().rev().enumerate() {
        let text = std::str::from_utf8(unit).ok()?;
        let value = u128::from_str_radix(text, if v6 { 16 } else { 10 }).ok()?;
        addr |= value << (bits - step * (level as u32 + 1));
    }
    let len = step * units.len() as u32;
    let _ = wild;
    Some(if v6 {
        format!("{}/{len}", Ipv6Addr::from(addr))
    } else {
        if len == 32 {
            Ipv4Addr::from(addr as u32).to_string()
        } else {
            format!("{}/{len}", Ipv4Addr::from(addr as u32))
        }
    })
}
