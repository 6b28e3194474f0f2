//! TLS over native-tls (OpenSSL on Linux): building the connector from Paho's `tls_set` arguments,
//! the handshake, and the stream the loop reads and writes.
//!
//! Everything that can be checked without a broker is checked when TLS is configured (files readable,
//! certificates and keys parseable, the connector buildable), so `tls_set` fails rather than the first
//! connect. The handshake runs on the blocking socket, bounded by `connect_timeout`; afterwards the
//! stream is non-blocking and polled on the TCP socket's descriptor like any other.

use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::io::{AsRawFd, RawFd};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use native_tls::{Certificate, HandshakeError, Identity, Protocol, TlsConnector};

use super::{NetStream, Target, TlsLayer};
use crate::error::{Error, Result};
use crate::types::Transport;
use crate::types::{CertReqs, TlsOptions, TlsVersion};

/// The TLS settings of a client: the connector, and what it was built from (to rebuild it when
/// `tls_insecure_set` changes, without reading the files again).
#[derive(Clone)]
pub(crate) struct TlsConfig {
    connector: TlsConnector,
    /// `None` for a connector the application built (`tls_set_context`).
    source: Option<(TlsOptions, Loaded)>,
    /// Host-name verification is off.
    pub insecure: bool,
}

/// The certificates and identity read from the files of a [`TlsOptions`].
#[derive(Clone)]
struct Loaded {
    roots: Vec<Certificate>,
    identity: Option<Identity>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("options", &self.source.as_ref().map(|(o, _)| o))
            .field("insecure", &self.insecure)
            .finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// Reads the files and builds the connector.
    pub(crate) fn from_options(options: TlsOptions) -> Result<TlsConfig> {
        let loaded = load(&options)?;
        let connector = build(&options, &loaded)?;
        Ok(TlsConfig {
            connector,
            insecure: options.insecure,
            source: Some((options, loaded)),
        })
    }

    /// Wraps a connector the application built.
    pub(crate) fn from_connector(connector: TlsConnector) -> TlsConfig {
        TlsConfig {
            connector,
            source: None,
            insecure: false,
        }
    }

    /// Turns host-name verification off or back on.
    pub(crate) fn set_insecure(&mut self, insecure: bool) -> Result<()> {
        let Some((options, loaded)) = &mut self.source else {
            return Err(Error::invalid(
                "tls_insecure_set",
                "the connector given to tls_set_context decides host-name checking: build it with \
                 danger_accept_invalid_hostnames(true)",
            ));
        };
        options.insecure = insecure;
        self.connector = build(options, loaded)?;
        self.insecure = insecure;
        Ok(())
    }
}

/// The settings of `tls_set`/`tls_set_with`: the files are read and the connector built here.
pub(crate) fn configure(options: TlsOptions) -> Result<Arc<dyn TlsLayer>> {
    Ok(Arc::new(TlsConfig::from_options(options)?))
}

/// The settings of `tls_set_context`.
pub(crate) fn from_connector(connector: TlsConnector) -> Arc<dyn TlsLayer> {
    Arc::new(TlsConfig::from_connector(connector))
}

impl TlsLayer for TlsConfig {
    fn with_insecure(&self, insecure: bool) -> Result<Arc<dyn TlsLayer>> {
        let mut changed = self.clone();
        changed.set_insecure(insecure)?;
        Ok(Arc::new(changed))
    }

    fn connect(
        &self,
        target: &Target,
        tcp: TcpStream,
        timeout: Duration,
    ) -> Result<Box<dyn NetStream>> {
        let stream = handshake(self, target, tcp, timeout)?;
        if target.transport == Transport::Websockets {
            super::websocket_layer(target, stream, timeout)
        } else {
            Ok(Box::new(stream))
        }
    }
}

/// Reads `path` for the argument `name`, with an error naming both.
fn read_file(name: &'static str, path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| Error::invalid(name, format!("cannot read {}: {e}", path.display())))
}

/// The PEM blocks of `label` (`CERTIFICATE`, ...) in `pem`, each with its armour.
fn pem_blocks<'a>(pem: &'a str, label: &str) -> Vec<&'a str> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut blocks = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find(&begin) {
        let Some(stop) = rest[start..].find(&end) else {
            break;
        };
        let stop = start + stop + end.len();
        blocks.push(&rest[start..stop]);
        rest = &rest[stop..];
    }
    blocks
}

/// The private key in `pem` (any of the forms [`TlsOptions`] lists), as PKCS#8 PEM for native-tls.
fn private_key(pem: &str, password: Option<&str>, path: &Path) -> Result<Vec<u8>> {
    // The first PEM block that is a key, skipping any certificates before it (a certfile holding both).
    let key_start = pem
        .match_indices("-----BEGIN ")
        .map(|(i, _)| i)
        .find(|&i| {
            pem[i..]
                .lines()
                .next()
                .unwrap_or("")
                .ends_with("PRIVATE KEY-----")
        })
        .ok_or_else(|| {
            Error::invalid(
                "keyfile",
                format!(
                    "{}: no private key (a PEM block ending in PRIVATE KEY)",
                    path.display()
                ),
            )
        })?;
    let key = &pem[key_start..];
    if key.starts_with("-----BEGIN PRIVATE KEY-----") && password.is_none() {
        return Ok(key.as_bytes().to_vec());
    }
    convert_key(key, password, path)
}

/// Decrypts and converts a key that native-tls would refuse (encrypted, or RSA/EC in OpenSSL's
/// traditional form) to plain PKCS#8 PEM.
#[cfg(not(any(target_vendor = "apple", target_os = "windows")))]
fn convert_key(key: &str, password: Option<&str>, path: &Path) -> Result<Vec<u8>> {
    use openssl::pkey::PKey;
    let parsed = match password {
        Some(p) => PKey::private_key_from_pem_passphrase(key.as_bytes(), p.as_bytes()),
        // Without a callback OpenSSL would ask for the passphrase on the terminal, and a daemon would
        // hang there: answer with an empty one instead, which fails on an encrypted key.
        None => PKey::private_key_from_pem_callback(key.as_bytes(), |_| Ok(0)),
    };
    let pkey = parsed.map_err(|e| {
        let why = if key.contains("ENCRYPTED") && password.is_none() {
            "the key is encrypted: give keyfile_password".to_owned()
        } else if password.is_some() {
            format!("wrong keyfile_password or not a key ({e})")
        } else {
            format!("not a private key OpenSSL can read ({e})")
        };
        Error::invalid("keyfile", format!("{}: {why}", path.display()))
    })?;
    pkey.private_key_to_pem_pkcs8().map_err(|e| {
        Error::tls_from(
            format!("cannot convert the key in {}: {e}", path.display()),
            e,
        )
    })
}

/// Fails unless `key` (PKCS#8 PEM) is the private half of the first certificate in `chain`, as
/// Python's `load_cert_chain` does ("key values mismatch"). OpenSSL would otherwise take a key of
/// another type (an RSA key for an EC certificate) into a slot of its own, and the broker would
/// just drop the connection after the handshake.
#[cfg(not(any(target_vendor = "apple", target_os = "windows")))]
fn check_key_matches(chain: &str, key: &[u8], cert_path: &Path, key_path: &Path) -> Result<()> {
    use openssl::pkey::PKey;
    use openssl::x509::X509;
    let unreadable = |what: &Path, e: openssl::error::ErrorStack| {
        Error::tls_from(format!("cannot read {}: {e}", what.display()), e)
    };
    let cert = X509::from_pem(chain.as_bytes()).map_err(|e| unreadable(cert_path, e))?;
    let public = cert.public_key().map_err(|e| unreadable(cert_path, e))?;
    let private = PKey::private_key_from_pem(key).map_err(|e| unreadable(key_path, e))?;
    if !public.public_eq(&private) {
        return Err(Error::invalid(
            "keyfile",
            format!(
                "the key in {} does not belong to the certificate in {} (key values mismatch)",
                key_path.display(),
                cert_path.display()
            ),
        ));
    }
    Ok(())
}

/// Without OpenSSL at hand, native-tls checks what it can when the identity is made.
#[cfg(any(target_vendor = "apple", target_os = "windows"))]
fn check_key_matches(_: &str, _: &[u8], _: &Path, _: &Path) -> Result<()> {
    Ok(())
}

#[cfg(any(target_vendor = "apple", target_os = "windows"))]
fn convert_key(_key: &str, _password: Option<&str>, path: &Path) -> Result<Vec<u8>> {
    Err(Error::NotSupported(format!(
        "{}: on this platform the key must be unencrypted PKCS#8 (BEGIN PRIVATE KEY); convert it \
         with `openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pk8`",
        path.display()
    )))
}

fn protocol(v: TlsVersion) -> Protocol {
    match v {
        TlsVersion::Tlsv1 => Protocol::Tlsv10,
        TlsVersion::Tlsv1_1 => Protocol::Tlsv11,
        TlsVersion::Tlsv1_2 => Protocol::Tlsv12,
        TlsVersion::Tlsv1_3 => Protocol::Tlsv13,
    }
}

/// Reads and parses the files `o` names.
fn load(o: &TlsOptions) -> Result<Loaded> {
    if o.ciphers.is_some() {
        return Err(Error::NotSupported(
            "ciphers: the TLS library (native-tls) offers no cipher selection; its defaults are \
             the platform's secure ones"
                .into(),
        ));
    }
    let mut roots = Vec::new();
    if let Some(path) = &o.ca_certs {
        let pem = read_file("ca_certs", path)?;
        let pem = String::from_utf8_lossy(&pem);
        let blocks = pem_blocks(&pem, "CERTIFICATE");
        if blocks.is_empty() {
            return Err(Error::invalid(
                "ca_certs",
                format!(
                    "{}: no PEM certificate (BEGIN CERTIFICATE) in it",
                    path.display()
                ),
            ));
        }
        for block in blocks {
            let cert = Certificate::from_pem(block.as_bytes()).map_err(|e| {
                Error::invalid(
                    "ca_certs",
                    format!("{}: bad certificate: {e}", path.display()),
                )
            })?;
            roots.push(cert);
        }
    }
    let identity = match (&o.certfile, &o.keyfile) {
        (None, None) => None,
        (None, Some(_)) => {
            return Err(Error::invalid(
                "keyfile",
                "a keyfile needs its certfile (the client certificate)",
            ))
        }
        (Some(cert_path), key_path) => {
            let cert = read_file("certfile", cert_path)?;
            let cert = String::from_utf8_lossy(&cert).into_owned();
            let chain = pem_blocks(&cert, "CERTIFICATE");
            if chain.is_empty() {
                return Err(Error::invalid(
                    "certfile",
                    format!(
                        "{}: no PEM certificate (BEGIN CERTIFICATE) in it",
                        cert_path.display()
                    ),
                ));
            }
            let chain = chain.join("\n");
            let (key_pem, key_from) = match key_path {
                Some(p) => (
                    String::from_utf8_lossy(&read_file("keyfile", p)?).into_owned(),
                    p,
                ),
                None => (cert.clone(), cert_path),
            };
            let key = private_key(&key_pem, o.keyfile_password.as_deref(), key_from)?;
            check_key_matches(&chain, &key, cert_path, key_from)?;
            let identity = Identity::from_pkcs8(chain.as_bytes(), &key).map_err(|e| {
                Error::tls_from(
                    format!(
                        "the client certificate {} and key {} do not make an identity: {e}",
                        cert_path.display(),
                        key_from.display()
                    ),
                    e,
                )
            })?;
            Some(identity)
        }
    };
    Ok(Loaded { roots, identity })
}

/// Builds the connector for `o` from what [`load`] read.
fn build(o: &TlsOptions, loaded: &Loaded) -> Result<TlsConnector> {
    let mut b = TlsConnector::builder();
    if o.ca_certs.is_some() {
        for cert in &loaded.roots {
            b.add_root_certificate(cert.clone());
        }
        // As Python's ssl with ca_certs: trust these, not the system's roots as well.
        b.disable_built_in_roots(true);
    }
    if let Some(identity) = &loaded.identity {
        b.identity(identity.clone());
    }
    if o.cert_reqs == CertReqs::None {
        b.danger_accept_invalid_certs(true);
        b.danger_accept_invalid_hostnames(true);
    }
    if o.insecure {
        b.danger_accept_invalid_hostnames(true);
    }
    if let Some(v) = o.tls_version {
        b.min_protocol_version(Some(protocol(v)));
    }
    if !o.alpn_protocols.is_empty() {
        let alpn: Vec<&str> = o.alpn_protocols.iter().map(String::as_str).collect();
        b.request_alpns(&alpn);
    }
    b.build()
        .map_err(|e| Error::tls_from(format!("cannot set up TLS: {e}"), e))
}

/// Runs the TLS handshake on the blocking stream `tcp` (its reads and writes bounded by `timeout`).
pub(crate) fn handshake<S>(
    cfg: &TlsConfig,
    target: &Target,
    tcp: S,
    timeout: Duration,
) -> Result<TlsStream<S>>
where
    S: Read + Write + AsRawFd + Send + fmt::Debug + 'static,
{
    let fd = tcp.as_raw_fd();
    match cfg.connector.connect(&target.host, tcp) {
        Ok(stream) => Ok(TlsStream { inner: stream, fd }),
        Err(HandshakeError::WouldBlock(_)) => Err(Error::Io(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "the TLS handshake with {} did not finish within {timeout:?}",
                target.describe()
            ),
        ))),
        Err(HandshakeError::Failure(e)) => Err(Error::tls_from(
            describe_failure(&e.to_string(), &target.describe()),
            e,
        )),
    }
}

/// Turns OpenSSL's wording into ours: `certificate verify failed: <why>` for a certificate that does
/// not verify (the why is OpenSSL's verify result, such as `certificate has expired`), else the
/// handshake failure with the library's message.
fn describe_failure(msg: &str, peer: &str) -> String {
    if msg.contains("certificate verify failed") {
        // native-tls appends the verify result in parentheses: "...:certificate verify failed:... (why)".
        let why = msg
            .rfind('(')
            .filter(|_| msg.ends_with(')'))
            .map(|i| &msg[i + 1..msg.len() - 1])
            .unwrap_or("the broker's certificate is not trusted");
        format!("certificate verify failed: {why} (connecting to {peer})")
    } else if msg.contains("alert certificate required") || msg.contains("alert handshake failure")
    {
        // TLS 1.3 brokers refuse a missing client certificate after the handshake, with this alert.
        format!(
            "{peer} refused the connection: it requires a client certificate (tls_set's certfile and \
             keyfile); OpenSSL said: {msg}"
        )
    } else {
        format!("TLS with {peer} failed: {msg}")
    }
}

/// A TLS stream for the loop.
pub(crate) struct TlsStream<S: Read + Write> {
    inner: native_tls::TlsStream<S>,
    fd: RawFd,
}

impl<S: Read + Write> AsRawFd for TlsStream<S> {
    fn as_raw_fd(&self) -> RawFd {
        self.fd
    }
}

impl<S: Read + Write> fmt::Debug for TlsStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsStream").field("fd", &self.fd).finish()
    }
}

impl<S: Read + Write> Read for TlsStream<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl<S: Read + Write> Write for TlsStream<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<S: Read + Write + Send> NetStream for TlsStream<S> {
    fn raw_fd(&self) -> RawFd {
        self.fd
    }

    fn short_read_drains(&self) -> bool {
        false
    }

    fn error(&self, e: io::Error) -> Error {
        match e.kind() {
            io::ErrorKind::Other | io::ErrorKind::InvalidData => {
                Error::tls_from(describe_failure(&e.to_string(), "the broker"), e)
            }
            _ => Error::Io(e),
        }
    }

    fn early_close_hint(&self) -> Option<&'static str> {
        Some(
            "a TLS broker closes like this when it requires a client certificate (tls_set's certfile \
             and keyfile) or refuses the one given",
        )
    }

    fn close(&mut self) {
        // close_notify; on a full socket it is simply not sent, which only costs the broker a log line.
        let _ = self.inner.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_blocks_finds_each_certificate() {
        let pem = "junk\n-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n\
                   -----BEGIN CERTIFICATE-----\nBBB\n-----END CERTIFICATE-----\n\
                   -----BEGIN CERTIFICATE-----\nunterminated";
        let blocks = pem_blocks(pem, "CERTIFICATE");
        assert_eq!(blocks.len(), 2);
        assert!(blocks[1].contains("BBB") && blocks[1].ends_with("-----END CERTIFICATE-----"));
    }

    #[test]
    fn verify_failures_read_like_pythons() {
        let msg =
            "error:0A000086:SSL routines:tls_post_process_server_certificate:certificate verify \
                   failed:../ssl/statem/statem_clnt.c:1889: (certificate has expired)";
        assert_eq!(
            describe_failure(msg, "127.0.0.1:8883"),
            "certificate verify failed: certificate has expired (connecting to 127.0.0.1:8883)"
        );
        assert!(describe_failure("unexpected EOF", "h:1").contains("TLS with h:1 failed"));
        assert!(
            describe_failure("ssl3_read_bytes:tlsv13 alert certificate required", "b")
                .contains("requires a client certificate")
        );
    }

    #[test]
    fn unreadable_files_are_named() {
        let e = TlsConfig::from_options(TlsOptions {
            ca_certs: Some("/nonexistent/ca.crt".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.crt"), "{e}");
        assert!(matches!(
            e,
            Error::InvalidArgument {
                name: "ca_certs",
                ..
            }
        ));
        let e = TlsConfig::from_options(TlsOptions {
            keyfile: Some("k.pem".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("needs its certfile"), "{e}");
        let e = TlsConfig::from_options(TlsOptions {
            ciphers: Some("HIGH".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(matches!(e, Error::NotSupported(_)));
    }

    /// A CA certificate and an RSA key made by the openssl command line in a fresh directory.
    fn make_ca(tag: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("pahoish-tls-unit-{tag}-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let status = std::process::Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", "/CN=unit-test-ca", "-keyout"])
            .arg(dir.join("ca.key"))
            .arg("-out")
            .arg(dir.join("ca.crt"))
            .stderr(std::process::Stdio::null())
            .status()
            .expect("the openssl command line");
        assert!(status.success());
        dir
    }

    #[test]
    fn tls_insecure_set_rebuilds_from_what_was_read_not_from_the_files() {
        let dir = make_ca("insecure");
        let mut cfg = TlsConfig::from_options(TlsOptions {
            ca_certs: Some(dir.join("ca.crt")),
            certfile: Some(dir.join("ca.crt")),
            keyfile: Some(dir.join("ca.key")),
            ..Default::default()
        })
        .unwrap();
        fs::remove_dir_all(&dir).unwrap();
        cfg.set_insecure(true).unwrap();
        assert!(cfg.insecure);
        cfg.set_insecure(false).unwrap();
    }

    #[test]
    fn a_key_in_the_certfile_is_found_after_the_certificate() {
        let dir = make_ca("both");
        let both = dir.join("both.pem");
        let mut pem = fs::read(dir.join("ca.crt")).unwrap();
        pem.extend(fs::read(dir.join("ca.key")).unwrap());
        fs::write(&both, pem).unwrap();
        let r = TlsConfig::from_options(TlsOptions {
            certfile: Some(both),
            ..Default::default()
        });
        fs::remove_dir_all(&dir).unwrap();
        r.unwrap();
    }

    #[test]
    fn a_key_of_another_certificate_is_refused_naming_both_files() {
        let (a, b) = (make_ca("mismatch-a"), make_ca("mismatch-b"));
        let e = TlsConfig::from_options(TlsOptions {
            certfile: Some(a.join("ca.crt")),
            keyfile: Some(b.join("ca.key")),
            ..Default::default()
        })
        .unwrap_err();
        fs::remove_dir_all(&a).unwrap();
        fs::remove_dir_all(&b).unwrap();
        let msg = e.to_string();
        assert!(
            matches!(
                e,
                Error::InvalidArgument {
                    name: "keyfile",
                    ..
                }
            ),
            "{e}"
        );
        assert!(
            msg.contains("does not belong") && msg.contains("mismatch-a"),
            "{msg}"
        );
    }

    #[test]
    fn no_key_in_the_file_is_an_argument_error() {
        let e = private_key("-----BEGIN CERTIFICATE-----\n", None, Path::new("c.pem")).unwrap_err();
        assert!(e.to_string().contains("c.pem: no private key"), "{e}");
    }
}
