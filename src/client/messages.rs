//! `Client::messages`: the received messages through a bounded channel, for code that prefers a loop
//! over a callback (Paho has no such thing; paho.mqtt.rust's `start_consuming` and rumqttc's iterator
//! are the Rust clients' forms of it).
//!
//! Design:
//! - The channel takes `on_message`'s place: a message that a `message_callback_add` filter matches
//!   goes to that callback, as in Paho; every other message goes to the channel, and `on_message` is
//!   not called while a channel is installed. So each message has one consumer, whose taking it is
//!   what acknowledges it.
//! - The sender sits in `Shared::messages` (a leaf lock, held to clone it out or replace it) as an
//!   `Arc<dyn Sink>`, and the token that ends a wait for room as the engine's `Box<dyn DeliveryWaker>`:
//!   both are made in `messages()` alone, so a program that never calls it links none of the channel
//!   code (crossbeam's, some 70 KB of the bench's text). Dropping the sender ends the receiver's
//!   iteration: `messages()` again (a new channel), the end of the `loop_forever`/`loop_start` loop
//!   (`Handler::loop_ended`), `reinitialise`, or the last `Client` clone dropped.
//! - A full channel makes the `loop_forever`/`loop_start` loop wait for room (`wait_for_room`), so the
//!   broker is slowed down by TCP and by its own window of unacknowledged messages, and nothing piles up
//!   in the client. The wait ends when the consumer takes a message, when the receiver is dropped, or
//!   when `loop_stop()`/`disconnect()` is called (the engine's interrupt token); meanwhile the loop
//!   keeps the connection alive (`Engine::keep_alive_stalled`). A message that could not be delivered
//!   is handed back to the engine unacknowledged (`Delivery::Refused`) and offered again first by the
//!   next dispatch. Manual loops (`loop()`, `loop_read()`) never wait: their thread is likely the
//!   consumer's, so a full channel makes them hand the message back at once.

use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Select, SendError, Sender, TrySendError};

use super::Client;
use crate::engine::{relock, Delivery, DeliveryWaker, Engine, Handler};
use crate::message::Message;
use crate::types::LogLevel;

/// The shortest wait between two keepalive checks while the loop waits for room (when the session's
/// deadline is already past, as for a connection still waiting for CONNACK).
const STALL_RECHECK: Duration = Duration::from_secs(1);

/// The `messages()` channel as the dispatch sees it: a trait object, made in `messages()` only.
pub(super) trait Sink: Send + Sync {
    /// Offers `msg` to the channel: taken at once, or after waiting for room on the
    /// `loop_forever`/`loop_start` thread (`h` is the client, for the keepalive meanwhile).
    fn offer(&self, engine: &Engine, h: &dyn Handler, msg: Message) -> Offer;
}

/// What became of a message offered to the channel.
pub(super) enum Offer {
    /// In the channel.
    Taken,
    /// The channel is full and the loop stopping, or the loop is a manual one: back to the engine.
    Refused(Message),
    /// The receiver was dropped.
    Gone(Message),
}

/// The sending side of the `messages()` channel.
struct Channel {
    tx: Sender<Message>,
}

/// The token that `loop_stop` and `disconnect` send, through the engine, to end a wait for room.
struct Interrupt {
    tx: Sender<()>,
    rx: Receiver<()>,
}

impl DeliveryWaker for Interrupt {
    fn wake(&self) {
        // The channel holds one token: a second one adds nothing.
        let _ = self.tx.try_send(());
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Sink for Channel {
    fn offer(&self, engine: &Engine, h: &dyn Handler, msg: Message) -> Offer {
        let msg = match self.tx.try_send(msg) {
            Ok(()) => return Offer::Taken,
            Err(TrySendError::Full(msg)) => msg,
            Err(TrySendError::Disconnected(msg)) => return Offer::Gone(msg),
        };
        if !engine.forever_running() {
            // A manual loop: its thread is likely the consumer, which would wait for itself.
            return Offer::Refused(msg);
        }
        wait_for_room(&self.tx, engine, h, msg)
    }
}

/// Waits until the channel takes `msg`, keeping the connection alive meanwhile; gives up when
/// `loop_stop()` or `disconnect()` is called or the receiver is dropped.
fn wait_for_room(tx: &Sender<Message>, engine: &Engine, h: &dyn Handler, msg: Message) -> Offer {
    let interrupt = engine
        .delivery_waker()
        .get()
        .and_then(|w| w.as_any().downcast_ref::<Interrupt>());
    let Some(interrupt) = interrupt else {
        // messages() installs it before it makes the channel: not reached.
        return Offer::Refused(msg);
    };
    let mut deadline = engine.with_session(|s| s.next_deadline());
    loop {
        // Checked before each wait: a stop that came before it left a token, or set the flag this
        // sees.
        if engine.delivery_stopped() {
            return Offer::Refused(msg);
        }
        let mut select = Select::new();
        let send = select.send(tx);
        select.recv(&interrupt.rx);
        let op = match deadline {
            Some(at) => select.select_deadline(at),
            None => Ok(select.select()),
        };
        match op {
            Err(_) => {
                let next = engine.keep_alive_stalled(h);
                let soonest = Instant::now() + STALL_RECHECK;
                deadline = next.map(|at| at.max(soonest));
            }
            Ok(op) if op.index() == send => {
                return match op.send(tx, msg) {
                    Ok(()) => Offer::Taken,
                    Err(SendError(msg)) => Offer::Gone(msg),
                };
            }
            // A token: the flags decide (it may be an old one).
            Ok(op) => {
                let _ = op.recv(&interrupt.rx);
            }
        }
    }
}

impl<U: Send + 'static> Client<U> {
    /// The received messages through a bounded channel, for a `for` loop instead of an
    /// [`on_message`](Client::on_message) callback (Paho has nothing like it; it is paho.mqtt.rust's
    /// `start_consuming`). Returns the [`Receiver`](crossbeam_channel::Receiver) of a new
    /// channel that holds at most `capacity` messages (0: each message waits until it is taken);
    /// `recv_timeout`, `try_iter` and `select!` work on it as on any crossbeam channel.
    ///
    /// - **Which messages.** The ones `on_message` would get: a `message_callback_add` filter still
    ///   takes the messages it matches, as in Paho, and a reply goes to the [`request`](Client::request)
    ///   waiting for it; the rest go to the channel, and `on_message` is not called while the channel
    ///   is there. Each message is moved into the channel, not copied.
    /// - **A slow consumer.** When the channel is full, the `loop_forever`/`loop_start` loop waits for
    ///   room: it reads nothing meanwhile, so the broker's TCP window and its window of unacknowledged
    ///   messages fill, and the broker stops sending. Nothing is dropped and memory stays bounded: a
    ///   QoS 1/2 message is acknowledged once it is in the channel (with capacity 0, once it is taken;
    ///   with [`manual_ack_set`](Client::manual_ack_set), when you [`ack`](Client::ack) it), so the broker
    ///   keeps the ones not yet taken. QoS 0 messages wait the same way; what the broker does with
    ///   QoS 0 messages for a client that reads slowly is its own policy (it may queue or drop them).
    ///   While it waits the loop sends PINGREQ when keepalive calls for one, and with it the
    ///   acknowledgements due so far, so a consumer slower than the keepalive interval does not lose the
    ///   connection; publishes from other threads wait until the consumer takes a message (or the next
    ///   ping). Manual loops ([`loop`](Client::loop), [`loop_read`](Client::loop_read)) never wait,
    ///   since their thread is usually the consumer: a message that finds the channel full stays in the
    ///   client, unacknowledged, and is offered again at the next call. Drain the receiver between calls:
    ///   past 1,024 such messages the loop reads nothing more until they are taken.
    /// - **Stopping.** [`loop_stop`](Client::loop_stop) and [`disconnect`](Client::disconnect) end a
    ///   wait at once. The message that was waiting (and any after it) is kept unacknowledged and
    ///   delivered first when a loop runs again, to the channel or to `on_message`.
    /// - **When iteration ends.** Reconnects do not end it: the loop reconnects and the messages go on.
    ///   It ends, once the messages already in the channel are taken, when the `loop_forever` or
    ///   `loop_start` loop ends (after `disconnect()`, `loop_stop()`, or a failure it does not retry),
    ///   when `messages()` is called again (a new channel replaces this one), or when the last `Client`
    ///   clone is dropped. Messages received after that go to `on_message` until `messages()` is called
    ///   again.
    /// - **Dropping the receiver** is fine: the next message goes to `on_message` instead, and so do the
    ///   ones after it (a log line says so). Messages still in the channel then are lost, as they were
    ///   acknowledged when they went in.
    ///
    /// ```no_run
    /// let client = pahoish::Client::new("");
    /// client.connect("localhost", 1883, 60)?;
    /// client.subscribe("sensors/#", 1)?;
    /// let messages = client.messages(64);
    /// client.loop_start()?;
    /// for msg in messages.iter() {
    ///     println!("{} {}", msg.topic, msg.payload_repr());
    ///     if msg.payload == b"stop" {
    ///         client.disconnect()?; // the loop ends, and so does this for loop
    ///     }
    /// }
    /// client.loop_stop()?;
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    ///
    /// `messages()` again ends the first receiver, and so does
    /// [`reinitialise`](Client::reinitialise):
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// let first = client.messages(8);
    /// let second = client.messages(8);
    /// assert!(first.recv().is_err()); // replaced: ended, and empty
    /// assert!(second.try_recv().is_err()); // nothing received yet
    /// client.reinitialise("", true, ())?;
    /// assert!(second.recv().is_err());
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn messages(&self, capacity: usize) -> Receiver<Message> {
        self.engine().delivery_waker().get_or_init(|| {
            let (tx, rx) = crossbeam_channel::bounded(1);
            Box::new(Interrupt { tx, rx })
        });
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        *relock(&self.inner.messages) = Some(Arc::new(Channel { tx }));
        rx
    }

    /// Delivers a received message: a reply to the `request()` waiting for it, else to the filtered
    /// callbacks that match it, else to the channel if there is one, else to `on_message`.
    pub(super) fn deliver(&self, msg: Message) -> Delivery {
        if self.take_reply(&msg) || self.fire_filtered(&msg) {
            return Delivery::Seen(msg);
        }
        let sink = relock(&self.inner.messages).clone();
        let Some(sink) = sink else {
            self.fire_on_message(&msg);
            return Delivery::Seen(msg);
        };
        match sink.offer(self.engine(), self, msg) {
            Offer::Taken => Delivery::Taken,
            Offer::Refused(msg) => Delivery::Refused(msg),
            Offer::Gone(msg) => {
                let mut slot = relock(&self.inner.messages);
                // Unless messages() made a new channel meanwhile.
                if slot.as_ref().is_some_and(|s| Arc::ptr_eq(s, &sink)) {
                    *slot = None;
                }
                drop(slot);
                self.receiver_gone(msg)
            }
        }
    }

    /// The receiver was dropped (and the channel taken out of its slot): `msg` goes to `on_message`,
    /// as the next ones will.
    fn receiver_gone(&self, msg: Message) -> Delivery {
        self.log(
            LogLevel::Info,
            "The messages() receiver was dropped: messages go to on_message again",
        );
        self.fire_on_message(&msg);
        Delivery::Seen(msg)
    }

    /// The loop ended: the channel's sender goes, so that iterating ends once the messages in it are
    /// taken.
    pub(super) fn end_messages(&self) {
        relock(&self.inner.messages).take();
    }
}
