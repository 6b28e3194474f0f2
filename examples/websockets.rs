//! The quickstart over WebSockets: Paho's `transport="websockets"` and `ws_set_options`.
//!
//! ```python
//! client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, transport="websockets")
//! client.ws_set_options(path="/mqtt")
//! client.on_connect = on_connect
//! client.on_message = on_message
//! client.connect("localhost", 8080, 60)
//! client.loop_forever()
//! ```
//!
//! Run: `cargo run --example websockets -- [--host HOST] [--port PORT] [--path PATH] [--ca CA.crt]
//! [--count N]`, or with a URL: `... -- --url ws://localhost:8080/mqtt` (`wss://` for TLS). Defaults:
//! localhost:8080, path `/mqtt`; `--ca` turns TLS on (wss); `--count N` disconnects after N messages.
use pahoish as mqtt;

fn main() {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!(
                "{e}\nusage: websockets [--host HOST] [--port PORT] [--path PATH] [--ca CA.crt] \
                 [--url ws://HOST:PORT/PATH] [--count N]"
            );
            std::process::exit(1);
        }
    };
    if let Err(e) = run(&args) {
        eprintln!("websockets: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), mqtt::Error> {
    let count = args.count;
    let mut received = 0;

    let client = mqtt::Client::builder()
        .transport(mqtt::Transport::Websockets)
        .build()?;
    client.ws_set_options(&args.path, &[])?;
    if let Some(ca) = &args.ca {
        client.tls_set(Some(ca), None, None)?;
    }
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
    match &args.url {
        Some(url) => client.connect_url(url, 60)?,
        None => client.connect(&args.host, args.port, 60)?,
    }
    client.loop_forever()
}

struct Args {
    host: String,
    port: u16,
    path: String,
    ca: Option<String>,
    url: Option<String>,
    count: Option<usize>,
}

impl Args {
    fn parse(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
        let mut a = Args {
            host: "localhost".into(),
            port: 8080,
            path: "/mqtt".into(),
            ca: None,
            url: None,
            count: None,
        };
        while let Some(flag) = it.next() {
            let mut value = || it.next().ok_or(format!("{flag} needs a value"));
            match flag.as_str() {
                "--host" | "-h" => a.host = value()?,
                "--port" | "-p" => a.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
                "--path" => a.path = value()?,
                "--ca" => a.ca = Some(value()?),
                "--url" | "-L" => a.url = Some(value()?),
                "--count" | "-C" => {
                    a.count = Some(value()?.parse().map_err(|e| format!("--count: {e}"))?)
                }
                other => return Err(format!("unknown argument {other}")),
            }
        }
        Ok(a)
    }
}
