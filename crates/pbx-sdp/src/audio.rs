//! The audio view: what a description says about its RTP audio stream.

use std::net::{IpAddr, SocketAddr};

use crate::model::{Attribute, Media, Session};
use crate::parse::digits;

/// Media direction (RFC 8866 §6.7, RFC 3264 §5.1), from the point of view
/// of the agent that wrote the description.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `a=sendrecv` (the default when no direction attribute is present).
    #[default]
    SendRecv,
    /// `a=sendonly`.
    SendOnly,
    /// `a=recvonly`.
    RecvOnly,
    /// `a=inactive`.
    Inactive,
}

impl Direction {
    /// The direction that sends when `send` and receives when `recv`.
    pub fn from_flags(send: bool, recv: bool) -> Direction {
        match (send, recv) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    /// Whether this direction sends media.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether this direction receives media.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// The same stream seen from the other end: sendonly ↔ recvonly.
    pub fn reversed(self) -> Direction {
        Direction::from_flags(self.receives(), self.sends())
    }

    /// Both restrictions at once: sends only if both send, receives only if
    /// both receive.
    pub fn intersect(self, other: Direction) -> Direction {
        Direction::from_flags(
            self.sends() && other.sends(),
            self.receives() && other.receives(),
        )
    }

    /// The attribute name: `sendrecv`, `sendonly`, `recvonly`, `inactive`.
    pub fn attribute_name(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction an attribute name stands for, if it is one.
    pub fn from_attribute(name: &str) -> Option<Direction> {
        [
            Direction::SendRecv,
            Direction::SendOnly,
            Direction::RecvOnly,
            Direction::Inactive,
        ]
        .into_iter()
        .find(|d| name.eq_ignore_ascii_case(d.attribute_name()))
    }

    /// The first direction attribute in a list.
    pub(crate) fn find(attributes: &[Attribute]) -> Option<Direction> {
        attributes
            .iter()
            .filter(|a| a.value.is_none())
            .find_map(|a| Direction::from_attribute(&a.name))
    }
}

/// An RTP payload format: payload type number and `rtpmap`/`fmtp` content.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Codec {
    /// Payload type number (0..=127).
    pub pt: u8,
    /// Encoding name as written (`PCMA`, `opus`); compare it
    /// case-insensitively, [`Codec::same_format`] does.
    pub name: String,
    /// RTP clock rate.
    pub clock_rate: u32,
    /// Channels (1 unless the rtpmap says otherwise).
    pub channels: u8,
    /// `a=fmtp` parameters, verbatim.
    pub fmtp: Option<String>,
}

/// RFC 3551 §6 static audio payload types: (pt, name, clock rate, channels).
const STATIC_AUDIO: &[(u8, &str, u32, u8)] = &[
    (0, "PCMU", 8000, 1),
    (3, "GSM", 8000, 1),
    (4, "G723", 8000, 1),
    (5, "DVI4", 8000, 1),
    (6, "DVI4", 16000, 1),
    (7, "LPC", 8000, 1),
    (8, "PCMA", 8000, 1),
    (9, "G722", 8000, 1),
    (10, "L16", 44100, 2),
    (11, "L16", 44100, 1),
    (12, "QCELP", 8000, 1),
    (13, "CN", 8000, 1),
    (14, "MPA", 90000, 1),
    (15, "G728", 8000, 1),
    (16, "DVI4", 11025, 1),
    (17, "DVI4", 22050, 1),
    (18, "G729", 8000, 1),
];

impl Codec {
    /// A mono codec without fmtp.
    pub fn new(pt: u8, name: impl Into<String>, clock_rate: u32) -> Codec {
        Codec {
            pt,
            name: name.into(),
            clock_rate,
            channels: 1,
            fmtp: None,
        }
    }

    /// G.711 µ-law, static payload type 0.
    pub fn pcmu() -> Codec {
        Codec::new(0, "PCMU", 8000)
    }

    /// G.711 A-law, static payload type 8.
    pub fn pcma() -> Codec {
        Codec::new(8, "PCMA", 8000)
    }

    /// RFC 4733 `telephone-event/8000` with events `0-16` on `pt`.
    pub fn telephone_event(pt: u8) -> Codec {
        Codec {
            fmtp: Some("0-16".to_owned()),
            ..Codec::new(pt, "telephone-event", 8000)
        }
    }

    /// The RFC 3551 static audio payload type `pt`, if it is one.
    pub fn from_static_pt(pt: u8) -> Option<Codec> {
        STATIC_AUDIO
            .iter()
            .find(|(p, ..)| *p == pt)
            .map(|&(pt, name, clock_rate, channels)| Codec {
                pt,
                name: name.to_owned(),
                clock_rate,
                channels,
                fmtp: None,
            })
    }

    /// Same encoding name (case-insensitive), clock rate and channels; the
    /// payload type number and fmtp do not matter.
    pub fn same_format(&self, other: &Codec) -> bool {
        self.name.eq_ignore_ascii_case(&other.name)
            && self.clock_rate == other.clock_rate
            && self.channels == other.channels
    }

    /// Whether this is RFC 4733 `telephone-event`.
    pub fn is_telephone_event(&self) -> bool {
        self.name.eq_ignore_ascii_case("telephone-event")
    }

    /// The `a=rtpmap` value: `<pt> <name>/<rate>[/<channels>]`.
    pub fn rtpmap_value(&self) -> String {
        if self.channels == 1 {
            format!("{} {}/{}", self.pt, self.name, self.clock_rate)
        } else {
            format!(
                "{} {}/{}/{}",
                self.pt, self.name, self.clock_rate, self.channels
            )
        }
    }
}

/// Parses an rtpmap value after the payload type: `<name>/<rate>[/<channels>]`.
fn parse_rtpmap_encoding(pt: u8, encoding: &str) -> Option<Codec> {
    let mut parts = encoding.trim().split('/');
    let name = parts.next().filter(|n| !n.is_empty())?;
    let clock_rate = digits(parts.next()?)?;
    let channels = match parts.next() {
        Some(c) => digits(c)?,
        None => 1,
    };
    if parts.next().is_some() || name.contains(char::is_whitespace) {
        return None;
    }
    Some(Codec {
        pt,
        name: name.to_owned(),
        clock_rate,
        channels,
        fmtp: None,
    })
}

/// `<pt> <rest>` from an rtpmap or fmtp value.
fn split_pt(value: &str) -> Option<(u8, &str)> {
    let (pt, rest) = value.split_once(' ').unwrap_or((value, ""));
    digits::<u8>(pt)
        .filter(|pt| *pt <= 127)
        .map(|pt| (pt, rest))
}

/// What a description says about one RTP audio stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioStream {
    /// Index of the `m=` line in [`Session::media`].
    pub index: usize,
    /// The RTP address: media-level `c=` over session-level. `None` when
    /// missing, not an IP (an FQDN), or the unspecified address (legacy hold).
    pub addr: Option<IpAddr>,
    /// The RTP port from the `m=` line.
    pub port: u16,
    /// The `a=rtcp` address (RFC 3605), its own address or else `addr`;
    /// `None` without `a=rtcp` (then RTCP is on `port + 1`) or without an address.
    pub rtcp: Option<SocketAddr>,
    /// `a=rtcp-mux` present (RFC 5761).
    pub rtcp_mux: bool,
    /// The transport protocol (`RTP/AVP` or `RTP/AVPF`).
    pub proto: String,
    /// Usable payload formats in `m=` order, without telephone-event.
    /// Dynamic types without an rtpmap are left out; static ones without an
    /// rtpmap get their RFC 3551 names.
    pub codecs: Vec<Codec>,
    /// The first telephone-event format, if any.
    pub telephone_event: Option<Codec>,
    /// Every telephone-event format (agents offer one per clock rate).
    pub telephone_events: Vec<Codec>,
    /// The sender's effective direction: media-level attribute over
    /// session-level, default sendrecv. With a connection address of
    /// `0.0.0.0` (or `::`), RFC 3264 §8.4 says nothing may be sent to this
    /// agent, so receiving is taken away: sendrecv → sendonly,
    /// recvonly → inactive.
    pub direction: Direction,
    /// `a=ptime` (media-level over session-level), milliseconds.
    pub ptime: Option<u32>,
    /// `a=maxptime`, milliseconds.
    pub maxptime: Option<u32>,
}

impl AudioStream {
    /// Whether the sender has put us on hold: it will not receive
    /// (`sendonly`, `inactive`, or the `0.0.0.0` address of RFC 2543).
    pub fn is_hold(&self) -> bool {
        matches!(self.direction, Direction::SendOnly | Direction::Inactive)
    }

    /// The RTP address and port, when both are usable.
    pub fn rtp_addr(&self) -> Option<SocketAddr> {
        match self.addr {
            Some(ip) if self.port != 0 => Some(SocketAddr::new(ip, self.port)),
            _ => None,
        }
    }

    /// The view of media section `index`, if it is RTP audio (any port,
    /// including 0).
    pub fn from_media(session: &Session, index: usize) -> Option<AudioStream> {
        let media = session.media.get(index)?;
        is_rtp_audio(media).then(|| view(session, index, media))
    }
}

/// The first RTP audio stream (`m=audio`, `RTP/AVP` or `RTP/AVPF`) with a
/// non-zero port. Secure profiles (`RTP/SAVP`, DTLS) are skipped: vpbx does
/// not terminate SRTP.
pub fn audio(session: &Session) -> Option<AudioStream> {
    session
        .media
        .iter()
        .enumerate()
        .find(|(_, m)| m.port != 0 && is_rtp_audio(m))
        .map(|(i, m)| view(session, i, m))
}

/// `m=audio` over plain RTP.
pub(crate) fn is_rtp_audio(media: &Media) -> bool {
    media.media.eq_ignore_ascii_case("audio")
        && (media.proto.eq_ignore_ascii_case("RTP/AVP")
            || media.proto.eq_ignore_ascii_case("RTP/AVPF"))
}

fn ms(value: Option<&str>) -> Option<u32> {
    // Some agents write `a=ptime:20.0`; the integer part is what counts.
    let v = value?.trim();
    digits(v.split_once('.').map_or(v, |(int, _)| int))
}

fn view(session: &Session, index: usize, media: &Media) -> AudioStream {
    let ip = media.effective_connection(session).and_then(|c| c.ip());
    let zero = ip.is_some_and(|ip| ip.is_unspecified());
    let addr = ip.filter(|_| !zero);

    let declared = Direction::find(&media.attributes)
        .or_else(|| Direction::find(&session.attributes))
        .unwrap_or_default();
    let direction = if zero {
        Direction::from_flags(declared.sends(), false)
    } else {
        declared
    };

    let rtcp = media.attribute_value("rtcp").and_then(|v| {
        let mut f = v.split_ascii_whitespace();
        let port: u16 = digits(f.next()?)?;
        let ip = match (f.next(), f.next(), f.next()) {
            (Some(_), Some(_), Some(a)) => {
                a.parse::<IpAddr>().ok().filter(|ip| !ip.is_unspecified())
            }
            _ => addr,
        };
        ip.map(|ip| SocketAddr::new(ip, port))
    });

    // First rtpmap / fmtp per payload type.
    let mut rtpmap: [Option<&str>; 128] = [None; 128];
    let mut fmtp: [Option<&str>; 128] = [None; 128];
    for a in &media.attributes {
        let table = if a.name.eq_ignore_ascii_case("rtpmap") {
            &mut rtpmap
        } else if a.name.eq_ignore_ascii_case("fmtp") {
            &mut fmtp
        } else {
            continue;
        };
        if let Some((pt, rest)) = a.value.as_deref().and_then(split_pt) {
            table[usize::from(pt)].get_or_insert(rest);
        }
    }

    let mut seen = [false; 128];
    let mut codecs = Vec::new();
    let mut telephone_events = Vec::new();
    for pt in media
        .formats
        .iter()
        .filter_map(|f| digits::<u8>(f))
        .filter(|pt| *pt <= 127)
    {
        let slot = usize::from(pt);
        if std::mem::replace(&mut seen[slot], true) {
            continue;
        }
        let codec = match rtpmap[slot].and_then(|enc| parse_rtpmap_encoding(pt, enc)) {
            Some(c) => Some(c),
            None => Codec::from_static_pt(pt),
        };
        let Some(mut codec) = codec else { continue };
        codec.fmtp = fmtp[slot].map(|f| f.trim().to_owned());
        if codec.is_telephone_event() {
            telephone_events.push(codec);
        } else {
            codecs.push(codec);
        }
    }

    AudioStream {
        index,
        addr,
        port: media.port,
        rtcp,
        rtcp_mux: media.has_attribute("rtcp-mux"),
        proto: media.proto.clone(),
        codecs,
        telephone_event: telephone_events.first().cloned(),
        telephone_events,
        direction,
        ptime: ms(media
            .attribute_value("ptime")
            .or_else(|| session.attribute_value("ptime"))),
        maxptime: ms(media
            .attribute_value("maxptime")
            .or_else(|| session.attribute_value("maxptime"))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::parse;

    fn stream(body: &str) -> AudioStream {
        let text = format!("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n{body}");
        audio(&parse(text.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn static_payload_types_without_rtpmap_get_rfc_3551_names() {
        let a = stream("c=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0 8 9 3 18 13\r\n");
        let names: Vec<_> = a.codecs.iter().map(|c| (c.pt, c.name.as_str())).collect();
        assert_eq!(
            names,
            [
                (0, "PCMU"),
                (8, "PCMA"),
                (9, "G722"),
                (3, "GSM"),
                (18, "G729"),
                (13, "CN")
            ]
        );
        assert_eq!(a.codecs[2].clock_rate, 8000);
    }

    #[test]
    fn dynamic_payload_type_without_rtpmap_is_left_out() {
        let a = stream("c=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 96 0\r\n");
        assert_eq!(a.codecs, vec![Codec::pcmu()]);
    }

    #[test]
    fn rtpmap_overrides_the_static_name_and_fmtp_is_attached() {
        let a = stream(
            "c=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 18 111 101\r\na=rtpmap:18 G729/8000\r\na=fmtp:18 annexb=no\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n",
        );
        assert_eq!(a.codecs[0].fmtp.as_deref(), Some("annexb=no"));
        assert_eq!(a.codecs[1].channels, 2);
        assert_eq!(a.telephone_event.as_ref().unwrap().pt, 101);
        assert_eq!(
            a.telephone_event.as_ref().unwrap().fmtp.as_deref(),
            Some("0-15")
        );
    }

    #[test]
    fn media_level_connection_and_direction_override_session_level() {
        let a = stream(
            "c=IN IP4 192.0.2.1\r\na=sendonly\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP4 192.0.2.9\r\na=recvonly\r\n",
        );
        assert_eq!(a.addr, Some("192.0.2.9".parse().unwrap()));
        assert_eq!(a.direction, Direction::RecvOnly);
        let a = stream("c=IN IP4 192.0.2.1\r\na=sendonly\r\nm=audio 4000 RTP/AVP 0\r\n");
        assert_eq!(a.direction, Direction::SendOnly);
        assert!(a.is_hold());
    }

    #[test]
    fn zero_address_takes_receiving_away_from_the_declared_direction() {
        let a = stream("c=IN IP4 0.0.0.0\r\nm=audio 4000 RTP/AVP 0\r\n");
        assert_eq!(
            (a.addr, a.direction, a.is_hold()),
            (None, Direction::SendOnly, true)
        );
        let a = stream("c=IN IP4 0.0.0.0\r\nm=audio 4000 RTP/AVP 0\r\na=recvonly\r\n");
        assert_eq!(a.direction, Direction::Inactive);
        let a = stream("c=IN IP6 ::\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly\r\n");
        assert_eq!(a.direction, Direction::SendOnly);
    }

    #[test]
    fn rtcp_attribute_uses_its_own_address_or_the_stream_address() {
        let a = stream("c=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0\r\na=rtcp:4001\r\n");
        assert_eq!(a.rtcp, Some("192.0.2.1:4001".parse().unwrap()));
        let a = stream(
            "c=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0\r\na=rtcp:5001 IN IP4 198.51.100.7\r\n",
        );
        assert_eq!(a.rtcp, Some("198.51.100.7:5001".parse().unwrap()));
        let a = stream("c=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0\r\na=rtcp:x\r\n");
        assert_eq!(a.rtcp, None);
    }

    #[test]
    fn audio_skips_rejected_and_secure_streams() {
        let a = stream(
            "c=IN IP4 192.0.2.1\r\nm=audio 0 RTP/AVP 0\r\nm=audio 5000 RTP/SAVP 0\r\nm=video 6000 RTP/AVP 96\r\nm=audio 7000 RTP/AVP 8\r\n",
        );
        assert_eq!((a.index, a.port), (3, 7000));
    }

    #[test]
    fn ptime_accepts_a_decimal_and_falls_back_to_session_level() {
        let a = stream(
            "c=IN IP4 192.0.2.1\r\na=ptime:30\r\nm=audio 4000 RTP/AVP 0\r\na=maxptime:40.0\r\n",
        );
        assert_eq!((a.ptime, a.maxptime), (Some(30), Some(40)));
    }

    #[test]
    fn duplicate_and_out_of_range_formats_are_ignored() {
        let a = stream("c=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0 0 200 x 8\r\n");
        assert_eq!(a.codecs, vec![Codec::pcmu(), Codec::pcma()]);
    }

    #[test]
    fn direction_helpers_agree_with_rfc_3264() {
        assert_eq!(Direction::SendOnly.reversed(), Direction::RecvOnly);
        assert_eq!(Direction::Inactive.reversed(), Direction::Inactive);
        assert_eq!(
            Direction::SendRecv.intersect(Direction::RecvOnly),
            Direction::RecvOnly
        );
        assert_eq!(
            Direction::SendOnly.intersect(Direction::RecvOnly),
            Direction::Inactive
        );
        assert_eq!(
            Direction::from_attribute("SENDONLY"),
            Some(Direction::SendOnly)
        );
        assert_eq!(Direction::from_attribute("ptime"), None);
    }

    #[test]
    fn rtpmap_value_writes_channels_only_when_not_mono() {
        assert_eq!(Codec::pcma().rtpmap_value(), "8 PCMA/8000");
        let opus = Codec {
            channels: 2,
            ..Codec::new(111, "opus", 48000)
        };
        assert_eq!(opus.rtpmap_value(), "111 opus/48000/2");
    }
}
