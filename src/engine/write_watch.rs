//! `on_socket_register_write` / `on_socket_unregister_write`, as Paho calls them for an application
//! that drives the client from its own event loop (`socket()`, `loop_read()`, `loop_write()`):
//! "register" when bytes wait to be written (a packet was queued, or a write stopped short because the
//! socket was full), "unregister" once everything is written, and before the socket closes. Each is
//! reported once per change, whichever thread sees it (an atomic swap decides).
//!
//! As in Paho, while `on_socket_register_write` is set and no loop thread runs, a `publish` does not
//! write from the caller's thread: it reports "register" and leaves the writing to the application's
//! `loop_write()`.

use std::sync::atomic::Ordering;

use super::io::wants_write;
use super::{Engine, Handler, Notice};

impl Engine {
    /// `on_socket_register_write` was set or cleared.
    pub(crate) fn set_watch_writes(&self, on: bool) {
        self.watch_writes.store(on, Ordering::SeqCst);
    }

    /// Whether the application's event loop does the writing (no loop thread, and it asked to hear
    /// when to).
    pub(super) fn external_writer(&self) -> bool {
        self.watch_writes.load(Ordering::SeqCst)
            && self.signal.loops_running.load(Ordering::SeqCst) == 0
    }

    /// Reports a change in whether bytes wait to be written, if anyone listens.
    pub(super) fn update_write_registration(&self, h: &dyn Handler) {
        if !self.watch_writes.load(Ordering::SeqCst) {
            return;
        }
        let (fd, wants) = {
            let io = self.io();
            let Some(stream) = io.stream.as_ref() else {
                return;
            };
            let fd = stream.raw_fd();
            (fd, wants_write(&io, &self.state()))
        };
        if wants {
            if !self.write_registered.swap(true, Ordering::SeqCst) {
                h.notify(Notice::RegisterWrite(fd));
            }
        } else if self.write_registered.swap(false, Ordering::SeqCst) {
            h.notify(Notice::UnregisterWrite(fd));
        }
    }

    /// The socket `fd` is closing: a registration made for it ends first, as in Paho.
    pub(super) fn unregister_closing(&self, h: &dyn Handler, fd: std::os::unix::io::RawFd) {
        if self.write_registered.swap(false, Ordering::SeqCst) {
            h.notify(Notice::UnregisterWrite(fd));
        }
    }
}
