//! HTTPS: with `[tls] cert` and `key` configured, the server speaks TLS (rustls), marks the
//! session cookie `Secure`, sends HSTS, and applies the same connection time-outs as over
//! plain HTTP.

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
    assert_eq!(
        login
            .headers()
            .get("strict-transport-security")
            .and_then(|v| v.to_str().ok()),
        Some("max-age=31536000")
    );
    assert_eq!(
        health
            .headers()
            .get("strict-transport-security")
            .and_then(|v| v.to_str().ok()),
        Some("max-age=31536000")
    );

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

#[test]
fn half_a_header_and_a_stalled_handshake_are_cut_off_over_tls() {
    use std::io::{Read as _, Write as _};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_enclave"))
        .args([
            "--data",
            dir.path().to_str().unwrap(),
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .env("ENCLAVE_TLS__CERT", &cert_path)
        .env("ENCLAVE_TLS__KEY", &key_path)
        .env("ENCLAVE_HTTP__HEADER_READ_TIMEOUT_SECS", "1")
        .env("ENCLAVE_HTTP__IDLE_TIMEOUT_SECS", "3")
        .env("ENCLAVE_REALTIME__HEARTBEAT_SECS", "1")
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
    let connect = || {
        let sock = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        sock
    };
    // Whether the server closed the connection (rather than the read timing out), and when.
    let closed_after = |read: std::io::Result<usize>, t0: Instant| match read {
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            panic!("still open after {:?}", t0.elapsed())
        }
        _ => t0.elapsed(),
    };

    // A TLS handshake that never starts: cut off after the handshake (header) time-out.
    let mut silent = connect();
    let t0 = Instant::now();
    let took = closed_after(silent.read(&mut [0u8; 64]), t0);
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(6),
        "closed after {took:?}"
    );

    // Half a header inside TLS: cut off after the header time-out.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut sock = connect();
    let mut conn =
        rustls::ClientConnection::new(Arc::new(config), "localhost".try_into().unwrap()).unwrap();
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        .unwrap();
    tls.flush().unwrap();
    let t0 = Instant::now();
    let took = closed_after(tls.read(&mut [0u8; 1024]), t0);
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(2900),
        "closed after {took:?}"
    );

    let _ = child.kill();
    let _ = child.wait();
}
