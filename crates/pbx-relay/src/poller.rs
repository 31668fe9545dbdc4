//! A level-triggered epoll set, an eventfd waker and a timerfd deadline (safe calls through
//! `rustix`).
//!
//! Level-triggered so that the worker reads exactly one datagram per readiness report: a socket
//! with more queued is reported again by the next wait, so no read ends in `EWOULDBLOCK` (the
//! edge-triggered drain costs one such extra `recvfrom` per packet at telephony rates, where a
//! socket rarely holds more than one datagram per wake-up), and a flooded socket cannot starve
//! the others.
//!
//! The media engine's deadlines (one every millisecond) are kept by a timerfd in the set, armed
//! at an absolute `CLOCK_MONOTONIC` time: the timeout of `epoll_wait` is whole milliseconds
//! (rustix rounds a finer one up, so a frame due in 0.2 ms was sent up to 0.8 ms late) and is
//! stretched by the thread's timer slack (50 µs by default); a timerfd expires on time.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use rustix::buffer::spare_capacity;
use rustix::event::epoll::{self, CreateFlags, Event, EventData, EventFlags};
use rustix::event::{EventfdFlags, Timespec, eventfd};
use rustix::time::{
    ClockId, Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, clock_gettime,
    timerfd_create, timerfd_settime,
};

/// The token reported for the waker.
pub(crate) const WAKER: u64 = u64::MAX;
/// The token reported when the deadline set by [`Poller::set_deadline`] has come.
pub(crate) const TIMER: u64 = u64::MAX - 1;

#[derive(Debug)]
pub(crate) struct Poller {
    /// Every socket, the waker and the timer.
    epoll: OwnedFd,
    /// The waker and the timer only: [`Poller::wait_clocked`] sleeps on it.
    clock: OwnedFd,
    timer: OwnedFd,
}

/// Now on `CLOCK_MONOTONIC` (the clock of [`std::time::Instant`] on Linux), nanoseconds.
pub(crate) fn monotonic_ns() -> u64 {
    let t = clock_gettime(ClockId::Monotonic);
    u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(t.tv_nsec).unwrap_or(0)
}

/// Wakes a [`Poller`] from another thread.
#[derive(Debug)]
pub(crate) struct Waker {
    fd: OwnedFd,
    /// A wake-up is written and not yet taken by the worker: further
    /// commands need no syscall (the worker drains the whole channel).
    pending: std::sync::atomic::AtomicBool,
}

impl Waker {
    pub(crate) fn wake(&self) -> io::Result<()> {
        if self.pending.swap(true, std::sync::atomic::Ordering::AcqRel) {
            return Ok(());
        }
        match rustix::io::write(&self.fd, &1u64.to_ne_bytes()) {
            // The counter is full: the worker has wake-ups pending anyway.
            Ok(_) | Err(rustix::io::Errno::AGAIN) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Clears the pending wake-ups (the eventfd stays readable until read).
    /// Called before the worker drains its commands, so a command sent
    /// after the drain started wakes it again.
    pub(crate) fn reset(&self) {
        let mut buf = [0u8; 8];
        let _ = rustix::io::read(&self.fd, &mut buf);
        self.pending
            .store(false, std::sync::atomic::Ordering::Release);
    }
}

impl Poller {
    pub(crate) fn new() -> io::Result<(Poller, Waker)> {
        let epoll = epoll::create(CreateFlags::CLOEXEC)?;
        let fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        epoll::add(&epoll, &fd, EventData::new_u64(WAKER), EventFlags::IN)?;
        let timer = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::CLOEXEC | TimerfdFlags::NONBLOCK,
        )?;
        epoll::add(&epoll, &timer, EventData::new_u64(TIMER), EventFlags::IN)?;
        let clock = epoll::create(CreateFlags::CLOEXEC)?;
        epoll::add(&clock, &fd, EventData::new_u64(WAKER), EventFlags::IN)?;
        epoll::add(&clock, &timer, EventData::new_u64(TIMER), EventFlags::IN)?;
        Ok((
            Poller {
                epoll,
                clock,
                timer,
            },
            Waker {
                fd,
                pending: std::sync::atomic::AtomicBool::new(false),
            },
        ))
    }

    /// Level-triggered read interest for `fd`, reported as `token`.
    pub(crate) fn add(&self, fd: impl AsFd, token: u64) -> io::Result<()> {
        epoll::add(&self.epoll, fd, EventData::new_u64(token), EventFlags::IN)?;
        Ok(())
    }

    pub(crate) fn delete(&self, fd: impl AsFd) {
        let _ = epoll::delete(&self.epoll, fd);
    }

    /// Arms the deadline timer for `at_ns` on `CLOCK_MONOTONIC` (see [`monotonic_ns`]; a time
    /// already past is reported by the next wait), or disarms it. Setting the timer also
    /// clears the report of an earlier expiry, so the expiry count never needs a `read`.
    pub(crate) fn set_deadline(&self, at_ns: Option<u64>) -> io::Result<()> {
        let zero = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let it_value = match at_ns {
            // A zero it_value disarms: 1 ns (long past) stands for "now" instead.
            Some(ns) => Timespec {
                tv_sec: i64::try_from(ns / 1_000_000_000).unwrap_or(i64::MAX),
                tv_nsec: i64::try_from(ns % 1_000_000_000).unwrap_or(0).max(1),
            },
            None => zero,
        };
        timerfd_settime(
            &self.timer,
            TimerfdTimerFlags::ABSTIME,
            &Itimerspec {
                it_interval: zero,
                it_value,
            },
        )?;
        Ok(())
    }

    /// Waits at most `timeout` and fills `events` (cleared first, up to its capacity).
    pub(crate) fn wait(&self, events: &mut Vec<Event>, timeout: Duration) -> io::Result<()> {
        wait_on(&self.epoll, events, timeout)
    }

    /// Sleeps until the deadline timer fires or the waker is woken (at most `timeout`),
    /// leaving readable sockets queued, then fills `events` with everything ready. When the
    /// next deadline is near, this takes the packets that arrive meanwhile in one wake-up
    /// instead of one wake-up (a context switch and an `epoll_wait`) each.
    pub(crate) fn wait_clocked(
        &self,
        events: &mut Vec<Event>,
        timeout: Duration,
    ) -> io::Result<()> {
        wait_on(&self.clock, events, timeout)?;
        wait_on(&self.epoll, events, Duration::ZERO)
    }
}

fn wait_on(epoll: &OwnedFd, events: &mut Vec<Event>, timeout: Duration) -> io::Result<()> {
    events.clear();
    let ts = Timespec {
        tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(timeout.subsec_nanos()),
    };
    match epoll::wait(epoll, spare_capacity(events), Some(&ts)) {
        Ok(_) | Err(rustix::io::Errno::INTR) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn tokens(p: &Poller, timeout: Duration) -> Vec<u64> {
        let mut events = Vec::with_capacity(8);
        p.wait(&mut events, timeout).unwrap();
        events.iter().map(|e| e.data.u64()).collect()
    }

    #[test]
    fn the_deadline_timer_fires_on_time_and_rearming_clears_its_report() {
        let (p, _waker) = Poller::new().unwrap();
        let start = monotonic_ns();
        p.set_deadline(Some(start + 3_000_000)).unwrap();
        assert!(tokens(&p, Duration::ZERO).is_empty(), "not yet due");
        assert_eq!(tokens(&p, Duration::from_secs(1)), vec![TIMER]);
        let fired = monotonic_ns();
        assert!(
            fired >= start + 3_000_000,
            "fired {} ns early",
            start + 3_000_000 - fired
        );
        // Level-triggered: reported again until the timer is set anew.
        assert_eq!(tokens(&p, Duration::ZERO), vec![TIMER]);
        p.set_deadline(Some(monotonic_ns() + 60_000_000_000))
            .unwrap();
        assert!(tokens(&p, Duration::from_millis(5)).is_empty());
        p.set_deadline(Some(1)).unwrap();
        assert_eq!(
            tokens(&p, Duration::from_secs(1)),
            vec![TIMER],
            "a past deadline fires at once"
        );
        p.set_deadline(None).unwrap();
        assert!(tokens(&p, Duration::from_millis(5)).is_empty(), "disarmed");
    }

    #[test]
    fn a_clocked_wait_sleeps_through_readable_sockets_until_the_deadline_then_reports_them() {
        let (p, waker) = Poller::new().unwrap();
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        p.add(&a, 7).unwrap();
        b.send_to(b"x", a.local_addr().unwrap()).unwrap();
        assert_eq!(
            tokens(&p, Duration::from_secs(1)),
            vec![7],
            "a plain wait wakes at once"
        );
        let start = monotonic_ns();
        p.set_deadline(Some(start + 20_000_000)).unwrap();
        let mut events = Vec::with_capacity(8);
        p.wait_clocked(&mut events, Duration::from_secs(1)).unwrap();
        let woke = monotonic_ns();
        let mut got: Vec<u64> = events.iter().map(|e| e.data.u64()).collect();
        got.sort_unstable();
        assert_eq!(got, vec![7, TIMER]);
        assert!(
            woke >= start + 20_000_000,
            "woke {} ns early",
            start + 20_000_000 - woke
        );
        // The waker ends a clocked wait before the deadline.
        p.set_deadline(Some(monotonic_ns() + 60_000_000_000))
            .unwrap();
        waker.wake().unwrap();
        p.wait_clocked(&mut events, Duration::from_secs(1)).unwrap();
        let mut got: Vec<u64> = events.iter().map(|e| e.data.u64()).collect();
        got.sort_unstable();
        assert_eq!(got, vec![7, WAKER]);
    }
}
