//! The department tree (组织架构) and the directory (通讯录): the rules over departments, who
//! may change them, and how people are found by name or pinyin.
//!
//! A department has a parent (none for a root), a name unique among its siblings, an order
//! among them, heads, members with a title each, and department administrators whose powers end
//! at the department's subtree. The store loads the whole tree inside the writing transaction
//! ([`Tree`]) and runs the checks here against it, so two concurrent moves cannot make a cycle.
//!
//! Rules:
//! 1. A department is never moved under itself or one of its descendants (no cycle); its parent
//!    must exist.
//! 2. The tree is at most [`MAX_DEPTH`] levels deep and holds at most [`MAX_DEPARTMENTS`]
//!    departments; a person is in at most [`MAX_DEPARTMENTS_PER_USER`] departments.
//! 3. Names: trimmed, `1..=64` characters, no control or invisible characters, no `/` (the CSV
//!    import writes paths with it); unique among siblings, compared case-folded.
//! 4. A department with sub-departments cannot be deleted (move or delete them first).
//! 5. [`may_manage_department`]: the site permission `ManageDepartments`, or being an
//!    administrator of the department or of one of its ancestors. Creating a root department
//!    needs the site permission; a department administrator may not make a department a root or
//!    move it out of their subtree (the new parent must be managed by them too).
//! 6. The directory is for [`SitePermission::BrowseDirectory`] holders only (guests never see
//!    it).

use std::collections::{HashMap, HashSet};

use crate::error::{Entity, Error};
use crate::ids::UserId;
use crate::model::Channel;
use crate::permissions::{Actor, SitePermission};
use crate::validate::{has_control, shown_text};

/// A department.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DepartmentId(pub i64);

impl std::fmt::Display for DepartmentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for DepartmentId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::invalid("DepartmentId", "not an id"));
        }
        s.parse::<i64>()
            .map(DepartmentId)
            .map_err(|_| Error::invalid("DepartmentId", "not an id"))
    }
}

/// Most levels from a root to a leaf (a root is level 1).
pub const MAX_DEPTH: usize = 15;
/// Most departments in the tree.
pub const MAX_DEPARTMENTS: usize = 10_000;
/// Most departments one person is in.
pub const MAX_DEPARTMENTS_PER_USER: usize = 20;
/// Most administrators of one department.
pub const MAX_ADMINS_PER_DEPARTMENT: usize = 20;
pub const MAX_DEPARTMENT_NAME_CHARS: usize = 64;
pub const MAX_TITLE_CHARS: usize = 64;
/// Longest directory search text, in characters.
pub const MAX_DIRECTORY_QUERY_CHARS: usize = 64;

/// A department as stored (without its people).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Department {
    pub id: DepartmentId,
    pub parent_id: Option<DepartmentId>,
    pub name: String,
    /// Order among siblings (smaller first; ties by id).
    pub position: i64,
    /// Department administrators: may manage this department and its subtree.
    pub admins: Vec<UserId>,
}

/// One person's place in a department.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepartmentMember {
    pub department_id: DepartmentId,
    pub user_id: UserId,
    pub title: String,
    pub is_head: bool,
}

/// The whole tree, as read inside a writing transaction.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    nodes: HashMap<DepartmentId, Department>,
    children: HashMap<Option<DepartmentId>, Vec<DepartmentId>>,
}

impl Tree {
    pub fn new(departments: impl IntoIterator<Item = Department>) -> Tree {
        let mut tree = Tree::default();
        for d in departments {
            tree.children.entry(d.parent_id).or_default().push(d.id);
            tree.nodes.insert(d.id, d);
        }
        for kids in tree.children.values_mut() {
            kids.sort_unstable();
        }
        tree
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn get(&self, id: DepartmentId) -> Option<&Department> {
        self.nodes.get(&id)
    }

    /// The department, or `NotFound(Department)`.
    pub fn require(&self, id: DepartmentId) -> Result<&Department, Error> {
        self.get(id).ok_or(Error::NotFound(Entity::Department))
    }

    /// Direct children of `parent` (roots for `None`), by id.
    pub fn children(&self, parent: Option<DepartmentId>) -> &[DepartmentId] {
        self.children.get(&parent).map_or(&[], Vec::as_slice)
    }

    /// `id` followed by its ancestors up to the root (empty when `id` is unknown). Stops at a
    /// cycle, which the rules never let in.
    pub fn chain(&self, id: DepartmentId) -> Vec<DepartmentId> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut cur = Some(id);
        while let Some(c) = cur {
            let Some(node) = self.nodes.get(&c) else {
                break;
            };
            if !seen.insert(c) {
                break;
            }
            out.push(c);
            cur = node.parent_id;
        }
        out
    }

    /// Level of `id` (a root is 1; 0 when unknown).
    pub fn depth(&self, id: DepartmentId) -> usize {
        self.chain(id).len()
    }

    /// `id` and every department below it.
    pub fn subtree(&self, id: DepartmentId) -> Vec<DepartmentId> {
        let mut out = Vec::new();
        let mut stack = vec![id];
        let mut seen = HashSet::new();
        while let Some(c) = stack.pop() {
            if !self.nodes.contains_key(&c) || !seen.insert(c) {
                continue;
            }
            out.push(c);
            stack.extend_from_slice(self.children(Some(c)));
        }
        out
    }

    /// Levels of the subtree under and including `id` (1 for a leaf; 0 when unknown).
    pub fn height(&self, id: DepartmentId) -> usize {
        if !self.nodes.contains_key(&id) {
            return 0;
        }
        let mut seen = HashSet::from([id]);
        let mut level = vec![id];
        let mut height = 0;
        while !level.is_empty() {
            height += 1;
            level = level
                .iter()
                .flat_map(|d| self.children(Some(*d)).iter().copied())
                .filter(|c| seen.insert(*c))
                .collect();
        }
        height
    }

    /// The department at `path` (names from the root down, compared by [`name_key`]).
    pub fn find_path(&self, path: &[String]) -> Option<DepartmentId> {
        let mut parent = None;
        for name in path {
            let key = name_key(name);
            let found = self
                .children(parent)
                .iter()
                .find(|c| self.nodes.get(c).is_some_and(|d| name_key(&d.name) == key))?;
            parent = Some(*found);
        }
        parent
    }

    /// The names from the root down to `id`.
    pub fn path(&self, id: DepartmentId) -> Vec<String> {
        let mut names: Vec<String> = self
            .chain(id)
            .iter()
            .filter_map(|d| self.nodes.get(d).map(|n| n.name.clone()))
            .collect();
        names.reverse();
        names
    }

    fn sibling_name_taken(
        &self,
        parent: Option<DepartmentId>,
        name: &str,
        except: Option<DepartmentId>,
    ) -> bool {
        let key = name_key(name);
        self.children(parent).iter().any(|c| {
            Some(*c) != except && self.nodes.get(c).is_some_and(|d| name_key(&d.name) == key)
        })
    }
}

/// Department names: trimmed, `1..=64` characters, no control or invisible characters, no `/`.
pub fn department_name(s: &str) -> Result<String, Error> {
    if s.trim().is_empty() {
        return Err(Error::invalid("name", "must not be empty"));
    }
    let s = shown_text(
        "name",
        s,
        MAX_DEPARTMENT_NAME_CHARS,
        "must be at most 64 characters",
        false,
    )?;
    if s.contains('/') {
        return Err(Error::invalid("name", "must not contain '/'"));
    }
    Ok(s.to_owned())
}

/// The key under which sibling names are compared: case-folded, inner whitespace collapsed.
pub fn name_key(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// A person's title in a department: trimmed, at most 64 characters, may be empty.
pub fn title(s: &str) -> Result<String, Error> {
    shown_text(
        "title",
        s,
        MAX_TITLE_CHARS,
        "must be at most 64 characters",
        false,
    )
    .map(str::to_owned)
}

/// Whether `actor` may manage department `dept` of `tree` (rename it, move it, delete it,
/// change its people, create departments under it): the site permission
/// [`SitePermission::ManageDepartments`], or being an administrator of `dept` or an ancestor.
/// `None` stands for the top of the tree (creating a root): the site permission only.
pub fn may_manage_department(actor: &Actor, tree: &Tree, dept: Option<DepartmentId>) -> bool {
    if actor.may(SitePermission::ManageDepartments) {
        return true;
    }
    let Some(dept) = dept else {
        return false;
    };
    tree.chain(dept).iter().any(|d| {
        tree.get(*d)
            .is_some_and(|n| n.admins.contains(&actor.user_id))
    })
}

/// [`may_manage_department`] as a result: `Forbidden` when not.
pub fn check_manage(actor: &Actor, tree: &Tree, dept: Option<DepartmentId>) -> Result<(), Error> {
    if let Some(d) = dept {
        tree.require(d)?;
    }
    if may_manage_department(actor, tree, dept) {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "managing this department needs the manage-departments permission or administering it or a parent",
        ))
    }
}

/// Whether `actor` may browse the directory (the tree, people, cards, search).
pub fn check_browse(actor: &Actor) -> Result<(), Error> {
    if actor.may(SitePermission::BrowseDirectory) {
        Ok(())
    } else {
        Err(Error::Forbidden("the directory is for members only"))
    }
}

/// A new department named `name` (already validated) under `parent`.
pub fn check_create(
    actor: &Actor,
    tree: &Tree,
    parent: Option<DepartmentId>,
    name: &str,
) -> Result<(), Error> {
    if let Some(p) = parent {
        tree.get(p)
            .ok_or(Error::invalid("parent_id", "no such department"))?;
    }
    check_manage(actor, tree, parent)?;
    if tree.len() >= MAX_DEPARTMENTS {
        return Err(Error::LimitExceeded(
            "the tree holds at most 10000 departments",
        ));
    }
    if parent.map_or(0, |p| tree.depth(p)) + 1 > MAX_DEPTH {
        return Err(Error::invalid(
            "parent_id",
            "the tree is at most 15 levels deep",
        ));
    }
    if tree.sibling_name_taken(parent, name, None) {
        return Err(Error::Conflict("a sibling department has that name"));
    }
    Ok(())
}

/// What a change to a department asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DepartmentChange {
    /// A new name (already validated by [`department_name`]).
    pub name: Option<String>,
    /// A new parent (`Some(None)`: make it a root).
    pub parent_id: Option<Option<DepartmentId>>,
    pub position: Option<i64>,
    /// A new set of administrators.
    pub admins: Option<Vec<UserId>>,
}

/// A change to department `id`: the actor manages it (and the new parent, when moving); no
/// cycle; depth limit; the name free among its (new) siblings.
pub fn check_update(
    actor: &Actor,
    tree: &Tree,
    id: DepartmentId,
    change: &DepartmentChange,
) -> Result<(), Error> {
    let node = tree.require(id)?;
    check_manage(actor, tree, Some(id))?;
    let parent = match change.parent_id {
        Some(new_parent) => {
            if let Some(p) = new_parent {
                tree.get(p)
                    .ok_or(Error::invalid("parent_id", "no such department"))?;
                if tree.chain(p).contains(&id) {
                    return Err(Error::invalid(
                        "parent_id",
                        "a department cannot be moved under itself or its sub-departments",
                    ));
                }
            }
            if new_parent != node.parent_id {
                check_manage(actor, tree, new_parent)?;
            }
            if new_parent.map_or(0, |p| tree.depth(p)) + tree.height(id) > MAX_DEPTH {
                return Err(Error::invalid(
                    "parent_id",
                    "the tree is at most 15 levels deep",
                ));
            }
            new_parent
        }
        None => node.parent_id,
    };
    let name = change.name.as_deref().unwrap_or(&node.name);
    if tree.sibling_name_taken(parent, name, Some(id)) {
        return Err(Error::Conflict("a sibling department has that name"));
    }
    if let Some(admins) = &change.admins
        && admins.len() > MAX_ADMINS_PER_DEPARTMENT
    {
        return Err(Error::LimitExceeded(
            "a department has at most 20 administrators",
        ));
    }
    if let Some(position) = change.position
        && !(-1_000_000..=1_000_000).contains(&position)
    {
        return Err(Error::invalid(
            "position",
            "must be between -1000000 and 1000000",
        ));
    }
    Ok(())
}

/// Deleting department `id`: managed by the actor and without sub-departments.
pub fn check_delete(actor: &Actor, tree: &Tree, id: DepartmentId) -> Result<(), Error> {
    tree.require(id)?;
    check_manage(actor, tree, Some(id))?;
    if !tree.children(Some(id)).is_empty() {
        return Err(Error::Conflict(
            "a department with sub-departments cannot be deleted",
        ));
    }
    Ok(())
}

/// Putting a person in department `id` (or changing their title): managed by the actor, and the
/// person is in at most [`MAX_DEPARTMENTS_PER_USER`] departments afterwards (`already_in`: how
/// many they are in now, this one excluded).
pub fn check_member(
    actor: &Actor,
    tree: &Tree,
    id: DepartmentId,
    already_in: usize,
) -> Result<(), Error> {
    tree.require(id)?;
    check_manage(actor, tree, Some(id))?;
    if already_in >= MAX_DEPARTMENTS_PER_USER {
        return Err(Error::LimitExceeded(
            "a person is in at most 20 departments",
        ));
    }
    Ok(())
}

/// A person's manager: the explicit one when set; otherwise a head of the first of their
/// departments (in the order given) that has a head other than themselves, looking up the tree
/// from each department.
pub fn manager_of(
    user: UserId,
    explicit: Option<UserId>,
    tree: &Tree,
    memberships: &[DepartmentMember],
    heads: &HashMap<DepartmentId, Vec<UserId>>,
) -> Option<UserId> {
    if explicit.is_some() {
        return explicit;
    }
    for m in memberships.iter().filter(|m| m.user_id == user) {
        for d in tree.chain(m.department_id) {
            if let Some(h) = heads.get(&d).and_then(|hs| hs.iter().find(|h| **h != user)) {
                return Some(*h);
            }
        }
    }
    None
}

/// The members a department channel should have: the people of `dept`, and with
/// `include_subdepartments` the people of its whole subtree.
pub fn channel_departments(
    tree: &Tree,
    dept: DepartmentId,
    include_subdepartments: bool,
) -> Vec<DepartmentId> {
    if include_subdepartments {
        tree.subtree(dept)
    } else if tree.get(dept).is_some() {
        vec![dept]
    } else {
        Vec::new()
    }
}

/// Whether a department channel's membership may be changed by the sync: a named channel that
/// is not archived (a direct conversation's membership is fixed; an archived channel is
/// read-only and is brought up to date when it is unarchived and the tree next changes).
pub fn check_sync(channel: &Channel) -> Result<(), Error> {
    if channel.kind.is_direct() {
        return Err(Error::invalid(
            "channel_id",
            "a direct conversation cannot follow a department",
        ));
    }
    if channel.is_archived() {
        return Err(Error::Archived);
    }
    Ok(())
}

/// Whether a card shown to `actor` carries the person's contact details (email): everyone who
/// may browse the directory sees colleagues' contact details there.
pub fn card_shows_contact(actor: &Actor, user: UserId) -> bool {
    actor.may(SitePermission::BrowseDirectory)
        || crate::permissions::sees_contact_details(actor, user)
}

/// What the sync of a department channel does with one current member who is not among the
/// department's people: channel owners and admins stay (someone must run the channel), other
/// members are removed.
pub fn sync_removes(channel_role_moderates: bool) -> bool {
    !channel_role_moderates
}

/// The search keys under which a person is found in the directory, from their display name and
/// username: every suffix (from a word or character boundary) of the name spelled in full pinyin
/// without spaces, and of its initials; Latin words count as syllables. A query matches when one
/// key starts with the normalised query ([`directory_query`]).
///
/// `张伟` gives `zhangwei`, `wei`, `zw`, `w`, and the name itself in lower case; `Wei Zhang`
/// gives `weizhang`, `zhang`, `wz`, `z`.
pub fn search_keys(display_name: &str, username: &str) -> Vec<String> {
    let mut keys = Vec::new();
    for name in [display_name, username] {
        let syllables = syllables(name);
        for i in 0..syllables.len() {
            let full: String = syllables[i..].iter().map(|(s, _)| s.as_str()).collect();
            let initials: String = syllables[i..].iter().map(|(_, c)| *c).collect();
            keys.push(full);
            keys.push(initials);
        }
        let plain: String = name
            .to_lowercase()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if !plain.is_empty() {
            keys.push(plain);
        }
    }
    keys.retain(|k| !k.is_empty());
    keys.sort();
    keys.dedup();
    keys.truncate(256);
    keys
}

/// A name as syllables: each Chinese character its pinyin (without tone), each run of other
/// letters and digits one syllable, lower-cased; with each syllable's first letter.
fn syllables(name: &str) -> Vec<(String, char)> {
    use pinyin::ToPinyin;
    let mut out: Vec<(String, char)> = Vec::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut Vec<(String, char)>| {
        if let Some(c) = word.chars().next() {
            out.push((std::mem::take(word), c));
        }
    };
    for c in name.chars() {
        if let Some(p) = c.to_pinyin() {
            flush(&mut word, &mut out);
            let plain = p.plain();
            if let Some(first) = plain.chars().next() {
                out.push((plain.to_owned(), first));
            }
        } else if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        } else {
            flush(&mut word, &mut out);
        }
    }
    flush(&mut word, &mut out);
    out.truncate(64);
    out
}

/// The normalised form of a directory search: lower-cased, whitespace removed, at most 64
/// characters; `None` when nothing is left. A query in Chinese characters matches the name.
pub fn directory_query(q: &str) -> Result<Option<String>, Error> {
    if q.chars().count() > MAX_DIRECTORY_QUERY_CHARS {
        return Err(Error::invalid("q", "must be at most 64 characters"));
    }
    if has_control(q, false) {
        return Err(Error::invalid("q", "must not contain control characters"));
    }
    let key: String = q
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    Ok((!key.is_empty()).then_some(key))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::roles::RoleSet;

    fn d(id: i64, parent: Option<i64>, name: &str, admins: &[i64]) -> Department {
        Department {
            id: DepartmentId(id),
            parent_id: parent.map(DepartmentId),
            name: name.into(),
            position: 0,
            admins: admins.iter().map(|u| UserId(*u)).collect(),
        }
    }

    /// 1 总部 ─ 2 技术部 ─ 3 后端组
    ///        └ 4 市场部
    /// 5 分公司 (a second root)
    fn tree() -> Tree {
        Tree::new([
            d(1, None, "总部", &[]),
            d(2, Some(1), "技术部", &[20]),
            d(3, Some(2), "后端组", &[]),
            d(4, Some(1), "市场部", &[]),
            d(5, None, "分公司", &[]),
        ])
    }

    const SITE: Actor = Actor::new(UserId(1), RoleSet::ADMIN);
    const MEMBER: Actor = Actor::new(UserId(10), RoleSet::MEMBER);
    const TECH_ADMIN: Actor = Actor::new(UserId(20), RoleSet::MEMBER);

    fn move_to(parent: Option<i64>) -> DepartmentChange {
        DepartmentChange {
            parent_id: Some(parent.map(DepartmentId)),
            ..Default::default()
        }
    }

    #[test]
    fn a_department_cannot_move_under_itself_or_its_descendants() {
        let t = tree();
        for target in [2, 3] {
            let e = check_update(&SITE, &t, DepartmentId(2), &move_to(Some(target))).unwrap_err();
            assert!(
                matches!(
                    e,
                    Error::Invalid {
                        field: "parent_id",
                        ..
                    }
                ),
                "{e}"
            );
        }
        // Elsewhere is fine, to a root too.
        check_update(&SITE, &t, DepartmentId(2), &move_to(Some(4))).unwrap();
        check_update(&SITE, &t, DepartmentId(2), &move_to(Some(5))).unwrap();
        check_update(&SITE, &t, DepartmentId(2), &move_to(None)).unwrap();
        // Unknown parent.
        let e = check_update(&SITE, &t, DepartmentId(2), &move_to(Some(99))).unwrap_err();
        assert!(matches!(
            e,
            Error::Invalid {
                field: "parent_id",
                ..
            }
        ));
        // Unknown department.
        let e = check_update(&SITE, &t, DepartmentId(99), &move_to(None)).unwrap_err();
        assert_eq!(e, Error::NotFound(Entity::Department));
    }

    #[test]
    fn a_cycle_already_stored_does_not_hang_the_walks() {
        // The rules never store one; the walks stop anyway.
        let t = Tree::new([d(1, Some(2), "a", &[]), d(2, Some(1), "b", &[])]);
        assert_eq!(t.chain(DepartmentId(1)).len(), 2);
        assert_eq!(t.subtree(DepartmentId(1)).len(), 2);
        assert!(t.height(DepartmentId(1)) > 0);
        assert!(check_update(&SITE, &t, DepartmentId(1), &move_to(Some(2))).is_err());
    }

    #[test]
    fn depth_and_size_limits() {
        let mut deps = vec![d(1, None, "l1", &[])];
        for i in 2..=MAX_DEPTH as i64 {
            deps.push(d(i, Some(i - 1), &format!("l{i}"), &[]));
        }
        deps.push(d(100, None, "other", &[]));
        deps.push(d(101, Some(100), "child", &[]));
        let t = Tree::new(deps);
        assert_eq!(t.depth(DepartmentId(MAX_DEPTH as i64)), MAX_DEPTH);
        let e = check_create(&SITE, &t, Some(DepartmentId(MAX_DEPTH as i64)), "x").unwrap_err();
        assert!(matches!(
            e,
            Error::Invalid {
                field: "parent_id",
                ..
            }
        ));
        check_create(&SITE, &t, Some(DepartmentId(MAX_DEPTH as i64 - 1)), "x").unwrap();
        // Moving a two-level subtree under level 14 would make 16 levels.
        let e = check_update(
            &SITE,
            &t,
            DepartmentId(100),
            &move_to(Some(MAX_DEPTH as i64 - 1)),
        )
        .unwrap_err();
        assert!(matches!(
            e,
            Error::Invalid {
                field: "parent_id",
                ..
            }
        ));
        check_update(
            &SITE,
            &t,
            DepartmentId(101),
            &move_to(Some(MAX_DEPTH as i64 - 1)),
        )
        .unwrap();
        let big =
            Tree::new((1..=MAX_DEPARTMENTS as i64).map(|i| d(i, None, &format!("d{i}"), &[])));
        assert!(matches!(
            check_create(&SITE, &big, None, "one more"),
            Err(Error::LimitExceeded(_))
        ));
    }

    #[test]
    fn names_are_validated_and_unique_among_siblings() {
        assert_eq!(department_name("  技术部 ").unwrap(), "技术部");
        for bad in ["", "   ", "a/b", "x\u{202E}y", "a\nb"] {
            assert!(department_name(bad).is_err(), "{bad:?}");
        }
        assert!(department_name(&"长".repeat(65)).is_err());
        assert!(department_name(&"长".repeat(64)).is_ok());
        let t = tree();
        assert!(matches!(
            check_create(&SITE, &t, Some(DepartmentId(1)), "技术部"),
            Err(Error::Conflict(_))
        ));
        check_create(&SITE, &t, Some(DepartmentId(2)), "市场部").unwrap();
        // Renaming to a sibling's name, or moving next to a same-named sibling, conflicts.
        let rename = DepartmentChange {
            name: Some("市场部".into()),
            ..Default::default()
        };
        assert!(matches!(
            check_update(&SITE, &t, DepartmentId(2), &rename),
            Err(Error::Conflict(_))
        ));
        let rename_self = DepartmentChange {
            name: Some("技术部".into()),
            ..Default::default()
        };
        check_update(&SITE, &t, DepartmentId(2), &rename_self).unwrap();
        assert!(title(&"x".repeat(65)).is_err());
        assert_eq!(title(" 工程师 ").unwrap(), "工程师");
    }

    #[test]
    fn department_admins_manage_their_subtree_only() {
        let t = tree();
        for (dept, want) in [(1, false), (2, true), (3, true), (4, false), (5, false)] {
            assert_eq!(
                may_manage_department(&TECH_ADMIN, &t, Some(DepartmentId(dept))),
                want,
                "department {dept}"
            );
            assert!(may_manage_department(&SITE, &t, Some(DepartmentId(dept))));
            assert!(!may_manage_department(
                &MEMBER,
                &t,
                Some(DepartmentId(dept))
            ));
        }
        assert!(!may_manage_department(&TECH_ADMIN, &t, None));
        assert!(may_manage_department(&SITE, &t, None));
        // Inside: create, rename, move within the subtree.
        check_create(&TECH_ADMIN, &t, Some(DepartmentId(3)), "新组").unwrap();
        check_update(&TECH_ADMIN, &t, DepartmentId(3), &move_to(Some(2))).unwrap();
        // Outside: a root, a sibling's subtree, moving out of the subtree.
        assert!(matches!(
            check_create(&TECH_ADMIN, &t, None, "x"),
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            check_create(&TECH_ADMIN, &t, Some(DepartmentId(4)), "x"),
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            check_update(&TECH_ADMIN, &t, DepartmentId(3), &move_to(Some(4))),
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            check_delete(&TECH_ADMIN, &t, DepartmentId(4)),
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            check_member(&TECH_ADMIN, &t, DepartmentId(4), 0),
            Err(Error::Forbidden(_))
        ));
        check_member(&TECH_ADMIN, &t, DepartmentId(3), 0).unwrap();
        assert!(matches!(
            check_member(&SITE, &t, DepartmentId(3), MAX_DEPARTMENTS_PER_USER),
            Err(Error::LimitExceeded(_))
        ));
        // A department with children stays.
        assert!(matches!(
            check_delete(&SITE, &t, DepartmentId(2)),
            Err(Error::Conflict(_))
        ));
        check_delete(&SITE, &t, DepartmentId(3)).unwrap();
        // The directory is for members.
        check_browse(&MEMBER).unwrap();
        assert!(check_browse(&Actor::new(UserId(3), RoleSet::EMPTY)).is_err());
    }

    #[test]
    fn managers_are_explicit_or_the_nearest_head() {
        let t = tree();
        let memberships = vec![DepartmentMember {
            department_id: DepartmentId(3),
            user_id: UserId(7),
            title: String::new(),
            is_head: false,
        }];
        let mut heads = HashMap::new();
        assert_eq!(manager_of(UserId(7), None, &t, &memberships, &heads), None);
        heads.insert(DepartmentId(2), vec![UserId(8)]);
        assert_eq!(
            manager_of(UserId(7), None, &t, &memberships, &heads),
            Some(UserId(8))
        );
        heads.insert(DepartmentId(3), vec![UserId(7)]);
        // Their own headship does not make them their own manager.
        assert_eq!(
            manager_of(UserId(7), None, &t, &memberships, &heads),
            Some(UserId(8))
        );
        assert_eq!(
            manager_of(UserId(7), Some(UserId(9)), &t, &memberships, &heads),
            Some(UserId(9))
        );
    }

    #[test]
    fn pinyin_keys_find_chinese_and_english_names() {
        let keys = search_keys("张伟", "zhangwei2");
        for want in ["zhangwei", "zw", "wei", "张伟"] {
            assert!(keys.iter().any(|k| k == want), "{want} in {keys:?}");
        }
        let q = directory_query("Zhang Wei").unwrap().unwrap();
        assert!(keys.iter().any(|k| k.starts_with(&q)));
        let keys = search_keys("Wei Zhang", "wzhang");
        for want in ["weizhang", "zhang", "wz"] {
            assert!(keys.iter().any(|k| k == want), "{want} in {keys:?}");
        }
        let keys = search_keys("李Lei", "lilei");
        assert!(keys.iter().any(|k| k == "lilei"));
        assert!(keys.iter().any(|k| k == "ll"));
        assert_eq!(directory_query("  ").unwrap(), None);
        assert!(directory_query(&"a".repeat(65)).is_err());
    }
}
