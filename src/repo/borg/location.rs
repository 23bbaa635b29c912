//! Where a borg repository is, in the forms borg 1.x reads (`borg/helpers/parseformat.py`):
//! `ssh://[user@]host[:port]/path`, the scp-like `[user@]host:path`, `file:///path`, or a local
//! path. A remote path is passed to `borg serve` as borg passes it: `/./rel` and `rel` are
//! relative to the remote working directory, `/~/rel` and `~/rel` to the remote home.

use std::fmt;
use std::path::PathBuf;

/// A borg repository's location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BorgLocation {
    Local(PathBuf),
    Remote(RemoteLocation),
}

/// A repository reached through ssh and `borg serve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteLocation {
    pub user: Option<String>,
    /// As written, IPv6 addresses in brackets (`[::1]`).
    pub host: String,
    pub port: Option<u16>,
    /// The path as `borg serve` receives it.
    pub path: String,
}

impl RemoteLocation {
    /// The host as ssh takes it: without the brackets of an IPv6 address.
    pub fn ssh_host(&self) -> &str {
        self.host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(&self.host)
    }

    /// `user@host` or `host`, the argument ssh connects to.
    pub fn destination(&self) -> String {
        match &self.user {
            Some(user) => format!("{user}@{}", self.ssh_host()),
            None => self.ssh_host().to_string(),
        }
    }
}

/// Borg's canonical form, `ssh://user@host:port/path`, for messages and the mount's name.
impl fmt::Display for RemoteLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.starts_with('~') {
            format!("/{}", self.path)
        } else if !self.path.starts_with('/') {
            format!("/./{}", self.path)
        } else {
            self.path.clone()
        };
        f.write_str("ssh://")?;
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        f.write_str(&self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        f.write_str(&path)
    }
}

impl BorgLocation {
    /// Reads `text` as borg reads a repository argument (without `::archive`). `Err` for an
    /// `ssh://` location borg would refuse too.
    pub fn parse(text: &str) -> Result<BorgLocation, String> {
        if let Some(rest) = text.strip_prefix("ssh://") {
            return parse_ssh(rest).map(BorgLocation::Remote).ok_or_else(|| {
                format!("{text}: not an ssh location: ssh://[user@]host[:port]/path")
            });
        }
        if let Some(path) = text.strip_prefix("file://") {
            return Ok(BorgLocation::Local(PathBuf::from(path)));
        }
        if cfg!(windows) {
            // As borg on Windows: only local paths, whose drive letter is no host.
            return Ok(BorgLocation::Local(PathBuf::from(text)));
        }
        Ok(match parse_scp(text, true) {
            Some(remote) => BorgLocation::Remote(remote),
            None => BorgLocation::Local(PathBuf::from(text)),
        })
    }

    /// A location that is remote without a `borg:` prefix: `ssh://…` always, the scp-like form
    /// only with a user (`user@host:path`), so that no local path and no other scheme is taken
    /// for one.
    pub fn parse_unprefixed(text: &str) -> Option<Result<RemoteLocation, String>> {
        if text.starts_with("ssh://") {
            return Some(match BorgLocation::parse(text) {
                Ok(BorgLocation::Remote(remote)) => Ok(remote),
                Ok(BorgLocation::Local(_)) => Err(format!("{text}: not an ssh location")),
                Err(err) => Err(err),
            });
        }
        if cfg!(windows) {
            return None;
        }
        parse_scp(text, false).map(Ok)
    }
}

/// After `ssh://`: `[user@]host[:port]/path`.
fn parse_ssh(rest: &str) -> Option<RemoteLocation> {
    let (user, rest) = split_user(rest);
    let (host, rest) = split_host(rest)?;
    let (port, path) = match rest.strip_prefix(':') {
        Some(after) => {
            let digits = after.find('/').map_or(after, |end| &after[..end]);
            let port = digits.parse().ok().filter(|_| !digits.is_empty())?;
            (Some(port), &after[digits.len()..])
        }
        None => (None, rest),
    };
    if !path.starts_with('/') || path.len() < 2 || path.contains("::") {
        return None;
    }
    Some(RemoteLocation {
        user,
        host: host.to_string(),
        port,
        path: normpath_special(path),
    })
}

/// `[user@]host:path`; without `user_optional`, the user is required.
fn parse_scp(text: &str, user_optional: bool) -> Option<RemoteLocation> {
    let (user, rest) = split_user(text);
    if user.is_none() && !user_optional {
        return None;
    }
    let (host, rest) = split_host(rest)?;
    let path = rest.strip_prefix(':')?;
    // borg's scp path: not empty, not starting with ":" or "//" or "ssh://", no "::".
    if path.is_empty()
        || path.starts_with(':')
        || path.starts_with("//")
        || path.starts_with("ssh://")
        || path.contains("::")
    {
        return None;
    }
    Some(RemoteLocation {
        user,
        host: host.to_string(),
        port: None,
        path: normpath_special(path),
    })
}

/// An optional `user@` (a user has no `@`, `:` or `/`).
fn split_user(text: &str) -> (Option<String>, &str) {
    match text.split_once('@') {
        Some((user, rest)) if !user.is_empty() && !user.contains([':', '/']) => {
            (Some(user.to_string()), rest)
        }
        _ => (None, text),
    }
}

/// A host name or IPv4 address (no `:` or `/`), or an IPv6 address in brackets; and the rest.
fn split_host(text: &str) -> Option<(&str, &str)> {
    if text.starts_with('[') {
        let end = text.find(']')?;
        let inside = &text[1..end];
        let hex_colon = |c: char| c.is_ascii_hexdigit() || c == ':' || c == '.';
        if inside.is_empty() || !inside.chars().all(hex_colon) {
            return None;
        }
        return Some(text.split_at(end + 1));
    }
    let end = text.find([':', '/']).unwrap_or(text.len());
    let host = &text[..end];
    (!host.is_empty() && !host.ends_with(']')).then(|| text.split_at(end))
}

/// Python's `posixpath.normpath`, keeping a leading `/./` as borg's `normpath_special` does.
pub fn normpath_special(path: &str) -> String {
    let normal = normpath(path);
    if path.starts_with("/./") {
        format!("/.{normal}")
    } else {
        normal
    }
}

fn normpath(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    // POSIX keeps exactly two leading slashes; one, or three and more, become one.
    let leading = if path.starts_with("//") && !path.starts_with("///") {
        "//"
    } else if path.starts_with('/') {
        "/"
    } else {
        ""
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if !leading.is_empty() && parts.is_empty() => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    let joined = format!("{leading}{}", parts.join("/"));
    if joined.is_empty() {
        ".".into()
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(text: &str) -> Option<RemoteLocation> {
        match BorgLocation::parse(text) {
            Ok(BorgLocation::Remote(remote)) => Some(remote),
            _ => None,
        }
    }

    #[test]
    fn ssh_urls_as_borg_reads_them() {
        let r = remote("ssh://me@host.example:2222/srv/borg/").expect("remote");
        assert_eq!(r.user.as_deref(), Some("me"));
        assert_eq!((r.host.as_str(), r.port), ("host.example", Some(2222)));
        assert_eq!(r.path, "/srv/borg");
        assert_eq!(r.to_string(), "ssh://me@host.example:2222/srv/borg");
        let r = remote("ssh://host/./rel/repo").expect("remote");
        assert_eq!(
            (r.user, r.port, r.path.as_str()),
            (None, None, "/./rel/repo")
        );
        assert_eq!(
            remote("ssh://h/~/repo").map(|r| r.path),
            Some("/~/repo".into())
        );
        let v6 = remote("ssh://u@[::1]:22/r").expect("remote");
        assert_eq!((v6.host.as_str(), v6.ssh_host()), ("[::1]", "::1"));
        assert_eq!(v6.destination(), "u@::1");
        for bad in ["ssh://host", "ssh://host:x/r", "ssh:///r", "ssh://h/r::a"] {
            assert!(BorgLocation::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    #[cfg(not(windows))]
    fn scp_forms_and_local_paths() {
        let r = remote("me@backup:repos/laptop").expect("remote");
        assert_eq!((r.user.as_deref(), r.host.as_str()), (Some("me"), "backup"));
        assert_eq!(r.path, "repos/laptop");
        assert_eq!(r.to_string(), "ssh://me@backup/./repos/laptop");
        let home = remote("backup:~/repo").expect("remote");
        assert_eq!((home.user.as_deref(), home.path.as_str()), (None, "~/repo"));
        assert_eq!(home.to_string(), "ssh://backup/~/repo");
        assert_eq!(
            remote("me@h:/abs/./x/../repo").map(|r| r.path),
            Some("/abs/repo".into())
        );
        for local in ["/srv/repo", "./me@h:x", "repo", "/a/b:c", "file:///srv/r"] {
            assert!(
                matches!(BorgLocation::parse(local), Ok(BorgLocation::Local(_))),
                "{local}"
            );
        }
        assert_eq!(
            BorgLocation::parse("file:///srv/r"),
            Ok(BorgLocation::Local("/srv/r".into()))
        );
    }

    #[test]
    #[cfg(windows)]
    fn windows_paths_are_never_hosts() {
        for local in [r"C:\backups\repo", "me@h:repo", "h:repo"] {
            assert!(
                matches!(BorgLocation::parse(local), Ok(BorgLocation::Local(_))),
                "{local}"
            );
            assert!(BorgLocation::parse_unprefixed(local).is_none(), "{local}");
        }
    }

    #[test]
    fn only_unmistakable_forms_are_remote_without_a_prefix() {
        assert!(matches!(
            BorgLocation::parse_unprefixed("ssh://h/r"),
            Some(Ok(_))
        ));
        assert!(matches!(
            BorgLocation::parse_unprefixed("ssh://h"),
            Some(Err(_))
        ));
        assert_eq!(
            matches!(BorgLocation::parse_unprefixed("me@h:/r"), Some(Ok(_))),
            cfg!(not(windows)),
            "the scp form, except on Windows"
        );
        for other in ["h:/r", "/srv/r", "rest:http://h/", "C:\\repo", "a/me@h:x"] {
            assert!(BorgLocation::parse_unprefixed(other).is_none(), "{other}");
        }
    }

    #[test]
    fn paths_are_normalised_as_python_does() {
        for (path, normal) in [
            ("", "."),
            ("/", "/"),
            ("//x", "//x"),
            ("///x//y/", "/x/y"),
            ("a/./b/../c", "a/c"),
            ("../a", "../a"),
            ("/../a", "/a"),
            ("a/..", "."),
        ] {
            assert_eq!(normpath(path), normal, "{path}");
        }
        assert_eq!(normpath_special("/./a//b/"), "/./a/b");
    }
}
