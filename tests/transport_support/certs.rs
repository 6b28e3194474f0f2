//! Certificates made at run time with the `openssl` command line, once per test process, into a directory
//! under Cargo's `CARGO_TARGET_TMPDIR`: a CA, server certificates (good, for a wrong host name, expired),
//! client certificates with their keys in every PEM form a user may hold, an unrelated CA, and a CA
//! directory for the command-line tools' `--capath`.
//!
//! Keys are EC P-256 (instant to make) except the one client key that has to be RSA to be written in the
//! traditional `BEGIN RSA PRIVATE KEY` form; that one key is also written as plain and encrypted PKCS#8.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The password of the encrypted client keys.
pub const KEY_PASSWORD: &str = "pahoish key password";

/// The files of the test PKI. Every certificate but `rogue_client_cert` is signed by `ca`.
#[derive(Debug)]
pub struct Certs {
    /// The directory holding them.
    pub dir: PathBuf,
    /// The CA every broker certificate chains to.
    pub ca: PathBuf,
    /// A second CA that signed nothing the brokers use.
    pub other_ca: PathBuf,
    /// The broker's certificate, for `IP:127.0.0.1` and `DNS:localhost`.
    pub server_cert: PathBuf,
    /// The broker's key (PKCS#8, EC), shared by every broker certificate.
    pub server_key: PathBuf,
    /// A broker certificate for `wrong.host.invalid` only.
    pub wrong_host_cert: PathBuf,
    /// A broker certificate for 127.0.0.1 and localhost that expired on 2 January 2020.
    pub expired_cert: PathBuf,
    /// The client certificate for the RSA key below.
    pub client_cert: PathBuf,
    /// The client's RSA key as PKCS#8 (`BEGIN PRIVATE KEY`).
    pub client_key_pkcs8: PathBuf,
    /// The same key in the traditional form (`BEGIN RSA PRIVATE KEY`).
    pub client_key_rsa: PathBuf,
    /// The same key as encrypted PKCS#8 (`BEGIN ENCRYPTED PRIVATE KEY`), password [`KEY_PASSWORD`].
    pub client_key_encrypted: PathBuf,
    /// The same key in the traditional form, encrypted (`Proc-Type: 4,ENCRYPTED`), password
    /// [`KEY_PASSWORD`].
    pub client_key_rsa_encrypted: PathBuf,
    /// A second client certificate, for the EC key below.
    pub client_ec_cert: PathBuf,
    /// The EC client key in the traditional form (`BEGIN EC PRIVATE KEY`).
    pub client_key_ec: PathBuf,
    /// A client certificate for the RSA key, signed by `other_ca`: a broker trusting `ca` refuses it.
    pub rogue_client_cert: PathBuf,
    /// A CA bundle: `other_ca`, then `ca`.
    pub ca_bundle: PathBuf,
    /// `client_cert` followed by its key (traditional RSA form) in one file, for a `certfile` without
    /// `keyfile`.
    pub client_cert_and_key: PathBuf,
    /// A directory for `--capath` (tests/cli/): `ca` as `ca.pem`, `other_ca` as `other.crt`, and a
    /// file that holds no certificate.
    pub capath: PathBuf,
}

/// The extensions of each kind of certificate, and the `openssl ca` settings the expired certificate needs
/// (the `x509` subcommand of OpenSSL 3.0 cannot set a validity in the past; `ca` takes `-startdate` and
/// `-enddate`).
const OPENSSL_CNF: &str = "\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
authorityKeyIdentifier = keyid
[wrong_host]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.host.invalid
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
[ca]
default_ca = test_ca
[test_ca]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = any_name
unique_subject = no
[any_name]
commonName = supplied
";

/// The certificates, made on first use. Panics (failing the test) when `openssl` is missing or fails:
/// the transport tests cannot run without it.
pub fn certs() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(make)
}

fn make() -> Certs {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"));
    remove_stale(root);
    let dir = root.join(format!("transport-certs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    std::fs::write(dir.join("openssl.cnf"), OPENSSL_CNF).expect("writing openssl.cnf");
    std::fs::write(dir.join("index.txt"), "").expect("writing index.txt");
    std::fs::write(dir.join("serial"), "1000\n").expect("writing serial");
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let pass = format!("pass:{KEY_PASSWORD}");

    // The two CAs, self-signed.
    for name in ["ca", "other-ca"] {
        let (key, crt, subj) = (
            format!("{name}.key"),
            format!("{name}.crt"),
            format!("/CN=pahoish test {name}"),
        );
        let mut args = vec![
            "req",
            "-x509",
            "-config",
            "openssl.cnf",
            "-extensions",
            "v3_ca",
        ];
        args.extend(ec);
        args.extend([
            "-keyout", &key, "-out", &crt, "-days", "3650", "-subj", &subj,
        ]);
        openssl(&dir, &args);
    }

    // One broker key; requests for localhost and for the wrong name.
    let mut args = vec!["req", "-new", "-config", "openssl.cnf"];
    args.extend(ec);
    args.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    openssl(&dir, &args);
    openssl(
        &dir,
        &[
            "req",
            "-new",
            "-config",
            "openssl.cnf",
            "-key",
            "server.key",
            "-out",
            "wrong.csr",
            "-subj",
            "/CN=wrong.host.invalid",
        ],
    );
    sign(&dir, "server.csr", "ca", "server", "server.crt");
    sign(&dir, "wrong.csr", "ca", "wrong_host", "wrong-host.crt");
    // Valid for one day, six years ago.
    openssl(
        &dir,
        &[
            "ca",
            "-config",
            "openssl.cnf",
            "-batch",
            "-notext",
            "-in",
            "server.csr",
            "-cert",
            "ca.crt",
            "-keyfile",
            "ca.key",
            "-extensions",
            "server",
            "-startdate",
            "20200101000000Z",
            "-enddate",
            "20200102000000Z",
            "-out",
            "expired.crt",
        ],
    );

    // The RSA client key in four forms, one certificate for it from each CA.
    openssl(
        &dir,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "client.key",
        ],
    );
    openssl(
        &dir,
        &[
            "rsa",
            "-in",
            "client.key",
            "-traditional",
            "-out",
            "client-rsa.key",
        ],
    );
    openssl(
        &dir,
        &[
            "pkcs8",
            "-topk8",
            "-in",
            "client.key",
            "-v2",
            "aes-256-cbc",
            "-passout",
            &pass,
            "-out",
            "client-enc.key",
        ],
    );
    openssl(
        &dir,
        &[
            "rsa",
            "-in",
            "client.key",
            "-traditional",
            "-aes256",
            "-passout",
            &pass,
            "-out",
            "client-rsa-enc.key",
        ],
    );
    openssl(
        &dir,
        &[
            "req",
            "-new",
            "-config",
            "openssl.cnf",
            "-key",
            "client.key",
            "-out",
            "client.csr",
            "-subj",
            "/CN=pahoish-client",
        ],
    );
    sign(&dir, "client.csr", "ca", "client", "client.crt");
    sign(&dir, "client.csr", "other-ca", "client", "rogue-client.crt");

    // The EC client key, in the traditional form `ecparam -genkey` writes.
    openssl(
        &dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "client-ec.key",
        ],
    );
    openssl(
        &dir,
        &[
            "req",
            "-new",
            "-config",
            "openssl.cnf",
            "-key",
            "client-ec.key",
            "-out",
            "client-ec.csr",
            "-subj",
            "/CN=pahoish-ec-client",
        ],
    );
    sign(&dir, "client-ec.csr", "ca", "client", "client-ec.crt");

    let certs = Certs {
        ca: dir.join("ca.crt"),
        other_ca: dir.join("other-ca.crt"),
        server_cert: dir.join("server.crt"),
        server_key: dir.join("server.key"),
        wrong_host_cert: dir.join("wrong-host.crt"),
        expired_cert: dir.join("expired.crt"),
        client_cert: dir.join("client.crt"),
        client_key_pkcs8: dir.join("client.key"),
        client_key_rsa: dir.join("client-rsa.key"),
        client_key_encrypted: dir.join("client-enc.key"),
        client_key_rsa_encrypted: dir.join("client-rsa-enc.key"),
        client_ec_cert: dir.join("client-ec.crt"),
        client_key_ec: dir.join("client-ec.key"),
        rogue_client_cert: dir.join("rogue-client.crt"),
        ca_bundle: dir.join("ca-bundle.crt"),
        client_cert_and_key: dir.join("client-with-key.pem"),
        capath: dir.join("capath"),
        dir,
    };
    let concat = |out: &Path, parts: &[&Path]| {
        let text: String = parts
            .iter()
            .map(|p| std::fs::read_to_string(p).expect("reading a PEM file"))
            .collect();
        std::fs::write(out, text).expect("writing a PEM bundle");
    };
    concat(&certs.ca_bundle, &[&certs.other_ca, &certs.ca]);
    concat(
        &certs.client_cert_and_key,
        &[&certs.client_cert, &certs.client_key_rsa],
    );
    std::fs::create_dir(&certs.capath).expect("creating the capath directory");
    concat(&certs.capath.join("ca.pem"), &[&certs.ca]);
    concat(&certs.capath.join("other.crt"), &[&certs.other_ca]);
    std::fs::write(certs.capath.join("README"), "not a certificate\n").expect("writing README");
    // The tests name the key forms; make sure openssl wrote those forms.
    for (path, first_line) in [
        (&certs.server_key, "-----BEGIN PRIVATE KEY-----"),
        (&certs.client_key_pkcs8, "-----BEGIN PRIVATE KEY-----"),
        (&certs.client_key_rsa, "-----BEGIN RSA PRIVATE KEY-----"),
        (
            &certs.client_key_encrypted,
            "-----BEGIN ENCRYPTED PRIVATE KEY-----",
        ),
        (
            &certs.client_key_rsa_encrypted,
            "-----BEGIN RSA PRIVATE KEY-----",
        ),
        (&certs.client_key_ec, "-----BEGIN EC PRIVATE KEY-----"),
    ] {
        let text = std::fs::read_to_string(path).expect("reading a key");
        assert_eq!(text.lines().next(), Some(first_line), "{}", path.display());
    }
    let rsa_encrypted = std::fs::read_to_string(&certs.client_key_rsa_encrypted).unwrap();
    assert!(
        rsa_encrypted.contains("Proc-Type: 4,ENCRYPTED"),
        "{rsa_encrypted}"
    );
    certs
}

/// Signs the request `csr` with the CA called `ca`, with the extensions of `section`.
fn sign(dir: &Path, csr: &str, ca: &str, section: &str, out: &str) {
    let (ca_crt, ca_key) = (format!("{ca}.crt"), format!("{ca}.key"));
    let serial = format!("{}", 100 + crate::common::unique());
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            &ca_crt,
            "-CAkey",
            &ca_key,
            "-set_serial",
            &serial,
            "-days",
            "3650",
            "-extfile",
            "openssl.cnf",
            "-extensions",
            section,
            "-out",
            out,
        ],
    );
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("running openssl (needed to make test certificates): {e}"));
    assert!(
        out.status.success(),
        "openssl {} failed with {}:\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Removes the certificate directories of earlier test processes that are gone.
fn remove_stale(root: &Path) {
    // Without /proc (not Linux) there is no cheap way to tell a live process: keep everything.
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("transport-certs-"))
        else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
