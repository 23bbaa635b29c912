//! The passphrase as borg users give it: `BORG_PASSPHRASE`, `BORG_PASSCOMMAND`,
//! `BORG_PASSPHRASE_FD`, else (as borg does) an empty passphrase first and then a no-echo prompt.

use std::io::IsTerminal;

use zeroize::Zeroizing;

use crate::error::OpenError;

/// A passphrase bound by this is not a passphrase (a command printing a file, say).
const MAX_PASSPHRASE_BYTES: u64 = 64 << 10;

/// The passphrase the environment gives, in borg's order, or `None` when it gives none.
pub fn from_environment() -> Result<Option<Zeroizing<String>>, OpenError> {
    if let Ok(passphrase) = std::env::var("BORG_PASSPHRASE") {
        return Ok(Some(Zeroizing::new(passphrase)));
    }
    if let Ok(command) = std::env::var("BORG_PASSCOMMAND") {
        return run_command(&command).map(Some);
    }
    if let Ok(fd) = std::env::var("BORG_PASSPHRASE_FD") {
        return read_fd(&fd).map(Some);
    }
    Ok(None)
}

/// Borg strips one trailing newline from what a command or descriptor gives.
fn strip_newline(mut text: String) -> Zeroizing<String> {
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Zeroizing::new(text)
}

/// Runs BORG_PASSCOMMAND, split as a POSIX shell would split it (borg uses shlex), without a shell.
fn run_command(command: &str) -> Result<Zeroizing<String>, OpenError> {
    // The command is not repeated in messages: it may carry a secret of its own.
    let failed = |why: String| OpenError::Credentials(format!("BORG_PASSCOMMAND failed: {why}"));
    let words = shell_words(command).ok_or_else(|| failed("unbalanced quotes".into()))?;
    let (program, args) = words.split_first().ok_or_else(|| failed("empty".into()))?;
    let mut child = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::inherit())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .map_err(|e| failed(e.to_string()))?;
    // Read with a bound: a command that prints a whole file is a mistake, not a passphrase.
    let mut stdout = Vec::new();
    let read = child.stdout.take().map(|out| {
        std::io::Read::read_to_end(
            &mut std::io::Read::take(out, MAX_PASSPHRASE_BYTES + 1),
            &mut stdout,
        )
    });
    let status = child.wait().map_err(|e| failed(e.to_string()))?;
    if let Some(Err(err)) = read {
        return Err(failed(err.to_string()));
    }
    if !status.success() {
        return Err(failed(status.to_string()));
    }
    if stdout.len() as u64 > MAX_PASSPHRASE_BYTES {
        return Err(failed("its output is too long for a passphrase".into()));
    }
    let text = String::from_utf8(stdout).map_err(|_| failed("output is not UTF-8".into()))?;
    Ok(strip_newline(text))
}

/// Reads the passphrase from an inherited file descriptor, to its end.
fn read_fd(fd: &str) -> Result<Zeroizing<String>, OpenError> {
    let failed = |why: String| OpenError::Credentials(format!("BORG_PASSPHRASE_FD: {why}"));
    let fd: i32 = fd
        .trim()
        .parse()
        .map_err(|_| failed("not a number".into()))?;
    #[cfg(unix)]
    {
        use std::io::Read;
        use std::os::fd::FromRawFd;
        if fd < 0 {
            return Err(failed("negative".into()));
        }
        // SAFETY: F_GETFD only asks whether the descriptor is open.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
            return Err(failed(format!("{fd} is not an open file descriptor")));
        }
        // SAFETY: the descriptor is open, and the user named it as one for genmount to read. It is
        // read once and then closed, as borg closes it, unless it is stdin, stdout or stderr.
        let mut file = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) });
        let mut text = String::new();
        let read = (&mut *file)
            .take(MAX_PASSPHRASE_BYTES)
            .read_to_string(&mut text);
        if fd > 2 {
            drop(std::mem::ManuallyDrop::into_inner(file));
        }
        read.map_err(|e| failed(e.to_string()))?;
        Ok(strip_newline(text))
    }
    #[cfg(not(unix))]
    {
        let _ = fd;
        Err(failed("not supported on this system".into()))
    }
}

/// Asks for the passphrase without echo; refused when stdin is not a terminal.
pub fn prompt(what: &str) -> Result<Zeroizing<String>, OpenError> {
    if !std::io::stdin().is_terminal() {
        return Err(OpenError::Credentials(
            "no passphrase: set BORG_PASSPHRASE, BORG_PASSCOMMAND or BORG_PASSPHRASE_FD (stdin is not a terminal)".into(),
        ));
    }
    rpassword::prompt_password(format!("Enter passphrase for {what}: "))
        .map(Zeroizing::new)
        .map_err(|e| OpenError::Credentials(format!("cannot read the passphrase: {e}")))
}

/// Splits a command line as POSIX shells (and Python's shlex) do: quotes and backslashes.
fn shell_words(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => words.extend(word.take()),
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => w.push(c),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => w.push(chars.next()?),
                        c => w.push(c),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).push(chars.next()?),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_split_like_shlex() {
        assert_eq!(
            shell_words(r#"pass show 'borg/my repo' "a b" c\ d"#),
            Some(vec![
                "pass".into(),
                "show".into(),
                "borg/my repo".into(),
                "a b".into(),
                "c d".into()
            ])
        );
        assert_eq!(shell_words("'open"), None);
        assert_eq!(shell_words("  "), Some(Vec::new()));
    }

    #[test]
    #[cfg(unix)]
    fn command_output_loses_one_newline() -> Result<(), OpenError> {
        assert_eq!(*run_command("printf 'pw\\n\\n'")?, "pw\n");
        assert!(matches!(
            run_command("false"),
            Err(OpenError::Credentials(_))
        ));
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn a_descriptor_that_is_not_open_is_an_error_not_an_abort() {
        assert!(matches!(read_fd("987654"), Err(OpenError::Credentials(_))));
        assert!(matches!(read_fd("-1"), Err(OpenError::Credentials(_))));
        assert!(matches!(read_fd("x"), Err(OpenError::Credentials(_))));
    }
}
