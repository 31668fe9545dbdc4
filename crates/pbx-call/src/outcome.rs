//! How a call ended: the outcome of ringing, the CDR disposition, and the
//! call record.

use sip_msg::StatusCode;

/// What ringing a user came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Answered,
    /// Every contact said busy (486, 600, 603), or the user is at `busy_level`.
    Busy,
    /// Nobody answered within `ring_timeout`.
    NoAnswer,
    /// No contact is registered or none could be reached.
    Unavailable,
    /// vpbx or the path is overloaded (503, no media ports, limits).
    Congestion,
    /// The caller gave up (CANCEL).
    Cancelled,
    /// Anything else: the status the caller gets.
    Failed(StatusCode),
}

impl Outcome {
    /// The SIP status the caller gets when nothing else is configured.
    pub fn status(self) -> StatusCode {
        match self {
            Outcome::Answered => StatusCode::OK,
            Outcome::Busy => StatusCode::BUSY_HERE,
            Outcome::NoAnswer | Outcome::Unavailable => StatusCode::TEMPORARILY_UNAVAILABLE,
            Outcome::Congestion => StatusCode::SERVICE_UNAVAILABLE,
            Outcome::Cancelled => StatusCode::REQUEST_TERMINATED,
            Outcome::Failed(s) => s,
        }
    }

    /// The CDR disposition (Asterisk's vocabulary).
    pub fn disposition(self) -> Disposition {
        match self {
            Outcome::Answered => Disposition::Answered,
            Outcome::Busy => Disposition::Busy,
            Outcome::NoAnswer => Disposition::NoAnswer,
            Outcome::Cancelled => Disposition::Cancelled,
            Outcome::Unavailable | Outcome::Congestion | Outcome::Failed(_) => Disposition::Failed,
        }
    }

    /// The `hangup_reason` word of the record.
    pub fn reason(self) -> &'static str {
        match self {
            Outcome::Answered => "normal",
            Outcome::Busy => "busy",
            Outcome::NoAnswer => "ring_timeout",
            Outcome::Unavailable => "unavailable",
            Outcome::Congestion => "congestion",
            Outcome::Cancelled => "cancel",
            Outcome::Failed(_) => "failed",
        }
    }

    /// The outcome of forking when every contact answered with a final
    /// non-2xx `statuses` (none of them timed out the ring timer).
    /// RFC 3261 §16.7 picks one best response; a PBX also needs to know
    /// whether the *user* was busy: only when every contact said so.
    pub fn of_forks(statuses: &[Option<StatusCode>]) -> Outcome {
        let codes: Vec<u16> = statuses
            .iter()
            .map(|s| s.map_or(408, |s| s.as_u16()))
            .collect();
        if codes.is_empty() {
            return Outcome::Unavailable;
        }
        let busy = |c: u16| matches!(c, 486 | 600 | 603);
        if codes.iter().all(|&c| busy(c)) {
            return Outcome::Busy;
        }
        // Busy contacts next to unreachable ones: the reachable ones were
        // busy, so the user is busy.
        let unreachable = |c: u16| matches!(c, 408 | 480 | 404 | 410 | 502 | 504);
        if codes.iter().any(|&c| busy(c)) && codes.iter().all(|&c| busy(c) || unreachable(c)) {
            return Outcome::Busy;
        }
        if codes.iter().all(|&c| unreachable(c)) {
            return Outcome::Unavailable;
        }
        if codes.iter().all(|&c| c == 503) {
            return Outcome::Congestion;
        }
        // §16.7: any 6xx wins; else the lowest class, preferring the first seen.
        if let Some(&c) = codes.iter().find(|&&c| c >= 600) {
            return Outcome::Failed(StatusCode::new(c).unwrap_or(StatusCode::DECLINE));
        }
        let best = codes
            .iter()
            .copied()
            .filter(|c| !unreachable(*c))
            .min_by_key(|c| c / 100)
            .unwrap_or(480);
        Outcome::Failed(StatusCode::new(best).unwrap_or(StatusCode::TEMPORARILY_UNAVAILABLE))
    }
}

/// CDR disposition, as operators know it from Asterisk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    Answered,
    NoAnswer,
    Busy,
    Failed,
    Cancelled,
}

impl Disposition {
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Answered => "ANSWERED",
            Disposition::NoAnswer => "NO ANSWER",
            Disposition::Busy => "BUSY",
            Disposition::Failed => "FAILED",
            Disposition::Cancelled => "CANCELLED",
        }
    }
}

/// Who ended the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HangupBy {
    Caller,
    Callee,
    System,
}

impl HangupBy {
    pub fn as_str(self) -> &'static str {
        match self {
            HangupBy::Caller => "caller",
            HangupBy::Callee => "callee",
            HangupBy::System => "system",
        }
    }
}

/// One record per call, written when it ends.
#[derive(Debug, Clone, PartialEq)]
pub struct CallRecord {
    pub tenant_id: i64,
    /// The inbound leg's Call-ID.
    pub call_id: String,
    /// The outbound legs' Call-IDs.
    pub leg_call_ids: Vec<String>,
    pub caller: String,
    pub caller_name: String,
    pub dialed: String,
    /// What was reached last, e.g. `user:1002`.
    pub destination: String,
    pub start_ms: u64,
    pub answer_ms: Option<u64>,
    pub end_ms: u64,
    pub disposition: Disposition,
    pub hangup_by: HangupBy,
    /// The final SIP status the caller got, or the BYE's absence of one.
    pub sip_cause: Option<u16>,
    /// `normal`, `busy`, `no_answer`, `cancel`, `rtp_timeout`, `rtp_hold_timeout`, …
    pub hangup_reason: String,
    pub transfers: Vec<Transfer>,
    /// The call's recording, relative to the tenant's data directory (filled
    /// in by the shard, which started it).
    pub recording: Option<String>,
    /// The provider trunk of an outside call (the one that answered, else the last tried).
    pub trunk: Option<String>,
}

/// A transfer during the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// Attended (with Replaces / `*2`), else blind.
    pub attended: bool,
    /// Who transferred (extension).
    pub by: String,
    /// Where to, e.g. `user:1003`.
    pub to: String,
    pub at_ms: u64,
}

impl CallRecord {
    pub fn duration_s(&self) -> u64 {
        self.end_ms.saturating_sub(self.start_ms) / 1000
    }

    pub fn billsec_s(&self) -> u64 {
        self.answer_ms
            .map_or(0, |a| self.end_ms.saturating_sub(a) / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(c: u16) -> Option<StatusCode> {
        StatusCode::new(c)
    }

    #[test]
    fn a_user_is_busy_only_when_every_contact_said_busy() {
        assert_eq!(Outcome::of_forks(&[s(486), s(486)]), Outcome::Busy);
        assert_eq!(Outcome::of_forks(&[s(486), s(603)]), Outcome::Busy);
        assert_eq!(Outcome::of_forks(&[s(486), None]), Outcome::Busy);
        assert_ne!(Outcome::of_forks(&[s(486), s(415)]), Outcome::Busy);
    }

    #[test]
    fn unreachable_contacts_make_the_user_unavailable() {
        assert_eq!(Outcome::of_forks(&[]), Outcome::Unavailable);
        assert_eq!(Outcome::of_forks(&[None, s(480)]), Outcome::Unavailable);
    }

    #[test]
    fn a_6xx_wins_over_other_failures() {
        assert_eq!(
            Outcome::of_forks(&[s(415), s(606)]),
            Outcome::Failed(StatusCode::new(606).unwrap_or(StatusCode::DECLINE))
        );
    }

    #[test]
    fn dispositions_use_the_asterisk_words() {
        assert_eq!(Outcome::NoAnswer.disposition().as_str(), "NO ANSWER");
        assert_eq!(Outcome::Cancelled.disposition().as_str(), "CANCELLED");
        assert_eq!(Outcome::Unavailable.status().as_u16(), 480);
        assert_eq!(Outcome::Busy.status().as_u16(), 486);
    }
}
