use bytes::Bytes;

use crate::parser::{Head, StartLine, looks_like_request, parse_head};
use crate::{
    Header, HeaderName, Headers, Limits, Message, ParseError, ParseErrorKind, Request, Response,
};

/// Parses one UDP datagram. Content-Length (if present) decides where the
/// body ends; octets after it are ignored (RFC 3261 §18.3). Without
/// Content-Length the body runs to the end of the datagram. Leading CRLFs
/// are skipped.
///
/// A datagram that ends right after a complete header line, without the
/// empty line, is taken as ending the header section (RFC 4475 baddn is
/// such a datagram; it is still rejected, for its display names).
///
/// After a successful parse the headers hold exactly one Content-Length,
/// equal to the body length (appended if the datagram had none), so
/// parse → serialize → parse gives an equal message.
pub fn parse_datagram(buf: &[u8], limits: &Limits) -> Result<Message, ParseError> {
    let skip = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let data = &buf[skip..];
    let shift = |mut e: ParseError| {
        e.offset += skip;
        e
    };
    if buf.len() > limits.max_message {
        return Err(ParseError {
            kind: ParseErrorKind::TooLarge { what: "message" },
            offset: limits.max_message,
            is_request: looks_like_request(data),
        });
    }
    let head = parse_head(data, limits, true).map_err(shift)?;
    let is_request = matches!(head.start, StartLine::Request { .. });
    let rest = data.get(head.body_start..).unwrap_or(&[]);
    let body = match head.content_length {
        Some(n) => rest.get(..n).ok_or(ParseError {
            kind: ParseErrorKind::TruncatedBody,
            offset: skip + data.len(),
            is_request,
        })?,
        None => rest,
    };
    if body.len() > limits.max_body {
        return Err(ParseError {
            kind: ParseErrorKind::TooLarge { what: "body" },
            offset: skip + head.body_start,
            is_request,
        });
    }
    Ok(build(head, body))
}

/// Turns a validated head and its body into a message, normalising the
/// Content-Length header to the body length.
fn build(head: Head, body: &[u8]) -> Message {
    let mut list = head.headers;
    let len = crate::serialize::Decimal::new(body.len() as u64);
    let len = len.as_str();
    match list
        .iter_mut()
        .find(|h| h.name == HeaderName::ContentLength)
    {
        Some(h) => {
            if h.value != len {
                h.value = len.into();
            }
        }
        None => list.push(Header {
            name: HeaderName::ContentLength,
            value: len.into(),
        }),
    }
    let headers = Headers::from_vec(list);
    let body = Bytes::copy_from_slice(body);
    match head.start {
        StartLine::Request { method, uri } => Message::Request(Request {
            method,
            uri,
            headers,
            body,
        }),
        StartLine::Response { status, reason } => Message::Response(Response {
            status,
            reason,
            headers,
            body,
        }),
    }
}

/// Builds the bytes of an error response to a request that failed to parse,
/// by copying its raw Via, From, To, Call-ID and CSeq lines verbatim (best
/// effort, RFC 3261 §8.2.6). `None` when the input is not a request or
/// lacks what a response needs (then the caller drops it).
///
/// "What a response needs" is at least one Via line (to route the answer
/// and let the client match its transaction); From, To, Call-ID and CSeq
/// lines are copied when present (RFC 4475 insuf gets its 400 without
/// them). Folded continuation lines are copied with their header. No To tag
/// is added (that would need randomness; the transaction matches by
/// branch).
pub fn error_response(buf: &[u8], err: &ParseError) -> Option<Vec<u8>> {
    let status = err.response_status()?;
    let skip = buf.iter().position(|&b| b != b'\r' && b != b'\n')?;
    let data = &buf[skip..];
    let mut lines = data
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    lines.next()?; // the request line
    let mut copied = Vec::with_capacity(512);
    let mut copying = false;
    let mut have_via = false;
    for line in lines {
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if copying {
                copied.extend_from_slice(line);
                copied.extend_from_slice(b"\r\n");
            }
            continue;
        }
        let name_end = line.iter().position(|&b| b == b':').unwrap_or(0);
        let name = line[..name_end].trim_ascii_end();
        copying = [
            &b"via"[..],
            b"v",
            b"from",
            b"f",
            b"to",
            b"t",
            b"call-id",
            b"i",
            b"cseq",
        ]
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n));
        if copying {
            have_via |= name.eq_ignore_ascii_case(b"via") || name.eq_ignore_ascii_case(b"v");
            copied.extend_from_slice(line);
            copied.extend_from_slice(b"\r\n");
        }
    }
    if !have_via {
        return None;
    }
    let mut out = Vec::with_capacity(copied.len() + 64);
    out.extend_from_slice(
        format!(
            "SIP/2.0 {} {}\r\n",
            status.as_u16(),
            status.canonical_reason()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&copied);
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    Some(out)
}

/// One item framed off a stream.
#[derive(Debug, Clone, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "the message is the common case; boxing it would cost an allocation per message"
)]
pub enum Framed {
    Message(Message),
    /// A double CRLF keep-alive ping (RFC 5626 §4.4.1); answer with a CRLF.
    KeepAlivePing,
    /// A single CRLF (a pong, or a stray line end between messages).
    KeepAlivePong,
}

/// Frames SIP messages off a TCP byte stream. Content-Length is mandatory on
/// streams (RFC 3261 §18.3); a framing error is unrecoverable and the caller
/// must close the connection. The internal buffer never grows past
/// `limits.max_message` plus one read.
///
/// Usage: after each [`push`](StreamFramer::push), call
/// [`next_item`](StreamFramer::next_item) until it returns `Ok(None)`. Any
/// `Err` is final: every later call returns the same error, and the bytes
/// of the failed message stay buffered so that
/// [`error_response`](StreamFramer::error_response) can answer it before the
/// caller closes the connection.
///
/// A lone CRLF at the end of the buffer is held back until the next octet
/// shows whether it is a pong or the first half of a ping.
#[derive(Debug)]
pub struct StreamFramer {
    limits: Limits,
    buf: Vec<u8>,
    /// Where the next search for the end of the header section starts.
    scan_from: usize,
    /// The parsed head of the message at the front, waiting for its body.
    pending: Option<(Head, usize)>,
    /// Bytes were dropped because the buffer was already over the limit.
    overflowed: bool,
    failed: Option<ParseError>,
}

impl StreamFramer {
    pub fn new(limits: Limits) -> StreamFramer {
        StreamFramer {
            limits,
            buf: Vec::new(),
            scan_from: 0,
            pending: None,
            overflowed: false,
            failed: None,
        }
    }
    /// Appends received bytes. Once more than `limits.max_message` octets
    /// are buffered, further bytes are dropped and the framer fails with
    /// `TooLarge { what: "message" }` when it reaches them.
    pub fn push(&mut self, data: &[u8]) {
        if self.buf.len() > self.limits.max_message || self.failed.is_some() {
            self.overflowed = true;
            return;
        }
        self.buf.extend_from_slice(data);
    }
    /// The next complete item, `Ok(None)` if more bytes are needed.
    pub fn next_item(&mut self) -> Result<Option<Framed>, ParseError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.frame() {
            Ok(Some(item)) => Ok(Some(item)),
            Ok(None) if self.overflowed => Err(self.fail(ParseError {
                kind: ParseErrorKind::TooLarge { what: "message" },
                offset: self.buf.len(),
                is_request: looks_like_request(&self.buf),
            })),
            Ok(None) => Ok(None),
            Err(e) => Err(self.fail(e)),
        }
    }
    /// Bytes buffered and not yet framed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
    /// The error response for the message that made
    /// [`next_item`](StreamFramer::next_item) fail (see
    /// [`error_response`](crate::error_response)).
    pub fn error_response(&self, err: &ParseError) -> Option<Vec<u8>> {
        error_response(&self.buf, err)
    }

    fn fail(&mut self, e: ParseError) -> ParseError {
        self.failed = Some(e.clone());
        e
    }

    fn consume(&mut self, n: usize) {
        self.buf.drain(..n);
        self.scan_from = 0;
        self.pending = None;
    }

    fn frame(&mut self) -> Result<Option<Framed>, ParseError> {
        if self.pending.is_none() {
            // RFC 5626 §4.4.1 keep-alives between messages.
            if self.buf.starts_with(b"\r\n\r\n") {
                self.consume(4);
                return Ok(Some(Framed::KeepAlivePing));
            }
            if self.buf.starts_with(b"\r\n") {
                // A lone CRLF, or CRLF CR: wait for the octet that decides
                // between a pong and the first half of a ping.
                if self.buf.len() == 2 || self.buf.get(2..) == Some(&b"\r"[..]) {
                    return Ok(None);
                }
                self.consume(2);
                return Ok(Some(Framed::KeepAlivePong));
            }
            let Some(rel) = self
                .buf
                .get(self.scan_from..)
                .and_then(|b| memchr::memmem::find(b, b"\r\n\r\n"))
            else {
                if self.buf.len() > self.limits.max_message {
                    return Err(ParseError {
                        kind: ParseErrorKind::TooLarge { what: "message" },
                        offset: self.limits.max_message,
                        is_request: looks_like_request(&self.buf),
                    });
                }
                self.scan_from = self.buf.len().saturating_sub(3);
                return Ok(None);
            };
            let head_end = self.scan_from + rel + 4;
            let head = parse_head(&self.buf[..head_end], &self.limits, false)?;
            let is_request = matches!(head.start, StartLine::Request { .. });
            let Some(cl) = head.content_length else {
                return Err(ParseError {
                    kind: ParseErrorKind::BadContentLength,
                    offset: head_end,
                    is_request,
                });
            };
            let total = head_end.saturating_add(cl);
            if total > self.limits.max_message {
                return Err(ParseError {
                    kind: ParseErrorKind::TooLarge { what: "message" },
                    offset: head_end,
                    is_request,
                });
            }
            self.pending = Some((head, total));
        }
        let Some((_, total)) = &self.pending else {
            return Ok(None);
        };
        let total = *total;
        if self.buf.len() < total {
            return Ok(None);
        }
        let Some((head, _)) = self.pending.take() else {
            return Ok(None);
        };
        let body_start = head.body_start;
        let msg = build(head, &self.buf[body_start..total]);
        self.consume(total);
        Ok(Some(Framed::Message(msg)))
    }
}
