//! Login, logout, first-run status, and the user's own sessions and tokens.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use enclave_app::{Proof, SecondFactorStep, SessionClient, TokenLifetime, session_client_name};
use enclave_core::Scope;

use crate::AppState;
use crate::dto::{
    CreateTokenRequest, CreatedToken, LoginAnswer, LoginRequest, LoginResponse,
    SecondFactorChallengeDto, SecondFactorRequired, SetupStatus, TokenDto, TokenList, UserDto, ts,
};
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, Auth, ClientIp, SESSION_COOKIE, parse_id};

pub(crate) fn session_cookie(
    state: &AppState,
    value: &str,
    max_age_secs: u64,
) -> Option<HeaderValue> {
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

/// Log in with a username (or email) and password. When the account has a second factor (or
/// the site policy requires one), the answer is a challenge instead of a session: pass it at
/// `POST /api/v1/auth/login/second-factor` (docs/admin/second-factor.md).
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest, security(()),
    responses(
        (status = 200, body = LoginAnswer, description = "Logged in (the token is also set as an HttpOnly cookie), or a second-factor challenge with no session"),
        (status = 401, body = ErrorBody, description = "Wrong login or password, or a deactivated account"),
        (status = 404, body = ErrorBody, description = "`provider_not_found`: the `provider` named is not a configured directory"),
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
        .unwrap_or("");
    // A bad client name is refused before the credential is looked at.
    let client = session_client_name(req.client.as_deref().unwrap_or(""))?;
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
        SecondFactorStep::Required(ch) => return Ok(challenge_answer(ch)),
    };
    let (token, user) = state
        .accounts
        .open_session(
            grant,
            SessionClient {
                user_agent: agent,
                client: &client,
            },
        )
        .await?;
    let mut resp = Json(LoginAnswer::Session(LoginResponse {
        token: token.clone(),
        user: UserDto::new(&user, true),
    }))
    .into_response();
    if let Some(c) = session_cookie(&state, &token, state.config.session_ttl.as_secs()) {
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    Ok(resp)
}

/// The answer to a first step that needs a second one: the challenge, no session.
pub(crate) fn challenge_answer(ch: enclave_app::Challenge) -> Response {
    Json(LoginAnswer::SecondFactor(SecondFactorRequired {
        second_factor: SecondFactorChallengeDto {
            challenge: ch.token,
            methods: ch.methods.iter().map(|m| m.as_str().to_owned()).collect(),
            enrol_required: ch.enrol_required,
            expires_at: ts(ch.expires_at),
            webauthn: ch.webauthn,
        },
    }))
    .into_response()
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
            .map(|t| TokenDto::new(t, Some(t.id) == current))
            .collect(),
    }))
}

/// Create a personal access token for scripts and bots: named, scoped (`read`, `write`,
/// `admin`) and expiring (1 day to `[auth] token_max_days`). Only from a signed-in session.
#[utoipa::path(post, path = "/api/v1/users/me/tokens", tag = "auth", request_body = CreateTokenRequest,
    responses((status = 201, body = CreatedToken), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "The request was made with a token or app password, not a session"),
        (status = 422, body = ErrorBody, description = "`limit_exceeded`: the user already holds the most tokens allowed (50)")))]
pub async fn create_token(
    State(state): State<AppState>,
    Auth(authed): Auth,
    ApiJson(req): ApiJson<CreateTokenRequest>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let scope = Scope::parse_token_scope(&req.scope).ok_or_else(|| {
        ApiError::from(enclave_core::Error::invalid(
            "scope",
            "must be read, write or admin",
        ))
    })?;
    let (token, info) = state
        .accounts
        .create_personal_token(
            &authed.actor(),
            &req.name,
            scope,
            TokenLifetime(req.expires_in_days),
        )
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
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = parse_id(&id, ErrorCode::TokenNotFound)?;
    state.accounts.revoke_token(&authed.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
