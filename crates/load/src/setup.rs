//! Creating the users and channels a scenario needs, through the public API.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use serde_json::{Value, json};

/// Runs `f(0) .. f(n - 1)`, at most `concurrency` at a time, and returns the results in index
/// order; stops at the first error. Prints `label: done/n` on stderr about once a second.
pub async fn concurrently<T, F, Fut>(
    label: &str,
    n: usize,
    concurrency: usize,
    f: F,
) -> anyhow::Result<Vec<T>>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let started = Instant::now();
    let mut out: Vec<Option<T>> = (0..n).map(|_| None).collect();
    let mut results = futures_util::stream::iter(0..n)
        .map(|i| {
            let fut = f(i);
            async move { (i, fut.await) }
        })
        .buffer_unordered(concurrency.max(1));
    let mut done = 0usize;
    let mut last_print = Instant::now();
    while let Some((i, r)) = results.next().await {
        out[i] = Some(r?);
        done += 1;
        if done == n || last_print.elapsed() >= Duration::from_secs(1) {
            last_print = Instant::now();
            eprintln!(
                "  {label}: {done}/{n} ({:.1} s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(out.into_iter().flatten().collect())
}

/// A logged-in user.
#[derive(Clone, Debug)]
pub struct Client {
    pub user_id: String,
    pub token: String,
}

/// Talks to the server as the administrator.
pub struct Admin {
    pub base: String,
    pub http: reqwest::Client,
    pub token: String,
}

pub async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let mut req = http.request(method.clone(), url).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req
        .send()
        .await
        .with_context(|| format!("{method} {url}"))?;
    let status = resp.status();
    let text = resp.text().await?;
    if !status.is_success() {
        bail!("{method} {url}: {status}: {text}");
    }
    if text.is_empty() {
        return Ok(Value::Null);
    }
    Ok(serde_json::from_str(&text)?)
}

pub async fn login(
    http: &reqwest::Client,
    base: &str,
    login: &str,
    password: &str,
) -> anyhow::Result<Value> {
    let resp = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"login": login, "password": password}))
        .send()
        .await
        .context("login request")?;
    let status = resp.status();
    let body: Value = resp.json().await?;
    if !status.is_success() {
        bail!("login as {login} failed: {status}: {body}");
    }
    Ok(body)
}

impl Admin {
    pub async fn connect(base: &str, user: &str, password: &str) -> anyhow::Result<Admin> {
        let http = reqwest::Client::new();
        let body = login(&http, base, user, password).await?;
        let token = body["token"]
            .as_str()
            .context("no token in login response")?
            .to_owned();
        Ok(Admin {
            base: base.to_owned(),
            http,
            token,
        })
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        call(
            &self.http,
            method,
            &format!("{}{path}", self.base),
            &self.token,
            body,
        )
        .await
    }

    /// Creates `n` users named `{prefix}{i}` (or reuses them if they exist) and logs each in,
    /// `concurrency` at a time, with progress on stderr.
    pub async fn users(
        &self,
        prefix: &str,
        n: usize,
        password: &str,
        concurrency: usize,
    ) -> anyhow::Result<Vec<Client>> {
        concurrently("users created and logged in", n, concurrency, |i| {
            let name = format!("{prefix}{i}");
            async move {
                let created = self
                    .call(
                        reqwest::Method::POST,
                        "/api/v1/users",
                        Some(json!({"username": name, "password": password})),
                    )
                    .await;
                if let Err(e) = &created
                    && !e.to_string().contains("409")
                {
                    return Err(anyhow::anyhow!("creating {name}: {e}"));
                }
                let body = login(&self.http, &self.base, &name, password).await?;
                Ok::<_, anyhow::Error>(Client {
                    user_id: body["user"]["id"].as_str().context("user id")?.to_owned(),
                    token: body["token"].as_str().context("token")?.to_owned(),
                })
            }
        })
        .await
    }

    /// Creates a public channel and returns its id.
    pub async fn channel(&self, name: &str) -> anyhow::Result<String> {
        let body = self
            .call(
                reqwest::Method::POST,
                "/api/v1/channels",
                Some(json!({"name": name, "kind": "public"})),
            )
            .await?;
        Ok(body["id"].as_str().context("channel id")?.to_owned())
    }

    pub async fn add_member(&self, channel: &str, user_id: &str) -> anyhow::Result<()> {
        self.call(
            reqwest::Method::POST,
            &format!("/api/v1/channels/{channel}/members"),
            Some(json!({"user_id": user_id})),
        )
        .await?;
        Ok(())
    }
}
