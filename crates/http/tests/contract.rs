//! The OpenAPI document's contract rules (docs/api/contract.md), checked on the whole document
//! so that they hold for every route, including routes added later: every operation declares
//! its security, and documents the common error answers with the error body.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;

fn document() -> Value {
    serde_json::to_value(enclave_http::openapi()).unwrap()
}

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

/// Every operation as `(method, path, operation)`.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in METHODS {
            if let Some(op) = item.get(*m) {
                out.push(((*m).to_owned(), path.clone(), op.clone()));
            }
        }
    }
    assert!(out.len() > 30, "the document lists too few operations");
    out
}

fn is_public(op: &Value) -> bool {
    op["security"].as_array().is_some_and(|s| {
        s.iter()
            .all(|r| r.as_object().is_some_and(|o| o.is_empty()))
    })
}

const PUBLIC: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/api/v1/openapi.json"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/login/second-factor"),
    ("post", "/api/v1/auth/login/totp-setup"),
    ("post", "/api/v1/auth/login/webauthn-setup"),
    ("get", "/api/v1/auth/setup"),
    ("get", "/api/v1/auth/providers"),
    ("post", "/api/v1/auth/sso/exchange"),
];

#[test]
fn security_schemes_exist_and_every_operation_declares_its_security() {
    let doc = document();
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["type"], "http", "{schemes}");
    assert_eq!(schemes["bearer"]["scheme"], "bearer", "{schemes}");
    assert_eq!(schemes["cookie"]["in"], "cookie", "{schemes}");
    for (method, path, op) in operations(&doc) {
        let security = op["security"]
            .as_array()
            .unwrap_or_else(|| panic!("{method} {path} declares no security"));
        assert!(!security.is_empty(), "{method} {path}: empty security list");
        let public = is_public(&op);
        assert_eq!(
            public,
            PUBLIC.contains(&(method.as_str(), path.as_str())),
            "{method} {path}: public is {public}; only the listed operations are public"
        );
        if !public {
            assert!(
                security.iter().any(|r| r.get("bearer").is_some()),
                "{method} {path} must accept the bearer token"
            );
        }
    }
}

#[test]
fn every_operation_documents_its_error_answers_with_the_error_body() {
    let doc = document();
    for (method, path, op) in operations(&doc) {
        let responses = op["responses"].as_object().unwrap();
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        let has_path_param = params.iter().any(|p| p["in"] == "path");
        let has_body = op.get("requestBody").is_some();
        let json_body = has_body
            && op["requestBody"]["content"]
                .as_object()
                .is_some_and(|c| c.keys().any(|k| k.contains("json")));
        let mut wanted = Vec::new();
        if !params.is_empty() || has_body {
            wanted.push("400");
        }
        if !is_public(&op) {
            wanted.extend(["401", "403"]);
        }
        if has_path_param {
            wanted.push("404");
        }
        if has_body {
            wanted.push("413");
        }
        if json_body {
            wanted.push("415");
        }
        for status in wanted {
            assert!(
                responses.contains_key(status),
                "{method} {path} does not document {status}"
            );
        }
        for (status, r) in responses {
            if !(status.starts_with('4') || status.starts_with('5')) {
                continue;
            }
            assert_eq!(
                r["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorBody",
                "{method} {path}: the {status} answer must carry the error body"
            );
        }
    }
}

/// A named parameter of an operation.
fn param<'a>(op: &'a Value, name: &str) -> &'a Value {
    op["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no parameter {name} in {op}"))
}

#[test]
fn every_limit_parameter_has_its_range() {
    let doc = document();
    let mut seen = 0;
    for (method, path, op) in operations(&doc) {
        for p in op["parameters"].as_array().cloned().unwrap_or_default() {
            if p["name"] != "limit" {
                continue;
            }
            seen += 1;
            assert_eq!(p["required"], false, "{method} {path}: limit has a default");
            let s = &p["schema"];
            assert_eq!(s["type"], "integer", "{method} {path}: {s}");
            assert_eq!(s["minimum"], 1, "{method} {path}: {s}");
            assert!(s["maximum"].as_u64().is_some(), "{method} {path}: {s}");
            assert!(s["default"].as_u64().is_some(), "{method} {path}: {s}");
        }
    }
    assert!(seen >= 7, "only {seen} limit parameters");
    let events = &doc["paths"]["/api/v1/events"]["get"];
    assert_eq!(param(events, "limit")["schema"]["default"], 500);
    assert_eq!(param(events, "limit")["schema"]["maximum"], 1000);
}

#[test]
fn downloads_document_the_types_they_answer() {
    let doc = document();
    let ok = &doc["paths"]["/api/v1/files/{id}"]["get"]["responses"]["200"]["content"];
    for t in [
        "image/png",
        "text/plain; charset=utf-8",
        "application/octet-stream",
    ] {
        assert!(ok.get(t).is_some(), "{t} missing from {ok}");
    }
}

/// A schema property of a component.
fn property<'a>(doc: &'a Value, schema: &str, field: &str) -> &'a Value {
    let p = &doc["components"]["schemas"][schema]["properties"][field];
    assert!(!p.is_null(), "no {schema}.{field}");
    p
}

/// The `pattern` of a schema (or of its first `oneOf` branch that has one).
fn pattern_of(s: &Value) -> regex::Regex {
    let raw = s["pattern"]
        .as_str()
        .or_else(|| {
            s["oneOf"]
                .as_array()
                .and_then(|a| a.iter().find_map(|b| b["pattern"].as_str()))
        })
        .unwrap_or_else(|| panic!("no pattern in {s}"));
    regex::Regex::new(raw).unwrap_or_else(|e| panic!("bad pattern {raw}: {e}"))
}

/// Strings that probe the edges of the rules: whitespace of every kind at both ends, control,
/// invisible and text-direction characters, `#`/`@`, emoji, CJK, lengths around the limits,
/// plus deterministic pseudo-random strings over an alphabet of such characters.
fn corpus() -> Vec<String> {
    let alphabet: Vec<char> = vec![
        'a', 'Z', '0', '9', '.', '_', '-', '+', ':', '#', '@', ' ', '\t', '\n', '\r', '\u{b}',
        '\u{c}', '\u{0}', '\u{1c}', '\u{7f}', '\u{85}', '\u{a0}', '\u{3000}', '\u{2028}',
        '\u{feff}', '\u{200b}', '\u{200d}', '\u{202e}', '\u{2066}', '中', 'é', '👍', '🏽', '❤',
        '\u{fe0f}', '🇨', '🇳', '©', '¿', 'Ⓐ', '①', '"', '/', '\\', '*',
    ];
    let mut out: Vec<String> = vec![
        String::new(),
        " ".into(),
        "a".into(),
        "ab".into(),
        " ab ".into(),
        "Ab".into(),
        "a@b.c".into(),
        " A@B.CO ".into(),
        "a@b".into(),
        "a@.b".into(),
        "a@b.".into(),
        "a b@c.d".into(),
        "a@b@c.d".into(),
        "#x".into(),
        " #x".into(),
        "x#".into(),
        "@x".into(),
        "thumbsup".into(),
        ":thumbsup:".into(),
        ":thumbsup".into(),
        "+1".into(),
        "👍".into(),
        "👍🏽".into(),
        "🇨🇳".into(),
        "👩\u{200d}💻".into(),
        "😀".repeat(8),
        "😀".repeat(9),
        "0".into(),
        "42".into(),
        "9223372036854775807".into(),
        "9223372036854775808".into(),
        "0009223372036854775".into(),
        "-1".into(),
        "+1".into(),
        "x".repeat(32),
        "x".repeat(33),
        "名".repeat(64),
        "名".repeat(65),
        format!(" {} ", "名".repeat(64)),
        "t".repeat(250),
        "t".repeat(251),
        "字".repeat(16_000),
        "字".repeat(16_001),
        format!("{}\n\n", "字".repeat(16_000)),
        "line\nline\ttab".into(),
        "  code\n".into(),
        "bell\u{7}".into(),
        "!~".into(),
        "a".repeat(64),
        "a".repeat(65),
        "x".repeat(254),
        "x".repeat(255),
        format!(" {} ", "x".repeat(254)),
        "0.0.0.0".into(),
        "127.0.0.1".into(),
        "255.255.255.255".into(),
        "256.1.1.1".into(),
        "01.2.3.4".into(),
        "1.2.3".into(),
        "::/64".into(),
        "::1/64".into(),
        "2001:db8:1:2::/64".into(),
        "2001:db8:1::/64".into(),
        "2001:db8:1:0::/64".into(),
        "2001:0:0:2::/64".into(),
        "0:0:0:1::/64".into(),
        "1::/64".into(),
        "2001:DB8::/64".into(),
        "2001:0db8::/64".into(),
        "2001:db8:1:2:3::/64".into(),
        "2001:db8:1:2::/48".into(),
        "2001:db8:1:2::".into(),
        "::ffff:1.2.3.4/64".into(),
        "fe80::/64".into(),
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..4000 {
        let len = i % 12;
        let mut s = String::new();
        for _ in 0..len {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            s.push(alphabet[(seed >> 33) as usize % alphabet.len()]);
        }
        out.push(s);
    }
    out
}

/// Each pattern of the document accepts exactly what the core's rule accepts, on the corpus.
#[test]
fn body_and_path_patterns_are_the_core_rules() {
    use enclave_core::validate;
    let doc = document();
    type Rule = fn(&str) -> bool;
    let cases: Vec<(&str, Value, Rule)> = vec![
        (
            "username",
            property(&doc, "CreateUserRequest", "username").clone(),
            |s| {
                validate::username(s).is_ok()
                    || validate::username(s)
                        == Err(enclave_core::Error::invalid("username", "is reserved"))
            },
        ),
        (
            "display_name",
            property(&doc, "CreateUserRequest", "display_name").clone(),
            |s| validate::display_name(s).is_ok(),
        ),
        (
            "email",
            property(&doc, "CreateUserRequest", "email").clone(),
            |s| validate::email(s).is_ok(),
        ),
        (
            "update email",
            property(&doc, "UpdateUserRequest", "email").clone(),
            |s| s.trim().is_empty() || validate::email(s).is_ok(),
        ),
        (
            "channel name",
            property(&doc, "CreateChannelRequest", "name").clone(),
            |s| validate::channel_name(s).is_ok(),
        ),
        (
            "topic",
            property(&doc, "CreateChannelRequest", "topic").clone(),
            |s| validate::topic("topic", s).is_ok(),
        ),
        (
            "token name",
            property(&doc, "CreateTokenRequest", "name").clone(),
            |s| validate::token_name(s).is_ok(),
        ),
        (
            "message text",
            property(&doc, "PostMessageRequest", "text").clone(),
            |s| validate::message_text(s).is_ok(),
        ),
        (
            "client_msg_id",
            property(&doc, "PostMessageRequest", "client_msg_id").clone(),
            |s| validate::client_msg_id(s).is_ok(),
        ),
        ("id", doc["components"]["schemas"]["WireId"].clone(), |s| {
            s.parse::<enclave_core::UserId>().is_ok()
        }),
        (
            "emoji",
            param(
                &doc["paths"]["/api/v1/messages/{id}/reactions/{emoji}"]["put"],
                "emoji",
            )["schema"]
                .clone(),
            |s| validate::emoji(s).is_ok(),
        ),
        (
            "upload name",
            param(&doc["paths"]["/api/v1/files"]["post"], "name")["schema"].clone(),
            |s| validate::upload_name(s).is_ok(),
        ),
        (
            "login client",
            property(&doc, "LoginRequest", "client").clone(),
            |s| enclave_app::session_client_name(s).is_ok(),
        ),
        (
            "second step client",
            property(&doc, "SecondFactorLoginRequest", "client").clone(),
            |s| enclave_app::session_client_name(s).is_ok(),
        ),
        (
            "security key name",
            property(&doc, "WebAuthnFinishRequest", "name").clone(),
            |s| enclave_core::signin::webauthn_key_name(s).is_ok(),
        ),
        (
            "security key rename",
            property(&doc, "WebAuthnRenameRequest", "name").clone(),
            |s| enclave_core::signin::webauthn_key_name(s).is_ok(),
        ),
        (
            "department name",
            property(&doc, "CreateDepartmentRequest", "name").clone(),
            |s| enclave_core::departments::department_name(s).is_ok(),
        ),
        (
            "department rename",
            property(&doc, "UpdateDepartmentRequest", "name").clone(),
            |s| enclave_core::departments::department_name(s).is_ok(),
        ),
        (
            "title",
            property(&doc, "SetDepartmentMemberRequest", "title").clone(),
            |s| enclave_core::departments::title(s).is_ok(),
        ),
        (
            "directory query",
            param(&doc["paths"]["/api/v1/directory/search"]["get"], "q")["schema"].clone(),
            |s| enclave_core::departments::directory_query(s).is_ok(),
        ),
        (
            "role name",
            property(&doc, "CreateRoleRequest", "name").clone(),
            // A built-in role's name is a conflict (409), not a malformed name.
            |s| {
                enclave_core::roles::validate_role_name(s).is_ok()
                    || matches!(
                        enclave_core::roles::validate_role_name(s),
                        Err(enclave_core::Error::Conflict(_))
                    )
            },
        ),
        (
            "role description",
            property(&doc, "CreateRoleRequest", "description").clone(),
            |s| enclave_core::roles::validate_role_description(s).is_ok(),
        ),
        (
            "lockout account",
            param(&doc["paths"]["/api/v1/admin/lockouts"]["get"], "account")["schema"].clone(),
            |s| enclave_core::lockout::account_key(s).is_some(),
        ),
        (
            "lockout source",
            param(
                &doc["paths"]["/api/v1/admin/lockouts/{account}/{source}"]["delete"],
                "source",
            )["schema"]
                .clone(),
            enclave_core::lockout::is_source_key,
        ),
    ];
    let corpus = corpus();
    for (name, schema, rule) in cases {
        let re = pattern_of(&schema);
        for s in &corpus {
            // A zero-width joiner inside an emoji sequence is allowed in names; the pattern,
            // which cannot see sequences, refuses every joiner (stricter, documented).
            if matches!(
                name,
                "display_name"
                    | "channel name"
                    | "topic"
                    | "department name"
                    | "department rename"
                    | "title"
                    | "role name"
                    | "role description"
                    | "security key name"
                    | "security key rename"
            ) && s.contains('\u{200d}')
            {
                continue;
            }
            let max = schema["maxLength"]
                .as_u64()
                .map_or(usize::MAX, |m| m as usize);
            // Message texts are counted once trailing whitespace is removed; the document's
            // `maxLength` counts it (stricter by the trailing whitespace, documented).
            if name == "message text"
                && s.chars().count() > max
                && s.trim_end().chars().count() <= max
            {
                continue;
            }
            let documented = re.is_match(s) && s.chars().count() <= max;
            assert_eq!(documented, rule(s), "{name}: {s:?} (pattern {re})");
        }
    }
}

/// Channel kinds and member roles are plain enums, and no schema narrows a value with an empty
/// object (utoipa wraps an inline enum that has a doc comment in `allOf` with one, which no
/// value can satisfy).
#[test]
fn enums_are_plain_and_no_schema_is_unsatisfiable() {
    let doc = document();
    let kind = property(&doc, "CreateChannelRequest", "kind");
    assert_eq!(
        kind["enum"],
        serde_json::json!(["public", "private"]),
        "{kind}"
    );
    let role = property(&doc, "UpdateMemberRequest", "role");
    assert_eq!(
        role["enum"],
        serde_json::json!(["owner", "admin", "member"]),
        "{role}"
    );
    fn walk(v: &Value, path: &str) {
        match v {
            Value::Object(o) => {
                if let Some(Value::Array(all)) = o.get("allOf") {
                    for b in all {
                        assert!(
                            !(b["type"] == "object" && b.get("properties").is_none()),
                            "{path}: allOf with an empty object: {v}"
                        );
                    }
                }
                for (k, x) in o {
                    walk(x, &format!("{path}/{k}"));
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    walk(x, &format!("{path}/{i}"));
                }
            }
            _ => {}
        }
    }
    walk(&doc, "");
}
