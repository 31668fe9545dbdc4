/// A header name. Known names are canonical (compact forms expanded: `v` →
/// Via, `f` → From, `t` → To, `i` → Call-ID, `m` → Contact, `l` →
/// Content-Length, `c` → Content-Type, `e` → Content-Encoding, `s` → Subject,
/// `k` → Supported, `o` → Event, `r` → Refer-To, `b` → Referred-By,
/// `u` → Allow-Events, `x` → Session-Expires, `y` → Identity, `a` →
/// Accept-Contact, `j` → Reject-Contact, `d` → Request-Disposition).
/// Unknown names keep their spelling.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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
        unimplemented!("sip-msg: HeaderName::parse {name}")
    }
    /// The canonical spelling used when serializing.
    pub fn as_str(&self) -> &str {
        unimplemented!("sip-msg: HeaderName::as_str {self:?}")
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
    list: Vec<Header>,
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
        self.list.iter().find(|h| &h.name == name).map(|h| h.value.as_str())
    }
    /// Every line of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a str> + 'a {
        self.list.iter().filter(move |h| &h.name == name).map(|h| h.value.as_str())
    }
    /// Appends a header line at the end.
    pub fn push(&mut self, name: HeaderName, value: impl Into<String>) {
        self.list.push(Header { name, value: value.into() });
    }
    /// Inserts a header line before every other (used for Via and Record-Route).
    pub fn push_front(&mut self, name: HeaderName, value: impl Into<String>) {
        self.list.insert(0, Header { name, value: value.into() });
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
        unimplemented!("sip-msg: Headers::remove_first_value {name:?}")
    }
    pub(crate) fn from_vec(list: Vec<Header>) -> Headers {
        Headers { list }
    }
}
