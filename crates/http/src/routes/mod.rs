//! Route handlers, one module per area. Each handler authenticates, parses, calls one
//! application service and maps the result to a DTO; no rules are decided here.

pub mod audit;
pub mod auth;
pub mod backups;
pub mod bots;
pub mod channels;
pub mod commands;
pub mod departments;
pub mod files;
pub mod hooks;
pub mod identity;
pub mod lockouts;
pub mod messages;
pub mod outgoing;
pub mod retention;
pub mod roles;
pub mod search;
pub mod second_factor;
pub mod sessions;
pub mod sso;
pub mod system;
pub mod users;
pub mod ws;
