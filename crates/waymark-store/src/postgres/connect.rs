//! Connecting to PostgreSQL as `psql` would: the settings of the URL, else the usual `PG*`
//! variables, and TLS with libpq's `sslmode` meanings.
//!
//! | `sslmode` (URL, else `PGSSLMODE`) | connection |
//! |---|---|
//! | `disable` | plain |
//! | `allow`, `prefer` (the default) | TLS when the server offers it, else plain |
//! | `require` | TLS or no connection |
//! | `verify-ca`, `verify-full` | TLS, the server's certificate verified against `sslrootcert` (URL, else `PGSSLROOTCERT`; else the Mozilla roots) and its name against the host |
//!
//! As in libpq, `prefer` and `require` encrypt without verifying who answers — unless a root
//! certificate is given, which makes them verify as `verify-full` does (libpq then verifies the
//! chain only; waymark checks the name too, `verify-ca` included: stricter, never weaker).
//! TLS is rustls with the *ring* provider (no OpenSSL).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use postgres::config::SslMode;
use postgres::{Client, NoTls};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::{Result, StoreError};

/// Connects to the database `url` names.
pub(crate) fn connect(url: &str) -> Result<Client> {
    let (config, tls) = settings(url, &|name| std::env::var(name).ok())?;
    Ok(match tls {
        Tls::Off => config.connect(NoTls)?,
        Tls::Encrypt(roots) => config.connect(MakeRustlsConnect::new(client_config(roots)?))?,
    })
}

/// How the connection is protected.
#[derive(Debug, PartialEq, Eq)]
enum Tls {
    Off,
    /// TLS when the mode asks for it; the server verified against these roots, or not at all.
    Encrypt(Option<Roots>),
}

#[derive(Debug, PartialEq, Eq)]
enum Roots {
    File(PathBuf),
    Mozilla,
}

/// The connection settings of a URL (`env` gives the `PG*` variables), with waymark's defaults.
fn settings(url: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<(postgres::Config, Tls)> {
    // libpq's TLS parameters the client library does not know: taken out of the URL here.
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let (mut mode, mut root) = (None, None);
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslmode", v)) => mode = Some(v.to_owned()),
            Some(("sslrootcert", v)) => root = Some(percent_decode(v)),
            _ => rest.push(pair),
        }
    }
    let url = if rest.is_empty() { base.to_owned() } else { format!("{base}?{}", rest.join("&")) };
    let mut config: postgres::Config = url.parse()?;
    if config.get_hosts().is_empty() {
        // As libpq: PGHOST, else the local server's socket folder, else localhost.
        let local = ["/var/run/postgresql", "/tmp"]
            .into_iter()
            .find(|d| std::path::Path::new(d).join(".s.PGSQL.5432").exists());
        let host = env("PGHOST").or_else(|| local.map(str::to_owned));
        config.host(host.as_deref().unwrap_or("localhost"));
    }
    if config.get_ports().is_empty() {
        if let Some(port) = env("PGPORT").and_then(|p| p.parse().ok()) {
            config.port(port);
        }
    }
    if config.get_user().is_none() {
        if let Some(user) = env("PGUSER") {
            config.user(&user);
        }
    }
    if config.get_password().is_none() {
        if let Some(password) = env("PGPASSWORD") {
            config.password(&password);
        }
    }
    if config.get_dbname().is_none() {
        if let Some(db) = env("PGDATABASE") {
            config.dbname(&db);
        }
    }
    if config.get_application_name().is_none() {
        config.application_name("waymark");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    let mode = mode.or_else(|| env("PGSSLMODE")).unwrap_or_else(|| "prefer".to_owned());
    let root = root.or_else(|| env("PGSSLROOTCERT")).filter(|r| !r.is_empty()).map(PathBuf::from);
    let (ssl, verify) = match mode.as_str() {
        "disable" => (SslMode::Disable, false),
        "allow" | "prefer" => (SslMode::Prefer, root.is_some()),
        "require" => (SslMode::Require, root.is_some()),
        "verify-ca" | "verify-full" => (SslMode::Require, true),
        other => {
            return Err(StoreError::Refused(format!(
            "sslmode={other}: expected disable, allow, prefer, require, verify-ca or verify-full"
        )))
        }
    };
    config.ssl_mode(ssl);
    let tls = match ssl {
        SslMode::Disable => Tls::Off,
        _ if verify => Tls::Encrypt(Some(root.map_or(Roots::Mozilla, Roots::File))),
        _ => Tls::Encrypt(None),
    };
    Ok((config, tls))
}

/// `%XX` escapes of a URL parameter decoded (a path with spaces, say).
fn percent_decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn client_config(roots: Option<Roots>) -> Result<rustls::ClientConfig> {
    let tls_error = |e: rustls::Error| StoreError::Refused(format!("TLS: {e}"));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?;
    let config = match roots {
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
            .with_no_client_auth(),
        Some(roots) => {
            let mut store = RootCertStore::empty();
            match roots {
                Roots::Mozilla => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
                Roots::File(path) => {
                    let unreadable = |e: &dyn std::fmt::Display| {
                        StoreError::Refused(format!("sslrootcert {}: {e}", path.display()))
                    };
                    for cert in CertificateDer::pem_file_iter(&path).map_err(|e| unreadable(&e))? {
                        store.add(cert.map_err(|e| unreadable(&e))?).map_err(|e| unreadable(&e))?;
                    }
                    if store.is_empty() {
                        return Err(unreadable(&"no certificate in the file"));
                    }
                }
            }
            builder.with_root_certificates(store).with_no_client_auth()
        }
    };
    Ok(config)
}

/// `sslmode=prefer`/`require` without a root certificate, as in libpq: the channel is
/// encrypted and the handshake's signatures checked, but any certificate is accepted.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str, vars: &[(&str, &str)]) -> (postgres::Config, Tls) {
        let vars: Vec<(String, String)> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let env = move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        settings(url, &env).unwrap()
    }

    #[test]
    fn the_url_wins_over_the_variables_which_fill_what_it_leaves_out() {
        let vars = [
            ("PGHOST", "db.example"),
            ("PGUSER", "u"),
            ("PGPASSWORD", "pw"),
            ("PGDATABASE", "audit"),
            ("PGPORT", "6543"),
        ];
        let (c, _) = parse("postgres://", &vars);
        assert_eq!(c.get_hosts(), [postgres::config::Host::Tcp("db.example".into())]);
        assert_eq!(
            (c.get_user(), c.get_password(), c.get_dbname()),
            (Some("u"), Some(&b"pw"[..]), Some("audit"))
        );
        assert_eq!(c.get_ports(), [6543]);
        let (c, _) = parse("postgres://me:secret@10.0.0.1:5433/db", &vars);
        assert_eq!(c.get_hosts(), [postgres::config::Host::Tcp("10.0.0.1".into())]);
        assert_eq!(
            (c.get_user(), c.get_password(), c.get_dbname()),
            (Some("me"), Some(&b"secret"[..]), Some("db"))
        );
        assert_eq!(c.get_ports(), [5433]);
        assert_eq!(c.get_application_name(), Some("waymark"));
    }

    #[test]
    fn sslmode_follows_libpq() {
        let tls = |url: &str, vars: &[(&str, &str)]| {
            let (c, tls) = parse(url, vars);
            (c.get_ssl_mode(), tls)
        };
        let h = "postgres://h/db";
        assert_eq!(tls(h, &[]), (SslMode::Prefer, Tls::Encrypt(None)));
        assert_eq!(tls(&format!("{h}?sslmode=disable"), &[]), (SslMode::Disable, Tls::Off));
        assert_eq!(tls(h, &[("PGSSLMODE", "disable")]), (SslMode::Disable, Tls::Off));
        assert_eq!(
            tls(&format!("{h}?sslmode=require"), &[("PGSSLMODE", "disable")]),
            (SslMode::Require, Tls::Encrypt(None))
        );
        assert_eq!(
            tls(&format!("{h}?sslmode=verify-full"), &[]),
            (SslMode::Require, Tls::Encrypt(Some(Roots::Mozilla)))
        );
        let root = Tls::Encrypt(Some(Roots::File("/etc/ca dir/root.pem".into())));
        assert_eq!(
            tls(&format!("{h}?sslmode=verify-ca&sslrootcert=/etc/ca%20dir/root.pem"), &[]),
            (SslMode::Require, root)
        );
        let root = Tls::Encrypt(Some(Roots::File("/r.pem".into())));
        assert_eq!(
            tls(&format!("{h}?sslmode=require"), &[("PGSSLROOTCERT", "/r.pem")]),
            (SslMode::Require, root)
        );
        // Other parameters still reach the client library.
        let (c, _) =
            parse(&format!("{h}?application_name=x&sslmode=require&connect_timeout=3"), &[]);
        assert_eq!(
            (c.get_application_name(), c.get_connect_timeout()),
            (Some("x"), Some(&Duration::from_secs(3)))
        );
        let env = |_: &str| None;
        assert!(matches!(
            settings(&format!("{h}?sslmode=sometimes"), &env),
            Err(StoreError::Refused(_))
        ));
    }
}
