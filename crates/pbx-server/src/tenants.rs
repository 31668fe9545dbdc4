//! The tenant directory: an immutable snapshot of every tenant, swapped
//! whole when the configuration changes. Digest HA1 values are computed once
//! per snapshot, so no plaintext secret is hashed on the REGISTER path and a
//! changed secret takes effect with the next snapshot.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use sip_auth::{Algorithm, Ha1};

use crate::security::in_net;

/// What the server needs of one user.
#[derive(Debug)]
pub struct UserAuth {
    /// The extension (the AOR user part).
    pub ext: Box<str>,
    /// The digest username.
    pub auth_user: Box<str>,
    /// HA1 for each algorithm offered to this user, strongest first.
    pub ha1: Vec<Ha1>,
}

impl UserAuth {
    pub fn algorithms(&self) -> impl Iterator<Item = Algorithm> + '_ {
        self.ha1.iter().map(Ha1::algorithm)
    }
    pub fn ha1_for(&self, alg: Algorithm) -> Option<&Ha1> {
        self.ha1.iter().find(|h| h.algorithm() == alg)
    }
}

/// What a call needs of one user (every user, registered or not).
#[derive(Debug, Clone)]
pub struct UserCall {
    pub ext: Box<str>,
    pub name: Box<str>,
    pub nat: pbx_core::tenant::NatMode,
    pub ring_timeout_s: u32,
    pub busy_level: u32,
    pub call_limit: u32,
    pub on_busy: Option<pbx_core::Destination>,
    pub on_no_answer: Option<pbx_core::Destination>,
    pub on_unavailable: Option<pbx_core::Destination>,
}

/// One tenant as the SIP side sees it.
#[derive(Debug)]
pub struct TenantSnap {
    pub id: i64,
    /// The SIP domain, which is also the digest realm.
    pub domain: Box<str>,
    pub version: i64,
    /// Users by digest username.
    pub users: HashMap<Box<str>, UserAuth>,
    /// Extension → digest username.
    pub by_ext: HashMap<Box<str>, Box<str>>,
    /// Algorithms challenged when the username is not yet known, strongest first.
    pub algorithms: Vec<Algorithm>,
    /// Networks allowed to register; empty = any.
    pub register_networks: Vec<(IpAddr, u8)>,
    pub max_contacts: Option<usize>,
    /// Every user by extension, for calls.
    pub calls: HashMap<Box<str>, UserCall>,
    /// `limits.max_calls`: calls in progress at once in this tenant.
    pub max_calls: Option<u32>,
    /// The tenant file without the users' SIP secrets: voice menus,
    /// schedules, voicemail and the other media settings calls read.
    pub config: Arc<pbx_core::TenantConfig>,
}

impl TenantSnap {
    pub fn register_allowed(&self, ip: IpAddr) -> bool {
        self.register_networks.is_empty()
            || self
                .register_networks
                .iter()
                .any(|(n, l)| in_net(ip, *n, *l))
    }

    /// An authenticated user may register its own extension, or its auth
    /// username as the AOR user when no extension has that name.
    pub fn may_register(&self, auth_user: &str, aor_user: &str) -> bool {
        self.users.get(auth_user).is_some_and(|u| {
            &*u.ext == aor_user
                || (&*u.auth_user == aor_user && !self.by_ext.contains_key(aor_user))
        })
    }

    /// The extension an AOR user part names: an extension is itself; an
    /// auth username that is no extension names its user's extension. The
    /// dispatcher shards REGISTER by this, and the registrar keys bindings
    /// by it, so one AOR always lives in one shard.
    pub fn canonical_ext<'a>(&'a self, aor_user: &'a str) -> &'a str {
        if self.by_ext.contains_key(aor_user) {
            return aor_user;
        }
        self.users
            .get(aor_user)
            .map(|u| &*u.ext)
            .unwrap_or(aor_user)
    }

    /// The extension of an authenticated digest username.
    pub fn ext_of(&self, auth_user: &str) -> Option<&str> {
        self.users.get(auth_user).map(|u| &*u.ext)
    }

    /// True while the AOR belongs to a user of this tenant.
    pub fn has_aor(&self, ext: &str) -> bool {
        self.by_ext.contains_key(ext)
    }
}

/// Every tenant, by domain and by id.
#[derive(Debug, Default)]
pub struct Directory {
    by_domain: HashMap<Box<str>, Arc<TenantSnap>>,
    by_id: HashMap<i64, Arc<TenantSnap>>,
    /// Digest usernames that exist in exactly one tenant (own-IP policy).
    unique_users: HashMap<Box<str>, Option<Arc<TenantSnap>>>,
}

impl Directory {
    pub fn new(tenants: impl IntoIterator<Item = Arc<TenantSnap>>) -> Directory {
        let mut d = Directory::default();
        for t in tenants {
            for u in t.users.keys() {
                d.unique_users
                    .entry(u.clone())
                    .and_modify(|e| *e = None)
                    .or_insert_with(|| Some(t.clone()));
            }
            d.by_id.insert(t.id, t.clone());
            d.by_domain.insert(t.domain.clone(), t);
        }
        d
    }

    /// The tenant of a domain (case-insensitive; an IP-literal domain is
    /// looked up in its canonical text form).
    pub fn by_domain(&self, domain: &str) -> Option<Arc<TenantSnap>> {
        if let Some(t) = self.by_domain.get(domain) {
            return Some(t.clone());
        }
        if domain.bytes().any(|b| b.is_ascii_uppercase()) {
            return self
                .by_domain
                .get(domain.to_ascii_lowercase().as_str())
                .cloned();
        }
        None
    }

    pub fn by_id(&self, id: i64) -> Option<&Arc<TenantSnap>> {
        self.by_id.get(&id)
    }

    /// The one tenant that has this digest username, if exactly one has.
    pub fn by_unique_user(&self, user: &str) -> Option<Arc<TenantSnap>> {
        self.unique_users.get(user).cloned().flatten()
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<TenantSnap>> {
        self.by_id.values()
    }

    /// The snapshot of a tenant with the same version, to reuse its HA1s.
    pub fn same_version(&self, id: i64, version: i64) -> Option<Arc<TenantSnap>> {
        self.by_id
            .get(&id)
            .filter(|t| t.version == version)
            .cloned()
    }
}

/// Builds the SIP view of a validated tenant file whose secrets are in clear.
pub fn snapshot(id: i64, version: i64, cfg: &pbx_core::TenantConfig) -> TenantSnap {
    let to_alg = |a: &pbx_core::DigestAlgorithm| match a {
        pbx_core::DigestAlgorithm::Md5 => Algorithm::Md5,
        pbx_core::DigestAlgorithm::Sha256 => Algorithm::Sha256,
    };
    let mut users = HashMap::new();
    let mut by_ext = HashMap::new();
    let mut calls = HashMap::new();
    for u in &cfg.users {
        calls.insert(
            u.ext.as_str().into(),
            UserCall {
                ext: u.ext.as_str().into(),
                name: u.name.as_str().into(),
                nat: u.nat,
                ring_timeout_s: u.ring_timeout,
                busy_level: u.busy_level,
                call_limit: u.call_limit,
                on_busy: u.on_busy.clone(),
                on_no_answer: u.on_no_answer.clone(),
                on_unavailable: u.on_unavailable.clone(),
            },
        );
        let auth_user = u.auth_user();
        // A user without a secret cannot authenticate (it never gets the HA1 of "").
        let Some(secret) = u.secret.as_deref().filter(|s| !s.is_empty()) else {
            continue;
        };
        let ha1 = u
            .digest_algorithms(&cfg.options)
            .iter()
            .map(|a| Ha1::from_password(to_alg(a), auth_user, &cfg.domain, secret))
            .collect();
        users.insert(
            auth_user.into(),
            UserAuth {
                ext: u.ext.as_str().into(),
                auth_user: auth_user.into(),
                ha1,
            },
        );
        by_ext.insert(u.ext.as_str().into(), auth_user.into());
    }
    let register_networks = cfg
        .options
        .register_networks
        .as_ref()
        .map(|n| {
            n.networks()
                .iter()
                .map(|net| (net.network(), net.prefix_len()))
                .collect()
        })
        .unwrap_or_default();
    TenantSnap {
        id,
        domain: cfg.domain.as_str().into(),
        version,
        users,
        by_ext,
        algorithms: cfg.options.digest_algorithms.iter().map(to_alg).collect(),
        register_networks,
        max_contacts: cfg.limits.max_contacts_per_aor.map(|n| n as usize),
        calls,
        max_calls: cfg.limits.max_calls,
        config: Arc::new(media_view(cfg)),
    }
}

/// The tenant file as calls need it: without the users' SIP secrets (those
/// stay in [`UserAuth`] as digest hashes).
fn media_view(cfg: &pbx_core::TenantConfig) -> pbx_core::TenantConfig {
    let mut c = cfg.clone();
    for u in &mut c.users {
        u.secret = None;
    }
    c
}
