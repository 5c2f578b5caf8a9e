//! Adding and removing listings: what `POST`/`DELETE /api/v1/entries` and `ward add` /
//! `ward remove` do. Input is checked field by field, then the new line and the whole
//! new file are read by the real ward-format parser before anything is written, so a
//! bad key is refused with the parser's own message and never becomes a broken file.
//! Writing goes through [`Locked`]; every change is appended to the audit log.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::api_zone::{API_FILE, HEADER, Locked};
use super::audit::{AuditLog, AuditRecord};
use crate::load::{CATALOGUE_FILE, LoadOptions, load_catalogue};
use crate::time::now_rfc3339;
use crate::time::unix_now;
use crate::zone::DatasetKind;
use crate::zone::name::Name;
use crate::zone::parse::{Diagnostic, Entry, EntryKey, ParsedFile, parse_bytes};
use crate::zone::reason::Catalogue;

/// A time before every expiry: parsed as of it, an expired entry is an entry still.
/// An expired listing stays a line of `api.zone` until it is removed or pruned, so the
/// editor sees it, replaces it, and removes it (an unban that comes as the ban ends).
const EVERY_ENTRY: i64 = i64::MIN;

/// How long an expired API entry stays in `api.zone` before it is pruned: the file
/// holds what is live and what recently expired.
pub(crate) const PRUNE_AFTER: i64 = 7 * 86_400;

/// A removal of the API's entries for one key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Removal<'r> {
    pub(crate) zone: &'r str,
    pub(crate) key: &'r str,
    /// Who removes it (checked like every `by`).
    pub(crate) by: &'r str,
    /// Finding no entry is [`EditError::NotFound`].
    pub(crate) must_exist: bool,
    /// Only the entries with this `ticket=` (one jail's, one ticket's).
    pub(crate) ticket: Option<&'r str>,
    /// The removal request it answers.
    pub(crate) request: Option<i64>,
    pub(crate) client: Option<&'r str>,
    /// The audit log's word for it: `remove`, `self-remove`.
    pub(crate) action: &'r str,
}

impl<'r> Removal<'r> {
    /// A plain removal of `key` from `zone` by `by`, which must find an entry.
    pub(crate) fn of(zone: &'r str, key: &'r str, by: &'r str) -> Self {
        Removal {
            zone,
            key,
            by,
            must_exist: true,
            ticket: None,
            request: None,
            client: None,
            action: "remove",
        }
    }
}

/// A listing to add.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewEntry {
    pub(crate) zone: String,
    pub(crate) key: String,
    pub(crate) reason: String,
    /// RFC 3339 time (or a date) when the listing stops answering.
    #[serde(default)]
    pub(crate) expires: Option<String>,
    #[serde(default)]
    pub(crate) ticket: Option<String>,
    /// Who adds it; the API and the command line fill in a default.
    #[serde(default)]
    pub(crate) by: Option<String>,
    /// List it even though it lists loopback or a whole address family (see
    /// [`too_wide`]).
    #[serde(default)]
    pub(crate) force: bool,
}

/// An entry of an `api.zone`, as the API lists it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct ApiEntry {
    pub(crate) zone: String,
    pub(crate) key: String,
    pub(crate) reason: Option<String>,
    pub(crate) added: Option<String>,
    pub(crate) by: Option<String>,
    pub(crate) ticket: Option<String>,
    pub(crate) expires: Option<String>,
    /// `expires=` has passed: the listing no longer answers.
    pub(crate) expired: bool,
    /// The line as written.
    pub(crate) line: String,
}

/// What an add did.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Added {
    pub(crate) entry: ApiEntry,
    /// An entry for the same key was there and was replaced.
    pub(crate) replaced: bool,
    pub(crate) file: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// Bad input: a 400, shown as is.
    #[error("{0}")]
    Invalid(String),
    #[error("there is no zone `{0}` in the zones directory")]
    NoZone(String),
    #[error(
        "zone `{zone}` is the single file {file}; the API writes zones/{zone}/{API_FILE}, so make the zone a directory first: mkdir zones/{zone} && mv {file} zones/{zone}/"
    )]
    SingleFile { zone: String, file: String },
    #[error("zones/{zone}/{API_FILE} has no entry for `{key}`")]
    NotFound { zone: String, key: String },
    #[error("zones/{zone}/{API_FILE} has errors, fix or remove it first: {errors}")]
    Broken { zone: String, errors: String },
    #[error("cannot update zones/{zone}/{API_FILE}: {error}")]
    Write { zone: String, error: std::io::Error },
    #[error("the change was made but not logged in the audit log: {0}")]
    Audit(std::io::Error),
}

/// Edits the `api.zone` files of a zones directory, logging to a state directory.
#[derive(Debug, Clone)]
pub(crate) struct Editor {
    zones: PathBuf,
    options: LoadOptions,
    audit: AuditLog,
}

/// A zone, checked and located.
struct ZoneDir {
    name: Name,
    text: String,
    dir: PathBuf,
}

impl Editor {
    pub(crate) fn new(zones: &Path, state: &Path, options: LoadOptions) -> Self {
        Editor {
            zones: zones.to_path_buf(),
            options,
            audit: AuditLog::new(state),
        }
    }

    pub(crate) fn audit(&self) -> &AuditLog {
        &self.audit
    }

    pub(crate) fn zones(&self) -> &Path {
        &self.zones
    }

    pub(crate) fn options(&self) -> &LoadOptions {
        &self.options
    }

    /// Adds (or replaces: one entry per key) a listing in `zones/<zone>/api.zone`.
    pub(crate) fn add(&self, new: &NewEntry, client: Option<String>) -> Result<Added, EditError> {
        let zone = self.zone_dir(&new.zone)?;
        let catalogue = self.catalogue()?;
        let key = check_key(&new.key)?;
        if catalogue.get(&new.reason).is_none() {
            let known: Vec<&str> = catalogue.iter().map(|r| r.name.as_str()).collect();
            return Err(EditError::Invalid(format!(
                "unknown reason `{}`; {CATALOGUE_FILE} has: {}",
                new.reason,
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )));
        }
        let by = new.by.as_deref().unwrap_or("api");
        check_by(by)?;
        let mut line = format!("{key}  {}", new.reason);
        if let Some(expires) = &new.expires {
            check_word("expires", expires, 40, |c| {
                c.is_ascii_alphanumeric() || ":+.-".contains(c)
            })?;
            line.push_str(&format!("  expires={expires}"));
        }
        line.push_str(&format!("  added={} by={by}", now_rfc3339()));
        if let Some(ticket) = &new.ticket {
            check_word("ticket", ticket, 64, |c| {
                c.is_ascii_alphanumeric() || "._:/+-".contains(c)
            })?;
            line.push_str(&format!(" ticket={ticket}"));
        }
        let catalogue = Arc::new(catalogue);
        let alone = self.parse(&zone, &catalogue, &line, unix_now());
        if let Some(error) = alone.diagnostics.errors.first() {
            return Err(EditError::Invalid(field_error(&line, key, error)));
        }
        if alone.expired > 0 {
            return Err(EditError::Invalid(
                "expires= is in the past: the listing would never answer".to_string(),
            ));
        }
        let Some(new_key) = alone.entries.first().map(|e| e.key.clone()) else {
            return Err(EditError::Invalid("expected one entry".to_string()));
        };
        if let Some(why) = too_wide(&new_key).filter(|_| !new.force) {
            return Err(EditError::Invalid(format!(
                "key `{key}` {why}: mail servers would take every client it covers as listed, and rspamd disables a list that lists 127.0.0.1; send \"force\": true (ward add --force) if you mean it"
            )));
        }
        let locked = self.lock(&zone)?;
        let (text, current) = self.current(&zone, &catalogue, &locked)?;
        let replaced_lines: Vec<u32> = current
            .entries
            .iter()
            .filter(|e| same_key(&e.key, &new_key))
            .map(|e| e.line)
            .collect();
        let mut next = without_lines(&text, &replaced_lines);
        next.push_str(&line);
        next.push('\n');
        let check = self.parse(&zone, &catalogue, &next, EVERY_ENTRY);
        if let Some(error) = check.diagnostics.errors.first() {
            return Err(EditError::Invalid(error.message.clone()));
        }
        locked.replace(&next).map_err(|error| EditError::Write {
            zone: zone.text.clone(),
            error,
        })?;
        let entry = check
            .entries
            .last()
            .map(|e| api_entry(&zone.text, e))
            .ok_or_else(|| EditError::Invalid("expected one entry".to_string()))?;
        self.audit
            .append(&AuditRecord {
                action: "add",
                by,
                zone: Some(&zone.text),
                key: Some(&entry.key),
                reason: Some(&new.reason),
                expires: new.expires.as_deref(),
                ticket: new.ticket.as_deref(),
                client,
                ..AuditRecord::default()
            })
            .map_err(EditError::Audit)?;
        drop(locked);
        Ok(Added {
            entry,
            replaced: !replaced_lines.is_empty(),
            file: format!("zones/{}/{API_FILE}", zone.text),
        })
    }

    /// Removes the entries for `key` from `zones/<zone>/api.zone`; what was removed.
    /// With `must_exist`, finding none is [`EditError::NotFound`].
    pub(crate) fn remove(&self, removal: Removal<'_>) -> Result<Vec<ApiEntry>, EditError> {
        let Removal {
            zone,
            key,
            by,
            must_exist,
            ticket,
            request,
            client,
            action,
        } = removal;
        check_by(by)?;
        let zone = self.zone_dir(zone)?;
        let key = check_key(key)?;
        let catalogue = Arc::new(self.catalogue()?);
        let alone = self.parse(&zone, &catalogue, key, EVERY_ENTRY);
        if let Some(error) = alone.diagnostics.errors.first() {
            return Err(EditError::Invalid(field_error(key, key, error)));
        }
        let Some(wanted) = alone.entries.first().map(|e| e.key.clone()) else {
            return Err(EditError::Invalid("expected one key".to_string()));
        };
        let locked = self.lock(&zone)?;
        let (text, current) = self.current(&zone, &catalogue, &locked)?;
        let removed: Vec<&Entry> = current
            .entries
            .iter()
            .filter(|e| same_key(&e.key, &wanted))
            .filter(|e| {
                ticket.is_none_or(|ticket| {
                    e.attributes
                        .iter()
                        .any(|(name, value)| name == "ticket" && value == ticket)
                })
            })
            .collect();
        if removed.is_empty() {
            if must_exist {
                return Err(EditError::NotFound {
                    zone: zone.text,
                    key: key.to_string(),
                });
            }
            return Ok(Vec::new());
        }
        let lines: Vec<u32> = removed.iter().map(|e| e.line).collect();
        locked
            .replace(&without_lines(&text, &lines))
            .map_err(|error| EditError::Write {
                zone: zone.text.clone(),
                error,
            })?;
        let removed: Vec<ApiEntry> = removed.iter().map(|e| api_entry(&zone.text, e)).collect();
        self.audit
            .append(&AuditRecord {
                action,
                by,
                zone: Some(&zone.text),
                key: Some(key),
                ticket,
                request,
                client: client.map(str::to_string),
                removed: removed.iter().map(|e| e.line.clone()).collect(),
                ..AuditRecord::default()
            })
            .map_err(EditError::Audit)?;
        Ok(removed)
    }

    /// Drops from every `api.zone` the entries that expired more than
    /// [`PRUNE_AFTER`] ago (audited); what was dropped.
    pub(crate) fn prune_expired(&self) -> Result<Vec<ApiEntry>, EditError> {
        let now = unix_now();
        let mut pruned = Vec::new();
        for zone in self.api_zones()? {
            let stale = |expires: Option<i64>| expires.is_some_and(|at| at + PRUNE_AFTER <= now);
            // Read once without the lock: most zones have nothing to prune.
            let Ok(text) = std::fs::read_to_string(zone.dir.join(API_FILE)) else {
                continue;
            };
            let catalogue = Arc::new(self.catalogue()?);
            let quick = self.parse(&zone, &catalogue, &text, EVERY_ENTRY);
            if !quick.entries.iter().any(|e| stale(e.expires)) {
                continue;
            }
            let locked = self.lock(&zone)?;
            let (text, current) = self.current(&zone, &catalogue, &locked)?;
            let dropped: Vec<&Entry> = current
                .entries
                .iter()
                .filter(|e| stale(e.expires))
                .collect();
            if dropped.is_empty() {
                continue;
            }
            let lines: Vec<u32> = dropped.iter().map(|e| e.line).collect();
            locked
                .replace(&without_lines(&text, &lines))
                .map_err(|error| EditError::Write {
                    zone: zone.text.clone(),
                    error,
                })?;
            let dropped: Vec<ApiEntry> = dropped.iter().map(|e| api_entry(&zone.text, e)).collect();
            self.audit
                .append(&AuditRecord {
                    action: "prune",
                    by: "ward",
                    zone: Some(&zone.text),
                    removed: dropped.iter().map(|e| e.line.clone()).collect(),
                    ..AuditRecord::default()
                })
                .map_err(EditError::Audit)?;
            pruned.extend(dropped);
        }
        Ok(pruned)
    }

    /// The zones that have an `api.zone`.
    fn api_zones(&self) -> Result<Vec<ZoneDir>, EditError> {
        let mut names: Vec<String> = std::fs::read_dir(&self.zones)
            .map_err(|error| EditError::Write {
                zone: "*".to_string(),
                error,
            })?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join(API_FILE).is_file())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        Ok(names
            .iter()
            .filter_map(|name| self.zone_dir(name).ok())
            .collect())
    }

    /// Every entry of the `api.zone` files (of one zone, or all), or only those for
    /// `key` (the same listing however it is written: `::2` is `0::2`).
    pub(crate) fn list(
        &self,
        only: Option<&str>,
        key: Option<&str>,
    ) -> Result<Vec<ApiEntry>, EditError> {
        let zones: Vec<ZoneDir> = match only {
            Some(zone) => vec![self.zone_dir(zone)?],
            None => self.api_zones()?,
        };
        let catalogue = Arc::new(self.catalogue()?);
        let wanted = match (key, zones.first()) {
            (Some(key), Some(zone)) => {
                let key = check_key(key)?;
                let alone = self.parse(zone, &catalogue, key, EVERY_ENTRY);
                if let Some(error) = alone.diagnostics.errors.first() {
                    return Err(EditError::Invalid(field_error(key, key, error)));
                }
                alone.entries.first().map(|e| e.key.clone())
            }
            _ => None,
        };
        let mut out = Vec::new();
        for zone in zones {
            let text = match std::fs::read_to_string(zone.dir.join(API_FILE)) {
                Ok(text) => text,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
                Err(error) => {
                    return Err(EditError::Write {
                        zone: zone.text,
                        error,
                    });
                }
            };
            let parsed = self.parse(&zone, &catalogue, &text, EVERY_ENTRY);
            out.extend(
                parsed
                    .entries
                    .iter()
                    .filter(|e| wanted.as_ref().is_none_or(|w| same_key(&e.key, w)))
                    .map(|e| api_entry(&zone.text, e)),
            );
        }
        Ok(out)
    }

    /// A reason of the shared catalogue, as `reasons.conf` says now.
    pub(crate) fn reason(&self, name: &str) -> Option<crate::zone::reason::Reason> {
        self.catalogue().ok()?.get(name).cloned()
    }

    fn catalogue(&self) -> Result<Catalogue, EditError> {
        let path = self.zones.join(CATALOGUE_FILE);
        if !path.exists() {
            return Ok(Catalogue::default());
        }
        let (catalogue, diagnostics) = load_catalogue(&path);
        match diagnostics.errors.first() {
            Some(error) => Err(EditError::Invalid(format!(
                "{CATALOGUE_FILE} has errors, so no reason can be checked: {error}"
            ))),
            None => Ok(catalogue),
        }
    }

    fn zone_dir(&self, zone: &str) -> Result<ZoneDir, EditError> {
        let text = zone.trim_end_matches('.').to_ascii_lowercase();
        let plausible = !text.is_empty()
            && text.len() <= 253
            && !text.starts_with('.')
            && !text.contains("..")
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_');
        let name = Name::parse(&text)
            .ok()
            .filter(|_| plausible)
            .ok_or_else(|| EditError::Invalid(format!("`{zone}` is not a zone name")))?;
        let dir = self.zones.join(&text);
        if dir.is_dir() {
            return Ok(ZoneDir { name, text, dir });
        }
        let single = std::fs::read_dir(&self.zones).ok().and_then(|entries| {
            entries.filter_map(|e| e.ok()).find_map(|e| {
                let file = e.file_name().into_string().ok()?;
                let kind = DatasetKind::from_file_name(&file)?;
                let stem = file.strip_suffix(".gz").unwrap_or(&file);
                (stem.strip_suffix(kind.name())?.strip_suffix('.')? == text)
                    .then(|| format!("zones/{file}"))
            })
        });
        match single {
            Some(file) => Err(EditError::SingleFile { zone: text, file }),
            None => Err(EditError::NoZone(text)),
        }
    }

    fn lock(&self, zone: &ZoneDir) -> Result<Locked, EditError> {
        Locked::acquire(&zone.dir).map_err(|error| EditError::Write {
            zone: zone.text.clone(),
            error,
        })
    }

    /// The current file and what it lists; a file with errors is not edited.
    fn current(
        &self,
        zone: &ZoneDir,
        catalogue: &Arc<Catalogue>,
        locked: &Locked,
    ) -> Result<(String, ParsedFile), EditError> {
        let mut text = locked.read().map_err(|error| EditError::Write {
            zone: zone.text.clone(),
            error,
        })?;
        if text.is_empty() {
            text.push_str(HEADER);
        }
        let parsed = self.parse(zone, catalogue, &text, EVERY_ENTRY);
        if !parsed.diagnostics.errors.is_empty() {
            let errors: Vec<String> = parsed
                .diagnostics
                .errors
                .iter()
                .map(|e| format!("line {}: {}", e.line, e.message))
                .collect();
            return Err(EditError::Broken {
                zone: zone.text.clone(),
                errors: errors.join("; "),
            });
        }
        if !text.ends_with('\n') {
            text.push('\n');
        }
        Ok((text, parsed))
    }

    /// Parses `text` as of `now`: [`EVERY_ENTRY`] keeps the expired entries too.
    fn parse(
        &self,
        zone: &ZoneDir,
        catalogue: &Arc<Catalogue>,
        text: &str,
        now: i64,
    ) -> ParsedFile {
        let mut options = self.options.parse_options(&zone.name, catalogue, now);
        options.keep_entries = true;
        parse_bytes(
            text.as_bytes(),
            zone.dir.join(API_FILE),
            DatasetKind::Ward,
            &options,
        )
    }
}

/// The parser's message about an entry line we composed, named after the field it
/// is in (`key `…`: …`, `expires=…: …`).
fn field_error(line: &str, key: &str, error: &Diagnostic) -> String {
    let at = (error.column as usize).saturating_sub(1).min(line.len());
    if at < key.len() {
        return format!("key `{key}`: {}", error.message);
    }
    let start = line[..at].rfind(' ').map_or(0, |i| i + 1);
    let end = line[at..].find(' ').map_or(line.len(), |i| at + i);
    format!("`{}`: {}", &line[start..end], error.message)
}

/// A key is one word: the parser decides the rest.
fn check_key(key: &str) -> Result<&str, EditError> {
    let key = key.trim();
    if key.is_empty() || key.len() > 300 {
        return Err(EditError::Invalid(
            "key: expected 1 to 300 characters".to_string(),
        ));
    }
    // `:` starts an `:A:TXT` value, but `::` an IPv6 address (`::2`, `::/0`, `::ffff:…`).
    let value = key.starts_with(':') && !key.starts_with("::");
    if key.starts_with(['!', '$', ';', '#'])
        || value
        || key
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '#' || c == '"' || c == '=')
    {
        return Err(EditError::Invalid(format!(
            "key `{}`: expected an IP address, CIDR or range, a domain name, *.domain, local@domain or a digest, as one word",
            key.escape_default()
        )));
    }
    Ok(key)
}

/// Who made a change, as the audit log and `by=` record it: one word, checked the same
/// on every call that takes it (adds, removals, decisions).
pub(crate) fn check_by(by: &str) -> Result<(), EditError> {
    check_word("by", by, 64, |c| {
        c.is_ascii_alphanumeric() || "._:@+-".contains(c)
    })
}

/// Why a key needs `force`: it lists 127.0.0.1 or `::1` (RFC 5782: a list must not;
/// rspamd disables one that does) or a whole address family (`0.0.0.0/0`, `::/0`).
pub(crate) fn too_wide(key: &EntryKey) -> Option<&'static str> {
    const LOOPBACK4: u32 = 0x7f00_0001;
    const LOOPBACK6: u128 = 1;
    const MAPPED_LOOPBACK: u128 = 0xffff_7f00_0001;
    match *key {
        EntryKey::Ip4 { first, last } if first == 0 && last == u32::MAX => {
            Some("lists every IPv4 address")
        }
        EntryKey::Ip4 { first, last } if (first..=last).contains(&LOOPBACK4) => {
            Some("lists 127.0.0.1")
        }
        EntryKey::Ip6 { first, last } if first == 0 && last == u128::MAX => {
            Some("lists every IPv6 address")
        }
        EntryKey::Ip6 { first, last }
            if (first..=last).contains(&LOOPBACK6) || (first..=last).contains(&MAPPED_LOOPBACK) =>
        {
            Some("lists ::1 or ::ffff:127.0.0.1")
        }
        _ => None,
    }
}

fn check_word(
    field: &str,
    value: &str,
    max: usize,
    ok: impl Fn(char) -> bool,
) -> Result<(), EditError> {
    if value.is_empty() || value.len() > max || !value.chars().all(ok) {
        return Err(EditError::Invalid(format!(
            "{field}: expected 1 to {max} letters, digits or punctuation without spaces"
        )));
    }
    Ok(())
}

/// Keys name the same listing (addresses compared without case, like mail servers do).
fn same_key(a: &EntryKey, b: &EntryKey) -> bool {
    match (a, b) {
        (EntryKey::Address { address: x, .. }, EntryKey::Address { address: y, .. }) => {
            x.eq_ignore_ascii_case(y)
        }
        _ => a == b,
    }
}

/// `text` without its lines numbered in `lines` (1-based).
fn without_lines(text: &str, lines: &[u32]) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.lines().enumerate() {
        if !lines.contains(&(i as u32 + 1)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn api_entry(zone: &str, entry: &Entry) -> ApiEntry {
    let mut words = entry.text.split_whitespace();
    let key = words.next().unwrap_or_default().to_string();
    let reason = words
        .next()
        .filter(|w| !w.contains('=') && !w.starts_with('#'))
        .map(str::to_string);
    let attribute = |name: &str| {
        entry
            .attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    ApiEntry {
        zone: zone.to_string(),
        key,
        reason,
        added: attribute("added"),
        by: attribute("by"),
        ticket: attribute("ticket"),
        expires: attribute("expires"),
        expired: entry.expires.is_some_and(|at| at <= unix_now()),
        line: entry.text.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zones() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        let zones = dir.path().join("zones");
        std::fs::create_dir_all(zones.join("bl.test")).expect("zone dir");
        std::fs::write(
            zones.join(CATALOGUE_FILE),
            "$REASON spam 127.0.0.2 \"spam from $\"\n",
        )
        .expect("catalogue");
        std::fs::write(zones.join("bl.test/own.zone"), "192.0.2.1 spam\n").expect("own file");
        dir
    }

    fn editor(dir: &tempfile::TempDir) -> Editor {
        Editor::new(
            &dir.path().join("zones"),
            &dir.path().join("state"),
            LoadOptions::default(),
        )
    }

    fn entry(key: &str) -> NewEntry {
        NewEntry {
            zone: "bl.test".into(),
            key: key.into(),
            reason: "spam".into(),
            expires: None,
            ticket: None,
            by: Some("test".into()),
            force: false,
        }
    }

    #[test]
    fn one_entry_per_key_whatever_the_case_and_only_api_zone_is_written() {
        let dir = zones();
        std::fs::create_dir_all(dir.path().join("state")).expect("state");
        let editor = editor(&dir);
        assert!(
            !editor
                .add(&entry("Someone@Example.org"), None)
                .expect("added")
                .replaced
        );
        assert!(
            editor
                .add(&entry("someone@example.org"), None)
                .expect("added")
                .replaced
        );
        assert!(
            !editor
                .add(&entry("Mail.Example.org"), None)
                .expect("added")
                .replaced
        );
        assert!(
            editor
                .add(&entry("mail.example.org"), None)
                .expect("added")
                .replaced
        );
        let listed = editor.list(None, None).expect("listed");
        assert_eq!(listed.len(), 2, "{listed:?}");
        let removed = editor
            .remove(Removal::of("bl.test", "SOMEONE@example.org", "test"))
            .expect("removed");
        assert_eq!(removed.len(), 1);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("zones/bl.test/own.zone")).expect("own"),
            "192.0.2.1 spam\n"
        );
        assert!(
            matches!(
                editor.remove(Removal::of("bl.test", "192.0.2.1", "test")),
                Err(EditError::NotFound { .. })
            ),
            "the admins' own entry is not the API's to remove"
        );
    }

    #[test]
    fn refusals_name_the_field() {
        let dir = zones();
        std::fs::create_dir_all(dir.path().join("state")).expect("state");
        let editor = editor(&dir);
        let error = editor
            .add(&entry("192.0.2.256"), None)
            .expect_err("bad key");
        assert!(
            error.to_string().starts_with("key `192.0.2.256`: "),
            "{error}"
        );
        let mut late = entry("192.0.2.9");
        late.expires = Some("2026-13-01".into());
        let error = editor.add(&late, None).expect_err("bad time");
        assert!(
            error.to_string().starts_with("`expires=2026-13-01`: "),
            "{error}"
        );
        std::fs::write(
            dir.path().join("zones/bl.test/api.zone"),
            "192.0.2.300 spam\n",
        )
        .expect("broken by hand");
        let error = editor
            .add(&entry("192.0.2.9"), None)
            .expect_err("broken file");
        assert!(matches!(error, EditError::Broken { .. }), "{error}");
    }
}
