//! `sub`: subscribe from the command line and print what arrives, with mosquitto_sub's common options
//! and their meanings.
//!
//! ```sh
//! cargo run --example sub -- -t 'sensors/#' -v
//! cargo run --example sub -- -t counting -C 10 -F '%I %t %p'
//! cargo run --example sub -- --unix /run/mosquitto/mqtt.sock -t 'sensors/#' -v
//! cargo run --example sub -- --help
//! ```
//!
//! Every message is written and flushed as it arrives, so `sub ... | head -1` works (a closed pipe
//! ends sub quietly, with status 0). Exit status: 0 success, 1 bad arguments or another failure, 5 the
//! broker refused the connection, 27 the `-W` time ran out. docs/cli.md lists every option and how the
//! tool differs from mosquitto_sub.

mod cli_common;
#[path = "cli_common/format.rs"]
mod format;
#[path = "cli_common/wait.rs"]
mod wait;

use std::io::{self, ErrorKind, Write};
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use cli_common::{
    fail, filter_problem, forward_events, Args, Conn, Event, Failure, Parsed, Tool, EXIT_FAILURE,
};
use format::{Format, Output};
use pahoish::{
    topic_matches_sub, Client, Message, MessageInfo, PacketTypes, ReasonCode, SubscribeOptions,
};
use wait::{next_event, EXIT_TIMEOUT};

const TOOL: Tool = Tool {
    name: "sub",
    publishes: false,
    synopsis: SYNOPSIS,
    help: SUB_HELP,
};

const SYNOPSIS: &str = "\
Usage: sub {[-h host] [-p port] [--unix path] [-u username [-P password]] -t topic ... | -L URL [-t topic ...]}
           [-q qos] [-C msg_count] [-W timeout] [-E] [-R | --retained-only] [--remove-retained]
           [-T filter_out ...] [-U topic ...] [-v] [-N] [-F format]
           [-c] [-k keepalive] [-i id | -I id_prefix] [-V protocol_version] [-d] [--quiet]
           [-D command property value ...]
           [--will-topic topic [--will-payload payload] [--will-qos qos] [--will-retain]]
           [[--cafile file | --capath dir | --tls-use-os-certs] [--cert file [--key file]]
            [--insecure] [--tls-alpn protocol] [--tls-version version]] [--proxy URL]
";

const SUB_HELP: &str = "\
sub subscribes to topics and prints the messages that arrive, one per line, as they arrive.

Subscribing:
 -t, --topic FILTER     a topic filter to subscribe to; may be repeated.
 -q, --qos QOS          the QoS to subscribe with: 0, 1 or 2. Defaults to 0.
 -T, --filter-out FILTER
                        do not print messages whose topic matches FILTER; may be repeated.
 -U, --unsubscribe FILTER
                        unsubscribe from FILTER (of a persistent session, with -c); may be repeated.
Stopping:
 -C COUNT               exit after printing COUNT messages.
 -W SECONDS             exit with status 27 if the time runs out first.
 -E                     exit once the subscriptions are acknowledged.
 --retained-only        print only retained messages; exit at the first message that is not.
Messages:
 -R                     do not print stale (retained) messages.
 --remove-retained      clear each retained message received (publish an empty retained message).
 -v, --verbose          print 'topic payload'.
 -N                     no newline after each message.
 -F FORMAT              print with FORMAT, mosquitto_sub's format: %t topic, %p payload, %q QoS,
                        %r retain flag, %m message id, %l payload length, %x / %X payload in hex,
                        %I ISO 8601 time, %U Unix time with nanoseconds, %j JSON, %% a percent sign;
                        MQTT 5: %P user properties (name:value ...), %C content type, %D
                        correlation data, %E message expiry, %F payload format, %R response topic,
                        %S subscription identifier, %A topic alias;
                        flags as printf: %-20t, %08l, %.5p; @Y, @m, @d, @H, @M, @S, @N, @s... are
                        strftime fields (UTC), @@ an at sign; \\n, \\t, \\r, \\0, \\a, \\e, \\v, \\\\ escapes.
";

#[derive(Debug)]
struct Config {
    conn: Conn,
    unsubscribe: Vec<String>,
    filter_out: Vec<String>,
    count: Option<u64>,
    timeout: Option<u64>,
    exit_after_subscribe: bool,
    no_retain: bool,
    retained_only: bool,
    remove_retained: bool,
    output: Output,
}

fn parse(mut args: Args) -> Result<Parsed<Config>, Failure> {
    let mut c = Config {
        conn: Conn {
            manual_ack: true,
            ..Conn::default()
        },
        unsubscribe: Vec::new(),
        filter_out: Vec::new(),
        count: None,
        timeout: None,
        exit_after_subscribe: false,
        no_retain: false,
        retained_only: false,
        remove_retained: false,
        output: Output::default(),
    };
    while let Some(opt) = args.next_option()? {
        if c.conn.parse_option(TOOL, &opt, &mut args)? {
            continue;
        }
        match opt.as_str() {
            "--help" => return Ok(Parsed::Help),
            "--version" => return Ok(Parsed::Version),
            "-T" | "--filter-out" | "-U" | "--unsubscribe" => {
                let filter = args.text(&opt, "topic filter")?;
                if let Some(why) = filter_problem(&filter) {
                    return Err(Failure::usage(format!(
                        "Error: Invalid topic filter '{filter}' ({opt}), {why}"
                    )));
                }
                if opt.starts_with("-T") || opt == "--filter-out" {
                    c.filter_out.push(filter);
                } else {
                    c.unsubscribe.push(filter);
                }
            }
            "-C" => c.count = Some(args.number(&opt, "message count", 1, u64::MAX)?),
            "-W" => c.timeout = Some(args.number(&opt, "timeout", 1, u64::from(u32::MAX))?),
            "-E" => c.exit_after_subscribe = true,
            "-R" => c.no_retain = true,
            "--retained-only" => c.retained_only = true,
            "--remove-retained" => c.remove_retained = true,
            "-v" | "--verbose" => c.output.verbose = true,
            "-N" => c.output.eol = false,
            "-F" => {
                let spec = args.text(&opt, "format")?;
                c.output.format = Some(Format::parse(&spec).map_err(Failure::usage)?);
            }
            other => return Err(Failure::usage(format!("Error: Unknown option '{other}'."))),
        }
    }
    c.conn.finish()?;
    if c.conn.topics.is_empty() && c.unsubscribe.is_empty() {
        return Err(Failure::usage(
            "Error: You must specify a topic to subscribe to (-t) or unsubscribe from (-U).",
        ));
    }
    if c.no_retain && c.retained_only {
        return Err(Failure::usage(
            "Error: Combining '-R' and '--retained-only' makes no sense.",
        ));
    }
    Ok(Parsed::Run(c))
}

fn main() -> ExitCode {
    cli_common::main(TOOL, parse, run, |config| config.conn.quiet)
}

/// How many events may wait for the main thread; beyond that the network thread waits for it (and
/// TCP tells the broker to slow down) instead of sub buffering without limit.
const EVENT_QUEUE: usize = 1024;

/// How many bytes of messages (topics and payloads) may wait for the main thread: the count alone let
/// 1,024 large messages wait (773 MB with a blocked stdout). Beyond it the network thread waits, as for
/// the count. A message larger than this alone is let through when nothing waits.
const QUEUE_BYTES: usize = 16 * 1024 * 1024;

/// The bytes of the messages queued for the main thread, bounded by a limit: the network thread takes
/// a message's share before queueing it (waiting while the limit would be passed), the main thread
/// gives it back once the message is handled.
struct ByteBudget {
    limit: usize,
    /// Bytes held, and whether the main thread stopped taking messages.
    held: Mutex<(usize, bool)>,
    freed: Condvar,
}

impl ByteBudget {
    fn new(limit: usize) -> ByteBudget {
        ByteBudget {
            limit,
            held: Mutex::new((0, false)),
            freed: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (usize, bool)> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes `bytes`, waiting while they would take the held bytes past the limit (unless nothing is
    /// held). False once the main thread is done: the message is not to be queued.
    fn take(&self, bytes: usize) -> bool {
        let mut held = self.lock();
        while !held.1 && held.0 > 0 && held.0.saturating_add(bytes) > self.limit {
            held = self.freed.wait(held).unwrap_or_else(|e| e.into_inner());
        }
        if held.1 {
            return false;
        }
        held.0 += bytes;
        true
    }

    /// Gives back what a handled message took.
    fn give(&self, bytes: usize) {
        let mut held = self.lock();
        held.0 = held.0.saturating_sub(bytes);
        drop(held);
        self.freed.notify_all();
    }

    /// The main thread takes no more: a waiting `take` returns false.
    fn close(&self) {
        self.lock().1 = true;
        self.freed.notify_all();
    }

    #[cfg(test)]
    fn held(&self) -> usize {
        self.lock().0
    }
}

/// What a message costs in the queue.
fn cost(msg: &Message) -> usize {
    msg.topic.len() + msg.payload.len()
}

/// What sub's own callbacks report besides the connection's events.
#[derive(Debug)]
enum Received {
    /// SUBACK, with its message id and one code per filter.
    Subscribed(u16, Vec<ReasonCode>),
    /// UNSUBACK.
    Unsubscribed,
    /// A message arrived.
    Message(Message),
}

/// Whether to go on after a message.
enum Next {
    Continue,
    Stop,
}

fn run(config: &Config) -> Result<(), Failure> {
    let client = config.conn.build_client()?;
    let (tx, events) = mpsc::sync_channel(EVENT_QUEUE);
    let filters = config.conn.topics.clone();
    let options = SubscribeOptions::new(config.conn.qos).map_err(fail)?;
    let sub_props = config.conn.props.get(PacketTypes::SUBSCRIBE);
    let unsub_props = config.conn.props.get(PacketTypes::UNSUBSCRIBE);
    let unsubscribe = config.unsubscribe.clone();
    let send = move |e| {
        // The receiver only goes away when sub is finishing.
        let _ = tx.send(e);
    };
    let s = send.clone();
    client.on_subscribe(move |_, _, mid, codes, _| {
        s(Event::Tool(Received::Subscribed(mid, codes.to_vec())))
    });
    let s = send.clone();
    client.on_unsubscribe(move |_, _, _, _, _| s(Event::Tool(Received::Unsubscribed)));
    let s = send.clone();
    let budget = Arc::new(ByteBudget::new(QUEUE_BYTES));
    let b = Arc::clone(&budget);
    client.on_message(move |_, _, msg| {
        if b.take(cost(msg)) {
            s(Event::Tool(Received::Message(msg.clone())))
        }
    });
    forward_events(
        &client,
        &config.conn,
        send,
        // As mosquitto_sub: every accepted connection subscribes (one SUBSCRIBE for all filters), then
        // unsubscribes (one UNSUBSCRIBE per filter).
        move |client| {
            if !filters.is_empty() {
                // NoConn: the connection closed meanwhile; the next connection subscribes.
                let _ = client.subscribe_with(filters.clone(), options, sub_props.clone());
            }
            for f in &unsubscribe {
                let _ = match &unsub_props {
                    Some(p) => client.unsubscribe_with(f.as_str(), p.clone()),
                    None => client.unsubscribe(f.as_str()),
                };
            }
        },
    );
    config.conn.connect(&client)?;
    client.loop_start().map_err(fail)?;
    // Disconnects and stops the loop however `run` ends.
    let client = client.disconnect_on_drop();
    let deadline = config
        .timeout
        .and_then(|secs| Instant::now().checked_add(Duration::from_secs(secs)));

    let mut removals = Vec::new();
    let result = receive(config, &client, &events, &budget, deadline, &mut removals);
    // Nothing more is read: a callback waiting on a full queue must not hold up the loop.
    budget.close();
    drop(events);
    result?;
    // --remove-retained: the empty retained messages are acknowledged before sub disconnects.
    for info in &removals {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        match info.wait_for_publish(left) {
            Ok(true) => {}
            Ok(false) => return Err(Failure::new(EXIT_TIMEOUT, "Timed out")),
            Err(e) => return Err(fail(e)),
        }
    }
    config.conn.disconnect(&client);
    drop(client);
    Ok(())
}

/// Handles events until sub is done.
fn receive(
    config: &Config,
    client: &Client,
    events: &Receiver<Event<Received>>,
    budget: &ByteBudget,
    deadline: Option<Instant>,
    removals: &mut Vec<MessageInfo>,
) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    let mut printed = 0u64;
    let mut unsubscribed = 0usize;
    let mut connected = false;
    loop {
        let event = next_event(events, deadline)?;
        match event {
            Event::Refused(f) => return Err(f),
            Event::Tool(Received::Subscribed(mid, codes)) => {
                if config.conn.debug && !config.conn.quiet {
                    let granted: Vec<String> =
                        codes.iter().map(|c| c.value().to_string()).collect();
                    let _ = writeln!(
                        io::stderr(),
                        "Subscribed (mid: {mid}): {}",
                        granted.join(", ")
                    );
                }
                if codes.iter().all(|c| c.is_failure()) {
                    return Err(Failure::new(
                        EXIT_FAILURE,
                        "Error: All subscription requests were denied.",
                    ));
                }
                if config.exit_after_subscribe {
                    return Ok(());
                }
            }
            Event::Tool(Received::Unsubscribed) => {
                // With nothing subscribed, sub is done once every -U is acknowledged.
                unsubscribed += 1;
                if config.conn.topics.is_empty() && unsubscribed >= config.unsubscribe.len() {
                    return Ok(());
                }
            }
            Event::Tool(Received::Message(msg)) => {
                let handled = handle(config, client, &mut out, &msg, &mut printed, removals);
                budget.give(cost(&msg));
                let next = handled?;
                if let Next::Stop = next {
                    return Ok(());
                }
            }
            Event::Connected => connected = true,
            // Closed before the broker accepted it (a TLS broker wanting a client certificate, say):
            // as mosquitto_sub, give up rather than retry. Later losses reconnect.
            Event::Lost(why) if !connected => {
                return Err(Failure::new(EXIT_FAILURE, format!("Error: {why}")))
            }
            Event::Lost(_) => {}
        }
    }
}

/// Writes `bytes` to stdout and flushes, so a reader sees each message as it arrives.
fn write_stdout(out: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    out.write_all(bytes)?;
    out.flush()
}

/// Acknowledges a QoS 1/2 message sub is done with. A message sub stops before handling (the one
/// that ends `--retained-only`, one it could not print) is not acknowledged, so a persistent session
/// (`-c`) gets it again; the acknowledgement always goes out before the DISCONNECT.
fn ack(client: &Client, msg: &Message) {
    if msg.qos > 0 {
        // Fails only without manual ack or at QoS 0, neither of which applies.
        let _ = client.ack(msg.mid, msg.qos);
    }
}

/// One message, as mosquitto_sub handles it: the retained-only and -R checks, -T filters,
/// --remove-retained, printing, then -C.
fn handle(
    config: &Config,
    client: &Client,
    out: &mut impl Write,
    msg: &Message,
    printed: &mut u64,
    removals: &mut Vec<MessageInfo>,
) -> Result<Next, Failure> {
    if config.retained_only && !msg.retain {
        return Ok(Next::Stop);
    }
    if msg.retain && config.no_retain {
        ack(client, msg);
        return Ok(Next::Continue);
    }
    if config
        .filter_out
        .iter()
        .any(|f| topic_matches_sub(f, &msg.topic))
    {
        ack(client, msg);
        return Ok(Next::Continue);
    }
    if config.remove_retained && msg.retain {
        removals.push(client.publish(&msg.topic, (), 1, true).map_err(fail)?);
    }
    let bytes = config.output.render(msg, SystemTime::now());
    if !bytes.is_empty() {
        if let Err(e) = write_stdout(out, &bytes) {
            if e.kind() == ErrorKind::BrokenPipe {
                // The reader has what it wanted (`sub ... | head -1`): stop quietly.
                return Ok(Next::Stop);
            }
            return Err(Failure::new(
                EXIT_FAILURE,
                format!("Error: Unable to write to stdout: {e}."),
            ));
        }
    }
    ack(client, msg);
    *printed += 1;
    if config.count == Some(*printed) {
        return Ok(Next::Stop);
    }
    Ok(Next::Continue)
}

#[cfg(test)]
mod queue_tests {
    use super::*;
    use std::thread;

    /// A main thread that takes nothing (stdout blocked) and a network thread delivering 1 MiB
    /// messages: the bytes queued stop at `QUEUE_BYTES`, though the count would let 1,024 in.
    #[test]
    fn messages_queued_for_a_blocked_main_thread_are_bounded_in_bytes() {
        let budget = Arc::new(ByteBudget::new(QUEUE_BYTES));
        let (tx, events) = mpsc::sync_channel::<Message>(EVENT_QUEUE);
        let (progress_tx, progress) = mpsc::channel();
        let b = Arc::clone(&budget);
        let network = thread::spawn(move || {
            for i in 0..EVENT_QUEUE {
                let msg = Message::new("big", vec![0u8; 1 << 20], 0, false);
                if !b.take(cost(&msg)) {
                    return i;
                }
                if tx.send(msg).is_err() {
                    return i;
                }
                let _ = progress_tx.send(i + 1);
            }
            EVENT_QUEUE
        });
        // Queued until it stalls (no message for half a second).
        let mut queued = 0;
        while let Ok(n) = progress.recv_timeout(Duration::from_millis(500)) {
            queued = n;
        }
        let held = budget.held();
        assert!(
            held <= QUEUE_BYTES,
            "{queued} messages, {held} bytes queued for the main thread"
        );
        assert_eq!(queued, QUEUE_BYTES / ((1 << 20) + 3));
        // Handling one lets the next in; closing releases the waiting network thread.
        let first = events.recv().expect("a message");
        budget.give(cost(&first));
        assert_eq!(
            progress.recv_timeout(Duration::from_secs(10)),
            Ok(queued + 1)
        );
        budget.close();
        drop(events);
        assert_eq!(network.join().expect("network thread"), queued + 1);
    }
}
