#![allow(clippy::unwrap_used)]
mod sim;

use sim::{Sim, answer, ms, quiet, request};
use sip_msg::{Method, Response, StatusCode};
use sip_txn::{Dialog, Event, RAck, Related, RseqCheck, is_reliable_provisional, rseq_of};

fn uas_with_100rel(sim: &mut Sim, b: usize) {
    let contact = sim.addr(b);
    sim.on_event(b, move |ep, now, e| {
        let Event::NewRequest { key, request, .. } = e else {
            return;
        };
        match request.method {
            Method::Invite => {
                ep.send_reliable_provisional(now, *key, answer(contact, request, 183, "b1"))
                    .unwrap();
            }
            Method::Prack => ep
                .send_response(now, *key, request.make_response(StatusCode::OK))
                .unwrap(),
            _ => {}
        }
    });
}

fn provisionals(sim: &Sim, a: usize) -> Vec<Response> {
    sim.responses(a)
        .into_iter()
        .map(|(_, r)| r)
        .filter(|r| r.status.as_u16() == 183)
        .collect()
}

#[test]
fn reliable_183_is_retransmitted_doubling_from_t1_until_the_prack_arrives() {
    let mut sim = Sim::new(41);
    let a = sim.add_node(quiet());
    let b = sim.add_node(quiet());
    uas_with_100rel(&mut sim, b);
    let invite = request(&mut sim, a, b, "INVITE", "call-rel", 1);
    let ikey = sim.send(a, b, invite.clone());
    sim.run_for(ms(5_000));
    assert_eq!(sim.response_offsets_ms(b, 183), [10, 510, 1510, 3510]);
    let got = provisionals(&sim, a);
    assert!(got.iter().all(is_reliable_provisional));
    // The UAC checks RSeq: the first is new, the rest are retransmissions.
    let mut dialog = Dialog::uac(&invite, &got[0]).unwrap();
    let checks: Vec<RseqCheck> = got.iter().map(|r| dialog.check_rseq(r).unwrap()).collect();
    assert_eq!(
        checks,
        [
            RseqCheck::New,
            RseqCheck::Retransmission,
            RseqCheck::Retransmission,
            RseqCheck::Retransmission
        ]
    );
    // PRACK at 5000 ms (RFC 3262 §7.2: RAck = RSeq, CSeq number, method).
    let a_addr = sim.addr(a);
    let prack = sim.with(a, |ep, _| {
        let via = format!("SIP/2.0/UDP {a_addr};branch={}", ep.new_branch());
        dialog.prack(&got[0], &via).unwrap()
    });
    let rack = RAck::of(&prack).unwrap();
    assert_eq!(
        (rack.rseq, rack.cseq, rack.method.clone()),
        (rseq_of(&got[0]).unwrap(), 1, Method::Invite)
    );
    sim.send(a, b, prack);
    sim.run_for(ms(30_000));
    assert_eq!(
        sim.response_offsets_ms(b, 183),
        [10, 510, 1510, 3510],
        "no 183 at 7510: the PRACK stopped it"
    );
    let matched = sim.events(b).iter().any(|e| {
        matches!(e,
        Event::NewRequest { related: Related::Pracks { rseq, .. }, .. } if *rseq == rack.rseq)
    });
    assert!(matched);
    assert!(
        !sim.events(b)
            .iter()
            .any(|e| matches!(e, Event::ReliableProvisionalTimedOut { .. }))
    );
    assert!(sim.events(a).iter().any(|e| matches!(e, Event::Response { response, .. }
        if response.headers.cseq().unwrap().method == Method::Prack && response.status.is_success())));
    assert!(
        sim.nodes[a].ep.state(ikey).is_some(),
        "the INVITE is still proceeding"
    );
}

#[test]
fn reliable_183_without_prack_gives_up_at_64_t1() {
    let mut sim = Sim::new(41);
    let a = sim.add_node(quiet());
    let b = sim.add_node(quiet());
    uas_with_100rel(&mut sim, b);
    let invite = request(&mut sim, a, b, "INVITE", "call-rel2", 1);
    sim.send(a, b, invite);
    sim.run_for(ms(40_000));
    assert_eq!(
        sim.response_offsets_ms(b, 183),
        [10, 510, 1510, 3510, 7510, 15510, 31510]
    );
    let gave_up = sim.event_offsets_ms(b, |e| {
        matches!(e, Event::ReliableProvisionalTimedOut { .. })
    });
    assert_eq!(gave_up, [32_010]);
}

#[test]
fn a_prack_for_an_unknown_rseq_is_not_matched() {
    let mut sim = Sim::new(41);
    let a = sim.add_node(quiet());
    let b = sim.add_node(quiet());
    uas_with_100rel(&mut sim, b);
    let invite = request(&mut sim, a, b, "INVITE", "call-rel3", 1);
    sim.send(a, b, invite.clone());
    sim.run_for(ms(100));
    let first = provisionals(&sim, a)[0].clone();
    let mut wrong = first.clone();
    wrong.headers.set(
        sip_msg::HeaderName::RSeq,
        (rseq_of(&first).unwrap() + 7).to_string(),
    );
    let mut dialog = Dialog::uac(&invite, &first).unwrap();
    let a_addr = sim.addr(a);
    let prack = sim.with(a, |ep, _| {
        dialog
            .prack(
                &wrong,
                &format!("SIP/2.0/UDP {a_addr};branch={}", ep.new_branch()),
            )
            .unwrap()
    });
    sim.send(a, b, prack);
    sim.run_for(ms(1_000));
    let unmatched = sim.events(b).iter().any(|e| matches!(e,
        Event::NewRequest { request, related: Related::None, .. } if request.method == Method::Prack));
    assert!(unmatched, "the TU answers 481");
    assert_eq!(
        sim.response_offsets_ms(b, 183),
        [10, 510],
        "retransmission goes on"
    );
}

#[test]
fn a_prack_overtaken_by_the_200_still_matches_and_the_180_stops() {
    let mut sim = Sim::new(41);
    let a = sim.add_node(quiet());
    let b = sim.add_node(quiet());
    let contact = sim.addr(b);
    // The callee answers at once: the 2xx follows the reliable 180 before any PRACK
    // (RFC 3262 §3 allows it for a provisional without SDP).
    sim.on_event(b, move |ep, now, e| {
        let Event::NewRequest { key, request, .. } = e else {
            return;
        };
        match request.method {
            Method::Invite => {
                ep.send_reliable_provisional(now, *key, answer(contact, request, 180, "b1"))
                    .unwrap();
                ep.send_response(now, *key, answer(contact, request, 200, "b1"))
                    .unwrap();
            }
            Method::Prack => ep
                .send_response(now, *key, request.make_response(StatusCode::OK))
                .unwrap(),
            _ => {}
        }
    });
    let invite = request(&mut sim, a, b, "INVITE", "call-rel4", 1);
    sim.send(a, b, invite.clone());
    sim.run_for(ms(100));
    let ringing: Vec<Response> = sim
        .responses(a)
        .into_iter()
        .map(|(_, r)| r)
        .filter(|r| r.status.as_u16() == 180)
        .collect();
    assert_eq!(ringing.len(), 1);
    let mut dialog = Dialog::uac(&invite, &ringing[0]).unwrap();
    let a_addr = sim.addr(a);
    let prack = sim.with(a, |ep, _| {
        let via = format!("SIP/2.0/UDP {a_addr};branch={}", ep.new_branch());
        dialog.prack(&ringing[0], &via).unwrap()
    });
    sim.send(a, b, prack);
    sim.run_for(ms(5_000));
    assert!(
        sim.events(b).iter().any(|e| matches!(
            e,
            Event::NewRequest {
                related: Related::Pracks { .. },
                ..
            }
        )),
        "the late PRACK matches its 180"
    );
    assert_eq!(
        sim.response_offsets_ms(b, 180).len(),
        1,
        "the 200 stopped the 180's retransmissions"
    );
}
