//! What every data-file parser shares: numbered lines read with a bounded buffer, the
//! error type that points into a line, and the small token helpers.

use std::io::{self, BufRead};
use std::path::Path;
use std::sync::Arc;

use super::{Diagnostic, Diagnostics};
use crate::zone::name::{MAX_LABEL, MAX_NAME_WIRE, Name};

/// Longest line ward reads. A TXT text may be 4,000 bytes ([`MAX_TEMPLATE`]); with a
/// key and attributes a sane line stays far below this. Longer lines are reported and
/// skipped without ever being held in memory whole.
///
/// [`MAX_TEMPLATE`]: crate::zone::reason::MAX_TEMPLATE
pub(crate) const MAX_LINE: usize = 16 * 1024;

/// The UTF-8 byte-order mark some editors put at the start of a file.
const BOM: &[u8] = b"\xef\xbb\xbf";

/// The outcome of one line: `Ok(None)` fine, `Ok(Some(w))` loaded with a warning,
/// `Err(e)` skipped with an error.
pub(crate) type LineOutcome = Result<Option<LineError>, LineError>;

/// Reads lines into a reused buffer, numbering them and stripping the line end
/// (`\n` or `\r\n`: rbldnsd keeps the `\r` and silently corrupts CRLF files).
pub(crate) struct LineReader<'r> {
    reader: Box<dyn BufRead + 'r>,
    /// About how many bytes the lines are, to size indexes up front.
    pub(crate) size: u64,
    buf: Vec<u8>,
    number: u32,
    file: Arc<Path>,
    diagnostics: Diagnostics,
}

impl<'r> LineReader<'r> {
    pub(crate) fn new(reader: Box<dyn BufRead + 'r>, size: u64, file: Arc<Path>) -> Self {
        LineReader {
            reader,
            size,
            buf: Vec::with_capacity(512),
            number: 0,
            file,
            diagnostics: Diagnostics::default(),
        }
    }

    /// The next line, without its line end, or `None` at the end (or on a read error,
    /// which is recorded). A line over [`MAX_LINE`] is reported and comes back empty.
    pub(crate) fn next_line(&mut self) -> Option<&[u8]> {
        match read_bounded_line(&mut self.reader, &mut self.buf, MAX_LINE) {
            Ok(None) => None,
            Ok(Some(overlong)) => {
                self.number += 1;
                if self.buf.last() == Some(&b'\n') {
                    self.buf.pop();
                }
                if self.buf.last() == Some(&b'\r') {
                    self.buf.pop();
                }
                if self.number == 1 && self.buf.starts_with(BOM) {
                    self.buf.drain(..BOM.len());
                }
                if overlong {
                    self.error_at(
                        MAX_LINE,
                        format!(
                            "line longer than {MAX_LINE} bytes; the whole line is skipped (is this a data file?)"
                        ),
                    );
                    self.buf.clear();
                }
                Some(&self.buf)
            }
            Err(error) => {
                self.number += 1;
                self.diagnostics.errors.push(Diagnostic {
                    file: self.file.clone(),
                    line: self.number,
                    column: 0,
                    message: format!("cannot read: {error}"),
                });
                None
            }
        }
    }

    pub(crate) fn error_at(&mut self, column: usize, message: impl Into<String>) {
        self.diagnostics.errors.push(Diagnostic {
            file: self.file.clone(),
            line: self.number,
            column: column as u32 + 1,
            message: message.into(),
        });
    }

    pub(crate) fn warn_at(&mut self, line: u32, column: usize, message: impl Into<String>) {
        self.diagnostics.warnings.push(Diagnostic {
            file: self.file.clone(),
            line,
            column: column as u32 + 1,
            message: message.into(),
        });
    }

    pub(crate) fn file(&self) -> &Arc<Path> {
        &self.file
    }

    pub(crate) fn take_diagnostics(&mut self) -> Diagnostics {
        std::mem::take(&mut self.diagnostics)
    }

    pub(crate) fn line_number(&self) -> u32 {
        self.number
    }

    /// Records the outcome of one line's handler.
    pub(crate) fn report(&mut self, outcome: LineOutcome) {
        match outcome {
            Ok(None) => {}
            Ok(Some(warning)) => self.warn_at(self.number, warning.at, warning.message),
            Err(error) => self.error_at(error.at, error.message),
        }
    }
}

/// Reads one line (with its `\n`) into `buf`, keeping at most `limit` bytes of it and
/// consuming the rest. `None` at the end of the input; otherwise whether the line was
/// longer than `limit`.
fn read_bounded_line(
    reader: &mut dyn BufRead,
    buf: &mut Vec<u8>,
    limit: usize,
) -> io::Result<Option<bool>> {
    buf.clear();
    let mut read_any = false;
    let mut overlong = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if available.is_empty() {
            return Ok(read_any.then_some(overlong));
        }
        read_any = true;
        let (taken, done) = match memchr::memchr(b'\n', available) {
            Some(newline) => (newline + 1, true),
            None => (available.len(), false),
        };
        let room = limit.saturating_sub(buf.len());
        if taken > room {
            overlong = true;
        }
        buf.extend_from_slice(&available[..taken.min(room)]);
        reader.consume(taken);
        if done {
            return Ok(Some(overlong));
        }
    }
}

/// A parse failure inside a line: the byte offset in the line and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LineError {
    pub(crate) at: usize,
    pub(crate) message: String,
}

impl LineError {
    pub(crate) fn new(at: usize, message: impl Into<String>) -> Self {
        LineError {
            at,
            message: message.into(),
        }
    }
}

pub(crate) fn is_space(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// Index of the first non-blank byte at or after `from`.
pub(crate) fn skip_space(line: &[u8], from: usize) -> usize {
    let mut i = from;
    while i < line.len() && is_space(line[i]) {
        i += 1;
    }
    i
}

/// Index one past the last non-blank byte.
pub(crate) fn trim_end(line: &[u8]) -> usize {
    let mut end = line.len();
    while end > 0 && is_space(line[end - 1]) {
        end -= 1;
    }
    end
}

/// End of the whitespace-delimited token starting at `from`.
pub(crate) fn token_end(line: &[u8], from: usize) -> usize {
    let mut i = from;
    while i < line.len() && !is_space(line[i]) {
        i += 1;
    }
    i
}

/// Quotes a piece of a line for an error message.
pub(crate) fn shown(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut short: String = text.chars().take(60).collect();
    if text.chars().count() > 60 {
        short.push('…');
    }
    format!("`{short}`")
}

/// A relative domain name token (lowercased; a trailing dot is ignored).
pub(crate) fn parse_domain(line: &[u8], at: usize, end: usize) -> Result<Name, LineError> {
    let text = std::str::from_utf8(&line[at..end])
        .map_err(|_| LineError::new(at, "expected a domain name, found non-UTF-8 bytes"))?;
    if text.is_empty() || text == "." {
        return Err(LineError::new(at, "expected a domain name"));
    }
    Name::parse(text).map_err(|e| LineError::new(at, format!("expected a domain name: {e}")))
}

/// Whether [`parse_domain`] accepts `line[at..end]`, without making the name: an
/// address's domain is only checked as its line is read (its names are made on other
/// cores). Plain names are checked here; anything else goes through the parser, for
/// its error.
pub(crate) fn check_domain(line: &[u8], at: usize, end: usize) -> Result<(), LineError> {
    let text = &line[at..end];
    let plain = text.len() < MAX_NAME_WIRE
        && !text.contains(&b'\\')
        && text
            .split(|&b| b == b'.')
            .all(|label| !label.is_empty() && label.len() <= MAX_LABEL);
    if plain && std::str::from_utf8(text).is_ok() {
        return Ok(());
    }
    parse_domain(line, at, end).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> (Vec<Vec<u8>>, Diagnostics) {
        let mut reader = LineReader::new(Box::new(input), 0, Path::new("t").into());
        let mut out = Vec::new();
        while let Some(line) = reader.next_line() {
            out.push(line.to_vec());
        }
        (out, reader.take_diagnostics())
    }

    /// The check accepts exactly what the parser accepts, with the parser's error.
    #[test]
    fn check_domain_agrees_with_parse_domain() {
        let long = |n: usize| "l".repeat(n);
        let texts = [
            "example.org".to_string(),
            "Example.ORG".to_string(),
            "example.org.".to_string(),
            "a..b".to_string(),
            ".lead".to_string(),
            ".".to_string(),
            String::new(),
            "sp ace.org".to_string(),
            "esc\\.aped.org".to_string(),
            "bad\\".to_string(),
            format!("{}.org", long(63)),
            format!("{}.org", long(64)),
            vec![long(63); 4].join("."),
            format!("{}.{}", vec![long(63); 3].join("."), long(61)),
            format!("{}.{}", vec![long(63); 3].join("."), long(62)),
        ];
        for text in &texts {
            let line = format!("x@{text}");
            let checked = check_domain(line.as_bytes(), 2, line.len());
            let parsed = parse_domain(line.as_bytes(), 2, line.len());
            assert_eq!(
                checked.map_err(|e| (e.at, e.message)),
                parsed.map(drop).map_err(|e| (e.at, e.message)),
                "{text:?}"
            );
        }
    }

    #[test]
    fn line_ends_and_bom() {
        let (out, diagnostics) = lines(b"\xef\xbb\xbf1.2.3.4\r\nb\n\nlast");
        assert_eq!(out, [&b"1.2.3.4"[..], b"b", b"", b"last"]);
        assert!(diagnostics.is_clean());
        // Only a first line's BOM is one.
        let (out, _) = lines(b"a\n\xef\xbb\xbfb\n");
        assert_eq!(out[1], b"\xef\xbb\xbfb");
    }

    #[test]
    fn overlong_lines_are_skipped_and_reported_with_their_position() {
        let mut input = b"first\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 3 * MAX_LINE + 7));
        input.extend_from_slice(b"\nthird\n");
        let (out, diagnostics) = lines(&input);
        assert_eq!(out, [&b"first"[..], b"", b"third"]);
        assert_eq!(diagnostics.errors.len(), 1);
        let error = &diagnostics.errors[0];
        assert_eq!((error.line, error.column), (2, MAX_LINE as u32 + 1));
        assert!(error.message.contains("longer than"), "{}", error.message);
    }

    #[test]
    fn a_line_of_exactly_the_limit_is_kept() {
        let mut input = vec![b'y'; MAX_LINE - 1];
        input.push(b'\n');
        let (out, diagnostics) = lines(&input);
        assert_eq!(out[0].len(), MAX_LINE - 1);
        assert!(diagnostics.is_clean());
    }
}
