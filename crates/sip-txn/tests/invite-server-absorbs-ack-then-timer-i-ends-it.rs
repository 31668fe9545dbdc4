#![allow(clippy::unwrap_used)]
mod sim;

use sim::{Sim, answer, ms, quiet, request};
use sip_txn::{Event, InviteClientState, InviteServerState, TxnState};

#[test]
fn ack_for_a_486_stops_timer_g_is_not_passed_up_and_timer_i_ends_the_transaction() {
    let mut sim = Sim::new(5);
    let a = sim.add_node(quiet());
    let b = sim.add_node(quiet());
    let contact = sim.addr(b);
    sim.on_event(b, move |ep, now, e| {
        if let Event::NewRequest { key, request, .. } = e {
            ep.send_response(now, *key, answer(contact, request, 486, "busy"))
                .unwrap();
        }
    });
    let invite = request(&mut sim, a, b, "INVITE", "call-i", 1);
    let ckey = sim.send(a, b, invite.clone());
    sim.run_for(ms(100));
    let skey = match &sim.events(b)[0] {
        Event::NewRequest { key, .. } => *key,
        e => panic!("unexpected {e:?}"),
    };
    assert_eq!(
        sim.nodes[b].ep.state(skey),
        Some(TxnState::InviteServer(InviteServerState::Confirmed))
    );
    assert_eq!(
        sim.nodes[a].ep.state(ckey),
        Some(TxnState::InviteClient(InviteClientState::Completed))
    );
    // The ACK (§17.1.1.3): same branch and Request-URI as the INVITE, To from the 486.
    let (_, ack) = sim.requests_sent(a, "ACK").pop().unwrap();
    assert_eq!(ack.uri, invite.uri);
    assert_eq!(
        ack.headers.top_via().unwrap().branch,
        invite.headers.top_via().unwrap().branch
    );
    assert_eq!(ack.headers.to_tag(), Some("busy"));
    assert_eq!(ack.headers.cseq().unwrap().seq, 1);
    sim.run_for(ms(40_000));
    assert_eq!(
        sim.response_offsets_ms(b, 486),
        [10],
        "Timer G stopped with the ACK"
    );
    assert!(
        !sim.events(b)
            .iter()
            .any(|e| matches!(e, Event::AckReceived { .. })),
        "ACK for non-2xx is absorbed"
    );
    // Timer I = T4 after the ACK arrived at 30 ms; Timer D = 32 s after the 486 arrived at 20 ms.
    assert_eq!(
        sim.event_offsets_ms(b, |e| *e == Event::Terminated { key: skey }),
        [5_030]
    );
    assert_eq!(
        sim.event_offsets_ms(a, |e| *e == Event::Terminated { key: ckey }),
        [32_020]
    );
}

#[test]
fn invite_server_resends_its_last_provisional_when_the_invite_is_retransmitted() {
    let mut sim = Sim::new(5);
    let a = sim.add_node(quiet());
    let b = sim.add_node(sip_txn::Config::default()); // sends 100 Trying at once
    sim.set_link(
        b,
        a,
        sim::Link {
            loss: 1.0,
            ..sim::Link::default()
        },
    );
    let invite = request(&mut sim, a, b, "INVITE", "call-r", 1);
    sim.send(a, b, invite);
    sim.run_for(ms(2_000));
    assert_eq!(
        sim.event_offsets_ms(b, |e| matches!(e, Event::NewRequest { .. })),
        [10]
    );
    // 100 at once, then again for each retransmitted INVITE (arriving 510, 1510).
    assert_eq!(sim.response_offsets_ms(b, 100), [10, 510, 1510]);
}
