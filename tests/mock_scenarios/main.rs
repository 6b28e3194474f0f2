//! Paho's client scenarios played against `MockBroker`, the scripted broker that checks every byte.
//!
//! Each test is one scenario of Paho Python's behaviour (../shared/PAHO.md): the broker's script lists the
//! exact packets the client must send, as annotated byte arrays, and what the broker answers; the test
//! body drives a `pahoish::Client` (with `loop_start`) and checks the callbacks it gets, in order.
//!
//! Nothing sleeps to synchronise. The test body and the script hand each other the turn over channels,
//! and when the broker closes a connection the script first waits until the body has seen the callback of
//! the last packet it sent, so that what a test checks never depends on how the client's reads happen to
//! be split. Every wait has a timeout: a broken client fails a test, it never hangs it. Clocks are read
//! only to check timers (keepalive, reconnect backoff), never to order events.
//!
//! Except in `publishes_from_another_thread_always_go_out`, the test thread makes one call on the client
//! at a time and waits for its effect before the next, so that each scenario checks its own behaviour and
//! not also how back-to-back calls race the loop's wake-ups; that race is that test's subject.
//!
//! One module a theme: `connection`, `subscriptions`, `publishing`, `malformed`, `callbacks` and
//! `callbacks_v1` (Paho's VERSION1 shapes);
//! for MQTT 5, `mqtt5_auth` (enhanced authentication, beyond Paho), `mqtt5_connection`,
//! `mqtt5_publishing`, `mqtt5_limits` (the server's CONNACK limits), `mqtt5_receiving`,
//! `mqtt5_subscriptions` and `mqtt5_auto_aliases` (automatic topic aliases), modelled on mosquitto's
//! own client tests (test/lib of
//! eclipse-mosquitto/mosquitto, named in each test's doc) plus what the client does beyond Paho.
//! `support` holds the packets, the callback recorders and the driving helpers they share.

mod callbacks;
mod callbacks_v1;
mod connection;
mod malformed;
mod mqtt5_auth;
mod mqtt5_auto_aliases;
mod mqtt5_connection;
mod mqtt5_limits;
mod mqtt5_publishing;
mod mqtt5_receiving;
mod mqtt5_subscriptions;
mod publishing;
mod subscriptions;
mod support;
