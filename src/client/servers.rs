//! `connect_urls`: a list of brokers (the nodes of a cluster, or independent ones) that the client
//! connects to in turn, and [`Client::server_url`], the one it is on.
//!
//! Each URL is read exactly as `connect_url` reads it, by `set_url` on a scratch client that starts
//! from this client's TLS and websocket path, so a list accepts and refuses what `connect_url` does.
//! What a URL sets that differs between servers (host, port, transport, TLS or not, websocket path,
//! credentials) is kept per server; which server the next connection goes to is the engine's business
//! (`engine/rotation.rs`), which asks the settings for that server's plan.

use std::sync::Arc;

use super::Client;
use crate::completion::not_in_callback;
use crate::error::{Error, Result};
use crate::net::{self, TlsLayer, WsUpgrade};
use crate::types::Transport;

/// One server of a `connect_urls` list: what its URL sets.
pub(crate) struct Server {
    /// The URL as given, its password replaced by `****`.
    url: String,
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) transport: Transport,
    pub(super) ws: Option<WsUpgrade>,
    /// The scheme asks for TLS (`mqtts://`, `wss://`): the client's TLS settings apply.
    pub(super) tls: bool,
    /// The websocket path and query, when the URL has its own.
    pub(super) ws_path: Option<String>,
    /// The URL's user name and password, when it has them: used instead of `username_pw_set`'s.
    credentials: Option<(String, Option<Vec<u8>>)>,
}

impl Server {
    /// The server moved (MQTT 5 server redirection, 0x9D): the same scheme, credentials and path at
    /// `host` (and `port`, when given); its URL says so.
    pub(super) fn moved_to(&mut self, host: String, port: Option<u16>) {
        if let Some(port) = port {
            self.port = port;
        }
        let scheme = self.url.split_once("://").map_or("mqtt", |(s, _)| s);
        self.url = format!("{scheme}://{}", net::authority(&host, self.port));
        self.host = host;
    }

    /// The URL's user name and password, if it has them.
    pub(super) fn credentials(&self) -> Option<(&str, Option<&[u8]>)> {
        self.credentials
            .as_ref()
            .map(|(user, password)| (user.as_str(), password.as_deref()))
    }
}

impl<U: Send + 'static> Client<U> {
    /// Connects to the first broker of `urls` that accepts a connection, and keeps the list for the
    /// reconnects (not in Paho, whose `connect_srv` uses a list for the first connection only; Paho
    /// C's `serverURIs`, MQTT.js's `servers`). Each URL takes any form
    /// [`connect_url`](Client::connect_url) takes (`mqtt://`, `mqtts://`, `ws://`, `wss://`,
    /// `unix://`, with or without user and password); they may differ in everything a URL says.
    ///
    /// - The first connection tries the servers in order; `connect_urls` fails with the last one's
    ///   error when none can be reached, and logs the others' (a warning each).
    /// - Each reconnect, by the loop or by [`reconnect`](Client::reconnect), starts at the server
    ///   after the current one, so a dead node is left at once, and goes on through the list.
    /// - The reconnect backoff ([`reconnect_delay_set`](Client::reconnect_delay_set)) is waited once
    ///   per round of the list: before the first attempt after a lost connection, then after every
    ///   server failed once; within a round a failed server is followed by the next one at once.
    /// - [`server_url`](Client::server_url) says which server the client is on (from `on_connect`
    ///   too).
    ///
    /// The session goes along: with `clean_session(false)` (MQTT 3.1.1) or a Session Expiry Interval
    /// (MQTT 5), a cluster whose nodes share sessions answers "session present" on the new node, and
    /// the client neither subscribes again nor loses a message it had not seen acknowledged. Brokers
    /// that do not share sessions get the subscriptions again and every unacknowledged message, as
    /// after any reconnect. See docs/scale-out.md.
    ///
    /// Fails for an empty list, for a URL `connect_url` refuses (the error quotes it, without its
    /// password), and when no server can be reached. A URL's user and password are used for its
    /// server only; servers without them use [`username_pw_set`](Client::username_pw_set)'s.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// assert!(client.connect_urls::<&str>(&[], 60).is_err());
    /// let e = client
    ///     .connect_urls(&["mqtt://127.0.0.1:1", "http://node2.example"], 60)
    ///     .unwrap_err();
    /// assert!(e.to_string().contains("unknown scheme"), "{e}"); // checked before connecting
    /// ```
    pub fn connect_urls<S: AsRef<str>>(&self, urls: &[S], keepalive: u16) -> Result<()> {
        not_in_callback(&self.engine().signal, "connect from a callback")?;
        let seen = self.engine().opened_count();
        self.set_urls(urls, keepalive)?;
        self.engine().open_connection(self, Some(seen))?;
        self.kick();
        Ok(())
    }

    /// [`connect_urls`](Client::connect_urls) with [`connect_with`](Client::connect_with)'s options
    /// (MQTT 5's Clean Start and CONNECT properties, the local address), for every server of the list.
    ///
    /// ```
    /// use pahoish::{Client, ConnectOptions, MQTTv5};
    /// let client = Client::builder().protocol(MQTTv5).build()?;
    /// let e = client
    ///     .connect_urls_with(&["mqtt://127.0.0.1:1", "mqtt://127.0.0.1:2"], 60, ConnectOptions::default())
    ///     .unwrap_err(); // nothing listens there
    /// # let _ = e;
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn connect_urls_with<S: AsRef<str>>(
        &self,
        urls: &[S],
        keepalive: u16,
        options: super::ConnectOptions,
    ) -> Result<()> {
        not_in_callback(&self.engine().signal, "connect from a callback")?;
        self.set_connect_options(options)?;
        let seen = self.engine().opened_count();
        self.set_urls(urls, keepalive)?;
        self.engine().open_connection(self, Some(seen))?;
        self.kick();
        Ok(())
    }

    /// [`connect_urls`](Client::connect_urls) without connecting, as
    /// [`connect_async`](Client::connect_async): the loop connects, to the first server that
    /// accepts, and reconnects through the list.
    ///
    /// ```no_run
    /// let client = pahoish::Client::new("");
    /// client.connect_urls_async(&["mqtt://node1:1883", "mqtt://node2:1883"], 60)?;
    /// client.loop_start()?;
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn connect_urls_async<S: AsRef<str>>(&self, urls: &[S], keepalive: u16) -> Result<()> {
        self.set_urls(urls, keepalive)
    }

    /// The server the client is connected to, or was last connecting to, as a URL: for
    /// [`connect_urls`](Client::connect_urls) the one of the list as it was given (with its password
    /// replaced by `****`); otherwise one made from the host and port (`mqtt://host:1883`,
    /// `wss://host:443/mqtt`, `unix:///path`). `None` before any `connect`. Not in Paho (whose
    /// `host` and `port` say the same for one server).
    ///
    /// From `on_connect` it names the server that accepted the connection.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// assert_eq!(client.server_url(), None);
    /// client.connect_async("localhost", 1884, 60)?;
    /// assert_eq!(client.server_url().as_deref(), Some("mqtt://localhost:1884"));
    /// client.connect_urls_async(&["mqtt://me:secret@node1", "mqtt://node2"], 60)?;
    /// assert_eq!(client.server_url().as_deref(), Some("mqtt://me:****@node1"));
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn server_url(&self) -> Option<String> {
        let st = self.settings();
        let redirected = st.redirected.as_ref();
        if let (Some(server), None) = (st.current_server(), redirected) {
            return Some(server.url.clone());
        }
        let (host, port) = match redirected {
            Some((host, port)) => (host.as_str(), *port),
            None => (st.host.as_deref()?, st.port),
        };
        let tls = st.tls.is_some();
        Some(match st.transport {
            Transport::Unix => format!("unix://{host}"),
            Transport::Tcp => format!(
                "{}://{}",
                if tls { "mqtts" } else { "mqtt" },
                net::authority(host, port)
            ),
            Transport::Websockets => format!(
                "{}://{}{}",
                if tls { "wss" } else { "ws" },
                net::authority(host, port),
                st.ws_path
            ),
        })
    }

    /// Reads every URL (before changing anything), then records the list; the next connection goes
    /// to its first server.
    fn set_urls<S: AsRef<str>>(&self, urls: &[S], keepalive: u16) -> Result<()> {
        if urls.is_empty() {
            return Err(Error::invalid("urls", "no server: give at least one URL"));
        }
        let (tls, ws_path) = {
            let st = self.settings();
            (st.tls.clone(), st.ws_path.clone())
        };
        let mut servers = Vec::with_capacity(urls.len());
        let mut list_tls = tls.clone();
        for url in urls {
            let url = url.as_ref();
            let (server, url_tls) = read_url(url, keepalive, tls.clone(), &ws_path)?;
            if server.tls && list_tls.is_none() {
                // The first TLS URL's default TLS settings (the system's roots) serve every TLS
                // server of the list, and `tls_insecure_set` changes them all.
                list_tls = url_tls;
            }
            servers.push(server);
        }
        {
            let mut st = self.settings();
            st.keepalive = keepalive;
            st.tls = list_tls;
            st.servers = servers;
            st.server = 0;
            st.plan(0)?; // the first server's host, port and transport, for the getters
        }
        self.engine().target_set();
        Ok(())
    }
}

/// What `connect_url(url)` would set, read on a scratch client that has this client's TLS settings
/// and websocket path; and the TLS settings it ended with (a URL with a TLS scheme gets the system's
/// roots when there were none).
fn read_url(
    url: &str,
    keepalive: u16,
    tls: Option<Arc<dyn TlsLayer>>,
    ws_path: &str,
) -> Result<(Server, Option<Arc<dyn TlsLayer>>)> {
    let scratch = Client::new("");
    {
        let mut st = scratch.settings();
        st.tls = tls;
        st.ws_path = ws_path.to_owned();
    }
    scratch.set_url(url, keepalive)?;
    let st = scratch.settings();
    let server = Server {
        url: net::url::redacted(url),
        host: st.host.clone().unwrap_or_default(),
        port: st.port,
        transport: st.transport,
        ws: st.ws,
        tls: st.tls.is_some(),
        ws_path: (st.ws_path != ws_path).then(|| st.ws_path.clone()),
        credentials: st.username.clone().map(|user| (user, st.password.clone())),
    };
    Ok((server, st.tls.clone()))
}

#[cfg(test)]
mod tests {
    use crate::Client;

    #[test]
    fn each_server_keeps_what_its_url_says_and_plans_follow_the_index() {
        let client = Client::new("");
        client
            .connect_urls_async(
                &[
                    "mqtt://a:1",
                    "mqtt://u:p%40ss@b",
                    "unix:///tmp/s",
                    "mqtt://[::1]:7",
                ],
                30,
            )
            .unwrap();
        let mut st = client.settings();
        let seen: Vec<_> = (0..5)
            .map(|i| {
                let plan = st.plan(i).unwrap();
                assert_eq!(plan.servers, 4);
                let packet = st.connect_packet();
                (
                    plan.target.describe(),
                    packet.username,
                    packet.password,
                    st.keepalive,
                )
            })
            .collect();
        let none = (None, None, 30);
        assert_eq!(seen[0], ("a:1".into(), none.0.clone(), none.1.clone(), 30));
        assert_eq!(
            seen[1],
            (
                "b:1883".into(),
                Some("u".into()),
                Some(b"p@ss".to_vec()),
                30
            )
        );
        assert_eq!(seen[2], ("/tmp/s".into(), None, None, 30));
        assert_eq!(seen[3], ("[::1]:7".into(), None, None, 30));
        assert_eq!(seen[4], seen[0], "the index wraps around");
    }

    #[test]
    fn a_bad_url_anywhere_in_the_list_changes_nothing() {
        let client = Client::new("");
        client.connect_async("keep", 1884, 60).unwrap();
        let e = client
            .connect_urls_async(&["mqtt://a", "mqtt://me:s3cret@b:99999"], 60)
            .unwrap_err();
        let text = format!("{e} {e:?}");
        assert!(text.contains("99999") && !text.contains("s3cret"), "{text}");
        assert_eq!(client.server_url().as_deref(), Some("mqtt://keep:1884"));
        assert!(client.settings().servers.is_empty());
        // A single host afterwards replaces a list.
        client
            .connect_urls_async(&["mqtt://a", "mqtt://b"], 60)
            .unwrap();
        client.connect_async("one", 1883, 60).unwrap();
        assert!(client.settings().servers.is_empty());
        assert_eq!(client.server_url().as_deref(), Some("mqtt://one:1883"));
    }

    #[cfg(feature = "tls")]
    #[test]
    fn tls_applies_to_the_tls_urls_of_a_list_only() {
        let client = Client::new("");
        client
            .connect_urls_async(&["mqtt://plain", "mqtts://secure"], 60)
            .unwrap();
        let mut st = client.settings();
        assert!(st.plan(0).unwrap().target.tls.is_none());
        let secure = st.plan(1).unwrap();
        assert!(secure.target.tls.is_some());
        assert_eq!(secure.target.port, 8883);
        assert!(st.plan(2).unwrap().target.tls.is_none());
        drop(st);
        // With TLS configured, a plain URL is refused as connect_url refuses it.
        let client = Client::new("");
        client.tls_set(None, None, None).unwrap();
        let e = client
            .connect_urls_async(&["mqtts://a", "mqtt://b"], 60)
            .unwrap_err();
        assert!(e.to_string().contains("TLS is configured"), "{e}");
    }

    #[cfg(feature = "websockets")]
    #[test]
    fn a_websocket_url_with_a_path_keeps_it_for_its_server() {
        let client = Client::new("");
        client
            .connect_urls_async(&["ws://a:80/one", "ws://b:81"], 60)
            .unwrap();
        let mut st = client.settings();
        assert_eq!(st.plan(0).unwrap().target.ws_path, "/one");
        assert_eq!(st.plan(1).unwrap().target.ws_path, "/mqtt");
    }
}
