//! The port-pair pool: even RTP ports, RTCP on port + 1, reused least recently released first,
//! and never before a released pair has rested for the quarantine.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub(crate) struct Pool {
    free: VecDeque<(u16, Option<Instant>)>,
    capacity: usize,
    quarantine: Duration,
}

impl Pool {
    pub(crate) fn new(first_port: u16, last_port: u16, quarantine: Duration) -> Pool {
        let start = first_port.saturating_add(first_port & 1);
        let mut free = VecDeque::new();
        let mut p = u32::from(start);
        while p < u32::from(last_port) {
            // p + 1 <= last_port: the RTCP port is in range too.
            free.push_back((p as u16, None));
            p += 2;
        }
        Pool {
            capacity: free.len(),
            free,
            quarantine,
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn in_use(&self) -> usize {
        self.capacity - self.free.len()
    }

    /// The pair released longest ago (a never-used one first), if it has rested. The queue is
    /// in release order, so when the front is still resting every other pair is too.
    pub(crate) fn take(&mut self, now: Instant) -> Option<u16> {
        match self.free.front() {
            Some((_, Some(at))) if now.saturating_duration_since(*at) < self.quarantine => None,
            Some(_) => self.free.pop_front().map(|(p, _)| p),
            None => None,
        }
    }

    /// A released pair, or one that could not be bound (another process holds it), goes to
    /// the back and rests.
    pub(crate) fn release(&mut self, port: u16, now: Instant) {
        self.free.push_back((port, Some(now)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: Duration = Duration::from_secs(2);

    #[test]
    fn pairs_are_even_and_fit_the_range() {
        let now = Instant::now();
        let mut p = Pool::new(10001, 10008, Q);
        assert_eq!(p.capacity(), 3);
        assert_eq!(p.take(now), Some(10002));
        assert_eq!(p.take(now), Some(10004));
        assert_eq!(p.take(now), Some(10006));
        assert_eq!(p.take(now), None);
        assert_eq!(p.in_use(), 3);
    }

    #[test]
    fn a_released_pair_is_reused_last_and_only_after_its_quarantine() {
        let now = Instant::now();
        let mut p = Pool::new(10000, 10005, Q);
        assert_eq!(p.take(now), Some(10000));
        p.release(10000, now);
        assert_eq!(p.take(now), Some(10002));
        assert_eq!(p.take(now), Some(10004));
        assert_eq!(p.take(now + Duration::from_secs(1)), None);
        assert_eq!(p.in_use(), 2);
        assert_eq!(p.take(now + Q), Some(10000));
    }
}
