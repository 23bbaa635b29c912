//! A client of `borg serve`, borg 1.x's remote repository (`borg/remote.py`): the ssh command
//! borg builds (`BORG_RSH`, `user@host`, `BORG_REMOTE_PATH serve`), and borg's RPC over its pipes:
//! msgpack requests `{i: msgid, m: method, a: {named args}}`, replies `{i, r}` or
//! `{i, exception_class, …}`, any number in flight. Byte strings go as msgpack raw strings, as
//! borg 1.x packs them.
//!
//! No thread of its own: whichever caller waits reads the next reply (and the remote's stderr,
//! logged line by line) and hands it to the caller it belongs to, so that a repository opened
//! before a daemon forks keeps working after the fork.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{self, BufReader, Write};
#[cfg(target_os = "linux")]
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rmpv::Value;

use super::location::RemoteLocation;
use super::msgpack;
use super::rpcpipe::{Incoming, next_reply};
use super::rpcwire::{Arg, into_bytes, request, write_arg, write_raw};
use crate::error::OpenError;

/// `get` requests one `get_many` keeps in flight.
const WINDOW: usize = 16;
/// How long `close` waits for `borg serve` to give its lock back and exit before killing ssh.
const CLOSE_GRACE: Duration = Duration::from_secs(10);
/// The capacity asked for the pipe replies come through.
#[cfg(target_os = "linux")]
const PIPE_SIZE: libc::c_int = 1 << 20;
/// borg's lock wait (`--lock-wait`, 1 s by default), sent with `open`.
const LOCK_WAIT: i64 = 1;
/// The version genmount gives when it negotiates: the borg 1.2 client whose protocol it speaks.
const CLIENT_VERSION: [i64; 4] = [1, 2, 4, -1];

/// Why a call failed.
#[derive(Debug, Clone)]
pub enum RpcError {
    /// The server raised an exception: its class (`ObjectNotFound`, `LockTimeout`…) and message.
    Remote { class: String, message: String },
    /// The connection failed or closed; the text says how, with the remote's last words.
    Broken(String),
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RpcError::Remote { message, .. } => write!(f, "borg serve: {message}"),
            RpcError::Broken(why) => f.write_str(why),
        }
    }
}

pub(super) type Reply = Result<Value, RpcError>;

/// A connection to `borg serve` through ssh.
pub struct Client {
    /// The location, as messages name it.
    pub shown: String,
    sender: Mutex<Sender>,
    state: Mutex<State>,
    turn: Condvar,
    /// Locked by the one caller reading at a time.
    incoming: Mutex<BufReader<Incoming>>,
    child: Mutex<Option<Child>>,
}

struct Sender {
    stdin: Option<ChildStdin>,
    next: u64,
}

#[derive(Default)]
struct State {
    /// A caller is reading replies.
    reading: bool,
    /// Requests whose replies are waited for; any other reply is dropped.
    wanted: HashSet<u64>,
    replies: HashMap<u64, Reply>,
    /// Set once the connection failed: every call fails with it from then on.
    broken: Option<String>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Client {
    /// Runs ssh and `borg serve` for `location`, and negotiates the protocol.
    pub fn connect(location: &RemoteLocation) -> Result<Client, OpenError> {
        let shown = location.to_string();
        let failed = |why: String| OpenError::Repository(format!("borg repository {shown}: {why}"));
        let argv =
            command_line(location, |name| std::env::var(name).ok()).map_err(OpenError::Usage)?;
        tracing::debug!(command = ?argv, "starting borg serve");
        let mut command = Command::new(&argv[0]);
        command
            .args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // As borg: Ctrl-C at the terminal stops genmount, which then closes the connection itself.
        // SAFETY: the closure runs in the forked child before exec and only calls signal(2),
        // which is async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                libc::signal(libc::SIGINT, libc::SIG_IGN);
                Ok(())
            });
        }
        let mut child = command
            .spawn()
            .map_err(|e| failed(format!("cannot run {:?} (BORG_RSH): {e}", argv[0])))?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            reap(child, Duration::ZERO);
            return Err(failed("ssh started without its pipes".into()));
        };
        // Replies of a few MiB pass in fewer pieces through a larger pipe (Linux: up to 1 MiB
        // unprivileged); where it cannot grow, it works as it is.
        #[cfg(target_os = "linux")]
        // SAFETY: F_SETPIPE_SZ on a pipe descriptor this process owns; it changes only the
        // pipe's capacity.
        unsafe {
            libc::fcntl(stdout.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_SIZE);
        }
        let client = Client {
            shown: shown.clone(),
            sender: Mutex::new(Sender {
                stdin: Some(stdin),
                next: 1,
            }),
            state: Mutex::new(State::default()),
            turn: Condvar::new(),
            incoming: Mutex::new(BufReader::with_capacity(
                256 << 10,
                Incoming::new(stdout, stderr),
            )),
            child: Mutex::new(Some(child)),
        };
        let version = client.negotiate().map_err(|err| match err {
            RpcError::Broken(why) if why.starts_with("the connection closed") => {
                failed(format!("{why} (is borg working on the server?)"))
            }
            other => failed(other.to_string()),
        })?;
        tracing::info!("connected to borg serve {version} at {shown}");
        Ok(client)
    }

    /// Borg's first call, in the old tuple format every server reads; a dictionary reply means
    /// the server speaks the named-argument format used from then on.
    fn negotiate(&self) -> Result<String, RpcError> {
        let msgid = {
            let mut sender = lock(&self.sender);
            let msgid = sender.next;
            sender.next += 1;
            let mut bytes = Vec::new();
            let _ = rmp::encode::write_array_len(&mut bytes, 4);
            let _ = rmp::encode::write_uint(&mut bytes, 1);
            let _ = rmp::encode::write_uint(&mut bytes, msgid);
            write_raw(&mut bytes, b"negotiate");
            let _ = rmp::encode::write_array_len(&mut bytes, 1);
            let _ = rmp::encode::write_map_len(&mut bytes, 1);
            write_raw(&mut bytes, b"client_version");
            write_arg(&mut bytes, &Arg::Ints(&CLIENT_VERSION));
            lock(&self.state).wanted.insert(msgid);
            if let Err(err) = self.write(&mut sender, &bytes) {
                self.abandon(std::iter::once(msgid));
                return Err(err);
            }
            msgid
        };
        let reply = self.wait(msgid)?;
        let Some(version) = msgpack::get(&reply, "server_version") else {
            return Err(RpcError::Broken(
                "borg serve is older than 1.1 (its protocol is not supported): upgrade borg on the server"
                    .into(),
            ));
        };
        let parts: Vec<String> = match version {
            Value::Array(parts) => parts
                .iter()
                .filter_map(Value::as_i64)
                .filter(|n| *n >= 0)
                .map(|n| n.to_string())
                .collect(),
            _ => Vec::new(),
        };
        Ok(parts.join("."))
    }

    /// Opens the repository at the location's path; with `lock`, the server holds borg's
    /// shared lock for this connection (as `borg mount` does). Returns the repository id.
    pub fn open(&self, path: &str, lock: bool) -> Result<[u8; 32], RpcError> {
        let id = self.call(
            "open",
            &[
                ("path", Arg::Bytes(path.as_bytes())),
                ("create", Arg::Bool(false)),
                ("lock_wait", Arg::Int(LOCK_WAIT)),
                ("lock", Arg::Bool(lock)),
                ("exclusive", Arg::Bool(false)),
                ("append_only", Arg::Bool(false)),
                ("make_parent_dirs", Arg::Bool(false)),
            ],
        )?;
        msgpack::bytes(&id)
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| RpcError::Broken("open: the repository id is not 32 bytes".into()))
    }

    /// The object `id` as stored (the server checked its CRC and key).
    pub fn get(&self, id: &[u8; 32]) -> Result<Vec<u8>, RpcError> {
        into_bytes(self.call("get", &[("id", Arg::Bytes(id))])?, "get")
    }

    /// The objects `ids`, in order, with up to `WINDOW` requests in flight.
    pub fn get_many<'a>(&'a self, ids: &'a [[u8; 32]]) -> GetMany<'a> {
        GetMany {
            client: self,
            ids,
            sent: VecDeque::new(),
            next: 0,
        }
    }

    /// The repokey (base64 text) from the repository's config; empty when it has none.
    pub fn load_key(&self) -> Result<Vec<u8>, RpcError> {
        into_bytes(self.call("load_key", &[])?, "load_key")
    }

    /// Makes the server drop its object index, so that the next `get` reads the newest one.
    /// Nothing is written: a reader has no transaction to roll back.
    pub fn forget_index(&self) -> Result<(), RpcError> {
        self.call("rollback", &[]).map(drop)
    }

    /// Ends the connection: end of input makes `borg serve` close the repository (giving its
    /// lock back) and exit; ssh is killed if it has not exited after a grace time.
    pub fn close(&self) {
        drop(lock(&self.sender).stdin.take());
        if let Some(child) = lock(&self.child).take() {
            reap(child, CLOSE_GRACE);
            tracing::debug!("borg serve at {} closed", self.shown);
        }
    }

    fn call(&self, method: &str, args: &[(&str, Arg)]) -> Reply {
        let msgid = self.send(method, args)?;
        self.wait(msgid)
    }

    fn send(&self, method: &str, args: &[(&str, Arg)]) -> Result<u64, RpcError> {
        let mut sender = lock(&self.sender);
        let msgid = sender.next;
        sender.next += 1;
        let bytes = request(msgid, method, args);
        lock(&self.state).wanted.insert(msgid);
        if let Err(err) = self.write(&mut sender, &bytes) {
            self.abandon(std::iter::once(msgid));
            return Err(err);
        }
        Ok(msgid)
    }

    fn write(&self, sender: &mut Sender, bytes: &[u8]) -> Result<(), RpcError> {
        if let Some(why) = &lock(&self.state).broken {
            return Err(RpcError::Broken(why.clone()));
        }
        let written = match sender.stdin.as_mut() {
            Some(stdin) => stdin.write_all(bytes).and_then(|()| stdin.flush()),
            None => return Err(RpcError::Broken("the connection is closed".into())),
        };
        written.map_err(|e| {
            // The reader tells why the other end went away; this is the fallback.
            RpcError::Broken(format!("cannot send to borg serve: {e}"))
        })
    }

    /// Waits for the reply to `msgid`, reading replies meanwhile if no other caller does.
    fn wait(&self, msgid: u64) -> Reply {
        let mut state = lock(&self.state);
        loop {
            if let Some(reply) = state.replies.remove(&msgid) {
                state.wanted.remove(&msgid);
                return reply;
            }
            if let Some(why) = &state.broken {
                let why = why.clone();
                state.wanted.remove(&msgid);
                return Err(RpcError::Broken(why));
            }
            if state.reading {
                state = self.turn.wait(state).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            state.reading = true;
            drop(state);
            let got = next_reply(&mut lock(&self.incoming));
            state = lock(&self.state);
            state.reading = false;
            match got {
                Ok((id, reply)) if state.wanted.contains(&id) => {
                    state.replies.insert(id, reply);
                }
                Ok(_) => {}
                Err(why) => state.broken = Some(why),
            }
            self.turn.notify_all();
        }
    }

    /// Forgets requests whose replies nobody will wait for.
    fn abandon(&self, ids: impl Iterator<Item = u64>) {
        let mut state = lock(&self.state);
        for id in ids {
            state.wanted.remove(&id);
            state.replies.remove(&id);
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.close();
    }
}

/// Objects fetched in order with several requests in flight, like borg's `get_many`.
pub struct GetMany<'a> {
    client: &'a Client,
    ids: &'a [[u8; 32]],
    sent: VecDeque<Result<u64, RpcError>>,
    next: usize,
}

impl Iterator for GetMany<'_> {
    type Item = Result<Vec<u8>, RpcError>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.sent.len() < WINDOW
            && let Some(id) = self.ids.get(self.next)
        {
            self.sent
                .push_back(self.client.send("get", &[("id", Arg::Bytes(id))]));
            self.next += 1;
        }
        let msgid = self.sent.pop_front()?;
        Some(
            msgid
                .and_then(|msgid| self.client.wait(msgid))
                .and_then(|value| into_bytes(value, "get")),
        )
    }
}

impl Drop for GetMany<'_> {
    fn drop(&mut self) {
        let pending = self.sent.drain(..).filter_map(Result::ok);
        self.client.abandon(pending);
    }
}

/// The ssh command line as borg builds it: `BORG_RSH` (default `ssh`) split as a shell splits
/// words, `-p PORT`, `[user@]host`, then `BORG_REMOTE_PATH` (default `borg`) and `serve`.
pub fn command_line(
    location: &RemoteLocation,
    var: impl Fn(&str) -> Option<String>,
) -> Result<Vec<String>, String> {
    let rsh = var("BORG_RSH").filter(|v| !v.trim().is_empty());
    let mut argv = match rsh {
        Some(rsh) => shlex::split(&rsh)
            .filter(|words| !words.is_empty())
            .ok_or_else(|| format!("BORG_RSH is not a command line: {rsh}"))?,
        None => vec!["ssh".to_string()],
    };
    if let Some(port) = location.port {
        argv.extend(["-p".to_string(), port.to_string()]);
    }
    argv.push(location.destination());
    argv.push(
        var("BORG_REMOTE_PATH")
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "borg".into()),
    );
    argv.push("serve".into());
    Ok(argv)
}

/// Waits up to `grace` for `child` to exit, then kills it. After a daemon's fork the child
/// belongs to the parent that exited (`init` reaps it): then it is watched by its pid.
fn reap(mut child: Child, grace: Duration) {
    let pid = child.id();
    let deadline = Instant::now() + grace;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return,
            Ok(None) => {}
            Err(_) if gone(pid) => return,
            Err(_) => {}
        }
        if Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if !grace.is_zero() {
        tracing::warn!("the ssh command (pid {pid}) did not exit: killed");
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Whether process `pid` has exited (a zombie counts: it only waits to be reaped).
fn gone(pid: u32) -> bool {
    let Ok(raw) = libc::pid_t::try_from(pid) else {
        return true;
    };
    // SAFETY: signal 0 sends nothing; it only asks whether the process exists.
    if unsafe { libc::kill(raw, 0) } != 0 {
        return io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
    }
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with(['Z', 'X']))
    })
}

#[cfg(test)]
#[path = "rpc_tests.rs"]
mod tests;
