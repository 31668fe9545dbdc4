//! `queue:EXT`: what a waiting caller hears. The caller is answered and hears music on
//! hold; every `announce_every_ms` the music stops for their position ("You are
//! currently caller number 3") and the estimated hold time, then resumes.
//!
//! The queue itself (who waits, which agent rings) is the server's; it tells the
//! application the caller's position and the estimated wait through a shared
//! [`QueueSeat`], read when an announcement is due. The application never ends by
//! itself: the server takes the call out of the queue (an agent answered, the caller
//! waited too long) and the call stops it with [`Event::Hangup`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::action::{Action, Event, Io, MediaApp, PromptRef};
use crate::prompts;
use crate::say::{self, Lang};

/// A waiting caller's place, written by the server's queue and read by the
/// application when it announces.
#[derive(Debug, Default)]
pub struct QueueSeat {
    position: AtomicU32,
    ewt_s: AtomicU32,
}

impl QueueSeat {
    /// A seat at `position` (1 = next to be served) with an estimated wait of `ewt_s`
    /// seconds (0 = unknown).
    pub fn new(position: u32, ewt_s: u32) -> QueueSeat {
        let s = QueueSeat::default();
        s.set(position, ewt_s);
        s
    }

    /// Updates the caller's position and estimated wait.
    pub fn set(&self, position: u32, ewt_s: u32) {
        self.position.store(position, Ordering::Relaxed);
        self.ewt_s.store(ewt_s, Ordering::Relaxed);
    }

    /// The caller's position (1 = next; 0 = unknown).
    pub fn position(&self) -> u32 {
        self.position.load(Ordering::Relaxed)
    }

    /// The estimated wait in seconds (0 = unknown).
    pub fn ewt_s(&self) -> u32 {
        self.ewt_s.load(Ordering::Relaxed)
    }
}

/// How a queue's callers wait.
#[derive(Debug, Clone)]
pub struct QueueWaitSpec {
    /// Music-on-hold class (empty: the tenant's).
    pub moh_class: String,
    /// Time between announcements (0: never announce).
    pub announce_every_ms: u64,
    /// Say the position.
    pub position: bool,
    /// Say the estimated hold time (when known).
    pub holdtime: bool,
    /// Language of the numbers.
    pub lang: Lang,
}

/// A caller waiting in a queue.
#[derive(Debug)]
pub struct QueueWait {
    spec: QueueWaitSpec,
    seat: Arc<QueueSeat>,
    io: Io,
    started: bool,
    done: bool,
    /// Announcements made so far.
    announced: u32,
}

impl QueueWait {
    /// A caller who waits on `seat`.
    pub fn new(spec: QueueWaitSpec, seat: Arc<QueueSeat>) -> QueueWait {
        QueueWait {
            spec,
            seat,
            io: Io::default(),
            started: false,
            done: false,
            announced: 0,
        }
    }

    /// Announcements made so far.
    pub fn announcements(&self) -> u32 {
        self.announced
    }

    /// What the next announcement says (empty: nothing worth saying).
    pub fn announcement(&self) -> Vec<PromptRef> {
        let mut out: Vec<&'static str> = Vec::new();
        let pos = self.seat.position();
        if self.spec.position && pos > 0 {
            if pos == 1 {
                out.push(prompts::QUEUE_YOUARENEXT);
            } else {
                out.push(prompts::QUEUE_THEREARE);
                out.extend(say::number(self.spec.lang, u64::from(pos)));
                out.push(prompts::QUEUE_CALLSWAITING);
            }
        }
        let ewt = self.seat.ewt_s();
        if self.spec.holdtime && ewt > 0 {
            out.push(prompts::QUEUE_HOLDTIME);
            // Rounded up to whole minutes, as Asterisk says it.
            let minutes = u64::from(ewt).div_ceil(60);
            if ewt < 60 {
                out.push(prompts::QUEUE_LESS_THAN);
                out.extend(say::number(self.spec.lang, 1));
                out.push(prompts::QUEUE_MINUTE);
            } else {
                out.extend(say::number(self.spec.lang, minutes));
                out.push(if minutes == 1 {
                    prompts::QUEUE_MINUTE
                } else {
                    prompts::QUEUE_MINUTES
                });
            }
        }
        if !out.is_empty() {
            out.push(prompts::QUEUE_THANKYOU);
        }
        out.into_iter().map(PromptRef::System).collect()
    }

    fn music(&mut self, now_ms: u64) {
        self.io.push(Action::Moh {
            class: self.spec.moh_class.clone(),
        });
        if self.spec.announce_every_ms > 0 {
            self.io.start_timer(now_ms + self.spec.announce_every_ms);
        }
    }
}

impl MediaApp for QueueWait {
    fn handle_event(&mut self, now_ms: u64, event: Event) {
        if self.done || !self.io.accept(&event) {
            return;
        }
        match event {
            Event::Started if !self.started => {
                self.started = true;
                self.io.push(Action::Answer);
                self.music(now_ms);
            }
            Event::Timer(_) => {
                let words = self.announcement();
                if words.is_empty() {
                    self.music(now_ms);
                } else {
                    self.announced += 1;
                    self.io.play(words, false);
                }
            }
            Event::PlayDone(_) => self.music(now_ms),
            Event::Hangup => {
                self.io.forget();
                self.done = true;
            }
            _ => {}
        }
    }

    fn poll_action(&mut self) -> Option<Action> {
        self.io.pop()
    }

    fn is_finished(&self) -> bool {
        self.done
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn spec(every: u64) -> QueueWaitSpec {
        QueueWaitSpec {
            moh_class: "default".into(),
            announce_every_ms: every,
            position: true,
            holdtime: true,
            lang: Lang::En,
        }
    }

    fn drain(q: &mut QueueWait) -> Vec<Action> {
        std::iter::from_fn(|| q.poll_action()).collect()
    }

    fn names(a: &Action) -> Vec<String> {
        match a {
            Action::Play { prompts, .. } => prompts
                .iter()
                .map(|p| match p {
                    PromptRef::System(s) => (*s).to_owned(),
                    other => format!("{other:?}"),
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn a_caller_is_answered_and_hears_music_until_the_first_announcement() {
        let seat = Arc::new(QueueSeat::new(3, 0));
        let mut q = QueueWait::new(spec(30_000), seat);
        q.handle_event(1_000, Event::Started);
        let a = drain(&mut q);
        assert_eq!(a[0], Action::Answer);
        assert_eq!(
            a[1],
            Action::Moh {
                class: "default".into()
            }
        );
        assert!(matches!(a[2], Action::StartTimer { at_ms: 31_000, .. }));
        assert!(!q.is_finished());
    }

    #[test]
    fn the_announcement_says_the_position_then_music_resumes_and_repeats() {
        let seat = Arc::new(QueueSeat::new(3, 0));
        let mut q = QueueWait::new(spec(30_000), Arc::clone(&seat));
        q.handle_event(0, Event::Started);
        let token = drain(&mut q)
            .into_iter()
            .find_map(|a| match a {
                Action::StartTimer { token, .. } => Some(token),
                _ => None,
            })
            .unwrap();
        q.handle_event(30_000, Event::Timer(token));
        let a = drain(&mut q);
        let play = a.iter().find(|a| matches!(a, Action::Play { .. })).unwrap();
        assert_eq!(
            names(play),
            [
                "queue-thereare",
                "digits/3",
                "queue-callswaiting",
                "queue-thankyou"
            ]
        );
        let Action::Play { id, .. } = play else {
            unreachable!()
        };
        q.handle_event(34_000, Event::PlayDone(*id));
        let a = drain(&mut q);
        assert!(matches!(a[0], Action::Moh { .. }));
        assert!(matches!(a[1], Action::StartTimer { at_ms: 64_000, .. }));
        assert_eq!(q.announcements(), 1);
    }

    #[test]
    fn the_first_in_line_hears_so_and_the_hold_time_in_minutes() {
        let seat = Arc::new(QueueSeat::new(1, 150));
        let q = QueueWait::new(spec(10_000), Arc::clone(&seat));
        let words: Vec<_> = q.announcement();
        assert_eq!(
            words,
            [
                "queue-youarenext",
                "queue-holdtime",
                "digits/3",
                "queue-minutes",
                "queue-thankyou"
            ]
            .map(PromptRef::System)
        );
        seat.set(2, 20);
        let words = q.announcement();
        assert_eq!(words[0], PromptRef::System("queue-thereare"));
        assert!(words.contains(&PromptRef::System("queue-less-than")));
        assert!(words.contains(&PromptRef::System("queue-minute")));
    }

    #[test]
    fn without_announcements_the_caller_only_hears_music() {
        let seat = Arc::new(QueueSeat::new(2, 60));
        let mut q = QueueWait::new(spec(0), seat);
        q.handle_event(0, Event::Started);
        let a = drain(&mut q);
        assert_eq!(a.len(), 2);
        assert!(!a.iter().any(|a| matches!(a, Action::StartTimer { .. })));
    }

    #[test]
    fn hangup_ends_the_wait_without_actions() {
        let seat = Arc::new(QueueSeat::new(2, 0));
        let mut q = QueueWait::new(spec(5_000), seat);
        q.handle_event(0, Event::Started);
        drain(&mut q);
        q.handle_event(1, Event::Hangup);
        assert!(drain(&mut q).is_empty());
        assert!(q.is_finished());
        q.handle_event(2, Event::Started);
        assert!(drain(&mut q).is_empty());
    }
}
