//! `vpbx route`'s simulator on seed 000's office (DESIGN.md's tenant example) and the
//! platform file of issue 5.
#![allow(clippy::unwrap_used)]

use pbx_core::TenantConfig;
use pbx_dialplan::walk::{Dial, EndReason, MAX_USER_HOPS, MAX_WALK_HOPS, WalkError, walk};
use pbx_dialplan::{Decision, Platform, Walk};

const OFFICE: &str = r#"
domain: office.example
language: ru
country: RU
users:
  - {ext: "1001", name: "Reception", secret: "s3cret-1001"}
  - {ext: "1101", name: "Sales 1", secret: "s3cret-1101", pickup_group: sales, on_busy: group:1100, on_no_answer: group:1100, on_unavailable: group:1100}
  - {ext: "1102", name: "Sales 2", secret: "s3cret-1102", pickup_group: sales, ring_timeout: 15, on_no_answer: message:1102}
  - {ext: "2001", name: "Director", secret: "s3cret-2001", email: dir@office.example,
     voicemail: {enabled: true, delete_after_email: true, format: wav49, busy_greeting: dir-busy},
     on_busy: voicemail:2001, on_no_answer: voicemail:2001, on_unavailable: voicemail:2001}
  - {ext: "2222", name: "Secretary", secret: "s3cret-2222", on_no_answer: group:1100}
groups:
  - {ext: "1100", name: Sales, strategy: ringall, members: ["2222", "1101"],
     ring_timeout: 20, on_timeout: user:2222}
  - {ext: "1200", name: Support, strategy: hunt, members: ["1101", "1102", "2001"], ring_timeout: 10}
  - {ext: "1300", name: Ping, members: ["1102"], on_timeout: group:1400}
  - {ext: "1400", name: Pong, strategy: rrmemory, members: ["2001"], on_timeout: group:1300}
ivrs:
  - name: main-ru
    ext: "5000"
    prompts: [ru-greet, advert, ru-route]
    digit_timeout: 10
    repeat: 1
    direct_dial: true
    options: {"1": group:1100, "9": ivr:main-it, "0": ivr:main-en}
    on_timeout: user:2222
    on_invalid: ivr:main-ru
  - {name: main-it, ext: "5002", prompts: [it-greet], on_timeout: ivr:main-it}
  - {name: main-en, ext: "5001", prompts: [en-greet], repeat: 0}
schedules:
  - {name: office-hours, timezone: Europe/Moscow, weekly: {mon-fri: 09:00-18:00},
     in_hours: ivr:main-ru, after_hours: voicemail:2001}
announces:
  - {name: moved, prompts: [we-moved], then: ivr:main-en}
numbers:
  - {number: "+74952216005", route: schedule:office-hours}
  - {number: "+74952216006", route: announce:moved}
outbound:
  prefix: "99"
  number: "+74952216005"
"#;

const PLATFORM: &str = r#"
trunks:
  - {name: newoperator, tenant: office.example, host: 127.0.0.1, username: "74952345678",
     secret: "sdfsddf^$#$", register: true, priority: 1,
     prefixes: {regional: "8", international: "810", emergency: ""}, strip_regional: 1}
  - {name: backup, tenant: office.example, host: 127.0.0.2, priority: 2}
numbers:
  - {number: "+74952216005", tenant: office.example, trunk: newoperator}
directions:
  - {number: "+74952216005", trunk: newoperator, class: regional}
  - {number: "+74952216005", trunk: backup, class: regional}
  - {number: "+74952216005", trunk: newoperator, class: international, pattern: "_39."}
"#;

/// Thursday 2026-11-26 10:00 in Moscow (07:00 UTC): the office is open.
const THURSDAY_10_MSK: i64 = 1_795_676_400_000;
/// The same Thursday at 20:00 in Moscow: closed.
const THURSDAY_20_MSK: i64 = THURSDAY_10_MSK + 10 * 3_600_000;

fn office() -> TenantConfig {
    TenantConfig::from_yaml_str(OFFICE).unwrap()
}

fn platform() -> Platform {
    Platform::from_yaml_str(PLATFORM).unwrap()
}

fn run(dial: Dial<'_>) -> Walk {
    walk(&office(), Some(&platform()), &dial).unwrap()
}

fn text(w: &Walk) -> String {
    w.to_string()
}

/// The first `n` printed lines after the header.
fn head(w: &Walk, n: usize) -> Vec<String> {
    text(w).lines().skip(1).take(n).map(str::to_owned).collect()
}

fn last_line(w: &Walk) -> String {
    text(w).lines().last().unwrap().to_owned()
}

#[test]
fn a_busy_extension_goes_to_its_department_group_then_to_the_secretary() {
    let w = run(Dial::new("1001", "1101", THURSDAY_10_MSK).busy(&["1101"]));
    assert_eq!(
        head(&w, 5),
        [
            "1. user:1101 (Sales 1): busy (given as busy)",
            "2. busy → on_busy group:1100",
            "3. group:1100 (Sales, ringall 20 s): rings 2222; skips 1101 busy (given as busy)",
            "4. no answer → on_timeout user:2222",
            "5. user:2222 (Secretary): rings 20 s",
        ]
    );
    assert!(text(&w).starts_with("dial 1101 from 1001 (Reception) at 2026-11-26T07:00:00Z\n"));
}

#[test]
fn an_unanswered_director_goes_to_voicemail_with_the_unavailable_greeting() {
    let w = run(Dial::new("1001", "2001", THURSDAY_10_MSK));
    assert_eq!(
        text(&w),
        "dial 2001 from 1001 (Reception) at 2026-11-26T07:00:00Z\n\
         1. user:2001 (Director): rings 20 s\n\
         2. no answer → on_no_answer voicemail:2001\n\
         3. voicemail:2001 (Director, greeting unavailable): records up to 180 s\n\
         end: the caller leaves a message in 2001\n"
    );
    assert_eq!(
        w.end.reason,
        EndReason::Voicemail {
            mailbox: "2001".into()
        }
    );
    assert_eq!(w.end.status, None);
}

#[test]
fn a_busy_director_gets_the_busy_greeting() {
    let w = run(Dial::new("1001", "2001", THURSDAY_10_MSK).busy(&["2001"]));
    assert_eq!(
        head(&w, 3),
        [
            "1. user:2001 (Director): busy (given as busy)",
            "2. busy → on_busy voicemail:2001",
            "3. voicemail:2001 (Director, greeting busy: dir-busy): records up to 180 s",
        ]
    );
}

#[test]
fn the_secretary_group_circle_ends_at_the_servers_user_failover_limit() {
    let w = run(Dial::new("1001", "2222", THURSDAY_10_MSK));
    // The secretary rang first, then once per failover to user:2222.
    let rings = w
        .steps
        .iter()
        .filter(|s| s.text == "user:2222 (Secretary): rings 20 s")
        .count();
    assert_eq!(rings, 1 + MAX_USER_HOPS as usize);
    // Once the walk leaves the secretary she is no longer in this call, so the group
    // rings her phone too (seed 000: it rings each time round).
    assert_eq!(
        head(&w, 3)[2],
        "3. group:1100 (Sales, ringall 20 s): rings 2222, 1101"
    );
    assert_eq!(w.end.reason, EndReason::UserHopLimit);
    assert_eq!(w.end.status, Some(480));
    assert_eq!(
        last_line(&w),
        "end: user failover limit (8 hops to users) — the caller gets 480 Temporarily Unavailable"
    );
}

#[test]
fn two_groups_passing_the_call_back_and_forth_end_with_482_at_the_hop_limit() {
    let w = run(Dial::new("1001", "1300", THURSDAY_10_MSK));
    // The dialed group, then one group per walk step.
    assert_eq!(w.destinations().len(), 1 + MAX_WALK_HOPS as usize);
    assert_eq!(
        w.destinations()[..3],
        ["group:1300", "group:1400", "group:1300"]
    );
    assert_eq!(w.end.reason, EndReason::HopLimit);
    assert_eq!(w.end.status, Some(482));
    assert_eq!(
        last_line(&w),
        "end: hop limit (20 hops) — the caller gets 482 Loop Detected"
    );
    assert_eq!(
        head(&w, 3)[2],
        "3. group:1400 (Pong, rrmemory 20 s each, file order when the group has no history; the order depends on history): rings 2001 for 20 s"
    );
}

#[test]
fn a_menu_that_times_out_into_itself_hangs_up_the_answered_caller_at_the_hop_limit() {
    let w = run(Dial::new("1001", "5002", THURSDAY_10_MSK));
    assert_eq!(w.end.reason, EndReason::HopLimit);
    // The menu answered the caller: a BYE, no final status.
    assert_eq!(w.end.status, None);
    assert_eq!(
        last_line(&w),
        "end: hop limit (20 hops) — the caller, answered by ivr:main-it, is hung up"
    );
}

#[test]
fn the_office_number_reaches_the_menu_while_open_and_voicemail_when_closed() {
    let open = run(Dial::new("+79257410726", "+74952216005", THURSDAY_10_MSK));
    assert_eq!(
        head(&open, 3),
        [
            "1. number +74952216005 → route schedule:office-hours",
            "2. schedule:office-hours (Europe/Moscow): open → in_hours ivr:main-ru",
            "3. ivr:main-ru: plays ru-greet, advert, ru-route (2 times, repeat 1), waiting 10 s for a digit after each; extensions may be dialed",
        ]
    );
    let closed = run(Dial::new("+79257410726", "+74952216005", THURSDAY_20_MSK));
    assert_eq!(
        head(&closed, 3),
        [
            "1. number +74952216005 → route schedule:office-hours",
            "2. schedule:office-hours (Europe/Moscow): closed → after_hours voicemail:2001",
            "3. voicemail:2001 (Director, greeting unavailable): records up to 180 s",
        ]
    );
    assert!(
        text(&closed).starts_with("dial +74952216005 from +79257410726 at 2026-11-26T17:00:00Z\n")
    );
}

#[test]
fn an_outside_callers_walk_releases_each_rung_user_so_the_group_rings_them_again() {
    // The server counts the user rung last as in the call only until the walk moves on
    // (`Shard::release_rung`), whoever the caller is.
    let w = run(Dial::new("+79257410726", "+74952216005", THURSDAY_10_MSK));
    let printed = text(&w);
    let lines: Vec<&str> = printed.lines().skip(5).collect();
    assert_eq!(
        lines[..5],
        [
            "4. no digit → on_timeout user:2222",
            "5. user:2222 (Secretary): rings 20 s",
            "6. no answer → on_no_answer group:1100",
            "7. group:1100 (Sales, ringall 20 s): rings 2222, 1101",
            "8. no answer → on_timeout user:2222",
        ]
    );
    assert_eq!(lines[5], "9. user:2222 (Secretary): rings 20 s");
    assert_eq!(w.end.reason, EndReason::UserHopLimit);
    assert_eq!(
        lines.last().copied(),
        Some(
            "end: user failover limit (8 hops to users) — the caller, answered by ivr:main-ru, is hung up"
        )
    );
}

#[test]
fn a_user_is_reached_by_extension_or_digest_username() {
    let yaml = OFFICE.replace(
        r#"name: "Secretary", secret: "s3cret-2222","#,
        r#"name: "Secretary", secret: "s3cret-2222", auth_user: anna,"#,
    );
    let t = TenantConfig::from_yaml_str(&yaml).unwrap();
    let w = walk(&t, None, &Dial::new("1001", "anna", 0)).unwrap();
    assert_eq!(head(&w, 1), ["1. user:2222 (Secretary): rings 20 s"]);
    let w = walk(&t, None, &Dial::new("anna", "2001", 0)).unwrap();
    assert!(w.header.starts_with("dial 2001 from 2222 (Secretary)"));
}

#[test]
fn a_menu_lists_its_options_and_times_out_to_the_secretary() {
    let w = run(Dial::new("1001", "5000", THURSDAY_10_MSK));
    assert_eq!(
        head(&w, 4),
        [
            "1. ivr:main-ru: plays ru-greet, advert, ru-route (2 times, repeat 1), waiting 10 s for a digit after each; extensions may be dialed",
            "   options: 0 → ivr:main-en, 1 → group:1100, 9 → ivr:main-it",
            "2. no digit → on_timeout user:2222",
            "3. user:2222 (Secretary): rings 20 s",
        ]
    );
    assert_eq!(
        w.end.answered_by.as_ref().unwrap().to_string(),
        "ivr:main-ru"
    );
}

#[test]
fn a_menu_without_on_timeout_says_goodbye() {
    let w = run(Dial::new("1001", "5001", THURSDAY_10_MSK));
    assert_eq!(
        text(&w).lines().skip(1).collect::<Vec<_>>(),
        [
            "1. ivr:main-en: plays en-greet (once, repeat 0), waiting 5 s for a digit after each",
            "2. no digit, no on_timeout: says goodbye",
            "end: the menu says goodbye — the caller, answered by ivr:main-en, is hung up",
        ]
    );
}

#[test]
fn an_announcement_plays_then_goes_on() {
    let w = run(Dial::new("+390612345678", "74952216006", THURSDAY_10_MSK));
    assert_eq!(
        head(&w, 3),
        [
            "1. number +74952216006 → route announce:moved",
            "2. announce:moved: plays we-moved, then ivr:main-en",
            "3. ivr:main-en: plays en-greet (once, repeat 0), waiting 5 s for a digit after each",
        ]
    );
    assert_eq!(
        w.end.answered_by.as_ref().unwrap().to_string(),
        "announce:moved"
    );
}

#[test]
fn an_allowed_outside_call_prints_the_trunk_digits_and_caller_id_then_the_failover_trunk() {
    let w = run(Dial::new("1001", "99+79257410726", THURSDAY_10_MSK));
    assert_eq!(
        text(&w).lines().skip(1).collect::<Vec<_>>(),
        [
            "1. outside number +79257410726 (after the outbound prefix 99)",
            "   trunk=newoperator digits=89257410726 callerid=+74952216005",
            "   failover: trunk=backup digits=79257410726",
            "end: the call leaves through trunk newoperator",
        ]
    );
    assert!(matches!(w.decision, Some(Decision::Allowed(_))));
    assert_eq!(w.end.status, None);
    // National format after the prefix gives the same digits.
    let w = run(Dial::new("1001", "9989257410726", THURSDAY_10_MSK));
    assert_eq!(
        head(&w, 2)[1],
        "   trunk=newoperator digits=89257410726 callerid=+74952216005"
    );
}

#[test]
fn a_call_to_sierra_leone_is_denied_with_403() {
    let w = run(Dial::new("1001", "99+23276123456", THURSDAY_10_MSK));
    assert_eq!(
        text(&w).lines().skip(1).collect::<Vec<_>>(),
        [
            "1. outside number +23276123456 (after the outbound prefix 99)",
            "   denied: international calls to SL (+232) are not allowed for +74952216005",
            "end: denied — the caller gets 403 Forbidden",
        ]
    );
    assert_eq!(w.end.reason, EndReason::Denied);
    assert_eq!(w.end.status, Some(403));
}

#[test]
fn without_a_platform_file_every_outside_call_is_denied() {
    let w = walk(&office(), None, &Dial::new("1001", "9989257410726", 0)).unwrap();
    assert_eq!(head(&w, 2)[1], "   denied: no platform file applied");
    assert_eq!(w.end.status, Some(403));
    assert_eq!(w.decision, None);
}

#[test]
fn an_emergency_number_goes_out_without_the_prefix() {
    let w = run(Dial::new("1001", "112", THURSDAY_10_MSK));
    assert_eq!(
        head(&w, 2),
        [
            "1. emergency number 112",
            "   trunk=newoperator digits=112 callerid=+74952216005",
        ]
    );
}

#[test]
fn an_unknown_number_is_404() {
    for digits in ["4444", "99", "", "+74952216009"] {
        let w = run(Dial::new("1001", digits, THURSDAY_10_MSK));
        assert!(w.steps.is_empty(), "{digits}");
        assert_eq!(w.end.reason, EndReason::NotFound);
        assert_eq!(last_line(&w), "end: 404 Not Found");
    }
    let w = run(Dial::new("+79257410726", "1101", THURSDAY_10_MSK));
    assert_eq!(
        w.end.status,
        Some(404),
        "outside callers reach numbers only"
    );
}

#[test]
fn an_unregistered_director_is_unavailable_and_goes_to_voicemail() {
    let registered = |ext: &str| ext != "2001";
    let w = run(Dial::new("1001", "2001", THURSDAY_10_MSK).registered(&registered));
    assert_eq!(
        head(&w, 3),
        [
            "1. user:2001 (Director): not registered",
            "2. unavailable → on_unavailable voicemail:2001",
            "3. voicemail:2001 (Director, greeting unavailable): records up to 180 s",
        ]
    );
}

#[test]
fn a_hunt_group_skips_busy_and_unregistered_members_and_ends_480_without_on_timeout() {
    let registered = |ext: &str| ext != "1102";
    let w = run(Dial::new("1001", "1200", THURSDAY_10_MSK)
        .busy(&["1101"])
        .registered(&registered));
    assert_eq!(
        text(&w).lines().skip(1).collect::<Vec<_>>(),
        [
            "1. group:1200 (Support, hunt 10 s each, file order): rings nobody; skips 1101 busy (given as busy)",
            "2. group:1200: rings nobody; skips 1102 (not registered)",
            "3. group:1200: rings 2001 for 10 s",
            "end: no answer, no failover — the caller gets 480 Temporarily Unavailable",
        ]
    );
}

#[test]
fn a_group_whose_members_are_all_busy_gives_486() {
    let w = run(Dial::new("1001", "1200", THURSDAY_10_MSK).busy(&["1101", "1102", "2001"]));
    assert_eq!(w.end.status, Some(486));
    assert_eq!(w.end.reason, EndReason::Unanswered { outcome: "busy" });
    let nobody = |_: &str| false;
    let w = run(Dial::new("1001", "1200", THURSDAY_10_MSK).registered(&nobody));
    assert_eq!(w.end.status, Some(480));
    assert_eq!(
        w.end.reason,
        EndReason::Unanswered {
            outcome: "unavailable"
        }
    );
}

#[test]
fn the_caller_is_never_rung_by_their_own_group() {
    let w = run(Dial::new("1101", "1100", THURSDAY_10_MSK));
    assert_eq!(
        head(&w, 1),
        ["1. group:1100 (Sales, ringall 20 s): rings 2222; skips 1101 (the caller)"]
    );
}

#[test]
fn a_message_destination_is_served_as_voicemail_as_the_server_does() {
    // 1102 has no mailbox: the server cannot serve message:1102 and ends the call.
    let w = run(Dial::new("1001", "1102", THURSDAY_10_MSK));
    assert_eq!(
        text(&w).lines().skip(1).collect::<Vec<_>>(),
        [
            "1. user:1102 (Sales 2): rings 15 s",
            "2. no answer → on_no_answer message:1102",
            "3. message:1102: no mailbox (the user has voicemail off)",
            "end: message:1102 cannot be served — the caller gets 480 Temporarily Unavailable",
        ]
    );
    // With a mailbox, the server records a message.
    let yaml = OFFICE.replace(
        r#"ring_timeout: 15,"#,
        r#"ring_timeout: 15, voicemail: {enabled: true, max_message_s: 60},"#,
    );
    let t = TenantConfig::from_yaml_str(&yaml).unwrap();
    let w = walk(&t, None, &Dial::new("1001", "1102", THURSDAY_10_MSK)).unwrap();
    assert_eq!(
        head(&w, 3)[2],
        "3. message:1102 served as voicemail:1102 (Sales 2, greeting unavailable): records up to 60 s"
    );
}

#[test]
fn the_voicemail_service_code_opens_the_callers_mailbox() {
    let w = run(Dial::new("2001", "*97", THURSDAY_10_MSK));
    assert_eq!(
        text(&w).lines().skip(1).collect::<Vec<_>>(),
        [
            "1. voicemail menu (*97): asks for 2001's PIN, then opens mailbox 2001",
            "end: voicemail menu (*97) runs",
        ]
    );
}

#[test]
fn the_pickup_service_codes_say_what_they_would_answer() {
    let lines = |from: &str, to: &str| {
        text(&run(Dial::new(from, to, THURSDAY_10_MSK)))
            .lines()
            .skip(1)
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        lines("1101", "*8"),
        [
            "1. call pickup (*8): answers the call that has rung longest for another user of pickup group sales (480 when none rings)",
            "end: call pickup (*8) runs",
        ]
    );
    assert_eq!(
        lines("1101", "**1102")[0],
        "1. call pickup (**1102): answers the call ringing 1102 (Sales 2) of pickup group sales (480 when none rings)"
    );
    assert_eq!(
        lines("1101", "**2001")[0],
        "1. call pickup (**2001): 2001 is no other user of pickup group sales, so nothing can be picked up (480)"
    );
    assert_eq!(
        lines("2001", "*8")[0],
        "1. call pickup (*8): 2001 is in no pickup group, so nothing can be picked up (480)"
    );
}

#[test]
fn a_caller_who_is_no_user_is_an_error() {
    assert_eq!(
        walk(&office(), None, &Dial::new("9999", "1101", 0)).unwrap_err(),
        WalkError::UnknownCaller {
            from: "9999".into(),
            domain: "office.example".into()
        }
    );
    assert!(walk(&office(), None, &Dial::new("", "1101", 0)).is_err());
}

#[test]
fn every_walk_ends_within_the_hop_limits_whatever_is_dialed() {
    let t = office();
    let p = platform();
    for from in ["1001", "1101", "2222", "+79257410726"] {
        for digits in [
            "1100",
            "1101",
            "1102",
            "1200",
            "1300",
            "1400",
            "2001",
            "2222",
            "5000",
            "5001",
            "5002",
            "+74952216005",
            "74952216006",
        ] {
            let w = walk(&t, Some(&p), &Dial::new(from, digits, THURSDAY_20_MSK)).unwrap();
            // Each user failover and each walk hop adds at most a few steps.
            assert!(
                w.steps.len() <= 4 * (MAX_USER_HOPS + MAX_WALK_HOPS) as usize + 4,
                "{from} → {digits}"
            );
        }
    }
}

#[test]
fn a_queue_answers_and_lists_who_rings_then_follows_on_timeout_after_max_wait() {
    let t = TenantConfig::from_yaml_str(&format!(
        "{OFFICE}queues:\n  - {{ext: \"1500\", name: Desk, members: [\"1101\"], agents: [\"1102\"], max_wait: 60, on_timeout: voicemail:2001}}\n  - {{ext: \"1600\", name: Line, strategy: leastrecent, members: [\"2222\"]}}\n"
    ))
    .unwrap();
    let w = walk(&t, None, &Dial::new("1001", "1500", THURSDAY_10_MSK)).unwrap();
    let lines: Vec<String> = text(&w).lines().skip(1).map(str::to_owned).collect();
    assert_eq!(
        lines[0],
        "1. queue:1500 (Desk, ringall): the caller is answered and waits with music, announcements every 30 s; members 1101 and agents 1102 (when logged in) ring as they are free (15 s per attempt, 5 s between attempts, 0 s wrap-up)"
    );
    assert_eq!(
        lines[1],
        "2. queue:1500: after 60 s without an agent → voicemail:2001"
    );
    assert!(
        w.destinations().contains(&"voicemail:2001".to_owned()),
        "{w}"
    );
    let w = walk(&t, None, &Dial::new("1001", "1600", THURSDAY_10_MSK)).unwrap();
    assert_eq!(
        w.end.reason,
        EndReason::Queued {
            queue: "queue:1600".into()
        }
    );
    assert_eq!(
        last_line(&w),
        "end: the caller waits in queue:1600 until an agent answers"
    );
}

#[test]
fn an_outside_group_member_is_shown_ringing_through_a_trunk() {
    let yaml = OFFICE.replace(
        r#"members: ["2222", "1101"],"#,
        r#"members: ["2222", "external:+79257410726"],"#,
    );
    let t = TenantConfig::from_yaml_str(&yaml).unwrap();
    let w = walk(
        &t,
        Some(&platform()),
        &Dial::new("1001", "1100", THURSDAY_10_MSK),
    )
    .unwrap();
    assert_eq!(
        head(&w, 1),
        [
            "1. group:1100 (Sales, ringall 20 s): rings 2222, external:+79257410726 (through a trunk)"
        ]
    );
}
