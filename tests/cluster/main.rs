//! Scale-out (issue #19): a client given several brokers with `connect_urls`.
//!
//! - `rotation`: the order of the servers, failover and the backoff per round, what an independent
//!   broker gets again, and MQTT 5's Session taken over: against `TestBroker`s, so it always runs.
//! - `aedes`: a real cluster, two aedes nodes sharing one redis-server (`nodes` starts them; skipped
//!   with a message when node, redis-server or the npm packages are missing, unless
//!   `PAHOISH_REQUIRE_CLUSTER=1`): delivery across nodes, killing the node a client is on while QoS 1
//!   messages flow, the session continuing on the other node, two clients with one id on two nodes.
//!
//! Every wait is bounded (`common::WAIT` or a stated limit); a watchdog fails a test that hangs anyway.
//! The figures docs/scale-out.md quotes are printed by the tests (`--nocapture` shows them).

#[path = "../common/mod.rs"]
mod common;

mod aedes;
// `Cluster::restart` is for tests/cli/cluster.rs, which includes this file too.
#[allow(dead_code)]
mod nodes;
mod rotation;

use std::sync::mpsc::{self, Receiver};
use std::time::Instant;

use pahoish::{Client, LogLevel, Message, ReasonCode};

/// An `on_connect` as a test sees it.
#[derive(Debug, Clone)]
pub struct Connected {
    pub at: Instant,
    pub session_present: bool,
    pub rc: u8,
    /// `server_url()` from inside `on_connect`.
    pub server: Option<String>,
}

/// An `on_disconnect` as a test sees it.
#[derive(Debug, Clone)]
pub struct Disconnected {
    pub at: Instant,
    pub rc: ReasonCode,
    pub from_server: bool,
}

/// What a client's callbacks report, each on a channel of its own.
pub struct Events {
    pub connects: Receiver<Connected>,
    pub disconnects: Receiver<Disconnected>,
    pub messages: Receiver<Message>,
    pub logs: Receiver<(LogLevel, String)>,
}

/// Installs `on_connect`, `on_disconnect`, `on_message` and `on_log` callbacks that send what they see.
pub fn record<U: Send + 'static>(client: &Client<U>) -> Events {
    let (ctx, connects) = mpsc::channel();
    client.on_connect(move |c, _u, flags, rc, _p| {
        let _ = ctx.send(Connected {
            at: Instant::now(),
            session_present: flags.session_present,
            rc: rc.value(),
            server: c.server_url(),
        });
    });
    let (dtx, disconnects) = mpsc::channel();
    client.on_disconnect(move |_c, _u, flags, rc, _p| {
        let _ = dtx.send(Disconnected {
            at: Instant::now(),
            rc,
            from_server: flags.is_disconnect_packet_from_server,
        });
    });
    let (mtx, messages) = mpsc::channel();
    client.on_message(move |_c, _u, msg| {
        let _ = mtx.send(msg.clone());
    });
    let (ltx, logs) = mpsc::channel();
    // PAHOISH_CLUSTER_LOG=<dir>: each client's log, with the time since it was recorded, in a file
    // of its own (to see what happened around a failover when a test fails).
    let mut file = std::env::var_os("PAHOISH_CLUSTER_LOG").map(|dir| {
        let name = format!("{}-{}.log", std::process::id(), common::unique());
        std::fs::File::create(std::path::Path::new(&dir).join(name)).expect("PAHOISH_CLUSTER_LOG")
    });
    let t0 = Instant::now();
    client.on_log(move |c, _u, level, line| {
        if let Some(f) = file.as_mut() {
            use std::io::Write;
            let at = t0.elapsed().as_secs_f64();
            let _ = writeln!(f, "{at:.4} {:?} {line}", c.server_url().unwrap_or_default());
        }
        let _ = ltx.send((level, line.to_owned()));
    });
    Events {
        connects,
        disconnects,
        messages,
        logs,
    }
}

impl Events {
    /// The next `on_connect`, within `common::WAIT`.
    pub fn connected(&self, what: &str) -> Connected {
        common::recv(&self.connects, what)
    }

    /// The log lines so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.logs.try_iter().map(|(_, line)| line).collect()
    }
}
