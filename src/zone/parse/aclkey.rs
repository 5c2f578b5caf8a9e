//! The rspamd fork's `aclkey` type: access keys and what their queries get.
//!
//! ```text
//! :refuse                  # the default: queries naming no known key (from here on)
//! customer-1 :pass         # a key and its action
//! trial-7    =empty
//! partner    :5:Listed for partners: $
//! ```
//!
//! A line starting with `:` (not `::`) or `=` sets the default; other lines are a key
//! (up to the first `:`, `=` or space) and an action: `:pass` (or `:accept`),
//! `:ignore` (`:blackhole`), `:refuse`, `:empty`, the same with `=`, or an `:A:TXT`
//! answer ("always listed"). A key without an action takes the default. Before any
//! default line the default is "always listed, 127.0.0.2", as in the fork: write the
//! default first.

use super::lexer::{LineError, LineOutcome, LineReader, is_space, shown, skip_space, trim_end};
use super::specials::{Special, parse_a_txt, parse_special, special_start};
use super::{ParseOptions, ParsedFile};
use crate::zone::acl::{AclAction, AclKey};
use crate::zone::reason::{Template, Vars};
use crate::zone::value::{RawValue, Value};

/// The longest key: one DNS label.
const MAX_KEY: usize = 63;

/// `aclkey`: access keys and what their queries get.
pub(super) fn parse(lines: &mut LineReader<'_>, options: &ParseOptions) -> ParsedFile {
    let mut state = State {
        default: always_listed(RawValue::default()),
        default_raw: RawValue::default(),
        ttl: None,
        keys: Vec::new(),
    };
    loop {
        let number = lines.line_number() + 1;
        let Some(line) = lines.next_line() else { break };
        let outcome = state.line(line, number);
        lines.report(outcome);
    }
    let mut keys = AclKey::new(
        state.default.clone(),
        state.ttl.unwrap_or(options.default_ttl),
    );
    let mut seen: Vec<(&[u8], u32)> = Vec::new();
    for (key, action, line) in &state.keys {
        if let Some((_, first)) = seen.iter().find(|(k, _)| k == &key.as_slice()) {
            lines.warn_at(
                *first,
                0,
                format!(
                    "key given again on line {line}: the later line is used, as in the rspamd fork"
                ),
            );
        }
        seen.push((key, *line));
        keys.insert(key, action.clone());
    }
    let mut parsed = ParsedFile::empty();
    parsed.diagnostics = lines.take_diagnostics();
    parsed.aclkey = Some(keys);
    parsed
}

struct State {
    /// What keys without an action, and queries naming no known key, get.
    default: AclAction,
    /// The default's `:A:TXT`, for `:A` values after it.
    default_raw: RawValue,
    ttl: Option<u32>,
    /// Keys in file order, with their action and line.
    keys: Vec<(Vec<u8>, AclAction, u32)>,
}

impl State {
    fn line(&mut self, line: &[u8], number: u32) -> LineOutcome {
        let at = skip_space(line, 0);
        let end = trim_end(line);
        if at >= end {
            return Ok(None);
        }
        if let Some(key) = special_start(line, at) {
            return match parse_special(line, key)? {
                Special::Ttl(value) => {
                    self.ttl = Some(value);
                    Ok(None)
                }
                // Accepted as in the fork, and never used: a zone's SOA and NS come
                // from its data.
                Special::Soa(..) | Special::Ns(..) => Ok(None),
                _ => Ok(Some(LineError::new(
                    key,
                    "special ignored in an aclkey file",
                ))),
            };
        }
        match line[at] {
            b'#' | b';' => return Ok(None),
            b':' if line.get(at + 1) != Some(&b':') => {
                (self.default, self.default_raw) = self.action(line, at)?;
                return Ok(None);
            }
            b'=' => {
                (self.default, self.default_raw) = self.action(line, at)?;
                return Ok(None);
            }
            _ => {}
        }
        let key_end = (at..end)
            .find(|&i| matches!(line[i], b':' | b'=' | b' '))
            .unwrap_or(end);
        let key = &line[at..key_end];
        if key.is_empty() {
            return Err(LineError::new(at, "expected an access key"));
        }
        if key.len() > MAX_KEY {
            return Err(LineError::new(
                at,
                format!(
                    "an access key is one DNS label: at most {MAX_KEY} bytes, not {}",
                    key.len()
                ),
            ));
        }
        let value_at = skip_space(line, key_end);
        let action = if value_at >= end || matches!(line[value_at], b'#' | b';') {
            self.default.clone()
        } else {
            self.action(line, value_at)?.0
        };
        let warning = key.iter().position(u8::is_ascii_uppercase).map(|i| {
            LineError::new(
                at + i,
                format!(
                    "key {} has capitals: query names are compared in lowercase, so it never matches (as in the rspamd fork); write it in lowercase",
                    shown(key)
                ),
            )
        });
        self.keys.push((key.to_vec(), action, number));
        Ok(warning)
    }

    /// The action at `line[at]` (a `:` or `=` keyword, or an A+TXT value), and the
    /// value it makes the default for `:A` values after it.
    fn action(&self, line: &[u8], at: usize) -> Result<(AclAction, RawValue), LineError> {
        let keyword_at = if matches!(line[at], b':' | b'=') {
            at + 1
        } else {
            at
        };
        if matches!(line[at], b':' | b'=')
            && let Some(action) = keyword(line, keyword_at)
        {
            return Ok((action, self.default_raw.clone()));
        }
        if line[at] == b'=' {
            return Err(LineError::new(
                keyword_at,
                format!(
                    "expected =pass, =ignore, =refuse or =empty, found {}",
                    shown(&line[at..trim_end(line)])
                ),
            ));
        }
        let value = parse_a_txt(line, at, &self.default_raw).map_err(|e| {
            LineError::new(
                e.at,
                format!(
                    "expected :pass, :ignore, :refuse, :empty or an :A:TXT answer ({})",
                    e.message
                ),
            )
        })?;
        Ok((always_listed(value.clone()), value))
    }
}

/// The keyword starting at `line[at]`, case-insensitive, ended by the line's end, a
/// `:`, a blank or a comment.
fn keyword(line: &[u8], at: usize) -> Option<AclAction> {
    let end = (at..line.len())
        .find(|&i| matches!(line[i], b':' | b'#' | b';') || is_space(line[i]))
        .unwrap_or(line.len());
    Some(match line[at..end].to_ascii_lowercase().as_slice() {
        b"pass" | b"accept" => AclAction::Pass,
        b"ignore" | b"blackhole" => AclAction::Ignore,
        b"refuse" => AclAction::Refuse,
        b"empty" => AclAction::Empty,
        _ => return None,
    })
}

/// "Always listed" with `value`: every listing name answers it.
fn always_listed(value: RawValue) -> AclAction {
    let txt = value
        .txt
        .as_deref()
        .map(|t| Template::parse(t, &Vars::default()));
    AclAction::Answer(
        Value {
            a: value.a,
            txt: None,
            expires: None,
            params: Default::default(),
        },
        txt,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::DatasetKind;
    use crate::zone::parse::parse_bytes;
    use crate::zone::value::DEFAULT_A;

    fn keys(text: &str) -> ParsedFile {
        parse_bytes(
            text.as_bytes(),
            "k",
            DatasetKind::Aclkey,
            &ParseOptions::default(),
        )
    }

    fn answer(action: &AclAction) -> Option<[u8; 4]> {
        match action {
            AclAction::Answer(value, _) => Some(value.a),
            _ => None,
        }
    }

    #[test]
    fn keys_defaults_and_actions_as_the_fork_reads_them() {
        let parsed = keys(
            "$SOA 0 example.org. hostmaster.example.com. 0 1h 1h 2d 1h\n\
             early\n\
             :refuse\n\
             secret :pass\n\
             other=empty\n\
             plain\n\
             partner :5:Partner $\n\
             IGNORED :accept\n\
             dup :pass\n\
             dup =ignore\n\
             blank\t:pass",
        );
        let warnings: Vec<_> = parsed
            .diagnostics
            .warnings
            .iter()
            .map(|w| (w.line, w.message.clone()))
            .collect();
        assert!(
            parsed.diagnostics.errors.is_empty(),
            "{:?}",
            parsed.diagnostics.errors
        );
        let keys = parsed.aclkey.expect("keys");
        assert_eq!(keys.default, AclAction::Refuse);
        let action = |key: &str| keys.get(key.as_bytes()).map(|k| k.action.clone());
        assert_eq!(
            answer(&action("early").unwrap()),
            Some(DEFAULT_A),
            "before any default"
        );
        assert_eq!(action("secret"), Some(AclAction::Pass));
        assert_eq!(action("other"), Some(AclAction::Empty));
        assert_eq!(action("plain"), Some(AclAction::Refuse), "the default then");
        assert_eq!(answer(&action("partner").unwrap()), Some([127, 0, 0, 5]));
        assert_eq!(action("IGNORED"), Some(AclAction::Pass));
        assert_eq!(action("dup"), Some(AclAction::Ignore), "the later line");
        // A tab does not end a key.
        assert!(action("blank").is_none());
        assert_eq!(action("blank\t"), Some(AclAction::Pass));
        assert!(
            warnings
                .iter()
                .any(|(line, m)| *line == 8 && m.contains("capitals")),
            "{warnings:?}"
        );
        assert!(
            warnings
                .iter()
                .any(|(line, m)| *line == 9 && m.contains("later line")),
            "{warnings:?}"
        );
    }

    #[test]
    fn without_a_default_line_queries_are_always_listed() {
        let keys = keys("secret :pass\n").aclkey.unwrap();
        assert_eq!(answer(&keys.default), Some(DEFAULT_A));
    }

    #[test]
    fn bad_lines_point_at_the_spot() {
        let errors = |text: &str| -> Vec<(u32, u32)> {
            keys(text)
                .diagnostics
                .errors
                .iter()
                .map(|e| (e.line, e.column))
                .collect()
        };
        assert_eq!(errors("=maybe"), [(1, 2)]);
        assert_eq!(errors("k :0:x"), [(1, 4)]);
        assert_eq!(errors(&format!("{} :pass", "k".repeat(64))), [(1, 1)]);
    }
}
