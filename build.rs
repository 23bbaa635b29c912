//! Build script: on Windows targets, links WinFsp's DLL delay-loaded, so that genmount starts (and
//! can say WinFsp is missing) on machines without it. Does nothing for other targets.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("windows") {
        winfsp::build::winfsp_link_delayload();
    }
}
