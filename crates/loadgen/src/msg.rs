//! The SIP text the generator sends, and the little it reads from the
//! responses: status, Call-ID, CSeq number and the challenges. Minimal on
//! purpose — the generator must stay cheaper than the server it measures.

use std::fmt::Write as _;

/// Replaces `{t}` (tenant index), `{ext}` and `{domain}` in `pattern`.
pub(crate) fn expand(pattern: &str, t: u64, ext: u64, domain: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut rest = pattern;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(r) = tail.strip_prefix("{t}") {
            let _ = write!(out, "{t}");
            rest = r;
        } else if let Some(r) = tail.strip_prefix("{ext}") {
            let _ = write!(out, "{ext}");
            rest = r;
        } else if let Some(r) = tail.strip_prefix("{domain}") {
            out.push_str(domain);
            rest = r;
        } else {
            out.push('{');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// One REGISTER to write.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Register<'a> {
    pub(crate) domain: &'a str,
    pub(crate) ext: &'a str,
    /// `ip:port` of the sending socket (Via sent-by and Contact).
    pub(crate) local: &'a str,
    pub(crate) call_id: &'a str,
    pub(crate) from_tag: &'a str,
    pub(crate) branch: &'a str,
    pub(crate) cseq: u32,
    pub(crate) expires: u32,
    pub(crate) authorization: Option<&'a str>,
}

/// The Request-URI (and digest-uri) of a REGISTER for `domain`.
pub(crate) fn request_uri(domain: &str) -> String {
    format!("sip:{domain}")
}

/// Writes the REGISTER into `out` (cleared first).
pub(crate) fn write_register(r: &Register<'_>, out: &mut Vec<u8>) {
    out.clear();
    let mut s = String::with_capacity(420 + r.authorization.map_or(0, str::len));
    let _ = write!(
        s,
        "REGISTER sip:{d} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {l};branch=z9hG4bK{b};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{e}@{d}>;tag={tag}\r\n\
         To: <sip:{e}@{d}>\r\n\
         Call-ID: {c}\r\n\
         CSeq: {n} REGISTER\r\n\
         Contact: <sip:{e}@{l}>\r\n\
         Expires: {x}\r\n\
         User-Agent: vpbx-loadgen\r\n",
        d = r.domain,
        l = r.local,
        b = r.branch,
        e = r.ext,
        tag = r.from_tag,
        c = r.call_id,
        n = r.cseq,
        x = r.expires,
    );
    if let Some(a) = r.authorization {
        s.push_str("Authorization: ");
        s.push_str(a);
        s.push_str("\r\n");
    }
    s.push_str("Content-Length: 0\r\n\r\n");
    out.extend_from_slice(s.as_bytes());
}

/// What the generator needs from a response.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Reply<'a> {
    pub(crate) status: u16,
    pub(crate) call_id: &'a str,
    pub(crate) cseq: u32,
    pub(crate) www_authenticate: Vec<&'a str>,
}

/// Reads a SIP response datagram; `None` for anything else (requests,
/// garbage, a response without Call-ID or CSeq).
pub(crate) fn parse_reply(buf: &[u8]) -> Option<Reply<'_>> {
    let text = std::str::from_utf8(buf).ok()?;
    let head = text.split("\r\n\r\n").next()?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let rest = status_line.strip_prefix("SIP/2.0 ")?;
    let status: u16 = rest.get(..3)?.parse().ok()?;
    let mut call_id = None;
    let mut cseq = None;
    let mut www_authenticate = Vec::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        let value = value.trim();
        if name.eq_ignore_ascii_case("call-id") || name.eq_ignore_ascii_case("i") {
            call_id = Some(value);
        } else if name.eq_ignore_ascii_case("cseq") {
            cseq = value
                .split_ascii_whitespace()
                .next()
                .and_then(|n| n.parse().ok());
        } else if name.eq_ignore_ascii_case("www-authenticate") {
            www_authenticate.push(value);
        }
    }
    Some(Reply {
        status,
        call_id: call_id?,
        cseq: cseq?,
        www_authenticate,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn patterns_expand_tenant_extension_and_domain() {
        assert_eq!(expand("t{t}.bench.test", 7, 1001, ""), "t7.bench.test");
        assert_eq!(
            expand("pw-{t}-{ext}@{domain}", 3, 1042, "t3.x"),
            "pw-3-1042@t3.x"
        );
        assert_eq!(expand("plain{", 1, 2, "d"), "plain{");
        assert_eq!(expand("{unknown}", 1, 2, "d"), "{unknown}");
    }

    #[test]
    fn a_register_parses_as_sip_and_carries_the_authorization() {
        let mut out = Vec::new();
        let r = Register {
            domain: "t1.bench.test",
            ext: "1001",
            local: "127.0.0.1:40000",
            call_id: "abc-1",
            from_tag: "f1",
            branch: "x1",
            cseq: 2,
            expires: 60,
            authorization: Some("Digest username=\"1001\""),
        };
        write_register(&r, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("REGISTER sip:t1.bench.test SIP/2.0\r\n"));
        assert!(text.contains("\r\nTo: <sip:1001@t1.bench.test>\r\n"));
        assert!(text.contains("\r\nCSeq: 2 REGISTER\r\n"));
        assert!(text.contains("\r\nAuthorization: Digest username=\"1001\"\r\n"));
        assert!(text.ends_with("Content-Length: 0\r\n\r\n"));
    }

    #[test]
    fn a_challenge_reply_yields_status_call_id_cseq_and_challenges() {
        let buf = b"SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKx\r\n\
i: run-0-5@lg\r\nCSeq: 1 REGISTER\r\n\
WWW-Authenticate: Digest realm=\"a\", nonce=\"n\", qop=\"auth\"\r\n\
www-authenticate: Digest realm=\"a\", nonce=\"m\", algorithm=SHA-256, qop=\"auth\"\r\n\
Content-Length: 0\r\n\r\n";
        let r = parse_reply(buf).unwrap();
        assert_eq!(r.status, 401);
        assert_eq!(r.call_id, "run-0-5@lg");
        assert_eq!(r.cseq, 1);
        assert_eq!(r.www_authenticate.len(), 2);
    }

    #[test]
    fn requests_and_truncated_replies_are_ignored() {
        assert_eq!(
            parse_reply(b"OPTIONS sip:x SIP/2.0\r\nCall-ID: a\r\nCSeq: 1 OPTIONS\r\n\r\n"),
            None
        );
        assert_eq!(parse_reply(b"SIP/2.0 200 OK\r\nCall-ID: a\r\n\r\n"), None);
        assert_eq!(parse_reply(b"SIP/2.0 2"), None);
        assert_eq!(parse_reply(&[0xff, 0xfe]), None);
    }
}
