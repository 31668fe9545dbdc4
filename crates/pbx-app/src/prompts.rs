//! The system prompts this crate plays, by their Asterisk core-sounds names.
//!
//! Every name here exists in the en, ru and it sound sets except those in
//! [`RU_ONLY`] and [`IT_ONLY`], which are played only in that language. The
//! crate's tests check every name the applications can emit against the installed
//! `/usr/share/asterisk/sounds/<voice>/` directories, and that every name emitted is in
//! [`required`].

use crate::say::{self, Lang};

/// Short tone before a recording.
pub const BEEP: &str = "beep";
/// "You have entered an invalid option" — the default invalid-choice prompt of a menu
/// (Asterisk's `option-is-invalid` is in the extra sounds, which are not installed).
pub const INVALID_OPTION: &str = "pm-invalid-option";
/// "Goodbye" (the default end of a menu without `on_timeout`, and of voicemail).
pub const GOODBYE: &str = "vm-goodbye";

/// "You are now first in line" (queue position 1).
pub const QUEUE_YOUARENEXT: &str = "queue-youarenext";
/// "You are currently caller number" (followed by the position).
pub const QUEUE_THEREARE: &str = "queue-thereare";
/// "waiting to speak to a representative".
pub const QUEUE_CALLSWAITING: &str = "queue-callswaiting";
/// "The estimated hold time is currently".
pub const QUEUE_HOLDTIME: &str = "queue-holdtime";
/// "less than".
pub const QUEUE_LESS_THAN: &str = "queue-less-than";
/// "minute".
pub const QUEUE_MINUTE: &str = "queue-minute";
/// "minutes".
pub const QUEUE_MINUTES: &str = "queue-minutes";
/// "Thank you for your patience".
pub const QUEUE_THANKYOU: &str = "queue-thankyou";
/// "Agent logged in".
pub const AGENT_LOGINOK: &str = "agent-loginok";
/// "Agent logged off".
pub const AGENT_LOGGEDOFF: &str = "agent-loggedoff";
/// "Paused".
pub const PAUSED: &str = "dictate/paused";
/// "Thank you".
pub const AUTH_THANKYOU: &str = "auth-thankyou";
/// "That is not a valid agent" (a code from someone who is no agent of the queue).
pub const AGENT_INCORRECT: &str = "agent-incorrect";
/// "Your call cannot be completed as dialed…": what a caller hears before 403 when an
/// outside call is not allowed (or over a cap).
pub const CANNOT_COMPLETE: &str = "cannot-complete-as-dialed";

/// "The person at extension".
pub const VM_THEPERSON: &str = "vm-theperson";
/// "is unavailable".
pub const VM_ISUNAVAIL: &str = "vm-isunavail";
/// "is on the phone".
pub const VM_ISONPHONE: &str = "vm-isonphone";
/// "Please leave your message after the tone…".
pub const VM_INTRO: &str = "vm-intro";
/// "Your message is too short".
pub const VM_TOOSHORT: &str = "vm-tooshort";
/// "Message saved".
pub const VM_MSGSAVED: &str = "vm-msgsaved";
/// "The mailbox is full".
pub const VM_MAILBOXFULL: &str = "vm-mailboxfull";
/// "Press 1 to record your unavailable message, 2 … busy message, … * to return".
pub const VM_OPTIONS: &str = "vm-options";
/// "After the tone, say your unavailable message, then press pound".
pub const VM_REC_UNV: &str = "vm-rec-unv";
/// "After the tone, say your busy message, then press pound".
pub const VM_REC_BUSY: &str = "vm-rec-busy";
/// "Password".
pub const VM_PASSWORD: &str = "vm-password";
/// "Login incorrect".
pub const VM_INCORRECT: &str = "vm-incorrect";
/// "You have".
pub const VM_YOUHAVE: &str = "vm-youhave";
/// "new" (the INBOX folder).
pub const VM_INBOX: &str = "vm-INBOX";
/// "old".
pub const VM_OLD: &str = "vm-Old";
/// "and".
pub const VM_AND: &str = "vm-and";
/// "no".
pub const VM_NO: &str = "vm-no";
/// "message".
pub const VM_MESSAGE: &str = "vm-message";
/// "messages".
pub const VM_MESSAGES: &str = "vm-messages";
/// "Press 1 for".
pub const VM_ONEFOR: &str = "vm-onefor";
/// Main-menu options (change folders, …).
pub const VM_OPTS: &str = "vm-opts";
/// "Press star for help or pound to exit".
pub const VM_HELPEXIT: &str = "vm-helpexit";
/// "Press 4 for the previous message".
pub const VM_PREV: &str = "vm-prev";
/// "Press 3 for advanced options" (here: the envelope).
pub const VM_ADVOPTS: &str = "vm-advopts";
/// "Press 5 to repeat the current message".
pub const VM_REPEAT: &str = "vm-repeat";
/// "Press 6 to play the next message".
pub const VM_NEXT: &str = "vm-next";
/// "Press 7 to delete this message".
pub const VM_DELETE: &str = "vm-delete";
/// "Press 9 to save this message".
pub const VM_SAVEMESSAGE: &str = "vm-savemessage";
/// "Message deleted".
pub const VM_DELETED: &str = "vm-deleted";
/// "No more messages".
pub const VM_NOMORE: &str = "vm-nomore";
/// "first".
pub const VM_FIRST: &str = "vm-first";
/// "last".
pub const VM_LAST: &str = "vm-last";
/// "Change to which folder?".
pub const VM_CHANGETO: &str = "vm-changeto";
/// "Press".
pub const VM_PRESS: &str = "vm-press";
/// "for".
pub const VM_FOR: &str = "vm-for";
/// "or pound to cancel".
pub const VM_TOCANCEL: &str = "vm-tocancel";
/// "received".
pub const VM_RECEIVED: &str = "vm-received";
/// "from phone number".
pub const VM_FROM_PHONENUMBER: &str = "vm-from-phonenumber";
/// "from an unknown caller".
pub const VM_UNKNOWN_CALLER: &str = "vm-unknown-caller";

/// Every language-independent name above (and the number words of [`crate::say`] are
/// checked separately).
pub const COMMON: &[&str] = &[
    BEEP,
    QUEUE_YOUARENEXT,
    QUEUE_THEREARE,
    QUEUE_CALLSWAITING,
    QUEUE_HOLDTIME,
    QUEUE_LESS_THAN,
    QUEUE_MINUTE,
    QUEUE_MINUTES,
    QUEUE_THANKYOU,
    AGENT_LOGINOK,
    AGENT_LOGGEDOFF,
    PAUSED,
    AUTH_THANKYOU,
    AGENT_INCORRECT,
    INVALID_OPTION,
    GOODBYE,
    VM_THEPERSON,
    VM_ISUNAVAIL,
    VM_ISONPHONE,
    VM_INTRO,
    VM_TOOSHORT,
    VM_MSGSAVED,
    VM_MAILBOXFULL,
    VM_OPTIONS,
    VM_REC_UNV,
    VM_REC_BUSY,
    VM_PASSWORD,
    VM_INCORRECT,
    VM_YOUHAVE,
    VM_INBOX,
    VM_OLD,
    VM_AND,
    VM_NO,
    VM_MESSAGE,
    VM_MESSAGES,
    VM_ONEFOR,
    VM_OPTS,
    VM_HELPEXIT,
    VM_PREV,
    VM_ADVOPTS,
    VM_REPEAT,
    VM_NEXT,
    VM_DELETE,
    VM_SAVEMESSAGE,
    VM_DELETED,
    VM_NOMORE,
    VM_FIRST,
    VM_LAST,
    VM_CHANGETO,
    VM_PRESS,
    VM_FOR,
    VM_TOCANCEL,
    VM_RECEIVED,
    VM_FROM_PHONENUMBER,
    VM_UNKNOWN_CALLER,
    CANNOT_COMPLETE,
];

/// Russian counted forms (Asterisk `ast_say_counted_noun` / `_adjective`): "новое",
/// "новых", "старое", "старых", "сообщения", "сообщений", and the neuter numerals.
pub const RU_ONLY: &[&str] = &[
    "vm-newn",
    "vm-newx",
    "vm-oldn",
    "vm-oldx",
    "vm-messagex1",
    "vm-messagex2",
    "digits/1n",
    "digits/2n",
];

/// Italian agreement: "nuovo", "nuovi", "vecchio", "vecchi", "un", and the elided tens
/// and plurals of the number words.
pub const IT_ONLY: &[&str] = &[
    "vm-nuovo",
    "vm-nuovi",
    "vm-vecchio",
    "vm-vecchi",
    "digits/un",
    "digits/21",
    "digits/28",
    "digits/31",
    "digits/38",
    "digits/41",
    "digits/48",
    "digits/51",
    "digits/58",
    "digits/61",
    "digits/68",
    "digits/71",
    "digits/78",
    "digits/81",
    "digits/88",
    "digits/91",
    "digits/98",
    "digits/thousands",
    "digits/millions",
];

/// The number, date and digit words [`crate::say`] can produce in `lang`.
fn number_words(lang: Lang) -> Vec<&'static str> {
    let mut out = vec![
        "digits/hundred",
        "digits/thousand",
        "digits/million",
        "digits/billion",
        "digits/star",
        "digits/pound",
        "digits/at",
        "digits/oclock",
        "digits/oh",
        "digits/a-m",
        "digits/p-m",
        "digits/h-30",
    ];
    for n in 0..=20 {
        out.extend(say::number(Lang::En, n));
    }
    for n in (30..=90).step_by(10) {
        out.extend(say::number(Lang::En, n));
    }
    for d in 1..=20 {
        out.extend(say::datetime(
            Lang::En,
            1_704_067_200_000 + d * 86_400_000,
            0,
        ));
    }
    for m in 0..12 {
        out.extend(say::datetime(
            Lang::En,
            1_704_067_200_000 + m * 31 * 86_400_000,
            0,
        ));
    }
    out.extend(match lang {
        Lang::En => &[][..],
        Lang::Ru => RU_ONLY,
        Lang::It => IT_ONLY,
    });
    out
}

/// Every system prompt the applications may play in `lang`: the server checks them at
/// start-up (a missing one is a configuration error, not silence at call time).
pub fn required(lang: Lang) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = COMMON.to_vec();
    out.extend(number_words(lang));
    out.sort_unstable();
    out.dedup();
    out
}
