//! The auth-param scanner shared by credentials and challenges
//! (RFC 3261 §25.1 `credentials` / `challenge`, RFC 7235 §2.1).
//!
//! Input is one header *value* as sip-msg hands it over (after `HCOLON`, line
//! folds already unfolded — a fold between parameters is still tolerated).
//! Values may be quoted strings (with `\` escapes) or tokens; parameter names
//! are ASCII case-insensitive; empty list elements (`a=1,,b=2`) are skipped as
//! RFC 7230 §7 asks.

use std::borrow::Cow;

/// Longest scheme / algorithm / qop text an error keeps (the rest is cut so
/// that an error never holds a large attacker-chosen string).
const MAX_ERROR_TEXT: usize = 64;

/// Why an `Authorization`, `Proxy-Authorization`, `WWW-Authenticate` or
/// `Proxy-Authenticate` value was not accepted. Offsets are byte offsets into
/// the header value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The value is empty or only whitespace.
    #[error("empty header value")]
    Empty,
    /// The value does not start with an auth-scheme token.
    #[error("expected an auth-scheme token at byte {offset}")]
    ExpectedScheme {
        /// Where the scheme should have started.
        offset: usize,
    },
    /// A well-formed scheme other than `Digest` (RFC 4475 `regaut01`): a
    /// registrar ignores these credentials and challenges with Digest.
    #[error("unsupported auth scheme {scheme:?}")]
    UnsupportedScheme {
        /// The scheme as sent (cut to 64 bytes).
        scheme: String,
    },
    /// `Digest` with no parameters at all.
    #[error("Digest scheme without parameters")]
    NoParams,
    /// Something other than a parameter name where one was expected.
    #[error("expected a parameter name at byte {offset}")]
    ExpectedParamName {
        /// Where the name should have started.
        offset: usize,
    },
    /// A parameter name not followed by `=`.
    #[error("expected '=' at byte {offset}")]
    ExpectedEquals {
        /// Where the `=` should have been.
        offset: usize,
    },
    /// `name=` followed by neither a token nor a quoted string.
    #[error("expected a token or quoted string at byte {offset}")]
    ExpectedValue {
        /// Where the value should have started.
        offset: usize,
    },
    /// A quoted string without its closing quote.
    #[error("quoted string opened at byte {offset} is not closed")]
    UnterminatedQuotedString {
        /// The opening quote.
        offset: usize,
    },
    /// A control character (other than horizontal tab) inside a value.
    #[error("control character at byte {offset}")]
    ControlCharacter {
        /// The offending byte.
        offset: usize,
    },
    /// A value followed by something other than `,` or the end.
    #[error("expected ',' or end of value at byte {offset}")]
    ExpectedComma {
        /// Where the comma should have been.
        offset: usize,
    },
    /// A known parameter appeared twice.
    #[error("duplicate parameter {name}")]
    DuplicateParam {
        /// The parameter's canonical (lowercase) name.
        name: &'static str,
    },
    /// A required parameter is absent.
    #[error("missing parameter {name}")]
    MissingParam {
        /// The parameter's canonical (lowercase) name.
        name: &'static str,
    },
    /// A known parameter with a malformed value (`nc` not 8 hex digits or
    /// zero, `response` not hex of the algorithm's length, `stale` not a
    /// boolean).
    #[error("invalid value for parameter {name}")]
    InvalidParam {
        /// The parameter's canonical (lowercase) name.
        name: &'static str,
    },
    /// An `algorithm` other than MD5 or SHA-256.
    #[error("unsupported digest algorithm {algorithm:?}")]
    UnsupportedAlgorithm {
        /// The algorithm as sent (cut to 64 bytes).
        algorithm: String,
    },
    /// A `qop` other than `auth` (credentials), or a qop list without `auth`
    /// (challenges).
    #[error("unsupported qop {qop:?}")]
    UnsupportedQop {
        /// The qop as sent (cut to 64 bytes).
        qop: String,
    },
}

impl ParseError {
    /// True for a well-formed non-Digest scheme: the server should act as if
    /// no credentials were sent and challenge (RFC 4475 §3.3.7).
    pub fn is_unsupported_scheme(&self) -> bool {
        matches!(self, ParseError::UnsupportedScheme { .. })
    }

    /// The SIP status a registrar answers credentials that failed to parse
    /// with: 401/407 (a fresh challenge — the caller picks which by header)
    /// for a scheme or algorithm we don't speak, so the client can retry with
    /// one we do; 400 for malformed credentials. Neither counts as a failed
    /// guess for ban purposes.
    pub fn status_code(&self) -> u16 {
        match self {
            ParseError::UnsupportedScheme { .. } | ParseError::UnsupportedAlgorithm { .. } => 401,
            _ => 400,
        }
    }
}

pub(crate) fn bounded(text: &str) -> String {
    if text.len() <= MAX_ERROR_TEXT {
        return text.to_owned();
    }
    let mut end = MAX_ERROR_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// RFC 3261 §25.1 `token` characters.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

fn is_control(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

/// One `name=value` parameter.
#[derive(Debug, Clone)]
pub(crate) struct Param<'a> {
    pub(crate) name: &'a str,
    pub(crate) value: Cow<'a, str>,
}

/// Splits a header value into its scheme and the scanner over its params.
#[derive(Debug)]
pub(crate) struct Scanner<'a> {
    text: &'a str,
    pos: usize,
    done: bool,
}

impl<'a> Scanner<'a> {
    /// Reads the auth-scheme. Returns it and a scanner positioned on the
    /// first parameter.
    pub(crate) fn start(text: &'a str) -> Result<(&'a str, Scanner<'a>), ParseError> {
        let mut s = Scanner {
            text,
            pos: 0,
            done: false,
        };
        s.skip_ws();
        if s.pos == text.len() {
            return Err(ParseError::Empty);
        }
        let scheme_at = s.pos;
        let scheme = s.token();
        if scheme.is_empty() {
            return Err(ParseError::ExpectedScheme { offset: scheme_at });
        }
        // The scheme must be followed by LWS or the end of the value.
        let before_ws = s.pos;
        s.skip_ws();
        if s.pos == before_ws && s.pos != text.len() {
            return Err(ParseError::ExpectedScheme { offset: scheme_at });
        }
        Ok((scheme, s))
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    /// Skips SP, HTAB and line folds (CR/LF).
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\r' | b'\n') = self.peek() {
            self.pos += 1;
        }
    }

    fn token(&mut self) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(is_token_byte) {
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }

    /// Reads a quoted string; `self.pos` is on the opening quote.
    fn quoted(&mut self) -> Result<Cow<'a, str>, ParseError> {
        let open = self.pos;
        self.pos += 1;
        let start = self.pos;
        let bytes = self.text.as_bytes();
        // Fast path: no escapes → borrow.
        let mut owned: Option<String> = None;
        let mut run_start = start;
        loop {
            let Some(&b) = bytes.get(self.pos) else {
                return Err(ParseError::UnterminatedQuotedString { offset: open });
            };
            match b {
                b'"' => {
                    let value = match owned {
                        None => Cow::Borrowed(&self.text[start..self.pos]),
                        Some(mut s) => {
                            s.push_str(&self.text[run_start..self.pos]);
                            Cow::Owned(s)
                        }
                    };
                    self.pos += 1;
                    return Ok(value);
                }
                b'\\' => {
                    let s = owned.get_or_insert_with(String::new);
                    s.push_str(&self.text[run_start..self.pos]);
                    self.pos += 1;
                    let Some(c) = self.text[self.pos..].chars().next() else {
                        return Err(ParseError::UnterminatedQuotedString { offset: open });
                    };
                    if c.is_ascii() && is_control(c as u8) {
                        return Err(ParseError::ControlCharacter { offset: self.pos });
                    }
                    s.push(c);
                    self.pos += c.len_utf8();
                    run_start = self.pos;
                }
                b if is_control(b) => {
                    return Err(ParseError::ControlCharacter { offset: self.pos });
                }
                _ => self.pos += 1,
            }
        }
    }

    /// The next parameter, `Ok(None)` at the end. After an error the scanner
    /// is finished.
    pub(crate) fn next_param(&mut self) -> Result<Option<Param<'a>>, ParseError> {
        if self.done {
            return Ok(None);
        }
        let r = self.next_param_inner();
        if !matches!(r, Ok(Some(_))) {
            self.done = true;
        }
        r
    }

    fn next_param_inner(&mut self) -> Result<Option<Param<'a>>, ParseError> {
        // Skip empty list elements.
        loop {
            self.skip_ws();
            match self.peek() {
                None => return Ok(None),
                Some(b',') => self.pos += 1,
                Some(_) => break,
            }
        }
        let name_at = self.pos;
        let name = self.token();
        if name.is_empty() {
            return Err(self.unexpected(|offset| ParseError::ExpectedParamName { offset }, name_at));
        }
        self.skip_ws();
        if self.peek() != Some(b'=') {
            return Err(self.unexpected(|offset| ParseError::ExpectedEquals { offset }, self.pos));
        }
        self.pos += 1;
        self.skip_ws();
        let value = match self.peek() {
            Some(b'"') => self.quoted()?,
            _ => {
                let at = self.pos;
                let t = self.token();
                if t.is_empty() {
                    return Err(self.unexpected(|offset| ParseError::ExpectedValue { offset }, at));
                }
                Cow::Borrowed(t)
            }
        };
        self.skip_ws();
        match self.peek() {
            None => {}
            Some(b',') => self.pos += 1,
            Some(_) => {
                return Err(
                    self.unexpected(|offset| ParseError::ExpectedComma { offset }, self.pos)
                );
            }
        }
        Ok(Some(Param { name, value }))
    }

    /// A control character where something else was expected is reported as
    /// such; anything else as `expected`.
    fn unexpected(&self, expected: impl FnOnce(usize) -> ParseError, at: usize) -> ParseError {
        match self.text.as_bytes().get(at) {
            Some(&b) if is_control(b) => ParseError::ControlCharacter { offset: at },
            _ => expected(at),
        }
    }
}

/// Sets a once-only field, rejecting duplicates.
pub(crate) fn set_once<T>(
    slot: &mut Option<T>,
    value: T,
    name: &'static str,
) -> Result<(), ParseError> {
    if slot.is_some() {
        return Err(ParseError::DuplicateParam { name });
    }
    *slot = Some(value);
    Ok(())
}

/// Appends `value` as a quoted string, escaping `"` and `\`.
pub(crate) fn push_quoted(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// The `algorithm` parameter of a challenge or credentials (RFC 8760 §2).
pub(crate) fn parse_algorithm(value: &str) -> Result<crate::Algorithm, ParseError> {
    crate::Algorithm::from_token(value).ok_or_else(|| ParseError::UnsupportedAlgorithm {
        algorithm: bounded(value),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn params(text: &str) -> Result<(String, Vec<(String, String)>), ParseError> {
        let (scheme, mut s) = Scanner::start(text)?;
        let mut out = Vec::new();
        while let Some(p) = s.next_param()? {
            out.push((p.name.to_owned(), p.value.into_owned()));
        }
        Ok((scheme.to_owned(), out))
    }

    #[test]
    fn quoted_strings_unescape_backslash_pairs() {
        let (_, p) = params(r#"Digest a="x\"y\\z\q", b="plain""#).unwrap();
        assert_eq!(p[0].1, r#"x"y\zq"#);
        assert_eq!(p[1].1, "plain");
    }

    #[test]
    fn quoted_strings_without_escapes_are_borrowed() {
        let (_, mut s) = Scanner::start(r#"Digest a="x y""#).unwrap();
        let p = s.next_param().unwrap().unwrap();
        assert!(matches!(p.value, Cow::Borrowed("x y")));
    }

    #[test]
    fn odd_spacing_tabs_folds_and_empty_elements_are_accepted() {
        let (scheme, p) = params("  Digest\t a = \"1\" ,\r\n b=2,, ,c\t=\t\"3\" , ").unwrap();
        assert_eq!(scheme, "Digest");
        let names: Vec<_> = p.iter().map(|(n, v)| format!("{n}={v}")).collect();
        assert_eq!(names, ["a=1", "b=2", "c=3"]);
    }

    #[test]
    fn errors_carry_the_offset_of_the_problem() {
        assert_eq!(params("   ").unwrap_err(), ParseError::Empty);
        assert_eq!(
            params("\"x\"").unwrap_err(),
            ParseError::ExpectedScheme { offset: 0 }
        );
        assert_eq!(
            params("Digest=a").unwrap_err(),
            ParseError::ExpectedScheme { offset: 0 }
        );
        assert_eq!(
            params("Digest a").unwrap_err(),
            ParseError::ExpectedEquals { offset: 8 }
        );
        assert_eq!(
            params("Digest a=").unwrap_err(),
            ParseError::ExpectedValue { offset: 9 }
        );
        assert_eq!(
            params("Digest =b").unwrap_err(),
            ParseError::ExpectedParamName { offset: 7 }
        );
        assert_eq!(
            params("Digest a=\"b").unwrap_err(),
            ParseError::UnterminatedQuotedString { offset: 9 }
        );
        assert_eq!(
            params("Digest a=\"b\\").unwrap_err(),
            ParseError::UnterminatedQuotedString { offset: 9 }
        );
        assert_eq!(
            params("Digest a=b c=d").unwrap_err(),
            ParseError::ExpectedComma { offset: 11 }
        );
        assert_eq!(
            params("Digest a=\"b\x00\"").unwrap_err(),
            ParseError::ControlCharacter { offset: 11 }
        );
        assert_eq!(
            params("Digest a=\"\\\x01\"").unwrap_err(),
            ParseError::ControlCharacter { offset: 11 }
        );
        assert_eq!(
            params("Digest a=b\x7f").unwrap_err(),
            ParseError::ControlCharacter { offset: 10 }
        );
    }

    #[test]
    fn escaped_multibyte_characters_are_kept_whole() {
        let (_, p) = params("Digest a=\"\\é\u{1F600}\"").unwrap();
        assert_eq!(p[0].1, "é\u{1F600}");
    }

    #[test]
    fn push_quoted_escapes_quote_and_backslash_and_round_trips() {
        let mut out = String::from("Digest a=");
        push_quoted(&mut out, r#"we"ird\realm"#);
        assert_eq!(out, r#"Digest a="we\"ird\\realm""#);
        let (_, p) = params(&out).unwrap();
        assert_eq!(p[0].1, r#"we"ird\realm"#);
    }

    #[test]
    fn bounded_cuts_long_text_on_a_char_boundary() {
        let long = "é".repeat(100);
        let cut = bounded(&long);
        assert!(cut.len() <= MAX_ERROR_TEXT);
        assert!(long.starts_with(&cut));
    }
}
