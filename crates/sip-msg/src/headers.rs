/// A header name. Known names are canonical (compact forms expanded: `v` →
/// Via, `f` → From, `t` → To, `i` → Call-ID, `m` → Contact, `l` →
/// Content-Length, `c` → Content-Type, `e` → Content-Encoding, `s` → Subject,
/// `k` → Supported, `o` → Event, `r` → Refer-To, `b` → Referred-By,
/// `u` → Allow-Events, `x` → Session-Expires, `y` → Identity, `a` →
/// Accept-Contact, `j` → Reject-Contact, `d` → Request-Disposition).
/// Unknown names keep their spelling. Compact forms of headers without a
/// variant here expand to `Other` with the long name (`s` → `Other("Subject")`).
///
/// Equality and hashing of `Other` names are ASCII case-insensitive (header
/// names are, RFC 3261 §7.3.1), so `Other("x-foo") == Other("X-Foo")`.
/// Build names with [`HeaderName::parse`]: `Other("Via")` made by hand is not
/// equal to `Via`.
#[derive(Debug, Clone)]
pub enum HeaderName {
    Via,
    From,
    To,
    CallId,
    CSeq,
    Contact,
    MaxForwards,
    ContentLength,
    ContentType,
    Expires,
    MinExpires,
    Route,
    RecordRoute,
    Authorization,
    ProxyAuthorization,
    WwwAuthenticate,
    ProxyAuthenticate,
    UserAgent,
    Server,
    Allow,
    Supported,
    Require,
    ProxyRequire,
    Unsupported,
    RetryAfter,
    Event,
    RSeq,
    RAck,
    /// Any other header, with the spelling it arrived with.
    Other(Box<str>),
}

impl HeaderName {
    /// Case-insensitive lookup including compact forms. `None` if `name` is
    /// not a valid token.
    pub fn parse(name: &str) -> Option<HeaderName> {
        // Fast path: the canonical spellings (what nearly every UA sends).
        // They are tokens, so no further check is needed.
        let canonical = match name {
            "Via" => Some(HeaderName::Via),
            "From" => Some(HeaderName::From),
            "To" => Some(HeaderName::To),
            "Call-ID" => Some(HeaderName::CallId),
            "CSeq" => Some(HeaderName::CSeq),
            "Contact" => Some(HeaderName::Contact),
            "Max-Forwards" => Some(HeaderName::MaxForwards),
            "Content-Length" => Some(HeaderName::ContentLength),
            "Content-Type" => Some(HeaderName::ContentType),
            "Expires" => Some(HeaderName::Expires),
            "Authorization" => Some(HeaderName::Authorization),
            "User-Agent" => Some(HeaderName::UserAgent),
            "Allow" => Some(HeaderName::Allow),
            "Supported" => Some(HeaderName::Supported),
            "Route" => Some(HeaderName::Route),
            "Record-Route" => Some(HeaderName::RecordRoute),
            _ => None,
        };
        if canonical.is_some() {
            return canonical;
        }
        if !crate::parser::is_token(name) {
            return None;
        }
        let mut lower = [0u8; 24];
        let Some(dst) = lower.get_mut(..name.len()) else {
            return Some(HeaderName::Other(name.into()));
        };
        for (d, s) in dst.iter_mut().zip(name.bytes()) {
            *d = s.to_ascii_lowercase();
        }
        let other = |long: &str| Some(HeaderName::Other(long.into()));
        match &*dst {
            b"via" | b"v" => Some(HeaderName::Via),
            b"from" | b"f" => Some(HeaderName::From),
            b"to" | b"t" => Some(HeaderName::To),
            b"call-id" | b"i" => Some(HeaderName::CallId),
            b"cseq" => Some(HeaderName::CSeq),
            b"contact" | b"m" => Some(HeaderName::Contact),
            b"max-forwards" => Some(HeaderName::MaxForwards),
            b"content-length" | b"l" => Some(HeaderName::ContentLength),
            b"content-type" | b"c" => Some(HeaderName::ContentType),
            b"expires" => Some(HeaderName::Expires),
            b"min-expires" => Some(HeaderName::MinExpires),
            b"route" => Some(HeaderName::Route),
            b"record-route" => Some(HeaderName::RecordRoute),
            b"authorization" => Some(HeaderName::Authorization),
            b"proxy-authorization" => Some(HeaderName::ProxyAuthorization),
            b"www-authenticate" => Some(HeaderName::WwwAuthenticate),
            b"proxy-authenticate" => Some(HeaderName::ProxyAuthenticate),
            b"user-agent" => Some(HeaderName::UserAgent),
            b"server" => Some(HeaderName::Server),
            b"allow" => Some(HeaderName::Allow),
            b"supported" | b"k" => Some(HeaderName::Supported),
            b"require" => Some(HeaderName::Require),
            b"proxy-require" => Some(HeaderName::ProxyRequire),
            b"unsupported" => Some(HeaderName::Unsupported),
            b"retry-after" => Some(HeaderName::RetryAfter),
            b"event" | b"o" => Some(HeaderName::Event),
            b"rseq" => Some(HeaderName::RSeq),
            b"rack" => Some(HeaderName::RAck),
            b"e" => other("Content-Encoding"),
            b"s" => other("Subject"),
            b"r" => other("Refer-To"),
            b"b" => other("Referred-By"),
            b"u" => other("Allow-Events"),
            b"x" => other("Session-Expires"),
            b"y" => other("Identity"),
            b"a" => other("Accept-Contact"),
            b"j" => other("Reject-Contact"),
            b"d" => other("Request-Disposition"),
            _ => Some(HeaderName::Other(name.into())),
        }
    }
    /// The canonical spelling used when serializing.
    pub fn as_str(&self) -> &str {
        match self {
            HeaderName::Via => "Via",
            HeaderName::From => "From",
            HeaderName::To => "To",
            HeaderName::CallId => "Call-ID",
            HeaderName::CSeq => "CSeq",
            HeaderName::Contact => "Contact",
            HeaderName::MaxForwards => "Max-Forwards",
            HeaderName::ContentLength => "Content-Length",
            HeaderName::ContentType => "Content-Type",
            HeaderName::Expires => "Expires",
            HeaderName::MinExpires => "Min-Expires",
            HeaderName::Route => "Route",
            HeaderName::RecordRoute => "Record-Route",
            HeaderName::Authorization => "Authorization",
            HeaderName::ProxyAuthorization => "Proxy-Authorization",
            HeaderName::WwwAuthenticate => "WWW-Authenticate",
            HeaderName::ProxyAuthenticate => "Proxy-Authenticate",
            HeaderName::UserAgent => "User-Agent",
            HeaderName::Server => "Server",
            HeaderName::Allow => "Allow",
            HeaderName::Supported => "Supported",
            HeaderName::Require => "Require",
            HeaderName::ProxyRequire => "Proxy-Require",
            HeaderName::Unsupported => "Unsupported",
            HeaderName::RetryAfter => "Retry-After",
            HeaderName::Event => "Event",
            HeaderName::RSeq => "RSeq",
            HeaderName::RAck => "RAck",
            HeaderName::Other(s) => s,
        }
    }
}

impl PartialEq for HeaderName {
    fn eq(&self, other: &HeaderName) -> bool {
        match (self, other) {
            (HeaderName::Other(a), HeaderName::Other(b)) => a.eq_ignore_ascii_case(b),
            (a, b) => std::mem::discriminant(a) == std::mem::discriminant(b),
        }
    }
}

impl Eq for HeaderName {}

impl std::hash::Hash for HeaderName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        if let HeaderName::Other(s) = self {
            for b in s.bytes() {
                state.write_u8(b.to_ascii_lowercase());
            }
        }
    }
}

impl std::fmt::Display for HeaderName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One header field line as received (after unfolding): its name and its raw
/// value (leading/trailing whitespace trimmed). Comma-separated values stay in
/// one `Header`; typed getters split them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: HeaderName,
    pub value: String,
}

/// The header section, in arrival order. Lossless: unknown headers are kept
/// and serialized as they came (name spelling and value text).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    pub(crate) list: Vec<Header>,
}

impl Headers {
    pub fn new() -> Headers {
        Headers { list: Vec::new() }
    }
    pub fn iter(&self) -> std::slice::Iter<'_, Header> {
        self.list.iter()
    }
    pub fn len(&self) -> usize {
        self.list.len()
    }
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
    /// The first value of `name`.
    pub fn get(&self, name: &HeaderName) -> Option<&str> {
        self.list
            .iter()
            .find(|h| &h.name == name)
            .map(|h| h.value.as_str())
    }
    /// Every line of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a str> + 'a {
        self.list
            .iter()
            .filter(move |h| &h.name == name)
            .map(|h| h.value.as_str())
    }
    /// Appends a header line at the end.
    pub fn push(&mut self, name: HeaderName, value: impl Into<String>) {
        self.list.push(Header {
            name,
            value: value.into(),
        });
    }
    /// Inserts a header line before every other (used for Via and Record-Route).
    pub fn push_front(&mut self, name: HeaderName, value: impl Into<String>) {
        self.list.insert(
            0,
            Header {
                name,
                value: value.into(),
            },
        );
    }
    /// Replaces every `name` line with one line holding `value` (at the place
    /// of the first, or at the end).
    pub fn set(&mut self, name: HeaderName, value: impl Into<String>) {
        let value = value.into();
        match self.list.iter().position(|h| h.name == name) {
            Some(i) => {
                self.list[i].value = value;
                let mut seen = 0usize;
                self.list.retain(|h| {
                    if h.name == name {
                        seen += 1;
                        seen == 1
                    } else {
                        true
                    }
                });
            }
            None => self.list.push(Header { name, value }),
        }
    }
    /// Removes every `name` line; returns how many were removed.
    pub fn remove(&mut self, name: &HeaderName) -> usize {
        let before = self.list.len();
        self.list.retain(|h| &h.name != name);
        before - self.list.len()
    }
    /// Removes the first value of `name` (the first comma-separated value if
    /// the first line holds several); used to pop the top Via.
    pub fn remove_first_value(&mut self, name: &HeaderName) -> Option<String> {
        let i = self.list.iter().position(|h| &h.name == name)?;
        let single = {
            let mut pieces = crate::parser::split_commas(&self.list[i].value);
            pieces.next();
            pieces.next().is_none()
        };
        if single {
            // The only value (the whole line, trimmed): hand over the
            // line's own string.
            let mut value = self.list.remove(i).value;
            value.truncate(value.trim_end_matches([' ', '\t']).len());
            value.drain(..value.len() - value.trim_start_matches([' ', '\t']).len());
            return Some(value);
        }
        let mut pieces = crate::parser::split_commas(&self.list[i].value);
        let first = pieces.next().unwrap_or("").to_owned();
        let rest: Vec<&str> = pieces.collect();
        if rest.is_empty() {
            self.list.remove(i);
        } else {
            let joined = rest.join(", ");
            self.list[i].value = joined;
        }
        Some(first)
    }
    pub(crate) fn from_vec(list: Vec<Header>) -> Headers {
        Headers { list }
    }
}
