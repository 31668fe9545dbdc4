//! Pure media primitives used by the RTP relay (`pbx-relay`) and, later, the media applications.
//!
//! Nothing here opens a socket or reads a clock: time is passed in as microseconds
//! (`now_us`, any monotonic origin the caller chooses).
//!
//! - [`rtp`]: zero-copy RTP header parsing and in-place setters, RTCP demux (RFC 3550, RFC 5761)
//!   and RTCP SSRC re-mapping for relayed compound packets.
//! - [`Restamper`]: one continuous outgoing stream (SSRC, sequence, timestamp) whatever source feeds it.
//! - [`g711`]: A-law / µ-law codec and direct A↔µ transcoding (ITU-T G.711).
//! - [`dtmf`]: RFC 4733 telephone-event payloads, an event generator ([`dtmf::EventGenerator`]) and a
//!   [`dtmf::DigitDetector`].
//! - [`Latch`]: symmetric-RTP address learning without RTP bleed.
//! - [`tone`]: sine generator and Goertzel level estimator.

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
