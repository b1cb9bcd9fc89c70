// Generated from the Rust wire types by crates/http/tests/typescript.rs. Do not edit: change
// the Rust types, then run `UPDATE_TS=1 cargo test -p enclave-http --test typescript`.
// Ids are decimal strings; times are RFC 3339 UTC strings (see crates/http/src/dto.rs).

// Code tables
/** Every error code the API reports (REST bodies and WebSocket `error` frames): enclave_app::ErrorCode. */
export type ErrorCode =
  | "bad_json" // The body is not valid JSON or does not have the expected shape.
  | "bad_request" // A path or query parameter is malformed.
  | "invalid_field" // A field's value is not acceptable; `field` names it.
  | "unsupported_media_type" // The body must be `application/json`.
  | "payload_too_large" // The body is larger than the limit.
  | "unauthenticated" // No valid session or token was presented.
  | "csrf_failed" // A cookie-authenticated change came without a matching Origin.
  | "forbidden" // The request is understood but not allowed for this user.
  | "not_found" // No such route.
  | "user_not_found" // No such user.
  | "channel_not_found" // No such channel, or not one this user may see.
  | "message_not_found" // No such message, or not one this user may see.
  | "member_not_found" // The user is not a member of the channel.
  | "token_not_found" // No such session or token.
  | "file_not_found" // No such file, or not one this user may read.
  | "file_too_large" // The file is larger than the per-file limit.
  | "quota_exceeded" // The upload would take the user past their storage quota.
  | "image_too_large" // The image has more pixels than allowed (a decompression bomb is refused before decoding).
  | "method_not_allowed" // The route does not accept this method.
  | "conflict" // The request conflicts with the current state (for example, a taken name).
  | "channel_archived" // The channel is archived and read-only.
  | "limit_exceeded" // A quantity limit was reached.
  | "rate_limited" // Too many attempts or requests (a per-user rate limit); `Retry-After` (on the WebSocket, `retry_after_secs`) says how many seconds to wait.
  | "bad_frame" // A WebSocket frame could not be read; the connection stays open.
  | "resync_required" // The position is too old to replay; fetch state afresh.
  | "internal" // The server failed; the details are in its log.
  | "unavailable" // The server is shutting down or its database is unreachable.
  | "role_not_found" // No such custom role.
  | "department_not_found" // No such department.
  | "password_login_disabled" // Password sign-in is off on this server (`[auth] local_passwords = false`): sign in through single sign-on. Only system administrators keep their password.
  | "sso_failed" // Single sign-on failed: the provider's answer did not pass a check (state, code, ID token signature, issuer, audience, expiry, nonce), the one-time code is unknown or used, or the account may not sign in this way.
  | "sso_provider_unavailable" // The single sign-on provider could not be reached or answered with an error.
  | "provider_not_found" // No identity provider (single sign-on or directory) has this id.
  | "directory_unavailable" // The directory (LDAP / Active Directory) could not be reached or failed; nothing was decided about the sign-in.
  | "webauthn_invalid" // The WebAuthn credential is malformed: not the browser's `PublicKeyCredential` as JSON with its binary fields in base64url. Nothing changed.
  | "webauthn_refused" // The security key's answer failed a check (challenge, relying-party id, origin, signature, signature counter, or an unknown key): a forged or replayed answer, or one made for another site. Nothing changed.
  | "webauthn_not_found" // No such security key or registration of this account (unknown, expired, or another account's).
  | "totp_unreadable" // The account's authenticator app cannot be checked: its secret is sealed under a master key this server no longer has (`[files] previous_keys`). Use a recovery code or a security key, or ask an administrator to reset the second factor. Nothing changed.
  | "hold_not_found" // No legal hold has this id.
  | "webhook_not_found" // No outgoing webhook of yours has this id (another's is not found either).
  | "command_not_found" // No slash command has this name (built-in or custom), or no custom command has this id.
  | "command_failed" // A custom slash command's service did not answer within 3 seconds, could not be reached, or answered an error; nothing was posted.
;
/** The `type` of an event frame. */
export type EventKind =
  | "message.created"
  | "message.edited"
  | "message.deleted"
  | "reaction.added"
  | "reaction.removed"
  | "message.pinned"
  | "message.unpinned"
  | "thread.updated"
  | "channel.created"
  | "channel.updated"
  | "channel.archived"
  | "channel.unarchived"
  | "member.added"
  | "member.removed"
  | "member.updated"
  | "read.updated"
  | "user.created"
  | "user.updated"
  | "tokens.revoked"
  | "roles.changed"
  | "ephemeral.posted"
;
/** What a notice (a message about the conversation itself) says. */
export type NoticeKind =
  | "topic"
  | "purpose"
  | "renamed"
;
/** The four kinds of conversation. */
export type ChannelKind =
  | "public"
  | "private"
  | "dm"
  | "group_dm"
;
/** Every action the audit log records, in order: enclave_core::audit::AuditAction. */
export const AUDIT_ACTIONS = [
  "sign_in",
  "sign_in_failed",
  "sign_out",
  "second_factor_enrolled",
  "second_factor_removed",
  "session_revoked",
  "token_created",
  "token_revoked",
  "password_changed",
  "user_created",
  "user_updated",
  "user_deactivated",
  "user_reactivated",
  "role_changed",
  "permission_changed",
  "department_changed",
  "guest_invited",
  "channel_privacy_changed",
  "channel_archived",
  "member_added_by_other",
  "member_removed_by_other",
  "member_role_changed",
  "message_deleted_by_moderator",
  "export_started",
  "retention_changed",
  "integration_changed",
  "admin_read",
  "audit_viewed",
  "audit_exported",
  "identity_linked",
  "identity_unlinked",
  "settings_changed",
  "second_factor_passed",
  "second_factor_failed",
  "recovery_code_used",
  "recovery_codes_regenerated",
  "second_factor_reset",
  "sessions_ended_by_admin",
  "other_sessions_ended",
  "app_password_created",
  "app_password_revoked",
  "directory_sync",
  "role_created",
  "role_updated",
  "role_deleted",
  "department_created",
  "department_updated",
  "department_moved",
  "department_deleted",
  "department_member_added",
  "department_member_updated",
  "department_member_removed",
  "manager_changed",
  "departments_imported",
  "retention_purge",
  "legal_hold_created",
  "legal_hold_released",
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

// Ids in requests (decimal strings; numbers are accepted too)
/**
 * An id in a request body: a decimal string (numbers are accepted too).
 */
export type WireId = string;

// Errors
/**
 * The error body: `{"error": {"code", "message", "field"?}}`.
 */
export type ErrorBody = { error: ErrorDetail, };
export type ErrorDetail = {
/**
 * A stable code from the error table.
 */
code: ErrorCode,
/**
 * A human-readable explanation.
 */
message: string,
/**
 * The offending field, for `invalid_field`.
 */
field?: string, };

// Users and auth
export type UserDto = { id: string, username: string, display_name: string,
/**
 * Shown to the user themself and to administrators only.
 */
email?: string, is_admin: boolean, is_bot: boolean, active: boolean, created_at: string,
/**
 * A guest: sees only the channels they were invited to and their members.
 */
is_guest: boolean,
/**
 * When a guest's access ends (RFC 3339); absent for everyone else.
 */
guest_expires_at?: string, };
export type LoginRequest = {
/**
 * Username or email address.
 */
login: string, password: string,
/**
 * The client signing in ("Enclave web", a script's name), shown in the user's list of
 * sessions beside the device read from the `User-Agent`; at most 64 characters once
 * trimmed, without control or invisible characters (as a token's name); may be empty.
 */
client?: string | null,
/**
 * Check the password against this LDAP provider (`GET /api/v1/admin/identity-providers`
 * lists them). Without it, accounts linked to a directory, and unknown logins when one is
 * configured, are checked by the directory; others by their local password.
 */
provider?: string, };
export type LoginResponse = {
/**
 * A bearer token; also set as the `enclave_session` HttpOnly cookie.
 */
token: string, user: UserDto, };
/**
 * The answer of `POST /api/v1/auth/login`: a session, or (with no session yet) a second-factor
 * challenge.
 */
export type LoginAnswer = LoginResponse | SecondFactorRequired;
/**
 * The password was right, but the account must pass (or enrol) a second factor first.
 */
export type SecondFactorRequired = { second_factor: SecondFactorChallengeDto, };
export type SecondFactorChallengeDto = {
/**
 * Single-use, bound to the account, valid five minutes; send it to
 * `POST /api/v1/auth/login/second-factor`.
 */
challenge: string,
/**
 * The methods the account may pass: `totp`, `recovery`, `webauthn`.
 */
methods: Array<string>,
/**
 * The site policy requires a second factor the account does not have: set up an
 * authenticator app with `POST /api/v1/auth/login/totp-setup`, then confirm its code at
 * the second-factor step, which opens the session.
 */
enrol_required: boolean, expires_at: string,
/**
 * With `webauthn` among the methods: the options to pass to the browser's
 * `navigator.credentials.get` (`{"publicKey": {...}}`, binary fields in base64url).
 */
webauthn?: Record<string, unknown>, };
export type SecondFactorLoginRequest = { challenge: string,
/**
 * `totp`, `recovery` or `webauthn`.
 */
method: string,
/**
 * With `totp` or `recovery`: the six-digit code, or a recovery code (`xxxxx-xxxxx`).
 */
code?: string,
/**
 * With `webauthn`: the browser's `PublicKeyCredential` answering the challenge's
 * `webauthn` options, as JSON with its binary fields in base64url.
 */
credential?: Record<string, unknown>,
/**
 * With `webauthn` on an enrol-only challenge: the id of the registration started at
 * `POST /api/v1/auth/login/webauthn-setup`; `credential` is then the browser's answer
 * from `navigator.credentials.create`, which registers the key and opens the session.
 */
registration?: string,
/**
 * With `registration`: the new key's name, as when registering one in the settings.
 */
name?: string,
/**
 * The client signing in, as in the first step's `client` (the same rules).
 */
client: string | null, };
/**
 * A session opened by the second step.
 */
export type SecondFactorLoginResponse = {
/**
 * A bearer token; also set as the `enclave_session` HttpOnly cookie.
 */
token: string, user: UserDto,
/**
 * When the step enrolled the account's first second factor: its ten recovery codes,
 * shown this once.
 */
recovery_codes?: Array<string>, };
export type ChallengeRequest = { challenge: string, };
/**
 * An authenticator app being set up: shown once, then confirmed with a code.
 */
export type TotpSetupDto = {
/**
 * The secret in base32, to type into an app.
 */
secret: string,
/**
 * `otpauth://totp/...`.
 */
uri: string,
/**
 * The URI as a QR code (an SVG document).
 */
qr_svg: string, };
export type TotpConfirmRequest = { code: string, };
/**
 * Recovery codes, shown this once.
 */
export type RecoveryCodesDto = { recovery_codes: Array<string>, };
/**
 * The account holder's password, or a current TOTP or recovery code: at most one. An account
 * with no password of its own (single sign-on only) may give neither within 10 minutes of
 * signing in: its session proves it.
 */
export type ReauthRequest = {
/**
 * At most 256 characters.
 */
password?: string | null, code?: string | null, };
export type SecondFactorStatusDto = {
/**
 * An authenticator app is set up.
 */
totp: boolean,
/**
 * A set-up was started and not confirmed.
 */
totp_pending: boolean, recovery_codes_left: number,
/**
 * Security keys and passkeys registered.
 */
webauthn_keys: number,
/**
 * The site policy requires a second factor of this account.
 */
required: boolean,
/**
 * When the account must have one by (when required and not set up).
 */
enrol_by: string | null,
/**
 * The account has a password of its own (local or its directory's): changes ask for it or
 * a code. Without one, they need a sign-in of the last 10 minutes and no field.
 */
password: boolean, };
/**
 * The site's second-factor policy.
 */
export type SecondFactorPolicyDto = {
/**
 * `off`, `admins` or `everyone`.
 */
require: string, grace_days: number,
/**
 * When the requirement took its current value (grace counts from then).
 */
since: string, };
export type SetSecondFactorPolicyRequest = {
/**
 * `off`, `admins` or `everyone`.
 */
require: string, grace_days: number, };
export type EnrolledDto = { user: UserDto,
/**
 * When the authenticator app was set up (null: security keys only).
 */
totp_since: string | null, recovery_codes_left: number,
/**
 * Security keys and passkeys registered.
 */
webauthn_keys: number, };
export type SecondFactorOverview = { policy: SecondFactorPolicyDto,
/**
 * Accounts with an authenticator app or a security key set up.
 */
enrolled: Array<EnrolledDto>, };
/**
 * A security key or passkey of the caller.
 */
export type WebAuthnKeyDto = { id: string, name: string, created_at: string,
/**
 * When it last passed a sign-in.
 */
last_used_at: string | null, };
/**
 * The caller's security keys and passkeys, oldest first.
 */
export type WebAuthnKeyList = { keys: Array<WebAuthnKeyDto>,
/**
 * The most keys an account may register.
 */
max_keys: number, };
/**
 * A security key just registered: the key, and the recovery codes issued with it when it is
 * the account's first second factor (shown once; empty otherwise).
 */
export type WebAuthnRegisteredDto = { id: string, name: string, created_at: string, last_used_at: string | null,
/**
 * Ten one-time codes when this key is the account's first second factor; else empty.
 */
recovery_codes: Array<string>, };
/**
 * A security key registration in progress.
 */
export type WebAuthnRegistrationDto = {
/**
 * Finish it at `POST /api/v1/users/me/second-factor/webauthn/registrations/{id}`.
 */
id: string,
/**
 * The options to pass to the browser's `navigator.credentials.create`
 * (`{"publicKey": {...}}`, binary fields in base64url).
 */
options: Record<string, unknown>, expires_at: string, };
/**
 * The browser's answer to a registration, and the new key's name.
 */
export type WebAuthnFinishRequest = {
/**
 * 1 to 64 characters once trimmed, no control, invisible or text-direction characters,
 * e.g. "YubiKey" or "Laptop".
 */
name: string,
/**
 * The `PublicKeyCredential` from `navigator.credentials.create`, as JSON with its binary
 * fields in base64url.
 */
credential: Record<string, unknown>, };
export type WebAuthnRenameRequest = {
/**
 * As when registering: 1 to 64 characters once trimmed, no control, invisible or
 * text-direction characters.
 */
name: string, };
export type SetupStatus = {
/**
 * True until an administrator exists; then create one with `enclave admin create-user NAME --admin`.
 */
needs_setup: boolean, };
/**
 * A single sign-on button of the login page.
 */
export type SsoProviderDto = {
/**
 * The provider's id (`/auth/oidc/{id}/start` begins its sign-in).
 */
id: string, label: string, };
/**
 * How people may sign in here.
 */
export type SsoProviders = {
/**
 * Whether the password form is offered (`[auth] local_passwords`). When false, only system
 * administrators may still sign in with a password.
 */
local_passwords: boolean, providers: Array<SsoProviderDto>, };
export type SsoExchangeRequest = {
/**
 * The one-time code from the callback's redirect (`#sso_code=`).
 */
code: string, };
export type SsoStatusQuery = {
/**
 * Read every provider's discovery document now.
 */
refresh?: boolean, };
/**
 * One provider's state on the node that answered.
 */
export type SsoStatusDto = { id: string, label: string, issuer: string,
/**
 * Whether the last read of the discovery document worked (`null`: not read yet).
 */
discovery_ok: boolean | null, last_checked_at: string | null, last_error: string | null, last_sign_in_at: string | null,
/**
 * Accounts linked to this provider.
 */
linked_users: number,
/**
 * Whether the provider publishes an `end_session_endpoint` (sign-out ends its session).
 */
end_session: boolean, };
export type SsoStatusList = { providers: Array<SsoStatusDto>, };
export type CreateUserRequest = {
/**
 * 2 to 32 characters of `a-z 0-9 . _ -` starting with a letter or digit (capitals are
 * lower-cased, surrounding whitespace is trimmed); `here`, `channel`, `all` and `everyone`
 * are reserved.
 */
username: string,
/**
 * 8 to 256 characters. Omit for accounts that only use tokens (bots).
 */
password?: string | null,
/**
 * At most 64 characters once trimmed, without control characters or invisible and
 * text-direction characters (a zero-width joiner inside an emoji is allowed); empty means
 * the username.
 */
display_name?: string | null,
/**
 * An email address: one `@`, no spaces, a dot in the domain; at most 254 characters.
 */
email?: string | null, admin?: boolean, bot?: boolean, };
export type UpdateUserRequest = {
/**
 * As in [`CreateUserRequest`]: at most 64 characters once trimmed; empty means the username.
 */
display_name?: string | null,
/**
 * An email address; an empty string clears it.
 */
email?: string | null,
/**
 * 8 to 256 characters.
 */
password?: string | null,
/**
 * Required when changing one's own password.
 */
current_password?: string | null,
/**
 * `false` deactivates (administrators only) and revokes every session and personal access
 * token of the account; `true` reactivates, with none of them coming back.
 */
active?: boolean | null,
/**
 * Grants or revokes administration (administrators only).
 */
admin?: boolean | null, };
/**
 * A site permission, for the admin console's permission matrix.
 */
export type PermissionDto = {
/**
 * The stable name (`create_public_channels`, ...).
 */
name: string, description: string, };
/**
 * A role: built-in (`system_admin`, `member`, `guest`; fixed grants) or custom (decimal id).
 */
export type RoleDto = { id: string, name: string, description: string,
/**
 * The permission names the role grants.
 */
permissions: Array<string>, builtin: boolean,
/**
 * Holders must sign in with a second factor (custom roles only).
 */
require_second_factor: boolean, };
export type RoleList = {
/**
 * Built-in roles first, then custom roles by id.
 */
roles: Array<RoleDto>,
/**
 * Every permission, in order: the columns of the permission matrix.
 */
permissions: Array<PermissionDto>, };
export type CreateRoleRequest = {
/**
 * 1 to 64 characters once trimmed, without control, invisible or text-direction
 * characters; unique (case-insensitive). A built-in role's id (`member`, `system_admin`,
 * `guest`) is taken: 409.
 */
name: string,
/**
 * At most 500 characters once trimmed; newlines and tabs allowed, no other control
 * characters, nothing invisible or text-direction changing.
 */
description?: string | null,
/**
 * Permission names. Only permissions the caller holds.
 */
permissions: Array<string>,
/**
 * Holders must sign in with a second factor (default false).
 */
require_second_factor?: boolean | null, };
export type UpdateRoleRequest = {
/**
 * As when creating.
 */
name?: string | null,
/**
 * As when creating.
 */
description?: string | null,
/**
 * Replaces the role's permissions (`null` or absent: unchanged).
 */
permissions?: Array<string> | null, require_second_factor?: boolean | null, };
/**
 * The roles an account holds.
 */
export type UserRolesDto = { user: UserDto,
/**
 * Role ids: `system_admin`, `member`, `guest`, or custom roles' decimal ids.
 */
roles: Array<string>, };
export type SetUserRolesRequest = {
/**
 * Role ids: `system_admin`, `member`, custom roles' decimal ids (at least one, at most 22
 * entries and 20 custom roles; not `guest`: guests are made by invitation).
 */
roles: Array<string>, };
export type InviteGuestRequest = {
/**
 * 2 to 32 characters of `a-z 0-9 . _ -` starting with a letter or digit (capitals are
 * lower-cased, surrounding whitespace is trimmed); `here`, `channel`, `all` and `everyone`
 * are reserved.
 */
username: string,
/**
 * 8 to 256 characters. Omit to set it later.
 */
password?: string | null,
/**
 * At most 64 characters once trimmed, without control characters or invisible and
 * text-direction characters (a zero-width joiner inside an emoji is allowed); empty means
 * the username.
 */
display_name?: string | null,
/**
 * An email address: one `@`, no spaces, a dot in the domain; at most 254 characters.
 */
email?: string | null,
/**
 * When the guest's access ends (RFC 3339): in the future and at most `[guests] max_days`
 * (365 by default) away. The document says required; a server whose `[guests]
 * require_expiry` is off also accepts `null`.
 */
expires_at?: string | null,
/**
 * The channels the guest joins (1 to 50; channels the inviter may add people to, not
 * direct conversations).
 */
channel_ids: Array<WireId>, };
export type UserListQuery = {
/**
 * Substring of username or display name, at most 64 characters; blank means every user.
 */
q?: string,
/**
 * Continue after this username.
 */
after?: string,
/**
 * Users per page.
 */
limit?: number,
/**
 * Include deactivated accounts (administrators only; ignored for others).
 */
include_inactive?: boolean, };
export type UserList = { users: Array<UserDto>, };
export type CreateBotRequest = {
/**
 * As a user's username: 2 to 32 characters of `a-z 0-9 . _ -`.
 */
username: string,
/**
 * At most 64 characters; empty means the username.
 */
display_name?: string | null, };
/**
 * A bot and a token for it: the token is shown here once and never again.
 */
export type BotWithToken = { bot: UserDto,
/**
 * Send as `Authorization: Bearer <token>`.
 */
token: string, };
export type BotList = { bots: Array<UserDto>, };
export type CreateWebhookRequest = {
/**
 * 1 to 64 characters once trimmed, no control characters: what the webhook is for
 * ("CI", "监控").
 */
name: string, };
export type WebhookDto = { id: string, channel_id: string,
/**
 * Messages are posted as this account.
 */
creator_id: string, name: string, created_at: string, rotated_at?: string, };
/**
 * A webhook and its secret path (`/hooks/<secret>`, after the server's address): shown once.
 */
export type WebhookWithUrl = { webhook: WebhookDto, path: string, };
export type WebhookList = { webhooks: Array<WebhookDto>, };

// Outgoing webhooks (docs/api/integrations.md)
/**
 * How an outgoing webhook's body is encoded.
 */
export type OutgoingContentType = "form" | "json";
export type CreateOutgoingWebhookRequest = {
/**
 * The channel whose messages call the webhook (one the caller may post in).
 */
channel_id: string,
/**
 * 1 to 64 characters once trimmed, no control characters.
 */
name: string,
/**
 * The receiver: an `http` or `https` URL of at most 2,000 characters. Requests go through
 * the outbound allow-list (`[outbound] allow`); a host not on it is refused at delivery and
 * the refusal is logged.
 */
url: string,
/**
 * At most 10 words (each 1 to 64 characters, no white space): a message whose first word is
 * one of them (ignoring case) calls the webhook. None or empty: every message.
 */
trigger_words?: Array<string>,
/**
 * `form` (the default, as Slack) or `json`.
 */
content_type?: OutgoingContentType, };
export type OutgoingWebhookDto = { id: string, channel_id: string,
/**
 * Its owner: replies are posted as this account.
 */
creator_id: string, name: string, url: string, trigger_words: Array<string>, content_type: OutgoingContentType, created_at: string, rotated_at?: string, };
/**
 * A webhook with the `token` it sends and the secret its requests are signed with (Slack's
 * `X-Slack-Signature`): shown once.
 */
export type OutgoingWebhookWithSecret = { webhook: OutgoingWebhookDto, token: string, signing_secret: string, };
export type OutgoingWebhookList = { webhooks: Array<OutgoingWebhookDto>, };
/**
 * A delivery's state.
 */
export type DeliveryStatusDto = "pending" | "delivered" | "failed" | "refused";
/**
 * One entry of the delivery log: a message that called the webhook and how its attempts went.
 */
export type DeliveryDto = { id: string, message_id: string, status: DeliveryStatusDto, attempts: number,
/**
 * The last answer's HTTP status.
 */
http_status?: number,
/**
 * Why the last attempt failed (or why a reply was not posted).
 */
error?: string, created_at: string, updated_at: string, next_attempt_at?: string, };
/**
 * The newest deliveries first (the log keeps the newest 100 finished ones and every pending one).
 */
export type DeliveryList = { deliveries: Array<DeliveryDto>, };

// Slash commands (docs/api/integrations.md)
/**
 * A line typed in a conversation's composer.
 */
export type RunCommandRequest = {
/**
 * The whole line, `/name arguments` (1 to 16,000 characters). `//text` posts `/text`; a
 * first word holding another `/` (`/usr/bin`) is posted as it is.
 */
text: string,
/**
 * The thread it was typed in.
 */
thread_root_id?: WireId | null, };
/**
 * What a command did. `result` names it; the fields that go with it are present, the others
 * absent. `text` is an English line for the caller only (clients may show their own).
 */
export type CommandResultDto = {
/**
 * `posted`, `joined`, `left`, `invited`, `removed`, `topic` (shown), `topic_set`,
 * `purpose`, `purpose_set`, `opened`, `status`, `dnd`, `help` or `custom`.
 */
result: string,
/**
 * `ephemeral` (for the caller only), `in_channel` (posted), or `none`.
 */
response_type: string, text: string, message?: MessageDto, channel?: ChannelDto, user?: UserDto,
/**
 * `invited`: those added; `removed`: those removed.
 */
users?: Array<UserDto>,
/**
 * `invited`: those who were members already.
 */
already?: Array<UserDto>,
/**
 * `status`: the status now (empty: cleared).
 */
status_text?: string,
/**
 * `dnd`: do-not-disturb now.
 */
dnd?: boolean,
/**
 * `help`: every command.
 */
commands?: Array<CommandSpecDto>, };
/**
 * A command as autocomplete shows it.
 */
export type CommandSpecDto = {
/**
 * Typed after `/`.
 */
name: string,
/**
 * What follows the name (`[]` optional).
 */
usage: string, description: string,
/**
 * A built-in (the web client shows its own translation of the description).
 */
builtin: boolean, };
export type CommandList = { commands: Array<CommandSpecDto>, };
/**
 * Makes a custom command.
 */
export type CreateCommandRequest = {
/**
 * 1 to 32 of `a-z 0-9 _ -` (a leading `/` is dropped, upper case is lowered); not a
 * built-in's name.
 */
trigger: string,
/**
 * Where the request goes: an `http` or `https` URL of at most 2,000 characters, through
 * the outbound allow-list.
 */
url: string,
/**
 * At most 120 characters, no control characters.
 */
description?: string | null,
/**
 * What follows the trigger, at most 60 characters (`[city]`).
 */
usage_hint?: string | null, };
export type CustomCommandDto = { id: string, trigger: string, description: string, usage_hint: string, url: string, creator_id: string, created_at: string, rotated_at?: string, };
/**
 * A custom command with its `token` (sent in every request) and signing secret (Slack's
 * `v0` signature): shown once.
 */
export type CustomCommandWithSecretDto = { command: CustomCommandDto, token: string, signing_secret: string, };
export type CustomCommandList = { commands: Array<CustomCommandDto>, };

// Users and auth: tokens
export type TokenDto = { id: string,
/**
 * `session` or `pat`.
 */
kind: string, name: string,
/**
 * `session` for sessions; `read`, `write` or `admin` for personal access tokens.
 */
scope: 'session' | 'read' | 'write' | 'admin', created_at: string, last_used_at: string | null, expires_at: string | null,
/**
 * Whether this is the credential the listing request used.
 */
current: boolean, };
export type TokenList = { tokens: Array<TokenDto>, };
export type CreateTokenRequest = {
/**
 * 1 to 64 characters once trimmed, without control characters.
 */
name: string,
/**
 * What the token may do: `read` (nothing that changes state), `write` (normal user
 * actions) or `admin` (also site administration, as far as the account's roles allow).
 */
scope: 'read' | 'write' | 'admin',
/**
 * Days until the token expires: required, 1 to the server's `[auth] token_max_days`
 * (365 by default).
 */
expires_in_days: number, };
export type CreatedToken = {
/**
 * The secret, shown only this once.
 */
token: string, id: string,
/**
 * `session` or `pat`.
 */
kind: string, name: string,
/**
 * `session` for sessions; `read`, `write` or `admin` for personal access tokens.
 */
scope: 'session' | 'read' | 'write' | 'admin', created_at: string, last_used_at: string | null, expires_at: string | null,
/**
 * Whether this is the credential the listing request used.
 */
current: boolean, };
/**
 * A signed-in device.
 */
export type SessionDto = { id: string,
/**
 * The device, read from the browser's or client's `User-Agent` ("Chrome on Windows").
 */
device: string,
/**
 * The client the sign-in named ("Enclave web"); may be empty.
 */
client: string,
/**
 * The address the sign-in came from.
 */
ip: string | null, created_at: string,
/**
 * When the session was last used (updated at most once a minute).
 */
last_seen_at: string | null,
/**
 * When the session ends at the latest (its absolute lifetime).
 */
expires_at: string | null,
/**
 * Whether this is the session the listing request used.
 */
current: boolean, };
export type SessionList = { sessions: Array<SessionDto>, };
/**
 * How many sessions ended.
 */
export type EndedSessions = { ended: number, };
/**
 * An app password, as listed (never the secret).
 */
export type AppPasswordDto = { id: string, name: string,
/**
 * The password's first four characters, to tell them apart.
 */
hint: string, created_at: string, last_used_at: string | null, };
export type AppPasswordList = { app_passwords: Array<AppPasswordDto>, };
export type CreateAppPasswordRequest = {
/**
 * 1 to 64 characters once trimmed, without control characters (what the password is for:
 * "Phone XMPP client").
 */
name: string, };
export type CreatedAppPassword = {
/**
 * The password, shown only this once: 24 letters and digits in groups of four. Use it
 * with the username in clients that cannot do single sign-on, or as HTTP Basic
 * credentials on the API.
 */
password: string, id: string, name: string,
/**
 * The password's first four characters, to tell them apart.
 */
hint: string, created_at: string, last_used_at: string | null, };
/**
 * A user's presence as others see it.
 */
export type PresenceDto = { user_id: string,
/**
 * `online`, `away` or `offline`.
 */
presence: 'online' | 'away' | 'offline', status_text: string, dnd: boolean, };
export type PresenceList = { presence: Array<PresenceDto>, };

// Channels
export type ChannelDto = { id: string,
/**
 * `null` for direct conversations.
 */
name: string | null,
/**
 * `public`, `private`, `dm` or `group_dm`.
 */
kind: ChannelKind, topic: string, purpose: string, creator_id: string | null, n_members: number,
/**
 * Sequence number of the newest message.
 */
last_seq: number, archived: boolean, archived_at: string | null, created_at: string, updated_at: string,
/**
 * An announcement channel: only channel admins and holders of the permission
 * `post_in_announcement_channels` post; everyone else reads and reacts.
 */
announcement: boolean,
/**
 * The viewer's role; absent when not a member.
 */
role?: string, last_read_seq?: number, unread_count?: number, mention_count?: number,
/**
 * For direct conversations: the other participants.
 */
dm_user_ids?: Array<string>, };
export type ChannelList = { channels: Array<ChannelDto>, };
export type CreateChannelRequest = {
/**
 * 1 to 64 characters once trimmed, in any script, without control characters or invisible
 * and text-direction characters, not starting with `#` or `@`.
 */
name: string, kind: 'public' | 'private',
/**
 * At most 250 characters once trimmed; newlines and tabs allowed, other control characters
 * and invisible or text-direction characters not.
 */
topic?: string | null,
/**
 * At most 250 characters once trimmed; newlines and tabs allowed, other control characters
 * and invisible or text-direction characters not.
 */
purpose?: string | null,
/**
 * An announcement channel (default `false`).
 */
announcement?: boolean | null, };
export type UpdateChannelRequest = {
/**
 * 1 to 64 characters once trimmed, in any script, without control characters or invisible
 * and text-direction characters, not starting with `#` or `@`.
 */
name?: string | null,
/**
 * At most 250 characters once trimmed; newlines and tabs allowed, other control characters
 * and invisible or text-direction characters not.
 */
topic?: string | null,
/**
 * At most 250 characters once trimmed; newlines and tabs allowed, other control characters
 * and invisible or text-direction characters not.
 */
purpose?: string | null,
/**
 * `true` archives, `false` unarchives.
 */
archived?: boolean | null,
/**
 * `true` makes it an announcement channel, `false` an ordinary one (channel admins).
 */
announcement?: boolean | null, };
export type BrowseQueryParams = {
/**
 * Substring of name or topic, at most 64 characters; blank means every channel.
 */
q?: string,
/**
 * Continue after this channel id (a decimal id).
 */
after?: string,
/**
 * Channels per page.
 */
limit?: number,
/**
 * Include archived channels.
 */
include_archived?: boolean, };
export type OpenDmRequest = {
/**
 * The other participants (0 for notes to self, 1 for a direct message, 2 to 7 for a group).
 */
user_ids: Array<WireId>, };
export type MembershipDto = { channel_id: string, user_id: string,
/**
 * `owner`, `admin` or `member`.
 */
role: string, last_read_seq: number, joined_at: string, };
export type MemberDto = { user: UserDto, role: string, joined_at: string, };
export type MemberList = { members: Array<MemberDto>, };
export type MemberListQuery = {
/**
 * Continue after this user id (a decimal id).
 */
after?: string,
/**
 * Members per page.
 */
limit?: number, };
export type AddMemberRequest = { user_id: WireId, };
export type UpdateMemberRequest = { role: string, };
export type MarkReadRequest = {
/**
 * Everything up to and including this sequence number counts as read (0 marks the whole
 * channel unread).
 */
seq: number, };

// Messages and files
export type ReactionDto = { emoji: string, count: number, user_ids: Array<string>, };
export type MentionsDto = { user_ids: Array<string>,
/**
 * `@channel`, `@all` or `@everyone`.
 */
channel: boolean, here: boolean, };
export type MessageDto = { id: string, channel_id: string,
/**
 * Position in the channel: 1, 2, 3... with no gaps.
 */
seq: number, user_id: string,
/**
 * Markdown source; empty when deleted.
 */
text: string, thread_root_id: string | null, client_msg_id: string | null, created_at: string, edited_at: string | null, deleted: boolean, deleted_at: string | null, reply_count: number, last_reply_at: string | null, pinned: boolean, pinned_at: string | null, pinned_by: string | null, reactions: Array<ReactionDto>, mentions: MentionsDto,
/**
 * Attached files (empty once the message is deleted).
 */
files: Array<FileDto>,
/**
 * A notice about the conversation itself (clients render it in their own language):
 * `topic`, `purpose` or `renamed`, `text` the new value. Absent for what people wrote.
 */
notice?: NoticeKind, };
/**
 * A thumbnail of an image file, served at `GET /api/v1/files/{id}/thumbnail`.
 */
export type ThumbnailDto = { width: number, height: number, content_type: string, };
/**
 * An uploaded file. Its content is at `GET /api/v1/files/{id}`.
 */
export type FileDto = { id: string, name: string,
/**
 * Bytes.
 */
size: number,
/**
 * Sniffed from the content, not taken from the uploader.
 */
content_type: string,
/**
 * Pixel size, for images.
 */
width: number | null, height: number | null, thumbnail: ThumbnailDto | null,
/**
 * The first lines, for text files.
 */
preview: string | null, uploader_id: string, created_at: string, };
export type UploadQuery = {
/**
 * The file's name, shown to readers and offered on download (paths are stripped): it must
 * hold a character that is neither whitespace nor a control character.
 */
name?: string, };
export type DownloadQuery = {
/**
 * `true` to always download (`Content-Disposition: attachment`), even for images.
 */
download?: boolean, };
export type MessageList = {
/**
 * In ascending `seq` order.
 */
messages: Array<MessageDto>, };
export type PostMessageRequest = {
/**
 * Markdown, 1 to 16,000 characters, not blank (it may be empty when `file_ids` are given);
 * no control characters but newlines and tabs. (Trailing whitespace is removed before the
 * length is counted.)
 */
text: string,
/**
 * Chosen by the client (1 to 64 printable ASCII characters); a retry with the same id
 * returns the first message instead of posting twice.
 */
client_msg_id?: string | null,
/**
 * Makes this message a reply in that message's thread.
 */
thread_root_id?: WireId | null,
/**
 * Files uploaded by the poster (`POST /api/v1/files`) to attach; at most 10, each once.
 * With files, `text` may be empty.
 */
file_ids?: Array<WireId>, };
export type EditMessageRequest = {
/**
 * Markdown, 1 to 16,000 characters, not blank; no control characters but newlines and
 * tabs. (Trailing whitespace is removed before the length is counted.)
 */
text: string, };
export type HistoryQuery = {
/**
 * Messages before this sequence number (give at most one of `before`, `after`, `around`).
 */
before?: number,
/**
 * Messages after this sequence number.
 */
after?: number,
/**
 * Messages around this sequence number, itself included.
 */
around?: number,
/**
 * Messages per page.
 */
limit?: number,
/**
 * Include thread replies in the channel's history.
 */
include_replies?: boolean, };
export type ThreadQuery = {
/**
 * Replies after this sequence number.
 */
after?: number,
/**
 * Replies per page.
 */
limit?: number, };
export type Health = { status: string, };

// Search
export type SearchQueryParams = {
/**
 * The query (docs/api/search.md): words, `"phrases"`, `word*` prefixes, and the filters
 * `from:@user`, `in:#channel`, `before:YYYY-MM-DD`, `after:YYYY-MM-DD` and `has:file`, each
 * at most once; at most 16 words or phrases. It must hold a word or a filter (a query of
 * punctuation only finds nothing and is refused), and no control characters. A query the
 * language refuses answers 400 `invalid_field` with `field: "q"`.
 */
q?: string,
/**
 * Results per page.
 */
limit?: number,
/**
 * Results to skip.
 */
offset?: number, };
/**
 * A piece of a snippet. Render `text` as plain text; `hit` marks what matched.
 */
export type SnippetSegment = { text: string, hit: boolean, };
/**
 * The channel a result is in.
 */
export type SearchChannel = { id: string,
/**
 * `null` for direct conversations.
 */
name: string | null,
/**
 * `public`, `private`, `dm` or `group_dm`.
 */
kind: ChannelKind, };
export type SearchResult = { message: MessageDto, channel: SearchChannel,
/**
 * Up to about 160 characters of the text around the first hit, in order; `…` marks a cut.
 */
snippet: Array<SnippetSegment>, };
export type SearchResults = {
/**
 * Best match first (newest first when the query has only filters).
 */
results: Array<SearchResult>,
/**
 * The `offset` of the next page; `null` when there is none.
 */
next_offset: number | null, };
export type ChannelSearchParams = {
/**
 * Part of the channel name: 1 to 64 characters once surrounding whitespace is trimmed.
 */
q?: string,
/**
 * Results.
 */
limit?: number, };
export type ChannelMatch = { channel: ChannelDto,
/**
 * Whether the viewer is a member (otherwise it is a public channel they may join).
 */
member: boolean, };
export type ChannelMatches = { channels: Array<ChannelMatch>, };

// Departments and the directory (docs/admin/departments.md)
/**
 * A channel whose members follow a department.
 */
export type DepartmentChannelDto = { channel_id: string,
/**
 * Whether the people of sub-departments are members too.
 */
include_subdepartments: boolean, };
/**
 * A department of the tree.
 */
export type DepartmentDto = { id: string,
/**
 * `null` for a root.
 */
parent_id: string | null, name: string,
/**
 * Order among siblings (smaller first, then by id).
 */
position: number,
/**
 * Department administrators (their powers end at this subtree).
 */
admins: Array<string>,
/**
 * Active people directly in this department.
 */
member_count: number, channels: Array<DepartmentChannelDto>, };
/**
 * The whole department tree, as a flat list (parents before or after children; build the tree
 * from `parent_id`), ordered by parent, position and id.
 */
export type DepartmentTree = { departments: Array<DepartmentDto>, };
export type CreateDepartmentRequest = {
/**
 * The parent; absent or `null` for a root.
 */
parent_id?: WireId | null,
/**
 * 1 to 64 characters once trimmed, no `/`, no control, invisible or text-direction
 * characters; unique among siblings.
 */
name: string,
/**
 * Order among siblings, -1,000,000 to 1,000,000 (default 0).
 */
position?: number | null, };
export type UpdateDepartmentRequest = {
/**
 * As when creating: 1 to 64 characters once trimmed, no `/`.
 */
name?: string,
/**
 * A new parent (moving the department with its people and sub-departments); `null` makes
 * it a root.
 */
parent_id?: string | null,
/**
 * Order among siblings, -1,000,000 to 1,000,000.
 */
position?: number,
/**
 * Replaces the department administrators (at most 20).
 */
admins?: Array<WireId>, };
export type SetDepartmentMemberRequest = {
/**
 * The person's title in this department: at most 64 characters once trimmed, without
 * control, invisible or text-direction characters; may be empty.
 */
title?: string | null,
/**
 * Whether the person heads the department.
 */
is_head?: boolean | null, };
export type LinkChannelRequest = {
/**
 * Whether the people of sub-departments are members too (default false).
 */
include_subdepartments?: boolean | null, };
export type SetManagerRequest = {
/**
 * The explicit manager; `null` clears it (the nearest head of the person's departments
 * is then their manager).
 */
manager_id?: WireId | null, };
/**
 * A person in a department.
 */
export type DepartmentMemberDto = { user: UserDto, title: string, is_head: boolean, };
export type DepartmentMemberList = { members: Array<DepartmentMemberDto>, };
/**
 * A placement, as a person put in a department gets it back.
 */
export type PlacementDto = { department_id: string, user_id: string, title: string, is_head: boolean, };
export type DirectoryQuery = {
/**
 * A name in any script, full pinyin (`zhangwei`) or its initials (`zw`); at most 64
 * characters.
 */
q?: string,
/**
 * People to return.
 */
limit?: number, };
export type PeopleList = { users: Array<UserDto>, };
/**
 * One department on a person's card.
 */
export type CardDepartmentDto = { department_id: string,
/**
 * Names from the root down.
 */
path: Array<string>, title: string, is_head: boolean, };
/**
 * A person's card in the directory.
 */
export type CardDto = {
/**
 * With `email` as contact.
 */
user: UserDto, departments: Array<CardDepartmentDto>,
/**
 * The explicit manager, or the nearest head of the person's departments.
 */
manager: UserDto | null, };

// Real time: WebSocket frames and the HTTP catch-up (docs/api/realtime.md)
/**
 * A durable event: its kind, its position, and the objects it concerns in their REST shapes.
 * Channel events carry nothing per member, so every member gets the same bytes.
 */
export type EventFrame = {
/**
 * `noun.verb`.
 */
type: EventKind, position: number, } & ({ message: MessageDto, } | { message: MessageDto, emoji: string, user_id: string, } | { channel: ChannelDto, } | { channel_id: string, user_id: string, channel: ChannelDto, membership?: MembershipDto, } | { channel_id: string, seq: number, } | { user: UserDto, } | { channel_id: string, thread_root_id?: string, text: string, } | { channel_id?: string, message_id?: string, user_id?: string, });
/**
 * What an event frame carries besides its kind and position; which one follows from the kind
 * (the table in `docs/api/realtime.md`), or is `Gone`.
 */
export type EventBody = { message: MessageDto, } | { message: MessageDto, emoji: string, user_id: string, } | { channel: ChannelDto, } | { channel_id: string, user_id: string, channel: ChannelDto, membership?: MembershipDto, } | { channel_id: string, seq: number, } | { user: UserDto, } | { channel_id: string, thread_root_id?: string, text: string, } | { channel_id?: string, message_id?: string, user_id?: string, };
/**
 * Every frame the server sends without a position: not stored, not replayed.
 */
export type EphemeralFrame = { "type": "hello",
/**
 * The end of the log, or the client's `since`: events after it follow.
 */
position: number, user_id: string, session_id: string, heartbeat_secs: number, } | { "type": "typing", channel_id: string, user_id: string, thread_root_id: string | null, } | { "type": "presence" } & PresenceDto | { "type": "ack", client_msg_id: string | null, message_id: string, channel_id: string, seq: number, created: boolean, } | { "type": "error", code: ErrorCode, message: string,
/**
 * The offending field, for `invalid_field`.
 */
field?: string,
/**
 * The refused `send`'s client id.
 */
client_msg_id?: string,
/**
 * For `rate_limited`: whole seconds to wait before trying again (the REST answer's
 * `Retry-After`).
 */
retry_after_secs?: number, } | { "type": "pong", ref: unknown, };
/**
 * Any frame the server sends.
 */
export type ServerFrame = EventFrame | EphemeralFrame;
/**
 * Frames a client may send.
 */
export type ClientFrame = { "type": "send", channel_id: WireId, text: string, client_msg_id?: string | null, thread_root_id?: WireId | null,
/**
 * The sender's own uploads to attach, as in the REST post.
 */
file_ids?: Array<WireId>, } | { "type": "typing", channel_id: WireId, thread_root_id?: WireId | null, } | { "type": "presence.subscribe", user_ids: Array<WireId>, } | { "type": "presence.set", status_text?: string | null, dnd?: boolean | null, } | { "type": "activity", } | { "type": "ping", ref?: unknown, };
/**
 * Events after a position, as a list.
 */
export type EventList = {
/**
 * Event frames, as on the socket.
 */
events: Array<EventFrame>,
/**
 * The position to pass as `since` next time.
 */
position: number,
/**
 * More events are waiting after `position`.
 */
has_more: boolean, };

// Administration: sign-in throttles (docs/admin/lockout.md)
/**
 * One throttled (account, address) pair.
 */
export type LockoutDto = {
/**
 * The credential step: `password` or `second_factor`.
 */
step: string,
/**
 * The account key: the login as typed (trimmed, lower case; it may name no account) for
 * passwords, the account's id for a second factor.
 */
account: string,
/**
 * The client address, or IPv6 /64 network (`2001:db8:1:2::/64`).
 */
source: string,
/**
 * Failures since the last success (within the failure memory).
 */
failures: number, last_failure_at: string,
/**
 * Whether the account signed in from this address before (then only this pair's own
 * failures can delay it).
 */
known_source: boolean,
/**
 * When the next attempt of this account from this address is allowed, if it must wait.
 */
delayed_until: string | null,
/**
 * What makes it wait: `pair` (this account from this address), `account` (this account
 * from every address) or `source` (this address on every account).
 */
delayed_by: string | null, };
export type LockoutList = { lockouts: Array<LockoutDto>, };
export type LockoutQuery = {
/**
 * Only this account key (a login: 1 to 254 characters once trimmed, without control
 * characters; compared lower-cased).
 */
account?: string,
/**
 * Entries to list.
 */
limit?: number, };
export type LockoutsCleared = {
/**
 * How many (account, address) pairs had failures that were cleared.
 */
cleared: number, };

// Administration: identity providers and the directory sync (docs/admin/ldap.md)
/**
 * One account a sync changed (or, in a dry run, would change).
 */
export type SyncChangeDto = { username: string,
/**
 * `create`, `link`, `update`, `deactivate` or `reactivate`.
 */
action: string,
/**
 * What changed, one line each.
 */
details: Array<string>, };
/**
 * The final report of a sync run.
 */
export type SyncReportDto = {
/**
 * Users the directory returned.
 */
found: number, created: number, linked: number, updated: number, deactivated: number, reactivated: number, unchanged: number,
/**
 * Per-account changes (at most 1,000 listed; the counts cover all).
 */
changes: Array<SyncChangeDto>,
/**
 * Entries that could not be handled, and why.
 */
problems: Array<string>,
/**
 * Why the run changed nothing (the safety checks), when it was refused.
 */
refused: string | null, };
/**
 * One sync run: its progress while it runs, its report when done.
 */
export type SyncRunDto = { id: string, dry_run: boolean,
/**
 * `schedule`, `cli` or `api`.
 */
trigger: string,
/**
 * `running`, `done`, `failed` or `refused` (the safety checks changed nothing).
 */
status: string, started_at: string, finished_at: string | null,
/**
 * Entries handled so far, of `total`.
 */
done: number, total: number | null, report: SyncReportDto | null,
/**
 * Why the run failed or was refused.
 */
error: string, };
/**
 * An identity provider and the state of its directory sync.
 */
export type IdentityProviderDto = { id: string, name: string,
/**
 * `ldap`.
 */
kind: string, url: string,
/**
 * Minutes between scheduled syncs; `null`: none.
 */
sync_interval_minutes: number | null,
/**
 * Accounts linked to the provider.
 */
linked_accounts: number,
/**
 * Whether a sync is running (on the node that answered).
 */
running: boolean,
/**
 * The newest runs, newest first (at most 10).
 */
runs: Array<SyncRunDto>, };
export type IdentityProviderList = { providers: Array<IdentityProviderDto>, };
/**
 * Start a directory sync.
 */
export type SyncRequest = {
/**
 * Report what would change and change nothing.
 */
dry_run?: boolean | null, };
/**
 * A started sync: follow it in `GET /api/v1/admin/identity-providers`.
 */
export type SyncStarted = { run_id: string, };

// Administration: backups (docs/admin/backup.md)
/**
 * `[backup]`: where and how often the server takes backups.
 */
export type BackupScheduleDto = {
/**
 * The folder backups are written into (on the server).
 */
to: string,
/**
 * Seconds between two scheduled backups.
 */
interval_secs: number,
/**
 * How many backups are kept in the folder.
 */
keep: number, };
/**
 * The last run of the `backup` job on the node that answered.
 */
export type BackupRunDto = { started_at: string,
/**
 * How long it took; `null` while it runs.
 */
took_ms: number | null,
/**
 * `running`, `ok` or `failed`.
 */
status: string,
/**
 * The report (`backup … written in 2.1 s: …`) or the error, as logged.
 */
message: string,
/**
 * Rows backed up.
 */
rows: number, };
/**
 * One complete backup in the folder, from its manifest.
 */
export type BackupDto = {
/**
 * The folder's name (`enclave-backup-20261203T140000Z`).
 */
name: string,
/**
 * When the snapshot was taken.
 */
created_at: string,
/**
 * The Enclave version that wrote it.
 */
enclave_version: string,
/**
 * `sqlite` or `postgres`.
 */
backend: string,
/**
 * Bytes of its parts (tables, file objects, key).
 */
bytes: number, tables: number, rows: number,
/**
 * File objects (uploads and thumbnails).
 */
objects: number,
/**
 * Objects deleted between the snapshot and their copy.
 */
missing_objects: number,
/**
 * Whether the file master key is in it (under a passphrase).
 */
with_key: boolean,
/**
 * Why its manifest could not be read (the counts are then 0).
 */
problem: string | null, };
/**
 * The backups: schedule, last run and the backups present.
 */
export type BackupsDto = {
/**
 * `null` when scheduled backups are off (`[backup] to` is empty).
 */
schedule: BackupScheduleDto | null,
/**
 * Whether a backup runs now (on the node that answered).
 */
running: boolean,
/**
 * Runs since this node started.
 */
runs: number, last_run: BackupRunDto | null,
/**
 * The backups in the folder, newest first (at most 200).
 */
backups: Array<BackupDto>,
/**
 * Why the folder could not be listed.
 */
folder_problem: string | null, };

// Administration: retention and legal holds (docs/admin/retention.md)
/**
 * A channel's own policy.
 */
export type ChannelRetentionDto = { channel_id: string,
/**
 * `null` for a channel without a name.
 */
name: string | null,
/**
 * `public` or `private` (direct conversations take no policy of their own).
 */
kind: string,
/**
 * Days messages are kept; `null`: kept forever.
 */
days: number | null, updated_at: string, updated_by: string | null, };
/**
 * What the purge removed from (or kept under a hold in) one channel.
 */
export type ChannelPurgeDto = { channel_id: string, name: string | null,
/**
 * `public`, `private`, `dm` or `group_dm`; `null` when the channel is gone.
 */
kind: string | null, messages: number, files: number,
/**
 * Messages past the policy kept because a legal hold covers them.
 */
held: number, };
/**
 * One run of the `retention` job.
 */
export type RetentionRunDto = { started_at: string, finished_at: string,
/**
 * Who started it (`null`: the schedule).
 */
started_by: string | null, messages: number, files: number, held: number,
/**
 * Channels where something was removed or held, most removed first.
 */
channels: Array<ChannelPurgeDto>, };
/**
 * Retention as the admin console shows it.
 */
export type RetentionDto = {
/**
 * Days messages of public and private channels are kept; `null`: forever.
 */
message_days: number | null,
/**
 * Days messages of direct conversations and group direct messages are kept; `null`: forever.
 */
dm_days: number | null,
/**
 * `api` when set here, `config` while the `[retention]` configuration applies.
 */
policy_source: string,
/**
 * Whether the job runs on its schedule (`[retention] enabled`).
 */
schedule_enabled: boolean, interval_secs: number,
/**
 * Channels with a policy of their own.
 */
channels: Array<ChannelRetentionDto>,
/**
 * Whether a purge runs now (on the node that answered).
 */
running: boolean, last_run: RetentionRunDto | null, };
/**
 * The global policy (both keys are required; `null` keeps forever).
 */
export type RetentionPolicyRequest = {
/**
 * Days (1 to 36500) messages of public and private channels are kept; `null`: forever.
 */
message_days: number | null,
/**
 * Days (1 to 36500) messages of direct conversations are kept; `null`: forever.
 */
dm_days: number | null, };
/**
 * A channel's own policy (`days` is required; `null` keeps forever).
 */
export type ChannelRetentionRequest = {
/**
 * Days (1 to 36500) its messages are kept; `null`: forever.
 */
days: number | null, };
/**
 * Whether "Run now" started a purge.
 */
export type RetentionRunStarted = {
/**
 * `false` when one runs already.
 */
started: boolean, };
/**
 * A legal hold.
 */
export type LegalHoldDto = { id: string,
/**
 * The person held (every message they wrote), or `null`.
 */
user_id: string | null,
/**
 * The channel held (every message in it), or `null`.
 */
channel_id: string | null,
/**
 * Messages created at or after this time are held.
 */
starts_at: string,
/**
 * Messages created before this time are held; `null`: no end.
 */
ends_at: string | null, reason: string, created_by: string, created_at: string,
/**
 * `null` while the hold is in force.
 */
released_at: string | null, released_by: string | null, };
/**
 * The legal holds, newest first.
 */
export type LegalHoldList = { holds: Array<LegalHoldDto>, };
/**
 * A legal hold to place: exactly one of `user_id` and `channel_id`.
 */
export type CreateHoldRequest = { user_id?: WireId | null, channel_id?: WireId | null,
/**
 * RFC 3339: messages created at or after it are held.
 */
starts_at: string,
/**
 * RFC 3339, after `starts_at`: messages created before it are held; `null`: no end.
 */
ends_at?: string | null,
/**
 * 1 to 1000 characters (a case, a request), no control characters but line breaks.
 */
reason: string, };

// Administration: the audit log
/**
 * Filters of the audit log. Every filter is optional; entries must match all given.
 */
export type AuditQueryParams = {
/**
 * The acting user's id.
 */
actor?: string,
/**
 * An action name (`sign_in`, `role_changed`, ...).
 */
action?: string,
/**
 * A target kind (`user`, `channel`, `message`, `token`, ...).
 */
target_kind?: string,
/**
 * A target id (with or without `target_kind`).
 */
target_id?: string,
/**
 * Entries at or after this time (RFC 3339).
 */
since?: string,
/**
 * Entries before this time (RFC 3339).
 */
until?: string,
/**
 * The cursor: entries with a sequence number below this one (`next_before` of a page).
 */
before?: string,
/**
 * 1 to 500, default 50 (the listing only).
 */
limit?: number,
/**
 * `jsonl` (default) or `csv` (the export only).
 */
format?: string, };
/**
 * One audit log entry.
 */
export type AuditEntryDto = {
/**
 * Position in the hash chain (1, 2, 3, ...), as a decimal string.
 */
seq: string, at: string,
/**
 * The acting user's id; absent for failed sign-ins and operator commands.
 */
actor?: string, ip?: string, user_agent?: string, action: string, target_kind?: string, target_id?: string,
/**
 * What changed: `{"field": {"before": ..., "after": ...}, "fact": "value", ...}`.
 */
summary: Record<string, unknown>,
/**
 * SHA-256 of the previous entry (hex).
 */
prev_hash: string,
/**
 * SHA-256 of this entry's canonical bytes and `prev_hash` (hex).
 */
hash: string, };
/**
 * A page of the audit log, newest first.
 */
export type AuditPage = { entries: Array<AuditEntryDto>,
/**
 * Pass as `before` for the next (older) page; absent on the last page.
 */
next_before?: string, };
