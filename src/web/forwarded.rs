//! The client behind a reverse proxy. Behind nginx, Caddy or HAProxy (TLS, a shared
//! port 443) every connection comes from the proxy: the start page would offer the
//! proxy's address, and one rate limit would cover every visitor. When the peer is a
//! proxy the operator trusts, the client is read from `X-Forwarded-For`, which all of
//! them append to by default.
//!
//! Only the right end of that header is believable: a client can send any
//! `X-Forwarded-For` it likes, and each proxy appends the address it saw. So the list
//! is walked from the right, past the trusted proxies, and the first address that is
//! not one of them is the client (nginx's `real_ip_recursive on`). The RFC 7239
//! `Forwarded` header is deliberately not read: a proxy that only appends to
//! `X-Forwarded-For` passes a client's forged `Forwarded` through untouched.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The networks whose connections are proxies passing on a client's address.
#[derive(Debug, Clone, Default)]
pub(crate) struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub(crate) fn new(networks: &[IpNet]) -> Self {
        TrustedProxies(networks.to_vec())
    }

    pub(crate) fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Who the request is from: `peer` itself, or, when `peer` is a trusted proxy, the
    /// nearest address in `X-Forwarded-For` that is not. The port of a forwarded
    /// client is unknown and given as 0.
    pub(crate) fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> SocketAddr {
        if !self.trusts(peer.ip()) {
            return peer;
        }
        let mut client = peer;
        // Every header line, in order, is one list (RFC 9110 section 5.3).
        let hops: Vec<&[u8]> = headers
            .get_all("x-forwarded-for")
            .iter()
            .flat_map(|value| value.as_bytes().split(|&b| b == b','))
            .collect();
        for hop in hops.into_iter().rev() {
            // Something that is not an address (`unknown`, garbage) ends what can be
            // believed: whatever stands left of it was not checked by a trusted hop.
            let Some(ip) = parse_hop(hop) else { break };
            client = SocketAddr::new(ip.to_canonical(), 0);
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }
}

/// One entry of `X-Forwarded-For`: an address, as proxies write it (some add a port,
/// IPv6 then in brackets).
fn parse_hop(hop: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(hop).ok()?.trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(with_port) = text.parse::<SocketAddr>() {
        return Some(with_port.ip());
    }
    text.strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|inner| inner.parse::<IpAddr>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(nets: &[&str]) -> TrustedProxies {
        let nets: Vec<IpNet> = nets.iter().map(|n| n.parse().unwrap()).collect();
        TrustedProxies::new(&nets)
    }

    fn client_of(trusted: &TrustedProxies, peer: &str, forwarded: &[&str]) -> String {
        let mut headers = HeaderMap::new();
        for value in forwarded {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        let peer: SocketAddr = peer.parse().unwrap();
        trusted.client(peer, &headers).ip().to_string()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let none = proxies(&[]);
        assert_eq!(
            client_of(&none, "127.0.0.1:4000", &["198.51.100.7"]),
            "127.0.0.1"
        );
        let loopback = proxies(&["127.0.0.1/32"]);
        assert_eq!(
            client_of(&loopback, "192.0.2.9:4000", &["198.51.100.7"]),
            "192.0.2.9"
        );
    }

    #[test]
    fn a_trusted_proxy_passes_on_the_nearest_untrusted_address() {
        let trusted = proxies(&["127.0.0.1/32", "10.0.0.0/8"]);
        assert_eq!(
            client_of(&trusted, "127.0.0.1:4000", &["198.51.100.7"]),
            "198.51.100.7"
        );
        // A forged entry on the left is skipped; two proxies in a chain are walked past.
        assert_eq!(
            client_of(
                &trusted,
                "127.0.0.1:4000",
                &["203.0.113.1, 198.51.100.7, 10.1.2.3"]
            ),
            "198.51.100.7"
        );
        // Several header lines are one list, in order.
        assert_eq!(
            client_of(
                &trusted,
                "127.0.0.1:4000",
                &["203.0.113.1", "198.51.100.7,10.1.2.3"]
            ),
            "198.51.100.7"
        );
    }

    #[test]
    fn ports_brackets_and_mapped_addresses_are_understood() {
        let trusted = proxies(&["::1/128", "127.0.0.1/32"]);
        assert_eq!(
            client_of(&trusted, "[::1]:4000", &["198.51.100.7:61000"]),
            "198.51.100.7"
        );
        assert_eq!(
            client_of(&trusted, "[::1]:4000", &["[2001:db8::25]:443"]),
            "2001:db8::25"
        );
        assert_eq!(
            client_of(&trusted, "[::1]:4000", &["[2001:db8::26]"]),
            "2001:db8::26"
        );
        assert_eq!(
            client_of(
                &trusted,
                "[::ffff:127.0.0.1]:4000",
                &["::ffff:198.51.100.7"]
            ),
            "198.51.100.7"
        );
    }

    #[test]
    fn what_cannot_be_believed_stops_the_walk() {
        let trusted = proxies(&["127.0.0.1/32", "10.0.0.0/8"]);
        // No header: the proxy itself (a health check, say).
        assert_eq!(client_of(&trusted, "127.0.0.1:4000", &[]), "127.0.0.1");
        // Garbage right of the client: the last address that was checked.
        assert_eq!(
            client_of(
                &trusted,
                "127.0.0.1:4000",
                &["198.51.100.7, unknown, 10.1.2.3"]
            ),
            "10.1.2.3"
        );
        assert_eq!(
            client_of(&trusted, "127.0.0.1:4000", &["198.51.100.7, unknown"]),
            "127.0.0.1"
        );
        // Every hop trusted: the leftmost of them.
        assert_eq!(
            client_of(&trusted, "127.0.0.1:4000", &["10.9.9.9, 10.1.2.3"]),
            "10.9.9.9"
        );
    }
}
