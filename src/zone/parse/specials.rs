//! Special lines (`$SOA`, `$NS`, `$TTL`, `$0`…`$9`, `$=`, `$MAXRANGE4`, `$TIMESTAMP`,
//! `$DATASET`, `$REASON`) and rbldnsd's `:A:TXT` values, shared by both formats.

use super::lexer::{LineError, is_space, shown, skip_space, token_end, trim_end};
use crate::time::{days_from_civil, days_in_month};
use crate::zone::name::Name;
use crate::zone::reason::MAX_TEMPLATE;
use crate::zone::value::RawValue;

/// `$SOA ttl origin person serial refresh retry expire minimum` as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SoaSpec {
    /// `None` when written as 0: the dataset TTL applies.
    pub(crate) ttl: Option<u32>,
    pub(crate) mname: Name,
    pub(crate) rname: Name,
    /// `None` when written as 0: ward picks a rising serial itself.
    pub(crate) serial: Option<u32>,
    pub(crate) refresh: u32,
    pub(crate) retry: u32,
    pub(crate) expire: u32,
    pub(crate) minimum: u32,
}

/// `$NS ttl name...` as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NsSpec {
    pub(crate) ttl: Option<u32>,
    pub(crate) names: Vec<Name>,
}

/// A recognised special line.
#[derive(Debug, PartialEq)]
pub(crate) enum Special<'a> {
    Soa(SoaSpec),
    Ns(NsSpec),
    Ttl(u32),
    Var(usize, &'a [u8]),
    BaseTemplate(&'a [u8]),
    MaxRange4(u64),
    Timestamp {
        stamp: Option<i64>,
        expires: Option<i64>,
    },
    /// `$DATASET type[:label] subzone...`: the text after the keyword.
    Dataset(&'a [u8], usize),
    /// `$REASON name code "text"`: the text after the keyword.
    Reason(&'a [u8], usize),
    /// Unknown specials are warned about and skipped, as rbldnsd does.
    Unknown(&'a [u8]),
}

/// If `line` (already left-trimmed at `at`) is a special — `$X`, `#$X`, `;$X` or
/// `:$X` — returns the offset of `X`.
pub(crate) fn special_start(line: &[u8], at: usize) -> Option<usize> {
    match (line.get(at), line.get(at + 1)) {
        (Some(b'$'), _) => Some(at + 1),
        (Some(b'#' | b';' | b':'), Some(b'$')) => Some(at + 2),
        _ => None,
    }
}

/// Parses the special whose keyword starts at `at`.
pub(crate) fn parse_special(line: &[u8], at: usize) -> Result<Special<'_>, LineError> {
    let end = trim_end(line);
    let key_end = token_end(line, at).min(end);
    let key = &line[at..key_end];
    // Blanks after the keyword run past the trimmed end: the arguments are then empty.
    let args = skip_space(line, key_end).min(end);
    let upper = key.to_ascii_uppercase();
    match upper.as_slice() {
        b"SOA" => parse_soa(&line[..end], args).map(Special::Soa),
        b"NS" => parse_ns(&line[..end], args).map(Special::Ns),
        b"TTL" => {
            let (ttl, next) = parse_time(line, args)?;
            expect_end(line, next, end)?;
            Ok(Special::Ttl(ttl))
        }
        b"=" => Ok(Special::BaseTemplate(&line[args..end])),
        [d @ b'0'..=b'9'] => {
            if args >= end {
                return Err(LineError::new(
                    args,
                    "expected the variable's text after `$n`",
                ));
            }
            Ok(Special::Var(usize::from(d - b'0'), &line[args..end]))
        }
        b"MAXRANGE4" => parse_maxrange(line, args, end).map(Special::MaxRange4),
        b"TIMESTAMP" => parse_timestamp(line, args, end),
        b"DATASET" => Ok(Special::Dataset(&line[args..end], args)),
        b"REASON" => Ok(Special::Reason(&line[args..end], args)),
        _ => Ok(Special::Unknown(key)),
    }
}

fn expect_end(line: &[u8], at: usize, end: usize) -> Result<(), LineError> {
    let at = skip_space(line, at);
    if at < end {
        Err(LineError::new(
            at,
            format!(
                "expected the end of the line, found {}",
                shown(&line[at..end])
            ),
        ))
    } else {
        Ok(())
    }
}

/// A time in seconds with an optional unit: `300`, `35m`, `1h`, `2d`, `1w`.
pub(crate) fn parse_time(line: &[u8], at: usize) -> Result<(u32, usize), LineError> {
    let mut i = at;
    let mut value: u64 = 0;
    while i < line.len() && line[i].is_ascii_digit() {
        value = value * 10 + u64::from(line[i] - b'0');
        if value > u64::from(u32::MAX) {
            return Err(LineError::new(at, "time value too large"));
        }
        i += 1;
    }
    if i == at {
        return Err(LineError::new(
            at,
            "expected a time in seconds, optionally with a unit s, m, h, d or w",
        ));
    }
    let unit = match line.get(i).map(u8::to_ascii_lowercase) {
        Some(b's') => 1,
        Some(b'm') => 60,
        Some(b'h') => 3600,
        Some(b'd') => 86400,
        Some(b'w') => 604_800,
        _ => 0,
    };
    if unit != 0 {
        i += 1;
        value *= unit;
    }
    if i < line.len() && !is_space(line[i]) {
        return Err(LineError::new(
            i,
            "expected a time in seconds, optionally with a unit s, m, h, d or w",
        ));
    }
    let value = u32::try_from(value).map_err(|_| LineError::new(at, "time value too large"))?;
    Ok((value, i))
}

fn parse_name(line: &[u8], at: usize, what: &str) -> Result<(Name, usize), LineError> {
    let end = token_end(line, at);
    if at >= end {
        return Err(LineError::new(at, format!("expected {what}")));
    }
    let text = std::str::from_utf8(&line[at..end])
        .map_err(|_| LineError::new(at, format!("expected {what}, found non-UTF-8 bytes")))?;
    let name =
        Name::parse(text).map_err(|e| LineError::new(at, format!("expected {what}: {e}")))?;
    if name.is_root() {
        return Err(LineError::new(
            at,
            format!("expected {what}, found the root"),
        ));
    }
    Ok((name, end))
}

fn parse_soa(line: &[u8], at: usize) -> Result<SoaSpec, LineError> {
    let (ttl, i) = parse_time(line, at)?;
    let (mname, i) = parse_name(line, skip_space(line, i), "the primary server name")?;
    let (rname, i) = parse_name(line, skip_space(line, i), "the responsible mailbox name")?;
    let mut numbers = [0u32; 5];
    let mut i = i;
    let fields = ["serial", "refresh", "retry", "expire", "minimum"];
    for (slot, field) in numbers.iter_mut().zip(fields) {
        let start = skip_space(line, i);
        let (value, next) = parse_time(line, start).map_err(|e| {
            LineError::new(
                e.at,
                format!("expected the SOA {field} field: {}", e.message),
            )
        })?;
        *slot = value;
        i = next;
    }
    expect_end(line, i, line.len())?;
    Ok(SoaSpec {
        ttl: (ttl != 0).then_some(ttl),
        mname,
        rname,
        serial: (numbers[0] != 0).then_some(numbers[0]),
        refresh: numbers[1],
        retry: numbers[2],
        expire: numbers[3],
        minimum: numbers[4],
    })
}

fn parse_ns(line: &[u8], at: usize) -> Result<NsSpec, LineError> {
    let (ttl, mut i) = parse_time(line, at)?;
    let mut names = Vec::new();
    loop {
        i = skip_space(line, i);
        if i >= line.len() {
            break;
        }
        if line[i] == b'-' {
            // rbldnsd skips names starting with `-` (a way to comment one out).
            i = token_end(line, i);
            continue;
        }
        let (name, next) = parse_name(line, i, "a name server name")?;
        if names.len() == 32 {
            return Err(LineError::new(i, "at most 32 name servers"));
        }
        names.push(name);
        i = next;
    }
    if names.is_empty() {
        return Err(LineError::new(at, "expected at least one name server name"));
    }
    Ok(NsSpec {
        ttl: (ttl != 0).then_some(ttl),
        names,
    })
}

fn parse_maxrange(line: &[u8], at: usize, end: usize) -> Result<u64, LineError> {
    let text = std::str::from_utf8(&line[at..end]).unwrap_or("");
    let size = if let Some(bits) = text.strip_prefix('/') {
        bits.parse::<u32>()
            .ok()
            .filter(|&b| b <= 32)
            .map(|b| 1u64 << (32 - b))
    } else {
        text.parse::<u64>().ok().filter(|&n| n > 0)
    };
    size.ok_or_else(|| LineError::new(at, "expected a range size like 256 or /24"))
}

/// `$TIMESTAMP yyyy:mm:dd[:hh[:mi[:ss]]] [expires|+rel]` (`:` or `-` or nothing between
/// the fields; `0` or `-` for "not given").
fn parse_timestamp(line: &[u8], at: usize, end: usize) -> Result<Special<'_>, LineError> {
    let stamp_end = token_end(line, at).min(end);
    let stamp = parse_stamp(&line[at..stamp_end]).ok_or_else(|| {
        LineError::new(at, "expected a timestamp yyyy:mm:dd[:hh[:mi[:ss]]], 0 or -")
    })?;
    let next = skip_space(line, stamp_end);
    let expires = if next >= end {
        None
    } else if line[next] == b'+' {
        let (rel, after) = parse_time(line, next + 1)?;
        expect_end(line, after, end)?;
        let base = stamp.ok_or_else(|| {
            LineError::new(
                next,
                "a relative expiry (+time) needs a timestamp to count from",
            )
        })?;
        Some(base + i64::from(rel))
    } else {
        let expires_end = token_end(line, next).min(end);
        expect_end(line, expires_end, end)?;
        parse_stamp(&line[next..expires_end]).ok_or_else(|| {
            LineError::new(
                next,
                "expected an expiry yyyy:mm:dd[:hh[:mi[:ss]]], +time, 0 or -",
            )
        })?
    };
    Ok(Special::Timestamp { stamp, expires })
}

fn parse_stamp(text: &[u8]) -> Option<Option<i64>> {
    if text == b"0" || text == b"-" {
        return Some(None);
    }
    let digits: Vec<u8> = text
        .iter()
        .copied()
        .filter(|&c| c != b':' && c != b'-')
        .collect();
    if !digits.iter().all(u8::is_ascii_digit) || !matches!(digits.len(), 8 | 10 | 12 | 14) {
        return None;
    }
    let field = |from: usize, len: usize| -> i64 {
        digits.get(from..from + len).map_or(0, |d| {
            d.iter().fold(0, |acc, &c| acc * 10 + i64::from(c - b'0'))
        })
    };
    let (year, month, day) = (field(0, 4), field(4, 2), field(6, 2));
    let (hour, minute, second) = (field(8, 2), field(10, 2), field(12, 2));
    // rbldnsd's own limit: 32-bit time_t.
    if !(1970..=2038).contains(&year)
        || !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    Some(Some(
        days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second,
    ))
}

/// The outcome of rbldnsd's A-value parser (`inet_aton`-like, with `127.0.0.` implied for
/// a single number).
fn parse_a(line: &[u8], at: usize) -> Result<([u8; 4], usize), LineError> {
    let invalid = || {
        LineError::new(
            at,
            "expected an A value: 127.0.0.N, or N for 127.0.0.N (not 0, each part 0-255)",
        )
    };
    let mut octets = [0u32; 4];
    let mut count = 0;
    let mut i = at;
    loop {
        let start = i;
        let mut value = 0u32;
        while i < line.len() && line[i].is_ascii_digit() {
            value = value * 10 + u32::from(line[i] - b'0');
            if value > 255 {
                return Err(invalid());
            }
            i += 1;
        }
        if i == start {
            return Err(invalid());
        }
        octets[count] = value;
        count += 1;
        if count < 4 && line.get(i) == Some(&b'.') {
            i += 1;
            continue;
        }
        break;
    }
    // inet_aton: the last part fills the remaining low octets.
    let addr: [u8; 4] = match count {
        1 => [127, 0, 0, octets[0] as u8],
        2 => [octets[0] as u8, 0, 0, octets[1] as u8],
        3 => [octets[0] as u8, octets[1] as u8, 0, octets[2] as u8],
        _ => octets.map(|o| o as u8),
    };
    if addr == [0, 0, 0, 0] || (count == 1 && octets[0] == 0) {
        return Err(invalid());
    }
    Ok((addr, i))
}

/// rbldnsd's value syntax, starting at `at` (end of line already trimmed):
/// `:A:TXT`, `:A:` (no TXT), `:A` (default TXT), `TXT` (default A). A `#` right after
/// `:A` starts a comment.
pub(crate) fn parse_a_txt(
    line: &[u8],
    at: usize,
    default: &RawValue,
) -> Result<RawValue, LineError> {
    let end = trim_end(line);
    let mut i = skip_space(line, at);
    if line.get(i) != Some(&b':') {
        let txt = served_text(line, i, end)?;
        return Ok(RawValue::new(default.a, (!txt.is_empty()).then_some(txt)));
    }
    let (a, next) = parse_a(line, i + 1)?;
    i = skip_space(line, next);
    if i >= end || line[i] == b'#' {
        return Ok(RawValue::new(a, default.txt.as_deref()));
    }
    if line[i] != b':' {
        return Err(LineError::new(
            i,
            format!(
                "expected `:` between the A value and the TXT, found {}",
                shown(&line[i..end])
            ),
        ));
    }
    i = skip_space(line, i + 1);
    let txt = served_text(line, i, end)?;
    Ok(RawValue::new(a, (!txt.is_empty()).then_some(txt)))
}

/// A TXT text as written at `line[at..end]`, if ward can serve it whole.
pub(crate) fn served_text(line: &[u8], at: usize, end: usize) -> Result<&[u8], LineError> {
    // Blanks before the trimmed end can put `at` past it: the text is then empty.
    let text = &line[at.min(end)..end];
    if text.len() > MAX_TEMPLATE {
        return Err(LineError::new(
            at,
            format!(
                "TXT text of {} bytes: ward serves at most {MAX_TEMPLATE} (mail clients show about 500); shorten it",
                text.len()
            ),
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing: a keyword followed by blanks only put the arguments' start
    /// past the trimmed end of the line, and slicing there panicked.
    #[test]
    fn a_keyword_followed_by_blanks_only_is_an_error_or_empty_not_a_panic() {
        for keyword in [
            "SOA",
            "NS",
            "TTL",
            "=",
            "1",
            "MAXRANGE4",
            "TIMESTAMP",
            "DATASET",
            "REASON",
            "X",
        ] {
            for blanks in [" ", "  \t", "\t ", "\t\t\r\t\t"] {
                let line = format!("${keyword}{blanks}");
                let parsed = parse_special(line.as_bytes(), 1);
                if let Ok(
                    Special::BaseTemplate(args)
                    | Special::Dataset(args, _)
                    | Special::Reason(args, _),
                ) = parsed
                {
                    assert!(!args.iter().any(|c| matches!(c, b' ' | b'\t')), "{line:?}");
                }
            }
        }
    }

    fn value(text: &str) -> Result<RawValue, LineError> {
        let default = RawValue::new([127, 0, 0, 2], Some(b"default"));
        parse_a_txt(text.as_bytes(), 0, &default)
    }

    #[test]
    fn a_txt_forms() {
        assert_eq!(
            value(":3:listed").unwrap(),
            RawValue::new([127, 0, 0, 3], Some(b"listed"))
        );
        assert_eq!(value(":3:").unwrap(), RawValue::new([127, 0, 0, 3], None));
        assert_eq!(
            value(":3").unwrap(),
            RawValue::new([127, 0, 0, 3], Some(b"default"))
        );
        assert_eq!(
            value("just text").unwrap(),
            RawValue::new([127, 0, 0, 2], Some(b"just text"))
        );
        assert_eq!(
            value(":13 :text").unwrap(),
            RawValue::new([127, 0, 0, 13], Some(b"text"))
        );
        assert_eq!(value(":1.2:x").unwrap().a, [1, 0, 0, 2]);
        assert_eq!(value(":127.0.0.0:x").unwrap().a, [127, 0, 0, 0]);
        assert_eq!(value(":192.0.2.99").unwrap().a, [192, 0, 2, 99]);
        assert_eq!(
            value(":2:  # text").unwrap().txt.as_deref(),
            Some(&b"# text"[..])
        );
        assert!(value(":0:x").is_err());
        assert!(value(":300:x").is_err());
        assert!(value(":x").is_err());
        assert_eq!(value(":3 junk").unwrap_err().at, 3);
    }

    #[test]
    fn specials() {
        let line = b"$SOA 1h ns1.bl.test. hostmaster.bl.test 0 2h 30m 1w 300";
        let Special::Soa(soa) = parse_special(line, 1).unwrap() else {
            panic!()
        };
        assert_eq!(soa.ttl, Some(3600));
        assert_eq!(soa.mname.to_string(), "ns1.bl.test");
        assert_eq!(soa.serial, None);
        assert_eq!(
            (soa.refresh, soa.retry, soa.expire, soa.minimum),
            (7200, 1800, 604_800, 300)
        );
        let Special::Ns(ns) =
            parse_special(b"$NS 0 ns1.bl.test -ns2.bl.test ns3.bl.test", 1).unwrap()
        else {
            panic!()
        };
        assert_eq!(ns.ttl, None);
        assert_eq!(ns.names.len(), 2);
        assert_eq!(parse_special(b"$TTL 35m", 1).unwrap(), Special::Ttl(2100));
        assert_eq!(
            parse_special(b"$1 hello", 1).unwrap(),
            Special::Var(1, b"hello")
        );
        assert_eq!(
            parse_special(b"$MAXRANGE4 /24", 1).unwrap(),
            Special::MaxRange4(256)
        );
        assert!(matches!(
            parse_special(b"$FOO bar", 1).unwrap(),
            Special::Unknown(b"FOO")
        ));
        assert!(parse_special(b"$TTL 1x", 1).is_err());
        assert!(parse_special(b"$SOA 1h ns1 host 1 2 3 4", 1).is_err());
    }

    #[test]
    fn timestamps() {
        let Special::Timestamp { stamp, expires } =
            parse_special(b"$TIMESTAMP 2020:01:02:03:04:05 +1d", 1).unwrap()
        else {
            panic!()
        };
        assert_eq!(stamp, Some(1_577_934_245));
        assert_eq!(expires, Some(1_577_934_245 + 86400));
        assert!(parse_special(b"$TIMESTAMP 2099:01:01", 1).is_err());
    }

    #[test]
    fn special_prefixes() {
        assert_eq!(special_start(b"$TTL 1", 0), Some(1));
        assert_eq!(special_start(b"#$TTL 1", 0), Some(2));
        assert_eq!(special_start(b";$NS 1 a", 0), Some(2));
        assert_eq!(special_start(b":$TTL 77", 0), Some(2));
        assert_eq!(special_start(b"# comment", 0), None);
    }
}
