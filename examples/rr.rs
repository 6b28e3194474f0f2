//! `rr`: send a request and print the response, with mosquitto_rr's options and their meanings.
//!
//! ```sh
//! cargo run --example rr -- -t calc/double -e calc/replies -m 21
//! cargo run --example rr -- -t svc/time -e svc/replies/me -n -W 5 -v
//! cargo run --example rr -- --help
//! ```
//!
//! As mosquitto_rr: MQTT 5 unless `-V` says otherwise; subscribe to the response topic (`-e`), then
//! publish the message to the request topic (`-t`) with `-e` as its Response Topic (and any `-D
//! publish` properties, a `correlation-data` among them), print the first message that arrives on the
//! response topic (as sub prints, `-v`, `-N` and `-F` included) and exit. On MQTT 3.1.1 the request
//! carries no Response Topic: the responder must know where to answer. Exit status: 0 a response was
//! printed, 1 bad arguments or another failure, 5 the broker refused the connection, 27 the `-W` time
//! ran out. docs/cli.md lists every option.

mod cli_common;
#[path = "cli_common/format.rs"]
mod format;
#[path = "cli_common/source.rs"]
mod source;
#[path = "cli_common/wait.rs"]
mod wait;

use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use cli_common::{
    fail, forward_events, topic_problem, Args, Conn, Event, Failure, Parsed, Tool, Version,
    EXIT_FAILURE,
};
use format::{Format, Output};
use pahoish::{Message, PacketTypes, Properties, Property, ReasonCode, SubscribeOptions};
use source::Source;
use wait::next_event;

const TOOL: Tool = Tool {
    name: "rr",
    publishes: true,
    synopsis: SYNOPSIS,
    help: RR_HELP,
};

const SYNOPSIS: &str = "\
Usage: rr {[-h host] [-p port] [--unix path] [-u username [-P password]] -t topic | -L URL} -e response-topic
          {-m message | -f file | -s | -n} [-q qos] [-W timeout] [-R] [-v] [-N] [-F format]
          [-c] [-k keepalive] [-i id | -I id_prefix] [-V protocol_version] [-d] [--quiet]
          [-D command property value ...]
          [--will-topic topic [--will-payload payload] [--will-qos qos] [--will-retain]]
          [[--cafile file | --capath dir | --tls-use-os-certs] [--cert file [--key file]]
           [--insecure] [--tls-alpn protocol] [--tls-version version]] [--proxy URL]
";

const RR_HELP: &str = "\
rr publishes a request and prints the response that arrives on the response topic. MQTT 5 by default.

Request and response:
 -t, --topic TOPIC      the topic to send the request to.
 -e TOPIC               the response topic: rr subscribes to it and sends it as the request's
                        Response Topic (MQTT 5).
 -m, --message TEXT     the request's payload.
 -f, --file FILE        the request's payload is FILE's contents.
 -s, --stdin-file       the request's payload is everything read from standard input.
 -n, --null-message     an empty request.
 -q, --qos QOS          the QoS of the request and of the subscription. Defaults to 0.
 -W SECONDS             exit with status 27 if no response comes in time.
Printing the response (as sub):
 -R                     do not print stale (retained) messages: wait for a fresh one.
 -v, --verbose          print 'topic payload'.
 -N                     no newline after the response.
 -F FORMAT              print with FORMAT, mosquitto_sub's format (see sub --help).
";

#[derive(Debug)]
struct Config {
    conn: Conn,
    response_topic: String,
    source: Source,
    timeout: Option<u64>,
    no_retain: bool,
    output: Output,
}

fn parse(mut args: Args) -> Result<Parsed<Config>, Failure> {
    let mut conn = Conn::default();
    let mut response_topic = None;
    let mut source = None;
    let mut timeout = None;
    let mut no_retain = false;
    let mut output = Output::default();
    while let Some(opt) = args.next_option()? {
        if conn.parse_option(TOOL, &opt, &mut args)? {
            continue;
        }
        let new_source = match opt.as_str() {
            "--help" => return Ok(Parsed::Help),
            "--version" => return Ok(Parsed::Version),
            "-e" => {
                let topic = args.text(&opt, "response topic")?;
                if topic_problem(&topic).is_some() {
                    return Err(Failure::usage(format!(
                        "Error: Invalid response topic '{topic}', does it contain '+' or '#'?"
                    )));
                }
                response_topic = Some(topic);
                None
            }
            "-W" => {
                timeout = Some(args.number(&opt, "timeout", 1, u64::from(u32::MAX))?);
                None
            }
            "-R" => {
                no_retain = true;
                None
            }
            "-v" | "--verbose" => {
                output.verbose = true;
                None
            }
            "-N" => {
                output.eol = false;
                None
            }
            "-F" => {
                let spec = args.text(&opt, "format")?;
                output.format = Some(Format::parse(&spec).map_err(Failure::usage)?);
                None
            }
            other => match Source::parse(other, &mut args, false)? {
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
    // mosquitto_rr speaks MQTT 5 unless told otherwise: the Response Topic is a 5.0 property.
    if !conn.version_given {
        conn.version = Version::V5;
    }
    conn.finish()?;
    let (Some(response_topic), Some(source), false) =
        (response_topic, source, conn.topics.is_empty())
    else {
        return Err(Failure::usage(
            "Error: All of topic, message, and response topic must be supplied.",
        ));
    };
    Ok(Parsed::Run(Config {
        conn,
        response_topic,
        source,
        timeout,
        no_retain,
        output,
    }))
}

fn main() -> ExitCode {
    cli_common::main(TOOL, parse, run, |config| config.conn.quiet)
}

/// What rr's own callbacks report besides the connection's events.
#[derive(Debug)]
enum Received {
    /// SUBACK of the response topic, with its code.
    Subscribed(Vec<ReasonCode>),
    /// A message on the response topic.
    Message(Message),
}

fn run(config: &Config) -> Result<(), Failure> {
    let request_topic = &config.conn.topics[0];
    let payload = config.source.payload()?;
    let client = config.conn.build_client()?;
    let (tx, events) = mpsc::channel();
    let send = move |e| {
        // The receiver only goes away when rr is finishing.
        let _ = tx.send(e);
    };
    let s = send.clone();
    client.on_subscribe(move |_, _, _, codes, _| {
        s(Event::Tool(Received::Subscribed(codes.to_vec())))
    });
    let response_topic = config.response_topic.clone();
    let s = send.clone();
    client.on_message(move |_, _, msg| {
        if msg.topic == response_topic {
            s(Event::Tool(Received::Message(msg.clone())));
        }
    });
    let options = SubscribeOptions::new(config.conn.qos).map_err(fail)?;
    let sub_props = config.conn.props.get(PacketTypes::SUBSCRIBE);
    let topic = config.response_topic.clone();
    forward_events(&client, &config.conn, send, move |client| {
        // NoConn: the connection closed meanwhile; the next connection subscribes.
        let _ = client.subscribe_with(topic.as_str(), options, sub_props.clone());
    });
    config.conn.connect(&client)?;
    client.loop_start().map_err(fail)?;
    // Disconnects and stops the loop however `run` ends.
    let client = client.disconnect_on_drop();
    let deadline = config
        .timeout
        .and_then(|secs| Instant::now().checked_add(Duration::from_secs(secs)));

    let mut connected = false;
    let mut requested = false;
    loop {
        let event = next_event(&events, deadline)?;
        match event {
            Event::Refused(f) => return Err(f),
            Event::Connected => connected = true,
            Event::Lost(why) if !connected => {
                return Err(Failure::new(EXIT_FAILURE, format!("Error: {why}")))
            }
            Event::Lost(_) => {}
            Event::Tool(Received::Subscribed(codes)) => {
                if codes.iter().all(|c| c.is_failure()) {
                    return Err(Failure::new(
                        EXIT_FAILURE,
                        "Error: the response topic subscription was denied.",
                    ));
                }
                // As mosquitto_rr: the request goes out once the response topic is subscribed (once,
                // even when a reconnect subscribes again).
                if !requested {
                    let info = match config.conn.version {
                        Version::V5 => {
                            let mut props = config
                                .conn
                                .props
                                .get(PacketTypes::PUBLISH)
                                .unwrap_or_else(|| Properties::new(PacketTypes::PUBLISH));
                            props
                                .set(Property::ResponseTopic(config.response_topic.clone()))
                                .map_err(fail)?;
                            client.publish_with(
                                request_topic,
                                payload.as_slice(),
                                config.conn.qos,
                                false,
                                props,
                            )
                        }
                        _ => client.publish(
                            request_topic,
                            payload.as_slice(),
                            config.conn.qos,
                            false,
                        ),
                    };
                    info.map_err(fail)?;
                    requested = true;
                }
            }
            Event::Tool(Received::Message(msg)) => {
                if config.no_retain && msg.retain {
                    continue;
                }
                let bytes = config.output.render(&msg, SystemTime::now());
                let mut out = io::stdout().lock();
                // A closed stdout is nothing to report: the response was taken.
                let _ = out.write_all(&bytes).and_then(|()| out.flush());
                config.conn.disconnect(&client);
                return Ok(());
            }
        }
    }
}
