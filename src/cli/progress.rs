//! Progress of long work (`up`, `down`, `run`, sandbox teardown) on a
//! terminal: a counter of changes made or undone and the elapsed time, shown
//! only after the first second and only when stderr is a terminal (`indicatif`).

use std::cell::RefCell;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::core::net::Progress;

static WANTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The command does long work worth a progress display (`up`, `down`, `run`).
pub fn want() {
    WANTED.store(true, std::sync::atomic::Ordering::Relaxed);
}

pub fn wanted() -> bool {
    WANTED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Shown after this long (short work stays quiet).
const DELAY: Duration = Duration::from_secs(1);

pub struct Spinner {
    on: bool,
    start: Instant,
    bar: RefCell<Option<ProgressBar>>,
}

impl Spinner {
    /// `wanted`: the command shows progress (not the REPL, not `-v`, not a plan).
    pub fn new(wanted: bool) -> Spinner {
        Spinner {
            on: wanted && std::io::stderr().is_terminal(),
            start: Instant::now(),
            bar: RefCell::new(None),
        }
    }

    pub fn update(&self, p: Progress) {
        if !self.on || self.start.elapsed() < DELAY {
            return;
        }
        let mut bar = self.bar.borrow_mut();
        let b = bar.get_or_insert_with(|| {
            let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(10));
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
                b.set_style(style);
            }
            b
        });
        b.set_message(match p {
            Progress::Made(n) => format!("{n} changes made"),
            Progress::Undone(n) => format!("{n} changes undone"),
        });
        b.tick();
    }

    pub fn clear(&self) {
        if let Some(b) = self.bar.borrow_mut().take() {
            b.finish_and_clear();
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.clear();
    }
}
