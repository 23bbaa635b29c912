//! `genmount serve`: its arguments mapped to a layout and a server request, then served over HTTP
//! in the foreground or as a daemon that reports back once it listens.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::mpsc::Sender;
use std::time::Duration;

use super::args::ServeArgs;
use super::backend::Backend;
use super::mount::{UseLayout, layout_options, root_components, serve_as_daemon, with_layout};
use crate::error::OpenError;
use crate::repo::Repository;
use crate::vfs::Layout;
use crate::web::access::{self, Credentials, Protection};
use crate::web::{Limits, ServeRequest};

/// Serves as `args` say until interrupted.
pub(super) fn serve(args: ServeArgs, progress: bool) -> Result<(), OpenError> {
    args.shown.check_conflicts()?;
    let addr = parse_addr(&args.addr)?;
    let credentials = match (&args.user, &args.user_password_file) {
        (Some(user), Some(file)) => Some(Credentials::from_file(user.clone(), file)?),
        _ => None,
    };
    let protection = Protection {
        password: credentials.is_some(),
        tls: args.tls_cert.is_some(),
        insecure: args.insecure,
    };
    access::check_listen(addr, protection)?;
    let root = root_components(args.root.as_deref())?;
    let mut backend = Backend::detect(&args.repo, &args.access, progress)?;
    backend.ask_credentials()?;
    // Made in the process that serves (after a daemon forks): `.pid` shows its pid.
    let options = || layout_options(&args.shown, root.clone());
    let request = |ready: Option<Sender<()>>| ServeRequest {
        addr,
        credentials,
        tls: args.tls_cert.clone().zip(args.tls_key.clone()),
        refresh_interval: (args.refresh_interval > 0)
            .then(|| Duration::from_secs(args.refresh_interval)),
        ready,
        limits: Limits::default(),
    };
    let Some(daemon) = args.daemon.then(crate::platform::daemonize).transpose()? else {
        return with_layout(backend, options(), Server(request(None)));
    };
    serve_as_daemon(daemon, |ready| {
        with_layout(backend, options(), Server(request(Some(ready))))
    })
}

/// Serves the layout as the request says.
struct Server(ServeRequest);

impl UseLayout for Server {
    fn run<R: Repository>(self, layout: Layout<R>) -> Result<(), OpenError> {
        crate::platform::webdav::serve(layout, self.0)
    }
}

/// `ADDRESS:PORT`, a name (`localhost:4918`) resolved to its first address.
fn parse_addr(text: &str) -> Result<SocketAddr, OpenError> {
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    text.to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| OpenError::Usage(format!("'{text}' is not an ADDRESS:PORT to listen on")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_read_or_refused() {
        assert_eq!(parse_addr("127.0.0.1:80").ok(), "127.0.0.1:80".parse().ok());
        assert_eq!(parse_addr("[::1]:4918").ok(), "[::1]:4918".parse().ok());
        assert!(parse_addr("localhost:4918").is_ok_and(|a| a.ip().is_loopback()));
        assert!(matches!(parse_addr("nowhere"), Err(OpenError::Usage(_))));
        assert!(matches!(
            parse_addr("1.2.3.4:99999"),
            Err(OpenError::Usage(_))
        ));
    }
}
