//! The `pub` and `sub` command-line tools (examples/pub.rs, examples/sub.rs), run as subprocesses:
//! - against `MockBroker`, checking the exact CONNECT (and SUBSCRIBE, UNSUBSCRIBE) bytes the options
//!   produce, a refused CONNACK, and `pub -q 1` resending after a lost connection;
//! - with bad and unsupported arguments, which must give one clear line and a status, never a panic;
//! - against a real mosquitto, in both directions with mosquitto's own tools (our pub to mosquitto_sub,
//!   mosquitto_pub to our sub): QoS 0/1/2, retained messages, `-l` with 10,000 lines in order, `-C`,
//!   `-W`, `-R`, `-F`. Skipped with a message when mosquitto is not installed, unless
//!   `PAHOISH_REQUIRE_MOSQUITTO=1`;
//! - against a mosquitto with TLS listeners (certificates made with the openssl command line), a Unix
//!   socket listener, through SOCKS5 and HTTP CONNECT proxies and a websocket relay, all shared with
//!   tests/transports.rs (tests/transport_support): `--cafile`, `--capath`, `--cert`/`--key`,
//!   `--insecure`, `--tls-version`, `-L mqtts://`, `-L ws://`, `--unix`, `--proxy`, and the one-line
//!   failures of certificates that do not verify;
//! - the `-F` formatter itself, included from examples/cli_common/format.rs.
//!
//! The examples are built once per run of this file (`cargo build --example pub --example sub`, into
//! the target directory and profile this test binary was built in), since cargo does not build examples
//! for `cargo test --test cli`. Nothing sleeps to synchronise: a test waits for a subprocess's output
//! line (our sub's and mosquitto_sub's `-d` output say when the subscription is acknowledged), for its
//! exit, or for the mock broker's script, each bounded; a subprocess still running at a limit is killed.

#[path = "../common/mod.rs"]
mod common;
#[path = "../transport_support/mod.rs"]
mod transport_support;

#[path = "../../examples/cli_common/format.rs"]
mod format;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, UNIX_EPOCH};

use common::{watchdog, Mosquitto, HOST, TEST_LIMIT, WAIT};
use pahoish::packet::{Packet, PubAck, Publish, SubAck, UnsubAck};
use pahoish::testing::{MockBroker, MockError, MockSession};
use pahoish::{Message, QoS};
use transport_support::broker::Broker;
use transport_support::certs::certs;
use transport_support::proxy::{HttpConnect, HttpProxy, SocksProxy, SocksRequest, Target};

/// What `MockBroker::finish` is given.
const FINISH: Duration = Duration::from_secs(15);

// ---- building and running the tools ----

static EXAMPLES: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// The directory holding the built `pub` and `sub`, building them first (once per test process) into
/// the target directory and profile of this test binary: `<target>/<profile>/deps/cli-*` runs, so the
/// examples go to `<target>/<profile>/examples/`, whatever CARGO_TARGET_DIR or --target-dir was.
fn examples_dir() -> &'static Path {
    let built = EXAMPLES.get_or_init(|| {
        // A cold build of the library may take a while on a small machine; it must not hang forever.
        let _wd = watchdog(Duration::from_secs(900));
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .ok_or_else(|| format!("unexpected test binary location {}", exe.display()))?;
        let target_dir = profile_dir
            .parent()
            .ok_or_else(|| format!("no target directory above {}", profile_dir.display()))?;
        let profile = profile_dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("debug");
        let mut cargo = Command::new(env!("CARGO"));
        cargo
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["build", "--quiet", "--example", "pub", "--example", "sub"])
            .arg("--target-dir")
            .arg(target_dir);
        match profile {
            "debug" => {}
            "release" => {
                cargo.arg("--release");
            }
            other => {
                cargo.args(["--profile", other]);
            }
        }
        let out = cargo.output().map_err(|e| format!("running cargo: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "cargo build --example pub --example sub failed ({}):\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(profile_dir.join("examples"))
    });
    match built {
        Ok(dir) => dir,
        Err(e) => panic!("{e}"),
    }
}

fn our(tool: &str) -> PathBuf {
    examples_dir().join(tool)
}

/// mosquitto_pub or mosquitto_sub: on PATH or in /usr/bin. `None` (after saying so) when missing,
/// unless PAHOISH_REQUIRE_MOSQUITTO=1 makes that a failure.
fn mosquitto_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/local/bin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        if std::env::var("PAHOISH_REQUIRE_MOSQUITTO").as_deref() == Ok("1") {
            panic!("{name} is not installed but PAHOISH_REQUIRE_MOSQUITTO=1 requires it");
        }
        println!("skipped: {name} not installed");
    }
    found
}

/// A mosquitto broker and its two tools, or `None` when any is missing (the test then skips).
fn mosquitto_setup() -> Option<(Mosquitto, PathBuf, PathBuf)> {
    let broker = Mosquitto::start_or_skip()?;
    let mpub = mosquitto_tool("mosquitto_pub")?;
    let msub = mosquitto_tool("mosquitto_sub")?;
    Some((broker, mpub, msub))
}

/// A running subprocess whose stdout and stderr are read line by line on threads of their own.
struct Proc {
    what: String,
    child: Child,
    stdin: Option<ChildStdin>,
    writer: Option<JoinHandle<()>>,
    out: Receiver<Vec<u8>>,
    err: Receiver<Vec<u8>>,
    out_all: Arc<Mutex<Vec<u8>>>,
    err_all: Arc<Mutex<Vec<u8>>>,
    /// One `()` from each reader when its pipe reaches end of file.
    eof: Receiver<()>,
    readers: Vec<JoinHandle<()>>,
    finished: bool,
}

/// How a subprocess ended.
struct Done {
    /// The exit status; `None` if it was killed by a signal.
    status: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

impl std::fmt::Debug for Done {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Done")
            .field("status", &self.status)
            .field("stdout", &String::from_utf8_lossy(&self.stdout))
            .field("stderr", &self.stderr)
            .finish()
    }
}

impl Done {
    fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Checks that nothing Rust-internal reached the user.
    fn assert_no_panic(&self) {
        for text in [&self.stderr, &self.stdout_text()] {
            assert!(
                !text.contains("panicked") && !text.contains("RUST_BACKTRACE"),
                "a panic reached the user: {self:?}"
            );
        }
    }
}

fn read_lines(
    pipe: impl Read + Send + 'static,
    lines: Sender<Vec<u8>>,
    all: Arc<Mutex<Vec<u8>>>,
    eof: Sender<()>,
) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        loop {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    all.lock().unwrap().extend_from_slice(&line);
                    let _ = lines.send(line);
                }
            }
        }
        let _ = eof.send(());
    })
}

impl Proc {
    fn spawn(exe: &Path, args: &[&str]) -> Proc {
        let what = format!("{} {}", exe.display(), args.join(" "));
        let mut child = Command::new(exe)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {what}: {e}"));
        let (out_tx, out) = mpsc::channel();
        let (err_tx, err) = mpsc::channel();
        let (eof_tx, eof) = mpsc::channel();
        let out_all = Arc::new(Mutex::new(Vec::new()));
        let err_all = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            read_lines(
                child.stdout.take().expect("stdout"),
                out_tx,
                Arc::clone(&out_all),
                eof_tx.clone(),
            ),
            read_lines(
                child.stderr.take().expect("stderr"),
                err_tx,
                Arc::clone(&err_all),
                eof_tx,
            ),
        ];
        let stdin = child.stdin.take();
        Proc {
            what,
            child,
            stdin,
            writer: None,
            out,
            err,
            out_all,
            err_all,
            eof,
            readers,
            finished: false,
        }
    }

    /// Writes `data` to the process's stdin on a thread (so a large input cannot block the test), then
    /// closes stdin.
    fn feed(&mut self, data: Vec<u8>) {
        let mut stdin = self.stdin.take().expect("stdin not yet closed");
        self.writer = Some(thread::spawn(move || {
            // A process that exits before reading everything closes the pipe: not this thread's
            // business, the test checks the outcome.
            let _ = stdin.write_all(&data);
        }));
    }

    /// Waits for a line on `stream` containing `needle`, failing the test after [`WAIT`].
    fn wait_line(&self, stream: &Receiver<Vec<u8>>, needle: &str, what: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match stream.recv_timeout(left) {
                Ok(line) => {
                    let line = String::from_utf8_lossy(&line).into_owned();
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "{what}: no line with {needle:?} from {} within {WAIT:?}; stdout {:?}, stderr {:?}",
                    self.what,
                    String::from_utf8_lossy(&self.out_all.lock().unwrap()),
                    String::from_utf8_lossy(&self.err_all.lock().unwrap()),
                ),
            }
        }
    }

    fn wait_stderr(&self, needle: &str, what: &str) -> String {
        self.wait_line(&self.err, needle, what)
    }

    fn wait_stdout(&self, needle: &str, what: &str) -> String {
        self.wait_line(&self.out, needle, what)
    }

    /// Closes stdin and waits (at most `limit`) for the process to end; kills it and fails the test if
    /// it does not.
    fn finish(mut self, limit: Duration) -> Done {
        drop(self.stdin.take());
        let deadline = Instant::now() + limit;
        let mut ended = 0;
        while ended < 2 {
            match self
                .eof
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(()) => ended += 1,
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    self.finished = true;
                    panic!(
                        "{} still running after {limit:?}: killed; stdout {:?}, stderr {:?}",
                        self.what,
                        String::from_utf8_lossy(&self.out_all.lock().unwrap()),
                        String::from_utf8_lossy(&self.err_all.lock().unwrap()),
                    );
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        // Both pipes are closed: the process has exited (or is about to), so this wait is short.
        let status = self.child.wait().expect("wait").code();
        self.finished = true;
        for r in self.readers.drain(..) {
            r.join().expect("reader thread");
        }
        if let Some(w) = self.writer.take() {
            w.join().expect("stdin writer thread");
        }
        let stdout = std::mem::take(&mut *self.out_all.lock().unwrap());
        let stderr = String::from_utf8_lossy(&self.err_all.lock().unwrap()).into_owned();
        Done {
            status,
            stdout,
            stderr,
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.child.kill();
            let _ = self.child.wait();
            for r in self.readers.drain(..) {
                let _ = r.join();
            }
            if let Some(w) = self.writer.take() {
                let _ = w.join();
            }
        }
    }
}

/// Runs a tool to completion (bounded by [`WAIT`]) with nothing on stdin.
fn run(exe: &Path, args: &[&str]) -> Done {
    Proc::spawn(exe, args).finish(WAIT)
}

// ---- the bytes the options produce, against MockBroker ----

/// CONNACK: accepted.
const CONNACK_ACCEPTED: [u8; 4] = [0x20, 0x02, 0x00, 0x00];
/// DISCONNECT.
const DISCONNECT: [u8; 2] = [0xe0, 0x00];

fn clean_close(s: &mut MockSession) -> Result<(), MockError> {
    s.expect(&DISCONNECT)?;
    s.expect_closed()
}

fn publish_packet(topic: &str, payload: &[u8], qos: QoS, pkid: u16, retain: bool) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos,
        retain,
        topic: topic.into(),
        pkid,
        payload: payload.to_vec(),
    })
}

/// `pub -i -k -u -P --will-*`: each option lands in CONNECT, byte for byte; then the PUBLISH and a
/// clean DISCONNECT, and status 0.
#[test]
fn pub_options_go_into_connect() {
    let exe = our("pub");
    let _wd = watchdog(TEST_LIMIT);
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&[
            0x10, 0x29, // CONNECT, remaining length 41
            0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
            0x04, // protocol level 4 (3.1.1)
            0xf6, // flags: user name, password, will retain, will QoS 2, will, clean session
            0x00, 0x1e, // keepalive 30 s (-k 30)
            0x00, 0x04, b'c', b'l', b'i', b'1', // client id "cli1" (-i)
            0x00, 0x06, b's', b't', b'a', b't', b'u', b's', // will topic (--will-topic)
            0x00, 0x04, b'g', b'o', b'n', b'e', // will message (--will-payload)
            0x00, 0x03, b'b', b'o', b'b', // user name (-u)
            0x00, 0x04, b'p', b'a', b's', b's', // password (-P)
        ])?;
        s.send(&CONNACK_ACCEPTED)?;
        s.expect_packet(&publish_packet("t/1", b"hello", QoS::AtMostOnce, 0, false))?;
        clean_close(s)
    });
    let port = broker.port().to_string();
    let done = run(
        &exe,
        &[
            "-h",
            HOST,
            "-p",
            &port,
            "-i",
            "cli1",
            "-k",
            "30",
            "-u",
            "bob",
            "-P",
            "pass",
            "--will-topic",
            "status",
            "--will-payload",
            "gone",
            "--will-qos",
            "2",
            "--will-retain",
            "-t",
            "t/1",
            "-m",
            "hello",
        ],
    );
    broker.finish(FINISH).unwrap();
    done.assert_no_panic();
    assert_eq!(done.status, Some(0), "{done:?}");
    assert_eq!(done.stdout, b"", "{done:?}");
}

/// `-V 31` sends MQTT 3.1's CONNECT, `-I` makes the id from a prefix and the process id; `-r -q 1`
/// gives a retained QoS 1 PUBLISH, and pub waits for its PUBACK before DISCONNECT.
#[test]
fn pub_mqtt31_id_prefix_retained_qos1() {
    let exe = our("pub");
    let _wd = watchdog(TEST_LIMIT);
    let (pid_tx, pid_rx) = mpsc::channel::<u32>();
    let broker = MockBroker::start(move |s| {
        s.accept()?;
        let Packet::Connect(c) = s.recv_packet()? else {
            return Err(MockError::script("the first packet was not CONNECT"));
        };
        let pid = pid_rx
            .recv_timeout(WAIT)
            .map_err(|_| MockError::script("no pid"))?;
        let want = format!("pre-{pid}");
        let ok = c.protocol == pahoish::MQTTv31
            && c.clean_session
            && c.keepalive == 60
            && c.client_id == want;
        if !ok {
            return Err(MockError::script(format!(
                "CONNECT {c:?}, wanted MQTT 3.1, clean session, keepalive 60, id {want}"
            )));
        }
        s.send(&CONNACK_ACCEPTED)?;
        s.expect(&[
            0x33, 0x07, // PUBLISH, QoS 1, retain, remaining length 7
            0x00, 0x01, b'r', // topic "r"
            0x00, 0x01, // packet identifier 1
            b'o', b'n', // payload "on"
        ])?;
        s.send_packet(&Packet::PubAck(PubAck { pkid: 1 }))?;
        clean_close(s)
    });
    let port = broker.port().to_string();
    let p = Proc::spawn(
        &exe,
        &[
            "-h", HOST, "-p", &port, "-I", "pre-", "-V", "31", "-t", "r", "-m", "on", "-r", "-q",
            "1",
        ],
    );
    pid_tx.send(p.child.id()).unwrap();
    let done = p.finish(WAIT);
    broker.finish(FINISH).unwrap();
    assert_eq!(done.status, Some(0), "{done:?}");
}

/// The CONNECT of `-c` and the `-c` check: a persistent session needs `-i`, exactly as mosquitto says.
#[test]
fn pub_disable_clean_session_connect_bytes() {
    let exe = our("pub");
    let _wd = watchdog(TEST_LIMIT);
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&[
            0x10, 0x10, // CONNECT, remaining length 16
            0x00, 0x04, b'M', b'Q', b'T', b'T', // "MQTT"
            0x04, // 3.1.1
            0x00, // flags: nothing, not even clean session (-c)
            0x00, 0x3c, // keepalive 60 (the default)
            0x00, 0x04, b'k', b'e', b'e', b'p', // client id "keep"
        ])?;
        s.send(&CONNACK_ACCEPTED)?;
        s.expect_packet(&publish_packet("t", b"", QoS::AtMostOnce, 0, false))?;
        clean_close(s)
    });
    let port = broker.port().to_string();
    let done = run(
        &exe,
        &["-p", &port, "-h", HOST, "-c", "-i", "keep", "-t", "t", "-n"],
    );
    broker.finish(FINISH).unwrap();
    assert_eq!(done.status, Some(0), "{done:?}");

    let done = run(&exe, &["-c", "-t", "t", "-n"]);
    assert_eq!(done.status, Some(1), "{done:?}");
    assert!(
        done.stderr.contains("You must provide a client id"),
        "{done:?}"
    );
}

/// sub's CONNECT (id, keepalive, clean session off), one SUBSCRIBE for every -t at the -q QoS, the
/// message printed, its PUBACK after it is printed, and DISCONNECT after -C 1.
#[test]
fn sub_connect_subscribe_and_print() {
    let exe = our("sub");
    let _wd = watchdog(TEST_LIMIT);
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&[
            0x10, 0x0e, // CONNECT, remaining length 14
            0x00, 0x04, b'M', b'Q', b'T', b'T', // "MQTT"
            0x04, // 3.1.1
            0x00, // flags: no clean session (-c)
            0x00, 0x0a, // keepalive 10 (-k 10)
            0x00, 0x02, b's', b'1', // client id "s1"
        ])?;
        s.send(&CONNACK_ACCEPTED)?;
        s.expect(&[
            0x82, 0x0c, // SUBSCRIBE, remaining length 12
            0x00, 0x01, // packet identifier 1
            0x00, 0x01, b'a', 0x01, // "a", QoS 1
            0x00, 0x03, b'b', b'/', b'#', 0x01, // "b/#", QoS 1
        ])?;
        s.send_packet(&Packet::SubAck(SubAck {
            pkid: 1,
            return_codes: vec![1, 1],
        }))?;
        s.send_packet(&publish_packet(
            "b/c",
            b"payload",
            QoS::AtLeastOnce,
            7,
            false,
        ))?;
        s.expect_packet(&Packet::PubAck(PubAck { pkid: 7 }))?;
        clean_close(s)
    });
    let port = broker.port().to_string();
    let done = run(
        &exe,
        &[
            "-h", HOST, "-p", &port, "-i", "s1", "-k", "10", "-c", "-q", "1", "-t", "a", "-t",
            "b/#", "-C", "1", "-v",
        ],
    );
    broker.finish(FINISH).unwrap();
    assert_eq!(done.status, Some(0), "{done:?}");
    assert_eq!(done.stdout_text(), "b/c payload\n");
}

/// `sub -U` without `-t`: one UNSUBSCRIBE per filter, and sub exits once they are acknowledged;
/// `-E` exits once the SUBACK arrives.
#[test]
fn sub_unsubscribe_and_exit_after_subscribe() {
    let exe = our("sub");
    let _wd = watchdog(TEST_LIMIT);
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.recv_packet()?; // CONNECT
        s.send(&CONNACK_ACCEPTED)?;
        s.expect(&[
            0xa2, 0x05, // UNSUBSCRIBE, remaining length 5
            0x00, 0x01, // packet identifier 1
            0x00, 0x01, b'x', // "x"
        ])?;
        s.expect(&[0xa2, 0x05, 0x00, 0x02, 0x00, 0x01, b'y'])?;
        s.send_packet(&Packet::UnsubAck(UnsubAck { pkid: 1 }))?;
        s.send_packet(&Packet::UnsubAck(UnsubAck { pkid: 2 }))?;
        clean_close(s)?;

        s.accept()?;
        s.recv_packet()?; // CONNECT
        s.send(&CONNACK_ACCEPTED)?;
        s.recv_packet()?; // SUBSCRIBE
        s.send_packet(&Packet::SubAck(SubAck {
            pkid: 1,
            return_codes: vec![0],
        }))?;
        clean_close(s)
    });
    let port = broker.port().to_string();
    let done = run(
        &exe,
        &[
            "-p", &port, "-h", HOST, "-c", "-i", "u", "-U", "x", "-U", "y",
        ],
    );
    assert_eq!(done.status, Some(0), "{done:?}");
    let done = run(&exe, &["-p", &port, "-h", HOST, "-t", "e", "-E"]);
    assert_eq!(done.status, Some(0), "{done:?}");
    broker.finish(FINISH).unwrap();
}

/// A refused CONNACK: one line with Paho's connack string, status 5 (as mosquitto's tools), for both
/// tools; and a SUBACK refusing everything ends sub with status 1.
#[test]
fn refused_connack_and_denied_subscription() {
    let (pub_exe, sub_exe) = (our("pub"), our("sub"));
    let _wd = watchdog(TEST_LIMIT);
    let broker = MockBroker::start(|s| {
        for _ in 0..2 {
            s.accept()?;
            s.recv_packet()?; // CONNECT
            s.send(&[0x20, 0x02, 0x00, 0x05])?; // CONNACK: not authorised
            s.expect_closed()?;
        }
        s.accept()?;
        s.recv_packet()?; // CONNECT
        s.send(&CONNACK_ACCEPTED)?;
        s.recv_packet()?; // SUBSCRIBE
        s.send_packet(&Packet::SubAck(SubAck {
            pkid: 1,
            return_codes: vec![0x80],
        }))?;
        clean_close(s)
    });
    let port = broker.port().to_string();
    for (exe, args) in [
        (&pub_exe, &["-t", "t", "-m", "x"][..]),
        (&sub_exe, &["-t", "t"][..]),
    ] {
        let mut a = args.to_vec();
        a.extend(["-p", &port, "-h", HOST]);
        let done = run(exe, &a);
        done.assert_no_panic();
        assert_eq!(done.status, Some(5), "{done:?}");
        assert_eq!(
            done.stderr,
            "Connection error: Connection Refused: not authorised.\n"
        );
    }
    let done = run(&sub_exe, &["-p", &port, "-h", HOST, "-t", "secret"]);
    assert_eq!(done.status, Some(1), "{done:?}");
    assert_eq!(
        done.stderr,
        "Error: All subscription requests were denied.\n"
    );
    broker.finish(FINISH).unwrap();
}

/// `-L mqtt://user:pass@host:port/topic` sets the credentials, the broker and the topic; `-f` publishes
/// a file's bytes as one message and `--repeat 3` three times; `-s` publishes all of stdin, bytes as
/// they are; `--repeat-delay` waits after each publication (here: after each PUBACK) before the next.
#[test]
fn pub_url_file_stdin_and_repeat() {
    let exe = our("pub");
    let _wd = watchdog(TEST_LIMIT);
    let file_bytes: Vec<u8> = b"line one\nline two\n\x00\xff".to_vec();
    let stdin_bytes: Vec<u8> = b"\r\nall of stdin\n\x01".to_vec();
    let (f, s_in) = (file_bytes.clone(), stdin_bytes.clone());
    let broker = MockBroker::start(move |s| {
        s.accept()?;
        s.expect(&[
            0x10, 0x13, // CONNECT, remaining length 19
            0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, // "MQTT", 3.1.1
            0xc2, // flags: user name, password, clean session
            0x00, 0x3c, // keepalive 60
            0x00, 0x00, // client id: none
            0x00, 0x01, b'u', // user name from the URL
            0x00, 0x02, b'p', b'w', // password from the URL
        ])?;
        s.send(&CONNACK_ACCEPTED)?;
        for _ in 0..3 {
            s.expect_packet(&publish_packet("url/topic", &f, QoS::AtMostOnce, 0, false))?;
        }
        clean_close(s)?;

        s.accept()?;
        s.recv_packet()?; // CONNECT
        s.send(&CONNACK_ACCEPTED)?;
        s.expect_packet(&publish_packet("in", &s_in, QoS::AtMostOnce, 0, false))?;
        clean_close(s)?;

        s.accept()?;
        s.recv_packet()?; // CONNECT
        s.send(&CONNACK_ACCEPTED)?;
        s.expect_packet(&publish_packet("rep", b"x", QoS::AtLeastOnce, 1, false))?;
        s.send_packet(&Packet::PubAck(PubAck { pkid: 1 }))?;
        // --repeat-delay 0.4: nothing for a while after the PUBACK.
        s.expect_silence(Duration::from_millis(250))?;
        s.expect_packet(&publish_packet("rep", b"x", QoS::AtLeastOnce, 2, false))?;
        s.send_packet(&Packet::PubAck(PubAck { pkid: 2 }))?;
        clean_close(s)
    });
    let port = broker.port();
    let file = std::env::temp_dir().join(format!(
        "pahoish-cli-{}-{}",
        std::process::id(),
        common::unique()
    ));
    std::fs::write(&file, &file_bytes).unwrap();
    let url = format!("mqtt://u:pw@{HOST}:{port}/url/topic");
    let done = run(
        &exe,
        &["-L", &url, "-f", file.to_str().unwrap(), "--repeat", "3"],
    );
    let _ = std::fs::remove_file(&file);
    assert_eq!(done.status, Some(0), "{done:?}");

    let port = port.to_string();
    let mut p = Proc::spawn(&exe, &["-h", HOST, "-p", &port, "-t", "in", "-s"]);
    p.feed(stdin_bytes);
    let done = p.finish(WAIT);
    assert_eq!(done.status, Some(0), "{done:?}");

    let started = Instant::now();
    let done = run(
        &exe,
        &[
            "-h",
            HOST,
            "-p",
            &port,
            "-t",
            "rep",
            "-m",
            "x",
            "-q",
            "1",
            "--repeat",
            "2",
            "--repeat-delay",
            "0.4",
        ],
    );
    assert_eq!(done.status, Some(0), "{done:?}");
    assert!(started.elapsed() >= Duration::from_millis(400));
    broker.finish(FINISH).unwrap();

    let done = run(&exe, &["-t", "t", "-f", "/nonexistent/pahoish-file"]);
    assert_eq!(done.status, Some(1), "{done:?}");
    assert!(
        done.stderr.starts_with("Error: Unable to read file"),
        "{done:?}"
    );
}

/// `pub -q 1` whose connection drops before the PUBACK reconnects (after the 1 s backoff), sends the
/// message again with DUP set, and exits 0 only once it is acknowledged.
#[test]
fn pub_qos1_resends_after_a_lost_connection() {
    let exe = our("pub");
    let _wd = watchdog(TEST_LIMIT);
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.recv_packet()?; // CONNECT
        s.send(&CONNACK_ACCEPTED)?;
        s.expect_packet(&publish_packet("r", b"keep", QoS::AtLeastOnce, 1, false))?;
        s.close();
        s.accept()?;
        s.recv_packet()?; // CONNECT
        s.send(&CONNACK_ACCEPTED)?;
        s.expect(&[
            0x3a, 0x09, // PUBLISH, DUP, QoS 1, remaining length 9
            0x00, 0x01, b'r', // topic "r"
            0x00, 0x01, // packet identifier 1, as before
            b'k', b'e', b'e', b'p', // payload
        ])?;
        s.send_packet(&Packet::PubAck(PubAck { pkid: 1 }))?;
        clean_close(s)
    });
    let port = broker.port().to_string();
    let done = run(
        &exe,
        &["-p", &port, "-h", HOST, "-t", "r", "-m", "keep", "-q", "1"],
    );
    broker.finish(FINISH).unwrap();
    assert_eq!(done.status, Some(0), "{done:?}");
}

// ---- arguments: usage, help, unsupported options, connection errors ----

/// Bad arguments: the reason and the usage on stderr, nothing on stdout, status 1, and no connection
/// attempted (the port has no listener, so a connection attempt would say "Connection refused").
#[test]
fn bad_arguments_print_usage_and_exit_1() {
    let (pub_exe, sub_exe) = (our("pub"), our("sub"));
    let _wd = watchdog(TEST_LIMIT);
    let port = common::free_port().to_string();
    let p = port.as_str();
    let cases: Vec<(&Path, Vec<&str>, &str)> = vec![
        (&pub_exe, vec![], "Both topic and message must be supplied"),
        (&pub_exe, vec!["-t", "a"], "Both topic and message"),
        (&pub_exe, vec!["-m", "a"], "Both topic and message"),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "-q", "3"],
            "Invalid QoS",
        ),
        (
            &pub_exe,
            vec!["-t", "a/#", "-m", "x"],
            "Invalid publish topic",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "-k", "2"],
            "Invalid keepalive",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "-p", "0"],
            "Invalid port",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "-p", "70000"],
            "Invalid port",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "-p", "x"],
            "Invalid port",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "--bogus"],
            "Unknown option '--bogus'",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "-v"],
            "Unknown option '-v'",
        ),
        (
            &pub_exe,
            vec!["-i", "a", "-I", "b"],
            "cannot be used together",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "-n"],
            "Only one type of message",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m"],
            "-m argument given but no message specified",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "--repeat", "0"],
            "Invalid repeat count",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "--repeat-delay", "-1"],
            "Invalid repeat delay",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "--repeat-delay", "1e30"],
            "Invalid repeat delay",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "-V", "4"],
            "Invalid protocol version",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "-M", "0"],
            "Invalid max inflight",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "--will-payload", "w"],
            "no will topic",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "--will-retain"],
            "no will topic",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "--will-topic", "w/+"],
            "Invalid will topic",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "-P", "pw"],
            "needs a username",
        ),
        (
            &pub_exe,
            vec!["-L", "foo://h/t", "-m", "x"],
            "Unsupported URL scheme",
        ),
        (&pub_exe, vec!["-L", "mqtt://h", "-m", "x"], "topic missing"),
        (
            &pub_exe,
            vec!["-L", "mqtt://h:0/t", "-m", "x"],
            "Invalid port",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "--proxy", "ftp://p"],
            "Unsupported proxy",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "--proxy", "socks5h://p:0"],
            "Invalid port '0' in proxy URL",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "--proxy", "socks5h://u:p@"],
            "No host in proxy URL",
        ),
        (
            &pub_exe,
            vec!["-L", "mqtt://[::1/t", "-m", "x"],
            "Invalid IPv6 address",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "--tls-version", "tlsv1"],
            "Invalid TLS version 'tlsv1'",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "--key", "k.pem"],
            "no --cert",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "--cafile"],
            "--cafile argument given but no file specified",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "--unix", "/s", "--cafile", "ca.pem"],
            "--unix cannot be used with TLS options",
        ),
        (
            &sub_exe,
            vec!["-t", "a", "--unix", "/s", "--proxy", "socks5h://p"],
            "--unix cannot be used with --proxy",
        ),
        (
            &sub_exe,
            vec!["--unix", "/s", "-L", "mqtt://h/t"],
            "--unix cannot be used with -L",
        ),
        (&sub_exe, vec![], "You must specify a topic"),
        (&sub_exe, vec!["-t", "a/#/b"], "Invalid subscription topic"),
        (
            &sub_exe,
            vec!["-t", "a", "-T", "b+"],
            "Invalid topic filter",
        ),
        (
            &sub_exe,
            vec!["-t", "a", "-F", "%z"],
            "Invalid format specifier 'z'",
        ),
        (
            &sub_exe,
            vec!["-t", "a", "-F", "100%"],
            "Incomplete format specifier",
        ),
        (
            &sub_exe,
            vec!["-t", "a", "-F", "\\q"],
            "Invalid escape specifier 'q'",
        ),
        (&sub_exe, vec!["-t", "a", "-F", "%J"], "not supported"),
        (
            &sub_exe,
            vec!["-t", "a", "-R", "--retained-only"],
            "makes no sense",
        ),
        (
            &sub_exe,
            vec!["-t", "a", "-C", "0"],
            "Invalid message count",
        ),
        (&sub_exe, vec!["-t", "a", "-W", "0"], "Invalid timeout"),
        (&sub_exe, vec!["-t", "a", "-m", "x"], "Unknown option '-m'"),
        (
            &sub_exe,
            vec!["-t", "a", "-c"],
            "You must provide a client id",
        ),
    ];
    for (exe, extra, reason) in cases {
        let mut args = vec!["-h", HOST, "-p", p];
        args.extend(extra);
        let done = run(exe, &args);
        done.assert_no_panic();
        assert_eq!(done.status, Some(1), "{args:?}: {done:?}");
        assert!(done.stdout.is_empty(), "{args:?}: {done:?}");
        assert!(done.stderr.starts_with("Error: "), "{args:?}: {done:?}");
        assert!(
            done.stderr.contains(reason),
            "{args:?}: wanted {reason:?} in {done:?}"
        );
        assert!(done.stderr.contains("Usage: "), "{args:?}: {done:?}");
        assert!(
            !done.stderr.contains("Connection refused"),
            "{args:?}: {done:?}"
        );
    }
}

/// `--help` and `--version` print to stdout and exit 0; the help names every option of the issue.
#[test]
fn help_and_version() {
    let (pub_exe, sub_exe) = (our("pub"), our("sub"));
    let _wd = watchdog(TEST_LIMIT);
    let common_opts = [
        "--host",
        "--port",
        "--url",
        "--id",
        "--id-prefix",
        "--keepalive",
        "--disable-clean-session",
        "--protocol-version",
        "--username",
        "--pw",
        "--will-topic",
        "--will-payload",
        "--will-qos",
        "--will-retain",
        "--cafile",
        "--capath",
        "--cert",
        "--key",
        "--insecure",
        "--tls-alpn",
        "--tls-version",
        "--tls-use-os-certs",
        "--ciphers",
        "--unix",
        "--proxy",
        "--debug",
        "--quiet",
        "--help",
        "--version",
    ];
    let pub_opts = [
        "--topic",
        "--message",
        "--file",
        "--stdin-line",
        "--stdin-file",
        "--null-message",
        "--qos",
        "--retain",
        "--repeat",
        "--repeat-delay",
        "-M",
    ];
    let sub_opts = [
        "--topic",
        "--filter-out",
        "--unsubscribe",
        "--qos",
        "-C",
        "-W",
        "-E",
        "-R",
        "--retained-only",
        "--remove-retained",
        "--verbose",
        "-N",
        "-F",
    ];
    for (exe, own) in [(&pub_exe, &pub_opts[..]), (&sub_exe, &sub_opts[..])] {
        let done = run(exe, &["--help"]);
        assert_eq!(done.status, Some(0), "{done:?}");
        assert!(done.stderr.is_empty(), "{done:?}");
        let help = done.stdout_text();
        for opt in common_opts.iter().chain(own) {
            assert!(help.contains(opt), "--help lacks {opt}:\n{help}");
        }
        let done = run(exe, &["--version"]);
        assert_eq!(done.status, Some(0), "{done:?}");
        assert!(done.stdout_text().contains("pahoish"), "{done:?}");
    }
}

/// What this version cannot do is refused with one clear line and status 1, before any connection
/// (the port has no listener, so a connection attempt would say "Connection refused"): MQTT 5,
/// `--ciphers` (the TLS library has no cipher selection), and `--tls-use-os-certs` with `--cafile`.
#[test]
fn unsupported_options_are_refused_not_ignored() {
    let (pub_exe, sub_exe) = (our("pub"), our("sub"));
    let _wd = watchdog(TEST_LIMIT);
    let port = common::free_port().to_string();
    let p = port.as_str();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["-V", "5"], "MQTT 5"),
        (vec!["-V", "mqttv5"], "MQTT 5"),
        (
            vec!["--cafile", "/etc/ssl/ca.pem", "--ciphers", "HIGH"],
            "--ciphers is not supported",
        ),
        (vec!["--ciphers", "HIGH"], "--ciphers is not supported"),
        (
            vec!["--tls-use-os-certs", "--cafile", "/etc/ssl/ca.pem"],
            "--tls-use-os-certs cannot be combined",
        ),
    ];
    for (exe, extra) in [
        (&pub_exe, ["-t", "a", "-m", "x"]),
        (&sub_exe, ["-t", "a", "-C", "1"]),
    ] {
        for (case, reason) in &cases {
            let mut args = case.clone();
            args.extend(extra);
            args.extend(["-h", HOST, "-p", p]);
            let done = run(exe, &args);
            done.assert_no_panic();
            assert_eq!(done.status, Some(1), "{args:?}: {done:?}");
            assert!(
                done.stderr.contains("not supported") || done.stderr.contains("cannot be combined"),
                "{args:?}: {done:?}"
            );
            assert!(done.stderr.contains(reason), "{args:?}: {done:?}");
            assert!(
                !done.stderr.contains("Connection refused"),
                "{args:?}: {done:?}"
            );
            assert_eq!(done.stderr.lines().count(), 1, "{args:?}: {done:?}");
        }
    }
}

/// The transports are used, not ignored: with no listener anywhere, each option fails at the step it
/// adds, and says so in one line (status 1): `--unix` names the socket, `--proxy` the proxy, and
/// `-L ws://`, `mqtts://` and TLS options try the broker's port (so "Connection refused").
#[test]
fn transport_options_are_used_not_ignored() {
    let (pub_exe, sub_exe) = (our("pub"), our("sub"));
    let _wd = watchdog(TEST_LIMIT);
    let port = common::free_port().to_string();
    let proxy_port = common::free_port().to_string();
    let socket = std::env::temp_dir()
        .join(format!("pahoish-cli-no-such-{}.sock", std::process::id()))
        .to_str()
        .expect("UTF-8")
        .to_owned();
    let socks = format!("socks5h://{HOST}:{proxy_port}");
    let http = format!("http://{HOST}:{proxy_port}");
    let ws = format!("ws://{HOST}:{port}/a");
    let mqtts = format!("mqtts://{HOST}:{port}/a");
    let cases: Vec<(Vec<&str>, String)> = vec![
        (vec!["--unix", &socket, "-t", "a"], socket.clone()),
        (
            vec!["-h", HOST, "-p", &port, "--proxy", &socks, "-t", "a"],
            format!("proxy at {HOST}:{proxy_port}"),
        ),
        (
            vec!["-h", HOST, "-p", &port, "--proxy", &http, "-t", "a"],
            format!("proxy at {HOST}:{proxy_port}"),
        ),
        (vec!["-L", &ws], "Connection refused".into()),
        (vec!["-L", &mqtts], "Connection refused".into()),
        (
            vec!["-h", HOST, "-p", &port, "--insecure", "-t", "a"],
            "Connection refused".into(),
        ),
    ];
    for (exe, extra) in [(&pub_exe, ["-m", "x"]), (&sub_exe, ["-C", "1"])] {
        for (case, needle) in &cases {
            let mut args = case.clone();
            args.extend(extra);
            let done = run(exe, &args);
            done.assert_no_panic();
            assert_eq!(done.status, Some(1), "{args:?}: {done:?}");
            assert_eq!(done.stderr.lines().count(), 1, "{args:?}: {done:?}");
            assert!(
                done.stderr.contains(needle.as_str()),
                "{args:?}: wanted {needle:?} in {done:?}"
            );
        }
    }
}

/// No broker: one line naming the reason (as mosquitto: "Error: Connection refused"), status 1; with
/// --quiet, nothing.
#[test]
fn connection_refused_is_one_line() {
    let (pub_exe, sub_exe) = (our("pub"), our("sub"));
    let _wd = watchdog(TEST_LIMIT);
    let port = common::free_port().to_string();
    for (exe, args) in [
        (&pub_exe, ["-t", "a", "-m", "x"]),
        (&sub_exe, ["-t", "a", "-v", "-v"]),
    ] {
        let mut a = args.to_vec();
        a.extend(["-h", HOST, "-p", &port]);
        let done = run(exe, &a);
        done.assert_no_panic();
        assert_eq!(done.status, Some(1), "{done:?}");
        assert_eq!(done.stderr, "Error: Connection refused\n");
        a.push("--quiet");
        let done = run(exe, &a);
        assert_eq!(done.status, Some(1), "{done:?}");
        assert_eq!(done.stderr, "");
    }
}

// ---- against mosquitto, with mosquitto's own tools ----

/// A mosquitto_sub that is known to be subscribed; see [`mosquitto_sub_ready`].
struct TheirSub(Proc);

impl TheirSub {
    /// Waits for mosquitto_sub to end; its output without the marker line.
    fn finish(self) -> Done {
        let mut done = self.0.finish(WAIT);
        let first = done
            .stdout
            .iter()
            .position(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        done.stdout.drain(..first);
        done
    }
}

/// Starts mosquitto_sub on `topic` for `count` messages (with `args`) and waits until it is
/// subscribed. mosquitto_sub's `-d` output is block-buffered in a pipe, so it cannot say so in time;
/// instead it also subscribes to a topic holding a retained marker, and its first line (retained
/// messages come right after the SUBACK) says the subscription is in place.
fn mosquitto_sub_ready(
    mpub: &Path,
    msub: &Path,
    port: u16,
    topic: &str,
    count: usize,
    args: &[&str],
) -> TheirSub {
    let port = port.to_string();
    let marker = format!("cli/sync/{}", common::unique());
    let done = run(
        mpub,
        &["-h", HOST, "-p", &port, "-t", &marker, "-m", "sync", "-r"],
    );
    assert_eq!(done.status, Some(0), "retained marker: {done:?}");
    let count = (count + 1).to_string();
    let mut a = vec![
        "-h", HOST, "-p", &port, "-t", topic, "-t", &marker, "-C", &count,
    ];
    a.extend(args);
    let p = Proc::spawn(msub, &a);
    p.wait_stdout("", "mosquitto_sub's first line (the marker)");
    TheirSub(p)
}

/// Starts our sub on 127.0.0.1:`port` with `args` (plus -d) and waits until its subscription is
/// acknowledged.
fn our_sub_ready(port: u16, args: &[&str]) -> Proc {
    let port = port.to_string();
    let mut a = vec!["-h", HOST, "-p", &port];
    a.extend(args);
    our_sub_subscribed(&a)
}

/// Our pub to mosquitto_sub, then mosquitto_pub to our sub, at QoS 0, 1 and 2: each side sees the
/// topic, the payload and the QoS the message was published with.
#[test]
fn qos_0_1_2_both_directions() {
    let (pub_exe, _) = (our("pub"), our("sub"));
    let _wd = watchdog(TEST_LIMIT);
    let Some((broker, mpub, msub)) = mosquitto_setup() else {
        return;
    };
    let port = broker.port.to_string();
    for qos in ["0", "1", "2"] {
        let topic = format!("cli/ours-to-theirs/{qos}");
        let sub = mosquitto_sub_ready(
            &mpub,
            &msub,
            broker.port,
            &topic,
            1,
            &["-q", "2", "-F", "%t|%q|%r|%p"],
        );
        let done = run(
            &pub_exe,
            &[
                "-h",
                HOST,
                "-p",
                &port,
                "-t",
                &topic,
                "-q",
                qos,
                "-m",
                "from pahoish",
            ],
        );
        assert_eq!(done.status, Some(0), "{done:?}");
        let got = sub.finish();
        assert_eq!(got.status, Some(0), "{got:?}");
        assert_eq!(got.stdout_text(), format!("{topic}|{qos}|0|from pahoish\n"));

        let topic = format!("cli/theirs-to-ours/{qos}");
        let sub = our_sub_ready(
            broker.port,
            &["-t", &topic, "-q", "2", "-C", "1", "-F", "%t|%q|%r|%p"],
        );
        let done = run(
            &mpub,
            &[
                "-h",
                HOST,
                "-p",
                &port,
                "-t",
                &topic,
                "-q",
                qos,
                "-m",
                "from mosquitto",
            ],
        );
        assert_eq!(done.status, Some(0), "{done:?}");
        let got = sub.finish(WAIT);
        got.assert_no_panic();
        assert_eq!(got.status, Some(0), "{got:?}");
        assert_eq!(
            got.stdout_text(),
            format!("{topic}|{qos}|0|from mosquitto\n")
        );
    }
}

/// Retained messages both ways: our `pub -r` is what mosquitto_sub gets first with its retain flag,
/// and mosquitto_pub's retained message reaches our sub flagged; `-R` skips it and prints only the
/// live message that follows.
#[test]
fn retained_both_directions_and_dash_r() {
    let (pub_exe, _) = (our("pub"), our("sub"));
    let _wd = watchdog(TEST_LIMIT);
    let Some((broker, mpub, msub)) = mosquitto_setup() else {
        return;
    };
    let port = broker.port.to_string();
    let done = run(
        &pub_exe,
        &[
            "-h",
            HOST,
            "-p",
            &port,
            "-t",
            "cli/ret/ours",
            "-m",
            "kept",
            "-r",
            "-q",
            "1",
        ],
    );
    assert_eq!(done.status, Some(0), "{done:?}");
    let got = run(
        &msub,
        &[
            "-h",
            HOST,
            "-p",
            &port,
            "-t",
            "cli/ret/ours",
            "-C",
            "1",
            "-F",
            "%r %p",
        ],
    );
    assert_eq!(
        (got.status, got.stdout_text().as_str()),
        (Some(0), "1 kept\n")
    );

    let done = run(
        &mpub,
        &[
            "-h",
            HOST,
            "-p",
            &port,
            "-t",
            "cli/ret/theirs",
            "-m",
            "old",
            "-r",
        ],
    );
    assert_eq!(done.status, Some(0), "{done:?}");
    let got = run(
        &our("sub"),
        &[
            "-h",
            HOST,
            "-p",
            &port,
            "-t",
            "cli/ret/theirs",
            "-C",
            "1",
            "-F",
            "%r %p",
        ],
    );
    assert_eq!(
        (got.status, got.stdout_text().as_str()),
        (Some(0), "1 old\n"),
        "{got:?}"
    );

    // -R: the retained "old" arrives first and is skipped; the live one is printed.
    let sub = our_sub_ready(
        broker.port,
        &["-t", "cli/ret/theirs", "-R", "-C", "1", "-F", "%r %p"],
    );
    let done = run(
        &mpub,
        &["-h", HOST, "-p", &port, "-t", "cli/ret/theirs", "-m", "new"],
    );
    assert_eq!(done.status, Some(0), "{done:?}");
    let got = sub.finish(WAIT);
    assert_eq!(
        (got.status, got.stdout_text().as_str()),
        (Some(0), "0 new\n"),
        "{got:?}"
    );
}

/// `-l` with 10,000 lines at QoS 1, both ways: every line arrives, once, in order.
#[test]
fn stdin_lines_10000_in_order_both_directions() {
    let pub_exe = our("pub");
    let _wd = watchdog(TEST_LIMIT);
    let Some((broker, mpub, msub)) = mosquitto_setup() else {
        return;
    };
    let port = broker.port.to_string();
    let lines: String = (1..=10_000).map(|i| format!("line {i}\n")).collect();

    let sub = mosquitto_sub_ready(
        &mpub,
        &msub,
        broker.port,
        "cli/lines/a",
        10_000,
        &["-q", "1"],
    );
    let mut p = Proc::spawn(
        &pub_exe,
        &[
            "-h",
            HOST,
            "-p",
            &port,
            "-t",
            "cli/lines/a",
            "-q",
            "1",
            "-l",
        ],
    );
    p.feed(lines.clone().into_bytes());
    let done = p.finish(WAIT);
    assert_eq!(done.status, Some(0), "{done:?}");
    let got = sub.finish();
    assert_eq!(got.status, Some(0), "{got:?}");
    assert!(got.stdout_text() == lines, "mosquitto_sub got other lines");

    let sub = our_sub_ready(
        broker.port,
        &["-t", "cli/lines/b", "-q", "1", "-C", "10000"],
    );
    let mut p = Proc::spawn(
        &mpub,
        &[
            "-h",
            HOST,
            "-p",
            &port,
            "-t",
            "cli/lines/b",
            "-q",
            "1",
            "-l",
        ],
    );
    p.feed(lines.clone().into_bytes());
    let done = p.finish(WAIT);
    assert_eq!(done.status, Some(0), "{done:?}");
    let got = sub.finish(WAIT);
    assert_eq!(got.status, Some(0), "{got:?}");
    assert!(got.stdout_text() == lines, "our sub got other lines");
}

/// `-C 3` prints three messages and exits 0 although five are published.
#[test]
fn count_stops_after_c_messages() {
    let _wd = watchdog(TEST_LIMIT);
    let Some((broker, mpub, _msub)) = mosquitto_setup() else {
        return;
    };
    let port = broker.port.to_string();
    let sub = our_sub_ready(broker.port, &["-t", "cli/count", "-C", "3", "-q", "1"]);
    let mut p = Proc::spawn(
        &mpub,
        &["-h", HOST, "-p", &port, "-t", "cli/count", "-q", "1", "-l"],
    );
    p.feed(b"1\n2\n3\n4\n5\n".to_vec());
    assert_eq!(p.finish(WAIT).status, Some(0));
    let got = sub.finish(WAIT);
    assert_eq!(
        (got.status, got.stdout_text().as_str()),
        (Some(0), "1\n2\n3\n"),
        "{got:?}"
    );
}

/// `-W 1` with nothing arriving: "Timed out" and status 27, as mosquitto_sub, after a second.
#[test]
fn timeout_exits_27() {
    let _wd = watchdog(TEST_LIMIT);
    let Some((broker, _mpub, msub)) = mosquitto_setup() else {
        return;
    };
    let port = broker.port.to_string();
    let started = Instant::now();
    let got = run(
        &our("sub"),
        &["-h", HOST, "-p", &port, "-t", "cli/quiet", "-W", "1"],
    );
    let took = started.elapsed();
    assert_eq!(got.status, Some(27), "{got:?}");
    assert_eq!(got.stderr, "Timed out\n");
    assert!(took >= Duration::from_secs(1), "{took:?}");
    let theirs = run(
        &msub,
        &["-h", HOST, "-p", &port, "-t", "cli/quiet", "-W", "1"],
    );
    assert_eq!(theirs.status, got.status, "mosquitto_sub: {theirs:?}");
}

/// `-F` prints what mosquitto_sub's `-F` prints, field for field, for the same messages (times aside:
/// they differ by nature), and `-v` and the default output match too. (`-N` is checked against the
/// expected bytes in `default_verbose_and_no_newline_output`: without newlines, mosquitto_sub's
/// marker line, see `mosquitto_sub_ready`, would run into its messages.)
#[test]
fn format_matches_mosquitto_sub() {
    let _wd = watchdog(TEST_LIMIT);
    let Some((broker, mpub, msub)) = mosquitto_setup() else {
        return;
    };
    let port = broker.port.to_string();
    let formats = [
        "%t|%p|%q|%r|%l|%x|%X|%%|@@|\\t|\\\\",
        "[%-12t][%12t][%.3t][%08l][%-4l][%7p][%-7p][%.2p][%4x]",
        "%A%C%D%E%F%P%R%S|end",
    ];
    let mut modes: Vec<Vec<&str>> = formats.iter().map(|f| vec!["-F", *f]).collect();
    modes.push(vec!["-v"]);
    modes.push(vec![]);
    for mode in modes {
        let mut args = vec!["-q", "1"];
        args.extend(&mode);
        let theirs = mosquitto_sub_ready(&mpub, &msub, broker.port, "cli/fmt/#", 3, &args);
        args.extend(["-t", "cli/fmt/#", "-C", "3"]);
        let ours = our_sub_ready(broker.port, &args);
        for (topic, payload) in [
            ("cli/fmt/a", "hello"),
            ("cli/fmt/b/c", "tab\there"),
            ("cli/fmt/e", ""),
        ] {
            let mut a = vec!["-h", HOST, "-p", &port, "-t", topic, "-q", "1"];
            if payload.is_empty() {
                a.push("-n");
            } else {
                a.extend(["-m", payload]);
            }
            assert_eq!(run(&mpub, &a).status, Some(0));
        }
        let theirs = theirs.finish();
        let ours = ours.finish(WAIT);
        assert_eq!(ours.status, Some(0), "{mode:?}: {ours:?}");
        assert_eq!(theirs.status, Some(0), "{mode:?}: {theirs:?}");
        assert_eq!(ours.stdout_text(), theirs.stdout_text(), "{mode:?}");
    }
}

/// Kills a subprocess the test started by hand and fails the test.
fn kill_and_fail(child: &mut Child, what: &str) -> ! {
    let _ = child.kill();
    let _ = child.wait();
    panic!("{what}");
}

/// `-T` leaves matching messages out, `--remove-retained` clears the retained messages sub prints, and
/// `--retained-only` ends sub at the first message that is not retained (here the first of its own
/// removals coming back). Afterwards only the filtered-out retained message is left on the broker.
#[test]
fn filter_out_remove_retained_and_retained_only() {
    let _wd = watchdog(TEST_LIMIT);
    let Some((broker, mpub, msub)) = mosquitto_setup() else {
        return;
    };
    let port = broker.port.to_string();
    for (topic, payload) in [("cli/rr/a", "1"), ("cli/rr/b", "2"), ("cli/rr/skip", "3")] {
        let done = run(
            &mpub,
            &[
                "-h", HOST, "-p", &port, "-t", topic, "-m", payload, "-r", "-q", "1",
            ],
        );
        assert_eq!(done.status, Some(0), "{done:?}");
    }
    let done = run(
        &our("sub"),
        &[
            "-h",
            HOST,
            "-p",
            &port,
            "-t",
            "cli/rr/#",
            "-T",
            "cli/rr/skip",
            "--remove-retained",
            "--retained-only",
            "-v",
        ],
    );
    done.assert_no_panic();
    assert_eq!(done.status, Some(0), "{done:?}");
    let text = done.stdout_text();
    let mut printed: Vec<&str> = text.lines().collect();
    printed.sort_unstable();
    assert_eq!(printed, ["cli/rr/a 1", "cli/rr/b 2"]);

    let left = run(
        &msub,
        &["-h", HOST, "-p", &port, "-t", "cli/rr/#", "-v", "-W", "1"],
    );
    assert_eq!(left.status, Some(27), "{left:?}");
    assert_eq!(left.stdout_text(), "cli/rr/skip 3\n");
}

/// `sub ... | head -1`: sub flushes each message at once, and when the reader has gone it ends
/// quietly with status 0 at the next message it would print.
#[test]
fn sub_stops_quietly_when_stdout_closes() {
    let _wd = watchdog(TEST_LIMIT);
    let Some((broker, mpub, _msub)) = mosquitto_setup() else {
        return;
    };
    let port = broker.port.to_string();
    let mut child = Command::new(our("sub"))
        .args(["-h", HOST, "-p", &port, "-t", "cli/head", "-d"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting sub");
    // stdout: read one line, then drop the pipe, as `head -1` does.
    let stdout = child.stdout.take().unwrap();
    let (line_tx, first_line) = mpsc::channel();
    let head = thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = line_tx.send(line);
    });
    // stderr: all of it, and a signal when the SUBACK line and the end arrive.
    let stderr = child.stderr.take().unwrap();
    let (err_tx, err_lines) = mpsc::channel();
    let err_reader = thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            all.push_str(&line);
            all.push('\n');
            let _ = err_tx.send(Some(line));
        }
        let _ = err_tx.send(None);
        all
    });
    loop {
        match err_lines.recv_timeout(WAIT) {
            Ok(Some(l)) if l.contains("Received SUBACK") => break,
            Ok(Some(_)) => {}
            _ => kill_and_fail(&mut child, "sub did not subscribe"),
        }
    }
    let publish = |payload: &str| {
        let done = run(
            &mpub,
            &["-h", HOST, "-p", &port, "-t", "cli/head", "-m", payload],
        );
        assert_eq!(done.status, Some(0), "{done:?}");
    };
    publish("first");
    match first_line.recv_timeout(WAIT) {
        Ok(line) => assert_eq!(line, "first\n"),
        Err(_) => kill_and_fail(&mut child, "no first line"),
    }
    head.join().unwrap(); // the read end is closed now
    publish("second");
    loop {
        match err_lines.recv_timeout(WAIT) {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(_) => kill_and_fail(&mut child, "sub did not end after its reader went away"),
        }
    }
    let status = child.wait().unwrap();
    let stderr = err_reader.join().unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        !stderr.contains("Error") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

/// `pub -l -q 1` keeps its promise across a broker restart: a line given after the broker went away
/// is sent once pub has reconnected, and pub exits 0 only after it is acknowledged. (The message is
/// retained so that it can be checked after pub is gone.)
#[test]
fn pub_qos1_line_survives_a_broker_restart() {
    let _wd = watchdog(TEST_LIMIT);
    let Some((mut broker, _mpub, msub)) = mosquitto_setup() else {
        return;
    };
    let port = broker.port.to_string();
    let mut p = Proc::spawn(
        &our("pub"),
        &[
            "-h",
            HOST,
            "-p",
            &port,
            "-t",
            "cli/restart",
            "-q",
            "1",
            "-r",
            "-l",
            "-d",
        ],
    );
    let mut stdin = p.stdin.take().unwrap();
    stdin.write_all(b"before\n").unwrap();
    stdin.flush().unwrap();
    p.wait_stderr("Received PUBACK (Mid: 1)", "the first line acknowledged");
    broker.restart();
    stdin.write_all(b"after\n").unwrap();
    drop(stdin);
    let done = p.finish(WAIT);
    assert_eq!(done.status, Some(0), "{done:?}");
    let got = run(
        &msub,
        &["-h", HOST, "-p", &port, "-t", "cli/restart", "-C", "1"],
    );
    assert_eq!(
        (got.status, got.stdout_text().as_str()),
        (Some(0), "after\n"),
        "{got:?}"
    );
}

// ---- TLS, Unix sockets and proxies, against mosquitto ----
//
// The broker (a listener per transport), the certificates, the proxies and the websocket relay are
// those of tests/transports.rs, in tests/transport_support.

/// Whether the openssl command line is there; without it (and without PAHOISH_REQUIRE_MOSQUITTO=1,
/// which makes it a failure) the TLS tests say they skipped.
fn openssl_available() -> bool {
    let found = Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        if std::env::var("PAHOISH_REQUIRE_MOSQUITTO").as_deref() == Ok("1") {
            panic!("the openssl command line is not installed; the TLS tests need it");
        }
        println!("skipped: openssl not installed");
    }
    found
}

/// A mosquitto with a listener per transport (plain TCP, TLS, TLS requiring a client certificate,
/// TLS with a certificate for the wrong host name, a Unix socket), or `None` (the test skips)
/// without mosquitto or openssl (which makes the certificates).
fn transport_broker() -> Option<Broker> {
    if common::mosquitto_binary().is_some() && !openssl_available() {
        return None;
    }
    Broker::start_or_skip()
}

/// A certificate file's path as the tools take it.
fn arg(path: &Path) -> &str {
    path.to_str().expect("temp dir paths are UTF-8")
}

/// Starts our sub with exactly `args` (plus -d) and waits until its subscription is acknowledged.
fn our_sub_subscribed(args: &[&str]) -> Proc {
    let mut a = args.to_vec();
    a.push("-d");
    let p = Proc::spawn(&our("sub"), &a);
    p.wait_stderr("Received SUBACK", "our sub subscribed");
    p
}

/// Checks a run that must fail before or while connecting: status 1, one line on stderr containing
/// one of `needles`, nothing on stdout, no panic.
fn assert_one_line_failure(done: &Done, needles: &[&str], what: &str) {
    done.assert_no_panic();
    assert_eq!(done.status, Some(1), "{what}: {done:?}");
    assert!(done.stdout.is_empty(), "{what}: {done:?}");
    assert_eq!(done.stderr.lines().count(), 1, "{what}: {done:?}");
    assert!(done.stderr.starts_with("Error: "), "{what}: {done:?}");
    assert!(
        needles.iter().any(|n| done.stderr.contains(n)),
        "{what}: wanted one of {needles:?} in {done:?}"
    );
}

/// Over TLS both ways: our sub (`--capath`, a directory holding the CA among other files) gets what
/// our pub publishes with `--cafile` (the port given), with `-L mqtts://` and with `--tls-version
/// tlsv1.3 --tls-alpn`. mosquitto's TLS listener speaks nothing but TLS, so a message arriving proves
/// both ends used it.
#[test]
fn tls_pub_and_sub_with_cafile_capath_and_mqtts_url() {
    let pub_exe = our("pub");
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = transport_broker() else {
        return;
    };
    let (ca, capath) = (arg(&certs().ca), arg(&certs().capath));
    let port = broker.tls.to_string();
    let topic = format!("cli/tls/{}", common::unique());
    let sub = our_sub_subscribed(&[
        "-h", HOST, "-p", &port, "--capath", capath, "-t", &topic, "-C", "3", "-q", "1", "-F",
        "%q %p",
    ]);
    let url = format!("mqtts://{HOST}:{port}/{topic}");
    let runs: [Vec<&str>; 3] = [
        vec![
            "-h", HOST, "-p", &port, "--cafile", ca, "-t", &topic, "-m", "one",
        ],
        vec!["-L", &url, "--cafile", ca, "-m", "two", "-q", "1"],
        vec![
            "-h",
            "localhost",
            "-p",
            &port,
            "--cafile",
            ca,
            "--tls-version",
            "tlsv1.3",
            "--tls-alpn",
            "mqtt",
            "-t",
            &topic,
            "-m",
            "three",
            "-q",
            "2",
        ],
    ];
    for args in &runs {
        let done = run(&pub_exe, args);
        done.assert_no_panic();
        assert_eq!(done.status, Some(0), "{args:?}: {done:?}");
        assert!(done.stderr.is_empty(), "{args:?}: {done:?}");
    }
    let sub_pid = sub.child.id();
    let got = sub.finish(WAIT);
    got.assert_no_panic();
    assert_eq!(got.status, Some(0), "{got:?}");
    assert_eq!(got.stdout_text(), "0 one\n1 two\n1 three\n");
    let bundle = format!("pahoish-capath-{sub_pid}-");
    let left = std::fs::read_dir(std::env::temp_dir())
        .expect("listing the temp dir")
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_string_lossy().starts_with(&bundle));
    assert!(!left, "sub left its --capath bundle {bundle}* behind");
}

/// A broker that requires a client certificate: with `--cert` and `--key` both tools work; without,
/// each fails with one line and status 1 instead of retrying (with TLS 1.3 the broker's refusal comes
/// after the handshake, when the CONNECT is already sent).
#[test]
fn tls_client_certificate_required() {
    let (pub_exe, sub_exe) = (our("pub"), our("sub"));
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = transport_broker() else {
        return;
    };
    let c = certs();
    let ca = arg(&c.ca);
    let port = broker.mutual.to_string();
    let topic = format!("cli/mutual/{}", common::unique());
    // The key in PKCS#8 (`BEGIN PRIVATE KEY`), the form a `--key` file usually has.
    let tls = [
        "--cafile",
        ca,
        "--cert",
        arg(&c.client_cert),
        "--key",
        arg(&c.client_key_pkcs8),
    ];
    let mut args = vec!["-h", HOST, "-p", &port, "-t", &topic, "-C", "1"];
    args.extend(tls);
    let sub = our_sub_subscribed(&args);
    let mut args = vec![
        "-h",
        HOST,
        "-p",
        &port,
        "-t",
        &topic,
        "-m",
        "with a certificate",
    ];
    args.extend(tls);
    let done = run(&pub_exe, &args);
    assert_eq!(done.status, Some(0), "{done:?}");
    let got = sub.finish(WAIT);
    assert_eq!(
        (got.status, got.stdout_text().as_str()),
        (Some(0), "with a certificate\n"),
        "{got:?}"
    );

    for (exe, extra) in [(&pub_exe, ["-m", "x"]), (&sub_exe, ["-C", "1"])] {
        let mut args = vec![
            "-h",
            HOST,
            "-p",
            &port,
            "--cafile",
            ca,
            "-t",
            "cli/mutual/none",
        ];
        args.extend(extra);
        let done = run(exe, &args);
        // OpenSSL reports the broker's alert (certificate required) or, when the reset of the
        // broker's close (our CONNECT unread) makes the kernel drop the alert, a reset connection.
        assert_one_line_failure(
            &done,
            &["requires a client certificate", "Connection reset by peer"],
            "no client certificate",
        );
    }
}

/// A broker certificate that does not verify ends both tools with one line containing "certificate
/// verify failed" and status 1: a --cafile of another CA, the system's CAs (--tls-use-os-certs), a
/// certificate for another host name. --insecure accepts the last. Plain MQTT to a TLS port fails
/// the same way (one line, status 1) rather than retrying.
#[test]
fn tls_verification_failures_are_one_line() {
    let (pub_exe, sub_exe) = (our("pub"), our("sub"));
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = transport_broker() else {
        return;
    };
    let (ca, other_ca) = (arg(&certs().ca), arg(&certs().other_ca));
    let (tls, wrong_host) = (broker.tls.to_string(), broker.wrong_host.to_string());
    let verify: &[&str] = &["certificate verify failed"];
    let cases: Vec<(Vec<&str>, &[&str])> = vec![
        (vec!["-p", &tls, "--cafile", other_ca], verify),
        (vec!["-p", &tls, "--tls-use-os-certs"], verify),
        (
            vec!["-p", &wrong_host, "--cafile", ca],
            &["certificate verify failed: IP address mismatch"],
        ),
        (
            vec!["-p", &tls, "--cafile", "/nonexistent/ca.crt"],
            &["--cafile: cannot read /nonexistent/ca.crt: No such file or directory"],
        ),
        // Plain MQTT to the TLS port: mosquitto closes the connection.
        (
            vec!["-p", &tls],
            &["Connection reset by peer", "the connection was lost"],
        ),
    ];
    for (exe, extra) in [
        (&pub_exe, ["-t", "cli/verify", "-m", "x"]),
        (&sub_exe, ["-t", "cli/verify", "-C", "1"]),
    ] {
        for (case, needle) in &cases {
            let mut args = vec!["-h", HOST];
            args.extend(case);
            args.extend(extra);
            let done = run(exe, &args);
            assert_one_line_failure(&done, needle, &format!("{args:?}"));
        }
    }
    let done = run(
        &pub_exe,
        &[
            "-h",
            HOST,
            "-p",
            &wrong_host,
            "--cafile",
            ca,
            "--insecure",
            "-t",
            "cli/verify",
            "-m",
            "x",
        ],
    );
    assert_eq!(done.status, Some(0), "--insecure: {done:?}");
}

/// `--unix PATH` to mosquitto's Unix socket listener: our sub gets what our pub and mosquitto_pub
/// publish through the socket.
#[test]
fn unix_socket_pub_and_sub() {
    let pub_exe = our("pub");
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = transport_broker() else {
        return;
    };
    let Some(mpub) = mosquitto_tool("mosquitto_pub") else {
        return;
    };
    let unix = broker.unix_path();
    let topic = format!("cli/unix/{}", common::unique());
    let sub = our_sub_subscribed(&["--unix", unix, "-t", &topic, "-C", "2", "-v"]);
    let done = run(
        &pub_exe,
        &["--unix", unix, "-t", &topic, "-m", "ours", "-q", "1"],
    );
    assert_eq!(done.status, Some(0), "{done:?}");
    let done = run(
        &mpub,
        &["--unix", unix, "-t", &topic, "-m", "theirs", "-q", "1"],
    );
    assert_eq!(done.status, Some(0), "mosquitto_pub: {done:?}");
    let got = sub.finish(WAIT);
    got.assert_no_panic();
    assert_eq!(got.status, Some(0), "{got:?}");
    assert_eq!(got.stdout_text(), format!("{topic} ours\n{topic} theirs\n"));
    let missing = format!("{unix}.missing");
    let done = run(&pub_exe, &["--unix", &missing, "-t", &topic, "-m", "x"]);
    assert_one_line_failure(&done, &[&missing], "a missing socket");
}

/// What a proxy (or the websocket relay) was asked: the destination, and the credentials if any.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ProxyRequest {
    /// `host:port` as the client named it; for the websocket relay, the request path.
    destination: String,
    /// SOCKS5: `user:password` (RFC 1929); HTTP: the `Proxy-Authorization` header's value; the
    /// websocket relay: the `Sec-WebSocket-Protocol` header's value.
    credentials: Option<String>,
}

impl ProxyRequest {
    /// A SOCKS handshake, which must be SOCKS5 (what `socks5h://` asks for).
    fn socks(r: &SocksRequest) -> ProxyRequest {
        assert_eq!(r.version, 5, "not SOCKS5: {r:?}");
        let destination = match &r.target {
            Some((Target::Ipv4(ip), port)) => format!("{ip}:{port}"),
            Some((Target::Domain(name), port)) => format!("{name}:{port}"),
            Some((Target::Ipv6(ip), port)) => format!("{ip}:{port}"),
            None => panic!("a SOCKS5 handshake without a request: {r:?}"),
        };
        ProxyRequest {
            destination,
            credentials: r.credentials.as_ref().map(|(u, p)| format!("{u}:{p}")),
        }
    }

    /// An HTTP request, which must be a CONNECT.
    fn http(r: &HttpConnect) -> ProxyRequest {
        assert!(
            r.request_line.starts_with("CONNECT "),
            "not a CONNECT: {r:?}"
        );
        ProxyRequest {
            destination: r.target.clone(),
            credentials: r.header("proxy-authorization").map(str::to_owned),
        }
    }
}

/// `--proxy`: our sub through a SOCKS5 proxy that wants a user name and password, our pub through
/// an HTTP CONNECT proxy (with Basic credentials), and pub with TLS through the SOCKS5 proxy (the proxy's tunnel carries the
/// TLS connection). Each proxy saw the broker's address, as socks5h:// leaves the name to the proxy,
/// and the credentials. A wrong password is one line and status 1.
#[test]
fn proxies_carry_pub_and_sub() {
    let pub_exe = our("pub");
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = transport_broker() else {
        return;
    };
    let socks = SocksProxy::start(Some(("me", "secret")));
    let http = HttpProxy::start(None);
    let socks_url = format!("socks5h://me:secret@{HOST}:{}", socks.port());
    let http_url = format!("http://me:secret@{HOST}:{}", http.port());
    let (tcp, tls) = (broker.tcp.to_string(), broker.tls.to_string());
    let topic = format!("cli/proxy/{}", common::unique());
    let sub = our_sub_subscribed(&[
        "-h", HOST, "-p", &tcp, "--proxy", &socks_url, "-t", &topic, "-C", "2",
    ]);
    let done = run(
        &pub_exe,
        &[
            "-h", HOST, "-p", &tcp, "--proxy", &http_url, "-t", &topic, "-m", "via http",
        ],
    );
    assert_eq!(done.status, Some(0), "{done:?}");
    let done = run(
        &pub_exe,
        &[
            "-h",
            HOST,
            "-p",
            &tls,
            "--cafile",
            arg(&certs().ca),
            "--proxy",
            &socks_url,
            "-t",
            &topic,
            "-m",
            "via socks, with tls",
        ],
    );
    assert_eq!(done.status, Some(0), "{done:?}");
    let got = sub.finish(WAIT);
    got.assert_no_panic();
    assert_eq!(got.status, Some(0), "{got:?}");
    assert_eq!(got.stdout_text(), "via http\nvia socks, with tls\n");
    let credentials = Some("me:secret".to_owned());
    assert_eq!(
        socks
            .requests()
            .iter()
            .map(ProxyRequest::socks)
            .collect::<Vec<_>>(),
        vec![
            ProxyRequest {
                destination: format!("{HOST}:{tcp}"),
                credentials: credentials.clone()
            },
            ProxyRequest {
                destination: format!("{HOST}:{tls}"),
                credentials
            },
        ]
    );
    assert_eq!(
        http.requests()
            .iter()
            .map(ProxyRequest::http)
            .collect::<Vec<_>>(),
        vec![ProxyRequest {
            destination: format!("{HOST}:{tcp}"),
            // base64("me:secret")
            credentials: Some("Basic bWU6c2VjcmV0".into()),
        }]
    );

    let wrong = format!("socks5h://me:wrong@{HOST}:{}", socks.port());
    let done = run(
        &pub_exe,
        &[
            "-h", HOST, "-p", &tcp, "--proxy", &wrong, "-t", &topic, "-m", "x",
        ],
    );
    assert_one_line_failure(&done, &["proxy error"], "a wrong proxy password");
}

/// `-L ws://host:port/topic`: both tools speak MQTT over websockets, to the path /mqtt with the `mqtt`
/// subprotocol, through a websocket relay in front of mosquitto's TCP listener.
#[cfg(all(feature = "tls", feature = "websockets"))]
#[test]
fn websockets_url_pub_and_sub() {
    use transport_support::ws_relay::{Framing, WsRelay};

    let pub_exe = our("pub");
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = transport_broker() else {
        return;
    };
    let relay = WsRelay::start(broker.tcp, Framing::as_read());
    let topic = format!("cli/ws/{}", common::unique());
    let url = format!("ws://{HOST}:{}/{topic}", relay.port());
    let sub = our_sub_subscribed(&["-L", &url, "-C", "1", "-q", "1", "-v"]);
    let done = run(&pub_exe, &["-L", &url, "-m", "over websockets", "-q", "1"]);
    done.assert_no_panic();
    assert_eq!(done.status, Some(0), "{done:?}");
    let got = sub.finish(WAIT);
    got.assert_no_panic();
    assert_eq!(got.status, Some(0), "{got:?}");
    assert_eq!(got.stdout_text(), format!("{topic} over websockets\n"));
    let upgrade = ProxyRequest {
        destination: "/mqtt".into(),
        credentials: Some("mqtt".into()),
    };
    let upgrades: Vec<ProxyRequest> = relay
        .connections()
        .iter()
        .map(|c| ProxyRequest {
            destination: c.path.clone(),
            credentials: c.protocols.clone(),
        })
        .collect();
    assert_eq!(upgrades, vec![upgrade.clone(), upgrade]);
}

// ---- the -F formatter ----

/// 2026-11-22 05:14:40.466783123 UTC, a Sunday, day 326 of the year.
fn moment() -> std::time::SystemTime {
    UNIX_EPOCH + Duration::new(1_795_324_480, 466_783_123)
}

fn render(spec: &str, msg: &Message) -> String {
    let mut out = Vec::new();
    format::Format::parse(spec)
        .unwrap_or_else(|e| panic!("{spec}: {e}"))
        .render(msg, moment(), &mut out);
    String::from_utf8(out).unwrap()
}

fn message(topic: &str, payload: &[u8], qos: u8, retain: bool, mid: u16) -> Message {
    let mut m = Message::new(topic, payload, qos, retain);
    m.mid = mid;
    m
}

#[test]
fn format_fields() {
    let m = message("x/r", b"hello", 1, true, 42);
    assert_eq!(render("%t|%p|%q|%r|%m|%l|%%", &m), "x/r|hello|1|1|42|5|%");
    assert_eq!(
        render("%x %X", &message("t", b"\x00\xab", 0, false, 0)),
        "00ab 00AB"
    );
    assert_eq!(
        render(
            "[%10t][%-10t][%.1t][%5.1t][%010l][%-5l][%8p][%4x][%-6q][%2r]",
            &m
        ),
        "[       x/r][x/r       ][x][    x][0000000005][5    ][   hello][6865][1][1]"
    );
    assert_eq!(render("[%3p][%-7p][%06p]", &m), "[hel][hello  ][0hello]");
    assert_eq!(render("[%A][%3C][%03E]%D%P%R", &m), "[][   ][000]");
    assert_eq!(render("%I", &m), "2026-11-22T05:14:40+0000");
    assert_eq!(render("%U", &m), "1795324480.466783123");
    assert_eq!(render("a\\tb\\nc\\\\d\\0e", &m), "a\tb\nc\\d\0e");
}

#[test]
fn format_time_fields_are_strftime_in_utc() {
    let m = message("t", b"p", 0, false, 0);
    assert_eq!(
        render(
            "@a @A @b @B @c|@d @e @F @H @I @j @k @l @m @M @N @p @s @S @T @u @w @y @Y @z @Z @@ @q",
            &m
        ),
        "Sun Sunday Nov November Sun Nov 22 05:14:40 2026|22 22 2026-11-22 05 05 326  5  5 11 14 \
         466783123 AM 1795324480 40 05:14:40 7 0 26 2026 +0000 UTC @ %q"
    );
    // A leap day and the turn of a year.
    let t = |secs| {
        let mut out = Vec::new();
        format::Time::at(secs, 0).strftime('F', &mut out);
        out.push(b' ');
        format::Time::at(secs, 0).strftime('j', &mut out);
        String::from_utf8(out).unwrap()
    };
    assert_eq!(t(951_782_400), "2000-02-29 060");
    assert_eq!(t(1_704_067_199), "2023-12-31 365");
    assert_eq!(t(0), "1970-01-01 001");
}

#[test]
fn format_json() {
    let m = message("a/\"b\"", b"say \"hi\"\n\x01", 1, false, 9);
    assert_eq!(
        render("%j", &m),
        "{\"tst\":\"2026-11-22T05:14:40.466783Z+0000\",\"topic\":\"a/\\\"b\\\"\",\"qos\":1,\"retain\":0,\
         \"payloadlen\":10,\"mid\":9,\"payload\":\"say \\\"hi\\\"\\n\\u0001\"}"
    );
    let binary = message("t", b"\xff\x00", 0, true, 0);
    assert!(render("%j", &binary).ends_with("\"retain\":1,\"payloadlen\":2,\"payload\":[255,0]}"));
}

#[test]
fn format_errors_are_mosquittos() {
    for (spec, err) in [
        ("%", "Error: Incomplete format specifier."),
        ("%-", "Error: Incomplete format specifier."),
        ("%5.", "Error: Incomplete format specifier."),
        ("@", "Error: Incomplete format specifier."),
        ("%z", "Error: Invalid format specifier 'z'."),
        ("\\", "Error: Incomplete escape specifier."),
        ("\\x", "Error: Invalid escape specifier 'x'."),
    ] {
        assert_eq!(format::Format::parse(spec).unwrap_err(), err, "{spec}");
    }
}

#[test]
fn default_verbose_and_no_newline_output() {
    let now = moment();
    let full = message("t/1", b"data", 0, false, 0);
    let empty = message("t/2", b"", 0, false, 0);
    let out = |o: &format::Output, m: &Message| String::from_utf8(o.render(m, now)).unwrap();
    let default = format::Output::default();
    assert_eq!(out(&default, &full), "data\n");
    assert_eq!(out(&default, &empty), "", "an empty payload prints nothing");
    let verbose = format::Output {
        verbose: true,
        ..Default::default()
    };
    assert_eq!(out(&verbose, &full), "t/1 data\n");
    assert_eq!(out(&verbose, &empty), "t/2 (null)\n");
    let no_eol = format::Output {
        verbose: true,
        eol: false,
        ..Default::default()
    };
    assert_eq!(out(&no_eol, &full), "t/1 data");
    assert_eq!(out(&no_eol, &empty), "");
}
