//! Names (RHSBL domains, email addresses as names) and hashed addresses as records.

use super::{AnswerRecords, Rdata, Rr, record_order};
use crate::zone::Dataset;
use crate::zone::email::DigestKind;
use crate::zone::name::Name;

/// The names of a dataset's name index, as the index's export plan says, in order.
pub(super) fn name_records<'z>(
    dataset: &'z Dataset,
    attach: Name,
    now: i64,
) -> impl Iterator<Item = Rr> + 'z {
    let plan = dataset.names.export_plan();
    let mut slots = plan.slots.clone();
    slots.sort_by(|&a, &b| {
        super::owner_order(
            &Name::from_lower_wire(dataset.names.slot_name(a)),
            &Name::from_lower_wire(dataset.names.slot_name(b)),
        )
    });
    slots.into_iter().flat_map(move |slot| {
        let exported = dataset.names.exported(&plan, slot);
        let mut out = Vec::new();
        let Ok(owner) = Name::from_lower_wire(dataset.names.slot_name(slot)).join(&attach) else {
            return out.into_iter();
        };
        if let Some((result, entry, address)) = &exported.listed {
            let subject = subject_text(entry, *address);
            let mut answers = AnswerRecords::default();
            answers.add(dataset, *result, subject.as_bytes(), now);
            answers.into_records(&owner, &mut out);
        } else if exported.placeholder {
            out.push(Rr {
                owner: owner.clone(),
                ttl: dataset.ttl,
                data: Rdata::Placeholder,
            });
        }
        if let Some((result, entry)) = &exported.below {
            let Ok(wildcard) = Name::from_labels([&b"*"[..]]).and_then(|s| s.join(&owner)) else {
                return out.into_iter();
            };
            let mut answers = AnswerRecords::default();
            answers.add(dataset, *result, entry.to_string().as_bytes(), now);
            answers.into_records(&wildcard, &mut out);
        }
        out.sort_by(record_order);
        out.into_iter()
    })
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
            let label = kind.query_label(digest);
            let suffix: &[u8] = b"_email";
            let labels = std::iter::once(label.as_bytes()).chain(email.then_some(suffix));
            let mut out = Vec::new();
            if let Ok(owner) = Name::from_labels(labels).and_then(|n| n.join(&attach)) {
                let mut answers = AnswerRecords::default();
                answers.add(dataset, result, label.as_bytes(), now);
                answers.into_records(&owner, &mut out);
            }
            out.into_iter()
        })
    };
    super::merge(vec![Box::new(stream(false)), Box::new(stream(true))])
}
