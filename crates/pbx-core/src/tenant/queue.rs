//! Call queues (`queues:`): callers wait with music on hold and announcements until
//! an agent is free (issue 5 item 3).
//!
//! ```yaml
//! queues:
//!   - ext: "1100"
//!     name: Sales
//!     strategy: ringall        # or hunt, rrmemory, leastrecent, fewestcalls, random
//!     members: ["1101", "1102"]  # static: always logged in (Asterisk's member =>)
//!     agents: ["1103", "1104"]   # may log in and out with the service codes
//!     member_timeout: 15       # seconds one attempt rings
//!     retry: 5                 # seconds before the next attempt for the caller
//!     wrapup: 10               # seconds an agent rests after a queue call
//!     max_wait: 300            # then on_timeout (0: wait for ever)
//!     on_timeout: voicemail:1101
//!     max_len: 10              # callers waiting at most (0: no limit), then on_full
//!     on_full: announce:closed
//!     join_empty: true         # join when no agent is logged in
//!     leave_empty: false       # leave when the last agent logs out
//!     on_empty: voicemail:1101 # where join_empty/leave_empty send callers
//!     announce_frequency: 30   # seconds between position announcements (0: none)
//!     announce_position: true
//!     announce_holdtime: true
//!     moh: default
//!     service_level: 20        # seconds: the statistics' service level
//! ```

use crate::ids::Ext;
use crate::node::{Fields, Node};
use crate::tenant::{
    ConfigError, Destination, GroupStrategy, destination_of, display_name, ext_of, index,
    parse_strategy, u32_of,
};

/// The keys a queue may have.
pub(crate) const QUEUE_KEYS: &[&str] = &[
    "ext",
    "name",
    "strategy",
    "members",
    "agents",
    "member_timeout",
    "retry",
    "wrapup",
    "max_wait",
    "on_timeout",
    "max_len",
    "on_full",
    "join_empty",
    "leave_empty",
    "on_empty",
    "announce_frequency",
    "announce_position",
    "announce_holdtime",
    "moh",
    "service_level",
];

/// A call queue (`queues`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Queue {
    /// Extension dialed to reach the queue (`queue:EXT`).
    pub ext: Ext,
    /// Display name.
    pub name: String,
    /// In which order free agents ring. Default `ringall`.
    pub strategy: GroupStrategy,
    /// Static members: users always logged in (they may still pause).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<Ext>,
    /// Dynamic agents: users who may log in and out with the service codes; logins
    /// survive a restart.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<Ext>,
    /// Seconds one attempt rings an agent. Default 15.
    pub member_timeout: u32,
    /// Seconds before a caller whose attempt went unanswered is offered again. Default 5.
    pub retry: u32,
    /// Seconds an agent is left alone after a queue call. Default 0.
    pub wrapup: u32,
    /// Seconds a caller waits at most (0: no limit), then `on_timeout`. Default 0.
    pub max_wait: u32,
    /// Where a caller goes after `max_wait` (default: hang up).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_timeout: Option<Destination>,
    /// Callers waiting at most (0: no limit). Default 0.
    pub max_len: u32,
    /// Where a caller goes when the queue is full (default: 486 Busy Here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_full: Option<Destination>,
    /// Whether callers join when no agent is logged in and unpaused. Default true.
    pub join_empty: bool,
    /// Whether waiting callers leave when the last agent logs out or pauses. Default false.
    pub leave_empty: bool,
    /// Where callers refused or sent away for an empty queue go (default: 480).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_empty: Option<Destination>,
    /// Seconds between announcements of position and hold time (0: none). Default 30.
    pub announce_frequency: u32,
    /// Whether announcements say the caller's position. Default true.
    pub announce_position: bool,
    /// Whether announcements say the estimated hold time. Default true.
    pub announce_holdtime: bool,
    /// Music-on-hold class callers hear (default: the tenant's `moh`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moh: Option<String>,
    /// Seconds within which an answer counts for the service level. Default 20.
    pub service_level: u32,
}

impl Queue {
    /// Whether `ext` may ever take the queue's calls (static member or agent).
    pub fn is_member(&self, ext: &str) -> bool {
        self.members
            .iter()
            .chain(&self.agents)
            .any(|m| m.as_str() == ext)
    }

    /// The destinations the queue names, with their keys.
    pub(crate) fn destinations(&self) -> impl Iterator<Item = (&'static str, &Destination)> {
        [
            ("on_timeout", self.on_timeout.as_ref()),
            ("on_full", self.on_full.as_ref()),
            ("on_empty", self.on_empty.as_ref()),
        ]
        .into_iter()
        .filter_map(|(k, d)| Some((k, d?)))
    }
}

fn ext_list(f: &Fields<'_>, key: &str) -> Result<Vec<Ext>, ConfigError> {
    let path = f.at(key);
    let list: Vec<Ext> = f
        .list(key)?
        .iter()
        .enumerate()
        .map(|(i, n): (usize, &Node)| ext_of(n, &index(&path, i)))
        .collect::<Result<_, _>>()?;
    for (i, e) in list.iter().enumerate() {
        if list[..i].contains(e) {
            return Err(ConfigError::invalid(
                index(&path, i),
                format!("\"{e}\" is listed twice"),
            ));
        }
    }
    Ok(list)
}

pub(crate) fn parse_queue(node: &Node, path: &str) -> Result<Queue, ConfigError> {
    let f = Fields::new(node, path, QUEUE_KEYS)?;
    let members = ext_list(&f, "members")?;
    let agents = ext_list(&f, "agents")?;
    if let Some((i, e)) = agents.iter().enumerate().find(|(_, a)| members.contains(a)) {
        return Err(ConfigError::invalid(
            index(&f.at("agents"), i),
            format!("\"{e}\" is already a static member (members are always logged in)"),
        ));
    }
    let moh = f
        .string("moh")?
        .map(|m| {
            if crate::tenant::is_valid_name(m) {
                Ok(m.to_owned())
            } else {
                Err(ConfigError::invalid(
                    f.at("moh"),
                    format!("\"{m}\" is not a music-on-hold class name"),
                ))
            }
        })
        .transpose()?;
    Ok(Queue {
        ext: ext_of(f.require("ext")?, &f.at("ext"))?,
        name: display_name(&f, "name")?,
        strategy: parse_strategy(&f)?,
        members,
        agents,
        member_timeout: u32_of(&f, "member_timeout", 1, 600)?.unwrap_or(15),
        retry: u32_of(&f, "retry", 0, 600)?.unwrap_or(5),
        wrapup: u32_of(&f, "wrapup", 0, 3600)?.unwrap_or(0),
        max_wait: u32_of(&f, "max_wait", 0, 86_400)?.unwrap_or(0),
        on_timeout: destination_of(&f, "on_timeout")?,
        max_len: u32_of(&f, "max_len", 0, 100_000)?.unwrap_or(0),
        on_full: destination_of(&f, "on_full")?,
        join_empty: f.bool_or("join_empty", true)?,
        leave_empty: f.bool_or("leave_empty", false)?,
        on_empty: destination_of(&f, "on_empty")?,
        announce_frequency: u32_of(&f, "announce_frequency", 0, 3600)?.unwrap_or(30),
        announce_position: f.bool_or("announce_position", true)?,
        announce_holdtime: f.bool_or("announce_holdtime", true)?,
        moh,
        service_level: u32_of(&f, "service_level", 1, 3600)?.unwrap_or(20),
    })
}
