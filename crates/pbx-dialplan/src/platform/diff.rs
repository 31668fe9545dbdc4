//! What `vpbx platform apply` prints before applying: one line per added, removed or
//! changed trunk, number and direction, and the block-list changes. Secrets are
//! compared but never printed. The lines are `pbx_core::DiffLine`s, as for tenants.

use std::fmt::Display;

use pbx_core::DiffLine;
use pbx_core::tenant::diff::{Val, changes};

use super::{Direction, Number, PlatformConfig, Trunk};

fn opt<T: Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "none".to_owned(), |v| format!("\"{v}\""))
}

fn s<T: Display>(v: T) -> Val<'static> {
    Val::Shown(v.to_string())
}

fn trunk_fields(t: &Trunk) -> Vec<(&'static str, Val<'_>)> {
    let codecs: Vec<&str> = t
        .codecs
        .iter()
        .map(|c| super::export::codec_name(*c))
        .collect();
    vec![
        ("tenant", Val::Shown(opt(&t.tenant))),
        (
            "sources",
            Val::Shown(
                t.sources
                    .as_ref()
                    .map_or_else(|| "none".to_owned(), ToString::to_string),
            ),
        ),
        ("host", s(&t.host)),
        ("port", s(t.port)),
        ("transport", s(t.transport)),
        ("username", Val::Shown(opt(&t.username))),
        ("secret", Val::Hidden(t.secret.as_deref())),
        ("from_user", Val::Shown(opt(&t.from_user))),
        ("from_domain", Val::Shown(opt(&t.from_domain))),
        ("codecs", Val::Shown(format!("[{}]", codecs.join(", ")))),
        ("call_limit", s(t.call_limit)),
        ("qualify", s(t.qualify)),
        ("register", s(t.register)),
        ("reg_user", Val::Shown(opt(&t.reg_user))),
        ("reg_domain", Val::Shown(opt(&t.reg_domain))),
        ("reg_auth_user", Val::Shown(opt(&t.reg_auth_user))),
        ("reg_secret", Val::Hidden(t.reg_secret.as_deref())),
        ("reg_host", Val::Shown(opt(&t.reg_host))),
        ("reg_port", Val::Shown(opt(&t.reg_port))),
        ("reg_expires", s(t.reg_expires)),
        ("did_from", s(t.did_from)),
        ("extension", Val::Shown(opt(&t.extension))),
        ("priority", s(t.priority)),
        ("failover_timeout", s(t.failover_timeout)),
        (
            "prefixes.regional",
            Val::Shown(format!("\"{}\"", t.prefixes.regional)),
        ),
        (
            "prefixes.international",
            Val::Shown(format!("\"{}\"", t.prefixes.international)),
        ),
        (
            "prefixes.emergency",
            Val::Shown(format!("\"{}\"", t.prefixes.emergency)),
        ),
        ("strip_regional", s(t.strip_regional)),
    ]
}

fn number_fields(n: &Number) -> Vec<(&'static str, Val<'_>)> {
    vec![("tenant", s(&n.tenant)), ("trunk", s(&n.trunk))]
}

fn direction_key(d: &Direction) -> String {
    let mut key = format!("{} via {} {}", d.number, d.trunk, d.class);
    if let Some(p) = &d.pattern {
        key.push_str(&format!(" {p}"));
    }
    if let Some(n) = d.strip {
        key.push_str(&format!(" strip {n}"));
    }
    key
}

impl PlatformConfig {
    /// The changes from `old` to `new`: trunks, numbers, directions, then the
    /// block-list. Empty when nothing changed. Never contains a secret.
    pub fn diff(old: &PlatformConfig, new: &PlatformConfig) -> Vec<DiffLine> {
        let mut out = Vec::new();
        for o in &old.trunks {
            if !new.trunks.iter().any(|n| n.name == o.name) {
                out.push(DiffLine::Removed {
                    what: format!("trunk {}", o.name),
                });
            }
        }
        for n in &new.trunks {
            let what = format!("trunk {}", n.name);
            match old.trunks.iter().find(|o| o.name == n.name) {
                None => out.push(DiffLine::Added {
                    what,
                    summary: Some(match &n.tenant {
                        Some(t) => format!("{}:{} for {t}", n.host, n.port),
                        None => format!("{}:{} shared", n.host, n.port),
                    }),
                }),
                Some(o) => {
                    let c = changes(&trunk_fields(o), &trunk_fields(n));
                    if !c.is_empty() {
                        out.push(DiffLine::Changed { what, changes: c });
                    }
                }
            }
        }
        for o in &old.numbers {
            if !new.numbers.iter().any(|n| n.number == o.number) {
                out.push(DiffLine::Removed {
                    what: format!("number {}", o.number),
                });
            }
        }
        for n in &new.numbers {
            let what = format!("number {}", n.number);
            match old.numbers.iter().find(|o| o.number == n.number) {
                None => out.push(DiffLine::Added {
                    what,
                    summary: Some(format!("{} via {}", n.tenant, n.trunk)),
                }),
                Some(o) => {
                    let c = changes(&number_fields(o), &number_fields(n));
                    if !c.is_empty() {
                        out.push(DiffLine::Changed { what, changes: c });
                    }
                }
            }
        }
        // A direction is its whole row: a changed row is one removed and one added.
        for o in &old.directions {
            if !new.directions.contains(o) {
                out.push(DiffLine::Removed {
                    what: format!("direction {}", direction_key(o)),
                });
            }
        }
        for n in &new.directions {
            if !old.directions.contains(n) {
                out.push(DiffLine::Added {
                    what: format!("direction {}", direction_key(n)),
                    summary: None,
                });
            }
        }
        for (what, o, n) in [
            (
                "blocked_prefixes",
                &old.blocked_prefixes,
                &new.blocked_prefixes,
            ),
            ("allow_blocked", &old.allow_blocked, &new.allow_blocked),
        ] {
            for p in o.iter().filter(|p| !n.contains(p)) {
                out.push(DiffLine::Removed {
                    what: format!("{what} {p}"),
                });
            }
            for p in n.iter().filter(|p| !o.contains(p)) {
                out.push(DiffLine::Added {
                    what: format!("{what} {p}"),
                    summary: None,
                });
            }
        }
        out
    }
}
