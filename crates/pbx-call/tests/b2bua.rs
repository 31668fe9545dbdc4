//! The call engine driven like the server drives it: a real transaction
//! endpoint in virtual time, SIP messages as text, and a media double that
//! records what the relay was told.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use pbx_call::{CallState, Disposition, Effect, HangupBy, MediaLeg};
use pbx_core::Destination;
use sip_msg::Method;
use support::*;

#[test]
fn an_extension_call_forks_to_every_contact_and_the_first_answer_wins() {
    let mut h = Harness::new();
    h.start(&[PHONE_1, PHONE_2]);
    assert_eq!(h.requests_to(PHONE_1, Method::Invite).len(), 1);
    assert_eq!(h.requests_to(PHONE_2, Method::Invite).len(), 1);
    // Each fork is its own dialog: own Call-ID, own SDP with vpbx's port.
    let i1 = &h.requests_to(PHONE_1, Method::Invite)[0];
    let i2 = &h.requests_to(PHONE_2, Method::Invite)[0];
    assert_ne!(i1.headers.call_id(), i2.headers.call_id());
    assert_ne!(i1.headers.call_id(), Some("call-1@caller"));
    let body = String::from_utf8_lossy(&i1.body).to_string();
    assert!(
        body.contains("m=audio 3"),
        "the offer carries a relay port: {body}"
    );
    assert!(
        body.contains("RTP/AVP 8 0 101"),
        "caller's codec first: {body}"
    );

    h.answer(PHONE_1, 180, None);
    assert!(
        h.responses_to(CALLER)
            .iter()
            .any(|r| r.status.as_u16() == 180)
    );
    h.answer(PHONE_2, 200, Some(sdp(6000, "8", "sendrecv")));

    assert_eq!(h.call().state(), CallState::Answered);
    assert_eq!(
        h.requests_to(PHONE_2, Method::Ack).len(),
        1,
        "the 2xx is ACKed"
    );
    assert_eq!(
        h.requests_to(PHONE_1, Method::Cancel).len(),
        1,
        "the other fork is cancelled"
    );
    let ok = h
        .responses_to(CALLER)
        .into_iter()
        .find(|r| r.status.as_u16() == 200)
        .unwrap();
    let answer = String::from_utf8_lossy(&ok.body).to_string();
    assert!(answer.contains("m=audio 30002 RTP/AVP 8 101"), "{answer}");
    // The caller's leg (1) is bridged to the answering fork's leg (3).
    assert_eq!(h.media.connected.last(), Some(&(1, 3)));
    assert!(
        h.media.released.contains(&2),
        "the losing fork's port pair is freed"
    );
}

#[test]
fn the_caller_hanging_up_ends_both_legs_and_writes_an_answered_record() {
    let mut h = Harness::new();
    h.start(&[PHONE_1]);
    h.answer(PHONE_1, 200, Some(sdp(6000, "8", "sendrecv")));
    let ok = h
        .responses_to(CALLER)
        .into_iter()
        .find(|r| r.status.as_u16() == 200)
        .unwrap();
    let our_tag = ok.headers.to_tag().unwrap().to_owned();
    h.receive(CALLER, &ack_from_caller(&our_tag, ""));
    h.wall_ms += 65_000;
    h.receive(
        CALLER,
        &format!(
            "BYE sip:vpbx@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKbye1\nMax-Forwards: 70\n\
             From: <sip:1001@t.test>;tag=alice1\nTo: <sip:1002@t.test>;tag={our_tag}\nCall-ID: call-1@caller\nCSeq: 3 BYE\nContent-Length: 0\n\n"
        ),
    );
    assert!(
        h.responses_to(CALLER)
            .iter()
            .any(|r| r.status.as_u16() == 200 && r.headers.cseq().unwrap().method == Method::Bye)
    );
    let bye = h.requests_to(PHONE_1, Method::Bye);
    assert_eq!(bye.len(), 1, "the callee gets a BYE");
    assert_eq!(bye[0].headers.to_tag(), Some("tag5081"));
    let rec = &h.records[0];
    assert_eq!(rec.disposition, Disposition::Answered);
    assert_eq!(rec.hangup_by, HangupBy::Caller);
    assert_eq!(rec.billsec_s(), 65);
    assert_eq!(rec.destination, "user:1002");
    assert!(h.finished);
    assert!(h.media.released.contains(&1) && h.media.released.contains(&2));
}

#[test]
fn one_contact_rejecting_while_another_rings_keeps_the_call_ringing() {
    let mut h = Harness::new();
    h.start(&[PHONE_1, PHONE_2]);
    h.answer(PHONE_2, 180, None);
    h.answer(PHONE_1, 486, None);
    assert_eq!(h.call().state(), CallState::Ringing);
    assert_eq!(final_status(&h, CALLER), None);
    // Nobody answers within ring_timeout: no answer.
    h.advance(Duration::from_secs(21));
    assert_eq!(final_status(&h, CALLER), Some(480));
    assert_eq!(h.records[0].disposition, Disposition::NoAnswer);
    assert_eq!(h.requests_to(PHONE_2, Method::Cancel).len(), 1);
}

#[test]
fn every_contact_busy_makes_the_user_busy() {
    let mut h = Harness::new();
    h.start(&[PHONE_1, PHONE_2]);
    h.answer(PHONE_1, 486, None);
    h.answer(PHONE_2, 603, None);
    assert_eq!(final_status(&h, CALLER), Some(486));
    assert_eq!(h.records[0].disposition, Disposition::Busy);
}

#[test]
fn no_contact_means_unavailable_and_on_unavailable_can_route_elsewhere() {
    let mut h = Harness::new();
    h.start(&[]);
    assert_eq!(final_status(&h, CALLER), Some(480));
    assert_eq!(h.records[0].disposition, Disposition::Failed);
    assert_eq!(h.records[0].hangup_reason, "unavailable");

    let mut h = Harness::new();
    h.receive(CALLER, &invite_text(&sdp(4000, "8", "sendrecv")));
    let mut t = user("1002");
    t.on_unavailable = Some(Destination::parse("user:1003").unwrap());
    h.with(|c, env| c.ring(t, env));
    assert!(
        h.effects
            .iter()
            .any(|e| matches!(e, Effect::Route { ext, hop: 1 } if ext == "1003"))
    );
    assert_eq!(final_status(&h, CALLER), None, "still routing");
    let mut t = user("1003");
    t.contacts = vec![contact(PHONE_2)];
    h.with(|c, env| c.ring(t, env));
    assert_eq!(h.requests_to(PHONE_2, Method::Invite).len(), 1);
    assert_eq!(h.call().destination(), "user:1003");
}

const PHONE_4: &str = "127.0.0.1:5084";

/// A ring group's stage: `ext` is the group, each contact a member's phone.
fn group_stage(members: &[(&str, &str)], hunt: bool) -> pbx_call::RingTarget {
    let mut t = user("1100");
    t.group = true;
    t.hunt = hunt;
    t.ring_timeout = Duration::from_secs(15);
    t.on_no_answer = Some(Destination::parse("voicemail:2222").unwrap());
    t.contacts = members
        .iter()
        .map(|(ext, phone)| {
            let mut c = contact(phone);
            c.member = Some((*ext).into());
            c
        })
        .collect();
    t
}

#[test]
fn a_hunting_group_asks_for_the_next_stage_when_a_member_does_not_answer_and_the_answerer_owns_the_call()
 {
    let mut h = Harness::new();
    h.receive(CALLER, &invite_text(&sdp(4000, "8", "sendrecv")));
    h.with(|c, env| c.ring(group_stage(&[("1101", PHONE_1)], true), env));
    assert_eq!(h.call().destination(), "group:1100");
    let inv = &h.requests_to(PHONE_1, Method::Invite)[0];
    assert!(
        inv.headers
            .get(&sip_msg::HeaderName::To)
            .unwrap()
            .contains("sip:1101@"),
        "the member's INVITE is addressed to the member"
    );
    h.answer(PHONE_1, 180, None);
    // The member's turn ends: the group's next stage, not its on_timeout.
    h.advance(Duration::from_secs(16));
    assert!(
        h.effects
            .iter()
            .any(|e| matches!(e, Effect::Hunt { busy: false, .. }))
    );
    assert_eq!(h.requests_to(PHONE_1, Method::Cancel).len(), 1);
    assert_eq!(final_status(&h, CALLER), None, "the caller still waits");
    assert!(
        !h.effects.iter().any(|e| matches!(e, Effect::Goto { .. })),
        "on_timeout waits for the last stage"
    );
    // The next member busy: next stage again, flagged busy.
    h.effects.clear();
    h.with(|c, env| c.ring(group_stage(&[("1102", PHONE_2)], true), env));
    h.answer(PHONE_2, 486, None);
    assert!(
        h.effects
            .iter()
            .any(|e| matches!(e, Effect::Hunt { busy: true, .. }))
    );
    // The last stage (two members together): one answers and owns the call.
    h.effects.clear();
    h.with(|c, env| {
        c.ring(
            group_stage(&[("2222", PHONE_3), ("1103", PHONE_4)], false),
            env,
        )
    });
    h.answer(PHONE_4, 200, Some(sdp(6000, "8", "sendrecv")));
    assert_eq!(h.call().state(), CallState::Answered);
    assert_eq!(h.call().destination(), "user:1103");
    assert!(
        h.effects
            .iter()
            .any(|e| matches!(e, Effect::Joined { ext } if ext == "1103"))
    );
}

#[test]
fn the_last_stage_of_a_group_unanswered_follows_the_groups_failover() {
    let mut h = Harness::new();
    h.receive(CALLER, &invite_text(&sdp(4000, "8", "sendrecv")));
    h.with(|c, env| c.ring(group_stage(&[("1101", PHONE_1)], false), env));
    h.advance(Duration::from_secs(16));
    assert!(!h.effects.iter().any(|e| matches!(e, Effect::Hunt { .. })));
    assert!(
        h.effects.iter().any(
            |e| matches!(e, Effect::Goto { dest, .. } if dest.to_string() == "voicemail:2222")
        )
    );
}

#[test]
fn an_outside_group_member_rung_through_a_trunk_next_to_a_user_owns_the_call_when_it_answers() {
    let mut h = Harness::new();
    h.receive(CALLER, &invite_text(&sdp(4000, "8", "sendrecv")));
    let mut stage = group_stage(&[("1101", PHONE_1)], false);
    let mut outside = trunk_target(false).contacts.remove(0);
    outside.target = target(PHONE_2);
    outside.uri = sip_msg::Uri::parse(&format!("sip:89257410726@{PHONE_2}")).unwrap();
    outside.member = Some("external:+79257410726".into());
    stage.contacts.push(outside);
    h.with(|c, env| c.ring(stage, env));
    let inv = &h.requests_to(PHONE_2, Method::Invite)[0];
    assert_eq!(inv.uri.to_string(), format!("sip:89257410726@{PHONE_2}"));
    assert!(
        inv.headers
            .get(&sip_msg::HeaderName::From)
            .unwrap()
            .starts_with("<sip:74952345678@prov.test>"),
        "the trunk's account, not the caller"
    );
    h.answer(PHONE_1, 180, None);
    h.answer(PHONE_2, 200, Some(sdp(6000, "8", "sendrecv")));
    assert_eq!(h.call().state(), CallState::Answered);
    assert_eq!(h.call().destination(), "external:+79257410726");
    assert_eq!(h.requests_to(PHONE_1, Method::Cancel).len(), 1);
    assert!(
        h.effects
            .iter()
            .any(|e| matches!(e, Effect::Joined { ext } if ext == "external:+79257410726"))
    );
}

/// An outside number through a trunk at PHONE_1 (the provider).
fn trunk_target(hunt: bool) -> pbx_call::RingTarget {
    let mut t = user("+79257410726");
    t.external = true;
    t.hunt = hunt;
    t.first_response = Some(Duration::from_secs(5));
    t.ring_timeout = Duration::from_secs(120);
    let mut c = contact(PHONE_1);
    c.uri = sip_msg::Uri::parse(&format!("sip:89257410726@{PHONE_1}")).unwrap();
    c.trunk = Some(Box::new(pbx_call::TrunkFork {
        name: "newoperator".into(),
        from_user: "74952345678".into(),
        from_domain: "prov.test".into(),
        asserted: Some("<sip:+74952216005@prov.test>".into()),
        username: "74952345678".into(),
        password: "trunk-secret".into(),
        codecs: Vec::new(),
    }));
    t.contacts = vec![c];
    t
}

#[test]
fn a_trunk_is_offered_only_its_codecs_with_the_callers_first_when_it_takes_it() {
    for (caller_pt, trunk, want) in [
        // The caller speaks A-law; the trunk takes µ-law then A-law: A-law first.
        (
            "8",
            vec![pbx_sdp::Codec::pcmu(), pbx_sdp::Codec::pcma()],
            vec!["8", "0"],
        ),
        // The trunk takes only µ-law: only µ-law (the relay converts).
        ("8", vec![pbx_sdp::Codec::pcmu()], vec!["0"]),
    ] {
        let mut h = Harness::new();
        h.receive(CALLER, &invite_text(&sdp(4000, caller_pt, "sendrecv")));
        let mut t = trunk_target(false);
        if let Some(tf) = t.contacts[0].trunk.as_deref_mut() {
            tf.codecs = trunk.clone();
        }
        h.with(|c, env| c.ring(t, env));
        let inv = h.requests_to(PHONE_1, Method::Invite)[0].clone();
        let offer = pbx_sdp::parse(&inv.body).unwrap();
        // Payload types of audio codecs (telephone-event is dynamic, 96 and up).
        let names: Vec<&str> = offer.media[0]
            .formats
            .iter()
            .map(String::as_str)
            .filter(|pt| pt.parse::<u8>().is_ok_and(|n| n < 96))
            .collect();
        assert_eq!(names, want, "trunk {trunk:?}");
    }
}

#[test]
fn a_trunk_call_answers_the_providers_challenge_with_the_trunk_account_and_presents_the_caller_id()
{
    let mut h = Harness::new();
    h.receive(CALLER, &invite_text(&sdp(4000, "8", "sendrecv")));
    h.with(|c, env| c.ring(trunk_target(false), env));
    assert_eq!(h.call().destination(), "external:+79257410726");
    let inv = h.requests_to(PHONE_1, Method::Invite)[0].clone();
    assert_eq!(inv.uri.to_string(), format!("sip:89257410726@{PHONE_1}"));
    let from = inv.headers.get(&sip_msg::HeaderName::From).unwrap();
    assert!(
        from.starts_with("<sip:74952345678@prov.test>;tag="),
        "{from}"
    );
    assert_eq!(
        inv.headers
            .get(&sip_msg::HeaderName::Other("P-Asserted-Identity".into())),
        Some("<sip:+74952216005@prov.test>")
    );
    // The provider challenges: the INVITE goes again with the account's credentials.
    let mut r = inv.make_response(sip_msg::StatusCode::new(407).unwrap());
    r.set_to_tag("prov1");
    r.headers.push(
        sip_msg::HeaderName::ProxyAuthenticate,
        r#"Digest realm="prov.test", nonce="n0nce", qop="auth", algorithm=MD5"#,
    );
    h.receive_msg(PHONE_1, sip_msg::Message::Response(r));
    let invites = h.requests_to(PHONE_1, Method::Invite);
    assert_eq!(invites.len(), 2, "one authenticated retry");
    let again = &invites[1];
    assert_eq!(again.headers.cseq().unwrap().seq, 2);
    assert_eq!(again.headers.call_id(), inv.headers.call_id());
    let auth = again
        .headers
        .get(&sip_msg::HeaderName::ProxyAuthorization)
        .unwrap();
    assert!(
        auth.contains(r#"username="74952345678""#) && auth.contains(r#"realm="prov.test""#),
        "{auth}"
    );
    assert_eq!(
        final_status(&h, CALLER),
        None,
        "the caller never saw the challenge"
    );
    // The same challenge again means wrong credentials: after two tries the caller gets 503.
    for n in 0..2 {
        let inv = h
            .requests_to(PHONE_1, Method::Invite)
            .last()
            .unwrap()
            .clone();
        let mut r = inv.make_response(sip_msg::StatusCode::new(407).unwrap());
        r.set_to_tag(&format!("prov{n}"));
        r.headers.push(
            sip_msg::HeaderName::ProxyAuthenticate,
            r#"Digest realm="prov.test", nonce="n0nce2", qop="auth", algorithm=MD5"#,
        );
        h.receive_msg(PHONE_1, sip_msg::Message::Response(r));
    }
    assert_eq!(h.requests_to(PHONE_1, Method::Invite).len(), 3);
    assert_eq!(final_status(&h, CALLER), Some(503));
}

#[test]
fn a_silent_or_failing_trunk_hands_over_to_the_next_and_a_refusal_reaches_the_caller() {
    // No response at all within failover_timeout: the next trunk.
    let mut h = Harness::new();
    h.receive(CALLER, &invite_text(&sdp(4000, "8", "sendrecv")));
    h.with(|c, env| c.ring(trunk_target(true), env));
    h.advance(Duration::from_millis(5100));
    assert!(h.effects.iter().any(|e| matches!(e, Effect::Hunt { .. })));
    assert_eq!(final_status(&h, CALLER), None);
    // A 503 from the provider: the next trunk too.
    let mut h = Harness::new();
    h.receive(CALLER, &invite_text(&sdp(4000, "8", "sendrecv")));
    h.with(|c, env| c.ring(trunk_target(true), env));
    h.answer(PHONE_1, 503, None);
    assert!(h.effects.iter().any(|e| matches!(e, Effect::Hunt { .. })));
    // A 404 (no such number) is the callee's answer, not the trunk's failure.
    let mut h = Harness::new();
    h.receive(CALLER, &invite_text(&sdp(4000, "8", "sendrecv")));
    h.with(|c, env| c.ring(trunk_target(true), env));
    h.answer(PHONE_1, 404, None);
    assert!(!h.effects.iter().any(|e| matches!(e, Effect::Hunt { .. })));
    assert_eq!(final_status(&h, CALLER), Some(404));
    // A trunk that answered 100 Trying is alive: no failover at failover_timeout.
    let mut h = Harness::new();
    h.receive(CALLER, &invite_text(&sdp(4000, "8", "sendrecv")));
    h.with(|c, env| c.ring(trunk_target(true), env));
    h.answer(PHONE_1, 100, None);
    h.advance(Duration::from_millis(5100));
    assert!(!h.effects.iter().any(|e| matches!(e, Effect::Hunt { .. })));
    h.answer(PHONE_1, 486, None);
    assert_eq!(final_status(&h, CALLER), Some(486));
}

#[test]
fn cancel_before_answer_gives_487_and_a_cancelled_record() {
    let mut h = Harness::new();
    h.start(&[PHONE_1]);
    h.answer(PHONE_1, 180, None);
    h.receive(
        CALLER,
        &format!(
            "CANCEL sip:1002@t.test SIP/2.0\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKcaller1;rport\nMax-Forwards: 70\n\
             From: \"Alice\" <sip:1001@t.test>;tag=alice1\nTo: <sip:1002@t.test>\nCall-ID: call-1@caller\nCSeq: 2 CANCEL\nContent-Length: 0\n\n"
        ),
    );
    assert_eq!(final_status(&h, CALLER), Some(487));
    assert_eq!(h.requests_to(PHONE_1, Method::Cancel).len(), 1);
    assert_eq!(h.records[0].disposition, Disposition::Cancelled);
    assert_eq!(h.records[0].hangup_by, HangupBy::Caller);
}

#[test]
fn a_late_second_answer_gets_ack_and_bye() {
    let mut h = Harness::new();
    h.start(&[PHONE_1, PHONE_2]);
    h.answer(PHONE_1, 200, Some(sdp(6000, "8", "sendrecv")));
    h.answer(PHONE_2, 200, Some(sdp(6002, "8", "sendrecv")));
    assert_eq!(h.requests_to(PHONE_2, Method::Ack).len(), 1);
    assert_eq!(h.requests_to(PHONE_2, Method::Bye).len(), 1);
    assert_eq!(h.call().state(), CallState::Answered);
}

#[test]
fn transcoding_is_left_to_the_relay_when_the_legs_chose_different_codecs() {
    let mut h = Harness::new();
    h.receive(CALLER, &invite_text(&sdp(4000, "8", "sendrecv")));
    let mut t = user("1002");
    t.contacts = vec![contact(PHONE_1)];
    h.with(|c, env| c.ring(t, env));
    h.answer(PHONE_1, 200, Some(sdp(6000, "0", "sendrecv")));
    let names: Vec<(u64, String)> = h
        .media
        .configured
        .iter()
        .map(|(l, s)| (*l, s.negotiated.codec.name.to_ascii_uppercase()))
        .collect();
    assert!(names.contains(&(1, "PCMA".into())), "{names:?}");
    assert!(names.contains(&(2, "PCMU".into())), "{names:?}");
    assert_eq!(h.media.connected.last(), Some(&(1, 2)));
}

#[test]
fn hold_from_the_caller_is_passed_to_the_callee_as_intent() {
    let mut h = Harness::new();
    h.start(&[PHONE_1]);
    h.answer(PHONE_1, 200, Some(sdp(6000, "8", "sendrecv")));
    let ok = h
        .responses_to(CALLER)
        .into_iter()
        .find(|r| r.status.as_u16() == 200)
        .unwrap();
    let tag = ok.headers.to_tag().unwrap().to_owned();
    h.take_sent();
    let body = sdp(4000, "8", "sendonly").replace("o=- 1 1", "o=- 1 2");
    h.receive(
        CALLER,
        &format!(
            "INVITE sip:vpbx@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKre1\nMax-Forwards: 70\n\
             From: <sip:1001@t.test>;tag=alice1\nTo: <sip:1002@t.test>;tag={tag}\nCall-ID: call-1@caller\nCSeq: 3 INVITE\n\
             Contact: <sip:1001@{CALLER}>\nContent-Type: application/sdp\nContent-Length: {}\n\n{}",
            body.replace('\n', "\r\n").len(),
            body
        ),
    );
    let r = h
        .responses_to(CALLER)
        .into_iter()
        .find(|r| r.status.as_u16() == 200)
        .unwrap();
    assert!(String::from_utf8_lossy(&r.body).contains("a=recvonly"));
    let re = h.requests_to(PHONE_1, Method::Invite);
    assert_eq!(re.len(), 1, "the callee gets a re-INVITE");
    let offer = String::from_utf8_lossy(&re[0].body).to_string();
    assert!(offer.contains("a=sendonly"), "{offer}");
    assert_eq!(re[0].headers.to_tag(), Some("tag5081"));
    assert!(h.call().on_hold());
    // The held legs use the hold timeout.
    assert!(h.media.configured.iter().any(|(_, s)| s.on_hold));
}

#[test]
fn rtp_timeout_ends_an_answered_call_with_bye_on_both_legs() {
    let mut h = Harness::new();
    h.start(&[PHONE_1]);
    h.answer(PHONE_1, 200, Some(sdp(6000, "8", "sendrecv")));
    h.with(|c, env| c.on_media_timeout(MediaLeg(2), env));
    assert_eq!(h.requests_to(PHONE_1, Method::Bye).len(), 1);
    assert_eq!(h.requests_to(CALLER, Method::Bye).len(), 1);
    assert_eq!(h.records[0].hangup_reason, "rtp_timeout");
    assert_eq!(h.records[0].hangup_by, HangupBy::System);
}

#[test]
fn a_caller_without_media_ports_gets_503() {
    let mut h = Harness::new();
    h.media.exhausted = true;
    h.receive(CALLER, &invite_text(&sdp(4000, "8", "sendrecv")));
    assert_eq!(final_status(&h, CALLER), Some(503));
}

#[test]
fn an_offer_without_a_common_codec_gets_488() {
    let mut h = Harness::new();
    let body = "v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 4000 RTP/AVP 18\na=rtpmap:18 G729/8000\n";
    h.receive(CALLER, &invite_text(body));
    assert_eq!(final_status(&h, CALLER), Some(488));
}

#[test]
fn max_forwards_zero_is_too_many_hops() {
    let mut h = Harness::new();
    h.receive(
        CALLER,
        &invite_text(&sdp(4000, "8", "sendrecv")).replace("Max-Forwards: 70", "Max-Forwards: 0"),
    );
    assert_eq!(final_status(&h, CALLER), Some(483));
}

#[test]
fn a_delayed_offer_is_answered_in_the_ack() {
    let mut h = Harness::new();
    let inv = invite_text("").replace("Content-Type: application/sdp\n", "");
    h.receive(CALLER, &inv);
    let mut t = user("1002");
    t.contacts = vec![contact(PHONE_1)];
    h.with(|c, env| c.ring(t, env));
    h.answer(PHONE_1, 200, Some(sdp(6000, "0", "sendrecv")));
    let ok = h
        .responses_to(CALLER)
        .into_iter()
        .find(|r| r.status.as_u16() == 200)
        .unwrap();
    let offer = String::from_utf8_lossy(&ok.body).to_string();
    assert!(
        offer.contains("m=audio"),
        "the 200 carries our offer: {offer}"
    );
    let tag = ok.headers.to_tag().unwrap().to_owned();
    let body = sdp(4000, "8", "sendrecv");
    h.receive(CALLER, &ack_from_caller(&tag, &body));
    assert!(
        h.media
            .configured
            .iter()
            .any(|(l, s)| *l == 1 && s.negotiated.codec.name.eq_ignore_ascii_case("PCMA"))
    );
    assert_eq!(h.media.connected.last(), Some(&(1, 2)));
}

const PHONE_3: &str = "127.0.0.1:5083";

/// Answers the call at PHONE_1 and returns our tag towards the caller.
fn answered(h: &mut Harness) -> String {
    h.answer(PHONE_1, 200, Some(sdp(6000, "8", "sendrecv")));
    let ok = h
        .responses_to(CALLER)
        .into_iter()
        .find(|r| r.status.as_u16() == 200)
        .unwrap();
    ok.headers.to_tag().unwrap().to_owned()
}

fn in_dialog_from_callee(method: &str, cseq: u32, extra: &str, body: &str) -> String {
    format!(
        "{method} sip:vpbx@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP {PHONE_1};branch=z9hG4bKb{cseq}\nMax-Forwards: 70\n\
         From: <sip:1002@t.test>;tag=tag5081\nTo: \"Alice\" <sip:1001@t.test>;tag=TAG\nCall-ID: CID\nCSeq: {cseq} {method}\n\
         Contact: <sip:1002@{PHONE_1}>\n{extra}Content-Length: {}\n\n{body}",
        body.replace('\n', "\r\n").len()
    )
}

/// The callee's in-dialog request: To tag and Call-ID of the fork's dialog.
fn from_callee(h: &Harness, method: &str, cseq: u32, extra: &str, body: &str) -> String {
    let inv = &h.requests_to(PHONE_1, Method::Invite)[0];
    let tag = inv.headers.from_tag().unwrap().to_owned();
    let cid = inv.headers.call_id().unwrap().to_owned();
    in_dialog_from_callee(method, cseq, extra, body)
        .replace("TAG", &tag)
        .replace("CID", &cid)
}

#[test]
fn a_blind_transfer_by_the_callee_rings_the_target_and_bridges_the_caller_to_it() {
    let mut h = Harness::new();
    h.start(&[PHONE_1]);
    answered(&mut h);
    let refer = from_callee(
        &h,
        "REFER",
        5,
        "Refer-To: <sip:1003@t.test>\nReferred-By: <sip:1002@t.test>\n",
        "",
    );
    h.receive(PHONE_1, &refer);
    assert!(
        h.responses_to(PHONE_1)
            .iter()
            .any(|r| r.status.as_u16() == 202)
    );
    let notify = h.requests_to(PHONE_1, Method::Notify);
    assert_eq!(notify.len(), 1);
    assert!(String::from_utf8_lossy(&notify[0].body).starts_with("SIP/2.0 100"));
    assert!(
        h.effects
            .iter()
            .any(|e| matches!(e, Effect::Transfer { ext } if ext == "1003"))
    );
    let mut t = user("1003");
    t.contacts = vec![contact(PHONE_3)];
    h.with(|c, env| c.ring(t, env));
    assert_eq!(h.requests_to(PHONE_3, Method::Invite).len(), 1);
    h.answer(PHONE_3, 200, Some(sdp(6004, "8", "sendrecv")));
    // The caller's leg (1) is bridged to the target's (3); the transferor is told and let go.
    assert_eq!(h.media.connected.last(), Some(&(1, 3)));
    let notify = h.requests_to(PHONE_1, Method::Notify);
    assert!(String::from_utf8_lossy(&notify.last().unwrap().body).starts_with("SIP/2.0 200"));
    assert_eq!(h.requests_to(PHONE_1, Method::Bye).len(), 1);
    assert_eq!(h.call().destination(), "user:1003");
    assert_eq!(h.call().state(), CallState::Answered);
    assert!(
        h.effects
            .iter()
            .any(|e| matches!(e, Effect::Left { ext } if ext == "1002"))
    );
}

#[test]
fn a_failed_blind_transfer_gives_the_transferor_its_call_back() {
    let mut h = Harness::new();
    h.start(&[PHONE_1]);
    answered(&mut h);
    let refer = from_callee(&h, "REFER", 5, "Refer-To: <sip:1003@t.test>\n", "");
    h.receive(PHONE_1, &refer);
    let mut t = user("1003");
    t.contacts = vec![contact(PHONE_3)];
    h.with(|c, env| c.ring(t, env));
    h.answer(PHONE_3, 486, None);
    let notify = h.requests_to(PHONE_1, Method::Notify);
    assert!(String::from_utf8_lossy(&notify.last().unwrap().body).starts_with("SIP/2.0 486"));
    assert_eq!(h.requests_to(PHONE_1, Method::Bye).len(), 0);
    assert_eq!(
        h.media.connected.last(),
        Some(&(1, 2)),
        "caller and transferor bridged again"
    );
    assert_eq!(h.call().state(), CallState::Answered);
}

#[test]
fn sip_info_dtmf_reaches_the_other_leg_as_rfc_4733() {
    let mut h = Harness::new();
    h.start(&[PHONE_1]);
    answered(&mut h);
    let info = from_callee(
        &h,
        "INFO",
        6,
        "Content-Type: application/dtmf-relay\n",
        "Signal=5\nDuration=160\n",
    );
    h.receive(PHONE_1, &info);
    assert!(
        h.responses_to(PHONE_1)
            .iter()
            .any(|r| r.status.as_u16() == 200 && r.headers.cseq().unwrap().method == Method::Info)
    );
    assert_eq!(
        h.media.digits,
        vec![(1, '5')],
        "sent on the caller's relay leg"
    );
}

#[test]
fn session_timers_let_the_caller_refresh_and_end_a_session_it_stops_refreshing() {
    let mut h = Harness::new();
    let inv = invite_text(&sdp(4000, "8", "sendrecv")).replace(
        "Max-Forwards: 70\n",
        "Max-Forwards: 70\nSupported: timer, 100rel\nSession-Expires: 120\n",
    );
    h.receive(CALLER, &inv);
    let mut t = user("1002");
    t.contacts = vec![contact(PHONE_1)];
    h.with(|c, env| c.ring(t, env));
    h.answer(PHONE_1, 200, Some(sdp(6000, "8", "sendrecv")));
    let ok = h
        .responses_to(CALLER)
        .into_iter()
        .find(|r| r.status.as_u16() == 200)
        .unwrap();
    let se = sip_msg::HeaderName::parse("Session-Expires").unwrap();
    assert_eq!(ok.headers.get(&se), Some("120;refresher=uac"));
    assert_eq!(ok.headers.get(&sip_msg::HeaderName::Require), Some("timer"));
    let tag = ok.headers.to_tag().unwrap().to_owned();
    h.receive(CALLER, &ack_from_caller(&tag, ""));
    h.advance(Duration::from_secs(60));
    assert_eq!(
        h.requests_to(PHONE_1, Method::Bye).len(),
        0,
        "still within the interval"
    );
    // No refresh: the session ends before it expires (120 - 32 s).
    h.advance(Duration::from_secs(29));
    assert_eq!(h.requests_to(PHONE_1, Method::Bye).len(), 1);
    assert_eq!(h.records[0].hangup_reason, "session_timeout");
}

#[test]
fn a_too_short_session_interval_is_refused_with_422_and_min_se() {
    let mut h = Harness::new();
    let inv = invite_text(&sdp(4000, "8", "sendrecv")).replace(
        "Max-Forwards: 70\n",
        "Max-Forwards: 70\nSupported: timer\nSession-Expires: 30\n",
    );
    h.receive(CALLER, &inv);
    let r = h
        .responses_to(CALLER)
        .into_iter()
        .find(|r| r.status.as_u16() >= 400)
        .unwrap();
    assert_eq!(r.status.as_u16(), 422);
    assert_eq!(
        r.headers
            .get(&sip_msg::HeaderName::parse("Min-SE").unwrap()),
        Some("90")
    );
}

#[test]
fn a_caller_requiring_100rel_gets_reliable_provisionals() {
    let mut h = Harness::new();
    let inv = invite_text(&sdp(4000, "8", "sendrecv"))
        .replace("Max-Forwards: 70\n", "Max-Forwards: 70\nRequire: 100rel\n");
    h.receive(CALLER, &inv);
    let mut t = user("1002");
    t.contacts = vec![contact(PHONE_1)];
    h.with(|c, env| c.ring(t, env));
    h.answer(PHONE_1, 180, None);
    let ringing = h
        .responses_to(CALLER)
        .into_iter()
        .find(|r| r.status.as_u16() == 180)
        .unwrap();
    assert!(ringing.headers.get(&sip_msg::HeaderName::RSeq).is_some());
    assert_eq!(
        ringing.headers.get(&sip_msg::HeaderName::Require),
        Some("100rel")
    );
}

#[test]
fn the_blind_transfer_feature_code_hands_the_other_party_to_the_dialled_extension() {
    let mut h = Harness::new();
    h.start(&[PHONE_1]);
    answered(&mut h);
    assert!(h.media.watched.contains(&1) && h.media.watched.contains(&2));
    // The callee (relay leg 2) dials ## 1 0 0 3 and pauses.
    for d in "5##1003".chars() {
        h.with(|c, env| c.on_digit(MediaLeg(2), d, env));
    }
    assert!(
        !h.effects
            .iter()
            .any(|e| matches!(e, Effect::Transfer { .. })),
        "waits for # or a pause"
    );
    h.advance(Duration::from_secs(4));
    assert!(
        h.effects
            .iter()
            .any(|e| matches!(e, Effect::Transfer { ext } if ext == "1003"))
    );
    assert_eq!(
        h.requests_to(PHONE_1, Method::Bye).len(),
        1,
        "the transferor leaves"
    );
    let mut t = user("1003");
    t.contacts = vec![contact(PHONE_3)];
    h.with(|c, env| c.ring(t, env));
    h.answer(PHONE_3, 200, Some(sdp(6004, "8", "sendrecv")));
    assert_eq!(h.media.connected.last(), Some(&(1, 3)));
    assert_eq!(h.call().destination(), "user:1003");
}

#[test]
fn the_attended_feature_code_consults_the_target_then_hands_the_held_party_over() {
    let mut h = Harness::new();
    h.start(&[PHONE_1]);
    answered(&mut h);
    // The callee (relay leg 2) dials *2 1003 #: the caller is held, the callee rings 1003.
    for d in "*21003#".chars() {
        h.with(|c, env| c.on_digit(MediaLeg(2), d, env));
    }
    assert!(
        h.effects
            .iter()
            .any(|e| matches!(e, Effect::Transfer { ext } if ext == "1003"))
    );
    let hold = h.requests_to(CALLER, Method::Invite);
    assert_eq!(hold.len(), 1, "the caller gets a hold re-INVITE");
    assert!(String::from_utf8_lossy(&hold[0].body).contains("a=sendonly"));
    let mut t = user("1003");
    t.contacts = vec![contact(PHONE_3)];
    h.with(|c, env| c.ring(t, env));
    h.answer(PHONE_3, 200, Some(sdp(6004, "8", "sendrecv")));
    assert_eq!(
        h.media.connected.last(),
        Some(&(2, 3)),
        "dialler and target talk: {:?} {:?}",
        h.media.connected,
        h.responses_to(PHONE_3).len()
    );
    assert_eq!(h.requests_to(PHONE_1, Method::Bye).len(), 0);
    // The dialler hangs up: the caller is connected to the target and resumed.
    let bye = from_callee(&h, "BYE", 7, "", "");
    h.receive(PHONE_1, &bye);
    assert_eq!(h.media.connected.last(), Some(&(1, 3)));
    assert_eq!(h.call().state(), CallState::Answered);
    assert_eq!(h.call().destination(), "user:1003");
    assert!(h.records.is_empty(), "the call goes on");
}

#[test]
fn a_blind_transfer_by_the_caller_keeps_the_callee_and_its_media() {
    let mut h = Harness::new();
    h.start(&[PHONE_1]);
    let tag = answered(&mut h);
    let refer = format!(
        "REFER sip:vpbx@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKref1\nMax-Forwards: 70\n\
         From: <sip:1001@t.test>;tag=alice1\nTo: <sip:1002@t.test>;tag={tag}\nCall-ID: call-1@caller\nCSeq: 3 REFER\n\
         Contact: <sip:1001@{CALLER}>\nRefer-To: <sip:1003@t.test>\nContent-Length: 0\n\n"
    );
    h.receive(CALLER, &refer);
    assert!(
        h.responses_to(CALLER)
            .iter()
            .any(|r| r.status.as_u16() == 202)
    );
    let mut t = user("1003");
    t.contacts = vec![contact(PHONE_3)];
    h.with(|c, env| c.ring(t, env));
    h.answer(PHONE_3, 200, Some(sdp(6004, "8", "sendrecv")));
    // The callee's leg (2) stays and is bridged to the target's (3); the caller is let go.
    assert_eq!(h.media.connected.last(), Some(&(2, 3)));
    assert!(!h.media.released.contains(&2));
    assert_eq!(h.requests_to(CALLER, Method::Bye).len(), 1);
}
