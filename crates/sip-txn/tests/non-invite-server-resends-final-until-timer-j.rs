#![allow(clippy::unwrap_used)]
mod sim;

use sim::{Link, Sim, answer, ms, quiet, request};
use sip_txn::{Event, NonInviteServerState, TxnState};

#[test]
fn non_invite_server_answers_each_retransmission_with_its_last_response_until_timer_j() {
    let mut sim = Sim::new(3);
    let a = sim.add_node(quiet());
    let b = sim.add_node(quiet());
    let contact = sim.addr(b);
    sim.on_event(b, move |ep, now, e| {
        if let Event::NewRequest { key, request, .. } = e {
            ep.send_response(now, *key, answer(contact, request, 200, "b1"))
                .unwrap();
        }
    });
    // Every response is lost: the client keeps retransmitting.
    sim.set_link(
        b,
        a,
        Link {
            loss: 1.0,
            ..Link::default()
        },
    );
    let req = request(&mut sim, a, b, "REGISTER", "reg-1", 1);
    sim.send(a, b, req);
    sim.run_for(ms(4_000));
    let new_requests = sim.event_offsets_ms(b, |e| matches!(e, Event::NewRequest { .. }));
    assert_eq!(
        new_requests,
        [10],
        "retransmissions are absorbed, the TU sees one request"
    );
    // Requests arrive at 10, 510, 1510, 3510: the 200 goes out each time.
    assert_eq!(sim.response_offsets_ms(b, 200), [10, 510, 1510, 3510]);
    let key = match &sim.events(b)[0] {
        Event::NewRequest { key, .. } => *key,
        e => panic!("unexpected {e:?}"),
    };
    assert_eq!(
        sim.nodes[b].ep.state(key),
        Some(TxnState::NonInviteServer(NonInviteServerState::Completed))
    );
    sim.run_for(ms(40_000));
    // Timer J = 64*T1 after the final response was sent at 10 ms.
    assert_eq!(
        sim.event_offsets_ms(b, |e| *e == Event::Terminated { key }),
        [32_010]
    );
}

#[test]
fn non_invite_server_in_trying_sends_nothing_on_a_retransmission() {
    let mut sim = Sim::new(3);
    let a = sim.add_node(quiet());
    let b = sim.add_node(quiet());
    let req = request(&mut sim, a, b, "OPTIONS", "opt-9", 1);
    sim.send(a, b, req);
    sim.run_for(ms(2_000));
    assert!(
        sim.nodes[b].sent.is_empty(),
        "no response yet, nothing to resend"
    );
    assert_eq!(
        sim.event_offsets_ms(b, |e| matches!(e, Event::NewRequest { .. })),
        [10]
    );
}
