//! HTTPS for `genmount serve`: a certificate chain and its key read from PEM files (as nginx,
//! rclone and every ACME client write them), with rustls's safe defaults.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::ring;

use crate::error::OpenError;

/// An acceptor for the certificate chain in `cert` and the private key in `key`.
pub(super) fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, OpenError> {
    let bad = |what: &str, path: &Path, err: &dyn std::fmt::Display| {
        OpenError::Usage(format!("cannot use {what} {}: {err}", path.display()))
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|err| bad("the certificate", cert, &err))?;
    if chain.is_empty() {
        return Err(bad("the certificate", cert, &"no certificate in it"));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|err| bad("the key", key, &err))?;
    let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .and_then(|builder| {
            builder
                .with_no_client_auth()
                .with_single_cert(chain, private)
        })
        .map_err(|err| bad("the certificate and key", cert, &err))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
