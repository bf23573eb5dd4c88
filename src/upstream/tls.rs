//! TLS to an https upstream: rustls (with the `ring` provider) over monoio through
//! `monoio-rustls`. The roots are the system's trust store (`rustls-native-certs`: the files
//! the distribution manages, or `SSL_CERT_FILE` / `SSL_CERT_DIR`), plus the CA certificates of
//! `--upstream-ca-file` for a private CA. Certificates are always verified: there is no
//! switch to turn verification off.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

/// The client configuration every core's connections share (immutable; read-only `Arc`).
pub(crate) fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    let system = rustls_native_certs::load_native_certs();
    for error in &system.errors {
        log::warn!("upstream TLS: a system root certificate could not be loaded: {error}");
    }
    let (system_added, system_ignored) = roots.add_parsable_certificates(system.certs);
    if system_ignored > 0 {
        log::debug!("upstream TLS: {system_ignored} system root certificates were not usable");
    }
    let mut file_added = 0;
    if let Some(path) = ca_file {
        for certificate in read_ca_file(path)? {
            roots
                .add(certificate)
                .map_err(|error| format!("{}: not a usable CA certificate: {error}", path.display()))?;
            file_added += 1;
        }
    }
    if roots.is_empty() {
        return Err("no trusted root certificates for the https upstream: the system has none and no \
                    --upstream-ca-file was given"
            .into());
    }
    log::debug!("upstream TLS: {system_added} system roots, {file_added} from the CA file");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("upstream TLS: {error}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The certificates of a PEM file: at least one, or an error naming the file.
fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let text = std::fs::read(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<_, _>>()
        .map_err(|error| format!("{}: not a PEM certificate file: {error}", path.display()))?;
    if certificates.is_empty() {
        return Err(format!("{}: no PEM certificate (-----BEGIN CERTIFICATE-----) in the file", path.display()));
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_files_must_hold_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        assert!(client_config(Some(&missing)).unwrap_err().contains("cannot read"));
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        assert!(client_config(Some(&empty)).unwrap_err().contains("no PEM certificate"));
        let key = rcgen::KeyPair::generate().unwrap();
        let certificate =
            rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap().self_signed(&key).unwrap();
        let good = dir.path().join("ca.pem");
        std::fs::write(&good, certificate.pem()).unwrap();
        let config = client_config(Some(&good)).unwrap();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }
}
