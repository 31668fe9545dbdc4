#![allow(clippy::unwrap_used)]
mod sim;

use std::net::SocketAddr;

use sim::{Sim, answer, ms, quiet};
use sip_msg::Method;
use sip_txn::{Event, InviteServerState, Related, TxnState};

/// An RFC 2543 UA: its Via has no `z9hG4bK` branch.
fn invite(from_tag: &str) -> String {
    format!(
        "INVITE sip:bob@10.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.0.0.50:5060\r\n\
         From: <sip:old@10.0.0.50>;tag={from_tag}\r\n\
         To: <sip:bob@10.0.0.1>\r\n\
         Call-ID: legacy-1@10.0.0.50\r\n\
         CSeq: 7 INVITE\r\n\
         Contact: <sip:old@10.0.0.50>\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

fn other(method: &str, to_tag: &str) -> String {
    invite("f1")
        .replace(
            "INVITE sip:bob@10.0.0.1 SIP/2.0",
            &format!("{method} sip:bob@10.0.0.1 SIP/2.0"),
        )
        .replace("CSeq: 7 INVITE", &format!("CSeq: 7 {method}"))
        .replace(
            "To: <sip:bob@10.0.0.1>",
            &format!("To: <sip:bob@10.0.0.1>{to_tag}"),
        )
}

#[test]
fn rfc2543_invite_retransmission_ack_and_cancel_match_by_uri_tags_call_id_cseq_and_via() {
    let mut sim = Sim::new(61);
    let b = sim.add_node(quiet());
    let contact = sim.addr(b);
    sim.on_event(b, move |ep, now, e| {
        if let Event::NewRequest { key, request, .. } = e
            && request.method == Method::Invite
        {
            ep.send_response(now, *key, answer(contact, request, 486, "busy"))
                .unwrap();
        }
    });
    let old_ua: SocketAddr = "10.0.0.50:5060".parse().unwrap();
    sim.inject(old_ua, b, &invite("f1"));
    sim.run_for(ms(100));
    sim.inject(old_ua, b, &invite("f1")); // retransmission
    sim.run_for(ms(100));
    let news = sim.event_offsets_ms(b, |e| matches!(e, Event::NewRequest { .. }));
    assert_eq!(news, [1], "the retransmission matched the transaction");
    assert_eq!(
        sim.response_offsets_ms(b, 486),
        [1, 101],
        "and got the 486 again"
    );
    let key = match &sim.events(b)[0] {
        Event::NewRequest { key, .. } => *key,
        e => panic!("unexpected {e:?}"),
    };

    // A CANCEL with the same URI, From tag, Call-ID, CSeq number and Via
    // maps to the INVITE transaction.
    sim.inject(old_ua, b, &other("CANCEL", ""));
    sim.run_for(ms(10));
    assert!(sim.events(b).iter().any(|e| matches!(e,
        Event::NewRequest { request, related: Related::Cancels(k), .. } if request.method == Method::Cancel && *k == key)));

    // The ACK carries the To tag of our 486: absorbed, the transaction is Confirmed.
    sim.inject(old_ua, b, &other("ACK", ";tag=busy"));
    sim.run_for(ms(10));
    assert_eq!(
        sim.nodes[b].ep.state(key),
        Some(TxnState::InviteServer(InviteServerState::Confirmed))
    );
    assert!(
        !sim.events(b)
            .iter()
            .any(|e| matches!(e, Event::AckReceived { .. }))
    );

    // An INVITE differing only in the From tag is another transaction.
    sim.inject(old_ua, b, &invite("f2"));
    sim.run_for(ms(10));
    let invites = sim
        .events(b)
        .iter()
        .filter(
            |e| matches!(e, Event::NewRequest { request, .. } if request.method == Method::Invite),
        )
        .count();
    assert_eq!(invites, 2);
}
