//! `genmount serve`: the tree served over HTTP as a read-only WebDAV share and as web pages, with no
//! driver on any OS. This file listens, bounds each connection and stops on a signal; `http.rs`
//! answers requests, `davfs.rs` is dav-server's view of the tree, `tls.rs` loads certificates.

mod davfs;
mod http;
mod stall;
mod tls;

use std::sync::Arc;

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use self::stall::StallGuard;
use crate::error::OpenError;
use crate::vfs::{Ino, KernelCache, VfsTree};
use crate::web::ServeRequest;

/// The server keeps no caches of its own: nothing to invalidate after a refresh.
struct NoCache;

impl KernelCache for NoCache {
    fn entry(&self, _parent: Ino, _name: &[u8]) {}
    fn inode(&self, _ino: Ino) {}
}

/// Serves `tree` as `request` says until interrupted (Ctrl-C, SIGTERM); SIGHUP re-reads.
pub fn serve<T: VfsTree>(tree: T, request: ServeRequest) -> Result<(), OpenError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| OpenError::Other(format!("cannot start the server: {err}")))?;
    let tree = Arc::new(tree);
    tree.set_kernel_cache(Box::new(NoCache));
    let result = runtime.block_on(run(tree.clone(), request));
    // Requests still running are abandoned with the runtime, then locks are released.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    tree.shutdown();
    result
}

async fn run<T: VfsTree>(tree: Arc<T>, mut request: ServeRequest) -> Result<(), OpenError> {
    let tls = match &request.tls {
        Some((cert, key)) => Some(tls::acceptor(cert, key)?),
        None => None,
    };
    let listener = TcpListener::bind(request.addr).await.map_err(|err| {
        OpenError::Mountpoint(format!("cannot listen on {}: {err}", request.addr))
    })?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!("serving on {scheme}://{}/", request.addr);
    crate::session::spawn_background(tree.clone(), request.refresh_interval);
    if let Some(ready) = request.ready.take() {
        let _ = ready.send(());
    }
    let server = Arc::new(http::Server::new(tree.clone(), request.credentials.take()));
    let limits = request.limits;
    let slots = Arc::new(Semaphore::new(limits.connections));
    let stop = stop_signal(tree);
    tokio::pin!(stop);
    loop {
        // A free slot first: past the limit, new connections wait in the kernel's backlog.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return Ok(());
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut stop => return Ok(()),
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors, say: wait rather than spin on the same error.
                tracing::warn!("cannot accept a connection: {err}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let server = server.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let builder = connection_builder(limits);
            let result = match tls {
                None => {
                    let io = StallGuard::new(TokioIo::new(stream), limits.stall_timeout);
                    http::serve_connection(builder, io, server).await
                }
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await;
                    match handshake {
                        Ok(Ok(stream)) => {
                            let io = StallGuard::new(TokioIo::new(stream), limits.stall_timeout);
                            http::serve_connection(builder, io, server).await
                        }
                        _ => Ok(()),
                    }
                }
            };
            if let Err(err) = result {
                tracing::debug!(%peer, "connection ended: {err}");
            }
        });
    }
}

/// HTTP/1.1 with a deadline for each request's headers (slow-header clients are cut off).
fn connection_builder(limits: crate::web::Limits) -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(64 * 1024);
    builder
}

/// Completes on Ctrl-C or SIGTERM; SIGHUP re-reads the repository, as for a mount.
async fn stop_signal<T: VfsTree>(tree: Arc<T>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return,
                _ = term.recv() => return,
                _ = hup.recv() => {
                    let tree = tree.clone();
                    let refreshed = tokio::task::spawn_blocking(move || tree.refresh()).await;
                    if let Ok(Err(err)) = refreshed {
                        tracing::warn!("refresh on SIGHUP failed: {err}");
                    }
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tree;
        let _ = tokio::signal::ctrl_c().await;
    }
}
