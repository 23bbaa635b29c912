//! The repository password as restic users give it: a password file, a password command,
//! `RESTIC_PASSWORD`, or a prompt without echo.

use std::io::IsTerminal;
use std::path::PathBuf;

use rustic_core::{CommandInput, Credentials};

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

#[cfg(test)]
mod tests {
    use super::*;

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
        // The command runs without a shell, as restic runs it: Windows's echo is cmd's own.
        let (echo, fail) = if cfg!(windows) {
            ("cmd /c echo hunter2", "cmd /c exit 1")
        } else {
            ("echo hunter2", "false")
        };
        let ok = PasswordSource {
            file: None,
            command: Some(echo.into()),
        };
        assert!(matches!(credentials(&ok), Ok(Credentials::Password(p)) if p == "hunter2"));
        let failing = PasswordSource {
            file: None,
            command: Some(fail.into()),
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
