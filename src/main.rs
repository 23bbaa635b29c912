//! The `genmount` program: parses the command line and exits with the documented code.
//! Everything it does lives in the library's `cli` module.

fn main() {
    std::process::exit(genmount::cli::main());
}
