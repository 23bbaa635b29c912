//! Which backend a REPO string means, and the options that backend is opened with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::args::RepoArgs;
use crate::error::OpenError;
use crate::repo::borg::{self, ArchiveFilter, BorgLocation, BorgOptions, BorgRepo};
use crate::repo::naming;
use crate::repo::restic::location;
use crate::repo::restic::password::PasswordSource;
use crate::repo::restic::{ResticOptions, SnapshotFilter};

/// A repository as the backend that reads it, with everything that backend needs to open it.
pub(super) enum Backend {
    /// A folder of snapshot directories.
    Folder(PathBuf),
    /// A restic repository (boxed: its options are some 280 bytes).
    Restic(Box<ResticOptions>),
    /// A borg 1.x repository, local or through `borg serve` over ssh.
    Borg(BorgOptions),
    /// A borg repository already opened (its passphrase asked) before a daemon forks.
    BorgOpened(Box<BorgRepo>),
}

impl Backend {
    /// The backend for `repo` (`-`: `$RESTIC_REPOSITORY`), opened as `access` and `progress` say.
    pub(super) fn detect(
        repo: &str,
        access: &RepoArgs,
        progress: bool,
    ) -> Result<Backend, OpenError> {
        let restic = |location, options| {
            Backend::Restic(Box::new(restic_options(
                location, options, access, progress,
            )))
        };
        let borg = |location| -> Result<Backend, OpenError> {
            refuse_restic_only_options(access)?;
            let filter = ArchiveFilter::new(
                access.prefix.clone(),
                access.glob_archives.as_deref(),
                access.host.clone(),
            )
            .map_err(OpenError::Usage)?;
            Ok(Backend::Borg(BorgOptions {
                location,
                cache_size: access.cache_size,
                lock: !access.no_lock,
                filter,
                template: template_or(access, naming::BORG_TEMPLATE),
                allow_damaged: access.allow_damaged,
            }))
        };
        let backend = match classify(&resolve(repo)?)? {
            Location::Folder(path) => Backend::Folder(path),
            Location::Borg(location) => borg(location)?,
            Location::Restic(location) => restic(location, BTreeMap::new()),
            #[cfg(feature = "opendal")]
            Location::OpenDal(mut remote) => {
                super::remote::add_environment(&mut remote, |name| std::env::var(name).ok())
                    .map_err(OpenError::Usage)?;
                restic(remote.location, remote.options)
            }
            Location::Path(path) if looks_like_restic(&path) => {
                restic(format!("local:{}", path.display()), BTreeMap::new())
            }
            Location::Path(path) if borg::looks_like_borg(&path) => {
                borg(BorgLocation::Local(path))?
            }
            Location::Path(path) => Backend::Folder(path),
        };
        match &backend {
            Backend::Borg(_) | Backend::BorgOpened(_) => Ok(backend),
            _ => refuse_borg_only_options(access).map(|()| backend),
        }
    }
}

impl Backend {
    /// Asks for what opening the repository needs (a password, maybe at a prompt): called in the
    /// foreground, before a daemon leaves the terminal. A borg repository is opened here whole:
    /// opening starts no thread, so the daemon's fork keeps all of it (over ssh, the connection:
    /// the daemon inherits its pipes).
    pub(super) fn ask_credentials(&mut self) -> Result<(), OpenError> {
        if let Backend::Restic(options) = self {
            options.credentials = Some(crate::repo::restic::password::credentials(
                &options.password,
            )?);
        }
        if let Backend::Borg(options) = self {
            let opened = BorgRepo::open(options)?;
            *self = Backend::BorgOpened(Box::new(opened));
        }
        Ok(())
    }
}

/// The name template given, or the backend's own default.
fn template_or(access: &RepoArgs, default: &str) -> String {
    access
        .name_template
        .clone()
        .unwrap_or_else(|| default.to_owned())
}

/// restic's snapshot selectors, which borg 1.x archives have nothing for: refused rather than
/// silently ignored.
fn refuse_restic_only_options(access: &RepoArgs) -> Result<(), OpenError> {
    let given = [
        (!access.tag.is_empty(), "--tag"),
        (!access.path.is_empty(), "--path"),
    ];
    match given.iter().find(|(on, _)| *on) {
        Some((_, option)) => Err(OpenError::Usage(format!(
            "{option} selects restic snapshots: borg 1.x archives record no tags or paths \
             (select archives with --prefix, --glob-archives or --host)"
        ))),
        None => Ok(()),
    }
}

/// Borg's archive filters, refused for the other backends.
fn refuse_borg_only_options(access: &RepoArgs) -> Result<(), OpenError> {
    match (&access.prefix, &access.glob_archives) {
        (Some(_), _) => Err(OpenError::Usage(
            "--prefix applies to borg repositories only".into(),
        )),
        (_, Some(_)) => Err(OpenError::Usage(
            "--glob-archives applies to borg repositories only".into(),
        )),
        _ => Ok(()),
    }
}

/// `repo` as it may be shown to every user (the mount's fsname): no REST password, and none of the
/// `?key=value` options a remote location may carry, which may hold credentials.
pub(super) fn shown_location(repo: &str) -> String {
    let remote = OPENDAL_SCHEMES
        .iter()
        .chain(&["opendal:"])
        .any(|p| repo.starts_with(p));
    let repo = match repo.split_once('?') {
        Some((before, _)) if remote => before,
        _ => repo,
    };
    location::redact(repo)
}

/// What a REPO string says by itself, before the filesystem is asked.
#[derive(Debug, PartialEq, Eq)]
enum Location {
    /// `dir:PATH`.
    Folder(PathBuf),
    /// A location as rustic_backend reads it.
    Restic(String),
    /// `borg:LOCATION` (a path, `ssh://…` or `[user@]host:path`), or `ssh://…` and
    /// `user@host:path` without the prefix.
    Borg(BorgLocation),
    /// A location, restic's or rustic_backend's own, read through OpenDAL.
    #[cfg(feature = "opendal")]
    OpenDal(super::remote::OpenDal),
    /// A path without a prefix: a restic repository if one is there, else a folder.
    Path(PathBuf),
}

/// Restic's remote forms that need the OpenDAL backend, which is a cargo feature.
const OPENDAL_SCHEMES: [&str; 6] = ["s3:", "b2:", "azure:", "gs:", "sftp:", "swift:"];

/// The prefixes rustic_backend reads as they are (`opendal:` too, in a build without OpenDAL, to
/// report that it has none).
const RESTIC_SCHEMES: [&str; 4] = ["local:", "rest:", "rclone:", "opendal:"];

/// `repo`, or for `-` `$RESTIC_REPOSITORY` as restic takes it, else `$BORG_REPO` as borg does.
fn resolve(repo: &str) -> Result<String, OpenError> {
    if repo != "-" {
        return Ok(repo.to_string());
    }
    if let Ok(restic) = std::env::var("RESTIC_REPOSITORY") {
        return Ok(restic);
    }
    match std::env::var("BORG_REPO") {
        Ok(borg) => Ok(format!("borg:{borg}")),
        Err(_) => Err(OpenError::Usage(
            "no repository given, and neither RESTIC_REPOSITORY nor BORG_REPO is set".into(),
        )),
    }
}

/// Only the known prefixes count: anything else, a Windows drive's `C:` among them, is a path.
fn classify(repo: &str) -> Result<Location, OpenError> {
    if let Some(path) = repo.strip_prefix("dir:") {
        return Ok(Location::Folder(PathBuf::from(path)));
    }
    if let Some(location) = repo.strip_prefix("borg:") {
        return BorgLocation::parse(location)
            .map(Location::Borg)
            .map_err(OpenError::Usage);
    }
    if repo.starts_with("ssh://") {
        return borg_remote(repo);
    }
    if let Some(path) = repo.strip_prefix("restic:") {
        return Ok(Location::Restic(format!("local:{path}")));
    }
    #[cfg(feature = "opendal")]
    if let Some(remote) = super::remote::parse(repo) {
        let remote =
            remote.map_err(|err| OpenError::Usage(format!("{}: {err}", shown_location(repo))))?;
        return Ok(Location::OpenDal(remote));
    }
    if RESTIC_SCHEMES.iter().any(|p| repo.starts_with(p)) {
        return Ok(Location::Restic(repo.to_string()));
    }
    if OPENDAL_SCHEMES.iter().any(|p| repo.starts_with(p)) {
        return Err(OpenError::Usage(format!(
            "{}: this kind of repository is read through OpenDAL: use a genmount built with --features opendal",
            shown_location(repo)
        )));
    }
    if BorgLocation::parse_unprefixed(repo).is_some() {
        return borg_remote(repo);
    }
    Ok(Location::Path(PathBuf::from(repo)))
}

/// `ssh://…` or `user@host:path`: a borg repository reached through `borg serve`.
fn borg_remote(repo: &str) -> Result<Location, OpenError> {
    match BorgLocation::parse_unprefixed(repo) {
        Some(Ok(remote)) => Ok(Location::Borg(BorgLocation::Remote(remote))),
        Some(Err(err)) => Err(OpenError::Usage(err)),
        None => Ok(Location::Path(PathBuf::from(repo))),
    }
}

/// A restic repository has a `config` file and a `keys` directory; a folder of snapshots has neither.
fn looks_like_restic(path: &Path) -> bool {
    path.join("config").is_file() && path.join("keys").is_dir()
}

fn restic_options(
    location: String,
    backend_options: BTreeMap<String, String>,
    access: &RepoArgs,
    progress: bool,
) -> ResticOptions {
    ResticOptions {
        location,
        backend_options,
        credentials: None,
        password: PasswordSource {
            file: access.password_file.clone(),
            command: access.password_command.clone(),
        },
        cache_dir: access.cache_dir.clone(),
        no_cache: access.no_cache,
        filter: snapshot_filter(access),
        template: template_or(access, naming::DEFAULT_TEMPLATE),
        lock: !access.no_lock,
        progress,
        allow_damaged: access.allow_damaged,
        cache_size: access.cache_size,
    }
}

/// `--tag a,b --tag c` means (a and b) or c.
fn snapshot_filter(access: &RepoArgs) -> SnapshotFilter {
    SnapshotFilter {
        hosts: access.host.clone(),
        tags: access
            .tag
            .iter()
            .map(|t| t.split(',').map(str::to_string).collect())
            .collect(),
        paths: access.path.clone(),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::super::args::{Cli, Command};
    use super::*;

    fn location(repo: &str) -> Option<Location> {
        classify(repo).ok()
    }

    #[test]
    fn prefixes_choose_the_backend() {
        assert_eq!(
            location("dir:/srv/snap"),
            Some(Location::Folder("/srv/snap".into()))
        );
        assert_eq!(
            location("restic:/srv/repo"),
            Some(Location::Restic("local:/srv/repo".into()))
        );
        for repo in [
            "local:/srv/repo",
            "rest:http://host:8000/",
            "rclone:remote:b",
        ] {
            assert_eq!(location(repo), Some(Location::Restic(repo.into())));
        }
        assert_eq!(
            location("/srv/repo"),
            Some(Location::Path("/srv/repo".into()))
        );
    }

    #[test]
    #[cfg(not(feature = "opendal"))]
    fn remote_forms_ask_for_the_opendal_build() {
        for repo in ["s3:host/bucket", "b2:bucket:path", "sftp:host:/r", "gs:b:/"] {
            let Err(OpenError::Usage(message)) = classify(repo) else {
                panic!("{repo} is not refused");
            };
            assert!(message.contains("--features opendal"), "{message}");
        }
    }

    #[test]
    #[cfg(feature = "opendal")]
    fn remote_forms_are_read_through_opendal() {
        let Ok(Location::OpenDal(remote)) = classify("s3:s3.amazonaws.com/b/r") else {
            panic!("s3: is not read through OpenDAL");
        };
        assert_eq!(remote.location, "opendal:s3:s3.amazonaws.com/b/r");
        assert!(matches!(
            classify("sftp:host:rel"),
            Err(OpenError::Usage(_))
        ));
    }

    #[test]
    fn borg_locations_and_the_options_they_refuse() {
        assert_eq!(
            location("borg:/srv/borg"),
            Some(Location::Borg(BorgLocation::Local("/srv/borg".into())))
        );
        let mut remotes = vec!["borg:ssh://me@host/./repo", "ssh://me@host:2222/srv/repo"];
        // As borg on Windows, where a drive letter would look like a host: no scp form there.
        if cfg!(not(windows)) {
            remotes.extend(["me@host:repo", "borg:host:repo"]);
        }
        for remote in remotes {
            assert!(
                matches!(
                    location(remote),
                    Some(Location::Borg(BorgLocation::Remote(_)))
                ),
                "{remote}"
            );
        }
        assert!(matches!(classify("ssh://host"), Err(OpenError::Usage(_))));
        assert_eq!(
            location("host:repo"),
            Some(Location::Path("host:repo".into())),
            "without a user or the borg: prefix, a colon does not make a remote"
        );
        let parse = |argv: &[&str]| match Cli::try_parse_from(argv) {
            Ok(Cli {
                command: Command::Generations(args),
                ..
            }) => Some(args),
            _ => None,
        };
        let Some(plain) = parse(&["genmount", "generations"]) else {
            panic!("the command line does not parse");
        };
        assert!(matches!(
            Backend::detect("borg:/srv/borg", &plain.access, false),
            Ok(Backend::Borg(options))
                if options.location == BorgLocation::Local("/srv/borg".into())
        ));
        let Some(tagged) = parse(&["genmount", "generations", "--tag", "a"]) else {
            panic!("the command line does not parse");
        };
        assert!(matches!(
            Backend::detect("borg:/srv/borg", &tagged.access, false),
            Err(OpenError::Usage(message)) if message.contains("--tag")
        ));
        let Some(prefixed) = parse(&["genmount", "generations", "-P", "web-"]) else {
            panic!("the command line does not parse");
        };
        assert!(matches!(
            Backend::detect("dir:/srv/snapshots", &prefixed.access, false),
            Err(OpenError::Usage(message)) if message.contains("--prefix")
        ));
        assert!(matches!(
            Backend::detect("borg:/srv/borg", &prefixed.access, false),
            Ok(Backend::Borg(options)) if options.filter.keeps_name("web-1") && !options.filter.keeps_name("db-1")
        ));
        let Some(bad) = parse(&["genmount", "generations", "-a", "[z-a]"]) else {
            panic!("the command line does not parse");
        };
        assert!(matches!(
            Backend::detect("borg:/srv/borg", &bad.access, false),
            Err(OpenError::Usage(message)) if message.contains("--glob-archives")
        ));
        assert!(parse(&["genmount", "generations", "-P", "a", "-a", "b*"]).is_none());
    }

    #[test]
    fn shown_locations_hide_options_and_passwords() {
        assert_eq!(shown_location("b2:b:p?application_key=secret"), "b2:b:p");
        assert_eq!(
            shown_location("opendal:s3?secret_access_key=x"),
            "opendal:s3"
        );
        assert_eq!(
            shown_location("rest:http://u:pw@h/r"),
            "rest:http://***@h/r"
        );
        assert_eq!(shown_location("/srv/what?"), "/srv/what?");
    }

    #[test]
    fn windows_locations_are_classified_like_their_unix_forms() {
        assert_eq!(
            location(r"C:\backups\repo"),
            Some(Location::Path(r"C:\backups\repo".into()))
        );
        // A drive letter that starts an OpenDAL scheme's name is still a drive.
        assert_eq!(
            location(r"S:\backups\repo"),
            Some(Location::Path(r"S:\backups\repo".into()))
        );
        assert_eq!(
            location(r"restic:C:\backups\repo"),
            Some(Location::Restic(r"local:C:\backups\repo".into()))
        );
        assert_eq!(
            location(r"dir:C:\snap"),
            Some(Location::Folder(r"C:\snap".into()))
        );
    }

    #[test]
    fn restic_backends_carry_the_access_options() {
        let argv = [
            "genmount",
            "generations",
            "--no-lock",
            "--tag",
            "a,b",
            "--tag",
            "c",
        ];
        let Ok(Cli {
            command: Command::Generations(args),
            ..
        }) = Cli::try_parse_from(argv)
        else {
            panic!("the command line does not parse");
        };
        let Ok(Backend::Restic(options)) =
            Backend::detect(r"restic:C:\backups\repo", &args.access, true)
        else {
            panic!("restic: does not choose restic");
        };
        assert_eq!(options.location, r"local:C:\backups\repo");
        assert!(!options.lock && options.progress);
        assert_eq!(options.filter.tags, [vec!["a", "b"], vec!["c"]]);
        assert!(matches!(
            Backend::detect(r"dir:C:\snap", &args.access, false),
            Ok(Backend::Folder(path)) if path == Path::new(r"C:\snap")
        ));
    }
}
