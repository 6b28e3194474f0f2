//! Connecting, disconnecting and the network loop, as Paho names them: the public fronts of the
//! engine's connection and loop drivers.

use super::Client;
use crate::completion::not_in_callback;
use crate::error::{Error, Result};
use crate::properties::{PacketTypes, Properties};
use crate::reason::ReasonCode;
use crate::types::{CleanStart, Protocol, Seconds};

/// Paho's other `connect` arguments (`bind_address=`, `bind_port=`, `clean_start=`, `properties=`),
/// for [`Client::connect_with`] and [`Client::connect_async_with`]; build it with
/// `..Default::default()`.
///
/// ```
/// use pahoish::{CleanStart, ConnectOptions, PacketTypes, Properties, Property};
/// let options = ConnectOptions {
///     clean_start: CleanStart::Never,
///     properties: Some(
///         Properties::new(PacketTypes::CONNECT).with(Property::SessionExpiryInterval(3600))?,
///     ),
///     ..Default::default()
/// };
/// # Ok::<(), pahoish::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectOptions {
    /// The local address to connect from (`bind_address`). Defaults to `""`: the system chooses.
    pub bind_address: String,
    /// The local port to connect from (`bind_port`). Defaults to 0: the system chooses.
    pub bind_port: u16,
    /// MQTT 5's Clean Start (`clean_start`). Defaults to [`CleanStart::FirstOnly`], Paho's
    /// `MQTT_CLEAN_START_FIRST_ONLY`. MQTT 3.1/3.1.1 take the builder's `clean_session` instead, and
    /// refuse anything but the default here.
    pub clean_start: CleanStart,
    /// MQTT 5's CONNECT properties (`properties`): a `Properties::new(PacketTypes::CONNECT)`, sent on
    /// every connection of this `connect` (Paho re-sends them too). Its `ReceiveMaximum`,
    /// `MaximumPacketSize` and `TopicAliasMaximum` are enforced on what the server sends. Defaults to
    /// `None`.
    pub properties: Option<Properties>,
}

impl<U: Send + 'static> Client<U> {
    /// Connects to the broker (Paho's `connect`): opens the TCP connection (blocking, at most
    /// `connect_timeout`), then queues CONNECT. `on_connect` runs from the loop when CONNACK arrives, so
    /// call `loop_forever`, `loop_start` or `loop` next.
    ///
    /// `keepalive` is in seconds (0 disables keepalive). Fails at once when the connection is refused or
    /// the host cannot be resolved, for an empty host or port 0.
    ///
    /// ```no_run
    /// let client = pahoish::Client::new("");
    /// client.connect("localhost", 1883, 60)?;
    /// client.loop_forever()?;
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn connect(&self, host: &str, port: u16, keepalive: u16) -> Result<()> {
        self.connect_with(host, port, keepalive, ConnectOptions::default())
    }

    /// [`connect`](Client::connect) with Paho's other arguments: `bind_address` and `bind_port`, and
    /// MQTT 5's `clean_start` and CONNECT `properties` (see [`ConnectOptions`]).
    ///
    /// Fails, as Paho's ValueError does, for a `clean_start` other than the default or for properties
    /// on MQTT 3.1/3.1.1, and for a property CONNECT may not carry; and as `connect` fails. On MQTT 5,
    /// `CleanStart::Never` without a `SessionExpiryInterval` logs a warning: the server ends such a
    /// session with the connection, so there is nothing to continue (paho.mqtt.python #877).
    ///
    /// ```no_run
    /// use pahoish::{Client, CleanStart, ConnectOptions, MQTTv5, PacketTypes, Properties, Property};
    /// let client = Client::builder().client_id("sensor-7").protocol(MQTTv5).build()?;
    /// let properties = Properties::new(PacketTypes::CONNECT)
    ///     .with(Property::SessionExpiryInterval(3600))?;
    /// client.connect_with("localhost", 1883, 60, ConnectOptions {
    ///     clean_start: CleanStart::Never,
    ///     properties: Some(properties),
    ///     ..Default::default()
    /// })?;
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn connect_with(
        &self,
        host: &str,
        port: u16,
        keepalive: u16,
        options: ConnectOptions,
    ) -> Result<()> {
        not_in_callback(&self.engine().signal, "connect from a callback")?;
        self.set_connect_options(options)?;
        let seen = self.engine().opened_count();
        self.set_target(host, port, keepalive)?;
        self.engine().open_connection(self, Some(seen))?;
        self.kick();
        Ok(())
    }

    /// Records where to connect without connecting (Paho's `connect_async`): `loop_start` or
    /// `loop_forever` connects, and retries with backoff while the broker is unreachable.
    ///
    /// ```no_run
    /// let client = pahoish::Client::new("");
    /// client.connect_async("localhost", 1883, 60)?;
    /// client.loop_start()?;
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn connect_async(&self, host: &str, port: u16, keepalive: u16) -> Result<()> {
        self.connect_async_with(host, port, keepalive, ConnectOptions::default())
    }

    /// [`connect_async`](Client::connect_async) with Paho's other arguments, checked as
    /// [`connect_with`](Client::connect_with) checks them (Paho's `connect_async` does not check).
    pub fn connect_async_with(
        &self,
        host: &str,
        port: u16,
        keepalive: u16,
        options: ConnectOptions,
    ) -> Result<()> {
        self.set_connect_options(options)?;
        self.set_target(host, port, keepalive)
    }

    /// Checks and records what `connect_with` adds to a connection.
    pub(super) fn set_connect_options(&self, options: ConnectOptions) -> Result<()> {
        let v5 = self.settings().protocol == Protocol::V5;
        if !v5 && options.clean_start != CleanStart::default() {
            return Err(Error::invalid(
                "clean_start",
                "clean start only applies to MQTT V5",
            ));
        }
        if let Some(p) = &options.properties {
            self.check_properties(p, PacketTypes::CONNECT)?;
        }
        let session_expiry = options
            .properties
            .as_ref()
            .and_then(Properties::session_expiry_interval)
            .unwrap_or(0);
        if v5 && options.clean_start == CleanStart::Never && session_expiry == 0 {
            self.log(
                crate::types::LogLevel::Warning,
                "clean_start=False without a SessionExpiryInterval: the server ends the session \
                 with each connection, so there is none to continue",
            );
        }
        let mut st = self.settings();
        st.bind = (!options.bind_address.is_empty() || options.bind_port != 0)
            .then_some((options.bind_address, options.bind_port));
        st.clean_start = options.clean_start;
        st.first_connack_seen = false;
        st.connect_properties = options.properties;
        Ok(())
    }

    /// Connects to the broker a URL names (not in Paho; mosquitto_pub's `-L`):
    ///
    /// | URL | transport | default port |
    /// | --- | --- | --- |
    /// | `mqtt://[user[:pass]@]host[:port]` (or `tcp://`) | TCP | 1883 |
    /// | `mqtts://...` (or `ssl://`, `tls://`) | TCP with TLS | 8883 |
    /// | `ws://...[/path]` | websockets | 80 |
    /// | `wss://...[/path]` | websockets with TLS | 443 |
    /// | `unix:///path/to/socket` | Unix socket | - |
    ///
    /// The URL's user and password (percent-decoded) replace `username_pw_set`'s. A websocket URL's path
    /// and query replace `ws_set_options`'s path when there is more than `/`; an `mqtt://` URL's path is
    /// ignored. `mqtts://` and `wss://` use the TLS configured with `tls_set` or, if none is, the
    /// system's trusted roots. Host names are ASCII (write an internationalized one in its `xn--`
    /// form). Then connects as [`connect`](Client::connect) does.
    ///
    /// Fails for a URL that does not parse, an unknown scheme, a missing host, a plain scheme while TLS
    /// is configured (use `mqtts://`/`wss://`), and as `connect` fails.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// let e = client.connect_url("http://broker.example", 60).unwrap_err();
    /// assert!(e.to_string().contains("unknown scheme"));
    /// assert!(client.connect_url("mqtt://", 60).is_err());
    /// ```
    pub fn connect_url(&self, url: &str, keepalive: u16) -> Result<()> {
        not_in_callback(&self.engine().signal, "connect from a callback")?;
        let seen = self.engine().opened_count();
        self.set_url(url, keepalive)?;
        self.engine().open_connection(self, Some(seen))?;
        self.kick();
        Ok(())
    }

    /// [`connect_url`](Client::connect_url) without connecting, as
    /// [`connect_async`](Client::connect_async): the loop connects.
    pub fn connect_url_async(&self, url: &str, keepalive: u16) -> Result<()> {
        self.set_url(url, keepalive)
    }

    /// Connects again with the host, port and keepalive of the last `connect`/`connect_async` (Paho's
    /// `reconnect`), closing the current connection first if there is one. After
    /// [`connect_urls`](Client::connect_urls) it goes to the server after the current one, and on
    /// through the list while servers refuse.
    pub fn reconnect(&self) -> Result<()> {
        not_in_callback(&self.engine().signal, "reconnect from a callback")?;
        self.engine().prepare_reconnect(self)?;
        self.engine().open_connection(self, None)?;
        self.kick();
        Ok(())
    }

    /// Disconnects cleanly (Paho's `disconnect`): queues DISCONNECT; once it is written the socket
    /// closes and `on_disconnect` runs with `Normal disconnection`. `loop_forever` then returns, and a
    /// pending reconnect wait is cut short. A broker that does not read cannot hold this up: when
    /// nothing could be written for 2 seconds, the running loop closes the socket without the
    /// DISCONNECT (a warning in the log says so).
    ///
    /// Fails with [`Error::NoConn`](crate::Error::NoConn) when there is no connection (the loop still stops).
    pub fn disconnect(&self) -> Result<()> {
        self.engine().disconnect(self, 0, None)
    }

    /// [`disconnect`](Client::disconnect) with MQTT 5's reason code and properties (Paho's
    /// `disconnect(reasoncode=..., properties=...)`): for instance `Disconnect with will message`
    /// (0x04), which asks the server to publish the will, or a `SessionExpiryInterval` property. `None`
    /// for either sends what `disconnect()` sends.
    ///
    /// Fails for a reason code that is not a DISCONNECT one, for either on MQTT 3.1/3.1.1, and for a
    /// DISCONNECT over the server's Maximum Packet Size; and as `disconnect` fails.
    ///
    /// ```
    /// use pahoish::{Client, PacketTypes, ReasonCode, MQTTv5};
    /// let client = Client::builder().protocol(MQTTv5).build()?;
    /// let rc = ReasonCode::from_name(PacketTypes::DISCONNECT, "Disconnect with will message")?;
    /// assert!(matches!(client.disconnect_with(Some(rc), None), Err(pahoish::Error::NoConn)));
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn disconnect_with(
        &self,
        reasoncode: Option<ReasonCode>,
        properties: Option<Properties>,
    ) -> Result<()> {
        let reason = match reasoncode {
            None => 0,
            Some(rc) => ReasonCode::checked(PacketTypes::DISCONNECT, rc.value())?.value(),
        };
        if self.settings().protocol != Protocol::V5 && reason != 0 {
            return Err(Error::invalid(
                "reasoncode",
                "a DISCONNECT reason code only applies to MQTT V5",
            ));
        }
        if let Some(p) = &properties {
            self.check_properties(p, PacketTypes::DISCONNECT)?;
        }
        self.engine().disconnect(self, reason, properties.as_ref())
    }

    /// Records where to connect and lets a waiting `loop_start` thread go on.
    pub(super) fn set_target(&self, host: &str, port: u16, keepalive: u16) -> Result<()> {
        self.settings().set_target(host, port, keepalive)?;
        self.engine().target_set();
        Ok(())
    }

    /// Runs the network loop once (Paho's `loop`): waits up to `timeout` (seconds, or a `Duration`) for
    /// the socket or a wake-up, then reads, runs callbacks, checks keepalive and writes.
    ///
    /// For applications that drive the loop themselves; they also reconnect themselves. Fails with
    /// [`Error::NoConn`](crate::Error::NoConn) without a connection, with the error that closed the connection if it closed
    /// (after `on_disconnect`), for a negative timeout, from a callback, and while `loop_forever` or
    /// `loop_start` runs.
    pub fn r#loop(&self, timeout: impl Seconds) -> Result<()> {
        let timeout = timeout.to_duration("timeout")?;
        self.engine().run_loop(self, timeout)
    }

    /// Runs the loop until `disconnect()` (Paho's `loop_forever()`), reconnecting with backoff when the
    /// connection is lost (see [`reconnect_delay_set`](Client::reconnect_delay_set)). If the very first
    /// connection attempt fails, returns that error; [`loop_forever_with`](Client::loop_forever_with)
    /// can retry it instead.
    ///
    /// Returns `Ok(())` after `disconnect()`; the error that ended the connection when the client was
    /// built with `reconnect_on_failure(false)`.
    pub fn loop_forever(&self) -> Result<()> {
        self.loop_forever_with(false)
    }

    /// `loop_forever(retry_first_connection=...)`: with `true`, a failed first connection attempt is
    /// retried with backoff like any later one.
    pub fn loop_forever_with(&self, retry_first_connection: bool) -> Result<()> {
        self.engine().loop_forever(self, retry_first_connection)
    }

    /// Starts the network loop on a thread of its own (Paho's `loop_start`), named
    /// `paho-mqtt-client-<client_id>`. It connects if `connect_async` was used, reconnects with backoff,
    /// and runs every callback. Fails if a loop is already running.
    ///
    /// ```no_run
    /// let client = pahoish::Client::new("");
    /// client.connect("localhost", 1883, 60)?;
    /// client.loop_start()?;
    /// client.publish("a/b", "hello", 1, false)?.wait_for_publish(None)?;
    /// client.disconnect()?;
    /// client.loop_stop()?;
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn loop_start(&self) -> Result<()> {
        let name = format!("paho-mqtt-client-{}", self.settings().client_id).replace('\0', "");
        self.engine().loop_start(Box::new(self.clone()), name)
    }

    /// Stops the `loop_start` thread and waits for it (Paho's `loop_stop`). As in Paho the thread first
    /// finishes sending what is queued and, while connected, waits for the acknowledgement of QoS 1/2
    /// messages in flight; call `disconnect()` first to stop at once. Unlike Paho, it gives up on
    /// output the broker does not read: when nothing could be written for 2 seconds, the thread ends
    /// with bytes still unsent. From a callback it does not wait (the thread ends when the callback
    /// returns).
    ///
    /// Fails if no `loop_start` thread runs, and with [`Error::CallbackPanicked`](crate::Error::CallbackPanicked) if a callback panicked
    /// on it with `suppress_exceptions(false)`.
    pub fn loop_stop(&self) -> Result<()> {
        self.engine().loop_stop()
    }

    /// Reads and handles what the socket has (for an external event loop, when the socket is readable).
    ///
    /// Over TLS and websockets it reads until the layers' buffers are empty too, since the socket's
    /// readiness cannot show what they hold. The callbacks run after every 64 packets, so a long burst
    /// does not pile up its messages first.
    pub fn loop_read(&self) -> Result<()> {
        self.engine().loop_read(self)
    }

    /// Writes what is pending (for an external event loop, when the socket is writable and
    /// [`want_write`](Client::want_write) is true).
    pub fn loop_write(&self) -> Result<()> {
        self.engine().loop_write(self)
    }

    /// Keepalive housekeeping (for an external event loop; call it at least once a second): queues
    /// PINGREQ when due and closes the connection when the broker stopped answering.
    pub fn loop_misc(&self) -> Result<()> {
        self.engine().loop_misc(self)
    }
}
