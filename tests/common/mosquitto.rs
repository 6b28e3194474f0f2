//! The one place the tests start mosquitto: [`Mosquitto::builder`] (or [`Mosquitto::start_or_skip`] for the
//! plain broker most tests use) writes a configuration, starts mosquitto on free loopback ports, waits
//! until it is up, and kills it (removing its directory) on drop, printing its log if the test panicked.
//!
//! Every broker gets a plain TCP listener on 127.0.0.1 ([`Mosquitto::port`]); the builder adds global
//! configuration lines, more listeners (TLS ones with their certificate files, or any other kind through
//! the listener's own option lines) and a Unix socket listener.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::{unique, WAIT};

/// How long mosquitto may take to open its listeners (loading TLS keys included).
const START_LIMIT: Duration = Duration::from_secs(10);

/// How long mosquitto may take to exit after SIGTERM (saving its database included).
const STOP_LIMIT: Duration = Duration::from_secs(10);

/// What every broker's configuration starts with, before the builder's own lines.
///
/// Anonymous clients are allowed; nothing is kept on disk (so a restart forgets every session,
/// subscription and retained message, which is what the resubscribe tests rely on); the per-client queue
/// limit is lifted (by default mosquitto drops QoS 1/2 messages beyond 1000 queued for a slow subscriber,
/// which the many-publisher test would hit). Started as root, mosquitto drops to the `mosquitto` user,
/// which cannot read the keys in our directories; "root" keeps the user it runs as (and is ignored when
/// that is not root). Settings are global (`per_listener_settings false`), so `allow_anonymous true`
/// covers every listener.
const BASE_CONFIG: &str = "user root\n\
                           per_listener_settings false\n\
                           allow_anonymous true\n\
                           persistence false\n\
                           max_queued_messages 0\n\
                           log_dest stderr\n\
                           log_type error\n\
                           log_type warning\n\
                           log_type notice\n\
                           log_type information\n\
                           connection_messages true\n";

/// Where mosquitto is: `PAHOISH_MOSQUITTO` if set, else the first `mosquitto` on `PATH`, else the sbin
/// directories Debian and Homebrew-style installs use (often not on a user's `PATH`).
pub fn mosquitto_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PAHOISH_MOSQUITTO") {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            ["/usr/sbin", "/usr/local/sbin", "/opt/homebrew/sbin"]
                .iter()
                .map(PathBuf::from),
        )
        .map(|dir| dir.join("mosquitto"))
        .find(|p| p.is_file())
}

/// The mosquitto binary, or `None` after printing "skipped: mosquitto not installed". With
/// `PAHOISH_REQUIRE_MOSQUITTO=1` (CI sets it) a missing mosquitto fails the test instead.
pub fn mosquitto_or_skip() -> Option<PathBuf> {
    match mosquitto_binary() {
        Some(binary) => Some(binary),
        None if std::env::var("PAHOISH_REQUIRE_MOSQUITTO").as_deref() == Ok("1") => panic!(
            "mosquitto is not installed but PAHOISH_REQUIRE_MOSQUITTO=1 requires it: install it \
             (apt-get install -y mosquitto) or point PAHOISH_MOSQUITTO at the binary"
        ),
        None => {
            println!("skipped: mosquitto not installed");
            None
        }
    }
}

/// An extra listener: a name to find its port by, and the option lines that follow its `listener` line.
#[derive(Debug, Clone)]
struct Listener {
    name: String,
    options: Vec<String>,
}

/// What a [`Mosquitto`] is started with, beyond [`BASE_CONFIG`] and the plain TCP listener.
#[derive(Debug, Clone, Default)]
#[must_use = "a builder starts nothing until start_or_skip"]
pub struct MosquittoBuilder {
    config: Vec<String>,
    listeners: Vec<Listener>,
    unix_socket: bool,
    persistent: bool,
}

impl MosquittoBuilder {
    /// Adds a global configuration line, written after the base configuration and before the listeners:
    /// `max_packet_size 1000`, `max_inflight_messages 2`, `log_type all`. A later line overrides an
    /// earlier one of a boolean or numeric option (`persistence true` overrides the base's `false`).
    pub fn config(mut self, line: impl Into<String>) -> Self {
        self.config.push(line.into());
        self
    }

    /// Adds a listener on another free port of 127.0.0.1, with its own option lines (`protocol
    /// websockets`, `require_certificate true`, ...); [`Mosquitto::listener_port`] gives its port.
    pub fn listener(mut self, name: &str, options: &[&str]) -> Self {
        assert!(
            self.listeners.iter().all(|l| l.name != name),
            "two listeners named {name:?}"
        );
        self.listeners.push(Listener {
            name: name.to_owned(),
            options: options.iter().map(|&o| o.to_owned()).collect(),
        });
        self
    }

    /// Adds a TLS listener: `cafile`, `certfile` and `keyfile`, then `options` (`require_certificate
    /// true`, ...).
    pub fn tls_listener(
        self,
        name: &str,
        ca: &Path,
        cert: &Path,
        key: &Path,
        options: &[&str],
    ) -> Self {
        let files = [
            format!("cafile {}", ca.display()),
            format!("certfile {}", cert.display()),
            format!("keyfile {}", key.display()),
        ];
        let mut all: Vec<&str> = files.iter().map(String::as_str).collect();
        all.extend(options);
        self.listener(name, &all)
    }

    /// Adds a Unix socket listener (mosquitto 2.0's `listener 0 <path>`), in the broker's directory;
    /// [`Mosquitto::unix_path`] gives its path.
    pub fn unix_socket(mut self) -> Self {
        self.unix_socket = true;
        self
    }

    /// Keeps mosquitto's database in the broker's directory (`persistence true`, `persistence_location`),
    /// which outlives [`Mosquitto::restart`] and [`Mosquitto::restart_gracefully`]. mosquitto saves it
    /// when it is stopped cleanly (`restart_gracefully`) or by its autosave settings; `restart` kills
    /// it, so a test that wants its state to survive that also adds `autosave_on_changes true` and
    /// `autosave_interval 1`.
    pub fn persistent(mut self) -> Self {
        self.persistent = true;
        self
    }

    /// Starts mosquitto, or returns `None` after printing "skipped: mosquitto not installed" when it is
    /// not installed. With `PAHOISH_REQUIRE_MOSQUITTO=1` (CI sets it) a missing mosquitto fails the test.
    pub fn start_or_skip(self) -> Option<Mosquitto> {
        mosquitto_or_skip().map(|binary| self.start(binary))
    }

    /// Starts `binary` (see [`mosquitto_or_skip`]); fails the test if it does not come up.
    pub fn start(self, binary: PathBuf) -> Mosquitto {
        // Short: a Unix socket path must fit in 108 bytes. A directory left by an earlier process with
        // the same id (killed by a watchdog, say) is replaced.
        let dir =
            std::env::temp_dir().join(format!("pahoish-mq-{}-{}", std::process::id(), unique()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating the mosquitto temp dir");
        let unix = self.unix_socket.then(|| dir.join("mqtt.sock"));
        let mut m = Mosquitto {
            port: 0,
            listener_ports: Vec::new(),
            unix,
            builder: self,
            binary,
            dir,
            child: None,
        };
        // The free ports are released before mosquitto binds them, so another process may take one in
        // between: mosquitto then exits at once and other ports are tried.
        let mut last = String::new();
        for _ in 0..5 {
            let ports = free_ports(1 + m.builder.listeners.len());
            m.port = ports[0];
            m.listener_ports = ports[1..].to_vec();
            match m.spawn() {
                Ok(()) => return m,
                Err(e) => last = e,
            }
        }
        panic!("mosquitto did not start: {last}");
    }
}

/// A mosquitto process listening on free ports of 127.0.0.1, killed (and its directory removed) on
/// drop; its log is printed then if the test panicked.
#[derive(Debug)]
pub struct Mosquitto {
    /// The port of its plain TCP listener.
    pub port: u16,
    /// The ports of the builder's extra listeners, in the order they were added.
    listener_ports: Vec<u16>,
    unix: Option<PathBuf>,
    builder: MosquittoBuilder,
    binary: PathBuf,
    dir: PathBuf,
    child: Option<Child>,
}

impl Mosquitto {
    /// A broker to configure before starting it.
    pub fn builder() -> MosquittoBuilder {
        MosquittoBuilder::default()
    }

    /// Starts mosquitto with the base configuration and its plain TCP listener only, or returns `None`
    /// after printing "skipped: mosquitto not installed" when it is not installed. With
    /// `PAHOISH_REQUIRE_MOSQUITTO=1` (CI sets it) a missing mosquitto fails the test.
    pub fn start_or_skip() -> Option<Mosquitto> {
        Mosquitto::builder().start_or_skip()
    }

    /// Kills mosquitto (SIGKILL: clients see their connection drop, as in a broker crash) and starts it
    /// again on the same ports, with no memory of the previous run (unless it is
    /// [`persistent`](MosquittoBuilder::persistent)).
    pub fn restart(&mut self) {
        self.kill();
        self.start_again();
    }

    /// Starts the stopped broker on its ports again. The old listening sockets are gone with the
    /// process; mosquitto sets SO_REUSEADDR, so connections in TIME_WAIT do not block the ports. A few
    /// attempts cover a slow process exit.
    fn start_again(&mut self) {
        let mut last = String::new();
        for _ in 0..5 {
            match self.spawn() {
                Ok(()) => return,
                Err(e) => last = e,
            }
        }
        panic!("mosquitto did not restart on port {}: {last}", self.port);
    }

    /// Stops mosquitto as `systemctl restart` or a shutdown does (SIGTERM: it saves its database, if it
    /// is [`persistent`](MosquittoBuilder::persistent), closes every connection and exits), waits for it
    /// to exit (at most [`STOP_LIMIT`], then the test fails) and starts it again on the same ports,
    /// with the same configuration and directory: a persistent broker comes back with the sessions,
    /// subscriptions and in-flight messages it saved.
    pub fn restart_gracefully(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
            // SAFETY: kill(2) on our own child, which has not been reaped (we hold its `Child`), so the
            // pid is still its own.
            let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
            assert_eq!(
                sent,
                0,
                "SIGTERM to mosquitto: {}",
                std::io::Error::last_os_error()
            );
            // Nothing signals a child's exit to a thread without blocking on it for good: poll it.
            let deadline = Instant::now() + STOP_LIMIT;
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => {
                        thread::sleep(Duration::from_millis(5))
                    }
                    other => {
                        let _ = child.kill();
                        let _ = child.wait();
                        panic!(
                            "mosquitto did not exit within {STOP_LIMIT:?} of SIGTERM: {other:?}"
                        );
                    }
                }
            }
        }
        self.start_again();
    }

    /// Kills mosquitto without starting it again (clients then fail to reconnect).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The address of the plain TCP listener.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The port of the extra listener `name` (see [`MosquittoBuilder::listener`]).
    pub fn listener_port(&self, name: &str) -> u16 {
        let i = self
            .builder
            .listeners
            .iter()
            .position(|l| l.name == name)
            .unwrap_or_else(|| panic!("no listener named {name:?}"));
        self.listener_ports[i]
    }

    /// The Unix socket's path (see [`MosquittoBuilder::unix_socket`]).
    pub fn unix_path(&self) -> &Path {
        self.unix
            .as_deref()
            .expect("mosquitto was started without a Unix socket listener")
    }

    /// The broker's own directory (its configuration, its log, its Unix socket, its database), kept
    /// across restarts and removed on drop.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// mosquitto's log so far (its stderr, every run of it), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Waits until a line of mosquitto's log contains `text`, at most [`WAIT`]; returns whether one did.
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

    fn log_path(&self) -> PathBuf {
        self.dir.join("mosquitto.log")
    }

    fn config(&self) -> String {
        let mut conf = String::from(BASE_CONFIG);
        let mut line = |l: &str| {
            conf.push_str(l);
            conf.push('\n');
        };
        if self.builder.persistent {
            line("persistence true");
            // mosquitto's manual asks for the trailing slash (older versions append the file name to
            // this as it is).
            line(&format!("persistence_location {}/", self.dir.display()));
        }
        for l in &self.builder.config {
            line(l);
        }
        line(&format!("listener {} 127.0.0.1", self.port));
        for (l, port) in self.builder.listeners.iter().zip(&self.listener_ports) {
            line(&format!("listener {port} 127.0.0.1"));
            for option in &l.options {
                line(option);
            }
        }
        if let Some(unix) = &self.unix {
            line(&format!("listener 0 {}", unix.display()));
        }
        conf
    }

    fn spawn(&mut self) -> Result<(), String> {
        let conf = self.dir.join("mosquitto.conf");
        std::fs::write(&conf, self.config())
            .map_err(|e| format!("writing {}: {e}", conf.display()))?;
        if let Some(unix) = &self.unix {
            let _ = std::fs::remove_file(unix);
        }
        // Appended to, so that the log of a restarted broker keeps its earlier runs; this run's lines
        // start at `from`.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|e| format!("opening the log: {e}"))?;
        let from = log.metadata().map_or(0, |m| m.len() as usize);
        let mut child = Command::new(&self.binary)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("running {}: {e}", self.binary.display()))?;
        // Starting a process is not something a test can be signalled about, so this polls. mosquitto
        // logs "mosquitto version ... running" once every listener is open: that line says the ports are
        // its own (a port probe alone could reach another test's server that was given one of them
        // meanwhile, while mosquitto exits for want of it). Then the plain TCP listener must accept a
        // connection. The process exiting means a port was taken (or the configuration is wrong).
        let deadline = Instant::now() + START_LIMIT;
        loop {
            let exited = child.try_wait();
            let all = self.log();
            let log = all.get(from..).unwrap_or_default();
            if let Ok(Some(status)) = exited {
                return Err(format!(
                    "mosquitto exited with {status} on port {}; log:\n{log}",
                    self.port
                ));
            }
            let running = log
                .lines()
                .any(|l| l.contains("mosquitto version") && l.ends_with(" running"));
            if running
                && TcpStream::connect_timeout(&self.addr(), Duration::from_millis(200)).is_ok()
            {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "mosquitto not up (running, accepting) on port {} within {START_LIMIT:?}; log:\n{log}",
                    self.port
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.kill();
        if thread::panicking() {
            eprintln!(
                "mosquitto log (port {}):\n{}",
                self.port,
                self.log().trim_end()
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `n` distinct ports no one listens on right now (all bound at once, then released).
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("binding 127.0.0.1:0"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local_addr").port())
        .collect()
}
