//! Opening a mailbox by phone: ask for the PIN, compare it in constant time, give up after
//! `max_attempts` wrong ones.
//!
//! The PIN is entered after "password" (`vm-password`), ended by `#` or by
//! `inter_digit_timeout` after the last digit; no digit within `digit_timeout` after the
//! prompt counts as a wrong attempt. Wrong: "login incorrect, password" again; after the
//! last attempt: "login incorrect, goodbye", hang up. A mailbox without a PIN cannot be
//! opened this way.

use pbx_core::Ext;
use subtle::ConstantTimeEq;

use crate::action::{Action, Event, Io, MediaApp, PromptRef, is_dtmf};
use crate::prompts as p;
use crate::say::Lang;

/// The longest entry kept (more digits are dropped; the PIN cannot match then).
const MAX_ENTRY: usize = 32;

/// Whose mailbox and its PIN (the crate's own spec, filled from the tenant's user).
#[derive(Clone, PartialEq, Eq)]
pub struct LoginSpec {
    /// The language of the prompts.
    pub lang: Lang,
    /// The mailbox to open.
    pub mailbox: Ext,
    /// The user's PIN (digits); empty: the mailbox cannot be opened by phone.
    pub pin: String,
    /// Wrong PINs before hanging up (default 3).
    pub max_attempts: u32,
    /// Wait for the first digit after the prompt (default 10 s).
    pub digit_timeout_ms: u64,
    /// Wait for each next digit (default 5 s).
    pub inter_digit_timeout_ms: u64,
}

impl std::fmt::Debug for LoginSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginSpec")
            .field("lang", &self.lang)
            .field("mailbox", &self.mailbox)
            .field("pin", &"<redacted>")
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

impl LoginSpec {
    /// The defaults: 3 attempts, 10 s then 5 s between digits.
    pub fn new(lang: Lang, mailbox: Ext, pin: String) -> LoginSpec {
        LoginSpec {
            lang,
            mailbox,
            pin,
            max_attempts: 3,
            digit_timeout_ms: 10_000,
            inter_digit_timeout_ms: 5_000,
        }
    }
}

/// Where a login is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginState {
    /// Waiting for [`Event::Started`].
    ExpectStart,
    /// "(Login incorrect,) password" plays; digits already count.
    Prompting,
    /// Collecting the PIN.
    ExpectDigits,
    /// "Login incorrect, goodbye" before hanging up.
    Leaving,
    /// Finished.
    Done,
}

/// A caller opening a mailbox.
pub struct Login {
    spec: LoginSpec,
    io: Io,
    state: LoginState,
    entry: String,
    failures: u32,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("spec", &self.spec)
            .field("state", &self.state)
            .field("entered_digits", &self.entry.len())
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

impl Login {
    /// A login to `spec.mailbox`.
    pub fn new(spec: LoginSpec) -> Login {
        Login {
            spec,
            io: Io::default(),
            state: LoginState::ExpectStart,
            entry: String::new(),
            failures: 0,
        }
    }

    /// Where the login is.
    pub fn state(&self) -> LoginState {
        self.state
    }

    /// Wrong PINs so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    fn ask(&mut self, after_failure: bool) {
        self.entry.clear();
        let mut list = Vec::new();
        if after_failure {
            list.push(PromptRef::System(p::VM_INCORRECT));
        }
        list.push(PromptRef::System(p::VM_PASSWORD));
        self.io.play(list, true);
        self.state = LoginState::Prompting;
    }

    fn pin_matches(&self) -> bool {
        !self.spec.pin.is_empty()
            && bool::from(self.entry.as_bytes().ct_eq(self.spec.pin.as_bytes()))
    }

    fn check(&mut self) {
        self.io.cancel_timer();
        if self.pin_matches() {
            self.entry.clear();
            self.io.finish(Action::Authenticated {
                mailbox: self.spec.mailbox.clone(),
            });
            self.state = LoginState::Done;
            return;
        }
        self.entry.clear();
        self.failures = self.failures.saturating_add(1);
        if self.failures >= self.spec.max_attempts {
            self.io.play(
                vec![
                    PromptRef::System(p::VM_INCORRECT),
                    PromptRef::System(p::GOODBYE),
                ],
                false,
            );
            self.state = LoginState::Leaving;
        } else {
            self.ask(true);
        }
    }
}

impl MediaApp for Login {
    fn handle_event(&mut self, now_ms: u64, event: Event) {
        use LoginState as S;
        if self.state == S::Done || !self.io.accept(&event) {
            return;
        }
        match (self.state, event) {
            (S::Done, _) => {}
            (_, Event::Hangup) => {
                self.io.forget();
                self.entry.clear();
                self.state = S::Done;
            }
            (S::ExpectStart, Event::Started) => {
                self.io.push(Action::Answer);
                self.ask(false);
            }
            (S::Prompting, Event::PlayDone(_)) => {
                self.io
                    .start_timer(now_ms.saturating_add(self.spec.digit_timeout_ms));
                self.state = S::ExpectDigits;
            }
            (S::Prompting | S::ExpectDigits, Event::Digit(d)) if is_dtmf(d) => {
                self.io.stop_play();
                if d == '#' {
                    return self.check();
                }
                if self.entry.len() < MAX_ENTRY {
                    self.entry.push(d);
                }
                self.io
                    .start_timer(now_ms.saturating_add(self.spec.inter_digit_timeout_ms));
                self.state = S::ExpectDigits;
            }
            (S::ExpectDigits, Event::Timer(_)) => self.check(),
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
        self.state == LoginState::Done
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::action::{PlayId, TimerToken};

    fn login(pin: &str) -> Login {
        Login::new(LoginSpec::new(
            Lang::En,
            Ext::parse("1101").unwrap(),
            pin.to_owned(),
        ))
    }

    fn drain(l: &mut Login) -> Vec<Action> {
        std::iter::from_fn(|| l.poll_action()).collect()
    }

    fn enter(l: &mut Login, now: u64, s: &str) -> Vec<Action> {
        for c in s.chars() {
            l.handle_event(now, Event::Digit(c));
        }
        drain(l)
    }

    fn ok(mailbox: &str) -> Action {
        Action::Authenticated {
            mailbox: Ext::parse(mailbox).unwrap(),
        }
    }

    #[test]
    fn the_right_pin_ended_by_pound_opens_the_mailbox() {
        let mut l = login("4321");
        l.handle_event(0, Event::Started);
        let a = drain(&mut l);
        assert_eq!(a[0], Action::Answer);
        assert!(matches!(&a[1], Action::Play { prompts, barge_in: true, .. }
            if prompts == &[PromptRef::System("vm-password")]));
        let a = enter(&mut l, 100, "4321#");
        assert_eq!(a.last(), Some(&ok("1101")));
        assert!(l.is_finished());
    }

    #[test]
    fn the_right_pin_without_pound_opens_after_the_inter_digit_timeout() {
        let mut l = login("4321");
        l.handle_event(0, Event::Started);
        drain(&mut l);
        let a = enter(&mut l, 100, "4321");
        let Some(Action::StartTimer { token, at_ms }) = a.last().cloned() else {
            panic!("expected a timer, got {a:?}");
        };
        assert_eq!(at_ms, 5_100);
        l.handle_event(at_ms, Event::Timer(token));
        assert_eq!(drain(&mut l).last(), Some(&ok("1101")));
    }

    #[test]
    fn three_wrong_pins_say_goodbye_and_hang_up() {
        let mut l = login("4321");
        l.handle_event(0, Event::Started);
        drain(&mut l);
        for attempt in 1..=2 {
            let a = enter(&mut l, 100, "1111#");
            assert!(
                a.iter().any(|x| matches!(x, Action::Play { prompts, .. }
                    if prompts == &[PromptRef::System("vm-incorrect"), PromptRef::System("vm-password")])),
                "attempt {attempt}: {a:?}"
            );
        }
        let a = enter(&mut l, 100, "43210#");
        let Some(Action::Play { id, prompts, .. }) = a.last().cloned() else {
            panic!("expected goodbye, got {a:?}");
        };
        assert_eq!(
            prompts,
            [
                PromptRef::System("vm-incorrect"),
                PromptRef::System("vm-goodbye")
            ]
        );
        assert_eq!(l.failures(), 3);
        l.handle_event(200, Event::Digit('4'));
        assert!(drain(&mut l).is_empty(), "no more tries while leaving");
        l.handle_event(300, Event::PlayDone(id));
        assert_eq!(drain(&mut l), [Action::Hangup]);
        assert!(l.is_finished());
    }

    #[test]
    fn silence_counts_as_a_wrong_attempt() {
        let mut l = login("4321");
        l.handle_event(0, Event::Started);
        let a = drain(&mut l);
        let Some(Action::Play { id, .. }) = a.last().cloned() else {
            panic!()
        };
        l.handle_event(2_000, Event::PlayDone(id));
        let Some(Action::StartTimer { token, at_ms }) = drain(&mut l).last().cloned() else {
            panic!()
        };
        assert_eq!(at_ms, 12_000);
        l.handle_event(at_ms, Event::Timer(TimerToken(token.0 + 5)));
        assert!(drain(&mut l).is_empty(), "a foreign timer is ignored");
        l.handle_event(at_ms, Event::Timer(token));
        assert_eq!(l.failures(), 1);
        l.handle_event(at_ms, Event::Timer(token));
        assert_eq!(l.failures(), 1, "a duplicate timer is ignored");
    }

    #[test]
    fn an_empty_pin_never_opens_the_mailbox() {
        let mut l = login("");
        l.handle_event(0, Event::Started);
        drain(&mut l);
        let a = enter(&mut l, 1, "#");
        assert!(!a.contains(&ok("1101")));
        assert_eq!(l.failures(), 1);
    }

    #[test]
    fn hangup_mid_entry_ends_the_login() {
        let mut l = login("4321");
        l.handle_event(0, Event::Started);
        drain(&mut l);
        enter(&mut l, 1, "43");
        l.handle_event(2, Event::Hangup);
        assert!(l.is_finished());
        assert!(enter(&mut l, 3, "21#").is_empty());
        l.handle_event(4, Event::PlayDone(PlayId(1)));
        assert!(drain(&mut l).is_empty());
    }

    #[test]
    fn the_pin_is_not_in_the_debug_output() {
        let l = login("4321");
        assert!(!format!("{l:?}").contains("4321"));
    }
}
