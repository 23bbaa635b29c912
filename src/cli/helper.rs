//! The FUSE mount helper's command line (`mount -t fuse.genmount`, an fstab line) rewritten into
//! genmount's own: `genmount REPO MOUNTPOINT -o OPTS` becomes `genmount mount --daemon …`.

use std::ffi::OsString;

use super::args::SUBCOMMANDS;

/// Options of mount(8) and fstab that mean nothing to genmount (it is always read-only, nodev,
/// nosuid) or only to mount(8) itself.
const IGNORED: [&str; 19] = [
    "rw", "ro", "dev", "nodev", "suid", "nosuid", "exec", "noexec", "atime", "noatime", "relatime",
    "auto", "noauto", "user", "users", "nouser", "nofail", "_netdev", "defaults",
];
/// genmount's options that an fstab line may carry as `-o key=value`.
const VALUES: [&str; 15] = [
    "password_file",
    "password_command",
    "cache_dir",
    "name_template",
    "generation",
    "view",
    "host",
    "prefix",
    "glob_archives",
    "tag",
    "path",
    "refresh_interval",
    "cache_size",
    "threads",
    "volname",
];
/// genmount's switches that an fstab line may carry as a bare `-o key`.
const FLAGS: [&str; 7] = [
    "no_lock",
    "no_cache",
    "allow_other",
    "allow_non_empty",
    "hide_dot_files",
    "fold_identical",
    "allow_damaged",
];

/// The command line as the FUSE mount helper gives it, turned into `genmount mount --daemon …`:
/// mount(8) waits for the helper, so genmount returns once the mount is live. `None` when `argv`
/// is not in the helper's form (or is malformed in it), so that clap reads it as it is.
pub(super) fn from_mount_helper(argv: &[OsString]) -> Option<Vec<OsString>> {
    let [program, first, _, ..] = argv else {
        return None;
    };
    let first = first.to_str()?;
    if first.starts_with('-') || SUBCOMMANDS.contains(&first) {
        return None;
    }
    let mut rewrite = Rewrite::default();
    let mut targets: Vec<OsString> = Vec::new();
    let mut rest = argv[1..].iter();
    while let Some(arg) = rest.next() {
        if arg == "-o" {
            rewrite.add(rest.next()?.to_str()?);
        } else {
            targets.push(arg.clone());
        }
    }
    Some(rewrite.into_argv(program, targets))
}

/// The `-o` options sorted by who takes them.
#[derive(Default)]
struct Rewrite {
    /// genmount's own options as long flags, in the order given.
    own: Vec<OsString>,
    /// ROOT: the mount helper has no third positional argument, so it comes as `root=`.
    root: Option<OsString>,
    /// Options for the OS, passed on as one `-o`.
    passed: Vec<String>,
}

impl Rewrite {
    fn add(&mut self, options: &str) {
        for option in options.split(',').filter(|o| !o.is_empty()) {
            self.add_one(option);
        }
    }

    fn add_one(&mut self, option: &str) {
        let (key, value) = option
            .split_once('=')
            .map_or((option, None), |(k, v)| (k, Some(v)));
        match value {
            // `x-` options belong to other programs (systemd's `x-systemd.automount`, say).
            _ if IGNORED.contains(&key) || key.starts_with("x-") => {}
            Some(value) if key == "root" => self.root = Some(value.into()),
            Some(value) if VALUES.contains(&key) => {
                self.own.push(long_flag(key));
                self.own.push(value.into());
            }
            None if FLAGS.contains(&key) => self.own.push(long_flag(key)),
            _ => self.passed.push(option.to_string()),
        }
    }

    fn into_argv(self, program: &OsString, targets: Vec<OsString>) -> Vec<OsString> {
        let mut out: Vec<OsString> = vec![program.clone(), "mount".into(), "--daemon".into()];
        out.extend(self.own);
        if !self.passed.is_empty() {
            out.push("-o".into());
            out.push(self.passed.join(",").into());
        }
        out.extend(targets);
        out.extend(self.root);
        out
    }
}

/// `password_file` → `--password-file`: in fstab genmount's options are spelt with `_`, as FUSE's
/// own are (`allow_other`, `max_read`).
fn long_flag(key: &str) -> OsString {
    format!("--{}", key.replace('_', "-")).into()
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::super::args::Cli;
    use super::*;

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
    fn borg_archive_filters_come_through_an_fstab_line() {
        let argv: Vec<OsString> = [
            "genmount",
            "/srv/borg",
            "/mnt/b",
            "-o",
            "prefix=web-,host=h1",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let got = from_mount_helper(&argv).unwrap_or_default();
        let want = [
            "genmount",
            "mount",
            "--daemon",
            "--prefix",
            "web-",
            "--host",
            "h1",
            "/srv/borg",
            "/mnt/b",
        ];
        assert_eq!(got, want.iter().map(OsString::from).collect::<Vec<_>>());
        let glob: Vec<OsString> = ["genmount", "/srv/borg", "/mnt/b", "-o", "glob_archives=*-1"]
            .iter()
            .map(OsString::from)
            .collect();
        let got = from_mount_helper(&glob).unwrap_or_default();
        assert!(
            got.windows(2).any(|w| w == ["--glob-archives", "*-1"]),
            "{got:?}"
        );
        assert!(Cli::try_parse_from(got).is_ok());
    }
}
