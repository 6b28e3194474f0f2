//! Sessions and time: session expiry, message expiry, assigned client identifiers, will delay.
//!
//! Session and message expiry are about time passing, so those scenarios let it pass (a few seconds);
//! everything else is waited for on channels.

use std::thread;
use std::time::{Duration, Instant};

use crate::common::client_id;
use crate::support::{by_payload, publish_props, summary, Conn};
use crate::Broker;
use pahoish::Property;

/// Session Expiry Interval 0 ends the session with the connection; 1 keeps it for a second (present
/// at once, gone after 2.5 s); the DISCONNECT's interval replaces the CONNECT's (4 s kept it past the
/// CONNECT's 1 s), and a DISCONNECT with 0 ends it at once.
pub fn session_expiry(b: &Broker) {
    let id = client_id("expiry");
    let connect = |resume: bool, secs: u32| {
        let conn = Conn::with_id(&id).expiry(secs);
        let a = if resume { conn.resume() } else { conn }.start(b);
        assert_eq!(a.connack.1.to_string(), "Success", "{}", b.name());
        a
    };
    let present = |a: &crate::support::V5, expected: bool, what: &str| {
        assert_eq!(a.session_present(), expected, "{}: {what}", b.name());
    };

    let a = connect(false, 0);
    present(&a, false, "a new session");
    a.sub("ct5/expiry", 2);
    a.stop();
    b.wait_disconnected(&id);
    let a = connect(true, 0);
    present(
        &a,
        false,
        "interval 0: the session ended with the connection",
    );
    a.stop();
    b.wait_disconnected(&id);

    let a = connect(false, 1);
    present(&a, false, "a new session");
    a.sub("ct5/expiry", 2);
    a.stop();
    b.wait_disconnected(&id);
    let a = connect(true, 1);
    present(&a, true, "interval 1: kept at once");
    a.stop();
    b.wait_disconnected(&id);
    thread::sleep(Duration::from_millis(2500));
    let a = connect(true, 1);
    present(&a, false, "interval 1: gone after 2.5 s");

    a.sub("ct5/expiry", 2);
    a.disconnect_props(&[Property::SessionExpiryInterval(4)]);
    b.wait_disconnected(&id);
    thread::sleep(Duration::from_millis(2000));
    let a = connect(true, 1);
    present(&a, true, "the DISCONNECT's 4 s replaced the CONNECT's 1 s");
    a.disconnect_props(&[Property::SessionExpiryInterval(0)]);
    b.wait_disconnected(&id);
    let a = connect(true, 1);
    present(&a, false, "the DISCONNECT's 0 ended the session");
    a.stop();
}

/// Messages queued for an offline session with a Message Expiry Interval of 1 s are gone 2.5 s later;
/// those with 5 s are delivered with the time they have left (less than 5, more than 0).
pub fn publication_expiry(b: &Broker) {
    let id = client_id("msg-expiry");
    let s = Conn::with_id(&id).expiry(300).start(b);
    s.sub("ct5/msg-expiry", 2);
    s.stop();
    b.wait_disconnected(&id);

    let p = Conn::new("msg-expiry-pub").start(b);
    for (payload, qos, secs) in [
        ("qos 1 expires", 1, 1),
        ("qos 2 expires", 2, 1),
        ("qos 1 stays", 1, 5),
        ("qos 2 stays", 2, 5),
    ] {
        let props = publish_props(&[Property::MessageExpiryInterval(secs)]);
        p.publish_props("ct5/msg-expiry", payload.as_bytes(), qos, false, props);
    }
    thread::sleep(Duration::from_millis(2500));
    let s = Conn::with_id(&id).resume().expiry(300).start(b);
    assert!(s.session_present(), "{}", b.name());
    let got = by_payload(s.sync(&p));
    assert_eq!(
        summary(&got)
            .into_iter()
            .map(|(_, payload, qos, _)| (payload, qos))
            .collect::<Vec<_>>(),
        [
            ("qos 1 stays".to_string(), 1),
            ("qos 2 stays".to_string(), 2)
        ],
        "{}",
        b.name()
    );
    for m in &got {
        let left = m.properties.message_expiry_interval();
        assert!(
            left.is_some_and(|s| (1..5).contains(&s)),
            "{}: {:?} left: {left:?}",
            b.name(),
            m.payload_str()
        );
    }
    s.stop();
    p.stop();
}

/// A client with an empty client id gets an Assigned Client Identifier, a different one each time.
pub fn assigned_client_id(b: &Broker) {
    let mut ids = Vec::new();
    for _ in 0..2 {
        let a = Conn::new("").start(b);
        let assigned = a
            .connack_props()
            .assigned_client_identifier()
            .unwrap_or_else(|| panic!("{}: no Assigned Client Identifier", b.name()))
            .to_owned();
        assert!(!assigned.is_empty(), "{}", b.name());
        ids.push(assigned);
        a.stop();
    }
    assert_ne!(ids[0], ids[1], "{}", b.name());
}

/// A Will Delay Interval delays the will after the connection is cut, but no longer than the session
/// lasts ([MQTT-3.1.3-9]: the will delay or the session's end, whichever comes first): 1 s with a
/// session of 3 s arrives after about 1 s, and 5 s with a session of 1 s after about 1 s too.
pub fn will_delay(b: &Broker) {
    wills_after_cut(
        b,
        &[
            ("delayed", 1, 3, 0.9, 3.0),
            ("session-ends-first", 5, 1, 0.9, 4.0),
        ],
    );
}

/// As [`will_delay`], for a session that ends with the connection (Session Expiry Interval 0): a will
/// delay of 5 s is cut short, and the will arrives at once.
pub fn will_delay_without_session(b: &Broker) {
    wills_after_cut(b, &[("no-session", 5, 0, 0.0, 2.0)]);
}

/// For each (tag, will delay, session expiry, earliest, latest): a client with that will and session
/// is cut, and its will must arrive between `earliest` and `latest` seconds later.
fn wills_after_cut(b: &Broker, cases: &[(&str, u32, u32, f64, f64)]) {
    let w = Conn::new("will-delay-watch").start(b);
    w.sub("ct5/will-delay/#", 2);
    for &(tag, delay, expiry, earliest, latest) in cases {
        let topic = format!("ct5/will-delay/{tag}");
        let a = Conn::new(tag)
            .expiry(expiry)
            .will(&topic, tag, 1, &[Property::WillDelayInterval(delay)])
            .start(b);
        let start = Instant::now();
        a.cut();
        let will = w.next(&format!("the will of {tag}"));
        let took = start.elapsed().as_secs_f64();
        assert_eq!(will.topic, topic, "{}", b.name());
        assert!(
            (earliest..latest).contains(&took),
            "{}: {tag} (will delay {delay}, session expiry {expiry}): the will came after {took:.2} s, \
             not within {earliest}..{latest} s",
            b.name()
        );
    }
    w.stop();
}
