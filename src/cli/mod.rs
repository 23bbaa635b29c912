//! The program's entry point: reads the command line, runs its subcommand, and maps every failure
//! to one line on stderr and its documented exit code.
//!
//! `args` defines the command line, `helper` rewrites the FUSE mount helper's form of it,
//! `logging` sets up the log, `backend` tells which backend a REPO means (`remote` maps restic's
//! remote forms to OpenDAL locations), `mount` and `listing` are the `mount` and `generations`
//! subcommands, `serve` serves a repository over HTTP (WebDAV and web pages).

mod args;
mod backend;
mod helper;
mod listing;
mod logging;
mod mount;
mod serve;
// The mapping is a pure function, unit-tested in every build; only an OpenDAL build uses it.
#[cfg(any(feature = "opendal", test))]
mod remote;

use std::ffi::OsString;
use std::io::IsTerminal;

use clap::{CommandFactory, Parser};

use self::args::{Cli, Command};
use crate::error::OpenError;

/// Runs the program and returns its exit code.
pub fn main() -> i32 {
    crate::platform::prepare_process();
    let argv: Vec<OsString> = std::env::args_os().collect();
    let argv = helper::from_mount_helper(&argv).unwrap_or(argv);
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            // `--help` and `--version` come this way too, and are no failure.
            return if err.use_stderr() { 2 } else { 0 };
        }
    };
    logging::init(cli.verbose, cli.quiet);
    // Redrawn lines would garble a log file or a pipe, and `-q` asks for errors only.
    let progress = !cli.quiet && std::io::stderr().is_terminal();
    match run(cli.command, progress) {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("genmount: {err}");
            err.exit_code()
        }
    }
}

/// Runs one subcommand; `progress`: whether loading a repository shows progress lines.
fn run(command: Command, progress: bool) -> Result<(), OpenError> {
    match command {
        Command::Mount(args) => mount::mount(args, progress),
        Command::Serve(args) => serve::serve(args, progress),
        Command::Generations(args) => listing::generations(args, progress),
        Command::Completions { shell } => {
            let mut stdout = std::io::stdout();
            clap_complete::generate(shell, &mut Cli::command(), "genmount", &mut stdout);
            Ok(())
        }
        Command::Man => clap_mangen::Man::new(Cli::command())
            .render(&mut std::io::stdout())
            .map_err(|err| OpenError::Other(format!("cannot write the man page: {err}"))),
        Command::Unmount { mountpoint } => crate::platform::unmount(&mountpoint).map_err(|err| {
            OpenError::Mountpoint(format!("cannot unmount {}: {err}", mountpoint.display()))
        }),
    }
}
