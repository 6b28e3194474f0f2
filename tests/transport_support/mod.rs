//! Test-side infrastructure for the transport tests (tests/transports/, and the command-line tools'
//! TLS, Unix socket, proxy and websocket tests in tests/cli/): certificates made with the openssl
//! command line, a mosquitto with a listener per transport, a websocket relay in front of mosquitto's
//! TCP listener, SOCKS and HTTP proxies, and servers that break handshakes on purpose. Every server
//! listens on 127.0.0.1:0, records what clients asked of it, and stops (joining its threads) on drop.
//!
//! Only the websocket relay needs the `tls` and `websockets` features (native-tls, tungstenite); the rest
//! is std and the openssl and mosquitto command lines, so tests/cli/ uses it in every build.
#![allow(dead_code)] // not every test uses every accessor

pub mod broker;
pub mod certs;
pub mod misbehaving;
pub mod proxy;
pub mod server;
#[cfg(all(feature = "tls", feature = "websockets"))]
pub mod ws_relay;
