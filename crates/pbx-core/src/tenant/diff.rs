//! What `vpbx tenant apply` prints before applying: one line per added, removed or
//! changed object. Secrets and PINs are compared but never printed.

use std::collections::BTreeMap;
use std::fmt;

use super::{
    Announce, Destination, DigestAlgorithm, Group, Ivr, NumberRoute, Outbound, Queue, Schedule,
    TenantConfig, TimeRange, User,
};
use crate::net::NetworkList;

/// One line of a tenant diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiffLine {
    /// `+ user 1103 (Sales 3)`.
    Added {
        /// `user 1103`.
        what: String,
        /// `Sales 3`, shown in parentheses.
        summary: Option<String>,
    },
    /// `- user 1102`.
    Removed {
        /// `user 1102`.
        what: String,
    },
    /// `~ user 1101: secret changed, name "A" → "B"` or `~ options.recording: false → true`.
    Changed {
        /// `user 1101` or `options.recording`.
        what: String,
        /// `secret changed`, `name "A" → "B"`, or for a single setting `false → true`.
        changes: Vec<String>,
    },
}

impl fmt::Display for DiffLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiffLine::Added {
                what,
                summary: Some(s),
            } => write!(f, "+ {what} ({s})"),
            DiffLine::Added {
                what,
                summary: None,
            } => write!(f, "+ {what}"),
            DiffLine::Removed { what } => write!(f, "- {what}"),
            DiffLine::Changed { what, changes } => write!(f, "~ {what}: {}", changes.join(", ")),
        }
    }
}

/// A field value as the diff sees it: shown, or a secret (compared, never shown).
#[derive(Debug, PartialEq)]
pub enum Val<'a> {
    Shown(String),
    Hidden(Option<&'a str>),
}

fn q(s: &str) -> String {
    format!("\"{s}\"")
}
fn opt_q(s: &Option<String>) -> String {
    s.as_deref().map_or_else(|| "none".to_owned(), q)
}
fn opt<T: fmt::Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "none".to_owned(), ToString::to_string)
}
fn list<T: fmt::Display>(items: &[T]) -> String {
    let inner: Vec<String> = items.iter().map(ToString::to_string).collect();
    format!("[{}]", inner.join(", "))
}
fn algs(a: &Option<Vec<DigestAlgorithm>>) -> String {
    a.as_deref().map_or_else(|| "none".to_owned(), list)
}
fn nets(n: &Option<NetworkList>) -> String {
    n.as_ref()
        .map_or_else(|| "none".to_owned(), ToString::to_string)
}
fn menu(m: &BTreeMap<String, Destination>) -> String {
    let inner: Vec<String> = m.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    format!("{{{}}}", inner.join(", "))
}
fn s<T: fmt::Display>(v: T) -> Val<'static> {
    Val::Shown(v.to_string())
}

fn user_fields(u: &User) -> Vec<(&'static str, Val<'_>)> {
    vec![
        ("name", Val::Shown(q(&u.name))),
        ("secret", Val::Hidden(u.secret.as_deref())),
        ("email", Val::Shown(opt_q(&u.email))),
        ("auth_user", Val::Shown(opt_q(&u.auth_user))),
        ("digest_algorithms", Val::Shown(algs(&u.digest_algorithms))),
        ("nat", s(u.nat)),
        ("ring_timeout", s(u.ring_timeout)),
        ("busy_level", s(u.busy_level)),
        ("call_limit", s(u.call_limit)),
        ("on_busy", Val::Shown(opt(&u.on_busy))),
        ("on_no_answer", Val::Shown(opt(&u.on_no_answer))),
        ("on_unavailable", Val::Shown(opt(&u.on_unavailable))),
        ("voicemail.enabled", s(u.voicemail.enabled)),
        (
            "voicemail.delete_after_email",
            s(u.voicemail.delete_after_email),
        ),
        ("voicemail.format", s(u.voicemail.format)),
        ("voicemail.max_message_s", s(u.voicemail.max_message_s)),
        (
            "voicemail.busy_greeting",
            Val::Shown(opt_q(&u.voicemail.busy_greeting)),
        ),
        (
            "voicemail.unavailable_greeting",
            Val::Shown(opt_q(&u.voicemail.unavailable_greeting)),
        ),
        (
            "voicemail.unsolicited_mwi",
            Val::Shown(opt(&u.voicemail.unsolicited_mwi)),
        ),
        ("pin", Val::Hidden(u.pin.as_deref())),
        ("recording", s(u.recording)),
        (
            "outbound",
            Val::Shown(
                u.outbound
                    .as_ref()
                    .map_or_else(|| "all".to_owned(), |c| format!("[{}]", c.join(", "))),
            ),
        ),
        ("outbound_number", Val::Shown(opt_q(&u.outbound_number))),
        ("max_external_calls", Val::Shown(opt(&u.max_external_calls))),
        (
            "external_calls_per_hour",
            Val::Shown(opt(&u.external_calls_per_hour)),
        ),
        ("pickup_group", Val::Shown(opt_q(&u.pickup_group))),
    ]
}

fn group_fields(g: &Group) -> Vec<(&'static str, Val<'_>)> {
    vec![
        ("name", Val::Shown(q(&g.name))),
        ("strategy", s(g.strategy)),
        ("members", Val::Shown(list(&g.members))),
        ("ring_timeout", s(g.ring_timeout)),
        ("on_timeout", Val::Shown(opt(&g.on_timeout))),
    ]
}

fn queue_fields(x: &Queue) -> Vec<(&'static str, Val<'_>)> {
    vec![
        ("name", Val::Shown(q(&x.name))),
        ("strategy", s(x.strategy)),
        ("members", Val::Shown(list(&x.members))),
        ("agents", Val::Shown(list(&x.agents))),
        ("member_timeout", s(x.member_timeout)),
        ("retry", s(x.retry)),
        ("wrapup", s(x.wrapup)),
        ("max_wait", s(x.max_wait)),
        ("on_timeout", Val::Shown(opt(&x.on_timeout))),
        ("max_len", s(x.max_len)),
        ("on_full", Val::Shown(opt(&x.on_full))),
        ("join_empty", s(x.join_empty)),
        ("leave_empty", s(x.leave_empty)),
        ("on_empty", Val::Shown(opt(&x.on_empty))),
        ("announce_frequency", s(x.announce_frequency)),
        ("announce_position", s(x.announce_position)),
        ("announce_holdtime", s(x.announce_holdtime)),
        ("moh", Val::Shown(opt(&x.moh))),
        ("service_level", s(x.service_level)),
    ]
}

fn ivr_fields(i: &Ivr) -> Vec<(&'static str, Val<'_>)> {
    vec![
        ("ext", Val::Shown(opt(&i.ext))),
        ("prompts", Val::Shown(list(&i.prompts))),
        ("digit_timeout", s(i.digit_timeout)),
        ("inter_digit_timeout", s(i.inter_digit_timeout)),
        ("repeat", s(i.repeat)),
        ("direct_dial", s(i.direct_dial)),
        ("options", Val::Shown(menu(&i.options))),
        ("on_timeout", Val::Shown(opt(&i.on_timeout))),
        ("on_invalid", Val::Shown(opt(&i.on_invalid))),
    ]
}

fn hours(h: &[TimeRange]) -> String {
    list(h)
}

fn schedule_fields(sch: &Schedule) -> Vec<(&'static str, Val<'_>)> {
    let weekly: Vec<String> = sch
        .weekly
        .iter()
        .map(|r| format!("{}: {}", r.days.as_str(), hours(&r.hours)))
        .collect();
    let open: Vec<String> = sch
        .open
        .iter()
        .map(|e| format!("{}: {}", e.on, hours(&e.hours)))
        .collect();
    vec![
        ("timezone", s(sch.timezone.name())),
        ("weekly", Val::Shown(format!("{{{}}}", weekly.join(", ")))),
        ("closed", Val::Shown(list(&sch.closed))),
        ("open", Val::Shown(format!("{{{}}}", open.join(", ")))),
        ("in_hours", s(&sch.in_hours)),
        ("after_hours", s(&sch.after_hours)),
    ]
}

fn announce_fields(a: &Announce) -> Vec<(&'static str, Val<'_>)> {
    vec![
        ("prompts", Val::Shown(list(&a.prompts))),
        ("then", s(&a.then)),
    ]
}

fn number_fields(n: &NumberRoute) -> Vec<(&'static str, Val<'_>)> {
    vec![
        ("route", s(&n.route)),
        ("language", Val::Shown(opt_q(&n.language))),
    ]
}

fn outbound_fields(o: &Outbound) -> Vec<(&'static str, Val<'_>)> {
    vec![
        ("prefix", Val::Shown(opt_q(&o.prefix))),
        ("number", Val::Shown(opt_q(&o.number))),
    ]
}

fn settings(c: &TenantConfig) -> Vec<(&'static str, Val<'_>)> {
    let (o, l) = (&c.options, &c.limits);
    vec![
        ("domain", Val::Shown(q(&c.domain))),
        ("language", Val::Shown(q(&c.language))),
        ("country", Val::Shown(opt_q(&c.country))),
        ("options.recording", s(o.recording)),
        ("options.recording_download", s(o.recording_download)),
        ("options.analytics", s(o.analytics)),
        ("options.disa", s(o.disa)),
        ("options.unsolicited_mwi", s(o.unsolicited_mwi)),
        (
            "options.digest_algorithms",
            Val::Shown(list(&o.digest_algorithms)),
        ),
        (
            "options.register_networks",
            Val::Shown(nets(&o.register_networks)),
        ),
        ("limits.max_calls", Val::Shown(opt(&l.max_calls))),
        ("limits.storage_mb", s(l.storage_mb)),
        ("limits.recording_days", s(l.recording_days)),
        ("limits.voicemail_days", s(l.voicemail_days)),
        (
            "limits.max_contacts_per_aor",
            Val::Shown(opt(&l.max_contacts_per_aor)),
        ),
        (
            "limits.max_external_calls",
            Val::Shown(opt(&l.max_external_calls)),
        ),
        (
            "limits.external_calls_per_hour",
            Val::Shown(opt(&l.external_calls_per_hour)),
        ),
        ("moh", Val::Shown(q(&c.moh))),
        (
            "service_codes.voicemail",
            Val::Shown(q(&c.service_codes.voicemail)),
        ),
        (
            "service_codes.pickup",
            Val::Shown(q(&c.service_codes.pickup)),
        ),
        (
            "service_codes.directed_pickup",
            Val::Shown(q(&c.service_codes.directed_pickup)),
        ),
    ]
}

/// `name "A" → "B"` / `secret changed` for each differing field (the platform file's
/// diff uses it too).
pub fn changes(old: &[(&'static str, Val<'_>)], new: &[(&'static str, Val<'_>)]) -> Vec<String> {
    old.iter()
        .zip(new)
        .filter(|((_, a), (_, b))| a != b)
        .map(|((name, a), (_, b))| match (a, b) {
            (Val::Shown(a), Val::Shown(b)) => format!("{name} {a} → {b}"),
            (_, Val::Hidden(None)) => format!("{name} removed"),
            (Val::Hidden(None), _) => format!("{name} set"),
            _ => format!("{name} changed"),
        })
        .collect()
}

/// Diffs a keyed list: removals (old order), then additions and changes (new order).
fn diff_list<'a, T>(
    out: &mut Vec<DiffLine>,
    kind: &str,
    old: &'a [T],
    new: &'a [T],
    key: impl Fn(&T) -> String,
    summary: impl Fn(&T) -> Option<String>,
    fields: impl Fn(&'a T) -> Vec<(&'static str, Val<'a>)>,
) {
    for o in old {
        if !new.iter().any(|n| key(n) == key(o)) {
            out.push(DiffLine::Removed {
                what: format!("{kind} {}", key(o)),
            });
        }
    }
    for n in new {
        let what = format!("{kind} {}", key(n));
        match old.iter().find(|o| key(o) == key(n)) {
            None => out.push(DiffLine::Added {
                what,
                summary: summary(n),
            }),
            Some(o) => {
                let changes = changes(&fields(o), &fields(n));
                if !changes.is_empty() {
                    out.push(DiffLine::Changed { what, changes });
                }
            }
        }
    }
}

impl TenantConfig {
    /// The changes from `old` to `new`, settings first, then users, groups, IVRs,
    /// schedules, announcements, numbers and outbound. Empty when nothing changed. Never contains a secret.
    pub fn diff(old: &TenantConfig, new: &TenantConfig) -> Vec<DiffLine> {
        let mut out = Vec::new();
        for ((name, a), (_, b)) in settings(old).iter().zip(settings(new).iter()) {
            if a != b
                && let (Val::Shown(a), Val::Shown(b)) = (a, b)
            {
                out.push(DiffLine::Changed {
                    what: (*name).to_owned(),
                    changes: vec![format!("{a} → {b}")],
                });
            }
        }
        diff_list(
            &mut out,
            "user",
            &old.users,
            &new.users,
            |u| u.ext.to_string(),
            |u| Some(u.name.clone()),
            user_fields,
        );
        diff_list(
            &mut out,
            "group",
            &old.groups,
            &new.groups,
            |g| g.ext.to_string(),
            |g| Some(g.name.clone()),
            group_fields,
        );
        diff_list(
            &mut out,
            "queue",
            &old.queues,
            &new.queues,
            |x| x.ext.to_string(),
            |x| Some(x.name.clone()),
            queue_fields,
        );
        diff_list(
            &mut out,
            "ivr",
            &old.ivrs,
            &new.ivrs,
            |i| i.name.clone(),
            |_| None,
            ivr_fields,
        );
        diff_list(
            &mut out,
            "schedule",
            &old.schedules,
            &new.schedules,
            |x| x.name.clone(),
            |x| {
                Some(format!(
                    "{}, {} / {}",
                    x.timezone.name(),
                    x.in_hours,
                    x.after_hours
                ))
            },
            schedule_fields,
        );
        diff_list(
            &mut out,
            "announce",
            &old.announces,
            &new.announces,
            |x| x.name.clone(),
            |x| Some(format!("{} then {}", list(&x.prompts), x.then)),
            announce_fields,
        );
        diff_list(
            &mut out,
            "number",
            &old.numbers,
            &new.numbers,
            |n| n.number.clone(),
            |n| Some(format!("→ {}", n.route)),
            number_fields,
        );
        diff_list(
            &mut out,
            "phonebook",
            &old.phonebook,
            &new.phonebook,
            |n| n.number.clone(),
            |n| Some(format!("\"{}\"", n.name)),
            |n| vec![("name", Val::Shown(q(&n.name)))],
        );
        let none = Outbound::default();
        match (&old.outbound, &new.outbound) {
            (None, None) => {}
            (Some(_), None) => out.push(DiffLine::Removed {
                what: "outbound".to_owned(),
            }),
            (o, Some(n)) => {
                let c = changes(
                    &outbound_fields(o.as_ref().unwrap_or(&none)),
                    &outbound_fields(n),
                );
                if o.is_none() {
                    out.push(DiffLine::Added {
                        what: "outbound".to_owned(),
                        summary: Some(c.join(", ")),
                    });
                } else if !c.is_empty() {
                    out.push(DiffLine::Changed {
                        what: "outbound".to_owned(),
                        changes: c,
                    });
                }
            }
        }
        out
    }
}
