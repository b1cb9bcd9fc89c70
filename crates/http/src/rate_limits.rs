//! The OpenAPI side of the per-user rate limits: which operations may answer 429
//! `rate_limited` with `Retry-After` (the services decide; see `enclave_app::ratelimit`), added
//! to the document in one place after the routes are collected.

use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, ObjectBuilder, OpenApi, Ref, ResponseBuilder, Type,
};

/// Every operation a rate limit applies to, as `(method, path)`.
pub const LIMITED: &[(&str, &str)] = &[
    // Posts.
    ("post", "/api/v1/channels/{id}/messages"),
    // Reactions.
    ("put", "/api/v1/messages/{id}/reactions/{emoji}"),
    ("delete", "/api/v1/messages/{id}/reactions/{emoji}"),
    // Uploads.
    ("post", "/api/v1/files"),
    // Searches.
    ("get", "/api/v1/search"),
    // Other writes.
    ("patch", "/api/v1/messages/{id}"),
    ("delete", "/api/v1/messages/{id}"),
    ("put", "/api/v1/messages/{id}/pin"),
    ("delete", "/api/v1/messages/{id}/pin"),
    ("post", "/api/v1/channels"),
    ("patch", "/api/v1/channels/{id}"),
    ("post", "/api/v1/channels/{id}/join"),
    ("post", "/api/v1/channels/{id}/leave"),
    ("post", "/api/v1/channels/{id}/members"),
    ("delete", "/api/v1/channels/{id}/members/{user_id}"),
    ("patch", "/api/v1/channels/{id}/members/{user_id}"),
    ("post", "/api/v1/dms"),
    ("post", "/api/v1/channels/{id}/read"),
    ("patch", "/api/v1/users/{id}"),
    ("post", "/api/v1/users/me/tokens"),
    ("delete", "/api/v1/users/me/tokens/{id}"),
];

/// Adds the 429 answer to every operation in [`LIMITED`] (the tests check that each one is in
/// the document, so a renamed route cannot drop out silently).
pub fn document(api: &mut OpenApi) {
    for (method, path) in LIMITED {
        let Some(op) = api
            .paths
            .paths
            .get_mut(*path)
            .and_then(|item| operation(item, method))
        else {
            continue;
        };
        let response = ResponseBuilder::new()
            .description(
                "Over the user's rate limit (`rate_limited`): nothing was done; try again after \
                 `Retry-After` seconds (docs/api/rate-limits.md)",
            )
            .header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(Some(
                        ObjectBuilder::new()
                            .schema_type(Type::Integer)
                            .minimum(Some(1)),
                    ))
                    .description(Some("Whole seconds to wait, rounded up"))
                    .build(),
            )
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build();
        op.responses
            .responses
            .insert("429".to_owned(), response.into());
    }
}

/// The operation for `method` (lower case) in a path item.
fn operation<'a>(item: &'a mut PathItem, method: &str) -> Option<&'a mut Operation> {
    match method {
        "get" => item.get.as_mut(),
        "post" => item.post.as_mut(),
        "put" => item.put.as_mut(),
        "patch" => item.patch.as_mut(),
        "delete" => item.delete.as_mut(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_limited_operation_exists_and_documents_429() {
        let mut api = crate::openapi();
        for (method, path) in super::LIMITED {
            let item = api
                .paths
                .paths
                .get_mut(*path)
                .unwrap_or_else(|| panic!("{path} is listed as rate-limited but has no route"));
            let op = super::operation(item, method)
                .unwrap_or_else(|| panic!("{method} {path}: no such operation"));
            assert!(
                op.responses.responses.contains_key("429"),
                "{method} {path} does not document 429"
            );
        }
    }
}
