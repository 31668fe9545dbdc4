//! The per-frame paths (codecs, streaming resampler, recorder writer, WAV49 blocks) make no heap
//! allocation once set up, counted by a global allocator wrapper on this thread.
#![allow(unsafe_code, clippy::unwrap_used)]

use pbx_audio::g711::Law;
use pbx_audio::g722::{G722Decoder, G722Encoder};
use pbx_audio::gsm::{Wav49Decoder, Wav49Encoder};
use pbx_audio::{FrameCodec, Resampler, WavWriter};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    // try_with: the slot may be gone while the thread is being torn down.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every method forwards to the system allocator with the caller's arguments unchanged;
// counting only touches a const-initialised thread-local Cell, which does not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn a_second_of_20ms_frames_through_every_frame_path_allocates_nothing() {
    let pcm: Vec<i16> = (0..160).map(|i| ((i * 37) % 2000 - 1000) as i16).collect();
    let wide: Vec<i16> = (0..320).map(|i| ((i * 53) % 4000 - 2000) as i16).collect();
    let cd: Vec<i16> = (0..882).map(|i| ((i * 11) % 3000 - 1500) as i16).collect();
    let mut codecs = [FrameCodec::Pcmu, FrameCodec::Pcma, FrameCodec::g722()];
    let mut payload = [0u8; 160];
    let mut frame = [0i16; 160];
    let mut frame16 = [0i16; 320];
    let mut g722_enc = G722Encoder::new();
    let mut g722_dec = G722Decoder::new();
    let mut up = Resampler::new(8000, 16_000).unwrap();
    let mut down = Resampler::new(44_100, 8000).unwrap();
    let mut writers = [
        WavWriter::pcm16(8000, 1),
        WavWriter::g711(Law::A, 8000, 1),
        WavWriter::wav49().unwrap(),
    ];
    let mut file = Vec::with_capacity(64 * 1024);
    let mut wav49_enc = Wav49Encoder::new().unwrap();
    let mut wav49_dec = Wav49Decoder::new().unwrap();
    let mut block_pcm = [0i16; 320];
    block_pcm[..160].copy_from_slice(&pcm);
    block_pcm[160..].copy_from_slice(&pcm);
    let mut block_out = [0i16; 320];

    let mut step = |n_frames: usize| {
        for _ in 0..n_frames {
            for c in &mut codecs {
                assert_eq!(c.encode(&pcm, &mut payload).unwrap(), 160);
                assert_eq!(c.decode(&payload, &mut frame).unwrap(), 160);
            }
            g722_enc.encode(&wide, &mut payload).unwrap();
            g722_dec.decode(&payload, &mut frame16).unwrap();
            assert_eq!(up.process(&pcm, &mut frame16).unwrap(), 320);
            let n = down.process(&cd, &mut frame).unwrap();
            assert!((159..=161).contains(&n));
            for w in &mut writers {
                w.write(&pcm, &mut file).unwrap();
            }
            let block = wav49_enc.encode_block(&block_pcm);
            wav49_dec.decode_block(&block, &mut block_out).unwrap();
        }
    };
    step(2); // first frames: lazily built filter table, buffers reaching steady state
    assert_eq!(allocations_during(|| step(50)), 0);
    // The counter does see allocations (the test could fail).
    assert!(allocations_during(|| drop(std::hint::black_box(vec![1u8; 10]))) >= 1);
}
