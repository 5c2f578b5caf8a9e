//! rbldnsd's `combined` type: a common part (`$TTL`, `$n` variables, `$SOA`, `$NS`),
//! then `$DATASET type[:label] subzone...` sections, each a dataset of its own attached
//! under the subzones it names.

use std::path::Path;
use std::sync::Arc;

use super::lexer::{
    LineError, LineOutcome, LineReader, parse_domain, shown, skip_space, token_end, trim_end,
};
use super::rbldnsd::{DatasetParser, ZoneSpecials, unknown_special};
use super::specials::{Special, parse_special, special_start};
use super::{ParseOptions, ParsedFile};
use crate::zone::DatasetKind;
use crate::zone::name::Name;
use crate::zone::reason::Vars;

/// `combined`: a common part, then `$DATASET type[:label] subzone...` sections.
pub(super) fn parse(lines: &mut LineReader<'_>, options: &ParseOptions) -> ParsedFile {
    let file_path = lines.file().clone();
    let mut file = ZoneSpecials::default();
    let mut common = Common::default();
    let mut sections: Vec<DatasetParser<'_>> = Vec::new();
    loop {
        let number = lines.line_number() + 1;
        let Some(line) = lines.next_line() else { break };
        let at = skip_space(line, 0);
        let outcome = if at >= trim_end(line) {
            Ok(None)
        } else if let Some(key) = special_start(line, at) {
            match parse_special(line, key) {
                Err(e) => Err(e),
                Ok(Special::Dataset(args, args_at)) => {
                    start_section(args, args_at, &file_path, options).map(|mut section| {
                        section.builder.ttl = common.ttl;
                        section.builder.vars = common.vars.clone();
                        sections.push(section);
                        None
                    })
                }
                Ok(special) => match sections.last_mut() {
                    Some(section) => section.special(special, key, &mut file),
                    None => common.special(special, key, &mut file),
                },
            }
        } else if line[at] == b'#' || line[at] == b';' {
            Ok(None)
        } else {
            match sections.last_mut() {
                Some(section) => section.line(line, number, &mut file),
                None => Err(LineError::new(
                    at,
                    "expected `$DATASET type subzone...` before the first data line of a combined file",
                )),
            }
        };
        lines.report(outcome);
    }
    let mut parsed = file.into_parsed(lines);
    for section in sections {
        section.finish(&mut parsed, lines);
    }
    parsed
}

/// The common part of a `combined` file: inherited by the sections after it.
#[derive(Default)]
struct Common {
    ttl: Option<u32>,
    vars: Vars,
}

impl Common {
    fn special(&mut self, special: Special<'_>, at: usize, file: &mut ZoneSpecials) -> LineOutcome {
        match special {
            Special::Ttl(ttl) => self.ttl = Some(ttl),
            Special::Var(n, text) => {
                if self.vars[n].is_none() {
                    self.vars[n] = Some(text.into());
                }
            }
            Special::Soa(..) | Special::Ns(..) => file.take(special, self.ttl),
            Special::Unknown(name) => return Ok(Some(unknown_special(at, name))),
            _ => {
                return Err(LineError::new(
                    at,
                    "expected $SOA, $NS, $TTL, $n or $DATASET in the common part of a combined file",
                ));
            }
        }
        Ok(None)
    }
}

fn start_section<'o>(
    args: &[u8],
    args_at: usize,
    file: &Arc<Path>,
    options: &'o ParseOptions,
) -> Result<DatasetParser<'o>, LineError> {
    let type_end = token_end(args, 0);
    let spec = String::from_utf8_lossy(&args[..type_end]).into_owned();
    // `type:label`: rbldnsd shows the label in its logs only.
    let type_name = spec.split_once(':').map_or(spec.as_str(), |(t, _)| t);
    let kind = DatasetKind::from_name(type_name)
        .filter(|k| {
            !matches!(
                k,
                DatasetKind::Combined | DatasetKind::Acl | DatasetKind::Aclkey | DatasetKind::Ward
            )
        })
        .ok_or_else(|| {
            LineError::new(
                args_at,
                format!(
                    "expected a dataset type (ip4set, ip4tset, ip4trie, ip6tset, ip6trie, dnset, dnhash, generic), found {}",
                    shown(type_name.as_bytes())
                ),
            )
        })?;
    let mut attach = Vec::new();
    let mut i = skip_space(args, type_end);
    while i < args.len() {
        let end = token_end(args, i);
        if &args[i..end] == b"@" {
            attach.push(Name::root());
        } else {
            attach.push(
                parse_domain(args, i, end)
                    .map_err(|e| LineError::new(args_at + e.at, e.message))?,
            );
        }
        i = skip_space(args, end);
    }
    if attach.is_empty() {
        return Err(LineError::new(
            args_at + type_end.min(args.len()),
            "expected at least one subzone (`@` for the zone itself) after the dataset type",
        ));
    }
    Ok(DatasetParser::new(file.clone(), kind, attach, options))
}
