use bytes::Bytes;

use crate::parser::{
    find_param_range, name_addr_params_start, parse_contacts, parse_cseq, parse_digits_saturating,
    split_commas,
};
use crate::{HeaderName, Headers, NameAddr, ParseError, StatusCode, Uri, Via};

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
        Some(match token {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "REGISTER" => Method::Register,
            "OPTIONS" => Method::Options,
            "PRACK" => Method::Prack,
            "UPDATE" => Method::Update,
            "INFO" => Method::Info,
            "REFER" => Method::Refer,
            "SUBSCRIBE" => Method::Subscribe,
            "NOTIFY" => Method::Notify,
            "MESSAGE" => Method::Message,
            "PUBLISH" => Method::Publish,
            t if crate::parser::is_token(t) => Method::Other(t.into()),
            _ => return None,
        })
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
        let mut out = Vec::new();
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

/// What identifies a server transaction in the top Via (RFC 3261 §17.2.3):
/// the branch and the sent-by, as written in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ViaId<'a> {
    pub branch: Option<&'a str>,
    /// The sent-by host as written (a domain keeps its case, an IPv6
    /// reference its brackets).
    pub host: &'a str,
    pub port: Option<u16>,
}

impl ViaId<'_> {
    /// True when the branch starts with the RFC 3261 magic cookie `z9hG4bK`
    /// and has more after it.
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch
            .is_some_and(|b| b.len() > 7 && b.starts_with("z9hG4bK"))
    }
}

/// The URI of a To or From header as slices of the message (what routing and
/// authentication need of it), without allocating: [`Headers::to_uri`],
/// [`Headers::from_uri`]. It exists exactly when [`Headers::to`] /
/// [`Headers::from`] would parse, and holds the same user and host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrUri<'a> {
    /// The scheme is `sip` or `sips`.
    pub sip: bool,
    /// The user part as written (not unescaped), as in [`Uri::user`].
    pub user: Option<&'a str>,
    /// The host as written; [`HostRef::to_host`] gives [`Uri::host`].
    pub host: Option<crate::HostRef<'a>>,
}

fn addr_uri(value: &str) -> Option<AddrUri<'_>> {
    let n = crate::name_addr::parse_name_addr_ref(value).ok()?;
    let uri = n.uri();
    Some(AddrUri {
        sip: matches!(
            uri.scheme,
            crate::uri::SchemeRef::Sip | crate::uri::SchemeRef::Sips
        ),
        user: uri.user,
        host: uri.host,
    })
}

/// Typed access to the headers every request and response carries. They were
/// validated at parse time; on a message built by hand they may be absent, so
/// the getters return `Option`/`Result`.
impl Headers {
    /// The topmost Via.
    pub fn top_via(&self) -> Option<Via> {
        let v = self.get(&HeaderName::Via)?;
        Via::parse(split_commas(v).next()?).ok()
    }
    /// The top Via's transaction identity (RFC 3261 §17.2.3), borrowed from
    /// the message: no allocation.
    pub fn top_via_id(&self) -> Option<ViaId<'_>> {
        let v = self.get(&HeaderName::Via)?;
        let r = crate::via::parse_via_ref(split_commas(v).next()?).ok()?;
        Some(ViaId {
            branch: r.branch,
            host: r.host_text,
            port: r.port,
        })
    }
    /// Every Via value in order (comma-separated values split).
    pub fn vias(&self) -> Result<Vec<Via>, ParseError> {
        self.get_all(&HeaderName::Via)
            .flat_map(split_commas)
            .map(Via::parse)
            .collect()
    }
    pub fn call_id(&self) -> Option<&str> {
        self.get(&HeaderName::CallId)
    }
    pub fn cseq(&self) -> Option<CSeq> {
        parse_cseq(self.get(&HeaderName::CSeq)?)
    }
    pub fn from(&self) -> Option<NameAddr> {
        NameAddr::parse(self.get(&HeaderName::From)?).ok()
    }
    pub fn to(&self) -> Option<NameAddr> {
        NameAddr::parse(self.get(&HeaderName::To)?).ok()
    }
    /// The To URI's scheme, user and host, borrowed (see [`AddrUri`]).
    pub fn to_uri(&self) -> Option<AddrUri<'_>> {
        addr_uri(self.get(&HeaderName::To)?)
    }
    /// The From URI's scheme, user and host, borrowed (see [`AddrUri`]).
    pub fn from_uri(&self) -> Option<AddrUri<'_>> {
        addr_uri(self.get(&HeaderName::From)?)
    }
    /// The `tag` parameter of From, if any (as written; no allocation).
    pub fn from_tag(&self) -> Option<&str> {
        header_param(self.get(&HeaderName::From)?, "tag")
    }
    /// The `tag` parameter of To, if any (as written; no allocation).
    pub fn to_tag(&self) -> Option<&str> {
        header_param(self.get(&HeaderName::To)?, "tag")
    }
    /// Max-Forwards; `None` if absent or not a number, overlarge values
    /// clamp to u32::MAX.
    pub fn max_forwards(&self) -> Option<u32> {
        parse_digits_saturating(self.get(&HeaderName::MaxForwards)?)
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
    }
    /// The Expires header as seconds (overlarge values clamp to u32::MAX).
    pub fn expires(&self) -> Option<u32> {
        parse_digits_saturating(self.get(&HeaderName::Expires)?)
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
    }
    /// Every Contact value in order (comma-separated values split).
    pub fn contacts(&self) -> Result<Vec<ContactValueRef>, ParseError> {
        let mut out = Vec::new();
        for v in self.get_all(&HeaderName::Contact) {
            out.extend(parse_contacts(v)?);
        }
        Ok(out)
    }
}

/// The value of header parameter `name` in a name-addr/addr-spec header
/// value, as written; `None` if absent or a flag.
fn header_param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    let start = name_addr_params_start(value)?;
    let params = value.get(start..)?;
    let range = find_param_range(params, name)??;
    params.get(range)
}

/// Alias kept so callers can name the Contact value type from here.
pub type ContactValueRef = crate::ContactValue;

impl Request {
    /// Builds a response to this request as RFC 3261 §8.2.6.2 says: copies
    /// Via (all, in order), From, To, Call-ID and CSeq; adds no To tag (use
    /// [`Response::set_to_tag`]); reason is the canonical phrase.
    pub fn make_response(&self, status: StatusCode) -> Response {
        let mut list = Vec::with_capacity(8);
        for h in self.headers.iter() {
            if h.name == HeaderName::Via {
                list.push(h.clone());
            }
        }
        for name in [
            HeaderName::From,
            HeaderName::To,
            HeaderName::CallId,
            HeaderName::CSeq,
        ] {
            if let Some(h) = self.headers.iter().find(|h| h.name == name) {
                list.push(h.clone());
            }
        }
        Response {
            status,
            reason: status.canonical_reason().to_owned(),
            headers: Headers::from_vec(list),
            body: Bytes::new(),
        }
    }
    /// Appends, without building a [`Response`], the bytes of the response
    /// that [`Request::make_response`] gives after its top Via value was
    /// replaced by `top_via` (the first value of the first Via line),
    /// [`Response::set_to_tag`] set `to_tag` (if any) and each of `extra` was
    /// pushed in order: what a server answers with most often, without
    /// copying each header into a new `String` first.
    ///
    /// Returns false (and appends nothing) in the rare cases it leaves to
    /// the general path: a first Via line holding several values, or a To
    /// header whose tag parameter is present (as a value or a bare flag)
    /// when `to_tag` is given.
    pub fn write_response_to(
        &self,
        status: StatusCode,
        top_via: &str,
        to_tag: Option<&str>,
        extra: &[(HeaderName, &str)],
        out: &mut Vec<u8>,
    ) -> bool {
        crate::serialize::write_quick_response(self, status, top_via, to_tag, extra, out)
    }
    /// Appends the serialized request (Content-Length written from the body,
    /// at the place of the first Content-Length line or at the end).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        crate::serialize::write_request(self, out);
    }
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }
}

impl Response {
    /// Sets (or replaces) the `tag` parameter of the To header.
    /// The rest of the To value is kept as written; does nothing if there is
    /// no To header or its value does not parse.
    pub fn set_to_tag(&mut self, tag: &str) {
        let Some(h) = self
            .headers
            .list
            .iter_mut()
            .find(|h| h.name == HeaderName::To)
        else {
            return;
        };
        let Some(start) = name_addr_params_start(&h.value) else {
            return;
        };
        let params = &h.value[start..];
        match find_param_range(params, "tag") {
            Some(Some(r)) => {
                h.value
                    .make_mut()
                    .replace_range(start + r.start..start + r.end, tag);
            }
            Some(None) => {
                // A bare `;tag` flag: give it a value.
                if let Some(p) = params.to_ascii_lowercase().find("tag") {
                    h.value
                        .make_mut()
                        .insert_str(start + p + 3, &format!("={tag}"));
                }
            }
            None => {
                let v = h.value.make_mut();
                v.push_str(";tag=");
                v.push_str(tag);
            }
        }
    }
    /// Appends the serialized response (Content-Length written from the
    /// body, at the place of the first Content-Length line or at the end).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        crate::serialize::write_response(self, out);
    }
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }
}
