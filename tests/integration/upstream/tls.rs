//! An https upstream: s3core behind a TLS terminator written here (rustls through
//! monoio-rustls, on a thread of its own), with a certificate from a test CA made in the test
//! (rcgen). Trusted through `--upstream-ca-file`, refused without it: the system's roots do
//! not know the test CA, and there is no way to turn verification off.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use monoio::io::{AsyncWriteRent, Splitable};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use s3core::config::{Args, Config};
use s3core::upstream::{GetOptions, PutOptions, Stage, Upstream, UpstreamError};

use super::operations::read_all;
use super::{run, write_file, PatternBody, PatternSink, UpstreamServer, ACCESS_KEY, SECRET_KEY};

/// A loopback TLS endpoint that relays every connection to `backend`. Its thread runs
/// until the test process ends.
struct TlsTerminator {
    port: u16,
    /// PEM of the CA that signed the endpoint's certificate.
    ca_pem: String,
}

impl TlsTerminator {
    fn start(backend: SocketAddr) -> TlsTerminator {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "s3core test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key")).expect("CA");
        let leaf_key = KeyPair::generate().expect("leaf key");
        let leaf_params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).expect("leaf params");
        let leaf = leaf_params.signed_by(&leaf_key, &ca).expect("leaf certificate");
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone(), ca.der().clone()], key)
            .expect("server certificate");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the terminator");
        let port = listener.local_addr().expect("address").port();
        // The runtime's accept must not block its thread (the relays run on it too).
        listener.set_nonblocking(true).expect("non-blocking listener");
        let acceptor = monoio_rustls::TlsAcceptor::from(Arc::new(config));
        std::thread::spawn(move || {
            let mut runtime =
                monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().enable_timer().build().expect("runtime");
            runtime.block_on(async move {
                let listener = monoio::net::TcpListener::from_std(listener).expect("monoio listener");
                while let Ok((stream, _)) = listener.accept().await {
                    let acceptor = acceptor.clone();
                    monoio::spawn(async move {
                        // A refused handshake (the client did not trust us) just ends here.
                        let Ok(tls) = acceptor.accept(stream).await else { return };
                        let Ok(plain) = monoio::net::TcpStream::connect_addr(backend).await else { return };
                        let (mut tls_read, mut tls_write) = tls.into_split();
                        let (mut plain_read, mut plain_write) = plain.into_split();
                        monoio::spawn(async move {
                            let _ = monoio::io::copy(&mut plain_read, &mut tls_write).await;
                            let _ = tls_write.shutdown().await;
                        });
                        let _ = monoio::io::copy(&mut tls_read, &mut plain_write).await;
                        let _ = plain_write.shutdown().await;
                    });
                }
            });
        });
        TlsTerminator { port, ca_pem: ca.pem() }
    }
}

/// The upstream settings the server would build from these flags.
fn from_flags(flags: &[&str]) -> Result<Upstream, String> {
    let args =
        Args::try_parse_from(std::iter::once("s3core").chain(flags.iter().copied())).map_err(|e| e.to_string())?;
    let config = Config::from_args(args)?;
    Ok(Upstream::new(config.upstream.expect("--upstream was given")))
}

#[test]
fn upstream_over_tls_trusted_through_the_ca_file_and_refused_without_it() {
    let backend = UpstreamServer::start(&[]);
    let terminator = TlsTerminator::start(backend.addr);
    let dir = tempfile::tempdir().expect("temp dir");
    let ca_file: PathBuf = write_file(dir.path(), "test-ca.pem", &terminator.ca_pem);
    let ca_file = ca_file.to_str().expect("path");
    let by_address = format!("https://127.0.0.1:{}", terminator.port);
    let by_name = format!("https://localhost:{}", terminator.port);
    let keys = ["--upstream-access-key", ACCESS_KEY, "--upstream-secret-key", SECRET_KEY];
    run(async {
        let trusted = from_flags(&[&["--upstream", &by_address, "--upstream-ca-file", ca_file][..], &keys].concat())
            .expect("https settings with a CA file");
        trusted.create_bucket("secure").await.expect("CreateBucket over TLS");
        let size = 8 << 20;
        let put = trusted.put_object("secure", "k", PatternBody::new(21, size), &PutOptions::default()).await;
        assert_eq!(put.expect("PUT over TLS").etag, Some(PatternBody::etag(21, size)));
        let mut sink = PatternSink::new(21, 0);
        trusted.get_object_into("secure", "k", &GetOptions::default(), &mut sink).await.expect("GET over TLS");
        assert_eq!((sink.received, sink.mismatch_at), (size, None));
        assert_eq!(trusted.connections_opened(), 1, "one TLS session carried every request");

        // The certificate names the host too: a name lookup, SNI and verification by name.
        let named = from_flags(&[&["--upstream", &by_name, "--upstream-ca-file", ca_file][..], &keys].concat())
            .expect("https settings by name");
        let (status, bytes) = read_all(&named, "secure", "k", &GetOptions::default()).await;
        assert_eq!((status, bytes.len() as u64), (200, size));

        // Without the CA file only the system's roots are trusted: refused, and not retried
        // (a certificate does not change by asking again).
        let untrusted = from_flags(&[&["--upstream", &by_address][..], &keys].concat()).expect("https settings");
        match untrusted.head_bucket("secure").await {
            Err(UpstreamError::Unavailable { attempts, cause }) => {
                assert_eq!((attempts, cause.stage), (1, Stage::Tls), "{cause}");
                let text = cause.to_string();
                assert!(text.contains("certificate") || text.contains("Certificate"), "{text}");
            }
            other => panic!("an untrusted certificate was accepted: {other:?}"),
        }
        // An http:// client cannot talk to the TLS port either: the exchange fails cleanly.
        let plain =
            from_flags(&[&["--upstream", &format!("http://127.0.0.1:{}", terminator.port)][..], &keys].concat())
                .expect("http settings");
        assert!(plain.head_bucket("secure").await.is_err());
    });
}
