//! Paho's TLS script, ported line by line:
//!
//! ```python
//! client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
//! client.tls_set("/etc/mosquitto/ca/ca.crt", "/home/ubuntu/CA/client.crt", "/home/ubuntu/CA/client.key")
//! client.username_pw_set("guest", "12345678")
//! client.on_connect = on_connect
//! client.on_message = on_message
//! client.connect("localhost", 8883, 60)
//! client.loop_forever()
//! ```
//!
//! Run: `cargo run --example tls -- --ca CA.crt [--cert CLIENT.crt --key CLIENT.key] [--host HOST]
//! [--port PORT] [--username U --password P] [--insecure] [--count N]`. Defaults: localhost:8883, no
//! client certificate, no credentials; `--count N` disconnects after N messages. `on_connect`
//! subscribes to `$SYS/broker/version`, as in the quickstart.
use pahoish as mqtt;

fn main() {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!(
                "{e}\nusage: tls --ca CA.crt [--cert CLIENT.crt --key CLIENT.key] [--host HOST] \
                 [--port PORT] [--username U --password P] [--insecure] [--count N]"
            );
            std::process::exit(1);
        }
    };
    if let Err(e) = run(&args) {
        eprintln!("tls: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), mqtt::Error> {
    let count = args.count;
    let mut received = 0;

    let client = mqtt::Client::new("");
    client.tls_set(
        args.ca.as_deref(),
        args.cert.as_deref(),
        args.key.as_deref(),
    )?;
    if args.insecure {
        client.tls_insecure_set(true)?;
    }
    if let Some(user) = &args.username {
        client.username_pw_set(user, args.password.as_deref())?;
    }
    // Not in the Python script: say why a connection failed (a certificate that does not verify, a
    // broker that requires a client certificate) instead of retrying in silence.
    client.on_log(|_client, _userdata, level, buf| {
        if matches!(level, mqtt::MQTT_LOG_WARNING | mqtt::MQTT_LOG_ERR) {
            eprintln!("{buf}");
        }
    });
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
    client.connect(&args.host, args.port, 60)?;
    client.loop_forever()
}

struct Args {
    ca: Option<String>,
    cert: Option<String>,
    key: Option<String>,
    host: String,
    port: u16,
    username: Option<String>,
    password: Option<String>,
    insecure: bool,
    count: Option<usize>,
}

impl Args {
    fn parse(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
        let mut a = Args {
            ca: None,
            cert: None,
            key: None,
            host: "localhost".into(),
            port: 8883,
            username: None,
            password: None,
            insecure: false,
            count: None,
        };
        while let Some(flag) = it.next() {
            let mut value = || it.next().ok_or(format!("{flag} needs a value"));
            match flag.as_str() {
                "--ca" => a.ca = Some(value()?),
                "--cert" => a.cert = Some(value()?),
                "--key" => a.key = Some(value()?),
                "--host" | "-h" => a.host = value()?,
                "--port" | "-p" => a.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
                "--username" | "-u" => a.username = Some(value()?),
                "--password" | "-P" => a.password = Some(value()?),
                "--insecure" => a.insecure = true,
                "--count" | "-C" => {
                    a.count = Some(value()?.parse().map_err(|e| format!("--count: {e}"))?)
                }
                other => return Err(format!("unknown argument {other}")),
            }
        }
        Ok(a)
    }
}
