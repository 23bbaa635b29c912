//! Which part of the server answers a request: a page for a folder, a tar download, WebDAV for the
//! rest; and the requests refused before any work is done.

/// What a request becomes once its path is known to be a folder or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The folder as a web page.
    Page,
    /// The folder as one tar stream.
    Archive,
    /// Everything else: dav-server answers (files with Range and conditional GET, PROPFIND, OPTIONS,
    /// and 405 for every method that writes).
    Dav,
}

/// Routes a request for a path that is (`folder`) or is not a folder.
pub fn route(method: &str, query: Option<&str>, folder: bool) -> Result<Route, Refusal> {
    let reads = method == "GET" || method == "HEAD";
    if !(reads && folder) {
        return Ok(Route::Dav);
    }
    match download(query) {
        None => Ok(Route::Page),
        Some("tar") => Ok(Route::Archive),
        Some(_) => Err(Refusal {
            status: 400,
            reason: "download= takes tar",
        }),
    }
}

/// The value of `download=` in a query string.
fn download(query: Option<&str>) -> Option<&str> {
    query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("download="))
}

/// A request answered with an error before anything is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub reason: &'static str,
}

/// The methods a read-only share answers; `Allow` lists them with every 405.
pub const ALLOWED: &str = "GET, HEAD, OPTIONS, PROPFIND";

/// Refuses every method that is not a read with 405, and what would cost without bound: a
/// PROPFIND of a whole tree (`Depth: infinity`, which RFC 4918 lets a server refuse with 403, as
/// Apache's mod_dav does by default).
pub fn refuse(method: &str, depth: Option<&[u8]>) -> Option<Refusal> {
    if !ALLOWED.split(", ").any(|m| m == method) {
        return Some(Refusal {
            status: 405,
            reason: "the share is read-only",
        });
    }
    let infinite = depth.is_none_or(|d| d.trim_ascii().eq_ignore_ascii_case(b"infinity"));
    (method == "PROPFIND" && infinite).then_some(Refusal {
        status: 403,
        reason: "PROPFIND with Depth: infinity is not served; use Depth: 0 or 1",
    })
}

/// At most this many ranges in one `Range` header: a few are what video players and download
/// managers send; thousands would be thousands of reads for one request.
pub const MAX_RANGES: usize = 16;

/// Refuses a `Range` header with too many ranges, or numbers too large to add without overflow
/// (dav-server adds them unchecked).
pub fn refuse_range(range: Option<&[u8]>) -> Option<Refusal> {
    let range = range?;
    let too_many = range.iter().filter(|&&b| b == b',').count() >= MAX_RANGES;
    let too_long = range
        .split(|b| !b.is_ascii_digit())
        .any(|digits| digits.len() > 18);
    (too_many || too_long).then_some(Refusal {
        status: 416,
        reason: "too many ranges, or a range beyond any file",
    })
}

/// Without a password, a share answers only to loopback names: a web page the user visits could
/// otherwise point its own host name at 127.0.0.1 (DNS rebinding) and read the backups through
/// the user's browser. A request without `Host` (HTTP/1.0 tools) is no browser's.
pub fn refuse_host(host: Option<&[u8]>) -> Option<Refusal> {
    let host = host?;
    let name = match host.strip_prefix(b"[") {
        Some(rest) => rest.split(|&b| b == b']').next().unwrap_or_default(),
        None => host.split(|&b| b == b':').next().unwrap_or_default(),
    };
    let loopback = name.eq_ignore_ascii_case(b"localhost")
        || name == b"::1"
        || std::str::from_utf8(name)
            .ok()
            .and_then(|n| n.parse::<std::net::Ipv4Addr>().ok())
            .is_some_and(|ip| ip.is_loopback());
    (!loopback).then_some(Refusal {
        status: 403,
        reason: "this share answers to 127.0.0.1 and localhost only (give --user to serve other names)",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_read_as_pages_or_archives_and_the_rest_is_webdav() {
        assert_eq!(route("GET", None, true), Ok(Route::Page));
        assert_eq!(route("HEAD", Some("a=1"), true), Ok(Route::Page));
        assert_eq!(
            route("GET", Some("x=1&download=tar"), true),
            Ok(Route::Archive)
        );
        assert!(route("GET", Some("download=zip"), true).is_err());
        assert_eq!(route("GET", Some("download=tar"), false), Ok(Route::Dav));
        assert_eq!(route("PROPFIND", None, true), Ok(Route::Dav));
        assert_eq!(route("PUT", None, true), Ok(Route::Dav));
    }

    #[test]
    fn hostile_ranges_are_refused() {
        assert!(refuse_range(None).is_none());
        assert!(refuse_range(Some(b"bytes=0-99,200-")).is_none());
        assert!(refuse_range(Some(b"bytes=1-18446744073709551615")).is_some());
        assert!(refuse_range(Some(b"bytes=0-999999999999999999")).is_none());
        let many = format!("bytes={}", vec!["0-1"; MAX_RANGES + 1].join(","));
        assert!(refuse_range(Some(many.as_bytes())).is_some());
    }

    #[test]
    fn only_loopback_names_reach_a_share_without_a_password() {
        for good in [
            &b"127.0.0.1:4918"[..],
            b"localhost",
            b"LOCALHOST:80",
            b"[::1]:4918",
            b"127.1.2.3",
        ] {
            assert!(
                refuse_host(Some(good)).is_none(),
                "{}",
                String::from_utf8_lossy(good)
            );
        }
        assert!(refuse_host(None).is_none());
        for bad in [
            &b"evil.example:4918"[..],
            b"127.0.0.1.evil.example",
            b"[::2]",
            b"",
            b"localhost.evil",
        ] {
            assert!(
                refuse_host(Some(bad)).is_some(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn an_unbounded_propfind_is_refused() {
        assert!(refuse("PROPFIND", None).is_some());
        assert!(refuse("PROPFIND", Some(b"Infinity")).is_some());
        assert!(refuse("PROPFIND", Some(b"1")).is_none());
        assert!(refuse("PROPFIND", Some(b"0")).is_none());
        assert!(refuse("GET", None).is_none());
        for write in [
            "PUT",
            "DELETE",
            "MKCOL",
            "MOVE",
            "COPY",
            "LOCK",
            "PROPPATCH",
            "POST",
            "X",
        ] {
            assert_eq!(refuse(write, None).map(|r| r.status), Some(405), "{write}");
        }
    }
}
