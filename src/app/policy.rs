//! `ward policy`: a Postfix policy service (check_policy_service, the policy delegation
//! protocol of Postfix's SMTPD_POLICY_README) that checks whole email addresses
//! against ward's address lists. Postfix can ask DNS lists about domains only
//! (`reject_rhsbl_sender`), never about `sender@domain`; this asks for it —
//! `local.domain.ZONE`, as rspamd and Exim ask — and refuses with the listing's reason,
//! so the sender reads why in the 554.
//!
//! It asks over DNS (ward itself, or the resolver the mail server uses), so it sees
//! exactly what other mail filters see. When DNS does not answer it lets the mail
//! through (DUNNO) and logs why: a list that is down must not stop mail.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::dns::resolver::{Answer, Outcome, ResolverError, StubResolver};

/// Longest attribute line read; Postfix's are far shorter.
const MAX_LINE: usize = 4096;
/// Attributes of one request at most.
const MAX_ATTRIBUTES: usize = 200;
/// Connections served at once; more wait in the backlog.
const MAX_CONNECTIONS: usize = 256;
/// A connection idle this long is closed (Postfix reconnects).
const IDLE: Duration = Duration::from_secs(300);

/// What `ward policy` checks.
#[derive(Debug, Clone)]
pub(crate) struct PolicySettings {
    pub(crate) listen: SocketAddr,
    /// The DNS server to ask; `None`: the system's resolver.
    pub(crate) server: Option<SocketAddr>,
    pub(crate) sender_zones: Vec<String>,
    pub(crate) recipient_zones: Vec<String>,
    pub(crate) timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Resolver(#[from] ResolverError),
    #[error("give at least one --sender-zone or --recipient-zone")]
    NoZones,
}

/// Serves the policy protocol until `shutdown` resolves.
pub(crate) async fn serve_policy(
    settings: PolicySettings,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), PolicyError> {
    if settings.sender_zones.is_empty() && settings.recipient_zones.is_empty() {
        return Err(PolicyError::NoZones);
    }
    let listener =
        TcpListener::bind(settings.listen)
            .await
            .map_err(|source| PolicyError::Bind {
                addr: settings.listen,
                source,
            })?;
    let checker = Arc::new(Checker {
        resolver: StubResolver::new(settings.server, settings.timeout)?,
        sender_zones: settings.sender_zones,
        recipient_zones: settings.recipient_zones,
    });
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "serving the Postfix policy protocol");
    }
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return Ok(());
        };
        let (stream, _) = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "cannot accept a policy connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let checker = checker.clone();
        tokio::spawn(async move {
            let _slot = permit;
            if let Err(error) = checker.connection(stream).await {
                tracing::debug!(%error, "policy connection ended");
            }
        });
    }
}

struct Checker {
    resolver: StubResolver,
    sender_zones: Vec<String>,
    recipient_zones: Vec<String>,
}

impl Checker {
    /// Requests, one after the other, until Postfix closes or goes idle.
    async fn connection(&self, stream: TcpStream) -> std::io::Result<()> {
        let (reader, mut writer) = stream.into_split();
        let mut reader = BufReader::new(reader);
        let mut attributes: Vec<(String, String)> = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            let read = tokio::time::timeout(
                IDLE,
                (&mut reader).take(MAX_LINE as u64 + 1).read_line(&mut line),
            )
            .await;
            let n = match read {
                Ok(Ok(n)) => n,
                Ok(Err(error)) => return Err(error),
                Err(_) => return Ok(()),
            };
            if n == 0 {
                return Ok(());
            }
            if n > MAX_LINE || !line.ends_with('\n') {
                return Ok(());
            }
            let text = line.trim_end_matches(['\n', '\r']);
            if text.is_empty() {
                let action = self.decide(&attributes).await;
                writer
                    .write_all(format!("action={action}\n\n").as_bytes())
                    .await?;
                attributes.clear();
                continue;
            }
            if attributes.len() >= MAX_ATTRIBUTES {
                return Ok(());
            }
            if let Some((name, value)) = text.split_once('=') {
                attributes.push((name.to_string(), value.to_string()));
            }
        }
    }

    /// `REJECT` with the listing's reason for a listed sender or recipient, else `DUNNO`.
    async fn decide(&self, attributes: &[(String, String)]) -> String {
        let value = |name: &str| {
            attributes
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
                .unwrap_or("")
        };
        let checks = [
            (value("sender"), &self.sender_zones, "sender"),
            (value("recipient"), &self.recipient_zones, "recipient"),
        ];
        for (address, zones, role) in checks {
            let Some(name) = address_name(address) else {
                continue;
            };
            for zone in zones {
                if let Some(reason) = self.listed(&format!("{name}.{zone}.")).await {
                    tracing::info!(%address, %zone, role, "listed: rejected");
                    // Postfix puts "<address>: Sender address rejected:" (or
                    // Recipient, after the restriction it runs in) before this; the
                    // rest is its wording for a DNS list, and the reason names the
                    // address.
                    return format!("REJECT blocked using {zone}; {reason}");
                }
            }
        }
        "DUNNO".to_string()
    }

    /// The reason a listed name gives (its TXT, or the return code), if it is listed.
    async fn listed(&self, qname: &str) -> Option<String> {
        match self.resolver.a(qname).await {
            Outcome::Found(records) if !records.is_empty() => {
                let texts = match self.resolver.txt(qname).await {
                    Outcome::Found(texts) => texts
                        .into_iter()
                        .filter_map(|(answer, _)| match answer {
                            Answer::Txt(text) => Some(text),
                            Answer::A(_) => None,
                        })
                        .collect::<Vec<_>>(),
                    _ => Vec::new(),
                };
                let codes: Vec<String> = records
                    .iter()
                    .filter_map(|(answer, _)| match answer {
                        Answer::A(code) => Some(code.to_string()),
                        Answer::Txt(_) => None,
                    })
                    .collect();
                Some(if texts.is_empty() {
                    format!("listed as {}", codes.join(", "))
                } else {
                    // One line: a reason with a line break would end the reply.
                    texts.join("; ").replace(['\r', '\n'], " ")
                })
            }
            Outcome::Found(_) | Outcome::NotFound { .. } => None,
            other => {
                tracing::warn!(qname, ?other, "no answer about an address: the mail passes");
                None
            }
        }
    }
}

/// `sender@domain.example` as ward's name form `sender.domain.example` (the local part
/// split at its dots, as rspamd asks; ward answers it); `None` for the empty sender.
fn address_name(address: &str) -> Option<String> {
    let address = address.trim().trim_matches(['<', '>']).to_ascii_lowercase();
    let (local, domain) = address.rsplit_once('@')?;
    let ok = |part: &str| {
        !part.is_empty()
            && !part.starts_with('.')
            && !part.ends_with('.')
            && !part.contains("..")
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.+=".contains(&b))
    };
    (ok(local) && ok(domain)).then(|| format!("{local}.{domain}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_become_names() {
        assert_eq!(
            address_name("<News@Bulk.Example.com>").as_deref(),
            Some("news.bulk.example.com")
        );
        assert_eq!(
            address_name("first.last@example.net").as_deref(),
            Some("first.last.example.net")
        );
        assert_eq!(address_name(""), None, "the null sender");
        assert_eq!(
            address_name("root@localhost").as_deref(),
            Some("root.localhost")
        );
        assert_eq!(address_name("a b@example.com"), None);
        assert_eq!(address_name("x@example..com"), None);
    }
}
