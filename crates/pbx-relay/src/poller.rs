//! A level-triggered epoll set and an eventfd waker (safe calls through `rustix`).
//!
//! Level-triggered so that the worker reads exactly one datagram per readiness report: a socket
//! with more queued is reported again by the next wait, so no read ends in `EWOULDBLOCK` (the
//! edge-triggered drain costs one such extra `recvfrom` per packet at telephony rates, where a
//! socket rarely holds more than one datagram per wake-up), and a flooded socket cannot starve
//! the others.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use rustix::buffer::spare_capacity;
use rustix::event::epoll::{self, CreateFlags, Event, EventData, EventFlags};
use rustix::event::{EventfdFlags, Timespec, eventfd};

/// The token reported for the waker.
pub(crate) const WAKER: u64 = u64::MAX;

#[derive(Debug)]
pub(crate) struct Poller {
    epoll: OwnedFd,
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
        Ok((
            Poller { epoll },
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

    /// Waits at most `timeout` and fills `events` (cleared first, up to its capacity).
    pub(crate) fn wait(&self, events: &mut Vec<Event>, timeout: Duration) -> io::Result<()> {
        events.clear();
        let ts = Timespec {
            tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(timeout.subsec_nanos()),
        };
        match epoll::wait(&self.epoll, spare_capacity(events), Some(&ts)) {
            Ok(_) | Err(rustix::io::Errno::INTR) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
