//! Lock files of a repository behind restic's REST protocol: `POST`, `GET` and `DELETE` of
//! `{base}/locks/{id}` and `GET {base}/locks/` for the list, as restic itself does.

use std::io::Read;
use std::time::Duration;

use reqwest::Url;
use reqwest::blocking::{Client, RequestBuilder, Response};

use super::{LockStore, MAX_LOCK_SIZE};

/// A listing of locks bigger than this is refused (restic's lock ids are 64 hex digits, so this
/// is hundreds of thousands of locks).
const MAX_LISTING: u64 = 16 << 20;
/// A lock is a few hundred bytes: a server that does not answer in this time is not usable.
const TIMEOUT: Duration = Duration::from_secs(60);

pub struct RestLocks {
    client: Client,
    /// `{base}/locks/`, with the credentials of the location (reqwest sends them as basic auth).
    locks: Url,
}

impl RestLocks {
    /// `url` is the location without its `rest:` prefix.
    pub fn new(url: &str) -> std::io::Result<RestLocks> {
        let base = if url.ends_with('/') {
            url.to_string()
        } else {
            format!("{url}/")
        };
        let locks = Url::parse(&base)
            .and_then(|base| base.join("locks/"))
            .map_err(|err| std::io::Error::other(format!("the REST address is invalid: {err}")))?;
        let client = Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|err| std::io::Error::other(error_text(err)))?;
        Ok(RestLocks { client, locks })
    }

    fn url(&self, name: &str) -> std::io::Result<Url> {
        self.locks
            .join(name)
            .map_err(|err| std::io::Error::other(format!("locks/{name}: {err}")))
    }

    /// Sends `request`; anything but a success status is an error naming `what` was asked.
    fn send(&self, request: RequestBuilder, what: &str) -> std::io::Result<Response> {
        let response = request
            .send()
            .map_err(|err| std::io::Error::other(format!("{what}: {}", error_text(err))))?;
        let status = response.status();
        if status.is_success() {
            Ok(response)
        } else if status == reqwest::StatusCode::NOT_FOUND {
            Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{what}: HTTP {status}"),
            ))
        } else {
            Err(std::io::Error::other(format!("{what}: HTTP {status}")))
        }
    }
}

impl LockStore for RestLocks {
    fn names(&self) -> std::io::Result<Vec<String>> {
        let response = self.send(self.client.get(self.locks.clone()), "GET locks/")?;
        let body = bounded(response, MAX_LISTING, "GET locks/")?;
        serde_json::from_slice(&body)
            .map_err(|err| std::io::Error::other(format!("GET locks/: not a list of names: {err}")))
    }

    fn read(&self, name: &str) -> std::io::Result<Vec<u8>> {
        let what = format!("GET locks/{name}");
        let response = self.send(self.client.get(self.url(name)?), &what)?;
        bounded(response, MAX_LOCK_SIZE, &what)
    }

    fn write(&self, name: &str, data: &[u8]) -> std::io::Result<()> {
        let request = self.client.post(self.url(name)?).body(data.to_vec());
        self.send(request, &format!("POST locks/{name}")).map(drop)
    }

    fn remove(&self, name: &str) -> std::io::Result<()> {
        let request = self.client.delete(self.url(name)?);
        self.send(request, &format!("DELETE locks/{name}"))
            .map(drop)
    }
}

/// The body of `response`, refused when longer than `limit`.
fn bounded(response: Response, limit: u64, what: &str) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    response.take(limit + 1).read_to_end(&mut body)?;
    if body.len() as u64 > limit {
        return Err(std::io::Error::other(format!(
            "{what}: the answer is larger than {limit} bytes"
        )));
    }
    Ok(body)
}

/// reqwest's error and its causes on one line, without the URL (which may hold credentials).
fn error_text(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
