//! A progress line on the terminal while a repository's index and snapshots load, so a large
//! repository does not look hung; rustic_core reports its steps through this.

use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rustic_core::{Progress, ProgressBars, ProgressType, RusticProgress};

/// How often a line is redrawn at most.
const REDRAW: Duration = Duration::from_millis(100);

/// Progress lines on stderr (use only when stderr is a terminal).
#[derive(Debug, Clone, Copy, Default)]
pub struct TerminalProgress;

impl ProgressBars for TerminalProgress {
    fn progress(&self, kind: ProgressType, prefix: &str) -> Progress {
        Progress::new(Line {
            prefix: prefix.trim().trim_end_matches('.').to_string(),
            bytes: matches!(kind, ProgressType::Bytes),
            length: AtomicU64::new(0),
            done: AtomicU64::new(0),
            drawn: Mutex::new(None),
            title: Mutex::new(String::new()),
        })
    }
}

/// One step, redrawn in place on one terminal line.
#[derive(Debug)]
struct Line {
    prefix: String,
    bytes: bool,
    length: AtomicU64,
    done: AtomicU64,
    drawn: Mutex<Option<Instant>>,
    /// rustic gives some steps a title instead of a prefix ("reading index...").
    title: Mutex<String>,
}

impl Line {
    fn label(&self) -> String {
        let title = self
            .title
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .trim()
            .to_string();
        match (self.prefix.is_empty(), title.is_empty()) {
            (true, _) => title.trim_end_matches('.').to_string(),
            (false, true) => self.prefix.clone(),
            (false, false) => format!("{} {title}", self.prefix),
        }
    }

    fn amount(&self, value: u64) -> String {
        if self.bytes {
            format!("{:.1} MiB", value as f64 / (1 << 20) as f64)
        } else {
            value.to_string()
        }
    }

    fn draw(&self, text: &str, force: bool) {
        let mut drawn = self.drawn.lock().unwrap_or_else(|p| p.into_inner());
        if !force && drawn.is_some_and(|at| at.elapsed() < REDRAW) {
            return;
        }
        *drawn = Some(Instant::now());
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{text}");
        let _ = err.flush();
    }
}

impl RusticProgress for Line {
    fn is_hidden(&self) -> bool {
        false
    }

    fn set_length(&self, len: u64) {
        self.length.store(len, Ordering::Relaxed);
    }

    fn set_title(&self, title: &str) {
        *self.title.lock().unwrap_or_else(|p| p.into_inner()) = title.to_string();
        self.draw(&format!("{}...", self.label()), true);
    }

    fn inc(&self, inc: u64) {
        let done = self.done.fetch_add(inc, Ordering::Relaxed) + inc;
        let length = self.length.load(Ordering::Relaxed);
        let of = if length > 0 {
            format!(" of {}", self.amount(length))
        } else {
            String::new()
        };
        self.draw(
            &format!("{} {}{of}", self.label(), self.amount(done)),
            false,
        );
    }

    fn finish(&self) {
        self.draw(&format!("{} done\n", self.label()), true);
    }
}
