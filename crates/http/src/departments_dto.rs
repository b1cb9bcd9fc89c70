//! Wire shapes of the department tree and the directory (re-exported by `dto`).

use enclave_app::{Card, TreeView};
use enclave_core::User;
use enclave_core::departments::{Department, DepartmentMember};
use serde::{Deserialize, Deserializer, Serialize};
use ts_rs::TS;
use utoipa::{IntoParams, ToSchema};

use crate::dto::{UserDto, WireId};

/// A channel whose members follow a department.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct DepartmentChannelDto {
    pub channel_id: String,
    /// Whether the people of sub-departments are members too.
    pub include_subdepartments: bool,
}

/// A department of the tree.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct DepartmentDto {
    pub id: String,
    /// `null` for a root.
    pub parent_id: Option<String>,
    pub name: String,
    /// Order among siblings (smaller first, then by id).
    #[ts(type = "number")]
    pub position: i64,
    /// Department administrators (their powers end at this subtree).
    pub admins: Vec<String>,
    /// Active people directly in this department.
    pub member_count: u32,
    pub channels: Vec<DepartmentChannelDto>,
}

impl DepartmentDto {
    pub fn new(d: &Department, member_count: usize, channels: Vec<DepartmentChannelDto>) -> Self {
        DepartmentDto {
            id: d.id.to_string(),
            parent_id: d.parent_id.map(|p| p.to_string()),
            name: d.name.clone(),
            position: d.position,
            admins: d.admins.iter().map(ToString::to_string).collect(),
            member_count: u32::try_from(member_count).unwrap_or(u32::MAX),
            channels,
        }
    }
}

/// The whole department tree, as a flat list (parents before or after children; build the tree
/// from `parent_id`), ordered by parent, position and id.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct DepartmentTree {
    pub departments: Vec<DepartmentDto>,
}

impl DepartmentTree {
    pub fn new(view: &TreeView) -> Self {
        DepartmentTree {
            departments: view
                .departments
                .iter()
                .map(|d| {
                    let channels = view
                        .channels
                        .iter()
                        .filter(|c| c.department_id == d.id)
                        .map(|c| DepartmentChannelDto {
                            channel_id: c.channel_id.to_string(),
                            include_subdepartments: c.include_subdepartments,
                        })
                        .collect();
                    DepartmentDto::new(d, view.counts.get(&d.id).copied().unwrap_or(0), channels)
                })
                .collect(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[ts(optional_fields = nullable)]
pub struct CreateDepartmentRequest {
    /// The parent; absent or `null` for a root.
    pub parent_id: Option<WireId>,
    /// 1 to 64 characters once trimmed, no `/`, no control, invisible or text-direction
    /// characters; unique among siblings.
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^/\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff]([^/\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff]{0,62}[^/\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff])?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub name: String,
    /// Order among siblings, -1,000,000 to 1,000,000 (default 0).
    #[schema(minimum = -1_000_000, maximum = 1_000_000)]
    #[serde(default, deserialize_with = "crate::dto::int::opt_i64")]
    #[ts(type = "number | null", optional)]
    pub position: Option<i64>,
}

/// A field that may be absent (leave as is), `null` (clear) or a value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Nullable<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<T> Nullable<T> {
    /// `None` when absent, `Some(None)` for `null`.
    pub fn patch(self) -> Option<Option<T>> {
        match self {
            Nullable::Absent => None,
            Nullable::Null => Some(None),
            Nullable::Value(v) => Some(Some(v)),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Nullable<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(d)? {
            Some(v) => Nullable::Value(v),
            None => Nullable::Null,
        })
    }
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[ts(optional_fields)]
pub struct UpdateDepartmentRequest {
    /// As when creating: 1 to 64 characters once trimmed, no `/`.
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^/\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff]([^/\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff]{0,62}[^/\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff])?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub name: Option<String>,
    /// A new parent (moving the department with its people and sub-departments); `null` makes
    /// it a root.
    #[serde(default)]
    #[schema(value_type = Option<WireId>, nullable)]
    #[ts(type = "string | null", optional)]
    pub parent_id: Nullable<WireId>,
    /// Order among siblings, -1,000,000 to 1,000,000.
    #[schema(minimum = -1_000_000, maximum = 1_000_000)]
    #[serde(default, deserialize_with = "crate::dto::int::opt_i64")]
    #[ts(type = "number", optional)]
    pub position: Option<i64>,
    /// Replaces the department administrators (at most 20).
    #[schema(max_items = 20)]
    pub admins: Option<Vec<WireId>>,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[ts(optional_fields = nullable)]
pub struct SetDepartmentMemberRequest {
    /// The person's title in this department: at most 64 characters once trimmed, without
    /// control, invisible or text-direction characters; may be empty.
    #[schema(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*([^\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff]{0,64})[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub title: Option<String>,
    /// Whether the person heads the department.
    pub is_head: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[ts(optional_fields = nullable)]
pub struct LinkChannelRequest {
    /// Whether the people of sub-departments are members too (default false).
    pub include_subdepartments: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[ts(optional_fields = nullable)]
pub struct SetManagerRequest {
    /// The explicit manager; `null` clears it (the nearest head of the person's departments
    /// is then their manager).
    pub manager_id: Option<WireId>,
}

/// A person in a department.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct DepartmentMemberDto {
    pub user: UserDto,
    pub title: String,
    pub is_head: bool,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct DepartmentMemberList {
    pub members: Vec<DepartmentMemberDto>,
}

impl DepartmentMemberList {
    pub fn new(list: &[(DepartmentMember, User)], reveal: impl Fn(&User) -> bool) -> Self {
        DepartmentMemberList {
            members: list
                .iter()
                .map(|(m, u)| DepartmentMemberDto {
                    user: UserDto::new(u, reveal(u)),
                    title: m.title.clone(),
                    is_head: m.is_head,
                })
                .collect(),
        }
    }
}

/// A placement, as a person put in a department gets it back.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct PlacementDto {
    pub department_id: String,
    pub user_id: String,
    pub title: String,
    pub is_head: bool,
}

#[derive(Debug, Deserialize, IntoParams, Default, TS)]
#[into_params(parameter_in = Query)]
#[ts(optional_fields)]
pub struct DirectoryQuery {
    /// A name in any script, full pinyin (`zhangwei`) or its initials (`zw`); at most 64
    /// characters.
    #[param(max_length = 64, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub q: Option<String>,
    /// People to return.
    #[param(minimum = 1, maximum = 50, default = 20)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct PeopleList {
    pub users: Vec<UserDto>,
}

/// One department on a person's card.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct CardDepartmentDto {
    pub department_id: String,
    /// Names from the root down.
    pub path: Vec<String>,
    pub title: String,
    pub is_head: bool,
}

/// A person's card in the directory.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct CardDto {
    /// With `email` as contact.
    pub user: UserDto,
    pub departments: Vec<CardDepartmentDto>,
    /// The explicit manager, or the nearest head of the person's departments.
    pub manager: Option<UserDto>,
}

impl CardDto {
    pub fn new(c: &Card) -> Self {
        CardDto {
            user: UserDto::new(&c.user, c.show_contact),
            departments: c
                .departments
                .iter()
                .map(|(m, path)| CardDepartmentDto {
                    department_id: m.department_id.to_string(),
                    path: path.clone(),
                    title: m.title.clone(),
                    is_head: m.is_head,
                })
                .collect(),
            manager: c.manager.as_ref().map(|m| UserDto::new(m, false)),
        }
    }
}
