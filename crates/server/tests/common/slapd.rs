//! A real OpenLDAP server (Debian `slapd`) for the LDAP tests: started from a `slapd.conf` in a
//! temporary folder, on free loopback ports (plain LDAP with StartTLS, and LDAPS), with the
//! `memberof` overlay and a certificate made by rcgen (its CA in [`Slapd::ca_file`]). The
//! server is killed when the handle drops.
//!
//! `slapd` and `ldapadd` come from the Debian packages `slapd` and `ldap-utils` (installed by
//! `scripts/test`); without them the test is skipped here, and fails in CI.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The tree's suffix.
pub const SUFFIX: &str = "dc=example,dc=org";
pub const ROOT_DN: &str = "cn=admin,dc=example,dc=org";
pub const ROOT_PASSWORD: &str = "root-secret";
/// The service account Enclave searches as.
pub const SERVICE_DN: &str = "cn=enclave,ou=services,dc=example,dc=org";
pub const SERVICE_PASSWORD: &str = "service-secret";
pub const PEOPLE: &str = "ou=people,dc=example,dc=org";

const SLAPD: &str = "/usr/sbin/slapd";

pub struct Slapd {
    dir: tempfile::TempDir,
    child: Child,
    /// Plain LDAP (StartTLS offered).
    pub port: u16,
    /// LDAPS.
    pub tls_port: u16,
    /// The CA that signed the server's certificate (PEM).
    pub ca_file: PathBuf,
    /// A CA that signed nothing here (for the untrusted case).
    pub other_ca_file: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn ca(name: &str) -> (rcgen::CertificateParams, rcgen::KeyPair) {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    (params, rcgen::KeyPair::generate().unwrap())
}

impl Slapd {
    /// Starts slapd with the base tree (suffix, `ou=people`, `ou=groups`, `ou=services` and the
    /// service account); `None` (skip) when slapd is not installed outside CI.
    pub fn start() -> Option<Slapd> {
        if !Path::new(SLAPD).exists() || which("ldapadd").is_none() {
            assert!(
                !in_ci(),
                "slapd and ldap-utils must be installed in CI (apt-get install slapd ldap-utils)"
            );
            eprintln!("skipping the LDAP tests: install the Debian packages slapd and ldap-utils");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("enclave-slapd-")
            .tempdir()
            .unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("db")).unwrap();

        // Certificates: a CA and the server's certificate for 127.0.0.1.
        let (ca_params, ca_key) = ca("Enclave test LDAP CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let mut leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        leaf.distinguished_name
            .push(rcgen::DnType::CommonName, "127.0.0.1");
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
        let (other_params, other_key) = ca("Some other CA");
        let other = other_params.self_signed(&other_key).unwrap();
        let ca_file = d.join("ca.pem");
        std::fs::write(&ca_file, ca_cert.pem()).unwrap();
        let other_ca_file = d.join("other-ca.pem");
        std::fs::write(&other_ca_file, other.pem()).unwrap();
        std::fs::write(d.join("server.pem"), leaf_cert.pem()).unwrap();
        std::fs::write(d.join("server.key"), leaf_key.serialize_pem()).unwrap();

        let conf = format!(
            r#"include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
pidfile {d}/slapd.pid
argsfile {d}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
TLSCACertificateFile {d}/ca.pem
TLSCertificateFile {d}/server.pem
TLSCertificateKeyFile {d}/server.key
database mdb
maxsize 10485760
suffix "{SUFFIX}"
rootdn "{ROOT_DN}"
rootpw {ROOT_PASSWORD}
directory {d}/db
overlay memberof
access to attrs=userPassword by anonymous auth by self write by * none
access to * by dn.exact="{SERVICE_DN}" read by self read by anonymous auth by * none
"#,
            d = d.display()
        );
        std::fs::write(d.join("slapd.conf"), conf).unwrap();
        let port = free_port();
        let tls_port = free_port();
        let child = Command::new(SLAPD)
            .arg("-f")
            .arg(d.join("slapd.conf"))
            .arg("-h")
            .arg(format!(
                "ldap://127.0.0.1:{port}/ ldaps://127.0.0.1:{tls_port}/"
            ))
            // Debug level 0: stay in the foreground (so the handle owns the process), quietly.
            .args(["-d", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting slapd");
        let mut slapd = Slapd {
            dir,
            child,
            port,
            tls_port,
            ca_file,
            other_ca_file,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                && std::net::TcpStream::connect(("127.0.0.1", tls_port)).is_ok()
            {
                break;
            }
            if let Ok(Some(status)) = slapd.child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = slapd.child.stderr.take() {
                    use std::io::Read as _;
                    let _ = e.read_to_string(&mut err);
                }
                panic!("slapd exited ({status}): {err}");
            }
            assert!(Instant::now() < deadline, "slapd did not start listening");
            std::thread::sleep(Duration::from_millis(50));
        }
        slapd.add(&format!(
            "dn: {SUFFIX}
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: {PEOPLE}
objectClass: organizationalUnit
ou: people

dn: ou=groups,{SUFFIX}
objectClass: organizationalUnit
ou: groups

dn: ou=services,{SUFFIX}
objectClass: organizationalUnit
ou: services

dn: {SERVICE_DN}
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: enclave
userPassword: {SERVICE_PASSWORD}
"
        ));
        Some(slapd)
    }

    /// `ldap://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// `ldaps://127.0.0.1:PORT`.
    pub fn ldaps_url(&self) -> String {
        format!("ldaps://127.0.0.1:{}", self.tls_port)
    }

    fn tool(&self, tool: &str, args: &[&str], ldif: &str) {
        let mut child = Command::new(tool)
            .args(["-x", "-H", &self.url(), "-D", ROOT_DN, "-w", ROOT_PASSWORD])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("running {tool}: {e}"));
        child
            .stdin
            .take()
            .unwrap()
            .write_all(ldif.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{tool} failed: {}\n{ldif}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Adds the entries of `ldif`.
    pub fn add(&self, ldif: &str) {
        self.tool("ldapadd", &[], ldif);
    }

    /// Applies an LDIF change record (`changetype: modify` and so on).
    pub fn modify(&self, ldif: &str) {
        self.tool("ldapmodify", &[], ldif);
    }

    /// Deletes the entry `dn`.
    pub fn delete(&self, dn: &str) {
        self.tool("ldapdelete", &[dn], "");
    }

    /// Adds a person under `ou` (below `ou=people`, created when missing) with a password.
    pub fn add_person(&self, ou: &str, uid: &str, cn: &str, password: &str, extra: &str) {
        let ou_dn = format!("ou={ou},{PEOPLE}");
        let _ = Command::new("ldapadd")
            .args([
                "-x",
                "-c",
                "-H",
                &self.url(),
                "-D",
                ROOT_DN,
                "-w",
                ROOT_PASSWORD,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .and_then(|mut c| {
                c.stdin.take().unwrap().write_all(
                    format!("dn: {ou_dn}\nobjectClass: organizationalUnit\nou: {ou}\n").as_bytes(),
                )?;
                c.wait()
            });
        let sn = cn.split_whitespace().last().unwrap_or(cn);
        self.add(&format!(
            "dn: uid={uid},{ou_dn}
objectClass: inetOrgPerson
uid: {uid}
cn: {cn}
sn: {sn}
mail: {uid}@example.org
userPassword: {password}
{extra}"
        ));
    }

    /// The DN of a person added with [`Slapd::add_person`].
    pub fn person_dn(ou: &str, uid: &str) -> String {
        format!("uid={uid},ou={ou},{PEOPLE}")
    }

    /// Adds a group (`groupOfNames`) under `ou=groups` with these members (DNs).
    pub fn add_group(&self, cn: &str, members: &[String]) -> String {
        let dn = format!("cn={cn},ou=groups,{SUFFIX}");
        let mut ldif = format!("dn: {dn}\nobjectClass: groupOfNames\ncn: {cn}\n");
        for m in members {
            ldif.push_str(&format!("member: {m}\n"));
        }
        self.add(&ldif);
        dn
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(tool))
            .find(|p| p.exists())
    })
}
