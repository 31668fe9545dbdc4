//! Talk-off: the inband DTMF detector must not fire on speech or music. Feeds every system
//! prompt of the three Asterisk voices vpbx ships (Debian packages
//! `asterisk-core-sounds-{en,ru,it}-wav`) and every file of `asterisk-moh-opsound-wav`.

use std::path::{Path, PathBuf};

use pbx_media::inband::InbandDetector;

const DIRS: [&str; 4] = [
    "/usr/share/asterisk/sounds/en_US_f_Allison",
    "/usr/share/asterisk/sounds/ru_RU_f_IvrvoiceRU",
    "/usr/share/asterisk/sounds/it_IT_m_Carlo",
    "/usr/share/asterisk/moh",
];

/// The 16-bit mono 8 kHz samples of a PCM WAV file, or why not.
fn read_wav(path: &Path) -> Result<Vec<i16>, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err("not RIFF/WAVE".into());
    }
    let mut at = 12;
    let mut format_ok = false;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]])
            as usize;
        let body = &bytes[at + 8..(at + 8 + len).min(bytes.len())];
        match id {
            b"fmt " if body.len() >= 16 => {
                let tag = u16::from_le_bytes([body[0], body[1]]);
                let channels = u16::from_le_bytes([body[2], body[3]]);
                let rate = u32::from_le_bytes([body[4], body[5], body[6], body[7]]);
                let bits = u16::from_le_bytes([body[14], body[15]]);
                if (tag, channels, rate, bits) != (1, 1, 8000, 16) {
                    return Err(format!(
                        "format {tag} {channels} ch {rate} Hz {bits} bit, want PCM mono 8 kHz 16 bit"
                    ));
                }
                format_ok = true;
            }
            b"data" if format_ok => {
                return Ok(body
                    .chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]]))
                    .collect());
            }
            _ => {}
        }
        at += 8 + len + (len & 1);
    }
    Err("no fmt/data chunk".into())
}

fn wav_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            wav_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "wav") {
            out.push(p);
        }
    }
}

/// Samples read, detections, unreadable files.
fn scan(files: &[PathBuf]) -> (usize, Vec<String>, Vec<String>) {
    let mut samples = 0usize;
    let mut hits = Vec::new();
    let mut unreadable = Vec::new();
    for f in files {
        let audio = match read_wav(f) {
            Ok(a) => a,
            Err(e) => {
                unreadable.push(format!("{}: {e}", f.display()));
                continue;
            }
        };
        samples += audio.len();
        // One detector per file, fed in 20 ms frames as the media engine does.
        let mut det = InbandDetector::new();
        for frame in audio.chunks(160) {
            if let Some(k) = det.push(frame) {
                hits.push(format!("{} → {k}", f.display()));
            }
        }
        while let Some(k) = det.push(&[]) {
            hits.push(format!("{} → {k}", f.display()));
        }
    }
    (samples, hits, unreadable)
}

#[test]
fn no_prompt_or_music_file_triggers_a_dtmf_detection() {
    let mut files = Vec::new();
    for d in DIRS {
        let dir = Path::new(d);
        assert!(
            dir.is_dir(),
            "{d} is missing: install the Debian packages asterisk-core-sounds-en-wav, \
             asterisk-core-sounds-ru-wav, asterisk-core-sounds-it-wav and asterisk-moh-opsound-wav"
        );
        let before = files.len();
        wav_files(dir, &mut files);
        assert!(files.len() > before, "{d} holds no .wav file");
    }
    files.sort();
    // Split over the available cores (the test runs unoptimised).
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = files.len().div_ceil(threads);
    let results: Vec<(usize, Vec<String>, Vec<String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| s.spawn(move || scan(part)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("scan thread panicked"))
            .collect()
    });
    let samples: usize = results.iter().map(|r| r.0).sum();
    let hits: Vec<String> = results.iter().flat_map(|r| r.1.clone()).collect();
    let unreadable: Vec<String> = results.iter().flat_map(|r| r.2.clone()).collect();
    eprintln!(
        "talk-off: {} files, {:.0} s of audio, {} detections, {} unreadable",
        files.len(),
        samples as f64 / 8000.0,
        hits.len(),
        unreadable.len()
    );
    assert!(unreadable.is_empty(), "unreadable: {unreadable:#?}");
    assert!(hits.is_empty(), "talk-off detections: {hits:#?}");
}
