//! The Paho quickstart, ported line by line:
//!
//! ```python
//! import paho.mqtt.client as mqtt
//!
//! def on_connect(client, userdata, flags, rc, properties):
//!     print("Connected with result code " + str(rc))
//!     client.subscribe("$SYS/broker/version")
//!
//! def on_message(client, userdata, msg):
//!     print(msg.topic + " " + str(msg.payload))
//!
//! client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
//! client.on_connect = on_connect
//! client.on_message = on_message
//! client.connect("localhost", 1883, 60)
//! client.loop_forever()
//! ```
//!
//! Run: `cargo run --features testing --example quickstart -- [--host HOST] [--port PORT] [--count N]
//! [--protocol 5]`. With `--protocol 5` the same script speaks MQTT 5: only the client's construction
//! changes (`Client::builder().protocol(MQTTv5)`), and it prints the same lines.
//!
//! With neither `--host` nor `--port` it needs no broker: it starts an embedded
//! [`TestBroker`](pahoish::testing::TestBroker) on loopback, runs the script against it, also publishes a
//! greeting so that a message of its own arrives, prints both messages and exits (with an error if they do
//! not arrive within 10 seconds). With `--host`/`--port` it runs against that broker and, like the Python
//! script, until interrupted; `--count N` disconnects after N messages.
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use pahoish as mqtt;
use pahoish::testing::TestBroker;

/// How long the embedded run may take before it gives up.
const EMBEDDED_LIMIT: Duration = Duration::from_secs(10);
/// The topic the embedded run publishes its greeting to.
const GREETING_TOPIC: &str = "quickstart/hello";

fn main() {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!(
                "{e}\nusage: quickstart [--host HOST] [--port PORT] [--count N] [--protocol 5]"
            );
            std::process::exit(1);
        }
    };
    if args.host.is_none() && args.port.is_none() {
        embedded(args.count, args.protocol);
    } else {
        let host = args.host.as_deref().unwrap_or("localhost");
        run(
            host,
            args.port.unwrap_or(1883),
            args.count,
            false,
            args.protocol,
        );
    }
}

/// Starts a TestBroker on loopback and runs the script against it until the two expected messages (the
/// broker's version and the greeting) arrived, or fails after [`EMBEDDED_LIMIT`].
fn embedded(count: Option<usize>, protocol: mqtt::Protocol) {
    let broker = match TestBroker::start() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("could not start the embedded broker on 127.0.0.1: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "Started an embedded TestBroker at {} (pass --host H --port P for a real broker)",
        broker.url()
    );
    // A watchdog: the run ends by itself in milliseconds; if it does not, say why and fail.
    let (done, finished) = mpsc::channel::<()>();
    let watchdog = thread::spawn(move || {
        if let Err(RecvTimeoutError::Timeout) = finished.recv_timeout(EMBEDDED_LIMIT) {
            eprintln!(
                "quickstart: the expected messages did not arrive within {EMBEDDED_LIMIT:?}; giving up"
            );
            std::process::exit(2);
        }
    });
    run(
        "127.0.0.1",
        broker.port(),
        Some(count.unwrap_or(2)),
        true,
        protocol,
    );
    drop(done);
    let _ = watchdog.join();
}

/// The Paho script. `greet` adds the embedded run's greeting: a subscription and a publish to
/// [`GREETING_TOPIC`], so that a message of the client's own comes back.
fn run(host: &str, port: u16, count: Option<usize>, greet: bool, protocol: mqtt::Protocol) {
    let mut received = 0;

    // `mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)`, or with `protocol=mqtt.MQTTv5`.
    let client = match protocol {
        mqtt::MQTTv311 => mqtt::Client::new(""),
        _ => match mqtt::Client::builder().protocol(protocol).build() {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        },
    };
    client.on_connect(move |client, _userdata, _flags, rc, _properties| {
        println!("Connected with result code {rc}");
        if let Err(e) = client.subscribe("$SYS/broker/version", 0) {
            eprintln!("subscribe failed: {e}");
        }
        if greet {
            let greeted = client
                .subscribe(GREETING_TOPIC, 0)
                .and_then(|_| client.publish(GREETING_TOPIC, "Hello from pahoish", 0, false));
            if let Err(e) = greeted {
                eprintln!("greeting failed: {e}");
            }
        }
    });
    client.on_message(move |client, _userdata, msg| {
        println!("{} {}", msg.topic, msg.payload_repr());
        received += 1;
        if count == Some(received) {
            let _ = client.disconnect();
        }
    });
    if let Err(e) = client.connect(host, port, 60) {
        eprintln!("could not connect to {host}:{port}: {e}");
        std::process::exit(1);
    }
    if let Err(e) = client.loop_forever() {
        eprintln!("{e}");
        std::process::exit(1);
    }
}

struct Args {
    host: Option<String>,
    port: Option<u16>,
    count: Option<usize>,
    protocol: mqtt::Protocol,
}

impl Args {
    fn parse(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
        let mut a = Args {
            host: None,
            port: None,
            count: None,
            protocol: mqtt::MQTTv311,
        };
        while let Some(flag) = it.next() {
            let mut value = || it.next().ok_or(format!("{flag} needs a value"));
            match flag.as_str() {
                "--host" | "-h" => a.host = Some(value()?),
                "--port" | "-p" => {
                    a.port = Some(value()?.parse().map_err(|e| format!("--port: {e}"))?)
                }
                "--count" | "-C" => {
                    a.count = Some(value()?.parse().map_err(|e| format!("--count: {e}"))?)
                }
                "--protocol" | "-V" => {
                    a.protocol = match value()?.as_str() {
                        "5" | "mqttv5" => mqtt::MQTTv5,
                        "311" | "mqttv311" => mqtt::MQTTv311,
                        "31" | "mqttv31" => mqtt::MQTTv31,
                        other => return Err(format!("--protocol: {other} is not 5, 311 or 31")),
                    }
                }
                other => return Err(format!("unknown argument {other}")),
            }
        }
        Ok(a)
    }
}
