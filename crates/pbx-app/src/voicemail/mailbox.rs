//! Listening to a mailbox by phone (after [`super::Login`]).
//!
//! Start: "you have N new and M old messages", then the main menu. Main menu: `1` listen
//! to the current folder (new, or old when there are no new), `2` change folder (`0`
//! new, `1` old, `#` cancel), `*` help, `#` goodbye. During and after a message: `7`
//! delete, `9` save, `4` previous, `6` next, `5` repeat, `3` envelope (caller and time),
//! `*` help, `#` goodbye, and (as in Asterisk, where every key works everywhere) `1`
//! first message, `2` change folder. `0` in the main menu opens the mailbox options: `1`
//! records the unavailable greeting, `2` the busy greeting ("after the tone, say your …
//! message, then press pound": a beep, up to 60 s, `#` or 5 s of silence ends it; a silent or
//! shorter-than-1 s take is refused as too short), `*` back to the main menu. A message moves from new to old as soon as it starts playing
//! (Asterisk marks it heard then); every change of the counts emits
//! [`Action::SetMwi`]. Silence replays the current instructions; after `max_repeats`
//! silent rounds the menu says goodbye and hangs up.
//!
//! The message list is a snapshot taken when the menu starts or the folder changes: a
//! message heard in this session stays in the list it was found in until then.

use pbx_core::Ext;

use crate::action::{
    Action, CallerId, Event, Folder, GreetingKind, Io, MediaApp, MessageId, PromptRef, is_dtmf,
};
use crate::prompts as p;
use crate::say::{self, Lang};

/// One stored message, as the server's index knows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessageInfo {
    /// Its id.
    pub id: MessageId,
    /// Who left it.
    pub caller: CallerId,
    /// When it was left (Unix ms).
    pub received_ms: u64,
    /// Its length.
    pub duration_ms: u64,
}

/// A mailbox and its messages (the crate's own spec; the server loads it after
/// [`Action::Authenticated`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxSpec {
    /// The language of the prompts.
    pub lang: Lang,
    /// The mailbox.
    pub mailbox: Ext,
    /// New (unheard) messages, oldest first.
    pub new: Vec<MessageInfo>,
    /// Old messages, oldest first.
    pub old: Vec<MessageInfo>,
    /// The tenant's offset from UTC, for the envelope's time.
    pub utc_offset_min: i32,
    /// Wait for a key after the instructions (Asterisk: 6 s).
    pub command_timeout_ms: u64,
    /// Silent rounds before goodbye (Asterisk: 3).
    pub max_repeats: u32,
}

impl MailboxSpec {
    /// The defaults: UTC, 6 s per round, 3 rounds.
    pub fn new(
        lang: Lang,
        mailbox: Ext,
        new: Vec<MessageInfo>,
        old: Vec<MessageInfo>,
    ) -> MailboxSpec {
        MailboxSpec {
            lang,
            mailbox,
            new,
            old,
            utc_offset_min: 0,
            command_timeout_ms: 6_000,
            max_repeats: 3,
        }
    }
}

/// Where the mailbox menu is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailboxState {
    /// Waiting for [`Event::Started`].
    ExpectStart,
    /// The main menu (its prompts play, or it waits for a key).
    Main,
    /// "Change to which folder?".
    FolderChoice,
    /// The mailbox options (record a greeting).
    Options,
    /// "After the tone, say your … message" plays (keys are ignored until the beep).
    GreetingInstructions {
        /// The busy greeting, else the unavailable one.
        busy: bool,
    },
    /// Recording a greeting (after its instructions and the beep).
    RecordingGreeting {
        /// The busy greeting, else the unavailable one.
        busy: bool,
    },
    /// `#` ended the greeting's recording; waiting for [`Event::RecordDone`].
    ExpectGreetingDone {
        /// The busy greeting, else the unavailable one.
        busy: bool,
    },
    /// At message `index` of the current folder's list (playing it, or after it).
    Message {
        /// Position in the current list.
        index: usize,
    },
    /// Saying goodbye.
    Leaving,
    /// Finished.
    Done,
}

#[derive(Debug, Clone)]
struct Msg {
    info: MessageInfo,
    /// Where the message is now.
    folder: Folder,
    /// Which list it is shown in this session.
    listed_in: Folder,
    deleted: bool,
}

/// What to do when the current playback ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterPlay {
    /// Wait for a key.
    Wait,
    /// Play the current state's instructions (after a message).
    Instructions,
    /// Hang up.
    Hangup,
    /// Start recording a greeting (its instructions were played).
    RecordGreeting {
        /// The busy greeting, else the unavailable one.
        busy: bool,
    },
}

/// Longest greeting a user may record.
const GREETING_MAX_MS: u64 = 60_000;
/// Silence that ends a greeting's recording.
const GREETING_SILENCE_MS: u64 = 5_000;
/// Shorter takes are refused.
const GREETING_MIN_MS: u64 = 1_000;

/// A user listening to their mailbox.
#[derive(Debug)]
pub struct MailboxMenu {
    spec: MailboxSpec,
    io: Io,
    state: MailboxState,
    msgs: Vec<Msg>,
    folder: Folder,
    after_play: AfterPlay,
    silent_rounds: u32,
    mwi: (u32, u32),
}

fn sys(names: impl IntoIterator<Item = &'static str>) -> Vec<PromptRef> {
    names.into_iter().map(PromptRef::System).collect()
}

fn folder_name(f: Folder) -> &'static str {
    match f {
        Folder::New => p::VM_INBOX,
        Folder::Old => p::VM_OLD,
    }
}

impl MailboxMenu {
    /// A menu over `spec`'s messages.
    pub fn new(spec: MailboxSpec) -> MailboxMenu {
        let mut msgs = Vec::with_capacity(spec.new.len() + spec.old.len());
        for (list, folder) in [(&spec.new, Folder::New), (&spec.old, Folder::Old)] {
            msgs.extend(list.iter().map(|info| Msg {
                info: info.clone(),
                folder,
                listed_in: folder,
                deleted: false,
            }));
        }
        let mut m = MailboxMenu {
            io: Io::default(),
            state: MailboxState::ExpectStart,
            msgs,
            folder: Folder::New,
            after_play: AfterPlay::Wait,
            silent_rounds: 0,
            mwi: (0, 0),
            spec,
        };
        m.mwi = m.counts();
        if m.mwi.0 == 0 {
            m.folder = Folder::Old;
        }
        m
    }

    /// Where the menu is.
    pub fn state(&self) -> MailboxState {
        self.state
    }

    /// The folder being listened to.
    pub fn folder(&self) -> Folder {
        self.folder
    }

    /// (new, old) messages in the mailbox now.
    pub fn counts(&self) -> (u32, u32) {
        let count = |f: Folder| {
            let n = self
                .msgs
                .iter()
                .filter(|m| !m.deleted && m.folder == f)
                .count();
            u32::try_from(n).unwrap_or(u32::MAX)
        };
        (count(Folder::New), count(Folder::Old))
    }

    /// The current folder's list (positions in `msgs`).
    fn list(&self) -> Vec<usize> {
        self.msgs
            .iter()
            .enumerate()
            .filter(|(_, m)| !m.deleted && m.listed_in == self.folder)
            .map(|(i, _)| i)
            .collect()
    }

    fn emit_mwi_if_changed(&mut self) {
        let now = self.counts();
        if now != self.mwi {
            self.mwi = now;
            self.io.push(Action::SetMwi {
                mailbox: self.spec.mailbox.clone(),
                new: now.0,
                old: now.1,
            });
        }
    }

    fn main_instructions(&self) -> Vec<PromptRef> {
        let mut out = Vec::new();
        if !self.list().is_empty() {
            out.extend(sys([
                p::VM_ONEFOR,
                folder_name(self.folder),
                p::VM_MESSAGES,
            ]));
        }
        out.extend(sys([p::VM_OPTS, p::VM_HELPEXIT]));
        out
    }

    fn folder_instructions() -> Vec<PromptRef> {
        sys([
            p::VM_CHANGETO,
            p::VM_PRESS,
            "digits/0",
            p::VM_FOR,
            p::VM_INBOX,
            p::VM_MESSAGES,
            p::VM_PRESS,
            "digits/1",
            p::VM_FOR,
            p::VM_OLD,
            p::VM_MESSAGES,
            p::VM_TOCANCEL,
        ])
    }

    fn message_instructions(&self, index: usize) -> Vec<PromptRef> {
        let len = self.list().len();
        let mut out = Vec::new();
        if index > 0 {
            out.push(p::VM_PREV);
        }
        out.extend([p::VM_ADVOPTS, p::VM_REPEAT]);
        if index + 1 < len {
            out.push(p::VM_NEXT);
        }
        out.extend([p::VM_DELETE, p::VM_SAVEMESSAGE, p::VM_HELPEXIT]);
        sys(out)
    }

    fn instructions(&self) -> Vec<PromptRef> {
        match self.state {
            MailboxState::FolderChoice => Self::folder_instructions(),
            MailboxState::Options => sys([p::VM_OPTIONS]),
            MailboxState::Message { index } => self.message_instructions(index),
            _ => self.main_instructions(),
        }
    }

    fn say(&mut self, prompts: Vec<PromptRef>, then: AfterPlay) {
        self.io.play(prompts, then != AfterPlay::Hangup);
        self.after_play = then;
    }

    fn go_main(&mut self, mut before: Vec<PromptRef>) {
        self.state = MailboxState::Main;
        before.extend(self.main_instructions());
        self.say(before, AfterPlay::Wait);
    }

    fn goodbye(&mut self) {
        self.state = MailboxState::Leaving;
        self.say(sys([p::GOODBYE]), AfterPlay::Hangup);
    }

    /// Plays message `index` of the current list (after `before`), marking it heard.
    fn play_message(&mut self, index: usize, mut before: Vec<PromptRef>) {
        let list = self.list();
        let Some(&pos) = list.get(index) else {
            return self.go_main(before);
        };
        if index == 0 {
            before.extend(sys([p::VM_FIRST, p::VM_MESSAGE]));
        } else if index + 1 == list.len() {
            before.extend(sys([p::VM_LAST, p::VM_MESSAGE]));
        } else {
            before.push(PromptRef::System(p::VM_MESSAGE));
            before.extend(sys(say::number(self.spec.lang, index as u64 + 1)));
        }
        let id = self.msgs[pos].info.id;
        before.push(PromptRef::Message(id));
        self.state = MailboxState::Message { index };
        self.say(before, AfterPlay::Instructions);
        if self.msgs[pos].folder == Folder::New {
            self.msgs[pos].folder = Folder::Old;
            self.io.push(Action::MoveMessage {
                id,
                to: Folder::Old,
            });
            self.emit_mwi_if_changed();
        }
    }

    fn envelope(&self, pos: usize) -> Vec<PromptRef> {
        let m = &self.msgs[pos].info;
        let mut out = Vec::new();
        let number = m
            .caller
            .number
            .as_deref()
            .map(say::digits)
            .unwrap_or_default();
        if number.is_empty() {
            out.push(p::VM_UNKNOWN_CALLER);
        } else {
            out.push(p::VM_FROM_PHONENUMBER);
            out.extend(number);
        }
        out.push(p::VM_RECEIVED);
        out.extend(say::datetime(
            self.spec.lang,
            m.received_ms,
            self.spec.utc_offset_min,
        ));
        sys(out)
    }

    fn main_digit(&mut self, d: char) {
        match d {
            '1' => {
                if self.list().is_empty() {
                    self.go_main(sys([p::VM_NOMORE]));
                } else {
                    self.play_message(0, Vec::new());
                }
            }
            '2' => {
                self.state = MailboxState::FolderChoice;
                self.say(Self::folder_instructions(), AfterPlay::Wait);
            }
            '0' => self.go_options(Vec::new()),
            '*' => self.go_main(Vec::new()),
            '#' => self.goodbye(),
            _ => self.go_main(sys([p::INVALID_OPTION])),
        }
    }

    fn go_options(&mut self, mut before: Vec<PromptRef>) {
        self.state = MailboxState::Options;
        before.push(PromptRef::System(p::VM_OPTIONS));
        self.say(before, AfterPlay::Wait);
    }

    fn options_digit(&mut self, d: char) {
        match d {
            '1' | '2' => {
                let busy = d == '2';
                let said = if busy { p::VM_REC_BUSY } else { p::VM_REC_UNV };
                // No barge-in: the instructions end with "press pound", which ends the take.
                self.io.play(sys([said]), false);
                self.after_play = AfterPlay::RecordGreeting { busy };
                self.state = MailboxState::GreetingInstructions { busy };
            }
            '*' | '#' => self.go_main(Vec::new()),
            _ => self.go_options(sys([p::INVALID_OPTION])),
        }
    }

    /// A greeting's recording ended.
    fn greeting_recorded(&mut self, busy: bool, duration_ms: u64, silent: bool) {
        if silent || duration_ms < GREETING_MIN_MS {
            self.io.push(Action::DiscardRecording);
            return self.go_options(sys([p::VM_TOOSHORT]));
        }
        self.io.push(Action::StoreGreeting {
            mailbox: self.spec.mailbox.clone(),
            kind: if busy {
                GreetingKind::Busy
            } else {
                GreetingKind::Unavailable
            },
        });
        self.go_options(sys([p::VM_MSGSAVED]));
    }

    fn folder_digit(&mut self, d: char) {
        let chosen = match d {
            '0' => Folder::New,
            '1' => Folder::Old,
            '#' => return self.go_main(Vec::new()),
            _ => {
                let mut list = sys([p::INVALID_OPTION]);
                list.extend(Self::folder_instructions());
                return self.say(list, AfterPlay::Wait);
            }
        };
        for m in &mut self.msgs {
            m.listed_in = m.folder;
        }
        self.folder = chosen;
        self.go_main(sys([folder_name(chosen), p::VM_MESSAGES]));
    }

    fn message_digit(&mut self, index: usize, d: char) {
        let list = self.list();
        let Some(&pos) = list.get(index) else {
            return self.go_main(Vec::new());
        };
        let last = list.len().saturating_sub(1);
        let stay = |me: &mut Self, said: &[&'static str]| {
            let mut l = sys(said.iter().copied());
            l.extend(me.message_instructions(index));
            me.say(l, AfterPlay::Wait);
        };
        match d {
            '7' => {
                self.msgs[pos].deleted = true;
                self.io.push(Action::DeleteMessage {
                    id: self.msgs[pos].info.id,
                });
                self.emit_mwi_if_changed();
                if index < self.list().len() {
                    self.play_message(index, sys([p::VM_DELETED]));
                } else {
                    self.go_main(sys([p::VM_DELETED, p::VM_NOMORE]));
                }
            }
            '9' => {
                if self.msgs[pos].folder != Folder::Old {
                    self.msgs[pos].folder = Folder::Old;
                    self.io.push(Action::MoveMessage {
                        id: self.msgs[pos].info.id,
                        to: Folder::Old,
                    });
                    self.emit_mwi_if_changed();
                }
                if index < last {
                    self.play_message(index + 1, sys([p::VM_MSGSAVED]));
                } else {
                    stay(self, &[p::VM_MSGSAVED, p::VM_NOMORE]);
                }
            }
            '4' if index > 0 => self.play_message(index - 1, Vec::new()),
            '6' if index < last => self.play_message(index + 1, Vec::new()),
            '4' | '6' => stay(self, &[p::VM_NOMORE]),
            '5' => self.play_message(index, Vec::new()),
            '1' => self.play_message(0, Vec::new()),
            '2' => {
                self.state = MailboxState::FolderChoice;
                self.say(Self::folder_instructions(), AfterPlay::Wait);
            }
            '3' => {
                let mut l = self.envelope(pos);
                l.extend(self.message_instructions(index));
                self.say(l, AfterPlay::Wait);
            }
            '*' => stay(self, &[]),
            '#' => self.goodbye(),
            _ => stay(self, &[p::INVALID_OPTION]),
        }
    }
}

impl MediaApp for MailboxMenu {
    fn handle_event(&mut self, now_ms: u64, event: Event) {
        use MailboxState as S;
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
                let (new, old) = self.counts();
                let intro = super::counts_phrase(self.spec.lang, new, old);
                self.go_main(intro);
            }
            (S::ExpectStart, _) => {}
            (_, Event::PlayDone(_)) => match self.after_play {
                AfterPlay::Wait => self
                    .io
                    .start_timer(now_ms.saturating_add(self.spec.command_timeout_ms)),
                AfterPlay::Instructions => {
                    let l = self.instructions();
                    self.say(l, AfterPlay::Wait);
                }
                AfterPlay::Hangup => {
                    self.io.finish(Action::Hangup);
                    self.state = S::Done;
                }
                AfterPlay::RecordGreeting { busy } => {
                    self.io.push(Action::Record {
                        max_ms: GREETING_MAX_MS,
                        silence_end_ms: GREETING_SILENCE_MS,
                        beep: true,
                    });
                    self.after_play = AfterPlay::Wait;
                    self.state = S::RecordingGreeting { busy };
                }
            },
            (
                S::RecordingGreeting { busy } | S::ExpectGreetingDone { busy },
                Event::RecordDone {
                    duration_ms,
                    silent,
                },
            ) => self.greeting_recorded(busy, duration_ms, silent),
            (S::RecordingGreeting { busy }, Event::Digit('#')) => {
                self.io.push(Action::StopRecord);
                self.state = S::ExpectGreetingDone { busy };
            }
            (
                S::GreetingInstructions { .. }
                | S::RecordingGreeting { .. }
                | S::ExpectGreetingDone { .. },
                _,
            ) => {}
            (S::Leaving, _) => {}
            (_, Event::Timer(_)) => {
                self.silent_rounds = self.silent_rounds.saturating_add(1);
                if self.silent_rounds >= self.spec.max_repeats {
                    self.goodbye();
                } else {
                    let l = self.instructions();
                    self.say(l, AfterPlay::Wait);
                }
            }
            (state, Event::Digit(d)) if is_dtmf(d) => {
                self.io.stop_play();
                self.io.cancel_timer();
                self.silent_rounds = 0;
                match state {
                    S::Main => self.main_digit(d),
                    S::FolderChoice => self.folder_digit(d),
                    S::Options => self.options_digit(d),
                    S::Message { index } => self.message_digit(index, d),
                    _ => {}
                }
            }
            _ => {}
        }
    }

    fn poll_action(&mut self) -> Option<Action> {
        self.io.pop()
    }

    fn is_finished(&self) -> bool {
        self.state == MailboxState::Done
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::action::PlayId;

    fn info(id: u64) -> MessageInfo {
        MessageInfo {
            id: MessageId(id),
            caller: CallerId {
                number: Some(format!("20{id}")),
                name: None,
            },
            received_ms: 1_795_701_900_000,
            duration_ms: 5_000,
        }
    }

    fn ext() -> Ext {
        Ext::parse("1101").unwrap()
    }

    fn menu(new: &[u64], old: &[u64]) -> MailboxMenu {
        MailboxMenu::new(MailboxSpec::new(
            Lang::En,
            ext(),
            new.iter().map(|&i| info(i)).collect(),
            old.iter().map(|&i| info(i)).collect(),
        ))
    }

    fn drain(m: &mut MailboxMenu) -> Vec<Action> {
        std::iter::from_fn(|| m.poll_action()).collect()
    }

    fn last_play(a: &[Action]) -> (PlayId, Vec<PromptRef>) {
        a.iter()
            .rev()
            .find_map(|x| match x {
                Action::Play { id, prompts, .. } => Some((*id, prompts.clone())),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no play in {a:?}"))
    }

    fn press(m: &mut MailboxMenu, d: char) -> Vec<Action> {
        m.handle_event(0, Event::Digit(d));
        drain(m)
    }

    fn started(m: &mut MailboxMenu) -> Vec<Action> {
        m.handle_event(0, Event::Started);
        drain(m)
    }

    #[test]
    fn the_owner_records_a_busy_greeting_from_the_mailbox_options() {
        let mut m = menu(&[], &[]);
        started(&mut m);
        let (_, prompts) = last_play(&press(&mut m, '0'));
        assert_eq!(prompts, sys(["vm-options"]));
        assert_eq!(m.state(), MailboxState::Options);
        let a = press(&mut m, '2');
        let (id, prompts) = last_play(&a);
        assert_eq!(prompts, sys(["vm-rec-busy"]));
        assert!(press(&mut m, '5').is_empty(), "keys wait for the beep");
        m.handle_event(3_000, Event::PlayDone(id));
        assert_eq!(
            drain(&mut m),
            [Action::Record {
                max_ms: 60_000,
                silence_end_ms: 5_000,
                beep: true
            }]
        );
        assert_eq!(press(&mut m, '#'), [Action::StopRecord]);
        m.handle_event(
            9_000,
            Event::RecordDone {
                duration_ms: 4_000,
                silent: false,
            },
        );
        let a = drain(&mut m);
        assert_eq!(
            a[0],
            Action::StoreGreeting {
                mailbox: ext(),
                kind: GreetingKind::Busy
            }
        );
        assert_eq!(last_play(&a).1, sys(["vm-msgsaved", "vm-options"]));
        assert_eq!(m.state(), MailboxState::Options);
        // `1`: the unavailable greeting; a silent take is refused.
        let (id, prompts) = last_play(&press(&mut m, '1'));
        assert_eq!(prompts, sys(["vm-rec-unv"]));
        m.handle_event(12_000, Event::PlayDone(id));
        drain(&mut m);
        m.handle_event(
            20_000,
            Event::RecordDone {
                duration_ms: 5_000,
                silent: true,
            },
        );
        let a = drain(&mut m);
        assert_eq!(a[0], Action::DiscardRecording);
        assert_eq!(last_play(&a).1, sys(["vm-tooshort", "vm-options"]));
        // `*` goes back to the main menu.
        press(&mut m, '*');
        assert_eq!(m.state(), MailboxState::Main);
    }

    #[test]
    fn the_menu_starts_with_the_counts_then_the_main_options() {
        let mut m = menu(&[1, 2], &[3]);
        let a = started(&mut m);
        assert_eq!(a[0], Action::Answer);
        let (_, prompts) = last_play(&a);
        assert_eq!(
            prompts,
            sys([
                "vm-youhave",
                "digits/2",
                "vm-INBOX",
                "vm-and",
                "digits/1",
                "vm-Old",
                "vm-message",
                "vm-onefor",
                "vm-INBOX",
                "vm-messages",
                "vm-opts",
                "vm-helpexit"
            ])
        );
    }

    #[test]
    fn listening_to_a_new_message_moves_it_to_old_and_updates_the_lamp() {
        let mut m = menu(&[1, 2], &[]);
        started(&mut m);
        let a = press(&mut m, '1');
        assert_eq!(a[0], Action::StopPlay);
        let (id, prompts) = last_play(&a);
        assert_eq!(
            prompts,
            [
                PromptRef::System("vm-first"),
                PromptRef::System("vm-message"),
                PromptRef::Message(MessageId(1))
            ]
        );
        assert!(a.contains(&Action::MoveMessage {
            id: MessageId(1),
            to: Folder::Old
        }));
        assert!(a.contains(&Action::SetMwi {
            mailbox: ext(),
            new: 1,
            old: 1
        }));
        // The message ends: its instructions follow (no "previous" on the first).
        m.handle_event(5_000, Event::PlayDone(id));
        let (id, prompts) = last_play(&drain(&mut m));
        assert_eq!(
            prompts,
            sys([
                "vm-advopts",
                "vm-repeat",
                "vm-next",
                "vm-delete",
                "vm-savemessage",
                "vm-helpexit"
            ])
        );
        m.handle_event(9_000, Event::PlayDone(id));
        assert!(matches!(
            drain(&mut m)[..],
            [Action::StartTimer { at_ms: 15_000, .. }]
        ));
    }

    #[test]
    fn next_previous_and_repeat_move_through_the_list() {
        let mut m = menu(&[1, 2, 3], &[]);
        started(&mut m);
        press(&mut m, '1');
        let (_, p) = last_play(&press(&mut m, '6'));
        assert_eq!(
            p,
            [
                PromptRef::System("vm-message"),
                PromptRef::System("digits/2"),
                PromptRef::Message(MessageId(2))
            ]
        );
        let (_, p) = last_play(&press(&mut m, '6'));
        assert_eq!(p[..2], sys(["vm-last", "vm-message"]));
        let (_, p) = last_play(&press(&mut m, '6'));
        assert_eq!(p[0], PromptRef::System("vm-nomore"));
        assert_eq!(m.state(), MailboxState::Message { index: 2 });
        let (_, p) = last_play(&press(&mut m, '4'));
        assert_eq!(p.last(), Some(&PromptRef::Message(MessageId(2))));
        let (_, p) = last_play(&press(&mut m, '5'));
        assert_eq!(p.last(), Some(&PromptRef::Message(MessageId(2))));
        assert_eq!(m.counts(), (0, 3), "all three were heard");
    }

    #[test]
    fn delete_removes_the_message_plays_the_next_and_updates_the_lamp() {
        let mut m = menu(&[1], &[5, 6]);
        started(&mut m);
        press(&mut m, '1');
        let a = press(&mut m, '7');
        assert!(a.contains(&Action::DeleteMessage { id: MessageId(1) }));
        assert!(a.contains(&Action::SetMwi {
            mailbox: ext(),
            new: 0,
            old: 2
        }));
        let (_, p) = last_play(&a);
        assert_eq!(
            p,
            sys(["vm-deleted", "vm-nomore", "vm-opts", "vm-helpexit"]),
            "the new list is empty now: back to the main menu"
        );
        assert_eq!(m.state(), MailboxState::Main);
    }

    #[test]
    fn deleting_the_first_of_two_plays_the_one_that_moves_up() {
        let mut m = menu(&[], &[5, 6]);
        assert_eq!(m.folder(), Folder::Old, "no new messages: start in old");
        started(&mut m);
        press(&mut m, '1');
        let a = press(&mut m, '7');
        let (_, p) = last_play(&a);
        assert_eq!(p[0], PromptRef::System("vm-deleted"));
        assert_eq!(p.last(), Some(&PromptRef::Message(MessageId(6))));
        assert_eq!(m.state(), MailboxState::Message { index: 0 });
        assert!(!a.iter().any(|x| matches!(x, Action::MoveMessage { .. })));
    }

    #[test]
    fn save_confirms_and_goes_on_to_the_next_message() {
        let mut m = menu(&[1, 2], &[]);
        started(&mut m);
        press(&mut m, '1');
        let (_, p) = last_play(&press(&mut m, '9'));
        assert_eq!(p[0], PromptRef::System("vm-msgsaved"));
        assert_eq!(p.last(), Some(&PromptRef::Message(MessageId(2))));
        let (_, p) = last_play(&press(&mut m, '9'));
        assert_eq!(p[..2], sys(["vm-msgsaved", "vm-nomore"]));
        assert_eq!(m.counts(), (0, 2));
    }

    #[test]
    fn changing_folder_lists_the_old_messages_including_the_ones_just_heard() {
        let mut m = menu(&[1], &[5]);
        started(&mut m);
        press(&mut m, '1');
        let (_, p) = last_play(&press(&mut m, '2'));
        assert_eq!(p[0], PromptRef::System("vm-changeto"));
        assert_eq!(m.state(), MailboxState::FolderChoice);
        let (_, p) = last_play(&press(&mut m, '1'));
        assert_eq!(p[..3], sys(["vm-Old", "vm-messages", "vm-onefor"]));
        assert_eq!(m.folder(), Folder::Old);
        let (_, p) = last_play(&press(&mut m, '1'));
        assert_eq!(p.last(), Some(&PromptRef::Message(MessageId(1))));
        let (_, p) = last_play(&press(&mut m, '6'));
        assert_eq!(p.last(), Some(&PromptRef::Message(MessageId(5))));
    }

    #[test]
    fn pound_in_the_folder_choice_cancels_back_to_the_main_menu() {
        let mut m = menu(&[1], &[5]);
        started(&mut m);
        press(&mut m, '2');
        let (_, p) = last_play(&press(&mut m, '#'));
        assert_eq!(p[0], PromptRef::System("vm-onefor"));
        assert_eq!((m.state(), m.folder()), (MailboxState::Main, Folder::New));
        press(&mut m, '2');
        let (_, p) = last_play(&press(&mut m, '5'));
        assert_eq!(p[0], PromptRef::System("pm-invalid-option"));
        assert_eq!(m.state(), MailboxState::FolderChoice);
    }

    #[test]
    fn the_envelope_says_the_caller_and_the_time() {
        let mut m = menu(&[7], &[]);
        started(&mut m);
        press(&mut m, '1');
        let (_, p) = last_play(&press(&mut m, '3'));
        assert_eq!(
            p[..5],
            sys([
                "vm-from-phonenumber",
                "digits/2",
                "digits/0",
                "digits/7",
                "vm-received"
            ])
        );
        assert!(p.contains(&PromptRef::System("digits/p-m")));
    }

    #[test]
    fn silence_repeats_the_instructions_then_says_goodbye() {
        let mut m = menu(&[], &[]);
        let a = started(&mut m);
        let (mut id, prompts) = last_play(&a);
        assert_eq!(prompts[..3], sys(["vm-youhave", "vm-no", "vm-messages"]));
        for round in 1..=3 {
            m.handle_event(0, Event::PlayDone(id));
            let Some(Action::StartTimer { token, .. }) = drain(&mut m).pop() else {
                panic!("round {round}: no timer");
            };
            m.handle_event(6_000, Event::Timer(token));
            let (next, p) = last_play(&drain(&mut m));
            id = next;
            if round < 3 {
                assert_eq!(p, sys(["vm-opts", "vm-helpexit"]));
            } else {
                assert_eq!(p, sys(["vm-goodbye"]));
            }
        }
        m.handle_event(0, Event::PlayDone(id));
        assert_eq!(drain(&mut m), [Action::Hangup]);
        assert!(m.is_finished());
    }

    #[test]
    fn pound_says_goodbye_and_hangs_up() {
        let mut m = menu(&[1], &[]);
        started(&mut m);
        let (id, p) = last_play(&press(&mut m, '#'));
        assert_eq!(p, sys(["vm-goodbye"]));
        assert!(
            press(&mut m, '1').is_empty(),
            "keys while leaving do nothing"
        );
        m.handle_event(0, Event::PlayDone(id));
        assert_eq!(drain(&mut m), [Action::Hangup]);
    }

    #[test]
    fn a_wrong_key_in_the_main_menu_says_invalid_and_repeats_it() {
        let mut m = menu(&[1], &[]);
        started(&mut m);
        let (_, p) = last_play(&press(&mut m, '8'));
        assert_eq!(p[0], PromptRef::System("pm-invalid-option"));
        assert_eq!(m.state(), MailboxState::Main);
    }

    #[test]
    fn listening_to_an_empty_folder_says_no_more_messages() {
        let mut m = menu(&[], &[]);
        started(&mut m);
        let (_, p) = last_play(&press(&mut m, '1'));
        assert_eq!(p[0], PromptRef::System("vm-nomore"));
    }

    #[test]
    fn hangup_ends_the_menu_and_later_events_do_nothing() {
        let mut m = menu(&[1], &[]);
        started(&mut m);
        press(&mut m, '1');
        m.handle_event(0, Event::Hangup);
        assert!(m.is_finished());
        assert!(press(&mut m, '7').is_empty());
    }
}
