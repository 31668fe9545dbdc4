use std::net::IpAddr;

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
        parse_uri(s).map_err(|offset| crate::parser::err(ParseErrorKind::BadRequestUri, offset))
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

fn hex(b: &u8) -> Option<u8> {
    (*b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
        )
}

/// Checks that `s` is made of `allowed` characters and well-formed `%HH`.
fn check_chars(s: &str, allowed: impl Fn(u8) -> bool) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if b.get(i + 1).and_then(hex).is_none() || b.get(i + 2).and_then(hex).is_none() {
                return false;
            }
            i += 3;
        } else if allowed(b[i]) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

fn user_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/')
}

fn password_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',')
}

fn param_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$')
}

fn header_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$')
}

/// Parses `host [":" port]` at the start of `s`; returns the host, port and
/// the number of bytes consumed. The host ends at `;`, `?`, `>` , whitespace
/// or the end.
pub(crate) fn parse_hostport(s: &str) -> Option<(Host, Option<u16>, usize)> {
    let b = s.as_bytes();
    let (host, mut i) = if b.first() == Some(&b'[') {
        let close = b.iter().position(|&c| c == b']')?;
        let addr: std::net::Ipv6Addr = s.get(1..close)?.parse().ok()?;
        (Host::Ip(IpAddr::V6(addr)), close + 1)
    } else {
        let end = b
            .iter()
            .position(|&c| !(c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_')))
            .unwrap_or(b.len());
        let text = &s[..end];
        (parse_host_text(text)?, end)
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
        port = Some(s[start..end].parse::<u16>().ok()?);
        i = end;
    }
    Some((host, port, i))
}

/// A hostname or IPv4 address (no brackets).
pub(crate) fn parse_host_text(text: &str) -> Option<Host> {
    let b = text.as_bytes();
    if b.is_empty() || matches!(b[0], b'.' | b'-') || text.contains("..") {
        return None;
    }
    if b.iter().all(|c| c.is_ascii_digit() || *c == b'.') {
        // All digits and dots: must be an IPv4 address (a toplabel starts
        // with a letter, RFC 3261 §25.1).
        let addr: std::net::Ipv4Addr = text.parse().ok()?;
        return Some(Host::Ip(IpAddr::V4(addr)));
    }
    if b.iter().any(|c| c.is_ascii_uppercase()) {
        Some(Host::Domain(text.to_ascii_lowercase().into()))
    } else {
        Some(Host::Domain(text.into()))
    }
}

type Params = Vec<(String, Option<String>)>;

/// `;name[=value]…` URI parameters up to `?` or the end.
fn parse_uri_params(s: &str) -> Option<(Params, usize)> {
    let mut params = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while b.get(i) == Some(&b';') {
        let start = i + 1;
        let end = b[start..]
            .iter()
            .position(|&c| c == b';' || c == b'?')
            .map_or(b.len(), |p| start + p);
        let item = &s[start..end];
        let (name, value) = match item.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (item, None),
        };
        if name.is_empty() || !check_chars(name, param_char) {
            return None;
        }
        if let Some(v) = value
            && (v.is_empty() || !check_chars(v, param_char))
        {
            return None;
        }
        params.push((name.to_owned(), value.map(str::to_owned)));
        i = end;
    }
    Some((params, i))
}

fn parse_uri(s: &str) -> Result<Uri, usize> {
    let colon = s.find(':').ok_or(0usize)?;
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
    let scheme = if scheme_text.eq_ignore_ascii_case("sip") {
        Scheme::Sip
    } else if scheme_text.eq_ignore_ascii_case("sips") {
        Scheme::Sips
    } else if scheme_text.eq_ignore_ascii_case("tel") {
        Scheme::Tel
    } else {
        if rest.is_empty()
            || rest
                .bytes()
                .any(|c| c <= b' ' || c >= 0x7f || matches!(c, b'<' | b'>' | b'"'))
        {
            return Err(base);
        }
        return Ok(Uri {
            scheme: Scheme::Other(scheme_text.into()),
            user: None,
            password: None,
            host: None,
            port: None,
            params: Vec::new(),
            headers: Vec::new(),
            opaque: Some(rest.to_owned()),
        });
    };
    if scheme == Scheme::Tel {
        let end = rest.find(';').unwrap_or(rest.len());
        let number = &rest[..end];
        if number.is_empty()
            || !number.bytes().all(|c| {
                c.is_ascii_alphanumeric()
                    || matches!(c, b'+' | b'-' | b'.' | b'(' | b')' | b'*' | b'#')
            })
        {
            return Err(base);
        }
        let (params, used) = parse_uri_params(&rest[end..]).ok_or(base + end)?;
        if end + used != rest.len() {
            return Err(base + end + used);
        }
        return Ok(Uri {
            scheme,
            user: Some(number.to_owned()),
            password: None,
            host: None,
            port: None,
            params,
            headers: Vec::new(),
            opaque: None,
        });
    }
    // sip / sips: [userinfo "@"] hostport uri-parameters [headers]
    let (user, password, host_part, host_off) = match rest.find('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let (user, password) = match userinfo.find(':') {
                Some(c) => (&userinfo[..c], Some(&userinfo[c + 1..])),
                None => (userinfo, None),
            };
            if user.is_empty() || !check_chars(user, user_char) {
                return Err(base);
            }
            if let Some(pw) = password
                && !check_chars(pw, password_char)
            {
                return Err(base);
            }
            (
                Some(user.to_owned()),
                password.map(str::to_owned),
                &rest[at + 1..],
                base + at + 1,
            )
        }
        None => (None, None, rest, base),
    };
    let (host, port, used) = parse_hostport(host_part).ok_or(host_off)?;
    let after = &host_part[used..];
    let (params, p_used) = parse_uri_params(after).ok_or(host_off + used)?;
    let after = &after[p_used..];
    let mut headers = Vec::new();
    if let Some(hs) = after.strip_prefix('?') {
        for item in hs.split('&') {
            let (n, v) = item.split_once('=').ok_or(host_off + used + p_used)?;
            if n.is_empty() || !check_chars(n, header_char) || !check_chars(v, header_char) {
                return Err(host_off + used + p_used);
            }
            headers.push((n.to_owned(), v.to_owned()));
        }
    } else if !after.is_empty() {
        return Err(host_off + used + p_used);
    }
    Ok(Uri {
        scheme,
        user,
        password,
        host: Some(host),
        port,
        params,
        headers,
        opaque: None,
    })
}
