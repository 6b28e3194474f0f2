//! A broker cluster on loopback: one redis-server on a free port and aedes nodes (`node.mjs`, each on
//! a port of its own choosing) sharing their sessions and messages through it. Everything it starts is
//! killed on drop.
//!
//! Needs `node`, `redis-server` and the npm packages of `package.json` installed in
//! `tests/cluster/node_modules` (`.ci/run` installs them). Without them [`Cluster::start_or_skip`]
//! prints why and returns `None`, unless `PAHOISH_REQUIRE_CLUSTER=1` (CI sets it): then it fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{free_port, HOST};

/// How long redis-server and a node may take to start listening.
const START_LIMIT: Duration = Duration::from_secs(15);

/// The directory of `node.mjs` and its `node_modules`.
fn cluster_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cluster")
}

/// `PAHOISH_<VAR>` if set, else `name` on `PATH` or in the sbin directories.
fn program(name: &str, var: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(var) {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// One aedes node.
struct Node {
    child: Child,
    /// Held open: the node exits when its standard input closes (if this process dies unkilled).
    _stdin: Option<ChildStdin>,
    port: u16,
}

/// A redis-server and the aedes nodes sharing it.
pub struct Cluster {
    redis: Child,
    redis_port: u16,
    node: PathBuf,
    nodes: Vec<Option<Node>>,
    ports: Vec<u16>,
}

impl Cluster {
    /// Starts redis-server and `nodes` aedes nodes, or says why it cannot and returns `None`
    /// (failing instead with `PAHOISH_REQUIRE_CLUSTER=1`).
    pub fn start_or_skip(nodes: usize) -> Option<Cluster> {
        let node = program("node", "PAHOISH_NODE");
        let redis = program("redis-server", "PAHOISH_REDIS_SERVER");
        let aedes = cluster_dir().join("node_modules/aedes").is_dir();
        let missing = match (&node, &redis, aedes) {
            (None, _, _) => Some("node is not installed"),
            (_, None, _) => Some("redis-server is not installed (apt-get install -y redis-server)"),
            (_, _, false) => {
                Some("aedes is not installed (cd tests/cluster && npm install --legacy-peer-deps)")
            }
            _ => None,
        };
        if let Some(why) = missing {
            if std::env::var("PAHOISH_REQUIRE_CLUSTER").as_deref() == Ok("1") {
                panic!("{why}, but PAHOISH_REQUIRE_CLUSTER=1 requires the cluster");
            }
            println!("skipped: {why}");
            return None;
        }
        let (redis, redis_port) = start_redis(&redis.expect("checked"));
        let mut cluster = Cluster {
            redis,
            redis_port,
            node: node.expect("checked"),
            nodes: Vec::new(),
            ports: Vec::new(),
        };
        for _ in 0..nodes {
            let n = cluster.spawn_node(0);
            cluster.ports.push(n.port);
            cluster.nodes.push(Some(n));
        }
        Some(cluster)
    }

    /// Node `i`'s URL.
    pub fn url(&self, i: usize) -> String {
        format!("mqtt://{HOST}:{}", self.ports[i])
    }

    /// Node `i`'s port.
    pub fn port(&self, i: usize) -> u16 {
        self.ports[i]
    }

    /// Kills node `i` (SIGKILL: no goodbye to its clients, as a crashed machine) and waits for it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut n) = self.nodes[i].take() {
            let _ = n.child.kill();
            let _ = n.child.wait();
        }
    }

    /// Starts node `i` again on its port after [`kill`](Cluster::kill) (a fresh broker id, the
    /// sessions and messages kept in redis).
    pub fn restart(&mut self, i: usize) {
        if self.nodes[i].is_none() {
            self.nodes[i] = Some(self.spawn_node(self.ports[i]));
        }
    }

    fn spawn_node(&self, port: u16) -> Node {
        let mut child = Command::new(&self.node)
            .arg(cluster_dir().join("node.mjs"))
            .args(["--redis-port", &self.redis_port.to_string()])
            .args(["--port", &port.to_string()])
            .current_dir(cluster_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting node");
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(START_LIMIT) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!("the aedes node did not start within {START_LIMIT:?}");
            }
        };
        let port = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!("the aedes node said {line:?}, not `listening <port>`")
            });
        Node {
            _stdin: child.stdin.take(),
            child,
            port,
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
        let _ = self.redis.kill();
        let _ = self.redis.wait();
    }
}

/// Starts redis-server on a free loopback port with nothing kept on disk, and waits until it answers.
fn start_redis(binary: &Path) -> (Child, u16) {
    let deadline = Instant::now() + START_LIMIT;
    loop {
        let port = free_port();
        let mut child = Command::new(binary)
            .args(["--port", &port.to_string(), "--bind", HOST])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting redis-server");
        loop {
            if redis_answers(port) {
                return (child, port);
            }
            // Exited: most likely another process took the port meanwhile; try another.
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("redis-server did not start within {START_LIMIT:?}");
            }
            thread::sleep(Duration::from_millis(20)); // polling a process that has no readiness signal
        }
    }
}

/// Whether redis on `port` answers PING.
fn redis_answers(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect((HOST, port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}
