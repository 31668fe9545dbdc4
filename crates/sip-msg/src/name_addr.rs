use crate::{ParseError, Uri};

/// A From/To/Contact/Route value: optional display name, URI, header params
/// (RFC 3261 §20.10, §20.20, §20.39). Both name-addr and addr-spec forms are
/// accepted; in addr-spec form, `;params` after the URI are header params.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// The display name, unquoted and unescaped.
    pub display: Option<String>,
    pub uri: Uri,
    /// Header parameters (`;tag=…`, `;expires=…`, `;q=…`), in order.
    pub params: Vec<(String, Option<String>)>,
}

impl NameAddr {
    pub fn parse(s: &str) -> Result<NameAddr, ParseError> {
        unimplemented!("sip-msg: NameAddr::parse {s}")
    }
    /// First header parameter named `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref())
    }
    pub fn tag(&self) -> Option<&str> {
        self.param("tag").flatten()
    }
}

impl std::fmt::Display for NameAddr {
    /// Always writes name-addr form (`"display" <uri>;params`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        unimplemented!("sip-msg: NameAddr Display {:p}", f)
    }
}

/// One Contact value: `*` or a name-addr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactValue {
    Star,
    Addr(NameAddr),
}
