//! One HTTP request: the password checked, unbounded requests refused, folders answered as pages or
//! tar streams (`web::html`, `web::archive`), everything else handed to dav-server read-only.

use std::convert::Infallible;
use std::io::{self, Write};
use std::sync::Arc;

use bytes::Bytes;
use dav_server::davpath::DavPath;
use dav_server::{DavHandler, DavMethodSet};
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::rt::{Read, Write as HyperWrite};
use hyper::service::service_fn;
use tokio::sync::mpsc;
use tracing::Instrument;

use super::davfs::DavTree;
use crate::meta::FileKind;
use crate::vfs::VfsTree;
use crate::web::access::Credentials;
use crate::web::route::{self, Refusal, Route};
use crate::web::{archive, html, listing, path};

type Body = UnsyncBoxBody<Bytes, io::Error>;

/// dav-server reads files in pieces of this size: large enough to amortise a tree read.
const READ_BUF: usize = 256 * 1024;
/// A tar stream is sent in chunks of this size, at most `TAR_QUEUE` of them waiting for a slow client.
const TAR_CHUNK: usize = 256 * 1024;
const TAR_QUEUE: usize = 4;

pub(super) struct Server<T: VfsTree> {
    tree: Arc<T>,
    dav: DavHandler,
    credentials: Option<Credentials>,
}

impl<T: VfsTree> Server<T> {
    pub(super) fn new(tree: Arc<T>, credentials: Option<Credentials>) -> Server<T> {
        let dav = DavHandler::builder()
            .filesystem(Box::new(DavTree { tree: tree.clone() }))
            .methods(DavMethodSet::WEBDAV_RO)
            .read_buf_size(READ_BUF)
            .build_handler();
        Server {
            tree,
            dav,
            credentials,
        }
    }
}

/// Serves one connection until the client closes it.
pub(super) async fn serve_connection<T: VfsTree, I>(
    builder: hyper::server::conn::http1::Builder,
    io: I,
    server: Arc<Server<T>>,
) -> Result<(), hyper::Error>
where
    I: Read + HyperWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request| {
        let server = server.clone();
        async move { Ok::<_, Infallible>(server.answer(request).await) }
    });
    builder.serve_connection(io, service).await
}

impl<T: VfsTree> Server<T> {
    async fn answer(&self, request: Request<Incoming>) -> Response<Body> {
        let span = tracing::debug_span!("http", method = %request.method(), uri = %request.uri());
        self.answer_in_span(request).instrument(span).await
    }

    async fn answer_in_span(&self, request: Request<Incoming>) -> Response<Body> {
        if let Some(refusal) = self.refusal(&request) {
            return refused(refusal);
        }
        let method = request.method();
        if (method == Method::GET || method == Method::HEAD)
            && let Some(response) = self.folder(&request).await
        {
            return response;
        }
        let response = self.dav.handle(request).await;
        response.map(|body| body.boxed_unsync())
    }

    /// What is refused before any work: a wrong password, a foreign host name on a share without
    /// one, a method that writes, an unbounded PROPFIND, a hostile Range.
    fn refusal(&self, request: &Request<Incoming>) -> Option<Refusal> {
        let headers = request.headers();
        let get = |name| headers.get(name).map(HeaderValue::as_bytes);
        let stranger = match &self.credentials {
            Some(credentials) => {
                (!credentials.accepts(get(header::AUTHORIZATION))).then_some(Refusal {
                    status: 401,
                    reason: "authentication required",
                })
            }
            None => route::refuse_host(get(header::HOST)),
        };
        stranger
            .or_else(|| {
                route::refuse(
                    request.method().as_str(),
                    get(HeaderName::from_static("depth")),
                )
            })
            .or_else(|| route::refuse_range(get(header::RANGE)))
    }

    /// A GET or HEAD of a folder: its page or its tar stream. `None`: not a folder.
    async fn folder(&self, request: &Request<Incoming>) -> Option<Response<Body>> {
        let uri = request.uri();
        let bad_path = Refusal {
            status: 400,
            reason: "bad path",
        };
        let Ok(dav_path) = DavPath::new(uri.path()) else {
            return Some(refused(bad_path));
        };
        let raw = dav_path.as_bytes().to_vec();
        if path::components(&raw).is_none() {
            return Some(refused(bad_path));
        }
        if !self
            .run(raw.clone(), |held, _| Some(held.kind() == FileKind::Dir))
            .await?
        {
            return None;
        }
        if let Some(location) = canonical(uri, &dav_path) {
            return Some(redirect(&location));
        }
        let head = request.method() == Method::HEAD;
        Some(
            match route::route(request.method().as_str(), uri.query(), true) {
                Err(refusal) => refused(refusal),
                Ok(Route::Archive) => self.archive(raw, head),
                Ok(_) => self.page(raw, head).await,
            },
        )
    }

    /// The folder's web page.
    async fn page(&self, raw: Vec<u8>, head: bool) -> Response<Body> {
        let listed = self.run(raw, |held, parts| {
            let listed = listing::list(held, parts, true).ok()?;
            // The root of generations is the one with a `latest` link.
            let generations = parts.is_empty()
                && listed
                    .items
                    .iter()
                    .any(|i| i.name == b"latest" && i.link.is_some());
            Some(html::page(parts, &listed, generations))
        });
        match listed.await {
            Some(text) => page(text, head),
            None => plain(500, "the folder cannot be listed"),
        }
    }

    /// Resolves `raw` on the blocking pool and runs `work` on what it reached. `None`: not found.
    async fn run<R: Send + 'static>(
        &self,
        raw: Vec<u8>,
        work: impl FnOnce(&path::Held<T>, &[&[u8]]) -> Option<R> + Send + 'static,
    ) -> Option<R> {
        let tree = self.tree.clone();
        tokio::task::spawn_blocking(move || {
            let parts = path::components(&raw)?;
            let held = path::resolve(&tree, &parts).ok()?;
            work(&held, &parts)
        })
        .await
        .ok()?
    }

    /// The folder as a tar stream, written on the blocking pool as the client takes it.
    fn archive(&self, raw: Vec<u8>, head: bool) -> Response<Body> {
        let parts = path::components(&raw).unwrap_or_default();
        let top = parts.last().map_or(b"genmount".to_vec(), |p| p.to_vec());
        let builder = Response::builder()
            .header(header::CONTENT_TYPE, "application/x-tar")
            .header(header::CONTENT_DISPOSITION, disposition(&top));
        if head {
            return builder
                .body(empty())
                .unwrap_or_else(|_| plain(500, "bad header"));
        }
        let (sender, receiver) = mpsc::channel(TAR_QUEUE);
        let tree = self.tree.clone();
        tokio::task::spawn_blocking(move || {
            let parts = path::components(&raw).unwrap_or_default();
            let out = ChunkWriter {
                sender: sender.clone(),
                chunk: Vec::with_capacity(TAR_CHUNK),
            };
            let written =
                archive::write_tar(&tree, &parts, &top, out).and_then(|mut out| out.send());
            match written {
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::BrokenPipe => {
                    tracing::debug!("tar download: {err}");
                }
                Err(err) => {
                    tracing::warn!("tar download ended early: {err}");
                    let _ = sender.blocking_send(Err(err));
                }
            }
        });
        let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
            let next = receiver.recv().await?;
            Some((next.map(Frame::data), receiver))
        });
        builder
            .body(StreamBody::new(stream).boxed_unsync())
            .unwrap_or_else(|_| plain(500, "bad header"))
    }
}

/// `Write` into the response stream, a chunk at a time; a client that left ends the walk.
struct ChunkWriter {
    sender: mpsc::Sender<io::Result<Bytes>>,
    chunk: Vec<u8>,
}

impl ChunkWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(TAR_CHUNK));
        self.sender
            .blocking_send(Ok(Bytes::from(chunk)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = TAR_CHUNK - self.chunk.len();
        let n = data.len().min(room);
        self.chunk.extend_from_slice(&data[..n]);
        if self.chunk.len() == TAR_CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// Where a folder's URL should be, if the request did not use that form: with its trailing `/`
/// (links on the page are relative to it), without `//`, `.` or `..`. Built from the normalised
/// path, so that `//host` can never become a redirect to another site.
fn canonical(uri: &http::Uri, normalised: &DavPath) -> Option<String> {
    let path = normalised.as_url_string();
    let path = format!("{}/", path.trim_end_matches('/'));
    let asked: Vec<u8> = percent_encoding::percent_decode(uri.path().as_bytes()).collect();
    let wanted: Vec<u8> = percent_encoding::percent_decode(path.as_bytes()).collect();
    if asked == wanted {
        return None;
    }
    Some(match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path,
    })
}

/// `attachment` with an ASCII fallback name and the exact name in RFC 5987 form.
fn disposition(top: &[u8]) -> String {
    let ascii: String = String::from_utf8_lossy(top)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "attachment; filename=\"{ascii}.tar\"; filename*=UTF-8''{}.tar",
        html::encode(top)
    )
}

fn empty() -> Body {
    Full::new(Bytes::new())
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn page(text: String, head: bool) -> Response<Body> {
    let length = text.len();
    let body = if head {
        empty()
    } else {
        Full::new(Bytes::from(text))
            .map_err(|n| match n {})
            .boxed_unsync()
    };
    Response::builder()
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CONTENT_LENGTH, length)
        .header(header::CACHE_CONTROL, "no-cache")
        .header(
            "content-security-policy",
            "default-src 'none'; style-src 'unsafe-inline'",
        )
        .header("x-content-type-options", "nosniff")
        .body(body)
        .unwrap_or_else(|_| plain(500, "bad header"))
}

fn plain(status: u16, text: &'static str) -> Response<Body> {
    let mut response = Response::new(
        Full::new(Bytes::from_static(text.as_bytes()))
            .map_err(|n| match n {})
            .boxed_unsync(),
    );
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn refused(refusal: Refusal) -> Response<Body> {
    let mut response = plain(refusal.status, refusal.reason);
    let headers = response.headers_mut();
    match refusal.status {
        405 => {
            headers.insert(header::ALLOW, HeaderValue::from_static(route::ALLOWED));
        }
        401 => {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"genmount\", charset=\"UTF-8\""),
            );
        }
        _ => {}
    }
    response
}

fn redirect(location: &str) -> Response<Body> {
    let mut response = plain(308, "moved");
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}
