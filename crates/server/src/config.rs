//! Configuration: defaults, then a TOML file (`--config`), then `ENCLAVE_*` environment
//! variables, then command-line flags. Validated once at startup into typed values and passed
//! explicitly; there is no global configuration.
//!
//! Environment variables name a key by its path: `ENCLAVE_LISTEN`, `ENCLAVE_DATA_DIR`, and for
//! keys in a section `ENCLAVE_<SECTION>__<KEY>` (for example `ENCLAVE_TLS__CERT`,
//! `ENCLAVE_AUTH__SESSION_TTL_DAYS`).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// The whole configuration file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address and port to listen on. The default serves this machine only.
    pub listen: String,
    /// Folder for the database and files; created if missing.
    pub data_dir: PathBuf,
    /// `text` for people, `json` for log collectors.
    pub log_format: String,
    /// Default log filter (`RUST_LOG` overrides it), e.g. `info` or `enclave=debug,info`.
    pub log_level: String,
    pub database: DatabaseConfig,
    pub tls: TlsConfig,
    pub http: HttpSection,
    pub auth: AuthSection,
    pub realtime: RealtimeSection,
    pub cluster: ClusterConfig,
    pub files: FilesSection,
    pub rate_limits: RateLimitsSection,
    pub audit: AuditSection,
    pub backup: BackupSection,
    pub retention: RetentionSection,
    pub guests: GuestsSection,
    pub outbound: OutboundSection,
    pub oidc: OidcSection,
    pub ldap: LdapSection,
    pub webauthn: WebAuthnSection,
}

/// Security keys and passkeys as a second factor (docs/admin/second-factor.md). A WebAuthn
/// credential is bound to the relying party: the domain people open Enclave at. Each key left
/// empty is derived: `origin` from `[oidc] public_url`, else from `listen` as
/// `http(s)://localhost:PORT`; `rp_id` from the origin's host.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebAuthnSection {
    /// The relying-party id, e.g. `chat.example.org` (or a parent domain, `example.org`). Keys
    /// registered under one id do not work under another.
    pub rp_id: String,
    /// The name authenticators show.
    pub rp_name: String,
    /// The address people open Enclave at, e.g. `https://chat.example.org` (browsers allow
    /// WebAuthn only over HTTPS, or on `localhost`).
    pub origin: String,
}

impl Default for WebAuthnSection {
    fn default() -> Self {
        WebAuthnSection {
            rp_id: String::new(),
            rp_name: "Enclave".into(),
            origin: String::new(),
        }
    }
}

/// Requests Enclave makes to other servers (OIDC providers; docs/admin/sso.md). Nothing leaves
/// the organisation unless an administrator listed it: a request to any other host is refused.
/// Each OIDC provider's issuer host (with its port) is allowed implicitly, since configuring
/// the provider names it; endpoints the provider's discovery document puts on other hosts
/// (keys, token endpoint) must be listed here.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboundSection {
    /// `host` (any port) or `host:port`, e.g. `["login.microsoftonline.com", "idp.corp:8443"]`.
    pub allow: Vec<String>,
    /// Addresses or networks (`10.0.0.0/8`, `127.0.0.1`, `fd00::/8`) that may be reached although
    /// they are loopback, link-local or private: without them, a host on `allow` that is (or
    /// resolves to) such an address is refused. The OIDC issuers are trusted by name.
    pub allow_private: Vec<String>,
    /// Allow `http://` (no TLS). Only for a lab or tests on loopback.
    pub allow_plain_http: bool,
    /// Seconds a whole request may take.
    pub timeout_secs: u64,
    /// The largest response accepted, in bytes.
    pub max_response_bytes: usize,
}

impl Default for OutboundSection {
    fn default() -> Self {
        OutboundSection {
            allow: Vec::new(),
            allow_private: Vec::new(),
            allow_plain_http: false,
            timeout_secs: 10,
            max_response_bytes: 1024 * 1024,
        }
    }
}

/// OIDC single sign-on (docs/admin/sso.md).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct OidcSection {
    /// The address people open Enclave at, e.g. `https://chat.example.org`; each provider's
    /// redirect URI is `{public_url}/auth/oidc/{id}/callback`. Required with providers.
    pub public_url: String,
    pub providers: Vec<OidcProvider>,
}

/// One OIDC provider (`[[oidc.providers]]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcProvider {
    /// Stable id: `a-z`, `0-9`, `-`, `_`, 1 to 32 characters (in URLs and linked identities).
    pub id: String,
    /// The login button's text.
    pub label: String,
    /// The issuer URL (its `/.well-known/openid-configuration` is read).
    pub issuer: String,
    pub client_id: String,
    /// Masked by `enclave config`.
    pub client_secret: String,
    /// Scopes besides `openid`.
    pub scopes: Vec<String>,
    /// How a first sign-in finds an existing account: `email` (verified e-mail address),
    /// `username` (the `username_claim`), or `none`.
    pub link_by: String,
    /// The claim new usernames (and `link_by = "username"`) come from.
    pub username_claim: String,
    /// Link by e-mail only when the provider says it is verified (`email_verified`).
    pub require_email_verified: bool,
    /// Create an account at the first sign-in when none is linked or matched.
    pub auto_create: bool,
    /// The claim listing the person's groups (e.g. `groups`); empty: no group mapping.
    pub groups_claim: String,
    /// Group → role names (`system_admin`, `member`, or custom role ids). When set, roles
    /// follow the groups at every sign-in.
    pub group_roles: std::collections::BTreeMap<String, Vec<String>>,
    /// Group → department path (`Head office/IT`).
    pub group_departments: std::collections::BTreeMap<String, String>,
}

impl Default for OidcProvider {
    fn default() -> Self {
        OidcProvider {
            id: String::new(),
            label: String::new(),
            issuer: String::new(),
            client_id: String::new(),
            client_secret: String::new(),
            scopes: vec!["email".into(), "profile".into()],
            link_by: "email".into(),
            username_claim: "preferred_username".into(),
            require_email_verified: true,
            auto_create: true,
            groups_claim: String::new(),
            group_roles: Default::default(),
            group_departments: Default::default(),
        }
    }
}

/// LDAP / Active Directory providers (docs/admin/ldap.md): sign-in by bind and the directory
/// sync. Each is a `[[ldap.providers]]` table.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LdapSection {
    pub providers: Vec<LdapProviderConfig>,
}

/// One LDAP / Active Directory provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LdapProviderConfig {
    /// Stable id: lower-case letters, digits and `-` (URLs, the command line, account links).
    pub id: String,
    /// The name people see (defaults to the id).
    pub name: String,
    /// `openldap` or `active_directory`: the defaults of the filters and attributes below.
    pub kind: String,
    /// `ldaps://host:636`, or `ldap://host:389` with `starttls = true`. Plain `ldap://`
    /// without StartTLS sends passwords in the clear and is refused unless the host is a
    /// loopback address.
    pub url: String,
    pub starttls: bool,
    /// A PEM file of the CA(s) the server's certificate must chain to (for Active Directory,
    /// the enterprise CA's certificate); empty: the system's roots.
    pub ca_file: String,
    /// The service account that finds users (a DN, or for AD also `user@domain`).
    pub bind_dn: String,
    pub bind_password: String,
    /// A file holding the service account's password (instead of `bind_password`).
    pub bind_password_file: String,
    /// Where users are searched (subtree).
    pub base_dn: String,
    /// Finds one user; `{username}` is replaced by the login, escaped (RFC 4515).
    pub user_filter: String,
    /// Lists every user the sync manages.
    pub sync_filter: String,
    pub username_attribute: String,
    pub display_name_attribute: String,
    pub email_attribute: String,
    pub phone_attribute: String,
    pub title_attribute: String,
    pub department_attribute: String,
    /// The entry's stable id (`entryUUID`, AD `objectGUID`).
    pub id_attribute: String,
    /// The attribute that marks a disabled entry (AD `userAccountControl`, OpenLDAP
    /// `pwdAccountLockedTime` or any attribute of yours); empty: none.
    pub disabled_attribute: String,
    /// Disabled when the attribute has one of these values; empty: when it has any value.
    pub disabled_values: Vec<String>,
    /// Disabled when the (numeric) attribute has one of these bits (AD: 2, ACCOUNTDISABLE).
    pub disabled_bitmask: u64,
    /// The attribute listing the user's groups (`memberOf`); empty: none.
    pub member_of_attribute: String,
    /// A group search instead: `{dn}` is replaced by the user's DN, escaped (for example
    /// `(&(objectClass=groupOfNames)(member={dn}))`).
    pub group_filter: String,
    pub group_base_dn: String,
    /// Group DN or OU DN → role (`system_admin` or a custom role's name).
    pub role_map: std::collections::BTreeMap<String, String>,
    /// Group DN or OU DN → department path (`Head office/Engineering`).
    pub department_map: std::collections::BTreeMap<String, String>,
    /// The department attribute's value is a department path too.
    pub department_from_attribute: bool,
    /// Create accounts for directory users who have none (at first sign-in and in the sync).
    pub create_users: bool,
    /// Link a local account with the same username (never an administrator, bot or guest).
    pub link_existing: bool,
    pub connect_timeout_secs: u64,
    pub timeout_secs: u64,
    /// Minutes between scheduled syncs; 0: no scheduled sync (`enclave admin ldap-sync`).
    pub sync_interval_minutes: u64,
    /// A sync that would deactivate more than this percentage of the linked active accounts
    /// changes nothing (100: no limit). A sync that finds no users never deactivates anyone.
    pub max_deactivate_percent: u32,
}

impl Default for LdapProviderConfig {
    fn default() -> Self {
        LdapProviderConfig {
            id: String::new(),
            name: String::new(),
            kind: "openldap".into(),
            url: String::new(),
            starttls: false,
            ca_file: String::new(),
            bind_dn: String::new(),
            bind_password: String::new(),
            bind_password_file: String::new(),
            base_dn: String::new(),
            user_filter: String::new(),
            sync_filter: String::new(),
            username_attribute: String::new(),
            display_name_attribute: String::new(),
            email_attribute: String::new(),
            phone_attribute: String::new(),
            title_attribute: String::new(),
            department_attribute: String::new(),
            id_attribute: String::new(),
            disabled_attribute: String::new(),
            disabled_values: Vec::new(),
            disabled_bitmask: 0,
            member_of_attribute: String::new(),
            group_filter: String::new(),
            group_base_dn: String::new(),
            role_map: Default::default(),
            department_map: Default::default(),
            department_from_attribute: false,
            create_users: true,
            link_existing: false,
            connect_timeout_secs: 5,
            timeout_secs: 10,
            sync_interval_minutes: 0,
            max_deactivate_percent: 50,
        }
    }
}

impl LdapProviderConfig {
    /// The provider as the application takes it: defaults of its kind filled in, the CA and the
    /// password file read.
    pub fn provider(&self) -> anyhow::Result<enclave_app::LdapProvider> {
        use enclave_app::ldap::LdapAttributes;
        use std::time::Duration;
        let id = &self.id;
        if id.is_empty()
            || id.len() > 32
            || !id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            bail!("[[ldap.providers]] id {id:?}: 1 to 32 of a-z, 0-9 and -");
        }
        let ad = match self.kind.as_str() {
            "openldap" => false,
            "active_directory" => true,
            k => bail!(
                "[[ldap.providers]] {id}: kind must be openldap or active_directory, not {k:?}"
            ),
        };
        let url = self.url.trim();
        let loopback = |u: &str| {
            let host = u
                .split_once("://")
                .map_or("", |(_, r)| r)
                .split(['/', '?'])
                .next()
                .unwrap_or("");
            let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
        };
        if url.starts_with("ldaps://") {
            if self.starttls {
                bail!("[[ldap.providers]] {id}: starttls is for ldap:// URLs, not ldaps://");
            }
        } else if url.starts_with("ldap://") {
            if !self.starttls && !loopback(url) {
                bail!(
                    "[[ldap.providers]] {id}: ldap:// without starttls = true would send passwords in the clear; use ldaps:// or starttls"
                );
            }
        } else {
            bail!("[[ldap.providers]] {id}: url must start with ldap:// or ldaps://");
        }
        if self.base_dn.trim().is_empty() {
            bail!("[[ldap.providers]] {id}: base_dn is required");
        }
        let ca_pem = if self.ca_file.is_empty() {
            String::new()
        } else {
            std::fs::read_to_string(&self.ca_file).with_context(|| {
                format!("[[ldap.providers]] {id}: reading ca_file {}", self.ca_file)
            })?
        };
        let bind_password = if self.bind_password_file.is_empty() {
            self.bind_password.clone()
        } else {
            std::fs::read_to_string(&self.bind_password_file)
                .with_context(|| {
                    format!(
                        "[[ldap.providers]] {id}: reading bind_password_file {}",
                        self.bind_password_file
                    )
                })?
                .trim_end_matches(['\r', '\n'])
                .to_owned()
        };
        if !self.bind_dn.is_empty() && bind_password.is_empty() {
            bail!("[[ldap.providers]] {id}: bind_dn needs bind_password or bind_password_file");
        }
        let or = |v: &str, openldap: &str, active_directory: &str| -> String {
            if !v.is_empty() {
                v.to_owned()
            } else if ad {
                active_directory.to_owned()
            } else {
                openldap.to_owned()
            }
        };
        let user_filter = or(
            &self.user_filter,
            "(&(objectClass=inetOrgPerson)(uid={username}))",
            "(&(objectCategory=person)(objectClass=user)(sAMAccountName={username}))",
        );
        if !user_filter.contains("{username}") {
            bail!("[[ldap.providers]] {id}: user_filter must contain {{username}}");
        }
        if !self.group_filter.is_empty() && !self.group_filter.contains("{dn}") {
            bail!("[[ldap.providers]] {id}: group_filter must contain {{dn}}");
        }
        let (disabled_attribute, disabled_bitmask) = if self.disabled_attribute.is_empty() && ad {
            ("userAccountControl".to_owned(), 2)
        } else {
            (self.disabled_attribute.clone(), self.disabled_bitmask)
        };
        if self.max_deactivate_percent > 100 {
            bail!("[[ldap.providers]] {id}: max_deactivate_percent must be 0 to 100");
        }
        if self.connect_timeout_secs == 0 || self.timeout_secs == 0 {
            bail!("[[ldap.providers]] {id}: timeouts must be at least 1 second");
        }
        let lower = |m: &std::collections::BTreeMap<String, String>| {
            m.iter()
                .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned()))
                .collect()
        };
        Ok(enclave_app::LdapProvider {
            id: id.clone(),
            name: if self.name.is_empty() {
                id.clone()
            } else {
                self.name.clone()
            },
            url: url.to_owned(),
            starttls: self.starttls,
            ca_pem,
            bind_dn: self.bind_dn.clone(),
            bind_password,
            base_dn: self.base_dn.trim().to_owned(),
            user_filter,
            sync_filter: or(
                &self.sync_filter,
                "(objectClass=inetOrgPerson)",
                "(&(objectCategory=person)(objectClass=user))",
            ),
            attributes: LdapAttributes {
                username: or(&self.username_attribute, "uid", "sAMAccountName"),
                display_name: or(&self.display_name_attribute, "cn", "displayName"),
                email: or(&self.email_attribute, "mail", "mail"),
                phone: or(&self.phone_attribute, "telephoneNumber", "telephoneNumber"),
                title: or(&self.title_attribute, "title", "title"),
                department: or(&self.department_attribute, "departmentNumber", "department"),
                external_id: or(&self.id_attribute, "entryUUID", "objectGUID"),
            },
            disabled_attribute,
            disabled_values: self.disabled_values.clone(),
            disabled_bitmask,
            member_of_attribute: or(&self.member_of_attribute, "memberOf", "memberOf"),
            group_filter: self.group_filter.clone(),
            group_base_dn: self.group_base_dn.clone(),
            role_map: lower(&self.role_map),
            department_map: lower(&self.department_map),
            department_from_attribute: self.department_from_attribute,
            create_users: self.create_users,
            link_existing: self.link_existing,
            connect_timeout: Duration::from_secs(self.connect_timeout_secs),
            timeout: Duration::from_secs(self.timeout_secs),
            sync_interval: (self.sync_interval_minutes > 0)
                .then(|| Duration::from_secs(self.sync_interval_minutes.saturating_mul(60))),
            max_deactivate_percent: self.max_deactivate_percent,
            max_entries: 100_000,
        })
    }
}

/// The audit log (docs/admin/audit.md). Entries are never pruned. The chain's head (last
/// sequence number and hash) is written outside the database every `head_interval_secs` when
/// it has moved, so that `enclave audit verify --head-file` shows a log cut short.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditSection {
    /// A file the head is appended to (one line `SEQ HASH MILLIS` per change, fsynced). Put it
    /// on storage the database's administrators cannot rewrite (another machine's mount, a
    /// log shipper's input). Empty: no file.
    pub head_file: String,
    /// Also send the head to the local syslog (`/dev/log`, facility auth).
    pub head_syslog: bool,
    /// Seconds between two looks at the head.
    pub head_interval_secs: u64,
}

impl Default for AuditSection {
    fn default() -> Self {
        AuditSection {
            head_file: String::new(),
            head_syslog: false,
            head_interval_secs: 300,
        }
    }
}

/// Scheduled backups taken by the server itself (`docs/admin/backup.md`): the same backups as
/// `enclave backup --to DIR`, without the master key, on one node of a cluster at a time.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackupSection {
    /// The folder backups are written into (a new `enclave-backup-<time>` folder each time).
    /// Empty: no scheduled backups.
    pub to: String,
    /// Seconds between the starts of two scheduled backups (the first runs when the server
    /// starts).
    pub interval_secs: u64,
    /// How many backups to keep in `to`: older `enclave-backup-*` folders are removed after
    /// each successful backup.
    pub keep: u32,
}

impl Default for BackupSection {
    fn default() -> Self {
        BackupSection {
            to: String::new(),
            interval_secs: 86_400,
            keep: 7,
        }
    }
}

/// Retention (`docs/admin/retention.md`): the scheduled `retention` job purges messages (their
/// reactions, search-index entries and files) older than the policy keeps, except what a legal
/// hold covers. The policy set in the admin console (`PUT /api/v1/admin/retention`) replaces
/// `message_days` and `dm_days` once set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionSection {
    /// Whether the job runs on its schedule (at start, then every `interval_secs`). Off, a purge
    /// runs only when an administrator starts one.
    pub enabled: bool,
    /// Seconds between the starts of two scheduled purges.
    pub interval_secs: u64,
    /// Days messages of public and private channels are kept; 0 keeps them forever (the
    /// default).
    pub message_days: u32,
    /// Days messages of direct conversations and group direct messages are kept; 0 keeps them
    /// forever (the default).
    pub dm_days: u32,
}

impl Default for RetentionSection {
    fn default() -> Self {
        RetentionSection {
            enabled: true,
            interval_secs: 86_400,
            message_days: 0,
            dm_days: 0,
        }
    }
}

/// Guest accounts (`POST /api/v1/admin/guests`; `docs/admin/roles.md`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GuestsSection {
    /// Every guest needs an expiry date (after it they cannot sign in, their sessions stop
    /// working, and the `expire-guests` job deactivates them).
    pub require_expiry: bool,
    /// The longest a guest may be invited for, in days.
    pub max_days: u32,
}

impl Default for GuestsSection {
    fn default() -> Self {
        let d = enclave_core::GuestPolicy::default();
        GuestsSection {
            require_expiry: d.require_expiry,
            max_days: d.max_days,
        }
    }
}

/// Uploaded files: where their (encrypted) bytes live, the keys, and the limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilesSection {
    /// `local` (a folder, `path`) or `s3` (any S3-compatible store, the `s3_*` keys).
    pub store: String,
    /// Folder for `store = "local"`; empty means `files` in the data folder.
    pub path: String,
    pub s3_bucket: String,
    /// Empty for AWS itself; e.g. `http://127.0.0.1:9000` for MinIO or another S3-compatible server.
    pub s3_endpoint: String,
    pub s3_region: String,
    pub s3_access_key: String,
    /// Secret (masked by `enclave config`).
    pub s3_secret_key: String,
    /// The current master key, base64 of 32 bytes (masked by `enclave config`). Files are
    /// encrypted under per-file data keys that this key wraps. When empty, `master_key_file`
    /// is read; when that is empty too, `file-master.key` in the data folder (created with a
    /// new random key and mode 0600 on first start).
    pub master_key: String,
    /// A file holding the current master key (base64 of 32 bytes).
    pub master_key_file: String,
    /// The current master key's id, stored with every wrapped data key.
    pub master_key_id: String,
    /// Earlier master keys by id (base64), still able to unwrap data keys wrapped before a
    /// rotation (`enclave admin rotate-file-key` re-wraps them under the current key; then
    /// they can be removed).
    pub previous_keys: std::collections::BTreeMap<String, String>,
    /// Largest file, in bytes (a larger upload is refused with 413 `file_too_large`).
    pub max_file_bytes: u64,
    /// Most bytes of files one user may store; 0 for no limit (413 `quota_exceeded`).
    pub user_quota_bytes: u64,
    /// Largest image accepted, in pixels (width × height); read from the header before
    /// decoding, so a decompression bomb is refused (422 `image_too_large`).
    pub max_image_pixels: u64,
    /// Largest image (bytes) that gets a thumbnail.
    pub thumbnail_source_max_bytes: u64,
    /// Seconds a thumbnail may take to make; a slower image is stored without one.
    pub thumbnail_timeout_secs: u64,
    /// Seconds an upload may stay unattached to any message before it is removed.
    pub unattached_grace_secs: u64,
    /// Seconds between sweeps for unreferenced files.
    pub sweep_interval_secs: u64,
}

impl Default for FilesSection {
    fn default() -> Self {
        let d = enclave_app::FilesConfig::default();
        FilesSection {
            store: "local".into(),
            path: String::new(),
            s3_bucket: String::new(),
            s3_endpoint: String::new(),
            s3_region: "us-east-1".into(),
            s3_access_key: String::new(),
            s3_secret_key: String::new(),
            master_key: String::new(),
            master_key_file: String::new(),
            master_key_id: "k1".into(),
            previous_keys: std::collections::BTreeMap::new(),
            max_file_bytes: d.max_file_size,
            user_quota_bytes: d.user_quota.unwrap_or(0),
            max_image_pixels: d.max_image_pixels,
            thumbnail_source_max_bytes: d.thumbnail_source_max,
            thumbnail_timeout_secs: d.thumbnail_timeout.as_secs(),
            unattached_grace_secs: d.unattached_grace.as_secs(),
            sweep_interval_secs: d.sweep_interval.as_secs(),
        }
    }
}

/// Name of the master key file generated in the data folder when none is configured.
pub const GENERATED_KEY_FILE: &str = "file-master.key";

fn decode_key(what: &str, b64: &str) -> anyhow::Result<[u8; 32]> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .with_context(|| format!("{what} is not base64"))?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("{what} must be 32 bytes (base64 of 32 random bytes)"))
}

/// The WebSocket gateway and presence.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RealtimeSection {
    /// Seconds between pings; a peer silent for two intervals is dropped.
    pub heartbeat_secs: u64,
    /// Seconds without activity after which a user shows as away.
    pub idle_secs: u64,
    /// Outgoing events a socket may have waiting before it is closed as a slow consumer.
    pub queue_len: usize,
    /// Days of events kept for resuming clients; older positions must resync.
    pub retention_days: u32,
    /// Most WebSocket connections one user may hold open on this node (each browser tab and
    /// device holds one); the next upgrade is refused with 429 `rate_limited`. 0: no limit.
    pub max_sockets_per_user: u32,
    /// Most WebSocket connections from one client address on this node (the address as
    /// `[http] trusted_proxies` resolves it: behind a reverse proxy, list it there, or every
    /// client shares the proxy's address); the next upgrade is refused with 429
    /// `rate_limited`. 0: no limit.
    pub max_sockets_per_ip: u32,
}

impl Default for RealtimeSection {
    fn default() -> Self {
        RealtimeSection {
            heartbeat_secs: 20,
            idle_secs: 600,
            queue_len: 1024,
            retention_days: 14,
            max_sockets_per_user: 50,
            max_sockets_per_ip: 1000,
        }
    }
}

/// Per-user rate limits: a token bucket per user for each kind of action. `*_per_sec` is the
/// sustained rate (tokens added per second; 0 turns that limit off) and `*_burst` how many may
/// be done at once after a pause. Past the limit a request is refused with 429 `rate_limited`
/// and a `Retry-After` header (seconds, rounded up); a WebSocket `send` gets an `error` frame
/// with the same code and `retry_after_secs`. REST and WebSocket share one budget. Site
/// administrators are not limited (bulk administration through the API), bots are; operator
/// commands (`enclave admin ...`) never are.
///
/// The defaults are far above what a person does by hand and what the load tool's paced
/// scenarios do (`ws-channels` sends 2 per second per user), and far below a flood (300 posts
/// in a second). Capacity benchmarks that post as fast as the server answers from one user
/// turn the limits off (`scripts/bench-*`; see `docs/benchmarks.md`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitsSection {
    /// Messages posted per second (REST and WebSocket `send`). A retried send with a
    /// `client_msg_id` the server already stored costs nothing.
    pub posts_per_sec: u32,
    /// Messages that may be posted at once.
    pub posts_burst: u32,
    /// Reactions added or removed per second.
    pub reactions_per_sec: u32,
    pub reactions_burst: u32,
    /// File uploads started per second.
    pub uploads_per_sec: u32,
    pub uploads_burst: u32,
    /// Full-text message searches per second (the quick switcher's channel search is not
    /// counted).
    pub searches_per_sec: u32,
    pub searches_burst: u32,
    /// Every other change per second: edits, deletes, pins, channel changes, joining and
    /// leaving, members, read positions, profile and status, personal access tokens.
    pub writes_per_sec: u32,
    pub writes_burst: u32,
}

impl Default for RateLimitsSection {
    fn default() -> Self {
        let d = enclave_app::RateLimitConfig::default();
        RateLimitsSection {
            posts_per_sec: d.posts.per_sec,
            posts_burst: d.posts.burst,
            reactions_per_sec: d.reactions.per_sec,
            reactions_burst: d.reactions.burst,
            uploads_per_sec: d.uploads.per_sec,
            uploads_burst: d.uploads.burst,
            searches_per_sec: d.searches.per_sec,
            searches_burst: d.searches.burst,
            writes_per_sec: d.writes.per_sec,
            writes_burst: d.writes.burst,
        }
    }
}

/// Where messages are stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// Empty: the embedded SQLite database `enclave.db` in the data folder. `sqlite:PATH` names
    /// another SQLite file. `postgres://USER:PASSWORD@HOST:PORT/DB` uses PostgreSQL (required
    /// for several nodes).
    pub url: String,
    /// PostgreSQL: pooled connections per node.
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: String::new(),
            max_connections: 16,
        }
    }
}

/// Several nodes: they share the PostgreSQL database and talk over NATS.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// `nats://HOST:PORT` (several, comma-separated, for a NATS cluster); empty for a single node.
    pub nats_url: String,
    /// Nodes with the same name form one cluster (one NATS server can serve several).
    pub name: String,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            nats_url: String::new(),
            name: "enclave".into(),
        }
    }
}

/// HTTPS. When both are set, the server speaks only HTTPS on `listen`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert: String,
    /// PEM private key.
    pub key: String,
}

/// The HTTP listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSection {
    /// Addresses of reverse proxies whose `X-Forwarded-For` is trusted.
    pub trusted_proxies: Vec<String>,
    /// Mark the session cookie `Secure` even without `[tls]` (set it behind an HTTPS proxy).
    pub secure_cookies: bool,
    /// Seconds to let in-flight requests finish after SIGTERM.
    pub shutdown_grace_secs: u64,
    /// Seconds a client has to send a request's whole header (a slower one is disconnected),
    /// counted from the connection's start or the previous response: so this is also how
    /// long a kept-alive connection may wait for its next request. Also bounds the TLS
    /// handshake.
    pub header_read_timeout_secs: u64,
    /// Seconds a connection may stay silent, no byte moving either way, before it is closed:
    /// a request body that stalls, a download the client stopped reading, an idle HTTP/2
    /// connection, a WebSocket whose peer vanished. WebSocket pings keep a live socket busy,
    /// so this must be longer than `[realtime] heartbeat_secs`.
    pub idle_timeout_secs: u64,
}

impl Default for HttpSection {
    fn default() -> Self {
        HttpSection {
            trusted_proxies: Vec::new(),
            secure_cookies: false,
            shutdown_grace_secs: 30,
            header_read_timeout_secs: 30,
            idle_timeout_secs: 75,
        }
    }
}

/// Sign-in: password hashing, sessions, and the sign-in throttle (`enclave_core::lockout`;
/// `docs/admin/lockout.md`). Failures are counted per account and client address (an IPv4
/// address or an IPv6 /64); each failure past the free ones makes the next attempt wait,
/// doubling from `first_delay_secs` up to `max_delay_secs`. Nothing locks an account for good,
/// and an address an account signed in from before is never slowed by others' failures.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSection {
    /// A session's absolute lifetime in days, from sign-in: after it the user signs in again
    /// however active the session was (`docs/admin/sessions.md`).
    pub session_ttl_days: u32,
    /// A session unused for this many minutes ends (0: sessions do not time out when idle).
    /// Use is recorded at most once a minute, so the timeout is exact to about a minute.
    pub session_idle_timeout_minutes: u32,
    /// The longest lifetime, in days, a personal access token may be given (an expiry is
    /// required; 1 to 3650).
    pub token_max_days: u32,
    /// Argon2id memory cost in KiB (OWASP recommends 19456 with 2 iterations).
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    /// Failures of one account from one address before its attempts from there are delayed
    /// (0: no limit).
    pub failures_before_delay: u32,
    /// Failures of one account from all addresses together before its attempts from addresses
    /// it never signed in from are delayed (0: no limit). The owner's known addresses are
    /// never delayed by it.
    pub account_failures_before_delay: u32,
    /// Failures from one address on all accounts together before its attempts on accounts
    /// that never signed in from it are delayed (0: no limit). Generous, for offices behind
    /// one NAT.
    pub address_failures_before_delay: u32,
    /// The first delay, in seconds; each further failure doubles it.
    pub first_delay_secs: u64,
    /// The longest delay, in seconds.
    pub max_delay_secs: u64,
    /// Failures are forgotten this many hours after the last one (a success forgets the
    /// account's failures from that address at once).
    pub failure_memory_hours: u64,
    /// An address stays known to an account this many days after a sign-in from it.
    pub known_address_days: u64,
    /// Password sign-in. `false`: single sign-on only; system administrators (the break-glass
    /// accounts made with `enclave admin create-user --admin`) keep their password.
    pub local_passwords: bool,
    /// Deprecated (before the throttle was redesigned): read as `account_failures_before_delay`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_failures_per_account: Option<u32>,
    /// Deprecated: read as `address_failures_before_delay`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_failures_per_ip: Option<u32>,
    /// Deprecated: read as `max_delay_secs` (in minutes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lockout_minutes: Option<u32>,
    /// Whom a second factor is required of: `"off"`, `"admins"` or `"everyone"`. This is the
    /// default of the site policy, which administrators change on the "Second factor" page
    /// (stored in the database; `docs/admin/second-factor.md`).
    pub require_second_factor: String,
    /// Days an account the policy newly concerns may still sign in without a second factor
    /// (0 to 365).
    pub second_factor_grace_days: u32,
    /// The issuer name authenticator apps show beside the account.
    pub totp_issuer: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./enclave-data"),
            log_format: "text".into(),
            log_level: "info".into(),
            database: DatabaseConfig::default(),
            tls: TlsConfig::default(),
            http: HttpSection::default(),
            auth: AuthSection::default(),
            realtime: RealtimeSection::default(),
            cluster: ClusterConfig::default(),
            files: FilesSection::default(),
            rate_limits: RateLimitsSection::default(),
            audit: AuditSection::default(),
            backup: BackupSection::default(),
            retention: RetentionSection::default(),
            guests: GuestsSection::default(),
            outbound: OutboundSection::default(),
            oidc: OidcSection::default(),
            ldap: LdapSection::default(),
            webauthn: WebAuthnSection::default(),
        }
    }
}

impl Default for AuthSection {
    fn default() -> Self {
        let d = enclave_app::AuthConfig::default();
        let l = d.lockout;
        AuthSection {
            session_ttl_days: 30,
            session_idle_timeout_minutes: 0,
            token_max_days: 365,
            argon2_memory_kib: d.argon2_memory_kib,
            argon2_iterations: d.argon2_iterations,
            failures_before_delay: l.pair.free,
            account_failures_before_delay: l.account.free,
            address_failures_before_delay: l.source.free,
            first_delay_secs: l.pair.first.as_secs(),
            max_delay_secs: l.pair.max.as_secs(),
            failure_memory_hours: l.memory.as_secs() / 3600,
            known_address_days: l.known_for.as_secs() / 86_400,
            local_passwords: true,
            max_failures_per_account: None,
            max_failures_per_ip: None,
            lockout_minutes: None,
            require_second_factor: d.second_factor.require.as_str().into(),
            second_factor_grace_days: d.second_factor.grace_days,
            totp_issuer: d.second_factor.totp_issuer,
        }
    }
}

impl AuthSection {
    /// The throttle policy these settings describe (deprecated keys applied).
    pub fn lockout_policy(&self) -> enclave_app::core::lockout::Policy {
        use enclave_app::core::lockout::{Delays, Policy};
        use std::time::Duration;
        let first = Duration::from_secs(self.first_delay_secs);
        let max = match self.lockout_minutes {
            Some(m) => Duration::from_secs(u64::from(m) * 60),
            None => Duration::from_secs(self.max_delay_secs),
        };
        let delays = |free| Delays { free, first, max };
        Policy {
            pair: delays(self.failures_before_delay),
            account: delays(
                self.max_failures_per_account
                    .unwrap_or(self.account_failures_before_delay),
            ),
            source: delays(
                self.max_failures_per_ip
                    .unwrap_or(self.address_failures_before_delay),
            ),
            memory: Duration::from_secs(self.failure_memory_hours.saturating_mul(3600)),
            known_for: Duration::from_secs(self.known_address_days.saturating_mul(86_400)),
        }
    }
}

/// Flags that override the configuration.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub log_format: Option<String>,
}

fn env_value(raw: &str) -> toml::Value {
    // Numbers, booleans and arrays are written as in TOML; anything else is a string.
    match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.to_owned())),
        Err(_) => toml::Value::String(raw.to_owned()),
    }
}

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

impl Config {
    /// Loads the configuration from its layers.
    pub fn load(
        file: Option<&Path>,
        env: impl Iterator<Item = (String, String)>,
        flags: &Overrides,
    ) -> anyhow::Result<Config> {
        let mut table = toml::Table::try_from(Config::default()).context("rendering defaults")?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let file_table: toml::Table =
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
            merge(&mut table, file_table);
        }
        for (key, value) in env {
            // The passphrase of `enclave backup --with-key` / `enclave restore` is read by those
            // commands only; it is not configuration.
            if key == "ENCLAVE_BACKUP_PASSPHRASE" {
                continue;
            }
            let Some(rest) = key.strip_prefix("ENCLAVE_") else {
                continue;
            };
            let path: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
            let mut over = toml::Table::new();
            let mut cursor = &mut over;
            for (i, part) in path.iter().enumerate() {
                if i + 1 == path.len() {
                    cursor.insert(part.clone(), env_value(&value));
                } else {
                    cursor = match cursor
                        .entry(part.clone())
                        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                    {
                        toml::Value::Table(t) => t,
                        _ => bail!("environment variable {key} does not name a configuration key"),
                    };
                }
            }
            merge(&mut table, over);
        }
        let mut config: Config = toml::Value::Table(table)
            .try_into()
            .context("invalid configuration (from the file or ENCLAVE_* variables)")?;
        if let Some(l) = &flags.listen {
            config.listen.clone_from(l);
        }
        if let Some(d) = &flags.data_dir {
            config.data_dir.clone_from(d);
        }
        if let Some(f) = &flags.log_format {
            config.log_format.clone_from(f);
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.listen_addr()?;
        if !matches!(self.log_format.as_str(), "text" | "json") {
            bail!(
                "log_format must be \"text\" or \"json\", not {:?}",
                self.log_format
            );
        }
        if self.tls.cert.is_empty() != self.tls.key.is_empty() {
            bail!("[tls] needs both cert and key");
        }
        self.trusted_proxies()?;
        self.ldap_providers()?;
        if self.guests.max_days == 0 || self.guests.max_days > 36_500 {
            bail!("[guests] max_days must be 1 to 36500");
        }
        if self.auth.argon2_memory_kib < 8 || self.auth.argon2_iterations < 1 {
            bail!("[auth] argon2 parameters are too small");
        }
        let r = &self.realtime;
        if r.heartbeat_secs == 0 || r.idle_secs == 0 || r.queue_len < 16 || r.retention_days == 0 {
            bail!("[realtime] values must be positive (queue_len at least 16)");
        }
        let h = &self.http;
        if h.header_read_timeout_secs == 0 || h.idle_timeout_secs <= r.heartbeat_secs {
            bail!(
                "[http] header_read_timeout_secs must be positive and idle_timeout_secs longer than [realtime] heartbeat_secs"
            );
        }
        self.outbound_config()?;
        self.sso_config()?;
        if self.outbound.timeout_secs == 0 || self.outbound.max_response_bytes < 1024 {
            bail!(
                "[outbound] timeout_secs must be at least 1 and max_response_bytes at least 1024"
            );
        }
        let mut ids = std::collections::HashSet::new();
        for p in &self.oidc.providers {
            let id_ok = !p.id.is_empty()
                && p.id.len() <= 32
                && p.id.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                });
            if !id_ok {
                bail!(
                    "[[oidc.providers]] id {:?} must be 1 to 32 of a-z, 0-9, - and _",
                    p.id
                );
            }
            if !ids.insert(p.id.clone()) {
                bail!("[[oidc.providers]] id {:?} is used twice", p.id);
            }
            if p.client_id.is_empty() || p.label.chars().count() > 64 {
                bail!(
                    "[[oidc.providers]] {}: client_id is required and label at most 64 characters",
                    p.id
                );
            }
            if !(p.issuer.starts_with("https://")
                || (self.outbound.allow_plain_http && p.issuer.starts_with("http://")))
            {
                bail!(
                    "[[oidc.providers]] {}: issuer must be an https:// URL",
                    p.id
                );
            }
        }
        if !self.oidc.providers.is_empty() && self.oidc.public_url.trim().is_empty() {
            bail!(
                "[oidc] public_url is required when providers are configured (redirect URIs are made from it)"
            );
        }
        self.webauthn_config()?;
        if !self.backup.to.is_empty() && self.backup.interval_secs < 60 {
            bail!("[backup] interval_secs must be at least 60");
        }
        if self.backup.keep == 0 || self.backup.keep > 10_000 {
            bail!("[backup] keep must be 1 to 10000");
        }
        if self.retention.interval_secs < 60 {
            bail!("[retention] interval_secs must be at least 60");
        }
        for (key, days) in [
            ("message_days", self.retention.message_days),
            ("dm_days", self.retention.dm_days),
        ] {
            if days > enclave_core::retention::MAX_DAYS {
                bail!("[retention] {key} must be 0 (keep forever) to 36500");
            }
        }
        if self.audit.head_interval_secs == 0 {
            bail!("[audit] head_interval_secs must be at least 1");
        }
        if self.auth.session_ttl_days == 0 || self.auth.session_ttl_days > 3650 {
            bail!("[auth] session_ttl_days must be 1 to 3650");
        }
        if self.auth.session_idle_timeout_minutes > 5_256_000 {
            bail!(
                "[auth] session_idle_timeout_minutes must be at most 5256000 (ten years; 0 turns it off)"
            );
        }
        if self.auth.token_max_days == 0 || self.auth.token_max_days > 3650 {
            bail!("[auth] token_max_days must be 1 to 3650");
        }
        let a = &self.auth;
        let policy = a.lockout_policy();
        if policy.pair.first.is_zero() || policy.pair.max < policy.pair.first {
            bail!(
                "[auth] first_delay_secs must be at least 1 and max_delay_secs at least first_delay_secs"
            );
        }
        if enclave_app::core::signin::Requirement::parse(&a.require_second_factor).is_none() {
            bail!("[auth] require_second_factor must be \"off\", \"admins\" or \"everyone\"");
        }
        if a.second_factor_grace_days > enclave_app::core::signin::MAX_GRACE_DAYS {
            bail!("[auth] second_factor_grace_days must be 0 to 365");
        }
        if a.totp_issuer.trim().is_empty()
            || a.totp_issuer.chars().count() > 64
            || a.totp_issuer.contains(|c: char| c.is_control() || c == ':')
        {
            bail!(
                "[auth] totp_issuer must be 1 to 64 characters, without ':' or control characters"
            );
        }
        if a.failure_memory_hours == 0 || a.known_address_days == 0 {
            bail!("[auth] failure_memory_hours and known_address_days must be at least 1");
        }
        if policy.memory < policy.pair.max {
            bail!(
                "[auth] failure_memory_hours must be at least max_delay_secs, or waiting would reset the delays"
            );
        }
        let url = &self.database.url;
        if !(url.is_empty() || url.starts_with("sqlite:") || self.is_postgres()) {
            bail!(
                "database.url {:?} is not supported (use postgres://..., sqlite:PATH, or leave it empty)",
                mask_url(url)
            );
        }
        if !self.cluster.nats_url.is_empty() && !self.is_postgres() {
            bail!("[cluster] nats_url needs a shared database: set database.url to postgres://...");
        }
        if self.cluster.name.is_empty()
            || !self
                .cluster
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            bail!("[cluster] name must be letters, digits, '-' or '_'");
        }
        let f = &self.files;
        match f.store.as_str() {
            "local" => {}
            "s3" => {
                if f.s3_bucket.is_empty()
                    || f.s3_access_key.is_empty()
                    || f.s3_secret_key.is_empty()
                {
                    bail!(
                        "[files] store = \"s3\" needs s3_bucket, s3_access_key and s3_secret_key"
                    );
                }
            }
            other => bail!("[files] store must be \"local\" or \"s3\", not {other:?}"),
        }
        if f.max_file_bytes == 0 || f.max_image_pixels == 0 || f.sweep_interval_secs == 0 {
            bail!(
                "[files] max_file_bytes, max_image_pixels and sweep_interval_secs must be positive"
            );
        }
        let l = &self.rate_limits;
        for (kind, per_sec, burst) in [
            ("posts", l.posts_per_sec, l.posts_burst),
            ("reactions", l.reactions_per_sec, l.reactions_burst),
            ("uploads", l.uploads_per_sec, l.uploads_burst),
            ("searches", l.searches_per_sec, l.searches_burst),
            ("writes", l.writes_per_sec, l.writes_burst),
        ] {
            if per_sec > 0 && burst == 0 {
                bail!("[rate_limits] {kind}_burst must be at least 1 when {kind}_per_sec is set");
            }
        }
        if !f.master_key.is_empty() {
            decode_key("[files] master_key", &f.master_key)?;
        }
        for (id, key) in &f.previous_keys {
            decode_key(&format!("[files] previous_keys.{id}"), key)?;
        }
        Ok(())
    }

    /// The files service's limits.
    /// The retention job's settings (0 days: keep forever).
    pub fn retention_config(&self) -> enclave_app::RetentionConfig {
        let r = &self.retention;
        let days = |d: u32| (d > 0).then_some(d);
        enclave_app::RetentionConfig {
            enabled: r.enabled,
            interval: std::time::Duration::from_secs(r.interval_secs),
            defaults: enclave_core::retention::GlobalPolicy {
                message_days: days(r.message_days),
                dm_days: days(r.dm_days),
            },
        }
    }

    pub fn files_config(&self) -> enclave_app::FilesConfig {
        let f = &self.files;
        let secs = std::time::Duration::from_secs;
        enclave_app::FilesConfig {
            max_file_size: f.max_file_bytes,
            user_quota: (f.user_quota_bytes > 0).then_some(f.user_quota_bytes),
            max_image_pixels: f.max_image_pixels,
            thumbnail_source_max: f.thumbnail_source_max_bytes,
            thumbnail_timeout: secs(f.thumbnail_timeout_secs.max(1)),
            unattached_grace: secs(f.unattached_grace_secs),
            sweep_interval: secs(f.sweep_interval_secs),
            ..enclave_app::FilesConfig::default()
        }
    }

    /// Where file bytes live.
    pub fn blob_config(&self) -> enclave_files::BlobConfig {
        let f = &self.files;
        if f.store == "s3" {
            return enclave_files::BlobConfig::S3 {
                bucket: f.s3_bucket.clone(),
                endpoint: (!f.s3_endpoint.is_empty()).then(|| f.s3_endpoint.clone()),
                region: f.s3_region.clone(),
                access_key: f.s3_access_key.clone(),
                secret_key: f.s3_secret_key.clone(),
            };
        }
        let root = if f.path.is_empty() {
            self.data_dir.join("files")
        } else {
            PathBuf::from(&f.path)
        };
        enclave_files::BlobConfig::Local { root }
    }

    /// The master keys. With none configured, the key in the data folder's
    /// [`GENERATED_KEY_FILE`] is used, created (mode 0600) with a new random key if missing.
    pub fn key_ring(&self) -> anyhow::Result<enclave_files::KeyRing> {
        let f = &self.files;
        let current = if !f.master_key.is_empty() {
            decode_key("[files] master_key", &f.master_key)?
        } else {
            let path = if f.master_key_file.is_empty() {
                self.data_dir.join(GENERATED_KEY_FILE)
            } else {
                PathBuf::from(&f.master_key_file)
            };
            if f.master_key_file.is_empty() && !path.exists() {
                generate_key_file(&path)?;
            }
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading the file master key {}", path.display()))?;
            decode_key(&format!("the master key in {}", path.display()), &text)?
        };
        let mut ring = enclave_files::KeyRing::new(&f.master_key_id, current)
            .context("[files] master_key_id")?;
        for (id, key) in &f.previous_keys {
            ring = ring
                .with_previous(id, decode_key(&format!("[files] previous_keys.{id}"), key)?)
                .with_context(|| format!("[files] previous_keys.{id}"))?;
        }
        Ok(ring)
    }

    /// The address people reach the server at, without a trailing slash: `[oidc] public_url`
    /// when set, else made from `listen` (`localhost` for an unspecified address).
    pub fn public_base_url(&self) -> anyhow::Result<String> {
        self.public_base_url_at(self.listen_addr()?)
    }

    /// [`Config::public_base_url`] for a server listening on `addr` (the address it was given,
    /// when `listen` names port 0).
    pub fn public_base_url_at(&self, addr: std::net::SocketAddr) -> anyhow::Result<String> {
        let public = self.oidc.public_url.trim().trim_end_matches('/');
        if !public.is_empty() {
            return Ok(public.to_owned());
        }
        let scheme = if self.tls.cert.is_empty() {
            "http"
        } else {
            "https"
        };
        let host = if addr.ip().is_unspecified() || addr.ip().is_loopback() {
            "localhost".to_owned()
        } else if addr.is_ipv6() {
            format!("[{}]", addr.ip())
        } else {
            addr.ip().to_string()
        };
        Ok(format!("{scheme}://{host}:{}", addr.port()))
    }

    pub fn listen_addr(&self) -> anyhow::Result<SocketAddr> {
        self.listen
            .parse()
            .with_context(|| format!("listen = {:?} is not an address:port", self.listen))
    }

    pub fn trusted_proxies(&self) -> anyhow::Result<Vec<IpAddr>> {
        self.http
            .trusted_proxies
            .iter()
            .map(|s| {
                s.parse()
                    .with_context(|| format!("trusted proxy {s:?} is not an IP address"))
            })
            .collect()
    }

    /// Whether the store is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.database.url.starts_with("postgres://")
            || self.database.url.starts_with("postgresql://")
    }

    /// The SQLite database file.
    pub fn database_path(&self) -> PathBuf {
        match self.database.url.strip_prefix("sqlite:") {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => self.data_dir.join("enclave.db"),
        }
    }

    pub fn auth_config(&self) -> enclave_app::AuthConfig {
        let a = &self.auth;
        enclave_app::AuthConfig {
            argon2_memory_kib: a.argon2_memory_kib,
            argon2_iterations: a.argon2_iterations,
            session_ttl: std::time::Duration::from_secs(u64::from(a.session_ttl_days) * 86_400),
            session_idle_timeout: (a.session_idle_timeout_minutes > 0).then(|| {
                std::time::Duration::from_secs(u64::from(a.session_idle_timeout_minutes) * 60)
            }),
            token_max_lifetime: std::time::Duration::from_secs(
                u64::from(a.token_max_days) * 86_400,
            ),
            lockout: a.lockout_policy(),
            second_factor: enclave_app::SecondFactorConfig {
                require: enclave_app::core::signin::Requirement::parse(&a.require_second_factor)
                    .unwrap_or_default(),
                grace_days: a.second_factor_grace_days,
                totp_issuer: a.totp_issuer.trim().to_owned(),
            },
            clock: enclave_app::Clock::system(),
            local_passwords: a.local_passwords,
            webauthn: self.webauthn_config().ok().flatten(),
        }
    }

    /// The WebAuthn relying party, with the keys left empty derived (see [`WebAuthnSection`]);
    /// `None` when nothing was set and no usable one can be derived (the origin's host is an IP
    /// address): security keys are off then. An explicit setting that cannot work is an error.
    pub fn webauthn_config(&self) -> anyhow::Result<Option<enclave_app::WebAuthnConfig>> {
        let w = &self.webauthn;
        let explicit = !w.origin.trim().is_empty() || !w.rp_id.trim().is_empty();
        let (origin, any_port) = match (w.origin.trim(), self.oidc.public_url.trim()) {
            ("", "") => {
                let scheme = if self.tls.cert.is_empty() {
                    "http"
                } else {
                    "https"
                };
                // `listen` may be given again on the command line (port 0: chosen at start),
                // so a derived `localhost` origin is accepted on any port.
                let port = self.listen_addr()?.port();
                (format!("{scheme}://localhost:{port}"), true)
            }
            ("", public) => (public.to_owned(), false),
            (o, _) => (o.to_owned(), false),
        };
        let origin = url::Url::parse(&origin)
            .with_context(|| format!("[webauthn] origin {origin:?} is not a URL"))?;
        let rp_id = match w.rp_id.trim() {
            "" => match origin.domain() {
                Some(d) => d.to_owned(),
                None if explicit => {
                    bail!(
                        "[webauthn] origin must name a domain, not an IP address (browsers refuse WebAuthn on IP addresses)"
                    )
                }
                None => return Ok(None),
            },
            id => id.to_ascii_lowercase(),
        };
        let rp_name = w.rp_name.trim();
        if rp_name.is_empty()
            || rp_name.chars().count() > 64
            || rp_name.contains(|c: char| c.is_control())
        {
            bail!("[webauthn] rp_name must be 1 to 64 characters, without control characters");
        }
        let config = enclave_app::WebAuthnConfig {
            rp_id,
            rp_name: rp_name.to_owned(),
            origin,
            any_port,
        };
        match config.relying_party() {
            Ok(_) => Ok(Some(config)),
            Err(e) if explicit => bail!("[webauthn] {e}"),
            Err(_) => Ok(None),
        }
    }

    /// The outbound client's settings: the allow-list plus each OIDC issuer's host.
    pub fn outbound_config(&self) -> anyhow::Result<enclave_app::OutboundConfig> {
        use enclave_app::AllowedHost;
        let mut allow = Vec::new();
        for a in &self.outbound.allow {
            allow
                .push(AllowedHost::parse(a).map_err(|e| anyhow::anyhow!("[outbound] allow: {e}"))?);
        }
        let mut allow_private = Vec::new();
        for n in &self.outbound.allow_private {
            allow_private.push(
                enclave_app::AllowedNetwork::parse(n)
                    .map_err(|e| anyhow::anyhow!("[outbound] allow_private: {e}"))?,
            );
        }
        // The identity providers the administrator configured are trusted by name: they are
        // often on the internal network.
        let mut trusted_hosts = Vec::new();
        for p in &self.oidc.providers {
            let url = url::Url::parse(&p.issuer)
                .with_context(|| format!("[[oidc.providers]] {}: issuer", p.id))?;
            if let Some(h) = AllowedHost::of_url(&url) {
                trusted_hosts.push(h.host.clone());
                allow.push(h);
            }
        }
        Ok(enclave_app::OutboundConfig {
            allow,
            allow_private,
            trusted_hosts,
            allow_plain_http: self.outbound.allow_plain_http,
            timeout: std::time::Duration::from_secs(self.outbound.timeout_secs),
            connect_timeout: std::time::Duration::from_secs(self.outbound.timeout_secs.min(5)),
            max_response_bytes: self.outbound.max_response_bytes,
        })
    }

    /// The single sign-on settings.
    pub fn sso_config(&self) -> anyhow::Result<enclave_app::SsoConfig> {
        use enclave_app::{LinkBy, ProviderConfig};
        let public_url = match self.oidc.public_url.trim() {
            "" => None,
            u => Some(url::Url::parse(u).context("[oidc] public_url")?),
        };
        let mut providers = Vec::new();
        for p in &self.oidc.providers {
            providers.push(ProviderConfig {
                id: p.id.clone(),
                label: if p.label.is_empty() {
                    p.id.clone()
                } else {
                    p.label.clone()
                },
                issuer: p.issuer.clone(),
                client_id: p.client_id.clone(),
                client_secret: p.client_secret.clone(),
                scopes: p.scopes.clone(),
                link_by: match p.link_by.as_str() {
                    "email" => LinkBy::Email,
                    "username" => LinkBy::Username,
                    "none" => LinkBy::None,
                    other => bail!(
                        "[[oidc.providers]] {}: link_by {other:?} is not email, username or none",
                        p.id
                    ),
                },
                username_claim: p.username_claim.clone(),
                require_email_verified: p.require_email_verified,
                auto_create: p.auto_create,
                groups_claim: (!p.groups_claim.is_empty()).then(|| p.groups_claim.clone()),
                group_roles: p.group_roles.clone(),
                group_departments: p.group_departments.clone(),
            });
        }
        Ok(enclave_app::SsoConfig {
            public_url,
            providers,
            local_passwords: self.auth.local_passwords,
        })
    }

    /// The per-user rate limits.
    /// The guest policy (`[guests]`).
    pub fn guest_policy(&self) -> enclave_core::GuestPolicy {
        enclave_core::GuestPolicy {
            require_expiry: self.guests.require_expiry,
            max_days: self.guests.max_days,
        }
    }

    pub fn rate_limit_config(&self) -> enclave_app::RateLimitConfig {
        use enclave_app::core::rate::Rate;
        let l = &self.rate_limits;
        enclave_app::RateLimitConfig {
            posts: Rate::new(l.posts_per_sec, l.posts_burst),
            reactions: Rate::new(l.reactions_per_sec, l.reactions_burst),
            uploads: Rate::new(l.uploads_per_sec, l.uploads_burst),
            searches: Rate::new(l.searches_per_sec, l.searches_burst),
            writes: Rate::new(l.writes_per_sec, l.writes_burst),
        }
    }

    pub fn realtime_config(&self) -> enclave_app::RealtimeConfig {
        let r = &self.realtime;
        enclave_app::RealtimeConfig {
            queue_len: r.queue_len,
            idle: std::time::Duration::from_secs(r.idle_secs),
            retention: std::time::Duration::from_secs(u64::from(r.retention_days) * 86_400),
            max_sockets_per_user: r.max_sockets_per_user,
            max_sockets_per_ip: r.max_sockets_per_ip,
            ..enclave_app::RealtimeConfig::default()
        }
    }

    /// The LDAP providers, checked (unique ids), with their files read.
    pub fn ldap_providers(&self) -> anyhow::Result<Vec<enclave_app::LdapProvider>> {
        let mut out: Vec<enclave_app::LdapProvider> = Vec::new();
        for p in &self.ldap.providers {
            let p = p.provider()?;
            if out.iter().any(|q| q.id == p.id) {
                bail!("[[ldap.providers]] id {:?} is used twice", p.id);
            }
            out.push(p);
        }
        Ok(out)
    }

    /// The configuration as TOML with secrets masked.
    pub fn to_masked_toml(&self) -> anyhow::Result<String> {
        let mut shown = self.clone();
        shown.database.url = mask_url(&shown.database.url);
        shown.cluster.nats_url = shown
            .cluster
            .nats_url
            .split(',')
            .map(mask_url)
            .collect::<Vec<_>>()
            .join(",");
        let mask = |s: &mut String| {
            if !s.is_empty() {
                *s = "****".into();
            }
        };
        mask(&mut shown.files.s3_secret_key);
        mask(&mut shown.files.master_key);
        for p in &mut shown.oidc.providers {
            mask(&mut p.client_secret);
        }
        for p in &mut shown.ldap.providers {
            mask(&mut p.bind_password);
        }
        for v in shown.files.previous_keys.values_mut() {
            mask(v);
        }
        Ok(toml::to_string_pretty(&shown)?)
    }
}

/// Writes a new random master key (base64) to `path`, readable by this user only.
fn generate_key_file(path: &Path) -> anyhow::Result<()> {
    use base64::Engine as _;
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the data folder {}", dir.display()))?;
    }
    let key = enclave_files::crypto::new_master_key();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    writeln!(
        file,
        "{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )?;
    file.sync_all()?;
    tracing::warn!(
        path = %path.display(),
        "generated a new master key for files at rest; back it up separately from the data (without it stored files cannot be read), or move it to a key file or [files] master_key"
    );
    Ok(())
}

/// Hides the password in a `scheme://user:password@host` URL.
pub fn mask_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:****@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("enclave.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\n[auth]\nsession_ttl_days = 7\nmax_delay_secs = 300\n",
        )
        .expect("write");
        let env = vec![
            ("ENCLAVE_AUTH__MAX_DELAY_SECS".to_owned(), "540".to_owned()),
            ("ENCLAVE_TLS__CERT".to_owned(), "/c.pem".to_owned()),
            ("ENCLAVE_TLS__KEY".to_owned(), "/k.pem".to_owned()),
            ("UNRELATED".to_owned(), "x".to_owned()),
        ];
        let flags = Overrides {
            data_dir: Some("/srv/enclave".into()),
            ..Overrides::default()
        };
        let c = Config::load(Some(&file), env.into_iter(), &flags).expect("load");
        assert_eq!(c.listen, "127.0.0.1:9000");
        assert_eq!(c.auth.session_ttl_days, 7);
        assert_eq!(c.auth.max_delay_secs, 540, "environment beats the file");
        assert_eq!(c.tls.cert, "/c.pem");
        assert_eq!(
            c.data_dir,
            PathBuf::from("/srv/enclave"),
            "flags beat everything"
        );
        assert_eq!(c.database_path(), PathBuf::from("/srv/enclave/enclave.db"));
    }

    #[test]
    fn the_webauthn_relying_party_is_derived_or_checked() {
        let load = |env: &[(&str, &str)]| {
            Config::load(
                None,
                env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
                &Overrides::default(),
            )
        };
        // From `listen`: localhost on any port (the port may be chosen at start).
        let w = load(&[])
            .expect("a usable configuration")
            .webauthn_config()
            .expect("a usable configuration")
            .expect("a usable configuration");
        assert_eq!(w.rp_id, "localhost");
        assert_eq!(w.origin.as_str(), "http://localhost:8080/");
        assert!(w.any_port);
        assert_eq!(w.rp_name, "Enclave");
        // From the public URL.
        let w = load(&[("ENCLAVE_OIDC__PUBLIC_URL", "https://chat.example.org")])
            .expect("a usable configuration")
            .webauthn_config()
            .expect("a usable configuration")
            .expect("a usable configuration");
        assert_eq!(w.rp_id, "chat.example.org");
        assert!(!w.any_port);
        // Explicit: a parent domain is fine.
        let w = load(&[
            ("ENCLAVE_WEBAUTHN__ORIGIN", "https://chat.example.org"),
            ("ENCLAVE_WEBAUTHN__RP_ID", "example.org"),
        ])
        .expect("a usable configuration")
        .webauthn_config()
        .expect("a usable configuration")
        .expect("a usable configuration");
        assert_eq!(w.rp_id, "example.org");
        // A public URL on an IP address: security keys are off, the server still starts.
        let c = load(&[("ENCLAVE_OIDC__PUBLIC_URL", "https://10.0.0.5")])
            .expect("a usable configuration");
        assert!(
            c.webauthn_config()
                .expect("a usable configuration")
                .is_none()
        );
        assert!(c.auth_config().webauthn.is_none());
        // Explicit settings that cannot work stop the server.
        for bad in [
            [
                ("ENCLAVE_WEBAUTHN__ORIGIN", "https://10.0.0.5"),
                ("ENCLAVE_WEBAUTHN__RP_NAME", "Enclave"),
            ],
            [
                ("ENCLAVE_WEBAUTHN__ORIGIN", "https://chat.example.org"),
                ("ENCLAVE_WEBAUTHN__RP_ID", "other.org"),
            ],
            [
                ("ENCLAVE_WEBAUTHN__ORIGIN", "not a url"),
                ("ENCLAVE_WEBAUTHN__RP_NAME", "Enclave"),
            ],
            [
                ("ENCLAVE_WEBAUTHN__RP_NAME", ""),
                ("ENCLAVE_WEBAUTHN__RP_ID", ""),
            ],
        ] {
            assert!(load(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rate_limits_default_on_and_each_kind_can_be_set_or_turned_off() {
        let load = |env: &[(&str, &str)]| {
            Config::load(
                None,
                env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
                &Overrides::default(),
            )
        };
        let d = load(&[]).expect("defaults").rate_limit_config();
        assert_eq!(d, enclave_app::RateLimitConfig::default());
        assert_eq!((d.posts.per_sec, d.posts.burst), (10, 30));
        let c = load(&[
            ("ENCLAVE_RATE_LIMITS__POSTS_PER_SEC", "0"),
            ("ENCLAVE_RATE_LIMITS__SEARCHES_PER_SEC", "1"),
            ("ENCLAVE_RATE_LIMITS__SEARCHES_BURST", "3"),
        ])
        .expect("overrides")
        .rate_limit_config();
        assert!(c.posts.is_off());
        assert_eq!((c.searches.per_sec, c.searches.burst), (1, 3));
        assert_eq!(c.writes, d.writes);
        assert!(load(&[("ENCLAVE_RATE_LIMITS__UPLOADS_BURST", "0")]).is_err());
        assert!(
            load(&[
                ("ENCLAVE_RATE_LIMITS__UPLOADS_PER_SEC", "0"),
                ("ENCLAVE_RATE_LIMITS__UPLOADS_BURST", "0"),
            ])
            .is_ok(),
            "a limit turned off needs no burst"
        );
        assert!(load(&[("ENCLAVE_RATE_LIMITS__POSTS", "1")]).is_err());
    }

    #[test]
    fn bad_values_are_refused() {
        let bad = |env: Vec<(&str, &str)>| {
            Config::load(
                None,
                env.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())),
                &Overrides::default(),
            )
            .is_err()
        };
        assert!(bad(vec![("ENCLAVE_LISTEN", "nowhere")]));
        assert!(bad(vec![("ENCLAVE_LOG_FORMAT", "xml")]));
        assert!(bad(vec![("ENCLAVE_TLS__CERT", "/only-cert.pem")]));
        assert!(bad(vec![("ENCLAVE_NO_SUCH_KEY", "1")]));
        assert!(bad(vec![("ENCLAVE_AUTH__SESSION_TTL_DAYS", "many")]));
        assert!(bad(vec![("ENCLAVE_FILES__NO_SUCH_KEY", "1")]));
        assert!(bad(vec![("ENCLAVE_FILES__STORE", "ftp")]));
        assert!(bad(vec![("ENCLAVE_FILES__STORE", "s3")]));
        assert!(bad(vec![("ENCLAVE_FILES__MASTER_KEY", "c2hvcnQ=")]));
        assert!(bad(vec![(
            "ENCLAVE_FILES__PREVIOUS_KEYS__OLD",
            "not base64!"
        )]));
        assert!(bad(vec![("ENCLAVE_FILES__MAX_FILE_BYTES", "0")]));
        assert!(bad(vec![("ENCLAVE_HTTP__HEADER_READ_TIMEOUT_SECS", "0")]));
        assert!(bad(vec![("ENCLAVE_HTTP__IDLE_TIMEOUT_SECS", "20")]));
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn file_settings_and_their_secrets() {
        let key = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
        let env = [
            ("ENCLAVE_FILES__STORE", "s3"),
            ("ENCLAVE_FILES__S3_BUCKET", "b"),
            ("ENCLAVE_FILES__S3_ACCESS_KEY", "ak"),
            ("ENCLAVE_FILES__S3_SECRET_KEY", "very-secret"),
            ("ENCLAVE_FILES__MASTER_KEY", key),
            ("ENCLAVE_FILES__MASTER_KEY_ID", "k2"),
            ("ENCLAVE_FILES__PREVIOUS_KEYS__K1", key),
            ("ENCLAVE_FILES__USER_QUOTA_BYTES", "0"),
        ];
        let config = Config::load(
            None,
            env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
            &Overrides::default(),
        )
        .unwrap();
        let shown = config.to_masked_toml().unwrap();
        assert!(
            !shown.contains("very-secret") && !shown.contains(key),
            "{shown}"
        );
        assert!(shown.contains("s3_access_key = \"ak\""), "{shown}");
        assert_eq!(config.files_config().user_quota, None);
        assert!(matches!(
            config.blob_config(),
            enclave_files::BlobConfig::S3 { endpoint: None, .. }
        ));
        assert_eq!(config.key_ring().unwrap().current_id(), "k2");
    }

    #[test]
    fn the_lockout_keys_make_the_policy_and_the_old_keys_still_work() {
        let load = |env: &[(&str, &str)]| {
            Config::load(
                None,
                env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
                &Overrides::default(),
            )
        };
        let d = load(&[]).expect("defaults").auth_config().lockout;
        assert_eq!(d, enclave_app::core::lockout::Policy::default());
        let p = load(&[
            ("ENCLAVE_AUTH__FAILURES_BEFORE_DELAY", "5"),
            ("ENCLAVE_AUTH__ACCOUNT_FAILURES_BEFORE_DELAY", "0"),
            ("ENCLAVE_AUTH__ADDRESS_FAILURES_BEFORE_DELAY", "500"),
            ("ENCLAVE_AUTH__FIRST_DELAY_SECS", "2"),
            ("ENCLAVE_AUTH__MAX_DELAY_SECS", "60"),
            ("ENCLAVE_AUTH__FAILURE_MEMORY_HOURS", "2"),
            ("ENCLAVE_AUTH__KNOWN_ADDRESS_DAYS", "7"),
        ])
        .expect("valid")
        .auth_config()
        .lockout;
        assert_eq!((p.pair.free, p.account.free, p.source.free), (5, 0, 500));
        assert_eq!(
            p.account.delay(1000),
            std::time::Duration::ZERO,
            "0 turns it off"
        );
        assert_eq!(p.pair.first.as_secs(), 2);
        assert_eq!(p.source.max.as_secs(), 60);
        assert_eq!(p.memory.as_secs(), 7200);
        assert_eq!(p.known_for.as_secs(), 7 * 86_400);
        // The keys of earlier versions are read as their replacements.
        let old = load(&[
            ("ENCLAVE_AUTH__MAX_FAILURES_PER_ACCOUNT", "10"),
            ("ENCLAVE_AUTH__MAX_FAILURES_PER_IP", "50"),
            ("ENCLAVE_AUTH__LOCKOUT_MINUTES", "5"),
        ])
        .expect("old keys")
        .auth_config()
        .lockout;
        assert_eq!((old.account.free, old.source.free), (10, 50));
        assert_eq!(old.pair.max.as_secs(), 300);
        for bad in [
            ("ENCLAVE_AUTH__FIRST_DELAY_SECS", "0"),
            ("ENCLAVE_AUTH__MAX_DELAY_SECS", "0"),
            ("ENCLAVE_AUTH__FAILURE_MEMORY_HOURS", "0"),
            ("ENCLAVE_AUTH__KNOWN_ADDRESS_DAYS", "0"),
            ("ENCLAVE_AUTH__MAX_DELAY_SECS", "90000"),
            ("ENCLAVE_AUTH__FAILURES_BEFORE_DELAY", "-1"),
        ] {
            assert!(load(&[bad]).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn secrets_are_masked() {
        assert_eq!(
            mask_url("postgres://enclave:s3cret@db:5432/enclave"),
            "postgres://enclave:****@db:5432/enclave"
        );
        assert_eq!(
            mask_url("sqlite:/var/lib/enclave.db"),
            "sqlite:/var/lib/enclave.db"
        );
    }
}

/// Fuzz target for configuration loading, run by `cargo test` with a bounded number of cases
/// (`ENCLAVE_FUZZ_CASES`, 256 by default; `docs/fuzzing.md`): TOML files and `ENCLAVE_*`
/// variables, either arbitrary text or built from the real section and key names with values of
/// every TOML type. Loading never panics, and a configuration it accepts can be used: every
/// derived setting is computed without a panic and the validated bounds hold.
#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;
    use proptest::test_runner::Config as Cases;

    use super::*;

    fn cases() -> Cases {
        let cases = std::env::var("ENCLAVE_FUZZ_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(256);
        Cases {
            cases,
            failure_persistence: None,
            ..Cases::default()
        }
    }

    /// Every `(section, key)` of the defaults (`("", key)` for top-level keys).
    fn keys() -> Vec<(String, String)> {
        let table = toml::Table::try_from(Config::default()).expect("defaults render");
        let mut out = Vec::new();
        for (k, v) in table {
            match v {
                toml::Value::Table(t) => out.extend(t.keys().map(|sub| (k.clone(), sub.clone()))),
                _ => out.push((String::new(), k)),
            }
        }
        out.extend(
            [
                ("auth", "max_failures_per_account"),
                ("auth", "lockout_minutes"),
                ("files", "previous_keys"),
                ("nope", "nope"),
                ("auth", "nope"),
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned())),
        );
        out
    }

    fn toml_value() -> impl Strategy<Value = toml::Value> {
        let leaf = prop_oneof![
            any::<i64>().prop_map(toml::Value::Integer),
            (0i64..5000).prop_map(toml::Value::Integer),
            prop::sample::select(vec![0i64, 1, -1, 8, 16, 3600, u32::MAX as i64, i64::MAX])
                .prop_map(toml::Value::Integer),
            any::<f64>().prop_map(toml::Value::Float),
            any::<bool>().prop_map(toml::Value::Boolean),
            any::<String>().prop_map(toml::Value::String),
            prop::sample::select(vec![
                "",
                "127.0.0.1:0",
                "[::1]:8080",
                "text",
                "json",
                "s3",
                "local",
                "sqlite:",
                "postgres://u:p@h/db",
                "nats://x",
                "::1",
                "k1",
                "AAAA",
            ])
            .prop_map(|s| toml::Value::String(s.to_owned())),
        ];
        leaf.prop_recursive(2, 8, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(toml::Value::Array),
                prop::collection::btree_map("[a-z0-9_]{1,6}", inner, 0..3)
                    .prop_map(|m| toml::Value::Table(m.into_iter().collect())),
            ]
        })
    }

    /// A configuration file of real keys with random values, as TOML text.
    fn file() -> impl Strategy<Value = String> {
        let keys = keys();
        prop::collection::vec((prop::sample::select(keys), toml_value()), 0..8).prop_map(|pairs| {
            let mut table = toml::Table::new();
            for ((section, key), v) in pairs {
                if section.is_empty() {
                    table.insert(key, v);
                } else if let toml::Value::Table(t) = table
                    .entry(section)
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                {
                    t.insert(key, v);
                }
            }
            toml::to_string(&table).unwrap_or_default()
        })
    }

    fn env() -> impl Strategy<Value = Vec<(String, String)>> {
        let keys = keys();
        let named = (prop::sample::select(keys), any::<String>()).prop_map(|((s, k), v)| {
            let name = if s.is_empty() {
                format!("ENCLAVE_{}", k.to_uppercase())
            } else {
                format!("ENCLAVE_{}__{}", s.to_uppercase(), k.to_uppercase())
            };
            (name, v)
        });
        let numbers = (prop::sample::select(keys_static()), -5i64..100_000)
            .prop_map(|(name, n)| (name.to_owned(), n.to_string()));
        let raw = ("ENCLAVE_[A-Z_]{0,20}", any::<String>());
        prop::collection::vec(prop_oneof![2 => named, 2 => numbers, 1 => raw], 0..6)
    }

    fn keys_static() -> Vec<&'static str> {
        vec![
            "ENCLAVE_AUTH__FAILURES_BEFORE_DELAY",
            "ENCLAVE_AUTH__FIRST_DELAY_SECS",
            "ENCLAVE_AUTH__MAX_DELAY_SECS",
            "ENCLAVE_AUTH__FAILURE_MEMORY_HOURS",
            "ENCLAVE_AUTH__KNOWN_ADDRESS_DAYS",
            "ENCLAVE_AUTH__LOCKOUT_MINUTES",
            "ENCLAVE_AUTH__ARGON2_MEMORY_KIB",
            "ENCLAVE_REALTIME__QUEUE_LEN",
            "ENCLAVE_REALTIME__HEARTBEAT_SECS",
            "ENCLAVE_HTTP__IDLE_TIMEOUT_SECS",
            "ENCLAVE_RATE_LIMITS__POSTS_PER_SEC",
            "ENCLAVE_FILES__MAX_FILE_BYTES",
        ]
    }

    fn check(text: &str, env: Vec<(String, String)>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("enclave.toml");
        std::fs::write(&path, text).expect("write");
        let Ok(c) = Config::load(Some(&path), env.into_iter(), &Overrides::default()) else {
            return;
        };
        let policy = c.auth.lockout_policy();
        assert!(!policy.pair.first.is_zero() && policy.pair.max >= policy.pair.first);
        assert!(policy.memory >= policy.pair.max);
        assert!(c.auth.session_ttl_days >= 1);
        c.listen_addr().expect("validated");
        c.trusted_proxies().expect("validated");
        let _ = (
            c.auth_config(),
            c.rate_limit_config(),
            c.realtime_config(),
            c.files_config(),
            c.is_postgres(),
            c.database_path(),
        );
        let shown = c
            .to_masked_toml()
            .expect("an accepted configuration renders");
        assert!(toml::from_str::<toml::Table>(&shown).is_ok(), "{shown}");
    }

    proptest! {
        #![proptest_config(cases())]

        #[test]
        fn files_of_real_keys_load_or_are_refused(text in file(), env in env()) {
            check(&text, env);
        }

        #[test]
        fn arbitrary_files_load_or_are_refused(text in any::<String>()) {
            check(&text, Vec::new());
        }
    }

    /// Inputs kept from the fuzzers and hand-made hostile cases.
    #[test]
    fn regressions() {
        let e = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
        check(
            "",
            e("ENCLAVE_AUTH__MAX_DELAY_SECS", "18446744073709551615"),
        );
        check(
            "[auth]\nfailure_memory_hours = 18446744073709551615\n",
            Vec::new(),
        );
        check(
            "[auth]\nknown_address_days = 9223372036854775807\n",
            Vec::new(),
        );
        check("[auth]\nlockout_minutes = 4294967295\n", Vec::new());
        check("[auth]\nfirst_delay_secs = 0\n", Vec::new());
        check("", e("ENCLAVE___", "1"));
        check("", e("ENCLAVE_AUTH____X", "1"));
        check("", e("ENCLAVE_AUTH", "1"));
        check("", e("ENCLAVE_LISTEN", "[1, 2]"));
        check("auth = 1\n", e("ENCLAVE_AUTH__SESSION_TTL_DAYS", "2"));
        check(
            "[realtime]\nheartbeat_secs = 18446744073709551615\n",
            Vec::new(),
        );
    }
}
