//! The `pub` and `sub` command-line tools (examples/pub.rs, examples/sub.rs), run as subprocesses:
//! - `mock_broker`: against `MockBroker`, checking the exact CONNECT (and SUBSCRIBE, UNSUBSCRIBE) bytes
//!   the options produce, a refused CONNACK, and `pub -q 1` resending after a lost connection;
//! - `arguments`: with bad and unsupported arguments, which must give one clear line and a status,
//!   never a panic;
//! - `mosquitto_tools`: against a real mosquitto, in both directions with mosquitto's own tools (our
//!   pub to mosquitto_sub, mosquitto_pub to our sub): QoS 0/1/2, retained messages, `-l` with 10,000
//!   lines in order, `-C`, `-W`, `-R`, `-F`. Skipped with a message when mosquitto is not installed,
//!   unless `PAHOISH_REQUIRE_MOSQUITTO=1`;
//! - `mqtt5`: MQTT 5: `-V mqttv5` and `-D` properties byte for byte against `MockBroker`, the 5.0
//!   `-F` fields, a refused 5.0 CONNACK and a server DISCONNECT with their reason strings, the `-D`
//!   argument errors, and user properties crossing mosquitto_pub/mosquitto_sub at 5.0 both ways;
//! - `cluster`: sub with two `-L` URLs against two aedes nodes sharing a redis-server, across the kill
//!   and restart of its node (tests/cluster's harness);
//! - `rr`: our rr beside mosquitto_rr against mosquitto, answered by a `Client::respond` responder:
//!   the same output, the same timeout status, the same argument errors;
//! - `transports`: against a mosquitto with TLS listeners (certificates made with the openssl command
//!   line), a Unix socket listener, through SOCKS5 and HTTP CONNECT proxies and a websocket relay, all
//!   shared with tests/transports/ (tests/transport_support): `--cafile`, `--capath`, `--cert`/`--key`,
//!   `--insecure`, `--tls-version`, `-L mqtts://`, `-L ws://`, `--unix`, `--proxy`, and the one-line
//!   failures of certificates that do not verify.
//!
//! The `-F` formatter's own tests are the `sub` example's unit tests (examples/cli_common/format.rs).
//!
//! The examples are built once per run of this test binary (`cargo build --example pub --example sub`,
//! into the target directory and profile this test binary was built in; see `support`), since cargo
//! does not build examples for `cargo test --test cli`. Nothing sleeps to synchronise: a test waits for
//! a subprocess's output line (our sub's and mosquitto_sub's `-d` output say when the subscription is
//! acknowledged), for its exit, or for the mock broker's script, each bounded; a subprocess still
//! running at a limit is killed.

#[path = "../common/mod.rs"]
mod common;
#[path = "../cluster/nodes.rs"]
mod nodes;
#[path = "../transport_support/mod.rs"]
mod transport_support;

mod arguments;
mod cluster;
mod mock_broker;
mod mosquitto_tools;
mod mqtt5;
mod rr;
mod store;
mod support;
mod transports;
