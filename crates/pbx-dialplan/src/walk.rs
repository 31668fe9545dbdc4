//! The call-walk simulator behind `vpbx route`: where a call of one user (or of an
//! outside caller) would go, step by step, if nobody answered.
//!
//! [`walk`] is a pure function of the tenant file, the platform file, the dial (who
//! calls, the digits, the moment) and the live state the caller states (who is busy,
//! who is registered). It follows the server's rules, read from `pbx-server`
//! (`Shard::goto`, the group stages in `groups.rs`, `on_invite` and `on_contacts` in
//! `calls.rs`) and `pbx-call` (`Call::unanswered`, `Call::goto`, the hop limits):
//!
//! - **First hop**: a user (extension), a service code (`*97`: the voicemail menu of the
//!   caller), a group or an IVR with an `ext` ([`TenantConfig::internal_number`]), the
//!   tenant's outbound prefix followed by an outside number, or one of the country's
//!   emergency numbers (both through [`decide`]); anything else is `404 Not Found`. An
//!   outside caller (`from` = `+E164`) dials one of the tenant's `numbers`, and the call
//!   takes its `route`.
//! - **user**: busy (in [`Dial::busy`], or already in this very call, see below) →
//!   `on_busy`; not registered → `on_unavailable`; else it rings `ring_timeout` seconds
//!   and, since the simulation assumes nobody answers, → `on_no_answer`. Without the
//!   failover the caller gets 486 (busy) or 480.
//! - **group**: rings in stages ([`GroupStrategy`]: `ringall` one stage with every
//!   member, the others one member at a time in file order — the history-dependent
//!   strategies `rrmemory`, `leastrecent`, `fewestcalls` start in file order when the
//!   group has no history, and `random` shuffles). The caller and members in a call are
//!   skipped, members without a registered phone are passed over; then `on_timeout`, or
//!   486 when every member was busy and none rang, else 480.
//! - **ivr**: plays its prompts `1 + repeat` times, waiting `digit_timeout` after each;
//!   the simulation presses no digit, so → `on_timeout` (without one: goodbye, hang up).
//! - **schedule**: open or closed at [`Dial::at_unix_ms`] → `in_hours` / `after_hours`.
//! - **voicemail** (and `message:`, which the server serves as voicemail today): the
//!   greeting (busy when reached straight from a busy user's `on_busy`), then it records.
//! - **announce**: its prompts, then `then` (a plain prompt name: the prompt, hang up).
//! - **external:NUMBER**: through [`decide`] with the tenant's outbound number.
//! - **queue**, **conference**: not served by this version; the call ends with 480.
//!
//! # Two hop limits, as in the server
//! - A failover from a ringing target to a `user:` counts toward [`MAX_USER_HOPS`]; past
//!   it the caller gets the status of the last outcome (480 / 486).
//! - Every other walk step (a failover to anything but a user, a menu choice, an
//!   announcement's `then`) counts toward [`MAX_WALK_HOPS`]; past it the call ends with
//!   482 Loop Detected. The first hop counts toward neither, nor do schedules (followed
//!   inside one step, at most [`MAX_SCHEDULE_STEPS`] in a row).
//!
//! Seed 000's secretary ↔ group circle therefore ends after 8 user failovers with 480,
//! and a circle without users (two groups naming each other in `on_timeout`) after 20
//! walk steps with 482; a caller that a menu or an announcement answered gets a BYE
//! instead of the status ([`End::status`] is then `None`).
//!
//! # "Already in this call"
//! The server counts a user as in a call from the moment their phone rings until the
//! walk reaches the next `user:` destination. So when a secretary who was just rung is a
//! member of the group the walk goes to next, the group skips them as busy. The
//! simulation does the same and says why (`busy (rung at step 3 of this call)`). The
//! server lets the user rung last go only while it holds more than one user for the
//! call (an internal caller is the first), so with an outside caller the first user
//! rung stays "in the call" to the end; the simulation mirrors that too.
//!
//! ```
//! use pbx_core::TenantConfig;
//! use pbx_dialplan::walk::{Dial, walk};
//!
//! let tenant = TenantConfig::from_yaml_str(r#"
//! domain: office.example
//! users:
//!   - {ext: "1001", name: Reception, secret: s3cret-1001}
//!   - {ext: "2222", name: Secretary, secret: s3cret-2222, on_no_answer: hangup}
//! "#).unwrap();
//! let w = walk(&tenant, None, &Dial::new("1001", "2222", 0)).unwrap();
//! assert_eq!(w.to_string(), "\
//! dial 2222 from 1001 (Reception) at 1970-01-01T00:00:00Z
//! 1. user:2222 (Secretary): rings 20 s
//! 2. no answer → on_no_answer hangup
//! end: hangup — the caller gets 480 Temporarily Unavailable
//! ");
//! ```

use std::fmt;

use pbx_core::tenant::{Group, GroupStrategy, Ivr, TenantConfig, User, is_valid_external_number};
use pbx_core::{Destination, Ext, GroupMember};

use crate::decide::{CallerOutbound, Decision, TenantOutbound, decide};
use crate::platform::Platform;

/// Failovers from one ringing target to a `user:` before the caller gets the status:
/// `pbx-server`'s `CallSettings::max_hops` (8, set in `crates/vpbx/src/settings.rs` and
/// `crates/pbx-server/src/calls.rs`), checked in `pbx-call`'s `Call::unanswered`.
pub const MAX_USER_HOPS: u32 = 8;

/// Walk steps other than `user:` failovers before the call ends with 482:
/// `pbx-call`'s `MAX_WALK_HOPS` (20, `crates/pbx-call/src/call/app.rs`), which
/// `Call::goto` applies as `MAX_WALK_HOPS.max(max_hops)`.
pub const MAX_WALK_HOPS: u32 = 20;

/// Schedules followed in a row within one step: `pbx-server`'s `MAX_SCHEDULE_STEPS`
/// (16, `crates/pbx-server/src/apps.rs`). Apply refuses circles of schedules, so only
/// a chain this long ends here (with 480).
pub const MAX_SCHEDULE_STEPS: u32 = 16;

/// One simulated call: who dials what, when, and the live state assumed.
#[derive(Clone, Copy)]
pub struct Dial<'a> {
    /// The calling user's extension, or an outside caller's `+E164` number.
    pub from: &'a str,
    /// The digits dialed (for an outside caller: one of the tenant's numbers).
    pub digits: &'a str,
    /// The moment of the call, milliseconds since the Unix epoch (schedules).
    pub at_unix_ms: i64,
    /// Users in a call already (`--busy`): they count as busy whatever their
    /// `busy_level`, and groups skip them.
    pub busy: &'a [&'a str],
    /// Whether a user has a registered phone; `None`: everybody has.
    pub registered: Option<&'a dyn Fn(&str) -> bool>,
}

impl fmt::Debug for Dial<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dial")
            .field("from", &self.from)
            .field("digits", &self.digits)
            .field("at_unix_ms", &self.at_unix_ms)
            .field("busy", &self.busy)
            .field("registered", &self.registered.map(|_| "fn"))
            .finish()
    }
}

impl<'a> Dial<'a> {
    /// `from` dials `digits` at `at_unix_ms`; nobody busy, everybody registered.
    pub fn new(from: &'a str, digits: &'a str, at_unix_ms: i64) -> Dial<'a> {
        Dial {
            from,
            digits,
            at_unix_ms,
            busy: &[],
            registered: None,
        }
    }

    /// With these users in a call already.
    pub fn busy(self, busy: &'a [&'a str]) -> Dial<'a> {
        Dial { busy, ..self }
    }

    /// With this registration state.
    pub fn registered(self, registered: &'a dyn Fn(&str) -> bool) -> Dial<'a> {
        Dial {
            registered: Some(registered),
            ..self
        }
    }
}

/// Why a walk cannot be simulated at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WalkError {
    /// `from` is neither a user of the tenant nor an outside number.
    #[error(
        "\"{from}\" is not a user of {domain} (give an extension, or an outside caller as +E164)"
    )]
    UnknownCaller {
        /// As given.
        from: String,
        /// The tenant.
        domain: String,
    },
}

/// One step of a walk: a destination served, or a failover taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The destination this step serves (`None` for a failover line).
    pub destination: Option<Destination>,
    /// What happens, as printed after the step's number.
    pub text: String,
    /// Further lines printed under the step (an IVR's options, an outside call's
    /// decision and failover trunks).
    pub notes: Vec<String>,
}

/// Why a walk ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndReason {
    /// The digits reach nothing (404).
    NotFound,
    /// Busy, unanswered or unavailable with no failover left (486 / 480).
    Unanswered {
        /// `busy`, `no answer`, `unavailable`, `not found`.
        outcome: &'static str,
    },
    /// [`MAX_USER_HOPS`] failovers to users were made; the last outcome's status.
    UserHopLimit,
    /// [`MAX_WALK_HOPS`] walk steps were made (482).
    HopLimit,
    /// The walk reached `hangup`.
    Hangup,
    /// A destination this version cannot serve (a queue, a missing object, a mailbox
    /// that is off).
    CannotServe {
        /// What it was.
        destination: String,
    },
    /// A mailbox records a message.
    Voicemail {
        /// The mailbox.
        mailbox: String,
    },
    /// A menu ran out of repeats without `on_timeout`: goodbye.
    MenuGoodbye,
    /// An announcement played, then the call was hung up.
    Announced,
    /// A service code's application runs.
    ServiceCode {
        /// `voicemail menu (*97)`.
        app: String,
    },
    /// The call leaves through a trunk.
    External {
        /// The first trunk.
        trunk: String,
    },
    /// An outside call is denied (403).
    Denied,
    /// The caller waits in a queue until an agent answers.
    Queued {
        /// `queue:1500`.
        queue: String,
    },
}

/// How a walk ends: the reason, and the final status the caller gets (`None` when an
/// application answered the caller, who then gets a BYE, or the call went on through a
/// trunk or into an application).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct End {
    /// Why.
    pub reason: EndReason,
    /// The SIP status of the caller's INVITE, when it gets one.
    pub status: Option<u16>,
    /// The destination that answered the caller (an IVR, an announcement, …), if any.
    pub answered_by: Option<Destination>,
}

/// A simulated walk: a header line, the steps, the end. `Display` is what `vpbx route`
/// prints, one line per step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walk {
    /// `dial 1100 from 1001 (Reception) at 2026-11-26T07:00:00Z`.
    pub header: String,
    /// In order.
    pub steps: Vec<Step>,
    /// The end.
    pub end: End,
    /// The outside call's decision, when the walk reached one.
    pub decision: Option<Decision>,
}

impl Walk {
    /// The destinations served, in order (failover lines left out).
    pub fn destinations(&self) -> Vec<String> {
        self.steps
            .iter()
            .filter_map(|s| s.destination.as_ref().map(Destination::to_string))
            .collect()
    }
}

fn status_text(code: u16) -> String {
    let reason = match code {
        403 => "Forbidden",
        404 => "Not Found",
        480 => "Temporarily Unavailable",
        482 => "Loop Detected",
        486 => "Busy Here",
        _ => "",
    };
    format!("{code} {reason}").trim_end().to_owned()
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match &self.reason {
            EndReason::NotFound => "nothing has this number".to_owned(),
            EndReason::Unanswered { outcome } => format!("{outcome}, no failover"),
            EndReason::UserHopLimit => {
                format!("user failover limit ({MAX_USER_HOPS} hops to users)")
            }
            EndReason::HopLimit => format!("hop limit ({MAX_WALK_HOPS} hops)"),
            EndReason::Hangup => "hangup".to_owned(),
            EndReason::CannotServe { destination } => {
                format!("{destination} cannot be served")
            }
            EndReason::Voicemail { mailbox } => {
                format!("the caller leaves a message in {mailbox}")
            }
            EndReason::MenuGoodbye => "the menu says goodbye".to_owned(),
            EndReason::Announced => "the announcement ends".to_owned(),
            EndReason::ServiceCode { app } => format!("{app} runs"),
            EndReason::External { trunk } => format!("the call leaves through trunk {trunk}"),
            EndReason::Denied => "denied".to_owned(),
            EndReason::Queued { queue } => {
                format!("the caller waits in {queue} until an agent answers")
            }
        };
        let goes_on = matches!(
            self.reason,
            EndReason::Voicemail { .. }
                | EndReason::ServiceCode { .. }
                | EndReason::External { .. }
                | EndReason::Queued { .. }
        );
        match (self.status, &self.answered_by) {
            (Some(404), _) if self.reason == EndReason::NotFound => f.write_str("404 Not Found"),
            (Some(code), _) => write!(f, "{what} — the caller gets {}", status_text(code)),
            (None, Some(by)) if !goes_on => {
                write!(f, "{what} — the caller, answered by {by}, is hung up")
            }
            (None, _) => f.write_str(&what),
        }
    }
}

impl fmt::Display for Walk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.header)?;
        for (i, s) in self.steps.iter().enumerate() {
            writeln!(f, "{}. {}", i + 1, s.text)?;
            for n in &s.notes {
                writeln!(f, "   {n}")?;
            }
        }
        writeln!(f, "end: {}", self.end)
    }
}

/// Simulates `dial` in `tenant` (with the operator's `platform`, if one was applied),
/// assuming nobody answers. Errors only when `dial.from` is no caller of the tenant.
pub fn walk(
    tenant: &TenantConfig,
    platform: Option<&Platform>,
    dial: &Dial<'_>,
) -> Result<Walk, WalkError> {
    let caller = user_by_name(tenant, dial.from);
    let outside =
        caller.is_none() && dial.from.starts_with('+') && is_valid_external_number(dial.from);
    if caller.is_none() && !outside {
        return Err(WalkError::UnknownCaller {
            from: dial.from.to_owned(),
            domain: tenant.domain.clone(),
        });
    }
    let who = match caller {
        Some(u) if !u.name.is_empty() => format!("{} ({})", u.ext, u.name),
        Some(u) => u.ext.to_string(),
        None => dial.from.to_owned(),
    };
    let mut sim = Sim {
        t: tenant,
        platform,
        dial,
        caller: caller.map(|u| u.ext.as_str()),
        steps: Vec::new(),
        hops: 0,
        walked: 0,
        held: caller.map(|u| (u.ext.as_str(), 0)).into_iter().collect(),
        answered_by: None,
        busy_failover: false,
        decision: None,
    };
    let end = sim.run();
    Ok(Walk {
        header: format!(
            "dial {} from {who} at {}",
            dial.digits,
            rfc3339_utc(dial.at_unix_ms)
        ),
        steps: sim.steps,
        end,
        decision: sim.decision,
    })
}

/// The user with extension `name`, else with digest username `name` (the server's
/// `canonical_ext`: a phone may dial a colleague's auth user).
fn user_by_name<'a>(t: &'a TenantConfig, name: &str) -> Option<&'a User> {
    t.user(name)
        .or_else(|| t.users.iter().find(|u| u.auth_user() == name))
}

/// What a ringing target fails over to, and the keys those are under.
struct Failovers {
    on_busy: Option<Destination>,
    on_no_answer: Option<Destination>,
    on_unavailable: Option<Destination>,
    group: bool,
}

impl Failovers {
    fn of_user(u: &User) -> Failovers {
        Failovers {
            on_busy: u.on_busy.clone(),
            on_no_answer: u.on_no_answer.clone(),
            on_unavailable: u.on_unavailable.clone(),
            group: false,
        }
    }

    fn of_group(g: &Group) -> Failovers {
        Failovers {
            on_busy: g.on_timeout.clone(),
            on_no_answer: g.on_timeout.clone(),
            on_unavailable: g.on_timeout.clone(),
            group: true,
        }
    }
}

/// How ringing ended (`pbx-call`'s `Outcome`, the cases a walk meets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Busy,
    NoAnswer,
    Unavailable,
    NotFound,
}

impl Outcome {
    fn status(self) -> u16 {
        match self {
            Outcome::Busy => 486,
            Outcome::NoAnswer | Outcome::Unavailable => 480,
            Outcome::NotFound => 404,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Outcome::Busy => "busy",
            Outcome::NoAnswer => "no answer",
            Outcome::Unavailable => "unavailable",
            Outcome::NotFound => "not found",
        }
    }
}

/// What happens next.
enum Flow {
    /// Ringing ended (`Call::unanswered`).
    Unanswered(Outcome, Option<Failovers>),
    /// An application chose a destination (`Action::Goto` → `Call::goto`).
    AppGoto(Destination),
    /// The server serves a destination (`Shard::goto`).
    Serve(Destination),
    /// A failover to a user (`Effect::Route`).
    RouteUser(Ext),
    End(End),
}

struct Sim<'a> {
    t: &'a TenantConfig,
    platform: Option<&'a Platform>,
    dial: &'a Dial<'a>,
    caller: Option<&'a str>,
    steps: Vec<Step>,
    /// Failovers to users (`Call::hops`).
    hops: u32,
    /// Other walk steps (`Call::walk`).
    walked: u32,
    /// Users this call counts as in a call, with the step that rang them (0: the
    /// caller): the server's `Slot::users`.
    held: Vec<(&'a str, usize)>,
    answered_by: Option<Destination>,
    busy_failover: bool,
    decision: Option<Decision>,
}

impl<'a> Sim<'a> {
    fn step(&mut self, destination: Option<&Destination>, text: String) {
        self.steps.push(Step {
            destination: destination.cloned(),
            text,
            notes: Vec::new(),
        });
    }

    fn note(&mut self, line: String) {
        if let Some(s) = self.steps.last_mut() {
            s.notes.push(line);
        }
    }

    fn answer(&mut self, by: &Destination) {
        if self.answered_by.is_none() {
            self.answered_by = Some(by.clone());
        }
    }

    fn end(&self, reason: EndReason, status: Option<u16>) -> Flow {
        // An answered caller gets a BYE, never a final status.
        let status = if self.answered_by.is_some() {
            None
        } else {
            status
        };
        Flow::End(End {
            reason,
            status,
            answered_by: self.answered_by.clone(),
        })
    }

    fn run(&mut self) -> End {
        let mut flow = self.first_hop();
        loop {
            flow = match flow {
                Flow::End(end) => return end,
                Flow::Unanswered(outcome, failovers) => self.unanswered(outcome, failovers),
                Flow::AppGoto(d) => self.goto(d, false),
                Flow::Serve(d) => self.serve(d),
                Flow::RouteUser(ext) => {
                    self.release_last();
                    self.ring_user(&ext)
                }
            };
        }
    }

    /// `on_invite`: what the dialed digits reach.
    fn first_hop(&mut self) -> Flow {
        let digits = self.dial.digits;
        let t = self.t;
        let Some(caller) = self.caller else {
            // An outside caller reaches the route of one of the tenant's numbers.
            let bare = digits.strip_prefix('+').unwrap_or(digits);
            return match t
                .numbers
                .iter()
                .find(|n| n.number.strip_prefix('+').unwrap_or(&n.number) == bare)
            {
                Some(n) => {
                    let route = n.route.clone();
                    self.step(None, format!("number {} → route {route}", n.number));
                    Flow::Serve(route)
                }
                None => self.end(EndReason::NotFound, Some(404)),
            };
        };
        if let Some(u) = user_by_name(t, digits) {
            return self.ring_user(&u.ext);
        }
        if digits == t.service_codes.voicemail {
            let app = format!("voicemail menu ({digits})");
            self.steps.push(Step {
                destination: None,
                text: format!("{app}: asks for {caller}'s PIN, then opens mailbox {caller}"),
                notes: Vec::new(),
            });
            return self.end(EndReason::ServiceCode { app }, None);
        }
        if let Some(code) = t.service_codes.pickup_of(digits) {
            let app = format!("call pickup ({digits})");
            let group = user_by_name(t, caller).and_then(|u| u.pickup_group.as_deref());
            let text = match (&code, group) {
                (_, None) => format!(
                    "{app}: {caller} is in no pickup group, so nothing can be picked up (480)"
                ),
                (pbx_core::PickupCode::Group, Some(g)) => format!(
                    "{app}: answers the call that has rung longest for another user of pickup group {g} (480 when none rings)"
                ),
                (pbx_core::PickupCode::Directed(ext), Some(g)) => {
                    match user_by_name(t, ext).filter(|u| u.ext.as_str() != caller) {
                        Some(u) if u.pickup_group.as_deref() == Some(g) => format!(
                            "{app}: answers the call ringing {} ({}) of pickup group {g} (480 when none rings)",
                            u.ext, u.name
                        ),
                        _ => format!(
                            "{app}: {ext} is no other user of pickup group {g}, so nothing can be picked up (480)"
                        ),
                    }
                }
            };
            self.steps.push(Step {
                destination: None,
                text,
                notes: Vec::new(),
            });
            return self.end(EndReason::ServiceCode { app }, None);
        }
        if let Some(d) = t.internal_number(digits) {
            return Flow::Serve(d);
        }
        if let Some(out) = crate::outside_dial(t, digits) {
            let text = match out.prefix {
                Some(p) => format!(
                    "outside number {} (after the outbound prefix {p})",
                    out.digits
                ),
                None => format!("emergency number {}", out.digits),
            };
            return self.external(out.digits, text);
        }
        self.end(EndReason::NotFound, Some(404))
    }

    /// An outside call: the decision, then the end of the walk.
    fn external(&mut self, digits: &str, text: String) -> Flow {
        let t = self.t;
        let decision = self.platform.map(|p| {
            let tenant = TenantOutbound {
                domain: &t.domain,
                country: t.country.as_deref(),
                number: t.outbound.as_ref().and_then(|o| o.number.as_deref()),
            };
            let user = self.caller.and_then(|c| user_by_name(t, c));
            let classes = user.and_then(crate::user_classes);
            let caller = CallerOutbound {
                classes: classes.as_deref(),
                number: user.and_then(|u| u.outbound_number.as_deref()),
            };
            decide(p, &tenant, &caller, digits)
        });
        let dest = Destination::External(digits.to_owned());
        self.step(Some(&dest), text);
        let flow = match &decision {
            None => {
                self.note("denied: no platform file applied".to_owned());
                self.end(EndReason::Denied, Some(403))
            }
            Some(d @ Decision::Denied(_)) => {
                self.note(d.to_string());
                self.end(EndReason::Denied, Some(403))
            }
            Some(d @ Decision::Allowed(r)) => {
                self.note(d.to_string());
                for route in r.routes.iter().skip(1) {
                    self.note(format!(
                        "failover: trunk={} digits={}",
                        route.trunk, route.digits
                    ));
                }
                match r.routes.first() {
                    Some(first) => {
                        let trunk = first.trunk.clone();
                        Flow::End(End {
                            reason: EndReason::External { trunk },
                            status: None,
                            answered_by: self.answered_by.clone(),
                        })
                    }
                    None => self.end(EndReason::Denied, Some(403)),
                }
            }
        };
        self.decision = decision;
        flow
    }

    /// `Call::unanswered`: the failover for `outcome`, or the caller's status.
    fn unanswered(&mut self, outcome: Outcome, failovers: Option<Failovers>) -> Flow {
        let (key, next) = match (&failovers, outcome) {
            (Some(f), Outcome::Busy) => (
                if f.group { "on_timeout" } else { "on_busy" },
                f.on_busy.clone(),
            ),
            (Some(f), Outcome::NoAnswer) => (
                if f.group {
                    "on_timeout"
                } else {
                    "on_no_answer"
                },
                f.on_no_answer.clone(),
            ),
            (Some(f), Outcome::Unavailable) => (
                if f.group {
                    "on_timeout"
                } else {
                    "on_unavailable"
                },
                f.on_unavailable.clone(),
            ),
            _ => ("", None),
        };
        let label = outcome.label();
        match next {
            Some(Destination::User(ext)) if self.hops < MAX_USER_HOPS => {
                self.hops += 1;
                self.step(None, format!("{label} → {key} user:{ext}"));
                Flow::RouteUser(ext)
            }
            Some(Destination::User(ext)) => {
                self.step(
                    None,
                    format!(
                        "{label} → {key} user:{ext}, but the call already failed over to users {MAX_USER_HOPS} times"
                    ),
                );
                self.end(EndReason::UserHopLimit, Some(outcome.status()))
            }
            Some(d) => {
                self.step(None, format!("{label} → {key} {d}"));
                self.goto(d, outcome == Outcome::Busy)
            }
            None => self.end(
                EndReason::Unanswered { outcome: label },
                Some(outcome.status()),
            ),
        }
    }

    /// `Call::goto`: `hangup`, the hop limit, or on to the destination.
    fn goto(&mut self, d: Destination, busy_failover: bool) -> Flow {
        if d == Destination::Hangup {
            return self.end(EndReason::Hangup, Some(480));
        }
        if self.walked >= MAX_WALK_HOPS {
            return self.end(EndReason::HopLimit, Some(482));
        }
        self.walked += 1;
        self.busy_failover = busy_failover;
        Flow::Serve(d)
    }

    /// `Call::goto_failed`: the destination cannot be served.
    fn cannot_serve(&mut self, d: &Destination, why: &str) -> Flow {
        self.step(Some(d), format!("{d}: {why}"));
        self.end(
            EndReason::CannotServe {
                destination: d.to_string(),
            },
            Some(480),
        )
    }

    /// The server no longer counts the user rung last as in this call once the walk
    /// moves on to another destination (`Shard::release_rung`); the caller stays.
    fn release_last(&mut self) {
        if let Some(pos) = self.held.iter().rposition(|&(_, step)| step > 0) {
            self.held.remove(pos);
        }
    }

    /// `Shard::goto`: schedules, then the destination.
    fn serve(&mut self, mut d: Destination) -> Flow {
        let t = self.t;
        self.release_last();
        for _ in 0..MAX_SCHEDULE_STEPS {
            let Destination::Schedule(name) = &d else {
                break;
            };
            let Some(s) = t.schedule(name) else {
                return self.cannot_serve(&d, "no such schedule");
            };
            let open = s.is_open_unix_ms(self.dial.at_unix_ms);
            let (state, key, next) = if open {
                ("open", "in_hours", s.in_hours.clone())
            } else {
                ("closed", "after_hours", s.after_hours.clone())
            };
            self.step(
                Some(&d),
                format!("{d} ({}): {state} → {key} {next}", s.timezone),
            );
            d = next;
        }
        match &d {
            Destination::User(ext) => {
                self.release_last();
                match t.user(ext.as_str()) {
                    Some(u) => self.ring_user(&u.ext),
                    None => self.cannot_serve(&d, "no such user"),
                }
            }
            Destination::Group(ext) => match t.group(ext.as_str()) {
                Some(g) => self.ring_group(g),
                None => self.cannot_serve(&d, "no such group"),
            },
            Destination::Ivr(name) => match t.ivr(name) {
                Some(ivr) => self.menu(ivr, &d),
                None => self.cannot_serve(&d, "no such menu"),
            },
            Destination::Announce(name) => {
                self.answer(&d);
                match t.announce(name) {
                    Some(a) => {
                        let then = a.then.clone();
                        self.step(
                            Some(&d),
                            format!("{d}: plays {}, then {then}", a.prompts.join(", ")),
                        );
                        Flow::AppGoto(then)
                    }
                    None => {
                        self.step(
                            Some(&d),
                            format!("{d}: plays the prompt {name}, then hangs up"),
                        );
                        self.end(EndReason::Announced, None)
                    }
                }
            }
            Destination::Voicemail(ext) | Destination::Message(ext) => {
                self.deposit(&d, ext.as_str())
            }
            Destination::External(number) => {
                let text = format!("{d}: an outside call as the tenant's outbound number");
                let number = number.clone();
                self.external(&number, text)
            }
            Destination::Hangup => {
                self.step(Some(&d), "hangup".to_owned());
                self.end(EndReason::Hangup, Some(480))
            }
            Destination::Schedule(_) => self.cannot_serve(
                &d,
                &format!("more than {MAX_SCHEDULE_STEPS} schedules in a row"),
            ),
            Destination::Queue(ext) => match t.queue(ext.as_str()) {
                Some(q) => self.queue(q, &d),
                None => self.cannot_serve(&d, "no such queue"),
            },
            _ => self.cannot_serve(&d, "this version serves no conferences"),
        }
    }

    /// Why the server would count `ext` as in a call, if it does.
    fn in_call(&self, ext: &str) -> Option<String> {
        if self.dial.busy.contains(&ext) {
            return Some("busy (given as busy)".to_owned());
        }
        self.held
            .iter()
            .find(|(e, _)| *e == ext)
            .map(|&(_, step)| match step {
                0 => "busy (the caller)".to_owned(),
                n => format!("busy (rung at step {n} of this call)"),
            })
    }

    fn is_registered(&self, ext: &str) -> bool {
        self.dial.registered.is_none_or(|f| f(ext))
    }

    /// `lookup` + `on_contacts`: busy, not registered, or rings.
    fn ring_user(&mut self, ext: &Ext) -> Flow {
        let t = self.t;
        let Some(u) = t.user(ext.as_str()) else {
            let d = Destination::User(ext.clone());
            self.step(Some(&d), format!("{d}: no such user"));
            return Flow::Unanswered(Outcome::NotFound, None);
        };
        let ext: &'a str = u.ext.as_str();
        let d = Destination::User(u.ext.clone());
        let name = if u.name.is_empty() {
            String::new()
        } else {
            format!(" ({})", u.name)
        };
        let in_use =
            u32::try_from(self.held.iter().filter(|(e, _)| *e == ext).count()).unwrap_or(u32::MAX);
        let listed = self.dial.busy.contains(&ext);
        let busy = listed || (u.busy_level > 0 && in_use >= u.busy_level) || in_use >= u.call_limit;
        if busy {
            let why = self.in_call(ext).unwrap_or_else(|| "busy".to_owned());
            self.step(Some(&d), format!("{d}{name}: {why}"));
            return Flow::Unanswered(Outcome::Busy, Some(Failovers::of_user(u)));
        }
        if !self.is_registered(ext) {
            self.step(Some(&d), format!("{d}{name}: not registered"));
            return Flow::Unanswered(Outcome::Unavailable, Some(Failovers::of_user(u)));
        }
        self.step(
            Some(&d),
            format!("{d}{name}: rings {} s", u.ring_timeout.max(1)),
        );
        let step = self.steps.len();
        self.held.push((u.ext.as_str(), step));
        Flow::Unanswered(Outcome::NoAnswer, Some(Failovers::of_user(u)))
    }

    /// `start_queue`: the caller is answered and waits; who rings depends on who is
    /// logged in and free at the time, so the walk lists the agents and follows
    /// `on_timeout` when the queue has a `max_wait`.
    fn queue(&mut self, q: &'a pbx_core::tenant::Queue, d: &Destination) -> Flow {
        self.answer(d);
        let list =
            |v: &[pbx_core::Ext]| v.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(", ");
        let mut text = format!(
            "{d} ({}, {}): the caller is answered and waits with music",
            q.name, q.strategy
        );
        if q.announce_frequency > 0 {
            text.push_str(&format!(", announcements every {} s", q.announce_frequency));
        }
        let who = match (q.members.is_empty(), q.agents.is_empty()) {
            (true, true) => "; the queue has no members".to_owned(),
            (false, true) => format!("; members {} ring as they are free", list(&q.members)),
            (true, false) => format!("; agents {} ring when logged in and free", list(&q.agents)),
            (false, false) => format!(
                "; members {} and agents {} (when logged in) ring as they are free",
                list(&q.members),
                list(&q.agents)
            ),
        };
        text.push_str(&who);
        text.push_str(&format!(
            " ({} s per attempt, {} s between attempts, {} s wrap-up)",
            q.member_timeout, q.retry, q.wrapup
        ));
        self.step(Some(d), text);
        if q.max_wait > 0 {
            let next = q.on_timeout.clone().unwrap_or(Destination::Hangup);
            self.step(
                None,
                format!("{d}: after {} s without an agent → {next}", q.max_wait),
            );
            return Flow::AppGoto(next);
        }
        self.end(
            EndReason::Queued {
                queue: d.to_string(),
            },
            None,
        )
    }

    /// `start_group` + `next_stage` + `finish_group`.
    fn ring_group(&mut self, g: &'a Group) -> Flow {
        let d = Destination::Group(g.ext.clone());
        let secs = g.ring_timeout.max(1);
        let stages: Vec<Vec<&GroupMember>> = if g.strategy.is_sequential() {
            g.members.iter().map(|m| vec![m]).collect()
        } else {
            vec![g.members.iter().collect()]
        };
        let order = match g.strategy {
            GroupStrategy::Ringall => String::new(),
            GroupStrategy::Hunt => ", file order".to_owned(),
            GroupStrategy::Random => ", random order".to_owned(),
            _ => ", file order when the group has no history; the order depends on history"
                .to_owned(),
        };
        let each = if g.strategy.is_sequential() {
            " each"
        } else {
            ""
        };
        let head = format!("{d} ({}, {} {secs} s{each}{order})", g.name, g.strategy);
        let mut any_busy = false;
        let mut rang = false;
        let mut first = true;
        if stages.is_empty() {
            self.step(Some(&d), format!("{head}: no members"));
        }
        for stage in stages {
            let mut ring: Vec<String> = Vec::new();
            let mut skipped: Vec<String> = Vec::new();
            for member in stage {
                let m = match member {
                    GroupMember::User(e) => e.as_str(),
                    // Rung through a trunk by the tenant's outbound rules (`vpbx route` to
                    // the number shows them).
                    GroupMember::External(_) => {
                        ring.push(format!("{member} (through a trunk)"));
                        continue;
                    }
                };
                if self.caller == Some(m) {
                    skipped.push(format!("{m} (the caller)"));
                } else if let Some(why) = self.in_call(m) {
                    any_busy = true;
                    skipped.push(format!("{m} {why}"));
                } else if !self.is_registered(m) {
                    skipped.push(format!("{m} (not registered)"));
                } else {
                    ring.push(m.to_owned());
                }
            }
            let mut text = if ring.is_empty() {
                "rings nobody".to_owned()
            } else {
                rang = true;
                if g.strategy.is_sequential() {
                    format!("rings {} for {secs} s", ring.join(", "))
                } else {
                    format!("rings {}", ring.join(", "))
                }
            };
            if !skipped.is_empty() {
                text = format!("{text}; skips {}", skipped.join(", "));
            }
            if first || !g.strategy.is_sequential() {
                self.step(Some(&d), format!("{head}: {text}"));
                first = false;
            } else {
                self.step(None, format!("{d}: {text}"));
            }
        }
        let outcome = if rang {
            Outcome::NoAnswer
        } else if any_busy {
            Outcome::Busy
        } else {
            Outcome::Unavailable
        };
        Flow::Unanswered(outcome, Some(Failovers::of_group(g)))
    }

    /// A voice menu with no digit pressed.
    fn menu(&mut self, ivr: &Ivr, d: &Destination) -> Flow {
        self.answer(d);
        let plays = ivr.repeat.saturating_add(1);
        let times = if plays == 1 {
            "once".to_owned()
        } else {
            format!("{plays} times")
        };
        let direct = if ivr.direct_dial {
            "; extensions may be dialed"
        } else {
            ""
        };
        let prompts = if ivr.prompts.is_empty() {
            "nothing".to_owned()
        } else {
            ivr.prompts.join(", ")
        };
        self.step(
            Some(d),
            format!(
                "{d}: plays {prompts} ({times}, repeat {}), waiting {} s for a digit after each{direct}",
                ivr.repeat, ivr.digit_timeout
            ),
        );
        if !ivr.options.is_empty() {
            let options: Vec<String> = ivr
                .options
                .iter()
                .map(|(k, v)| format!("{k} → {v}"))
                .collect();
            self.note(format!("options: {}", options.join(", ")));
        }
        match &ivr.on_timeout {
            Some(next) => {
                let next = next.clone();
                self.step(None, format!("no digit → on_timeout {next}"));
                Flow::AppGoto(next)
            }
            None => {
                self.step(None, "no digit, no on_timeout: says goodbye".to_owned());
                self.end(EndReason::MenuGoodbye, None)
            }
        }
    }

    /// `voicemail:` and `message:` (the server leaves a message in both).
    fn deposit(&mut self, d: &Destination, ext: &str) -> Flow {
        let t = self.t;
        let Some(u) = t.user(ext).filter(|u| u.voicemail.enabled) else {
            return self.cannot_serve(d, "no mailbox (the user has voicemail off)");
        };
        self.answer(d);
        let (kind, custom) = if self.busy_failover {
            ("busy", &u.voicemail.busy_greeting)
        } else {
            ("unavailable", &u.voicemail.unavailable_greeting)
        };
        let greeting = match custom {
            Some(p) => format!("greeting {kind}: {p}"),
            None => format!("greeting {kind}"),
        };
        let served_as = if matches!(d, Destination::Message(_)) {
            format!(" served as voicemail:{ext}")
        } else {
            String::new()
        };
        let name = if u.name.is_empty() {
            String::new()
        } else {
            format!("{}, ", u.name)
        };
        if t.limits.storage_mb == 0 {
            self.step(
                Some(d),
                format!("{d}{served_as} ({name}{greeting}): mailbox full (limits.storage_mb is 0), says so and hangs up"),
            );
        } else {
            self.step(
                Some(d),
                format!(
                    "{d}{served_as} ({name}{greeting}): records up to {} s",
                    u.voicemail.max_message_s
                ),
            );
        }
        self.end(
            EndReason::Voicemail {
                mailbox: ext.to_owned(),
            },
            None,
        )
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` (milliseconds dropped).
fn rfc3339_utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || format!("{ms} ms"),
        |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_print_as_utc_rfc3339() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(1_795_676_400_000), "2026-11-26T07:00:00Z");
        assert_eq!(rfc3339_utc(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(-1000), "1969-12-31T23:59:59Z");
    }
}
