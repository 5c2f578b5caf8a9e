//! IP address syntax: rbldnsd's forms (`10.1.2` for a /24, `10.1-3` prefix ranges,
//! `2001:db8:1` for a /48) and ward's strict forms.

use std::net::Ipv6Addr;

use super::lexer::LineError;

/// rbldnsd's IPv4 prefix `a[.b[.c[.d]]]`: the address (missing octets 0), its length in
/// bits (8, 16, 24 or 32) and the end offset. Octets may have leading zeros.
fn ip4_prefix(line: &[u8], at: usize) -> Option<(u32, u8, usize)> {
    let mut addr = 0u32;
    let mut i = at;
    for octet in 0..4u8 {
        let start = i;
        let mut value = 0u32;
        while i < line.len() && line[i].is_ascii_digit() {
            value = value * 10 + u32::from(line[i] - b'0');
            if value > 255 {
                return None;
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        addr |= value << (24 - 8 * octet);
        if octet == 3 || line.get(i) != Some(&b'.') {
            return Some((addr, 8 * (octet + 1), i));
        }
        i += 1;
    }
    None
}

fn mask(bits: u8) -> u32 {
    if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    }
}

/// Prefix length after `/`, at most `max`.
fn prefix_len(line: &[u8], at: usize, max: u8) -> Option<(u8, usize)> {
    let mut i = at;
    let mut value = 0u32;
    while i < line.len() && line[i].is_ascii_digit() && i - at < 3 {
        value = value * 10 + u32::from(line[i] - b'0');
        i += 1;
    }
    (i > at && value <= u32::from(max)).then_some((value as u8, i))
}

/// An IPv4 key as written, before the dataset type's rules are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ip4Key {
    pub(crate) first: u32,
    pub(crate) last: u32,
    /// Set for CIDR and prefix forms; `None` for `a-b` ranges.
    pub(crate) bits: Option<u8>,
    /// The address had bits set below the prefix length.
    pub(crate) host_bits: bool,
    pub(crate) end: usize,
}

const IP4_EXPECTED: &str =
    "expected an IPv4 address, prefix (10.1.2), CIDR (10.1.2.0/24) or range (10.1.2.3-10.1.2.9)";

/// rbldnsd `ip4set` keys: prefixes, CIDRs and ranges (`a.b.c.d-e.f.g.h`, `a.b-c`,
/// `a.b.c.d-h`; both ends with the same number of octets, or a single last octet).
pub(crate) fn ip4_range(line: &[u8], at: usize) -> Result<Ip4Key, LineError> {
    let (start, bits, i) = ip4_prefix(line, at).ok_or_else(|| LineError::new(at, IP4_EXPECTED))?;
    match line.get(i) {
        Some(b'-') => {
            let (end_addr, end_bits, j) =
                ip4_prefix(line, i + 1).ok_or_else(|| LineError::new(i + 1, IP4_EXPECTED))?;
            let last = if end_bits == 8 {
                // `127.0.0.1-2`: the end replaces the last written octet.
                ((end_addr >> (bits - 8)) | (start & mask(bits - 8))) | !mask(bits)
            } else if end_bits == bits {
                end_addr | !mask(bits)
            } else {
                return Err(LineError::new(
                    i + 1,
                    "expected the range end with as many octets as its start (or only the last one)",
                ));
            };
            if start > last {
                return Err(LineError::new(at, "range start is above its end"));
            }
            Ok(Ip4Key {
                first: start,
                last,
                bits: None,
                host_bits: false,
                end: j,
            })
        }
        Some(b'/') => {
            let (len, j) = prefix_len(line, i + 1, 32)
                .ok_or_else(|| LineError::new(i + 1, "expected a prefix length 0-32 after `/`"))?;
            Ok(cidr(start, len, j))
        }
        _ if bits == 8 => Err(LineError::new(
            at,
            "a bare number is not an address: write a.0.0.0/8 or a/8",
        )),
        _ => Ok(cidr(start, bits, i)),
    }
}

fn cidr(addr: u32, bits: u8, end: usize) -> Ip4Key {
    let first = addr & mask(bits);
    Ip4Key {
        first,
        last: first | !mask(bits),
        bits: Some(bits),
        host_bits: addr != first,
        end,
    }
}

/// rbldnsd trie keys: prefixes and CIDRs, no ranges.
pub(crate) fn ip4_cidr(line: &[u8], at: usize) -> Result<Ip4Key, LineError> {
    let key = ip4_range(line, at)?;
    if key.bits.is_none() {
        return Err(LineError::new(
            at,
            "ranges are not allowed here: expected an address, prefix or CIDR",
        ));
    }
    Ok(key)
}

/// A full dotted quad only (`ip4tset`).
pub(crate) fn ip4_full(line: &[u8], at: usize) -> Result<(u32, usize), LineError> {
    match ip4_prefix(line, at) {
        Some((addr, 32, i)) if !matches!(line.get(i), Some(b'/' | b'-' | b'.')) => Ok((addr, i)),
        _ => Err(LineError::new(
            at,
            "expected a complete IPv4 address a.b.c.d",
        )),
    }
}

/// An IPv6 key in rbldnsd syntax: its prefix and end offset. `groups` is how many groups
/// were written when there was no `::` (for `ip6tset`'s "exactly 4 groups" rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ip6Key {
    pub(crate) addr: u128,
    pub(crate) bits: u8,
    pub(crate) compressed: bool,
    pub(crate) groups: usize,
    pub(crate) host_bits: bool,
    pub(crate) end: usize,
}

const IP6_EXPECTED: &str =
    "expected an IPv6 address (2001:db8::1), CIDR (2001:db8::/32) or 2-7 groups (2001:db8:1 = /48)";

/// rbldnsd's IPv6 forms: `addr/len`; `addr` with `::` = /128; 2–7 groups without `::` =
/// /16 per group; 8 groups = /128.
pub(crate) fn ip6_prefix(line: &[u8], at: usize) -> Result<Ip6Key, LineError> {
    let mut i = at;
    while i < line.len() && (line[i].is_ascii_hexdigit() || line[i] == b':' || line[i] == b'.') {
        i += 1;
    }
    let text = std::str::from_utf8(&line[at..i]).map_err(|_| LineError::new(at, IP6_EXPECTED))?;
    let compressed = text.contains("::");
    let (addr, groups) = if compressed {
        let addr = text
            .parse::<Ipv6Addr>()
            .map_err(|_| LineError::new(at, IP6_EXPECTED))?;
        (u128::from(addr), 8)
    } else {
        let parts: Vec<&str> = text.split(':').collect();
        if parts.len() < 2
            || parts.len() > 8
            || parts
                .iter()
                .any(|p| p.is_empty() || p.len() > 4 || !p.bytes().all(|c| c.is_ascii_hexdigit()))
        {
            return Err(LineError::new(at, IP6_EXPECTED));
        }
        let mut addr = 0u128;
        for (n, part) in parts.iter().enumerate() {
            let group = u128::from(u16::from_str_radix(part, 16).unwrap_or(0));
            addr |= group << (112 - 16 * n);
        }
        (addr, parts.len())
    };
    let natural = if compressed { 128 } else { (16 * groups) as u8 };
    let (bits, end) = if line.get(i) == Some(&b'/') {
        prefix_len(line, i + 1, 128)
            .ok_or_else(|| LineError::new(i + 1, "expected a prefix length 0-128 after `/`"))?
    } else {
        (natural, i)
    };
    let masked = addr
        & if bits == 0 {
            0
        } else {
            u128::MAX << (128 - bits)
        };
    Ok(Ip6Key {
        addr: masked,
        bits,
        compressed,
        groups,
        host_bits: masked != addr,
        end,
    })
}

/// An IP key in ward's strict syntax: whole addresses only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IpKey {
    V4(u32, u32),
    V6(u128, u128),
}

/// ward's IP keys: an IPv4/IPv6 address, CIDR or `first-last` range, every address
/// written whole. `Ok(None)` when the token is no IP; errors carry their offset.
pub(crate) fn parse_ip_key(token: &str) -> Result<Option<IpKey>, (usize, String)> {
    // All-numeric dotted tokens are meant as addresses (a domain name never is); so is
    // anything starting with a dotted quad and a dash, a range with a typo in its end.
    let looks_v4 = (token
        .bytes()
        .all(|c| c.is_ascii_digit() || b"./-".contains(&c))
        && token.contains('.'))
        || token
            .split_once('-')
            .is_some_and(|(first, _)| first.parse::<std::net::Ipv4Addr>().is_ok());
    let looks_v6 = token.contains(':');
    if !looks_v4 && !looks_v6 {
        return Ok(None);
    }
    if let Some((first, last)) = token.split_once('-') {
        let offset = first.len() + 1;
        return Ok(Some(if looks_v6 {
            let a = parse_ip6(first).ok_or((0, "expected an IPv6 address".to_string()))?;
            let b = parse_ip6(last).ok_or((offset, "expected an IPv6 address".to_string()))?;
            if a > b {
                return Err((0, "range start is above its end".to_string()));
            }
            IpKey::V6(a, b)
        } else {
            let a = parse_ip4(first).ok_or_else(|| (0, ip4_expected(first)))?;
            let b = parse_ip4(last).ok_or_else(|| (offset, ip4_expected(last)))?;
            if a > b {
                return Err((0, "range start is above its end".to_string()));
            }
            IpKey::V4(a, b)
        }));
    }
    let (addr_text, len_text) = match token.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (token, None),
    };
    let len_offset = addr_text.len() + 1;
    if looks_v6 {
        let addr = parse_ip6(addr_text).ok_or((0, "expected an IPv6 address".to_string()))?;
        let len = parse_len(len_text, 128).map_err(|m| (len_offset, m))?;
        let (first, last) = cidr_bounds(addr, len, 128).map_err(|m| (0, m))?;
        Ok(Some(IpKey::V6(first, last)))
    } else {
        let addr = parse_ip4(addr_text).ok_or_else(|| (0, ip4_expected(addr_text)))?;
        let len = parse_len(len_text, 32).map_err(|m| (len_offset, m))?;
        let (first, last) = cidr_bounds(u128::from(addr), len + 96, 128).map_err(|m| (0, m))?;
        Ok(Some(IpKey::V4(first as u32, last as u32)))
    }
}

fn parse_ip4(text: &str) -> Option<u32> {
    text.parse::<std::net::Ipv4Addr>().ok().map(u32::from)
}

fn ip4_expected(text: &str) -> String {
    if text.split('.').count() < 4 && text.split('.').all(|p| p.parse::<u8>().is_ok()) {
        format!(
            "expected an IPv4 address a.b.c.d: this format needs all four octets (for a network write {text}.0/…)"
        )
    } else {
        "expected an IPv4 address a.b.c.d".to_string()
    }
}

fn parse_ip6(text: &str) -> Option<u128> {
    text.parse::<std::net::Ipv6Addr>().ok().map(u128::from)
}

fn parse_len(text: Option<&str>, max: u8) -> Result<u8, String> {
    match text {
        None => Ok(max),
        Some(t) => t
            .parse::<u8>()
            .ok()
            .filter(|&l| l <= max)
            .ok_or_else(|| format!("expected a prefix length 0-{max} after `/`")),
    }
}

/// First and last address of `addr/len`; host bits set are an error (a typo more often
/// than not).
fn cidr_bounds(addr: u128, len: u8, bits: u8) -> Result<(u128, u128), String> {
    let host = if len >= bits { 0 } else { u128::MAX >> len };
    let first = addr & !host;
    if first != addr {
        return Err("host bits set below the prefix length: write the network address".to_string());
    }
    Ok((first, addr | host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> u32 {
        parse_ip4(s).unwrap()
    }

    fn range(s: &str) -> Option<(u32, u32)> {
        ip4_range(s.as_bytes(), 0).ok().map(|k| (k.first, k.last))
    }

    #[test]
    fn ip4set_key_forms() {
        assert_eq!(range("10.1.2.3"), Some((ip("10.1.2.3"), ip("10.1.2.3"))));
        assert_eq!(range("10.1.2"), Some((ip("10.1.2.0"), ip("10.1.2.255"))));
        assert_eq!(range("10.1"), Some((ip("10.1.0.0"), ip("10.1.255.255"))));
        assert_eq!(range("127/24"), Some((ip("127.0.0.0"), ip("127.0.0.255"))));
        assert_eq!(
            range("10.1.2.3-10.1.2.9"),
            Some((ip("10.1.2.3"), ip("10.1.2.9")))
        );
        assert_eq!(
            range("127.16-31"),
            Some((ip("127.16.0.0"), ip("127.31.255.255")))
        );
        assert_eq!(range("10.1.2.3-9"), Some((ip("10.1.2.3"), ip("10.1.2.9"))));
        assert_eq!(
            range("10.1-10.3"),
            Some((ip("10.1.0.0"), ip("10.3.255.255")))
        );
        assert_eq!(range("010.0.0.1"), Some((ip("10.0.0.1"), ip("10.0.0.1"))));
        assert_eq!(range("10"), None);
        assert_eq!(range("127-127.0.0"), None);
        assert_eq!(range("10.1.2.9-10.1.2.3"), None);
        assert_eq!(range("10.1.2.256"), None);
        let key = ip4_range(b"10.1.2.3/16", 0).unwrap();
        assert!(key.host_bits);
        assert_eq!(key.first, ip("10.1.0.0"));
    }

    #[test]
    fn ip4_full_rejects_partial() {
        assert!(ip4_full(b"10.1.2", 0).is_err());
        assert!(ip4_full(b"10.1.2.3/32", 0).is_err());
        assert_eq!(ip4_full(b"10.1.2.3 x", 0).unwrap(), (ip("10.1.2.3"), 8));
    }

    #[test]
    fn ip6_forms() {
        let key = ip6_prefix(b"2001:db8:2:3", 0).unwrap();
        assert_eq!((key.bits, key.groups, key.compressed), (64, 4, false));
        let key = ip6_prefix(b"2001:DB8::1", 0).unwrap();
        assert_eq!(key.bits, 128);
        assert_eq!(key.addr, parse_ip6("2001:db8::1").unwrap());
        let key = ip6_prefix(b"2001:db8::/32", 0).unwrap();
        assert_eq!(key.bits, 32);
        assert!(ip6_prefix(b"2001", 0).is_err());
        assert!(ip6_prefix(b"2001:db8::/129", 0).is_err());
        assert!(ip6_prefix(b"::1", 0).is_ok());
    }
}
