//! ward's own format: one entry a line, its kind read from the key —
//!
//! ```text
//! 203.0.113.7                 compromised
//! 198.51.100.0/24             :127.0.0.3:Listed for abuse        # rbldnsd-style value
//! 198.51.100.10-198.51.100.20 compromised
//! !198.51.100.15
//! 2001:db8:bad::/48           compromised
//! spam.example                marketing
//! *.spam.example              marketing
//! sender1@bulk.example        rate-evasion   expires=2026-12-01T00:00:00Z
//! sha1:5d41402abc4b2a76b9719d911017c592ab2c0d9f  compromised
//! ```
//!
//! A value is a reason name from the catalogue, an rbldnsd `:A:TXT`, or nothing (the
//! current default). Trailing `key=value` words are attributes: `expires=` (RFC 3339)
//! makes the listing temporary; `ts=`, `delay=` and `key=require|nodelay` are the
//! rspamd fork's per-entry parameters (a cooldown, a tarpit, an access key); the rest
//! is metadata for `ward lookup`. `#` after a
//! blank starts a comment; quote a TXT that contains ` #` or `=`.

use std::sync::Arc;

use super::address_batches::AddressBatches;
use super::ip_syntax::{IpKey, parse_ip_key};
use super::lexer::{
    LineError, LineOutcome, LineReader, check_domain, is_space, parse_domain, shown, skip_space,
    token_end,
};
use super::params;
use super::rbldnsd::report_finished;
use super::specials::{NsSpec, SoaSpec, Special, parse_a_txt, parse_special, special_start};
use super::{Entry, EntryKey, ParseOptions, ParsedFile};
use crate::time::parse_rfc3339;
use crate::zone::DatasetKind;
use crate::zone::dataset::DatasetBuilder;
use crate::zone::email::{DigestKind, plain_names, split_address};
use crate::zone::ip::Listing;
use crate::zone::name::Name;
use crate::zone::reason::{
    Catalogue, ParsedReason, Reason, is_reason_name, parse_quoted, parse_reason,
};
use crate::zone::value::{EntryParams, RawValue, ValueId};

pub(super) fn parse(lines: &mut LineReader<'_>, options: &ParseOptions) -> ParsedFile {
    let mut parser = WardParser {
        builder: DatasetBuilder::new(lines.file().clone(), DatasetKind::Ward, vec![Name::root()]),
        options,
        catalogue: None,
        default: RawValue::default(),
        soa: None,
        ns: None,
        expired: 0,
        cooling: 0,
        next_change: None,
        entries: Vec::new(),
        value_cache: Vec::new(),
        plain_value: None,
        number: 0,
        addresses: AddressBatches::new(options.normalise_addresses),
        reserve_at_first_name: None,
    };
    if options.for_export {
        parser.builder.digests.keep_full();
        parser.builder.reserve_for(lines.size);
    } else {
        parser.builder.names.fingerprint_address_names();
        // Sized at the first domain: a table sized for the file's bytes, when it holds
        // only addresses' domains, is mostly empty and slower to fill.
        parser.reserve_at_first_name = Some(lines.size);
    }
    let file = lines.file().clone();
    loop {
        let number = lines.line_number() + 1;
        let Some(line) = lines.next_line() else { break };
        let outcome = parser.line(line, number, &file);
        lines.report(outcome);
    }
    parser.addresses.finish(&mut parser.builder);
    let mut parsed = ParsedFile::empty();
    parsed.soa = parser.soa;
    parsed.ns = parser.ns;
    parsed.expired = parser.expired;
    parsed.cooling = parser.cooling;
    parsed.next_change = parser.next_change;
    parsed.entries = parser.entries;
    let finished = parser.builder.finish(options.default_ttl);
    report_finished(&finished, lines);
    parsed.datasets.push(Arc::new(finished.dataset));
    parsed.diagnostics = lines.take_diagnostics();
    parsed
}

struct WardParser<'o> {
    builder: DatasetBuilder,
    options: &'o ParseOptions,
    /// The shared catalogue plus this file's `$REASON` lines, copied on first override.
    catalogue: Option<Catalogue>,
    default: RawValue,
    soa: Option<SoaSpec>,
    ns: Option<NsSpec>,
    expired: usize,
    /// Entries whose cooldown (`ts=` + `delay=`) is still to end.
    cooling: usize,
    next_change: Option<i64>,
    entries: Vec<Entry>,
    /// Recently used value texts: lists repeat a handful of values.
    value_cache: Vec<(Box<[u8]>, Conditions, ValueId)>,
    /// The value of a line with none of its own, most lines of a big list: found
    /// without comparing texts.
    plain_value: Option<ValueId>,
    /// The line being parsed, for values' warnings.
    number: u32,
    addresses: AddressBatches,
    /// The file's size, to size the name index by once a domain entry comes.
    reserve_at_first_name: Option<u64>,
}

/// When and to whom a value answers: its `expires=`, and its `ts=` `delay=` `key=`.
type Conditions = (Option<i64>, EntryParams);

/// What an entry's key lists.
enum Key<'a> {
    Ip4(u32, u32),
    Ip6(u128, u128),
    Name { name: Name, exact: bool, wild: bool },
    Address(&'a str),
    Digest(DigestKind, Vec<u8>),
}

impl<'o> WardParser<'o> {
    fn catalogue(&self) -> &Catalogue {
        self.catalogue.as_ref().unwrap_or(&self.options.catalogue)
    }

    fn line(&mut self, line: &[u8], number: u32, file: &Arc<std::path::Path>) -> LineOutcome {
        self.number = number;
        let at = skip_space(line, 0);
        let end = content_end(line, at);
        if at >= end {
            return Ok(None);
        }
        if let Some(key) = special_start(line, at) {
            return self.special(&line[..end], key, number, file);
        }
        match line[at] {
            b'#' | b';' => Ok(None),
            b':' if line.get(at + 1) != Some(&b':') => {
                let default = self.explicit_value(&line[..end], at)?;
                self.set_default(default);
                Ok(None)
            }
            _ => self.entry(&line[..end], at, number),
        }
    }

    fn special(
        &mut self,
        line: &[u8],
        at: usize,
        number: u32,
        file: &Arc<std::path::Path>,
    ) -> LineOutcome {
        match parse_special(line, at)? {
            Special::Soa(mut soa) => {
                soa.ttl = soa.ttl.or(self.builder.ttl);
                self.soa.get_or_insert(soa);
            }
            Special::Ns(mut ns) => {
                ns.ttl = ns.ttl.or(self.builder.ttl);
                self.ns.get_or_insert(ns);
            }
            Special::Ttl(ttl) => self.builder.ttl = Some(ttl),
            Special::Var(n, text) => {
                if self.builder.vars[n].is_none() {
                    self.builder.vars[n] = Some(text.into());
                }
            }
            Special::Reason(args, args_at) => {
                let ParsedReason {
                    name,
                    code,
                    text,
                    self_removal,
                } = parse_reason(args, &self.builder.vars)
                    .map_err(|e| LineError::new(args_at + e.at, e.message))?;
                let catalogue = self
                    .catalogue
                    .get_or_insert_with(|| (*self.options.catalogue).clone());
                catalogue.insert(Reason {
                    name,
                    code,
                    text,
                    self_removal,
                    file: file.clone(),
                    line: number,
                });
            }
            Special::Unknown(word) if word.eq_ignore_ascii_case(b"DEFAULT") => {
                let value_at = skip_space(line, token_end(line, at));
                let default = self.value(line, value_at, line.len())?;
                self.set_default(default);
            }
            Special::Unknown(word) => {
                return Err(LineError::new(
                    at,
                    format!(
                        "unknown special ${}: expected $SOA, $NS, $TTL, $REASON, $DEFAULT or $0-$9",
                        String::from_utf8_lossy(word)
                    ),
                ));
            }
            Special::BaseTemplate(_)
            | Special::MaxRange4(_)
            | Special::Timestamp { .. }
            | Special::Dataset(..) => {
                return Err(LineError::new(
                    at,
                    "this special belongs in rbldnsd dataset files, not in .zone files",
                ));
            }
        }
        Ok(None)
    }

    fn entry(&mut self, line: &[u8], at: usize, number: u32) -> LineOutcome {
        let (excluded, key_at) = match line[at] {
            b'!' => (true, skip_space(line, at + 1)),
            _ => (false, at),
        };
        let key_end = token_end(line, key_at);
        let key = parse_key(line, key_at, key_end)?;

        let (value_end, attributes) = split_attributes(line, key_end)?;
        let mut expires = None;
        let mut params = EntryParams::default();
        for attribute in &attributes {
            if attribute.name == "expires" {
                expires = Some(
                    parse_rfc3339(&attribute.value)
                        .map_err(|error| LineError::new(attribute.at, error.to_string()))?,
                );
            } else if params::attribute(
                &attribute.name,
                &attribute.value,
                attribute.at,
                &mut params,
            )? && excluded
            {
                return Err(LineError::new(
                    attribute.at,
                    "an exclusion takes no ts=, delay= or key=",
                ));
            }
        }
        let value_at = skip_space(line, key_end);
        if excluded && value_at < value_end {
            return Err(LineError::new(value_at, "an exclusion takes no value"));
        }
        if let Some(at_time) = expires
            && at_time <= self.options.now
        {
            self.expired += 1;
            return Ok(Some(LineError::new(
                key_at,
                "listing expired (expires= has passed); it is not served",
            )));
        }
        let listing = if excluded {
            Listing::Excluded
        } else {
            Listing::Value(self.value_id(line, value_at, value_end, expires, params)?)
        };
        if let Some(at_time) = expires {
            self.next_change = Some(self.next_change.map_or(at_time, |e| e.min(at_time)));
        }
        if let Some(at_time) = params.active_from().filter(|&t| t > self.options.now) {
            self.cooling += 1;
            self.next_change = Some(self.next_change.map_or(at_time, |e| e.min(at_time)));
        }
        let entry_key = self.add(key, listing, number)?;
        self.builder.entries += 1;
        if self.options.keep_entries {
            self.entries.push(Entry {
                line: number,
                dataset: 0,
                key: entry_key,
                excluded,
                text: String::from_utf8_lossy(&line[at..]).trim_end().to_string(),
                expires,
                params,
                attributes: attributes.into_iter().map(|a| (a.name, a.value)).collect(),
            });
        }
        Ok(None)
    }

    fn add(&mut self, key: Key, listing: Listing, number: u32) -> Result<EntryKey, LineError> {
        Ok(match key {
            Key::Ip4(first, last) => {
                self.builder.ip4.add_range(first, last, listing, number);
                EntryKey::Ip4 { first, last }
            }
            Key::Ip6(first, last) => {
                self.builder.ip6.add_range(first, last, listing, number);
                EntryKey::Ip6 { first, last }
            }
            Key::Name { name, exact, wild } => {
                if let Some(bytes) = self.reserve_at_first_name.take() {
                    self.builder.reserve_for(bytes);
                }
                if exact {
                    self.builder.names.add(&name, false, false, listing);
                }
                if wild {
                    self.builder.names.add(&name, true, false, listing);
                }
                EntryKey::Name { name, exact, wild }
            }
            Key::Address(address) => {
                // The first form is the address as written, and its first name the
                // one-label form: the name `ward lookup` shows.
                let name = if self.options.keep_entries {
                    plain_names(address, self.options.normalise_addresses)
                        .into_iter()
                        .next()
                        .map(|p| p.name)
                        .unwrap_or_default()
                } else {
                    Name::root()
                };
                let kept = if self.options.keep_entries {
                    address.to_string()
                } else {
                    String::new()
                };
                self.addresses.push(address, listing, &mut self.builder);
                EntryKey::Address {
                    address: kept,
                    name,
                }
            }
            Key::Digest(kind, digest) => {
                self.builder.digests.add(kind, &digest, listing);
                EntryKey::Digest { kind, digest }
            }
        })
    }

    /// Values read so far keep the default of their line; cached ones took it too.
    fn set_default(&mut self, default: RawValue) {
        self.default = default;
        self.value_cache.clear();
        self.plain_value = None;
    }

    /// The value id for the text in `line[at..end]` (empty: the default).
    fn value_id(
        &mut self,
        line: &[u8],
        at: usize,
        end: usize,
        expires: Option<i64>,
        params: EntryParams,
    ) -> Result<ValueId, LineError> {
        let text = &line[at.min(end)..end];
        let plain = text.is_empty() && expires.is_none() && params.is_empty();
        if plain && let Some(id) = self.plain_value {
            return Ok(id);
        }
        if let Some(&(_, _, id)) = self
            .value_cache
            .iter()
            .find(|(cached, e, _)| **cached == *text && *e == (expires, params))
        {
            return Ok(id);
        }
        let mut value = self.value(line, at, end)?;
        value.expires = expires;
        value.params = params;
        let id = self.builder.values.intern(value, self.number);
        if plain {
            self.plain_value = Some(id);
        }
        if self.value_cache.len() >= 16 {
            self.value_cache.remove(0);
        }
        self.value_cache.push((text.into(), (expires, params), id));
        Ok(id)
    }

    /// A value: nothing (default), a reason name, or `:A:TXT` (TXT optionally quoted).
    fn value(&self, line: &[u8], at: usize, end: usize) -> Result<RawValue, LineError> {
        if at >= end {
            return Ok(self.default.clone());
        }
        if line[at] == b':' {
            return self.explicit_value(&line[..end], at);
        }
        let word_end = token_end(line, at).min(end);
        let word = &line[at..word_end];
        if skip_space(line, word_end) < end || !is_reason_name(word) {
            return Err(LineError::new(
                at,
                format!(
                    "expected a reason name or an :A:TXT value, found {}",
                    shown(&line[at..end])
                ),
            ));
        }
        let name = String::from_utf8_lossy(word);
        let reason = self.catalogue().get(&name).ok_or_else(|| {
            let known: Vec<&str> = self.catalogue().iter().map(|r| r.name.as_str()).collect();
            let closest = known
                .iter()
                .map(|k| (edit_distance(k, &name), *k))
                .min()
                .filter(|(distance, _)| *distance <= 2);
            LineError::new(
                at,
                match (closest, known.is_empty()) {
                    (_, true) => format!(
                        "unknown reason `{name}`: no reasons are defined (reasons.conf or $REASON)"
                    ),
                    (Some((_, guess)), _) => {
                        format!("unknown reason `{name}`: did you mean `{guess}`?")
                    }
                    (None, _) => format!(
                        "unknown reason `{name}`: expected one of {}",
                        known.join(", ")
                    ),
                },
            )
        })?;
        Ok(RawValue::new(reason.code, Some(&reason.text)))
    }

    fn explicit_value(&self, line: &[u8], at: usize) -> Result<RawValue, LineError> {
        let mut value = parse_a_txt(line, at, &self.default)?;
        if let Some(txt) = &value.txt
            && txt.first() == Some(&b'"')
        {
            let (text, after) = parse_quoted(txt, 0).map_err(|e| {
                let txt_at = line.len() - txt.len();
                LineError::new(txt_at + e.at, e.message)
            })?;
            if after != txt.len() {
                return Err(LineError::new(
                    line.len() - txt.len() + after,
                    "expected the end of the value after the quoted text",
                ));
            }
            value.txt = Some(text.into_boxed_slice());
        }
        Ok(value)
    }
}

/// Levenshtein distance, to suggest the reason a typo meant.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// End of the line's content: before a `#` comment that follows a blank (outside
/// quotes), with trailing blanks trimmed.
fn content_end(line: &[u8], from: usize) -> usize {
    let mut quoted = false;
    let mut i = from;
    while i < line.len() {
        match line[i] {
            b'"' => quoted = !quoted,
            b'\\' if quoted => i += 1,
            b'#' if !quoted && i > from && is_space(line[i - 1]) => break,
            _ => {}
        }
        i += 1;
    }
    let mut end = i.min(line.len());
    while end > from && is_space(line[end - 1]) {
        end -= 1;
    }
    end
}

/// A trailing `name=value` word of an entry.
struct Attribute {
    name: String,
    value: String,
    /// Offset of the value in the line, for errors.
    at: usize,
}

/// Splits trailing `name=value` words off the value part (outside quotes). Returns the
/// end of the value text and the attributes.
fn split_attributes(line: &[u8], from: usize) -> Result<(usize, Vec<Attribute>), LineError> {
    let mut attributes = Vec::new();
    let mut end = line.len();
    loop {
        let trimmed = {
            let mut e = end;
            while e > from && is_space(line[e - 1]) {
                e -= 1;
            }
            e
        };
        let mut start = trimmed;
        while start > from && !is_space(line[start - 1]) {
            start -= 1;
        }
        if start >= trimmed || start == from {
            end = trimmed;
            break;
        }
        let word = &line[start..trimmed];
        let Some(eq) = word.iter().position(|&c| c == b'=') else {
            end = trimmed;
            break;
        };
        let name = &word[..eq];
        let is_attribute = !name.is_empty()
            && name[0].is_ascii_lowercase()
            && name
                .iter()
                .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-')
            && !word.contains(&b'"');
        if !is_attribute {
            end = trimmed;
            break;
        }
        if eq + 1 == word.len() {
            return Err(LineError::new(start + eq + 1, "expected a value after `=`"));
        }
        attributes.push(Attribute {
            name: String::from_utf8_lossy(name).into_owned(),
            value: String::from_utf8_lossy(&word[eq + 1..]).into_owned(),
            at: start + eq + 1,
        });
        end = start;
    }
    attributes.reverse();
    Ok((end, attributes))
}

const KEY_EXPECTED: &str = "expected an IP address, CIDR or range, a domain name, *.domain, local@domain or sha1:/md5:/sha256: digest";

fn parse_key(line: &[u8], at: usize, end: usize) -> Result<Key<'_>, LineError> {
    let token =
        std::str::from_utf8(&line[at..end]).map_err(|_| LineError::new(at, KEY_EXPECTED))?;
    if token.is_empty() {
        return Err(LineError::new(at, KEY_EXPECTED));
    }
    if let Some((kind, hex_text)) = token.split_once(':')
        && let Some(kind) = DigestKind::from_name(kind)
    {
        let digest = hex::decode(hex_text)
            .ok()
            .filter(|d| d.len() == kind.digest_len())
            .ok_or_else(|| {
                LineError::new(
                    at + kind.name().len() + 1,
                    format!(
                        "expected {} hex digits of a {} digest",
                        kind.digest_len() * 2,
                        kind.name()
                    ),
                )
            })?;
        return Ok(Key::Digest(kind, digest));
    }
    if token.contains('@') {
        let (local, _) = split_address(token)
            .ok_or_else(|| LineError::new(at, "expected an email address local@domain"))?;
        let domain_at = at + local.len() + 1;
        check_domain(line, domain_at, end)?;
        if local.len() > crate::zone::name::MAX_LABEL {
            return Err(LineError::new(
                at,
                "local part longer than 63 bytes cannot be a DNS label",
            ));
        }
        return Ok(Key::Address(token));
    }
    if let Some(key) =
        parse_ip_key(token).map_err(|(offset, message)| LineError::new(at + offset, message))?
    {
        return Ok(match key {
            IpKey::V4(first, last) => Key::Ip4(first, last),
            IpKey::V6(first, last) => Key::Ip6(first, last),
        });
    }
    let (exact, wild, name_at) = if let Some(rest) = token.strip_prefix("*.") {
        (false, true, at + token.len() - rest.len())
    } else if token.starts_with('.') {
        (true, true, at + 1)
    } else {
        (true, false, at)
    };
    let name = parse_domain(line, name_at, end)?;
    Ok(Key::Name { name, exact, wild })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("compromized-host", "compromised-host"), 1);
        assert_eq!(edit_distance("spam", "spam-source"), 7);
        assert_eq!(edit_distance("", "ab"), 2);
    }

    #[test]
    fn attributes_and_comments() {
        let line = b"a@b.example  rate-evasion  expires=2026-12-01 by=ops";
        let (end, attrs) = split_attributes(line, 11).unwrap();
        assert_eq!(&line[..end], b"a@b.example  rate-evasion");
        assert_eq!(attrs.len(), 2);
        assert_eq!(attrs[1].name, "by");
        let line = b"1.2.3.4  :2:\"quoted # not a comment\"   # comment";
        assert_eq!(
            &line[..content_end(line, 0)],
            b"1.2.3.4  :2:\"quoted # not a comment\""
        );
        assert_eq!(content_end(b"a.example#x", 0), 11);
    }
}
