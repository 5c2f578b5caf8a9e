//! `ward probe`: one question to a running server, for health checks where no `dig` is
//! at hand (the Docker image). Healthy means it answered at all, NOERROR or NXDOMAIN.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use crate::dns::answer::rcode;
use crate::dns::query::HEADER_LEN;
use crate::zone::name::{Labels, Name};

#[derive(Debug, thiserror::Error)]
pub(crate) enum ProbeError {
    #[error("`{0}` is not a domain name")]
    Name(String),
    #[error("unknown query type `{0}` (use A, TXT, SOA, NS or a number)")]
    Type(String),
    #[error("no answer from {server}: {source}")]
    Silent {
        server: SocketAddr,
        source: std::io::Error,
    },
    #[error("{server} answered {rcode} for {name}")]
    Failed {
        server: SocketAddr,
        name: String,
        rcode: &'static str,
    },
}

/// What a probe saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProbeAnswer {
    pub(crate) rcode: &'static str,
    pub(crate) answers: u16,
}

fn rcode_name(code: u16) -> &'static str {
    match code {
        rcode::NOERROR => "NOERROR",
        rcode::FORMERR => "FORMERR",
        rcode::SERVFAIL => "SERVFAIL",
        rcode::NXDOMAIN => "NXDOMAIN",
        rcode::NOTIMP => "NOTIMP",
        rcode::REFUSED => "REFUSED",
        _ => "another error",
    }
}

fn qtype_code(text: &str) -> Option<u16> {
    Some(match text.to_ascii_uppercase().as_str() {
        "A" => 1,
        "NS" => 2,
        "SOA" => 6,
        "TXT" => 16,
        "AAAA" => 28,
        "ANY" => 255,
        other => other.parse().ok()?,
    })
}

/// Asks `server` for `name`/`qtype` over UDP, waiting at most `wait`. Ok when the
/// answer is NOERROR or NXDOMAIN.
pub(crate) fn probe(
    server: SocketAddr,
    name: &str,
    qtype: &str,
    wait: Duration,
) -> Result<ProbeAnswer, ProbeError> {
    let parsed = Name::parse(name).map_err(|_| ProbeError::Name(name.to_string()))?;
    let qtype = qtype_code(qtype).ok_or_else(|| ProbeError::Type(qtype.to_string()))?;
    let id = (std::process::id() as u16) ^ 0x5a5a;
    let mut query = Vec::with_capacity(64);
    query.extend_from_slice(&id.to_be_bytes());
    query.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in Labels::of_wire(parsed.wire()) {
        query.push(label.len() as u8);
        query.extend_from_slice(label);
    }
    query.push(0);
    query.extend_from_slice(&qtype.to_be_bytes());
    query.extend_from_slice(&1u16.to_be_bytes());
    let silent = |source| ProbeError::Silent { server, source };
    let bind: SocketAddr = if server.is_ipv6() {
        "[::]:0"
            .parse()
            .map_err(|_| silent(std::io::Error::other("bind")))?
    } else {
        SocketAddr::from(([0, 0, 0, 0], 0))
    };
    let socket = UdpSocket::bind(bind).map_err(silent)?;
    socket.set_read_timeout(Some(wait)).map_err(silent)?;
    socket.send_to(&query, server).map_err(silent)?;
    let mut reply = [0u8; 4096];
    loop {
        let (len, from) = socket.recv_from(&mut reply).map_err(silent)?;
        let reply = &reply[..len];
        if from != server
            || len < HEADER_LEN
            || reply[..2] != id.to_be_bytes()
            || reply[2] & 0x80 == 0
        {
            continue;
        }
        let code = u16::from(reply[3] & 0x0f);
        let answer = ProbeAnswer {
            rcode: rcode_name(code),
            answers: u16::from_be_bytes([reply[6], reply[7]]),
        };
        return if code == rcode::NOERROR || code == rcode::NXDOMAIN {
            Ok(answer)
        } else {
            Err(ProbeError::Failed {
                server,
                name: name.to_string(),
                rcode: answer.rcode,
            })
        };
    }
}
