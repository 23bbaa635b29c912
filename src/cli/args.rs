//! The clap definition of genmount's command line: its subcommands, their arguments, and the checks
//! of values and combinations that clap cannot express by itself.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::error::OpenError;
use crate::vfs::GenerationSpec;

/// `--help`'s headings, in the order a user reads them: where the repository is and how to open it,
/// what the mount shows, how it is mounted; options of every subcommand last, apart.
const REPOSITORY: &str = "Repository options";
const VIEW: &str = "View options";
const MOUNT: &str = "Mount options";
const OUTPUT: &str = "Output options";
const SERVER: &str = "Server options";
const GLOBAL: &str = "Global options";

#[derive(Parser, Debug)]
#[command(
    name = "genmount",
    version,
    about = "Mount the generations of a backup repository, read-only",
    // Our own -h and -V, so that they stand under the global heading with -v and -q.
    disable_help_flag = true,
    disable_version_flag = true
)]
pub(super) struct Cli {
    #[command(subcommand)]
    pub(super) command: Command,
    /// More log output (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true, help_heading = GLOBAL)]
    pub(super) verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true, help_heading = GLOBAL)]
    pub(super) quiet: bool,
    /// Print help.
    #[arg(short, long, action = clap::ArgAction::Help, global = true, help_heading = GLOBAL)]
    help: Option<bool>,
    /// Print the version.
    #[arg(short = 'V', long, action = clap::ArgAction::Version, help_heading = GLOBAL)]
    version: Option<bool>,
}

#[derive(Subcommand, Debug)]
pub(super) enum Command {
    /// Mount a repository; runs until unmounted or interrupted.
    Mount(MountArgs),
    /// Serve a repository over HTTP: a read-only WebDAV share and web pages, no driver needed.
    Serve(ServeArgs),
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

/// The subcommands' names: a first argument that is none of them is the mount helper's form.
pub(super) const SUBCOMMANDS: [&str; 7] = [
    "mount",
    "serve",
    "generations",
    "unmount",
    "completions",
    "man",
    "help",
];

/// How to reach a repository and which of its generations to show: shared by every subcommand.
#[derive(Args, Debug, Clone)]
pub(super) struct RepoArgs {
    /// Read the restic password from the first line of this file.
    #[arg(long, env = "RESTIC_PASSWORD_FILE", value_name = "FILE", help_heading = REPOSITORY)]
    pub(super) password_file: Option<PathBuf>,
    /// Run this command (no shell) and take the first line of its output as the restic password.
    #[arg(long, env = "RESTIC_PASSWORD_COMMAND", value_name = "COMMAND", help_heading = REPOSITORY)]
    pub(super) password_command: Option<String>,
    /// Where rustic keeps its local cache of snapshots, index and trees.
    #[arg(long, value_name = "DIR", help_heading = REPOSITORY)]
    pub(super) cache_dir: Option<PathBuf>,
    /// Keep no local cache.
    #[arg(long, help_heading = REPOSITORY)]
    pub(super) no_cache: bool,
    /// Hold no restic or borg lock while mounted (for read-only media).
    #[arg(long, help_heading = REPOSITORY)]
    pub(super) no_lock: bool,
    /// Read what is left of damaged files: zeros in place of lost data blobs, each one logged.
    #[arg(long, help_heading = REPOSITORY)]
    pub(super) allow_damaged: bool,
    /// Memory for decrypted file data kept for reads to come: bytes, or with K, M or G (1024-based).
    #[arg(long, default_value = "32M", value_name = "SIZE", value_parser = parse_cache_size, help_heading = REPOSITORY)]
    pub(super) cache_size: u64,
    /// Only snapshots (borg: archives) of this host (repeatable: any of them).
    #[arg(long, value_name = "HOST", help_heading = VIEW)]
    pub(super) host: Vec<String>,
    /// Borg: only archives whose name starts with PREFIX.
    #[arg(short = 'P', long, value_name = "PREFIX", conflicts_with = "glob_archives", help_heading = VIEW)]
    pub(super) prefix: Option<String>,
    /// Borg: only archives whose name matches GLOB as borg reads it (`*`, `?`, `[...]`).
    #[arg(short = 'a', long, value_name = "GLOB", help_heading = VIEW)]
    pub(super) glob_archives: Option<String>,
    /// Only snapshots with all these tags, comma-separated (repeatable: any of the lists).
    #[arg(long, value_name = "TAG[,TAG]", help_heading = VIEW)]
    pub(super) tag: Vec<String>,
    /// Only snapshots that include this path (repeatable: all of them).
    #[arg(long, value_name = "PATH", help_heading = VIEW)]
    pub(super) path: Vec<String>,
    /// How generation directories are named. restic: {time} (the default), {id}, {long_id}, {host},
    /// {user}, {tags}, {label}; borg: {name} (the default), {time}, {id}, {long_id}, {host}, {user}.
    #[arg(long, value_name = "TEMPLATE", help_heading = VIEW)]
    pub(super) name_template: Option<String>,
}

#[derive(Args, Debug)]
pub(super) struct MountArgs {
    /// The repository: a restic repository (a local path, `restic:PATH`, `rest:URL`, `rclone:REMOTE`;
    /// in a build with OpenDAL also `s3:`, `b2:`, `azure:`, `gs:`, `sftp:`, `swift:` as restic writes
    /// them and `opendal:SERVICE?KEY=VALUE&…`), a borg 1.x repository (a local path, `borg:PATH`,
    /// `ssh://user@host/path` or `user@host:path` through `borg serve`) or a folder of snapshot
    /// directories (`dir:PATH`); `-` or left out: $RESTIC_REPOSITORY, else $BORG_REPO.
    pub(super) repo: String,
    /// An empty directory to mount on.
    pub(super) mountpoint: Option<PathBuf>,
    /// Show only this path inside each generation.
    pub(super) root: Option<PathBuf>,
    #[command(flatten)]
    pub(super) access: RepoArgs,
    #[command(flatten)]
    pub(super) shown: ViewArgs,
    /// A mount option passed to the OS (repeatable, or comma-separated).
    #[arg(short = 'o', long = "option", value_name = "OPTION", value_delimiter = ',', help_heading = MOUNT)]
    pub(super) options: Vec<String>,
    /// Let other users see the mount (FUSE needs `user_allow_other` in /etc/fuse.conf for non-root).
    #[arg(long, help_heading = MOUNT)]
    pub(super) allow_other: bool,
    /// Mount over a directory that is not empty.
    #[arg(long, help_heading = MOUNT)]
    pub(super) allow_non_empty: bool,
    /// Return once the mount is live and keep serving it in the background (exit code as without).
    /// Not on Windows, which has no fork: run `start /b genmount mount …` or a service instead.
    #[arg(long, help_heading = MOUNT)]
    pub(super) daemon: bool,
    /// Re-read the repository every this many seconds (0: only when .pid is read or on SIGHUP).
    #[arg(long, default_value_t = 60, value_name = "SECONDS", help_heading = MOUNT)]
    pub(super) refresh_interval: u64,
    /// The volume's name in Finder or Explorer (default: genmount and the repository's name).
    #[arg(long, help_heading = MOUNT)]
    pub(super) volname: Option<String>,
    /// On Windows, mark names that start with `.` hidden, as Unix tools treat them.
    #[arg(long, help_heading = MOUNT)]
    pub(super) hide_dot_files: bool,
    /// Read snapshot-folder files through genmount even where the kernel could read them itself
    /// (FUSE passthrough: Linux 6.9 or later, as root).
    #[arg(long, help_heading = MOUNT)]
    pub(super) no_passthrough: bool,
    /// Threads that serve the kernel [default: one per CPU, 2 to 4].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64), help_heading = MOUNT)]
    pub(super) threads: Option<u16>,
}

/// What the mount or the server shows: shared by `mount` and `serve`.
#[derive(Args, Debug)]
pub(super) struct ViewArgs {
    /// `multiple`: a directory per generation; `single`: one generation at the mountpoint;
    /// `versions`: all generations merged, each file a directory of its distinct versions.
    #[arg(long, value_enum, default_value_t = ViewArg::Multiple, help_heading = VIEW)]
    pub(super) view: ViewArg,
    /// The generation of a single view: NAME, `latest` (the default) or `latest~N`.
    #[arg(long, help_heading = VIEW)]
    pub(super) generation: Option<GenerationSpec>,
    /// Show a generation whose tree is the same as the one before it as a symlink to that one.
    #[arg(long, help_heading = VIEW)]
    pub(super) fold_identical: bool,
}

impl ViewArgs {
    /// Options that only one view uses, refused with the others rather than silently ignored.
    pub(super) fn check_conflicts(&self) -> Result<(), OpenError> {
        if self.generation.is_some() && !matches!(self.view, ViewArg::Single) {
            return Err(OpenError::Usage(
                "--generation chooses the generation of --view single".into(),
            ));
        }
        if self.fold_identical && !matches!(self.view, ViewArg::Multiple) {
            return Err(OpenError::Usage(
                "--fold-identical folds generation directories: it needs --view multiple".into(),
            ));
        }
        Ok(())
    }
}

#[derive(Args, Debug)]
pub(super) struct ServeArgs {
    /// The repository, as for `mount` (`-`: $RESTIC_REPOSITORY).
    pub(super) repo: String,
    /// Where to listen, ADDRESS:PORT. Anything but loopback needs --user (and TLS or --insecure).
    #[arg(default_value = "127.0.0.1:4918")]
    pub(super) addr: String,
    #[command(flatten)]
    pub(super) access: RepoArgs,
    /// Show only this path inside each generation.
    #[arg(long, value_name = "PATH", help_heading = VIEW)]
    pub(super) root: Option<PathBuf>,
    #[command(flatten)]
    pub(super) shown: ViewArgs,
    /// Ask every client for this user name and its password (HTTP basic authentication).
    #[arg(long, requires = "user_password_file", help_heading = SERVER)]
    pub(super) user: Option<String>,
    /// The password of --user: the first line of this file.
    #[arg(long, requires = "user", value_name = "FILE", help_heading = SERVER)]
    pub(super) user_password_file: Option<PathBuf>,
    /// Serve HTTPS with this PEM certificate chain (and --tls-key).
    #[arg(long, requires = "tls_key", value_name = "FILE", help_heading = SERVER)]
    pub(super) tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert", value_name = "FILE", help_heading = SERVER)]
    pub(super) tls_key: Option<PathBuf>,
    /// Allow --user's password over plain HTTP on an address other machines can reach.
    #[arg(long, help_heading = SERVER)]
    pub(super) insecure: bool,
    /// Return once the server listens and keep serving in the background.
    /// Not on Windows, which has no fork: run `start /b genmount serve …` instead.
    #[arg(long, help_heading = SERVER)]
    pub(super) daemon: bool,
    /// Re-read the repository every this many seconds (0: only when .pid is read or on SIGHUP).
    #[arg(long, default_value_t = 60, value_name = "SECONDS", help_heading = SERVER)]
    pub(super) refresh_interval: u64,
}

#[derive(Args, Debug)]
pub(super) struct GenerationsArgs {
    /// The repository, as for `mount`.
    #[arg(default_value = "-")]
    pub(super) repo: String,
    #[command(flatten)]
    pub(super) access: RepoArgs,
    /// One JSON array of the generations instead of a table, as `restic snapshots --json` prints.
    #[arg(long, conflicts_with = "json_lines", help_heading = OUTPUT)]
    pub(super) json: bool,
    /// One JSON object per generation and line instead of a table, for a stream.
    #[arg(long, help_heading = OUTPUT)]
    pub(super) json_lines: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub(super) enum ViewArg {
    Multiple,
    Single,
    Versions,
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
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn every_subcommand_is_known_to_the_mount_helper_check() {
        use clap::CommandFactory;
        for sub in Cli::command().get_subcommands() {
            assert!(SUBCOMMANDS.contains(&sub.get_name()), "{}", sub.get_name());
        }
    }
}
