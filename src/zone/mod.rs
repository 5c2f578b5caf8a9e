//! The zone model: pure data and lookups — no sockets, no files (the loader reads them
//! and hands the parsers their lines), no DNS wire types. A zone is a name with an SOA
//! and the datasets that list things under it; a lookup turns a name below the apex
//! into "listed with these values", "exists", or "does not exist". The only call out of
//! it is a memory-placement hint for large indexes (`memory::on_huge_pages`), which
//! changes no result. File formats are read in [`parse`].
//!
//! The bottom layer: uses only the leaves (`time`, `memory`).

pub(crate) mod acl;
pub(crate) mod dataset;
pub(crate) mod email;
pub(crate) mod fingerprints;
pub(crate) mod generic;
pub(crate) mod ip;
pub(crate) mod ip_name;
pub(crate) mod kind;
pub(crate) mod md5_lanes;
pub(crate) mod name;
pub(crate) mod name_index;
pub(crate) mod name_slots;
pub(crate) mod packed_names;
pub(crate) mod parse;
pub(crate) mod reason;
pub(crate) mod slot;
pub(crate) mod value;

use std::sync::Arc;

use smallvec::SmallVec;

pub(crate) use dataset::{Dataset, Subject};
pub(crate) use ip_name::{IpName, IpRead};
pub use kind::DatasetKind;

use acl::Access;
use dataset::DatasetMatch;
use fingerprints::FingerprintMap;
use generic::Record;
use ip::{PrefixMap, Warm};
use name::{Name, NameRef};
use reason::Template;
use value::Value;

/// The zone's SOA, resolved (no "0 = default" left).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Soa {
    pub(crate) ttl: u32,
    pub(crate) mname: Name,
    pub(crate) rname: Name,
    pub(crate) serial: u32,
    pub(crate) refresh: u32,
    pub(crate) retry: u32,
    pub(crate) expire: u32,
    pub(crate) minimum: u32,
}

impl Soa {
    /// Whether serial `a` comes after `b` in RFC 1982 sequence space arithmetic, as
    /// secondaries compare them: a serial may wrap past 2^32 - 1 to small numbers
    /// and still be newer, and one more than 2^31 ahead is older. Exactly 2^31 apart
    /// is undefined, and not newer.
    pub(crate) fn serial_is_newer(a: u32, b: u32) -> bool {
        let ahead = a.wrapping_sub(b);
        ahead != 0 && ahead < 1 << 31
    }

    /// TTL of the SOA in negative answers (RFC 2308 §3: the smaller of its TTL and
    /// its minimum field; rbldnsd uses the minimum even when it is larger).
    pub(crate) fn negative_ttl(&self) -> u32 {
        self.ttl.min(self.minimum)
    }
}

pub(crate) struct Zone {
    pub(crate) name: Name,
    pub(crate) soa: Soa,
    pub(crate) ns: Vec<Name>,
    pub(crate) ns_ttl: u32,
    /// Shared with the parse they came from, which the reloader keeps while the file
    /// stays the same: a zone of several files re-reads only the file that changed.
    pub(crate) datasets: Vec<Arc<Dataset>>,
    /// RFC 5782 test points, consulted only when the zone's own data is silent.
    pub(crate) test_points: Option<Dataset>,
    /// Client access list and access keys; `None` for a zone anyone may query.
    pub(crate) access: Option<Access>,
    /// The serial is ward's (the time of the load), not written in the data.
    pub(crate) serial_is_auto: bool,
    /// When the zone was built. A transfer exports the listings live then, not at the
    /// moment of the transfer: one serial always transfers the same records, and a
    /// listing that expires changes the serial (the rebuild at its expiry does).
    pub(crate) built_at: i64,
    /// What the zone was made from (files, settings, expired listings, ward's
    /// version): the same fingerprint makes the same records, and keeps the serial.
    pub(crate) fingerprint: Option<u64>,
    /// Where this zone's queries are counted (stable across reloads).
    pub(crate) counter_slot: u16,
    /// Names that exist only because something is listed below them (empty
    /// non-terminals) answer NXDOMAIN, as rbldnsd answers, not NODATA.
    pub(crate) empty_names_nxdomain: bool,
}

/// The serial a zone was last served with, and what that version was made from. The
/// same data loaded again keeps its serial, so a restart or a SIGHUP costs secondaries
/// no transfer; anything else gets a higher one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SerialFloor {
    pub(crate) serial: u32,
    /// That version's [`Zone::fingerprint`]; `None` when unknown.
    pub(crate) fingerprint: Option<u64>,
}

/// How a name relates to the zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Presence {
    /// The zone apex itself.
    Apex,
    /// At least one live listing or record.
    Listed,
    /// Not listed, but the name exists (empty non-terminal, subzone, other data).
    Exists,
    /// The name does not exist: NXDOMAIN.
    Absent,
}

/// One thing a lookup found.
#[derive(Clone, Copy)]
pub(crate) enum Found<'z> {
    Listing {
        value: &'z Value,
        txt: Option<&'z Template>,
        ttl: u32,
        subject: Subject,
    },
    Record(&'z Record),
}

pub(crate) type FoundList<'z> = SmallVec<[Found<'z>; 8]>;

/// Which data a client may see. A client whose ACL action is `empty` sees the zone as
/// if it listed nothing: only generic records, and no names that exist only because
/// something is listed below them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Visibility {
    All,
    RecordsOnly,
}

/// Who asks, and when: what decides whether listings with conditions (an expiry,
/// per-entry parameters) answer. The lookup adds what it found about timing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asking {
    /// Unix seconds.
    pub(crate) now: i64,
    /// The query used an access key (`aclkey`).
    pub(crate) keyed: bool,
    pub(crate) visibility: Visibility,
    /// Out: the longest tarpit delay of the listings found, in seconds (0: none).
    pub(crate) delay: u32,
}

impl Asking {
    /// An unkeyed client seeing everything at `now`.
    pub(crate) fn at(now: i64) -> Self {
        Asking {
            now,
            keyed: false,
            visibility: Visibility::All,
            delay: 0,
        }
    }
}

/// Where one lookup will read; see [`Zone::prefetch_targets`]. Inline room for a name,
/// the two names above it a miss reads, its fingerprint or two digest maps, and an
/// IP: no allocation per query.
#[derive(Default)]
pub(crate) struct Prefetch<'z>(SmallVec<[PrefetchTarget<'z>; 6]>);

enum PrefetchTarget<'z> {
    V4(&'z PrefixMap<u32>, u32),
    V6(&'z PrefixMap<u128>, u128),
    Name(&'z name_index::NameIndex, usize),
    Fingerprint(&'z FingerprintMap, u64),
}

impl Prefetch<'_> {
    pub(crate) fn warm(&self, warm: Warm) {
        for target in &self.0 {
            match *target {
                PrefetchTarget::V4(map, addr) => map.prefetch(addr, warm),
                PrefetchTarget::V6(map, addr) => map.prefetch(addr, warm),
                PrefetchTarget::Name(index, bucket) => index.prefetch(bucket, warm),
                PrefetchTarget::Fingerprint(map, key) => map.prefetch(key, warm),
            }
        }
    }
}

/// How a name below the zone apex relates to the subzone a dataset is attached at.
enum Attached<'q> {
    /// Below the subzone: these are the labels in front of it, read as IPs in `ip`.
    Below(NameRef<'q>, IpName),
    /// The subzone's own apex.
    Apex,
    /// Between the zone apex and the subzone: an empty non-terminal on the way to it.
    OnTheWay,
    Outside,
}

/// Where `relative` (the query name below the zone apex, read as IPs in `ip`) falls for
/// a dataset attached at `attach`. The IP reading is reused when the dataset sits at
/// the apex, as nearly every dataset does: a query name is classified once.
fn attach_point<'q>(attach: &Name, relative: NameRef<'q>, ip: IpName) -> Attached<'q> {
    let attach_labels = attach.label_count();
    if attach_labels == 0 {
        return Attached::Below(relative, ip);
    }
    let labels = relative.label_count();
    if labels < attach_labels {
        return if attach.ends_with_wire(relative.wire()) {
            Attached::OnTheWay
        } else {
            Attached::Outside
        };
    }
    if relative.suffix(labels - attach_labels).wire() != attach.wire() {
        return Attached::Outside;
    }
    if labels == attach_labels {
        return Attached::Apex;
    }
    let inner = relative.prefix(labels - attach_labels);
    Attached::Below(inner, IpName::classify(inner))
}

impl Zone {
    /// What the next version of this zone must exceed, or keep for the same data.
    pub(crate) fn serial_floor(&self) -> SerialFloor {
        SerialFloor {
            serial: self.soa.serial,
            fingerprint: self.fingerprint,
        }
    }

    /// Looks up `relative`, the query name without the zone apex, read as IPs in `ip`
    /// (see [`IpName::classify`]). `asking` says when and who: listings whose expiry
    /// has passed, that cool down or want a key the query did not use are hidden; the
    /// tarpit delay of what was found is added to it.
    pub(crate) fn lookup<'z>(
        &'z self,
        relative: NameRef<'_>,
        ip: IpName,
        asking: &mut Asking,
        found: &mut FoundList<'z>,
    ) -> Presence {
        if relative.is_root() {
            for dataset in self
                .datasets
                .iter()
                .filter(|d| d.attach.iter().any(Name::is_root))
            {
                found.extend(dataset.apex_records().iter().map(Found::Record));
            }
            return Presence::Apex;
        }
        let before = found.len();
        let mut exists = false;
        for dataset in &self.datasets {
            exists |= lookup_dataset(dataset, relative, ip, asking, found);
        }
        if found.len() > before {
            return Presence::Listed;
        }
        if let Some(test_points) = &self.test_points
            && asking.visibility == Visibility::All
        {
            exists |= lookup_dataset(test_points, relative, ip, asking, found);
            if found.len() > before {
                return Presence::Listed;
            }
        }
        if exists {
            Presence::Exists
        } else {
            Presence::Absent
        }
    }

    /// The index entries a [`lookup`](Self::lookup) of `relative` will read, to be
    /// warmed ahead of it (see [`PrefixMap::prefetch`]).
    pub(crate) fn prefetch_targets(&self, relative: NameRef<'_>, ip: IpName) -> Prefetch<'_> {
        let mut targets = Prefetch::default();
        let indexed = self.datasets.iter().filter(|d| {
            !d.ip4.is_empty() || !d.ip6.is_empty() || !d.names.is_empty() || !d.digests.is_empty()
        });
        for dataset in indexed {
            for attach in &dataset.attach {
                let Attached::Below(below, ip) = attach_point(attach, relative, ip) else {
                    continue;
                };
                for bucket in dataset.names.buckets(below) {
                    targets.0.push(PrefetchTarget::Name(&dataset.names, bucket));
                }
                let fingerprints = dataset.names.fingerprint_key(below).into_iter();
                for (map, key) in fingerprints.chain(dataset.digests.prefetch_keys(below)) {
                    targets.0.push(PrefetchTarget::Fingerprint(map, key));
                }
                if let Some(IpRead::Address(addr)) = ip.v4
                    && !dataset.ip4.is_empty()
                {
                    targets.0.push(PrefetchTarget::V4(&dataset.ip4, addr));
                }
                if let Some(IpRead::Address(addr)) = ip.v6
                    && !dataset.ip6.is_empty()
                {
                    targets.0.push(PrefetchTarget::V6(&dataset.ip6, addr));
                }
            }
        }
        targets
    }
}

/// Looks up `relative` in one dataset, under each subzone the dataset is attached to.
/// Returns whether the name exists there without being listed.
fn lookup_dataset<'z>(
    dataset: &'z Dataset,
    relative: NameRef<'_>,
    ip: IpName,
    asking: &mut Asking,
    found: &mut FoundList<'z>,
) -> bool {
    let mut exists = false;
    for attach in &dataset.attach {
        exists |= match attach_point(attach, relative, ip) {
            Attached::Outside => false,
            // An empty non-terminal only when the subzone holds something to see.
            Attached::OnTheWay => {
                asking.visibility == Visibility::All || !dataset.generic.is_empty()
            }
            Attached::Apex => {
                found.extend(dataset.apex_records().iter().map(Found::Record));
                true
            }
            Attached::Below(inner, ip) => lookup_below(dataset, inner, ip, asking, found),
        };
    }
    exists
}

fn lookup_below<'z>(
    dataset: &'z Dataset,
    inner: NameRef<'_>,
    ip: IpName,
    asking: &mut Asking,
    found: &mut FoundList<'z>,
) -> bool {
    let ttl = dataset.ttl;
    let values = &dataset.values;
    // One branch for data without conditions: the clock and the key are not read.
    let conditional = values.has_conditions();
    let (now, keyed) = (asking.now, asking.keyed);
    let delay = &mut asking.delay;
    dataset.lookup(inner, ip, asking.visibility, &mut |verdict| match verdict {
        DatasetMatch::Listed(result, subject) => {
            for &id in values.result(result) {
                let value = values.value(id);
                if conditional {
                    match value.verdict(now, keyed) {
                        None => continue,
                        Some(wait) => *delay = (*delay).max(wait),
                    }
                }
                found.push(Found::Listing {
                    value,
                    txt: values.txt(value),
                    ttl,
                    subject,
                });
            }
        }
        DatasetMatch::Records(records) => found.extend(records.iter().map(Found::Record)),
    })
}

#[cfg(test)]
mod tests {
    use super::Soa;

    #[test]
    fn serials_compare_in_sequence_space() {
        assert!(Soa::serial_is_newer(2, 1));
        assert!(!Soa::serial_is_newer(1, 2));
        assert!(!Soa::serial_is_newer(7, 7));
        // Past the top, the count wraps and goes on rising.
        assert!(Soa::serial_is_newer(0, u32::MAX));
        assert!(Soa::serial_is_newer(5, u32::MAX - 299));
        // At most 2^31 - 1 ahead; exactly 2^31 apart is undefined either way.
        assert!(Soa::serial_is_newer((1 << 31) - 1, 0));
        assert!(!Soa::serial_is_newer(1 << 31, 0));
        assert!(!Soa::serial_is_newer(0, 1 << 31));
        assert!(!Soa::serial_is_newer(3_900_000_000, 100));
    }
}
