//! What the WebDAV and web-page server (`genmount serve`, adapter in `platform/webdav/`) needs that
//! is not HTTP: paths resolved over the inode tree, listings, pages for people, tar streams of
//! folders, the request rules and who may connect. All of it is tested without a server.

pub mod access;
pub mod archive;
pub mod html;
pub mod listing;
pub mod path;
pub mod route;
// They make symlinks in snapshot folders: Unix only (the pure parts are tested in every build).
#[cfg(all(test, unix))]
mod tests;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc::Sender;
use std::time::Duration;

/// Everything the server adapter needs to serve a tree.
pub struct ServeRequest {
    pub addr: SocketAddr,
    /// The one user and password the server asks for, if any.
    pub credentials: Option<access::Credentials>,
    /// PEM certificate chain and private key: serve HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Re-read the repository this often, besides when `.pid` is read.
    pub refresh_interval: Option<Duration>,
    /// Told once the server listens (for `--daemon`).
    pub ready: Option<Sender<()>>,
    pub limits: Limits,
}

/// What one client may take, so that a slow or hostile one cannot stall the others.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once; more wait in the kernel's backlog.
    pub connections: usize,
    /// Time to send a request's headers (or finish a TLS handshake): slow-header clients are cut off.
    pub header_timeout: Duration,
    /// A client that takes none of a response for this long is cut off.
    pub stall_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            connections: 256,
            header_timeout: Duration::from_secs(30),
            stall_timeout: Duration::from_secs(60),
        }
    }
}
