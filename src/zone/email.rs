//! Email addresses: the normalisation mail filters apply before hashing, the digests,
//! and the index of hashed entries (`<hex>.Z`, `<hex>._email.Z`).

use md5::Md5;
use sha1::{Digest, Sha1};
use sha2::Sha256;
use smallvec::SmallVec;

use super::fingerprints::FingerprintMap;
use super::ip::{Listing, ResultId};
use super::name::{Name, NameRef};

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
        match name.label_count() {
            1 => {}
            2 if name.label(1) == b"_email" => {}
            _ => return None,
        }
        let hex_label = name.label(0);
        if hex_label.len() < 32 || !hex_label.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        let mut prefix = [0u8; 8];
        hex::decode_to_slice(&hex_label[..16], &mut prefix).ok()?;
        let key = u64::from_be_bytes(prefix);
        let exact = match hex_label.len() {
            32 => self.maps[DigestKind::Md5.index()].get(key),
            40 => self.maps[DigestKind::Sha1.index()].get(key),
            _ => None,
        };
        exact.or_else(|| self.maps[DigestKind::Sha256.index()].get(key))
    }
}

#[derive(Default)]
pub(crate) struct DigestIndexBuilder {
    listings: [Vec<(u64, Listing)>; 3],
    full: Option<Vec<(DigestKind, Box<[u8]>)>>,
}

impl DigestIndexBuilder {
    /// Keeps whole digests too, for exporting the zone.
    pub(crate) fn keep_full(&mut self) {
        self.full.get_or_insert_with(Vec::new);
    }

    pub(crate) fn add(&mut self, kind: DigestKind, digest: &[u8], listing: Listing) {
        self.listings[kind.index()].push((key(digest), listing));
        if let Some(full) = &mut self.full {
            full.push((kind, digest.into()));
        }
    }

    /// All listings of one digest answer together; an exclusion beats them.
    pub(crate) fn build(self, mut intern: impl FnMut(&[u32]) -> ResultId) -> DigestIndex {
        let maps = self.listings.map(|mut listings| {
            // Stable: a digest's lines stay together, in file order.
            listings.sort_by_key(|&(key, _)| key);
            let mut results = Vec::new();
            let mut values = Vec::new();
            for group in listings.chunk_by(|a, b| a.0 == b.0) {
                values.clear();
                let mut excluded = false;
                for &(_, listing) in group {
                    match listing {
                        Listing::Value(v) => values.push(v),
                        Listing::Excluded => excluded = true,
                    }
                }
                if !excluded {
                    values.sort_unstable();
                    values.dedup();
                    results.push((group[0].0, intern(&values)));
                }
            }
            FingerprintMap::build(results)
        });
        let mut whole = self.full.unwrap_or_default();
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
