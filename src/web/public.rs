//! The public listener: `/` (search box), `/lookup` and `/api/v1/lookup`, `/explain`,
//! and the removal request flow (`/request/new`, `POST /request`, `/request/<token>`).
//! No admin function is reachable here.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, RawQuery, State};
use axum::http::header::{CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use minijinja::value::Serde;
use minijinja::{Value, context};
use serde::Deserialize;
use tower_http::set_header::SetResponseHeaderLayer;

use super::bounce::{BounceView, ExternalCause, explain_bounce};
use super::csrf;
use super::limits::Limiter;
use super::lookup::{LookupView, MAX_QUERY, SelfRemovalView, lookup_view};
use super::page::{INTERNAL, STYLE, json, json_error, security_headers, too_many, with_cookie};
use super::{Shared, WebSettings};
use crate::external::{self, ExternalLists};
use crate::listings::audit::AuditRecord;
use crate::listings::edit::Removal;
use crate::listings::requests::{NewRequest, Request, RequestError};
use crate::listings::self_removal::{Offer, offer};
use crate::time::format_rfc3339;
use crate::time::unix_now;
use crate::zone::reason::FixCheck;

/// Largest request body: a long bounce with headers fits.
const MAX_BODY: usize = 64 * 1024;
const MAX_EMAIL: usize = 254;
const MAX_MESSAGE: usize = 4000;

#[derive(Clone)]
struct Public {
    shared: Arc<Shared>,
    pages: Arc<Limiter>,
    requests: Arc<Limiter>,
}

pub(crate) fn router(shared: Arc<Shared>, settings: &WebSettings) -> Router {
    let state = Public {
        shared,
        pages: Arc::new(Limiter::new(settings.pages)),
        requests: Arc::new(Limiter::new(settings.requests)),
    };
    let mut router = Router::new()
        .route("/", get(index))
        .route("/lookup", get(lookup_page))
        .route("/api/v1/lookup", get(lookup_json))
        .route("/explain", get(explain_get).post(explain_post))
        .route("/request/new", get(request_form))
        .route("/request", post(request_submit))
        .route("/self-remove", post(self_remove))
        .route("/request/{token}", get(request_status))
        .route("/ward.css", get(style))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(state.clone(), page_budget));
    for (name, value) in security_headers() {
        router = router.layer(SetResponseHeaderLayer::overriding(name, value));
    }
    router.with_state(state)
}

/// Every page but the style sheet spends the client's page budget, before anything
/// past the request's headers is read: a flood of posts is refused before their
/// bodies are, and `/` costs what the other pages cost.
async fn page_budget(
    State(state): State<Public>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: axum::extract::Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if path != "/ward.css" {
        let json = path.starts_with("/api/");
        if let Some(response) = state.limited(&state.pages, peer, json) {
            return response;
        }
    }
    next.run(request).await
}

/// The client's address as people write it (IPv4-mapped IPv6 as IPv4).
fn client_ip(peer: SocketAddr) -> IpAddr {
    peer.ip().to_canonical()
}

impl Public {
    fn limited(&self, limiter: &Limiter, peer: SocketAddr, json_answer: bool) -> Option<Response> {
        let wait = limiter.check(client_ip(peer)).err()?;
        let message = format!(
            "Too many requests from your network. Please try again in {} minutes.",
            wait.as_secs().div_ceil(60).max(1)
        );
        let response = if json_answer {
            json_error(StatusCode::TOO_MANY_REQUESTS, &message)
        } else {
            self.shared
                .pages
                .error(StatusCode::TOO_MANY_REQUESTS, &message)
        };
        Some(too_many(response, wait))
    }

    /// Looks up off the async threads (the details may read files), and asks the
    /// public lists meanwhile.
    async fn lookup(&self, query: String) -> Result<Result<LookupView, String>, ()> {
        let shared = self.shared.clone();
        let subject = external::subject_of(&query);
        let ours = tokio::task::spawn_blocking(move || {
            let details = shared.details.current();
            let snapshot = shared.store.load_full();
            let mut view =
                lookup_view(&query, &snapshot, &details, unix_now()).map_err(|e| e.to_string())?;
            for zone in view
                .zones
                .iter_mut()
                .filter(|z| z.listed && !z.listed_by_admin)
            {
                zone.self_removal = self_removal_view(&shared, &zone.zone, &view.query);
            }
            Ok(view)
        });
        let theirs = async {
            match (&self.shared.external, &subject) {
                (Some(lists), Some(subject)) => Some(lists.check(subject).await),
                (Some(_), None) => Some(Vec::new()),
                (None, _) => None,
            }
        };
        let (ours, theirs) = tokio::join!(ours, theirs);
        let mut view = ours.map_err(|error| tracing::error!(%error, "a lookup failed"))?;
        if let Ok(view) = &mut view {
            view.external = theirs;
        }
        Ok(view)
    }

    fn internal(&self) -> Response {
        self.shared
            .pages
            .error(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL)
    }
}

/// The self-removal offer for `value` in `zone`, where one applies.
fn self_removal_view(shared: &Shared, zone: &str, value: &str) -> Option<SelfRemovalView> {
    let last = shared.requests.last_self_removal(zone, value).ok()?;
    match offer(&shared.editor, last, zone, value).ok()? {
        Offer::No => None,
        Offer::Allowed { check, .. } => Some(SelfRemovalView {
            allowed: true,
            check: check.map(|FixCheck::Spf| "spf"),
            last: None,
            again: None,
        }),
        Offer::TooSoon { at, every } => Some(SelfRemovalView {
            allowed: false,
            check: None,
            last: Some(format_rfc3339(at)),
            again: Some(format_rfc3339(at + i64::from(every))),
        }),
    }
}

fn query_string<T: for<'de> Deserialize<'de> + Default>(raw: Option<String>) -> Option<T> {
    match raw {
        None => Some(T::default()),
        Some(raw) => serde_urlencoded::from_str(&raw).ok(),
    }
}

#[derive(Debug, Default, Deserialize)]
struct LookupQuery {
    #[serde(default)]
    q: String,
}

async fn index(
    State(state): State<Public>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    let zones: Vec<String> = state
        .shared
        .store
        .load()
        .zones()
        .iter()
        .map(|z| z.name.to_string())
        .collect();
    state.shared.pages.render(
        "index.html",
        StatusCode::OK,
        context! { client_ip => client_ip(peer).to_string(), zones => zones },
    )
}

async fn lookup_page(
    State(state): State<Public>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let Some(LookupQuery { q }) = query_string(raw) else {
        return bad_query_page(&state, "", "The search could not be read.");
    };
    let q = q.trim().to_string();
    if q.is_empty() {
        return redirect("/");
    }
    match state.lookup(q.clone()).await {
        Ok(Ok(view)) => {
            // A listing its owner may remove carries a form.
            let token = csrf::token_for(&headers);
            let page = state.shared.pages.render(
                "lookup.html",
                StatusCode::OK,
                context! { q => q, view => Value::from(Serde(&view)), csrf => token.token },
            );
            with_cookie(page, token.set_cookie)
        }
        Ok(Err(message)) => bad_query_page(&state, &q, &message),
        Err(()) => state.internal(),
    }
}

fn bad_query_page(state: &Public, q: &str, message: &str) -> Response {
    let q: String = q.chars().take(MAX_QUERY).collect();
    state.shared.pages.render(
        "lookup.html",
        StatusCode::BAD_REQUEST,
        context! { q => q, problem => message },
    )
}

async fn lookup_json(State(state): State<Public>, RawQuery(raw): RawQuery) -> Response {
    let Some(LookupQuery { q }) = query_string(raw) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "the query string could not be read",
        );
    };
    if q.trim().is_empty() {
        return json_error(
            StatusCode::BAD_REQUEST,
            "give an IP address, domain or email address as ?q=",
        );
    }
    match state.lookup(q).await {
        Ok(Ok(view)) => json(StatusCode::OK, &view),
        Ok(Err(message)) => json_error(StatusCode::BAD_REQUEST, &message),
        Err(()) => json_error(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL),
    }
}

#[derive(Debug, Default, Deserialize)]
struct ExplainForm {
    #[serde(default)]
    text: String,
    #[serde(default)]
    csrf: String,
}

async fn explain_get(
    State(state): State<Public>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let Some(form) = query_string::<ExplainForm>(raw) else {
        return state
            .shared
            .pages
            .error(StatusCode::BAD_REQUEST, "The form could not be read.");
    };
    explain(state, &headers, form.text).await
}

async fn explain_post(
    State(state): State<Public>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let form: ExplainForm = match read_form(&state, &headers, body) {
        Ok(form) => form,
        Err(response) => return response,
    };
    if !csrf::check(&headers, &form.csrf) {
        return form_expired(&state);
    }
    explain(state, &headers, form.text).await
}

async fn explain(state: Public, headers: &HeaderMap, text: String) -> Response {
    let token = csrf::token_for(headers);
    if text.trim().is_empty() {
        let page = state.shared.pages.render(
            "explain.html",
            StatusCode::OK,
            context! { csrf => token.token },
        );
        return with_cookie(page, token.set_cookie);
    }
    let shared = state.shared.clone();
    let pasted = text.clone();
    let their_zones: Vec<String> = shared
        .external
        .as_ref()
        .map(|lists| lists.lists().iter().map(|l| l.zone.clone()).collect())
        .unwrap_or_default();
    let zones = their_zones.clone();
    let view = tokio::task::spawn_blocking(move || -> BounceView {
        let details = shared.details.current();
        let snapshot = shared.store.load_full();
        explain_bounce(&pasted, &snapshot, &details, &zones, unix_now())
    })
    .await;
    match view {
        Ok(mut view) => {
            if let Some(lists) = &state.shared.external {
                ask_named_lists(lists, &their_zones, &mut view).await;
            }
            let page = state.shared.pages.render(
                "explain.html",
                StatusCode::OK,
                context! { csrf => token.token, text => text, view => Value::from(Serde(&view)) },
            );
            with_cookie(page, token.set_cookie)
        }
        Err(error) => {
            tracing::error!(%error, "explaining a bounce failed");
            state.internal()
        }
    }
}

/// Asks each public list the bounce names about what the bounce names (its IPs,
/// domains and addresses, as far as the list lists such things).
async fn ask_named_lists(lists: &Arc<ExternalLists>, zones: &[String], view: &mut BounceView) {
    let named: Vec<String> = zones
        .iter()
        .filter(|zone| view.found.other_lists.iter().any(|named| named == *zone))
        .cloned()
        .collect();
    let items: Vec<String> = view
        .found
        .ips
        .iter()
        .chain(&view.found.domains)
        .chain(&view.found.addresses)
        .take(8)
        .cloned()
        .collect();
    for zone in named {
        let mut answers = Vec::new();
        for item in &items {
            let Some(subject) = external::subject_of(item) else {
                continue;
            };
            if let Some(result) = lists.check_list(&zone, &subject).await {
                answers.push(ExternalCause {
                    item: item.clone(),
                    result,
                });
            }
        }
        view.with_external(&zone, answers);
    }
}

/// A urlencoded form body, or the page saying why not.
fn read_form<T: for<'de> Deserialize<'de>>(
    state: &Public,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<T, Response> {
    let body = body.map_err(|rejection| {
        let status = rejection.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "That is more text than this form takes (64 KiB). Paste the part with the error."
        } else {
            "The form could not be read."
        };
        state.shared.pages.error(status, message)
    })?;
    let is_form = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(state.shared.pages.error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Send this form from the page.",
        ));
    }
    serde_urlencoded::from_bytes(&body).map_err(|_| {
        state
            .shared
            .pages
            .error(StatusCode::BAD_REQUEST, "The form could not be read.")
    })
}

fn form_expired(state: &Public) -> Response {
    state.shared.pages.error(
        StatusCode::FORBIDDEN,
        "This form has expired or was sent from another site. Go back, reload the page and send it again.",
    )
}

#[derive(Debug, Default, Deserialize)]
struct RequestQuery {
    #[serde(default)]
    zone: String,
    #[serde(default)]
    q: String,
}

async fn request_form(
    State(state): State<Public>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let Some(query) = query_string::<RequestQuery>(raw) else {
        return state
            .shared
            .pages
            .error(StatusCode::BAD_REQUEST, "The link could not be read.");
    };
    let listed = match listed_in(&state, &query.zone, &query.q).await {
        Ok(listed) => listed,
        Err(response) => return response,
    };
    let token = csrf::token_for(&headers);
    let page = state.shared.pages.render(
        "request_new.html",
        StatusCode::OK,
        context! {
            zone => query.zone,
            q => listed.query,
            csrf => token.token,
            reasons => listed.reasons,
        },
    );
    with_cookie(page, token.set_cookie)
}

/// What a listed value is called, and why it is listed.
struct Listed {
    query: String,
    reasons: Vec<String>,
}

/// Checks that `q` is listed in `zone` right now.
async fn listed_in(state: &Public, zone: &str, q: &str) -> Result<Listed, Response> {
    let zone = zone.trim().trim_end_matches('.').to_ascii_lowercase();
    let not_listed = |state: &Public| {
        state.shared.pages.error(
            StatusCode::BAD_REQUEST,
            "That is not listed in that list right now, so there is nothing to remove. Look it up again from the start page.",
        )
    };
    if zone.is_empty() || q.trim().is_empty() {
        return Err(not_listed(state));
    }
    match state.lookup(q.to_string()).await {
        Ok(Ok(view)) => view
            .zones
            .into_iter()
            .find(|z| z.zone == zone && z.listed)
            .map(|z| Listed {
                query: view.query.clone(),
                reasons: z.reasons,
            })
            .ok_or_else(|| not_listed(state)),
        Ok(Err(_)) => Err(not_listed(state)),
        Err(()) => Err(state.internal()),
    }
}

#[derive(Debug, Default, Deserialize)]
struct RequestForm {
    #[serde(default)]
    zone: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    csrf: String,
}

async fn request_submit(
    State(state): State<Public>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let form: RequestForm = match read_form(&state, &headers, body) {
        Ok(form) => form,
        Err(response) => return response,
    };
    if !csrf::check(&headers, &form.csrf) {
        return form_expired(&state);
    }
    if let Some(response) = state.limited(&state.requests, peer, false) {
        return response;
    }
    let email = form.email.trim().to_string();
    if !plausible_email(&email) {
        return state.shared.pages.error(
            StatusCode::BAD_REQUEST,
            "Please give an email address we can answer you at (like you@example.org).",
        );
    }
    let message = plain_text(&form.message);
    if message.chars().count() > MAX_MESSAGE {
        return state.shared.pages.error(
            StatusCode::BAD_REQUEST,
            "Your message is too long: 4,000 characters at most.",
        );
    }
    let zone = form.zone.trim().trim_end_matches('.').to_ascii_lowercase();
    let listed = match listed_in(&state, &zone, &form.q).await {
        Ok(listed) => listed,
        Err(response) => return response,
    };
    let what = canonical(&listed.query);
    let ip = client_ip(peer).to_string();
    let shared = state.shared.clone();
    let created = tokio::task::spawn_blocking(move || -> Result<Request, RequestError> {
        let request = shared.requests.create(&NewRequest {
            zone: &zone,
            what: &what,
            email: &email,
            message: &message,
            client_ip: &ip,
        })?;
        let logged = shared.editor.audit().append(&AuditRecord {
            action: "request",
            by: "public",
            zone: Some(&request.zone),
            key: Some(&request.what),
            request: Some(request.id),
            client: Some(ip.clone()),
            ..AuditRecord::default()
        });
        if let Err(error) = logged {
            tracing::error!(%error, "cannot append to the audit log");
        }
        Ok(request)
    })
    .await;
    match created {
        Ok(Ok(request)) => redirect(&format!("/request/{}", request.token)),
        Ok(Err(RequestError::AlreadyOpen { zone, what })) => state.shared.pages.error(
            StatusCode::CONFLICT,
            &format!(
                "A removal request for {what} in {zone} is already open. We answer it at the address given there; you do not need to send another."
            ),
        ),
        Ok(Err(error)) => {
            tracing::error!(%error, "cannot store a removal request");
            state.internal()
        }
        Err(error) => {
            tracing::error!(%error, "cannot store a removal request");
            state.internal()
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct SelfRemoveForm {
    #[serde(default)]
    zone: String,
    #[serde(default)]
    q: String,
    /// Optional: where the admins can reach whoever removed it.
    #[serde(default)]
    contact: String,
    #[serde(default)]
    csrf: String,
}

/// "I fixed it: remove it now": a listing whose reason allows it, made by the API or
/// fail2ban, removed by the listed — once in the reason's period, after ward checked
/// the fix where it can. Rate-limited like removal requests, and audited.
async fn self_remove(
    State(state): State<Public>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let form: SelfRemoveForm = match read_form(&state, &headers, body) {
        Ok(form) => form,
        Err(response) => return response,
    };
    if !csrf::check(&headers, &form.csrf) {
        return form_expired(&state);
    }
    if let Some(response) = state.limited(&state.requests, peer, false) {
        return response;
    }
    let contact = form.contact.trim().to_string();
    if !contact.is_empty() && !plausible_email(&contact) {
        return state.shared.pages.error(
            StatusCode::BAD_REQUEST,
            "The contact address does not look like one (leave it empty, or give you@example.org).",
        );
    }
    let zone = form.zone.trim().trim_end_matches('.').to_ascii_lowercase();
    let value = canonical(form.q.trim());
    let refuse = |message: String| state.shared.pages.error(StatusCode::CONFLICT, &message);
    let shared = state.shared.clone();
    let (zone_q, value_q) = (zone.clone(), value.clone());
    let offered = tokio::task::spawn_blocking(move || {
        // An admin's own entry keeps the value listed whatever the API's say.
        let view = lookup_view(
            &value_q,
            &shared.store.load_full(),
            &shared.details.current(),
            unix_now(),
        );
        let by_admin = view.is_ok_and(|view| {
            view.zones
                .iter()
                .any(|z| z.zone == zone_q && z.listed_by_admin)
        });
        if by_admin {
            return Ok(Offer::No);
        }
        let last = shared
            .requests
            .last_self_removal(&zone_q, &value_q)
            .ok()
            .flatten();
        offer(&shared.editor, last, &zone_q, &value_q)
    })
    .await;
    let (reason, check) = match offered {
        Ok(Ok(Offer::Allowed { reason, check, .. })) => (reason, check),
        Ok(Ok(Offer::TooSoon { at, every })) => {
            return refuse(format!(
                "{value} removed itself from {zone} on {}; until {} a removal needs a request, which an administrator answers: /request/new?zone={zone}&q={value}",
                format_rfc3339(at),
                format_rfc3339(at + i64::from(every))
            ));
        }
        Ok(Ok(Offer::No)) => {
            return refuse(format!(
                "This listing of {value} in {zone} cannot be removed here: ask for its removal with a request, which an administrator answers."
            ));
        }
        Ok(Err(error)) => {
            tracing::warn!(%error, "self-removal");
            return refuse(format!(
                "This listing of {value} cannot be removed here right now."
            ));
        }
        Err(error) => {
            tracing::error!(%error, "self-removal failed");
            return state.internal();
        }
    };
    if let Some(check) = check {
        let Some(fixes) = &state.shared.fixes else {
            return refuse(
                "We cannot check the fix just now; please open a request instead.".into(),
            );
        };
        if let Err(missing) = fixes.verify(check, &value).await {
            return refuse(missing);
        }
    }
    let shared = state.shared.clone();
    let ip = client_ip(peer).to_string();
    let (zone_r, value_r) = (zone.clone(), value.clone());
    let removed = tokio::task::spawn_blocking(move || -> Result<usize, String> {
        let removed = shared
            .editor
            .remove(Removal {
                client: Some(&ip),
                action: "self-remove",
                ..Removal::of(&zone_r, &value_r, "self")
            })
            .map_err(|e| e.to_string())?;
        shared
            .requests
            .record_self_removal(&zone_r, &value_r, &reason, &ip, &contact)
            .map_err(|e| e.to_string())?;
        Ok(removed.len())
    })
    .await;
    match removed {
        Ok(Ok(_)) => {
            state
                .shared
                .stats
                .self_removals
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            state.shared.pages.render(
                "self_removed.html",
                StatusCode::OK,
                context! { zone => zone, q => value },
            )
        }
        Ok(Err(error)) => {
            tracing::warn!(%error, "self-removal");
            refuse(format!(
                "{value} could not be removed just now; please try again or open a request."
            ))
        }
        Err(error) => {
            tracing::error!(%error, "self-removal failed");
            state.internal()
        }
    }
}

/// One form per value: addresses and names without case.
fn canonical(query: &str) -> String {
    match query.parse::<IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => query.trim_end_matches('.').to_ascii_lowercase(),
    }
}

/// An address to answer: one `@`, something on both sides, no spaces or controls.
fn plausible_email(email: &str) -> bool {
    email.len() <= MAX_EMAIL
        && !email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>\"".contains(c))
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.contains('@')
        })
}

/// The message as plain text: line ends normalised, other control characters dropped.
fn plain_text(message: &str) -> String {
    message
        .replace("\r\n", "\n")
        .chars()
        .filter(|&c| c == '\n' || c == '\t' || !c.is_control())
        .collect::<String>()
        .trim()
        .to_string()
}

async fn request_status(State(state): State<Public>, Path(token): Path<String>) -> Response {
    let unknown = |state: &Public| {
        state.shared.pages.error(
            StatusCode::NOT_FOUND,
            "There is no request at this address. Check that you copied the whole link.",
        )
    };
    if token.len() != 32 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return unknown(&state);
    }
    let shared = state.shared.clone();
    let found = tokio::task::spawn_blocking(move || shared.requests.by_token(&token)).await;
    let request = match found {
        Ok(Ok(Some(request))) => request,
        Ok(Ok(None)) => return unknown(&state),
        Ok(Err(error)) => {
            tracing::error!(%error, "cannot read a removal request");
            return state.internal();
        }
        Err(error) => {
            tracing::error!(%error, "cannot read a removal request");
            return state.internal();
        }
    };
    let listed_now = match state.lookup(request.what.clone()).await {
        Ok(Ok(view)) => view
            .zones
            .iter()
            .any(|z| z.zone == request.zone && z.listed),
        _ => false,
    };
    state.shared.pages.render(
        "request.html",
        StatusCode::OK,
        context! {
            request => context! {
                zone => request.zone,
                what => request.what,
                state => request.state,
                message => request.message,
                created => format_rfc3339(request.created),
                answer => request.answer,
                answered => request.answered.map(format_rfc3339),
            },
            listed_now => listed_now,
        },
    )
}

async fn style() -> Response {
    let mut response = STYLE.into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    response
}

async fn not_found(State(state): State<Public>) -> Response {
    state.shared.pages.error(
        StatusCode::NOT_FOUND,
        "There is no page here. Start from the search page.",
    )
}

fn redirect(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(to) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_and_messages() {
        assert!(plausible_email("me@example.org"));
        assert!(!plausible_email("me@localhost"));
        assert!(!plausible_email("<me@example.org>"));
        assert!(!plausible_email("a b@example.org"));
        assert_eq!(plain_text(" a\r\nb\u{7}c "), "a\nbc");
        assert_eq!(canonical("Mail.Example."), "mail.example");
        assert_eq!(canonical("2001:DB8::1"), "2001:db8::1");
    }
}
