//! A repository's location: as rustic_backend must be given it on each OS, what may be shown of it
//! and of the errors met opening it (credentials in a URL redacted or scrubbed), and rustic_core's
//! errors sorted into genmount's exit codes.

use rustic_core::RusticError;

use crate::error::OpenError;

/// `location` as rustic_backend reads it on an OS (`windows`: whether it is Windows). There,
/// rustic_backend takes any location with a backslash (or a drive letter) for a local path, whole:
/// `local:C:\repo` would be the path `local:C:\repo`. So a local location goes to it bare.
pub fn for_rustic(location: &str, windows: bool) -> &str {
    match location.strip_prefix("local:") {
        Some(path) if windows => path,
        _ => location,
    }
}

/// The first line of a (possibly multi-line) error text.
pub fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("unknown error")
        .to_string()
}

/// A REST address without a user's credentials in it, for logs and the mount's fsname.
pub fn redact(location: &str) -> String {
    match userinfo(location) {
        Some(secret) => location.replacen(secret, "***", 1),
        None => location.to_string(),
    }
}

/// The `user:password` part of a URL in `location`: everything between `://` and the last `@`
/// before the path (a password may itself hold an `@`).
fn userinfo(location: &str) -> Option<&str> {
    let start = location.find("://")? + 3;
    let authority_end = location[start..]
        .find('/')
        .map_or(location.len(), |i| start + i);
    let at = location[start..authority_end].rfind('@')? + start;
    Some(&location[start..at])
}

/// `text` (an error from a library that saw the location) with the location's credentials removed.
pub fn scrub(text: &str, location: &str) -> String {
    match userinfo(location) {
        Some(secret) if !secret.is_empty() => {
            let password = secret.split_once(':').map_or(secret, |(_, p)| p);
            let text = text.replace(secret, "***");
            if password.is_empty() {
                text
            } else {
                text.replace(password, "***")
            }
        }
        _ => text.to_string(),
    }
}

/// Sorts an error of opening into its exit code: wrong password 12, anything about the repository
/// not being there or not readable 10.
pub fn classify(err: &RusticError, shown: &str, location: &str) -> OpenError {
    if err.is_incorrect_password() {
        return OpenError::Password(format!("wrong password for repository {shown}"));
    }
    let text = scrub(&err.to_string(), location);
    if text.contains("No repository config file found") {
        return OpenError::Repository(format!(
            "repository {shown} does not exist or is not a restic repository"
        ));
    }
    OpenError::Repository(format!(
        "repository {shown} cannot be read: {}",
        one_line(&text)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_locations_reach_rustic_bare_on_windows_only() {
        assert_eq!(
            for_rustic(r"local:C:\backups\repo", true),
            r"C:\backups\repo"
        );
        assert_eq!(for_rustic(r"local:tests\repo", true), r"tests\repo");
        assert_eq!(for_rustic("local:/srv/repo", false), "local:/srv/repo");
        for remote in ["rest:http://127.0.0.1:8000/", "rclone:remote:repo"] {
            assert_eq!(for_rustic(remote, true), remote);
            assert_eq!(for_rustic(remote, false), remote);
        }
    }

    #[test]
    fn credentials_in_urls_are_redacted() {
        assert_eq!(
            redact("rest:http://user:secret@host:8000/repo"),
            "rest:http://***@host:8000/repo"
        );
        assert_eq!(
            redact("rest:http://host:8000/a@b"),
            "rest:http://host:8000/a@b"
        );
        assert_eq!(redact("local:/srv/restic"), "local:/srv/restic");
        assert_eq!(
            redact("rest:http://u:p@ss@host/r"),
            "rest:http://***@host/r"
        );
        let location = "rest:http://user:s3cret@host:8000/repo";
        let error =
            "error sending request for url (http://user:s3cret@host:8000/repo/config): s3cret";
        assert!(
            !scrub(error, location).contains("s3cret"),
            "{}",
            scrub(error, location)
        );
    }
}
