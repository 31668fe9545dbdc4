#![allow(clippy::unwrap_used)]
mod sim;

use sim::{Link, Sim, answer, ms, quiet, request};
use sip_txn::{Event, Timer};

#[test]
fn non_invite_client_doubles_timer_e_up_to_t2_then_times_out_with_timer_f() {
    let mut sim = Sim::new(1);
    let a = sim.add_node(quiet());
    let b = sim.add_node(quiet());
    sim.set_link(
        a,
        b,
        Link {
            loss: 1.0,
            ..Link::default()
        },
    );
    let req = request(&mut sim, a, b, "OPTIONS", "opt-1", 1);
    let key = sim.send(a, b, req);
    sim.run_for(ms(40_000));
    assert_eq!(
        sim.request_offsets_ms(a, "OPTIONS"),
        [
            0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
        ]
    );
    assert_eq!(
        sim.event_offsets_ms(a, |e| *e
            == Event::TimedOut {
                key,
                timer: Timer::F
            }),
        [32_000]
    );
}

#[test]
fn non_invite_client_absorbs_response_retransmissions_until_timer_k() {
    let mut sim = Sim::new(1);
    let a = sim.add_node(quiet());
    let b = sim.add_node(quiet());
    let contact = sim.addr(b);
    sim.on_event(b, move |ep, now, e| {
        if let Event::NewRequest { key, request, .. } = e {
            ep.send_response(now, *key, answer(contact, request, 200, "b1"))
                .unwrap();
        }
    });
    // A slow return path: the 200 (sent at 10 ms) arrives at 710 ms, after
    // the retransmission at 500 ms made the server send it again (arrives 1210).
    sim.set_link(
        b,
        a,
        Link {
            delay: ms(700),
            ..Link::default()
        },
    );
    let req = request(&mut sim, a, b, "OPTIONS", "opt-2", 1);
    let key = sim.send(a, b, req);
    sim.run_for(ms(20_000));
    assert_eq!(
        sim.response_offsets_ms(b, 200),
        [10, 510],
        "the server answered twice"
    );
    assert_eq!(sim.responses(a).len(), 1, "the TU sees the 200 once");
    assert_eq!(sim.responses(a)[0].0, 710);
    assert_eq!(
        sim.request_offsets_ms(a, "OPTIONS"),
        [0, 500],
        "Completed stops Timer E"
    );
    // Timer K = T4 = 5 s after the 200 arrived.
    assert_eq!(
        sim.event_offsets_ms(a, |e| *e == Event::Terminated { key }),
        [5_710]
    );
}

#[test]
fn non_invite_over_reliable_transport_terminates_at_once_on_both_sides() {
    let mut sim = Sim::new(1);
    sim.reliable = true;
    let a = sim.add_node(quiet());
    let b = sim.add_node(quiet());
    let contact = sim.addr(b);
    sim.on_event(b, move |ep, now, e| {
        if let Event::NewRequest { key, request, .. } = e {
            ep.send_response(now, *key, answer(contact, request, 200, "b1"))
                .unwrap();
        }
    });
    let req = request(&mut sim, a, b, "OPTIONS", "opt-3", 1);
    let key = sim.send(a, b, req);
    sim.run_for(ms(1_000));
    assert_eq!(
        sim.event_offsets_ms(a, |e| *e == Event::Terminated { key }),
        [20],
        "Timer K is zero"
    );
    assert_eq!(
        sim.event_offsets_ms(b, |e| matches!(e, Event::Terminated { .. })),
        [10],
        "Timer J is zero"
    );
    assert_eq!(
        sim.request_offsets_ms(a, "OPTIONS"),
        [0],
        "no Timer E on reliable transports"
    );
}
