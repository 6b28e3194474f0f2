//! Building the `pub` and `sub` examples and running them, and mosquitto's own tools, as subprocesses
//! whose output is read line by line, every wait bounded; shared by the modules of this folder.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::common::{watchdog, Mosquitto, WAIT};

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
            .args([
                "build",
                "--quiet",
                "--example",
                "pub",
                "--example",
                "sub",
                "--example",
                "rr",
            ])
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

pub fn our(tool: &str) -> PathBuf {
    examples_dir().join(tool)
}

/// mosquitto_pub or mosquitto_sub: on PATH or in /usr/bin. `None` (after saying so) when missing,
/// unless PAHOISH_REQUIRE_MOSQUITTO=1 makes that a failure.
pub fn mosquitto_tool(name: &str) -> Option<PathBuf> {
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
pub fn mosquitto_setup() -> Option<(Mosquitto, PathBuf, PathBuf)> {
    let broker = Mosquitto::start_or_skip()?;
    let mpub = mosquitto_tool("mosquitto_pub")?;
    let msub = mosquitto_tool("mosquitto_sub")?;
    Some((broker, mpub, msub))
}

/// A running subprocess whose stdout and stderr are read line by line on threads of their own.
pub struct Proc {
    what: String,
    pub child: Child,
    pub stdin: Option<ChildStdin>,
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
pub struct Done {
    /// The exit status; `None` if it was killed by a signal.
    pub status: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
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
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Checks that nothing Rust-internal reached the user.
    pub fn assert_no_panic(&self) {
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
    pub fn spawn(exe: &Path, args: &[&str]) -> Proc {
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
    pub fn feed(&mut self, data: Vec<u8>) {
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

    pub fn wait_stderr(&self, needle: &str, what: &str) -> String {
        self.wait_line(&self.err, needle, what)
    }

    pub fn wait_stdout(&self, needle: &str, what: &str) -> String {
        self.wait_line(&self.out, needle, what)
    }

    /// Closes stdin and waits (at most `limit`) for the process to end; kills it and fails the test if
    /// it does not.
    pub fn finish(mut self, limit: Duration) -> Done {
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
pub fn run(exe: &Path, args: &[&str]) -> Done {
    Proc::spawn(exe, args).finish(WAIT)
}

/// Starts our sub with exactly `args` (plus -d) and waits until its subscription is acknowledged.
pub fn our_sub_subscribed(args: &[&str]) -> Proc {
    let mut a = args.to_vec();
    a.push("-d");
    let p = Proc::spawn(&our("sub"), &a);
    p.wait_stderr("Received SUBACK", "our sub subscribed");
    p
}
