//! OIDC single sign-on (docs/admin/sso.md): the login page's buttons, the browser's trip to the
//! provider and back, the exchange of the one-time code for a session, ending the provider's
//! session, and the providers' state for administrators. The rules are `enclave_app::Sso`.
//!
//! `GET /auth/oidc/{provider}/start|callback|logout` are browser navigations (redirects), not
//! API operations: they are routed beside the API ([`browser_routes`]) and not in the OpenAPI
//! document.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use enclave_app::SecondFactorStep;
use serde::Deserialize;

use crate::AppState;
use crate::dto::{
    LoginAnswer, LoginResponse, SsoExchangeRequest, SsoProviderDto, SsoProviders, SsoStatusDto,
    SsoStatusList, SsoStatusQuery, UserDto,
};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, Auth, ClientIp, cookie};

/// The cookie that binds a sign-in to the browser that started it.
pub const SSO_COOKIE: &str = "enclave_sso";

/// The single sign-on buttons of the login page, and whether the password form is shown.
#[utoipa::path(get, path = "/api/v1/auth/providers", tag = "auth", security(()),
    responses((status = 200, body = SsoProviders)))]
pub async fn providers(State(state): State<AppState>) -> Json<SsoProviders> {
    Json(SsoProviders {
        local_passwords: state.sso.local_passwords(),
        providers: state
            .sso
            .buttons()
            .into_iter()
            .map(|b| SsoProviderDto {
                id: b.id,
                label: b.label,
            })
            .collect(),
    })
}

/// Trade the one-time code of a finished single sign-on (from the callback's redirect) for a
/// session, from the browser that started the sign-in. The answer is the login's.
#[utoipa::path(post, path = "/api/v1/auth/sso/exchange", tag = "auth", request_body = SsoExchangeRequest, security(()),
    responses(
        (status = 200, body = LoginAnswer, description = "Signed in (the token is also set as an HttpOnly cookie), or, for an account with a second factor, its challenge"),
        (status = 401, body = ErrorBody, description = "`sso_failed`: unknown, used or expired code, another browser; `unauthenticated`: a deactivated account"),
        (status = 429, body = ErrorBody, description = "Too many failed attempts"),
    ))]
pub async fn exchange(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(req): ApiJson<SsoExchangeRequest>,
) -> ApiResult<Response> {
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown client");
    let identity = state
        .sso
        .exchange(&req.code, cookie(&headers, SSO_COOKIE), ip)
        .await?;
    let grant = match state.accounts.second_factor(identity).await? {
        SecondFactorStep::NotRequired(grant) => grant,
        // The account's second factor applies after single sign-on as after a password: the
        // answer is the login's challenge, and `POST /api/v1/auth/login/second-factor` opens
        // the session.
        SecondFactorStep::Required(ch) => {
            let mut resp = super::auth::challenge_answer(ch);
            if let Some(c) = sso_cookie(&state, "", 0) {
                resp.headers_mut().append(header::SET_COOKIE, c);
            }
            return Ok(resp);
        }
    };
    let (token, user) = state
        .accounts
        .open_session(
            grant,
            enclave_app::SessionClient {
                user_agent: agent,
                client: "Enclave web (single sign-on)",
            },
        )
        .await?;
    let mut resp = Json(LoginAnswer::Session(LoginResponse {
        token: token.clone(),
        user: UserDto::new(&user, true),
    }))
    .into_response();
    if let Some(c) = super::auth::session_cookie(&state, &token, state.config.session_ttl.as_secs())
    {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    if let Some(c) = sso_cookie(&state, "", 0) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(resp)
}

/// Each single sign-on provider's state on this node: whether its discovery document was
/// read, the last error, the last sign-in, how many accounts are linked. Needs the right to
/// manage users.
#[utoipa::path(get, path = "/api/v1/admin/sso", tag = "admin", params(SsoStatusQuery),
    responses((status = 200, body = SsoStatusList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn status(
    State(state): State<AppState>,
    Auth(authed): Auth,
    ApiQuery(q): ApiQuery<SsoStatusQuery>,
) -> ApiResult<Json<SsoStatusList>> {
    let list = state
        .sso
        .status(&authed.actor(), q.refresh.unwrap_or(false))
        .await?;
    Ok(Json(SsoStatusList {
        providers: list.iter().map(SsoStatusDto::new).collect(),
    }))
}

fn sso_cookie(state: &AppState, value: &str, max_age: u64) -> Option<HeaderValue> {
    let secure = if state.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    // Lax: sent on the provider's top-level redirect back to the callback.
    HeaderValue::from_str(&format!(
        "{SSO_COOKIE}={value}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}{secure}"
    ))
    .ok()
}

fn redirect(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Back to the login page with an error code for it to show.
fn to_login_with(code: &str) -> Response {
    redirect(&format!("/#sso_error={code}"))
}

async fn start(State(state): State<AppState>, Path(provider): Path<String>) -> Response {
    match state.sso.start(&provider).await {
        Ok(started) => {
            let mut r = redirect(started.authorize_url.as_str());
            if let Some(c) = sso_cookie(&state, &started.browser_secret, 600) {
                r.headers_mut().append(header::SET_COOKIE, c);
            }
            r
        }
        Err(e) => to_login_with(e.code().as_str()),
    }
}

#[derive(Deserialize)]
struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
}

async fn callback(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(provider): Path<String>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let done = state
        .sso
        .callback(
            &provider,
            q.state.as_deref(),
            q.code.as_deref(),
            q.error.as_deref(),
            cookie(&headers, SSO_COOKIE),
            ip,
        )
        .await;
    match done {
        // In the fragment: never sent to a server, so never in a log or a Referer.
        Ok(code) => redirect(&format!("/#sso_code={code}&sso_provider={provider}")),
        Err(e) => to_login_with(e.code().as_str()),
    }
}

async fn logout(State(state): State<AppState>, Path(provider): Path<String>) -> Response {
    match state.sso.logout_url(&provider).await {
        Ok(Some(url)) => redirect(url.as_str()),
        _ => redirect("/"),
    }
}

/// The browser navigations of single sign-on.
pub fn browser_routes() -> Router<AppState> {
    Router::new()
        .route("/auth/oidc/{provider}/start", get(start))
        .route("/auth/oidc/{provider}/callback", get(callback))
        .route("/auth/oidc/{provider}/logout", get(logout))
}
