//! The admin API, on its own listener: entries (`POST`/`DELETE`/`GET
//! /api/v1/entries`) and removal requests (`GET /api/v1/requests`, `POST
//! /api/v1/requests/{id}/accept|reject`). Every call needs `Authorization: Bearer
//! <token>`, the token read from `--admin-token-file` and compared in constant time.

use std::net::SocketAddr;
use std::path::Path as FsPath;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, RawQuery, Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tower_http::set_header::SetResponseHeaderLayer;

use super::page::{INTERNAL, json, json_error, security_headers};
use super::{Shared, WebError};
use crate::listings::edit::{ApiEntry, EditError, NewEntry, Removal};
use crate::listings::requests::{Request as RemovalRequest, RequestError, StateFilter};

const MAX_BODY: usize = 64 * 1024;

/// The token, kept as its digest: comparing digests takes the same time whatever
/// the length or content of what a client sends.
#[derive(Clone)]
struct Token(Arc<[u8; 32]>);

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Reads the token file: the first line, trimmed; at least 16 characters.
pub(crate) fn read_token(path: &FsPath) -> Result<String, WebError> {
    let text = std::fs::read_to_string(path).map_err(|error| WebError::TokenFile {
        path: path.to_path_buf(),
        error,
    })?;
    let token = text.lines().next().unwrap_or("").trim().to_string();
    if token.len() < 16 {
        return Err(WebError::WeakToken(path.to_path_buf()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let own_group = nix::unistd::getegid().as_raw();
        if let Ok(meta) = std::fs::metadata(path)
            && readable_by_others(meta.mode(), meta.gid(), own_group)
        {
            tracing::warn!(path = %path.display(), "the admin token file is readable by others than ward's user and group: chmod 600 it (or 640, in ward's group)");
        }
    }
    Ok(token)
}

/// Whether a file of this mode and group may be read by anyone but its owner and the
/// group ward runs as: the Debian package's token is root:ward 0640, which is fine.
fn readable_by_others(mode: u32, file_group: u32, own_group: u32) -> bool {
    mode & 0o007 != 0 || (mode & 0o070 != 0 && file_group != own_group)
}

#[cfg(test)]
mod tests {
    use super::readable_by_others;

    #[test]
    fn a_token_only_ward_and_its_group_can_read_is_not_exposed() {
        assert!(!readable_by_others(0o100600, 0, 995));
        assert!(!readable_by_others(0o100640, 995, 995), "root:ward 0640");
        assert!(readable_by_others(0o100640, 0, 995), "root:root 0640");
        assert!(readable_by_others(0o100644, 995, 995), "world-readable");
        assert!(readable_by_others(0o100602, 995, 995), "world-writable");
    }
}

#[derive(Clone)]
struct Admin {
    shared: Arc<Shared>,
}

pub(crate) fn router(shared: Arc<Shared>, token: String) -> Router {
    let token = Token(Arc::new(digest(token.as_bytes())));
    let mut router = Router::new()
        .route(
            "/api/v1/entries",
            get(list_entries).post(add_entry).delete(remove_entry),
        )
        .route("/api/v1/requests", get(list_requests))
        .route("/api/v1/self-removals", get(list_self_removals))
        .route("/api/v1/requests/{id}/accept", post(accept))
        .route("/api/v1/requests/{id}/reject", post(reject))
        .fallback(async || json_error(StatusCode::NOT_FOUND, "no such endpoint"))
        .layer(middleware::from_fn_with_state(token, authorise))
        .layer(DefaultBodyLimit::max(MAX_BODY));
    for (name, value) in security_headers() {
        router = router.layer(SetResponseHeaderLayer::overriding(name, value));
    }
    router.with_state(Admin { shared })
}

async fn authorise(State(token): State<Token>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .map(|v| digest(v.as_bytes()));
    let ok = given.is_some_and(|given| bool::from(given.ct_eq(&*token.0)));
    if !ok {
        let mut response = json_error(
            StatusCode::UNAUTHORIZED,
            "this API needs `Authorization: Bearer <token>` with the token from --admin-token-file",
        );
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    next.run(request).await
}

/// The token of a `Bearer` credential. Scheme names are case-insensitive (RFC 7235
/// §2.1): `bearer` and `BEARER` are Bearer too.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

fn edit_error(error: &EditError) -> Response {
    let status = match error {
        EditError::Invalid(_) => StatusCode::BAD_REQUEST,
        EditError::NoZone(_) | EditError::NotFound { .. } => StatusCode::NOT_FOUND,
        EditError::SingleFile { .. } | EditError::Broken { .. } => StatusCode::CONFLICT,
        EditError::Write { .. } | EditError::Audit(_) => {
            tracing::error!(%error, "admin API");
            return json_error(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string());
        }
    };
    json_error(status, &error.to_string())
}

fn body_json<T: for<'de> Deserialize<'de>>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, Response> {
    let body =
        body.map_err(|r| json_error(r.status(), "the body could not be read (64 KiB at most)"))?;
    serde_json::from_slice(&body)
        .map_err(|e| json_error(StatusCode::BAD_REQUEST, &format!("expected JSON: {e}")))
}

/// Runs blocking work (files, SQLite) off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Response> {
    tokio::task::spawn_blocking(f).await.map_err(|error| {
        tracing::error!(%error, "admin API task failed");
        json_error(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL)
    })
}

async fn add_entry(
    State(admin): State<Admin>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let new: NewEntry = match body_json(body) {
        Ok(new) => new,
        Err(response) => return response,
    };
    let shared = admin.shared.clone();
    let client = Some(peer.ip().to_canonical().to_string());
    let by_fail2ban = new.by.as_deref() == Some("fail2ban");
    match blocking(move || shared.editor.add(&new, client)).await {
        Ok(Ok(added)) => {
            let stats = &admin.shared.stats;
            let counter = if by_fail2ban {
                &stats.added_by_fail2ban
            } else {
                &stats.added_by_others
            };
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            json(
                if added.replaced {
                    StatusCode::OK
                } else {
                    StatusCode::CREATED
                },
                &added,
            )
        }
        Ok(Err(error)) => edit_error(&error),
        Err(response) => response,
    }
}

/// `{"entries": […]}`, fields in their declared order.
#[derive(Serialize)]
struct Entries {
    entries: Vec<ApiEntry>,
}

#[derive(Serialize)]
struct Removed {
    removed: Vec<ApiEntry>,
}

#[derive(Serialize)]
struct Requests {
    requests: Vec<AdminRequest>,
}

#[derive(Debug, Default, Deserialize)]
struct EntryQuery {
    zone: Option<String>,
    key: Option<String>,
    by: Option<String>,
    /// DELETE: only the entries with this ticket; GET: only these.
    ticket: Option<String>,
}

fn query<T: for<'de> Deserialize<'de> + Default>(raw: Option<String>) -> Result<T, Response> {
    match raw {
        None => Ok(T::default()),
        Some(raw) => serde_urlencoded::from_str(&raw)
            .map_err(|e| json_error(StatusCode::BAD_REQUEST, &format!("query string: {e}"))),
    }
}

async fn remove_entry(
    State(admin): State<Admin>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q: EntryQuery = match query(raw) {
        Ok(q) => q,
        Err(response) => return response,
    };
    let (Some(zone), Some(key)) = (q.zone, q.key) else {
        return json_error(StatusCode::BAD_REQUEST, "give ?zone=…&key=…");
    };
    let by = q.by.unwrap_or_else(|| "api".to_string());
    let shared = admin.shared.clone();
    let client = peer.ip().to_canonical().to_string();
    let ticket = q.ticket;
    match blocking(move || {
        shared.editor.remove(Removal {
            ticket: ticket.as_deref(),
            client: Some(&client),
            ..Removal::of(&zone, &key, &by)
        })
    })
    .await
    {
        Ok(Ok(removed)) => json(StatusCode::OK, &Removed { removed }),
        Ok(Err(error)) => edit_error(&error),
        Err(response) => response,
    }
}

async fn list_entries(State(admin): State<Admin>, RawQuery(raw): RawQuery) -> Response {
    let q: EntryQuery = match query(raw) {
        Ok(q) => q,
        Err(response) => return response,
    };
    let shared = admin.shared.clone();
    let listed = blocking(move || {
        let mut entries = shared.editor.list(q.zone.as_deref(), q.key.as_deref())?;
        entries.retain(|e| q.by.is_none() || e.by == q.by);
        entries.retain(|e| q.ticket.is_none() || e.ticket == q.ticket);
        Ok(entries)
    })
    .await;
    match listed {
        Ok(Ok(entries)) => json(StatusCode::OK, &Entries { entries }),
        Ok(Err(error)) => edit_error(&error),
        Err(response) => response,
    }
}

/// A self-removal as the API shows it: what, where, when, from which client, and the
/// contact address given (if any).
#[derive(Serialize)]
struct SelfRemoval {
    zone: String,
    what: String,
    reason: String,
    removed: String,
    client_ip: String,
    contact: Option<String>,
}

async fn list_self_removals(State(admin): State<Admin>) -> Response {
    let shared = admin.shared.clone();
    match blocking(move || shared.requests.self_removals(1000)).await {
        Ok(Ok(records)) => {
            let removals: Vec<SelfRemoval> = records
                .into_iter()
                .map(|r| SelfRemoval {
                    zone: r.zone,
                    what: r.what,
                    reason: r.reason,
                    removed: crate::time::format_rfc3339(r.removed),
                    client_ip: r.client_ip,
                    contact: Some(r.contact).filter(|c| !c.is_empty()),
                })
                .collect();
            json(
                StatusCode::OK,
                &serde_json::json!({ "self_removals": removals }),
            )
        }
        Ok(Err(error)) => {
            tracing::error!(%error, "listing self-removals");
            json_error(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL)
        }
        Err(response) => response,
    }
}

#[derive(Debug, Default, Deserialize)]
struct RequestsQuery {
    #[serde(default)]
    state: StateFilter,
}

async fn list_requests(State(admin): State<Admin>, RawQuery(raw): RawQuery) -> Response {
    let q: RequestsQuery = match query(raw) {
        Ok(q) => q,
        Err(response) => return response,
    };
    let shared = admin.shared.clone();
    match blocking(move || shared.requests.list(q.state, 1000)).await {
        Ok(Ok(requests)) => {
            let requests: Vec<AdminRequest> =
                requests.into_iter().map(AdminRequest::from).collect();
            json(StatusCode::OK, &Requests { requests })
        }
        Ok(Err(error)) => request_error(&error),
        Err(response) => response,
    }
}

/// A request as admins see it: times in RFC 3339, and no token (the requester's).
#[derive(Debug, Serialize)]
pub(crate) struct AdminRequest {
    id: i64,
    zone: String,
    what: String,
    email: String,
    message: String,
    created: String,
    client_ip: String,
    state: String,
    answer: Option<String>,
    answered: Option<String>,
    answered_by: Option<String>,
}

impl From<RemovalRequest> for AdminRequest {
    fn from(r: RemovalRequest) -> Self {
        AdminRequest {
            id: r.id,
            zone: r.zone,
            what: r.what,
            email: r.email,
            message: r.message,
            created: crate::time::format_rfc3339(r.created),
            client_ip: r.client_ip,
            state: r.state,
            answer: r.answer,
            answered: r.answered.map(crate::time::format_rfc3339),
            answered_by: r.answered_by,
        }
    }
}

fn request_error(error: &RequestError) -> Response {
    match error {
        RequestError::NotFound(_) => json_error(StatusCode::NOT_FOUND, &error.to_string()),
        RequestError::Decided { .. } | RequestError::AlreadyOpen { .. } => {
            json_error(StatusCode::CONFLICT, &error.to_string())
        }
        _ => {
            tracing::error!(%error, "admin API");
            json_error(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL)
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Decision {
    #[serde(default)]
    answer: Option<String>,
    #[serde(default)]
    by: Option<String>,
}

/// What a decision did.
#[derive(Debug, Serialize)]
struct Decided {
    request: AdminRequest,
    /// Entries removed from `api.zone` (accept).
    removed: Vec<ApiEntry>,
    /// Still listed after the removal: by entries in admins' own files, which the API
    /// never rewrites.
    still_listed: bool,
}

async fn accept(
    State(admin): State<Admin>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<i64>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    decide(admin, peer, id, true, body).await
}

async fn reject(
    State(admin): State<Admin>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<i64>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    decide(admin, peer, id, false, body).await
}

async fn decide(
    admin: Admin,
    peer: SocketAddr,
    id: i64,
    accepted: bool,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let empty = matches!(&body, Ok(b) if b.iter().all(u8::is_ascii_whitespace));
    let decision: Decision = if empty {
        Decision::default()
    } else {
        match body_json(body) {
            Ok(d) => d,
            Err(response) => return response,
        }
    };
    if !accepted
        && decision
            .answer
            .as_deref()
            .is_none_or(|a| a.trim().is_empty())
    {
        return json_error(
            StatusCode::BAD_REQUEST,
            "a rejection needs an answer for the requester: {\"answer\": \"…\"}",
        );
    }
    let shared = admin.shared.clone();
    let client = peer.ip().to_canonical().to_string();
    let result = blocking(move || decide_blocking(&shared, id, accepted, decision, client)).await;
    match result {
        Ok(Ok(decided)) => json(StatusCode::OK, &decided),
        Ok(Err(response)) => response,
        Err(response) => response,
    }
}

fn decide_blocking(
    shared: &Shared,
    id: i64,
    accepted: bool,
    decision: Decision,
    client: String,
) -> Result<Decided, Response> {
    let by = decision.by.unwrap_or_else(|| "api".to_string());
    let answer = decision.answer.unwrap_or_else(|| {
        if accepted {
            "Accepted: the listing is removed.".to_string()
        } else {
            String::new()
        }
    });
    let outcome = crate::listings::decide::decide(
        &shared.editor,
        &shared.requests,
        id,
        accepted,
        &answer,
        &by,
        Some(client),
    )
    .map_err(|e| match e {
        crate::listings::decide::DecideError::Request(e) => request_error(&e),
        crate::listings::decide::DecideError::Edit(e) => edit_error(&e),
    })?;
    Ok(Decided {
        request: outcome.request.into(),
        removed: outcome.removed,
        still_listed: outcome.still_listed,
    })
}
