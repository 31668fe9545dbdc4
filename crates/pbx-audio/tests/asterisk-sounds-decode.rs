//! The installed Asterisk prompts and music on hold decode with the rate and length sox reports,
//! and a cut copy is refused.
#![allow(clippy::unwrap_used)]

mod common;

use common::{sounds_dir, sox};
use pbx_audio::level::{peak_dbfs, rms_dbfs};
use pbx_audio::{AudioError, decode_wav, prompt_from_file};

const PROMPTS: &str = "/usr/share/asterisk/sounds/en_US_f_Allison";
const MOH: &str = "/usr/share/asterisk/moh";

fn check_against_sox(path: &std::path::Path) -> pbx_audio::Pcm {
    let bytes = std::fs::read(path).unwrap();
    let pcm = decode_wav(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let p = path.to_str().unwrap();
    assert_eq!(pcm.rate.to_string(), sox(&["--i", "-r", p]), "{p}");
    assert_eq!(pcm.samples.len().to_string(), sox(&["--i", "-s", p]), "{p}");
    let secs: f64 = sox(&["--i", "-D", p]).parse().unwrap();
    assert!(
        (pcm.duration_secs() - secs).abs() < 0.001,
        "{p}: {} vs {secs}",
        pcm.duration_secs()
    );
    pcm
}

#[test]
fn system_prompts_decode_with_the_rate_and_length_sox_reports() {
    let dir = sounds_dir(PROMPTS);
    for name in [
        "vm-intro.wav",
        "vm-goodbye.wav",
        "pls-hold-while-try.wav",
        "beep.wav",
        "digits/1.wav",
    ] {
        let path = dir.join(name);
        let pcm = check_against_sox(&path);
        // Speech, not silence, and not clipped to pieces.
        assert!(rms_dbfs(&pcm.samples) > -40.0, "{name} is too quiet");
        assert!(peak_dbfs(&pcm.samples) <= 0.0);
        // Already 8 kHz mono: the prompt conversion keeps it sample for sample.
        let prompt = prompt_from_file(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(prompt, pcm, "{name}");
    }
}

#[test]
fn every_music_on_hold_file_decodes_with_the_length_sox_reports() {
    let dir = sounds_dir(MOH);
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "wav") {
            let pcm = check_against_sox(&path);
            assert!(pcm.duration_secs() > 30.0, "{}", path.display());
            n += 1;
        }
    }
    assert!(n >= 1, "no music on hold WAV files in {MOH}");
}

#[test]
fn a_prompt_cut_short_in_transfer_is_refused_with_the_missing_byte_count() {
    let bytes = std::fs::read(sounds_dir(PROMPTS).join("vm-intro.wav")).unwrap();
    let cut = &bytes[..bytes.len() - 1000];
    match decode_wav(cut) {
        Err(AudioError::Truncated {
            what: "data chunk",
            needed,
            available,
            ..
        }) => {
            assert_eq!(needed - available, 1000);
        }
        other => panic!("expected a truncated data chunk, got {other:?}"),
    }
}

#[test]
fn a_text_file_or_a_broken_mp3_is_refused_with_an_error() {
    assert!(matches!(
        prompt_from_file(b"hello, this is not audio"),
        Err(AudioError::UnknownFormat(_))
    ));
    assert!(matches!(
        prompt_from_file(b"ID3\x04\0\0\0\0\0\0"),
        Err(AudioError::Mp3(_))
    ));
}
