#![allow(clippy::unwrap_used)]
mod sim;

use sim::{Sim, ms, quiet, request};
use sip_txn::{Event, Flow, InviteClientState, TxnState};

#[test]
fn a_lost_connection_fails_only_the_branch_that_used_it_at_once() {
    let mut sim = Sim::new(51);
    let a = sim.add_node(quiet());
    let b = sim.add_node(quiet());
    let c = sim.add_node(quiet());
    let inv_b = request(&mut sim, a, b, "INVITE", "call-t", 1);
    let inv_c = request(&mut sim, a, c, "INVITE", "call-t", 1);
    let kb = sim.send(a, b, inv_b);
    let kc = sim.send(a, c, inv_c);
    sim.run_for(ms(700));
    sim.with(a, |ep, now| ep.handle_transport_error(now, Flow(c as u64)));
    assert_eq!(
        sim.event_offsets_ms(a, |e| *e == Event::TransportError { key: kc }),
        [700]
    );
    assert_eq!(
        sim.event_offsets_ms(a, |e| *e == Event::Terminated { key: kc }),
        [700]
    );
    assert_eq!(
        sim.nodes[a].ep.state(kb),
        Some(TxnState::InviteClient(InviteClientState::Calling))
    );
    sim.run_for(ms(2_000));
    let to_c = sim
        .requests_sent(a, "INVITE")
        .iter()
        .filter(|(d, _)| *d == sim.addr(c))
        .count();
    assert_eq!(to_c, 2, "sent at 0 and 500, nothing after the failure");
    assert!(
        !sim.events(a)
            .iter()
            .any(|e| *e == Event::TransportError { key: kb })
    );
}

#[test]
fn a_failed_send_fails_its_transaction_at_once() {
    let mut sim = Sim::new(51);
    let a = sim.add_node(quiet());
    let b = sim.add_node(quiet());
    let req = request(&mut sim, a, b, "OPTIONS", "opt-t", 1);
    let key = sim.send(a, b, req);
    sim.run_for(ms(200));
    sim.with(a, |ep, now| ep.handle_send_failed(now, key));
    assert_eq!(
        sim.event_offsets_ms(a, |e| *e == Event::TransportError { key }),
        [200]
    );
    assert!(sim.nodes[a].ep.is_empty());
}
