//! A real terminal (tmux) running a program inside a sandbox: what a person
//! types and what they see. Each terminal has its own tmux server on a socket
//! in its own temporary directory (`tmux -S`), so nothing is left in /tmp/tmux-*.

use std::process::Command;
use std::time::{Duration, Instant};

use super::{lunet_bin, tempdir, Sandbox};

pub struct Term {
    sock: String,
    /// Holds the socket; also the REPL's XDG_STATE_HOME (its history).
    pub state: tempdir::Dir,
}

impl Term {
    /// Runs `prog_and_args` (a shell line) in a 160x60 pane, inside the sandbox, with `env`
    /// (`K=V` words); when it ends the pane shows `EXIT=status`.
    pub fn run(sb: &Sandbox, env: &str, prog_and_args: &str) -> Term {
        Term::start(sb, "", env, prog_and_args)
    }

    fn start(sb: &Sandbox, prefix: &str, env: &str, prog_and_args: &str) -> Term {
        let state = tempdir::Dir::new();
        let sock = state.path().join("tmux.sock").display().to_string();
        let cmd = format!(
            "{prefix}nsenter -t {} -n -m -p -- env XDG_STATE_HOME={} TERM=xterm {env} {prog_and_args}; echo EXIT=$?; sleep 60",
            sb.pid,
            state.path().display(),
        );
        let ok = Command::new("tmux")
            .args([
                "-S",
                &sock,
                "new-session",
                "-d",
                "-x",
                "160",
                "-y",
                "60",
                "-s",
                "t",
                &cmd,
            ])
            .status()
            .unwrap();
        assert!(ok.success(), "tmux (Debian package tmux) must be installed");
        Term { sock, state }
    }

    /// `lunet ARGS` in a terminal. Ctrl-C goes to the whole foreground group: only lunet
    /// may act on it, not nsenter or sh (which ignore it; so do the programs lunet starts).
    pub fn lunet(sb: &Sandbox, args: &str) -> Term {
        Term::start(sb, "trap '' INT; ", "", &format!("{} {args}", lunet_bin().display()))
    }

    pub fn screen(&self) -> String {
        let o = Command::new("tmux")
            .args(["-S", &self.sock, "capture-pane", "-p", "-S", "-200", "-t", "t"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).to_string()
    }

    pub fn wait_for(&self, text: &str) -> String {
        let t0 = Instant::now();
        loop {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "timed out waiting for {text:?}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn keys(&self, keys: &[&str]) {
        Command::new("tmux")
            .args(["-S", &self.sock, "send-keys", "-t", "t"])
            .args(keys)
            .status()
            .unwrap();
    }

    /// Types a line literally, presses Enter, and waits until the program is back at a
    /// prompt ending in `>` (a person waits too: the line editor drops keys typed while a
    /// command runs).
    pub fn line(&self, text: &str) {
        self.keys(&["-l", text]);
        self.keys(&["Enter"]);
        self.settle();
    }

    fn settle(&self) {
        let t0 = Instant::now();
        let mut last = String::new();
        loop {
            std::thread::sleep(Duration::from_millis(60));
            let s = self.screen();
            let idle = s
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .is_some_and(|l| l.trim_end().ends_with('>'));
            if idle && s == last {
                return;
            }
            if t0.elapsed() > Duration::from_secs(10) {
                return;
            }
            last = s;
        }
    }

    /// Types a line and waits until `expect` is on screen.
    pub fn expect(&self, text: &str, expect: &str) -> String {
        self.line(text);
        self.wait_for(expect)
    }

    /// Types a line (no waiting for a prompt) and waits until `expect` is on screen.
    pub fn type_and_wait(&self, text: &str, expect: &str) -> String {
        self.keys(&["-l", text]);
        self.keys(&["Enter"]);
        self.wait_for(expect)
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["-S", &self.sock, "kill-server"]).status();
    }
}
