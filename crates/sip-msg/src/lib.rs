//! SIP messages: model, parser and serializer (RFC 3261 §7, §20, §25).
//!
//! Pure: no sockets, no clocks. Bytes in, [`Message`] out, and back.
//!
//! * [`parse_datagram`] frames one UDP datagram (Content-Length decides; extra
//!   octets after the body are ignored, RFC 3261 §18.3).
//! * [`StreamFramer`] frames a TCP byte stream, including RFC 5626 CRLF
//!   keep-alives.
//! * Invalid input is a [`ParseError`] that knows which response to send
//!   ([`ParseError::response_status`]); nothing reachable from the wire panics.
//! * Unknown headers pass through losslessly, in order.

mod error;
mod framing;
mod headers;
mod message;
mod name_addr;
mod parser;
mod serialize;
mod status;
mod uri;
mod value;
mod via;

pub use error::{ParseError, ParseErrorKind};
pub use framing::{Framed, StreamFramer, error_response, parse_datagram};
pub use headers::{Header, HeaderName, Headers};
pub use message::{AddrUri, CSeq, ContactValueRef, Message, Method, Request, Response, ViaId};
pub use name_addr::{ContactValue, NameAddr};
pub use serialize::Decimal;
pub use status::StatusCode;
pub use uri::{Host, HostRef, Scheme, Uri, unescape};
pub use value::HeaderValue;
pub use via::{Transport, Via};

/// Size limits applied while parsing. Exceeding one is an error that answers
/// 413 (body) or 513 (message) or 400 (too many headers), never a panic or an
/// unbounded allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest whole message (start line + headers + body) in octets.
    pub max_message: usize,
    /// Most header lines (after unfolding and before comma splitting).
    pub max_headers: usize,
    /// Longest single header value in octets (after unfolding).
    pub max_header_value: usize,
    /// Largest body in octets.
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message: 65_535,
            max_headers: 128,
            max_header_value: 8_192,
            max_body: 60_000,
        }
    }
}
