//! Servers that break a handshake on purpose, recording the first bytes each client sent.

use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::proxy::read_head;
use super::server::Server;
use crate::common::WAIT;

/// How a [`Misbehaving`] server breaks the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breakage {
    /// Reads the client's first TLS record (the ClientHello), then closes the connection.
    CloseAfterClientHello,
    /// Reads the ClientHello, sends the first bytes of a TLS handshake record that announces more, then
    /// closes.
    TruncatedServerHello,
    /// Reads the ClientHello and then sends nothing, keeping the connection open until the client
    /// closes it (or the server stops).
    Silent,
    /// Reads an HTTP request head and answers `404 Not Found`: a web server that is no websocket
    /// endpoint.
    HttpNotFound,
}

/// A server on 127.0.0.1 that breaks every handshake the same way; stops on drop.
pub struct Misbehaving {
    server: Server,
    connections: Arc<AtomicUsize>,
    first_bytes: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Misbehaving {
    pub fn start(breakage: Breakage) -> Misbehaving {
        let first_bytes = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let (log, count) = (Arc::clone(&first_bytes), Arc::clone(&connections));
        let server = Server::start("misbehaving", move |mut client, _tracker| {
            count.fetch_add(1, Ordering::SeqCst);
            client
                .set_read_timeout(Some(WAIT))
                .map_err(|e| e.to_string())?;
            if breakage == Breakage::HttpNotFound {
                let head = read_head(&mut client)?;
                log.lock().unwrap().push(head.into_bytes());
                let answer =
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                std::io::Write::write_all(&mut client, answer.as_bytes())
                    .map_err(|e| e.to_string())?;
                return Ok(());
            }
            let hello = read_tls_record(&mut client)?;
            log.lock().unwrap().push(hello);
            match breakage {
                Breakage::TruncatedServerHello => {
                    // Handshake record, TLS 1.2, 122 bytes announced; ServerHello, 3 length bytes.
                    let partial = [0x16, 0x03, 0x03, 0x00, 0x7a, 0x02, 0x00, 0x00];
                    std::io::Write::write_all(&mut client, &partial).map_err(|e| e.to_string())?;
                }
                Breakage::Silent => {
                    // Until the client hangs up (or stopping the server shuts the socket down).
                    client.set_read_timeout(None).map_err(|e| e.to_string())?;
                    let mut buf = [0u8; 1024];
                    while client.read(&mut buf).is_ok_and(|n| n > 0) {}
                }
                Breakage::CloseAfterClientHello | Breakage::HttpNotFound => {}
            }
            Ok(())
        });
        Misbehaving {
            server,
            connections,
            first_bytes,
        }
    }

    /// The port it listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// How many connections it accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// The first bytes (or, for [`Breakage::HttpNotFound`], the request head) of every connection so far.
    pub fn first_bytes(&self) -> Vec<Vec<u8>> {
        self.first_bytes.lock().unwrap().clone()
    }
}

/// Reads one whole TLS record (the ClientHello): the 5-byte header, then the length it announces.
fn read_tls_record(stream: &mut impl Read) -> Result<Vec<u8>, String> {
    let mut record = vec![0u8; 5];
    stream
        .read_exact(&mut record)
        .map_err(|e| format!("reading a TLS record header: {e}"))?;
    if record[0] != 0x16 {
        return Err(format!("not a TLS handshake record: {record:02x?}"));
    }
    let len = usize::from(u16::from_be_bytes([record[3], record[4]]));
    record.resize(5 + len, 0);
    stream
        .read_exact(&mut record[5..])
        .map_err(|e| format!("reading a TLS record of {len} bytes: {e}"))?;
    Ok(record)
}
