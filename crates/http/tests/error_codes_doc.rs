//! `docs/api/errors.md`, the API's error codes for client authors, is generated from the one
//! table (`enclave_app::ErrorCode`) and the HTTP door's statuses (`http_status`). This test
//! fails when the committed page differs; regenerate it with
//! `UPDATE_DOCS=1 cargo test -p enclave-http --test error_codes_doc`.

use std::path::PathBuf;

use enclave_app::ErrorCode;
use enclave_http::error::http_status;

fn generate() -> String {
    let mut out = String::from(
        "# Error codes\n\n\
         <!-- Generated from crates/app/src/code.rs and crates/http/src/error.rs by\n\
         crates/http/tests/error_codes_doc.rs. Do not edit: run\n\
         `UPDATE_DOCS=1 cargo test -p enclave-http --test error_codes_doc`. -->\n\n\
         Every refusal carries a stable `code`: in the REST API's error body\n\
         (`{\"error\": {\"code\", \"message\", \"field\"?}}`, with the HTTP status below) and in the\n\
         WebSocket gateway's `error` frames (`docs/api/realtime.md`). Branch on the code, not on the\n\
         message, which is for people and may change. *Retryable* means the same request may\n\
         succeed if sent again later, unchanged (after `Retry-After` for `rate_limited`).\n\
         The web client gets the codes as the `ErrorCode` type in `web/src/gen/wire.ts`.\n\n\
         | code | HTTP status | retryable | meaning |\n\
         | --- | --- | --- | --- |\n",
    );
    for code in ErrorCode::ALL {
        let status = http_status(code);
        out.push_str(&format!(
            "| `{}` | {} {} | {} | {} |\n",
            code.as_str(),
            status.as_u16(),
            status.canonical_reason().unwrap_or_default(),
            if code.retryable() { "yes" } else { "no" },
            code.meaning(),
        ));
    }
    out
}

#[test]
fn the_error_code_page_matches_the_table() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/api/errors.md");
    let generated = generate();
    if std::env::var_os("UPDATE_DOCS").is_some_and(|v| !v.is_empty() && v != "0") {
        std::fs::write(&path, &generated).expect("writing docs/api/errors.md");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/api/errors.md is out of date with the error-code table: regenerate it with \
         `UPDATE_DOCS=1 cargo test -p enclave-http --test error_codes_doc`"
    );
}
