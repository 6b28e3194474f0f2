//! `pub`: publish from the command line, with mosquitto_pub's common options and their meanings.
//!
//! ```sh
//! cargo run --example pub -- -t sensors/7/temp -m 21.5 -q 1
//! seq 1 100 | cargo run --example pub -- -t counting -l
//! cargo run --example pub -- -h broker.example --cafile ca.crt -t sensors/7/temp -m 21.5   # TLS, 8883
//! cargo run --example pub -- --help
//! ```
//!
//! With `-q 1` or `-q 2` it exits only once every message is acknowledged; a connection lost before
//! that is re-established with the client's backoff and the unacknowledged messages are sent again.
//! Exit status: 0 success, 1 bad arguments or another failure, 5 the broker refused the connection.
//! docs/cli.md lists every option and how the tool differs from mosquitto_pub.

mod cli_common;
#[path = "cli_common/source.rs"]
mod source;

use std::collections::VecDeque;
use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use cli_common::{fail, forward_events, Args, Conn, Event, Failure, Parsed, Tool, EXIT_FAILURE};
use pahoish::{Client, Error, ErrorCode, MessageInfo, PacketTypes, Properties};
use source::Source;

const TOOL: Tool = Tool {
    name: "pub",
    publishes: true,
    synopsis: SYNOPSIS,
    help: PUB_HELP,
};

const SYNOPSIS: &str = "\
Usage: pub {[-h host] [-p port] [--unix path] [-u username [-P password]] -t topic | -L URL}
           {-m message | -f file | -s | -l | -n}
           [-q qos] [-r] [--repeat N] [--repeat-delay seconds] [-M max_inflight]
           [-c] [-k keepalive] [-i id | -I id_prefix] [-V protocol_version] [-d] [--quiet]
           [-D command property value ...]
           [--will-topic topic [--will-payload payload] [--will-qos qos] [--will-retain]]
           [[--cafile file | --capath dir | --tls-use-os-certs] [--cert file [--key file]]
            [--insecure] [--tls-alpn protocol] [--tls-version version]] [--proxy URL]
";

const PUB_HELP: &str = "\
pub publishes one message, a file, all of stdin, or one message per line of stdin, then exits.

Message (exactly one):
 -m, --message TEXT     the message.
 -f, --file FILE        the contents of FILE as one message.
 -s, --stdin-file       all of stdin as one message.
 -l, --stdin-line       each line of stdin as a message (without its newline), until end of input.
 -n, --null-message     an empty message.
Publishing:
 -t, --topic TOPIC      the topic to publish to.
 -q, --qos QOS          0, 1 or 2. Defaults to 0. With 1 or 2, pub exits once every message is
                        acknowledged, reconnecting and sending again if the connection drops.
 -r, --retain           ask the broker to retain the message.
 --repeat N             publish the -m/-f/-s/-n message N times. Defaults to 1.
 --repeat-delay SECS    wait SECS after each repeated message is published. Defaults to 0.
 -M MAX                 QoS 1/2 messages in flight at once. Defaults to 20.
";

#[derive(Debug)]
struct Config {
    conn: Conn,
    source: Source,
    retain: bool,
    repeat: u64,
    repeat_delay: Duration,
}

fn parse(mut args: Args) -> Result<Parsed<Config>, Failure> {
    let mut conn = Conn::default();
    let mut source = None;
    let mut retain = false;
    let mut repeat = 1;
    let mut repeat_delay = Duration::ZERO;
    while let Some(opt) = args.next_option()? {
        if conn.parse_option(TOOL, &opt, &mut args)? {
            continue;
        }
        let new_source = match opt.as_str() {
            "--help" => return Ok(Parsed::Help),
            "--version" => return Ok(Parsed::Version),
            "-r" | "--retain" => {
                retain = true;
                None
            }
            "--repeat" => {
                repeat = args.number(&opt, "repeat count", 1, u64::from(u32::MAX))?;
                None
            }
            "--repeat-delay" => {
                repeat_delay = seconds(&mut args, &opt, "repeat delay")?;
                None
            }
            other => match Source::parse(other, &mut args, true)? {
                Some(source) => Some(source),
                None => return Err(Failure::usage(format!("Error: Unknown option '{other}'."))),
            },
        };
        if let Some(s) = new_source {
            if source.is_some() {
                return Err(Failure::usage(
                    "Error: Only one type of message can be sent at once.",
                ));
            }
            source = Some(s);
        }
    }
    conn.finish()?;
    let Some(source) = source.filter(|_| !conn.topics.is_empty()) else {
        return Err(Failure::usage(
            "Error: Both topic and message must be supplied.",
        ));
    };
    Ok(Parsed::Run(Config {
        conn,
        source,
        retain,
        repeat,
        repeat_delay,
    }))
}

/// The value after `opt` as a number of seconds >= 0 (fractions allowed).
fn seconds(args: &mut Args, opt: &str, what: &str) -> Result<Duration, Failure> {
    let v = args.text(opt, what)?;
    match v.trim().parse::<f64>().map(Duration::try_from_secs_f64) {
        Ok(Ok(d)) => Ok(d),
        _ => Err(Failure::usage(format!(
            "Error: Invalid {what} '{v}' for {opt}: it must be a number of seconds, 0 or more."
        ))),
    }
}

fn main() -> ExitCode {
    cli_common::main(TOOL, parse, run, |config| config.conn.quiet)
}

fn run(config: &Config) -> Result<(), Failure> {
    let topic = &config.conn.topics[0];
    // Read what can be read before connecting, so a missing file fails before any network traffic.
    let payload = config.source.payload()?;
    check_size(topic, &payload)?;

    let client = config.conn.build_client()?;
    // Enough QoS 1/2 messages queued behind the inflight window that the broker always has work, few
    // enough that `-l` on an endless stream uses bounded memory (`Outstanding` keeps within it too,
    // and also bounds QoS 0 messages not yet written).
    client.max_queued_messages_set(config.conn.max_inflight + 1000);
    let (tx, events) = mpsc::channel();
    let send = move |e| {
        // The receiver only goes away when pub is finishing.
        let _ = tx.send(e);
    };
    let published = send.clone();
    client.on_publish(move |_, _, _, _, _| published(Event::Tool(Published)));
    forward_events(&client, &config.conn, send, |_| {});
    config.conn.connect(&client)?;
    client.loop_start().map_err(fail)?;
    // Disconnects and stops the loop however `run` ends.
    let client = client.disconnect_on_drop();

    // As mosquitto_pub: publish once the broker has accepted the connection.
    loop {
        match events.recv() {
            Ok(Event::Connected) => break,
            Ok(Event::Refused(f)) => return Err(f),
            // Closed before the broker accepted it (a TLS broker wanting a client certificate, say):
            // as mosquitto_pub, give up rather than retry.
            Ok(Event::Lost(why)) => {
                return Err(Failure::new(EXIT_FAILURE, format!("Error: {why}")))
            }
            Ok(_) => {}
            Err(_) => {
                return Err(Failure::new(
                    EXIT_FAILURE,
                    "Error: the network loop stopped.",
                ))
            }
        }
    }

    let mut pending = Outstanding {
        infos: VecDeque::new(),
        limit: config.conn.max_inflight + 1000,
        lost: 0,
    };
    let qos = config.conn.qos;
    let props = config.conn.props.get(PacketTypes::PUBLISH);
    let publish = |payload: &[u8]| {
        publish(
            &client,
            &events,
            topic,
            payload,
            qos,
            config.retain,
            props.as_ref(),
        )
    };
    match config.source {
        Source::StdinLines => {
            let mut stdin = io::stdin().lock();
            let mut line = Vec::new();
            loop {
                line.clear();
                let n = stdin.read_until(b'\n', &mut line).map_err(|e| {
                    Failure::new(EXIT_FAILURE, format!("Error: Unable to read stdin: {e}."))
                })?;
                if n == 0 {
                    break;
                }
                if line.last() == Some(&b'\n') {
                    line.pop();
                }
                check_size(topic, &line)?;
                let info = publish(&line)?;
                pending.push(info)?;
            }
        }
        _ => {
            for i in 0..config.repeat {
                let info = publish(&payload)?;
                if !config.repeat_delay.is_zero() && i + 1 < config.repeat {
                    // As mosquitto_pub: the delay counts from the moment the message is published.
                    wait_published(&info)?;
                    std::thread::sleep(config.repeat_delay);
                }
                pending.push(info)?;
            }
        }
    }

    let lost = pending.finish()?;
    if config.conn.store.is_some() {
        // What an earlier run left in the store (--store) goes out too: pub exits once the broker
        // has all of it, or leaves the rest in the store for the next run.
        let limit = Instant::now() + Duration::from_secs(60);
        while client.pending_messages() > 0 {
            if Instant::now() > limit {
                return Err(Failure::new(
                    EXIT_FAILURE,
                    "Error: timed out waiting for the stored messages to be acknowledged; they stay in the store.",
                ));
            }
            let _ = events.recv_timeout(Duration::from_millis(100));
        }
    }
    if lost > 0 && !config.conn.quiet {
        let _ = writeln!(
            io::stderr(),
            "Warning: {lost} QoS 0 message(s) were lost with the connection (QoS 0 is sent at most once)."
        );
    }
    config.conn.disconnect(&client);
    drop(client);
    Ok(())
}

/// MQTT's limit on one PUBLISH, checked before connecting (the topic was checked with the options).
fn check_size(topic: &str, payload: &[u8]) -> Result<(), Failure> {
    let packet = 2 + topic.len() + 2 + payload.len();
    if packet > 268_435_455 {
        return Err(Failure::new(
            EXIT_FAILURE,
            format!(
                "Error: The message of {} bytes is too large for MQTT (at most 268435455 bytes with its topic).",
                payload.len()
            ),
        ));
    }
    Ok(())
}

/// What pub's own callback reports besides the connection's events: a message was published (QoS 0
/// written, QoS 1 PUBACK, QoS 2 PUBCOMP), which makes room in the queue.
#[derive(Debug)]
struct Published;

/// Publishes (with `-D publish`'s properties, if any), waiting for the queue to make room when it is
/// full.
fn publish(
    client: &Client,
    events: &Receiver<Event<Published>>,
    topic: &str,
    payload: &[u8],
    qos: u8,
    retain: bool,
    props: Option<&Properties>,
) -> Result<MessageInfo, Failure> {
    loop {
        let sent = match props {
            Some(p) => client.publish_with(topic, payload, qos, retain, p.clone()),
            None => client.publish(topic, payload, qos, retain),
        };
        match sent {
            // A full queue is reported in `rc`, as Paho does: the message was not taken.
            Ok(info) if info.rc == ErrorCode::QueueSize => {}
            Ok(info) => return Ok(info),
            Err(e) => return Err(fail(e)),
        }
        // Each acknowledgement frees a place; any event is a reason to try again.
        if events.recv().is_err() {
            return Err(Failure::new(
                EXIT_FAILURE,
                "Error: the network loop stopped.",
            ));
        }
    }
}

/// The messages handed to the client and not yet seen published, oldest first.
struct Outstanding {
    infos: VecDeque<MessageInfo>,
    /// At most this many: beyond it pub waits for the oldest, so reading `-l` input never runs far
    /// ahead of the broker, whatever the QoS.
    limit: usize,
    /// QoS 0 messages a lost connection discarded.
    lost: usize,
}

impl Outstanding {
    /// Keeps `info` until its message is published, waiting for the oldest while there are too many.
    fn push(&mut self, info: MessageInfo) -> Result<(), Failure> {
        while self.infos.front().is_some_and(MessageInfo::is_published) {
            self.infos.pop_front();
        }
        while self.infos.len() >= self.limit {
            if let Some(oldest) = self.infos.pop_front() {
                if !wait_published(&oldest)? {
                    self.lost += 1;
                }
            }
        }
        self.infos.push_back(info);
        Ok(())
    }

    /// Waits until every message is published; returns how many QoS 0 messages were lost.
    fn finish(mut self) -> Result<usize, Failure> {
        for info in self.infos.drain(..) {
            if !wait_published(&info)? {
                self.lost += 1;
            }
        }
        Ok(self.lost)
    }
}

/// Waits until the message is published; `Ok(false)` if it was a QoS 0 message its connection lost.
/// QoS 1/2 messages are never lost: the client sends them again after a reconnect, so this waits as
/// long as that takes, as mosquitto_pub does.
fn wait_published(info: &MessageInfo) -> Result<bool, Failure> {
    loop {
        match info.wait_for_publish(Some(Duration::from_secs(60))) {
            Ok(true) => return Ok(true),
            Ok(false) => continue,
            Err(Error::PublishDiscarded(_)) => return Ok(false),
            Err(e) => return Err(fail(e)),
        }
    }
}
