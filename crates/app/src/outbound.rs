//! The one outbound HTTP client: every request Enclave makes to another server (an OIDC
//! provider today; webhooks, the assistant's model server next) goes through [`Outbound`].
//!
//! Nothing leaves the organisation unless an administrator configured it: a request to a host
//! that is not on the allow-list (`[outbound] allow`) is refused before any connection is made.
//! Redirects are never followed (a redirect to another host would bypass the list), every request
//! has a time-out, and a response body larger than the cap is refused while it is read.
//! Plain `http://` is refused unless `allow_plain_http` is set (tests on loopback set it).
//!
//! Egress safety: even an allowed host is refused when it is, or resolves to, a loopback,
//! link-local (cloud metadata at 169.254.169.254), private, shared, multicast, documentation or
//! otherwise reserved address ([`refused_reason`]), unless the address is inside a network of
//! `[outbound] allow_private` (or the host is a trusted service the administrator configured:
//! an OIDC issuer). The check runs on the *resolved* addresses inside the client's own resolver,
//! and the connection goes to exactly the addresses checked, so a name that changes its answer
//! between a check and the connection (DNS rebinding) cannot slip through. If any address a
//! name resolves to is refused, the whole request is. Proxies from the environment are ignored.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;

/// One allowed destination: a host name or address, with or without a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    /// Lower-case host name, or an IP address as `url` prints it (IPv6 in brackets).
    pub host: String,
    /// `None`: any port of that host.
    pub port: Option<u16>,
}

impl AllowedHost {
    /// Parses `host`, `host:port`, `[v6]` or `[v6]:port`.
    pub fn parse(s: &str) -> Result<AllowedHost, String> {
        let s = s.trim();
        if s.is_empty() || s.contains('/') || s.contains('@') || s.contains('*') {
            return Err(format!("{s:?} is not a host or host:port"));
        }
        let url = url::Url::parse(&format!("https://{s}/"))
            .map_err(|e| format!("{s:?} is not a host or host:port: {e}"))?;
        let host = url
            .host_str()
            .ok_or_else(|| format!("{s:?} has no host"))?
            .to_ascii_lowercase();
        // `url` drops the default port 443: keep it when it was written.
        let port = url.port().or_else(|| s.ends_with(":443").then_some(443));
        Ok(AllowedHost { host, port })
    }

    /// The allow-list entry for a URL's host and port (for an issuer added implicitly).
    pub fn of_url(url: &url::Url) -> Option<AllowedHost> {
        Some(AllowedHost {
            host: url.host_str()?.to_ascii_lowercase(),
            port: url.port_or_known_default(),
        })
    }

    fn allows(&self, host: &str, port: u16) -> bool {
        self.host == host && self.port.is_none_or(|p| p == port)
    }
}

/// A network (or one address) whose addresses may be reached although they are private.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllowedNetwork {
    addr: IpAddr,
    prefix: u8,
}

impl AllowedNetwork {
    /// Parses `10.0.0.0/8`, `127.0.0.1`, `fd00::/8` or `::1`.
    pub fn parse(s: &str) -> Result<AllowedNetwork, String> {
        let s = s.trim();
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| format!("{s:?} is not an address or network (like 10.0.0.0/8)"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(AllowedNetwork { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// An IPv4 address written as IPv6 (`::ffff:a.b.c.d`) is that IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Why `ip` is not a public address (and so refused unless allowed), or `None` for a public one.
pub fn refused_reason(ip: IpAddr) -> Option<&'static str> {
    match canonical(ip) {
        IpAddr::V4(a) => v4_reason(a),
        IpAddr::V6(a) => v6_reason(a),
    }
}

fn v4_reason(a: Ipv4Addr) -> Option<&'static str> {
    let [b0, b1, b2, _] = a.octets();
    Some(match (b0, b1, b2) {
        (127, ..) => "loopback",
        (169, 254, _) => "link-local",
        (10, ..) | (192, 168, _) => "private",
        (172, b, _) if (16..32).contains(&b) => "private",
        (100, b, _) if (64..128).contains(&b) => "shared (carrier-grade NAT)",
        (0, ..) => "unspecified",
        (192, 0, 0) => "reserved",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (198, 18 | 19, _) => "benchmarking",
        (224..=239, ..) => "multicast",
        (240..=255, ..) => "reserved",
        _ => return None,
    })
}

fn v6_reason(a: Ipv6Addr) -> Option<&'static str> {
    let seg = a.segments();
    if a.is_loopback() {
        return Some("loopback");
    }
    if a.is_unspecified() {
        return Some("unspecified");
    }
    // Addresses that carry an IPv4 address: judged by it (NAT64, 6to4, IPv4-compatible).
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || seg[..6] == [0; 6] {
        return v4_reason(embedded(seg[6], seg[7])).or(if seg[0] == 0 {
            Some("reserved")
        } else {
            None
        });
    }
    if seg[0] == 0x2002 {
        return v4_reason(embedded(seg[1], seg[2]));
    }
    Some(match seg[0] {
        s if s & 0xfe00 == 0xfc00 => "private (unique local)",
        s if s & 0xffc0 == 0xfe80 => "link-local",
        s if s & 0xffc0 == 0xfec0 => "site-local",
        s if s & 0xff00 == 0xff00 => "multicast",
        0x2001 if seg[1] == 0x0db8 => "documentation",
        0x0100 if seg[1..4] == [0, 0, 0] => "discard",
        s if s & 0xe000 != 0x2000 => "reserved",
        _ => return None,
    })
}

/// The outbound settings (`[outbound]`).
#[derive(Debug, Clone)]
pub struct OutboundConfig {
    pub allow: Vec<AllowedHost>,
    /// Networks that may be reached although private, loopback or link-local
    /// (`[outbound] allow_private`).
    pub allow_private: Vec<AllowedNetwork>,
    /// Host names whose addresses are not checked: services the administrator configured by
    /// name (the OIDC issuers), often on the internal network.
    pub trusted_hosts: Vec<String>,
    /// Whether `http://` URLs may be used at all (only for tests and labs on loopback).
    pub allow_plain_http: bool,
    /// The whole request, connection to last byte.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// The largest response body accepted.
    pub max_response_bytes: usize,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        OutboundConfig {
            allow: Vec::new(),
            allow_private: Vec::new(),
            trusted_hosts: Vec::new(),
            allow_plain_http: false,
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_response_bytes: 1024 * 1024,
        }
    }
}

/// Why an outbound request failed.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error(
        "outbound request to {0} refused: the host is not on the allow-list ([outbound] allow)"
    )]
    NotAllowed(String),
    #[error(
        "outbound request to {host} refused: it is {ip}, a {why} address ([outbound] allow_private)"
    )]
    PrivateAddress {
        host: String,
        ip: IpAddr,
        why: &'static str,
    },
    #[error("outbound request refused: {0}")]
    BadUrl(String),
    #[error("the response from {0} is larger than {1} bytes")]
    TooLarge(String, usize),
    #[error("outbound request to {0} failed: {1}")]
    Transport(String, String),
}

/// The allow-listed client. Cheap to clone.
#[derive(Clone)]
pub struct Outbound {
    client: reqwest::Client,
    config: std::sync::Arc<OutboundConfig>,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The client's resolver: resolves a name, refuses it if any address is not allowed, and hands
/// the connector exactly the addresses it checked.
#[derive(Clone)]
struct CheckedResolver {
    config: Arc<OutboundConfig>,
    /// Fixed answers (tests: a name that resolves to an address that cannot be served here).
    names: Arc<HashMap<String, Vec<IpAddr>>>,
}

impl CheckedResolver {
    fn check(&self, host: &str, ip: IpAddr) -> Result<(), OutboundError> {
        check_address(&self.config, host, ip)
    }
}

fn check_address(config: &OutboundConfig, host: &str, ip: IpAddr) -> Result<(), OutboundError> {
    let Some(why) = refused_reason(ip) else {
        return Ok(());
    };
    if config.allow_private.iter().any(|n| n.contains(ip))
        || config
            .trusted_hosts
            .iter()
            .any(|t| t.eq_ignore_ascii_case(host))
    {
        return Ok(());
    }
    Err(OutboundError::PrivateAddress {
        host: host.to_owned(),
        ip: canonical(ip),
        why,
    })
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let this = self.clone();
        let host = name.as_str().to_ascii_lowercase();
        Box::pin(async move {
            let ips: Vec<IpAddr> = match this.names.get(&host) {
                Some(fixed) => fixed.clone(),
                None => tokio::net::lookup_host((host.as_str(), 0))
                    .await?
                    .map(|a| a.ip())
                    .collect(),
            };
            for ip in &ips {
                this.check(&host, *ip)?;
            }
            let addrs: reqwest::dns::Addrs =
                Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

impl Outbound {
    pub fn new(config: OutboundConfig) -> Result<Outbound, OutboundError> {
        Outbound::with_names(config, HashMap::new())
    }

    /// A client whose resolver answers `names` (lower-case host → addresses) itself, and asks
    /// the system for any other name. For tests: the answers are checked like any other.
    pub fn with_names(
        config: OutboundConfig,
        names: HashMap<String, Vec<IpAddr>>,
    ) -> Result<Outbound, OutboundError> {
        let config = Arc::new(config);
        let resolver = CheckedResolver {
            config: config.clone(),
            names: Arc::new(names),
        };
        let client = reqwest::Client::builder()
            .no_proxy()
            .dns_resolver(resolver)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("Enclave/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| OutboundError::Transport("(client)".into(), e.to_string()))?;
        Ok(Outbound { client, config })
    }

    pub fn config(&self) -> &OutboundConfig {
        &self.config
    }

    /// Whether a request to `url` would be let through (scheme and allow-list).
    pub fn check(&self, url: &url::Url) -> Result<(), OutboundError> {
        match url.scheme() {
            "https" => {}
            "http" if self.config.allow_plain_http => {}
            "http" => {
                return Err(OutboundError::BadUrl(format!(
                    "{url}: plain http is off ([outbound] allow_plain_http)"
                )));
            }
            s => return Err(OutboundError::BadUrl(format!("{url}: scheme {s}"))),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(OutboundError::BadUrl("credentials in the URL".into()));
        }
        let host = url
            .host_str()
            .ok_or_else(|| OutboundError::BadUrl(format!("{url}: no host")))?
            .to_ascii_lowercase();
        let port = url
            .port_or_known_default()
            .ok_or_else(|| OutboundError::BadUrl(format!("{url}: no port")))?;
        if !self.config.allow.iter().any(|a| a.allows(&host, port)) {
            return Err(OutboundError::NotAllowed(format!("{host}:{port}")));
        }
        // An address written in the URL is connected to without resolving: check it here.
        match url.host() {
            Some(url::Host::Ipv4(ip)) => check_address(&self.config, &host, IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => check_address(&self.config, &host, IpAddr::V6(ip)),
            _ => Ok(()),
        }
    }

    /// Sends one request (no redirects followed) and reads the response under the size cap.
    pub async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, OutboundError> {
        let url = url::Url::parse(&request.uri().to_string())
            .map_err(|e| OutboundError::BadUrl(e.to_string()))?;
        self.check(&url)?;
        let host = url.host_str().unwrap_or_default().to_owned();
        let (parts, body) = request.into_parts();
        let mut req = self.client.request(parts.method, url.clone());
        for (name, value) in &parts.headers {
            req = req.header(name, value);
        }
        let resp = req
            .body(body)
            .send()
            .await
            .map_err(|e| refusal_or_transport(&host, &e))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let cap = self.config.max_response_bytes;
        if resp.content_length().is_some_and(|n| n > cap as u64) {
            return Err(OutboundError::TooLarge(host, cap));
        }
        let mut body = BytesMut::new();
        let mut resp = resp;
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| OutboundError::Transport(host.clone(), transport_reason(&e)))?
        {
            if body.len() + chunk.len() > cap {
                return Err(OutboundError::TooLarge(host, cap));
            }
            body.extend_from_slice(&chunk);
        }
        let mut out = http::Response::new(body.to_vec());
        *out.status_mut() = status;
        *out.headers_mut() = headers;
        Ok(out)
    }
}

/// The resolver's refusal (found in the error's chain), or a transport error.
fn refusal_or_transport(host: &str, e: &reqwest::Error) -> OutboundError {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(inner) = src {
        if let Some(OutboundError::PrivateAddress { host, ip, why }) =
            inner.downcast_ref::<OutboundError>()
        {
            return OutboundError::PrivateAddress {
                host: host.clone(),
                ip: *ip,
                why,
            };
        }
        src = inner.source();
    }
    OutboundError::Transport(host.to_owned(), transport_reason(e))
}

fn transport_reason(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        // The chain, without the URL (it is named beside).
        let mut s = e.without_url_ref().to_string();
        let mut src = std::error::Error::source(e);
        while let Some(inner) = src {
            s.push_str(": ");
            s.push_str(&inner.to_string());
            src = inner.source();
        }
        s
    }
}

trait WithoutUrl {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    fn without_url_ref(&self) -> String {
        let mut s = self.to_string();
        if let Some(u) = self.url() {
            s = s.replace(&format!(" ({u})"), "").replace(u.as_str(), "");
        }
        s
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn outbound(allow: &[&str]) -> Outbound {
        Outbound::new(OutboundConfig {
            allow: allow
                .iter()
                .map(|a| AllowedHost::parse(a).unwrap())
                .collect(),
            allow_private: vec![AllowedNetwork::parse("127.0.0.0/8").unwrap()],
            allow_plain_http: true,
            max_response_bytes: 1000,
            timeout: Duration::from_secs(2),
            ..OutboundConfig::default()
        })
        .unwrap()
    }

    fn get(url: &str) -> http::Request<Vec<u8>> {
        http::Request::get(url).body(Vec::new()).unwrap()
    }

    /// A one-connection HTTP server on loopback answering `response`.
    async fn serve(response: Vec<u8>) -> u16 {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(&response).await;
                let _ = s.shutdown().await;
            }
        });
        port
    }

    #[test]
    fn entries_parse_and_match() {
        let a = AllowedHost::parse("IdP.Example.org").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("idp.example.org", None));
        let b = AllowedHost::parse("idp.example.org:8443").unwrap();
        assert_eq!(b.port, Some(8443));
        assert_eq!(AllowedHost::parse("x.org:443").unwrap().port, Some(443));
        assert_eq!(
            AllowedHost::parse("[::1]:9000").unwrap().host.as_str(),
            "[::1]"
        );
        for bad in ["", "https://x.org", "x.org/path", "*.x.org", "a@b"] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad}");
        }
        let o = outbound(&["idp.example.org:8443", "other.org"]);
        let ok = |u: &str| o.check(&url::Url::parse(u).unwrap()).is_ok();
        assert!(ok("https://idp.example.org:8443/x"));
        assert!(!ok("https://idp.example.org/x"));
        assert!(ok("https://OTHER.org/x"));
        assert!(ok("https://other.org:1234/x"));
        assert!(!ok("https://other.org.evil.com/x"));
        assert!(!ok("https://user:pw@other.org/x"));
        assert!(!ok("ftp://other.org/x"));
        let strict = Outbound::new(OutboundConfig {
            allow: vec![AllowedHost::parse("other.org").unwrap()],
            ..OutboundConfig::default()
        })
        .unwrap();
        assert!(matches!(
            strict.check(&url::Url::parse("http://other.org/").unwrap()),
            Err(OutboundError::BadUrl(_))
        ));
    }

    #[tokio::test]
    async fn a_host_off_the_list_is_refused_before_connecting() {
        let port = serve(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_vec()).await;
        let o = outbound(&["127.0.0.2"]);
        let e = o
            .send(get(&format!("http://127.0.0.1:{port}/")))
            .await
            .unwrap_err();
        assert!(matches!(e, OutboundError::NotAllowed(ref h) if h == &format!("127.0.0.1:{port}")));
        assert!(e.to_string().contains("allow-list"), "{e}");
        let o = outbound(&["127.0.0.1"]);
        let r = o
            .send(get(&format!("http://127.0.0.1:{port}/")))
            .await
            .unwrap();
        assert_eq!(r.body(), b"ok");
    }

    #[tokio::test]
    async fn redirects_are_not_followed_and_large_bodies_are_refused() {
        let port = serve(
            b"HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:9/\r\ncontent-length: 0\r\n\r\n"
                .to_vec(),
        )
        .await;
        let o = outbound(&["127.0.0.1"]);
        let r = o
            .send(get(&format!("http://127.0.0.1:{port}/")))
            .await
            .unwrap();
        assert_eq!(r.status(), 302);
        let mut big = b"HTTP/1.1 200 OK\r\ncontent-length: 2000\r\n\r\n".to_vec();
        big.extend(std::iter::repeat_n(b'x', 2000));
        let port = serve(big).await;
        assert!(matches!(
            o.send(get(&format!("http://127.0.0.1:{port}/"))).await,
            Err(OutboundError::TooLarge(..))
        ));
        // Without a length, the cap applies while reading.
        let mut chunked = b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".to_vec();
        chunked.extend(std::iter::repeat_n(b'x', 2000));
        let port = serve(chunked).await;
        assert!(matches!(
            o.send(get(&format!("http://127.0.0.1:{port}/"))).await,
            Err(OutboundError::TooLarge(..))
        ));
    }

    /// A loopback server that counts the connections it accepts (and answers none).
    async fn counting() -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let n = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = n.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await;
            }
        });
        (port, n)
    }

    #[test]
    fn private_and_special_addresses_are_recognised() {
        let r = |s: &str| refused_reason(s.parse().unwrap());
        for (ip, why) in [
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("169.254.169.254", "link-local"),
            ("10.0.0.1", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("100.64.0.1", "shared (carrier-grade NAT)"),
            ("0.0.0.0", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("255.255.255.255", "reserved"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fc00::1", "private (unique local)"),
            ("fd12:3456::1", "private (unique local)"),
            ("fe80::1", "link-local"),
            ("ff02::1", "multicast"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "link-local"),
            ("64:ff9b::a00:1", "private"),
            ("2002:a9fe:a9fe::", "link-local"),
            ("2001:db8::1", "documentation"),
        ] {
            assert_eq!(r(ip), Some(why), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "172.32.0.1",
            "172.15.0.1",
            "100.128.0.1",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert_eq!(r(ip), None, "{ip}");
        }
        let n = AllowedNetwork::parse("10.0.0.0/8").unwrap();
        assert!(n.contains("10.200.3.4".parse().unwrap()));
        assert!(n.contains("::ffff:10.1.1.1".parse().unwrap()));
        assert!(!n.contains("11.0.0.1".parse().unwrap()));
        let one = AllowedNetwork::parse("169.254.169.254").unwrap();
        assert!(one.contains("169.254.169.254".parse().unwrap()));
        assert!(!one.contains("169.254.169.253".parse().unwrap()));
        assert!(
            AllowedNetwork::parse("fd00::/8")
                .unwrap()
                .contains("fd01::2".parse().unwrap())
        );
        assert!(
            AllowedNetwork::parse("0.0.0.0/0")
                .unwrap()
                .contains("127.0.0.1".parse().unwrap())
        );
        for bad in ["", "10.0.0.0/33", "x", "10.0.0.0/", "::/129", "example.org"] {
            assert!(AllowedNetwork::parse(bad).is_err(), "{bad}");
        }
    }

    /// A client whose allow-list lets every host through, so that only the address check can
    /// refuse; `metadata.test` resolves to 169.254.169.254 and `intranet.test` to 10.0.0.1 and a
    /// public address (one refused address refuses the name).
    fn open_client(allow_private: &[&str]) -> Outbound {
        let allow = [
            "127.0.0.1",
            "169.254.169.254",
            "10.0.0.1",
            "localhost",
            "metadata.test",
            "intranet.test",
            "[::1]",
            "[::ffff:7f00:1]",
        ];
        let names = HashMap::from([
            (
                "metadata.test".to_owned(),
                vec!["169.254.169.254".parse().unwrap()],
            ),
            (
                "intranet.test".to_owned(),
                vec!["8.8.8.8".parse().unwrap(), "10.0.0.1".parse().unwrap()],
            ),
        ]);
        Outbound::with_names(
            OutboundConfig {
                allow: allow
                    .iter()
                    .map(|a| AllowedHost::parse(a).unwrap())
                    .collect(),
                allow_private: allow_private
                    .iter()
                    .map(|n| AllowedNetwork::parse(n).unwrap())
                    .collect(),
                allow_plain_http: true,
                timeout: Duration::from_secs(2),
                ..OutboundConfig::default()
            },
            names,
        )
        .unwrap()
    }

    #[tokio::test]
    async fn private_addresses_and_names_resolving_to_them_are_refused_before_connecting() {
        let (port, accepted) = counting().await;
        let o = open_client(&[]);
        for (url, ip) in [
            (format!("http://127.0.0.1:{port}/"), "127.0.0.1"),
            (format!("http://[::ffff:7f00:1]:{port}/"), "127.0.0.1"),
            (format!("http://[::1]:{port}/"), "::1"),
            (
                "http://169.254.169.254/latest/meta-data/".into(),
                "169.254.169.254",
            ),
            ("http://10.0.0.1/".into(), "10.0.0.1"),
            (format!("http://metadata.test:{port}/"), "169.254.169.254"),
            (format!("http://intranet.test:{port}/"), "10.0.0.1"),
        ] {
            let e = o.send(get(&url)).await.unwrap_err();
            match &e {
                OutboundError::PrivateAddress { ip: got, .. } => {
                    assert_eq!(got.to_string(), ip, "{url}")
                }
                other => panic!("{url}: {other}"),
            }
            assert!(e.to_string().contains("allow_private"), "{e}");
        }
        // `localhost` comes from the system's resolver: refused as well.
        let e = o
            .send(get(&format!("http://localhost:{port}/")))
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                OutboundError::PrivateAddress {
                    why: "loopback",
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(
            accepted.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "nothing was sent"
        );
        // Allowed explicitly, the same request goes through.
        let o = open_client(&["127.0.0.0/8", "::1"]);
        let r = o
            .send(get(&format!("http://127.0.0.1:{port}/")))
            .await
            .unwrap();
        assert_eq!(r.body(), b"ok");
        assert!(accepted.load(std::sync::atomic::Ordering::SeqCst) >= 1);
        // (Checked without sending: tests reach loopback only.)
        let o = open_client(&["169.254.169.254/32"]);
        assert!(
            check_address(
                &o.config,
                "metadata.test",
                "169.254.169.254".parse().unwrap()
            )
            .is_ok()
        );
        assert!(check_address(&o.config, "intranet.test", "10.0.0.1".parse().unwrap()).is_err());
    }

    #[tokio::test]
    async fn a_redirect_to_a_private_address_is_returned_not_followed() {
        let (target, accepted) = counting().await;
        let mut o = open_client(&["127.0.0.0/8"]);
        for to in [
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            "http://10.0.0.1/".to_owned(),
            format!("http://127.0.0.1:{target}/"),
        ] {
            let port = serve(
                format!("HTTP/1.1 302 Found\r\nlocation: {to}\r\ncontent-length: 0\r\n\r\n")
                    .into_bytes(),
            )
            .await;
            let r = o
                .send(get(&format!("http://127.0.0.1:{port}/")))
                .await
                .unwrap();
            assert_eq!(r.status(), 302);
            assert_eq!(r.headers()["location"], to.as_str());
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 0);
        o = open_client(&[]);
        assert!(
            o.check(&url::Url::parse("http://10.0.0.1/").unwrap())
                .is_err()
        );
    }
}
