//! What the relay's slow path costs per 20 ms packet: the same decode and encode calls the
//! worker makes for a G.722 ↔ G.711 pair (narrowband G.722, per-leg state, reused buffers),
//! against the 16 kHz alternative (`FrameCodec`: full G.722 and a resampler, what the media
//! engine uses) and the fast path's in-place µ-law → A-law table. Run with
//! `cargo run --release -p pbx-relay --example transcode_cost`.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Instant;

use pbx_audio::FrameCodec;
use pbx_media::g711;

const PACKETS: u32 = 50_000;

fn main() {
    // One second of speech-like audio: two tones, as a phone would send.
    let pcm: Vec<i16> = (0..8000)
        .map(|i| {
            let t = f64::from(i) / 8000.0;
            (6000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()
                + 3000.0 * (2.0 * std::f64::consts::PI * 1330.0 * t).sin()) as i16
        })
        .collect();
    let mut phone = FrameCodec::g722();
    let g722_packets: Vec<[u8; 160]> = pcm
        .chunks(160)
        .map(|c| {
            let mut p = [0u8; 160];
            phone.encode(c, &mut p).unwrap();
            p
        })
        .collect();
    let ulaw_packets: Vec<[u8; 160]> = pcm
        .chunks(160)
        .map(|c| {
            let mut p = [0u8; 160];
            g711::encode_ulaw(c, &mut p);
            p
        })
        .collect();

    let mut leg = FrameCodec::g722(); // the G.722 leg's state in the relay
    let mut scratch = [0i16; 160];

    let t = Instant::now();
    for i in 0..PACKETS {
        let mut payload = g722_packets[i as usize % g722_packets.len()];
        leg.decode(&payload, &mut scratch).unwrap();
        g711::encode_ulaw(&scratch, &mut payload);
        black_box(&payload);
    }
    let down = t.elapsed().as_secs_f64() * 1e6 / f64::from(PACKETS);

    let t = Instant::now();
    for i in 0..PACKETS {
        let mut payload = ulaw_packets[i as usize % ulaw_packets.len()];
        g711::decode_ulaw(&payload, &mut scratch);
        leg.encode(&scratch, &mut payload).unwrap();
        black_box(&payload);
    }
    let up = t.elapsed().as_secs_f64() * 1e6 / f64::from(PACKETS);

    let mut enc = pbx_audio::g722::G722Encoder::new();
    let mut dec = pbx_audio::g722::G722Decoder::new();
    let t = Instant::now();
    for i in 0..PACKETS {
        let mut payload = g722_packets[i as usize % g722_packets.len()];
        dec.decode_narrowband(&payload, &mut scratch).unwrap();
        g711::encode_ulaw(&scratch, &mut payload);
        black_box(&payload);
    }
    let nb_down = t.elapsed().as_secs_f64() * 1e6 / f64::from(PACKETS);
    let t = Instant::now();
    for i in 0..PACKETS {
        let mut payload = ulaw_packets[i as usize % ulaw_packets.len()];
        g711::decode_ulaw(&payload, &mut scratch);
        enc.encode_narrowband(&scratch, &mut payload).unwrap();
        black_box(&payload);
    }
    let nb_up = t.elapsed().as_secs_f64() * 1e6 / f64::from(PACKETS);

    let t = Instant::now();
    for i in 0..PACKETS {
        let mut payload = ulaw_packets[i as usize % ulaw_packets.len()];
        g711::ulaw_to_alaw_in_place(&mut payload);
        black_box(&payload);
    }
    let fast = t.elapsed().as_secs_f64() * 1e6 / f64::from(PACKETS);

    println!("per 20 ms packet (160 bytes), {PACKETS} packets each:");
    println!("  relay, G.722 → PCMU (narrowband decode, µ-law encode): {nb_down:.2} µs");
    println!("  relay, PCMU → G.722 (µ-law decode, narrowband encode): {nb_up:.2} µs");
    println!("  16 kHz alternative, G.722 → PCMU (decode, 16→8 kHz resample): {down:.2} µs");
    println!("  16 kHz alternative, PCMU → G.722 (8→16 kHz resample, encode): {up:.2} µs");
    println!("  PCMU → PCMA in place (the fast path's transcode): {fast:.3} µs");
    println!(
        "  a transcoded call (50 packets/s each way): {:.3} % of a core ({:.3} % at 16 kHz)",
        (nb_down + nb_up) * 50.0 / 1e6 * 100.0,
        (down + up) * 50.0 / 1e6 * 100.0
    );
}
