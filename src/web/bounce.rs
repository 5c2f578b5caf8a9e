//! The bounce explainer: a pasted SMTP rejection or bounce in, the lists that caused
//! it out. It picks out the IP addresses, email addresses, domains and list names in
//! the text, however the mail server framed them (Postfix's `[203.0.113.7]`, Exim's
//! `H=… [2001:db8::25]`, `<user@example>`, a bare `203.0.113.7` …), looks each up in
//! the zones being served, and says in words which of our lists caused the bounce
//! and why — or that the list it names is not ours.

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde::Serialize;

use super::lookup::{CodeView, LookupView, lookup_view};
use crate::external::ListResult;
use crate::report::entries::Details;
use crate::store::Snapshot;
use crate::zone::email::split_address;

/// At most this many things found in a text are looked up.
const MAX_ITEMS: usize = 24;
/// Only this much of a pasted text is read.
pub(crate) const MAX_TEXT: usize = 32 * 1024;

/// Words after which a bounce names the list that refused the mail.
const LIST_MARKERS: &[&str] = &[
    "blocked using",
    "listed at",
    "listed in",
    "listed on",
    "listed by",
    "black list at",
    "blacklist at",
    "blacklisted at",
    "blocklist at",
    "block list at",
    "blocklisted at",
    "found in",
    "rbl",
    "dnsbl",
    "dnslist",
];

/// Other operators' lists, recognised wherever they appear.
const OTHER_LISTS: &[&str] = &[
    "spamhaus.org",
    "spamcop.net",
    "barracudacentral.org",
    "sorbs.net",
    "abuseat.org",
    "uceprotect.net",
    "surbl.org",
    "uribl.com",
    "mailspike.net",
    "surriel.com",
    "spameatingmonkey.net",
    "abusix.zone",
    "senderscore.com",
    "spamrats.com",
    "backscatterer.org",
    "blocklist.de",
    "0spam.org",
    "invaluement.com",
    "manitu.net",
    "nordspam.com",
];

#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Found {
    pub(crate) ips: Vec<String>,
    pub(crate) addresses: Vec<String>,
    pub(crate) domains: Vec<String>,
    /// Our zones that the text names.
    pub(crate) our_lists: Vec<String>,
    /// Lists of others that the text names.
    pub(crate) other_lists: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Cause {
    pub(crate) item: String,
    pub(crate) zone: String,
    /// The bounce names this zone.
    pub(crate) named: bool,
    pub(crate) codes: Vec<CodeView>,
    pub(crate) reasons: Vec<String>,
    pub(crate) removal: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct BounceView {
    /// What it comes to, in sentences.
    pub(crate) verdict: Vec<String>,
    /// Whether one of our lists caused it (a listing named by the bounce).
    pub(crate) ours: bool,
    pub(crate) causes: Vec<Cause>,
    pub(crate) found: Found,
    /// Looked up and not listed anywhere.
    pub(crate) unlisted: Vec<String>,
    /// The text was longer than what was read.
    pub(crate) truncated: bool,
    /// What the public lists the bounce names say about what it names.
    pub(crate) external: Vec<ExternalCause>,
}

/// One public list's answer about one thing a bounce names.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ExternalCause {
    pub(crate) item: String,
    #[serde(flatten)]
    pub(crate) result: ListResult,
}

impl BounceView {
    /// Adds what the public lists the bounce names said, in place of "not one of our
    /// lists: ask its operator".
    pub(crate) fn with_external(&mut self, zone: &str, answers: Vec<ExternalCause>) {
        let mut sentences = Vec::new();
        for answer in &answers {
            let result = &answer.result;
            let item = &answer.item;
            let link = result
                .link
                .as_ref()
                .map(|link| format!(" Their page for it: {link}"))
                .unwrap_or_default();
            sentences.push(match result.status {
                "listed" => {
                    let codes: Vec<String> = result
                        .codes
                        .iter()
                        .zip(&result.meanings)
                        .map(|(code, meaning)| format!("{code}: {meaning}"))
                        .collect();
                    format!(
                        "{zone} ({}) lists {item} as {}.{link}",
                        result.name,
                        codes.join("; ")
                    )
                }
                "not listed" => format!(
                    "{zone} does not list {item} now: the listing has expired or was removed since. Send the message again."
                ),
                _ => format!(
                    "We could not check whether {zone} lists {item}: {}.{link}",
                    result.detail.as_deref().unwrap_or("no answer")
                ),
            });
        }
        if sentences.is_empty() {
            return;
        }
        let not_ours =
            format!("{zone} is not one of our lists: ask its operator about that block.");
        match self.verdict.iter().position(|s| *s == not_ours) {
            Some(at) => {
                self.verdict.splice(at..=at, sentences);
            }
            None => self.verdict.extend(sentences),
        }
        self.external.extend(answers);
    }
}

/// A word of the text and where it starts.
struct Token<'t> {
    text: &'t str,
    at: usize,
    /// Part of a URL (`//host`, `/path`): not a list name.
    in_url: bool,
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b".:@+-_%".contains(&b)
}

fn tokens(text: &str) -> Vec<Token<'_>> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !is_token_byte(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_token_byte(bytes[i]) {
            i += 1;
        }
        let in_url = start > 0 && bytes[start - 1] == b'/';
        let raw = &text[start..i];
        let trimmed = raw.trim_matches(|c: char| ".:-_%".contains(c));
        let offset = start + raw.find(trimmed).unwrap_or(0);
        let trimmed = strip_prefix_ci(trimmed, "ipv6:")
            .or_else(|| strip_prefix_ci(trimmed, "mailto:"))
            .unwrap_or(trimmed);
        if !trimmed.is_empty() {
            out.push(Token {
                text: trimmed,
                at: offset,
                in_url,
            });
        }
    }
    out
}

fn strip_prefix_ci<'t>(text: &'t str, prefix: &str) -> Option<&'t str> {
    (text.len() > prefix.len() && text[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &text[prefix.len()..])
}

/// A host or domain name as written in mail: letters, digits, hyphens; a TLD of
/// letters.
fn domain_like(text: &str) -> Option<String> {
    let name = text.trim_end_matches('.').to_ascii_lowercase();
    if name.len() > 253 || !name.contains('.') || name.parse::<IpAddr>().is_ok() {
        return None;
    }
    let labels: Vec<&str> = name.split('.').collect();
    let tld = labels.last()?;
    let ok = labels.iter().all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }) && tld.len() >= 2
        && tld.bytes().all(|b| b.is_ascii_alphabetic());
    ok.then_some(name)
}

/// `name` is below `zone`.
fn under(name: &str, zone: &str) -> bool {
    name.len() > zone.len()
        && name.ends_with(zone)
        && name[..name.len() - zone.len()].ends_with('.')
}

/// An address worth looking up: not loopback (return codes), unspecified or multicast.
fn ip_worth_looking_up(ip: IpAddr) -> bool {
    !(ip.is_loopback() || ip.is_unspecified() || ip.is_multicast())
}

/// Everything in `text` that could be listed, and the lists it names.
pub(crate) fn find(text: &str, our_zones: &[String], their_zones: &[String]) -> Found {
    let tokens = tokens(text);
    let lower = text.to_ascii_lowercase();
    let ours = |name: &str| our_zones.iter().any(|z| z == name);
    let under_ours = |name: &str| {
        our_zones.iter().any(|z| {
            name.len() > z.len()
                && name.ends_with(z.as_str())
                && name[..name.len() - z.len()].ends_with('.')
        })
    };
    let other_list = |name: &str| {
        OTHER_LISTS
            .iter()
            .copied()
            .chain(their_zones.iter().map(String::as_str))
            .any(|l| name == l || name.ends_with(&format!(".{l}")))
    };
    let mut found = Found::default();
    let mut seen = BTreeSet::new();
    let push = |list: &mut Vec<String>, item: String, seen: &mut BTreeSet<String>| {
        if seen.insert(item.clone()) {
            list.push(item);
        }
    };
    // The lists the text names after "blocked using", "listed at", …
    for marker in LIST_MARKERS {
        let mut from = 0;
        while let Some(pos) = lower[from..].find(marker) {
            let start = from + pos;
            let after = start + marker.len();
            from = after;
            let bounded = |i: Option<&u8>| i.is_none_or(|b| !b.is_ascii_alphanumeric());
            if !bounded(start.checked_sub(1).and_then(|i| lower.as_bytes().get(i)))
                || !bounded(lower.as_bytes().get(after))
            {
                continue;
            }
            let named = tokens
                .iter()
                .filter(|t| t.at >= after && t.at < after + 80 && !t.in_url)
                .find_map(|t| domain_like(t.text).filter(|_| !t.text.contains('@')));
            if let Some(name) = named {
                if ours(&name) {
                    push(&mut found.our_lists, name, &mut seen);
                } else if !under_ours(&name) {
                    push(&mut found.other_lists, name, &mut seen);
                }
            }
        }
    }
    for token in &tokens {
        let text = token.text;
        if let Ok(ip) = text.parse::<IpAddr>() {
            if ip_worth_looking_up(ip) {
                push(&mut found.ips, ip.to_string(), &mut seen);
            }
            continue;
        }
        if text.matches('@').count() == 1 {
            let address = text
                .trim_matches(|c: char| c == '<' || c == '>')
                .to_ascii_lowercase();
            if let Some((local, domain)) = split_address(&address)
                && !local.is_empty()
                && domain_like(domain).is_some()
            {
                let domain = domain.to_string();
                push(&mut found.addresses, address, &mut seen);
                if !ours(&domain) {
                    push(&mut found.domains, domain, &mut seen);
                }
            }
            continue;
        }
        let Some(name) = domain_like(text) else {
            continue;
        };
        if ours(&name) {
            push(&mut found.our_lists, name, &mut seen);
        } else if let Some(zone) = our_zones.iter().find(|z| under(&name, z)) {
            // A query name (`7.113.0.203.ips.block.example`): it names the list too.
            push(&mut found.our_lists, zone.clone(), &mut seen);
            push(&mut found.domains, name, &mut seen);
        } else if other_list(&name) {
            if !token.in_url {
                push(&mut found.other_lists, name, &mut seen);
            }
        } else {
            push(&mut found.domains, name, &mut seen);
        }
    }
    found
}

/// Explains `text` against the zones being served.
pub(crate) fn explain_bounce(
    text: &str,
    snapshot: &Snapshot,
    details: &Details,
    their_zones: &[String],
    now: i64,
) -> BounceView {
    let truncated = text.len() > MAX_TEXT;
    let mut end = text.len().min(MAX_TEXT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let text = &text[..end];
    let our_zones: Vec<String> = snapshot
        .zones()
        .iter()
        .map(|z| z.name.to_string())
        .collect();
    let found = find(text, &our_zones, their_zones);
    let items: Vec<&String> = found
        .ips
        .iter()
        .chain(&found.addresses)
        .chain(&found.domains)
        .take(MAX_ITEMS)
        .collect();
    let mut causes = Vec::new();
    let mut unlisted = Vec::new();
    for item in items {
        let Ok(view) = lookup_view(item, snapshot, details, now) else {
            continue;
        };
        if !view.listed {
            unlisted.push(item.clone());
            continue;
        }
        causes.extend(causes_of(&view, &found));
    }
    // Causes named by the bounce first.
    causes.sort_by_key(|c: &Cause| !c.named);
    let verdict = verdict(&found, &causes);
    BounceView {
        ours: causes.iter().any(|c| c.named),
        verdict,
        causes,
        found,
        unlisted,
        truncated,
        external: Vec::new(),
    }
}

fn causes_of(view: &LookupView, found: &Found) -> Vec<Cause> {
    view.zones
        .iter()
        .filter(|z| z.listed)
        .map(|zone| Cause {
            item: view.query.clone(),
            zone: zone.zone.clone(),
            named: found.our_lists.contains(&zone.zone),
            codes: zone.codes.clone(),
            reasons: zone.reasons.clone(),
            removal: zone.removal.clone(),
        })
        .collect()
}

fn verdict(found: &Found, causes: &[Cause]) -> Vec<String> {
    let mut out = Vec::new();
    for cause in causes.iter().filter(|c| c.named) {
        out.push(format!(
            "Our list {} caused this bounce: {} is listed there.",
            cause.zone, cause.item
        ));
    }
    for zone in &found.our_lists {
        if !causes.iter().any(|c| c.named && &c.zone == zone) {
            out.push(format!(
                "The bounce names our list {zone}, but nothing in it is listed there now: the listing has expired or was removed since. Send the message again."
            ));
        }
    }
    for list in &found.other_lists {
        out.push(format!(
            "{list} is not one of our lists: ask its operator about that block."
        ));
    }
    if found.our_lists.is_empty() {
        for cause in causes {
            out.push(format!(
                "{} is listed in our list {}; if the receiving server uses that list, this is why it refused the mail.",
                cause.item, cause.zone
            ));
        }
    }
    if out.is_empty() {
        out.push(
            "Nothing in this text is listed in our lists, and it names none of them: the block came from somewhere else (the receiver's own filter or another list)."
                .to_string(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours() -> Vec<String> {
        vec!["ips.block.example".into(), "domains.block.example".into()]
    }

    #[test]
    fn postfix_reply() {
        let found = find(
            "554 5.7.1 Service unavailable; Client host [203.0.113.7] blocked using ips.block.example; 203.0.113.7 looks hacked. Dispute: https://help.block.example/ticket?q=203.0.113.7",
            &ours(),
            &[],
        );
        assert_eq!(found.ips, ["203.0.113.7"]);
        assert_eq!(found.our_lists, ["ips.block.example"]);
        assert!(found.other_lists.is_empty(), "{:?}", found.other_lists);
        assert!(found.domains.contains(&"help.block.example".to_string()));
    }

    #[test]
    fn exim_and_ipv6_and_addresses() {
        let found = find(
            "H=mail.example.net [IPv6:2001:db8::25]:4711 F=<Sender1@Bulk.example> rejected RCPT <x@y.example>: 2001:db8::25 is listed by ips.block.example (127.0.0.3)",
            &ours(),
            &[],
        );
        assert_eq!(found.ips, ["2001:db8::25"], "127.0.0.3 is a return code");
        assert_eq!(found.addresses, ["sender1@bulk.example", "x@y.example"]);
        assert!(found.domains.contains(&"bulk.example".to_string()));
        assert_eq!(found.our_lists, ["ips.block.example"]);
    }

    #[test]
    fn other_lists_are_named_as_such() {
        let found = find(
            "550 5.7.1 Service unavailable; Client host [192.0.2.99] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/192.0.2.99",
            &ours(),
            &[],
        );
        assert_eq!(found.other_lists, ["zen.spamhaus.org"]);
        assert!(found.our_lists.is_empty());
        assert_eq!(found.ips, ["192.0.2.99"]);
    }

    #[test]
    fn a_query_name_names_its_list() {
        let found = find(
            "550 rejected: 7.113.0.203.ips.block.example returned 127.0.0.3",
            &ours(),
            &[],
        );
        assert_eq!(found.our_lists, ["ips.block.example"]);
        assert_eq!(found.domains, ["7.113.0.203.ips.block.example"]);
    }

    #[test]
    fn status_codes_and_noise_are_not_items() {
        let found = find(
            "421 4.7.0 Try again later, closing connection. (S3150)",
            &ours(),
            &[],
        );
        assert!(
            found.ips.is_empty() && found.domains.is_empty(),
            "{found:?}"
        );
    }
}
