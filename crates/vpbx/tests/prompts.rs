//! `vpbx prompt add|list|remove`, `vpbx moh add|list|remove` and the apply-time prompt
//! check, run as the real binary against a temporary SQLite store and data dir, with audio
//! files made by `sox` and the system sounds installed from the Debian packages
//! (`asterisk-core-sounds-{en,ru,it}-wav`, `asterisk-moh-opsound-wav`).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const DOMAIN: &str = "office.example";

struct Env {
    dir: PathBuf,
    config: PathBuf,
}

impl Env {
    fn new(name: &str) -> Env {
        let dir = std::env::temp_dir().join(format!("vpbx_media_{name}_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("vpbx.toml");
        std::fs::write(
            &config,
            format!(
                "data_dir = \"{0}/data\"\ndatabase = \"sqlite://{0}/data/vpbx.db\"\n",
                dir.display()
            ),
        )
        .unwrap();
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let env = Env { dir, config };
        stdout(&env.vpbx(&["tenant", "create", DOMAIN]));
        env
    }

    fn vpbx(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_vpbx"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .output()
            .unwrap()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn tenant_dir(&self) -> PathBuf {
        self.dir.join("data/tenants").join(DOMAIN)
    }

    /// Writes a tenant file and returns its path as a string.
    fn tenant_file(&self, name: &str, yaml: &str) -> String {
        let p = self.path(name);
        std::fs::write(&p, yaml).unwrap();
        p.display().to_string()
    }

    /// Makes an audio file with `sox -n … OUT synth …`; false when sox cannot write it.
    fn sox(&self, out: &str, format: &[&str], synth: &[&str]) -> bool {
        let status = Command::new("sox")
            .arg("-n")
            .args(format)
            .arg(self.path(out))
            .args(synth)
            .output()
            .expect("sox is needed by these tests (apt-get install sox libsox-fmt-all)");
        status.status.success()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}, stderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// The failure's stderr, asserted to be exactly one line with exit status 1.
fn one_line_error(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8(o.stderr.clone()).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    err.trim_end().to_owned()
}

fn rms(samples: &[i16]) -> f64 {
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / samples.len() as f64).sqrt()
}

/// Files in a directory, hidden ones (the vault's temporaries) included.
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

const IVR_WITH_ADVERT: &str = "domain: office.example
language: ru
users:
  - {ext: \"2222\", name: Secretary, secret: s3cret-2222}
ivrs:
  - {name: main, prompts: [vm-intro, advert, beep], options: {\"1\": user:2222}, on_timeout: user:2222}
";

const NO_IVR: &str = "domain: office.example
language: ru
users:
  - {ext: \"2222\", name: Secretary, secret: s3cret-2222}
";

#[test]
fn a_44k_stereo_wav_becomes_an_8k_mono_prompt_that_the_tenant_can_use_and_not_lose_while_used() {
    let env = Env::new("add");
    assert!(env.sox(
        "advert.wav",
        &["-r", "44100", "-c", "2", "-b", "16"],
        &["synth", "2.5", "sine", "440"]
    ));
    let ivr = env.tenant_file("ivr.yaml", IVR_WITH_ADVERT);

    // Before the upload the tenant file is refused with pbx-core's line; nothing applied.
    let err = one_line_error(&env.vpbx(&["tenant", "apply", &ivr]));
    assert_eq!(
        err,
        format!(
            "vpbx: {ivr}: ivrs[0].prompts[1]: prompt \"advert\" not found (tenant office.example, language ru)"
        )
    );
    assert!(!stdout(&env.vpbx(&["tenant", "export", DOMAIN])).contains("advert"));

    let out = stdout(&env.vpbx(&[
        "prompt",
        "add",
        DOMAIN,
        "advert",
        env.path("advert.wav").to_str().unwrap(),
    ]));
    assert_eq!(
        out.trim_end(),
        "prompt advert added in office.example: 0:02.5, 40044 bytes (8 kHz 16-bit mono WAV)"
    );

    // Stored as 8 kHz 16-bit mono PCM of the same length, the tone intact.
    let stored = env.tenant_dir().join("prompts/advert.wav");
    let bytes = std::fs::read(&stored).unwrap();
    let info = pbx_audio::wav_info(&bytes).unwrap();
    assert_eq!(
        (
            info.format_tag,
            info.rate,
            info.channels,
            info.bits_per_sample
        ),
        (1, 8000, 1, 16)
    );
    let pcm = pbx_audio::decode_wav(&bytes).unwrap();
    assert_eq!(pcm.samples.len(), 20_000, "2.5 s at 8 kHz");
    let level = rms(&pcm.samples[1000..19_000]);
    assert!(
        level > 10_000.0 && level < 30_000.0,
        "sox's sine at full scale: {level}"
    );

    // Listed with its duration and size; the system languages are installed.
    let list = stdout(&env.vpbx(&["prompt", "list", DOMAIN]));
    let row = list.lines().find(|l| l.starts_with("advert ")).unwrap();
    assert!(row.contains("0:02.5") && row.contains("40044"), "{list}");
    assert!(list.contains("1 prompt(s) in office.example"), "{list}");
    assert!(list.contains("ru (ru_RU_f_IvrvoiceRU, "), "{list}");
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&env.vpbx(&["prompt", "list", DOMAIN, "--json"]))).unwrap();
    assert_eq!(json["prompts"][0]["name"], "advert");
    assert_eq!(json["prompts"][0]["duration_s"], 2.5);
    assert_eq!(json["prompts"][0]["bytes"], 40044);
    assert_eq!(json["language"], "en", "the refused file changed nothing");
    let langs: Vec<(&str, bool)> = json["system"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["language"].as_str().unwrap(),
                s["installed"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(langs, [("en", true), ("ru", true), ("it", true)]);

    // Now the tenant file applies.
    let out = stdout(&env.vpbx(&["tenant", "apply", &ivr]));
    assert!(out.contains("applied office.example"), "{out}");
    assert!(stdout(&env.vpbx(&["tenant", "export", DOMAIN])).contains("advert"));

    // Removing it while the IVR plays it is refused, and the file stays.
    let err = one_line_error(&env.vpbx(&["prompt", "remove", DOMAIN, "advert"]));
    assert_eq!(
        err,
        "vpbx: prompt advert is still used by office.example (without it the config fails: \
         ivrs[0].prompts[1]: prompt \"advert\" not found (tenant office.example, language ru)); \
         change the tenant file first"
    );
    assert!(stored.is_file());

    // Once the config no longer needs it, it goes.
    stdout(&env.vpbx(&["tenant", "apply", &env.tenant_file("plain.yaml", NO_IVR)]));
    let out = stdout(&env.vpbx(&["prompt", "remove", DOMAIN, "advert"]));
    assert_eq!(out.trim_end(), "prompt advert removed from office.example");
    assert!(!stored.exists());
    assert!(stdout(&env.vpbx(&["prompt", "list", DOMAIN])).contains("0 prompt(s)"));
    let err = one_line_error(&env.vpbx(&["prompt", "remove", DOMAIN, "advert"]));
    assert_eq!(err, "vpbx: no prompt advert in office.example");
}

#[test]
fn a_tenant_prompt_shadowing_a_system_prompt_may_be_removed_since_the_system_one_remains() {
    let env = Env::new("shadow");
    assert!(env.sox(
        "b.wav",
        &["-r", "8000", "-c", "1"],
        &["synth", "0.3", "sine", "800"]
    ));
    stdout(&env.vpbx(&[
        "prompt",
        "add",
        DOMAIN,
        "beep",
        env.path("b.wav").to_str().unwrap(),
    ]));
    stdout(&env.vpbx(&[
        "tenant",
        "apply",
        &env.tenant_file("t.yaml", IVR_WITH_ADVERT.replace("advert, ", "").as_str()),
    ]));
    let out = stdout(&env.vpbx(&["prompt", "remove", DOMAIN, "beep"]));
    assert_eq!(out.trim_end(), "prompt beep removed from office.example");
}

#[test]
fn bad_uploads_are_one_line_errors_and_leave_nothing_behind() {
    let env = Env::new("bad");
    let prompts = env.tenant_dir().join("prompts");
    assert!(env.sox(
        "good.wav",
        &["-r", "8000", "-c", "1"],
        &["synth", "1", "sine", "300"]
    ));
    let good = env.path("good.wav");
    let good = good.to_str().unwrap();
    stdout(&env.vpbx(&["prompt", "add", DOMAIN, "greet", good]));
    let before = std::fs::read(prompts.join("greet.wav")).unwrap();

    let err = one_line_error(&env.vpbx(&["prompt", "add", "nope.example", "greet", good]));
    assert_eq!(err, "vpbx: no tenant nope.example");

    let missing = env.path("missing.wav");
    let err =
        one_line_error(&env.vpbx(&["prompt", "add", DOMAIN, "greet", missing.to_str().unwrap()]));
    assert!(
        err.starts_with(&format!("vpbx: cannot read {}: ", missing.display())),
        "{err}"
    );

    let text = env.path("notes.wav");
    std::fs::write(&text, "this is not audio").unwrap();
    let err =
        one_line_error(&env.vpbx(&["prompt", "add", DOMAIN, "greet", text.to_str().unwrap()]));
    assert_eq!(
        err,
        format!(
            "vpbx: {}: not a usable audio file: unrecognised audio file: neither WAV nor MP3",
            text.display()
        )
    );

    // Truncated in the middle of its header.
    let cut = env.path("cut.wav");
    std::fs::write(&cut, &before[..30]).unwrap();
    let err = one_line_error(&env.vpbx(&["prompt", "add", DOMAIN, "greet", cut.to_str().unwrap()]));
    assert!(err.contains("not a usable audio file: truncated"), "{err}");

    // 31 minutes of silence: longer than a prompt may last.
    assert!(env.sox(
        "long.wav",
        &["-r", "8000", "-c", "1", "-b", "16"],
        &["trim", "0", "31:00"]
    ));
    let long = env.path("long.wav");
    let err =
        one_line_error(&env.vpbx(&["prompt", "add", DOMAIN, "greet", long.to_str().unwrap()]));
    assert_eq!(
        err,
        format!(
            "vpbx: {}: 31:00.0 long, more than the 30 minutes a prompt or music file may last",
            long.display()
        )
    );

    for bad in ["digits/1", "../x", ".hidden", "a b"] {
        let err = one_line_error(&env.vpbx(&["prompt", "add", DOMAIN, bad, good]));
        assert!(err.contains("is not a valid prompt name"), "{err}");
    }

    // Over the tenant's storage quota (1 MiB): 70 s at 8 kHz is 1.12 MB.
    stdout(&env.vpbx(&[
        "tenant",
        "apply",
        &env.tenant_file(
            "small.yaml",
            &format!("{NO_IVR}limits: {{storage_mb: 1}}\n"),
        ),
    ]));
    assert!(env.sox(
        "big.wav",
        &["-r", "8000", "-c", "1"],
        &["synth", "70", "sine", "300"]
    ));
    let big = env.path("big.wav");
    let err = one_line_error(&env.vpbx(&["prompt", "add", DOMAIN, "big", big.to_str().unwrap()]));
    assert!(
        err.starts_with(
            "vpbx: tenant office.example is over its storage quota: this upload would use "
        ),
        "{err}"
    );

    // The earlier prompt is intact and no temporary is left.
    assert_eq!(std::fs::read(prompts.join("greet.wav")).unwrap(), before);
    assert_eq!(entries(&prompts), ["greet.wav"]);
}

#[test]
fn an_mp3_upload_is_decoded_and_stored_as_8k_mono() {
    let env = Env::new("mp3");
    if !env.sox(
        "song.mp3",
        &["-r", "44100", "-c", "2"],
        &["synth", "3", "sine", "1000"],
    ) {
        println!("SKIPPED: this sox cannot write MP3 (apt-get install libsox-fmt-mp3)");
        return;
    }
    let out = stdout(&env.vpbx(&[
        "prompt",
        "add",
        DOMAIN,
        "song",
        env.path("song.mp3").to_str().unwrap(),
    ]));
    assert!(
        out.starts_with("prompt song added in office.example: 0:03."),
        "{out}"
    );
    let pcm =
        pbx_audio::decode_wav(&std::fs::read(env.tenant_dir().join("prompts/song.wav")).unwrap())
            .unwrap();
    assert_eq!(pcm.rate, 8000);
    // 3 s plus at most the MP3 encoder's padding.
    assert!(
        (24_000..=24_000 + 8 * 100).contains(&pcm.samples.len()),
        "{}",
        pcm.samples.len()
    );
    assert!(rms(&pcm.samples[4000..20_000]) > 10_000.0);
    // The same MP3 is music on hold too.
    let out = stdout(&env.vpbx(&[
        "moh",
        "add",
        DOMAIN,
        "pop",
        env.path("song.mp3").to_str().unwrap(),
    ]));
    assert!(
        out.starts_with("music song.wav added in class pop of office.example: 0:03."),
        "{out}"
    );
}

#[test]
fn music_on_hold_classes_are_added_listed_required_by_the_config_and_removed() {
    let env = Env::new("moh");
    assert!(env.sox(
        "Slow Song.wav",
        &["-r", "16000", "-c", "1"],
        &["synth", "4", "sine", "500"]
    ));
    assert!(env.sox(
        "fast.wav",
        &["-r", "48000", "-c", "2"],
        &["synth", "2", "sine", "700"]
    ));
    let jazz = env.tenant_file("jazz.yaml", &format!("{NO_IVR}moh: jazz\n"));

    // The default class is the system music.
    let list = stdout(&env.vpbx(&["moh", "list", DOMAIN]));
    assert!(
        list.starts_with(
            "class default: 5 file(s) (system music from /usr/share/asterisk/moh, in use)"
        ),
        "{list}"
    );
    assert!(list.contains("macroform-cold_day.wav"), "{list}");

    let err = one_line_error(&env.vpbx(&["tenant", "apply", &jazz]));
    assert_eq!(
        err,
        format!(
            "vpbx: {jazz}: moh: music-on-hold class \"jazz\" not found (tenant office.example)"
        )
    );

    let out = stdout(&env.vpbx(&[
        "moh",
        "add",
        DOMAIN,
        "jazz",
        env.path("Slow Song.wav").to_str().unwrap(),
    ]));
    assert_eq!(
        out.trim_end(),
        "music Slow_Song.wav added in class jazz of office.example: 0:04.0, 64044 bytes (8 kHz 16-bit mono WAV)"
    );
    stdout(&env.vpbx(&[
        "moh",
        "add",
        DOMAIN,
        "jazz",
        env.path("fast.wav").to_str().unwrap(),
    ]));
    let class_dir = env.tenant_dir().join("moh/jazz");
    assert_eq!(entries(&class_dir), ["Slow_Song.wav", "fast.wav"]);
    let fast = pbx_audio::decode_wav(&std::fs::read(class_dir.join("fast.wav")).unwrap()).unwrap();
    assert_eq!((fast.rate, fast.samples.len()), (8000, 16_000));

    stdout(&env.vpbx(&["tenant", "apply", &jazz]));
    let list = stdout(&env.vpbx(&["moh", "list", DOMAIN]));
    assert!(list.contains("class jazz: 2 file(s) (in use)"), "{list}");
    assert!(
        list.contains("class default: 5 file(s) (system music"),
        "{list}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&env.vpbx(&["moh", "list", DOMAIN, "--json"]))).unwrap();
    assert_eq!(json["in_use"], "jazz");
    assert_eq!(json["classes"][1]["class"], "jazz");
    assert_eq!(json["classes"][1]["source"], "tenant");
    assert_eq!(json["classes"][1]["files"][0]["duration_s"], 4.0);

    // One file of two may go; the last one may not while the tenant plays the class.
    let out = stdout(&env.vpbx(&["moh", "remove", DOMAIN, "jazz", "fast"]));
    assert_eq!(
        out.trim_end(),
        "music fast.wav removed from class jazz of office.example"
    );
    let err = one_line_error(&env.vpbx(&["moh", "remove", DOMAIN, "jazz"]));
    assert_eq!(
        err,
        "vpbx: music-on-hold class jazz is still used by office.example (without it the config fails: \
         moh: music-on-hold class \"jazz\" not found (tenant office.example)); change the tenant file first"
    );
    assert_eq!(entries(&class_dir), ["Slow_Song.wav"]);

    stdout(&env.vpbx(&["tenant", "apply", &env.tenant_file("plain.yaml", NO_IVR)]));
    let out = stdout(&env.vpbx(&["moh", "remove", DOMAIN, "jazz"]));
    assert_eq!(
        out.trim_end(),
        "music-on-hold class jazz removed from office.example (1 file(s))"
    );
    assert!(!class_dir.exists());
    let err = one_line_error(&env.vpbx(&["moh", "remove", DOMAIN, "jazz"]));
    assert_eq!(err, "vpbx: no music-on-hold class jazz in office.example");
    let err = one_line_error(&env.vpbx(&["moh", "remove", DOMAIN, "default"]));
    assert_eq!(
        err,
        "vpbx: class default of office.example has no uploaded files (the system music cannot be removed)"
    );
    let err = one_line_error(&env.vpbx(&[
        "moh",
        "add",
        DOMAIN,
        "../x",
        env.path("fast.wav").to_str().unwrap(),
    ]));
    assert!(
        err.contains("is not a valid music-on-hold class name"),
        "{err}"
    );
}
