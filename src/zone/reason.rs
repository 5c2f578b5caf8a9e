//! Reasons: the catalogue of named listing reasons (`$REASON name code "text"`) and the
//! TXT templates they serve, with the queried value substituted.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// Substitution variables `$0`…`$9` of an rbldnsd dataset.
pub(crate) type Vars = [Option<Box<[u8]>>; 10];

/// A TXT text with the places where the queried subject (the IP, name or address that
/// was looked up) is inserted. Variables are resolved at load time, so serving is a
/// copy with at most a few insertions.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub(crate) struct Template {
    text: Box<[u8]>,
    /// Offsets in `text` where the subject goes, ascending.
    holes: Box<[u16]>,
}

/// Longest TXT text ward serves: far above anything a mail client shows (Postfix cuts
/// at 500), low enough that a reply with a few of them still fits in TCP. A longer
/// text in a file is an error at its position; one that only grows past it when `$=`
/// and `$n` are expanded is cut here, with a warning at its line.
pub(crate) const MAX_TEMPLATE: usize = 4000;

impl Template {
    /// A text with no substitution.
    pub(crate) fn literal(text: &[u8]) -> Self {
        Template {
            text: text[..text.len().min(MAX_TEMPLATE)].into(),
            holes: Box::default(),
        }
    }

    /// rbldnsd's syntax: `$` is the subject, `$$` a literal `$`, `$0`…`$9` the dataset's
    /// variables (kept literally as `$n` when undefined, as rbldnsd does).
    pub(crate) fn parse(raw: &[u8], vars: &Vars) -> Self {
        Self::parse_reporting_cut(raw, vars).0
    }

    /// [`parse`](Self::parse), and the length the text had when it was cut to
    /// [`MAX_TEMPLATE`] (`None`: it fit).
    pub(crate) fn parse_reporting_cut(raw: &[u8], vars: &Vars) -> (Self, Option<usize>) {
        let mut text = Vec::with_capacity(raw.len());
        let mut holes = Vec::new();
        let mut i = 0;
        while i < raw.len() {
            let c = raw[i];
            i += 1;
            if c != b'$' {
                text.push(c);
                continue;
            }
            match raw.get(i) {
                Some(b'$') => {
                    text.push(b'$');
                    i += 1;
                }
                Some(&d @ b'0'..=b'9') => {
                    match &vars[usize::from(d - b'0')] {
                        Some(value) => text.extend_from_slice(value),
                        None => text.extend_from_slice(&[b'$', d]),
                    }
                    i += 1;
                }
                _ => holes.push(text.len()),
            }
        }
        let cut = (text.len() > MAX_TEMPLATE).then_some(text.len());
        text.truncate(MAX_TEMPLATE);
        let template = Template {
            holes: holes
                .into_iter()
                .filter(|&h| h <= text.len())
                .map(|h| h as u16)
                .collect(),
            text: text.into_boxed_slice(),
        };
        (template, cut)
    }

    pub(crate) fn has_subject(&self) -> bool {
        !self.holes.is_empty()
    }

    /// Length once rendered with a subject of `subject_len` bytes.
    pub(crate) fn rendered_len(&self, subject_len: usize) -> usize {
        self.text.len() + self.holes.len() * subject_len
    }

    /// Appends the text with `subject` at each hole.
    pub(crate) fn render(&self, subject: &[u8], out: &mut Vec<u8>) {
        let mut from = 0;
        for &hole in self.holes.iter() {
            let hole = usize::from(hole);
            out.extend_from_slice(&self.text[from..hole]);
            out.extend_from_slice(subject);
            from = hole;
        }
        out.extend_from_slice(&self.text[from..]);
    }

    /// The text with `$` marking the holes (and `$$` for literal dollars), for people.
    #[cfg(test)]
    pub(crate) fn display(&self) -> String {
        let mut out = Vec::with_capacity(self.text.len() + 4);
        let mut holes = self.holes.iter().peekable();
        for (i, &c) in self.text.iter().enumerate() {
            while holes.next_if(|&&h| usize::from(h) == i).is_some() {
                out.push(b'$');
            }
            if c == b'$' {
                out.push(b'$');
            }
            out.push(c);
        }
        out.extend(holes.map(|_| b'$'));
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// A named reason: the return code a listing answers and the text people read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reason {
    pub(crate) name: String,
    pub(crate) code: [u8; 4],
    /// Template text in rbldnsd syntax (`$` = subject, `$$` = `$`), variables expanded.
    pub(crate) text: Box<[u8]>,
    /// Whether the listed may remove a listing of this reason themselves.
    pub(crate) self_removal: Option<SelfRemoval>,
    pub(crate) file: Arc<Path>,
    pub(crate) line: u32,
}

/// `self-remove=30d [check=spf]` on a `$REASON` line: a listing of this reason made by
/// the API or fail2ban may be removed by the listed, once in `every` per value, after
/// ward checked the fix where it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SelfRemoval {
    /// A value removed by its owner within this many seconds cannot remove itself
    /// again: it is told to open a request.
    pub(crate) every: u32,
    pub(crate) check: Option<FixCheck>,
}

/// A fix ward can verify before a self-removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FixCheck {
    /// The domain's SPF record authorises the hosting's senders.
    Spf,
}

/// Reasons by name: `zones/reasons.conf`, overridden per zone by `$REASON` lines.
#[derive(Debug, Clone, Default)]
pub(crate) struct Catalogue {
    reasons: BTreeMap<String, Reason>,
}

impl Catalogue {
    pub(crate) fn get(&self, name: &str) -> Option<&Reason> {
        self.reasons.get(name)
    }

    pub(crate) fn insert(&mut self, reason: Reason) {
        self.reasons.insert(reason.name.clone(), reason);
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Reason> {
        self.reasons.values()
    }

    /// The reason using return code `code`, other than `name`, if any.
    pub(crate) fn code_user(&self, code: [u8; 4], name: &str) -> Option<&Reason> {
        self.reasons
            .values()
            .find(|r| r.code == code && r.name != name)
    }
}

/// A `$REASON` line's content.
#[derive(Debug)]
pub(crate) struct ParsedReason {
    pub(crate) name: String,
    pub(crate) code: [u8; 4],
    pub(crate) text: Box<[u8]>,
    pub(crate) self_removal: Option<SelfRemoval>,
}

/// A syntax error inside a reason line: offset and what was expected.
#[derive(Debug)]
pub(crate) struct ReasonError {
    pub(crate) at: usize,
    pub(crate) message: String,
}

fn reason_error(at: usize, message: impl Into<String>) -> ReasonError {
    ReasonError {
        at,
        message: message.into(),
    }
}

/// Parses the arguments of `$REASON`: `name code "text"`. `vars` are expanded into the
/// text now (with `$` in their values escaped), so the result no longer depends on
/// the file it came from.
pub(crate) fn parse_reason(args: &[u8], vars: &Vars) -> Result<ParsedReason, ReasonError> {
    let name_end = args
        .iter()
        .position(|c| c.is_ascii_whitespace())
        .unwrap_or(args.len());
    let name = &args[..name_end];
    if !is_reason_name(name) {
        return Err(reason_error(
            0,
            "expected a reason name (lowercase letters, digits, `-`, `_`)",
        ));
    }
    let mut i = skip_blank(args, name_end);
    let code_end = args[i..]
        .iter()
        .position(|c| c.is_ascii_whitespace())
        .map_or(args.len(), |p| i + p);
    let code = parse_code(&args[i..code_end]).ok_or_else(|| {
        reason_error(
            i,
            "expected a return code in 127.0.0.0/8 such as 127.0.0.4 (127.0.0.1 is reserved by RFC 5782)",
        )
    })?;
    i = skip_blank(args, code_end);
    let text_at = i;
    let (text, end) = parse_quoted(args, i)?;
    if text.len() > MAX_TEMPLATE {
        return Err(reason_error(
            text_at,
            format!(
                "reason text of {} bytes: ward serves at most {MAX_TEMPLATE} (and mail clients show about 500)",
                text.len()
            ),
        ));
    }
    let self_removal = parse_removal_words(args, skip_blank(args, end))?;
    let mut expanded = Vec::with_capacity(text.len());
    let mut j = 0;
    while j < text.len() {
        match (text[j], text.get(j + 1)) {
            (b'$', Some(&d @ b'0'..=b'9')) if vars[usize::from(d - b'0')].is_some() => {
                let value = vars[usize::from(d - b'0')].as_deref().unwrap_or_default();
                for &c in value {
                    if c == b'$' {
                        expanded.push(b'$');
                    }
                    expanded.push(c);
                }
                j += 2;
            }
            (b'$', Some(b'$')) => {
                expanded.extend_from_slice(b"$$");
                j += 2;
            }
            (c, _) => {
                expanded.push(c);
                j += 1;
            }
        }
    }
    Ok(ParsedReason {
        name: String::from_utf8_lossy(name).into_owned(),
        code,
        text: expanded.into_boxed_slice(),
        self_removal,
    })
}

/// The words after a reason's text: `self-remove=30d` (a time: seconds, or with `m`,
/// `h`, `d`, `w`) and `check=spf`.
fn parse_removal_words(args: &[u8], mut at: usize) -> Result<Option<SelfRemoval>, ReasonError> {
    let mut every = None;
    let mut check = None;
    while at < args.len() {
        let end = args[at..]
            .iter()
            .position(|c| c.is_ascii_whitespace())
            .map_or(args.len(), |p| at + p);
        let word = &args[at..end];
        if let Some(time) = word.strip_prefix(b"self-remove=") {
            every = Some(parse_period(time).ok_or_else(|| {
                reason_error(
                    at + 12,
                    "expected a period such as 30d, 12h or 3600 after self-remove=",
                )
            })?);
        } else if word == b"check=spf" {
            check = Some((FixCheck::Spf, at));
        } else {
            return Err(reason_error(
                at,
                "expected the end of the line after the quoted text (or self-remove=PERIOD, check=spf)",
            ));
        }
        at = skip_blank(args, end);
    }
    match (every, check) {
        (Some(every), check) => Ok(Some(SelfRemoval {
            every,
            check: check.map(|(check, _)| check),
        })),
        (None, Some((_, at))) => Err(reason_error(
            at,
            "check=spf applies to self-removal: add self-remove=PERIOD",
        )),
        (None, None) => Ok(None),
    }
}

/// `3600`, `90m`, `12h`, `30d`, `2w` as seconds.
fn parse_period(text: &[u8]) -> Option<u32> {
    let (digits, unit) = match text.last()? {
        b'0'..=b'9' => (text, 1),
        b's' => (&text[..text.len() - 1], 1),
        b'm' => (&text[..text.len() - 1], 60),
        b'h' => (&text[..text.len() - 1], 3600),
        b'd' => (&text[..text.len() - 1], 86_400),
        b'w' => (&text[..text.len() - 1], 604_800),
        _ => return None,
    };
    let number: u32 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    number.checked_mul(unit).filter(|&s| s > 0)
}

pub(crate) fn is_reason_name(name: &[u8]) -> bool {
    name.first()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_')
}

fn skip_blank(text: &[u8], from: usize) -> usize {
    from + text[from..]
        .iter()
        .take_while(|c| c.is_ascii_whitespace())
        .count()
}

/// A return code: `127.0.0.N` or the short `N`; never 127.0.0.1 (RFC 5782) nor 0.
fn parse_code(text: &[u8]) -> Option<[u8; 4]> {
    let text = std::str::from_utf8(text).ok()?;
    let code: [u8; 4] = if let Ok(n) = text.parse::<u8>() {
        [127, 0, 0, n]
    } else {
        text.parse::<std::net::Ipv4Addr>().ok()?.octets()
    };
    (code[0] == 127 && code != [127, 0, 0, 1] && code != [127, 0, 0, 0]).then_some(code)
}

/// A double-quoted string with `\"` and `\\` escapes; returns the text and the offset
/// after the closing quote.
pub(crate) fn parse_quoted(text: &[u8], at: usize) -> Result<(Vec<u8>, usize), ReasonError> {
    if text.get(at) != Some(&b'"') {
        return Err(reason_error(at, "expected a double-quoted text"));
    }
    let mut out = Vec::new();
    let mut i = at + 1;
    while i < text.len() {
        match text[i] {
            b'"' => return Ok((out, i + 1)),
            b'\\' if i + 1 < text.len() => {
                out.push(text[i + 1]);
                i += 2;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Err(reason_error(
        at,
        "unterminated quoted text: expected a closing `\"`",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(t: &Template, subject: &str) -> String {
        let mut out = Vec::new();
        t.render(subject.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn substitutes_subject_dollars_and_vars() {
        let mut vars: Vars = Default::default();
        vars[1] = Some(b"https://block.example".as_slice().into());
        let t = Template::parse(b"$ listed, see $1/l/$ ($$5, $2)", &vars);
        assert_eq!(
            render(&t, "203.0.113.7"),
            "203.0.113.7 listed, see https://block.example/l/203.0.113.7 ($5, $2)"
        );
        assert_eq!(
            t.display(),
            "$ listed, see https://block.example/l/$ ($$5, $$2)"
        );
    }

    #[test]
    fn reason_lines() {
        let mut vars: Vars = Default::default();
        vars[1] = Some(b"https://block.example/d".as_slice().into());
        let reason = parse_reason(
            br#"compromised 127.0.0.4 "Hacked form; see $1/$ (\"now\")""#,
            &vars,
        )
        .unwrap();
        assert_eq!(reason.name, "compromised");
        assert_eq!(reason.code, [127, 0, 0, 4]);
        assert_eq!(
            &*reason.text,
            br#"Hacked form; see https://block.example/d/$ ("now")"#
        );
        assert_eq!(
            parse_reason(b"x 5 \"t\"", &vars).unwrap().code,
            [127, 0, 0, 5]
        );
        assert!(parse_reason(b"x 127.0.0.1 \"t\"", &vars).is_err());
        assert!(parse_reason(b"x 10.0.0.2 \"t\"", &vars).is_err());
        assert!(parse_reason(b"Bad 127.0.0.2 \"t\"", &vars).is_err());
        assert_eq!(parse_reason(b"x 127.0.0.2 \"t", &vars).unwrap_err().at, 12);
        assert!(parse_reason(b"x 127.0.0.2 \"t\" junk", &vars).is_err());
    }

    #[test]
    fn self_removal_words() {
        let vars: Vars = Default::default();
        let plain = parse_reason(b"x 127.0.0.2 \"t\"", &vars).unwrap();
        assert_eq!(plain.self_removal, None);
        let monthly = parse_reason(b"x 127.0.0.2 \"t\" self-remove=30d", &vars).unwrap();
        assert_eq!(
            monthly.self_removal,
            Some(SelfRemoval {
                every: 30 * 86_400,
                check: None
            })
        );
        let checked =
            parse_reason(b"x 127.0.0.2 \"t\"  check=spf\tself-remove=12h", &vars).unwrap();
        assert_eq!(
            checked.self_removal,
            Some(SelfRemoval {
                every: 12 * 3600,
                check: Some(FixCheck::Spf)
            })
        );
        assert_eq!(parse_period(b"3600"), Some(3600));
        assert_eq!(parse_period(b"2w"), Some(1_209_600));
        for bad in [&b"0d"[..], b"d", b"30y", b"-1d", b"99999999999d"] {
            assert_eq!(parse_period(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        let lone_check = parse_reason(b"x 127.0.0.2 \"t\" check=spf", &vars).unwrap_err();
        assert_eq!(lone_check.at, 16);
        let bad_period = parse_reason(b"x 127.0.0.2 \"t\" self-remove=soon", &vars).unwrap_err();
        assert_eq!(bad_period.at, 28);
        assert!(parse_reason(b"x 127.0.0.2 \"t\" check=dkim self-remove=1d", &vars).is_err());
    }

    #[test]
    fn trailing_dollar_is_subject() {
        let t = Template::parse(b"listed: $", &Default::default());
        assert_eq!(render(&t, "x"), "listed: x");
        assert_eq!(t.rendered_len(1), 9);
    }
}
