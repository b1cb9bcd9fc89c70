//! The rules every operation of the OpenAPI document follows, applied in one place after the
//! routes are collected (`crate::openapi`), so that a route added later conforms without a hand
//! edit (docs/api/contract.md):
//!
//! - **Security.** An operation that declares nothing needs a credential: the bearer token or
//!   the session cookie. A public operation says so in its `#[utoipa::path]` with
//!   `security(())` (an empty requirement).
//! - **Error answers.** Each operation documents the error statuses the shared machinery can
//!   give it, with the error body ([`crate::error::ErrorBody`]): 400 when it takes parameters or
//!   a body (`bad_request`, `invalid_field`, `bad_json`); 401 and 403 when it needs a credential
//!   (`unauthenticated`; `forbidden`, or `csrf_failed` for a cookie from another origin); 404
//!   when its path names something; 413 when it takes a body (`payload_too_large`, or the file
//!   limits); 415 when that body is JSON (`unsupported_media_type`). Statuses a handler gives
//!   for its own reasons (409, 410, 422, 429, ...) stay in its `#[utoipa::path]`; any error
//!   response declared there without a body gets the error body.
//!
//! `tests/contract.rs` checks the result on the whole document, so the rules hold for every
//! route.

use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};

/// The security scheme of `Authorization: Bearer TOKEN` (a session or personal access token).
pub const BEARER: &str = "bearer";
/// The security scheme of the session cookie set by `POST /api/v1/auth/login`.
pub const COOKIE: &str = "cookie";
/// The security scheme of HTTP Basic with a username and an app password (for clients that
/// cannot do single sign-on; `docs/admin/sessions.md`).
pub const BASIC: &str = "basic";
/// The name of the error body's schema.
pub const ERROR_SCHEMA: &str = "ErrorBody";

/// The common error answers: status, when it applies, and its description.
const COMMON: &[(&str, Applies, &str)] = &[
    (
        "400",
        Applies::WithInput,
        "Malformed or invalid input (`bad_request`, `bad_json`, or `invalid_field` naming the field)",
    ),
    (
        "401",
        Applies::Secured,
        "No valid credential (`unauthenticated`)",
    ),
    (
        "403",
        Applies::Secured,
        "Not allowed (`forbidden`), or a session cookie sent from another origin (`csrf_failed`)",
    ),
    (
        "404",
        Applies::WithPathParameter,
        "Nothing with this id that the caller may see (`not_found` or a more precise `*_not_found`)",
    ),
    (
        "413",
        Applies::WithBody,
        "The body is over its limit (`payload_too_large`; for uploads `file_too_large` or `quota_exceeded`)",
    ),
    (
        "415",
        Applies::WithJsonBody,
        "The body is not `Content-Type: application/json` (`unsupported_media_type`)",
    ),
];

#[derive(Clone, Copy)]
enum Applies {
    WithInput,
    Secured,
    WithPathParameter,
    WithBody,
    WithJsonBody,
}

/// Applies the contract's rules to every operation of `api` (see the module documentation).
pub fn document(api: &mut OpenApi) {
    for item in api.paths.paths.values_mut() {
        for op in operations_mut(item) {
            apply(op);
        }
    }
    for (schema, fields) in EXCLUSIVE_FIELDS {
        exclusive(api, schema, fields);
    }
}

/// Request bodies that take at most one of some fields: re-authentication takes the password
/// or a second-factor code, never both (neither: the proof is a recent sign-in).
const EXCLUSIVE_FIELDS: &[(&str, &[&str])] = &[("ReauthRequest", &["password", "code"])];

/// States in the schema `name` that at most one of `fields` is given (not null): a `oneOf`
/// with a branch per field and one for none. utoipa cannot put a `oneOf` beside an object's
/// properties, so it goes in as an extension, which is written out flattened into the schema
/// object.
fn exclusive(api: &mut OpenApi, name: &str, fields: &[&str]) {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::extensions::Extensions;
    use utoipa::openapi::schema::Schema;
    let Some(RefOr::T(Schema::Object(object))) = api
        .components
        .as_mut()
        .and_then(|c| c.schemas.get_mut(name))
    else {
        return;
    };
    let mut branches: Vec<serde_json::Value> = fields
        .iter()
        .map(|given| {
            let properties: serde_json::Map<String, serde_json::Value> = fields
                .iter()
                .map(|f| {
                    let rule = if f == given {
                        serde_json::json!({ "not": { "type": "null" } })
                    } else {
                        serde_json::json!({ "type": "null" })
                    };
                    ((*f).to_owned(), rule)
                })
                .collect();
            serde_json::json!({ "required": [given], "properties": properties })
        })
        .collect();
    let none: serde_json::Map<String, serde_json::Value> = fields
        .iter()
        .map(|f| ((*f).to_owned(), serde_json::json!({ "type": "null" })))
        .collect();
    branches.push(serde_json::json!({ "properties": none }));
    let extensions = object.extensions.get_or_insert_with(Extensions::default);
    extensions.insert("oneOf".to_owned(), serde_json::Value::Array(branches));
}

/// The operations of a path item.
pub fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.options.as_mut(),
        item.head.as_mut(),
        item.patch.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// Whether an operation is public: it declares only the empty security requirement.
pub fn is_public(op: &Operation) -> bool {
    op.security
        .as_ref()
        .is_some_and(|s| s.iter().all(|r| *r == SecurityRequirement::default()))
}

fn apply(op: &mut Operation) {
    if op.security.is_none() {
        op.security = Some(vec![
            SecurityRequirement::new(BEARER, Vec::<String>::new()),
            SecurityRequirement::new(COOKIE, Vec::<String>::new()),
            SecurityRequirement::new(BASIC, Vec::<String>::new()),
        ]);
    }
    let public = is_public(op);
    let has_path_param = op.parameters.iter().flatten().any(|p| match p {
        RefOr::T(p) => p.parameter_in == utoipa::openapi::path::ParameterIn::Path,
        RefOr::Ref(_) => false,
    });
    let has_query = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let (has_body, json_body) = match &op.request_body {
        Some(RefOr::T(body)) => (true, body.content.keys().any(|k| k.contains("json"))),
        Some(RefOr::Ref(_)) => (true, true),
        None => (false, false),
    };
    for (status, applies, description) in COMMON {
        let wanted = match applies {
            Applies::WithInput => has_query || has_body,
            Applies::Secured => !public,
            Applies::WithPathParameter => has_path_param,
            Applies::WithBody => has_body,
            Applies::WithJsonBody => json_body,
        };
        if wanted && !op.responses.responses.contains_key(*status) {
            op.responses
                .responses
                .insert((*status).to_owned(), error_response(description).into());
        }
    }
    // Error answers declared without a body carry the error body too.
    for (status, response) in op.responses.responses.iter_mut() {
        if !is_error(status) {
            continue;
        }
        if let RefOr::T(r) = response
            && r.content.is_empty()
        {
            r.content
                .insert("application/json".to_owned(), error_content().into());
        }
    }
}

/// Whether a response key is a 4xx or 5xx status.
pub fn is_error(status: &str) -> bool {
    status.starts_with('4') || status.starts_with('5')
}

fn error_content() -> utoipa::openapi::Content {
    ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(ERROR_SCHEMA)))
        .build()
}

fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", error_content())
        .build()
}
