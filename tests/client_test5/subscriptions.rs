//! Subscription options (No Local, Retain As Published, Retain Handling) and shared subscriptions.

use crate::support::{by_payload, opts, summary, Conn};
use crate::Broker;
use pahoish::{
    SubscribeOptions, RETAIN_DO_NOT_SEND, RETAIN_SEND_IF_NEW_SUB, RETAIN_SEND_ON_SUBSCRIBE,
};

fn m(topic: &str, payload: &str, qos: u8, retain: bool) -> (String, String, u8, bool) {
    (topic.to_owned(), payload.to_owned(), qos, retain)
}

/// No Local: a client does not get its own message, another subscriber does. Retain As Published:
/// the retain flag as published (a plain subscription gets it cleared). Retain Handling 1 sends the
/// retained messages for a new subscription only, 2 never, 0 on every SUBSCRIBE.
pub fn subscribe_options(b: &Broker) {
    let a = Conn::new("options-a").start(b);
    let c = Conn::new("options-b").start(b);
    let no_local = SubscribeOptions {
        no_local: true,
        ..opts(2)
    };
    a.subscribe_opts("ct5/options/nl", no_local, None);
    c.subscribe_opts("ct5/options/nl", no_local, None);
    a.publish("ct5/options/nl", "no local", 1, false);
    assert_eq!(
        summary(&c.sync(&a)),
        [m("ct5/options/nl", "no local", 1, false)],
        "{}",
        b.name()
    );
    a.expect_nothing(&c, "its own message, with No Local");

    let rap = SubscribeOptions {
        retain_as_published: true,
        ..opts(2)
    };
    a.subscribe_opts("ct5/options/rap", rap, None);
    c.sub("ct5/options/rap", 2);
    a.publish("ct5/options/rap", "not retained", 1, false);
    a.publish("ct5/options/rap", "retained", 1, true);
    assert_eq!(
        summary(&a.sync(&a)),
        [
            m("ct5/options/rap", "not retained", 1, false),
            m("ct5/options/rap", "retained", 1, true),
        ],
        "{}: Retain As Published",
        b.name()
    );
    assert_eq!(
        summary(&c.sync(&a)),
        [
            m("ct5/options/rap", "not retained", 1, false),
            m("ct5/options/rap", "retained", 1, false),
        ],
        "{}: without Retain As Published",
        b.name()
    );
    c.stop();

    for qos in 0..3 {
        a.publish(
            &format!("ct5/options/rh/{qos}"),
            &format!("qos {qos}"),
            qos,
            true,
        );
    }
    a.sync(&a);
    let retained = [
        m("ct5/options/rh/0", "qos 0", 0, true),
        m("ct5/options/rh/1", "qos 1", 1, true),
        m("ct5/options/rh/2", "qos 2", 2, true),
    ];
    let handling = |h: u8| SubscribeOptions {
        retain_handling: h,
        ..opts(2)
    };
    for (h, first, again) in [
        (RETAIN_SEND_IF_NEW_SUB, true, false),
        (RETAIN_DO_NOT_SEND, false, false),
        (RETAIN_SEND_ON_SUBSCRIBE, true, true),
    ] {
        let s = Conn::new("options-rh").start(b);
        for (round, sent) in [("new", first), ("existing", again)] {
            s.subscribe_opts("ct5/options/rh/+", handling(h), None);
            let got = summary(&by_payload(s.sync(&a)));
            let expected: &[_] = if sent { &retained } else { &[] };
            assert_eq!(
                got,
                expected,
                "{}: Retain Handling {h}, {round} subscription",
                b.name()
            );
        }
        s.stop();
    }
    a.stop();
}

/// Two clients share `$share/ct5group/ct5/shared` beside a plain subscription each: a message on the
/// plain topic reaches both, each message on the shared topic exactly one of them.
pub fn shared_subscriptions(b: &Broker) {
    let shared = "$share/ct5group/ct5/shared";
    let plain = "ct5/shared/plain";
    let members = [
        Conn::new("shared-a").start(b),
        Conn::new("shared-b").start(b),
    ];
    for member in &members {
        let codes = member.subscribe_codes(&[(shared, opts(2)), (plain, opts(2))], None);
        assert_eq!(
            codes.iter().map(|c| c.value()).collect::<Vec<_>>(),
            [2, 2],
            "{}",
            b.name()
        );
    }
    let p = Conn::new("shared-pub").start(b);
    p.publish(plain, "to both", 0, false);
    for member in &members {
        assert_eq!(
            summary(&member.sync(&p)),
            [m(plain, "to both", 0, false)],
            "{}",
            b.name()
        );
    }
    let sent: Vec<String> = (0..10).map(|i| format!("message {i}")).collect();
    for payload in &sent {
        p.publish("ct5/shared", payload, 1, false);
    }
    let mut got: Vec<String> = Vec::new();
    for member in &members {
        let mine = member.sync(&p);
        println!(
            "{}: {} of {} shared messages to one member",
            b.name(),
            mine.len(),
            sent.len()
        );
        got.extend(
            mine.iter()
                .map(|m| String::from_utf8_lossy(&m.payload).into_owned()),
        );
    }
    got.sort();
    assert_eq!(got, sent, "{}: each shared message to one member", b.name());
    for member in members {
        member.stop();
    }
    p.stop();
}
