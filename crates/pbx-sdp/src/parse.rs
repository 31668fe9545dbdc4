//! The SDP parser (RFC 8866 §5, §9).
//!
//! Accepted leniencies, all seen from real phones: LF or CRLF line ends,
//! blank lines, trailing spaces/tabs on a line (removed), session-level lines
//! in any order before the first `m=`, media-level lines in any order, a
//! missing `s=` or `t=`. Refused: anything that is not `<letter>=<value>`,
//! a line type RFC 8866 does not define (§5: a parser must ignore the whole
//! description or reject it), session-only lines inside a media section,
//! repeated single-instance lines, non-UTF-8 text, and bodies over the
//! limits below.

use std::str::FromStr;

use crate::model::{Attribute, Bandwidth, Connection, Media, OriginLine, Session, Timing};

/// Largest accepted SDP body, in bytes.
pub const MAX_SDP_LEN: usize = 64 * 1024;
/// Most `m=` sections accepted in one body.
pub const MAX_MEDIA: usize = 64;
/// Most non-blank lines accepted in one body.
pub const MAX_LINES: usize = 2048;
/// Most formats accepted on one `m=` line.
pub const MAX_FORMATS: usize = 256;

/// Why an SDP body was refused. Every variant answers the request with
/// [`SdpError::status`] (400 Bad Request).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    /// The body is larger than [`MAX_SDP_LEN`].
    #[error("SDP body of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Body length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// More than [`MAX_MEDIA`] `m=` sections.
    #[error("more than {max} media sections")]
    TooManyMedia {
        /// The limit.
        max: usize,
    },
    /// More than [`MAX_LINES`] lines.
    #[error("more than {max} lines")]
    TooManyLines {
        /// The limit.
        max: usize,
    },
    /// More than [`MAX_FORMATS`] formats on one `m=` line.
    #[error("line {line}: more than {max} formats on the m= line")]
    TooManyFormats {
        /// 1-based line number.
        line: usize,
        /// The limit.
        max: usize,
    },
    /// No lines at all.
    #[error("empty SDP body")]
    Empty,
    /// A line that is not `<letter>=<value>` or holds control characters.
    #[error("line {line}: {reason}")]
    BadLine {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A line that is not UTF-8.
    #[error("line {line}: not UTF-8")]
    NotUtf8 {
        /// 1-based line number.
        line: usize,
    },
    /// A known line type whose value does not have the right shape.
    #[error("line {line}: bad {field}")]
    BadField {
        /// 1-based line number.
        line: usize,
        /// Which field.
        field: &'static str,
    },
    /// A line type RFC 8866 does not define.
    #[error("line {line}: unknown line type `{letter}=`")]
    UnknownType {
        /// 1-based line number.
        line: usize,
        /// The type letter.
        letter: char,
    },
    /// A line type in a place it may not appear (e.g. `o=` after `m=`,
    /// `r=` before `t=`, anything before `v=`).
    #[error("line {line}: `{letter}=` is not allowed here")]
    Misplaced {
        /// 1-based line number.
        line: usize,
        /// The type letter.
        letter: char,
    },
    /// A second copy of a line that may appear once.
    #[error("line {line}: second `{letter}=` line")]
    Duplicate {
        /// 1-based line number.
        line: usize,
        /// The type letter.
        letter: char,
    },
    /// A required line is missing.
    #[error("missing `{0}=` line")]
    Missing(char),
}

impl SdpError {
    /// The SIP status that answers a request carrying this body: 400.
    pub fn status(&self) -> u16 {
        400
    }
}

/// Parses an SDP body. Never panics; see the module docs for what is
/// accepted.
pub fn parse(text: &[u8]) -> Result<Session, SdpError> {
    if text.len() > MAX_SDP_LEN {
        return Err(SdpError::TooLarge {
            len: text.len(),
            max: MAX_SDP_LEN,
        });
    }
    let mut builder = Builder::default();
    let mut lines = 0usize;
    for (index, raw) in text.split(|&b| b == b'\n').enumerate() {
        let line = index + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let raw = trim_end(raw);
        if raw.is_empty() {
            continue;
        }
        lines += 1;
        if lines > MAX_LINES {
            return Err(SdpError::TooManyLines { max: MAX_LINES });
        }
        if raw.iter().any(|&b| b == b'\r' || b == 0) {
            return Err(SdpError::BadLine {
                line,
                reason: "CR or NUL inside a line",
            });
        }
        let letter = raw[0];
        if !letter.is_ascii_lowercase() || raw.get(1) != Some(&b'=') {
            return Err(SdpError::BadLine {
                line,
                reason: "expected `<letter>=<value>`",
            });
        }
        let value = std::str::from_utf8(&raw[2..]).map_err(|_| SdpError::NotUtf8 { line })?;
        builder.line(line, char::from(letter), value)?;
    }
    builder.finish()
}

impl FromStr for Session {
    type Err = SdpError;

    fn from_str(s: &str) -> Result<Session, SdpError> {
        parse(s.as_bytes())
    }
}

fn trim_end(mut raw: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t'] = raw {
        raw = rest;
    }
    raw
}

#[derive(Default)]
struct Builder {
    seen_v: bool,
    seen_o: bool,
    seen_s: bool,
    session: Session,
}

impl Builder {
    fn line(&mut self, line: usize, letter: char, value: &str) -> Result<(), SdpError> {
        if !self.seen_v {
            if letter != 'v' {
                return Err(SdpError::Misplaced { line, letter });
            }
            self.seen_v = true;
            self.session.version = digits(value).ok_or(SdpError::BadField {
                line,
                field: "v= version",
            })?;
            return Ok(());
        }
        if letter == 'm' {
            if self.session.media.len() >= MAX_MEDIA {
                return Err(SdpError::TooManyMedia { max: MAX_MEDIA });
            }
            let media = parse_media(line, value)?;
            self.session.media.push(media);
            return Ok(());
        }
        if let Some(media) = self.session.media.last_mut() {
            return media_line(media, line, letter, value);
        }
        let s = &mut self.session;
        let dup = SdpError::Duplicate { line, letter };
        match letter {
            'v' => return Err(dup),
            'o' => {
                if std::mem::replace(&mut self.seen_o, true) {
                    return Err(dup);
                }
                s.origin = parse_origin(line, value)?;
            }
            's' => {
                if std::mem::replace(&mut self.seen_s, true) {
                    return Err(dup);
                }
                s.name = value.to_owned();
            }
            'i' => set_once(&mut s.info, value, dup)?,
            'u' => set_once(&mut s.uri, value, dup)?,
            'e' => s.emails.push(value.to_owned()),
            'p' => s.phones.push(value.to_owned()),
            'c' => {
                if s.connection.is_some() {
                    return Err(dup);
                }
                s.connection = Some(parse_connection(line, value)?);
            }
            'b' => s.bandwidths.push(parse_bandwidth(line, value)?),
            't' => s.times.push(parse_timing(line, value)?),
            'r' => match s.times.last_mut() {
                Some(t) => t.repeats.push(value.to_owned()),
                None => return Err(SdpError::Misplaced { line, letter }),
            },
            'z' => set_once(&mut s.zone, value, dup)?,
            'k' => set_once(&mut s.key, value, dup)?,
            'a' => s.attributes.push(parse_attribute(line, value)?),
            _ => return Err(SdpError::UnknownType { line, letter }),
        }
        Ok(())
    }

    fn finish(self) -> Result<Session, SdpError> {
        if !self.seen_v {
            return Err(SdpError::Empty);
        }
        if !self.seen_o {
            return Err(SdpError::Missing('o'));
        }
        Ok(self.session)
    }
}

fn media_line(media: &mut Media, line: usize, letter: char, value: &str) -> Result<(), SdpError> {
    let dup = SdpError::Duplicate { line, letter };
    match letter {
        'i' => set_once(&mut media.info, value, dup)?,
        'c' => media.connections.push(parse_connection(line, value)?),
        'b' => media.bandwidths.push(parse_bandwidth(line, value)?),
        'k' => set_once(&mut media.key, value, dup)?,
        'a' => media.attributes.push(parse_attribute(line, value)?),
        'v' | 'o' | 's' | 'u' | 'e' | 'p' | 't' | 'r' | 'z' => {
            return Err(SdpError::Misplaced { line, letter });
        }
        _ => return Err(SdpError::UnknownType { line, letter }),
    }
    Ok(())
}

fn set_once(slot: &mut Option<String>, value: &str, dup: SdpError) -> Result<(), SdpError> {
    if slot.is_some() {
        return Err(dup);
    }
    *slot = Some(value.to_owned());
    Ok(())
}

/// A non-empty run of ASCII digits as a number (no sign, no spaces).
pub(crate) fn digits<T: FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_origin(line: usize, value: &str) -> Result<OriginLine, SdpError> {
    let bad = SdpError::BadField {
        line,
        field: "o= line (needs 6 fields)",
    };
    let mut f = value.split_ascii_whitespace();
    let mut next = || f.next().map(str::to_owned).ok_or(bad.clone());
    let origin = OriginLine {
        username: next()?,
        session_id: next()?,
        session_version: next()?,
        net_type: next()?,
        addr_type: next()?,
        address: next()?,
    };
    if f.next().is_some() {
        return Err(bad);
    }
    Ok(origin)
}

fn parse_connection(line: usize, value: &str) -> Result<Connection, SdpError> {
    let mut f = value.split_ascii_whitespace();
    match (f.next(), f.next(), f.next(), f.next()) {
        (Some(n), Some(a), Some(addr), None) => Ok(Connection {
            net_type: n.to_owned(),
            addr_type: a.to_owned(),
            address: addr.to_owned(),
        }),
        _ => Err(SdpError::BadField {
            line,
            field: "c= line (needs 3 fields)",
        }),
    }
}

fn parse_bandwidth(line: usize, value: &str) -> Result<Bandwidth, SdpError> {
    let bad = SdpError::BadField {
        line,
        field: "b= line",
    };
    let (bwtype, bw) = value.split_once(':').ok_or(bad.clone())?;
    if bwtype.is_empty() || bwtype.contains(|c: char| c.is_ascii_whitespace()) {
        return Err(bad);
    }
    let bandwidth = digits(bw).ok_or(bad)?;
    Ok(Bandwidth {
        bwtype: bwtype.to_owned(),
        bandwidth,
    })
}

fn parse_timing(line: usize, value: &str) -> Result<Timing, SdpError> {
    let bad = SdpError::BadField {
        line,
        field: "t= line",
    };
    let mut f = value.split_ascii_whitespace();
    match (f.next(), f.next(), f.next()) {
        (Some(a), Some(b), None) => Ok(Timing {
            start: digits(a).ok_or(bad.clone())?,
            stop: digits(b).ok_or(bad)?,
            repeats: Vec::new(),
        }),
        _ => Err(bad),
    }
}

fn parse_attribute(line: usize, value: &str) -> Result<Attribute, SdpError> {
    let (name, value) = match value.split_once(':') {
        Some((n, v)) => (n, Some(v.to_owned())),
        None => (value, None),
    };
    if name.is_empty() {
        return Err(SdpError::BadField {
            line,
            field: "a= attribute name",
        });
    }
    Ok(Attribute {
        name: name.to_owned(),
        value,
    })
}

fn parse_media(line: usize, value: &str) -> Result<Media, SdpError> {
    let mut f = value.split_ascii_whitespace();
    let (Some(media), Some(port), Some(proto)) = (f.next(), f.next(), f.next()) else {
        return Err(SdpError::BadField {
            line,
            field: "m= line (needs media, port, proto)",
        });
    };
    let bad_port = SdpError::BadField {
        line,
        field: "m= port",
    };
    let (port, num_ports) = match port.split_once('/') {
        Some((p, n)) => (
            digits(p).ok_or(bad_port.clone())?,
            Some(digits(n).ok_or(bad_port)?),
        ),
        None => (digits(port).ok_or(bad_port)?, None),
    };
    let mut formats = Vec::new();
    for fmt in f {
        if formats.len() >= MAX_FORMATS {
            return Err(SdpError::TooManyFormats {
                line,
                max: MAX_FORMATS,
            });
        }
        formats.push(fmt.to_owned());
    }
    Ok(Media {
        media: media.to_owned(),
        port,
        num_ports,
        proto: proto.to_owned(),
        formats,
        ..Media::default()
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const MINIMAL: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n";

    #[test]
    fn minimal_description_parses_and_prints_back_byte_for_byte() {
        let s = parse(MINIMAL.as_bytes()).unwrap();
        assert_eq!(s.origin.address, "192.0.2.1");
        assert_eq!(s.to_string(), MINIMAL);
    }

    #[test]
    fn lf_only_input_is_accepted_and_written_with_crlf() {
        let s = parse(MINIMAL.replace("\r\n", "\n").as_bytes()).unwrap();
        assert_eq!(s.to_string(), MINIMAL);
    }

    #[test]
    fn trailing_spaces_and_blank_lines_are_ignored() {
        let text = "v=0 \r\no=- 1 1 IN IP4 192.0.2.1\t\r\n\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=sendrecv  \r\n\r\n";
        let s = parse(text.as_bytes()).unwrap();
        assert_eq!(s.media[0].attributes, vec![Attribute::property("sendrecv")]);
    }

    #[test]
    fn out_of_order_session_lines_are_accepted_and_reordered() {
        let text = "v=0\r\ns=-\r\no=- 1 1 IN IP4 192.0.2.1\r\nt=0 0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0\r\na=ptime:20\r\nc=IN IP4 192.0.2.2\r\n";
        let s = parse(text.as_bytes()).unwrap();
        assert_eq!(s.connection.as_ref().unwrap().address, "192.0.2.1");
        assert_eq!(s.media[0].connections[0].address, "192.0.2.2");
        let again = parse(&s.to_bytes()).unwrap();
        assert_eq!(again, s);
        assert!(s.to_string().starts_with(
            "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
        ));
    }

    #[test]
    fn oversized_body_is_refused_before_parsing() {
        let mut text = MINIMAL.to_owned();
        while text.len() <= MAX_SDP_LEN {
            text.push_str("a=x-padding:0123456789012345678901234567890123456789\r\n");
        }
        assert!(matches!(
            parse(text.as_bytes()),
            Err(SdpError::TooLarge { .. })
        ));
    }

    #[test]
    fn more_than_sixty_four_media_sections_are_refused() {
        let mut text = MINIMAL.to_owned();
        for _ in 0..=MAX_MEDIA {
            text.push_str("m=audio 0 RTP/AVP 0\r\n");
        }
        assert_eq!(
            parse(text.as_bytes()),
            Err(SdpError::TooManyMedia { max: MAX_MEDIA })
        );
        let ok: String = MINIMAL.to_owned() + &"m=audio 0 RTP/AVP 0\r\n".repeat(MAX_MEDIA);
        assert_eq!(parse(ok.as_bytes()).unwrap().media.len(), MAX_MEDIA);
    }

    #[test]
    fn too_many_lines_are_refused() {
        let text = MINIMAL.to_owned() + &"a=x\n".repeat(MAX_LINES);
        assert_eq!(
            parse(text.as_bytes()),
            Err(SdpError::TooManyLines { max: MAX_LINES })
        );
    }

    #[test]
    fn too_many_formats_on_one_m_line_are_refused() {
        let text =
            MINIMAL.to_owned() + "m=audio 4000 RTP/AVP" + &" 0".repeat(MAX_FORMATS + 1) + "\r\n";
        assert!(matches!(
            parse(text.as_bytes()),
            Err(SdpError::TooManyFormats { line: 5, .. })
        ));
    }

    #[test]
    fn description_must_start_with_v_and_have_an_origin() {
        assert_eq!(
            parse(b"o=- 1 1 IN IP4 192.0.2.1\r\nv=0\r\n"),
            Err(SdpError::Misplaced {
                line: 1,
                letter: 'o'
            })
        );
        assert_eq!(parse(b"v=0\r\ns=-\r\n"), Err(SdpError::Missing('o')));
        assert_eq!(parse(b""), Err(SdpError::Empty));
        assert_eq!(parse(b"\r\n\r\n"), Err(SdpError::Empty));
    }

    #[test]
    fn session_only_lines_inside_a_media_section_are_refused() {
        let text = MINIMAL.to_owned() + "m=audio 4000 RTP/AVP 0\r\nt=0 0\r\n";
        assert_eq!(
            parse(text.as_bytes()),
            Err(SdpError::Misplaced {
                line: 6,
                letter: 't'
            })
        );
    }

    #[test]
    fn unknown_line_types_are_refused_as_rfc_8866_allows() {
        let text = MINIMAL.to_owned() + "y=0123456789\r\n";
        assert_eq!(
            parse(text.as_bytes()),
            Err(SdpError::UnknownType {
                line: 5,
                letter: 'y'
            })
        );
    }

    #[test]
    fn repeated_single_lines_are_refused() {
        let text = MINIMAL.to_owned() + "s=again\r\n";
        assert_eq!(
            parse(text.as_bytes()),
            Err(SdpError::Duplicate {
                line: 5,
                letter: 's'
            })
        );
        let text = MINIMAL.to_owned() + "c=IN IP4 192.0.2.1\r\nc=IN IP4 192.0.2.2\r\n";
        assert_eq!(
            parse(text.as_bytes()),
            Err(SdpError::Duplicate {
                line: 6,
                letter: 'c'
            })
        );
    }

    #[test]
    fn repeat_line_attaches_to_the_time_line_before_it() {
        let text = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=3034423619 3042462419\r\nr=604800 3600 0 90000\r\nz=2882844526 -1h 2898848070 0\r\n";
        let s = parse(text.as_bytes()).unwrap();
        assert_eq!(s.times[0].repeats, vec!["604800 3600 0 90000".to_owned()]);
        assert_eq!(s.to_string(), text);
        assert!(matches!(
            parse(b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\nr=1 2 3\r\n"),
            Err(SdpError::Misplaced { .. })
        ));
    }

    #[test]
    fn bad_numbers_and_shapes_are_field_errors_with_line_numbers() {
        for (extra, field) in [
            ("m=audio 70000 RTP/AVP 0", "m= port"),
            ("m=audio -1 RTP/AVP 0", "m= port"),
            ("m=audio 4000/x RTP/AVP 0", "m= port"),
            ("m=audio 4000", "m= line (needs media, port, proto)"),
            ("c=IN IP4", "c= line (needs 3 fields)"),
            ("b=AS", "b= line"),
            ("b=AS:+5", "b= line"),
            ("a=:x", "a= attribute name"),
        ] {
            let text = MINIMAL.to_owned() + extra + "\r\n";
            assert_eq!(
                parse(text.as_bytes()),
                Err(SdpError::BadField { line: 5, field }),
                "{extra}"
            );
        }
        assert!(matches!(
            parse(b"v=x\r\n"),
            Err(SdpError::BadField { line: 1, .. })
        ));
        assert!(matches!(
            parse(b"v=0\r\no=- 1 1 IN IP4\r\n"),
            Err(SdpError::BadField { line: 2, .. })
        ));
    }

    #[test]
    fn control_characters_and_invalid_utf8_are_refused() {
        assert!(matches!(
            parse(b"v=0\r\ns=a\rb\r\n"),
            Err(SdpError::BadLine { line: 2, .. })
        ));
        assert!(matches!(
            parse(b"v=0\r\ns=a\0b\r\n"),
            Err(SdpError::BadLine { line: 2, .. })
        ));
        assert_eq!(
            parse(b"v=0\r\ns=\xff\r\n"),
            Err(SdpError::NotUtf8 { line: 2 })
        );
        assert!(matches!(
            parse(b"v=0\r\nA=x\r\n"),
            Err(SdpError::BadLine { line: 2, .. })
        ));
        assert!(matches!(
            parse(b"v=0\r\na\r\n"),
            Err(SdpError::BadLine { line: 2, .. })
        ));
        assert!(matches!(
            parse("v=0\r\n\u{e9}=x\r\n".as_bytes()),
            Err(SdpError::BadLine { line: 2, .. })
        ));
    }

    #[test]
    fn attribute_values_keep_colons_and_empty_values() {
        let text = MINIMAL.to_owned()
            + "a=candidate:1 1 UDP 2130706431 192.0.2.1 4000 typ host\r\na=x-empty:\r\n";
        let s = parse(text.as_bytes()).unwrap();
        assert_eq!(
            s.attributes[0].value.as_deref(),
            Some("1 1 UDP 2130706431 192.0.2.1 4000 typ host")
        );
        assert_eq!(s.attributes[1], Attribute::with_value("x-empty", ""));
        assert_eq!(s.to_string(), text);
    }

    #[test]
    fn sdp_error_answers_with_400() {
        assert_eq!(SdpError::Empty.status(), 400);
    }
}
