//! A zone as standard DNS records: what a general-purpose server (Knot, NSD, BIND)
//! must hold to answer the queries mail servers send the way ward does. The source of
//! zone transfers, of IXFR's differences and of `ward export`.
//!
//! Single addresses and names become names; IP ranges the fewest octet- (IPv4) or
//! nibble-aligned (IPv6) wildcards plus names for what does not align; exclusions are
//! carved out by splitting ranges; and wherever an entry (or a name above it) would
//! make a wildcard stop matching (RFC 4592: a wildcard never answers for an existing
//! name or below it), the records the wildcard would have given are repeated, as
//! rbldnsd's `-d` dump does. Expired listings are left out.
//!
//! Records come out in one fixed order (by owner, labels from the apex down), lazily:
//! a ten-million-entry zone never sits in memory as records, and two versions of a
//! zone can be compared by walking both in step.
//!
//! Uses `zone` only: it reads the model, never the wire.

mod digest_changes;
mod ip;
mod ip_changes;
mod name_changes;
mod names;
pub(crate) mod text;

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

use crate::zone::dataset::DatasetMatch;
use crate::zone::generic::RecordData;
use crate::zone::name::{Labels, Name, NameBuf};
use crate::zone::reason::Template;
use crate::zone::value::ValueTable;
use crate::zone::{Dataset, IpName, Visibility, Zone};

/// Record data, as far as exported zones need.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Rdata {
    A([u8; 4]),
    Ns(Name),
    Mx(u16, Name),
    /// The text, split into 255-byte strings on the wire.
    Txt(Vec<u8>),
    /// `HINFO "ward" "not listed"`: a name that must exist without answering A or TXT
    /// (an exclusion under a listing wildcard).
    Placeholder,
}

impl Rdata {
    pub(crate) fn rtype(&self) -> u16 {
        match self {
            Rdata::A(_) => 1,
            Rdata::Ns(_) => 2,
            Rdata::Mx(..) => 15,
            Rdata::Txt(_) => 16,
            Rdata::Placeholder => 13,
        }
    }
}

/// One record, its owner relative to the zone apex (`*` labels are wildcards).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Rr {
    pub(crate) owner: Name,
    pub(crate) ttl: u32,
    pub(crate) data: Rdata,
}

impl Rr {
    /// Bytes this record takes on the wire at most (owner uncompressed).
    pub(crate) fn wire_len(&self) -> usize {
        let name = |n: &Name| n.wire().len() + 1;
        let rdata = match &self.data {
            Rdata::A(_) => 4,
            Rdata::Ns(n) => name(n),
            Rdata::Mx(_, n) => 2 + name(n),
            Rdata::Txt(t) => t.len() + t.len() / 255 + 1,
            Rdata::Placeholder => 16,
        };
        name(&self.owner) + 10 + rdata
    }
}

/// The order of owners: by labels from the apex down; `*` before any other label,
/// numbers (IPv4 octets, IPv6 nibbles 0-9) by value before other labels, the rest by
/// bytes. Parents come before their children, and a wildcard before its siblings.
pub(crate) fn owner_order(a: &Name, b: &Name) -> Ordering {
    fn labels(n: &Name) -> smallvec::SmallVec<[&[u8]; 8]> {
        let mut v: smallvec::SmallVec<[&[u8]; 8]> = Labels::of_wire(n.wire()).collect();
        v.reverse();
        v
    }
    // Most comparisons (a difference of two versions of a zone) are of equal owners.
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (labels(a), labels(b));
    for (x, y) in a.iter().zip(&b) {
        let order = label_order(x, y);
        if order != Ordering::Equal {
            return order;
        }
    }
    a.len().cmp(&b.len())
}

fn label_order(a: &[u8], b: &[u8]) -> Ordering {
    fn class(label: &[u8]) -> u8 {
        if label == b"*" {
            0
        } else if !label.is_empty() && label.len() <= 19 && label.iter().all(u8::is_ascii_digit) {
            1
        } else {
            2
        }
    }
    let (ca, cb) = (class(a), class(b));
    if ca != cb {
        return ca.cmp(&cb);
    }
    if ca == 1 {
        let number = |l: &[u8]| l.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
        return number(a).cmp(&number(b)).then_with(|| a.cmp(b));
    }
    a.cmp(b)
}

/// Records in the fixed order: owner, then type, then data.
pub(crate) fn record_order(a: &Rr, b: &Rr) -> Ordering {
    owner_order(&a.owner, &b.owner)
        .then_with(|| a.data.rtype().cmp(&b.data.rtype()))
        .then_with(|| a.data.cmp(&b.data))
        .then_with(|| a.ttl.cmp(&b.ttl))
}

/// What one answer (a set of listings) becomes at one owner: the A and TXT records,
/// each RRset with the smallest TTL of the listings that give it records, as ward
/// answers (RFC 2181 §5.2: one TTL per RRset).
#[derive(Default)]
pub(crate) struct AnswerRecords {
    a: Vec<[u8; 4]>,
    txt: Vec<Vec<u8>>,
    a_ttl: Option<u32>,
    txt_ttl: Option<u32>,
}

impl AnswerRecords {
    /// Adds the live values of `result` in `dataset`, with `$` as `subject`.
    pub(crate) fn add(&mut self, dataset: &Dataset, result: u32, subject: &[u8], now: i64) {
        add_values(self, &dataset.values, result, subject, now, dataset.ttl);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.a.is_empty() && self.txt.is_empty()
    }

    /// The records, at `owner`.
    pub(crate) fn into_records(mut self, owner: &Name, out: &mut Vec<Rr>) {
        self.a.sort_unstable();
        self.a.dedup();
        self.txt.sort_unstable();
        self.txt.dedup();
        let (a_ttl, txt_ttl) = (self.a_ttl.unwrap_or(0), self.txt_ttl.unwrap_or(0));
        out.extend(self.a.into_iter().map(|a| Rr {
            owner: owner.clone(),
            ttl: a_ttl,
            data: Rdata::A(a),
        }));
        out.extend(self.txt.into_iter().map(|t| Rr {
            owner: owner.clone(),
            ttl: txt_ttl,
            data: Rdata::Txt(t),
        }));
    }
}

fn add_values(
    out: &mut AnswerRecords,
    values: &ValueTable,
    result: u32,
    subject: &[u8],
    now: i64,
    ttl: u32,
) {
    for &id in values.result(result) {
        let value = values.value(id);
        if !value.is_live(now) {
            continue;
        }
        out.a.push(value.a);
        out.a_ttl = Some(out.a_ttl.map_or(ttl, |t| t.min(ttl)));
        if let Some(template) = values.txt(value) {
            out.txt.push(render(template, subject));
            out.txt_ttl = Some(out.txt_ttl.map_or(ttl, |t| t.min(ttl)));
        }
    }
}

fn render(template: &Template, subject: &[u8]) -> Vec<u8> {
    let mut text = Vec::new();
    template.render(subject, &mut text);
    text
}

/// The zone's name servers; a zone that names none gets its SOA's primary, since a
/// zone a secondary serves must have NS records (ward itself answers NS queries with
/// what the data says).
pub(crate) fn name_servers(zone: &Zone) -> Vec<Name> {
    if zone.ns.is_empty() {
        vec![zone.soa.mname.clone()]
    } else {
        zone.ns.clone()
    }
}

/// A sorted stream of records.
type Part<'z> = Box<dyn Iterator<Item = Rr> + 'z>;

/// The datasets attached at each place in a zone (the apex first), which answer
/// together.
pub(crate) fn groups(zone: &Zone) -> Vec<(Name, Vec<&Dataset>)> {
    let mut attach_points: Vec<&Name> = zone.datasets.iter().flat_map(|d| &d.attach).collect();
    attach_points.sort_by(|a, b| owner_order(a, b));
    attach_points.dedup();
    attach_points
        .into_iter()
        .map(|attach| {
            let group = zone
                .datasets
                .iter()
                .map(AsRef::as_ref)
                .filter(|d: &&Dataset| d.attach.contains(attach))
                .collect();
            (attach.clone(), group)
        })
        .collect()
}

/// The records of one kind of data of a group, for writers that keep kinds apart.
pub(crate) enum Kind {
    Ip4,
    Ip6,
    Names,
    Digests,
    Generic,
}

/// One kind of data of a group, sorted (see [`records`]).
pub(crate) fn part<'z>(
    kind: Kind,
    group: &[&'z Dataset],
    attach: &Name,
    now: i64,
) -> Box<dyn Iterator<Item = Rr> + 'z> {
    match kind {
        Kind::Ip4 => Box::new(ip::ip4_records(group.to_vec(), attach.clone(), now)),
        Kind::Ip6 => Box::new(ip::ip6_records(group.to_vec(), attach.clone(), now)),
        Kind::Names => names::name_records(group, attach.clone(), now).boxed(),
        Kind::Digests => merge(
            group
                .iter()
                .map(|d| Box::new(names::digest_records(d, attach.clone(), now)) as Part<'z>)
                .collect(),
        )
        .boxed(),
        Kind::Generic => merge(
            group
                .iter()
                .map(|d| Box::new(generic_records(d, attach)) as Part<'z>)
                .collect(),
        )
        .boxed(),
    }
}

trait Boxed<'z>: Iterator<Item = Rr> + Sized + 'z {
    fn boxed(self) -> Box<dyn Iterator<Item = Rr> + 'z> {
        Box::new(self)
    }
}

impl<'z, I: Iterator<Item = Rr> + 'z> Boxed<'z> for I {}

/// The NS records at the apex.
fn apex_records(zone: &Zone) -> Vec<Rr> {
    name_servers(zone)
        .into_iter()
        .map(|ns| Rr {
            owner: Name::root(),
            ttl: zone.ns_ttl,
            data: Rdata::Ns(ns),
        })
        .collect()
}

/// The records of `zone` (but its SOA) in the fixed order, with the listings live at
/// `now`. Owners are relative to the zone apex.
pub(crate) fn records(zone: &Zone, now: i64) -> impl Iterator<Item = Rr> + '_ {
    let mut parts: Vec<Part<'_>> = Vec::new();
    parts.push(Box::new(apex_records(zone).into_iter()));
    // Datasets attached at the same place answer together: their IP data is merged
    // before it is cut into wildcards, so one's entries never hide another's.
    for (attach, group) in groups(zone) {
        for kind in [
            Kind::Ip4,
            Kind::Ip6,
            Kind::Names,
            Kind::Digests,
            Kind::Generic,
        ] {
            parts.push(part(kind, &group, &attach, now));
        }
    }
    if let Some(points) = &zone.test_points {
        parts.push(test_point_records(zone, points, now));
    }
    merge(parts)
}

/// The records of `old` (at its build time) that `new` lacks, and those of `new` that
/// `old` lacks — what [`records`] of both would differ in — made from what changed
/// instead of from every record: for IP data, whose records are made node by node
/// from sorted intervals (`ip_changes`), and for names, whose records are made name by
/// name (`name_changes`), and for hashed addresses, digest by digest
/// (`digest_changes`). Generic records, a zone's few own ones, are made whole in both
/// versions, like the apex's and the test points'. `None` where that does not apply
/// (names attached at several places, the two versions' datasets not matching one to
/// one, or a changed owner that records of another kind could share): the caller
/// compares every record.
pub(crate) fn changed_records(old: &Zone, new: &Zone) -> Option<(Vec<Rr>, Vec<Rr>)> {
    let (old_groups, new_groups) = (groups(old), groups(new));
    let with_names = |groups: &[(Name, Vec<&Dataset>)]| {
        groups
            .iter()
            .filter(|(_, group)| group.iter().any(|d| !d.names.is_empty()))
            .count()
    };
    if old_groups.len() != new_groups.len()
        || with_names(&old_groups) > 1
        || with_names(&new_groups) > 1
    {
        return None;
    }
    let numbered = NumberedOwners::of(&old_groups, &new_groups);
    let mut before = apex_records(old);
    let mut after = apex_records(new);
    if let Some(points) = &old.test_points {
        before.extend(test_point_records(old, points, old.built_at));
    }
    if let Some(points) = &new.test_points {
        after.extend(test_point_records(new, points, new.built_at));
    }
    // Owners of records made again that are not names: a names entry there would
    // merge its records with them.
    let mut other_owners: Vec<Name> = Vec::new();
    // Owners of generic records that changed: records of another kind there, made
    // again or not, would be one RRset with them.
    let mut generic_changed: Vec<Name> = Vec::new();
    let mut names_attach = None;
    for ((attach, old_group), (new_attach, new_group)) in old_groups.iter().zip(&new_groups) {
        let matching = attach == new_attach
            && old_group.len() == new_group.len()
            && old_group.iter().zip(new_group).all(|(a, b)| a.ttl == b.ttl);
        if !matching {
            return None;
        }
        for family in [ip::V4, ip::V6] {
            let old_side = ip::Side::new(family, old_group.clone(), attach.clone(), old.built_at);
            let new_side = ip::Side::new(family, new_group.clone(), attach.clone(), new.built_at);
            if old_side.other_family != new_side.other_family {
                return None;
            }
            let dirty = ip_changes::dirty_regions(&old_side, &new_side);
            if dirty.is_empty() {
                continue;
            }
            let (removed, added) = ip_changes::changed_records(&old_side, &new_side, &dirty);
            other_owners.extend(removed.iter().chain(&added).map(|rr| rr.owner.clone()));
            before.extend(removed);
            after.extend(added);
        }
        let (removed, added) = name_changes::changed_records(
            (old_group, old.built_at),
            (new_group, new.built_at),
            attach,
            |name| {
                name.join(attach)
                    .is_ok_and(|owner| numbered.may_hold(&owner))
            },
        )?;
        let old_generic: Vec<Rr> = part(Kind::Generic, old_group, attach, old.built_at).collect();
        let new_generic: Vec<Rr> = part(Kind::Generic, new_group, attach, new.built_at).collect();
        let (gone, came) = set_difference(old_generic.iter().cloned(), new_generic.iter().cloned());
        generic_changed.extend(gone.into_iter().chain(came).map(|rr| rr.owner));
        before.extend(old_generic);
        after.extend(new_generic);
        let digests = digest_changes::changed_records(
            (old_group, old.built_at),
            (new_group, new.built_at),
            attach,
        );
        for label in &digests.labels {
            let hex = hex::encode(label);
            for email in [false, true] {
                let labels = std::iter::once(hex.as_bytes()).chain(email.then_some(&b"_email"[..]));
                if let Ok(owner) = Name::from_labels(labels).and_then(|n| n.join(attach)) {
                    other_owners.push(owner);
                }
            }
        }
        before.extend(digests.before);
        after.extend(digests.after);
        if old_group
            .iter()
            .chain(new_group)
            .any(|d| !d.names.is_empty())
        {
            names_attach = Some((attach, old_group, new_group));
        }
        before.extend(removed);
        after.extend(added);
    }
    // An IP or digest record made again at a name that the names make records at too
    // would merge with them into one RRset (one TTL) that was not made again; so would
    // a changed generic record with any other kind's.
    let held_by_names = |owner: &Name| {
        let Some((attach, old_group, new_group)) = names_attach else {
            return false;
        };
        let wildcard = owner.labels().next() == Some(&b"*"[..]);
        let base = if wildcard {
            owner.parent().unwrap_or_default()
        } else {
            owner.clone()
        };
        base.strip_suffix(attach).is_some_and(|relative| {
            old_group
                .iter()
                .chain(new_group)
                .any(|d| d.names.entry(relative.wire()).is_some())
        })
    };
    if other_owners
        .iter()
        .chain(&generic_changed)
        .any(held_by_names)
        || generic_changed.iter().any(|owner| numbered.may_hold(owner))
    {
        return None;
    }
    Some(set_difference(
        as_transferred(before),
        as_transferred(after),
    ))
}

/// Where records of IP data and of digests can be: under the attach points of the
/// groups (in either version) that hold them.
struct NumberedOwners<'z> {
    ips: Vec<&'z Name>,
    digests: Vec<&'z Name>,
}

impl<'z> NumberedOwners<'z> {
    fn of(old: &'z [(Name, Vec<&Dataset>)], new: &'z [(Name, Vec<&Dataset>)]) -> Self {
        let attach_where = |holds: fn(&Dataset) -> bool| -> Vec<&'z Name> {
            old.iter()
                .chain(new)
                .filter(|(_, group)| group.iter().any(|d| holds(d)))
                .map(|(attach, _)| attach)
                .collect()
        };
        NumberedOwners {
            ips: attach_where(|d| !d.ip4.is_empty() || !d.ip6.is_empty()),
            digests: attach_where(|d| !d.digests.is_empty()),
        }
    }

    /// Whether such a record may be at `owner`: below an attach point of IP data, a
    /// name of numbers (decimal octets, IPv6's hex nibbles, wildcards); below one of
    /// digests, `<hex>` or `<hex>._email`.
    fn may_hold(&self, owner: &Name) -> bool {
        let hex = |label: &[u8]| label.iter().all(u8::is_ascii_hexdigit);
        let below = |attach: &&Name| owner.strip_suffix(attach).filter(|r| !r.is_root());
        let ip_like = self
            .ips
            .iter()
            .filter_map(below)
            .any(|relative| relative.labels().all(|label| label == b"*" || hex(label)));
        let digest_like = self.digests.iter().filter_map(below).any(|relative| {
            let mut labels = relative.labels();
            let first = labels.next().unwrap_or_default();
            first.len() >= 32
                && hex(first)
                && labels.next().is_none_or(|l| l == b"_email")
                && labels.next().is_none()
        });
        ip_like || digest_like
    }
}

/// Records sorted as [`records`] gives them: in the fixed order, equal ones once, one
/// TTL per RRset.
fn as_transferred(mut rrs: Vec<Rr>) -> Vec<Rr> {
    rrs.sort_by(record_order);
    merge(vec![Box::new(rrs.into_iter())]).collect()
}

/// What only `a` has, and what only `b` has (both sorted by [`record_order`]).
pub(crate) fn set_difference(
    a: impl IntoIterator<Item = Rr>,
    b: impl IntoIterator<Item = Rr>,
) -> (Vec<Rr>, Vec<Rr>) {
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    let (mut only_a, mut only_b) = (Vec::new(), Vec::new());
    loop {
        match (a.peek(), b.peek()) {
            (None, None) => break,
            (Some(_), None) => only_a.extend(a.next()),
            (None, Some(_)) => only_b.extend(b.next()),
            (Some(x), Some(y)) => match record_order(x, y) {
                Ordering::Less => only_a.extend(a.next()),
                Ordering::Greater => only_b.extend(b.next()),
                Ordering::Equal => {
                    a.next();
                    b.next();
                }
            },
        }
    }
    (only_a, only_b)
}

/// Generic records (`www A 127.0.0.8`), by owner.
fn generic_records(dataset: &Dataset, attach: &Name) -> impl Iterator<Item = Rr> + use<> {
    let mut out: Vec<Rr> = dataset
        .generic
        .iter()
        .filter_map(|(name, record)| {
            let owner = name.join(attach).ok()?;
            let data = match &record.data {
                RecordData::A(a) => Rdata::A(*a),
                RecordData::Txt(t) => Rdata::Txt(t.to_vec()),
                RecordData::Mx(p, host) => Rdata::Mx(*p, host.clone()),
            };
            Some(Rr {
                owner,
                ttl: record.ttl,
                data,
            })
        })
        .collect();
    out.sort_by(record_order);
    out.into_iter()
}

/// The RFC 5782 test points, where the zone's own data does not answer them already.
pub(crate) fn test_point_records<'z>(zone: &'z Zone, points: &'z Dataset, now: i64) -> Part<'z> {
    let mapped = "2.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0";
    let mut out = Vec::new();
    for (query, subject) in [
        ("2.0.0.127", "127.0.0.2"),
        (mapped, "::ffff:127.0.0.2"),
        ("test", "test"),
    ] {
        let Ok(owner) = Name::parse(query) else {
            continue;
        };
        if zone.datasets.iter().any(|d| lists(d, &owner, now)) {
            continue;
        }
        let buf = NameBuf::from_name(&owner);
        let ip = IpName::classify(buf.view());
        let mut answers = AnswerRecords::default();
        points.lookup(buf.view(), ip, Visibility::All, &mut |verdict| {
            if let DatasetMatch::Listed(result, _) = verdict {
                answers.add(points, result, subject.as_bytes(), now);
            }
        });
        answers.into_records(&owner, &mut out);
    }
    out.sort_by(record_order);
    Box::new(out.into_iter())
}

/// Whether `dataset` (at the apex) answers for `name`: a live listing, or a generic
/// record (ward then gives the zone's own answer and no test point at all).
fn lists(dataset: &Dataset, name: &Name, now: i64) -> bool {
    if !dataset.attach.iter().any(Name::is_root) {
        return false;
    }
    let buf = NameBuf::from_name(name);
    let ip = IpName::classify(buf.view());
    let mut listed = false;
    dataset.lookup(
        buf.view(),
        ip,
        Visibility::All,
        &mut |verdict| match verdict {
            DatasetMatch::Listed(result, _) => {
                listed |= dataset
                    .values
                    .result(result)
                    .iter()
                    .any(|&id| dataset.values.value(id).is_live(now));
            }
            DatasetMatch::Records(records) => listed |= !records.is_empty(),
        },
    );
    listed
}

/// Merges sorted parts into one sorted stream. Records equal in owner, type and data
/// (the same answer from two datasets) come out once, and each RRset with one TTL, its
/// smallest, as ward answers.
pub(crate) fn merge<'z>(parts: Vec<Part<'z>>) -> impl Iterator<Item = Rr> + 'z {
    struct Head {
        rr: Rr,
        part: usize,
    }
    impl PartialEq for Head {
        fn eq(&self, other: &Self) -> bool {
            self.cmp(other) == Ordering::Equal
        }
    }
    impl Eq for Head {}
    impl PartialOrd for Head {
        fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
            Some(self.cmp(other))
        }
    }
    impl Ord for Head {
        fn cmp(&self, other: &Self) -> Ordering {
            // BinaryHeap is a max-heap: reversed, the smallest comes first.
            record_order(&other.rr, &self.rr).then_with(|| other.part.cmp(&self.part))
        }
    }
    let mut parts = parts;
    let mut heap = BinaryHeap::new();
    for (part, stream) in parts.iter_mut().enumerate() {
        if let Some(rr) = stream.next() {
            heap.push(Head { rr, part });
        }
    }
    let mut set: Vec<Rr> = Vec::new();
    let mut ready: VecDeque<Rr> = VecDeque::new();
    std::iter::from_fn(move || {
        loop {
            if let Some(rr) = ready.pop_front() {
                return Some(rr);
            }
            let Some(Head { rr, part }) = heap.pop() else {
                if set.is_empty() {
                    return None;
                }
                ready.extend(one_ttl(&mut set));
                continue;
            };
            if let Some(next) = parts[part].next() {
                heap.push(Head { rr: next, part });
            }
            let other_set = set.first().is_some_and(|first| {
                first.owner != rr.owner || first.data.rtype() != rr.data.rtype()
            });
            if other_set {
                ready.extend(one_ttl(&mut set));
            }
            match set.iter_mut().find(|r| r.data == rr.data) {
                Some(same) => same.ttl = same.ttl.min(rr.ttl),
                None => set.push(rr),
            }
        }
    })
}

/// Takes a collected RRset out, with one TTL (its smallest).
fn one_ttl(set: &mut Vec<Rr>) -> Vec<Rr> {
    let ttl = set.iter().map(|r| r.ttl).min().unwrap_or(0);
    let mut out = std::mem::take(set);
    for rr in &mut out {
        rr.ttl = ttl;
    }
    out
}

#[cfg(test)]
mod tests;
