//! Transaction handles and the keys messages are matched by (RFC 3261
//! §17.1.3, §17.2.3).

use sip_msg::{Host, Method, Request, Response};

use crate::util::first_value;

/// An opaque handle on one transaction of an [`Endpoint`](crate::Endpoint).
/// Handles are never reused by an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxnKey(pub(crate) u64);

impl std::fmt::Display for TxnKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "txn#{}", self.0)
    }
}

/// What a message is matched by in the endpoint's hash index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum MatchKey {
    /// RFC 3261 §17.1.3: a response matches the client transaction with the
    /// branch of its top Via and the method of its CSeq.
    Client { branch: Box<str>, method: Method },
    /// RFC 3261 §17.2.3: branch, sent-by and method (ACK counts as INVITE).
    Server {
        branch: Box<str>,
        host: Host,
        port: Option<u16>,
        method: Method,
    },
    /// RFC 3261 §17.2.3 for RFC 2543 peers (no magic cookie): Request-URI,
    /// From tag, Call-ID, CSeq number, top Via and method. The To tag is
    /// checked after the lookup (an ACK carries the tag of our response).
    Rfc2543 {
        uri: Box<str>,
        from_tag: Option<Box<str>>,
        call_id: Box<str>,
        cseq: u32,
        top_via: Box<str>,
        method: Method,
    },
}

impl MatchKey {
    /// The client key of a response; `None` without top Via branch or CSeq.
    pub(crate) fn of_response(resp: &Response) -> Option<MatchKey> {
        let via = resp.headers.top_via()?;
        let cseq = resp.headers.cseq()?;
        Some(MatchKey::Client {
            branch: via.branch?.into(),
            method: cseq.method,
        })
    }

    /// The client key of a request we send; `None` without an RFC 3261 branch.
    pub(crate) fn of_sent_request(req: &Request) -> Option<MatchKey> {
        let via = req.headers.top_via()?;
        if !via.has_rfc3261_branch() {
            return None;
        }
        Some(MatchKey::Client {
            branch: via.branch?.into(),
            method: req.method.clone(),
        })
    }

    /// The server key of a received request, with `method` in place of the
    /// request's own (ACK → INVITE, CANCEL → INVITE for the cancelled one).
    pub(crate) fn of_received_request(req: &Request, method: Method) -> Option<MatchKey> {
        let via = req.headers.top_via()?;
        if via.has_rfc3261_branch() {
            return Some(MatchKey::Server {
                branch: via.branch?.into(),
                host: via.host,
                port: via.port,
                method,
            });
        }
        let top_via = first_value(&req.headers, &sip_msg::HeaderName::Via)?;
        Some(MatchKey::Rfc2543 {
            uri: req.uri.to_string().into(),
            from_tag: req.headers.from_tag().map(Into::into),
            call_id: req.headers.call_id()?.into(),
            cseq: req.headers.cseq()?.seq,
            top_via: top_via.into(),
            method,
        })
    }

    pub(crate) fn is_rfc2543(&self) -> bool {
        matches!(self, MatchKey::Rfc2543 { .. })
    }
}

/// Matches an ACK for a 2xx to the INVITE server transaction that sent it
/// (the ACK has a new branch, RFC 3261 §13.3.1.4 / §17.2.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct DialogCseqKey {
    pub(crate) call_id: Box<str>,
    pub(crate) from_tag: Option<Box<str>>,
    pub(crate) cseq: u32,
}

impl DialogCseqKey {
    pub(crate) fn of(req: &Request, cseq: u32) -> Option<DialogCseqKey> {
        Some(DialogCseqKey {
            call_id: req.headers.call_id()?.into(),
            from_tag: req.headers.from_tag().map(Into::into),
            cseq,
        })
    }
}
