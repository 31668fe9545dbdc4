//! Asterisk-style dial patterns (`_39.`, `_082XXXXX`, `_NXXNXXXXXX`, `_8[1-5]!`).
//!
//! A pattern that starts with `_` is made of:
//! - `X` any digit `0-9`, `Z` `1-9`, `N` `2-9` (upper or lower case);
//! - `[…]` one character of a set: digits, `*`, `#` and ranges such as `1-5`
//!   (`[1234579]`, `[1-5]`, `[13-5]`);
//! - `.` one or more further characters, `!` zero or more; either only at the end
//!   (Asterisk accepts them elsewhere but ignores what follows, so here that is an error);
//! - a digit, `*`, `#` or `+`: itself.
//!
//! A pattern without `_` matches exactly its own text (`112`, `*97`). Patterns are
//! parsed once (when the platform file is loaded) and matching allocates nothing.

use std::fmt;

/// What a pattern can fail on, with the offending character's position (0-based, in
/// the pattern text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatternError {
    /// An empty pattern, or `_` alone.
    #[error("an empty pattern matches nothing")]
    Empty,
    /// A character that has no meaning in a pattern.
    #[error(
        "'{ch}' at position {at} is not allowed (digits, * # +, X Z N, [sets], . or ! at the end)"
    )]
    BadChar {
        /// The character.
        ch: char,
        /// Its position.
        at: usize,
    },
    /// `[` without `]`.
    #[error("the set opened at position {at} is not closed with ]")]
    UnclosedSet {
        /// Where the `[` is.
        at: usize,
    },
    /// `[]`.
    #[error("the set at position {at} is empty")]
    EmptySet {
        /// Where the `[` is.
        at: usize,
    },
    /// A range such as `5-1` or `1-#`.
    #[error("the range at position {at} is not a rising range of digits (like 1-5)")]
    BadRange {
        /// Where the range starts.
        at: usize,
    },
    /// `.` or `!` followed by more.
    #[error("'{ch}' at position {at} must be the last character of the pattern")]
    WildcardNotLast {
        /// `.` or `!`.
        ch: char,
        /// Its position.
        at: usize,
    },
    /// A pattern longer than any dialed number could be.
    #[error("a pattern is at most 64 characters")]
    TooLong,
}

/// One position of a pattern: the set of characters accepted there, as a bit mask
/// over `0-9 * # +` (bits 0–9, 10, 11, 12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CharSet(u16);

impl CharSet {
    const DIGITS: CharSet = CharSet(0x3ff);

    fn bit(c: char) -> Option<u16> {
        match c {
            '0'..='9' => Some(1 << (c as u16 - '0' as u16)),
            '*' => Some(1 << 10),
            '#' => Some(1 << 11),
            '+' => Some(1 << 12),
            _ => None,
        }
    }

    fn digit_range(from: u8, to: u8) -> CharSet {
        let mut mask = 0u16;
        for d in from..=to {
            mask |= 1 << d;
        }
        CharSet(mask)
    }

    fn contains(self, b: u8) -> bool {
        Self::bit(b as char).is_some_and(|bit| self.0 & bit != 0)
    }
}

/// What may follow the fixed positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tail {
    /// Nothing: the number has exactly as many characters as the pattern.
    None,
    /// `.`: one or more of anything.
    OneOrMore,
    /// `!`: zero or more of anything.
    ZeroOrMore,
}

/// A parsed dial pattern. `Display` gives back the text it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    positions: Vec<CharSet>,
    tail: Tail,
}

impl Pattern {
    /// Parses a pattern (see the module documentation for the syntax).
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        if text.len() > 64 {
            return Err(PatternError::TooLong);
        }
        let Some(body) = text.strip_prefix('_') else {
            // A literal: every character must be one a phone can dial.
            if text.is_empty() {
                return Err(PatternError::Empty);
            }
            let mut positions = Vec::with_capacity(text.len());
            for (at, ch) in text.chars().enumerate() {
                let bit = CharSet::bit(ch).ok_or(PatternError::BadChar { ch, at })?;
                positions.push(CharSet(bit));
            }
            return Ok(Pattern {
                text: text.to_owned(),
                positions,
                tail: Tail::None,
            });
        };
        if body.is_empty() {
            return Err(PatternError::Empty);
        }
        let chars: Vec<char> = body.chars().collect();
        let mut positions = Vec::with_capacity(chars.len());
        let mut tail = Tail::None;
        let mut i = 0;
        while i < chars.len() {
            let at = i + 1; // position in `text`, counting the '_'
            let ch = chars[i];
            if tail != Tail::None {
                let prev = if tail == Tail::OneOrMore { '.' } else { '!' };
                return Err(PatternError::WildcardNotLast {
                    ch: prev,
                    at: at - 1,
                });
            }
            match ch {
                'X' | 'x' => positions.push(CharSet::DIGITS),
                'Z' | 'z' => positions.push(CharSet::digit_range(1, 9)),
                'N' | 'n' => positions.push(CharSet::digit_range(2, 9)),
                '.' => tail = Tail::OneOrMore,
                '!' => tail = Tail::ZeroOrMore,
                '[' => {
                    let close = chars[i + 1..]
                        .iter()
                        .position(|&c| c == ']')
                        .map(|p| i + 1 + p)
                        .ok_or(PatternError::UnclosedSet { at })?;
                    positions.push(parse_set(&chars[i + 1..close], at)?);
                    i = close;
                }
                _ => match CharSet::bit(ch) {
                    Some(bit) => positions.push(CharSet(bit)),
                    None => return Err(PatternError::BadChar { ch, at }),
                },
            }
            i += 1;
        }
        Ok(Pattern {
            text: text.to_owned(),
            positions,
            tail,
        })
    }

    /// Whether `number` matches the whole pattern.
    pub fn matches(&self, number: &str) -> bool {
        let bytes = number.as_bytes();
        let fixed = self.positions.len();
        let len_ok = match self.tail {
            Tail::None => bytes.len() == fixed,
            Tail::OneOrMore => bytes.len() > fixed,
            Tail::ZeroOrMore => bytes.len() >= fixed,
        };
        len_ok
            && self
                .positions
                .iter()
                .zip(bytes)
                .all(|(set, &b)| set.contains(b))
            && bytes[fixed.min(bytes.len())..]
                .iter()
                .all(|&b| CharSet::bit(b as char).is_some())
    }

    /// The text the pattern was parsed from.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

fn parse_set(inner: &[char], at: usize) -> Result<CharSet, PatternError> {
    if inner.is_empty() {
        return Err(PatternError::EmptySet { at });
    }
    let mut mask = 0u16;
    let mut j = 0;
    while j < inner.len() {
        let c = inner[j];
        let pos = at + 1 + j;
        if inner.get(j + 1) == Some(&'-') {
            let Some(&end) = inner.get(j + 2) else {
                return Err(PatternError::BadRange { at: pos });
            };
            match (c.to_digit(10), end.to_digit(10)) {
                (Some(a), Some(b)) if a <= b => {
                    let (a, b) = (a as u8, b as u8);
                    mask |= CharSet::digit_range(a, b).0;
                }
                _ => return Err(PatternError::BadRange { at: pos }),
            }
            j += 3;
            continue;
        }
        let bit = CharSet::bit(c).ok_or(PatternError::BadChar { ch: c, at: pos })?;
        mask |= bit;
        j += 1;
    }
    Ok(CharSet(mask))
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn p(s: &str) -> Pattern {
        Pattern::parse(s).unwrap()
    }

    #[test]
    fn seed_003_other_pattern_matches_eight_digits_starting_082() {
        let pat = p("_082XXXXX");
        assert!(pat.matches("08255123"));
        assert!(!pat.matches("0825512"));
        assert!(!pat.matches("082551234"));
        assert!(!pat.matches("08355123"));
    }

    #[test]
    fn a_trailing_dot_needs_at_least_one_more_character() {
        let pat = p("_39.");
        assert!(pat.matches("390612345678"));
        assert!(pat.matches("391"));
        assert!(!pat.matches("39"));
        assert!(!pat.matches("33123"));
    }

    #[test]
    fn a_trailing_bang_accepts_nothing_more() {
        let pat = p("_39!");
        assert!(pat.matches("39"));
        assert!(pat.matches("3912"));
        assert!(!pat.matches("3"));
    }

    #[test]
    fn x_z_n_are_digit_classes_in_either_case() {
        let pat = p("_NzX");
        assert!(pat.matches("210"));
        assert!(!pat.matches("110"));
        assert!(!pat.matches("200"));
        assert!(pat.matches("919"));
        assert!(!pat.matches("91a"));
    }

    #[test]
    fn sets_take_digits_and_ranges() {
        let pat = p("_[1234579]X");
        assert!(pat.matches("10"));
        assert!(!pat.matches("60"));
        let ranged = p("_8[13-5]");
        assert!(ranged.matches("81"));
        assert!(ranged.matches("84"));
        assert!(!ranged.matches("82"));
        assert!(!ranged.matches("86"));
        let star = p("_[*#]9");
        assert!(star.matches("*9"));
        assert!(star.matches("#9"));
    }

    #[test]
    fn a_pattern_without_underscore_is_a_literal() {
        let pat = p("112");
        assert!(pat.matches("112"));
        assert!(!pat.matches("1120"));
        // X is not a wildcard in a literal, so it is refused.
        assert_eq!(
            Pattern::parse("11X"),
            Err(PatternError::BadChar { ch: 'X', at: 2 })
        );
    }

    #[test]
    fn bad_patterns_are_errors_with_positions() {
        assert_eq!(Pattern::parse(""), Err(PatternError::Empty));
        assert_eq!(Pattern::parse("_"), Err(PatternError::Empty));
        assert_eq!(
            Pattern::parse("_8[12"),
            Err(PatternError::UnclosedSet { at: 2 })
        );
        assert_eq!(
            Pattern::parse("_8[]"),
            Err(PatternError::EmptySet { at: 2 })
        );
        assert_eq!(
            Pattern::parse("_8[5-1]"),
            Err(PatternError::BadRange { at: 3 })
        );
        assert_eq!(
            Pattern::parse("_8[1-]"),
            Err(PatternError::BadRange { at: 3 })
        );
        assert_eq!(
            Pattern::parse("_8.1"),
            Err(PatternError::WildcardNotLast { ch: '.', at: 2 })
        );
        assert_eq!(
            Pattern::parse("_8A"),
            Err(PatternError::BadChar { ch: 'A', at: 2 })
        );
        assert_eq!(
            Pattern::parse(&format!("_{}", "X".repeat(64))),
            Err(PatternError::TooLong)
        );
    }

    #[test]
    fn error_messages_are_one_line() {
        let err = Pattern::parse("_8.1").unwrap_err().to_string();
        assert_eq!(
            err,
            "'.' at position 2 must be the last character of the pattern"
        );
    }

    #[test]
    fn wildcards_do_not_match_letters_in_the_tail() {
        assert!(!p("_8.").matches("8abc"));
        assert!(p("_8.").matches("8*1#"));
    }

    #[test]
    fn display_gives_back_the_text() {
        assert_eq!(p("_082XXXXX").to_string(), "_082XXXXX");
        assert_eq!(p("_082XXXXX").as_str(), "_082XXXXX");
    }

    #[test]
    fn matching_non_ascii_input_is_false_not_a_panic() {
        assert!(!p("_X.").matches("1é"));
        assert!(!p("_XX").matches("é"));
    }
}
