//! MQTT 5 server redirection (`server_redirect_set`, beyond Paho): a CONNACK with Use another server
//! (0x9C) sends the next connection to the Server Reference once, byte for byte against MockBroker; a
//! DISCONNECT with Server moved (0x9D) from TestBroker moves the client for good; not followed, the
//! reason and the reference reach `on_connect` and the client stays where it was.

mod common;

use std::sync::mpsc;

use common::{client_id, recv, watchdog, TEST_LIMIT, WAIT};
use pahoish::testing::{MockBroker, MockError, MockSession, TestBroker};
use pahoish::{Client, MQTTv5, PacketTypes, Properties, Property};

/// CONNACK refused with `reason` and a Server Reference of `reference`.
fn connack_with_reference(reason: u8, reference: &str) -> Vec<u8> {
    let r = reference.as_bytes();
    let props = 3 + r.len();
    let mut p = vec![0x20, (3 + props) as u8, 0x00, reason, props as u8];
    p.extend_from_slice(&[0x1c, 0x00, r.len() as u8]); // Server Reference
    p.extend_from_slice(r);
    p
}

/// Accepts a 5.0 client and answers its CONNECT with `connack`.
fn answer(s: &mut MockSession, connack: &[u8]) -> Result<(), MockError> {
    s.accept()?;
    s.recv_packet()?; // CONNECT (5.0)
    s.send(connack)
}

/// A v5 client that reconnects at once and reports each CONNACK's reason, properties and server.
fn client(id: &str, follow: bool) -> (Client, mpsc::Receiver<(u8, String, Option<String>)>) {
    let c = Client::builder()
        .client_id(id)
        .protocol(MQTTv5)
        .build()
        .unwrap();
    c.reconnect_delay_set(0.05, 0.2).unwrap();
    c.server_redirect_set(follow);
    let (tx, rx) = mpsc::channel();
    c.on_connect(move |c, _, _, rc, props| {
        let _ = tx.send((rc.value(), props.to_string(), c.server_url()));
    });
    (c, rx)
}

#[test]
fn use_another_server_sends_the_next_connection_there_once() {
    let _dog = watchdog(TEST_LIMIT);
    let b = MockBroker::start(|s| {
        answer(s, &[0x20, 0x03, 0x00, 0x00, 0x00])?; // CONNACK Success
        s.close(); // dropped: the client goes back to A, not to B again
        Ok(())
    });
    let reference = format!("127.0.0.1:{}", b.port());
    let connack = connack_with_reference(0x9c, &reference);
    let a = MockBroker::start(move |s| {
        answer(s, &connack)?;
        s.expect_closed()?;
        answer(s, &[0x20, 0x03, 0x00, 0x00, 0x00])?;
        s.expect(&[0xe0, 0x00]) // DISCONNECT
    });
    let (c, connacks) = client(&client_id("redirect"), true);
    c.connect("127.0.0.1", a.port(), 60).unwrap();
    c.loop_start().unwrap();
    let (rc, props, server) = recv(&connacks, "the refusing CONNACK");
    assert_eq!(rc, 0x9c);
    assert!(
        props.contains(&format!("ServerReference : {reference}")),
        "{props}"
    );
    assert_eq!(server, Some(format!("mqtt://127.0.0.1:{}", a.port())));
    let (rc, _, server) = recv(&connacks, "B's CONNACK");
    assert_eq!((rc, server), (0, Some(format!("mqtt://{reference}"))));
    let (rc, _, server) = recv(&connacks, "A's CONNACK again");
    assert_eq!(
        (rc, server),
        (0, Some(format!("mqtt://127.0.0.1:{}", a.port())))
    );
    c.disconnect().unwrap();
    c.loop_stop().unwrap();
    a.finish(WAIT).unwrap();
    b.finish(WAIT).unwrap();
}

#[test]
fn not_followed_the_reason_and_reference_reach_on_connect() {
    let _dog = watchdog(TEST_LIMIT);
    let connack = connack_with_reference(0x9c, "127.0.0.1:1");
    let a = MockBroker::start(move |s| {
        answer(s, &connack)?;
        s.expect_closed()?;
        answer(s, &[0x20, 0x03, 0x00, 0x00, 0x00])?; // the client came back to A
        s.expect(&[0xe0, 0x00])
    });
    let (c, connacks) = client(&client_id("redirect"), false);
    c.connect("127.0.0.1", a.port(), 60).unwrap();
    c.loop_start().unwrap();
    let (rc, props, _) = recv(&connacks, "the refusing CONNACK");
    assert_eq!(rc, 0x9c);
    assert!(props.contains("ServerReference : 127.0.0.1:1"), "{props}");
    let (rc, _, server) = recv(&connacks, "A's CONNACK");
    assert_eq!(
        (rc, server),
        (0, Some(format!("mqtt://127.0.0.1:{}", a.port())))
    );
    c.disconnect().unwrap();
    c.loop_stop().unwrap();
    a.finish(WAIT).unwrap();
}

#[test]
fn server_moved_moves_the_client_for_good() {
    let _dog = watchdog(TEST_LIMIT);
    let a = TestBroker::start().unwrap();
    let b = TestBroker::start().unwrap();
    let id = client_id("redirect");
    let (c, connacks) = client(&id, true);
    c.connect("127.0.0.1", a.port(), 60).unwrap();
    c.loop_start().unwrap();
    assert_eq!(recv(&connacks, "A's CONNACK").0, 0);
    let props = Properties::new(PacketTypes::DISCONNECT)
        .with(Property::ServerReference(format!("127.0.0.1:{}", b.port())))
        .unwrap();
    assert!(a.disconnect_client(&id, 0x9d, props));
    let b_url = Some(format!("mqtt://127.0.0.1:{}", b.port()));
    let (rc, _, server) = recv(&connacks, "B's CONNACK");
    assert_eq!((rc, server), (0, b_url.clone()));
    // Dropped by B: the client comes back to B, where the server moved.
    assert!(b.drop_client(&id));
    assert_eq!(recv(&connacks, "B's CONNACK again").2, b_url);
    c.disconnect().unwrap();
    c.loop_stop().unwrap();
}
