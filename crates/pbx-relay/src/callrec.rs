//! A call recording carried by a leg ([`crate::Relay::start_call_recording`]): the recorder,
//! the sink its chunks go to, and the chunk being filled.

use pbx_media::record::{self, CallRecorder, RecordLayout};

use crate::{Codec, LegParams, RecordingChunk, RecordingSink};

/// Samples per chunk handed to the sink: one second of 8 kHz stereo.
const CHUNK: usize = 16_000;
/// Jitter depth: how late a packet may arrive and still land in its place.
const DEPTH_MS: u32 = 60;

pub(crate) struct CallRec {
    recorder: CallRecorder,
    sink: RecordingSink,
    pending: Vec<i16>,
}

impl std::fmt::Debug for CallRec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallRec")
            .field("stats", &self.recorder.stats())
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

/// The dynamic payload type a leg's remote uses for G.711 or G.722, if it is not the static one.
fn dynamic(p: Option<&LegParams>) -> Option<(u8, record::Codec)> {
    match p? {
        LegParams {
            codec: Codec::Pcmu,
            pt,
            ..
        } if *pt != 0 => Some((*pt, record::Codec::Pcmu)),
        LegParams {
            codec: Codec::Pcma,
            pt,
            ..
        } if *pt != 8 => Some((*pt, record::Codec::Pcma)),
        LegParams {
            codec: Codec::G722,
            pt,
            ..
        } if *pt != 9 => Some((*pt, record::Codec::G722)),
        _ => None,
    }
}

impl CallRec {
    /// A recording of a leg with parameters `own` whose peer has `peer`.
    pub(crate) fn new(
        sink: RecordingSink,
        own: Option<&LegParams>,
        peer: Option<&LegParams>,
    ) -> Self {
        let map: Vec<(u8, record::Codec)> = [dynamic(own), dynamic(peer)]
            .into_iter()
            .flatten()
            .collect();
        CallRec {
            recorder: CallRecorder::new(RecordLayout::Stereo, DEPTH_MS, &map),
            sink,
            pending: Vec::with_capacity(CHUNK),
        }
    }

    /// One RTP packet received on the recorded leg (`record::Leg::A`) or on its peer (`B`).
    pub(crate) fn push(&mut self, leg: record::Leg, now_us: u64, pkt: &[u8]) {
        self.recorder.push(leg, now_us, pkt);
    }

    /// Moves the frames older than the jitter depth into the chunk, handing full chunks over.
    pub(crate) fn poll(&mut self, now_us: u64) {
        let CallRec {
            recorder,
            sink,
            pending,
        } = self;
        let stats = recorder.stats();
        recorder.poll(now_us, &mut |f| {
            if let Some(s) = f.stereo {
                pending.extend_from_slice(s);
            }
            if pending.len() >= CHUNK {
                let samples = std::mem::replace(pending, Vec::with_capacity(CHUNK));
                sink(RecordingChunk {
                    samples,
                    last: false,
                    stats,
                });
            }
        });
    }

    /// Ends the recording: everything buffered goes out in a last chunk.
    pub(crate) fn finish(mut self) {
        let CallRec {
            recorder,
            sink,
            pending,
        } = &mut self;
        recorder.finish(&mut |f| {
            if let Some(s) = f.stereo {
                pending.extend_from_slice(s);
            }
        });
        sink(RecordingChunk {
            samples: std::mem::take(pending),
            last: true,
            stats: recorder.stats(),
        });
    }
}
