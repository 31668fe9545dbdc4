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
        if !crate::parser::is_token(name) {
            return None;
        }
        Some(HeaderName::from_token(name))
    }

    /// [`HeaderName::parse`] for a name already known to be a token.
    pub(crate) fn from_token(name: &str) -> HeaderName {
        let b = name.as_bytes();
        let is = |canonical: &str| b.eq_ignore_ascii_case(canonical.as_bytes());
        let other = |long: &str| HeaderName::Other(long.into());
        let known = match b.len() {
            1 => match b[0].to_ascii_lowercase() {
                b'v' => Some(HeaderName::Via),
                b'f' => Some(HeaderName::From),
                b't' => Some(HeaderName::To),
                b'i' => Some(HeaderName::CallId),
                b'm' => Some(HeaderName::Contact),
                b'l' => Some(HeaderName::ContentLength),
                b'c' => Some(HeaderName::ContentType),
                b'k' => Some(HeaderName::Supported),
                b'o' => Some(HeaderName::Event),
                b'e' => Some(other("Content-Encoding")),
                b's' => Some(other("Subject")),
                b'r' => Some(other("Refer-To")),
                b'b' => Some(other("Referred-By")),
                b'u' => Some(other("Allow-Events")),
                b'x' => Some(other("Session-Expires")),
                b'y' => Some(other("Identity")),
                b'a' => Some(other("Accept-Contact")),
                b'j' => Some(other("Reject-Contact")),
                b'd' => Some(other("Request-Disposition")),
                _ => None,
            },
            2 if is("to") => Some(HeaderName::To),
            3 if is("via") => Some(HeaderName::Via),
            4 if is("from") => Some(HeaderName::From),
            4 if is("cseq") => Some(HeaderName::CSeq),
            4 if is("rseq") => Some(HeaderName::RSeq),
            4 if is("rack") => Some(HeaderName::RAck),
            5 if is("route") => Some(HeaderName::Route),
            5 if is("allow") => Some(HeaderName::Allow),
            5 if is("event") => Some(HeaderName::Event),
            6 if is("server") => Some(HeaderName::Server),
            7 if is("call-id") => Some(HeaderName::CallId),
            7 if is("contact") => Some(HeaderName::Contact),
            7 if is("expires") => Some(HeaderName::Expires),
            7 if is("require") => Some(HeaderName::Require),
            9 if is("supported") => Some(HeaderName::Supported),
            10 if is("user-agent") => Some(HeaderName::UserAgent),
            11 if is("min-expires") => Some(HeaderName::MinExpires),
            11 if is("unsupported") => Some(HeaderName::Unsupported),
            11 if is("retry-after") => Some(HeaderName::RetryAfter),
            12 if is("max-forwards") => Some(HeaderName::MaxForwards),
            12 if is("content-type") => Some(HeaderName::ContentType),
            12 if is("record-route") => Some(HeaderName::RecordRoute),
            13 if is("authorization") => Some(HeaderName::Authorization),
            13 if is("proxy-require") => Some(HeaderName::ProxyRequire),
            14 if is("content-length") => Some(HeaderName::ContentLength),
            16 if is("www-authenticate") => Some(HeaderName::WwwAuthenticate),
            18 if is("proxy-authenticate") => Some(HeaderName::ProxyAuthenticate),
            19 if is("proxy-authorization") => Some(HeaderName::ProxyAuthorization),
            _ => None,
        };
        known.unwrap_or_else(|| HeaderName::Other(name.into()))
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
    pub value: crate::HeaderValue,
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
    pub fn push(&mut self, name: HeaderName, value: impl Into<crate::HeaderValue>) {
        self.list.push(Header {
            name,
            value: value.into(),
        });
    }
    /// Inserts a header line before every other (used for Via and Record-Route).
    pub fn push_front(&mut self, name: HeaderName, value: impl Into<crate::HeaderValue>) {
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
    pub fn set(&mut self, name: HeaderName, value: impl Into<crate::HeaderValue>) {
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
            let mut value = self.list.remove(i).value.into_string();
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
            self.list[i].value = joined.into();
        }
        Some(first)
    }
    pub(crate) fn from_vec(list: Vec<Header>) -> Headers {
        Headers { list }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn every_known_header_name_parses_in_any_case_to_its_own_variant() {
        let known = [
            HeaderName::Via,
            HeaderName::From,
            HeaderName::To,
            HeaderName::CallId,
            HeaderName::CSeq,
            HeaderName::Contact,
            HeaderName::MaxForwards,
            HeaderName::ContentLength,
            HeaderName::ContentType,
            HeaderName::Expires,
            HeaderName::MinExpires,
            HeaderName::Route,
            HeaderName::RecordRoute,
            HeaderName::Authorization,
            HeaderName::ProxyAuthorization,
            HeaderName::WwwAuthenticate,
            HeaderName::ProxyAuthenticate,
            HeaderName::UserAgent,
            HeaderName::Server,
            HeaderName::Allow,
            HeaderName::Supported,
            HeaderName::Require,
            HeaderName::ProxyRequire,
            HeaderName::Unsupported,
            HeaderName::RetryAfter,
            HeaderName::Event,
            HeaderName::RSeq,
            HeaderName::RAck,
        ];
        for name in known {
            let canonical = name.as_str().to_owned();
            for spelling in [
                canonical.clone(),
                canonical.to_ascii_lowercase(),
                canonical.to_ascii_uppercase(),
            ] {
                let parsed = HeaderName::parse(&spelling).unwrap();
                assert!(!matches!(parsed, HeaderName::Other(_)), "{spelling}");
                assert_eq!(parsed, name, "{spelling}");
            }
        }
    }

    #[test]
    fn compact_forms_expand_and_unknown_names_keep_their_spelling() {
        let expect = [
            ("v", "Via"),
            ("F", "From"),
            ("t", "To"),
            ("i", "Call-ID"),
            ("m", "Contact"),
            ("l", "Content-Length"),
            ("c", "Content-Type"),
            ("k", "Supported"),
            ("o", "Event"),
            ("e", "Content-Encoding"),
            ("s", "Subject"),
            ("r", "Refer-To"),
            ("b", "Referred-By"),
            ("u", "Allow-Events"),
            ("x", "Session-Expires"),
            ("y", "Identity"),
            ("a", "Accept-Contact"),
            ("j", "Reject-Contact"),
            ("d", "Request-Disposition"),
            ("q", "q"),
            ("X-Foo", "X-Foo"),
            ("Tos", "Tos"),
            ("Vias", "Vias"),
        ];
        for (input, canonical) in expect {
            assert_eq!(HeaderName::parse(input).unwrap().as_str(), canonical);
        }
        assert_eq!(HeaderName::parse("Bad Name"), None);
        assert_eq!(HeaderName::parse(""), None);
        assert_eq!(HeaderName::parse("Vía"), None);
    }
}
