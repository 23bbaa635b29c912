//! `--daemon` on Unix: the process forks before any thread exists; the parent waits until the child
//! says the mount is live (exit 0) or why it failed (that exit code), so scripts can rely on it.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};

use crate::error::OpenError;

/// The child's end: tells the waiting parent how it went, once.
pub struct Daemon {
    report: Option<File>,
}

impl Daemon {
    /// The mount is live: the parent exits 0, and the child lets go of the terminal.
    pub fn ready(&mut self) {
        self.send(0);
        detach_stdio();
    }

    /// Starting failed with this exit code, which the parent exits with.
    pub fn failed(&mut self, code: i32) {
        self.send(u8::try_from(code).unwrap_or(1));
    }

    fn send(&mut self, code: u8) {
        if let Some(mut report) = self.report.take() {
            let _ = report.write_all(&[code]);
        }
    }
}

/// Forks. In the parent this never returns: it exits with the child's report (1 if the child died
/// without one). In the child it returns the reporter, in a new session.
pub fn daemonize() -> Result<Daemon, OpenError> {
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors pipe writes.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(OpenError::Other(format!(
            "cannot daemonize: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: both descriptors were just created by pipe and are owned here alone.
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: genmount calls this before it starts any thread, so the child is a full copy.
    match unsafe { libc::fork() } {
        -1 => Err(OpenError::Other(format!(
            "cannot daemonize: {}",
            std::io::Error::last_os_error()
        ))),
        0 => {
            drop(read_end);
            // SAFETY: setsid has no preconditions; it fails only for a group leader, which a fresh
            // child is not.
            unsafe { libc::setsid() };
            Ok(Daemon {
                report: Some(File::from(write_end)),
            })
        }
        _ => {
            drop(write_end);
            let mut code = [1u8];
            let got = File::from(read_end).read(&mut code).unwrap_or(0);
            std::process::exit(if got == 1 { i32::from(code[0]) } else { 1 });
        }
    }
}

/// Points stdin, stdout and stderr at /dev/null, so the daemon holds no terminal.
fn detach_stdio() {
    let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    else {
        return;
    };
    use std::os::fd::AsRawFd;
    for fd in 0..3 {
        // SAFETY: dup2 onto the standard descriptors with a valid open descriptor.
        unsafe { libc::dup2(null.as_raw_fd(), fd) };
    }
}
