//! Thread safety: many threads publishing through one client, publishes from other threads and from
//! callbacks going out at once, and the calls that would deadlock or hang in Paho (`wait_for_publish`
//! in a callback or with no loop, `disconnect`/`loop_stop` from a callback, panicking callbacks,
//! userdata access from a callback) failing fast instead.
//!
//! The tests that need a broker use a mosquitto started on a free loopback port (see `common`) and are
//! skipped when it is not installed (unless `PAHOISH_REQUIRE_MOSQUITTO=1`); the others need nothing.
//! Every wait is bounded; a watchdog fails a test that hangs anyway.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{
    bounded, client_id, free_port, publisher, recv, subscribe_and_wait, subscriber, watchdog, Live,
    Mosquitto, HOST, TEST_LIMIT, WAIT,
};
use pahoish::{Client, Error, Message, MessageInfo};

/// `Client` is `Clone + Send + Sync` whatever its userdata (checked when this file compiles), and so are
/// the values that cross threads with it.
const _: fn() = || {
    fn shared<T: Clone + Send + Sync + 'static>() {}
    fn sendable<T: Send + Sync + 'static>() {}
    shared::<Client>();
    shared::<Client<Vec<u8>>>();
    shared::<Client<std::sync::mpsc::Sender<String>>>();
    shared::<MessageInfo>();
    shared::<Message>();
    sendable::<Error>();
};

/// A fast answer: generous enough for a loaded CI machine, far below the 1 s a loop timeout would take.
const PROMPT: Duration = Duration::from_millis(500);

/// A clone used from other threads works (publishing while not connected: rc NO_CONN, message kept).
#[test]
fn clones_work_from_other_threads() {
    let _wd = watchdog(TEST_LIMIT);
    let client = Client::new("");
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let c = client.clone();
            thread::spawn(move || c.publish("threads/clone", i, 1, false).map(|info| info.rc))
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap().unwrap(), pahoish::MQTT_ERR_NO_CONN);
    }
}

const THREADS: usize = 8;
const PER_THREAD: usize = 500;

/// 8 threads publish 500 QoS 1 messages each to `topic` through `publ` (its loop running), then wait for
/// every PUBACK; `messages` (a QoS 1 subscriber of `topic`) must then deliver exactly those 4000
/// payloads, no duplicates, each thread's in the order it published them.
fn burst_from_8_threads(publ: &Client, topic: &'static str, messages: &mpsc::Receiver<Message>) {
    let start = Instant::now();
    let deadline = start + Duration::from_secs(60);
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let c = publ.clone();
            thread::spawn(move || {
                let infos: Vec<MessageInfo> = (0..PER_THREAD)
                    .map(|i| {
                        c.publish(topic, format!("{t}-{i}"), 1, false)
                            .expect("publish")
                    })
                    .collect();
                for info in &infos {
                    let left = deadline.saturating_duration_since(Instant::now());
                    assert!(
                        info.wait_for_publish(Some(left)).expect("wait_for_publish"),
                        "thread {t}: message {} not acknowledged in time",
                        info.mid
                    );
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("publisher thread");
    }
    let acked = start.elapsed();

    let mut seen = HashSet::new();
    let mut next: HashMap<usize, usize> = HashMap::new();
    for n in 0..THREADS * PER_THREAD {
        let msg = recv(messages, &format!("message {} of 4000", n + 1));
        assert_eq!(msg.qos, 1);
        let text = msg.payload_str().expect("text payload").to_owned();
        let (t, i) = text.split_once('-').expect("t-i payload");
        let (t, i): (usize, usize) = (t.parse().unwrap(), i.parse().unwrap());
        assert!(t < THREADS && i < PER_THREAD, "unexpected payload {text}");
        assert!(seen.insert(text.clone()), "{text} delivered twice");
        let expected = next.entry(t).or_insert(0);
        assert_eq!(i, *expected, "thread {t}'s messages out of order");
        *expected += 1;
    }
    assert_eq!(seen.len(), THREADS * PER_THREAD);
    eprintln!(
        "4000 QoS 1 messages from 8 threads: all acknowledged after {acked:?}, all received after {:?}",
        start.elapsed()
    );
}

/// 8 threads publish 500 QoS 1 messages each through one client while its `loop_start` thread runs:
/// every `wait_for_publish` reports the PUBACK, and the subscriber gets exactly 4000 distinct
/// payloads, each thread's in the order it published them.
#[test]
fn qos1_from_8_threads_all_acknowledged_and_all_received() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let topic = "threads/many";
    let (sub, messages) = subscriber(broker.port, topic, 1);
    let publ = publisher(broker.port);
    burst_from_8_threads(&publ, topic, &messages);
    publ.stop().unwrap();
    sub.stop().unwrap();
}

/// After that burst, the publisher's loop is idle, and one more publish from another thread must still
/// wake it and reach the subscriber promptly (and be the next thing it gets: no duplicates of the
/// burst). Proves no wake-up is lost when many threads wake the loop at once.
#[test]
fn publish_after_a_burst_from_many_threads_is_not_stranded() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let topic = "threads/after-burst";
    let (sub, messages) = subscriber(broker.port, topic, 1);
    let publ = publisher(broker.port);
    burst_from_8_threads(&publ, topic, &messages);

    for round in 0..5 {
        let c = publ.client().clone();
        let sender = thread::spawn(move || {
            let sent = Instant::now();
            let info = c
                .publish(topic, format!("after {round}"), 1, false)
                .expect("publish");
            (sent, info.wait_for_publish(Some(WAIT)))
        });
        let (sent, published) = sender.join().unwrap();
        assert!(
            published.expect("wait_for_publish"),
            "round {round}: a publish after the burst was never sent (waited {WAIT:?})"
        );
        let msg = recv(&messages, "the publish after the burst");
        assert_eq!(msg.payload, format!("after {round}").as_bytes());
        let latency = sent.elapsed();
        assert!(
            latency < PROMPT,
            "round {round}: {latency:?} from publish to the subscriber"
        );
    }
    publ.stop().unwrap();
    sub.stop().unwrap();
}

/// A publish from another thread, while the publisher's loop is idle in poll, reaches the subscriber's
/// `on_message` promptly: the loop is woken, it does not wait for a loop timeout.
#[test]
fn publish_from_another_thread_reaches_subscriber_promptly() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let topic = "threads/prompt";
    let client = Client::new(&client_id("prompt-sub"));
    let (tx, arrivals) = mpsc::channel();
    client.on_message(move |_c, _u, msg| {
        let _ = tx.send((msg.payload.clone(), Instant::now()));
    });
    let sub = Live::connect(client, broker.port);
    subscribe_and_wait(&sub, topic, 0);
    let publ = publisher(broker.port);
    // Warm up: the connection is established and both loops are idle afterwards.
    publ.publish(topic, "warm-up", 1, false)
        .unwrap()
        .wait_for_publish(Some(WAIT))
        .unwrap();
    assert_eq!(recv(&arrivals, "the warm-up message").0, b"warm-up");

    let mut worst = Duration::ZERO;
    for round in 0..5 {
        let c = publ.client().clone();
        let sender = thread::spawn(move || {
            let sent = Instant::now();
            c.publish(topic, format!("round {round}"), 0, false)
                .expect("publish");
            sent
        });
        let sent = sender.join().unwrap();
        let (payload, arrived) = recv(&arrivals, "the message");
        assert_eq!(payload, format!("round {round}").as_bytes());
        let latency = arrived.duration_since(sent);
        worst = worst.max(latency);
        assert!(
            latency < PROMPT,
            "round {round}: {latency:?} from publish to on_message"
        );
    }
    eprintln!("worst publish-to-on_message latency: {worst:?}");
    publ.stop().unwrap();
    sub.stop().unwrap();
}

/// A publish made inside `on_message` goes out as soon as the callback returns, not a loop turn (or a
/// keepalive) later: a ping/pong round trip through two callbacks is fast (Paho issue #234).
#[test]
fn publish_from_a_callback_goes_out_promptly() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let echo = Client::new(&client_id("echo"));
    echo.on_message(|c, _u, msg| {
        c.publish("threads/pong", msg.payload.clone(), 1, false)
            .expect("publish from on_message");
    });
    let echo = Live::connect(echo, broker.port);
    subscribe_and_wait(&echo, "threads/ping", 1);
    let (pongs_sub, pongs) = subscriber(broker.port, "threads/pong", 1);
    let publ = publisher(broker.port);
    for round in 0..5 {
        let sent = Instant::now();
        publ.publish("threads/ping", format!("{round}"), 1, false)
            .unwrap();
        let msg = recv(&pongs, "the pong");
        let rtt = sent.elapsed();
        assert_eq!(msg.payload, format!("{round}").as_bytes());
        assert!(rtt < PROMPT, "round {round}: ping/pong took {rtt:?}");
    }
    publ.stop().unwrap();
    pongs_sub.stop().unwrap();
    echo.stop().unwrap();
}

/// `disconnect()` and `loop_stop()` called from inside `on_message` return at once (no deadlock on the
/// loop running the callback), the loop thread ends with a normal disconnection, and a later
/// `loop_stop()` from the main thread joins it and returns Ok.
#[test]
fn disconnect_and_loop_stop_inside_on_message_do_not_deadlock() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let topic = "threads/stop-inside";
    let client = Client::new(&client_id("stop-inside"));
    let (tx, inside) = mpsc::channel();
    client.on_message(move |c, _u, _msg| {
        let started = Instant::now();
        let d = c.disconnect();
        let s = c.loop_stop();
        let _ = tx.send((d, s, started.elapsed()));
    });
    let (tx, disconnected) = mpsc::channel();
    client.on_disconnect(move |_c, _u, _f, rc, _p| {
        let _ = tx.send(rc);
    });
    let sub = Live::connect(client.clone(), broker.port);
    subscribe_and_wait(&sub, topic, 1);
    let publ = publisher(broker.port);
    publ.publish(topic, "stop", 1, false).unwrap();

    let (d, s, took) = recv(&inside, "on_message's disconnect/loop_stop");
    d.expect("disconnect from on_message");
    s.expect("loop_stop from on_message");
    assert!(
        took < PROMPT,
        "disconnect + loop_stop in a callback took {took:?}"
    );
    let rc = recv(&disconnected, "on_disconnect");
    assert_eq!(rc, 0, "a normal disconnection: {rc}");
    bounded("loop_stop from the main thread", move || client.loop_stop())
        .expect("loop_stop joins the ended loop thread");
    drop(sub); // nothing left to stop
    publ.stop().unwrap();
}

/// `loop_stop()` alone from inside `on_message` (no disconnect) ends the loop thread once it is idle,
/// and the main thread's `loop_stop()` joins it.
#[test]
fn loop_stop_alone_inside_on_message_ends_the_loop_thread() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let topic = "threads/loop-stop-inside";
    let client = Client::new(&client_id("loop-stop-inside"));
    let (tx, inside) = mpsc::channel();
    client.on_message(move |c, _u, _msg| {
        let _ = tx.send(c.loop_stop());
    });
    let sub = Live::connect(client.clone(), broker.port);
    subscribe_and_wait(&sub, topic, 1);
    let publ = publisher(broker.port);
    publ.publish(topic, "stop", 1, false).unwrap();
    recv(&inside, "on_message's loop_stop").expect("loop_stop from on_message");
    bounded("loop_stop from the main thread", move || client.loop_stop())
        .expect("loop_stop joins the ended loop thread");
    // The loop is gone: a new one can start (LoopAlreadyRunning otherwise).
    sub.loop_start().expect("loop_start after the loop ended");
    sub.stop().unwrap();
    publ.stop().unwrap();
}

/// `wait_for_publish` inside a callback fails at once with `WouldDeadlock` (the loop that would publish
/// the message is the one waiting: Paho hangs there, issues #439, #550), with or without a timeout; the
/// message itself still goes out when the callback returns.
#[test]
fn wait_for_publish_inside_on_message_is_would_deadlock() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let topic = "threads/wfp-inside";
    let client = Client::new(&client_id("wfp-inside"));
    let (tx, inside) = mpsc::channel();
    client.on_message(move |c, _u, _msg| {
        let info = c
            .publish("threads/wfp-inside/out", "from callback", 1, false)
            .expect("publish from on_message");
        let started = Instant::now();
        let with_timeout = info.wait_for_publish(Some(WAIT));
        let without = info.wait_for_publish(None);
        let _ = tx.send((with_timeout, without, started.elapsed(), info));
    });
    let sub = Live::connect(client, broker.port);
    subscribe_and_wait(&sub, topic, 1);
    let publ = publisher(broker.port);
    publ.publish(topic, "go", 1, false).unwrap();

    let (with_timeout, without, took, info) = recv(&inside, "the callback's results");
    assert!(
        matches!(with_timeout, Err(Error::WouldDeadlock(_))),
        "{with_timeout:?}"
    );
    assert!(
        matches!(without, Err(Error::WouldDeadlock(_))),
        "{without:?}"
    );
    assert!(took < PROMPT, "took {took:?}");
    let text = with_timeout.unwrap_err().to_string();
    assert!(text.contains("callback"), "{text}");
    // From outside the callback the same message can be waited for.
    assert!(info.wait_for_publish(Some(WAIT)).unwrap());
    publ.stop().unwrap();
    sub.stop().unwrap();
}

/// The same without a broker: inside `on_connect_fail` (a refused TCP connection under `loop_start`),
/// `wait_for_publish` on a kept QoS 1 message is `WouldDeadlock` at once.
#[test]
fn wait_for_publish_inside_on_connect_fail_is_would_deadlock() {
    let _wd = watchdog(TEST_LIMIT);
    let client = Client::new("");
    client.reconnect_delay_set(0.05, 0.1).unwrap();
    let (tx, inside) = mpsc::channel();
    let tx = std::sync::Mutex::new(Some(tx));
    client.on_connect_fail(move |c, _u| {
        let Some(tx) = tx.lock().unwrap().take() else {
            return; // only the first failure
        };
        let info = c.publish("threads/x", "x", 1, false).expect("publish");
        let started = Instant::now();
        let r = info.wait_for_publish(None);
        let _ = tx.send((info.rc, r, started.elapsed()));
    });
    client.connect_async(HOST, free_port(), 60).unwrap();
    client.loop_start().unwrap();
    let (rc, r, took) = recv(&inside, "on_connect_fail");
    assert_eq!(rc, pahoish::MQTT_ERR_NO_CONN);
    assert!(matches!(r, Err(Error::WouldDeadlock(_))), "{r:?}");
    assert!(took < PROMPT, "took {took:?}");
    bounded("loop_stop", move || client.loop_stop()).unwrap();
}

/// `wait_for_publish` with no network loop running fails at once instead of hanging (Paho issues #439,
/// #875): not connected, and connected with nobody reading the socket.
#[test]
fn wait_for_publish_without_a_loop_fails_fast() {
    let _wd = watchdog(TEST_LIMIT);
    let client = Client::new("");
    let info = client.publish("threads/no-loop", "x", 1, false).unwrap();
    assert_eq!(info.rc, pahoish::MQTT_ERR_NO_CONN);
    let started = Instant::now();
    let r = bounded("wait_for_publish(None) without a loop", move || {
        info.wait_for_publish(None)
    });
    assert!(matches!(r, Err(Error::WouldDeadlock(_))), "{r:?}");
    assert!(started.elapsed() < PROMPT);
    let text = r.unwrap_err().to_string();
    assert!(
        text.contains("loop_start"),
        "the error says what to do: {text}"
    );

    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let client = Client::new(&client_id("no-loop"));
    client.connect(HOST, broker.port, 60).unwrap();
    let info = client.publish("threads/no-loop", "x", 1, false).unwrap();
    assert_eq!(info.rc, pahoish::MQTT_ERR_SUCCESS);
    let started = Instant::now();
    let r = bounded(
        "wait_for_publish(None) connected without a loop",
        move || info.wait_for_publish(None),
    );
    assert!(matches!(r, Err(Error::WouldDeadlock(_))), "{r:?}");
    assert!(started.elapsed() < PROMPT);
    client.disconnect().unwrap();
}

/// A `wait_for_publish` that is waiting when `loop_stop()` ends the loop returns an error instead of
/// waiting forever for a message no loop will send.
#[test]
fn wait_for_publish_returns_when_the_loop_stops() {
    let _wd = watchdog(TEST_LIMIT);
    let client = Client::new("");
    client.reconnect_delay_set(0.05, 0.1).unwrap();
    let (tx, failed) = mpsc::channel();
    client.on_connect_fail(move |_c, _u| {
        let _ = tx.send(());
    });
    client.connect_async(HOST, free_port(), 60).unwrap();
    client.loop_start().unwrap();
    // The loop runs (it has failed to connect once), so a waiter waits.
    recv(&failed, "the first failed connection attempt");
    let info = client.publish("threads/stopped", "x", 1, false).unwrap();
    let (tx, waited) = mpsc::channel();
    let waiter = thread::spawn(move || {
        let _ = tx.send(info.wait_for_publish(None));
    });
    assert!(
        waited.recv_timeout(Duration::from_millis(200)).is_err(),
        "wait_for_publish returned while the loop was running"
    );
    let c = client.clone();
    bounded("loop_stop", move || c.loop_stop()).unwrap();
    let r = recv(&waited, "wait_for_publish to return after loop_stop");
    assert!(matches!(r, Err(Error::WouldDeadlock(_))), "{r:?}");
    waiter.join().unwrap();
}

/// `wait_for_publish` right after `loop_start()` returns waits for the loop instead of failing: the
/// loop counts as running from the moment `loop_start` returns, not from when its thread gets going.
#[test]
fn wait_for_publish_right_after_loop_start_waits() {
    let _wd = watchdog(TEST_LIMIT);
    let mut early = 0;
    for _ in 0..200 {
        let client = Client::new("");
        client.connect_async(HOST, free_port(), 60).unwrap();
        // Published before the loop starts (kept, as not connected), so nothing stands between
        // loop_start() returning and the wait.
        let info = client.publish("threads/early", "x", 1, false).unwrap();
        client.loop_start().unwrap();
        let r = info.wait_for_publish(Some(Duration::from_millis(1)));
        if matches!(r, Err(Error::WouldDeadlock(_))) {
            early += 1;
        } else {
            assert!(matches!(r, Ok(false)), "{r:?}");
        }
        let c = client.clone();
        bounded("loop_stop", move || c.loop_stop()).unwrap();
    }
    assert_eq!(
        early, 0,
        "{early} of 200 wait_for_publish calls right after loop_start failed with WouldDeadlock"
    );
}

/// A panicking `on_message` is caught and logged (with the panic's message, through `on_log`), and the
/// loop goes on: the next message is delivered (Paho issues #365, #504).
#[test]
fn panicking_on_message_is_logged_and_the_loop_goes_on() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let topic = "threads/panic";
    let client = Client::new(&client_id("panic"));
    let (tx, messages) = mpsc::channel();
    client.on_message(move |_c, _u, msg| {
        if msg.payload == b"boom" {
            panic!("boom from on_message");
        }
        let _ = tx.send(msg.payload.clone());
    });
    let (tx, log) = mpsc::channel();
    client.on_log(move |_c, _u, level, line| {
        if line.contains("boom from on_message") {
            let _ = tx.send((level, line.to_owned()));
        }
    });
    let sub = Live::connect(client, broker.port);
    subscribe_and_wait(&sub, topic, 1);
    let publ = publisher(broker.port);
    publ.publish(topic, "boom", 1, false).unwrap();
    publ.publish(topic, "after", 1, false).unwrap();

    let (level, line) = recv(&log, "the logged panic");
    assert_eq!(level, pahoish::MQTT_LOG_ERR);
    assert!(line.contains("boom from on_message"), "{line}");
    assert_eq!(recv(&messages, "the message after the panic"), b"after");
    assert!(sub.is_connected());
    publ.stop().unwrap();
    sub.stop().expect("loop_stop after a caught panic");
}

/// With `suppress_exceptions(false)` a panic in `on_message` ends the `loop_start` thread, and
/// `loop_stop()` reports it as `CallbackPanicked` with the panic's message.
#[test]
fn unsuppressed_panic_ends_the_loop_and_loop_stop_reports_it() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let topic = "threads/panic-unsuppressed";
    let client = Client::builder()
        .client_id(client_id("panic-unsuppressed"))
        .suppress_exceptions(false)
        .build()
        .unwrap();
    let (tx, about_to_panic) = mpsc::channel();
    client.on_message(move |_c, _u, _msg| {
        let _ = tx.send(());
        panic!("fatal callback");
    });
    let sub = Live::connect(client.clone(), broker.port);
    subscribe_and_wait(&sub, topic, 1);
    let publ = publisher(broker.port);
    publ.publish(topic, "boom", 1, false).unwrap();
    recv(&about_to_panic, "on_message");
    // The thread panics whatever loop_stop asks it, so joining it reports the panic.
    let r = bounded("loop_stop after the panic", move || client.loop_stop());
    match r {
        Err(Error::CallbackPanicked(msg)) => assert!(msg.contains("fatal callback"), "{msg}"),
        other => panic!("expected CallbackPanicked, got {other:?}"),
    }
    let _ = sub.disconnect();
    drop(sub);
    publ.stop().unwrap();
}

/// Without a broker: inside a callback (`on_pre_connect`, run by `connect` on the calling thread)
/// `user_data_get` is `WouldDeadlock` (the callback holds the userdata; its argument is the way in), and
/// `user_data_set` takes effect when the callback returns.
#[test]
fn user_data_get_and_set_inside_a_callback() {
    let _wd = watchdog(TEST_LIMIT);
    let client = Client::builder().userdata(0u32).build().unwrap();
    let (tx, inside) = mpsc::channel();
    client.on_pre_connect(move |c, ud| {
        let got = c.user_data_get();
        c.user_data_set(42);
        let _ = tx.send((got, *ud));
    });
    let err = client
        .connect(HOST, free_port(), 60)
        .expect_err("nothing listens there");
    assert!(matches!(err, Error::Io(_)), "{err:?}");
    let (got, seen) = recv(&inside, "on_pre_connect");
    assert!(matches!(got, Err(Error::WouldDeadlock(_))), "{got:?}");
    assert_eq!(seen, 0, "the set is deferred until the callback returns");
    assert_eq!(client.user_data_get().unwrap(), 42);
}

/// The same on the loop thread with a broker: the value set in one `on_message` is the `userdata`
/// argument of the next, and what the main thread reads afterwards.
#[test]
fn user_data_set_in_on_message_is_seen_by_the_next_callback() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let topic = "threads/userdata";
    let client = Client::builder()
        .client_id(client_id("userdata"))
        .userdata(0u32)
        .build()
        .unwrap();
    let (tx, inside) = mpsc::channel();
    client.on_message(move |c, ud, _msg| {
        let before = *ud;
        let got = c.user_data_get();
        c.user_data_set(before + 7);
        let _ = tx.send((before, got, *ud));
    });
    let sub = Live::connect(client, broker.port);
    subscribe_and_wait(&sub, topic, 1);
    let publ = publisher(broker.port);
    publ.publish(topic, "1", 1, false).unwrap();
    let (before, got, after_set) = recv(&inside, "the first on_message");
    assert_eq!((before, after_set), (0, 0));
    assert!(matches!(got, Err(Error::WouldDeadlock(_))), "{got:?}");
    publ.publish(topic, "2", 1, false).unwrap();
    let (before, _, _) = recv(&inside, "the second on_message");
    assert_eq!(before, 7, "the first callback's user_data_set took effect");
    assert_eq!(sub.user_data_get().unwrap(), 14);
    publ.stop().unwrap();
    sub.stop().unwrap();
}

/// Several threads subscribing, publishing and unsubscribing at once on one client: every request is
/// acknowledged once and nothing deadlocks.
#[test]
fn concurrent_subscribe_publish_unsubscribe() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let client = Client::new(&client_id("mixed"));
    let (tx, subacks) = mpsc::channel();
    client.on_subscribe(move |_c, _u, mid, _codes, _p| {
        let _ = tx.send(mid);
    });
    let (tx, unsubacks) = mpsc::channel();
    client.on_unsubscribe(move |_c, _u, mid, _codes, _p| {
        let _ = tx.send(mid);
    });
    let live = Live::connect(client, broker.port);
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let c = live.client().clone();
            thread::spawn(move || {
                let mut subs = Vec::new();
                let mut unsubs = Vec::new();
                for i in 0..50 {
                    let filter = format!("threads/mixed/{t}/{i}");
                    subs.push(c.subscribe(filter.as_str(), 1).expect("subscribe"));
                    let info = c.publish(&filter, "x", 1, false).expect("publish");
                    unsubs.push(c.unsubscribe(filter.as_str()).expect("unsubscribe"));
                    assert!(info.wait_for_publish(Some(WAIT)).expect("wait_for_publish"));
                }
                (subs, unsubs)
            })
        })
        .collect();
    let mut want_sub = HashSet::new();
    let mut want_unsub = HashSet::new();
    for h in handles {
        let (s, u) = h.join().expect("worker thread");
        want_sub.extend(s);
        want_unsub.extend(u);
    }
    assert_eq!(
        want_sub.len(),
        200,
        "one message-id counter: 600 ids, none reused"
    );
    let mut got_sub = HashSet::new();
    while got_sub.len() < want_sub.len() {
        assert!(got_sub.insert(recv(&subacks, "a SUBACK")), "SUBACK twice");
    }
    let mut got_unsub = HashSet::new();
    while got_unsub.len() < want_unsub.len() {
        assert!(
            got_unsub.insert(recv(&unsubacks, "an UNSUBACK")),
            "UNSUBACK twice"
        );
    }
    assert_eq!(got_sub, want_sub);
    assert_eq!(got_unsub, want_unsub);
    live.stop().unwrap();
}
