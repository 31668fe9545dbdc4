//! The SDP data model (RFC 8866 §5) and its serializer.
//!
//! The model is lossless for everything vpbx does not interpret: unknown
//! attributes, `r=`/`z=`/`k=` text and attribute values are kept verbatim and
//! written back in their original order. Only the position of a line may
//! change: the serializer writes lines in RFC 8866 order (`v o s i u e p c b
//! t r z k a` at session level, `m i c b k a` per media section), while the
//! parser also accepts them out of order.
//!
//! Field invariants (the parser guarantees them; code building a [`Session`]
//! by hand must keep them or the text will not parse back the same): token
//! fields (`username`, `net_type`, `proto`, formats, ...) are non-empty and
//! contain no whitespace; text fields do not end in a space or tab. CR, LF and
//! NUL are dropped by the serializer wherever they appear, so a field can never
//! inject a line.

use std::fmt::{self, Write as _};
use std::net::IpAddr;

/// A whole session description: session-level lines and media sections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Session {
    /// `v=`, always 0 in RFC 8866.
    pub version: u32,
    /// `o=`.
    pub origin: OriginLine,
    /// `s=`; empty is written as `s= ` (RFC 8866 §5.3).
    pub name: String,
    /// `i=` at session level.
    pub info: Option<String>,
    /// `u=`.
    pub uri: Option<String>,
    /// `e=` lines.
    pub emails: Vec<String>,
    /// `p=` lines.
    pub phones: Vec<String>,
    /// Session-level `c=`.
    pub connection: Option<Connection>,
    /// Session-level `b=` lines.
    pub bandwidths: Vec<Bandwidth>,
    /// `t=` lines, each with its `r=` lines.
    pub times: Vec<Timing>,
    /// `z=` (verbatim).
    pub zone: Option<String>,
    /// Session-level `k=` (verbatim; obsolete but kept).
    pub key: Option<String>,
    /// Session-level `a=` lines, in order.
    pub attributes: Vec<Attribute>,
    /// `m=` sections, in order.
    pub media: Vec<Media>,
}

/// The `o=` line as written on the wire (RFC 8866 §5.2).
///
/// `session_id` and `session_version` stay text: some agents use numbers
/// wider than 64 bits, and only equality matters when reading a peer's.
/// Our own origin is [`crate::Origin`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginLine {
    /// `<username>`, `-` when there is none.
    pub username: String,
    /// `<sess-id>`.
    pub session_id: String,
    /// `<sess-version>`.
    pub session_version: String,
    /// `<nettype>`, `IN`.
    pub net_type: String,
    /// `<addrtype>`, `IP4` or `IP6`.
    pub addr_type: String,
    /// `<unicast-address>`.
    pub address: String,
}

/// A `c=` line (RFC 8866 §5.7).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connection {
    /// `IN`.
    pub net_type: String,
    /// `IP4` or `IP6`.
    pub addr_type: String,
    /// The address as written, including any `/ttl/count` suffix or an FQDN.
    pub address: String,
}

impl Connection {
    /// `c=IN IP4 <ip>` or `c=IN IP6 <ip>`.
    pub fn new(ip: IpAddr) -> Connection {
        Connection {
            net_type: "IN".to_owned(),
            addr_type: addr_type(ip).to_owned(),
            address: ip.to_string(),
        }
    }

    /// The address as an IP, when it is one (`/ttl` suffixes are ignored;
    /// FQDNs give `None`, a pure crate does not resolve names).
    pub fn ip(&self) -> Option<IpAddr> {
        if !self.net_type.eq_ignore_ascii_case("IN") {
            return None;
        }
        let host = self.address.split('/').next().unwrap_or_default();
        host.parse().ok()
    }
}

/// `IP4` or `IP6` for an address.
pub(crate) fn addr_type(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    }
}

/// A `b=<bwtype>:<bandwidth>` line (RFC 8866 §5.8).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bandwidth {
    /// `AS`, `CT`, `TIAS`, `RR`, `RS`, ...
    pub bwtype: String,
    /// The value (kbit/s for `AS`/`CT`, bit/s for `TIAS`).
    pub bandwidth: u64,
}

/// A `t=` line and the `r=` lines that follow it (RFC 8866 §5.9, §5.10).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timing {
    /// `<start-time>` (NTP seconds; 0 for unbounded).
    pub start: u64,
    /// `<stop-time>`.
    pub stop: u64,
    /// `r=` lines, verbatim.
    pub repeats: Vec<String>,
}

/// An `a=` line (RFC 8866 §5.13): `a=<name>` or `a=<name>:<value>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attribute {
    /// The attribute name (text before the first `:`).
    pub name: String,
    /// The value after the first `:`, verbatim; `None` for a property
    /// attribute such as `a=sendrecv` (`a=x:` gives `Some("")`).
    pub value: Option<String>,
}

impl Attribute {
    /// A property attribute, `a=<name>`.
    pub fn property(name: impl Into<String>) -> Attribute {
        Attribute {
            name: name.into(),
            value: None,
        }
    }

    /// A value attribute, `a=<name>:<value>`.
    pub fn with_value(name: impl Into<String>, value: impl Into<String>) -> Attribute {
        Attribute {
            name: name.into(),
            value: Some(value.into()),
        }
    }
}

/// One media section: an `m=` line and the lines under it (RFC 8866 §5.14).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Media {
    /// `audio`, `video`, `image`, `application`, ...
    pub media: String,
    /// The transport port; 0 means the stream is rejected or disabled.
    pub port: u16,
    /// The `/<number of ports>` suffix, when written.
    pub num_ports: Option<u16>,
    /// `RTP/AVP`, `RTP/AVPF`, `RTP/SAVP`, `udptl`, ...
    pub proto: String,
    /// The formats (RTP payload type numbers for RTP protocols), in order.
    pub formats: Vec<String>,
    /// Media-level `i=`.
    pub info: Option<String>,
    /// Media-level `c=` lines (several only for layered multicast).
    pub connections: Vec<Connection>,
    /// Media-level `b=` lines.
    pub bandwidths: Vec<Bandwidth>,
    /// Media-level `k=` (verbatim).
    pub key: Option<String>,
    /// Media-level `a=` lines, in order.
    pub attributes: Vec<Attribute>,
}

/// Attribute lookups shared by session and media levels. Names compare
/// ASCII case-insensitively.
fn find<'a>(attributes: &'a [Attribute], name: &str) -> Option<&'a Attribute> {
    attributes
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
}

impl Media {
    /// The first attribute called `name`.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        find(&self.attributes, name)
    }

    /// The value of the first attribute called `name` (`None` if absent or a
    /// property attribute).
    pub fn attribute_value(&self, name: &str) -> Option<&str> {
        self.attribute(name).and_then(|a| a.value.as_deref())
    }

    /// Whether an attribute called `name` is present.
    pub fn has_attribute(&self, name: &str) -> bool {
        self.attribute(name).is_some()
    }

    /// The connection that applies to this section: its own first `c=`, else
    /// the session's.
    pub fn effective_connection<'a>(&'a self, session: &'a Session) -> Option<&'a Connection> {
        self.connections.first().or(session.connection.as_ref())
    }
}

impl Session {
    /// The first session-level attribute called `name`.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        find(&self.attributes, name)
    }

    /// The value of the first session-level attribute called `name`.
    pub fn attribute_value(&self, name: &str) -> Option<&str> {
        self.attribute(name).and_then(|a| a.value.as_deref())
    }

    /// The serialized text, CRLF line endings.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }

    /// Whether two descriptions say the same thing apart from their `o=`
    /// lines — the RFC 3264 §8 test for whether a new SDP needs a new version.
    pub fn same_content(&self, other: &Session) -> bool {
        // Compare field by field rather than cloning: `o=` is the only field left out.
        let Session {
            version,
            origin: _,
            name,
            info,
            uri,
            emails,
            phones,
            connection,
            bandwidths,
            times,
            zone,
            key,
            attributes,
            media,
        } = self;
        *version == other.version
            && *name == other.name
            && *info == other.info
            && *uri == other.uri
            && *emails == other.emails
            && *phones == other.phones
            && *connection == other.connection
            && *bandwidths == other.bandwidths
            && *times == other.times
            && *zone == other.zone
            && *key == other.key
            && *attributes == other.attributes
            && *media == other.media
    }
}

/// Writes text with CR, LF and NUL removed, so no field can start a new line.
struct Clean<'a>(&'a str);

impl fmt::Display for Clean<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in self.0.split(['\r', '\n', '\0']) {
            f.write_str(part)?;
        }
        Ok(())
    }
}

const CRLF: &str = "\r\n";

fn write_connection(f: &mut fmt::Formatter<'_>, c: &Connection) -> fmt::Result {
    write!(
        f,
        "c={} {} {}{CRLF}",
        Clean(&c.net_type),
        Clean(&c.addr_type),
        Clean(&c.address)
    )
}

fn write_bandwidth(f: &mut fmt::Formatter<'_>, b: &Bandwidth) -> fmt::Result {
    write!(f, "b={}:{}{CRLF}", Clean(&b.bwtype), b.bandwidth)
}

fn write_attribute(f: &mut fmt::Formatter<'_>, a: &Attribute) -> fmt::Result {
    match &a.value {
        Some(v) => write!(f, "a={}:{}{CRLF}", Clean(&a.name), Clean(v)),
        None => write!(f, "a={}{CRLF}", Clean(&a.name)),
    }
}

fn write_text(f: &mut fmt::Formatter<'_>, letter: char, text: &str) -> fmt::Result {
    f.write_char(letter)?;
    write!(f, "={}{CRLF}", Clean(text))
}

impl fmt::Display for Session {
    /// RFC 8866 text with CRLF line endings, lines in the RFC's order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v={}{CRLF}", self.version)?;
        let o = &self.origin;
        write!(
            f,
            "o={} {} {} {} {} {}{CRLF}",
            Clean(&o.username),
            Clean(&o.session_id),
            Clean(&o.session_version),
            Clean(&o.net_type),
            Clean(&o.addr_type),
            Clean(&o.address)
        )?;
        // RFC 8866 §5.3: a session without a name uses a single space.
        write_text(
            f,
            's',
            if self.name.is_empty() {
                " "
            } else {
                &self.name
            },
        )?;
        if let Some(i) = &self.info {
            write_text(f, 'i', i)?;
        }
        if let Some(u) = &self.uri {
            write_text(f, 'u', u)?;
        }
        for e in &self.emails {
            write_text(f, 'e', e)?;
        }
        for p in &self.phones {
            write_text(f, 'p', p)?;
        }
        if let Some(c) = &self.connection {
            write_connection(f, c)?;
        }
        for b in &self.bandwidths {
            write_bandwidth(f, b)?;
        }
        for t in &self.times {
            write!(f, "t={} {}{CRLF}", t.start, t.stop)?;
            for r in &t.repeats {
                write_text(f, 'r', r)?;
            }
        }
        if let Some(z) = &self.zone {
            write_text(f, 'z', z)?;
        }
        if let Some(k) = &self.key {
            write_text(f, 'k', k)?;
        }
        for a in &self.attributes {
            write_attribute(f, a)?;
        }
        for m in &self.media {
            write!(f, "m={} {}", Clean(&m.media), m.port)?;
            if let Some(n) = m.num_ports {
                write!(f, "/{n}")?;
            }
            write!(f, " {}", Clean(&m.proto))?;
            for fmt in &m.formats {
                write!(f, " {}", Clean(fmt))?;
            }
            f.write_str(CRLF)?;
            if let Some(i) = &m.info {
                write_text(f, 'i', i)?;
            }
            for c in &m.connections {
                write_connection(f, c)?;
            }
            for b in &m.bandwidths {
                write_bandwidth(f, b)?;
            }
            if let Some(k) = &m.key {
                write_text(f, 'k', k)?;
            }
            for a in &m.attributes {
                write_attribute(f, a)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn serializer_drops_line_breaks_smuggled_into_fields() {
        let s = Session {
            name: "evil\r\na=injected".to_owned(),
            origin: OriginLine {
                username: "-".to_owned(),
                session_id: "1".to_owned(),
                session_version: "1".to_owned(),
                net_type: "IN".to_owned(),
                addr_type: "IP4".to_owned(),
                address: "192.0.2.1".to_owned(),
            },
            ..Session::default()
        };
        let text = s.to_string();
        assert_eq!(
            text,
            "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=evila=injected\r\n"
        );
    }

    #[test]
    fn empty_session_name_is_written_as_a_single_space() {
        let text = Session::default().to_string();
        assert!(text.contains("\r\ns= \r\n"), "{text:?}");
    }

    #[test]
    fn connection_ip_ignores_multicast_ttl_and_refuses_names() {
        let c = Connection {
            net_type: "IN".into(),
            addr_type: "IP4".into(),
            address: "224.2.1.1/127".into(),
        };
        assert_eq!(c.ip(), Some("224.2.1.1".parse().unwrap()));
        let c = Connection {
            address: "pbx.example.com".into(),
            ..c
        };
        assert_eq!(c.ip(), None);
    }

    #[test]
    fn same_content_ignores_only_the_origin_line() {
        let a = Session {
            name: "x".into(),
            ..Session::default()
        };
        let mut b = a.clone();
        b.origin.session_version = "7".into();
        assert!(a.same_content(&b));
        b.name = "y".into();
        assert!(!a.same_content(&b));
    }
}
