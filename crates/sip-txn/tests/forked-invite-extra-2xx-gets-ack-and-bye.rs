#![allow(clippy::unwrap_used)]
mod sim;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;

use sim::{Sim, answer, ms, quiet, request};
use sip_msg::{Message, Method};
use sip_txn::{Dialog, DialogId, Event, Flow, Related, Target};

#[test]
fn forked_invite_passes_both_2xx_and_the_tu_acks_both_and_byes_the_extra_one() {
    let mut sim = Sim::new(21);
    let a = sim.add_node(quiet());
    let b = sim.add_node(quiet());
    let c = sim.add_node(quiet());
    // A forking hop: the INVITE sent to `fork` reaches both b and c.
    let fork: SocketAddr = "10.0.0.99:5060".parse().unwrap();
    sim.fork_address(fork, vec![b, c]);
    for (n, tag) in [(b, "tag-b"), (c, "tag-c")] {
        let contact = sim.addr(n);
        sim.on_event(n, move |ep, now, e| {
            if let Event::NewRequest { key, request, .. } = e {
                let status = if request.method == Method::Invite {
                    180
                } else {
                    200
                };
                ep.send_response(now, *key, answer(contact, request, status, tag))
                    .unwrap();
                if request.method == Method::Invite {
                    ep.send_response(now, *key, answer(contact, request, 200, tag))
                        .unwrap();
                }
            }
        });
    }
    // a's TU: the first 2xx is the call; any 2xx with another To tag is an
    // extra fork, ACKed and then released with BYE (RFC 3261 §13.2.2.4).
    let a_addr = sim.addr(a);
    let dialogs: Rc<RefCell<Vec<Dialog>>> = Rc::default();
    let seen = dialogs.clone();
    sim.on_event(a, move |ep, now, e| {
        let Event::Response { key, response } = e else {
            return;
        };
        if !response.status.is_success()
            || response.headers.cseq().unwrap().method != Method::Invite
        {
            return;
        }
        let id = DialogId::of_uac_response(response).unwrap();
        if seen.borrow().iter().any(|d| d.id == id) {
            return; // a 2xx retransmission of a known dialog: the ACK is resent below
        }
        let invite = ep.request(*key).unwrap().clone();
        let mut dialog = Dialog::uac(&invite, response).unwrap();
        let dest = |d: &Dialog| {
            let host = d.remote_target.host_str().unwrap();
            let addr: SocketAddr = format!("{host}:{}", d.remote_target.port.unwrap_or(5060))
                .parse()
                .unwrap();
            Target {
                flow: Flow(0),
                addr,
                reliable: false,
            }
        };
        let via = format!("SIP/2.0/UDP {a_addr};branch={}", ep.new_branch());
        ep.send_stateless(dest(&dialog), &Message::Request(dialog.ack(1, &via)));
        if !seen.borrow().is_empty() {
            let via = format!("SIP/2.0/UDP {a_addr};branch={}", ep.new_branch());
            let bye = dialog.new_request(Method::Bye, &via);
            ep.send_request(now, dest(&dialog), bye).unwrap();
        }
        seen.borrow_mut().push(dialog);
    });

    let invite = request(&mut sim, a, b, "INVITE", "call-fork", 1);
    let key = sim.with(a, |ep, now| {
        ep.send_request(
            now,
            Target {
                flow: Flow(99),
                addr: fork,
                reliable: false,
            },
            invite,
        )
        .unwrap()
    });
    sim.run_for(ms(2_000));

    // One client transaction got both branches' 200. c's 180 arrived after
    // b's 200 put the transaction in Accepted, where only 2xx pass (RFC 6026 §8.4).
    let invite_responses: Vec<(u16, String)> = sim
        .events(a)
        .iter()
        .filter_map(|e| match e {
            Event::Response { key: k, response } if *k == key => Some((
                response.status.as_u16(),
                response.headers.to_tag().unwrap().to_owned(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        invite_responses,
        [
            (180, "tag-b".to_owned()),
            (200, "tag-b".to_owned()),
            (200, "tag-c".to_owned())
        ]
    );
    // Both UAS got their ACK (so their 2xx retransmission stopped) ...
    for n in [b, c] {
        assert_eq!(
            sim.event_offsets_ms(n, |e| matches!(
                e,
                Event::AckReceived {
                    invite: Some(_),
                    ..
                }
            )),
            [30]
        );
        assert_eq!(sim.response_offsets_ms(n, 200).first(), Some(&10));
    }
    assert_eq!(
        sim.response_offsets_ms(b, 200),
        [10],
        "b's 2xx was sent once"
    );
    // ... and only the extra fork c got the BYE, in its dialog.
    let byes = sim.requests_sent(a, "BYE");
    assert_eq!(byes.len(), 1);
    assert_eq!(byes[0].0, sim.addr(c));
    assert_eq!(byes[0].1.headers.to_tag(), Some("tag-c"));
    assert_eq!(byes[0].1.headers.cseq().unwrap().seq, 2);
    let c_got_bye = sim.events(c).iter().any(|e| {
        matches!(e, Event::NewRequest { request, related: Related::None, .. } if request.method == Method::Bye)
    });
    assert!(c_got_bye);
    assert!(sim.events(a).iter().any(|e| matches!(e, Event::Response { response, .. }
        if response.headers.cseq().unwrap().method == Method::Bye && response.status.as_u16() == 200)));
    assert_eq!(dialogs.borrow().len(), 2);
}
