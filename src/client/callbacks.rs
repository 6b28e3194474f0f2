//! The `on_*` callback slots, their setters, `message_callback_add`, and how a callback is run.
//!
//! Each callback sits in its slot as `Arc<Mutex<Box<dyn FnMut>>>`. To run one, the slot is cloned under
//! the short `callbacks` lock, which is then released; the callback runs holding only the userdata mutex
//! (which is how it gets `&mut U`) and its own mutex (which makes a second thread dispatching at the same
//! moment wait its turn rather than skip it). So a callback may replace any callback, itself included
//! (the new one is used from the next event on), and may call any `Client` method. The methods that
//! would need what the running callback holds return [`Error::WouldDeadlock`](crate::Error::WouldDeadlock) instead of hanging:
//! `wait_for_publish` (the loop that would complete it is the one running the callback), `loop()` and
//! `loop_forever` (they run callbacks, which need the userdata mutex), `connect`/`reconnect` (they run
//! `on_pre_connect`) and `user_data_get`. Methods that queue packets leave the writing to the loop, which
//! writes as soon as the callback returns.

use std::fmt;
use std::os::unix::io::RawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use super::Client;
use crate::completion::{in_callback_of, panic_message, CallbackScope};
use crate::engine::{relock, Delivery, Handler, Notice, Plan};
use crate::error::{ErrorCode, Result};
use crate::message::Message;
use crate::packet::Connect;
use crate::properties::Properties;
use crate::reason::ReasonCode;
use crate::topic::{topic_matches_sub, validate_filter};
use crate::types::{ConnectFlags, DisconnectFlags, LogLevel};

// The VERSION1 setters (callbacks_v1.rs) fill the same slots as the VERSION2 ones, with a closure of
// these shapes that gives the user's callback Paho's VERSION1 arguments; so one callback per slot.
pub(super) type OnConnect<U> =
    dyn FnMut(&Client<U>, &mut U, ConnectFlags, ReasonCode, &Properties) + Send;
/// The last argument is Paho's VERSION1 rc for the same event, which the VERSION2 arguments cannot
/// give back (a lost connection and a refused CONNACK are both "Unspecified error" there).
pub(super) type OnDisconnect<U> =
    dyn FnMut(&Client<U>, &mut U, DisconnectFlags, ReasonCode, &Properties, ErrorCode) + Send;
type OnMessage<U> = dyn FnMut(&Client<U>, &mut U, &Message) + Send;
pub(super) type OnPublish<U> = dyn FnMut(&Client<U>, &mut U, u16, ReasonCode, &Properties) + Send;
pub(super) type OnSubscribe<U> =
    dyn FnMut(&Client<U>, &mut U, u16, &[ReasonCode], &Properties) + Send;
type OnLog<U> = dyn FnMut(&Client<U>, &mut U, LogLevel, &str) + Send;
type OnPlain<U> = dyn FnMut(&Client<U>, &mut U) + Send;
type OnSocket<U> = dyn FnMut(&Client<U>, &mut U, RawFd) + Send;
pub(super) type OnAuth<U> =
    dyn FnMut(&Client<U>, &mut U, ReasonCode, &[u8], &Properties) -> super::auth::AuthAnswer + Send;

/// A callback, shared so a dispatching thread can hold it without holding the `callbacks` lock.
type SharedCallback<T> = Arc<Mutex<Box<T>>>;
/// A callback slot.
type Slot<T> = Option<SharedCallback<T>>;

pub(super) fn slot<T: ?Sized>(callback: Box<T>) -> Slot<T> {
    Some(Arc::new(Mutex::new(callback)))
}

pub(super) struct Callbacks<U> {
    pub on_connect: Slot<OnConnect<U>>,
    pub on_connect_fail: Slot<OnPlain<U>>,
    pub on_disconnect: Slot<OnDisconnect<U>>,
    pub on_message: Slot<OnMessage<U>>,
    pub on_publish: Slot<OnPublish<U>>,
    pub on_subscribe: Slot<OnSubscribe<U>>,
    pub on_unsubscribe: Slot<OnSubscribe<U>>,
    pub on_log: Slot<OnLog<U>>,
    pub on_pre_connect: Slot<OnPlain<U>>,
    pub on_socket_open: Slot<OnSocket<U>>,
    pub on_socket_close: Slot<OnSocket<U>>,
    pub on_socket_register_write: Slot<OnSocket<U>>,
    pub on_socket_unregister_write: Slot<OnSocket<U>>,
    pub on_auth: Slot<OnAuth<U>>,
    /// `message_callback_add` filters in the order added.
    pub filtered: Vec<(String, SharedCallback<OnMessage<U>>)>,
}

impl<U> Default for Callbacks<U> {
    fn default() -> Self {
        Callbacks {
            on_connect: None,
            on_connect_fail: None,
            on_disconnect: None,
            on_message: None,
            on_publish: None,
            on_subscribe: None,
            on_unsubscribe: None,
            on_log: None,
            on_pre_connect: None,
            on_socket_open: None,
            on_socket_close: None,
            on_socket_register_write: None,
            on_socket_unregister_write: None,
            on_auth: None,
            filtered: Vec::new(),
        }
    }
}

impl<U> fmt::Debug for Callbacks<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Closures cannot be printed; say which slots are set.
        let set = |b: bool| if b { "set" } else { "-" };
        f.debug_struct("Callbacks")
            .field("on_connect", &set(self.on_connect.is_some()))
            .field("on_message", &set(self.on_message.is_some()))
            .field(
                "filtered",
                &self.filtered.iter().map(|(f, _)| f).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident, $ty:ident, ($($arg:ty),*)) => {
        $(#[$doc])*
        pub fn $name<F>(&self, callback: F)
        where
            F: FnMut(&Client<U>, &mut U $(, $arg)*) + Send + 'static,
        {
            self.callbacks().$name = slot(Box::new(callback));
            self.callbacks_changed();
        }
    };
}

impl<U: Send + 'static> Client<U> {
    setter!(
        /// Called when the broker answers CONNECT (Paho's `on_connect`), with `flags.session_present` and
        /// the reason code: `Success`, or the refusal (then `on_disconnect` follows). Subscribing here is
        /// the Paho idiom; automatic resubscribe does not send such subscriptions twice. Replaces an
        /// [`on_connect_v1`](Client::on_connect_v1) or [`on_connect_v1_mqtt5`](Client::on_connect_v1_mqtt5)
        /// callback.
        ///
        /// ```
        /// let client = pahoish::Client::new("");
        /// client.on_connect(|client, _userdata, _flags, rc, _props| {
        ///     println!("Connected with result code {rc}");
        ///     let _ = client.subscribe("$SYS/broker/version", 0);
        /// });
        /// ```
        on_connect, OnConnect, (ConnectFlags, ReasonCode, &Properties)
    );
    setter!(
        /// Called by `loop_forever`/`loop_start` when a connection attempt fails before MQTT starts (DNS,
        /// TCP refused or timed out). A refused CONNACK goes to `on_connect` instead.
        on_connect_fail, OnPlain, ()
    );
    /// Called when the connection closes: reason code `Normal disconnection` after `disconnect()`,
    /// `Keep alive timeout` when the broker stopped answering, `Unspecified error` otherwise (as Paho;
    /// `on_log` and the `log` crate get the actual cause). Replaces an
    /// [`on_disconnect_v1`](Client::on_disconnect_v1) or
    /// [`on_disconnect_v1_mqtt5`](Client::on_disconnect_v1_mqtt5) callback.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// client.on_disconnect(|_client, _userdata, _flags, rc, _props| {
    ///     if rc != 0 {
    ///         eprintln!("unexpected disconnection: {rc}");
    ///     }
    /// });
    /// ```
    pub fn on_disconnect<F>(&self, mut callback: F)
    where
        F: FnMut(&Client<U>, &mut U, DisconnectFlags, ReasonCode, &Properties) + Send + 'static,
    {
        self.callbacks().on_disconnect = slot(Box::new(
            move |client: &Client<U>,
                  ud: &mut U,
                  flags: DisconnectFlags,
                  rc: ReasonCode,
                  props: &Properties,
                  _v1_rc: ErrorCode| callback(client, ud, flags, rc, props),
        ));
        self.callbacks_changed();
    }
    setter!(
        /// Called for each message received that no `message_callback_add` filter matched. A QoS 1
        /// message is acknowledged when this returns; QoS 2 is delivered on PUBREL and completed when this
        /// returns (unless manual ack is on).
        ///
        /// ```
        /// let client = pahoish::Client::new("");
        /// client.on_message(|_client, _userdata, msg| {
        ///     println!("{} {}", msg.topic, msg.payload_repr());
        /// });
        /// ```
        on_message, OnMessage, (&Message)
    );
    setter!(
        /// Called when a published message is done: QoS 0 once written to the socket, QoS 1 on PUBACK,
        /// QoS 2 on PUBCOMP, with its message id. Replaces an [`on_publish_v1`](Client::on_publish_v1)
        /// callback.
        on_publish, OnPublish, (u16, ReasonCode, &Properties)
    );
    setter!(
        /// Called on SUBACK with the message id `subscribe` returned and one reason code per filter
        /// (`Granted QoS 0/1/2` or `Unspecified error` for a refused one). Replaces an
        /// [`on_subscribe_v1`](Client::on_subscribe_v1) callback. It is also Paho's VERSION1 shape on
        /// MQTT 5.
        on_subscribe, OnSubscribe, (u16, &[ReasonCode], &Properties)
    );
    setter!(
        /// Called on UNSUBACK with the message id `unsubscribe` returned. On MQTT 3.1/3.1.1 the reason code
        /// list is empty (the packet carries none), as in Paho. Replaces an
        /// [`on_unsubscribe_v1`](Client::on_unsubscribe_v1) or
        /// [`on_unsubscribe_v1_mqtt5`](Client::on_unsubscribe_v1_mqtt5) callback.
        on_unsubscribe, OnSubscribe, (u16, &[ReasonCode], &Properties)
    );
    setter!(
        /// Called with the client's log lines, every packet sent and received at `MQTT_LOG_DEBUG` included.
        /// The same lines go to the `log` crate unless [`disable_logger`](Client::disable_logger) was called.
        on_log, OnLog, (LogLevel, &str)
    );
    setter!(
        /// Called before each connection attempt (`connect`, `reconnect`, and the loop's reconnects).
        on_pre_connect, OnPlain, ()
    );
    setter!(
        /// Called when a connection's socket opens, with its file descriptor (for external event loops).
        on_socket_open, OnSocket, (RawFd)
    );
    setter!(
        /// Called when a connection's socket is about to close, with its file descriptor.
        on_socket_close, OnSocket, (RawFd)
    );
    setter!(
        /// Called with the socket's file descriptor when bytes wait to be written (a packet was
        /// queued, or the socket was full), for an external event loop to poll it for writing and
        /// call `loop_write` (Paho's `on_socket_register_write`). Once per change, until
        /// `on_socket_unregister_write`. While it is set and no loop thread runs, `publish` leaves
        /// the writing to that loop instead of writing from the caller's thread, as in Paho.
        ///
        /// ```
        /// let client = pahoish::Client::new("");
        /// client.on_socket_register_write(|_client, _userdata, fd| println!("poll {fd} for writing"));
        /// client.on_socket_unregister_write(|_client, _userdata, fd| println!("stop polling {fd} for writing"));
        /// ```
        on_socket_register_write, OnSocket, (RawFd)
    );
    setter!(
        /// Called with the socket's file descriptor when nothing waits to be written any more (after
        /// `loop_write` wrote everything), and before a registered socket closes (Paho's
        /// `on_socket_unregister_write`). See
        /// [`on_socket_register_write`](Client::on_socket_register_write).
        on_socket_unregister_write, OnSocket, (RawFd)
    );

    /// Adds a callback for messages whose topic matches `sub` (Paho's `message_callback_add`). Every
    /// matching filtered callback is called, in the order added; `on_message` only when none matched.
    /// Adding a filter again replaces its callback.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// client.message_callback_add("sensors/+/temperature", |_c, _u, msg| {
    ///     println!("temperature: {:?}", msg.payload_str());
    /// })?;
    /// assert!(client.message_callback_add("a/#/b", |_c, _u, _m| {}).is_err());
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn message_callback_add<F>(&self, sub: &str, callback: F) -> Result<()>
    where
        F: FnMut(&Client<U>, &mut U, &Message) + Send + 'static,
    {
        validate_filter(sub)?;
        let mut cbs = self.callbacks();
        let boxed: Box<OnMessage<U>> = Box::new(callback);
        let cb = Arc::new(Mutex::new(boxed));
        match cbs.filtered.iter_mut().find(|(f, _)| f == sub) {
            Some(entry) => entry.1 = cb,
            None => cbs.filtered.push((sub.to_owned(), cb)),
        }
        Ok(())
    }

    /// Removes the callback added for `sub`, if any (Paho's `message_callback_remove`).
    pub fn message_callback_remove(&self, sub: &str) {
        self.callbacks().filtered.retain(|(f, _)| f != sub);
    }

    /// Runs the callback in `slot`, if one is set, with the userdata; handles a panic.
    pub(super) fn fire<T: ?Sized>(
        &self,
        slot: fn(&mut Callbacks<U>) -> &mut Slot<T>,
        call: impl FnOnce(&mut T, &Client<U>, &mut U),
    ) {
        let cb = slot(&mut self.callbacks()).clone();
        if let Some(cb) = cb {
            self.run_user_code(|client, ud| call(&mut **relock(&cb), client, ud));
        }
    }

    /// Calls every filtered callback matching `msg.topic`, in the order added, or `on_message` if none
    /// matches.
    fn fire_message(&self, msg: &Message) {
        if self.take_reply(msg) {
            return;
        }
        if !self.fire_filtered(msg) {
            self.fire_on_message(msg);
        }
    }

    /// Calls `on_message`, if set.
    pub(super) fn fire_on_message(&self, msg: &Message) {
        self.fire(|c| &mut c.on_message, |cb, client, ud| cb(client, ud, msg));
    }

    /// Calls every filtered callback matching `msg.topic`, in the order added; whether any matched.
    pub(super) fn fire_filtered(&self, msg: &Message) -> bool {
        let matching: Vec<_> = {
            let cbs = self.callbacks();
            cbs.filtered
                .iter()
                .filter(|(f, _)| topic_matches_sub(f, &msg.topic))
                .map(|(_, cb)| Arc::clone(cb))
                .collect()
        };
        if matching.is_empty() {
            return false;
        }
        for cb in matching {
            self.run_user_code(|client, ud| (relock(&cb))(client, ud, msg));
        }
        true
    }

    /// Runs user code with the userdata, marked as "in a callback of this client". A panic is logged and
    /// swallowed (`suppress_exceptions`, the default) or resumed once no internal lock is held.
    fn run_user_code(&self, f: impl FnOnce(&Client<U>, &mut U)) {
        let result = {
            let _scope = CallbackScope::enter(&self.engine().signal);
            let mut ud = self
                .inner
                .userdata
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let r = catch_unwind(AssertUnwindSafe(|| f(self, &mut ud)));
            // A `user_data_set` made inside the callback takes effect now.
            if let Some(new) = self
                .inner
                .pending_userdata
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
            {
                *ud = new;
            }
            r
        };
        if let Err(payload) = result {
            let msg = panic_message(payload.as_ref());
            if self.inner.suppress_exceptions {
                self.log(LogLevel::Err, &format!("Caught panic in a callback: {msg}"));
            } else {
                log::error!("pahoish: a callback panicked: {msg}");
                std::panic::resume_unwind(payload)
            }
        }
    }

    /// Writes a line to `on_log` and (unless disabled) the `log` crate.
    #[inline(never)]
    pub(crate) fn log(&self, level: LogLevel, line: &str) {
        if self.logger_enabled() {
            log::log!(target: "pahoish", level.to_log(), "{line}");
        }
        // on_log would need the userdata lock, which the callback running on this thread holds.
        if !in_callback_of(&self.engine().signal) {
            self.fire(
                |c| &mut c.on_log,
                |cb, client, ud| cb(client, ud, level, line),
            );
        }
    }
}

impl<U: Send + 'static> Client<U> {
    /// Whether log lines also go to the `log` crate (`enable_logger`/`disable_logger`).
    pub(super) fn logger_enabled(&self) -> bool {
        self.inner.logger.load(Ordering::Relaxed)
    }
}

impl<U: Send + 'static> Client<U> {
    /// What a CONNACK changes in the settings, before `on_connect` runs: a `FirstOnly` clean start
    /// stops asking for a new session (whether or not the CONNACK accepted, as in Paho); on MQTT 5 an
    /// Assigned Client Identifier becomes the client id, so that reconnects continue the session the
    /// server made for it (Paho forgets it, and every reconnect starts a new session), and a Server
    /// Keep Alive becomes the keepalive of later CONNECTs too, as in Paho.
    fn connack_arrived(&self, rc: ReasonCode, props: &Properties) {
        let mut st = self.settings();
        st.first_connack_seen = true;
        if rc.is_failure() {
            return;
        }
        if let Some(id) = props.assigned_client_identifier() {
            if st.client_id.is_empty() {
                st.client_id = id.to_owned();
            }
        }
        if let Some(keepalive) = props.server_keep_alive() {
            st.keepalive = keepalive;
        }
        drop(st);
        self.inner
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .server_prefix = props.response_information().map(str::to_owned);
    }
}

/// The engine reports to the client, which runs the user's callbacks.
impl<U: Send + 'static> Handler for Client<U> {
    fn notify(&self, notice: Notice<'_>) {
        match notice {
            Notice::PreConnect => {
                self.callbacks_changed(); // the application may have installed its logger since
                self.fire(|c| &mut c.on_pre_connect, |cb, client, ud| cb(client, ud));
            }
            Notice::ConnectFail => {
                self.fire(|c| &mut c.on_connect_fail, |cb, client, ud| cb(client, ud));
            }
            Notice::SocketOpen(fd) => {
                self.fire(
                    |c| &mut c.on_socket_open,
                    |cb, client, ud| cb(client, ud, fd),
                );
            }
            Notice::SocketClose(fd) => {
                self.fire(
                    |c| &mut c.on_socket_close,
                    |cb, client, ud| cb(client, ud, fd),
                );
            }
            Notice::RegisterWrite(fd) => self.fire(
                |c| &mut c.on_socket_register_write,
                |cb, client, ud| cb(client, ud, fd),
            ),
            Notice::UnregisterWrite(fd) => self.fire(
                |c| &mut c.on_socket_unregister_write,
                |cb, client, ud| cb(client, ud, fd),
            ),
            Notice::Connect(flags, rc, props) => {
                self.redirection(rc, props);
                self.connack_arrived(rc, props);
                self.fire(
                    |c| &mut c.on_connect,
                    |cb, client, ud| cb(client, ud, flags, rc, props),
                )
            }
            Notice::Disconnect(flags, rc, props, v1_rc) => {
                if flags.is_disconnect_packet_from_server {
                    self.redirection(rc, props);
                }
                self.fire(
                    |c| &mut c.on_disconnect,
                    |cb, client, ud| cb(client, ud, flags, rc, props, v1_rc),
                )
            }
            Notice::Publish(mid, rc, props) => self.fire(
                |c| &mut c.on_publish,
                |cb, client, ud| cb(client, ud, mid, rc, props),
            ),
            Notice::Subscribe(mid, codes, props) => self.fire(
                |c| &mut c.on_subscribe,
                |cb, client, ud| cb(client, ud, mid, codes, props),
            ),
            Notice::Unsubscribe(mid, codes, props) => self.fire(
                |c| &mut c.on_unsubscribe,
                |cb, client, ud| cb(client, ud, mid, codes, props),
            ),
            Notice::Message(msg) => self.fire_message(msg),
            Notice::Auth(reason, props, answer) => *answer = self.fire_auth(reason, props),
            Notice::Log(level, line) => Client::log(self, level, line),
        }
    }

    fn message(&self, msg: Message) -> Delivery {
        self.deliver(msg)
    }

    fn loop_ended(&self) {
        self.end_messages();
    }

    fn plan(&self, server: usize) -> Result<Plan> {
        self.settings().plan(server)
    }

    fn has_target(&self) -> bool {
        self.settings().host.is_some()
    }

    fn connect_packet(&self) -> Connect {
        self.settings().connect_packet()
    }

    fn log(&self, level: LogLevel, line: &str) {
        Client::log(self, level, line);
    }
}
