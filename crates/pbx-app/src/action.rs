//! The vocabulary shared by every application: events in, actions out.

use std::collections::VecDeque;
use std::fmt;

use pbx_core::{Destination, Ext};

/// Identifies one [`Action::Play`], so a [`Event::PlayDone`] that arrives after the
/// application stopped or replaced that playback is recognised as stale and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlayId(pub u32);

/// Identifies one [`Action::StartTimer`]; a [`Event::Timer`] with another token (a timer
/// that was cancelled or replaced, or fired twice) is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerToken(pub u32);

/// A stored voicemail message, as the server's voicemail index numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub u64);

/// A voicemail folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Folder {
    /// Not listened to yet (Asterisk `INBOX`): these light the message-waiting lamp.
    New,
    /// Listened to or saved (Asterisk `Old`).
    Old,
}

/// Which greeting a caller hears before leaving a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GreetingKind {
    /// The user was busy (`vm-isonphone`).
    Busy,
    /// The user did not answer or is not reachable (`vm-isunavail`).
    Unavailable,
}

/// Something to play. The server resolves names tenant → language → system
/// (issue 4 item 2) and plays the list back to back as one playback.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PromptRef {
    /// A prompt this crate chose, by its Asterisk core-sounds name without extension
    /// (`"vm-intro"`, `"digits/5"`). Every such name exists in the en, ru and it sound sets
    /// (checked by a test), except the few language-specific ones listed in [`crate::prompts`].
    System(&'static str),
    /// A prompt named in the tenant's configuration (an IVR's prompt list, an
    /// `announce:` destination), resolved like a system name.
    Named(String),
    /// The greeting a user recorded for this case.
    Greeting {
        /// Whose greeting.
        ext: Ext,
        /// Busy or unavailable.
        kind: GreetingKind,
    },
    /// The audio of a stored voicemail message.
    Message(MessageId),
}

/// Who called, as known from the SIP headers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct CallerId {
    /// The caller's number (user part of the From / P-Asserted-Identity), if any.
    pub number: Option<String>,
    /// The display name, if any.
    pub name: Option<String>,
}

/// A message to store: the recording that just ended ([`Event::RecordDone`]) belongs to it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessageMeta {
    /// The mailbox it is for.
    pub mailbox: Ext,
    /// Who left it.
    pub caller: CallerId,
    /// Why the caller reached voicemail.
    pub reason: GreetingKind,
    /// When the recording started (the `now_ms` clock: Unix milliseconds).
    pub started_ms: u64,
    /// Length of the kept audio.
    pub duration_ms: u64,
}

/// An input to an application. Each comes with `now_ms`: milliseconds on the server's
/// wall clock (Unix epoch), the clock [`Action::StartTimer`] deadlines are on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Event {
    /// The call reached the application (first event; a repeated one is ignored).
    Started,
    /// A DTMF digit (`0-9 * # A-D`), however it arrived (RFC 4733, SIP INFO, inband).
    /// Other characters are ignored.
    Digit(char),
    /// The playback with this id played to its end (not sent for a stopped playback;
    /// if it is, it is ignored).
    PlayDone(PlayId),
    /// The recording ended (by [`Action::StopRecord`], its maximum length, the silence
    /// end, or the caller hanging up). `duration_ms` is the audio kept (trailing silence
    /// trimmed); `silent` says no sound above the speech threshold was heard at all.
    RecordDone {
        /// Length of the kept audio.
        duration_ms: u64,
        /// Nothing but silence was recorded.
        silent: bool,
    },
    /// A timer the application started fired.
    Timer(TimerToken),
    /// The caller hung up (or the call was taken away). The server has stopped
    /// playback and forgotten timers; only a recording in progress still reports
    /// [`Event::RecordDone`].
    Hangup,
}

/// What the server must do. Drain [`MediaApp::poll_action`] after every event and do
/// each action in order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// Answer the call (200 OK with SDP) unless it is already answered.
    Answer,
    /// Play the prompts back to back, replacing any playback in progress (that one then
    /// reports no `PlayDone`). With `barge_in` the media engine may stop the playback as
    /// soon as a digit arrives; the application sends [`Action::StopPlay`] anyway, so the
    /// flag is only a latency hint. An empty list ends at once: send `PlayDone(id)`.
    Play {
        /// Echo it in [`Event::PlayDone`].
        id: PlayId,
        /// What to play, in order.
        prompts: Vec<PromptRef>,
        /// A digit ends the playback.
        barge_in: bool,
    },
    /// Stop the playback in progress, if any (no `PlayDone` needed).
    StopPlay,
    /// Play music on hold of this class (empty: the tenant's) until the next `Play`,
    /// `StopPlay` or the end of the application; no `PlayDone` comes.
    Moh {
        /// The music-on-hold class.
        class: String,
    },
    /// Record the caller to a new file. With `beep`, play the system `beep` prompt first
    /// and start recording when it ends. End by itself after `max_ms` of recording, or
    /// after `silence_end_ms` of continuous silence; then send [`Event::RecordDone`].
    Record {
        /// Longest recording.
        max_ms: u64,
        /// This much silence ends the recording.
        silence_end_ms: u64,
        /// Beep first.
        beep: bool,
    },
    /// End the recording in progress now; [`Event::RecordDone`] follows.
    StopRecord,
    /// Send [`Event::Timer`]`(token)` at `at_ms` (the `now_ms` clock). The application
    /// has at most one timer; a new one replaces the old (whose token is then stale).
    StartTimer {
        /// Echo it in [`Event::Timer`].
        token: TimerToken,
        /// When.
        at_ms: u64,
    },
    /// Forget the timer with this token (a late firing is harmless: it is ignored).
    CancelTimer {
        /// Which timer.
        token: TimerToken,
    },
    /// The application is done: route the call to this destination (walk the
    /// destination graph from here, counting a hop).
    Goto(Destination),
    /// The application is done: hang up (BYE).
    Hangup,
    /// The application is done: the caller asked to reach this mailbox's owner menu
    /// (`*` during a voicemail greeting); start [`crate::voicemail::Login`] for it.
    EnterMailbox(Ext),
    /// The application is done: the PIN for this mailbox was right; load its message
    /// list and start [`crate::voicemail::MailboxMenu`] on the same call.
    Authenticated {
        /// The mailbox opened.
        mailbox: Ext,
    },
    /// Keep the recording that just ended as this message (file, index, e-mail, MWI).
    StoreMessage(MessageMeta),
    /// Delete the recording that just ended (too short or silent).
    DiscardRecording,
    /// Keep the recording that just ended as this mailbox's greeting of `kind` (recorded by
    /// its owner from the mailbox options): played instead of the system greeting.
    StoreGreeting {
        /// Whose greeting.
        mailbox: Ext,
        /// Busy or unavailable.
        kind: GreetingKind,
    },
    /// Delete a stored message.
    DeleteMessage {
        /// Which one.
        id: MessageId,
    },
    /// Move a stored message to another folder.
    MoveMessage {
        /// Which one.
        id: MessageId,
        /// Where to.
        to: Folder,
    },
    /// The mailbox now holds this many messages: send MWI NOTIFY (message-summary) to
    /// the user's phones.
    SetMwi {
        /// Whose lamp.
        mailbox: Ext,
        /// New messages.
        new: u32,
        /// Old messages.
        old: u32,
    },
}

impl Action {
    /// True for the actions that end an application (after one, it emits nothing more).
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Action::Goto(_)
                | Action::Hangup
                | Action::EnterMailbox(_)
                | Action::Authenticated { .. }
        )
    }
}

/// One running application on one call. Every state machine in this crate implements it,
/// so the server can keep a `Box<dyn MediaApp + Send>` per call.
pub trait MediaApp: fmt::Debug {
    /// Feeds one event at `now_ms` (Unix milliseconds). Never panics, whatever the sequence.
    fn handle_event(&mut self, now_ms: u64, event: Event);
    /// The next action to carry out, in order; `None` when there is nothing to do until
    /// the next event.
    fn poll_action(&mut self) -> Option<Action>;
    /// True once the application has nothing more to do (after a final action, or after
    /// the caller hung up and any recording was reported).
    fn is_finished(&self) -> bool;
}

/// Characters that are DTMF digits.
pub(crate) fn is_dtmf(c: char) -> bool {
    matches!(c, '0'..='9' | '*' | '#' | 'A'..='D')
}

/// The bookkeeping every application shares: the action queue, the current playback and
/// the one timer.
#[derive(Debug, Default)]
pub(crate) struct Io {
    out: VecDeque<Action>,
    plays: u32,
    playing: Option<PlayId>,
    timers: u32,
    timer: Option<TimerToken>,
}

impl Io {
    pub(crate) fn push(&mut self, a: Action) {
        self.out.push_back(a);
    }

    pub(crate) fn pop(&mut self) -> Option<Action> {
        self.out.pop_front()
    }

    /// Starts a playback (replacing the current one) and cancels the timer.
    pub(crate) fn play(&mut self, prompts: Vec<PromptRef>, barge_in: bool) {
        self.cancel_timer();
        self.plays = self.plays.wrapping_add(1);
        let id = PlayId(self.plays);
        self.playing = Some(id);
        self.push(Action::Play {
            id,
            prompts,
            barge_in,
        });
    }

    /// Stops the current playback, if any.
    pub(crate) fn stop_play(&mut self) {
        if self.playing.take().is_some() {
            self.push(Action::StopPlay);
        }
    }

    /// True (and the playback is over) when `id` is the playback in progress.
    pub(crate) fn play_done(&mut self, id: PlayId) -> bool {
        if self.playing == Some(id) {
            self.playing = None;
            true
        } else {
            false
        }
    }

    /// Arms the one timer for `at_ms`, replacing any other.
    pub(crate) fn start_timer(&mut self, at_ms: u64) {
        self.cancel_timer();
        self.timers = self.timers.wrapping_add(1);
        let token = TimerToken(self.timers);
        self.timer = Some(token);
        self.push(Action::StartTimer { token, at_ms });
    }

    pub(crate) fn cancel_timer(&mut self) {
        if let Some(token) = self.timer.take() {
            self.push(Action::CancelTimer { token });
        }
    }

    /// True (and the timer is spent) when `token` is the armed timer.
    pub(crate) fn timer_fired(&mut self, token: TimerToken) -> bool {
        if self.timer == Some(token) {
            self.timer = None;
            true
        } else {
            false
        }
    }

    /// Filters stale inputs: false for a `PlayDone` of a playback that is not the current
    /// one and a `Timer` that is not the armed one; a current one is consumed (the
    /// playback is over, the timer spent) and passes.
    pub(crate) fn accept(&mut self, event: &Event) -> bool {
        match event {
            Event::PlayDone(id) => self.play_done(*id),
            Event::Timer(t) => self.timer_fired(*t),
            _ => true,
        }
    }

    /// The caller hung up: the server dropped playback and timers.
    pub(crate) fn forget(&mut self) {
        self.playing = None;
        self.timer = None;
    }

    /// Ends the application with a final action, stopping what still runs.
    pub(crate) fn finish(&mut self, last: Action) {
        self.stop_play();
        self.cancel_timer();
        self.push(last);
    }
}
