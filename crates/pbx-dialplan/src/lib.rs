//! `pbx-dialplan`: where an outside call may go, and how (issue 5, seed 003 §4.5).
//!
//! A pure crate: no I/O, no clock, no randomness, nothing panics on input. It holds
//!
//! - [`numbering`]: national numbering tables. [`numbering::country_of`] maps an E.164
//!   number to its country (ITU country codes plus the areas of shared codes: +7 6/7 is
//!   Kazakhstan, +1 876 Jamaica, +1 416 Canada, …); [`numbering::normalise`] reads what a
//!   user dialed in their country (Russia `8…`/`810…`, Italy `0…`/`3…`/`00…`, NANP
//!   `NXXNXXXXXX`/`1…`/`011…`, `00`/`0` elsewhere, E.164 with or without `+`);
//!   [`numbering::emergency_numbers`] lists each country's emergency numbers (the tenant
//!   validator rejects an extension equal to one).
//! - [`Pattern`]: Asterisk-style dial patterns (`_39.`, `_082XXXXX`, `X Z N [1-5] . !`).
//! - [`blocklist`]: the built-in high-cost (premium, satellite, IRSF) prefixes that no
//!   direction can allow, plus the platform file's own.
//! - [`platform`]: the operator's platform file (`vpbx platform apply`): trunks, numbers,
//!   directions — parsed with the tenant file's strictness, validated, exported
//!   (round-trips), diffed — and [`Platform`], its compiled form.
//! - [`decide`]: the outbound decision for one call.
//! - [`walk`](walk()): the call-walk simulator behind `vpbx route` (every step a call
//!   takes through the tenant's destination graph, and the outbound decision at the end).
//!
//! # The model
//! The operator binds each public number to a tenant and a trunk, and grants the number
//! *directions*: rows (number, trunk, class[, pattern]) saying that calls of a class may
//! leave through a trunk. The classes are
//! - `regional`: a number of the tenant's own country (by the numbering tables, not the
//!   country code alone: for Russia, +7 7XX is Kazakhstan and so international);
//! - `international`: any other country; a `pattern` narrows it (`_39.`: Italy only);
//! - `emergency`: the country's emergency numbers, always allowed for a tenant with a
//!   number (a row only chooses the trunk);
//! - `other`: anything else, only by an explicit `pattern` on the raw digits, with
//!   `strip` (seed 003's `substruct4other`).
//!
//! Nothing else leaves: a number with no matching row is denied, and so is any number
//! in the high-cost block-list, whatever the rows say.
//!
//! # Using it
//! The server compiles the platform file once per change ([`Platform::from_yaml_str`] or
//! [`Platform::new`]) and keeps it in an `Arc`; per call it strips the tenant's outbound
//! prefix and calls [`decide`], which costs a few hash lookups, pattern matches and the
//! strings of the answer:
//!
//! ```
//! use pbx_dialplan::{decide, CallerOutbound, Decision, Platform, TenantOutbound};
//!
//! let platform = Platform::from_yaml_str(r#"
//! trunks:
//!   - {name: newoperator, tenant: office.example, host: 127.0.0.1, username: "74952345678",
//!      secret: "sdfsddf^$#$", register: true,
//!      prefixes: {regional: "8", international: "810", emergency: ""}, strip_regional: 1}
//! numbers:
//!   - {number: "+74952216005", tenant: office.example, trunk: newoperator}
//! directions:
//!   - {number: "+74952216005", trunk: newoperator, class: regional}
//!   - {number: "+74952216005", trunk: newoperator, class: international, pattern: "_39."}
//!   - {number: "+74952216005", trunk: newoperator, class: other, pattern: "_082XXXXX", strip: 3}
//! "#).unwrap();
//! let tenant = TenantOutbound { domain: "office.example", country: Some("RU"), number: Some("+74952216005") };
//! let user = CallerOutbound::default();
//!
//! let d = decide(&platform, &tenant, &user, "+79257410726");
//! assert_eq!(d.to_string(), "trunk=newoperator digits=89257410726 callerid=+74952216005");
//! let d = decide(&platform, &tenant, &user, "08255123");
//! assert_eq!(d.to_string(), "trunk=newoperator digits=55123 callerid=+74952216005");
//! let d = decide(&platform, &tenant, &user, "+23276123456");
//! assert_eq!(d.to_string(), "denied: international calls to SL (+232) are not allowed for +74952216005");
//! assert!(matches!(decide(&platform, &tenant, &user, "112"), Decision::Allowed(_)));
//! ```
//!
//! `vpbx route` prints the [`Decision`]'s `Display`: `trunk=NAME digits=DIGITS
//! callerid=NUMBER` (the first trunk) or `denied: REASON`.
//!
//! Other callers:
//! - `vpbx platform apply`: [`PlatformConfig::from_yaml_str`], then
//!   [`PlatformConfig::fill_missing_secrets_from`] (the stored config),
//!   [`PlatformConfig::check_tenants`], [`PlatformConfig::diff`] to print, [`Platform::new`]
//!   to compile, [`PlatformConfig::sealed`] to store; `vpbx platform export` is
//!   [`PlatformConfig::export_yaml`].
//! - inbound calls: [`Platform::trunks_from`] (a request's source address) and
//!   [`Platform::inbound_number`] (the number, hence the tenant, of a call on a trunk).
//! - outbound registration: [`Trunk::registration`] fills the `reg_*` defaults.
//! - the tenant validator: [`emergency_numbers`] (an extension may not equal one).
//!
//! # Not covered here
//! Local dialing without the area code, per-country number-length checks beyond the
//! plans in [`numbering::PLANS`], and carrier-specific premium lists (the operator adds
//! those with `blocked_prefixes`). Fraud caps, call limits and caller-ID headers are
//! the server's.

pub mod blocklist;
mod decide;
pub mod numbering;
mod pattern;
pub mod platform;
mod tenant_check;
pub mod walk;

use std::fmt;

pub use blocklist::BlockList;
pub use decide::{CallerOutbound, Decision, DenyReason, Route, Routed, TenantOutbound, decide};
pub use numbering::{
    NormaliseError, NumberOrigin, country_of, emergency_numbers, is_emergency_number, normalise,
};
pub use pattern::{Pattern, PatternError};
pub use platform::{Direction, Number, Platform, PlatformConfig, Trunk, TrunkTransport};
pub use tenant_check::check_tenant;
pub use walk::{Dial, End, EndReason, Step, Walk, WalkError, walk};

/// A class of outside calls: what a direction row allows and a user's `outbound:` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// A number of the tenant's own country.
    Regional,
    /// A number of another country (or a non-geographic one).
    International,
    /// One of the country's emergency numbers.
    Emergency,
    /// Allowed only by an explicit pattern.
    Other,
}

impl Class {
    /// Every class, in the order of the file's documentation.
    pub const ALL: [Class; 4] = [
        Class::Regional,
        Class::International,
        Class::Emergency,
        Class::Other,
    ];

    /// The name used in files: `regional`, `international`, `emergency`, `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Regional => "regional",
            Class::International => "international",
            Class::Emergency => "emergency",
            Class::Other => "other",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The tenant's country for dialing formats and emergency numbers: its `country`, else
/// the country of its outbound number.
pub fn tenant_country(cfg: &pbx_core::TenantConfig) -> Option<String> {
    if let Some(c) = &cfg.country {
        return Some(c.clone());
    }
    let number = cfg.outbound.as_ref()?.number.as_deref()?;
    country_of(number).map(|o| o.country.to_owned())
}

/// A dialled string that leaves the tenant (see [`outside_dial`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutsideDial<'a> {
    /// What goes to [`decide`]: the digits after the outbound prefix, or the emergency
    /// number as dialled.
    pub digits: &'a str,
    /// One of the country's emergency numbers.
    pub emergency: bool,
    /// The outbound prefix that was dialled first, if any.
    pub prefix: Option<&'a str>,
}

/// Whether a user's dialled string (not an extension or service code) is an outside
/// call: an emergency number of the tenant's country, with or without the outbound
/// prefix (checked first, so a prefix that starts an emergency number cannot hide it),
/// or the prefix followed by something. The server and `vpbx route` both ask this.
pub fn outside_dial<'a>(
    cfg: &'a pbx_core::TenantConfig,
    dialed: &'a str,
) -> Option<OutsideDial<'a>> {
    let country = tenant_country(cfg);
    let emergency = |d: &str| {
        country
            .as_deref()
            .is_some_and(|c| is_emergency_number(c, d))
    };
    if emergency(dialed) {
        return Some(OutsideDial {
            digits: dialed,
            emergency: true,
            prefix: None,
        });
    }
    let prefix = cfg.outbound.as_ref()?.prefix.as_deref()?;
    let rest = dialed.strip_prefix(prefix).filter(|r| !r.is_empty())?;
    Some(OutsideDial {
        digits: rest,
        emergency: emergency(rest),
        prefix: Some(prefix),
    })
}

/// A user's `outbound:` classes as [`Class`]es (`None`: every class the number allows).
/// The tenant file's validation already refused unknown names.
pub fn user_classes(user: &pbx_core::User) -> Option<Vec<Class>> {
    user.outbound
        .as_ref()
        .map(|names| names.iter().filter_map(|n| n.parse().ok()).collect())
}

impl std::str::FromStr for Class {
    type Err = String;

    fn from_str(s: &str) -> Result<Class, String> {
        Ok(match s {
            "regional" => Class::Regional,
            "international" => Class::International,
            "emergency" => Class::Emergency,
            "other" => Class::Other,
            _ => {
                return Err(format!(
                    "\"{s}\" is not a class (expected regional, international, emergency or other)"
                ));
            }
        })
    }
}

/// The class of a normalised E.164 number for a tenant in `home` (regional or
/// international) with the number's origin, or `None` for a number no table knows.
/// Emergency and other are decided on the dialed digits, before normalising.
pub fn classify(number: &str, home: &str) -> Option<(Class, NumberOrigin)> {
    let origin = country_of(number)?;
    let class = if numbering::is_domestic(home, origin.country) {
        Class::Regional
    } else {
        Class::International
    };
    Some((class, origin))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn kazakhstan_is_international_for_a_russian_tenant() {
        assert_eq!(
            classify("+77012345678", "RU").unwrap().0,
            Class::International
        );
        assert_eq!(classify("+79257410726", "RU").unwrap().0, Class::Regional);
        assert_eq!(classify("+77012345678", "KZ").unwrap().0, Class::Regional);
    }

    #[test]
    fn caribbean_nanp_numbers_are_international_for_a_us_tenant() {
        for n in [
            "+18765551234",
            "+18095551234",
            "+12845551234",
            "+16495551234",
            "+12425551234",
        ] {
            assert_eq!(classify(n, "US").unwrap().0, Class::International, "{n}");
        }
        assert_eq!(classify("+12125551234", "US").unwrap().0, Class::Regional);
        assert_eq!(classify("+17875551234", "US").unwrap().0, Class::Regional);
        assert_eq!(
            classify("+14165551234", "US").unwrap().0,
            Class::International
        );
        assert_eq!(classify("+14165551234", "CA").unwrap().0, Class::Regional);
    }

    #[test]
    fn classes_print_and_parse_by_their_file_names() {
        for c in Class::ALL {
            assert_eq!(c.to_string().parse::<Class>().unwrap(), c);
        }
        assert!("Regional".parse::<Class>().is_err());
    }
}
