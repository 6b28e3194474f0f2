//! What the `pub` and `sub` examples share: the options both take (with mosquitto_pub's and
//! mosquitto_sub's meanings and defaults), a small hand-written argument reader, building and connecting
//! the client, the events its callbacks forward, and how errors end the program.
//!
//! Exit statuses, as mosquitto's tools use them: 0 success, 1 bad arguments or any other failure, 5 the
//! broker refused the connection (CONNACK), 27 `sub -W` ran out of time (sub's own).
//!
//! Each tool uses all of this module; what only one of them needs is in that tool (and sub's `-F`
//! formatter in format.rs, which only sub includes).

use std::collections::HashSet;
use std::ffi::OsString;
use std::fmt;
use std::io::{self, Write};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use pahoish::{
    connack_string, validate_filter, validate_topic, CleanStart, Client, ConnectOptions, Error,
    LogLevel, PacketTypes, Properties, Property, Proxy, ReasonCode, TlsOptions, TlsVersion,
    Transport,
};

mod props;
pub use props::Props;

/// Bad arguments, a connection that could not be made, anything else that went wrong.
pub const EXIT_FAILURE: u8 = 1;
/// The broker refused the connection (CONNACK with a failure code), as mosquitto's tools exit.
pub const EXIT_REFUSED: u8 = 5;

/// Which tool is running (each has its constant): the options and messages differ a little.
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    /// The command name used in messages.
    pub name: &'static str,
    /// pub: `-t` (or `-L`) is the topic to publish to, the last one given. sub: each is one more
    /// filter to subscribe to.
    pub publishes: bool,
    /// The usage synopsis, printed after a bad argument and at the top of `--help`.
    pub synopsis: &'static str,
    /// `--help`'s text for the tool's own options ([`COMMON_HELP`] follows it).
    pub help: &'static str,
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
}

/// The MQTT version asked for with `-V`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `mqttv31` / `31`.
    V31,
    /// `mqttv311` / `311`, the default.
    V311,
    /// `mqttv5` / `5`, also chosen by `-D`.
    V5,
}

/// The scheme of a `-L` URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `mqtt://`: TCP.
    Mqtt,
    /// `mqtts://`: TCP with TLS.
    Mqtts,
    /// `ws://`: websockets.
    Ws,
    /// `wss://`: websockets with TLS.
    Wss,
}

/// The TLS options, as given. Any of them turns TLS on.
#[derive(Debug, Clone, Default)]
pub struct TlsArgs {
    /// What goes to `tls_set_with` as it is: `--cafile` (`ca_certs`), `--cert` (`certfile`), `--key`
    /// (`keyfile`), `--tls-alpn` (`alpn_protocols`, the last one given), `--tls-version`
    /// (`tls_version`), `--insecure` (`insecure`: the broker's certificate need not name the host) and
    /// `--ciphers` (`ciphers`, refused: the TLS library has no cipher selection).
    pub options: TlsOptions,
    /// `--capath`: a directory whose PEM files hold CA certificates to trust.
    pub capath: Option<String>,
    /// `--tls-use-os-certs`: trust the system's CA certificates.
    pub os_certs: bool,
}

impl TlsArgs {
    /// Whether any TLS option was given.
    pub fn any(&self) -> bool {
        self.options != TlsOptions::default() || self.capath.is_some() || self.os_certs
    }
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
    /// `-V`. Defaults to MQTT 3.1.1; MQTT 5 with `-D`.
    pub version: Version,
    /// Whether `-V` was given.
    pub version_given: bool,
    /// `-D`: MQTT 5 properties.
    pub props: Props,
    /// `-u`.
    pub username: Option<String>,
    /// `-P`.
    pub password: Option<Secret>,
    /// `--will-topic`.
    pub will_topic: Option<String>,
    /// `--will-payload`. Defaults to empty.
    pub will_payload: Option<Vec<u8>>,
    /// `--will-qos`. Defaults to 0.
    pub will_qos: u8,
    /// `--will-retain`.
    pub will_retain: bool,
    /// `--cafile`, `--cert`, ...: TLS.
    pub tls: TlsArgs,
    /// The scheme of `-L`, if given.
    pub url: Option<Scheme>,
    /// `--unix`: the broker's Unix socket.
    pub unix: Option<String>,
    /// `--proxy`.
    pub proxy: Option<Proxy>,
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
    /// `--store DIR`: keep the session in a file store in DIR (not in mosquitto's tools).
    pub store: Option<String>,
    /// `--store-sync`: when the store is flushed to disk. Defaults to before every write.
    pub store_sync: pahoish::SyncPolicy,
    /// Not an option: sub acknowledges a QoS 1/2 message once it has handled it (printed or
    /// skipped), so one that arrived after the last one it needed stays with the broker.
    pub manual_ack: bool,
    /// Every `-h` and `-L` broker, in the order given: with more than one, the client gets them all
    /// as a list (`connect_urls`) and fails over between them (an extension of mosquitto's options).
    pub servers: Vec<ServerArg>,
}

/// A password from the command line: its Debug (and so the Debug of [`Conn`]) never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A broker named on the command line. Its Debug leaves a URL's password out.
#[derive(Clone, PartialEq, Eq)]
pub enum ServerArg {
    /// `-h HOST`: with `-p`'s port and the scheme the TLS options give.
    Host(String),
    /// `-L`: the URL without its topic (`mqtt://[user[:pass]@]host[:port]`, ...).
    Url(String),
}

impl fmt::Debug for ServerArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerArg::Host(host) => f.debug_tuple("Host").field(host).finish(),
            ServerArg::Url(url) => {
                // scheme://user:pass@host → scheme://user:****@host
                let shown = match url.split_once("://") {
                    Some((scheme, rest)) => match rest.rsplit_once('@') {
                        Some((userinfo, host)) => {
                            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
                            let masked = if userinfo.contains(':') { ":****" } else { "" };
                            format!("{scheme}://{user}{masked}@{host}")
                        }
                        None => url.clone(),
                    },
                    None => url.clone(),
                };
                f.debug_tuple("Url").field(&shown).finish()
            }
        }
    }
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
            version_given: false,
            props: Props::default(),
            username: None,
            password: None,
            will_topic: None,
            will_payload: None,
            will_qos: 0,
            will_retain: false,
            tls: TlsArgs::default(),
            url: None,
            unix: None,
            proxy: None,
            debug: false,
            quiet: false,
            qos: 0,
            topics: Vec::new(),
            max_inflight: 20,
            store: None,
            store_sync: pahoish::SyncPolicy::Always,
            manual_ack: false,
            servers: Vec::new(),
        }
    }
}

/// Why `topic` cannot be published to, if it cannot ([`validate_topic`]): in mosquitto_pub's words when
/// the wildcards are the problem, else in the library's.
pub fn topic_problem(topic: &str) -> Option<String> {
    let e = validate_topic(topic).err()?;
    // Wildcards alone are the problem when the topic is valid without them.
    if validate_topic(&topic.replace(['+', '#'], "x")).is_ok() {
        return Some("does it contain '+' or '#'?".into());
    }
    Some(problem(&e))
}

/// Why `filter` cannot be subscribed to, if it cannot ([`validate_filter`]): in mosquitto_sub's words
/// when the wildcards are the problem, else in the library's.
pub fn filter_problem(filter: &str) -> Option<String> {
    let e = validate_filter(filter).err()?;
    if validate_filter(&filter.replace(['+', '#'], "x")).is_ok() {
        return Some("are all '+' and '#' wildcards correct?".into());
    }
    Some(problem(&e))
}

/// The reason of a topic or filter error, without the topic the message already quotes.
fn problem(e: &Error) -> String {
    match e {
        Error::InvalidTopic { reason, .. } | Error::InvalidFilter { reason, .. } => {
            (*reason).into()
        }
        other => describe(other),
    }
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
            "-h" | "--host" => {
                self.host = args.text(opt, "host")?;
                self.servers.push(ServerArg::Host(self.host.clone()));
            }
            "-p" | "--port" => self.port = Some(args.number(opt, "port", 1, 65_535)? as u16),
            "-L" | "--url" => {
                let url = args.text(opt, "URL")?;
                self.parse_url(tool, &url)?;
            }
            "-i" | "--id" => {
                if self.id_prefix.is_some() {
                    return Err(Failure::usage(
                        "Error: -i and -I argument cannot be used together.",
                    ));
                }
                self.id = Some(args.text(opt, "id")?);
            }
            "-I" | "--id-prefix" => {
                if self.id.is_some() {
                    return Err(Failure::usage(
                        "Error: -i and -I argument cannot be used together.",
                    ));
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
                };
                self.version_given = true;
            }
            "-D" | "--property" => self.props.parse(args)?,
            "-u" | "--username" => self.username = Some(args.text(opt, "username")?),
            "-P" | "--pw" => self.password = Some(Secret(args.text(opt, "password")?)),
            "-q" | "--qos" => self.qos = args.number(opt, "QoS", 0, 2)? as u8,
            "-t" | "--topic" => {
                let topic = args.text(opt, "topic")?;
                self.add_topic(tool, topic, opt)?;
            }
            "--will-topic" => {
                let topic = args.text(opt, "will topic")?;
                if let Some(why) = topic_problem(&topic) {
                    return Err(Failure::usage(format!(
                        "Error: Invalid will topic '{topic}', {why}"
                    )));
                }
                self.will_topic = Some(topic);
            }
            "--will-payload" => self.will_payload = Some(args.bytes(opt, "will payload")?),
            "--will-qos" => self.will_qos = args.number(opt, "will QoS", 0, 2)? as u8,
            "--will-retain" => self.will_retain = true,
            "--cafile" => self.tls.options.ca_certs = Some(args.text(opt, "file")?.into()),
            "--capath" => self.tls.capath = Some(args.text(opt, "directory")?),
            "--cert" => self.tls.options.certfile = Some(args.text(opt, "file")?.into()),
            "--key" => self.tls.options.keyfile = Some(args.text(opt, "file")?.into()),
            "--tls-alpn" => self.tls.options.alpn_protocols = vec![args.text(opt, "protocol")?],
            "--tls-version" => {
                let v = args.text(opt, "version")?;
                self.tls.options.tls_version = Some(match v.to_ascii_lowercase().as_str() {
                    "tlsv1.3" => TlsVersion::Tlsv1_3,
                    "tlsv1.2" => TlsVersion::Tlsv1_2,
                    "tlsv1.1" => TlsVersion::Tlsv1_1,
                    _ => {
                        return Err(Failure::usage(format!(
                            "Error: Invalid TLS version '{v}' for {opt}: use tlsv1.3, tlsv1.2 or tlsv1.1."
                        )))
                    }
                });
            }
            "--ciphers" => self.tls.options.ciphers = Some(args.text(opt, "cipher list")?),
            "--insecure" => self.tls.options.insecure = true,
            "--tls-use-os-certs" => self.tls.os_certs = true,
            "--unix" => {
                let path = args.text(opt, "socket path")?;
                if path.is_empty() {
                    return Err(Failure::usage("Error: Empty socket path for --unix."));
                }
                self.unix = Some(path);
            }
            "--proxy" => {
                let url = args.text(opt, "proxy URL")?;
                self.proxy = Some(parse_proxy(&url)?);
            }
            "-M" => self.max_inflight = args.number(opt, "max inflight", 1, 65_535)? as usize,
            // TCP_NODELAY is always on in pahoish; accepted so mosquitto command lines carry over.
            "--nodelay" => {}
            "--store" => self.store = Some(args.text(opt, "directory")?),
            "--store-sync" => {
                let policy = args.text(opt, "policy")?;
                self.store_sync = match policy.as_str() {
                    "always" => pahoish::SyncPolicy::Always,
                    "never" => pahoish::SyncPolicy::Never,
                    ms => match ms.parse::<u64>() {
                        Ok(ms) if ms > 0 => {
                            pahoish::SyncPolicy::Interval(std::time::Duration::from_millis(ms))
                        }
                        _ => {
                            return Err(Failure::usage(format!(
                                "Error: --store-sync takes always, never or a number of \
                                 milliseconds, not '{policy}'."
                            )))
                        }
                    },
                };
            }
            "-d" | "--debug" => self.debug = true,
            "--quiet" => self.quiet = true,
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn add_topic(&mut self, tool: Tool, topic: String, opt: &str) -> Result<(), Failure> {
        if tool.publishes {
            if let Some(why) = topic_problem(&topic) {
                return Err(Failure::usage(format!(
                    "Error: Invalid publish topic '{topic}', {why}"
                )));
            }
            // As mosquitto_pub: the last -t wins.
            self.topics = vec![topic];
        } else {
            if let Some(why) = filter_problem(&topic) {
                return Err(Failure::usage(format!(
                    "Error: Invalid subscription topic '{topic}' ({opt}), {why}"
                )));
            }
            self.topics.push(topic);
        }
        Ok(())
    }

    /// `-L mqtt[s]://[user[:pass]@]host[:port]/topic` (also `ws://`, `wss://`). As in mosquitto's
    /// tools, the topic is all after the first `/`, as written (a URL parser would take a `#` wildcard
    /// for the start of a fragment), and the user name and password are taken as written, up to the
    /// last `@` (mosquitto does not percent-decode them); the host and port are read by the `url`
    /// crate.
    fn parse_url(&mut self, tool: Tool, url: &str) -> Result<(), Failure> {
        let lower = url.to_ascii_lowercase();
        let schemes = [
            ("mqtt://", Scheme::Mqtt, 1883),
            ("mqtts://", Scheme::Mqtts, 8883),
            ("ws://", Scheme::Ws, 80),
            ("wss://", Scheme::Wss, 443),
        ];
        let Some(&(prefix, scheme, default_port)) =
            schemes.iter().find(|(p, _, _)| lower.starts_with(p))
        else {
            // The URL is not quoted: it may hold a password.
            let scheme = url.split_once("://").map_or("", |(s, _)| s);
            return Err(Failure::usage(format!(
                "Error: Unsupported URL scheme '{scheme}://' in -L: use mqtt://, mqtts://, ws:// or wss://."
            )));
        };
        let rest = &url[prefix.len()..];
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
                        self.password = Some(Secret(pass.to_owned()));
                    }
                    None => self.username = Some(userinfo.to_owned()),
                }
                host_port
            }
            None => authority,
        };
        let (host, port) = host_and_port(&url[..prefix.len()], host_port, default_port)
            .map_err(|why| Failure::usage(format!("Error: {why} in the -L URL.")))?;
        self.host = host;
        self.port = Some(port);
        self.url = Some(scheme);
        self.servers.push(ServerArg::Url(
            url[..prefix.len() + authority.len()].to_owned(),
        ));
        // With several -L URLs naming one topic, it is subscribed to once. An empty topic (`.../`)
        // names none: `-t` gives it.
        if topic.is_empty() || (!tool.publishes && self.topics.iter().any(|t| t == topic)) {
            return Ok(());
        }
        self.add_topic(tool, topic.to_owned(), "-L")
    }

    /// The checks mosquitto makes once every option is read. `-D` chooses MQTT 5, as in mosquitto's
    /// tools; with `-V mqttv31` or `mqttv311` it is refused (mosquitto would drop the properties).
    pub fn finish(&mut self) -> Result<(), Failure> {
        if !self.props.is_empty() {
            if self.version_given && self.version != Version::V5 {
                return Err(Failure::usage(
                    "Error: -D/--property needs MQTT v5: use -V mqttv5 (or leave -V out).",
                ));
            }
            self.version = Version::V5;
        }
        if self.props.get(PacketTypes::WILLMESSAGE).is_some() && self.will_topic.is_none() {
            return Err(Failure::usage(
                "Error: Will properties given, but no will topic given.",
            ));
        }
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
        if self.store.is_some() && self.id.is_none() {
            return Err(Failure::usage(
                "Error: You must provide a client id (-i) if you are using --store.",
            ));
        }
        if self.password.is_some() && self.username.is_none() {
            // MQTT 5 allows a password alone, but the library (as Paho) sends none without a user name.
            let why = if self.version == Version::V5 {
                ": pahoish sends no password without a user name"
            } else {
                " in MQTT 3.1/3.1.1"
            };
            return Err(Failure::usage(format!(
                "Error: A password (-P) needs a username (-u){why}."
            )));
        }
        if self.tls.options.keyfile.is_some() && self.tls.options.certfile.is_none() {
            return Err(Failure::usage(
                "Error: --key given, but no --cert (the client certificate it belongs to).",
            ));
        }
        if self.unix.is_some() {
            let conflict = if self.url.is_some() {
                Some("-L (a URL names a TCP or websocket broker)")
            } else if self.proxy.is_some() {
                Some("--proxy (a Unix socket is not reached through a proxy)")
            } else if self.tls.any() {
                Some("TLS options (TLS over a Unix socket is not supported)")
            } else {
                None
            };
            if let Some(other) = conflict {
                return Err(Failure::usage(format!(
                    "Error: --unix cannot be used with {other}."
                )));
            }
        }
        Ok(())
    }

    /// Whether TLS was asked for explicitly: a TLS option, or `-L mqtts://` or `wss://`.
    fn tls_explicit(&self) -> bool {
        self.tls.any() || matches!(self.url, Some(Scheme::Mqtts | Scheme::Wss))
    }

    /// Whether the connection uses TLS: asked for explicitly, or, as in mosquitto's tools, port 8883
    /// without any TLS option (then with the system's CA certificates).
    pub fn uses_tls(&self) -> bool {
        self.tls_explicit()
            || (self.port == Some(8883)
                && self.unix.is_none()
                && self.transport() == Transport::Tcp)
    }

    /// The transport: `--unix`, `-L ws://` or `wss://`, or TCP.
    pub fn transport(&self) -> Transport {
        if self.unix.is_some() {
            Transport::Unix
        } else if matches!(self.url, Some(Scheme::Ws | Scheme::Wss)) {
            Transport::Websockets
        } else {
            Transport::Tcp
        }
    }

    /// The port to connect to: `-p` (or the URL's), or the default: 1883, 8883 with TLS.
    pub fn port(&self) -> u16 {
        self.port
            .unwrap_or(if self.tls_explicit() { 8883 } else { 1883 })
    }

    /// The client id: `-i`, or `-I` with the process id appended, or empty (the broker assigns one).
    pub fn client_id(&self) -> String {
        match (&self.id, &self.id_prefix) {
            (Some(id), _) => id.clone(),
            (None, Some(prefix)) => format!("{prefix}{}", std::process::id()),
            (None, None) => String::new(),
        }
    }

    /// Refuses, before connecting, what this version cannot do: it would otherwise connect without
    /// something the user asked for.
    pub fn check_supported(&self) -> Result<(), Failure> {
        if self.tls.options.ciphers.is_some() {
            return Err(Failure::new(
                EXIT_FAILURE,
                "Error: --ciphers is not supported: pahoish's TLS library (native-tls) offers no cipher \
                 selection; leave it out to use the platform's secure defaults.",
            ));
        }
        if self.tls.os_certs && (self.tls.options.ca_certs.is_some() || self.tls.capath.is_some()) {
            return Err(Failure::new(
                EXIT_FAILURE,
                "Error: --tls-use-os-certs cannot be combined with --cafile or --capath: pahoish trusts \
                 either the CA certificates given or the system's.",
            ));
        }
        Ok(())
    }

    /// Builds the client these options describe: id, clean session, protocol, transport, TLS, proxy,
    /// credentials, will and the inflight window.
    pub fn build_client(&self) -> Result<Client, Failure> {
        self.check_supported()?;
        let protocol = match self.version {
            Version::V31 => pahoish::MQTTv31,
            Version::V311 => pahoish::MQTTv311,
            Version::V5 => pahoish::MQTTv5,
        };
        let mut builder = Client::builder()
            .client_id(self.client_id())
            .protocol(protocol)
            .transport(self.transport())
            .manual_ack(self.manual_ack);
        // MQTT 5 has Clean Start instead, given to connect_with.
        if self.version != Version::V5 {
            builder = builder.clean_session(self.clean_session);
        }
        if let Some(dir) = &self.store {
            builder = builder.persistence(pahoish::FileStore::new(dir, self.store_sync));
        }
        let client = builder.build().map_err(fail)?;
        if self.uses_tls() {
            self.set_tls(&client)?;
        }
        if let Some(proxy) = &self.proxy {
            client.proxy_set(proxy.clone()).map_err(fail)?;
        }
        if let Some(topic) = &self.will_topic {
            let payload = self.will_payload.clone().unwrap_or_default();
            match self.props.get(PacketTypes::WILLMESSAGE) {
                Some(props) => {
                    client.will_set_with(topic, payload, self.will_qos, self.will_retain, props)
                }
                None => client.will_set(topic, payload, self.will_qos, self.will_retain),
            }
            .map_err(fail)?;
        }
        if let Some(user) = &self.username {
            client
                .username_pw_set(user, self.password.as_ref().map(|p| p.0.as_str()))
                .map_err(fail)?;
        }
        client.max_inflight_messages_set(self.max_inflight);
        Ok(client)
    }

    /// `tls_set_with` from the TLS options. The files are read and checked here, before any
    /// connection.
    fn set_tls(&self, client: &Client) -> Result<(), Failure> {
        let t = &self.tls;
        // --capath: the certificates of the directory, with --cafile's, in one temporary bundle file,
        // since the library takes one file. It reads the file in tls_set_with, so the bundle is
        // removed as soon as that is done.
        let bundle = match &t.capath {
            Some(dir) => Some(CaBundle::write(t.options.ca_certs.as_deref(), dir)?),
            None => None,
        };
        let mut options = t.options.clone();
        if let Some(b) = &bundle {
            options.ca_certs = Some(b.path.clone());
        }
        let names = OptionNames {
            ca: if bundle.is_some() {
                "--capath"
            } else {
                "--cafile"
            },
            // Without --key the key is read from --cert's file.
            key: if t.options.keyfile.is_some() {
                "--key"
            } else {
                "--cert"
            },
        };
        client
            .tls_set_with(options)
            .map_err(|e| tls_option_failure(e, names))?;
        drop(bundle);
        Ok(())
    }

    /// Connects `client` (blocking, with the client's connect timeout): to `--unix`'s socket, or to
    /// the host and port. On MQTT 5, as mosquitto's tools: Clean Start unless `-c`, and `-c` without
    /// `-D connect session-expiry-interval` keeps the session for ever (4294967295 seconds).
    pub fn connect(&self, client: &Client) -> Result<(), Failure> {
        let host = self.unix.as_deref().unwrap_or(&self.host);
        let list = self.server_list();
        if self.version != Version::V5 {
            return match list {
                Some(urls) => client.connect_urls(&urls, self.keepalive),
                None => client.connect(host, self.port(), self.keepalive),
            }
            .map_err(fail);
        }
        let mut props = self.props.get(PacketTypes::CONNECT);
        if !self.clean_session {
            let p = props.get_or_insert_with(|| Properties::new(PacketTypes::CONNECT));
            if p.session_expiry_interval().is_none() {
                p.set(Property::SessionExpiryInterval(u32::MAX))
                    .map_err(fail)?;
            }
        }
        let options = ConnectOptions {
            clean_start: CleanStart::from(self.clean_session),
            properties: props,
            ..ConnectOptions::default()
        };
        match list {
            Some(urls) => client.connect_urls_with(&urls, self.keepalive, options),
            None => client.connect_with(host, self.port(), self.keepalive, options),
        }
        .map_err(fail)
    }

    /// The brokers as URLs when more than one was named (`-h` several times, `-L` several times, or
    /// both); `None` for one.
    fn server_list(&self) -> Option<Vec<String>> {
        if self.servers.len() < 2 || self.unix.is_some() {
            return None;
        }
        let scheme = if self.tls_explicit() { "mqtts" } else { "mqtt" };
        let port = self.port();
        Some(
            self.servers
                .iter()
                .map(|s| match s {
                    ServerArg::Url(url) => url.clone(),
                    ServerArg::Host(host) if host.contains(':') => {
                        format!("{scheme}://[{host}]:{port}")
                    }
                    ServerArg::Host(host) => format!("{scheme}://{host}:{port}"),
                })
                .collect(),
        )
    }

    /// Disconnects with `-D disconnect`'s properties, if any were given (otherwise the client's
    /// `disconnect_on_drop` sends the plain DISCONNECT).
    pub fn disconnect(&self, client: &Client) {
        if let Some(props) = self.props.get(PacketTypes::DISCONNECT) {
            // NoConn: the connection is already gone. Otherwise wait for the loop to write the
            // DISCONNECT and stop, so that the drop's plain disconnect finds no connection rather than
            // queueing a second DISCONNECT.
            if client.disconnect_with(None, Some(props)).is_ok() {
                let _ = client.loop_stop();
            }
        }
    }

    /// The failure for a refused CONNACK: mosquitto's line and status. On MQTT 5 the reason code's
    /// name (mosquitto's hint for "Unsupported protocol version" included), and the broker's reason
    /// string, if it sent one, on the next line.
    pub fn refused(&self, rc: ReasonCode, reason: Option<&str>) -> Failure {
        if self.version != Version::V5 {
            return Failure::new(
                EXIT_REFUSED,
                format!("Connection error: {}", connack_string(rc.connack_code())),
            );
        }
        let hint = if rc.value() == 0x84 {
            ". Try connecting to an MQTT v5 broker, or use MQTT v3.x mode."
        } else {
            ""
        };
        let reason = reason
            .map(|r| format!("\n{}", one_line(r)))
            .unwrap_or_default();
        Failure::new(
            EXIT_REFUSED,
            format!("Connection error: {rc}{hint}{reason}"),
        )
    }
}

/// The broker of an `-L` URL: `host`, `host:port`, `[v6]` or `[v6]:port` after `scheme` (`mqtt://`,
/// ...), read by the `url` crate; the port defaults to `default_port`. The error says what is wrong
/// ("Invalid port '0'", "No host") without quoting a port that is not a number (with the `@host`
/// forgotten, the password stands there).
fn host_and_port(scheme: &str, text: &str, default_port: u16) -> Result<(String, u16), String> {
    if text.ends_with(':') {
        // The url crate takes an empty port for none; mosquitto's tools refuse it.
        return Err("Invalid port ''".into());
    }
    let parsed = url::Url::parse(&format!("{scheme}{text}/")).map_err(|e| match e {
        url::ParseError::EmptyHost => "No host".to_owned(),
        url::ParseError::InvalidPort => "Invalid port".to_owned(),
        url::ParseError::InvalidIpv6Address => format!("Invalid IPv6 address '{text}'"),
        other => format!("Invalid host '{text}' ({other})"),
    })?;
    let host = match parsed.host() {
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        Some(host) => host.to_string(),
        None => String::new(),
    };
    if host.is_empty() {
        return Err("No host".into());
    }
    // For ws:// and wss:// the url crate leaves out a port that is the scheme's default, which is
    // `default_port` here too.
    let port = parsed.port().unwrap_or(default_port);
    if port == 0 {
        return Err("Invalid port '0'".into());
    }
    Ok((host, port))
}

/// `--proxy socks5h://[user[:pass]@]host[:port]` (port 1080; the proxy resolves the broker's name) or
/// `http://[user[:pass]@]host[:port]` (an HTTP CONNECT proxy, port 8080), read by [`Proxy::from_str`]
/// once the scheme is one of these two (mosquitto's tools take only `socks5h://`). The errors never
/// quote the URL: it may hold a password.
pub fn parse_proxy(url: &str) -> Result<Proxy, Failure> {
    let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
    if !matches!(scheme.to_ascii_lowercase().as_str(), "socks5h" | "http") {
        // Named only when it is a plain word: anything else may be part of the credentials.
        let named = if !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphanumeric()) {
            format!(" '{scheme}://'")
        } else {
            String::new()
        };
        return Err(Failure::usage(format!(
            "Error: Unsupported proxy protocol{named} (use socks5h:// or http://)."
        )));
    }
    let proxy = Proxy::from_str(url).map_err(|e| {
        let why = match e {
            Error::InvalidArgument { reason, .. } => reason,
            other => describe(&other),
        };
        let (first, rest) = why.split_at(why.chars().next().map_or(0, char::len_utf8));
        Failure::usage(format!(
            "Error: {}{rest} in proxy URL.",
            first.to_uppercase()
        ))
    })?;
    if proxy.proxy_port == Some(0) {
        return Err(Failure::usage("Error: Invalid port '0' in proxy URL."));
    }
    Ok(proxy)
}

/// The CA certificates of `--capath` (and `--cafile`) in one temporary PEM file, removed on drop.
struct CaBundle {
    path: PathBuf,
}

impl CaBundle {
    /// Collects every PEM certificate in the files of `dir` (OpenSSL's hashed `*.0` links and
    /// `*.pem`/`*.crt` files alike; other files hold none and add nothing), once each, after those of
    /// `cafile`, and writes them to a new file only this user can read.
    fn write(cafile: Option<&Path>, dir: &str) -> Result<CaBundle, Failure> {
        let failure = |what: String| Failure::new(EXIT_FAILURE, format!("Error: {what}."));
        let mut pem = String::new();
        let mut seen = HashSet::new();
        let mut add = |text: &str| {
            for cert in pem_certificates(text) {
                if seen.insert(cert.to_owned()) {
                    pem.push_str(cert);
                    pem.push('\n');
                }
            }
        };
        if let Some(file) = cafile {
            let text = std::fs::read(file).map_err(|e| {
                failure(format!(
                    "--cafile: cannot read {}: {}",
                    file.display(),
                    os_text(&e)
                ))
            })?;
            add(&String::from_utf8_lossy(&text));
        }
        let entries = std::fs::read_dir(dir)
            .map_err(|e| failure(format!("--capath: cannot read {dir}: {}", os_text(&e))))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for file in &files {
            // A file that cannot be read (permissions) holds nothing we can trust; skip it as
            // OpenSSL's directory lookup does.
            if let Ok(bytes) = std::fs::read(file) {
                add(&String::from_utf8_lossy(&bytes));
            }
        }
        if pem.is_empty() {
            return Err(failure(format!(
                "--capath: no PEM certificate (BEGIN CERTIFICATE) in the files of {dir}"
            )));
        }
        let path = std::env::temp_dir().join(format!(
            "pahoish-capath-{}-{}.pem",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        let bundle = CaBundle { path };
        let written = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&bundle.path)
                .and_then(|mut f| f.write_all(pem.as_bytes()))
        };
        written.map_err(|e| {
            failure(format!(
                "--capath: cannot write the CA bundle {}: {}",
                bundle.path.display(),
                os_text(&e)
            ))
        })?;
        Ok(bundle)
    }
}

impl Drop for CaBundle {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The `BEGIN CERTIFICATE` blocks of a PEM text, each with its armour.
fn pem_certificates(text: &str) -> Vec<&str> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut certs = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let Some(len) = rest[start..].find(END) else {
            break;
        };
        let stop = start + len + END.len();
        certs.push(&rest[start..stop]);
        rest = &rest[stop..];
    }
    certs
}

/// An I/O error's text without Rust's " (os error N)".
fn os_text(e: &io::Error) -> String {
    strip_os_error(&e.to_string())
}

/// `text` without the " (os error N)" Rust appends to operating-system errors, as mosquitto's tools
/// print them ("No such file or directory").
fn strip_os_error(text: &str) -> String {
    let mut out = text.to_owned();
    while let Some(start) = out.find(" (os error ") {
        match out[start..].find(')') {
            Some(len) => out.replace_range(start..start + len + 1, ""),
            None => break,
        }
    }
    out
}

/// The command-line options behind the library's `ca_certs` and `keyfile`.
#[derive(Clone, Copy)]
struct OptionNames {
    ca: &'static str,
    key: &'static str,
}

/// A failure of `tls_set_with` or `tls_insecure_set`, naming the command-line option rather than the
/// library's argument (`--cafile` rather than `ca_certs`).
fn tls_option_failure(e: Error, names: OptionNames) -> Failure {
    match &e {
        Error::InvalidArgument { name, reason } => {
            let option = match *name {
                "ca_certs" => names.ca,
                "certfile" => "--cert",
                "keyfile" => names.key,
                _ => return fail(e),
            };
            let reason = if reason.contains("give keyfile_password") {
                // The library never prompts for a password, and the tools have no option for one.
                format!(
                    "{}: the key is encrypted; the tools do not ask for its password: give them a \
                     decrypted copy (openssl pkey -in KEY -out KEY.plain)",
                    reason.split(':').next().unwrap_or_default()
                )
            } else {
                reason.clone()
            };
            Failure::new(
                EXIT_FAILURE,
                format!("Error: {option}: {}", strip_os_error(&reason)),
            )
        }
        _ => fail(e),
    }
}

/// An error from the library as a one-line failure (status 1).
pub fn fail(e: Error) -> Failure {
    Failure::new(EXIT_FAILURE, format!("Error: {}", describe(&e)))
}

/// A reason as one line: a multi-line message from a lower layer must not break "one line on stderr".
fn one_line(text: &str) -> String {
    text.split(['\r', '\n'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The error's text, with an operating-system error shown as mosquitto shows it ("Connection
/// refused", without Rust's " (os error 111)").
pub fn describe(e: &Error) -> String {
    let text = match e {
        Error::Io(io) => io.to_string(),
        other => other.to_string(),
    };
    one_line(&strip_os_error(&text))
}

/// What the client's callbacks tell the tool's main thread: how the connection goes, and what the
/// tool's own callbacks report (`T`).
#[derive(Debug)]
pub enum Event<T> {
    /// CONNACK accepted.
    Connected,
    /// CONNACK refused: what to end with ([`Conn::refused`]).
    Refused(Failure),
    /// The connection closed, with the reason the client logged (`TLS error: ...`, `the connection
    /// was lost`). Before the first CONNACK this ends the tool: the broker or a layer below it turned
    /// the connection down (a TLS 1.3 broker that wants a client certificate says so only now).
    Lost(String),
    /// From a callback the tool installed itself, through the same `send`.
    Tool(T),
}

/// Installs the callbacks that report the connection through `send`: `on_connect` (`Connected`,
/// `Refused`), `on_disconnect` (`Lost`) and `on_log`. `on_accepted` runs on the loop thread when a
/// CONNACK accepts the connection, before the event is sent (sub subscribes there, so a reconnect
/// subscribes again, as mosquitto_sub does). With `-d`, every log line (every packet sent and
/// received among them) goes to stderr. A DISCONNECT from an MQTT 5 broker is printed on stderr
/// (unless `--quiet`) as `Disconnected: ` and its reason code's name, then its reason string if any;
/// the client then reconnects as after any lost connection.
pub fn forward_events<T>(
    client: &Client,
    conn: &Conn,
    send: impl Fn(Event<T>) + Clone + Send + 'static,
    mut on_accepted: impl FnMut(&Client) + Send + 'static,
) {
    // The last warning or error logged: the reason a connection closed.
    let (debug, quiet) = (conn.debug, conn.quiet);
    let problem = Arc::new(Mutex::new(None::<String>));
    let last = Arc::clone(&problem);
    client.on_log(move |_client, _userdata, level, line| {
        if debug {
            // A closed stderr is nothing to fail over.
            let _ = writeln!(io::stderr(), "{line}");
        }
        if matches!(level, LogLevel::Warning | LogLevel::Err) {
            *last.lock().unwrap_or_else(|p| p.into_inner()) = Some(line.to_owned());
        }
    });
    let s = send.clone();
    client.on_disconnect(move |_, _, flags, rc, props| {
        if flags.is_disconnect_packet_from_server && !quiet {
            let reason = props
                .reason_string()
                .map(|r| format!("\n{}", one_line(r)))
                .unwrap_or_default();
            let _ = writeln!(io::stderr(), "Disconnected: {rc}{reason}");
        }
        if rc.is_failure() {
            let why = problem
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
                .map(|line| {
                    line.strip_prefix("Connection closed: ")
                        .unwrap_or(&line)
                        .to_owned()
                })
                .unwrap_or_else(|| "the connection was lost".into());
            s(Event::Lost(one_line(&strip_os_error(&why))));
        }
    });
    let conn = conn.clone();
    client.on_connect(move |client, _, _, rc, props| {
        if rc.is_failure() {
            send(Event::Refused(conn.refused(rc, props.reason_string())));
        } else {
            on_accepted(client);
            send(Event::Connected);
        }
    });
}

/// A tool's `main`: reads the command line with `parse`, answers `--help` and `--version`, runs
/// `run` with what was parsed, and ends with the failure's message and status, if any (`quiet` says
/// whether `--quiet` was given).
pub fn main<C>(
    tool: Tool,
    parse: fn(Args) -> Result<Parsed<C>, Failure>,
    run: fn(&C) -> Result<(), Failure>,
    quiet: fn(&C) -> bool,
) -> ExitCode {
    install_panic_hook(tool);
    let config = match parse(Args::new(std::env::args_os().skip(1))) {
        Ok(Parsed::Run(c)) => c,
        Ok(Parsed::Help) => {
            let (synopsis, help) = (tool.synopsis, tool.help);
            let _ = write!(io::stdout(), "{synopsis}\n{help}{COMMON_HELP}");
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Version) => {
            let _ = writeln!(io::stdout(), "{}", version_line(tool));
            return ExitCode::SUCCESS;
        }
        Err(f) => return exit_with(tool, &f, false),
    };
    match run(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => exit_with(tool, &f, quiet(&config)),
    }
}

/// Prints `failure` (unless `--quiet` silences it; usage errors are always printed, as mosquitto does)
/// and returns its exit status.
fn exit_with(tool: Tool, failure: &Failure, quiet: bool) -> ExitCode {
    let mut err = io::stderr().lock();
    if failure.usage {
        let _ = writeln!(err, "{}", failure.message);
        let _ = writeln!(err);
        let _ = write!(err, "{}", tool.synopsis);
        let _ = writeln!(err, "Run '{} --help' to see every option.", tool.name);
    } else if !quiet && !failure.message.is_empty() {
        let _ = writeln!(err, "{}", failure.message);
    }
    ExitCode::from(failure.status)
}

/// Makes a panic print one line instead of Rust's message and backtrace hint. Nothing in the tools is
/// meant to panic; this is the last line of defence for a user's terminal.
fn install_panic_hook(tool: Tool) {
    let name = tool.name;
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
fn version_line(tool: Tool) -> String {
    format!(
        "{} (pahoish {}), a mosquitto_{}-compatible MQTT 3.1/3.1.1/5.0 client",
        tool.name,
        env!("CARGO_PKG_VERSION"),
        tool.name
    )
}

/// The options both tools take, for `--help`.
const COMMON_HELP: &str = "\
Connection:
 -h, --host HOST        broker host. Defaults to localhost. More than one -h or -L: brokers to
                        fail over through.
 -p, --port PORT        broker port. Defaults to 1883 (8883 with TLS options).
 -L, --url URL          mqtt://[user[:pass]@]host[:port]/topic; also mqtts:// (TLS, port 8883),
                        ws:// (websockets, port 80) and wss:// (port 443); websockets use /mqtt.
 -i, --id ID            client id. Defaults to none: the broker assigns one (MQTT 3.1: random).
 -I, --id-prefix PREFIX client id is PREFIX followed by the process id.
 -k, --keepalive SECS   keepalive, 5 to 65535 seconds. Defaults to 60.
 -c, --disable-clean-session
                        keep the session on the broker (needs -i).
 -V, --protocol-version mqttv31|31|mqttv311|311|mqttv5|5
                        Defaults to mqttv311 (mqttv5 with -D).
 -D, --property COMMAND PROPERTY VALUE
                        an MQTT 5 property, as mosquitto's tools take it: COMMAND is connect,
                        publish, subscribe, unsubscribe, disconnect or will; PROPERTY e.g.
                        user-property NAME VALUE, content-type, correlation-data,
                        message-expiry-interval, payload-format-indicator, response-topic,
                        topic-alias, subscription-identifier, session-expiry-interval,
                        receive-maximum, maximum-packet-size, topic-alias-maximum,
                        request-problem-information, request-response-information,
                        will-delay-interval, authentication-method, authentication-data.
                        May be repeated. Implies -V mqttv5.
 -u, --username USER    user name.
 -P, --pw PASSWORD      password (needs -u).
 --will-topic TOPIC     topic of the will the broker publishes if the connection drops.
 --will-payload TEXT    will message. Defaults to an empty message.
 --will-qos QOS         will QoS, 0 to 2. Defaults to 0.
 --will-retain          retain the will.
 --nodelay              accepted; TCP_NODELAY is always on.
Persistence (not in mosquitto's tools):
 --store DIR            keep the session in a file in DIR (needs -i; use with -c): QoS 1/2 messages
                        not yet acknowledged, incoming QoS 2 messages awaiting PUBREL, the client id
                        and subscriptions. A later run with the same -i and DIR continues where this
                        one stopped, even after a crash.
 --store-sync POLICY    when the store reaches the disk: always (before every write to the network;
                        survives power loss), never (survives a crash of the process only) or a
                        number of milliseconds (group commit). Defaults to always.
TLS (any of these turns TLS on, and the default port becomes 8883; -p 8883 alone turns it on
with the system's CA certificates, as in mosquitto's tools):
 --cafile FILE          trust the CA certificates in FILE (PEM) instead of the system's.
 --capath DIR           trust the CA certificates in the PEM files of DIR.
 --tls-use-os-certs     trust the system's CA certificates (the default without --cafile/--capath).
 --cert FILE            client certificate (PEM), for brokers that require one; holds the key too
                        unless --key is given.
 --key FILE             the client certificate's private key (PEM, not encrypted).
 --insecure             do not check that the broker's certificate names the host.
 --tls-alpn PROTOCOL    offer this ALPN protocol.
 --tls-version VERSION  the lowest TLS version: tlsv1.3, tlsv1.2 or tlsv1.1. Defaults to TLS 1.2.
 --ciphers LIST         not supported: refused (the TLS library has no cipher selection).
Transports:
 --unix PATH            connect to the broker's Unix socket at PATH (-h and -p are not used).
 --proxy URL            connect through a proxy: socks5h://[user[:pass]@]host[:port] (port 1080)
                        or http://[user[:pass]@]host[:port] (HTTP CONNECT, port 8080).
Output:
 -d, --debug            print a line on stderr for every packet sent and received.
 --quiet                do not print error messages.
 --help                 print this help and exit.
 --version              print the version and exit.
";

#[cfg(test)]
mod url_tests {
    use super::host_and_port;

    #[test]
    fn the_broker_of_an_l_url() {
        let ok = |scheme: &str, text: &str, default: u16| {
            host_and_port(scheme, text, default).unwrap_or_else(|e| panic!("{text}: {e}"))
        };
        let pair = |h: &str, p: u16| (h.to_owned(), p);
        assert_eq!(ok("mqtt://", "broker", 1883), pair("broker", 1883));
        assert_eq!(ok("mqtt://", "broker:1884", 1883), pair("broker", 1884));
        assert_eq!(ok("mqtts://", "[::1]", 8883), pair("::1", 8883));
        assert_eq!(ok("mqtt://", "[::1]:1884", 1883), pair("::1", 1884));
        assert_eq!(ok("ws://", "h:80", 80), pair("h", 80));
        assert_eq!(ok("wss://", "h:8443", 443), pair("h", 8443));
        assert_eq!(ok("ws://", "10.0.0.1:9001", 80), pair("10.0.0.1", 9001));
        for (text, says) in [
            ("h:0", "Invalid port '0'"),
            ("h:", "Invalid port ''"),
            ("h:x", "Invalid port"),
            ("h:65536", "Invalid port"),
            ("", "No host"),
            (":1883", "No host"),
            ("[::1", "Invalid IPv6 address '[::1'"),
        ] {
            let e = host_and_port("mqtt://", text, 1883).unwrap_err();
            assert!(e.starts_with(says), "{text:?}: {e}");
        }
        // The password, when the "@host" was forgotten, stands where the port goes: not quoted.
        let e = host_and_port("mqtt://", "user:s3cret", 1883).unwrap_err();
        assert!(!e.contains("s3cret"), "{e}");
    }
}

#[cfg(test)]
mod secret_tests {
    use super::{Args, Conn, Tool};

    /// Neither `-P` nor the password of an `-L` URL reaches the Debug of the options, and two `-L`
    /// make a list of two brokers.
    #[test]
    fn the_options_debug_shows_no_password() {
        let tool = Tool {
            name: "sub",
            publishes: false,
            synopsis: "",
            help: "",
        };
        let mut conn = Conn::default();
        let mut args = Args::new(
            [
                "-u",
                "me",
                "-P",
                "s3cret",
                "-L",
                "mqtt://me:pa55@node1:1883/t",
                "-L",
                "mqtt://node2:1883/t",
            ]
            .map(std::ffi::OsString::from),
        );
        while let Some(opt) = args.next_option().unwrap() {
            assert!(conn.parse_option(tool, &opt, &mut args).unwrap(), "{opt}");
        }
        let shown = format!("{conn:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("pa55"),
            "{shown}"
        );
        assert!(shown.contains("mqtt://me:****@node1:1883"), "{shown}");
        assert_eq!(conn.servers.len(), 2);
        assert_eq!(
            conn.topics,
            ["t"],
            "the topic of both URLs, subscribed once"
        );
    }
}
