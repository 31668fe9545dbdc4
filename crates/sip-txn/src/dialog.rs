//! Dialogs (RFC 3261 §12): identity, route set, remote target, CSeq
//! bookkeeping, and building in-dialog requests (including the ACK for a 2xx
//! and RFC 3262 PRACK).

use bytes::Bytes;
use sip_msg::{ContactValue, HeaderName, Method, NameAddr, Request, Response, StatusCode, Uri};

use crate::construct::{RAck, rseq_of};
use crate::util::all_values;

/// RFC 3261 §12: a dialog is identified by Call-ID, local tag and remote tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogId {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
}

impl DialogId {
    /// The dialog an incoming request claims to belong to (§12.2.2): local
    /// tag = To tag, remote tag = From tag. `None` for a request outside a
    /// dialog (no To tag). A request whose id matches no dialog gets 481 from
    /// the caller.
    pub fn of_incoming_request(req: &Request) -> Option<DialogId> {
        Some(DialogId {
            call_id: req.headers.call_id()?.to_owned(),
            local_tag: req.headers.to_tag()?.to_owned(),
            remote_tag: req.headers.from_tag().unwrap_or_default().to_owned(),
        })
    }

    /// The dialog a response to our request creates or belongs to (§12.1.2):
    /// local tag = From tag, remote tag = To tag. Forked 2xx with different
    /// To tags give different ids.
    pub fn of_uac_response(resp: &Response) -> Option<DialogId> {
        Some(DialogId {
            call_id: resp.headers.call_id()?.to_owned(),
            local_tag: resp.headers.from_tag()?.to_owned(),
            remote_tag: resp.headers.to_tag()?.to_owned(),
        })
    }
}

/// §12.1: a dialog created by a 1xx (with To tag) is early, by a 2xx confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogState {
    Early,
    Confirmed,
}

/// Why a dialog could not be built or a request was refused by it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DialogError {
    /// A dialog-creating message lacks Call-ID, a tag or CSeq.
    #[error("message lacks {0} needed for a dialog")]
    Missing(&'static str),
    /// The response's Contact is absent or not a URI (§12.1.2 requires it).
    #[error("no usable Contact for the remote target")]
    NoContact,
    /// §12.2.2: the remote CSeq went backwards (answer 500).
    #[error("remote CSeq {got} is lower than {last}")]
    CSeqWentBackwards { last: u32, got: u32 },
}

impl DialogError {
    /// The response the UAS should send when this refuses a request.
    pub fn response(&self) -> Option<StatusCode> {
        match self {
            DialogError::CSeqWentBackwards { .. } => Some(StatusCode::SERVER_INTERNAL_ERROR),
            DialogError::Missing(_) | DialogError::NoContact => Some(StatusCode::BAD_REQUEST),
        }
    }
}

/// What a received RSeq is relative to the last one (RFC 3262 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RseqCheck {
    /// The next in order: PRACK it and hand the response up.
    New,
    /// Already seen: a retransmission, PRACK again but do not hand it up.
    Retransmission,
    /// Not the next one: discard (RFC 3262 §4).
    OutOfOrder,
}

/// The state of one dialog (RFC 3261 §12.1).
#[derive(Debug, Clone, PartialEq)]
pub struct Dialog {
    pub id: DialogId,
    pub state: DialogState,
    /// The CSeq number of the last request we sent in the dialog.
    pub local_seq: u32,
    /// The CSeq number of the last request the peer sent, once one arrived.
    pub remote_seq: Option<u32>,
    /// Our From (UAC) / To (UAS) header value, with our tag.
    pub local: String,
    /// The peer's header value, with its tag.
    pub remote: String,
    /// Where in-dialog requests go (the peer's Contact URI).
    pub remote_target: Uri,
    /// Route set, already in the order the Route headers are written
    /// (§12.1.1 UAS: Record-Route order; §12.1.2 UAC: reversed).
    pub route_set: Vec<String>,
    /// The last RSeq accepted from the peer (RFC 3262).
    pub last_rseq: Option<u32>,
}

fn contact_uri(headers: &sip_msg::Headers) -> Result<Uri, DialogError> {
    match headers.contacts() {
        Ok(list) => match list.into_iter().next() {
            Some(ContactValue::Addr(a)) => Ok(a.uri),
            _ => Err(DialogError::NoContact),
        },
        Err(_) => Err(DialogError::NoContact),
    }
}

fn record_route(headers: &sip_msg::Headers) -> Vec<String> {
    all_values(headers, &HeaderName::RecordRoute)
        .into_iter()
        .map(str::to_owned)
        .collect()
}

impl Dialog {
    /// RFC 3261 §12.1.2: the UAC side, from the INVITE we sent and a 1xx
    /// (with To tag) or 2xx we received. The route set is the Record-Route
    /// list reversed; the remote target is the response's Contact.
    pub fn uac(request: &Request, response: &Response) -> Result<Dialog, DialogError> {
        let id = DialogId::of_uac_response(response)
            .ok_or(DialogError::Missing("Call-ID, From tag or To tag"))?;
        let mut route_set = record_route(&response.headers);
        route_set.reverse();
        Ok(Dialog {
            id,
            state: if response.status.is_success() {
                DialogState::Confirmed
            } else {
                DialogState::Early
            },
            local_seq: request
                .headers
                .cseq()
                .ok_or(DialogError::Missing("CSeq"))?
                .seq,
            remote_seq: None,
            local: request
                .headers
                .get(&HeaderName::From)
                .ok_or(DialogError::Missing("From"))?
                .to_owned(),
            remote: response
                .headers
                .get(&HeaderName::To)
                .ok_or(DialogError::Missing("To"))?
                .to_owned(),
            remote_target: contact_uri(&response.headers)?,
            route_set,
            last_rseq: None,
        })
    }

    /// RFC 3261 §12.1.1: the UAS side, from the request received and the
    /// response we send (which carries our To tag). The route set is the
    /// request's Record-Route in order; the remote target its Contact.
    /// `local_seq` is our starting CSeq for requests we send.
    pub fn uas(
        request: &Request,
        response: &Response,
        local_seq: u32,
    ) -> Result<Dialog, DialogError> {
        let id = DialogId {
            call_id: request
                .headers
                .call_id()
                .ok_or(DialogError::Missing("Call-ID"))?
                .to_owned(),
            local_tag: response
                .headers
                .to_tag()
                .ok_or(DialogError::Missing("To tag"))?
                .to_owned(),
            remote_tag: request.headers.from_tag().unwrap_or_default().to_owned(),
        };
        Ok(Dialog {
            id,
            state: if response.status.is_success() {
                DialogState::Confirmed
            } else {
                DialogState::Early
            },
            local_seq,
            remote_seq: Some(
                request
                    .headers
                    .cseq()
                    .ok_or(DialogError::Missing("CSeq"))?
                    .seq,
            ),
            local: response
                .headers
                .get(&HeaderName::To)
                .ok_or(DialogError::Missing("To"))?
                .to_owned(),
            remote: request
                .headers
                .get(&HeaderName::From)
                .ok_or(DialogError::Missing("From"))?
                .to_owned(),
            remote_target: contact_uri(&request.headers)?,
            route_set: record_route(&request.headers),
            last_rseq: None,
        })
    }

    /// RFC 3261 §12.2.2: checks and records the CSeq of a request the peer
    /// sent in this dialog, and a target refresh (re-INVITE, UPDATE) updates
    /// the remote target from its Contact.
    pub fn handle_remote_request(&mut self, req: &Request) -> Result<(), DialogError> {
        let seq = req.headers.cseq().ok_or(DialogError::Missing("CSeq"))?.seq;
        if let Some(last) = self.remote_seq {
            // ACK and CANCEL reuse the CSeq of the request they refer to.
            let same_allowed = matches!(req.method, Method::Ack | Method::Cancel);
            if seq < last || (seq == last && !same_allowed) {
                return Err(DialogError::CSeqWentBackwards { last, got: seq });
            }
        }
        if !matches!(req.method, Method::Ack | Method::Cancel) {
            self.remote_seq = Some(seq);
        }
        if matches!(req.method, Method::Invite | Method::Update)
            && let Ok(uri) = contact_uri(&req.headers)
        {
            self.remote_target = uri;
        }
        Ok(())
    }

    /// A 2xx (or reliable 1xx) response confirms the dialog and refreshes
    /// the remote target (§12.2.1.2).
    pub fn handle_response(&mut self, resp: &Response) {
        if resp.status.is_success() {
            self.state = DialogState::Confirmed;
        }
        if let Ok(uri) = contact_uri(&resp.headers) {
            self.remote_target = uri;
        }
    }

    /// RFC 3262 §4: classifies the RSeq of a reliable provisional in this
    /// (early) dialog and records it when it is the next one.
    pub fn check_rseq(&mut self, resp: &Response) -> Option<RseqCheck> {
        let rseq = rseq_of(resp)?;
        Some(match self.last_rseq {
            None => {
                self.last_rseq = Some(rseq);
                RseqCheck::New
            }
            Some(last) if rseq == last.wrapping_add(1) => {
                self.last_rseq = Some(rseq);
                RseqCheck::New
            }
            Some(last) if rseq <= last => RseqCheck::Retransmission,
            Some(_) => RseqCheck::OutOfOrder,
        })
    }

    /// The Request-URI and Route lines for an in-dialog request (§12.2.1.1):
    /// loose routing when the first route has `lr` (or the set is empty),
    /// else strict routing (first route becomes the Request-URI, the remote
    /// target is appended as the last Route).
    pub fn request_uri_and_routes(&self) -> (Uri, Vec<String>) {
        let Some(first) = self.route_set.first() else {
            return (self.remote_target.clone(), Vec::new());
        };
        match NameAddr::parse(first) {
            Ok(na) if na.uri.param("lr").is_none() => {
                let mut uri = na.uri;
                // §12.2.1.1: parameters not allowed in a Request-URI are stripped;
                // keep it simple and drop the URI headers.
                uri.headers.clear();
                let mut routes: Vec<String> = self.route_set[1..].to_vec();
                routes.push(format!("<{}>", self.remote_target));
                (uri, routes)
            }
            _ => (self.remote_target.clone(), self.route_set.clone()),
        }
    }

    /// Builds the request `method` within the dialog with `seq` as its CSeq
    /// number and `via` as the top Via value (the caller puts a fresh branch
    /// in it, e.g. from [`Endpoint::new_branch`](crate::Endpoint::new_branch)).
    fn build(&self, method: Method, seq: u32, via: &str) -> Request {
        let (uri, routes) = self.request_uri_and_routes();
        let mut req = Request {
            method: method.clone(),
            uri,
            headers: Default::default(),
            body: Bytes::new(),
        };
        let h = &mut req.headers;
        h.push(HeaderName::Via, via);
        h.push(HeaderName::MaxForwards, "70");
        for r in routes {
            h.push(HeaderName::Route, r);
        }
        h.push(HeaderName::From, self.local.clone());
        h.push(HeaderName::To, self.remote.clone());
        h.push(HeaderName::CallId, self.id.call_id.clone());
        h.push(HeaderName::CSeq, format!("{seq} {method}"));
        req
    }

    /// RFC 3261 §12.2.1.1: a new in-dialog request; the local CSeq goes up
    /// by one. Add Contact (for target refreshes), body etc. before sending.
    pub fn new_request(&mut self, method: Method, via: &str) -> Request {
        self.local_seq = self.local_seq.wrapping_add(1);
        self.build(method, self.local_seq, via)
    }

    /// RFC 3261 §13.2.2.4: the ACK for a 2xx to the INVITE with CSeq number
    /// `invite_seq`. It is sent by the TU, not the transaction, to the same
    /// target every time the 2xx arrives again.
    pub fn ack(&self, invite_seq: u32, via: &str) -> Request {
        self.build(Method::Ack, invite_seq, via)
    }

    /// RFC 3262 §7.1: the PRACK for the reliable provisional `resp`.
    /// `None` when `resp` has no RSeq or CSeq.
    pub fn prack(&mut self, resp: &Response, via: &str) -> Option<Request> {
        let rack = RAck::for_response(resp)?;
        let mut req = self.new_request(Method::Prack, via);
        req.headers.push(HeaderName::RAck, rack.to_string());
        Some(req)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use sip_msg::{Limits, Message, parse_datagram};

    fn parse(text: &str) -> Message {
        parse_datagram(text.replace('\n', "\r\n").as_bytes(), &Limits::default()).unwrap()
    }

    fn invite() -> Request {
        match parse(
            "INVITE sip:bob@b.example SIP/2.0\n\
             Via: SIP/2.0/UDP a.example;branch=z9hG4bK1\n\
             Record-Route: <sip:p1.example;lr>\n\
             Record-Route: <sip:p2.example;lr>, <sip:p3.example;lr>\n\
             From: Alice <sip:alice@a.example>;tag=at\n\
             To: <sip:bob@b.example>\n\
             Call-ID: c1\n\
             CSeq: 10 INVITE\n\
             Contact: <sip:alice@10.1.1.1>\n\
             Content-Length: 0\n\n",
        ) {
            Message::Request(r) => r,
            Message::Response(_) => unreachable!(),
        }
    }

    fn ok(record_route: &str) -> Response {
        match parse(&format!(
            "SIP/2.0 200 OK\n\
             Via: SIP/2.0/UDP a.example;branch=z9hG4bK1\n\
             {record_route}\
             From: Alice <sip:alice@a.example>;tag=at\n\
             To: <sip:bob@b.example>;tag=bt\n\
             Call-ID: c1\n\
             CSeq: 10 INVITE\n\
             Contact: <sip:bob@10.2.2.2:5070>\n\
             Content-Length: 0\n\n"
        )) {
            Message::Response(r) => r,
            Message::Request(_) => unreachable!(),
        }
    }

    #[test]
    fn uac_route_set_is_the_record_route_reversed_and_requests_loose_route() {
        let rr = "Record-Route: <sip:p3.example;lr>\nRecord-Route: <sip:p2.example;lr>, <sip:p1.example;lr>\n";
        let mut d = Dialog::uac(&invite(), &ok(rr)).unwrap();
        assert_eq!(
            d.id,
            DialogId {
                call_id: "c1".into(),
                local_tag: "at".into(),
                remote_tag: "bt".into()
            }
        );
        assert_eq!(
            d.route_set,
            [
                "<sip:p1.example;lr>",
                "<sip:p2.example;lr>",
                "<sip:p3.example;lr>"
            ]
        );
        let bye = d.new_request(Method::Bye, "SIP/2.0/UDP a.example;branch=z9hG4bK2");
        assert_eq!(
            bye.uri.to_string(),
            "sip:bob@10.2.2.2:5070",
            "loose routing keeps the remote target"
        );
        let routes: Vec<&str> = bye.headers.get_all(&HeaderName::Route).collect();
        assert_eq!(
            routes,
            [
                "<sip:p1.example;lr>",
                "<sip:p2.example;lr>",
                "<sip:p3.example;lr>"
            ]
        );
        assert_eq!(bye.headers.cseq().unwrap().seq, 11);
        assert_eq!(bye.headers.from_tag(), Some("at"));
        assert_eq!(bye.headers.to_tag(), Some("bt"));
    }

    #[test]
    fn strict_route_puts_the_first_route_in_the_request_uri_and_the_target_last() {
        let mut d = Dialog::uac(
            &invite(),
            &ok("Record-Route: <sip:p2.example;lr>, <sip:strict.example>\n"),
        )
        .unwrap();
        let req = d.new_request(Method::Info, "SIP/2.0/UDP a.example;branch=z9hG4bK3");
        assert_eq!(req.uri.to_string(), "sip:strict.example");
        let routes: Vec<&str> = req.headers.get_all(&HeaderName::Route).collect();
        assert_eq!(routes, ["<sip:p2.example;lr>", "<sip:bob@10.2.2.2:5070>"]);
    }

    #[test]
    fn uas_route_set_keeps_record_route_order_and_targets_the_callers_contact() {
        let inv = invite();
        let d = Dialog::uas(&inv, &ok(""), 1).unwrap();
        assert_eq!(
            d.route_set,
            [
                "<sip:p1.example;lr>",
                "<sip:p2.example;lr>",
                "<sip:p3.example;lr>"
            ]
        );
        assert_eq!(d.remote_target.to_string(), "sip:alice@10.1.1.1");
        assert_eq!(d.id.local_tag, "bt");
        assert_eq!(d.id.remote_tag, "at");
        assert_eq!(
            DialogId::of_incoming_request(&d.new_request_for_test()),
            Some(d.id.clone()).map(|mut id| {
                // a request we send has From = our tag; seen from the peer it is swapped
                std::mem::swap(&mut id.local_tag, &mut id.remote_tag);
                id
            })
        );
    }

    #[test]
    fn remote_cseq_going_backwards_is_refused_with_500() {
        let inv = invite();
        let mut d = Dialog::uas(&inv, &ok(""), 1).unwrap();
        let mut later = inv.clone();
        later.method = Method::Bye;
        later.headers.set(HeaderName::CSeq, "9 BYE");
        let err = d.handle_remote_request(&later).unwrap_err();
        assert_eq!(err.response(), Some(StatusCode::SERVER_INTERNAL_ERROR));
        later.headers.set(HeaderName::CSeq, "11 BYE");
        assert!(d.handle_remote_request(&later).is_ok());
        assert_eq!(d.remote_seq, Some(11));
    }

    impl Dialog {
        fn new_request_for_test(&self) -> Request {
            self.clone()
                .new_request(Method::Bye, "SIP/2.0/UDP b.example;branch=z9hG4bK9")
        }
    }
}
