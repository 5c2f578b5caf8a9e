//! One public list: what it lists, how it is asked, and what its answers mean.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use super::ListResult;
use crate::dns::resolver::{Answer, Outcome};
use crate::zone::email::{DigestKind, normalise};
use crate::zone::name::Name;

/// A value the lists are asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Subject {
    Ip(IpAddr),
    Domain(Name),
    /// An email address as written (hashed after normalising).
    Email(String),
}

impl Subject {
    /// The value as people write it (for links).
    pub(crate) fn text(&self) -> String {
        match self {
            Subject::Ip(ip) => ip.to_string(),
            Subject::Domain(name) => name.to_string(),
            Subject::Email(address) => address.clone(),
        }
    }
}

/// Return codes and what they mean: inclusive ranges of addresses in 127.0.0.0/8.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CodeTable(Vec<(u32, u32, String)>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ListError {
    #[error("`{0}`: expected a return code such as 127.0.0.2, or a range 127.0.0.4-127.0.0.7")]
    Code(String),
    #[error("`{0}`: expected ipv4, ipv6, domain or email")]
    Kind(String),
    #[error("`{0}`: expected sha1, md5 or sha256")]
    Hash(String),
    #[error("`{0}` is not a domain name")]
    Zone(String),
    #[error("the access key `…` is not one DNS label (letters, digits, `-`)")]
    Key,
    #[error("lists = []: name what it lists (ipv4, ipv6, domain, email)")]
    Nothing,
}

impl CodeTable {
    /// Reads `"127.0.0.2"` and `"127.0.0.4-127.0.0.7"` keys.
    pub(crate) fn parse<'a>(
        entries: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> Result<CodeTable, ListError> {
        let mut table = Vec::new();
        for (key, meaning) in entries {
            let address = |text: &str| {
                text.trim()
                    .parse::<Ipv4Addr>()
                    .map(u32::from)
                    .map_err(|_| ListError::Code(key.clone()))
            };
            let (first, last) = match key.split_once('-') {
                Some((first, last)) => (address(first)?, address(last)?),
                None => (address(key)?, address(key)?),
            };
            if first > last {
                return Err(ListError::Code(key.clone()));
            }
            table.push((first, last, meaning.clone()));
        }
        Ok(CodeTable(table))
    }

    fn meaning(&self, code: Ipv4Addr) -> Option<&str> {
        let code = u32::from(code);
        self.0
            .iter()
            .find(|(first, last, _)| (*first..=*last).contains(&code))
            .map(|(_, _, meaning)| meaning.as_str())
    }
}

/// What the 127.255.255.0/24 error codes mean where a list does not say (Spamhaus'
/// documented ones; the others are errors all the same).
fn standard_error(code: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, d] = code.octets();
    if (a, b, c) != (127, 255, 255) {
        return None;
    }
    Some(match d {
        252 => "the list's name was mistyped",
        254 => {
            "the list refuses the resolver ward asked through (a public or unregistered resolver)"
        }
        255 => "too many queries from the resolver ward asked through",
        _ => "an error code of the list",
    })
}

/// One configured list.
#[derive(Debug, Clone)]
pub(crate) struct List {
    /// The zone as shown (no access key).
    pub(crate) zone: String,
    /// The zone as asked: with the access key in front, and the root's dot.
    query_zone: String,
    pub(crate) name: String,
    ipv4: bool,
    ipv6: bool,
    domain: bool,
    email: bool,
    hash: DigestKind,
    hash_label: Option<String>,
    link: Option<String>,
    codes: CodeTable,
    errors: CodeTable,
    timeout: Duration,
}

/// A list as `ward.toml` describes it, before it is checked.
#[derive(Debug, Clone, Default)]
pub(crate) struct ListSpec<'s> {
    pub(crate) zone: &'s str,
    pub(crate) name: Option<&'s str>,
    pub(crate) lists: &'s [String],
    pub(crate) link: Option<&'s str>,
    pub(crate) key: Option<&'s str>,
    pub(crate) hash: Option<&'s str>,
    pub(crate) hash_label: Option<&'s str>,
    pub(crate) timeout: Duration,
    pub(crate) codes: CodeTable,
    pub(crate) errors: CodeTable,
}

impl List {
    pub(crate) fn new(spec: ListSpec<'_>) -> Result<List, ListError> {
        let zone = Name::parse(spec.zone.trim_end_matches('.'))
            .map_err(|_| ListError::Zone(spec.zone.to_string()))?
            .to_string();
        let mut query_zone = format!("{zone}.");
        if let Some(key) = spec.key {
            let key = key.trim();
            let label_ok = !key.is_empty()
                && key.len() <= 63
                && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if !label_ok {
                return Err(ListError::Key);
            }
            query_zone = format!("{key}.{query_zone}");
        }
        let mut list = List {
            name: spec.name.map_or_else(|| zone.clone(), str::to_string),
            zone,
            query_zone,
            ipv4: false,
            ipv6: false,
            domain: false,
            email: false,
            hash: DigestKind::Sha1,
            hash_label: spec.hash_label.map(str::to_string),
            link: spec.link.map(str::to_string),
            codes: spec.codes,
            errors: spec.errors,
            timeout: spec.timeout,
        };
        for kind in spec.lists {
            match kind.as_str() {
                "ipv4" => list.ipv4 = true,
                "ipv6" => list.ipv6 = true,
                "domain" => list.domain = true,
                "email" => list.email = true,
                other => return Err(ListError::Kind(other.to_string())),
            }
        }
        if !(list.ipv4 || list.ipv6 || list.domain || list.email) {
            return Err(ListError::Nothing);
        }
        if let Some(hash) = spec.hash {
            list.hash = match hash {
                "sha1" => DigestKind::Sha1,
                "md5" => DigestKind::Md5,
                "sha256" => DigestKind::Sha256,
                other => return Err(ListError::Hash(other.to_string())),
            };
        }
        Ok(list)
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The name to ask for `subject`, or `None` when the list does not list its kind.
    pub(crate) fn query_name(&self, subject: &Subject) -> Option<String> {
        let zone = &self.query_zone;
        match subject {
            Subject::Ip(IpAddr::V4(v4)) if self.ipv4 => {
                let [a, b, c, d] = v4.octets();
                Some(format!("{d}.{c}.{b}.{a}.{zone}"))
            }
            Subject::Ip(IpAddr::V6(v6)) if self.ipv6 => {
                let value = u128::from(*v6);
                let nibbles: Vec<String> = (0..32)
                    .map(|i| format!("{:x}", (value >> (4 * i)) & 0xf))
                    .collect();
                Some(format!("{}.{zone}", nibbles.join(".")))
            }
            Subject::Domain(name) if self.domain => Some(format!("{name}.{zone}")),
            Subject::Email(address) if self.email => {
                let normalised = normalise(address)?;
                let label = self
                    .hash
                    .query_label(&self.hash.digest(normalised.as_bytes()));
                Some(match &self.hash_label {
                    Some(suffix) => format!("{label}.{suffix}.{zone}"),
                    None => format!("{label}.{zone}"),
                })
            }
            _ => None,
        }
    }

    /// The list's page for `subject`, `$` replaced by the value (URL-encoded).
    pub(crate) fn link_for(&self, subject: &Subject) -> Option<String> {
        let link = self.link.as_ref()?;
        let value: String = subject
            .text()
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~:@".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        Some(link.replace('$', &value))
    }

    /// What the list's answer means.
    pub(crate) fn result(&self, outcome: &Outcome, link: Option<String>) -> ListResult {
        let mut result = ListResult {
            zone: self.zone.clone(),
            name: self.name.clone(),
            status: "not checked",
            codes: Vec::new(),
            meanings: Vec::new(),
            detail: None,
            link,
        };
        let why = |text: &str| Some(text.to_string());
        match outcome {
            Outcome::Found(records) => {
                let mut other = Vec::new();
                for (answer, _) in records {
                    let Answer::A(code) = answer else { continue };
                    if let Some(meaning) = self.errors.meaning(*code).or(standard_error(*code)) {
                        other.push(format!("it answered {code}: {meaning}"));
                    } else if let Some(meaning) = self.codes.meaning(*code) {
                        result.codes.push(code.to_string());
                        result.meanings.push(meaning.to_string());
                    } else {
                        other.push(format!(
                            "unknown answer {code}: not a code this list documents"
                        ));
                    }
                }
                result.status = if !result.codes.is_empty() {
                    "listed"
                } else if other.is_empty() {
                    "not listed"
                } else {
                    "not checked"
                };
                if !other.is_empty() {
                    result.detail = Some(other.join("; "));
                }
            }
            Outcome::NotFound { .. } => result.status = "not listed",
            Outcome::Timeout => {
                result.detail = Some(format!(
                    "no answer within {:.1} s",
                    self.timeout.as_secs_f64()
                ))
            }
            Outcome::ServFail => {
                result.detail = why("the resolver could not get an answer from the list (SERVFAIL)")
            }
            Outcome::Refused => result.detail = why("the question was refused (REFUSED)"),
            Outcome::Failed(error) => result.detail = Some(error.clone()),
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn zen() -> List {
        let codes: BTreeMap<String, String> = [
            ("127.0.0.2".to_string(), "SBL".to_string()),
            ("127.0.0.4-127.0.0.7".to_string(), "XBL".to_string()),
        ]
        .into();
        List::new(ListSpec {
            zone: "zen.example",
            lists: &["ipv4".to_string(), "ipv6".to_string()],
            link: Some("https://check.example/?q=$"),
            timeout: Duration::from_secs(1),
            codes: CodeTable::parse(&codes).unwrap(),
            ..ListSpec::default()
        })
        .unwrap()
    }

    fn found(codes: &[&str]) -> Outcome {
        Outcome::Found(
            codes
                .iter()
                .map(|c| (Answer::A(c.parse().unwrap()), 300))
                .collect(),
        )
    }

    #[test]
    fn codes_errors_and_unknown_answers() {
        let list = zen();
        let listed = list.result(&found(&["127.0.0.5"]), None);
        assert_eq!(
            (listed.status, listed.meanings.as_slice()),
            ("listed", &["XBL".to_string()][..])
        );
        let refused = list.result(&found(&["127.255.255.254"]), None);
        assert_eq!(refused.status, "not checked");
        assert!(refused.detail.unwrap().contains("refuses the resolver"));
        let unknown = list.result(&found(&["127.0.0.99"]), None);
        assert_eq!(unknown.status, "not checked");
        assert!(
            unknown
                .detail
                .unwrap()
                .contains("unknown answer 127.0.0.99")
        );
        assert!(unknown.codes.is_empty(), "never a listing");
        let both = list.result(&found(&["127.0.0.2", "127.0.0.99"]), None);
        assert_eq!(
            (both.status, both.codes.as_slice()),
            ("listed", &["127.0.0.2".to_string()][..])
        );
        assert_eq!(
            list.result(&Outcome::NotFound { negative_ttl: None }, None)
                .status,
            "not listed"
        );
        assert_eq!(list.result(&Outcome::Timeout, None).status, "not checked");
    }

    #[test]
    fn query_names_keys_and_links() {
        let list = zen();
        let ip = Subject::Ip("203.0.113.7".parse().unwrap());
        assert_eq!(list.query_name(&ip).unwrap(), "7.113.0.203.zen.example.");
        assert_eq!(
            list.link_for(&ip).unwrap(),
            "https://check.example/?q=203.0.113.7"
        );
        let v6 = Subject::Ip("2001:db8::1".parse().unwrap());
        assert!(
            list.query_name(&v6)
                .unwrap()
                .starts_with("1.0.0.0.0.0.0.0.")
        );
        assert_eq!(
            list.query_name(&Subject::Domain(Name::parse("a.example").unwrap())),
            None
        );
        let keyed = List::new(ListSpec {
            zone: "zen.dq.example",
            lists: &["ipv4".to_string()],
            key: Some("secretkey123"),
            ..ListSpec::default()
        })
        .unwrap();
        assert_eq!(keyed.zone, "zen.dq.example", "the key is never shown");
        assert_eq!(
            keyed.query_name(&ip).unwrap(),
            "7.113.0.203.secretkey123.zen.dq.example."
        );
        assert!(
            List::new(ListSpec {
                zone: "z.example",
                lists: &["ip4".to_string()],
                ..ListSpec::default()
            })
            .is_err()
        );
        let codes: BTreeMap<String, String> =
            [("127.0.0.9-127.0.0.2".to_string(), "x".to_string())].into();
        assert!(CodeTable::parse(&codes).is_err());
    }
}
