//! The frame every in-test server shares (websocket relay, proxies, misbehaving brokers): a listener on
//! 127.0.0.1:0, one thread per connection, and a clean stop. A connection's sockets (the client's, and
//! any the handler opened and tracked) are shut down when its handler returns, so the peers see the
//! close at once even though the server keeps a handle on them. Dropping the server shuts down every
//! socket still open (which ends blocked reads and polls), wakes the accept thread with a connection of
//! its own, and joins every thread.

use std::io;
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

/// A running server; stops on drop.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

/// What a connection's handler gets besides its stream: a way to register the other sockets it opens
/// (the connection to the broker) so that they end with the connection, or when the server stops.
#[derive(Clone)]
pub struct Tracker {
    shared: Arc<Shared>,
    /// The connection's number; 0 for the accept thread.
    conn: usize,
}

#[derive(Default)]
struct Shared {
    sockets: Mutex<Sockets>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    errors: Mutex<Vec<String>>,
}

#[derive(Default)]
struct Sockets {
    stopping: bool,
    /// Each with the number of the connection it belongs to.
    open: Vec<(usize, TcpStream)>,
}

impl Tracker {
    /// Registers `stream` to be shut down when the server stops; fails if it is stopping already (the
    /// stream is then shut down at once).
    pub fn track(&self, stream: &TcpStream) -> io::Result<()> {
        let mut sockets = self.shared.sockets.lock().unwrap();
        if sockets.stopping {
            let _ = stream.shutdown(Shutdown::Both);
            return Err(io::Error::other("the server is stopping"));
        }
        sockets.open.push((self.conn, stream.try_clone()?));
        Ok(())
    }

    /// Shuts down (and forgets) the sockets of this tracker's connection.
    fn close_connection(&self) {
        let mut sockets = self.shared.sockets.lock().unwrap();
        sockets.open.retain(|(conn, s)| {
            if *conn == self.conn {
                let _ = s.shutdown(Shutdown::Both);
            }
            *conn != self.conn
        });
    }

    /// Runs `f` on a thread the server joins when it stops.
    pub fn spawn(&self, name: &str, f: impl FnOnce() + Send + 'static) {
        let handle = thread::Builder::new()
            .name(name.to_owned())
            .spawn(f)
            .expect("spawning a server thread");
        self.shared.threads.lock().unwrap().push(handle);
    }
}

impl Server {
    /// Listens on 127.0.0.1:0 and runs `handler` on a thread of its own for each connection. A handler's
    /// error is printed and kept for [`Server::errors`].
    pub fn start<F>(name: &str, handler: F) -> Server
    where
        F: Fn(TcpStream, &Tracker) -> Result<(), String> + Send + Sync + 'static,
    {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("binding 127.0.0.1:0");
        let addr = listener.local_addr().expect("local_addr");
        let shared = Arc::new(Shared::default());
        let tracker = Tracker {
            shared: Arc::clone(&shared),
            conn: 0,
        };
        let handler = Arc::new(handler);
        let name = name.to_owned();
        let acceptor = thread::Builder::new()
            .name(format!("{name}-accept"))
            .spawn(move || {
                for (n, stream) in (1..).zip(listener.incoming()) {
                    let Ok(stream) = stream else {
                        if tracker.shared.sockets.lock().unwrap().stopping {
                            break;
                        }
                        continue;
                    };
                    let for_handler = Tracker {
                        shared: Arc::clone(&tracker.shared),
                        conn: n,
                    };
                    if for_handler.track(&stream).is_err() {
                        break;
                    }
                    let handler = Arc::clone(&handler);
                    let label = format!("{name}-{n}");
                    let thread_name = label.clone();
                    tracker.spawn(&thread_name, move || {
                        let result = handler(stream, &for_handler);
                        for_handler.close_connection();
                        if let Err(e) = result {
                            eprintln!("{label}: {e}");
                            for_handler.shared.errors.lock().unwrap().push(e);
                        }
                    });
                }
            })
            .expect("spawning the accept thread");
        Server {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// The port it listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Shuts down the sockets of every current connection (ending them as a network failure would);
    /// new connections are still accepted.
    pub fn drop_connections(&self) {
        let mut sockets = self.shared.sockets.lock().unwrap();
        for (_, s) in sockets.open.drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// The errors its connection handlers returned so far.
    pub fn errors(&self) -> Vec<String> {
        self.shared.errors.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        {
            let mut sockets = self.shared.sockets.lock().unwrap();
            sockets.stopping = true;
            for (_, s) in sockets.open.drain(..) {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
        // The accept thread sees `stopping` with the next connection: make one.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
        // Handlers may still be starting threads of their own until they see their sockets shut down.
        loop {
            let threads: Vec<JoinHandle<()>> =
                self.shared.threads.lock().unwrap().drain(..).collect();
            if threads.is_empty() {
                break;
            }
            for t in threads {
                let _ = t.join();
            }
        }
    }
}
