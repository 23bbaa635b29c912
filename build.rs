//! Build script: on Windows MSVC targets (the ones with the WinFsp adapter), links WinFsp's DLL
//! delay-loaded, so that genmount starts (and can say WinFsp is missing) on machines without it.
//! Does nothing for other targets.

fn main() {
    let target = |key: &str| std::env::var(key).unwrap_or_default();
    if target("CARGO_CFG_TARGET_OS") == "windows" && target("CARGO_CFG_TARGET_ENV") == "msvc" {
        winfsp::build::winfsp_link_delayload();
    }
}
