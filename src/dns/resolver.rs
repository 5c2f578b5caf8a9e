//! Asking other DNS servers: a stub resolver for the questions ward asks on behalf of
//! the people on its lookup page (is this IP on a public list? what does this
//! domain's SPF record say?). It sends everything to one recursive resolver — the one
//! the admin names, or the system's — with one try per question and no cache of its
//! own: the caller keeps answers for their TTL and decides how often to ask.
//!
//! hickory-resolver does the work; what comes out is ward's own [`Outcome`], so the
//! layers above never see a hickory type.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{
    NameServerConfig, ResolveHosts, ResolverConfig, ServerOrderingStrategy,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError, NoRecords};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::{Resolver, TokioResolver};

/// The answer to one question, as far as ward needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Records, each with its TTL (A addresses, or TXT texts joined).
    Found(Vec<(Answer, u32)>),
    /// NXDOMAIN, or NOERROR without records of the type (NODATA); the negative TTL
    /// the SOA gives (RFC 2308), when the answer had one.
    NotFound { negative_ttl: Option<u32> },
    /// The resolver answered SERVFAIL (often: the list's servers did not answer it).
    ServFail,
    /// The resolver (or the list) refused the question.
    Refused,
    /// No answer within the time allowed.
    Timeout,
    /// Anything else, in words.
    Failed(String),
}

/// One record of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    A(Ipv4Addr),
    Txt(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ResolverError {
    #[error("cannot use the system's resolver (/etc/resolv.conf): {0}")]
    System(String),
    #[error("cannot set up the resolver: {0}")]
    Build(String),
}

/// A stub resolver: one try per question, within `timeout`.
#[derive(Clone)]
pub(crate) struct StubResolver {
    resolver: TokioResolver,
}

impl std::fmt::Debug for StubResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StubResolver").finish_non_exhaustive()
    }
}

impl StubResolver {
    /// Asks `address` (UDP, TCP for truncated answers), or without one the servers of
    /// /etc/resolv.conf.
    pub(crate) fn new(
        address: Option<SocketAddr>,
        timeout: Duration,
    ) -> Result<StubResolver, ResolverError> {
        let mut builder = match address {
            Some(address) => {
                let mut server = NameServerConfig::udp_and_tcp(address.ip());
                for connection in &mut server.connections {
                    connection.port = address.port();
                }
                Resolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![server]),
                    TokioRuntimeProvider::default(),
                )
            }
            None => Resolver::builder_tokio().map_err(|e| ResolverError::System(e.to_string()))?,
        };
        let options = builder.options_mut();
        options.timeout = timeout;
        // `attempts` counts retries: none, one try per question.
        options.attempts = 0;
        // Callers keep answers for their TTL themselves.
        options.cache_size = 0;
        options.use_hosts_file = ResolveHosts::Never;
        options.ndots = 0;
        options.num_concurrent_reqs = 1;
        options.server_ordering_strategy = ServerOrderingStrategy::UserProvidedOrder;
        options.preserve_intermediates = false;
        let resolver = builder
            .build()
            .map_err(|e| ResolverError::Build(e.to_string()))?;
        Ok(StubResolver { resolver })
    }

    /// The A records of `name` (a fully qualified name, with the trailing dot).
    pub(crate) async fn a(&self, name: &str) -> Outcome {
        outcome(self.resolver.ipv4_lookup(name).await)
    }

    /// The TXT records of `name`, each record's strings joined.
    pub(crate) async fn txt(&self, name: &str) -> Outcome {
        outcome(self.resolver.txt_lookup(name).await)
    }
}

fn outcome(result: Result<hickory_resolver::lookup::Lookup, NetError>) -> Outcome {
    match result {
        Ok(lookup) => Outcome::Found(
            lookup
                .answers()
                .iter()
                .filter_map(|record| match &record.data {
                    RData::A(a) => Some((Answer::A(a.0), record.ttl)),
                    RData::TXT(txt) => Some((
                        Answer::Txt(
                            txt.txt_data
                                .iter()
                                .map(|s| String::from_utf8_lossy(s))
                                .collect(),
                        ),
                        record.ttl,
                    )),
                    _ => None,
                })
                .collect(),
        ),
        Err(NetError::Dns(DnsError::NoRecordsFound(NoRecords {
            response_code: ResponseCode::NXDomain | ResponseCode::NoError,
            negative_ttl,
            ..
        }))) => Outcome::NotFound { negative_ttl },
        Err(NetError::Dns(DnsError::ResponseCode(ResponseCode::ServFail))) => Outcome::ServFail,
        Err(NetError::Dns(DnsError::ResponseCode(ResponseCode::Refused))) => Outcome::Refused,
        Err(NetError::Timeout) => Outcome::Timeout,
        Err(error) => Outcome::Failed(error.to_string()),
    }
}
