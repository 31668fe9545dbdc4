//! Destinations: everything a call can reach, written `kind:id` (DESIGN.md "Routing").

use std::fmt;

use super::prompt::is_valid_prompt_name;
use crate::ids::Ext;

/// A routing destination. Kinds whose id is an extension hold an [`Ext`]; named objects
/// (IVRs, schedules, prompts) hold a name; `external` holds a dialable number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Destination {
    /// `user:1101` — ring a user.
    User(Ext),
    /// `group:1100` — ring a group.
    Group(Ext),
    /// `queue:1100` — a call queue.
    Queue(Ext),
    /// `ivr:main-ru` — a voice menu.
    Ivr(String),
    /// `voicemail:2001` — leave a message in a mailbox.
    Voicemail(Ext),
    /// `message:1101` — the user's personal no-answer message, then hang up.
    Message(Ext),
    /// `schedule:office-hours` — branch on time.
    Schedule(String),
    /// `conference:800` — a conference room.
    Conference(Ext),
    /// `announce:NAME` — the announcement object NAME of `announces:` (its prompts, then
    /// its `then` destination); when there is none, the prompt NAME, then hang up.
    Announce(String),
    /// `external:+390612345678` — an outside number.
    External(String),
    /// `hangup`.
    Hangup,
}

/// The destination kinds, in the order error messages list them.
pub const DESTINATION_KINDS: [&str; 11] = [
    "user",
    "group",
    "queue",
    "ivr",
    "voicemail",
    "message",
    "schedule",
    "conference",
    "announce",
    "external",
    "hangup",
];

/// Names of IVRs, schedules and prompts: 1–64 of `A-Z a-z 0-9 _ . -`, starting with a
/// letter or digit.
pub fn is_valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// An outside number: an optional `+` and 1–20 digits.
pub fn is_valid_external_number(s: &str) -> bool {
    let digits = s.strip_prefix('+').unwrap_or(s);
    (1..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

impl Destination {
    /// Parses `kind:id`; the error is the message after the path.
    pub fn parse(s: &str) -> Result<Destination, String> {
        if s == "hangup" {
            return Ok(Destination::Hangup);
        }
        let bad_kind = || {
            format!(
                "\"{s}\" is not a destination (expected kind:id with kind one of: {})",
                DESTINATION_KINDS.join(", ")
            )
        };
        let Some((kind, id)) = s.split_once(':') else {
            return Err(bad_kind());
        };
        let ext = || {
            Ext::parse(id).ok_or_else(|| {
                format!("\"{s}\": \"{id}\" is not a valid extension (digits, 2–8 long)")
            })
        };
        let name = || {
            if is_valid_name(id) {
                Ok(id.to_owned())
            } else {
                Err(format!(
                    "\"{s}\": \"{id}\" is not a valid name (letters, digits, _ . -, 1–64 long)"
                ))
            }
        };
        Ok(match kind {
            "user" => Destination::User(ext()?),
            "group" => Destination::Group(ext()?),
            "queue" => Destination::Queue(ext()?),
            "ivr" => Destination::Ivr(name()?),
            "voicemail" => Destination::Voicemail(ext()?),
            "message" => Destination::Message(ext()?),
            "schedule" => Destination::Schedule(name()?),
            "conference" => Destination::Conference(ext()?),
            "announce" if is_valid_prompt_name(id) => Destination::Announce(id.to_owned()),
            "announce" => {
                return Err(format!(
                    "\"{s}\": \"{id}\" is not a valid prompt or announcement name (letters, digits, _ - . and one / as in digits/1, 1–64 long)"
                ));
            }
            "external" if is_valid_external_number(id) => Destination::External(id.to_owned()),
            "external" => {
                return Err(format!(
                    "\"{s}\": \"{id}\" is not a phone number (optional + and 1–20 digits)"
                ));
            }
            _ => return Err(bad_kind()),
        })
    }

    /// The kind, as written before the colon.
    pub fn kind(&self) -> &'static str {
        match self {
            Destination::User(_) => "user",
            Destination::Group(_) => "group",
            Destination::Queue(_) => "queue",
            Destination::Ivr(_) => "ivr",
            Destination::Voicemail(_) => "voicemail",
            Destination::Message(_) => "message",
            Destination::Schedule(_) => "schedule",
            Destination::Conference(_) => "conference",
            Destination::Announce(_) => "announce",
            Destination::External(_) => "external",
            Destination::Hangup => "hangup",
        }
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id: &str = match self {
            Destination::User(e)
            | Destination::Group(e)
            | Destination::Queue(e)
            | Destination::Voicemail(e)
            | Destination::Message(e)
            | Destination::Conference(e) => e.as_str(),
            Destination::Ivr(n)
            | Destination::Schedule(n)
            | Destination::Announce(n)
            | Destination::External(n) => n,
            Destination::Hangup => return f.write_str("hangup"),
        };
        write!(f, "{}:{id}", self.kind())
    }
}

impl serde::Serialize for Destination {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_kind_parses_and_prints_back() {
        for s in [
            "user:1101",
            "group:1100",
            "queue:1100",
            "ivr:main-ru",
            "voicemail:2001",
            "message:1101",
            "schedule:office-hours",
            "conference:800",
            "announce:closed.en",
            "announce:digits/1",
            "external:+390612345678",
            "hangup",
        ] {
            assert_eq!(Destination::parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn a_misspelt_kind_lists_the_valid_kinds() {
        assert_eq!(
            Destination::parse("grop:1100").unwrap_err(),
            "\"grop:1100\" is not a destination (expected kind:id with kind one of: user, group, queue, ivr, voicemail, message, schedule, conference, announce, external, hangup)"
        );
        assert!(Destination::parse("1100").is_err());
        assert!(Destination::parse("hangup:now").is_err());
    }

    #[test]
    fn ids_are_checked_per_kind() {
        assert_eq!(
            Destination::parse("user:11a").unwrap_err(),
            "\"user:11a\": \"11a\" is not a valid extension (digits, 2–8 long)"
        );
        assert!(Destination::parse("ivr:").is_err());
        assert!(Destination::parse("ivr:main ru").is_err());
        assert_eq!(
            Destination::parse("external:+39abc").unwrap_err(),
            "\"external:+39abc\": \"+39abc\" is not a phone number (optional + and 1–20 digits)"
        );
    }
}
