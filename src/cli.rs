//! The command line: `genmount mount` and `genmount generations`, logging set-up, and the mapping
//! of every failure to one line on stderr and its documented exit code.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;

use crate::error::OpenError;
use crate::repo::folder::FolderRepo;
use crate::repo::restic::open::{self, PasswordSource};
use crate::repo::restic::{ResticOptions, ResticRepo, SnapshotFilter};
use crate::repo::{Generation, Repository};
use crate::session::{MountRequest, check_mountpoint};
use crate::vfs::{GenerationSpec, Layout, LayoutOptions, View};

#[derive(Parser, Debug)]
#[command(
    name = "genmount",
    version,
    about = "Mount the generations of a backup repository, read-only"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// More log output (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true)]
    quiet: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Mount a repository; runs until unmounted or interrupted.
    Mount(MountArgs),
    /// List a repository's generations, oldest first.
    Generations(GenerationsArgs),
    /// Unmount a genmount mount, also one whose daemon died ("transport endpoint is not connected").
    Unmount {
        /// The mountpoint.
        mountpoint: PathBuf,
    },
    /// Print a completion script for a shell (`genmount completions bash > /etc/bash_completion.d/genmount`).
    Completions { shell: clap_complete::Shell },
    /// Print the man page in roff (`genmount man > genmount.1`).
    Man,
}

/// How to reach a repository: shared by every subcommand.
#[derive(Args, Debug, Clone)]
struct RepoArgs {
    /// Read the restic password from the first line of this file.
    #[arg(long, env = "RESTIC_PASSWORD_FILE", value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// Run this command (no shell) and take the first line of its output as the restic password.
    #[arg(long, env = "RESTIC_PASSWORD_COMMAND", value_name = "COMMAND")]
    password_command: Option<String>,
    /// Where rustic keeps its local cache of snapshots, index and trees.
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Keep no local cache.
    #[arg(long)]
    no_cache: bool,
    /// Only snapshots of this host (repeatable: any of them).
    #[arg(long, value_name = "HOST")]
    host: Vec<String>,
    /// Only snapshots with all these tags, comma-separated (repeatable: any of the lists).
    #[arg(long, value_name = "TAG[,TAG]")]
    tag: Vec<String>,
    /// Only snapshots that include this path (repeatable: all of them).
    #[arg(long, value_name = "PATH")]
    path: Vec<String>,
    /// How generation directories are named: {time}, {id}, {long_id}, {host}, {user}, {tags}, {label}.
    #[arg(long, default_value = crate::repo::restic::naming::DEFAULT_TEMPLATE, value_name = "TEMPLATE")]
    name_template: String,
    /// Hold no restic lock while mounted (for read-only media).
    #[arg(long)]
    no_lock: bool,
    /// Read what is left of damaged files: zeros in place of lost data blobs, each one logged.
    #[arg(long)]
    allow_damaged: bool,
    /// Memory for decrypted file data kept for reads to come: bytes, or with K, M or G (1024-based).
    #[arg(long, default_value = "32M", value_name = "SIZE", value_parser = parse_cache_size)]
    cache_size: u64,
}

/// The smallest blob cache: restic's largest blob (8 MiB) must fit, or every read of it decrypts it anew.
const MIN_CACHE: u64 = 8 << 20;

fn parse_cache_size(text: &str) -> Result<u64, String> {
    let size = parse_size(text)?;
    if size < MIN_CACHE {
        return Err(format!("'{text}' is too small: at least 8M"));
    }
    Ok(size)
}

/// A size in bytes: a number, optionally followed by K, M or G (powers of 1024).
fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, shift) = match text.char_indices().last() {
        Some((at, 'k' | 'K')) => (&text[..at], 10),
        Some((at, 'm' | 'M')) => (&text[..at], 20),
        Some((at, 'g' | 'G')) => (&text[..at], 30),
        _ => (text, 0),
    };
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("'{text}' is not a size (e.g. 512M, 2G)"))?;
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("'{text}' is too large"))
}

#[derive(Args, Debug)]
struct MountArgs {
    /// The repository: a restic repository (a local path, `restic:PATH`, `rest:URL`, `rclone:REMOTE`) or a
    /// folder of snapshot directories (`dir:PATH`); `-` or left out: $RESTIC_REPOSITORY.
    repo: String,
    /// An empty directory to mount on.
    mountpoint: Option<PathBuf>,
    /// Show only this path inside each generation.
    root: Option<PathBuf>,
    #[command(flatten)]
    access: RepoArgs,
    /// Show a generation whose tree is the same as the one before it as a symlink to that one.
    #[arg(long)]
    fold_identical: bool,
    /// Return once the mount is live and keep serving it in the background (exit code as without).
    #[arg(long)]
    daemon: bool,
    /// Re-read the repository every this many seconds (0: only when .pid is closed or on SIGHUP).
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    refresh_interval: u64,
    /// `multiple`: a directory per generation; `single`: one generation at the mountpoint;
    /// `versions`: all generations merged, each file a directory of its distinct versions.
    #[arg(long, value_enum, default_value_t = ViewArg::Multiple)]
    view: ViewArg,
    /// The generation of a single view: NAME, `latest` (the default) or `latest~N`.
    #[arg(long)]
    generation: Option<GenerationSpec>,
    /// A mount option passed to the OS (repeatable, or comma-separated).
    #[arg(short = 'o', long = "option", value_delimiter = ',')]
    options: Vec<String>,
    /// Let other users see the mount (FUSE needs `user_allow_other` in /etc/fuse.conf for non-root).
    #[arg(long)]
    allow_other: bool,
    /// Mount over a directory that is not empty.
    #[arg(long)]
    allow_non_empty: bool,
    /// The volume's name in Finder or Explorer (default: genmount and the repository's name).
    #[arg(long)]
    volname: Option<String>,
    /// On Windows, mark names that start with `.` hidden, as Unix tools treat them.
    #[arg(long)]
    hide_dot_files: bool,
    /// Threads that serve the kernel.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    threads: u16,
}

#[derive(Args, Debug)]
struct GenerationsArgs {
    /// The repository, as for `mount`.
    #[arg(default_value = "-")]
    repo: String,
    #[command(flatten)]
    access: RepoArgs,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

/// Options that only one view uses, refused with the others rather than silently ignored.
fn check_conflicts(args: &MountArgs) -> Result<(), OpenError> {
    if args.generation.is_some() && !matches!(args.view, ViewArg::Single) {
        return Err(OpenError::Usage(
            "--generation chooses the generation of --view single".into(),
        ));
    }
    if args.fold_identical && !matches!(args.view, ViewArg::Multiple) {
        return Err(OpenError::Usage(
            "--fold-identical folds generation directories: it needs --view multiple".into(),
        ));
    }
    Ok(())
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum ViewArg {
    Multiple,
    Single,
    Versions,
}

/// Whether loading shows progress: on a terminal, unless `-q`.
static SHOW_PROGRESS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// Runs the program and returns its exit code.
pub fn main() -> i32 {
    crate::platform::prepare_process();
    let argv: Vec<OsString> = std::env::args_os().collect();
    let argv = from_mount_helper(&argv).unwrap_or(argv);
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() { 2 } else { 0 };
        }
    };
    init_logging(cli.verbose, cli.quiet);
    let _ = SHOW_PROGRESS.set(!cli.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let result = match cli.command {
        Command::Mount(args) => mount(args),
        Command::Generations(args) => generations(args),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "genmount",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Command::Man => {
            use clap::CommandFactory;
            clap_mangen::Man::new(Cli::command())
                .render(&mut std::io::stdout())
                .map_err(|err| OpenError::Other(format!("cannot write the man page: {err}")))
        }
        Command::Unmount { mountpoint } => crate::platform::unmount(&mountpoint).map_err(|err| {
            OpenError::Mountpoint(format!("cannot unmount {}: {err}", mountpoint.display()))
        }),
    };
    match result {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("genmount: {err}");
            err.exit_code()
        }
    }
}

/// Options of mount(8) and fstab that mean nothing to genmount (it is always read-only, nodev,
/// nosuid) or only to mount(8) itself.
const MOUNT_HELPER_IGNORED: [&str; 19] = [
    "rw", "ro", "dev", "nodev", "suid", "nosuid", "exec", "noexec", "atime", "noatime", "relatime",
    "auto", "noauto", "user", "users", "nouser", "nofail", "_netdev", "defaults",
];
/// genmount's options that an fstab line may carry as `-o key=value`.
const MOUNT_HELPER_VALUES: [&str; 13] = [
    "password_file",
    "password_command",
    "cache_dir",
    "name_template",
    "generation",
    "view",
    "host",
    "tag",
    "path",
    "refresh_interval",
    "cache_size",
    "threads",
    "volname",
];
const MOUNT_HELPER_FLAGS: [&str; 7] = [
    "no_lock",
    "no_cache",
    "allow_other",
    "allow_non_empty",
    "hide_dot_files",
    "fold_identical",
    "allow_damaged",
];

/// The command line as the FUSE mount helper gives it (`genmount REPO MOUNTPOINT -o opts`, from
/// `mount -t fuse.genmount` or an fstab line), turned into `genmount mount --daemon …`: mount(8)
/// waits for the helper, so genmount returns once the mount is live.
fn from_mount_helper(argv: &[OsString]) -> Option<Vec<OsString>> {
    let first = argv.get(1)?.to_str()?;
    let subcommands = [
        "mount",
        "generations",
        "unmount",
        "completions",
        "man",
        "help",
    ];
    if argv.len() < 3 || first.starts_with('-') || subcommands.contains(&first) {
        return None;
    }
    let mut out: Vec<OsString> = vec![argv[0].clone(), "mount".into(), "--daemon".into()];
    let mut targets: Vec<OsString> = Vec::new();
    let mut root: Option<OsString> = None;
    let mut passed: Vec<String> = Vec::new();
    let mut rest = argv[1..].iter();
    while let Some(arg) = rest.next() {
        if arg == "-o" {
            let options = rest.next()?.to_str()?.to_string();
            for option in options.split(',').filter(|o| !o.is_empty()) {
                let (key, value) = option
                    .split_once('=')
                    .map_or((option, None), |(k, v)| (k, Some(v)));
                match value {
                    _ if MOUNT_HELPER_IGNORED.contains(&key) || key.starts_with("x-") => {}
                    Some(value) if key == "root" => root = Some(value.into()),
                    Some(value) if MOUNT_HELPER_VALUES.contains(&key) => {
                        out.push(format!("--{}", key.replace('_', "-")).into());
                        out.push(value.into());
                    }
                    None if MOUNT_HELPER_FLAGS.contains(&key) => {
                        out.push(format!("--{}", key.replace('_', "-")).into())
                    }
                    _ => passed.push(option.to_string()),
                }
            }
        } else {
            targets.push(arg.clone());
        }
    }
    if !passed.is_empty() {
        out.push("-o".into());
        out.push(passed.join(",").into());
    }
    out.extend(targets);
    out.extend(root);
    Some(out)
}

fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    // rustic_core logs its own view of errors that genmount reports in one line; show it with -v.
    let rustic = if verbose == 0 { "off" } else { level };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{level},rustic_core={rustic}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Which backend reads a repository.
enum Backend {
    Folder(PathBuf),
    /// A location as rustic_backend reads it.
    Restic(String),
}

/// Restic's remote forms that need the OpenDAL backend, which is a cargo feature.
const OPENDAL_SCHEMES: [&str; 6] = ["s3:", "b2:", "azure:", "gs:", "sftp:", "swift:"];

fn backend(repo: &str) -> Result<Backend, OpenError> {
    let repo = if repo == "-" {
        std::env::var("RESTIC_REPOSITORY").map_err(|_| {
            OpenError::Usage("no repository given, and RESTIC_REPOSITORY is not set".into())
        })?
    } else {
        repo.to_string()
    };
    if let Some(path) = repo.strip_prefix("dir:") {
        return Ok(Backend::Folder(PathBuf::from(path)));
    }
    if let Some(path) = repo.strip_prefix("restic:") {
        return Ok(Backend::Restic(format!("local:{path}")));
    }
    if ["local:", "rest:", "rclone:", "opendal:"]
        .iter()
        .any(|p| repo.starts_with(p))
    {
        return Ok(Backend::Restic(repo));
    }
    if OPENDAL_SCHEMES.iter().any(|p| repo.starts_with(p)) {
        return Err(OpenError::Usage(format!(
            "{repo}: this kind of repository is read through OpenDAL (build with --features opendal and use an opendal: location)"
        )));
    }
    let path = Path::new(&repo);
    if path.join("config").is_file() && path.join("keys").is_dir() {
        return Ok(Backend::Restic(format!("local:{repo}")));
    }
    Ok(Backend::Folder(path.to_path_buf()))
}

fn restic_options(location: String, access: &RepoArgs) -> ResticOptions {
    ResticOptions {
        location,
        credentials: None,
        password: PasswordSource {
            file: access.password_file.clone(),
            command: access.password_command.clone(),
        },
        cache_dir: access.cache_dir.clone(),
        no_cache: access.no_cache,
        filter: SnapshotFilter {
            hosts: access.host.clone(),
            tags: access
                .tag
                .iter()
                .map(|t| t.split(',').map(str::to_string).collect())
                .collect(),
            paths: access.path.clone(),
        },
        template: access.name_template.clone(),
        lock: !access.no_lock,
        progress: SHOW_PROGRESS.get().copied().unwrap_or(false),
        allow_damaged: access.allow_damaged,
        cache_size: access.cache_size,
    }
}

/// ROOT as path components; `..` could leave the generation, so it is refused.
fn root_components(root: Option<&Path>) -> Result<Vec<Vec<u8>>, OpenError> {
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

fn mount(mut args: MountArgs) -> Result<(), OpenError> {
    check_conflicts(&args)?;
    let mountpoint = match args.mountpoint.take() {
        Some(mountpoint) => mountpoint,
        None => PathBuf::from(std::mem::replace(&mut args.repo, "-".into())),
    };
    check_mountpoint(&mountpoint, args.allow_non_empty, std::env::consts::OS)?;
    let root = root_components(args.root.as_deref())?;
    let backend = backend(&args.repo)?;
    let restic = match &backend {
        Backend::Restic(location) => {
            let mut options = restic_options(location.clone(), &args.access);
            // Asked in the foreground, before a daemon leaves the terminal.
            options.credentials = Some(open::credentials(&options.password)?);
            Some(options)
        }
        Backend::Folder(_) => None,
    };
    let Some(daemon) = args.daemon.then(crate::platform::daemonize).transpose()? else {
        return serve_backend(&args, backend, restic, mountpoint, root, None);
    };
    // From here on this is the daemon; the parent waits for its report.
    let daemon = std::sync::Arc::new(std::sync::Mutex::new(daemon));
    let (ready, live) = std::sync::mpsc::channel();
    let reporter = daemon.clone();
    std::thread::spawn(move || {
        if live.recv().is_ok() {
            reporter.lock().unwrap_or_else(|p| p.into_inner()).ready();
        }
    });
    let result = serve_backend(&args, backend, restic, mountpoint, root, Some(ready));
    if let Err(err) = &result {
        daemon
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .failed(err.exit_code());
    }
    result
}

/// Opens the repository and serves it at `mountpoint` until unmounted.
fn serve_backend(
    args: &MountArgs,
    backend: Backend,
    restic: Option<ResticOptions>,
    mountpoint: PathBuf,
    root: Vec<Vec<u8>>,
    ready: Option<std::sync::mpsc::Sender<()>>,
) -> Result<(), OpenError> {
    let (uid, gid) = crate::platform::owner();
    let options = LayoutOptions {
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
    };
    let shown = open::redact(&args.repo);
    let request = MountRequest {
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
        threads: usize::from(args.threads),
        refresh_interval: (args.refresh_interval > 0)
            .then(|| Duration::from_secs(args.refresh_interval)),
        ready,
    };
    match (backend, restic) {
        (Backend::Restic(_), Some(restic)) => serve(ResticRepo::open(&restic)?, options, &request),
        (Backend::Restic(location), None) => serve(
            ResticRepo::open(&restic_options(location, &args.access))?,
            options,
            &request,
        ),
        (Backend::Folder(path), _) => serve(FolderRepo::open(&path)?, options, &request),
    }
}

/// `genmount <last path component of the repository>`.
fn default_volname(repo: &str) -> String {
    let trimmed = repo.trim_end_matches(['/', '\\']);
    let name = trimmed.rsplit(['/', '\\', ':']).next().unwrap_or(trimmed);
    format!("genmount {name}")
}

fn serve<R: Repository>(
    repo: R,
    options: LayoutOptions,
    request: &MountRequest,
) -> Result<(), OpenError> {
    let layout = Layout::new(repo, options)?;
    crate::platform::mount(layout, request)
}

fn generations(args: GenerationsArgs) -> Result<(), OpenError> {
    let list = match backend(&args.repo)? {
        Backend::Folder(path) => FolderRepo::open(&path)?.generations(),
        Backend::Restic(location) => {
            let mut options = restic_options(location, &args.access);
            options.lock = false;
            ResticRepo::open(&options)?.generations()
        }
    };
    let finished: Vec<&Generation> = list.iter().filter(|g| !g.checkpoint).collect();
    if args.json {
        for generation in finished {
            println!("{}", describe_json(generation));
        }
    } else {
        println!("{}", table(&finished));
    }
    Ok(())
}

fn describe_json(g: &Generation) -> String {
    serde_json::json!({
        "name": g.name,
        "id": g.id,
        "time": g.end.to_rfc3339(),
        "host": g.host,
        "paths": g.paths,
        "tags": g.tags,
        "files": g.files,
        "size": g.size,
    })
    .to_string()
}

/// Generations as an aligned table: name, time, host, paths, files, size.
fn table(list: &[&Generation]) -> String {
    let known = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
    let mut rows = vec![["NAME", "TIME", "HOST", "PATHS", "FILES", "SIZE"].map(String::from)];
    for g in list {
        rows.push([
            g.name.clone(),
            g.end.to_rfc3339(),
            g.host.clone().unwrap_or_else(|| "-".into()),
            if g.paths.is_empty() {
                "-".into()
            } else {
                g.paths.join(",")
            },
            known(g.files),
            g.size.map_or_else(|| "-".to_string(), human_size),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            cells.join("  ").trim_end().to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `1.5 GiB`, `512 B`.
fn human_size(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < units.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_sizes_take_suffixes_and_a_floor() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert!(parse_size("12X").is_err());
        assert!(parse_size("99999999999G").is_err());
        assert!(parse_size("").is_err());
        assert_eq!(parse_cache_size("8M"), Ok(8 << 20));
        assert!(parse_cache_size("1M").is_err());
    }

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

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(3 << 30), "3.0 GiB");
    }

    #[test]
    fn the_mount_helper_form_becomes_a_daemon_mount() {
        let argv: Vec<OsString> = ["genmount", "/srv/repo", "/mnt/b", "-o", "ro,dev,suid,password_file=/etc/pw,allow_other,root=home/me,max_read=65536,x-systemd.automount"]
            .iter()
            .map(OsString::from)
            .collect();
        let got = from_mount_helper(&argv).unwrap_or_default();
        let want = [
            "genmount",
            "mount",
            "--daemon",
            "--password-file",
            "/etc/pw",
            "--allow-other",
            "-o",
            "max_read=65536",
            "/srv/repo",
            "/mnt/b",
            "home/me",
        ];
        assert_eq!(got, want.iter().map(OsString::from).collect::<Vec<_>>());
        let normal: Vec<OsString> = ["genmount", "mount", "a", "b"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(from_mount_helper(&normal), None);
        assert!(Cli::try_parse_from(got).is_ok());
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
