//! [`HeaderValue`]: the text of one header line, shared with the message it was parsed from.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// A header's value. The parser copies a message's header section once and
/// every value it finds is a range of that copy, so parsing a message costs
/// one allocation for its header text instead of one per header; a value set
/// or changed afterwards owns its text. Reads as a `&str` (it derefs to one);
/// compares and hashes as its text.
#[derive(Clone)]
pub struct HeaderValue(Repr);

#[derive(Clone)]
enum Repr {
    /// `text[start..end]`, on character boundaries (the parser's ranges).
    Shared {
        text: Arc<str>,
        start: u32,
        end: u32,
    },
    Own(String),
    /// A range of the message the parser has not made shared text yet
    /// ([`HeaderValue::resolve`]); never seen outside the parser.
    Pending {
        start: u32,
        end: u32,
    },
}

impl HeaderValue {
    /// `text[start..end]` without copying it. The range must lie on character
    /// boundaries of `text` (else reading it would panic).
    pub(crate) fn shared(text: &Arc<str>, start: usize, end: usize) -> HeaderValue {
        debug_assert!(text.is_char_boundary(start) && text.is_char_boundary(end) && start <= end);
        match (u32::try_from(start), u32::try_from(end)) {
            (Ok(start), Ok(end)) => HeaderValue(Repr::Shared {
                text: text.clone(),
                start,
                end,
            }),
            _ => HeaderValue(Repr::Own(text[start..end].to_owned())),
        }
    }

    /// The parser's placeholder for `start..end` of the text it parses, made
    /// a shared value by [`HeaderValue::resolve`] once the header section's
    /// end is known. `None` past 4 GiB (the parser's limits stop far sooner).
    pub(crate) fn pending(start: usize, end: usize) -> Option<HeaderValue> {
        Some(HeaderValue(Repr::Pending {
            start: u32::try_from(start).ok()?,
            end: u32::try_from(end).ok()?,
        }))
    }

    /// The range of a placeholder made by [`HeaderValue::pending`].
    pub(crate) fn pending_range(&self) -> Option<(usize, usize)> {
        match self.0 {
            Repr::Pending { start, end } => Some((start as usize, end as usize)),
            _ => None,
        }
    }

    /// Turns a placeholder into a range of `text` (the parsed header section).
    pub(crate) fn resolve(&mut self, text: &Arc<str>) {
        if let Repr::Pending { start, end } = self.0 {
            *self = HeaderValue::shared(text, start as usize, end as usize);
        }
    }

    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Shared { text, start, end } => &text[*start as usize..*end as usize],
            Repr::Own(s) => s,
            Repr::Pending { .. } => "",
        }
    }

    /// The text to change in place (copied out of the message first if shared).
    pub fn make_mut(&mut self) -> &mut String {
        if !matches!(self.0, Repr::Own(_)) {
            self.0 = Repr::Own(self.as_str().to_owned());
        }
        match &mut self.0 {
            Repr::Own(s) => s,
            _ => unreachable!("made owned just above"),
        }
    }

    /// The text as a `String` of its own.
    pub fn into_string(self) -> String {
        match self.0 {
            Repr::Own(s) => s,
            shared => HeaderValue(shared).as_str().to_owned(),
        }
    }
}

impl Default for HeaderValue {
    fn default() -> Self {
        HeaderValue(Repr::Own(String::new()))
    }
}

impl Deref for HeaderValue {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for HeaderValue {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for HeaderValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for HeaderValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq for HeaderValue {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for HeaderValue {}

impl std::hash::Hash for HeaderValue {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialEq<str> for HeaderValue {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for HeaderValue {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for HeaderValue {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl From<String> for HeaderValue {
    fn from(s: String) -> Self {
        HeaderValue(Repr::Own(s))
    }
}

impl From<&str> for HeaderValue {
    fn from(s: &str) -> Self {
        HeaderValue(Repr::Own(s.to_owned()))
    }
}

impl From<&String> for HeaderValue {
    fn from(s: &String) -> Self {
        HeaderValue(Repr::Own(s.clone()))
    }
}

impl From<Box<str>> for HeaderValue {
    fn from(s: Box<str>) -> Self {
        HeaderValue(Repr::Own(s.into()))
    }
}

impl From<HeaderValue> for String {
    fn from(v: HeaderValue) -> Self {
        v.into_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_value_reads_its_range_and_copies_out_when_changed() {
        let text: Arc<str> = Arc::from("Via: SIP/2.0/UDP h\r\nMax-Forwards: 70\r\n");
        let mut v = HeaderValue::shared(&text, 34, 36);
        assert_eq!(v, "70");
        let w = v.clone();
        v.make_mut().push('1');
        assert_eq!(v, "701");
        assert_eq!(w, "70");
        assert_eq!(w.into_string(), "70");
        assert_eq!(
            HeaderValue::from("x"),
            HeaderValue::shared(&Arc::from("x"), 0, 1)
        );
    }
}
