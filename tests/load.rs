//! Load: 16 threads read random ranges of many files of two restic snapshots for a bounded time,
//! while others list directories and refresh through `.pid`; every byte is checked, not the speed.
// They mount through Linux's FUSE and read /proc: on other OSes they compile to nothing, and the
// neutral logic is covered by the unit tests, which run everywhere.
#![cfg(target_os = "linux")]

mod common;

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;

const FILES: usize = 24;
const THREADS: usize = 16;

/// The size and content of file `i` in snapshot `generation` (odd files change between snapshots).
fn expected(generation: usize, i: usize) -> Vec<u8> {
    let size = [1_000, 70_000, 300_000, 1_500_000, 5_000_000][i % 5] + i * 7;
    let seed = if i % 2 == 1 {
        (generation * 1000 + i) as u64
    } else {
        i as u64
    };
    pseudo_random(size, seed)
}

#[test]
fn sixteen_readers_with_listings_and_refreshes_get_every_byte_right() -> TestResult {
    let seconds: u64 = std::env::var("GENMOUNT_LOAD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let dir = tempfile::tempdir()?;
    let (src, repo, mnt, password) = (
        dir.path().join("src"),
        dir.path().join("repo"),
        dir.path().join("mnt"),
        dir.path().join("pw"),
    );
    std::fs::create_dir_all(&src)?;
    std::fs::create_dir_all(&mnt)?;
    std::fs::write(&password, b"load\n")?;
    restic(&repo, &password, dir.path(), &["init"]);
    for generation in 0..2 {
        for i in 0..FILES {
            std::fs::write(src.join(format!("f{i:02}")), expected(generation, i))?;
        }
        restic(&repo, &password, &src, &["backup", "."]);
    }
    let cache = dir.path().join("cache");
    let args = restic_args(repo.as_os_str(), &mnt, &password, &cache);
    let mount = Mount::start(&args, &mnt);
    let mut names: Vec<PathBuf> = std::fs::read_dir(&mnt)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && !p.ends_with("latest"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 2);
    let contents: Arc<Vec<Vec<Vec<u8>>>> = Arc::new(
        (0..2)
            .map(|g| (0..FILES).map(|i| expected(g, i)).collect())
            .collect(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let (reads, bytes) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut workers = Vec::new();
    for t in 0..THREADS {
        let (names, contents, stop, reads, bytes) = (
            names.clone(),
            contents.clone(),
            stop.clone(),
            reads.clone(),
            bytes.clone(),
        );
        workers.push(std::thread::spawn(move || -> Result<(), String> {
            let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ t as u64;
            let mut next = |bound: u64| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state % bound.max(1)
            };
            while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
                let (g, i) = (next(2) as usize, next(FILES as u64) as usize);
                let want = &contents[g][i];
                let path = names[g].join(format!("f{i:02}"));
                let file = std::fs::File::open(&path)
                    .map_err(|e| format!("open {}: {e}", path.display()))?;
                for _ in 0..8 {
                    let offset = next(want.len() as u64 + 10) as usize;
                    let len = 1 + next(256 * 1024) as usize;
                    let mut buf = vec![0u8; len];
                    let mut got = 0;
                    while got < len {
                        match file.read_at(&mut buf[got..], (offset + got) as u64) {
                            Ok(0) => break,
                            Ok(n) => got += n,
                            Err(e) => {
                                return Err(format!("read {} at {offset}: {e}", path.display()));
                            }
                        }
                    }
                    let end = (offset + len).min(want.len());
                    let expect = if offset < want.len() {
                        &want[offset..end]
                    } else {
                        &[][..]
                    };
                    if &buf[..got] != expect {
                        return Err(format!(
                            "wrong bytes in {} at {offset}+{len}",
                            path.display()
                        ));
                    }
                    reads.fetch_add(1, Ordering::Relaxed);
                    bytes.fetch_add(got as u64, Ordering::Relaxed);
                }
            }
            Ok(())
        }));
    }
    let lister = {
        let (mnt, stop) = (mnt.clone(), stop.clone());
        std::thread::spawn(move || -> Result<u64, String> {
            let mut rounds = 0;
            while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
                let listed = walk(&mnt.join("latest")).len();
                if listed != FILES {
                    return Err(format!("latest lists {listed} entries"));
                }
                std::fs::read(mnt.join(".pid")).map_err(|e| format!(".pid: {e}"))?;
                // Without this most reads would be served from the page cache, not by genmount.
                std::fs::write("/proc/sys/vm/drop_caches", b"1")
                    .map_err(|e| format!("drop_caches: {e}"))?;
                rounds += 1;
                std::thread::sleep(Duration::from_millis(200));
            }
            Ok(rounds)
        })
    };
    let mut peak_rss = 0;
    while Instant::now() < deadline {
        peak_rss = peak_rss.max(proc_status_kib(mount.pid(), "VmRSS:"));
        std::thread::sleep(Duration::from_millis(500));
    }
    let mut failures: Vec<String> = workers
        .into_iter()
        .filter_map(|w| {
            w.join()
                .map_err(|_| "panic".to_string())
                .and_then(|r| r)
                .err()
        })
        .collect();
    match lister.join() {
        Ok(Ok(rounds)) => assert!(rounds > 0, "the lister never ran"),
        Ok(Err(e)) => failures.push(e),
        Err(_) => failures.push("lister panicked".into()),
    }
    stop.store(true, Ordering::Relaxed);
    assert!(failures.is_empty(), "{failures:?}");
    let total = reads.load(Ordering::Relaxed);
    assert!(total > 100, "only {total} reads in {seconds} s");
    assert!(peak_rss < 1024 * 1024, "daemon RSS reached {peak_rss} KiB");
    eprintln!(
        "load: {total} checked reads, {} MiB, peak RSS {} MiB",
        bytes.load(Ordering::Relaxed) >> 20,
        peak_rss >> 10
    );
    drop(mount);
    assert!(!is_mounted(Path::new(&mnt)));
    Ok(())
}
