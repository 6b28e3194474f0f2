//! `connect_url`'s URLs (`mqtt://`, `mqtts://`, `ws://`, `wss://`, `unix://`) turned into settings.

use super::Client;
use crate::error::{Error, Result};
use crate::net;
use crate::types::{TlsOptions, Transport};

impl<U: Send + 'static> Client<U> {
    pub(super) fn set_url(&self, url: &str, keepalive: u16) -> Result<()> {
        // The URL is quoted without its password.
        let bad =
            |why: String| Error::invalid("url", format!("{:?}: {why}", net::url::redacted(url)));
        let parsed = net::url::Url::parse(url).map_err(bad)?;
        let (transport, tls, default_port) = match parsed.scheme.as_str() {
            "mqtt" | "tcp" => (Transport::Tcp, false, 1883),
            "mqtts" | "ssl" | "tls" => (Transport::Tcp, true, 8883),
            "ws" => (Transport::Websockets, false, 80),
            "wss" => (Transport::Websockets, true, 443),
            "unix" => (Transport::Unix, false, 0),
            other => {
                return Err(bad(format!(
                    "unknown scheme {other:?} (use mqtt://, mqtts://, ws://, wss:// or unix://)"
                )))
            }
        };
        if transport == Transport::Websockets && !cfg!(feature = "websockets") {
            return Err(Error::NotSupported(
                "ws:// and wss://: this build lacks the `websockets` feature".into(),
            ));
        }
        let host = if transport == Transport::Unix {
            let path = net::url::percent_decode(&parsed.path);
            if path.is_empty() || path == "/" {
                return Err(bad("no socket path (unix:///path/to/socket)".into()));
            }
            path
        } else if parsed.host.is_empty() {
            return Err(bad("no host".into()));
        } else {
            parsed.host
        };
        let port = parsed.port.unwrap_or(default_port);
        if tls {
            if self.settings().tls.is_none() {
                self.tls_set_with(TlsOptions::default())?;
            }
        } else if self.settings().tls.is_some() && transport != Transport::Unix {
            return Err(bad(format!(
                "a plain {}:// URL, but TLS is configured: use {}",
                parsed.scheme,
                if transport == Transport::Websockets {
                    "wss://"
                } else {
                    "mqtts://"
                }
            )));
        }
        if !parsed.user.is_empty() || parsed.password.is_some() {
            self.username_pw_set(&parsed.user, parsed.password.as_deref())?;
        }
        {
            let mut st = self.settings();
            st.transport = transport;
            st.ws = net::ws_upgrade(transport);
            let bare = parsed.path.is_empty() || parsed.path == "/";
            if transport == Transport::Websockets && !(bare && parsed.query.is_none()) {
                let mut path = if parsed.path.is_empty() {
                    "/".to_owned()
                } else {
                    parsed.path
                };
                if let Some(q) = parsed.query {
                    path.push('?');
                    path.push_str(&q);
                }
                st.ws_path = path;
            }
        }
        self.set_target(&host, port, keepalive)
    }
}

#[cfg(test)]
mod secret_tests {
    use crate::Client;

    #[test]
    fn a_url_that_does_not_parse_is_quoted_without_its_password() {
        let client = Client::new("");
        for url in [
            "mqtt://me:s3cret@",
            "http://me:s3cret@h",
            "mqtt://me:s3cret@h:99999",
            "mqtt://me:s3 cret@h",
        ] {
            let e = client.connect_url_async(url, 60).unwrap_err();
            let text = format!("{e} {e:?}");
            assert!(
                !text.contains("s3cret") && !text.contains("s3 cret"),
                "{text}"
            );
            assert!(text.contains("****"), "{text}");
        }
    }
}

#[cfg(all(test, feature = "websockets"))]
mod tests {
    use crate::Client;

    /// The websocket path `connect_url` leaves for the upgrade request, for each form of URL.
    fn ws_path(url: &str) -> String {
        let client = Client::new("");
        client.connect_url_async(url, 60).expect(url);
        let path = client.settings().ws_path.clone();
        path
    }

    #[test]
    fn a_websocket_url_sets_the_path_and_query_it_has() {
        assert_eq!(ws_path("ws://127.0.0.1:1"), "/mqtt");
        assert_eq!(ws_path("ws://127.0.0.1:1/"), "/mqtt");
        assert_eq!(ws_path("ws://127.0.0.1:1/ws"), "/ws");
        assert_eq!(ws_path("ws://127.0.0.1:1/ws?t=1"), "/ws?t=1");
        assert_eq!(ws_path("ws://127.0.0.1:1?t=1"), "/?t=1");
    }
}
