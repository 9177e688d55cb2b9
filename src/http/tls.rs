//! TLS in front of warp (warp 0.4 has no TLS): a rustls acceptor (ring provider) on a
//! TCP listener that reads each ClientHello first to pick the cipher-suite order
//! ([`super::suites`]), each connection served by hyper-util with `warp::service(routes)`, and
//! the client's address added to the request as a [`ClientAddr`] extension.
//! Also: load the configured certificate, or generate a self-signed one on first start.

use super::suites;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::Acceptor;
use tokio_rustls::rustls::{CipherSuite, ServerConfig};
use tokio_rustls::LazyConfigAcceptor;
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

/// The server's two rustls configs, the same but for whose cipher-suite order wins; which
/// one a connection gets is decided from its ClientHello ([`suites::client_order_wins`]).
#[derive(Clone)]
pub struct ServerTls {
    /// Our order wins: the suite cheapest on this CPU ([`suites::cheapest_first`]).
    ours: Arc<ServerConfig>,
    /// The client's order wins (a client without AES instructions, on a board with them).
    clients: Arc<ServerConfig>,
}

impl ServerTls {
    /// The config for a connection whose ClientHello offered `offered`.
    pub fn for_client(&self, offered: &[CipherSuite]) -> Arc<ServerConfig> {
        if suites::client_order_wins(offered, &self.ours.crypto_provider().cipher_suites) {
            self.clients.clone()
        } else {
            self.ours.clone()
        }
    }
}

/// Builds the rustls server configs from PEM files, for this CPU (`PERISCOPE_TLS_CIPHERS`
/// overrides what it says).
pub fn server_config(cert: &Path, key: &Path) -> Result<ServerTls, TlsError> {
    let chacha_first = prefers_chacha20_here();
    tracing::info!(target: "http", chacha20_first = chacha_first, "tls cipher order");
    server_config_for(cert, key, chacha_first)
}

/// Whether this process puts ChaCha20-Poly1305 first: `PERISCOPE_TLS_CIPHERS`, else whether
/// the CPU lacks AES instructions ([`prefer_chacha20`]).
fn prefers_chacha20_here() -> bool {
    prefer_chacha20(
        std::env::var("PERISCOPE_TLS_CIPHERS").ok().as_deref(),
        cpu_has_aes(),
    )
}

/// [`server_config`] with the cipher order given.
fn server_config_for(cert: &Path, key: &Path, chacha_first: bool) -> Result<ServerTls, TlsError> {
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
    provider.cipher_suites = suites::cheapest_first(provider.cipher_suites, chacha_first);
    let provider = Arc::new(provider);
    let build = |ignore_client_order: bool| -> Result<Arc<ServerConfig>, TlsError> {
        let mut config = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Setup(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs.clone(), key_der.clone_key())
            .map_err(|e| TlsError::Setup(e.to_string()))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        config.ignore_client_order = ignore_client_order;
        Ok(Arc::new(config))
    };
    Ok(ServerTls {
        ours: build(true)?,
        clients: build(false)?,
    })
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
pub async fn serve<F>(listener: TcpListener, tls: ServerTls, routes: F, cancel: CancellationToken)
where
    F: warp::Filter + Clone + Send + Sync + 'static,
    F::Extract: warp::Reply,
{
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
        let tls = tls.clone();
        let routes = routes.clone();
        tokio::spawn(async move {
            // The ClientHello first: it says whose cipher order wins (ServerTls::for_client).
            let handshake = tokio::time::timeout(std::time::Duration::from_secs(10), async {
                let start = LazyConfigAcceptor::new(Acceptor::default(), tcp).await?;
                let config = tls.for_client(start.client_hello().cipher_suites());
                start.into_stream(config).await
            })
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
    use warp::Filter;

    #[test]
    fn chacha20_goes_first_on_cpus_without_aes_or_when_asked_for() {
        assert!(prefer_chacha20(None, false), "a Pi 4: no AES instructions");
        assert!(!prefer_chacha20(None, true));
        assert!(!prefer_chacha20(Some("auto"), true));
        assert!(prefer_chacha20(Some("chacha20"), true));
        assert!(!prefer_chacha20(Some("aes"), false));
    }

    /// Accepts any server certificate (the test's own self-signed one).
    #[derive(Debug)]
    struct AnyCert(Arc<tokio_rustls::rustls::crypto::CryptoProvider>);

    impl tokio_rustls::rustls::client::danger::ServerCertVerifier for AnyCert {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &tokio_rustls::rustls::pki_types::ServerName<'_>,
            _: &[u8],
            _: tokio_rustls::rustls::pki_types::UnixTime,
        ) -> Result<
            tokio_rustls::rustls::client::danger::ServerCertVerified,
            tokio_rustls::rustls::Error,
        > {
            Ok(tokio_rustls::rustls::client::danger::ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &tokio_rustls::rustls::DigitallySignedStruct,
        ) -> Result<
            tokio_rustls::rustls::client::danger::HandshakeSignatureValid,
            tokio_rustls::rustls::Error,
        > {
            tokio_rustls::rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &tokio_rustls::rustls::DigitallySignedStruct,
        ) -> Result<
            tokio_rustls::rustls::client::danger::HandshakeSignatureValid,
            tokio_rustls::rustls::Error,
        > {
            tokio_rustls::rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<tokio_rustls::rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    /// The suite a TLS 1.3 client offering `order` (in that order) gets from `addr`.
    async fn negotiated(addr: SocketAddr, order: &[CipherSuite]) -> CipherSuite {
        let mut provider = tokio_rustls::rustls::crypto::ring::default_provider();
        provider.cipher_suites = order
            .iter()
            .filter_map(|want| {
                provider
                    .cipher_suites
                    .iter()
                    .find(|s| s.suite() == *want)
                    .copied()
            })
            .collect();
        let provider = Arc::new(provider);
        let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&tokio_rustls::rustls::version::TLS13])
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
            .with_no_client_auth();
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = tokio_rustls::rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .unwrap();
        tls.get_ref().1.negotiated_cipher_suite().unwrap().suite()
    }

    #[tokio::test]
    async fn each_connection_gets_the_cheapest_suite_unless_its_client_lacks_aes() {
        use CipherSuite as C;
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = ensure_certificate(None, dir.path(), &[]).unwrap();
        let (openssl, no_aes_browser) = (suites::OPENSSL_ORDER, suites::NO_AES_BROWSER_ORDER);
        let only_aes256 = [C::TLS13_AES_256_GCM_SHA384];
        // (board without AES?, client's order, suite it gets)
        let cases: [(bool, &[C], C); 5] = [
            (false, &openssl, C::TLS13_AES_128_GCM_SHA256),
            (false, &no_aes_browser, C::TLS13_CHACHA20_POLY1305_SHA256),
            (false, &only_aes256, C::TLS13_AES_256_GCM_SHA384),
            (true, &openssl, C::TLS13_CHACHA20_POLY1305_SHA256),
            (true, &only_aes256, C::TLS13_AES_256_GCM_SHA384),
        ];
        for (chacha_first, order, expected) in cases {
            let tls = server_config_for(&cert, &key, chacha_first).unwrap();
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let cancel = CancellationToken::new();
            let server = tokio::spawn(serve(
                listener,
                tls,
                warp::any().map(|| "ok"),
                cancel.clone(),
            ));
            let got = negotiated(addr, order).await;
            assert_eq!(
                got, expected,
                "chacha_first={chacha_first}, client {order:?}"
            );
            cancel.cancel();
            server.await.unwrap();
        }
    }
}
