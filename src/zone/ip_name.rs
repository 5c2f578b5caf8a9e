//! Query names read as IP addresses: reversed decimal octets for IPv4, reversed hex
//! nibbles for IPv6, whole or partial (the block of addresses below a partial name).

use super::name::NameRef;

/// How a query name reads as IP addresses: as reversed decimal octets, and as reversed
/// hex nibbles. A name like `2.0.0.1` is both (an IPv4 address, and the top of an IPv6
/// prefix), so each reading is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct IpName {
    pub(crate) v4: Option<IpRead<u32>>,
    pub(crate) v6: Option<IpRead<u128>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IpRead<K> {
    /// A whole address.
    Address(K),
    /// Fewer labels than a whole address: the block of addresses below the name.
    Block(K, K),
}

impl IpName {
    pub(crate) fn classify(name: NameRef<'_>) -> IpName {
        IpName {
            v4: read_ip4(name),
            v6: read_ip6(name),
        }
    }

    /// A whole IPv4 or IPv6 address.
    pub(crate) fn is_address(&self) -> bool {
        matches!(self.v4, Some(IpRead::Address(_))) || matches!(self.v6, Some(IpRead::Address(_)))
    }
}

fn read_ip4(name: NameRef<'_>) -> Option<IpRead<u32>> {
    let labels = name.label_count();
    if !(1..=4).contains(&labels) {
        return None;
    }
    let mut addr = 0u32;
    for i in 0..labels {
        let octet = decimal_octet(name.label(labels - 1 - i))?;
        addr |= u32::from(octet) << (24 - 8 * i);
    }
    Some(if labels == 4 {
        IpRead::Address(addr)
    } else {
        IpRead::Block(addr, addr | (u32::MAX >> (8 * labels)))
    })
}

fn read_ip6(name: NameRef<'_>) -> Option<IpRead<u128>> {
    let labels = name.label_count();
    if !(1..=32).contains(&labels) {
        return None;
    }
    // Every label one hex digit: the wire form is exactly (1, digit) pairs, read straight
    // from the bytes (this runs for every query of an IPv6 list).
    let wire = name.wire();
    if wire.len() != 2 * labels {
        return None;
    }
    let mut addr = 0u128;
    for (i, pair) in wire.rchunks_exact(2).enumerate() {
        let value = HEX_DIGITS[usize::from(pair[1])];
        if value > 0xf {
            return None;
        }
        addr |= u128::from(value) << (124 - 4 * i);
    }
    Some(if labels == 32 {
        IpRead::Address(addr)
    } else {
        IpRead::Block(addr, addr | (u128::MAX >> (4 * labels)))
    })
}

/// The value of each byte as a hex digit, or 0xff.
const HEX_DIGITS: [u8; 256] = {
    let mut table = [0xff; 256];
    let mut c = 0;
    while c < 256 {
        table[c] = match c as u8 {
            d @ b'0'..=b'9' => d - b'0',
            d @ b'a'..=b'f' => d - b'a' + 10,
            d @ b'A'..=b'F' => d - b'A' + 10,
            _ => 0xff,
        };
        c += 1;
    }
    table
};

/// rbldnsd accepts 1–3 digits (leading zeros allowed), at most 255.
fn decimal_octet(label: &[u8]) -> Option<u8> {
    if label.is_empty() || label.len() > 3 || !label.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = label
        .iter()
        .fold(0u32, |acc, &c| acc * 10 + u32::from(c - b'0'));
    u8::try_from(value).ok()
}

/// The IPv4 address an IPv6 address stands for in IPv4 lists: IPv4-mapped
/// `::ffff:a.b.c.d` and 6to4 `2002:AABB:CCDD::/48` (as rbldnsd does).
pub(crate) fn embedded_ip4(addr: u128) -> Option<u32> {
    if addr >> 32 == 0xffff {
        Some(addr as u32)
    } else if addr >> 112 == 0x2002 {
        Some((addr >> 80) as u32)
    } else {
        None
    }
}

/// The IPv4 addresses that IPv6 addresses in `[lo, hi]` stand for, per embedding
/// (mapped, 6to4): names above listed mapped addresses exist too.
pub(crate) fn embedded_ip4_blocks(lo: u128, hi: u128) -> impl Iterator<Item = (u32, u32)> {
    const MAPPED: (u128, u128, u32) = (0xffff << 32, (0xffff << 32) | 0xffff_ffff, 0);
    const SIX_TO_FOUR: (u128, u128, u32) = (0x2002 << 112, (0x2002 << 112) | (u128::MAX >> 16), 80);
    [MAPPED, SIX_TO_FOUR]
        .into_iter()
        .filter(move |&(start, end, _)| lo <= end && hi >= start)
        .map(move |(start, end, shift)| {
            let (from, to) = (lo.max(start), hi.min(end));
            ((from >> shift) as u32, (to >> shift) as u32)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::name::{Name, NameBuf};

    fn classify(text: &str) -> IpName {
        let buf = NameBuf::from_name(&Name::parse(text).unwrap());
        IpName::classify(buf.view())
    }

    #[test]
    fn query_names_as_ips() {
        assert_eq!(
            classify("7.113.0.203").v4,
            Some(IpRead::Address(0xcb00_7107))
        );
        assert_eq!(classify("7.113.0.203").v6, None);
        assert_eq!(classify("1.0.0.010").v4, Some(IpRead::Address(0x0a00_0001)));
        assert_eq!(
            classify("0.203").v4,
            Some(IpRead::Block(0xcb00_0000, 0xcb00_ffff))
        );
        assert_eq!(classify("1.0.0.0010"), IpName::default());
        assert_eq!(classify("1.0.0.256").v4, None);
        assert_eq!(classify("500.4.3.2.1"), IpName::default());
        // Single digits read both ways.
        let both = classify("2.0.0.1");
        assert_eq!(both.v4, Some(IpRead::Address(0x0100_0002)));
        assert!(matches!(both.v6, Some(IpRead::Block(..))));
        assert!(matches!(classify("5.4.3.2.1").v6, Some(IpRead::Block(..))));
        let v6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2";
        assert_eq!(
            classify(v6).v6,
            Some(IpRead::Address(0x2001_0db8_0000_0000_0000_0000_0000_0001))
        );
        assert_eq!(classify("8.g.d.0.1.0.0.2").v6, None, "not a hex digit");
        assert_eq!(classify("8.bd.0.1.0.0.2").v6, None, "two digits in a label");
        assert_eq!(
            classify("8.B.D.0.1.0.0.2").v6,
            classify("8.b.d.0.1.0.0.2").v6,
            "hex in either case"
        );
        assert_eq!(
            classify("8.b.d.0.1.0.0.2").v6,
            Some(IpRead::Block(
                0x2001_0db8 << 96,
                (0x2001_0db8 << 96) | (u128::MAX >> 32)
            ))
        );
    }

    #[test]
    fn mapped_blocks() {
        let mapped_top: u128 = 0xffff << 32;
        let blocks: Vec<_> = embedded_ip4_blocks(mapped_top, mapped_top | 0x7fff_ffff).collect();
        assert_eq!(blocks, [(0, 0x7fff_ffff)]);
        let all: Vec<_> = embedded_ip4_blocks(0, u128::MAX).collect();
        assert_eq!(all, [(0, u32::MAX), (0, u32::MAX)]);
        assert_eq!(embedded_ip4_blocks(1 << 127, u128::MAX).count(), 0);
    }

    #[test]
    fn embedded_ipv4() {
        let mapped: u128 = "::ffff:127.0.0.2"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .into();
        assert_eq!(embedded_ip4(mapped), Some(0x7f00_0002));
        let six_to_four: u128 = "2002:c000:0201::1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .into();
        assert_eq!(embedded_ip4(six_to_four), Some(0xc000_0201));
        let compat: u128 = "::127.0.0.2".parse::<std::net::Ipv6Addr>().unwrap().into();
        assert_eq!(embedded_ip4(compat), None);
    }
}
