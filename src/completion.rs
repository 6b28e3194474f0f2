//! Publish completion: [`MessageInfo`] (what `publish` returns), the completion state it shares with
//! the session, and the client-wide signal its `wait_for_publish` sleeps on. Beside them, the marker of
//! which client's callback the current thread is running: a waiter consults it to fail instead of
//! waiting on the loop that runs it, and so do the loop calls.

use std::any::Any;
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorCode, Result};
use crate::reason::ReasonCode;

// The state byte: 0 while pending (the default), then one of these.
const PUBLISHED: u8 = 1;
const DISCARDED: u8 = 2;
/// The server refused it (MQTT 5): `code` holds the reason code, `packet` its packet type.
const FAILED: u8 = 3;

/// Shared by every `MessageInfo` of one client: the condition variable that `wait_for_publish` sleeps on
/// and what it needs to know to fail fast instead of waiting for something that cannot happen.
#[derive(Debug, Default)]
pub(crate) struct PublishSignal {
    lock: Mutex<()>,
    cv: Condvar,
    waiters: AtomicUsize,
    /// Threads inside a network loop (`loop_forever`, the `loop_start` thread) right now.
    pub(crate) loops_running: AtomicUsize,
    /// Set once `loop()`, `loop_read()`, `loop_write()` or `loop_misc()` has run on a connection (cleared
    /// by `reinitialise`): the application drives the loop itself, so a waiter cannot tell whether it
    /// will be driven again and waits for its timeout.
    pub(crate) manual_loop: AtomicBool,
}

impl PublishSignal {
    /// Wakes every `wait_for_publish`, which then checks its message again.
    pub(crate) fn notify(&self) {
        if self.waiters.load(Ordering::SeqCst) > 0 {
            // Taking the lock orders this notify after a waiter's check-then-wait, so no wake-up is lost.
            drop(self.lock.lock().unwrap_or_else(|e| e.into_inner()));
            self.cv.notify_all();
        }
    }
}

/// The completion state of one published message, shared by the session and the `MessageInfo`.
#[derive(Debug, Default)]
pub(crate) struct PublishState {
    state: AtomicU8,
    /// `ErrorCode` of a discarded message, reason code of a failed one.
    discard_rc: AtomicU8,
    /// The packet type that carried a failure's reason code (PUBACK or PUBREC).
    packet: AtomicU8,
}

impl PublishState {
    /// Back to pending, for reuse by another message (only when nothing else refers to it).
    pub(crate) fn reset(&mut self) {
        *self.state.get_mut() = 0;
        *self.discard_rc.get_mut() = 0;
        *self.packet.get_mut() = 0;
    }

    /// The server refused the message: the acknowledgement `reason` ended its flow (MQTT 5).
    pub(crate) fn set_failed(&self, reason: ReasonCode) {
        self.discard_rc.store(reason.value(), Ordering::SeqCst);
        self.packet.store(reason.packet_type(), Ordering::SeqCst);
        self.state.store(FAILED, Ordering::SeqCst);
    }

    fn failure(&self) -> ReasonCode {
        ReasonCode::new(
            self.packet.load(Ordering::SeqCst),
            self.discard_rc.load(Ordering::SeqCst),
        )
    }

    pub(crate) fn set_published(&self) {
        self.state.store(PUBLISHED, Ordering::SeqCst);
    }

    pub(crate) fn set_discarded(&self, rc: ErrorCode) {
        self.discard_rc.store(rc as i32 as u8, Ordering::SeqCst);
        self.state.store(DISCARDED, Ordering::SeqCst);
    }

    fn get(&self) -> u8 {
        self.state.load(Ordering::SeqCst)
    }

    fn discard_rc(&self) -> ErrorCode {
        ErrorCode::from_i32(i32::from(self.discard_rc.load(Ordering::SeqCst)))
            .unwrap_or(ErrorCode::Unknown)
    }
}

/// What `publish` returns: the message id, the return code, and a way to wait for the message to be
/// published (Paho's `MQTTMessageInfo`).
///
/// "Published" means: QoS 0, written to the socket; QoS 1, PUBACK received; QoS 2, PUBCOMP received.
///
/// ```no_run
/// # fn main() -> pahoish::Result<()> {
/// use std::time::Duration;
/// let client = pahoish::Client::new("");
/// client.connect("localhost", 1883, 60)?;
/// client.loop_start()?;
/// let info = client.publish("a/b", "hello", 1, false)?;
/// assert!(info.wait_for_publish(Some(Duration::from_secs(5)))?);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct MessageInfo {
    /// The message id (assigned at QoS 0 too, as Paho does).
    pub mid: u16,
    /// `MQTT_ERR_SUCCESS`, or `MQTT_ERR_NO_CONN` when the client was not connected (a QoS 0 message is then
    /// dropped; a QoS 1/2 message is kept and sent after the next connection), or `MQTT_ERR_QUEUE_SIZE`
    /// when `max_queued_messages` QoS 1/2 messages were already held (the message was not queued, its
    /// `mid` is 0, and `wait_for_publish` fails with [`Error::QueueFull`]).
    pub rc: ErrorCode,
    pub(crate) state: Arc<PublishState>,
    pub(crate) signal: Arc<PublishSignal>,
}

impl MessageInfo {
    /// Whether the message has been published (see the type's docs for what that means per QoS). A
    /// message the server refused (MQTT 5) is not.
    pub fn is_published(&self) -> bool {
        self.state.get() == PUBLISHED
    }

    /// MQTT 5: the failure reason code of the PUBACK or PUBREC that refused the message (0x80 and
    /// above), once one has; `None` while pending, once published, and on MQTT 3.1.1. Paho marks such a
    /// message published; `on_publish` gets the same code.
    pub fn reason_code(&self) -> Option<ReasonCode> {
        (self.state.get() == FAILED).then(|| self.state.failure())
    }

    /// Waits until the message is published, or until `timeout` passes (`None`: no limit).
    ///
    /// Returns `Ok(true)` once published and `Ok(false)` on timeout (Paho returns on timeout without
    /// raising). It fails at once, instead of waiting for something that cannot happen, when:
    /// - the message was not queued because `max_queued_messages` were held (`rc` is
    ///   `MQTT_ERR_QUEUE_SIZE`): [`Error::QueueFull`], where Paho raises ValueError;
    /// - the message was discarded ([`Error::PublishDiscarded`]): QoS 0 while not connected, or QoS 0 lost
    ///   with the connection before it was written, or `reinitialise` dropped it, or an MQTT 5 server's
    ///   limit it broke was learned only after it was queued (then the code is `MQTT_ERR_PAYLOAD_SIZE`
    ///   or `MQTT_ERR_NOT_SUPPORTED`);
    /// - the server refused it ([`Error::PublishFailed`], MQTT 5): a PUBACK or PUBREC with a failure
    ///   reason code, which [`reason_code`](MessageInfo::reason_code) also gives;
    /// - it is called from one of this client's callbacks ([`Error::WouldDeadlock`]): the loop that would
    ///   publish the message is the one waiting (a known Paho hang);
    /// - no network loop runs ([`Error::WouldDeadlock`]): neither `loop_start` nor `loop_forever` is active
    ///   and the application has never driven `loop()` itself. If the loop stops while this waits, it
    ///   returns the same error.
    pub fn wait_for_publish(&self, timeout: Option<Duration>) -> Result<bool> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let sig = &*self.signal;
        sig.waiters.fetch_add(1, Ordering::SeqCst);
        let result = (|| {
            let mut guard = sig.lock.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                match self.state.get() {
                    PUBLISHED => return Ok(true),
                    // Paho's ValueError "Message is not queued due to ERR_QUEUE_SIZE".
                    DISCARDED if self.state.discard_rc() == ErrorCode::QueueSize => {
                        return Err(Error::QueueFull)
                    }
                    DISCARDED => return Err(Error::PublishDiscarded(self.state.discard_rc())),
                    FAILED => return Err(Error::PublishFailed(self.state.failure().value())),
                    _ => {}
                }
                if in_callback_of(sig) {
                    return Err(Error::WouldDeadlock(
                        "wait_for_publish called from a callback: the loop running the callback is \
                         the one that would publish the message",
                    ));
                }
                if sig.loops_running.load(Ordering::SeqCst) == 0
                    && !sig.manual_loop.load(Ordering::SeqCst)
                {
                    return Err(Error::WouldDeadlock(
                        "wait_for_publish needs a running network loop: call loop_start() or \
                         loop_forever(), or drive loop() yourself",
                    ));
                }
                let wait = match deadline {
                    Some(d) => match d.checked_duration_since(Instant::now()) {
                        Some(left) if !left.is_zero() => left,
                        _ => return Ok(false),
                    },
                    // Re-check now and then even without a deadline: cheap, and a safety net.
                    None => Duration::from_secs(1),
                };
                guard = sig
                    .cv
                    .wait_timeout(guard, wait)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        })();
        sig.waiters.fetch_sub(1, Ordering::SeqCst);
        result
    }
}

impl MessageInfo {
    /// The info of a QoS 1/2 message refused because `max_queued_messages` were held: rc
    /// `MQTT_ERR_QUEUE_SIZE`, never published (Paho's `publish` returns such an info).
    pub(crate) fn queue_full(signal: Arc<PublishSignal>) -> MessageInfo {
        let state = PublishState::default();
        state.set_discarded(ErrorCode::QueueSize);
        MessageInfo {
            mid: 0,
            rc: ErrorCode::QueueSize,
            state: Arc::new(state),
            signal,
        }
    }

    /// The info of a received message (Paho's `MQTTMessage.info`): nothing of this client's to
    /// publish, so never published, and a `wait_for_publish` that fails at once.
    pub(crate) fn received(mid: u16) -> MessageInfo {
        let state = PublishState::default();
        state.set_discarded(ErrorCode::NotFound);
        MessageInfo {
            mid,
            rc: ErrorCode::Success,
            state: Arc::new(state),
            signal: Arc::default(),
        }
    }

    /// `(rc, mid)`, the pair Paho's `MQTTMessageInfo` unpacks to (`rc, mid = client.publish(...)`).
    ///
    /// ```
    /// use pahoish as mqtt;
    /// let client = mqtt::Client::new("");
    /// let (rc, mid) = client.publish("a/b", "x", 1, false)?.as_tuple();
    /// assert_eq!((rc, mid), (mqtt::MQTT_ERR_NO_CONN, 1));
    /// # Ok::<(), mqtt::Error>(())
    /// ```
    pub fn as_tuple(&self) -> (ErrorCode, u16) {
        (self.rc, self.mid)
    }

    /// Paho's `info[index]` (`__getitem__`) as integers: 0 gives `rc` (its `MQTT_ERR_*` value), 1 the
    /// `mid`; any other index `None` (Paho raises IndexError). Rust's `info[0]` cannot exist here: an
    /// index returns one type, and `rc` and `mid` are two.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// let info = client.publish("a/b", "x", 1, false)?;
    /// assert_eq!((info.get(0), info.get(1), info.get(2)), (Some(4), Some(1), None));
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn get(&self, index: usize) -> Option<i32> {
        match index {
            0 => Some(self.rc as i32),
            1 => Some(i32::from(self.mid)),
            _ => None,
        }
    }
}

/// `let (rc, mid) = info.into();`, Paho's `rc, mid = client.publish(...)`.
///
/// ```
/// use pahoish as mqtt;
/// let client = mqtt::Client::new("");
/// let (rc, mid): (mqtt::ErrorCode, u16) = client.publish("a/b", "x", 0, false)?.into();
/// assert_eq!(rc, mqtt::MQTT_ERR_NO_CONN);
/// # let _ = mid;
/// # Ok::<(), mqtt::Error>(())
/// ```
impl From<MessageInfo> for (ErrorCode, u16) {
    fn from(info: MessageInfo) -> (ErrorCode, u16) {
        info.as_tuple()
    }
}

impl From<&MessageInfo> for (ErrorCode, u16) {
    fn from(info: &MessageInfo) -> (ErrorCode, u16) {
        info.as_tuple()
    }
}

/// Paho's `str(info)`, the tuple `(rc, mid)` as Python prints it:
/// `(<MQTTErrorCode.MQTT_ERR_SUCCESS: 0>, 1)`.
///
/// ```
/// let client = pahoish::Client::new("");
/// let info = client.publish("a/b", "x", 1, false)?;
/// assert_eq!(info.to_string(), "(<MQTTErrorCode.MQTT_ERR_NO_CONN: 4>, 1)");
/// # Ok::<(), pahoish::Error>(())
/// ```
impl std::fmt::Display for MessageInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "(<MQTTErrorCode.{}: {}>, {})",
            paho_name(self.rc),
            self.rc as i32,
            self.mid
        )
    }
}

/// The name of an `MQTTErrorCode` member, as Python's `repr` shows it.
fn paho_name(rc: ErrorCode) -> &'static str {
    match rc {
        ErrorCode::Again => "MQTT_ERR_AGAIN",
        ErrorCode::Success => "MQTT_ERR_SUCCESS",
        ErrorCode::NoMem => "MQTT_ERR_NOMEM",
        ErrorCode::Protocol => "MQTT_ERR_PROTOCOL",
        ErrorCode::Inval => "MQTT_ERR_INVAL",
        ErrorCode::NoConn => "MQTT_ERR_NO_CONN",
        ErrorCode::ConnRefused => "MQTT_ERR_CONN_REFUSED",
        ErrorCode::NotFound => "MQTT_ERR_NOT_FOUND",
        ErrorCode::ConnLost => "MQTT_ERR_CONN_LOST",
        ErrorCode::Tls => "MQTT_ERR_TLS",
        ErrorCode::PayloadSize => "MQTT_ERR_PAYLOAD_SIZE",
        ErrorCode::NotSupported => "MQTT_ERR_NOT_SUPPORTED",
        ErrorCode::Auth => "MQTT_ERR_AUTH",
        ErrorCode::AclDenied => "MQTT_ERR_ACL_DENIED",
        ErrorCode::Unknown => "MQTT_ERR_UNKNOWN",
        ErrorCode::Errno => "MQTT_ERR_ERRNO",
        ErrorCode::QueueSize => "MQTT_ERR_QUEUE_SIZE",
        ErrorCode::Keepalive => "MQTT_ERR_KEEPALIVE",
    }
}

// ---- which client's callback this thread is running ----

thread_local! {
    /// The clients (by the address of their shared publish signal) whose callbacks this thread is running
    /// right now, innermost last.
    static IN_CALLBACK: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

fn key(sig: &PublishSignal) -> usize {
    sig as *const PublishSignal as usize
}

/// Whether the current thread is inside a callback of the client owning `sig`.
pub(crate) fn in_callback_of(sig: &PublishSignal) -> bool {
    let k = key(sig);
    IN_CALLBACK.with(|v| v.borrow().contains(&k))
}

/// Marks the current thread as running a callback of one client, until dropped (also on unwind).
pub(crate) struct CallbackScope(usize);

impl CallbackScope {
    pub(crate) fn enter(sig: &PublishSignal) -> CallbackScope {
        let k = key(sig);
        IN_CALLBACK.with(|v| v.borrow_mut().push(k));
        CallbackScope(k)
    }
}

impl Drop for CallbackScope {
    fn drop(&mut self) {
        IN_CALLBACK.with(|v| {
            let mut v = v.borrow_mut();
            if let Some(i) = v.iter().rposition(|&k| k == self.0) {
                v.remove(i);
            }
        });
    }
}

/// Fails with `WouldDeadlock` when called from one of this client's callbacks.
pub(crate) fn not_in_callback(sig: &PublishSignal, what: &'static str) -> Result<()> {
    if in_callback_of(sig) {
        return Err(Error::WouldDeadlock(what));
    }
    Ok(())
}

/// The text of a panic payload.
pub(crate) fn panic_message(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_owned()
    }
}
