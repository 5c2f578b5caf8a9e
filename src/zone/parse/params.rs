//! Per-entry parameters, the rspamd fork's `entry value @ ts=UNIX;delay=60s;key=require`
//! (on `ip4trie`, `ip6trie` and `dnhash` lines), and the same `ts=`, `delay=` and
//! `key=` words of ward's own format. What they mean is [`EntryParams`]'s business.

use super::lexer::{LineError, is_space, shown};
use super::specials::parse_time;
use crate::time::parse_rfc3339;
use crate::zone::value::EntryParams;

/// Where the parameters of the value in `line[at..end]` start: at an `@` that begins
/// the value or follows a blank (`NEEDKEY@key=require` is a text, as in the fork).
/// Returns the end of the value, blanks before the `@` trimmed, and the first byte
/// after the `@`.
pub(super) fn split(line: &[u8], at: usize, end: usize) -> (usize, Option<usize>) {
    let mut i = at;
    while i < end {
        if line[i] == b'@' && (i == at || is_space(line[i - 1])) {
            let mut value_end = i;
            while value_end > at && is_space(line[value_end - 1]) {
                value_end -= 1;
            }
            return (value_end, Some(i + 1));
        }
        i += 1;
    }
    (end, None)
}

/// Reads the parameters in `line[at..end]` (what follows the `@`): `key[=value]` items
/// separated by `;` or `:`, blanks around them ignored. As in the fork, a `#` or `;`
/// at the start or after a blank starts a comment, keys and values are case-sensitive,
/// and for a repeated `ts` or `delay` the last one counts. Unlike the fork, a value
/// ward cannot read is an error (the fork drops it silently); an unknown key is a
/// warning.
pub(super) fn parse(
    line: &[u8],
    at: usize,
    end: usize,
) -> Result<(EntryParams, Option<LineError>), LineError> {
    let mut params = EntryParams::default();
    let mut warning = None;
    let comment =
        (at..end).find(|&i| matches!(line[i], b'#' | b';') && (i == at || is_space(line[i - 1])));
    if let Some(start) = comment
        && line[start..end].contains(&b'=')
    {
        warning = Some(LineError::new(
            start,
            format!(
                "{} after a blank starts a comment: {} is not read as parameters (remove the blank)",
                char::from(line[start]),
                shown(&line[start..end])
            ),
        ));
    }
    let end = comment.unwrap_or(end);
    let mut i = at;
    while i < end {
        let item_end = (i..end)
            .find(|&j| matches!(line[j], b';' | b':'))
            .unwrap_or(end);
        let (mut from, mut to) = (i, item_end);
        while from < to && is_space(line[from]) {
            from += 1;
        }
        while to > from && is_space(line[to - 1]) {
            to -= 1;
        }
        if from < to
            && let Some(unknown) = item(line, from, to, &mut params)?
        {
            warning.get_or_insert(unknown);
        }
        i = item_end + 1;
    }
    Ok((params, warning))
}

/// One `key=value` item at `line[at..end]`; a warning for a key ward does not know.
fn item(
    line: &[u8],
    at: usize,
    end: usize,
    params: &mut EntryParams,
) -> Result<Option<LineError>, LineError> {
    let equals = line[at..end]
        .iter()
        .position(|&c| c == b'=')
        .map(|p| at + p);
    let key_end = equals.unwrap_or(end);
    let key = &line[at..key_end];
    if let Some(bad) = key
        .iter()
        .position(|&c| !(c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-')))
    {
        return Err(LineError::new(
            at + bad,
            format!(
                "expected a parameter name (letters, digits, _ . -) such as ts, delay or key, found {}",
                shown(&line[at..end])
            ),
        ));
    }
    let value_at = equals.map_or(end, |e| {
        let mut v = e + 1;
        while v < end && is_space(line[v]) {
            v += 1;
        }
        v
    });
    let value = &line[value_at..end];
    match key {
        b"ts" if equals.is_some() => params.ts = Some(unix_seconds(line, value_at, end)?),
        b"delay" if equals.is_some() => params.delay = Some(seconds(line, value_at, end)?),
        b"key" if equals.is_some() => match value {
            b"require" => params.require_key = true,
            b"nodelay" => params.nodelay = true,
            _ => {
                return Err(LineError::new(
                    value_at,
                    format!(
                        "expected key=require or key=nodelay, found {}",
                        shown(value)
                    ),
                ));
            }
        },
        _ => {
            return Ok(Some(LineError::new(
                at,
                format!(
                    "unknown entry parameter {} (ward reads ts=, delay= and key=); ignored",
                    shown(&line[at..end])
                ),
            )));
        }
    }
    Ok(None)
}

/// A Unix time in decimal seconds.
fn unix_seconds(line: &[u8], at: usize, end: usize) -> Result<i64, LineError> {
    let digits = &line[at..end];
    let parsed = std::str::from_utf8(digits)
        .ok()
        .filter(|text| !text.is_empty() && text.bytes().all(|c| c.is_ascii_digit()))
        .and_then(|text| text.parse::<u64>().ok());
    match parsed {
        Some(seconds) => Ok(i64::try_from(seconds).unwrap_or(i64::MAX)),
        None => Err(LineError::new(
            at,
            format!(
                "expected ts= in Unix seconds (e.g. ts=1767225600), found {}",
                shown(digits)
            ),
        )),
    }
}

/// A duration as rbldnsd writes times: digits and an optional unit s, m, h, d or w.
fn seconds(line: &[u8], at: usize, end: usize) -> Result<u32, LineError> {
    let (value, after) = parse_time(&line[..end], at).map_err(|_| {
        LineError::new(
            at,
            format!(
                "expected delay= as seconds with an optional unit s, m, h, d or w (delay=60s), found {}",
                shown(&line[at..end])
            ),
        )
    })?;
    if after != end {
        return Err(LineError::new(
            after,
            "expected the end of the delay (one number and one unit: 90m, not 1h30m)",
        ));
    }
    Ok(value)
}

/// ward's format: the `ts=`, `delay=` and `key=` attributes of an entry into `params`.
/// `ts=` takes Unix seconds or an RFC 3339 time. Returns whether the attribute was one
/// of them; an error points at the value (`value_at` in the line).
pub(super) fn attribute(
    name: &str,
    value: &str,
    value_at: usize,
    params: &mut EntryParams,
) -> Result<bool, LineError> {
    match name {
        "ts" => {
            let seconds = if value.bytes().all(|c| c.is_ascii_digit()) {
                unix_seconds(value.as_bytes(), 0, value.len()).ok()
            } else {
                parse_rfc3339(value).ok()
            };
            params.ts = Some(seconds.ok_or_else(|| {
                LineError::new(
                    value_at,
                    "expected ts= as Unix seconds or an RFC 3339 time (2026-12-01T00:00:00Z)",
                )
            })?);
        }
        "delay" => {
            params.delay = Some(
                seconds(value.as_bytes(), 0, value.len())
                    .map_err(|e| LineError::new(value_at + e.at, e.message))?,
            );
        }
        "key" => match value {
            "require" => params.require_key = true,
            "nodelay" => params.nodelay = true,
            _ => {
                return Err(LineError::new(
                    value_at,
                    format!(
                        "expected key=require or key=nodelay, found {}",
                        shown(value.as_bytes())
                    ),
                ));
            }
        },
        _ => return Ok(false),
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<(EntryParams, Option<LineError>), LineError> {
        let line = text.as_bytes();
        let (_, params_at) = split(line, 0, line.len());
        parse(line, params_at.expect("an @"), line.len())
    }

    #[test]
    fn the_at_sign_starts_parameters_at_the_start_or_after_a_blank() {
        let line = b"COOLDOWN @ ts=5;delay=60s";
        assert_eq!(split(line, 0, line.len()), (8, Some(10)));
        assert_eq!(split(b"@ key=require", 0, 13), (0, Some(1)));
        assert_eq!(split(b"NEEDKEY@key=require", 0, 19), (19, None));
        assert_eq!(split(b"mail me at x @ y", 0, 16), (12, Some(14)));
    }

    #[test]
    fn parameters_as_the_fork_reads_them() {
        let (params, warning) = read("X @ ts=100;delay=60s;key=require").unwrap();
        assert_eq!(
            params,
            EntryParams {
                ts: Some(100),
                delay: Some(60),
                require_key: true,
                nodelay: false
            }
        );
        assert!(warning.is_none());
        // `:` separates too; blanks around items; repeated separators; the last wins.
        let (params, _) = read("X @  delay= 2m :;ts=1;ts=7 ;").unwrap();
        assert_eq!((params.ts, params.delay), (Some(7), Some(120)));
        // A blank before `=` makes no name (the fork drops such an item; ward says so).
        assert!(read("X @ ts = 5").is_err());
        let (params, _) = read("X @ key=require:key=nodelay").unwrap();
        assert!(params.require_key && params.nodelay);
    }

    #[test]
    fn a_blank_before_a_semicolon_starts_a_comment_and_ward_says_so() {
        let (params, warning) = read("X @ ts=9999999999 ;delay=1h").unwrap();
        assert_eq!((params.ts, params.delay), (Some(9_999_999_999), None));
        let warning = warning.expect("a warning");
        assert!(warning.message.contains("comment"), "{}", warning.message);
        let (params, warning) = read("X @ delay=2s # slow down").unwrap();
        assert_eq!(params.delay, Some(2));
        assert!(warning.is_none(), "a plain comment is fine");
    }

    #[test]
    fn bad_values_are_errors_and_unknown_keys_warnings() {
        let at = |text: &str| read(text).unwrap_err().at;
        assert_eq!(at("X @ ts=soon"), 7);
        assert_eq!(at("X @ delay=1h30m"), 10);
        assert_eq!(at("X @ key=Require"), 8);
        assert_eq!(at("X @ t s=5"), 5);
        let (params, warning) = read("X @ colour=red;delay=5").unwrap();
        assert_eq!(params.delay, Some(5));
        assert!(warning.unwrap().message.contains("unknown entry parameter"));
    }

    #[test]
    fn ward_format_attributes() {
        let mut params = EntryParams::default();
        assert!(attribute("ts", "1700000000", 0, &mut params).unwrap());
        assert!(attribute("delay", "10m", 0, &mut params).unwrap());
        assert!(attribute("key", "nodelay", 0, &mut params).unwrap());
        assert!(!attribute("ticket", "42", 0, &mut params).unwrap());
        assert_eq!(
            params,
            EntryParams {
                ts: Some(1_700_000_000),
                delay: Some(600),
                require_key: false,
                nodelay: true
            }
        );
        assert!(attribute("ts", "2026-12-01T00:00:00Z", 0, &mut params).unwrap());
        assert_eq!(params.ts, Some(1_796_083_200));
        assert_eq!(
            attribute("delay", "1h30m", 20, &mut params).unwrap_err().at,
            20
        );
        assert!(attribute("key", "maybe", 0, &mut params).is_err());
    }
}
