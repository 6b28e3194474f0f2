//! MQTT 5 request/response (`Client::request`, `Client::respond`): many requests in flight from many
//! threads each get their own reply; a request nobody answers times out, and its late reply reaches
//! no callback; the server's Response Information names the response topic; 3.1.1 is refused. Against
//! TestBroker, and byte for byte against MockBroker.

mod common;

use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{client_id, recv, watchdog, Live, TEST_LIMIT, WAIT};
use pahoish::packet::{ConnAck, Packet, Publish, QoS, SubAck};
use pahoish::testing::{MockBroker, MockError, TestBroker};
use pahoish::{
    Client, ConnectOptions, Error, MQTTv311, MQTTv5, Message, PacketTypes, Properties, Property,
};

/// A v5 client, connected and looping.
fn connected(port: u16, setup: impl FnOnce(&Client)) -> Live {
    let client = Client::builder()
        .client_id(client_id("rr"))
        .protocol(MQTTv5)
        .build()
        .unwrap();
    setup(&client);
    let (tx, rx) = mpsc::channel();
    client.on_connect(move |_, _, _, _, _| {
        let _ = tx.send(());
    });
    let live = Live::connect(client, port);
    recv(&rx, "CONNACK");
    live
}

/// A responder on `echo/+` that answers with the topic's last level and the payload, and a channel of
/// the requests it saw.
fn echo_responder(port: u16) -> (Live, mpsc::Receiver<Message>) {
    let (tx, seen) = mpsc::channel();
    let (sub_tx, subscribed) = mpsc::channel();
    let live = connected(port, move |c| {
        c.on_subscribe(move |_, _, _, _, _| {
            let _ = sub_tx.send(());
        });
        c.on_message(move |c, _, request| {
            let name = request.topic.rsplit('/').next().unwrap_or("");
            let mut reply = name.as_bytes().to_vec();
            reply.push(b':');
            reply.extend_from_slice(&request.payload);
            c.respond(request, reply, 1).unwrap();
            let _ = tx.send(request.clone());
        });
    });
    live.subscribe("echo/+", 1).unwrap();
    recv(&subscribed, "the responder's SUBACK");
    (live, seen)
}

#[test]
fn many_requests_from_many_threads_each_get_their_reply() {
    let _dog = watchdog(TEST_LIMIT);
    let broker = TestBroker::start().unwrap();
    let (_responder, seen) = echo_responder(broker.port());
    let client = Arc::new(connected(broker.port(), |_| {}));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let client = Arc::clone(&client);
            thread::spawn(move || {
                for i in 0..25 {
                    let payload = format!("{t}-{i}");
                    let reply = client
                        .request(&format!("echo/t{t}"), payload.as_str(), 1, WAIT)
                        .unwrap();
                    assert_eq!(reply.payload, format!("t{t}:{payload}").into_bytes());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // One response topic for the client, one correlation data per request.
    let requests: Vec<Message> = seen.try_iter().collect();
    assert_eq!(requests.len(), 200);
    let topics: std::collections::BTreeSet<_> = requests
        .iter()
        .map(|r| r.properties.response_topic().unwrap().to_owned())
        .collect();
    assert_eq!(topics.len(), 1, "{topics:?}");
    let correlations: std::collections::BTreeSet<_> = requests
        .iter()
        .map(|r| r.properties.correlation_data().unwrap().to_vec())
        .collect();
    assert_eq!(correlations.len(), 200);
}

#[test]
fn an_unanswered_request_times_out_and_its_late_reply_goes_nowhere() {
    let _dog = watchdog(TEST_LIMIT);
    let broker = TestBroker::start().unwrap();
    // A responder that holds the request, then answers when told to.
    let (held_tx, held) = mpsc::channel::<Message>();
    let (sub_tx, subscribed) = mpsc::channel();
    let slow = connected(broker.port(), move |c| {
        c.on_subscribe(move |_, _, _, _, _| {
            let _ = sub_tx.send(());
        });
        c.on_message(move |_, _, request| {
            let _ = held_tx.send(request.clone());
        });
    });
    slow.subscribe("slow", 1).unwrap();
    recv(&subscribed, "the responder's SUBACK");
    let (stray_tx, stray) = mpsc::channel();
    let client = connected(broker.port(), move |c| {
        c.on_message(move |_, _, m| {
            let _ = stray_tx.send(m.topic.clone());
        });
    });
    let e = client
        .request("slow", "?", 1, Duration::from_millis(300))
        .unwrap_err();
    assert!(matches!(e, Error::Timeout(_)), "{e}");
    // Now the reply comes, after the request gave up; then a request that is answered in time.
    let request = recv(&held, "the held request");
    // Acknowledged: the broker has routed it, ahead of anything published after.
    let late = slow.respond(&request, "late", 1).unwrap();
    late.wait_for_publish(Some(WAIT)).unwrap();
    let (_responder, _) = echo_responder(broker.port());
    let reply = client.request("echo/x", "now", 1, WAIT).unwrap();
    assert_eq!(reply.payload, b"x:now");
    assert!(stray.try_recv().is_err(), "a reply reached on_message");
}

#[test]
fn mqtt_3_1_1_is_refused_and_callbacks_cannot_wait() {
    let client = Client::builder().protocol(MQTTv311).build().unwrap();
    assert!(matches!(
        client.request("a", "b", 0, 1.0),
        Err(Error::NotSupported(_))
    ));
    let _dog = watchdog(TEST_LIMIT);
    let broker = TestBroker::start().unwrap();
    let (tx, outcome) = mpsc::channel();
    let client = Client::builder().protocol(MQTTv5).build().unwrap();
    client.on_connect(move |c, _, _, _, _| {
        let _ = tx.send(c.request("a", "b", 0, 1.0).map(|_| ()));
    });
    let _client = Live::connect(client, broker.port());
    assert!(matches!(
        recv(&outcome, "the request from on_connect"),
        Err(Error::WouldDeadlock(_))
    ));
}

/// With Request Response Information in CONNECT, the server's Response Information is the base of the
/// response topic; the request carries it and a correlation data, and the reply with that
/// correlation data is the request's result. Byte for byte where the client's choice is not random.
#[test]
fn the_server_response_information_names_the_response_topic() {
    let _dog = watchdog(TEST_LIMIT);
    let (topic_tx, topic_rx) = mpsc::channel();
    let broker = MockBroker::start(move |s| {
        s.accept()?;
        match s.recv_packet()? {
            Packet::Connect(c) if c.properties.request_response_information() == Some(1) => {}
            other => return Err(MockError::script(format!("not the CONNECT: {other:?}"))),
        }
        s.send_packet(&Packet::ConnAck(ConnAck {
            properties: Properties::new(PacketTypes::CONNACK)
                .with(Property::ResponseInformation("replies/7/".into()))
                .map_err(|e| MockError::script(e.to_string()))?,
            ..ConnAck::default()
        }))?;
        let Packet::Subscribe(sub) = s.recv_packet()? else {
            return Err(MockError::script("no SUBSCRIBE"));
        };
        let (topic, options) = sub.filters[0].clone();
        if !topic.starts_with("replies/7/") || topic.len() != "replies/7/".len() + 16 {
            return Err(MockError::script(format!("response topic {topic:?}")));
        }
        let _ = topic_tx.send(topic.clone());
        s.send_packet(&Packet::SubAck(SubAck {
            pkid: sub.pkid,
            return_codes: vec![options.qos as u8],
            properties: Properties::new(PacketTypes::SUBACK),
        }))?;
        let Packet::Publish(request) = s.recv_packet()? else {
            return Err(MockError::script("no PUBLISH"));
        };
        let correlation = request
            .properties
            .correlation_data()
            .unwrap_or(&[])
            .to_vec();
        if request.topic != "svc"
            || request.properties.response_topic() != Some(topic.as_str())
            || correlation.len() != 16
        {
            return Err(MockError::script(format!("request {request:?}")));
        }
        // Another correlation data first: not this request's reply.
        for (data, payload) in [
            (vec![0u8; 16], &b"not yours"[..]),
            (correlation, &b"yours"[..]),
        ] {
            s.send_packet(&Packet::Publish(Publish {
                topic: topic.clone(),
                payload: payload.to_vec(),
                qos: QoS::AtMostOnce,
                properties: Properties::new(PacketTypes::PUBLISH)
                    .with(Property::CorrelationData(data))
                    .map_err(|e| MockError::script(e.to_string()))?,
                ..Publish::default()
            }))?;
        }
        s.expect(&[0xe0, 0x00]) // DISCONNECT
    });
    let client = Client::builder().protocol(MQTTv5).build().unwrap();
    let (tx, connected) = mpsc::channel();
    client.on_connect(move |_, _, _, _, _| {
        let _ = tx.send(());
    });
    let options = ConnectOptions {
        properties: Some(
            Properties::new(PacketTypes::CONNECT)
                .with(Property::RequestResponseInformation(1))
                .unwrap(),
        ),
        ..ConnectOptions::default()
    };
    client
        .connect_with("127.0.0.1", broker.port(), 60, options)
        .unwrap();
    client.loop_start().unwrap();
    recv(&connected, "CONNACK");
    let reply = client.request("svc", "q", 0, WAIT).unwrap();
    assert_eq!(reply.payload, b"yours");
    assert!(recv(&topic_rx, "the response topic").starts_with("replies/7/"));
    client.disconnect().unwrap();
    client.loop_stop().unwrap();
    broker.finish(WAIT).unwrap();
}
