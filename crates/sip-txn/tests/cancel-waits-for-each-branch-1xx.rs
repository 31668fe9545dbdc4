#![allow(clippy::unwrap_used)]
mod sim;

use std::cell::RefCell;
use std::rc::Rc;

use sim::{Sim, answer, ms, quiet, request};
use sip_msg::{Method, StatusCode};
use sip_txn::{Endpoint, Event, Related, TxnKey};

/// A callee that rings only when told to, and answers CANCEL as §9.2 says.
fn callee(sim: &mut Sim, n: usize, ring_at_once: bool) -> Rc<RefCell<Option<TxnKey>>> {
    let contact = sim.addr(n);
    let invite_key: Rc<RefCell<Option<TxnKey>>> = Rc::default();
    let slot = invite_key.clone();
    sim.on_event(n, move |ep: &mut Endpoint, now, e| {
        let Event::NewRequest {
            key,
            request,
            related,
            ..
        } = e
        else {
            return;
        };
        match (&request.method, related) {
            (Method::Invite, _) => {
                *slot.borrow_mut() = Some(*key);
                if ring_at_once {
                    ep.send_response(now, *key, answer(contact, request, 180, "r"))
                        .unwrap();
                }
            }
            (Method::Cancel, Related::Cancels(invite)) => {
                ep.send_response(now, *key, request.make_response(StatusCode::OK))
                    .unwrap();
                let inv = ep.request(*invite).unwrap().clone();
                ep.send_response(now, *invite, answer(contact, &inv, 487, "r"))
                    .unwrap();
            }
            _ => {}
        }
    });
    invite_key
}

fn got(sim: &Sim, n: usize, key: TxnKey, code: u16) -> bool {
    sim.events(n).iter().any(|e| matches!(e, Event::Response { key: k, response } if *k == key && response.status.as_u16() == code))
}

#[test]
fn cancel_goes_to_a_branch_only_after_that_branch_sent_a_provisional() {
    let mut sim = Sim::new(31);
    let a = sim.add_node(quiet());
    let b = sim.add_node(quiet());
    let c = sim.add_node(quiet());
    callee(&mut sim, b, true);
    let c_invite = callee(&mut sim, c, false);
    // The B2BUA forks: one client INVITE transaction per branch.
    let inv_b = request(&mut sim, a, b, "INVITE", "call-x", 1);
    let inv_c = request(&mut sim, a, c, "INVITE", "call-x", 1);
    let kb = sim.send(a, b, inv_b.clone());
    let kc = sim.send(a, c, inv_c);
    sim.run_for(ms(100));
    // The caller hangs up: cancel both branches at 100 ms.
    let (cb, cc) = sim.with(a, |ep, now| {
        (ep.cancel(now, kb).unwrap(), ep.cancel(now, kc).unwrap())
    });
    assert_eq!(
        sim.with(a, |ep, now| ep.cancel(now, kc).unwrap()),
        cc,
        "cancel is idempotent"
    );
    sim.run_for(ms(900));
    let cancels = sim.requests_sent(a, "CANCEL");
    assert_eq!(cancels.len(), 1, "c has not rung: no CANCEL for it yet");
    assert_eq!(cancels[0].0, sim.addr(b));
    // §9.1: same branch, Request-URI, Call-ID, From, To, CSeq number as the INVITE.
    let cancel = &cancels[0].1;
    assert_eq!(cancel.uri, inv_b.uri);
    assert_eq!(
        cancel.headers.top_via().unwrap().branch,
        inv_b.headers.top_via().unwrap().branch
    );
    assert_eq!(cancel.headers.call_id(), inv_b.headers.call_id());
    assert_eq!(cancel.headers.from_tag(), inv_b.headers.from_tag());
    assert_eq!(cancel.headers.to_tag(), None);
    assert_eq!(cancel.headers.cseq().unwrap().seq, 1);
    assert_eq!(sim.request_offsets_ms(a, "CANCEL"), [100]);
    // b answered the CANCEL 200 (matched to the CANCEL transaction, not the
    // INVITE: same branch, other CSeq method) and the INVITE 487, ACKed.
    assert!(got(&sim, a, cb, 200) && got(&sim, a, kb, 487));
    assert!(!got(&sim, a, kb, 200));
    assert_eq!(sim.requests_sent(a, "ACK").len(), 1);

    // c rings at 1000 ms: its CANCEL leaves when the 180 arrives (1010 ms).
    let kc_server = c_invite.borrow().unwrap();
    let contact_c = sim.addr(c);
    sim.with(c, |ep, now| {
        let inv = ep.request(kc_server).unwrap().clone();
        ep.send_response(now, kc_server, answer(contact_c, &inv, 180, "r"))
            .unwrap();
    });
    sim.run_for(ms(1_000));
    assert_eq!(sim.request_offsets_ms(a, "CANCEL"), [100, 1010]);
    assert!(got(&sim, a, cc, 200) && got(&sim, a, kc, 487));
}

#[test]
fn a_cancel_requested_before_any_1xx_is_never_sent_if_the_invite_fails_first() {
    let mut sim = Sim::new(31);
    let a = sim.add_node(quiet());
    let c = sim.add_node(quiet());
    let c_invite = callee(&mut sim, c, false);
    let inv = request(&mut sim, a, c, "INVITE", "call-y", 1);
    let kc = sim.send(a, c, inv);
    sim.run_for(ms(100));
    let cc = sim.with(a, |ep, now| ep.cancel(now, kc).unwrap());
    let key = c_invite.borrow().unwrap();
    let contact = sim.addr(c);
    sim.with(c, |ep, now| {
        let inv = ep.request(key).unwrap().clone();
        ep.send_response(now, key, answer(contact, &inv, 486, "r"))
            .unwrap();
    });
    sim.run_for(ms(1_000));
    assert!(sim.requests_sent(a, "CANCEL").is_empty());
    assert_eq!(
        sim.event_offsets_ms(a, |e| *e == Event::Terminated { key: cc }),
        [110]
    );
}
