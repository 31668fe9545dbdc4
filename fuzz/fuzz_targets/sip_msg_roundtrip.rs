//! If arbitrary bytes parse as a datagram, serializing and parsing again must
//! succeed and give an equal message; serializing that gives the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sip_msg::{Limits, parse_datagram};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let Ok(first) = parse_datagram(data, &limits) else { return };
    let bytes = first.to_bytes();
    let second = match parse_datagram(&bytes, &limits) {
        Ok(m) => m,
        Err(e) => panic!("reparse failed: {e:?}\n{}", String::from_utf8_lossy(&bytes)),
    };
    assert_eq!(first, second, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(bytes, second.to_bytes());
});
