//! Lookups the registrar and router need on every request.

use std::collections::HashMap;

use super::{TenantConfig, User};

/// Users of one tenant, found by digest username or by extension in O(1).
#[derive(Debug, Clone, Default)]
pub struct UserIndex {
    users: Vec<User>,
    by_auth_user: HashMap<String, usize>,
    by_ext: HashMap<String, usize>,
}

impl UserIndex {
    /// Builds the index. The config was validated, so usernames and extensions are unique;
    /// should they not be, the first user wins.
    pub fn new(config: &TenantConfig) -> UserIndex {
        let users = config.users.clone();
        let mut by_auth_user = HashMap::with_capacity(users.len());
        let mut by_ext = HashMap::with_capacity(users.len());
        for (i, u) in users.iter().enumerate() {
            by_auth_user.entry(u.auth_user().to_owned()).or_insert(i);
            by_ext.entry(u.ext.as_str().to_owned()).or_insert(i);
        }
        UserIndex {
            users,
            by_auth_user,
            by_ext,
        }
    }

    /// The user whose digest username is `name` (case-sensitive, as digest compares it).
    pub fn by_auth_user(&self, name: &str) -> Option<&User> {
        self.by_auth_user.get(name).map(|&i| &self.users[i])
    }

    /// The user with extension `ext`.
    pub fn by_ext(&self, ext: &str) -> Option<&User> {
        self.by_ext.get(ext).map(|&i| &self.users[i])
    }

    /// All users, in file order.
    pub fn users(&self) -> &[User] {
        &self.users
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether the tenant has no users.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}
