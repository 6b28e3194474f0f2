//! A mosquitto with one listener per transport the tests need, on free loopback ports: plain TCP, TLS,
//! TLS requiring a client certificate, TLS with a certificate for the wrong host name, TLS with an
//! expired certificate, and a Unix socket. Started (and killed on drop) by `common::Mosquitto`; this only
//! says which listeners, and names their ports.

use std::path::PathBuf;

use super::certs::certs;
use crate::common::{mosquitto_or_skip, Mosquitto};

/// A running mosquitto with every transport's listener.
#[derive(Debug)]
pub struct Broker {
    /// Plain MQTT over TCP.
    pub tcp: u16,
    /// TLS with `server_cert` (127.0.0.1, localhost), no client certificate asked for.
    pub tls: u16,
    /// TLS that requires a client certificate signed by the test CA.
    pub mutual: u16,
    /// TLS with a certificate for `wrong.host.invalid`.
    pub wrong_host: u16,
    /// TLS with an expired certificate.
    pub expired: u16,
    /// The Unix socket's path.
    pub unix: PathBuf,
    mosquitto: Mosquitto,
}

impl Broker {
    /// Starts mosquitto, or returns `None` after printing "skipped: mosquitto not installed" (a failure
    /// instead with `PAHOISH_REQUIRE_MOSQUITTO=1`), as `common::Mosquitto` does. The certificates are
    /// made only once mosquitto is known to be there.
    pub fn start_or_skip() -> Option<Broker> {
        let binary = mosquitto_or_skip()?;
        let c = certs();
        let mosquitto = Mosquitto::builder()
            // "Received DISCONNECT from ..." (see `wait_for_log`) is a debug line.
            .config("log_type all")
            .tls_listener("tls", &c.ca, &c.server_cert, &c.server_key, &[])
            .tls_listener(
                "mutual",
                &c.ca,
                &c.server_cert,
                &c.server_key,
                &["require_certificate true"],
            )
            .tls_listener("wrong_host", &c.ca, &c.wrong_host_cert, &c.server_key, &[])
            .tls_listener("expired", &c.ca, &c.expired_cert, &c.server_key, &[])
            .unix_socket()
            .start(binary);
        Some(Broker {
            tcp: mosquitto.port,
            tls: mosquitto.listener_port("tls"),
            mutual: mosquitto.listener_port("mutual"),
            wrong_host: mosquitto.listener_port("wrong_host"),
            expired: mosquitto.listener_port("expired"),
            unix: mosquitto.unix_path().to_owned(),
            mosquitto,
        })
    }

    /// mosquitto's log so far, for failure messages.
    pub fn log(&self) -> String {
        self.mosquitto.log()
    }

    /// Waits until a line of mosquitto's log contains `text`, at most `WAIT`; returns whether one did.
    pub fn wait_for_log(&self, text: &str) -> bool {
        self.mosquitto.wait_for_log(text)
    }

    /// The Unix socket's path as a string, for `connect` and `unix://` URLs.
    pub fn unix_path(&self) -> &str {
        self.unix.to_str().expect("temp dir paths are UTF-8")
    }
}
