//! Enclave's web client, embedded in the binary.
//!
//! `build.rs` builds `web/` (TypeScript, Vite) into `web/dist` when needed; this crate embeds
//! `web/dist` with rust-embed (in debug builds too, so every binary is self-contained) and
//! serves it:
//!
//! - hashed assets (`/assets/...`) are immutable for a year; `index.html` is revalidated on
//!   every load (`no-cache`, with an `ETag`);
//! - the gzip and brotli copies Vite wrote next to each file are served when the browser
//!   accepts them (`Vary: Accept-Encoding`);
//! - any other path that is not under `/api` gets `index.html`, so client routes such as
//!   `/c/42` survive a reload; a missing file under `/assets` is a 404;
//! - every response carries a strict Content-Security-Policy and the usual hardening headers.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "../../web/dist/"]
struct Dist;

/// A router that serves the web client for every path it is given (mount it as a fallback
/// behind the API routes). Paths under `/api` are never answered with the client.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().fallback(serve)
}

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

async fn serve(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    if path == "/api" || path.starts_with("/api/") {
        return plain(StatusCode::NOT_FOUND, "not found", &headers);
    }
    if method != Method::GET && method != Method::HEAD {
        let mut resp = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed",
            &headers,
        );
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return resp;
    }
    let rel = path.trim_start_matches('/');
    let is_precompressed = rel.ends_with(".gz") || rel.ends_with(".br");
    let file = if rel.is_empty() || rel.split('/').any(|seg| seg == "..") {
        "index.html"
    } else if !is_precompressed && Dist::get(rel).is_some() {
        rel
    } else if rel.starts_with("assets/") {
        return plain(StatusCode::NOT_FOUND, "not found", &headers);
    } else {
        "index.html"
    };
    match respond(file, &headers, method == Method::HEAD) {
        Some(r) => r,
        None => plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "the web client was not built into this binary",
            &headers,
        ),
    }
}

fn respond(file: &str, req: &HeaderMap, head_only: bool) -> Option<Response> {
    let original = Dist::get(file)?;
    let accept = req
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (encoding, content) = [("br", "br"), ("gzip", "gz")]
        .iter()
        .find_map(|(enc, ext)| {
            if accepts(accept, enc) {
                Dist::get(&format!("{file}.{ext}")).map(|c| (Some(*enc), c))
            } else {
                None
            }
        })
        .unwrap_or((None, original));
    let hash = content.metadata.sha256_hash();
    let etag = format!(
        "\"{}\"",
        hash[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let cache = if file.starts_with("assets/") {
        IMMUTABLE
    } else if file == "index.html" {
        "no-cache"
    } else {
        "public, max-age=86400"
    };
    let not_modified = req
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut builder = Response::builder()
        .header(header::CONTENT_TYPE, content_type(file))
        .header(header::CACHE_CONTROL, cache)
        .header(header::ETAG, &etag)
        .header(header::VARY, "Accept-Encoding");
    if let Some(enc) = encoding {
        builder = builder.header(header::CONTENT_ENCODING, enc);
    }
    let resp = if not_modified {
        builder.status(StatusCode::NOT_MODIFIED).body(Body::empty())
    } else {
        let len = content.data.len();
        let body = if head_only {
            Body::empty()
        } else {
            Body::from(content.data.into_owned())
        };
        builder
            .status(StatusCode::OK)
            .header(header::CONTENT_LENGTH, len)
            .body(body)
    };
    let mut resp = resp.ok()?;
    secure(resp.headers_mut(), req);
    Some(resp)
}

/// Whether an `Accept-Encoding` value allows `coding` (present and not `q=0`).
fn accepts(accept: &str, coding: &str) -> bool {
    accept.split(',').any(|part| {
        let mut it = part.split(';');
        let name = it.next().unwrap_or("").trim();
        if !name.eq_ignore_ascii_case(coding) {
            return false;
        }
        !it.any(|p| {
            let p = p.trim();
            p.strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        })
    })
}

fn content_type(file: &str) -> &'static str {
    let ext = file.rsplit('.').next().unwrap_or("");
    match ext {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "ico" => "image/x-icon",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// A host name fit to be echoed into the CSP (no spaces, quotes or semicolons).
fn safe_host(req: &HeaderMap) -> Option<&str> {
    let host = req.get(header::HOST)?.to_str().ok()?;
    let ok = !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    ok.then_some(host)
}

/// Adds the Content-Security-Policy and hardening headers.
fn secure(h: &mut HeaderMap, req: &HeaderMap) {
    // `connect-src 'self'` covers same-origin WebSocket URLs in current browsers; the explicit
    // ws:/wss: origins of this host cover older ones.
    let connect = match safe_host(req) {
        Some(host) => format!("'self' ws://{host} wss://{host}"),
        None => "'self'".to_owned(),
    };
    let csp = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
         font-src 'self' data:; connect-src {connect}; media-src 'self' blob:; worker-src 'self'; \
         manifest-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("camera=(self), microphone=(self), geolocation=(), payment=()"),
    );
}

fn plain(status: StatusCode, text: &'static str, req: &HeaderMap) -> Response {
    let mut resp = Response::new(Body::from(text));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    secure(resp.headers_mut(), req);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get(path: &str, headers: &[(&str, &str)]) -> Response {
        let mut req = Request::builder()
            .uri(path)
            .header("host", "chat.example:8080");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        router::<()>()
            .oneshot(req.body(Body::empty()).expect("request"))
            .await
            .expect("infallible")
    }

    fn header<'a>(r: &'a Response, name: &str) -> &'a str {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn first_asset(ext: &str) -> String {
        Dist::iter()
            .find(|f| f.starts_with("assets/") && f.ends_with(ext))
            .map(|f| f.to_string())
            .expect("a built asset")
    }

    #[tokio::test]
    async fn index_is_revalidated_and_hardened() {
        let r = get("/", &[]).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
        assert_eq!(header(&r, "cache-control"), "no-cache");
        assert_eq!(header(&r, "x-content-type-options"), "nosniff");
        assert_eq!(header(&r, "referrer-policy"), "same-origin");
        assert_eq!(header(&r, "x-frame-options"), "DENY");
        let csp = header(&r, "content-security-policy");
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(
            csp.contains("connect-src 'self' ws://chat.example:8080 wss://chat.example:8080"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        let etag = header(&r, "etag").to_owned();
        let body = to_bytes(r.into_body(), 1 << 20).await.expect("body");
        assert!(String::from_utf8_lossy(&body).contains("<div id=\"app\">"));

        let again = get("/", &[("if-none-match", &etag)]).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    }

    #[tokio::test]
    async fn client_routes_fall_back_to_index_but_api_and_assets_do_not() {
        for path in ["/c/42", "/c/42/t/7", "/admin", "/some/where"] {
            let r = get(path, &[]).await;
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            assert_eq!(
                header(&r, "content-type"),
                "text/html; charset=utf-8",
                "{path}"
            );
        }
        for path in ["/api", "/api/v1/nope", "/assets/missing-abc123.js"] {
            assert_eq!(
                get(path, &[]).await.status(),
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
        assert_eq!(get("/../Cargo.toml", &[]).await.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn assets_are_immutable_typed_and_compressed() {
        let js = first_asset(".js");
        let r = get(&format!("/{js}"), &[]).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "content-type"), "text/javascript; charset=utf-8");
        assert_eq!(header(&r, "cache-control"), IMMUTABLE);
        assert_eq!(header(&r, "content-encoding"), "");
        let plain_len = to_bytes(r.into_body(), 8 << 20).await.expect("body").len();

        let br = get(
            &format!("/{js}"),
            &[("accept-encoding", "gzip, deflate, br")],
        )
        .await;
        assert_eq!(header(&br, "content-encoding"), "br");
        assert_eq!(header(&br, "vary"), "Accept-Encoding");
        let br_len = to_bytes(br.into_body(), 8 << 20).await.expect("body").len();
        assert!(br_len < plain_len / 2, "{br_len} vs {plain_len}");

        let gz = get(&format!("/{js}"), &[("accept-encoding", "gzip, br;q=0")]).await;
        assert_eq!(header(&gz, "content-encoding"), "gzip");

        let css = first_asset(".css");
        let r = get(&format!("/{css}"), &[]).await;
        assert_eq!(header(&r, "content-type"), "text/css; charset=utf-8");
    }

    #[tokio::test]
    async fn only_get_and_head() {
        let req = Request::builder()
            .method(Method::POST)
            .uri("/")
            .body(Body::empty())
            .expect("request");
        let r = router::<()>().oneshot(req).await.expect("infallible");
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        let req = Request::builder()
            .method(Method::HEAD)
            .uri("/")
            .body(Body::empty())
            .expect("request");
        let r = router::<()>().oneshot(req).await.expect("infallible");
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            to_bytes(r.into_body(), 1024)
                .await
                .expect("body")
                .is_empty()
        );
    }

    #[test]
    fn accept_encoding_parsing() {
        assert!(accepts("gzip, deflate, br", "br"));
        assert!(accepts("GZIP;q=0.5", "gzip"));
        assert!(!accepts("gzip;q=0", "gzip"));
        assert!(!accepts("identity", "gzip"));
        assert!(!accepts("", "br"));
    }
}
