use crate::{Limits, Message, ParseError};

/// Parses one UDP datagram. Content-Length (if present) decides where the
/// body ends; octets after it are ignored (RFC 3261 §18.3). Without
/// Content-Length the body runs to the end of the datagram. Leading CRLFs
/// are skipped.
pub fn parse_datagram(buf: &[u8], limits: &Limits) -> Result<Message, ParseError> {
    unimplemented!("sip-msg: parse_datagram {} {limits:?}", buf.len())
}

/// Builds the bytes of an error response to a request that failed to parse,
/// by copying its raw Via, From, To, Call-ID and CSeq lines verbatim (best
/// effort, RFC 3261 §8.2.6). `None` when the input is not a request or
/// lacks what a response needs (then the caller drops it).
pub fn error_response(buf: &[u8], err: &ParseError) -> Option<Vec<u8>> {
    unimplemented!("sip-msg: error_response {} {err:?}", buf.len())
}

/// One item framed off a stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Framed {
    Message(Message),
    /// A double CRLF keep-alive ping (RFC 5626 §4.4.1); answer with a CRLF.
    KeepAlivePing,
    /// A single CRLF (a pong, or a stray line end between messages).
    KeepAlivePong,
}

/// Frames SIP messages off a TCP byte stream. Content-Length is mandatory on
/// streams (RFC 3261 §18.3); a framing error is unrecoverable and the caller
/// must close the connection. The internal buffer never grows past
/// `limits.max_message` plus one read.
#[derive(Debug)]
pub struct StreamFramer {
    limits: Limits,
    buf: Vec<u8>,
}

impl StreamFramer {
    pub fn new(limits: Limits) -> StreamFramer {
        StreamFramer { limits, buf: Vec::new() }
    }
    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }
    /// The next complete item, `Ok(None)` if more bytes are needed.
    pub fn next_item(&mut self) -> Result<Option<Framed>, ParseError> {
        unimplemented!("sip-msg: StreamFramer::next_item {:?} {}", self.limits, self.buf.len())
    }
    /// Bytes buffered and not yet framed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}
