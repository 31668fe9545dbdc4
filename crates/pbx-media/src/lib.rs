//! Pure media primitives and the media engine: used by the RTP relay (`pbx-relay`) and the media
//! applications (prompts, IVR, voicemail, call recording, music on hold).
//!
//! Nothing here opens a socket, starts a thread, reads a clock or a file: time is passed in as
//! microseconds (`now_us`, any monotonic origin the caller chooses), audio as slices and shared
//! `Arc<[i16]>` buffers (8 kHz mono linear), packets as byte slices.
//!
//! - [`rtp`]: zero-copy RTP header parsing and in-place setters, RTCP demux (RFC 3550, RFC 5761)
//!   and RTCP SSRC re-mapping for relayed compound packets.
//! - [`Restamper`]: one continuous outgoing stream (SSRC, sequence, timestamp) whatever source feeds it.
//! - [`g711`]: A-law / µ-law codec and direct A↔µ transcoding (ITU-T G.711).
//! - [`dtmf`]: RFC 4733 telephone-event payloads, an event generator ([`dtmf::EventGenerator`]) and a
//!   [`dtmf::DigitDetector`].
//! - [`inband`]: inband DTMF detection ([`inband::InbandDetector`], Goertzel with the talk-off
//!   checks of telephony detectors; zero detections on all Asterisk prompts and music on hold).
//! - [`Latch`]: symmetric-RTP address learning without RTP bleed.
//! - [`tone`]: sine generator and Goertzel level estimator.
//! - [`tones`]: call-progress tones by country (ITU-T E.180): [`tones::tone_plan`],
//!   [`tones::ToneGen`].
//! - [`player`]: prompt lists ([`player::Player`]: order, gaps, repeat, barge-in stop) and music
//!   on hold from a per-listener position ([`player::MohSource`]).
//! - [`record`]: a voicemail [`record::Recorder`] (maximum length, ends on silence) and a two-leg
//!   [`record::CallRecorder`] that turns tapped RTP of both legs (G.711 or G.722) into aligned
//!   8 kHz stereo (stored) or mono frames.
//! - [`engine`]: the media engine: many sessions on one 20 ms clock spread over 1 ms phase slots
//!   ([`engine::Engine`]; its module documentation says what the I/O side calls and when). A
//!   session speaks G.711 or G.722 (through `pbx_audio::FrameCodec`, which resamples the 8 kHz
//!   audio to and from G.722's 16 kHz).
//!
//! The engine's run loop, as a relay worker drives it:
//!
//! ```
//! use pbx_media::engine::{Engine, EngineEvent, InbandMode, SessionParams, Source};
//! use pbx_media::player::Player;
//! use pbx_media::record::Codec;
//!
//! let mut engine = Engine::new(0);
//! let id = engine.add(SessionParams {
//!     codec: Codec::Pcma, pt: 8, telephone_event_pt: Some(101),
//!     ssrc: 0x1234_5678, first_seq: 4321, first_ts: 98_765,
//!     inband: InbandMode::UntilRfc4733, barge_in: true,
//! });
//! let greeting: std::sync::Arc<[i16]> = vec![0i16; 8000].into(); // a loaded prompt
//! engine.set_source(id, Source::Player(Player::new(vec![greeting], 0)));
//! let mut sent = 0;
//! let mut now = 0;
//! while let Some(deadline) = engine.next_deadline() {
//!     now = deadline; // the worker sleeps until then, receiving packets meanwhile:
//!     // if let Some(EngineEvent::Digit { digit, .. }) = engine.on_rtp(id, now, &packet) { … }
//!     engine.tick(now, &mut |_session, packet: &[u8]| {
//!         assert_eq!(packet.len(), 12 + 160); // send it on the session's leg
//!         sent += 1;
//!     });
//!     if let Some((_, EngineEvent::PlayDone { .. })) = engine.poll_event() {
//!         engine.remove(id);
//!     }
//! }
//! assert_eq!(sent, 50); // one second of prompt, 20 ms per packet
//! ```

pub mod dtmf;
pub mod engine;
pub mod g711;
pub mod inband;
mod latch;
pub mod player;
pub mod record;
mod restamp;
pub mod rtp;
pub mod tone;
pub mod tones;

pub use latch::{Latch, LatchState};
pub use restamp::Restamper;
