//! Optional in-process TLS for the API: `[api] tls_cert` and `tls_key` (PEM files) turn the
//! listener into an HTTPS one; without them the API is plain HTTP, as before.
//!
//! This module owns loading the two files once at start (refusing an unreadable or unparsable
//! file with the key and the path named, never any of its content) and the listener that
//! performs the handshakes, so that axum serves the same router with the same graceful shutdown
//! either way. rustls runs on the *ring* provider, the one `reqwest` already brings into the
//! build (no second crypto library, nothing that needs cmake or nasm).
//!
//! Handshakes do not run in the accept loop: each one is its own task, at most
//! [`MAX_HANDSHAKES`] at a time and each cut off after [`HANDSHAKE_TIMEOUT`], so a client that
//! connects and says nothing holds one slot for a few seconds and never stalls other clients.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::settings::ApiSettings;

/// TLS handshakes in progress at once; a connection arriving above it is closed at once.
pub const MAX_HANDSHAKES: usize = 256;

/// Longest a client may take to complete its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A loaded certificate chain and key, ready to serve. Its `Debug` shows nothing of the key.
#[derive(Clone)]
pub struct TlsConfig {
    server: Arc<ServerConfig>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsConfig { .. }")
    }
}

/// A TLS file that cannot be used: names the configuration key and the file, never its content.
#[derive(Debug, thiserror::Error)]
#[error("api.{key}: {}: {kind}", path.display())]
pub struct TlsConfigError {
    /// `tls_cert` or `tls_key`.
    pub key: &'static str,
    /// The file at fault.
    pub path: PathBuf,
    /// What is wrong with it.
    pub kind: TlsConfigErrorKind,
}

/// What is wrong with a TLS file.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigErrorKind {
    /// The file cannot be read (missing, permissions...).
    #[error("cannot read: {0}")]
    Read(io::Error),
    /// The file is not well-formed PEM.
    #[error("not valid PEM: {0}")]
    Pem(&'static str),
    /// The certificate file holds no `CERTIFICATE` section.
    #[error("no certificate in the file (expected a `BEGIN CERTIFICATE` section)")]
    NoCertificate,
    /// The key file holds no private key section.
    #[error("no private key in the file (expected a PKCS#8, PKCS#1 or SEC1 `BEGIN … PRIVATE KEY` section)")]
    NoKey,
    /// rustls refused the pair: a key it cannot use, a certificate it cannot parse, or a key
    /// that is not the certificate's.
    #[error("refused with the certificate in {}: {detail}", cert.display())]
    Refused {
        /// The certificate file the key was checked against.
        cert: PathBuf,
        /// rustls' reason.
        detail: String,
    },
}

impl TlsConfig {
    /// The TLS configuration `[api]` asks for: `None` without `tls_cert`/`tls_key` (plain HTTP).
    /// One without the other is refused here too, not only by `Settings::parse`.
    pub fn from_settings(api: &ApiSettings) -> Result<Option<TlsConfig>, TlsConfigError> {
        match (&api.tls_cert, &api.tls_key) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => Self::from_pem_files(cert, key).map(Some),
            (Some(cert), None) => Err(TlsConfigError {
                key: "tls_key",
                path: cert.clone(),
                kind: TlsConfigErrorKind::NoKey,
            }),
            (None, Some(key)) => Err(TlsConfigError {
                key: "tls_cert",
                path: key.clone(),
                kind: TlsConfigErrorKind::NoCertificate,
            }),
        }
    }

    /// Loads a certificate chain (leaf first) and its private key from PEM files.
    pub fn from_pem_files(cert_path: &Path, key_path: &Path) -> Result<TlsConfig, TlsConfigError> {
        let cert_err = |kind| TlsConfigError {
            key: "tls_cert",
            path: cert_path.to_path_buf(),
            kind,
        };
        let key_err = |kind| TlsConfigError {
            key: "tls_key",
            path: key_path.to_path_buf(),
            kind,
        };
        let cert_pem =
            std::fs::read(cert_path).map_err(|e| cert_err(TlsConfigErrorKind::Read(e)))?;
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| cert_err(pem_error(e, TlsConfigErrorKind::NoCertificate)))?;
        if chain.is_empty() {
            return Err(cert_err(TlsConfigErrorKind::NoCertificate));
        }
        let key_pem = std::fs::read(key_path).map_err(|e| key_err(TlsConfigErrorKind::Read(e)))?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| key_err(pem_error(e, TlsConfigErrorKind::NoKey)))?;
        let refused = |e: rustls::Error| {
            key_err(TlsConfigErrorKind::Refused {
                cert: cert_path.to_path_buf(),
                detail: e.to_string(),
            })
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut server = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(refused)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(refused)?;
        // axum is built with HTTP/1 only; offering h2 would break clients that pick it.
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsConfig {
            server: Arc::new(server),
        })
    }
}

/// Our own words for a PEM error: the parser's messages quote lines of the file, and a line of
/// a key file is key material.
fn pem_error(e: pem::Error, none_found: TlsConfigErrorKind) -> TlsConfigErrorKind {
    match e {
        pem::Error::NoItemsFound => none_found,
        pem::Error::MissingSectionEnd { .. } => {
            TlsConfigErrorKind::Pem("a section has no `-----END` line")
        }
        pem::Error::IllegalSectionStart { .. } => {
            TlsConfigErrorKind::Pem("a `-----BEGIN` line is malformed")
        }
        pem::Error::Base64Decode(_) => TlsConfigErrorKind::Pem("a section is not valid base64"),
        pem::Error::SectionTooLarge => TlsConfigErrorKind::Pem("a section is too large"),
        pem::Error::Io(e) => TlsConfigErrorKind::Read(e),
        _ => TlsConfigErrorKind::Pem("unreadable"),
    }
}

/// A TCP listener whose connections come out TLS-established, for `axum::serve`. Dropping it
/// (axum does when graceful shutdown begins) stops accepting.
pub struct TlsListener {
    local: SocketAddr,
    established: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    accept_loop: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Starts accepting on `listener`; must be called inside a tokio runtime.
    pub fn new(listener: TcpListener, tls: &TlsConfig) -> io::Result<TlsListener> {
        let local = listener.local_addr()?;
        let (tx, established) = mpsc::channel(64);
        let acceptor = TlsAcceptor::from(tls.server.clone());
        let accept_loop = tokio::spawn(accept_loop(listener, acceptor, tx));
        Ok(TlsListener {
            local,
            established,
            accept_loop,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.established.recv().await {
            Some(conn) => conn,
            // The accept loop only ends when this listener is dropped; never reached.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    established: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    let slots = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                // Out of file descriptors and the like: retrying at once would spin.
                tracing::warn!(error = %e, "API: accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "API: too many TLS handshakes in progress; connection closed");
            continue;
        };
        // As on the plain listener: no Nagle delay on the check hot path's small answers.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        let acceptor = acceptor.clone();
        let established = established.clone();
        tokio::spawn(async move {
            let _slot = slot;
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => {
                    // Fails only once the listener is gone (shutdown): the connection is dropped.
                    let _ = established.send((tls, peer)).await;
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "API: TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "API: TLS handshake timed out"),
            }
        });
    }
}
