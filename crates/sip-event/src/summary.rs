//! The `application/simple-message-summary` body (RFC 3842 §5).
//!
//! ```text
//! Messages-Waiting: yes
//! Message-Account: sip:1001@office.example
//! Voice-Message: 2/8 (0/2)
//! ```
//! `Voice-Message: NEW/OLD (URGENT-NEW/URGENT-OLD)`; vpbx has no urgent
//! messages and always writes `(0/0)`, as Asterisk does.

use std::fmt::Write as _;

/// A parsed or to-be-sent message summary (voice messages only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSummary {
    /// `Messages-Waiting`: true when there are new messages.
    pub waiting: bool,
    /// `Message-Account`: the mailbox's URI.
    pub account: Option<String>,
    /// `Voice-Message`, when present: new and old counts.
    pub voice: Option<Counts>,
    /// The urgent part of `Voice-Message`: new and old urgent counts.
    pub voice_urgent: Option<Counts>,
}

/// New and old message counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Not yet heard.
    pub new: u32,
    /// Heard and kept.
    pub old: u32,
}

/// Why a body is not a message summary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SummaryError {
    /// RFC 3842 §5.2 requires `Messages-Waiting` first.
    #[error("no Messages-Waiting line")]
    NoMessagesWaiting,
    /// `Messages-Waiting` is neither `yes` nor `no`.
    #[error("Messages-Waiting is {0:?}, not yes or no")]
    BadMessagesWaiting(String),
    /// A `Voice-Message` line whose counts do not parse.
    #[error("bad Voice-Message counts {0:?}")]
    BadCounts(String),
}

impl MessageSummary {
    /// The summary vpbx sends for `account` (`sip:EXT@DOMAIN`) holding `new`
    /// unheard and `old` kept voice messages.
    pub fn new(account: &str, new: u32, old: u32) -> MessageSummary {
        MessageSummary {
            waiting: new > 0,
            account: Some(account.to_owned()),
            voice: Some(Counts { new, old }),
            voice_urgent: Some(Counts::default()),
        }
    }

    /// The body text, CRLF line ends.
    pub fn to_body(&self) -> String {
        let mut out = String::with_capacity(96);
        let _ = write!(
            out,
            "Messages-Waiting: {}\r\n",
            if self.waiting { "yes" } else { "no" }
        );
        if let Some(a) = &self.account {
            let _ = write!(out, "Message-Account: {a}\r\n");
        }
        if let Some(v) = self.voice {
            let _ = write!(out, "Voice-Message: {}/{}", v.new, v.old);
            if let Some(u) = self.voice_urgent {
                let _ = write!(out, " ({}/{})", u.new, u.old);
            }
            out.push_str("\r\n");
        }
        out
    }

    /// Parses a body. Unknown headers and other message classes
    /// (`Fax-Message`, …) are skipped, as RFC 3842 §5.2 asks.
    pub fn parse(body: &str) -> Result<MessageSummary, SummaryError> {
        let mut waiting = None;
        let mut account = None;
        let mut voice = None;
        let mut voice_urgent = None;
        for line in body.lines() {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let (name, value) = (name.trim(), value.trim());
            if name.eq_ignore_ascii_case("Messages-Waiting") {
                waiting = Some(if value.eq_ignore_ascii_case("yes") {
                    true
                } else if value.eq_ignore_ascii_case("no") {
                    false
                } else {
                    return Err(SummaryError::BadMessagesWaiting(value.to_owned()));
                });
            } else if name.eq_ignore_ascii_case("Message-Account") {
                account = Some(value.to_owned());
            } else if name.eq_ignore_ascii_case("Voice-Message") {
                let bad = || SummaryError::BadCounts(value.to_owned());
                let (plain, urgent) = match value.split_once('(') {
                    Some((p, u)) => (p.trim(), Some(u.trim().trim_end_matches(')').trim())),
                    None => (value, None),
                };
                voice = Some(counts(plain).ok_or_else(bad)?);
                voice_urgent = match urgent {
                    Some(u) => Some(counts(u).ok_or_else(bad)?),
                    None => None,
                };
            }
        }
        Ok(MessageSummary {
            waiting: waiting.ok_or(SummaryError::NoMessagesWaiting)?,
            account,
            voice,
            voice_urgent,
        })
    }
}

fn counts(s: &str) -> Option<Counts> {
    let (n, o) = s.split_once('/')?;
    Some(Counts {
        new: n.trim().parse().ok()?,
        old: o.trim().parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_mailbox_with_new_messages_says_yes_and_both_counts() {
        let b = MessageSummary::new("sip:1001@office.example", 2, 5).to_body();
        assert_eq!(
            b,
            "Messages-Waiting: yes\r\nMessage-Account: sip:1001@office.example\r\nVoice-Message: 2/5 (0/0)\r\n"
        );
    }

    #[test]
    fn a_mailbox_with_only_old_messages_says_no() {
        let b = MessageSummary::new("sip:1001@office.example", 0, 3).to_body();
        assert!(b.starts_with("Messages-Waiting: no\r\n"));
        assert!(b.contains("Voice-Message: 0/3 (0/0)\r\n"));
    }

    #[test]
    fn what_is_built_parses_back_to_the_same_summary() {
        let s = MessageSummary::new("sip:7@x.example", 4, 1);
        assert_eq!(MessageSummary::parse(&s.to_body()).unwrap(), s);
    }

    #[test]
    fn the_rfc_3842_example_parses_and_other_classes_are_skipped() {
        let body = "Messages-Waiting: yes\r\nMessage-Account: sip:alice@vmail.example.com\r\n\
                    Voice-Message: 4/8 (1/2)\r\nFax-Message: 1/0\r\n\r\nTo: <alice@atlanta.example.com>\r\n";
        let s = MessageSummary::parse(body).unwrap();
        assert!(s.waiting);
        assert_eq!(s.account.as_deref(), Some("sip:alice@vmail.example.com"));
        assert_eq!(s.voice, Some(Counts { new: 4, old: 8 }));
        assert_eq!(s.voice_urgent, Some(Counts { new: 1, old: 2 }));
    }

    #[test]
    fn a_summary_without_urgent_counts_parses() {
        let s = MessageSummary::parse("messages-waiting: NO\nVoice-Message: 0/2\n").unwrap();
        assert!(!s.waiting);
        assert_eq!(s.voice, Some(Counts { new: 0, old: 2 }));
        assert_eq!(s.voice_urgent, None);
    }

    #[test]
    fn bodies_that_are_not_summaries_are_errors_not_panics() {
        assert_eq!(
            MessageSummary::parse("Voice-Message: 1/0\r\n"),
            Err(SummaryError::NoMessagesWaiting)
        );
        assert!(matches!(
            MessageSummary::parse("Messages-Waiting: maybe\r\n"),
            Err(SummaryError::BadMessagesWaiting(_))
        ));
        assert!(matches!(
            MessageSummary::parse("Messages-Waiting: yes\r\nVoice-Message: x/1\r\n"),
            Err(SummaryError::BadCounts(_))
        ));
        assert!(
            MessageSummary::parse("Messages-Waiting: yes\r\nVoice-Message: 99999999999/1\r\n")
                .is_err()
        );
        assert!(MessageSummary::parse("").is_err());
    }
}
