//! HTTPS and WSS: the rustls server configuration (aws-lc-rs, TLS 1.2 and
//! 1.3) from PEM files or from a self-signed certificate generated once, and
//! the listener that completes TLS handshakes off the accept path.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use zeroize::Zeroizing;

use crate::settings::Settings;

/// The self-signed certificate, relative to the data directory: data, since
/// clients are given it to trust.
pub const SELF_SIGNED_CERT: &str = "tls-cert.pem";
/// Its private key, in the key store (`keys/`), owner-only.
pub const SELF_SIGNED_KEY: &str = "keys/tls-key.pem";
/// The names the self-signed certificate is valid for.
const SELF_SIGNED_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Time a client has to complete its handshake: a client that says nothing
/// (or speaks plain HTTP and waits for an answer) is dropped after it.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; beyond it, new connections wait in the
/// kernel's backlog until one finishes or times out.
const MAX_PENDING_HANDSHAKES: usize = 1024;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("{}: {reason}", path.display())]
    Pem { path: PathBuf, reason: String },
    #[error("the TLS certificate and key do not make a usable configuration: {0}")]
    Config(#[from] rustls::Error),
    #[error("cannot generate the self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error(
        "{} exists but its key {} does not: delete the certificate to generate a new pair",
        cert.display(),
        key.display()
    )]
    MissingKey { cert: PathBuf, key: PathBuf },
}

/// The crypto provider of every TLS connection the server makes or takes.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The TLS configuration `settings` ask for: `None` for plain HTTP, else
/// from `tls_cert`/`tls_key`, or from the self-signed certificate in the
/// data directory (generated on first use; `keys/` must exist).
pub fn server_config(settings: &Settings) -> Result<Option<Arc<ServerConfig>>, TlsError> {
    let (cert, key) = match (&settings.tls_cert, &settings.tls_key) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone()),
        _ if settings.self_signed => self_signed(&settings.data_dir)?,
        _ => return Ok(None),
    };
    load_server_config(&cert, &key).map(Some)
}

/// A server configuration from a PEM certificate chain and a PEM private
/// key (PKCS#8, PKCS#1 or SEC1).
pub fn load_server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let cert_pem = read(cert)?;
    let key_pem = Zeroizing::new(read(key)?);
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(cert, &e))?;
    if chain.is_empty() {
        return Err(TlsError::Pem {
            path: cert.to_owned(),
            reason: "no certificate (expected a PEM \"CERTIFICATE\" block)".to_owned(),
        });
    }
    let key_der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| pem_error(key, &e))?;
    build_server_config(chain, key_der)
}

/// A server configuration for one certificate chain and its key: TLS 1.2
/// and 1.3 on aws-lc-rs, HTTP/1.1 (WebSocket upgrades need it).
pub fn build_server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let mut config = ServerConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The self-signed certificate and key files in `data_dir`, generated when
/// the certificate does not exist yet. Returns (certificate, key).
pub fn self_signed(data_dir: &Path) -> Result<(PathBuf, PathBuf), TlsError> {
    let cert = data_dir.join(SELF_SIGNED_CERT);
    let key = data_dir.join(SELF_SIGNED_KEY);
    if cert.exists() {
        if !key.exists() {
            return Err(TlsError::MissingKey { cert, key });
        }
        return Ok((cert, key));
    }
    let names: Vec<String> = SELF_SIGNED_NAMES.iter().map(|n| (*n).to_owned()).collect();
    let mut params = rcgen::CertificateParams::new(names)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Oriole self-signed (localhost)");
    let key_pair = rcgen::KeyPair::generate()?;
    let certificate = params.self_signed(&key_pair)?;
    // The key first: the certificate's presence says the pair is complete.
    let key_pem = Zeroizing::new(key_pair.serialize_pem());
    write_atomically(&key, key_pem.as_bytes())?;
    write_atomically(&cert, certificate.pem().as_bytes())?;
    tracing::info!(cert = %cert.display(), "generated a self-signed TLS certificate");
    Ok((cert, key))
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

fn pem_error(path: &Path, error: &rustls::pki_types::pem::Error) -> TlsError {
    TlsError::Pem {
        path: path.to_owned(),
        reason: format!("not a usable PEM file: {error}"),
    }
}

/// Write `contents` to `path` with mode 0600 through a temporary file and a
/// rename, so a crash never leaves half a key behind.
fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), TlsError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

    let fail = |source| TlsError::Write {
        path: path.to_owned(),
        source,
    };
    let mut temp = path.as_os_str().to_owned();
    temp.push(format!(".{}.tmp", std::process::id()));
    let temp = PathBuf::from(temp);
    let write = || -> io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)?;
        // A stale temporary file keeps its old mode.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        fail(e)
    })
}

/// Accepts TCP connections and hands over only those whose TLS handshake
/// succeeded. Each handshake runs in its own task under
/// [`HANDSHAKE_TIMEOUT`], so a slow client, or one speaking plain HTTP,
/// holds up nobody; failures are logged at debug level and the connection
/// dropped. Dropping the listener (at shutdown) aborts the handshakes still
/// in progress.
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    handshakes: JoinSet<Option<(TlsStream<TcpStream>, SocketAddr)>>,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, config: Arc<ServerConfig>) -> TlsListener {
        TlsListener {
            tcp,
            acceptor: TlsAcceptor::from(config),
            handshakes: JoinSet::new(),
        }
    }
}

impl std::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListener")
            .field("tcp", &self.tcp)
            .field("handshakes", &self.handshakes.len())
            .finish_non_exhaustive()
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    // Cancel-safe, as axum needs: every piece of state lives in `self`.
    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let room = self.handshakes.len() < MAX_PENDING_HANDSHAKES;
            tokio::select! {
                accepted = accept_tcp(&self.tcp), if room => match accepted {
                    Ok((tcp, peer)) => {
                        self.handshakes.spawn(handshake(self.acceptor.clone(), tcp, peer));
                    }
                    Err(e) => accept_error(e).await,
                },
                Some(done) = self.handshakes.join_next() => match done {
                    Ok(Some(connection)) => return connection,
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "TLS handshake task failed"),
                },
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// The next TCP connection, without Nagle's algorithm (see
/// [`crate::no_delay`]). Cancel-safe, as `TcpListener::accept` is.
async fn accept_tcp(tcp: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    let (mut stream, peer) = tcp.accept().await?;
    crate::no_delay(&mut stream);
    Ok((stream, peer))
}

async fn handshake(
    acceptor: TlsAcceptor,
    tcp: TcpStream,
    peer: SocketAddr,
) -> Option<(TlsStream<TcpStream>, SocketAddr)> {
    // The peer's address is personal data: it stays out of these logs.
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => Some((stream, peer)),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!("TLS handshake timed out");
            None
        }
    }
}

/// As axum does for plain TCP: a connection that died before it was
/// accepted is nothing; anything else (out of file descriptors, say) is
/// logged and waited out, rather than spinning.
async fn accept_error(error: io::Error) {
    if matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "accept failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_self_signed_pair_is_made_once_and_kept() {
        let data = tempfile::TempDir::new().expect("dir");
        std::fs::create_dir(data.path().join("keys")).expect("keys dir");
        let (cert, key) = self_signed(data.path()).expect("generate");
        assert_eq!(cert, data.path().join("tls-cert.pem"));
        assert_eq!(key, data.path().join("keys/tls-key.pem"));
        let mode = std::fs::metadata(&key).expect("key").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let first = std::fs::read(&cert).expect("cert");
        load_server_config(&cert, &key).expect("usable");

        let (again, _) = self_signed(data.path()).expect("reuse");
        assert_eq!(std::fs::read(again).expect("cert"), first);

        std::fs::remove_file(&key).expect("remove key");
        assert!(matches!(
            self_signed(data.path()),
            Err(TlsError::MissingKey { .. })
        ));
    }

    #[tokio::test]
    async fn connections_awaiting_a_handshake_have_nagle_off() {
        let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = tcp.local_addr().expect("addr");
        let _client = TcpStream::connect(addr).await.expect("connect");
        let (accepted, _) = accept_tcp(&tcp).await.expect("accept");
        assert!(accepted.nodelay().expect("nodelay"));
    }

    #[test]
    fn files_that_are_not_pem_are_clear_errors() {
        let data = tempfile::TempDir::new().expect("dir");
        let junk = data.path().join("junk.pem");
        std::fs::write(&junk, "hello").expect("write");
        let missing = data.path().join("missing.pem");
        let err = load_server_config(&junk, &junk).expect_err("junk");
        assert!(err.to_string().contains("junk.pem"), "{err}");
        let err = load_server_config(&missing, &junk).expect_err("missing");
        assert!(matches!(err, TlsError::Read { .. }), "{err}");

        // A certificate with somebody else's key.
        std::fs::create_dir(data.path().join("keys")).expect("keys dir");
        let (cert, _) = self_signed(data.path()).expect("generate");
        let other = rcgen::KeyPair::generate().expect("key");
        let other_key = data.path().join("other.pem");
        std::fs::write(&other_key, other.serialize_pem()).expect("write");
        let err = load_server_config(&cert, &other_key).expect_err("mismatch");
        assert!(matches!(err, TlsError::Config(_)), "{err}");
    }
}
