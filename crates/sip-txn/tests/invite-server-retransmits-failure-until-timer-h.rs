#![allow(clippy::unwrap_used)]
mod sim;

use sim::{Link, Sim, answer, ms, quiet, request};
use sip_txn::{Event, Timer};

#[test]
fn invite_server_retransmits_its_486_on_timer_g_capped_at_t2_until_timer_h() {
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
    let invite = request(&mut sim, a, b, "INVITE", "call-g", 1);
    sim.send(a, b, invite);
    sim.run_for(ms(5)); // the INVITE is on the wire
    sim.set_link(
        a,
        b,
        Link {
            loss: 1.0,
            ..Link::default()
        },
    ); // every ACK is lost
    sim.run_for(ms(40_000));
    // The 486 was first sent at 10 ms; G fires T1, 2T1, 4T1, then every T2.
    let rel: Vec<u64> = sim
        .response_offsets_ms(b, 486)
        .iter()
        .map(|t| t - 10)
        .collect();
    assert_eq!(
        rel,
        [
            0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
        ]
    );
    let timed_out = sim.event_offsets_ms(b, |e| {
        matches!(
            e,
            Event::TimedOut {
                timer: Timer::H,
                ..
            }
        )
    });
    assert_eq!(timed_out, [32_010]);
    // The client re-ACKed every retransmitted 486 it got but passed only one up.
    assert_eq!(sim.responses(a).len(), 1);
    assert_eq!(sim.request_offsets_ms(a, "ACK").len(), 11);
}
