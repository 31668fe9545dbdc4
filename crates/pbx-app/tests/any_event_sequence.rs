//! Any sequence of events — duplicated, late, out of order, after hang-up — leaves every
//! application without a panic and keeps its invariants (see `support::Driver`).
#![allow(clippy::unwrap_used)]

mod support;

use pbx_app::say::Lang;
use proptest::prelude::*;
use support::{Driver, KINDS, Step, app};

fn step() -> impl Strategy<Value = Step> {
    (any::<u8>(), any::<u32>(), 0u32..20_000).prop_map(|(sel, arg, dt)| Step { sel, arg, dt })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_event_sequence_panics_or_breaks_an_invariant(
        kind in 0..KINDS,
        lang in prop_oneof![Just(Lang::En), Just(Lang::Ru), Just(Lang::It)],
        steps in prop::collection::vec(step(), 0..120),
    ) {
        let mut a = app(kind, lang);
        let mut d = Driver::default();
        // Start first most of the time, so the sequences get somewhere.
        d.step(a.as_mut(), Step { sel: 0, arg: 0, dt: 0 });
        for s in steps {
            d.step(a.as_mut(), s);
        }
    }
}

#[test]
fn every_application_finishes_after_hangup_and_stays_silent() {
    for kind in 0..KINDS {
        let mut a = app(kind, Lang::En);
        let mut d = Driver::default();
        for s in [
            Step {
                sel: 0,
                arg: 0,
                dt: 0,
            },
            Step {
                sel: 1,
                arg: 1,
                dt: 10,
            },
            Step {
                sel: 15,
                arg: 0,
                dt: 10,
            }, // hangup
            Step {
                sel: 14,
                arg: 5_001,
                dt: 10,
            }, // a recording in progress reports
        ] {
            d.step(a.as_mut(), s);
        }
        assert!(a.is_finished(), "kind {kind}: {a:?}");
        let before = d.actions.len();
        for sel in 0..16 {
            d.step(a.as_mut(), Step { sel, arg: 7, dt: 1 });
        }
        assert_eq!(d.actions.len(), before, "kind {kind} acted after finishing");
    }
}
