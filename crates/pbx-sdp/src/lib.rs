//! SDP for vpbx, pure: no sockets, no clock, no randomness — session ids
//! and addresses are passed in.
//!
//! vpbx is a B2BUA that terminates SDP on every leg: each leg has its own
//! `o=` line and version and its own offer/answer, and only *intent* (hold,
//! resume, codec change) crosses from one leg to the other. This crate gives
//! the pieces for that:
//!
//! - **Model, parser, serializer** (RFC 8866): [`parse`] turns a body into a
//!   [`Session`]; `Display` / [`Session::to_bytes`] write it back with CRLF.
//!   Unknown attributes and the text of `r=`, `z=`, `k=` survive a round trip
//!   unchanged. LF or CRLF input is accepted; bodies over 64 KiB, more than
//!   64 media sections, 2048 lines or 256 formats per `m=` line are refused
//!   with an [`SdpError`], never a panic.
//! - **Audio view**: [`audio`] reads the first RTP audio stream into an
//!   [`AudioStream`] — address, port, RTCP, codecs in `m=` order (RFC 3551
//!   names for static payload types), telephone-event, direction, ptime.
//!   [`AudioStream::is_hold`] tells whether the far end put us on hold
//!   (`sendonly`, `inactive`, or RFC 2543's `c=0.0.0.0`, which RFC 3264 §8.4
//!   reads as "send nothing to me": the declared direction loses its receive
//!   half, so sendrecv becomes sendonly and recvonly becomes inactive).
//! - **Offer/answer** (RFC 3264): [`build_offer`], [`answer`] and
//!   [`accept_answer`] for one leg, with the result as a [`Negotiated`]
//!   (the remote's payload types, RTP/RTCP destinations, our direction).
//!   [`LegSdp`] keeps a leg's [`Origin`] and last sent body so the `o=`
//!   version moves only when the content changes (RFC 3264 §8).
//!
//! Failures map to SIP statuses: [`SdpError::status`] is 400,
//! [`NegotiationError::status`] is 488 (400 when malformed).
//!
//! Choices worth knowing:
//!
//! - An answer carries exactly one voice codec (the offerer's first one we
//!   support) plus telephone-event, so the relay knows what will arrive;
//!   every stream but the chosen RTP audio one is rejected with port 0.
//! - telephone-event is paired with the codec by clock rate: a 48 kHz opus
//!   call does not get `telephone-event/8000`.
//! - Only `RTP/AVP` and `RTP/AVPF` audio is used. SRTP profiles, `a=crypto`,
//!   ICE and `a=ssrc` are not echoed (vpbx anchors plain RTP); an offer with
//!   nothing else is answered 488.
//! - A peer's `o=` version is kept as text; [`Session::same_content`] tells a
//!   session-refresh re-INVITE from a real change.
//! - The parser refuses line types RFC 8866 does not define (the RFC allows
//!   ignoring the whole description or refusing it).
//!
//! A phone calls in; vpbx answers on the inbound leg, offers on the outbound
//! leg with its own payload-type numbers, and later passes a hold across:
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use pbx_sdp::*;
//!
//! let phone_offer = parse(
//!     b"v=0\r\n\
//!       o=- 1529498405 1529498405 IN IP4 192.168.1.20\r\n\
//!       s=-\r\n\
//!       c=IN IP4 192.168.1.20\r\n\
//!       t=0 0\r\n\
//!       m=audio 10166 RTP/AVP 0 8 96\r\n\
//!       a=rtpmap:96 telephone-event/8000\r\n\
//!       a=fmtp:96 0-15\r\n\
//!       a=ssrc:3151497838 cname:a1b2\r\n",
//! )?;
//!
//! let pbx = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 5));
//! let local = |port| LocalMedia {
//!     addr: pbx,
//!     port,
//!     rtcp_mux: true,
//!     codecs: vec![Codec::pcma(), Codec::pcmu()],
//!     telephone_event_pt: Some(101),
//!     direction: Direction::SendRecv,
//!     ptime: Some(20),
//! };
//!
//! // Inbound leg: answer the phone. The offerer's preference wins (PCMU),
//! // and its telephone-event number (96) is kept.
//! let mut inbound = LegSdp::new(Origin::new(7001, pbx));
//! let (answer_sdp, a_leg) = inbound.answer(&phone_offer, &local(30000))?;
//! assert_eq!(a_leg.codec.name, "PCMU");
//! assert_eq!(a_leg.telephone_event.as_ref().map(|e| e.pt), Some(96));
//! assert_eq!(a_leg.remote, Some("192.168.1.20:10166".parse()?));
//! assert!(answer_sdp.to_string().contains("m=audio 30000 RTP/AVP 0 96\r\n"));
//!
//! // Outbound leg: our own offer, our own numbers (telephone-event 101).
//! let mut outbound = LegSdp::new(Origin::new(7002, pbx));
//! let offer = outbound.offer(&local(30002));
//! assert_eq!(offer.media[0].formats, ["8", "0", "101"]);
//!
//! // The phone puts the call on hold: only the intent crosses to the other leg,
//! // whose re-offer gets a new o= version because its content changed.
//! let hold = parse(b"v=0\r\no=- 1529498405 1529498406 IN IP4 192.168.1.20\r\ns=-\r\n\
//!     c=IN IP4 192.168.1.20\r\nt=0 0\r\nm=audio 10166 RTP/AVP 0 8 96\r\na=sendonly\r\n")?;
//! assert!(audio(&hold).is_some_and(|a| a.is_hold()));
//! let reoffer = outbound.offer(&LocalMedia { direction: Direction::SendOnly, ..local(30002) });
//! assert_eq!(reoffer.origin.session_version, "1");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod audio;
mod model;
mod negotiate;
mod parse;

pub use audio::{AudioStream, Codec, Direction, audio};
pub use model::{Attribute, Bandwidth, Connection, Media, OriginLine, Session, Timing};
pub use negotiate::{
    LegSdp, LocalMedia, Negotiated, NegotiationError, Origin, accept_answer, answer, build_offer,
};
pub use parse::{MAX_FORMATS, MAX_LINES, MAX_MEDIA, MAX_SDP_LEN, SdpError, parse};
