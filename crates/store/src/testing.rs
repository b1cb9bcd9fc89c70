//! Test support (feature `testing`): a real PostgreSQL server for the tests of the calling test
//! binary, and a fresh database per test. Used by this crate's tests (the conformance suite, the
//! migration test) and by the server's tests (`enclave migrate`, the server on PostgreSQL), which
//! enable the feature through a dev-dependency. Not for production code.
//!
//! With `ENCLAVE_TEST_PG_URL` set (`postgres://user:password@host:port/db`, a role allowed to
//! create databases), that server is used. Otherwise the harness starts its own: it finds the
//! server programs (`pg_config --bindir`, `/usr/lib/postgresql/*/bin`, `PATH`), runs `initdb`
//! once into a cached template directory, copies it for this process, and starts `postgres` on
//! a free loopback port with its socket in the same temporary directory. Running as root (CI
//! does), the programs run as the `postgres` system user, since `initdb` refuses root.
//!
//! One server per test process, stopped when the process ends however it ends: a watchdog
//! shell waits for EOF on a pipe only this process holds, then stops the server and removes
//! its directory. (cargo-nextest runs each test in its own process; each starts a server from
//! the template in well under a second.)
//!
//! When no PostgreSQL programs are found, the tests print why and pass without running, except
//! in CI (`CI=true`), where they fail: there they must run.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx_core::connection::{ConnectOptions, Connection};
use sqlx_core::executor::Executor;
use sqlx_core::sql_str::AssertSqlSafe;
use sqlx_postgres::PgConnectOptions;

pub struct Server {
    /// Connects to the server's maintenance database.
    admin: PgConnectOptions,
    /// The same as a URL (with its password, if any), for programs configured by URL.
    admin_url: String,
    /// A server given by `ENCLAVE_TEST_PG_URL` (outlives this process: tests drop their databases).
    external: bool,
    /// Keeps the watchdog's pipe open for as long as this process lives.
    _watchdog: Option<(Child, ChildStdin)>,
}

static SERVER: OnceLock<Option<Server>> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The server of this test process (started on first use), or `None` when PostgreSQL tests are
/// skipped here.
pub async fn server() -> Option<&'static Server> {
    tokio::task::spawn_blocking(|| {
        SERVER
            .get_or_init(|| match start() {
                Ok(s) => Some(s),
                Err(Missing(reason)) => {
                    assert!(
                        !in_ci(),
                        "PostgreSQL tests must run in CI, but {reason} (install the `postgresql` package)"
                    );
                    // Straight to the process's stderr: the test harness captures `eprintln!`.
                    let _ = writeln!(
                        std::io::stderr(),
                        "skipping PostgreSQL tests: {reason} (install the `postgresql` package to run them)"
                    );
                    None
                }
            })
            .as_ref()
    })
    .await
    .expect("starting PostgreSQL panicked")
}

/// A new, empty database for one test; `None` when PostgreSQL tests are skipped here.
pub async fn fresh_database() -> Option<PgConnectOptions> {
    let server = server().await?;
    let name = format!(
        "enclave_test_{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::SeqCst)
    );
    let mut conn = server
        .admin
        .connect()
        .await
        .expect("connect to the test server");
    // A linguistic default collation (ICU, PostgreSQL 15+), as production databases usually
    // have, so that text the schema forgets to make `COLLATE "C"` sorts differently from SQLite
    // and the checks notice. Plain UTF-8 where ICU is not available.
    let icu = conn
        .execute(AssertSqlSafe(format!(
            "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'
             LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
        )))
        .await;
    if icu.is_err() {
        conn.execute(AssertSqlSafe(format!(
            "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'"
        )))
        .await
        .expect("create a test database");
    }
    conn.close().await.expect("disconnect");
    Some(server.admin.clone().database(&name))
}

/// As [`fresh_database`], with the database's URL too (`postgres://...`, for a program started
/// by a test, such as `enclave serve` with `ENCLAVE_DATABASE__URL`).
pub async fn fresh_database_url() -> Option<(PgConnectOptions, String)> {
    let db = fresh_database().await?;
    let server = server().await?;
    let name = db.get_database().expect("a fresh database has a name");
    let url = with_database(&server.admin_url, name);
    Some((db, url))
}

/// `url` with its database (the path) replaced by `name`; the query string is kept.
fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (main, query) = match rest.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (rest, None),
    };
    let authority = main.split_once('/').map_or(main, |(a, _)| a);
    match query {
        Some(q) => format!("{scheme}://{authority}/{name}?{q}"),
        None => format!("{scheme}://{authority}/{name}"),
    }
}

/// Drops a database made by [`fresh_database`] on a server given by `ENCLAVE_TEST_PG_URL` (the
/// harness's own server goes away with this process, its databases with it).
pub async fn drop_database(db: &PgConnectOptions) {
    let Some(server) = server().await else {
        return;
    };
    let Some(name) = db.get_database().filter(|_| server.external) else {
        return;
    };
    let mut conn = server
        .admin
        .connect()
        .await
        .expect("connect to the test server");
    conn.execute(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .await
    .expect("drop a test database");
    conn.close().await.expect("disconnect");
}

/// PostgreSQL's programs are not installed (the reason is in the message).
struct Missing(String);

fn start() -> Result<Server, Missing> {
    if let Ok(url) = std::env::var("ENCLAVE_TEST_PG_URL") {
        let admin: PgConnectOptions = url
            .parse()
            .unwrap_or_else(|e| panic!("ENCLAVE_TEST_PG_URL is not a PostgreSQL URL: {e}"));
        return Ok(Server {
            admin,
            admin_url: url,
            external: true,
            _watchdog: None,
        });
    }
    let bin = find_bindir().ok_or_else(|| {
        Missing("no PostgreSQL server programs (initdb, pg_ctl) were found".into())
    })?;
    let as_root = run_capture(Command::new("id").arg("-u")).trim() == "0";
    let template = template(&bin, as_root);

    // This process's copy, in a directory only the server's user needs.
    let dir = tempfile::Builder::new()
        .prefix("enclave-pg-")
        .tempdir()
        .expect("create a temporary directory")
        .keep();
    if as_root {
        run(Command::new("chown").arg("postgres:").arg(&dir));
    }
    let data = dir.join("data");
    run(Command::new("cp").arg("-a").arg(&template).arg(&data));

    let pg_ctl = bin.join("pg_ctl");
    let mut last_error = String::new();
    for _ in 0..5 {
        let port = free_port();
        let mut cmd = as_server_user(as_root, &pg_ctl);
        cmd.current_dir(&dir)
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("server.log"))
            .arg("-w")
            .arg("-t")
            .arg("60")
            .arg("-o")
            .arg(format!(
                "-c listen_addresses=127.0.0.1 -p {port} -k {} -c max_connections=400 \
                 -c fsync=off -c full_page_writes=off -c shared_buffers=32MB",
                dir.display()
            ))
            .arg("start")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let status = cmd.status().expect("run pg_ctl");
        if status.success() {
            let watchdog = watchdog(as_root, &pg_ctl, &data, &dir);
            let admin = PgConnectOptions::new()
                .host("127.0.0.1")
                .port(port)
                .username("postgres")
                .database("postgres");
            return Ok(Server {
                admin,
                admin_url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
                external: false,
                _watchdog: Some(watchdog),
            });
        }
        last_error = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    }
    panic!("PostgreSQL did not start; its log:\n{last_error}");
}

/// Stops the server and removes `dir` when this process's end closes the watchdog's stdin.
fn watchdog(as_root: bool, pg_ctl: &Path, data: &Path, dir: &Path) -> (Child, ChildStdin) {
    let stop = if as_root {
        "runuser -u postgres -- \"$0\" -D \"$1\" -m immediate -w stop"
    } else {
        "\"$0\" -D \"$1\" -m immediate -w stop"
    };
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "while read -r _; do :; done; {stop} >/dev/null 2>&1; rm -rf \"$2\""
        ))
        .arg(pg_ctl)
        .arg(data)
        .arg(dir)
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the PostgreSQL watchdog");
    let mut stdin = child.stdin.take().expect("the watchdog's stdin");
    let _ = stdin.write_all(b"\n");
    (child, stdin)
}

/// A freshly initialised data directory, made once per PostgreSQL version and reused (copied)
/// by every test process after.
fn template(bin: &Path, as_root: bool) -> PathBuf {
    let version = run_capture(Command::new(bin.join("initdb")).arg("--version"));
    let key: u64 = version
        .bytes()
        .chain(bin.to_string_lossy().bytes())
        .fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
    let root = std::env::temp_dir();
    let template = root.join(format!("enclave-pg-template-{key:016x}"));
    if template.join("PG_VERSION").exists() {
        return template;
    }
    let scratch = tempfile::Builder::new()
        .prefix("enclave-pg-initdb-")
        .tempdir_in(&root)
        .expect("create a temporary directory")
        .keep();
    if as_root {
        run(Command::new("chown").arg("postgres:").arg(&scratch));
    }
    let data = scratch.join("data");
    run(as_server_user(as_root, &bin.join("initdb"))
        .current_dir(&scratch)
        .arg("-D")
        .arg(&data)
        .arg("-U")
        .arg("postgres")
        .arg("--auth=trust")
        .arg("-E")
        .arg("UTF8")
        .arg("--locale=C")
        .arg("--no-sync"));
    // Another process may have won the race; either copy is good.
    if std::fs::rename(&data, &template).is_err() && !template.join("PG_VERSION").exists() {
        panic!(
            "could not store the PostgreSQL template at {}",
            template.display()
        );
    }
    let _ = std::fs::remove_dir_all(&scratch);
    template
}

fn as_server_user(as_root: bool, program: &Path) -> Command {
    if as_root {
        let mut cmd = Command::new("runuser");
        cmd.arg("-u").arg("postgres").arg("--").arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn find_bindir() -> Option<PathBuf> {
    let has_tools = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    let mut candidates = Vec::new();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        candidates.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    }
    // Debian keeps the server programs in a versioned folder; newest first.
    let mut versioned: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((v, e.path().join("bin")))
        })
        .collect();
    versioned.sort_by_key(|(v, _)| std::cmp::Reverse(*v));
    candidates.extend(versioned.into_iter().map(|(_, p)| p));
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path));
    }
    candidates.push(PathBuf::from("/usr/local/pgsql/bin"));
    candidates.into_iter().find(|d| has_tools(d))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("find a free port")
        .port()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn run_capture(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_urls() {
        assert_eq!(
            super::with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            super::with_database("postgresql://u:p@db/admin?sslmode=disable", "t2"),
            "postgresql://u:p@db/t2?sslmode=disable"
        );
        assert_eq!(
            super::with_database("postgres://u@db:5433", "t3"),
            "postgres://u@db:5433/t3"
        );
    }
}
