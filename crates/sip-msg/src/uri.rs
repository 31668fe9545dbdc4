use std::net::IpAddr;

use crate::ParseError;

/// URI scheme. `Other` keeps the scheme text (RFC 4475 unkscm/novelsc).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scheme {
    Sip,
    Sips,
    Tel,
    Other(Box<str>),
}

/// A host: domain name (stored lower-case) or IP address (IPv6 without brackets).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    Domain(Box<str>),
    Ip(IpAddr),
}

impl std::fmt::Display for Host {
    /// IPv6 is written with brackets, as in a SIP URI.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::Ip(IpAddr::V4(a)) => write!(f, "{a}"),
            Host::Ip(IpAddr::V6(a)) => write!(f, "[{a}]"),
        }
    }
}

/// A URI. For sip/sips all fields are parsed (RFC 3261 §19.1); for tel
/// (RFC 3966) `user` holds the number and `host` is `None`; for other schemes
/// only `scheme` and `opaque` are set.
///
/// `user` and `password` are kept *unescaped*? No: they are kept exactly as
/// written (escaped form), so serialization round-trips byte for byte;
/// [`Uri::user_unescaped`] decodes %HH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri {
    pub scheme: Scheme,
    pub user: Option<String>,
    pub password: Option<String>,
    pub host: Option<Host>,
    pub port: Option<u16>,
    /// `;name[=value]` parameters in order, names as written.
    pub params: Vec<(String, Option<String>)>,
    /// `?name=value&…` headers in order, as written.
    pub headers: Vec<(String, String)>,
    /// The text after `scheme:` for schemes other than sip/sips/tel.
    pub opaque: Option<String>,
}

impl Uri {
    pub fn parse(s: &str) -> Result<Uri, ParseError> {
        unimplemented!("sip-msg: Uri::parse {s}")
    }
    /// First parameter named `name` (case-insensitive): `Some(None)` for a flag.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref())
    }
    /// The user part with %HH decoded (bytes, since %00 is legal).
    pub fn user_unescaped(&self) -> Option<Vec<u8>> {
        unimplemented!("sip-msg: Uri::user_unescaped")
    }
    /// The host as text (domain lower-case, IPv6 with brackets), if any.
    pub fn host_str(&self) -> Option<String> {
        self.host.as_ref().map(|h| h.to_string())
    }
}

impl std::fmt::Display for Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        unimplemented!("sip-msg: Uri Display {:p}", f)
    }
}
