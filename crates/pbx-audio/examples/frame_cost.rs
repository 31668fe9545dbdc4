//! Prints the CPU cost of one 20 ms frame on each per-frame path, and of converting prompts.
//! Run with `cargo run --release -p pbx-audio --example frame_cost`.
#![allow(clippy::unwrap_used)]

use pbx_audio::g711::Law;
use pbx_audio::{FrameCodec, Pcm, Resampler, WavWriter, resample};
use std::hint::black_box;
use std::time::Instant;

fn per_frame(name: &str, frames: u32, mut f: impl FnMut()) {
    for _ in 0..100 {
        f();
    }
    let start = Instant::now();
    for _ in 0..frames {
        f();
    }
    let ns = start.elapsed().as_nanos() as f64 / f64::from(frames);
    println!("{name:<44} {:>9.2} µs per 20 ms frame", ns / 1000.0);
}

fn main() {
    let pcm: Vec<i16> = (0..160)
        .map(|i| (8000.0 * (f64::from(i) * 0.785).sin()) as i16)
        .collect();
    let mut payload = [0u8; 160];
    let mut out = [0i16; 160];
    let mut wide = [0i16; 320];
    for (name, mut codec) in [
        ("PCMU", FrameCodec::Pcmu),
        ("PCMA", FrameCodec::Pcma),
        ("G722", FrameCodec::g722()),
    ] {
        per_frame(
            &format!("{name} encode (8 kHz engine audio in)"),
            20_000,
            || {
                codec.encode(black_box(&pcm), &mut payload).unwrap();
            },
        );
        per_frame(
            &format!("{name} decode (8 kHz engine audio out)"),
            20_000,
            || {
                codec.decode(black_box(&payload), &mut out).unwrap();
            },
        );
    }
    let wide_in: Vec<i16> = (0..320)
        .map(|i| (8000.0 * (f64::from(i) * 0.39).sin()) as i16)
        .collect();
    let mut g722_enc = pbx_audio::g722::G722Encoder::new();
    per_frame("G.722 alone: encode 320 samples at 16 kHz", 20_000, || {
        g722_enc.encode(black_box(&wide_in), &mut payload).unwrap();
    });
    let mut g722_dec = pbx_audio::g722::G722Decoder::new();
    per_frame("G.722 alone: decode 160 bytes", 20_000, || {
        g722_dec.decode(black_box(&payload), &mut wide).unwrap();
    });
    let mut up = Resampler::new(8000, 16_000).unwrap();
    per_frame("resample 8 → 16 kHz", 20_000, || {
        up.process(black_box(&pcm), &mut wide).unwrap();
    });
    let mut buf = Vec::with_capacity(1 << 20);
    for (name, mut w) in [
        ("record PCM16", WavWriter::pcm16(8000, 1)),
        ("record A-law", WavWriter::g711(Law::A, 8000, 1)),
        ("record WAV49 (GSM 06.10)", WavWriter::wav49().unwrap()),
    ] {
        per_frame(name, 20_000, || {
            if buf.len() > (1 << 20) - 1000 {
                buf.clear();
            }
            w.write(black_box(&pcm), &mut buf).unwrap();
        });
    }
    let minute: Vec<i16> = (0..44_100 * 60)
        .map(|i| (8000.0 * (f64::from(i) * 0.1).sin()) as i16)
        .collect();
    let start = Instant::now();
    let converted = resample(
        &Pcm {
            rate: 44_100,
            samples: minute,
        },
        8000,
    )
    .unwrap();
    println!(
        "{:<44} {:>9.1} ms ({} samples out)",
        "prompt conversion: 60 s at 44.1 kHz → 8 kHz",
        start.elapsed().as_secs_f64() * 1000.0,
        converted.samples.len()
    );
}
