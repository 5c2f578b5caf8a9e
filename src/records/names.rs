//! Names (RHSBL domains, email addresses as names) and hashed addresses as records.

use super::{AnswerRecords, Rdata, Rr, record_order};
use crate::zone::Dataset;
use crate::zone::email::DigestKind;
use crate::zone::name::{Name, NameBuf};

/// The names of the name indexes of `group` (the datasets attached at `attach`), in
/// order. Every name one of them needs (RFC 4592: a wildcard never answers for a name
/// that exists, nor below it) is held once, with what ward answers there from all of
/// them together, and a wildcard with what they answer below it: a name that one file
/// lists, or makes exist, under another file's wildcard repeats that wildcard's answer.
pub(super) fn name_records<'z>(
    group: &[&'z Dataset],
    attach: Name,
    now: i64,
) -> impl Iterator<Item = Rr> + 'z {
    let indexes: Vec<&'z Dataset> = group
        .iter()
        .copied()
        .filter(|d| !d.names.is_empty())
        .collect();
    let mut names: Vec<Name> = indexes
        .iter()
        .flat_map(|d| d.names.export_names().map(Name::from_lower_wire))
        .collect();
    names.sort_by(super::owner_order);
    names.dedup();
    // Parents come before their children, and a name's descendants right after it.
    let has_child: Vec<bool> = (0..names.len())
        .map(|i| {
            names
                .get(i + 1)
                .is_some_and(|next| next != &names[i] && next.ends_with(&names[i]))
        })
        .collect();
    names
        .into_iter()
        .zip(has_child)
        .flat_map(move |(name, has_child)| {
            records_at(&indexes, &name, &attach, has_child, now).into_iter()
        })
}

/// The records at `name` (relative to `attach`) and at `*.name` of the name indexes
/// `indexes`, sorted; `has_child` says whether the export holds a name below it.
pub(super) fn records_at(
    indexes: &[&Dataset],
    name: &Name,
    attach: &Name,
    has_child: bool,
    now: i64,
) -> Vec<Rr> {
    let mut out = Vec::new();
    let Ok(owner) = name.join(attach) else {
        return out;
    };
    let view = NameBuf::from_name(name);
    let mut listed = AnswerRecords::default();
    let mut below = AnswerRecords::default();
    for dataset in indexes {
        if let Some((result, entry, address)) = dataset.names.listed_at(view.view()) {
            let subject = subject_text(&entry, address);
            listed.add(dataset, result, subject.as_bytes(), now);
        }
        if let Some((result, entry)) = dataset.names.below(view.view()) {
            below.add(dataset, result, entry.to_string().as_bytes(), now);
        }
    }
    let (has_listed, has_below) = (!listed.is_empty(), !below.is_empty());
    listed.into_records(&owner, &mut out);
    if has_below {
        if let Ok(wildcard) = Name::from_labels([&b"*"[..]]).and_then(|s| s.join(&owner)) {
            below.into_records(&wildcard, &mut out);
        }
    } else if !has_listed && !has_child {
        // An excluded name under a listing wildcard: it must exist, or the wildcard
        // above answers for it.
        let ttl = indexes.iter().map(|d| d.ttl).min().unwrap_or(0);
        out.push(Rr {
            owner: owner.clone(),
            ttl,
            data: Rdata::Placeholder,
        });
    }
    out.sort_by(record_order);
    out
}

/// What `$` is for a name entry: the name, or for an email address entry the address.
fn subject_text(entry: &Name, address: bool) -> String {
    if !address {
        return entry.to_string();
    }
    let mut labels = entry.labels();
    let local = labels.next().unwrap_or_default();
    let domain = entry.parent().unwrap_or_default();
    format!("{}@{domain}", String::from_utf8_lossy(local))
}

/// Hashed addresses: `<hex>` and `<hex>._email` for each whole digest kept (md5 and
/// sha1 whole, sha256 by its first 32 hex digits, what rspamd sends by default). Two
/// sorted streams over one sorted index of the digests: hex keeps byte order, so the
/// digests sort by their bytes as the names do by their labels.
pub(super) fn digest_records<'z>(
    dataset: &'z Dataset,
    attach: Name,
    now: i64,
) -> impl Iterator<Item = Rr> + 'z {
    let digests: Vec<(DigestKind, &[u8], u32)> = dataset.digests.full_digests().collect();
    fn served<'d>(&(kind, digest, _): &(DigestKind, &'d [u8], u32)) -> &'d [u8] {
        match kind {
            DigestKind::Sha256 => &digest[..16],
            _ => digest,
        }
    }
    let mut order: Vec<u32> = (0..digests.len() as u32).collect();
    order.sort_by(|&a, &b| served(&digests[a as usize]).cmp(served(&digests[b as usize])));
    let digests = std::sync::Arc::new(digests);
    let order = std::sync::Arc::new(order);
    let stream = move |email: bool| {
        let (digests, order, attach) = (digests.clone(), order.clone(), attach.clone());
        (0..order.len()).flat_map(move |i| {
            let (kind, digest, result) = digests[order[i] as usize];
            digest_owner_records(dataset, (kind, digest, result), email, &attach, now).into_iter()
        })
    };
    super::merge(vec![Box::new(stream(false)), Box::new(stream(true))])
}

/// The records of one whole digest at `<hex>` (or `<hex>._email` when `email`).
pub(super) fn digest_owner_records(
    dataset: &Dataset,
    (kind, digest, result): (DigestKind, &[u8], u32),
    email: bool,
    attach: &Name,
    now: i64,
) -> Vec<Rr> {
    let label = kind.query_label(digest);
    let suffix: &[u8] = b"_email";
    let labels = std::iter::once(label.as_bytes()).chain(email.then_some(suffix));
    let mut out = Vec::new();
    if let Ok(owner) = Name::from_labels(labels).and_then(|n| n.join(attach)) {
        let mut answers = AnswerRecords::default();
        answers.add(dataset, result, label.as_bytes(), now);
        answers.into_records(&owner, &mut out);
    }
    out
}
