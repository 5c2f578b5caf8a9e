//! rbldnsd's dataset types, with rbldnsd 1.0's semantics for the same data. Where
//! rbldnsd silently mangles input (CRLF line ends, TXT cut at 255 bytes), ward reads it
//! as meant; every other difference is a bad line being reported instead of skipped.

use std::path::Path;
use std::sync::Arc;

use super::ip_syntax::{Ip4Key, ip4_cidr, ip4_full, ip4_range, ip6_prefix};
use super::lexer::{
    LineError, LineOutcome, LineReader, is_space, parse_domain, shown, skip_space, token_end,
    trim_end,
};
use super::params;
use super::specials::{
    NsSpec, SoaSpec, Special, parse_a_txt, parse_special, served_text, special_start,
};
use super::{Entry, EntryKey, ParseOptions, ParsedFile};
use crate::zone::DatasetKind;
use crate::zone::dataset::{DatasetBuilder, Finished};
use crate::zone::generic::{Record, RecordData};
use crate::zone::ip::{Listing, range_to_ip4set_blocks};
use crate::zone::name::Name;
use crate::zone::reason::MAX_TEMPLATE;
use crate::zone::value::{EntryParams, RawValue, ValueId};

/// Parses a file of one of the single-dataset types (every type but `combined` and `acl`).
pub(super) fn parse(
    lines: &mut LineReader<'_>,
    kind: DatasetKind,
    options: &ParseOptions,
) -> ParsedFile {
    let mut specials = ZoneSpecials::default();
    let mut parser = DatasetParser::new(lines.file().clone(), kind, vec![Name::root()], options);
    parser.builder.reserve_for(lines.size);
    loop {
        let number = lines.line_number() + 1;
        let Some(line) = lines.next_line() else { break };
        let outcome = parser.line(line, number, &mut specials);
        lines.report(outcome);
    }
    let mut parsed = specials.into_parsed(lines);
    parser.finish(&mut parsed, lines);
    parsed
}

/// Zone-level results of a file: the first `$SOA` and `$NS`.
#[derive(Default)]
pub(super) struct ZoneSpecials {
    soa: Option<SoaSpec>,
    ns: Option<NsSpec>,
}

impl ZoneSpecials {
    /// Keeps the first `$SOA` and `$NS`; a TTL written as 0 is the dataset's `ttl`.
    pub(super) fn take(&mut self, special: Special<'_>, ttl: Option<u32>) {
        match special {
            Special::Soa(mut soa) => {
                soa.ttl = soa.ttl.or(ttl);
                self.soa.get_or_insert(soa);
            }
            Special::Ns(mut ns) => {
                ns.ttl = ns.ttl.or(ttl);
                self.ns.get_or_insert(ns);
            }
            _ => {}
        }
    }

    pub(super) fn into_parsed(self, lines: &mut LineReader<'_>) -> ParsedFile {
        let mut parsed = ParsedFile::empty();
        parsed.soa = self.soa;
        parsed.ns = self.ns;
        parsed.diagnostics = lines.take_diagnostics();
        parsed
    }
}

/// Parses the lines of one dataset of any data type.
pub(super) struct DatasetParser<'o> {
    pub(super) builder: DatasetBuilder,
    kind: DatasetKind,
    options: &'o ParseOptions,
    /// The current default value (`:A:TXT` line), applying to the lines after it.
    default: RawValue,
    default_id: Option<ValueId>,
    /// `ip4tset`/`ip6tset`: the first default line applies to every entry.
    set_default: Option<RawValue>,
    /// Last explicit value text, its id and when its cooldown ends: feeds repeat
    /// values line after line.
    last_value: Option<(Box<[u8]>, ValueId, EntryParams)>,
    max_range4: u64,
    expired_at: Option<i64>,
    /// Entries still cooling down, and the first end of a cooldown to come.
    cooling: usize,
    next_active: Option<i64>,
    /// A warning about the value of the line being parsed (its parameters).
    value_warning: Option<LineError>,
    /// The parameters of the line being parsed, for `ward lookup`.
    entry_params: EntryParams,
    entries: Vec<Entry>,
    /// The line being parsed, for values' warnings.
    number: u32,
}

impl<'o> DatasetParser<'o> {
    pub(super) fn new(
        file: Arc<Path>,
        kind: DatasetKind,
        attach: Vec<Name>,
        options: &'o ParseOptions,
    ) -> Self {
        DatasetParser {
            builder: DatasetBuilder::new(file, kind, attach),
            kind,
            options,
            default: RawValue::default(),
            default_id: None,
            set_default: None,
            last_value: None,
            max_range4: u64::MAX,
            expired_at: None,
            cooling: 0,
            next_active: None,
            value_warning: None,
            entry_params: EntryParams::default(),
            entries: Vec::new(),
            number: 0,
        }
    }

    pub(super) fn line(
        &mut self,
        line: &[u8],
        number: u32,
        file: &mut ZoneSpecials,
    ) -> LineOutcome {
        self.number = number;
        let at = skip_space(line, 0);
        if at >= trim_end(line) {
            return Ok(None);
        }
        if let Some(key) = special_start(line, at) {
            let special = parse_special(line, key)?;
            return self.special(special, key, file);
        }
        match line[at] {
            b'#' | b';' => Ok(None),
            b':' if !(self.is_ip6() && line.get(at + 1) == Some(&b':')) => {
                self.default_line(line, at)
            }
            _ => self.entry(line, at, number),
        }
    }

    fn is_ip6(&self) -> bool {
        matches!(self.kind, DatasetKind::Ip6Trie | DatasetKind::Ip6Tset)
    }

    /// The kinds whose entries take the rspamd fork's `@ ts=…;delay=…;key=…`; in the
    /// others an `@` is text, as in the fork.
    fn takes_params(&self) -> bool {
        matches!(
            self.kind,
            DatasetKind::Ip4Trie | DatasetKind::Ip6Trie | DatasetKind::Dnhash
        )
    }

    pub(super) fn special(
        &mut self,
        special: Special<'_>,
        at: usize,
        file: &mut ZoneSpecials,
    ) -> LineOutcome {
        match special {
            Special::Soa(..) | Special::Ns(..) => file.take(special, self.builder.ttl),
            Special::Ttl(ttl) => self.builder.ttl = Some(ttl),
            Special::Var(n, text) => {
                if self.kind != DatasetKind::Generic && self.builder.vars[n].is_none() {
                    self.builder.vars[n] = Some(text.into());
                }
            }
            Special::BaseTemplate(text) => self.builder.base = Some(text.into()),
            Special::MaxRange4(size) => {
                if size > self.max_range4 {
                    return Err(LineError::new(
                        at,
                        "$MAXRANGE4 can only shrink the allowed range size",
                    ));
                }
                self.max_range4 = size;
            }
            Special::Timestamp { stamp, expires } => {
                if let Some(stamp) = stamp
                    && stamp > self.options.now
                {
                    return Err(LineError::new(
                        at,
                        "$TIMESTAMP is in the future: this data is not loaded",
                    ));
                }
                if let Some(expires) = expires {
                    self.expired_at = Some(expires);
                }
            }
            Special::Dataset(..) => {
                return Err(LineError::new(
                    at,
                    "$DATASET is only allowed in combined files",
                ));
            }
            Special::Reason(..) => {
                return Err(LineError::new(
                    at,
                    "$REASON belongs in .zone files or reasons.conf",
                ));
            }
            Special::Unknown(name) => return Ok(Some(unknown_special(at, name))),
        }
        Ok(None)
    }

    fn default_line(&mut self, line: &[u8], at: usize) -> LineOutcome {
        let value = parse_a_txt(line, at, &RawValue::default())?;
        if matches!(self.kind, DatasetKind::Ip4Tset | DatasetKind::Ip6Tset) {
            self.set_default.get_or_insert(value);
        } else {
            self.default = value;
            self.default_id = None;
        }
        Ok(None)
    }

    /// The value for the text after a key: the default when there is none.
    fn value_after(&mut self, line: &[u8], at: usize) -> Result<ValueId, LineError> {
        let at = skip_space(line, at);
        let end = trim_end(line);
        if at >= end || line[at] == b'#' || line[at] == b';' {
            return Ok(match self.default_id {
                Some(id) => id,
                None => {
                    let id = self
                        .builder
                        .values
                        .intern(self.default.clone(), self.number);
                    self.default_id = Some(id);
                    id
                }
            });
        }
        let text = &line[at..end];
        if let Some((last, id, params)) = &self.last_value
            && **last == *text
        {
            let (id, params) = (*id, *params);
            self.entry_params = params;
            self.note_cooldown(params.active_from());
            return Ok(id);
        }
        let (value_end, params_at) = if self.takes_params() {
            params::split(line, at, end)
        } else {
            (end, None)
        };
        let mut value = if value_end <= at {
            // Parameters only: the default value with them.
            self.default.clone()
        } else {
            parse_a_txt(&line[..value_end], at, &self.default)?
        };
        if let Some(params_at) = params_at {
            let (params, warning) = params::parse(line, params_at, end)?;
            value.params = params;
            self.value_warning = warning;
        }
        let params = value.params;
        let id = self.builder.values.intern(value, self.number);
        self.last_value = Some((text.into(), id, params));
        self.entry_params = params;
        self.note_cooldown(params.active_from());
        Ok(id)
    }

    /// Counts an entry whose cooldown ends at `active_from`, if that is still to come:
    /// the zone is rebuilt then (and secondaries told).
    fn note_cooldown(&mut self, active_from: Option<i64>) {
        if let Some(at) = active_from.filter(|&at| at > self.options.now) {
            self.cooling += 1;
            self.next_active = Some(self.next_active.map_or(at, |n| n.min(at)));
        }
    }

    fn entry(&mut self, line: &[u8], at: usize, number: u32) -> LineOutcome {
        self.value_warning = None;
        self.entry_params = EntryParams::default();
        let (excluded, key_at) = match line[at] {
            b'!' => (true, skip_space(line, at + 1)),
            _ => (false, at),
        };
        let mut warning = None;
        let key = match self.kind {
            DatasetKind::Ip4Set => self.ip4set_entry(line, key_at, excluded, number)?,
            DatasetKind::Ip4Trie => {
                let key = ip4_cidr(line, key_at)?;
                check_key_end(line, key.end, true)?;
                warning = self.host_bits_warning(&key, key_at);
                let listing = self.listing(line, key.end, excluded)?;
                let bits = key.bits.unwrap_or(32);
                self.builder.ip4.add(key.first, bits, listing, number);
                EntryKey::Ip4 {
                    first: key.first,
                    last: key.last,
                }
            }
            DatasetKind::Ip4Tset => {
                if excluded {
                    return Err(LineError::new(
                        at,
                        "ip4tset has no exclusions: expected an address",
                    ));
                }
                let (addr, end) = ip4_full(line, key_at)?;
                check_key_end(line, end, true)?;
                self.builder.ip4.add(addr, 32, Listing::Value(0), number);
                EntryKey::Ip4 {
                    first: addr,
                    last: addr,
                }
            }
            DatasetKind::Ip6Trie => {
                let key = ip6_prefix(line, key_at)?;
                check_key_end(line, key.end, false)?;
                if key.host_bits {
                    warning = Some(LineError::new(
                        key_at,
                        "host bits set below the prefix length; masked",
                    ));
                }
                let listing = self.listing(line, key.end, excluded)?;
                self.builder.ip6.add(key.addr, key.bits, listing, number);
                ip6_entry(key.addr, key.bits)
            }
            DatasetKind::Ip6Tset => {
                let key = ip6_prefix(line, key_at)?;
                check_key_end(line, key.end, false)?;
                let has_slash = line[key_at..key.end].contains(&b'/');
                if excluded {
                    if has_slash || (!key.compressed && key.groups != 8) {
                        return Err(LineError::new(
                            key_at,
                            "ip6tset exclusions are single addresses (2001:db8:0:1::5)",
                        ));
                    }
                    self.builder
                        .ip6
                        .add(key.addr, 128, Listing::Excluded, number);
                } else {
                    if has_slash || key.compressed || key.groups != 4 {
                        return Err(LineError::new(
                            key_at,
                            "ip6tset entries are /64 prefixes written as exactly 4 groups (2001:db8:0:1)",
                        ));
                    }
                    self.builder
                        .ip6
                        .add(key.addr, 64, Listing::Value(0), number);
                }
                ip6_entry(key.addr, if excluded { 128 } else { 64 })
            }
            DatasetKind::Dnset | DatasetKind::Dnhash => self.dnset_entry(line, key_at, excluded)?,
            DatasetKind::Generic => {
                if excluded {
                    return Err(LineError::new(at, "generic records cannot be excluded"));
                }
                self.generic_entry(line, at)?
            }
            DatasetKind::Ward | DatasetKind::Combined | DatasetKind::Acl | DatasetKind::Aclkey => {
                return Err(LineError::new(
                    at,
                    format!("{} files have their own parser", self.kind),
                ));
            }
        };
        self.builder.entries += 1;
        let warning = warning.or(self.value_warning.take());
        if self.options.keep_entries {
            self.entries.push(Entry {
                line: number,
                dataset: 0,
                key,
                excluded,
                text: String::from_utf8_lossy(&line[at..trim_end(line)]).into_owned(),
                expires: None,
                params: self.entry_params,
                attributes: Vec::new(),
            });
        }
        Ok(warning)
    }

    fn listing(
        &mut self,
        line: &[u8],
        after_key: usize,
        excluded: bool,
    ) -> Result<Listing, LineError> {
        if excluded {
            Ok(Listing::Excluded)
        } else {
            self.value_after(line, after_key).map(Listing::Value)
        }
    }

    fn host_bits_warning(&self, key: &Ip4Key, at: usize) -> Option<LineError> {
        key.host_bits
            .then(|| LineError::new(at, "host bits set below the prefix length; masked"))
    }

    fn ip4set_entry(
        &mut self,
        line: &[u8],
        at: usize,
        excluded: bool,
        number: u32,
    ) -> Result<EntryKey, LineError> {
        let key = ip4_range(line, at)?;
        check_key_end(line, key.end, true)?;
        if key.host_bits && !self.options.accept_host_bits {
            return Err(LineError::new(
                at,
                format!(
                    "host bits set below the prefix length; did you mean {}/{}?",
                    std::net::Ipv4Addr::from(key.first),
                    key.bits.unwrap_or(32)
                ),
            ));
        }
        let size = u64::from(key.last - key.first) + 1;
        if size > self.max_range4 {
            return Err(LineError::new(
                at,
                format!(
                    "range of {size} addresses is above $MAXRANGE4 {}",
                    self.max_range4
                ),
            ));
        }
        let listing = self.listing(line, key.end, excluded)?;
        for (start, len) in range_to_ip4set_blocks(key.first, key.last) {
            self.builder.ip4.add(start, len, listing, number);
        }
        Ok(EntryKey::Ip4 {
            first: key.first,
            last: key.last,
        })
    }

    fn dnset_entry(
        &mut self,
        line: &[u8],
        at: usize,
        excluded: bool,
    ) -> Result<EntryKey, LineError> {
        let (exact, wild, name_at) = if line.get(at) == Some(&b'.') {
            (true, true, at + 1)
        } else if line[at..].starts_with(b"*.") {
            (false, true, at + 2)
        } else {
            (true, false, at)
        };
        let end = token_end(line, name_at);
        let name = parse_domain(line, name_at, end)?;
        let listing = self.listing(line, end, excluded)?;
        if exact {
            self.builder.names.add(&name, false, false, listing);
        }
        if wild {
            self.builder.names.add(&name, true, false, listing);
        }
        Ok(EntryKey::Name { name, exact, wild })
    }

    fn generic_entry(&mut self, line: &[u8], at: usize) -> Result<EntryKey, LineError> {
        let end = trim_end(line);
        let name_end = token_end(line, at);
        let name = if &line[at..name_end] == b"@" {
            Name::root()
        } else {
            parse_domain(line, at, name_end)?
        };
        let mut i = skip_space(line, name_end);
        let mut ttl = None;
        if line.get(i).is_some_and(u8::is_ascii_digit) {
            let (value, next) = super::specials::parse_time(line, i)?;
            ttl = (value != 0).then_some(value);
            i = skip_space(line, next);
        }
        let mut type_end = token_end(line, i);
        if line[i..type_end].eq_ignore_ascii_case(b"IN") {
            i = skip_space(line, type_end);
            type_end = token_end(line, i);
        }
        let rtype = line[i..type_end].to_ascii_uppercase();
        let data_at = skip_space(line, type_end);
        let data = match rtype.as_slice() {
            b"A" => {
                let (addr, after) = ip4_full(line, data_at)?;
                check_end(line, after)?;
                RecordData::A(addr.to_be_bytes())
            }
            b"TXT" => {
                let mut text = served_text(line, data_at, end)?;
                if text.len() >= 2 && text[0] == b'"' && text[text.len() - 1] == b'"' {
                    text = &text[1..text.len() - 1];
                }
                RecordData::Txt(text.into())
            }
            b"MX" => {
                let pref_end = token_end(line, data_at);
                let preference = std::str::from_utf8(&line[data_at..pref_end])
                    .ok()
                    .and_then(|p| p.parse::<u16>().ok())
                    .ok_or_else(|| LineError::new(data_at, "expected an MX preference 0-65535"))?;
                let host_at = skip_space(line, pref_end);
                let host_end = token_end(line, host_at);
                let host = parse_domain(line, host_at, host_end)?;
                check_end(line, host_end)?;
                RecordData::Mx(preference, host)
            }
            _ => {
                return Err(LineError::new(
                    i,
                    format!(
                        "expected a record type A, TXT or MX (generic supports no others), found {}",
                        shown(&line[i..type_end])
                    ),
                ));
            }
        };
        match ttl {
            Some(ttl) => self.builder.generic.add(&name, Record { ttl, data }),
            None => self.builder.generic_default_ttl.push((name.clone(), data)),
        }
        Ok(EntryKey::Record { name })
    }

    /// Freezes the dataset into `parsed`.
    pub(super) fn finish(mut self, parsed: &mut ParsedFile, lines: &mut LineReader<'_>) {
        if let Some(value) = self.set_default.take().or_else(|| {
            matches!(self.kind, DatasetKind::Ip4Tset | DatasetKind::Ip6Tset).then(RawValue::default)
        }) {
            // Set entries were added with value id 0: make it the shared value.
            let id = self.builder.values.intern(value, 0);
            debug_assert_eq!(id, 0);
        }
        parsed.cooling += self.cooling;
        if let Some(at) = self.next_active {
            parsed.note_change(at);
        }
        if let Some(expired) = self.expired_at {
            if expired <= self.options.now {
                lines.warn_at(
                    0,
                    0,
                    "$TIMESTAMP expiry has passed: this dataset lists nothing until it is refreshed",
                );
                return;
            }
            parsed.note_change(expired);
        }
        let dataset_index = parsed.datasets.len();
        let finished = self.builder.finish(self.options.default_ttl);
        report_finished(&finished, lines);
        let dataset = finished.dataset;
        for mut entry in self.entries {
            entry.dataset = dataset_index;
            parsed.entries.push(entry);
        }
        parsed.datasets.push(Arc::new(dataset));
        parsed.diagnostics.extend(lines.take_diagnostics());
    }
}

/// Warns about what freezing a dataset noticed: duplicated prefixes, texts cut.
pub(super) fn report_finished(finished: &Finished, lines: &mut LineReader<'_>) {
    for duplicate in &finished.duplicates {
        lines.warn_at(
            duplicate.line,
            0,
            format!("duplicated entry (line {} is used)", duplicate.first_line),
        );
    }
    for &(line, full) in &finished.cut_texts {
        lines.warn_at(
            line,
            0,
            format!(
                "this TXT text is {full} bytes once $= and the $n variables are expanded; only its first {MAX_TEMPLATE} are served"
            ),
        );
    }
}

/// rbldnsd skips specials it does not know with a warning; so does ward.
pub(super) fn unknown_special(at: usize, name: &[u8]) -> LineError {
    LineError::new(
        at,
        format!(
            "unrecognised special ${}, line ignored",
            String::from_utf8_lossy(name)
        ),
    )
}

fn ip6_entry(addr: u128, bits: u8) -> EntryKey {
    let host = if bits == 0 {
        u128::MAX
    } else {
        u128::MAX >> bits.min(127)
    };
    let host = if bits == 128 { 0 } else { host };
    EntryKey::Ip6 {
        first: addr,
        last: addr | host,
    }
}

/// After a key: the end, a blank, a comment, or (IPv4 only) `:` starting the value.
pub(super) fn check_key_end(
    line: &[u8],
    end: usize,
    value_may_follow: bool,
) -> Result<(), LineError> {
    match line.get(end) {
        None => Ok(()),
        Some(&c) if is_space(c) || c == b'#' || c == b';' => Ok(()),
        Some(b':') if value_may_follow => Ok(()),
        Some(_) => Err(LineError::new(
            end,
            format!(
                "expected a blank, a comment or a value after the address, found {}",
                shown(&line[end..trim_end(line).max(end)])
            ),
        )),
    }
}

fn check_end(line: &[u8], at: usize) -> Result<(), LineError> {
    let at = skip_space(line, at);
    if at < trim_end(line) {
        Err(LineError::new(
            at,
            format!(
                "expected the end of the line, found {}",
                shown(&line[at..trim_end(line)])
            ),
        ))
    } else {
        Ok(())
    }
}
