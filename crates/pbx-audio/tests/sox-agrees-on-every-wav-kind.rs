//! Files of every WAV kind that sox writes decode here to the right rate, length, pitch and level;
//! and files written here are what sox says they are.
#![allow(clippy::unwrap_used)]

mod common;

use common::{TempFile, sox};
use pbx_audio::g711::Law;
use pbx_audio::level::{goertzel_dbfs, rms_dbfs};
use pbx_audio::{
    decode_wav, encode_wav_g711, encode_wav_pcm16, encode_wav49, prompt_from_file, wav_info,
};

/// Makes a 1 s, 1 kHz sine at half scale with the given sox output options.
fn sox_tone(opts: &[&str], name: &str) -> (TempFile, Vec<u8>) {
    let f = TempFile::new(name);
    let mut args = vec!["-n"];
    args.extend_from_slice(opts);
    args.extend_from_slice(&[f.path(), "synth", "1", "sine", "1000", "vol", "0.5"]);
    sox(&args);
    let bytes = std::fs::read(&f.0).unwrap();
    (f, bytes)
}

#[test]
fn every_sox_wav_kind_becomes_a_1khz_prompt_at_8khz_with_its_level() {
    let kinds: &[(&[&str], u16, u32, u16)] = &[
        // options, expected channels, rate, resolved format tag
        (&["-r", "44100", "-c", "2", "-b", "24"], 2, 44_100, 1),
        (
            &["-r", "48000", "-c", "1", "-e", "floating-point", "-b", "32"],
            1,
            48_000,
            3,
        ),
        (
            &["-r", "11025", "-c", "1", "-e", "floating-point", "-b", "64"],
            1,
            11_025,
            3,
        ),
        (
            &[
                "-r",
                "22050",
                "-c",
                "1",
                "-b",
                "8",
                "-e",
                "unsigned-integer",
            ],
            1,
            22_050,
            1,
        ),
        (&["-r", "16000", "-c", "6", "-b", "32"], 6, 16_000, 1),
        (&["-r", "32000", "-c", "2", "-b", "16"], 2, 32_000, 1),
        (&["-r", "8000", "-c", "1", "-e", "a-law"], 1, 8000, 6),
        (&["-r", "8000", "-c", "2", "-e", "u-law"], 2, 8000, 7),
        (&["-r", "8000", "-c", "1", "-b", "16"], 1, 8000, 1),
    ];
    for (i, (opts, channels, rate, tag)) in kinds.iter().enumerate() {
        let (file, bytes) = sox_tone(opts, &format!("kind{i}.wav"));
        let info = wav_info(&bytes).unwrap();
        assert_eq!(
            (info.channels, info.rate, info.format_tag),
            (*channels, *rate, *tag),
            "{opts:?}"
        );
        assert_eq!(info.channels.to_string(), sox(&["--i", "-c", file.path()]));
        let native = decode_wav(&bytes).unwrap();
        assert_eq!(
            native.samples.len().to_string(),
            sox(&["--i", "-s", file.path()]),
            "{opts:?}"
        );

        let prompt = prompt_from_file(&bytes).unwrap();
        assert_eq!(prompt.rate, 8000);
        assert!(
            prompt.samples.len().abs_diff(8000) <= 1,
            "{opts:?}: {} samples",
            prompt.samples.len()
        );
        let mid = &prompt.samples[2000..6000];
        let at_1k = goertzel_dbfs(mid, 8000, 1000.0);
        // Half scale sine: 20·log10(0.5/√2) = −9.03 dBFS; G.711 and 8-bit add a little noise.
        assert!(
            (at_1k + 9.03).abs() < 0.5,
            "{opts:?}: 1 kHz at {at_1k:.2} dBFS"
        );
        assert!(
            (rms_dbfs(mid) - at_1k).abs() < 0.3,
            "{opts:?}: energy outside 1 kHz"
        );
    }
}

#[test]
fn a_sox_gsm_wav_decodes_to_its_tone_and_length() {
    let f = TempFile::new("sox-gsm.wav");
    sox(&[
        "-n",
        "-r",
        "8000",
        "-c",
        "1",
        "-e",
        "gsm-full-rate",
        f.path(),
        "synth",
        "3",
        "sine",
        "440",
        "vol",
        "0.5",
    ]);
    let bytes = std::fs::read(&f.0).unwrap();
    assert_eq!(wav_info(&bytes).unwrap().format_tag, 0x31);
    let pcm = decode_wav(&bytes).unwrap();
    assert_eq!(pcm.rate, 8000);
    assert!(
        pcm.samples.len().abs_diff(24_000) < 320,
        "{} samples",
        pcm.samples.len()
    );
    let mid = &pcm.samples[4000..20_000];
    let at_440 = goertzel_dbfs(mid, 8000, 440.0);
    assert!((at_440 + 9.03).abs() < 2.0, "440 Hz at {at_440:.2} dBFS");
    assert!(at_440 - goertzel_dbfs(mid, 8000, 880.0) > 20.0);
    // sox's own decoding of the same file agrees sample for sample (both are libgsm).
    let raw = TempFile::new("sox-gsm.raw");
    sox(&[
        f.path(),
        "-t",
        "raw",
        "-e",
        "signed-integer",
        "-b",
        "16",
        raw.path(),
    ]);
    let theirs: Vec<i16> = std::fs::read(&raw.0)
        .unwrap()
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    assert_eq!(&theirs[..pcm.samples.len()], &pcm.samples[..]);
}

#[test]
fn sox_reads_our_wav49_as_gsm_at_8khz_with_the_right_duration_and_tone() {
    let tone: Vec<i16> = (0..24_000)
        .map(|i| {
            (10_000.0 * (2.0 * std::f64::consts::PI * 440.0 * f64::from(i) / 8000.0).sin()) as i16
        })
        .collect();
    let f = TempFile::new("ours.wav");
    std::fs::write(&f.0, encode_wav49(&tone).unwrap()).unwrap();
    let info = sox(&["--i", f.path()]);
    assert!(info.contains("GSM"), "{info}");
    assert_eq!(sox(&["--i", "-r", f.path()]), "8000");
    assert_eq!(sox(&["--i", "-c", f.path()]), "1");
    let secs: f64 = sox(&["--i", "-D", f.path()]).parse().unwrap();
    assert!((secs - 3.0).abs() <= 0.04, "sox says {secs} s");
    // sox decodes it to the same tone.
    let raw = TempFile::new("ours.raw");
    sox(&[
        f.path(),
        "-t",
        "raw",
        "-e",
        "signed-integer",
        "-b",
        "16",
        raw.path(),
    ]);
    let theirs: Vec<i16> = std::fs::read(&raw.0)
        .unwrap()
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let mid = &theirs[4000..20_000];
    let at_440 = goertzel_dbfs(mid, 8000, 440.0);
    assert!(
        at_440 - goertzel_dbfs(mid, 8000, 880.0) > 20.0,
        "440 Hz at {at_440:.1} dBFS"
    );
    assert!((at_440 - goertzel_dbfs(&tone[4000..20_000], 8000, 440.0)).abs() < 3.0);
}

#[test]
fn sox_reads_our_pcm_alaw_and_ulaw_files_as_written() {
    let samples: Vec<i16> = (0..16_000)
        .map(|i| ((i % 200) * 100 - 10_000) as i16)
        .collect();
    let cases = [
        (
            encode_wav_pcm16(16_000, 2, &samples),
            "16-bit Signed Integer PCM",
            "16000",
            "2",
            8000,
        ),
        (
            encode_wav_g711(Law::A, 8000, 1, &samples),
            "8-bit A-law",
            "8000",
            "1",
            16_000,
        ),
        (
            encode_wav_g711(Law::Mu, 8000, 1, &samples),
            "8-bit u-law",
            "8000",
            "1",
            16_000,
        ),
    ];
    for (i, (bytes, encoding, rate, channels, frames)) in cases.into_iter().enumerate() {
        let f = TempFile::new(&format!("ours{i}.wav"));
        std::fs::write(&f.0, bytes).unwrap();
        let info = sox(&["--i", f.path()]);
        assert!(info.contains(encoding), "{encoding}: {info}");
        assert_eq!(sox(&["--i", "-r", f.path()]), rate);
        assert_eq!(sox(&["--i", "-c", f.path()]), channels);
        assert_eq!(sox(&["--i", "-s", f.path()]), frames.to_string());
    }
}

#[test]
fn a_stereo_44khz_mp3_made_by_sox_becomes_a_1khz_prompt_at_8khz() {
    let f = TempFile::new("tone.mp3");
    sox(&[
        "-n",
        "-r",
        "44100",
        "-c",
        "2",
        f.path(),
        "synth",
        "1",
        "sine",
        "1000",
        "vol",
        "0.5",
    ]);
    let bytes = std::fs::read(&f.0).unwrap();
    let native = pbx_audio::decode_mp3(&bytes).unwrap();
    assert_eq!(native.rate, 44_100);
    // Decoders differ by the encoder delay and padding they trim: within one 1152-sample frame.
    let sox_samples: usize = sox(&["--i", "-s", f.path()]).parse().unwrap();
    assert!(
        native.samples.len().abs_diff(sox_samples) <= 1152,
        "{} vs {sox_samples}",
        native.samples.len()
    );
    let prompt = prompt_from_file(&bytes).unwrap();
    assert_eq!(prompt.rate, 8000);
    assert!(
        (prompt.duration_secs() - 1.0).abs() < 0.06,
        "{} s",
        prompt.duration_secs()
    );
    let mid = &prompt.samples[2000..6000];
    let at_1k = goertzel_dbfs(mid, 8000, 1000.0);
    assert!((at_1k + 9.03).abs() < 0.5, "1 kHz at {at_1k:.2} dBFS");
    assert!((rms_dbfs(mid) - at_1k).abs() < 0.3);
}
