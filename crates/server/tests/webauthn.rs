//! Security keys and passkeys (WebAuthn) as a second factor (`docs/admin/second-factor.md`)
//! against the real binary, on SQLite and on a private PostgreSQL, with a software
//! authenticator written here: an ES256 (P-256) key, `none` attestation, CBOR by hand.
//!
//! - registering keys (re-authentication first), listing, renaming, the limit of keys;
//! - signing in with a key: the challenge lists `webauthn` with its options, a key's answer
//!   opens the session and updates its signature counter;
//! - refused with a clear code and changing nothing: meaningless JSON, a replayed assertion
//!   (same challenge, or a new challenge with an old counter), an assertion for another
//!   relying-party id or origin, a forged signature, another account's key;
//! - unknown and foreign ids are not found; removing a key (re-authentication first); the
//!   administrators' reset; the second step locks like the other methods; the audit log.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine;
use common::{
    StatusCode, TestServer, USER_PASSWORD, Value, assert_status_error, json, unique_name,
};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{DerSignature, Signature, SigningKey};
use sha2::{Digest, Sha256};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .unwrap()
}

fn random<const N: usize>() -> [u8; N] {
    // Good enough for a test key: the time and a counter through SHA-256.
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut h = Sha256::new();
    h.update(NEXT.fetch_add(1, Ordering::SeqCst).to_be_bytes());
    h.update(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            .to_be_bytes(),
    );
    h.update(std::process::id().to_be_bytes());
    let d = h.finalize();
    let mut out = [0u8; N];
    out.copy_from_slice(&d[..N]);
    out
}

// ---- A small CBOR encoder (RFC 8949): what an authenticator's answers need ----

enum Cbor {
    Int(i64),
    Bytes(Vec<u8>),
    Text(&'static str),
    Map(Vec<(Cbor, Cbor)>),
}

fn cbor_head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    if n < 24 {
        out.push(m | n as u8);
    } else if n < 256 {
        out.extend([m | 24, n as u8]);
    } else if n < 65_536 {
        out.push(m | 25);
        out.extend((n as u16).to_be_bytes());
    } else {
        out.push(m | 26);
        out.extend((n as u32).to_be_bytes());
    }
}

fn cbor(v: &Cbor, out: &mut Vec<u8>) {
    match v {
        Cbor::Int(i) if *i >= 0 => cbor_head(out, 0, *i as u64),
        Cbor::Int(i) => cbor_head(out, 1, (-1 - *i) as u64),
        Cbor::Bytes(b) => {
            cbor_head(out, 2, b.len() as u64);
            out.extend(b);
        }
        Cbor::Text(t) => {
            cbor_head(out, 3, t.len() as u64);
            out.extend(t.as_bytes());
        }
        Cbor::Map(entries) => {
            cbor_head(out, 5, entries.len() as u64);
            for (k, v) in entries {
                cbor(k, out);
                cbor(v, out);
            }
        }
    }
}

fn encode(v: &Cbor) -> Vec<u8> {
    let mut out = Vec::new();
    cbor(v, &mut out);
    out
}

// ---- The software authenticator ----

/// A security key holding one ES256 credential.
struct Authenticator {
    key: SigningKey,
    credential_id: Vec<u8>,
    counter: u32,
}

/// How an answer should go wrong.
#[derive(Clone, Copy, Default)]
struct Tamper {
    /// Sign for this relying-party id instead of the one asked.
    rp_id: Option<&'static str>,
    /// Claim this origin instead of the server's.
    origin: Option<&'static str>,
    /// Sign with another key.
    forge: bool,
    /// Do not advance the signature counter.
    keep_counter: bool,
}

impl Authenticator {
    fn new() -> Authenticator {
        let key = loop {
            if let Ok(k) = SigningKey::from_slice(&random::<32>()) {
                break k;
            }
        };
        Authenticator {
            key,
            credential_id: random::<16>().to_vec(),
            counter: 0,
        }
    }

    fn cose_key(&self) -> Vec<u8> {
        let point = self.key.verifying_key().to_sec1_point(false);
        let bytes = point.as_bytes();
        assert_eq!(bytes.len(), 65);
        encode(&Cbor::Map(vec![
            (Cbor::Int(1), Cbor::Int(2)),  // kty: EC2
            (Cbor::Int(3), Cbor::Int(-7)), // alg: ES256
            (Cbor::Int(-1), Cbor::Int(1)), // crv: P-256
            (Cbor::Int(-2), Cbor::Bytes(bytes[1..33].to_vec())),
            (Cbor::Int(-3), Cbor::Bytes(bytes[33..65].to_vec())),
        ]))
    }

    fn auth_data(&self, rp_id: &str, flags: u8, attested: bool) -> Vec<u8> {
        let mut d = Sha256::digest(rp_id.as_bytes()).to_vec();
        d.push(flags);
        d.extend(self.counter.to_be_bytes());
        if attested {
            d.extend([0u8; 16]); // AAGUID
            d.extend((self.credential_id.len() as u16).to_be_bytes());
            d.extend(&self.credential_id);
            d.extend(self.cose_key());
        }
        d
    }

    fn client_data(kind: &str, options: &Value, origin: &str) -> Vec<u8> {
        let challenge = options["publicKey"]["challenge"].as_str().unwrap();
        serde_json::to_vec(&json!({
            "type": kind,
            "challenge": challenge,
            "origin": origin,
            "crossOrigin": false,
        }))
        .unwrap()
    }

    /// The answer of `navigator.credentials.create` to `options`.
    fn register(&mut self, options: &Value, origin: &str, tamper: Tamper) -> Value {
        let rp_id = tamper
            .rp_id
            .unwrap_or_else(|| options["publicKey"]["rp"]["id"].as_str().unwrap());
        self.counter = 1;
        // Flags: user present, user verified, attested credential data.
        let auth_data = self.auth_data(rp_id, 0x01 | 0x04 | 0x40, true);
        let attestation = encode(&Cbor::Map(vec![
            (Cbor::Text("fmt"), Cbor::Text("none")),
            (Cbor::Text("attStmt"), Cbor::Map(vec![])),
            (Cbor::Text("authData"), Cbor::Bytes(auth_data)),
        ]));
        let client_data =
            Self::client_data("webauthn.create", options, tamper.origin.unwrap_or(origin));
        json!({
            "id": b64(&self.credential_id),
            "rawId": b64(&self.credential_id),
            "type": "public-key",
            "response": {
                "attestationObject": b64(&attestation),
                "clientDataJSON": b64(&client_data),
            },
            "extensions": {},
        })
    }

    /// The answer of `navigator.credentials.get` to `options`.
    fn assert(&mut self, options: &Value, origin: &str, tamper: Tamper) -> Value {
        let rp_id = tamper
            .rp_id
            .unwrap_or_else(|| options["publicKey"]["rpId"].as_str().unwrap());
        if !tamper.keep_counter {
            self.counter += 1;
        }
        let auth_data = self.auth_data(rp_id, 0x01 | 0x04, false);
        let client_data =
            Self::client_data("webauthn.get", options, tamper.origin.unwrap_or(origin));
        let mut signed = auth_data.clone();
        signed.extend(Sha256::digest(&client_data));
        let signer = if tamper.forge {
            Authenticator::new().key
        } else {
            self.key.clone()
        };
        let sig: Signature = signer.sign(&signed);
        let der: DerSignature = sig.to_der();
        json!({
            "id": b64(&self.credential_id),
            "rawId": b64(&self.credential_id),
            "type": "public-key",
            "response": {
                "authenticatorData": b64(&auth_data),
                "clientDataJSON": b64(&client_data),
                "signature": b64(der.as_bytes()),
                "userHandle": null,
            },
            "extensions": {},
        })
    }
}

// ---- The API ----

fn origin(server: &TestServer) -> String {
    format!("http://localhost:{}", server.addr().port())
}

async fn audit(server: &TestServer, action: &str) -> Vec<Value> {
    let admin = server.admin_token().await;
    let (status, body) = server
        .get(
            Some(&admin),
            &format!("/api/v1/admin/audit?action={action}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["entries"].as_array().unwrap().clone()
}

async fn keys(server: &TestServer, token: &str) -> Vec<Value> {
    let (st, body) = server
        .get(Some(token), "/api/v1/users/me/second-factor/webauthn", None)
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["max_keys"], 20, "{body}");
    body["keys"].as_array().unwrap().clone()
}

async fn begin(server: &TestServer, token: &str) -> Value {
    let (st, body) = server
        .post(
            Some(token),
            "/api/v1/users/me/second-factor/webauthn/registrations",
            Some(json!({ "password": USER_PASSWORD })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert!(body["id"].as_str().unwrap().starts_with("wr_"), "{body}");
    body
}

async fn finish(
    server: &TestServer,
    token: &str,
    id: &str,
    name: &str,
    credential: Value,
) -> (StatusCode, Value) {
    server
        .post(
            Some(token),
            &format!("/api/v1/users/me/second-factor/webauthn/registrations/{id}"),
            Some(json!({ "name": name, "credential": credential })),
        )
        .await
}

/// The server's log lines about WebAuthn (why an answer was refused), for failure messages.
fn webauthn_log(server: &TestServer) -> String {
    server
        .log()
        .lines()
        .filter(|l| l.contains("WebAuthn"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Registers `auth` for the holder of `token` under `name`; returns the key's id.
async fn register(
    server: &TestServer,
    token: &str,
    auth: &mut Authenticator,
    name: &str,
) -> String {
    register_with_codes(server, token, auth, name).await.0
}

/// Registers `auth`; returns the key's id and the recovery codes that came with it.
async fn register_with_codes(
    server: &TestServer,
    token: &str,
    auth: &mut Authenticator,
    name: &str,
) -> (String, Vec<String>) {
    let reg = begin(server, token).await;
    let answer = auth.register(&reg["options"], &origin(server), Tamper::default());
    let (st, body) = finish(server, token, reg["id"].as_str().unwrap(), name, answer).await;
    assert_eq!(st, StatusCode::OK, "{body}\n{}", webauthn_log(server));
    assert_eq!(body["name"], name, "{body}");
    let codes = body["recovery_codes"]
        .as_array()
        .unwrap_or_else(|| panic!("no recovery_codes: {body}"))
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (body["id"].as_str().unwrap().to_owned(), codes)
}

/// Re-authenticates with a recovery code (starting a registration, left unfinished).
async fn begin_with_code(server: &TestServer, token: &str, code: &str) -> (StatusCode, Value) {
    server
        .post(
            Some(token),
            "/api/v1/users/me/second-factor/webauthn/registrations",
            Some(json!({ "code": code })),
        )
        .await
}

/// Logs in with the password; returns the second-factor challenge (no session yet).
async fn challenge(server: &TestServer, name: &str) -> Value {
    let (st, body) = server.login(name, USER_PASSWORD).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert!(body.get("token").is_none(), "no session yet: {body}");
    body["second_factor"].clone()
}

async fn second(server: &TestServer, challenge: &Value, credential: Value) -> (StatusCode, Value) {
    server
        .post(
            None,
            "/api/v1/auth/login/second-factor",
            Some(json!({
                "challenge": challenge["challenge"],
                "method": "webauthn",
                "credential": credential,
            })),
        )
        .await
}

async fn story(server: &TestServer) {
    let origin = origin(server);
    let alice = unique_name("alice");
    let bob = unique_name("bob");
    let (_alice_id, alice_token) = server.create_user(&alice).await;
    let (bob_id, bob_token) = server.create_user(&bob).await;

    // No keys at first; the status says so.
    assert!(keys(server, &alice_token).await.is_empty());
    let (st, status) = server
        .get(Some(&alice_token), "/api/v1/users/me/second-factor", None)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(status["webauthn_keys"], 0, "{status}");

    // Starting a registration needs the password (or a code).
    let (st, body) = server
        .post(
            Some(&alice_token),
            "/api/v1/users/me/second-factor/webauthn/registrations",
            Some(json!({ "password": "not-the-password" })),
        )
        .await;
    assert_status_error("a wrong password", (st, &body), 401, "unauthenticated");

    // The options are for this relying party, with an ES256 choice.
    let reg = begin(server, &alice_token).await;
    let pk = &reg["options"]["publicKey"];
    assert_eq!(pk["rp"]["id"], "localhost", "{reg}");
    assert!(
        pk["pubKeyCredParams"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["alg"] == -7),
        "{reg}"
    );
    let reg_id = reg["id"].as_str().unwrap().to_owned();

    // Meaningless answers are 400 and change nothing.
    for bad in [
        json!({}),
        json!("garbage"),
        json!({ "id": 1, "response": [] }),
    ] {
        let (st, body) = finish(server, &alice_token, &reg_id, "Key", bad.clone()).await;
        assert_status_error(
            &format!("credential {bad}"),
            (st, &body),
            400,
            "webauthn_invalid",
        );
    }
    let mut yubi = Authenticator::new();
    let good = yubi.register(&reg["options"], &origin, Tamper::default());
    let (st, body) = finish(server, &alice_token, &reg_id, " ", good.clone()).await;
    assert_status_error("an empty name", (st, &body), 400, "invalid_field");
    // Bob cannot finish Alice's registration.
    let (st, body) = finish(server, &bob_token, &reg_id, "Key", good.clone()).await;
    assert_status_error(
        "another's registration",
        (st, &body),
        404,
        "webauthn_not_found",
    );

    // An answer made for another relying party is refused; the registration is used up.
    let wrong = Authenticator::new().register(
        &reg["options"],
        &origin,
        Tamper {
            rp_id: Some("evil.example"),
            ..Tamper::default()
        },
    );
    let (st, body) = finish(server, &alice_token, &reg_id, "Key", wrong).await;
    assert_status_error("wrong relying party", (st, &body), 401, "webauthn_refused");
    let (st, body) = finish(server, &alice_token, &reg_id, "Key", good).await;
    assert_status_error(
        "a used registration",
        (st, &body),
        404,
        "webauthn_not_found",
    );
    // So is one from another origin.
    let reg = begin(server, &alice_token).await;
    let wrong = Authenticator::new().register(
        &reg["options"],
        &origin,
        Tamper {
            origin: Some("http://evil.localhost:1"),
            ..Tamper::default()
        },
    );
    let (st, body) = finish(
        server,
        &alice_token,
        reg["id"].as_str().unwrap(),
        "Key",
        wrong,
    )
    .await;
    assert_status_error("wrong origin", (st, &body), 401, "webauthn_refused");
    assert!(keys(server, &alice_token).await.is_empty());

    // Two keys registered, listed oldest first. The first is Alice's first second factor:
    // ten recovery codes come with it (a lost key must not lock her out); none with the
    // second.
    let (yubi_id, alice_codes) =
        register_with_codes(server, &alice_token, &mut yubi, "YubiKey").await;
    assert_eq!(alice_codes.len(), 10, "{alice_codes:?}");
    assert_eq!(
        alice_codes
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len(),
        10
    );
    let mut laptop = Authenticator::new();
    let (laptop_id, none) = register_with_codes(server, &alice_token, &mut laptop, "Laptop").await;
    assert!(none.is_empty(), "{none:?}");
    let (_, status) = server
        .get(Some(&alice_token), "/api/v1/users/me/second-factor", None)
        .await;
    assert_eq!(status["recovery_codes_left"], 10, "{status}");
    let list = keys(server, &alice_token).await;
    let names: Vec<&str> = list.iter().map(|k| k["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["YubiKey", "Laptop"]);
    assert!(list[0]["last_used_at"].is_null());
    // The same key again is a conflict (for Bob too: a key belongs to one account).
    let reg = begin(server, &bob_token).await;
    let again = yubi.register(&reg["options"], &origin, Tamper::default());
    let (st, body) = finish(
        server,
        &bob_token,
        reg["id"].as_str().unwrap(),
        "Mine",
        again,
    )
    .await;
    assert_status_error("a key registered already", (st, &body), 409, "conflict");

    // Renaming: one's own key only.
    let (st, body) = server
        .patch(
            Some(&alice_token),
            &format!("/api/v1/users/me/second-factor/webauthn/{yubi_id}"),
            Some(json!({ "name": "Blue key" })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "Blue key");
    for (who, id) in [
        (&bob_token, yubi_id.as_str()),
        (&alice_token, "999999"),
        (&alice_token, "x"),
    ] {
        let (st, body) = server
            .patch(
                Some(who),
                &format!("/api/v1/users/me/second-factor/webauthn/{id}"),
                Some(json!({ "name": "Stolen" })),
            )
            .await;
        assert_status_error(
            "rename a foreign or unknown key",
            (st, &body),
            404,
            "webauthn_not_found",
        );
    }
    let (st, body) = server
        .patch(
            Some(&alice_token),
            &format!("/api/v1/users/me/second-factor/webauthn/{yubi_id}"),
            Some(json!({ "name": "a\u{202e}b" })),
        )
        .await;
    assert_status_error("a spoofing name", (st, &body), 400, "invalid_field");

    // The login now asks for a second factor, webauthn among the methods, with its options.
    let ch = challenge(server, &alice).await;
    assert_eq!(ch["methods"], json!(["recovery", "webauthn"]), "{ch}");
    let opts = &ch["webauthn"];
    assert_eq!(opts["publicKey"]["rpId"], "localhost", "{ch}");
    let allowed: Vec<&str> = opts["publicKey"]["allowCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(allowed.len(), 2, "{ch}");
    assert!(allowed.contains(&b64(&yubi.credential_id).as_str()), "{ch}");

    // Refused, each with a clear code, and the challenge stays usable: meaningless JSON,
    // another relying party, another origin, a forged signature, Bob's key.
    let (st, body) = second(server, &ch, json!({ "type": "public-key" })).await;
    assert_status_error(
        "meaningless assertion",
        (st, &body),
        400,
        "webauthn_invalid",
    );
    let (st, body) = server
        .post(
            None,
            "/api/v1/auth/login/second-factor",
            Some(json!({ "challenge": ch["challenge"], "method": "webauthn" })),
        )
        .await;
    assert_status_error("no credential", (st, &body), 400, "webauthn_invalid");
    for (what, tamper) in [
        (
            "wrong relying party",
            Tamper {
                rp_id: Some("evil.example"),
                ..Tamper::default()
            },
        ),
        (
            "wrong origin",
            Tamper {
                origin: Some("http://evil.localhost:1"),
                ..Tamper::default()
            },
        ),
        (
            "forged signature",
            Tamper {
                forge: true,
                ..Tamper::default()
            },
        ),
    ] {
        let answer = yubi.assert(opts, &origin, tamper);
        let (st, body) = second(server, &ch, answer).await;
        assert_status_error(what, (st, &body), 401, "webauthn_refused");
        assert!(body.get("token").is_none());
    }
    let mut bobs = Authenticator::new();
    let (_, bob_codes) = register_with_codes(server, &bob_token, &mut bobs, "Bob's key").await;
    assert_eq!(bob_codes.len(), 10);
    let answer = bobs.assert(opts, &origin, Tamper::default());
    let (st, body) = second(server, &ch, answer).await;
    assert_status_error(
        "another account's key",
        (st, &body),
        401,
        "webauthn_refused",
    );
    assert!(
        keys(server, &alice_token).await[0]["last_used_at"].is_null(),
        "nothing changed"
    );

    // The right answer opens the session.
    let answer = yubi.assert(opts, &origin, Tamper::default());
    let (st, body) = second(server, &ch, answer.clone()).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let session = body["token"].as_str().unwrap().to_owned();
    let (st, me) = server.get(Some(&session), "/api/v1/users/me", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(me["username"], alice.as_str());
    assert!(!keys(server, &alice_token).await[0]["last_used_at"].is_null());

    // Replays: the same answer on its used challenge, on a new challenge (the challenge in
    // the signed client data differs), and a fresh signature with the old counter (a cloned
    // key).
    let (st, body) = second(server, &ch, answer.clone()).await;
    assert_status_error("a used challenge", (st, &body), 400, "invalid_field");
    let ch2 = challenge(server, &alice).await;
    let (st, body) = second(server, &ch2, answer).await;
    assert_status_error("a replayed assertion", (st, &body), 401, "webauthn_refused");
    let cloned = yubi.assert(
        &ch2["webauthn"],
        &origin,
        Tamper {
            keep_counter: true,
            ..Tamper::default()
        },
    );
    let (st, body) = second(server, &ch2, cloned).await;
    assert_status_error("an old counter", (st, &body), 401, "webauthn_refused");
    // The other key works too, on the same challenge.
    let answer = laptop.assert(&ch2["webauthn"], &origin, Tamper::default());
    let (st, body) = second(server, &ch2, answer).await;
    assert_eq!(st, StatusCode::OK, "{body}");

    // Without her keys, Alice signs in with a recovery code, once.
    for (i, want) in [(0, 200), (1, 401)] {
        let ch = challenge(server, &alice).await;
        let (st, body) = server
            .post(
                None,
                "/api/v1/auth/login/second-factor",
                Some(json!({ "challenge": ch["challenge"], "method": "recovery", "code": alice_codes[0] })),
            )
            .await;
        assert_eq!(st.as_u16(), want, "try {i}: {body}");
    }
    let (_, status) = server
        .get(Some(&alice_token), "/api/v1/users/me/second-factor", None)
        .await;
    assert_eq!(status["recovery_codes_left"], 9, "{status}");

    // The second step locks like the other methods: wrong answers until one must wait.
    let ch3 = challenge(server, &alice).await;
    let mut wrong = 0;
    loop {
        let answer = yubi.assert(
            &ch3["webauthn"],
            &origin,
            Tamper {
                forge: true,
                ..Tamper::default()
            },
        );
        let (st, body) = second(server, &ch3, answer).await;
        if st == StatusCode::TOO_MANY_REQUESTS {
            assert_status_error("delayed", (st, &body), 429, "rate_limited");
            break;
        }
        assert_status_error("forged", (st, &body), 401, "webauthn_refused");
        wrong += 1;
        assert!(wrong <= 8, "never delayed");
    }
    let answer = yubi.assert(&ch3["webauthn"], &origin, Tamper::default());
    let (st, body) = second(server, &ch3, answer).await;
    assert_status_error(
        "the right key while delayed",
        (st, &body),
        429,
        "rate_limited",
    );

    // Removing a key needs the password; a foreign or unknown id is not found.
    let (st, body) = server
        .post(
            Some(&bob_token),
            &format!("/api/v1/users/me/second-factor/webauthn/{laptop_id}/remove"),
            Some(json!({ "password": USER_PASSWORD })),
        )
        .await;
    assert_status_error(
        "remove another's key",
        (st, &body),
        404,
        "webauthn_not_found",
    );
    let (st, body) = server
        .post(
            Some(&bob_token),
            "/api/v1/users/me/second-factor/webauthn/999999/remove",
            Some(json!({ "password": USER_PASSWORD })),
        )
        .await;
    assert_status_error(
        "remove an unknown key",
        (st, &body),
        404,
        "webauthn_not_found",
    );
    let (st, body) = server
        .post(
            Some(&bob_token),
            &format!(
                "/api/v1/users/me/second-factor/webauthn/{}/remove",
                keys(server, &bob_token).await[0]["id"].as_str().unwrap()
            ),
            Some(json!({ "password": USER_PASSWORD })),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{body}");
    assert!(keys(server, &bob_token).await.is_empty());
    // His recovery codes went with his last key: a key registered later brings new codes,
    // never the old ones back.
    let (_, status) = server
        .get(Some(&bob_token), "/api/v1/users/me/second-factor", None)
        .await;
    assert_eq!(status["recovery_codes_left"], 0, "{status}");
    let mut bobs2 = Authenticator::new();
    let (bob_key2, bob_codes2) =
        register_with_codes(server, &bob_token, &mut bobs2, "Bob's new key").await;
    assert_eq!(bob_codes2.len(), 10);
    let (st, body) = begin_with_code(server, &bob_token, &bob_codes[0]).await;
    assert_status_error("an old recovery code", (st, &body), 401, "unauthenticated");
    let (st, body) = begin_with_code(server, &bob_token, &bob_codes2[0]).await;
    assert_eq!(st, StatusCode::OK, "a new recovery code: {body}");
    let (st, body) = server
        .post(
            Some(&bob_token),
            &format!("/api/v1/users/me/second-factor/webauthn/{bob_key2}/remove"),
            Some(json!({ "password": USER_PASSWORD })),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{body}");
    // Without keys Bob's login needs no second factor again.
    let (st, body) = server.login(&bob, USER_PASSWORD).await;
    assert_eq!(st, StatusCode::OK);
    assert!(body["token"].is_string(), "{body}");

    // Administrators see Alice among the enrolled (keys only, no app); their reset removes
    // her keys too.
    let admin = server.admin_token().await;
    let (st, overview) = server
        .get(Some(&admin), "/api/v1/admin/second-factor", None)
        .await;
    assert_eq!(st, StatusCode::OK, "{overview}");
    let row = overview["enrolled"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["user"]["username"] == alice.as_str())
        .unwrap_or_else(|| panic!("Alice is not listed: {overview}"))
        .clone();
    assert_eq!(row["webauthn_keys"], 2, "{row}");
    assert!(row["totp_since"].is_null(), "{row}");
    let (st, body) = server
        .delete(
            Some(&admin),
            &format!("/api/v1/users/{}/second-factor", me["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{body}");
    assert!(keys(server, &alice_token).await.is_empty());
    let _ = bob_id;

    // The audit log has each step, with the method.
    for action in [
        "second_factor_enrolled",
        "second_factor_passed",
        "second_factor_failed",
        "second_factor_removed",
        "second_factor_reset",
    ] {
        let entries = audit(server, action).await;
        assert!(!entries.is_empty(), "no {action} entry");
        if action != "second_factor_reset" {
            assert!(
                entries.iter().any(|e| e["summary"]["method"] == "webauthn"),
                "{action}: {entries:?}"
            );
        }
    }
}

/// At most 20 keys per account.
async fn limit(server: &TestServer) {
    let carol = unique_name("carol");
    let (_id, token) = server.create_user(&carol).await;
    for i in 0..20 {
        let mut a = Authenticator::new();
        register(server, &token, &mut a, &format!("Key {i}")).await;
    }
    let (st, body) = server
        .post(
            Some(&token),
            "/api/v1/users/me/second-factor/webauthn/registrations",
            Some(json!({ "password": USER_PASSWORD })),
        )
        .await;
    assert_status_error("the 21st key", (st, &body), 422, "limit_exceeded");
    assert_eq!(keys(server, &token).await.len(), 20);
}

/// With a policy past its grace, an account without a second factor may enrol a security key
/// at sign-in: the key registers, the session opens with ten recovery codes, and the next
/// sign-in asks for the key. Refused with a clear code and changing nothing: a registration
/// started for another challenge's account, a tampered answer (counted like a wrong code), a
/// bad name, a key answer on a challenge that is not an enrolment one.
async fn enrol_at_sign_in(server: &TestServer) {
    let admin = server.admin_token().await;
    let origin = origin(server);
    let erin = unique_name("erin");
    let frank = unique_name("frank");
    server.create_user(&erin).await;
    let (_, frank_token) = server.create_user(&frank).await;
    let mut frank_key = Authenticator::new();
    register(server, &frank_token, &mut frank_key, "Frank's key").await;
    let (st, b) = server
        .put(
            Some(&admin),
            "/api/v1/admin/second-factor",
            Some(json!({ "require": "everyone", "grace_days": 0 })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");

    let setup = |token: Value| async move {
        server
            .post(
                None,
                "/api/v1/auth/login/webauthn-setup",
                Some(json!({ "challenge": token })),
            )
            .await
    };
    let enrol = |ch: Value, reg: Value, name: &'static str, credential: Value| async move {
        server
            .post(
                None,
                "/api/v1/auth/login/second-factor",
                Some(json!({
                    "challenge": ch["challenge"],
                    "method": "webauthn",
                    "registration": reg["id"],
                    "name": name,
                    "credential": credential,
                })),
            )
            .await
    };

    // Frank has a key: his challenge is an ordinary one, so no set-up.
    let ch = challenge(server, &frank).await;
    assert_eq!(ch["enrol_required"], false, "{ch}");
    let (st, body) = setup(ch["challenge"].clone()).await;
    assert_status_error(
        "set-up on a sign-in challenge",
        (st, &body),
        403,
        "forbidden",
    );

    let ch = challenge(server, &erin).await;
    assert_eq!(ch["enrol_required"], true, "{ch}");
    assert_eq!(ch["methods"], json!([]), "{ch}");
    let (st, reg) = setup(ch["challenge"].clone()).await;
    assert_eq!(st, StatusCode::OK, "{reg}");
    assert!(reg["id"].as_str().unwrap().starts_with("wr_"), "{reg}");
    let mut key = Authenticator::new();

    // A bad name, and a tampered answer: refused; the registration is used up by the refusal.
    let answer = key.register(&reg["options"], &origin, Tamper::default());
    let (st, body) = enrol(ch.clone(), reg.clone(), "  ", answer).await;
    assert_status_error("blank key name", (st, &body), 400, "invalid_field");
    let answer = key.register(
        &reg["options"],
        &origin,
        Tamper {
            origin: Some("http://evil.example"),
            ..Tamper::default()
        },
    );
    let (st, body) = enrol(ch.clone(), reg.clone(), "Laptop", answer).await;
    assert_status_error(
        "answer for another origin",
        (st, &body),
        401,
        "webauthn_refused",
    );
    let (st, body) = enrol(
        ch.clone(),
        reg.clone(),
        "Laptop",
        key.register(&reg["options"], &origin, Tamper::default()),
    )
    .await;
    assert_status_error("used registration", (st, &body), 404, "webauthn_not_found");
    // Another account's registration does not finish on this challenge.
    let frank_reg = begin(server, &frank_token).await;
    let (st, body) = enrol(
        ch.clone(),
        frank_reg.clone(),
        "Laptop",
        key.register(&frank_reg["options"], &origin, Tamper::default()),
    )
    .await;
    assert_status_error(
        "another account's registration",
        (st, &body),
        404,
        "webauthn_not_found",
    );
    assert_eq!(
        keys(server, &frank_token).await.len(),
        1,
        "Frank's keys unchanged"
    );

    // A good answer registers the key and opens the session, with ten recovery codes.
    let (st, reg) = setup(ch["challenge"].clone()).await;
    assert_eq!(st, StatusCode::OK, "{reg}");
    let answer = key.register(&reg["options"], &origin, Tamper::default());
    let (st, body) = enrol(ch.clone(), reg.clone(), "Laptop", answer).await;
    assert_eq!(st, StatusCode::OK, "{body}\n{}", webauthn_log(server));
    let token = body["token"].as_str().unwrap().to_owned();
    assert_eq!(
        body["recovery_codes"].as_array().map(Vec::len),
        Some(10),
        "{body}"
    );
    let listed = keys(server, &token).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["name"], "Laptop");
    let enrolled = audit(server, "second_factor_passed").await;
    assert!(
        enrolled
            .iter()
            .any(|e| e["summary"]["enrolled"] == "true" && e["summary"]["method"] == "webauthn"),
        "{enrolled:?}"
    );
    // The challenge is used up; the next sign-in asks for the key, and the key passes.
    let (st, body) = setup(ch["challenge"].clone()).await;
    assert_status_error("used challenge", (st, &body), 400, "invalid_field");
    let ch = challenge(server, &erin).await;
    assert_eq!(ch["enrol_required"], false, "{ch}");
    assert_eq!(ch["methods"], json!(["recovery", "webauthn"]), "{ch}");
    let answer = key.assert(&ch["webauthn"], &origin, Tamper::default());
    let (st, body) = second(server, &ch, answer).await;
    assert_eq!(st, StatusCode::OK, "{body}\n{}", webauthn_log(server));

    let (st, b) = server
        .put(
            Some(&admin),
            "/api/v1/admin/second-factor",
            Some(json!({ "require": "off", "grace_days": 0 })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
}

const ENV: &[(&str, &str)] = &[
    ("ENCLAVE_AUTH__FAILURES_BEFORE_DELAY", "8"),
    ("ENCLAVE_AUTH__FIRST_DELAY_SECS", "60"),
];

#[tokio::test]
async fn sqlite_webauthn_story() {
    let server = TestServer::start_with_env(ENV);
    story(&server).await;
    limit(&server).await;
    enrol_at_sign_in(&server).await;
}

#[tokio::test]
async fn postgres_webauthn_story() {
    let Some((_db, url)) = enclave_store::testing::fresh_database_url().await else {
        return;
    };
    let mut e = ENV.to_vec();
    e.push(("ENCLAVE_DATABASE__URL", &url));
    let server = TestServer::start_with_env(&e);
    story(&server).await;
    limit(&server).await;
    enrol_at_sign_in(&server).await;
}

/// An explicit relying party that cannot work stops the server at start-up.
#[test]
fn a_bad_relying_party_stops_the_server() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_enclave"))
        .args(["config"])
        .env("ENCLAVE_WEBAUTHN__RP_ID", "example.org")
        .env("ENCLAVE_WEBAUTHN__ORIGIN", "https://chat.example.com")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("[webauthn]"), "{err}");
}

#[test]
fn cbor_encodes_like_rfc_8949() {
    assert_eq!(encode(&Cbor::Int(10)), [0x0a]);
    assert_eq!(encode(&Cbor::Int(-7)), [0x26]);
    assert_eq!(encode(&Cbor::Int(500)), [0x19, 0x01, 0xf4]);
    assert_eq!(encode(&Cbor::Text("fmt")), [0x63, b'f', b'm', b't']);
    assert_eq!(encode(&Cbor::Map(vec![])), [0xa0]);
    assert_eq!(unb64(&b64(b"\xff\x00")), b"\xff\x00");
}
