//! Opening a restic repository: where it is (local, REST, rclone, OpenDAL), the password as restic
//! users give it, and rustic_core's errors sorted into genmount's exit codes.

use std::io::IsTerminal;
use std::path::PathBuf;

use rustic_core::{CommandInput, Credentials, RusticError};

use crate::error::OpenError;

/// Where the password comes from, as restic's flags and environment say.
#[derive(Clone, Default)]
pub struct PasswordSource {
    pub file: Option<PathBuf>,
    pub command: Option<String>,
}

/// The password, from (in restic's order) a password file or command, `RESTIC_PASSWORD`, or a
/// prompt without echo when stdin is a terminal.
pub fn credentials(source: &PasswordSource) -> Result<Credentials, OpenError> {
    let password = match (&source.file, &source.command) {
        (Some(_), Some(_)) => {
            return Err(OpenError::Usage(
                "--password-file and --password-command exclude each other".into(),
            ));
        }
        (Some(file), None) => first_line(&std::fs::read(file).map_err(|err| {
            OpenError::Credentials(format!(
                "cannot read password file {}: {err}",
                file.display()
            ))
        })?),
        (None, Some(command)) => run_password_command(command)?,
        (None, None) => match std::env::var("RESTIC_PASSWORD") {
            Ok(password) => password,
            Err(_) => prompt()?,
        },
    };
    if password.is_empty() {
        return Err(OpenError::Credentials(
            "an empty password is not allowed".into(),
        ));
    }
    Ok(Credentials::password(password))
}

fn first_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.lines()
        .next()
        .unwrap_or_default()
        .trim_end_matches('\r')
        .to_string()
}

/// Runs the command (split like a shell would, but without one) and takes its first output line.
fn run_password_command(command: &str) -> Result<String, OpenError> {
    // The command itself is not repeated: it may carry a secret of its own.
    let failed = |why: String| OpenError::Credentials(format!("password command failed: {why}"));
    let parsed: CommandInput = command
        .parse()
        .map_err(|err: rustic_core::CommandInputErrorKind| failed(err.to_string()))?;
    let output = std::process::Command::new(parsed.command())
        .args(parsed.args())
        .stdin(std::process::Stdio::inherit())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|err| failed(err.to_string()))?;
    if !output.status.success() {
        return Err(failed(output.status.to_string()));
    }
    Ok(first_line(&output.stdout))
}

fn prompt() -> Result<String, OpenError> {
    if !std::io::stdin().is_terminal() {
        return Err(OpenError::Credentials(
            "no password: use --password-file, --password-command or RESTIC_PASSWORD (stdin is not a terminal)".into(),
        ));
    }
    rpassword::prompt_password("enter password for repository: ")
        .map_err(|err| OpenError::Credentials(format!("cannot read the password: {err}")))
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

    #[test]
    fn password_file_takes_its_first_line() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("pw");
        std::fs::write(&file, b"s3cret\r\nsecond line\n")?;
        let source = PasswordSource {
            file: Some(file),
            command: None,
        };
        assert!(matches!(credentials(&source)?, Credentials::Password(p) if p == "s3cret"));
        let missing = PasswordSource {
            file: Some(dir.path().join("none")),
            command: None,
        };
        assert!(matches!(
            credentials(&missing),
            Err(OpenError::Credentials(_))
        ));
        Ok(())
    }

    #[test]
    fn password_command_output_and_failure() {
        let ok = PasswordSource {
            file: None,
            command: Some("echo hunter2".into()),
        };
        assert!(matches!(credentials(&ok), Ok(Credentials::Password(p)) if p == "hunter2"));
        let failing = PasswordSource {
            file: None,
            command: Some("false".into()),
        };
        assert!(matches!(
            credentials(&failing),
            Err(OpenError::Credentials(_))
        ));
        let both = PasswordSource {
            file: Some("x".into()),
            command: Some("y".into()),
        };
        assert!(matches!(credentials(&both), Err(OpenError::Usage(_))));
    }
}
