//! `enclave backup` and `enclave restore`: online backups that either backend can restore.
//!
//! ```text
//! enclave backup --to /srv/backups                 # beside the running server
//! enclave restore /srv/backups/enclave-backup-20261203T140000Z --data /var/lib/enclave-new
//! ENCLAVE_DATABASE__URL=postgres://... enclave restore BACKUP   # into an empty PostgreSQL
//! ```
//!
//! A backup is a folder `enclave-backup-<UTC time>` inside `--to`, written as
//! `<name>.partial` and renamed once complete:
//!
//! - `manifest.json`: format version, Enclave version, creation time, the source backend, the
//!   counts per table, the size and SHA-256 of every part (tables, objects, key);
//! - `tables/NAME.jsonl.gz`: every table of the database from one snapshot
//!   (`enclave_store::backup`);
//! - `objects/...`: the file objects the snapshot's files refer to, exactly as stored (still
//!   encrypted under the file master key);
//! - `master-key.json`, only with `--with-key`: the file master keys wrapped under a passphrase
//!   (Argon2id, then AES-256-GCM).
//!
//! A restore checks the format, then every part's size and SHA-256 (and every row of every
//! table) before it writes anything; it refuses a target that holds data.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write as _};
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::{Context, bail};
use base64::Engine as _;
use enclave_store::backup::{self, Database, Dump};
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::config::{Config, GENERATED_KEY_FILE};

/// The backup format this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;
pub const MANIFEST: &str = "manifest.json";
pub const OBJECTS_DIR: &str = "objects";
pub const KEY_FILE: &str = "master-key.json";
/// The largest manifest a restore reads.
const MAX_MANIFEST_BYTES: u64 = 1 << 30;
/// The environment variable that carries the passphrase of `--with-key` (and of the restore of
/// a backup with a key); without it the passphrase is asked on the terminal.
pub const PASSPHRASE_ENV: &str = "ENCLAVE_BACKUP_PASSPHRASE";
/// The shortest passphrase accepted for wrapping the key.
const MIN_PASSPHRASE: usize = 12;

#[derive(clap::Args, Debug)]
pub struct BackupArgs {
    /// The folder to write the backup into (a new folder `enclave-backup-<time>` is made in it).
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// Also write the file master keys, wrapped under a passphrase (from
    /// ENCLAVE_BACKUP_PASSPHRASE, or asked for).
    #[arg(long)]
    pub with_key: bool,
}

#[derive(clap::Args, Debug)]
pub struct RestoreArgs {
    /// The backup folder (the one holding manifest.json).
    #[arg(value_name = "BACKUP")]
    pub backup: PathBuf,
    /// Only check the backup (every checksum); write nothing.
    #[arg(long)]
    pub verify_only: bool,
}

/// One part outside the tables: an object or the wrapped key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ObjectPart {
    /// The object's name in the file store (and its path under `objects/`).
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub enclave_version: String,
    /// Milliseconds since the epoch when the snapshot was taken.
    pub created_at: i64,
    pub database: Dump,
    pub objects: Vec<ObjectPart>,
    /// Objects a row named but the store no longer had (deleted after the snapshot).
    #[serde(default)]
    pub missing_objects: Vec<String>,
    /// The wrapped key's file, when the backup has one.
    #[serde(default)]
    pub key: Option<ObjectPart>,
}

/// The file master keys, as wrapped into `master-key.json`.
#[derive(Serialize, Deserialize)]
struct Keys {
    current_id: String,
    current: String,
    previous: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
struct WrappedKeys {
    kdf: String,
    m_cost: u32,
    t_cost: u32,
    p_cost: u32,
    salt: String,
    cipher: String,
    nonce: String,
    sealed: String,
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

fn derive(passphrase: &str, salt: &[u8], m: u32, t: u32, p: u32) -> anyhow::Result<[u8; 32]> {
    let params = argon2::Params::new(m, t, p, Some(32))
        .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = [0u8; 32];
    argon
        .hash_password_into(passphrase.as_bytes(), salt, &mut out)
        .map_err(|e| anyhow::anyhow!("deriving the wrapping key: {e}"))?;
    Ok(out)
}

const AAD: &[u8] = b"enclave backup master keys v1";

fn wrap_keys(keys: &Keys, passphrase: &str) -> anyhow::Result<WrappedKeys> {
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("random: {e}"))?;
    getrandom::fill(&mut nonce).map_err(|e| anyhow::anyhow!("random: {e}"))?;
    let (m, t, p) = (65536, 3, 1);
    let key = derive(passphrase, &salt, m, t, p)?;
    let plain = serde_json::to_vec(keys)?;
    let sealed = Aes256Gcm::new_from_slice(&key)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &plain,
                aad: AAD,
            },
        )
        .map_err(|_| anyhow::anyhow!("sealing the keys failed"))?;
    Ok(WrappedKeys {
        kdf: "argon2id".into(),
        m_cost: m,
        t_cost: t,
        p_cost: p,
        salt: b64().encode(salt),
        cipher: "aes-256-gcm".into(),
        nonce: b64().encode(nonce),
        sealed: b64().encode(sealed),
    })
}

fn unwrap_keys(w: &WrappedKeys, passphrase: &str) -> anyhow::Result<Keys> {
    if w.kdf != "argon2id" || w.cipher != "aes-256-gcm" {
        bail!(
            "the key is wrapped with {} / {}, unknown here",
            w.kdf,
            w.cipher
        );
    }
    if w.m_cost > 4 << 20 || w.t_cost > 64 || w.p_cost > 64 {
        bail!("the key's argon2 parameters are out of bounds");
    }
    let salt = b64().decode(&w.salt).context("the key's salt")?;
    let nonce: [u8; 12] = b64()
        .decode(&w.nonce)
        .context("the key's nonce")?
        .try_into()
        .map_err(|_| anyhow::anyhow!("the key's nonce is not 12 bytes"))?;
    let sealed = b64().decode(&w.sealed).context("the sealed key")?;
    let key = derive(passphrase, &salt, w.m_cost, w.t_cost, w.p_cost)?;
    let plain = Aes256Gcm::new_from_slice(&key)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &sealed,
                aad: AAD,
            },
        )
        .map_err(|_| anyhow::anyhow!("wrong passphrase (or a damaged key file)"))?;
    Ok(serde_json::from_slice(&plain)?)
}

fn passphrase(confirm: bool) -> anyhow::Result<String> {
    if let Ok(p) = std::env::var(PASSPHRASE_ENV) {
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() {
        bail!("set {PASSPHRASE_ENV} to the passphrase (standard input is not a terminal)");
    }
    let p = rpassword::prompt_password("Backup key passphrase: ")?;
    if confirm && rpassword::prompt_password("Again: ")? != p {
        bail!("the passphrases differ");
    }
    Ok(p)
}

/// The raw master keys of the configuration (as `Config::key_ring` reads them).
fn raw_keys(config: &Config) -> anyhow::Result<Keys> {
    let f = &config.files;
    let current = if !f.master_key.is_empty() {
        f.master_key.trim().to_owned()
    } else {
        let path = if f.master_key_file.is_empty() {
            config.data_dir.join(GENERATED_KEY_FILE)
        } else {
            PathBuf::from(&f.master_key_file)
        };
        std::fs::read_to_string(&path)
            .with_context(|| format!("reading the file master key {}", path.display()))?
            .trim()
            .to_owned()
    };
    // Checks every key decodes, as the server would.
    config.key_ring()?;
    Ok(Keys {
        current_id: f.master_key_id.clone(),
        current,
        previous: f
            .previous_keys
            .iter()
            .map(|(k, v)| (k.clone(), v.trim().to_owned()))
            .collect(),
    })
}

fn database(config: &Config) -> anyhow::Result<Database> {
    if config.is_postgres() {
        let connect = config
            .database
            .url
            .parse()
            .map_err(|e| anyhow::anyhow!("database.url: {e}"))?;
        Ok(Database::Postgres(Box::new(connect)))
    } else {
        Ok(Database::Sqlite(config.database_path()))
    }
}

/// Progress on standard error: a bar on a terminal, a line per table otherwise.
struct Display {
    tty: bool,
    bar: Mutex<Option<(&'static str, ProgressBar)>>,
    last: Mutex<Option<Instant>>,
    /// Tables whose last line was printed.
    ended: Mutex<std::collections::HashSet<&'static str>>,
    verb: &'static str,
}

impl Display {
    fn new(verb: &'static str) -> Self {
        Display {
            tty: std::io::stderr().is_terminal(),
            bar: Mutex::new(None),
            last: Mutex::new(None),
            ended: Mutex::new(std::collections::HashSet::new()),
            verb,
        }
    }

    fn update(&self, p: backup::Progress) {
        if self.tty {
            let mut guard = self.bar.lock().unwrap_or_else(|e| e.into_inner());
            if guard.as_ref().is_none_or(|(t, _)| *t != p.table) {
                if let Some((_, old)) = guard.take() {
                    old.finish();
                }
                let bar =
                    ProgressBar::with_draw_target(Some(p.total), ProgressDrawTarget::stderr());
                bar.set_style(
                    ProgressStyle::with_template("{prefix:>24} [{bar:30}] {pos:>9}/{len:<9} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                );
                bar.set_prefix(p.table);
                bar.set_message(self.verb);
                *guard = Some((p.table, bar));
            }
            if let Some((_, bar)) = guard.as_ref() {
                bar.set_length(p.total.max(p.done));
                bar.set_position(p.done);
            }
            return;
        }
        let finished = p.done >= p.total;
        let mut ended = self.ended.lock().unwrap_or_else(|e| e.into_inner());
        if ended.contains(p.table) {
            return;
        }
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let due = last.is_none_or(|t| t.elapsed() >= Duration::from_secs(2));
        if finished {
            ended.insert(p.table);
        }
        if finished || (due && p.done > 0) {
            *last = Some(Instant::now());
            eprintln!("{} {}: {}/{} rows", self.verb, p.table, p.done, p.total);
        }
    }

    fn finish(&self) {
        if let Some((_, bar)) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            bar.finish();
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An object's path inside the backup: its name's components, none of them special.
fn object_path(root: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let rel = Path::new(name);
    if name.is_empty()
        || name.len() > 1024
        || name.contains('\\')
        || !rel
            .components()
            .all(|c| matches!(c, Component::Normal(s) if !s.is_empty()))
    {
        bail!("object name {name:?} is not a plain relative name");
    }
    Ok(root.join(OBJECTS_DIR).join(rel))
}

// ---------------------------------------------------------------------------------------------
// Backup

/// What a backup wrote.
pub struct Written {
    pub path: PathBuf,
    pub manifest: Manifest,
    pub elapsed: Duration,
}

pub fn run_backup(config: &Config, args: &BackupArgs) -> anyhow::Result<()> {
    let key = if args.with_key {
        let keys = raw_keys(config)?;
        let p = passphrase(true)?;
        if p.chars().count() < MIN_PASSPHRASE {
            bail!("the passphrase must have at least {MIN_PASSPHRASE} characters");
        }
        Some(wrap_keys(&keys, &p)?)
    } else {
        None
    };
    let display = Display::new("backed up");
    let written = runtime()?.block_on(take_backup(config, &args.to, key, &|p| display.update(p)));
    display.finish();
    let written = written?;
    let m = &written.manifest;
    println!("{:<24} {:>12}", "table", "rows");
    for t in &m.database.tables {
        println!("{:<24} {:>12}", t.table, t.rows);
    }
    let object_bytes: u64 = m.objects.iter().map(|o| o.bytes).sum();
    println!(
        "OK: backup {} written in {:.1} s: {} rows in {} tables, {} file objects ({object_bytes} bytes){}{}",
        written.path.display(),
        written.elapsed.as_secs_f64(),
        m.database.total_rows(),
        m.database.tables.len(),
        m.objects.len(),
        if m.missing_objects.is_empty() {
            String::new()
        } else {
            format!(
                ", {} objects deleted after the snapshot",
                m.missing_objects.len()
            )
        },
        if m.key.is_some() {
            ", the master keys wrapped under the passphrase"
        } else {
            "; the file master key is NOT in the backup: keep it apart (docs/admin/backup.md)"
        }
    );
    Ok(())
}

/// Takes one backup into a new folder inside `to`.
async fn take_backup(
    config: &Config,
    to: &Path,
    key: Option<WrappedKeys>,
    progress: &(dyn Fn(backup::Progress) + Sync),
) -> anyhow::Result<Written> {
    let started = Instant::now();
    let source = database(config)?;
    if let Database::Sqlite(path) = &source
        && !path.is_file()
    {
        bail!(
            "no database at {} (is --data or database.url right?)",
            path.display()
        );
    }
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    let created_at = enclave_core::Millis::now().0;
    let stamp = time::OffsetDateTime::now_utc()
        .format(&time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .context("formatting the time")?;
    let name = format!("enclave-backup-{stamp}");
    let done = to.join(&name);
    if done.exists() {
        bail!("{} already exists", done.display());
    }
    let partial = to.join(format!("{name}.partial"));
    if partial.exists() {
        std::fs::remove_dir_all(&partial)
            .with_context(|| format!("removing {}", partial.display()))?;
    }
    std::fs::create_dir_all(&partial).with_context(|| format!("creating {}", partial.display()))?;
    let result = write_backup(config, &source, &partial, created_at, key, progress).await;
    let manifest = match result {
        Ok(m) => m,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, &done).with_context(|| format!("naming {}", done.display()))?;
    Ok(Written {
        path: done,
        manifest,
        elapsed: started.elapsed(),
    })
}

async fn write_backup(
    config: &Config,
    source: &Database,
    dir: &Path,
    created_at: i64,
    key: Option<WrappedKeys>,
    progress: &(dyn Fn(backup::Progress) + Sync),
) -> anyhow::Result<Manifest> {
    let dump = backup::dump(source, dir, progress).await?;
    // The objects of the snapshot's files, as stored.
    let blobs = enclave_files::Blobs::open(&config.blob_config())?;
    let mut objects = Vec::with_capacity(dump.objects.len());
    let mut missing = Vec::new();
    let total = dump.objects.len() as u64;
    progress(backup::Progress {
        table: "file objects",
        done: 0,
        total,
    });
    for (i, name) in dump.objects.iter().enumerate() {
        let path = object_path(dir, name)?;
        let mut stream = match blobs.get_stream(name).await {
            Ok(s) => s,
            Err(enclave_files::Error::NotFound) => {
                missing.push(name.clone());
                continue;
            }
            Err(e) => return Err(anyhow::Error::new(e).context(format!("reading object {name}"))),
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut file = std::io::BufWriter::new(
            std::fs::File::create(&path).with_context(|| format!("{}", path.display()))?,
        );
        let mut hash = Sha256::new();
        let mut bytes = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.with_context(|| format!("reading object {name}"))?;
            hash.update(&chunk);
            bytes += chunk.len() as u64;
            file.write_all(&chunk)?;
        }
        file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        objects.push(ObjectPart {
            name: name.clone(),
            bytes,
            sha256: hash.finalize().iter().map(|b| format!("{b:02x}")).collect(),
        });
        progress(backup::Progress {
            table: "file objects",
            done: i as u64 + 1,
            total,
        });
    }
    progress(backup::Progress {
        table: "file objects",
        done: total,
        total,
    });
    let key = match key {
        Some(w) => {
            let bytes = serde_json::to_vec_pretty(&w)?;
            std::fs::write(dir.join(KEY_FILE), &bytes)?;
            Some(ObjectPart {
                name: KEY_FILE.into(),
                bytes: bytes.len() as u64,
                sha256: sha256_hex(&bytes),
            })
        }
        None => None,
    };
    let manifest = Manifest {
        format: FORMAT_VERSION,
        enclave_version: env!("CARGO_PKG_VERSION").into(),
        created_at,
        database: dump,
        objects,
        missing_objects: missing,
        key,
    };
    let mut file = std::fs::File::create(dir.join(MANIFEST))?;
    file.write_all(&serde_json::to_vec_pretty(&manifest)?)?;
    file.sync_all()?;
    Ok(manifest)
}

// ---------------------------------------------------------------------------------------------
// Scheduled backups

/// The `backup` job: a backup into `[backup] to` every `interval_secs` (without the master key),
/// then the removal of all but the newest `keep` backups there. Its runs are logged by the
/// scheduler (start, report or error) and kept in the job's status.
pub struct ScheduledBackup {
    config: Config,
}

impl ScheduledBackup {
    pub fn new(config: &Config) -> Self {
        ScheduledBackup {
            config: config.clone(),
        }
    }
}

/// The complete backups in `to`, oldest first (their names sort by time).
pub fn backups_in(to: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(to)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("enclave-backup-") && !n.ends_with(".partial"))
        })
        .collect();
    found.sort();
    Ok(found)
}

/// Removes all but the newest `keep` backups in `to`; returns how many were removed.
pub fn prune_backups(to: &Path, keep: usize) -> std::io::Result<usize> {
    let found = backups_in(to)?;
    let extra = found.len().saturating_sub(keep);
    for old in &found[..extra] {
        std::fs::remove_dir_all(old)?;
    }
    Ok(extra)
}

fn job_error(e: impl std::fmt::Display) -> enclave_app::Error {
    enclave_app::Error::Internal(std::sync::Arc::new(std::io::Error::other(e.to_string())))
}

impl enclave_app::jobs::Job for ScheduledBackup {
    fn name(&self) -> &'static str {
        "backup"
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(self.config.backup.interval_secs)
    }

    fn once_per_cluster(&self) -> bool {
        true
    }

    fn run<'a>(
        &'a self,
        _ctx: &'a enclave_app::jobs::JobCtx,
    ) -> futures_util::future::BoxFuture<'a, enclave_app::Result<enclave_app::jobs::JobReport>>
    {
        Box::pin(async move {
            let config = self.config.clone();
            let to = PathBuf::from(&config.backup.to);
            let keep = config.backup.keep as usize;
            let handle = tokio::runtime::Handle::current();
            // The SQLite snapshot and the file copies block: on a thread of their own.
            let written = tokio::task::spawn_blocking(move || {
                handle.block_on(take_backup(&config, &to, None, &|_| {}))
            })
            .await
            .map_err(job_error)?
            .map_err(|e| job_error(format!("{e:#}")))?;
            let to = PathBuf::from(&self.config.backup.to);
            let removed = prune_backups(&to, keep)
                .map_err(|e| job_error(format!("removing old backups in {}: {e}", to.display())))?;
            let m = &written.manifest;
            Ok(enclave_app::jobs::JobReport {
                n_items: m.database.total_rows(),
                summary: format!(
                    "backup {} written in {:.1} s: {} rows, {} file objects{}; {removed} older backup(s) removed, {keep} kept at most",
                    written.path.display(),
                    written.elapsed.as_secs_f64(),
                    m.database.total_rows(),
                    m.objects.len(),
                    if m.missing_objects.is_empty() {
                        String::new()
                    } else {
                        format!(" ({} deleted after the snapshot)", m.missing_objects.len())
                    }
                ),
            })
        })
    }
}

/// Manifests larger than this are not read for the admin console's list (the backup is listed
/// with a problem instead): a manifest lists every file object, and the list is read per request.
const MAX_LISTED_MANIFEST_BYTES: u64 = 64 << 20;

/// The backup folder of `[backup]`, for the admin console (`enclave_app::backups`).
pub struct BackupFolderView {
    config: Config,
}

impl BackupFolderView {
    pub fn new(config: &Config) -> Self {
        BackupFolderView {
            config: config.clone(),
        }
    }
}

/// One backup as listed: the counts of its manifest.
fn list_entry(dir: &Path) -> enclave_app::backups::BackupEntry {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut entry = enclave_app::backups::BackupEntry {
        name,
        created_at: enclave_core::Millis(0),
        enclave_version: String::new(),
        backend: String::new(),
        bytes: 0,
        tables: 0,
        rows: 0,
        objects: 0,
        missing_objects: 0,
        with_key: false,
        problem: None,
    };
    let too_big = std::fs::metadata(dir.join(MANIFEST))
        .map(|m| m.len() > MAX_LISTED_MANIFEST_BYTES)
        .unwrap_or(false);
    if too_big {
        entry.problem = Some(format!(
            "{MANIFEST} is larger than {MAX_LISTED_MANIFEST_BYTES} bytes: check it with enclave restore --verify-only"
        ));
        return entry;
    }
    match read_manifest(dir) {
        Ok(m) => {
            entry.created_at = enclave_core::Millis(m.created_at);
            entry.enclave_version = m.enclave_version;
            entry.backend = m.database.backend.clone();
            entry.tables = m.database.tables.len() as u64;
            entry.rows = m.database.total_rows();
            entry.objects = m.objects.len() as u64;
            entry.missing_objects = m.missing_objects.len() as u64;
            entry.with_key = m.key.is_some();
            entry.bytes = m
                .database
                .tables
                .iter()
                .map(|t| t.bytes)
                .chain(m.objects.iter().map(|o| o.bytes))
                .chain(m.key.iter().map(|k| k.bytes))
                .fold(0u64, u64::saturating_add);
        }
        Err(e) => entry.problem = Some(format!("{e:#}")),
    }
    entry
}

impl enclave_app::backups::BackupFolder for BackupFolderView {
    fn schedule(&self) -> Option<enclave_app::backups::BackupSchedule> {
        let b = &self.config.backup;
        (!b.to.is_empty()).then(|| enclave_app::backups::BackupSchedule {
            to: b.to.clone(),
            interval_secs: b.interval_secs,
            keep: b.keep,
        })
    }

    fn list(&self, max: usize) -> std::io::Result<Vec<enclave_app::backups::BackupEntry>> {
        let to = PathBuf::from(&self.config.backup.to);
        let found = match backups_in(&to) {
            Ok(found) => found,
            // Not made yet: the first backup makes it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        Ok(found
            .iter()
            .rev()
            .take(max)
            .map(|d| list_entry(d))
            .collect())
    }
}

// ---------------------------------------------------------------------------------------------
// Restore

/// Reads the manifest and checks its format.
fn read_manifest(dir: &Path) -> anyhow::Result<Manifest> {
    let path = dir.join(MANIFEST);
    let meta = std::fs::metadata(&path)
        .with_context(|| format!("{}: not a backup (no {MANIFEST})", dir.display()))?;
    if meta.len() > MAX_MANIFEST_BYTES {
        bail!("{}: larger than {MAX_MANIFEST_BYTES} bytes", path.display());
    }
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    // The format first, so that a newer backup is refused as such.
    #[derive(Deserialize)]
    struct Head {
        format: u32,
        #[serde(default)]
        enclave_version: String,
    }
    let head: Head = serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: damaged or cut short", path.display()))?;
    if head.format > FORMAT_VERSION {
        bail!(
            "the backup has format {} (written by enclave {}); this enclave reads formats up to {FORMAT_VERSION}: restore it with a newer release",
            head.format,
            head.enclave_version
        );
    }
    serde_json::from_slice(&bytes).with_context(|| format!("{}: damaged", path.display()))
}

/// Checks every part outside the tables: objects and key.
fn verify_objects(dir: &Path, m: &Manifest) -> anyhow::Result<()> {
    let mut seen = std::collections::HashSet::new();
    let total = m.objects.len() as u64;
    for (i, o) in m.objects.iter().chain(m.key.iter()).enumerate() {
        let path = if m.key.as_ref() == Some(o) {
            if o.name != KEY_FILE {
                bail!("the key part must be {KEY_FILE}");
            }
            dir.join(KEY_FILE)
        } else {
            if !seen.insert(o.name.as_str()) {
                bail!("object {} is listed twice", o.name);
            }
            object_path(dir, &o.name)?
        };
        let (bytes, sha) = backup::sha256_file(&path)?;
        if bytes != o.bytes || sha != o.sha256 {
            bail!(
                "{}: {bytes} bytes with SHA-256 {sha}; the manifest says {} bytes with {}",
                path.display(),
                o.bytes,
                o.sha256
            );
        }
        if (i as u64 + 1).is_multiple_of(1000) {
            eprintln!("checked {}/{total} file objects", i + 1);
        }
    }
    Ok(())
}

pub fn run_restore(config: &Config, data_given: bool, args: &RestoreArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let dir = &args.backup;
    let manifest = read_manifest(dir)?;
    eprintln!(
        "backup of {} (enclave {}, {} backend): {} rows, {} file objects",
        time::OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(manifest.created_at) * 1_000_000
        )
        .ok()
        .and_then(|t| t
            .format(&time::format_description::well_known::Rfc3339)
            .ok())
        .unwrap_or_default(),
        manifest.enclave_version,
        manifest.database.backend,
        manifest.database.total_rows(),
        manifest.objects.len()
    );
    // Everything is checked before anything is written.
    let checking = Display::new("checked");
    backup::verify_parts(dir, &manifest.database, &|p| checking.update(p))?;
    checking.finish();
    verify_objects(dir, &manifest)?;
    eprintln!("every checksum matches");
    let keys = match &manifest.key {
        Some(_) if !args.verify_only => {
            let bytes = std::fs::read(dir.join(KEY_FILE))?;
            let wrapped: WrappedKeys =
                serde_json::from_slice(&bytes).with_context(|| format!("{KEY_FILE} is damaged"))?;
            Some(unwrap_keys(&wrapped, &passphrase(false)?)?)
        }
        _ => None,
    };
    if args.verify_only {
        println!(
            "OK: {} is complete: {} rows in {} tables and {} file objects verified; nothing was written",
            dir.display(),
            manifest.database.total_rows(),
            manifest.database.tables.len(),
            manifest.objects.len()
        );
        return Ok(());
    }
    let target = database(config)?;
    // The default data folder is never guessed: the database file or the file objects would go
    // into whatever `./enclave-data` the command happens to run beside.
    let data_named = data_given || config.data_dir != Config::default().data_dir;
    let local_files = matches!(
        config.blob_config(),
        enclave_files::BlobConfig::Local { .. }
    );
    let local_db = matches!(target, Database::Sqlite(_)) && config.database.url.is_empty();
    if !data_named && (local_db || local_files) {
        bail!("say where to restore: --data DIR (a new, empty data folder)");
    }
    // The target must be empty: the database, and a local file store.
    let runtime = runtime()?;
    runtime.block_on(backup::check_empty(&target))?;
    let blob_config = config.blob_config();
    if let enclave_files::BlobConfig::Local { root } = &blob_config
        && std::fs::read_dir(root).is_ok_and(|mut d| d.next().is_some())
    {
        bail!(
            "the target is not empty ({} holds files); restore into an empty data folder",
            root.display()
        );
    }
    let key_path = config.data_dir.join(GENERATED_KEY_FILE);
    if keys.is_some() && key_path.exists() {
        bail!("the target is not empty ({} exists)", key_path.display());
    }
    eprintln!("restoring into {}", describe(&target));
    let writing = Display::new("restored");
    let counts = runtime.block_on(backup::restore(dir, &manifest.database, &target, &|p| {
        writing.update(p)
    }));
    writing.finish();
    let counts = counts?;
    // The objects, as stored.
    let blobs = enclave_files::Blobs::open(&blob_config)?;
    let total = manifest.objects.len();
    runtime.block_on(async {
        for (i, o) in manifest.objects.iter().enumerate() {
            let path = object_path(dir, &o.name)?;
            let data = std::fs::read(&path).with_context(|| format!("{}", path.display()))?;
            if sha256_hex(&data) != o.sha256 {
                bail!("{} changed during the restore", path.display());
            }
            let mut w = blobs.writer(&o.name).await?;
            for chunk in data.chunks(1 << 20) {
                w.write(chunk).await?;
            }
            w.finish().await?;
            if (i + 1) % 100 == 0 || i + 1 == total {
                eprintln!("restored {}/{total} file objects", i + 1);
            }
        }
        Ok(())
    })?;
    if let Some(keys) = keys {
        write_keys(config, &keys)?;
    }
    println!("{:<24} {:>12}", "table", "rows");
    for (table, rows) in &counts {
        println!("{table:<24} {rows:>12}");
    }
    let rows: u64 = counts.iter().map(|(_, n)| n).sum();
    println!(
        "OK: restored {rows} rows in {} tables and {total} file objects into {} in {:.1} s{}",
        counts.len(),
        describe(&target),
        started.elapsed().as_secs_f64(),
        if manifest.key.is_some() {
            "; the file master keys were restored"
        } else {
            "; this backup has no file master key: configure the original one ([files] master_key or file-master.key) before starting enclave"
        }
    );
    Ok(())
}

fn describe(target: &Database) -> String {
    match target {
        Database::Sqlite(p) => p.display().to_string(),
        Database::Postgres(c) => format!(
            "PostgreSQL database {} on {}:{}",
            c.get_database().unwrap_or("?"),
            c.get_host(),
            c.get_port()
        ),
    }
}

/// Writes the restored keys: the current one as the data folder's key file, earlier ones (if
/// any) in `restored-keys.toml` beside it, for the `[files]` configuration.
fn write_keys(config: &Config, keys: &Keys) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)?;
    let path = config.data_dir.join(GENERATED_KEY_FILE);
    std::fs::write(&path, format!("{}\n", keys.current))
        .with_context(|| format!("writing {}", path.display()))?;
    let mut note = format!(
        "# The file master keys restored from a backup. The current key is in {GENERATED_KEY_FILE};\n# its id must be configured as below.\n[files]\nmaster_key_id = {:?}\n",
        keys.current_id
    );
    if !keys.previous.is_empty() {
        note.push_str("[files.previous_keys]\n");
        for (id, key) in &keys.previous {
            note.push_str(&format!("{id:?} = {key:?}\n"));
        }
    }
    let toml = config.data_dir.join("restored-keys.toml");
    std::fs::write(&toml, note).with_context(|| format!("writing {}", toml.display()))?;
    eprintln!(
        "the file master key is in {}; the key ids are in {}",
        path.display(),
        toml.display()
    );
    Ok(())
}
