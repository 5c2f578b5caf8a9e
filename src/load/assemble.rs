//! One zone from its parsed files: the SOA and NS it serves (written or defaulted), a
//! serial that only rises, its datasets, the RFC 5782 test points and its client ACL.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

use super::ZoneOptions;
use super::files::ContentHasher;
use super::{DataFile, LoadOptions, SerialFloor, ZoneLoad, ZoneSource};
use crate::zone::acl::Refused;
use crate::zone::acl::{Access, Acl, AclAction, AclBuilder, AclKey};
use crate::zone::dataset::DatasetBuilder;
use crate::zone::ip::Listing;
use crate::zone::name::Name;
use crate::zone::parse::{Diagnostic, Diagnostics, ParsedFile};
use crate::zone::reason::Template;
use crate::zone::value::{RawValue, Value};
use crate::zone::{Dataset, DatasetKind, Soa, Zone};

/// Builds a zone from its parsed files.
pub(super) fn assemble(
    source: &ZoneSource,
    parsed: Vec<ParsedFile>,
    options: &LoadOptions,
    lenient: bool,
    now: i64,
    serial_floor: Option<SerialFloor>,
    catalogue_fingerprint: u64,
) -> ZoneLoad {
    let settings = options.settings(&source.name);
    let default_ttl = settings.default_ttl.unwrap_or(options.default_ttl);
    let mut diagnostics = Diagnostics::default();
    // A zone whose directory cannot be listed may be missing files: never serve it so,
    // not even with --lenient.
    let unreadable = source.unreadable.is_some();
    diagnostics.errors.extend(source.unreadable.clone());
    let mut soa_spec = None;
    let mut ns_spec = None;
    let mut datasets = Vec::new();
    let mut acl: Option<Acl> = None;
    let mut aclkey: Option<AclKey> = None;
    let mut expired = 0;
    let mut cooling = 0;
    let mut next_change: Option<i64> = None;
    let mut kept = Vec::new();
    let file_hashes = parsed.iter().map(|p| p.content_hash).collect();
    for (file, DataFile { path, .. }) in parsed.into_iter().zip(&source.files) {
        diagnostics.extend(file.diagnostics);
        soa_spec = soa_spec.or(file.soa);
        ns_spec = ns_spec.or(file.ns);
        expired += file.expired;
        cooling += file.cooling;
        if let Some(at) = file.next_change {
            next_change = Some(next_change.map_or(at, |e| e.min(at)));
        }
        if let Some(file_acl) = file.acl {
            if acl.is_some() {
                diagnostics.errors.push(Diagnostic {
                    file: path.as_path().into(),
                    line: 0,
                    column: 0,
                    message: "a zone takes one acl file; this one is ignored".to_string(),
                });
            } else {
                acl = Some(file_acl);
            }
        }
        if let Some(file_keys) = file.aclkey {
            if aclkey.is_some() {
                diagnostics.errors.push(Diagnostic {
                    file: path.as_path().into(),
                    line: 0,
                    column: 0,
                    message: "a zone takes one aclkey file; this one is ignored".to_string(),
                });
            } else {
                aclkey = Some(file_keys);
            }
        }
        if options.keep_entries {
            kept.push((Arc::from(path.as_path()), file.entries));
        }
        datasets.extend(file.datasets);
    }
    let entries = datasets.iter().map(|d| d.entries).sum();
    let mut load = ZoneLoad {
        name: source.name.clone(),
        zone: None,
        diagnostics,
        entries,
        expired,
        cooling,
        next_change,
        duration: Duration::ZERO,
        kept,
        file_hashes,
        file_stamps: Vec::new(),
    };
    let file_problems = load
        .diagnostics
        .errors
        .iter()
        .any(|e| e.is_about_the_file());
    if unreadable || file_problems || (!load.diagnostics.is_clean() && !lenient) {
        return load;
    }
    if acl.is_none()
        && let Some(allow) = &settings.allow
    {
        acl = Some(allow_list_acl(allow, settings.refused, default_ttl));
    }
    let name = source.name.clone();
    let uses_catalogue = source.files.iter().any(|f| f.kind == DatasetKind::Ward);
    let fingerprint = fingerprint(
        source,
        &load.file_hashes,
        (load.expired, load.cooling),
        &settings,
        options,
        uses_catalogue.then_some(catalogue_fingerprint),
    );
    // The same data as the version last served: the same serial, whatever the clock.
    let same_data =
        serial_floor.filter(|floor| floor.fingerprint.is_some_and(|f| Some(f) == fingerprint));
    let auto_serial = {
        let candidate = u32::try_from(now).unwrap_or(u32::MAX);
        match serial_floor {
            _ if same_data.is_some() => same_data.map_or(candidate, |f| f.serial),
            Some(floor) if !Soa::serial_is_newer(candidate, floor.serial) => {
                floor.serial.wrapping_add(1)
            }
            _ => candidate,
        }
    };
    let serial_is_auto = soa_spec.as_ref().is_none_or(|spec| spec.serial.is_none());
    let soa = match soa_spec {
        Some(spec) => Soa {
            ttl: spec.ttl.unwrap_or(default_ttl),
            mname: spec.mname,
            rname: spec.rname,
            // A written serial is the admin's, but it must still rise, as secondaries
            // see it: an admin may wrap it on purpose (RFC 1982 §7), and a jump of
            // more than 2^31 would read as going back.
            serial: match (spec.serial, serial_floor) {
                (Some(_), Some(floor)) if same_data.is_some() => floor.serial,
                (Some(serial), Some(floor)) if !Soa::serial_is_newer(serial, floor.serial) => {
                    floor.serial.wrapping_add(1)
                }
                (Some(serial), _) => serial,
                (None, _) => auto_serial,
            },
            refresh: spec.refresh,
            retry: spec.retry,
            expire: spec.expire,
            minimum: spec.minimum,
        },
        None => default_soa(&name, auto_serial),
    };
    let mut soa = soa;
    if let Some((min, max)) = options.ttl_bounds {
        soa.ttl = soa.ttl.clamp(min, max);
    }
    let (ns, ns_ttl) = match ns_spec {
        Some(spec) => (spec.names, spec.ttl.unwrap_or(default_ttl)),
        None => (
            settings
                .ns
                .iter()
                .flatten()
                .filter_map(|n| Name::parse(n).ok())
                .collect(),
            default_ttl,
        ),
    };
    let access = (acl.is_some() || aclkey.is_some()).then(|| {
        if let Some(keys) = &mut aclkey {
            keys.assign_slots(&name);
        }
        Access {
            acl,
            keys: aclkey,
            unknown_key_slot: crate::zone::slot::key_slot(&name, None),
        }
    });
    let ns_ttl = options
        .ttl_bounds
        .map_or(ns_ttl, |(min, max)| ns_ttl.clamp(min, max));
    let test_points = settings
        .test_points
        .unwrap_or(options.test_points)
        .then(|| {
            // The zone's own TTL (its shortest), as the data would have it.
            let ttl = datasets.iter().map(|d| d.ttl).min().unwrap_or(default_ttl);
            test_points_dataset(&datasets, ttl)
        });
    load.zone = Some(Zone {
        counter_slot: crate::zone::slot::zone_slot(&name),
        name,
        soa,
        ns,
        ns_ttl,
        datasets,
        test_points,
        access,
        serial_is_auto,
        built_at: now,
        fingerprint,
        empty_names_nxdomain: options.empty_names_nxdomain,
    });
    load
}

/// What a zone's records are made from: its files' bytes, which of their listings had
/// expired and which were still cooling down, the settings that shape answers, the
/// reasons (for ward-format files) and ward's version. `None` when a file could not be
/// read whole.
fn fingerprint(
    source: &ZoneSource,
    file_hashes: &[Option<u64>],
    (expired, cooling): (usize, usize),
    settings: &ZoneOptions,
    options: &LoadOptions,
    catalogue: Option<u64>,
) -> Option<u64> {
    let mut hasher = ContentHasher::default();
    hasher.update(env!("CARGO_PKG_VERSION").as_bytes());
    for (file, hash) in source.files.iter().zip(file_hashes) {
        // The name, not the path: a zones directory moved elsewhere holds the same data.
        let name = file.path.file_name().unwrap_or(file.path.as_os_str());
        hasher.update(name.as_encoded_bytes());
        hasher.update(format!("{:?}", file.kind).as_bytes());
        hasher.update(&(*hash)?.to_le_bytes());
    }
    hasher.update(&(expired as u64).to_le_bytes());
    if cooling > 0 {
        // Only then: data without cooldowns keeps the fingerprint it had before.
        hasher.update(b"cooling");
        hasher.update(&(cooling as u64).to_le_bytes());
    }
    let global = (
        options.default_ttl,
        options.test_points,
        options.normalise_addresses,
        options.accept_host_bits,
    );
    hasher.update(format!("{global:?}{settings:?}{catalogue:?}").as_bytes());
    Some(hasher.finish())
}

/// The SOA of a zone whose data has none: negative answers must carry one (RFC 2308),
/// and 60 s of negative caching lets new listings take effect quickly.
fn default_soa(zone: &Name, serial: u32) -> Soa {
    let hostmaster = Name::parse("hostmaster")
        .ok()
        .and_then(|h| h.join(zone).ok())
        .unwrap_or_else(|| zone.clone());
    Soa {
        ttl: 3600,
        mname: zone.clone(),
        rname: hostmaster,
        serial,
        refresh: 600,
        retry: 300,
        expire: 604_800,
        minimum: 60,
    }
}

/// RFC 5782 §5: IP lists answer 127.0.0.2 (and `::ffff:127.0.0.2`, which maps to it),
/// domain lists answer `test`. Zones with neither kind of data get both.
fn test_points_dataset(datasets: &[Arc<Dataset>], ttl: u32) -> Dataset {
    let has_ip = datasets
        .iter()
        .any(|d| !d.ip4.is_empty() || !d.ip6.is_empty());
    let has_names = datasets
        .iter()
        .any(|d| !d.names.is_empty() || !d.digests.is_empty());
    let mut builder = DatasetBuilder::new(
        Path::new("(RFC 5782 test points)").into(),
        DatasetKind::Ward,
        vec![Name::root()],
    );
    builder.ttl = Some(ttl);
    let value = builder.values.intern(
        RawValue::new(
            [127, 0, 0, 2],
            Some(b"RFC 5782 test point: this list is working"),
        ),
        0,
    );
    if has_ip || !has_names {
        builder.ip4.add(0x7f00_0002, 32, Listing::Value(value), 0);
    }
    if (has_names || !has_ip)
        && let Ok(test) = Name::parse("test")
    {
        builder
            .names
            .add(&test, false, false, Listing::Value(value));
    }
    builder.finish(ttl).dataset
}

/// `allow = [...]` in ward.toml: listed networks pass, everyone else is refused or gets
/// the error answer.
fn allow_list_acl(allow: &[IpNet], refused: Refused, ttl: u32) -> Acl {
    let others = match refused {
        Refused::Refuse => AclAction::Refuse,
        Refused::ErrorAnswer => AclAction::Answer(
            Value {
                a: [127, 255, 255, 254],
                txt: None,
                expires: None,
                params: Default::default(),
            },
            Some(Template::literal(
                b"Queries to this list are not allowed from your resolver",
            )),
        ),
    };
    let mut builder = AclBuilder::default();
    builder.add_v4(0, 0, others.clone(), 0);
    builder.add_v6(0, 0, others, 0);
    for net in allow {
        match net {
            IpNet::V4(v4) => {
                builder.add_v4(u32::from(v4.network()), v4.prefix_len(), AclAction::Pass, 0)
            }
            IpNet::V6(v6) => builder.add_v6(
                u128::from(v6.network()),
                v6.prefix_len(),
                AclAction::Pass,
                0,
            ),
        }
    }
    builder.build(ttl).0
}
