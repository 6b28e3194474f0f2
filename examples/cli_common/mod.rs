//! What the `pub` and `sub` examples share: the options both take (with mosquitto_pub's and
//! mosquitto_sub's meanings and defaults), a small hand-written argument reader, building and connecting
//! the client, the events its callbacks forward, and how errors end the program.
//!
//! Exit statuses, as mosquitto's tools use them: 0 success, 1 bad arguments or any other failure, 5 the
//! broker refused the connection (CONNACK), 27 `sub -W` ran out of time.
#![allow(dead_code)] // pub.rs and sub.rs (and tests/cli.rs) each use a part of this module

pub mod format;

use std::ffi::OsString;
use std::io::{self, Write};
use std::os::unix::ffi::OsStringExt;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use pahoish::{connack_string, Client, Error, LogLevel, Message, ReasonCode};

/// Success.
pub const EXIT_OK: u8 = 0;
/// Bad arguments, a connection that could not be made, anything else that went wrong.
pub const EXIT_FAILURE: u8 = 1;
/// The broker refused the connection (CONNACK with a failure code), as mosquitto's tools exit.
pub const EXIT_REFUSED: u8 = 5;
/// `sub -W` ran out of time, as mosquitto_sub exits.
pub const EXIT_TIMEOUT: u8 = 27;

/// Which tool is running: the options and messages differ a little.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// examples/pub.rs.
    Pub,
    /// examples/sub.rs.
    Sub,
}

impl Tool {
    /// The command name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Pub => "pub",
            Tool::Sub => "sub",
        }
    }
}

/// Why the program stops: the line to print on stderr (if any) and the exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The exit status.
    pub status: u8,
    /// One line saying what went wrong (no trailing newline); empty for none.
    pub message: String,
    /// Whether the usage synopsis follows (bad arguments).
    pub usage: bool,
}

impl Failure {
    /// Bad arguments: status 1, the message, then the usage synopsis.
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            status: EXIT_FAILURE,
            message: message.into(),
            usage: true,
        }
    }

    /// Anything else: the status and one line.
    pub fn new(status: u8, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
            usage: false,
        }
    }
}

/// What the command line asked for.
#[derive(Debug)]
pub enum Parsed<T> {
    /// Run with these settings.
    Run(T),
    /// `--help`: print the usage to stdout and exit 0.
    Help,
    /// `--version`: print the version to stdout and exit 0.
    Version,
}

/// The command-line arguments, read one at a time.
pub struct Args {
    items: Vec<OsString>,
    pos: usize,
}

impl Args {
    /// The arguments after the program name.
    pub fn new(items: impl IntoIterator<Item = OsString>) -> Args {
        Args {
            items: items.into_iter().collect(),
            pos: 0,
        }
    }

    /// The next option, as text.
    pub fn next_option(&mut self) -> Result<Option<String>, Failure> {
        let Some(item) = self.items.get(self.pos).cloned() else {
            return Ok(None);
        };
        self.pos += 1;
        item.into_string().map(Some).map_err(|raw| {
            Failure::usage(format!(
                "Error: Unknown option '{}'.",
                raw.to_string_lossy()
            ))
        })
    }

    /// The value after option `opt`, as bytes (a payload may be any bytes); `what` names it in the error.
    pub fn bytes(&mut self, opt: &str, what: &str) -> Result<Vec<u8>, Failure> {
        match self.items.get(self.pos).cloned() {
            Some(v) => {
                self.pos += 1;
                Ok(v.into_vec())
            }
            None => Err(Failure::usage(format!(
                "Error: {opt} argument given but no {what} specified."
            ))),
        }
    }

    /// The value after option `opt`, as text.
    pub fn text(&mut self, opt: &str, what: &str) -> Result<String, Failure> {
        let v = self.bytes(opt, what)?;
        String::from_utf8(v)
            .map_err(|_| Failure::usage(format!("Error: Malformed UTF-8 in {opt} argument.")))
    }

    /// The value after `opt` as a whole number in `min..=max`; `what` names it in the errors.
    pub fn number(&mut self, opt: &str, what: &str, min: u64, max: u64) -> Result<u64, Failure> {
        let v = self.text(opt, what)?;
        match v.trim().parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(Failure::usage(format!(
                "Error: Invalid {what} '{v}' for {opt}: it must be a whole number from {min} to {max}."
            ))),
        }
    }

    /// The value after `opt` as a number of seconds >= 0 (fractions allowed).
    pub fn seconds(&mut self, opt: &str, what: &str) -> Result<Duration, Failure> {
        let v = self.text(opt, what)?;
        match v.trim().parse::<f64>().map(Duration::try_from_secs_f64) {
            Ok(Ok(d)) => Ok(d),
            _ => Err(Failure::usage(format!(
                "Error: Invalid {what} '{v}' for {opt}: it must be a number of seconds, 0 or more."
            ))),
        }
    }
}

/// The MQTT version asked for with `-V`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `mqttv31` / `31`.
    V31,
    /// `mqttv311` / `311`, the default.
    V311,
    /// `mqttv5` / `5`: accepted, then refused as not supported yet.
    V5,
}

/// The options both tools take, with mosquitto's defaults.
#[derive(Debug, Clone)]
pub struct Conn {
    /// `-h`: the broker. Defaults to `localhost`.
    pub host: String,
    /// `-p`: the port. Defaults to 1883 (8883 with TLS options).
    pub port: Option<u16>,
    /// `-i`: the client id. Defaults to none: on MQTT 3.1.1 the broker assigns one, on 3.1 a random one.
    pub id: Option<String>,
    /// `-I`: the client id is this prefix followed by the process id.
    pub id_prefix: Option<String>,
    /// `-k`: keepalive in seconds. Defaults to 60.
    pub keepalive: u16,
    /// Cleared by `-c`. Defaults to true.
    pub clean_session: bool,
    /// `-V`. Defaults to MQTT 3.1.1.
    pub version: Version,
    /// `-u`.
    pub username: Option<String>,
    /// `-P`.
    pub password: Option<String>,
    /// `--will-topic`.
    pub will_topic: Option<String>,
    /// `--will-payload`. Defaults to empty.
    pub will_payload: Option<Vec<u8>>,
    /// `--will-qos`. Defaults to 0.
    pub will_qos: u8,
    /// `--will-retain`.
    pub will_retain: bool,
    /// TLS options given (`--cafile`, `mqtts://`, ...), by name: not supported yet.
    pub tls: Vec<String>,
    /// `ws://` or `wss://` in `-L`: not supported yet.
    pub websockets: Option<String>,
    /// `--unix`: not supported yet.
    pub unix: Option<String>,
    /// `--proxy`: not supported yet.
    pub proxy: Option<String>,
    /// `-d`.
    pub debug: bool,
    /// `--quiet`: no error messages.
    pub quiet: bool,
    /// `-q`. Defaults to 0.
    pub qos: u8,
    /// `-t` (and the topic of `-L`): the one topic of pub, the filters of sub.
    pub topics: Vec<String>,
    /// `-M` (pub): QoS 1/2 messages in flight at once. Defaults to 20.
    pub max_inflight: usize,
    /// Not an option: sub acknowledges a QoS 1/2 message once it has handled it (printed or
    /// skipped), so one that arrived after the last one it needed stays with the broker.
    pub manual_ack: bool,
}

impl Default for Conn {
    fn default() -> Self {
        Conn {
            host: "localhost".into(),
            port: None,
            id: None,
            id_prefix: None,
            keepalive: 60,
            clean_session: true,
            version: Version::V311,
            username: None,
            password: None,
            will_topic: None,
            will_payload: None,
            will_qos: 0,
            will_retain: false,
            tls: Vec::new(),
            websockets: None,
            unix: None,
            proxy: None,
            debug: false,
            quiet: false,
            qos: 0,
            topics: Vec::new(),
            max_inflight: 20,
            manual_ack: false,
        }
    }
}

/// Why a topic name cannot be published to, if it cannot.
pub fn topic_problem(topic: &str) -> Option<&'static str> {
    if topic.is_empty() {
        Some("it is empty")
    } else if topic.len() > 65_535 {
        Some("it is longer than 65535 bytes")
    } else if topic.contains(['+', '#']) {
        Some("does it contain '+' or '#'?")
    } else if topic.contains('\0') {
        Some("it contains a NUL character")
    } else {
        None
    }
}

/// Why a topic filter cannot be subscribed to, if it cannot.
pub fn filter_problem(filter: &str) -> Option<&'static str> {
    if filter.is_empty() {
        return Some("it is empty");
    }
    if filter.len() > 65_535 {
        return Some("it is longer than 65535 bytes");
    }
    if filter.contains('\0') {
        return Some("it contains a NUL character");
    }
    let levels: Vec<&str> = filter.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        let wildcard_misused = (level.contains('+') && *level != "+")
            || (level.contains('#') && (*level != "#" || i + 1 != levels.len()));
        if wildcard_misused {
            return Some("are all '+' and '#' wildcards correct?");
        }
    }
    None
}

impl Conn {
    /// Reads `opt` (and its value) if it is one of the options both tools take; `Ok(false)` if not.
    pub fn parse_option(
        &mut self,
        tool: Tool,
        opt: &str,
        args: &mut Args,
    ) -> Result<bool, Failure> {
        match opt {
            "-h" | "--host" => self.host = args.text(opt, "host")?,
            "-p" | "--port" => self.port = Some(args.number(opt, "port", 1, 65_535)? as u16),
            "-L" | "--url" => {
                let url = args.text(opt, "URL")?;
                self.parse_url(tool, &url)?;
            }
            "-i" | "--id" => {
                if self.id_prefix.is_some() {
                    return Err(Failure::usage("Error: -i and -I argument cannot be used together."));
                }
                self.id = Some(args.text(opt, "id")?);
            }
            "-I" | "--id-prefix" => {
                if self.id.is_some() {
                    return Err(Failure::usage("Error: -i and -I argument cannot be used together."));
                }
                self.id_prefix = Some(args.text(opt, "id prefix")?);
            }
            "-k" | "--keepalive" => {
                // mosquitto's range: 5 to 65535 seconds.
                self.keepalive = args.number(opt, "keepalive", 5, 65_535)? as u16;
            }
            "-c" | "--disable-clean-session" => self.clean_session = false,
            "-V" | "--protocol-version" => {
                self.version = match args.text(opt, "version")?.as_str() {
                    "mqttv31" | "31" => Version::V31,
                    "mqttv311" | "311" => Version::V311,
                    "mqttv5" | "5" => Version::V5,
                    other => {
                        return Err(Failure::usage(format!(
                            "Error: Invalid protocol version '{other}': use mqttv31 (31), mqttv311 (311) or mqttv5 (5)."
                        )))
                    }
                }
            }
            "-u" | "--username" => self.username = Some(args.text(opt, "username")?),
            "-P" | "--pw" => self.password = Some(args.text(opt, "password")?),
            "-q" | "--qos" => self.qos = args.number(opt, "QoS", 0, 2)? as u8,
            "-t" | "--topic" => {
                let topic = args.text(opt, "topic")?;
                self.add_topic(tool, topic, opt)?;
            }
            "--will-topic" => {
                let topic = args.text(opt, "will topic")?;
                if let Some(why) = topic_problem(&topic) {
                    return Err(Failure::usage(format!("Error: Invalid will topic '{topic}', {why}")));
                }
                self.will_topic = Some(topic);
            }
            "--will-payload" => self.will_payload = Some(args.bytes(opt, "will payload")?),
            "--will-qos" => self.will_qos = args.number(opt, "will QoS", 0, 2)? as u8,
            "--will-retain" => self.will_retain = true,
            "--cafile" | "--capath" | "--cert" | "--key" | "--tls-alpn" | "--tls-version"
            | "--ciphers" => {
                args.text(opt, "value")?;
                self.tls.push(opt.to_owned());
            }
            "--insecure" | "--tls-use-os-certs" => self.tls.push(opt.to_owned()),
            "--unix" => self.unix = Some(args.text(opt, "socket path")?),
            "--proxy" => {
                let url = args.text(opt, "proxy URL")?;
                let lower = url.to_ascii_lowercase();
                if !(lower.starts_with("socks5h://") || lower.starts_with("http://")) {
                    return Err(Failure::usage(format!(
                        "Error: Unsupported proxy protocol: {url} (use socks5h:// or http://)."
                    )));
                }
                self.proxy = Some(url);
            }
            "-M" => self.max_inflight = args.number(opt, "max inflight", 1, 65_535)? as usize,
            // TCP_NODELAY is always on in pahoish; accepted so mosquitto command lines carry over.
            "--nodelay" => {}
            "-d" | "--debug" => self.debug = true,
            "--quiet" => self.quiet = true,
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn add_topic(&mut self, tool: Tool, topic: String, opt: &str) -> Result<(), Failure> {
        match tool {
            Tool::Pub => {
                if let Some(why) = topic_problem(&topic) {
                    return Err(Failure::usage(format!(
                        "Error: Invalid publish topic '{topic}', {why}"
                    )));
                }
                // As mosquitto_pub: the last -t wins.
                self.topics = vec![topic];
            }
            Tool::Sub => {
                if let Some(why) = filter_problem(&topic) {
                    return Err(Failure::usage(format!(
                        "Error: Invalid subscription topic '{topic}' ({opt}), {why}"
                    )));
                }
                self.topics.push(topic);
            }
        }
        Ok(())
    }

    /// `-L mqtt[s]://[user[:pass]@]host[:port]/topic` (also `ws://`, `wss://`).
    fn parse_url(&mut self, tool: Tool, url: &str) -> Result<(), Failure> {
        let lower = url.to_ascii_lowercase();
        let (rest, default_port) = if lower.starts_with("mqtt://") {
            (&url[7..], 1883)
        } else if lower.starts_with("mqtts://") {
            self.tls.push("-L mqtts://".into());
            (&url[8..], 8883)
        } else if lower.starts_with("ws://") {
            self.websockets = Some("-L ws://".into());
            (&url[5..], 1883)
        } else if lower.starts_with("wss://") {
            self.tls.push("-L wss://".into());
            self.websockets = Some("-L wss://".into());
            (&url[6..], 8883)
        } else {
            return Err(Failure::usage(format!(
                "Error: Unsupported URL scheme in '{url}': use mqtt://, mqtts://, ws:// or wss://."
            )));
        };
        let Some((authority, topic)) = rest.split_once('/') else {
            return Err(Failure::usage(
                "Error: Invalid URL for -L argument specified - topic missing.",
            ));
        };
        let host_port = match authority.rsplit_once('@') {
            Some((userinfo, host_port)) => {
                match userinfo.split_once(':') {
                    Some((user, pass)) => {
                        self.username = Some(user.to_owned());
                        self.password = Some(pass.to_owned());
                    }
                    None => self.username = Some(userinfo.to_owned()),
                }
                host_port
            }
            None => authority,
        };
        let (host, port) = match host_port.rsplit_once(':') {
            Some((host, port)) => match port.parse::<u16>() {
                Ok(p) if p > 0 => (host, p),
                _ => {
                    return Err(Failure::usage(format!(
                        "Error: Invalid port '{port}' in URL '{url}'."
                    )))
                }
            },
            None => (host_port, default_port),
        };
        if host.is_empty() {
            return Err(Failure::usage(format!("Error: No host in URL '{url}'.")));
        }
        self.host = host.to_owned();
        self.port = Some(port);
        self.add_topic(tool, topic.to_owned(), "-L")
    }

    /// The checks mosquitto makes once every option is read.
    pub fn finish(&self) -> Result<(), Failure> {
        if self.will_payload.is_some() && self.will_topic.is_none() {
            return Err(Failure::usage(
                "Error: Will payload given, but no will topic given.",
            ));
        }
        if self.will_retain && self.will_topic.is_none() {
            return Err(Failure::usage(
                "Error: Will retain given, but no will topic given.",
            ));
        }
        if !self.clean_session && self.id.is_none() {
            return Err(Failure::usage(
                "Error: You must provide a client id (-i) if you are using the -c option.",
            ));
        }
        if self.password.is_some() && self.username.is_none() {
            return Err(Failure::usage(
                "Error: A password (-P) needs a username (-u) in MQTT 3.1/3.1.1.",
            ));
        }
        Ok(())
    }

    /// The port to connect to: `-p`, or the default (1883; 8883 with TLS options, once they work).
    pub fn port(&self) -> u16 {
        self.port
            .unwrap_or(if self.tls.is_empty() { 1883 } else { 8883 })
    }

    /// The client id: `-i`, or `-I` with the process id appended, or empty (the broker assigns one).
    pub fn client_id(&self) -> String {
        match (&self.id, &self.id_prefix) {
            (Some(id), _) => id.clone(),
            (None, Some(prefix)) => format!("{prefix}{}", std::process::id()),
            (None, None) => String::new(),
        }
    }

    /// Refuses, before connecting, what this version cannot do yet: it would otherwise connect without
    /// the TLS, proxy or transport the user asked for.
    pub fn check_supported(&self) -> Result<(), Failure> {
        let not_yet = |what: String| {
            Failure::new(
                EXIT_FAILURE,
                format!("Error: {what} is not supported yet (it arrives with pahoish issue #3)."),
            )
        };
        if self.version == Version::V5 {
            return Err(Failure::new(
                EXIT_FAILURE,
                "Error: MQTT 5 (-V mqttv5) is not supported yet by pahoish; use -V mqttv311 or mqttv31.",
            ));
        }
        if let Some(opt) = self.tls.first() {
            return Err(not_yet(format!("TLS ({opt})")));
        }
        if let Some(opt) = &self.websockets {
            return Err(not_yet(format!("MQTT over websockets ({opt})")));
        }
        if self.unix.is_some() {
            return Err(not_yet("Connecting through a Unix socket (--unix)".into()));
        }
        if self.proxy.is_some() {
            return Err(not_yet("Connecting through a proxy (--proxy)".into()));
        }
        Ok(())
    }

    /// Builds the client these options describe: id, clean session, protocol, credentials, will, the
    /// inflight window, and with `-d` a line on stderr for every log line (every packet sent and
    /// received among them).
    pub fn build_client(&self) -> Result<Client, Failure> {
        self.check_supported()?;
        let protocol = match self.version {
            Version::V31 => pahoish::MQTTv31,
            _ => pahoish::MQTTv311,
        };
        let client = Client::builder()
            .client_id(self.client_id())
            .clean_session(self.clean_session)
            .protocol(protocol)
            .manual_ack(self.manual_ack)
            .build()
            .map_err(fail)?;
        if let Some(topic) = &self.will_topic {
            let payload = self.will_payload.clone().unwrap_or_default();
            client
                .will_set(topic, payload, self.will_qos, self.will_retain)
                .map_err(fail)?;
        }
        if let Some(user) = &self.username {
            client
                .username_pw_set(user, self.password.as_deref())
                .map_err(fail)?;
        }
        client.max_inflight_messages_set(self.max_inflight);
        if self.debug {
            client.on_log(|_client, _userdata, _level: LogLevel, line| {
                // A closed stderr is nothing to fail over.
                let _ = writeln!(io::stderr(), "{line}");
            });
        }
        Ok(client)
    }

    /// Connects `client` (blocking, with the client's connect timeout).
    pub fn connect(&self, client: &Client) -> Result<(), Failure> {
        client
            .connect(&self.host, self.port(), self.keepalive)
            .map_err(fail)
    }
}

/// An error from the library as a one-line failure (status 1).
pub fn fail(e: Error) -> Failure {
    Failure::new(EXIT_FAILURE, format!("Error: {}", describe(&e)))
}

/// The error's text, with an operating-system error shown as mosquitto shows it ("Connection
/// refused", without Rust's " (os error 111)").
pub fn describe(e: &Error) -> String {
    match e {
        Error::Io(io) => {
            let text = io.to_string();
            match io.raw_os_error() {
                Some(code) => text
                    .strip_suffix(&format!(" (os error {code})"))
                    .unwrap_or(&text)
                    .to_owned(),
                None => text,
            }
        }
        other => other.to_string(),
    }
}

/// The MQTT 3.1/3.1.1 CONNACK code behind an `on_connect` reason code (the inverse of
/// `ReasonCode::connack`).
pub fn connack_code(rc: ReasonCode) -> u8 {
    match rc.value() {
        0x84 => 1,
        0x85 => 2,
        0x88 => 3,
        0x86 => 4,
        0x87 => 5,
        other => other,
    }
}

/// The failure for a refused CONNACK: mosquitto's line and status.
pub fn refused(rc: ReasonCode) -> Failure {
    Failure::new(
        EXIT_REFUSED,
        format!("Connection error: {}", connack_string(connack_code(rc))),
    )
}

/// What the client's callbacks tell the tool's main thread.
#[derive(Debug)]
pub enum Event {
    /// CONNACK accepted.
    Connected,
    /// CONNACK refused with this reason code.
    Refused(ReasonCode),
    /// A message was published (QoS 0 written, QoS 1 PUBACK, QoS 2 PUBCOMP).
    Published(u16),
    /// SUBACK, with its message id and one code per filter.
    Subscribed(u16, Vec<ReasonCode>),
    /// UNSUBACK.
    Unsubscribed(u16),
    /// A message arrived.
    Message(Message),
}

/// Installs callbacks that forward every [`Event`] through `send`. `on_accepted` runs on the loop
/// thread when a CONNACK accepts the connection, before the event is sent (sub subscribes there, so a
/// reconnect subscribes again, as mosquitto_sub does).
pub fn forward_events(
    client: &Client,
    send: Arc<dyn Fn(Event) + Send + Sync>,
    mut on_accepted: impl FnMut(&Client) + Send + 'static,
) {
    let s = Arc::clone(&send);
    client.on_connect(move |client, _, _, rc, _| {
        if rc.is_failure() {
            s(Event::Refused(rc));
        } else {
            on_accepted(client);
            s(Event::Connected);
        }
    });
    let s = Arc::clone(&send);
    client.on_publish(move |_, _, mid, _, _| s(Event::Published(mid)));
    let s = Arc::clone(&send);
    client.on_subscribe(move |_, _, mid, codes, _| s(Event::Subscribed(mid, codes.to_vec())));
    let s = Arc::clone(&send);
    client.on_unsubscribe(move |_, _, mid, _, _| s(Event::Unsubscribed(mid)));
    let s = send;
    client.on_message(move |_, _, msg| s(Event::Message(msg.clone())));
}

/// Prints `failure` (unless `--quiet` silences it; usage errors are always printed, as mosquitto does)
/// and returns its exit status.
pub fn exit_with(tool: Tool, failure: &Failure, quiet: bool, synopsis: &str) -> ExitCode {
    let mut err = io::stderr().lock();
    if failure.usage {
        let _ = writeln!(err, "{}", failure.message);
        let _ = writeln!(err);
        let _ = write!(err, "{synopsis}");
        let _ = writeln!(err, "Run '{} --help' to see every option.", tool.name());
    } else if !quiet && !failure.message.is_empty() {
        let _ = writeln!(err, "{}", failure.message);
    }
    ExitCode::from(failure.status)
}

/// Makes a panic print one line instead of Rust's message and backtrace hint. Nothing in the tools is
/// meant to panic; this is the last line of defence for a user's terminal.
pub fn install_panic_hook(tool: Tool) {
    let name = tool.name();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown cause".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let _ = writeln!(
            io::stderr(),
            "{name}: internal error: {what}{at} (please report it)"
        );
    }));
}

/// `--version`.
pub fn version_line(tool: Tool) -> String {
    format!(
        "{} (pahoish {}), a mosquitto_{}-compatible MQTT 3.1/3.1.1 client",
        tool.name(),
        env!("CARGO_PKG_VERSION"),
        tool.name()
    )
}

/// The options both tools take, for `--help`.
pub const COMMON_HELP: &str = "\
Connection:
 -h, --host HOST        broker host. Defaults to localhost.
 -p, --port PORT        broker port. Defaults to 1883 (8883 with TLS options).
 -L, --url URL          mqtt://[user[:pass]@]host[:port]/topic (also mqtts://, ws://, wss://).
 -i, --id ID            client id. Defaults to none: the broker assigns one (MQTT 3.1: random).
 -I, --id-prefix PREFIX client id is PREFIX followed by the process id.
 -k, --keepalive SECS   keepalive, 5 to 65535 seconds. Defaults to 60.
 -c, --disable-clean-session
                        keep the session on the broker (needs -i).
 -V, --protocol-version mqttv31|31|mqttv311|311|mqttv5|5
                        Defaults to mqttv311. MQTT 5 is not supported yet.
 -u, --username USER    user name.
 -P, --pw PASSWORD      password (needs -u).
 --will-topic TOPIC     topic of the will the broker publishes if the connection drops.
 --will-payload TEXT    will message. Defaults to an empty message.
 --will-qos QOS         will QoS, 0 to 2. Defaults to 0.
 --will-retain          retain the will.
 --nodelay              accepted; TCP_NODELAY is always on.
Not supported yet (refused with an error until pahoish issue #3):
 --cafile FILE, --capath DIR, --cert FILE, --key FILE, --insecure, --tls-alpn PROTO,
 --tls-version VER, --ciphers LIST, --tls-use-os-certs, --unix PATH,
 --proxy socks5h://[user[:pass]@]host[:port] or http://..., and mqtts://, ws://, wss:// URLs.
Output:
 -d, --debug            print a line on stderr for every packet sent and received.
 --quiet                do not print error messages.
 --help                 print this help and exit.
 --version              print the version and exit.
";

/// Writes `bytes` to stdout and flushes, so a reader sees each message as it arrives.
pub fn write_stdout(out: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    out.write_all(bytes)?;
    out.flush()
}
