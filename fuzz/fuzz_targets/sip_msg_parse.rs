//! Arbitrary bytes through the datagram parser and the stream framer (fed
//! in two chunks split at the first input byte): nothing may panic, and an
//! error response, when built, must itself parse as a response.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sip_msg::{Framed, Limits, Message, StreamFramer, error_response, parse_datagram};

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_message: 4096, max_headers: 64, max_header_value: 1024, max_body: 2048 };
    match parse_datagram(data, &limits) {
        Ok(m) => {
            let h = m.headers();
            let _ = (h.top_via(), h.vias(), h.call_id(), h.cseq(), h.from(), h.to());
            let _ = (h.from_tag(), h.to_tag(), h.max_forwards(), h.expires(), h.contacts());
            if let Message::Request(r) = &m {
                let mut resp = r.make_response(sip_msg::StatusCode::OK);
                resp.set_to_tag("fuzz");
                let _ = resp.to_bytes();
            }
        }
        Err(e) => {
            let _ = e.response_status();
            if let Some(resp) = error_response(data, &e) {
                assert!(resp.starts_with(b"SIP/2.0 "));
            }
        }
    }
    let split = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    let mut framer = StreamFramer::new(limits);
    for chunk in [&data[..split], &data[split..]] {
        framer.push(chunk);
        loop {
            match framer.next_item() {
                Ok(Some(Framed::Message(_) | Framed::KeepAlivePing | Framed::KeepAlivePong)) => {}
                Ok(None) => break,
                Err(e) => {
                    let _ = framer.error_response(&e);
                    return;
                }
            }
        }
        assert!(framer.buffered() <= limits.max_message + data.len());
    }
});
