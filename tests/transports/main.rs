//! The transports of issue #3 against a real mosquitto: TLS (server verification, client certificates in
//! every key form, the failures a user meets), Unix sockets, websockets (`ws://` and `wss://`, through a
//! relay in the test since Debian's mosquitto has no websockets listener), `connect_url`, SOCKS and HTTP
//! proxies (`proxy_set` and the `MQTT_PROXY` environment variable).
//!
//! Everything runs on loopback: mosquitto on free ports, certificates made at run time with the openssl
//! command line, and the relay, proxies and misbehaving servers of `transport_support` on 127.0.0.1:0,
//! each recording what the client asked of it so that a test can tell the client really went through
//! it. Skipped with a message when mosquitto is not installed, unless `PAHOISH_REQUIRE_MOSQUITTO=1`.
//!
//! Every wait is bounded by `common::WAIT`; a watchdog fails a test that hangs anyway.
//!
//! One module a theme: `infrastructure` (the test servers checked without our client), `tls`,
//! `unix_sockets`, `websockets`, `every_transport` (what each must do alike), `reconnecting`,
//! `connect_url`, `proxies` and `proxy_env`; `support` holds what they share.

#[path = "../common/mod.rs"]
mod common;
#[path = "../transport_support/mod.rs"]
mod transport_support;

mod connect_url;
mod every_transport;
mod infrastructure;
mod proxies;
mod proxy_env;
mod reconnecting;
mod support;
mod tls;
mod unix_sockets;
mod websockets;
