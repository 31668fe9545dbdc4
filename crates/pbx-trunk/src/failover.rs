//! Which trunks an outbound call tries, in which order, and how long each
//! may stay silent before the next is tried.

use std::time::Duration;

use sip_msg::StatusCode;

/// One trunk a call may go out through, with its live state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkCandidate<K> {
    /// The caller's identifier for the trunk (name, index).
    pub id: K,
    /// `priority`: lower goes first; ties keep the input order.
    pub priority: u32,
    /// Qualify's verdict ([`crate::Qualify::is_usable`]); `true` when the
    /// trunk is not qualified.
    pub usable: bool,
    /// `call_limit`: most simultaneous calls; `None` for no limit.
    pub call_limit: Option<u32>,
    /// Calls in progress on the trunk now.
    pub in_use: u32,
    /// `failover_timeout`: how long the trunk may stay silent (no response
    /// at all to the INVITE) before the next trunk is tried.
    pub failover_timeout: Duration,
}

/// One attempt of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt<K> {
    pub trunk: K,
    /// If the trunk sends no response at all (not even 100 Trying) within
    /// this, the call gives up on it (CANCEL the INVITE, or drop its
    /// transaction) and goes to the next attempt. Once the trunk responds,
    /// the call waits for the callee as usual.
    pub response_timeout: Duration,
}

/// Why a trunk is not in a plan (for `vpbx route` and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skipped {
    /// Qualify says the trunk is Down.
    Down,
    /// `in_use` has reached `call_limit`.
    CallLimit,
}

/// The order to try trunks in, and what was left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverPlan<K> {
    pub attempts: Vec<Attempt<K>>,
    pub skipped: Vec<(K, Skipped)>,
}

/// The default when a trunk sets no `failover_timeout`: 5 s, far below the
/// 32 s of Timer B that a dead trunk would otherwise cost.
pub const DEFAULT_FAILOVER_TIMEOUT: Duration = Duration::from_secs(5);

/// Orders `candidates` for one call:
///
/// - by `priority` (lower first), stable for equal priorities;
/// - a trunk at its `call_limit` is left out — except for an emergency
///   call, which bypasses trunk call limits (issue 5 §6);
/// - a trunk qualify marks Down is left out, since trying it only costs the
///   caller its `failover_timeout`. But when no usable trunk remains, or the
///   call is an emergency call, the Down trunks are tried after the usable
///   ones, in priority order (qualify can be wrong: some providers drop
///   OPTIONS) — a possible call is better than a certain failure;
/// - each attempt waits `failover_timeout` for a first response (a zero
///   `failover_timeout` means [`DEFAULT_FAILOVER_TIMEOUT`]).
pub fn failover_plan<K: Clone>(
    candidates: &[TrunkCandidate<K>],
    emergency: bool,
) -> FailoverPlan<K> {
    let mut order: Vec<&TrunkCandidate<K>> = candidates.iter().collect();
    order.sort_by_key(|c| c.priority);
    let mut attempts = Vec::new();
    let mut down = Vec::new();
    let mut skipped = Vec::new();
    for c in order {
        let at_limit = c.call_limit.is_some_and(|limit| c.in_use >= limit);
        if at_limit && !emergency {
            skipped.push((c.id.clone(), Skipped::CallLimit));
            continue;
        }
        let attempt = Attempt {
            trunk: c.id.clone(),
            response_timeout: if c.failover_timeout.is_zero() {
                DEFAULT_FAILOVER_TIMEOUT
            } else {
                c.failover_timeout
            },
        };
        if c.usable {
            attempts.push(attempt);
        } else {
            down.push(attempt);
        }
    }
    if attempts.is_empty() || emergency {
        attempts.extend(down);
    } else {
        skipped.extend(down.into_iter().map(|a| (a.trunk, Skipped::Down)));
    }
    FailoverPlan { attempts, skipped }
}

/// Whether a final response from a trunk means "try the next trunk"
/// rather than "the callee said no": 408 (the trunk timed out) and every
/// 5xx (the trunk or its network failed: 500, 502, 503, 504…). 4xx other
/// than 408 and 6xx come from the callee or the number (busy, not found,
/// declined) and end the call; so does a 2xx, obviously.
pub fn should_fail_over(status: StatusCode) -> bool {
    let code = status.as_u16();
    code == 408 || (500..600).contains(&code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: &'static str, priority: u32) -> TrunkCandidate<&'static str> {
        TrunkCandidate {
            id,
            priority,
            usable: true,
            call_limit: None,
            in_use: 0,
            failover_timeout: Duration::from_secs(5),
        }
    }

    fn ids(p: &FailoverPlan<&'static str>) -> Vec<&'static str> {
        p.attempts.iter().map(|a| a.trunk).collect()
    }

    #[test]
    fn trunks_are_tried_by_priority_and_ties_keep_config_order() {
        let plan = failover_plan(&[t("c", 2), t("a", 1), t("b", 2)], false);
        assert_eq!(ids(&plan), ["a", "c", "b"]);
        assert!(plan.skipped.is_empty());
    }

    #[test]
    fn a_down_trunk_is_skipped_when_another_is_usable() {
        let mut a = t("a", 1);
        a.usable = false;
        let plan = failover_plan(&[a, t("b", 2)], false);
        assert_eq!(ids(&plan), ["b"]);
        assert_eq!(plan.skipped, [("a", Skipped::Down)]);
    }

    #[test]
    fn when_every_trunk_is_down_they_are_still_tried_in_priority_order() {
        let mut a = t("a", 2);
        a.usable = false;
        let mut b = t("b", 1);
        b.usable = false;
        let plan = failover_plan(&[a, b], false);
        assert_eq!(ids(&plan), ["b", "a"]);
    }

    #[test]
    fn a_trunk_at_its_call_limit_is_skipped_except_for_emergency_calls() {
        let mut a = t("a", 1);
        a.call_limit = Some(2);
        a.in_use = 2;
        let mut b = t("b", 2);
        b.usable = false;
        let plan = failover_plan(&[a.clone(), b.clone(), t("c", 3)], false);
        assert_eq!(ids(&plan), ["c"]);
        assert_eq!(
            plan.skipped,
            [("a", Skipped::CallLimit), ("b", Skipped::Down)]
        );
        let plan = failover_plan(&[a.clone(), b, t("c", 3)], true);
        assert_eq!(ids(&plan), ["a", "c", "b"]);
        a.in_use = 1;
        assert_eq!(ids(&failover_plan(&[a], false)), ["a"]);
    }

    #[test]
    fn each_attempt_waits_its_trunks_failover_timeout_and_zero_means_the_default() {
        let mut a = t("a", 1);
        a.failover_timeout = Duration::from_secs(3);
        let mut b = t("b", 2);
        b.failover_timeout = Duration::ZERO;
        let plan = failover_plan(&[a, b], false);
        let timeouts: Vec<Duration> = plan.attempts.iter().map(|a| a.response_timeout).collect();
        assert_eq!(timeouts, [Duration::from_secs(3), DEFAULT_FAILOVER_TIMEOUT]);
        // A dead trunk costs far less than Timer B.
        assert!(timeouts.iter().all(|t| *t < Duration::from_secs(32)));
    }

    #[test]
    fn only_trunk_failures_fail_over() {
        let code = |c| StatusCode::new(c).expect("valid code");
        for c in [408, 500, 502, 503, 504] {
            assert!(should_fail_over(code(c)), "{c}");
        }
        for c in [200, 404, 480, 486, 487, 603] {
            assert!(!should_fail_over(code(c)), "{c}");
        }
    }

    #[test]
    fn an_empty_candidate_list_gives_an_empty_plan() {
        let plan = failover_plan::<&str>(&[], false);
        assert!(plan.attempts.is_empty() && plan.skipped.is_empty());
    }
}
