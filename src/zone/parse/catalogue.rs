//! `reasons.conf`, the shared reason catalogue: `$REASON name code "text"` lines, and
//! `$0`…`$9` variables their texts may use.

use std::path::Path;
use std::sync::Arc;

use super::{Diagnostic, Diagnostics};
use crate::zone::reason::{Catalogue, ParsedReason, Reason, Vars, parse_reason};

/// Parses `reasons.conf`: `$REASON name code "text"` lines and `$0`…`$9` variables.
pub(crate) fn parse_catalogue(text: &[u8], file: Arc<Path>) -> (Catalogue, Diagnostics) {
    let mut catalogue = Catalogue::default();
    let mut diagnostics = Diagnostics::default();
    let mut error = |line: usize, column: usize, message: String| {
        diagnostics.errors.push(Diagnostic {
            file: file.clone(),
            line: line as u32,
            column: column as u32 + 1,
            message,
        });
    };
    let mut vars: Vars = Default::default();
    for (index, raw) in text.split(|&c| c == b'\n').enumerate() {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        let start = line.iter().take_while(|c| c.is_ascii_whitespace()).count();
        let content = line[start..].trim_ascii_end();
        if content.is_empty() || content[0] == b'#' || content[0] == b';' {
            continue;
        }
        let keyword_end = content
            .iter()
            .position(|c| c.is_ascii_whitespace())
            .unwrap_or(content.len());
        let keyword = &content[..keyword_end];
        let args_at = keyword_end
            + content[keyword_end..]
                .iter()
                .take_while(|c| c.is_ascii_whitespace())
                .count();
        let args = &content[args_at..];
        match keyword {
            b"$REASON" => match parse_reason(args, &vars) {
                Ok(ParsedReason {
                    name,
                    code,
                    text,
                    self_removal,
                }) => {
                    if let Some(other) = catalogue.code_user(code, &name) {
                        error(
                            index + 1,
                            start + args_at,
                            format!(
                                "return code {} is already used by reason `{}`: each reason needs its own code so filters can tell them apart",
                                std::net::Ipv4Addr::from(code),
                                other.name
                            ),
                        );
                    }
                    catalogue.insert(Reason {
                        name,
                        code,
                        text,
                        self_removal,
                        file: file.clone(),
                        line: index as u32 + 1,
                    });
                }
                Err(e) => error(index + 1, start + args_at + e.at, e.message),
            },
            [b'$', d @ b'0'..=b'9'] if !args.is_empty() => {
                let slot = &mut vars[usize::from(d - b'0')];
                if slot.is_none() {
                    *slot = Some(args.into());
                }
            }
            _ => error(
                index + 1,
                start,
                "expected `$REASON name code \"text\"` or a variable `$0`…`$9 text`".to_string(),
            ),
        }
    }
    (catalogue, diagnostics)
}
