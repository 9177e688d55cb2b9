//! TLS in front of warp (warp 0.4 has no TLS): a rustls acceptor (ring provider) on a
//! TCP listener, each connection served by hyper-util with `warp::service(routes)`, and the
//! client's address added to the request as a [`ClientAddr`] extension.
//! Also: load the configured certificate, or generate a self-signed one on first start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// Self-signed certificate file names in the state directory.
pub const CERT_FILE: &str = "tls-cert.pem";
/// Its key.
pub const KEY_FILE: &str = "tls-key.pem";

/// The client's address, readable in filters with `warp::ext::get::<ClientAddr>()`.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// TLS setup errors.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or written.
    #[error("tls: {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The PEM holds no usable certificate or key.
    #[error("tls: {path}: {message}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is missing.
        message: String,
    },
    /// Generating or installing the certificate failed.
    #[error("tls: {0}")]
    Setup(String),
}

/// Returns (cert, key) paths: the configured pair, or a self-signed pair in `state_dir`
/// (generated on first start for localhost and `extra_names`).
pub fn ensure_certificate(
    configured: Option<(PathBuf, PathBuf)>,
    state_dir: &Path,
    extra_names: &[String],
) -> Result<(PathBuf, PathBuf), TlsError> {
    if let Some(pair) = configured {
        return Ok(pair);
    }
    let (cert, key) = (state_dir.join(CERT_FILE), state_dir.join(KEY_FILE));
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    names.extend(extra_names.iter().cloned());
    let generated =
        rcgen::generate_simple_self_signed(names).map_err(|e| TlsError::Setup(e.to_string()))?;
    crate::auth::write_private(&key, &generated.signing_key.serialize_pem()).map_err(|source| {
        TlsError::Io {
            path: key.clone(),
            source,
        }
    })?;
    std::fs::write(&cert, generated.cert.pem()).map_err(|source| TlsError::Io {
        path: cert.clone(),
        source,
    })?;
    tracing::info!(target: "http", cert = %cert.display(), "generated a self-signed certificate");
    Ok((cert, key))
}

/// Builds the rustls server config from PEM files.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| TlsError::Io {
            path: p.into(),
            source,
        })
    };
    let cert_pem = read(cert)?;
    let key_pem = read(key)?;
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Pem {
            path: cert.into(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            path: cert.into(),
            message: "no certificate found".into(),
        });
    }
    let key_der: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|e| TlsError::Pem {
            path: key.into(),
            message: e.to_string(),
        })?
        .ok_or_else(|| TlsError::Pem {
            path: key.into(),
            message: "no private key found".into(),
        })?;
    let mut provider = tokio_rustls::rustls::crypto::ring::default_provider();
    let chacha_first = prefer_chacha20(
        std::env::var("PERISCOPE_TLS_CIPHERS").ok().as_deref(),
        cpu_has_aes(),
    );
    if chacha_first {
        provider.cipher_suites = chacha20_first(provider.cipher_suites);
    }
    tracing::info!(target: "http", chacha20_first = chacha_first, "tls cipher order");
    let mut config = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| TlsError::Setup(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    // Our order wins where it was chosen for this CPU; otherwise the client's (browsers put
    // AES-GCM first exactly when they have AES instructions themselves).
    config.ignore_client_order = chacha_first;
    Ok(Arc::new(config))
}

/// Whether ChaCha20-Poly1305 goes first: `PERISCOPE_TLS_CIPHERS` = `chacha20` or `aes` forces
/// it; otherwise (`auto`, unset) when the CPU has no AES instructions. The Raspberry Pi 4's
/// and Zero 2 W's SoCs (BCM2711, BCM2710A1) have none: there AES-GCM runs in plain code,
/// about three times slower than ChaCha20, and every MJPEG frame and page goes through it.
pub fn prefer_chacha20(setting: Option<&str>, cpu_has_aes: bool) -> bool {
    match setting {
        Some("chacha20") => true,
        Some("aes") => false,
        _ => !cpu_has_aes,
    }
}

/// `suites` with the ChaCha20-Poly1305 ones first (otherwise in their order).
pub fn chacha20_first(
    mut suites: Vec<tokio_rustls::rustls::SupportedCipherSuite>,
) -> Vec<tokio_rustls::rustls::SupportedCipherSuite> {
    suites.sort_by_key(|s| !format!("{:?}", s.suite()).contains("CHACHA20"));
    suites
}

/// Whether this CPU has AES (and carry-less multiply) instructions for AES-GCM.
fn cpu_has_aes() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("aes")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("aes")
            && std::arch::is_aarch64_feature_detected!("pmull")
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

/// Serves `routes` over TLS on `listener` until `cancel` fires.
pub async fn serve<F>(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    routes: F,
    cancel: CancellationToken,
) where
    F: warp::Filter + Clone + Send + Sync + 'static,
    F::Extract: warp::Reply,
{
    let acceptor = TlsAcceptor::from(tls);
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(target: "http", "accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = cancel.cancelled() => return,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let routes = routes.clone();
        tokio::spawn(async move {
            let handshake =
                tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(tcp))
                    .await;
            let stream = match handshake {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(target: "http", %peer, "tls handshake: {e}");
                    return;
                }
                Err(_) => return,
            };
            let svc = warp::service(routes);
            let svc = hyper::service::service_fn(
                move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ClientAddr(peer));
                    let mut svc = svc.clone();
                    async move { tower_service::Service::call(&mut svc, req).await }
                },
            );
            let io = hyper_util::rt::TokioIo::new(stream);
            let builder =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            if let Err(e) = builder.serve_connection_with_upgrades(io, svc).await {
                tracing::debug!(target: "http", %peer, "connection: {e}");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chacha20_goes_first_on_cpus_without_aes_or_when_asked() {
        assert!(prefer_chacha20(None, false), "a Pi 4: no AES instructions");
        assert!(!prefer_chacha20(None, true));
        assert!(!prefer_chacha20(Some("auto"), true));
        assert!(prefer_chacha20(Some("chacha20"), true));
        assert!(!prefer_chacha20(Some("aes"), false));
        let suites = tokio_rustls::rustls::crypto::ring::default_provider().cipher_suites;
        let n = suites.len();
        let names: Vec<String> = chacha20_first(suites)
            .iter()
            .map(|s| format!("{:?}", s.suite()))
            .collect();
        assert_eq!(names.len(), n, "nothing dropped");
        assert!(names[0].contains("CHACHA20"), "{names:?}");
        let last_chacha = names.iter().rposition(|n| n.contains("CHACHA20")).unwrap();
        let first_aes = names.iter().position(|n| n.contains("AES")).unwrap();
        assert!(last_chacha < first_aes, "{names:?}");
    }
}
