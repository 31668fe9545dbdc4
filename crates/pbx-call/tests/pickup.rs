//! Call pickup (`*8`, `**EXT`): a colleague's INVITE becomes the answered
//! party of a ringing call.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use pbx_call::{CallState, Disposition, Effect, Inbound};
use sip_msg::{Message, Method, StatusCode};
use sip_txn::{Event, Output};
use support::*;

const PICKER: &str = "127.0.0.1:5093";

fn picker_invite(body: &str) -> String {
    let ct = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\n"
    };
    format!(
        "INVITE sip:*8@t.test SIP/2.0\n\
         Via: SIP/2.0/UDP {PICKER};branch=z9hG4bKpick1;rport\n\
         Max-Forwards: 70\n\
         From: \"Carol\" <sip:1003@t.test>;tag=carol1\n\
         To: <sip:*8@t.test>\n\
         Call-ID: pick-1@carol\n\
         CSeq: 1 INVITE\n\
         Contact: <sip:1003@{PICKER}>\n\
         {ct}Content-Length: {}\n\n{}",
        body.replace('\n', "\r\n").len(),
        body
    )
}

/// Feeds the picker's INVITE to the endpoint and returns it as the shard
/// hands it to [`pbx_call::Call::pickup`] (transmissions are kept).
fn picker_inbound(h: &mut Harness, body: &str) -> Inbound {
    h.ep.handle_message(h.now, target(PICKER), parse(&picker_invite(body)));
    let mut inbound = None;
    loop {
        match h.ep.poll_output() {
            Output::Transmit(t) => {
                let m = sip_msg::parse_datagram(&t.data, &sip_msg::Limits::default()).unwrap();
                h.sent.push((t.target.addr, m));
            }
            Output::Event(Event::NewRequest {
                key,
                request,
                source,
                ..
            }) => {
                inbound = Some(Inbound {
                    key,
                    invite: request,
                    source,
                    local: local(),
                });
            }
            Output::Event(_) => {}
            Output::Timeout(_) | Output::Idle => break,
        }
    }
    inbound.unwrap()
}

fn pick(h: &mut Harness, inb: Inbound) -> Result<(), StatusCode> {
    let mut out = Ok(());
    h.with(|c, env| out = c.pickup(inb, "1003", env));
    out
}

fn oks_to_picker(h: &Harness) -> Vec<sip_msg::Response> {
    h.responses_to(PICKER)
        .into_iter()
        .filter(|r| r.status.as_u16() == 200)
        .collect()
}

fn from_picker(tag: &str, method: &str, cseq: u32) -> String {
    format!(
        "{method} sip:vpbx@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP {PICKER};branch=z9hG4bKp{method}{cseq}\nMax-Forwards: 70\n\
         From: <sip:1003@t.test>;tag=carol1\nTo: <sip:*8@t.test>;tag={tag}\nCall-ID: pick-1@carol\nCSeq: {cseq} {method}\n\
         Content-Length: 0\n\n"
    )
}

#[test]
fn a_picker_answers_a_ringing_call_the_rung_phones_are_cancelled_and_the_caller_is_bridged_with_the_picker()
 {
    let mut h = Harness::new();
    h.start(&[PHONE_1, PHONE_2]);
    h.answer(PHONE_1, 180, None);
    h.answer(PHONE_2, 180, None);
    assert_eq!(h.call().ringing_users(), vec!["1002"]);

    let inb = picker_inbound(&mut h, &sdp(7000, "0 8", "sendrecv"));
    assert_eq!(pick(&mut h, inb), Ok(()));

    assert_eq!(h.call().state(), CallState::Answered);
    assert_eq!(h.call().destination(), "user:1003");
    assert!(h.call().ringing_users().is_empty());
    assert!(
        h.effects
            .iter()
            .any(|e| matches!(e, Effect::Joined { ext } if ext == "1003")),
        "the picker counts as in the call"
    );
    assert!(
        h.effects.iter().any(
            |e| matches!(e, Effect::Answered { destination, .. } if destination == "user:1003")
        )
    );
    // Both rung phones stop ringing.
    assert_eq!(h.requests_to(PHONE_1, Method::Cancel).len(), 1);
    assert_eq!(h.requests_to(PHONE_2, Method::Cancel).len(), 1);
    // The picker gets a 200 with our answer to its offer (its first codec we speak).
    let ok = &oks_to_picker(&h)[0];
    let pick_tag = ok.headers.to_tag().unwrap().to_owned();
    let answer = String::from_utf8_lossy(&ok.body).to_string();
    assert!(answer.contains("RTP/AVP 0 101"), "{answer}");
    // The caller is answered and bridged with the picker's relay leg.
    assert_eq!(h.oks_to_caller().len(), 1);
    let picker_leg = *h.media.allocated.last().unwrap();
    assert_eq!(h.media.connected.last(), Some(&(1, picker_leg)));
    assert!(
        h.media
            .configured
            .iter()
            .any(|(leg, s)| *leg == picker_leg
                && s.negotiated.remote.map(|a| a.port()) == Some(7000)),
        "the relay sends to the picker's port"
    );

    // The 200 goes again until the picker's ACK.
    h.advance(Duration::from_millis(600));
    assert_eq!(oks_to_picker(&h).len(), 2, "2xx retransmitted");
    h.receive(PICKER, &from_picker(&pick_tag, "ACK", 1));
    h.advance(Duration::from_secs(4));
    assert_eq!(oks_to_picker(&h).len(), 2, "no more after the ACK");
    h.ack();

    // The picker hangs up: the caller gets BYE, the record names the picker.
    h.receive(PICKER, &from_picker(&pick_tag, "BYE", 2));
    assert_eq!(
        h.responses_to(PICKER).last().map(|r| r.status.as_u16()),
        Some(200)
    );
    assert_eq!(h.requests_to(CALLER, Method::Bye).len(), 1);
    let rec = h.records.last().unwrap();
    assert_eq!(rec.destination, "user:1003");
    assert_eq!(rec.disposition, Disposition::Answered);
    assert!(rec.answer_ms.is_some());
}

#[test]
fn the_caller_hanging_up_after_a_pickup_sends_bye_to_the_picker() {
    let mut h = Harness::new();
    h.start(&[PHONE_1]);
    let inb = picker_inbound(&mut h, &sdp(7000, "8", "sendrecv"));
    pick(&mut h, inb).unwrap();
    let pick_tag = oks_to_picker(&h)[0].headers.to_tag().unwrap().to_owned();
    h.receive(PICKER, &from_picker(&pick_tag, "ACK", 1));
    h.ack();
    let tag = h.caller_tag();
    h.receive(CALLER, &from_caller(&tag, "BYE", 3, "", ""));
    let bye = h.requests_to(PICKER, Method::Bye);
    assert_eq!(bye.len(), 1);
    assert_eq!(bye[0].headers.call_id(), Some("pick-1@carol"));
    assert_eq!(
        bye[0].headers.from().unwrap().tag(),
        Some(pick_tag.as_str())
    );
}

#[test]
fn a_picker_without_an_offer_gets_ours_and_answers_in_the_ack() {
    let mut h = Harness::new();
    h.start(&[PHONE_1]);
    let inb = picker_inbound(&mut h, "");
    pick(&mut h, inb).unwrap();
    let ok = &oks_to_picker(&h)[0];
    assert!(String::from_utf8_lossy(&ok.body).contains("m=audio 3"));
    let tag = ok.headers.to_tag().unwrap().to_owned();
    let picker_leg = *h.media.allocated.last().unwrap();
    assert!(!h.media.configured.iter().any(|(l, _)| *l == picker_leg));
    let ack = from_picker(&tag, "ACK", 1).replace(
        "Content-Length: 0\n\n",
        &format!(
            "Content-Type: application/sdp\nContent-Length: {}\n\n{}",
            sdp(7100, "8", "sendrecv").replace('\n', "\r\n").len(),
            sdp(7100, "8", "sendrecv")
        ),
    );
    h.receive(PICKER, &ack);
    assert!(
        h.media
            .configured
            .iter()
            .any(|(l, s)| *l == picker_leg && s.negotiated.remote.map(|a| a.port()) == Some(7100))
    );
}

#[test]
fn an_answered_call_cannot_be_picked_up_and_is_left_alone() {
    let mut h = Harness::new();
    h.start(&[PHONE_1]);
    h.answer(PHONE_1, 200, Some(sdp(6000, "8", "sendrecv")));
    assert!(h.call().ringing_users().is_empty());
    let before = h.sent.len();
    let inb = picker_inbound(&mut h, &sdp(7000, "8", "sendrecv"));
    assert_eq!(pick(&mut h, inb), Err(StatusCode::TEMPORARILY_UNAVAILABLE));
    assert_eq!(h.call().destination(), "user:1002");
    assert!(
        h.sent[before..].iter().all(|(a, m)| !(*a == addr(PICKER)
            && matches!(m, Message::Response(r) if r.status.as_u16() >= 200))),
        "the final status is the shard's to send"
    );
}

#[test]
fn a_picker_offering_nothing_we_speak_gets_488_and_the_call_rings_on() {
    let mut h = Harness::new();
    h.start(&[PHONE_1]);
    let inb = picker_inbound(&mut h, &sdp(7000, "3", "sendrecv"));
    assert_eq!(pick(&mut h, inb), Err(StatusCode::NOT_ACCEPTABLE_HERE));
    assert_eq!(h.call().state(), CallState::Ringing);
    assert_eq!(h.call().ringing_users(), vec!["1002"]);
    assert!(h.requests_to(PHONE_1, Method::Cancel).is_empty());
    let picker_leg = *h.media.allocated.last().unwrap();
    assert!(
        h.media.released.contains(&picker_leg),
        "its port pair is freed"
    );
}

#[test]
fn a_group_stage_rings_its_members_and_a_pickup_ends_the_group_walk() {
    let mut h = Harness::new();
    h.receive(CALLER, &invite_text(&sdp(4000, "8", "sendrecv")));
    let mut t = user("1100");
    t.group = true;
    t.hunt = true;
    t.contacts = [("1101", PHONE_1), ("1102", PHONE_2)]
        .iter()
        .map(|(ext, phone)| {
            let mut c = contact(phone);
            c.member = Some((*ext).into());
            c
        })
        .collect();
    h.with(|c, env| c.ring(t, env));
    assert_eq!(h.call().ringing_users(), vec!["1101", "1102"]);
    // One member declines: only the other still rings.
    h.answer(PHONE_1, 486, None);
    assert_eq!(h.call().ringing_users(), vec!["1102"]);
    let inb = picker_inbound(&mut h, &sdp(7000, "8", "sendrecv"));
    pick(&mut h, inb).unwrap();
    assert_eq!(h.call().destination(), "user:1003");
    // The stage's ring timer passing later asks for no next stage.
    h.advance(Duration::from_secs(30));
    assert!(!h.effects.iter().any(|e| matches!(e, Effect::Hunt { .. })));
    assert_eq!(h.call().state(), CallState::Answered);
}
