use bytes::Bytes;

use crate::{Headers, NameAddr, ParseError, StatusCode, Uri, Via};

/// A SIP method. Extension methods keep their exact (case-sensitive) token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Register,
    Options,
    Prack,
    Update,
    Info,
    Refer,
    Subscribe,
    Notify,
    Message,
    Publish,
    /// Any other token (RFC 3261 extension-method).
    Other(Box<str>),
}

impl Method {
    /// Parses a method token; `None` if it is not a valid token.
    pub fn from_token(token: &str) -> Option<Method> {
        unimplemented!("sip-msg: Method::from_token {token}")
    }
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Register => "REGISTER",
            Method::Options => "OPTIONS",
            Method::Prack => "PRACK",
            Method::Update => "UPDATE",
            Method::Info => "INFO",
            Method::Refer => "REFER",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Message => "MESSAGE",
            Method::Publish => "PUBLISH",
            Method::Other(s) => s,
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The CSeq header: sequence number and method (RFC 3261 §20.16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    /// Less than 2**31 (RFC 3261 §8.1.1.5); larger values are a parse error.
    pub seq: u32,
    pub method: Method,
}

/// A parsed SIP request. The mandatory headers were validated by the parser:
/// the typed getters below never fail on a message that came from
/// [`parse_datagram`](crate::parse_datagram) or [`StreamFramer`](crate::StreamFramer).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: Method,
    pub uri: Uri,
    pub headers: Headers,
    pub body: Bytes,
}

/// A parsed SIP response.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: StatusCode,
    /// The reason phrase as received (may be empty, may be UTF-8).
    pub reason: String,
    pub headers: Headers,
    pub body: Bytes,
}

/// Either kind of SIP message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Request(Request),
    Response(Response),
}

impl Message {
    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        }
    }
    pub fn headers_mut(&mut self) -> &mut Headers {
        match self {
            Message::Request(r) => &mut r.headers,
            Message::Response(r) => &mut r.headers,
        }
    }
    /// Serializes the message (Content-Length is written from the body).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        self.write_to(&mut out);
        out
    }
    /// Appends the serialized message to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            Message::Request(r) => r.write_to(out),
            Message::Response(r) => r.write_to(out),
        }
    }
}

/// Typed access to the headers every request and response carries. They were
/// validated at parse time; on a message built by hand they may be absent, so
/// the getters return `Option`/`Result`.
impl Headers {
    /// The topmost Via.
    pub fn top_via(&self) -> Option<Via> {
        unimplemented!("sip-msg: Headers::top_via")
    }
    /// Every Via value in order (comma-separated values split).
    pub fn vias(&self) -> Result<Vec<Via>, ParseError> {
        unimplemented!("sip-msg: Headers::vias")
    }
    pub fn call_id(&self) -> Option<&str> {
        unimplemented!("sip-msg: Headers::call_id")
    }
    pub fn cseq(&self) -> Option<CSeq> {
        unimplemented!("sip-msg: Headers::cseq")
    }
    pub fn from(&self) -> Option<NameAddr> {
        unimplemented!("sip-msg: Headers::from")
    }
    pub fn to(&self) -> Option<NameAddr> {
        unimplemented!("sip-msg: Headers::to")
    }
    /// The `tag` parameter of From, if any.
    pub fn from_tag(&self) -> Option<&str> {
        unimplemented!("sip-msg: Headers::from_tag")
    }
    /// The `tag` parameter of To, if any.
    pub fn to_tag(&self) -> Option<&str> {
        unimplemented!("sip-msg: Headers::to_tag")
    }
    pub fn max_forwards(&self) -> Option<u32> {
        unimplemented!("sip-msg: Headers::max_forwards")
    }
    /// The Expires header as seconds (overlarge values clamp to u32::MAX).
    pub fn expires(&self) -> Option<u32> {
        unimplemented!("sip-msg: Headers::expires")
    }
    /// Every Contact value in order (comma-separated values split).
    pub fn contacts(&self) -> Result<Vec<ContactValueRef>, ParseError> {
        unimplemented!("sip-msg: Headers::contacts")
    }
}

/// Alias kept so callers can name the Contact value type from here.
pub type ContactValueRef = crate::ContactValue;

impl Request {
    /// Builds a response to this request as RFC 3261 §8.2.6.2 says: copies
    /// Via (all, in order), From, To, Call-ID and CSeq; adds no To tag (use
    /// [`Response::set_to_tag`]); reason is the canonical phrase.
    pub fn make_response(&self, status: StatusCode) -> Response {
        unimplemented!("sip-msg: Request::make_response {status}")
    }
    pub fn write_to(&self, out: &mut Vec<u8>) {
        unimplemented!("sip-msg: Request::write_to {}", out.len())
    }
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        self.write_to(&mut out);
        out
    }
}

impl Response {
    /// Sets (or replaces) the `tag` parameter of the To header.
    pub fn set_to_tag(&mut self, tag: &str) {
        unimplemented!("sip-msg: Response::set_to_tag {tag}")
    }
    pub fn write_to(&self, out: &mut Vec<u8>) {
        unimplemented!("sip-msg: Response::write_to {}", out.len())
    }
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        self.write_to(&mut out);
        out
    }
}
