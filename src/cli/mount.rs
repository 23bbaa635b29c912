//! `genmount mount`: its arguments mapped to a layout and a mount request, then served in the
//! foreground or as a daemon that reports back once the mount is live.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::args::{MountArgs, ViewArg, ViewArgs};
use super::backend::Backend;
use crate::error::OpenError;
use crate::repo::Repository;
use crate::repo::borg::BorgRepo;
use crate::repo::folder::FolderRepo;
use crate::repo::restic::ResticRepo;
use crate::session::MountRequest;
use crate::vfs::{Layout, LayoutOptions, View};

/// Mounts as `args` say and serves until unmounted.
pub(super) fn mount(mut args: MountArgs, progress: bool) -> Result<(), OpenError> {
    args.shown.check_conflicts()?;
    // With one positional argument, it is the mountpoint and the repository is $RESTIC_REPOSITORY.
    let mountpoint = match args.mountpoint.take() {
        Some(mountpoint) => mountpoint,
        None => PathBuf::from(std::mem::replace(&mut args.repo, "-".into())),
    };
    crate::platform::check_mountpoint(&mountpoint, args.allow_non_empty)?;
    let root = root_components(args.root.as_deref())?;
    let mut backend = Backend::detect(&args.repo, &args.access, progress)?;
    // Asked in the foreground, before a daemon leaves the terminal.
    backend.ask_credentials()?;
    let Some(daemon) = args.daemon.then(crate::platform::daemonize).transpose()? else {
        return serve_backend(&args, backend, mountpoint, root, None);
    };
    serve_as_daemon(daemon, |ready| {
        serve_backend(&args, backend, mountpoint, root, Some(ready))
    })
}

/// Runs `serve` in the daemon, and tells the waiting parent once the mount is live or why it failed.
pub(super) fn serve_as_daemon(
    daemon: crate::platform::Daemon,
    serve: impl FnOnce(Sender<()>) -> Result<(), OpenError>,
) -> Result<(), OpenError> {
    // Shared: the report of success comes from the thread that sees the mount go live.
    let daemon = Arc::new(Mutex::new(daemon));
    let (ready, live) = channel();
    let reporter = daemon.clone();
    std::thread::spawn(move || {
        if live.recv().is_ok() {
            reporter.lock().unwrap_or_else(|p| p.into_inner()).ready();
        }
    });
    let result = serve(ready);
    if let Err(err) = &result {
        daemon
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .failed(err.exit_code());
    }
    result
}

/// Opens the repository and serves it at `mountpoint` until unmounted. Called after a daemon
/// forks, so that the layout shows the serving process's pid.
fn serve_backend(
    args: &MountArgs,
    backend: Backend,
    mountpoint: PathBuf,
    root: Vec<Vec<u8>>,
    ready: Option<Sender<()>>,
) -> Result<(), OpenError> {
    let options = layout_options(&args.shown, root);
    let request = mount_request(args, mountpoint, ready);
    with_layout(backend, options, Mounter(&request))
}

/// Mounts the layout as the request says.
struct Mounter<'a>(&'a MountRequest);

impl UseLayout for Mounter<'_> {
    fn run<R: Repository>(self, layout: Layout<R>) -> Result<(), OpenError> {
        crate::platform::mount(layout, self.0)
    }
}

/// What is done with the layout once the repository is open: it is mounted, or served.
pub(super) trait UseLayout {
    fn run<R: Repository>(self, layout: Layout<R>) -> Result<(), OpenError>;
}

/// Opens the repository `backend` names and hands its layout to `target`.
pub(super) fn with_layout(
    backend: Backend,
    options: LayoutOptions,
    target: impl UseLayout,
) -> Result<(), OpenError> {
    match backend {
        Backend::Restic(restic) => target.run(Layout::new(ResticRepo::open(&restic)?, options)?),
        Backend::Folder(path) => target.run(Layout::new(FolderRepo::open(&path)?, options)?),
        Backend::Borg(borg) => target.run(Layout::new(BorgRepo::open(&borg)?, options)?),
        Backend::BorgOpened(borg) => {
            // Opened before a daemon's fork: the lock moves to the process that serves.
            borg.adopt_lock()?;
            target.run(Layout::new(*borg, options)?)
        }
    }
}

pub(super) fn layout_options(args: &ViewArgs, root: Vec<Vec<u8>>) -> LayoutOptions {
    let (uid, gid) = crate::platform::owner();
    LayoutOptions {
        view: match args.view {
            ViewArg::Multiple => View::Multiple,
            ViewArg::Single => View::Single,
            ViewArg::Versions => View::Versions,
        },
        generation: args.generation.clone().unwrap_or_default(),
        root,
        pid: std::process::id(),
        uid,
        gid,
        fold_identical: args.fold_identical,
    }
}

fn mount_request(args: &MountArgs, mountpoint: PathBuf, ready: Option<Sender<()>>) -> MountRequest {
    // The fsname is visible to every user (mount, /proc/mounts): no REST password in it.
    let shown = super::backend::shown_location(&args.repo);
    MountRequest {
        mountpoint,
        fsname: format!("genmount:{shown}"),
        volname: args
            .volname
            .clone()
            .unwrap_or_else(|| default_volname(&shown)),
        hide_dot_files: args.hide_dot_files,
        allow_other: args.allow_other,
        allow_non_empty: args.allow_non_empty,
        options: args.options.clone(),
        threads: args.threads.map_or_else(default_threads, usize::from),
        passthrough: !args.no_passthrough,
        refresh_interval: (args.refresh_interval > 0)
            .then(|| Duration::from_secs(args.refresh_interval)),
        ready,
    }
}

/// One thread per CPU, from 2 to 4. Measured on 2 CPUs, `ls -lR` of 300,000 files took 11-12.5 s
/// with 2 threads against 17-18.5 s with 4 (3: 19 s, 8: 13 s, 1: 40 s): each request wakes a
/// waiting thread, and where the scheduler runs it decides the round trip; reads and `find` did
/// not change.
fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(4, |n| n.get().clamp(2, 4))
}

/// ROOT as path components; `..` could leave the generation, so it is refused.
pub(super) fn root_components(root: Option<&Path>) -> Result<Vec<Vec<u8>>, OpenError> {
    let Some(root) = root else {
        return Ok(Vec::new());
    };
    let text = root.to_string_lossy();
    let mut parts = Vec::new();
    for part in text.split('/').filter(|p| !p.is_empty() && *p != ".") {
        if part == ".." {
            return Err(OpenError::Usage(format!(
                "ROOT {text} must not contain '..'"
            )));
        }
        parts.push(part.as_bytes().to_vec());
    }
    Ok(parts)
}

/// `genmount <last path component of the repository>`.
fn default_volname(repo: &str) -> String {
    let trimmed = repo.trim_end_matches(['/', '\\']);
    let name = trimmed.rsplit(['/', '\\', ':']).next().unwrap_or(trimmed);
    format!("genmount {name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_split_and_dotdot_refused() {
        let parts = root_components(Some(Path::new("/home/./me/"))).ok();
        assert_eq!(parts, Some(vec![b"home".to_vec(), b"me".to_vec()]));
        assert!(matches!(
            root_components(Some(Path::new("a/../b"))),
            Err(OpenError::Usage(_))
        ));
        assert_eq!(root_components(None).ok(), Some(Vec::new()));
    }

    #[test]
    fn volume_names_come_from_the_repository() {
        assert_eq!(default_volname("/srv/backups/laptop/"), "genmount laptop");
        assert_eq!(
            default_volname("rest:http://host:8000/repo/"),
            "genmount repo"
        );
        assert_eq!(default_volname("C:\\Backups\\home"), "genmount home");
    }
}
