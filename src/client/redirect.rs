//! MQTT 5 server redirection (opt-in; no Paho client follows it): a CONNACK or DISCONNECT with reason
//! 0x9C (Use another server) or 0x9D (Server moved) and a Server Reference sends the next connection
//! to the server it names, through the same transport, TLS settings and credentials. 0x9C is for the
//! next connection only; 0x9D replaces the server for good (the current one of a `connect_urls`
//! list). Not followed (the default), it is reported in `on_connect`/`on_disconnect` as any reason
//! code, and in the log.

use super::Client;
use crate::properties::Properties;
use crate::reason::ReasonCode;
use crate::types::LogLevel;

/// Where the next connection goes instead of the planned server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Redirect {
    pub host: String,
    pub port: Option<u16>,
}

/// The first reference of a Server Reference that reads as `host`, `host:port`, `[v6]` or `[v6]:port`
/// (the spec leaves the format open; a space separates several, as brokers write them).
pub(crate) fn parse_reference(reference: &str) -> Option<Redirect> {
    reference.split_whitespace().find_map(|r| {
        if let Some(rest) = r.strip_prefix('[') {
            let (host, after) = rest.split_once(']')?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p.parse().ok().filter(|&p| p != 0)?),
                None if after.is_empty() => None,
                None => return None,
            };
            return (!host.is_empty()).then(|| Redirect {
                host: host.to_owned(),
                port,
            });
        }
        let (host, port) = match r.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, Some(p.parse().ok().filter(|&p| p != 0)?)),
            Some(_) => return None, // an IPv6 address without brackets: ambiguous
            None => (r, None),
        };
        (!host.is_empty()).then(|| Redirect {
            host: host.to_owned(),
            port,
        })
    })
}

impl<U: Send + 'static> Client<U> {
    /// Follows MQTT 5 server redirection (not in Paho): a CONNACK or DISCONNECT with reason Use
    /// another server (0x9C) or Server moved (0x9D) and a Server Reference makes the next connection go
    /// to the server it names (`host`, `host:port` or `[v6]:port`; the first that reads, of a
    /// space-separated list), through the same transport, TLS settings and credentials, after the
    /// usual reconnect backoff. Use another server holds for that one connection; Server moved
    /// replaces the server for good (with [`connect_urls`](Client::connect_urls), the list's current
    /// one). A reference without a port keeps the server's port.
    ///
    /// Off by default: then, and for a reference that does not read, the reason code reaches
    /// `on_connect` or `on_disconnect` with the Server Reference in their properties, and the log says
    /// where the server sends the client.
    ///
    /// ```
    /// use pahoish::{Client, MQTTv5};
    /// let client = Client::builder().protocol(MQTTv5).build()?;
    /// client.server_redirect_set(true);
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn server_redirect_set(&self, follow: bool) {
        self.settings().follow_redirects = follow;
    }

    /// A CONNACK or DISCONNECT came with `rc` and `props`: takes note of a redirection.
    pub(super) fn redirection(&self, rc: ReasonCode, props: &Properties) {
        let permanent = match rc.value() {
            0x9C => false,
            0x9D => true,
            _ => return,
        };
        let reference = props.server_reference().unwrap_or("");
        let follow = self.settings().follow_redirects;
        let target = parse_reference(reference);
        match (follow, target) {
            (true, Some(target)) => {
                self.log(
                    LogLevel::Notice,
                    &format!(
                        "{rc}: the next connection goes to {reference:?}{}",
                        if permanent { " from now on" } else { " (once)" }
                    ),
                );
                self.settings().redirect(target, permanent);
            }
            (true, None) => self.log(
                LogLevel::Warning,
                &format!("{rc} with the Server Reference {reference:?}, which names no server: not followed"),
            ),
            (false, _) => self.log(
                LogLevel::Warning,
                &format!(
                    "{rc}: the server sends the client to {reference:?} (not followed: \
                     server_redirect_set(true) follows it)"
                ),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_read_as_brokers_write_them() {
        let r = |host: &str, port| {
            Some(Redirect {
                host: host.into(),
                port,
            })
        };
        assert_eq!(
            parse_reference("node2.example:1884"),
            r("node2.example", Some(1884))
        );
        assert_eq!(parse_reference("node2.example"), r("node2.example", None));
        assert_eq!(parse_reference("[::1]:1885"), r("::1", Some(1885)));
        assert_eq!(parse_reference("[::1]"), r("::1", None));
        assert_eq!(parse_reference("  a:1 b:2"), r("a", Some(1)));
        assert_eq!(
            parse_reference("::1 b:2"),
            r("b", Some(2)),
            "the first that reads"
        );
        for bad in [
            "", "   ", "a:x", "a:0", ":1", "[::1", "[]:1", "[::1]x", "a:70000",
        ] {
            assert_eq!(parse_reference(bad), None, "{bad:?}");
        }
    }
}
