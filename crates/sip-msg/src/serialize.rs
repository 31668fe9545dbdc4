// Serialization of messages, URIs and header values.

use crate::{HeaderName, Headers, Request, Response};

/// Writes a header value, turning any CR or LF (only possible in values set
/// by hand) into SP so a value can never end the header line early.
fn write_value(out: &mut Vec<u8>, v: &str) {
    if v.bytes().any(|b| b == b'\r' || b == b'\n') {
        out.extend(
            v.bytes()
                .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
    } else {
        out.extend_from_slice(v.as_bytes());
    }
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
    out.extend_from_slice(n.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

pub(crate) fn write_request(r: &Request, out: &mut Vec<u8>) {
    out.extend_from_slice(r.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(r.uri.to_string().as_bytes());
    out.extend_from_slice(b" SIP/2.0\r\n");
    write_headers(&r.headers, r.body.len(), out);
    out.extend_from_slice(&r.body);
}

pub(crate) fn write_response(r: &Response, out: &mut Vec<u8>) {
    out.extend_from_slice(b"SIP/2.0 ");
    out.extend_from_slice(r.status.as_u16().to_string().as_bytes());
    out.push(b' ');
    write_value(out, &r.reason);
    out.extend_from_slice(b"\r\n");
    write_headers(&r.headers, r.body.len(), out);
    out.extend_from_slice(&r.body);
}
