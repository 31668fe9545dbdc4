//! Offer/answer (RFC 3264) for vpbx's side of one leg.
//!
//! vpbx terminates SDP per leg: each leg has its own [`Origin`], offers and
//! answers one RTP audio stream with exactly one voice codec (plus
//! telephone-event), and rejects every other stream with port 0.

use std::net::{IpAddr, SocketAddr};

use crate::audio::{AudioStream, Codec, Direction, is_rtp_audio};
use crate::model::{Attribute, Connection, Media, OriginLine, Session, Timing, addr_type};
use crate::parse::SdpError;

/// What vpbx offers or accepts on one leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMedia {
    /// The RTP address advertised in `c=`.
    pub addr: IpAddr,
    /// The RTP port advertised in `m=`.
    pub port: u16,
    /// Offer `a=rtcp-mux` / accept it when offered.
    pub rtcp_mux: bool,
    /// Supported codecs in our preference order (their `pt` is used when we
    /// offer; when we answer, the offer's numbers are used).
    pub codecs: Vec<Codec>,
    /// Offer RFC 4733 `telephone-event/8000` on this payload type; when
    /// `None` we neither offer nor accept it.
    pub telephone_event_pt: Option<u8>,
    /// The direction we want (`SendOnly` to put the far end on hold).
    pub direction: Direction,
    /// `a=ptime` to advertise.
    pub ptime: Option<u32>,
}

/// Our `o=` line for one leg (RFC 8866 §5.2); the caller keeps one per leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `<username>`, `-` by default.
    pub username: String,
    /// `<sess-id>`, fixed for the leg.
    pub session_id: u64,
    /// `<sess-version>`, incremented for each changed SDP (RFC 3264 §8).
    pub version: u64,
    /// `<unicast-address>`.
    pub addr: IpAddr,
}

impl Origin {
    /// Username `-`, version 0.
    pub fn new(session_id: u64, addr: IpAddr) -> Origin {
        Origin {
            username: "-".to_owned(),
            session_id,
            version: 0,
            addr,
        }
    }

    /// Increments the version (wrapping at `u64::MAX`, never panicking).
    pub fn bump(&mut self) {
        self.version = self.version.wrapping_add(1);
    }

    /// The `o=` line.
    pub fn to_line(&self) -> OriginLine {
        OriginLine {
            username: if self.username.is_empty() {
                "-".to_owned()
            } else {
                self.username.clone()
            },
            session_id: self.session_id.to_string(),
            session_version: self.version.to_string(),
            net_type: "IN".to_owned(),
            addr_type: addr_type(self.addr).to_owned(),
            address: self.addr.to_string(),
        }
    }
}

/// The outcome of one offer/answer exchange, as the relay needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The voice codec, with the payload type the *remote* agent expects to
    /// receive (its own description's number).
    pub codec: Codec,
    /// telephone-event with the remote's payload type, when both sides
    /// agreed to it at the codec's clock rate.
    pub telephone_event: Option<Codec>,
    /// Where to send RTP; `None` while the remote is on legacy hold
    /// (`c=0.0.0.0`).
    pub remote: Option<SocketAddr>,
    /// Where to send RTCP: `remote` with rtcp-mux, else `a=rtcp`, else
    /// RTP port + 1.
    pub remote_rtcp: Option<SocketAddr>,
    /// rtcp-mux agreed.
    pub rtcp_mux: bool,
    /// *Our* direction on this leg (sendonly means we send, they only listen).
    pub direction: Direction,
    /// The remote's `a=ptime` (the packetization it wants to receive).
    pub ptime: Option<u32>,
}

/// Why an offer or answer could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NegotiationError {
    /// No RTP audio stream (or every one was rejected).
    #[error("no usable RTP audio stream")]
    NoAudio,
    /// Audio, but no codec both sides support.
    #[error("no codec in common")]
    NoCommonCodec,
    /// The description is broken (unparsable, m-line count mismatch, no
    /// address for the stream).
    #[error("malformed SDP: {0}")]
    Malformed(String),
}

impl NegotiationError {
    /// The SIP status to answer an offer with: 488 Not Acceptable Here, or
    /// 400 for a malformed description.
    pub fn status(&self) -> u16 {
        match self {
            NegotiationError::NoAudio | NegotiationError::NoCommonCodec => 488,
            NegotiationError::Malformed(_) => 400,
        }
    }
}

impl From<SdpError> for NegotiationError {
    fn from(e: SdpError) -> NegotiationError {
        NegotiationError::Malformed(e.to_string())
    }
}

/// A session with our origin, `s=-`, session-level `c=` and the given times.
fn skeleton(origin: &Origin, local: &LocalMedia, times: Vec<Timing>) -> Session {
    Session {
        version: 0,
        origin: origin.to_line(),
        name: "-".to_owned(),
        connection: Some(Connection::new(local.addr)),
        times,
        ..Session::default()
    }
}

fn push_codec(media: &mut Media, codec: &Codec) {
    media.formats.push(codec.pt.to_string());
    media
        .attributes
        .push(Attribute::with_value("rtpmap", codec.rtpmap_value()));
    if let Some(f) = &codec.fmtp {
        media
            .attributes
            .push(Attribute::with_value("fmtp", format!("{} {f}", codec.pt)));
    }
}

fn push_tail(media: &mut Media, local: &LocalMedia, rtcp_mux: bool, direction: Direction) {
    if let Some(p) = local.ptime {
        media
            .attributes
            .push(Attribute::with_value("ptime", p.to_string()));
    }
    if rtcp_mux {
        media.attributes.push(Attribute::property("rtcp-mux"));
    }
    media
        .attributes
        .push(Attribute::property(direction.attribute_name()));
}

/// Our offer: one `m=audio` over `RTP/AVP` with `local.codecs` in order (an
/// rtpmap for each, static ones included), then telephone-event/8000 on
/// `local.telephone_event_pt` (skipped if that number is taken by a codec),
/// `a=ptime`, `a=rtcp-mux`, and the direction written out.
pub fn build_offer(origin: &Origin, local: &LocalMedia) -> Session {
    let mut session = skeleton(origin, local, vec![Timing::default()]);
    let mut media = Media {
        media: "audio".to_owned(),
        port: local.port,
        proto: "RTP/AVP".to_owned(),
        ..Media::default()
    };
    let mut used = [false; 256];
    for codec in &local.codecs {
        if !std::mem::replace(&mut used[usize::from(codec.pt)], true) {
            push_codec(&mut media, codec);
        }
    }
    if let Some(pt) = local
        .telephone_event_pt
        .filter(|pt| !used[usize::from(*pt)])
    {
        push_codec(&mut media, &Codec::telephone_event(pt));
    }
    push_tail(&mut media, local, local.rtcp_mux, local.direction);
    session.media.push(media);
    session
}

/// RTP and RTCP destinations for a stream; `Malformed` when the stream has a
/// port but no usable connection address at all.
fn destinations(
    session: &Session,
    stream: &AudioStream,
    rtcp_mux: bool,
) -> Result<(Option<SocketAddr>, Option<SocketAddr>), NegotiationError> {
    if stream.addr.is_none() {
        let ip = session
            .media
            .get(stream.index)
            .and_then(|m| m.effective_connection(session))
            .and_then(|c| c.ip());
        if ip.is_none() {
            return Err(NegotiationError::Malformed(format!(
                "m-line {} has no IP address in c= (missing or not an IP)",
                stream.index
            )));
        }
    }
    let remote = stream.rtp_addr();
    let rtcp = match remote {
        Some(r) if rtcp_mux => Some(r),
        Some(r) => stream
            .rtcp
            .or_else(|| r.port().checked_add(1).map(|p| SocketAddr::new(r.ip(), p))),
        None => None,
    };
    Ok((remote, rtcp))
}

/// The telephone-event format at the codec's clock rate, if any.
fn matching_event<'a>(events: &'a [Codec], codec: &Codec) -> Option<&'a Codec> {
    events.iter().find(|e| e.clock_rate == codec.clock_rate)
}

/// Answers a remote offer (RFC 3264 §6).
///
/// The answer has one `m=` line per offered one. The first RTP audio stream
/// with a non-zero port and a codec in common is accepted; every other
/// stream is answered with port 0 and the offer's formats. The codec is the
/// offer's first one that `local.codecs` supports (the offerer's preference),
/// answered alone with the offer's payload type and rtpmap; its fmtp is ours
/// when `local` has one, else the offer's. telephone-event is answered when
/// offered at the codec's clock rate and `local.telephone_event_pt` is set
/// (with the offer's number and fmtp). The direction is the offer's reversed,
/// intersected with `local.direction` (offer sendonly → recvonly, inactive →
/// inactive); rtcp-mux only when offered and `local.rtcp_mux`. `t=` copies
/// the offer's.
pub fn answer(
    offer: &Session,
    origin: &Origin,
    local: &LocalMedia,
) -> Result<(Session, Negotiated), NegotiationError> {
    let mut saw_audio = false;
    let mut chosen = None;
    for index in 0..offer.media.len() {
        let Some(stream) = AudioStream::from_media(offer, index).filter(|s| s.port != 0) else {
            continue;
        };
        saw_audio = true;
        let pick = stream.codecs.iter().find_map(|theirs| {
            local
                .codecs
                .iter()
                .find(|ours| ours.same_format(theirs))
                .map(|ours| (theirs, ours))
        });
        if let Some((theirs, ours)) = pick {
            let codec = Codec {
                fmtp: ours.fmtp.clone().or_else(|| theirs.fmtp.clone()),
                ..theirs.clone()
            };
            let remote_codec = theirs.clone();
            chosen = Some((stream, codec, remote_codec));
            break;
        }
    }
    let Some((stream, codec, remote_codec)) = chosen else {
        return Err(if saw_audio {
            NegotiationError::NoCommonCodec
        } else {
            NegotiationError::NoAudio
        });
    };

    let rtcp_mux = stream.rtcp_mux && local.rtcp_mux;
    let (remote, remote_rtcp) = destinations(offer, &stream, rtcp_mux)?;
    let event = local
        .telephone_event_pt
        .and_then(|_| matching_event(&stream.telephone_events, &remote_codec))
        .cloned();
    let theirs = stream.direction;
    let direction = local.direction.intersect(theirs.reversed());

    let times = if offer.times.is_empty() {
        vec![Timing::default()]
    } else {
        offer.times.clone()
    };
    let mut session = skeleton(origin, local, times);
    for (index, offered) in offer.media.iter().enumerate() {
        if index == stream.index {
            let mut media = Media {
                media: offered.media.clone(),
                port: local.port,
                proto: offered.proto.clone(),
                ..Media::default()
            };
            push_codec(&mut media, &codec);
            if let Some(e) = &event {
                push_codec(&mut media, e);
            }
            push_tail(&mut media, local, rtcp_mux, direction);
            session.media.push(media);
        } else {
            session.media.push(Media {
                media: offered.media.clone(),
                port: 0,
                proto: offered.proto.clone(),
                formats: offered.formats.clone(),
                ..Media::default()
            });
        }
    }
    let negotiated = Negotiated {
        codec: remote_codec,
        telephone_event: event,
        remote,
        remote_rtcp,
        rtcp_mux,
        direction,
        ptime: stream.ptime,
    };
    Ok((session, negotiated))
}

/// Checks the remote's answer to an offer we sent (RFC 3264 §5, §6) and says
/// what was agreed. The answer must have as many `m=` lines as the offer; the
/// stream used is the first RTP audio stream we offered with a non-zero port
/// that the answer did not reject. Its codec is the answer's first format
/// that we offered (same name, rate and channels), with the answer's payload
/// type. telephone-event counts only if we offered it.
pub fn accept_answer(
    offer_we_sent: &Session,
    answer: &Session,
) -> Result<Negotiated, NegotiationError> {
    if answer.media.len() != offer_we_sent.media.len() {
        return Err(NegotiationError::Malformed(format!(
            "answer has {} m-lines, the offer had {}",
            answer.media.len(),
            offer_we_sent.media.len()
        )));
    }
    for (index, (offered, answered)) in offer_we_sent.media.iter().zip(&answer.media).enumerate() {
        if offered.port == 0 || !is_rtp_audio(offered) || answered.port == 0 {
            continue;
        }
        let Some(ours) = AudioStream::from_media(offer_we_sent, index) else {
            continue;
        };
        let Some(theirs) = AudioStream::from_media(answer, index) else {
            return Err(NegotiationError::Malformed(format!(
                "m-line {index} answered as `{} {}`, offered as RTP audio",
                answered.media, answered.proto
            )));
        };
        let codec = theirs
            .codecs
            .iter()
            .find(|c| ours.codecs.iter().any(|o| o.same_format(c)))
            .cloned()
            .ok_or(NegotiationError::NoCommonCodec)?;
        let telephone_event = if ours.telephone_events.is_empty() {
            None
        } else {
            matching_event(&theirs.telephone_events, &codec).cloned()
        };
        let rtcp_mux = ours.rtcp_mux && theirs.rtcp_mux;
        let (remote, remote_rtcp) = destinations(answer, &theirs, rtcp_mux)?;
        let direction = ours.direction.intersect(theirs.direction.reversed());
        return Ok(Negotiated {
            codec,
            telephone_event,
            remote,
            remote_rtcp,
            rtcp_mux,
            direction,
            ptime: theirs.ptime,
        });
    }
    Err(NegotiationError::NoAudio)
}

/// One leg's SDP state: our origin and the last description we sent, so the
/// `o=` version moves only when the content does (RFC 3264 §8: a re-offer
/// with nothing changed keeps the version; anything else increments it by one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegSdp {
    origin: Origin,
    last_sent: Option<Session>,
}

impl LegSdp {
    /// A leg that has sent nothing yet; its first SDP uses `origin.version`.
    pub fn new(origin: Origin) -> LegSdp {
        LegSdp {
            origin,
            last_sent: None,
        }
    }

    /// Our origin (its version is the last one sent).
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The last description we sent on this leg.
    pub fn last_sent(&self) -> Option<&Session> {
        self.last_sent.as_ref()
    }

    /// An offer (initial or re-offer), remembered as sent.
    pub fn offer(&mut self, local: &LocalMedia) -> Session {
        let offer = build_offer(&self.origin, local);
        self.record(offer)
    }

    /// Answers a remote offer; on success the answer is remembered as sent,
    /// on error nothing changes.
    pub fn answer(
        &mut self,
        offer: &Session,
        local: &LocalMedia,
    ) -> Result<(Session, Negotiated), NegotiationError> {
        let (session, negotiated) = answer(offer, &self.origin, local)?;
        Ok((self.record(session), negotiated))
    }

    /// Checks an answer against the last description we sent (which must have
    /// been an offer).
    pub fn accept_answer(&self, answer: &Session) -> Result<Negotiated, NegotiationError> {
        let offer = self.last_sent.as_ref().ok_or_else(|| {
            NegotiationError::Malformed("answer without an offer on this leg".to_owned())
        })?;
        accept_answer(offer, answer)
    }

    fn record(&mut self, mut session: Session) -> Session {
        if self
            .last_sent
            .as_ref()
            .is_some_and(|last| !last.same_content(&session))
        {
            self.origin.bump();
            session.origin = self.origin.to_line();
        }
        self.last_sent = Some(session.clone());
        session
    }
}
