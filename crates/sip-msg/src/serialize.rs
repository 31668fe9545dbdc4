// Serialization of messages, URIs and header values.

use memchr::memchr2;

use crate::parser::{find_param_range, name_addr_params_start, split_commas};
use crate::{HeaderName, Headers, Request, Response, StatusCode};

/// A number's decimal digits, formatted on the stack (no `fmt` machinery, no allocation).
#[derive(Debug, Clone, Copy)]
pub struct Decimal {
    digits: [u8; 20],
    start: usize,
}

impl Decimal {
    pub fn new(mut n: u64) -> Decimal {
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        Decimal { digits, start }
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.digits[self.start..]
    }
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or("0")
    }
}

/// Appends `n` in decimal.
pub(crate) fn push_decimal(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(Decimal::new(n).as_bytes());
}

/// Writes a header value, turning any CR or LF (only possible in values set
/// by hand) into SP so a value can never end the header line early.
fn write_value(out: &mut Vec<u8>, v: &str) {
    if memchr2(b'\r', b'\n', v.as_bytes()).is_some() {
        out.extend(
            v.bytes()
                .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
    } else {
        out.extend_from_slice(v.as_bytes());
    }
}

/// Roughly how many octets the header section takes, to size the output
/// once.
fn headers_len(headers: &Headers) -> usize {
    headers
        .iter()
        .map(|h| h.name.as_str().len() + h.value.len() + 4)
        .sum::<usize>()
        + 32
}

fn write_headers(headers: &Headers, body_len: usize, out: &mut Vec<u8>) {
    let mut wrote_length = false;
    for h in headers.iter() {
        if h.name == HeaderName::ContentLength {
            if !wrote_length {
                write_content_length(out, body_len);
                wrote_length = true;
            }
            continue;
        }
        out.extend_from_slice(h.name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        write_value(out, &h.value);
        out.extend_from_slice(b"\r\n");
    }
    if !wrote_length {
        write_content_length(out, body_len);
    }
    out.extend_from_slice(b"\r\n");
}

fn write_content_length(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(b"Content-Length: ");
    push_decimal(out, n as u64);
    out.extend_from_slice(b"\r\n");
}

pub(crate) fn write_request(r: &Request, out: &mut Vec<u8>) {
    out.reserve(headers_len(&r.headers) + 128 + r.body.len());
    out.extend_from_slice(r.method.as_str().as_bytes());
    out.push(b' ');
    r.uri.write_bytes(out);
    out.extend_from_slice(b" SIP/2.0\r\n");
    write_headers(&r.headers, r.body.len(), out);
    out.extend_from_slice(&r.body);
}

fn write_line(out: &mut Vec<u8>, name: &HeaderName, value: &str) {
    out.extend_from_slice(name.as_str().as_bytes());
    out.extend_from_slice(b": ");
    write_value(out, value);
    out.extend_from_slice(b"\r\n");
}

/// See [`Request::write_response_to`]: the same bytes as
/// `make_response` + replacing the top Via value + `set_to_tag` + pushes +
/// `write_response`.
pub(crate) fn write_quick_response(
    req: &Request,
    status: StatusCode,
    top_via: &str,
    to_tag: Option<&str>,
    extra: &[(HeaderName, &str)],
    out: &mut Vec<u8>,
) -> bool {
    let headers = &req.headers;
    let first_via = headers.iter().position(|h| h.name == HeaderName::Via);
    if let Some(i) = first_via {
        let mut values = split_commas(&headers.list[i].value);
        values.next();
        if values.next().is_some() {
            return false;
        }
    }
    let to = headers.iter().find(|h| h.name == HeaderName::To);
    // Where `;tag=…` goes: at the end of To, unless it has a tag already.
    if let (Some(_), Some(to)) = (to_tag, to) {
        let Some(start) = name_addr_params_start(&to.value) else {
            return false;
        };
        if find_param_range(&to.value[start..], "tag").is_some() {
            return false;
        }
    }
    let reason = status.canonical_reason();
    let len = 64
        + reason.len()
        + top_via.len()
        + to_tag.map_or(0, str::len)
        + headers
            .iter()
            .filter(|h| {
                matches!(
                    h.name,
                    HeaderName::Via
                        | HeaderName::From
                        | HeaderName::To
                        | HeaderName::CallId
                        | HeaderName::CSeq
                )
            })
            .map(|h| h.name.as_str().len() + h.value.len() + 4)
            .sum::<usize>()
        + extra
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .sum::<usize>();
    out.reserve(len);
    out.extend_from_slice(b"SIP/2.0 ");
    push_decimal(out, u64::from(status.as_u16()));
    out.push(b' ');
    write_value(out, reason);
    out.extend_from_slice(b"\r\n");
    // The top Via first (it was taken out and put back in front), then
    // the other Via lines in order.
    if first_via.is_some() {
        write_line(out, &HeaderName::Via, top_via);
    }
    for (i, h) in headers.iter().enumerate() {
        if h.name == HeaderName::Via && Some(i) != first_via {
            write_line(out, &h.name, &h.value);
        }
    }
    for name in [
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
    ] {
        let Some(h) = headers.iter().find(|h| h.name == name) else {
            continue;
        };
        out.extend_from_slice(h.name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        write_value(out, &h.value);
        if let (HeaderName::To, Some(tag)) = (&h.name, to_tag) {
            out.extend_from_slice(b";tag=");
            write_value(out, tag);
        }
        out.extend_from_slice(b"\r\n");
    }
    let mut wrote_length = false;
    for (name, value) in extra {
        if *name == HeaderName::ContentLength {
            if !wrote_length {
                write_content_length(out, 0);
                wrote_length = true;
            }
            continue;
        }
        write_line(out, name, value);
    }
    if !wrote_length {
        write_content_length(out, 0);
    }
    out.extend_from_slice(b"\r\n");
    true
}

pub(crate) fn write_response(r: &Response, out: &mut Vec<u8>) {
    out.reserve(headers_len(&r.headers) + 16 + r.reason.len() + r.body.len());
    out.extend_from_slice(b"SIP/2.0 ");
    push_decimal(out, u64::from(r.status.as_u16()));
    out.push(b' ');
    write_value(out, &r.reason);
    out.extend_from_slice(b"\r\n");
    write_headers(&r.headers, r.body.len(), out);
    out.extend_from_slice(&r.body);
}

#[cfg(test)]
mod tests {
    use super::Decimal;

    #[test]
    fn decimal_writes_zero_and_the_largest_number() {
        for n in [0, 7, 10, 3600, u64::MAX] {
            let mut s = String::from("x");
            s.push_str(Decimal::new(n).as_str());
            assert_eq!(s, format!("x{n}"));
        }
    }
}
