//! MQTT 5 automatic topic aliases (`auto_topic_aliases_set`, beyond Paho), byte for byte: up to the
//! smaller of the client's and the server's limit, the first use of an alias carries the topic and
//! later ones an empty topic, the least recently used alias is replaced, and nothing alias-related
//! survives a reconnect (the resent message carries its full topic, the table starts empty).

use std::sync::mpsc;

use pahoish::testing::MockBroker;
use pahoish::{Error, PacketTypes, Properties, Property};

use crate::support::{
    connect_v5, expect_disconnect, packet, puback, run, start_v5, stop_loop, v5_client,
    PUBLISH_WAIT, WAIT,
};

/// CONNACK with Topic Alias Maximum 3 (and Session Present as given).
fn connack_alias_max_3(session_present: bool) -> [u8; 8] {
    [
        0x20,
        0x06, // CONNACK, remaining length 6
        u8::from(session_present),
        0x00, // Success
        0x03, // property length 3
        0x22,
        0x00,
        0x03, // Topic Alias Maximum 3
    ]
}

/// QoS 0 PUBLISH of a one-byte payload to a three-byte topic, setting `alias`.
fn set_alias(topic: &[u8; 3], alias: u8, payload: u8) -> Vec<u8> {
    packet(&[
        &[0x30, 0x0a], // PUBLISH QoS 0, remaining length 10
        &[0x00, 0x03],
        topic,                      // the full topic
        &[0x03, 0x23, 0x00, alias], // properties: Topic Alias
        &[payload],
    ])
}

#[test]
fn aliases_are_set_reused_replaced_and_forgotten_with_the_connection() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&connect_v5(b"aa", 0x02))?;
        s.send(&connack_alias_max_3(false))?;
        // The client's limit is 2, below the server's 3.
        s.expect(&set_alias(b"a/b", 1, b'1'))?;
        s.expect(&set_alias(b"c/d", 2, b'2'))?;
        s.expect(&[
            0x30, 0x07, // PUBLISH QoS 0, remaining length 7
            0x00, 0x00, // empty topic
            0x03, 0x23, 0x00, 0x01, // Topic Alias 1 ("a/b")
            b'3',
        ])?;
        // Both aliases taken: "c/d" was used longest ago, so its alias 2 becomes "e/f".
        s.expect(&set_alias(b"e/f", 2, b'4'))?;
        s.expect(&[
            0x32, 0x09, // PUBLISH QoS 1, remaining length 9
            0x00, 0x00, // empty topic
            0x00, 0x05, // message id 5
            0x03, 0x23, 0x00, 0x01, // Topic Alias 1 ("a/b")
            b'q',
        ])?;
        // Unacknowledged when the connection ends.
        s.close();
        s.accept()?;
        s.expect(&connect_v5(b"aa", 0x00))?;
        s.send(&connack_alias_max_3(true))?;
        s.expect(&[
            0x3a, 0x09, // PUBLISH QoS 1 DUP, remaining length 9
            0x00, 0x03, b'a', b'/', b'b', // the full topic again
            0x00, 0x05, // message id 5
            0x00, // no property: the alias belonged to the old connection
            b'q',
        ])?;
        s.send(&puback(5))?;
        // A new table: "a/b" sets alias 1 again.
        s.expect(&set_alias(b"a/b", 1, b'n'))?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = v5_client("aa");
        client.auto_topic_aliases_set(2);
        let (tx, connects) = mpsc::channel();
        client.on_connect(move |_, _, _, _, _| {
            let _ = tx.send(());
        });
        start_v5(&client, port, None);
        connects.recv_timeout(WAIT).unwrap();
        for (topic, payload) in [("a/b", "1"), ("c/d", "2"), ("a/b", "3"), ("e/f", "4")] {
            client.publish(topic, payload, 0, false).unwrap();
        }
        let q = client.publish("a/b", "q", 1, false).unwrap();
        connects.recv_timeout(WAIT).expect("the second CONNACK");
        assert!(matches!(q.wait_for_publish(PUBLISH_WAIT), Ok(true)));
        let n = client.publish("a/b", "n", 0, false).unwrap();
        assert!(matches!(n.wait_for_publish(PUBLISH_WAIT), Ok(true)));
        client.disconnect().unwrap();
        stop_loop(&client);
    });
}

/// A server without Topic Alias Maximum takes none: every PUBLISH carries its full topic only; and the
/// application's own Topic Alias is refused while automatic ones are on.
#[test]
fn no_alias_when_the_server_takes_none_and_no_alias_of_the_applications() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&connect_v5(b"ab", 0x02))?;
        s.send(&[0x20, 0x03, 0x00, 0x00, 0x00])?; // CONNACK, no properties
        for _ in 0..2 {
            s.expect(&packet(&[
                &[0x30, 0x07], // PUBLISH QoS 0, remaining length 7
                &[0x00, 0x03],
                b"a/b",
                &[0x00], // no property
                b"x",
            ]))?;
        }
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = v5_client("ab");
        client.auto_topic_aliases_set(8);
        let (tx, connects) = mpsc::channel();
        client.on_connect(move |_, _, _, _, _| {
            let _ = tx.send(());
        });
        start_v5(&client, port, None);
        connects.recv_timeout(WAIT).unwrap();
        let own = Properties::new(PacketTypes::PUBLISH)
            .with(Property::TopicAlias(1))
            .unwrap();
        assert!(matches!(
            client.publish_with("a/b", "x", 0, false, own),
            Err(Error::InvalidArgument { .. })
        ));
        for _ in 0..2 {
            let info = client.publish("a/b", "x", 0, false).unwrap();
            assert!(matches!(info.wait_for_publish(PUBLISH_WAIT), Ok(true)));
        }
        client.disconnect().unwrap();
        stop_loop(&client);
    });
}
