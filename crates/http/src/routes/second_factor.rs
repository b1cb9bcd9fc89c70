//! Second factors: the second sign-in step, setting up an authenticator app, recovery codes,
//! turning them off, the administrators' reset and the site policy
//! (`docs/admin/second-factor.md`). The rules are `enclave_core::signin`; the steps are
//! `enclave_app::Accounts`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use enclave_app::{FactorProof, Reauth, TotpSetup};
use enclave_core::Error as DomainError;
use enclave_core::signin::{Requirement, SecondFactorMethod};

use crate::AppState;
use crate::dto::{
    ChallengeRequest, EnrolledDto, ReauthRequest, RecoveryCodesDto, SecondFactorLoginRequest,
    SecondFactorLoginResponse, SecondFactorOverview, SecondFactorPolicyDto, SecondFactorStatusDto,
    SetSecondFactorPolicyRequest, TotpConfirmRequest, TotpSetupDto, UserDto, WebAuthnFinishRequest,
    WebAuthnKeyDto, WebAuthnKeyList, WebAuthnRegisteredDto, WebAuthnRegistrationDto,
    WebAuthnRenameRequest, ts,
};
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, Auth, ClientIp, parse_id};

/// The longest code accepted (a recovery code with separators fits easily).
const MAX_CODE: usize = 64;

fn check_code(code: &str) -> ApiResult<()> {
    if code.chars().count() > MAX_CODE {
        return Err(ApiError::from(DomainError::invalid(
            "code",
            "at most 64 characters",
        )));
    }
    Ok(())
}

fn setup_dto(s: TotpSetup) -> TotpSetupDto {
    TotpSetupDto {
        secret: s.secret,
        uri: s.uri,
        qr_svg: s.qr_svg,
    }
}

/// Pass the second step of a sign-in: the challenge from `POST /api/v1/auth/login` with a
/// TOTP code (`method: "totp"`), a recovery code (`method: "recovery"`) or a security key's
/// answer to the challenge's `webauthn` options (`method: "webauthn"`, `credential`). Opens
/// the session like a login. With an enrol-only challenge, the TOTP code confirms the authenticator app set
/// up through `POST /api/v1/auth/login/totp-setup`, or the browser's answer (`method: "webauthn"`,
/// `registration`, `name`, `credential`) registers the security key started through
/// `POST /api/v1/auth/login/webauthn-setup`; the answer carries the recovery codes.
/// Wrong codes count towards the sign-in throttle of the account.
#[utoipa::path(post, path = "/api/v1/auth/login/second-factor", tag = "auth",
    request_body = SecondFactorLoginRequest, security(()),
    responses(
        (status = 200, body = SecondFactorLoginResponse, description = "Logged in; the token is also set as an HttpOnly cookie"),
        (status = 400, body = ErrorBody, description = "`invalid_field`: an unknown method, an over-long code, or a challenge that is unknown, expired or already used; `webauthn_invalid`: a `credential` that is not a WebAuthn credential"),
        (status = 401, body = ErrorBody, description = "`unauthenticated`: a wrong, replayed or expired code; `webauthn_refused`: a security key answer that failed a check (forged, replayed, for another relying party)"),
        (status = 404, body = ErrorBody, description = "`webauthn_not_found`: with `registration`, a registration that is unknown, expired, used or another account's"),
        (status = 409, body = ErrorBody, description = "`totp_unreadable`: the authenticator app's secret is sealed under a master key this server no longer has; `conflict`: with `registration`, security keys are off on this server"),
        (status = 429, body = ErrorBody, description = "Too many failed codes for this account from this address"),
    ))]
pub async fn login_second_factor(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(req): ApiJson<SecondFactorLoginRequest>,
) -> ApiResult<Response> {
    let code = req.code.as_deref().unwrap_or("");
    check_code(code)?;
    let client = enclave_app::session_client_name(req.client.as_deref().unwrap_or(""))?;
    let credential = req.credential.as_ref().map(ToString::to_string);
    let proof = match SecondFactorMethod::parse(&req.method) {
        Some(SecondFactorMethod::Totp) => FactorProof::Totp(code),
        Some(SecondFactorMethod::Recovery) => FactorProof::Recovery(code),
        Some(SecondFactorMethod::WebAuthn) => match req.registration.as_deref() {
            Some(registration) => FactorProof::WebAuthnEnrol {
                registration,
                name: req.name.as_deref().unwrap_or(""),
                credential: credential.as_deref().unwrap_or(""),
            },
            None => FactorProof::WebAuthn(credential.as_deref().unwrap_or("")),
        },
        None => {
            return Err(ApiError::from(DomainError::invalid(
                "method",
                "must be totp, recovery or webauthn",
            )));
        }
    };
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown client");
    let passed = state
        .accounts
        .pass_second_factor(&req.challenge, proof, ip)
        .await?;
    let (token, user) = state
        .accounts
        .open_session(
            passed.grant,
            enclave_app::SessionClient {
                user_agent: agent,
                client: &client,
            },
        )
        .await?;
    let mut resp = Json(SecondFactorLoginResponse {
        token: token.clone(),
        user: UserDto::new(&user, true),
        recovery_codes: passed.recovery_codes,
    })
    .into_response();
    if let Some(c) = super::auth::session_cookie(&state, &token, state.config.session_ttl.as_secs())
    {
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    Ok(resp)
}

/// With an enrol-only challenge (`enrol_required`), start setting up an authenticator app:
/// the secret, its `otpauth://` URI and a QR code. Confirm it with a code at
/// `POST /api/v1/auth/login/second-factor`.
#[utoipa::path(post, path = "/api/v1/auth/login/totp-setup", tag = "auth",
    request_body = ChallengeRequest, security(()),
    responses(
        (status = 200, body = TotpSetupDto),
        (status = 400, body = ErrorBody, description = "A challenge that is unknown, expired or already used"),
        (status = 403, body = ErrorBody, description = "The challenge is not an enrolment challenge"),
        (status = 409, body = ErrorBody, description = "The account already has an authenticator app"),
    ))]
pub async fn login_totp_setup(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ChallengeRequest>,
) -> ApiResult<Json<TotpSetupDto>> {
    let setup = state.accounts.challenge_begin_totp(&req.challenge).await?;
    Ok(Json(setup_dto(setup)))
}

/// With an enrol-only challenge (`enrol_required`), start registering a security key or
/// passkey: the options for the browser's `navigator.credentials.create`. Finish it at
/// `POST /api/v1/auth/login/second-factor` with `method: "webauthn"`, this `registration` id,
/// the key's `name` and the browser's `credential`; that opens the session and returns the
/// recovery codes.
#[utoipa::path(post, path = "/api/v1/auth/login/webauthn-setup", tag = "auth",
    request_body = ChallengeRequest, security(()),
    responses(
        (status = 200, body = WebAuthnRegistrationDto),
        (status = 400, body = ErrorBody, description = "A challenge that is unknown, expired or already used"),
        (status = 403, body = ErrorBody, description = "The challenge is not an enrolment challenge"),
        (status = 409, body = ErrorBody, description = "Security keys are off on this server"),
        (status = 422, body = ErrorBody, description = "`limit_exceeded`: the account holds the most keys it may"),
    ))]
pub async fn login_webauthn_setup(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ChallengeRequest>,
) -> ApiResult<Json<WebAuthnRegistrationDto>> {
    let r = state
        .accounts
        .challenge_begin_webauthn(&req.challenge)
        .await?;
    Ok(Json(WebAuthnRegistrationDto {
        id: r.id,
        options: r.options,
        expires_at: ts(r.expires_at),
    }))
}

/// The caller's second factors and whether the site requires one of them.
#[utoipa::path(get, path = "/api/v1/users/me/second-factor", tag = "auth",
    responses((status = 200, body = SecondFactorStatusDto), (status = 401, body = ErrorBody)))]
pub async fn status(
    State(state): State<AppState>,
    Auth(authed): Auth,
) -> ApiResult<Json<SecondFactorStatusDto>> {
    let s = state.accounts.second_factor_status(&authed.actor()).await?;
    Ok(Json(s.into()))
}

/// Start setting up an authenticator app (a new secret each call until one is confirmed).
#[utoipa::path(post, path = "/api/v1/users/me/second-factor/totp", tag = "auth",
    responses((status = 200, body = TotpSetupDto), (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "An authenticator app is already set up")))]
pub async fn begin_totp(
    State(state): State<AppState>,
    Auth(authed): Auth,
) -> ApiResult<Json<TotpSetupDto>> {
    let setup = state.accounts.begin_totp(&authed.actor()).await?;
    Ok(Json(setup_dto(setup)))
}

/// Confirm the authenticator app being set up with a code from it; answers the ten recovery
/// codes, shown this once.
#[utoipa::path(post, path = "/api/v1/users/me/second-factor/totp/confirm", tag = "auth",
    request_body = TotpConfirmRequest,
    responses((status = 200, body = RecoveryCodesDto), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody, description = "A wrong code"),
        (status = 409, body = ErrorBody, description = "No set-up in progress"),
        (status = 429, body = ErrorBody)))]
pub async fn confirm_totp(
    State(state): State<AppState>,
    Auth(authed): Auth,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<TotpConfirmRequest>,
) -> ApiResult<Json<RecoveryCodesDto>> {
    check_code(&req.code)?;
    let codes = state
        .accounts
        .confirm_totp(&authed.actor(), &req.code, ip)
        .await?;
    Ok(Json(RecoveryCodesDto {
        recovery_codes: codes,
    }))
}

fn reauth<'a>(req: &'a ReauthRequest, authed: &enclave_app::Authed) -> ApiResult<Reauth<'a>> {
    match (&req.password, &req.code) {
        (Some(p), None) => {
            if p.chars().count() > enclave_core::validate::MAX_PASSWORD_CHARS {
                return Err(ApiError::from(DomainError::invalid("password", "too long")));
            }
            Ok(Reauth::Password(p))
        }
        (None, Some(c)) => {
            check_code(c)?;
            Ok(Reauth::Code(c))
        }
        // Neither: an account without a password of its own proves itself by a recent sign-in.
        (None, None) => Ok(Reauth::RecentSignIn(match authed.credential {
            enclave_app::Credential::Session(id) => Some(id),
            _ => None,
        })),
        (Some(_), Some(_)) => Err(ApiError::from(DomainError::invalid(
            "password",
            "give the password or a code: one of them",
        ))),
    }
}

/// Turn the caller's authenticator app off (the recovery codes go with it unless security keys
/// remain). Needs the password or a current code (see `ReauthRequest`).
#[utoipa::path(post, path = "/api/v1/users/me/second-factor/disable", tag = "auth",
    request_body = ReauthRequest,
    responses((status = 204), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody, description = "A wrong password or code"),
        (status = 403, body = ErrorBody, description = "`forbidden`: no password or code given, and the account has a password, or signed in more than 10 minutes ago"),
        (status = 429, body = ErrorBody)))]
pub async fn disable(
    State(state): State<AppState>,
    Auth(authed): Auth,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<ReauthRequest>,
) -> ApiResult<StatusCode> {
    let proof = reauth(&req, &authed)?;
    state
        .accounts
        .disable_second_factor(&authed.actor(), proof, ip)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Issue ten new recovery codes (the old ones stop working). Needs the password or a current
/// code.
#[utoipa::path(post, path = "/api/v1/users/me/second-factor/recovery-codes", tag = "auth",
    request_body = ReauthRequest,
    responses((status = 200, body = RecoveryCodesDto), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody, description = "`forbidden`: no password or code given, and the account has a password, or signed in more than 10 minutes ago"),
        (status = 409, body = ErrorBody, description = "No authenticator app or security key is set up"),
        (status = 429, body = ErrorBody)))]
pub async fn regenerate_recovery_codes(
    State(state): State<AppState>,
    Auth(authed): Auth,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<ReauthRequest>,
) -> ApiResult<Json<RecoveryCodesDto>> {
    let proof = reauth(&req, &authed)?;
    let codes = state
        .accounts
        .regenerate_recovery_codes(&authed.actor(), proof, ip)
        .await?;
    Ok(Json(RecoveryCodesDto {
        recovery_codes: codes,
    }))
}

/// Remove someone's second factors (a lost phone). Needs the right to manage users; audited.
#[utoipa::path(delete, path = "/api/v1/users/{id}/second-factor", tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn reset(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = parse_id(&id, ErrorCode::UserNotFound)?;
    state
        .accounts
        .reset_second_factor(&authed.actor(), id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn overview(
    policy: enclave_core::signin::Policy,
    enrolled: Vec<enclave_app::Enrolled>,
) -> SecondFactorOverview {
    SecondFactorOverview {
        policy: SecondFactorPolicyDto::from(policy),
        enrolled: enrolled
            .into_iter()
            .map(|e| EnrolledDto {
                user: UserDto::new(&e.user, true),
                totp_since: e.totp_since.map(ts),
                recovery_codes_left: e.recovery_codes_left,
                webauthn_keys: e.webauthn_keys,
            })
            .collect(),
    }
}

/// The site's second-factor policy and who has set up a second factor. Needs the right to
/// manage users.
#[utoipa::path(get, path = "/api/v1/admin/second-factor", tag = "admin",
    responses((status = 200, body = SecondFactorOverview), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn get_policy(
    State(state): State<AppState>,
    Auth(authed): Auth,
) -> ApiResult<Json<SecondFactorOverview>> {
    let (policy, enrolled) = state
        .accounts
        .second_factor_overview(&authed.actor())
        .await?;
    Ok(Json(overview(policy, enrolled)))
}

/// Change the site's second-factor policy (whom it requires a second factor of, and the days of
/// grace to set one up). Needs the right to manage users; audited.
#[utoipa::path(put, path = "/api/v1/admin/second-factor", tag = "admin",
    request_body = SetSecondFactorPolicyRequest,
    responses((status = 200, body = SecondFactorOverview), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn set_policy(
    State(state): State<AppState>,
    Auth(authed): Auth,
    ApiJson(req): ApiJson<SetSecondFactorPolicyRequest>,
) -> ApiResult<Json<SecondFactorOverview>> {
    let require = Requirement::parse(&req.require).ok_or_else(|| {
        ApiError::from(DomainError::invalid(
            "require",
            "must be off, admins or everyone",
        ))
    })?;
    let actor = authed.actor();
    state
        .accounts
        .set_second_factor_policy(&actor, require, req.grace_days)
        .await?;
    let (policy, enrolled) = state.accounts.second_factor_overview(&actor).await?;
    Ok(Json(overview(policy, enrolled)))
}

/// The caller's security keys and passkeys (WebAuthn), oldest first.
#[utoipa::path(get, path = "/api/v1/users/me/second-factor/webauthn", tag = "auth",
    responses((status = 200, body = WebAuthnKeyList), (status = 401, body = ErrorBody)))]
pub async fn webauthn_keys(
    State(state): State<AppState>,
    Auth(authed): Auth,
) -> ApiResult<Json<WebAuthnKeyList>> {
    let keys = state.accounts.webauthn_keys(&authed.actor()).await?;
    Ok(Json(WebAuthnKeyList {
        keys: keys.into_iter().map(WebAuthnKeyDto::from).collect(),
        max_keys: u32::try_from(enclave_core::signin::MAX_WEBAUTHN_KEYS).unwrap_or(u32::MAX),
    }))
}

/// Start registering a security key or passkey: answers the options for the browser's
/// `navigator.credentials.create`. Needs the password or a current code. Finish within five
/// minutes at `POST /api/v1/users/me/second-factor/webauthn/registrations/{id}`.
#[utoipa::path(post, path = "/api/v1/users/me/second-factor/webauthn/registrations", tag = "auth",
    request_body = ReauthRequest,
    responses((status = 200, body = WebAuthnRegistrationDto), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody, description = "A wrong password or code"),
        (status = 403, body = ErrorBody, description = "`forbidden`: no password or code given, and the account has a password, or signed in more than 10 minutes ago"),
        (status = 409, body = ErrorBody, description = "Security keys are off on this server (no `[webauthn] origin`)"),
        (status = 422, body = ErrorBody, description = "`limit_exceeded`: the account has 20 keys already"),
        (status = 429, body = ErrorBody)))]
pub async fn begin_webauthn_registration(
    State(state): State<AppState>,
    Auth(authed): Auth,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<ReauthRequest>,
) -> ApiResult<Json<WebAuthnRegistrationDto>> {
    let proof = reauth(&req, &authed)?;
    let r = state
        .accounts
        .begin_webauthn_registration(&authed.actor(), proof, ip)
        .await?;
    Ok(Json(WebAuthnRegistrationDto {
        id: r.id,
        options: r.options,
        expires_at: ts(r.expires_at),
    }))
}

/// Finish a registration with the browser's answer and name the new key. The registration is
/// used up whatever the outcome.
#[utoipa::path(post, path = "/api/v1/users/me/second-factor/webauthn/registrations/{id}", tag = "auth",
    params(("id" = String, Path, description = "Registration id")),
    request_body = WebAuthnFinishRequest,
    responses((status = 200, body = WebAuthnRegisteredDto, description = "The key, with ten recovery codes when it is the account's first second factor"), (status = 400, body = ErrorBody, description = "`invalid_field`: a bad name; `webauthn_invalid`: a `credential` that is not a WebAuthn credential"),
        (status = 401, body = ErrorBody, description = "`webauthn_refused`: the answer failed a check (challenge, relying party, origin, attestation)"),
        (status = 404, body = ErrorBody, description = "`webauthn_not_found`: no such registration of yours (unknown, expired or finished)"),
        (status = 409, body = ErrorBody, description = "The key is registered already"),
        (status = 422, body = ErrorBody, description = "`limit_exceeded`: the account has 20 keys already")))]
pub async fn finish_webauthn_registration(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<WebAuthnFinishRequest>,
) -> ApiResult<Json<WebAuthnRegisteredDto>> {
    let key = state
        .accounts
        .finish_webauthn_registration(&authed.actor(), &id, &req.name, &req.credential.to_string())
        .await?;
    Ok(Json(key.into()))
}

/// Rename one of the caller's security keys.
#[utoipa::path(patch, path = "/api/v1/users/me/second-factor/webauthn/{id}", tag = "auth",
    params(("id" = String, Path, description = "Security key id")),
    request_body = WebAuthnRenameRequest,
    responses((status = 200, body = WebAuthnKeyDto), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "`webauthn_not_found`: no such key of yours")))]
pub async fn rename_webauthn_key(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<WebAuthnRenameRequest>,
) -> ApiResult<Json<WebAuthnKeyDto>> {
    let id: i64 = parse_id(&id, ErrorCode::WebauthnNotFound)?;
    let key = state
        .accounts
        .rename_webauthn_key(&authed.actor(), id, &req.name)
        .await?;
    Ok(Json(key.into()))
}

/// Remove one of the caller's security keys. Needs the password or a current code.
#[utoipa::path(post, path = "/api/v1/users/me/second-factor/webauthn/{id}/remove", tag = "auth",
    params(("id" = String, Path, description = "Security key id")),
    request_body = ReauthRequest,
    responses((status = 204), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody, description = "A wrong password or code"),
        (status = 403, body = ErrorBody, description = "`forbidden`: no password or code given, and the account has a password, or signed in more than 10 minutes ago"),
        (status = 404, body = ErrorBody, description = "`webauthn_not_found`: no such key of yours"),
        (status = 429, body = ErrorBody)))]
pub async fn remove_webauthn_key(
    State(state): State<AppState>,
    Auth(authed): Auth,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ReauthRequest>,
) -> ApiResult<StatusCode> {
    let id: i64 = parse_id(&id, ErrorCode::WebauthnNotFound)?;
    let proof = reauth(&req, &authed)?;
    state
        .accounts
        .remove_webauthn_key(&authed.actor(), id, proof, ip)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
