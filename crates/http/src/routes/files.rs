//! Files: streamed upload, download with safe headers, thumbnails, metadata.
//!
//! Downloads never let a file act as part of this site: every response carries
//! `X-Content-Type-Options: nosniff` and a `Content-Security-Policy` that forbids scripts and
//! sandboxes the document, and only raster images and plain text are ever `inline`; everything
//! else (HTML, SVG, PDF, archives...) is an `attachment`.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use enclave_app::BodyError;
use enclave_core::FileId;
use futures_util::StreamExt;

use crate::AppState;
use crate::dto::{DownloadQuery, FileDto, UploadQuery};
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiQuery, Auth, parse_id};

/// The policy on every file response: nothing runs, nothing loads, no same-origin powers.
pub const FILE_CSP: &str = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox; frame-ancestors 'self'";

fn file_id(raw: &str) -> Result<FileId, ApiError> {
    parse_id(raw, ErrorCode::FileNotFound)
}

/// Media types shown in the browser; anything else is downloaded.
fn inline_safe(content_type: &str) -> bool {
    matches!(
        content_type,
        "image/png" | "image/jpeg" | "image/gif" | "image/webp" | "text/plain"
    )
}

/// `Content-Disposition` with an ASCII fallback and the UTF-8 name (RFC 6266 / RFC 8187).
pub fn content_disposition(kind: &str, name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '%' | ';') || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::with_capacity(name.len() * 3);
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

fn safe_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(FILE_CSP),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    headers.insert(
        header::HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("same-origin"),
    );
}

/// Upload a file. The body is the file's raw bytes (any `Content-Type`; the type is sniffed
/// from the content). Streamed to storage, encrypted; limited in size per file and per user.
/// Attach it by passing its id in `file_ids` when posting a message; an upload never attached
/// is removed after a grace period.
#[utoipa::path(post, path = "/api/v1/files", tag = "files",
    params(UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = FileDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody, description = "file_too_large or quota_exceeded"),
        (status = 422, body = ErrorBody, description = "image_too_large")))]
pub async fn upload(
    State(state): State<AppState>,
    Auth(authed): Auth,
    ApiQuery(q): ApiQuery<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<FileDto>)> {
    let declared = match headers.get(header::CONTENT_LENGTH) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| ApiError::new(ErrorCode::BadRequest, "bad Content-Length"))?,
        ),
    };
    let name = q.name.unwrap_or_default();
    let stream = body
        .into_data_stream()
        .map(|r| r.map_err(|_| BodyError::Interrupted));
    let meta = state
        .files
        .upload(&authed.actor(), &name, declared, stream)
        .await?;
    Ok((StatusCode::CREATED, Json(FileDto::new(&meta))))
}

/// A file's metadata.
#[utoipa::path(get, path = "/api/v1/files/{id}/info", tag = "files", params(("id" = String, Path)),
    responses((status = 200, body = FileDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn info(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<FileDto>> {
    let meta = state.files.info(&authed.actor(), file_id(&id)?).await?;
    Ok(Json(FileDto::new(&meta)))
}

/// Download a file: its uploader, or anyone who may read a message it is attached to. Images
/// and plain text are `inline` unless `download=true`; everything else is an `attachment`.
#[utoipa::path(get, path = "/api/v1/files/{id}", tag = "files",
    params(("id" = String, Path), DownloadQuery),
    responses((status = 200, description = "The file's content, as the type sniffed from it (`FileDto::content_type`; plain text with `charset=utf-8`)"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn download(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<DownloadQuery>,
) -> ApiResult<Response> {
    let dl = state.files.download(&authed.actor(), file_id(&id)?).await?;
    let inline = inline_safe(&dl.meta.content_type) && !q.download;
    let content_type = if dl.meta.content_type == "text/plain" {
        "text/plain; charset=utf-8".to_owned()
    } else {
        dl.meta.content_type.clone()
    };
    let body = Body::from_stream(dl.body.map(|r| {
        r.map_err(|e| {
            tracing::error!(error = %e, "file download failed midway");
            std::io::Error::other("file could not be read")
        })
    }));
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    safe_headers(h);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(dl.meta.size));
    let kind = if inline { "inline" } else { "attachment" };
    if let Ok(v) = HeaderValue::from_str(&content_disposition(kind, &dl.meta.name)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// An image file's thumbnail (JPEG or PNG, at most 320 pixels on a side).
#[utoipa::path(get, path = "/api/v1/files/{id}/thumbnail", tag = "files", params(("id" = String, Path)),
    responses((status = 200, description = "The thumbnail", content_type = "image/jpeg"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody, description = "No such file, or it has no thumbnail")))]
pub async fn thumbnail(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let (meta, bytes) = state
        .files
        .thumbnail(&authed.actor(), file_id(&id)?)
        .await?;
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    safe_headers(h);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&meta.content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("inline"),
    );
    Ok(resp)
}

/// The media types a download may answer with: the type sniffed from the content
/// (`FileDto::content_type`), plain text with its charset. The list names the types the sniffer
/// reports most; `*/*` stands for the rest of what it can recognise.
pub const DOWNLOAD_TYPES: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/svg+xml",
    "text/plain; charset=utf-8",
    "text/html",
    "application/xml",
    "application/pdf",
    "application/zip",
    "application/octet-stream",
    "*/*",
];

/// The thumbnail types.
pub const THUMBNAIL_TYPES: &[&str] = &["image/jpeg", "image/png"];

/// The file operations' bodies in the OpenAPI document, which the path attributes cannot say:
/// the upload's body is raw bytes, at least one; a download answers with the file's own type.
pub fn document(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
    use utoipa::openapi::{ContentBuilder, RefOr};
    let binary = || {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
    };
    if let Some(op) = api
        .paths
        .paths
        .get_mut("/api/v1/files")
        .and_then(|i| i.post.as_mut())
        && let Some(RefOr::T(body)) = op.request_body.as_mut()
    {
        body.required = Some(utoipa::openapi::Required::True);
        body.content.insert(
            "application/octet-stream".to_owned(),
            ContentBuilder::new()
                .schema(Some(binary().min_length(Some(1))))
                .build()
                .into(),
        );
    }
    let set = |api: &mut utoipa::openapi::OpenApi, path: &str, types: &[&str]| {
        if let Some(RefOr::T(ok)) = api
            .paths
            .paths
            .get_mut(path)
            .and_then(|i| i.get.as_mut())
            .and_then(|op| op.responses.responses.get_mut("200"))
        {
            ok.content.clear();
            for t in types {
                ok.content.insert(
                    (*t).to_owned(),
                    ContentBuilder::new().schema(Some(binary())).build().into(),
                );
            }
        }
    };
    set(api, "/api/v1/files/{id}", DOWNLOAD_TYPES);
    set(api, "/api/v1/files/{id}/thumbnail", THUMBNAIL_TYPES);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disposition_is_safe_and_keeps_the_name() {
        assert_eq!(
            content_disposition("attachment", "a b.txt"),
            "attachment; filename=\"a b.txt\"; filename*=UTF-8''a%20b.txt"
        );
        assert_eq!(
            content_disposition("inline", "报告\".pdf"),
            "inline; filename=\"___.pdf\"; filename*=UTF-8''%E6%8A%A5%E5%91%8A%22.pdf"
        );
        let evil = content_disposition("attachment", "x\r\nSet-Cookie: a=b");
        assert!(HeaderValue::from_str(&evil).is_ok());
        assert!(!evil.contains('\n'));
    }
}
