//! CSRF protection for the public forms, without sessions or JavaScript: a random
//! token in a `SameSite=Strict`, `HttpOnly` cookie and the same token in a hidden form
//! field (double submit). Another site can make a browser post a form here, but it
//! can neither read nor set the cookie, so the two never match. Requests a browser
//! marks as cross-site (`Sec-Fetch-Site`) or from another origin are refused first.

use axum::http::HeaderMap;
use axum::http::header::{COOKIE, HOST, ORIGIN};
use subtle::ConstantTimeEq;

use crate::listings::requests::random_token;

pub(crate) const COOKIE_NAME: &str = "ward_csrf";

/// The token a page's forms carry, and the cookie to set when the client had none.
pub(crate) struct CsrfToken {
    pub(crate) token: String,
    pub(crate) set_cookie: Option<String>,
}

/// The client's token, or a new one.
pub(crate) fn token_for(headers: &HeaderMap) -> CsrfToken {
    if let Some(token) = cookie(headers) {
        return CsrfToken {
            token,
            set_cookie: None,
        };
    }
    // Without randomness, the page still renders; its forms then fail the check.
    let token = random_token().unwrap_or_default();
    CsrfToken {
        set_cookie: Some(format!(
            "{COOKIE_NAME}={token}; Path=/; HttpOnly; SameSite=Strict"
        )),
        token,
    }
}

/// Whether a form post carries the cookie's token and comes from this site.
pub(crate) fn check(headers: &HeaderMap, form_token: &str) -> bool {
    if let Some(site) = headers.get("sec-fetch-site")
        && !matches!(site.as_bytes(), b"same-origin" | b"none")
    {
        return false;
    }
    // `Origin: null` is what privacy settings send; the token still has to match.
    let origin = headers.get(ORIGIN).filter(|o| o.as_bytes() != b"null");
    if let (Some(origin), Some(host)) = (origin, headers.get(HOST)) {
        let origin = origin.to_str().unwrap_or("");
        let host = host.to_str().unwrap_or("");
        let bare = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .unwrap_or("");
        if bare != host {
            return false;
        }
    }
    match cookie(headers) {
        Some(token) => {
            !form_token.is_empty() && bool::from(token.as_bytes().ct_eq(form_token.as_bytes()))
        }
        None => false,
    }
}

/// The token from the `Cookie` header, if it looks like one of ours.
fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.to_string())
        .filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn the_cookie_and_the_field_must_match() {
        let token = "0123456789abcdef0123456789abcdef";
        let cookie = format!("other=1; {COOKIE_NAME}={token}");
        assert!(check(&headers(&[("cookie", &cookie)]), token));
        assert!(!check(&headers(&[("cookie", &cookie)]), "0123"));
        assert!(!check(&headers(&[]), token), "no cookie");
        assert!(!check(
            &headers(&[("cookie", &cookie), ("sec-fetch-site", "cross-site")]),
            token
        ));
        assert!(!check(
            &headers(&[
                ("cookie", &cookie),
                ("origin", "http://evil.example"),
                ("host", "127.0.0.1:8080")
            ]),
            token
        ));
        assert!(check(
            &headers(&[
                ("cookie", &cookie),
                ("origin", "http://127.0.0.1:8080"),
                ("host", "127.0.0.1:8080")
            ]),
            token
        ));
        assert!(check(
            &headers(&[
                ("cookie", &cookie),
                ("origin", "null"),
                ("host", "127.0.0.1:8080")
            ]),
            token
        ));
        let fresh = token_for(&headers(&[]));
        assert_eq!(fresh.token.len(), 32);
        assert!(fresh.set_cookie.unwrap().contains("SameSite=Strict"));
        assert!(
            token_for(&headers(&[("cookie", &cookie)]))
                .set_cookie
                .is_none()
        );
    }
}
