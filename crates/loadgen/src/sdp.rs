//! The SDP the call generator offers and answers, and the little it reads
//! from the far end's SDP: the audio address and the payload types.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

/// G.711 A-law.
pub(crate) const PCMA: u8 = 8;
/// G.711 µ-law.
pub(crate) const PCMU: u8 = 0;
/// The telephone-event payload type the generator offers.
pub(crate) const TELEPHONE_EVENT: u8 = 101;

/// What the generator needs from a remote SDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Media {
    /// Where to send RTP: the audio m= port at the session (or media) c= address.
    pub(crate) addr: SocketAddr,
    /// Payload types on the audio m= line, in order.
    pub(crate) formats: Vec<u8>,
    /// The payload type mapped to telephone-event/8000, if any.
    pub(crate) telephone_event: Option<u8>,
}

impl Media {
    /// The first G.711 payload type of the m= line (the one to send).
    pub(crate) fn g711(&self) -> Option<u8> {
        self.formats
            .iter()
            .copied()
            .find(|&pt| pt == PCMA || pt == PCMU)
    }
}

/// Writes an SDP body: audio at `rtp`, the given codecs (static G.711 types)
/// then telephone-event at `te` when given. `version` is the o= version.
pub(crate) fn write(
    out: &mut String,
    session_id: u64,
    version: u64,
    rtp: SocketAddr,
    codecs: &[u8],
    te: Option<u8>,
) {
    out.clear();
    let ip = rtp.ip();
    let fam = if ip.is_ipv4() { "IP4" } else { "IP6" };
    let _ = write!(
        out,
        "v=0\r\no=loadgen {session_id} {version} IN {fam} {ip}\r\ns=-\r\nc=IN {fam} {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP",
        port = rtp.port()
    );
    for pt in codecs.iter().copied().chain(te) {
        let _ = write!(out, " {pt}");
    }
    out.push_str("\r\n");
    for &pt in codecs {
        let name = if pt == PCMA { "PCMA" } else { "PCMU" };
        let _ = write!(out, "a=rtpmap:{pt} {name}/8000\r\n");
    }
    if let Some(te) = te {
        let _ = write!(
            out,
            "a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-16\r\n"
        );
    }
    out.push_str("a=ptime:20\r\na=sendrecv\r\n");
}

/// Reads the first audio stream of an SDP body; `None` when there is no
/// usable audio m= line or connection address (port 0 included).
pub(crate) fn parse(body: &[u8]) -> Option<Media> {
    let text = std::str::from_utf8(body).ok()?;
    let mut session_ip: Option<IpAddr> = None;
    let mut media_ip: Option<IpAddr> = None;
    let mut port: Option<u16> = None;
    let mut formats = Vec::new();
    let mut te = None;
    let mut in_audio = false;
    let mut seen_audio = false;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(m) = line.strip_prefix("m=") {
            if seen_audio {
                break;
            }
            let mut it = m.split_ascii_whitespace();
            in_audio = it.next() == Some("audio");
            if in_audio {
                seen_audio = true;
                port = it.next().and_then(|p| p.parse().ok());
                let _proto = it.next();
                formats = it.filter_map(|f| f.parse().ok()).collect();
            }
        } else if let Some(c) = line.strip_prefix("c=") {
            let ip = c
                .split_ascii_whitespace()
                .nth(2)
                .and_then(|a| a.split('/').next()?.parse().ok());
            if in_audio {
                media_ip = ip;
            } else if !seen_audio {
                session_ip = ip;
            }
        } else if let Some(a) = line.strip_prefix("a=rtpmap:")
            && in_audio
            && let Some((pt, enc)) = a.split_once(' ')
            && enc.to_ascii_lowercase().starts_with("telephone-event/")
        {
            te = pt.parse().ok();
        }
    }
    let port = port.filter(|&p| p != 0)?;
    let ip = media_ip.or(session_ip)?;
    Some(Media {
        addr: SocketAddr::new(ip, port),
        formats,
        telephone_event: te,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_offer_round_trips_through_the_parser() {
        let mut s = String::new();
        let rtp: SocketAddr = "127.0.0.1:40002".parse().unwrap();
        write(&mut s, 7, 1, rtp, &[PCMA, PCMU], Some(TELEPHONE_EVENT));
        assert!(s.contains("m=audio 40002 RTP/AVP 8 0 101\r\n"));
        assert!(s.contains("a=rtpmap:101 telephone-event/8000\r\n"));
        let m = parse(s.as_bytes()).unwrap();
        assert_eq!(m.addr, rtp);
        assert_eq!(m.formats, vec![8, 0, 101]);
        assert_eq!(m.telephone_event, Some(101));
        assert_eq!(m.g711(), Some(PCMA));
    }

    #[test]
    fn a_media_level_connection_overrides_the_session_one() {
        let body = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
m=audio 30000 RTP/AVP 0 96\r\nc=IN IP4 127.0.0.2\r\na=rtpmap:96 telephone-event/8000\r\n\
m=video 30002 RTP/AVP 99\r\nc=IN IP4 10.9.9.9\r\n";
        let m = parse(body).unwrap();
        assert_eq!(m.addr, "127.0.0.2:30000".parse().unwrap());
        assert_eq!(m.telephone_event, Some(96));
        assert_eq!(m.g711(), Some(PCMU));
    }

    #[test]
    fn sdp_without_audio_or_with_port_zero_yields_nothing() {
        assert_eq!(
            parse(b"v=0\r\nc=IN IP4 127.0.0.1\r\nm=video 5 RTP/AVP 99\r\n"),
            None
        );
        assert_eq!(
            parse(b"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 0 RTP/AVP 0\r\n"),
            None
        );
        assert_eq!(parse(b"v=0\r\nm=audio 4000 RTP/AVP 0\r\n"), None);
        assert_eq!(parse(&[0xff, 0x00]), None);
    }
}
