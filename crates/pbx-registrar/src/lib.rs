//! The registrar's binding table: RFC 3261 §10.3 processing of an
//! authenticated REGISTER, RFC 5626 instance ids, expiry, per-AOR caps.
//!
//! Pure: no sockets, no clocks. Time is wall-clock milliseconds since the
//! Unix epoch passed in by the caller, because bindings outlive a restart
//! (they are stored and restored with their absolute expiry).
//!
//! One [`Registrar`] is owned by one shard; REGISTERs are sharded by AOR, so
//! every AOR lives in exactly one table.
//!
//! ```
//! use pbx_registrar::{AorKey, Registrar, RegistrarConfig, RegisterInput, Source, SourceTransport};
//! let mut reg = Registrar::new(RegistrarConfig::default());
//! let src = Source { transport: SourceTransport::Udp, addr: "127.0.0.1:5070".parse().unwrap(), flow: None };
//! let input = RegisterInput {
//!     contacts: vec![sip_msg::ContactValue::Addr(sip_msg::NameAddr {
//!         display: None,
//!         uri: sip_msg::Uri {
//!             scheme: sip_msg::Scheme::Sip, user: Some("1001".into()), password: None,
//!             host: Some(sip_msg::Host::Ip("127.0.0.1".parse().unwrap())), port: Some(5070),
//!             params: vec![], headers: vec![], opaque: None,
//!         },
//!         params: vec![],
//!     })],
//!     expires_header: Some(600), call_id: "c1", cseq: 1, source: src, user_agent: None,
//! };
//! let out = reg.register(1_000, AorKey::new(1, "1001"), &input).unwrap();
//! assert_eq!(out.contacts.len(), 1);
//! assert_eq!(out.contacts[0].1, 600);
//! ```
//!
//! Contacts are kept alive and watched with OPTIONS qualify: the server asks
//! [`Registrar::due_qualify`] which contacts to send OPTIONS to, and reports
//! each outcome with [`Registrar::set_qualify`]. Where requests to a contact
//! go (its Contact address, the address it registered from, or its TCP
//! connection) is decided by [`nat::reach`].

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;

use sip_msg::{ContactValue, NameAddr, Scheme, Uri};

/// Registrar limits (vpbx.toml `[registrar]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// Shorter non-zero expiries are refused with 423 (RFC 3261 §10.3 step 7).
    pub min_expires: u32,
    /// Longer expiries are shortened to this.
    pub max_expires: u32,
    /// Used when neither the Contact nor the request gives an expiry.
    pub default_expires: u32,
    /// Most contacts one AOR may hold; a new contact past the cap replaces
    /// the one that expires first.
    pub max_contacts_per_aor: usize,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_contacts_per_aor: 10,
        }
    }
}

/// Which tenant and which user an address-of-record belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AorKey {
    pub tenant: i64,
    /// The user part of the AOR (the extension or auth user).
    pub user: Box<str>,
}

impl AorKey {
    pub fn new(tenant: i64, user: &str) -> AorKey {
        AorKey {
            tenant,
            user: user.into(),
        }
    }
}

/// The transport a binding was registered over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceTransport {
    Udp,
    Tcp,
}

impl SourceTransport {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceTransport::Udp => "udp",
            SourceTransport::Tcp => "tcp",
        }
    }
}

/// Where a REGISTER came from: the address requests to the phone go to when
/// its Contact is unreachable (NAT), and for TCP the connection to reuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source {
    pub transport: SourceTransport,
    pub addr: SocketAddr,
    /// The server's id of the TCP connection, if any.
    pub flow: Option<u64>,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.transport.as_str(), self.addr)
    }
}

pub mod nat;

/// What the last OPTIONS qualify of a contact showed. Any response, even an error
/// status, means the phone is reachable (RFC 3261 §11: OPTIONS asks about capabilities);
/// no response before the transaction times out (Timer F) means unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Qualify {
    /// Not qualified yet (new binding, restored binding, or qualify disabled).
    #[default]
    Unknown,
    /// The contact answered; `rtt_ms` from sending OPTIONS to its response.
    Reachable { rtt_ms: u32 },
    /// The contact did not answer.
    Unreachable,
}

impl Qualify {
    /// `unknown`, `reachable` or `unreachable`: what the store's `qualify_status` holds.
    pub fn as_str(self) -> &'static str {
        match self {
            Qualify::Unknown => "unknown",
            Qualify::Reachable { .. } => "reachable",
            Qualify::Unreachable => "unreachable",
        }
    }

    /// The round-trip time of a reachable contact.
    pub fn rtt_ms(self) -> Option<u32> {
        match self {
            Qualify::Reachable { rtt_ms } => Some(rtt_ms),
            _ => None,
        }
    }

    /// The status read back from the store (`qualify_status`, `qualify_rtt_ms`); anything
    /// unrecognised is [`Qualify::Unknown`].
    pub fn from_stored(status: Option<&str>, rtt_ms: Option<u32>) -> Qualify {
        match status {
            Some("reachable") => Qualify::Reachable {
                rtt_ms: rtt_ms.unwrap_or(0),
            },
            Some("unreachable") => Qualify::Unreachable,
            _ => Qualify::Unknown,
        }
    }

    /// Whether a change from `self` to `other` is worth a store write: the status changed.
    /// A new round-trip time alone is not (it would rewrite every contact every interval).
    fn differs_in_status(self, other: Qualify) -> bool {
        std::mem::discriminant(&self) != std::mem::discriminant(&other)
    }
}

impl std::fmt::Display for Qualify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Qualify::Reachable { rtt_ms } => write!(f, "reachable ({rtt_ms} ms)"),
            other => f.write_str(other.as_str()),
        }
    }
}

/// One registered contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The id of its stored row, from the registrar's id range (see
    /// [`Registrar::set_id_range`]). A binding keeps its id through refreshes and a
    /// change of Contact under RFC 5626, so the store rewrites one row.
    pub id: u64,
    /// The Contact URI as the phone sent it.
    pub contact: Box<str>,
    /// RFC 5626 `+sip.instance`, if the phone sent one.
    pub instance: Option<Box<str>>,
    /// RFC 5626 `reg-id`.
    pub reg_id: Option<u32>,
    /// `q` × 1000, if given.
    pub q: Option<u16>,
    pub expires_at_ms: u64,
    pub call_id: Box<str>,
    pub cseq: u32,
    pub source: Source,
    pub user_agent: Option<Box<str>>,
    /// When the binding was last refreshed.
    pub updated_at_ms: u64,
    /// The expiry of the copy last handed out for storage (see
    /// [`Registrar::register`] on refreshes).
    pub stored_expires_ms: u64,
    /// The last OPTIONS qualify result (see [`Registrar::set_qualify`]).
    pub qualify: Qualify,
}

impl Binding {
    /// The key that identifies the binding within its AOR, the same text as the store's
    /// `binding_key`: `<instance>;reg-id=<n>` under RFC 5626 outbound (instance and reg-id
    /// both present), else the Contact URI.
    pub fn key(&self) -> Cow<'_, str> {
        match (&self.instance, self.reg_id) {
            (Some(instance), Some(reg_id)) => Cow::Owned(format!("{instance};reg-id={reg_id}")),
            _ => Cow::Borrowed(&self.contact),
        }
    }
}

/// A change the caller persists (write-behind) or logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindingChange {
    Upsert(AorKey, Binding),
    /// The binding that went away (its key: instance + reg-id, else contact).
    Remove(AorKey, Binding),
}

/// What the server extracted from an authenticated REGISTER.
#[derive(Debug, Clone)]
pub struct RegisterInput<'a> {
    /// Every Contact value, in order; empty for a query.
    pub contacts: Vec<ContactValue>,
    /// The Expires header, if any.
    pub expires_header: Option<u32>,
    pub call_id: &'a str,
    pub cseq: u32,
    pub source: Source,
    pub user_agent: Option<&'a str>,
}

/// A successful REGISTER: what the 200 OK lists, and what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterOutput {
    /// Every current contact of the AOR with its remaining seconds.
    pub contacts: Vec<(Box<str>, u32)>,
    pub changes: Vec<BindingChange>,
}

/// Why a REGISTER was refused; each maps to one SIP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// 400: `Contact: *` together with other contacts or a non-zero expiry.
    #[error("Contact: * must be alone and come with Expires: 0")]
    BadWildcard,
    /// 400: a Contact URI that is not sip/sips.
    #[error("contact URI scheme is not sip or sips")]
    BadContactScheme,
    /// 423 with Min-Expires.
    #[error("expiry {requested} is below the minimum {min}")]
    IntervalTooBrief { requested: u32, min: u32 },
    /// 500 (RFC 3261 §10.3 step 7): same Call-ID and a CSeq not higher than stored.
    #[error("CSeq {got} is not above {stored} for the same Call-ID")]
    OutOfOrder { got: u32, stored: u32 },
    /// 500: the registrar's id range is used up (2^40 new bindings since the server
    /// started, with the server's ranges); a restart takes a new one.
    #[error("no binding ids are left in this registrar's range")]
    OutOfIds,
}

impl RegisterError {
    /// The SIP status to answer with.
    pub fn status(&self) -> u16 {
        match self {
            RegisterError::BadWildcard | RegisterError::BadContactScheme => 400,
            RegisterError::IntervalTooBrief { .. } => 423,
            RegisterError::OutOfOrder { .. } | RegisterError::OutOfIds => 500,
        }
    }
}

/// The bindings of one AOR and the times of its entries in the expiry and qualify heaps.
#[derive(Debug, Default)]
struct Aor {
    list: Vec<Binding>,
    /// `u64::MAX` when the AOR has no expiry heap entry.
    scheduled: u64,
    /// When its contacts are next qualified; `u64::MAX` when not scheduled.
    qualify_at: u64,
}

/// Makes sure the AOR has a qualify heap entry at or before `at`.
fn schedule_qualify(
    heap: &mut BinaryHeap<Reverse<(u64, AorKey)>>,
    aor: &mut Aor,
    key: &AorKey,
    at: u64,
) {
    if at < aor.qualify_at {
        aor.qualify_at = at;
        heap.push(Reverse((at, key.clone())));
    }
}

/// A fixed offset in `0..interval_ms` per AOR (FNV-1a of the key), so that contacts
/// restored together after a restart are qualified spread over one interval, not at once.
fn spread(key: &AorKey, interval_ms: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.tenant.to_le_bytes().iter().chain(key.user.as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h % interval_ms.max(1)
}

/// Makes sure the AOR has a heap entry at or before `at`.
fn schedule(
    expiries: &mut BinaryHeap<Reverse<(u64, AorKey)>>,
    aor: &mut Aor,
    key: &AorKey,
    at: u64,
) {
    if at < aor.scheduled {
        aor.scheduled = at;
        expiries.push(Reverse((at, key.clone())));
    }
}

fn new_aor() -> Aor {
    Aor {
        list: Vec::new(),
        scheduled: u64::MAX,
        qualify_at: u64::MAX,
    }
}

/// The binding table of one shard.
#[derive(Debug)]
pub struct Registrar {
    cfg: RegistrarConfig,
    aors: HashMap<AorKey, Aor>,
    /// Min-heap of (expiry, AOR) for the sweep. An AOR has at most one live
    /// entry (the one equal to its `scheduled`), so refreshes do not pile
    /// entries up; others are stale and skipped when popped.
    expiries: BinaryHeap<Reverse<(u64, AorKey)>>,
    contacts: usize,
    /// OPTIONS qualify interval; 0 = off (nothing is scheduled).
    qualify_interval_ms: u64,
    /// Min-heap of (qualify time, AOR), one live entry per AOR like `expiries`.
    qualifies: BinaryHeap<Reverse<(u64, AorKey)>>,
    /// The ids new bindings take, in order (see [`Registrar::set_id_range`]).
    ids: std::ops::Range<u64>,
}

impl Registrar {
    pub fn new(cfg: RegistrarConfig) -> Registrar {
        Registrar {
            cfg,
            aors: HashMap::new(),
            expiries: BinaryHeap::new(),
            contacts: 0,
            qualify_interval_ms: 0,
            qualifies: BinaryHeap::new(),
            ids: 1..1 << 40,
        }
    }

    /// Sets the ids that new bindings take, one after another. The server gives each
    /// shard a range of its own from the store (a block no other shard or node uses),
    /// so that a binding's row is written and deleted by id and new rows are appended
    /// in order. Without a call the range is `1..2^40`, fit for one registrar alone.
    pub fn set_id_range(&mut self, ids: std::ops::Range<u64>) {
        self.ids = ids;
    }

    pub fn config(&self) -> &RegistrarConfig {
        &self.cfg
    }

    /// Changes limits for later requests (live config reload).
    pub fn set_config(&mut self, cfg: RegistrarConfig) {
        self.cfg = cfg;
    }

    /// Number of bindings held.
    pub fn contact_count(&self) -> usize {
        self.contacts
    }

    /// Number of AORs with at least one binding.
    pub fn aor_count(&self) -> usize {
        self.aors.len()
    }

    /// The live bindings of one AOR (possibly including ones past expiry
    /// that the next [`Registrar::sweep`] removes).
    pub fn bindings(&self, key: &AorKey) -> &[Binding] {
        self.aors.get(key).map(|a| a.list.as_slice()).unwrap_or(&[])
    }

    /// Iterates over every AOR and its bindings.
    pub fn iter(&self) -> impl Iterator<Item = (&AorKey, &[Binding])> {
        self.aors.iter().map(|(k, v)| (k, v.list.as_slice()))
    }

    /// Puts back a binding loaded from the store after a restart. Expired
    /// bindings are ignored. Of two stored rows for the same contact (left by a
    /// node that lost its database connection, say) the later-expiring one is kept
    /// and the other is returned as a removal for the caller to persist.
    pub fn restore(&mut self, now_ms: u64, key: AorKey, binding: Binding) -> Option<BindingChange> {
        if binding.expires_at_ms <= now_ms {
            return None;
        }
        let aor = self.aors.entry(key.clone()).or_insert_with(new_aor);
        schedule(&mut self.expiries, aor, &key, binding.expires_at_ms);
        if self.qualify_interval_ms > 0 {
            let at = now_ms + spread(&key, self.qualify_interval_ms);
            schedule_qualify(&mut self.qualifies, aor, &key, at);
        }
        if let Some(old) = aor.list.iter_mut().find(|b| b.contact == binding.contact) {
            let loser = if binding.expires_at_ms > old.expires_at_ms {
                std::mem::replace(old, binding)
            } else {
                binding
            };
            Some(BindingChange::Remove(key, loser))
        } else {
            aor.list.reserve_exact(1);
            aor.list.push(binding);
            self.contacts += 1;
            None
        }
    }

    /// Answers a REGISTER that has passed authentication (RFC 3261 §10.3
    /// steps 6–8). An empty contact list is a query.
    pub fn register(
        &mut self,
        now_ms: u64,
        key: AorKey,
        input: &RegisterInput<'_>,
    ) -> Result<RegisterOutput, RegisterError> {
        let mut changes = Vec::new();
        let is_wildcard = input
            .contacts
            .iter()
            .any(|c| matches!(c, ContactValue::Star));
        if is_wildcard {
            if input.contacts.len() != 1 || input.expires_header != Some(0) {
                return Err(RegisterError::BadWildcard);
            }
            let list = self
                .aors
                .get(&key)
                .map(|a| a.list.as_slice())
                .unwrap_or(&[]);
            if let Some(b) = list
                .iter()
                .find(|b| &*b.call_id == input.call_id && input.cseq <= b.cseq)
            {
                return Err(RegisterError::OutOfOrder {
                    got: input.cseq,
                    stored: b.cseq,
                });
            }
            if let Some(aor) = self.aors.remove(&key) {
                self.contacts -= aor.list.len();
                changes.extend(
                    aor.list
                        .into_iter()
                        .map(|b| BindingChange::Remove(key.clone(), b)),
                );
            }
            return Ok(RegisterOutput {
                contacts: Vec::new(),
                changes,
            });
        }

        // Validate everything before changing anything: a REGISTER is applied whole or not at all.
        let mut wanted = Vec::with_capacity(input.contacts.len());
        for c in &input.contacts {
            let ContactValue::Addr(na) = c else { continue };
            if !matches!(na.uri.scheme, Scheme::Sip | Scheme::Sips) {
                return Err(RegisterError::BadContactScheme);
            }
            let expires = contact_expires(na)
                .or(input.expires_header)
                .unwrap_or(self.cfg.default_expires);
            if expires != 0 && expires < self.cfg.min_expires {
                return Err(RegisterError::IntervalTooBrief {
                    requested: expires,
                    min: self.cfg.min_expires,
                });
            }
            wanted.push((na, na.uri.to_string(), expires.min(self.cfg.max_expires)));
        }
        // Only a nearly used-up range needs the count of new bindings.
        let ids_left = self.ids.end - self.ids.start;
        if ids_left < wanted.len() as u64 {
            let held = self
                .aors
                .get(&key)
                .map(|a| a.list.as_slice())
                .unwrap_or(&[]);
            let new_ids = wanted
                .iter()
                .filter(|(na, uri_text, expires)| {
                    *expires != 0 && !held.iter().any(|b| same_binding(b, na, uri_text))
                })
                .count() as u64;
            if ids_left < new_ids {
                return Err(RegisterError::OutOfIds);
            }
        }
        let aor = self.aors.entry(key.clone()).or_insert_with(new_aor);
        let mut earliest = u64::MAX;
        let mut qualify_now = false;
        let list = &mut aor.list;
        for (na, uri_text, _) in &wanted {
            if let Some(b) = find_binding(list, na, uri_text)
                && &*b.call_id == input.call_id
                && input.cseq <= b.cseq
            {
                return Err(RegisterError::OutOfOrder {
                    got: input.cseq,
                    stored: b.cseq,
                });
            }
        }

        for (na, uri_text, expires) in wanted {
            let pos = list.iter().position(|b| same_binding(b, na, &uri_text));
            if expires == 0 {
                if let Some(i) = pos {
                    let b = list.swap_remove(i);
                    self.contacts -= 1;
                    changes.push(BindingChange::Remove(key.clone(), b));
                }
                continue;
            }
            let mut binding = Binding {
                id: match pos {
                    Some(i) => list[i].id,
                    None => {
                        let id = self.ids.start;
                        self.ids.start += 1;
                        id
                    }
                },
                contact: uri_text.into_boxed_str(),
                instance: instance_of(na).map(Into::into),
                reg_id: na.param("reg-id").flatten().and_then(|v| v.parse().ok()),
                q: na.param("q").flatten().and_then(parse_q),
                expires_at_ms: now_ms + u64::from(expires) * 1000,
                call_id: input.call_id.into(),
                cseq: input.cseq,
                source: input.source,
                user_agent: input.user_agent.map(|u| truncate_chars(u, 128).into()),
                updated_at_ms: now_ms,
                stored_expires_ms: 0,
                qualify: Qualify::Unknown,
            };
            binding.stored_expires_ms = binding.expires_at_ms;
            earliest = earliest.min(binding.expires_at_ms);
            match pos {
                Some(i) => {
                    let plain = is_plain_refresh(&list[i], &binding);
                    if plain {
                        // Reached the same way: what qualify learned still holds.
                        binding.qualify = list[i].qualify;
                    } else {
                        qualify_now = true;
                    }
                    if list[i].contact != binding.contact {
                        // Same instance, new URI: the old row goes away.
                        changes.push(BindingChange::Remove(key.clone(), list[i].clone()));
                    } else if plain
                        && list[i].stored_expires_ms >= now_ms + u64::from(expires) * 2000 / 3
                    {
                        // A refresh that changes only the expiry, while the stored
                        // copy is still good for two thirds of the new lifetime, is
                        // not written: after a crash the restored binding lives at
                        // least until a phone refreshing at ≤ 2/3 of its interval
                        // has refreshed again. This keeps the database off the
                        // path of frequent re-registrations.
                        binding.stored_expires_ms = list[i].stored_expires_ms;
                        list[i] = binding;
                        continue;
                    }
                    list[i] = binding.clone();
                }
                None => {
                    if list.len() >= self.cfg.max_contacts_per_aor.max(1) {
                        // Past the cap the contact closest to expiry makes room
                        // (phones behind NAT leave stale contacts behind).
                        let (i, _) = list
                            .iter()
                            .enumerate()
                            .min_by_key(|(_, b)| b.expires_at_ms)
                            .expect("list is non-empty: its length reached the cap of at least 1");
                        let old = list.swap_remove(i);
                        self.contacts -= 1;
                        changes.push(BindingChange::Remove(key.clone(), old));
                    }
                    list.reserve_exact(1);
                    list.push(binding.clone());
                    self.contacts += 1;
                    qualify_now = true;
                }
            }
            changes.push(BindingChange::Upsert(key.clone(), binding));
        }

        let contacts = list
            .iter()
            .filter(|b| b.expires_at_ms > now_ms)
            .map(|b| (b.contact.clone(), remaining_s(b.expires_at_ms, now_ms)))
            .collect();
        if list.is_empty() {
            self.aors.remove(&key);
        } else {
            if earliest != u64::MAX {
                schedule(&mut self.expiries, aor, &key, earliest);
            }
            if qualify_now && self.qualify_interval_ms > 0 {
                // A new or moved contact is qualified at once, so its status shows soon.
                schedule_qualify(&mut self.qualifies, aor, &key, now_ms);
            }
        }
        Ok(RegisterOutput { contacts, changes })
    }

    /// Entries in the expiry heap (at most one live per AOR; for tests and metrics).
    pub fn scheduled_len(&self) -> usize {
        self.expiries.len()
    }

    /// The earliest time a binding may expire, for scheduling [`Registrar::sweep`].
    pub fn next_expiry(&self) -> Option<u64> {
        self.expiries.peek().map(|Reverse((t, _))| *t)
    }

    /// Removes every binding whose expiry is at or before `now_ms`.
    pub fn sweep(&mut self, now_ms: u64) -> Vec<BindingChange> {
        let mut changes = Vec::new();
        while let Some(Reverse((t, _))) = self.expiries.peek() {
            if *t > now_ms {
                break;
            }
            let Some(Reverse((t, key))) = self.expiries.pop() else {
                break;
            };
            let Some(aor) = self.aors.get_mut(&key) else {
                continue;
            };
            if aor.scheduled != t {
                continue; // a stale entry: the AOR was rescheduled earlier
            }
            aor.scheduled = u64::MAX;
            let list = &mut aor.list;
            let before = list.len();
            list.retain(|b| {
                let keep = b.expires_at_ms > now_ms;
                if !keep {
                    changes.push(BindingChange::Remove(key.clone(), b.clone()));
                }
                keep
            });
            self.contacts -= before - list.len();
            if list.is_empty() {
                self.aors.remove(&key);
            } else if let Some(next) = list.iter().map(|b| b.expires_at_ms).min() {
                schedule(&mut self.expiries, aor, &key, next);
            }
        }
        changes
    }

    /// Sets the OPTIONS qualify interval (`[sip] qualify_interval_s` × 1000); 0 turns
    /// qualify off. Every AOR is rescheduled at `now_ms` plus a fixed per-AOR offset within
    /// the interval, so a large table is qualified evenly, not in one burst. O(AORs): call
    /// it at start-up and on a config change, not per request.
    pub fn set_qualify_interval(&mut self, now_ms: u64, interval_ms: u64) {
        if interval_ms == self.qualify_interval_ms {
            return;
        }
        self.qualify_interval_ms = interval_ms;
        self.qualifies.clear();
        for (key, aor) in &mut self.aors {
            aor.qualify_at = u64::MAX;
            if interval_ms > 0 {
                let at = now_ms + spread(key, interval_ms);
                schedule_qualify(&mut self.qualifies, aor, key, at);
            }
        }
    }

    /// The qualify interval in force (0 = off).
    pub fn qualify_interval_ms(&self) -> u64 {
        self.qualify_interval_ms
    }

    /// The earliest time [`Registrar::due_qualify`] may return something, for the
    /// shard's timer. May be early (a stale entry), never late.
    pub fn next_qualify(&self) -> Option<u64> {
        self.qualifies.peek().map(|Reverse((t, _))| *t)
    }

    /// The contacts to send OPTIONS to now: every unexpired binding of each AOR whose
    /// qualify time has come. Each AOR is rescheduled one interval later. A new or moved
    /// contact is due at once (its AOR is moved forward by [`Registrar::register`]);
    /// restored ones spread over the first interval. Cost is proportional to what is due
    /// (a heap pop per AOR), nothing when qualify is off.
    pub fn due_qualify(&mut self, now_ms: u64) -> Vec<(AorKey, Binding)> {
        let mut due = Vec::new();
        let interval = self.qualify_interval_ms;
        if interval == 0 {
            return due;
        }
        while let Some(Reverse((t, _))) = self.qualifies.peek() {
            if *t > now_ms {
                break;
            }
            let Some(Reverse((t, key))) = self.qualifies.pop() else {
                break;
            };
            let Some(aor) = self.aors.get_mut(&key) else {
                continue; // the AOR went away
            };
            if aor.qualify_at != t {
                continue; // stale: the AOR was rescheduled
            }
            aor.qualify_at = u64::MAX;
            due.extend(
                aor.list
                    .iter()
                    .filter(|b| b.expires_at_ms > now_ms)
                    .map(|b| (key.clone(), b.clone())),
            );
            schedule_qualify(&mut self.qualifies, aor, &key, now_ms + interval);
        }
        due
    }

    /// Records the outcome of a qualify for the binding `binding_key` (see
    /// [`Binding::key`]) of `aor`. Returns the change to persist when the status changed
    /// (unknown → reachable, reachable → unreachable, …); a new round-trip time with the
    /// same status updates memory only. `None` too when the binding is gone or expired
    /// (the OPTIONS raced with an unregister or the sweep).
    pub fn set_qualify(
        &mut self,
        aor: &AorKey,
        binding_key: &str,
        qualify: Qualify,
        now_ms: u64,
    ) -> Option<BindingChange> {
        let b = self
            .aors
            .get_mut(aor)?
            .list
            .iter_mut()
            .find(|b| b.key() == binding_key)?;
        if b.expires_at_ms <= now_ms {
            return None;
        }
        let changed = b.qualify.differs_in_status(qualify);
        b.qualify = qualify;
        if !changed {
            return None;
        }
        // The whole binding is written, so the stored copy now has the current expiry.
        b.stored_expires_ms = b.expires_at_ms;
        Some(BindingChange::Upsert(aor.clone(), b.clone()))
    }

    /// Drops the bindings of a tenant (tenant deleted) or of one user
    /// (user removed from the tenant file).
    pub fn remove_where(&mut self, mut pred: impl FnMut(&AorKey) -> bool) -> Vec<BindingChange> {
        let keys: Vec<AorKey> = self.aors.keys().filter(|k| pred(k)).cloned().collect();
        let mut changes = Vec::new();
        for key in keys {
            if let Some(aor) = self.aors.remove(&key) {
                self.contacts -= aor.list.len();
                changes.extend(
                    aor.list
                        .into_iter()
                        .map(|b| BindingChange::Remove(key.clone(), b)),
                );
            }
        }
        changes
    }
}

/// Same binding, same everything that matters to reaching the phone: only
/// the expiry, Call-ID/CSeq (which only order REGISTERs) and the
/// User-Agent text may differ. A stored Call-ID that falls behind is
/// harmless: a REGISTER with another Call-ID is always accepted.
fn is_plain_refresh(old: &Binding, new: &Binding) -> bool {
    old.contact == new.contact
        && old.source == new.source
        && old.instance == new.instance
        && old.reg_id == new.reg_id
        && old.q == new.q
}

/// The first `max` characters of `s`.
fn truncate_chars(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((end, _)) => &s[..end],
        None => s,
    }
}

fn remaining_s(expires_at_ms: u64, now_ms: u64) -> u32 {
    u32::try_from(expires_at_ms.saturating_sub(now_ms).div_ceil(1000)).unwrap_or(u32::MAX)
}

fn contact_expires(na: &NameAddr) -> Option<u32> {
    // An unparsable expires param is ignored (the header or default applies);
    // an overlarge one clamps (RFC 4475 scalar02 allows either).
    let v = na.param("expires").flatten()?;
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(
        v.parse::<u64>()
            .map_or(u32::MAX, |n| u32::try_from(n).unwrap_or(u32::MAX)),
    )
}

fn parse_q(v: &str) -> Option<u16> {
    let f: f32 = v.parse().ok()?;
    (0.0..=1.0)
        .contains(&f)
        .then(|| (f * 1000.0).round() as u16)
}

fn instance_of(na: &NameAddr) -> Option<&str> {
    na.param("+sip.instance")
        .flatten()
        .map(|v| v.trim_matches('"'))
}

fn find_binding<'a>(list: &'a [Binding], na: &NameAddr, uri_text: &str) -> Option<&'a Binding> {
    list.iter().find(|b| same_binding(b, na, uri_text))
}

/// RFC 5626: same instance and reg-id is the same binding; otherwise the
/// Contact URIs are compared (RFC 3261 §10.3 step 6 uses §19.1.4 equality;
/// we compare scheme, user, host and port case-insensitively in the host).
fn same_binding(b: &Binding, na: &NameAddr, uri_text: &str) -> bool {
    if let (Some(inst), Some(bi)) = (instance_of(na), b.instance.as_deref()) {
        let reg_id: Option<u32> = na.param("reg-id").flatten().and_then(|v| v.parse().ok());
        return inst == bi && reg_id == b.reg_id;
    }
    &*b.contact == uri_text || Uri::parse(&b.contact).is_ok_and(|u| uri_equivalent(&u, &na.uri))
}

fn uri_equivalent(a: &Uri, b: &Uri) -> bool {
    a.scheme == b.scheme && a.user == b.user && a.host == b.host && a.port == b.port
}

#[cfg(test)]
mod tests;
