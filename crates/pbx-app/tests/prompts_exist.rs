//! Every system prompt the applications can emit exists in the installed Asterisk sound
//! sets (`asterisk-core-sounds-{en,ru,it}-wav`, installed by the README's setup and
//! `.ci/run`), so the server never plays silence for a missing name.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use pbx_app::say::{self, Lang};
use pbx_app::{Action, PromptRef, prompts};
use support::{Driver, KINDS, Rng, app};

const SOUNDS: &str = "/usr/share/asterisk/sounds";

fn voice_dir(lang: Lang) -> PathBuf {
    let dir = Path::new(SOUNDS).join(lang.asterisk_voice_dir());
    assert!(
        dir.is_dir(),
        "{} is missing: install the Debian package asterisk-core-sounds-{}-wav \
         (the README's setup and .ci/run do) to run this test",
        dir.display(),
        lang.code()
    );
    dir
}

fn missing(lang: Lang, names: &BTreeSet<&'static str>) -> Vec<&'static str> {
    let dir = voice_dir(lang);
    names
        .iter()
        .copied()
        .filter(|n| !dir.join(format!("{n}.wav")).is_file())
        .collect()
}

/// Every system prompt and every action kind reached by many seeded random sessions.
fn explore(lang: Lang) -> (BTreeSet<&'static str>, BTreeMap<String, usize>) {
    let mut names = BTreeSet::new();
    let mut reached = BTreeMap::new();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ lang.code().len() as u64);
    for round in 0..3_000 {
        let kind = round % KINDS;
        let mut a = app(kind, lang);
        let mut d = Driver::default();
        d.step(
            a.as_mut(),
            support::Step {
                sel: 0,
                arg: 0,
                dt: 0,
            },
        );
        for _ in 0..200 {
            let s = rng.step();
            // Few hang-ups, so sessions get deep.
            if s.sel % 16 == 15 && !rng.next().is_multiple_of(8) {
                continue;
            }
            d.step(a.as_mut(), s);
        }
        for action in d.actions {
            let label = format!("{action:?}");
            let label = label.split([' ', '(', '{']).next().unwrap().to_owned();
            *reached.entry(format!("{kind}:{label}")).or_default() += 1;
            if let Action::Play { prompts, .. } = action {
                names.extend(prompts.into_iter().filter_map(|p| match p {
                    PromptRef::System(n) => Some(n),
                    _ => None,
                }));
            }
        }
    }
    (names, reached)
}

#[test]
fn every_prompt_the_applications_emit_exists_in_each_language() {
    for lang in Lang::ALL {
        let (names, reached) = explore(lang);
        // The exploration must reach the deep paths, or this test proves little.
        for must in [
            "0:Goto",
            "1:Hangup",
            "2:StoreMessage",
            "2:DiscardRecording",
            "2:EnterMailbox",
            "4:Authenticated",
            "5:DeleteMessage",
            "5:MoveMessage",
            "5:SetMwi",
            "6:DeleteMessage",
            "8:MoveMessage",
        ] {
            assert!(
                reached.contains_key(must),
                "{lang:?}: the random sessions never reached {must}: {reached:?}"
            );
        }
        for n in &names {
            let known = prompts::COMMON.contains(n)
                || n.starts_with("digits/")
                || (lang == Lang::Ru && prompts::RU_ONLY.contains(n))
                || (lang == Lang::It && prompts::IT_ONLY.contains(n));
            assert!(
                known,
                "{lang:?}: {n} is emitted but not catalogued in prompts"
            );
        }
        let miss = missing(lang, &names);
        assert!(miss.is_empty(), "{lang:?}: missing prompts {miss:?}");
    }
}

#[test]
fn the_catalogued_prompts_exist_where_they_are_used() {
    for lang in Lang::ALL {
        let common: BTreeSet<_> = prompts::COMMON.iter().copied().collect();
        assert_eq!(missing(lang, &common), Vec::<&str>::new(), "{lang:?}");
    }
    let ru: BTreeSet<_> = prompts::RU_ONLY.iter().copied().collect();
    assert_eq!(missing(Lang::Ru, &ru), Vec::<&str>::new());
    let it: BTreeSet<_> = prompts::IT_ONLY.iter().copied().collect();
    assert_eq!(missing(Lang::It, &it), Vec::<&str>::new());
    for lang in Lang::ALL {
        let required: BTreeSet<_> = prompts::required(lang).into_iter().collect();
        assert_eq!(missing(lang, &required), Vec::<&str>::new(), "{lang:?}");
    }
}

#[test]
fn every_number_date_and_digit_word_exists_in_each_language() {
    for lang in Lang::ALL {
        let mut names = BTreeSet::new();
        let big = [
            1_000_000,
            1_000_001,
            2_345_678,
            21_000_000,
            999_999_999,
            1_000_000_000,
            u64::from(u32::MAX),
            u64::MAX,
        ];
        for n in (0..=2_100).chain(big) {
            names.extend(say::number(lang, n));
            names.extend(say::number_gendered(lang, n, say::Gender::Neuter));
        }
        names.extend(say::digits("0123456789*#+"));
        // Every hour, minute and day of a (leap) year, at several offsets.
        let year_2024 = 1_704_067_200_000u64;
        for hour in 0..(366 * 24) {
            for (minute, offset) in [(0, 0), (7, 180), (45, -300)] {
                let ms = year_2024 + hour * 3_600_000 + minute * 60_000;
                names.extend(say::datetime(lang, ms, offset));
            }
        }
        names.extend(say::datetime(lang, 0, -720));
        names.extend(say::datetime(lang, u64::MAX, 840));
        let miss = missing(lang, &names);
        assert!(miss.is_empty(), "{lang:?}: missing number words {miss:?}");
        let required = prompts::required(lang);
        let uncatalogued: Vec<_> = names.iter().filter(|n| !required.contains(n)).collect();
        assert!(
            uncatalogued.is_empty(),
            "{lang:?}: said but not in prompts::required: {uncatalogued:?}"
        );
    }
}
