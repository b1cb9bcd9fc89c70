//! Creating the users and channels a scenario needs, through the public API.

use anyhow::{Context, bail};
use serde_json::{Value, json};

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

    /// Creates `n` users named `{prefix}{i}` (or reuses them if they exist) and logs each in.
    pub async fn users(
        &self,
        prefix: &str,
        n: usize,
        password: &str,
    ) -> anyhow::Result<Vec<Client>> {
        let mut out = Vec::with_capacity(n);
        let chunks: Vec<Vec<usize>> = (0..n)
            .collect::<Vec<_>>()
            .chunks(16)
            .map(<[usize]>::to_vec)
            .collect();
        for chunk in chunks {
            let tasks = chunk.into_iter().map(|i| {
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
            });
            for r in futures_util::future::join_all(tasks).await {
                out.push(r?);
            }
        }
        Ok(out)
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
