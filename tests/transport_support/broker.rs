//! A mosquitto with one listener per transport the tests need, on free loopback ports: plain TCP, TLS,
//! TLS requiring a client certificate, TLS with a certificate for the wrong host name, TLS with an
//! expired certificate, and a Unix socket. Killed, and its directory removed, on drop.
//!
//! mosquitto 2.0's `listener 0 <path>` opens a Unix socket listener (the port must be 0). Settings are
//! global (`per_listener_settings false`), so `allow_anonymous true` covers every listener.

use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::certs::{certs, Certs};
use crate::common::{mosquitto_or_skip, unique, WAIT};

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
    binary: PathBuf,
    dir: PathBuf,
    child: Option<Child>,
}

impl Broker {
    /// Starts mosquitto, or returns `None` after printing "skipped: mosquitto not installed" (a failure
    /// instead with `PAHOISH_REQUIRE_MOSQUITTO=1`), as `common::Mosquitto` does.
    pub fn start_or_skip() -> Option<Broker> {
        mosquitto_or_skip().map(Broker::start)
    }

    fn start(binary: PathBuf) -> Broker {
        let certs = certs();
        // Short: a Unix socket path must fit in 108 bytes.
        let dir =
            std::env::temp_dir().join(format!("pahoish-tr-{}-{}", std::process::id(), unique()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating the mosquitto temp dir");
        let mut broker = Broker {
            tcp: 0,
            tls: 0,
            mutual: 0,
            wrong_host: 0,
            expired: 0,
            unix: dir.join("mqtt.sock"),
            binary,
            dir,
            child: None,
        };
        // The free ports are released before mosquitto binds them, so another process may take one in
        // between: mosquitto then exits at once and other ports are tried.
        let mut last = String::new();
        for _ in 0..5 {
            let [tcp, tls, mutual, wrong_host, expired] = free_ports();
            (broker.tcp, broker.tls, broker.mutual) = (tcp, tls, mutual);
            (broker.wrong_host, broker.expired) = (wrong_host, expired);
            match broker.spawn(certs) {
                Ok(()) => return broker,
                Err(e) => last = e,
            }
        }
        panic!("mosquitto did not start: {last}");
    }

    /// mosquitto's log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
    }

    /// Waits until a line of mosquitto's log contains `text`, at most `WAIT`; returns whether one did.
    /// mosquitto signals nothing a test could wait on, so this polls the log file.
    pub fn wait_for_log(&self, text: &str) -> bool {
        let deadline = Instant::now() + WAIT;
        loop {
            if self.log().lines().any(|l| l.contains(text)) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The Unix socket's path as a string, for `connect` and `unix://` URLs.
    pub fn unix_path(&self) -> &str {
        self.unix.to_str().expect("temp dir paths are UTF-8")
    }

    fn config(&self, c: &Certs) -> String {
        let tls = |port: u16, cert: &PathBuf, extra: &str| {
            format!(
                "listener {port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\n{extra}",
                c.ca.display(),
                cert.display(),
                c.server_key.display()
            )
        };
        [
            // Started as root, mosquitto drops to the `mosquitto` user, which cannot read the keys in our
            // directory; "root" keeps the user it runs as (and is ignored when that is not root).
            "user root\n".to_owned(),
            "per_listener_settings false\nallow_anonymous true\npersistence false\n".to_owned(),
            "max_queued_messages 0\nlog_dest stderr\nlog_type all\nconnection_messages true\n"
                .to_owned(),
            format!("listener {} 127.0.0.1\n", self.tcp),
            tls(self.tls, &c.server_cert, ""),
            tls(self.mutual, &c.server_cert, "require_certificate true\n"),
            tls(self.wrong_host, &c.wrong_host_cert, ""),
            tls(self.expired, &c.expired_cert, ""),
            format!("listener 0 {}\n", self.unix.display()),
        ]
        .concat()
    }

    fn spawn(&mut self, certs: &Certs) -> Result<(), String> {
        let conf = self.dir.join("mosquitto.conf");
        std::fs::write(&conf, self.config(certs))
            .map_err(|e| format!("writing the config: {e}"))?;
        let _ = std::fs::remove_file(&self.unix);
        let log = std::fs::File::create(self.dir.join("mosquitto.log"))
            .map_err(|e| format!("creating the log: {e}"))?;
        let mut child = Command::new(&self.binary)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("running {}: {e}", self.binary.display()))?;
        // mosquitto logs "mosquitto version ... running" once every listener is open. Nothing signals
        // that line, so poll the log for it (or for the process exiting: a port was taken). Probing the
        // ports instead could reach another test's server that was given one of them meanwhile.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "mosquitto exited with {status}; log:\n{}",
                    self.log()
                ));
            }
            let log = self.log();
            if log
                .lines()
                .any(|l| l.contains("mosquitto version") && l.ends_with(" running"))
            {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("mosquitto not running within 10 s; log:\n{log}"));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if thread::panicking() {
            eprintln!("mosquitto log:\n{}", self.log().trim_end());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Five distinct ports no one listens on right now (all bound at once, then released).
fn free_ports() -> [u16; 5] {
    let listeners: Vec<TcpListener> = (0..5)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("binding 127.0.0.1:0"))
        .collect();
    let port = |i: usize| listeners[i].local_addr().expect("local_addr").port();
    [port(0), port(1), port(2), port(3), port(4)]
}
