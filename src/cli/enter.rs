//! `lunet exec NS -- CMD…` and `lunet shell NS`: into a namespace from the
//! command line, as `ip netns exec` does (/etc/netns/NS bound over /etc, /sys
//! remounted). lunet becomes the program, so the terminal, stdin/stdout/stderr,
//! signals and the exit status are the program's own.

use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use anyhow::{anyhow, bail, Result};

use super::Exit;
use crate::core::{netns, process, NsId};

/// The namespace a user named: `host` (lunet's own) or one in /run/netns.
fn target(name: &str) -> Result<(NsId, Option<std::fs::File>)> {
    if name == "host" {
        return Ok((NsId::Host, None));
    }
    let id = NsId::named(name).map_err(|e| anyhow!("{e}"))?;
    if !netns::exists(name) {
        bail!("namespace {name:?} does not exist (`lunet show` or `ip netns list` lists them)");
    }
    let file = netns::open(name).map_err(|e| anyhow!("{e}"))?;
    Ok((id, Some(file)))
}

/// Replaces this process with `argv` run inside `ns`; returns only on failure
/// (exit status 127 for a program not found, 126 for one that cannot run, as shells do).
fn become_program(what: &str, ns: &str, argv: &[String], env: &[(String, String)]) -> Result<()> {
    let (id, file) = target(ns)?;
    let e = process::exec_in_place(&id, file.as_ref(), argv, env);
    let msg = e.to_string();
    let code = if msg.contains("not found") {
        127
    } else if msg.contains("permission denied") {
        126
    } else {
        1
    };
    Err(Exit {
        code,
        message: Some(format!("{what}: {msg}")),
    }
    .into())
}

pub fn exec(ns: &str, cmd: &[String]) -> Result<()> {
    if cmd.is_empty() {
        bail!("exec: which command? (lunet exec {ns} -- CMD ARGS…)");
    }
    become_program("exec", ns, cmd, &[("LUNET_NS".into(), ns.into())])
}

/// The user's shell (`$SHELL`, else /bin/sh) with `LUNET_NS` exported and a
/// prompt that names the namespace: bash reads its usual ~/.bashrc first, then
/// `[NS] ` goes in front of its prompt; other shells get `PS1`.
pub fn shell(ns: &str) -> Result<()> {
    target(ns)?;
    let sh = std::env::var("SHELL")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "/bin/sh".into());
    let base = std::path::Path::new(&sh)
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let root = nix::unistd::geteuid().is_root();
    let mut env = vec![("LUNET_NS".to_string(), ns.to_string())];
    let mut argv = vec![sh.clone()];
    if base == "bash" {
        // --rcfile on an in-memory file, inherited across exec (not close-on-exec).
        let rc = "[ -f ~/.bashrc ] && . ~/.bashrc\nPS1=\"[$LUNET_NS] ${PS1:-\\w\\$ }\"\n";
        let fd = rcfile(rc)?;
        argv.extend(["--rcfile".into(), format!("/proc/self/fd/{}", fd.as_raw_fd())]);
        std::mem::forget(fd);
    } else {
        env.push(("PS1".into(), format!("[{ns}] {}", if root { "# " } else { "$ " })));
    }
    argv.push("-i".into());
    become_program("shell", ns, &argv, &env)
}

fn rcfile(text: &str) -> Result<OwnedFd> {
    // SAFETY: memfd_create with a valid C string; the fd is owned by the OwnedFd.
    let fd = unsafe { libc::memfd_create(c"lunet-bashrc".as_ptr(), 0) };
    if fd < 0 {
        bail!(
            "shell: cannot make the prompt file: {}",
            std::io::Error::last_os_error()
        );
    }
    // SAFETY: a fresh fd we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut f = std::fs::File::from(fd.try_clone()?);
    f.write_all(text.as_bytes())?;
    Ok(fd)
}
