//! QoS 2 across broker restarts (issue #18; docs/reliability.md, "QoS 2 across broker restarts").
//!
//! A persistent publisher sends numbered QoS 2 messages, a persistent QoS 2 subscriber counts them,
//! and mosquitto, with persistence on, is stopped (SIGTERM: it saves its database) and started again
//! on the same port three times during the run. Both clients are pahoish, reconnecting by themselves
//! and resuming their sessions.
//!
//! Enough messages that the publisher's and the broker's message ids wrap past 65,535 twice: a
//! message id left held by either side across a restart would then meet the next message to reuse
//! it, which is how the losses in issue #18 showed (there the subscriber was mosquitto_sub, whose
//! library keeps a second copy of a message the broker resends before PUBREL; pahoish keeps one).
//!
//! What is asserted is what pahoish can guarantee against mosquitto 2.0.11:
//! - nothing is lost;
//! - the publisher duplicates nothing: every number arrives once, except messages that mosquitto
//!   itself sends again after a restart. mosquitto 2.0.11 restores the messages it had in flight to
//!   the subscriber beyond `max_inflight_messages` as queued and resends them as PUBLISH, even one it
//!   had already released with PUBREL and whose PUBCOMP it had not read before saving (a violation of
//!   MQTT 3.1.1 section 4.3.3, shown with a capture in docs/reliability.md). The subscriber has completed that message and forgotten its id, as MQTT
//!   requires, so the resend is a new message to it and is delivered again; no client can tell it
//!   from one. Such a copy is told apart here by what only the broker's resend has: it arrives with
//!   DUP set, on a later connection than the first copy.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{client_id, subscribe_and_wait, watchdog, Live, Mosquitto, WAIT};
use pahoish::{Client, MessageInfo};

/// Messages published: past 65,535 twice, so every message id is used at least twice and most three
/// times.
const MESSAGES: u32 = 140_000;

/// The broker restarts when the subscriber has received this many messages: spread over the run.
const RESTART_AT: [u32; 3] = [20_000, 65_000, 110_000];

/// The whole test, restarts included, must finish within this (it takes about 10 s on two cores).
const LIMIT: Duration = Duration::from_secs(100);

/// How far the publisher may run ahead of the subscriber.
const AHEAD: u32 = 2_000;

const TOPIC: &str = "pahoish/fault/restart";

fn persistent_client(tag: &str) -> Client {
    let client = Client::builder()
        .client_id(client_id(tag))
        .clean_session(false)
        .build()
        .expect("client");
    // Reconnect soon after each restart rather than after Paho's default 1 s.
    client
        .reconnect_delay_set(Duration::from_millis(20), Duration::from_millis(200))
        .expect("reconnect_delay_set");
    client
}

#[test]
fn qos2_across_three_broker_restarts_loses_nothing_and_only_the_broker_resends() {
    let Some(mut broker) = Mosquitto::builder()
        .persistent()
        // mosquitto's default, stated: at most this many messages in flight to each client.
        .config("max_inflight_messages 20")
        .start_or_skip()
    else {
        return;
    };
    let _watchdog = watchdog(LIMIT + WAIT);
    let deadline = Instant::now() + LIMIT;

    let sub = persistent_client("restart-sub");
    // Which of the subscriber's connections a message arrived on: the callbacks run one at a time on
    // the loop thread, so a message is counted against the connection it came on.
    let connection = Arc::new(AtomicU32::new(0));
    let on_connect = Arc::clone(&connection);
    sub.on_connect(move |_c, _u, _flags, _rc, _p| {
        on_connect.fetch_add(1, Ordering::SeqCst);
    });
    let (tx, rx) = mpsc::channel();
    sub.on_message(move |_c, _u, msg| {
        let n: u32 = msg
            .payload_str()
            .and_then(|s| s.parse().ok())
            .expect("a numbered message");
        let _ = tx.send(Delivery {
            n,
            dup: msg.dup,
            connection: connection.load(Ordering::SeqCst),
        });
    });
    let sub = Live::connect(sub, broker.port);
    subscribe_and_wait(&sub, TOPIC, 2);

    let publisher = Live::connect(persistent_client("restart-pub"), broker.port);
    let mut infos: Vec<MessageInfo> = Vec::with_capacity(MESSAGES as usize);

    // Each number's first delivery, and the ones after it.
    let mut seen: HashMap<u32, Delivery> = HashMap::with_capacity(MESSAGES as usize);
    let mut again: Vec<(Delivery, Delivery)> = Vec::new();
    let mut distinct = 0u32;
    let mut restarts = RESTART_AT.iter().peekable();
    let mut received = 0u32;
    loop {
        // Published ahead of the subscriber by at most AHEAD messages (a queued message holds its
        // message id, and there are 65,535 of them); 20 at a time in flight, as Paho.
        while infos.len() < MESSAGES as usize && infos.len() < (distinct + AHEAD) as usize {
            let n = infos.len() + 1;
            let info = publisher
                .publish(TOPIC, n.to_string(), 2, false)
                .unwrap_or_else(|e| panic!("publish {n}: {e}"));
            infos.push(info);
        }
        if distinct == MESSAGES {
            break;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let d = match rx.recv_timeout(left.min(WAIT)) {
            Ok(d) => d,
            Err(RecvTimeoutError::Timeout) => panic!(
                "stalled: {distinct} of {MESSAGES} messages received ({received} with duplicates), \
                 {} restarts done; first missing: {:?}",
                RESTART_AT.len() - restarts.len(),
                (1..=MESSAGES).find(|n| !seen.contains_key(n))
            ),
            Err(RecvTimeoutError::Disconnected) => panic!("the subscriber's callback is gone"),
        };
        received += 1;
        match seen.get(&d.n) {
            Some(first) => again.push((*first, d)),
            None => {
                seen.insert(d.n, d);
                distinct += 1;
            }
        }
        if restarts.next_if(|&&at| received >= at).is_some() {
            broker.restart_gracefully();
        }
    }
    assert_eq!(restarts.len(), 0, "not every restart happened");
    // Every message is acknowledged to the publisher (PUBCOMP) ...
    for (n, info) in (1..=MESSAGES).zip(&infos) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            info.wait_for_publish(Some(left)).expect("wait_for_publish"),
            "message {n} never completed at the publisher"
        );
    }
    // ... and a duplicate still in the broker's queues would follow the last message closely: take
    // whatever arrives until 200 ms pass without a message (the run delivers thousands a second).
    while let Ok(d) = rx.recv_timeout(Duration::from_millis(200)) {
        match seen.get(&d.n) {
            Some(first) => again.push((*first, d)),
            None => panic!("message {} arrived after all of them had", d.n),
        }
    }
    publisher.stop().expect("publisher loop_stop");
    sub.stop().expect("subscriber loop_stop");

    // Nothing lost (or the loop above would have stalled), and every second copy is mosquitto's
    // resend after a restart: DUP set, on a later connection than the first copy.
    let not_resends: Vec<&(Delivery, Delivery)> = again
        .iter()
        .filter(|(first, copy)| !copy.dup || copy.connection <= first.connection)
        .collect();
    assert!(
        not_resends.is_empty(),
        "{} of {} duplicates were not the broker's resends after a restart (first, then the copy): \
         {:?}",
        not_resends.len(),
        again.len(),
        &not_resends[..not_resends.len().min(20)]
    );
    println!(
        "{MESSAGES} messages, 3 restarts: none lost; {} delivered again after mosquitto resent them \
         following a restart (numbers: {:?})",
        again.len(),
        again.iter().map(|(d, _)| d.n).collect::<Vec<_>>()
    );
}

/// One message as the subscriber received it.
#[derive(Debug, Clone, Copy)]
struct Delivery {
    /// Its number (the payload).
    n: u32,
    /// Whether the PUBLISH had DUP set.
    dup: bool,
    /// Which of the subscriber's connections it came on (1 = the first).
    connection: u32,
}
