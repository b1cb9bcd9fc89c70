//! Wire shapes of the REST API. Ids are decimal strings; times are RFC 3339 UTC strings with
//! millisecond precision. Domain types never reach the wire directly: each has a DTO here.

use enclave_app::realtime::PresenceInfo;
use enclave_core::{
    AppPasswordInfo, Channel, ChannelSummary, FileMeta, Membership, Message, Millis, TokenInfo,
    User,
};
use serde::{Deserialize, Deserializer, Serialize};
use time::format_description::well_known::Rfc3339;
use ts_rs::TS;
use utoipa::{IntoParams, ToSchema};

/// Formats a timestamp as RFC 3339.
pub fn ts(m: Millis) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(m.0) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

pub fn opt_ts(m: Option<Millis>) -> Option<String> {
    m.map(ts)
}

/// An id in a request body: a decimal string (numbers are accepted too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, TS)]
#[ts(type = "string")]
pub struct WireId(pub i64);

/// A decimal id of at most 19 digits that fits a signed 64-bit integer (the wire form of every
/// id; `enclave_core`'s id parsing).
pub const ID_PATTERN: &str = "^([0-9]{1,18}|[0-8][0-9]{18}|9[0-1][0-9]{17}|92[0-1][0-9]{16}|922[0-2][0-9]{15}|9223[0-2][0-9]{14}|92233[0-6][0-9]{13}|922337[0-1][0-9]{12}|92233720[0-2][0-9]{10}|922337203[0-5][0-9]{9}|9223372036[0-7][0-9]{8}|92233720368[0-4][0-9]{7}|922337203685[0-3][0-9]{6}|9223372036854[0-6][0-9]{5}|92233720368547[0-6][0-9]{4}|922337203685477[0-4][0-9]{3}|9223372036854775[0-7][0-9]{2}|922337203685477580[0-6]|9223372036854775807)$";

/// [`ID_PATTERN`] without its anchors, to embed in a larger pattern (`^(member|{ID})$`).
pub fn id_alternatives() -> &'static str {
    ID_PATTERN.trim_start_matches('^').trim_end_matches('$')
}

impl utoipa::PartialSchema for WireId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{
            KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type,
        };
        OneOfBuilder::new()
            .description(Some(
                "An id: a decimal string (or, for convenience, a positive integer)",
            ))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(ID_PATTERN))
                    .examples(["42"]),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                    .minimum(Some(1))
                    .maximum(Some(i64::MAX)),
            )
            .into()
    }
}

impl ToSchema for WireId {}

/// Integers in request bodies. JSON does not tell `3` from `3.0`, and JSON Schema counts both as
/// integers, so the API accepts an integral number written with a fraction or exponent too.
pub mod int {
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Num {
        Int(i64),
        Float(f64),
    }

    /// `f` when it is a whole number in the range of `i64`.
    pub fn whole(f: f64) -> Option<i64> {
        // 2^63 is exact in f64; every whole float below it converts without loss.
        const LIMIT: f64 = 9_223_372_036_854_775_808.0;
        (f.fract() == 0.0 && (-LIMIT..LIMIT).contains(&f)).then_some(f as i64)
    }

    fn value<E: serde::de::Error>(n: Num) -> Result<i64, E> {
        match n {
            Num::Int(i) => Ok(i),
            Num::Float(f) => whole(f).ok_or_else(|| E::custom("expected an integer")),
        }
    }

    /// A required `i64`.
    pub fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let n = Num::deserialize(d).map_err(|_| serde::de::Error::custom("expected an integer"))?;
        value(n)
    }

    /// An optional `i64` (`null` or absent is `None`; use with `#[serde(default)]`).
    pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        let n = Option::<Num>::deserialize(d)
            .map_err(|_| serde::de::Error::custom("expected an integer"))?;
        n.map(value::<D::Error>).transpose()
    }

    /// A required `u32`.
    pub fn u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        let n = Num::deserialize(d).map_err(|_| serde::de::Error::custom("expected an integer"))?;
        let i = value::<D::Error>(n)?;
        u32::try_from(i).map_err(|_| serde::de::Error::custom("out of range"))
    }

    /// An optional `u32` (`null` or absent is `None`; use with `#[serde(default)]`).
    pub fn opt_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        let n = Option::<Num>::deserialize(d)
            .map_err(|_| serde::de::Error::custom("expected an integer"))?;
        n.map(|n| {
            let i = value::<D::Error>(n)?;
            u32::try_from(i).map_err(|_| serde::de::Error::custom("out of range"))
        })
        .transpose()
    }
}

impl<'de> Deserialize<'de> for WireId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Str(String),
            Num(i64),
            Float(f64),
        }
        match Raw::deserialize(d)? {
            Raw::Num(n) if n > 0 => Ok(WireId(n)),
            Raw::Float(f) if int::whole(f).is_some_and(|n| n > 0) => {
                Ok(WireId(int::whole(f).unwrap_or_default()))
            }
            Raw::Str(s)
                if !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit()) =>
            {
                s.parse().map(WireId).map_err(serde::de::Error::custom)
            }
            _ => Err(serde::de::Error::custom(
                "expected an id (a decimal string)",
            )),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Departments and the directory: in `departments_dto.rs`.
pub use crate::backups_dto::*;
pub use crate::commands_dto::*;
pub use crate::departments_dto::*;
pub use crate::ldap_dto::*;
pub use crate::retention_dto::*;

// ---------------------------------------------------------------------------------------------
// Users and auth

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct UserDto {
    pub id: String,
    pub username: String,
    pub display_name: String,
    /// Shown to the user themself and to administrators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub email: Option<String>,
    pub is_admin: bool,
    pub is_bot: bool,
    pub active: bool,
    pub created_at: String,
    /// A guest: sees only the channels they were invited to and their members.
    pub is_guest: bool,
    /// When a guest's access ends (RFC 3339); absent for everyone else.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub guest_expires_at: Option<String>,
}

impl UserDto {
    /// `reveal_email` when the viewer is the user or an administrator.
    pub fn new(u: &User, reveal_email: bool) -> Self {
        UserDto {
            id: u.id.to_string(),
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            email: if reveal_email { u.email.clone() } else { None },
            is_admin: u.is_admin,
            is_bot: u.is_bot,
            active: u.active,
            created_at: ts(u.created_at),
            is_guest: u.is_guest,
            guest_expires_at: opt_ts(u.guest_expires_at.filter(|_| u.is_guest)),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[ts(optional_fields = nullable)]
pub struct LoginRequest {
    /// Username or email address.
    pub login: String,
    pub password: String,
    /// The client signing in ("Enclave web", a script's name), shown in the user's list of
    /// sessions beside the device read from the `User-Agent`; at most 64 characters once
    /// trimmed, without control or invisible characters (as a token's name); may be empty.
    #[serde(default)]
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*([^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]{0,62}[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f])?)?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub client: Option<String>,
    /// Check the password against this LDAP provider (`GET /api/v1/admin/identity-providers`
    /// lists them). Without it, accounts linked to a directory, and unknown logins when one is
    /// configured, are checked by the directory; others by their local password.
    #[serde(default)]
    #[ts(optional)]
    pub provider: Option<String>,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct LoginResponse {
    /// A bearer token; also set as the `enclave_session` HttpOnly cookie.
    pub token: String,
    pub user: UserDto,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct SetupStatus {
    /// True until an administrator exists; then create one with `enclave admin create-user NAME --admin`.
    pub needs_setup: bool,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[ts(optional_fields = nullable)]
pub struct CreateUserRequest {
    /// 2 to 32 characters of `a-z 0-9 . _ -` starting with a letter or digit (capitals are
    /// lower-cased, surrounding whitespace is trimmed); `here`, `channel`, `all` and `everyone`
    /// are reserved.
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[A-Za-z0-9][A-Za-z0-9._-]{1,31}[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub username: String,
    /// 8 to 256 characters. Omit for accounts that only use tokens (bots).
    #[schema(min_length = 8, max_length = 256)]
    pub password: Option<String>,
    /// At most 64 characters once trimmed, without control characters or invisible and
    /// text-direction characters (a zero-width joiner inside an emoji is allowed); empty means
    /// the username.
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*([^\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff]{0,64})[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub display_name: Option<String>,
    /// An email address: one `@`, no spaces, a dot in the domain; at most 254 characters.
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^@\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f]+@[^@.\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f][^@\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f]*\.[^@\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f]*[^@.\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f][\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$",
        max_length = 254
    )]
    pub email: Option<String>,
    #[serde(default)]
    #[ts(as = "Option<_>", optional)]
    pub admin: bool,
    #[serde(default)]
    #[ts(as = "Option<_>", optional)]
    pub bot: bool,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[ts(optional_fields = nullable)]
pub struct UpdateUserRequest {
    /// As in [`CreateUserRequest`]: at most 64 characters once trimmed; empty means the username.
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*([^\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff]{0,64})[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub display_name: Option<String>,
    /// An email address; an empty string clears it.
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*([^@\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f]+@[^@.\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f][^@\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f]*\.[^@\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f]*[^@.\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f])?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$",
        max_length = 254
    )]
    pub email: Option<String>,
    /// 8 to 256 characters.
    #[schema(min_length = 8, max_length = 256)]
    pub password: Option<String>,
    /// Required when changing one's own password.
    pub current_password: Option<String>,
    /// `false` deactivates (administrators only) and revokes every session and personal access
    /// token of the account; `true` reactivates, with none of them coming back.
    pub active: Option<bool>,
    /// Grants or revokes administration (administrators only).
    pub admin: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams, Default, TS)]
#[into_params(parameter_in = Query)]
#[ts(optional_fields)]
pub struct UserListQuery {
    /// Substring of username or display name, at most 64 characters; blank means every user.
    #[param(max_length = 64)]
    pub q: Option<String>,
    /// Continue after this username.
    pub after: Option<String>,
    /// Users per page.
    #[param(minimum = 1, maximum = 200, default = 50)]
    pub limit: Option<u32>,
    /// Include deactivated accounts (administrators only; ignored for others).
    #[serde(default)]
    #[param(default = false)]
    #[ts(as = "Option<_>", optional)]
    pub include_inactive: bool,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct UserList {
    pub users: Vec<UserDto>,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct TokenDto {
    pub id: String,
    /// `session` or `pat`.
    pub kind: String,
    pub name: String,
    /// `session` for sessions; `read`, `write` or `admin` for personal access tokens.
    #[ts(type = "'session' | 'read' | 'write' | 'admin'")]
    pub scope: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub expires_at: Option<String>,
    /// Whether this is the credential the listing request used.
    pub current: bool,
}

impl TokenDto {
    pub fn new(t: &TokenInfo, current: bool) -> Self {
        TokenDto {
            id: t.id.to_string(),
            kind: t.kind.as_str().to_owned(),
            name: t.name.clone(),
            scope: t.scope.as_str().to_owned(),
            created_at: ts(t.created_at),
            last_used_at: opt_ts(t.last_used_at),
            expires_at: opt_ts(t.expires_at),
            current,
        }
    }
}

/// A signed-in device.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct SessionDto {
    pub id: String,
    /// The device, read from the browser's or client's `User-Agent` ("Chrome on Windows").
    pub device: String,
    /// The client the sign-in named ("Enclave web"); may be empty.
    pub client: String,
    /// The address the sign-in came from.
    pub ip: Option<String>,
    pub created_at: String,
    /// When the session was last used (updated at most once a minute).
    pub last_seen_at: Option<String>,
    /// When the session ends at the latest (its absolute lifetime).
    pub expires_at: Option<String>,
    /// Whether this is the session the listing request used.
    pub current: bool,
}

impl SessionDto {
    pub fn new(t: &TokenInfo, current: bool) -> Self {
        SessionDto {
            id: t.id.to_string(),
            device: t.name.clone(),
            client: t.client.clone(),
            ip: t.ip.clone(),
            created_at: ts(t.created_at),
            last_seen_at: opt_ts(t.last_used_at),
            expires_at: opt_ts(t.expires_at),
            current,
        }
    }
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct SessionList {
    pub sessions: Vec<SessionDto>,
}

/// How many sessions ended.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct EndedSessions {
    pub ended: u64,
}

/// An app password, as listed (never the secret).
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct AppPasswordDto {
    pub id: String,
    pub name: String,
    /// The password's first four characters, to tell them apart.
    pub hint: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

impl AppPasswordDto {
    pub fn new(p: &AppPasswordInfo) -> Self {
        AppPasswordDto {
            id: p.id.to_string(),
            name: p.name.clone(),
            hint: p.hint.clone(),
            created_at: ts(p.created_at),
            last_used_at: opt_ts(p.last_used_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct AppPasswordList {
    pub app_passwords: Vec<AppPasswordDto>,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
pub struct CreateAppPasswordRequest {
    /// 1 to 64 characters once trimmed, without control characters (what the password is for:
    /// "Phone XMPP client").
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]{0,62}[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f])?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct CreatedAppPassword {
    /// The password, shown only this once: 24 letters and digits in groups of four. Use it
    /// with the username in clients that cannot do single sign-on, or as HTTP Basic
    /// credentials on the API.
    pub password: String,
    #[serde(flatten)]
    pub info: AppPasswordDto,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct TokenList {
    pub tokens: Vec<TokenDto>,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[ts(optional_fields = nullable)]
pub struct CreateTokenRequest {
    /// 1 to 64 characters once trimmed, without control characters.
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]{0,62}[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f])?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub name: String,
    /// What the token may do: `read` (nothing that changes state), `write` (normal user
    /// actions) or `admin` (also site administration, as far as the account's roles allow).
    #[ts(type = "'read' | 'write' | 'admin'")]
    #[schema(pattern = "^(read|write|admin)$")]
    pub scope: String,
    /// Days until the token expires: required, 1 to the server's `[auth] token_max_days`
    /// (365 by default).
    #[schema(minimum = 1, maximum = 3650)]
    #[serde(deserialize_with = "int::u32")]
    pub expires_in_days: u32,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct CreatedToken {
    /// The secret, shown only this once.
    pub token: String,
    #[serde(flatten)]
    pub info: TokenDto,
}

/// A user's presence as others see it.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct PresenceDto {
    pub user_id: String,
    /// `online`, `away` or `offline`.
    #[ts(type = "'online' | 'away' | 'offline'")]
    pub presence: String,
    pub status_text: String,
    pub dnd: bool,
}

impl PresenceDto {
    pub fn new(p: &PresenceInfo) -> Self {
        PresenceDto {
            user_id: p.user_id.to_string(),
            presence: p.presence.as_str().to_owned(),
            status_text: p.status_text.clone(),
            dnd: p.dnd,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Channels

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct ChannelDto {
    pub id: String,
    /// `null` for direct conversations.
    pub name: Option<String>,
    /// `public`, `private`, `dm` or `group_dm`.
    #[ts(type = "ChannelKind")]
    pub kind: String,
    pub topic: String,
    pub purpose: String,
    pub creator_id: Option<String>,
    pub n_members: i64,
    /// Sequence number of the newest message.
    pub last_seq: i64,
    pub archived: bool,
    pub archived_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// An announcement channel: only channel admins and holders of the permission
    /// `post_in_announcement_channels` post; everyone else reads and reacts.
    pub announcement: bool,
    /// The viewer's role; absent when not a member.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub last_read_seq: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub unread_count: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub mention_count: Option<i64>,
    /// For direct conversations: the other participants.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub dm_user_ids: Option<Vec<String>>,
}

impl ChannelDto {
    pub fn new(c: &Channel) -> Self {
        ChannelDto {
            id: c.id.to_string(),
            name: c.name.clone(),
            kind: c.kind.as_str().to_owned(),
            topic: c.topic.clone(),
            purpose: c.purpose.clone(),
            creator_id: c.creator_id.map(|u| u.to_string()),
            n_members: c.n_members,
            last_seq: c.last_seq,
            archived: c.archived_at.is_some(),
            archived_at: opt_ts(c.archived_at),
            created_at: ts(c.created_at),
            updated_at: ts(c.updated_at),
            announcement: c.announcement,
            role: None,
            last_read_seq: None,
            unread_count: None,
            mention_count: None,
            dm_user_ids: None,
        }
    }

    pub fn summary(s: &ChannelSummary) -> Self {
        ChannelDto {
            role: Some(s.membership.role.as_str().to_owned()),
            last_read_seq: Some(s.membership.last_read_seq),
            unread_count: Some(s.unread_count),
            mention_count: Some(s.mention_count),
            dm_user_ids: s
                .channel
                .kind
                .is_direct()
                .then(|| s.dm_user_ids.iter().map(|u| u.to_string()).collect()),
            ..ChannelDto::new(&s.channel)
        }
    }
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct ChannelList {
    pub channels: Vec<ChannelDto>,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[ts(optional_fields = nullable)]
pub struct CreateChannelRequest {
    /// 1 to 64 characters once trimmed, in any script, without control characters or invisible
    /// and text-direction characters, not starting with `#` or `@`.
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^#@\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff]([^\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff]{0,62}[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff])?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub name: String,
    // `public` or `private` (a plain comment: with a doc comment, utoipa wraps the inline enum
    // in an `allOf` with an object).
    #[ts(type = "'public' | 'private'")]
    #[schema(value_type = ChannelKindInput, inline)]
    pub kind: String,
    /// At most 250 characters once trimmed; newlines and tabs allowed, other control characters
    /// and invisible or text-direction characters not.
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff]{0,250}[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub topic: Option<String>,
    /// At most 250 characters once trimmed; newlines and tabs allowed, other control characters
    /// and invisible or text-direction characters not.
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff]{0,250}[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub purpose: Option<String>,
    /// An announcement channel (default `false`).
    pub announcement: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[ts(optional_fields = nullable)]
pub struct UpdateChannelRequest {
    /// 1 to 64 characters once trimmed, in any script, without control characters or invisible
    /// and text-direction characters, not starting with `#` or `@`.
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^#@\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff]([^\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff]{0,62}[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff])?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub name: Option<String>,
    /// At most 250 characters once trimmed; newlines and tabs allowed, other control characters
    /// and invisible or text-direction characters not.
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff]{0,250}[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub topic: Option<String>,
    /// At most 250 characters once trimmed; newlines and tabs allowed, other control characters
    /// and invisible or text-direction characters not.
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff]{0,250}[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub purpose: Option<String>,
    /// `true` archives, `false` unarchives.
    pub archived: Option<bool>,
    /// `true` makes it an announcement channel, `false` an ordinary one (channel admins).
    pub announcement: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams, Default, TS)]
#[into_params(parameter_in = Query)]
#[ts(optional_fields)]
pub struct BrowseQueryParams {
    /// Substring of name or topic, at most 64 characters; blank means every channel.
    #[param(max_length = 64)]
    pub q: Option<String>,
    /// Continue after this channel id (a decimal id).
    #[param(value_type = Option<i64>, minimum = 0, maximum = 9223372036854775807_i64)]
    pub after: Option<String>,
    /// Channels per page.
    #[param(minimum = 1, maximum = 200, default = 50)]
    pub limit: Option<u32>,
    /// Include archived channels.
    #[serde(default)]
    #[param(default = false)]
    #[ts(as = "Option<_>", optional)]
    pub include_archived: bool,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[ts(optional_fields = nullable)]
pub struct OpenDmRequest {
    /// The other participants (0 for notes to self, 1 for a direct message, 2 to 7 for a group).
    #[schema(max_items = 7)]
    pub user_ids: Vec<WireId>,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct MembershipDto {
    pub channel_id: String,
    pub user_id: String,
    /// `owner`, `admin` or `member`.
    pub role: String,
    pub last_read_seq: i64,
    pub joined_at: String,
}

impl MembershipDto {
    pub fn new(m: &Membership) -> Self {
        MembershipDto {
            channel_id: m.channel_id.to_string(),
            user_id: m.user_id.to_string(),
            role: m.role.as_str().to_owned(),
            last_read_seq: m.last_read_seq,
            joined_at: ts(m.joined_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct MemberDto {
    pub user: UserDto,
    pub role: String,
    pub joined_at: String,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct MemberList {
    pub members: Vec<MemberDto>,
}

#[derive(Debug, Deserialize, IntoParams, Default, TS)]
#[into_params(parameter_in = Query)]
#[ts(optional_fields)]
pub struct MemberListQuery {
    /// Continue after this user id (a decimal id).
    #[param(value_type = Option<i64>, minimum = 0, maximum = 9223372036854775807_i64)]
    pub after: Option<String>,
    /// Members per page.
    #[param(minimum = 1, maximum = 1000, default = 200)]
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[ts(optional_fields = nullable)]
pub struct AddMemberRequest {
    pub user_id: WireId,
}

/// The kinds of channel one may create.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum ChannelKindInput {
    Public,
    Private,
}

/// The roles of a channel member.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum ChannelRoleInput {
    Owner,
    Admin,
    Member,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[ts(optional_fields = nullable)]
pub struct UpdateMemberRequest {
    // `owner`, `admin` or `member` (see `kind` above for why not a doc comment).
    #[schema(value_type = ChannelRoleInput, inline)]
    pub role: String,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[ts(optional_fields = nullable)]
pub struct MarkReadRequest {
    /// Everything up to and including this sequence number counts as read (0 marks the whole
    /// channel unread).
    #[schema(minimum = 0)]
    #[serde(deserialize_with = "int::i64")]
    pub seq: i64,
}

// ---------------------------------------------------------------------------------------------
// Messages

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct ReactionDto {
    pub emoji: String,
    pub count: usize,
    pub user_ids: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct MentionsDto {
    pub user_ids: Vec<String>,
    /// `@channel`, `@all` or `@everyone`.
    pub channel: bool,
    pub here: bool,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct MessageDto {
    pub id: String,
    pub channel_id: String,
    /// Position in the channel: 1, 2, 3... with no gaps.
    pub seq: i64,
    pub user_id: String,
    /// Markdown source; empty when deleted.
    pub text: String,
    pub thread_root_id: Option<String>,
    pub client_msg_id: Option<String>,
    pub created_at: String,
    pub edited_at: Option<String>,
    pub deleted: bool,
    pub deleted_at: Option<String>,
    pub reply_count: i64,
    pub last_reply_at: Option<String>,
    pub pinned: bool,
    pub pinned_at: Option<String>,
    pub pinned_by: Option<String>,
    pub reactions: Vec<ReactionDto>,
    pub mentions: MentionsDto,
    /// Attached files (empty once the message is deleted).
    pub files: Vec<FileDto>,
    /// A notice about the conversation itself (clients render it in their own language):
    /// `topic`, `purpose` or `renamed`, `text` the new value. Absent for what people wrote.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "NoticeKind")]
    pub notice: Option<String>,
}

impl MessageDto {
    pub fn new(m: &Message) -> Self {
        MessageDto {
            id: m.id.to_string(),
            channel_id: m.channel_id.to_string(),
            seq: m.seq,
            user_id: m.user_id.to_string(),
            text: m.text.clone(),
            thread_root_id: m.thread_root_id.map(|r| r.to_string()),
            client_msg_id: m.client_msg_id.clone(),
            created_at: ts(m.created_at),
            edited_at: opt_ts(m.edited_at),
            deleted: m.deleted_at.is_some(),
            deleted_at: opt_ts(m.deleted_at),
            reply_count: m.reply_count,
            last_reply_at: opt_ts(m.last_reply_at),
            pinned: m.pinned_at.is_some(),
            pinned_at: opt_ts(m.pinned_at),
            pinned_by: m.pinned_by.map(|u| u.to_string()),
            reactions: m
                .reactions
                .iter()
                .map(|g| ReactionDto {
                    emoji: g.emoji.clone(),
                    count: g.user_ids.len(),
                    user_ids: g.user_ids.iter().map(|u| u.to_string()).collect(),
                })
                .collect(),
            mentions: MentionsDto {
                user_ids: m.mentions.user_ids.iter().map(|u| u.to_string()).collect(),
                channel: m.mentions.channel,
                here: m.mentions.here,
            },
            files: m.files.iter().map(FileDto::new).collect(),
            notice: m.notice.map(|k| k.as_str().to_owned()),
        }
    }
}

/// A thumbnail of an image file, served at `GET /api/v1/files/{id}/thumbnail`.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct ThumbnailDto {
    pub width: u32,
    pub height: u32,
    pub content_type: String,
}

/// An uploaded file. Its content is at `GET /api/v1/files/{id}`.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct FileDto {
    pub id: String,
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// Sniffed from the content, not taken from the uploader.
    pub content_type: String,
    /// Pixel size, for images.
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub thumbnail: Option<ThumbnailDto>,
    /// The first lines, for text files.
    pub preview: Option<String>,
    pub uploader_id: String,
    pub created_at: String,
}

impl FileDto {
    pub fn new(f: &FileMeta) -> Self {
        FileDto {
            id: f.id.to_string(),
            name: f.name.clone(),
            size: f.size,
            content_type: f.content_type.clone(),
            width: f.width,
            height: f.height,
            thumbnail: f.thumbnail.as_ref().map(|t| ThumbnailDto {
                width: t.width,
                height: t.height,
                content_type: t.content_type.clone(),
            }),
            preview: f.preview.clone(),
            uploader_id: f.uploader_id.to_string(),
            created_at: ts(f.created_at),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams, Default, TS)]
#[into_params(parameter_in = Query)]
#[ts(optional_fields)]
pub struct UploadQuery {
    /// The file's name, shown to readers and offered on download (paths are stripped): it must
    /// hold a character that is neither whitespace nor a control character.
    #[param(
        required = true,
        pattern = r"[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f]"
    )]
    pub name: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams, Default, TS)]
#[into_params(parameter_in = Query)]
#[ts(optional_fields)]
pub struct DownloadQuery {
    /// `true` to always download (`Content-Disposition: attachment`), even for images.
    #[serde(default)]
    #[param(default = false)]
    #[ts(as = "Option<_>", optional)]
    pub download: bool,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct MessageList {
    /// In ascending `seq` order.
    pub messages: Vec<MessageDto>,
}

/// `file_ids`: at most 10 ids, each once.
/// Trigger words: at most 10, each 1 to 64 characters without white space or control characters
/// (or `null`: none).
fn trigger_words_schema() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    utoipa::openapi::schema::ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(64))
                .pattern(Some(r"^[^\s\x00-\x1f\x7f-\x9f]+$")),
        )
        .max_items(Some(10))
        .build()
}

fn attached_file_ids() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(<WireId as utoipa::PartialSchema>::schema())
        .max_items(Some(10))
        .unique_items(true)
        .build()
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[ts(optional_fields = nullable)]
pub struct PostMessageRequest {
    /// Markdown, 1 to 16,000 characters, not blank (it may be empty when `file_ids` are given);
    /// no control characters but newlines and tabs. (Trailing whitespace is removed before the
    /// length is counted.)
    #[schema(
        max_length = 16000,
        pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub text: String,
    /// Chosen by the client (1 to 64 printable ASCII characters); a retry with the same id
    /// returns the first message instead of posting twice.
    #[schema(pattern = r"^[!-~]{1,64}$")]
    pub client_msg_id: Option<String>,
    /// Makes this message a reply in that message's thread.
    pub thread_root_id: Option<WireId>,
    /// Files uploaded by the poster (`POST /api/v1/files`) to attach; at most 10, each once.
    /// With files, `text` may be empty.
    #[serde(default)]
    #[schema(schema_with = attached_file_ids)]
    #[ts(as = "Option<_>", optional)]
    pub file_ids: Vec<WireId>,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[ts(optional_fields = nullable)]
pub struct EditMessageRequest {
    /// Markdown, 1 to 16,000 characters, not blank; no control characters but newlines and
    /// tabs. (Trailing whitespace is removed before the length is counted.)
    #[schema(
        max_length = 16000,
        pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub text: String,
}

#[derive(Debug, Deserialize, IntoParams, Default, TS)]
#[into_params(parameter_in = Query)]
#[ts(optional_fields)]
pub struct HistoryQuery {
    /// Messages before this sequence number (give at most one of `before`, `after`, `around`).
    pub before: Option<i64>,
    /// Messages after this sequence number.
    pub after: Option<i64>,
    /// Messages around this sequence number, itself included.
    pub around: Option<i64>,
    /// Messages per page.
    #[param(minimum = 1, maximum = 200, default = 50)]
    pub limit: Option<u32>,
    /// Include thread replies in the channel's history.
    #[serde(default)]
    #[param(default = false)]
    #[ts(as = "Option<_>", optional)]
    pub include_replies: bool,
}

#[derive(Debug, Deserialize, IntoParams, Default, TS)]
#[into_params(parameter_in = Query)]
#[ts(optional_fields)]
pub struct ThreadQuery {
    /// Replies after this sequence number.
    #[param(default = 0)]
    pub after: Option<i64>,
    /// Replies per page.
    #[param(minimum = 1, maximum = 1000, default = 200)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct Health {
    pub status: String,
}

// ---------------------------------------------------------------------------------------------
// Search

#[derive(Debug, Deserialize, IntoParams, Default, TS)]
#[into_params(parameter_in = Query)]
#[ts(optional_fields)]
pub struct SearchQueryParams {
    /// The query (docs/api/search.md): words, `"phrases"`, `word*` prefixes, and the filters
    /// `from:@user`, `in:#channel`, `before:YYYY-MM-DD`, `after:YYYY-MM-DD` and `has:file`, each
    /// at most once; at most 16 words or phrases. It must hold a word or a filter (a query of
    /// punctuation only finds nothing and is refused), and no control characters. A query the
    /// language refuses answers 400 `invalid_field` with `field: "q"`.
    #[serde(default)]
    #[param(
        required = true,
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    #[ts(as = "Option<_>", optional)]
    pub q: String,
    /// Results per page.
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<u32>,
    /// Results to skip.
    #[param(minimum = 0, maximum = 1000, default = 0)]
    pub offset: Option<u32>,
}

/// A piece of a snippet. Render `text` as plain text; `hit` marks what matched.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct SnippetSegment {
    pub text: String,
    pub hit: bool,
}

/// The channel a result is in.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct SearchChannel {
    pub id: String,
    /// `null` for direct conversations.
    pub name: Option<String>,
    /// `public`, `private`, `dm` or `group_dm`.
    #[ts(type = "ChannelKind")]
    pub kind: String,
}

impl SearchChannel {
    pub fn new(c: &Channel) -> Self {
        SearchChannel {
            id: c.id.to_string(),
            name: c.name.clone(),
            kind: c.kind.as_str().to_owned(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct SearchResult {
    pub message: MessageDto,
    pub channel: SearchChannel,
    /// Up to about 160 characters of the text around the first hit, in order; `…` marks a cut.
    pub snippet: Vec<SnippetSegment>,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct SearchResults {
    /// Best match first (newest first when the query has only filters).
    pub results: Vec<SearchResult>,
    /// The `offset` of the next page; `null` when there is none.
    pub next_offset: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams, Default, TS)]
#[into_params(parameter_in = Query)]
#[ts(optional_fields)]
pub struct ChannelSearchParams {
    /// Part of the channel name: 1 to 64 characters once surrounding whitespace is trimmed.
    #[serde(default)]
    #[param(
        required = true,
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([\s\S]{0,62}[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    #[ts(as = "Option<_>", optional)]
    pub q: String,
    /// Results.
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct ChannelMatch {
    pub channel: ChannelDto,
    /// Whether the viewer is a member (otherwise it is a public channel they may join).
    pub member: bool,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct ChannelMatches {
    pub channels: Vec<ChannelMatch>,
}

// --- Sign-in throttle (lockout): the administrators' view -------------------------------

/// One throttled (account, address) pair.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct LockoutDto {
    /// The credential step: `password` or `second_factor`.
    pub step: String,
    /// The account key: the login as typed (trimmed, lower case; it may name no account) for
    /// passwords, the account's id for a second factor.
    pub account: String,
    /// The client address, or IPv6 /64 network (`2001:db8:1:2::/64`).
    pub source: String,
    /// Failures since the last success (within the failure memory).
    pub failures: u32,
    pub last_failure_at: String,
    /// Whether the account signed in from this address before (then only this pair's own
    /// failures can delay it).
    pub known_source: bool,
    /// When the next attempt of this account from this address is allowed, if it must wait.
    pub delayed_until: Option<String>,
    /// What makes it wait: `pair` (this account from this address), `account` (this account
    /// from every address) or `source` (this address on every account).
    pub delayed_by: Option<String>,
}

impl LockoutDto {
    pub fn new(l: &enclave_app::Lockout) -> Self {
        LockoutDto {
            step: l.step.as_str().to_owned(),
            account: l.account.clone(),
            source: l.source.clone(),
            failures: l.failures,
            last_failure_at: ts(l.last_failure_at),
            known_source: l.known,
            delayed_until: l.delayed_until.map(|(t, _)| ts(t)),
            delayed_by: l.delayed_until.map(|(_, s)| s.as_str().to_owned()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Audit log (GET /api/v1/admin/audit, /api/v1/admin/audit/export)

/// Filters of the audit log. Every filter is optional; entries must match all given.
#[derive(Debug, Deserialize, ToSchema, Default, TS)]
#[ts(optional_fields)]
pub struct AuditQueryParams {
    /// The acting user's id.
    pub actor: Option<String>,
    /// An action name (`sign_in`, `role_changed`, ...).
    pub action: Option<String>,
    /// A target kind (`user`, `channel`, `message`, `token`, ...).
    pub target_kind: Option<String>,
    /// A target id (with or without `target_kind`).
    pub target_id: Option<String>,
    /// Entries at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Entries before this time (RFC 3339).
    pub until: Option<String>,
    /// The cursor: entries with a sequence number below this one (`next_before` of a page).
    pub before: Option<String>,
    /// 1 to 500, default 50 (the listing only).
    pub limit: Option<u32>,
    /// `jsonl` (default) or `csv` (the export only).
    pub format: Option<String>,
}

/// One audit log entry.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct AuditEntryDto {
    /// Position in the hash chain (1, 2, 3, ...), as a decimal string.
    pub seq: String,
    pub at: String,
    /// The acting user's id; absent for failed sign-ins and operator commands.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub actor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub user_agent: Option<String>,
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub target_kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub target_id: Option<String>,
    /// What changed: `{"field": {"before": ..., "after": ...}, "fact": "value", ...}`.
    #[schema(value_type = Object)]
    #[ts(type = "Record<string, unknown>")]
    pub summary: serde_json::Value,
    /// SHA-256 of the previous entry (hex).
    pub prev_hash: String,
    /// SHA-256 of this entry's canonical bytes and `prev_hash` (hex).
    pub hash: String,
}

impl AuditEntryDto {
    pub fn new(e: &enclave_core::audit::AuditEntry) -> Self {
        AuditEntryDto {
            seq: e.seq.to_string(),
            at: ts(e.at),
            actor: e.actor.map(|u| u.to_string()),
            ip: e.ip.clone(),
            user_agent: e.user_agent.clone(),
            action: e.action.clone(),
            target_kind: e.target_kind.clone(),
            target_id: e.target_id.clone(),
            summary: serde_json::from_str(&e.summary)
                .unwrap_or_else(|_| serde_json::Value::String(e.summary.clone())),
            prev_hash: enclave_core::audit::hex(&e.prev_hash),
            hash: enclave_core::audit::hex(&e.hash),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Roles and guests

/// A site permission, for the admin console's permission matrix.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct PermissionDto {
    /// The stable name (`create_public_channels`, ...).
    pub name: String,
    pub description: String,
}

/// A role: built-in (`system_admin`, `member`, `guest`; fixed grants) or custom (decimal id).
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct RoleDto {
    pub id: String,
    pub name: String,
    pub description: String,
    /// The permission names the role grants.
    pub permissions: Vec<String>,
    pub builtin: bool,
    /// Holders must sign in with a second factor (custom roles only).
    pub require_second_factor: bool,
}

impl RoleDto {
    pub fn custom(r: &enclave_core::CustomRole) -> Self {
        RoleDto {
            id: r.id.to_string(),
            name: r.name.clone(),
            description: r.description.clone(),
            permissions: r
                .permissions
                .names()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            builtin: false,
            require_second_factor: r.require_second_factor,
        }
    }

    pub fn builtin(r: enclave_core::Role) -> Self {
        use enclave_core::Role;
        let (name, description) = match r {
            Role::Admin => ("System administrator", "Every permission."),
            Role::Member => (
                "Member",
                "Ordinary accounts: create channels, invite people, upload files, use the directory.",
            ),
            Role::Guest => (
                "Guest",
                "Invited into named channels only, until an expiry date; sees only those channels and their members.",
            ),
        };
        RoleDto {
            id: r.as_str().to_owned(),
            name: name.to_owned(),
            description: description.to_owned(),
            permissions: enclave_core::permissions::grants_of(r)
                .names()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            builtin: true,
            require_second_factor: false,
        }
    }
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct LockoutList {
    pub lockouts: Vec<LockoutDto>,
}

#[derive(Debug, Deserialize, IntoParams, Default, TS)]
#[into_params(parameter_in = Query)]
#[ts(optional_fields)]
pub struct LockoutQuery {
    /// Only this account key (a login: 1 to 254 characters once trimmed, without control
    /// characters; compared lower-cased).
    #[param(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]{0,252}[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f])?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub account: Option<String>,
    /// Entries to list.
    #[param(minimum = 1, maximum = 200, default = 100)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct LockoutsCleared {
    /// How many (account, address) pairs had failures that were cleared.
    pub cleared: u64,
}

/// A page of the audit log, newest first.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct AuditPage {
    pub entries: Vec<AuditEntryDto>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub next_before: Option<String>,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct RoleList {
    /// Built-in roles first, then custom roles by id.
    pub roles: Vec<RoleDto>,
    /// Every permission, in order: the columns of the permission matrix.
    pub permissions: Vec<PermissionDto>,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[ts(optional_fields = nullable)]
pub struct CreateRoleRequest {
    /// 1 to 64 characters once trimmed, without control, invisible or text-direction
    /// characters; unique (case-insensitive). A built-in role's id (`member`, `system_admin`,
    /// `guest`) is taken: 409.
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff]([^\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff]{0,62}[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff])?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub name: String,
    /// At most 500 characters once trimmed; newlines and tabs allowed, no other control
    /// characters, nothing invisible or text-direction changing.
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff]{0,500}[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub description: Option<String>,
    /// Permission names. Only permissions the caller holds.
    #[schema(schema_with = permission_names)]
    pub permissions: Vec<String>,
    /// Holders must sign in with a second factor (default false).
    pub require_second_factor: Option<bool>,
}

/// A list of permission names: the [`enclave_core::permissions::SitePermission`] names, at most
/// twice as many entries as there are permissions (duplicates are harmless).
fn permission_names() -> utoipa::openapi::Array {
    permission_array(utoipa::openapi::schema::ArrayBuilder::new())
}

/// [`permission_names`], or `null`.
fn permission_names_or_null() -> utoipa::openapi::Array {
    use utoipa::openapi::schema::{ArrayBuilder, SchemaType, Type};
    permission_array(
        ArrayBuilder::new().schema_type(SchemaType::from_iter([Type::Array, Type::Null])),
    )
}

fn permission_array(builder: utoipa::openapi::schema::ArrayBuilder) -> utoipa::openapi::Array {
    use enclave_core::permissions::SitePermission;
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    builder
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(SitePermission::ALL.iter().map(|p| p.as_str()))),
        )
        .max_items(Some(2 * SitePermission::ALL.len()))
        .build()
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[ts(optional_fields = nullable)]
pub struct UpdateRoleRequest {
    /// As when creating.
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff]([^\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff]{0,62}[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff])?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub name: Option<String>,
    /// As when creating.
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff]{0,500}[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub description: Option<String>,
    /// Replaces the role's permissions (`null` or absent: unchanged).
    #[schema(schema_with = permission_names_or_null)]
    pub permissions: Option<Vec<String>>,
    pub require_second_factor: Option<bool>,
}

/// The roles an account holds.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct UserRolesDto {
    pub user: UserDto,
    /// Role ids: `system_admin`, `member`, `guest`, or custom roles' decimal ids.
    pub roles: Vec<String>,
}

impl UserRolesDto {
    pub fn new(h: &enclave_app::HeldRoles) -> Self {
        let mut roles: Vec<String> = h.builtin.iter().map(|r| r.as_str().to_owned()).collect();
        roles.extend(h.custom.iter().map(|r| r.id.to_string()));
        UserRolesDto {
            user: UserDto::new(&h.user, true),
            roles,
        }
    }
}

/// A list of role ids that an account may be given.
fn role_ids() -> utoipa::openapi::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    let custom = id_alternatives();
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(format!("^(system_admin|member|{custom})$"))),
        )
        .min_items(Some(1))
        .max_items(Some(enclave_core::roles::MAX_ROLES_PER_USER + 2))
        .build()
}

#[derive(Debug, Deserialize, ToSchema, TS)]
pub struct SetUserRolesRequest {
    /// Role ids: `system_admin`, `member`, custom roles' decimal ids (at least one, at most 22
    /// entries and 20 custom roles; not `guest`: guests are made by invitation).
    #[schema(schema_with = role_ids)]
    pub roles: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[ts(optional_fields = nullable)]
pub struct InviteGuestRequest {
    /// 2 to 32 characters of `a-z 0-9 . _ -` starting with a letter or digit (capitals are
    /// lower-cased, surrounding whitespace is trimmed); `here`, `channel`, `all` and `everyone`
    /// are reserved.
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[A-Za-z0-9][A-Za-z0-9._-]{1,31}[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub username: String,
    /// 8 to 256 characters. Omit to set it later.
    #[schema(min_length = 8, max_length = 256)]
    pub password: Option<String>,
    /// At most 64 characters once trimmed, without control characters or invisible and
    /// text-direction characters (a zero-width joiner inside an emoji is allowed); empty means
    /// the username.
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*([^\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff]{0,64})[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub display_name: Option<String>,
    /// An email address: one `@`, no spaces, a dot in the domain; at most 254 characters.
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^@\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f]+@[^@.\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f][^@\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f]*\.[^@\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f]*[^@.\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f][\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$",
        max_length = 254
    )]
    pub email: Option<String>,
    /// When the guest's access ends (RFC 3339): in the future and at most `[guests] max_days`
    /// (365 by default) away. The document says required; a server whose `[guests]
    /// require_expiry` is off also accepts `null`.
    #[schema(required = true, nullable = false, format = DateTime)]
    pub expires_at: Option<String>,
    /// The channels the guest joins (1 to 50; channels the inviter may add people to, not
    /// direct conversations).
    #[schema(min_items = 1, max_items = 50)]
    pub channel_ids: Vec<WireId>,
}

/// Parses an RFC 3339 time (`field` names it in the error).
pub fn parse_ts(field: &'static str, s: &str) -> Result<Millis, enclave_core::Error> {
    if s.len() > 64 {
        return Err(enclave_core::Error::invalid(field, "not an RFC 3339 time"));
    }
    let t = time::OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|_| enclave_core::Error::invalid(field, "not an RFC 3339 time"))?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
        .map(Millis)
        .map_err(|_| enclave_core::Error::invalid(field, "out of range"))
}

// ---- Second factors (docs/admin/second-factor.md) ----

/// The answer of `POST /api/v1/auth/login`: a session, or (with no session yet) a second-factor
/// challenge.
#[derive(Debug, Serialize, ToSchema, TS)]
#[serde(untagged)]
pub enum LoginAnswer {
    Session(LoginResponse),
    SecondFactor(SecondFactorRequired),
}

/// The password was right, but the account must pass (or enrol) a second factor first.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct SecondFactorRequired {
    pub second_factor: SecondFactorChallengeDto,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct SecondFactorChallengeDto {
    /// Single-use, bound to the account, valid five minutes; send it to
    /// `POST /api/v1/auth/login/second-factor`.
    pub challenge: String,
    /// The methods the account may pass: `totp`, `recovery`, `webauthn`.
    pub methods: Vec<String>,
    /// The site policy requires a second factor the account does not have: set up an
    /// authenticator app with `POST /api/v1/auth/login/totp-setup`, then confirm its code at
    /// the second-factor step, which opens the session.
    pub enrol_required: bool,
    pub expires_at: String,
    /// With `webauthn` among the methods: the options to pass to the browser's
    /// `navigator.credentials.get` (`{"publicKey": {...}}`, binary fields in base64url).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    #[ts(optional, type = "Record<string, unknown>")]
    pub webauthn: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
pub struct SecondFactorLoginRequest {
    #[schema(max_length = 100)]
    pub challenge: String,
    /// `totp`, `recovery` or `webauthn`.
    #[schema(pattern = "^(totp|recovery|webauthn)$")]
    pub method: String,
    /// With `totp` or `recovery`: the six-digit code, or a recovery code (`xxxxx-xxxxx`).
    #[serde(default)]
    #[schema(max_length = 64)]
    #[ts(optional)]
    pub code: Option<String>,
    /// With `webauthn`: the browser's `PublicKeyCredential` answering the challenge's
    /// `webauthn` options, as JSON with its binary fields in base64url.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    #[ts(optional, type = "Record<string, unknown>")]
    pub credential: Option<serde_json::Value>,
    /// With `webauthn` on an enrol-only challenge: the id of the registration started at
    /// `POST /api/v1/auth/login/webauthn-setup`; `credential` is then the browser's answer
    /// from `navigator.credentials.create`, which registers the key and opens the session.
    #[serde(default)]
    #[schema(max_length = 64)]
    #[ts(optional)]
    pub registration: Option<String>,
    /// With `registration`: the new key's name, as when registering one in the settings.
    #[serde(default)]
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff]([^\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff]{0,62}[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff])?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    #[ts(optional)]
    pub name: Option<String>,
    /// The client signing in, as in the first step's `client` (the same rules).
    #[serde(default)]
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*([^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]{0,62}[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f])?)?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub client: Option<String>,
}

/// A session opened by the second step.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct SecondFactorLoginResponse {
    /// A bearer token; also set as the `enclave_session` HttpOnly cookie.
    pub token: String,
    pub user: UserDto,
    /// When the step enrolled the account's first second factor: its ten recovery codes,
    /// shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub recovery_codes: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
pub struct ChallengeRequest {
    #[schema(max_length = 100)]
    pub challenge: String,
}

/// An authenticator app being set up: shown once, then confirmed with a code.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct TotpSetupDto {
    /// The secret in base32, to type into an app.
    pub secret: String,
    /// `otpauth://totp/...`.
    pub uri: String,
    /// The URI as a QR code (an SVG document).
    pub qr_svg: String,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
pub struct TotpConfirmRequest {
    #[schema(max_length = 64)]
    pub code: String,
}

/// Recovery codes, shown this once.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct RecoveryCodesDto {
    pub recovery_codes: Vec<String>,
}

/// The account holder's password, or a current TOTP or recovery code: at most one. An account
/// with no password of its own (single sign-on only) may give neither within 10 minutes of
/// signing in: its session proves it.
#[derive(Debug, Deserialize, ToSchema, TS)]
#[ts(optional_fields = nullable)]
pub struct ReauthRequest {
    /// At most 256 characters.
    #[schema(max_length = 256)]
    pub password: Option<String>,
    #[schema(max_length = 64)]
    pub code: Option<String>,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct SecondFactorStatusDto {
    /// An authenticator app is set up.
    pub totp: bool,
    /// A set-up was started and not confirmed.
    pub totp_pending: bool,
    pub recovery_codes_left: u32,
    /// Security keys and passkeys registered.
    pub webauthn_keys: u32,
    /// The site policy requires a second factor of this account.
    pub required: bool,
    /// When the account must have one by (when required and not set up).
    pub enrol_by: Option<String>,
    /// The account has a password of its own (local or its directory's): changes ask for it or
    /// a code. Without one, they need a sign-in of the last 10 minutes and no field.
    pub password: bool,
}

impl From<enclave_app::SecondFactorStatus> for SecondFactorStatusDto {
    fn from(s: enclave_app::SecondFactorStatus) -> Self {
        SecondFactorStatusDto {
            totp: s.totp,
            totp_pending: s.totp_pending,
            recovery_codes_left: s.recovery_codes_left,
            webauthn_keys: s.webauthn_keys,
            required: s.required,
            enrol_by: opt_ts(s.enrol_by),
            password: s.password,
        }
    }
}

/// A security key or passkey of the caller.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct WebAuthnKeyDto {
    pub id: String,
    pub name: String,
    pub created_at: String,
    /// When it last passed a sign-in.
    pub last_used_at: Option<String>,
}

impl From<enclave_app::WebAuthnKeyInfo> for WebAuthnKeyDto {
    fn from(k: enclave_app::WebAuthnKeyInfo) -> Self {
        WebAuthnKeyDto {
            id: k.id.to_string(),
            name: k.name,
            created_at: ts(k.created_at),
            last_used_at: opt_ts(k.last_used_at),
        }
    }
}

/// A security key just registered: the key, and the recovery codes issued with it when it is
/// the account's first second factor (shown once; empty otherwise).
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct WebAuthnRegisteredDto {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    /// Ten one-time codes when this key is the account's first second factor; else empty.
    pub recovery_codes: Vec<String>,
}

impl From<enclave_app::WebAuthnRegistered> for WebAuthnRegisteredDto {
    fn from(r: enclave_app::WebAuthnRegistered) -> Self {
        let k = WebAuthnKeyDto::from(r.key);
        WebAuthnRegisteredDto {
            id: k.id,
            name: k.name,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            recovery_codes: r.recovery_codes,
        }
    }
}

/// The caller's security keys and passkeys, oldest first.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct WebAuthnKeyList {
    pub keys: Vec<WebAuthnKeyDto>,
    /// The most keys an account may register.
    pub max_keys: u32,
}

/// A security key registration in progress.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct WebAuthnRegistrationDto {
    /// Finish it at `POST /api/v1/users/me/second-factor/webauthn/registrations/{id}`.
    pub id: String,
    /// The options to pass to the browser's `navigator.credentials.create`
    /// (`{"publicKey": {...}}`, binary fields in base64url).
    #[schema(value_type = Object)]
    #[ts(type = "Record<string, unknown>")]
    pub options: serde_json::Value,
    pub expires_at: String,
}

/// The browser's answer to a registration, and the new key's name.
#[derive(Debug, Deserialize, ToSchema, TS)]
pub struct WebAuthnFinishRequest {
    /// 1 to 64 characters once trimmed, no control, invisible or text-direction characters,
    /// e.g. "YubiKey" or "Laptop".
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff]([^\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff]{0,62}[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff])?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub name: String,
    /// The `PublicKeyCredential` from `navigator.credentials.create`, as JSON with its binary
    /// fields in base64url.
    #[schema(value_type = Object)]
    #[ts(type = "Record<string, unknown>")]
    pub credential: serde_json::Value,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
pub struct WebAuthnRenameRequest {
    /// As when registering: 1 to 64 characters once trimmed, no control, invisible or
    /// text-direction characters.
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff]([^\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff]{0,62}[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff])?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub name: String,
}

/// A single sign-on button of the login page.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct SsoProviderDto {
    /// The provider's id (`/auth/oidc/{id}/start` begins its sign-in).
    pub id: String,
    pub label: String,
}

/// How people may sign in here.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct SsoProviders {
    /// Whether the password form is offered (`[auth] local_passwords`). When false, only system
    /// administrators may still sign in with a password.
    pub local_passwords: bool,
    pub providers: Vec<SsoProviderDto>,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
pub struct SsoExchangeRequest {
    /// The one-time code from the callback's redirect (`#sso_code=`).
    #[schema(min_length = 1, max_length = 128)]
    pub code: String,
}

#[derive(Debug, Deserialize, IntoParams, Default, TS)]
#[into_params(parameter_in = Query)]
#[ts(optional_fields)]
pub struct SsoStatusQuery {
    /// Read every provider's discovery document now.
    pub refresh: Option<bool>,
}

/// One provider's state on the node that answered.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct SsoStatusDto {
    pub id: String,
    pub label: String,
    pub issuer: String,
    /// Whether the last read of the discovery document worked (`null`: not read yet).
    pub discovery_ok: Option<bool>,
    pub last_checked_at: Option<String>,
    pub last_error: Option<String>,
    pub last_sign_in_at: Option<String>,
    /// Accounts linked to this provider.
    pub linked_users: u64,
    /// Whether the provider publishes an `end_session_endpoint` (sign-out ends its session).
    pub end_session: bool,
}

impl SsoStatusDto {
    pub fn new(s: &enclave_app::ProviderStatus) -> Self {
        SsoStatusDto {
            id: s.id.clone(),
            label: s.label.clone(),
            issuer: s.issuer.clone(),
            discovery_ok: s.discovery_ok,
            last_checked_at: s.last_checked.map(ts),
            last_error: s.last_error.clone(),
            last_sign_in_at: s.last_sign_in.map(ts),
            linked_users: s.linked_users,
            end_session: s.end_session,
        }
    }
}

/// The site's second-factor policy.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct SecondFactorPolicyDto {
    /// `off`, `admins` or `everyone`.
    pub require: String,
    pub grace_days: u32,
    /// When the requirement took its current value (grace counts from then).
    pub since: String,
}

impl From<enclave_core::signin::Policy> for SecondFactorPolicyDto {
    fn from(p: enclave_core::signin::Policy) -> Self {
        SecondFactorPolicyDto {
            require: p.require.as_str().into(),
            grace_days: p.grace_days,
            since: ts(p.since),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema, TS)]
pub struct SetSecondFactorPolicyRequest {
    /// `off`, `admins` or `everyone`.
    #[schema(pattern = "^(off|admins|everyone)$")]
    pub require: String,
    #[schema(minimum = 0, maximum = 365)]
    #[serde(deserialize_with = "int::u32")]
    pub grace_days: u32,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct EnrolledDto {
    pub user: UserDto,
    /// When the authenticator app was set up (null: security keys only).
    pub totp_since: Option<String>,
    pub recovery_codes_left: u32,
    /// Security keys and passkeys registered.
    pub webauthn_keys: u32,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct SecondFactorOverview {
    pub policy: SecondFactorPolicyDto,
    /// Accounts with an authenticator app or a security key set up.
    pub enrolled: Vec<EnrolledDto>,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct SsoStatusList {
    pub providers: Vec<SsoStatusDto>,
}

// ---------------------------------------------------------------------------------------------
// Bots

#[derive(Debug, Deserialize, ToSchema, TS)]
#[ts(optional_fields = nullable)]
pub struct CreateBotRequest {
    /// As a user's username: 2 to 32 characters of `a-z 0-9 . _ -`.
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[A-Za-z0-9][A-Za-z0-9._-]{1,31}[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub username: String,
    /// At most 64 characters; empty means the username.
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*([^\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff]{0,64})[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub display_name: Option<String>,
}

/// A bot and a token for it: the token is shown here once and never again.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct BotWithToken {
    pub bot: UserDto,
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct BotList {
    pub bots: Vec<UserDto>,
}

// ---------------------------------------------------------------------------------------------
// Incoming webhooks

#[derive(Debug, Deserialize, ToSchema, TS)]
pub struct CreateWebhookRequest {
    /// 1 to 64 characters once trimmed, no control characters: what the webhook is for
    /// ("CI", "监控").
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]{0,62}[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f])?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct WebhookDto {
    pub id: String,
    pub channel_id: String,
    /// Messages are posted as this account.
    pub creator_id: String,
    pub name: String,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub rotated_at: Option<String>,
}

/// A webhook and its secret path (`/hooks/<secret>`, after the server's address): shown once.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct WebhookWithUrl {
    pub webhook: WebhookDto,
    pub path: String,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct WebhookList {
    pub webhooks: Vec<WebhookDto>,
}

// ---------------------------------------------------------------------------------------------
// Outgoing webhooks

/// How an outgoing webhook's body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum OutgoingContentType {
    /// `application/x-www-form-urlencoded`: Slack's outgoing webhooks.
    Form,
    /// `application/json`: the same fields as one object.
    Json,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[ts(optional_fields = nullable)]
pub struct CreateOutgoingWebhookRequest {
    /// The channel whose messages call the webhook (one the caller may post in).
    pub channel_id: String,
    /// 1 to 64 characters once trimmed, no control characters.
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]{0,62}[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f])?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub name: String,
    /// The receiver: an `http` or `https` URL of at most 2,000 characters. Requests go through
    /// the outbound allow-list (`[outbound] allow`); a host not on it is refused at delivery and
    /// the refusal is logged.
    #[schema(
        max_length = 2000,
        pattern = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s\x00-\x1f\x7f-\x9f]+$"
    )]
    pub url: String,
    /// At most 10 words (each 1 to 64 characters, no white space): a message whose first word is
    /// one of them (ignoring case) calls the webhook. None or empty: every message.
    #[serde(default)]
    #[ts(optional)]
    #[schema(schema_with = trigger_words_schema)]
    pub trigger_words: Option<Vec<String>>,
    /// `form` (the default, as Slack) or `json`.
    #[serde(default)]
    #[ts(optional)]
    pub content_type: Option<OutgoingContentType>,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct OutgoingWebhookDto {
    pub id: String,
    pub channel_id: String,
    /// Its owner: replies are posted as this account.
    pub creator_id: String,
    pub name: String,
    pub url: String,
    pub trigger_words: Vec<String>,
    pub content_type: OutgoingContentType,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub rotated_at: Option<String>,
}

/// A webhook with the `token` it sends and the secret its requests are signed with (Slack's
/// `X-Slack-Signature`): shown once.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct OutgoingWebhookWithSecret {
    pub webhook: OutgoingWebhookDto,
    pub token: String,
    pub signing_secret: String,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct OutgoingWebhookList {
    pub webhooks: Vec<OutgoingWebhookDto>,
}

/// A delivery's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatusDto {
    /// Waiting for its first attempt or a retry.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up: the attempts are spent or the receiver refused it.
    Failed,
    /// Never sent: the outbound client refused the destination (allow-list, private address).
    Refused,
}

/// One entry of the delivery log: a message that called the webhook and how its attempts went.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct DeliveryDto {
    pub id: String,
    pub message_id: String,
    pub status: DeliveryStatusDto,
    pub attempts: u32,
    /// The last answer's HTTP status.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub http_status: Option<u16>,
    /// Why the last attempt failed (or why a reply was not posted).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub next_attempt_at: Option<String>,
}

/// The newest deliveries first (the log keeps the newest 100 finished ones and every pending one).
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct DeliveryList {
    pub deliveries: Vec<DeliveryDto>,
}
