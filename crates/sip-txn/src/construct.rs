//! Requests the transaction layer builds itself: CANCEL (RFC 3261 §9.1),
//! ACK for a 300-699 (§17.1.1.3), and the RFC 3262 RSeq/RAck values.

use bytes::Bytes;
use sip_msg::{HeaderName, Method, Request, Response};

use crate::util::first_value;

/// Copies the header lines every CANCEL and non-2xx ACK shares with the
/// INVITE: the top Via only, Route lines, Max-Forwards, From, Call-ID.
fn hop_copy(invite: &Request, method: Method, to: Option<&str>) -> Request {
    let mut r = Request {
        method: method.clone(),
        uri: invite.uri.clone(),
        headers: Default::default(),
        body: Bytes::new(),
    };
    let h = &mut r.headers;
    if let Some(via) = first_value(&invite.headers, &HeaderName::Via) {
        h.push(HeaderName::Via, via);
    }
    for route in invite.headers.get_all(&HeaderName::Route) {
        h.push(HeaderName::Route, route);
    }
    h.push(HeaderName::MaxForwards, "70");
    if let Some(from) = invite.headers.get(&HeaderName::From) {
        h.push(HeaderName::From, from);
    }
    if let Some(to) = to.or_else(|| invite.headers.get(&HeaderName::To)) {
        h.push(HeaderName::To, to);
    }
    if let Some(call_id) = invite.headers.get(&HeaderName::CallId) {
        h.push(HeaderName::CallId, call_id);
    }
    let seq = invite.headers.cseq().map_or(0, |c| c.seq);
    h.push(HeaderName::CSeq, format!("{seq} {method}"));
    r
}

/// RFC 3261 §9.1: the CANCEL for `invite`. Same Request-URI, Call-ID, From,
/// To, CSeq number and top Via (so the same branch), Route copied, method
/// CANCEL. A CANCEL may be sent only after a provisional response; the
/// [`Endpoint::cancel`](crate::Endpoint::cancel) command enforces that.
pub fn cancel_for(invite: &Request) -> Request {
    hop_copy(invite, Method::Cancel, None)
}

/// RFC 3261 §17.1.1.3: the ACK the INVITE client transaction sends for a
/// 300-699: the INVITE's Request-URI, Call-ID, From, CSeq number, top Via and
/// Route, with the To of the response (it carries the UAS's tag).
pub fn ack_for_non_2xx(invite: &Request, response: &Response) -> Request {
    hop_copy(invite, Method::Ack, response.headers.get(&HeaderName::To))
}

/// The RAck header value (RFC 3262 §7.2): `response-num CSeq-num method`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RAck {
    pub rseq: u32,
    pub cseq: u32,
    pub method: Method,
}

impl RAck {
    /// Parses `"<rseq> <cseq> <method>"`; `None` if malformed.
    pub fn parse(s: &str) -> Option<RAck> {
        let mut it = s.split_ascii_whitespace();
        let rseq = it.next()?.parse().ok()?;
        let cseq = it.next()?.parse().ok()?;
        let method = Method::from_token(it.next()?)?;
        if it.next().is_some() {
            return None;
        }
        Some(RAck { rseq, cseq, method })
    }

    /// The RAck of a PRACK request, if present and well formed.
    pub fn of(req: &Request) -> Option<RAck> {
        RAck::parse(req.headers.get(&HeaderName::RAck)?)
    }

    /// The RAck that acknowledges the reliable provisional `resp`.
    pub fn for_response(resp: &Response) -> Option<RAck> {
        let cseq = resp.headers.cseq()?;
        Some(RAck {
            rseq: rseq_of(resp)?,
            cseq: cseq.seq,
            method: cseq.method,
        })
    }
}

impl std::fmt::Display for RAck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.rseq, self.cseq, self.method)
    }
}

/// The RSeq of a provisional response (RFC 3262 §7.1), if present and valid.
pub fn rseq_of(resp: &Response) -> Option<u32> {
    resp.headers.get(&HeaderName::RSeq)?.trim().parse().ok()
}

/// True when `resp` is a reliable provisional (RFC 3262 §4): 101-199 with
/// `Require: 100rel` and an RSeq.
pub fn is_reliable_provisional(resp: &Response) -> bool {
    let code = resp.status.as_u16();
    (101..200).contains(&code)
        && rseq_of(resp).is_some()
        && resp
            .headers
            .get_all(&HeaderName::Require)
            .flat_map(|l| l.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("100rel"))
}
