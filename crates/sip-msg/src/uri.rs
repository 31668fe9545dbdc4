use std::net::IpAddr;

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

/// Decodes `%HH` escapes (RFC 3261 §19.1.2, e.g. a URI header value like
/// `Replaces=abc%40host%3Bto-tag%3D1`); malformed escapes are kept literally.
pub fn unescape(s: &str) -> Vec<u8> {
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

/// A host as written: a domain not yet lower-cased, or an IP address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostRef<'a> {
    Domain(&'a str),
    Ip(IpAddr),
}

impl HostRef<'_> {
    /// The owned [`Host`] (a domain lower-cased), as [`Uri::parse`] gives it.
    pub fn to_host(self) -> Host {
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
        let close = b.iter().position(|&c| c == b']')?;
        let addr: std::net::Ipv6Addr = s.get(1..close)?.parse().ok()?;
        (HostRef::Ip(IpAddr::V6(addr)), close + 1)
    } else {
        let end = host_run(b);
        (parse_host_text(s.get(..end)?)?, end)
    };
    let mut port = None;
    if b.get(i) == Some(&b':') {
        let (p, used) = parse_port(&b[i + 1..])?;
        port = Some(p);
        i += 1 + used;
    }
    Some((host, port, i))
}

/// Length of the run of hostname / IPv4 characters at the start of `b`.
#[inline]
pub(crate) fn host_run(b: &[u8]) -> usize {
    b.iter()
        .position(|&c| !in_class(c, HOST))
        .unwrap_or(b.len())
}

/// `1*5DIGIT` at the start of `b` as a port (`u16::from_str` rules: at
/// most 65535); returns it and the digits used.
#[inline]
pub(crate) fn parse_port(b: &[u8]) -> Option<(u16, usize)> {
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 || digits > 5 {
        return None;
    }
    let mut v: u32 = 0;
    for &c in &b[..digits] {
        v = v * 10 + u32::from(c - b'0');
    }
    Some((u16::try_from(v).ok()?, digits))
}

/// A hostname or IPv4 address (no brackets).
pub(crate) fn parse_host_text(text: &str) -> Option<HostRef<'_>> {
    let b = text.as_bytes();
    if b.is_empty() || matches!(b[0], b'.' | b'-') {
        return None;
    }
    let mut digits_and_dots = true;
    let mut prev = 0u8;
    for &c in b {
        if c == b'.' && prev == b'.' {
            return None;
        }
        digits_and_dots &= c.is_ascii_digit() || c == b'.';
        prev = c;
    }
    if digits_and_dots {
        // All digits and dots: must be an IPv4 address (a toplabel starts
        // with a letter, RFC 3261 §25.1).
        return parse_ipv4(b).map(|a| HostRef::Ip(IpAddr::V4(a)));
    }
    Some(HostRef::Domain(text))
}

/// Dotted-quad IPv4 with the rules of `Ipv4Addr::from_str`: four decimal
/// octets of 1 to 3 digits, each at most 255, no leading zero, nothing else.
pub(crate) fn parse_ipv4(b: &[u8]) -> Option<std::net::Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut i = 0;
    for (n, octet) in octets.iter_mut().enumerate() {
        if n > 0 {
            if b.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 || digits > 3 || (digits > 1 && b[i] == b'0') {
            return None;
        }
        let mut v: u32 = 0;
        for &c in &b[i..i + digits] {
            v = v * 10 + u32::from(c - b'0');
        }
        *octet = u8::try_from(v).ok()?;
        i += digits;
    }
    (i == b.len()).then(|| std::net::Ipv4Addr::from(octets))
}

/// Skips `class` characters and `%HH` escapes from `i`; returns where the
/// run ends, or `None` at a malformed escape.
#[inline]
fn escaped_run(b: &[u8], mut i: usize, class: u8) -> Option<usize> {
    while let Some(&c) = b.get(i) {
        if in_class(c, class) {
            i += 1;
        } else if c == b'%' {
            if !b.get(i + 1).is_some_and(is_hex) || !b.get(i + 2).is_some_and(is_hex) {
                return None;
            }
            i += 3;
        } else {
            break;
        }
    }
    Some(i)
}

/// Checks `;name[=value]…` URI parameters up to `?` or the end; returns
/// the length they take. Each parameter runs to the next `;` or `?`; its
/// name and value (if `=`) are non-empty `paramchar`s.
fn check_uri_params(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while b.get(i) == Some(&b';') {
        let name_end = escaped_run(b, i + 1, URI_PARAM)?;
        if name_end == i + 1 {
            return None;
        }
        i = name_end;
        if b.get(i) == Some(&b'=') {
            let value_end = escaped_run(b, i + 1, URI_PARAM)?;
            if value_end == i + 1 {
                return None;
            }
            i = value_end;
        }
        if !matches!(b.get(i), None | Some(b';' | b'?')) {
            return None;
        }
    }
    Some(i)
}

/// Checks URI headers (the text after `?`): `hname "=" hvalue` items
/// separated by `&`, names non-empty.
fn check_uri_headers(b: &[u8]) -> bool {
    let mut i = 0;
    loop {
        let Some(name_end) = escaped_run(b, i, URI_HEADER) else {
            return false;
        };
        if name_end == i || b.get(name_end) != Some(&b'=') {
            return false;
        }
        let Some(value_end) = escaped_run(b, name_end + 1, URI_HEADER) else {
            return false;
        };
        match b.get(value_end) {
            None => return true,
            Some(b'&') => i = value_end + 1,
            Some(_) => return false,
        }
    }
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
    let b = s.as_bytes();
    // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then ":"
    let colon = b
        .iter()
        .position(|&c| !(c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.')))
        .unwrap_or(b.len());
    if colon == 0 || b.get(colon) != Some(&b':') || !b[0].is_ascii_alphabetic() {
        return Err(0);
    }
    let scheme_text = &s[..colon];
    let rest = &s[colon + 1..];
    let rb = rest.as_bytes();
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
        let end = rb.iter().position(|&c| c == b';').unwrap_or(rb.len());
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
            || rb
                .iter()
                .any(|&c| c <= b' ' || c >= 0x7f || matches!(c, b'<' | b'>' | b'"'))
        {
            return Err(base);
        }
        uri.scheme = SchemeRef::Other(scheme_text);
        uri.opaque = Some(rest);
        return Ok(uri);
    }
    // sip / sips: [userinfo "@"] hostport uri-parameters [headers]
    let (host_part, host_off) = match rb.iter().position(|&c| c == b'@') {
        Some(at) => {
            // user [ ":" password ]: the user ends at the first ':'.
            let user_end = escaped_run(rb, 0, URI_USER).ok_or(base)?;
            if user_end == 0 {
                return Err(base);
            }
            if user_end == at {
                uri.user = Some(&rest[..at]);
            } else if rb[user_end] == b':' {
                let pw_end = escaped_run(rb, user_end + 1, URI_PASSWORD).ok_or(base)?;
                if pw_end != at {
                    return Err(base);
                }
                uri.user = Some(&rest[..user_end]);
                uri.password = Some(&rest[user_end + 1..at]);
            } else {
                return Err(base);
            }
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
        if !check_uri_headers(hs.as_bytes()) {
            return Err(host_off + used + p_used);
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn ipv4_parser_agrees_with_std_on_every_short_digit_and_dot_string() {
        let alphabet = b"0125.";
        let mut checked = 0;
        for len in 1..=8u32 {
            for mut code in 0..5usize.pow(len) {
                let mut s = Vec::new();
                for _ in 0..len {
                    s.push(alphabet[code % 5]);
                    code /= 5;
                }
                let text = std::str::from_utf8(&s).unwrap();
                assert_eq!(
                    parse_ipv4(&s),
                    text.parse::<std::net::Ipv4Addr>().ok(),
                    "{text}"
                );
                checked += 1;
            }
        }
        assert!(checked > 400_000);
    }

    #[test]
    fn ipv4_parser_agrees_with_std_on_octet_edge_cases() {
        for text in [
            "0.0.0.0",
            "255.255.255.255",
            "256.1.1.1",
            "1.1.1.256",
            "01.1.1.1",
            "1.1.1.01",
            "1.1.1",
            "1.1.1.1.",
            "1.1.1.1.1",
            "1000.1.1.1",
            "999.9.9.9",
            "192.0.2.10",
            "",
            ".",
        ] {
            assert_eq!(
                parse_ipv4(text.as_bytes()),
                text.parse::<std::net::Ipv4Addr>().ok(),
                "{text}"
            );
        }
    }

    #[test]
    fn uri_bytes_are_what_display_writes() {
        for text in [
            "sip:alice@example.com",
            "sips:Alice:pw@EXAMPLE.com:5061;transport=tls;lr?subject=x&h=",
            "sip:[2001:db8::1]:5060;maddr=[::1]",
            "sip:192.0.2.1",
            "tel:+1-201-555-0123;phone-context=example.com",
            "urn:service:sos",
            "sip:%61lice@example.com;p=%41",
        ] {
            let uri = Uri::parse(text).unwrap();
            let mut out = Vec::new();
            uri.write_bytes(&mut out);
            assert_eq!(String::from_utf8(out).unwrap(), uri.to_string(), "{text}");
        }
    }
}
