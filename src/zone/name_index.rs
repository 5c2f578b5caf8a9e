//! Listed names (RHSBL domains, plain email addresses) with rbldnsd's `dnset` rules: an
//! entry for the exact name decides; otherwise the closest enclosing wildcard decides;
//! an exclusion decides "not listed". Ancestors of every entry are kept too, so a
//! lookup also knows whether an unlisted name exists as an empty non-terminal.

use super::fingerprints::{FingerprintMap, sort_by_fingerprint};
use super::ip::{Listing, ResultId, Warm};
use super::name::{MAX_NAME_WIRE, Name, NameHasher, NameRef, NameTable, WarmStep};
use super::packed_names::PackedNames;

/// How many names above a query the batch prefetch warms for wildcards, closest first:
/// lists' wildcards are `*.domain` or `*.host.domain`, so two cover nearly every walk a
/// miss makes; more would cost a hash each for little.
const WILDCARD_PREFETCH: usize = 2;

/// Per-name state, 8 bytes. `exact`/`wild` hold a slot (`0` none, `1` excluded, `n + 2`
/// result `n`) in their low 31 bits; the top bit of `exact` marks an email-address entry
/// (its `$` renders as `local@domain`), the top bit of `wild` marks that a listed name
/// (not just an exclusion) lies strictly below this one.
#[derive(Clone, Copy, Default)]
struct Node {
    exact: u32,
    wild: u32,
}

const FLAG: u32 = 1 << 31;
const EMPTY: u32 = 0;
const EXCLUDED: u32 = 1;

/// What an entry says about its name (`exact`) or the names below it (`wild`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    Empty,
    Excluded,
    Result(ResultId),
}

fn decode(raw: u32) -> Slot {
    match raw & !FLAG {
        EMPTY => Slot::Empty,
        EXCLUDED => Slot::Excluded,
        n => Slot::Result(n - 2),
    }
}

fn encode(slot: Slot) -> u32 {
    match slot {
        Slot::Empty => EMPTY,
        Slot::Excluded => EXCLUDED,
        Slot::Result(r) => r + 2,
    }
}

impl Node {
    fn from_words([exact, wild]: [u32; 2]) -> Self {
        Node { exact, wild }
    }
    fn has_children(&self) -> bool {
        self.wild & FLAG != 0
    }
    fn is_address(&self) -> bool {
        self.exact & FLAG != 0
    }
}

/// One entry, decoded: what it says at its name and below it, whether it is an email
/// address, and whether a listed name lies strictly below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EntryState {
    pub(crate) exact: Slot,
    pub(crate) wild: Slot,
    pub(crate) address: bool,
    pub(crate) listed_below: bool,
}

impl EntryState {
    fn of(node: Node) -> Self {
        EntryState {
            exact: decode(node.exact),
            wild: decode(node.wild),
            address: node.is_address(),
            listed_below: node.has_children(),
        }
    }
}

/// What a name lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameMatch {
    /// Listed by an entry; `skip` leftmost labels were covered by a wildcard (0 for an
    /// exact entry), so the entry's own name is the query without them.
    Listed {
        result: ResultId,
        skip: usize,
        address: bool,
    },
    /// Not listed, but names exist below it.
    Exists,
    Absent,
}

#[derive(Default)]
pub(crate) struct NameIndex {
    table: PackedNames,
    /// Names of listed addresses, by [`fingerprint`], with their `exact` slot; what is
    /// at or below such a name otherwise (a wildcard, other names) is in `table`. When
    /// the zone is not exported, an address costs 8 bytes here instead of its text.
    fingerprinted: FingerprintMap,
    /// Fewest labels of a fingerprinted name (an address has a local part and a
    /// domain): a digest's one label is not looked for there.
    fingerprinted_min_labels: usize,
    /// Label counts bound which suffixes can hold a wildcard at all.
    max_labels: usize,
    wild_max_labels: usize,
    wild_min_labels: usize,
    entries: usize,
}

impl NameIndex {
    pub(crate) fn is_empty(&self) -> bool {
        self.entries == 0
    }

    pub(crate) fn lookup(&self, query: NameRef<'_>) -> NameMatch {
        let labels = query.label_count();
        if labels == 0 || self.table.is_empty() {
            return NameMatch::Absent;
        }
        let node = if labels <= self.max_labels {
            let held = self
                .table
                .get(query.wire())
                .map(|e| Node::from_words(e.words));
            match held {
                Some(node) if node.exact & !FLAG != EMPTY => Some(node),
                // An address's name may also be a wildcard's owner or above other
                // names: the table says that, the fingerprint what it lists itself.
                _ => match self.fingerprinted_exact(query.wire(), labels) {
                    Some(exact) => Some(Node {
                        exact,
                        wild: held.map_or(0, |node| node.wild),
                    }),
                    None => held,
                },
            }
        } else {
            None
        };
        match node.map(|n| decode(n.exact)) {
            Some(Slot::Result(result)) => {
                return NameMatch::Listed {
                    result,
                    skip: 0,
                    address: node.is_some_and(|n| n.is_address()),
                };
            }
            Some(Slot::Excluded) => return existence(node),
            Some(Slot::Empty) | None => {}
        }
        match self.closest_wildcard(query) {
            Some((Slot::Result(result), skip)) => NameMatch::Listed {
                result,
                skip,
                address: false,
            },
            _ => existence(node),
        }
    }

    /// The buckets a lookup of `query` reads, to warm ahead of it (the batch
    /// prefetch): its own, and — since most queries to a list miss — those of the
    /// closest names above it that could own a wildcard, where a miss looks next (at
    /// most [`WILDCARD_PREFETCH`] of them).
    pub(crate) fn buckets<'a>(&'a self, query: NameRef<'a>) -> impl Iterator<Item = usize> + 'a {
        let labels = query.label_count();
        let readable = labels > 0 && !self.table.is_empty();
        let own = (readable && labels <= self.max_labels).then_some(0);
        let wildcards = if readable && self.wild_max_labels > 0 {
            let first_skip = labels.saturating_sub(self.wild_max_labels).max(1);
            let last_skip = labels.saturating_sub(self.wild_min_labels);
            first_skip..(last_skip + 1).min(first_skip + WILDCARD_PREFETCH)
        } else {
            0..0
        };
        own.into_iter()
            .chain(wildcards)
            .map(move |skip| self.table.bucket(query.suffix(skip).wire()))
    }

    pub(crate) fn prefetch(&self, bucket: usize, warm: Warm) {
        self.table.prefetch(bucket, warm);
    }

    /// Where a lookup of `query` reads the addresses kept as fingerprints (a name the
    /// table lacks is looked up there), to warm ahead of it.
    pub(crate) fn fingerprint_key(&self, query: NameRef<'_>) -> Option<(&FingerprintMap, u64)> {
        self.fingerprinted_key(query.wire(), query.label_count())
            .map(|key| (&self.fingerprinted, key))
    }

    fn fingerprinted_key(&self, wire: &[u8], labels: usize) -> Option<u64> {
        (!self.fingerprinted.is_empty() && labels >= self.fingerprinted_min_labels)
            .then(|| fingerprint(wire))
    }

    fn fingerprinted_exact(&self, wire: &[u8], labels: usize) -> Option<u32> {
        self.fingerprinted
            .get(self.fingerprinted_key(wire, labels)?)
    }

    /// The closest wildcard entry (listing or exclusion) above `query`, and how many
    /// labels up it is: the closest one decides.
    fn closest_wildcard(&self, query: NameRef<'_>) -> Option<(Slot, usize)> {
        if self.wild_max_labels == 0 {
            return None;
        }
        let labels = query.label_count();
        let first_skip = labels.saturating_sub(self.wild_max_labels).max(1);
        let last_skip = labels.saturating_sub(self.wild_min_labels);
        (first_skip..=last_skip).find_map(|skip| {
            let parent = self.table.get(query.suffix(skip).wire())?;
            match decode(Node::from_words(parent.words).wild) {
                Slot::Empty => None,
                slot => Some((slot, skip)),
            }
        })
    }
}

impl NameIndex {
    /// The names a standard DNS server needs to answer as this index does (RFC 4592: a
    /// wildcard never answers for a name that exists, nor below it); complete only for
    /// an index built for export (addresses otherwise are fingerprints). Seeds: listed
    /// names, wildcard owners, and excluded names a wildcard above would otherwise
    /// list; then every ancestor of a seed. Each such name repeats what ward answers
    /// for it and, when names below it are listed, carries a wildcard of its own.
    pub(crate) fn export_names(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut in_export = Bitmap::new(self.table.offset_limit());
        for entry in self.table.iter() {
            if !self.is_export_seed(entry.name, EntryState::of(Node::from_words(entry.words))) {
                continue;
            }
            in_export.set(entry.offset);
            let mut child = Name::from_lower_wire(entry.name);
            while let Some(parent) = child.parent().filter(|p| !p.is_root()) {
                let Some(parent_entry) = self.table.get(parent.wire()) else {
                    break;
                };
                if in_export.get(parent_entry.offset) {
                    break;
                }
                in_export.set(parent_entry.offset);
                child = parent;
            }
        }
        self.table
            .iter()
            .filter(move |entry| in_export.get(entry.offset))
            .map(|entry| entry.name)
    }

    /// Whether an export holds `wire` for its own sake (see [`Self::export_names`]).
    pub(crate) fn is_export_seed(&self, wire: &[u8], state: EntryState) -> bool {
        let listed = |slot| matches!(slot, Slot::Result(_));
        listed(state.exact)
            || listed(state.wild)
            || ((state.exact == Slot::Excluded || state.wild == Slot::Excluded)
                && self.covering_wildcard(wire))
    }

    /// Every entry (listed names, wildcard owners, exclusions, and the names above
    /// them) with its state, in no particular order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&[u8], EntryState)> + '_ {
        self.table
            .iter()
            .map(|entry| (entry.name, EntryState::of(Node::from_words(entry.words))))
    }

    /// The entry for `wire`, if the index holds it by name.
    pub(crate) fn entry(&self, wire: &[u8]) -> Option<EntryState> {
        self.table
            .get(wire)
            .map(|entry| EntryState::of(Node::from_words(entry.words)))
    }

    /// Whether some names are held only as fingerprints: such an index cannot be
    /// exported or compared by name.
    pub(crate) fn has_fingerprints(&self) -> bool {
        !self.fingerprinted.is_empty()
    }

    /// Whether a wildcard strictly above `wire` lists it.
    fn covering_wildcard(&self, wire: &[u8]) -> bool {
        let name = super::name::NameBuf::from_name(&Name::from_lower_wire(wire));
        matches!(
            self.closest_wildcard(name.view()),
            Some((Slot::Result(_), _))
        )
    }

    /// What ward answers from this index at `name`: the result, the entry that decides
    /// (the name, or the owner of the wildcard it falls under), and whether that entry
    /// is an email address.
    pub(crate) fn listed_at(&self, name: NameRef<'_>) -> Option<(ResultId, Name, bool)> {
        match self.lookup(name) {
            NameMatch::Listed {
                result,
                skip,
                address,
            } => Some((
                result,
                Name::from_lower_wire(name.suffix(skip).wire()),
                address,
            )),
            _ => None,
        }
    }

    /// What the names directly below `name` that the index does not hold get (the
    /// record set of `*.name` on a secondary): the result and the owner of the wildcard
    /// entry that decides.
    pub(crate) fn below(&self, name: NameRef<'_>) -> Option<(ResultId, Name)> {
        let own = self.table.get(name.wire()).map_or(Slot::Empty, |entry| {
            decode(Node::from_words(entry.words).wild)
        });
        match own {
            Slot::Result(result) => Some((result, Name::from_lower_wire(name.wire()))),
            Slot::Excluded => None,
            Slot::Empty => match self.closest_wildcard(name) {
                Some((Slot::Result(result), skip)) => {
                    Some((result, Name::from_lower_wire(name.suffix(skip).wire())))
                }
                _ => None,
            },
        }
    }
}

/// A 64-bit hash standing for a listed address's name. Against a million listed
/// names, an unlisted query name finds one with probability 2^-44 (the bound of the
/// digests' 64-bit keys); the seed differs from the tables' hash.
fn fingerprint(wire: &[u8]) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = foldhash::quality::FixedState::with_seed(0x6164_6472_6573_7365).build_hasher();
    hasher.write(wire);
    hasher.finish()
}

/// The hashes an address's name is added by ([`NameIndexBuilder::add_address_name`]),
/// made where the name is made: on the cores that prepare a big list's addresses, not
/// on the one thread that adds them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AddressNameHashes {
    fingerprint: u64,
    /// The table's hash of the name one label up.
    parent: u64,
}

impl AddressNameHashes {
    pub(crate) fn of(wire: &[u8]) -> Self {
        AddressNameHashes {
            fingerprint: fingerprint(wire),
            parent: NameHasher.hash(parent_wire(wire).unwrap_or_default()),
        }
    }
}

/// The name one label up (empty for a name of one label).
fn parent_wire(wire: &[u8]) -> Option<&[u8]> {
    wire.get(1 + usize::from(wire.first().copied().unwrap_or(0))..)
}

fn wire_label_count(wire: &[u8]) -> usize {
    let (mut at, mut labels) = (0, 0);
    while at < wire.len() {
        at += 1 + usize::from(wire[at]);
        labels += 1;
    }
    labels
}

/// One bit per arena offset: which entries an export holds.
struct Bitmap(Vec<u64>);

impl Bitmap {
    fn new(bits: usize) -> Self {
        Bitmap(vec![0; bits.div_ceil(64)])
    }
    fn set(&mut self, bit: u32) {
        self.0[bit as usize / 64] |= 1 << (bit % 64);
    }
    fn get(&self, bit: u32) -> bool {
        self.0[bit as usize / 64] & (1 << (bit % 64)) != 0
    }
}

/// Whether an unlisted name exists: an entry lists something strictly below it (its
/// own wildcard, or a name further down). A name with nothing but exclusions at and
/// below it does not exist (NXDOMAIN, as rbldnsd answers).
fn existence(node: Option<Node>) -> NameMatch {
    let below = node.is_some_and(|n| n.has_children() || matches!(decode(n.wild), Slot::Result(_)));
    if below {
        NameMatch::Exists
    } else {
        NameMatch::Absent
    }
}

struct PendingListing {
    slot: u32,
    wild: bool,
    listing: Listing,
}

/// A line's listing of an address's name kept as a fingerprint: 24 bytes, where the
/// name's own place in the table would cost its text, a hash slot and a payload.
#[derive(Clone, Copy)]
struct PendingAddressName {
    fingerprint: u64,
    /// The name one label up, held in the table (as a plain node, which answers
    /// nothing, until a listing below it is known to stand).
    parent: u32,
    labels: u8,
    local_is_one_label: bool,
    listing: Listing,
}

#[derive(Default)]
pub(crate) struct NameIndexBuilder {
    table: NameTable<Node>,
    listings: Vec<PendingListing>,
    /// A name (or wildcard) given on several lines takes the last (the fork's
    /// `dnhash`), instead of every value with exclusions winning (`dnset`).
    last_wins: bool,
    addresses: Vec<u32>,
    /// Whether names made from listed addresses are kept as fingerprints; those names,
    /// until the build decides them.
    fingerprint_addresses: bool,
    fingerprinted: Vec<PendingAddressName>,
    max_labels: usize,
    wild_max_labels: usize,
    wild_min_labels: usize,
}

impl NameIndexBuilder {
    /// A name given on several lines takes its last line, as the rspamd fork's
    /// `dnhash` does: a later value replaces an earlier one or an exclusion, a later
    /// exclusion replaces a listing.
    pub(crate) fn last_line_wins(&mut self) {
        self.last_wins = true;
    }

    /// Keeps the names of listed addresses as fingerprints (see [`fingerprint`]) when
    /// nothing else is at or below them: the index cannot list them by name then.
    pub(crate) fn fingerprint_address_names(&mut self) {
        self.fingerprint_addresses = true;
    }

    /// Adds a name made from a listed address; `one_label` marks the form whose first
    /// label is the whole local part (`$` renders it as `local@domain`).
    pub(crate) fn add_address_name(
        &mut self,
        wire: &[u8],
        hashes: AddressNameHashes,
        one_label: bool,
        listing: Listing,
    ) {
        let labels = wire_label_count(wire);
        match parent_wire(wire).filter(|p| self.fingerprint_addresses && !p.is_empty()) {
            Some(parent) => {
                let parent = self.table.slot_hashed(parent, hashes.parent, Node::default);
                // While the parent is in cache. An exclusion of the same name would
                // undo this; the build then counts the flags again.
                if let Listing::Value(_) = listing {
                    self.mark_listed_below(parent);
                }
                self.max_labels = self.max_labels.max(labels);
                self.fingerprinted.push(PendingAddressName {
                    fingerprint: hashes.fingerprint,
                    parent,
                    labels: u8::try_from(labels).unwrap_or(u8::MAX),
                    local_is_one_label: one_label,
                    listing,
                });
            }
            None => {
                self.add_wire(wire, labels, false, one_label, listing);
            }
        }
    }

    /// Warms, at `step`, what [`Self::add_address_name`] of a name with `hashes` will
    /// read: its parent's lookup, a cache miss per step otherwise (see
    /// [`NameTable::warm`]).
    pub(crate) fn warm_address_name(&self, hashes: AddressNameHashes, step: WarmStep) {
        if self.fingerprint_addresses {
            self.table.warm(hashes.parent, step);
        }
    }

    /// Makes room for about `names` names taking `bytes` in all.
    pub(crate) fn reserve(&mut self, names: usize, bytes: usize) {
        self.table.reserve(names, bytes);
        self.listings.reserve(names);
    }

    /// Adds `name` (a wildcard covers the names below it) with its listing. `address`
    /// marks an email-address entry.
    pub(crate) fn add(&mut self, name: &Name, wild: bool, address: bool, listing: Listing) -> u32 {
        self.add_wire(name.wire(), name.label_count(), wild, address, listing)
    }

    fn add_wire(
        &mut self,
        wire: &[u8],
        labels: usize,
        wild: bool,
        address: bool,
        listing: Listing,
    ) -> u32 {
        let slot = self.table.slot(wire, Node::default);
        self.max_labels = self.max_labels.max(labels);
        if wild {
            self.wild_max_labels = self.wild_max_labels.max(labels);
            self.wild_min_labels = if self.wild_min_labels == 0 {
                labels
            } else {
                self.wild_min_labels.min(labels)
            };
        }
        if address {
            self.addresses.push(slot);
        }
        self.listings.push(PendingListing {
            slot,
            wild,
            listing,
        });
        slot
    }

    /// Combines entries per name (all listings answer and an exclusion beats them, or
    /// the last line decides) and freezes the index. `intern` turns a sorted set of
    /// value ids into a result id.
    pub(crate) fn build(mut self, mut intern: impl FnMut(&[u32]) -> ResultId) -> NameIndex {
        let entries = self.listings.len() + self.fingerprinted.len();
        let fingerprinted = self.join_named_addresses();
        // Stable: within a name, the lines stay in file order.
        self.listings.sort_by_key(|l| (l.slot, l.wild));
        let mut values = Vec::new();
        let mut listed = Vec::new();
        let mut excluded_slots = Vec::new();
        let mut i = 0;
        while i < self.listings.len() {
            let (slot, wild) = (self.listings[i].slot, self.listings[i].wild);
            let mut j = i;
            while j < self.listings.len()
                && self.listings[j].slot == slot
                && self.listings[j].wild == wild
            {
                j += 1;
            }
            let decided = self.decide(
                self.listings[i..j].iter().map(|l| l.listing),
                &mut values,
                &mut intern,
            );
            let node = self.table.payload_mut(slot);
            if wild {
                node.wild = (node.wild & FLAG) | encode(decided);
            } else {
                node.exact = (node.exact & FLAG) | encode(decided);
            }
            if decided == Slot::Excluded {
                excluded_slots.push(slot);
            } else {
                listed.push(slot);
            }
            i = j;
        }
        // An exclusion's ancestors are nodes too (flagged as nothing): an export walks
        // from every entry up to the apex.
        for slot in excluded_slots {
            let mut ancestor = Name::from_lower_wire(self.table.name(slot)).parent();
            while let Some(parent) = ancestor.filter(|p| !p.is_root()) {
                self.table.slot(parent.wire(), Node::default);
                ancestor = parent.parent();
            }
        }
        // Names exist above what is listed (empty non-terminals), never above what is
        // only excluded.
        listed.sort_unstable();
        listed.dedup();
        for &slot in &listed {
            if let Some(parent) = self.parent_slot(slot) {
                self.mark_listed_below(parent);
            }
        }
        for slot in std::mem::take(&mut self.addresses) {
            self.table.payload_mut(slot).exact |= FLAG;
        }
        let mut fingerprints = Vec::with_capacity(fingerprinted.len());
        let mut fingerprinted_min_labels = usize::MAX;
        let mut marked_above_excluded = false;
        for group in fingerprinted.chunk_by(|a, b| a.fingerprint == b.fingerprint) {
            let decided = self.decide(group.iter().map(|p| p.listing), &mut values, &mut intern);
            let address = group.iter().any(|p| p.local_is_one_label);
            fingerprints.push((
                group[0].fingerprint,
                encode(decided) | if address { FLAG } else { 0 },
            ));
            fingerprinted_min_labels = fingerprinted_min_labels.min(usize::from(group[0].labels));
            marked_above_excluded |= decided == Slot::Excluded
                && group.iter().any(|p| matches!(p.listing, Listing::Value(_)));
        }
        if marked_above_excluded {
            self.mark_again(&listed, &fingerprinted, &fingerprints);
        }
        drop(fingerprinted);
        drop(self.listings);
        self.table.forget_index();
        NameIndex {
            table: PackedNames::pack(&self.table, |_, node| Some([node.exact, node.wild])),
            fingerprinted: FingerprintMap::build(fingerprints),
            fingerprinted_min_labels,
            max_labels: self.max_labels,
            wild_max_labels: self.wild_max_labels,
            wild_min_labels: self.wild_min_labels,
            entries,
        }
    }

    /// What the lines of one name (or wildcard) say together: every listing answers
    /// and an exclusion beats them, or the last line decides.
    fn decide(
        &self,
        listings: impl Iterator<Item = Listing>,
        values: &mut Vec<u32>,
        intern: &mut impl FnMut(&[u32]) -> ResultId,
    ) -> Slot {
        values.clear();
        let mut excluded = false;
        for listing in listings {
            if self.last_wins {
                values.clear();
                excluded = false;
            }
            match listing {
                Listing::Value(v) => values.push(v),
                Listing::Excluded => excluded = true,
            }
        }
        if excluded {
            Slot::Excluded
        } else {
            values.sort_unstable();
            values.dedup();
            Slot::Result(intern(values))
        }
    }

    /// The fingerprinted address names, sorted; those that are also a domain entry's
    /// name join that entry in the table instead, to answer together as one name.
    fn join_named_addresses(&mut self) -> Vec<PendingAddressName> {
        let mut fingerprinted = std::mem::take(&mut self.fingerprinted);
        // Stable: the lines of one name stay in file order (the last may win).
        sort_by_fingerprint(&mut fingerprinted, |p| p.fingerprint);
        if fingerprinted.is_empty() {
            return fingerprinted;
        }
        let mut named: Vec<(u64, u32)> = self
            .listings
            .iter()
            .filter(|l| !l.wild)
            .map(|l| (fingerprint(self.table.name(l.slot)), l.slot))
            .collect();
        if named.is_empty() {
            return fingerprinted;
        }
        named.sort_unstable();
        named.dedup();
        let mut named = named.into_iter().peekable();
        let mut kept = Vec::with_capacity(fingerprinted.len());
        for address in fingerprinted {
            while named.next_if(|&(f, _)| f < address.fingerprint).is_some() {}
            match named.peek() {
                Some(&(f, slot)) if f == address.fingerprint => {
                    self.listings.push(PendingListing {
                        slot,
                        wild: false,
                        listing: address.listing,
                    });
                    if address.local_is_one_label {
                        self.addresses.push(slot);
                    }
                }
                _ => kept.push(address),
            }
        }
        kept
    }

    /// Sets the listed-below flags from scratch: an address name was marked when its
    /// line was added, and a later exclusion decided it is not listed.
    fn mark_again(
        &mut self,
        listed: &[u32],
        fingerprinted: &[PendingAddressName],
        decided: &[(u64, u32)],
    ) {
        for slot in 0..self.table.len() as u32 {
            self.table.payload_mut(slot).wild &= !FLAG;
        }
        for &slot in listed {
            if let Some(parent) = self.parent_slot(slot) {
                self.mark_listed_below(parent);
            }
        }
        let groups = fingerprinted.chunk_by(|a, b| a.fingerprint == b.fingerprint);
        for (group, &(_, exact)) in groups.zip(decided) {
            if decode(exact) != Slot::Excluded {
                self.mark_listed_below(group[0].parent);
            }
        }
    }

    /// The slot of the name one label up (made if new), for any name but a TLD. Called
    /// for every listed name of a load: the parent is copied on the stack, not boxed.
    fn parent_slot(&mut self, slot: u32) -> Option<u32> {
        let parent = parent_wire(self.table.name(slot)).filter(|p| !p.is_empty())?;
        let mut copy = [0u8; MAX_NAME_WIRE];
        let len = parent.len();
        copy[..len].copy_from_slice(parent);
        Some(self.table.slot(&copy[..len], Node::default))
    }

    /// Marks `slot` and the names above it as having a listed name below them (they
    /// exist: empty non-terminals answer NODATA, not NXDOMAIN).
    fn mark_listed_below(&mut self, mut slot: u32) {
        loop {
            let node = self.table.payload_mut(slot);
            if node.has_children() {
                break;
            }
            node.wild |= FLAG;
            match self.parent_slot(slot) {
                Some(parent) => slot = parent,
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::name::NameBuf;

    fn index(entries: &[(&str, Listing)]) -> NameIndex {
        let mut builder = NameIndexBuilder::default();
        for &(text, listing) in entries {
            let (wild, text) = match text.strip_prefix("*.") {
                Some(rest) => (true, rest),
                None => (false, text),
            };
            builder.add(&Name::parse(text).unwrap(), wild, false, listing);
        }
        let mut sets: Vec<Vec<u32>> = Vec::new();
        builder.build(|v| {
            sets.iter().position(|s| s == v).unwrap_or_else(|| {
                sets.push(v.to_vec());
                sets.len() - 1
            }) as u32
        })
    }

    fn lookup(index: &NameIndex, text: &str) -> NameMatch {
        let buf = NameBuf::from_name(&Name::parse(text).unwrap());
        index.lookup(buf.view())
    }

    /// The batch prefetch warms what a miss reads next: the closest names above the
    /// query that could own a wildcard, nearest first, two at most.
    #[test]
    fn prefetch_warms_the_names_a_miss_reads_next() {
        let index = index(&[
            ("*.example.com", Listing::Value(1)),
            ("*.mail.example.net", Listing::Value(1)),
        ]);
        let buckets = |text: &str| {
            let buf = NameBuf::from_name(&Name::parse(text).unwrap());
            index.buckets(buf.view()).collect::<Vec<_>>()
        };
        let bucket = |text: &str| index.table.bucket(Name::parse(text).unwrap().wire());
        // Wildcard owners have 2 to 3 labels: `a.b.example.com` reads itself (4
        // labels, deeper than any name held: no), then `b.example.com`, `example.com`.
        assert_eq!(
            buckets("a.b.example.com"),
            vec![bucket("b.example.com"), bucket("example.com")]
        );
        assert_eq!(
            buckets("host.example.com"),
            vec![bucket("host.example.com"), bucket("example.com")]
        );
        // Above a one-label query is no name of two labels or more to look at.
        assert_eq!(buckets("com"), vec![bucket("com")]);
    }

    /// Regression for fingerprinted address names: their parents were marked as
    /// having a listed name below while the lines were read, and a later exclusion of
    /// the same address must take that back (NXDOMAIN above it, as in a whole index).
    #[test]
    fn an_address_listed_then_excluded_leaves_no_name_above_it() {
        for fingerprints in [false, true] {
            let mut builder = NameIndexBuilder::default();
            if fingerprints {
                builder.fingerprint_address_names();
            }
            let add = |builder: &mut NameIndexBuilder, text: &str, one_label, listing| {
                let wire = Name::parse(text).unwrap().wire().to_vec();
                let hashes = AddressNameHashes::of(&wire);
                builder.add_address_name(&wire, hashes, one_label, listing);
            };
            add(&mut builder, "user.example.org", true, Listing::Value(0));
            add(&mut builder, "user.example.org", true, Listing::Excluded);
            add(&mut builder, "kept.other.org", true, Listing::Value(0));
            builder.add(
                &Name::parse("example.net").unwrap(),
                true,
                false,
                Listing::Value(0),
            );
            add(&mut builder, "example.net", false, Listing::Value(0));
            let index = builder.build(|_| 0);
            assert_eq!(index.has_fingerprints(), fingerprints);
            assert_eq!(lookup(&index, "user.example.org"), NameMatch::Absent);
            assert_eq!(lookup(&index, "example.org"), NameMatch::Absent);
            assert_eq!(lookup(&index, "other.org"), NameMatch::Exists);
            assert_eq!(lookup(&index, "org"), NameMatch::Exists);
            let address = NameMatch::Listed {
                result: 0,
                skip: 0,
                address: true,
            };
            assert_eq!(lookup(&index, "kept.other.org"), address);
            // An address's name that is also a wildcard's owner: the address answers
            // at the name, the wildcard below it.
            assert_eq!(lookup(&index, "example.net"), listed(0));
            assert_eq!(lookup(&index, "a.example.net"), listed(1));
        }
    }

    fn listed(skip: usize) -> NameMatch {
        NameMatch::Listed {
            result: 0,
            skip,
            address: false,
        }
    }

    #[test]
    fn exact_wildcard_and_exclusions() {
        use Listing::*;
        let index = index(&[
            ("spam.example", Value(1)),
            ("*.wild.example", Value(1)),
            ("ok.wild.example", Excluded),
            ("*.y.wild.example", Excluded),
            ("x.y.wild.example", Value(1)),
        ]);
        assert_eq!(lookup(&index, "spam.example"), listed(0));
        assert_eq!(lookup(&index, "a.spam.example"), NameMatch::Absent);
        assert_eq!(lookup(&index, "a.wild.example"), listed(1));
        assert_eq!(lookup(&index, "b.a.wild.example"), listed(2));
        assert_eq!(lookup(&index, "ok.wild.example"), NameMatch::Absent);
        assert_eq!(lookup(&index, "a.ok.wild.example"), listed(2));
        assert_eq!(lookup(&index, "q.y.wild.example"), NameMatch::Absent);
        assert_eq!(lookup(&index, "x.y.wild.example"), listed(0));
        assert_eq!(lookup(&index, "wild.example"), NameMatch::Exists);
        assert_eq!(lookup(&index, "example"), NameMatch::Exists);
        assert_eq!(lookup(&index, "other.test"), NameMatch::Absent);
    }

    /// Regression: a name covered only by exclusions answered NODATA (it "existed");
    /// nothing is listed at or below it, so it does not exist, as rbldnsd says.
    #[test]
    fn names_that_exist_only_as_exclusions_do_not_exist() {
        use Listing::*;
        let names = index(&[
            ("example", Value(1)),
            ("*.example", Value(1)),
            ("sub.example", Excluded),
            ("*.sub.example", Excluded),
            ("only.sub.example", Excluded),
            ("other.example", Excluded),
        ]);
        assert_eq!(lookup(&names, "sub.example"), NameMatch::Absent);
        assert_eq!(lookup(&names, "x.sub.example"), NameMatch::Absent);
        assert_eq!(lookup(&names, "only.sub.example"), NameMatch::Absent);
        // Excluded itself, the names below it listed by `*.example`: as before, and as
        // rbldnsd answers, the excluded name itself does not exist.
        assert_eq!(lookup(&names, "other.example"), NameMatch::Absent);
        assert_eq!(lookup(&names, "a.other.example"), listed(2));
        assert_eq!(lookup(&names, "example"), listed(0));
        // An exclusion alone makes no empty non-terminals above it either.
        let lone = index(&[("a.b.test", Excluded)]);
        assert_eq!(lookup(&lone, "b.test"), NameMatch::Absent);
        assert_eq!(lookup(&lone, "test"), NameMatch::Absent);
        let listed_deep = index(&[("a.b.test", Value(1))]);
        assert_eq!(lookup(&listed_deep, "b.test"), NameMatch::Exists);
        assert_eq!(lookup(&listed_deep, "test"), NameMatch::Exists);
    }

    #[test]
    fn with_last_line_wins_a_later_line_replaces_an_earlier_one() {
        use Listing::*;
        let build = |entries: &[(&str, Listing)]| {
            let mut builder = NameIndexBuilder::default();
            builder.last_line_wins();
            for &(text, listing) in entries {
                builder.add(&Name::parse(text).unwrap(), false, false, listing);
            }
            builder.build(|v| v[0])
        };
        let later_value = build(&[("x.tld", Value(1)), ("x.tld", Value(2))]);
        assert!(matches!(
            lookup(&later_value, "x.tld"),
            NameMatch::Listed { result: 2, .. }
        ));
        let relisted = build(&[("y.tld", Excluded), ("y.tld", Value(3))]);
        assert!(matches!(
            lookup(&relisted, "y.tld"),
            NameMatch::Listed { result: 3, .. }
        ));
        let unlisted = build(&[("z.tld", Value(3)), ("z.tld", Excluded)]);
        assert_eq!(lookup(&unlisted, "z.tld"), NameMatch::Absent);
    }

    #[test]
    fn exclusion_beats_listing_of_same_name() {
        let index = index(&[
            ("a.example", Listing::Value(1)),
            ("a.example", Listing::Excluded),
        ]);
        assert_eq!(lookup(&index, "a.example"), NameMatch::Absent);
    }
}
