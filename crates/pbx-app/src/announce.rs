//! `announce:PROMPT`: play prompts, then hang up or go on to a next destination.

use pbx_core::Destination;

use crate::action::{Action, Event, Io, MediaApp, PromptRef};

/// A running announcement on one call.
#[derive(Debug)]
pub struct Announce {
    prompts: Vec<PromptRef>,
    next: Option<Destination>,
    io: Io,
    started: bool,
    done: bool,
}

impl Announce {
    /// Plays `prompts` (not interruptible by digits), then goes to `next`, or hangs up
    /// when `next` is `None`.
    pub fn new(prompts: Vec<PromptRef>, next: Option<Destination>) -> Announce {
        Announce {
            prompts,
            next,
            io: Io::default(),
            started: false,
            done: false,
        }
    }
}

impl MediaApp for Announce {
    fn handle_event(&mut self, _now_ms: u64, event: Event) {
        if self.done || !self.io.accept(&event) {
            return;
        }
        match event {
            Event::Started if !self.started => {
                self.started = true;
                self.io.push(Action::Answer);
                self.io.play(std::mem::take(&mut self.prompts), false);
            }
            Event::PlayDone(_) => {
                self.done = true;
                let last = match self.next.take() {
                    Some(d) => Action::Goto(d),
                    None => Action::Hangup,
                };
                self.io.finish(last);
            }
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
    use crate::action::PlayId;

    fn drain(a: &mut Announce) -> Vec<Action> {
        std::iter::from_fn(|| a.poll_action()).collect()
    }

    fn closed() -> Vec<PromptRef> {
        vec![PromptRef::Named("closed".into())]
    }

    #[test]
    fn an_announcement_answers_plays_and_hangs_up() {
        let mut a = Announce::new(closed(), None);
        a.handle_event(0, Event::Started);
        assert_eq!(
            drain(&mut a),
            [
                Action::Answer,
                Action::Play {
                    id: PlayId(1),
                    prompts: closed(),
                    barge_in: false
                }
            ]
        );
        a.handle_event(5, Event::Digit('1'));
        assert!(drain(&mut a).is_empty(), "digits do not interrupt it");
        a.handle_event(9, Event::PlayDone(PlayId(1)));
        assert_eq!(drain(&mut a), [Action::Hangup]);
        assert!(a.is_finished());
    }

    #[test]
    fn an_announcement_with_a_next_destination_goes_there_after_playing() {
        let next = Destination::parse("ivr:main").unwrap();
        let mut a = Announce::new(closed(), Some(next.clone()));
        a.handle_event(0, Event::Started);
        drain(&mut a);
        a.handle_event(1, Event::PlayDone(PlayId(7)));
        assert!(drain(&mut a).is_empty(), "a stale play end is ignored");
        a.handle_event(2, Event::PlayDone(PlayId(1)));
        assert_eq!(drain(&mut a), [Action::Goto(next)]);
    }

    #[test]
    fn hangup_during_an_announcement_ends_it_without_actions() {
        let mut a = Announce::new(closed(), None);
        a.handle_event(0, Event::Started);
        drain(&mut a);
        a.handle_event(1, Event::Hangup);
        a.handle_event(2, Event::PlayDone(PlayId(1)));
        assert!(drain(&mut a).is_empty());
        assert!(a.is_finished());
    }
}
