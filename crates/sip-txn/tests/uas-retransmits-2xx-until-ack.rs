#![allow(clippy::unwrap_used)]
mod sim;

use sim::{Link, Sim, answer, ms, quiet, request};
use sip_msg::{Message, Method, Response};
use sip_txn::{Dialog, Event, InviteClientState, Target, TxnState};

/// a's TU: ACK every 2xx (§13.2.2.4), as the TU and not the transaction.
fn acking_tu(sim: &mut Sim, a: usize, b: usize) {
    let my_addr = sim.addr(a);
    let to_b: Target = sim.target(b);
    sim.on_event(a, move |ep, _now, e| {
        if let Event::Response { key, response } = e
            && response.status.is_success()
        {
            let invite = ep.request(*key).unwrap().clone();
            let dialog = Dialog::uac(&invite, response).unwrap();
            let via = format!("SIP/2.0/UDP {my_addr};branch={}", ep.new_branch());
            let ack = dialog.ack(invite.headers.cseq().unwrap().seq, &via);
            ep.send_stateless(to_b, &Message::Request(ack));
        }
    });
}

fn answering_uas(sim: &mut Sim, b: usize) {
    let contact = sim.addr(b);
    sim.on_event(b, move |ep, now, e| {
        if let Event::NewRequest { key, request, .. } = e {
            ep.send_response(now, *key, answer(contact, request, 200, "b1"))
                .unwrap();
        }
    });
}

#[test]
fn uas_retransmits_its_2xx_doubling_to_t2_until_the_ack_arrives() {
    let mut sim = Sim::new(11);
    let a = sim.add_node(quiet());
    let b = sim.add_node(quiet());
    acking_tu(&mut sim, a, b);
    answering_uas(&mut sim, b);
    let invite = request(&mut sim, a, b, "INVITE", "call-ack", 1);
    let ckey = sim.send(a, b, invite);
    sim.run_for(ms(5));
    sim.set_link(
        a,
        b,
        Link {
            loss: 1.0,
            ..Link::default()
        },
    ); // ACKs are lost for a while
    sim.run_for(ms(8_000));
    sim.set_link(a, b, Link::default());
    sim.run_for(ms(40_000));
    assert_eq!(
        sim.response_offsets_ms(b, 200),
        [10, 510, 1510, 3510, 7510, 11510]
    );
    let acked = sim.event_offsets_ms(b, |e| {
        matches!(
            e,
            Event::AckReceived {
                invite: Some(_),
                ..
            }
        )
    });
    assert_eq!(
        acked,
        [11_530],
        "the ACK after the 6th 2xx stops retransmission"
    );
    assert!(
        !sim.events(b)
            .iter()
            .any(|e| matches!(e, Event::AckTimedOut { .. }))
    );
    // RFC 6026: the client transaction passed every 2xx to its TU, which ACKed each.
    assert_eq!(sim.responses(a).len(), 6);
    assert_eq!(sim.request_offsets_ms(a, "ACK").len(), 6);
    assert_eq!(
        sim.nodes[a].ep.state(ckey),
        None,
        "Timer M ended the client transaction"
    );
}

#[test]
fn uas_without_ack_reports_ack_timed_out_at_64_t1_and_sends_bye() {
    let mut sim = Sim::new(11);
    let a = sim.add_node(quiet());
    let b = sim.add_node(quiet());
    answering_uas(&mut sim, b);
    let invite = request(&mut sim, a, b, "INVITE", "call-noack", 1);
    let ckey = sim.send(a, b, invite);
    sim.run_for(ms(1_000));
    assert_eq!(
        sim.nodes[a].ep.state(ckey),
        Some(TxnState::InviteClient(InviteClientState::Accepted))
    );
    sim.run_for(ms(40_000));
    assert_eq!(
        sim.response_offsets_ms(b, 200),
        [
            10, 510, 1510, 3510, 7510, 11510, 15510, 19510, 23510, 27510, 31510
        ]
    );
    let (skey, received) = match &sim.events(b)[0] {
        Event::NewRequest { key, request, .. } => (*key, request.clone()),
        e => panic!("unexpected {e:?}"),
    };
    assert_eq!(
        sim.event_offsets_ms(b, |e| *e == Event::AckTimedOut { invite: skey }),
        [32_010]
    );
    // The TU's answer to AckTimedOut: BYE in the dialog (§13.3.1.4).
    let ok: Response = match &sim.nodes[b].sent[0].2 {
        Message::Response(r) => r.clone(),
        m => panic!("unexpected {m:?}"),
    };
    let mut dialog = Dialog::uas(&received, &ok, 100).unwrap();
    let b_addr = sim.addr(b);
    let bye = sim.with(b, |ep, _| {
        let via = format!("SIP/2.0/UDP {b_addr};branch={}", ep.new_branch());
        dialog.new_request(Method::Bye, &via)
    });
    assert_eq!(
        bye.uri.to_string(),
        format!("sip:caller@{}", sim.addr(a)),
        "sent to the remote target"
    );
    assert_eq!(bye.headers.to_tag(), received.headers.from_tag());
    assert_eq!(bye.headers.from_tag(), Some("b1"));
    assert_eq!(bye.headers.cseq().unwrap().seq, 101);
    sim.send(b, a, bye);
    sim.run_for(ms(100));
    assert!(
        sim.events(a).iter().any(
            |e| matches!(e, Event::NewRequest { request, .. } if request.method == Method::Bye)
        )
    );
    // RFC 6026: every 2xx went to a's TU while Accepted; after Timer M a 2xx is stray.
    assert_eq!(sim.responses(a).len(), 11);
    let late = String::from_utf8(ok.to_bytes()).unwrap();
    sim.inject(sim.addr(b), a, &late);
    sim.run_for(ms(10));
    assert!(matches!(
        sim.events(a).last(),
        Some(Event::StrayResponse { .. })
    ));
}
