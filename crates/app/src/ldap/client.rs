//! The LDAP side: connecting (LDAPS or StartTLS through rustls, with the configured CA),
//! finding a user's entry as the service account, binding as the user, and listing every user
//! for the sync. Only hosts the administrator configured are contacted.

use std::sync::Arc;

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry, ldap_escape};

use super::LdapProvider;

/// Page size of the sync's searches (Active Directory answers at most 1,000 entries a page).
const PAGE_SIZE: i32 = 500;

/// Why a directory operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DirError {
    /// The server could not be reached, TLS failed, or it answered with an error.
    #[error("{0}")]
    Unreachable(String),
    /// The service account's bind was refused (a configuration problem).
    #[error("the service account's bind was refused: {0}")]
    ServiceBind(String),
}

/// One user as the directory describes it, with the attributes Enclave uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub dn: String,
    /// The entry's stable id (entryUUID, objectGUID in hex), or the DN when there is none.
    pub external_id: String,
    /// The login name (uid, sAMAccountName), as the directory spells it.
    pub username: String,
    pub display_name: String,
    pub email: String,
    pub phone: String,
    pub title: String,
    pub department: String,
    pub disabled: bool,
    /// DNs of the groups the entry belongs to.
    pub groups: Vec<String>,
}

fn first(e: &SearchEntry, attr: &str) -> String {
    if attr.is_empty() {
        return String::new();
    }
    e.attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(attr))
        .and_then(|(_, v)| v.first())
        .map(|v| v.trim().to_owned())
        .unwrap_or_default()
}

fn all_values(e: &SearchEntry, attr: &str) -> Vec<String> {
    if attr.is_empty() {
        return Vec::new();
    }
    e.attrs
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(attr))
        .flat_map(|(_, v)| v.iter().cloned())
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Whether the entry is disabled by the provider's rule.
pub fn is_disabled(p: &LdapProvider, values: &[String]) -> bool {
    if p.disabled_attribute.is_empty() {
        return false;
    }
    if p.disabled_bitmask != 0 {
        return values.iter().any(|v| {
            v.trim()
                .parse::<i64>()
                .is_ok_and(|n| (n as u64) & p.disabled_bitmask != 0)
        });
    }
    if p.disabled_values.is_empty() {
        return !values.is_empty();
    }
    values.iter().any(|v| {
        p.disabled_values
            .iter()
            .any(|d| d.trim().eq_ignore_ascii_case(v.trim()))
    })
}

/// The attributes to ask for.
fn attributes(p: &LdapProvider) -> Vec<String> {
    let mut a: Vec<String> = [
        &p.attributes.username,
        &p.attributes.display_name,
        &p.attributes.email,
        &p.attributes.phone,
        &p.attributes.title,
        &p.attributes.department,
        &p.attributes.external_id,
        &p.disabled_attribute,
        &p.member_of_attribute,
    ]
    .into_iter()
    .filter(|s| !s.is_empty())
    .cloned()
    .collect();
    a.sort();
    a.dedup();
    a
}

/// The user filter with `{username}` replaced by the escaped login (RFC 4515: `*`, `(`, `)`,
/// `\` and NUL become `\2a`, `\28`, `\29`, `\5c`, `\00`), so a login cannot change the filter.
pub fn user_filter(p: &LdapProvider, login: &str) -> String {
    p.user_filter.replace("{username}", &ldap_escape(login))
}

/// An open connection to the provider's server.
pub struct Conn {
    ldap: Ldap,
}

fn tls_config(p: &LdapProvider) -> Result<Arc<rustls::ClientConfig>, DirError> {
    let mut roots = rustls::RootCertStore::empty();
    if p.ca_pem.is_empty() {
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
    } else {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        for cert in CertificateDer::pem_slice_iter(p.ca_pem.as_bytes()) {
            let cert = cert.map_err(|e| DirError::Unreachable(format!("bad CA file: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| DirError::Unreachable(format!("bad CA certificate: {e}")))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| DirError::Unreachable(format!("TLS set-up failed: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

fn unreachable(e: impl std::fmt::Display) -> DirError {
    DirError::Unreachable(e.to_string())
}

impl Conn {
    /// Connects (and, with `starttls`, upgrades) within the connect time-out.
    pub async fn open(p: &LdapProvider) -> Result<Conn, DirError> {
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(p.connect_timeout)
            .set_starttls(p.starttls && p.url.starts_with("ldap://"));
        if p.url.starts_with("ldaps://") || p.starttls {
            settings = settings.set_config(tls_config(p)?);
        }
        let (conn, mut ldap) = tokio::time::timeout(
            p.connect_timeout,
            LdapConnAsync::with_settings(settings, &p.url),
        )
        .await
        .map_err(|_| DirError::Unreachable("connection timed out".into()))?
        .map_err(unreachable)?;
        ldap3::drive!(conn);
        ldap.with_timeout(p.timeout);
        Ok(Conn { ldap })
    }

    /// Binds as the service account (a configuration without one searches anonymously).
    pub async fn bind_service(&mut self, p: &LdapProvider) -> Result<(), DirError> {
        if p.bind_dn.is_empty() {
            return Ok(());
        }
        let r = self
            .ldap
            .simple_bind(&p.bind_dn, &p.bind_password)
            .await
            .map_err(unreachable)?;
        if r.rc != 0 {
            return Err(DirError::ServiceBind(format!(
                "result code {} {}",
                r.rc, r.text
            )));
        }
        Ok(())
    }

    /// Binds as `dn` with `password`: `Ok(true)` when the directory accepted it. An empty
    /// password is never sent (a directory may take it as an anonymous bind and succeed).
    pub async fn bind_user(&mut self, dn: &str, password: &str) -> Result<bool, DirError> {
        if password.is_empty() || dn.is_empty() {
            return Ok(false);
        }
        let r = self
            .ldap
            .simple_bind(dn, password)
            .await
            .map_err(unreachable)?;
        match r.rc {
            0 => Ok(true),
            // invalidCredentials, and what some servers answer for locked or expired accounts.
            49 | 50 | 53 => Ok(false),
            rc => Err(DirError::Unreachable(format!(
                "bind: result code {rc} {}",
                r.text
            ))),
        }
    }

    /// The entries matching `filter` under the base DN (all pages), with their groups.
    async fn search(&mut self, p: &LdapProvider, filter: &str) -> Result<Vec<DirEntry>, DirError> {
        let attrs = attributes(p);
        let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![
            Box::new(EntriesOnly::new()),
            Box::new(PagedResults::new(PAGE_SIZE)),
        ];
        let mut stream = self
            .ldap
            .streaming_search_with(adapters, &p.base_dn, Scope::Subtree, filter, attrs)
            .await
            .map_err(unreachable)?;
        let mut raw = Vec::new();
        while let Some(e) = stream.next().await.map_err(unreachable)? {
            raw.push(SearchEntry::construct(e));
            if raw.len() > p.max_entries {
                return Err(DirError::Unreachable(format!(
                    "more than {} entries: raise max_entries or narrow the filter",
                    p.max_entries
                )));
            }
        }
        let res = stream.finish().await;
        // 32 (noSuchObject): an empty answer under a base that is not there.
        if res.rc != 0 && res.rc != 32 {
            return Err(DirError::Unreachable(format!(
                "search: result code {} {}",
                res.rc, res.text
            )));
        }
        let mut out = Vec::with_capacity(raw.len());
        for e in raw {
            out.push(self.entry(p, e).await?);
        }
        Ok(out)
    }

    async fn entry(&mut self, p: &LdapProvider, e: SearchEntry) -> Result<DirEntry, DirError> {
        let a = &p.attributes;
        let external_id = if a.external_id.is_empty() {
            String::new()
        } else if let Some((_, v)) = e
            .bin_attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&a.external_id))
        {
            v.first().map(|b| hex(b)).unwrap_or_default()
        } else {
            first(&e, &a.external_id)
        };
        let mut groups = all_values(&e, &p.member_of_attribute);
        if !p.group_filter.is_empty() {
            groups.extend(self.groups_of(p, &e.dn).await?);
        }
        groups.sort();
        groups.dedup();
        Ok(DirEntry {
            external_id: if external_id.is_empty() {
                e.dn.to_lowercase()
            } else {
                external_id
            },
            username: first(&e, &a.username),
            display_name: first(&e, &a.display_name),
            email: first(&e, &a.email),
            phone: first(&e, &a.phone),
            title: first(&e, &a.title),
            department: first(&e, &a.department),
            disabled: is_disabled(p, &all_values(&e, &p.disabled_attribute)),
            groups,
            dn: e.dn,
        })
    }

    /// The DNs of the groups whose `group_filter` (with `{dn}` the escaped user DN) matches.
    async fn groups_of(&mut self, p: &LdapProvider, dn: &str) -> Result<Vec<String>, DirError> {
        let filter = p.group_filter.replace("{dn}", &ldap_escape(dn));
        let base = if p.group_base_dn.is_empty() {
            &p.base_dn
        } else {
            &p.group_base_dn
        };
        let (entries, _) = self
            .ldap
            .search(base, Scope::Subtree, &filter, vec!["1.1"])
            .await
            .map_err(unreachable)?
            .success()
            .map_err(unreachable)?;
        Ok(entries
            .into_iter()
            .map(|e| SearchEntry::construct(e).dn)
            .collect())
    }

    /// The entry of `login` (exactly one, or none when zero or several match).
    pub async fn find_user(
        &mut self,
        p: &LdapProvider,
        login: &str,
    ) -> Result<Option<DirEntry>, DirError> {
        let mut found = self.search(p, &user_filter(p, login)).await?;
        Ok(if found.len() == 1 { found.pop() } else { None })
    }

    /// Every user the sync filter finds.
    pub async fn all_users(&mut self, p: &LdapProvider) -> Result<Vec<DirEntry>, DirError> {
        self.search(p, &p.sync_filter).await
    }

    pub async fn close(mut self) {
        let _ = self.ldap.unbind().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_cannot_change_the_filter() {
        let p = LdapProvider {
            user_filter: "(&(objectClass=person)(uid={username}))".into(),
            ..LdapProvider::default()
        };
        assert_eq!(
            user_filter(&p, "*)(uid=*"),
            "(&(objectClass=person)(uid=\\2a\\29\\28uid=\\2a))"
        );
        assert_eq!(
            user_filter(&p, "a\\b\0"),
            "(&(objectClass=person)(uid=a\\5cb\\00))"
        );
    }

    #[test]
    fn disabled_rules() {
        let ad = LdapProvider {
            disabled_attribute: "userAccountControl".into(),
            disabled_bitmask: 2,
            ..LdapProvider::default()
        };
        assert!(is_disabled(&ad, &["514".into()]));
        assert!(!is_disabled(&ad, &["512".into()]));
        assert!(!is_disabled(&ad, &[]));
        let locked = LdapProvider {
            disabled_attribute: "pwdAccountLockedTime".into(),
            ..LdapProvider::default()
        };
        assert!(is_disabled(&locked, &["000001010000Z".into()]));
        assert!(!is_disabled(&locked, &[]));
        let typed = LdapProvider {
            disabled_attribute: "employeeType".into(),
            disabled_values: vec!["Disabled".into()],
            ..LdapProvider::default()
        };
        assert!(is_disabled(&typed, &["disabled".into()]));
        assert!(!is_disabled(&typed, &["staff".into()]));
    }
}
