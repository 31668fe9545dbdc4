//! Symmetric RTP latching without RTP bleed (cf. Asterisk CVE-2017-14099).

use core::net::SocketAddr;
use core::time::Duration;

/// Where a [`Latch`] stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatchState {
    /// No packet accepted since the last reset; the window starts with the first packet.
    Waiting,
    /// Learning until `until_us`; `latched` is the address taken from the first packet from
    /// somewhere other than the signalled address (NAT), if any.
    Learning {
        /// End of the learning window.
        until_us: u64,
        /// Provisionally latched address.
        latched: Option<SocketAddr>,
    },
    /// Only this address is accepted until the next reset.
    Locked(SocketAddr),
}

/// Decides which source address a leg accepts media from, and where media for it is sent.
///
/// - A packet from the signalled address (SDP `c=`/`m=`) is accepted and locks at once.
/// - Otherwise, within the learning window (which opens with the first packet after creation
///   or [`Latch::reset`]), the first packet from another address latches to it (a phone behind
///   NAT); packets from a third address are dropped. When the window ends the latched address
///   is locked.
/// - Once locked, packets from any other address are dropped and counted.
#[derive(Debug, Clone)]
pub struct Latch {
    signalled: Option<SocketAddr>,
    window_us: u64,
    state: LatchState,
    dropped: u64,
}

impl Latch {
    /// A latch for a leg whose SDP named `signalled` (None when unknown or on hold with
    /// `0.0.0.0`), learning for `window` after the first packet.
    pub fn new(signalled: Option<SocketAddr>, window: Duration) -> Self {
        Latch {
            signalled: signalled.filter(|a| !a.ip().is_unspecified() && a.port() != 0),
            window_us: u64::try_from(window.as_micros()).unwrap_or(u64::MAX),
            state: LatchState::Waiting,
            dropped: 0,
        }
    }

    /// New SDP (re-INVITE): a new signalled address and a new learning window.
    pub fn reset(&mut self, signalled: Option<SocketAddr>) {
        let dropped = self.dropped;
        *self = Latch {
            dropped,
            ..Latch::new(signalled, Duration::from_micros(self.window_us))
        };
    }

    /// Decides on a packet from `from` at `now_us`: `true` to accept it.
    pub fn check(&mut self, from: SocketAddr, now_us: u64) -> bool {
        if Some(from) == self.signalled {
            if self.state != LatchState::Locked(from) {
                self.state = LatchState::Locked(from);
            }
            return true;
        }
        let accepted = match self.state {
            LatchState::Locked(addr) => addr == from,
            LatchState::Waiting => {
                self.state = LatchState::Learning {
                    until_us: now_us.saturating_add(self.window_us),
                    latched: Some(from),
                };
                true
            }
            LatchState::Learning { until_us, latched } => {
                if now_us >= until_us {
                    match latched {
                        Some(addr) => {
                            self.state = LatchState::Locked(addr);
                            addr == from
                        }
                        None => {
                            self.state = LatchState::Locked(from);
                            true
                        }
                    }
                } else {
                    match latched {
                        Some(addr) => addr == from,
                        None => {
                            self.state = LatchState::Learning {
                                until_us,
                                latched: Some(from),
                            };
                            true
                        }
                    }
                }
            }
        };
        if !accepted {
            self.dropped += 1;
        }
        accepted
    }

    /// Where media for this leg goes: the latched address, else the signalled one.
    pub fn target(&self) -> Option<SocketAddr> {
        match self.state {
            LatchState::Locked(a) => Some(a),
            LatchState::Learning {
                latched: Some(a), ..
            } => Some(a),
            _ => self.signalled,
        }
    }

    /// The address packets are taken from, once one is latched or locked.
    pub fn latched(&self) -> Option<SocketAddr> {
        match self.state {
            LatchState::Locked(a) => Some(a),
            LatchState::Learning { latched, .. } => latched,
            LatchState::Waiting => None,
        }
    }

    /// The current state.
    pub fn state(&self) -> LatchState {
        self.state
    }

    /// Packets refused so far (RTP bleed attempts, strays), across resets.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("test address")
    }

    const W: Duration = Duration::from_secs(2);

    #[test]
    fn the_signalled_address_locks_at_once_and_others_are_dropped() {
        let mut l = Latch::new(Some(addr("10.0.0.1:4000")), W);
        assert!(l.check(addr("10.0.0.1:4000"), 0));
        assert_eq!(l.state(), LatchState::Locked(addr("10.0.0.1:4000")));
        assert!(!l.check(addr("6.6.6.6:1"), 1));
        assert_eq!(l.dropped(), 1);
        assert_eq!(l.target(), Some(addr("10.0.0.1:4000")));
    }

    #[test]
    fn a_natted_phone_is_latched_in_the_window_and_a_third_address_bleeds_nothing() {
        let mut l = Latch::new(Some(addr("192.168.1.5:4000")), W);
        assert_eq!(l.target(), Some(addr("192.168.1.5:4000")));
        assert!(l.check(addr("203.0.113.9:30000"), 1_000_000));
        assert_eq!(l.target(), Some(addr("203.0.113.9:30000")));
        assert!(
            !l.check(addr("6.6.6.6:1"), 1_500_000),
            "third address in the window"
        );
        assert!(l.check(addr("203.0.113.9:30000"), 3_100_000));
        assert_eq!(l.state(), LatchState::Locked(addr("203.0.113.9:30000")));
        assert!(!l.check(addr("6.6.6.6:1"), 3_200_000));
        assert_eq!(l.dropped(), 2);
    }

    #[test]
    fn the_window_starts_with_the_first_packet_not_with_the_sdp() {
        let mut l = Latch::new(None, W);
        assert!(l.check(addr("1.2.3.4:5"), 60_000_000));
        assert!(l.check(addr("1.2.3.4:5"), 61_000_000));
        assert!(!l.check(addr("1.2.3.4:6"), 62_500_000));
        assert_eq!(l.state(), LatchState::Locked(addr("1.2.3.4:5")));
    }

    #[test]
    fn the_signalled_address_wins_over_a_provisional_latch() {
        let mut l = Latch::new(Some(addr("10.0.0.1:4000")), W);
        assert!(l.check(addr("10.0.0.9:9"), 0));
        assert!(l.check(addr("10.0.0.1:4000"), 10));
        assert!(!l.check(addr("10.0.0.9:9"), 20));
    }

    #[test]
    fn reset_reopens_the_window_for_the_new_sdp() {
        let mut l = Latch::new(None, W);
        assert!(l.check(addr("1.1.1.1:1"), 0));
        assert!(!l.check(addr("2.2.2.2:2"), 3_000_000));
        l.reset(Some(addr("2.2.2.2:2")));
        assert!(l.check(addr("2.2.2.2:2"), 3_100_000));
        assert!(!l.check(addr("1.1.1.1:1"), 3_200_000));
        assert_eq!(l.dropped(), 2);
    }

    #[test]
    fn an_unspecified_signalled_address_counts_as_none() {
        let l = Latch::new(Some(addr("0.0.0.0:4000")), W);
        assert_eq!(l.target(), None);
    }
}
