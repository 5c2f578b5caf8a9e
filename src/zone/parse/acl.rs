//! rbldnsd's `acl` type: client prefixes and what their queries get (`:pass`,
//! `:ignore`, `:refuse`, `:empty`, or a forced `:A:TXT` answer).

use super::ip_syntax::{ip4_cidr, ip6_prefix};
use super::lexer::{LineError, LineOutcome, LineReader, skip_space, token_end, trim_end};
use super::rbldnsd::check_key_end;
use super::specials::{Special, parse_a_txt, parse_special, special_start};
use super::{ParseOptions, ParsedFile};
use crate::zone::acl::{AclAction, AclBuilder};
use crate::zone::reason::{Template, Vars};
use crate::zone::value::RawValue;

/// `acl`: client prefixes and what they get.
pub(super) fn parse(lines: &mut LineReader<'_>, options: &ParseOptions) -> ParsedFile {
    let mut builder = AclBuilder::default();
    let mut default_action = AclAction::Ignore;
    let mut ttl: Option<u32> = None;
    loop {
        let number = lines.line_number() + 1;
        let Some(line) = lines.next_line() else { break };
        let outcome = acl_line(line, number, &mut builder, &mut default_action, &mut ttl);
        lines.report(outcome);
    }
    let mut parsed = ParsedFile::empty();
    let (acl, duplicates) = builder.build(ttl.unwrap_or(options.default_ttl));
    for duplicate in duplicates {
        lines.warn_at(
            duplicate.line,
            0,
            format!("duplicated entry (line {} is used)", duplicate.first_line),
        );
    }
    parsed.diagnostics.extend(lines.take_diagnostics());
    parsed.acl = Some(acl);
    parsed
}

fn acl_line(
    line: &[u8],
    number: u32,
    builder: &mut AclBuilder,
    default_action: &mut AclAction,
    ttl: &mut Option<u32>,
) -> LineOutcome {
    let at = skip_space(line, 0);
    let end = trim_end(line);
    if at >= end {
        return Ok(None);
    }
    if let Some(key) = special_start(line, at) {
        return match parse_special(line, key)? {
            Special::Ttl(value) => {
                *ttl = Some(value);
                Ok(None)
            }
            // rbldnsd takes no SOA or NS from an acl (a zone's come from its data).
            Special::Soa(..) | Special::Ns(..) => Ok(Some(LineError::new(
                key,
                "$SOA and $NS are ignored in acl files (as rbldnsd ignores them): put them in a data file",
            ))),
            _ => Ok(Some(LineError::new(key, "special ignored in an acl file"))),
        };
    }
    match line[at] {
        b'#' | b';' => return Ok(None),
        b':' if line.get(at + 1) != Some(&b':') => {
            *default_action = acl_action(line, at)?;
            return Ok(None);
        }
        _ => {}
    }
    let key_end = token_end(line, at);
    let value_at = skip_space(line, key_end);
    let action = if value_at >= end || line[value_at] == b'#' || line[value_at] == b';' {
        default_action.clone()
    } else {
        acl_action(line, value_at)?
    };
    if line[at..key_end].contains(&b':') {
        let key = ip6_prefix(line, at)?;
        check_key_end(line, key.end, false)?;
        builder.add_v6(key.addr, key.bits, action, number);
    } else {
        let key = ip4_cidr(line, at)?;
        check_key_end(line, key.end, false)?;
        builder.add_v4(key.first, key.bits.unwrap_or(32), action, number);
    }
    Ok(None)
}

fn acl_action(line: &[u8], at: usize) -> Result<AclAction, LineError> {
    let end = trim_end(line);
    let word = &line[at + 1..token_end(line, at + 1).min(end)];
    Ok(match word.to_ascii_lowercase().as_slice() {
        b"ignore" | b"blackhole" => AclAction::Ignore,
        b"refuse" => AclAction::Refuse,
        b"empty" => AclAction::Empty,
        b"pass" => AclAction::Pass,
        _ => {
            let value = parse_a_txt(line, at, &RawValue::default()).map_err(|e| {
                LineError::new(
                    at,
                    format!(
                        "expected :ignore, :refuse, :empty, :pass or an :A:TXT answer ({})",
                        e.message
                    ),
                )
            })?;
            let txt = value
                .txt
                .as_deref()
                .map(|t| Template::parse(t, &Vars::default()));
            AclAction::Answer(
                crate::zone::value::Value {
                    a: value.a,
                    txt: None,
                    expires: None,
                    params: Default::default(),
                },
                txt,
            )
        }
    })
}
