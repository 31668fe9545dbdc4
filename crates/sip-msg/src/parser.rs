// The message parser (RFC 3261 §7, §25): start line, header unfolding, typed header grammars.
//
// Everything here works on byte slices with explicit bounds checks: no
// indexing that can panic on wire input, no allocation larger than the input.

use std::sync::Arc;

use memchr::{memchr, memchr2};

use crate::name_addr::parse_name_addr_ref;
use crate::uri::parse_uri_ref;
use crate::via::parse_via_ref;
use crate::{
    CSeq, ContactValue, Header, HeaderName, HeaderValue, Limits, Method, NameAddr, ParseError,
    ParseErrorKind, StatusCode, Uri,
};

/// Character classes as bit flags in one table (RFC 3261 §25.1).
pub(crate) const TOKEN: u8 = 1;
/// `user` characters of a SIP URI (unreserved / user-unreserved), `%` apart.
pub(crate) const URI_USER: u8 = 2;
/// `password` characters of a SIP URI, `%` apart.
pub(crate) const URI_PASSWORD: u8 = 4;
/// `paramchar` of a URI parameter, `%` apart.
pub(crate) const URI_PARAM: u8 = 8;
/// `hname` / `hvalue` characters of a URI header, `%` apart.
pub(crate) const URI_HEADER: u8 = 16;
/// Characters a hostname or IPv4 address is made of.
pub(crate) const HOST: u8 = 32;

const fn char_classes() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let alnum = b.is_ascii_alphanumeric();
        let unreserved = alnum
            || matches!(
                b,
                b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
            );
        let mut c = 0;
        if alnum
            || matches!(
                b,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            )
        {
            c |= TOKEN;
        }
        if unreserved || matches!(b, b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/') {
            c |= URI_USER;
        }
        if unreserved || matches!(b, b'&' | b'=' | b'+' | b'$' | b',') {
            c |= URI_PASSWORD;
        }
        if unreserved || matches!(b, b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$') {
            c |= URI_PARAM;
        }
        if unreserved || matches!(b, b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$') {
            c |= URI_HEADER;
        }
        if alnum || matches!(b, b'-' | b'.' | b'_') {
            c |= HOST;
        }
        table[i] = c;
        i += 1;
    }
    table
}

static CHAR_CLASSES: [u8; 256] = char_classes();

/// Whether `b` belongs to `class` (one of the flags above).
#[inline]
pub(crate) fn in_class(b: u8, class: u8) -> bool {
    CHAR_CLASSES[usize::from(b)] & class != 0
}

/// RFC 3261 §25.1 `token` characters.
#[inline]
pub(crate) fn is_token_char(b: u8) -> bool {
    in_class(b, TOKEN)
}

pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

#[inline]
pub(crate) fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Trims SP and HTAB at both ends.
pub(crate) fn trim_ws(s: &str) -> &str {
    let b = s.as_bytes();
    let mut start = 0;
    let mut end = b.len();
    while start < end && is_ws(b[start]) {
        start += 1;
    }
    while end > start && is_ws(b[end - 1]) {
        end -= 1;
    }
    // Both ends sit next to ASCII bytes, so they are char boundaries.
    s.get(start..end).unwrap_or("")
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
    // Without a comma the whole value is the only piece.
    let mut pos = if memchr(b',', bytes).is_none() {
        bytes.len()
    } else {
        0
    };
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

/// Checks a quoted string starting at `s[0] == '"'` (RFC 3261 `quoted-string`:
/// qdtext or quoted-pair, no CR/LF). Returns the byte length consumed
/// (including both quotes). [`unquote`] gives its content.
pub(crate) fn quoted_check(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    if bytes.first() != Some(&b'"') {
        return None;
    }
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return Some(i + 1),
            b'\\' => {
                let next = *bytes.get(i + 1)?;
                // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
                if next == b'\r' || next == b'\n' || next > 0x7f {
                    return None;
                }
                i += 2;
            }
            // qdtext: LWS / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII
            b'\t' | b' ' | 0x21..=0x7e | 0x80..=0xff => i += 1,
            _ => return None,
        }
    }
    None
}

/// The content of a quoted string that [`quoted_check`] accepted, given
/// without its quotes: quoted-pairs unescaped.
pub(crate) fn unquote(inner: &str) -> String {
    let mut out = String::with_capacity(inner.len());
    let mut rest = inner;
    while let Some(p) = memchr(b'\\', rest.as_bytes()) {
        // The escaped octet is ASCII (checked by quoted_check), so these
        // are char boundaries.
        out.push_str(rest.get(..p).unwrap_or(""));
        out.push_str(rest.get(p + 1..p + 2).unwrap_or(""));
        rest = rest.get(p + 2..).unwrap_or("");
    }
    out.push_str(rest);
    out
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

/// Scans `;name[=value]` parameters (RFC 3261 `generic-param`, with SWS
/// around `;` and `=`). `s` starts at the first `;` (or is empty). Values
/// are given as written (quoted strings keep their quotes). Calls `f` for
/// each parameter in order; false if the text does not match or `f`
/// returned false.
pub(crate) fn scan_generic_params<'a>(
    s: &'a str,
    mut f: impl FnMut(&'a str, Option<&'a str>) -> bool,
) -> bool {
    let bytes = s.as_bytes();
    let mut i = 0;
    loop {
        while i < bytes.len() && is_ws(bytes[i]) {
            i += 1;
        }
        if i == bytes.len() {
            return true;
        }
        if bytes[i] != b';' {
            return false;
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
            return false;
        }
        let Some(name) = s.get(name_start..i) else {
            return false;
        };
        while i < bytes.len() && is_ws(bytes[i]) {
            i += 1;
        }
        let value = if i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            while i < bytes.len() && is_ws(bytes[i]) {
                i += 1;
            }
            let v_start = i;
            if bytes.get(i) == Some(&b'"') {
                let Some(n) = quoted_len(&bytes[i..]) else {
                    return false;
                };
                i += n;
            } else {
                // gen-value = token / host (host may be an IPv6 reference)
                while i < bytes.len()
                    && (is_token_char(bytes[i]) || matches!(bytes[i], b'[' | b']' | b':'))
                {
                    i += 1;
                }
                if i == v_start {
                    return false;
                }
            }
            let Some(v) = s.get(v_start..i) else {
                return false;
            };
            Some(v)
        } else {
            None
        };
        if !f(name, value) {
            return false;
        }
    }
}

/// Parses `;name[=value]` parameters into owned pairs (see
/// [`scan_generic_params`]).
pub(crate) fn parse_generic_params(s: &str) -> Option<Vec<(String, Option<String>)>> {
    let mut params = Vec::new();
    scan_generic_params(s, |name, value| {
        params.push((name.to_owned(), value.map(str::to_owned)));
        true
    })
    .then_some(params)
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
    let split = v.bytes().position(is_ws)?;
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
    let end = memchr(b'\n', buf).unwrap_or(buf.len());
    let line = &buf[..end];
    !line.starts_with(b"SIP/") && memchr::memmem::find(line, b" SIP/").is_some()
}

fn parse_start_line(line: &str, is_request: bool) -> Result<StartLine, ParseError> {
    let bad = |kind, offset| ParseError {
        kind,
        offset,
        is_request,
    };
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
    let bytes = line.as_bytes();
    let (Some(first), Some(last)) = (memchr(b' ', bytes), memchr::memrchr(b' ', bytes)) else {
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
    let uri = parse_uri_ref(uri_text).map_err(|_| bad(ParseErrorKind::BadRequestUri, first + 1))?;
    // RFC 3261 §19.1.1: headers are not allowed in a Request-URI (RFC 4475
    // escruri: we reject rather than strip).
    if uri.headers.is_some() {
        return Err(bad(ParseErrorKind::BadRequestUri, first + 1));
    }
    Ok(StartLine::Request {
        method,
        uri: uri.build(),
    })
}

/// Where a line ends: `(content_end, next_line_start, may_hold_cr)`.
/// Accepts CRLF and bare LF; `None` if no LF is in `buf[from..]`. A CR
/// elsewhere than before the LF stays in the content (callers reject it);
/// `may_hold_cr` is false when the content surely has none.
#[inline]
fn line_end(buf: &[u8], from: usize) -> Option<(usize, usize, bool)> {
    let rest = buf.get(from..)?;
    // Fast path: the first CR or LF ends the line (CRLF or bare LF).
    match memchr2(b'\r', b'\n', rest) {
        Some(p) if rest[p] == b'\n' => return Some((from + p, from + p + 1, false)),
        Some(p) if rest.get(p + 1) == Some(&b'\n') => {
            return Some((from + p, from + p + 2, false));
        }
        None => return None,
        Some(_) => {}
    }
    // A stray CR: the line still ends at the next LF.
    let lf = from + memchr(b'\n', rest)?;
    let end = if lf > from && buf[lf - 1] == b'\r' {
        lf - 1
    } else {
        lf
    };
    Some((end, lf + 1, true))
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
    // One UTF-8 check for the whole input: a line that ends within `text`
    // is valid text, one that ends past it is not.
    let text = match std::str::from_utf8(buf) {
        Ok(t) => t,
        Err(e) => std::str::from_utf8(&buf[..e.valid_up_to()])
            .expect("the input is valid UTF-8 up to valid_up_to"),
    };
    let full = text;
    let Some((sl_end, mut pos, may_hold_cr)) = line_end(buf, 0) else {
        return Err(bad(ParseErrorKind::Incomplete, buf.len()));
    };
    if may_hold_cr && memchr(b'\r', &buf[..sl_end]).is_some() {
        return Err(bad(ParseErrorKind::BadStartLine, 0));
    }
    let Some(start_line) = text.get(..sl_end) else {
        return Err(bad(ParseErrorKind::BadStartLine, text.len()));
    };
    let start = parse_start_line(start_line, is_request)?;

    let mut headers: Vec<Header> = Vec::with_capacity(16);
    let body_start;
    loop {
        let Some((end, next, may_hold_cr)) = line_end(buf, pos) else {
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
        if may_hold_cr && memchr(b'\r', line).is_some() {
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
            let Some(text) = text.get(pos..end) else {
                return Err(bad(ParseErrorKind::BadHeaderLine, pos));
            };
            let text = trim_ws(text);
            if !text.is_empty() {
                if let Some((s, e)) = last.value.pending_range() {
                    last.value = HeaderValue::from(&full[s..e]);
                }
                if last.value.len() + 1 + text.len() > limits.max_header_value {
                    return Err(bad(
                        ParseErrorKind::TooLarge {
                            what: "header value",
                        },
                        pos,
                    ));
                }
                let value = last.value.make_mut();
                if !value.is_empty() {
                    value.push(' ');
                }
                value.push_str(text);
            }
        } else {
            if headers.len() >= limits.max_headers {
                return Err(bad(ParseErrorKind::TooLarge { what: "headers" }, pos));
            }
            // field-name HCOLON: a token, optional whitespace, a colon; and
            // the whole line must be text.
            let name_end = line
                .iter()
                .position(|&c| !is_token_char(c))
                .unwrap_or(line.len());
            let mut colon = name_end;
            while colon < line.len() && is_ws(line[colon]) {
                colon += 1;
            }
            let (true, Some(b':'), Some(line_text)) =
                (name_end > 0, line.get(colon), text.get(pos..end))
            else {
                return Err(bad(ParseErrorKind::BadHeaderLine, pos));
            };
            let name = HeaderName::from_token(&line_text[..name_end]);
            let value = trim_ws(line_text.get(colon + 1..).unwrap_or(""));
            if value.len() > limits.max_header_value {
                return Err(bad(
                    ParseErrorKind::TooLarge {
                        what: "header value",
                    },
                    pos,
                ));
            }
            // Where `value` lies in the text: a range of the shared copy made below.
            let at = value.as_ptr() as usize - full.as_ptr() as usize;
            let value = HeaderValue::pending(at, at + value.len())
                .unwrap_or_else(|| HeaderValue::from(value));
            headers.push(Header { name, value });
        }
        pos = next;
    }
    // One copy of the header lines for every value to share.
    let shared: Arc<str> = Arc::from(full.get(..body_start).unwrap_or(full));
    for h in &mut headers {
        h.value.resolve(&shared);
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
                    parse_via_ref(piece).map_err(|_| bad_header("Via"))?;
                }
            }
            HeaderName::From => {
                once(&mut from, "From", &bad)?;
                parse_name_addr_ref(v).map_err(|_| bad_header("From"))?;
            }
            HeaderName::To => {
                once(&mut to, "To", &bad)?;
                parse_name_addr_ref(v).map_err(|_| bad_header("To"))?;
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
                if memchr(b'/', v.as_bytes()).is_none() {
                    return Err(bad_header("Content-Type"));
                }
            }
            HeaderName::Contact if v != "*" => {
                for piece in split_commas(v) {
                    parse_name_addr_ref(piece).map_err(|_| bad_header("Contact"))?;
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
