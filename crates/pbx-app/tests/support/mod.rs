//! Shared by the integration tests: every kind of application, and a driver that feeds
//! event sequences described by small numbers (so proptest and a seeded generator can
//! both produce them) while checking the invariants every application keeps.
#![allow(clippy::unwrap_used, dead_code, unreachable_pub)]

use pbx_app::ivr::{DialMatch, Menu, MenuSpec};
use pbx_app::voicemail::{
    Deposit, DepositSpec, Login, LoginSpec, MailboxMenu, MailboxSpec, MessageInfo,
};
use pbx_app::{
    Action, CallerId, Event, GreetingKind, MediaApp, MessageId, PlayId, PromptRef, TimerToken,
    announce::Announce, say::Lang,
};
use pbx_core::{Destination, Ext};

pub const KINDS: usize = 9;

fn ext(s: &str) -> Ext {
    Ext::parse(s).unwrap()
}

fn msg(id: u64, number: Option<&str>) -> MessageInfo {
    MessageInfo {
        id: MessageId(id),
        caller: CallerId {
            number: number.map(str::to_owned),
            name: None,
        },
        received_ms: 1_700_000_000_000 + id * 86_400_000 * 17 + id * 3_600_000 * 5,
        duration_ms: 10_000,
    }
}

/// Application number `kind` (0..KINDS) in `lang`.
pub fn app(kind: usize, lang: Lang) -> Box<dyn MediaApp> {
    let caller = CallerId {
        number: Some("+390612345678".into()),
        name: None,
    };
    match kind {
        0 => {
            let mut spec = MenuSpec::new(vec![PromptRef::Named("greeting".into())]);
            spec.options
                .insert("1".into(), Destination::Group(ext("1100")));
            spec.options
                .insert("2".into(), Destination::Ivr("night".into()));
            spec.options
                .insert("*".into(), Destination::Voicemail(ext("1101")));
            spec.direct_dial = true;
            spec.on_timeout = Some(Destination::User(ext("1000")));
            Box::new(Menu::new(
                spec,
                Box::new(|s: &str| match s {
                    "1" | "11" | "110" => DialMatch::Prefix,
                    "1101" => DialMatch::Exact(Destination::User(ext("1101"))),
                    "3" => DialMatch::ExactAndPrefix(Destination::User(ext("30"))),
                    _ => DialMatch::None,
                }),
            ))
        }
        1 => {
            let mut spec = MenuSpec::new(vec![PromptRef::Named("menu".into())]);
            spec.options.insert("#".into(), Destination::Hangup);
            spec.repeat = 2;
            spec.max_digits = 3;
            Box::new(Menu::new(spec, Box::new(|_: &str| DialMatch::Prefix)))
        }
        2 => Box::new(Deposit::new(DepositSpec::new(
            lang,
            ext("1101"),
            GreetingKind::Unavailable,
            caller,
        ))),
        3 => {
            let mut spec = DepositSpec::new(lang, ext("20"), GreetingKind::Busy, caller);
            spec.has_greeting = true;
            Box::new(Deposit::new(spec))
        }
        4 => Box::new(Login::new(LoginSpec::new(lang, ext("1101"), "12".into()))),
        5 => Box::new(MailboxMenu::new(MailboxSpec::new(
            lang,
            ext("1101"),
            vec![msg(1, Some("2001")), msg(2, None), msg(3, Some("+7 495"))],
            vec![msg(4, Some("1")), msg(5, Some(""))],
        ))),
        6 => Box::new(MailboxMenu::new(MailboxSpec::new(
            lang,
            ext("1101"),
            Vec::new(),
            (10..35).map(|i| msg(i, Some("5"))).collect(),
        ))),
        7 => Box::new(Announce::new(
            vec![PromptRef::Named("closed".into())],
            Some(Destination::Hangup),
        )),
        _ => Box::new(MailboxMenu::new(MailboxSpec::new(
            lang,
            ext("1101"),
            (40..62).map(|i| msg(i, Some("7"))).collect(),
            Vec::new(),
        ))),
    }
}

/// One step: `sel` chooses the event kind, `arg` its parameter, `dt` the time that passes.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    pub sel: u8,
    pub arg: u32,
    pub dt: u32,
}

const DIGITS: &[char] = &[
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'x',
];

/// Feeds steps to an application, playing a plausible (but often wrong) server, and
/// checks the invariants after each. Returns every action emitted.
#[derive(Debug, Default)]
pub struct Driver {
    pub now: u64,
    last_play: u32,
    last_timer: u32,
    final_seen: bool,
    mwi_total: Option<u32>,
    pub actions: Vec<Action>,
}

impl Driver {
    pub fn step(&mut self, app: &mut dyn MediaApp, s: Step) {
        self.now += u64::from(s.dt);
        let event = match s.sel % 16 {
            0 => Event::Started,
            1..=6 => Event::Digit(DIGITS[s.arg as usize % DIGITS.len()]),
            // Mostly the current playback, sometimes a stale or unknown one.
            7..=10 => Event::PlayDone(PlayId(self.last_play.wrapping_sub(s.arg % 3 / 2))),
            11 => Event::PlayDone(PlayId(s.arg)),
            12 | 13 => Event::Timer(TimerToken(self.last_timer.wrapping_sub(s.arg % 3 / 2))),
            14 => Event::RecordDone {
                duration_ms: u64::from(s.arg % 200_000),
                silent: s.arg.is_multiple_of(5),
            },
            _ if s.arg.is_multiple_of(4) => Event::Hangup,
            _ => Event::Timer(TimerToken(s.arg)),
        };
        let was_finished = app.is_finished();
        app.handle_event(self.now, event.clone());
        while let Some(a) = app.poll_action() {
            assert!(
                !self.final_seen,
                "{a:?} after a final action ({event:?}, {app:?})"
            );
            assert!(!was_finished, "{a:?} from a finished app after {event:?}");
            match &a {
                Action::Play { id, .. } => {
                    assert!(id.0 > self.last_play, "play ids only grow: {a:?}");
                    self.last_play = id.0;
                }
                Action::StartTimer { token, at_ms } => {
                    assert!(token.0 > self.last_timer, "timer tokens only grow: {a:?}");
                    assert!(*at_ms >= self.now, "a timer in the past: {a:?}");
                    self.last_timer = token.0;
                }
                Action::SetMwi { new, old, .. } => {
                    let total = new + old;
                    if let Some(before) = self.mwi_total {
                        assert!(total <= before, "messages appeared: {a:?}");
                    }
                    self.mwi_total = Some(total);
                }
                _ => {}
            }
            if a.is_final() {
                self.final_seen = true;
                assert!(app.is_finished(), "{a:?} but the app is not finished");
            }
            self.actions.push(a);
        }
    }
}

/// A small seeded generator (xorshift64*), so the prompt test explores the same
/// sequences every run.
#[derive(Debug)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn step(&mut self) -> Step {
        let r = self.next();
        Step {
            sel: (r & 0xff) as u8,
            arg: ((r >> 8) & 0xffff) as u32,
            dt: ((r >> 24) % 15_000) as u32,
        }
    }
}
