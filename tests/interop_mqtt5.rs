//! MQTT 5 against a real broker: mosquitto (2.0.11 in CI), started by each test on a free loopback
//! port (see `common::Mosquitto`), as in `interop_mosquitto.rs`. Skipped with a message when mosquitto
//! is not installed, unless `PAHOISH_REQUIRE_MOSQUITTO=1` makes that a failure.
//!
//! Every wait is a channel receive bounded by `common::WAIT`; a watchdog fails a test that hangs anyway.

mod common;

use std::sync::mpsc::{self, Receiver};

use common::{client_id, recv, watchdog, Live, Mosquitto, HOST, TEST_LIMIT, WAIT};
use pahoish::{
    CleanStart, Client, ConnectOptions, Error, MQTTv5, Message, PacketTypes, Properties, Property,
    ReasonCode, SubscribeOptions, RETAIN_DO_NOT_SEND,
};

/// What `on_connect` reported: session present, the reason code, the CONNACK's properties.
type Connack = (bool, ReasonCode, Properties);

/// An MQTT 5 client (id `client_id(tag)` unless `tag` is empty: then the broker assigns one) whose
/// CONNACKs, messages and disconnections arrive on the returned channels.
struct V5Client {
    client: Client,
    connacks: Receiver<Connack>,
    messages: Receiver<Message>,
    disconnects: Receiver<(bool, ReasonCode)>,
}

impl V5Client {
    fn new(tag: &str) -> V5Client {
        let id = if tag.is_empty() {
            String::new()
        } else {
            client_id(tag)
        };
        let client = Client::builder()
            .client_id(id)
            .protocol(MQTTv5)
            .build()
            .unwrap();
        let (tx, connacks) = mpsc::channel();
        client.on_connect(move |_c, _u, flags, rc, props| {
            let _ = tx.send((flags.session_present, rc, props.clone()));
        });
        let (tx, messages) = mpsc::channel();
        client.on_message(move |_c, _u, m| {
            let _ = tx.send(m.clone());
        });
        let (tx, disconnects) = mpsc::channel();
        client.on_disconnect(move |_c, _u, flags, rc, _p| {
            let _ = tx.send((flags.is_disconnect_packet_from_server, rc));
        });
        V5Client {
            client,
            connacks,
            messages,
            disconnects,
        }
    }

    /// `connect_with` (keepalive 60) and `loop_start`; waits for the CONNACK, which must accept.
    fn start(self, port: u16, options: ConnectOptions) -> (Live, Connack, Channels) {
        self.client
            .connect_with(HOST, port, 60, options)
            .unwrap_or_else(|e| panic!("connect to {HOST}:{port}: {e}"));
        self.client.loop_start().expect("loop_start");
        let live = Live::adopt(self.client);
        let connack = recv(&self.connacks, "the CONNACK");
        assert!(!connack.1.is_failure(), "refused: {}", connack.1);
        (
            live,
            connack,
            Channels {
                connacks: self.connacks,
                messages: self.messages,
                disconnects: self.disconnects,
            },
        )
    }
}

/// The channels of a started [`V5Client`].
struct Channels {
    connacks: Receiver<Connack>,
    messages: Receiver<Message>,
    disconnects: Receiver<(bool, ReasonCode)>,
}

/// Subscribes and waits for the SUBACK, checking it granted `expected` (its QoS); returns nothing
/// else. Replaces `on_subscribe`.
fn subscribe_v5(
    client: &Client,
    filter: &str,
    options: SubscribeOptions,
    props: Option<Properties>,
    expected: u8,
) {
    let (tx, rx) = mpsc::channel();
    client.on_subscribe(move |_c, _u, mid, codes, _p| {
        let _ = tx.send((mid, codes.to_vec()));
    });
    let mid = client
        .subscribe_with(filter, options, props)
        .unwrap_or_else(|e| panic!("subscribe {filter:?}: {e}"));
    let (got, codes) = recv(&rx, &format!("the SUBACK for {filter:?}"));
    assert_eq!(got, mid);
    assert_eq!(codes.len(), 1, "{codes:?}");
    assert_eq!(codes[0].value(), expected, "{codes:?}");
    client.on_subscribe(|_c, _u, _m, _codes, _p| {});
}

/// Publishes and waits until the message is published (PUBACK or PUBCOMP).
fn publish_and_wait(
    client: &Client,
    topic: &str,
    payload: &str,
    qos: u8,
    retain: bool,
    props: Properties,
) {
    let info = client
        .publish_with(topic, payload, qos, retain, props)
        .unwrap_or_else(|e| panic!("publish to {topic:?}: {e}"));
    assert!(
        info.wait_for_publish(Some(WAIT)).expect("wait_for_publish"),
        "message {} not published within {WAIT:?}",
        info.mid
    );
}

fn publish_props() -> Properties {
    Properties::new(PacketTypes::PUBLISH)
}

/// The properties a request carries: user properties (a name repeated: their order matters), Content
/// Type, Correlation Data (not UTF-8), Response Topic and Payload Format Indicator.
fn request_props(reply_to: &str) -> Properties {
    let mut p = publish_props();
    for (k, v) in [("a", "1"), ("b", "2"), ("a", "3")] {
        p.set(Property::UserProperty(k.into(), v.into())).unwrap();
    }
    p.set(Property::ContentType("application/json".into()))
        .unwrap();
    p.set(Property::CorrelationData(vec![0x00, 0x01, 0xfe, 0xff]))
        .unwrap();
    p.set(Property::ResponseTopic(reply_to.into())).unwrap();
    p.set(Property::PayloadFormatIndicator(1)).unwrap();
    p
}

/// A 5.0 client subscribes with No Local, Retain Handling 2, a Subscription Identifier and a user
/// property; a retained message already on the topic is not sent to it, nor is its own publish; a
/// message from another client arrives with its user properties (in order, a name repeated), Content
/// Type, Correlation Data, Response Topic and Payload Format Indicator intact, and the Subscription
/// Identifier. Then it disconnects with reason 0x04 (Disconnect with will message) and mosquitto
/// publishes its will, with the will's user property, to the other client.
#[test]
fn properties_subscription_options_and_disconnect_reason_through_mosquitto() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let (other, _, other_ch) = V5Client::new("v5-other").start(broker.port, Default::default());
    subscribe_v5(
        &other,
        "interop5/will",
        SubscribeOptions::new(1).unwrap(),
        None,
        1,
    );
    let retained = publish_props();
    publish_and_wait(&other, "interop5/chat/r", "old", 1, true, retained);

    let me = V5Client::new("v5-me");
    let will_props = Properties::new(PacketTypes::WILLMESSAGE)
        .with(Property::UserProperty("why".into(), "asked".into()))
        .unwrap();
    me.client
        .will_set_with("interop5/will", "gone", 1, false, will_props)
        .unwrap();
    let (me, _, me_ch) = me.start(broker.port, Default::default());
    let options = SubscribeOptions {
        no_local: true,
        retain_handling: RETAIN_DO_NOT_SEND,
        ..SubscribeOptions::new(1).unwrap()
    };
    let sub_props = Properties::new(PacketTypes::SUBSCRIBE)
        .with(Property::SubscriptionIdentifier(5))
        .unwrap()
        .with(Property::UserProperty("sub".into(), "scriber".into()))
        .unwrap();
    subscribe_v5(&me, "interop5/chat/#", options, Some(sub_props), 1);

    // mosquitto queues a message for its subscribers before it acknowledges it: were its own message
    // echoed, it would arrive before the other client's.
    publish_and_wait(
        &me,
        "interop5/chat/mine",
        "mine",
        1,
        false,
        request_props("x"),
    );
    publish_and_wait(
        &other,
        "interop5/chat/theirs",
        "{\"q\": 1}",
        1,
        false,
        request_props("interop5/reply"),
    );
    let msg = recv(&me_ch.messages, "the other client's message");
    assert_eq!(
        (
            msg.topic.as_str(),
            msg.payload.as_slice(),
            msg.qos,
            msg.retain
        ),
        ("interop5/chat/theirs", &b"{\"q\": 1}"[..], 1, false),
        "not the other client's live message (own echoed, or the retained one sent?)"
    );
    let p = &msg.properties;
    assert_eq!(
        p.user_properties().collect::<Vec<_>>(),
        [("a", "1"), ("b", "2"), ("a", "3")]
    );
    assert_eq!(p.content_type(), Some("application/json"));
    assert_eq!(p.correlation_data(), Some(&[0x00, 0x01, 0xfe, 0xff][..]));
    assert_eq!(p.response_topic(), Some("interop5/reply"));
    assert_eq!(p.payload_format_indicator(), Some(1));
    assert_eq!(p.subscription_identifiers().collect::<Vec<_>>(), [5]);

    let rc =
        ReasonCode::from_name(PacketTypes::DISCONNECT, "Disconnect with will message").unwrap();
    me.disconnect_with(Some(rc), None).unwrap();
    let (from_server, rc) = recv(&me_ch.disconnects, "on_disconnect");
    assert!(!from_server && !rc.is_failure(), "{rc}");
    let will = recv(&other_ch.messages, "the will");
    assert_eq!(
        (will.topic.as_str(), will.payload.as_slice()),
        ("interop5/will", &b"gone"[..])
    );
    assert_eq!(
        will.properties.user_properties().collect::<Vec<_>>(),
        [("why", "asked")]
    );
    assert!(me_ch.messages.try_recv().is_err(), "more messages");
    me.stop().unwrap();
    other.stop().unwrap();
}

/// mosquitto's limits reach the client in its CONNACK and are honoured: `max_packet_size 1000` (a
/// publish over it fails with `Error::PacketTooLarge`), `max_inflight_messages 2` (Receive Maximum 2:
/// twenty QoS 2 messages published at once all complete, in order, and mosquitto, which refuses a
/// QoS 2 message beyond the window, neither refuses one nor disconnects the client), `max_keepalive
/// 10` (Server Keep Alive 10 for a client asking 60), `retain_available false` (a retained publish
/// fails with `Error::NotSupported`) and, on a listener of its own, `max_qos 1` (a QoS 2 publish
/// fails with `Error::NotSupported`).
#[test]
fn mosquitto_limits_are_honoured() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Mosquitto::builder()
        .config("max_packet_size 1000")
        .config("max_inflight_messages 2")
        .config("max_keepalive 10")
        .config("retain_available false")
        // A listener's own option: before any listener line mosquitto would open 1883 for it.
        .listener("qos1", &["max_qos 1"])
        .start_or_skip()
    else {
        return;
    };
    let (sub, _, sub_ch) = V5Client::new("v5-limits-sub").start(broker.port, Default::default());
    subscribe_v5(
        &sub,
        "interop5/limits",
        SubscribeOptions::new(2).unwrap(),
        None,
        2,
    );
    let publisher = V5Client::new("v5-limits-pub");
    let (tx, published) = mpsc::channel();
    publisher.client.on_publish(move |_c, _u, mid, rc, _p| {
        let _ = tx.send((mid, rc));
    });
    let (publisher, (_, _, props), pub_ch) = publisher.start(broker.port, Default::default());
    assert_eq!(props.maximum_packet_size(), Some(1000), "{props}");
    assert_eq!(props.receive_maximum(), Some(2), "{props}");
    assert_eq!(props.server_keep_alive(), Some(10), "{props}");
    assert_eq!(props.retain_available(), Some(0), "{props}");
    assert_eq!(props.maximum_qos(), None, "{props}");

    let infos: Vec<_> = (0..20)
        .map(|i| {
            publisher
                .publish("interop5/limits", i.to_string(), 2, false)
                .unwrap()
        })
        .collect();
    for info in &infos {
        let done = info.wait_for_publish(Some(WAIT));
        assert!(matches!(done, Ok(true)), "message {}: {done:?}", info.mid);
    }
    let mids: Vec<u16> = (0..20)
        .map(|_| {
            let (mid, rc) = recv(&published, "on_publish");
            assert!(!rc.is_failure(), "message {mid}: {rc}");
            mid
        })
        .collect();
    let expected: Vec<u16> = infos.iter().map(|i| i.mid).collect();
    assert_eq!(mids, expected, "on_publish out of order");
    for i in 0..20 {
        let m = recv(&sub_ch.messages, "a message at the subscriber");
        assert_eq!(m.payload, i.to_string().as_bytes());
    }

    let r = publisher.publish("interop5/limits", "x", 1, true);
    assert!(matches!(r, Err(Error::NotSupported(_))), "retained: {r:?}");
    let r = publisher.publish("interop5/limits", vec![b'x'; 1000], 1, false);
    assert!(
        matches!(r, Err(Error::PacketTooLarge { max: 1000, .. })),
        "1000-byte payload: {r:?}"
    );
    assert!(
        pub_ch.disconnects.try_recv().is_err(),
        "mosquitto disconnected the publisher"
    );
    assert!(publisher.is_connected());

    let (qos1, (_, _, props), _) =
        V5Client::new("v5-limits-qos1").start(broker.listener_port("qos1"), Default::default());
    assert_eq!(props.maximum_qos(), Some(1), "{props}");
    let r = qos1.publish("interop5/limits", "x", 2, false);
    assert!(matches!(r, Err(Error::NotSupported(_))), "QoS 2: {r:?}");
    qos1.stop().unwrap();
    publisher.stop().unwrap();
    sub.stop().unwrap();
}

/// A 5.0 client with an empty client id gets an Assigned Client Identifier and keeps it: its
/// `reconnect()` (Clean Start never, Session Expiry Interval 300) continues the session mosquitto
/// kept for that id, so the second CONNACK says session present and the subscription made on the
/// first connection still delivers (the client does not resubscribe when the session is present).
#[test]
fn assigned_client_identifier_continues_the_session_on_reconnect() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let props = Properties::new(PacketTypes::CONNECT)
        .with(Property::SessionExpiryInterval(300))
        .unwrap();
    let options = ConnectOptions {
        clean_start: CleanStart::Never,
        properties: Some(props),
        ..ConnectOptions::default()
    };
    let (client, (present, _, props), ch) = V5Client::new("").start(broker.port, options);
    assert!(!present, "a session for a new client id");
    let assigned = props
        .assigned_client_identifier()
        .expect("an Assigned Client Identifier")
        .to_owned();
    subscribe_v5(
        &client,
        "interop5/session",
        SubscribeOptions::new(1).unwrap(),
        None,
        1,
    );

    client.reconnect().unwrap();
    let (present, rc, props) = recv(&ch.connacks, "the second CONNACK");
    assert!(!rc.is_failure(), "{rc}");
    assert!(present, "the session of {assigned:?} was not continued");
    assert_eq!(
        props.assigned_client_identifier(),
        None,
        "mosquitto assigned another id: the client did not send {assigned:?}"
    );

    let (other, _, _) = V5Client::new("v5-session-pub").start(broker.port, Default::default());
    publish_and_wait(
        &other,
        "interop5/session",
        "still there",
        1,
        false,
        publish_props(),
    );
    let msg = recv(&ch.messages, "a message on the kept subscription");
    assert_eq!(msg.payload, b"still there");
    other.stop().unwrap();
    client.stop().unwrap();
}

/// A QoS 0 `publish()` without properties from a 5.0 client reaches a subscriber, and mosquitto keeps
/// the publisher connected.
#[test]
fn qos0_publish_without_properties_reaches_a_subscriber() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let (sub, _, sub_ch) = V5Client::new("v5-q0-sub").start(broker.port, Default::default());
    subscribe_v5(
        &sub,
        "interop5/qos0",
        SubscribeOptions::new(0).unwrap(),
        None,
        0,
    );
    let (publisher, _, pub_ch) = V5Client::new("v5-q0-pub").start(broker.port, Default::default());
    let info = publisher
        .publish("interop5/qos0", "message", 0, false)
        .unwrap();
    assert!(info.wait_for_publish(Some(WAIT)).unwrap());
    let msg = recv(&sub_ch.messages, "the QoS 0 message");
    assert_eq!(msg.payload, b"message");
    assert!(
        pub_ch.disconnects.try_recv().is_err(),
        "mosquitto disconnected the publisher"
    );
    publisher.stop().unwrap();
    sub.stop().unwrap();
}
