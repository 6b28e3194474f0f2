//! The URLs a client takes: a broker's (`connect_url`) and a proxy's (the `mqtt_proxy` environment
//! variable, `Proxy::from_str`), both of the form `scheme://[user[:password]@]host[:port][/path][?query]`,
//! read by the `url` crate and turned into the parts a connection needs.
//!
//! The `url` crate follows the WHATWG URL standard, which is lenient where a broker URL is better
//! refused: it drops tabs and line breaks from anywhere in the text, takes `host:1883` as a URL of the
//! scheme `host`, and leaves the host of a scheme it does not know (`mqtt://`, `socks5://`) as written,
//! percent-escapes and all. Those cases are refused here, with errors that say why. Non-ASCII host
//! names are refused too: the IDNA tables are left out of the build (see `idna_adapter` in
//! Cargo.toml), so they must be given in their `xn--` form.

use std::net::IpAddr;

/// A URL split into the parts a broker or proxy URL has. The user and password are percent-decoded;
/// the path and query are as the `url` crate writes them (they go into a websocket request as they
/// are): any byte outside ASCII, and the characters a URL cannot hold there, percent-encoded.
#[derive(PartialEq, Eq)]
pub(crate) struct Url {
    /// Lower-cased.
    pub scheme: String,
    /// Empty when the URL has none.
    pub user: String,
    pub password: Option<String>,
    /// Lower-cased; an IPv6 literal without its brackets; empty when the URL has none (`unix:///path`).
    pub host: String,
    pub port: Option<u16>,
    /// Starts with `/` when not empty.
    pub path: String,
    pub query: Option<String>,
}

/// Without the password, which must never reach a log or an error.
impl std::fmt::Debug for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Url")
            .field("scheme", &self.scheme)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("host", &self.host)
            .field("port", &self.port)
            .field("path", &self.path)
            .field("query", &self.query)
            .finish()
    }
}

/// The error for a text that is not a `scheme://` URL.
const NOT_A_URL: &str = "not a URL: it must start with a scheme, as in mqtt://host";

impl Url {
    /// Reads `s` (surrounding whitespace ignored; a `#fragment` dropped). The error says what is wrong,
    /// without repeating `s`.
    pub(crate) fn parse(s: &str) -> Result<Url, String> {
        let s = s.trim();
        let parsed = ::url::Url::parse(s).map_err(|e| describe(&e, s))?;
        if let Some(c) = s.chars().find(|c| c.is_whitespace() || c.is_control()) {
            // The url crate drops a tab or line break without a word, and encodes a space.
            return Err(format!("{c:?} is not allowed in a URL (percent-encode it)"));
        }
        // `host:1883` parses, as a URL of the scheme `host` with no authority.
        if !parsed.has_authority() || !s[parsed.scheme().len()..].starts_with("://") {
            return Err(NOT_A_URL.into());
        }
        let authority = authority(s);
        // `user:@host` has an empty password, which the url crate does not keep apart from none.
        let password = parsed.password().map(percent_decode).or_else(|| {
            let userinfo = authority.rsplit_once('@')?.0;
            userinfo.contains(':').then(String::new)
        });
        Ok(Url {
            scheme: parsed.scheme().to_owned(),
            user: percent_decode(parsed.username()),
            password,
            host: host(&parsed)?,
            port: parsed.port().or_else(|| {
                // The url crate drops a port that is its scheme's default (80 for http:// and ws://,
                // 443 for wss://); an explicit one counts here (a proxy's default is not http's).
                let default = parsed.port_or_known_default()?;
                let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
                let (_, port) = hostport.rsplit_once(':')?;
                (!port.is_empty() && !port.ends_with(']')).then_some(default)
            }),
            path: parsed.path().to_owned(),
            query: parsed.query().map(str::to_owned),
        })
    }
}

/// The authority part of `s` as written: between `://` and the path, query or fragment.
fn authority(s: &str) -> &str {
    let rest = s.split_once("://").map_or("", |(_, rest)| rest);
    let end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    &rest[..end]
}

/// The host as a connection takes it: a name lower-cased, an address without brackets.
fn host(parsed: &::url::Url) -> Result<String, String> {
    let name = match parsed.host() {
        None => return Ok(String::new()),
        Some(::url::Host::Ipv4(ip)) => return Ok(IpAddr::V4(ip).to_string()),
        Some(::url::Host::Ipv6(ip)) => return Ok(IpAddr::V6(ip).to_string()),
        Some(::url::Host::Domain(name)) => name,
    };
    // The host of a scheme the url crate does not know is kept as written, with anything outside
    // ASCII percent-encoded: only a DNS name (or an IPv4 address) is a host here.
    if let Some(c) = name
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
    {
        let decoded = percent_encoding::percent_decode_str(name).decode_utf8_lossy();
        return Err(if !decoded.is_ascii() {
            "a host name outside ASCII: write it in its ASCII (xn--) form".to_owned()
        } else {
            format!("{c:?} is not allowed in a host name")
        });
    }
    Ok(name.to_ascii_lowercase())
}

/// The url crate's error about `s` in this crate's words.
fn describe(e: &::url::ParseError, s: &str) -> String {
    use ::url::ParseError as E;
    match e {
        E::RelativeUrlWithoutBase | E::RelativeUrlWithCannotBeABaseBase => NOT_A_URL.into(),
        E::EmptyHost => "no host".into(),
        // The host of an http:// or ws:// URL, percent-decoded, did not pass IDNA, which (without
        // its tables) takes ASCII only, and of it only what a host name may hold.
        E::IdnaError if !percent_decode(authority(s)).is_ascii() => {
            "a host name outside ASCII: write it in its ASCII (xn--) form".into()
        }
        E::IdnaError | E::InvalidDomainCharacter => "a character not allowed in a host name".into(),
        // Not quoted: in "user:password" with the "@host" forgotten, the password is what stands
        // where the port should.
        E::InvalidPort => "invalid port number (digits only, 0 to 65535)".into(),
        E::InvalidIpv6Address => {
            "not an IPv6 address in brackets (as in [::1] or [::1]:1883)".into()
        }
        E::InvalidIpv4Address => "not an IPv4 address".into(),
        other => other.to_string(),
    }
}

/// `s` for an error message, with any password hidden: what stands between the user's `:` and the
/// last `@` becomes `****`. Cut generously (a `/` or `@` in the password itself is caught too), since
/// the URL being quoted is often one that did not parse.
pub(crate) fn redacted(s: &str) -> String {
    let (prefix, rest) = match s.find("://") {
        Some(i) => s.split_at(i + 3),
        None => ("", s),
    };
    let Some(at) = rest.rfind('@') else {
        return s.to_owned();
    };
    match rest[..at].find(':') {
        Some(colon) => format!("{prefix}{}:****{}", &rest[..colon], &rest[at..]),
        None => s.to_owned(),
    }
}

/// `%XX` sequences decoded (bytes that are not UTF-8 become U+FFFD); a `%` not followed by two hex
/// digits is kept as it is.
pub(crate) fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_hides_the_password_however_the_url_is_broken() {
        assert_eq!(
            redacted("mqtt://me:s3cret@h:1883/x"),
            "mqtt://me:****@h:1883/x"
        );
        assert_eq!(redacted("mqtt://me:se/cr@t@h"), "mqtt://me:****@h");
        assert_eq!(redacted("me:s3cret@h"), "me:****@h");
        assert_eq!(redacted("mqtt://me@h"), "mqtt://me@h");
        assert_eq!(redacted("mqtt://h:1883"), "mqtt://h:1883");
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn every_part() {
        assert_eq!(
            url(" MQTT://Me:p%40ss:w@Broker.Example:1884/some/path?a=1&b#frag "),
            Url {
                scheme: "mqtt".into(),
                user: "Me".into(),
                password: Some("p@ss:w".into()),
                host: "broker.example".into(),
                port: Some(1884),
                path: "/some/path".into(),
                query: Some("a=1&b".into()),
            }
        );
    }

    #[test]
    fn parts_left_out() {
        let u = url("mqtt://host");
        assert_eq!((u.user.as_str(), u.password, u.port), ("", None, None));
        assert_eq!((u.path.as_str(), u.query), ("", None));
        assert_eq!(url("mqtt://host:").port, None);
        assert_eq!(url("ws://host?q").query.as_deref(), Some("q"));
        // A ws:// URL always has a path in the url crate; connect_url takes "/" as none.
        assert_eq!(url("ws://host?q").path, "/");
        assert_eq!(url("mqtt://user@host").user, "user");
        assert_eq!(url("mqtt://user@host").password, None);
        assert_eq!(url("mqtt://:@host").password.as_deref(), Some(""));
        // The last '@' ends the user information, as in browsers and the WHATWG parser.
        assert_eq!(url("mqtt://a@b@host").user, "a@b");
        assert_eq!(url("mqtt://a@b@host").host, "host");
    }

    #[test]
    fn a_port_that_is_the_schemes_default_is_kept() {
        // The url crate forgets a port equal to its scheme's default; a proxy's default is not http's.
        assert_eq!(url("http://proxy:80").port, Some(80));
        assert_eq!(url("http://me:pw@proxy:080/").port, Some(80));
        assert_eq!(url("http://proxy").port, None);
        assert_eq!(url("http://proxy:").port, None);
        assert_eq!(url("ws://h:80/mqtt").port, Some(80));
        assert_eq!(url("wss://[::1]:443").port, Some(443));
        assert_eq!(url("wss://[::1]").port, None);
        assert_eq!(url("mqtt://h:80").port, Some(80));
    }

    #[test]
    fn hosts_of_every_scheme_come_out_alike() {
        for scheme in ["mqtt", "ws", "http", "socks5h"] {
            let host = |h: &str| url(&format!("{scheme}://{h}:1")).host;
            assert_eq!(host("Broker.Example"), "broker.example", "{scheme}");
            assert_eq!(
                host("xn--bcher-kva.example"),
                "xn--bcher-kva.example",
                "{scheme}"
            );
            assert_eq!(host("my_host-1"), "my_host-1", "{scheme}");
            assert_eq!(host("10.0.0.1"), "10.0.0.1", "{scheme}");
            assert_eq!(host("[::FFFF:10.0.0.1]"), "::ffff:10.0.0.1", "{scheme}");
        }
    }

    #[test]
    fn http_and_ws_urls_are_read_as_browsers_read_them() {
        assert_eq!(url("ws://127.1:9001").host, "127.0.0.1");
        assert_eq!(url("http://0x7f.0.0.1").host, "127.0.0.1");
        assert_eq!(url("ws://h/a/../mqtt").path, "/mqtt");
    }

    #[test]
    fn an_empty_password_is_not_no_password_and_debug_hides_it() {
        assert_eq!(url("mqtt://me:@host").password.as_deref(), Some(""));
        assert_eq!(url("mqtt://me@host").password, None);
        let text = format!("{:?}", url("mqtt://me:s3cret@host"));
        assert!(
            !text.contains("s3cret") && text.contains("<redacted>"),
            "{text}"
        );
    }

    #[test]
    fn ipv6_literals_lose_their_brackets() {
        let u = url("mqtt://[::1]:1883");
        assert_eq!((u.host.as_str(), u.port), ("::1", Some(1883)));
        assert_eq!(url("ws://[FE80::1]/mqtt").host, "fe80::1");
        assert_eq!(url("ws://[FE80::1]/mqtt").path, "/mqtt");
    }

    #[test]
    fn a_unix_url_is_all_path() {
        let u = url("unix:///run/mosquitto/mqtt%20x.sock");
        assert_eq!(
            (u.host.as_str(), u.path.as_str()),
            ("", "/run/mosquitto/mqtt%20x.sock")
        );
    }

    #[test]
    fn non_ascii_in_a_path_is_percent_encoded() {
        assert_eq!(url("ws://h/é?ü").path, "/%C3%A9");
        assert_eq!(url("ws://h/é?ü").query.as_deref(), Some("%C3%BC"));
    }

    #[test]
    fn what_is_refused_says_why() {
        for (s, says) in [
            ("not a url", "scheme"),
            ("host:1883", "scheme"),
            ("127.0.0.1:1883", "scheme"),
            ("://host", "scheme"),
            ("1mqtt://host", "scheme"),
            ("mqtt://host:99999", "invalid port number"),
            ("mqtt://host:+1", "invalid port number"),
            ("mqtt://host:x", "invalid port number"),
            ("mqtt://::1", "no host"),
            ("mqtt://[::1", "IPv6"),
            ("mqtt://[::1]x", "IPv6"),
            ("mqtt://[nope]", "IPv6"),
            ("ws://[nope]", "IPv6"),
            ("mqtt://a\nb", "not allowed"),
            ("ws://hé", "ASCII"),
            ("ws://a_b%", "not allowed in a host"),
            ("ws://a%2fb", "not allowed in a host"),
            ("ws://a%C3%A9", "ASCII"),
            ("http://", "no host"),
            ("mqtt:host", "scheme"),
            ("ws:host", "scheme"),
            ("mqtt://hé", "ASCII"),
            ("mqtt://h%41", "not allowed in a host"),
            ("mqtt://a b", "not allowed"),
            ("mqtt://a\tb", "not allowed"),
        ] {
            match Url::parse(s) {
                Ok(u) => panic!("{s:?} parsed: {u:?}"),
                Err(e) => assert!(e.contains(says), "{s:?}: {e:?} does not say {says:?}"),
            }
        }
    }

    #[test]
    fn percent_decoding_keeps_what_is_not_an_escape() {
        assert_eq!(percent_decode("a%20b%2"), "a b%2");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
    }
}
