//! Request extractors that report failures in the API's error format: JSON bodies, ids in
//! paths, query strings, and the authenticated user.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use enclave_app::Authed;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::error::{ApiError, ErrorCode};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "enclave_session";

/// A JSON body; malformed bodies become `bad_json`, wrong content types `unsupported_media_type`.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            return Err(json_rejection(JsonRejection::MissingJsonContentType(
                Default::default(),
            )));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|b| json_rejection(JsonRejection::BytesRejection(b)))?;
        // JSON is UTF-8 (RFC 8259). serde_json checks only the strings it keeps, so a body
        // with invalid UTF-8 in an ignored field would otherwise pass.
        if std::str::from_utf8(&bytes).is_err() {
            return Err(ApiError::new(
                ErrorCode::BadJson,
                "the body is not valid UTF-8",
            ));
        }
        // Every request body of the API is a JSON object. serde would also read a struct whose
        // fields are all optional from an array (`[]`), so arrays are refused here, once.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
            return Err(ApiError::new(
                ErrorCode::BadJson,
                "the body must be a JSON object",
            ));
        }
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// `application/json` or `application/*+json`, as `axum::Json` accepts.
fn json_content_type(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn json_rejection(r: JsonRejection) -> ApiError {
    match r {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "expected Content-Type: application/json",
        ),
        JsonRejection::BytesRejection(b)
            if b.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
        {
            ApiError::new(ErrorCode::PayloadTooLarge, "request body is too large")
        }
        other => ApiError::new(ErrorCode::BadJson, other.body_text()),
    }
}

/// A query string; malformed ones become `bad_request`.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                Err(ApiError::new(ErrorCode::BadRequest, e.body_text()))
            }
            Err(e) => Err(ApiError::new(ErrorCode::BadRequest, e.body_text())),
        }
    }
}

/// Parses an id from a path segment; a malformed id cannot name anything, so it is "not found".
pub fn parse_id<T: std::str::FromStr>(raw: &str, not_found: ErrorCode) -> Result<T, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::new(not_found, "no such id"))
}

/// `Authorization: Basic` credentials: the login and the (app) password. `Some(Err)` when the
/// header says Basic but cannot be read.
fn basic(headers: &HeaderMap) -> Option<Result<(String, String), ApiError>> {
    use base64::Engine;
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, value) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let refused = || ApiError::new(ErrorCode::Unauthenticated, "malformed Basic credentials");
    let value = value.trim();
    if value.len() > 512 {
        return Some(Err(refused()));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value)
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    let Some((login, password)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
        return Some(Err(refused()));
    };
    Some(Ok((login.to_owned(), password.to_owned())))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The value of a cookie, if present.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether the request's Origin (or Referer) names the host it was sent to.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let origin = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|o| o.to_str().ok());
    let Some(origin) = origin else { return false };
    let rest = origin.split_once("://").map_or(origin, |(_, r)| r);
    let origin_host = rest.split('/').next().unwrap_or("");
    origin_host.eq_ignore_ascii_case(host)
}

/// Picks the request's credential: `Authorization: Bearer`, else `query_token`, else the
/// session cookie. A cookie only counts for a state-changing request (`changes`) when the
/// request comes from the same origin: browsers attach cookies to cross-site requests.
pub fn credential(
    headers: &HeaderMap,
    changes: bool,
    query_token: Option<&str>,
) -> Result<String, ApiError> {
    if let Some(t) = bearer(headers) {
        return Ok(t.to_owned());
    }
    if let Some(t) = query_token {
        return Ok(t.to_owned());
    }
    let Some(t) = cookie(headers, SESSION_COOKIE) else {
        return Err(ApiError::new(
            ErrorCode::Unauthenticated,
            "authentication required",
        ));
    };
    if changes && !same_origin(headers) {
        return Err(ApiError::new(
            ErrorCode::CsrfFailed,
            "cross-origin request refused",
        ));
    }
    Ok(t.to_owned())
}

/// The authenticated user, from `Authorization: Bearer` or the session cookie. Cookie-borne
/// changes (any method but GET/HEAD/OPTIONS) must come from the same origin.
pub struct Auth(pub Authed);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(authed) = parts.extensions.get::<Authed>() {
            return Ok(Auth(authed.clone()));
        }
        // HTTP Basic with a username and an app password, for clients that cannot do single
        // sign-on. Browsers never send it on their own to this API (it never asks for it with
        // `WWW-Authenticate`), so it needs no origin check.
        if let Some(basic) = basic(&parts.headers) {
            let (login, password) = basic?;
            let ip = client_ip(
                &parts.headers,
                &parts.extensions,
                &state.config.trusted_proxies,
            );
            let authed = state
                .accounts
                .authenticate_basic(&login, &password, ip)
                .await?;
            parts.extensions.insert(authed.clone());
            return Ok(Auth(authed));
        }
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        let token = credential(&parts.headers, !safe, None)?;
        let authed = state.accounts.authenticate(&token).await?;
        parts.extensions.insert(authed.clone());
        Ok(Auth(authed))
    }
}

/// The client's address: the socket peer, or the first `X-Forwarded-For` hop when the peer is
/// a trusted proxy.
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(
            &parts.headers,
            &parts.extensions,
            &state.config.trusted_proxies,
        )))
    }
}

/// The client's address (see [`ClientIp`]).
pub fn client_ip(
    headers: &axum::http::HeaderMap,
    extensions: &axum::http::Extensions,
    trusted_proxies: &[IpAddr],
) -> IpAddr {
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([127, 0, 0, 1]), |ConnectInfo(a)| a.ip());
    if trusted_proxies.contains(&peer) {
        let forwarded = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok());
        if let Some(ip) = forwarded {
            return ip;
        }
    }
    peer
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn cookies_and_origins() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; enclave_session=enc_x; b=2"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("enc_x"));
        h.insert(header::HOST, HeaderValue::from_static("chat.example:8080"));
        assert!(!same_origin(&h), "no Origin means no proof");
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://chat.example:8080"),
        );
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(!same_origin(&h));
    }
}
