//! Files over real HTTP against the real binary: upload, attach, download with safe headers,
//! access control, thumbnails, limits (size, quota, pixel bombs), encryption at rest, survival
//! across restarts, the sweep, master key rotation — on the local folder store and on a real
//! S3-compatible server (moto, started by the test on a free loopback port).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{StatusCode, TestServer, Value, assert_status_error, json, s, unique_name};

async fn upload(
    server: &TestServer,
    token: &str,
    name: &str,
    bytes: Vec<u8>,
) -> (StatusCode, Value) {
    let resp = server
        .client()
        .post(server.url(&format!(
            "/api/v1/files?name={}",
            common::encode_segment(name)
        )))
        .bearer_auth(token)
        // The claimed type is ignored; the server sniffs.
        .header("content-type", "image/png")
        .body(bytes)
        .send()
        .await
        .unwrap();
    common::read_json(resp).await
}

/// Sends an upload of `len` bytes over a raw connection, declared by `Content-Length` or sent
/// chunked, writing in the background while the answer is read: the server may answer (413)
/// before the body is complete, and a client that only reads after writing would see a broken
/// pipe instead of the answer.
async fn raw_upload(server: &TestServer, token: &str, len: usize, chunked: bool) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let framing = if chunked {
        "transfer-encoding: chunked".to_owned()
    } else {
        format!("content-length: {len}")
    };
    let head = format!(
        "POST /api/v1/files?name=raw.bin HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {token}\r\n{framing}\r\n\r\n",
        server.addr()
    );
    let writer = tokio::spawn(async move {
        wr.write_all(head.as_bytes()).await?;
        let block = vec![b'z'; 64 * 1024];
        let mut left = len;
        while left > 0 {
            let n = left.min(block.len());
            if chunked {
                wr.write_all(format!("{n:x}\r\n").as_bytes()).await?;
                wr.write_all(&block[..n]).await?;
                wr.write_all(b"\r\n").await?;
            } else {
                wr.write_all(&block[..n]).await?;
            }
            left -= n;
        }
        if chunked {
            wr.write_all(b"0\r\n\r\n").await?;
        }
        std::io::Result::Ok(wr)
    });
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            let n: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if buf.len() >= end + 4 + n {
                let status: u16 = head[9..12].parse().unwrap();
                let body =
                    serde_json::from_slice(&buf[end + 4..end + 4 + n]).unwrap_or(Value::Null);
                writer.abort();
                return (status, body);
            }
        }
        assert!(Instant::now() < deadline, "no answer to the raw upload");
        let n = tokio::time::timeout(Duration::from_secs(30), rd.read(&mut chunk))
            .await
            .expect("reading the answer")
            .unwrap();
        assert!(
            n > 0,
            "connection closed before an answer: {}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn upload_ok(server: &TestServer, token: &str, name: &str, bytes: Vec<u8>) -> Value {
    let (status, body) = upload(server, token, name, bytes).await;
    assert_eq!(status, 201, "upload {name}: {body}\n{}", server.log());
    body
}

async fn download(server: &TestServer, token: &str, path: &str) -> reqwest::Response {
    server
        .client()
        .get(server.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn post_with_files(
    server: &TestServer,
    token: &str,
    channel: &str,
    ids: &[&str],
) -> (StatusCode, Value) {
    server
        .post(
            Some(token),
            &format!("/api/v1/channels/{channel}/messages"),
            Some(json!({"text": "", "file_ids": ids})),
        )
        .await
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 7])
    });
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Appends a PNG chunk (length, type, data, CRC).
fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
}

/// A `w`×`h` PNG with a `tEXt` chunk `Comment: text` right after its header.
fn png_with_text(w: u32, h: u32, text: &str) -> Vec<u8> {
    let plain = png(w, h);
    // Signature (8 bytes), then IHDR: length, type, 13 bytes of data, CRC.
    let (head, rest) = plain.split_at(8 + 4 + 4 + 13 + 4);
    let mut out = head.to_vec();
    let mut data = b"Comment\0".to_vec();
    data.extend_from_slice(text.as_bytes());
    chunk(&mut out, b"tEXt", &data);
    out.extend_from_slice(rest);
    out
}

/// A tiny PNG whose header declares `w`×`h` pixels (a decompression bomb's shape): signature,
/// IHDR with a correct CRC, and a short IDAT.
fn bomb_png(w: u32, h: u32) -> Vec<u8> {
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    // zlib stream of a few zero bytes: a real bomb would be a long run of these.
    chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01],
    );
    chunk(&mut out, b"IEND", &[]);
    out
}

/// Every regular file under `dir`.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

const SECRET_TEXT: &str =
    "The quarterly numbers are CONFIDENTIAL-7f3a9 and must not leak.\nline two\nline three\n";

/// The common scenario, for any blob store. `stored_objects` lists the stored objects' bytes.
async fn scenario(server: &mut TestServer, stored_objects: &dyn Fn() -> Vec<Vec<u8>>) {
    let admin = server.admin_token().await;
    let (alice_id, alice) = server.create_user(&unique_name("alice")).await;
    let (carol_id, carol) = server.create_user(&unique_name("carol")).await;
    let (_, bob) = server.create_user(&unique_name("bob")).await;
    let _ = admin;

    // A text file: sniffed, previewed, encrypted at rest.
    let text = upload_ok(
        server,
        &alice,
        "../../secret notes.txt",
        SECRET_TEXT.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(text["name"], "secret notes.txt");
    assert_eq!(text["content_type"], "text/plain");
    assert_eq!(text["size"], SECRET_TEXT.len());
    assert!(
        text["preview"]
            .as_str()
            .unwrap()
            .starts_with("The quarterly numbers")
    );
    assert_eq!(text["uploader_id"], alice_id.as_str());
    let text_id = s(&text, "id");
    let objects = stored_objects();
    assert!(!objects.is_empty(), "no stored object found");
    for o in &objects {
        assert!(
            !contains(o, b"CONFIDENTIAL-7f3a9"),
            "plaintext found in a stored object"
        );
    }

    // The uploader may fetch it before it is shared; nobody else may.
    let resp = download(server, &alice, &format!("/api/v1/files/{text_id}")).await;
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    assert_eq!(h["content-type"], "text/plain; charset=utf-8");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );
    assert_eq!(
        h["content-disposition"],
        "inline; filename=\"secret notes.txt\"; filename*=UTF-8''secret%20notes.txt"
    );
    assert_eq!(resp.bytes().await.unwrap(), SECRET_TEXT.as_bytes());
    let forced = download(
        server,
        &alice,
        &format!("/api/v1/files/{text_id}?download=true"),
    )
    .await;
    assert!(
        forced.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    for path in [
        format!("/api/v1/files/{text_id}"),
        format!("/api/v1/files/{text_id}/info"),
        format!("/api/v1/files/{text_id}/thumbnail"),
    ] {
        let (status, body) = server.get(Some(&carol), &path, None).await;
        assert_status_error(&path, (status, &body), 404, "file_not_found");
    }

    // Shared in a private channel: its members may fetch it, others still may not.
    let ch = server
        .create_channel(&alice, &unique_name("priv"), "private")
        .await;
    server.add_member(&alice, &ch, &carol_id).await;
    // Someone else's upload cannot be attached.
    let (status, body) = post_with_files(server, &carol, &ch, &[&text_id]).await;
    assert_status_error(
        "attach another's file",
        (status, &body),
        404,
        "file_not_found",
    );
    let (status, body) = post_with_files(server, &alice, &ch, &["999999999"]).await;
    assert_status_error(
        "attach a missing file",
        (status, &body),
        404,
        "file_not_found",
    );
    let many: Vec<String> = (0..11).map(|i| (i + 1).to_string()).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let (status, body) = post_with_files(server, &alice, &ch, &many).await;
    assert_status_error("eleven files", (status, &body), 400, "invalid_field");
    let mut carol_ws = common::ws::WsClient::connect(server, &carol).await;
    let (status, msg) = post_with_files(server, &alice, &ch, &[&text_id]).await;
    assert_eq!(status, 201, "{msg}");
    let msg_id = s(&msg, "id");
    let ev = carol_ws
        .next_where(Duration::from_secs(10), "message.created", |v| {
            v["type"] == "message.created" && v["message"]["id"] == msg_id.as_str()
        })
        .await;
    assert_eq!(
        ev["message"], msg,
        "the event carries the message (and its files) as REST returned it"
    );
    carol_ws.close().await;
    assert_eq!(msg["files"][0]["id"], text_id.as_str());
    assert_eq!(msg["files"][0]["name"], "secret notes.txt");
    let (_, history) = server
        .get(
            Some(&carol),
            &format!("/api/v1/channels/{ch}/messages"),
            None,
        )
        .await;
    let last = history["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["files"][0]["id"], text_id.as_str());
    let resp = download(server, &carol, &format!("/api/v1/files/{text_id}")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.unwrap(), SECRET_TEXT.as_bytes());
    let (status, body) = server
        .get(Some(&bob), &format!("/api/v1/files/{text_id}"), None)
        .await;
    assert_status_error("stranger", (status, &body), 404, "file_not_found");
    let (status, body) = server
        .get(None, &format!("/api/v1/files/{text_id}"), None)
        .await;
    assert_status_error("anonymous", (status, &body), 401, "unauthenticated");

    // An image: dimensions and a thumbnail.
    let img = upload_ok(server, &alice, "photo.png", png(800, 600)).await;
    assert_eq!(img["content_type"], "image/png");
    assert_eq!(
        (img["width"].as_u64(), img["height"].as_u64()),
        (Some(800), Some(600))
    );
    assert_eq!(img["thumbnail"]["width"], 320);
    assert_eq!(img["thumbnail"]["height"], 240);
    let img_id = s(&img, "id");
    let resp = download(server, &alice, &format!("/api/v1/files/{img_id}/thumbnail")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/jpeg");
    let thumb = resp.bytes().await.unwrap();
    let decoded = image::load_from_memory(&thumb).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (320, 240));
    let full = download(server, &alice, &format!("/api/v1/files/{img_id}")).await;
    assert_eq!(full.headers()["content-type"], "image/png");
    assert_eq!(full.bytes().await.unwrap().to_vec(), png(800, 600));
    // A text file has no thumbnail.
    let (status, body) = server
        .get(
            Some(&alice),
            &format!("/api/v1/files/{text_id}/thumbnail"),
            None,
        )
        .await;
    assert_status_error("no thumbnail", (status, &body), 404, "file_not_found");

    // Active content is never inline, whatever the client claims.
    for (name, bytes, ty) in [
        (
            "x.svg",
            &b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>"[..],
            "image/svg+xml",
        ),
        (
            "x.png",
            &b"<!DOCTYPE html><script>alert(1)</script>"[..],
            "text/html",
        ),
    ] {
        let f = upload_ok(server, &alice, name, bytes.to_vec()).await;
        assert_eq!(f["content_type"], ty);
        let resp = download(server, &alice, &format!("/api/v1/files/{}", s(&f, "id"))).await;
        let h = resp.headers();
        assert!(
            h["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("attachment;"),
            "{name}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'none'")
        );
    }

    // A decompression bomb is refused from its header, and nothing of it is kept.
    let before = stored_objects().len();
    let (status, body) = upload(server, &alice, "bomb.png", bomb_png(10_000, 10_000)).await;
    assert_status_error("bomb", (status, &body), 422, "image_too_large");
    assert_eq!(
        stored_objects().len(),
        before,
        "the refused upload left an object"
    );

    // Per-file limit (configured at 12 MB).
    // Refused from the declared length before the body is read...
    let (status, body) = raw_upload(server, &bob, 12_100_000, false).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "file_too_large", "{body}");
    // ...or, without a declared length, as soon as the streamed bytes pass the limit.
    let (status, body) = raw_upload(server, &bob, 12_100_000, true).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "file_too_large", "{body}");
    // A large file streams through in many segments (and several multipart parts on S3).
    let large: Vec<u8> = (0..11_000_000u32).map(|i| (i % 251) as u8).collect();
    let big = upload_ok(server, &bob, "a.bin", large.clone()).await;
    assert_eq!(big["content_type"], "application/octet-stream");
    let resp = download(server, &bob, &format!("/api/v1/files/{}", s(&big, "id"))).await;
    assert_eq!(resp.headers()["content-length"], "11000000");
    assert!(
        resp.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    assert!(
        resp.bytes().await.unwrap() == large,
        "large file differs after the round trip"
    );
    // Quota (configured at 20 MB per user).
    let (status, body) = raw_upload(server, &bob, 9_500_000, false).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "quota_exceeded", "{body}");
    let (status, body) = raw_upload(server, &bob, 9_500_000, true).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "quota_exceeded", "{body}");
    assert_eq!(
        stored_objects().len(),
        before + 1,
        "refused uploads left objects"
    );
    // Not a file id.
    let (status, body) = server.get(Some(&alice), "/api/v1/files/abc", None).await;
    assert_status_error("bad id", (status, &body), 404, "file_not_found");

    // Files survive a restart.
    server.restart();
    let resp = download(server, &carol, &format!("/api/v1/files/{text_id}")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.unwrap(), SECRET_TEXT.as_bytes());

    // Deleting the message detaches the file; the sweep (every second here) removes it.
    let n_objects = stored_objects().len();
    let (status, body) = server
        .delete(
            Some(&alice),
            &format!("/api/v1/messages/{}", s(&msg, "id")),
            None,
        )
        .await;
    assert!(status.is_success(), "{body}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, _) = server
            .get(Some(&alice), &format!("/api/v1/files/{text_id}/info"), None)
            .await;
        if status == 404 {
            break;
        }
        assert!(Instant::now() < deadline, "the detached file was not swept");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        stored_objects().len() < n_objects,
        "the swept file's object is still stored"
    );
    // The image, never attached, is younger than the grace period and stays.
    let (status, _) = server
        .get(Some(&alice), &format!("/api/v1/files/{img_id}/info"), None)
        .await;
    assert_eq!(status, 200);
}

const LIMITS: &[(&str, &str)] = &[
    ("ENCLAVE_FILES__MAX_FILE_BYTES", "12000000"),
    ("ENCLAVE_FILES__USER_QUOTA_BYTES", "20000000"),
    ("ENCLAVE_FILES__MAX_IMAGE_PIXELS", "40000000"),
    ("ENCLAVE_FILES__SWEEP_INTERVAL_SECS", "1"),
    ("ENCLAVE_FILES__UNATTACHED_GRACE_SECS", "3600"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_folder_store() {
    let mut server = TestServer::start_with_env(LIMITS);
    let root = server.data_dir().join("files");
    let key_file = server.data_dir().join("file-master.key");
    let objects = move || {
        files_under(&root)
            .iter()
            .map(|p| std::fs::read(p).unwrap())
            .collect::<Vec<_>>()
    };
    scenario(&mut server, &objects).await;
    // The generated master key is private to the server's user.
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// Master key rotation: a new current key, the old one kept as previous; the admin command
/// re-wraps every data key; afterwards the old key is no longer needed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_key_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_in(dir.path());
    let (_, alice) = server.create_user(&unique_name("alice")).await;
    let f = upload_ok(&server, &alice, "r.txt", SECRET_TEXT.as_bytes().to_vec()).await;
    let id = s(&f, "id");
    server.terminate();
    let old_key = std::fs::read_to_string(dir.path().join("file-master.key")).unwrap();
    let new_key = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="; // bytes 1..=32
    let rotated = [
        ("ENCLAVE_FILES__MASTER_KEY_ID", "k2"),
        ("ENCLAVE_FILES__MASTER_KEY", new_key),
        ("ENCLAVE_FILES__PREVIOUS_KEYS__K1", old_key.trim()),
    ];
    let run = |env: &[(&str, &str)], args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_enclave"))
            .arg("--data")
            .arg(dir.path())
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, out) = run(&rotated, &["admin", "rotate-file-key"]);
    assert!(ok, "{out}");
    assert!(out.contains("re-wrapped 1 file key"), "{out}");
    let (ok, out) = run(&rotated, &["admin", "rotate-file-key"]);
    assert!(ok && out.contains("re-wrapped 0 file key"), "{out}");
    // `enclave config` masks the keys.
    let (ok, out) = run(&rotated, &["config"]);
    assert!(ok, "{out}");
    assert!(
        !out.contains(new_key) && !out.contains(old_key.trim()),
        "{out}"
    );
    // Only the new key now: the file still reads.
    drop(server);
    let server = TestServer::start_in_with_env(dir.path(), &rotated[..2]);
    let resp = download(&server, &alice, &format!("/api/v1/files/{id}")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.unwrap(), SECRET_TEXT.as_bytes());
    // The preview, sealed under the same data key, still opens.
    let (status, info) = server
        .get(Some(&alice), &format!("/api/v1/files/{id}/info"), None)
        .await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["preview"], f["preview"]);
    assert!(
        info["preview"]
            .as_str()
            .unwrap()
            .contains("CONFIDENTIAL-7f3a9")
    );
}

// ---------------------------------------------------------------------------------------------
// S3 (moto)

struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts a private moto S3 server; `None` (test skipped) when `moto_server` is not installed,
/// except in CI, where that is a failure.
async fn start_moto() -> Option<Moto> {
    let found = Command::new("moto_server")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if found.is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "moto_server is not installed (pip install 'moto[server]'); CI must run this test"
        );
        eprintln!("skipping: moto_server not installed");
        return None;
    }
    let port = free_port();
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let moto = Moto { child, port };
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = client.get(format!("http://127.0.0.1:{port}/")).send().await
            && r.status().is_success()
        {
            break;
        }
        assert!(Instant::now() < deadline, "moto_server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Some(moto)
}

fn keys_in(listing: &str) -> Vec<String> {
    listing
        .split("<Key>")
        .skip(1)
        .filter_map(|p| p.split_once("</Key>").map(|(k, _)| k.to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_store() {
    let Some(moto) = start_moto().await else {
        return;
    };
    let bucket = "enclave-files";
    let (endpoint, s3_env) = s3_bucket(&moto, bucket).await;
    let mut env: Vec<(&str, &str)> = LIMITS.to_vec();
    env.extend(s3_env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let mut server = TestServer::start_with_env(&env);
    let data_dir = server.data_dir().to_owned();
    let objects = move || s3_objects(&endpoint, bucket);
    scenario(&mut server, &objects).await;
    // Nothing went to the local folder.
    assert!(files_under(&data_dir.join("files")).is_empty());
}

/// A bucket on the private moto server, and the environment that points a server at it.
async fn s3_bucket(moto: &Moto, bucket: &str) -> (String, Vec<(String, String)>) {
    let endpoint = format!("http://127.0.0.1:{}", moto.port);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let r = client
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success(),
        "creating the bucket: {}",
        r.status()
    );
    let env = [
        ("ENCLAVE_FILES__STORE", "s3"),
        ("ENCLAVE_FILES__S3_BUCKET", bucket),
        ("ENCLAVE_FILES__S3_ENDPOINT", endpoint.as_str()),
        ("ENCLAVE_FILES__S3_REGION", "us-east-1"),
        ("ENCLAVE_FILES__S3_ACCESS_KEY", "testing"),
        ("ENCLAVE_FILES__S3_SECRET_KEY", "testing-secret"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    (endpoint, env)
}

/// The bytes of every object in the bucket, fetched from the S3 server.
fn s3_objects(endpoint: &str, bucket: &str) -> Vec<Vec<u8>> {
    // A blocking client: this runs inside the async test, on its own thread.
    let endpoint = endpoint.to_owned();
    let bucket = bucket.to_owned();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let client = reqwest::Client::builder().no_proxy().build().unwrap();
            let listing = client
                .get(format!("{endpoint}/{bucket}?list-type=2"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let mut out = Vec::new();
            for key in keys_in(&listing) {
                let bytes = client
                    .get(format!("{endpoint}/{bucket}/{key}"))
                    .send()
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap();
                out.push(bytes.to_vec());
            }
            out
        })
    })
    .join()
    .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Nothing of a file's content at rest in plain text

/// The files of the data folder (database, WAL, shared memory, objects, anything else) and the
/// given objects that contain any of `needles`, each with what it contains.
fn holders(data_dir: &Path, objects: &[Vec<u8>], needles: &[(&str, &[u8])]) -> Vec<String> {
    let mut found = Vec::new();
    let on_disk = files_under(data_dir)
        .into_iter()
        .filter_map(|p| Some((p.display().to_string(), std::fs::read(&p).ok()?)));
    let remote = objects
        .iter()
        .enumerate()
        .map(|(i, o)| (format!("S3 object #{i}"), o.clone()));
    for (name, bytes) in on_disk.chain(remote) {
        for (what, needle) in needles {
            if contains(&bytes, needle) {
                found.push(format!("{name} holds the {what}"));
            }
        }
    }
    found
}

/// Uploads a text file and a PNG that both carry a unique canary, shares them in a message,
/// and then looks for the canary (and for the thumbnail's plain bytes) in every byte the
/// server stores: with the server running, and after it stopped. Only the text of messages is
/// kept in plain text for now, so the canary is never in one (nor in a file name).
async fn canary_scenario(server: &mut TestServer, stored_objects: &dyn Fn() -> Vec<Vec<u8>>) {
    let canary = format!(
        "canary-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let (_, alice) = server.create_user(&unique_name("alice")).await;
    let (bob_id, bob) = server.create_user(&unique_name("bob")).await;
    let ch = server
        .create_channel(&alice, &unique_name("vault"), "private")
        .await;
    server.add_member(&alice, &ch, &bob_id).await;

    let text = format!("Quarterly plan\n{canary}\nline three\n");
    let t = upload_ok(server, &alice, "plan.txt", text.clone().into_bytes()).await;
    assert_eq!(t["content_type"], "text/plain");
    assert_eq!(t["preview"], text.trim_end());
    let image = png_with_text(640, 480, &canary);
    assert!(contains(&image, canary.as_bytes()));
    let i = upload_ok(server, &alice, "photo.png", image.clone()).await;
    assert_eq!(i["content_type"], "image/png");
    assert_eq!(i["thumbnail"]["width"], 320);
    let (t_id, i_id) = (s(&t, "id"), s(&i, "id"));
    let (status, msg) = post_with_files(server, &alice, &ch, &[&t_id, &i_id]).await;
    assert_eq!(status, 201, "{msg}");
    assert_eq!(msg["files"][0]["preview"], text.trim_end());

    // Readers still get the preview wherever the file is shown.
    let (_, history) = server
        .get(Some(&bob), &format!("/api/v1/channels/{ch}/messages"), None)
        .await;
    let shown = &history["messages"].as_array().unwrap().last().unwrap()["files"];
    assert_eq!(shown[0]["preview"], text.trim_end(), "{history}");
    assert_eq!(shown[1]["preview"], Value::Null);
    let (status, info) = server
        .get(Some(&bob), &format!("/api/v1/files/{t_id}/info"), None)
        .await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["preview"], text.trim_end());
    let (status, found) = server
        .get(Some(&bob), "/api/v1/search?q=has:file", None)
        .await;
    assert_eq!(status, 200, "{found}");
    assert!(found.to_string().contains(&canary), "{found}");
    let resp = download(server, &bob, &format!("/api/v1/files/{i_id}")).await;
    assert_eq!(resp.bytes().await.unwrap().to_vec(), image);
    let resp = download(server, &bob, &format!("/api/v1/files/{i_id}/thumbnail")).await;
    assert_eq!(resp.status(), 200);
    let thumb = resp.bytes().await.unwrap().to_vec();
    assert!(thumb.len() > 200, "a thumbnail of {} bytes", thumb.len());

    // The thumbnail's plain bytes: a slice of its compressed data, and its first bytes.
    let mid = thumb.len() / 2;
    let needles: [(&str, &[u8]); 3] = [
        ("canary", canary.as_bytes()),
        ("thumbnail's data", &thumb[mid..mid + 48]),
        ("thumbnail's header", &thumb[..24]),
    ];
    let dir = server.data_dir().to_owned();
    let running = holders(&dir, &stored_objects(), &needles);
    assert_eq!(running, Vec::<String>::new(), "with the server running");
    let status = server.terminate();
    assert!(status.success(), "{status}\n{}", server.log());
    let stopped = holders(&dir, &stored_objects(), &needles);
    assert_eq!(stopped, Vec::<String>::new(), "after the server stopped");
    assert!(
        files_under(&dir)
            .iter()
            .any(|p| p.file_name().is_some_and(|n| n == "enclave.db")),
        "the database was searched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_not_at_rest_in_local_folder() {
    let mut server = TestServer::start_with_env(LIMITS);
    let root = server.data_dir().join("files");
    let objects = || Vec::new();
    canary_scenario(&mut server, &objects).await;
    assert!(files_under(&root).len() >= 3, "objects were searched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_not_at_rest_on_s3() {
    let Some(moto) = start_moto().await else {
        return;
    };
    let bucket = "enclave-canary";
    let (endpoint, env) = s3_bucket(&moto, bucket).await;
    let mut all: Vec<(&str, &str)> = LIMITS.to_vec();
    all.extend(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let mut server = TestServer::start_with_env(&all);
    let objects = move || s3_objects(&endpoint, bucket);
    assert!(objects().is_empty());
    canary_scenario(&mut server, &objects).await;
    assert!(objects().len() >= 3, "objects were searched");
}
