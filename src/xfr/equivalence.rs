//! The IXFR difference is exact: for random zones of every kind of data and random
//! change sets (adds, removes, ranges split and merged, exclusions, wildcards, other
//! reasons and texts, listings expiring between the versions, a file appearing or
//! going), the old version's records minus the removed plus the added are the new
//! version's records, exactly as AXFR sends them — and nothing is both removed and
//! added.

use std::collections::HashMap;

use super::journal::{diff, every_record_compared};
use crate::load::{LoadOptions, Loader};
use crate::records::{Rr, changed_records, record_order, records};
use crate::time::format_rfc3339;
use crate::zone::{Dataset, Zone};

/// A small deterministic generator (xorshift), so a failure names its seed.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const REASONS: &str = "$REASON spam 127.0.0.2 \"$ sends spam\"\n\
                       $REASON hacked 127.0.0.3 \"$ is hacked\"\n\
                       $REASON bulk 127.0.0.4 \"$ sends bulk mail\"\n";

/// One line of a file of `kind`, drawn from a small space so that entries overlap,
/// touch and split each other.
fn line(kind: &str, r: &mut Random, now: i64) -> String {
    let value = |r: &mut Random| match r.below(4) {
        0 => String::new(),
        n => format!(" :{}:text{} $", n + 1, r.below(3)),
    };
    match kind {
        "ip4set" => {
            let a = format!("10.{}.{}", r.below(3), r.below(6));
            match r.below(7) {
                0 => format!("{a}.0/24{}", value(r)),
                1 => format!("10.{}.0.0/16{}", r.below(3), value(r)),
                2 => format!(
                    "{a}.{}-{a}.{}{}",
                    r.below(100),
                    100 + r.below(156),
                    value(r)
                ),
                3 => format!("!{a}.{}", r.below(256)),
                4 => format!("{a}.{}/30{}", r.below(64) * 4, value(r)),
                _ => format!("{a}.{}{}", r.below(256), value(r)),
            }
        }
        "ip6set" => {
            let net = format!("2001:db8:{:x}:{:x}", r.below(2), r.below(4));
            match r.below(4) {
                0 => format!("{net}::/64{}", value(r)),
                1 => format!("2001:db8:{:x}::/48{}", r.below(2), value(r)),
                2 => format!("!{net}::{:x}", r.below(16)),
                _ => format!("{net}::{:x}{}", r.below(16), value(r)),
            }
        }
        "dnset" => {
            // Some a level deeper: an exclusion there has a name between it and the
            // wildcard that covers it.
            let deeper = if r.chance(25) { "x." } else { "" };
            let domain = format!(
                "{deeper}{}.d{}.example",
                ["a", "b", "c"][r.below(3) as usize],
                r.below(4)
            );
            match r.below(5) {
                0 => format!("*.{domain}{}", value(r)),
                1 => format!(".d{}.example{}", r.below(4), value(r)),
                2 => format!("!{domain}"),
                _ => format!("{domain}{}", value(r)),
            }
        }
        "zone" | "ip-zone" | "name-zone" => {
            let reason = ["spam", "hacked", "bulk"][r.below(3) as usize];
            let expires = if r.chance(30) {
                // Some expire between the two versions (built 60 s apart).
                format!(" expires={}", format_rfc3339(now + 1 + r.below(120) as i64))
            } else {
                String::new()
            };
            let pick = match kind {
                "ip-zone" => r.below(2),
                // No addresses: their digests are compared record by record.
                "name-zone" => [0, 1, 3, 4][r.below(4) as usize],
                _ => r.below(5),
            };
            let key = match pick {
                0 => format!("10.1.{}.{}", r.below(3), r.below(8)),
                1 => format!("10.1.{}.0/29", r.below(3)),
                2 => format!("s{}@m{}.example", r.below(4), r.below(3)),
                3 => format!("*.w{}.example", r.below(3)),
                _ => format!("x{}.m{}.example", r.below(4), r.below(3)),
            };
            format!("{key}  {reason}{expires}")
        }
        // "generic": some at the owners of the other files' records (a dnset's, the
        // `.zone` files' names and addresses, a test point) and with TTLs of their own,
        // so that they share RRsets; "own-generic": at owners of their own only.
        _ => {
            let shared = if kind == "generic" { 6 } else { 2 };
            let owner = match r.below(shared) {
                0 => "@".to_string(),
                1 => format!("g{}", r.below(4)),
                2 => format!(
                    "{}.d{}.example",
                    ["a", "b", "c"][r.below(3) as usize],
                    r.below(4)
                ),
                3 => format!("x{}.m{}.example", r.below(4), r.below(3)),
                4 => format!("{}.{}.1.10", r.below(8), r.below(3)),
                _ => "2.0.0.127".to_string(),
            };
            let ttl = if r.chance(30) {
                format!(" {}", 60 * (1 + r.below(3)))
            } else {
                String::new()
            };
            let data = match r.below(5) {
                0 | 1 => format!("A 127.0.0.{}", 2 + r.below(3)),
                2 => format!("MX {} mx{}.example", 10 * r.below(2), r.below(2)),
                _ => format!("TXT \"g{}\"", r.below(3)),
            };
            format!("{owner}{ttl} {data}")
        }
    }
}

const IP_FILES: [(&str, &str); 5] = [
    ("a.ip4set", "ip4set"),
    ("b.ip4set", "ip4set"),
    ("c.ip6set", "ip6set"),
    ("e.zone", "ip-zone"),
    ("h.ip6set", "ip6set"),
];

const NAME_FILES: [(&str, &str); 5] = [
    ("a.ip4set", "ip4set"),
    ("d.dnset", "dnset"),
    ("e.zone", "name-zone"),
    ("f.zone", "name-zone"),
    ("n.dnset", "dnset"),
];

const ADDRESS_FILES: [(&str, &str); 4] = [
    ("a.ip4set", "ip4set"),
    ("d.dnset", "dnset"),
    ("e.zone", "zone"),
    ("f.zone", "zone"),
];

const FILES: [(&str, &str); 7] = [
    ("a.ip4set", "ip4set"),
    ("b.ip4set", "ip4set"),
    ("c.ip6set", "ip6set"),
    ("d.dnset", "dnset"),
    ("e.zone", "zone"),
    ("f.zone", "zone"),
    ("g.generic", "generic"),
];

const GENERIC_FILES: [(&str, &str); 5] = [
    ("a.ip4set", "ip4set"),
    ("d.dnset", "dnset"),
    ("e.zone", "zone"),
    ("g.generic", "own-generic"),
    ("i.generic", "own-generic"),
];

/// The zone `t.test` of `files` (name, lines), built at `built_at`.
fn build(files: &[(String, Vec<String>)], built_at: i64) -> Zone {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("reasons.conf"), REASONS).expect("written");
    let zone_dir = dir.path().join("t.test");
    std::fs::create_dir(&zone_dir).expect("zone dir");
    for (name, lines) in files {
        let mut text = String::new();
        if name.ends_with("set") && !lines.is_empty() {
            text.push_str(":2:listed $\n");
        }
        for line in lines {
            text.push_str(line);
            text.push('\n');
        }
        std::fs::write(zone_dir.join(name), text).expect("written");
    }
    let loader = Loader {
        dir: dir.path().to_path_buf(),
        options: LoadOptions {
            for_export: true,
            ..LoadOptions::default()
        },
        lenient: true,
    };
    let mut load = loader.load_all().expect("loads");
    let errors: Vec<String> = load.errors().map(ToString::to_string).collect();
    assert!(
        errors.is_empty(),
        "the generated data has errors: {errors:#?}"
    );
    let mut zone = load.zones[0].zone.take().expect("the zone builds");
    zone.built_at = built_at;
    zone
}

/// Gives `new` the datasets of `old` for the files (name, lines) that are the same in
/// both, as the reloader's parse cache does.
fn share_unchanged(
    old: &Zone,
    new: &mut Zone,
    old_files: &[(String, Vec<String>)],
    new_files: &[(String, Vec<String>)],
) {
    let file_of = |dataset: &Dataset| {
        dataset
            .origin
            .file
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
    };
    let lines_of = |files: &[(String, Vec<String>)], name: &str| {
        files
            .iter()
            .find(|(file, _)| file == name)
            .map(|(_, lines)| lines.clone())
    };
    for dataset in &mut new.datasets {
        let Some(name) = file_of(dataset) else {
            continue;
        };
        if lines_of(old_files, &name) != lines_of(new_files, &name) {
            continue;
        }
        if let Some(same) = old
            .datasets
            .iter()
            .find(|d| file_of(d).as_deref() == Some(name.as_str()))
        {
            *dataset = same.clone();
        }
    }
}

/// The records as a multiset.
fn counted(records: impl IntoIterator<Item = Rr>) -> HashMap<Rr, i64> {
    let mut counts = HashMap::new();
    for rr in records {
        *counts.entry(rr).or_default() += 1;
    }
    counts
}

fn check(seed: u64, old: &Zone, new: &Zone, from_changes: bool) -> usize {
    let delta = diff(old, new);
    // Made from what changed where that applies, it is the comparison of every record.
    let fast = changed_records(old, new);
    if from_changes {
        assert!(fast.is_some(), "seed {seed}: made from the changes");
    }
    if fast.is_some() {
        let every = every_record_compared(old, new);
        assert_eq!(delta.removed, every.removed, "seed {seed}: removed");
        assert_eq!(delta.added, every.added, "seed {seed}: added");
    }
    let mut result = counted(records(old, old.built_at));
    for rr in &delta.removed {
        let count = result.entry(rr.clone()).or_default();
        assert!(
            *count > 0,
            "seed {seed}: removed but not in the old version: {rr:?}"
        );
        *count -= 1;
    }
    for rr in &delta.added {
        *result.entry(rr.clone()).or_default() += 1;
    }
    result.retain(|_, count| *count != 0);
    let expected = counted(records(new, new.built_at));
    if result != expected {
        let mut missing: Vec<&Rr> = expected
            .keys()
            .filter(|rr| result.get(*rr) != expected.get(*rr))
            .collect();
        let mut extra: Vec<&Rr> = result
            .keys()
            .filter(|rr| result.get(*rr) != expected.get(*rr))
            .collect();
        missing.sort_by(|a, b| record_order(a, b));
        extra.sort_by(|a, b| record_order(a, b));
        panic!(
            "seed {seed}: the difference does not lead to the new version\nmissing: {missing:#?}\nextra: {extra:#?}"
        );
    }
    let removed = counted(delta.removed.iter().cloned());
    assert!(
        delta.added.iter().all(|rr| !removed.contains_key(rr)),
        "seed {seed}: a record both removed and added"
    );
    delta.removed.len() + delta.added.len()
}

#[test]
fn differences_lead_exactly_to_the_new_version() {
    assert!(changes(&FILES, 1..=20, false) > 100);
}

/// Zones of IP data only: the difference is made from the changed intervals.
#[test]
fn differences_of_ip_zones_are_made_from_what_changed() {
    assert!(changes(&IP_FILES, 100..=125, true) > 100);
}

/// Zones of names (wildcards, exclusions, several files) and IP data: the difference
/// is made at the names where entries changed.
#[test]
fn differences_of_name_zones_are_made_from_what_changed() {
    assert!(changes(&NAME_FILES, 200..=260, true) > 100);
}

/// Zones of addresses (plain names and digests), names and IP data: the difference is
/// made at the digests and names where entries changed.
#[test]
fn differences_of_address_zones_are_made_from_what_changed() {
    assert!(changes(&ADDRESS_FILES, 300..=340, true) > 100);
}

/// Zones with generic records of their own beside IP data, names and addresses: the
/// generic records are made whole in both versions, the rest from what changed.
#[test]
fn differences_of_zones_with_generic_records_are_made_from_what_changed() {
    assert!(changes(&GENERIC_FILES, 400..=440, true) > 100);
}

/// Random versions of zones of `files`, changed and compared for every seed; how many
/// records changed in all. `from_changes`: the difference must be made from what
/// changed (no file is removed then).
fn changes(
    files: &[(&str, &str)],
    seeds: std::ops::RangeInclusive<u64>,
    from_changes: bool,
) -> usize {
    let now = crate::time::unix_now();
    let mut changed = 0;
    for seed in seeds {
        let mut r = Random(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut old: Vec<(String, Vec<String>)> = Vec::new();
        for &(name, kind) in files {
            if r.chance(85) {
                let count = 1 + r.below(40);
                let lines = (0..count).map(|_| line(kind, &mut r, now)).collect();
                old.push((name.to_string(), lines));
            }
        }
        let mut new = old.clone();
        for (name, lines) in &mut new {
            let kind = files.iter().find(|(n, _)| n == name).map_or("", |f| f.1);
            if !r.chance(60) {
                continue;
            }
            for _ in 0..1 + r.below(4) {
                if !lines.is_empty() && r.chance(50) {
                    let at = r.below(lines.len() as u64) as usize;
                    lines.remove(at);
                }
                if r.chance(70) {
                    let at = r.below(lines.len() as u64 + 1) as usize;
                    lines.insert(at, line(kind, &mut r, now));
                }
            }
        }
        if r.chance(15) && !new.is_empty() && !from_changes {
            let at = r.below(new.len() as u64) as usize;
            new.remove(at);
        }
        let old_zone = build(&old, now);
        let mut new_zone = build(&new, now + 60);
        // Every other seed as the reloader builds it: files that did not change keep
        // their datasets (see `load::cache`).
        let as_reloaded = seed % 2 == 0;
        if as_reloaded {
            share_unchanged(&old_zone, &mut new_zone, &old, &new);
        }
        changed += check(seed, &old_zone, &new_zone, from_changes);
        // The same data again, later: only expiries differ.
        let mut later = build(&new, now + 90);
        if as_reloaded {
            share_unchanged(&new_zone, &mut later, &new, &new);
        }
        changed += check(seed, &new_zone, &later, from_changes);
    }
    changed
}

/// Regression: a name listed at the apex can be the owner IP data attached at a
/// subzone makes records at (`1.0.0.10.sub`); a change there merges with the IP
/// records into one RRset, so the difference cannot be made at the name alone.
#[test]
fn a_name_changed_where_subzone_ip_data_answers_too() {
    let version = |code: u8| {
        vec![(
            "h.combined".to_string(),
            vec![
                "$DATASET ip4set sub".to_string(),
                "$TTL 100".to_string(),
                ":2:listed".to_string(),
                "10.0.0.1".to_string(),
                "$DATASET dnset @".to_string(),
                "$TTL 200".to_string(),
                format!("1.0.0.10.sub :{code}:named"),
                "other.example :3:other".to_string(),
            ],
        )]
    };
    let now = crate::time::unix_now();
    let old = build(&version(3), now);
    let new = build(&version(4), now + 60);
    check(1, &old, &new, false);
}
