//! SIP text for calls: a lenient reader of any request or response (the
//! headers a UA needs to answer or continue a dialog) and writers for the
//! INVITE/ACK/BYE a caller sends and the responses a callee sends. Not a
//! full parser on purpose: the generator must stay cheaper than the server.

use std::fmt::Write as _;

/// Start line of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start<'a> {
    Request { method: &'a str, uri: &'a str },
    Response { status: u16 },
}

/// The parts of a SIP message the generator uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Msg<'a> {
    pub(crate) start: Start<'a>,
    /// Every Via header value, in order (one entry per header line).
    pub(crate) vias: Vec<&'a str>,
    pub(crate) from: &'a str,
    pub(crate) to: &'a str,
    pub(crate) call_id: &'a str,
    pub(crate) cseq: u32,
    pub(crate) cseq_method: &'a str,
    pub(crate) contact: Option<&'a str>,
    /// Every Record-Route header value, in order.
    pub(crate) record_route: Vec<&'a str>,
    /// (is Proxy-Authenticate, value) per challenge header.
    pub(crate) challenges: Vec<(bool, &'a str)>,
    pub(crate) body: &'a [u8],
}

impl Msg<'_> {
    pub(crate) fn status(&self) -> Option<u16> {
        match self.start {
            Start::Response { status } => Some(status),
            Start::Request { .. } => None,
        }
    }
}

/// Reads a datagram; `None` for garbage or a message without the headers
/// every SIP message has (From, To, Call-ID, CSeq).
pub(crate) fn parse(buf: &[u8]) -> Option<Msg<'_>> {
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..split]).ok()?;
    let body_all = &buf[split + 4..];
    let mut lines = head.split("\r\n");
    let first = lines.next()?;
    let start = if let Some(rest) = first.strip_prefix("SIP/2.0 ") {
        Start::Response {
            status: rest.get(..3)?.parse().ok()?,
        }
    } else {
        let mut it = first.split(' ');
        let method = it.next()?;
        let uri = it.next()?;
        if it.next()? != "SIP/2.0" {
            return None;
        }
        Start::Request { method, uri }
    };
    let mut m = Msg {
        start,
        vias: Vec::with_capacity(2),
        from: "",
        to: "",
        call_id: "",
        cseq: 0,
        cseq_method: "",
        contact: None,
        record_route: Vec::new(),
        challenges: Vec::new(),
        body: &[],
    };
    let mut content_length: Option<usize> = None;
    let mut have_cseq = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        let value = value.trim();
        let is = |long: &str, short: &str| {
            name.eq_ignore_ascii_case(long)
                || (!short.is_empty() && name.eq_ignore_ascii_case(short))
        };
        if is("via", "v") {
            m.vias.push(value);
        } else if is("from", "f") {
            m.from = value;
        } else if is("to", "t") {
            m.to = value;
        } else if is("call-id", "i") {
            m.call_id = value;
        } else if is("cseq", "") {
            let mut it = value.split_ascii_whitespace();
            m.cseq = it.next()?.parse().ok()?;
            m.cseq_method = it.next()?;
            have_cseq = true;
        } else if is("contact", "m") {
            m.contact = Some(value);
        } else if is("record-route", "") {
            m.record_route.push(value);
        } else if is("proxy-authenticate", "") {
            m.challenges.push((true, value));
        } else if is("www-authenticate", "") {
            m.challenges.push((false, value));
        } else if is("content-length", "l") {
            content_length = value.parse().ok();
        }
    }
    if m.from.is_empty()
        || m.to.is_empty()
        || m.call_id.is_empty()
        || !have_cseq
        || m.vias.is_empty()
    {
        return None;
    }
    let n = content_length.unwrap_or(body_all.len()).min(body_all.len());
    m.body = &body_all[..n];
    Some(m)
}

/// The `tag` parameter of a From/To value.
pub(crate) fn tag_of(value: &str) -> Option<&str> {
    let params = match value.rfind('>') {
        Some(i) => &value[i + 1..],
        None => value,
    };
    params.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case("tag").then(|| v.trim())
    })
}

/// The URI inside a name-addr (`"x" <sip:a@b>;p` → `sip:a@b`), or the
/// addr-spec up to its parameters.
pub(crate) fn uri_of(value: &str) -> &str {
    if let (Some(a), Some(b)) = (value.find('<'), value.find('>'))
        && a < b
    {
        return &value[a + 1..b];
    }
    value.split(';').next().unwrap_or(value).trim()
}

/// The user part of a SIP URI (`sip:1001@host` → `1001`).
pub(crate) fn user_of(uri: &str) -> &str {
    let rest = uri.split_once(':').map_or(uri, |(_, r)| r);
    rest.split_once('@').map_or("", |(u, _)| u)
}

/// Expands comma-separated Record-Route header values into single route values.
pub(crate) fn split_routes<'a>(values: &[&'a str]) -> Vec<&'a str> {
    let mut out = Vec::new();
    for v in values {
        // Route values are name-addrs; split on commas outside <…>.
        let mut depth = 0u32;
        let mut start = 0;
        for (i, c) in v.char_indices() {
            match c {
                '<' => depth += 1,
                '>' => depth = depth.saturating_sub(1),
                ',' if depth == 0 => {
                    out.push(v[start..i].trim());
                    start = i + 1;
                }
                _ => {}
            }
        }
        out.push(v[start..].trim());
    }
    out.retain(|r| !r.is_empty());
    out
}

/// A request a caller sends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    pub(crate) method: &'a str,
    pub(crate) uri: &'a str,
    /// `ip:port` of the sending socket.
    pub(crate) local: &'a str,
    pub(crate) branch: &'a str,
    /// Full From value (with tag).
    pub(crate) from: &'a str,
    /// Full To value (with the remote tag once known).
    pub(crate) to: &'a str,
    pub(crate) call_id: &'a str,
    pub(crate) cseq: u32,
    /// Contact user; `None` leaves Contact out.
    pub(crate) contact_user: Option<&'a str>,
    /// Route set, in order.
    pub(crate) routes: &'a [String],
    /// (header name, value) for Authorization/Proxy-Authorization.
    pub(crate) auth: Option<(&'a str, &'a str)>,
    pub(crate) sdp: Option<&'a str>,
}

/// Writes `r` into `out` (cleared first).
pub(crate) fn write_request(r: &Request<'_>, out: &mut Vec<u8>) {
    out.clear();
    let mut s = String::with_capacity(600 + r.sdp.map_or(0, str::len));
    let _ = write!(
        s,
        "{m} {u} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bK{b};rport\r\nMax-Forwards: 70\r\n",
        m = r.method,
        u = r.uri,
        l = r.local,
        b = r.branch
    );
    for route in r.routes {
        let _ = write!(s, "Route: {route}\r\n");
    }
    let _ = write!(
        s,
        "From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} {}\r\n",
        r.from, r.to, r.call_id, r.cseq, r.method
    );
    if let Some(user) = r.contact_user {
        let _ = write!(s, "Contact: <sip:{user}@{}>\r\n", r.local);
    }
    if let Some((name, value)) = r.auth {
        let _ = write!(s, "{name}: {value}\r\n");
    }
    if r.method == "INVITE" {
        s.push_str("Allow: INVITE, ACK, BYE, CANCEL, OPTIONS\r\n");
    }
    s.push_str("User-Agent: vpbx-loadgen\r\n");
    match r.sdp {
        Some(body) => {
            let _ = write!(
                s,
                "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
        None => s.push_str("Content-Length: 0\r\n\r\n"),
    }
    out.extend_from_slice(s.as_bytes());
}

/// A response a callee sends to request `req`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Response<'a> {
    pub(crate) status: u16,
    pub(crate) reason: &'a str,
    /// Added to To when it has no tag yet.
    pub(crate) to_tag: &'a str,
    /// `user@ip:port` for Contact (INVITE 1xx/2xx), or `None`.
    pub(crate) contact: Option<&'a str>,
    pub(crate) sdp: Option<&'a str>,
}

/// Writes a response to `req` into `out` (cleared first): Via, From, Call-ID
/// and CSeq copied; Record-Route copied for responses to INVITE.
pub(crate) fn write_response(req: &Msg<'_>, r: &Response<'_>, out: &mut Vec<u8>) {
    out.clear();
    let mut s = String::with_capacity(500 + r.sdp.map_or(0, str::len));
    let _ = write!(s, "SIP/2.0 {} {}\r\n", r.status, r.reason);
    for v in &req.vias {
        let _ = write!(s, "Via: {v}\r\n");
    }
    if req.cseq_method == "INVITE" && r.status > 100 && r.status < 300 {
        for rr in &req.record_route {
            let _ = write!(s, "Record-Route: {rr}\r\n");
        }
    }
    let _ = write!(s, "From: {}\r\nTo: {}", req.from, req.to);
    if r.status > 100 && tag_of(req.to).is_none() {
        let _ = write!(s, ";tag={}", r.to_tag);
    }
    let _ = write!(
        s,
        "\r\nCall-ID: {}\r\nCSeq: {} {}\r\n",
        req.call_id, req.cseq, req.cseq_method
    );
    if let Some(c) = r.contact {
        let _ = write!(s, "Contact: <sip:{c}>\r\n");
    }
    s.push_str("Server: vpbx-loadgen\r\n");
    match r.sdp {
        Some(body) => {
            let _ = write!(
                s,
                "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
        None => s.push_str("Content-Length: 0\r\n\r\n"),
    }
    out.extend_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:1000@127.0.0.1:5062 SIP/2.0\r\n\
Record-Route: <sip:127.0.0.1:5060;lr=on>\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKp1\r\n\
v: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bKu1;rport=5061\r\n\
f: <sip:2000@t0.bench.test>;tag=abc\r\n\
t: <sip:1000@t0.bench.test>\r\n\
i: call-1@lg\r\nCSeq: 2 INVITE\r\nm: <sip:2000@127.0.0.1:5061>\r\n\
Content-Type: application/sdp\r\nl: 5\r\n\r\nv=0\r\nEXTRA";

    #[test]
    fn a_proxied_invite_yields_every_via_the_record_route_and_the_body() {
        let m = parse(INVITE).unwrap();
        assert_eq!(
            m.start,
            Start::Request {
                method: "INVITE",
                uri: "sip:1000@127.0.0.1:5062"
            }
        );
        assert_eq!(m.vias.len(), 2);
        assert_eq!(m.record_route, vec!["<sip:127.0.0.1:5060;lr=on>"]);
        assert_eq!(m.call_id, "call-1@lg");
        assert_eq!((m.cseq, m.cseq_method), (2, "INVITE"));
        assert_eq!(m.body, b"v=0\r\n");
        assert_eq!(tag_of(m.from), Some("abc"));
        assert_eq!(tag_of(m.to), None);
        assert_eq!(user_of(uri_of(m.contact.unwrap())), "2000");
    }

    #[test]
    fn a_response_copies_vias_and_record_route_and_adds_the_to_tag_once() {
        let req = parse(INVITE).unwrap();
        let mut out = Vec::new();
        write_response(
            &req,
            &Response {
                status: 200,
                reason: "OK",
                to_tag: "uas1",
                contact: Some("1000@127.0.0.1:5062"),
                sdp: Some("v=0\r\n"),
            },
            &mut out,
        );
        let r = parse(&out).unwrap();
        assert_eq!(r.status(), Some(200));
        assert_eq!(r.vias, req.vias);
        assert_eq!(r.record_route, req.record_route);
        assert_eq!(tag_of(r.to), Some("uas1"));
        assert_eq!(r.body, b"v=0\r\n");
        assert_eq!(r.cseq_method, "INVITE");
    }

    #[test]
    fn a_bye_carries_the_route_set_and_no_body() {
        let routes = vec!["<sip:127.0.0.1:5060;lr>".to_string()];
        let mut out = Vec::new();
        write_request(
            &Request {
                method: "BYE",
                uri: "sip:1000@127.0.0.1:5062",
                local: "127.0.0.1:5061",
                branch: "b3",
                from: "<sip:2000@d>;tag=f",
                to: "<sip:1000@d>;tag=t",
                call_id: "c@lg",
                cseq: 3,
                contact_user: None,
                routes: &routes,
                auth: None,
                sdp: None,
            },
            &mut out,
        );
        let text = std::str::from_utf8(&out).unwrap();
        assert!(text.starts_with("BYE sip:1000@127.0.0.1:5062 SIP/2.0\r\n"));
        assert!(text.contains("\r\nRoute: <sip:127.0.0.1:5060;lr>\r\n"));
        assert!(text.contains("\r\nCSeq: 3 BYE\r\n"));
        assert!(text.ends_with("Content-Length: 0\r\n\r\n"));
        assert!(parse(&out).is_some());
    }

    #[test]
    fn record_routes_split_on_commas_outside_angle_brackets() {
        let v = ["<sip:a;lr>, <sip:b;lr>", "<sip:c;lr;x=\"1\">"];
        assert_eq!(
            split_routes(&v),
            vec!["<sip:a;lr>", "<sip:b;lr>", "<sip:c;lr;x=\"1\">"]
        );
    }

    #[test]
    fn garbage_and_messages_without_core_headers_are_rejected() {
        assert_eq!(parse(b"hello"), None);
        assert_eq!(parse(b"SIP/2.0 200 OK\r\nCall-ID: a\r\n\r\n"), None);
        assert_eq!(parse(b"INVITE sip:a SIP/3.0\r\n\r\n"), None);
    }
}
