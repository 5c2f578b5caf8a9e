//! One dataset: what one data file (or one `combined` section) lists, frozen into the
//! indexes it needs, plus the builder the parsers fill.

use std::path::Path;
use std::sync::Arc;

use super::Visibility;
use super::email::{DigestIndex, DigestIndexBuilder};
use super::generic::{GenericIndex, GenericMatch, Record};
use super::ip::{Duplicate, PrefixMap, PrefixMapBuilder, SamePrefix};
use super::ip_name::{IpName, IpRead, embedded_ip4, embedded_ip4_blocks};
use super::kind::DatasetKind;
use super::name::{Name, NameRef};
use super::name_index::{NameIndex, NameIndexBuilder, NameMatch};
use super::reason::{Template, Vars};
use super::value::{ValueTable, ValueTableBuilder};
use crate::parallel::cores;

/// Where a dataset came from, for logs and `ward lookup`.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    pub(crate) file: Arc<Path>,
    pub(crate) kind: DatasetKind,
}

pub struct Dataset {
    pub(crate) origin: Origin,
    /// Subzones this dataset answers under, relative to the zone apex (root = the
    /// apex); several for a `combined` section listing several.
    pub(crate) attach: Vec<Name>,
    pub(crate) ttl: u32,
    pub(crate) values: ValueTable,
    pub(crate) ip4: PrefixMap<u32>,
    pub(crate) ip6: PrefixMap<u128>,
    pub(crate) names: NameIndex,
    pub(crate) digests: DigestIndex,
    pub(crate) generic: GenericIndex,
    /// Entry lines loaded.
    pub(crate) entries: usize,
}

/// The queried thing a TXT `$` stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subject {
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
pub(crate) enum DatasetMatch<'d> {
    /// A set of values (a result id in the dataset's table) and what `$` is.
    Listed(u32, Subject),
    Records(&'d [Record]),
}

impl Dataset {
    /// Looks up `name`, relative to where this dataset is attached and not empty.
    /// Several kinds of data may answer (a ward zone lists IPs and names); each
    /// verdict is passed to `found`, and the strongest presence is returned.
    pub(crate) fn lookup<'d>(
        &'d self,
        name: NameRef<'_>,
        ip: IpName,
        visibility: Visibility,
        found: &mut impl FnMut(DatasetMatch<'d>),
    ) -> bool {
        if visibility == Visibility::RecordsOnly {
            return self.lookup_records(name, found);
        }
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
        exists | self.lookup_records(name, found)
    }

    /// The generic records at `name`; whether records exist below it.
    fn lookup_records<'d>(
        &'d self,
        name: NameRef<'_>,
        found: &mut impl FnMut(DatasetMatch<'d>),
    ) -> bool {
        match self.generic.lookup(name.wire()) {
            GenericMatch::Records(records) => {
                found(DatasetMatch::Records(records));
                false
            }
            GenericMatch::Exists => true,
            GenericMatch::Absent => false,
        }
    }

    /// Records at the dataset's own apex (generic `@`).
    pub(crate) fn apex_records(&self) -> &[Record] {
        match self.generic.lookup(&[]) {
            GenericMatch::Records(records) => records,
            _ => &[],
        }
    }
}

/// Digests from which their sort goes to another core (a thread costs about 20 µs).
const PARALLEL_DIGESTS: usize = 1 << 16;

/// Accumulates one dataset while its lines are parsed.
pub(crate) struct DatasetBuilder {
    pub(crate) origin: Origin,
    pub(crate) attach: Vec<Name>,
    /// `$TTL`: the last one in the dataset applies to all of it (rbldnsd).
    pub(crate) ttl: Option<u32>,
    pub(crate) values: ValueTableBuilder,
    pub(crate) ip4: PrefixMapBuilder<u32>,
    pub(crate) ip6: PrefixMapBuilder<u128>,
    pub(crate) same_prefix: SamePrefix,
    pub(crate) names: NameIndexBuilder,
    pub(crate) digests: DigestIndexBuilder,
    pub(crate) generic: GenericIndex,
    /// Generic records written with TTL 0, to get the dataset TTL at the end.
    pub(crate) generic_default_ttl: Vec<(Name, super::generic::RecordData)>,
    pub(crate) vars: Vars,
    /// `$=`: the base template all TXT texts are put into.
    pub(crate) base: Option<Box<[u8]>>,
    pub(crate) entries: usize,
}

impl DatasetBuilder {
    pub(crate) fn new(file: Arc<Path>, kind: DatasetKind, attach: Vec<Name>) -> Self {
        let mut names = NameIndexBuilder::default();
        if kind == DatasetKind::Dnhash {
            names.last_line_wins();
        }
        DatasetBuilder {
            origin: Origin { file, kind },
            attach,
            ttl: None,
            values: ValueTableBuilder::default(),
            ip4: PrefixMapBuilder::default(),
            ip6: PrefixMapBuilder::default(),
            same_prefix: match kind {
                DatasetKind::Ip4Trie | DatasetKind::Ip6Trie => SamePrefix::FirstWins,
                _ => SamePrefix::Union,
            },
            names,
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
    pub(crate) fn reserve_for(&mut self, bytes: u64) {
        let bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
        match self.origin.kind {
            DatasetKind::Ip4Set | DatasetKind::Ip4Tset | DatasetKind::Ip4Trie => {
                self.ip4.reserve(bytes / 14);
            }
            DatasetKind::Ip6Tset | DatasetKind::Ip6Trie => {
                self.ip6.reserve(bytes / 20);
            }
            // Names, and the addresses of ward zones (several names each).
            DatasetKind::Dnset | DatasetKind::Dnhash | DatasetKind::Ward => {
                self.names.reserve(bytes / 16, bytes)
            }
            DatasetKind::Generic
            | DatasetKind::Combined
            | DatasetKind::Acl
            | DatasetKind::Aclkey => {}
        }
    }

    /// Freezes the dataset; reports prefixes given twice where only the first counts,
    /// and texts cut to [`MAX_TEMPLATE`](super::reason::MAX_TEMPLATE) once expanded.
    pub(crate) fn finish(mut self, default_ttl: u32) -> Finished {
        let ttl = self.ttl.unwrap_or(default_ttl);
        let values = &mut self.values;
        let (ip4, mut duplicates) = self
            .ip4
            .build(self.same_prefix, |set| values.intern_result(set));
        let (ip6, dup6) = self
            .ip6
            .build(self.same_prefix, |set| values.intern_result(set));
        duplicates.extend(dup6);
        let (names, digests) = (self.names, self.digests);
        // A big address list: its digests are built on another core meanwhile.
        let (names, digests) = if digests.len() >= PARALLEL_DIGESTS && cores() > 1 {
            let singles = values.single_results();
            let (parts, names) =
                digests.build_beside(&singles, || names.build(|set| values.intern_result(set)));
            (names, parts.finish(|set| values.intern_result(set)))
        } else {
            let names = names.build(|set| values.intern_result(set));
            (names, digests.build(|set| values.intern_result(set)))
        };
        for (name, data) in self.generic_default_ttl {
            self.generic.add(&name, Record { ttl, data });
        }
        let (vars, base) = (self.vars, self.base);
        let (values, cut_texts) = self
            .values
            .finish(|raw| compose_template(raw, base.as_deref(), &vars));
        Finished {
            dataset: Dataset {
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
            cut_texts,
        }
    }
}

/// A frozen dataset and what its builder noticed on the way.
pub(crate) struct Finished {
    pub(crate) dataset: Dataset,
    /// Prefixes given twice where only the first counts.
    pub(crate) duplicates: Vec<Duplicate>,
    /// (line, full length) of TXT texts cut once `$=` and `$n` were expanded.
    pub(crate) cut_texts: Vec<(u32, usize)>,
}

/// rbldnsd's `$=` base template: the entry's text replaces `$=` (the subject `$` when
/// the entry has none), and a text starting with `=` bypasses the base.
fn compose_template(
    raw: Option<&[u8]>,
    base: Option<&[u8]>,
    vars: &Vars,
) -> (Option<Template>, Option<usize>) {
    let parse = |text: &[u8]| {
        let (template, cut) = Template::parse_reporting_cut(text, vars);
        (Some(template), cut)
    };
    let Some(base) = base else {
        return raw.map_or((None, None), parse);
    };
    if let Some(own) = raw.and_then(|t| t.strip_prefix(b"=")) {
        return parse(own);
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
    parse(&composed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_template_composition() {
        let vars = Vars::default();
        let base = Some(&b"See http://bl.example/?$= ($) for details"[..]);
        let render = |(t, _): (Option<Template>, Option<usize>)| {
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
