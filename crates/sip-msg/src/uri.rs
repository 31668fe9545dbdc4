use std::net::IpAddr;

use memchr::memchr;

use crate::parser::{HOST, URI_HEADER, URI_PARAM, URI_PASSWORD, URI_USER, in_class};

use crate::{ParseError, ParseErrorKind};

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
/// `user`, `password`, parameters and headers are kept exactly as written
/// (escaped form, `%HH` untouched), so serialization round-trips byte for
/// byte; [`Uri::user_unescaped`] decodes %HH. The scheme is normalised
/// (`SIP:` → `sip:`), a domain host is stored lower-case and an IP host in
/// its canonical form: those are case-insensitive / equivalent in RFC 3261
/// §19.1.4 comparison.
///
/// Parsing is strict RFC 3261 §25.1 character classes for sip/sips (user,
/// password, host, port, `uri-parameter`, `header`), RFC 3966-ish for tel
/// (digits, visual separators, `*#`, parameters), and "no whitespace,
/// controls, `<`, `>` or `\"`" for other schemes' opaque part.
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
        parse_uri_ref(s)
            .map(|u| u.build())
            .map_err(|offset| crate::parser::err(ParseErrorKind::BadRequestUri, offset))
    }
    /// A plain `sip:` URI with just a host (and optional user and port).
    pub fn sip(user: Option<&str>, host: Host, port: Option<u16>) -> Uri {
        Uri {
            scheme: Scheme::Sip,
            user: user.map(str::to_owned),
            password: None,
            host: Some(host),
            port,
            params: Vec::new(),
            headers: Vec::new(),
            opaque: None,
        }
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
        self.user.as_deref().map(unescape)
    }
    /// The host as text (domain lower-case, IPv6 with brackets), if any.
    pub fn host_str(&self) -> Option<String> {
        self.host.as_ref().map(|h| h.to_string())
    }
}

impl std::fmt::Display for Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.scheme {
            Scheme::Sip => f.write_str("sip:")?,
            Scheme::Sips => f.write_str("sips:")?,
            Scheme::Tel => f.write_str("tel:")?,
            Scheme::Other(s) => {
                write!(f, "{s}:")?;
                return f.write_str(self.opaque.as_deref().unwrap_or(""));
            }
        }
        if let Some(user) = &self.user {
            f.write_str(user)?;
            if let Some(pw) = &self.password {
                write!(f, ":{pw}")?;
            }
            if self.scheme != Scheme::Tel {
                f.write_str("@")?;
            }
        }
        if let Some(host) = &self.host {
            write!(f, "{host}")?;
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        for (name, value) in &self.params {
            match value {
                Some(v) => write!(f, ";{name}={v}")?,
                None => write!(f, ";{name}")?,
            }
        }
        for (i, (name, value)) in self.headers.iter().enumerate() {
            let sep = if i == 0 { '?' } else { '&' };
            write!(f, "{sep}{name}={value}")?;
        }
        Ok(())
    }
}

/// Decodes `%HH` escapes; malformed escapes are kept literally.
pub(crate) fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (b.get(i + 1).and_then(hex), b.get(i + 2).and_then(hex))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn is_hex(b: &u8) -> bool {
    b.is_ascii_hexdigit()
}

fn hex(b: &u8) -> Option<u8> {
    (*b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Checks that `s` is made of `class` characters and well-formed `%HH`.
fn check_chars(s: &str, class: u8) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if !b.get(i + 1).is_some_and(is_hex) || !b.get(i + 2).is_some_and(is_hex) {
                return false;
            }
            i += 3;
        } else if in_class(b[i], class) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

/// A host as written: a domain not yet lower-cased, or an IP address.
#[derive(Debug, Clone, Copy)]
pub(crate) enum HostRef<'a> {
    Domain(&'a str),
    Ip(IpAddr),
}

impl HostRef<'_> {
    pub(crate) fn to_host(self) -> Host {
        match self {
            HostRef::Domain(d) if d.bytes().any(|c| c.is_ascii_uppercase()) => {
                Host::Domain(d.to_ascii_lowercase().into())
            }
            HostRef::Domain(d) => Host::Domain(d.into()),
            HostRef::Ip(a) => Host::Ip(a),
        }
    }
}

/// Parses `host [":" port]` at the start of `s`; returns the host, port and
/// the number of bytes consumed. The host ends at `;`, `?`, `>` , whitespace
/// or the end.
pub(crate) fn parse_hostport(s: &str) -> Option<(HostRef<'_>, Option<u16>, usize)> {
    let b = s.as_bytes();
    let (host, mut i) = if b.first() == Some(&b'[') {
        let close = memchr(b']', b)?;
        let addr: std::net::Ipv6Addr = s.get(1..close)?.parse().ok()?;
        (HostRef::Ip(IpAddr::V6(addr)), close + 1)
    } else {
        let end = b
            .iter()
            .position(|&c| !in_class(c, HOST))
            .unwrap_or(b.len());
        (parse_host_text(s.get(..end)?)?, end)
    };
    let mut port = None;
    if b.get(i) == Some(&b':') {
        let start = i + 1;
        let mut end = start;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
        if end == start || end - start > 5 {
            return None;
        }
        port = Some(s.get(start..end)?.parse::<u16>().ok()?);
        i = end;
    }
    Some((host, port, i))
}

/// A hostname or IPv4 address (no brackets).
pub(crate) fn parse_host_text(text: &str) -> Option<HostRef<'_>> {
    let b = text.as_bytes();
    if b.is_empty() || matches!(b[0], b'.' | b'-') || b.windows(2).any(|w| w == b"..") {
        return None;
    }
    if b.iter().all(|c| c.is_ascii_digit() || *c == b'.') {
        // All digits and dots: must be an IPv4 address (a toplabel starts
        // with a letter, RFC 3261 §25.1).
        let addr: std::net::Ipv4Addr = text.parse().ok()?;
        return Some(HostRef::Ip(IpAddr::V4(addr)));
    }
    Some(HostRef::Domain(text))
}

/// Checks `;name[=value]…` URI parameters up to `?` or the end; returns
/// the length they take.
fn check_uri_params(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while b.get(i) == Some(&b';') {
        let start = i + 1;
        let end = b[start..]
            .iter()
            .position(|&c| c == b';' || c == b'?')
            .map_or(b.len(), |p| start + p);
        let item = s.get(start..end)?;
        let (name, value) = match item.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (item, None),
        };
        if name.is_empty() || !check_chars(name, URI_PARAM) {
            return None;
        }
        if let Some(v) = value
            && (v.is_empty() || !check_chars(v, URI_PARAM))
        {
            return None;
        }
        i = end;
    }
    Some(i)
}

/// The scheme of a [`UriRef`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum SchemeRef<'a> {
    Sip,
    Sips,
    Tel,
    Other(&'a str),
}

/// A checked URI as slices of its text: what [`Uri::parse`] accepts,
/// without allocating. [`UriRef::build`] builds the [`Uri`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct UriRef<'a> {
    pub(crate) scheme: SchemeRef<'a>,
    pub(crate) user: Option<&'a str>,
    pub(crate) password: Option<&'a str>,
    pub(crate) host: Option<HostRef<'a>>,
    pub(crate) port: Option<u16>,
    /// The checked `;name[=value]…` text (empty if none).
    pub(crate) params: &'a str,
    /// The checked text after `?`, if the URI has headers (never empty).
    pub(crate) headers: Option<&'a str>,
    pub(crate) opaque: Option<&'a str>,
}

impl UriRef<'_> {
    pub(crate) fn build(&self) -> Uri {
        Uri {
            scheme: match self.scheme {
                SchemeRef::Sip => Scheme::Sip,
                SchemeRef::Sips => Scheme::Sips,
                SchemeRef::Tel => Scheme::Tel,
                SchemeRef::Other(s) => Scheme::Other(s.into()),
            },
            user: self.user.map(str::to_owned),
            password: self.password.map(str::to_owned),
            host: self.host.map(HostRef::to_host),
            port: self.port,
            params: self
                .params
                .split(';')
                .skip(1)
                .map(|item| match item.split_once('=') {
                    Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                    None => (item.to_owned(), None),
                })
                .collect(),
            headers: self.headers.map_or_else(Vec::new, |hs| {
                hs.split('&')
                    .map(|item| {
                        let (n, v) = item.split_once('=').unwrap_or((item, ""));
                        (n.to_owned(), v.to_owned())
                    })
                    .collect()
            }),
            opaque: self.opaque.map(str::to_owned),
        }
    }
}

/// Parses a URI without allocating; the error is a byte offset in `s`.
pub(crate) fn parse_uri_ref(s: &str) -> Result<UriRef<'_>, usize> {
    let colon = memchr(b':', s.as_bytes()).ok_or(0usize)?;
    let scheme_text = &s[..colon];
    let sb = scheme_text.as_bytes();
    if sb.is_empty()
        || !sb[0].is_ascii_alphabetic()
        || !sb
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
    {
        return Err(0);
    }
    let rest = &s[colon + 1..];
    let base = colon + 1;
    let mut uri = UriRef {
        scheme: SchemeRef::Sip,
        user: None,
        password: None,
        host: None,
        port: None,
        params: "",
        headers: None,
        opaque: None,
    };
    if scheme_text.eq_ignore_ascii_case("sip") {
        uri.scheme = SchemeRef::Sip;
    } else if scheme_text.eq_ignore_ascii_case("sips") {
        uri.scheme = SchemeRef::Sips;
    } else if scheme_text.eq_ignore_ascii_case("tel") {
        let end = memchr(b';', rest.as_bytes()).unwrap_or(rest.len());
        let number = &rest[..end];
        if number.is_empty()
            || !number.bytes().all(|c| {
                c.is_ascii_alphanumeric()
                    || matches!(c, b'+' | b'-' | b'.' | b'(' | b')' | b'*' | b'#')
            })
        {
            return Err(base);
        }
        let used = check_uri_params(&rest[end..]).ok_or(base + end)?;
        if end + used != rest.len() {
            return Err(base + end + used);
        }
        uri.scheme = SchemeRef::Tel;
        uri.user = Some(number);
        uri.params = &rest[end..];
        return Ok(uri);
    } else {
        if rest.is_empty()
            || rest
                .bytes()
                .any(|c| c <= b' ' || c >= 0x7f || matches!(c, b'<' | b'>' | b'"'))
        {
            return Err(base);
        }
        uri.scheme = SchemeRef::Other(scheme_text);
        uri.opaque = Some(rest);
        return Ok(uri);
    }
    // sip / sips: [userinfo "@"] hostport uri-parameters [headers]
    let (host_part, host_off) = match memchr(b'@', rest.as_bytes()) {
        Some(at) => {
            let userinfo = &rest[..at];
            let (user, password) = match memchr(b':', userinfo.as_bytes()) {
                Some(c) => (&userinfo[..c], Some(&userinfo[c + 1..])),
                None => (userinfo, None),
            };
            if user.is_empty() || !check_chars(user, URI_USER) {
                return Err(base);
            }
            if let Some(pw) = password
                && !check_chars(pw, URI_PASSWORD)
            {
                return Err(base);
            }
            uri.user = Some(user);
            uri.password = password;
            (&rest[at + 1..], base + at + 1)
        }
        None => (rest, base),
    };
    let (host, port, used) = parse_hostport(host_part).ok_or(host_off)?;
    uri.host = Some(host);
    uri.port = port;
    let after = &host_part[used..];
    let p_used = check_uri_params(after).ok_or(host_off + used)?;
    uri.params = &after[..p_used];
    let after = &after[p_used..];
    if let Some(hs) = after.strip_prefix('?') {
        for item in hs.split('&') {
            let (n, v) = item.split_once('=').ok_or(host_off + used + p_used)?;
            if n.is_empty() || !check_chars(n, URI_HEADER) || !check_chars(v, URI_HEADER) {
                return Err(host_off + used + p_used);
            }
        }
        uri.headers = Some(hs);
    } else if !after.is_empty() {
        return Err(host_off + used + p_used);
    }
    Ok(uri)
}

impl Uri {
    /// Appends the URI as [`Display`](std::fmt::Display) writes it, without
    /// going through the formatter.
    pub(crate) fn write_bytes(&self, out: &mut Vec<u8>) {
        match &self.scheme {
            Scheme::Sip => out.extend_from_slice(b"sip:"),
            Scheme::Sips => out.extend_from_slice(b"sips:"),
            Scheme::Tel => out.extend_from_slice(b"tel:"),
            Scheme::Other(s) => {
                out.extend_from_slice(s.as_bytes());
                out.push(b':');
                out.extend_from_slice(self.opaque.as_deref().unwrap_or("").as_bytes());
                return;
            }
        }
        if let Some(user) = &self.user {
            out.extend_from_slice(user.as_bytes());
            if let Some(pw) = &self.password {
                out.push(b':');
                out.extend_from_slice(pw.as_bytes());
            }
            if self.scheme != Scheme::Tel {
                out.push(b'@');
            }
        }
        match &self.host {
            Some(Host::Domain(d)) => out.extend_from_slice(d.as_bytes()),
            Some(host) => {
                use std::io::Write;
                // Writing to a Vec cannot fail.
                let _ = write!(out, "{host}");
            }
            None => {}
        }
        if let Some(port) = self.port {
            out.push(b':');
            crate::serialize::push_decimal(out, u64::from(port));
        }
        for (name, value) in &self.params {
            out.push(b';');
            out.extend_from_slice(name.as_bytes());
            if let Some(v) = value {
                out.push(b'=');
                out.extend_from_slice(v.as_bytes());
            }
        }
        for (i, (name, value)) in self.headers.iter().enumerate() {
            out.push(if i == 0 { b'?' } else { b'&' });
            out.extend_from_slice(name.as_bytes());
            out.push(b'=');
            out.extend_from_slice(value.as_bytes());
        }
    }
}
