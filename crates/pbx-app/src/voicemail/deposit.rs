//! Leaving a message (`voicemail:EXT`).
//!
//! Greeting (the user's recording, else "the person at extension 1101 is unavailable /
//! is on the phone" + "please leave your message after the tone"), beep, record until
//! `#`, the maximum length, the silence end or hang-up; then store the message, or
//! discard it when it is silent or shorter than `min_ms`.
//!
//! Digits during the greeting: `#` skips to the beep; `*` (when `star_to_login`) leaves
//! for the mailbox login ([`Action::EnterMailbox`]). Others are ignored.

use pbx_core::Ext;

use crate::action::{Action, CallerId, Event, GreetingKind, Io, MediaApp, MessageMeta, PromptRef};
use crate::prompts as p;
use crate::say::{self, Lang};

/// How a mailbox takes messages (the crate's own spec; the server fills it from the
/// tenant's user and the call).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepositSpec {
    /// The language of the system prompts.
    pub lang: Lang,
    /// The mailbox.
    pub mailbox: Ext,
    /// Busy or unavailable greeting.
    pub reason: GreetingKind,
    /// The user recorded a greeting for `reason` (played instead of the system one).
    pub has_greeting: bool,
    /// Who is calling.
    pub caller: CallerId,
    /// Longest message (Asterisk `maxsecs`; default 180 s).
    pub max_ms: u64,
    /// Silence that ends the recording (Asterisk `maxsilence`; default 5 s).
    pub silence_end_ms: u64,
    /// Shorter messages are discarded (Asterisk `minsecs`; default 1 s).
    pub min_ms: u64,
    /// `*` during the greeting goes to the mailbox login.
    pub star_to_login: bool,
    /// The tenant has no storage left (`limits.storage_mb`, or the disk): the caller hears
    /// "the mailbox is full, goodbye" and nothing is recorded.
    pub mailbox_full: bool,
}

impl DepositSpec {
    /// The defaults for `mailbox`: unavailable, system greeting, 180 s, 5 s silence,
    /// 1 s minimum, `*` to login.
    pub fn new(lang: Lang, mailbox: Ext, reason: GreetingKind, caller: CallerId) -> DepositSpec {
        DepositSpec {
            lang,
            mailbox,
            reason,
            has_greeting: false,
            caller,
            max_ms: 180_000,
            silence_end_ms: 5_000,
            min_ms: 1_000,
            star_to_login: true,
            mailbox_full: false,
        }
    }
}

/// Where a deposit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepositState {
    /// Waiting for [`Event::Started`].
    ExpectStart,
    /// The greeting plays.
    Greeting,
    /// Recording (the beep plays first).
    Recording,
    /// [`Action::StopRecord`] was sent; waiting for [`Event::RecordDone`]. The flag says
    /// the caller hung up (then nothing is played after).
    ExpectRecordDone {
        /// The caller is gone.
        hung_up: bool,
    },
    /// Saying "message saved / too short, goodbye".
    Leaving,
    /// Finished.
    Done,
}

/// A caller leaving a message.
#[derive(Debug)]
pub struct Deposit {
    spec: DepositSpec,
    io: Io,
    state: DepositState,
    record_started_ms: u64,
}

impl Deposit {
    /// A deposit into `spec.mailbox`.
    pub fn new(spec: DepositSpec) -> Deposit {
        Deposit {
            spec,
            io: Io::default(),
            state: DepositState::ExpectStart,
            record_started_ms: 0,
        }
    }

    /// Where the deposit is.
    pub fn state(&self) -> DepositState {
        self.state
    }

    /// What the caller hears before the beep.
    pub fn greeting(&self) -> Vec<PromptRef> {
        let mut out = Vec::new();
        if self.spec.has_greeting {
            out.push(PromptRef::Greeting {
                ext: self.spec.mailbox.clone(),
                kind: self.spec.reason,
            });
        } else {
            out.push(PromptRef::System(p::VM_THEPERSON));
            out.extend(
                say::digits(self.spec.mailbox.as_str())
                    .into_iter()
                    .map(PromptRef::System),
            );
            out.push(PromptRef::System(match self.spec.reason {
                GreetingKind::Busy => p::VM_ISONPHONE,
                GreetingKind::Unavailable => p::VM_ISUNAVAIL,
            }));
        }
        out.push(PromptRef::System(p::VM_INTRO));
        out
    }

    fn record(&mut self, now_ms: u64) {
        self.io.stop_play();
        self.record_started_ms = now_ms;
        self.io.push(Action::Record {
            max_ms: self.spec.max_ms,
            silence_end_ms: self.spec.silence_end_ms,
            beep: true,
        });
        self.state = DepositState::Recording;
    }

    fn recorded(&mut self, duration_ms: u64, silent: bool, hung_up: bool) {
        let keep = !silent && duration_ms >= self.spec.min_ms;
        if keep {
            self.io.push(Action::StoreMessage(MessageMeta {
                mailbox: self.spec.mailbox.clone(),
                caller: self.spec.caller.clone(),
                reason: self.spec.reason,
                started_ms: self.record_started_ms,
                duration_ms,
            }));
        } else {
            self.io.push(Action::DiscardRecording);
        }
        if hung_up {
            self.state = DepositState::Done;
            return;
        }
        let said = if keep { p::VM_MSGSAVED } else { p::VM_TOOSHORT };
        self.io.play(
            vec![PromptRef::System(said), PromptRef::System(p::GOODBYE)],
            false,
        );
        self.state = DepositState::Leaving;
    }
}

impl MediaApp for Deposit {
    fn handle_event(&mut self, now_ms: u64, event: Event) {
        use DepositState as S;
        if self.state == S::Done || !self.io.accept(&event) {
            return;
        }
        match (self.state, event) {
            (S::Done, _) => {}
            (
                S::ExpectRecordDone { .. },
                Event::RecordDone {
                    duration_ms,
                    silent,
                },
            ) => {
                let hung_up = matches!(self.state, S::ExpectRecordDone { hung_up: true });
                self.recorded(duration_ms, silent, hung_up);
            }
            (
                S::Recording,
                Event::RecordDone {
                    duration_ms,
                    silent,
                },
            ) => {
                self.recorded(duration_ms, silent, false);
            }
            (S::Recording, Event::Hangup) => {
                // The message is kept: most callers end it by hanging up.
                self.io.forget();
                self.io.push(Action::StopRecord);
                self.state = S::ExpectRecordDone { hung_up: true };
            }
            (S::ExpectRecordDone { .. }, Event::Hangup) => {
                self.io.forget();
                self.state = S::ExpectRecordDone { hung_up: true };
            }
            (_, Event::Hangup) => {
                self.io.forget();
                self.state = S::Done;
            }
            (S::ExpectStart, Event::Started) if self.spec.mailbox_full => {
                self.io.push(Action::Answer);
                self.io.play(
                    vec![
                        PromptRef::System(p::VM_MAILBOXFULL),
                        PromptRef::System(p::GOODBYE),
                    ],
                    false,
                );
                self.state = S::Leaving;
            }
            (S::ExpectStart, Event::Started) => {
                self.io.push(Action::Answer);
                let greeting = self.greeting();
                self.io.play(greeting, false);
                self.state = S::Greeting;
            }
            (S::Greeting, Event::PlayDone(_)) => self.record(now_ms),
            (S::Greeting, Event::Digit('#')) => self.record(now_ms),
            (S::Greeting, Event::Digit('*')) if self.spec.star_to_login => {
                self.io
                    .finish(Action::EnterMailbox(self.spec.mailbox.clone()));
                self.state = S::Done;
            }
            (S::Recording, Event::Digit('#')) => {
                self.io.push(Action::StopRecord);
                self.state = S::ExpectRecordDone { hung_up: false };
            }
            (S::Leaving, Event::PlayDone(_)) => {
                self.io.finish(Action::Hangup);
                self.state = S::Done;
            }
            _ => {}
        }
    }

    fn poll_action(&mut self) -> Option<Action> {
        self.io.pop()
    }

    fn is_finished(&self) -> bool {
        self.state == DepositState::Done
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::action::PlayId;

    fn spec() -> DepositSpec {
        DepositSpec::new(
            Lang::En,
            Ext::parse("1101").unwrap(),
            GreetingKind::Unavailable,
            CallerId {
                number: Some("+390612345678".into()),
                name: Some("Rossi".into()),
            },
        )
    }

    fn drain(d: &mut Deposit) -> Vec<Action> {
        std::iter::from_fn(|| d.poll_action()).collect()
    }

    fn play_id(actions: &[Action]) -> PlayId {
        actions
            .iter()
            .find_map(|a| match a {
                Action::Play { id, .. } => Some(*id),
                _ => None,
            })
            .unwrap()
    }

    fn sys(names: &[&'static str]) -> Vec<PromptRef> {
        names.iter().map(|n| PromptRef::System(n)).collect()
    }

    #[test]
    fn the_system_greeting_names_the_extension_and_the_reason() {
        let d = Deposit::new(spec());
        assert_eq!(
            d.greeting(),
            sys(&[
                "vm-theperson",
                "digits/1",
                "digits/1",
                "digits/0",
                "digits/1",
                "vm-isunavail",
                "vm-intro"
            ])
        );
        let mut busy = spec();
        busy.reason = GreetingKind::Busy;
        assert!(
            Deposit::new(busy)
                .greeting()
                .contains(&PromptRef::System("vm-isonphone"))
        );
    }

    #[test]
    fn a_full_mailbox_says_so_and_records_nothing() {
        let mut s = spec();
        s.mailbox_full = true;
        let mut d = Deposit::new(s);
        d.handle_event(1_000, Event::Started);
        let a = drain(&mut d);
        assert_eq!(a[0], Action::Answer);
        assert!(
            matches!(&a[1], Action::Play { prompts, .. }
            if *prompts == sys(&["vm-mailboxfull", "vm-goodbye"])),
            "{a:?}"
        );
        d.handle_event(2_000, Event::Digit('#'));
        assert!(drain(&mut d).is_empty(), "no recording on #");
        d.handle_event(4_000, Event::PlayDone(play_id(&a)));
        assert_eq!(drain(&mut d), [Action::Hangup]);
        assert!(d.is_finished());
    }

    #[test]
    fn a_recorded_greeting_replaces_the_system_one() {
        let mut s = spec();
        s.has_greeting = true;
        s.reason = GreetingKind::Busy;
        assert_eq!(
            Deposit::new(s).greeting(),
            [
                PromptRef::Greeting {
                    ext: Ext::parse("1101").unwrap(),
                    kind: GreetingKind::Busy
                },
                PromptRef::System("vm-intro")
            ]
        );
    }

    #[test]
    fn a_message_ended_by_pound_is_stored_with_its_metadata_then_goodbye() {
        let mut d = Deposit::new(spec());
        d.handle_event(1_000, Event::Started);
        let a = drain(&mut d);
        assert_eq!(a[0], Action::Answer);
        d.handle_event(9_000, Event::PlayDone(play_id(&a)));
        assert_eq!(
            drain(&mut d),
            [Action::Record {
                max_ms: 180_000,
                silence_end_ms: 5_000,
                beep: true
            }]
        );
        d.handle_event(12_000, Event::Digit('5'));
        assert!(
            drain(&mut d).is_empty(),
            "other digits do not stop the recording"
        );
        d.handle_event(20_000, Event::Digit('#'));
        assert_eq!(drain(&mut d), [Action::StopRecord]);
        d.handle_event(
            20_010,
            Event::RecordDone {
                duration_ms: 10_500,
                silent: false,
            },
        );
        let a = drain(&mut d);
        assert_eq!(
            a[0],
            Action::StoreMessage(MessageMeta {
                mailbox: Ext::parse("1101").unwrap(),
                caller: spec().caller,
                reason: GreetingKind::Unavailable,
                started_ms: 9_000,
                duration_ms: 10_500,
            })
        );
        d.handle_event(22_000, Event::PlayDone(play_id(&a)));
        assert_eq!(drain(&mut d), [Action::Hangup]);
        assert!(d.is_finished());
    }

    #[test]
    fn hanging_up_while_recording_still_stores_the_message() {
        let mut d = Deposit::new(spec());
        d.handle_event(0, Event::Started);
        drain(&mut d);
        d.handle_event(0, Event::Digit('#'));
        assert!(matches!(
            drain(&mut d)[..],
            [Action::StopPlay, Action::Record { .. }]
        ));
        d.handle_event(30_000, Event::Hangup);
        assert_eq!(drain(&mut d), [Action::StopRecord]);
        assert!(!d.is_finished(), "the recording is still to be reported");
        d.handle_event(
            30_001,
            Event::RecordDone {
                duration_ms: 30_000,
                silent: false,
            },
        );
        let a = drain(&mut d);
        assert!(matches!(a[..], [Action::StoreMessage(ref m)] if m.started_ms == 0));
        assert!(d.is_finished());
    }

    #[test]
    fn a_silent_or_too_short_message_is_discarded() {
        for (duration_ms, silent) in [(30_000, true), (900, false)] {
            let mut d = Deposit::new(spec());
            d.handle_event(0, Event::Started);
            drain(&mut d);
            d.handle_event(0, Event::Digit('#'));
            drain(&mut d);
            d.handle_event(
                1,
                Event::RecordDone {
                    duration_ms,
                    silent,
                },
            );
            let a = drain(&mut d);
            assert_eq!(a[0], Action::DiscardRecording);
            assert!(a.iter().any(|x| matches!(x, Action::Play { prompts, .. }
                if prompts == &sys(&["vm-tooshort", "vm-goodbye"]))));
        }
    }

    #[test]
    fn the_recording_ending_by_itself_is_handled_like_pound() {
        let mut d = Deposit::new(spec());
        d.handle_event(0, Event::Started);
        let a = drain(&mut d);
        d.handle_event(5_000, Event::PlayDone(play_id(&a)));
        drain(&mut d);
        d.handle_event(
            190_000,
            Event::RecordDone {
                duration_ms: 180_000,
                silent: false,
            },
        );
        assert!(matches!(drain(&mut d)[0], Action::StoreMessage(_)));
    }

    #[test]
    fn star_during_the_greeting_goes_to_the_login_unless_disabled() {
        let mut d = Deposit::new(spec());
        d.handle_event(0, Event::Started);
        drain(&mut d);
        d.handle_event(1, Event::Digit('*'));
        assert_eq!(
            drain(&mut d),
            [
                Action::StopPlay,
                Action::EnterMailbox(Ext::parse("1101").unwrap())
            ]
        );
        assert!(d.is_finished());

        let mut s = spec();
        s.star_to_login = false;
        let mut d = Deposit::new(s);
        d.handle_event(0, Event::Started);
        drain(&mut d);
        d.handle_event(1, Event::Digit('*'));
        assert!(drain(&mut d).is_empty());
        assert_eq!(d.state(), DepositState::Greeting);
    }

    #[test]
    fn hangup_during_the_greeting_stores_nothing() {
        let mut d = Deposit::new(spec());
        d.handle_event(0, Event::Started);
        let a = drain(&mut d);
        d.handle_event(1, Event::Hangup);
        d.handle_event(2, Event::PlayDone(play_id(&a)));
        d.handle_event(
            3,
            Event::RecordDone {
                duration_ms: 5_000,
                silent: false,
            },
        );
        assert!(drain(&mut d).is_empty());
        assert!(d.is_finished());
    }
}
