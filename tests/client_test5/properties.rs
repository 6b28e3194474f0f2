//! Properties passed through the broker: user properties, payload format and content type,
//! subscription identifiers, request/response.

use crate::support::{by_payload, opts, publish_props, summary, Conn};
use crate::Broker;
use pahoish::{PacketTypes, Properties, Property, SubscribeOptions};

/// Publishes "qos 0/1/2" to a topic the client subscribes to at QoS 2 with `props`; returns the
/// messages it gets back, by payload.
fn own_messages_with(b: &Broker, tag: &str, props: &[Property]) -> Vec<pahoish::Message> {
    let a = Conn::new(tag).start(b);
    let topic = format!("ct5/{tag}");
    a.sub(&topic, 2);
    for qos in 0..3 {
        let payload = format!("qos {qos}");
        a.publish_props(&topic, payload.as_bytes(), qos, false, publish_props(props));
    }
    let got = by_payload(a.sync(&a));
    assert_eq!(
        got.iter().map(|m| m.qos).collect::<Vec<_>>(),
        [0, 1, 2],
        "{}: {:?}",
        b.name(),
        summary(&got)
    );
    a.stop();
    got
}

/// User properties (a name repeated among them) arrive at each QoS, all of them, in order.
pub fn user_properties(b: &Broker) {
    let props = [
        Property::UserProperty("a".into(), "2".into()),
        Property::UserProperty("c".into(), "3".into()),
        Property::UserProperty("a".into(), "4".into()),
    ];
    for m in own_messages_with(b, "user-props", &props) {
        assert_eq!(
            m.properties.user_properties().collect::<Vec<_>>(),
            [("a", "2"), ("c", "3"), ("a", "4")],
            "{}: QoS {}",
            b.name(),
            m.qos
        );
    }
}

/// Payload Format Indicator and Content Type arrive at each QoS.
pub fn payload_format(b: &Broker) {
    let props = [
        Property::PayloadFormatIndicator(1),
        Property::ContentType("text/x-ct5; charset=utf-8".into()),
    ];
    for m in own_messages_with(b, "payload-format", &props) {
        assert_eq!(
            m.properties.payload_format_indicator(),
            Some(1),
            "{}",
            b.name()
        );
        assert_eq!(
            m.properties.content_type(),
            Some("text/x-ct5; charset=utf-8"),
            "{}",
            b.name()
        );
    }
}

fn subscription_id(id: u32) -> Option<Properties> {
    Some(
        Properties::new(PacketTypes::SUBSCRIBE)
            .with(Property::SubscriptionIdentifier(id))
            .unwrap(),
    )
}

/// A message carries the Subscription Identifier of the subscription it matched (456789, which takes
/// three bytes); a client with two matching subscriptions (identifiers 2 and 3) gets both identifiers,
/// on one message or on one per subscription.
pub fn subscription_identifiers(b: &Broker) {
    let a = Conn::new("subid-a").start(b);
    a.subscribe_opts("ct5/subid", opts(2), subscription_id(456_789));
    let c = Conn::new("subid-b").start(b);
    c.subscribe_opts("ct5/subid", opts(2), subscription_id(2));
    c.subscribe_opts("ct5/subid/#", opts(2), subscription_id(3));
    c.publish("ct5/subid", "subscription identifiers", 1, false);

    let got = a.sync(&c);
    assert_eq!(got.len(), 1, "{}: {:?}", b.name(), summary(&got));
    assert_eq!(
        got[0]
            .properties
            .subscription_identifiers()
            .collect::<Vec<_>>(),
        [456_789],
        "{}",
        b.name()
    );
    let got = c.sync(&c);
    let mut ids: Vec<u32> = got
        .iter()
        .flat_map(|m| m.properties.subscription_identifiers())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, [2, 3], "{}: {:?}", b.name(), summary(&got));
    assert!(
        (1..=2).contains(&got.len()),
        "{}: {:?}",
        b.name(),
        summary(&got)
    );
    a.stop();
    c.stop();
}

/// A requester and a responder share a topic with No Local: the request's Response Topic and
/// Correlation Data reach the responder, whose answer, published to that response topic with that
/// correlation data, reaches the requester; neither gets its own message.
pub fn request_response(b: &Broker) {
    let topic = "ct5/request-response";
    let no_local = SubscribeOptions {
        no_local: true,
        ..opts(2)
    };
    let requester = Conn::new("requester").start(b);
    requester.subscribe_opts(topic, no_local, None);
    let responder = Conn::new("responder").start(b);
    responder.subscribe_opts(topic, no_local, None);

    let request = publish_props(&[
        Property::ResponseTopic(topic.into()),
        Property::CorrelationData(b"334".to_vec()),
    ]);
    requester.publish_props(topic, b"request", 1, false, request);
    let req = responder.next("the request");
    assert_eq!(req.payload, b"request", "{}", b.name());
    assert_eq!(req.properties.response_topic(), Some(topic), "{}", b.name());
    assert_eq!(
        req.properties.correlation_data(),
        Some(&b"334"[..]),
        "{}",
        b.name()
    );

    let answer = publish_props(&[Property::CorrelationData(
        req.properties.correlation_data().unwrap().to_vec(),
    )]);
    let reply_to = req.properties.response_topic().unwrap();
    responder.publish_props(reply_to, b"response", 1, false, answer);
    let resp = requester.next("the response");
    assert_eq!(resp.payload, b"response", "{}", b.name());
    assert_eq!(
        resp.properties.correlation_data(),
        Some(&b"334"[..]),
        "{}",
        b.name()
    );
    requester.expect_nothing(&responder, "after the response");
    responder.expect_nothing(&requester, "after the request");
    requester.stop();
    responder.stop();
}
