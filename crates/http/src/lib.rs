//! Enclave's REST door: the axum router, the wire DTOs and WebSocket frames, the HTTP statuses
//! of the error codes, and the OpenAPI document generated from the handlers.
//!
//! This is the only crate that knows HTTP and JSON. Handlers authenticate the caller, parse the
//! request into application inputs, call one service of `enclave_app`, and turn the result into
//! a DTO. Every route is registered together with its OpenAPI description
//! (`utoipa_axum::routes!`), so the document covers the router by construction.

mod backups_dto;
mod commands_dto;
pub mod contract;
mod departments_dto;
pub mod dto;
pub mod error;
pub mod extract;
pub mod frames;
mod ldap_dto;
pub mod rate_limits;
mod retention_dto;
pub mod routes;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Request};
use axum::response::{IntoResponse, Response};
use enclave_app::{
    Accounts, Audit, Channels, Departments, Files, Health, Hub, Messages, Roles, Search, Sso,
};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorCode};

/// The largest JSON request body.
pub const MAX_JSON_BODY: usize = 256 * 1024;

/// HTTP-specific settings.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Mark cookies `Secure` (when serving HTTPS, directly or behind a proxy).
    pub secure_cookies: bool,
    pub session_ttl: Duration,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpAddr>,
    /// Interval between WebSocket pings; a silent peer is dropped after two.
    pub heartbeat: Duration,
    /// Send `Strict-Transport-Security` (when this server itself speaks HTTPS).
    pub hsts: bool,
}

/// The `Strict-Transport-Security` value: a year, this host only (other hosts of the domain may
/// not speak HTTPS).
pub const HSTS: &str = "max-age=31536000";

/// Headers every response carries unless its handler set them: `X-Content-Type-Options:
/// nosniff`; for the API (`/api/...`), `Cache-Control: no-store` (answers are per user, and
/// neither a browser nor a proxy should keep them); with [`HttpConfig::hsts`],
/// `Strict-Transport-Security`.
async fn security_headers(
    hsts: bool,
    req: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> Response {
    use axum::http::header;
    let api = req.uri().path().starts_with("/api/");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    if api {
        h.entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("no-store"));
    }
    if hsts {
        h.entry(header::STRICT_TRANSPORT_SECURITY)
            .or_insert(HeaderValue::from_static(HSTS));
    }
    resp
}

/// Runs the request with its client's address and user agent as the current
/// [`enclave_app::RequestContext`], so that audit entries recorded while serving it carry them.
async fn request_context(
    trusted: Arc<[IpAddr]>,
    req: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> Response {
    let ip = extract::client_ip(req.headers(), req.extensions(), &trusted);
    let agent = req
        .headers()
        .get(axum::http::header::USER_AGENT)
        // Not `to_str`, which refuses any byte outside visible ASCII: keep what was sent.
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    enclave_app::RequestContext::new(Some(ip), agent.as_deref())
        .scope(next.run(req))
        .await
}

/// The application services the router serves.
pub struct Deps {
    pub accounts: Arc<Accounts>,
    pub roles: Arc<Roles>,
    pub channels: Channels,
    pub messages: Messages,
    pub files: Arc<Files>,
    pub search: Search,
    pub health: Health,
    pub hub: Arc<Hub>,
    /// The audit log (`state.audit.record(...)`).
    pub audit: Audit,
    pub departments: Departments,
    /// Single sign-on (OIDC).
    pub sso: Arc<Sso>,
    /// LDAP providers: sign-in by bind and the directory sync.
    pub ldap: Arc<enclave_app::Ldap>,
    /// Incoming webhooks.
    pub webhooks: Arc<enclave_app::Webhooks>,
    /// Outgoing webhooks (management; the server starts their worker).
    pub outgoing: Arc<enclave_app::Outgoing>,
    /// Slash commands (built-in and custom) and their `response_url`s.
    pub commands: Arc<enclave_app::Commands>,
    /// The scheduled backups, for the admin console.
    pub backups: enclave_app::Backups,
    /// Retention policies, legal holds and the purge.
    pub retention: Arc<enclave_app::Retention>,
}

/// What every handler can reach: the application services, explicitly.
pub struct Services {
    pub accounts: Arc<Accounts>,
    pub roles: Arc<Roles>,
    pub channels: Channels,
    pub messages: Messages,
    pub files: Arc<Files>,
    pub search: Search,
    pub health: Health,
    pub hub: Arc<Hub>,
    pub audit: Audit,
    pub departments: Departments,
    pub sso: Arc<Sso>,
    pub ldap: Arc<enclave_app::Ldap>,
    pub webhooks: Arc<enclave_app::Webhooks>,
    pub outgoing: Arc<enclave_app::Outgoing>,
    pub commands: Arc<enclave_app::Commands>,
    pub backups: enclave_app::Backups,
    pub retention: Arc<enclave_app::Retention>,
    pub config: HttpConfig,
    openapi_json: Bytes,
}

/// The router's shared state.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl std::ops::Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Enclave API", description = "Team chat on your own servers. All ids are decimal strings; times are RFC 3339 UTC."),
    tags(
        (name = "auth", description = "Login, sessions (devices), personal access tokens and app passwords (see docs/admin/sessions.md)"),
        (name = "users", description = "The user directory and accounts"),
        (name = "bots", description = "Bot accounts and their tokens"),
        (name = "integrations", description = "Incoming and outgoing webhooks and slash commands (Slack-compatible, see docs/api/integrations.md)"),
        (name = "roles", description = "Custom roles, the roles accounts hold, and guest invitations (see docs/admin/roles.md)"),
        (name = "channels", description = "Channels, members, direct conversations, read state"),
        (name = "messages", description = "Messages, threads, reactions, pins"),
        (name = "files", description = "Uploads, downloads and thumbnails of files shared in messages"),
        (name = "departments", description = "The department tree, the directory (people, pinyin search, cards, managers) and department channels (see docs/admin/departments.md)"),
        (name = "search", description = "Full-text message search and the quick switcher's channel search"),
        (name = "realtime", description = "The WebSocket gateway, event catch-up and presence (see docs/api/realtime.md)"),
        (name = "system", description = "Health and documentation"),
        (name = "admin", description = "Site administration: sign-in throttles (docs/admin/lockout.md), the audit log (docs/admin/audit.md), identity providers and their directory sync (docs/admin/ldap.md), backups (docs/admin/backup.md), retention and legal holds (docs/admin/retention.md)"),
    ),
    modifiers(&BearerAuth),
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            contract::BEARER,
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            contract::BASIC,
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
        components.add_security_scheme(
            contract::COOKIE,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(extract::SESSION_COOKIE))),
        );
    }
}

fn api_routes() -> OpenApiRouter<AppState> {
    use routes::{
        audit, auth, backups, bots, channels, commands, departments, files, hooks, identity,
        lockouts, messages, outgoing, retention, roles, search, second_factor, sessions, sso,
        system, users, ws,
    };
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(system::healthz))
        .routes(routes!(system::readyz))
        .routes(routes!(system::openapi))
        .routes(routes!(auth::login))
        .routes(routes!(second_factor::login_second_factor))
        .routes(routes!(second_factor::login_totp_setup))
        .routes(routes!(second_factor::login_webauthn_setup))
        .routes(routes!(second_factor::status))
        .routes(routes!(second_factor::begin_totp))
        .routes(routes!(second_factor::confirm_totp))
        .routes(routes!(second_factor::disable))
        .routes(routes!(second_factor::regenerate_recovery_codes))
        .routes(routes!(second_factor::webauthn_keys))
        .routes(routes!(second_factor::begin_webauthn_registration))
        .routes(routes!(second_factor::finish_webauthn_registration))
        .routes(routes!(second_factor::rename_webauthn_key))
        .routes(routes!(second_factor::remove_webauthn_key))
        .routes(routes!(second_factor::reset))
        .routes(routes!(
            second_factor::get_policy,
            second_factor::set_policy
        ))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::setup))
        .routes(routes!(sso::providers))
        .routes(routes!(sso::exchange))
        .routes(routes!(sso::status))
        .routes(routes!(auth::list_tokens, auth::create_token))
        .routes(routes!(auth::revoke_token))
        .routes(routes!(sessions::mine))
        .routes(routes!(sessions::end))
        .routes(routes!(sessions::end_others))
        .routes(routes!(sessions::of_user, sessions::end_all_of_user))
        .routes(routes!(
            sessions::app_passwords,
            sessions::create_app_password
        ))
        .routes(routes!(sessions::revoke_app_password))
        .routes(routes!(users::me))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::get, users::update))
        .routes(routes!(bots::list, bots::create))
        .routes(routes!(bots::rotate_token))
        .routes(routes!(hooks::create))
        .routes(routes!(hooks::list))
        .routes(routes!(hooks::rotate))
        .routes(routes!(hooks::delete))
        .routes(routes!(outgoing::list, outgoing::create))
        .routes(routes!(outgoing::rotate))
        .routes(routes!(outgoing::delete))
        .routes(routes!(outgoing::deliveries))
        .routes(routes!(commands::run))
        .routes(routes!(commands::list))
        .routes(routes!(commands::list_custom, commands::create))
        .routes(routes!(commands::rotate))
        .routes(routes!(commands::delete))
        .routes(routes!(roles::user_roles, roles::set_user_roles))
        .routes(routes!(roles::list, roles::create))
        .routes(routes!(roles::update, roles::delete))
        .routes(routes!(roles::invite_guest))
        .routes(routes!(channels::mine, channels::create))
        .routes(routes!(channels::browse))
        .routes(routes!(channels::get, channels::update))
        .routes(routes!(channels::join))
        .routes(routes!(channels::leave))
        .routes(routes!(channels::members, channels::add_member))
        .routes(routes!(channels::remove_member, channels::update_member))
        .routes(routes!(channels::open_dm))
        .routes(routes!(channels::mark_read))
        .routes(routes!(messages::history, messages::post))
        .routes(routes!(messages::pins))
        .routes(routes!(messages::get, messages::edit, messages::delete))
        .routes(routes!(messages::thread))
        .routes(routes!(messages::react, messages::unreact))
        .routes(routes!(messages::pin, messages::unpin))
        .routes(routes!(files::upload))
        .routes(routes!(files::download))
        .routes(routes!(files::info))
        .routes(routes!(files::thumbnail))
        .routes(routes!(search::messages))
        .routes(routes!(search::channels))
        .routes(routes!(ws::ws))
        .routes(routes!(ws::events))
        .routes(routes!(ws::presence))
        .routes(routes!(lockouts::list))
        .routes(routes!(lockouts::clear_account))
        .routes(routes!(lockouts::clear_source))
        .routes(routes!(identity::list))
        .routes(routes!(identity::sync))
        .routes(routes!(backups::list, backups::start))
        .routes(routes!(retention::get, retention::put))
        .routes(routes!(retention::set_channel, retention::clear_channel))
        .routes(routes!(retention::run))
        .routes(routes!(retention::holds, retention::create_hold))
        .routes(routes!(retention::release_hold))
        .routes(routes!(audit::list))
        .routes(routes!(audit::export))
        .routes(routes!(departments::tree, departments::create))
        .routes(routes!(departments::update, departments::delete))
        .routes(routes!(departments::members))
        .routes(routes!(departments::set_member, departments::remove_member))
        .routes(routes!(
            departments::link_channel,
            departments::unlink_channel
        ))
        .routes(routes!(departments::search))
        .routes(routes!(departments::card))
        .routes(routes!(departments::set_manager))
}

/// The OpenAPI document for every route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut api) = api_routes().split_for_parts();
    finish_document(&mut api);
    api
}

/// What is added to the document after the routes are collected: the rate limits' 429s, then
/// the contract's security and common error answers ([`contract`]).
fn finish_document(api: &mut utoipa::openapi::OpenApi) {
    rate_limits::document(api);
    routes::files::document(api);
    contract::document(api);
}

/// The limits this server was configured with, in the document it serves: a personal access
/// token's lifetime is at most `[auth] token_max_days` (the generated document gives the
/// largest value the configuration accepts).
fn configured_limits(api: &mut utoipa::openapi::OpenApi, accounts: &Accounts) {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{Object, Schema};
    let Some(components) = api.components.as_mut() else {
        return;
    };
    let Some(RefOr::T(Schema::Object(request))) = components.schemas.get_mut("CreateTokenRequest")
    else {
        return;
    };
    if let Some(RefOr::T(Schema::Object(days))) = request.properties.get_mut("expires_in_days") {
        let days: &mut Object = days;
        days.maximum = Some(f64::from(accounts.token_max_days()).into());
        days.description = Some(format!(
            "Days until the token expires: required, 1 to {} (this server's `[auth] token_max_days`).",
            accounts.token_max_days()
        ));
    }
}

/// Request ids: a per-process random prefix and a counter, short and unique enough to grep logs.
#[derive(Clone)]
struct RequestIds {
    prefix: u32,
    next: Arc<AtomicU64>,
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{:08x}-{n}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such route")
}

/// Paths no route matched: under `/api` the JSON 404; anywhere else the web client (its files,
/// or its `index.html` for client-side routes).
async fn fallback(web: Router, req: Request<axum::body::Body>) -> Response {
    let path = req.uri().path();
    if path == "/api" || path.starts_with("/api/") {
        return not_found().await.into_response();
    }
    match tower::ServiceExt::oneshot(web, req).await {
        Ok(resp) => resp,
        Err(never) => match never {},
    }
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "method not allowed on this route",
    )
}

fn panic_response(_err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("request handler panicked");
    ApiError::new(ErrorCode::Internal, "internal server error").into_response()
}

/// Builds the whole HTTP application.
pub fn router(deps: Deps, config: HttpConfig) -> Router {
    let Deps {
        accounts,
        roles,
        channels,
        messages,
        files,
        search,
        health,
        hub,
        audit,
        departments,
        sso,
        ldap,
        webhooks,
        outgoing,
        commands,
        backups,
        retention,
    } = deps;
    let (api_router, mut api) = api_routes().split_for_parts();
    finish_document(&mut api);
    configured_limits(&mut api, &accounts);
    let openapi_json = match api.to_json() {
        Ok(s) => Bytes::from(s),
        Err(e) => {
            tracing::error!(error = %e, "could not render the OpenAPI document");
            Bytes::from_static(b"{}")
        }
    };
    let state = AppState(Arc::new(Services {
        accounts,
        roles,
        channels,
        messages,
        files,
        search,
        health,
        hub,
        audit,
        departments,
        sso,
        ldap,
        webhooks,
        outgoing,
        commands,
        backups,
        retention,
        config,
        openapi_json,
    }));
    let mut prefix_bytes = [0u8; 4];
    let prefix = if getrandom::fill(&mut prefix_bytes).is_ok() {
        u32::from_le_bytes(prefix_bytes)
    } else {
        std::process::id()
    };
    let ids = RequestIds {
        prefix,
        next: Arc::new(AtomicU64::new(1)),
    };
    let trace = TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
        let id = req
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        tracing::info_span!("request", id = %id, method = %req.method(), path = %req.uri().path())
    });
    let web = enclave_webui::router::<()>();
    let hsts = state.config.hsts;
    let trusted: Arc<[IpAddr]> = state.config.trusted_proxies.clone().into();
    api_router
        .merge(routes::sso::browser_routes())
        .route(
            "/hooks/{secret}",
            axum::routing::post(routes::hooks::incoming).layer(DefaultBodyLimit::max(
                enclave_core::webhooks::MAX_BODY_BYTES,
            )),
        )
        .route(
            "/hooks/commands/{token}",
            axum::routing::post(routes::commands::respond).layer(DefaultBodyLimit::max(
                enclave_core::webhooks::MAX_BODY_BYTES,
            )),
        )
        .fallback(move |req: Request<axum::body::Body>| fallback(web.clone(), req))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn(
            move |req: Request<axum::body::Body>, next: axum::middleware::Next| {
                security_headers(hsts, req, next)
            },
        ))
        .layer(axum::middleware::from_fn(
            move |req: Request<axum::body::Body>, next: axum::middleware::Next| {
                request_context(trusted.clone(), req, next)
            },
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(trace)
        .layer(SetRequestIdLayer::x_request_id(ids))
        .with_state(state)
}
