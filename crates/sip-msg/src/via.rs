use memchr::memchr;

use crate::parser::{
    HOST, in_class, is_token_char, is_ws, parse_generic_params, scan_generic_params, trim_ws,
};
use crate::uri::{HostRef, parse_host_text};
use crate::{Host, ParseError, ParseErrorKind};

/// Via transport token (RFC 3261 §20.42). Unknown transports are kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
    Sctp,
    Ws,
    Wss,
    Other(Box<str>),
}

/// One Via value: `SIP/2.0/<transport> host[:port];params`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    pub transport: Transport,
    pub host: Host,
    pub port: Option<u16>,
    /// The `branch` parameter, if any.
    pub branch: Option<String>,
    /// The `received` parameter, if any.
    pub received: Option<String>,
    /// `None`: no rport; `Some(None)`: bare `rport`; `Some(Some(p))`: `rport=p`.
    pub rport: Option<Option<u16>>,
    /// All parameters in order (including branch/received/rport), as written.
    pub params: Vec<(String, Option<String>)>,
}

impl Via {
    ///
    /// Accepts SWS around `/`, `:` and `;` (RFC 3261 §25.1 `SLASH`, `COLON`,
    /// `SEMI`), any protocol name/version tokens, and unknown transports. A
    /// bare `rport` is `Some(None)`; `rport=` must carry a port number.
    pub fn parse(s: &str) -> Result<Via, ParseError> {
        parse_via_ref(s)
            .map(|v| v.build())
            .map_err(|offset| crate::parser::err(ParseErrorKind::BadHeader { name: "Via" }, offset))
    }
    /// A Via for an outgoing request: `SIP/2.0/<transport> host[:port];branch=…`.
    pub fn new(transport: Transport, host: Host, port: Option<u16>, branch: &str) -> Via {
        Via {
            transport,
            host,
            port,
            branch: Some(branch.to_owned()),
            received: None,
            rport: None,
            params: vec![("branch".to_owned(), Some(branch.to_owned()))],
        }
    }
    /// True when the branch starts with the RFC 3261 magic cookie `z9hG4bK`
    /// and has more after it.
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch
            .as_deref()
            .is_some_and(|b| b.len() > 7 && b.starts_with("z9hG4bK"))
    }
}

impl std::fmt::Display for Via {
    /// Writes `SIP/2.0/<transport> host[:port]` and the parameters in their
    /// order; `branch`, `received` and `rport` are written from the fields
    /// (so changing a field changes the output), appended if they were not in
    /// `params`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        let (mut branch, mut received, mut rport) = (false, false, false);
        for (name, value) in &self.params {
            if name.eq_ignore_ascii_case("branch") {
                if let (Some(b), false) = (&self.branch, branch) {
                    write!(f, ";{name}={b}")?;
                }
                branch = true;
            } else if name.eq_ignore_ascii_case("received") {
                if let (Some(r), false) = (&self.received, received) {
                    write!(f, ";{name}={r}")?;
                }
                received = true;
            } else if name.eq_ignore_ascii_case("rport") {
                match (self.rport, rport) {
                    (Some(Some(p)), false) => write!(f, ";{name}={p}")?,
                    (Some(None), false) => write!(f, ";{name}")?,
                    _ => {}
                }
                rport = true;
            } else {
                match value {
                    Some(v) => write!(f, ";{name}={v}")?,
                    None => write!(f, ";{name}")?,
                }
            }
        }
        if let (Some(b), false) = (&self.branch, branch) {
            write!(f, ";branch={b}")?;
        }
        if let (Some(r), false) = (&self.received, received) {
            write!(f, ";received={r}")?;
        }
        match (self.rport, rport) {
            (Some(Some(p)), false) => write!(f, ";rport={p}")?,
            (Some(None), false) => f.write_str(";rport")?,
            _ => {}
        }
        Ok(())
    }
}

impl Transport {
    pub fn as_str(&self) -> &str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Sctp => "SCTP",
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
            Transport::Other(s) => s,
        }
    }
    /// Case-insensitive; unknown tokens become `Other` as written.
    pub fn from_token(t: &str) -> Transport {
        let known = [
            ("UDP", Transport::Udp),
            ("TCP", Transport::Tcp),
            ("TLS", Transport::Tls),
            ("SCTP", Transport::Sctp),
            ("WS", Transport::Ws),
            ("WSS", Transport::Wss),
        ];
        for (name, tr) in known {
            if t.eq_ignore_ascii_case(name) {
                return tr;
            }
        }
        Transport::Other(t.into())
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_ws(b[i]) {
        i += 1;
    }
    i
}

fn token_at(b: &[u8], i: usize) -> usize {
    let mut j = i;
    while j < b.len() && is_token_char(b[j]) {
        j += 1;
    }
    j
}

/// A checked Via value as slices of its text: what [`Via::parse`] accepts,
/// without allocating. [`ViaRef::build`] builds the [`Via`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct ViaRef<'a> {
    transport: &'a str,
    host: HostRef<'a>,
    /// The sent-by host as written.
    pub(crate) host_text: &'a str,
    pub(crate) port: Option<u16>,
    /// The checked `;name[=value]…` text.
    params: &'a str,
    pub(crate) branch: Option<&'a str>,
    received: Option<&'a str>,
    rport: Option<Option<u16>>,
}

impl ViaRef<'_> {
    pub(crate) fn build(&self) -> Via {
        Via {
            transport: Transport::from_token(self.transport),
            host: self.host.to_host(),
            port: self.port,
            branch: self.branch.map(str::to_owned),
            received: self.received.map(str::to_owned),
            rport: self.rport,
            params: parse_generic_params(self.params).unwrap_or_default(),
        }
    }
}

/// Parses one Via value without allocating; the error is a byte offset in
/// the trimmed value.
pub(crate) fn parse_via_ref(s: &str) -> Result<ViaRef<'_>, usize> {
    let s = trim_ws(s);
    let b = s.as_bytes();
    // sent-protocol = protocol-name SLASH protocol-version SLASH transport
    let mut i = 0;
    let mut transport = "";
    for part in 0..3 {
        i = skip_ws(b, i);
        let end = token_at(b, i);
        if end == i {
            return Err(i);
        }
        if part == 2 {
            transport = &s[i..end];
        }
        i = skip_ws(b, end);
        if part < 2 {
            if b.get(i) != Some(&b'/') {
                return Err(i);
            }
            i += 1;
        }
    }
    if i == 0 || !b.get(i.wrapping_sub(1)).is_some_and(|c| is_ws(*c)) {
        return Err(i);
    }
    // sent-by = host [ COLON port ]
    let host_end = if b.get(i) == Some(&b'[') {
        memchr(b']', &b[i..]).ok_or(i)? + i + 1
    } else {
        b[i..]
            .iter()
            .position(|&c| !in_class(c, HOST))
            .map_or(b.len(), |p| p + i)
    };
    let host_text = &s[i..host_end];
    let host = if let Some(v6) = host_text
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
    {
        HostRef::Ip(std::net::IpAddr::V6(v6.parse().map_err(|_| i)?))
    } else {
        parse_host_text(host_text).ok_or(i)?
    };
    i = skip_ws(b, host_end);
    let mut port = None;
    if b.get(i) == Some(&b':') {
        i = skip_ws(b, i + 1);
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start || i - start > 5 {
            return Err(start);
        }
        port = Some(s[start..i].parse::<u16>().map_err(|_| start)?);
    }
    let params = &s[i..];
    let mut via = ViaRef {
        transport,
        host,
        host_text,
        port,
        params,
        branch: None,
        received: None,
        rport: None,
    };
    // branch and received need a value and rport's must be a port; only
    // the first of each counts.
    let ok = scan_generic_params(params, |name, value| {
        if name.eq_ignore_ascii_case("branch") && via.branch.is_none() {
            via.branch = value;
            value.is_some()
        } else if name.eq_ignore_ascii_case("received") && via.received.is_none() {
            via.received = value;
            value.is_some()
        } else if name.eq_ignore_ascii_case("rport") && via.rport.is_none() {
            match value {
                None => via.rport = Some(None),
                Some(v) => match v.parse::<u16>() {
                    Ok(p) => via.rport = Some(Some(p)),
                    Err(_) => return false,
                },
            }
            true
        } else {
            true
        }
    });
    if !ok {
        return Err(i);
    }
    Ok(via)
}
