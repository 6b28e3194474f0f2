//! MQTT 5 subscribing and unsubscribing, after mosquitto's client tests (test/lib of
//! eclipse-mosquitto/mosquitto: 02-unsubscribe-v5, 02-unsubscribe-multiple-v5,
//! 02-subscribe-wildcard-unavailable-v5): subscription options and properties on the wire, a reason
//! code per filter in `on_subscribe` and `on_unsubscribe`, and the server's subscription features
//! checked at the call.

use pahoish::testing::MockBroker;
use pahoish::{Error, PacketTypes, Properties, Property, SubscribeOptions, RETAIN_DO_NOT_SEND};

use crate::support::{
    connect_v5, expect_disconnect, packet, record_v5, run, start_v5, stop_loop, v5_client,
    v5_connected, v5_disconnected, CONNACK_V5, V5,
};

/// unsubscribe-v5: UNSUBSCRIBE carries its User Property before the filters, and `on_unsubscribe`
/// gets the UNSUBACK's reason code for each filter (Success, and 0x11 No subscription found) and its
/// properties.
#[test]
fn unsubscribe_v5() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&connect_v5(b"un", 0x02))?;
        s.send(&CONNACK_V5)?;
        s.expect(&packet(&[
            &[0xa2, 0x27],                   // UNSUBSCRIBE, remaining length 39
            &[0x00, 0x01],                   // message id 1
            &[0x0d],                         // property length 13
            &[0x26, 0x00, 0x03],             // User Property: name length 3
            b"key",                          // name
            &[0x00, 0x05],                   // value length 5
            b"value",                        // value
            &[0x00, 0x10],                   // filter length 16
            b"unsubscribe/test",             // filter
            &[0x00, 0x03, b'x', b'/', b'#'], // filter "x/#"
        ]))?;
        s.send(&[
            0xb0, 0x0c, // UNSUBACK, remaining length 12
            0x00, 0x01, // message id 1
            0x07, // property length 7
            0x1f, 0x00, 0x04, b'g', b'o', b'n', b'e', // Reason String "gone"
            0x00, // "unsubscribe/test": Success
            0x11, // "x/#": No subscription existed
        ])?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = v5_client("un");
        let events = record_v5(&client);
        start_v5(&client, port, None);
        events.expect(v5_connected(vec![]));
        let props = Properties::new(PacketTypes::UNSUBSCRIBE)
            .with(Property::UserProperty("key".into(), "value".into()))
            .unwrap();
        let mid = client
            .unsubscribe_with(["unsubscribe/test", "x/#"], props)
            .unwrap();
        assert_eq!(mid, 1);
        events.expect(V5::Unsubscribe {
            mid: 1,
            codes: vec![(0x00, "Success"), (0x11, "No subscription found")],
            props: vec![Property::ReasonString("gone".into())],
        });
        client.disconnect().unwrap();
        events.expect(v5_disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// SUBSCRIBE (MQTT 5) carries each filter's options byte (QoS, No Local, Retain As Published, Retain
/// Handling) and the Subscription Identifier and User Property before the filters; `on_subscribe`
/// gets the SUBACK's reason code for each filter (Granted QoS 1, and 0x87 Not authorized) and its
/// properties.
#[test]
fn subscribe_v5_options_properties_and_codes() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&connect_v5(b"su", 0x02))?;
        s.send(&CONNACK_V5)?;
        s.expect(&packet(&[
            &[0x82, 0x1c],                               // SUBSCRIBE, remaining length 28
            &[0x00, 0x01],                               // message id 1
            &[0x09],                                     // property length 9
            &[0x0b, 0x07],                               // Subscription Identifier 7
            &[0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v'], // User Property "k" = "v"
            &[0x00, 0x05],                               // filter length 5
            b"sub/a",                                    // filter
            // options: Retain Handling 2 (0x20), Retain As Published (0x08), No Local (0x04), QoS 1
            &[0x2d],
            &[0x00, 0x05], // filter length 5
            b"sub/b",      // filter
            &[0x02],       // options: QoS 2
        ]))?;
        s.send(&[
            0x90, 0x0a, // SUBACK, remaining length 10
            0x00, 0x01, // message id 1
            0x05, // property length 5
            0x1f, 0x00, 0x02, b'n', b'o', // Reason String "no"
            0x01, // "sub/a": Granted QoS 1
            0x87, // "sub/b": Not authorized
        ])?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = v5_client("su");
        let events = record_v5(&client);
        start_v5(&client, port, None);
        events.expect(v5_connected(vec![]));
        let all = SubscribeOptions {
            no_local: true,
            retain_as_published: true,
            retain_handling: RETAIN_DO_NOT_SEND,
            ..SubscribeOptions::new(1).unwrap()
        };
        let qos2 = SubscribeOptions::new(2).unwrap();
        let props = Properties::new(PacketTypes::SUBSCRIBE)
            .with(Property::UserProperty("k".into(), "v".into()))
            .unwrap()
            .with(Property::SubscriptionIdentifier(7))
            .unwrap();
        let mid = client
            .subscribe_with(
                [("sub/a", all), ("sub/b", qos2)],
                SubscribeOptions::default(),
                Some(props),
            )
            .unwrap();
        assert_eq!(mid, 1);
        events.expect(V5::Subscribe {
            mid: 1,
            codes: vec![(0x01, "Granted QoS 1"), (0x87, "Not authorized")],
            props: vec![Property::ReasonString("no".into())],
        });
        client.disconnect().unwrap();
        events.expect(v5_disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// subscribe-wildcard-unavailable-v5, and beyond Paho the other two: after a CONNACK that says
/// wildcard subscriptions, subscription identifiers and shared subscriptions are not available, a
/// SUBSCRIBE that needs one of them fails at the call with `Error::NotSupported`, sends nothing and
/// uses no message id; a plain one goes out.
#[test]
fn subscribe_unavailable_features_are_refused_at_the_call() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&connect_v5(b"wu", 0x02))?;
        s.send(&[
            0x20, 0x09, // CONNACK, remaining length 9
            0x00, // no session present
            0x00, // Success
            0x06, // property length 6
            0x28, 0x00, // Wildcard Subscription Available 0
            0x2a, 0x00, // Shared Subscription Available 0
            0x29, 0x00, // Subscription Identifier Available 0
        ])?;
        s.expect(&[
            0x82, 0x09, // SUBSCRIBE, remaining length 9
            0x00, 0x01, // message id 1
            0x00, // property length 0
            0x00, 0x03, b'a', b'/', b'b', // filter "a/b"
            0x01, // options: QoS 1
        ])?;
        s.send(&[
            0x90, 0x04, // SUBACK, remaining length 4
            0x00, 0x01, // message id 1
            0x00, // property length 0
            0x01, // Granted QoS 1
        ])?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = v5_client("wu");
        let events = record_v5(&client);
        start_v5(&client, port, None);
        events.expect(v5_connected(vec![
            Property::WildcardSubscriptionAvailable(0),
            Property::SubscriptionIdentifierAvailable(0),
            Property::SharedSubscriptionAvailable(0),
        ]));
        for filter in ["a/+", "a/#", "$share/g/a/b"] {
            let r = client.subscribe(filter, 1);
            assert!(matches!(r, Err(Error::NotSupported(_))), "{filter}: {r:?}");
        }
        let with_id = Properties::new(PacketTypes::SUBSCRIBE)
            .with(Property::SubscriptionIdentifier(1))
            .unwrap();
        let r = client.subscribe_with("a/b", SubscribeOptions::new(1).unwrap(), Some(with_id));
        assert!(matches!(r, Err(Error::NotSupported(_))), "{r:?}");
        assert_eq!(client.subscribe("a/b", 1).unwrap(), 1);
        events.expect(V5::Subscribe {
            mid: 1,
            codes: vec![(0x01, "Granted QoS 1")],
            props: vec![],
        });
        client.disconnect().unwrap();
        events.expect(v5_disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}
