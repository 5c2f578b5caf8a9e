//! Email addresses: the normalisation mail filters apply before hashing, the digests,
//! and the index of hashed entries (`<hex>.Z`, `<hex>._email.Z`).

use std::sync::{Arc, Mutex, PoisonError};

use md5::Md5;
use sha1::{Digest, Sha1};
use sha2::Sha256;
use smallvec::SmallVec;

use super::fingerprints::{FingerprintMap, sort_by_fingerprint};
use super::ip::{Listing, ResultId};
use super::md5_lanes;
use super::name::{Name, NameBuf, NameRef};
use super::name_index::AddressNameHashes;
use crate::parallel::SharedWork;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum DigestKind {
    Md5,
    Sha1,
    Sha256,
}

impl DigestKind {
    pub(crate) const ALL: [DigestKind; 3] = [DigestKind::Md5, DigestKind::Sha1, DigestKind::Sha256];

    pub(crate) fn name(self) -> &'static str {
        match self {
            DigestKind::Md5 => "md5",
            DigestKind::Sha1 => "sha1",
            DigestKind::Sha256 => "sha256",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        DigestKind::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(name))
    }

    /// Digest length in bytes.
    pub(crate) fn digest_len(self) -> usize {
        match self {
            DigestKind::Md5 => 16,
            DigestKind::Sha1 => 20,
            DigestKind::Sha256 => 32,
        }
    }

    /// How the digest is written in a query name: whole for md5 and sha1, the first
    /// 32 hex digits for sha256.
    pub(crate) fn query_label(self, digest: &[u8]) -> String {
        let hex = hex::encode(digest);
        match self {
            DigestKind::Sha256 => hex[..32].to_string(),
            _ => hex,
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// On the stack: a million-address list computes three million of these.
    pub(crate) fn digest(self, data: &[u8]) -> SmallVec<[u8; 32]> {
        match self {
            DigestKind::Md5 => SmallVec::from_slice(&Md5::digest(data)),
            DigestKind::Sha1 => SmallVec::from_slice(&Sha1::digest(data)),
            DigestKind::Sha256 => SmallVec::from_slice(&Sha256::digest(data)),
        }
    }
}

/// Splits `local@domain` at the last `@`; both parts must be non-empty.
pub(crate) fn split_address(address: &str) -> Option<(&str, &str)> {
    let (local, domain) = address.rsplit_once('@')?;
    (!local.is_empty() && !domain.is_empty()).then_some((local, domain))
}

/// The form filters hash: lowercase, without a `+tag`, and for Gmail without dots in
/// the local part and with `googlemail.com` read as `gmail.com` (what rspamd does, and
/// what Spamhaus' HBL expects).
pub fn normalise(address: &str) -> Option<String> {
    let lower = address.to_ascii_lowercase();
    let (local, domain) = split_address(&lower)?;
    let local = local.split_once('+').map_or(local, |(base, _)| base);
    let (local, domain) = if domain == "gmail.com" || domain == "googlemail.com" {
        (local.replace('.', ""), "gmail.com")
    } else {
        (local.to_string(), domain)
    };
    if local.is_empty() {
        return None;
    }
    Some(format!("{local}@{domain}"))
}

/// A plain (unhashed) query name for an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlainName {
    pub(crate) name: Name,
    /// The local part is the first label (`$` renders `local@domain`); otherwise the
    /// local part's dots were label separators and `$` renders the name.
    pub(crate) local_is_one_label: bool,
}

/// The plain names `address` is asked for: as written (the local part one label,
/// lowercased), normalised as for hashing (rspamd normalises before its plain lookup
/// too), and with the local part's dots as label separators (rspamd builds the name by
/// joining strings, so `first.last@example.org` arrives as four labels).
pub(crate) fn plain_names(address: &str, normalised: bool) -> Vec<PlainName> {
    plain_names_of(&address_forms(address, normalised))
}

/// The forms of `address` that are listed: lowercased, and normalised (when asked and
/// different).
pub(crate) fn address_forms(address: &str, normalised: bool) -> SmallVec<[String; 2]> {
    let lower = address.to_ascii_lowercase();
    let normal = normalised
        .then(|| normalise(&lower))
        .flatten()
        .filter(|form| *form != lower);
    let mut forms = SmallVec::new();
    forms.push(lower);
    forms.extend(normal);
    forms
}

/// [`plain_names`] of forms already made by [`address_forms`].
pub(crate) fn plain_names_of(forms: &[String]) -> Vec<PlainName> {
    let mut names: Vec<PlainName> = Vec::new();
    for form in forms {
        let Some((local, domain)) = split_address(form) else {
            continue;
        };
        let Ok(domain) = Name::parse(domain) else {
            continue;
        };
        let one_label = Name::from_labels([local.as_bytes()]).and_then(|l| l.join(&domain));
        let split = Name::parse(local).and_then(|l| l.join(&domain));
        for (name, local_is_one_label) in [(one_label, true), (split, false)] {
            if let Ok(name) = name
                && !names.iter().any(|n| n.name == name)
            {
                names.push(PlainName {
                    name,
                    local_is_one_label,
                });
            }
        }
    }
    names
}

/// The names and digests of a batch of listed addresses, in the shape the builders
/// take them. Six digests and two names an address are most of what loading a big
/// address list costs, and no address needs another's: batches are prepared on every
/// core while the parse goes on, down to the hashes the index keys them by, so that
/// adding them to the builders is little more than copying.
#[derive(Default)]
pub(crate) struct PreparedAddresses {
    pub(crate) names: Vec<PreparedName>,
    /// Per digest kind, each digest's key ([`key`]) and the listing of its address.
    pub(crate) keys: [Vec<Keyed>; 3],
    /// Whole digests, made only when the zone keeps them (it is exported or
    /// transferred).
    pub(crate) full: Vec<(DigestKind, Box<[u8]>)>,
    wires: Vec<u8>,
}

/// A plain name of a listed address.
pub(crate) struct PreparedName {
    pub(crate) listing: Listing,
    pub(crate) local_is_one_label: bool,
    pub(crate) hashes: AddressNameHashes,
    wire: std::ops::Range<usize>,
}

impl PreparedAddresses {
    /// Every plain name and digest `addresses` are asked for (see [`plain_names`]),
    /// each with its address's listing; whole digests too when `full_digests`.
    pub(crate) fn of<'a>(
        addresses: impl Iterator<Item = (&'a str, Listing)>,
        normalised: bool,
        full_digests: bool,
    ) -> Self {
        let mut prepared = PreparedAddresses::default();
        let mut forms = FormBuffers::default();
        let mut name = NameBuf::default();
        let mut md5s = PendingMd5s::default();
        for (text, listing) in addresses {
            let first_name = prepared.names.len();
            forms.fill(text, normalised);
            if forms.iter().all(is_plain_form) {
                for form in forms.iter() {
                    prepared.push_plain_names(first_name, listing, form, &mut name);
                }
            } else {
                // Escapes and stray dots: the name parser reads those.
                let owned: Vec<String> = forms
                    .iter()
                    .map(|form| String::from_utf8_lossy(form).into_owned())
                    .collect();
                for plain in plain_names_of(&owned) {
                    prepared.push_name(
                        first_name,
                        listing,
                        plain.name.wire(),
                        plain.local_is_one_label,
                    );
                }
            }
            for form in forms.iter() {
                for kind in [DigestKind::Sha1, DigestKind::Sha256] {
                    prepared.push_digest(kind, &kind.digest(form), listing, full_digests);
                }
                if form.len() <= md5_lanes::MAX_SHORT {
                    md5s.push(form, listing);
                    if md5s.is_full() {
                        md5s.hash_into(&mut prepared, full_digests);
                    }
                } else {
                    let md5 = DigestKind::Md5.digest(form);
                    prepared.push_digest(DigestKind::Md5, &md5, listing, full_digests);
                }
            }
        }
        md5s.hash_into(&mut prepared, full_digests);
        prepared
    }

    fn push_digest(&mut self, kind: DigestKind, digest: &[u8], listing: Listing, full: bool) {
        self.keys[kind.index()].push((key(digest), code(listing)));
        if full {
            self.full.push((kind, digest.into()));
        }
    }

    /// The name in wire format (lowercase).
    pub(crate) fn wire(&self, name: &PreparedName) -> &[u8] {
        &self.wires[name.wire.clone()]
    }

    /// [`plain_names_of`] for a form [`is_plain_form`] accepts, without allocating (forms
    /// are lowercase already).
    fn push_plain_names(
        &mut self,
        first_name: usize,
        listing: Listing,
        form: &[u8],
        name: &mut NameBuf,
    ) {
        let Some((local, domain)) = split_address_bytes(form) else {
            return;
        };
        for one_label in [true, false] {
            name.clear();
            let local = if one_label {
                name.push_lower_label(local)
            } else {
                dot_labels(local).try_for_each(|label| name.push_lower_label(label))
            };
            let built = local.and_then(|()| {
                dot_labels(domain).try_for_each(|label| name.push_lower_label(label))
            });
            if built.is_ok() {
                self.push_name(first_name, listing, name.view().wire(), one_label);
            }
        }
    }

    /// Adds a name of the address whose names start at `first_name`, unless the
    /// address already has it.
    fn push_name(
        &mut self,
        first_name: usize,
        listing: Listing,
        wire: &[u8],
        local_is_one_label: bool,
    ) {
        let own = &self.names[first_name..];
        if own.iter().any(|n| &self.wires[n.wire.clone()] == wire) {
            return;
        }
        let start = self.wires.len();
        self.wires.extend_from_slice(wire);
        self.names.push(PreparedName {
            listing,
            local_is_one_label,
            hashes: AddressNameHashes::of(wire),
            wire: start..self.wires.len(),
        });
    }
}

/// Forms waiting to be hashed with MD5 together ([`md5_lanes`]), with their listings.
struct PendingMd5s {
    text: [[u8; md5_lanes::MAX_SHORT]; md5_lanes::LANES],
    lens: [usize; md5_lanes::LANES],
    listings: [Listing; md5_lanes::LANES],
    count: usize,
}

impl Default for PendingMd5s {
    fn default() -> Self {
        PendingMd5s {
            text: [[0; md5_lanes::MAX_SHORT]; md5_lanes::LANES],
            lens: [0; md5_lanes::LANES],
            listings: [Listing::Excluded; md5_lanes::LANES],
            count: 0,
        }
    }
}

impl PendingMd5s {
    /// `form` must be at most [`md5_lanes::MAX_SHORT`] bytes.
    fn push(&mut self, form: &[u8], listing: Listing) {
        self.text[self.count][..form.len()].copy_from_slice(form);
        self.lens[self.count] = form.len();
        self.listings[self.count] = listing;
        self.count += 1;
    }

    fn is_full(&self) -> bool {
        self.count == md5_lanes::LANES
    }

    fn hash_into(&mut self, prepared: &mut PreparedAddresses, full: bool) {
        if self.count == 0 {
            return;
        }
        let mut messages: [&[u8]; md5_lanes::LANES] = [&[]; md5_lanes::LANES];
        for (message, (text, &len)) in messages.iter_mut().zip(self.text.iter().zip(&self.lens)) {
            *message = &text[..len];
        }
        let digests = md5_lanes::md5_short(&messages[..self.count]);
        for (digest, &listing) in digests.iter().zip(&self.listings[..self.count]) {
            prepared.push_digest(DigestKind::Md5, digest, listing, full);
        }
        self.count = 0;
    }
}

/// A form whose names need no name parser: `local@domain` without escapes, with no
/// empty label on either side of the `@`. (A form with no `@` has no names at all.)
fn is_plain_form(form: &[u8]) -> bool {
    let Some((local, domain)) = split_address_bytes(form) else {
        return true;
    };
    // One pass a part: a backslash, or an empty label (a dot first, last or twice).
    let plain = |part: &[u8]| {
        let mut after_dot = true;
        for &byte in part {
            match byte {
                b'\\' => return false,
                b'.' if after_dot => return false,
                _ => after_dot = byte == b'.',
            }
        }
        !after_dot
    };
    plain(local) && plain(domain)
}

fn dot_labels(part: &[u8]) -> impl Iterator<Item = &[u8]> {
    part.split(|&b| b == b'.')
}

fn split_address_bytes(address: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = address.iter().rposition(|&b| b == b'@')?;
    let (local, domain) = (&address[..at], &address[at + 1..]);
    (!local.is_empty() && !domain.is_empty()).then_some((local, domain))
}

/// The forms of one address ([`address_forms`]) in buffers kept from address to
/// address.
#[derive(Default)]
struct FormBuffers {
    lower: Vec<u8>,
    normal: Vec<u8>,
    has_normal: bool,
}

impl FormBuffers {
    fn fill(&mut self, address: &str, normalised: bool) {
        self.lower.clear();
        self.lower.extend_from_slice(address.as_bytes());
        self.lower.make_ascii_lowercase();
        self.normal.clear();
        self.has_normal = normalised && self.fill_normal() && self.normal != self.lower;
    }

    /// [`normalise`] of the lowercase form into `normal`; false when there is none or
    /// it is plainly the lowercase form itself (no `+tag`, not Gmail).
    fn fill_normal(&mut self) -> bool {
        let Some((local, domain)) = split_address_bytes(&self.lower) else {
            return false;
        };
        let plus = local.iter().position(|&b| b == b'+');
        let gmail = domain == b"gmail.com" || domain == b"googlemail.com";
        if plus.is_none() && !gmail {
            // Most addresses: the normal form is the lowercase one.
            return false;
        }
        let local = plus.map_or(local, |plus| &local[..plus]);
        if gmail {
            self.normal.extend(local.iter().filter(|&&b| b != b'.'));
            if self.normal.is_empty() {
                return false;
            }
            self.normal.extend_from_slice(b"@gmail.com");
        } else {
            if local.is_empty() {
                return false;
            }
            self.normal.extend_from_slice(local);
            self.normal.push(b'@');
            self.normal.extend_from_slice(domain);
        }
        true
    }

    fn iter(&self) -> impl Iterator<Item = &[u8]> {
        std::iter::once(&self.lower[..]).chain(self.has_normal.then_some(&self.normal[..]))
    }
}

/// Digests are keyed by their first 8 bytes: against a million listed addresses a
/// random query collides with probability 2^-44, the index costs about 7.3 bytes an
/// address and digest kind, and a sha256 cut to fit a DNS label still carries them.
fn key(digest: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(bytes)
}

/// Hashed addresses, per digest kind (digests spread evenly, so their top 16 bits
/// bucket them well).
#[derive(Default)]
pub(crate) struct DigestIndex {
    maps: [FingerprintMap; 3],
    /// Whole digests, kept only for zones that are exported or transferred (the maps
    /// key only their first 8 bytes; a secondary needs the names in full).
    /// With the result each answers with, so that walking them needs no map lookups.
    full: Vec<(DigestKind, Box<[u8]>, ResultId)>,
}

impl DigestIndex {
    pub(crate) fn is_empty(&self) -> bool {
        self.maps.iter().all(FingerprintMap::is_empty)
    }

    /// Every whole digest kept (see [`DigestIndexBuilder::keep_full`]) and the result
    /// it answers with, in digest order.
    pub(crate) fn full_digests(&self) -> impl Iterator<Item = (DigestKind, &[u8], ResultId)> + '_ {
        self.full
            .iter()
            .map(|(kind, digest, result)| (*kind, &digest[..], *result))
    }

    /// The whole digests kept whose query label is `label`'s bytes (16 of them: an md5,
    /// or a sha256 by its first half; 20: a sha1), with their results.
    pub(crate) fn with_label<'a>(
        &'a self,
        label: &'a [u8],
    ) -> impl Iterator<Item = (DigestKind, &'a [u8], ResultId)> + 'a {
        let kinds: &[DigestKind] = match label.len() {
            16 => &[DigestKind::Md5, DigestKind::Sha256],
            20 => &[DigestKind::Sha1],
            _ => &[],
        };
        kinds.iter().flat_map(move |&kind| {
            let from = self
                .full
                .partition_point(|(k, digest, _)| (*k, &digest[..]) < (kind, label));
            self.full[from..]
                .iter()
                .take_while(move |(k, digest, _)| *k == kind && digest.starts_with(label))
                .map(|(k, digest, result)| (*k, &digest[..], *result))
        })
    }

    /// `<hex>` or `<hex>._email`: an md5 (32 hex digits) or sha1 (40) digest, or a
    /// sha256 cut to 32-63 digits — whole it is 64, one more than a DNS label holds
    /// (rspamd: `hash_len`). Any case.
    pub(crate) fn lookup(&self, name: NameRef<'_>) -> Option<ResultId> {
        let (key, digits) = Self::key_of(name)?;
        self.maps_for(digits).find_map(|map| map.get(key))
    }

    /// The maps a lookup of `name` reads, in order, and the key: to warm ahead of it.
    pub(crate) fn prefetch_keys(
        &self,
        name: NameRef<'_>,
    ) -> impl Iterator<Item = (&FingerprintMap, u64)> {
        Self::key_of(name)
            .into_iter()
            .flat_map(|(key, digits)| self.maps_for(digits).map(move |map| (map, key)))
    }

    /// The fingerprint a digest name is looked up by (its first 8 bytes) and its
    /// number of hex digits.
    fn key_of(name: NameRef<'_>) -> Option<(u64, usize)> {
        match name.label_count() {
            1 => {}
            2 if name.label(1) == b"_email" => {}
            _ => return None,
        }
        let hex_label = name.label(0);
        // Without an early exit the check has no branch per digit to mispredict (a
        // digest's digits and letters are random) and is done in vector registers.
        let all_hex = hex_label
            .iter()
            .fold(true, |all, byte| all & byte.is_ascii_hexdigit());
        if hex_label.len() < 32 || !all_hex {
            return None;
        }
        let mut prefix = [0u8; 8];
        hex::decode_to_slice(&hex_label[..16], &mut prefix).ok()?;
        Some((u64::from_be_bytes(prefix), hex_label.len()))
    }

    /// A digest of `digits` hex digits is an md5 (32) or a sha1 (40) whole, else a
    /// sha256 cut short; a 32-digit one that is no md5 may be a cut sha256 too.
    fn maps_for(&self, digits: usize) -> impl Iterator<Item = &FingerprintMap> {
        let exact = match digits {
            32 => Some(DigestKind::Md5),
            40 => Some(DigestKind::Sha1),
            _ => None,
        };
        exact
            .into_iter()
            .chain([DigestKind::Sha256])
            .map(|kind| &self.maps[kind.index()])
    }
}

#[derive(Default)]
pub(crate) struct DigestIndexBuilder {
    listings: [Vec<Keyed>; 3],
    full: Option<Vec<(DigestKind, Box<[u8]>)>>,
}

impl DigestIndexBuilder {
    /// Keeps whole digests too, for exporting the zone.
    pub(crate) fn keep_full(&mut self) {
        self.full.get_or_insert_with(Vec::new);
    }

    pub(crate) fn add(&mut self, kind: DigestKind, digest: &[u8], listing: Listing) {
        self.listings[kind.index()].push((key(digest), code(listing)));
        if let Some(full) = &mut self.full {
            full.push((kind, digest.into()));
        }
    }

    /// Whether whole digests are kept: then [`Self::add_prepared`] needs them made.
    pub(crate) fn keeps_full(&self) -> bool {
        self.full.is_some()
    }

    /// Adds digests prepared elsewhere ([`PreparedAddresses`]), taking their keys.
    pub(crate) fn add_prepared(&mut self, prepared: &mut PreparedAddresses) {
        for (listings, keys) in self.listings.iter_mut().zip(&prepared.keys) {
            listings.extend_from_slice(keys);
        }
        if let Some(full) = &mut self.full {
            full.append(&mut prepared.full);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.listings.iter().map(Vec::len).sum()
    }

    /// All listings of one digest answer together; an exclusion beats them.
    pub(crate) fn build(mut self, mut intern: impl FnMut(&[u32]) -> ResultId) -> DigestIndex {
        let full = self.full.take();
        let maps = std::mem::take(&mut self.listings).map(|mut listings| {
            sort_by_fingerprint(&mut listings, |&(key, _)| key);
            build_map(listings, &mut intern)
        });
        with_full(maps, full)
    }

    /// [`Self::build`] while `meanwhile` (the names' build) runs: each kind's map is
    /// built by whichever thread is free, another thread starting at once and this one
    /// joining once `meanwhile` is done. The result of a digest's one value comes from
    /// `singles` (interned beforehand,
    /// [`ValueTableBuilder::single_results`](super::value::ValueTableBuilder)); a kind
    /// with a digest listed with several values (rare) needs the dataset's interner,
    /// and is left to [`DigestParts::finish`].
    pub(crate) fn build_beside<T>(
        mut self,
        singles: &[ResultId],
        meanwhile: impl FnOnce() -> T,
    ) -> (DigestParts, T) {
        let full = self.full.take();
        let kinds = SharedKinds {
            listings: std::mem::take(&mut self.listings).map(Mutex::new),
            singles,
        };
        let work = Arc::new(SharedWork::new(
            kinds,
            DigestKind::ALL.len(),
            SharedKinds::build,
        ));
        let (results, done) = std::thread::scope(|scope| {
            let helper = work.clone();
            let _ = std::thread::Builder::new()
                .name("ward-digests".into())
                .spawn_scoped(scope, move || helper.work());
            let done = meanwhile();
            (work.finish().0, done)
        });
        let mut maps = results
            .into_iter()
            .map(|built| built.unwrap_or_else(|panicked| std::panic::panic_any(panicked.0)));
        let maps = [(); 3].map(|()| maps.next().unwrap_or(Err(Vec::new())));
        (DigestParts { maps, full }, done)
    }
}

/// The listings of each kind, for [`DigestIndexBuilder::build_beside`]'s threads.
struct SharedKinds<'a> {
    listings: [Mutex<Vec<Keyed>>; 3],
    singles: &'a [ResultId],
}

impl SharedKinds<'_> {
    /// Kind `kind`'s map, or its sorted listings when one needs the interner.
    fn build(&self, kind: usize) -> Result<FingerprintMap, Vec<Keyed>> {
        let mut listings = std::mem::take(
            &mut *self.listings[kind]
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        sort_by_fingerprint(&mut listings, |&(key, _)| key);
        let single = |set: &[u32]| match set {
            [value] => self.singles.get(*value as usize).copied(),
            _ => None,
        };
        // Checked before the map is built over the listings in place, in one pass: a
        // digest listed with two values (beside each other once sorted) needs the
        // interner, unless it is also excluded, which this leaves to the interner too.
        let resolvable = listings.windows(2).all(|pair| {
            let [(key, coded), (next_key, next_coded)] = [pair[0], pair[1]];
            key != next_key || coded == next_coded || coded == EXCLUDED || next_coded == EXCLUDED
        }) && listings
            .iter()
            .all(|&(_, coded)| coded == EXCLUDED || single(&[coded]).is_some());
        if !resolvable {
            return Err(listings);
        }
        Ok(build_map(listings, |set| single(set).unwrap_or_default()))
    }
}

/// A digest index built apart, less any kind that needs the dataset's interner.
pub(crate) struct DigestParts {
    maps: [Result<FingerprintMap, Vec<Keyed>>; 3],
    full: Option<Vec<(DigestKind, Box<[u8]>)>>,
}

impl DigestParts {
    pub(crate) fn finish(self, mut intern: impl FnMut(&[u32]) -> ResultId) -> DigestIndex {
        let maps = self
            .maps
            .map(|built| built.unwrap_or_else(|sorted| build_map(sorted, &mut intern)));
        with_full(maps, self.full)
    }
}

/// One kind's map from its listings sorted by key, built over them: each digest's
/// pair becomes its (key, result) pair in the same vector, so that the biggest
/// vectors of an address list's load are not made twice.
fn build_map(
    mut listings: Vec<Keyed>,
    mut intern: impl FnMut(&[u32]) -> ResultId,
) -> FingerprintMap {
    let mut values = Vec::new();
    let (mut read, mut written) = (0, 0);
    while read < listings.len() {
        let key = listings[read].0;
        let end = listings[read..]
            .iter()
            .position(|&(other, _)| other != key)
            .map_or(listings.len(), |len| read + len);
        if let Some(set) = listed_values(&listings[read..end], &mut values) {
            // A group writes one pair at most, never past where it started.
            listings[written] = (key, intern(set));
            written += 1;
        }
        read = end;
    }
    listings.truncate(written);
    FingerprintMap::build(listings)
}

/// The values one digest's listings give it, in order and once each; none when one
/// of them excludes it.
fn listed_values<'v>(group: &[Keyed], values: &'v mut Vec<u32>) -> Option<&'v [u32]> {
    values.clear();
    if let [(_, coded)] = *group {
        // Nearly every digest: listed once.
        values.push(coded);
        return (coded != EXCLUDED).then_some(values.as_slice());
    }
    for &(_, coded) in group {
        if coded == EXCLUDED {
            return None;
        }
        values.push(coded);
    }
    values.sort_unstable();
    values.dedup();
    Some(values)
}

/// A digest's key and its listing coded in 32 bits ([`code`]): 16 bytes a digest, the
/// size of the map's (key, result) pairs built over them.
pub(crate) type Keyed = (u64, u32);

/// An exclusion's code; values are numbered from 0 and stay far below it.
const EXCLUDED: u32 = u32::MAX;

fn code(listing: Listing) -> u32 {
    match listing {
        Listing::Value(value) => {
            debug_assert!(value != EXCLUDED);
            value
        }
        Listing::Excluded => EXCLUDED,
    }
}

/// The index of `maps`, with the whole digests kept (for export) that they list.
fn with_full(maps: [FingerprintMap; 3], full: Option<Vec<(DigestKind, Box<[u8]>)>>) -> DigestIndex {
    let mut whole = full.unwrap_or_default();
    whole.sort_unstable();
    whole.dedup();
    // An excluded digest answers nothing: it is in no map, and left out here.
    let full = whole
        .into_iter()
        .filter_map(|(kind, digest)| {
            let result = maps[kind.index()].get(key(&digest))?;
            Some((kind, digest, result))
        })
        .collect();
    DigestIndex { maps, full }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The batch prefetch warms the maps a lookup reads, in its order: an md5-long
    /// name in the md5 map and then the cut sha256s, a sha1-long one likewise, other
    /// lengths in the sha256 map only, and nothing for a name that is no digest.
    #[test]
    fn prefetch_keys_are_the_maps_a_lookup_reads() {
        let index = DigestIndex::default();
        let maps = |text: &str| -> Vec<(usize, u64)> {
            let buf = NameBuf::from_name(&Name::parse(text).unwrap());
            let first = |kind: DigestKind| &index.maps[kind.index()] as *const FingerprintMap;
            index
                .prefetch_keys(buf.view())
                .map(|(map, key)| {
                    let kind = [DigestKind::Md5, DigestKind::Sha1, DigestKind::Sha256]
                        .into_iter()
                        .position(|k| std::ptr::eq(first(k), map))
                        .unwrap();
                    (kind, key)
                })
                .collect()
        };
        let key = 0x0123_4567_89ab_cdef;
        let md5 = format!("{key:016x}{}", "0".repeat(16));
        let sha1 = format!("{key:016x}{}", "f".repeat(24));
        let cut = format!("{key:016x}{}", "a".repeat(34));
        assert_eq!(maps(&md5), vec![(0, key), (2, key)]);
        assert_eq!(maps(&format!("{sha1}._email")), vec![(1, key), (2, key)]);
        assert_eq!(maps(&cut), vec![(2, key)]);
        assert_eq!(maps("not-a-digest"), vec![]);
        assert_eq!(maps(&format!("{md5}.other")), vec![]);
    }

    /// A build shared with another thread answers as the build with the dataset's
    /// interner, and leaves to that interner the kind where a digest is listed with
    /// two values (a result only it can make).
    #[test]
    fn a_build_beside_answers_as_the_build() {
        let digest = |kind: DigestKind, text: &str| kind.digest(text.as_bytes());
        let builder = |two_values: bool| {
            let mut builder = DigestIndexBuilder::default();
            for i in 0..100u32 {
                let text = format!("a{i}@example.org");
                for kind in DigestKind::ALL {
                    builder.add(kind, &digest(kind, &text), Listing::Value(i % 3));
                }
            }
            let excluded = digest(DigestKind::Md5, "x@example.org");
            builder.add(DigestKind::Md5, &excluded, Listing::Value(1));
            builder.add(DigestKind::Md5, &excluded, Listing::Excluded);
            if two_values {
                let a5 = digest(DigestKind::Sha1, "a5@example.org");
                builder.add(DigestKind::Sha1, &a5, Listing::Value(0));
            }
            builder
        };
        let singles = [10, 11, 12];
        let intern = |set: &[u32]| match set {
            [value] => 10 + value,
            _ => 99,
        };
        let answers = |index: &DigestIndex| -> Vec<Option<ResultId>> {
            let texts = (0..100).map(|i| format!("a{i}@example.org"));
            texts
                .chain(["x@example.org".to_string()])
                .flat_map(|text| DigestKind::ALL.map(|kind| (kind, digest(kind, &text))))
                .map(|(kind, digest)| index.maps[kind.index()].get(key(&digest)))
                .collect()
        };
        let (parts, ()) = builder(false).build_beside(&singles, || ());
        assert!(
            parts.maps.iter().all(Result::is_ok),
            "one value a digest: built apart"
        );
        let apart = parts.finish(|_| panic!("nothing left for the interner"));
        let whole = builder(false).build(intern);
        assert_eq!(answers(&apart), answers(&whole));
        assert_eq!(
            answers(&apart).iter().flatten().count(),
            300,
            "x@ is excluded"
        );

        let (parts, ()) = builder(true).build_beside(&singles, || ());
        assert!(
            parts.maps[DigestKind::Sha1.index()].is_err(),
            "a digest with two values needs the interner"
        );
        assert!(parts.maps[DigestKind::Md5.index()].is_ok());
        let index = parts.finish(intern);
        let a5 = digest(DigestKind::Sha1, "a5@example.org");
        assert_eq!(index.maps[DigestKind::Sha1.index()].get(key(&a5)), Some(99));
        assert_eq!(answers(&index), answers(&builder(true).build(intern)));
    }

    /// The names and digests made without the name parser are those the parser makes,
    /// for addresses with escapes, stray dots, tags, Gmail forms, long labels and
    /// several `@`.
    #[test]
    fn prepared_addresses_match_the_parsed_forms() {
        let parts = [
            "a",
            "B",
            "first.last",
            ".lead",
            "trail.",
            "two..dots",
            "x+tag",
            "+",
            "a\\.b",
            "\\065",
            "é",
            "mail",
            "gmail.com",
            "GoogleMail.com",
            "example.org",
            "ex..org",
            "org.",
            ".",
            "@",
            "s p",
        ];
        let long = "l".repeat(63);
        let longer = "l".repeat(64);
        let mut addresses: Vec<String> = Vec::new();
        for local in parts
            .iter()
            .copied()
            .chain([long.as_str(), longer.as_str()])
        {
            for domain in parts
                .iter()
                .copied()
                .chain([long.as_str(), longer.as_str()])
            {
                addresses.push(format!("{local}@{domain}"));
            }
            addresses.push(local.to_string());
        }
        let huge = format!(
            "{}@{}.example",
            "a.".repeat(60),
            vec!["l".repeat(60); 3].join(".")
        );
        addresses.push(huge);
        let listed = |i: usize| Listing::Value(i as u32);
        for normalised in [false, true] {
            let listings = addresses
                .iter()
                .enumerate()
                .map(|(i, a)| (a.as_str(), listed(i)));
            let prepared = PreparedAddresses::of(listings, normalised, true);
            let mut all_digests = Vec::new();
            for (i, address) in addresses.iter().enumerate() {
                let made: Vec<(Vec<u8>, bool)> = prepared
                    .names
                    .iter()
                    .filter(|n| n.listing == listed(i))
                    .map(|n| (prepared.wire(n).to_vec(), n.local_is_one_label))
                    .collect();
                let parsed: Vec<(Vec<u8>, bool)> = plain_names(address, normalised)
                    .into_iter()
                    .map(|p| (p.name.wire().to_vec(), p.local_is_one_label))
                    .collect();
                assert_eq!(made, parsed, "names of {address:?}");
                let expected: Vec<(DigestKind, Vec<u8>)> = address_forms(address, normalised)
                    .iter()
                    .flat_map(|form| {
                        DigestKind::ALL.map(|k| (k, k.digest(form.as_bytes()).to_vec()))
                    })
                    .collect();
                for kind in DigestKind::ALL {
                    let keys: Vec<u64> = prepared.keys[kind.index()]
                        .iter()
                        .filter(|&&(_, coded)| coded == code(listed(i)))
                        .map(|&(key, _)| key)
                        .collect();
                    let expected_keys: Vec<u64> = expected
                        .iter()
                        .filter(|(k, _)| *k == kind)
                        .map(|(_, digest)| key(digest))
                        .collect();
                    assert_eq!(keys, expected_keys, "{} keys of {address:?}", kind.name());
                }
                all_digests.extend(expected);
            }
            // In any order: the index sorts them.
            let mut full: Vec<(DigestKind, Vec<u8>)> = prepared
                .full
                .iter()
                .map(|(kind, digest)| (*kind, digest.to_vec()))
                .collect();
            full.sort();
            all_digests.sort();
            assert_eq!(full, all_digests, "whole digests");
        }
    }

    #[test]
    fn normalisation_vectors() {
        assert_eq!(
            normalise("Bad.Guy+x@GoogleMail.com").as_deref(),
            Some("badguy@gmail.com")
        );
        assert_eq!(
            normalise("badguy@gmail.com").as_deref(),
            Some("badguy@gmail.com")
        );
        assert_eq!(
            normalise("First.Last+news@Example.ORG").as_deref(),
            Some("first.last@example.org")
        );
        assert_eq!(normalise("+only@example.org"), None);
        assert_eq!(normalise("no-at-sign"), None);
    }

    #[test]
    fn plain_name_forms() {
        let shown = |address, normalised| -> Vec<String> {
            plain_names(address, normalised)
                .iter()
                .map(|n| n.name.to_string())
                .collect()
        };
        assert_eq!(
            shown("sender1@bulk.example", true),
            ["sender1.bulk.example"]
        );
        assert_eq!(
            shown("First.Last@Example.org", true),
            [r"first\.last.example.org", "first.last.example.org"]
        );
        assert_eq!(
            shown("Bad.Guy+x@GoogleMail.com", true),
            [
                r"bad\.guy+x.googlemail.com",
                "bad.guy+x.googlemail.com",
                "badguy.gmail.com"
            ]
        );
        assert_eq!(shown("Bad.Guy+x@GoogleMail.com", false).len(), 2);
        assert!(plain_names("root@localhost", true)[0].local_is_one_label);
    }

    #[test]
    fn known_digests() {
        assert_eq!(
            hex::encode(DigestKind::Sha1.digest(b"hello")),
            "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"
        );
        assert_eq!(
            hex::encode(DigestKind::Md5.digest(b"hello")),
            "5d41402abc4b2a76b9719d911017c592"
        );
    }
}
