//! `pbx-app`: the media applications of vpbx as pure, sans-IO state machines.
//!
//! - [`ivr::Menu`]: voice menus (`ivr:NAME`) with barge-in, digit and inter-digit
//!   timeouts, options, direct dial through a [`ivr::DialPlan`], repeats, `on_invalid`,
//!   `on_timeout`;
//! - [`voicemail::Deposit`], [`voicemail::Login`], [`voicemail::MailboxMenu`]: leaving a
//!   message, opening a mailbox with the PIN, listening by phone (with MWI counts);
//! - [`announce::Announce`]: `announce:PROMPT`, then hang up or go on;
//! - [`queue::QueueWait`]: a caller waiting in a queue (music, position, hold time);
//! - [`say`]: numbers, digit strings and dates as Asterisk `digits/…` prompts (en, ru, it);
//! - [`prompts`]: the system prompt names the applications play.
//!
//! Every application implements [`MediaApp`]: the server feeds [`Event`]s with the time
//! (`now_ms`, Unix milliseconds) and carries out the [`Action`]s it drains after each one.
//! Nothing here reads a clock, opens a file or a socket: playback, recording, timers and
//! storage are the server's, asked for by actions and answered by events.
//!
//! The run loop (here with a fake media engine that finishes every playback at once and
//! fires every timer when it falls due):
//!
//! ```
//! use std::collections::BTreeMap;
//! use pbx_app::ivr::{DialMatch, Menu, MenuSpec};
//! use pbx_app::{Action, Event, MediaApp, PromptRef};
//! use pbx_core::{Destination, Ext};
//!
//! let mut spec = MenuSpec::new(vec![PromptRef::Named("greeting".into())]);
//! spec.options.insert("1".into(), Destination::Group(Ext::parse("1100").unwrap()));
//! spec.on_timeout = Some(Destination::User(Ext::parse("1000").unwrap()));
//! let mut menu = Menu::new(spec, Box::new(|_: &str| DialMatch::None));
//!
//! let mut now = 0;
//! let mut pending = vec![Event::Started];
//! let mut outcome = None;
//! while let Some(event) = pending.pop() {
//!     menu.handle_event(now, event);
//!     while let Some(action) = menu.poll_action() {
//!         match action {
//!             Action::Play { id, .. } => { now += 4_000; pending.push(Event::PlayDone(id)) }
//!             Action::StartTimer { token, at_ms } => { now = at_ms; pending.push(Event::Timer(token)) }
//!             a if a.is_final() => outcome = Some(a),
//!             _ => {} // Answer, StopPlay, CancelTimer …
//!         }
//!     }
//! }
//! // Nobody pressed anything: played twice, waited 10 s twice, then the secretary.
//! assert_eq!(outcome, Some(Action::Goto(Destination::User(Ext::parse("1000").unwrap()))));
//! assert_eq!(now, 28_000);
//! assert!(menu.is_finished());
//! ```

mod action;
pub mod announce;
pub mod ivr;
pub mod prompts;
pub mod queue;
pub mod say;
pub mod voicemail;

pub use action::{
    Action, CallerId, Event, Folder, GreetingKind, MediaApp, MessageId, MessageMeta, PlayId,
    PromptRef, TimerToken,
};
