//! Where requests to a registered contact go (issue 3 item 6, RFC 3581, RFC 5626).
//!
//! A contact is reached at its Contact address unless the phone is behind NAT. With the
//! user's `nat: auto` (default) a phone is behind NAT when its Contact host cannot be
//! reached from vpbx — a private address (RFC 1918, RFC 6598 shared space, IPv6 ULA),
//! link-local, loopback, unspecified or multicast, or a name that does not resolve on the
//! Internet (`*.invalid`, `*.local`, a single label) — while the REGISTER came from a
//! different address. `nat: force` always treats it as behind NAT, `nat: never` never.
//!
//! Behind NAT, requests go where the REGISTER came from: over UDP to its source address and
//! port (the `received`/`rport` of RFC 3581), over TCP through the same connection (its flow)
//! or, when that connection is gone, to the source address. An RFC 5626 outbound binding
//! (instance and reg-id) with a live flow always uses the flow (RFC 5626 §5.3), unless the
//! user has `nat: never`.
//!
//! ```
//! use pbx_core::tenant::NatMode;
//! use pbx_registrar::nat::{Reach, reach};
//! # use pbx_registrar::{Binding, Qualify, Source, SourceTransport};
//! # let binding = Binding {
//! #     id: 1, contact: "sip:1001@192.168.1.20:5060".into(), instance: None, reg_id: None, q: None,
//! #     expires_at_ms: 1, call_id: "c".into(), cseq: 1, user_agent: None, updated_at_ms: 0,
//! #     stored_expires_ms: 1, qualify: Qualify::Unknown,
//! #     source: Source { transport: SourceTransport::Udp, addr: "203.0.113.7:40123".parse().unwrap(), flow: None },
//! # };
//! // A phone at 192.168.1.20 registered through a NAT router at 203.0.113.7:
//! assert_eq!(
//!     reach(&binding, NatMode::Auto),
//!     Reach::Received { transport: SourceTransport::Udp, addr: "203.0.113.7:40123".parse().unwrap() }
//! );
//! assert_eq!(reach(&binding, NatMode::Never), Reach::Contact);
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use pbx_core::tenant::NatMode;
use sip_msg::{Host, Uri};

use crate::{Binding, SourceTransport};

/// Where to send a request to a registered contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Not behind NAT: the Contact URI as registered (host, port and `transport`
    /// parameter; a host name is resolved by the caller, RFC 3263).
    Contact,
    /// Behind NAT: the address and port the REGISTER came from, over its transport (for TCP
    /// a new connection to it, the old one being gone).
    Received {
        /// The transport the REGISTER came over.
        transport: SourceTransport,
        /// Its source address (RFC 3581 `received` and `rport`).
        addr: SocketAddr,
    },
    /// The TCP connection the REGISTER came in on; `addr` is its remote address, for when
    /// the server finds the connection closed.
    Flow {
        /// The server's id of the connection.
        flow: u64,
        /// The connection's remote address.
        addr: SocketAddr,
    },
}

/// Where requests to `binding` go, for a user with NAT mode `nat`.
pub fn reach(binding: &Binding, nat: NatMode) -> Reach {
    let src = binding.source;
    let outbound = binding.instance.is_some() && binding.reg_id.is_some();
    let use_source = match nat {
        NatMode::Never => false,
        NatMode::Force => true,
        NatMode::Auto => (outbound && src.flow.is_some()) || behind_nat(binding),
    };
    if !use_source {
        return Reach::Contact;
    }
    match (src.transport, src.flow) {
        (SourceTransport::Tcp, Some(flow)) => Reach::Flow {
            flow,
            addr: src.addr,
        },
        (transport, _) => Reach::Received {
            transport,
            addr: src.addr,
        },
    }
}

/// The `nat: auto` test: the Contact host is unreachable from vpbx and is not the address
/// the REGISTER came from. A Contact that does not parse counts as unreachable.
pub fn behind_nat(binding: &Binding) -> bool {
    let source_ip = binding.source.addr.ip().to_canonical();
    match Uri::parse(&binding.contact) {
        Ok(uri) => match &uri.host {
            Some(Host::Ip(ip)) => {
                let ip = ip.to_canonical();
                is_unreachable_ip(ip) && ip != source_ip
            }
            Some(Host::Domain(name)) => is_unresolvable_name(name),
            None => true,
        },
        Err(_) => true,
    }
}

/// Whether vpbx cannot send to `ip` across the Internet: RFC 1918 and RFC 6598 space,
/// link-local, loopback, unspecified, broadcast and multicast; for IPv6 also ULA
/// (`fc00::/7`). IPv4-mapped IPv6 addresses are judged as IPv4.
pub fn is_unreachable_ip(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => is_unreachable_v4(v4),
        IpAddr::V6(v6) => is_unreachable_v6(v6),
    }
}

fn is_unreachable_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_private()
        || (a == 100 && (64..128).contains(&b)) // RFC 6598 shared address space
        || ip.is_link_local()
        || ip.is_loopback()
        || a == 0 // "this network", 0.0.0.0/8
        || ip.is_broadcast()
        || ip.is_multicast()
}

fn is_unreachable_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local, RFC 4193
        || (first & 0xffc0) == 0xfe80 // link-local
}

/// Host names that no public resolver answers: `*.invalid` (RFC 2606; SIP over WebSocket
/// clients use it), `*.local` (mDNS), `localhost` and single-label names.
fn is_unresolvable_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    !name.contains('.')
        || name.ends_with(".invalid")
        || name.ends_with(".local")
        || name.ends_with(".localhost")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{Qualify, Source};

    fn binding(contact: &str, transport: SourceTransport, src: &str, flow: Option<u64>) -> Binding {
        Binding {
            id: 1,
            contact: contact.into(),
            instance: None,
            reg_id: None,
            q: None,
            expires_at_ms: 1,
            call_id: "c".into(),
            cseq: 1,
            source: Source {
                transport,
                addr: src.parse().unwrap(),
                flow,
            },
            user_agent: None,
            updated_at_ms: 0,
            stored_expires_ms: 1,
            qualify: Qualify::Unknown,
        }
    }

    fn udp(contact: &str, src: &str) -> Binding {
        binding(contact, SourceTransport::Udp, src, None)
    }

    fn received(src: &str) -> Reach {
        Reach::Received {
            transport: SourceTransport::Udp,
            addr: src.parse().unwrap(),
        }
    }

    #[test]
    fn a_private_contact_registered_from_a_public_address_is_reached_at_the_source() {
        for contact in [
            "sip:1001@10.1.2.3:5060",
            "sip:1001@172.20.0.5",
            "sip:1001@192.168.1.20:5062;transport=udp",
            "sip:1001@100.64.7.7",
            "sip:1001@169.254.1.1",
            "sip:1001@0.0.0.0:5060",
            "sip:1001@[fd00::1]:5060",
            "sip:1001@[fe80::1]",
        ] {
            let b = udp(contact, "203.0.113.7:40123");
            assert!(behind_nat(&b), "{contact}");
            assert_eq!(
                reach(&b, NatMode::Auto),
                received("203.0.113.7:40123"),
                "{contact}"
            );
        }
    }

    #[test]
    fn a_public_contact_is_reached_at_the_contact_even_from_another_address() {
        let b = udp("sip:1001@198.51.100.9:5060", "203.0.113.7:40123");
        assert!(!behind_nat(&b));
        assert_eq!(reach(&b, NatMode::Auto), Reach::Contact);
        let b = udp("sip:1001@pbx-phone.example.com", "203.0.113.7:40123");
        assert_eq!(reach(&b, NatMode::Auto), Reach::Contact);
    }

    #[test]
    fn a_private_contact_that_is_also_the_source_is_on_the_lan_not_behind_nat() {
        let b = udp("sip:1001@192.168.1.20:5060", "192.168.1.20:5060");
        assert_eq!(reach(&b, NatMode::Auto), Reach::Contact);
        let b = udp("sip:1001@127.0.0.1:5070", "127.0.0.1:5070");
        assert_eq!(reach(&b, NatMode::Auto), Reach::Contact);
        // IPv4-mapped source from a dual-stack socket compares equal to the IPv4 contact.
        let b = udp("sip:1001@10.0.0.8:5060", "[::ffff:10.0.0.8]:5060");
        assert_eq!(reach(&b, NatMode::Auto), Reach::Contact);
    }

    #[test]
    fn unresolvable_contact_names_count_as_behind_nat() {
        for contact in [
            "sip:abc@df7jal23ls0d.invalid;transport=ws",
            "sip:1001@phone.local",
            "sip:1001@localhost:5060",
            "sip:1001@desk-phone",
        ] {
            let b = udp(contact, "203.0.113.7:40123");
            assert_eq!(
                reach(&b, NatMode::Auto),
                received("203.0.113.7:40123"),
                "{contact}"
            );
        }
    }

    #[test]
    fn force_always_uses_the_source_and_never_always_the_contact() {
        let public = udp("sip:1001@198.51.100.9:5060", "203.0.113.7:40123");
        assert_eq!(
            reach(&public, NatMode::Force),
            received("203.0.113.7:40123")
        );
        let private = udp("sip:1001@192.168.1.20", "203.0.113.7:40123");
        assert_eq!(reach(&private, NatMode::Never), Reach::Contact);
    }

    #[test]
    fn behind_nat_over_tcp_the_connection_is_reused_and_without_one_the_source_address() {
        let b = binding(
            "sip:1001@192.168.1.20:5060;transport=tcp",
            SourceTransport::Tcp,
            "203.0.113.7:51000",
            Some(42),
        );
        assert_eq!(
            reach(&b, NatMode::Auto),
            Reach::Flow {
                flow: 42,
                addr: "203.0.113.7:51000".parse().unwrap()
            }
        );
        let restored = binding(
            "sip:1001@192.168.1.20:5060;transport=tcp",
            SourceTransport::Tcp,
            "203.0.113.7:51000",
            None,
        );
        assert_eq!(
            reach(&restored, NatMode::Auto),
            Reach::Received {
                transport: SourceTransport::Tcp,
                addr: "203.0.113.7:51000".parse().unwrap()
            }
        );
    }

    #[test]
    fn an_outbound_binding_with_a_live_flow_uses_the_flow_even_with_a_public_contact() {
        let mut b = binding(
            "sip:1001@198.51.100.9:5060;transport=tcp",
            SourceTransport::Tcp,
            "198.51.100.9:51000",
            Some(7),
        );
        assert_eq!(reach(&b, NatMode::Auto), Reach::Contact);
        b.instance = Some("<urn:uuid:00000000-0000-0000-0000-000000000001>".into());
        b.reg_id = Some(1);
        assert!(matches!(
            reach(&b, NatMode::Auto),
            Reach::Flow { flow: 7, .. }
        ));
        assert_eq!(reach(&b, NatMode::Never), Reach::Contact);
    }

    #[test]
    fn a_contact_that_does_not_parse_is_reached_at_the_source() {
        let b = udp("not a uri", "203.0.113.7:40123");
        assert_eq!(reach(&b, NatMode::Auto), received("203.0.113.7:40123"));
    }

    #[test]
    fn address_classes_follow_the_rfcs() {
        for ip in [
            "10.0.0.1",
            "172.31.255.255",
            "192.168.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "169.254.0.1",
            "127.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::",
            "::1",
            "fc00::1",
            "fdff::1",
            "fe80::1",
            "ff02::1",
            "::ffff:192.168.1.1",
        ] {
            assert!(is_unreachable_ip(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "172.32.0.1",
            "100.128.0.1",
            "100.63.255.255",
            "8.8.8.8",
            "203.0.113.7",
            "2001:db8::1",
            "fec0::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_unreachable_ip(ip.parse().unwrap()), "{ip}");
        }
    }
}
