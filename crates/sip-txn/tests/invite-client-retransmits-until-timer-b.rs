#![allow(clippy::unwrap_used)]
mod sim;

use sim::{Link, Sim, ms, quiet, request};
use sip_txn::{Event, Timer};

#[test]
fn invite_client_backs_off_on_timer_a_then_times_out_with_timer_b() {
    let mut sim = Sim::new(7);
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
    let invite = request(&mut sim, a, b, "INVITE", "call-1", 1);
    let key = sim.send(a, b, invite);
    sim.run_for(ms(40_000));
    assert_eq!(
        sim.request_offsets_ms(a, "INVITE"),
        [0, 500, 1500, 3500, 7500, 15500, 31500]
    );
    assert_eq!(
        sim.event_offsets_ms(a, |e| *e
            == Event::TimedOut {
                key,
                timer: Timer::B
            }),
        [32_000]
    );
    assert_eq!(
        sim.event_offsets_ms(a, |e| *e == Event::Terminated { key }),
        [32_000]
    );
    assert!(sim.nodes[a].ep.is_empty());
    assert!(sim.events(b).is_empty(), "nothing crossed the lossy link");
}

#[test]
fn invite_client_over_reliable_transport_sends_once_and_still_times_out() {
    let mut sim = Sim::new(7);
    sim.reliable = true;
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
    let invite = request(&mut sim, a, b, "INVITE", "call-1", 1);
    let key = sim.send(a, b, invite);
    sim.run_for(ms(40_000));
    assert_eq!(sim.request_offsets_ms(a, "INVITE"), [0]);
    assert_eq!(
        sim.event_offsets_ms(a, |e| *e
            == Event::TimedOut {
                key,
                timer: Timer::B
            }),
        [32_000]
    );
}
