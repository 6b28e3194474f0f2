//! The scenarios of Eclipse paho.mqtt.testing's MQTT 5 client test (`interoperability/client_test5.py`),
//! written as our own tests: one list of scenarios, each run against a fresh TestBroker and, where
//! mosquitto 2.0.11 has the feature, against a fresh mosquitto too, with `pahoish::Client`s at MQTT 5 as
//! the clients.
//!
//! Each scenario is a function taking the [`Broker`] it runs on (its port, and which broker it is, for
//! the few places where the two may differ as the specification allows: those accept either answer and
//! say which one they saw). A scenario that needs a broker limit (Maximum Packet Size, Receive Maximum,
//! Server Keep Alive) names it in its [`Limits`], which start TestBroker with its builder and mosquitto
//! with the matching configuration line. Scenarios that mosquitto 2.0.11 cannot run are in the list's
//! TestBroker-only part, with the reason beside them: it refuses no subscription without an
//! authentication plugin, sends no topic aliases, answers a client beyond its Receive Maximum with a
//! PUBREC refusal instead of DISCONNECT 0x93, and waits out a will delay when the session has already
//! ended.
//!
//! Where the scenario needs a client that misbehaves in a way `Client` never does (stays silent past its
//! keepalive, leaves messages unacknowledged, sends a topic alias the server does not know, a second
//! CONNECT), it is a raw connection speaking packets encoded with `pahoish::packet` ([`support::Raw`]).
//!
//! Nothing sleeps to wait for an event: every wait is a channel receive bounded by `common::WAIT`, and
//! "nothing else arrived" is checked with a marker message sent after it ([`support::V5::sync`]). The
//! scenarios that are about time passing (session expiry, message expiry) let the time pass, a few
//! seconds at most. The tests run in parallel, each with its own broker; a watchdog fails one that
//! hangs.
//!
//! Without mosquitto the `mosquitto::` tests print that they skipped, unless `PAHOISH_REQUIRE_MOSQUITTO=1`
//! makes that a failure.

#[path = "../common/mod.rs"]
mod common;

mod basics;
mod limits;
mod properties;
mod sessions;
mod subscriptions;
mod support;

use std::time::{Duration, Instant};

use common::{watchdog, Mosquitto, MosquittoBuilder, TEST_LIMIT, WAIT};
use pahoish::testing::{TestBroker, TestBrokerBuilder};

/// Which broker a scenario runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    TestBroker,
    Mosquitto,
}

/// The broker a scenario runs on: started for it, stopped when the scenario is done.
pub struct Broker {
    pub kind: Kind,
    pub port: u16,
    _test_broker: Option<TestBroker>,
    _mosquitto: Option<Mosquitto>,
}

impl Broker {
    /// "TestBroker" or "mosquitto", for messages.
    pub fn name(&self) -> &'static str {
        match self.kind {
            Kind::TestBroker => "TestBroker",
            Kind::Mosquitto => "mosquitto",
        }
    }

    /// The TestBroker, for the checks only it can make (the packets it sent).
    pub fn test_broker(&self) -> Option<&TestBroker> {
        self._test_broker.as_ref()
    }

    /// Waits until no connection of `id` is open at the broker: it has handled the client's DISCONNECT
    /// (or seen its connection close), so what the scenario does next meets the session offline.
    /// TestBroker says so; mosquitto's log does (one "disconnected" or "closed its connection" line
    /// for each "New client connected ... as <id>" line), read until it does, at most `WAIT`.
    pub fn wait_disconnected(&self, id: &str) {
        if let Some(tb) = &self._test_broker {
            assert!(
                tb.wait_disconnected(id, WAIT),
                "TestBroker: {id} still connected after {WAIT:?}"
            );
            return;
        }
        let Some(m) = &self._mosquitto else {
            return;
        };
        let connected = format!(" as {id} (");
        let gone = [
            format!("Client {id} disconnected"),
            format!("Client {id} closed its connection"),
        ];
        let deadline = Instant::now() + WAIT;
        loop {
            let log = m.log();
            let opened = log.matches(&connected).count();
            let closed: usize = gone.iter().map(|g| log.matches(g.as_str()).count()).sum();
            if closed >= opened {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "mosquitto: {id} still connected after {WAIT:?}:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The broker limits a scenario needs, set the same on both brokers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    /// Maximum Packet Size (mosquitto: `max_packet_size`).
    pub maximum_packet_size: Option<u32>,
    /// The broker's Receive Maximum (mosquitto: `max_inflight_messages`).
    pub receive_maximum: Option<u16>,
    /// Server Keep Alive for clients asking more (mosquitto: `max_keepalive`, which is at least 10 there;
    /// TestBroker announces it to every client, so the scenarios ask for more).
    pub server_keep_alive: Option<u16>,
    /// TestBroker sends topic aliases (mosquitto 2.0.11 has no such feature).
    pub send_topic_aliases: bool,
    /// Subscriptions to this filter are refused (TestBroker: `deny_subscriptions`; mosquitto 2.0.11's
    /// ACL file refuses no subscription: it filters at delivery).
    pub deny_subscriptions: Option<&'static str>,
}

impl Limits {
    pub const NONE: Limits = Limits {
        maximum_packet_size: None,
        receive_maximum: None,
        server_keep_alive: None,
        send_topic_aliases: false,
        deny_subscriptions: None,
    };

    fn test_broker(&self) -> TestBrokerBuilder {
        let mut b = TestBroker::builder();
        if let Some(max) = self.maximum_packet_size {
            b = b.maximum_packet_size(max);
        }
        if let Some(max) = self.receive_maximum {
            b = b.receive_maximum(max);
        }
        if let Some(k) = self.server_keep_alive {
            b = b.server_keep_alive(k);
        }
        if let Some(filter) = self.deny_subscriptions {
            b = b.deny_subscriptions(filter);
        }
        b.send_topic_aliases(self.send_topic_aliases)
    }

    fn mosquitto(&self) -> MosquittoBuilder {
        assert!(
            !self.send_topic_aliases && self.deny_subscriptions.is_none(),
            "mosquitto 2.0.11 cannot be configured so: a TestBroker-only scenario"
        );
        let mut b = Mosquitto::builder();
        if let Some(max) = self.maximum_packet_size {
            b = b.config(format!("max_packet_size {max}"));
        }
        if let Some(max) = self.receive_maximum {
            b = b.config(format!("max_inflight_messages {max}"));
        }
        if let Some(k) = self.server_keep_alive {
            // mosquitto 2.0.11 refuses a max_keepalive under 10.
            b = b.config(format!("max_keepalive {}", k.max(10)));
        }
        b
    }
}

/// Runs `scenario` on a fresh TestBroker with `limits`.
fn on_test_broker(limits: Limits, scenario: fn(&Broker)) {
    let _wd = watchdog(TEST_LIMIT);
    let tb = limits.test_broker().start().expect("starting a TestBroker");
    let broker = Broker {
        kind: Kind::TestBroker,
        port: tb.port(),
        _test_broker: Some(tb),
        _mosquitto: None,
    };
    scenario(&broker);
}

/// Runs `scenario` on a fresh mosquitto with `limits`, or prints that it skipped without one.
fn on_mosquitto(limits: Limits, scenario: fn(&Broker)) {
    let _wd = watchdog(TEST_LIMIT);
    let Some(m) = limits.mosquitto().start_or_skip() else {
        return;
    };
    let broker = Broker {
        kind: Kind::Mosquitto,
        port: m.port,
        _test_broker: None,
        _mosquitto: Some(m),
    };
    scenario(&broker);
}

/// The list: `both` scenarios become a test in `test_broker::` and one in `mosquitto::`; the
/// `test_broker_only` ones a test in `test_broker::` alone.
macro_rules! scenarios {
    (
        both { $( $name:ident: $run:path, $limits:expr; )* }
        test_broker_only { $( $tb_name:ident: $tb_run:path, $tb_limits:expr; )* }
    ) => {
        mod test_broker {
            use super::*;
            $( #[test] fn $name() { on_test_broker($limits, $run) } )*
            $( #[test] fn $tb_name() { on_test_broker($tb_limits, $tb_run) } )*
        }
        mod mosquitto {
            use super::*;
            $( #[test] fn $name() { on_mosquitto($limits, $run) } )*
        }
    };
}

const MAX_PACKET: Limits = Limits {
    maximum_packet_size: Some(1000),
    ..Limits::NONE
};

const RECEIVE_MAXIMUM_2: Limits = Limits {
    receive_maximum: Some(2),
    ..Limits::NONE
};

const KEEP_ALIVE_60: Limits = Limits {
    server_keep_alive: Some(60),
    ..Limits::NONE
};

const KEEP_ALIVE_SHORT: Limits = Limits {
    server_keep_alive: Some(1),
    ..Limits::NONE
};

const DENY: Limits = Limits {
    deny_subscriptions: Some(basics::FORBIDDEN),
    ..Limits::NONE
};

const SEND_ALIASES: Limits = Limits {
    send_topic_aliases: true,
    ..Limits::NONE
};

scenarios! {
    both {
        basic: basics::basic, Limits::NONE;
        connect_errors: basics::connect_errors, Limits::NONE;
        retained_message: basics::retained_message, Limits::NONE;
        will_message: basics::will_message, Limits::NONE;
        zero_length_client_id: basics::zero_length_client_id, Limits::NONE;
        offline_message_queueing: basics::offline_message_queueing, Limits::NONE;
        overlapping_subscriptions: basics::overlapping_subscriptions, Limits::NONE;
        keepalive: basics::keepalive, Limits::NONE;
        redelivery_on_reconnect: basics::redelivery_on_reconnect, Limits::NONE;
        dollar_topics: basics::dollar_topics, Limits::NONE;
        unsubscribe: basics::unsubscribe, Limits::NONE;
        session_expiry: sessions::session_expiry, Limits::NONE;
        publication_expiry: sessions::publication_expiry, Limits::NONE;
        assigned_client_id: sessions::assigned_client_id, Limits::NONE;
        will_delay: sessions::will_delay, Limits::NONE;
        user_properties: properties::user_properties, Limits::NONE;
        payload_format: properties::payload_format, Limits::NONE;
        subscription_identifiers: properties::subscription_identifiers, Limits::NONE;
        request_response: properties::request_response, Limits::NONE;
        subscribe_options: subscriptions::subscribe_options, Limits::NONE;
        shared_subscriptions: subscriptions::shared_subscriptions, Limits::NONE;
        client_topic_aliases: limits::client_topic_aliases, Limits::NONE;
        server_topic_aliases_not_asked: limits::server_topic_aliases_not_asked, Limits::NONE;
        maximum_packet_size: limits::maximum_packet_size, MAX_PACKET;
        server_keep_alive: limits::server_keep_alive, KEEP_ALIVE_60;
        server_keep_alive_adopted: limits::server_keep_alive_adopted, KEEP_ALIVE_SHORT;
        flow_control_client_receive_maximum: limits::flow_control_client_receive_maximum, Limits::NONE;
        flow_control_server_receive_maximum: limits::flow_control_server_receive_maximum, RECEIVE_MAXIMUM_2;
    }
    test_broker_only {
        // mosquitto 2.0.11 grants every valid subscription (its ACL file filters what is delivered, a
        // `topic deny` line included): no SUBACK failure without an authentication plugin.
        subscribe_failure: basics::subscribe_failure, DENY;
        // mosquitto 2.0.11 waits out the whole Will Delay Interval when the session ends with the
        // connection (Session Expiry Interval 0), where [MQTT-3.1.3-9] has the will sent then.
        will_delay_without_session: sessions::will_delay_without_session, Limits::NONE;
        // mosquitto 2.0.11 sends no topic aliases (broker-to-client aliases came in 2.1).
        server_topic_aliases: limits::server_topic_aliases, SEND_ALIASES;
        // mosquitto 2.0.11 refuses a QoS 2 message beyond its Receive Maximum with PUBREC 0x97 (Quota
        // exceeded) and keeps the connection, where MQTT 5 (3.2.2.3.3) has DISCONNECT 0x93, as 2.1 does.
        flow_control_broker_enforces_receive_maximum: limits::flow_control_broker_enforces_receive_maximum, RECEIVE_MAXIMUM_2;
    }
}
