//! The URLs a client takes: a broker's (`connect_url`) and a proxy's (the `mqtt_proxy` environment
//! variable), both of the form `scheme://[user[:password]@]host[:port][/path][?query]`.
//!
//! A parser of this one form rather than a general URL library: the general one brought IDNA and
//! Unicode normalization tables with it (about 240 KB of the bench's code and data, and 100–190 KB of
//! its peak RSS), linked into every program because the proxy variable is read at each connect. What a
//! broker URL needs is all here; what it does not (relative references, non-ASCII host names) is
//! refused with an error that says so.

/// A URL split into the parts a broker or proxy URL has. The user and password are percent-decoded;
/// the path and query are as written (they go into a websocket request as they are), with any byte
/// outside ASCII percent-encoded.
#[derive(Debug, PartialEq, Eq)]
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

impl Url {
    /// Splits `s` (surrounding whitespace ignored; a `#fragment` dropped). The error says what is wrong,
    /// without repeating `s`.
    pub(crate) fn parse(s: &str) -> Result<Url, String> {
        let s = s.trim();
        let (scheme, rest) = s
            .split_once("://")
            .filter(|(scheme, _)| valid_scheme(scheme))
            .ok_or("not a URL: it must start with a scheme, as in mqtt://host")?;
        if let Some(c) = s.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("{c:?} is not allowed in a URL (percent-encode it)"));
        }
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let (path, query) = match tail.split_once('?') {
            Some((path, query)) => (path, Some(encode_non_ascii(query))),
            None => (tail, None),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            None => (String::new(), None),
            Some(info) => match info.split_once(':') {
                Some((user, password)) => (percent_decode(user), Some(percent_decode(password))),
                None => (percent_decode(info), None),
            },
        };
        let (host, port) = split_host_port(hostport)?;
        Ok(Url {
            scheme: scheme.to_ascii_lowercase(),
            user,
            password,
            host,
            port,
            path: encode_non_ascii(path),
            query,
        })
    }
}

/// RFC 3986: a letter, then letters, digits, `+`, `-` or `.`.
fn valid_scheme(scheme: &str) -> bool {
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`; `host:` is a host with no port.
fn split_host_port(hostport: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
        let (v6, after) = bracketed
            .split_once(']')
            .ok_or("an IPv6 address opened with '[' is not closed with ']'")?;
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("{v6:?} is not an IPv6 address"));
        }
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or_else(|| {
                format!("{after:?} after the IPv6 address: only :port may follow it")
            })?),
        };
        (v6, port)
    } else {
        match hostport.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    if let Some(c) = host
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':')))
    {
        return Err(if c.is_ascii() {
            format!("{c:?} is not allowed in a host name")
        } else {
            "a host name outside ASCII: write it in its ASCII (xn--) form".to_owned()
        });
    }
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|_| p.bytes().all(|b| b.is_ascii_digit()))
                // Not quoted: in "user:password" with the "@host" forgotten, the password is what
                // stands where the port should.
                .ok_or_else(|| "invalid port number (digits only, 0 to 65535)".to_owned())?,
        ),
    };
    Ok((host.to_ascii_lowercase(), port))
}

/// `%XX` sequences decoded (bytes that are not UTF-8 become U+FFFD); a `%` not followed by two hex
/// digits is kept as it is.
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

pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every byte outside ASCII as `%XX`, the rest as it is.
fn encode_non_ascii(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii() {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
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
        assert_eq!(url("ws://host?q").path, "");
        assert_eq!(url("mqtt://user@host").user, "user");
        assert_eq!(url("mqtt://user@host").password, None);
        assert_eq!(url("mqtt://:@host").password.as_deref(), Some(""));
        // The last '@' ends the user information, as in browsers and the WHATWG parser.
        assert_eq!(url("mqtt://a@b@host").user, "a@b");
        assert_eq!(url("mqtt://a@b@host").host, "host");
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
            ("mqtt://::1", "invalid port number"),
            ("mqtt://[::1", "not closed"),
            ("mqtt://[::1]x", "only :port"),
            ("mqtt://[nope]", "not an IPv6 address"),
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
