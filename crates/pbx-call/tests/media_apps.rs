//! Calls answered by vpbx itself: a voice menu, an announcement, voicemail
//! on the caller's leg, ringing a user from a menu, and music on hold —
//! driven like the server drives them (real transaction endpoint, virtual
//! time, a media double that records the engine's orders).
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use pbx_app::announce::Announce;
use pbx_app::ivr::{DialMatch, Menu, MenuSpec};
use pbx_app::voicemail::{Deposit, DepositSpec};
use pbx_app::{Action, CallerId, Event, GreetingKind, PromptRef};
use pbx_call::{CallState, Disposition, HangupBy, MediaLeg, ToneKind};
use pbx_core::{Destination, Ext};
use sip_msg::Method;
use support::*;

fn dest(s: &str) -> Destination {
    Destination::parse(s).unwrap()
}

fn menu() -> Box<Menu> {
    let mut spec = MenuSpec::new(vec![PromptRef::Named("main".into())]);
    spec.options.insert("1".into(), dest("user:1101"));
    spec.on_timeout = Some(dest("voicemail:1000"));
    Box::new(Menu::new(spec, Box::new(|_: &str| DialMatch::None)))
}

fn deposit() -> Box<Deposit> {
    Box::new(Deposit::new(DepositSpec::new(
        pbx_app::say::Lang::En,
        Ext::parse("1101").unwrap(),
        GreetingKind::Unavailable,
        CallerId {
            number: Some("1001".into()),
            name: Some("Alice".into()),
        },
    )))
}

/// The caller (offering PCMU then PCMA) reaches an application: 200 OK, ACK.
fn start_app(h: &mut Harness, app: Box<dyn pbx_app::MediaApp + Send>) {
    h.receive(CALLER, &invite_text(&sdp(4000, "0 8", "sendrecv")));
    h.with(|c, env| c.run_app(app, env));
    h.ack();
}

fn bye_from_caller(h: &mut Harness) {
    let tag = h.caller_tag();
    h.receive(CALLER, &from_caller(&tag, "BYE", 10, "", ""));
}

#[test]
fn a_menu_answers_plays_and_a_digit_rings_the_user_with_ringback_until_they_answer() {
    let mut h = Harness::new();
    start_app(&mut h, menu());
    // Answered by vpbx: G.711 as the caller preferred it, with telephone-event.
    let ok = h.oks_to_caller();
    assert_eq!(ok.len(), 1);
    let answer = String::from_utf8_lossy(&ok[0].body).to_string();
    assert!(answer.contains("m=audio 30002 RTP/AVP 0 101"), "{answer}");
    assert_eq!(h.call().state(), CallState::App);
    let (_, prompts) = h.media.last_play().unwrap();
    assert_eq!(prompts, vec![PromptRef::Named("main".into())]);

    h.with(|c, env| c.on_digit(MediaLeg(1), '1', env));
    assert_eq!(h.gotos(), vec![(dest("user:1101"), 1)]);
    assert_eq!(h.call().state(), CallState::Routing);
    assert_eq!(h.call().destination(), "user:1101");

    let mut t = user("1101");
    t.contacts = vec![contact(PHONE_1)];
    h.with(|c, env| c.ring(t, env));
    assert_eq!(
        h.media.app.last(),
        Some(&AppCall::Tone(1, ToneKind::Ringback))
    );
    let inv = &h.requests_to(PHONE_1, Method::Invite)[0];
    let offer = String::from_utf8_lossy(&inv.body).to_string();
    assert!(
        offer.contains("RTP/AVP 0 8 101"),
        "the caller's codec first, G.711 only: {offer}"
    );

    h.answer(PHONE_1, 180, None);
    assert!(
        !h.responses_to(CALLER)
            .iter()
            .any(|r| r.status.as_u16() == 180),
        "an answered caller gets no 180"
    );
    h.answer(PHONE_1, 200, Some(sdp(6000, "0", "sendrecv")));
    assert_eq!(h.call().state(), CallState::Answered);
    assert_eq!(h.media.app.last(), Some(&AppCall::Detach(1)));
    assert_eq!(h.media.connected.last(), Some(&(1, 2)));
    assert_eq!(h.oks_to_caller().len(), 1, "no second 200 OK to the caller");

    bye_from_caller(&mut h);
    assert_eq!(h.requests_to(PHONE_1, Method::Bye).len(), 1);
    let rec = &h.records[0];
    assert_eq!(rec.disposition, Disposition::Answered);
    assert_eq!(rec.hangup_by, HangupBy::Caller);
    assert_eq!(rec.destination, "user:1101");
    assert_eq!(rec.answer_ms, Some(h.wall_ms));
    assert!(h.finished);
}

#[test]
fn an_announcement_plays_then_hangs_up_with_bye_and_an_answered_record() {
    let mut h = Harness::new();
    h.receive(CALLER, &invite_text(&sdp(4000, "0 8", "sendrecv")));
    h.with(|c, _| c.set_destination("announce:closed"));
    let app = Box::new(Announce::new(vec![PromptRef::Named("closed".into())], None));
    h.with(|c, env| c.run_app(app, env));
    h.ack();
    h.with(|c, env| c.on_digit(MediaLeg(1), '5', env));
    assert!(
        h.requests_to(CALLER, Method::Bye).is_empty(),
        "digits do not stop it"
    );
    h.wall_ms += 4_000;
    let (id, _) = h.media.last_play().unwrap();
    // A stale id (another application's) is ignored.
    h.with(|c, env| c.on_play_done(id + (1 << 32), env));
    assert!(h.requests_to(CALLER, Method::Bye).is_empty());
    h.with(|c, env| c.on_play_done(id, env));
    assert_eq!(h.requests_to(CALLER, Method::Bye).len(), 1);
    let rec = &h.records[0];
    assert_eq!(rec.disposition, Disposition::Answered);
    assert_eq!(rec.hangup_by, HangupBy::System);
    assert_eq!(rec.destination, "announce:closed");
    assert_eq!(rec.billsec_s(), 4);
    assert!(h.media.released.contains(&1));
    assert!(h.finished);
}

#[test]
fn the_caller_hanging_up_during_the_menu_ends_the_call_without_routing() {
    let mut h = Harness::new();
    start_app(&mut h, menu());
    bye_from_caller(&mut h);
    assert!(
        h.responses_to(CALLER)
            .iter()
            .any(|r| r.status.as_u16() == 200 && r.headers.cseq().unwrap().method == Method::Bye)
    );
    assert!(h.media.app.contains(&AppCall::Stop(1)));
    assert!(h.gotos().is_empty());
    assert_eq!(h.records[0].hangup_by, HangupBy::Caller);
    assert_eq!(h.records[0].disposition, Disposition::Answered);
    assert!(h.media.released.contains(&1));
    assert!(h.finished);
    // The menu's digit timer firing late does nothing.
    h.advance(Duration::from_secs(30));
    assert_eq!(h.records.len(), 1);
}

#[test]
fn a_caller_hanging_up_while_leaving_a_message_still_has_it_stored() {
    let mut h = Harness::new();
    start_app(&mut h, deposit());
    let (id, greeting) = h.media.last_play().unwrap();
    assert!(greeting.contains(&PromptRef::System("vm-theperson")));
    h.with(|c, env| c.on_play_done(id, env));
    assert!(matches!(
        h.media.app.last(),
        Some(AppCall::Record {
            leg: 1,
            beep: true,
            ..
        })
    ));
    bye_from_caller(&mut h);
    assert_eq!(h.media.app.last(), Some(&AppCall::StopRecord(1)));
    assert_eq!(h.records.len(), 1, "the record is written at once");
    assert!(!h.finished, "the recording is still being closed");
    assert!(!h.media.released.contains(&1), "its leg stays");
    h.with(|c, env| {
        c.on_app_event(
            Event::RecordDone {
                duration_ms: 7_000,
                silent: false,
            },
            env,
        )
    });
    let stored = h.app_effects();
    assert!(
        matches!(&stored[..], [Action::StoreMessage(m)] if m.duration_ms == 7_000 && m.mailbox.as_str() == "1101"),
        "{stored:?}"
    );
    assert!(h.media.released.contains(&1));
    assert!(h.finished);
}

#[test]
fn a_recording_that_never_reports_its_end_lets_the_call_go_after_a_grace_time() {
    let mut h = Harness::new();
    start_app(&mut h, deposit());
    let (id, _) = h.media.last_play().unwrap();
    h.with(|c, env| c.on_play_done(id, env));
    bye_from_caller(&mut h);
    h.advance(Duration::from_secs(5));
    assert!(!h.finished);
    h.advance(Duration::from_secs(6));
    assert!(h.finished);
    assert!(h.media.released.contains(&1));
    assert!(h.app_effects().is_empty(), "nothing stored");
}

#[test]
fn sip_info_dtmf_from_the_caller_reaches_the_menu() {
    let mut h = Harness::new();
    start_app(&mut h, menu());
    let tag = h.caller_tag();
    h.receive(
        CALLER,
        &from_caller(
            &tag,
            "INFO",
            4,
            "Content-Type: application/dtmf-relay\n",
            "Signal=1\nDuration=160\n",
        ),
    );
    assert!(
        h.responses_to(CALLER)
            .iter()
            .any(|r| r.status.as_u16() == 200 && r.headers.cseq().unwrap().method == Method::Info)
    );
    assert_eq!(h.gotos(), vec![(dest("user:1101"), 1)]);
}

#[test]
fn the_menu_timing_out_walks_on_to_voicemail_on_the_virtual_clock() {
    let mut h = Harness::new();
    start_app(&mut h, menu());
    for _ in 0..2 {
        let (id, _) = h.media.last_play().unwrap();
        h.with(|c, env| c.on_play_done(id, env));
        h.now += Duration::from_secs(10);
        h.wall_ms += 10_000;
        h.advance(Duration::ZERO);
    }
    assert_eq!(h.gotos(), vec![(dest("voicemail:1000"), 1)]);
    h.with(|c, env| c.run_app(deposit(), env));
    assert_eq!(h.call().state(), CallState::App);
    assert_eq!(h.oks_to_caller().len(), 1, "answered once");
    let (_, greeting) = h.media.last_play().unwrap();
    assert!(greeting.contains(&PromptRef::System("vm-theperson")));
}

#[test]
fn a_user_failing_after_the_menu_gets_the_caller_a_bye_not_a_status() {
    let mut h = Harness::new();
    start_app(&mut h, menu());
    h.with(|c, env| c.on_digit(MediaLeg(1), '1', env));
    let mut t = user("1101");
    t.contacts = vec![contact(PHONE_1)];
    h.with(|c, env| c.ring(t, env));
    h.answer(PHONE_1, 486, None);
    assert_eq!(h.requests_to(CALLER, Method::Bye).len(), 1);
    assert!(
        !h.responses_to(CALLER)
            .iter()
            .any(|r| r.status.as_u16() == 486)
    );
    let rec = &h.records[0];
    assert_eq!(rec.disposition, Disposition::Answered);
    assert_eq!(rec.hangup_reason, "busy");
}

#[test]
fn no_answer_after_the_menu_goes_to_the_users_voicemail() {
    let mut h = Harness::new();
    start_app(&mut h, menu());
    h.with(|c, env| c.on_digit(MediaLeg(1), '1', env));
    let mut t = user("1101");
    t.contacts = vec![contact(PHONE_1)];
    t.on_no_answer = Some(dest("voicemail:1101"));
    h.with(|c, env| c.ring(t, env));
    h.answer(PHONE_1, 180, None);
    h.advance(Duration::from_secs(21));
    assert_eq!(h.requests_to(PHONE_1, Method::Cancel).len(), 1);
    assert_eq!(
        h.gotos(),
        vec![(dest("user:1101"), 1), (dest("voicemail:1101"), 2)]
    );
    h.with(|c, env| c.run_app(deposit(), env));
    assert_eq!(h.call().state(), CallState::App);
    assert!(h.requests_to(CALLER, Method::Bye).is_empty());
}

#[test]
fn voicemail_knows_whether_the_user_was_busy_or_did_not_answer() {
    for (status, busy) in [(486, true), (480, false)] {
        let mut h = Harness::new();
        h.receive(CALLER, &invite_text(&sdp(4000, "8 0", "sendrecv")));
        let mut t = user("1002");
        t.contacts = vec![contact(PHONE_1)];
        t.on_busy = Some(dest("voicemail:1002"));
        t.on_unavailable = Some(dest("voicemail:1002"));
        t.on_no_answer = Some(dest("voicemail:1002"));
        h.with(|c, env| c.ring(t, env));
        h.answer(PHONE_1, status, None);
        assert_eq!(h.gotos(), vec![(dest("voicemail:1002"), 1)], "{status}");
        assert_eq!(h.call().failover_was_busy(), busy, "{status}");
    }
}

#[test]
fn an_unanswered_callers_no_answer_destination_may_be_voicemail() {
    let mut h = Harness::new();
    h.receive(CALLER, &invite_text(&sdp(4000, "8 0", "sendrecv")));
    let mut t = user("1002");
    t.contacts = vec![contact(PHONE_1)];
    t.on_no_answer = Some(dest("voicemail:1002"));
    h.with(|c, env| c.ring(t, env));
    h.answer(PHONE_1, 180, None);
    h.advance(Duration::from_secs(21));
    assert_eq!(h.gotos(), vec![(dest("voicemail:1002"), 1)]);
    h.with(|c, env| c.run_app(deposit(), env));
    let ok = h.oks_to_caller();
    assert_eq!(ok.len(), 1, "voicemail answers the caller");
    assert!(String::from_utf8_lossy(&ok[0].body).contains("RTP/AVP 8 101"));
}

#[test]
fn a_destination_walk_that_loops_is_hung_up_at_the_hop_limit() {
    let mut h = Harness::new();
    h.media.no_engine = true;
    h.receive(CALLER, &invite_text(&sdp(4000, "0 8", "sendrecv")));
    for _ in 0..30 {
        if h.call().state() != CallState::Routing {
            break;
        }
        let app = Box::new(Announce::new(
            vec![PromptRef::Named("hello".into())],
            Some(dest("announce:hello")),
        ));
        h.with(|c, env| c.run_app(app, env));
    }
    assert_eq!(h.gotos().len(), 20);
    assert_eq!(h.gotos().last().unwrap().1, 20);
    assert_eq!(h.requests_to(CALLER, Method::Bye).len(), 1);
    assert_eq!(h.records[0].hangup_reason, "hop_limit");
    assert_eq!(h.call().state(), CallState::Ended);
}

#[test]
fn a_caller_offering_g722_first_keeps_g722_for_the_media_engine_and_forks_are_offered_every_engine_codec()
 {
    let mut h = Harness::new();
    h.params
        .codecs
        .insert(0, pbx_sdp::Codec::new(9, "G722", 8000));
    h.receive(CALLER, &invite_text(&sdp(4000, "9 8", "sendrecv")));
    h.with(|c, env| c.run_app(menu(), env));
    h.ack();
    let ok = h.oks_to_caller();
    let answer = String::from_utf8_lossy(&ok[0].body).to_string();
    assert!(answer.contains("RTP/AVP 9 101"), "{answer}");
    let (leg, setup) = h.media.configured.last().unwrap();
    assert_eq!(*leg, 1);
    assert_eq!(setup.negotiated.codec.name, "G722");

    // A digit rings a user: the relay transcodes G.722 to G.711, so the fork
    // is offered G.722 first and both G.711 laws after it.
    h.with(|c, env| c.on_digit(MediaLeg(1), '1', env));
    let mut t = user("1101");
    t.contacts = vec![contact(PHONE_1)];
    h.with(|c, env| c.ring(t, env));
    let inv = &h.requests_to(PHONE_1, Method::Invite)[0];
    let offer = String::from_utf8_lossy(&inv.body).to_string();
    assert!(offer.contains("RTP/AVP 9 8 0 101"), "{offer}");
    // A G.711-only phone answers: the call is bridged (G.722 on one leg, PCMU on the other).
    h.answer(PHONE_1, 200, Some(sdp(6000, "0", "sendrecv")));
    assert_eq!(h.call().state(), CallState::Answered);
    assert_eq!(h.media.connected.last(), Some(&(1, 2)));
    let (leg, setup) = h.media.configured.last().unwrap();
    assert_eq!((*leg, setup.negotiated.codec.name.as_str()), (2, "PCMU"));
}

#[test]
fn a_caller_offering_only_g722_reaches_an_application_in_g722() {
    let mut h = Harness::new();
    h.params
        .codecs
        .insert(0, pbx_sdp::Codec::new(9, "G722", 8000));
    h.receive(CALLER, &invite_text(&sdp(4000, "9", "sendrecv")));
    h.with(|c, env| c.run_app(menu(), env));
    let ok = h.oks_to_caller();
    let answer = String::from_utf8_lossy(&ok[0].body).to_string();
    assert!(answer.contains("RTP/AVP 9 101"), "{answer}");
    assert_eq!(h.call().state(), CallState::App);
}

#[test]
fn a_caller_offering_no_engine_codec_cannot_reach_an_application() {
    let mut h = Harness::new();
    h.params
        .codecs
        .insert(0, pbx_sdp::Codec::new(3, "GSM", 8000));
    h.receive(CALLER, &invite_text(&sdp(4000, "3", "sendrecv")));
    h.with(|c, env| c.run_app(menu(), env));
    assert_eq!(final_status(&h, CALLER), Some(488));
    assert!(h.finished);
}

#[test]
fn a_g711_caller_of_an_application_is_offered_to_forks_in_g711_then_g722_when_configured() {
    let mut h = Harness::new();
    h.params.codecs.push(pbx_sdp::Codec::new(9, "G722", 8000));
    start_app(&mut h, menu());
    let ok = h.oks_to_caller();
    let answer = String::from_utf8_lossy(&ok[0].body).to_string();
    assert!(answer.contains("RTP/AVP 0 101"), "{answer}");
    h.with(|c, env| c.on_digit(MediaLeg(1), '1', env));
    let mut t = user("1101");
    t.contacts = vec![contact(PHONE_1)];
    h.with(|c, env| c.ring(t, env));
    let inv = &h.requests_to(PHONE_1, Method::Invite)[0];
    let offer = String::from_utf8_lossy(&inv.body).to_string();
    assert!(offer.contains("RTP/AVP 0 8 9 101"), "{offer}");
}

/// A re-INVITE from the caller with its SDP in direction `dir` (version `v`).
fn reinvite_from_caller(h: &mut Harness, dir: &str, v: u32, cseq: u32) {
    let tag = h.caller_tag();
    let body = sdp(4000, "8", dir).replace("o=- 1 1", &format!("o=- 1 {v}"));
    h.receive(
        CALLER,
        &from_caller(
            &tag,
            "INVITE",
            cseq,
            "Content-Type: application/sdp\n",
            &body,
        ),
    );
}

#[test]
fn hold_plays_music_to_the_held_party_and_resume_gives_it_the_caller_back() {
    let mut h = Harness::new();
    h.start(&[PHONE_1]);
    h.answer(PHONE_1, 200, Some(sdp(6000, "8", "sendrecv")));
    reinvite_from_caller(&mut h, "sendonly", 2, 3);
    assert_eq!(
        h.media.app.last(),
        Some(&AppCall::Moh(2, "default".into())),
        "the callee's leg hears music"
    );
    let re = h.requests_to(PHONE_1, Method::Invite);
    assert!(String::from_utf8_lossy(&re[1].body).contains("a=sendonly"));
    // The callee answers our hold offer.
    let mut r = re[1].make_response(sip_msg::StatusCode::OK);
    r.headers
        .push(sip_msg::HeaderName::ContentType, "application/sdp");
    r.body = bytes::Bytes::from(
        sdp(6000, "8", "recvonly")
            .replace("o=- 1 1", "o=- 1 2")
            .replace('\n', "\r\n"),
    );
    h.receive_msg(PHONE_1, sip_msg::Message::Response(r));

    reinvite_from_caller(&mut h, "sendrecv", 3, 4);
    assert_eq!(h.media.app.last(), Some(&AppCall::Detach(2)));
    let moh = h
        .media
        .app
        .iter()
        .filter(|a| matches!(a, AppCall::Moh(..)))
        .count();
    assert_eq!(moh, 1);
}

#[test]
fn an_empty_music_class_keeps_a_held_party_in_silence() {
    let mut h = Harness::new();
    h.start(&[PHONE_1]);
    h.answer(PHONE_1, 200, Some(sdp(6000, "8", "sendrecv")));
    h.with(|c, _| c.set_moh_class(""));
    reinvite_from_caller(&mut h, "sendonly", 2, 3);
    assert_eq!(
        h.requests_to(PHONE_1, Method::Invite).len(),
        2,
        "still held"
    );
    assert!(h.media.app.is_empty());
}

#[test]
fn a_delayed_offer_caller_gets_our_g711_offer_and_the_app_starts_after_the_ack() {
    let mut h = Harness::new();
    let inv = invite_text("").replace("Content-Type: application/sdp\n", "");
    h.receive(CALLER, &inv);
    h.with(|c, env| c.run_app(menu(), env));
    let ok = h.oks_to_caller();
    let offer = String::from_utf8_lossy(&ok[0].body).to_string();
    assert!(offer.contains("RTP/AVP 8 0 101"), "{offer}");
    assert!(h.media.app.is_empty(), "nothing plays before the ACK");
    let tag = h.caller_tag();
    h.receive(CALLER, &ack_from_caller(&tag, &sdp(4000, "0", "sendrecv")));
    let (leg, setup) = h.media.configured.last().unwrap();
    assert_eq!((*leg, setup.negotiated.codec.name.as_str()), (1, "PCMU"));
    assert!(h.media.last_play().is_some(), "the menu plays");
}

#[test]
fn a_long_stay_in_a_menu_is_kept_alive_by_our_session_refresh() {
    let mut h = Harness::new();
    start_app(&mut h, menu());
    let ok = &h.oks_to_caller()[0];
    assert_eq!(
        ok.headers
            .get(&sip_msg::HeaderName::parse("Session-Expires").unwrap()),
        Some("1800;refresher=uas")
    );
    // (This media double never ends a playback: the menu waits meanwhile.)
    h.advance(Duration::from_secs(901));
    let re = h.requests_to(CALLER, Method::Invite);
    assert_eq!(re.len(), 1, "our refresh re-INVITE");
    assert!(String::from_utf8_lossy(&re[0].body).contains("RTP/AVP 0 8 101"));
}

#[test]
fn an_announcement_going_on_to_hangup_ends_the_call_without_the_server() {
    let mut h = Harness::new();
    h.receive(CALLER, &invite_text(&sdp(4000, "0 8", "sendrecv")));
    let app = Box::new(Announce::new(
        vec![PromptRef::Named("closed".into())],
        Some(Destination::Hangup),
    ));
    h.with(|c, env| c.run_app(app, env));
    h.ack();
    let (id, _) = h.media.last_play().unwrap();
    h.with(|c, env| c.on_play_done(id, env));
    assert!(h.gotos().is_empty());
    assert_eq!(h.requests_to(CALLER, Method::Bye).len(), 1);
    assert_eq!(h.records[0].hangup_reason, "hangup");
    assert!(h.finished);
}

#[test]
fn a_goto_the_server_cannot_resolve_hangs_up_an_answered_caller() {
    let mut h = Harness::new();
    start_app(&mut h, menu());
    h.with(|c, env| c.on_digit(MediaLeg(1), '1', env));
    h.with(|c, env| c.goto_failed(env));
    assert_eq!(h.requests_to(CALLER, Method::Bye).len(), 1);
    assert_eq!(h.records[0].disposition, Disposition::Answered);
}

#[test]
fn star_during_a_voicemail_greeting_hands_the_caller_to_the_mailbox_login() {
    let mut h = Harness::new();
    start_app(&mut h, deposit());
    h.with(|c, env| c.on_digit(MediaLeg(1), '*', env));
    assert_eq!(
        h.app_effects(),
        vec![Action::EnterMailbox(Ext::parse("1101").unwrap())]
    );
    assert_eq!(h.call().state(), CallState::Routing);
    let login = pbx_app::voicemail::Login::new(pbx_app::voicemail::LoginSpec::new(
        pbx_app::say::Lang::En,
        Ext::parse("1101").unwrap(),
        "1234".into(),
    ));
    h.with(|c, env| c.run_app(Box::new(login), env));
    assert_eq!(h.call().state(), CallState::App);
    let (id, _) = h.media.last_play().unwrap();
    assert_eq!(id >> 32, 2, "the second application's playback");
    assert_eq!(h.oks_to_caller().len(), 1);
}

#[test]
fn a_caller_switching_to_the_other_g711_codec_during_a_menu_is_accepted() {
    let mut h = Harness::new();
    start_app(&mut h, menu());
    reinvite_from_caller(&mut h, "sendrecv", 2, 3);
    let last = h.responses_to(CALLER).into_iter().last().unwrap();
    assert_eq!(last.status.as_u16(), 200);
    assert!(String::from_utf8_lossy(&last.body).contains("RTP/AVP 8 101"));
    let (leg, setup) = h.media.configured.last().unwrap();
    assert_eq!((*leg, setup.negotiated.codec.name.as_str()), (1, "PCMA"));
}

fn denial() -> Box<Announce> {
    Box::new(Announce::new(
        vec![PromptRef::System("cannot-complete-as-dialed")],
        None,
    ))
}

#[test]
fn an_early_media_announcement_sends_183_with_sdp_then_the_refusal_and_never_a_200() {
    let mut h = Harness::new();
    h.receive(CALLER, &invite_text(&sdp(4000, "0 8", "sendrecv")));
    h.with(|c, env| {
        c.run_early_app(
            denial(),
            sip_msg::StatusCode::FORBIDDEN,
            "Outbound Call Not Allowed",
            env,
        )
    });
    let progress: Vec<_> = h
        .responses_to(CALLER)
        .into_iter()
        .filter(|r| r.status.as_u16() == 183)
        .collect();
    assert_eq!(progress.len(), 1);
    let answer = String::from_utf8_lossy(&progress[0].body).to_string();
    assert!(answer.contains("m=audio 30002 RTP/AVP 0 101"), "{answer}");
    assert_eq!(h.call().state(), CallState::App);
    let (id, prompts) = h.media.last_play().unwrap();
    assert_eq!(
        prompts,
        vec![PromptRef::System("cannot-complete-as-dialed")]
    );
    assert_eq!(
        final_status(&h, CALLER),
        None,
        "no final status while it plays"
    );

    h.wall_ms += 3_000;
    h.with(|c, env| c.on_play_done(id, env));
    let last = h.responses_to(CALLER).pop().unwrap();
    assert_eq!(last.status.as_u16(), 403);
    assert_eq!(last.reason, "Outbound Call Not Allowed");
    assert!(
        h.oks_to_caller().is_empty(),
        "the caller was never answered"
    );
    assert!(h.requests_to(CALLER, Method::Bye).is_empty());
    let rec = &h.records[0];
    assert_eq!(rec.disposition, Disposition::Failed);
    assert_eq!(rec.sip_cause, Some(403));
    assert_eq!(rec.answer_ms, None);
    assert!(h.media.released.contains(&1));
    assert!(h.finished);
}

#[test]
fn a_caller_cancelling_during_the_early_announcement_gets_487() {
    let mut h = Harness::new();
    h.receive(CALLER, &invite_text(&sdp(4000, "8", "sendrecv")));
    h.with(|c, env| c.run_early_app(denial(), sip_msg::StatusCode::FORBIDDEN, "Nope", env));
    h.receive(
        CALLER,
        "CANCEL sip:1002@t.test SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bKcaller1;rport\nMax-Forwards: 70\n\
         From: \"Alice\" <sip:1001@t.test>;tag=alice1\nTo: <sip:1002@t.test>\nCall-ID: call-1@caller\nCSeq: 2 CANCEL\nContent-Length: 0\n\n",
    );
    assert_eq!(final_status(&h, CALLER), Some(487));
    assert_eq!(h.records[0].disposition, Disposition::Cancelled);
    assert_eq!(h.records[0].hangup_by, HangupBy::Caller);
    assert!(
        matches!(h.media.app.last(), Some(AppCall::Stop(1))),
        "{:?}",
        h.media.app
    );
}

#[test]
fn a_delayed_offer_cannot_hear_early_media_and_gets_the_refusal_at_once() {
    let mut h = Harness::new();
    h.receive(CALLER, &invite_text(""));
    h.with(|c, env| {
        c.run_early_app(
            denial(),
            sip_msg::StatusCode::FORBIDDEN,
            "Outbound Call Limit Reached",
            env,
        )
    });
    let rs = h.responses_to(CALLER);
    assert!(!rs.iter().any(|r| r.status.as_u16() == 183));
    let last = rs.last().unwrap();
    assert_eq!(
        (last.status.as_u16(), last.reason.as_str()),
        (403, "Outbound Call Limit Reached")
    );
    assert!(h.media.last_play().is_none());
    assert!(h.finished);
}
