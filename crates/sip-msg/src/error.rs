use crate::StatusCode;

/// What was wrong with the input.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The start line is not a request line or a status line.
    BadStartLine,
    /// SIP-Version other than SIP/2.0 (answers 505).
    UnsupportedVersion,
    /// The Request-URI does not parse.
    BadRequestUri,
    /// A response status code outside 100..=699 (dropped, no answer).
    BadStatusCode,
    /// A header line without a colon, or with an invalid name.
    BadHeaderLine,
    /// A header whose value does not match its grammar (name is canonical).
    BadHeader { name: &'static str },
    /// A header that must appear once appears more than once.
    DuplicateHeader { name: &'static str },
    /// A mandatory header (Via, From, To, Call-ID, CSeq) is missing.
    MissingHeader { name: &'static str },
    /// The CSeq method differs from the request method, and the request
    /// method is a known one (answers 400, RFC 4475 §3.1.2.17).
    CSeqMethodMismatch,
    /// The CSeq method differs from the request method, and the request
    /// method is an extension (unknown) method. RFC 4475 §3.1.2.18 prefers
    /// 501 Not Implemented here (400 is also acceptable), so
    /// [`ParseError::response_status`] answers 501; a caller that wants 400
    /// matches on this kind.
    ExtensionMethodCSeqMismatch,
    /// Content-Length is missing on a stream, negative, or not a number.
    BadContentLength,
    /// The body is shorter than Content-Length says (datagram).
    TruncatedBody,
    /// A configured size limit was exceeded.
    TooLarge { what: &'static str },
    /// The input ends before the header section does.
    Incomplete,
}

/// A parse failure: where, what, and which SIP response (if any) to send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind:?} at offset {offset}")]
pub struct ParseError {
    pub kind: ParseErrorKind,
    /// Byte offset in the input where the problem was found.
    pub offset: usize,
    /// Whether the input was recognisably a request (a response gets no answer).
    pub is_request: bool,
}

impl ParseError {
    /// The status to answer with. `None` means drop silently: the input was a
    /// response, or too broken to answer (no Via/Call-ID/From/To/CSeq to build
    /// a response from).
    ///
    /// | kind | status |
    /// |---|---|
    /// | any, on a response | `None` (drop) |
    /// | [`ParseErrorKind::BadStatusCode`] | `None` |
    /// | [`ParseErrorKind::UnsupportedVersion`] | 505 |
    /// | [`ParseErrorKind::ExtensionMethodCSeqMismatch`] | 501 |
    /// | `TooLarge { what: "body" }` | 413 |
    /// | `TooLarge { what: "message" }` | 513 |
    /// | everything else | 400 |
    ///
    /// Whether an answer can actually be built (the request may lack a Via)
    /// is decided by [`error_response`](crate::error_response).
    pub fn response_status(&self) -> Option<StatusCode> {
        if !self.is_request {
            return None;
        }
        Some(match self.kind {
            ParseErrorKind::BadStatusCode => return None,
            ParseErrorKind::UnsupportedVersion => StatusCode::VERSION_NOT_SUPPORTED,
            ParseErrorKind::ExtensionMethodCSeqMismatch => StatusCode::NOT_IMPLEMENTED,
            ParseErrorKind::TooLarge { what: "body" } => StatusCode::REQUEST_ENTITY_TOO_LARGE,
            ParseErrorKind::TooLarge { what: "message" } => StatusCode::MESSAGE_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        })
    }
}
