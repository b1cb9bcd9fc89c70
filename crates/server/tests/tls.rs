//! HTTPS: with `[tls] cert` and `key` configured, the server speaks TLS (rustls) and marks the
//! session cookie `Secure`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[tokio::test]
async fn serves_https_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let bin = env!("CARGO_BIN_EXE_enclave");
    let fast = [
        ("ENCLAVE_AUTH__ARGON2_MEMORY_KIB", "64"),
        ("ENCLAVE_AUTH__ARGON2_ITERATIONS", "1"),
    ];
    let out = Command::new(bin)
        .args([
            "--data",
            dir.path().to_str().unwrap(),
            "admin",
            "create-user",
            "root",
            "--admin",
            "--password",
            "root-password",
        ])
        .envs(fast)
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut child = Command::new(bin)
        .args([
            "--data",
            dir.path().to_str().unwrap(),
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .envs(fast)
        .env("ENCLAVE_TLS__CERT", &cert_path)
        .env("ENCLAVE_TLS__KEY", &key_path)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let port = loop {
        let line = lines
            .next()
            .expect("server exited before listening")
            .unwrap();
        if let Some(rest) = line.split_once("listening on https://127.0.0.1:") {
            break rest
                .1
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap()
                .parse::<u16>()
                .unwrap();
        }
    };
    std::thread::spawn(move || for _ in lines {});

    let trusted = reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(trusted)
        .build()
        .unwrap();
    let base = format!("https://localhost:{port}");
    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let login = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"login": "root", "password": "root-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let cookie = login
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");

    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());

    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful exit over TLS: {status}");
}
