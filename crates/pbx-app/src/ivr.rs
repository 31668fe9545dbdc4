//! Voice menus (`ivr:NAME`): play, collect digits, choose a destination.
//!
//! The flow, in the words of seed 000: greeting, advert, menu (one prompt list), then
//! `digit_timeout` (10 s) to press a digit, repeat, then the secretary (`on_timeout`).
//!
//! - The prompt list plays with barge-in: the first digit stops it.
//! - The first digit is awaited `digit_timeout` after the prompts end; each further digit
//!   `inter_digit_timeout` after the previous one.
//! - A digit string is an option (its key in `options`), an extension (through the
//!   [`DialPlan`], when `direct_dial`), the start of longer ones, or nothing. A string
//!   that is complete and cannot grow is chosen at once; one that is complete *and* the
//!   start of something longer (option `1` and extension `1101`) waits
//!   `inter_digit_timeout` and is chosen if no digit follows (an option wins over an
//!   extension of the same digits); `#` ends entry at once; a string that can only grow
//!   is invalid when the inter-digit timeout passes; a string that is nothing is invalid
//!   at once.
//! - Invalid: with `on_invalid`, go there; else play the invalid prompt and the menu
//!   again, which counts as a repeat.
//! - Out of repeats (the menu played `1 + repeat` times): play the invalid prompt if that
//!   was the cause, then go to `on_timeout`, or play goodbye and hang up without one.

use std::collections::BTreeMap;
use std::fmt;

use pbx_core::Destination;

use crate::action::{Action, Event, Io, MediaApp, PromptRef, is_dtmf};
use crate::prompts;

/// What a digit string is in the tenant's numbering plan (for `direct_dial`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DialMatch {
    /// Nothing starts with these digits.
    None,
    /// The start of one or more longer numbers.
    Prefix,
    /// A complete number, and nothing longer starts with it.
    Exact(Destination),
    /// A complete number that is also the start of longer ones.
    ExactAndPrefix(Destination),
}

/// The tenant's numbering plan as a menu sees it. Implemented for any
/// `Fn(&str) -> DialMatch`, so the server can pass a closure over its tenant snapshot.
pub trait DialPlan {
    /// What `digits` (only `0-9`, non-empty) dial.
    fn lookup(&self, digits: &str) -> DialMatch;
}

impl<F: Fn(&str) -> DialMatch> DialPlan for F {
    fn lookup(&self, digits: &str) -> DialMatch {
        self(digits)
    }
}

/// A menu as configured (the crate's own copy of an `ivrs:` entry; the server fills it
/// from the tenant file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuSpec {
    /// What plays, back to back (greeting, advert, menu).
    pub prompts: Vec<PromptRef>,
    /// Digit string (usually one digit, `0-9 * #` and `A-D`) → destination.
    pub options: BTreeMap<String, Destination>,
    /// Callers may dial any extension.
    pub direct_dial: bool,
    /// Wait for the first digit after the prompts end (seed 000: 10 s).
    pub digit_timeout_ms: u64,
    /// Wait for each further digit (default 3 s).
    pub inter_digit_timeout_ms: u64,
    /// How many more times the menu plays after the first (seed 000: 1).
    pub repeat: u32,
    /// Where to go when the repeats run out; `None`: goodbye, then hang up.
    pub on_timeout: Option<Destination>,
    /// Where to go on an invalid choice; `None`: say so and replay the menu.
    pub on_invalid: Option<Destination>,
    /// Played on an invalid choice when `on_invalid` is `None`.
    pub invalid_prompt: PromptRef,
    /// Played before hanging up when `on_timeout` is `None`.
    pub goodbye_prompt: PromptRef,
    /// Longest digit string collected (more is invalid).
    pub max_digits: usize,
}

impl MenuSpec {
    /// A menu with the given prompts and the defaults: no options, no direct dial,
    /// 10 s / 3 s timeouts, one repeat, goodbye on timeout, `pm-invalid-option`.
    pub fn new(prompts: Vec<PromptRef>) -> MenuSpec {
        MenuSpec {
            prompts,
            options: BTreeMap::new(),
            direct_dial: false,
            digit_timeout_ms: 10_000,
            inter_digit_timeout_ms: 3_000,
            repeat: 1,
            on_timeout: None,
            on_invalid: None,
            invalid_prompt: PromptRef::System(prompts::INVALID_OPTION),
            goodbye_prompt: PromptRef::System(prompts::GOODBYE),
            max_digits: pbx_core::Ext::MAX_LEN,
        }
    }
}

/// Where a menu is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MenuState {
    /// Waiting for [`Event::Started`].
    ExpectStart,
    /// The menu prompts (maybe after the invalid prompt) are playing.
    Prompting,
    /// The prompts ended; waiting for the first digit.
    ExpectFirstDigit,
    /// Digits came; waiting for more.
    ExpectMoreDigits,
    /// Playing the last prompt (invalid or goodbye) before leaving.
    Leaving,
    /// Finished (a final action was emitted, or the caller hung up).
    Done,
}

/// A running voice menu on one call.
pub struct Menu {
    spec: MenuSpec,
    plan: Box<dyn DialPlan + Send>,
    io: Io,
    state: MenuState,
    /// How many times the menu prompts started.
    plays: u32,
    digits: String,
    /// The final action once the leaving prompt ends.
    after_leaving: Option<Action>,
}

impl fmt::Debug for Menu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Menu")
            .field("state", &self.state)
            .field("plays", &self.plays)
            .field("digits", &self.digits)
            .finish_non_exhaustive()
    }
}

/// What the collected digits are.
#[derive(Debug)]
struct Classified {
    exact: Option<Destination>,
    prefix: bool,
}

impl Menu {
    /// A menu that looks extensions up in `plan` (used only when `spec.direct_dial`).
    pub fn new(spec: MenuSpec, plan: Box<dyn DialPlan + Send>) -> Menu {
        Menu {
            spec,
            plan,
            io: Io::default(),
            state: MenuState::ExpectStart,
            plays: 0,
            digits: String::new(),
            after_leaving: None,
        }
    }

    /// Where the menu is.
    pub fn state(&self) -> MenuState {
        self.state
    }

    /// The digits collected so far.
    pub fn digits(&self) -> &str {
        &self.digits
    }

    fn classify(&self, s: &str) -> Classified {
        let mut exact = self.spec.options.get(s).cloned();
        let mut prefix = self
            .spec
            .options
            .keys()
            .any(|k| k.len() > s.len() && k.starts_with(s));
        if self.spec.direct_dial && s.bytes().all(|b| b.is_ascii_digit()) {
            match self.plan.lookup(s) {
                DialMatch::None => {}
                DialMatch::Prefix => prefix = true,
                DialMatch::Exact(d) => {
                    exact.get_or_insert(d);
                }
                DialMatch::ExactAndPrefix(d) => {
                    exact.get_or_insert(d);
                    prefix = true;
                }
            }
        }
        Classified { exact, prefix }
    }

    fn play_menu(&mut self, mut before: Vec<PromptRef>) {
        self.plays = self.plays.saturating_add(1);
        self.digits.clear();
        before.extend(self.spec.prompts.iter().cloned());
        self.io.play(before, true);
        self.state = MenuState::Prompting;
    }

    fn finish(&mut self, last: Action) {
        self.io.finish(last);
        self.state = MenuState::Done;
    }

    /// Plays `prompt` (if any), then does `last`.
    fn leave_after(&mut self, prompt: Option<PromptRef>, last: Action) {
        match prompt {
            Some(p) => {
                self.io.play(vec![p], false);
                self.after_leaving = Some(last);
                self.state = MenuState::Leaving;
            }
            None => self.finish(last),
        }
    }

    /// The repeats ran out (after `cause_prompt`, if the cause was an invalid choice).
    fn exhausted(&mut self, cause_prompt: Option<PromptRef>) {
        match self.spec.on_timeout.clone() {
            Some(d) => self.leave_after(cause_prompt, Action::Goto(d)),
            None => {
                let mut list: Vec<PromptRef> = cause_prompt.into_iter().collect();
                list.push(self.spec.goodbye_prompt.clone());
                self.io.play(list, false);
                self.after_leaving = Some(Action::Hangup);
                self.state = MenuState::Leaving;
            }
        }
    }

    fn invalid(&mut self) {
        if let Some(d) = self.spec.on_invalid.clone() {
            return self.finish(Action::Goto(d));
        }
        let prompt = self.spec.invalid_prompt.clone();
        if self.plays > self.spec.repeat {
            self.exhausted(Some(prompt));
        } else {
            self.play_menu(vec![prompt]);
        }
    }

    fn timed_out_waiting_first(&mut self) {
        if self.plays > self.spec.repeat {
            self.exhausted(None);
        } else {
            self.play_menu(Vec::new());
        }
    }

    /// Decides on the digits collected; `complete` when no more can come (`#` or the
    /// inter-digit timeout).
    fn decide(&mut self, now_ms: u64, complete: bool) {
        if self.digits.len() > self.spec.max_digits {
            return self.invalid();
        }
        let c = self.classify(&self.digits);
        match (c.exact, c.prefix) {
            (Some(d), false) => self.finish(Action::Goto(d)),
            (Some(d), true) if complete => self.finish(Action::Goto(d)),
            (None, true) if !complete => {
                self.io
                    .start_timer(now_ms.saturating_add(self.spec.inter_digit_timeout_ms));
                self.state = MenuState::ExpectMoreDigits;
            }
            (Some(_), true) => {
                self.io
                    .start_timer(now_ms.saturating_add(self.spec.inter_digit_timeout_ms));
                self.state = MenuState::ExpectMoreDigits;
            }
            (None, _) => self.invalid(),
        }
    }

    fn digit(&mut self, now_ms: u64, d: char) {
        self.io.stop_play();
        self.io.cancel_timer();
        if d == '#' && !self.digits.is_empty() {
            return self.decide(now_ms, true);
        }
        self.digits.push(d);
        self.decide(now_ms, false);
    }
}

impl MediaApp for Menu {
    fn handle_event(&mut self, now_ms: u64, event: Event) {
        use MenuState as S;
        if self.state == S::Done || !self.io.accept(&event) {
            return;
        }
        match (self.state, event) {
            (S::Done, _) => {}
            (_, Event::Hangup) => {
                self.io.forget();
                self.state = S::Done;
            }
            (S::ExpectStart, Event::Started) => {
                self.io.push(Action::Answer);
                self.play_menu(Vec::new());
            }
            (S::ExpectStart, _) => {}
            (S::Prompting, Event::PlayDone(_)) => {
                self.io
                    .start_timer(now_ms.saturating_add(self.spec.digit_timeout_ms));
                self.state = S::ExpectFirstDigit;
            }
            (S::Prompting | S::ExpectFirstDigit | S::ExpectMoreDigits, Event::Digit(d))
                if is_dtmf(d) =>
            {
                self.digit(now_ms, d);
            }
            (S::ExpectFirstDigit, Event::Timer(_)) => self.timed_out_waiting_first(),
            (S::ExpectMoreDigits, Event::Timer(_)) => self.decide(now_ms, true),
            (S::Leaving, Event::PlayDone(_)) => {
                let last = self.after_leaving.take().unwrap_or(Action::Hangup);
                self.finish(last);
            }
            _ => {}
        }
    }

    fn poll_action(&mut self) -> Option<Action> {
        self.io.pop()
    }

    fn is_finished(&self) -> bool {
        self.state == MenuState::Done
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::action::{PlayId, TimerToken};
    use pbx_core::Ext;

    fn user(e: &str) -> Destination {
        Destination::User(Ext::parse(e).unwrap())
    }

    fn named(n: &str) -> PromptRef {
        PromptRef::Named(n.to_owned())
    }

    /// Seed 000's menu: greeting, advert, menu; 1 → sales group, 2 → support; direct
    /// dial of 1101, 1102 and 3001; 10 s, repeat once, then the secretary.
    fn seed_menu() -> Menu {
        let mut spec = MenuSpec::new(vec![named("greeting"), named("advert"), named("menu")]);
        spec.options
            .insert("1".into(), Destination::Group(Ext::parse("1100").unwrap()));
        spec.options
            .insert("2".into(), Destination::Queue(Ext::parse("2100").unwrap()));
        spec.direct_dial = true;
        spec.on_timeout = Some(user("1000"));
        let exts = ["1101", "1102", "3001"];
        Menu::new(
            spec,
            Box::new(move |s: &str| {
                let exact = exts.contains(&s);
                let prefix = exts.iter().any(|e| e.len() > s.len() && e.starts_with(s));
                match (exact, prefix) {
                    (true, true) => DialMatch::ExactAndPrefix(user(s)),
                    (true, false) => DialMatch::Exact(user(s)),
                    (false, true) => DialMatch::Prefix,
                    (false, false) => DialMatch::None,
                }
            }),
        )
    }

    /// A driver in virtual time: feeds events, keeps the last play id and timer.
    #[derive(Debug, Default)]
    struct Sim {
        now: u64,
        play: Option<PlayId>,
        timer: Option<(TimerToken, u64)>,
        log: Vec<Action>,
    }

    impl Sim {
        fn feed(&mut self, app: &mut dyn MediaApp, ev: Event) -> Vec<Action> {
            app.handle_event(self.now, ev);
            let mut got = Vec::new();
            while let Some(a) = app.poll_action() {
                match &a {
                    Action::Play { id, .. } => self.play = Some(*id),
                    Action::StopPlay => self.play = None,
                    Action::StartTimer { token, at_ms } => self.timer = Some((*token, *at_ms)),
                    Action::CancelTimer { token } if self.timer.map(|t| t.0) == Some(*token) => {
                        self.timer = None;
                    }
                    _ => {}
                }
                got.push(a);
            }
            self.log.extend(got.iter().cloned());
            got
        }
        /// The current playback ends after `ms`.
        fn play_ends(&mut self, app: &mut dyn MediaApp, ms: u64) -> Vec<Action> {
            self.now += ms;
            let id = self.play.take().expect("something is playing");
            self.feed(app, Event::PlayDone(id))
        }
        /// Time passes to the armed timer, which fires.
        fn timer_fires(&mut self, app: &mut dyn MediaApp) -> Vec<Action> {
            let (token, at) = self.timer.take().expect("a timer is armed");
            self.now = self.now.max(at);
            self.feed(app, Event::Timer(token))
        }
        fn digit(&mut self, app: &mut dyn MediaApp, ms: u64, d: char) -> Vec<Action> {
            self.now += ms;
            self.feed(app, Event::Digit(d))
        }
    }

    fn plays(actions: &[Action]) -> Vec<Vec<PromptRef>> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Play { prompts, .. } => Some(prompts.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn silence_plays_the_menu_twice_ten_seconds_apart_then_goes_to_the_secretary() {
        let mut m = seed_menu();
        let mut sim = Sim::default();
        let first = sim.feed(&mut m, Event::Started);
        assert_eq!(first[0], Action::Answer);
        assert_eq!(
            plays(&first),
            [vec![named("greeting"), named("advert"), named("menu")]]
        );
        let wait = sim.play_ends(&mut m, 20_000);
        assert!(matches!(
            wait[..],
            [Action::StartTimer { at_ms: 30_000, .. }]
        ));
        let again = sim.timer_fires(&mut m);
        assert_eq!(plays(&again).len(), 1, "the menu repeats once");
        sim.play_ends(&mut m, 20_000);
        assert_eq!(sim.timer.unwrap().1, 60_000);
        let last = sim.timer_fires(&mut m);
        assert_eq!(last, [Action::Goto(user("1000"))]);
        assert!(m.is_finished());
    }

    #[test]
    fn without_on_timeout_the_menu_says_goodbye_and_hangs_up() {
        let mut spec = MenuSpec::new(vec![named("menu")]);
        spec.repeat = 0;
        let mut m = Menu::new(spec, Box::new(|_: &str| DialMatch::None));
        let mut sim = Sim::default();
        sim.feed(&mut m, Event::Started);
        sim.play_ends(&mut m, 5_000);
        let bye = sim.timer_fires(&mut m);
        assert_eq!(plays(&bye), [vec![PromptRef::System("vm-goodbye")]]);
        assert!(!m.is_finished());
        assert_eq!(sim.play_ends(&mut m, 1_000), [Action::Hangup]);
        assert!(m.is_finished());
    }

    #[test]
    fn a_digit_during_the_prompt_stops_it_and_an_option_that_cannot_grow_is_taken_at_once() {
        let mut m = seed_menu();
        let mut sim = Sim::default();
        sim.feed(&mut m, Event::Started);
        let got = sim.digit(&mut m, 3_000, '2');
        assert_eq!(
            got,
            [
                Action::StopPlay,
                Action::Goto(Destination::Queue(Ext::parse("2100").unwrap()))
            ]
        );
        assert!(m.is_finished());
    }

    #[test]
    fn an_option_that_starts_an_extension_waits_the_inter_digit_timeout_then_is_chosen() {
        let mut m = seed_menu();
        let mut sim = Sim::default();
        sim.feed(&mut m, Event::Started);
        sim.play_ends(&mut m, 20_000);
        let got = sim.digit(&mut m, 4_000, '1');
        assert!(matches!(
            got[..],
            [
                Action::CancelTimer { .. },
                Action::StartTimer { at_ms: 27_000, .. }
            ]
        ));
        assert_eq!(m.state(), MenuState::ExpectMoreDigits);
        let chosen = sim.timer_fires(&mut m);
        assert_eq!(
            chosen,
            [Action::Goto(Destination::Group(
                Ext::parse("1100").unwrap()
            ))]
        );
    }

    #[test]
    fn more_digits_in_time_dial_the_extension_they_complete() {
        let mut m = seed_menu();
        let mut sim = Sim::default();
        sim.feed(&mut m, Event::Started);
        sim.digit(&mut m, 1_000, '1');
        sim.digit(&mut m, 1_000, '1');
        sim.digit(&mut m, 2_900, '0');
        let got = sim.digit(&mut m, 2_900, '2');
        assert_eq!(got.last(), Some(&Action::Goto(user("1102"))));
        assert!(m.is_finished());
    }

    #[test]
    fn an_extension_that_is_also_a_prefix_waits_and_pound_ends_the_wait() {
        let mut spec = MenuSpec::new(vec![named("menu")]);
        spec.direct_dial = true;
        let mut m = Menu::new(
            spec,
            Box::new(|s: &str| match s {
                "1" | "12" => DialMatch::Prefix,
                "123" => DialMatch::ExactAndPrefix(user("123")),
                _ => DialMatch::None,
            }),
        );
        let mut sim = Sim::default();
        sim.feed(&mut m, Event::Started);
        for d in ['1', '2', '3'] {
            sim.digit(&mut m, 500, d);
        }
        assert_eq!(m.state(), MenuState::ExpectMoreDigits);
        let got = sim.digit(&mut m, 500, '#');
        assert_eq!(got.last(), Some(&Action::Goto(user("123"))));
    }

    #[test]
    fn a_prefix_left_unfinished_is_invalid_and_replays_the_menu_after_the_invalid_prompt() {
        let mut m = seed_menu();
        let mut sim = Sim::default();
        sim.feed(&mut m, Event::Started);
        sim.digit(&mut m, 1_000, '1');
        sim.digit(&mut m, 1_000, '1'); // "11": only the start of 1101 / 1102
        let got = sim.timer_fires(&mut m);
        assert_eq!(
            plays(&got),
            [vec![
                PromptRef::System("pm-invalid-option"),
                named("greeting"),
                named("advert"),
                named("menu")
            ]]
        );
        assert_eq!(m.digits(), "");
    }

    #[test]
    fn a_digit_that_is_nothing_is_invalid_at_once_and_counts_toward_the_repeat() {
        let mut m = seed_menu();
        let mut sim = Sim::default();
        sim.feed(&mut m, Event::Started);
        let first = sim.digit(&mut m, 1_000, '9');
        assert_eq!(plays(&first).len(), 1, "invalid prompt + menu again");
        // Second invalid: the repeat is used up → invalid prompt, then the secretary.
        let second = sim.digit(&mut m, 1_000, '8');
        assert_eq!(
            plays(&second),
            [vec![PromptRef::System("pm-invalid-option")]]
        );
        assert!(!m.is_finished());
        assert_eq!(sim.play_ends(&mut m, 2_000), [Action::Goto(user("1000"))]);
    }

    #[test]
    fn on_invalid_routes_there_instead_of_replaying() {
        let mut spec = MenuSpec::new(vec![named("menu")]);
        spec.on_invalid = Some(Destination::Hangup);
        let mut m = Menu::new(spec, Box::new(|_: &str| DialMatch::None));
        let mut sim = Sim::default();
        sim.feed(&mut m, Event::Started);
        let got = sim.digit(&mut m, 100, '5');
        assert_eq!(got, [Action::StopPlay, Action::Goto(Destination::Hangup)]);
    }

    #[test]
    fn without_direct_dial_extensions_are_not_looked_up() {
        let mut spec = MenuSpec::new(vec![named("menu")]);
        spec.on_invalid = Some(Destination::Hangup);
        let mut m = Menu::new(spec, Box::new(|s: &str| DialMatch::Exact(user(s))));
        let mut sim = Sim::default();
        sim.feed(&mut m, Event::Started);
        sim.play_ends(&mut m, 1);
        let got = sim.digit(&mut m, 100, '5');
        assert_eq!(got.last(), Some(&Action::Goto(Destination::Hangup)));
    }

    #[test]
    fn pound_as_the_first_digit_is_an_option_if_configured_else_invalid() {
        let mut spec = MenuSpec::new(vec![named("menu")]);
        spec.options.insert("#".into(), user("1000"));
        let mut m = Menu::new(spec.clone(), Box::new(|_: &str| DialMatch::None));
        let mut sim = Sim::default();
        sim.feed(&mut m, Event::Started);
        assert_eq!(
            sim.digit(&mut m, 1, '#').last(),
            Some(&Action::Goto(user("1000")))
        );

        spec.options.clear();
        spec.on_invalid = Some(Destination::Hangup);
        let mut m = Menu::new(spec, Box::new(|_: &str| DialMatch::None));
        let mut sim = Sim::default();
        sim.feed(&mut m, Event::Started);
        assert_eq!(
            sim.digit(&mut m, 1, '#').last(),
            Some(&Action::Goto(Destination::Hangup))
        );
    }

    #[test]
    fn stale_timers_and_play_ends_are_ignored() {
        let mut m = seed_menu();
        let mut sim = Sim::default();
        sim.feed(&mut m, Event::Started);
        let old_play = sim.play.unwrap();
        sim.play_ends(&mut m, 10_000);
        let (old_timer, _) = sim.timer.unwrap();
        sim.digit(&mut m, 1_000, '1'); // waits for more: new timer
        assert!(sim.feed(&mut m, Event::Timer(old_timer)).is_empty());
        assert!(sim.feed(&mut m, Event::PlayDone(old_play)).is_empty());
        assert!(sim.feed(&mut m, Event::Timer(TimerToken(999))).is_empty());
        assert_eq!(m.state(), MenuState::ExpectMoreDigits);
        assert_eq!(m.digits(), "1");
    }

    #[test]
    fn hangup_at_any_point_ends_the_menu_silently() {
        let mut m = seed_menu();
        let mut sim = Sim::default();
        sim.feed(&mut m, Event::Started);
        sim.digit(&mut m, 1_000, '1');
        assert!(sim.feed(&mut m, Event::Hangup).is_empty());
        assert!(m.is_finished());
        assert!(sim.feed(&mut m, Event::Digit('1')).is_empty());
        assert!(sim.feed(&mut m, Event::Started).is_empty());
    }

    #[test]
    fn too_many_digits_are_invalid() {
        let mut spec = MenuSpec::new(vec![named("menu")]);
        spec.direct_dial = true;
        spec.max_digits = 3;
        spec.on_invalid = Some(Destination::Hangup);
        let mut m = Menu::new(spec, Box::new(|_: &str| DialMatch::Prefix));
        let mut sim = Sim::default();
        sim.feed(&mut m, Event::Started);
        for d in ['1', '2', '3'] {
            sim.digit(&mut m, 10, d);
        }
        assert!(!m.is_finished());
        assert_eq!(
            sim.digit(&mut m, 10, '4').last(),
            Some(&Action::Goto(Destination::Hangup))
        );
    }

    #[test]
    fn non_dtmf_characters_and_events_before_start_are_ignored() {
        let mut m = seed_menu();
        let mut sim = Sim::default();
        assert!(sim.feed(&mut m, Event::Digit('1')).is_empty());
        sim.feed(&mut m, Event::Started);
        assert!(sim.feed(&mut m, Event::Digit('x')).is_empty());
        assert_eq!(m.state(), MenuState::Prompting);
    }

    /// What a caller typing `typed` then `#` without pausing must reach, worked out
    /// directly from the options and the extension list.
    fn model(
        options: &BTreeMap<String, Destination>,
        exts: &[String],
        typed: &str,
        max_digits: usize,
    ) -> Destination {
        let invalid = Destination::Hangup;
        let look = |p: &str| {
            let exact = options
                .get(p)
                .cloned()
                .or_else(|| exts.iter().any(|e| e == p).then(|| user(p)));
            let prefix = options
                .keys()
                .chain(exts)
                .any(|k| k.len() > p.len() && k.starts_with(p));
            (exact, prefix)
        };
        for i in 1..=typed.len() {
            if i > max_digits {
                return invalid;
            }
            match look(&typed[..i]) {
                (Some(d), false) => return d,
                (None, false) => return invalid,
                _ => {}
            }
        }
        if typed.is_empty() {
            return options.get("#").cloned().unwrap_or(invalid);
        }
        look(typed).0.unwrap_or(invalid)
    }

    proptest::proptest! {
        #[test]
        fn typing_digits_then_pound_reaches_what_the_options_and_extensions_say(
            option_keys in proptest::collection::btree_set("[0-9*]", 0..5),
            exts in proptest::collection::vec("[0-9]{2,4}", 0..6),
            typed in "[0-9]{0,5}",
        ) {
            let options: BTreeMap<String, Destination> = option_keys
                .into_iter()
                .map(|k| (k.clone(), Destination::Ivr(format!("opt{}", k.len()))))
                .collect();
            let mut spec = MenuSpec::new(vec![named("menu")]);
            spec.options = options.clone();
            spec.direct_dial = true;
            spec.max_digits = 4;
            spec.on_invalid = Some(Destination::Hangup);
            let plan_exts = exts.clone();
            let mut m = Menu::new(spec, Box::new(move |p: &str| {
                let exact = plan_exts.iter().any(|e| e == p);
                let prefix = plan_exts.iter().any(|e| e.len() > p.len() && e.starts_with(p));
                match (exact, prefix) {
                    (true, true) => DialMatch::ExactAndPrefix(user(p)),
                    (true, false) => DialMatch::Exact(user(p)),
                    (false, true) => DialMatch::Prefix,
                    (false, false) => DialMatch::None,
                }
            }));
            let mut sim = Sim::default();
            sim.feed(&mut m, Event::Started);
            for d in typed.chars().chain(['#']) {
                sim.digit(&mut m, 100, d);
                if m.is_finished() {
                    break;
                }
            }
            let reached = sim.log.iter().find_map(|a| match a {
                Action::Goto(d) => Some(d.clone()),
                _ => None,
            });
            proptest::prop_assert_eq!(reached, Some(model(&options, &exts, &typed, 4)));
        }
    }
}
