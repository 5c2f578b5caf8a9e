//! One dataset: what one data file (or one `combined` section) lists, frozen into the
//! indexes it needs, plus the builder the parsers fill.

use std::path::Path;
use std::sync::Arc;

use super::address::{DigestIndex, DigestIndexBuilder};
use super::generic::{GenericIndex, GenericMatch, Record};
use super::ip::{Duplicate, PrefixMap, PrefixMapBuilder, SamePrefix};
use super::name::{Name, NameRef};
use super::names::{NameIndex, NameIndexBuilder, NameMatch};
use super::parse::DatasetKind;
use super::reason::{Template, Vars};
use super::value::{ValueTable, ValueTableBuilder};

/// Where a dataset came from, for logs and `ward lookup`.
#[derive(Debug, Clone)]
pub struct Origin {
    pub file: Arc<Path>,
    pub kind: DatasetKind,
    /// The `:label` of a `combined` section.
    pub label: Option<Box<str>>,
}

pub struct Dataset {
    pub origin: Origin,
    /// Subzones this dataset answers under, relative to the zone apex (root = the
    /// apex); several for a `combined` section listing several.
    pub attach: Vec<Name>,
    pub ttl: u32,
    pub values: ValueTable,
    pub ip4: PrefixMap<u32>,
    pub ip6: PrefixMap<u128>,
    pub names: NameIndex,
    pub digests: DigestIndex,
    pub generic: GenericIndex,
    /// Entry lines loaded.
    pub entries: usize,
}

/// How a query name reads as IP addresses: as reversed decimal octets, and as reversed
/// hex nibbles. A name like `2.0.0.1` is both (an IPv4 address, and the top of an IPv6
/// prefix), so each reading is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IpName {
    pub v4: Option<IpRead<u32>>,
    pub v6: Option<IpRead<u128>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpRead<K> {
    /// A whole address.
    Address(K),
    /// Fewer labels than a whole address: the block of addresses below the name.
    Block(K, K),
}

impl IpName {
    pub fn classify(name: NameRef<'_>) -> IpName {
        IpName {
            v4: read_ip4(name),
            v6: read_ip6(name),
        }
    }

    /// A whole IPv4 or IPv6 address.
    pub fn is_address(&self) -> bool {
        matches!(self.v4, Some(IpRead::Address(_))) || matches!(self.v6, Some(IpRead::Address(_)))
    }
}

fn read_ip4(name: NameRef<'_>) -> Option<IpRead<u32>> {
    let labels = name.label_count();
    if !(1..=4).contains(&labels) {
        return None;
    }
    let mut addr = 0u32;
    for i in 0..labels {
        let octet = decimal_octet(name.label(labels - 1 - i))?;
        addr |= u32::from(octet) << (24 - 8 * i);
    }
    Some(if labels == 4 {
        IpRead::Address(addr)
    } else {
        IpRead::Block(addr, addr | (u32::MAX >> (8 * labels)))
    })
}

fn read_ip6(name: NameRef<'_>) -> Option<IpRead<u128>> {
    let labels = name.label_count();
    if !(1..=32).contains(&labels) {
        return None;
    }
    // Every label one hex digit: the wire form is exactly (1, digit) pairs, read straight
    // from the bytes (this runs for every query of an IPv6 list).
    let wire = name.wire();
    if wire.len() != 2 * labels {
        return None;
    }
    let mut addr = 0u128;
    for (i, pair) in wire.rchunks_exact(2).enumerate() {
        let value = HEX_DIGITS[usize::from(pair[1])];
        if value > 0xf {
            return None;
        }
        addr |= u128::from(value) << (124 - 4 * i);
    }
    Some(if labels == 32 {
        IpRead::Address(addr)
    } else {
        IpRead::Block(addr, addr | (u128::MAX >> (4 * labels)))
    })
}

/// The value of each byte as a hex digit, or 0xff.
const HEX_DIGITS: [u8; 256] = {
    let mut table = [0xff; 256];
    let mut c = 0;
    while c < 256 {
        table[c] = match c as u8 {
            d @ b'0'..=b'9' => d - b'0',
            d @ b'a'..=b'f' => d - b'a' + 10,
            d @ b'A'..=b'F' => d - b'A' + 10,
            _ => 0xff,
        };
        c += 1;
    }
    table
};

/// rbldnsd accepts 1–3 digits (leading zeros allowed), at most 255.
fn decimal_octet(label: &[u8]) -> Option<u8> {
    if label.is_empty() || label.len() > 3 || !label.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = label
        .iter()
        .fold(0u32, |acc, &c| acc * 10 + u32::from(c - b'0'));
    u8::try_from(value).ok()
}

/// The IPv4 address an IPv6 address stands for in IPv4 lists: IPv4-mapped
/// `::ffff:a.b.c.d` and 6to4 `2002:AABB:CCDD::/48` (as rbldnsd does).
pub fn embedded_ip4(addr: u128) -> Option<u32> {
    if addr >> 32 == 0xffff {
        Some(addr as u32)
    } else if addr >> 112 == 0x2002 {
        Some((addr >> 80) as u32)
    } else {
        None
    }
}

/// The IPv4 addresses that IPv6 addresses in `[lo, hi]` stand for, per embedding
/// (mapped, 6to4): names above listed mapped addresses exist too.
fn embedded_ip4_blocks(lo: u128, hi: u128) -> impl Iterator<Item = (u32, u32)> {
    const MAPPED: (u128, u128, u32) = (0xffff << 32, (0xffff << 32) | 0xffff_ffff, 0);
    const SIX_TO_FOUR: (u128, u128, u32) = (0x2002 << 112, (0x2002 << 112) | (u128::MAX >> 16), 80);
    [MAPPED, SIX_TO_FOUR]
        .into_iter()
        .filter(move |&(start, end, _)| lo <= end && hi >= start)
        .map(move |(start, end, shift)| {
            let (from, to) = (lo.max(start), hi.min(end));
            ((from >> shift) as u32, (to >> shift) as u32)
        })
}

/// The queried thing a TXT `$` stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    None,
    Ip4(u32),
    Ip6(u128),
    /// Labels `from..to` of the query name (counted from the left) as a domain name.
    Name {
        from: u8,
        to: u8,
    },
    /// Labels `from..to` as an email address: the first label is the local part.
    Address {
        from: u8,
        to: u8,
    },
}

/// One dataset's verdict on one name.
pub enum DatasetMatch<'d> {
    /// A set of values (a result id in the dataset's table) and what `$` is.
    Listed(u32, Subject),
    Records(&'d [Record]),
    Exists,
    Absent,
}

impl Dataset {
    /// Looks up `name`, relative to where this dataset is attached and not empty.
    /// Several kinds of data may answer (a ward zone lists IPs and names); each
    /// verdict is passed to `found`, and the strongest presence is returned.
    pub fn lookup<'d>(
        &'d self,
        name: NameRef<'_>,
        ip: IpName,
        found: &mut impl FnMut(DatasetMatch<'d>),
    ) -> bool {
        let mut exists = false;
        match ip.v4 {
            Some(IpRead::Address(addr)) => {
                if let Some(result) = self.ip4.get(addr) {
                    found(DatasetMatch::Listed(result, Subject::Ip4(addr)));
                }
            }
            Some(IpRead::Block(lo, hi)) => exists |= self.ip4.any_in(lo, hi),
            None => {}
        }
        match ip.v6 {
            Some(IpRead::Address(addr)) => {
                if let Some(result) = self.ip6.get(addr) {
                    found(DatasetMatch::Listed(result, Subject::Ip6(addr)));
                }
                if let Some(v4) = embedded_ip4(addr)
                    && let Some(result) = self.ip4.get(v4)
                {
                    found(DatasetMatch::Listed(result, Subject::Ip4(v4)));
                }
            }
            Some(IpRead::Block(lo, hi)) => {
                exists |= self.ip6.any_in(lo, hi)
                    || (!self.ip4.is_empty()
                        && embedded_ip4_blocks(lo, hi).any(|(a, b)| self.ip4.any_in(a, b)));
            }
            None => {}
        }
        if !self.names.is_empty() {
            match self.names.lookup(name) {
                NameMatch::Listed {
                    result,
                    skip,
                    address,
                } => {
                    let (from, to) = (skip as u8, name.label_count() as u8);
                    let subject = if address {
                        Subject::Address { from, to }
                    } else {
                        Subject::Name { from, to }
                    };
                    found(DatasetMatch::Listed(result, subject));
                }
                NameMatch::Exists => exists = true,
                NameMatch::Absent => {}
            }
        }
        if !self.digests.is_empty()
            && let Some(result) = self.digests.lookup(name)
        {
            // `$` is the hex digest as queried.
            found(DatasetMatch::Listed(
                result,
                Subject::Name { from: 0, to: 1 },
            ));
        }
        match self.generic.lookup(name.wire()) {
            GenericMatch::Records(records) => found(DatasetMatch::Records(records)),
            GenericMatch::Exists => exists = true,
            GenericMatch::Absent => {}
        }
        exists
    }

    /// Records at the dataset's own apex (generic `@`).
    pub fn apex_records(&self) -> &[Record] {
        match self.generic.lookup(&[]) {
            GenericMatch::Records(records) => records,
            _ => &[],
        }
    }

    pub fn heap_bytes(&self) -> usize {
        self.ip4.heap_bytes()
            + self.ip6.heap_bytes()
            + self.names.heap_bytes()
            + self.values.heap_bytes()
            + self.digests.heap_bytes()
    }
}

/// Accumulates one dataset while its lines are parsed.
pub struct DatasetBuilder {
    pub origin: Origin,
    pub attach: Vec<Name>,
    /// `$TTL`: the last one in the dataset applies to all of it (rbldnsd).
    pub ttl: Option<u32>,
    pub values: ValueTableBuilder,
    pub ip4: PrefixMapBuilder<u32>,
    pub ip6: PrefixMapBuilder<u128>,
    pub same_prefix: SamePrefix,
    pub names: NameIndexBuilder,
    pub digests: DigestIndexBuilder,
    pub generic: GenericIndex,
    /// Generic records written with TTL 0, to get the dataset TTL at the end.
    pub generic_default_ttl: Vec<(Name, super::generic::RecordData)>,
    pub vars: Vars,
    /// `$=`: the base template all TXT texts are put into.
    pub base: Option<Box<[u8]>>,
    pub entries: usize,
}

impl DatasetBuilder {
    pub fn new(file: Arc<Path>, kind: DatasetKind, label: Option<&str>, attach: Vec<Name>) -> Self {
        DatasetBuilder {
            origin: Origin {
                file,
                kind,
                label: label.map(Into::into),
            },
            attach,
            ttl: None,
            values: ValueTableBuilder::default(),
            ip4: PrefixMapBuilder::default(),
            ip6: PrefixMapBuilder::default(),
            same_prefix: match kind {
                DatasetKind::Ip4Trie | DatasetKind::Ip6Trie => SamePrefix::FirstWins,
                _ => SamePrefix::Union,
            },
            names: NameIndexBuilder::default(),
            digests: DigestIndexBuilder::default(),
            generic: GenericIndex::default(),
            generic_default_ttl: Vec::new(),
            vars: Default::default(),
            base: None,
            entries: 0,
        }
    }

    /// Sizes the indexes for a file of `bytes` bytes, so that large lists load without
    /// growing (and copying, and rehashing) them step by step.
    pub fn reserve_for(&mut self, bytes: u64) {
        let bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
        match self.origin.kind {
            DatasetKind::Ip4Set | DatasetKind::Ip4Tset | DatasetKind::Ip4Trie => {
                self.ip4.reserve(bytes / 14);
            }
            DatasetKind::Ip6Tset | DatasetKind::Ip6Trie => {
                self.ip6.reserve(bytes / 20);
            }
            // Names, and the addresses of ward zones (several names each).
            DatasetKind::Dnset | DatasetKind::Ward => self.names.reserve(bytes / 16, bytes),
            DatasetKind::Generic | DatasetKind::Combined | DatasetKind::Acl => {}
        }
    }

    /// Freezes the dataset; reports prefixes given twice where only the first counts.
    pub fn finish(mut self, default_ttl: u32) -> (Dataset, Vec<Duplicate>) {
        let ttl = self.ttl.unwrap_or(default_ttl);
        let values = &mut self.values;
        let (ip4, mut duplicates) = self
            .ip4
            .build(self.same_prefix, |set| values.intern_result(set));
        let (ip6, dup6) = self
            .ip6
            .build(self.same_prefix, |set| values.intern_result(set));
        duplicates.extend(dup6);
        let names = self.names.build(|set| values.intern_result(set));
        let digests = self.digests.build(|set| values.intern_result(set));
        for (name, data) in self.generic_default_ttl {
            self.generic.add(&name, Record { ttl, data });
        }
        let (vars, base) = (self.vars, self.base);
        let values = self
            .values
            .finish(|raw| compose_template(raw, base.as_deref(), &vars));
        (
            Dataset {
                origin: self.origin,
                attach: self.attach,
                ttl,
                values,
                ip4,
                ip6,
                names,
                digests,
                generic: self.generic,
                entries: self.entries,
            },
            duplicates,
        )
    }
}

/// rbldnsd's `$=` base template: the entry's text replaces `$=` (the subject `$` when
/// the entry has none), and a text starting with `=` bypasses the base.
fn compose_template(raw: Option<&[u8]>, base: Option<&[u8]>, vars: &Vars) -> Option<Template> {
    let Some(base) = base else {
        return raw.map(|text| Template::parse(text, vars));
    };
    if let Some(own) = raw.and_then(|t| t.strip_prefix(b"=")) {
        return Some(Template::parse(own, vars));
    }
    let entry_text = raw.unwrap_or(b"$");
    let mut composed = Vec::with_capacity(base.len() + entry_text.len());
    let mut i = 0;
    while i < base.len() {
        match (base[i], base.get(i + 1)) {
            (b'$', Some(b'$')) => {
                composed.extend_from_slice(b"$$");
                i += 2;
            }
            (b'$', Some(b'=')) => {
                composed.extend_from_slice(entry_text);
                i += 2;
            }
            (c, _) => {
                composed.push(c);
                i += 1;
            }
        }
    }
    Some(Template::parse(&composed, vars))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::name::NameBuf;

    fn classify(text: &str) -> IpName {
        let buf = NameBuf::from_name(&Name::parse(text).unwrap());
        IpName::classify(buf.view())
    }

    #[test]
    fn query_names_as_ips() {
        assert_eq!(
            classify("7.113.0.203").v4,
            Some(IpRead::Address(0xcb00_7107))
        );
        assert_eq!(classify("7.113.0.203").v6, None);
        assert_eq!(classify("1.0.0.010").v4, Some(IpRead::Address(0x0a00_0001)));
        assert_eq!(
            classify("0.203").v4,
            Some(IpRead::Block(0xcb00_0000, 0xcb00_ffff))
        );
        assert_eq!(classify("1.0.0.0010"), IpName::default());
        assert_eq!(classify("1.0.0.256").v4, None);
        assert_eq!(classify("500.4.3.2.1"), IpName::default());
        // Single digits read both ways.
        let both = classify("2.0.0.1");
        assert_eq!(both.v4, Some(IpRead::Address(0x0100_0002)));
        assert!(matches!(both.v6, Some(IpRead::Block(..))));
        assert!(matches!(classify("5.4.3.2.1").v6, Some(IpRead::Block(..))));
        let v6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2";
        assert_eq!(
            classify(v6).v6,
            Some(IpRead::Address(0x2001_0db8_0000_0000_0000_0000_0000_0001))
        );
        assert_eq!(classify("8.g.d.0.1.0.0.2").v6, None, "not a hex digit");
        assert_eq!(classify("8.bd.0.1.0.0.2").v6, None, "two digits in a label");
        assert_eq!(
            classify("8.B.D.0.1.0.0.2").v6,
            classify("8.b.d.0.1.0.0.2").v6,
            "hex in either case"
        );
        assert_eq!(
            classify("8.b.d.0.1.0.0.2").v6,
            Some(IpRead::Block(
                0x2001_0db8 << 96,
                (0x2001_0db8 << 96) | (u128::MAX >> 32)
            ))
        );
    }

    #[test]
    fn mapped_blocks() {
        let mapped_top: u128 = 0xffff << 32;
        let blocks: Vec<_> = embedded_ip4_blocks(mapped_top, mapped_top | 0x7fff_ffff).collect();
        assert_eq!(blocks, [(0, 0x7fff_ffff)]);
        let all: Vec<_> = embedded_ip4_blocks(0, u128::MAX).collect();
        assert_eq!(all, [(0, u32::MAX), (0, u32::MAX)]);
        assert_eq!(embedded_ip4_blocks(1 << 127, u128::MAX).count(), 0);
    }

    #[test]
    fn embedded_ipv4() {
        let mapped: u128 = "::ffff:127.0.0.2"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .into();
        assert_eq!(embedded_ip4(mapped), Some(0x7f00_0002));
        let six_to_four: u128 = "2002:c000:0201::1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .into();
        assert_eq!(embedded_ip4(six_to_four), Some(0xc000_0201));
        let compat: u128 = "::127.0.0.2".parse::<std::net::Ipv6Addr>().unwrap().into();
        assert_eq!(embedded_ip4(compat), None);
    }

    #[test]
    fn base_template_composition() {
        let vars = Vars::default();
        let base = Some(&b"See http://bl.example/?$= ($) for details"[..]);
        let render = |t: Option<Template>| {
            let mut out = Vec::new();
            t.unwrap().render(b"127.0.0.2", &mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(
            render(compose_template(Some(b"r123"), base, &vars)),
            "See http://bl.example/?r123 (127.0.0.2) for details"
        );
        assert_eq!(
            render(compose_template(None, base, &vars)),
            "See http://bl.example/?127.0.0.2 (127.0.0.2) for details"
        );
        assert_eq!(
            render(compose_template(Some(b"=Other $"), base, &vars)),
            "Other 127.0.0.2"
        );
    }
}
