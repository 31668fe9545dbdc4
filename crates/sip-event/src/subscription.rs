//! The notifier's subscription table (RFC 6665 §4.2), for one event package.
//!
//! A subscription belongs to a user (tenant + extension) and carries the
//! server's dialog details as `D`. Time is Unix milliseconds, passed in.
//!
//! - [`Subscriptions::subscribe`]: a new SUBSCRIBE → the subscription and the
//!   granted expiry (§4.2.1.1), or the refusal (423 with Min-Expires, or 403
//!   past the bounds per user and per tenant).
//! - [`Subscriptions::refresh`]: a SUBSCRIBE in the dialog → the new expiry,
//!   or, with `Expires: 0`, the subscription ended (§4.2.1.4), to be closed
//!   with a final NOTIFY `Subscription-State: terminated`.
//! - [`Subscriptions::expire`]: subscriptions whose time ran out (the final
//!   NOTIFY says `terminated;reason=timeout`).
//! - [`Subscriptions::due`] / [`Subscriptions::mark_sent`]: which
//!   subscriptions of a user have not yet been told the current counts.

use std::collections::BTreeMap;

/// Bounds and expiry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Shorter requested intervals get 423 with `Min-Expires` (RFC 6665 §4.2.1.1).
    pub min_expires: u32,
    /// Longer requested intervals are granted this much.
    pub max_expires: u32,
    /// Granted when the SUBSCRIBE has no `Expires` (RFC 3842 defines none; Asterisk uses 3600).
    pub default_expires: u32,
    /// Subscriptions one user may hold at once (all their phones together).
    pub max_per_user: usize,
    /// Subscriptions one tenant may hold at once.
    pub max_per_tenant: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_per_user: 8,
            max_per_tenant: 2000,
        }
    }
}

/// A subscription's handle (unique within one table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubId(pub u64);

/// New and old counts as last told (the MWI state).
pub type Counts = (u32, u32);

/// An initial SUBSCRIBE, as far as the table cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeRequest {
    /// The tenant.
    pub tenant: i64,
    /// The user (extension) whose mailbox is watched.
    pub user: String,
    /// The `Expires` header, if any.
    pub expires: Option<u32>,
}

/// Why a SUBSCRIBE is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubscribeError {
    /// RFC 6665 §4.2.1.1: answer 423 with `Min-Expires: min`.
    #[error("subscription interval too brief (at least {min} s)")]
    IntervalTooBrief {
        /// The shortest interval accepted.
        min: u32,
    },
    /// The user holds `max` subscriptions already: 403.
    #[error("the user holds {max} subscriptions already")]
    TooManyForUser {
        /// The bound.
        max: usize,
    },
    /// The tenant holds `max` subscriptions already: 403.
    #[error("the tenant holds {max} subscriptions already")]
    TooManyForTenant {
        /// The bound.
        max: usize,
    },
    /// A refresh for a subscription that does not exist (ended or never was): 481.
    #[error("no such subscription")]
    NoSuchSubscription,
}

impl SubscribeError {
    /// The SIP status code to answer with.
    pub fn status(&self) -> u16 {
        match self {
            SubscribeError::IntervalTooBrief { .. } => 423,
            SubscribeError::TooManyForUser { .. } | SubscribeError::TooManyForTenant { .. } => 403,
            SubscribeError::NoSuchSubscription => 481,
        }
    }
}

/// Why a subscription ended (RFC 6665 §4.1.3 reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The subscriber sent `Expires: 0`: final NOTIFY, `terminated` (no reason
    /// needed; vpbx says `timeout` as Asterisk and Kamailio do).
    Unsubscribed,
    /// It was not refreshed in time: final NOTIFY `terminated;reason=timeout`.
    Timeout,
    /// A NOTIFY failed (481, timeout, transport error): gone, no final NOTIFY.
    NotifyFailed,
    /// The user or tenant went away: final NOTIFY `terminated;reason=noresource`.
    NoResource,
}

impl EndReason {
    /// The `Subscription-State` value of the final NOTIFY, or `None` when
    /// none is sent.
    pub fn subscription_state(self) -> Option<&'static str> {
        match self {
            EndReason::Unsubscribed | EndReason::Timeout => Some("terminated;reason=timeout"),
            EndReason::NoResource => Some("terminated;reason=noresource"),
            EndReason::NotifyFailed => None,
        }
    }
}

/// A subscription that ended, handed back with its dialog details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended<D> {
    /// Its handle (no longer valid).
    pub id: SubId,
    /// The tenant.
    pub tenant: i64,
    /// The user.
    pub user: String,
    /// The CSeq for the final NOTIFY.
    pub cseq: u32,
    /// The counts last told, if any.
    pub last_sent: Option<Counts>,
    /// Why.
    pub reason: EndReason,
    /// The server's dialog details.
    pub data: D,
}

/// A refresh's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refreshed<D> {
    /// Still active for `granted` seconds; send a NOTIFY (RFC 6665 §4.2.1.2).
    Active {
        /// Seconds granted.
        granted: u32,
    },
    /// `Expires: 0`: ended; send the final NOTIFY.
    Ended(Ended<D>),
}

#[derive(Debug, Clone)]
struct Sub<D> {
    tenant: i64,
    user: String,
    expires_at_ms: u64,
    /// CSeq of the last NOTIFY sent (0: none yet).
    cseq: u32,
    last_sent: Option<Counts>,
    data: D,
}

/// The subscriptions one notifier holds.
#[derive(Debug, Clone)]
pub struct Subscriptions<D> {
    limits: Limits,
    next_id: u64,
    subs: BTreeMap<SubId, Sub<D>>,
}

impl<D> Subscriptions<D> {
    /// An empty table.
    pub fn new(limits: Limits) -> Self {
        Subscriptions {
            limits,
            next_id: 1,
            subs: BTreeMap::new(),
        }
    }

    /// The bounds in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// How many subscriptions exist.
    pub fn len(&self) -> usize {
        self.subs.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.subs.is_empty()
    }

    /// The user's subscriptions.
    pub fn user_count(&self, tenant: i64, user: &str) -> usize {
        self.for_user(tenant, user).count()
    }

    /// The tenant's subscriptions in this table.
    pub fn tenant_count(&self, tenant: i64) -> usize {
        self.subs.values().filter(|s| s.tenant == tenant).count()
    }

    fn grant(&self, requested: Option<u32>) -> Result<u32, SubscribeError> {
        let l = self.limits;
        match requested {
            None => Ok(l.default_expires.clamp(l.min_expires, l.max_expires)),
            Some(0) => Ok(0),
            Some(e) if e < l.min_expires => {
                Err(SubscribeError::IntervalTooBrief { min: l.min_expires })
            }
            Some(e) => Ok(e.min(l.max_expires)),
        }
    }

    /// An initial SUBSCRIBE. `tenant_elsewhere` is the tenant's subscriptions
    /// held by other tables (other shards), for the per-tenant bound.
    /// `Expires: 0` (a fetch, RFC 6665 §4.4.3) is granted 0: the caller sends
    /// one NOTIFY with the state and ends the subscription with
    /// [`Subscriptions::remove`].
    pub fn subscribe(
        &mut self,
        now_ms: u64,
        req: SubscribeRequest,
        tenant_elsewhere: usize,
        data: D,
    ) -> Result<(SubId, u32), SubscribeError> {
        let granted = self.grant(req.expires)?;
        let l = self.limits;
        if self.user_count(req.tenant, &req.user) >= l.max_per_user {
            return Err(SubscribeError::TooManyForUser {
                max: l.max_per_user,
            });
        }
        if self.tenant_count(req.tenant) + tenant_elsewhere >= l.max_per_tenant {
            return Err(SubscribeError::TooManyForTenant {
                max: l.max_per_tenant,
            });
        }
        let id = SubId(self.next_id);
        self.next_id += 1;
        self.subs.insert(
            id,
            Sub {
                tenant: req.tenant,
                user: req.user,
                expires_at_ms: now_ms.saturating_add(u64::from(granted) * 1000),
                cseq: 0,
                last_sent: None,
                data,
            },
        );
        Ok((id, granted))
    }

    /// A SUBSCRIBE inside subscription `id`'s dialog.
    pub fn refresh(
        &mut self,
        now_ms: u64,
        id: SubId,
        expires: Option<u32>,
    ) -> Result<Refreshed<D>, SubscribeError> {
        if !self.subs.contains_key(&id) {
            return Err(SubscribeError::NoSuchSubscription);
        }
        let granted = self.grant(expires)?;
        if granted == 0 {
            let ended = self
                .end(id, EndReason::Unsubscribed)
                .expect("the subscription was found above");
            return Ok(Refreshed::Ended(ended));
        }
        let s = self
            .subs
            .get_mut(&id)
            .expect("the subscription was found above");
        s.expires_at_ms = now_ms.saturating_add(u64::from(granted) * 1000);
        Ok(Refreshed::Active { granted })
    }

    fn end(&mut self, id: SubId, reason: EndReason) -> Option<Ended<D>> {
        let s = self.subs.remove(&id)?;
        Some(Ended {
            id,
            tenant: s.tenant,
            user: s.user,
            cseq: s.cseq.saturating_add(1),
            last_sent: s.last_sent,
            reason,
            data: s.data,
        })
    }

    /// Ends subscription `id` (its NOTIFY failed, or a fetch is done).
    pub fn remove(&mut self, id: SubId, reason: EndReason) -> Option<Ended<D>> {
        self.end(id, reason)
    }

    /// Ends every subscription matching `gone` (a deleted user or tenant).
    pub fn remove_where(&mut self, mut gone: impl FnMut(i64, &str) -> bool) -> Vec<Ended<D>> {
        let ids: Vec<SubId> = self
            .subs
            .iter()
            .filter(|(_, s)| gone(s.tenant, &s.user))
            .map(|(id, _)| *id)
            .collect();
        ids.into_iter()
            .filter_map(|id| self.end(id, EndReason::NoResource))
            .collect()
    }

    /// Ends the subscriptions whose time ran out by `now_ms`.
    pub fn expire(&mut self, now_ms: u64) -> Vec<Ended<D>> {
        let ids: Vec<SubId> = self
            .subs
            .iter()
            .filter(|(_, s)| s.expires_at_ms <= now_ms)
            .map(|(id, _)| *id)
            .collect();
        ids.into_iter()
            .filter_map(|id| self.end(id, EndReason::Timeout))
            .collect()
    }

    /// The earliest expiry, if any.
    pub fn next_expiry(&self) -> Option<u64> {
        self.subs.values().map(|s| s.expires_at_ms).min()
    }

    /// The user's subscriptions.
    pub fn for_user<'a>(
        &'a self,
        tenant: i64,
        user: &'a str,
    ) -> impl Iterator<Item = (SubId, &'a D)> + 'a {
        self.subs
            .iter()
            .filter(move |(_, s)| s.tenant == tenant && s.user == user)
            .map(|(id, s)| (*id, &s.data))
    }

    /// The user's subscriptions not yet told `counts`.
    pub fn due(&self, tenant: i64, user: &str, counts: Counts) -> Vec<SubId> {
        self.subs
            .iter()
            .filter(|(_, s)| s.tenant == tenant && s.user == user && s.last_sent != Some(counts))
            .map(|(id, _)| *id)
            .collect()
    }

    /// Takes the next NOTIFY CSeq of `id` (1, 2, …).
    pub fn next_cseq(&mut self, id: SubId) -> Option<u32> {
        let s = self.subs.get_mut(&id)?;
        s.cseq = s.cseq.saturating_add(1);
        Some(s.cseq)
    }

    /// Notes that `id` was sent `counts`.
    pub fn mark_sent(&mut self, id: SubId, counts: Counts) {
        if let Some(s) = self.subs.get_mut(&id) {
            s.last_sent = Some(counts);
        }
    }

    /// The counts last sent to `id`.
    pub fn last_sent(&self, id: SubId) -> Option<Counts> {
        self.subs.get(&id).and_then(|s| s.last_sent)
    }

    /// `Subscription-State` for a NOTIFY of active subscription `id`:
    /// `active;expires=N` with the seconds left (RFC 6665 §4.2.2).
    pub fn state_header(&self, now_ms: u64, id: SubId) -> Option<String> {
        let s = self.subs.get(&id)?;
        let left = s.expires_at_ms.saturating_sub(now_ms).div_ceil(1000);
        Some(format!("active;expires={left}"))
    }

    /// The owner and dialog details of `id`.
    pub fn get(&self, id: SubId) -> Option<(i64, &str, &D)> {
        self.subs
            .get(&id)
            .map(|s| (s.tenant, s.user.as_str(), &s.data))
    }

    /// The dialog details of `id`, to update (the subscriber moved).
    pub fn get_mut(&mut self, id: SubId) -> Option<&mut D> {
        self.subs.get_mut(&id).map(|s| &mut s.data)
    }

    /// Finds a subscription by its dialog details.
    pub fn find(&self, mut pred: impl FnMut(&D) -> bool) -> Option<SubId> {
        self.subs
            .iter()
            .find(|(_, s)| pred(&s.data))
            .map(|(id, _)| *id)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const T0: u64 = 1_700_000_000_000;

    fn req(user: &str, expires: Option<u32>) -> SubscribeRequest {
        SubscribeRequest {
            tenant: 1,
            user: user.into(),
            expires,
        }
    }

    fn table() -> Subscriptions<u32> {
        Subscriptions::new(Limits {
            max_per_user: 2,
            max_per_tenant: 3,
            ..Limits::default()
        })
    }

    #[test]
    fn a_subscribe_is_granted_what_it_asks_within_the_bounds() {
        let mut t = table();
        let (_, g) = t.subscribe(T0, req("1001", Some(600)), 0, 1).unwrap();
        assert_eq!(g, 600);
        let (_, g) = t.subscribe(T0, req("1002", Some(86_400)), 0, 2).unwrap();
        assert_eq!(g, 3600);
        let (_, g) = t.subscribe(T0, req("1003", None), 0, 3).unwrap();
        assert_eq!(g, 3600);
    }

    #[test]
    fn a_too_brief_interval_gets_423_with_the_minimum() {
        let mut t = table();
        let e = t.subscribe(T0, req("1001", Some(10)), 0, 1).unwrap_err();
        assert_eq!(e, SubscribeError::IntervalTooBrief { min: 60 });
        assert_eq!(e.status(), 423);
        assert!(t.is_empty());
    }

    #[test]
    fn a_user_cannot_hold_more_subscriptions_than_the_bound() {
        let mut t = table();
        t.subscribe(T0, req("1001", None), 0, 1).unwrap();
        t.subscribe(T0, req("1001", None), 0, 2).unwrap();
        let e = t.subscribe(T0, req("1001", None), 0, 3).unwrap_err();
        assert_eq!(e, SubscribeError::TooManyForUser { max: 2 });
        assert_eq!(e.status(), 403);
        // Another user still may.
        t.subscribe(T0, req("1002", None), 0, 4).unwrap();
    }

    #[test]
    fn the_tenant_bound_counts_other_tables_too() {
        let mut t = table();
        t.subscribe(T0, req("1001", None), 0, 1).unwrap();
        let e = t.subscribe(T0, req("1002", None), 2, 2).unwrap_err();
        assert_eq!(e, SubscribeError::TooManyForTenant { max: 3 });
        // Another tenant is not affected.
        let other = SubscribeRequest {
            tenant: 2,
            user: "1002".into(),
            expires: None,
        };
        t.subscribe(T0, other, 0, 3).unwrap();
    }

    #[test]
    fn a_refresh_moves_the_expiry_and_expires_zero_ends_with_the_next_cseq() {
        let mut t = table();
        let (id, _) = t.subscribe(T0, req("1001", Some(120)), 0, 7).unwrap();
        assert_eq!(t.next_cseq(id), Some(1));
        t.mark_sent(id, (1, 0));
        assert_eq!(
            t.refresh(T0 + 100_000, id, Some(300)).unwrap(),
            Refreshed::Active { granted: 300 }
        );
        // The old expiry (T0 + 120 s) passes without ending it.
        assert!(t.expire(T0 + 130_000).is_empty());
        assert_eq!(
            t.state_header(T0 + 130_000, id).as_deref(),
            Some("active;expires=270")
        );
        match t.refresh(T0 + 140_000, id, Some(0)).unwrap() {
            Refreshed::Ended(e) => {
                assert_eq!(e.cseq, 2);
                assert_eq!(e.data, 7);
                assert_eq!(e.last_sent, Some((1, 0)));
                assert_eq!(e.reason, EndReason::Unsubscribed);
                assert!(
                    e.reason
                        .subscription_state()
                        .unwrap()
                        .starts_with("terminated")
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(t.is_empty());
        assert_eq!(
            t.refresh(T0, id, Some(60)).unwrap_err(),
            SubscribeError::NoSuchSubscription
        );
    }

    #[test]
    fn an_unrefreshed_subscription_times_out_at_its_expiry() {
        let mut t = table();
        let (a, _) = t.subscribe(T0, req("1001", Some(60)), 0, 1).unwrap();
        let (b, _) = t.subscribe(T0, req("1002", Some(120)), 0, 2).unwrap();
        assert_eq!(t.next_expiry(), Some(T0 + 60_000));
        assert!(t.expire(T0 + 59_999).is_empty());
        let ended = t.expire(T0 + 60_000);
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].id, a);
        assert_eq!(
            ended[0].reason.subscription_state(),
            Some("terminated;reason=timeout")
        );
        assert!(t.get(b).is_some());
    }

    #[test]
    fn only_subscriptions_not_yet_told_the_counts_are_due() {
        let mut t = table();
        let (a, _) = t.subscribe(T0, req("1001", None), 0, 1).unwrap();
        let (b, _) = t.subscribe(T0, req("1001", None), 0, 2).unwrap();
        let (_c, _) = t.subscribe(T0, req("1002", None), 0, 3).unwrap();
        assert_eq!(t.due(1, "1001", (0, 0)), vec![a, b]);
        t.mark_sent(a, (0, 0));
        assert_eq!(t.due(1, "1001", (0, 0)), vec![b]);
        t.mark_sent(b, (0, 0));
        assert!(t.due(1, "1001", (0, 0)).is_empty());
        // The counts change: both are due again.
        assert_eq!(t.due(1, "1001", (1, 0)), vec![a, b]);
    }

    #[test]
    fn a_failed_notify_removes_the_subscription_without_a_final_notify() {
        let mut t = table();
        let (a, _) = t.subscribe(T0, req("1001", None), 0, 1).unwrap();
        let e = t.remove(a, EndReason::NotifyFailed).unwrap();
        assert_eq!(e.reason.subscription_state(), None);
        assert!(t.remove(a, EndReason::NotifyFailed).is_none());
    }

    #[test]
    fn removed_users_lose_their_subscriptions_with_noresource() {
        let mut t = table();
        t.subscribe(T0, req("1001", None), 0, 1).unwrap();
        t.subscribe(T0, req("1002", None), 0, 2).unwrap();
        let gone = t.remove_where(|_, u| u == "1001");
        assert_eq!(gone.len(), 1);
        assert_eq!(
            gone[0].reason.subscription_state(),
            Some("terminated;reason=noresource")
        );
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn a_fetch_is_granted_zero() {
        let mut t = table();
        let (_, g) = t.subscribe(T0, req("1001", Some(0)), 0, 1).unwrap();
        assert_eq!(g, 0);
    }
}
