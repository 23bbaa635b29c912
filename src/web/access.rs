//! Who may use the server: where it may listen without a password, when a password may travel
//! without TLS, and the check of HTTP basic credentials (in constant time, never logged).

use std::net::SocketAddr;
use std::path::Path;

use base64::Engine;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::OpenError;

/// The one user the server knows, and that user's password.
pub struct Credentials {
    user: String,
    password: Zeroizing<Vec<u8>>,
}

impl Credentials {
    pub fn new(user: String, password: Vec<u8>) -> Credentials {
        Credentials {
            user,
            password: Zeroizing::new(password),
        }
    }

    /// Reads the password from the first line of `file` (as restic's `--password-file`).
    pub fn from_file(user: String, file: &Path) -> Result<Credentials, OpenError> {
        let text = Zeroizing::new(std::fs::read(file).map_err(|err| {
            OpenError::Credentials(format!(
                "cannot read the password file {}: {err}",
                file.display()
            ))
        })?);
        let line = text.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return Err(OpenError::Credentials(format!(
                "the password file {} is empty",
                file.display()
            )));
        }
        Ok(Credentials::new(user, line.to_vec()))
    }

    /// Whether an `Authorization` header carries this user and password (`Basic base64(user:pw)`).
    pub fn accepts(&self, header: Option<&[u8]>) -> bool {
        let Some(encoded) = header.and_then(|h| strip_scheme(h, b"basic ")) else {
            return false;
        };
        // A header of more than a few KiB is no password of ours; hyper bounds headers anyway.
        if encoded.len() > 4096 {
            return false;
        }
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim_ascii())
        else {
            return false;
        };
        let decoded = Zeroizing::new(decoded);
        let Some(colon) = decoded.iter().position(|&b| b == b':') else {
            return false;
        };
        let (user, password) = (&decoded[..colon], &decoded[colon + 1..]);
        let user_ok = user.ct_eq(self.user.as_bytes());
        let password_ok = password.ct_eq(&self.password);
        (user_ok & password_ok).into()
    }
}

/// `header` without its authentication scheme (compared without regard to case).
fn strip_scheme<'a>(header: &'a [u8], scheme: &[u8]) -> Option<&'a [u8]> {
    let head = header.get(..scheme.len())?;
    head.eq_ignore_ascii_case(scheme)
        .then(|| &header[scheme.len()..])
}

/// What the server is asked to protect itself with.
#[derive(Debug, Clone, Copy)]
pub struct Protection {
    pub password: bool,
    pub tls: bool,
    pub insecure: bool,
}

/// Refuses a setup that would expose backups: a non-loopback address without a password, or a
/// password sent in the clear over the network without `--insecure`.
pub fn check_listen(addr: SocketAddr, protection: Protection) -> Result<(), OpenError> {
    if addr.ip().is_loopback() {
        return Ok(());
    }
    if !protection.password {
        return Err(OpenError::Usage(format!(
            "{addr} is reachable from other machines: give --user and --user-password-file \
             (and --tls-cert/--tls-key), or listen on 127.0.0.1"
        )));
    }
    if !protection.tls && !protection.insecure {
        return Err(OpenError::Usage(format!(
            "the password would cross the network in the clear on {addr}: give --tls-cert and \
             --tls-key, or --insecure on a network you trust"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(text: &str) -> Vec<u8> {
        let encoded = base64::engine::general_purpose::STANDARD.encode(text);
        format!("Basic {encoded}").into_bytes()
    }

    #[test]
    fn basic_credentials_must_match_both_parts() {
        let creds = Credentials::new("ann".into(), b"s3cret:x".to_vec());
        assert!(creds.accepts(Some(&basic("ann:s3cret:x"))));
        assert!(creds.accepts(Some(b"basic YW5uOnMzY3JldDp4")));
        for bad in [
            "ann:s3cret",
            "bob:s3cret:x",
            "ann",
            ":s3cret:x",
            "ann:s3cret:xy",
        ] {
            assert!(!creds.accepts(Some(&basic(bad))), "{bad}");
        }
        assert!(!creds.accepts(None));
        assert!(!creds.accepts(Some(b"Bearer YW5uOnMzY3JldDp4")));
        assert!(!creds.accepts(Some(b"Basic !!!")));
        assert!(!creds.accepts(Some(b"Bas")));
    }

    #[test]
    fn only_loopback_may_go_without_a_password() {
        let open = Protection {
            password: false,
            tls: false,
            insecure: false,
        };
        assert!(check_listen("127.0.0.1:4918".parse().unwrap(), open).is_ok());
        assert!(check_listen("[::1]:4918".parse().unwrap(), open).is_ok());
        assert!(check_listen("0.0.0.0:4918".parse().unwrap(), open).is_err());
        let clear = Protection {
            password: true,
            ..open
        };
        assert!(check_listen("0.0.0.0:4918".parse().unwrap(), clear).is_err());
        let tls = Protection { tls: true, ..clear };
        assert!(check_listen("0.0.0.0:4918".parse().unwrap(), tls).is_ok());
        let insecure = Protection {
            insecure: true,
            ..clear
        };
        assert!(check_listen("10.0.0.1:4918".parse().unwrap(), insecure).is_ok());
    }

    #[test]
    fn password_file_takes_its_first_line() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("pw");
        std::fs::write(&file, b"hunter2\r\nignored\n")?;
        let creds = Credentials::from_file("u".into(), &file)?;
        assert!(creds.accepts(Some(&basic("u:hunter2"))));
        std::fs::write(&file, b"\n")?;
        assert!(Credentials::from_file("u".into(), &file).is_err());
        Ok(())
    }
}
