//! Enhanced authentication (MQTT 5 AUTH): the exchange before the CONNACK, the method checks of
//! MQTT-4.12.0-5, out-of-turn AUTHs and re-authentication.

use super::*;

/// A session whose MQTT 5 CONNECT names the Authentication Method "M" (enhanced authentication), CONNECT
/// written, no CONNACK yet.
fn authenticating() -> (Session, Instant) {
    let now = t0();
    let mut s = Session::new(SessionConfig::default(), now);
    let mut connect = Connect {
        protocol: Protocol::V5,
        ..connect_packet()
    };
    connect
        .properties
        .insert(Property::AuthenticationMethod("M".into()));
    s.connection_opened(&connect, now);
    s.out.clear();
    (s, now)
}

fn server_auth(reason: u8, method: &str) -> Packet {
    let mut properties = Properties::new(PacketTypes::AUTH);
    properties.insert(Property::AuthenticationMethod(method.into()));
    Packet::Auth(packet::Auth { reason, properties })
}

fn connack_with_method(method: &str) -> Packet {
    let mut properties = Properties::new(PacketTypes::CONNACK);
    properties.insert(Property::AuthenticationMethod(method.into()));
    Packet::ConnAck(ConnAck {
        properties,
        ..ConnAck::default()
    })
}

/// Enhanced authentication before the CONNACK: a challenge is an event for `on_auth`, answered with AUTH
/// 0x18; a SUBSCRIBE waits for the CONNACK ([MQTT-3.1.2-30]); the CONNACK (with the method) reports the
/// final step before `Connected`; the held SUBSCRIBE goes out after it.
#[test]
fn enhanced_auth_before_connack() {
    let (mut s, now) = authenticating();
    s.handle(server_auth(0x18, "M"), now).unwrap();
    assert!(matches!(
        s.events.pop(),
        Some(Event::Auth { reason, .. }) if reason.value() == 0x18
    ));
    s.subscribe(vec![("t".into(), SubscribeOptions::default())], None)
        .unwrap();
    assert!(s.out.is_empty(), "SUBSCRIBE sent before the CONNACK");
    s.auth_continue(b"r".to_vec()).unwrap();
    assert_eq!(
        s.out,
        [0xf0, 0x0a, 0x18, 0x08, 0x15, 0x00, 0x01, b'M', 0x16, 0x00, 0x01, b'r']
    );
    s.out.clear();
    s.handle(connack_with_method("M"), now).unwrap();
    let kinds: Vec<_> = s
        .events
        .iter()
        .map(|e| match e {
            Event::Auth { reason, .. } => format!("auth {}", reason.value()),
            Event::Connected { .. } => "connected".to_string(),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(kinds, ["auth 0", "connected"]);
    s.after_connect(false);
    assert_eq!(s.out[0], 0x82, "the held SUBSCRIBE");
}

/// [MQTT-4.12.0-5] and the order of the exchange: another method, AUTH Success before the CONNACK, and a
/// server's Re-authenticate are protocol errors (0x82), as is a CONNACK without the method.
#[test]
fn enhanced_auth_protocol_errors() {
    for packet in [
        server_auth(0x18, "X"),
        server_auth(0x00, "M"),
        server_auth(0x19, "M"),
        Packet::ConnAck(ConnAck::default()),
        connack_with_method("X"),
    ] {
        let (mut s, now) = authenticating();
        let what = format!("{packet:?}");
        assert!(s.handle(packet, now).is_err(), "{what}");
        assert_eq!(s.violation, Some(0x82), "{what}");
    }
}

/// Re-authentication: AUTH 0x19 with the method and data, one at a time; the server's AUTH Success ends
/// it (an event for `on_auth`), and another AUTH Success, or a challenge, with none under way is a
/// protocol error. Without a method there is nothing to re-authenticate with.
#[test]
fn enhanced_auth_reauthentication() {
    let (mut s, now) = authenticating();
    s.handle(connack_with_method("M"), now).unwrap();
    s.after_connect(false);
    s.events.clear();
    s.out.clear();
    s.reauthenticate(b"d".to_vec()).unwrap();
    assert_eq!(
        s.out,
        [0xf0, 0x0a, 0x19, 0x08, 0x15, 0x00, 0x01, b'M', 0x16, 0x00, 0x01, b'd']
    );
    assert!(s.reauthenticate(Vec::new()).is_err(), "two at once");
    s.handle(server_auth(0x18, "M"), now).unwrap();
    s.handle(server_auth(0x00, "M"), now).unwrap();
    assert_eq!(s.events.len(), 2);
    assert!(s.handle(server_auth(0x00, "M"), now).is_err());
    assert_eq!(s.violation, Some(0x82));

    let (mut s, now) = authenticating();
    s.handle(connack_with_method("M"), now).unwrap();
    assert!(
        s.handle(server_auth(0x18, "M"), now).is_err(),
        "no re-authentication under way"
    );

    let (mut plain, _) = connected_v5(Properties::default());
    assert!(matches!(
        plain.reauthenticate(Vec::new()),
        Err(Error::InvalidArgument { .. })
    ));
}

/// Enhanced authentication's data may be a credential: the on_log CONNECT line leaves it out.
#[test]
fn log_keeps_the_authentication_data_out() {
    let mut c = Connect {
        protocol: Protocol::V5,
        ..connect_packet()
    };
    c.properties
        .insert(Property::AuthenticationMethod("TOKEN".into()));
    c.properties
        .insert(Property::AuthenticationData(b"t0ken".to_vec()));
    let line = logline::connect(&c, true);
    assert!(!line.contains("t0ken") && !line.contains("t0"), "{line}");
    assert!(
        line.contains("TOKEN") && line.contains("not shown"),
        "{line}"
    );
}
