//! `connect_srv`: the broker list from DNS SRV records, RFC 2782's order, handed to `connect_urls`.

use std::net::SocketAddr;

use super::Client;
use crate::error::{Error, Result};
use crate::net::{self, srv};

impl<U: Send + 'static> Client<U> {
    /// Connects to the brokers a domain publishes in DNS (Paho's `connect_srv`): the SRV records of
    /// `_mqtt._tcp.<domain>` (`_secure-mqtt._tcp.<domain>` once TLS is configured), as a
    /// [`connect_urls`](Client::connect_urls) list. `None` takes the domain of this host, as Paho
    /// does (the `domain` or first `search` entry of `/etc/resolv.conf`, else the host name after its
    /// first dot).
    ///
    /// Better than Paho's in two ways: the records are put in RFC 2782's order (by priority, and
    /// within a priority by a draw weighted by weight; Paho ignores the weights), and the list stays
    /// the client's for the reconnects, which go on to the next server as with `connect_urls` (Paho
    /// uses it for the first connection only). Paho needs `dnspython` for this; pahoish asks the name
    /// server itself (UDP, then TCP when the answer was truncated), the first `nameserver` of
    /// `/etc/resolv.conf` unless [`srv_resolver_set`](Client::srv_resolver_set) names another. The
    /// lookup is made once, here: call `connect_srv` again to read the records again.
    ///
    /// Fails when the name server cannot be reached within `connect_timeout`, answers with an error
    /// (NXDOMAIN: the domain has no such service) or with no SRV record, and as `connect_urls` fails.
    ///
    /// ```no_run
    /// let client = pahoish::Client::new("");
    /// client.connect_srv(Some("example.com"), 60)?; // _mqtt._tcp.example.com
    /// client.loop_forever()?;
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn connect_srv(&self, domain: Option<&str>, keepalive: u16) -> Result<()> {
        let urls = self.srv_urls(domain)?;
        self.connect_urls(&urls, keepalive)
    }

    /// Sets the DNS server [`connect_srv`](Client::connect_srv) asks (not in Paho): by default the
    /// first `nameserver` of `/etc/resolv.conf`.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// client.srv_resolver_set("127.0.0.1:5353".parse().unwrap());
    /// ```
    pub fn srv_resolver_set(&self, server: SocketAddr) {
        self.settings().srv_resolver = Some(server);
    }

    /// The URLs `connect_srv` connects to, in order.
    fn srv_urls(&self, domain: Option<&str>) -> Result<Vec<String>> {
        let domain = match domain {
            Some(d) => d.trim_end_matches('.').to_owned(),
            None => local_domain().ok_or_else(|| {
                Error::invalid(
                    "domain",
                    "this host has no domain (no domain or search line in /etc/resolv.conf, no dot \
                     in the host name): pass one",
                )
            })?,
        };
        let (tls, server, timeout) = {
            let st = self.settings();
            (
                st.tls.is_some(),
                st.srv_resolver.unwrap_or_else(srv::system_name_server),
                st.connect_timeout,
            )
        };
        let (service, scheme) = if tls {
            ("_secure-mqtt._tcp", "mqtts")
        } else {
            ("_mqtt._tcp", "mqtt")
        };
        let records = srv::lookup(&format!("{service}.{domain}"), server, timeout)?;
        Ok(records
            .into_iter()
            .map(|r| format!("{scheme}://{}", net::authority(&r.target, r.port)))
            .collect())
    }
}

/// This host's domain: `/etc/resolv.conf`'s `domain`, else its first `search` entry, else the host
/// name after its first dot.
fn local_domain() -> Option<String> {
    let conf = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let from_conf = |key: &str| {
        conf.lines()
            .filter_map(|l| l.trim().strip_prefix(key))
            .filter(|rest| rest.starts_with([' ', '\t']))
            .find_map(|rest| rest.split_whitespace().next().map(str::to_owned))
    };
    from_conf("domain")
        .or_else(|| from_conf("search"))
        .or_else(|| {
            // The kernel's host name (Linux), else the one the system was given at install.
            let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .or_else(|_| std::fs::read_to_string("/etc/hostname"))
                .ok()?;
            name.trim().split_once('.').map(|(_, d)| d.to_owned())
        })
        .filter(|d| !d.is_empty())
}
