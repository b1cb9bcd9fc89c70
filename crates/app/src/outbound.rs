//! The one outbound HTTP client: every request Enclave makes to another server (an OIDC
//! provider today; webhooks, the assistant's model server next) goes through [`Outbound`].
//!
//! Nothing leaves the organisation unless an administrator configured it: a request to a host
//! that is not on the allow-list (`[outbound] allow`) is refused before any connection is made.
//! Redirects are never followed (a redirect to another host would bypass the list), every request
//! has a time-out, and a response body larger than the cap is refused while it is read.
//! Plain `http://` is refused unless `allow_plain_http` is set (tests on loopback set it).

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

/// The outbound settings (`[outbound]`).
#[derive(Debug, Clone)]
pub struct OutboundConfig {
    pub allow: Vec<AllowedHost>,
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

impl Outbound {
    pub fn new(config: OutboundConfig) -> Result<Outbound, OutboundError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("Enclave/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| OutboundError::Transport("(client)".into(), e.to_string()))?;
        Ok(Outbound {
            client,
            config: std::sync::Arc::new(config),
        })
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
        if self.config.allow.iter().any(|a| a.allows(&host, port)) {
            Ok(())
        } else {
            Err(OutboundError::NotAllowed(format!("{host}:{port}")))
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
            .map_err(|e| OutboundError::Transport(host.clone(), transport_reason(&e)))?;
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
}
