//! What comes back from `borg serve`: replies read from ssh's stdout with every length bounded,
//! and the remote's stderr read alongside, each line logged, the last few kept to explain a
//! connection that closes.

use std::collections::VecDeque;
use std::io::{self, BufReader, Read};
use std::os::fd::AsRawFd;
use std::process::{ChildStderr, ChildStdout};
use std::time::{Duration, Instant};

use super::rpc::Reply;
use super::rpcwire::{ReadError, parse_reply, read_value};

/// The largest reply taken: borg's largest object (20 MiB with its header) and framing; a
/// `list` of borg's 100,000-id pages is some 3.4 MB.
pub(super) const MAX_REPLY: u64 = 21 << 20;
/// Replies nest a map in a map (exceptions, negotiate's versions).
pub(super) const MAX_DEPTH: usize = 8;
/// The remote's last stderr lines, kept to explain a connection that closed.
const TAIL: usize = 3;
/// A remote stderr line longer than this is cut.
const MAX_LINE: usize = 2000;

/// What `borg serve` sends back: replies on stdout; on stderr, log lines (JSON since borg 1.1)
/// and whatever ssh and the remote shell say. A read of stdout polls both, so that stderr never
/// fills its pipe and each of its lines is logged as it comes.
pub(super) struct Incoming {
    stdout: ChildStdout,
    stderr: Option<ChildStderr>,
    partial: Vec<u8>,
    tail: VecDeque<String>,
}

/// The next reply, or why the connection cannot give one.
pub(super) fn next_reply(reader: &mut BufReader<Incoming>) -> Result<(u64, Reply), String> {
    let mut limited = Read::by_ref(reader).take(MAX_REPLY);
    let read = read_value(&mut limited, MAX_DEPTH);
    let left = limited.limit();
    let value = read.map_err(|err| {
        let why = match err {
            ReadError::Eof if left == MAX_REPLY => "the connection closed".to_string(),
            ReadError::Eof if left == 0 => {
                format!(
                    "borg serve sent a reply larger than {} MiB",
                    MAX_REPLY >> 20
                )
            }
            ReadError::Eof => "the connection closed inside a reply".to_string(),
            ReadError::TooLarge => {
                format!(
                    "borg serve sent a reply larger than {} MiB",
                    MAX_REPLY >> 20
                )
            }
            ReadError::Invalid(why) => {
                format!("borg serve sent what is not borg's protocol: {why}")
            }
        };
        format!("{why}{}", reader.get_ref().tail_text())
    })?;
    parse_reply(value)
}

impl Incoming {
    /// Replies from `stdout`, log lines from `stderr`.
    pub(super) fn new(stdout: ChildStdout, stderr: ChildStderr) -> Incoming {
        Incoming {
            stdout,
            stderr: Some(stderr),
            partial: Vec::new(),
            tail: VecDeque::new(),
        }
    }

    /// `: remote: <last lines>`, or nothing.
    fn tail_text(&self) -> String {
        if self.tail.is_empty() {
            return String::new();
        }
        let lines: Vec<&str> = self.tail.iter().map(String::as_str).collect();
        format!(": remote: {}", lines.join(" / "))
    }

    /// Reads what stderr has now; its end closes it.
    fn read_stderr(&mut self) {
        let Some(stderr) = self.stderr.as_mut() else {
            return;
        };
        let mut buf = [0u8; 16 << 10];
        match stderr.read(&mut buf) {
            Ok(0) | Err(_) => {
                self.stderr = None;
                if !self.partial.is_empty() {
                    let line = std::mem::take(&mut self.partial);
                    self.remote_line(&line);
                }
            }
            Ok(n) => {
                self.partial.extend_from_slice(&buf[..n]);
                while let Some(end) = self.partial.iter().position(|b| *b == b'\n' || *b == b'\r') {
                    let line: Vec<u8> = self.partial.drain(..=end).collect();
                    self.remote_line(&line);
                }
                if self.partial.len() > MAX_LINE {
                    let line = std::mem::take(&mut self.partial);
                    self.remote_line(&line);
                }
            }
        }
    }

    /// Logs one line of the remote's stderr: borg's JSON log lines at their level, anything else
    /// (ssh, the remote shell) as a warning.
    fn remote_line(&mut self, raw: &[u8]) {
        let text = String::from_utf8_lossy(raw);
        let line = text.trim();
        if line.is_empty() {
            return;
        }
        let line: String = line.chars().take(MAX_LINE).collect();
        let (level, message) = match serde_json::from_str::<serde_json::Value>(&line) {
            Ok(json) if json.is_object() => {
                if json["type"] != "log_message" {
                    return; // progress lines
                }
                let message = json["message"].as_str().unwrap_or_default().to_string();
                (
                    json["levelname"].as_str().unwrap_or("WARNING").to_string(),
                    message,
                )
            }
            _ => ("WARNING".to_string(), line),
        };
        match level.as_str() {
            "DEBUG" => tracing::debug!("remote: {message}"),
            "INFO" => tracing::info!("remote: {message}"),
            "WARNING" => tracing::warn!("remote: {message}"),
            _ => tracing::error!("remote: {message}"),
        }
        if self.tail.len() == TAIL {
            self.tail.pop_front();
        }
        self.tail.push_back(message);
    }

    /// At the end of stdout: what stderr still says (ssh's reason, say), for a little while.
    fn finish_stderr(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.stderr.is_some() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !self.poll(false, left).1 {
                return;
            }
            self.read_stderr();
        }
    }

    /// Waits until stdout (when `stdout`) or stderr can be read, at most `timeout` (`None`:
    /// forever); returns which can.
    fn poll_for(&mut self, stdout: bool, timeout: Option<Duration>) -> io::Result<(bool, bool)> {
        let stderr_fd = self.stderr.as_ref().map_or(-1, |e| e.as_raw_fd());
        let mut fds = [
            libc::pollfd {
                fd: if stdout { self.stdout.as_raw_fd() } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: stderr_fd,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let timeout = timeout.map_or(-1, |t| i32::try_from(t.as_millis()).unwrap_or(i32::MAX));
        // SAFETY: fds is an array of two initialised pollfd that outlives the call; poll ignores
        // the negative descriptors.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((fds[0].revents != 0, fds[1].revents != 0))
    }

    fn poll(&mut self, stdout: bool, timeout: Duration) -> (bool, bool) {
        self.poll_for(stdout, Some(timeout))
            .unwrap_or((false, false))
    }
}

impl Read for Incoming {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let (out, err) = match self.poll_for(true, None) {
                Ok(ready) => ready,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if err {
                self.read_stderr();
            }
            if out {
                let n = self.stdout.read(buf)?;
                if n == 0 {
                    self.finish_stderr();
                }
                return Ok(n);
            }
        }
    }
}
