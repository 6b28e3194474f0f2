//! `Client::messages`: the received messages through a bounded channel instead of `on_message`,
//! against `TestBroker`. A publisher client sends numbered QoS 1 messages to a subscriber that takes
//! them from the channel; the broker's packet log shows when the subscriber acknowledged them.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use pahoish::crossbeam_channel::{Receiver, RecvTimeoutError};
use pahoish::packet::Packet;
use pahoish::testing::{Direction, TestBroker};
use pahoish::{Client, Message};

/// Every wait here is bounded by this, so a failure fails instead of hanging.
const WAIT: Duration = Duration::from_secs(10);

/// A subscriber to `t/#` at QoS 1, connected with this keepalive and subscribed (SUBACK seen), its
/// loop not started.
fn subscriber(broker: &TestBroker, id: &str, keepalive: u16) -> Client {
    subscriber_qos(broker, id, keepalive, 1)
}

/// [`subscriber`] at this QoS.
fn subscriber_qos(broker: &TestBroker, id: &str, keepalive: u16, qos: u8) -> Client {
    let client = Client::new(id);
    client
        .connect("127.0.0.1", broker.port(), keepalive)
        .expect("connect");
    client.subscribe("t/#", qos).expect("subscribe");
    // The loop of the test's choice comes later: one turn here gets CONNACK and SUBACK.
    let deadline = Instant::now() + WAIT;
    while broker.subscriptions(id).is_empty() {
        assert!(Instant::now() < deadline, "no SUBSCRIBE");
        client.r#loop(0.05).expect("loop");
    }
    client.r#loop(0.05).expect("loop");
    client
}

/// Publishes `t/<i>` with payload `i` at QoS 1 for each `i` in `range`, from a client of its own,
/// and waits until the broker has every PUBLISH.
fn publish(broker: &TestBroker, range: std::ops::Range<u32>) {
    publish_qos(broker, range, 1);
}

/// [`publish`] at this QoS (1 or 2).
fn publish_qos(broker: &TestBroker, range: std::ops::Range<u32>, qos: u8) {
    let id = format!("publisher-{}", range.start);
    let publisher = Client::new(&id);
    publisher
        .connect("127.0.0.1", broker.port(), 60)
        .expect("connect");
    publisher.loop_start().expect("loop_start");
    for i in range.clone() {
        publisher
            .publish(&format!("t/{i}"), i.to_string(), qos, false)
            .expect("publish");
    }
    let n = range.len();
    let done = if qos == 2 { "PUBCOMP" } else { "PUBACK" };
    assert!(
        broker.wait_for_packets(&id, WAIT, |log| count(log, Direction::Sent, done) == n),
        "the broker did not take every message"
    );
    publisher.disconnect().expect("disconnect");
    publisher.loop_stop().expect("loop_stop");
}

/// How many packets named `name` went `dir` in `log`.
fn count(log: &[(Direction, Packet)], dir: Direction, name: &str) -> usize {
    log.iter()
        .filter(|(d, p)| *d == dir && p.name() == name)
        .count()
}

/// The number a message carries.
fn number(msg: &Message) -> u32 {
    msg.payload_str()
        .and_then(|s| s.parse().ok())
        .expect("a numbered payload")
}

/// Takes `n` messages, failing after `WAIT` without one.
fn take(rx: &Receiver<Message>, n: usize) -> Vec<u32> {
    (0..n)
        .map(|i| {
            number(
                &rx.recv_timeout(WAIT)
                    .unwrap_or_else(|e| panic!("message {i}: {e}")),
            )
        })
        .collect()
}

/// Waits until the channel is full (the loop is then waiting for room), failing after `WAIT`.
fn wait_full(rx: &Receiver<Message>) {
    let deadline = Instant::now() + WAIT;
    while !rx.is_full() {
        assert!(Instant::now() < deadline, "the channel never filled");
        thread::sleep(Duration::from_millis(5));
    }
}

/// Messages arrive in the order sent. A `message_callback_add` filter still takes what it matches,
/// and `on_message` gets nothing while the channel is there.
#[test]
fn messages_arrive_in_order_and_filtered_callbacks_keep_theirs() {
    let broker = TestBroker::start().expect("TestBroker");
    let client = subscriber(&broker, "ordered", 60);
    let (seen_tx, on_message) = mpsc::channel();
    client.on_message(move |_, _, msg: &Message| {
        let _ = seen_tx.send(msg.topic.clone());
    });
    let (filtered_tx, filtered) = mpsc::channel();
    client
        .message_callback_add("t/7", move |_, _, msg| {
            let _ = filtered_tx.send(number(msg));
        })
        .expect("message_callback_add");
    let rx = client.messages(16);
    client.loop_start().expect("loop_start");
    publish(&broker, 0..200);
    let got = take(&rx, 199);
    let expected: Vec<u32> = (0..200).filter(|&i| i != 7).collect();
    assert_eq!(got, expected);
    assert_eq!(filtered.recv_timeout(WAIT).expect("t/7"), 7);
    assert!(on_message.try_recv().is_err(), "on_message was called");
    client.disconnect().expect("disconnect");
    client.loop_stop().expect("loop_stop");
    // The loop ended: so does the iteration.
    assert_eq!(rx.recv_timeout(WAIT), Err(RecvTimeoutError::Disconnected));
}

/// A consumer that takes nothing for a while, with room for two messages: the loop waits for room,
/// so the broker sees at most two acknowledgements (of the messages in the channel) however long
/// it waits, and nothing is lost: every message comes, in order, and is acknowledged once taken.
#[test]
fn a_slow_consumer_gets_every_qos1_message_and_the_acks_wait_for_it() {
    let broker = TestBroker::start().expect("TestBroker");
    let client = subscriber(&broker, "slow", 60);
    let rx = client.messages(2);
    client.loop_start().expect("loop_start");
    publish(&broker, 0..50);
    assert!(
        broker.wait_for_packets("slow", WAIT, |log| count(log, Direction::Sent, "PUBLISH")
            == 50)
    );
    wait_full(&rx);
    // However long the consumer takes, no acknowledgement beyond the channel's two.
    let acked_more = broker.wait_for_packets("slow", Duration::from_millis(300), |log| {
        count(log, Direction::Received, "PUBACK") > 2
    });
    assert!(
        !acked_more,
        "messages were acknowledged before they were taken"
    );
    let mut got = Vec::new();
    for _ in 0..50 {
        assert!(rx.len() <= 2);
        got.extend(take(&rx, 1));
    }
    assert_eq!(got, (0..50).collect::<Vec<_>>());
    assert!(broker.wait_for_packets("slow", WAIT, |log| count(
        log,
        Direction::Received,
        "PUBACK"
    ) == 50));
    client.disconnect().expect("disconnect");
    client.loop_stop().expect("loop_stop");
}

/// Runs `f` on a thread and fails if it takes longer than `WAIT` (rather than hanging the test).
fn promptly<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let worker = thread::spawn(move || {
        let _ = tx.send(f());
    });
    let r = rx
        .recv_timeout(WAIT)
        .unwrap_or_else(|_| panic!("{what} hung"));
    worker.join().expect("worker");
    r
}

/// `loop_stop()` while the loop waits for room returns at once. The message that was waiting and
/// the ones after it stay in the client, unacknowledged, and come first when a loop runs again.
#[test]
fn loop_stop_while_the_channel_is_full_returns_and_nothing_is_lost() {
    let broker = TestBroker::start().expect("TestBroker");
    let client = subscriber(&broker, "stopped", 60);
    let rx = client.messages(1);
    client.loop_start().expect("loop_start");
    publish(&broker, 0..10);
    wait_full(&rx);
    let c = client.clone();
    promptly("loop_stop", move || c.loop_stop().expect("loop_stop"));
    // The loop ended, so the channel did: the one message in it, then the end.
    assert_eq!(take(&rx, 1), [0]);
    assert_eq!(rx.recv_timeout(WAIT), Err(RecvTimeoutError::Disconnected));
    assert!(count(&broker.packets("stopped"), Direction::Received, "PUBACK") <= 1);
    // A new channel and a new loop: the rest, in order.
    let rx = client.messages(4);
    client.loop_start().expect("loop_start");
    assert_eq!(take(&rx, 9), (1..10).collect::<Vec<_>>());
    assert!(broker.wait_for_packets("stopped", WAIT, |log| count(
        log,
        Direction::Received,
        "PUBACK"
    ) == 10));
    client.disconnect().expect("disconnect");
    client.loop_stop().expect("loop_stop");
}

/// The same at QoS 2, where a message is delivered on PUBREL: the one held when the loop stopped gets
/// its PUBCOMP only once delivered, and each message comes exactly once.
#[test]
fn loop_stop_while_the_channel_is_full_keeps_qos2_messages_too() {
    let broker = TestBroker::start().expect("TestBroker");
    let client = subscriber_qos(&broker, "stopped2", 60, 2);
    let rx = client.messages(1);
    client.loop_start().expect("loop_start");
    publish_qos(&broker, 0..10, 2);
    wait_full(&rx);
    let c = client.clone();
    promptly("loop_stop", move || c.loop_stop().expect("loop_stop"));
    assert_eq!(take(&rx, 1), [0]);
    assert_eq!(rx.recv_timeout(WAIT), Err(RecvTimeoutError::Disconnected));
    assert!(count(&broker.packets("stopped2"), Direction::Received, "PUBCOMP") <= 1);
    let rx = client.messages(4);
    client.loop_start().expect("loop_start");
    assert_eq!(take(&rx, 9), (1..10).collect::<Vec<_>>());
    assert!(broker.wait_for_packets("stopped2", WAIT, |log| count(
        log,
        Direction::Received,
        "PUBCOMP"
    ) == 10));
    client.disconnect().expect("disconnect");
    client.loop_stop().expect("loop_stop");
    assert!(rx.try_recv().is_err(), "a message came twice");
}

/// A manual loop (`loop()`) never waits for room, since its thread is the consumer here: with the
/// channel full it returns, the messages that did not fit stay in the client unacknowledged, and the
/// next calls deliver them in order as the channel empties.
#[test]
fn a_manual_loop_with_a_full_channel_returns_and_delivers_later() {
    let broker = TestBroker::start().expect("TestBroker");
    let client = subscriber(&broker, "manual", 60);
    let rx = client.messages(2);
    publish(&broker, 0..10);
    assert!(
        broker.wait_for_packets("manual", WAIT, |log| count(log, Direction::Sent, "PUBLISH")
            == 10)
    );
    let c = client.clone();
    promptly("loop() with a full channel", move || {
        for _ in 0..5 {
            c.r#loop(0.05).expect("loop");
        }
    });
    assert!(rx.is_full());
    assert!(count(&broker.packets("manual"), Direction::Received, "PUBACK") <= 2);
    let mut got = Vec::new();
    let deadline = Instant::now() + WAIT;
    while got.len() < 10 {
        assert!(Instant::now() < deadline, "only {got:?} arrived");
        got.extend(rx.try_iter().map(|m| number(&m)));
        client.r#loop(0.05).expect("loop");
    }
    assert_eq!(got, (0..10).collect::<Vec<_>>());
    while count(&broker.packets("manual"), Direction::Received, "PUBACK") < 10 {
        assert!(
            Instant::now() < deadline,
            "not every message was acknowledged"
        );
        client.r#loop(0.05).expect("loop");
    }
    client.disconnect().expect("disconnect");
}

/// `disconnect()` while the loop waits for room: the loop ends promptly, and so does the iteration
/// once the message in the channel is taken.
#[test]
fn disconnect_while_the_channel_is_full_ends_the_loop_and_the_iteration() {
    let broker = TestBroker::start().expect("TestBroker");
    let client = subscriber(&broker, "leaving", 60);
    let rx = client.messages(1);
    client.loop_start().expect("loop_start");
    publish(&broker, 0..10);
    wait_full(&rx);
    client.disconnect().expect("disconnect");
    assert!(broker.wait_disconnected("leaving", WAIT));
    let c = client.clone();
    promptly("loop_stop", move || c.loop_stop().expect("loop_stop"));
    let rest: Vec<u32> = promptly("the iteration", move || {
        rx.iter().map(|m| number(&m)).collect()
    });
    assert_eq!(rest, [0]);
}

/// Dropping the receiver while the loop waits for room neither hangs nor panics the loop: the
/// messages go to `on_message` from then on, and the log says so.
#[test]
fn dropping_the_receiver_sends_the_messages_to_on_message_again() {
    let broker = TestBroker::start().expect("TestBroker");
    let client = subscriber(&broker, "dropper", 60);
    let (seen_tx, seen) = mpsc::channel();
    client.on_message(move |_, _, msg| {
        let _ = seen_tx.send(number(msg));
    });
    let (log_tx, log) = mpsc::channel();
    client.on_log(move |_, _, _, line| {
        if line.contains("receiver was dropped") {
            let _ = log_tx.send(line.to_owned());
        }
    });
    let rx = client.messages(1);
    client.loop_start().expect("loop_start");
    publish(&broker, 0..10);
    wait_full(&rx);
    drop(rx); // message 0 goes with it; the loop is waiting with message 1
    let got: Vec<u32> = (1..10)
        .map(|_| seen.recv_timeout(WAIT).expect("on_message"))
        .collect();
    assert_eq!(got, (1..10).collect::<Vec<_>>());
    log.recv_timeout(WAIT).expect("no log line");
    assert!(broker.wait_for_packets("dropper", WAIT, |log| count(
        log,
        Direction::Received,
        "PUBACK"
    ) == 10));
    client.disconnect().expect("disconnect");
    client.loop_stop().expect("loop_stop");
}

/// A lost connection does not end the iteration: the loop reconnects and the messages go on in the
/// same channel.
#[test]
fn a_reconnect_keeps_the_stream_going() {
    let broker = TestBroker::start().expect("TestBroker");
    let client = Client::new("reconnecting");
    client
        .reconnect_delay_set(Duration::from_millis(10), Duration::from_millis(100))
        .expect("reconnect_delay_set");
    let (connected_tx, connected) = mpsc::channel();
    client.on_connect(move |c, _, _, _, _| {
        c.subscribe("t/#", 1).expect("subscribe");
        let _ = connected_tx.send(());
    });
    let rx = client.messages(8);
    client
        .connect("127.0.0.1", broker.port(), 60)
        .expect("connect");
    client.loop_start().expect("loop_start");
    connected.recv_timeout(WAIT).expect("on_connect");
    assert!(broker.wait_for_packets("reconnecting", WAIT, |log| count(
        log,
        Direction::Sent,
        "SUBACK"
    ) == 1));
    publish(&broker, 0..5);
    assert_eq!(take(&rx, 5), (0..5).collect::<Vec<_>>());
    assert!(broker.drop_client("reconnecting"));
    connected.recv_timeout(WAIT).expect("no reconnect");
    assert!(broker.wait_for_packets("reconnecting", WAIT, |log| count(
        log,
        Direction::Sent,
        "SUBACK"
    ) == 2));
    publish(&broker, 5..10);
    assert_eq!(take(&rx, 5), (5..10).collect::<Vec<_>>());
    client.disconnect().expect("disconnect");
    client.loop_stop().expect("loop_stop");
}

/// A consumer slower than the keepalive interval does not cost the connection: while the loop waits
/// for room it pings the broker (TestBroker closes a connection silent for 1.5 x keepalive), and once
/// it reads again it does not take the PINGRESPs it could not read for a dead broker.
#[test]
fn a_consumer_slower_than_the_keepalive_keeps_the_connection() {
    let broker = TestBroker::start().expect("TestBroker");
    let client = subscriber(&broker, "patient", 1);
    let (lost_tx, lost) = mpsc::channel();
    client.on_disconnect(move |_, _, _, rc, _| {
        let _ = lost_tx.send(rc);
    });
    let rx = client.messages(1);
    client.loop_start().expect("loop_start");
    publish(&broker, 0..5);
    wait_full(&rx);
    broker.clear_packets();
    // Three keepalive intervals with nothing taken: the broker hears a PINGREQ in each.
    assert!(broker.wait_for_packets("patient", WAIT, |log| count(
        log,
        Direction::Received,
        "PINGREQ"
    ) >= 3));
    assert_eq!(lost.try_recv().ok(), None, "the connection was lost");
    assert_eq!(take(&rx, 5), (0..5).collect::<Vec<_>>());
    // Reading again, the unread PINGRESPs now read: still connected two keepalive intervals later.
    let pings = count(&broker.packets("patient"), Direction::Received, "PINGREQ");
    assert!(broker.wait_for_packets("patient", WAIT, |log| {
        count(log, Direction::Received, "PINGREQ") >= pings + 2
    }));
    assert_eq!(lost.try_recv().ok(), None, "the connection was lost");
    assert!(client.is_connected());
    client.disconnect().expect("disconnect");
    client.loop_stop().expect("loop_stop");
}

/// MQTT 5 request/response beside the channel: the requester's `request()` gets its reply even with
/// a channel installed (the reply is the request's, not the channel's), and a responder can take the
/// requests from its channel and answer them from that loop.
#[test]
fn a_reply_goes_to_its_request_and_a_responder_can_answer_from_its_channel() {
    let broker = TestBroker::start().expect("TestBroker");
    let v5 = |id: &str| {
        let client = Client::builder()
            .client_id(id)
            .protocol(pahoish::MQTTv5)
            .build()
            .expect("build");
        let (tx, connected) = mpsc::channel();
        client.on_connect(move |_, _, _, _, _| {
            let _ = tx.send(());
        });
        client
            .connect("127.0.0.1", broker.port(), 60)
            .expect("connect");
        (client, connected)
    };
    let (responder, connected) = v5("responder");
    let requests = responder.messages(4);
    responder.loop_start().expect("loop_start");
    connected.recv_timeout(WAIT).expect("responder CONNACK");
    responder.subscribe("echo", 1).expect("subscribe");
    assert!(broker.wait_for_packets("responder", WAIT, |log| count(
        log,
        Direction::Sent,
        "SUBACK"
    ) == 1));
    let answering = {
        let responder = responder.clone();
        thread::spawn(move || {
            let request = requests.recv_timeout(WAIT).expect("no request");
            responder.respond(&request, "pong", 1).expect("respond");
        })
    };
    let (requester, connected) = v5("requester");
    let others = requester.messages(4);
    requester.loop_start().expect("loop_start");
    connected.recv_timeout(WAIT).expect("requester CONNACK");
    let reply = requester.request("echo", "ping", 1, 5.0).expect("request");
    assert_eq!(reply.payload, b"pong");
    assert!(
        others.try_recv().is_err(),
        "the reply went to the channel too"
    );
    answering.join().expect("responder thread");
    for client in [&requester, &responder] {
        client.disconnect().expect("disconnect");
        client.loop_stop().expect("loop_stop");
    }
}
