//! Voicemail: leaving a message ([`Deposit`]), opening a mailbox by phone with the PIN
//! ([`Login`]) and listening to it ([`MailboxMenu`]).
//!
//! The service-code flow (`*97`): the server starts a [`Login`] for the caller's own
//! mailbox; on [`Action::Authenticated`](crate::Action::Authenticated) it loads the
//! message list and starts a [`MailboxMenu`] on the same call.

mod deposit;
mod login;
mod mailbox;

pub use deposit::{Deposit, DepositSpec, DepositState};
pub use login::{Login, LoginSpec, LoginState};
pub use mailbox::{MailboxMenu, MailboxSpec, MailboxState, MessageInfo};

use crate::action::PromptRef;
use crate::prompts as p;
use crate::say::{self, Gender, Lang};

fn sys(names: impl IntoIterator<Item = &'static str>) -> impl Iterator<Item = PromptRef> {
    names.into_iter().map(PromptRef::System)
}

/// "You have N new messages and M old" as Asterisk's `vm_intro` says it per language
/// (en `vm_intro_en`, ru `vm_intro_multilang` with counted endings, it `vm_intro_it`).
pub fn counts_phrase(lang: Lang, new: u32, old: u32) -> Vec<PromptRef> {
    let mut out: Vec<&'static str> = Vec::new();
    match lang {
        Lang::En => {
            out.push(p::VM_YOUHAVE);
            if new > 0 {
                out.extend(say::number(lang, new.into()));
                out.push(p::VM_INBOX);
                if old > 0 {
                    out.push(p::VM_AND);
                } else {
                    out.push(if new == 1 {
                        p::VM_MESSAGE
                    } else {
                        p::VM_MESSAGES
                    });
                }
            }
            if old > 0 {
                out.extend(say::number(lang, old.into()));
                out.push(p::VM_OLD);
                out.push(if old == 1 {
                    p::VM_MESSAGE
                } else {
                    p::VM_MESSAGES
                });
            }
            if new == 0 && old == 0 {
                out.extend([p::VM_NO, p::VM_MESSAGES]);
            }
        }
        Lang::Ru => {
            // "У вас одно новое и пять старых сообщений": the noun agrees with the last number.
            out.push(p::VM_YOUHAVE);
            let mut last = 0;
            if new > 0 {
                out.extend(say::number_gendered(lang, new.into(), Gender::Neuter));
                out.push(if ru_is_singular(new) {
                    "vm-newn"
                } else {
                    "vm-newx"
                });
                if old > 0 {
                    out.push(p::VM_AND);
                }
                last = new;
            }
            if old > 0 {
                out.extend(say::number_gendered(lang, old.into(), Gender::Neuter));
                out.push(if ru_is_singular(old) {
                    "vm-oldn"
                } else {
                    "vm-oldx"
                });
                last = old;
            }
            if last == 0 {
                out.push(p::VM_NO);
            }
            out.push(ru_message_noun(last));
        }
        Lang::It => {
            if new == 0 && old == 0 {
                out.extend([p::VM_NO, p::VM_MESSAGE]);
            } else {
                out.push(p::VM_YOUHAVE);
            }
            if new > 0 {
                if new == 1 {
                    out.extend(["digits/un", "vm-nuovo", p::VM_MESSAGE]);
                } else {
                    out.extend(say::number(lang, new.into()));
                    out.extend(["vm-nuovi", p::VM_MESSAGES]);
                }
                if old > 0 {
                    out.push(p::VM_AND);
                }
            }
            if old > 0 {
                if old == 1 {
                    out.extend(["digits/un", "vm-vecchio", p::VM_MESSAGE]);
                } else {
                    out.extend(say::number(lang, old.into()));
                    out.extend(["vm-vecchi", p::VM_MESSAGES]);
                }
            }
        }
    }
    sys(out).collect()
}

/// ru: 1, 21, 31 … (not 11) take the singular ("новое сообщение").
fn ru_is_singular(n: u32) -> bool {
    n % 10 == 1 && n % 100 != 11
}

/// ru: сообщение / сообщения / сообщений (Asterisk `ast_say_counted_noun`).
fn ru_message_noun(n: u32) -> &'static str {
    if (10..=20).contains(&(n % 100)) {
        return "vm-messagex2";
    }
    match n % 10 {
        1 => p::VM_MESSAGE,
        2..=4 => "vm-messagex1",
        _ => "vm-messagex2",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: Vec<PromptRef>) -> Vec<&'static str> {
        v.into_iter()
            .map(|p| match p {
                PromptRef::System(s) => s,
                other => panic!("not a system prompt: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn english_counts_follow_asterisk_word_order() {
        assert_eq!(
            names(counts_phrase(Lang::En, 2, 1)),
            [
                "vm-youhave",
                "digits/2",
                "vm-INBOX",
                "vm-and",
                "digits/1",
                "vm-Old",
                "vm-message"
            ]
        );
        assert_eq!(
            names(counts_phrase(Lang::En, 1, 0)),
            ["vm-youhave", "digits/1", "vm-INBOX", "vm-message"]
        );
        assert_eq!(
            names(counts_phrase(Lang::En, 0, 0)),
            ["vm-youhave", "vm-no", "vm-messages"]
        );
    }

    #[test]
    fn russian_counts_agree_in_gender_and_number() {
        assert_eq!(
            names(counts_phrase(Lang::Ru, 1, 0)),
            ["vm-youhave", "digits/1n", "vm-newn", "vm-message"]
        );
        assert_eq!(
            names(counts_phrase(Lang::Ru, 2, 5)),
            [
                "vm-youhave",
                "digits/2n",
                "vm-newx",
                "vm-and",
                "digits/5",
                "vm-oldx",
                "vm-messagex2"
            ]
        );
        assert_eq!(
            names(counts_phrase(Lang::Ru, 0, 11)),
            ["vm-youhave", "digits/11", "vm-oldx", "vm-messagex2"]
        );
        assert_eq!(
            names(counts_phrase(Lang::Ru, 0, 0)),
            ["vm-youhave", "vm-no", "vm-messagex2"]
        );
    }

    #[test]
    fn italian_counts_use_un_nuovo_and_plural_adjectives() {
        assert_eq!(
            names(counts_phrase(Lang::It, 1, 3)),
            [
                "vm-youhave",
                "digits/un",
                "vm-nuovo",
                "vm-message",
                "vm-and",
                "digits/3",
                "vm-vecchi",
                "vm-messages"
            ]
        );
        assert_eq!(
            names(counts_phrase(Lang::It, 0, 0)),
            ["vm-no", "vm-message"]
        );
    }
}
