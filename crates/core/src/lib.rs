//! Enclave's domain core: the nouns of team chat (users, channels, memberships, messages,
//! events) and the pure rules over them.
//!
//! This crate does no I/O and knows nothing of HTTP, XMPP, JSON or SQL. Every door (REST,
//! WebSocket, XMPP, CLI) asks the same functions here whether an actor may do something
//! ([`permissions`]), whether an input is acceptable ([`validate`]) and what the data allows
//! ([`rules`]: thread roots, reaction and pin limits) and how fast a user may act ([`rate`]:
//! the token bucket; [`lockout`]: how sign-in failures turn into delays), so no door can allow
//! what another refuses. [`audit`] holds the audit log's vocabulary and its hash chain.

pub mod audit;
pub mod commands;
pub mod departments;
pub mod error;
pub mod event;
pub mod ids;
pub mod lockout;
pub mod mentions;
pub mod model;
pub mod notices;
pub mod outgoing;
pub mod permissions;
pub mod rate;
pub mod retention;
pub mod roles;
pub mod rules;
pub mod search;
pub mod signin;
pub mod validate;
pub mod webhooks;

pub use departments::DepartmentId;
pub use error::{Entity, Error};
pub use event::{Audience, Event, EventKind, NewEvent};
pub use ids::{AppPasswordId, ChannelId, FileId, MessageId, Millis, RoleId, TokenId, UserId};
pub use model::*;
pub use permissions::{Action, Actor, PermissionSet, Scope, SitePermission};
pub use roles::{CustomRole, GuestPolicy, Role, RoleSet};
