// The message parser (RFC 3261 §7, §25): start line, header unfolding, typed header grammars.
//
// Everything here works on byte slices with explicit bounds checks: no
// indexing that can panic on wire input, no allocation larger than the input.

use crate::{
    CSeq, ContactValue, Header, HeaderName, Limits, Method, NameAddr, ParseError, ParseErrorKind,
    StatusCode, Uri, Via,
};

/// RFC 3261 §25.1 `token` characters.
pub(crate) fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

pub(crate) fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

pub(crate) fn trim_ws(s: &str) -> &str {
    s.trim_matches(|c| c == ' ' || c == '\t')
}

pub(crate) fn err(kind: ParseErrorKind, offset: usize) -> ParseError {
    ParseError {
        kind,
        offset,
        is_request: false,
    }
}

/// Splits a header value on commas that are outside quoted strings and
/// outside `<…>`. Yields trimmed pieces (possibly empty, which callers treat
/// as a syntax error).
pub(crate) fn split_commas(s: &str) -> impl Iterator<Item = &str> {
    let bytes = s.as_bytes();
    let mut start = 0usize;
    let mut pos = 0usize;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let mut in_quote = false;
        let mut in_angle = false;
        while pos < bytes.len() {
            let b = bytes[pos];
            if in_quote {
                if b == b'\\' {
                    pos += 1;
                } else if b == b'"' {
                    in_quote = false;
                }
            } else if b == b'"' {
                in_quote = true;
            } else if b == b'<' {
                in_angle = true;
            } else if b == b'>' {
                in_angle = false;
            } else if b == b',' && !in_angle {
                let piece = &s[start..pos];
                pos += 1;
                start = pos;
                return Some(trim_ws(piece));
            }
            pos += 1;
        }
        done = true;
        Some(trim_ws(s.get(start..).unwrap_or("")))
    })
}

/// Parses a quoted string starting at `s[0] == '"'`. Returns the unescaped
/// content and the byte length consumed (including both quotes).
pub(crate) fn parse_quoted(s: &str) -> Option<(String, usize)> {
    let bytes = s.as_bytes();
    if bytes.first() != Some(&b'"') {
        return None;
    }
    let mut out = Vec::new();
    let mut i = 1;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'"' => {
                let text = String::from_utf8(out).ok()?;
                return Some((text, i + 1));
            }
            b'\\' => {
                let next = *bytes.get(i + 1)?;
                // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
                if next == b'\r' || next == b'\n' || next > 0x7f {
                    return None;
                }
                out.push(next);
                i += 2;
            }
            // qdtext: LWS / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII
            b'\t' | b' ' | 0x21..=0x7e | 0x80..=0xff => {
                out.push(b);
                i += 1;
            }
            _ => return None,
        }
    }
    None
}

/// Length of a quoted string starting at `s[0] == '"'` (including quotes),
/// without building the content.
pub(crate) fn quoted_len(bytes: &[u8]) -> Option<usize> {
    if bytes.first() != Some(&b'"') {
        return None;
    }
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return Some(i + 1),
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    None
}

/// Parses `;name[=value]` parameters (RFC 3261 `generic-param`, with SWS
/// around `;` and `=`). `s` starts at the first `;` (or is empty). Values
/// are kept as written (quoted strings keep their quotes).
pub(crate) fn parse_generic_params(s: &str) -> Option<Vec<(String, Option<String>)>> {
    let mut params = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    loop {
        while i < bytes.len() && is_ws(bytes[i]) {
            i += 1;
        }
        if i == bytes.len() {
            return Some(params);
        }
        if bytes[i] != b';' {
            return None;
        }
        i += 1;
        while i < bytes.len() && is_ws(bytes[i]) {
            i += 1;
        }
        let name_start = i;
        while i < bytes.len() && is_token_char(bytes[i]) {
            i += 1;
        }
        if i == name_start {
            return None;
        }
        let name = &s[name_start..i];
        while i < bytes.len() && is_ws(bytes[i]) {
            i += 1;
        }
        if i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            while i < bytes.len() && is_ws(bytes[i]) {
                i += 1;
            }
            let v_start = i;
            if bytes.get(i) == Some(&b'"') {
                i += quoted_len(&bytes[i..])?;
            } else {
                // gen-value = token / host (host may be an IPv6 reference)
                while i < bytes.len()
                    && (is_token_char(bytes[i]) || matches!(bytes[i], b'[' | b']' | b':'))
                {
                    i += 1;
                }
                if i == v_start {
                    return None;
                }
            }
            params.push((name.to_owned(), Some(s[v_start..i].to_owned())));
        } else {
            params.push((name.to_owned(), None));
        }
    }
}

/// Where the header parameters of a name-addr / addr-spec value start:
/// after the closing `>` in name-addr form, at the first `;` in addr-spec
/// form. Cheap: no allocation.
pub(crate) fn name_addr_params_start(v: &str) -> Option<usize> {
    let bytes = v.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => i += quoted_len(&bytes[i..])?,
            b'<' => {
                let close = bytes[i..].iter().position(|&b| b == b'>')?;
                return Some(i + close + 1);
            }
            b';' => return Some(i),
            _ => i += 1,
        }
    }
    Some(bytes.len())
}

/// Finds a header parameter in raw parameter text (as produced by
/// [`name_addr_params_start`]) and returns the byte range of its value
/// within `params` (`Some(None)` for a flag parameter).
pub(crate) fn find_param_range(params: &str, name: &str) -> Option<Option<std::ops::Range<usize>>> {
    let bytes = params.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b';' {
            i += 1;
            continue;
        }
        i += 1;
        while i < bytes.len() && is_ws(bytes[i]) {
            i += 1;
        }
        let n_start = i;
        while i < bytes.len() && is_token_char(bytes[i]) {
            i += 1;
        }
        let this = &params[n_start..i];
        while i < bytes.len() && is_ws(bytes[i]) {
            i += 1;
        }
        let mut value = None;
        if i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            while i < bytes.len() && is_ws(bytes[i]) {
                i += 1;
            }
            let v_start = i;
            if bytes.get(i) == Some(&b'"') {
                i += quoted_len(&bytes[i..]).unwrap_or(bytes.len() - i);
            } else {
                while i < bytes.len() && bytes[i] != b';' && !is_ws(bytes[i]) {
                    i += 1;
                }
            }
            value = Some(v_start..i);
        }
        if this.eq_ignore_ascii_case(name) {
            return Some(value);
        }
    }
    None
}

/// Parses a decimal number made only of digits; `None` on anything else,
/// `Some(u64::MAX)` on overflow.
pub(crate) fn parse_digits_saturating(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut v: u64 = 0;
    for b in s.bytes() {
        v = v.saturating_mul(10).saturating_add(u64::from(b - b'0'));
    }
    Some(v)
}

/// Parses a CSeq value: `1*DIGIT LWS Method`, seq < 2**31.
pub(crate) fn parse_cseq(v: &str) -> Option<CSeq> {
    let v = trim_ws(v);
    let split = v.find([' ', '\t'])?;
    let seq = parse_digits_saturating(&v[..split])?;
    if seq >= 1 << 31 {
        return None;
    }
    let method = Method::from_token(trim_ws(&v[split..]))?;
    Some(CSeq {
        seq: u32::try_from(seq).ok()?,
        method,
    })
}

/// The start line of a message.
#[derive(Debug)]
pub(crate) enum StartLine {
    Request { method: Method, uri: Uri },
    Response { status: StatusCode, reason: String },
}

/// A parsed and validated start line + header section.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) start: StartLine,
    pub(crate) headers: Vec<Header>,
    /// Offset of the first body octet.
    pub(crate) body_start: usize,
    pub(crate) content_length: Option<usize>,
}

/// Whether a first line looks like a request line (so that an error can be
/// answered): not a status line, and it names a SIP version.
pub(crate) fn looks_like_request(buf: &[u8]) -> bool {
    let end = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
    let line = &buf[..end];
    !line.starts_with(b"SIP/") && line.windows(5).any(|w| w == b" SIP/")
}

fn parse_start_line(line: &[u8], is_request: bool) -> Result<StartLine, ParseError> {
    let bad = |kind, offset| ParseError {
        kind,
        offset,
        is_request,
    };
    let line = std::str::from_utf8(line)
        .map_err(|e| bad(ParseErrorKind::BadStartLine, e.valid_up_to()))?;
    if let Some(rest) = line.strip_prefix("SIP/") {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        let (version, rest) = rest.split_once(' ').unwrap_or((rest, ""));
        if version != "2.0" {
            return Err(bad(ParseErrorKind::UnsupportedVersion, 4));
        }
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(ParseErrorKind::BadStatusCode, 8));
        }
        let status = code
            .parse::<u16>()
            .ok()
            .and_then(StatusCode::new)
            .ok_or_else(|| bad(ParseErrorKind::BadStatusCode, 8))?;
        if reason
            .bytes()
            .any(|b| (b < 0x20 && b != b'\t') || b == 0x7f)
        {
            return Err(bad(ParseErrorKind::BadStartLine, 12));
        }
        return Ok(StartLine::Response {
            status,
            reason: reason.to_owned(),
        });
    }
    // Request-Line = Method SP Request-URI SP SIP-Version
    let (Some(first), Some(last)) = (line.find(' '), line.rfind(' ')) else {
        return Err(bad(ParseErrorKind::BadStartLine, 0));
    };
    if first == last {
        return Err(bad(ParseErrorKind::BadStartLine, first));
    }
    let method =
        Method::from_token(&line[..first]).ok_or_else(|| bad(ParseErrorKind::BadStartLine, 0))?;
    let version = &line[last + 1..];
    if version != "SIP/2.0" {
        let kind = match version.get(..4) {
            Some(p) if p.eq_ignore_ascii_case("SIP/") && version.len() > 4 => {
                ParseErrorKind::UnsupportedVersion
            }
            _ => ParseErrorKind::BadStartLine,
        };
        return Err(bad(kind, last + 1));
    }
    let uri_text = &line[first + 1..last];
    if uri_text.is_empty() || uri_text.bytes().any(is_ws) {
        return Err(bad(ParseErrorKind::BadRequestUri, first + 1));
    }
    let uri = Uri::parse(uri_text).map_err(|_| bad(ParseErrorKind::BadRequestUri, first + 1))?;
    // RFC 3261 §19.1.1: headers are not allowed in a Request-URI (RFC 4475
    // escruri: we reject rather than strip).
    if !uri.headers.is_empty() {
        return Err(bad(ParseErrorKind::BadRequestUri, first + 1));
    }
    Ok(StartLine::Request { method, uri })
}

/// Where a line ends: `(content_end, next_line_start)`. Accepts CRLF and
/// bare LF; `None` if no LF is in `buf[from..]`.
fn line_end(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    let rel = buf.get(from..)?.iter().position(|&b| b == b'\n')?;
    let lf = from + rel;
    let end = if lf > from && buf[lf - 1] == b'\r' {
        lf - 1
    } else {
        lf
    };
    Some((end, lf + 1))
}

/// Parses the start line and header section of `buf` (which starts at the
/// start line) and validates the headers. With `eof_ends_headers`, running
/// out of input after a complete header line ends the header section (a
/// datagram lacking the empty line, RFC 4475 baddn).
pub(crate) fn parse_head(
    buf: &[u8],
    limits: &Limits,
    eof_ends_headers: bool,
) -> Result<Head, ParseError> {
    let is_request = looks_like_request(buf);
    let bad = |kind, offset| ParseError {
        kind,
        offset,
        is_request,
    };
    let Some((sl_end, mut pos)) = line_end(buf, 0) else {
        return Err(bad(ParseErrorKind::Incomplete, buf.len()));
    };
    let start_line = &buf[..sl_end];
    if start_line.contains(&b'\r') {
        return Err(bad(ParseErrorKind::BadStartLine, 0));
    }
    let start = parse_start_line(start_line, is_request)?;

    let mut headers: Vec<Header> = Vec::with_capacity(16);
    let body_start;
    loop {
        let Some((end, next)) = line_end(buf, pos) else {
            if eof_ends_headers && pos == buf.len() {
                body_start = pos;
                break;
            }
            return Err(bad(ParseErrorKind::Incomplete, buf.len()));
        };
        if next > limits.max_message {
            return Err(bad(ParseErrorKind::TooLarge { what: "message" }, pos));
        }
        let line = &buf[pos..end];
        if line.contains(&b'\r') {
            return Err(bad(ParseErrorKind::BadHeaderLine, pos));
        }
        if line.is_empty() {
            body_start = next;
            break;
        }
        if is_ws(line[0]) {
            // Continuation of the previous header (LWS folding, RFC 3261 §7.3.1).
            let Some(last) = headers.last_mut() else {
                return Err(bad(ParseErrorKind::BadHeaderLine, pos));
            };
            let text =
                std::str::from_utf8(line).map_err(|_| bad(ParseErrorKind::BadHeaderLine, pos))?;
            let text = trim_ws(text);
            if !text.is_empty() {
                if last.value.len() + 1 + text.len() > limits.max_header_value {
                    return Err(bad(
                        ParseErrorKind::TooLarge {
                            what: "header value",
                        },
                        pos,
                    ));
                }
                if !last.value.is_empty() {
                    last.value.push(' ');
                }
                last.value.push_str(text);
            }
        } else {
            if headers.len() >= limits.max_headers {
                return Err(bad(ParseErrorKind::TooLarge { what: "headers" }, pos));
            }
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                return Err(bad(ParseErrorKind::BadHeaderLine, pos));
            };
            let mut name_end = colon;
            while name_end > 0 && is_ws(line[name_end - 1]) {
                name_end -= 1;
            }
            let name = std::str::from_utf8(&line[..name_end])
                .ok()
                .and_then(HeaderName::parse)
                .ok_or_else(|| bad(ParseErrorKind::BadHeaderLine, pos))?;
            let value = std::str::from_utf8(&line[colon + 1..])
                .map_err(|_| bad(ParseErrorKind::BadHeaderLine, pos))?;
            let value = trim_ws(value);
            if value.len() > limits.max_header_value {
                return Err(bad(
                    ParseErrorKind::TooLarge {
                        what: "header value",
                    },
                    pos,
                ));
            }
            headers.push(Header {
                name,
                value: value.to_owned(),
            });
        }
        pos = next;
    }
    let content_length = validate_headers(&start, &headers, limits, is_request, sl_end)?;
    Ok(Head {
        start,
        headers,
        body_start,
        content_length,
    })
}

/// The RFC 3261 checks done at parse time (§8.2.2 mandatory headers,
/// single-valued headers, CSeq, Content-Length, and the grammar of
/// Via/From/To/Contact). Returns the Content-Length, if present.
fn validate_headers(
    start: &StartLine,
    headers: &[Header],
    limits: &Limits,
    is_request: bool,
    offset: usize,
) -> Result<Option<usize>, ParseError> {
    let bad = |kind| ParseError {
        kind,
        offset,
        is_request,
    };
    let bad_header = |name| bad(ParseErrorKind::BadHeader { name });
    let mut seen_via = false;
    let mut from = false;
    let mut to = false;
    let mut call_id = false;
    let mut cseq: Option<CSeq> = None;
    let mut max_forwards = false;
    let mut content_length: Option<usize> = None;
    let mut content_type = false;
    fn once(
        flag: &mut bool,
        name: &'static str,
        bad: &dyn Fn(ParseErrorKind) -> ParseError,
    ) -> Result<(), ParseError> {
        if std::mem::replace(flag, true) {
            return Err(bad(ParseErrorKind::DuplicateHeader { name }));
        }
        Ok(())
    }
    for h in headers {
        let v = h.value.as_str();
        match h.name {
            HeaderName::Via => {
                seen_via = true;
                for piece in split_commas(v) {
                    Via::parse(piece).map_err(|_| bad_header("Via"))?;
                }
            }
            HeaderName::From => {
                once(&mut from, "From", &bad)?;
                NameAddr::parse(v).map_err(|_| bad_header("From"))?;
            }
            HeaderName::To => {
                once(&mut to, "To", &bad)?;
                NameAddr::parse(v).map_err(|_| bad_header("To"))?;
            }
            HeaderName::CallId => {
                once(&mut call_id, "Call-ID", &bad)?;
                if v.is_empty() || v.bytes().any(|b| b <= b' ' || b == 0x7f) {
                    return Err(bad_header("Call-ID"));
                }
            }
            HeaderName::CSeq => {
                if cseq.is_some() {
                    return Err(bad(ParseErrorKind::DuplicateHeader { name: "CSeq" }));
                }
                cseq = Some(parse_cseq(v).ok_or_else(|| bad_header("CSeq"))?);
            }
            HeaderName::MaxForwards => {
                once(&mut max_forwards, "Max-Forwards", &bad)?;
                parse_digits_saturating(v).ok_or_else(|| bad_header("Max-Forwards"))?;
            }
            HeaderName::ContentLength => {
                if content_length.is_some() {
                    return Err(bad(ParseErrorKind::DuplicateHeader {
                        name: "Content-Length",
                    }));
                }
                let n = parse_digits_saturating(v)
                    .ok_or_else(|| bad(ParseErrorKind::BadContentLength))?;
                if n > limits.max_body as u64 {
                    return Err(bad(ParseErrorKind::TooLarge { what: "body" }));
                }
                content_length =
                    Some(usize::try_from(n).map_err(|_| bad(ParseErrorKind::BadContentLength))?);
            }
            HeaderName::ContentType => {
                once(&mut content_type, "Content-Type", &bad)?;
                if !v.contains('/') {
                    return Err(bad_header("Content-Type"));
                }
            }
            HeaderName::Contact if v != "*" => {
                for piece in split_commas(v) {
                    NameAddr::parse(piece).map_err(|_| bad_header("Contact"))?;
                }
            }
            _ => {}
        }
    }
    let missing = |name| bad(ParseErrorKind::MissingHeader { name });
    if !seen_via {
        return Err(missing("Via"));
    }
    if !from {
        return Err(missing("From"));
    }
    if !to {
        return Err(missing("To"));
    }
    if !call_id {
        return Err(missing("Call-ID"));
    }
    let Some(cseq) = cseq else {
        return Err(missing("CSeq"));
    };
    if let StartLine::Request { method, .. } = start
        && *method != cseq.method
    {
        return Err(bad(if matches!(method, Method::Other(_)) {
            ParseErrorKind::ExtensionMethodCSeqMismatch
        } else {
            ParseErrorKind::CSeqMethodMismatch
        }));
    }
    Ok(content_length)
}

/// Parses a Contact header value (`*` or comma-separated name-addrs).
pub(crate) fn parse_contacts(v: &str) -> Result<Vec<ContactValue>, ParseError> {
    if trim_ws(v) == "*" {
        return Ok(vec![ContactValue::Star]);
    }
    split_commas(v)
        .map(|p| NameAddr::parse(p).map(ContactValue::Addr))
        .collect()
}
