//! Login, logout, first-run status, and the user's own sessions and tokens.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use enclave_app::{Proof, SecondFactorStep};

use crate::AppState;
use crate::dto::{
    CreateTokenRequest, CreatedToken, LoginRequest, LoginResponse, SetupStatus, TokenDto,
    TokenList, UserDto,
};
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, Auth, ClientIp, SESSION_COOKIE, parse_id};

fn session_cookie(state: &AppState, value: &str, max_age_secs: u64) -> Option<HeaderValue> {
    let secure = if state.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age_secs}{secure}"
    ))
    .ok()
}

/// Log in with a username (or email) and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest, security(()),
    responses(
        (status = 200, body = LoginResponse, description = "Logged in; the token is also set as an HttpOnly cookie"),
        (status = 401, body = ErrorBody, description = "Wrong login or password, or a deactivated account"),
        (status = 429, body = ErrorBody, description = "Too many failed attempts for this account or address"),
        (status = 503, body = ErrorBody, description = "The directory (LDAP) could not be reached"),
    ))]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown client");
    // The sign-in steps of `enclave_app::Accounts`: credential, second factor, session.
    let proof = match req.provider.as_deref() {
        Some(provider) => Proof::Ldap {
            provider,
            login: &req.login,
            password: &req.password,
        },
        None => Proof::Password {
            login: &req.login,
            password: &req.password,
        },
    };
    let identity = state.accounts.verify_credential(proof, ip).await?;
    let grant = match state.accounts.second_factor(identity).await? {
        SecondFactorStep::NotRequired(grant) => grant,
        // No account can enrol a second factor yet, and this door has no challenge response
        // to offer: refuse rather than open a session without it.
        SecondFactorStep::Required { .. } => {
            return Err(ApiError::from(enclave_core::Error::Unauthenticated));
        }
    };
    let (token, user) = state.accounts.open_session(grant, agent).await?;
    let mut resp = Json(LoginResponse {
        token: token.clone(),
        user: UserDto::new(&user, true),
    })
    .into_response();
    if let Some(c) = session_cookie(&state, &token, state.config.session_ttl.as_secs()) {
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    Ok(resp)
}

/// End the current session (or revoke the token used).
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "Logged out; the cookie is cleared"), (status = 401, body = ErrorBody)))]
pub async fn logout(State(state): State<AppState>, Auth(authed): Auth) -> ApiResult<Response> {
    state.accounts.logout(&authed).await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    if let Some(c) = session_cookie(&state, "", 0) {
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    Ok(resp)
}

/// Whether the server still needs its first administrator.
#[utoipa::path(get, path = "/api/v1/auth/setup", tag = "auth", security(()), responses((status = 200, body = SetupStatus)))]
pub async fn setup(State(state): State<AppState>) -> ApiResult<Json<SetupStatus>> {
    Ok(Json(SetupStatus {
        needs_setup: state.accounts.needs_setup().await?,
    }))
}

/// The current user's sessions and personal access tokens.
#[utoipa::path(get, path = "/api/v1/users/me/tokens", tag = "auth",
    responses((status = 200, body = TokenList), (status = 401, body = ErrorBody)))]
pub async fn list_tokens(
    State(state): State<AppState>,
    Auth(authed): Auth,
) -> ApiResult<Json<TokenList>> {
    let current = authed.token_id();
    let tokens = state.accounts.tokens(&authed.actor()).await?;
    Ok(Json(TokenList {
        tokens: tokens
            .iter()
            .map(|t| TokenDto::new(t, t.id == current))
            .collect(),
    }))
}

/// Create a personal access token for scripts and bots.
#[utoipa::path(post, path = "/api/v1/users/me/tokens", tag = "auth", request_body = CreateTokenRequest,
    responses((status = 201, body = CreatedToken), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "`limit_exceeded`: the user already holds the most tokens allowed (50)")))]
pub async fn create_token(
    State(state): State<AppState>,
    Auth(authed): Auth,
    ApiJson(req): ApiJson<CreateTokenRequest>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let expires = match req.expires_in_days {
        Some(0) | Some(3651..) => {
            return Err(ApiError::from(enclave_core::Error::invalid(
                "expires_in_days",
                "must be 1 to 3650",
            )));
        }
        Some(d) => Some(Duration::from_secs(u64::from(d) * 86_400)),
        None => None,
    };
    let (token, info) = state
        .accounts
        .create_personal_token(&authed.actor(), &req.name, expires)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            token,
            info: TokenDto::new(&info, false),
        }),
    ))
}

/// Revoke one of the current user's sessions or tokens.
#[utoipa::path(delete, path = "/api/v1/users/me/tokens/{id}", tag = "auth",
    params(("id" = String, Path, description = "Token id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = parse_id(&id, ErrorCode::TokenNotFound)?;
    state.accounts.revoke_token(&authed.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
