#![allow(clippy::unwrap_used)]

use super::*;
use sip_msg::{Host, NameAddr};

fn contact(user: &str, port: u16, params: &[(&str, Option<&str>)]) -> ContactValue {
    ContactValue::Addr(NameAddr {
        display: None,
        uri: Uri {
            scheme: Scheme::Sip,
            user: Some(user.into()),
            password: None,
            host: Some(Host::Ip("192.0.2.10".parse().unwrap())),
            port: Some(port),
            params: vec![],
            headers: vec![],
            opaque: None,
        },
        params: params
            .iter()
            .map(|(n, v)| (n.to_string(), v.map(str::to_string)))
            .collect(),
    })
}

fn src(port: u16) -> Source {
    Source {
        transport: SourceTransport::Udp,
        addr: format!("127.0.0.1:{port}").parse().unwrap(),
        flow: None,
    }
}

fn input<'a>(
    contacts: Vec<ContactValue>,
    expires: Option<u32>,
    call_id: &'a str,
    cseq: u32,
) -> RegisterInput<'a> {
    RegisterInput {
        contacts,
        expires_header: expires,
        call_id,
        cseq,
        source: src(5070),
        user_agent: Some("test"),
    }
}

fn key() -> AorKey {
    AorKey::new(7, "1001")
}

#[test]
fn a_register_adds_a_binding_with_the_header_expiry() {
    let mut r = Registrar::new(RegistrarConfig::default());
    let out = r
        .register(
            0,
            key(),
            &input(vec![contact("1001", 5070, &[])], Some(300), "a", 1),
        )
        .unwrap();
    assert_eq!(out.contacts.len(), 1);
    assert_eq!(out.contacts[0].1, 300);
    assert_eq!(r.contact_count(), 1);
    assert!(matches!(out.changes[0], BindingChange::Upsert(..)));
}

#[test]
fn the_contact_expires_param_wins_over_the_header_and_max_clamps() {
    let mut r = Registrar::new(RegistrarConfig::default());
    let out = r
        .register(
            0,
            key(),
            &input(
                vec![contact("1001", 5070, &[("expires", Some("99999"))])],
                Some(300),
                "a",
                1,
            ),
        )
        .unwrap();
    assert_eq!(out.contacts[0].1, 3600);
}

#[test]
fn a_too_short_expiry_is_refused_with_423_and_changes_nothing() {
    let mut r = Registrar::new(RegistrarConfig::default());
    let err = r
        .register(
            0,
            key(),
            &input(vec![contact("1001", 5070, &[])], Some(10), "a", 1),
        )
        .unwrap_err();
    assert_eq!(
        err,
        RegisterError::IntervalTooBrief {
            requested: 10,
            min: 60
        }
    );
    assert_eq!(err.status(), 423);
    assert_eq!(r.contact_count(), 0);
}

#[test]
fn several_contacts_per_aor_have_their_own_expiry() {
    let mut r = Registrar::new(RegistrarConfig::default());
    r.register(
        0,
        key(),
        &input(vec![contact("1001", 5070, &[])], Some(120), "a", 1),
    )
    .unwrap();
    let out = r
        .register(
            1000,
            key(),
            &input(vec![contact("1001", 5072, &[])], Some(600), "b", 1),
        )
        .unwrap();
    let mut exp: Vec<u32> = out.contacts.iter().map(|c| c.1).collect();
    exp.sort();
    assert_eq!(exp, [119, 600]);
    let removed = r.sweep(120_000);
    assert_eq!(removed.len(), 1);
    assert_eq!(r.contact_count(), 1);
}

#[test]
fn expires_zero_removes_one_contact() {
    let mut r = Registrar::new(RegistrarConfig::default());
    r.register(
        0,
        key(),
        &input(vec![contact("1001", 5070, &[])], Some(600), "a", 1),
    )
    .unwrap();
    let out = r
        .register(
            0,
            key(),
            &input(vec![contact("1001", 5070, &[])], Some(0), "a", 2),
        )
        .unwrap();
    assert!(out.contacts.is_empty());
    assert_eq!(r.contact_count(), 0);
    assert_eq!(r.aor_count(), 0);
}

#[test]
fn star_with_expires_zero_removes_all_contacts() {
    let mut r = Registrar::new(RegistrarConfig::default());
    r.register(
        0,
        key(),
        &input(
            vec![contact("1001", 5070, &[]), contact("1001", 5071, &[])],
            Some(600),
            "a",
            1,
        ),
    )
    .unwrap();
    assert_eq!(r.contact_count(), 2);
    let out = r
        .register(0, key(), &input(vec![ContactValue::Star], Some(0), "z", 1))
        .unwrap();
    assert_eq!(out.changes.len(), 2);
    assert_eq!(r.contact_count(), 0);
}

#[test]
fn star_without_expires_zero_is_a_bad_request() {
    let mut r = Registrar::new(RegistrarConfig::default());
    let err = r
        .register(0, key(), &input(vec![ContactValue::Star], Some(60), "z", 1))
        .unwrap_err();
    assert_eq!(err.status(), 400);
}

#[test]
fn a_replayed_cseq_for_the_same_call_id_is_refused() {
    let mut r = Registrar::new(RegistrarConfig::default());
    r.register(
        0,
        key(),
        &input(vec![contact("1001", 5070, &[])], Some(600), "a", 5),
    )
    .unwrap();
    let err = r
        .register(
            0,
            key(),
            &input(vec![contact("1001", 5070, &[])], Some(0), "a", 5),
        )
        .unwrap_err();
    assert_eq!(err, RegisterError::OutOfOrder { got: 5, stored: 5 });
    assert_eq!(r.contact_count(), 1);
}

#[test]
fn the_contact_cap_replaces_the_contact_closest_to_expiry() {
    let cfg = RegistrarConfig {
        max_contacts_per_aor: 2,
        ..RegistrarConfig::default()
    };
    let mut r = Registrar::new(cfg);
    r.register(
        0,
        key(),
        &input(vec![contact("1001", 1, &[])], Some(100), "a", 1),
    )
    .unwrap();
    r.register(
        0,
        key(),
        &input(vec![contact("1001", 2, &[])], Some(900), "b", 1),
    )
    .unwrap();
    let out = r
        .register(
            0,
            key(),
            &input(vec![contact("1001", 3, &[])], Some(600), "c", 1),
        )
        .unwrap();
    assert_eq!(r.contact_count(), 2);
    let ports: Vec<u32> = out.contacts.iter().map(|c| c.1).collect();
    assert!(
        !ports.contains(&100),
        "the contact expiring first was replaced: {ports:?}"
    );
}

#[test]
fn the_same_instance_id_updates_one_binding_even_when_the_uri_changes() {
    let mut r = Registrar::new(RegistrarConfig::default());
    let inst = Some("\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\"");
    r.register(
        0,
        key(),
        &input(
            vec![contact(
                "1001",
                1,
                &[("+sip.instance", inst), ("reg-id", Some("1"))],
            )],
            Some(600),
            "a",
            1,
        ),
    )
    .unwrap();
    let out = r
        .register(
            0,
            key(),
            &input(
                vec![contact(
                    "1001",
                    2,
                    &[("+sip.instance", inst), ("reg-id", Some("1"))],
                )],
                Some(600),
                "b",
                1,
            ),
        )
        .unwrap();
    assert_eq!(r.contact_count(), 1);
    assert_eq!(out.contacts.len(), 1);
    assert!(
        out.changes
            .iter()
            .any(|c| matches!(c, BindingChange::Remove(..)))
    );
}

#[test]
fn restore_skips_expired_bindings() {
    let mut r = Registrar::new(RegistrarConfig::default());
    let b = Binding {
        contact: "sip:1001@192.0.2.10:5070".into(),
        instance: None,
        reg_id: None,
        q: None,
        expires_at_ms: 5_000,
        call_id: "a".into(),
        cseq: 1,
        source: src(5070),
        user_agent: None,
        updated_at_ms: 0,
        stored_expires_ms: 5_000,
    };
    r.restore(6_000, key(), b.clone());
    assert_eq!(r.contact_count(), 0);
    r.restore(1_000, key(), b);
    assert_eq!(r.contact_count(), 1);
    assert_eq!(r.next_expiry(), Some(5_000));
}

#[test]
fn remove_where_drops_a_whole_tenant() {
    let mut r = Registrar::new(RegistrarConfig::default());
    r.register(
        0,
        AorKey::new(1, "a"),
        &input(vec![contact("a", 1, &[])], Some(600), "a", 1),
    )
    .unwrap();
    r.register(
        0,
        AorKey::new(2, "a"),
        &input(vec![contact("a", 1, &[])], Some(600), "a", 1),
    )
    .unwrap();
    let ch = r.remove_where(|k| k.tenant == 1);
    assert_eq!(ch.len(), 1);
    assert_eq!(r.contact_count(), 1);
}

#[test]
fn refreshing_a_binding_does_not_pile_up_expiry_entries() {
    let mut r = Registrar::new(RegistrarConfig::default());
    for i in 0..50u64 {
        r.register(
            i * 1000,
            key(),
            &input(
                vec![contact("1001", 5070, &[])],
                Some(3600),
                "a",
                i as u32 + 1,
            ),
        )
        .unwrap();
    }
    assert_eq!(r.contact_count(), 1);
    assert_eq!(
        r.scheduled_len(),
        1,
        "a later expiry keeps the earlier heap entry"
    );
    // The entry fires at the first expiry, finds the binding refreshed, and reschedules it.
    assert!(r.sweep(3_600_000).is_empty());
    assert_eq!(r.contact_count(), 1);
    assert_eq!(r.sweep(49_000 + 3_600_000).len(), 1);
    assert_eq!(r.contact_count(), 0);
}

#[test]
fn a_quick_plain_refresh_is_not_written_but_a_late_one_is() {
    let mut r = Registrar::new(RegistrarConfig::default());
    let out = r
        .register(
            0,
            key(),
            &input(vec![contact("1001", 5070, &[])], Some(600), "a", 1),
        )
        .unwrap();
    assert_eq!(out.changes.len(), 1);
    // 10 s later: the stored copy (expiring at 600 s) is good for 2/3 of the new 600 s.
    let out = r
        .register(
            10_000,
            key(),
            &input(vec![contact("1001", 5070, &[])], Some(600), "a", 2),
        )
        .unwrap();
    assert!(out.changes.is_empty(), "{:?}", out.changes);
    assert_eq!(
        out.contacts[0].1, 600,
        "the answer and the memory copy are refreshed"
    );
    assert_eq!(r.bindings(&key())[0].expires_at_ms, 610_000);
    // 300 s later the stored copy has 300 s left < 400 s: written.
    let out = r
        .register(
            300_000,
            key(),
            &input(vec![contact("1001", 5070, &[])], Some(600), "a", 3),
        )
        .unwrap();
    assert_eq!(out.changes.len(), 1);
    // A new Call-ID alone (some phones make one per REGISTER) is not a reason to write.
    let out = r
        .register(
            300_500,
            key(),
            &input(vec![contact("1001", 5070, &[])], Some(600), "b", 1),
        )
        .unwrap();
    assert!(out.changes.is_empty(), "{:?}", out.changes);
    // A change of where the phone is reached is written at once.
    let mut inp = input(vec![contact("1001", 5070, &[])], Some(600), "a", 4);
    inp.source = src(5071);
    let out = r.register(301_000, key(), &inp).unwrap();
    assert_eq!(out.changes.len(), 1);
}
