//! The outbound decision: may this user call these digits, through which trunks, with
//! which digits and caller ID.
//!
//! [`decide`] takes the digits as dialed **after** the tenant's outbound prefix: the
//! caller (the server's routing walk, `vpbx route`) has already decided that the call
//! is external by finding the prefix and stripping it, since internal numbers are
//! looked up before that. Emergency numbers are the exception: the server passes them
//! here whether or not they were dialed after the prefix (a tenant may not have an
//! extension equal to one, so `112` is never internal). The steps, in order:
//!
//! 1. **Emergency**: digits equal to one of the tenant country's emergency numbers
//!    (exact match) are allowed for a tenant with any number, with no direction row and
//!    whatever the user's classes say. The trunks are those of the calling number's
//!    `emergency` rows (by priority), else the number's own (inbound) trunk; the digits
//!    are the trunk's emergency prefix and the number. The calling number is the user's
//!    or the tenant's outbound number when bound to the tenant, else the tenant's first
//!    number. This comes first so that an `other` pattern that also matches an emergency
//!    number (`_1XX`) can neither deny it nor subject it to user classes.
//! 2. The calling number (caller ID): the user's `outbound_number`, else the tenant's
//!    `outbound.number`; it must be bound to the tenant in the platform file.
//! 3. **Other** rows of that number whose pattern matches the raw digits: the digits
//!    sent are the raw digits less `strip` leading ones.
//! 4. **Normalise** to E.164 by the tenant's country (default: the country of the
//!    calling number).
//! 5. **Block-list**: a number under a blocked prefix is denied, whatever a row says
//!    (this also applies to step 3 when the raw digits read as such a number).
//! 6. **Classify** regional / international and find the number's rows of that class
//!    whose pattern (if any) matches the E.164 digits **without `+`** (`_39.` is Italy).
//!    No row: denied.
//! 7. **User classes**: a user whose `outbound:` list lacks the class is denied.
//!
//! The trunks of an allowed call come in failover order: rows sorted by their trunk's
//! `priority`, then by file order; a trunk appears once.

use std::fmt;

use crate::numbering::{NON_GEOGRAPHIC, NormaliseError, NumberOrigin};
use crate::platform::{Direction, Platform, Trunk};
use crate::{Class, classify, country_of, is_emergency_number, normalise};

/// The tenant's side of an outbound call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TenantOutbound<'a> {
    /// The tenant's domain (numbers must be bound to it).
    pub domain: &'a str,
    /// The tenant's `country`; `None`: the country of the calling number.
    pub country: Option<&'a str>,
    /// `outbound.number`: the default calling number.
    pub number: Option<&'a str>,
}

/// The calling user's side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallerOutbound<'a> {
    /// The user's `outbound:` classes; `None`: every class the number's directions allow.
    pub classes: Option<&'a [Class]>,
    /// The user's `outbound_number`, overriding the tenant's.
    pub number: Option<&'a str>,
}

/// One way out: a trunk and the digits to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The trunk's name.
    pub trunk: String,
    /// The Request-URI user part to send.
    pub digits: String,
}

/// An allowed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    /// The trunks to try, in failover order (never empty).
    pub routes: Vec<Route>,
    /// The calling number presented (E.164).
    pub caller_id: String,
    /// The class the call was allowed as.
    pub class: Class,
    /// The called number: E.164 for regional and international, the digits as dialed
    /// for emergency and other.
    pub number: String,
}

/// Why a call is denied (the server answers 403 and plays an announcement).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DenyReason {
    /// The digits are no number in the tenant's country.
    NotANumber {
        /// As dialed.
        dialed: String,
        /// Why.
        error: NormaliseError,
    },
    /// Neither the user nor the tenant has an outbound number.
    NoOutboundNumber,
    /// The calling number is not bound to the tenant.
    NumberNotBound {
        /// The number.
        number: String,
        /// The tenant.
        tenant: String,
    },
    /// An emergency call from a tenant with no number.
    NoNumberForEmergency {
        /// The tenant.
        tenant: String,
    },
    /// Neither the tenant's country nor the calling number's is known.
    NoCountry {
        /// The calling number.
        number: String,
    },
    /// The number is in the high-cost block-list.
    Blocked {
        /// The called number (E.164).
        number: String,
        /// The blocked prefix (digits).
        prefix: String,
    },
    /// No direction of the calling number allows it.
    NotAllowed {
        /// The class of the called number.
        class: Class,
        /// Its country.
        origin: Option<NumberOrigin>,
        /// The calling number.
        caller: String,
    },
    /// The user's classes exclude it.
    UserClass {
        /// The class of the call.
        class: Class,
    },
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DenyReason::NotANumber { dialed, error } => {
                write!(f, "cannot dial \"{dialed}\": {error}")
            }
            DenyReason::NoOutboundNumber => f.write_str(
                "no outbound number: set the tenant's outbound.number or the user's outbound_number",
            ),
            DenyReason::NumberNotBound { number, tenant } => {
                write!(f, "{number} is not a number of {tenant} in the platform file")
            }
            DenyReason::NoNumberForEmergency { tenant } => {
                write!(f, "{tenant} has no number, so no trunk for emergency calls")
            }
            DenyReason::NoCountry { number } => write!(
                f,
                "the tenant has no country and {number} is in none: set the tenant's country"
            ),
            DenyReason::Blocked { number, prefix } => {
                write!(f, "{number} is in the blocked high-cost range +{prefix}")
            }
            DenyReason::NotAllowed {
                class,
                origin: Some(origin),
                caller,
            } => write!(f, "{class} calls to {origin} are not allowed for {caller}"),
            DenyReason::NotAllowed {
                class,
                origin: None,
                caller,
            } => write!(f, "{class} calls are not allowed for {caller}"),
            DenyReason::UserClass { class } => {
                write!(f, "this user may not make {class} calls")
            }
        }
    }
}

/// The outcome of [`decide`]. `Display` is what `vpbx route` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The call may go out.
    Allowed(Routed),
    /// It may not.
    Denied(DenyReason),
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Allowed(r) => match r.routes.first() {
                Some(route) => write!(
                    f,
                    "trunk={} digits={} callerid={}",
                    route.trunk, route.digits, r.caller_id
                ),
                None => f.write_str("denied: no trunk"),
            },
            Decision::Denied(reason) => write!(f, "denied: {reason}"),
        }
    }
}

fn deny(reason: DenyReason) -> Decision {
    Decision::Denied(reason)
}

/// Whether `number` is bound to `tenant`.
fn bound(platform: &Platform, number: &str, tenant: &str) -> bool {
    platform.number(number).is_some_and(|n| n.tenant == tenant)
}

/// Adds `trunk` with `digits` unless the trunk is already listed.
fn push_route(routes: &mut Vec<Route>, trunk: &Trunk, digits: String) {
    if !routes.iter().any(|r| r.trunk == trunk.name) {
        routes.push(Route {
            trunk: trunk.name.clone(),
            digits,
        });
    }
}

/// Decides one outbound call; `dialed` is what the user dialed after the outbound
/// prefix. See the module documentation for the steps.
pub fn decide(
    platform: &Platform,
    tenant: &TenantOutbound<'_>,
    caller: &CallerOutbound<'_>,
    dialed: &str,
) -> Decision {
    let dialed = dialed.trim();
    if dialed.is_empty() {
        return deny(DenyReason::NotANumber {
            dialed: String::new(),
            error: NormaliseError::Empty,
        });
    }
    let outbound = caller.number.or(tenant.number);
    let country_of_number = |n: &str| {
        country_of(n)
            .map(|o| o.country)
            .filter(|c| *c != NON_GEOGRAPHIC)
    };

    // 1. Emergency.
    let emergency_number = [caller.number, tenant.number]
        .into_iter()
        .flatten()
        .find(|n| bound(platform, n, tenant.domain))
        .or_else(|| {
            platform
                .numbers_of(tenant.domain)
                .next()
                .map(|n| n.number.as_str())
        });
    let emergency_country = tenant
        .country
        .or_else(|| emergency_number.and_then(country_of_number));
    if let Some(country) = emergency_country
        && is_emergency_number(country, dialed)
    {
        let Some(number) = emergency_number else {
            return deny(DenyReason::NoNumberForEmergency {
                tenant: tenant.domain.to_owned(),
            });
        };
        return emergency(platform, number, dialed);
    }

    // 2. The calling number.
    let Some(number) = outbound else {
        return deny(DenyReason::NoOutboundNumber);
    };
    if !bound(platform, number, tenant.domain) {
        return deny(DenyReason::NumberNotBound {
            number: number.to_owned(),
            tenant: tenant.domain.to_owned(),
        });
    }
    let country = tenant.country.or_else(|| country_of_number(number));

    // 3. Other patterns, on the raw digits.
    let mut routes = Vec::new();
    for row in platform.directions_of(number) {
        if row.class != Class::Other || !row.pattern.as_ref().is_some_and(|p| p.matches(dialed)) {
            continue;
        }
        let strip = row.strip.unwrap_or(0) as usize;
        let (Some(trunk), Some(rest)) = (platform.trunk(&row.trunk), dialed.get(strip..)) else {
            continue;
        };
        if !rest.is_empty() {
            push_route(&mut routes, trunk, rest.to_owned());
        }
    }
    if !routes.is_empty() {
        if let Some(e164) = country.and_then(|c| normalise(c, dialed).ok())
            && let Some(prefix) = platform.blocklist().blocked_by(&e164)
        {
            return deny(DenyReason::Blocked {
                number: e164,
                prefix: prefix.to_owned(),
            });
        }
        return finish(caller, number, Class::Other, dialed.to_owned(), routes);
    }

    // 4. Normalise.
    let Some(country) = country else {
        return deny(DenyReason::NoCountry {
            number: number.to_owned(),
        });
    };
    let e164 = match normalise(country, dialed) {
        Ok(n) => n,
        Err(error) => {
            return deny(DenyReason::NotANumber {
                dialed: dialed.to_owned(),
                error,
            });
        }
    };

    // 5. Block-list.
    if let Some(prefix) = platform.blocklist().blocked_by(&e164) {
        return deny(DenyReason::Blocked {
            prefix: prefix.to_owned(),
            number: e164,
        });
    }

    // 6. Class and direction rows.
    let Some((class, origin)) = classify(&e164, country) else {
        return deny(DenyReason::NotANumber {
            dialed: dialed.to_owned(),
            error: NormaliseError::UnknownCountryCode(e164),
        });
    };
    let digits = &e164[1..];
    let rows = platform.directions_of(number).filter(|row: &&Direction| {
        row.class == class && row.pattern.as_ref().is_none_or(|p| p.matches(digits))
    });
    for row in rows {
        let Some(trunk) = platform.trunk(&row.trunk) else {
            continue;
        };
        let sent = match class {
            Class::Regional => {
                let strip = (trunk.strip_regional as usize).min(digits.len());
                format!("{}{}", trunk.prefixes.regional, &digits[strip..])
            }
            _ => format!("{}{digits}", trunk.prefixes.international),
        };
        push_route(&mut routes, trunk, sent);
    }
    if routes.is_empty() {
        return deny(DenyReason::NotAllowed {
            class,
            origin: Some(origin),
            caller: number.to_owned(),
        });
    }

    // 7. User classes.
    finish(caller, number, class, e164, routes)
}

fn finish(
    caller: &CallerOutbound<'_>,
    number: &str,
    class: Class,
    called: String,
    routes: Vec<Route>,
) -> Decision {
    if caller
        .classes
        .is_some_and(|classes| !classes.contains(&class))
    {
        return deny(DenyReason::UserClass { class });
    }
    Decision::Allowed(Routed {
        routes,
        caller_id: number.to_owned(),
        class,
        number: called,
    })
}

fn emergency(platform: &Platform, number: &str, dialed: &str) -> Decision {
    let mut routes = Vec::new();
    for row in platform.directions_of(number) {
        if row.class == Class::Emergency
            && row.pattern.as_ref().is_none_or(|p| p.matches(dialed))
            && let Some(trunk) = platform.trunk(&row.trunk)
        {
            push_route(
                &mut routes,
                trunk,
                format!("{}{dialed}", trunk.prefixes.emergency),
            );
        }
    }
    if routes.is_empty()
        && let Some(trunk) = platform
            .number(number)
            .and_then(|n| platform.trunk(&n.trunk))
    {
        push_route(
            &mut routes,
            trunk,
            format!("{}{dialed}", trunk.prefixes.emergency),
        );
    }
    if routes.is_empty() {
        // Unreachable with a validated platform (a number's trunk exists); deny rather
        // than panic.
        return deny(DenyReason::NotAllowed {
            class: Class::Emergency,
            origin: None,
            caller: number.to_owned(),
        });
    }
    Decision::Allowed(Routed {
        routes,
        caller_id: number.to_owned(),
        class: Class::Emergency,
        number: dialed.to_owned(),
    })
}

#[cfg(test)]
mod tests;
