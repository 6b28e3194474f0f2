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
//! Run: `cargo run --example quickstart -- [--host HOST] [--port PORT] [--count N]`. Like the Python
//! script it runs until interrupted; `--count N` disconnects after N messages.
use pahoish as mqtt;

fn main() {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}\nusage: quickstart [--host HOST] [--port PORT] [--count N]");
            std::process::exit(1);
        }
    };
    let count = args.count;
    let mut received = 0;

    let client = mqtt::Client::new("");
    client.on_connect(|client, _userdata, _flags, rc, _properties| {
        println!("Connected with result code {rc}");
        if let Err(e) = client.subscribe("$SYS/broker/version", 0) {
            eprintln!("subscribe failed: {e}");
        }
    });
    client.on_message(move |client, _userdata, msg| {
        println!("{} {}", msg.topic, msg.payload_repr());
        received += 1;
        if count == Some(received) {
            let _ = client.disconnect();
        }
    });
    if let Err(e) = client.connect(&args.host, args.port, 60) {
        eprintln!("could not connect to {}:{}: {e}", args.host, args.port);
        std::process::exit(1);
    }
    if let Err(e) = client.loop_forever() {
        eprintln!("{e}");
        std::process::exit(1);
    }
}

struct Args {
    host: String,
    port: u16,
    count: Option<usize>,
}

impl Args {
    fn parse(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
        let mut a = Args {
            host: "localhost".into(),
            port: 1883,
            count: None,
        };
        while let Some(flag) = it.next() {
            let mut value = || it.next().ok_or(format!("{flag} needs a value"));
            match flag.as_str() {
                "--host" | "-h" => a.host = value()?,
                "--port" | "-p" => a.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
                "--count" | "-C" => {
                    a.count = Some(value()?.parse().map_err(|e| format!("--count: {e}"))?)
                }
                other => return Err(format!("unknown argument {other}")),
            }
        }
        Ok(a)
    }
}
